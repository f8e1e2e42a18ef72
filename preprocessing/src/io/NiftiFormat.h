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
#include <filesystem>
#include <string>
#include <vector>

#include "NiftiHeader.h"
#include "mr2ct/preprocessing/Volume.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace mr2ct::detail {

/// The file's header decoded (NiftiHeader.h) and checked (NiftiGuard.h), dims above the rank set
/// to 1 and the spatial pixdim filled: ready for niftiGeometry and readNiftiVolume.
NiftiHeader readNiftiHeader(const std::filesystem::path& path);

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
