#!/usr/bin/env bash
# ktap-summary.sh — summarise one guest run.
#
#   test/harness/ktap-summary.sh LOGDIR LABEL
#
# Reads LOGDIR/results.ktap (suites framed by "# suite NAME begin/exit=RC", KTAP
# inside) and LOGDIR/console.log (kernel log). Prints one line per suite, every
# failure/skip with its reason, kernel splats with context, and as last line:
#   counts PASSED FAILED SKIPPED
# Extra failures: plan mismatch, bad exit code without "not ok", missing exit=
# line, missing "# ksmmod-guest: done", each console line that looks like a splat.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 LOGDIR LABEL" ; exit 2; }
logdir=$1 label=$2
res=$logdir/results.ktap
con=$logdir/console.log

pass=0 fail=0 skip=0

# --- results channel ------------------------------------------------------------
if [ -f "$res" ]; then
	out=$(tr -d '\r' <"$res" | awk -v label="$label" '
	function finish_suite(name,    why) {
		why = ""
		if (!(name in has_exit))
			why = "no exit= line (crashed or timed out?)"
		else if (plan[name] == "")
			why = "no KTAP plan (1..N)"
		else if (plan[name] != nres[name])
			why = "plan 1.." plan[name] " but " nres[name] " results"
		else if (ex[name] != 0 && ex[name] != 4 && nfail[name] == 0)
			why = "exit=" ex[name] " without any not ok"
		if (why != "") {
			F++
			printf "%s: FAIL suite %s: %s\n", label, name, why
		}
		printf "%s: suite %-28s %3d pass %3d fail %3d skip  exit=%s\n", label, name,
			npass[name] + 0, nfail[name] + 0, nskip[name] + 0, (name in has_exit) ? ex[name] : "?"
	}
	/^# ksmmod-guest: done/ { done = 1; next }
	/^# suite [^ ]+ seconds=[0-9]+$/ { sub(/^seconds=/, "", $4); secs[$3] = $4 + 0; next }
	/^# suite [^ ]+ begin$/ {
		if (cur != "") finish_suite(cur)
		cur = $3; order[++ns] = cur; plan[cur] = ""; nres[cur] = 0
		next
	}
	/^# suite [^ ]+ exit=-?[0-9]+$/ {
		name = $3; sub(/^exit=/, "", $4)
		ex[name] = $4 + 0; has_exit[name] = 1
		if (name == cur) { finish_suite(cur); cur = "" }
		next
	}
	cur == "" { next }
	/^1\.\.[0-9]+/ { if (plan[cur] == "") { split($0, a, /\.\.|[ \t]/); plan[cur] = a[2] + 0 }; next }
	/^(not )?ok [0-9]+/ {
		nres[cur]++
		line = $0
		reason = ""
		if (match(line, /#[ \t]*/)) reason = substr(line, RSTART + RLENGTH)
		if (line ~ /^not ok/) {
			if (reason ~ /^(SKIP|skip)/) { nskip[cur]++; S++; printf "%s: SKIP %s: %s\n", label, cur, line; next }
			nfail[cur]++; F++; printf "%s: FAIL %s: %s\n", label, cur, line
		} else if (reason ~ /^(SKIP|skip)/) {
			nskip[cur]++; S++; printf "%s: SKIP %s: %s\n", label, cur, line
		} else {
			npass[cur]++; P++
		}
		next
	}
	END {
		if (cur != "") finish_suite(cur)
		if (!done) { F++; printf "%s: FAIL guest did not report \"# ksmmod-guest: done\"\n", label }
		if (ns == 0) printf "%s: note: no suites ran\n", label
		# the slowest suites, to see how close they come to the per-test timeout
		slow = ""
		for (k = 0; k < 5; k++) {
			best = ""
			for (n in secs)
				if (!(n in shown) && (best == "" || secs[n] > secs[best]))
					best = n
			if (best == "")
				break
			shown[best] = 1
			slow = slow " " best "=" secs[best] "s"
		}
		if (slow != "") printf "%s: slowest suites:%s\n", label, slow
		printf "%d %d %d\n", P, F, S
	}')
	echo "$out" | sed '$d'
	read -r p f s <<<"$(echo "$out" | tail -n1)"
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
else
	echo "$label: FAIL no $res"
	fail=$((fail + 1))
fi

# --- kernel splats on the console ------------------------------------------------
splat_re='BUG:|WARNING:|Oops|Call Trace|general protection|possible circular locking|possible recursive locking|KASAN|UBSAN|kmemleak: [0-9]+ new suspected|Kernel panic|hung_task|soft lockup|INFO: task'
if [ -f "$con" ]; then
	# ignore test output mirrored to the console (KTAP result/diagnostic lines), and the
	# stack dumps with which the kernel reports an allocation failure (warn_alloc(),
	# kmem_cache_create()) while a test injects them: between the test's kmsg
	# markers "ksmmod-test: injecting allocation failures" and "...: injection over".
	# Any other splat there (WARNING, BUG, KASAN, lockdep, other traces) still counts.
	mapfile -t hits < <(tr -d '\r' <"$con" | awk '
		{ line[NR] = $0 }
		END {
			inj = 0
			for (i = 1; i <= NR; i++) {
				if (line[i] ~ /ksmmod-test: injecting allocation failures/) inj = 1
				if (line[i] ~ /ksmmod-test: injection over/) inj = 0
				if (inj && line[i] ~ /Call Trace/) {
					for (j = i + 1; j <= NR && j <= i + 8; j++)
						if (line[j] ~ /warn_alloc|kmem_cache_create/) {
							line[i] = "(allocation failure report, injected)"
							break
						}
				}
				print line[i]
			}
		}' | grep -nE "$splat_re" | grep -vE '^[0-9]+:[[:space:]]*(ok |not ok |# )' | cut -d: -f1 || true)
	if [ ${#hits[@]} -gt 0 ]; then
		echo "$label: FAIL ${#hits[@]} kernel splat line(s) in $con"
		fail=$((fail + ${#hits[@]}))
		shown=0
		for n in "${hits[@]}"; do
			if [ $shown -lt 3 ]; then
				echo "$label: ---- console.log line $n ----"
				tr -d '\r' <"$con" | sed -n "$((n > 3 ? n - 3 : 1)),$((n + 10))p" | sed "s/^/$label:   | /"
			else
				echo "$label: splat: $(tr -d '\r' <"$con" | sed -n "${n}p")"
			fi
			shown=$((shown + 1))
		done
	fi
else
	echo "$label: FAIL no $con"
	fail=$((fail + 1))
fi

echo "$label: $pass passed, $fail failed, $skip skipped"
echo "counts $pass $fail $skip"
