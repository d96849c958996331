#!/usr/bin/env bash
# Build (or reuse) the patched guest kernel.
#
#   kernel/build.sh            build if needed, print the build directory
#   kernel/build.sh --dir      print the build directory the inputs map to
#                              (exit 1 if it is not built yet)
#   kernel/build.sh --key      print the cache key only
#
# The build is cached by content: the linux-source-6.12 package version, the
# patches in kernel/patches/, the config fragment and this recipe.  The cache
# lives outside the clone in $BATCH_UNMAP_CACHE (default:
# ${XDG_CACHE_HOME:-~/.cache}/batch_unmap), so CI runs and later sessions on
# the same machine reuse it.  Environment:
#   BATCH_UNMAP_CACHE  cache root
#   KERNEL_FLAVOR      "" (default), "debug": also merges kernel/debug.config,
#                      or "ref": also applies kernel/ref/*.patch (upstream's
#                      lazyfree batching backported in-kernel, switched off
#                      at boot; the benchmark's reference)
#   ARCH               x86_64 (default) or arm64: a cross-built arm64 guest
#                      kernel (gcc-aarch64-linux-gnu; kernel/arm64.config on
#                      top of guest.config without its x86-only lines),
#                      cached apart (kernel-arm64-<key>)
#   JOBS               make -j (default: nproc + 1)
#   V=1                show the kernel build's own output
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(dirname "$here")"
# shellcheck source=../tests/harness/lib.sh
. "$top/tests/harness/lib.sh"

