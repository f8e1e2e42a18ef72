#!/usr/bin/env bash
# Does the spread of `convert --samples K` say where and when the sCT is wrong? (README "Uncertainty",
# issue 16.) Every model converts the held-out cases (BrainWeb-paired val, and two heads from other
# sources: InVesalius' real CT and the New York head, which reaches into the neck) with Euler
# STEPS steps: once deterministically (the ODE) and, for each K in KS, as K draws (Brownian-bridge
# sampler for mr-source models, seeded starts for noise-source ones) whose mean and std map
# `mr2ct evaluate` scores (SynthRAD 2023, the datasets' body masks). Per K: the MAE of the mean
# beside the ODE's, the mean std, Pearson r of mean std vs MAE over cases (all models pooled),
# r of std vs |error| over voxels (mean over models), the calibration bins, seconds per case.
#   MR2CT_DATA_DIR=../shared/data bench/uncertainty_study.sh MODEL_DIR [MODEL_DIR ...]
# Environment: OUT (runs/uncertainty), BUILD (build), KS ("2 4 8"), STEPS (4), JOBS (2 models side
# by side, one thread each), CASES (a manifest of other cases instead: its val rows, paths as the
# manifest resolves them, e.g. the reference/manifest.csv that `mr2ct run` writes for phantoms).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MR2CT=$(cd "${BUILD:-$HERE/../build}" && pwd)/bin/mr2ct
KS=${KS:-"2 4 8"}
STEPS=${STEPS:-4}
JOBS=${JOBS:-2}
[ $# -gt 0 ] || { echo "usage: uncertainty_study.sh MODEL_DIR [MODEL_DIR ...]" >&2; exit 2; }
mkdir -p "${OUT:=$HERE/../runs/uncertainty}"
OUT=$(cd "$OUT" && pwd)
if [ -n "${CASES:-}" ]; then
  # The given manifest's val rows with absolute paths (so the copy resolves as the original did).
  /usr/bin/python3 - "$CASES" > "$OUT/cases.csv" <<'PY'
import csv, os, sys
path = sys.argv[1]
lines = open(path).read().splitlines()
root = next((l.split(":", 1)[1].strip() for l in lines if l.startswith("# data-root:")), ".")
base = os.path.join(os.path.dirname(os.path.abspath(path)), root)
print("id,mr,ct,mask,split")
for r in csv.DictReader(l for l in lines if not l.startswith("#")):
    if r["split"] == "val":
        print(",".join([r["id"]] + [os.path.normpath(os.path.join(base, r[k])) for k in ("mr", "ct", "mask")] + ["val"]))
PY
  DATA_ARGS="--allow-outside"
else
: "${MR2CT_DATA_DIR:?needs MR2CT_DATA_DIR (the folder holding brainweb20-paired), or CASES}"
DATA_ARGS="--data-root $MR2CT_DATA_DIR"
# One manifest of the held-out cases, paths under the data root.
/usr/bin/python3 - "$HERE/../data_manifests" > "$OUT/cases.csv" <<'PY'
import csv, os, sys
d = sys.argv[1]
print("# data-root: .")
print("id,mr,ct,mask,split")
for name in ("brainweb20-paired.csv", "invesalius-cranium-ct-paired.csv", "nyhead-roast-paired.csv"):
    lines = open(os.path.join(d, name)).read().splitlines()
    sub = next(l.split(":", 1)[1].strip() for l in lines if l.startswith("# data-root:"))
    for r in csv.DictReader(l for l in lines if not l.startswith("#")):
        if r["split"] == "val":
            print(",".join([r["id"]] + [f"{sub}/{r[k]}" for k in ("mr", "ct", "mask")] + ["val"]))
PY
fi
export MR2CT OUT KS STEPS DATA_ARGS

study_one() {
  local model=$1 name; name=$(basename "$1")
  for k in 1 $KS; do
    local d=$OUT/$name/k$k
    [ -s "$d/report/summary.json" ] && continue
    mkdir -p "$d/sct"
    local t0; t0=$(date +%s.%N)
    # shellcheck disable=SC2086  # DATA_ARGS is one or two words
    "$MR2CT" convert --model "$model" --manifest "$OUT/cases.csv" $DATA_ARGS --out-dir "$d/sct" \
      --solver euler --steps "$STEPS" --samples "$k" --seed 0 --threads 1 --quiet
    echo "{\"seconds_per_case\": $(echo "($(date +%s.%N) - $t0) / $(grep -c ',val$' "$OUT/cases.csv")" | bc -l)}" > "$d/time.json"
    # shellcheck disable=SC2086
    "$MR2CT" evaluate --manifest "$OUT/cases.csv" $DATA_ARGS --pred-dir "$d/sct" \
      --out "$d/report" --profile synthrad2023 --no-montage --threads 1 --quiet
  done
  echo "[$(date +%H:%M:%S)] $name done" >&2
}
export -f study_one
for m in "$@"; do (cd "$m" && pwd); done | tr '\n' '\0' | xargs -0 -P "$JOBS" -I{} bash -c 'study_one "$@"' _ {}

/usr/bin/python3 - "$OUT" "$KS" "$@" <<'PY'
import csv, json, math, os, statistics as st, sys
out, ks, models = sys.argv[1], [int(k) for k in sys.argv[2].split()], [os.path.basename(os.path.abspath(m)) for m in sys.argv[3:]]
def rows(m, k):
    return [r for r in csv.DictReader(open(os.path.join(out, m, f"k{k}", "report", "metrics.csv"))) if r["status"] == "ok"]
def pearson(x, y):
    mx, my = st.mean(x), st.mean(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y)); sxx = sum((a - mx) ** 2 for a in x); syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")
