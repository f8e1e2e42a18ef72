#pragma once
// GroupNorm (optionally followed by SiLU) of a CPU bfloat16 channels-last [N, C, H, W] tensor in one
// pass over memory: the bf16 inference network's normalizations (VelocityUNet.cpp).
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

}  // namespace mr2ct
