#!/usr/bin/python3
"""Per-subject errors by tissue for the whole-volume confirmations of README "Quality" (issue 15).

  bench/subject_tissue_errors.py errors CONFIRM_DIR NFE ROW [ROW ...]
      For every seed's model of each row (CONFIRM_DIR/ROW-sN/nfeK/sct/<subject>.nii.gz, as
      bench/ablation_confirm.sh writes them): MAE in the body mask, in the dataset's skin class
      (label 6) and in soft tissue (reference CT -200...200 HU in the body), per val subject of
      $MANIFEST (data_manifests/brainweb20-paired.csv by default; a fold's manifest for its models).
  bench/subject_tissue_errors.py skin-probe SUBJECT RATIO OUT.nii.gz
      Writes SUBJECT's MR with its skin class scaled by RATIO: a probe of whether a model's error
      on a subject comes from that subject's skin contrast (convert it, then score with `errors`).

Uses the dataset's labels.nii.gz, so it is an analysis of BrainWeb-paired only; needs
MR2CT_DATA_DIR (the folder holding brainweb20-paired) and nibabel (python3-nibabel).
"""
import csv
import glob
import os
import sys

import nibabel as nib
import numpy as np

SKIN = 6
MANIFEST = os.environ.get("MANIFEST", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                   "data_manifests", "brainweb20-paired.csv"))


def val_subjects():
    with open(MANIFEST) as f:
        return [r["id"] for r in csv.DictReader(line for line in f if not line.startswith("#"))
                if r.get("split") == "val"]


def case(subject):
    root = os.path.join(os.environ["MR2CT_DATA_DIR"], "brainweb20-paired", subject)
    return root


def errors(confirm, nfe, rows):
    subjects = val_subjects()
    ref = {}
    for s in subjects:
        d = case(s)
        ref[s] = (nib.load(f"{d}/ct.nii.gz").get_fdata(), nib.load(f"{d}/labels.nii.gz").get_fdata().astype(int),
                  nib.load(f"{d}/mask.nii.gz").get_fdata() > 0)
    print("model | " + " | ".join(f"{s}: MAE [skin, soft tissue]" for s in subjects))
    for r in rows:
        models = sorted(glob.glob(os.path.join(confirm, f"{r}-s*")))
        if not models:
            sys.exit(f"subject_tissue_errors: no models of row '{r}' in {confirm}")
        for m in models:
            cells = []
            for s in subjects:
                ct, lab, body = ref[s]
                f = os.path.join(m, f"nfe{nfe}", "sct", f"{s}.nii.gz")
                if not os.path.exists(f):
                    cells.append("–")
                    continue
                e = nib.load(f).get_fdata() - ct
                soft = body & (ct > -200) & (ct < 200)
                cells.append(f"{np.abs(e[body]).mean():.1f} [{np.abs(e[lab == SKIN]).mean():.1f}, "
                             f"{np.abs(e[soft]).mean():.1f}]")
            print(os.path.basename(m) + " | " + " | ".join(cells))


def skin_probe(subject, ratio, out):
    d = case(subject)
    img = nib.load(f"{d}/mr_t1.nii.gz")
    mr = img.get_fdata()
    lab = nib.load(f"{d}/labels.nii.gz").get_fdata().astype(int)
    mr[lab == SKIN] *= ratio
    nib.save(nib.Nifti1Image(np.round(mr).astype(np.int16), img.affine, img.header), out)


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "errors":
        errors(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
    elif len(sys.argv) == 5 and sys.argv[1] == "skin-probe":
        skin_probe(sys.argv[2], float(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)
