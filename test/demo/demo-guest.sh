#!/bin/sh
# demo-guest.sh — runs inside the `make demo` guest (as its only "test"):
# loads the module, registers a process holding 32 MiB of duplicate pages,
# runs the scanner and shows what ksmmodctl reports. Output goes to the results
# channel, which scripts/demo.sh prints on the host.
set -e
echo "guest\$ uname -r"
uname -r
echo "guest\$ insmod /ksmmod.ko"
insmod /ksmmod.ko
echo "guest\$ ls -l /dev/ksmmod"
ls -l /dev/ksmmod
echo "guest\$ ksmmodctl version"
ksmmodctl version
echo "guest\$ demo-dup 32 &          # 32 MiB: 8192 pages, 64 different contents"
/demo-dup 32 >/tmp/dup.pid &
sleep 1
pid=$(cat /tmp/dup.pid)
echo "guest\$ ksmmodctl add $pid"
ksmmodctl add "$pid"
echo "guest\$ ksmmodctl set run=1 pages_to_scan=5000 sleep_millisecs=5"
ksmmodctl set run=1 pages_to_scan=5000 sleep_millisecs=5
# wait until merging settles: pages_sharing unchanged over 3 full scans (at most 90 s)
sharing() { ksmmodctl status --raw | awk -v k="$1" '$1 == k {print $2}'; }
last=-1 since=0
for _ in $(seq 90); do
	sleep 1
	now=$(sharing pages_sharing)
	scans=$(sharing full_scans)
	if [ "$now" != "$last" ]; then
		last=$now since=$scans
	elif [ "$now" != 0 ] && [ $((scans - since)) -ge 3 ]; then
		break
	fi
done
echo "guest\$ ksmmodctl status"
ksmmodctl status
