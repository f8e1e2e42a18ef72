#include "mr2ct/models/MixedPrecision.h"

#include <ATen/autocast_mode.h>

#include "mr2ct/core/Error.h"

namespace mr2ct {

void validatePrecision(const std::string& precision) {
  if (precision != "fp32" && precision != "bf16")
    throw UsageError("training.precision must be fp32 or bf16, not '" + precision + "'");
}

AutocastGuard::AutocastGuard(const std::string& precision, const torch::Device& device) {
  validatePrecision(precision);
  if (precision != "bf16") return;
  active_ = true;
  cuda_ = device.is_cuda();
  if (cuda_) {
    wasEnabled_ = at::autocast::is_enabled();
    previousType_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    wasEnabled_ = at::autocast::is_cpu_enabled();
    previousType_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // Autocast caches bf16 copies of the weights for the duration of a forward; they are stale
  // once the optimizer steps.
  at::autocast::clear_cache();
  if (cuda_) {
    at::autocast::set_enabled(wasEnabled_);
    at::autocast::set_autocast_gpu_dtype(previousType_);
  } else {
    at::autocast::set_cpu_enabled(wasEnabled_);
    at::autocast::set_autocast_cpu_dtype(previousType_);
  }
}

}  // namespace mr2ct
