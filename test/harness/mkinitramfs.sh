#!/usr/bin/env bash
# mkinitramfs.sh — pack the ksmmod test guest initramfs (newc cpio, gzip).
#
#   test/harness/mkinitramfs.sh OUT.cpio.gz KO_FILE GUEST_BIN_DIR [EXTRA_FILES...]
#
# Contents: static busybox at /bin/busybox + applet symlinks, /init =
# test/harness/init.sh, KO_FILE at /ksmmod.ko, every executable of GUEST_BIN_DIR at
# /tests/<name> (ksmmodctl goes to /bin/ksmmodctl instead), EXTRA_FILES at /<basename>,
# empty /dev /proc /sys /tmp /run. The test binaries must be static (no libraries are
# packed for them).
#
# Env: KSMMOD_GUEST_PROGS="prog ..."  dynamically linked host programs to pack (a path, or
#                            a name for `command -v`): each at /usr/bin/<name> (= /bin), with the
#                            libraries ldd lists and the ELF interpreter at their host paths,
#                            plus the terminfo entries and the C.UTF-8 locale that terminal
#                            programs need. Default: "tmux" when the host has it (68-watch
#                            drives `ksmmodctl watch` through it); empty: none.
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

# Host file $1 at the same absolute path in the guest, symlinks resolved.
pack_host_file() {
	local dst=$stage$1
	mkdir -p "$(dirname "$dst")"
	rm -f "$dst" # a busybox applet link: replace it, do not write through it
	cp -L "$1" "$dst"
}
if [ -n "${KSMMOD_GUEST_PROGS+set}" ]; then
	progs=$KSMMOD_GUEST_PROGS
elif command -v tmux >/dev/null 2>&1; then
	progs=tmux
else
	progs=""
fi
packed=""
for prog in $progs; do
	path=$(command -v "$prog" 2>/dev/null || true)
	case "$path" in
	/*) ;;
	*)
		echo "mkinitramfs: warning: $prog not found on the host, not packed" >&2
		continue
		;;
	esac
	# (a path such as /usr/bin/python3 picks that one over $PATH's)
	rm -f "$stage/usr/bin/${prog##*/}"
	install -m 755 "$path" "$stage/usr/bin/${prog##*/}"
	# "libX.so => /path (0x...)" and the interpreter's "/lib64/ld-linux-x86-64.so.2 (0x...)"
	for lib in $(ldd "$path" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		[ -e "$stage$lib" ] || pack_host_file "$lib"
	done
	packed+=" $prog"
done
if [ -n "$packed" ]; then
	# terminfo of the terminals tmux and its panes announce, where ncurses looks
	for term in xterm xterm-256color screen screen-256color tmux tmux-256color linux vt100 dumb; do
		for dir in /etc/terminfo /lib/terminfo /usr/share/terminfo; do
			if [ -e "$dir/${term:0:1}/$term" ]; then
				pack_host_file "$dir/${term:0:1}/$term"
				break
			fi
		done
	done
	# tmux refuses to start without a UTF-8 locale
	[ ! -d /usr/lib/locale/C.utf8 ] || {
		mkdir -p "$stage/usr/lib/locale"
		cp -rL /usr/lib/locale/C.utf8 "$stage/usr/lib/locale/"
	}
	echo "mkinitramfs: packed host programs:$packed" >&2
fi

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
echo "mkinitramfs: $out ($ntests tests, $(du -h "$out" | cut -f1))" >&2
