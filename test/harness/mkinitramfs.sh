#!/usr/bin/env bash
# mkinitramfs.sh — pack the ksmmod test guest initramfs (newc cpio, gzip).
#
#   test/harness/mkinitramfs.sh OUT.cpio.gz KO_FILE GUEST_BIN_DIR [EXTRA_FILES...]
#
# Contents: static busybox at /bin/busybox + applet symlinks, /init =
# test/harness/init.sh, KO_FILE at /ksmmod.ko, every executable of GUEST_BIN_DIR at
# /tests/<name> (ksmmodctl goes to /bin/ksmmodctl instead), EXTRA_FILES at /<basename>,
# empty /dev /proc /sys /tmp /run. Binaries must be static (no libraries are packed).
set -euo pipefail

[ $# -ge 3 ] || { echo "usage: $0 OUT.cpio.gz KO_FILE GUEST_BIN_DIR [EXTRA_FILES...]" >&2; exit 2; }
out=$1 ko=$2 bindir=$3
shift 3

here=$(cd "$(dirname "$0")/../.." && pwd)
init=$here/test/harness/init.sh
busybox=${KSMMOD_BUSYBOX:-/bin/busybox}

[ -f "$ko" ] || { echo "mkinitramfs: no module $ko" >&2; exit 1; }
[ -d "$bindir" ] || { echo "mkinitramfs: no directory $bindir" >&2; exit 1; }
[ -x "$busybox" ] || { echo "mkinitramfs: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }
if ldd "$busybox" >/dev/null 2>&1; then
	echo "mkinitramfs: $busybox is dynamically linked; install busybox-static" >&2
	exit 1
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,dev,proc,sys,tmp,run,tests,usr,sys/kernel/debug}
ln -s bin "$stage/sbin"
ln -s ../bin "$stage/usr/bin"
ln -s ../bin "$stage/usr/sbin"
cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -sf busybox "$stage/bin/$applet"
done
# an initial console for PID 1 before devtmpfs is mounted (needs root; optional)
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$stage/dev/null" c 1 3 2>/dev/null || true

install -m 755 "$init" "$stage/init"
install -m 644 "$ko" "$stage/ksmmod.ko"

ntests=0
for f in "$bindir"/*; do
	[ -f "$f" ] && [ -x "$f" ] || continue
	name=$(basename "$f")
	if [ "$name" = ksmmodctl ]; then
		install -m 755 "$f" "$stage/bin/ksmmodctl"
	else
		install -m 755 "$f" "$stage/tests/$name"
		ntests=$((ntests + 1))
	fi
	if head -c 4 "$f" | grep -q $'\x7fELF' && ldd "$f" >/dev/null 2>&1; then
		echo "mkinitramfs: warning: $f is dynamically linked, it will not run in the guest" >&2
	fi
done
for f in "$@"; do
	cp -a "$f" "$stage/$(basename "$f")"
done

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
echo "mkinitramfs: $out ($ntests tests, $(du -h "$out" | cut -f1))" >&2
