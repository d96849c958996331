/* SPDX-License-Identifier: GPL-2.0 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM batch_unmap

#if !defined(_BATCH_UNMAP_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _BATCH_UNMAP_TRACE_H

#include <linux/tracepoint.h>

#include "../include/batch_unmap.h"

/*
 * One event per batch the module unmapped: batch_unmap:batch.  outcome is
 * an enum bu_outcome, flush an enum bu_flush (include/batch_unmap.h).
 */
TRACE_EVENT(batch,
	    TP_PROTO(unsigned long pfn, unsigned int order,
		     unsigned int nr_pages, unsigned int outcome,
		     unsigned int flush),
	    TP_ARGS(pfn, order, nr_pages, outcome, flush),
	    TP_STRUCT__entry(__field(unsigned long, pfn)
			     __field(unsigned int, order)
			     __field(unsigned int, nr_pages)
			     __field(unsigned int, outcome)
			     __field(unsigned int, flush)),
	    TP_fast_assign(__entry->pfn = pfn;
			   __entry->order = order;
			   __entry->nr_pages = nr_pages;
			   __entry->outcome = outcome;
			   __entry->flush = flush;),
	    TP_printk("pfn=0x%lx order=%u nr_pages=%u outcome=%s flush=%s",
		      __entry->pfn, __entry->order, __entry->nr_pages,
		      __print_symbolic(__entry->outcome,
				       { BU_OUTCOME_DISCARD, "discard" },
				       { BU_OUTCOME_RESTORE_DIRTY, "restore_dirty" },
				       { BU_OUTCOME_RESTORE_REFS, "restore_refs" }),
		      __print_symbolic(__entry->flush,
				       { BU_FLUSH_DEFERRED, "deferred" },
				       { BU_FLUSH_RANGE, "range" },
				       { BU_FLUSH_NONE, "none" }))
);

#endif /* _BATCH_UNMAP_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
