// SPDX-License-Identifier: GPL-2.0
/*
 * Races with the PMD-level discard.  While reclaim decides about a
 * PMD-mapped lazyfree THP, lockless PMD walkers must not find the PMD
 * none: MADV_DONTNEED, munmap and exit (zap_pmd_range()), mprotect
 * (change_pmd_range()) and mremap (get_old_pmd()) skip a none PMD without
 * its lock, and a restore after they passed resurrects the mapping.
 *
 * The THP is referenced by a pipe (vmsplice), so every reclaim restores
 * it; a reclaimer loops memcg reclaim (memory.reclaim) on it.  Not
 * MADV_PAGEOUT: it holds the mmap lock, which mprotect, mremap and munmap
 * take for writing, so they could never meet its window; reclaim through
 * the LRU and the rmap, like kswapd's, takes no mmap lock.
 * bu_test_delay.ko holds the reclaimer for DELAY_US after the PMD was
 * invalidated (or, on the old code, cleared), under the PMD lock, and the
 * test acts as soon as a delay starts: every iteration lands in the window.
 *
 * Checks: after MADV_DONTNEED the range reads zeros; after mprotect
 * (PROT_READ) a write faults; after mremap the data is at the new address;
 * after munmap and exit there is no "bad pmd", "Bad rss-counter" or
 * leaked page table ("non-zero pgtables_bytes") and AnonPages is back to
 * its baseline.  With pmd=0 the
 * stock split (pmdp_invalidate()) must pass too.
 */
#include <pthread.h>
#include <setjmp.h>
#include <sys/uio.h>

#include "vmtest.h"

#define DELAY_KO	"/vm/bu_test_delay.ko"
#define DELAY_PARAM	"/sys/module/bu_test_delay/parameters/"
#define DELAY_US	"5000"
#define ITERS		12
#define SEED		7

/* A PMD-mapped lazyfree THP whose first 64K a pipe references. */
struct thp {
	char *p;
	int pfd[2];
};

static bool thp_setup(struct thp *t)
{
	struct iovec iov;

	t->pfd[0] = t->pfd[1] = -1;
	t->p = mm_map_aligned(PMD_SIZE_, PMD_SIZE_);
	if (!t->p)
		return false;
	fill(t->p, PMD_SIZE_, SEED);
	if (mm_count_folios(t->p, PMD_SIZE_, 2048) != 1 || pipe(t->pfd))
		return false;
	iov.iov_base = t->p;
	iov.iov_len = 64 * KB;
	fcntl(t->pfd[1], F_SETPIPE_SZ, 1 << 20);
	if (vmsplice(t->pfd[1], &iov, 1, 0) != (ssize_t)iov.iov_len)
		return false;
	return madvise(t->p, PMD_SIZE_, MADV_FREE) == 0;
}

/* Drop the pipe's references (the THP goes with the mapping). */
static void thp_release(struct thp *t)
{
	if (t->pfd[0] >= 0) {
		close(t->pfd[0]);
		close(t->pfd[1]);
	}
	t->pfd[0] = t->pfd[1] = -1;
}

/* Delays bu_test_delay.ko has started so far, or -1. */
static long long delay_hits(void)
{
	char b[32];

	return mm_read_file(DELAY_PARAM "hits", b, sizeof(b)) ? -1 : atoll(b);
}

/* Wait (up to ~10 s) until a delay starts after @since: inside the window. */
static bool wait_window(long long since)
{
	int i;

	for (i = 0; i < 200000; i++) {
		if (delay_hits() > since)
			return true;
		usleep(50);
	}
	return false;
}

static int delay_for(pid_t tgid)
{
	char v[32];

	snprintf(v, sizeof(v), "%d", tgid);
	return mm_write_file(DELAY_PARAM "tgid", v);
}

/* --- one process: a reclaimer thread on CPU 1, the racer on CPU 0 -------- */

static char *volatile reclaim_at;
static volatile int reclaim_stop;

/* Reclaim the test memcg (this process) while a THP is set up. */
static void *reclaimer(void *arg)
{
	(void)arg;
	pin_cpu(1);
	while (!reclaim_stop) {
		if (reclaim_at)
			mm_write_file(TEST_CG "/memory.reclaim", "4M");
		else
			usleep(100);
	}
	return NULL;
}

enum race { RACE_DONTNEED, RACE_MPROTECT, RACE_MREMAP, RACE_MUNMAP };

static sigjmp_buf segv_jmp;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(segv_jmp, 1);
}

/* Does a write to @p fault?  (A stale writable PMD takes it silently.) */
static bool write_faults(char *p)
{
	struct sigaction sa = { .sa_handler = on_segv }, old;
	bool faulted;

	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(segv_jmp, 1)) {
		faulted = true;
	} else {
		*(volatile char *)p = 0x5a;
		faulted = false;
	}
	sigaction(SIGSEGV, &old, NULL);
	return faulted;
}

