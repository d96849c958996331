// SPDX-License-Identifier: GPL-2.0
/*
 * Memory helpers shared by lazyfree-bench and the VM tests.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mmutil.h"

static const unsigned long mthp_sizes[] = { 8, 16, 32, 64, 128, 256, 512,
					    1024, 2048 };
#define NR_SIZES	(sizeof(mthp_sizes) / sizeof(mthp_sizes[0]))

int mm_write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

int mm_read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

static void enabled_path(char *buf, size_t len, unsigned long kb)
{
	snprintf(buf, len, THP_DIR "/hugepages-%lukB/enabled", kb);
}

bool mthp_supported(unsigned long kb)
{
	char path[128];

	enabled_path(path, sizeof(path), kb);
	return access(path, W_OK) == 0;
}

int mthp_only(unsigned long kb)
{
	char path[128];
	unsigned int i;
	int err = 0;

	if (kb > 4 && !mthp_supported(kb))
		return -ENOENT;
	for (i = 0; i < NR_SIZES; i++) {
		if (!mthp_supported(mthp_sizes[i]))
			continue;
		enabled_path(path, sizeof(path), mthp_sizes[i]);
		if (mm_write_file(path, mthp_sizes[i] == kb ? "always" : "never"))
			err = -EIO;
	}
	return err;
}

int mthp_set(const unsigned long *kb, unsigned int n)
{
	char path[128];
	unsigned int i, j;
	bool on;
	int err = 0;

	for (j = 0; j < n; j++)
		if (kb[j] > 4 && !mthp_supported(kb[j]))
			return -ENOENT;
	for (i = 0; i < NR_SIZES; i++) {
		if (!mthp_supported(mthp_sizes[i]))
			continue;
		for (on = false, j = 0; j < n; j++)
			on |= kb[j] == mthp_sizes[i];
		enabled_path(path, sizeof(path), mthp_sizes[i]);
		if (mm_write_file(path, on ? "always" : "never"))
			err = -EIO;
	}
	return err;
}

void mthp_save(struct mthp_saved *s)
{
	char path[128], buf[128], *l, *r;
	unsigned int i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < NR_SIZES; i++) {
		enabled_path(path, sizeof(path), mthp_sizes[i]);
		if (mm_read_file(path, buf, sizeof(buf)))
			continue;
		/* "always [inherit] madvise never": keep the bracketed one. */
		l = strchr(buf, '[');
		r = l ? strchr(l, ']') : NULL;
		if (l && r && r - l - 1 < (long)sizeof(s->enabled[i]))
			snprintf(s->enabled[i], sizeof(s->enabled[i]), "%.*s",
				 (int)(r - l - 1), l + 1);
	}
}

void mthp_restore(const struct mthp_saved *s)
{
	char path[128];
	unsigned int i;

	for (i = 0; i < NR_SIZES; i++) {
		if (!s->enabled[i][0])
			continue;
		enabled_path(path, sizeof(path), mthp_sizes[i]);
		mm_write_file(path, s->enabled[i]);
	}
}

long long mthp_split_deferred(unsigned long kb)
{
	char path[128], buf[64];

	snprintf(path, sizeof(path), THP_DIR "/hugepages-%lukB/stats/split_deferred", kb);
	if (mm_read_file(path, buf, sizeof(buf)))
		return -1;
	return strtoll(buf, NULL, 10);
}

