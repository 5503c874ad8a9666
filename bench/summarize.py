#!/usr/bin/env python3
"""bench/run.sh's raw results (broker, run, workload, client, metric, value) → a markdown table:
per broker the median over runs with the spread (min–max), and gregor/Kafka ratios of medians."""
import statistics
import sys
from collections import defaultdict

raw, title = sys.argv[1], sys.argv[2]
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

preferred = ["gregor", "gregor-before", "kafka", "kafka-flush"]
brokers.sort(key=lambda b: (preferred.index(b) if b in preferred else len(preferred), b))
others = [b for b in brokers if b != "gregor"]
print(f"{title}\n")
print("Cells: median over runs (min–max). Ratios: gregor median / other median.\n")
print("| workload | client | metric | " + " | ".join(brokers) + "".join(f" | gregor/{b}" for b in others) + " |")
print("|---" * (3 + len(brokers) + len(others)) + "|")
for key in order:
    per = values[key]
    row = [*key] + [cell(per.get(b, [])) for b in brokers]
    g = per.get("gregor")
    for b in others:
        o = per.get(b)
        if g and o and statistics.median(o) != 0:
            r = statistics.median(g) / statistics.median(o)
            row.append(f"{r:.2f}" if r >= 0.1 else f"{r:.2g}")
        else:
            row.append("–")
    print("| " + " | ".join(row) + " |")
