#!/usr/bin/env bash
# check-docs.sh — host-side check of ksmmod's man pages and bash completion
# (issue 20): they render without a warning, as lintian renders them, and
# they name everything the code has.
#
#   scripts/check-docs.sh BUILT_KSMMODCTL
#
# BUILT_KSMMODCTL: a ksmmodctl binary built from this tree, e.g.
#   make -C tools/ksmmodctl OUT=/tmp/kc && scripts/check-docs.sh /tmp/kc/ksmmodctl
# (its `help` lists the commands and parameters it knows; nothing is done
# with the device).
#
# Prints "pass docs:NAME" or "fail docs:NAME (reason)" per check; exits 1 if
# any failed, 2 on a usage error. Needs man-db (man, lexgrog) or at least
# groff; mandoc -Tlint is run as well if installed.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 BUILT_KSMMODCTL" >&2
	exit 2
fi
KSMMODCTL=$1
if [ ! -x "$KSMMODCTL" ]; then
	echo "$0: $KSMMODCTL: not an executable (build one: make -C tools/ksmmodctl OUT=DIR)" >&2
	exit 2
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MAN8=$ROOT/tools/ksmmodctl/man/ksmmodctl.8
MAN4=$ROOT/tools/ksmmodctl/man/ksmmod.4
COMPLETION=$ROOT/tools/ksmmodctl/ksmmodctl.bash-completion

failed=0
pass() { echo "pass docs:$1"; }
fail() {
	echo "fail docs:$1 ($2)"
	failed=1
}

# First line(s) of $1, joined, at most 200 characters: a reason.
brief() { printf '%s' "$1" | head -n 3 | tr '\n' ' ' | cut -c1-200; }

