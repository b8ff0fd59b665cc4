#!/usr/bin/env bash
# deb-test.sh — the packages of `make deb` as an administrator meets them, in a
# throwaway copy (scripts/chroot.sh scratch) of a Debian release's chroot:
#
#   scripts/deb-test.sh RELEASE DEBDIR LOGDIR KOOUT KREL...
#
#   RELEASE = bookworm | trixie   DEBDIR: ksmmod-dkms_V_all.deb and
#   ksmmod-tools_V_amd64.deb of two versions (the newer is the upgrade)
#   KREL...: kernels of that release; their headers are installed in the cached
#   chroot first (once), as a user's system has them before installing ksmmod
#
# 1. install: `apt-get install ./ksmmod-dkms_OLD_all.deb` (dkms comes with it)
#    builds and installs the module for every KREL (`dkms status`, the .ko)
# 2. upgrade: `apt-get install ./ksmmod-dkms_NEW_all.deb` rebuilds it for every
#    KREL; the old version is gone from dkms and /usr/src
# 3. tools: ksmmod-tools installs beside ksmtuned (which ships
#    /usr/sbin/ksmctl): no file of one is the other's; ksmmodctl runs
# 4. purge: `apt-get purge` of both leaves no file, directory or dkms entry of
#    ksmmod (every path of the copy's changes is looked at)
# The NEW package's module for each KREL is copied to KOOUT/KREL/ksmmod.ko (for
# the guest boot of the packaged module). Prints "pass|fail deb:RELEASE:STEP
# [reason]" lines; exit 1 if any failed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
S=$ROOT/scripts
[ $# -ge 5 ] || { echo "usage: $0 bookworm|trixie DEBDIR LOGDIR KOOUT KREL..." >&2; exit 2; }
rel=$1 debdir=$2 logs=$3 koout=$4
shift 4
krels=("$@")
mkdir -p "$logs" "$koout"
failed=0
result() { # pass|fail step [reason]
	echo "$1 deb:$rel:$2${3:+ ($3)}"
	[ "$1" = pass ] || failed=1
}
log() { echo "deb-test: $*" >&2; }

# the two versions in DEBDIR, oldest first
mapfile -t vers < <(ls -1 "$debdir"/ksmmod-dkms_*_all.deb 2>/dev/null |
	sed -E 's#.*/ksmmod-dkms_(.*)_all\.deb#\1#' | sort -V)
if [ ${#vers[@]} -ne 2 ]; then
	result fail setup "want two versions of ksmmod-dkms in $debdir, found ${#vers[@]}"
	exit 1
fi
old=${vers[0]} new=${vers[1]}
for v in "$old" "$new"; do
	[ -f "$debdir/ksmmod-tools_${v}_amd64.deb" ] || { result fail setup "no ksmmod-tools $v"; exit 1; }
done

# The cached chroot: the release's kernel headers (what the user has), and the
# packages the test pulls in downloaded once.
"$S/chroot.sh" create "$rel" >"$logs/deb-$rel-create.log" 2>&1 ||
	{ result fail setup "chroot.sh create $rel, see $logs/deb-$rel-create.log"; exit 1; }
base=${KSMMOD_CACHE:-/var/cache/ksmmod}/chroots/$rel
for k in "${krels[@]}"; do
	[ -d "$base/usr/lib/modules/$k/build" ] && continue
	log "installing linux-headers-$k in the $rel chroot"
	"$S/chroot.sh" run "$rel" apt-get install -y -q --no-install-recommends "linux-headers-$k" \
		>>"$logs/deb-$rel-create.log" 2>&1 ||
		{ result fail setup "linux-headers-$k, see $logs/deb-$rel-create.log"; exit 1; }
done
"$S/chroot.sh" run "$rel" apt-get install -y -q -d --no-install-recommends dkms ksmtuned \
	>>"$logs/deb-$rel-create.log" 2>&1 ||
	{ result fail setup "downloading dkms and ksmtuned, see $logs/deb-$rel-create.log"; exit 1; }

scratch=$(mktemp -d /tmp/ksmmod-deb-$rel.XXXXXX)
trap '"$S/chroot.sh" unscratch "$scratch"' EXIT
"$S/chroot.sh" scratch "$rel" "$scratch" || { result fail setup "no scratch copy"; exit 1; }
r=$scratch/root
run() { "$S/chroot.sh" run "$r" "$@"; }
mkdir -p "$r/tmp/debs"
cp "$debdir"/ksmmod-*_{"$old","$new"}_*.deb "$r/tmp/debs/"

# installed KREL VERSION: dkms says so, and the module is where it says
installed() {
	run dkms status -m ksmmod -v "$2" -k "$1" 2>/dev/null | grep -q ": installed" &&
		[ -n "$(find "$r/usr/lib/modules/$1/updates/dkms" -name 'ksmmod.ko*' 2>/dev/null)" ]
}
every_krel() { # version: installed for every KREL
	local k
	for k in "${krels[@]}"; do installed "$k" "$1" || { echo "$k"; return 1; }; done
}

# 1. install
if run apt-get install -y -q --no-install-recommends "/tmp/debs/ksmmod-dkms_${old}_all.deb" \
	>"$logs/deb-$rel-install.log" 2>&1 && miss=$(every_krel "$old"); then
	result pass "install:$old"
else
	tail -n 20 "$logs/deb-$rel-install.log" >&2
	result fail "install:$old" "not installed for ${miss:-?}, see $logs/deb-$rel-install.log"
fi

# 2. upgrade
if run apt-get install -y -q --no-install-recommends "/tmp/debs/ksmmod-dkms_${new}_all.deb" \
	>"$logs/deb-$rel-upgrade.log" 2>&1 && miss=$(every_krel "$new"); then
	if run dkms status -m ksmmod -v "$old" | grep -q . || [ -e "$r/usr/src/ksmmod-$old" ]; then
		result fail "upgrade:$new" "$old is still in dkms or /usr/src"
	else
		result pass "upgrade:$new"
	fi
else
	tail -n 20 "$logs/deb-$rel-upgrade.log" >&2
	result fail "upgrade:$new" "not installed for ${miss:-?}, see $logs/deb-$rel-upgrade.log"
fi
for k in "${krels[@]}"; do
	ko=$(find "$r/usr/lib/modules/$k/updates/dkms" -name 'ksmmod.ko*' 2>/dev/null | head -n1)
	[ -n "$ko" ] || continue
	mkdir -p "$koout/$k"
	case "$ko" in
	*.xz) xz -dc "$ko" >"$koout/$k/ksmmod.ko" ;;
	*.zst) zstd -qdc "$ko" >"$koout/$k/ksmmod.ko" ;;
	*.gz) gzip -dc "$ko" >"$koout/$k/ksmmod.ko" ;;
	*) cp "$ko" "$koout/$k/ksmmod.ko" ;;
	esac
