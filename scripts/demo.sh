#!/usr/bin/env bash
# demo.sh — `make demo`: boot Debian's 6.12 kernel under QEMU, load ksmmod and
# show `ksmmodctl status` from inside the guest. Run as root on Debian 12; installs
# what it needs (see scripts/kernels.sh). DEMO_KERNEL=6.1 picks the other kernel.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
S=$ROOT/scripts
H=$ROOT/test/harness
D=$ROOT/build/demo
[ "$(id -u)" = 0 ] || { echo "demo: must run as root (apt)" >&2; exit 2; }

"$S/kernels.sh" deps
krel=$("$S/kernels.sh" fetch "${DEMO_KERNEL:-6.12}" | tail -n1)
mkdir -p "$D/bin" "$D/logs"
echo "demo: building ksmmod for $krel"
"$S/build-module.sh" "$krel" "$D/$krel" "$D/logs/build.log"
make -s -C "$ROOT/tools/ksmmodctl" OUT="$D/bin" >/dev/null
cp "$ROOT/test/demo/demo-guest.sh" "$D/bin/demo"
gcc -O2 -Wall -static -o "$D/demo-dup" "$ROOT/test/demo/demo-dup.c"
"$H/mkinitramfs.sh" "$D/initramfs.cpio.gz" "$D/$krel/ksmmod.ko" "$D/bin" "$D/demo-dup" >/dev/null
echo "demo: booting $krel"
"$H/run-guest.sh" "$krel" "$D/initramfs.cpio.gz" "$D/logs" >/dev/null
echo
# The guest's output, without the harness's framing lines.
grep -v -e '^# suite ' -e '^# ksmmod-guest' "$D/logs/results.ktap"
grep -q '^# suite demo exit=0' "$D/logs/results.ktap" || {
	echo "demo: the guest script failed; console log: $D/logs/console.log" >&2
	exit 1
}
