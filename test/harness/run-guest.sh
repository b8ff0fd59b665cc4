#!/usr/bin/env bash
# run-guest.sh — boot a cached Debian kernel + test initramfs under qemu, headless.
#
#   test/harness/run-guest.sh KREL INITRAMFS LOGDIR [extra kernel cmdline...]
#
# Kernel: $KSMMOD_CACHE/kernels/<krel>/boot/vmlinuz-<krel> (see kernels.sh fetch).
# ttyS0 -> LOGDIR/console.log, ttyS1 -> LOGDIR/results.ktap.
# Env: KSMMOD_GUEST_MEM (2G, split over 2 NUMA nodes), KSMMOD_GUEST_TIMEOUT (900 s, outer timeout),
#      KSMMOD_ACCEL=tcg|kvm forces the accelerator; otherwise KVM is used only if
#      /dev/kvm exists and a 20 s probe boot succeeds (verdict cached in LOGDIR/../accel).
# Exit status: qemu's (124 = outer timeout hit).
set -euo pipefail

[ $# -ge 3 ] || { echo "usage: $0 KREL INITRAMFS LOGDIR [cmdline...]" >&2; exit 2; }
krel=$1 initrd=$2 logdir=$3
shift 3

CACHE=${KSMMOD_CACHE:-/var/cache/ksmmod}
kernel=$CACHE/kernels/$krel/boot/vmlinuz-$krel
[ -f "$kernel" ] || { echo "run-guest: no kernel $kernel (run scripts/kernels.sh fetch)" >&2; exit 1; }
[ -f "$initrd" ] || { echo "run-guest: no initramfs $initrd" >&2; exit 1; }
mkdir -p "$logdir"
logdir=$(cd "$logdir" && pwd)

QEMU=${QEMU:-qemu-system-x86_64}
# proc_mem.force_override=always: Debian's 7.x kernels are built with
# PROC_MEM_FORCE_PTRACE (6.12's with PROC_MEM_ALWAYS_FORCE), so a process's
# write to its own PROT_NONE page through /proc/self/mem fails there, and
# the kernel's ksm_functional_tests test_prot_none (48-kselftests) fails with
# "ptrace write failed" before it checks anything about KSM, on the kernel's
# KSM as on ksmmod. The 6.12 default keeps that check meaningful on 7.x;
# kernels without the parameter (6.1) ignore it.
base_cmdline="console=ttyS0 panic=-1 oops=panic panic_on_warn=1 softlockup_panic=1 rdinit=/init memhp_default_state=online_movable proc_mem.force_override=always"
# Two NUMA nodes with one CPU (socket) each, so tests can migrate pages
# between nodes; one CPU per node avoids 6.1's topology warning at boot.
# A third, CPU-less node 2 is a hot-pluggable DIMM of 256 MiB, onlined as
# ZONE_MOVABLE (memhp_default_state), so that a test can move pages into
# it and take its memory blocks offline (memory hot-remove).
mem=${KSMMOD_GUEST_MEM:-2G}
mem_bytes=$(numfmt --from=iec "$mem")
node_mem=$(( mem_bytes / 2 ))
dimm_mem=$(( 256 << 20 ))
# shellcheck disable=SC2054 # the commas are inside qemu option values
qemu_common=(-nodefaults -no-user-config -no-reboot -display none -monitor none
	-machine q35 -m "$mem,slots=1,maxmem=$(( mem_bytes + dimm_mem ))" -smp 2,sockets=2
	-object "memory-backend-ram,id=m0,size=$node_mem" -object "memory-backend-ram,id=m1,size=$node_mem"
	-object "memory-backend-ram,id=m2,size=$dimm_mem"
	-numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1
	-numa node,nodeid=2 -device pc-dimm,id=dimm0,memdev=m2,node=2
	-kernel "$kernel")

# --- KVM probe ----------------------------------------------------------------
probe_kvm() { # -> prints kvm or tcg
	[ -e /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo tcg; return; }
	local tmp rc=0
	tmp=$(mktemp -d)
	mkdir -p "$tmp/root/bin" "$tmp/root/dev" "$tmp/root/proc"
	cp /bin/busybox "$tmp/root/bin/busybox"
	for a in sh mount poweroff sync; do ln -s busybox "$tmp/root/bin/$a"; done
	cat >"$tmp/root/init" <<-'EOF'
		#!/bin/sh
		/bin/mount -t devtmpfs devtmpfs /dev
		echo kvm-ok >/dev/ttyS1
		/bin/sync
		/bin/poweroff -f
	EOF
	chmod +x "$tmp/root/init"
	(cd "$tmp/root" && find . | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$tmp/probe.cpio.gz"
	: >"$tmp/probe.out"
	timeout -k 5 20 "$QEMU" "${qemu_common[@]}" -accel kvm -cpu host \
		-initrd "$tmp/probe.cpio.gz" -append "console=ttyS0 panic=-1 rdinit=/init quiet" \
		-serial null -serial "file:$tmp/probe.out" </dev/null >/dev/null 2>&1 || rc=$?
	if grep -q kvm-ok "$tmp/probe.out"; then
		echo kvm
	else
		echo "run-guest: KVM probe failed (rc=$rc$([ $rc = 124 ] && echo ', hung')); using TCG" >&2
		echo tcg
	fi
	rm -rf "$tmp"
}

accel=${KSMMOD_ACCEL:-}
accel_cache=$(dirname "$logdir")/accel
if [ -z "$accel" ]; then
	if [ -s "$accel_cache" ]; then
		accel=$(cat "$accel_cache")
	else
		accel=$(probe_kvm)
		echo "$accel" >"$accel_cache"
	fi
fi
# shellcheck disable=SC2054 # tcg,thread=multi is one qemu argument
# la57=off: with 5-level paging (which -cpu max offers) the KASAN debug kernel
# was seen to report a wild-memory-access in an early-boot interrupt, before
# any ksmmod code ran; most real x86 hosts have 4-level paging anyway.
case "$accel" in
kvm) accel_args=(-accel kvm -cpu host) ;;
tcg) accel_args=(-accel tcg,thread=multi -cpu max,la57=off) ;;
*) echo "run-guest: KSMMOD_ACCEL must be tcg or kvm, not '$accel'" >&2; exit 2 ;;
esac

# --- the real boot ------------------------------------------------------------
cmdline="$base_cmdline $*"
rm -f "$logdir/console.log" "$logdir/results.ktap"
echo "run-guest: $krel, accel=$accel, mem=${KSMMOD_GUEST_MEM:-2G}, timeout=${KSMMOD_GUEST_TIMEOUT:-900}s" >&2
echo "run-guest: cmdline: $cmdline" >&2
start=$(date +%s)
rc=0
timeout -k 10 "${KSMMOD_GUEST_TIMEOUT:-900}" "$QEMU" "${qemu_common[@]}" "${accel_args[@]}" \
	-initrd "$initrd" -append "$cmdline" \
	-serial "file:$logdir/console.log" -serial "file:$logdir/results.ktap" \
	</dev/null >"$logdir/qemu.log" 2>&1 || rc=$?
end=$(date +%s)
echo "$accel" >"$logdir/accel"
echo "$((end - start))" >"$logdir/boot-seconds"
[ $rc = 124 ] && echo "run-guest: guest hit the ${KSMMOD_GUEST_TIMEOUT:-900}s timeout" >&2
[ -s "$logdir/qemu.log" ] && sed 's/^/run-guest: qemu: /' "$logdir/qemu.log" >&2
echo "run-guest: accelerator $accel, qemu exit $rc after $((end - start))s"
exit $rc
