# shellcheck shell=sh
# Helpers for scripts that run inside the test VM (busybox sh); installed
# as /vm/guest-lib.sh and sourced.

# rmmod, once: the hook holds no module reference per call, so rmmod
# succeeds at the first try even while reclaim runs (t_stress checks it).
unload() {	# unload <module>
	[ -d "/sys/module/$1" ] || return 0
	rmmod "$1"
}
