#!/usr/bin/env bash
# Print "<version> <dir>": Debian's own (unpatched) linux-headers-6.12 for
# amd64, unpacked into the cache (not installed: installing them would pull
# in a linux-image).  Used for Debian's kernel config (kernel/deb.sh) and to
# check that the module names the missing hook on a stock kernel.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../tests/harness/lib.sh
. "$here/../tests/harness/lib.sh"

cache="${BATCH_UNMAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/batch_unmap}/stock-headers"
pkgver="$(apt-cache show linux-headers-6.12-amd64 2>/dev/null |
	sed -n 's/^Depends: linux-headers-\([^ ]*\)-amd64 .*/\1/p' | head -n 1)"
[ -n "$pkgver" ] || die "apt knows no linux-headers-6.12-amd64 (run apt-get update)"
root="$cache/$pkgver"
flavor="$root/usr/src/linux-headers-$pkgver-amd64"

if [ ! -f "$flavor/.unpacked" ]; then
	log "stock-headers: fetching Debian's linux-headers-$pkgver-amd64"
	rm -rf "$root" "$cache/debs.tmp"
	mkdir -p "$cache/debs.tmp"
	(cd "$cache/debs.tmp" && apt-get download -q -o APT::Sandbox::User=root "linux-headers-$pkgver-amd64" \
		"linux-headers-$pkgver-common" "linux-kbuild-$pkgver") >&2 ||
		die "apt-get download of linux-headers-$pkgver failed"
	for deb in "$cache"/debs.tmp/*.deb; do
		dpkg-deb -x "$deb" "$root" || die "cannot unpack $deb"
	done
	rm -rf "$cache/debs.tmp"
	# Its Makefile includes the common part by absolute path: re-point it.
	echo "include $root/usr/src/linux-headers-$pkgver-common/Makefile" >"$flavor/Makefile"
	touch "$flavor/.unpacked"
fi
echo "$pkgver $flavor"
