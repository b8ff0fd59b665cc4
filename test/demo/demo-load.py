#!/usr/bin/python3
# demo-load.py DATAFILE: one copy of a small data service, as `make demo` runs
# several: it loads the same data set as every other copy (the file's bytes,
# and the same values as an array of doubles), says "ready", and then keeps it
# in memory and serves nothing. On SIGUSR1 it checks its copy against the
# checksums it took when loading and prints "intact" or "CORRUPT".
# `demo-load.py --modules` lists the files of the modules it needs (for the guest).
import array
import os
import signal
import sys
import time
import zlib

if sys.argv[1:] == ["--modules"]:
    for m in sorted({getattr(m, "__file__", None) or "" for m in sys.modules.values()}):
        if m:
            print(m)
    sys.exit(0)

with open(sys.argv[1], "rb") as f:
    raw = f.read()
values = array.array("d")
values.frombytes(raw)
# a per-copy index: pointers and hashes, which differ between processes
index = {i: values[i] for i in range(0, len(values), 64)}
sums = (zlib.crc32(raw), zlib.crc32(values.tobytes()))


def check(signum, frame):
    now = (zlib.crc32(raw), zlib.crc32(values.tobytes()))
    print(f"copy {os.getpid()}: {'intact' if now == sums else 'CORRUPT'}", flush=True)


signal.signal(signal.SIGUSR1, check)
print(f"copy {os.getpid()}: loaded {len(raw) >> 20} MiB of data, {len(values)} values "
      f"({len(values) * 8 >> 20} MiB), index of {len(index)}", flush=True)
with open(f"/tmp/ready.{os.getpid()}", "w") as f:
    f.write("ready\n")
while True:
    time.sleep(3600)
