#!/usr/bin/env bash
# usage: tests/harness/ensure-packages.sh PKG...
# Install the Debian packages that are missing (as root), or print the
# apt-get command to run.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_packages "$@"
