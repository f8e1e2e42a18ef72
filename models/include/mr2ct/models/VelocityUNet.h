#pragma once
// The velocity network v_θ(x_t, t | MR): a UNet over 2D slices (optionally with neighbouring MR
// slices as extra condition channels, "2.5D") or 3D patches, in LibTorch module style
// (VelocityUNetOptions with TORCH_ARG defaults, VelocityUNetImpl, TORCH_MODULE(VelocityUNet)).
//
// Architecture (the preset "unet2d-bench" is exactly the network of ../shared/peers/README.md):
//   time t ∈ [0,1] → [sin(f_i t), cos(f_i t)], f_i geometric 1…1000 (timeFeatures/2 each)
//        → Linear(timeFeatures, timeDim) → SiLU → Linear(timeDim, timeDim) = temb; blocks get SiLU(temb).
//   input cat(x_t, cond) → Conv3(in → c0)
//   encoder level i (channels c_i): blocksPerLevel ResBlocks (the first changes channels); the skip
//        is the output of the level's last block; between levels a stride-2 Conv3 keeping channels.
//   middle: ResBlock(c_L), [self-attention if `attention`], ResBlock(c_L) at the lowest resolution.
//   decoder level i = L-1…0: h = cat(h, skip_i) → ResBlock(h_ch + c_i → c_i) → (blocksPerLevel-1)
//        ResBlock(c_i); then, except at the top, nearest ×2 upsampling + Conv3(c_i, c_i).
//   head: GroupNorm → SiLU → Conv3(c0 → 1).
//   ResBlock(in, out): h = Conv3(SiLU(GN(x))); h += Linear(temb)[per channel]; h = Conv3(SiLU(GN(h)));
//        out = skip(x) + h, skip = identity or Conv1(in, out).
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mr2ct/models/UNetBlocks.h"

namespace mr2ct {

struct VelocityUNetOptions {
  /// 2 (slices [B,C,H,W]) or 3 (patches [B,C,D,H,W]).
  TORCH_ARG(int, dims) = 2;
  /// Condition channels: the MR, plus 2·neighbours neighbouring MR slices in 2.5D.
  TORCH_ARG(int64_t, condChannels) = 1;
  /// Channels per resolution level, top (full resolution) first; each divisible by `groups`.
  TORCH_ARG(std::vector<int64_t>, channels) = std::vector<int64_t>{32, 64, 128, 256};
  /// Residual blocks per level in the encoder and in the decoder.
  TORCH_ARG(int, blocksPerLevel) = 2;
  /// One single-head self-attention block between the two middle blocks (lowest resolution).
  TORCH_ARG(bool, attention) = false;
  /// GroupNorm groups.
  TORCH_ARG(int64_t, groups) = 8;
  /// Sinusoidal time features (half sin, half cos) and the width of the time embedding.
  TORCH_ARG(int64_t, timeFeatures) = 32;
  TORCH_ARG(int64_t, timeDim) = 128;
  /// Largest sinusoid frequency (frequencies are geometric from 1 to this, no 2π).
  TORCH_ARG(double, maxFrequency) = 1000.0;

 public:
  /// Inputs must be divisible by this in every spatial dimension (2^(levels-1)).
  int64_t sizeMultiple() const;
  /// UsageError naming the option when inconsistent.
  void validate() const;
};

/// Known presets: "unet2d-bench" (the peer's exact network, 10,774,849 parameters),
/// "unet2d" (GPU default: bench + attention), "unet2d-small" (CPU default), "unet3d-small".
/// UsageError for an unknown name. condChannels is left at 1 (the caller sets 2.5D).
VelocityUNetOptions velocityUNetPreset(const std::string& name);
std::vector<std::string> velocityUNetPresetNames();

class VelocityUNetImpl : public torch::nn::Module {
 public:
  explicit VelocityUNetImpl(VelocityUNetOptions options);

  /// x_t: [B,1,H,W] (3D: [B,1,D,H,W]); t: [B] in [0,1]; cond: [B,condChannels,...] same spatial size.
  /// Returns the velocity, shape of x_t. Spatial sizes must be multiples of options.sizeMultiple().
  torch::Tensor forward(const torch::Tensor& x_t, const torch::Tensor& t, const torch::Tensor& cond);

  /// 2D only: stores the convolution weights channels-last (NHWC) so that oneDNN runs without
  /// layout conversions; forward() then feeds NHWC activations. Call before creating an optimizer.
  void useChannelsLast(bool on = true);

  /// Inference only, called once after loading: casts every parameter except the time MLP's
  /// (which stays float32) to `type` (kBFloat16 for bf16 inference) and, for 2D with
  /// `channelsLast`, stores the convolution weights NHWC. forward() then casts its float32 inputs
  /// to `type` once and returns the velocity in x_t's dtype; no per-call weight casts.
  void prepareForInference(at::ScalarType type, bool channelsLast);

  /// Number of trainable scalars.
  int64_t parameterCount() const;

  const VelocityUNetOptions& options() const { return options_; }

  void pretty_print(std::ostream& stream) const override;

 private:
  VelocityUNetOptions options_;
  torch::nn::Linear time1_{nullptr}, time2_{nullptr};
  ConvNd stem_{nullptr};
  std::vector<std::vector<ResBlock>> encoder_, decoder_;  ///< [level][block]
  std::vector<ConvNd> downsample_, upsample_;             ///< between levels
  ResBlock middle1_{nullptr}, middle2_{nullptr};
  SelfAttention attention_{nullptr};
  torch::nn::GroupNorm headNorm_{nullptr};
  ConvNd head_{nullptr};
};
TORCH_MODULE(VelocityUNet);

}  // namespace mr2ct
