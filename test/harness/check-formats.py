#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""test/harness/check-formats.py RESULTS.KTAP: parse what the guest's 67-ksmmodctl
copied into its log with real parsers: the "# metrics| " lines of `ksmmodctl metrics`
with the Prometheus client library's text parser (Debian's python3-prometheus-client,
the parser Prometheus' own Python tooling uses), each "# json| " line of `ksmmodctl
status --json` with Python's json module. Prints one line per check; exit status 0
if every check passed, 1 if one failed, 2 if the log has neither (nothing to check).
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

ktap = sys.argv[1]
metrics, objects = [], []
for line in open(ktap, errors='replace'):
    line = line.rstrip('\n')
    if line.startswith('# metrics| '):
        metrics.append(line[len('# metrics| '):])
    elif line.startswith('# json| '):
        objects.append(line[len('# json| '):])
if not metrics and not objects:
    print('formats: no "# metrics| " or "# json| " lines in the log')
    sys.exit(2)

ok = True
try:
    families = list(text_string_to_metric_families('\n'.join(metrics) + '\n'))
    names = {f.name for f in families}
    samples = [s for f in families for s in f.samples]
    bad = [f.name for f in families if not f.name.startswith('ksmmod_')]
    want = {'ksmmod_pages_shared', 'ksmmod_pages_sharing', 'ksmmod_full_scans',
            'ksmmod_general_profit_bytes', 'ksmmod_process_profit_bytes'}
    missing = sorted(want - names)
    labelled = [s for s in samples if s.name == 'ksmmod_process_profit_bytes']
    if bad or missing or not labelled or any(set(s.labels) != {'pid', 'comm'} for s in labelled):
        ok = False
        print(f'formats: metrics FAIL: names not ksmmod_*: {bad}, missing: {missing}, '
              f'process samples: {len(labelled)}')
    else:
        print(f'formats: metrics ok: {len(families)} families, {len(samples)} samples, '
              f'{len(labelled)} per-process profit samples')
except Exception as e:  # the parser raises ValueError (and others) on bad input
    ok = False
    print(f'formats: metrics FAIL: the Prometheus parser refused it: {e!r}')

for text in objects:
    try:
        o = json.loads(text)
        if not isinstance(o, dict) or not ('stats' in o or 'pid' in o):
            raise ValueError('neither a status nor a process object')
    except ValueError as e:
        ok = False
        print(f'formats: json FAIL: {e}: {text[:120]}')
if objects and ok:
    print(f'formats: json ok: {len(objects)} objects')
sys.exit(0 if ok else 1)
