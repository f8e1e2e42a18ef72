#pragma once
// Concatenation along channels of two channels-last [N, C, H, W] CPU tensors, as one interleaving
// copy: per position, a's C_a values then b's C_b values. LibTorch 1.13's cat (and narrow + copy_)
// takes ~10× the memory-bound time on channels-last tensors (200 ms for 4×128×256² bf16, one thread),
// which made the decoder's skip concatenations ~15 % of a bf16 unet2d-bench forward.
#include <torch/torch.h>

namespace mr2ct {

/// Whether concatChannelsLast takes (a, b): CPU, same dtype, 4-D, same N, H, W, both channels-last
/// contiguous, no gradient wanted.
bool concatChannelsLastApplies(const torch::Tensor& a, const torch::Tensor& b);

/// torch::cat({a, b}, 1) as a channels-last tensor; UsageError unless concatChannelsLastApplies.
torch::Tensor concatChannelsLast(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace mr2ct
