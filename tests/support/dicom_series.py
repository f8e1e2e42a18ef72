#!/usr/bin/python3
"""Writes small DICOM series with pydicom (an independent writer) for test_dicom_series.

Usage: dicom_series.py OUT_DIR. Writes one folder per case under OUT_DIR and OUT_DIR/expected.json:
for every readable case its size, spacing, origin, direction (columns = voxel axes, LPS) and the
real-world voxel values (stored * slope + intercept) with x fastest, then y, then z, z ascending
along the slice normal. File names run against the slice order and InstanceNumbers are shuffled,
so a reader that sorts by name or number gets it wrong.
"""
import json
import math
import random
import os
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from rotations import rotation

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"

STUDY = generate_uid()
FRAME_OF_REFERENCE = generate_uid()



def ds_str(v):
    return "%.10g" % v


def base_dataset(sop_class, modality, series_uid, number, description):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientName = "Test^Dicom"
    ds.PatientID = "DICOMTEST"
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = number
    ds.SeriesDescription = description
    ds.FrameOfReferenceUID = FRAME_OF_REFERENCE
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    return ds


def stored_values(cols, rows, n):
    z, y, x = np.meshgrid(np.arange(n), np.arange(rows), np.arange(cols), indexing="ij")
    return (x * 7 + y * 50 + z * 400 - 300).astype(np.int16)  # [z][y][x], distinct per voxel


def write_series(folder, *, cols=7, rows=6, n=8, pixel_spacing=(0.9, 0.7), step=2.5, angles=(0.3, -0.2, 0.4),
                 origin=(-40.5, 12.25, 30.0), slope=2.0, intercept=-1024.0, modality="CT", number=1,
                 description="CT oblique", sop_class=CT_STORAGE, edit=None, keep=None):
    """One classic series (a file per slice). edit(k, ds, position) may change slice k's dataset;
    keep(k) -> False drops slice k. Returns the expected record for a readable series."""
    os.makedirs(folder, exist_ok=True)
    r = rotation(*angles)
    row, col, normal = r[:, 0], r[:, 1], r[:, 2]
    values = stored_values(cols, rows, n)
    series_uid = generate_uid()
    numbers = list(range(1, n + 1))
    random.Random(n).shuffle(numbers)  # InstanceNumbers unique but not in slice order
    for k in range(n):
        if keep is not None and not keep(k):
            continue
        ds = base_dataset(sop_class, modality, series_uid, number, description)
        position = np.array(origin) + k * step * normal
        ds.ImageOrientationPatient = [ds_str(v) for v in list(row) + list(col)]
        ds.ImagePositionPatient = [ds_str(v) for v in position]
        ds.PixelSpacing = [ds_str(pixel_spacing[0]), ds_str(pixel_spacing[1])]
        ds.SliceThickness = ds_str(step * 1.6)  # deliberately not the spacing: readers must use positions
        ds.InstanceNumber = numbers[k]
        ds.Rows, ds.Columns = rows, cols
        if slope is not None:
            ds.RescaleSlope = ds_str(slope)
            ds.RescaleIntercept = ds_str(intercept)
            ds.RescaleType = "HU" if modality == "CT" else "US"
        ds.PixelData = values[k].tobytes()
        if edit is not None:
            edit(k, ds, position)
        # names run backwards: IM0008 holds the first slice
        ds.save_as(os.path.join(folder, "IM%04d" % (n - k)), write_like_original=False)
    real = values.astype(np.float64) * (1.0 if slope is None else slope) + (0.0 if slope is None else intercept)
    return {
        "size": [cols, rows, n],
        "spacing": [pixel_spacing[1], pixel_spacing[0], step],
        "origin": list(origin),
        "direction": [float(v) for v in np.column_stack([row, col, normal]).reshape(-1)],
        "values": [float(v) for v in real.reshape(-1)],
        "series_uid": series_uid,
        "series_number": number,
    }


