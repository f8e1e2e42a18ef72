#pragma once
// Building blocks of VelocityUNet, dimension-generic (2D slices or 3D patches).
#include <cstdint>

#include <torch/torch.h>

namespace mr2ct {

/// A convolution whose dimensionality (2 or 3) is an option: weight [out, in, k, k(, k)].
/// PyTorch's default initialisation (kaiming_uniform a=√5 → U(±1/√fan_in), bias U(±1/√fan_in)).
struct ConvNdOptions {
  ConvNdOptions(int dims, int64_t in, int64_t out, int64_t kernel) : dims_(dims), in_(in), out_(out), kernel_(kernel) {}
  TORCH_ARG(int, dims);
  TORCH_ARG(int64_t, in);
  TORCH_ARG(int64_t, out);
  TORCH_ARG(int64_t, kernel);
  TORCH_ARG(int64_t, stride) = 1;
  /// -1 = kernel/2 ("same" for odd kernels at stride 1)
  TORCH_ARG(int64_t, padding) = -1;

 public:
};

class ConvNdImpl : public torch::nn::Module {
 public:
  explicit ConvNdImpl(ConvNdOptions options);
  /// x: [B, in, *spatial] → [B, out, *spatial / stride]
  torch::Tensor forward(const torch::Tensor& x);
  ConvNdOptions options;
  torch::Tensor weight, bias;
};
TORCH_MODULE(ConvNd);

/// h = Conv3(SiLU(GN(x))); h += Linear(temb) per channel; h = Conv3(SiLU(GN(h))); return skip(x) + h.
class ResBlockImpl : public torch::nn::Module {
 public:
  ResBlockImpl(int dims, int64_t in, int64_t out, int64_t timeDim, int64_t groups);
  /// x: [B, in, *spatial]; tembActivated = SiLU(temb): [B, timeDim] → [B, out, *spatial]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& tembActivated);

 private:
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  ConvNd conv1{nullptr}, conv2{nullptr}, skip{nullptr};
  torch::nn::Linear timeProjection{nullptr};
};
TORCH_MODULE(ResBlock);

/// Single-head self-attention over all positions, residual: x + Proj(softmax(QᵀK/√c) V) on GN(x).
class SelfAttentionImpl : public torch::nn::Module {
 public:
  SelfAttentionImpl(int dims, int64_t channels, int64_t groups);
  /// x: [B, C, *spatial] → same shape
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::GroupNorm norm{nullptr};
  ConvNd qkv{nullptr}, projection{nullptr};
};
TORCH_MODULE(SelfAttention);

/// Sinusoidal features of t: [sin(f_i t)…, cos(f_i t)…], f_i = exp(linspace(0, ln maxFrequency, n/2)).
/// t: [B] → [B, n]
torch::Tensor sinusoidalTimeFeatures(const torch::Tensor& t, int64_t n, double maxFrequency);

}  // namespace mr2ct
