#!/usr/bin/env bash
# Can mr2ct tell an input unlike its training data? (README "Uncertainty", issue 16.) From each
# BrainWeb val subject nibabel writes inputs the model was not trained for, on the MR's own grid:
# the MR flipped head to foot, the MR under a strong bias field (×0.5 → ×1.5 across x), the CT fed
# in as MR, and Gaussian noise with the MR's mean and spread. Each input, and the three clean MRs,
# is scored two ways: the mean std in the body of K bridge samples (`convert --samples K`, Euler
# STEPS steps), log p(CT | MR) in bits per voxel (`mr2ct likelihood`, midpoint STEPS steps, one
# Hutchinson probe) against the subject's CT, and the input check's score (the largest |z| of the
# MR's intensity and shape statistics against the training cases', InputTypicality.h; it needs a
# model trained since the check exists, or one resumed once with `mr2ct train --resume`). Per kind: AUROC of each score (clean vs that kind,
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
status = list(csv.DictReader(open(os.path.join(out, "samples", "status.csv"))))
std = {r["id"]: float(r["mean_std_hu"]) for r in status if r.get("mean_std_hu")}
check = {r["id"]: float(r["input_score"]) for r in status if r.get("input_score")}
feature = {r["id"]: r["input_feature"] for r in status if r.get("input_feature")}
flagged = {r["id"]: r["input_typical"] == "no" for r in status if r.get("input_typical")}
lik = list(csv.DictReader(l for l in open(os.path.join(out, "likelihood.csv")) if not l.startswith("#")))
bits = {r["id"]: float(r["bits_per_voxel"]) for r in lik if r["status"] == "ok"}
def auroc(clean, other):  # P(score(other) > score(clean)), ties half
    pairs = [(o > c) + 0.5 * (o == c) for c in clean for o in other]
    return sum(pairs) / len(pairs) if pairs else float("nan")
kinds = ["flip", "bias", "ct", "noise"]
res = {"scores": {i: {"mean_std_hu": std.get(i), "bits_per_voxel": bits.get(i), "input_check": check.get(i),
                      "input_feature": feature.get(i)} for i in sorted(set(std) | set(bits))}, "auroc": {}}
fmt = lambda v, f: "–" if v is None else format(v, f)
lines = ["| input | mean std of the samples (HU) | bits / voxel | input check (max \\|z\\|, feature) |", "|---|---|---|---|"]
for i in sorted(res["scores"]):
    s = res["scores"][i]
    lines.append(f"| {i} | {fmt(s['mean_std_hu'], '.1f')} | {fmt(s['bits_per_voxel'], '.3f')} | "
                 f"{fmt(s['input_check'], '.1f')} {s['input_feature'] or ''} |")
lines += ["", "| kind | AUROC mean std | AUROC bits / voxel | AUROC input check |", "|---|---|---|---|"]
for k in kinds:
    a = {}
    for name, score in (("mean_std", std), ("bits", bits), ("input_check", check)):
        clean = [v for i, v in score.items() if i.endswith("-clean")]
        other = [v for i, v in score.items() if i.endswith("-" + k)]
        a[name] = auroc(clean, other)
    res["auroc"][k] = a
    lines.append(f"| {k} | {a['mean_std']:.2f} | {a['bits']:.2f} | {a['input_check']:.2f} |")
if flagged:  # what `convert` warns about, at the threshold recorded in the model folder
    res["flagged"] = {k: [sum(v for i, v in flagged.items() if i.endswith("-" + k)), sum(i.endswith("-" + k) for i in flagged)]
                      for k in ["clean"] + kinds}
    lines += ["", "Warned by `convert` at the model's threshold: " +
              ", ".join(f"{k} {n}/{d}" for k, (n, d) in res["flagged"].items())]
json.dump(res, open(os.path.join(out, "ood.json"), "w"), indent=1)
open(os.path.join(out, "ood.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
