#!/usr/bin/env bash
# kselftests.sh — build the kernel's own KSM selftests (ksm_tests,
# ksm_functional_tests) of one Debian kernel series as static binaries that
# use ksmmod's sysfs directory, for the in-guest wrapper test/guest/48-kselftests.c.
#
#   scripts/kselftests.sh SERIES OUTDIR     SERIES = 6.1 | 6.12 | 7.N
#
# Source: Debian's linux-source-SERIES package (/usr/src/linux-source-SERIES.tar.xz;
# 6.1 and 6.12 on the host; 7.x from trixie-backports in the trixie chroot, or
# from sid in the sid chroot when trixie lacks the series (scripts/chroot.sh),
# where the script runs again with that release's compiler;
# installed with apt if missing, like libnuma-dev for ksm_tests' static
# libnuma). Only what the two programs need is extracted: the selftests
# directory (tools/testing/selftests/vm on 6.1, .../mm on 6.12), kselftest.h,
# include/vdso, and what `make headers` needs to produce the series' own uapi
# headers (6.12's selftests use PR_SET_MEMORY_MERGE and PAGEMAP_SCAN, which
# Debian 12's 6.1 linux-libc-dev lacks). The only change to the sources is
# /sys/kernel/mm/ksm -> /sys/kernel/mm/ksmmod (sed on the copy).
# 6.1's tree has no ksm_functional_tests.c (it first appeared in v6.2); the
# manifest says so and the guest wrapper reports it as skipped.
#
# OUTDIR receives the binaries and a "manifest" (key: value lines read by the
# guest wrapper). The build is cached in
# $KSMMOD_CACHE/kselftests/<series>-<package version>-<script hash>/.
# Progress goes to stderr.
set -euo pipefail

CACHE=${KSMMOD_CACHE:-/var/cache/ksmmod}
export DEBIAN_FRONTEND=noninteractive
say() { echo "kselftests: $*" >&2; }
die() { say "error: $*"; exit 1; }

[ $# -eq 2 ] || { echo "usage: $0 6.1|6.12|7.N OUTDIR" >&2; exit 2; }
series=$1 out=$2
case "$series" in
6.1|6.12) ;;
[7-9].*)
	# Newer releases' sources, built with that release's compiler: this
	# script runs again inside the chroot (its cache stays in the chroot).
	# trixie(-backports) if it has the series, else sid.
	if [ -z "${KSMMOD_KSELFTESTS_IN_CHROOT:-}" ]; then
		chroot_sh=$(dirname "$0")/chroot.sh
		for rel in trixie sid; do
			"$chroot_sh" create "$rel" >&2
			"$chroot_sh" run "$rel" apt-cache show "linux-source-$series" >/dev/null 2>&1 && break
			[ $rel = sid ] && die "neither trixie nor sid has linux-source-$series"
		done
		ch=$CACHE/chroots/$rel
		cp "$0" "$ch/tmp/kselftests.sh"
		rm -rf "$ch/tmp/kselftests-out"
		"$chroot_sh" run "$rel" env KSMMOD_KSELFTESTS_IN_CHROOT=1 KSMMOD_CACHE=/var/cache/ksmmod \
			bash /tmp/kselftests.sh "$series" /tmp/kselftests-out >&2
		rm -rf "$out"
		mkdir -p "$out"
		cp -a "$ch/tmp/kselftests-out/." "$out/"
		say "$out: $(cd "$out" && echo *)"
		exit 0
	fi
	;;
*) die "series must be 6.1, 6.12 or 7.x, not '$series'" ;;
esac

pkg=linux-source-$series
tarball=/usr/src/$pkg.tar.xz

is_installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]; }
need=()
for p in "$pkg" libnuma-dev xz-utils gcc make libc6-dev; do
	is_installed "$p" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	apt-get install -y -q --no-install-recommends "${need[@]}" >&2 || {
		apt-get update -q >&2 &&
			apt-get install -y -q --no-install-recommends "${need[@]}" >&2
	}
fi
[ -f "$tarball" ] || die "$tarball missing after installing $pkg"
[ -f /usr/lib/x86_64-linux-gnu/libnuma.a ] || die "no static libnuma (libnuma-dev)"

srcver=$(dpkg-query -W -f='${Version}' "$pkg")
key=$series-$srcver-$(sha256sum "$0" | cut -c1-12)
dir=$CACHE/kselftests/$key

