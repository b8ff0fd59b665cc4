#!/usr/bin/env bash
# deb.sh — `make deb`: the Debian packages ksmmod-dkms and ksmmod-tools from
# this tree, with debhelper and dh-dkms (installed when missing), then lintian.
#
#   scripts/deb.sh [OUTDIR]     packages in OUTDIR (default build/deb)
#
# Env: DEB_VERSION=V   package (and dkms.conf) version instead of dkms.conf's
#                      PACKAGE_VERSION, e.g. for an upgrade test
#      DEB_LINTIAN=0   skip lintian
# The version comes from dkms.conf (native package); debian/changelog is written
# here, in a staged copy of the tree's files (git's tracked and untracked ones,
# not build output). Exit 1 if the build fails or lintian reports an error.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$ROOT/build/deb}
base=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$ROOT/dkms.conf")
ver=${DEB_VERSION:-$base}
[ -n "$ver" ] || { echo "deb: no PACKAGE_VERSION in dkms.conf" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

need=()
for p in debhelper dh-dkms dpkg-dev build-essential; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
[ "${DEB_LINTIAN:-1}" = 0 ] || command -v lintian >/dev/null || need+=(lintian)
if [ ${#need[@]} -gt 0 ]; then
	echo "deb: installing ${need[*]}" >&2
	apt-get install -y -q --no-install-recommends "${need[@]}" >&2 ||
		{ apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${need[@]}" >&2; }
fi

stage=$out/stage
src=$stage/ksmmod-$ver
rm -rf "$stage"
mkdir -p "$src"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
	# (files deleted in the work tree but not yet in git's index are left out)
	(cd "$ROOT" && git ls-files -z -c -o --exclude-standard | grep -zv '^build/' |
		while IFS= read -r -d '' f; do
			if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
		done |
		xargs -0 cp -a --parents -t "$src")
	desc=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
else
	(cd "$ROOT" && tar -c --exclude=./build --exclude='*.o' --exclude='*.ko' .) | tar -x -C "$src"
	desc="a source tree without git"
fi
if [ "$ver" != "$base" ]; then
	sed -i "s/^PACKAGE_VERSION=.*/PACKAGE_VERSION=\"$ver\"/" "$src/dkms.conf"
fi
maint=$(sed -n 's/^Maintainer: //p' "$src/debian/control")
cat >"$src/debian/changelog" <<EOC
ksmmod ($ver) unstable; urgency=medium

  * Built from the ksmmod tree ($desc).

 -- $maint  $(date -R)
EOC

echo "deb: building ksmmod $ver in $src" >&2
(cd "$src" && DEB_BUILD_OPTIONS=noautodbgsym dpkg-buildpackage -us -uc -b) >"$stage/build.log" 2>&1 || {
	tail -n 40 "$stage/build.log" >&2
	echo "deb: dpkg-buildpackage failed, see $stage/build.log" >&2
	exit 1
}
if [ "${DEB_LINTIAN:-1}" != 0 ]; then
	# errors fail; warnings and the rest are printed
	lrc=0
	lintian --fail-on error --info "$stage/ksmmod_${ver}_amd64.changes" >"$stage/lintian.log" 2>&1 ||
		lrc=$?
	grep -v '^running with root privileges' "$stage/lintian.log" | tee "$out/lintian-$ver.log" >&2 || true
	[ $lrc = 0 ] || { echo "deb: lintian reported errors (above)" >&2; exit 1; }
fi
mv "$stage"/ksmmod-*_"$ver"_*.deb "$out/"
ls -1 "$out"/ksmmod-*_"$ver"_*.deb
