#!/usr/bin/env bash
# chroot.sh — build ksmmod against, and fetch, kernels of newer Debian releases.
#
# The host is Debian 12; Debian 13 (trixie, with trixie-backports) and sid
# ship kernels built with their own gcc and kbuild, so their headers are used
# inside a chroot of that release, made once with debootstrap.
#
#   scripts/chroot.sh create RELEASE        RELEASE = trixie | sid | bookworm:
#                                           create (or reuse)
#                                           $KSMMOD_CACHE/chroots/RELEASE
#                                           with build-essential and kmod
#                                           (trixie: with trixie-backports;
#                                           bookworm: for the package tests)
#   scripts/chroot.sh run RELEASE CMD...    run CMD in the chroot (/proc, /sys,
#                                           /dev mounted in a private mount
#                                           namespace: nothing stays mounted);
#                                           RELEASE may be a scratch's root
#   scripts/chroot.sh scratch RELEASE DIR   a throwaway copy of the chroot:
#                                           an overlay of it mounted at
#                                           DIR/root, its changes in DIR/upper
#   scripts/chroot.sh unscratch DIR         unmount it and remove DIR
#   scripts/chroot.sh fetch TARGET          TARGET = 7-bpo (newest 7.x of
#                                           trixie-backports), sid (newest sid
#                                           kernel), 6.12, 6.12-cloud, 6.12-rt
#                                           (trixie's 6.12 generic, cloud and
#                                           PREEMPT_RT): install its linux-headers in
#                                           the chroot, download the kernel image
#                                           and modules, extract them into
#                                           $KSMMOD_CACHE/kernels/<krel>/ in
#                                           kernels.sh's layout
#                                           (boot/vmlinuz-<krel>, vmlinuz,
#                                           lib/modules/<krel>).
#                                           Last stdout line: <krel>.
#   scripts/chroot.sh build KREL LOG [SRC [OUT]]
#                                           build ksmmod with W=1 against KREL's
#                                           headers in the chroot that has them
#                                           (and copy ksmmod.ko into OUT);
#                                           exit 0 (no warnings), 1 (failed),
#                                           3 (warnings, printed), as
#                                           build-module.sh
#   scripts/chroot.sh symbols KREL          the kernel's real System.map (from
#                                           linux-image-<krel>-dbg) into
#                                           $KSMMOD_CACHE/kernels/<krel>/System.map
#
# From 7.x Debian splits the kernel: linux-binary-<krel> holds
# usr/lib/modules/<krel>/vmlinuz, linux-modules-<krel> the modules, and there
# is no -unsigned image; trixie's 6.12 still has linux-image-<krel>-unsigned.
# Downloads are cached in $KSMMOD_CACHE/debs. Progress goes to stderr.
set -euo pipefail

