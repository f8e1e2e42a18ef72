#!/usr/bin/env bash
# How much each model's sCT error moves when the same head's MR changes intensity the way scanners
# and sequences change it (README "Quality", issue 15: the spread goal reads a larger subject spread
# as sensitivity to each subject's MR intensities; this measures that sensitivity directly).
#   MR2CT_DATA_DIR=../shared/data ROWS="mr-surface0.4-bf16-long noise-long" \
#     bench/intensity_sensitivity.sh runs/fold1=data_manifests/brainweb20-fold1.csv [FOLD=MANIFEST ...]
# Each FOLD is a folder that bench/ablation_study.sh trained with that MANIFEST. Every val MR of the
# fold is perturbed (written with nibabel as float32 on the same grid; CT and mask are the originals)
# and converted by every seed's model of the ROWS (one nested Euler sweep over NFES), then scored
# with `mr2ct evaluate` (SynthRAD 2023, the dataset's body masks). Perturbations:
#   none       the MR as it is (the reference every change is measured against)
#   gain1.5    every intensity × 1.5: a control; percentile normalization must cancel it
#   gamma0.7   I' = M (I/M)^0.7 (M the volume's maximum): tissues move against each other,
#   gamma1.4   as another sequence or receive chain would move them
#   bias-x0.2  a smooth multiplicative field exp(0.2 u), u from -1 to 1 along the first array axis
#   bias-z0.2  the same along the third axis (an uncorrected coil profile)
#   rician0.02 Rician noise of std 2 % of the 99th percentile inside the head
#   gammamatch not a scanner's change but a test-time correction: the gamma, between the MR's p0.5
#              and p99.5 inside its body mask, that puts its median where the fold's train MRs
#              have theirs on average (same positions as mr2ct's percentile map; below p0.5 unchanged)
# Prints per row, NFE and perturbation the MAE over all folds' val subjects, its change against
# "none" (mean, mean absolute and largest over subjects) and the subject spread; writes sensitivity.json beside the
# first FOLD. Environment: ROWS, NFES ("4 8"), JOBS (2 conversions side by side), BUILD (build),
# PERTURBATIONS (the list above).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MR2CT=$(cd "${BUILD:-$HERE/../build}" && pwd)/bin/mr2ct
NFES=${NFES:-"4 8"}
JOBS=${JOBS:-2}
PERTURBATIONS=${PERTURBATIONS:-"none gain1.5 gamma0.7 gamma1.4 bias-x0.2 bias-z0.2 rician0.02"}
: "${MR2CT_DATA_DIR:?needs MR2CT_DATA_DIR (the folder holding brainweb20-paired)}"
: "${ROWS:?needs ROWS (the ablation rows to test, e.g. \"mr-surface0.4-bf16-long noise-long\")}"
[ $# -gt 0 ] || { echo "usage: ROWS=... intensity_sensitivity.sh FOLD=MANIFEST [FOLD=MANIFEST ...]" >&2; exit 2; }
SPLIT=val
export MR2CT NFES SPLIT
. "$HERE/nfe_sweep.sh"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

folds=()
jobs=$(mktemp); trap 'rm -f "$jobs"' EXIT
for arg in "$@"; do
  fold=$(cd "${arg%%=*}" && pwd); manifest=$(realpath -e "${arg#*=}")
  folds+=("$fold")
  S=$fold/sensitivity
  # The perturbed val MRs, once per fold: S/data/<perturbation>/{manifest.csv, <id>/mr.nii.gz, ct, mask}.
  /usr/bin/python3 - "$manifest" "$MR2CT_DATA_DIR" "$S/data" $PERTURBATIONS <<'PY'
import csv, os, sys
import nibabel as nib
import numpy as np
manifest, root, out, perts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
lines = [l for l in open(manifest) if not l.startswith("#")]
sub = next((l.split(":", 1)[1].strip() for l in open(manifest) if l.startswith("# data-root:")), "")
base = os.path.join(root, sub)
rows = [r for r in csv.DictReader(lines) if r["split"] == "val"]
def load(r, col):
    return np.asarray(nib.load(os.path.join(base, r[col])).dataobj, dtype=np.float64)
def median_position(a, mask):  # where the median sits between p0.5 and p99.5 (0..1)
    lo, med, hi = np.percentile(a[mask > 0], [0.5, 50, 99.5])
    return lo, hi, (med - lo) / (hi - lo)
train_median = None
if "gammamatch" in perts:
    train_median = np.mean([median_position(load(r, "mr"), load(r, "mask"))[2]
                            for r in csv.DictReader(lines) if r["split"] == "train"])
def perturb(name, a, seed, mask=None):
    if name == "none":
        return a
    if name == "gammamatch":
        lo, hi, u_med = median_position(a, mask)
        g = np.log(train_median) / np.log(u_med)
        print(f"gammamatch: median at {u_med:.3f} of p0.5..p99.5, train mean {train_median:.3f}: gamma {g:.3f}",
              file=sys.stderr)
        u = (a - lo) / (hi - lo)
        return np.where(u > 0, lo + (hi - lo) * np.power(np.clip(u, 0, None), g), a)
    if name.startswith("gain"):
        return a * float(name[4:])
    if name.startswith("gamma"):
        m = a.max()
        return m * np.power(np.clip(a, 0, None) / m, float(name[5:]))
    if name.startswith("bias-"):
        axis, s = "xyz".index(name[5]), float(name[6:])
        u = np.linspace(-1.0, 1.0, a.shape[axis]).reshape([-1 if i == axis else 1 for i in range(3)])
        return a * np.exp(s * u)
    if name.startswith("rician"):
        head = a[a > 0]
        sd = float(name[6:]) * np.percentile(head, 99)
        g = np.random.default_rng(seed)
        return np.sqrt((a + g.normal(0, sd, a.shape)) ** 2 + g.normal(0, sd, a.shape) ** 2)
    sys.exit(f"intensity_sensitivity: unknown perturbation '{name}'")

import re
for p in perts:  # every name checked before anything is written
    if not re.fullmatch(r"none|gammamatch|(gain|gamma|rician)[0-9.]+|bias-[xyz][0-9.]+", p):
        sys.exit(f"intensity_sensitivity: unknown perturbation '{p}' (none, gainG, gammaG, bias-xS, bias-yS, bias-zS, ricianS, gammamatch)")
for p in perts:
    d = os.path.join(out, p)
    if os.path.exists(os.path.join(d, "manifest.csv")):
        continue
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "manifest.csv.part"), "w") as f:
        f.write("# data-root: .\nid,mr,ct,mask,split\n")
        for k, r in enumerate(rows):
            os.makedirs(os.path.join(d, r["id"]), exist_ok=True)
            img = nib.load(os.path.join(base, r["mr"]))
            a = perturb(p, np.asarray(img.dataobj, dtype=np.float64), k, load(r, "mask")).astype(np.float32)
            out_img = nib.Nifti1Image(a, img.affine, img.header)
            out_img.set_data_dtype(np.float32)  # the header's int16 would make nibabel quantize with a slope
            nib.save(out_img, os.path.join(d, r["id"], "mr.nii.gz"))
            for col in ("ct", "mask"):
                link = os.path.join(d, r["id"], col + ".nii.gz")
                if not os.path.lexists(link):
                    os.symlink(os.path.abspath(os.path.join(base, r[col])), link)
            f.write(f"{r['id']},{r['id']}/mr.nii.gz,{r['id']}/ct.nii.gz,{r['id']}/mask.nii.gz,val\n")
    os.replace(os.path.join(d, "manifest.csv.part"), os.path.join(d, "manifest.csv"))
