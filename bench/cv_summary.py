#!/usr/bin/python3
"""Cross-validation summary of whole-volume confirmations (README "Quality", issue 15).

  bench/cv_summary.py FOLD_OUT[,FOLD_OUT...] ROW [ROW ...]

FOLD_OUT: one folder per fold, each as bench/ablation_study.sh and bench/ablation_confirm.sh left it
with that fold's MANIFEST (FOLD_OUT/confirm/<row>-s<seed>/nfe<k>/report/metrics.csv and
FOLD_OUT/confirm/baseline/report/metrics.csv). Every fold validates on different subjects, so the
subjects of all folds together are each scored by a model that never saw them. A ROW ending in
-sN (mr-bonelevel-bf16-long-s1) takes that seed alone, so single seeds can be compared.

Per row and NFE: MAE mean over all those subjects (each subject's MAE averaged over the seeds its
fold trained), the subject spread (std over subjects: issue 15's spread goal), ME, SSIM, bone MAE,
and the number of subjects; the bulk-density baseline over the same subjects. Prints a Markdown
table and writes cv.json beside the first FOLD_OUT. Only NFE that every fold's models share are listed.
With two ROWs it also compares their spreads at every NFE both have: the difference (first minus
second), its 90 % bootstrap interval over the subjects (20 000 resamples, seed 0), the share of
resamples where the first row's spread is the larger, and the per-subject MAE correlation r.
"""
import csv
import glob
import json
import os
import random
import re
import statistics as st
import sys


def cases(report):
    with open(os.path.join(report, "metrics.csv")) as f:
        return {r["id"]: r for r in csv.DictReader(f) if r["status"] == "ok"}


def mean_of(rs, key):
    v = [float(r[key]) for r in rs if r[key] != ""]
    return st.mean(v) if v else float("nan")


def seed_models(fold, row):
    """The confirmed models of ROW in FOLD: every seed's, or only its own for a ROW-sN."""
    own = os.path.join(fold, "confirm", row)
    if re.search(r"-s[0-9]+$", row) and os.path.isdir(own):
        return [own]
    return sorted(glob.glob(os.path.join(fold, "confirm", row + "-s*")))


def main(folds, rows):
    base = {}
    for f in folds:
        base.update(cases(os.path.join(f, "confirm", "baseline", "report")))
    sd = lambda v: st.stdev(v) if len(v) > 1 else 0.0
    out = {"folds": folds, "baseline": {"mae": mean_of(base.values(), "mae"),
                                        "mae_subject_std": sd([float(r["mae"]) for r in base.values()]),
                                        "subjects": sorted(base)}, "rows": []}
    lines = ["| row | NFE | subjects | MAE (HU) | subject spread | ME (HU) | SSIM | MAE bone (HU) |",
             "|---|---|---|---|---|---|---|---|",
             f"| bulk-density baseline | – | {len(base)} | {out['baseline']['mae']:.1f} | "
             f"{out['baseline']['mae_subject_std']:.1f} | {mean_of(base.values(), 'me'):.1f} | "
             f"{mean_of(base.values(), 'ssim'):.3f} | {mean_of(base.values(), 'mae_bone'):.1f} |"]
    for row in rows:
        models = {f: seed_models(f, row) for f in folds}
        missing = [f for f, m in models.items() if not m]
        if missing:
            sys.exit(f"cv_summary: no confirmed models of row '{row}' in {', '.join(missing)}")
        nfes = sorted(set.intersection(*[
            {int(os.path.basename(p)[3:]) for p in glob.glob(os.path.join(m, "nfe*"))
             if os.path.exists(os.path.join(p, "report", "metrics.csv"))}
            for ms in models.values() for m in ms]))
        for n in nfes:
            subject, per_case = {}, []
            for f, ms in models.items():
                per = [cases(os.path.join(m, f"nfe{n}", "report")) for m in ms]
                for i in set.intersection(*[set(p) for p in per]):
                    subject[i] = st.mean(float(p[i]["mae"]) for p in per)
                    per_case += [p[i] for p in per]
            mae = list(subject.values())
            rec = {"row": row, "nfe": n, "subjects": sorted(subject), "mae": st.mean(mae),
                   "mae_subject_std": sd(mae), "mae_per_subject": subject,
                   "me": mean_of(per_case, "me"), "ssim": mean_of(per_case, "ssim"),
                   "mae_bone": mean_of(per_case, "mae_bone")}
            out["rows"].append(rec)
            lines.append(f"| {row} | {n} | {len(mae)} | {rec['mae']:.1f} | {rec['mae_subject_std']:.1f} | "
                         f"{rec['me']:.1f} | {rec['ssim']:.3f} | {rec['mae_bone']:.1f} |")
    if len(rows) == 2:
        lines += ["", f"| NFE | spread {rows[0]} - {rows[1]} (HU) | 90 % bootstrap | P(first larger) | r |",
                  "|---|---|---|---|---|"]
        for c in compare_spreads(out["rows"], rows):
            out.setdefault("spread_comparison", []).append(c)
            lines.append(f"| {c['nfe']} | {c['difference']:+.2f} | [{c['ci90'][0]:+.2f}, {c['ci90'][1]:+.2f}] | "
                         f"{c['p_first_larger']:.2f} | {c['r']:.2f} |")
    with open(os.path.join(folds[0], "cv.json"), "w") as f:
        json.dump(out, f, indent=1)
    print("\n".join(lines))


def compare_spreads(recs, rows, resamples=20000):
    by = {(r["row"], r["nfe"]): r["mae_per_subject"] for r in recs}
    out = []
    for n in sorted({nfe for row, nfe in by if row == rows[0]} & {nfe for row, nfe in by if row == rows[1]}):
        a, b = by[(rows[0], n)], by[(rows[1], n)]
        ids = sorted(set(a) & set(b))
        x, y = [a[i] for i in ids], [b[i] for i in ids]
        rng = random.Random(0)
        d = []
        for _ in range(resamples):
            k = [rng.randrange(len(ids)) for _ in ids]
            d.append(st.stdev([x[i] for i in k]) - st.stdev([y[i] for i in k]))
        d.sort()
        out.append({"nfe": n, "subjects": len(ids), "difference": st.stdev(x) - st.stdev(y),
                    "ci90": [d[int(0.05 * resamples)], d[int(0.95 * resamples) - 1]],
                    "p_first_larger": sum(v > 0 for v in d) / resamples, "r": st.correlation(x, y)})
    return out


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main([os.path.abspath(f) for f in sys.argv[1].split(",")], sys.argv[2:])