long long mm_read_keyed(const char *path, const char *key)
{
	char line[256];
	long long val = -1;
	size_t klen = strlen(key);
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, klen) && line[klen] == ' ') {
			val = strtoll(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

char *mm_map_aligned(size_t len, size_t align)
{
	size_t span = len + align;
	char *raw, *p;

	/* A huge @len must fail, not wrap around to a small mapping. */
	if (span < len) {
		errno = ENOMEM;
		return NULL;
	}
	raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	p = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	if (p > raw)
		munmap(raw, p - raw);
	if (p + len < raw + span)
		munmap(p + len, raw + span - (p + len));
	return p;
}

long mm_resident_pages(void *p, size_t len)
{
	size_t n = len / MM_PAGE, i;
	unsigned char *vec = malloc(n);
	long res = 0;

	if (!vec || mincore(p, len, vec)) {
		free(vec);
		return -1;
	}
	for (i = 0; i < n; i++)
		res += vec[i] & 1;
	free(vec);
	return res;
}

long mm_mapped_pages(const void *p, size_t len)
{
	int pm = open("/proc/self/pagemap", O_RDONLY);
	uint64_t ent;
	size_t off;
	long n = 0;

	if (pm < 0)
		return -1;
	for (off = 0; off < len; off += MM_PAGE)
		if (pread(pm, &ent, 8, (((uintptr_t)p + off) / MM_PAGE) * 8) == 8 &&
		    (ent & MM_PM_PRESENT))
			n++;
	close(pm);
	return n;
}

long mm_count_folios(void *p, size_t len, unsigned long folio_kb)
{
	size_t n = len / MM_PAGE, per = folio_kb * 1024 / MM_PAGE, i, j;
	int pm = open("/proc/self/pagemap", O_RDONLY);
	int kf = open("/proc/kpageflags", O_RDONLY);
	long found = -1;

	if (pm < 0 || kf < 0 || !per)
		goto out;
	found = 0;
	for (i = 0; i + per <= n; i += per) {
		uint64_t head = 0;
		bool good = true;

		for (j = 0; j < per && good; j++) {
			uintptr_t va = (uintptr_t)p + (i + j) * MM_PAGE;
			uint64_t ent, flags, pfn;
			bool is_head, is_tail;

			if (pread(pm, &ent, 8, (va / MM_PAGE) * 8) != 8 ||
			    !(ent & MM_PM_PRESENT)) {
				good = false;
				break;
			}
			pfn = ent & MM_PM_PFN_MASK;
			if (pread(kf, &flags, 8, pfn * 8) != 8) {
				good = false;
				break;
			}
			is_head = (flags >> MM_KPF_COMPOUND_HEAD) & 1;
			is_tail = (flags >> MM_KPF_COMPOUND_TAIL) & 1;
			if (per == 1)
				good = !is_head && !is_tail;
			else if (j == 0)
				good = is_head && !(pfn & (per - 1));
			else
				good = is_tail && pfn == head + j;
			if (j == 0)
				head = pfn;
		}
		/* A larger folio has a tail where the next head should be. */
		if (good && i + per < n) {
			uintptr_t va = (uintptr_t)p + (i + per) * MM_PAGE;
			uint64_t ent, flags;

			if (pread(pm, &ent, 8, (va / MM_PAGE) * 8) == 8 &&
			    (ent & MM_PM_PRESENT) &&
			    pread(kf, &flags, 8, (ent & MM_PM_PFN_MASK) * 8) == 8 &&
			    ((flags >> MM_KPF_COMPOUND_TAIL) & 1) &&
			    (ent & MM_PM_PFN_MASK) == head + per)
				good = false;
		}
		found += good;
	}
out:
	if (pm >= 0)
		close(pm);
	if (kf >= 0)
		close(kf);
	return found;
}

int mm_split_pmd_mappings(char *p, size_t len)
{
	size_t off;

	for (off = MM_PMD_SIZE - MM_PAGE; off < len; off += MM_PMD_SIZE)
		if (mprotect(p + off, MM_PAGE, PROT_READ) ||
		    mprotect(p + off, MM_PAGE, PROT_READ | PROT_WRITE))
			return -1;
	return 0;
}

int mthp_writable(char *path, size_t len)
{
	struct dirent *de;
	int ret = 0, err;
	DIR *d = opendir(THP_DIR);

	while (d && !ret && (de = readdir(d))) {
		if (strncmp(de->d_name, "hugepages-", 10))
			continue;
		snprintf(path, len, THP_DIR "/%s/enabled", de->d_name);
		if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) && errno != ENOENT)
			ret = -1;
	}
	err = errno;
	if (d)
		closedir(d);
	errno = err;
	return ret;
}
