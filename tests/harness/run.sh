#!/usr/bin/env bash
# Boot the patched kernel under QEMU (TCG) with an initramfs holding busybox
# and the given files, run a command in it, and exit with its status.
#
# usage: tests/harness/run.sh [options] [--] 'shell command'
#        tests/harness/run.sh [options] --shell
#   --file SRC[:DEST]  put SRC (file or directory) into the VM at /vm/DEST
#                      (default /vm/bin/<name> for executables, else
#                      /vm/<name>); may be repeated
#   --project          put the project's build into the VM (what `make`
#                      builds): /vm/batch_unmap.ko, /vm/batch_unmap_kunit.ko,
#                      /vm/bu_test_delay.ko (a test helper),
#                      /vm/guest-lib.sh, /vm/guest-tests.sh, unmapstat,
#                      lazyfree-bench and the VM tests in /vm/bin, and
#                      bpftool and jq
#   --bin PATH         put a host program (dynamically linked, e.g. bpftool or
#                      jq) into /usr/bin with the libraries it needs
#   --cpus N           vCPUs (default $VM_CPUS or 2)
#   --mem SIZE         memory, QEMU syntax (default $VM_MEM or 2G)
#   (VM_TCG_THREAD=single runs all vCPUs in one host thread: a diagnosis
#   aid for multi-threaded TCG effects, e.g. cross-vCPU code patching)
#   --numa             two NUMA nodes, one vCPU and half the memory each
#   --timeout SEC      kill the VM after SEC seconds (default $VM_TIMEOUT or 900)
#   --kernel DIR       kernel build directory (default: kernel/build.sh)
#   --out DIR          where console.log and out.log go (default build/vm)
#   --shell            interactive shell on the console instead of a command
#   --allow-warn       do not fail on WARN splats (for tests that expect one)
#
# The kernel console goes to DIR/console.log; the command's output goes to
# the terminal and DIR/out.log.  An oops, BUG, WARN or panic on the console,
# or a timeout, fails the run (exit 1 or 124) and prints the console log
# around it.  KVM is never used: on this machine /dev/kvm hangs guests.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/../.." && pwd)"
. "$here/lib.sh"

cpus="${VM_CPUS:-2}"
mem="${VM_MEM:-2G}"
tcg_thread="${VM_TCG_THREAD:-multi}"
case "$tcg_thread" in multi|single) ;; *) die "VM_TCG_THREAD must be multi or single" ;; esac
timeout="${VM_TIMEOUT:-900}"
numa=0 shell=0 allow_warn=0 project=0
kdir="" out="$top/build/vm" cmd=""
files=()
bins=()

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
need() { [ $# -ge 2 ] && [ -n "$2" ] || { warn "$1 needs a value"; usage; }; }
while [ $# -gt 0 ]; do
	case "$1" in
	--file) need "$@"; files+=("$2"); shift 2 ;;
	--bin) need "$@"; bins+=("$2"); shift 2 ;;
	--project) project=1; shift ;;
	--cpus) need "$@"; cpus="$2"; shift 2 ;;
	--mem) need "$@"; mem="$2"; shift 2 ;;
	--numa) numa=1; shift ;;
	--timeout) need "$@"; timeout="$2"; shift 2 ;;
	--kernel) need "$@"; kdir="$2"; shift 2 ;;
	--out) need "$@"; out="$2"; shift 2 ;;
	--shell) shell=1; shift ;;
	--allow-warn) allow_warn=1; shift ;;
	-h|--help) usage ;;
	--) shift; cmd="$*"; break ;;
	-*) warn "unknown option $1"; usage ;;
	*) cmd="$*"; break ;;
	esac
done
case "$cpus" in ''|*[!0-9]*|0) die "--cpus must be a positive integer, not '$cpus'" ;; esac
case "$timeout" in ''|*[!0-9]*|0) die "--timeout must be a positive number of seconds, not '$timeout'" ;; esac
case "$mem" in *[!0-9MGmgk]*|'') die "--mem must look like 2G or 1536M, not '$mem'" ;; esac
[ "$numa" = 1 ] && [ "$cpus" -lt 2 ] && die "--numa needs at least 2 vCPUs"
[ "$shell" = 1 ] || [ -n "$cmd" ] || { warn "no command given"; usage; }

ensure_packages qemu-system-x86 busybox-static cpio
if [ "$project" = 1 ]; then
	for f in module/batch_unmap.ko build/bin/unmapstat build/bin/lazyfree-bench; do
		[ -f "$top/$f" ] || die "--project: $f is not built; run make first"
	done
	files+=("$top/module/batch_unmap.ko:batch_unmap.ko"
		"$top/tests/vm/guest-lib.sh:guest-lib.sh"
		"$top/tests/vm/guest-tests.sh:guest-tests.sh"
		"$top/build/bin/unmapstat" "$top/build/bin/lazyfree-bench")
	[ -f "$top/module/batch_unmap_kunit.ko" ] &&
		files+=("$top/module/batch_unmap_kunit.ko:batch_unmap_kunit.ko")
	[ -f "$top/tests/vm/kmod/bu_test_delay.ko" ] &&
		files+=("$top/tests/vm/kmod/bu_test_delay.ko:bu_test_delay.ko")
	for t in "$top"/build/vm/tests/t_* "$top"/tests/vm/t_*.sh; do
		[ -e "$t" ] && files+=("$t")
	done
	bins+=(bpftool jq)
fi
if [ -z "$kdir" ]; then
	kdir="$("$top/kernel/build.sh")"
fi
bz="$kdir/arch/x86/boot/bzImage"
[ -f "$bz" ] || die "no kernel image at $bz"

