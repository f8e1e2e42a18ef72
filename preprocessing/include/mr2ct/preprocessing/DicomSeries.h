#pragma once
// DICOM study folders as PACS exports write them: any folder tree of files, several series mixed.
// listDicomSeries says what is there (for `mr2ct info DIR`); readVolume / readVolumeInfo on a
// folder read one series through the checks of DicomSeriesReader.cpp.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace mr2ct {

struct DicomSeriesSummary {
  std::string uid;          ///< SeriesInstanceUID
  std::string number;       ///< SeriesNumber as written ("" when absent)
  std::string description;  ///< SeriesDescription
  std::string modality;     ///< Modality (MR, CT, ...)
  std::string sopClass;     ///< "MR Image Storage", "Enhanced MR Image Storage", ... or the UID
  std::size_t files = 0;    ///< DICOM files of the series
  std::size_t images = 0;   ///< slices: frames of the files that hold pixel data
  std::size_t columns = 0, rows = 0;  ///< of the first image (0 when the series has none)
  std::filesystem::path folder;       ///< the folder of the series' first file
  /// Empty when the series reads as one volume; else why it is refused (the readers' message
  /// without the folder and series name: "missing slices: ...").
  std::string problem;
};

/// Every series found in `dir` and its subfolders (symlinked folders are not followed), sorted by
/// SeriesNumber then UID, each checked as readVolume would check it (headers only). Files that are not DICOM are skipped. Throws IoError when `dir` holds no
/// DICOM file at all.
std::vector<DicomSeriesSummary> listDicomSeries(const std::filesystem::path& dir);

/// The image files of the series readVolume(dir) reads with `series` (a SeriesInstanceUID or
/// SeriesNumber, "" = the only one), in slice order: the first lies at the volume's origin. One
/// file for an enhanced multi-frame image. For copying the source's patient/study/frame of
/// reference into derived series. Throws as readVolume does.
std::vector<std::filesystem::path> dicomSeriesFiles(const std::filesystem::path& dir, const std::string& series = "");

}  // namespace mr2ct
