#!/usr/bin/env python3
"""One wide Markdown table (a row per method run, a column per task) from `eps image eval`'s results.json.

    python3 scripts/eval_table.py runs/eval/results.json [--metric psnr] [--compare OTHER/results.json]

Each cell is the metric's mean ± its standard error over images; with --compare, the cell of the same method
and task in OTHER follows after " / " (a before/after table). The best mean per task is in bold (the largest
for PSNR/SSIM, the smallest for CRPS/FD; none for consistency, whose target is σ_y). Standard library only (any python3).
"""
import argparse
import json
import math
import sys

LOWER_IS_BETTER = {"crps", "fd"}
NO_BEST = {"consistency"}  # its target is sigma_y, not an extreme


def cell(row, metric):
    v = row.get(metric)
    if isinstance(v, dict):
        return v.get("mean"), v.get("se")
    return v, None


def text(mean, se, prec):
    if mean is None or not math.isfinite(mean):
        return "–"
    s = f"{mean:.{prec}f}".replace("-", "−")
    return s + (f" ± {se:.{prec}f}" if se is not None and math.isfinite(se) else "")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results")
    p.add_argument("--metric", default="psnr")
    p.add_argument("--precision", type=int, default=None)
    p.add_argument("--compare", help="a second results.json (a cell's value there follows after ' / ')")
    a = p.parse_args()
    try:
        doc = json.load(open(a.results))
        other = json.load(open(a.compare)) if a.compare else None
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"eval_table.py: cannot read the results: {e}")
    rows = doc["rows"]
    if not rows or a.metric not in rows[0]:
        sys.exit(f"eval_table.py: no metric '{a.metric}' in {a.results} (it has: {', '.join(rows[0]) if rows else 'no rows'})")
    prec = a.precision if a.precision is not None else (3 if a.metric in ("ssim", "ssim_mean", "consistency") else 2)
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    labels = list(dict.fromkeys(r["method"] for r in rows))
    by = {(r["method"], r["task"]): r for r in rows}
    oby = {(r["method"], r["task"]): r for r in other["rows"]} if other else {}
    best = {}
    for t in tasks:
        vals = [cell(by[(m, t)], a.metric)[0] for m in labels if (m, t) in by]
        vals = [v for v in vals if v is not None and math.isfinite(v)]
        if vals and a.metric not in NO_BEST:
            best[t] = min(vals) if a.metric in LOWER_IS_BETTER else max(vals)
    print("| method | " + " | ".join(tasks) + " |")
    print("|---|" + "---|" * len(tasks))
    for m in labels:
        cells = []
        for t in tasks:
            if (m, t) not in by:
                cells.append("")
                continue
            mean, se = cell(by[(m, t)], a.metric)
            c = text(mean, se, prec)
            if mean is not None and t in best and mean == best[t]:
                c = f"**{c}**"
            if other is not None:
                om = cell(oby[(m, t)], a.metric) if (m, t) in oby else (None, None)
                c += " / " + text(om[0], om[1], prec)
            cells.append(c)
        print(f"| {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
