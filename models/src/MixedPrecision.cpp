#include "mr2ct/models/MixedPrecision.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "mr2ct/core/Error.h"

namespace mr2ct {

void validatePrecision(const std::string& precision) {
  if (precision != "fp32" && precision != "bf16")
    throw UsageError("training.precision must be fp32 or bf16, not '" + precision + "'");
}

namespace {

// LibTorch 2.4 replaced the per-device functions (is_cpu_enabled, get_autocast_gpu_dtype, ...) by
// ones taking the device type, and later releases drop the old names.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool enabledOn(at::DeviceType type) { return at::autocast::is_autocast_enabled(type); }
void enableOn(at::DeviceType type, bool on) { at::autocast::set_autocast_enabled(type, on); }
at::ScalarType dtypeOn(at::DeviceType type) { return at::autocast::get_autocast_dtype(type); }
void setDtypeOn(at::DeviceType type, at::ScalarType dtype) { at::autocast::set_autocast_dtype(type, dtype); }
#else
bool enabledOn(at::DeviceType type) {
  return type == at::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void enableOn(at::DeviceType type, bool on) {
  type == at::kCUDA ? at::autocast::set_enabled(on) : at::autocast::set_cpu_enabled(on);
}
at::ScalarType dtypeOn(at::DeviceType type) {
  return type == at::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void setDtypeOn(at::DeviceType type, at::ScalarType dtype) {
  type == at::kCUDA ? at::autocast::set_autocast_gpu_dtype(dtype) : at::autocast::set_autocast_cpu_dtype(dtype);
}
#endif

}  // namespace

bool autocastEnabled(const torch::Device& device) { return enabledOn(device.type()); }

AutocastGuard::AutocastGuard(const std::string& precision, const torch::Device& device) : type_(device.type()) {
  validatePrecision(precision);
  if (precision != "bf16") return;
  active_ = true;
  wasEnabled_ = enabledOn(type_);
  previousType_ = dtypeOn(type_);
  setDtypeOn(type_, at::kBFloat16);
  enableOn(type_, true);
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // Autocast caches bf16 copies of the weights for the duration of a forward; they are stale
  // once the optimizer steps.
  at::autocast::clear_cache();
  enableOn(type_, wasEnabled_);
  setDtypeOn(type_, previousType_);
}

}  // namespace mr2ct
