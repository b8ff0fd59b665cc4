#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""test/bench/report.py RESULTS.KTAP OUTDIR KERNEL: turn the bench guest's output
into OUTDIR/KERNEL.csv (every sample), OUTDIR/KERNEL.md (median, min-max per
implementation and the ksmmod/kernel ratio) and OUTDIR/KERNEL-merge.png
(saved MiB over time in the first 'merge' repetition, both implementations)."""
import csv
import os
import re
import shutil
import statistics
import subprocess
import sys

ktap, outdir, kernel = sys.argv[1:4]
kv = re.compile(r'(\w+)=(\S+)')
samples = []        # (impl, rep, workload, key, value)
progress = {}       # impl -> [(t, mib)] of rep 1 'merge'
ceiling = {}
config = {}
durations = {}      # workload -> guest seconds, all repetitions and implementations
rmap_info = {}      # (impl, workload) -> [summary dicts]
advisor = {}        # impl -> [per-scan dicts] of rep 1 'advisor'
impl = rep = workload = None
for line in open(ktap, errors='replace'):
    line = line.strip()
    if line.startswith('# bench-config'):
        config = dict(kv.findall(line))
    elif line.startswith('# bench-run'):
        d = dict(kv.findall(line))
        impl, rep, workload = d['impl'], int(d['rep']), d['workload']
    elif line.startswith('# progress') and impl and rep == 1 and workload == 'merge':
        d = dict(kv.findall(line))
        progress.setdefault(impl, []).append((float(d['t']), float(d['saved_mib'])))
    elif line.startswith('# bench-advisor-scan') and impl and rep == 1:
        advisor.setdefault(impl, []).append(dict(kv.findall(line)))
    elif line.startswith('# bench-time'):
        d = dict(kv.findall(line))
        durations[d['workload']] = durations.get(d['workload'], 0) + \
            float(d['end']) - float(d['start'])
    elif line.startswith('# bench '):
        d = dict(kv.findall(line))
        # The ceiling runs once per repetition: keep the best (it is a ceiling;
        # a slower run only says the guest was disturbed then).
        if d.get('workload') == 'ceiling':
            for k in ('memcmp', 'xxh64'):
                if float(d[k + '_pages_per_s']) > float(ceiling.get(k + '_pages_per_s', -1)):
                    ceiling.update({kk: v for kk, v in d.items() if kk.startswith(k)})
            ceiling['mib'] = d['mib']
            ceiling['runs'] = ceiling.get('runs', 0) + 1
            continue
        if 'max_page_sharing' in d:
            rmap_info.setdefault((impl, d['workload']), []).append(d)
        for k, v in d.items():
            if k == 'workload':
                continue
            try:
                samples.append((impl, rep, d['workload'], k, float(v)))
            except ValueError:
                pass

base = os.path.join(outdir, kernel)
with open(base + '.csv', 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['impl', 'rep', 'workload', 'metric', 'value'])
    w.writerows(samples)

# Metrics worth a row, and whether lower is better.
METRICS = [
    ('merge', 'seconds', 'time to merge 4 x {mib} MiB identical (s)', True),
    ('merge', 'mib_per_s', 'merge throughput (MiB/s of registered memory)', False),
    ('merge', 'scanner_cpu_s', 'scanner CPU while merging (s)', True),
    ('merge-half', 'seconds', 'time to merge, 50% unique pages (s)', True),
    ('cpu', 'cpu_us_per_merged_page', 'CPU per merged page, default knobs (us)', True),
    ('cpu', 'pages_scanned_per_s', 'pages scanned/s, default knobs', False),
    ('unique', 'cpu_ns_per_scanned_page', 'CPU per scanned unique page (ns)', True),
    ('unique', 'pages_scanned_per_s', 'unique pages scanned/s (pages_to_scan 10000, sleep 0)', False),
    ('unique', 'of_xxh64', 'unique pages scanned/s as a fraction of user-space xxh64 pages/s, measured '
     'around each run', False),
    ('unmerge-run2', 'mib_per_s', 'unmerge by run=2 (MiB/s of {mib} MiB merged)', False),
    ('unmerge-range', 'mib_per_s', 'range unmerge, {mib} MiB: kernel madvise(MADV_UNMERGEABLE), '
     'ksmmod UNMERGE_RANGE (MiB/s)', False),
    ('unmerge-madvise', 'mib_per_s', 'madvise(MADV_UNMERGEABLE), {mib} MiB (ksmmod: drop-in) (MiB/s)', False),
    ('cow', 'merged_write_us_per_page', 'write 1 byte into each of {cow_pages} merged pages (us/page)', True),
    ('cow', 'unmerged_write_us_per_page', 'write 1 byte into each of {cow_pages} unmerged pages (us/page)', True),
    ('rmap-256', 'merged_mappings', 'rmap, max_page_sharing 256: mappings merged of {rmap_mappings}', False),
    ('rmap-256', 'mapcount', 'rmap, max_page_sharing 256: mappings of each sampled page', None),
    ('rmap-256', 'move_us', 'rmap, max_page_sharing 256: move_pages of one merged page (us)', True),
    ('rmap-256', 'pageout_us', 'rmap, max_page_sharing 256: MADV_PAGEOUT of one merged page (us)', True),
    ('rmap-max', 'merged_mappings', 'rmap, max_page_sharing 100000: mappings merged of {rmap_mappings}', False),
    ('rmap-max', 'mapcount', 'rmap, max_page_sharing 100000: mappings of each sampled page', None),
    ('rmap-max', 'move_us', 'rmap, max_page_sharing 100000: move_pages of one merged page (us)', True),
    ('rmap-max', 'pageout_us', 'rmap, max_page_sharing 100000: MADV_PAGEOUT of one merged page (us)', True),
    ('metadata', 'slab_bytes_per_page', 'metadata: slab memory per tracked page (B; kernel\'s '
     'ksm_rmap_item is 64)', True),
    ('metadata', 'object_bytes_per_page', 'metadata: allocated objects per tracked page (B)', True),
    ('densify', 'pages_shared', 'densify: KSM pages left after unmapping 90% of 4 x {meta_mib} MiB '
     'merged at max_page_sharing 256', True),
    ('densify', 'saved_mib', 'densify: MiB saved then (pages_sharing)', False),
    ('densify', 'scanner_cpu_s', 'densify: scanner CPU in the window after the unmapping (s)', True),
    ('sparse', 'seconds_per_scan', 'sparse: full scan of {sparse_gib} GiB with 2048 pages touched (s)', True),
    ('sparse', 'scanner_cpu_s_per_scan', 'sparse: scanner CPU per full scan (s)', True),
    ('sparse-wide', 'seconds_per_scan', 'sparse-wide: full scan of {sparse_wide_gib} GiB with 2048 pages '
     'touched (s)', True),
    ('sparse-wide', 'scanner_cpu_s_per_scan', 'sparse-wide: scanner CPU per full scan (s)', True),
    ('sparse-dense', 'seconds_per_scan', 'sparse-dense: full scan of the same 2048 pages, dense (s)', True),
    ('sparse-dense', 'scanner_cpu_s_per_scan', 'sparse-dense: scanner CPU per full scan (s)', True),
    ('advisor', 'first_scan_seconds', 'advisor scan-time, {mib} MiB unique, target 5 s (2 s below 128 MiB): '
     'first full scan (s)', None),
    ('advisor', 'scan_seconds', 'advisor: full scan after 18 target times, mean of the last 3 (s)', None),
    ('advisor', 'scanner_cpu_percent', 'advisor: scanner CPU share over those 3 scans (%)', True),
    ('advisor', 'pages_to_scan', 'advisor: pages_to_scan it settled on', None),
    ('trace-notrace', 'scanner_cpu_s', 'trace cost: scanner CPU to merge 4 x {trace_mib} MiB identical, '
     'trace points compiled out (s)', True),
    ('trace-off', 'scanner_cpu_s', 'trace cost: the same, events off (s)', True),
    ('trace-on', 'scanner_cpu_s', 'trace cost: the same, every KSM event on (s)', True),
]


# What the labels name from bench-config, for results that lack it.
UNKNOWN_CONFIG = {k: '?' for k in ('mib', 'cow_pages', 'rmap_mappings', 'meta_mib', 'sparse_gib',
                                   'sparse_wide_gib', 'trace_mib')}


# Keys where -1 means the guest could not measure it (6.1's KSM has no
# pages_scanned file; no full scan of a sparse mapping within the workload's cap).
UNMEASURABLE = ('pages_scanned_per_s', 'seconds_per_scan', 'scanner_cpu_s_per_scan')


def values(impl_, wl, key):
    return [v for (i, r, w_, k, v) in samples if i == impl_ and w_ == wl and k == key and
            not (key in UNMEASURABLE and v < 0)]


unmeasured = sorted({i for (i, r, w_, k, v) in samples if k == 'pages_scanned_per_s' and v < 0})
no_scan = sorted({(i, w_) for (i, r, w_, k, v) in samples if k == 'seconds_per_scan' and v < 0})


def num(v):
    return str(int(round(v))) if v == int(v) or 1000 <= abs(v) < 1e12 else f'{v:.4g}'


def fmt(vs):
    if not vs:
        return 'n/a'
    return f'{num(statistics.median(vs))} ({num(min(vs))}-{num(max(vs))})'


lines = [f'# ksmmod vs the kernel\'s KSM on {kernel}', '',
         f'Same guest boot, same workloads, same knobs; medians of {config.get("reps", "?")} '
         f'repetitions (min-max). Guest: {config.get("cpus", "?")} vCPUs under QEMU '
         '(TCG unless KVM works): absolute times mean little, ratios in one run do.', '',
         '| metric | kernel KSM | ksmmod | ksmmod/kernel |', '|---|---|---|---|']
for wl, key, label, lower in METRICS:
    k, m = values('kernel', wl, key), values('ksmmod', wl, key)
    if not k and not m:
        continue
    ratio = 'n/a'
    if k and m and statistics.median(k) > 0:
        ratio = f'{statistics.median(m) / statistics.median(k):.2f}' + \
            ('' if lower is None else ' (lower is better)' if lower else ' (higher is better)')
    lines.append(f'| {label.format(**{**UNKNOWN_CONFIG, **config})} '
                 f'| {fmt(k)} | {fmt(m)} | {ratio} |')
if unmeasured:
    lines += ['', f'pages scanned/s: n/a for {", ".join(unmeasured)}: this kernel\'s KSM has no '
              'pages_scanned counter in sysfs (6.1 has none; 6.12 has)']
for i, wl in no_scan:
    lines += ['', f'{wl}: n/a for {i} in the repetitions where its scanner did not complete a full '
              'scan within the workload\'s time limit']
if ceiling:
    mc = float(ceiling['memcmp_pages_per_s'])
    xx = float(ceiling['xxh64_pages_per_s'])
    lines += ['', f'Ceiling in this guest (user space, {ceiling["mib"]} MiB, the best of '
              f'{ceiling["runs"]} runs, one per repetition): memcmp of two 4 KiB pages '
              f'{mc:.0f} pages/s ({ceiling["memcmp_ns_per_page"]} ns/page), xxh64 of one page '
              f'{xx:.0f} pages/s ({ceiling["xxh64_ns_per_page"]} ns/page).']
    if values('ksmmod', 'unique', 'of_xxh64'):
        lines.append('(The table\'s "fraction of user-space xxh64" compares each unique run with '
                     'xxh64 measured just before and after it; the lines below compare medians '
                     'with this best ceiling, measured minutes apart.)')
    for i in ('kernel', 'ksmmod'):
        u = values(i, 'unique', 'pages_scanned_per_s')
        if u:
            lines.append(f'- {i}: unique pages scanned/s = {statistics.median(u):.0f} = '
                         f'{statistics.median(u) / mc:.3f} x memcmp rate, '
                         f'{statistics.median(u) / xx:.3f} x xxh64 rate')
if rmap_info:
    lines += ['', 'rmap walk (workload 6), as seen per repetition: the samples are up to 9 pages of the '
              'first process, merged ones (mapped more than once) first, distinct KSM pages first; '
              'move_pages(MPOL_MF_MOVE_ALL) moves each to the other NUMA node; MADV_PAGEOUT '
              '(process_madvise) is skipped by 6.1 and 6.12 for pages mapped more than once, so '
              '"paged out" stays 0 and its time is the page-table walk alone (no rmap walk). '
              'At max_page_sharing 256 both implementations keep the content as a chain of '
              'dups of at most 256 mappings each, so one walk stays bounded by the limit.', '',
              '| impl | workload | merged mappings | shared | sharing | samples (merged, distinct) '
              '| moved | paged out |', '|---|---|---|---|---|---|---|---|']
    for (i, wl), ds in sorted(rmap_info.items()):
        for d in ds:
            lines.append(f'| {i} | {wl} | {d["merged_mappings"]}/{d["mappings"]} | {d["pages_shared"]} '
                         f'| {d["pages_sharing"]} | {d["samples"]} ({d.get("merged_samples", "?")}, '
                         f'{d["distinct_pages"]}) | {d["moved"]} | {d["paged_out"]} |')
if advisor:
    lines += ['', 'Advisor (scan-time), first repetition: each full scan\'s time in s (scanner CPU %, '
              'pages_to_scan the advisor chose after it). Scan 1 may have begun before the workload.', '']
    for i, scans in sorted(advisor.items()):
        lines.append(f'- {i}: ' + ', '.join(f'{d["seconds"]} ({d["cpu_percent"]}%, {d["pages_to_scan"]})'
                                            for d in scans[:24]) + (', ...' if len(scans) > 24 else ''))
scale = {}          # impl -> {(procs, mib_per_proc): {key: [values]}}
for (i, r, w_, k, v) in samples:
    if w_.startswith('scale-'):
        procs, mib = (int(x) for x in w_[6:].split('x'))
        scale.setdefault(i, {}).setdefault((procs, mib), {}).setdefault(k, []).append(v)


def fit(points):
    """Least squares y = a x + b over (x, y); returns a, b, R^2 (None if under 2 points)."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    a = sum((x - mx) * (y - my) for x, y in points) / sxx
    b = my - a * mx
    ss_tot = sum((y - my) ** 2 for _, y in points)
    ss_res = sum((y - (a * x + b)) ** 2 for x, y in points)
    return a, b, (1 - ss_res / ss_tot) if ss_tot > 0 else 1.0


