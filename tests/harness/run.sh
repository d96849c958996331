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
#                      lazyfree-bench, file-bench, jemalloc-bench and the
#                      VM tests in /vm/bin, and
#                      bpftool and jq
#   --bin PATH         put a host program (dynamically linked, e.g. bpftool or
#                      jq) into /usr/bin with the libraries it needs
#   --cpus N           vCPUs (default $VM_CPUS or 2)
#   --mem SIZE         memory, QEMU syntax (default $VM_MEM or 2G)
#   (VM_TCG_THREAD=single runs all vCPUs in one host thread: a diagnosis
#   aid for multi-threaded TCG effects, e.g. cross-vCPU code patching;
#   VM_ACCEL=auto|kvm|tcg: auto, the default, uses KVM when /dev/kvm boots
#   a guest in a short probe, remembered per host boot, else TCG)
#   --numa             two NUMA nodes, one vCPU and half the memory each
#   --timeout SEC      kill the VM after SEC seconds (default $VM_TIMEOUT or 900)
#   --kernel DIR       kernel build directory (default: kernel/build.sh)
#   --out DIR          where console.log and out.log go (default build/vm)
#   --shell            interactive shell on the console instead of a command
#   --allow-warn       do not fail on WARN splats (for tests that expect one)
#   (ARCH=arm64: an arm64 guest from `ARCH=arm64 kernel/build.sh` on
#   qemu-system-aarch64 -M virt -cpu max, TCG, with Debian's arm64
#   busybox, bpftool and jq (tests/harness/arm64-sysroot.sh unpacks them
#   into the kernel cache); --project takes build/arm64/;
#   --bin names a program of that sysroot, e.g. bpftool)
#   --no-disk          no virtio disks (by default two are made afresh for
#                      every boot: XFS on /dev/vda mounted at /mnt/xfs, the
#                      file-folio tests' filesystem, and ext4 on /dev/vdb at
#                      /mnt/ext4, the control without large folios; their
#                      sizes: $VM_XFS_SIZE, default 1G, $VM_EXT4_SIZE, 256M)
#
# The kernel console goes to DIR/console.log; the command's output goes to
# the terminal and DIR/out.log.  An oops, BUG, WARN or panic on the console,
# or a timeout, fails the run (exit 1 or 124) and prints the console log
# around it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/../.." && pwd)"
. "$here/lib.sh"

cpus="${VM_CPUS:-2}"
mem="${VM_MEM:-2G}"
tcg_thread="${VM_TCG_THREAD:-multi}"
case "$tcg_thread" in multi|single) ;; *) die "VM_TCG_THREAD must be multi or single" ;; esac
accel="${VM_ACCEL:-auto}"
arch="${ARCH:-x86_64}"
case "$arch" in
x86|x86_64) arch=x86_64 ;;
arm64|aarch64) arch=arm64 accel=tcg ;;	# cross-architecture: TCG only
*) die "ARCH must be x86_64 or arm64, not '$arch'" ;;
esac
case "$accel" in auto|kvm|tcg) ;; *) die "VM_ACCEL must be auto, kvm or tcg, not '$accel'" ;; esac
timeout="${VM_TIMEOUT:-900}"
numa=0 shell=0 allow_warn=0 project=0 disk=1
kdir="" out="$top/build/vm" cmd=""
files=()
bins=()

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0" >&2; exit 2; }
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
	--no-disk) disk=0; shift ;;
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

if [ "$arch" = arm64 ]; then
	ensure_packages qemu-system-arm busybox-static cpio
else
	ensure_packages qemu-system-x86 busybox-static cpio
fi
[ "$disk" = 1 ] && ensure_packages xfsprogs e2fsprogs
# The project's build for this architecture (the Makefile's BUILD).
if [ "$arch" = arm64 ]; then
	bdir=build/arm64
else
	bdir=build
