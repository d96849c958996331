#!/usr/bin/env bash
# make kernel-deb: Debian packages (linux-image, linux-headers) of Debian's
# linux-source-6.12 with kernel/patches applied, for real test machines.
#
#   kernel/deb.sh [--config running|debian|FILE] [--configure-only]
#
# --config   the base configuration: "running" (/boot/config-$(uname -r),
#            the default when it exists), "debian" (Debian's own amd64
#            config, from its linux-headers package) or a config file.
# --configure-only
#            unpack, patch and configure, check the result, and stop (what
#            CI runs: with a distribution config the build takes hours on
#            2 cores; with the test VM's small config about 8 minutes).
#
# On top of the base: LOCALVERSION "-batch-unmap" (uname -r then says which
# kernel this is), the options the module, unmapstat and make bench need,
# and no Debian signing certificates (which only Debian's build has).
# Output: build/kernel-deb/*.deb (OUT=... to change), build log beside it.
# Environment: OUT, JOBS (make -j, default nproc + 1).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(dirname "$here")"
# shellcheck source=../tests/harness/lib.sh
. "$top/tests/harness/lib.sh"

SRC_PKG=linux-source-6.12
SRC_TAR=/usr/src/linux-source-6.12.tar.xz
LOCALVERSION=-batch-unmap
# Options that must be on in the result: the hook's users need them.
REQUIRED=(MMU MODULES MODULE_UNLOAD TRANSPARENT_HUGEPAGE ADVISE_SYSCALLS SWAP DEBUG_FS
	KPROBES BPF_SYSCALL BPF_JIT DEBUG_INFO_BTF FUNCTION_TRACER DYNAMIC_FTRACE
	KPROBE_EVENTS MEMCG VM_EVENT_COUNTERS)

usage() { die "usage: $0 [--config running|debian|FILE] [--configure-only]"; }

config=""
configure_only=0
while [ $# -gt 0 ]; do
	case "$1" in
	--config) [ $# -ge 2 ] || usage; config="$2"; shift 2 ;;
	--configure-only) configure_only=1; shift ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) usage ;;
	esac
done
if [ -z "$config" ]; then
	config=debian
	[ -r "/boot/config-$(uname -r)" ] && config=running
fi
case "$config" in
running)
	base="/boot/config-$(uname -r)"
	[ -r "$base" ] || die "no $base to start from: use --config debian or --config FILE" ;;
debian) base="" ;;
*)
	base="$config"
	[ -r "$base" ] || die "cannot read the config file '$base'"
	grep -q '^CONFIG_' "$base" || die "'$base' does not look like a kernel config" ;;
esac

ensure_packages flex bison bc xz-utils make gcc "$SRC_PKG"
# What the package build needs on top (not for --configure-only).
[ "$configure_only" = 1 ] ||
	ensure_packages libelf-dev libssl-dev dwarves cpio rsync kmod python3 dpkg-dev debhelper
[ -f "$SRC_TAR" ] || die "$SRC_TAR is missing although $SRC_PKG is installed"
if [ "$config" = debian ]; then
	read -r hver hdir < <("$here/stock-headers.sh") || die "cannot get Debian's config"
	base="$hdir/.config"
	log "kernel-deb: base config: Debian's $hver amd64"
else
	log "kernel-deb: base config: $base"
fi

out="${OUT:-$top/build/kernel-deb}"
src="$out/linux-source-6.12"
blog="$out/build.log"
mkdir -p "$out"
rm -rf "$src"
: >"$blog"
log "kernel-deb: unpacking $SRC_TAR into $out"
tar -C "$out" -xJf "$SRC_TAR"
src_version="$(dpkg-query -W -f='${Version}' "$SRC_PKG")"
for p in "$here"/patches/*.patch; do
	log "kernel-deb: applying $(basename "$p")"
	patch -d "$src" -p1 --fuzz=0 --no-backup-if-mismatch -s <"$p" ||
		die "patch $(basename "$p") does not apply to $SRC_PKG $src_version without fuzz"
done

log "kernel-deb: configuring"
cp "$base" "$src/.config"
cfg=("$src/scripts/config" --file "$src/.config")
"${cfg[@]}" --set-str LOCALVERSION "$LOCALVERSION" --disable LOCALVERSION_AUTO \
	--set-str SYSTEM_TRUSTED_KEYS "" --set-str SYSTEM_REVOCATION_KEYS "" \
	--disable MODULE_SIG_ALL --disable PREEMPT_RT
for o in "${REQUIRED[@]}"; do
	"${cfg[@]}" --enable "$o"
done
make -C "$src" olddefconfig >>"$blog" 2>&1 || { tail -n 20 "$blog" >&2; die "olddefconfig failed"; }

bad=0
for o in "${REQUIRED[@]}"; do
	grep -qx "CONFIG_$o=y" "$src/.config" || { warn "CONFIG_$o is not =y after olddefconfig"; bad=1; }
done
grep -q '^CONFIG_PREEMPT_RT=y' "$src/.config" && { warn "CONFIG_PREEMPT_RT is on"; bad=1; }
[ -f "$src/include/linux/rmap_hook.h" ] || { warn "the hook header is missing"; bad=1; }
[ "$bad" = 0 ] || die "the configuration lacks what batch_unmap needs (see above)"
release="$(make -s -C "$src" kernelrelease)"
log "kernel-deb: configured Linux $release ($SRC_PKG $src_version + $(ls "$here"/patches/*.patch | wc -l) patches)"

if [ "$configure_only" = 1 ]; then
	echo "$src"
	exit 0
fi

jobs="${JOBS:-$(($(nproc) + 1))}"
log "kernel-deb: make bindeb-pkg -j$jobs (hours with a distribution config; log: $blog)"
start=$SECONDS
rc=0
make_progress kernel-deb 60 "$blog" -C "$src" -j"$jobs" bindeb-pkg || rc=$?
[ "$rc" = 0 ] || { tail -n 30 "$blog" >&2; die "the kernel package build failed (log: $blog)"; }
rm -rf "$src"
log "kernel-deb: built in $((SECONDS - start)) s:"
ls -1 "$out"/linux-*"$release"*.deb >&2 || true
cat >&2 <<EOF
Install and boot it:
  dpkg -i $out/linux-image-${release}_*.deb $out/linux-headers-${release}_*.deb
  reboot   # choose "Linux $release" in GRUB's advanced options if it is not the default
Then, on that kernel: make dkms-install, or make bench NATIVE=1.
EOF