ode = {m: {r["id"]: float(r["mae"]) for r in rows(m, 1)} for m in models}
res = {"models": models, "ode_mae": st.mean(st.mean(v.values()) for v in ode.values()), "k": []}
lines = [f"ODE (Euler, the same steps): MAE {res['ode_mae']:.1f} HU", "",
         "| K | MAE of the mean (HU) | mean std (HU) | r cases (mean std vs MAE) | r voxels (std vs \\|error\\|) | s / case |",
         "|---|---|---|---|---|---|"]
calib = {}
for k in ks:
    per = [rows(m, k) for m in models]
    mae = [float(r["mae"]) for p in per for r in p]
    sd = [float(r["mean_std_hu"]) for p in per for r in p]
    summaries = [json.load(open(os.path.join(out, m, f"k{k}", "report", "summary.json")))["uncertainty"] for m in models]
    secs = [json.load(open(os.path.join(out, m, f"k{k}", "time.json")))["seconds_per_case"] for m in models]
    rec = {"k": k, "mae": st.mean(mae), "mean_std": st.mean(sd), "r_cases": pearson(sd, mae), "cases": len(mae),
           "r_voxels": st.mean(s["voxel_pearson_r"] for s in summaries), "seconds_per_case": st.mean(secs),
           "per_case": [{"model": m, "id": r["id"], "mae": float(r["mae"]), "mean_std": float(r["mean_std_hu"])}
                        for m, p in zip(models, per) for r in p]}
    bins = {}
    for s in summaries:
        for b in s["bins"]:
            e = bins.setdefault(b["std_from_hu"], {"std_from_hu": b["std_from_hu"], "std_to_hu": b["std_to_hu"], "voxels": 0, "s": 0.0, "e": 0.0})
            e["voxels"] += b["voxels"]; e["s"] += b["mean_std_hu"] * b["voxels"]; e["e"] += b["mean_abs_error_hu"] * b["voxels"]
    rec["calibration"] = [{"std_from_hu": b["std_from_hu"], "std_to_hu": b["std_to_hu"], "voxels": b["voxels"],
                           "mean_std_hu": b["s"] / b["voxels"], "mean_abs_error_hu": b["e"] / b["voxels"]} for b in bins.values()]
    res["k"].append(rec)
    lines.append(f"| {k} | {rec['mae']:.1f} | {rec['mean_std']:.1f} | {rec['r_cases']:.2f} ({rec['cases']} cases) | {rec['r_voxels']:.2f} | {rec['seconds_per_case']:.0f} |")
last = res["k"][-1]
lines += ["", f"Calibration at K = {last['k']} (all models' voxels): mean |error| per std bin; a calibrated Gaussian std s has mean |error| 0.80·s.", "",
          "| std bin (HU) | voxels | mean std | mean \\|error\\| | ratio |", "|---|---|---|---|---|"]
for b in last["calibration"]:
    to = "∞" if b["std_to_hu"] is None else f"{b['std_to_hu']:g}"
    lines.append(f"| {b['std_from_hu']:g}–{to} | {b['voxels']} | {b['mean_std_hu']:.1f} | {b['mean_abs_error_hu']:.1f} | {b['mean_abs_error_hu'] / b['mean_std_hu']:.2f} |")
lines += ["", "Per case at K = %d (MAE / mean std, HU):" % last["k"], ""]
for c in last["per_case"]:
    lines.append(f"- {c['model']} {c['id']}: {c['mae']:.1f} / {c['mean_std']:.1f}")
json.dump(res, open(os.path.join(out, "uncertainty.json"), "w"), indent=1)
open(os.path.join(out, "uncertainty.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
