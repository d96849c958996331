// SPDX-License-Identifier: GPL-2.0
/*
 * Page-cache large folios on XFS (/mnt/xfs, the harness's disk): every
 * byte that must survive reclaim does, with the module batching their
 * unmap and young-bit checks (file=1 referenced=1) and without it (stock).
 * Each case writes patterns, reclaims (MADV_PAGEOUT, or memory.reclaim
 * for the referenced walk), and checks the data through the mapping and,
 * after sync and drop_caches, through read() from the disk:
 *  - MAP_SHARED writes reach the file, also rewritten after a writeback;
 *  - MAP_PRIVATE CoW'd pages keep their private data, the file its own;
 *  - hole punching and truncation racing with reclaim;
 *  - fork (two mms map the folios), mremap off the PMD grid, mlock;
 *  - pages pinned by vmsplice or O_DIRECT stay coherent;
 *  - PMD-mapped file THPs (MADV_HUGEPAGE);
 *  - memcg reclaim (the referenced walk, then the unmap).
 * ext4 (/mnt/ext4, no large folios in 6.12) is the control: the module
 * must leave it alone.  With the module loaded, the cases check that it
 * batched (file_batches, ref_batches): a case that batched nothing would
 * test nothing.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/uio.h>

#include "vmtest.h"

#define XFS_DIR		"/mnt/xfs"
#define EXT4_DIR	"/mnt/ext4"
#define FSIZE		(8 * MB)

static bool module_on;	/* this pass runs with the module loaded */

static const char *pass_name(void)
{
	return module_on ? "module" : "stock";
}

