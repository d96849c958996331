#!/usr/bin/env bash
# Host unit tests (built by `make host-tests`, with ASan and UBSan).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
t="$top/build/host/test_unmapstat_fmt"
if [ ! -x "$t" ]; then
	echo "not ok - unmapstat_fmt unit tests (not built: run make host-tests)"
	exit 0
fi
# The binary prints its own ok/not ok lines; a crash or sanitizer report
# makes it exit non-zero without a final failure line.
"$t" || echo "not ok - unmapstat_fmt unit tests exited with status $?"
