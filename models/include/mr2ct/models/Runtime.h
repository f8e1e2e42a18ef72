#pragma once
// Process-wide settings that change LibTorch's speed a lot on these machines (see README).
#include <string>

#include <torch/torch.h>

namespace mr2ct {

/// Sets ATen's intra-op threads (0 = all cores). ATen's own default comes out as 1 on some VMs.
void setTorchThreads(int threads);

/// Makes glibc keep large blocks on the heap instead of mmap'ing (and page-faulting) them afresh
/// on every training step: mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, -1).
void tuneMallocForTensors();

/// Parses "cpu" / "cuda" / "cuda:N"; UsageError when CUDA is requested but not available.
torch::Device parseDevice(const std::string& name);

}  // namespace mr2ct
