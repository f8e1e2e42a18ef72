#pragma once
// How many bytes of voxel data a file really holds, and the one message for a file that holds fewer
// than its header promises: ITK's MetaIO and NRRD readers (and niftilib, once) only warn about a
// truncated file and return a partly filled image. The format guards (NiftiGuard.h,
// MetaImageGuard.h) say where the voxels start. Private to mr2ct_preprocessing.
#include <cstdint>
#include <filesystem>

namespace mr2ct::detail {

/// The file's size in bytes (IoError when it cannot be read).
std::uint64_t fileSize(const std::filesystem::path& path);

/// Bytes the file holds once decompressed (its size when it is not gzip). For gzip, the trailer's
/// ISIZE (size mod 2^32 of the last member) confirms `expected` without decompressing; otherwise
/// (multi-member or truncated streams) every byte is counted.
std::uint64_t decompressedSize(const std::filesystem::path& path, std::uint64_t expected);

/// Throws IoError(path, "truncated: expected N bytes of voxel data, found M").
[[noreturn]] void refuseTruncatedVoxelData(const std::filesystem::path& path, std::uint64_t expected,
                                           std::uint64_t found);

}  // namespace mr2ct::detail
