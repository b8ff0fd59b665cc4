#!/bin/sh
# init.sh — PID 1 of the ksmmod test guest (busybox sh, packed as /init).
#
# Mounts the pseudo filesystems, then runs every /tests/* in sort order.
# Each test's stdout+stderr goes to the console (ttyS0) and to /dev/ttyS1,
# the results channel, framed by "# suite <name> begin" / "# suite <name> exit=<code>".
# Tests print KTAP and exit 0 (pass), 1 (fail) or 4 (skip).
# Kernel cmdline:
#   ksmmod.tests=GLOB[,GLOB]   only run tests whose name matches one of the GLOBs (default *)
#   ksmmod.test_timeout=SECS   per-test timeout (default 300)
# Ends with "# ksmmod-guest: done" on ttyS1, sync, poweroff -f. Always powers off.

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/tmp

halt_now() {
	sync
	poweroff -f
	# poweroff should not return; if it does, exiting PID 1 panics and
	# panic=-1 + qemu -no-reboot ends the VM.
	exit 1
}
trap halt_now EXIT INT TERM

mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
# pseudo terminals (/dev/ptmx finds its pts/ beside it), for tmux in 68-watch
mkdir -p /dev/pts
grep -q " /dev/pts " /proc/mounts || mount -t devpts devpts /dev/pts 2>/dev/null || true
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run

# make sure our own output reaches the console even without an initial console
exec </dev/null >/dev/console 2>&1

RES=/dev/ttyS1
if [ ! -c "$RES" ]; then
	echo "ksmmod-guest: $RES missing, results go to console only"
	RES=/dev/console
else
	# raw output: no \n -> \r\n translation on the results channel
	stty -F "$RES" raw -echo -opost 2>/dev/null || true
	# Keep the port open for the whole run: the last close of a serial
	# port may discard output the slow (TCG) UART has not sent yet.
	exec 3>>"$RES"
fi

TESTS_GLOB='*'
TIMEOUT=300
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	ksmmod.tests=*) TESTS_GLOB=${arg#ksmmod.tests=} ;;
	ksmmod.test_timeout=*) TIMEOUT=${arg#ksmmod.test_timeout=} ;;
	esac
done

echo "=================================================="
echo "ksmmod-guest: kernel $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ {print $2, $3}' /proc/meminfo)"
echo "ksmmod-guest: tests='$TESTS_GLOB' timeout=${TIMEOUT}s"
echo "=================================================="
echo "# ksmmod-guest: kernel $(uname -r)" >>"$RES"

# Debug kernels: forget what kmemleak suspects from boot, so that 99-kmemleak
# reports only objects leaked while the tests ran.
[ -w /sys/kernel/debug/kmemleak ] && echo clear >/sys/kernel/debug/kmemleak

FIFO=/tmp/.test-out
for t in $(ls /tests 2>/dev/null | sort); do
	path=/tests/$t
	[ -f "$path" ] && [ -x "$path" ] || continue
	# split the list at commas, without expanding the globs against /
	want=""
	oldifs=$IFS
	IFS=,
	set -f
	for g in $TESTS_GLOB; do
		# shellcheck disable=SC2254 # the glob is intended
		case "$t" in $g) want=1 ;; esac
	done
	set +f
	IFS=$oldifs
	[ -n "$want" ] || continue

	echo "# suite $t begin" >>"$RES"
	t0=$(cut -d. -f1 /proc/uptime)
	echo "ksmmod-guest: running $t"
	rm -f "$FIFO"
	mkfifo "$FIFO"
	tee -a "$RES" <"$FIFO" >/dev/console &
	teepid=$!
	( cd /tmp && exec timeout -s TERM -k 10 "$TIMEOUT" "$path" ) </dev/null >"$FIFO" 2>&1
	rc=$?
	# a leftover child of the test may still hold the fifo open: give tee 5 s
	n=0
	while kill -0 "$teepid" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
	kill "$teepid" 2>/dev/null
	wait "$teepid" 2>/dev/null
	rm -f "$FIFO"
	# busybox timeout reports a timeout as 128+signal (143/137)
	case "$rc" in 124|137|143) echo "# suite $t timeout after ${TIMEOUT}s (rc=$rc)" >>"$RES" ;; esac
	echo "# suite $t exit=$rc" >>"$RES"
	# how close a suite comes to the timeout (ktap-summary.sh prints it)
	echo "# suite $t seconds=$(($(cut -d. -f1 /proc/uptime) - t0))" >>"$RES"
	echo "ksmmod-guest: $t exit=$rc"
done

echo "# ksmmod-guest: done" >>"$RES"
echo "ksmmod-guest: done, powering off"
halt_now
