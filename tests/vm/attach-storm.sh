#!/bin/sh
# Reproducer, not part of make check: attach and detach unmapstat's BPF
# programs 80 times while lazyfree reclaim runs on CPU 1 (module loaded with
# "on", else not).  Under QEMU 7.2 multi-threaded TCG the guest oopses
# within seconds, with or without batch_unmap.ko ("Oops: int3" at
# flush_tlb_mm_range+0x5, or a call to NULL from try_to_unmap_one): text
# patching of a function another vCPU is executing.  With one TCG thread
# (VM_TCG_THREAD=single) the same runs are clean.  Run it with:
#   make vm-run CMD='sh /vm/bin/attach-storm.sh off' FILES=tests/vm/attach-storm.sh
[ "$1" = on ] && insmod /vm/batch_unmap.ko
storm() { while :; do taskset -c 1 lazyfree-bench -f 64K -s 16M -n 5 -C 1 >/dev/null 2>&1; done; }
storm &
spid=$!
i=0
while [ $i -lt 80 ]; do
	unmapstat --pin >/dev/null 2>&1 || echo "pin failed"
	unmapstat --unpin >/dev/null 2>&1
	i=$((i + 1))
done
kill $spid
echo "DONE $i cycles; module loaded: $([ -d /sys/module/batch_unmap ] && echo yes || echo no);" \
	"kernel complaints: $(dmesg | grep -c -E 'Oops|BUG|WARNING')"
