#!/usr/bin/env bash
# dkms-test.sh — DKMS the way a kernel upgrade drives it, on Debian 12 (the
# host's dkms) or in the Debian 13 chroot (trixie's dkms):
#
#   scripts/dkms-test.sh WHERE SRC LOGDIR KA KB
#
#   WHERE = host | trixie    KA, KB: two supported kernels whose headers are installed there
#
# 1. install: the source in /usr/src/ksmmod-<version>, `dkms add`, and
#    `dkms autoinstall -k KA` (what a new kernel's hooks run): installed for KA.
# 2. upgrade: the kernel headers package's own postinst hook
#    (/etc/kernel/header_postinst.d/dkms KB) builds and installs it for KB.
# 3. unsupported kernel: headers of a kernel without CONFIG_KSM (KA's headers
#    with that one option removed): the same hook exits 0, says in one line why
#    ksmmod was skipped, and installs nothing for it.
# 4. `dkms remove --all` leaves no ksmmod module behind.
# Prints "pass|fail dkms:WHERE:STEP [reason]" lines; exit 1 if any failed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${KSMMOD_CACHE:-/var/cache/ksmmod}
[ $# -eq 5 ] || { echo "usage: $0 host|trixie SRC LOGDIR KA KB" >&2; exit 2; }
where=$1 src=$2 logs=$3 ka=$4 kb=$5
fake=9.9.9-ksmmod-noksm
mkdir -p "$logs"
failed=0
result() { # pass|fail step [reason]
	echo "$1 dkms:$where:$2${3:+ ($3)}"
	[ "$1" = pass ] || failed=1
}

case "$where" in
host)
	sysroot=""
	run() { "$@"; }
	;;
trixie)
	sysroot=$CACHE/chroots/trixie
	run() { "$ROOT/scripts/chroot.sh" run trixie "$@"; }
	if ! run dpkg -s dkms >/dev/null 2>&1; then
		run apt-get install -y -q --no-install-recommends dkms >"$logs/dkms-$where-apt.log" 2>&1 ||
			{ result fail setup "apt-get install dkms, see $logs/dkms-$where-apt.log"; exit 1; }
	fi
	;;
*) echo "dkms-test: WHERE must be host or trixie" >&2; exit 2 ;;
esac
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$src/dkms.conf")
echo "dkms-test: $where, $(run dpkg-query -W -f='dkms ${Version}' dkms), ksmmod $ver, $ka -> $kb" >&2

cleanup() {
	run dkms remove -m ksmmod -v "$ver" --all >/dev/null 2>&1
	rm -rf "$sysroot/usr/src/ksmmod-$ver" "$sysroot/usr/lib/modules/$fake" "$sysroot/usr/src/linux-headers-$fake"
	rm -rf "$sysroot/var/lib/dkms/ksmmod"
}
cleanup
mkdir -p "$sysroot/usr/src/ksmmod-$ver"
for item in Kbuild dkms.conf src include "$src"/*.mk; do
	item=${item#"$src"/}
	cp -a "$src/$item" "$sysroot/usr/src/ksmmod-$ver/"
done

installed() { # krel: is ksmmod installed for it, per dkms status and on disk
	run dkms status -m ksmmod -v "$ver" -k "$1" 2>/dev/null | grep -q ": installed" &&
		[ -n "$(find "$sysroot/usr/lib/modules/$1/updates/dkms" -name 'ksmmod.ko*' 2>/dev/null)" ]
}

# 1. install for KA
if run dkms add -m ksmmod -v "$ver" >"$logs/dkms-$where-add.log" 2>&1 &&
	run dkms autoinstall -k "$ka" >"$logs/dkms-$where-$ka.log" 2>&1 && installed "$ka"; then
	result pass "autoinstall:$ka"
else
	tail -n 20 "$logs/dkms-$where-$ka.log" >&2
	cp "$sysroot/var/lib/dkms/ksmmod/$ver/build/make.log" "$logs/dkms-$where-$ka.make.log" 2>/dev/null
	result fail "autoinstall:$ka" "see $logs/dkms-$where-$ka.log"
fi

# 2. the headers package's hook for KB
if run /etc/kernel/header_postinst.d/dkms "$kb" >"$logs/dkms-$where-$kb.log" 2>&1 && installed "$kb"; then
	result pass "upgrade:$kb"
else
	tail -n 20 "$logs/dkms-$where-$kb.log" >&2
	result fail "upgrade:$kb" "the header_postinst.d hook did not install it, see $logs/dkms-$where-$kb.log"
fi

# 3. a kernel without KSM: just enough headers for the hook and dkms
hdr=$sysroot/usr/src/linux-headers-$fake
mkdir -p "$hdr/include" "$sysroot/usr/lib/modules/$fake"
grep -v '^CONFIG_KSM=' "$sysroot/usr/lib/modules/$ka/build/.config" >"$hdr/.config"
ln -s "/usr/src/linux-headers-$fake" "$sysroot/usr/lib/modules/$fake/build"
rc=0
run /etc/kernel/header_postinst.d/dkms "$fake" >"$logs/dkms-$where-$fake.log" 2>&1 || rc=$?
if [ $rc -eq 0 ] && ! installed "$fake" &&
	grep -q "ksmmod: not built for kernel $fake: it has no CONFIG_KSM" "$logs/dkms-$where-$fake.log"; then
	result pass "unsupported-skipped"
else
	tail -n 20 "$logs/dkms-$where-$fake.log" >&2
	result fail "unsupported-skipped" "hook exit $rc, see $logs/dkms-$where-$fake.log"
fi

# 4. removal
run dkms remove -m ksmmod -v "$ver" --all >"$logs/dkms-$where-remove.log" 2>&1
left=$(find "$sysroot/usr/lib/modules" -name 'ksmmod.ko*' 2>/dev/null | grep -v "^$CACHE/kernels" || true)
if [ -z "$left" ]; then
	result pass remove
else
	result fail remove "left behind: $left"
fi
cleanup
exit $failed
