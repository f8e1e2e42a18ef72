#!/usr/bin/python3
"""Plots of README "Quality → Ablation" (issue 15).

  ablation_plots.py CONFIRM_JSON OUT_PNG_NFE [--title T] [--models MODEL_DIR ... --minutes OUT_PNG_MIN]

CONFIRM_JSON is bench/ablation_confirm.sh's confirm.json: its rows become NFE-versus-MAE curves
(whole volumes, mean over subjects and seeds, error bars = spread over subjects) beside the
bulk-density baseline; bench/cv_summary.py's cv.json has the same rows (--title names the subjects).
Each MODEL_DIR's log.csv becomes a validation-MAE-versus-training-minutes
curve; the minutes are summed from the log's rows (log-every × batch ÷ samples/s per row), which
is the run's wall-clock time to within a minute.
"""
import argparse
import csv
import json
import os

import sys

try:
    import matplotlib
except ImportError:
    sys.exit("ablation_plots.py: needs matplotlib (apt-get install python3-matplotlib)")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = ["C0", "C3", "C2", "C1", "C4", "C5", "C6", "C7"]


def finish(fig, ax, xlabel, ylabel, title, out):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out)
    print(f"plot: {out}")


def nfe_plot(confirm, out, title):
    data = json.load(open(confirm))
    base = data["baseline"]
    rows = {}
    for r in data["rows"]:
        rows.setdefault(r["row"], []).append(r)
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    for colour, (name, rs) in zip(COLOURS, rows.items()):
        rs.sort(key=lambda r: r["nfe"])
        ax.errorbar([r["nfe"] for r in rs], [r["mae"] for r in rs], yerr=[r["mae_subject_std"] for r in rs],
                    fmt="-o", color=colour, capsize=3, label=name)
    ax.axhline(base["mae"], color="grey", linestyle=":", label="bulk-density baseline")
    ax.axhline(0.5 * base["mae"], color="grey", linestyle="--", label="½ baseline (issue 15's goal)")
    nfes = sorted({r["nfe"] for r in data["rows"]})
    ax.set_xscale("log", base=2)
    ax.set_xticks(nfes)
    ax.set_xticklabels([str(n) for n in nfes])
    ax.set_ylim(0, 1.1 * base["mae"])
    finish(fig, ax, "NFE (Euler steps, network evaluations per slice)", "MAE inside the body (HU)",
           title, out)


def log_curve(model):
    config = json.load(open(os.path.join(model, "config.json")))
    train = config["training"]
    batch, every = float(train["batch"]), float(train["log_every"])
    minutes, pts = 0.0, []
    for row in csv.DictReader(open(os.path.join(model, "log.csv"))):
        rate = float(row["samples_per_s"])
        if rate > 0:
            minutes += every * batch / rate / 60.0
        if row["val_mae_hu"]:
            pts.append((minutes, float(row["val_mae_hu"]), int(row["step"])))
    return pts, train["validation_nfe"]


def minutes_plot(models, out):
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    nfes = set()
    for colour, model in zip(COLOURS, models):
        pts, nfe = log_curve(model)
        nfes.add(nfe)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-o", color=colour, label=os.path.basename(model))
            print(os.path.basename(model), " ".join(f"{m:.1f} min {v:.1f} HU (step {s})" for m, v, s in pts))
    nfe = "/".join(str(n) for n in sorted(nfes))
    finish(fig, ax, "training minutes (one core of the 2-core VM)", f"validation MAE, Euler NFE {nfe} (HU)",
           "brainweb20-paired: MAE against training time", out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("confirm")
    p.add_argument("nfe_png")
    p.add_argument("--models", nargs="*", default=[])
    p.add_argument("--minutes")
    p.add_argument("--title", default="brainweb20-paired, val subjects, whole volumes")
    a = p.parse_args()
    nfe_plot(a.confirm, a.nfe_png, a.title)
    if a.models and a.minutes:
        minutes_plot(a.models, a.minutes)


if __name__ == "__main__":
    main()
