#!/usr/bin/python3
"""NIfTI files as the world writes them, made and checked with nibabel (not with mr2ct's code).

  nifti_corpus.py write DIR   writes every valid variant into DIR, and for each NAME:
                              NAME.expect.json (shape, nibabel's affine in LPS, codes, what mr2ct
                              must say) and NAME.f64 (nibabel's get_fdata(), x fastest, float64);
                              also lists nibabel's own test data files (nibabel-data.json).
  nifti_corpus.py check DIR   for each NAME with an output DIR/out/NAME.nii.gz written by mr2ct
                              on the input's grid: same shape, affine and codes as the input (as
                              nibabel reads both), values equal to NAME.f64 (float32 precision).
Exit status 0 when all is well; every problem is printed on one line.
"""
import json
import os
import sys

import numpy as np
import nibabel as nib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from rotations import rotation  # noqa: E402

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def values(shape, kind):
    """Smooth field with a range that exercises each type; x varies fastest when raveled 'F'."""
    x, y, z = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij")
    f = np.sin(0.7 * x) + np.cos(0.45 * y) + 0.3 * z
    if kind == "ct":
        return -1000.0 + 700.0 * (f + 2.0)  # -1000 .. ~1500 HU
    if kind == "u8":
        return np.round(40.0 * (f + 2.0))
    return 120.0 * (f + 2.0) + 0.123  # MR-like, not integer



def affine(zooms, rot=np.eye(3), offset=(-20.5, 31.25, -12.0), flip=(1, 1, 1)):
    a = np.eye(4)
    a[:3, :3] = rot @ np.diag(np.array(zooms) * np.array(flip))
    a[:3, 3] = offset
    return a


def variants():
    """(name, image, extension, expectation extras)."""
    shape = (11, 9, 7)
    aff = affine((1.2, 0.9, 2.5))
    out = []

    def add(name, img, ext=".nii.gz", **extra):
        out.append((name, img, ext, extra))

    # every stored datatype (float data cast or scaled by nibabel's own rules)
    for dtype, kind in [("u1", "u8"), ("i1", "u8"), ("i2", "ct"), ("u2", "mr"), ("i4", "ct"), ("u4", "mr"),
                        ("i8", "ct"), ("f4", "mr"), ("f8", "mr")]:
        data = values(shape, kind)
        if dtype == "i1":
            data = data - 100.0
        img = nib.Nifti1Image(data.astype(np.float64), aff)
        img.set_data_dtype(dtype)
        add("dtype_" + dtype, img)
    # scaled integers: nibabel's default when float data are saved as int16 / uint8
    img = nib.Nifti1Image(values(shape, "mr"), aff)
    img.set_data_dtype("i2")
    add("scaled_int16_nibabel", img, ".nii")
    img = nib.Nifti1Image(values(shape, "mr"), aff)
    img.set_data_dtype("u1")
    add("scaled_uint8_nibabel", img)
    # explicit slope/intercept (SPM/FSL/scanner style), and slope 0 with an intercept (the standard:
    # no scaling at all); set in the stored header after saving, since nibabel chooses its own on save
    raw = np.round(values(shape, "u8")).astype(np.int16)
    add("slope_intercept", nib.Nifti1Image(raw, aff), ".nii", patch=(2.5, -1024.0))
    add("slope0_intercept", nib.Nifti1Image(raw, aff), ".nii", patch=(0.0, 55.0))
    # byte orders
    img = nib.Nifti1Image(values(shape, "ct").astype(">i2"), aff)
    img.set_data_dtype(">i2")
    add("big_endian_int16", img, ".nii")
    img = nib.Nifti1Image(values(shape, "mr").astype(">f4"), aff)
    img.set_data_dtype(">f4")
    add("big_endian_float32", img)
    # containers
    add("pair_hdr_img", nib.Nifti1Pair(values(shape, "mr").astype(np.float32), aff), ".hdr")
    add("nifti2", nib.Nifti2Image(values(shape, "ct").astype(np.int16), aff), ".nii.gz")
    add("nifti2_pair", nib.Nifti2Pair(values(shape, "mr").astype(np.float32), aff), ".hdr")
    add("nifti2_big_endian", nib.Nifti2Image(values(shape, "mr").astype(">f4"), aff), ".nii")
    # orientation headers
    rot = rotation(0.2, -0.15, 0.35)
    obl = affine((1.1, 1.3, 2.0), rot, (12.0, -40.0, 7.5))
    img = nib.Nifti1Image(values(shape, "mr").astype(np.float32), obl)
    img.set_qform(None, code=0)
    img.set_sform(obl, code=2)
    add("sform_only", img)
    img = nib.Nifti1Image(values(shape, "mr").astype(np.float32), obl)
    img.set_sform(None, code=0)
    img.set_qform(obl, code=1)
    add("qform_only", img)
    img = nib.Nifti1Image(values(shape, "mr").astype(np.float32), obl)
    img.set_sform(None, code=0)
    img.set_qform(None, code=0)
    add("codes_zero", img, warning="no orientation")
    shear = obl.copy()
    shear[:3, 1] += 0.25 * shear[:3, 0]
    img = nib.Nifti1Image(values(shape, "mr").astype(np.float32), obl)
    img.set_qform(obl, code=1)
    img.set_sform(shear, code=1)
    add("sheared_sform", img, warning="sheared", expect="qform")
    add("oblique", nib.Nifti1Image(values(shape, "mr").astype(np.float32), obl))
    flipped = affine((1.0, 1.5, 2.0), rotation(0.0, 0.0, 0.5), (3.0, 4.0, 5.0), flip=(-1, 1, -1))
    add("flipped_axes", nib.Nifti1Image(values(shape, "ct").astype(np.int16), flipped))
    add("anisotropic", nib.Nifti1Image(values(shape, "mr").astype(np.float32), affine((0.45, 0.45, 5.0))))
    add("mni_sform_code4", nib.Nifti1Image(values(shape, "mr").astype(np.float32), aff))
    out[-1][1].set_sform(aff, code=4)
    # a singleton 4th dimension, and a header extension before the voxels
    add("singleton_4d", nib.Nifti1Image(values(shape, "mr").astype(np.float32)[..., None], aff))
    img = nib.Nifti1Image(values(shape, "mr").astype(np.float32), aff)
    img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"written by nibabel for mr2ct's corpus test"))
    add("header_extension", img)
    return out


