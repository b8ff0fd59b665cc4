#!/usr/bin/env bash
# guest-modules.sh — kernel modules the guest tests need from a Debian kernel
# image, with their dependencies, in load order (dependencies first).
#
#   test/harness/guest-modules.sh MODULES_DIR OUT_LIST MODULE...
#
# MODULES_DIR is lib/modules/<release> of the extracted image. Prints the paths
# of the module files (one per line, load order) and writes their basenames to
# OUT_LIST, which the guest test reads as /modules.order. A module that is
# built in (not found as a file) is skipped silently: the test then finds the
# device already there.
set -euo pipefail

[ $# -ge 3 ] || { echo "usage: $0 MODULES_DIR OUT_LIST MODULE..." >&2; exit 2; }
dir=$1 list=$2
shift 2
declare -A seen=()
order=()

visit() {
	local name=$1 file dep
	[ -n "${seen[$name]:-}" ] && return
	seen[$name]=1
	file=$(find "$dir" \( -name "$name.ko" -o -name "$name.ko.xz" -o -name "$name.ko.zst" \) -print -quit)
	[ -n "$file" ] || return 0
	for dep in $(modinfo -F depends "$file" | tr ',' ' '); do
		visit "$dep"
	done
	order+=("$file")
}

for m in "$@"; do
	visit "$m"
done
: >"$list"
for f in "${order[@]}"; do
	basename "$f" >>"$list"
	echo "$f"
done