fi
if [ "$project" = 1 ]; then
	for f in module/batch_unmap.ko $bdir/bin/unmapstat $bdir/bin/lazyfree-bench \
		$bdir/bin/file-bench $bdir/bin/jemalloc-bench; do
		[ -f "$top/$f" ] || die "--project: $f is not built; run make$([ "$arch" = arm64 ] && echo " ARCH=arm64") first"
	done
	# A module built for the other architecture would not load.
	case "$(readelf -h "$top/module/batch_unmap.ko" | sed -n 's/^ *Machine: *//p')" in
	AArch64) [ "$arch" = arm64 ] ;;
	*X86-64) [ "$arch" = x86_64 ] ;;
	*) false ;;
	esac || die "--project: module/batch_unmap.ko was not built for $arch; run make$([ "$arch" = arm64 ] && echo " ARCH=arm64") first"
	files+=("$top/module/batch_unmap.ko:batch_unmap.ko"
		"$top/tests/vm/guest-lib.sh:guest-lib.sh"
		"$top/tests/vm/guest-tests.sh:guest-tests.sh"
		"$top/$bdir/bin/unmapstat" "$top/$bdir/bin/lazyfree-bench"
		"$top/$bdir/bin/file-bench" "$top/$bdir/bin/jemalloc-bench")
	[ -f "$top/module/batch_unmap_kunit.ko" ] &&
		files+=("$top/module/batch_unmap_kunit.ko:batch_unmap_kunit.ko")
	[ -f "$top/tests/vm/kmod/bu_test_delay.ko" ] &&
		files+=("$top/tests/vm/kmod/bu_test_delay.ko:bu_test_delay.ko")
	for t in "$top/$bdir"/vm/tests/t_* "$top"/tests/vm/t_*.sh; do
		[ -e "$t" ] && files+=("$t")
	done
	bins+=(bpftool jq)
fi
if [ "$arch" = arm64 ]; then
	sysroot="$("$here/arm64-sysroot.sh")"
fi
if [ -z "$kdir" ]; then
	kdir="$("$top/kernel/build.sh")"
fi
if [ "$arch" = arm64 ]; then
	bz="$kdir/arch/arm64/boot/Image"
else
	bz="$kdir/arch/x86/boot/bzImage"
fi
[ -f "$bz" ] || die "no kernel image at $bz (ARCH=$arch)"

# --- initramfs --------------------------------------------------------------
mkdir -p "$out"
root="$out/root"
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,root,etc,vm/bin}
if [ "$arch" = arm64 ]; then
	# Debian's static arm64 busybox, from the arm64 packages' sysroot.
	cp "$sysroot/bin/busybox" "$root/bin/busybox"
else
	cp /bin/busybox "$root/bin/busybox"
fi
# The host's busybox names the applets (the same Debian version for both).
applets="$(/bin/busybox --list-full)"
for applet in $applets; do
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
# arm64_libs FILE: the arm64 loader and the libraries FILE needs, with what
# they need, from the sysroot into the guest's multiarch directory (where
# Debian's loader looks without an ld.so.cache).
arm64_libs() {
	local lib path d
	[ -e "$root/lib/ld-linux-aarch64.so.1" ] ||
		install -D -m 0755 "$(readlink -f "$sysroot/lib/ld-linux-aarch64.so.1")" \
			"$root/lib/ld-linux-aarch64.so.1"
	for lib in $(readelf -d "$1" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
		[ -e "$root/lib/aarch64-linux-gnu/$lib" ] && continue
		path=""
		for d in lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu; do
			[ -e "$sysroot/$d/$lib" ] && path="$sysroot/$d/$lib" && break
		done
		[ -n "$path" ] || die "$(basename "$1") needs $lib, which is not in $sysroot"
		install -D -m 0755 "$(readlink -f "$path")" "$root/lib/aarch64-linux-gnu/$lib"
		arm64_libs "$path"
	done
}
for b in "${bins[@]}"; do
	if [ "$arch" = arm64 ]; then
		src=""
		for d in usr/sbin usr/bin sbin bin; do
			[ -x "$sysroot/$d/$b" ] && src="$sysroot/$d/$b" && break
		done
		[ -n "$src" ] || die "--bin $b: not in the arm64 sysroot $sysroot"
		install -D -m 0755 "$src" "$root/usr/bin/$b"
		arm64_libs "$src"
		continue
	fi
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
# KVM if it works.  A broken /dev/kvm (e.g. a nested or paravirtual one)
# can hang a guest instead of failing, so probe with a short boot first:
# the kernel without an initramfs panics at once and, with panic=-1 and
# -no-reboot, QEMU exits.  The verdict is kept for this host boot.
kvm_probe() {	# kvm_probe: 0 if KVM boots the kernel; else prints why
	local key cache="$out/kvm-probe" plog="$out/kvm-probe.log"
	[ -e /dev/kvm ] || { echo "no /dev/kvm"; return 1; }
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "/dev/kvm is not accessible to $(id -un)"; return 1; }
	key="$(cat /proc/sys/kernel/random/boot_id 2>/dev/null) $(qemu-system-x86_64 --version | head -n 1)"
	if [ -f "$cache" ] && [ "$(head -n 1 "$cache")" = "$key" ]; then
		sed -n 2p "$cache"
		[ "$(sed -n 3p "$cache")" = ok ]
		return
	fi
	local rc=0 why
	timeout 20 qemu-system-x86_64 -accel kvm -cpu host -m 256M -smp 1 -kernel "$bz" \
		-no-reboot -nodefaults -display none -serial "file:$plog" \
		-append "console=ttyS0 panic=-1" >/dev/null 2>&1 || rc=$?
	if [ "$rc" = 124 ]; then
		why="a probe boot under KVM hung (20 s)"
	elif ! grep -q 'Kernel panic\|VFS' "$plog" 2>/dev/null; then
		why="a probe boot under KVM failed (qemu exit $rc)"
	fi
	{ echo "$key"; echo "${why:-KVM works}"; [ -z "${why:-}" ] && echo ok || echo bad; } >"$cache"
	echo "${why:-KVM works}"
	[ -z "${why:-}" ]
}
accel_desc=TCG
qaccel=(-accel "tcg,thread=$tcg_thread" -cpu max)
if [ "$accel" != tcg ]; then
	if why="$(kvm_probe)"; then
		accel_desc=KVM
		qaccel=(-accel kvm -cpu host)
	elif [ "$accel" = kvm ]; then
		die "VM_ACCEL=kvm, but $why"
	else
		log "vm: TCG, not KVM: $why (VM_ACCEL=tcg skips the probe)"
	fi
