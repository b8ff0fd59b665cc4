#!/usr/bin/env bash
# check.sh — `make check`: build ksmmod for each kernel of the support matrix,
# boot it under qemu with the guest tests, and install it through DKMS as kernel
# upgrades do (Debian 12's dkms on the host, Debian 13's in its chroot).
#
#   scripts/check.sh            (run as root on Debian 12)
#
# Env: KERNELS="6.1 6.12 trixie-6.12:smoke trixie-cloud:smoke trixie-rt 7-bpo sid debug"
#                            guest lanes (README, "Supported kernels"): Debian 12's
#                            stock series (6.1, 6.12); Debian 13's 6.12 generic, cloud
#                            and PREEMPT_RT (trixie-6.12, trixie-cloud, trixie-rt),
#                            trixie-backports' newest 7.x (7-bpo) and sid's newest
#                            kernel (sid), all built in a chroot of their release
#                            (scripts/chroot.sh); "debug": the newest series with
#                            KASAN/lockdep/DEBUG_VM/kmemleak (scripts/debug-kernel.sh).
#                            LANE:smoke runs only the smoke subset SMOKE_TESTS.
#      SMOKE_TESTS=GLOB,...  the smoke subset (default: load, the symbol and layout
#                            checks, merge, CoW and fork, THP, swap, migration,
#                            unload, the kernel's KSM selftests, kmemleak)
#      BUILD_KERNELS="..."   build-only lanes (same names; default none): the module
#                            is built with W=1, no guest is booted
#      LONG_LANES="debug"    lanes where the soak (95-soak) and the fuzzer (56-fuzz) run
#                            long: SOAK_SECONDS (300) and FUZZ_SECONDS (120) instead of
#                            their short defaults (60 s and 8 s); `make soak` sets these
#      KSMMOD_SRC=DIR        module source tree (default: this repo; for harness tests)
#      KSMMOD_CMDLINE="..."  extra guest kernel cmdline (e.g. ksmmod.tests=10-*)
#      KSMMOD_SKIP_DKMS=1    skip the DKMS tests (quick runs; DKMS state is global, so two
#                            runs at once would clobber each other's)
#      KSMMOD_SKIP_DEB=1     skip the Debian package tests (make deb, install, upgrade and
#                            purge in Debian 12 and 13 chroots, the packaged module in a guest)
#      KSMMOD_CACHE, KSMMOD_ACCEL, KSMMOD_GUEST_MEM, KSMMOD_GUEST_TIMEOUT: see scripts/
# Logs: build/logs/<krel>/ (build.log, console.log, results.ktap, summary.txt), build/logs/dkms-*.log
# Last line: "N passed, N failed, N skipped"; exit status 1 if anything failed.
set -euo pipefail

T0=$(date +%s)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=$(cd "${KSMMOD_SRC:-$ROOT}" && pwd)
BUILD=$ROOT/build
LOGS=$BUILD/logs
S=$ROOT/scripts
H=$ROOT/test/harness
JOBS=$(nproc)

PASS=0 FAIL=0 SKIP=0
RESULTS=()
DETAIL=()
say() { echo "check: $*"; }
host_result() { # pass|fail|skip label [reason]
	local verdict=$1 label=$2 reason=${3:-}
	case "$verdict" in
	pass) PASS=$((PASS + 1)) ;;
	fail) FAIL=$((FAIL + 1)) ;;
	skip) SKIP=$((SKIP + 1)) ;;
	esac
	RESULTS+=("$(printf '%-4s %s%s' "$verdict" "$label" "${reason:+ ($reason)}")")
	say "$verdict $label${reason:+: $reason}"
}

# The "pass|fail LABEL [(reason)]" lines of a host-side test script, as results.
host_lines() {
	local line
	while read -r line; do
		case "$line" in
		pass\ *) host_result pass "host:${line#pass }" ;;
		fail\ *) host_result fail "host:${line#fail }" ;;
		esac
	done
}