/* Create @path of @len bytes of pattern @seed with large write() calls. */
static int make_file(const char *path, size_t len, unsigned int seed)
{
	size_t chunk = MB, off;
	char *buf = malloc(chunk);
	int fd;

	if (!buf)
		return -1;
	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	for (off = 0; fd >= 0 && off < len; off += chunk) {
		fill_at(buf, chunk, seed, off);
		if (pwrite(fd, buf, chunk, off) != (ssize_t)chunk) {
			close(fd);
			fd = -1;
		}
	}
	free(buf);
	if (fd >= 0 && fsync(fd)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * make_file() of pattern 1, mapped read-write with @flags (MAP_SHARED or
 * MAP_PRIVATE): the mapping, or NULL after reporting why (as a failed
 * case named after @path).
 */
static char *file_map(const char *path, int flags, int *fd)
{
	char *p;

	*fd = make_file(path, FSIZE, 1);
	if (*fd < 0) {
		vt_result(false, "create %s: %s", path, strerror(errno));
		return NULL;
	}
	p = mmap(NULL, FSIZE, PROT_READ | PROT_WRITE, flags, *fd, 0);
	if (p == MAP_FAILED) {
		vt_result(false, "mmap %s: %s", path, strerror(errno));
		close(*fd);
		return NULL;
	}
	return p;
}

static void drop_caches(void)
{
	sync();
	mm_write_file("/proc/sys/vm/drop_caches", "3");
}

/*
 * What read() returns from the disk after sync and drop_caches: the first
 * byte at which the file differs from @expect(page offset), or -1.
 */
static long file_bad_offset(int fd, size_t len, unsigned int (*expect)(size_t))
{
	char *buf = malloc(PAGE);
	long bad = -1;
	size_t off;

	if (!buf)
		return 0;
	drop_caches();
	for (off = 0; off < len && bad < 0; off += PAGE) {
		unsigned int seed = expect(off);
		long b;

		if (pread(fd, buf, PAGE, off) != (ssize_t)PAGE)
			bad = off;
		else if ((b = seed ? check_at(buf, PAGE, seed, off) : check_zero(buf, PAGE)) >= 0)
			bad = off + b;
	}
	free(buf);
	return bad;
}

/* The same through a mapping of the file at @p. */
static long map_bad_offset(const char *p, size_t len, unsigned int (*expect)(size_t))
{
	size_t off;

	for (off = 0; off < len; off += PAGE) {
		unsigned int seed = expect(off);
		long b = seed ? check_at(p + off, PAGE, seed, off) : check_zero(p + off, PAGE);

		if (b >= 0)
			return off + b;
	}
	return -1;
}

/* Read every page of [p, p+len): maps the pages (read faults). */
static unsigned long touch_read(const char *p, size_t len)
{
	unsigned long sum = 0;
	size_t off;

	for (off = 0; off < len; off += PAGE)
		sum += *(volatile const char *)(p + off);
	return sum;
}

/*
 * Pages of [p, p+len) mapped from large folios, by order (report only:
 * which orders reclaim met).  Returns the pages in folios of order >= 1.
 */
static long large_pages(const char *what, const char *p, size_t len)
{
	long by_order[10] = { 0 }, large = 0;
	char line[160];
	int o, n = 0;

	for (o = 1; o < 10; o++) {
		long f = mm_count_folios((void *)p, len, (4UL << o));

		if (f > 0) {
			by_order[o] = f;
			large += f << o;
		}
	}
	for (o = 1; o < 10; o++)
		if (by_order[o])
			n += snprintf(line + n, sizeof(line) - n, " order%d:%ld", o, by_order[o]);
	vt_diag("%s: large folios mapped:%s (%ld of %zu pages)", what, n ? line : " none",
		large, len / PAGE);
	return large;
}

static long long file_batches0, ref_batches0;

static void counters_start(void)
{
	file_batches0 = bu_stat("file_batches");
	ref_batches0 = bu_stat("ref_batches");
}

/* With the module: did it batch the unmap (@ref: the young-bit check)? */
static void counters_check(bool *ok, bool ref)
{
	long long fb, rb;

	if (!module_on)
		return;
	fb = bu_stat("file_batches") - file_batches0;
	rb = bu_stat("ref_batches") - ref_batches0;
	vt_diag("module: file_batches +%lld, ref_batches +%lld", fb, rb);
	CHECK(ok, fb > 0, "the module batched no file unmap: nothing was tested");
	if (ref)
		CHECK(ok, rb > 0, "the module batched no referenced check");
}

static bool pageout(char *p, size_t len)
{
	return madvise(p, len, MADV_PAGEOUT) == 0;
}

/* --- MAP_SHARED writes ------------------------------------------------------ */

static unsigned int seed_2(size_t off)
{
	(void)off;
	return 2;
}

/* Seed 3 in every 5th page (rewritten after a writeback), else 2. */
static unsigned int seed_rewritten(size_t off)
{
	return (off / PAGE) % 5 == 0 ? 3 : 2;
}

static bool shared_write(const char *dir, bool expect_large)
{
	char path[64];
	bool ok = true;
	size_t off;
	long bad;
	int fd;
	char *p;

	snprintf(path, sizeof(path), "%s/shared", dir);
	p = file_map(path, MAP_SHARED, &fd);
	if (!p)
		return false;
	counters_start();
	/* Round 1: write everything, reclaim (dirty PTEs, whole folios). */
	fill(p, FSIZE, 2);
	if (expect_large)
		CHECK(&ok, large_pages(path, p, FSIZE) > 0, "no large folios on %s", dir);
	else
		CHECK(&ok, large_pages(path, p, FSIZE) == 0, "large folios on %s", dir);
	CHECK(&ok, pageout(p, FSIZE), "MADV_PAGEOUT: %s", strerror(errno));
	vt_diag("mapped after MADV_PAGEOUT: %ld of %zu pages", mm_mapped_pages(p, FSIZE),
		FSIZE / PAGE);
	/* Round 2: written back (PTEs cleaned), then rewritten in part. */
	CHECK(&ok, msync(p, FSIZE, MS_SYNC) == 0, "msync: %s", strerror(errno));
	touch_read(p, FSIZE);
	for (off = 0; off < FSIZE; off += 5 * PAGE)
		fill_at(p + off, PAGE, 3, off);
	CHECK(&ok, pageout(p, FSIZE), "MADV_PAGEOUT: %s", strerror(errno));
	CHECK(&ok, (bad = map_bad_offset(p, FSIZE, seed_rewritten)) < 0,
	      "mapping differs at +%ld", bad);
	munmap(p, FSIZE);
	bad = file_bad_offset(fd, FSIZE, seed_rewritten);
	CHECK(&ok, bad < 0, "the file differs at +%ld after sync", bad);
	if (expect_large)
		counters_check(&ok, false);
	else if (module_on)
		CHECK(&ok, bu_stat("file_batches") == file_batches0,
		      "the module batched on %s, which has no large folios", dir);
	close(fd);
	unlink(path);
	return vt_result(ok, "file_shared_write.%s.%s", dir + 5, pass_name());
}

/* --- MAP_PRIVATE: CoW'd pages and the file ------------------------------------- */

/* Every 7th page CoW'd with seed 4; the rest of the mapping is the file's. */
static unsigned int seed_cow(size_t off)
{
	return (off / PAGE) % 7 == 3 ? 4 : 1;
}

static unsigned int seed_1(size_t off)
{
	(void)off;
	return 1;
}

static bool private_cow(void)
{
	const char *path = XFS_DIR "/private";
	bool ok = true;
	size_t off;
	long bad;
	int fd;
	char *p;

	p = file_map(path, MAP_PRIVATE, &fd);
	if (!p)
		return false;
	counters_start();
	touch_read(p, FSIZE);
	CHECK(&ok, large_pages(path, p, FSIZE) > 0, "no large folios");
	for (off = 3 * PAGE; off < FSIZE; off += 7 * PAGE)
		fill_at(p + off, PAGE, 4, off);
	CHECK(&ok, pageout(p, FSIZE), "MADV_PAGEOUT: %s", strerror(errno));
	CHECK(&ok, (bad = map_bad_offset(p, FSIZE, seed_cow)) < 0,
	      "private mapping differs at +%ld", bad);
	counters_check(&ok, false);
	munmap(p, FSIZE);
	CHECK(&ok, (bad = file_bad_offset(fd, FSIZE, seed_1)) < 0,
	      "the file took private data at +%ld", bad);
	close(fd);
	unlink(path);
	return vt_result(ok, "file_private_cow.%s", pass_name());
}

/* --- hole punching and truncation racing with reclaim ------------------------ */

#define RACE_ROUNDS	24
#define RACE_PAGES	(FSIZE / PAGE)

struct race {
	int fd;
	bool truncate;			/* truncate down and up, else punch */
	unsigned int seed;
	pthread_barrier_t go, done;
	unsigned char gone[RACE_PAGES];	/* page was punched or cut off */
	int err;
};

static void *race_thread(void *arg)
{
	struct race *r = arg;
	unsigned int i;
	size_t pg, n, k;

	pin_cpu(1);
	for (i = 0; i < RACE_ROUNDS; i++) {
		pthread_barrier_wait(&r->go);
		pg = rand_r(&r->seed) % RACE_PAGES;
		if (r->truncate) {
			if (ftruncate(r->fd, pg * PAGE) || ftruncate(r->fd, FSIZE))
				r->err = errno;
			for (k = pg; k < RACE_PAGES; k++)
				r->gone[k] = 1;
		} else {
			n = 1 + rand_r(&r->seed) % 96;
			if (pg + n > RACE_PAGES)
				n = RACE_PAGES - pg;
			if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      pg * PAGE, n * PAGE))
				r->err = errno;
			for (k = pg; k < pg + n; k++)
				r->gone[k] = 1;
		}
		pthread_barrier_wait(&r->done);
	}
	return NULL;
}

