#!/usr/bin/python3
"""Each head's bone level in the CT and in its sCT (README "Quality", fifteenth round; issue 15).

  bench/bone_levels.py SCT_DIR [SCT_DIR ...]

For every SCT_DIR/<subject>.nii.gz of BrainWeb-paired: the level the simulator drew for the head's
cortical bone (meta.json), and the median of the CT and of the sCT over the cortical bone class
(label 7) eroded by one voxel, so partial volume at the bone's edges stays out. Then, over all
subjects given: the correlation of the sCT's level with the CT's, and the mean |sCT - CT| of the
levels. A model that learned each training head's density reproduces it on the heads it trained on
(r near 1) and gives an unseen head some other head's level; one trained with
`train --harmonize-bone true` gives every head about one level.

The last two columns are the MAE in the body mask (SynthRAD 2023: both clipped to [-1024, 3000] HU)
as converted, and again with the sCT's voxels above 250 HU scaled about 250 HU so that its level
lands on the CT's: what the MAE would be if the model knew each head's density. Their spreads over
the subjects say how much of the spread over subjects that hidden density explains.

Uses the dataset's labels.nii.gz, so it is an analysis of BrainWeb-paired only; needs
MR2CT_DATA_DIR (the folder holding brainweb20-paired), nibabel and scipy.
"""
import glob
import json
import os
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage

CORTICAL_BONE = 7
BONE_HU = 250.0
CLIP = (-1024.0, 3000.0)


def main(dirs):
    data = os.path.join(os.environ["MR2CT_DATA_DIR"], "brainweb20-paired")
    print("| sCT folder | subject | drawn level (HU) | CT level (HU) | sCT level (HU) | sCT - CT (HU) "
          "| MAE (HU) | MAE at the CT's level (HU) |")
    print("|---|---|---|---|---|---|---|---|")
    ct_levels, sct_levels, maes = [], [], []
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "subject*.nii.gz"))):
            sid = os.path.basename(path)[: -len(".nii.gz")]
            case = os.path.join(data, sid)
            labels = np.asarray(nib.load(os.path.join(case, "labels.nii.gz")).dataobj)
            core = ndimage.binary_erosion(labels == CORTICAL_BONE)
            ct_hu = np.clip(np.asarray(nib.load(os.path.join(case, "ct.nii.gz")).dataobj, dtype=np.float32), *CLIP)
            sct_hu = np.clip(nib.load(path).get_fdata(dtype=np.float32), *CLIP)
            body = np.asarray(nib.load(os.path.join(case, "mask.nii.gz")).dataobj) > 0
            ct, sct = np.median(ct_hu[core]), np.median(sct_hu[core])
            oracle = sct_hu.copy()
            bone = sct_hu > BONE_HU
            oracle[bone] = BONE_HU + (sct_hu[bone] - BONE_HU) * (ct - BONE_HU) / (sct - BONE_HU)
            mae = float(np.abs(sct_hu - ct_hu)[body].mean())
            mae_oracle = float(np.abs(np.clip(oracle, *CLIP) - ct_hu)[body].mean())
            maes.append((mae, mae_oracle))
            drawn = json.load(open(os.path.join(case, "meta.json")))["params"]["tissue"]["cortical_bone"]["hu"]
            ct_levels.append(ct)
            sct_levels.append(sct)
            print(f"| {d} | {sid} | {drawn:.0f} | {ct:.0f} | {sct:.0f} | {sct - ct:+.0f} | {mae:.1f} | {mae_oracle:.1f} |")
    if len(ct_levels) >= 3:
        c, s = np.array(ct_levels), np.array(sct_levels)
        print(f"\n{len(c)} subjects: r(sCT level, CT level) = {np.corrcoef(c, s)[0, 1]:.2f}; "
              f"mean |sCT - CT| = {np.mean(np.abs(s - c)):.0f} HU; sCT levels {s.min():.0f}..{s.max():.0f} HU "
              f"(std {s.std(ddof=1):.0f}), CT levels {c.min():.0f}..{c.max():.0f} HU (std {c.std(ddof=1):.0f})")
        m = np.array(maes)
        print(f"MAE {m[:, 0].mean():.2f} HU (spread {m[:, 0].std(ddof=1):.2f}); at the CT's bone level "
              f"{m[:, 1].mean():.2f} HU (spread {m[:, 1].std(ddof=1):.2f})")


if __name__ == "__main__":
    if len(sys.argv) < 2 or "MR2CT_DATA_DIR" not in os.environ:
        sys.exit(__doc__)
    main(sys.argv[1:])
