#!/bin/sh
# bench-guest.sh — runs inside the `make bench` guest (as its only "test"):
# every workload of /bench, alternating the kernel's KSM (ksmmod not loaded)
# and ksmmod (loaded, drop-in mode: the same madvise() calls reach it), for
# BENCH_REPS repetitions. Sizes come from the kernel command line:
# ksmmod.bench_mib=N (per process, merge workloads; the unmerge workloads
# merge N MiB in all, the metadata workload uses N/4 per process),
# ksmmod.bench_reps=N, ksmmod.bench_cpu_mib=N, ksmmod.bench_cow_pages=N,
# ksmmod.bench_rmap_mappings=N (workload 6, at max_page_sharing 256 and 100000),
# ksmmod.bench_sprof=1|a (profile each workload with /sprof: see scripts/bench.sh),
# ksmmod.bench_workloads=W1,W2 (only these workloads; for profiling a change),
# ksmmod.bench_scale_mib=N (the scale workload's largest size per process).
MIB=256 REPS=3 CPU_MIB=8 QUICK=0 COW_PAGES=4000 RMAP_MAPPINGS=100000 SCALE_MIB=64
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	ksmmod.bench_mib=*) MIB=${arg#ksmmod.bench_mib=} ;;
	ksmmod.bench_reps=*) REPS=${arg#ksmmod.bench_reps=} ;;
	ksmmod.bench_cpu_mib=*) CPU_MIB=${arg#ksmmod.bench_cpu_mib=} ;;
	ksmmod.bench_quick=1) QUICK=1 ;;
	ksmmod.bench_cow_pages=*) COW_PAGES=${arg#ksmmod.bench_cow_pages=} ;;
	ksmmod.bench_rmap_mappings=*) RMAP_MAPPINGS=${arg#ksmmod.bench_rmap_mappings=} ;;
	ksmmod.bench_sprof=*) SPROF=${arg#ksmmod.bench_sprof=} ;;
	ksmmod.bench_workloads=*) ONLY=$(echo "${arg#ksmmod.bench_workloads=}" | tr , ' ') ;;
	ksmmod.bench_scale_mib=*) SCALE_MIB=${arg#ksmmod.bench_scale_mib=} ;;
	esac
done
META_MIB=$((MIB / 4))
# The sparse workload's span: 16 GiB (1 GiB in the quick run); a KSM without
# the page table range walk (mm/ksm.c before 6.16) looks at every address
# (Debian's 6.1.0-57 and 6.12.118 have it: their scans of 4 TiB take ms).
SPARSE_GIB=16
[ "$QUICK" = 1 ] && SPARSE_GIB=1
# sparse-wide: issue 17's several TiB (one page every 2 GiB); 64 GiB quick.
SPARSE_WIDE_GIB=4096
[ "$QUICK" = 1 ] && SPARSE_WIDE_GIB=64
[ "$META_MIB" -ge 1 ] || META_MIB=1
[ "$QUICK" = 1 ] && SCALE_MIB=1
TRACE_MIB=$META_MIB
echo "# bench-config scale_mib=$SCALE_MIB trace_mib=$TRACE_MIB mib=$MIB reps=$REPS cpu_mib=$CPU_MIB cow_pages=$COW_PAGES rmap_mappings=$RMAP_MAPPINGS meta_mib=$META_MIB sparse_gib=$SPARSE_GIB sparse_wide_gib=$SPARSE_WIDE_GIB cpus=$(nproc) kernel=$(uname -r)"
echo 0 >/sys/kernel/mm/ksm/run
# Every workload, also in the quick run (make check), so none can rot.
workloads="merge merge-half cpu unique unmerge-run2 unmerge-madvise unmerge-range cow rmap-256 rmap-max metadata densify sparse sparse-wide sparse-dense advisor trace scale"
[ -z "$ONLY" ] || workloads=$ONLY
# Profiling: keep one perf event open throughout, so that the kernel's perf
# static keys are not switched for every workload (see sprof.c).
[ -n "$SPROF" ] && { /sprof --hold & }
# The trace events' cost: the merge workload (4 x TRACE_MIB identical, full
# speed, every merge fires events) with the events off and on, and for
# ksmmod also built without them (/ksmmod-notrace.ko, NOTRACE): "trace-off"
# against "trace-notrace" is what disabled events cost (TRACE_MIB above).
# Scale (issue 19): 64 processes at SCALE_MIB/8, /4, /2 and SCALE_MIB each
# (time against registered memory), then 1, 4 and 16 processes holding
# what 64 x SCALE_MIB/4 hold (the same total over more or fewer processes).
bench_scale() { # DIR
	r=0
	for m in $((SCALE_MIB / 8)) $((SCALE_MIB / 4)) $((SCALE_MIB / 2)) $SCALE_MIB; do
		[ "$m" -ge 1 ] || continue
		/bench scale "$1" "$m" 64 || r=1
	done
	total=$((64 * SCALE_MIB / 4))
	[ "$total" -ge 16 ] || total=16
	for p in 1 4 16; do
		/bench scale "$1" $((total / p)) $p || r=1
	done
	return $r
}
trace_run() { # DIR VARIANT: the merge workload, its result named trace-VARIANT
	/bench merge "$1" "$TRACE_MIB" >/tmp/trace.out
	r=$?
	sed "s/workload=merge/workload=trace-$2/" /tmp/trace.out
	return $r
}
bench_trace() { # IMPL DIR
	ev=/sys/kernel/tracing/events/ksm
	[ "$1" = ksmmod ] && ev=/sys/kernel/tracing/events/ksmmod
	[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing
	[ -d "$ev" ] || { echo "# bench workload=trace-off unsupported=1"; return 0; }
	# No comm recording: it patches __schedule's sched_switch site, and
	# under TCG another vCPU then once ran into the int3 of that patching
	# (Oops: int3 in __schedule, 6.12, seen in this workload).
	echo 0 >/sys/kernel/tracing/options/record-cmd
	if [ "$1" = ksmmod ] && [ -f /ksmmod-notrace.ko ]; then
		rmmod ksmmod && insmod /ksmmod-notrace.ko || return 1
		trace_run "$2" notrace || return 1
		rmmod ksmmod && insmod /ksmmod.ko || return 1
	fi
	echo 0 >"$ev/enable"
	trace_run "$2" off || return 1
	echo 1 >"$ev/enable"
	trace_run "$2" on || return 1
	echo 0 >"$ev/enable"
	echo >/sys/kernel/tracing/trace
}
rep=1
while [ "$rep" -le "$REPS" ]; do
	# The user-space memcmp/xxh64 ceiling, once per repetition (the report keeps the best).
	/bench ceiling /sys/kernel/mm/ksm 64 || echo "# bench-error ceiling"
	for impl in kernel ksmmod; do
		if [ "$impl" = ksmmod ]; then
			insmod /ksmmod.ko || { echo "# bench-error insmod"; exit 1; }
			dir=/sys/kernel/mm/ksmmod
		else
			rmmod ksmmod 2>/dev/null
			dir=/sys/kernel/mm/ksm
		fi
		for w in $workloads; do
			args="$w $dir $MIB"
			case "$w" in
			cpu) args="$w $dir $CPU_MIB" ;;
			cow) args="$w $dir $COW_PAGES" ;;
			rmap-256) args="rmap $dir $RMAP_MAPPINGS 256" ;;
			rmap-max) args="rmap $dir $RMAP_MAPPINGS 100000" ;;
			metadata | densify) args="$w $dir $META_MIB" ;;
			sparse | sparse-dense) args="$w $dir $SPARSE_GIB" ;;
			sparse-wide) args="$w $dir $SPARSE_WIDE_GIB" ;;
			esac
			echo "# bench-run impl=$impl rep=$rep workload=$w"
			t0=$(cut -d' ' -f1 /proc/uptime)
			if [ -n "$SPROF" ]; then
				comm=ksmd
				[ "$impl" = ksmmod ] && comm=ksmmodd
				[ "$SPROF" = a ] && comm=-a
				/sprof $comm >/tmp/sprof.out 2>&1 &
				sp=$!
				while ! grep -q sprof-ready /tmp/sprof.out && kill -0 $sp 2>/dev/null; do
					sleep 0.1
				done
			fi
			if [ "$w" = trace ]; then
				bench_trace "$impl" "$dir" ||
					echo "# bench-error impl=$impl rep=$rep workload=$w"
			elif [ "$w" = scale ]; then
				bench_scale "$dir" || echo "# bench-error impl=$impl rep=$rep workload=$w"
			else
				# shellcheck disable=SC2086 # $args is a word list
				/bench $args || echo "# bench-error impl=$impl rep=$rep workload=$w"
			fi
			if [ -n "$SPROF" ]; then
				kill -INT $sp
				wait $sp
				sed "s/^/# sp $impl $w /" /tmp/sprof.out
			fi
			echo "# bench-time impl=$impl rep=$rep workload=$w start=$t0 end=$(cut -d' ' -f1 /proc/uptime)"
		done
		[ "$impl" = ksmmod ] && rmmod ksmmod
	done
	rep=$((rep + 1))
done
echo "# bench-done"
