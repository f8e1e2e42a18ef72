#pragma once
// Checks ITK does not make: the byte order of a NIfTI header and whether a file really holds all the
// voxel data its header promises (ITK's NIfTI, MetaIO and NRRD readers only print warnings for a
// truncated file and return a partly filled image). Private to mr2ct_preprocessing.
#include <cstdint>
#include <filesystem>
#include <string>

namespace mr2ct::detail {

/// "little" or "big" for a NIfTI-1/-2 header (.nii, .nii.gz, .hdr), from sizeof_hdr (348 or 540)
/// as stored; "" when the first bytes are not a NIfTI header.
std::string niftiByteOrder(const std::filesystem::path& path);

/// Throws IoError(path, "truncated: expected N bytes of voxel data, found M") when the file (or the
/// data file its header names) holds fewer than `payloadBytes` bytes of voxel data. `format` is the
/// VolumeInfo format name ("NIfTI", "MetaImage", "NRRD"); other formats are not checked.
void checkVoxelDataComplete(const std::filesystem::path& path, const std::string& format, std::uint64_t payloadBytes);

}  // namespace mr2ct::detail
