#!/usr/bin/env bash
# debug-kernel.sh — build (once) and cache the debug-lane kernel: Debian's
# linux-source-6.12 with defconfig + kvm_guest.config + test/debug.config
# (KASAN, lockdep, DEBUG_VM, KFENCE, kmemleak, ...).
#
#   scripts/debug-kernel.sh     prints the kernel release as its last line
#
# Cache: $KSMMOD_CACHE/debug/<source version>-<fragment hash>/ holds the built
# tree (the module is built against it: Module.symvers, .config, headers), and
# the kernel is also placed where run-guest.sh looks:
# $KSMMOD_CACHE/kernels/<release>/boot/vmlinuz-<release>, with
# $KSMMOD_CACHE/kernels/<release>/build pointing at the tree.
# A second run with the same source package and fragment rebuilds nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${KSMMOD_CACHE:-/var/cache/ksmmod}
FRAG=$ROOT/test/debug.config
say() { echo "debug-kernel: $*" >&2; }

if ! dpkg -s linux-source-6.12 >/dev/null 2>&1; then
	say "installing linux-source-6.12 and the kernel build dependencies"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		linux-source-6.12 >&2 || { apt-get update >&2 && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		linux-source-6.12 >&2; }
fi
need=()
for p in bc bison flex libelf-dev libssl-dev xz-utils make gcc; do
	dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2
fi

srcver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
key=$srcver-$(cat "$FRAG" "$0" | sha256sum | cut -c1-12)
dir=$CACHE/debug/$key
tree=$dir/linux
if [ -f "$dir/done" ]; then
	krel=$(cat "$dir/done")
	say "reusing $dir ($krel)"
else
	rm -rf "$dir"
	mkdir -p "$dir"
	say "unpacking linux-source-6.12 $srcver"
	tar -C "$dir" -xJf /usr/src/linux-source-6.12.tar.xz
	mv "$dir"/linux-source-6.12 "$tree"
	cd "$tree"
	make -s defconfig >&2
	make -s kvm_guest.config >&2
	scripts/kconfig/merge_config.sh -m -O . .config "$FRAG" >"$dir/merge.log" 2>&1
	make -s olddefconfig >&2
	# Every option of the fragment must have the value asked for.
	bad=0
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*)
			grep -qxF "$line" .config || { say "config: wanted $line, got: $(grep "^${line%%=*}=" .config || echo unset)"; bad=1; }
			;;
		"# CONFIG_"*" is not set")
			opt=${line#\# }; opt=${opt%% *}
			if grep -q "^$opt=" .config; then say "config: wanted $opt unset, got $(grep "^$opt=" .config)"; bad=1; fi
			;;
		esac
	done <"$FRAG"
	[ $bad = 0 ] || { say "the fragment was not applied as written"; exit 1; }
	say "building bzImage with $(nproc) jobs (about 20 minutes on 2 cores)"
	start=$(date +%s)
	make -j"$(nproc)" bzImage modules >"$dir/build.log" 2>&1 || { tail -n 40 "$dir/build.log" >&2; exit 1; }
	make -s modules_prepare >&2
	say "built in $(( $(date +%s) - start ))s"
	krel=$(make -s kernelrelease)
	echo "$krel" >"$dir/done"
fi

kdir=$CACHE/kernels/$krel
mkdir -p "$kdir/boot"
cp -f "$tree/arch/x86/boot/bzImage" "$kdir/boot/vmlinuz-$krel"
ln -sfn "$tree" "$kdir/build"
echo "$krel"