static struct race *the_race;

static unsigned int seed_race(size_t off)
{
	return the_race->gone[off / PAGE] ? 0 : 2;
}

/*
 * Each round: map every page, then reclaim while the other thread punches
 * a hole (or truncates the file down and back up).  Punched or cut pages
 * must read as zero afterwards, the others keep their data.  The thread
 * only cuts pages after its barrier and the mapping is only read between
 * rounds, when the file is whole again, so no access can SIGBUS.
 */
static bool cut_race(bool truncate)
{
	const char *path = XFS_DIR "/race";
	struct race *r = calloc(1, sizeof(*r));
	pthread_t th;
	bool ok = true;
	unsigned int i;
	long bad;
	char *p;

	if (!r)
		return vt_result(false, "calloc");
	r->truncate = truncate;
	r->seed = truncate ? 11 : 7;
	r->fd = make_file(path, FSIZE, 2);
	if (r->fd < 0) {
		free(r);
		return vt_result(false, "create %s: %s", path, strerror(errno));
	}
	p = mmap(NULL, FSIZE, PROT_READ, MAP_SHARED, r->fd, 0);
	if (p == MAP_FAILED) {
		close(r->fd);
		free(r);
		return vt_result(false, "mmap: %s", strerror(errno));
	}
	counters_start();
	pthread_barrier_init(&r->go, NULL, 2);
	pthread_barrier_init(&r->done, NULL, 2);
	pthread_create(&th, NULL, race_thread, r);
	for (i = 0; i < RACE_ROUNDS; i++) {
		touch_read(p, FSIZE);
		pthread_barrier_wait(&r->go);
		CHECK(&ok, pageout(p, FSIZE), "MADV_PAGEOUT: %s", strerror(errno));
		pthread_barrier_wait(&r->done);
	}
	pthread_join(th, NULL);
	CHECK(&ok, !r->err, "punch/truncate: %s", strerror(r->err));
	the_race = r;
	CHECK(&ok, (bad = map_bad_offset(p, FSIZE, seed_race)) < 0,
	      "mapping differs at +%ld", bad);
	counters_check(&ok, false);
	munmap(p, FSIZE);
	CHECK(&ok, (bad = file_bad_offset(r->fd, FSIZE, seed_race)) < 0,
	      "the file differs at +%ld", bad);
	close(r->fd);
	unlink(path);
	free(r);
	return vt_result(ok, "file_%s_race.%s", truncate ? "truncate" : "punch", pass_name());
}