def lps_affine(img, which):
    h = img.header
    if which == "qform":
        a = h.get_qform()
    else:
        a = img.affine
    return (LPS @ a).tolist()


def write(folder):
    os.makedirs(folder, exist_ok=True)
    for name, img, ext, extra in variants():
        path = os.path.join(folder, name + ext)
        nib.save(img, path)
        if "patch" in extra:  # scl_slope, scl_inter at bytes 112 and 116 of a little-endian NIfTI-1
            with open(path, "r+b") as f:
                f.seek(112)
                f.write(np.array(extra["patch"], "<f4").tobytes())
        back = nib.load(path)
        data = np.asarray(back.get_fdata(), dtype=np.float64)
        if data.ndim == 4:
            data = data[..., 0]
        data.ravel(order="F").tofile(os.path.join(folder, name + ".f64"))
        h = back.header
        expect = {
            "file": name + ext,
            "shape": [int(n) for n in data.shape],
            "affine_lps": lps_affine(back, extra.get("expect", "best")),
            "qform_code": int(h["qform_code"]),
            "sform_code": int(h["sform_code"]),
            "version": 2 if isinstance(back, (nib.Nifti2Image, nib.Nifti2Pair)) else 1,
            "warning": extra.get("warning", ""),
        }
        with open(os.path.join(folder, name + ".expect.json"), "w") as f:
            json.dump(expect, f)
    # nibabel's own test files: 3D ones are read like ours; the others must be refused clearly.
    data_dir = os.path.join(os.path.dirname(nib.__file__), "tests", "data")
    listing = []
    for name in ["anatomical.nii", "reoriented_anat_moved.nii", "resampled_anat_moved.nii", "standard.nii.gz",
                 "example4d.nii.gz", "example_nifti2.nii.gz", "functional.nii", "analyze.hdr", "test.mgz",
                 "minc1_1_scale.mnc", "nifti1.hdr", "nifti2.hdr"]:
        path = os.path.join(data_dir, name)
        if not os.path.exists(path):
            continue
        img = nib.load(path)
        entry = {"path": path, "shape": [int(n) for n in img.shape]}
        nifti = isinstance(img, nib.Nifti1Pair)  # Nifti1Image, Nifti2Image and Nifti2Pair derive from it
        if nifti and path.endswith(".hdr") and len(img.shape) == 3:
            entry["affine_lps"] = (LPS @ img.affine).tolist()
            img_path = path[:-4] + ".img"
            entry["header_only"] = not os.path.exists(img_path)
            if not entry["header_only"]:
                stem = "nibabel_" + name.replace(".", "_")
                np.asarray(img.get_fdata(), np.float64).ravel(order="F").tofile(os.path.join(folder, stem + ".f64"))
                entry["values"] = stem + ".f64"
        elif nifti and len(img.shape) == 3:
            entry["affine_lps"] = (LPS @ img.affine).tolist()
            data = np.asarray(img.get_fdata(), np.float64)
            if not np.isfinite(data).all():
                entry["refuse"] = "NaN or Inf"  # mr2ct refuses non-finite voxels by design
            else:
                stem = "nibabel_" + name.replace(".", "_")
                data.ravel(order="F").tofile(os.path.join(folder, stem + ".f64"))
                entry["values"] = stem + ".f64"
        elif nifti:
            entry["refuse"] = "4D image"
        else:
            entry["refuse"] = {".hdr": "Analyze 7.5", ".mgz": "MGH/MGZ", ".mnc": "MINC"}[os.path.splitext(name)[1]]
        listing.append(entry)
    with open(os.path.join(folder, "nibabel-data.json"), "w") as f:
        json.dump(listing, f)


