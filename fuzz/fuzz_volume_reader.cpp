// libFuzzer target: the volume reader on arbitrary bytes. The first byte chooses the file's
// extension (which decides the ITK reader tried first); the rest is the file. readVolumeInfo and
// readVolume must either succeed or throw mr2ct::Error: any other exception, crash, abort, hang or
// allocation beyond -rss_limit_mb/-malloc_limit_mb is a finding.
#include <itkMultiThreaderBase.h>

#include <cstdint>
#include <string>

#include "FuzzSupport.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace {
const char* const kExtensions[] = {".nii", ".nii.gz", ".mha", ".nrrd"};
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(1);  // deterministic, no thread start-up cost
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string ext = kExtensions[data[0] % 4];
  const auto path = mr2ct::fuzz::writeInput("input" + ext, data + 1, size - 1);
  mr2ct::ReadOptions options;
  options.maxVoxels = std::size_t(1) << 22;  // 16 MiB of float voxels: far below -rss_limit_mb
  try {
    mr2ct::readVolumeInfo(path, options);
  } catch (const mr2ct::Error&) {
  }
  try {
    const mr2ct::Volume v = mr2ct::readVolume(path, options);
    if (v.voxelCount() == 0) __builtin_trap();  // a volume without voxels must have been refused
  } catch (const mr2ct::Error&) {
  }
  return 0;
}
