#!/usr/bin/env bash
# soak.sh — `make soak DURATION=...`: the soak (test/guest/95-soak.c) alone, as
# long as asked, on the debug kernel (KASAN, lockdep, kmemleak) by default,
# followed by the kmemleak check (99-kmemleak).
#
#   scripts/soak.sh [DURATION]     DURATION: seconds, or with s/m/h (default 5m)
#
# Env: KERNELS (default "debug"; any lanes of scripts/check.sh), and the
# KSMMOD_* settings check.sh reads. Logs and exit status as for check.sh.
set -euo pipefail

dur=${1:-5m}
case "$dur" in
*h) secs=$((${dur%h} * 3600)) ;;
*m) secs=$((${dur%m} * 60)) ;;
*s) secs=${dur%s} ;;
*) secs=$dur ;;
esac
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 20 ]; then
	echo "soak: DURATION '$dur' is not a length of at least 20 s (e.g. 300, 10m, 2h)" >&2
	exit 2
fi

kernels=${KERNELS:-debug}
echo "soak: $secs s on: $kernels"
exec env KERNELS="$kernels" BUILD_KERNELS= KSMMOD_SKIP_DKMS=1 LONG_LANES="$kernels" \
	SOAK_SECONDS="$secs" KSMMOD_CMDLINE="ksmmod.tests=10-*,95-*,99-* ${KSMMOD_CMDLINE:-}" \
	"$(dirname "$0")/check.sh"
