// libFuzzer target: the HDF5 training store reader on arbitrary bytes (written as a .h5 file).
// TrainingStore::open and the slice/patch/volume reads must succeed or throw mr2ct::Error. Reads
// are bounded to small regions so that a header claiming a huge case is not itself the finding.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "FuzzSupport.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/TrainingStore.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = mr2ct::fuzz::writeInput("store.h5", data, size);
  try {
    const auto store = mr2ct::TrainingStore::open(path);
    store.rootAttributes();
    for (const auto& id : store.caseIds()) {
      const auto& g = store.info(id).geometry;
      const std::size_t slice = g.size[0] * g.size[1];
      for (const char* ds : {"mr", "ct", "mask", "valid"}) {
        try {
          if (slice > 0 && slice <= (1u << 20)) {
            std::vector<float> buf(slice);
            store.readSlices(id, ds, 0, 1, buf.data());
          }
          const std::array<std::size_t, 3> origin{0, 0, 0}, extent{2, 2, 1};
          std::vector<float> patch(4);
          store.readPatch(id, ds, origin, extent, patch.data());
          if (slice * g.size[2] <= (1u << 20)) store.readVolume(id, ds);
        } catch (const mr2ct::Error&) {
        }
      }
    }
  } catch (const mr2ct::Error&) {
  }
  return 0;
}
