#pragma once
// Mixed precision for training: bf16 autocast of the network's convolutions and matrix products
// while parameters, optimizer state, GroupNorm and the loss stay float32. On CPUs with
// AVX512-BF16 (oneDNN) this is the one lever that beats the PyTorch reference's fp32 throughput
// (README "Training speed"); its effect on accuracy is measured in README "Quality".

#include <string>

#include <torch/types.h>

namespace mr2ct {

/// "fp32" (default) or "bf16"; UsageError for anything else.
void validatePrecision(const std::string& precision);

/// Whether autocast is on for `device`'s type in this thread.
bool autocastEnabled(const torch::Device& device);

/// Enables bf16 autocast on `device` for its lifetime when precision is "bf16"; restores the
/// previous autocast state (thread-local in ATen) when it ends. fp32: does nothing.
class AutocastGuard {
 public:
  AutocastGuard(const std::string& precision, const torch::Device& device);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  at::DeviceType type_;
  bool active_ = false, wasEnabled_ = false;
  at::ScalarType previousType_ = at::kBFloat16;
};

}  // namespace mr2ct
