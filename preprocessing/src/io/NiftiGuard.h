#pragma once
// Every refusal of a NIfTI file, judged on its decoded header (NiftiHeader.h), before any voxel is
// read. Some guard ITK's own NiftiImageIO, which mr2ct no longer reads NIfTI with but still meets:
// ITK 5.2 calls abort() in vnl_svd on NaN/Inf orientation fields (fuzz_volume_reader), falls back to
// Analyze 7.5 on a wrong sizeof_hdr or magic (losing the orientation) and turns zero sizes into 1.
// The others are what NiftiFormat.h cannot decode, and a file shorter than its header promises.
// Private to mr2ct_preprocessing.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "NiftiHeader.h"

namespace mr2ct::detail {

/// Throws DataError (or IoError for a header cut short) naming the file, in this order:
/// for .nii/.nii.gz a sizeof_hdr other than 348/540, a wrong magic number ("n+1"/"n+2") and
/// dim[0] outside 1..7 or zero/negative sizes; for every file pixdim[0..3] and (when the qform or
/// sform code says they are used) the quaternion, offsets or sform rows not finite or beyond +-1e9;
/// then what the reader cannot decode: an incomplete header, a wrong magic number (Analyze 7.5
/// named as such), multi-component or unknown datatypes, bitpix not matching the datatype, a
/// non-finite scl_inter with a valid scl_slope, a vox_offset inside the header of a single file.
void checkNiftiHeader(const std::filesystem::path& path, const NiftiHeader& header);

/// Throws DataError unless the header describes one 3D volume of at most `maxVoxels` voxels.
/// Expects the dims above dim[0] set to 1 (NiftiFormat.h's readNiftiHeader does).
void checkNiftiShape(const std::string& path, const NiftiHeader& header, std::size_t maxVoxels);

/// Throws IoError "truncated: ..." when the file (or the .img of a .hdr) holds fewer than
/// `payloadBytes` bytes of voxel data after vox_offset, and IoError "file not found" for a .hdr
/// without its .img.
void checkNiftiVoxelDataComplete(const std::filesystem::path& path, const NiftiHeader& header,
                                 std::uint64_t payloadBytes);

}  // namespace mr2ct::detail
