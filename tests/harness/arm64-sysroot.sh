#!/usr/bin/env bash
# usage: tests/harness/arm64-sysroot.sh [--dir]
#
# Unpack the arm64 builds of the Debian packages ARCH=arm64 needs (once),
# and print the directory:
#   - for cross-linking the tools statically: libbpf-dev, libelf-dev,
#     zlib1g-dev, libjemalloc-dev (their .a files and headers);
#   - for the arm64 guest: busybox-static, and bpftool and jq with the
#     shared libraries and dynamic loader they need.
# --dir only prints the directory.  It is in the kernel cache
# ($BATCH_UNMAP_CACHE, else ~/.cache/batch_unmap), not in the clone, where
# kbuild's clean of the module would delete its .a files.
# The packages are downloaded with `apt-get download` and unpacked with
# dpkg-deb -x: nothing is installed on the host for arm64.  Needs arm64 in
# dpkg's foreign architectures (added, as root, with an apt-get update).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"

# Bump when the list changes: an older unpack is then redone.
PKGS_VERSION=1
cache_root="${BATCH_UNMAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/batch_unmap}"
dir="$cache_root/arm64-sysroot"
case "${1:-}" in
--dir) echo "$dir"; exit 0 ;;
"") ;;
*) die "usage: $0 [--dir]" ;;
esac
pkgs=(busybox-static libbpf-dev libbpf1 libelf-dev libelf1 zlib1g-dev zlib1g
	libjemalloc-dev libjemalloc2 bpftool jq libjq1 libonig5 libcap2 libc6)

if [ "$(cat "$dir/.complete" 2>/dev/null)" = "$PKGS_VERSION" ]; then
	echo "$dir"
	exit 0
fi

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	[ "$(id -u)" = 0 ] ||
		die "ARCH=arm64 needs Debian's arm64 packages: dpkg --add-architecture arm64 && apt-get update (as root)"
	log "adding arm64 to dpkg's foreign architectures (for apt-get download)"
	dpkg --add-architecture arm64
	apt-get update -q >/dev/null || die "apt-get update failed after adding arm64"
fi

rm -rf "$dir"
mkdir -p "$dir/debs"
log "downloading the arm64 packages: ${pkgs[*]}"
if ! (cd "$dir/debs" && apt-get download -q "${pkgs[@]/%/:arm64}" >download.log 2>&1); then
	[ "$(id -u)" = 0 ] && apt-get update -q >/dev/null 2>&1 &&
		(cd "$dir/debs" && apt-get download -q "${pkgs[@]/%/:arm64}" >download.log 2>&1) ||
		die "cannot download the arm64 packages (see $dir/debs/download.log)"
fi
for deb in "$dir"/debs/*.deb; do
	dpkg-deb -x "$deb" "$dir" || die "cannot unpack $deb"
done
rm -rf "$dir/debs"
echo "$PKGS_VERSION" >"$dir/.complete"
echo "$dir"
