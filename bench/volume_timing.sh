#!/usr/bin/env bash
# Where the seconds of one clinical-size conversion go (README "convert --precision", issue 18): a
# 256×256×180 MR at 1 mm (a BrainWeb-paired subject upsampled ×2 with nibabel/numpy, nearest
# neighbour, and padded: the anatomy and intensities of a real head at a scanner's matrix) converted
# by MODEL with Euler NFE 1 and 4 in fp32 and bf16, REPS times each; the median of read, preparation
# (reorientation, mask, N4 when the model's plan has it, normalization), integration and write.
#   MR2CT_DATA_DIR=../shared/data bench/volume_timing.sh MODEL_DIR
# Environment: OUT (runs/volume-timing), BUILD (build), THREADS (2), REPS (3), NFES ("1 4"),
# PRECISIONS ("fp32 bf16"), SUBJECT (subject04).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MR2CT=$(cd "${BUILD:-$HERE/../build}" && pwd)/bin/mr2ct
MODEL=$(cd "${1:?usage: volume_timing.sh MODEL_DIR}" && pwd)
: "${MR2CT_DATA_DIR:?needs MR2CT_DATA_DIR (the folder holding brainweb20-paired)}"
mkdir -p "${OUT:=$HERE/../runs/volume-timing}"
OUT=$(cd "$OUT" && pwd)
MR=$OUT/mr-256x256x180.nii.gz
if [ ! -s "$MR" ]; then
  /usr/bin/python3 - "$MR2CT_DATA_DIR/brainweb20-paired/${SUBJECT:-subject04}/mr_t1.nii.gz" "$MR" <<'PY'
import sys
import nibabel as nib, numpy as np
src = nib.load(sys.argv[1])
a = np.asarray(src.dataobj, dtype=np.float32)
z = [src.header.get_zooms()[i] for i in range(3)]
up = [max(1, int(round(zi))) for zi in z]              # to 1 mm
a = a.repeat(up[0], 0).repeat(up[1], 1).repeat(up[2], 2)
out = np.zeros((256, 256, 180), np.float32)
def fit(n, m):  # source and target slices centring n voxels in m
    return (slice(max(0, (n - m) // 2), max(0, (n - m) // 2) + min(n, m)), slice(max(0, (m - n) // 2), max(0, (m - n) // 2) + min(n, m)))
(sx, tx), (sy, ty), (sz, tz) = fit(a.shape[0], 256), fit(a.shape[1], 256), fit(a.shape[2], 180)
out[tx, ty, tz] = a[sx, sy, sz]
aff = src.affine.copy()
aff[:3, :3] = aff[:3, :3] / np.array(up)
# Voxel 0 of the upsampled grid lies (up − 1)/2 new voxels before the old voxel 0's centre.
aff[:3, 3] = src.affine[:3, 3] + aff[:3, :3] @ (np.array([sx.start - tx.start, sy.start - ty.start, sz.start - tz.start], float)
                                                 - (np.array(up) - 1) / 2)
img = nib.Nifti1Image(out.astype(np.int16), aff)
img.set_qform(aff, 1); img.set_sform(aff, 1)
nib.save(img, sys.argv[2])
print("wrote", sys.argv[2], out.shape, "1 mm", file=sys.stderr)
PY
fi
runs=$OUT/runs.tsv
: > "$runs"
for precision in ${PRECISIONS:-fp32 bf16}; do
  for nfe in ${NFES:-1 4}; do
    for rep in $(seq "${REPS:-3}"); do
      # The line `convert` prints: "<in>: N slices, read a s, preprocess b s, integrate c s, write d s, total e s".
      line=$("$MR2CT" convert --model "$MODEL" --input "$MR" --output "$OUT/sct.nii.gz" --solver euler --steps "$nfe" \
        --precision "$precision" --threads "${THREADS:-2}" 2>/dev/null | grep " slices, read ")
      echo "$line" | sed -E "s/.* ([0-9]+) slices, read ([0-9.e-]+) s, preprocess ([0-9.e-]+) s, integrate ([0-9.e-]+) s, write ([0-9.e-]+) s, total ([0-9.e-]+) s/$precision\t$nfe\t\1\t\2\t\3\t\4\t\5\t\6/" >> "$runs"
      rm -f "$OUT/sct.nii.gz"
    done
  done
done
/usr/bin/python3 - "$runs" "$OUT" "$MODEL" "${THREADS:-2}" <<'PY'
import json, statistics as st, sys
runs, out, model, threads = sys.argv[1:5]
rows = {}
for l in open(runs):
    p, nfe, slices, *secs = l.split("\t")
    rows.setdefault((p, int(nfe)), []).append([float(s) for s in secs])
lines = [f"{threads} thread(s), model {model}, median of {len(next(iter(rows.values())))} runs, seconds:", "",
         "| precision | NFE | read | preparation | integration | write | total |", "|---|---|---|---|---|---|---|"]
res = []
for (p, nfe), r in rows.items():
    med = [st.median(c) for c in zip(*r)]
    res.append({"precision": p, "nfe": nfe, "read": med[0], "preparation": med[1], "integration": med[2], "write": med[3], "total": med[4]})
    lines.append(f"| {p} | {nfe} | " + " | ".join(f"{m:.1f}" for m in med) + " |")
json.dump(res, open(out + "/volume_timing.json", "w"), indent=1)
open(out + "/volume_timing.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
