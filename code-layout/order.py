#!/usr/bin/env python3
"""Helpers of code-layout/record.sh, on a release binary's symbol table (readelf -sW).

  order.py entries BINARY          function entry addresses (hex, sorted): first_call.c's list
  order.py order BINARY LOG...     the functions first_call.c logged, every name at each
                                   address, in BINARY's order (the compiler's, which keeps a
                                   module's functions together): lld's --symbol-ordering-file
  order.py check BINARY ORDER      how many names of ORDER the binary has (a stale order file
                                   places fewer functions: regenerate it with record.sh)
"""
import struct
import subprocess
import sys


def functions(binary):
    """(address, size, name) of every defined function symbol."""
    out = subprocess.run(["readelf", "-sW", binary], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        f = line.split()
        if len(f) >= 8 and f[3] == "FUNC" and int(f[1], 16) != 0:
            yield int(f[1], 16), int(f[2], 0), f[7]


def called(logs):
    """The addresses in the logs (8 bytes each, little-endian)."""
    found = set()
    for log in logs:
        raw = open(log, "rb").read()
        found.update(struct.unpack("<%dQ" % (len(raw) // 8), raw[: len(raw) // 8 * 8]))
    return found


def main(argv):
    if len(argv) >= 3 and argv[1] == "entries":
        for address in sorted({a for a, size, _ in functions(argv[2]) if size > 0}):
            print(f"{address:x}")
    elif len(argv) >= 4 and argv[1] == "order":
        names, sizes = {}, {}
        for address, size, name in functions(argv[2]):
            names.setdefault(address, {})[name] = None
            sizes[address] = size
        calls = called(argv[3:])
        total = sum(sizes.get(a, 0) for a in calls)
        print(f"{len(calls)} functions ran, {total / 2**20:.2f} MiB of code", file=sys.stderr)
        for address in sorted(calls):
            for name in names.get(address, {}):
                print(name)
    elif len(argv) == 4 and argv[1] == "check":
        have = {name for _, _, name in functions(argv[2])}
        wanted = [n for n in open(argv[3]).read().split() if n]
        found = sum(n in have for n in wanted)
        print(f"{found} of {len(wanted)} functions of {argv[3]} are in {argv[2]}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
