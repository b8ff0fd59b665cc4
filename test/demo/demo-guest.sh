#!/bin/sh
# demo-guest.sh — runs inside the `make demo` guest (as its only "test"): four
# copies of an unmodified python3 load the same 24 MiB data set (the file's
# bytes and the same values as an array of doubles: 48 MiB each), each started
# as systemd's MemoryKSM=yes starts a service (prctl(PR_SET_MEMORY_MERGE), then
# exec: drop-in mode hands it to ksmmod; `ksmmodctl run` before 6.4); then the scanner
# merges and a table shows the memory available and saved, second by second,
# until merging settles. Each copy then checks its data against the checksums
# it took when loading. Output goes to the results channel, which
# scripts/demo.sh prints on the host.
set -e
COPIES=4
say() { echo "guest\$ $*"; }
mem_avail() { awk '/^MemAvailable:/ { printf "%d", $2 / 1024 }' /proc/meminfo; }
knob() { cat "/sys/kernel/mm/ksmmod/$1"; }

# the python3 stdlib files the demo needs, packed by demo.sh under /pyroot
cp -a /pyroot/usr /

say uname -r
uname -r
say insmod /ksmmod.ko
insmod /ksmmod.ko
say ksmmodctl version
ksmmodctl version | head -n 1
say "dd if=/dev/urandom of=/tmp/data.bin bs=1M count=24   # the data set every copy loads"
dd if=/dev/urandom of=/tmp/data.bin bs=1M count=24 2>/dev/null
before=$(mem_avail)
say "grep MemAvailable /proc/meminfo"
echo "MemAvailable: $before MiB"
# As systemd's MemoryKSM=yes: prctl(PR_SET_MEMORY_MERGE), then exec; drop-in mode
# hands that to ksmmod. Kernels before 6.4 have no such prctl: ksmmodctl run.
if /merge-exec /bin/true 2>/dev/null; then
	launch="/merge-exec" shown="merge-exec"
else
	launch="ksmmodctl run --" shown="ksmmodctl run --"
fi
for i in $(seq "$COPIES"); do
	say "$shown python3 demo-load.py /tmp/data.bin &"
	$launch /usr/bin/python3 -S /demo-load.py /tmp/data.bin &
done
# every copy has loaded (it writes /tmp/ready.PID), at most 120 s
for _ in $(seq 240); do
	[ "$(ls /tmp/ready.* 2>/dev/null | wc -l)" -ge "$COPIES" ] && break
	sleep 0.5
done
[ "$(ls /tmp/ready.* 2>/dev/null | wc -l)" -ge "$COPIES" ] || { echo "demo: the copies did not load"; exit 1; }
loaded=$(mem_avail)
echo "MemAvailable: $loaded MiB with $COPIES copies loaded ($((before - loaded)) MiB used)"
say "ksmmodctl set run=merge pages_to_scan=5000 sleep_millisecs=10"
ksmmodctl set run=merge pages_to_scan=5000 sleep_millisecs=10
echo
printf '%6s %14s %10s %14s %10s\n' seconds MemAvailable saved pages_sharing full_scans
t=0 last=-1 since=0
while [ $t -le 120 ]; do
	sharing=$(knob pages_sharing) scans=$(knob full_scans)
	printf '%5ds %10d MiB %6d MiB %14d %10d\n' "$t" "$(mem_avail)" \
		"$(($(knob general_profit) / 1048576))" "$sharing" "$scans"
	# settled: pages_sharing unchanged over 2 full scans
	if [ "$sharing" != "$last" ]; then
		last=$sharing since=$scans
	elif [ "$sharing" != 0 ] && [ $((scans - since)) -ge 2 ]; then
		break
	fi
	sleep 1
	t=$((t + 1))
done
after=$(mem_avail)
echo
echo "MemAvailable: $before MiB before, $loaded MiB with the copies loaded, $after MiB merged:"
echo "ksmmod gave back $((after - loaded)) MiB of the $((before - loaded)) MiB the copies took"
echo
say ksmmodctl status
ksmmodctl status
pid=$(ls /tmp/ready.* | head -n 1 | sed 's/.*ready\.//')
echo
say "ksmmodctl status $pid   # one copy"
ksmmodctl status "$pid"
echo
say "kill -USR1 <each copy>   # each checks its data against its checksums"
for f in /tmp/ready.*; do
	kill -USR1 "${f#/tmp/ready.}"
done
sleep 3
