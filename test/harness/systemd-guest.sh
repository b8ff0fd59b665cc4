#!/usr/bin/env bash
# systemd-guest.sh — ksmmod.service under a real, running systemd: boot a guest
# whose PID 1 is the host's systemd, with the module installed for modprobe and
# the unmodified tools/ksmmodctl/ksmmod.service enabled, and let
# test/systemd/69-systemd.sh drive the unit through systemctl.
#
#   test/harness/systemd-guest.sh KREL KO GUESTBINDIR LOGDIR
#
# KREL: a cached kernel (run-guest.sh), KO: ksmmod.ko built for it, GUESTBINDIR:
# holds the static ksmmodctl (as test/guest's build leaves it), LOGDIR: gets
# console.log, results.ktap, summary.txt, boot-seconds (run-guest.sh).
#
# The initramfs is mkinitramfs.sh's (busybox, /init, the module at /ksmmod.ko,
# /usr/sbin/ksmmodctl) plus: the module at /lib/modules/KREL/updates/ksmmod.ko
# with depmod's index (so that busybox's /sbin/modprobe finds it), the host's
# systemd, systemd-journald, systemctl and journalctl with their libraries, the
# few units a boot to multi-user.target needs (targets, journald and its
# sockets), ksmmod.service enabled with `systemctl --root enable`, the test unit
# test/systemd/ksmmod-systemd-test.service (After=ksmmod.service) and
# /etc/ksmmod.conf ("pages_to_scan = 1234", "run = merge"). The kernel command
# line's rdinit=/lib/systemd/systemd comes after run-guest.sh's rdinit=/init and
# wins; init.sh is packed but not run. No /etc/initrd-release: systemd boots
# the initramfs as the system itself, to multi-user.target.
#
# Prints "pass|fail systemd:STEP [(reason)]" lines (scripts/check.sh's
# host_lines): systemd:boot (the guest reached the test), one per assertion of
# 69-systemd, systemd:ktap (framing, plan, "# ksmmod-guest: done") and
# systemd:console (no kernel splat on the console). Exit 1 if any failed.
# Env: KSMMOD_GUEST_TIMEOUT (default 240 s), KSMMOD_CACHE, KSMMOD_ACCEL (run-guest.sh).
set -euo pipefail