[ "$(id -u)" = 0 ] || { echo "check: must run as root (apt, dkms, /usr/src)" >&2; exit 2; }

LANES=${KERNELS-6.1 6.12 trixie-6.12:smoke trixie-cloud:smoke trixie-rt 7-bpo sid debug}
BUILD_LANES=${BUILD_KERNELS-}
LONG_LANES=${LONG_LANES-debug}
SOAK_SECONDS=${SOAK_SECONDS:-300}
FUZZ_SECONDS=${FUZZ_SECONDS:-120}
SMOKE_TESTS=${SMOKE_TESTS-10-*,48-*,60-*,65-*,66-*,70-*,76-*,78-*,79-*,80-*,81-migrate,90-*,99-*}
say "source $SRC, lanes: $LANES; build only: $BUILD_LANES"

# The scripts/chroot.sh target of a lane built in a chroot of a newer release.
chroot_target() { # lane
	case "$1" in
	trixie-6.12) echo 6.12 ;;
	trixie-cloud) echo 6.12-cloud ;;
	trixie-rt) echo 6.12-rt ;;
	7-bpo | sid) echo "$1" ;;
	*) return 1 ;;
	esac
}

# Fetch a chroot lane's kernel (headers in its chroot, image in the cache): KREL.
chroot_fetch() { # lane -> sets krel; false on failure (reported)
	local lane=$1 tgt
	tgt=$(chroot_target "$lane")
	say "fetching $lane ($tgt) through scripts/chroot.sh"
	if ! krel=$("$S/chroot.sh" fetch "$tgt" 2>"$LOGS/chroot-$lane.log" | tail -n1) || [ -z "$krel" ]; then
		tail -n 20 "$LOGS/chroot-$lane.log"
		host_result fail "host:fetch:$lane" "see build/logs/chroot-$lane.log"
		return 1
	fi
}
"$S/kernels.sh" deps

mkdir -p "$LOGS"
rm -f "$LOGS/accel" # KVM probe verdict is per run

# --- guest programs (kernel independent, built once) -----------------------------
GUEST=$BUILD/guest
rm -rf "$GUEST"
mkdir -p "$GUEST"
say "building guest tests and ksmmodctl"
if ! make -C "$SRC/test/guest" OUT="$GUEST" -j"$JOBS" >"$LOGS/guest-build.log" 2>&1; then
	cat "$LOGS/guest-build.log"
	host_result fail "host:guest-tests-build" "see build/logs/guest-build.log"
fi
if ! make -C "$SRC/tools/ksmmodctl" OUT="$GUEST" -j"$JOBS" >"$LOGS/ksmmodctl-build.log" 2>&1; then
	cat "$LOGS/ksmmodctl-build.log"
	host_result fail "host:ksmmodctl-build" "see build/logs/ksmmodctl-build.log"
fi
# ksmmod.service as systemd reads it (with the built CLI in place of
# /usr/sbin/ksmmodctl), and the example /etc/ksmmod.conf as the CLI reads it
if [ -x "$GUEST/ksmmodctl" ]; then
	unit=$BUILD/ksmmod.service
	sed "s#/usr/sbin/ksmmodctl#$GUEST/ksmmodctl#" "$SRC/tools/ksmmodctl/ksmmod.service" >"$unit"
	if out=$(systemd-analyze verify "$unit" 2>&1) && [ -z "$out" ] &&
		out=$("$GUEST/ksmmodctl" apply --check "$SRC/tools/ksmmodctl/ksmmod.conf" 2>&1); then
		host_result pass "host:service-unit"
	else
		host_result fail "host:service-unit" "$(echo "$out" | head -n1 | cut -c1-200)"
	fi
	# the man pages render cleanly and name every setting, file and ioctl the code has
	host_lines < <("$S/check-docs.sh" "$GUEST/ksmmodctl" 2>"$LOGS/check-docs.log")
fi

