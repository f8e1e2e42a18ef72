#!/usr/bin/env bash
# Solvers per flow source at equal NFE (README "Quality", issue 15): every model converts the val
# subjects whole with each SOLVER at each NFE in NFES (steps = NFE ÷ evaluations per step: Euler 1,
# midpoint and Heun 2) and is scored with `mr2ct evaluate` (SynthRAD 2023, the dataset's body masks).
# Prints one row per model, solver and NFE: MAE mean and std over the subjects, ME, SSIM, bone MAE,
# seconds per volume; writes OUT/solvers.md and OUT/solvers.json.
#   MR2CT_DATA_DIR=../shared/data bench/solver_compare.sh MODEL_DIR [MODEL_DIR ...]
# Environment: OUT (runs/solvers), BUILD (build), SOLVERS ("euler midpoint heun"), NFES ("2 4 8"),
# SPLIT (val), JOBS (2 conversions side by side, one thread each).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MR2CT=$(cd "${BUILD:-$HERE/../build}" && pwd)/bin/mr2ct
SOLVERS=${SOLVERS:-"euler midpoint heun"}
NFES=${NFES:-"2 4 8"}
SPLIT=${SPLIT:-val}
JOBS=${JOBS:-2}
: "${MR2CT_DATA_DIR:?needs MR2CT_DATA_DIR (the folder holding brainweb20-paired)}"
MANIFEST=$HERE/../data_manifests/brainweb20-paired.csv
[ $# -gt 0 ] || { echo "usage: solver_compare.sh MODEL_DIR [MODEL_DIR ...]" >&2; exit 2; }
mkdir -p "${OUT:=$HERE/../runs/solvers}"
OUT=$(cd "$OUT" && pwd)
export MR2CT MANIFEST MR2CT_DATA_DIR OUT SPLIT
. "$HERE/nfe_sweep.sh"

one() {  # one MODEL SOLVER NFE -> OUT/<model>/<solver>-nfe<NFE>/{sct,report,seconds}
  local model=$1 solver=$2 nfe=$3 per=1
  [ "$solver" = euler ] || per=2
  [ $((nfe % per)) -eq 0 ] || return 0
  local d=$OUT/$(basename "$model")/$solver-nfe$nfe
  [ -s "$d/report/summary.json" ] && return 0
  mkdir -p "$d/sct"
  local t0; t0=$(date +%s.%N)
  "$MR2CT" convert --model "$model" --manifest "$MANIFEST" --data-root "$MR2CT_DATA_DIR" --split "$SPLIT" \
    --out-dir "$d/sct" --solver "$solver" --steps $((nfe / per)) --threads 1 --quiet
  echo "($(date +%s.%N) - $t0) / $(ls "$d/sct"/*.nii.gz | wc -l)" | bc -l > "$d/seconds"
  evaluate_predictions "$d/sct" "$d/report"
}
export -f one
for m in "$@"; do for s in $SOLVERS; do for n in $NFES; do printf '%s\t%s\t%s\0' "$(cd "$m" && pwd)" "$s" "$n"; done; done; done |
  xargs -0 -P "$JOBS" -I{} bash -c 'IFS=$'"'\t'"' read -r m s n <<< "$1"; one "$m" "$s" "$n"' _ {}

/usr/bin/python3 - "$OUT" "$SOLVERS" "$NFES" "$@" <<'PY'
import csv, json, os, statistics as st, sys
out, solvers, nfes, models = sys.argv[1], sys.argv[2].split(), [int(n) for n in sys.argv[3].split()], sys.argv[4:]
lines = ["| model | solver | NFE | MAE (HU) | subject spread | ME (HU) | SSIM | MAE bone (HU) | s / volume |",
         "|---|---|---|---|---|---|---|---|---|"]
rows = []
for m in models:
    name = os.path.basename(os.path.normpath(m))
    for s in solvers:
        for n in nfes:
            d = os.path.join(out, name, f"{s}-nfe{n}")
            if not os.path.exists(os.path.join(d, "report", "metrics.csv")):
                continue
            r = [x for x in csv.DictReader(open(os.path.join(d, "report", "metrics.csv"))) if x["status"] == "ok"]
            mean = lambda k: st.mean(float(x[k]) for x in r if x[k] != "")
            mae = [float(x["mae"]) for x in r]
            rec = {"model": name, "solver": s, "nfe": n, "mae": st.mean(mae), "mae_subject_std": st.stdev(mae) if len(mae) > 1 else 0.0,
                   "me": mean("me"), "ssim": mean("ssim"), "mae_bone": mean("mae_bone"),
                   "seconds_per_volume": float(open(os.path.join(d, "seconds")).read())}
            rows.append(rec)
            lines.append(f"| {name} | {s} | {n} | {rec['mae']:.1f} | {rec['mae_subject_std']:.1f} | {rec['me']:.1f} | "
                         f"{rec['ssim']:.3f} | {rec['mae_bone']:.1f} | {rec['seconds_per_volume']:.1f} |")
json.dump(rows, open(os.path.join(out, "solvers.json"), "w"), indent=1)
open(os.path.join(out, "solvers.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
