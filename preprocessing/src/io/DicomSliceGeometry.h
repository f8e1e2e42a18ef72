#pragma once
// The grid of a DICOM series, from its slices' ImagePositionPatient/ImageOrientationPatient, and
// the refusals for everything that is not one regular 3D grid: missing slices, non-uniform
// spacing, gantry tilt, mixed orientations or sizes, several volumes (echoes, time points,
// repeated positions). Slices are ordered by position along the normal, never by file name or
// InstanceNumber; the slice spacing comes from the positions, never from SliceThickness.
#include <cstddef>
#include <filesystem>
#include <vector>

#include "DicomSeriesScan.h"
#include "mr2ct/preprocessing/Geometry.h"

namespace mr2ct::detail {

struct DicomSeriesLayout {
  Geometry geometry;
  /// Single-frame series: the image files in slice order. Multi-frame: the one file.
  std::vector<std::filesystem::path> files;
  /// Multi-frame: frameOrder[k] = the frame (0-based, as stored) that becomes slice k.
  std::vector<std::size_t> frameOrder;
  bool multiFrame = false;
};

/// Throws DataError "<dir>: DICOM series ...: <problem>" when the series is not one regular grid.
DicomSeriesLayout layoutDicomSeries(const std::filesystem::path& dir, const DicomSeriesFiles& series);

}  // namespace mr2ct::detail
