#include "mr2ct/models/Runtime.h"

#include <malloc.h>

#include <thread>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"

namespace mr2ct {

void setTorchThreads(int threads) {
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
}

void tuneMallocForTensors() {
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, -1);
}

torch::Device parseDevice(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available()) throw OptionError("{device} " + name + ": CUDA is not available in this build or machine");
    return torch::Device(name);
  }
  throw OptionError("{device}: unknown device '" + name + "' (use cpu or cuda)");
}

}  // namespace mr2ct