/* --- fork, mremap, mlock --------------------------------------------------------- */

/*
 * Parent and child map the same folios (two VMAs in the rmap walk); memcg
 * reclaim (MADV_PAGEOUT skips shared folios) unmaps them from both while
 * the child waits.  Both must read the data back.
 */
static bool fork_shared(void)
{
	const char *path = XFS_DIR "/fork";
	int fd, status = -1, up[2], down[2];
	bool ok = true;
	pid_t pid;
	long bad;
	char c;
	char *p;

	if (pipe(up) || pipe(down))
		return vt_result(false, "pipe: %s", strerror(errno));
	p = file_map(path, MAP_SHARED, &fd);
	if (!p)
		return false;
	fill(p, FSIZE, 2);
	counters_start();
	pid = fork();
	if (pid == 0) {
		touch_read(p, FSIZE);
		if (write(up[1], "r", 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(3);
		_exit(map_bad_offset(p, FSIZE, seed_2) < 0 ? 0 : 1);
	}
	CHECK(&ok, pid > 0, "fork: %s", strerror(errno));
	if (pid > 0) {
		CHECK(&ok, read(up[0], &c, 1) == 1, "child did not start");
		CHECK(&ok, msync(p, FSIZE, MS_SYNC) == 0, "msync: %s", strerror(errno));
		memcg_reclaim();
		memcg_reclaim();
		memcg_reclaim();
		CHECK(&ok, write(down[1], "g", 1) == 1, "child gone");
		waitpid(pid, &status, 0);
		CHECK(&ok, WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the child read wrong data (status %#x)", status);
	}
	CHECK(&ok, (bad = map_bad_offset(p, FSIZE, seed_2)) < 0, "parent: +%ld", bad);
	counters_check(&ok, false);
	munmap(p, FSIZE);
	CHECK(&ok, (bad = file_bad_offset(fd, FSIZE, seed_2)) < 0, "file: +%ld", bad);
	close(fd);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
	unlink(path);
	return vt_result(ok, "file_fork.%s", pass_name());
}

/* Moved one page off the PMD grid: runs end at every page-table boundary. */
static bool mremap_off_grid(void)
{
	const char *path = XFS_DIR "/mremap";
	bool ok = true;
	char *p, *q, *dst;
	long bad;
	int fd;

	p = file_map(path, MAP_SHARED, &fd);
	dst = mm_map_aligned(FSIZE + PMD_SIZE_, PMD_SIZE_);
	if (!p || !dst)
		return vt_result(false, "mmap: %s", strerror(errno));
	fill(p, FSIZE, 2);
	q = mremap(p, FSIZE, FSIZE, MREMAP_MAYMOVE | MREMAP_FIXED, dst + PAGE);
	CHECK(&ok, q == dst + PAGE, "mremap: %s", strerror(errno));
	if (q != dst + PAGE)
		q = p;
	counters_start();
	touch_read(q, FSIZE);
	CHECK(&ok, pageout(q, FSIZE), "MADV_PAGEOUT: %s", strerror(errno));
	CHECK(&ok, (bad = map_bad_offset(q, FSIZE, seed_2)) < 0, "mapping: +%ld", bad);
	counters_check(&ok, false);
	munmap(q, FSIZE);
	munmap(dst, FSIZE + PMD_SIZE_);
	CHECK(&ok, (bad = file_bad_offset(fd, FSIZE, seed_2)) < 0, "file: +%ld", bad);
	close(fd);
	unlink(path);
	return vt_result(ok, "file_mremap.%s", pass_name());
}

/* The mlocked half stays mapped through reclaim, the other half goes. */
static bool mlock_half(void)
{
	const char *path = XFS_DIR "/mlock";
	size_t half = FSIZE / 2;
	bool ok = true;
	long bad, res;
	char *p;
	int fd;

	p = file_map(path, MAP_SHARED, &fd);
	if (!p)
		return false;
	fill(p, FSIZE, 2);
	CHECK(&ok, mlock(p, half) == 0, "mlock: %s", strerror(errno));
	counters_start();
	memcg_reclaim();
	/* MADV_PAGEOUT refuses mlocked VMAs: only the other half. */
	CHECK(&ok, pageout(p + half, half), "MADV_PAGEOUT: %s", strerror(errno));
	res = mm_mapped_pages(p, half);
	CHECK(&ok, res == (long)(half / PAGE), "mlocked half: %ld of %zu pages mapped",
	      res, half / PAGE);
	res = mm_mapped_pages(p + half, half);
	CHECK(&ok, res < (long)(half / PAGE), "the other half stayed mapped (%ld pages)", res);
	CHECK(&ok, (bad = map_bad_offset(p, FSIZE, seed_2)) < 0, "mapping: +%ld", bad);
	counters_check(&ok, false);
	munlock(p, half);
	munmap(p, FSIZE);
	CHECK(&ok, (bad = file_bad_offset(fd, FSIZE, seed_2)) < 0, "file: +%ld", bad);
	close(fd);
	unlink(path);
	return vt_result(ok, "file_mlock.%s", pass_name());
}

/* --- pages pinned by vmsplice and O_DIRECT -------------------------------------- */

/*
 * vmsplice() holds references to the page-cache pages: reclaim unmaps them
 * but cannot free them, so a write through the mapping after reclaim must
 * show in what the pipe still holds (the same pages).
 */
static bool vmsplice_coherent(void)
{
	const char *path = XFS_DIR "/vmsplice";
	size_t len = 64 * KB, off;
	char *p, *buf = malloc(len);
	struct iovec iov;
	bool ok = true;
	int fd, pfd[2];
	long bad;

	if (!buf || pipe(pfd))
		return vt_result(false, "pipe: %s", strerror(errno));
	fcntl(pfd[1], F_SETPIPE_SZ, (int)len);
	p = file_map(path, MAP_SHARED, &fd);
	if (!p)
		return false;
	fill(p, FSIZE, 2);
	counters_start();
	iov.iov_base = p;
	iov.iov_len = len;
	CHECK(&ok, vmsplice(pfd[1], &iov, 1, 0) == (ssize_t)len, "vmsplice: %s",
	      strerror(errno));
	CHECK(&ok, pageout(p, FSIZE), "MADV_PAGEOUT: %s", strerror(errno));
	for (off = 0; off < len; off += PAGE)
		fill_at(p + off, PAGE, 5, off);
	CHECK(&ok, read(pfd[0], buf, len) == (ssize_t)len, "pipe read: %s", strerror(errno));
	CHECK(&ok, (bad = check_at(buf, len, 5, 0)) < 0,
	      "the pipe's pages differ from the mapping's at +%ld", bad);
	counters_check(&ok, false);
	munmap(p, FSIZE);
	free(buf);
	close(pfd[0]);
	close(pfd[1]);
	close(fd);
	unlink(path);
	return vt_result(ok, "file_vmsplice.%s", pass_name());
}

struct dio {
	int fd;			/* O_DIRECT target */
	char *src;		/* the mapping being reclaimed */
	volatile bool stop;
	int err;
	unsigned int writes;
};

static void *dio_thread(void *arg)
{
	struct dio *d = arg;

	pin_cpu(1);
	while (!d->stop) {
		if (pwrite(d->fd, d->src, FSIZE, 0) != (ssize_t)FSIZE) {
			d->err = errno;
			break;
		}
		d->writes++;
	}
	return NULL;
}

/* O_DIRECT writes from the mapping (GUP pins its pages) while it is reclaimed. */
static bool odirect_pinned(void)
{
	const char *path = XFS_DIR "/dio-src", *dst = XFS_DIR "/dio-dst";
	struct dio d = { 0 };
	pthread_t th;
	bool ok = true;
	unsigned int i;
	long bad;
	int fd;

	fd = make_file(path, FSIZE, 1);
	unlink(dst);
	d.fd = open(dst, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
	if (fd < 0 || d.fd < 0)
		return vt_result(false, "create: %s", strerror(errno));
	d.src = mmap(NULL, FSIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (d.src == MAP_FAILED)
		return vt_result(false, "mmap: %s", strerror(errno));
	fill(d.src, FSIZE, 2);
	counters_start();
	pthread_create(&th, NULL, dio_thread, &d);
	for (i = 0; i < 12; i++) {
		touch_read(d.src, FSIZE);
		CHECK(&ok, pageout(d.src, FSIZE), "MADV_PAGEOUT: %s", strerror(errno));
	}
	d.stop = true;
	pthread_join(th, NULL);
	vt_diag("O_DIRECT writes during reclaim: %u", d.writes);
	CHECK(&ok, !d.err && d.writes > 0, "O_DIRECT write: %s", strerror(d.err));
	CHECK(&ok, (bad = map_bad_offset(d.src, FSIZE, seed_2)) < 0, "source: +%ld", bad);
	counters_check(&ok, false);
	munmap(d.src, FSIZE);
	close(d.fd);
	d.fd = open(dst, O_RDONLY);
	CHECK(&ok, d.fd >= 0 && (bad = file_bad_offset(d.fd, FSIZE, seed_2)) < 0,
	      "O_DIRECT copy: +%ld", bad);
	close(d.fd);
	close(fd);
	unlink(path);
	unlink(dst);
	return vt_result(ok, "file_odirect.%s", pass_name());
}

/* --- PMD-mapped file THPs --------------------------------------------------------- */

static bool pmd_mapped(void)
{
	const char *path = XFS_DIR "/pmd";
	long long pmd_kb;
	bool ok = true;
	char *p;
	long bad;
	int fd;

	fd = make_file(path, FSIZE, 1);
	if (fd < 0)
		return vt_result(false, "create %s: %s", path, strerror(errno));
	/* Out of the page cache, so that the faults read PMD-size folios. */
	drop_caches();
	p = mm_map_aligned(FSIZE, PMD_SIZE_);
	if (!p || mmap(p, FSIZE, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) != p)
		return vt_result(false, "mmap: %s", strerror(errno));
	CHECK(&ok, madvise(p, FSIZE, MADV_HUGEPAGE) == 0, "MADV_HUGEPAGE: %s", strerror(errno));
	counters_start();
	touch_read(p, FSIZE);
	pmd_kb = mm_read_keyed("/proc/self/smaps_rollup", "FilePmdMapped:");
	vt_diag("FilePmdMapped: %lld kB", pmd_kb);
	CHECK(&ok, pmd_kb > 0, "no PMD-mapped file THP: the case tests nothing");
	CHECK(&ok, pageout(p, FSIZE), "MADV_PAGEOUT: %s", strerror(errno));
	CHECK(&ok, (bad = map_bad_offset(p, FSIZE, seed_1)) < 0, "mapping: +%ld", bad);
	munmap(p, FSIZE);
	CHECK(&ok, (bad = file_bad_offset(fd, FSIZE, seed_1)) < 0, "file: +%ld", bad);
	close(fd);
	unlink(path);
	return vt_result(ok, "file_pmd.%s", pass_name());
}

/* --- memcg reclaim: the referenced walk, then the unmap ---------------------------- */

static bool memcg_file(void)
{
	const char *path = XFS_DIR "/memcg";
	bool ok = true;
	unsigned int i;
	long bad;
	char *p;
	int fd;

	p = file_map(path, MAP_SHARED, &fd);
	if (!p)
		return false;
	fill(p, FSIZE, 2);
	CHECK(&ok, large_pages(path, p, FSIZE) > 0, "no large folios");
	/* Clean: reclaim frees them and the next round reads them back. */
	CHECK(&ok, msync(p, FSIZE, MS_SYNC) == 0, "msync: %s", strerror(errno));
	counters_start();
	/* Young PTEs first keep the folios; later rounds find them old. */
	for (i = 0; i < 3; i++) {
		touch_read(p, FSIZE);
		memcg_reclaim();
		memcg_reclaim();
	}
	CHECK(&ok, (bad = map_bad_offset(p, FSIZE, seed_2)) < 0, "mapping: +%ld", bad);
	counters_check(&ok, true);
	munmap(p, FSIZE);
	CHECK(&ok, (bad = file_bad_offset(fd, FSIZE, seed_2)) < 0, "file: +%ld", bad);
	close(fd);
	unlink(path);
	return vt_result(ok, "file_memcg.%s", pass_name());
}

/* --- splitting a mapped large folio: try_to_unmap() outside reclaim ------- */

#define HOLE_STEP	(64 * KB)
#define HOLE_OFF	(8 * KB)

/* A 4K hole punched 8K into every 64K of the file. */
static unsigned int seed_holed(size_t off)
{
	return off % HOLE_STEP == HOLE_OFF ? 0 : 1;
}

/*
 * Punching a hole inside a mapped large folio splits it, and the split
 * unmaps the folio's other pages through try_to_unmap() (unmap_folio(),
 * with TTU_IGNORE_MLOCK): the module batches those too.  With @locked the
 * mapping is mlocked, so the batch also drains the mlock.  The hole reads
 * zero, every other byte its data, and the module must have batched.
 */
static bool punch_splits(bool locked)
{
	const char *path = XFS_DIR "/split";
	bool ok = true;
	size_t off;
	long bad;
	char *p;
	int fd;

	p = file_map(path, MAP_SHARED, &fd);
	if (!p)
		return false;
	touch_read(p, FSIZE);
	CHECK(&ok, large_pages(path, p, FSIZE) > 0, "no large folios");
	if (locked)
		CHECK(&ok, mlock(p, FSIZE) == 0, "mlock: %s", strerror(errno));
	counters_start();
	for (off = 0; off < FSIZE; off += HOLE_STEP)
		CHECK(&ok, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				     off + HOLE_OFF, PAGE) == 0, "punch: %s", strerror(errno));
	CHECK(&ok, (bad = map_bad_offset(p, FSIZE, seed_holed)) < 0, "mapping: +%ld", bad);
	counters_check(&ok, false);
	if (locked)
		munlock(p, FSIZE);
	munmap(p, FSIZE);
	CHECK(&ok, (bad = file_bad_offset(fd, FSIZE, seed_holed)) < 0, "file: +%ld", bad);
	close(fd);
	unlink(path);
	return vt_result(ok, "file_punch_splits%s.%s", locked ? "_mlocked" : "", pass_name());
}

static void run_all(void)
{
	shared_write(XFS_DIR, true);
	shared_write(EXT4_DIR, false);
	private_cow();
	cut_race(false);
	cut_race(true);
	fork_shared();
	mremap_off_grid();
	mlock_half();
	vmsplice_coherent();
	odirect_pinned();
	pmd_mapped();
	memcg_file();
	punch_splits(false);
	punch_splits(true);
}

int main(void)
{
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (access(XFS_DIR, W_OK) || access(EXT4_DIR, W_OK)) {
		vt_result(false, "file: %s and %s must be mounted (tests/harness/run.sh "
			  "mounts them unless --no-disk)", XFS_DIR, EXT4_DIR);
		return vt_exit();
	}
	err = memcg_enter();
	if (!vt_result(err == 0, "file_memcg_enter (%s)", strerror(-err)))
		return vt_exit();
	pin_cpu(0);

	if (module_loaded())
		module_unload();
	module_on = true;
	err = module_load("file=1 referenced=1");
	if (vt_result(err == 0, "file_module_loads (%s)", strerror(-err)))
		run_all();
	err = module_unload();
	vt_result(err == 0, "file_module_unloads (%s)", strerror(-err));

	module_on = false;
	run_all();
	return vt_exit();
}