CACHE=${KSMMOD_CACHE:-/var/cache/ksmmod}
MIRROR=${KSMMOD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${KSMMOD_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

log() { echo "chroot.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

chroot_dir() { # release, or an absolute path (a scratch's root)
	case "$1" in
	/*) echo "$1" ;;
	*) echo "$CACHE/chroots/$1" ;;
	esac
}

# Run a command in the chroot of $1, with /proc, /sys and /dev mounted in a
# private mount namespace (they go away with it).
in_chroot() { # release cmd...
	local dir
	dir=$(chroot_dir "$1")
	shift
	[ -x "$dir/usr/bin/apt-get" ] || die "no chroot in $dir (run: $0 create $(basename "$dir"))"
	cp /etc/resolv.conf "$dir/etc/resolv.conf"
	unshare --mount --propagation private -- /bin/sh -c '
		dir=$1; shift
		mount -t proc proc "$dir/proc" && mount -t sysfs sysfs "$dir/sys" &&
			mount --rbind /dev "$dir/dev" || exit 125
		exec chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
	' sh "$dir" "$@"
}

sources_for() { # release -> deb822 sources
	local extra=""
	case "$1" in
	trixie | bookworm)
		[ "$1" = bookworm ] || extra=" $1-backports"
		cat <<-EOF
		Types: deb
		URIs: $MIRROR
		Suites: $1 $1-updates$extra
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

		Types: deb
		URIs: $SECURITY_MIRROR
		Suites: $1-security
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
		EOF
		;;
	sid)
		cat <<-EOF
		Types: deb
		URIs: $MIRROR
		Suites: sid
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
		EOF
		;;
	*) die "unknown release $1 (trixie, sid or bookworm)" ;;
	esac
}

cmd_create() {
	local release=${1:-} dir t0
	case "$release" in trixie|sid|bookworm) ;; *) die "usage: $0 create trixie|sid|bookworm" ;; esac
	dir=$(chroot_dir "$release")
	if [ -f "$dir/.ksmmod-ready" ]; then
		log "reusing $dir"
		in_chroot "$release" apt-get update -q >&2
		return 0
	fi
	command -v debootstrap >/dev/null || apt-get install -y -q --no-install-recommends debootstrap >&2
	[ -e "/usr/share/debootstrap/scripts/$release" ] || die "debootstrap does not know $release"
	t0=$(date +%s)
	rm -rf "$dir"
	mkdir -p "$dir"
	log "debootstrap $release into $dir"
	nice -n 10 debootstrap --variant=minbase --include=ca-certificates \
		--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
		"$release" "$dir" "$MIRROR" >&2
	rm -f "$dir/etc/apt/sources.list"
	sources_for "$release" >"$dir/etc/apt/sources.list.d/debian.sources"
	# The archive may be served from a snapshot older than a Release
	# file's Valid-Until (sid's is a week): signatures are still checked.
	echo 'Acquire::Check-Valid-Until "false";' >"$dir/etc/apt/apt.conf.d/99ksmmod-snapshot"
	# No daemons from package scripts; no documentation.
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod 755 "$dir/usr/sbin/policy-rc.d"
	printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n' \
		>"$dir/etc/dpkg/dpkg.cfg.d/01-ksmmod-nodoc"
	in_chroot "$release" apt-get update -q >&2
	in_chroot "$release" nice -n 10 apt-get install -y -q --no-install-recommends \
		build-essential kmod >&2
	touch "$dir/.ksmmod-ready"
	log "$release chroot ready in $(( $(date +%s) - t0 )) s"
}

# The chroot release and the newest kernel release of a target.
target_release() { # target
	case "$1" in
	7-bpo|6.12-rt|6.12|6.12-cloud) echo trixie ;;
	sid) echo sid ;;
	*) die "unknown target $1 (7-bpo, sid, 6.12, 6.12-cloud or 6.12-rt)" ;;
	esac
}

# Newest <krel> of a target, from the package names of the chroot's apt
# (linux-headers-<krel>: one per flavour and ABI).
find_krel() { # target
	local target=$1 release re suite
	release=$(target_release "$target")
	case "$target" in
	7-bpo) re='^linux-headers-7\.[0-9]+\.[0-9]+\+deb13-amd64$'; suite='trixie-backports' ;;
	sid) re='^linux-headers-[0-9]+\.[0-9]+\.[0-9]+\+deb[0-9]+-amd64$'; suite='sid' ;;
	6.12-rt) re='^linux-headers-6\.12\.[0-9]+\+deb13-rt-amd64$'; suite='trixie(-updates|-security)?' ;;
	6.12) re='^linux-headers-6\.12\.[0-9]+\+deb13-amd64$'; suite='trixie(-updates|-security)?' ;;
	6.12-cloud) re='^linux-headers-6\.12\.[0-9]+\+deb13-cloud-amd64$'; suite='trixie(-updates|-security)?' ;;
	esac
	# The version of a suite: apt-cache madison lists each package's suites.
	in_chroot "$release" sh -c 'apt-cache search --names-only "^linux-headers-" | cut -d" " -f1' |
		grep -E "$re" | sort -V -r | while read -r pkg; do
			if in_chroot "$release" apt-cache madison "$pkg" </dev/null |
				grep -qE " $suite/"; then
				echo "${pkg#linux-headers-}"
				break
			fi
		done
}

# Image packages of a target's kernel: 7.x split linux-binary/linux-modules;
# 6.12 the -unsigned image.
image_pkgs() { # release krel
	if in_chroot "$1" apt-cache show "linux-binary-$2" >/dev/null 2>&1; then
		echo "linux-binary-$2 linux-modules-$2"
	else
		echo "linux-image-$2-unsigned"
	fi
}

cmd_fetch() {
	local target=${1:-} release krel pkgs p deb debs kdir t0
	[ -n "$target" ] || die "usage: $0 fetch 7-bpo|sid|6.12|6.12-cloud|6.12-rt"
	release=$(target_release "$target")
	cmd_create "$release"
	krel=$(find_krel "$target")
	[ -n "$krel" ] || die "no kernel found for $target"
	log "$target -> $krel"

	# trixie's 6.12 headers depend on their image (which pulls in
	# initramfs-tools and systemd); 7.x's do not.
	t0=$(date +%s)
	in_chroot "$release" nice -n 10 apt-get install -y -q --no-install-recommends \
		"linux-headers-$krel" >&2
	[ -d "$(chroot_dir "$release")/usr/lib/modules/$krel/build" ] ||
		die "/usr/lib/modules/$krel/build missing in the $release chroot"
	log "headers installed in $(( $(date +%s) - t0 )) s"

	debs=$CACHE/debs
	mkdir -p "$debs"
	pkgs=$(image_pkgs "$release" "$krel")
	kdir=$CACHE/kernels/$krel
	if [ -f "$kdir/.extracted" ] && [ -e "$kdir/boot/vmlinuz-$krel" ]; then
		log "already extracted in $kdir"
		echo "$krel"
		return 0
	fi
	t0=$(date +%s)
	rm -rf "$kdir"
	mkdir -p "$kdir"
	for p in $pkgs; do
		deb=$(ls -1 "$debs/${p}"_*_amd64.deb 2>/dev/null | sort -V | tail -n1 || true)
		if [ -z "$deb" ]; then
			log "downloading $p"
			in_chroot "$release" sh -c 'mkdir -p /tmp/dl && cd /tmp/dl && rm -f ./*.deb &&
				apt-get download -q "$1"' sh "$p" >&2
			mv "$(chroot_dir "$release")"/tmp/dl/"${p}"_*_amd64.deb "$debs/"
			deb=$(ls -1 "$debs/${p}"_*_amd64.deb | sort -V | tail -n1)
		else
			log "reusing $deb"
		fi
		dpkg-deb -x "$deb" "$kdir"
		basename "$deb" >>"$kdir/.extracted.tmp"
	done
	# kernels.sh's layout: boot/vmlinuz-<krel> and lib/modules/<krel>.
	if [ ! -e "$kdir/boot/vmlinuz-$krel" ]; then
		[ -f "$kdir/usr/lib/modules/$krel/vmlinuz" ] || die "no vmlinuz in $pkgs"
		mkdir -p "$kdir/boot"
		ln -sf "../usr/lib/modules/$krel/vmlinuz" "$kdir/boot/vmlinuz-$krel"
	fi
	# Merged /usr, as on the release's own systems (a symlink at lib, not
	# lib/modules/<krel>: `find lib/modules/<krel>` must descend into it).
	if [ ! -e "$kdir/lib" ] && [ -d "$kdir/usr/lib/modules/$krel" ]; then
		ln -s usr/lib "$kdir/lib"
	fi
	[ -d "$kdir/lib/modules/$krel/kernel" ] || die "no modules in $pkgs"
	ln -sf "boot/vmlinuz-$krel" "$kdir/vmlinuz"
	mv "$kdir/.extracted.tmp" "$kdir/.extracted"
	log "image fetched and extracted in $(( $(date +%s) - t0 )) s"
	echo "$krel"
}

# The kernel's real System.map, from its -dbg package (about 1.2 GB, not kept).
cmd_symbols() {
	local krel=${1:-} release dir kdir t0
	[ -n "$krel" ] || die "usage: $0 symbols KREL"
	release=$(krel_release "$krel")
	dir=$(chroot_dir "$release")
	kdir=$CACHE/kernels/$krel
	[ -d "$kdir" ] || die "$kdir missing (run: $0 fetch TARGET)"
	if [ -s "$kdir/System.map" ]; then
		log "reusing $kdir/System.map"
		return 0
	fi
	t0=$(date +%s)
	in_chroot "$release" sh -c 'mkdir -p /tmp/dbg && cd /tmp/dbg && rm -f ./*.deb &&
		apt-get download -q "linux-image-$1-dbg"' sh "$krel" >&2
	rm -rf "$dir/tmp/dbg/x"
	mkdir -p "$dir/tmp/dbg/x"
	dpkg-deb --fsys-tarfile "$dir"/tmp/dbg/linux-image-"$krel"-dbg_*_amd64.deb |
		nice -n 10 tar -x -C "$dir/tmp/dbg/x" --wildcards '*/System.map*'
	find "$dir/tmp/dbg/x" -name 'System.map*' -size +1M -exec cp {} "$kdir/System.map" \;
	rm -rf "$dir/tmp/dbg"
	[ -s "$kdir/System.map" ] || die "no System.map in linux-image-$krel-dbg"
	log "$kdir/System.map in $(( $(date +%s) - t0 )) s"
}

# Which chroot has the headers of a kernel release.
krel_release() { # krel
	local r
	for r in trixie sid; do
		if [ -d "$(chroot_dir "$r")/usr/lib/modules/$1/build" ]; then
			echo "$r"
			return 0
		fi
	done
	die "no chroot has the headers of $1 (run: $0 fetch TARGET)"
}

cmd_build() {
	local krel=${1:-} logf=${2:-} src=${3:-$ROOT} out=${4:-} release dir bdir item rc=0
	if [ -z "$krel" ] || [ -z "$logf" ]; then
		die "usage: $0 build KREL LOG [SRC [OUT]]"
	fi
	src=$(cd "$src" && pwd)
	release=$(krel_release "$krel")
	dir=$(chroot_dir "$release")
	bdir=/build/ksmmod-$krel
	rm -rf "${dir:?}$bdir"
	mkdir -p "$dir$bdir" "$(dirname "$logf")"
	for item in Kbuild dkms.conf src include "$src"/*.mk; do
		item=${item#"$src"/}
		[ -e "$src/$item" ] && cp -a "$src/$item" "$dir$bdir/"
	done
	# (KCFLAGS, as build-module.sh's make takes it from the environment)
	in_chroot "$release" nice -n 10 make -C "/usr/lib/modules/$krel/build" M="$bdir" W=1 \
		${KCFLAGS:+KCFLAGS="$KCFLAGS"} -j"$(nproc)" modules >"$logf" 2>&1 || rc=$?
	if [ $rc -ne 0 ] || [ ! -f "$dir$bdir/ksmmod.ko" ]; then
		tail -n 40 "$logf" >&2
		exit 1
	fi
	if [ -n "$out" ]; then
		mkdir -p "$out"
		cp "$dir$bdir/ksmmod.ko" "$out/ksmmod.ko"
	fi
	if grep -n 'warning:' "$logf" >&2; then
		exit 3
	fi
	log "built $dir$bdir/ksmmod.ko"
}

# A throwaway copy of a release's chroot: package tests install and purge in
# it and leave the cached chroot as it was.
cmd_scratch() { # release dir
	local release=${1:-} dir=${2:-} lower
	[ -n "$release" ] && [ -n "$dir" ] || die "usage: $0 scratch RELEASE DIR"
	lower=$(chroot_dir "$release")
	[ -f "$lower/.ksmmod-ready" ] || die "no chroot in $lower (run: $0 create $release)"
	cmd_unscratch "$dir"
	mkdir -p "$dir/root" "$dir/upper" "$dir/work"
	mount -t overlay overlay -o "lowerdir=$lower,upperdir=$dir/upper,workdir=$dir/work" "$dir/root" ||
		die "cannot mount an overlay of $lower at $dir/root"
}

cmd_unscratch() { # dir
	local dir=${1:-}
	[ -n "$dir" ] || die "usage: $0 unscratch DIR"
	if mountpoint -q "$dir/root" 2>/dev/null; then
		umount "$dir/root" || umount -l "$dir/root"
	fi
	! mountpoint -q "$dir/root" 2>/dev/null || die "$dir/root is still mounted"
	rm -rf "$dir"
}

case "${1:-}" in
create) shift; cmd_create "$@" ;;
scratch) shift; cmd_scratch "$@" ;;
unscratch) shift; cmd_unscratch "$@" ;;
run) shift; [ $# -ge 2 ] || die "usage: $0 run RELEASE CMD..."; in_chroot "$@" ;;
fetch) shift; cmd_fetch "$@" ;;
build) shift; cmd_build "$@" ;;
symbols) shift; cmd_symbols "$@" ;;
*)
	echo "usage: $0 create trixie|sid|bookworm | run RELEASE CMD... | scratch RELEASE DIR |" \
		"unscratch DIR | fetch 7-bpo|sid|6.12|6.12-cloud|6.12-rt |" \
		"build KREL LOG [SRC] | symbols KREL" >&2
	exit 2
	;;
esac
