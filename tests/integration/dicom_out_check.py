#!/usr/bin/python3
"""Checks an sCT DICOM series written by `mr2ct convert --output-format dicom` with tools that are
not mr2ct's: dicom3tools' dciodvfy (no error in any file), pydicom (every required tag and value),
dcm2niix + nibabel (the series converted back has the sCT's exact geometry and HU values).

Usage: dicom_out_check.py SERIES_DIR SCT_NIFTI MR_REFERENCE [--patient-id ID --patient-name PN]
  [--series-number N --series-description TEXT] [--mr-dicom-json FILE]
SCT_NIFTI is the same conversion written as NIfTI (its values and grid are the truth); MR_REFERENCE
is the input MR as nibabel reads it (NIfTI) or as dcm2niix converts it (DICOM folder): the sCT lies
on the MR's grid. Exit 0 when all checks pass, 1 with one line per failure otherwise."""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import nibabel as nib
import numpy as np
import pydicom

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def lps_affine(img):
    """nibabel's RAS affine in LPS (ITK's world)."""
    return np.diag([-1, -1, 1, 1]) @ img.affine


def run_dciodvfy(files):
    warnings = set()
    for f in files:
        out = subprocess.run(["dciodvfy", f], capture_output=True, text=True)
        text = out.stdout + out.stderr
        for line in text.splitlines():
            if line.startswith("Error"):
                failures.append("dciodvfy %s: %s" % (os.path.basename(f), line))
            elif line.startswith("Warning"):
                warnings.add(re.sub(r"\s+", " ", line))
    for w in sorted(warnings):
        print("dciodvfy (all files):", w)


