#pragma once
// A fence in front of GDCM, found by fuzz_dicom_series: GDCM allocates (and zeroes) whatever
// length an element declares before it finds the file too short, so a 1 KiB file claiming a
// 900 MB element costs seconds and gigabytes per file. checkDicomLengths walks the file's
// elements (meta group, data set, sequences and items, encapsulated pixel fragments) without
// GDCM and refuses any declared length that runs past the end of the file.
#include <filesystem>
#include <string>

namespace mr2ct::detail {

/// "" when every declared length fits in the file (or the walk cannot tell: deflated transfer
/// syntax); otherwise what is wrong ("element (7fe0,0010) at byte 1234 claims 524288 bytes, 800
/// left").
std::string checkDicomLengths(const std::filesystem::path& path);

}  // namespace mr2ct::detail
