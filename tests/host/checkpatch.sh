#!/usr/bin/env bash
# checkpatch.pl --strict (from the kernel tree we build against) on every
# module source (and test helper module) and on every kernel patch, the
# ref kernel's too: one TAP result per file.
# Known, justified exceptions are listed in IGNORE with the reason.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/../.." && pwd)"

# --no-tree: out-of-tree module; SPDX_LICENSE_TAG: the checker needs python
# ply, which is not a dependency of ours (the tags are still checked for
# presence by checkpatch's other rules); FILE_PATH_CHANGES: patches add a
# file and update MAINTAINERS, checkpatch asks anyway.
IGNORE="SPDX_LICENSE_TAG,FILE_PATH_CHANGES"

kdir="$("$top/kernel/build.sh" --dir)" || {
	echo "not ok - checkpatch (the kernel is not built: run make kernel)"
	exit 0
}
cp="$kdir/scripts/checkpatch.pl"
fail=0
run() {	# run <name> <checkpatch args...>
	local name="$1" out
	shift
	if out="$(perl "$cp" --strict --no-tree --quiet --show-types --ignore "$IGNORE" "$@" 2>&1)" &&
		! grep -qE '^(WARNING|ERROR|CHECK)' <<<"$out"; then
		echo "ok - checkpatch_strict $name"
	else
		sed 's/^/# /' <<<"$out"
		echo "not ok - checkpatch_strict $name"
		fail=1
	fi
}

for f in "$top"/module/*.[ch]; do
	case "$f" in *.mod.c) continue ;; esac
	run "module/$(basename "$f")" -f "$f"
done
for f in "$top"/tests/vm/kmod/*.c; do
	case "$f" in *.mod.c) continue ;; esac
	run "tests/vm/kmod/$(basename "$f")" -f "$f"
done
# The patches cite upstream commits (patch 2 and the backport), which this
# checkout's git (the one checkpatch asks) does not have: UNKNOWN_COMMIT_ID
# only says that.  The citation's form (GIT_COMMIT_ID) is still checked.
for p in "$top"/kernel/patches/*.patch; do
	IGNORE="$IGNORE,UNKNOWN_COMMIT_ID" run "kernel/patches/$(basename "$p")" "$p"
done
for p in "$top"/kernel/ref/*.patch; do
	IGNORE="$IGNORE,UNKNOWN_COMMIT_ID" run "kernel/ref/$(basename "$p")" "$p"
done
exit 0
