#!/usr/bin/python3
"""Writes the MR inputs of the DICOM-output test with tools that are not mr2ct's:
  <dir>/mr.nii.gz  nibabel, int16, oblique anisotropic affine
  <dir>/mr_dicom/  pydicom, an MR Image Storage series (one file per slice) with its own patient,
                   study, frame of reference and PatientPosition, read back by the check script.
Usage: dicom_out_inputs.py DIR"""
import json
import os
import sys

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from rotations import rotation  # noqa: E402

NX, NY, NZ = 26, 22, 7


def phantom():
    """x fastest in memory: array [x, y, z]. A body (~100) in air (~0)."""
    x, y, z = np.meshgrid(np.arange(NX), np.arange(NY), np.arange(NZ), indexing="ij")
    r = ((x - NX / 2) / (0.35 * NX)) ** 2 + ((y - NY / 2) / (0.35 * NY)) ** 2 + ((z - NZ / 2) / (0.8 * NZ)) ** 2
    body = 100 + 20 * np.sin(0.7 * x + 0.3 * y + z)
    return np.where(r < 1, body, (x * 7 + y * 3 + z) % 5).astype(np.int16)



def write_nifti(path, data):
    spacing = np.array([0.9, 1.1, 2.5])
    affine = np.eye(4)
    affine[:3, :3] = rotation(0.2, -0.1, 0.3) @ np.diag(spacing)
    affine[:3, 3] = [-11.25, 7.5, 30.125]
    img = nib.Nifti1Image(data, affine)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    nib.save(img, path)


def write_dicom_series(folder, data):
    os.makedirs(folder, exist_ok=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    # LPS: rows along +x (L), columns along +y (P) tilted slightly, slices along the normal.
    row = np.array([1.0, 0.0, 0.0])
    col = np.array([0.0, np.cos(0.1), -np.sin(0.1)])
    normal = np.cross(row, col)
    spacing_xy, thickness = (0.8, 0.75), 2.0  # (row spacing, column spacing) as PixelSpacing
    origin = np.array([-10.0, -8.5, -3.0])
    uids = []
    for k in range(NZ):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.Modality = "MR"
        ds.PatientName = "Test^Mri"
        ds.PatientID = "MR-PAT-0042"
        ds.PatientBirthDate = "19700101"
        ds.PatientSex = "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20260101", "101500", "S1", "ACC7"
        ds.ReferringPhysicianName = ""
        ds.SeriesNumber, ds.InstanceNumber = 3, k + 1
        ds.PatientPosition = "FFS"
        ds.PositionReferenceIndicator = ""
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
        ds.Manufacturer, ds.Laterality = "pydicom-test", ""
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions, ds.MRAcquisitionType = "SE", "NONE", "", "2D"
        ds.EchoTime, ds.RepetitionTime, ds.EchoTrainLength = 10, 500, 1
        ds.ImagePositionPatient = ["%.10g" % v for v in origin + k * thickness * normal]
        ds.ImageOrientationPatient = ["%.12f" % v for v in np.concatenate([row, col])]
        ds.PixelSpacing = list(spacing_xy)
        ds.SliceThickness = thickness
        ds.Rows, ds.Columns = NY, NX
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = np.ascontiguousarray(data[:, :, k].T).tobytes()  # rows = y, columns = x
        ds.save_as(os.path.join(folder, "MR%04d.dcm" % (k + 1)), write_like_original=False)
        uids.append({"sop": ds.SOPInstanceUID, "position": list(ds.ImagePositionPatient)})
    with open(os.path.join(folder, "..", "mr_dicom.json"), "w") as f:
        json.dump({"study": study, "series": series, "frame": frame, "patient_id": "MR-PAT-0042",
                   "patient_name": "Test^Mri", "patient_position": "FFS", "instances": uids}, f)


def main():
    out = sys.argv[1]
    data = phantom()
    write_nifti(os.path.join(out, "mr.nii.gz"), data)
    write_dicom_series(os.path.join(out, "mr_dicom"), data)


if __name__ == "__main__":
    main()
