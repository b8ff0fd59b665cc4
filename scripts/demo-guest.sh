#!/bin/sh
# demo-guest.sh — runs inside the `make demo` guest (as its only "test"):
# loads the module and shows what ksmctl reports. Output goes to the results
# channel, which scripts/demo.sh prints on the host.
set -e
echo "guest\$ uname -r"
uname -r
echo "guest\$ insmod /ksmmod.ko"
insmod /ksmmod.ko
echo "guest\$ ls -l /dev/ksmmod"
ls -l /dev/ksmmod
echo "guest\$ ksmctl version"
ksmctl version
echo "guest\$ ksmctl set pages_to_scan=1000 sleep_millisecs=10"
ksmctl set pages_to_scan=1000 sleep_millisecs=10
echo "guest\$ ksmctl status"
ksmctl status
