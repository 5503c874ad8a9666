#!/usr/bin/env python3
"""bench/run.sh's raw results (broker, run, workload, client, metric, value) → a markdown table:
per broker the median over runs with the spread (min–max), and ratios of medians: gregor over
each other broker, gregor-nofsync over kafka and over krabka (all without fsync: equal
durability), and gregor-cluster over kafka-3 (three brokers each, RF 3, acks=all) and over tansu
(on the same PostgreSQL).
With --ratios-only (bench/smoke.sh) only the ratio columns are printed."""
import statistics
import sys
from collections import defaultdict

raw, title = sys.argv[1], sys.argv[2]
ratios_only = "--ratios-only" in sys.argv[3:]
values = defaultdict(list)  # (workload, client, metric) -> broker -> [values]
order = []
brokers = []
for line in open(raw):
    broker, _run, workload, client, metric, value = line.rstrip("\n").split("\t")
    key = (workload, client, metric)
    if key not in values:
        order.append(key)
        values[key] = defaultdict(list)
    if broker not in brokers:
        brokers.append(broker)
    try:
        values[key][broker].append(float(value))
    except ValueError:
        pass

def fmt(x):
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}".rstrip("0").rstrip(".")
    return f"{x:.3g}"

def cell(vs):
    if not vs:
        return "–"
    m = statistics.median(vs)
    if len(vs) == 1 or min(vs) == max(vs):
        return fmt(m)
    return f"{fmt(m)} ({fmt(min(vs))}–{fmt(max(vs))})"

preferred = ["gregor", "gregor-nofsync", "gregor-before", "kafka", "kafka-flush", "krabka", "gregor-cluster",
             "kafka-3", "tansu"]
brokers.sort(key=lambda b: (preferred.index(b) if b in preferred else len(preferred), b))
pairs = [("gregor", b) for b in brokers
         if b != "gregor" and "gregor" in brokers and not b.startswith("gregor-cluster")
         and b != "tansu"]
pairs += [("gregor-nofsync", b) for b in ("kafka", "krabka")
          if "gregor-nofsync" in brokers and b in brokers]
if "gregor-cluster" in brokers and "kafka-3" in brokers:  # both three brokers, RF 3, acks=all
    pairs.append(("gregor-cluster", "kafka-3"))
pairs += [("gregor-cluster", b) for b in brokers if b.startswith("gregor-cluster-")]
if "gregor-cluster" in brokers and "tansu" in brokers:  # on the same PostgreSQL, acks=all
    pairs.append(("gregor-cluster", "tansu"))
shown = [] if ratios_only else brokers

def ratio(per, a, b):
    x, y = per.get(a), per.get(b)
    if not x or not y or statistics.median(y) == 0:
        return "–"
    r = statistics.median(x) / statistics.median(y)
    return f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"

print(f"{title}\n")
print("Cells: median over runs (min–max). Ratios: median / median.\n")
print("| workload | client | metric | " + " | ".join(shown + [f"{a}/{b}" for a, b in pairs]) + " |")
print("|---" * (3 + len(shown) + len(pairs)) + "|")
for key in order:
    per = values[key]
    row = [*key] + [cell(per.get(b, [])) for b in shown] + [ratio(per, a, b) for a, b in pairs]
    print("| " + " | ".join(row) + " |")