# Bump when the recipe below changes in a way that changes the output.
RECIPE=3
SRC_PKG=linux-source-6.12
SRC_TAR=/usr/src/linux-source-6.12.tar.xz
flavor="${KERNEL_FLAVOR:-}"
fragments=("$here/guest.config")
patches=("$here"/patches/*.patch)
case "$flavor" in
"") ;;
debug) fragments+=("$here/debug.config") ;;
ref) patches+=("$here"/ref/*.patch) ;;
*) die "unknown KERNEL_FLAVOR '$flavor' (use '', 'debug' or 'ref')" ;;
esac

cache_root="${BATCH_UNMAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/batch_unmap}"

# The architecture: x86_64 natively, arm64 cross-built.
arch="${ARCH:-x86_64}"
case "$arch" in
x86_64|x86) arch=x86_64 karch=x86 image=arch/x86/boot/bzImage target=bzImage cross="" ;;
arm64|aarch64)
	arch=arm64 karch=arm64 image=arch/arm64/boot/Image target=Image
	cross=aarch64-linux-gnu-
	# guest.config's x86-only options; the rest applies to arm64 too.
	x86_only='^CONFIG_(X86_[A-Z0-9_]*|HYPERVISOR_GUEST|PARAVIRT|SERIAL_8250[A-Z_]*|ACPI|NUMA|NUMA_BALANCING|UNWINDER_ORC|KERNEL_GZIP|CPU_MITIGATIONS|MEM_SOFT_DIRTY)='
	arm_frag="$(mktemp)"
	trap 'rm -f "$arm_frag"' EXIT
	grep -Ev "$x86_only" "$here/guest.config" >"$arm_frag"
	fragments=("$arm_frag" "$here/arm64.config" "${fragments[@]:1}")
	;;
*) die "unknown ARCH '$arch' (use x86_64 or arm64)" ;;
esac

# --dir only looks: without the source package nothing can be cached.
if [ "${1:-}" = --dir ]; then
	dpkg-query -W -f='${Status}' "$SRC_PKG" 2>/dev/null | grep -q 'ok installed' || exit 1
else
	ensure_packages flex bison bc libelf-dev libssl-dev dwarves cpio xz-utils \
		make gcc "$SRC_PKG" ${cross:+gcc-aarch64-linux-gnu}
	[ -f "$SRC_TAR" ] || die "$SRC_TAR is missing although $SRC_PKG is installed"
fi

src_version="$(dpkg-query -W -f='${Version}' "$SRC_PKG")"

cache_key() {
	{
		echo "recipe $RECIPE flavor ${flavor:-default}"
		# Only for arm64: the x86 keys (and caches) stay as they were.
		[ "$arch" = x86_64 ] || echo "arch $arch"
		echo "source $SRC_PKG $src_version"
		cat "${patches[@]}"
		cat "${fragments[@]}"
	} | sha256sum | cut -c1-16
}

key="$(cache_key)"
kprefix="kernel-$([ "$arch" = x86_64 ] || echo "$arch-")${flavor:+$flavor-}"
dir="$cache_root/$kprefix$key"

case "${1:-}" in
--key) echo "$key"; exit 0 ;;
--dir)
	[ -f "$dir/.complete" ] || exit 1
	echo "$dir/build"; exit 0 ;;
"") ;;
*) die "usage: $0 [--dir|--key]" ;;
esac

if [ -f "$dir/.complete" ]; then
	log "kernel: reusing cached build $dir ($SRC_PKG $src_version)"
	echo "$dir/build"
	exit 0
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock-$key"
if ! flock -n 9; then
	log "kernel: another build of $key is running, waiting for it"
	flock 9
	if [ -f "$dir/.complete" ]; then
		echo "$dir/build"
		exit 0
	fi
fi

jobs="${JOBS:-$(($(nproc) + 1))}"
tmp="$dir.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"
blog="$tmp/build.log"
log "kernel: building $SRC_PKG $src_version + ${#fragments[@]} fragment(s), key $key"
log "kernel: cache $dir (log: $blog)"

start=$SECONDS
log "kernel: unpacking $SRC_TAR"
tar -C "$tmp" -xJf "$SRC_TAR"
mv "$tmp/linux-source-6.12" "$tmp/build"
b="$tmp/build"
export ARCH="$karch" CROSS_COMPILE="$cross"
kver="$(make -s -C "$b" kernelversion)"
log "kernel: source is Linux $kver (Debian package $src_version)"

for p in "${patches[@]}"; do
	log "kernel: applying ${p#"$here/"}"
	patch -d "$b" -p1 --fuzz=0 --no-backup-if-mismatch -s <"$p" ||
		die "patch $(basename "$p") does not apply to $SRC_PKG $src_version without fuzz"
done

log "kernel: configuring (tinyconfig + $(basename -a "${fragments[@]}" | tr '\n' ' '))"
{
	make -C "$b" tinyconfig
	"$b/scripts/kconfig/merge_config.sh" -m -O "$b" "$b/.config" "${fragments[@]}"
	make -C "$b" olddefconfig
} >>"$blog" 2>&1 || { tail -n 30 "$blog" >&2; die "kernel configuration failed"; }

# Every option the fragments ask for must have survived olddefconfig.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=n) opt="${line%=n}"
		if grep -q "^$opt=" "$b/.config"; then
			warn "config: $opt should be off but is $(grep "^$opt=" "$b/.config")"; bad=1
		fi ;;
	CONFIG_*=*)
		if ! grep -qx "$line" "$b/.config"; then
			warn "config: wanted $line, got: $(grep "^${line%%=*}=" "$b/.config" || echo 'not set')"; bad=1
		fi ;;
	esac
done < <(cat "${fragments[@]}")
[ "$bad" = 0 ] || die "the config fragment did not apply; fix kernel/*.config"

log "kernel: compiling $target and modules for $arch with -j$jobs (a few minutes; progress every 30 s)"
if [ "${V:-0}" = 1 ]; then
	make -C "$b" -j"$jobs" "$target" modules 2>&1 | tee -a "$blog"
	rc=${PIPESTATUS[0]}
else
	rc=0
	make_progress kernel 30 "$blog" -C "$b" -j"$jobs" "$target" modules || rc=$?
fi
if [ "$rc" != 0 ]; then
	grep -E 'error|Error' "$blog" | head -n 20 >&2 || true
	tail -n 20 "$blog" >&2
	die "kernel build failed (full log: $blog)"
fi
[ -f "$b/$image" ] && [ -f "$b/vmlinux" ] && [ -f "$b/Module.symvers" ] ||
	die "kernel build produced no $target/vmlinux/Module.symvers (log: $blog)"

# Keep what module builds, BTF and the VM need; drop the object files.
find "$b" -name '*.o' ! -path '*/scripts/*' ! -path '*/tools/*' -delete
echo "$kver $src_version $key $arch" >"$b/.batch_unmap-kernel"

rm -rf "$dir"
mv "$tmp" "$dir"
touch "$dir/.complete"

# Keep this build and the previous one of the same flavor (2 GB each).
prefix="$cache_root/$kprefix"
ls -1dt "$prefix"[0-9a-f]* 2>/dev/null | grep -E "/$kprefix[0-9a-f]{16}(\.tmp)?\$" |
	tail -n +3 | while read -r old; do
		log "kernel: pruning old cached build $old"
		rm -rf "$old"
	done
log "kernel: built Linux $kver in $((SECONDS - start)) s -> $dir/build"
echo "$dir/build"
