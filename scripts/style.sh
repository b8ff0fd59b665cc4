#!/usr/bin/env bash
# style.sh — `make style`: checkpatch.pl (from Debian's linux-source package, as
# the headers packages do not ship it) over the module, UAPI, CLI and tests.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${KSMMOD_CACHE:-/var/cache/ksmmod}
tarball=$(ls /usr/src/linux-source-6.12.tar.xz 2>/dev/null || true)
if [ -z "$tarball" ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends linux-source-6.12 >&2
	tarball=/usr/src/linux-source-6.12.tar.xz
fi
cp_dir=$CACHE/checkpatch
if [ ! -x "$cp_dir/scripts/checkpatch.pl" ]; then
	mkdir -p "$cp_dir"
	tar -C "$cp_dir" --strip-components=1 -xJf "$tarball" --wildcards \
		'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch'
fi
# The symbol table is an X-macro list (include/ksmmod/symbols.h), which
# checkpatch cannot tell from a statement macro.
XMACRO=COMPLEX_MACRO,MACRO_ARG_UNUSED,TRAILING_SEMICOLON,MULTISTATEMENT_MACRO_USE_DO_WHILE
cd "$ROOT"
"$cp_dir/scripts/checkpatch.pl" --no-tree --terse --show-types \
	--ignore SPDX_LICENSE_TAG,FILE_PATH_CHANGES,LINUX_VERSION_CODE,$XMACRO \
	-f src/*.c include/ksmmod/*.h include/uapi/linux/ksmmod.h tools/ksmmodctl/*.c tools/ksmmodctl/*.h
