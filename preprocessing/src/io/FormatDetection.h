#pragma once
// Telling formats apart by their first bytes (and, where bytes cannot tell, their extension):
// which files go to mr2ct's NIfTI reader, and what to call a file mr2ct does not read, so that the
// refusal names it. Private to mr2ct_preprocessing.
#include <filesystem>
#include <string>

namespace mr2ct::detail {

/// True when the file starts (after gzip) with a NIfTI-1/-2 sizeof_hdr in either byte order.
bool looksLikeNifti(const std::filesystem::path& path);

/// "Analyze 7.5" for a .hdr without NIfTI magic, "MINC", "MGH/MGZ", or "" (other formats).
std::string neuroimagingFormatName(const std::filesystem::path& path);

/// "PNG", "JPEG", "TIFF", "BMP", "GIF" or "VTK" when the file's first bytes or its extension say it
/// is an image format mr2ct does not read as a volume; "" otherwise.
std::string otherImageFormat(const std::filesystem::path& path);

}  // namespace mr2ct::detail
