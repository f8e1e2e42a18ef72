// libFuzzer target: the manifest parser (pipeline/src/Manifest.cpp, compiled in directly because
// it needs no torch). The first byte chooses .csv or .json; the rest is the manifest, written in a
// scratch folder that also holds a tiny volume "a.nii" so checkManifest has a real file to reach.
// parseManifest must return (problems listed) or throw mr2ct::Error; readManifest and checkManifest
// likewise. Anything else is a finding.
#include <cstdint>
#include <string>

#include "FuzzSupport.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/pipeline/Manifest.h"
#include "mr2ct/preprocessing/VolumeIO.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mr2ct::Geometry g;
  g.size = {3, 2, 2};
  mr2ct::writeVolume(mr2ct::Volume(g), mr2ct::fuzz::ScratchDir::path() / "a.nii");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto path = mr2ct::fuzz::writeInput(data[0] % 2 ? "m.json" : "m.csv", data + 1, size - 1);
  mr2ct::ManifestOptions options;
  options.dataRoot = mr2ct::fuzz::ScratchDir::path();  // for `# data-root:` manifests
  try {
    const auto parsed = mr2ct::parseManifest(path, options);
    for (const auto& c : parsed.manifest.cases)
      if (c.id.empty() || c.mr.empty()) __builtin_trap();  // a kept row always has an id and an MR
  } catch (const mr2ct::Error&) {
  }
  try {
    mr2ct::checkManifest(path, options);
  } catch (const mr2ct::Error&) {
  }
  return 0;
}
