#!/usr/bin/env bash
# Full metric set (MAE, ME, RMSE, PSNR, SSIM, MS-SSIM; + tissue MAE and bone Dice on our side) on
# a 256x256x200 pair, mr2ct (bench/metrics_bench) against ../shared/peers/metrics_reference.py in
# one run on the same files. The pair: BrainWeb subject04's CT resampled (linear) to 256x256x200,
# and a perturbed copy (2-voxel shift, +15 HU bias, Gaussian noise sigma 30 HU), mask = its body
# mask. Prints one JSON line: both sides' values, compute times (files already read) and
# end-to-end process times, and the ratios.
# Usage: bench/metrics_vs_reference.sh [BUILD_DIR] [THREADS]     (needs MR2CT_DATA_DIR or /work/shared/data)
set -euo pipefail
BUILD=${1:-build}
THREADS=${2:-$(nproc)}
DATA=${MR2CT_DATA_DIR:-/work/shared/data}
HERE=$(cd "$(dirname "$0")" && pwd)
REF=${MR2CT_METRICS_REFERENCE:-$(cd "$DATA/.." && pwd)/peers/metrics_reference.py}
BENCH=$HERE/../$BUILD/bench/metrics_bench
[ -x "$BENCH" ] || BENCH=$BUILD/bench/metrics_bench
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PY=/usr/bin/python3

$PY - "$DATA" "$TMP" <<'PYEOF'
import sys, numpy as np, nibabel as nib
from scipy.ndimage import zoom
data, out = sys.argv[1], sys.argv[2]
ct = nib.load(f"{data}/brainweb20-paired/subject04/ct.nii.gz")
a = ct.get_fdata()
a = zoom(a, [256 / a.shape[0], 256 / a.shape[1], 200 / a.shape[2]], order=1)
rng = np.random.default_rng(0)
p = np.roll(a, 2, axis=0) + 15 + rng.normal(0, 30, a.shape)
m = (a > -400).astype(np.uint8)
aff = np.diag([0.9, 0.9, 1.0, 1.0])
nib.save(nib.Nifti1Image(a.astype(np.float32), aff), f"{out}/ref.nii.gz")
nib.save(nib.Nifti1Image(p.astype(np.float32), aff), f"{out}/pred.nii.gz")
nib.save(nib.Nifti1Image(m, aff), f"{out}/mask.nii.gz")
PYEOF

for PROFILE in synthrad2023 synthrad2025; do
  # Python: compute-only time (median of 2) and an end-to-end run of the script itself.
  PYJSON=$($PY - "$REF" "$TMP" "$PROFILE" <<'PYEOF'
import sys, time, json, importlib.util
spec = importlib.util.spec_from_file_location("mref", sys.argv[1]); m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
d, prof = sys.argv[2], sys.argv[3]
p, r, k = m.load(f"{d}/pred.nii.gz"), m.load(f"{d}/ref.nii.gz"), m.load(f"{d}/mask.nii.gz")
ts = []
for _ in range(2):
    t = time.perf_counter(); res = m.compute(p, r, k, prof); ts.append(time.perf_counter() - t)
res["compute_s_median"] = sorted(ts)[len(ts) // 2]
print(json.dumps(res))
PYEOF
)
  T0=$(date +%s.%N); $PY "$REF" "$TMP/pred.nii.gz" "$TMP/ref.nii.gz" "$TMP/mask.nii.gz" --profile "$PROFILE" >/dev/null
  T1=$(date +%s.%N)
  CPPJSON=$("$BENCH" "$TMP/pred.nii.gz" "$TMP/ref.nii.gz" "$TMP/mask.nii.gz" --profile "$PROFILE" --threads "$THREADS" --repeats 3)
  T2=$(date +%s.%N); "$BENCH" "$TMP/pred.nii.gz" "$TMP/ref.nii.gz" "$TMP/mask.nii.gz" --profile "$PROFILE" --threads "$THREADS" --repeats 1 >/dev/null
  T3=$(date +%s.%N)
  CPP1=$("$BENCH" "$TMP/pred.nii.gz" "$TMP/ref.nii.gz" "$TMP/mask.nii.gz" --profile "$PROFILE" --threads 1 --repeats 3)
  $PY - "$PROFILE" "$PYJSON" "$CPPJSON" "$CPP1" "$T0" "$T1" "$T2" "$T3" "$THREADS" <<'PYEOF'
import sys, json
prof, py, cpp, cpp1 = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
t0, t1, t2, t3 = map(float, sys.argv[5:9])
keys = ["mae", "me", "rmse", "psnr", "ssim", "ms_ssim"]
diff = {k: abs(py[k] - cpp[k]) for k in keys}
rel = {k: abs(py[k] - cpp[k]) / max(abs(py[k]), 1e-12) for k in keys}
print(json.dumps({"bench": "metrics_vs_reference", "profile": prof, "size": cpp["size"], "threads": int(sys.argv[9]),
  "mask_voxels": cpp["mask_voxels"],
  "python": {k: py[k] for k in keys}, "mr2ct": {k: cpp[k] for k in keys + ["mae_air", "mae_soft", "mae_bone", "bone_dice"]},
  "abs_diff": diff, "rel_diff": rel,
  "python_compute_s": py["compute_s_median"], "mr2ct_compute_s": cpp["compute_s_median"],
  "mr2ct_compute_s_1thread": cpp1["compute_s_median"],
  "speedup_compute": py["compute_s_median"] / cpp["compute_s_median"],
  "speedup_compute_1thread": py["compute_s_median"] / cpp1["compute_s_median"],
  "python_end_to_end_s": t1 - t0, "mr2ct_end_to_end_s": t3 - t2, "speedup_end_to_end": (t1 - t0) / (t3 - t2)}))
PYEOF
done