if scale:
    lines += ['', 'Scale (issue 19): P processes x M MiB of one content merged at full speed '
              '(pages_to_scan 10000, sleep 0); medians over the repetitions. Time and scanner CPU '
              'against registered memory, fitted over the 64-process sizes (slope per GiB, R^2); '
              'metadata is the slab memory per tracked page once all are merged.', '',
              '| impl | processes x MiB | GiB | time (s) | s per GiB | scanner CPU (s) | '
              'slab B per page |', '|---|---|---|---|---|---|---|']
    for i in sorted(scale):
        for (procs, mib), d in sorted(scale[i].items(), key=lambda kv: (kv[0][0] != 64, kv[0])):
            gib = procs * mib / 1024
            t = statistics.median(d['seconds'])
            lines.append(f'| {i} | {procs} x {mib} | {gib:.3g} | {num(t)} | {num(t / gib)} | '
                         f'{num(statistics.median(d["scanner_cpu_s"]))} | '
                         f'{num(max(d["slab_bytes_per_page"]))} |')
    for i in sorted(scale):
        a_pts = [(p * m / 1024, statistics.median(d['seconds'])) for (p, m), d in scale[i].items()
                 if p == 64]
        c_pts = [(p * m / 1024, statistics.median(d['scanner_cpu_s'])) for (p, m), d in scale[i].items()
                 if p == 64]
        meta = max(max(d['slab_bytes_per_page']) for d in scale[i].values())
        ft, fc = fit(a_pts), fit(c_pts)
        lines.append(f'- {i}: time = {ft[0]:.3g} s/GiB x GiB + {ft[1]:.3g} s, R^2 {ft[2]:.4f}; '
                     f'scanner CPU = {fc[0]:.3g} s/GiB x GiB + {fc[1]:.3g} s, R^2 {fc[2]:.4f}; '
                     f'metadata at most {meta:.1f} B per tracked page' if ft and fc else
                     f'- {i}: too few sizes to fit; metadata at most {meta:.1f} B per tracked page')

if durations:
    lines += ['', 'Guest time per workload (s, all repetitions, both implementations): ' +
              ', '.join(f'{w} {t:.0f}' for w, t in durations.items()) +
              f'; total {sum(durations.values()):.0f}.']
if progress:
    lines += ['', f'Merge progress (first repetition): {os.path.basename(base)}-merge.png']
open(base + '.md', 'w').write('\n'.join(lines) + '\n')
print('\n'.join(lines))

if progress and shutil.which('gnuplot'):
    for i, pts in progress.items():
        with open(f'{base}-progress-{i}.dat', 'w') as f:
            f.writelines(f'{t} {m}\n' for t, m in pts)
    plots = ', '.join(f"'{base}-progress-{i}.dat' with lines lw 2 title '{i}'" for i in progress)
    script = (f"set terminal png size 900,500; set output '{base}-merge.png';"
              f"set xlabel 'seconds'; set ylabel 'saved MiB (pages_sharing)';"
              f"set title 'time to merge, {kernel}'; set key left top; plot {plots}")
    subprocess.run(['gnuplot', '-e', script], check=False)
    for i in progress:
        os.unlink(f'{base}-progress-{i}.dat')
