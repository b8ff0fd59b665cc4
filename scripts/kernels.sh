#!/usr/bin/env bash
# kernels.sh — fetch Debian 12 test kernels and host tools for ksmmod.
#
#   scripts/kernels.sh deps           install missing host tools (qemu, busybox-static, ...)
#   scripts/kernels.sh fetch SERIES   SERIES = 6.1 | 6.12: find the newest
#                                     linux-image-*-amd64-unsigned of that series via apt,
#                                     install matching linux-headers, download + extract
#                                     the image into $KSMMOD_CACHE/kernels/<krel>/.
#                                     Last stdout line: the kernel release (<krel>).
#
# Cache: ${KSMMOD_CACHE:-/var/cache/ksmmod}/{debs,kernels}. Re-runs reuse it.
# Progress goes to stderr.
set -euo pipefail

CACHE=${KSMMOD_CACHE:-/var/cache/ksmmod}
export DEBIAN_FRONTEND=noninteractive

log() { echo "kernels.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

APT_UPDATED=0
apt_update_once() {
	if [ "$APT_UPDATED" = 0 ]; then
		log "apt-get update"
		apt-get update -q >&2
		APT_UPDATED=1
	fi
}

is_installed() { # pkg
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

has_candidate() { # pkg -> true if apt knows an installable version
	local c
	c=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
	[ -n "$c" ] && [ "$c" != "(none)" ]
}

cmd_deps() {
	local want=(qemu-system-x86 busybox-static cpio gcc make libc6-dev dkms pahole kmod
		python3-prometheus-client systemd tmux man-db mandoc)
	local missing=() p
	for p in "${want[@]}"; do
		is_installed "$p" || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		log "host tools already installed"
		return 0
	fi
	log "installing: ${missing[*]}"
	for p in "${missing[@]}"; do has_candidate "$p" || { apt_update_once; break; }; done
	apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# Newest linux-image-<krel>-unsigned package name of a series (no -rt-/-cloud-).
list_image_pkgs() { # series -> candidate package names, oldest first
	local series=$1 re
	re="^linux-image-${series//./\\.}\\.[0-9]+(-[0-9]+)?(\\+deb[0-9]+)?-amd64-unsigned\$"
	apt-cache search --names-only "^linux-image-${series//./\\.}\\..*-amd64-unsigned\$" |
		awk '{print $1}' | grep -E "$re" | grep -Ev -- '-(rt|cloud)-' | sort -V
}

find_image_pkg() { # series
	local series=$1 pkgs
	pkgs=$(list_image_pkgs "$series" || true)
	if [ -z "$pkgs" ]; then
		apt_update_once
		pkgs=$(list_image_pkgs "$series" || true)
	fi
	[ -n "$pkgs" ] || die "no linux-image-*-amd64-unsigned package found for series $series"
	# newest first, take the first that actually has an installable candidate
	local p
	for p in $(echo "$pkgs" | sort -rV); do
		if has_candidate "$p"; then echo "$p"; return 0; fi
	done
	die "no installable linux-image package for series $series"
}

cmd_fetch() {
	local series=${1:-}
	case "$series" in 6.1|6.12) ;; *) die "usage: $0 fetch 6.1|6.12" ;; esac

	local pkg krel
	pkg=$(find_image_pkg "$series")
	krel=${pkg#linux-image-}
	krel=${krel%-unsigned}
	log "series $series -> $pkg (krel $krel)"

	# headers
	local hdr=linux-headers-$krel
	if is_installed "$hdr"; then
		log "$hdr already installed"
	else
		has_candidate "$hdr" || apt_update_once
		log "installing $hdr"
		apt-get install -y -q --no-install-recommends "$hdr" >&2
	fi
	[ -d "/lib/modules/$krel/build" ] || die "/lib/modules/$krel/build missing after installing $hdr"

	# image .deb (cached)
	local debs=$CACHE/debs deb
	mkdir -p "$debs"
	# let apt's sandbox user write here (avoids the "unsandboxed as root" warning)
	if id _apt >/dev/null 2>&1; then chown _apt "$debs" 2>/dev/null || true; fi
	deb=$(ls -1 "$debs/${pkg}"_*_amd64.deb 2>/dev/null | sort -V | tail -n1 || true)
	if [ -n "$deb" ]; then
		log "reusing $deb"
	else
		log "downloading $pkg"
		# apt-get download writes to the cwd; "unsandboxed as root" note is harmless
		(cd "$debs" && apt-get download -q "$pkg" >&2) || {
			apt_update_once
			(cd "$debs" && apt-get download -q "$pkg" >&2)
		}
		deb=$(ls -1 "$debs/${pkg}"_*_amd64.deb | sort -V | tail -n1)
	fi

	# extract (once)
	local kdir=$CACHE/kernels/$krel
	if [ -f "$kdir/.extracted" ] && [ -f "$kdir/vmlinuz" ]; then
		log "already extracted in $kdir"
	else
		log "extracting $(basename "$deb") -> $kdir"
		rm -rf "$kdir"
		mkdir -p "$kdir"
		dpkg-deb -x "$deb" "$kdir"
		[ -f "$kdir/boot/vmlinuz-$krel" ] || die "no boot/vmlinuz-$krel in $deb"
		ln -sf "boot/vmlinuz-$krel" "$kdir/vmlinuz"
		basename "$deb" >"$kdir/.extracted"
	fi
	echo "$krel"
}

case "${1:-}" in
deps) cmd_deps ;;
fetch) shift; cmd_fetch "$@" ;;
*) echo "usage: $0 deps | fetch 6.1|6.12" >&2; exit 2 ;;
esac
