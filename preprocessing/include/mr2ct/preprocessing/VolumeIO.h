#pragma once
// Reading and writing volumes with their geometry. Formats: NIfTI (.nii, .nii.gz, either byte
// order), MetaImage (.mha, .mhd), NRRD (.nrrd, .nhdr), and DICOM series folders (GDCM; rescale
// slope/intercept applied, so CT values are HU). Output format follows the output's extension.
// Every failure throws IoError / DataError whose message starts with the file's path.
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

/// A NIfTI header's spatial fields exactly as stored (RAS, the file's own convention), so that an
/// output on the same grid can carry the codes and matrices its input had.
struct NiftiSpatialHeader {
  int qformCode = 0, sformCode = 0;
  std::array<double, 3> quatern{};          ///< quatern_b, quatern_c, quatern_d
  std::array<double, 3> qoffset{};          ///< qoffset_x, qoffset_y, qoffset_z
  double qfac = 1;                          ///< pixdim[0]
  std::array<double, 3> pixdim{1, 1, 1};    ///< pixdim[1..3]
  std::array<double, 12> srow{};            ///< srow_x, srow_y, srow_z
  int xyztUnits = 0;
};

struct VolumeInfo {
  std::string path;
  std::string format;        ///< "NIfTI", "MetaImage", "NRRD", "DICOM series", ...
  int formatVersion = 0;     ///< NIfTI: 1 or 2; 0 for the other formats
  std::string pixelType;     ///< component type as stored: "int16", "uint8", "float32", ...
  double scaleSlope = 1, scaleIntercept = 0;  ///< NIfTI intensity scaling applied (1, 0: none)
  std::string transform;     ///< NIfTI: which header matrix gave the geometry: "sform", "qform", "none"
  std::vector<std::string> warnings;  ///< assumptions made while reading (readVolume logs them)
  std::optional<NiftiSpatialHeader> nifti;  ///< NIfTI inputs: the header's spatial fields
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
/// `info`, when given, receives the header as readVolumeInfo reports it.
Volume readVolume(const std::filesystem::path& path, const ReadOptions& options = {}, VolumeInfo* info = nullptr);

/// Reads a mask; any non-zero voxel becomes 1.
Mask readMask(const std::filesystem::path& path, const ReadOptions& options = {});

enum class PixelType { Float32, Int16, UInt8 };

struct WriteOptions {
  WriteOptions(PixelType type = PixelType::Float32, bool compressed = true) : pixelType(type), compress(compressed) {}
  PixelType pixelType = PixelType::Float32;
  bool compress = true;  ///< gzip inside .mha/.nrrd (".nii.gz" is always compressed)
  /// NIfTI outputs: the input's header codes and matrices (VolumeInfo::nifti), written unchanged
  /// when they describe the written grid (within 1e-4 mm); otherwise codes 1 from the geometry.
  std::optional<NiftiSpatialHeader> nifti;
};

/// The extensions writeVolume accepts.
const std::vector<std::string>& writableExtensions();

/// Writes atomically (temporary file in the same folder, then rename). Values are rounded and
/// clamped when the pixel type is an integer type.
void writeVolume(const Volume& volume, const std::filesystem::path& path, const WriteOptions& options = {});
void writeMask(const Mask& mask, const std::filesystem::path& path);

}  // namespace mr2ct