# --- initramfs --------------------------------------------------------------
mkdir -p "$out"
root="$out/root"
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,root,etc,vm/bin}
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list-full); do
	[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
install -m 0755 "$here/init" "$root/init"
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
for f in "${files[@]}"; do
	src="${f%%:*}"
	dest="${f#*:}"
	[ "$dest" = "$f" ] && dest=""
	[ -e "$src" ] || die "--file $src: no such file or directory"
	if [ -z "$dest" ]; then
		if [ -f "$src" ] && [ -x "$src" ]; then
			dest="bin/$(basename "$src")"
		else
			dest="$(basename "$src")"
		fi
	fi
	mkdir -p "$(dirname "$root/vm/$dest")"
	cp -a "$src" "$root/vm/$dest"
done
for b in "${bins[@]}"; do
	src="$(command -v "$b")" || die "--bin $b: not found on this machine"
	install -D -m 0755 "$src" "$root/usr/bin/$(basename "$src")"
	# The dynamic loader and every library ldd resolves, at the same paths.
	for lib in $(ldd "$src" | grep -o '/[^ ]*'); do
		[ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
	done
done
if [ "$shell" = 1 ]; then
	echo shell >"$root/vm/mode"
else
	printf '%s\n' "$cmd" >"$root/vm/cmd"
fi
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$out/initramfs.cpio"

# --- QEMU -------------------------------------------------------------------
console="$out/console.log"
result="$out/out.log"
: >"$console"
: >"$result"
smp="$cpus"
# One socket per node: CPUs sharing a last-level cache across nodes make
# the kernel warn about the topology.
[ "$numa" = 1 ] && smp="$cpus,sockets=2,cores=$((cpus / 2)),threads=1"
[ "$numa" = 1 ] && [ $((cpus % 2)) != 0 ] && die "--numa needs an even number of vCPUs"
qemu=(qemu-system-x86_64 -accel "tcg,thread=$tcg_thread" -cpu max -m "$mem" -smp "$smp"
	-kernel "$bz" -initrd "$out/initramfs.cpio" -no-reboot -nodefaults
	-append "console=ttyS0,115200 panic=-1 mitigations=off nokaslr")
if [ "$numa" = 1 ]; then
	# Split the memory and the vCPUs over two nodes.
	mb="$(numfmt --from=iec "${mem^^}")" || die "cannot parse --mem $mem"
	mb=$((mb / 1048576 / 2))
	[ $((mb * 2)) -eq $(($(numfmt --from=iec "${mem^^}") / 1048576)) ] ||
		die "--numa needs a memory size that halves into whole MiB"
	half=$((cpus / 2))
	qemu+=(-object "memory-backend-ram,id=m0,size=${mb}M" -object "memory-backend-ram,id=m1,size=${mb}M"
		-numa "node,nodeid=0,memdev=m0,cpus=0-$((half - 1))"
		-numa "node,nodeid=1,memdev=m1,cpus=$half-$((cpus - 1))")
fi

if [ "$shell" = 1 ]; then
	log "vm: interactive shell (Ctrl-A X quits QEMU); kernel log also in $console"
	exec "${qemu[@]}" -display none -serial mon:stdio -serial "file:$result"
fi

log "vm: booting $(cat "$kdir/.batch_unmap-kernel" 2>/dev/null | cut -d' ' -f1 || echo kernel) with $cpus vCPUs, $mem$([ "$numa" = 1 ] && echo ", 2 NUMA nodes"), TCG, timeout ${timeout}s"
timeout "$timeout" "${qemu[@]}" -display none -monitor none \
	-serial "file:$console" -serial "file:$result" &
qpid=$!
tail -n +1 -f --pid="$qpid" "$result" 2>/dev/null | grep --line-buffered -v '^BATCH_UNMAP_VM_EXIT=' &
tpid=$!
qrc=0
wait "$qpid" || qrc=$?
wait "$tpid" 2>/dev/null || true

# --- verdict ----------------------------------------------------------------
rc="$(sed -n 's/^BATCH_UNMAP_VM_EXIT=\([0-9]*\).*/\1/p' "$result" | tail -n 1)"
pattern='-+\[ cut here \]-+|WARNING: |BUG: |kernel BUG at|Oops|general protection fault|Kernel panic|Call Trace:|UBSAN:|KASAN:|refcount_t:|list_(add|del) corruption|hung_task'
[ "$allow_warn" = 1 ] && pattern='BUG: |kernel BUG at|Oops|general protection fault|Kernel panic|UBSAN:|KASAN:|list_(add|del) corruption'
kernel_bad=0
rm -f "$out/kernel-problem"
if grep -Eq -e "$pattern" "$console"; then
	kernel_bad=1
	touch "$out/kernel-problem"
	line="$(grep -En -e "$pattern" "$console" | head -n 1 | cut -d: -f1)"
	warn "vm: the kernel reported a problem (console log: $console):"
	sed -n "$((line > 10 ? line - 10 : 1)),$((line + 50))p" "$console" >&2
fi
if [ "$qrc" = 124 ]; then
	warn "vm: timed out after ${timeout}s; last console lines:"
	tail -n 30 "$console" >&2
	exit 124
fi
if [ -z "$rc" ]; then
	warn "vm: the guest did not report an exit status (qemu exit $qrc); last console lines:"
	tail -n 40 "$console" >&2
	exit 1
fi
if [ "$kernel_bad" = 1 ]; then
	[ "$rc" = 0 ] && rc=1
	warn "vm: failing the run because of the kernel problem above"
fi
exit "$rc"
