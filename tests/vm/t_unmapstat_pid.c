// SPDX-License-Identifier: GPL-2.0
/*
 * unmapstat -p PID counts what happens to PID's memory, whoever does it:
 * here a child holds N lazyfree 64K folios and this process (the
 * reclaimer) reclaims them with process_madvise(MADV_PAGEOUT), as kswapd
 * or a proactive reclaimer would.  unmapstat pinned with -p <child> must
 * count the child's N deferred splits, per-PTE flushes, reclaim pass and
 * N lazyfree 64K unmaps (module unloaded) and its N batches, lazyfree by
 * kind (module loaded); pinned with
 * -p <reclaimer> it must count none of them.  A filter on the current
 * task (unmapstat before 0.3.0) gets both wrong.
 */
#include <sys/uio.h>

#include "vmtest.h"

#define FOLIO		(64 * KB)
#define N		64			/* folios per region */
#define LEN		(N * FOLIO)
#define PIN_CHILD	"/sys/fs/bpf/unmapstat_pid_child"
#define PIN_SELF	"/sys/fs/bpf/unmapstat_pid_reclaimer"

/* What the child tells the parent once its memory is lazyfree. */
struct child_report {
	char *region[2];	/* reclaimed with the module off, then on */
	long folios[2];		/* 64K folios found in each */
	int err;
};

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc)
		vt_diag("'%s' exited with %d", cmd, WIFEXITED(rc) ? WEXITSTATUS(rc) : rc);
	return rc;
}

/*
 * Reclaim's flushes of the stock path, whichever the architecture counts
 * (jq's null + n is n: x86 has no queued, arm64 no flush_tlb_mm_range()).
 */
#define RECLAIM_FLUSHES	".reclaim.ptep_clear_flush + .reclaim.deferred + .reclaim.queued"

/* One number out of `unmapstat --dump -j` of @dir: jq @filter on .counters. */
static long long dump_num(const char *dir, const char *filter)
{
	char cmd[512], buf[64] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "unmapstat --dump -j --pin-dir %s | jq -r '.counters | %s'",
		 dir, filter);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (!fgets(buf, sizeof(buf), p))
		buf[0] = 0;
	if (pclose(p) || !buf[0] || buf[0] == 'n')
		return -1;
	return strtoll(buf, NULL, 10);
}

/* The child: map, fill, MADV_FREE two regions, report, wait for EOF. */
static void child(int report_fd, int wait_fd)
{
	struct child_report r = { 0 };
	char c;
	int i;

	for (i = 0; i < 2 && !r.err; i++) {
		r.region[i] = mm_map_aligned(LEN, PMD_SIZE_);
		if (!r.region[i]) {
			r.err = errno;
			break;
		}
		fill(r.region[i], LEN, 1);
		r.folios[i] = mm_count_folios(r.region[i], LEN, FOLIO / KB);
		if (madvise(r.region[i], LEN, MADV_FREE))
			r.err = errno;
	}
	if (write(report_fd, &r, sizeof(r)) != sizeof(r))
		_exit(1);
	while (read(wait_fd, &c, 1) > 0)
		;
	_exit(0);
}

static void pin_both(pid_t kid)
{
	sh("unmapstat --unpin --pin-dir " PIN_CHILD " >/dev/null");
	sh("unmapstat --unpin --pin-dir " PIN_SELF " >/dev/null");
	sh("unmapstat --pin -p %d --pin-dir " PIN_CHILD " >/dev/null", (int)kid);
	sh("unmapstat --pin -p %d --pin-dir " PIN_SELF " >/dev/null", (int)getpid());
}

static void unpin_both(void)
{
	sh("unmapstat --unpin --pin-dir " PIN_CHILD " >/dev/null");
	sh("unmapstat --unpin --pin-dir " PIN_SELF " >/dev/null");
}

/* process_madvise(MADV_PAGEOUT) of the child's @region: reclaim in our context. */
static int pageout(int pidfd, char *region)
{
	struct iovec iov = { .iov_base = region, .iov_len = LEN };
	long n = syscall(SYS_process_madvise, pidfd, &iov, 1, MADV_PAGEOUT, 0);

	return n == (long)LEN ? 0 : n < 0 ? -errno : -EIO;
}

