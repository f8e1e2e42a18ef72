#pragma once
// Every check of a MetaImage (.mha/.mhd) file made before ITK's MetaIO reads it. Found by fuzz_volume_reader:
// MetaIO 5.2 divides by header values (a zero channel count or a size product that overflows to 0
// raised SIGFPE in MetaImage::ReadStream) and parses unbounded numeric lists with istream (a header
// with megabytes of digits took > 10 s). A signal kills the whole batch, so the header is validated
// here, bounded, and refused with one line naming the file. MetaIO also only warns about a data file
// shorter than the header promises: checkMetaImageVoxelDataComplete refuses it. Private to
// mr2ct_preprocessing.
#include <cstdint>
#include <filesystem>
#include <string>

namespace mr2ct::detail {

/// True for .mha/.mhd (any case): the files ITK's MetaImageIO would read.
bool looksLikeMetaImage(const std::filesystem::path& path);

/// Throws DataError(path, "MetaImage header: <problem>") unless the text header (the lines up to
/// ElementDataFile, at most 64 KiB, each at most 4 KiB of printable text) has NDims 1..10, DimSize
/// with exactly NDims integers in 1..2^31-1 whose product (times the channels) does not overflow,
/// ElementNumberOfChannels 1..1024, finite positive spacing, finite numeric geometry fields with a
/// bounded count, HeaderSize >= -1, CompressedDataSize >= 0, and single-file data (LOCAL or a
/// file name; LIST and %d patterns are refused).
void checkMetaImageHeader(const std::filesystem::path& path);

/// Throws IoError(path, "truncated: expected N bytes of voxel data, found M") when the data (LOCAL,
/// or the ElementDataFile, after HeaderSize) holds fewer than `payloadBytes` bytes (CompressedData:
/// fewer than CompressedDataSize, or fewer inflated bytes), and IoError "file not found" for a
/// missing data file. Lists and file-name patterns are left to MetaIO.
void checkMetaImageVoxelDataComplete(const std::filesystem::path& path, std::uint64_t payloadBytes);

}  // namespace mr2ct::detail