# --- the kernel's KSM selftests (scripts/kselftests.sh), built once per series ----
declare -A KSELFTESTS=()
kselftests_for() { # krel -> KST: directory to pack as /kselftests (empty if the build failed)
	local ser dir
	ser=$(echo "$1" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/') # the lane's series: 6.1, 6.12, 7.3, ...
	if [ -z "${KSELFTESTS[$ser]+set}" ]; then
		dir=$BUILD/kselftests-$ser/kselftests
		if "$S/kselftests.sh" "$ser" "$dir" >"$LOGS/kselftests-$ser.log" 2>&1; then
			host_result pass "host:kselftests-build:$ser"
			KSELFTESTS[$ser]=$dir
		else
			tail -n 20 "$LOGS/kselftests-$ser.log"
			host_result fail "host:kselftests-build:$ser" "see build/logs/kselftests-$ser.log"
			KSELFTESTS[$ser]=""
		fi
	fi
	KST=${KSELFTESTS[$ser]}
}

# --- per kernel: fetch, build W=1, boot, summarise ---------------------------------
declare -A LANE_KREL=() # lane -> kernel release, for DKMS
for lane in $LANES; do
	series=${lane%:smoke}
	tests=""
	[ "$series" = "$lane" ] || tests="ksmmod.tests=$SMOKE_TESTS"
	say "=== kernel lane $series${tests:+ (smoke: $SMOKE_TESTS)} ==="
	in_chroot=""
	if [ "$series" = debug ]; then
		if ! krel=$("$S/debug-kernel.sh" 2>"$LOGS/debug-kernel.log" | tail -n1) || [ -z "$krel" ]; then
			tail -n 20 "$LOGS/debug-kernel.log"
			host_result fail "host:debug-kernel" "scripts/debug-kernel.sh failed, see build/logs/debug-kernel.log"
			continue
		fi
		in_chroot=1 # built in the trixie chroot, with its compiler
	elif chroot_target "$series" >/dev/null; then
		chroot_fetch "$series" || continue
		in_chroot=1
	else
		if ! krel=$("$S/kernels.sh" fetch "$series" | tail -n1) || [ -z "$krel" ]; then
			host_result fail "host:fetch:$series" "scripts/kernels.sh fetch $series failed"
			continue
		fi
	fi
	LANE_KREL[$series]=$krel
	klog=$LOGS/$krel
	rm -rf "$klog"
	mkdir -p "$klog"

	# out-of-tree build in build/<krel>
	bdir=$BUILD/$krel
	ko=$bdir/ksmmod.ko
	say "building module for $krel (W=1)"
	brc=0
	if [ -n "$in_chroot" ]; then
		rm -rf "$bdir"
		"$S/chroot.sh" build "$krel" "$klog/build.log" "$SRC" "$bdir" 2>"$klog/chroot-build.log" || brc=$?
		[ $brc -eq 0 ] || [ -s "$klog/build.log" ] || cp "$klog/chroot-build.log" "$klog/build.log"
	else
		"$S/build-module.sh" "$krel" "$bdir" "$klog/build.log" "$SRC" || brc=$?
	fi
	case $brc in
	0) host_result pass "host:build-W=1:$krel" ;;
	3) host_result fail "host:build-W=1:$krel" "$(grep -c 'warning:' "$klog/build.log") warning(s)" ;;
	*)
		host_result fail "host:build-W=1:$krel" "build failed, see ${klog#"$ROOT"/}/build.log"
		say "guest run for $krel not attempted"
		continue
		;;
	esac

	# initramfs + boot
	initrd=$BUILD/initramfs-$krel.cpio.gz
	# Modules the tests need from the image (zram for swap), where not built in.
	mods=()
	mdir=${KSMMOD_CACHE:-/var/cache/ksmmod}/kernels/$krel/lib/modules/$krel
	if [ -d "$mdir" ]; then
		mkdir -p "$BUILD/guestmods-$krel"
		mapfile -t mods < <("$H/guest-modules.sh" "$mdir" "$BUILD/guestmods-$krel/modules.order" zram)
		[ ${#mods[@]} -eq 0 ] || mods+=("$BUILD/guestmods-$krel/modules.order")
	fi
	# the kernel's KSM selftests of this lane's source version, at /kselftests
	kselftests_for "$krel"
	[ -z "$KST" ] || mods+=("$KST")
	"$H/mkinitramfs.sh" "$initrd" "$ko" "$GUEST" "${mods[@]}"
	# long soak and fuzzing: the per-test and the whole-guest timeouts grow with them.
	# The debug lane's other tests alone take about 1100 s under TCG (session 13).
	long="" gtimeout=${KSMMOD_GUEST_TIMEOUT:-1200}
	case " $LONG_LANES " in
	*" $lane "* | *" $series "*)
		long="ksmmod.soak=$SOAK_SECONDS ksmmod.fuzz=$FUZZ_SECONDS"
		long+=" ksmmod.test_timeout=$((300 + (SOAK_SECONDS > FUZZ_SECONDS ? SOAK_SECONDS : FUZZ_SECONDS) * 3 / 2))"
		gtimeout=$((gtimeout + (SOAK_SECONDS + FUZZ_SECONDS) * 3 / 2))
		;;
	esac
	grc=0
	# shellcheck disable=SC2086
	KSMMOD_GUEST_TIMEOUT=$gtimeout "$H/run-guest.sh" "$krel" "$initrd" "$klog" $tests $long \
		${KSMMOD_CMDLINE:-} || grc=$?
	[ $grc -eq 0 ] || say "qemu exit $grc for $krel"
	"$H/ktap-summary.sh" "$klog" "guest:$krel" | tee "$klog/summary.txt"
	# ksmmodctl's metrics and JSON output (67-ksmmodctl), through real parsers
	if grep -q '^# metrics| ' "$klog/results.ktap" 2>/dev/null; then
		if /usr/bin/python3 "$H/check-formats.py" "$klog/results.ktap" >"$klog/formats.log" 2>&1; then
			host_result pass "host:formats:$krel"
		else
			cat "$klog/formats.log"
			host_result fail "host:formats:$krel" "$(grep -m1 FAIL "$klog/formats.log" | cut -c1-200)"
		fi
	fi
	read -r _ p f s < <(tail -n1 "$klog/summary.txt")
	PASS=$((PASS + p)) FAIL=$((FAIL + f)) SKIP=$((SKIP + s))
	RESULTS+=("$(printf '%-4s guest:%s %s passed, %s failed, %s skipped, boot %ss (%s)%s' \
		"$([ "$f" = 0 ] && echo pass || echo fail)" "$krel" "$p" "$f" "$s" \
		"$(cat "$klog/boot-seconds" 2>/dev/null || echo ?)" "$(cat "$klog/accel" 2>/dev/null || echo ?)" "${tests:+, smoke subset}")")
	# name the failures (and the slowest suites) again in the summary: CI often keeps
	# only the tail of the output
	while IFS= read -r line; do
		RESULTS+=("       ${line:0:300}")
	done < <({ grep -F -e "guest:$krel: FAIL" -e "guest:$krel: splat:" "$klog/summary.txt" || true; } |
		head -n 8
		grep -F "guest:$krel: slowest suites:" "$klog/summary.txt" || true)
	# the first splat of the first lane that had one, with the lines around it: printed
	# last of all, so that even the shortest tail of the output says what the kernel said
	if [ ${#DETAIL[@]} -eq 0 ]; then
		mapfile -t DETAIL < <(awk -v h="guest:$krel: ---- console.log line" \
			'index($0, h) == 1 { n++; next } n == 1 && /:   \| / { print substr($0, 1, 200) }' \
			"$klog/summary.txt" | head -n 14)
	fi
done

# --- build-only lanes: kernels the guest suite does not run on yet ---------------
for series in $BUILD_LANES; do
	say "=== build-only lane $series ==="
	chroot_fetch "$series" || continue
	mkdir -p "$LOGS/$krel"
	brc=0
	"$S/chroot.sh" build "$krel" "$LOGS/$krel/build.log" "$SRC" "$BUILD/$krel" 2>/dev/null || brc=$?
	case $brc in
	0) host_result pass "host:build-W=1:$krel" ;;
	3) host_result fail "host:build-W=1:$krel" "$(grep -c 'warning:' "$LOGS/$krel/build.log") warning(s)" ;;
	*) host_result fail "host:build-W=1:$krel" "build failed, see build/logs/$krel/build.log" ;;
	esac
