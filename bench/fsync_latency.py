#!/usr/bin/env python3
"""The floor under a durable one-record round trip on this machine's disk: append RECORD bytes
to a file and fdatasync it, COUNT times, as a broker that fsyncs before acknowledging does for
one record in flight (W3's EndToEndLatency with acks=all). Prints p50/p99/p99.9 in ms.

    bench/fsync_latency.py [DIR] [COUNT] [RECORD]    (defaults: $TMPDIR or /tmp, 10000, 1100)
"""
import os
import sys
import tempfile
import time

directory = sys.argv[1] if len(sys.argv) > 1 else tempfile.gettempdir()
count = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
record = b"x" * (int(sys.argv[3]) if len(sys.argv) > 3 else 1100)  # a 1 KiB record's batch

fd, path = tempfile.mkstemp(dir=directory, prefix="fsync-latency.")
try:
    took = []
    for _ in range(count):
        start = time.perf_counter()
        os.write(fd, record)
        os.fdatasync(fd)
        took.append(time.perf_counter() - start)
finally:
    os.close(fd)
    os.unlink(path)
took.sort()


def at(q):
    return took[min(len(took) - 1, int(q * len(took)))] * 1000


print(f"append {len(record)} B + fdatasync, {count} times in {directory}: "
      f"p50 {at(0.5):.2f} ms, p99 {at(0.99):.2f} ms, p99.9 {at(0.999):.2f} ms")