def write_enhanced(folder, *, cols=6, rows=5, n=6, pixel_spacing=(1.1, 0.8), step=3.0, angles=(-0.25, 0.1, 0.2),
                   origin=(10.0, -20.0, 5.5), slope=0.5, intercept=10.0, number=20):
    """One Enhanced MR Image Storage file; frames stored in reverse order along the normal."""
    os.makedirs(folder, exist_ok=True)
    r = rotation(*angles)
    row, col, normal = r[:, 0], r[:, 1], r[:, 2]
    values = stored_values(cols, rows, n)
    ds = base_dataset(ENHANCED_MR_STORAGE, "MR", generate_uid(), number, "enhanced MR")
    ds.Rows, ds.Columns = rows, cols
    ds.NumberOfFrames = n
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [ds_str(pixel_spacing[0]), ds_str(pixel_spacing[1])]
    measures.SliceThickness = ds_str(step)
    shared.PixelMeasuresSequence = Sequence([measures])
    orientation = Dataset()
    orientation.ImageOrientationPatient = [ds_str(v) for v in list(row) + list(col)]
    shared.PlaneOrientationSequence = Sequence([orientation])
    transform = Dataset()
    transform.RescaleSlope = ds_str(slope)
    transform.RescaleIntercept = ds_str(intercept)
    transform.RescaleType = "US"
    shared.PixelValueTransformationSequence = Sequence([transform])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    stored_order = list(reversed(range(n)))  # frame f holds slice n-1-f
    for k in stored_order:
        f = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [ds_str(v) for v in np.array(origin) + k * step * normal]
        f.PlanePositionSequence = Sequence([pos])
        content = Dataset()
        content.InStackPositionNumber = k + 1
        f.FrameContentSequence = Sequence([content])
        frames.append(f)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = np.stack([values[k] for k in stored_order]).tobytes()
    ds.save_as(os.path.join(folder, "enhanced.dcm"), write_like_original=False)
    real = values.astype(np.float64) * slope + intercept
    return {
        "size": [cols, rows, n],
        "spacing": [pixel_spacing[1], pixel_spacing[0], step],
        "origin": list(origin),
        "direction": [float(v) for v in np.column_stack([row, col, normal]).reshape(-1)],
        "values": [float(v) for v in real.reshape(-1)],
        "series_number": number,
    }


