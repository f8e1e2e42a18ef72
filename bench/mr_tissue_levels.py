#!/usr/bin/python3
"""Where each tissue's MR intensity lands after normalization, subject by subject (README "Quality", issue 15).

  bench/mr_tissue_levels.py [BRAINWEB_PAIRED_DIR]   (default $MR2CT_DATA_DIR/brainweb20-paired)

The simulated pairs draw their sequence (TR, TE, flip) per subject, so the same tissue lands at a
different normalized level in each subject. Prints the median level of the main tissues (the
dataset's labels.nii.gz) inside the body mask after mr2ct's default percentile map (p0.5 -> -1,
p99.5 -> +1), per subject; then, for four normalizations, the std of each tissue's level over the
subjects as a fraction of the mean fat - CSF distance (so the methods' different units compare):
percentile (mr2ct's default), z-score (mr2ct's --mr-norm zscore), median/IQR, and Nyul-Udupa
piecewise-linear standardization of the deciles onto their mean over all subjects (an upper bound
of what it can do: a real one would fit the reference on the training subjects only).
"""
import glob
import os
import sys

import nibabel as nib
import numpy as np

TISSUES = {1: "csf", 2: "gm", 3: "wm", 4: "fat", 5: "muscle", 6: "skin", 11: "marrow"}
LANDMARKS = [0.5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99.5]


def load(root):
    subjects = sorted(d for d in glob.glob(os.path.join(root, "subject*")) if os.path.isdir(d))
    if not subjects:
        sys.exit(f"mr_tissue_levels: no subject folders in {root}")
    out = []
    for d in subjects:
        get = lambda f: np.asarray(nib.load(os.path.join(d, f)).dataobj)
        body = get("mask.nii.gz") > 0
        out.append((os.path.basename(d), get("mr_t1.nii.gz").astype(np.float64)[body], get("labels.nii.gz")[body]))
    return out


def main(root):
    data = load(root)
    reference = np.mean([np.percentile(v, LANDMARKS) for _, v, _ in data], axis=0)

    def percentile(v):
        lo, hi = np.percentile(v, [0.5, 99.5])
        return (v - lo) / (hi - lo) * 2 - 1

    methods = {
        "percentile": percentile,
        "zscore": lambda v: (v - v.mean()) / v.std(),
        "median/IQR": lambda v: (v - np.median(v)) / np.subtract(*np.percentile(v, [75, 25])),
        "Nyul deciles": lambda v: np.interp(v, np.percentile(v, LANDMARKS), reference),
    }
    def tissue_medians(y, lab):
        return [np.median(y[lab == k]) for k in TISSUES]

    levels = {m: np.array([tissue_medians(f(v), lab) for _, v, lab in data]) for m, f in methods.items()}

    print("Median level per tissue after the percentile map ([-1, 1]):\n")
    print("| subject | " + " | ".join(TISSUES.values()) + " |")
    print("|---" * (len(TISSUES) + 1) + "|")
    for (name, _, _), row in zip(data, levels["percentile"]):
        print(f"| {name} | " + " | ".join(f"{x:.3f}" for x in row) + " |")
    print("| std | " + " | ".join(f"{x:.3f}" for x in levels["percentile"].std(axis=0)) + " |")

    print(f"\nStd over the {len(data)} subjects / mean (fat - csf) distance:\n")
    print("| normalization | " + " | ".join(TISSUES.values()) + " | mean |")
    print("|---" * (len(TISSUES) + 2) + "|")
    fat, csf = list(TISSUES.values()).index("fat"), list(TISSUES.values()).index("csf")
    for m, a in levels.items():
        s = a.std(axis=0) / np.mean(a[:, fat] - a[:, csf])
        print(f"| {m} | " + " | ".join(f"{x:.3f}" for x in s) + f" | {s.mean():.3f} |")


if __name__ == "__main__":
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help")):
        sys.exit(__doc__)
    if len(sys.argv) == 2:
        main(sys.argv[1])
    elif os.environ.get("MR2CT_DATA_DIR"):
        main(os.path.join(os.environ["MR2CT_DATA_DIR"], "brainweb20-paired"))
    else:
        sys.exit("mr_tissue_levels: give the brainweb20-paired folder or set MR2CT_DATA_DIR")
