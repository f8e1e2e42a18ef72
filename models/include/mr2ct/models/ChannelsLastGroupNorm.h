#pragma once
// GroupNorm (optionally followed by SiLU) of a CPU bfloat16 channels-last [N, C, H, W] tensor in one
// pass over memory: the bf16 network's normalizations (VelocityUNet.cpp), in inference and, with its
// own backward, in bf16 autocast training.
//   y[n,c,h,w] = (x − mean[n,g]) / sqrt(var[n,g] + eps) · weight[c] + bias[c],  g = c / (C / groups)
//   silu:       y ← y · sigmoid(y)
// mean and (biased) var over the group's channels and all positions, accumulated in double from the
// bf16 values; the affine map and SiLU in float; one rounding to bf16 at the end. So it is as
// accurate as float32 group_norm + silu rounded once, unlike LibTorch 1.13's bf16 channels-last
// group_norm (error growing with the voxels per group), and it reads the input twice and writes
// once, where normalizing in float32 (two dtype copies), then sigmoid and mul took eight passes.
#include <torch/torch.h>

namespace mr2ct {

/// Whether groupNormChannelsLastBf16 takes `x`: CPU, bf16, 4-D, channels-last contiguous.
bool groupNormChannelsLastBf16Applies(const torch::Tensor& x);

/// `weight` and `bias`: [C], any floating dtype. Returns a bf16 channels-last tensor shaped like x.
/// Throws UsageError when !groupNormChannelsLastBf16Applies(x) or C is not a multiple of groups.
torch::Tensor groupNormChannelsLastBf16(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                                        const torch::Tensor& bias, double eps, bool silu);

/// The same, differentiable in x, weight and bias (a custom autograd function; weight and bias stay
/// in their dtype, float32 master weights in training). Its backward is the derivative of the
/// forward above, computed in float from the saved bf16 input and the statistics in double, and
/// rounded once to bf16 for dx (what autocast's float32 GroupNorm + SiLU returned to the bf16
/// convolution before it), two reads of x and dy and one write of dx where LibTorch 1.13's
/// float32 group_norm and silu backward on channels-last took ~60 % of a bf16 training step
/// (bench/bf16_profile.md). UsageError as above, or for an empty x.
torch::Tensor groupNormChannelsLastBf16Differentiable(const torch::Tensor& x, int64_t groups,
                                                      const torch::Tensor& weight, const torch::Tensor& bias,
                                                      double eps, bool silu);

}  // namespace mr2ct
