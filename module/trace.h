/* SPDX-License-Identifier: GPL-2.0 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM batch_unmap

#if !defined(_BATCH_UNMAP_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _BATCH_UNMAP_TRACE_H

#include <linux/tracepoint.h>

#include "../include/batch_unmap.h"

/*
 * One event per batch the module unmapped: batch_unmap:batch.  outcome is
 * an enum bu_outcome, flush an enum bu_flush, kind an enum bu_kind
 * (include/batch_unmap.h).  kind is the last field: readers built for the
 * fields before it keep working.
 */
TRACE_EVENT(batch,
	    TP_PROTO(unsigned long pfn, unsigned int order,
		     unsigned int nr_pages, unsigned int outcome,
		     unsigned int flush, unsigned int kind),
	    TP_ARGS(pfn, order, nr_pages, outcome, flush, kind),
	    TP_STRUCT__entry(__field(unsigned long, pfn)
			     __field(unsigned int, order)
			     __field(unsigned int, nr_pages)
			     __field(unsigned int, outcome)
			     __field(unsigned int, flush)
			     __field(unsigned int, kind)),
	    TP_fast_assign(__entry->pfn = pfn;
			   __entry->order = order;
			   __entry->nr_pages = nr_pages;
			   __entry->outcome = outcome;
			   __entry->flush = flush;
			   __entry->kind = kind;),
	    TP_printk("pfn=0x%lx order=%u nr_pages=%u outcome=%s flush=%s kind=%s",
		      __entry->pfn, __entry->order, __entry->nr_pages,
		      __print_symbolic(__entry->outcome,
				       { BU_OUTCOME_DISCARD, "discard" },
				       { BU_OUTCOME_RESTORE_DIRTY, "restore_dirty" },
				       { BU_OUTCOME_RESTORE_REFS, "restore_refs" },
				       { BU_OUTCOME_UNMAP, "unmap" }),
		      __print_symbolic(__entry->flush,
				       { BU_FLUSH_DEFERRED, "deferred" },
				       { BU_FLUSH_RANGE, "range" },
				       { BU_FLUSH_NONE, "none" }),
		      __print_symbolic(__entry->kind,
				       { BU_KIND_LAZYFREE, "lazyfree" },
				       { BU_KIND_FILE, "file" }))
);

/*
 * One event per run of PTEs whose young bits the referenced hook tested
 * and cleared in one go: batch_unmap:referenced.  kind: enum bu_kind.
 */
TRACE_EVENT(referenced,
	    TP_PROTO(unsigned long pfn, unsigned int order,
		     unsigned int nr_pages, bool young, unsigned int kind),
	    TP_ARGS(pfn, order, nr_pages, young, kind),
	    TP_STRUCT__entry(__field(unsigned long, pfn)
			     __field(unsigned int, order)
			     __field(unsigned int, nr_pages)
			     __field(bool, young)
			     __field(unsigned int, kind)),
	    TP_fast_assign(__entry->pfn = pfn;
			   __entry->order = order;
			   __entry->nr_pages = nr_pages;
			   __entry->young = young;
			   __entry->kind = kind;),
	    TP_printk("pfn=0x%lx order=%u nr_pages=%u young=%d kind=%s",
		      __entry->pfn, __entry->order, __entry->nr_pages,
		      __entry->young,
		      __print_symbolic(__entry->kind,
				       { BU_KIND_LAZYFREE, "lazyfree" },
				       { BU_KIND_FILE, "file" }))
);

#endif /* _BATCH_UNMAP_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
