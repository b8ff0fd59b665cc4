#!/bin/sh
# 69-systemd — runs inside the systemd guest (test/harness/systemd-guest.sh) as
# ksmmod-systemd-test.service, after systemd (PID 1) has started the unmodified
# ksmmod.service at boot from /etc/ksmmod.conf ("pages_to_scan = 1234",
# "run = merge"). Drives the unit through systemctl and reads what it did in
# /sys/kernel/mm/ksmmod and in the journal. Writes KTAP to /dev/ttyS1, framed
# as init.sh frames a test ("# suite 69-systemd begin" ... "exit=N", then
# "# ksmmod-guest: done"), and powers the guest off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
CONF=/etc/ksmmod.conf
SYS=/sys/kernel/mm/ksmmod
SUITE=69-systemd

RES=/dev/ttyS1
if [ -c "$RES" ]; then
	stty -F "$RES" raw -echo -opost 2>/dev/null || true
	# one open for the whole run (init.sh: the last close may drop unsent output)
	exec 3>>"$RES"
else
	echo "69-systemd: $RES missing, results go to the console only"
	exec 3>/dev/null
fi
# stdout is the journal and the console (StandardOutput=journal+console)
out() { echo "$*"; echo "$*" >&3; }

n=0 failed=0
check() { # id command...: "ok N - id" if the command succeeds, else "not ok N - id"
	desc=$1
	shift
	n=$((n + 1))
	if "$@"; then
		out "ok $n - $desc"
	else
		out "not ok $n - $desc"
		failed=1
	fi
}
diag() { out "# $*"; }
val() { cat "$SYS/$1" 2>/dev/null || echo "(no $SYS/$1)"; }
is() { # name expected: /sys/kernel/mm/ksmmod/NAME reads EXPECTED
	got=$(val "$1")
	[ "$got" = "$2" ] && return 0
	diag "$SYS/$1 is '$got', expected '$2'"
	return 1
}
eq() { # what got expected
	[ "$2" = "$3" ] && return 0
	diag "$1 is '$2', expected '$3'"
	return 1
}
journal_has() { # fixed string: in `journalctl -u ksmmod` (stdout reaches journald asynchronously: wait up to 10 s)
	i=0
	while [ $i -lt 20 ]; do
		journalctl -q --no-pager -u ksmmod -o cat | grep -qF -- "$1" && return 0
		sleep 0.5
		i=$((i + 1))
	done
	diag "journalctl -u ksmmod has no line with: $1"
	journalctl -q --no-pager -u ksmmod -o short-monotonic | tail -n 8 | while read -r l; do diag "  | $l"; done
	return 1
}
journal_lacks() {
	journalctl -q --no-pager -u ksmmod -o cat | grep -qF -- "$1" || return 0
	diag "journalctl -u ksmmod has a line with: $1"
	return 1
}
status() { systemctl --no-pager status ksmmod 2>&1 | while read -r l; do diag "  | $l"; done; }
rc_is() { # what rc expected
	[ "$2" = "$3" ] && return 0
	diag "$1 exited $2, expected $3"
	status
	return 1
}
rc_fails() { # what rc
	[ "$2" != 0 ] && return 0
	diag "$1 exited 0, expected a failure"
	status
	return 1
}

out "# suite $SUITE begin"
out "KTAP version 1"
out "1..19"
diag "kernel $(uname -r), $(systemctl --version | head -n1), up $(cut -d' ' -f1 /proc/uptime)s"

# 1. at boot: ksmmod.service ran modprobe and applied /etc/ksmmod.conf
check boot:active eq "systemctl is-active ksmmod" "$(systemctl is-active ksmmod)" active
check boot:sysfs test -d "$SYS"
check boot:pages_to_scan is pages_to_scan 1234
check boot:run is run 1

# 2. reload applies the changed file
printf '# written by 69-systemd\npages_to_scan = 777\n' >"$CONF"
systemctl reload ksmmod
check reload:rc rc_is "systemctl reload ksmmod" $? 0
check reload:pages_to_scan is pages_to_scan 777
check reload:run is run 1

# 3. a bad line: the reload fails, nothing is applied, the journal names it
printf '# written by 69-systemd\npages_to_scann = 5\nrun = 0\n' >"$CONF"
systemctl reload ksmmod
check bad-reload:rc rc_fails "systemctl reload ksmmod" $?
nothing_applied() { is pages_to_scan 777 && is run 1; }
check bad-reload:nothing-applied nothing_applied
check bad-reload:journal-line \
	journal_has "$CONF:2: unknown parameter 'pages_to_scann'"
check bad-reload:journal-nothing-applied journal_has "$CONF: nothing applied"

# 4. a restart with the bad file leaves the unit failed, still nothing applied
systemctl restart ksmmod
check bad-restart:rc rc_fails "systemctl restart ksmmod" $?
check bad-restart:is-failed eq "systemctl is-failed ksmmod" "$(systemctl is-failed ksmmod)" failed
check bad-restart:nothing-applied nothing_applied

# 5. no file: ConditionPathExists= is unmet, the commands do not run, not failed.
# A start skipped for an unmet condition leaves a unit's earlier failed state
# as it was (systemd 252: is-failed still says "failed" after it), so clear the
# one of step 4 first: a failed unit now can only come from the commands running
# (apply of a missing file fails).
rm -f "$CONF"
diag "before reset-failed: $(systemctl is-failed ksmmod)"
systemctl reset-failed ksmmod
systemctl restart ksmmod
check no-file:rc rc_is "systemctl restart ksmmod without $CONF" $? 0
check no-file:condition \
	eq "ConditionResult" "$(systemctl show -p ConditionResult --value ksmmod)" no
check no-file:not-failed \
	eq "systemctl is-failed ksmmod" "$(systemctl is-failed ksmmod)" inactive
check no-file:not-run journal_lacks "No such file"
check no-file:nothing-applied nothing_applied

out "# suite $SUITE exit=$failed"
out "# ksmmod-guest: done"
echo "69-systemd: done, powering off"
sync
# let the UART drain before the power goes
sleep 1
exec 3>&-
poweroff -f
