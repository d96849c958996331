# shellcheck shell=bash
# Helpers shared by the project's shell scripts (sourced, not run).

log() { printf '%s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# make_progress TAG SECS LOG ARGS...: make ARGS with its output appended to
# LOG, logging "TAG: ... N s, M build steps done" every SECS seconds while
# it runs; returns make's exit status.
make_progress() {
	local tag="$1" every="$2" blog="$3" start=$SECONDS mpid rc=0
	shift 3
	make "$@" >>"$blog" 2>&1 &
	mpid=$!
	while kill -0 "$mpid" 2>/dev/null; do
		sleep "$every"
		kill -0 "$mpid" 2>/dev/null || break
		log "$tag: ... $((SECONDS - start)) s, $(grep -c '^  [A-Z]' "$blog") build steps done"
	done
	wait "$mpid" || rc=$?
	return "$rc"
}

# ensure_packages PKG...: install the Debian packages that are missing when
# running as root; otherwise fail with the exact command to run.
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	[ "${#missing[@]}" = 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		die "missing packages; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
	fi
	log "installing missing packages: ${missing[*]}"
	# A fresh machine's package lists can be empty or stale: update once.
	if [ -z "${_BATCH_UNMAP_APT_UPDATED:-}" ]; then
		apt-get update -q >&2 || warn "apt-get update reported errors; trying the install anyway"
		_BATCH_UNMAP_APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
}

# A benchmark's guest script in the test VM (make bench, WORKLOAD=jemalloc,
# bench-profile): its output goes to OUT/raw.log, its '#' lines to the
# terminal as they come; fail unless the VM exits 0 and the log has the
# script's closing marker.
guest_script_run() {	# guest_script_run <what> <marker> <timeout> <kdir> <out> <src:name> <command>
	local what="$1" marker="$2" timeout="$3" kdir="$4" out="$5" file="$6" cmd="$7" rc=0
	VM_TIMEOUT="${VM_TIMEOUT:-$timeout}" "$(dirname "${BASH_SOURCE[0]}")/run.sh" --kernel "$kdir" \
		--out "$out/vm" --project --file "$file" -- "$cmd" |
		tee "$out/raw.log" | { grep --line-buffered '^#' || true; } || rc=$?
	[ "$rc" = 0 ] || die "the $what VM failed (exit $rc; see $out/raw.log and $out/vm/console.log)"
	grep -q "^$marker" "$out/raw.log" || die "the $what did not finish (see $out/raw.log)"
}
