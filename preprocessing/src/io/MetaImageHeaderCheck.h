#pragma once
// Checks made before ITK's MetaIO (and the other ITK readers) see a file. Found by fuzz_volume_reader:
// MetaIO 5.2 divides by header values (a zero channel count or a size product that overflows to 0
// raised SIGFPE in MetaImage::ReadStream) and parses unbounded numeric lists with istream (a header
// with megabytes of digits took > 10 s). A signal kills the whole batch, so the header is validated
// here, bounded, and refused with one line naming the file. Private to mr2ct_preprocessing.
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

/// "PNG", "JPEG", "TIFF", "BMP", "GIF" or "VTK" when the file's first bytes or its extension say it
/// is an image format mr2ct does not read as a volume; "" otherwise.
std::string otherImageFormat(const std::filesystem::path& path);

}  // namespace mr2ct::detail