/* One iteration of @race; false (with a diagnostic) if it went wrong. */
static bool race_once(enum race race, int iter)
{
	char *q = NULL, *res;
	struct thp t;
	long long h;
	bool ok = true;
	long off;

	if (!thp_setup(&t)) {
		vt_diag("iteration %d: no pinned lazyfree 2M THP", iter);
		thp_release(&t);
		return false;
	}
	if (race == RACE_MREMAP) {
		/* A 2M-aligned destination, reserved. */
		q = mm_map_aligned(PMD_SIZE_, PMD_SIZE_);
		CHECK(&ok, q, "no mremap destination");
	}
	h = delay_hits();
	reclaim_at = t.p;
	if (!wait_window(h)) {
		reclaim_at = NULL;
		vt_diag("iteration %d: reclaim never reached the PMD", iter);
		return false;
	}
	switch (race) {
	case RACE_DONTNEED:
		CHECK(&ok, madvise(t.p, PMD_SIZE_, MADV_DONTNEED) == 0, "DONTNEED");
		reclaim_at = NULL;
		off = check_zero(t.p, PMD_SIZE_);
		CHECK(&ok, off < 0, "iteration %d: byte %ld reads %#x after MADV_DONTNEED",
		      iter, off, off < 0 ? 0 : (unsigned char)t.p[off]);
		break;
	case RACE_MPROTECT:
		CHECK(&ok, mprotect(t.p, PMD_SIZE_, PROT_READ) == 0, "mprotect");
		reclaim_at = NULL;
		usleep(20000);	/* the reclaimer finishes its call */
		CHECK(&ok, write_faults(t.p + 128 * KB),
		      "iteration %d: a write after mprotect(PROT_READ) did not fault", iter);
		CHECK(&ok, check_pattern(t.p + 64 * KB, PAGE, SEED) < 0 ||
			   check_pattern(t.p, PAGE, SEED) < 0, "pinned data changed");
		break;
	case RACE_MREMAP:
		res = mremap(t.p, PMD_SIZE_, PMD_SIZE_, MREMAP_MAYMOVE | MREMAP_FIXED, q);
		reclaim_at = NULL;
		CHECK(&ok, res == q, "mremap: %s", strerror(errno));
		if (res == q) {
			/* Never discarded (pinned): the old data, all of it. */
			off = check_pattern(q, PMD_SIZE_, SEED);
			CHECK(&ok, off < 0, "iteration %d: byte %ld after mremap is %#x, not the data",
			      iter, off, off < 0 ? 0 : (unsigned char)q[off]);
			t.p = q;
			q = NULL;
		}
		break;
	case RACE_MUNMAP:
		CHECK(&ok, munmap(t.p, PMD_SIZE_) == 0, "munmap");
		reclaim_at = NULL;
		t.p = NULL;
		break;
	}
	usleep(20000);		/* the reclaimer leaves the range */
	if (t.p)
		munmap(t.p, PMD_SIZE_);
	if (q)
		munmap(q, PMD_SIZE_);
	thp_release(&t);
	return ok;
}

/* A child process runs ITERS races; exit status 0 if all went right. */
static int race_child(enum race race)
{
	pthread_t th;
	int i, bad = 0;

	if (memcg_enter() || delay_for(getpid()))
		return 2;
	pthread_create(&th, NULL, reclaimer, NULL);
	pin_cpu(0);
	for (i = 0; i < ITERS && !bad; i++)
		bad += !race_once(race, i);
	reclaim_stop = 1;
	pthread_join(th, NULL);
	delay_for(0);
	fflush(stdout);
	return bad ? 1 : 0;
}

/* --- exit: the victim exits while a memcg reclaimer holds its PMD ------- */

static int exit_victim(int go_fd, int ready_fd, int pin_fd)
{
	struct thp t;
	struct iovec iov;
	char c;

	if (memcg_enter() || !thp_setup(&t))
		return 2;
	/* The parent's pipe holds the references, beyond our exit. */
	iov.iov_base = t.p;
	iov.iov_len = 64 * KB;
	if (vmsplice(pin_fd, &iov, 1, 0) != (ssize_t)iov.iov_len)
		return 2;
	thp_release(&t);
	if (write(ready_fd, "r", 1) != 1 || read(go_fd, &c, 1) != 1)
		return 2;
	_exit(0);	/* exit_mmap() races with the reclaimer */
}

static int exit_reclaimer(void)
{
	pin_cpu(1);
	if (delay_for(getpid()))
		return 2;
	for (;;)
		mm_write_file(TEST_CG "/memory.reclaim", "4M");
}