PY
  for row in $ROWS; do
    for model in "$fold"/models/"$row"-s*/; do
      [ -d "$model" ] || { echo "intensity_sensitivity: no model of row '$row' in $fold/models" >&2; exit 1; }
      for p in $PERTURBATIONS; do echo "${model%/}|$S/$(basename "$model")/$p|$S/data/$p"; done
    done
  done >> "$jobs"
done

one() {
  IFS='|' read -r model d data <<< "$1"
  local last=${NFES##* }
  [ -s "$d/nfe$last/report/summary.json" ] && return 0
  MANIFEST=$data/manifest.csv MR2CT_DATA_DIR=$data sweep_and_evaluate "$model" "$d"
  echo "[$(date +%H:%M:%S)] $(basename "$model") $(basename "$d")" >&2
}
export -f one
log "$(wc -l < "$jobs") conversions of $(echo $PERTURBATIONS | wc -w) perturbations, $JOBS at a time"
tr '\n' '\0' < "$jobs" | xargs -0 -P "$JOBS" -I{} bash -c 'one "$@"' _ {}

/usr/bin/python3 - "$NFES" "$PERTURBATIONS" "$ROWS" "${folds[@]}" <<'PY'
import csv, glob, json, os, statistics as st, sys
nfes, perts, rows, folds = [int(n) for n in sys.argv[1].split()], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4:]
def mae(report):
    with open(os.path.join(report, "metrics.csv")) as f:
        return {r["id"]: float(r["mae"]) for r in csv.DictReader(f) if r["status"] == "ok"}
sd = lambda v: st.stdev(v) if len(v) > 1 else 0.0
out = {"folds": folds, "nfes": nfes, "perturbations": perts, "rows": []}
lines = ["| row | NFE | perturbation | subjects | MAE (HU) | subject spread | change (HU) | mean abs. change | largest change |",
         "|---|---|---|---|---|---|---|---|---|"]
for row in rows:
    for n in nfes:
        per = {p: {} for p in perts}  # perturbation -> subject -> MAE averaged over the fold's seeds
        for f in folds:
            for p in perts:
                reps = [mae(os.path.join(m, p, f"nfe{n}", "report"))
                        for m in sorted(glob.glob(os.path.join(f, "sensitivity", row + "-s*")))]
                for i in set.intersection(*[set(r) for r in reps]):
                    per[p][i] = st.mean(r[i] for r in reps)
        for p in perts:
            ids = sorted(set(per[p]) & set(per["none"]))
            d = [per[p][i] - per["none"][i] for i in ids]
            rec = {"row": row, "nfe": n, "perturbation": p, "mae_per_subject": per[p],
                   "mae": st.mean(per[p][i] for i in ids), "mae_subject_std": sd([per[p][i] for i in ids]),
                   "change": st.mean(d), "mean_abs_change": st.mean(abs(x) for x in d),
                   "largest_change": max(d, key=abs)}
            out["rows"].append(rec)
            lines.append(f"| {row} | {n} | {p} | {len(ids)} | {rec['mae']:.1f} | {rec['mae_subject_std']:.1f} | "
                         f"{rec['change']:+.1f} | {rec['mean_abs_change']:.1f} | {rec['largest_change']:+.1f} |")
with open(os.path.join(folds[0], "sensitivity.json"), "w") as f:
    json.dump(out, f, indent=1)
print("\n".join(lines))
PY
