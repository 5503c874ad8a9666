"""The client × scenario × broker matrix: rows (scenario, client) → {broker: outcome}, as
conftest.py records them; printed at the end of a pytest run and written to matrix.md. run.sh
runs one pytest per broker side by side and merges their results (`python matrix.py A.json
B.json`) into one matrix.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def verdicts(results):
    """(gregor bugs, bad scenarios): rows failing on gregor while kafka passes them, and rows
    failing on the reference Kafka (the scenario itself is wrong)."""
    bad = ("FAIL", "ERROR")
    gregor_bugs, bad_scenarios = [], []
    for row, cells in results.items():
        if cells.get("kafka") in bad:
            bad_scenarios.append(row)
        for name, outcome in cells.items():
            if name != "kafka" and outcome in bad and cells.get("kafka") not in bad:
                gregor_bugs.append((row, name, "passes on kafka" if cells.get("kafka") == "pass"
                                    else "kafka not run"))
    return gregor_bugs, bad_scenarios


def matrix_lines(results, names: list[str]) -> list[str]:
    header = ["scenario", "client"] + names
    rows = [[s, c] + [cells.get(n, "") for n in names] for (s, c), cells in results.items()]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]

    def fmt(r):
        return "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |"

    lines = [fmt(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt(r) for r in rows]
    totals = []
    for n in names:
        vals = [cells.get(n) for cells in results.values()]
        extra = "".join(f", {vals.count(k)} {k}" for k in ("xfail", "XPASS", "skip") if vals.count(k))
        totals.append(f"{n}: {vals.count('pass')} pass, "
                      f"{vals.count('FAIL') + vals.count('ERROR')} fail{extra}")
    lines += ["", "totals — " + "; ".join(totals)]
    gaps = [(row, n, v) for row, cells in results.items() for n, v in cells.items()
            if v in ("xfail", "XPASS")]
    if gaps:
        lines += ["", "known gaps (expected failures, do not fail the run; XPASS = now works, "
                      "remove the known_gap marker):"]
        lines += [f"- {s} / {c} on {n}: {v}" for (s, c), n, v in gaps]
    gregor_bugs, bad_scenarios = verdicts(results)
    if gregor_bugs:
        lines += ["", "broker failures (gregor bugs when kafka passes):"]
        lines += [f"- {s} / {c} on {b} ({why})" for (s, c), b, why in gregor_bugs]
    if bad_scenarios:
        lines += ["", "failing on the reference kafka (bad scenario or environment):"]
        lines += [f"- {s} / {c}" for s, c in bad_scenarios]
    return lines


def write(path: Path, brokers: list[str], lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# gregor compatibility matrix\n\n"
                    f"brokers: {', '.join(brokers)}\n\n" + "\n".join(lines) + "\n")


def dump(path: Path, results, brokers: list[str]) -> None:
    """One run's results as JSON, for the merge."""
    path.write_text(json.dumps({"brokers": brokers,
                                "rows": [[s, c, cells] for (s, c), cells in results.items()]}))


def merge(paths: list[str], out: Path) -> int:
    """Merge runs' JSON results (in the order given) into one matrix: print it, write `out`.
    Exit status 1 when a run left no results."""
    results: dict = {}
    brokers: list[str] = []
    status = 0
    for p in paths:
        try:
            data = json.loads(Path(p).read_text())
        except (OSError, ValueError) as e:
            print(f"no results in {p}: {e}")
            status = 1
            continue
        brokers += data["brokers"]
        for s, c, cells in data["rows"]:
            results.setdefault((s, c), {}).update(cells)
    # A broker kind run by several pytests (run.sh's COMPAT_SPLIT=2) is one column.
    names = list(dict.fromkeys(b.split("=", 1)[0] for b in brokers))
    lines = matrix_lines(results, names)
    print("=" * 20 + " compatibility matrix (client × scenario × broker), all runs " + "=" * 20)
    for line in lines:
        print(line)
    write(out, brokers, lines)
    print(f"matrix written to {out}")
    return status


if __name__ == "__main__":
    sys.exit(merge(sys.argv[1:], Path(__import__("os").environ.get(
        "COMPAT_MATRIX", Path(__file__).resolve().parent.parent / "results" / "matrix.md"))))