# The identifiers of the .TP tags (the line after .TP) in section $2 of man
# page $1, subsections included, one a line: quoted strings and font escapes
# dropped, so '.BR KSMMOD_IOC_API " (struct ksmmod_api)"' gives KSMMOD_IOC_API
# and '.BR ksm_enter ", " ksm_exit' both names.
man_tags() {
	awk -v sec="$2" '
		/^\.SH[ \t]/ {
			s = $0
			sub(/^\.SH[ \t]+/, "", s)
			gsub(/"/, "", s)
			insec = (s == sec)
			tag = 0
			next
		}
		!insec { next }
		/^\.TP/ { tag = 1; next }
		tag && /^\.\\"/ { next }
		tag {
			tag = 0
			line = $0
			sub(/^\.[A-Za-z]+[ \t]*/, "", line)
			gsub(/"[^"]*"/, " ", line)
			gsub(/\\f[A-Z]/, " ", line)
			gsub(/\\\(../, " ", line)
			gsub(/\\-/, " ", line)
			gsub(/[^A-Za-z0-9_]+/, " ", line)
			n = split(line, w, " ")
			for (i = 1; i <= n; i++)
				if (w[i] ~ /^[A-Za-z_]/)
					print w[i]
		}
	' "$1" | sort -u
}

# Check that every name of list $2 (one a line) is a tag of section $3 of
# man page $1 and, unless $5 is "forward", that every tag there is in the
# list. Reports as check $4.
check_names() {
	local page=$1 names=$2 sec=$3 check=$4 mode=${5:-both}
	local tags missing extra

	if [ -z "$names" ]; then
		fail "$check" "found no names in the source to check"
		return
	fi
	tags=$(man_tags "$page" "$sec")
	missing=$(comm -23 <(printf '%s\n' "$names" | sort -u) <(printf '%s\n' "$tags"))
	extra=
	[ "$mode" = forward ] ||
		extra=$(comm -13 <(printf '%s\n' "$names" | sort -u) <(printf '%s\n' "$tags"))
	if [ -n "$missing" ]; then
		fail "$check" "not in ${page##*/} section $sec: $(tr '\n' ' ' <<<"$missing")"
	elif [ -n "$extra" ]; then
		fail "$check" "in ${page##*/} section $sec but not in the code: $(tr '\n' ' ' <<<"$extra")"
	else
		pass "$check"
	fi
}

# --- Rendering, as lintian does it -------------------------------------------

for page in "$MAN8" "$MAN4"; do
	name=${page##*/}
	if [ ! -f "$page" ]; then
		fail "$name-render" "missing"
		continue
	fi
	# lintian's manpages check: any output on stderr is a warning.
	if command -v man >/dev/null; then
		out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
			man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null) && rc=0 || rc=$?
	elif command -v groff >/dev/null; then
		out=$(groff -man -ww -z "$page" 2>&1) && rc=0 || rc=$?
	else
		fail "$name-render" "neither man nor groff installed (apt-get install man-db groff-base)"
		continue
	fi
	if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
		fail "$name-render" "exit $rc: $(brief "$out")"
	else
		pass "$name-render"
	fi

	if command -v mandoc >/dev/null; then
		out=$(mandoc -Tlint -W warning "$page" 2>&1) && rc=0 || rc=$?
		if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
			fail "$name-mandoc" "$(brief "$out")"
		else
			pass "$name-mandoc"
		fi
	fi

	# lintian's bad-whatis-entry: the NAME line as mandb parses it.
	if command -v lexgrog >/dev/null; then
		out=$(lexgrog "$page" 2>&1) && rc=0 || rc=$?
		if [ "$rc" -ne 0 ] || ! printf '%s' "$out" | grep -q ' - '; then
			fail "$name-whatis" "lexgrog: $(brief "$out")"
		else
			pass "$name-whatis"
		fi
	fi

	# .TH TITLE SECTION YYYY-MM-DD "ksmmod" ...: the Debian header.
	sect=${name##*.}
	title=$(echo "${name%.*}" | tr '[:lower:]' '[:upper:]')
	if grep -Eq "^\.TH $title $sect [0-9]{4}-[0-9]{2}-[0-9]{2} \"ksmmod\"" "$page"; then
		pass "$name-th"
	else
		fail "$name-th" "want: .TH $title $sect YYYY-MM-DD \"ksmmod\" ..."
	fi

	# An unescaped "-" where a dash or option starts (lintian's old
	# hyphen-used-as-minus-sign): options must be written \- to be typed
	# as shown.
	out=$(grep -nE '(^|[[:space:]"([|])-' "$page" | grep -v '^[0-9]*:\.\\"' || true)
	if [ -n "$out" ]; then
		fail "$name-minus" "write \\- : $(brief "$out")"
	else
		pass "$name-minus"
	fi
done

# --- Completion ----------------------------------------------------------------

if out=$(bash -n "$COMPLETION" 2>&1); then
	pass "completion-syntax"
else
	fail "completion-syntax" "$(brief "$out")"
fi

# --- What ksmmodctl knows is in ksmmodctl(8) and the completion ---------------

if help=$("$KSMMODCTL" help 2>&1); then
	# "parameters:" ends the help: "  NAME    MIN-MAX" lines.
	settings=$(printf '%s\n' "$help" | awk '/^parameters:/ { p = 1; next } p && NF { print $1 }')
	# "commands:": "  NAME  ..." lines, the name in lower case at column 3.
	commands=$(printf '%s\n' "$help" |
		awk '/^commands:/ { c = 1; next } /^[^ ]/ { c = 0 } c && /^  [a-z]/ { print $1 }' |
		sort -u)
else
	fail "ksmmodctl-help" "$KSMMODCTL help failed: $(brief "$help")"
	settings='' commands=''
fi

check_names "$MAN8" "$settings" PARAMETERS settings
# watch is documented ahead of its code: commands are checked one way only.
check_names "$MAN8" "$commands" COMMANDS commands forward

missing=
for s in $settings; do
	grep -Eq "^[[:space:]]*${s}[[:space:]]*\$" "$COMPLETION" || missing+=" $s"
done
if [ -z "$settings" ]; then
	fail "completion-settings" "found no settings in '$KSMMODCTL help'"
elif [ -n "$missing" ]; then
	fail "completion-settings" "not on a line of its own in the completion's built-in list:$missing"
else
	pass "completion-settings"
fi

complist=$(sed -n "s/^[[:space:]]*local commands='\(.*\)'$/\1/p" "$COMPLETION")
missing=
for c in $commands; do
	[[ " $complist " == *" $c "* ]] || missing+=" $c"
done
if [ -z "$commands" ] || [ -z "$complist" ]; then
	fail "completion-commands" "found no commands in '$KSMMODCTL help' or the completion"
elif [ -n "$missing" ]; then
	fail "completion-commands" "not completed:$missing"
else
	pass "completion-commands"
fi

# --- What the module creates is in ksmmod(4) -----------------------------------

# sysfs: the files src/sysfs.c defines (KSMMOD_KNOB, KSMMOD_COUNTER, a plain
# __ATTR), which must be as many as its attribute array holds.
sysfs_c=$ROOT/src/sysfs.c
sysfs=$(sed -nE 's/^KSMMOD_(KNOB|WORD_KNOB|COUNTER)\(([a-z0-9_]+),.*/\2/p; s/.*__ATTR\(([a-z][a-z0-9_]*),.*/\1/p' \
	"$sysfs_c" | sort -u)
nattrs=$(awk '/ksmmod_sysfs_attrs\[\] = \{/ { a = 1; next } a && /^\};/ { a = 0 }
	a && /^[[:space:]]*&/ { n++ } END { print n + 0 }' "$sysfs_c")
if [ "$(printf '%s\n' "$sysfs" | grep -c .)" -ne "$nattrs" ]; then
	fail "sysfs" "src/sysfs.c: $nattrs attributes but $(printf '%s\n' "$sysfs" | grep -c .) names parsed: update this script"
else
	check_names "$MAN4" "$sysfs" SYSFS sysfs
fi

# Module parameters: module_param(NAME, ...) anywhere in src/.
params=$(grep -hoE 'module_param(_named)?\([a-z0-9_]+' "$ROOT"/src/*.c | sed 's/.*(//' | sort -u)
check_names "$MAN4" "$params" "MODULE PARAMETERS" module-params

# ioctls: the KSMMOD_IOC_* commands of the UAPI header.
ioctls=$(sed -nE 's/^#define[[:space:]]+(KSMMOD_IOC_[A-Z_]+)[[:space:]]+_IO.*/\1/p' \
	"$ROOT/include/uapi/linux/ksmmod.h" | sort -u)
check_names "$MAN4" "$ioctls" IOCTLS ioctls

# Trace events: DEFINE_EVENT(class, NAME, ...) and TRACE_EVENT(NAME, ...).
events=$(grep -hoE '^(DEFINE_EVENT\([a-z0-9_]+, *|TRACE_EVENT\()[a-z0-9_]+' \
	"$ROOT/include/ksmmod/trace.h" | sed -E 's/.*[(,] *//' | sort -u)
check_names "$MAN4" "$events" "TRACE EVENTS" trace-events

# debugfs: debugfs_create_file("NAME", ...).
debugfs=$(grep -hoE 'debugfs_create_[a-z0-9_]+\("[a-z0-9_]+"' "$ROOT"/src/*.c |
	sed -E 's/.*\("//; s/"$//' | sort -u)
check_names "$MAN4" "$debugfs" DEBUGFS debugfs

exit "$failed"
