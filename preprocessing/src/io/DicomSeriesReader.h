#pragma once
// A DICOM series folder read as one volume: scan (DicomSeriesScan.h), choose the series, lay out
// and check its slices (DicomSliceGeometry.h), then read the pixels with ITK's GDCM reader
// (rescale slope/intercept applied per file) onto the grid computed from the slice positions.
#include <itkImageIOBase.h>

#include <filesystem>

#include "DicomSliceGeometry.h"
#include "mr2ct/preprocessing/Volume.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace mr2ct::detail {

struct DicomSeriesHeader {
  DicomSeriesLayout layout;
  itk::ImageIOBase::Pointer io;  ///< GDCM's view of the first file (pixel type)
  std::size_t files = 0;
};

/// Chooses the series (options.dicomSeries), checks it is one regular grid within options.maxVoxels.
DicomSeriesHeader readDicomSeriesHeader(const std::filesystem::path& dir, const ReadOptions& options);

/// Reads the voxels of a series checked by readDicomSeriesHeader.
Volume readDicomSeriesVoxels(const std::filesystem::path& dir, const DicomSeriesHeader& header);

}  // namespace mr2ct::detail