done

# --- one tiny `make bench` iteration, so the benchmark harness cannot rot --------
if [[ " $LANES " == *" 6.12 "* ]] && [ "${KSMMOD_SRC:-$ROOT}" = "$ROOT" ]; then
	say "bench harness: one quick iteration on 6.12"
	if KERNELS=6.12 BENCH_QUICK=1 "$S/bench.sh" >"$LOGS/bench-quick.log" 2>&1; then
		host_result pass "host:bench-quick"
	else
		tail -n 20 "$LOGS/bench-quick.log"
		host_result fail "host:bench-quick" "see build/logs/bench-quick.log"
	fi
fi

# --- DKMS as kernel upgrades drive it (scripts/dkms-test.sh) ----------------------
# Debian 12's dkms on the host (its two kernel series), Debian 13's in the trixie
# chroot (6.12 -> trixie-backports' 7.x); each also checks that a kernel ksmmod
# cannot support is skipped without failing the kernel's installation.
say "=== DKMS ==="
dkms_lane() { # where ka kb
	if [ -n "${KSMMOD_SKIP_DKMS:-}" ]; then
		host_result skip "host:dkms:$1" "KSMMOD_SKIP_DKMS set"
	elif [ -z "$2" ] || [ -z "$3" ]; then
		host_result skip "host:dkms:$1" "needs two of its kernels among the lanes"
	else
		host_lines < <("$S/dkms-test.sh" "$1" "$SRC" "$LOGS" "$2" "$3" 2>"$LOGS/dkms-$1.log")
	fi
}
dkms_lane host "${LANE_KREL[6.1]:-}" "${LANE_KREL[6.12]:-}"
dkms_lane trixie "${LANE_KREL[trixie-6.12]:-}" "${LANE_KREL[7-bpo]:-}"

