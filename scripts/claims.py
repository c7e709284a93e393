#!/usr/bin/env python3
"""The paper's claims measured on one `eps image eval` run (docs/evaluation.md §7): a Markdown table, a row per
claim, with the paired differences per task and over the tasks, and a verdict by one rule.

    python3 scripts/claims.py runs/eval_large/results.json [--eps eps_multitask@20]

Every comparison is paired over images (the methods restore the same images from the same y): PSNR through
each image's value, FD through its bootstrap replicates (results.json's fd_bootstrap, the same draws for every
run). The rule: a claim **holds** on a task where EPS is ahead by at least two standard errors of the paired
difference, **does not hold** where it is behind by as much, and is **level** in between; "on average" uses the
last column, each image's (replicate's) difference averaged over the tasks first. The "why" of a verdict is not
computed: that is the document's prose. Standard library only (any python3).
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_table  # noqa: E402  (the paired differences, the same code as its --paired table)

BASELINES = [("dps", "DPS"), ("pigdm", "ΠGDM"), ("ddnm", "DDNM⁺"), ("daps", "DAPS"), ("mpgd", "MPGD")]


def verdict(mean, se, higher_is_better=True):
    """'ahead', 'behind' or 'level' by the two-standard-error rule (from EPS's side)."""
    if mean is None or not math.isfinite(mean):
        return None
    m = mean if higher_is_better else -mean
    s = se if se is not None and math.isfinite(se) else 0.0
    return "ahead" if m >= 2 * s else "behind" if -m >= 2 * s else "level"


def compare(by, tasks, a, b):
    """{task or 'mean': (mean, se)} of a − b paired over images (replicates for FD); tasks either lacks are left
    out, and the mean over tasks needs every task (eval_table.paired_summaries)."""
    def pairs(t):
        x, y = by.get((a, t)), by.get((b, t))
        return None if x is None or y is None or eval_table.size(x) != eval_table.size(y) else (x, y)
    return eval_table.paired_summaries(pairs, tasks)


def fmt(ms, prec=2):
    mean, se = ms
    s = f"{mean:+.{prec}f}".replace("-", "−")
    return s + (f" ± {se:.{prec}f}" if se is not None and math.isfinite(se) else "")


def cells(res, tasks, prec=2):
    per = " / ".join(fmt(res[t], prec) if t in res else "–" for t in tasks)
    return per + (f"; **{fmt(res['mean'], prec)}**" if "mean" in res else "")


def summary_text(res, tasks, higher_is_better=True):
    """'holds on average; ahead on 3 of 5 tasks, level on 1, behind on 1' from the rule."""
    v = {t: verdict(*res[t], higher_is_better) for t in tasks if t in res}
    parts = []
    if "mean" in res:
        on_avg = verdict(*res["mean"], higher_is_better)
        parts.append({"ahead": "holds on average", "behind": "does not hold on average",
                      "level": "level on average"}[on_avg])
    counts = [(k, sum(1 for x in v.values() if x == k)) for k in ("ahead", "level", "behind")]
    short = {"random_inpainting": "random inp.", "box_inpainting": "box inp.", "super_resolution": "SR",
             "gaussian_deblur": "Gaussian deblur", "motion_deblur": "motion deblur"}
    for k, n in counts:
        if n:
            names = ", ".join(short.get(t, t) for t in tasks if v.get(t) == k)
            parts.append(f"{k} on {n} of {len(v)} ({names})")
    return "; ".join(parts)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results")
    p.add_argument("--eps", default="eps_multitask@20", help="the EPS run the claims are about")
    a = p.parse_args()
    try:
        doc = json.load(open(a.results))
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"claims.py: cannot read the results: {e}")
    rows = doc["rows"]
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    runs = {r["method"] for r in rows}
    if a.eps not in runs:
        sys.exit(f"claims.py: no run '{a.eps}' in {a.results} (there are: {', '.join(sorted(runs))})")
    psnr = eval_table.per_image(rows, "psnr", "claims.py")
    has_fd = all("fd_bootstrap" in r for r in rows)
    fd = eval_table.per_image(rows, "fd", "claims.py") if has_fd else {}

    def budget(name):  # the run of a registry method at the largest budget present (e.g. dps@250)
        cands = [m for m in runs if m.split("@")[0] == name]
        return max(cands, key=lambda m: int(m.split("@")[1])) if cands else None

    cfg = doc.get("config", {})
    print(f"Claims on {a.results}: {cfg.get('images')} {cfg.get('split')} images × {cfg.get('seeds')} seeds per task, "
          f"σ_y = {cfg.get('sigma_y')}; EPS − other, paired; per task ({' / '.join(tasks)}); **mean over tasks**")
    print()
    print("| claim | PSNR (dB) | verdict (PSNR) | FD (lower is better) | verdict (FD) |")
    print("|---|---|---|---|---|")

    def row(claim, x, y, with_fd=True):
        if x is None or y is None:
            return
        r = compare(psnr, tasks, x, y)
        if not r:
            return
        f = compare(fd, tasks, x, y) if (with_fd and has_fd) else {}
        fd_cells = (cells(f, tasks, 1), summary_text(f, tasks, higher_is_better=False)) if f else ("", "")
        print(f"| {claim} | {cells(r, tasks)} | {summary_text(r, tasks)} | {fd_cells[0]} | {fd_cells[1]} |")

    for name, label in BASELINES:
        other = budget(name)
        row(f"{a.eps} beats {label} ({other})", a.eps, other)
    row(f"{a.eps} beats Palette ({budget('palette')})", a.eps, budget("palette"))
    row(f"{a.eps} beats its zero-shot start ({budget('zero_shot')})", a.eps, budget("zero_shot"))
    fam, _, nfe = a.eps.partition("@")
    if fam == "eps_multitask":
        row(f"multi-task beats per-task (eps_task@{nfe})", a.eps, f"eps_task@{nfe}")
    row(f"fine-tuned beats from scratch (eps_task@{nfe} − eps_scratch@{nfe})", f"eps_task@{nfe}", f"eps_scratch@{nfe}")

    # EPS@1 as a posterior-mean estimator: its one evaluation (each seed's, averaged per image) against the
    # posterior mean over the seeds of every run outside EPS's families, paired over images where results.json
    # has each image's posterior-mean PSNR (unpaired, from the means and their SEs, where it does not).
    one = f"{fam}@1"
    if one in runs:
        by = {(r["method"], r["task"]): r for r in rows}
        paired_means = all("psnr_mean" in r.get("per_image", {}) for r in rows)
        print()
        print(f"{one} (one network evaluation) against the best posterior mean over the seeds of any other "
              f"method (the EPS families aside), PSNR (dB), {one} − other, "
              + ("paired over images:" if paired_means else "unpaired (SEs combined):"))
        print()
        print(f"| task | {one} | best other posterior mean (run) | {one} − it | verdict |")
        print("|---|---|---|---|---|")
        for t in tasks:
            if (one, t) not in by:
                continue
            mine = eval_table.cell(by[(one, t)], "psnr")
            others = [r for r in rows if r["task"] == t and not r["family"].startswith("eps") and r["method"] != "pinv"
                      and r["family"] != "prior"]
            if not others:
                continue
            best = max(others, key=lambda r: eval_table.cell(r, "psnr_mean")[0])
            bm = eval_table.cell(best, "psnr_mean")
            if paired_means:
                d = eval_table.summary(eval_table.difference(by[(one, t)]["per_image"]["psnr"],
                                                             best["per_image"]["psnr_mean"]))
            else:
                d = (mine[0] - bm[0], math.hypot(mine[1], bm[1]))
            v = {"ahead": "best", "level": "level", "behind": "behind"}[verdict(*d)]
            print(f"| {t} | {mine[0]:.2f} ± {mine[1]:.2f} | {bm[0]:.2f} ± {bm[1]:.2f} ({best['method']}) | {fmt(d)} | "
                  f"{v} |")

    cost = doc.get("cost") or []
    if cost:
        print()
        print("Cost (batch 1 unless said): EPS@20 / prior@20 per image; pivot share of a network evaluation; "
              "DPS@250 / EPS@20 per image:")
        print()
        print("| task | EPS@20 / prior@20, b=1 | same, run's batch | pivot share | DPS@250 / EPS@20 |")
        print("|---|---|---|---|---|")
        for c in cost:
            def ratio(x, y):
                return f"{c[x] / c[y]:.3f}" if c.get(x) and c.get(y) else "–"
            share = f"{100 * c['pivot_share']:.2f} %" if c.get("pivot_share") else "–"
            dps = f"{c['dps250_seconds_per_image_b1'] / c['eps20_seconds_per_image_b1']:.1f}×" if c.get(
                "dps250_seconds_per_image_b1") and c.get("eps20_seconds_per_image_b1") else "–"
            print(f"| {c['task']} | {ratio('eps20_seconds_per_image_b1', 'prior20_seconds_per_image_b1')} | "
                  f"{ratio('eps20_seconds_per_image_batch', 'prior20_seconds_per_image_batch')} | {share} | {dps} |")


if __name__ == "__main__":
    main()