[ $# -eq 4 ] || { echo "usage: $0 KREL KO GUESTBINDIR LOGDIR" >&2; exit 2; }
krel=$1 ko=$2 bindir=$3 logdir=$4
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
H=$ROOT/test/harness
T=$ROOT/test/systemd
CACHE=${KSMMOD_CACHE:-/var/cache/ksmmod}
UNIT=$ROOT/tools/ksmmodctl/ksmmod.service

failed=0
result() { # pass|fail step [reason]
	echo "$1 systemd:$2${3:+ ($3)}"
	[ "$1" = pass ] || failed=1
}

# --- the initramfs --------------------------------------------------------------
[ -f "$ko" ] || { echo "systemd-guest: no module $ko" >&2; exit 1; }
[ -x "$bindir/ksmmodctl" ] || { echo "systemd-guest: no $bindir/ksmmodctl" >&2; exit 1; }
for f in /lib/systemd/systemd /lib/systemd/systemd-journald; do
	[ -x "$f" ] || { echo "systemd-guest: the host has no $f (apt-get install systemd)" >&2; exit 1; }
done
systemctl=$(command -v systemctl) journalctl=$(command -v journalctl)
mkdir -p "$logdir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/stage
mkdir -p "$work/bin" "$stage"
cp "$bindir/ksmmodctl" "$work/bin/"
# the usual guest, with no tests and no host programs; unpacked to add to it
KSMMOD_GUEST_PROGS="" "$H/mkinitramfs.sh" "$work/base.cpio.gz" "$ko" "$work/bin" 2>"$work/mkinitramfs.log"
(cd "$stage" && gzip -dc "$work/base.cpio.gz" | cpio -idm --quiet)

# Host file $1 at $2 (default: its own path) in the guest, symlinks resolved.
pack() {
	local dst=$stage${2:-$1}
	mkdir -p "$(dirname "$dst")"
	rm -f "$dst" # a busybox applet link: replace it, do not write through it
	cp -L "$1" "$dst"
}
# Host program $1 at $2, with the libraries and the ELF interpreter ldd lists.
pack_prog() {
	local lib
	pack "$1" "$2"
	for lib in $(ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		[ -e "$stage$lib" ] || pack "$lib"
	done
}
pack_prog /lib/systemd/systemd /lib/systemd/systemd
pack_prog /lib/systemd/systemd-journald /lib/systemd/systemd-journald
pack_prog "$systemctl" /bin/systemctl
pack_prog "$journalctl" /bin/journalctl

# the module where modprobe looks, and its index
mods=$stage/lib/modules/$krel
mkdir -p "$mods/updates"
install -m 644 "$ko" "$mods/updates/ksmmod.ko"
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ ! -f "$CACHE/kernels/$krel/lib/modules/$krel/$f" ] || cp "$CACHE/kernels/$krel/lib/modules/$krel/$f" "$mods/"
done
depmod -b "$stage" "$krel"
grep -q '^updates/ksmmod.ko:' "$mods/modules.dep" || { echo "systemd-guest: depmod did not index ksmmod.ko" >&2; exit 1; }
for f in /sbin/modprobe /usr/sbin/ksmmodctl; do
	[ -x "$stage$f" ] || { echo "systemd-guest: the initramfs has no $f" >&2; exit 1; }
done

# units: what multi-user.target and journald need, from the host; ours
units=$stage/lib/systemd/system
mkdir -p "$units"
for u in sysinit.target basic.target multi-user.target sockets.target paths.target \
	timers.target slices.target local-fs.target swap.target shutdown.target \
	systemd-journald.service systemd-journald.socket systemd-journald-dev-log.socket \
	systemd-journald-audit.socket; do
	cp "/lib/systemd/system/$u" "$units/"
done
mkdir -p "$units/sockets.target.wants" "$units/sysinit.target.wants"
for u in systemd-journald.socket systemd-journald-dev-log.socket systemd-journald-audit.socket; do
	ln -s "../$u" "$units/sockets.target.wants/$u"
done
ln -s ../systemd-journald.service "$units/sysinit.target.wants/systemd-journald.service"
ln -s multi-user.target "$units/default.target"
install -m 644 "$UNIT" "$units/ksmmod.service"
install -m 644 "$T/ksmmod-systemd-test.service" "$units/"
mkdir -p "$stage/usr/lib/ksmmod-test"
install -m 755 "$T/69-systemd.sh" "$stage/usr/lib/ksmmod-test/69-systemd"
mkdir -p "$stage/etc"
# as a package's postinst would: [Install] WantedBy= -> /etc/systemd/system/*.wants
"$systemctl" --root="$stage" --quiet enable ksmmod.service ksmmod-systemd-test.service
[ -L "$stage/etc/systemd/system/multi-user.target.wants/ksmmod.service" ] ||
	{ echo "systemd-guest: systemctl --root enable did not enable ksmmod.service" >&2; exit 1; }

# /etc: no initrd-release (else systemd would run as an initrd's), the config
cat >"$stage/etc/os-release" <<-EOF
	NAME="ksmmod systemd guest"
	ID=ksmmod-guest
	PRETTY_NAME="ksmmod systemd guest (busybox + host systemd)"
EOF
echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
echo "root:x:0:" >"$stage/etc/group"
echo 6b736d6d6f642d73797374656d642d31 >"$stage/etc/machine-id"
printf '# /etc/ksmmod.conf of the systemd guest\npages_to_scan = 1234\nrun = merge\n' >"$stage/etc/ksmmod.conf"
rm -f "$stage/etc/initrd-release"

initrd=$work/systemd.cpio.gz
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$initrd"
echo "systemd-guest: initramfs $(du -h "$initrd" | cut -f1)" >&2

# --- the boot ---------------------------------------------------------------------
rc=0
KSMMOD_GUEST_TIMEOUT=${KSMMOD_GUEST_TIMEOUT:-240} "$H/run-guest.sh" "$krel" "$initrd" "$logdir" \
	rdinit=/lib/systemd/systemd systemd.unit=multi-user.target systemd.show_status=1 \
	>"$logdir/run-guest.log" 2>&1 || rc=$?
secs=$(cat "$logdir/boot-seconds" 2>/dev/null || echo "?")
res=$logdir/results.ktap con=$logdir/console.log
touch "$res" "$con"

# --- the verdict --------------------------------------------------------------------
if ! tr -d '\r' <"$res" | grep -q '^# suite 69-systemd begin$'; then
	if [ "$rc" = 124 ]; then
		why="timed out after ${secs}s"
	else
		why="qemu exit $rc after ${secs}s"
	fi
	clean=$work/console.txt # without CRs and colours
	tr -d '\r' <"$con" | sed 's/\x1b\[[0-9;]*m//g' >"$clean"
	if ! grep -q 'systemd\[1\]: systemd .* running in system mode' "$clean"; then
		why="systemd did not start as PID 1$(grep -m1 -o 'Kernel panic.*' "$clean" | cut -c1-100 | sed 's/^/: /' || true), $why"
	elif grep -q 'Freezing execution' "$clean"; then
		why="systemd froze: $(grep -m1 -B1 'Freezing execution' "$clean" | head -n1 | cut -c1-120), $why"
	elif ! grep -q 'Starting .*ksmmod-systemd-te' "$clean"; then
		why="systemd started but never started ksmmod-systemd-test.service, $why"
	else
		why="ksmmod-systemd-test.service started but wrote no results, $why"
	fi
	result fail boot "the guest never reached 69-systemd: $why; see $con"
else
	up=$(tr -d '\r' <"$res" | sed -n 's/^# kernel .*, up \([0-9.]*\)s$/\1/p' | head -n1)
	result pass boot "systemd reached 69-systemd ${up:+${up}s after the kernel started}; guest ${secs}s"
	# one line per KTAP result, a failure with the "# " lines printed before it
	diag=""
	while IFS= read -r line; do
		case "$line" in
		"# suite "* | "# ksmmod-guest:"*) ;;
		"# "*) diag+="${diag:+; }${line#\# }" ;;
		"ok "*) result pass "${line#ok * - }"; diag="" ;;
		"not ok "*) result fail "${line#not ok * - }" "${diag:-no reason given}"; diag="" ;;
		esac
	done < <(tr -d '\r' <"$res" | sed -n '/^# suite 69-systemd begin$/,/^# suite 69-systemd exit=/p' | grep -v '^# kernel ')
fi
# framing and plan as ktap-summary.sh judges them, and the kernel log
"$H/ktap-summary.sh" "$logdir" systemd >"$logdir/summary.txt" || true
if grep -q -e ': FAIL suite' -e ': FAIL guest did not' -e ': FAIL no ' "$logdir/summary.txt"; then
	result fail ktap "$(grep -m1 -e ': FAIL suite' -e ': FAIL guest did not' -e ': FAIL no ' "$logdir/summary.txt" | cut -d' ' -f3- | cut -c1-160)"
else
	result pass ktap
fi
# (ktap-summary.sh's splat patterns include BUG:, WARNING:, Oops, Call Trace)
if grep -q 'kernel splat line' "$logdir/summary.txt"; then
	result fail console "$(grep -m1 'kernel splat line' "$logdir/summary.txt" | cut -d' ' -f3-), see $logdir/summary.txt"
else
	result pass console
fi
exit "$failed"