static bool race_exit_once(int iter)
{
	int go[2], ready[2], pin[2], st;
	pid_t victim, rec;
	long long h;
	bool ok = true;
	char c;

	if (pipe(go) || pipe(ready) || pipe(pin))
		return false;
	fcntl(pin[1], F_SETPIPE_SZ, 1 << 20);
	victim = fork();
	if (victim == 0)
		_exit(exit_victim(go[0], ready[1], pin[1]));
	CHECK(&ok, read(ready[0], &c, 1) == 1, "victim set-up failed");
	h = delay_hits();
	rec = fork();
	if (rec == 0)
		_exit(exit_reclaimer());
	if (ok && !wait_window(h)) {
		vt_diag("iteration %d: memcg reclaim never reached the PMD", iter);
		ok = false;
	}
	CHECK(&ok, write(go[1], "g", 1) == 1, "go");
	waitpid(victim, &st, 0);
	CHECK(&ok, WIFEXITED(st) && WEXITSTATUS(st) == 0, "victim status %#x", st);
	usleep(50000);
	kill(rec, SIGKILL);
	waitpid(rec, &st, 0);
	delay_for(0);
	close(go[0]);
	close(go[1]);
	close(ready[0]);
	close(ready[1]);
	close(pin[0]);		/* the last references: the THP is freed */
	close(pin[1]);
	return ok;
}

/* --- checks around each scenario ------------------------------------------ */

struct baseline {
	long long anon;
	int bad_pmd, bad_rss, bad_tables;
};

static void baseline_read(struct baseline *b)
{
	b->anon = meminfo("AnonPages:");
	b->bad_pmd = klog_count("bad pmd");
	b->bad_rss = klog_count("Bad rss-counter");
	b->bad_tables = klog_count("non-zero pgtables_bytes");
}

/* Nothing leaked or complained about since @b. */
static bool baseline_ok(const char *name, const struct baseline *b)
{
	struct baseline now;
	bool ok = true;

	baseline_read(&now);
	vt_diag("%s: AnonPages %lld -> %lld kB", name, b->anon, now.anon);
	CHECK(&ok, now.bad_pmd == b->bad_pmd, "%s: %d \"bad pmd\" in the kernel log",
	      name, now.bad_pmd - b->bad_pmd);
	CHECK(&ok, now.bad_rss == b->bad_rss, "%s: %d \"Bad rss-counter\" in the kernel log",
	      name, now.bad_rss - b->bad_rss);
	/*
	 * A leaked THP is 2048 kB of AnonPages; a leaked page table (the one
	 * deposited for the PMD) makes the exiting mm's pgtables_bytes
	 * non-zero, which the kernel reports (PageTables itself moves by more
	 * than 4 kB with the rest of the system).
	 */
	CHECK(&ok, now.bad_tables == b->bad_tables,
	      "%s: %d \"non-zero pgtables_bytes\" (a page table leaked)", name,
	      now.bad_tables - b->bad_tables);
	CHECK(&ok, now.anon < b->anon + 1024, "%s: AnonPages +%lld kB", name,
	      now.anon - b->anon);
	return ok;
}

static const char *const race_names[] = {
	[RACE_DONTNEED] = "dontneed_reads_zeros",
	[RACE_MPROTECT] = "mprotect_read_only_write_faults",
	[RACE_MREMAP] = "mremap_data_arrives",
	[RACE_MUNMAP] = "munmap_no_leak_no_bad_pmd",
};

static void run_race(enum race race, const char *mode)
{
	struct baseline b;
	pid_t pid;
	int st;
	bool ok = true;
	char name[96];

	snprintf(name, sizeof(name), "pmdrace_%s_%s", race_names[race], mode);
	baseline_read(&b);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(race_child(race));
	waitpid(pid, &st, 0);
	CHECK(&ok, WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %#x", name, st);
	CHECK(&ok, baseline_ok(name, &b), "%s: leak or kernel complaint", name);
	vt_result(ok, "%s", name);
}

static void run_exit(const char *mode)
{
	struct baseline b;
	bool ok = true;
	int i;
	char name[96];

	snprintf(name, sizeof(name), "pmdrace_exit_no_leak_no_bad_pmd_%s", mode);
	baseline_read(&b);
	fflush(stdout);
	for (i = 0; i < ITERS / 2 && ok; i++)
		ok = race_exit_once(i);
	CHECK(&ok, baseline_ok(name, &b), "%s: leak or kernel complaint", name);
	vt_result(ok, "%s", name);
}

int main(void)
{
	static const char *const modes[] = { "pmd1", "pmd0" };
	unsigned int m;
	int r, err;

	if (!mthp_supported(2048)) {
		vt_skip("pmdrace", "no 2M THP");
		return vt_exit();
	}
	if (access("/sys/module/bu_test_delay", F_OK))
		err = module_load_path(DELAY_KO, "delay_us=" DELAY_US);
	else
		err = 0;
	if (!vt_result(err == 0, "pmdrace_delay_helper_loads (%s)", strerror(-err)))
		return vt_exit();
	mthp_only(2048);
	for (m = 0; m < 2; m++) {
		if (module_loaded())
			module_unload();
		err = module_load(m ? "pmd=0" : NULL);
		if (!vt_result(err == 0, "module_loads (%s)", strerror(-err)))
			break;
		for (r = RACE_DONTNEED; r <= RACE_MUNMAP; r++)
			run_race(r, modes[m]);
		run_exit(modes[m]);
	}
	module_unload();
	module_unload_name("bu_test_delay");
	mthp_only(0);
	return vt_exit();
}
