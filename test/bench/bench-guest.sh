#!/bin/sh
# bench-guest.sh — runs inside the `make bench` guest (as its only "test"):
# every workload of /bench, alternating the kernel's KSM (ksmmod not loaded)
# and ksmmod (loaded, drop-in mode: the same madvise() calls reach it), for
# BENCH_REPS repetitions. Sizes come from the kernel command line:
# ksmmod.bench_mib=N (per process, merge workloads), ksmmod.bench_reps=N.
MIB=32 REPS=3 CPU_MIB=8 QUICK=0
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	ksmmod.bench_mib=*) MIB=${arg#ksmmod.bench_mib=} ;;
	ksmmod.bench_reps=*) REPS=${arg#ksmmod.bench_reps=} ;;
	ksmmod.bench_cpu_mib=*) CPU_MIB=${arg#ksmmod.bench_cpu_mib=} ;;
	ksmmod.bench_quick=1) QUICK=1 ;;
	esac
done
echo "# bench-config mib=$MIB reps=$REPS cpu_mib=$CPU_MIB cpus=$(nproc) kernel=$(uname -r)"
echo 0 >/sys/kernel/mm/ksm/run
/bench ceiling /sys/kernel/mm/ksm 64 || echo "# bench-error ceiling"
workloads="merge merge-half cpu unique"
[ "$QUICK" = 1 ] && workloads="merge"
rep=1
while [ "$rep" -le "$REPS" ]; do
	for impl in kernel ksmmod; do
		if [ "$impl" = ksmmod ]; then
			insmod /ksmmod.ko || { echo "# bench-error insmod"; exit 1; }
			dir=/sys/kernel/mm/ksmmod
		else
			rmmod ksmmod 2>/dev/null
			dir=/sys/kernel/mm/ksm
		fi
		for w in $workloads; do
			size=$MIB
			[ "$w" = cpu ] && size=$CPU_MIB
			echo "# bench-run impl=$impl rep=$rep workload=$w"
			/bench "$w" "$dir" "$size" || echo "# bench-error impl=$impl rep=$rep workload=$w"
		done
		[ "$impl" = ksmmod ] && rmmod ksmmod
	done
	rep=$((rep + 1))
done
echo "# bench-done"
