#!/usr/bin/env bash
# Can mr2ct tell an input unlike its training data? (README "Uncertainty", issue 16.) From each
# BrainWeb val subject nibabel writes inputs the model was not trained for, on the MR's own grid:
# the MR flipped head to foot, the MR under a strong bias field (×0.5 → ×1.5 across x), the CT fed
# in as MR, and Gaussian noise with the MR's mean and spread. Each input, and the three clean MRs,
# is scored two ways: the mean std in the body of K bridge samples (`convert --samples K`, Euler
# STEPS steps) and log p(CT | MR) in bits per voxel (`mr2ct likelihood`, midpoint STEPS steps, one
# Hutchinson probe) against the subject's CT. Per kind: AUROC of each score (clean vs that kind,
# higher score = flagged), with 3 clean and 3 altered inputs, so 9 pairs: AUROC moves in steps of 1/9.
#   MR2CT_DATA_DIR=../shared/data bench/ood_study.sh MODEL_DIR
# Environment: OUT (runs/ood), BUILD (build), K (4), STEPS (4).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MR2CT=$(cd "${BUILD:-$HERE/../build}" && pwd)/bin/mr2ct
MODEL=$(cd "${1:?usage: ood_study.sh MODEL_DIR}" && pwd)
K=${K:-4}
STEPS=${STEPS:-4}
: "${MR2CT_DATA_DIR:?needs MR2CT_DATA_DIR (the folder holding brainweb20-paired)}"
mkdir -p "${OUT:=$HERE/../runs/ood}/inputs"
OUT=$(cd "$OUT" && pwd)
/usr/bin/python3 - "$MR2CT_DATA_DIR/brainweb20-paired" "$OUT" <<'PY'
import os, sys
import nibabel as nib, numpy as np
root, out = sys.argv[1:3]
rows = ["id,mr,ct,mask,split"]
for s in ("subject06", "subject44", "subject52"):
    mr = nib.load(os.path.join(root, s, "mr_t1.nii.gz"))
    a = np.asarray(mr.dataobj, dtype=np.float32)
    ct = np.asarray(nib.load(os.path.join(root, s, "ct.nii.gz")).dataobj, dtype=np.float32)
    ramp = np.linspace(0.5, 1.5, a.shape[0], dtype=np.float32)[:, None, None]
    rng = np.random.default_rng(int(s[-2:]))
    kinds = {"clean": a, "flip": a[:, :, ::-1], "bias": a * ramp, "ct": ct,
             "noise": rng.normal(a.mean(), a.std(), a.shape).astype(np.float32)}
    for kind, v in kinds.items():
        name = f"{s}-{kind}"
        nib.save(nib.Nifti1Image(np.ascontiguousarray(v), mr.affine, mr.header), os.path.join(out, "inputs", name + ".nii.gz"))
        rows.append(f"{name},inputs/{name}.nii.gz,{os.path.join(root, s, 'ct.nii.gz')},{os.path.join(root, s, 'mask.nii.gz')},val")
open(os.path.join(out, "inputs.csv"), "w").write("\n".join(rows) + "\n")
PY
if [ ! -s "$OUT/samples/status.csv" ]; then
  "$MR2CT" convert --model "$MODEL" --manifest "$OUT/inputs.csv" --allow-outside --out-dir "$OUT/samples" \
    --solver euler --steps "$STEPS" --samples "$K" --seed 0 --threads 1 --quiet >&2 &
  conv=$!
fi
if [ ! -s "$OUT/likelihood.csv" ]; then
  "$MR2CT" likelihood --model "$MODEL" --manifest "$OUT/inputs.csv" --allow-outside --out "$OUT/likelihood.csv" \
    --steps "$STEPS" --threads 1 --quiet >&2
fi
[ -z "${conv:-}" ] || wait "$conv"
/usr/bin/python3 - "$OUT" <<'PY'
import csv, json, os, sys
out = sys.argv[1]
std = {r["id"]: float(r["mean_std_hu"]) for r in csv.DictReader(open(os.path.join(out, "samples", "status.csv"))) if r.get("mean_std_hu")}
lik = list(csv.DictReader(l for l in open(os.path.join(out, "likelihood.csv")) if not l.startswith("#")))
bits = {r["id"]: float(r["bits_per_voxel"]) for r in lik if r["status"] == "ok"}
def auroc(clean, other):  # P(score(other) > score(clean)), ties half
    pairs = [(o > c) + 0.5 * (o == c) for c in clean for o in other]
    return sum(pairs) / len(pairs)
kinds = ["flip", "bias", "ct", "noise"]
res = {"scores": {i: {"mean_std_hu": std.get(i), "bits_per_voxel": bits.get(i)} for i in sorted(set(std) | set(bits))}, "auroc": {}}
lines = ["| input | mean std of the samples (HU) | bits / voxel |", "|---|---|---|"]
for i in sorted(res["scores"]):
    s = res["scores"][i]
    lines.append(f"| {i} | {s['mean_std_hu']:.1f} | {s['bits_per_voxel']:.3f} |")
lines += ["", "| kind | AUROC mean std | AUROC bits / voxel |", "|---|---|---|"]
for k in kinds:
    a = {}
    for name, score in (("mean_std", std), ("bits", bits)):
        clean = [v for i, v in score.items() if i.endswith("-clean")]
        other = [v for i, v in score.items() if i.endswith("-" + k)]
        a[name] = auroc(clean, other)
    res["auroc"][k] = a
    lines.append(f"| {k} | {a['mean_std']:.2f} | {a['bits']:.2f} |")
json.dump(res, open(os.path.join(out, "ood.json"), "w"), indent=1)
open(os.path.join(out, "ood.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