def check(folder):
    problems = 0
    checked = 0
    for entry in sorted(os.listdir(folder)):
        if not entry.endswith(".expect.json"):
            continue
        name = entry[: -len(".expect.json")]
        out = os.path.join(folder, "out", name + ".nii.gz")
        if not os.path.exists(out):
            continue
        src = nib.load(os.path.join(folder, json.load(open(os.path.join(folder, entry)))["file"]))
        dst = nib.load(out)
        checked += 1
        shape = src.shape[:3]
        if dst.shape != shape:
            print(f"{name}: shape {dst.shape} != input {shape}")
            problems += 1
            continue
        for what, a, b in [("qform_code", src.header["qform_code"], dst.header["qform_code"]),
                           ("sform_code", src.header["sform_code"], dst.header["sform_code"])]:
            if int(a) != int(b):
                print(f"{name}: {what} {int(b)} != input {int(a)}")
                problems += 1
        # NIfTI-1 inputs: the same float32 header fields, so the same affine bit for bit; NIfTI-2
        # inputs store doubles that a NIfTI-1 output holds as float32.
        exact = isinstance(src, (nib.Nifti1Image, nib.Nifti1Pair)) and not isinstance(src, (nib.Nifti2Image, nib.Nifti2Pair))
        tol = 0.0 if exact else 1e-4
        for what, a, b in [("affine", src.affine, dst.affine), ("qform", src.header.get_qform(), dst.header.get_qform()),
                           ("sform", src.header.get_sform(), dst.header.get_sform())]:
            if not np.allclose(a, b, rtol=0, atol=tol):
                print(f"{name}: {what} differs from the input's:\n{b}\nvs\n{a}")
                problems += 1
        want = np.fromfile(os.path.join(folder, name + ".f64")).reshape(shape, order="F")
        got = np.asarray(dst.get_fdata(), np.float64)
        err = np.abs(got - want).max()
        if err > 1e-6 * max(1.0, np.abs(want).max()):
            print(f"{name}: values differ from the input's by up to {err}")
            problems += 1
    if checked == 0:
        print("no outputs to check")
        problems += 1
    print(f"{checked} outputs checked, {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "check"):
        print(__doc__)
        sys.exit(2)
    sys.exit(write(sys.argv[2]) or 0 if sys.argv[1] == "write" else check(sys.argv[2]))