def main():
    out = sys.argv[1]
    expected = {}
    # Readable series. The CT has slope 2 / intercept -1024, the MR slope 1.5 / intercept -20 (MR
    # Image Storage carries RescaleSlope too: scanners write it), the "plain" MR none.
    expected["ct"] = write_series(os.path.join(out, "ct"))
    expected["mr"] = write_series(os.path.join(out, "mr"), modality="MR", sop_class=MR_STORAGE, slope=1.5,
                                  intercept=-20.0, number=3, description="T1 oblique", angles=(-0.1, 0.25, -0.6),
                                  step=1.2, pixel_spacing=(0.6, 0.45), n=9)
    expected["plain"] = write_series(os.path.join(out, "plain"), modality="MR", sop_class=MR_STORAGE, slope=None,
                                     number=4, description="T2 axial", angles=(0, 0, 0), step=4.0, n=5)
    expected["enhanced"] = write_enhanced(os.path.join(out, "enhanced"))
    # A nested study folder as a PACS export writes it: two series in subfolders, plus a DICOMDIR-like
    # non-image file and a text file.
    study = os.path.join(out, "study")
    expected["study_ct"] = write_series(os.path.join(study, "S1", "CT"), number=7, description="CT head")
    expected["study_mr"] = write_series(os.path.join(study, "S2", "MR", "t1"), modality="MR", sop_class=MR_STORAGE,
                                        number=8, description="T1 MPRAGE", slope=None, n=4)
    with open(os.path.join(study, "README.TXT"), "w") as f:
        f.write("exported by a PACS\n")

    # Broken series, each refused for one reason.
    write_series(os.path.join(out, "missing"), keep=lambda k: k not in (3, 4))

    def nonuniform(k, ds, position):
        if k >= 5:
            r = np.array([float(v) for v in ds.ImageOrientationPatient])
            normal = np.cross(r[:3], r[3:])
            ds.ImagePositionPatient = [ds_str(v) for v in position + 0.8 * normal]
    write_series(os.path.join(out, "nonuniform"), edit=nonuniform)

    def tilt(k, ds, position):
        r = np.array([float(v) for v in ds.ImageOrientationPatient])
        ds.ImagePositionPatient = [ds_str(v) for v in position + k * 2.5 * math.tan(math.radians(15)) * r[3:]]
    write_series(os.path.join(out, "tilt"), edit=tilt)

    def mixed(k, ds, position):
        if k == 6:
            r = rotation(0.3, -0.2, 0.5)
            ds.ImageOrientationPatient = [ds_str(v) for v in list(r[:, 0]) + list(r[:, 1])]
    write_series(os.path.join(out, "mixed_orientation"), edit=mixed)

    # A palette-colour slice without its lookup tables (Debian's GDCM asserts reading it).
    def palette(k, ds, position):
        if k == 2:
            ds.PhotometricInterpretation = "PALETTE COLOR"
    write_series(os.path.join(out, "palette"), edit=palette)

    # Pixel bits GDCM asserts on, and a retired Recognition Code that is not ACR-NEMA's.
    def bits(k, ds, position):
        if k == 4:
            ds.BitsStored = 20
    write_series(os.path.join(out, "bits"), edit=bits)

    def recognition(k, ds, position):
        if k == 1:
            ds.add_new((0x0008, 0x0010), "LO", "XYZ 1.0")
    write_series(os.path.join(out, "recognition"), edit=recognition)

    # A slice without pixel data: its header parses, GDCM cannot read its image.
    def no_pixels(k, ds, position):
        if k == 3:
            del ds.PixelData
    write_series(os.path.join(out, "no_pixels"), edit=no_pixels)

    # Two volumes at the same positions (one series, e.g. pre/post contrast without other tags).
    uid = generate_uid()

    def same_uid(offset):
        def edit(k, ds, position):
            ds.SeriesInstanceUID = uid
            ds.InstanceNumber = k + 1 + offset
        return edit
    write_series(os.path.join(out, "repeated", "a"), edit=same_uid(0))
    write_series(os.path.join(out, "repeated", "b"), edit=same_uid(100))
    # Two echoes.
    uid2 = generate_uid()

    def echo(e):
        def edit(k, ds, position):
            ds.SeriesInstanceUID = uid2
            ds.EchoNumbers = e
            ds.InstanceNumber = k + 1 + 100 * e
        return edit
    write_series(os.path.join(out, "echoes", "e1"), modality="MR", sop_class=MR_STORAGE, edit=echo(1))
    write_series(os.path.join(out, "echoes", "e2"), modality="MR", sop_class=MR_STORAGE, edit=echo(2))
    # Time points (e.g. a perfusion series): positions repeat, TemporalPositionIdentifier differs.
    uid3 = generate_uid()

    def temporal(t):
        def edit(k, ds, position):
            ds.SeriesInstanceUID = uid3
            ds.TemporalPositionIdentifier = t
        return edit
    write_series(os.path.join(out, "temporal", "t1"), modality="MR", sop_class=MR_STORAGE, edit=temporal(1))
    write_series(os.path.join(out, "temporal", "t2"), modality="MR", sop_class=MR_STORAGE, edit=temporal(2))

    # Corrupt files: a slice cut short, and a slice whose pixel data claims 2 GiB (GDCM would
    # allocate it before noticing).
    write_series(os.path.join(out, "truncated"))
    cut = os.path.join(out, "truncated", "IM0004")
    with open(cut, "rb") as f:
        data = f.read()
    with open(cut, "wb") as f:
        f.write(data[:-40])
    write_series(os.path.join(out, "huge_length"))
    patched = os.path.join(out, "huge_length", "IM0004")
    with open(patched, "rb") as f:
        data = bytearray(f.read())
    at = data.rfind(b"\xe0\x7f\x10\x00OW\x00\x00")
    data[at + 8:at + 12] = (0x7FFFFFFF).to_bytes(4, "little")
    with open(patched, "wb") as f:
        f.write(data)

    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
