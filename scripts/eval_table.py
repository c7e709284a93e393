#!/usr/bin/env python3
"""One wide Markdown table (a row per method run, a column per task) from `eps image eval`'s results.json.

    python3 scripts/eval_table.py runs/eval/results.json [--metric psnr] [--compare OTHER/results.json]
    python3 scripts/eval_table.py runs/eval/results.json --paired eps_multitask@20 [--metric ssim]
    python3 scripts/eval_table.py runs/eval_b/results.json --against runs/eval_a/results.json

Each cell is the metric's mean ± its standard error over images; with --compare, the cell of the same method
and task in OTHER follows after " / " (a before/after table). The best mean per task is in bold (the largest
for PSNR/SSIM, the smallest for CRPS/FD; none for consistency, whose target is σ_y).
With --paired REF (PSNR or SSIM), each cell is the mean over images of (REF − method) ± the standard error of
those differences: every method restores the same images from the same measurements, so the differences pair,
and their standard error is the one that says whether REF is ahead (results.json's per_image values). A last
column averages each image's differences over the tasks (the same test images in every task), for the methods
run on all of them: the comparison "on average over the tasks" with its paired standard error.
With --against OTHER (another run on the same images and measurements, e.g. a second training seed of a model),
each cell is (this run − OTHER) for the same method and task, paired over images in the same way.
Standard library only (any python3).
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
    p.add_argument("--paired", metavar="REF", help="a method run: cells are REF − method, paired over images")
    p.add_argument("--against", metavar="OTHER", help="a second results.json: cells are this − OTHER, paired")
    a = p.parse_args()
    if sum(x is not None for x in (a.paired, a.compare, a.against)) > 1:
        sys.exit("eval_table.py: --paired, --compare and --against do not combine")
    try:
        doc = json.load(open(a.results))
        other = json.load(open(a.compare or a.against)) if (a.compare or a.against) else None
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"eval_table.py: cannot read the results: {e}")
    rows = doc["rows"]
    if not rows or a.metric not in rows[0]:
        sys.exit(f"eval_table.py: no metric '{a.metric}' in {a.results} (it has: {', '.join(rows[0]) if rows else 'no rows'})")
    prec = a.precision if a.precision is not None else (3 if a.metric in ("ssim", "ssim_mean", "consistency") else 2)
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    labels = list(dict.fromkeys(r["method"] for r in rows))
    if a.paired:
        paired(rows, tasks, labels, a.paired, a.metric, prec)
        return
    if a.against:
        against(rows, other["rows"], tasks, labels, a.metric, prec)
        return
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


def per_image(rows, metric, flag, where=""):
    """{(method, task): that row's per-image values of metric}; exits when the file has none."""
    if metric not in ("psnr", "ssim"):
        sys.exit(f"eval_table.py: {flag} compares psnr or ssim (per image), not '{metric}'")
    if any("per_image" not in r for r in rows):
        sys.exit(f"eval_table.py: {flag} needs per-image values{where} (results.json of eps image eval from 2026-12-03 on)")
    return {(r["method"], r["task"]): r["per_image"][metric] for r in rows}


def difference_table(title, pairs, tasks, labels, prec, mean_column, skip_empty):
    """Prints a table of paired differences: pairs(method, task) gives (x, y), two per-image lists of the same
    length (or None: an empty cell); each cell is the mean of x − y over images ± its standard error. With
    mean_column, a last column averages each image's differences over the tasks, for methods with every task;
    with skip_empty, a method without any cell gets no row."""
    print(title)
    print()
    print("| method | " + " | ".join(tasks) + (" | mean over tasks |" if mean_column else " |"))
    print("|---|" + "---|" * (len(tasks) + mean_column))
    for m in labels:
        cells, per_task = [], []
        for t in tasks:
            xy = pairs(m, t)
            if xy is None:
                cells.append("")
                continue
            d = [x - y if x is not None and y is not None else None for x, y in zip(*xy)]
            per_task.append(d)
            cells.append(signed(mean_se([v for v in d if v is not None]), prec))
        if skip_empty and not per_task:
            continue
        if mean_column:
            complete = len(per_task) == len(tasks) and len({len(d) for d in per_task}) == 1
            # Each image's difference averaged over the tasks; an image missing in any task is left out.
            avg = [sum(col) / len(col) for col in zip(*per_task) if None not in col] if complete else []
            cells.append(signed(mean_se(avg), prec) if avg else "")
        print(f"| {m} | " + " | ".join(cells) + " |")


def paired(rows, tasks, labels, ref_method, metric, prec):
    """The table of REF − method per task, mean ± standard error over the images' paired differences."""
    by = per_image(rows, metric, "--paired")
    if ref_method not in labels:
        sys.exit(f"eval_table.py: no method run '{ref_method}' (there are: {', '.join(labels)})")

    def pairs(m, t):
        ref, other = by.get((ref_method, t)), by.get((m, t))
        return None if ref is None or other is None or len(ref) != len(other) else (ref, other)

    difference_table(f"{ref_method} − method, {metric}: mean ± standard error of the per-image differences", pairs,
                     tasks, [m for m in labels if m != ref_method], prec, len(tasks) > 1, False)


def against(rows, other_rows, tasks, labels, metric, prec):
    """The table of (this run − OTHER) per method and task, paired over the images both runs restored."""
    mine = per_image(rows, metric, "--against", " in both files")
    theirs = per_image(other_rows, metric, "--against", " in both files")
    if not set(mine) & set(theirs):
        sys.exit("eval_table.py: --against: the two runs share no method and task")

    def pairs(m, t):
        x, y = mine.get((m, t)), theirs.get((m, t))
        if x is None or y is None:
            return None
        if len(x) != len(y):
            sys.exit(f"eval_table.py: --against: {m} on {t} has {len(x)} images here and {len(y)} there "
                     "(the runs must restore the same images)")
        return x, y

    difference_table(f"this run − the other, {metric}: mean ± standard error of the per-image differences", pairs,
                     tasks, labels, prec, False, True)


def mean_se(d):
    n = len(d)
    mean = sum(d) / n if n else float("nan")
    se = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1) / n) if n > 1 else float("nan")
    return mean, se


def signed(mean_and_se, prec):
    mean, se = mean_and_se
    return ("+" if mean > 0 else "") + text(mean, se, prec)


if __name__ == "__main__":
    main()
