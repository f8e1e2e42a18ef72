#!/usr/bin/python3
"""`mr2ct preprocess --mr-norm nyul|gamma` against numpy implementations of Nyul-Udupa
standardization and of the one-gamma median standard (issue 15), on MRs, CTs and masks that nibabel
writes (one MR as int16 with scl_slope, as nibabel and scanners store them).

  mr_norm_reference.py MR2CT nyul|gamma

nyul: each MR's landmarks are numpy's percentiles (linear interpolation) 0.5, 10, ..., 90,
99.5 of the MR inside the manifest's mask; the standard scale is the mean over the train MRs of
their landmarks mapped linearly so the ends go to -1 and +1; every voxel goes through the
piecewise linear map from its MR's landmarks onto the scale, extended by the end segments. The
stored MR is compared as sorted values, which no reorientation changes.
gamma: each MR's median position is (p50 - p0.5) / (p99.5 - p0.5) inside its mask; the standard is
the train MRs' mean position; each voxel's u = (x - p0.5) / (p99.5 - p0.5) goes to u ** gamma where
u > 0, gamma = log(standard) / log(own position) held in [1/3, 3], then to 2u - 1.
Exit 77 (skip) without nibabel or h5py.
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import nibabel as nib
    import numpy as np
except ImportError as e:
    print(f"SKIP: {e}")
    sys.exit(77)

PERCENTILES = [0.5] + [10.0 * d for d in range(1, 10)] + [99.5]


def anatomy(rng, grey, white, csf):
    """A head-like ellipsoid: scalp, skull (dark), brain with grey/white/CSF levels, noise."""
    z, y, x = np.mgrid[0:16, 0:28, 0:24].astype(float)
    r = np.sqrt(((x - 11.5) / 10) ** 2 + ((y - 13.5) / 12) ** 2 + ((z - 7.5) / 7) ** 2)
    mr = np.full(r.shape, 4.0)
    mr[r < 1.0] = 170.0           # scalp
    mr[r < 0.85] = 15.0           # skull
    mr[r < 0.72] = grey
    mr[r < 0.5] = white
    mr[np.abs(x - 11.5) + np.abs(y - 13.5) < 3] = csf
    mr += rng.normal(0.0, 5.0, r.shape)
    mask = (r < 1.0).astype(np.uint8)
    ct = np.where(r < 1.0, 40.0, -1000.0)
    ct[(r < 0.85) & (r >= 0.72)] = 1100.0
    # nibabel's arrays are x, y, z.
    return [np.ascontiguousarray(a.transpose(2, 1, 0)) for a in (mr, mask, ct)]


def landmarks(mr, mask):
    return np.percentile(mr[mask > 0], PERCENTILES)


def nyul(values, marks, scale):
    """Piecewise linear from marks to scale, the end segments extended (np.interp clamps)."""
    y = np.interp(values, marks, scale)
    lo, hi = values < marks[0], values > marks[-1]
    y[lo] = scale[0] + (values[lo] - marks[0]) * (scale[1] - scale[0]) / (marks[1] - marks[0])
    y[hi] = scale[-1] + (values[hi] - marks[-1]) * (scale[-1] - scale[-2]) / (marks[-1] - marks[-2])
    return y


def gamma_map(values, mr, mask, standard):
    lo, med, hi = np.percentile(mr[mask > 0], [0.5, 50.0, 99.5])
    g = np.clip(np.log(standard) / np.log((med - lo) / (hi - lo)), 1 / 3, 3)
    u = (values - lo) / (hi - lo)
    return np.where(u > 0, np.power(np.clip(u, 0, None), g), u) * 2 - 1, g


def median_position(mr, mask):
    lo, med, hi = np.percentile(mr[mask > 0], [0.5, 50.0, 99.5])
    return (med - lo) / (hi - lo)


def main():
    mr2ct, method = sys.argv[1], sys.argv[2]
    if method not in ("nyul", "gamma"):
        print(f"usage: mr_norm_reference.py MR2CT nyul|gamma (got {method})")
        return 2
    rng = np.random.default_rng(7)
    affine = np.diag([1.5, 1.25, 2.0, 1.0])
    affine[:3, 3] = [-20.0, -15.0, 10.0]
    cases = {"a": ("train", (110, 150, 40)), "b": ("train", (90, 160, 30)), "v": ("val", (130, 145, 60))}
    raw = {}
    with tempfile.TemporaryDirectory() as d:
        lines = ["id,mr,ct,mask,split"]
        for cid, (split, levels) in cases.items():
            mr, mask, ct = anatomy(rng, *levels)
            if cid == "b":  # int16 with a slope: nibabel's default for float data it scales
                img = nib.Nifti1Image(mr.astype(np.float32), affine)
                img.set_data_dtype(np.int16)
            else:
                img = nib.Nifti1Image(mr.astype(np.float32), affine)
            nib.save(img, os.path.join(d, f"{cid}_mr.nii.gz"))
            nib.save(nib.Nifti1Image(mask, affine), os.path.join(d, f"{cid}_mask.nii.gz"))
            nib.save(nib.Nifti1Image(ct.astype(np.int16), affine), os.path.join(d, f"{cid}_ct.nii.gz"))
            # What the file holds, as nibabel reads it back (int16 rounding included).
            raw[cid] = (np.asarray(nib.load(os.path.join(d, f"{cid}_mr.nii.gz")).get_fdata()), mask)
            lines.append(f"{cid},{cid}_mr.nii.gz,{cid}_ct.nii.gz,{cid}_mask.nii.gz,{split}")
        if not np.any(np.asarray(nib.load(os.path.join(d, "b_mr.nii.gz")).header["scl_slope"]) != 1):
            print("FAIL: the int16 MR was written without a slope; the test would not test scaling")
            return 1
        with open(os.path.join(d, "m.csv"), "w") as f:
            f.write("\n".join(lines) + "\n")
        store = os.path.join(d, "store.h5")
        run = subprocess.run([mr2ct, "preprocess", "--manifest", os.path.join(d, "m.csv"), "--out", store,
                              "--register", "none", "--mr-norm", method, "--quiet"], capture_output=True, text=True)
        if run.returncode != 0:
            print(f"FAIL: mr2ct preprocess exited {run.returncode}\n{run.stdout}\n{run.stderr}")
            return 1

        if method == "gamma":
            return check_gamma(store, cases, raw)
        marks = {cid: landmarks(*raw[cid]) for cid in cases}
        scaled = [(marks[c] - marks[c][0]) / (marks[c][-1] - marks[c][0]) * 2 - 1 for c in ("a", "b")]
        expected_scale = np.mean(scaled, axis=0)
        failures = []
        with h5py.File(store, "r") as f:
            options = json.loads(f.attrs["preprocessing_options"])
            scale = np.asarray(options["mr_normalization"]["standard_scale"])
            if not np.allclose(scale, expected_scale, atol=1e-5, rtol=0):
                failures.append(f"standard scale {scale.tolist()} != numpy's {expected_scale.tolist()}")
            for cid in cases:
                record = json.loads(f[f"cases/{cid}"].attrs["mr_normalization"])
                got_marks = np.asarray(record["landmarks"])
                if not np.allclose(got_marks, marks[cid], rtol=1e-5, atol=1e-4):
                    failures.append(f"{cid}: landmarks {got_marks.tolist()} != numpy's {marks[cid].tolist()}")
                err = compare_stored(f, cid, nyul(raw[cid][0].ravel(), marks[cid], expected_scale), failures)
                print(f"{cid}: landmarks match, voxels within {err:.2g} of numpy's map")
        return report(failures, "nyul")


def compare_stored(f, cid, want, failures):
    """The stored MR against numpy's map of the file, as sorted values (no reorientation moves them)."""
    stored = np.sort(np.asarray(f[f"cases/{cid}/mr"]).ravel()).astype(np.float64)
    want = np.sort(want)
    err = np.max(np.abs(stored - want)) if stored.shape == want.shape else np.inf
    if err > 1e-4:
        failures.append(f"{cid}: stored MR differs from numpy's map by up to {err:.3g}")
    return err


