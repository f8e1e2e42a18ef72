#!/usr/bin/env bash
# What bf16 inference costs in accuracy on BrainWeb-paired (README "convert --precision", issue 18):
# every model converts the val subjects whole twice, `--precision fp32` and `--precision bf16`, in
# one nested Euler sweep each (NFES), and both are scored with `mr2ct evaluate` (SynthRAD 2023, the
# dataset's body masks). Per NFE: the MAE of each precision (mean over subjects and models), the
# change of the MAE (bf16 − fp32: mean, and the largest over models), and the voxel differences
# |sCT_bf16 − sCT_fp32| inside the body read with nibabel (mean, 99th percentile, largest).
#   MR2CT_DATA_DIR=../shared/data bench/precision_accuracy.sh MODEL_DIR [MODEL_DIR ...]
# Environment: OUT (runs/precision), BUILD (build), NFES ("1 4 8"), SPLIT (val), JOBS (2 conversions
# side by side, one thread each), MANIFEST (data_manifests/brainweb20-paired.csv; another manifest's
# paths are read against MR2CT_DATA_DIR, e.g. a demo's data folder with SPLIT=test).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MR2CT=$(cd "${BUILD:-$HERE/../build}" && pwd)/bin/mr2ct
NFES=${NFES:-"1 4 8"}
SPLIT=${SPLIT:-val}
JOBS=${JOBS:-2}
: "${MR2CT_DATA_DIR:?needs MR2CT_DATA_DIR (the folder holding brainweb20-paired)}"
MANIFEST=${MANIFEST:-$HERE/../data_manifests/brainweb20-paired.csv}
[ $# -gt 0 ] || { echo "usage: precision_accuracy.sh MODEL_DIR [MODEL_DIR ...]" >&2; exit 2; }
mkdir -p "${OUT:=$HERE/../runs/precision}"
OUT=$(cd "$OUT" && pwd)
export MR2CT MANIFEST MR2CT_DATA_DIR OUT NFES SPLIT
. "$HERE/nfe_sweep.sh"

convert_one() {  # convert_one MODEL PRECISION
  local model=$1 precision=$2 d; d=$OUT/$(basename "$1")/$2
  local last=${NFES##* }
  [ -s "$d/nfe$last/report/summary.json" ] && return 0
  sweep_and_evaluate "$model" "$d" --precision "$precision"
  echo "[$(date +%H:%M:%S)] $(basename "$model") $precision done" >&2
}
export -f convert_one
for m in "$@"; do
  m=$(cd "$m" && pwd)
  printf '%s\0%s\0' "$m" fp32 "$m" bf16
done | xargs -0 -n 2 -P "$JOBS" bash -c 'convert_one "$@"' _

/usr/bin/python3 - "$MANIFEST" "$MR2CT_DATA_DIR" "$SPLIT" "$OUT" "$NFES" "$@" <<'PY'
import csv, json, os, statistics as st, sys
import nibabel as nib, numpy as np
manifest, root, split, out, nfes, models = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], \
    [int(n) for n in sys.argv[5].split()], [os.path.basename(os.path.abspath(m)) for m in sys.argv[6:]]
sub = next((l.split(":", 1)[1].strip() for l in open(manifest) if l.startswith("# data-root:")), "")
masks = {r["id"]: os.path.join(root, sub, r["mask"])
         for r in csv.DictReader(l for l in open(manifest) if not l.startswith("#")) if r["split"] == split}
def mae(model, precision, n):
    rows = csv.DictReader(open(os.path.join(out, model, precision, f"nfe{n}", "report", "metrics.csv")))
    return {r["id"]: float(r["mae"]) for r in rows if r["status"] == "ok"}
res = {"split": split, "models": models, "rows": []}
lines = ["| NFE | MAE fp32 (HU) | MAE bf16 (HU) | ΔMAE mean (HU) | ΔMAE largest | mean \\|bf16 − fp32\\| in body (HU) | 99th pct | largest |",
         "|---|---|---|---|---|---|---|---|"]
for n in nfes:
    a = [mae(m, "fp32", n) for m in models]
    b = [mae(m, "bf16", n) for m in models]
    dmae = [st.mean(bb[i] - aa[i] for i in aa) for aa, bb in zip(a, b)]
    diffs = []
    for m in models:
        for i, mask in masks.items():
            f = lambda p: np.asarray(nib.load(os.path.join(out, m, p, f"nfe{n}", "sct", i + ".nii.gz")).dataobj, dtype=np.float64)
            body = np.asarray(nib.load(mask).dataobj) > 0
            diffs.append(np.abs(f("bf16") - f("fp32"))[body])
    d = np.concatenate(diffs)
    rec = {"nfe": n, "mae_fp32": st.mean(st.mean(x.values()) for x in a), "mae_bf16": st.mean(st.mean(x.values()) for x in b),
           "delta_mae_mean": st.mean(dmae), "delta_mae_largest": max(dmae, key=abs),
           "voxel_diff_mean": float(d.mean()), "voxel_diff_p99": float(np.percentile(d, 99)), "voxel_diff_max": float(d.max())}
    res["rows"].append(rec)
    lines.append(f"| {n} | {rec['mae_fp32']:.2f} | {rec['mae_bf16']:.2f} | {rec['delta_mae_mean']:+.2f} | {rec['delta_mae_largest']:+.2f} | "
                 f"{rec['voxel_diff_mean']:.2f} | {rec['voxel_diff_p99']:.1f} | {rec['voxel_diff_max']:.1f} |")
json.dump(res, open(os.path.join(out, "precision.json"), "w"), indent=1)
open(os.path.join(out, "precision.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
