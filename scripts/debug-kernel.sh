#!/usr/bin/env bash
# debug-kernel.sh — build (once) and cache the debug-lane kernel: the newest
# series of the support matrix (trixie-backports' linux-source-7.3), built in
# the trixie chroot (scripts/chroot.sh) with that release's gcc, from
# defconfig + kvm_guest.config + test/debug.config (KASAN, lockdep, DEBUG_VM,
# KFENCE, kmemleak, fault injection, ...).
#
#   scripts/debug-kernel.sh     prints the kernel release as its last line
#
# Env: KSMMOD_DEBUG_SERIES=7.3  the linux-source-<series> package to build
#
# Cache: the built tree lives inside the trixie chroot at
# /usr/src/ksmmod-debug/<source version>-<fragment hash>/linux, with
# /usr/lib/modules/<release>/build pointing at it there, so that
# `scripts/chroot.sh build <release>` builds the module against it with the
# same compiler. The kernel is also placed where run-guest.sh looks:
# $KSMMOD_CACHE/kernels/<release>/boot/vmlinuz-<release>.
# A second run with the same source package, fragment and RECIPE rebuilds nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${KSMMOD_CACHE:-/var/cache/ksmmod}
FRAG=$ROOT/test/debug.config
SERIES=${KSMMOD_DEBUG_SERIES:-7.3}
REL=trixie
CH=$CACHE/chroots/$REL
say() { echo "debug-kernel: $*" >&2; }
inch() { "$ROOT/scripts/chroot.sh" run "$REL" "$@"; }

"$ROOT/scripts/chroot.sh" create "$REL" >&2
need=()
# dwarves (pahole): the module's W=1 build warns when its pahole differs from the
# kernel's; without it here, the kernel's would depend on which lanes ran first.
for p in "linux-source-$SERIES" bc bison flex libelf-dev libssl-dev xz-utils make gcc cpio dwarves; do
	inch dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]} in the $REL chroot"
	inch nice -n 10 apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi

srcver=$(inch dpkg-query -W -f='${Version}' "linux-source-$SERIES")
# Bump RECIPE when a change of this script changes what gets built (a key
# over the whole script would rebuild for every comment). The key covers the
# fragment's options only: a comment there changes nothing built either.
RECIPE=3
key=$srcver-$( { grep -E '^(CONFIG_|# CONFIG_[A-Za-z0-9_]+ is not set)' "$FRAG" | sed 's/[[:space:]]*$//'
	echo "recipe $RECIPE"; } | sha256sum | cut -c1-12)
rel=/usr/src/ksmmod-debug/$key # inside the chroot
dir=$CH$rel
if [ -f "$dir/done" ]; then
	krel=$(cat "$dir/done")
	say "reusing $dir ($krel)"
else
	# older builds (this script's and the 6.12 one built on the host before)
	rm -rf "$CH/usr/src/ksmmod-debug" "$CACHE/debug" "$CACHE"/kernels/*-ksmmod-debug
	# A fresh minimal chroot has no modules directory yet.
	[ ! -d "$CH/usr/lib/modules" ] ||
		find "$CH/usr/lib/modules" -maxdepth 1 -name '*-ksmmod-debug' -exec rm -rf {} +
	mkdir -p "$dir"
	say "unpacking linux-source-$SERIES $srcver"
	tar -C "$dir" -xJf "$CH/usr/src/linux-source-$SERIES.tar.xz"
	mv "$dir/linux-source-$SERIES" "$dir/linux"
	cp "$FRAG" "$dir/debug.config"
	start=$(date +%s)
	say "configuring and building bzImage with $(nproc) jobs (about 19 minutes on 2 cores)"
	inch sh -c 'cd "$1/linux" && make -s defconfig && make -s kvm_guest.config &&
		scripts/kconfig/merge_config.sh -m -O . .config ../debug.config >../merge.log 2>&1 &&
		make -s olddefconfig' sh "$rel" >&2
	# Every option of the fragment must have the value asked for.
	bad=0
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*)
			grep -qxF "$line" "$dir/linux/.config" ||
				{ say "config: wanted $line, got: $(grep "^${line%%=*}=" "$dir/linux/.config" || echo unset)"; bad=1; }
			;;
		"# CONFIG_"*" is not set")
			opt=${line#\# }; opt=${opt%% *}
			if grep -q "^$opt=" "$dir/linux/.config"; then
				say "config: wanted $opt unset, got $(grep "^$opt=" "$dir/linux/.config")"; bad=1
			fi
			;;
		esac
	done <"$FRAG"
	[ $bad = 0 ] || { say "the fragment was not applied as written"; exit 1; }
	if ! inch sh -c 'cd "$1/linux" && nice -n 5 make -j"$2" bzImage modules >../build.log 2>&1 &&
		make -s modules_prepare' sh "$rel" "$(nproc)" >&2; then
		tail -n 40 "$dir/build.log" >&2
		exit 1
	fi
	say "built in $(( $(date +%s) - start ))s"
	krel=$(inch make -s -C "$rel/linux" kernelrelease)
	echo "$krel" >"$dir/done"
fi

# The module is built in the chroot: its kbuild finds the tree as usual.
mkdir -p "$CH/usr/lib/modules/$krel"
# relative, so that it also resolves from the host (scripts/chroot.sh looks)
ln -sfn "../../../src/ksmmod-debug/$key/linux" "$CH/usr/lib/modules/$krel/build"
kdir=$CACHE/kernels/$krel
mkdir -p "$kdir/boot"
cp -f "$dir/linux/arch/x86/boot/bzImage" "$kdir/boot/vmlinuz-$krel"
echo "$krel"
