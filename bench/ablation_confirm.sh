#!/usr/bin/env bash
# Whole-volume confirmation of ablation rows (README "Quality → Ablation", issue 15): every seed's
# model of the named rows converts the val subjects whole (`mr2ct convert`, one nested Euler sweep,
# noise models from seeded noise --seed 0) and is scored with `mr2ct evaluate` (SynthRAD 2023, the
# dataset's body masks) next to the bulk-density baseline. Per row and NFE: MAE mean over subjects
# and seeds, the spread over subjects (std of the per-subject MAE averaged over seeds), the spread
# over seeds, ME, SSIM, bone MAE, and the conversion seconds per volume at that NFE (the sweep's
# seconds per volume × NFE / its largest NFE: network evaluations dominate).
#   MR2CT_DATA_DIR=../shared/data bench/ablation_confirm.sh ROW [ROW ...]
# Environment: OUT (the ablation's folder, runs/ablation), BUILD (build), NFES ("1 2 4 8 16 32"),
# JOBS (2 conversions side by side, one thread each), SPLIT (val), MANIFEST (the one the models were
# trained with: data_manifests/brainweb20-paired.csv, or a fold such as brainweb20-fold1.csv),
# CONVERT_ARGS (more `mr2ct convert` options, e.g. "--match-median") with TAG (added to the row's
# name in confirm/, e.g. "-matchmedian": the same models confirmed another way are another row).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$(cd "${OUT:-$HERE/../runs/ablation}" && pwd)
MR2CT=$(cd "${BUILD:-$HERE/../build}" && pwd)/bin/mr2ct
NFES=${NFES:-"1 2 4 8 16 32"}
JOBS=${JOBS:-2}
SPLIT=${SPLIT:-val}
: "${MR2CT_DATA_DIR:?needs MR2CT_DATA_DIR (the folder holding brainweb20-paired)}"
MANIFEST=$(realpath -e "${MANIFEST:-$HERE/../data_manifests/brainweb20-paired.csv}")
C=$OUT/confirm
mkdir -p "$C"
[ $# -gt 0 ] || { echo "usage: ablation_confirm.sh ROW [ROW ...]" >&2; exit 2; }
CONVERT_ARGS=${CONVERT_ARGS:-}
TAG=${TAG:-}
[ -z "$CONVERT_ARGS" ] || [ -n "$TAG" ] || { echo "ablation_confirm.sh: CONVERT_ARGS needs a TAG" >&2; exit 2; }
export MR2CT MANIFEST MR2CT_DATA_DIR C NFES SPLIT CONVERT_ARGS TAG
. "$HERE/nfe_sweep.sh"

# The bulk-density baseline of every val subject, once.
if [ ! -s "$C/baseline/report/summary.json" ]; then
  mkdir -p "$C/baseline/sct"
  /usr/bin/python3 - "$MANIFEST" "$MR2CT_DATA_DIR" "$SPLIT" <<'PY' | while IFS=$'\t' read -r id mr mask; do
import csv, os, sys
m, root, split = sys.argv[1:4]
lines = [l for l in open(m) if not l.startswith("#")]
sub = next((l.split(":", 1)[1].strip() for l in open(m) if l.startswith("# data-root:")), "")
for r in csv.DictReader(lines):
    if r["split"] == split:
        base = os.path.join(root, sub)
        print(r["id"], os.path.join(base, r["mr"]), os.path.join(base, r["mask"]), sep="\t")
PY
    "$MR2CT" baseline bulk-density --input "$mr" --mask "$mask" --output "$C/baseline/sct/$id.nii.gz" --threads 1 --quiet
  done
  "$MR2CT" evaluate --manifest "$MANIFEST" --data-root "$MR2CT_DATA_DIR" --pred-dir "$C/baseline/sct" \
    --out "$C/baseline/report" --split "$SPLIT" --profile synthrad2023 --no-montage --threads 2 --quiet
fi

confirm_one() {
  local model=$1 name; name=$(basename "$1")
  name=${name%-s*}$TAG-${name##*-}  # <row><TAG>-s<seed>
  local d=$C/$name last=${NFES##* }
  [ -s "$d/nfe$last/report/summary.json" ] && return 0
  # shellcheck disable=SC2086  # CONVERT_ARGS is a list of options
  sweep_and_evaluate "$model" "$d" $CONVERT_ARGS
  echo "[$(date +%H:%M:%S)] confirmed $name" >&2
}
export -f confirm_one
for row in "$@"; do ls -d "$OUT/models/$row"-s*/ | sed 's:/$::'; done | tr '\n' '\0' |
  xargs -0 -P "$JOBS" -I{} bash -c 'confirm_one "$@"' _ {}

rows=(); for row in "$@"; do rows+=("$row$TAG"); done
/usr/bin/python3 - "$C" "$NFES" "${rows[@]}" <<'PY'
import csv, glob, json, os, statistics as st, sys
c, nfes, rows = sys.argv[1], [int(n) for n in sys.argv[2].split()], sys.argv[3:]
def cases(report):
    return {r["id"]: r for r in csv.DictReader(open(os.path.join(report, "metrics.csv"))) if r["status"] == "ok"}
sd = lambda v: st.stdev(v) if len(v) > 1 else 0.0
def cell(rs, key):
    v = [float(r[key]) for r in rs.values() if r[key] != ""]
    return st.mean(v)
base = cases(os.path.join(c, "baseline", "report"))
out = {"baseline": {k: cell(base, k) for k in ("mae", "me", "ssim", "mae_bone")}, "rows": []}
out["baseline"]["mae_subject_std"] = sd([float(r["mae"]) for r in base.values()])
lines = ["| row | NFE | MAE (HU) | subject spread | seed spread | ME (HU) | SSIM | MAE bone (HU) | s / volume |",
         "|---|---|---|---|---|---|---|---|---|",
         f"| bulk-density baseline | – | {out['baseline']['mae']:.1f} | {out['baseline']['mae_subject_std']:.1f} | – | "
         f"{out['baseline']['me']:.1f} | {out['baseline']['ssim']:.3f} | {out['baseline']['mae_bone']:.1f} | – |"]
for row in rows:
    models = sorted(glob.glob(os.path.join(c, row + "-s*")))
    secs = [json.load(open(os.path.join(m, "convert_time.json")))["seconds_per_volume_sweep"] for m in models]
    for n in nfes:
        per = [cases(os.path.join(m, f"nfe{n}", "report")) for m in models]
        ids = sorted(set.intersection(*[set(p) for p in per]))
        subj = [st.mean(float(p[i]["mae"]) for p in per) for i in ids]
        seed = [st.mean(float(p[i]["mae"]) for i in ids) for p in per]
        rec = {"row": row, "nfe": n, "seeds": len(per), "subjects": ids, "mae": st.mean(subj),
               "mae_subject_std": sd(subj), "mae_seed_std": sd(seed),
               "me": st.mean(cell(p, "me") for p in per), "ssim": st.mean(cell(p, "ssim") for p in per),
               "mae_bone": st.mean(cell(p, "mae_bone") for p in per),
               "seconds_per_volume": st.mean(secs) * n / max(nfes)}
        out["rows"].append(rec)
        lines.append(f"| {row} | {n} | {rec['mae']:.1f} | {rec['mae_subject_std']:.1f} | {rec['mae_seed_std']:.1f} | "
                     f"{rec['me']:.1f} | {rec['ssim']:.3f} | {rec['mae_bone']:.1f} | {rec['seconds_per_volume']:.2f} |")
json.dump(out, open(os.path.join(c, "confirm.json"), "w"), indent=1)
open(os.path.join(c, "confirm.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