fi
console="$out/console.log"
result="$out/out.log"
: >"$console"
: >"$result"
smp="$cpus"
# One socket per node: CPUs sharing a last-level cache across nodes make
# the kernel warn about the topology.
[ "$numa" = 1 ] && smp="$cpus,sockets=2,cores=$((cpus / 2)),threads=1"
[ "$numa" = 1 ] && [ $((cpus % 2)) != 0 ] && die "--numa needs an even number of vCPUs"
if [ "$arch" = arm64 ]; then
	# One UART on "virt" (the console): the result goes to a virtio console.
	qemu=(qemu-system-aarch64 -M virt -accel "tcg,thread=$tcg_thread" -cpu max
		-m "$mem" -smp "$smp" -kernel "$bz" -initrd "$out/initramfs.cpio"
		-no-reboot -nodefaults -device virtio-serial-pci
		-chardev "file,id=result,path=$result" -device virtconsole,chardev=result
		-append "console=ttyAMA0 panic=-1 nokaslr")
else
	qemu=(qemu-system-x86_64 "${qaccel[@]}" -m "$mem" -smp "$smp"
		-kernel "$bz" -initrd "$out/initramfs.cpio" -no-reboot -nodefaults
		-append "console=ttyS0,115200 panic=-1 mitigations=off nokaslr")
fi
if [ "$disk" = 1 ]; then
	# Fresh filesystems for every boot: no state leaks from run to run.
	xfs_size="${VM_XFS_SIZE:-1G}" ext4_size="${VM_EXT4_SIZE:-256M}"
	rm -f "$out/xfs.img" "$out/ext4.img"
	truncate -s "$xfs_size" "$out/xfs.img" || die "VM_XFS_SIZE=$xfs_size: not a size"
	truncate -s "$ext4_size" "$out/ext4.img" || die "VM_EXT4_SIZE=$ext4_size: not a size"
	mkfs.xfs -q -f -L bu-xfs "$out/xfs.img" >/dev/null ||
		die "mkfs.xfs failed on $out/xfs.img (size $xfs_size; XFS needs at least 300M)"
	mkfs.ext4 -q -F -L bu-ext4 "$out/ext4.img" >/dev/null ||
		die "mkfs.ext4 failed on $out/ext4.img (size $ext4_size)"
	for img in xfs ext4; do
		qemu+=(-drive "file=$out/$img.img,if=virtio,format=raw,cache=unsafe")
	done
fi
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
	if [ "$arch" = arm64 ]; then
		exec "${qemu[@]}" -display none -serial mon:stdio
	fi
	exec "${qemu[@]}" -display none -serial mon:stdio -serial "file:$result"
fi

log "vm: booting $(cat "$kdir/.batch_unmap-kernel" 2>/dev/null | cut -d' ' -f1 || echo kernel) with $cpus vCPUs, $mem$([ "$numa" = 1 ] && echo ", 2 NUMA nodes"), $accel_desc, timeout ${timeout}s"
timeout "$timeout" "${qemu[@]}" -display none -monitor none \
	-serial "file:$console" $([ "$arch" = arm64 ] || echo "-serial file:$result") &
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
