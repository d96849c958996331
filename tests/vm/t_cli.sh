#!/bin/sh
# Tools on a kernel that lacks what was asked for, in the VM: lazyfree-bench
# with a folio size the kernel does not offer (8K: on x86 6.12 order 1 is a
# shmem-only mTHP size, its directory has no "enabled") fails with a clear
# error (exit 1) naming the sizes it does offer, 8K not among them, and
# leaves every mTHP setting as it was.

THP=/sys/kernel/mm/transparent_hugepage
failed=0
settings() { cat "$THP"/enabled "$THP"/hugepages-*/enabled 2>/dev/null; }

if [ -e "$THP/hugepages-8kB/enabled" ]; then
	echo "ok - lazyfree_bench_missing_mthp_size # SKIP this kernel offers 8K anonymous mTHPs"
	exit 0
fi
before="$(settings)"
lazyfree-bench -f 8K -s 1M -n 1 >/tmp/cli.out 2>&1
rc=$?
after="$(settings)"
if [ "$rc" = 1 ] && grep -q "this kernel offers no 8K folios for anonymous memory" /tmp/cli.out &&
	grep -q "it offers 4K (small pages), 16K, " /tmp/cli.out && ! grep -q " 8K," /tmp/cli.out &&
	[ "$before" = "$after" ]; then
	echo "ok - lazyfree_bench_missing_mthp_size"
else
	sed 's/^/# /' /tmp/cli.out
	echo "# exit $rc; settings changed: $([ "$before" = "$after" ] && echo no || echo yes)"
	echo "not ok - lazyfree_bench_missing_mthp_size"
	failed=1
fi
exit "$failed"
