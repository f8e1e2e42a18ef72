#pragma once
// Reading and writing volumes with their geometry. Formats: NIfTI (.nii, .nii.gz, either byte
// order), MetaImage (.mha, .mhd), NRRD (.nrrd, .nhdr), and DICOM series folders (GDCM; rescale
// slope/intercept applied, so CT values are HU). Output format follows the output's extension.
// Every failure throws IoError / DataError whose message starts with the file's path.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

struct VolumeInfo {
  std::string path;
  std::string format;        ///< "NIfTI", "MetaImage", "NRRD", "DICOM series", ...
  std::string pixelType;     ///< component type as stored: "int16", "uint8", "float32", ...
  unsigned components = 1;   ///< 1 for scalar images
  unsigned dimensions = 3;   ///< as stored in the file
  std::string byteOrder;     ///< "little", "big" or "" when not applicable
  Geometry geometry;
  std::size_t dicomFiles = 0;  ///< slices in a DICOM series folder
};

struct ReadOptions {
  /// Refuse volumes containing NaN or Inf voxels (default). Set true only for raw inspection.
  bool allowNonFinite = false;
  /// Largest volume accepted, in voxels (checked from the header before anything is allocated).
  std::size_t maxVoxels = std::size_t(1) << 30;
  /// For a DICOM folder holding several series: the SeriesInstanceUID or SeriesNumber to read ("" = the
  /// only series with images; several are refused, listed). DicomSeries.h lists a folder's series.
  std::string dicomSeries;
};

/// Reads only the header (size, spacing, type, ...). Throws IoError for missing/unreadable files.
VolumeInfo readVolumeInfo(const std::filesystem::path& path, const ReadOptions& options = {});

/// Reads a scalar 3D volume as float (a 2D image or single DICOM slice becomes a one-slice volume).
Volume readVolume(const std::filesystem::path& path, const ReadOptions& options = {});

/// Reads a mask; any non-zero voxel becomes 1.
Mask readMask(const std::filesystem::path& path, const ReadOptions& options = {});

enum class PixelType { Float32, Int16, UInt8 };

struct WriteOptions {
  PixelType pixelType = PixelType::Float32;
  bool compress = true;  ///< gzip inside .mha/.nrrd (".nii.gz" is always compressed)
};

/// The extensions writeVolume accepts.
const std::vector<std::string>& writableExtensions();

/// Writes atomically (temporary file in the same folder, then rename). Values are rounded and
/// clamped when the pixel type is an integer type.
void writeVolume(const Volume& volume, const std::filesystem::path& path, const WriteOptions& options = {});
void writeMask(const Mask& mask, const std::filesystem::path& path);

}  // namespace mr2ct