int main(void)
{
	int report[2], hold[2], pidfd, err;
	struct child_report r = { .err = EIO };
	long long v;
	bool ok = true;
	pid_t kid;

	if (!mthp_supported(FOLIO / KB)) {
		vt_skip("unmapstat_pid", "this kernel offers no 64K mTHP");
		return vt_exit();
	}
	if (module_loaded())
		module_unload();
	mthp_only(FOLIO / KB);
	/* One CPU for both: the child's mm is active nowhere else (no deferred flush). */
	pin_cpu(0);
	if (pipe(report) || pipe(hold)) {
		vt_result(false, "unmapstat_pid (pipe: %s)", strerror(errno));
		return vt_exit();
	}
	fflush(stdout);
	kid = fork();
	if (kid == 0) {
		close(report[0]);
		close(hold[1]);
		child(report[1], hold[0]);
	}
	close(report[1]);
	close(hold[0]);
	if (kid < 0 || read(report[0], &r, sizeof(r)) != sizeof(r) || r.err) {
		vt_result(false, "unmapstat_pid (the child failed: %s)",
			  strerror(kid < 0 ? errno : r.err));
		goto out;
	}
	pidfd = syscall(SYS_pidfd_open, kid, 0);
	if (pidfd < 0) {
		vt_skip("unmapstat_pid", "no pidfd_open");
		goto out;
	}
	vt_diag("child %d holds 2 x %d lazyfree 64K folios (%ld and %ld found); "
		"reclaimer %d", (int)kid, N, r.folios[0], r.folios[1], (int)getpid());

	/* --- module off: the stock path, one deferred split per folio --------- */
	pin_both(kid);
	err = pageout(pidfd, r.region[0]);
	if (err == -ENOSYS || err == -EINVAL) {
		vt_skip("unmapstat_pid", "process_madvise(MADV_PAGEOUT) is not supported");
		unpin_both();
		close(pidfd);
		goto out;
	}
	CHECK(&ok, err == 0, "process_madvise: %s", strerror(-err));
	CHECK(&ok, r.folios[0] == N, "%ld of %d folios were 64K", r.folios[0], N);
	v = dump_num(PIN_CHILD, ".split_partial.order4");
	CHECK(&ok, v == N, "-p child: split_partial.order4 = %lld, want %d", v, N);
	/* Where arm64 queues the flushes, per PTE: x86 has no such count (null). */
	v = dump_num(PIN_CHILD, RECLAIM_FLUSHES);
	CHECK(&ok, v >= N, "-p child: reclaim per-PTE + deferred + queued flushes = %lld, "
	      "want >= %d", v, N);
	v = dump_num(PIN_CHILD, ".reclaim_calls");
	CHECK(&ok, v >= 1, "-p child: reclaim_calls = %lld, want >= 1", v);
	v = dump_num(PIN_CHILD, ".unmaps.lazyfree.order4");
	CHECK(&ok, v == N, "-p child: unmaps.lazyfree.order4 = %lld, want %d", v, N);
	vt_result(ok, "unmapstat_pid_counts_reclaim_of_its_memory_by_another_task");

	ok = true;
	v = dump_num(PIN_SELF, ".split_partial | add");
	CHECK(&ok, v == 0, "-p reclaimer: split_partial = %lld, want 0", v);
	v = dump_num(PIN_SELF, RECLAIM_FLUSHES);
	CHECK(&ok, v == 0, "-p reclaimer: reclaim per-PTE + deferred + queued flushes = %lld, "
	      "want 0", v);
	v = dump_num(PIN_SELF, ".reclaim_calls");
	CHECK(&ok, v == 0, "-p reclaimer: reclaim_calls = %lld, want 0", v);
	v = dump_num(PIN_SELF, "[.unmaps[][]] | add");
	CHECK(&ok, v == 0, "-p reclaimer: unmaps = %lld, want 0", v);
	vt_result(ok, "unmapstat_pid_does_not_count_the_reclaimers_work_on_others");
	unpin_both();

	/* --- module on: its batches, seen through try_to_unmap_one()'s mm ------ */
	if (!bu_counted()) {
		vt_skip("unmapstat_pid_counts_module_batches", "BU_IMPL=ref: no module tracepoint");
	} else if ((err = module_load(NULL))) {
		vt_result(false, "unmapstat_pid_counts_module_batches (module load: %s)",
			  strerror(-err));
	} else {
		ok = true;
		/* After the load: batch_unmap:batch exists only now. */
		pin_both(kid);
		err = pageout(pidfd, r.region[1]);
		CHECK(&ok, err == 0, "process_madvise: %s", strerror(-err));
		CHECK(&ok, r.folios[1] == N, "%ld of %d folios were 64K", r.folios[1], N);
		v = dump_num(PIN_CHILD, ".batches.discard");
		CHECK(&ok, v == N, "-p child: batches.discard = %lld, want %d", v, N);
		v = dump_num(PIN_CHILD, ".batch_pages");
		CHECK(&ok, v == N * 16, "-p child: batch_pages = %lld, want %d", v, N * 16);
		v = dump_num(PIN_CHILD, ".batch_kinds.lazyfree.batches");
		CHECK(&ok, v == N, "-p child: batch_kinds.lazyfree.batches = %lld, want %d",
		      v, N);
		v = dump_num(PIN_SELF, ".batches | add");
		CHECK(&ok, v == 0, "-p reclaimer: batches = %lld, want 0", v);
		v = dump_num(PIN_SELF, "[.batch_kinds[].batches] | add");
		CHECK(&ok, v == 0, "-p reclaimer: batch_kinds = %lld, want 0", v);
		unpin_both();
		/* The detached programs release the module a grace period later. */
		CHECK(&ok, module_wait_unused(5000), "the module is still in use after unpinning");
		err = module_unload();
		CHECK(&ok, err == 0, "rmmod after unpinning: %s", strerror(-err));
		vt_result(ok, "unmapstat_pid_counts_module_batches");
	}
	close(pidfd);
out:
	close(hold[1]);		/* the child exits */
	if (kid > 0)
		waitpid(kid, NULL, 0);
	close(report[0]);
	mthp_only(0);
	return vt_exit();
}
