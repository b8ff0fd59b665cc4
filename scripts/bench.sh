#!/usr/bin/env bash
# bench.sh — `make bench`: ksmmod against the kernel's own KSM, side by side in
# the same guest boot, same workloads, same knobs (test/bench/).
#
#   scripts/bench.sh              (root, Debian 12; KERNELS="6.12" by default)
#
# Env: KERNELS="6.1 6.12"   kernels to bench (one guest boot each): 6.1, 6.12 (Debian
#                           12), or 7-bpo, sid (trixie-backports' newest 7.x, sid's
#                           newest: fetched and built in a chroot, scripts/chroot.sh)
#      BENCH_MIB=N          MiB per process of the merge workloads (default 256, the
#                           issue's size; unmerge: N MiB in all; metadata: N/4 each)
#      BENCH_REPS=N         repetitions of each workload and implementation (3)
#      BENCH_CPU_MIB=N      MiB per process of the default-knobs CPU workload (8)
#      BENCH_COW_PAGES=N    pages written in the CoW workload (4000)
#      BENCH_RMAP_MAPPINGS=N mappings of one content in the rmap workload (100000)
#      BENCH_SCALE_MIB=N    the scale workload's largest size per process, 64
#                           processes at N/8..N (default 64: 4 GiB registered)
#      BENCH_GUEST_MEM=SIZE the guest's memory (default 8G: the scale workload's
#                           4 GiB; the quick run keeps run-guest.sh's 2G)
#      BENCH_OUTDIR=DIR     where the full run writes (bench/results)
#      BENCH_QUICK=1        one tiny iteration (make check uses it: the harness
#                           cannot rot); writes to build/bench-quick/ only
#      BENCH_WORKLOADS=W,W  only these workloads (names as in test/bench/bench-guest.sh;
#                           the report shows n/a for the others): for trying a change
#      BENCH_SPROF=1|a      profile every workload with test/bench/sprof.c (sampled
#                           kernel call chains; no hardware counters under TCG):
#                           1 = the scanner thread (ksmd or ksmmodd), a = all CPUs;
#                           "# sp IMPL WORKLOAD ..." lines in the guest's
#                           results.ktap (build/bench/logs/<kernel>/). Sampling
#                           slows the scanners: do not compare times of such runs
# Output: bench/results/<kernel>.md (medians, min-max, ksmmod/kernel ratios),
# <kernel>.csv (every sample) and <kernel>-merge.png (saved MiB over time).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
S=$ROOT/scripts
H=$ROOT/test/harness
[ "$(id -u)" = 0 ] || { echo "bench: must run as root (apt)" >&2; exit 2; }
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	D=$ROOT/build/bench-quick OUTDIR=$D/results MIB=4 REPS=1 CPU_MIB=1 COW_PAGES=400
	RMAP_MAPPINGS=1024
else
	D=$ROOT/build/bench OUTDIR=${BENCH_OUTDIR:-$ROOT/bench/results}
	MIB=${BENCH_MIB:-256} REPS=${BENCH_REPS:-3} CPU_MIB=${BENCH_CPU_MIB:-8}
	SCALE_MIB=${BENCH_SCALE_MIB:-64} GUEST_MEM=${BENCH_GUEST_MEM:-8G}
	COW_PAGES=${BENCH_COW_PAGES:-4000} RMAP_MAPPINGS=${BENCH_RMAP_MAPPINGS:-100000}
fi

"$S/kernels.sh" deps
if ! command -v gnuplot >/dev/null; then
	echo "bench: installing gnuplot-nox" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnuplot-nox >&2 ||
		echo "bench: no gnuplot: the chart is skipped" >&2
fi
mkdir -p "$D/bin" "$D/logs" "$OUTDIR"
make -s -C "$ROOT/test/bench" OUT="$D/prog" >/dev/null
cp "$ROOT/test/bench/bench-guest.sh" "$D/bin/bench"

rc=0
for series in ${KERNELS:-6.12}; do
	case $series in
	7-bpo | sid)
		krel=$("$S/chroot.sh" fetch "$series" | tail -n1)
		build() { "$S/chroot.sh" build "$krel" "$2" "$ROOT" "$1"; } ;;
	*)
		krel=$("$S/kernels.sh" fetch "$series" | tail -n1)
		build() { "$S/build-module.sh" "$krel" "$1" "$2"; } ;;
	esac
	echo "bench: building ksmmod for $krel" >&2
	build "$D/$krel" "$D/logs/build-$krel.log"
	# The trace workload's baseline: the same module with its trace points
	# compiled out (linux/tracepoint.h's NOTRACE).
	KCFLAGS=-DNOTRACE build "$D/$krel-notrace" "$D/logs/build-$krel-notrace.log"
	cp "$D/$krel-notrace/ksmmod.ko" "$D/ksmmod-notrace.ko"
	"$H/mkinitramfs.sh" "$D/initramfs-$krel.cpio.gz" "$D/$krel/ksmmod.ko" "$D/bin" \
		"$D/prog/bench" "$D/prog/sprof" "$D/ksmmod-notrace.ko" >/dev/null
	echo "bench: booting $krel (mib=$MIB reps=$REPS)" >&2
	t0=$(date +%s)
	KSMMOD_GUEST_TIMEOUT=${KSMMOD_GUEST_TIMEOUT:-1800} KSMMOD_GUEST_MEM=${GUEST_MEM:-2G} \
		"$H/run-guest.sh" "$krel" "$D/initramfs-$krel.cpio.gz" "$D/logs/$krel" \
		ksmmod.test_timeout=1700 ksmmod.bench_mib="$MIB" ksmmod.bench_reps="$REPS" \
		ksmmod.bench_cpu_mib="$CPU_MIB" ksmmod.bench_quick="$QUICK" \
		ksmmod.bench_cow_pages="$COW_PAGES" ksmmod.bench_rmap_mappings="$RMAP_MAPPINGS" \
		${BENCH_SPROF:+ksmmod.bench_sprof="$BENCH_SPROF"} \
		${BENCH_WORKLOADS:+ksmmod.bench_workloads="$BENCH_WORKLOADS"} \
		${SCALE_MIB:+ksmmod.bench_scale_mib="$SCALE_MIB"} \
		>/dev/null || rc=$?
	echo "bench: guest run took $(($(date +%s) - t0)) s" >&2
	if ! grep -q '^# bench-done' "$D/logs/$krel/results.ktap"; then
		echo "bench: the guest did not finish; see $D/logs/$krel/console.log" >&2
		rc=1
		continue
	fi
	if grep -q '^# bench-error' "$D/logs/$krel/results.ktap"; then
		grep '^# bench-error' "$D/logs/$krel/results.ktap" >&2
		rc=1
	fi
	python3 "$ROOT/test/bench/report.py" "$D/logs/$krel/results.ktap" "$OUTDIR" "$krel" || rc=1
done
exit $rc