done

# 3. the tools beside ksmtuned
if run apt-get install -y -q --no-install-recommends "/tmp/debs/ksmmod-tools_${new}_amd64.deb" ksmtuned \
	>"$logs/deb-$rel-tools.log" 2>&1 &&
	run dpkg-query -W -f='${Status}\n' ksmmod-tools ksmtuned | grep -c '^install ok installed$' | grep -qx 2 &&
	[ -x "$r/usr/sbin/ksmctl" ] && [ -x "$r/usr/sbin/ksmmodctl" ] &&
	run ksmmodctl help >"$logs/deb-$rel-help.log" 2>&1; then
	result pass "tools-beside-ksmtuned"
else
	tail -n 20 "$logs/deb-$rel-tools.log" >&2
	result fail "tools-beside-ksmtuned" "see $logs/deb-$rel-tools.log"
fi

# 4. purge: nothing of ksmmod in the copy's changes (paths named after it, the
# dkms tree, modules built for it), and no package state
run apt-get purge -y -q ksmmod-dkms ksmmod-tools >"$logs/deb-$rel-purge.log" 2>&1
rm -rf "$r/tmp/debs"
# (a directory the chroot already had, such as the modules of the debug
# kernel 7.3.4-ksmmod-debug, is not ksmmod's)
left=$(cd "$scratch/upper" && find . -iname '*ksmmod*' ! -type c 2>/dev/null |
	while read -r p; do [ -d "$base/$p" ] || echo "$p"; done | head -n 5 | tr '\n' ' ')
state=$(run dpkg-query -W -f='${Package} ${Status}\n' 'ksmmod-*' 2>/dev/null | grep -v 'not-installed' || true)
if [ -z "$left" ] && [ -z "$state" ] && ! run dkms status 2>/dev/null | grep -q ksmmod; then
	result pass purge
else
	result fail purge "left behind: ${left:-}${state:+ dpkg: $state}"
fi
exit $failed
