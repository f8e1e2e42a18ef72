#pragma once
// The fences in front of GDCM, found by fuzz_dicom_series: GDCM allocates (and zeroes) whatever
// length an element declares before it finds the file too short, so a 1 KiB file claiming a
// 900 MB element costs seconds and gigabytes per file. checkDicomLengths walks the file's
// elements (meta group, data set, sequences and items, encapsulated pixel fragments) without
// GDCM and refuses any declared length that runs past the end of the file. GDCM also asserts
// (aborts) on pixel descriptions it cannot decode: dicomPixelDescriptionProblem refuses those from
// the header fields the series scan read (DicomSeriesScan.h) before GDCM reads any pixel.
#include <filesystem>
#include <string>

#include "DicomSeriesScan.h"

namespace mr2ct::detail {

/// "" when every declared length fits in the file (or the walk cannot tell: deflated transfer
/// syntax); otherwise what is wrong ("element (7fe0,0010) at byte 1234 claims 524288 bytes, 800
/// left").
std::string checkDicomLengths(const std::filesystem::path& path);

/// "" when GDCM can decode the instance's pixel description; otherwise what is wrong, to follow
/// the file's name ("has missing or inconsistent pixel bits (allocated 12, stored 12, high bit 11)"):
/// bits allocated other than 8/16/32 or inconsistent with bits stored and the high bit, a
/// Recognition Code that is not ACR-NEMA's, a photometric interpretation other than MONOCHROME1/2.
std::string dicomPixelDescriptionProblem(const DicomInstance& instance);

}  // namespace mr2ct::detail