def check_tags(files, sct, args, mr_json):
    data = np.asarray(sct.dataobj)
    affine = lps_affine(sct)
    nx, ny, nz = data.shape[:3]
    check(len(files) == nz, "%d files for %d slices" % (len(files), nz))
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    direction = affine[:3, :3] / spacing
    dss = [pydicom.dcmread(f) for f in files]
    series_uids = {d.SeriesInstanceUID for d in dss}
    check(len(series_uids) == 1, "one SeriesInstanceUID, got %d" % len(series_uids))
    sops = [d.SOPInstanceUID for d in dss]
    check(len(set(sops)) == len(sops), "SOPInstanceUIDs are unique")
    frames = {d.FrameOfReferenceUID for d in dss}
    studies = {d.StudyInstanceUID for d in dss}
    check(len(frames) == 1 and len(studies) == 1, "one study and frame of reference in the series")
    uid_re = re.compile(r"^2\.25\.(0|[1-9][0-9]*)$")
    for uid in list(series_uids) + sops:
        check(uid_re.match(uid) and len(uid) <= 64, "UUID-derived UID: %s" % uid)
    instance_numbers = sorted(int(d.InstanceNumber) for d in dss)
    check(instance_numbers == list(range(1, nz + 1)), "InstanceNumber 1..%d" % nz)
    for d in dss:
        name = os.path.basename(d.filename)
        c = lambda ok, what: check(ok, "%s: %s" % (name, what))
        c(d.file_meta.MediaStorageSOPClassUID == "1.2.840.10008.5.1.4.1.1.2", "media storage SOP class")
        c(d.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1", "explicit VR little endian")
        c(d.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2", "SOPClassUID CT Image Storage")
        c(d.Modality == "CT", "Modality CT")
        c(list(d.ImageType) == ["DERIVED", "SECONDARY", "AXIAL"], "ImageType %s" % list(d.ImageType))
        c(d.Manufacturer == "mr2ct", "Manufacturer")
        c(str(d.SoftwareVersions).startswith("mr2ct "), "SoftwareVersions names mr2ct and its version")
        c("mr2ct" in d.DerivationDescription and "MR" in d.DerivationDescription, "DerivationDescription")
        c(d.SpecificCharacterSet != "", "SpecificCharacterSet")
        for kw in ("StudyDate", "StudyTime", "SeriesDate", "ContentDate", "ContentTime", "InstanceCreationDate"):
            c(kw in d, kw + " present")
        c(int(d.SeriesNumber) == args.series_number, "SeriesNumber %s" % d.SeriesNumber)
        c(d.SeriesDescription == args.series_description, "SeriesDescription '%s'" % d.SeriesDescription)
        c((d.Rows, d.Columns) == (ny, nx), "Rows/Columns %s" % ((d.Rows, d.Columns),))
        c((d.BitsAllocated, d.BitsStored, d.HighBit, d.PixelRepresentation) == (16, 16, 15, 1), "int16 pixel module")
        c((d.SamplesPerPixel, d.PhotometricInterpretation) == (1, "MONOCHROME2"), "MONOCHROME2")
        c(float(d.RescaleSlope) == 1 and float(d.RescaleIntercept) == 0, "RescaleSlope 1, RescaleIntercept 0")
        c(d.RescaleType == "HU", "RescaleType HU")
        c(float(d.WindowWidth) > 0 and "WindowCenter" in d, "a CT window")
        k = int(d.InstanceNumber) - 1
        ipp = affine[:3, :3] @ np.array([0, 0, k]) + affine[:3, 3]
        c(np.allclose([float(v) for v in d.ImagePositionPatient], ipp, atol=1e-4), "ImagePositionPatient slice %d" % k)
        iop = np.concatenate([direction[:, 0], direction[:, 1]])
        c(np.allclose([float(v) for v in d.ImageOrientationPatient], iop, atol=1e-6), "ImageOrientationPatient")
        c(np.allclose([float(v) for v in d.PixelSpacing], [spacing[1], spacing[0]], atol=1e-5), "PixelSpacing")
        c(abs(float(d.SliceThickness) - spacing[2]) < 1e-5, "SliceThickness")
        normal = np.cross(direction[:, 0], direction[:, 1])
        c(abs(float(d.SliceLocation) - float(ipp @ normal)) < 1e-4, "SliceLocation")
        pixels = d.pixel_array  # rows = y, columns = x; RescaleSlope 1, intercept 0
        c(pixels.dtype == np.int16 and np.array_equal(pixels.T, data[:, :, k]), "HU values of slice %d" % k)
        if mr_json is None:
            c(d.PatientID == args.patient_id and str(d.PatientName) == args.patient_name, "patient from the options")
            c("SourceImageSequence" not in d, "no source image reference without a DICOM MR")
        else:
            c(d.StudyInstanceUID == mr_json["study"], "StudyInstanceUID of the MR")
            c(d.FrameOfReferenceUID == mr_json["frame"], "FrameOfReferenceUID of the MR")
            c(d.PatientID == mr_json["patient_id"] and str(d.PatientName) == mr_json["patient_name"], "MR's patient")
            c(d.PatientPosition == mr_json["patient_position"], "PatientPosition of the MR")
            mr = mr_json["instances"][k]
            c(np.allclose([float(v) for v in mr["position"]], ipp, atol=1e-4), "MR slice %d lies where the sCT's does" % k)
            src = d.SourceImageSequence
            c(len(src) == 1 and src[0].ReferencedSOPInstanceUID == mr["sop"], "SourceImageSequence -> MR slice %d" % k)
            c(src[0].ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.4", "SourceImageSequence class MR")
            c(src[0].PurposeOfReferenceCodeSequence[0].CodeValue == "121322", "purpose of reference 121322")
            ref = d.ReferencedSeriesSequence
            c(ref[0].SeriesInstanceUID == mr_json["series"], "ReferencedSeriesSequence -> MR series")
            c(ref[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == mr["sop"], "ReferencedInstanceSequence")


def voxel_map(ref, other):
    """Maps every voxel centre of `other` into `ref`'s index space: (largest distance in mm from a
    ref voxel centre, ref indices or None when some voxel falls outside ref, other's indices).
    Axis-order and flip agnostic (dcm2niix may store the rows flipped)."""
    shape = other.shape[:3]
    idx = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).reshape(-1, 3)
    world = idx @ other.affine[:3, :3].T + other.affine[:3, 3]
    cont = (world - ref.affine[:3, 3]) @ np.linalg.inv(ref.affine[:3, :3]).T
    rounded = np.rint(cont)
    spacing = np.sqrt((ref.affine[:3, :3] ** 2).sum(axis=0))
    err_mm = np.abs((cont - rounded) * spacing).max()
    inside = np.all((rounded >= 0) & (rounded < np.array(ref.shape[:3])), axis=1).all()
    same_count = int(np.prod(shape)) == int(np.prod(ref.shape[:3]))
    return err_mm, rounded.astype(int) if inside and same_count else None, idx


def dcm2niix(series, out):
    r = subprocess.run(["dcm2niix", "-z", "n", "-b", "n", "-f", "back", "-o", out, series], capture_output=True, text=True)
    check(r.returncode == 0, "dcm2niix failed on %s: %s %s" % (series, r.stdout[-500:], r.stderr[-500:]))
    niis = glob.glob(os.path.join(out, "*.nii"))
    check(len(niis) == 1, "dcm2niix wrote one volume from %s, got %s" % (series, niis))
    return nib.load(niis[0]) if len(niis) == 1 else None


def check_dcm2niix(series, sct):
    with tempfile.TemporaryDirectory() as out:
        back = dcm2niix(series, out)
        if back is None:
            return
        # Every dcm2niix voxel centre lands on an sCT voxel centre (1e-4 mm) holding the same HU.
        err_mm, r, idx = voxel_map(sct, back)
        check(err_mm < 1e-4, "dcm2niix geometry differs from the sCT by %.3g mm" % err_mm)
        check(r is not None, "dcm2niix grid is not the sCT's grid")
        if r is not None:
            d1, d2 = np.asarray(sct.dataobj), np.asarray(back.dataobj)
            v1 = d1[r[:, 0], r[:, 1], r[:, 2]].astype(np.float64)
            v2 = d2[idx[:, 0], idx[:, 1], idx[:, 2]] * float(back.dataobj.slope) + float(back.dataobj.inter)
            check(np.array_equal(v1, v2), "dcm2niix HU values differ from the sCT (max %g)" % np.abs(v1 - v2).max())
        print("dcm2niix: geometry within %.2g mm of the sCT, %d voxels compared" % (err_mm, len(idx)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("series")
    p.add_argument("sct_nifti")
    p.add_argument("mr_reference")
    p.add_argument("--patient-id", default="")
    p.add_argument("--patient-name", default="")
    p.add_argument("--series-number", type=int, default=901)
    p.add_argument("--series-description", default="sCT mr2ct, not for diagnosis")
    p.add_argument("--mr-dicom-json")
    args = p.parse_args()
    files = sorted(glob.glob(os.path.join(args.series, "*.dcm")))
    check(len(files) > 0, "no .dcm files in " + args.series)
    sct = nib.load(args.sct_nifti)
    with tempfile.TemporaryDirectory() as out:
        mr = dcm2niix(args.mr_reference, out) if os.path.isdir(args.mr_reference) else nib.load(args.mr_reference)
        if mr is not None:
            err_mm, r, _ = voxel_map(sct, mr)
            check(err_mm < 1e-4 and r is not None, "sCT NIfTI not on the MR's grid (%.3g mm)" % err_mm)
    mr_json = json.load(open(args.mr_dicom_json)) if args.mr_dicom_json else None
    run_dciodvfy(files)
    check_tags(files, sct, args, mr_json)
    check_dcm2niix(args.series, sct)
    for f in failures:
        print("FAIL:", f)
    print("%d files checked, %d failures" % (len(files), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