build() {
	local tree=$dir/$pkg top=$pkg
	rm -rf "$CACHE/kselftests/$series-"* # older builds of this series
	mkdir -p "$dir"
	say "extracting the selftests and uapi header sources of $pkg $srcver"
	# xz cannot seek: this reads the whole tarball once (about 20 s)
	tar -C "$dir" -xJf "$tarball" --wildcards \
		"$top/Makefile" "$top/scripts/*" "$top/include/uapi/*" "$top/include/vdso/*" \
		"$top/arch/x86/*" "$top/tools/include/*" "$top/tools/testing/selftests/kselftest.h" \
		"$top/tools/testing/selftests/vm/*" "$top/tools/testing/selftests/mm/*" 2>"$dir/tar.log" || true
	[ -f "$tree/Makefile" ] || { cat "$dir/tar.log" >&2; die "extracting $tarball failed"; }

	local sub
	if [ -f "$tree/tools/testing/selftests/mm/ksm_tests.c" ]; then
		sub=tools/testing/selftests/mm
	elif [ -f "$tree/tools/testing/selftests/vm/ksm_tests.c" ]; then
		sub=tools/testing/selftests/vm
	else
		die "no ksm_tests.c in $pkg"
	fi

	say "make headers ($pkg uapi headers)"
	make -C "$tree" -s headers >"$dir/headers.log" 2>&1 || { tail -n 20 "$dir/headers.log" >&2; die "make headers failed"; }

	# a copy with ksmmod's sysfs directory, next to the original (../kselftest.h)
	local st=$tree/$sub ks=$tree/$sub-ksmmod f
	mkdir -p "$ks"
	cp "$st"/*.c "$st"/*.h "$ks"/
	for f in "$ks"/*.c "$ks"/*.h; do
		sed -i -e 's#/sys/kernel/mm/ksm\([/"]\)#/sys/kernel/mm/ksmmod\1#g' "$f"
	done
	if grep -n '/sys/kernel/mm/ksm[/"]' "$ks"/*.c "$ks"/*.h >&2; then
		die "the sysfs path substitution left the above"
	fi

	local manifest=$dir/manifest prog srcs cflags
	{
		echo "source: $pkg $srcver ($sub)"
		echo "sysfs: /sys/kernel/mm/ksm -> /sys/kernel/mm/ksmmod"
	} >"$manifest"
	cflags=(-O2 -Wall -static -U_FORTIFY_SOURCE -I "$tree" -I "$tree/tools/testing/selftests" -isystem "$tree/usr/include")
	for prog in ksm_functional_tests ksm_tests; do
		if [ ! -f "$ks/$prog.c" ]; then
			echo "missing: $prog: not in $pkg (the kernel added it in v6.2)" >>"$manifest"
			say "$pkg has no $prog.c"
			continue
		fi
		# only the helpers this program includes
		srcs=("$ks/$prog.c")
		grep -q '#include "vm_util.h"' "$ks/$prog.c" && srcs+=("$ks/vm_util.c")
		grep -q '#include "thp_settings.h"' "$ks/$prog.c" && srcs+=("$ks/thp_settings.c")
		# 7.x renamed it
		grep -q '#include "hugepage_settings.h"' "$ks/$prog.c" && srcs+=("$ks/hugepage_settings.c")
		libs=(-lrt -lpthread -lm)
		[ "$prog" = ksm_tests ] && libs+=(-lnuma)
		say "building $prog (${srcs[*]##*/})"
		echo "+ gcc ${cflags[*]} ${srcs[*]} ${libs[*]} -o $dir/$prog" >>"$dir/build.log"
		gcc "${cflags[@]}" "${srcs[@]}" "${libs[@]}" -o "$dir/$prog" >>"$dir/build.log" 2>&1 ||
			{ tail -n 30 "$dir/build.log" >&2; die "building $prog failed"; }
		echo "program: $prog" >>"$manifest"
	done
	rm -rf "$tree" # keep the cache small: binaries, manifest, logs
	date -u +%FT%TZ >"$dir/done"
}

mkdir -p "$CACHE/kselftests"
exec 9>"$CACHE/kselftests/.lock-$series" # two make checks at once: one builds
flock 9
if [ -f "$dir/done" ]; then
	say "reusing $dir"
else
	build
fi
flock -u 9
rm -rf "$out"
mkdir -p "$out"
cp "$dir/manifest" "$out/"
for prog in ksm_functional_tests ksm_tests; do
	[ -f "$dir/$prog" ] && install -m 755 "$dir/$prog" "$out/$prog"
done
say "$out: $(cd "$out" && echo *)"
