#!/usr/bin/env python3
"""bench/scaling.sh's raw results (broker, curve, x, metric, value) → OUT/tables.md (markdown:
per curve, every metric at every point, per broker, with gregor/kafka) and, when matplotlib
imports, OUT/<curve>.png (one panel per metric, x on a log scale).

    scaling_plot.py RAW OUT "conditions line"
"""
import sys
from collections import defaultdict
from pathlib import Path

raw, out, conditions = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
UNITS = {
    "partitions": "partitions in one topic", "connections": "producer clients",
    "groups": "consumer groups", "retained": "GiB retained", "size": "record bytes",
}
data = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))  # curve -> metric -> broker -> {x: value}
curves, brokers, failed = [], [], []
for line in open(raw):
    broker, curve, x, metric, value = line.rstrip("\n").split("\t")
    if metric == "failed":
        failed.append((curve, broker, value))
        continue
    if curve not in curves:
        curves.append(curve)
    if broker not in brokers:
        brokers.append(broker)
    try:
        data[curve][metric][broker][float(x)] = float(value)
    except ValueError:
        pass


def fmt(v):
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return f"{v:.3g}"


def xfmt(x):
    return fmt(x) if x != int(x) else f"{int(x):,}"


lines = [f"Scaling curves: {conditions}", ""]
for curve, broker, rc in failed:
    lines.append(f"- **{curve} on {broker} failed** (exit {rc}): see the run's log")
if failed:
    lines.append("")
ratio = "gregor" in brokers and "kafka" in brokers
for curve in curves:
    lines += [f"### {curve} (x: {UNITS.get(curve, curve)})", ""]
    head = ["metric", "x"] + brokers + (["gregor/kafka"] if ratio else [])
    lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for metric, per in data[curve].items():
        for x in sorted({x for b in per.values() for x in b}):
            row = [metric, xfmt(x)] + [fmt(per.get(b, {}).get(x)) for b in brokers]
            if ratio:
                g, k = per.get("gregor", {}).get(x), per.get("kafka", {}).get(x)
                row.append(f"{g / k:.2g}" if g is not None and k else "–")
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
(out / "tables.md").write_text("\n".join(lines))
print("\n".join(lines))

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib not available: no plots", file=sys.stderr)
    sys.exit(0)

for curve in curves:
    metrics = list(data[curve])
    cols = min(3, len(metrics))
    rows = (len(metrics) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        for broker, pts in data[curve][metric].items():
            xs = sorted(pts)
            ax.plot(xs, [pts[x] for x in xs], marker="o", label=broker)
        xs = sorted({x for b in data[curve][metric].values() for x in b})
        if xs and xs[0] > 0 and xs[-1] / xs[0] >= 10:
            ax.set_xscale("log")
        ys = [v for b in data[curve][metric].values() for v in b.values() if v > 0]
        if ys and max(ys) / min(ys) >= 100:
            ax.set_yscale("log")
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel(UNITS.get(curve, curve), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle(f"{curve}: {conditions}", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / f"{curve}.png", dpi=80)
    plt.close(fig)
print(f"plots: {', '.join(str(out / (c + '.png')) for c in curves)}", file=sys.stderr)
