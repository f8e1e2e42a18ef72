// libFuzzer target: the DICOM series reader on arbitrary bytes. The input becomes a folder of one
// or two files (first byte odd: two files, split where bytes 1-3 say), read as a series folder:
// listDicomSeries, readVolumeInfo and readVolume must either succeed or throw mr2ct::Error; any
// other exception, crash, abort, hang or allocation beyond -rss_limit_mb/-malloc_limit_mb is a
// finding.
#include <itkMultiThreaderBase.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "FuzzSupport.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/DicomSeries.h"
#include "mr2ct/preprocessing/VolumeIO.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const auto dir = mr2ct::fuzz::ScratchDir::path() / "series";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir);
  const std::uint8_t* body = data + 4;
  const std::size_t n = size - 4;
  if (data[0] & 1) {
    const std::size_t split = std::min<std::size_t>(n, std::size_t(data[1]) | std::size_t(data[2]) << 8 | std::size_t(data[3]) << 16);
    mr2ct::fuzz::writeInput("series/IM0001", body, split);
    mr2ct::fuzz::writeInput("series/IM0002", body + split, n - split);
  } else {
    mr2ct::fuzz::writeInput("series/IM0001", body, n);
  }
  mr2ct::ReadOptions options;
  options.maxVoxels = std::size_t(1) << 22;  // 16 MiB of float voxels: far below -rss_limit_mb
  try {
    mr2ct::listDicomSeries(dir);
  } catch (const mr2ct::Error&) {
  }
  try {
    mr2ct::readVolumeInfo(dir, options);
  } catch (const mr2ct::Error&) {
  }
  try {
    const mr2ct::Volume v = mr2ct::readVolume(dir, options);
    if (v.voxelCount() == 0) __builtin_trap();  // a volume without voxels must have been refused
  } catch (const mr2ct::Error&) {
  }
  return 0;
}
