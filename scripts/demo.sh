#!/usr/bin/env bash
# demo.sh — `make demo`: what ksmmod is for, in a guest of Debian's 6.12 kernel
# under QEMU: four copies of an unmodified python3 load the same data set,
# started the way systemd's MemoryKSM=yes starts a service (drop-in mode serves
# it), and the memory available and saved is shown second by second while
# ksmmod merges (test/demo/demo-guest.sh). Run as root on Debian 12; installs what it needs
# (see scripts/kernels.sh). DEMO_KERNEL=6.1 picks the other kernel.
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
# python3 and the stdlib files demo-load.py uses (those it loads on the host),
# at their host paths under pyroot/
rm -rf "$D/pyroot"
/usr/bin/python3 -S "$ROOT/test/demo/demo-load.py" --modules | grep '^/usr/lib/python3' |
	while read -r f; do
		mkdir -p "$D/pyroot$(dirname "$f")/__pycache__"
		cp "$f" "$D/pyroot$f"
		pyc=$(dirname "$f")/__pycache__/$(basename "$f" .py).cpython-3*.pyc
		# shellcheck disable=SC2086 # the glob is wanted
		cp $pyc "$D/pyroot$(dirname "$f")/__pycache__/" 2>/dev/null || true
	done
# (an empty lib-dynload: python3 warns without one; the modules it uses are built in)
pylib=$(find "$D/pyroot/usr/lib" -maxdepth 2 -name os.py -printf '%h\n' | head -n1)
mkdir -p "$pylib/lib-dynload"
cp "$ROOT/test/demo/demo-load.py" "$D/demo-load.py"
gcc -O2 -Wall -Wextra -static -o "$D/merge-exec" "$ROOT/test/demo/merge-exec.c"
# (Debian's python3: a python3 earlier in $PATH may be a pyenv shim, a script)
KSMMOD_GUEST_PROGS=/usr/bin/python3 "$H/mkinitramfs.sh" "$D/initramfs.cpio.gz" "$D/$krel/ksmmod.ko" "$D/bin" \
	"$D/demo-load.py" "$D/merge-exec" "$D/pyroot" >/dev/null
echo "demo: booting $krel"
"$H/run-guest.sh" "$krel" "$D/initramfs.cpio.gz" "$D/logs" >/dev/null
echo
# The guest's output, without the harness's framing lines.
grep -v -e '^# suite ' -e '^# ksmmod-guest' "$D/logs/results.ktap"
grep -q '^# suite demo exit=0' "$D/logs/results.ktap" || {
	echo "demo: the guest script failed; console log: $D/logs/console.log" >&2
	exit 1
}
# every copy found its data intact after the merge
n=$(grep -c '^copy [0-9]*: intact$' "$D/logs/results.ktap" || true)
if [ "$n" != 4 ] || grep -q 'CORRUPT' "$D/logs/results.ktap"; then
	echo "demo: $n of 4 copies reported their data intact" >&2
	exit 1
fi