def report(failures, method):
    for msg in failures:
        print("FAIL: " + msg)
    if failures:
        return 1
    print(f"OK: mr2ct's {method} standardization equals numpy's on nibabel-written files")
    return 0


def check_gamma(store, cases, raw):
    standard = np.mean([median_position(*raw[c]) for c in cases if cases[c][0] == "train"])
    failures = []
    with h5py.File(store, "r") as f:
        options = json.loads(f.attrs["preprocessing_options"])
        got = options["mr_normalization"]["median_position"]
        if abs(got - standard) > 1e-5:
            failures.append(f"median position {got} != numpy's {standard}")
        own = median_position(*raw["v"])
        if abs(own - standard) < 0.02:
            failures.append(f"the val MR's median position {own:.4f} is the train MRs' {standard:.4f}: nothing to test")
        for cid in cases:
            record = json.loads(f[f"cases/{cid}"].attrs["mr_normalization"])
            want, g = gamma_map(raw[cid][0].ravel(), *raw[cid], standard)
            if abs(record["gamma"] - g) > 1e-4:
                failures.append(f"{cid}: gamma {record['gamma']} != numpy's {g}")
            err = compare_stored(f, cid, want, failures)
            print(f"{cid}: gamma {g:.4f} matches, voxels within {err:.2g} of numpy's map")
    return report(failures, "gamma")


if __name__ == "__main__":
    sys.exit(main())
