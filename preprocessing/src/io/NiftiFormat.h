#pragma once
// NIfTI-1 and NIfTI-2 read and written by mr2ct itself, not by ITK 5.2's NiftiImageIO, which
// refuses NIfTI-2, applies scl_slope 0 as a real slope, sizes scaled files by the rescaled type,
// silently replaces a sheared sform by the qform and writes qform/sform codes 1 whatever the input
// said. The rules here are the standard's as nibabel applies them (nibabel is the reference the
// tests compare with):
//   values  = stored · scl_slope + scl_inter, unless scl_slope is 0 or not finite (no scaling);
//   affine  = the sform when sform_code > 0, else the qform when qform_code > 0, else nibabel's
//             base affine (x flipped, grid centred on the origin: the header claims no orientation);
//   world   = RAS in the file, LPS in mr2ct (x and y negated).
// Private to mr2ct_preprocessing.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "mr2ct/preprocessing/Volume.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace mr2ct::detail {

/// The parts of a NIfTI header that mr2ct uses, as stored (byte order resolved).
struct NiftiHeader {
  int version = 1;                        ///< 1 (348-byte header) or 2 (540-byte header)
  bool bigEndian = false;
  bool pair = false;                      ///< .hdr/.img pair ("ni1"/"ni2") rather than one file
  std::array<std::int64_t, 8> dim{};      ///< dim[0] = rank
  int datatype = 0;
  int bitpix = 0;
  std::array<double, 8> pixdim{};
  std::uint64_t voxOffset = 0;
  double sclSlope = 0, sclInter = 0;
  int xyztUnits = 0;
  NiftiSpatialHeader spatial;             ///< codes, quaternion, offsets, sform rows
};

/// True when the file starts (after gzip) with a NIfTI-1/-2 sizeof_hdr in either byte order.
bool looksLikeNifti(const std::filesystem::path& path);
/// "Analyze 7.5" for a .hdr without NIfTI magic, "MINC", "MGH/MGZ", or "" (other formats).
std::string neuroimagingFormatName(const std::filesystem::path& path);

/// Parses and checks the header (IoError/DataError naming the file for anything unusable).
NiftiHeader readNiftiHeader(const std::filesystem::path& path);

/// Stored type name ("int16", "float32", ...) for a NIfTI datatype code, "" when unsupported.
std::string niftiTypeName(int datatype);

/// The voxel grid the header describes (nibabel's rules above). `warnings` receives one sentence
/// per assumption made (sheared sform replaced by the qform, no orientation in the header);
/// `transform` names the matrix used ("sform", "qform", ...).
Geometry niftiGeometry(const NiftiHeader& header, std::vector<std::string>* warnings = nullptr,
                       std::string* transform = nullptr);

/// The header's values as floats (scaling applied). Throws IoError "truncated: ..." when the file
/// holds fewer voxel bytes than the header promises.
Volume readNiftiVolume(const std::filesystem::path& path, const NiftiHeader& header);

enum class NiftiStoredType { Float32, Int16, UInt8 };

/// Writes a single-file NIfTI-1 (.nii or .nii.gz) at `path` (not atomically: the caller renames).
/// With `spatial` (codes and matrices of an input on the same grid) the header carries them as
/// they were; otherwise qform and sform describe `geometry` with codes 1 (scanner anatomical).
void writeNiftiFile(const std::filesystem::path& path, const Geometry& geometry, const float* voxels,
                    NiftiStoredType type, const NiftiSpatialHeader* spatial, bool compress);

}  // namespace mr2ct::detail
