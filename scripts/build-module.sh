#!/usr/bin/env bash
# build-module.sh — build ksmmod.ko for one kernel, out of tree, with W=1.
#
#   scripts/build-module.sh KREL BUILDDIR LOG [SRC]
#
# Copies the module sources (Kbuild, *.mk, dkms.conf, src/, include/) from SRC
# (default: this repo) to BUILDDIR, so that builds for several kernels do not
# share objects, and runs kbuild against /lib/modules/KREL/build (installed
# headers) or, for kernels built by this project (the debug lane),
# $KSMMOD_CACHE/kernels/KREL/build. The build
# output goes to LOG. Exit status: 0 built without warnings, 1 build failed,
# 3 built but with warnings (printed). The module is BUILDDIR/ksmmod.ko.
set -euo pipefail

[ $# -ge 3 ] || { echo "usage: $0 KREL BUILDDIR LOG [SRC]" >&2; exit 2; }
krel=$1 bdir=$2 log=$3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=$(cd "${4:-$ROOT}" && pwd)

rm -rf "$bdir"
mkdir -p "$bdir" "$(dirname "$log")"
for item in Kbuild dkms.conf src include; do
	[ -e "$SRC/$item" ] && cp -a "$SRC/$item" "$bdir/"
done
for mk in "$SRC"/*.mk; do [ -e "$mk" ] && cp -a "$mk" "$bdir/"; done

kdir=/lib/modules/$krel/build
[ -d "$kdir" ] || kdir=${KSMMOD_CACHE:-/var/cache/ksmmod}/kernels/$krel/build
rc=0
make -C "$kdir" M="$bdir" W=1 -j"$(nproc)" modules >"$log" 2>&1 || rc=$?
if [ $rc -ne 0 ] || [ ! -f "$bdir/ksmmod.ko" ]; then
	tail -n 40 "$log" >&2
	exit 1
fi
if grep -n 'warning:' "$log" >&2; then
	exit 3
fi
exit 0
