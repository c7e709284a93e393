#!/usr/bin/env python3
"""One wide Markdown table (a row per method run, a column per task) from `eps image eval`'s results.json.

    python3 scripts/eval_table.py runs/eval/results.json [--metric psnr] [--compare OTHER/results.json]
    python3 scripts/eval_table.py runs/eval/results.json --paired eps_multitask@20 [--metric ssim]
    python3 scripts/eval_table.py runs/eval_b/results.json --against runs/eval_a/results.json

Each cell is the metric's mean ± its standard error over images; with --compare, the cell of the same method
and task in OTHER follows after " / " (a before/after table). The best mean per task is in bold (the largest
for PSNR/SSIM, the smallest for CRPS/FD; none for consistency, whose target is σ_y).
With --paired REF (PSNR, SSIM or the posterior mean's PSNR per image; FD below), each cell is the mean over images of (REF − method) ± the standard error of
those differences: every method restores the same images from the same measurements, so the differences pair,
and their standard error is the one that says whether REF is ahead (results.json's per_image values). A last
column averages each image's differences over the tasks (the same test images in every task), for the methods
run on all of them: the comparison "on average over the tasks" with its paired standard error. With --metric fd,
each cell is REF's FD − the method's ± the spread of that difference over FD's bootstrap replicates (results.json's
fd_bootstrap: every run resampled with the same draws of images, the same in every task, so they pair too).
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
    """{(method, task): that row's paired values of metric}: the per-image list of PSNR or SSIM, or for FD a
    dict {"point": the FD of all samples, "boot": its bootstrap replicates}; exits when the file has none."""
    if metric == "fd":
        if any("fd_bootstrap" not in r for r in rows):
            sys.exit(f"eval_table.py: {flag} --metric fd needs FD's bootstrap replicates{where} (results.json of eps "
                     "image eval from 2026-12-03's FD bootstrap on)")
        return {(r["method"], r["task"]): {"point": cell(r, "fd")[0], "boot": r["fd_bootstrap"]} for r in rows
                if r["fd_bootstrap"]}
    if metric not in ("psnr", "ssim", "psnr_mean"):
        sys.exit(f"eval_table.py: {flag} compares psnr, ssim, psnr_mean (per image) or fd (bootstrap), not '{metric}'")
    if any(metric not in r.get("per_image", {}) for r in rows):
        sys.exit(f"eval_table.py: {flag} needs per-image values of {metric}{where} (results.json of eps image eval "
                 "from 2026-12-03 on; psnr_mean from 2026-12-03's FD bootstrap on)")
    return {(r["method"], r["task"]): r["per_image"][metric] for r in rows}


def size(v):
    """How many paired values: images, or bootstrap replicates."""
    return len(v["boot"]) if isinstance(v, dict) else len(v)


def difference(x, y):
    """x − y, image by image (lists; None where either is missing), or point and replicate by replicate (FD)."""
    if isinstance(x, dict):
        return {"point": x["point"] - y["point"], "boot": [a - b for a, b in zip(x["boot"], y["boot"])]}
    return [a - b if a is not None and b is not None else None for a, b in zip(x, y)]


def summary(d):
    """(mean, standard error) of a difference: over images, or the point value ± the replicates' spread."""
    if isinstance(d, dict):
        b = d["boot"]
        m = sum(b) / len(b)
        return d["point"], math.sqrt(sum((v - m) ** 2 for v in b) / (len(b) - 1)) if len(b) > 1 else float("nan")
    return mean_se([v for v in d if v is not None])


def task_average(ds):
    """The differences of several tasks averaged image by image (an image missing in any task is left out), or
    point by point and replicate by replicate (FD: the same draws in every task); None when nothing is left."""
    if isinstance(ds[0], dict):
        return {"point": sum(d["point"] for d in ds) / len(ds),
                "boot": [sum(col) / len(col) for col in zip(*(d["boot"] for d in ds))]}
    avg = [sum(col) / len(col) for col in zip(*ds) if None not in col]
    return avg or None


def paired_summaries(pairs, tasks):
    """{task: (mean, se)} of x − y for each task where pairs(task) gives (x, y) (per-image lists, or FD values with
    their bootstrap replicates), and {'mean': (mean, se)} over the tasks, each image's (replicate's) differences
    averaged first, when there are several tasks, every one has a pair and all have as many values."""
    out, diffs = {}, []
    for t in tasks:
        xy = pairs(t)
        if xy is None:
            continue
        d = difference(*xy)
        diffs.append(d)
        out[t] = summary(d)
    if len(diffs) == len(tasks) > 1 and len({size(d) for d in diffs}) == 1:
        avg = task_average(diffs)
        if avg:
            out["mean"] = summary(avg)
    return out


def difference_table(title, pairs, tasks, labels, prec, mean_column, skip_empty):
    """Prints a table of paired differences: pairs(method, task) gives (x, y), two per-image lists of the same
    length, or two FD values with their bootstrap replicates (or None: an empty cell); each cell is the mean of
    x − y over images ± its standard error (FD: the difference ± the spread of its replicates). With
    mean_column, a last column averages each image's (replicate's) differences over the tasks, for methods with
    every task; with skip_empty, a method without any cell gets no row."""
    print(title)
    print()
    print("| method | " + " | ".join(tasks) + (" | mean over tasks |" if mean_column else " |"))
    print("|---|" + "---|" * (len(tasks) + mean_column))
    for m in labels:
        res = paired_summaries(lambda t: pairs(m, t), tasks)
        if skip_empty and not res:
            continue
        cells = [signed(res[t], prec) if t in res else "" for t in tasks]
        if mean_column:
            cells.append(signed(res["mean"], prec) if "mean" in res else "")
        print(f"| {m} | " + " | ".join(cells) + " |")


def paired(rows, tasks, labels, ref_method, metric, prec):
    """The table of REF − method per task, mean ± standard error over the images' paired differences."""
    by = per_image(rows, metric, "--paired")
    if ref_method not in labels:
        sys.exit(f"eval_table.py: no method run '{ref_method}' (there are: {', '.join(labels)})")

    def pairs(m, t):
        ref, other = by.get((ref_method, t)), by.get((m, t))
        return None if ref is None or other is None or size(ref) != size(other) else (ref, other)

    what = ("the difference ± the spread of its bootstrap replicates over images" if metric == "fd" else
            "mean ± standard error of the per-image differences")
    difference_table(f"{ref_method} − method, {metric}: {what}", pairs,
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
        if size(x) != size(y):
            sys.exit(f"eval_table.py: --against: {m} on {t} has {size(x)} paired values here and {size(y)} there "
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