# --- ksmmod.service under a real systemd (test/harness/systemd-guest.sh) ----------
# A 6.12 guest whose PID 1 is systemd, with the unit as shipped: it loads the
# module at boot and applies /etc/ksmmod.conf, reload reapplies, a bad file
# fails with the line named in the journal and nothing applied, no file: no-op.
say "=== systemd ==="
if [ -n "${LANE_KREL[6.12]:-}" ] && [ -f "$BUILD/${LANE_KREL[6.12]}/ksmmod.ko" ] &&
	[ -x "$GUEST/ksmmodctl" ]; then
	host_lines < <("$H/systemd-guest.sh" "${LANE_KREL[6.12]}" "$BUILD/${LANE_KREL[6.12]}/ksmmod.ko" \
		"$GUEST" "$LOGS/systemd-guest" 2>"$LOGS/systemd-guest.log")
else
	host_result skip "host:systemd" "needs the 6.12 lane's module"
fi

# --- Debian packages (scripts/deb.sh, scripts/deb-test.sh) ------------------------
# `make deb`'s packages (and the same tree as a newer version, for the upgrade)
# installed, upgraded and purged in throwaway copies of a Debian 12 and a Debian
# 13 chroot with their kernels' headers; then the module the package built loads
# and merges in a guest of each release.
say "=== Debian packages ==="
deb_guest() { # krel ko: boot it with the load and merge tests
	local krel=$1 ko=$2 dlog=$LOGS/deb-guest-$1 p f s
	rm -rf "$dlog"
	mkdir -p "$dlog"
	"$H/mkinitramfs.sh" "$BUILD/initramfs-deb-$krel.cpio.gz" "$ko" "$GUEST" 2>/dev/null
	"$H/run-guest.sh" "$krel" "$BUILD/initramfs-deb-$krel.cpio.gz" "$dlog" \
		"ksmmod.tests=10-*,70-*" >/dev/null || true
	"$H/ktap-summary.sh" "$dlog" "deb-guest:$krel" >"$dlog/summary.txt"
	read -r _ p f s < <(tail -n1 "$dlog/summary.txt")
	if [ "$f" = 0 ] && [ "$p" -gt 0 ]; then
		host_result pass "host:deb:guest:$krel" "the packaged module: $p passed, $s skipped"
	else
		grep -F -e ": FAIL" -e ": splat:" "$dlog/summary.txt" | head -n 4
		host_result fail "host:deb:guest:$krel" "$p passed, $f failed, see ${dlog#"$ROOT"/}"
	fi
}
deb_release() { # release krel...: the package test there (with the krels of the lanes
	# that ran), then a guest of the first one
	local rel=$1 k krels=()
	shift
	for k in "$@"; do
		[ -z "$k" ] || krels+=("$k")
	done
	if [ ${#krels[@]} -eq 0 ]; then
		host_result skip "host:deb:$rel" "none of its kernels among the lanes"
		return
	fi
	host_lines < <("$S/deb-test.sh" "$rel" "$BUILD/deb" "$LOGS" "$BUILD/deb-ko" "${krels[@]}" \
		2>"$LOGS/deb-test-$rel.log")
	for k in "${krels[@]}"; do
		if [ -f "$BUILD/deb-ko/$k/ksmmod.ko" ] && [ -d "$GUEST" ]; then
			deb_guest "$k" "$BUILD/deb-ko/$k/ksmmod.ko"
			return
		fi
	done
}
if [ -n "${KSMMOD_SKIP_DEB:-}" ]; then
	host_result skip "host:deb" "KSMMOD_SKIP_DEB set"
else
	rm -rf "$BUILD/deb" "$BUILD/deb-ko"
	debver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$ROOT/dkms.conf")
	if "$S/deb.sh" "$BUILD/deb" >"$LOGS/deb-build.log" 2>&1 &&
		DEB_LINTIAN=0 DEB_VERSION="$debver+check1" "$S/deb.sh" "$BUILD/deb" >>"$LOGS/deb-build.log" 2>&1; then
		host_result pass "host:deb:build" \
			"lintian: no errors, $(grep -c '^W:' "$BUILD/deb/lintian-$debver.log") warnings"
		deb_release bookworm "${LANE_KREL[6.12]:-}" "${LANE_KREL[6.1]:-}"
		deb_release trixie "${LANE_KREL[7-bpo]:-}" "${LANE_KREL[trixie-6.12]:-}"
	else
		tail -n 20 "$LOGS/deb-build.log"
		host_result fail "host:deb:build" "see build/logs/deb-build.log"
	fi
fi

# --- summary ---------------------------------------------------------------------
T1=$(date +%s)
echo
say "=== summary ==="
for r in "${RESULTS[@]}"; do echo "  $r"; done
if [ ${#DETAIL[@]} -gt 0 ]; then
	echo "first kernel splat:"
	for r in "${DETAIL[@]}"; do echo "  $r"; done
fi
# CI shows only the tail of this output: name the failures again here.
for r in "${RESULTS[@]}"; do
	case $r in fail* | *": FAIL"* | *": splat:"*) echo "  again: ${r#"${r%%[! ]*}"}" ;; esac
done
echo "wall time: $((T1 - T0))s"
echo "$PASS passed, $FAIL failed, $SKIP skipped"
[ "$FAIL" -eq 0 ]
