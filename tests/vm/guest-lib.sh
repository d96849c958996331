# shellcheck shell=sh
# Helpers for scripts that run inside the test VM (busybox sh); installed
# as /vm/guest-lib.sh and sourced.

# rmmod, retried: while reclaim is inside the module's hook the kernel holds a
# reference on it and rmmod fails for that instant.
unload() {	# unload <module>
	i=0
	while [ -d "/sys/module/$1" ] && [ $i -lt 100 ]; do
		rmmod "$1" 2>/dev/null && return 0
		i=$((i + 1))
		sleep 0.01
	done
	[ ! -d "/sys/module/$1" ]
}
