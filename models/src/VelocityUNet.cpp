#include "mr2ct/models/VelocityUNet.h"

#include <cmath>
#include <sstream>

#include <torch/csrc/autograd/custom_function.h>

#include "mr2ct/core/Error.h"
#include "mr2ct/models/ChannelsLastConcat.h"
#include "mr2ct/models/ChannelsLastGroupNorm.h"

namespace mr2ct {

// ---- blocks -------------------------------------------------------------------------------------

namespace {
/// GroupNorm in its parameters' dtype: under CPU bf16 autocast (training) the convolutions return
/// bf16, which LibTorch 1.13's group_norm cannot mix with float32 affine parameters, so the input
/// goes up to float32 (channels-last bf16 activations take the fused kernel in normalized() below
/// instead). A bf16 network's other non-contiguous CPU activations are normalized in float32 and
/// rounded back, because 1.13's CPU group_norm for bf16 channels-last loses accuracy with the number of voxels per group
/// (relative error 0.004 at 16², 0.08 at 32², 0.32 at 64² against float32, while bf16 NCHW stays
/// at 0.004): at 256² slices the sCT would be wrong. tests/test_inference_precision.cpp keeps this.
torch::Tensor normFloat(torch::nn::GroupNorm& norm, const torch::Tensor& x) {
  const auto type = norm->weight.scalar_type();
  if (type == torch::kBFloat16 && x.is_cpu() && x.dim() == 4 && !x.is_contiguous()) {
    const auto& o = norm->options;
    return torch::group_norm(x.to(torch::kFloat), o.num_groups(), norm->weight.to(torch::kFloat),
                             norm->bias.to(torch::kFloat), o.eps())
        .to(torch::kBFloat16);
  }
  return norm(x.scalar_type() != type ? x.to(type) : x);
}

/// SiLU. In bf16 inference as sigmoid(x)·x: LibTorch 1.13's bf16 silu kernel took ~2× as long as
/// its bf16 sigmoid plus an in-place multiply (bench/bf16_profile.md); one extra bf16 rounding.
torch::Tensor siluFast(const torch::Tensor& x) {
  if (x.scalar_type() != torch::kBFloat16 || torch::GradMode::is_enabled()) return torch::silu(x);
  torch::Tensor s = torch::sigmoid(x);
  return s.mul_(x);
}

/// GroupNorm, then SiLU when `silu`. bf16 channels-last activations (a bf16 inference network, or
/// the convolutions' outputs under bf16 autocast in training and its validation) take the fused
/// pass of ChannelsLastGroupNorm.h (statistics in double, one bf16 rounding), with its own backward
/// when a gradient is wanted; everything else (float32, NCHW, 3D) normFloat and siluFast.
torch::Tensor normalized(torch::nn::GroupNorm& norm, const torch::Tensor& x, bool silu) {
  if (groupNormChannelsLastBf16Applies(x) && !x.is_contiguous()) {
    const auto& o = norm->options;
    if (torch::GradMode::is_enabled() && (x.requires_grad() || norm->weight.requires_grad()))
      return groupNormChannelsLastBf16Differentiable(x, o.num_groups(), norm->weight, norm->bias, o.eps(), silu);
    return groupNormChannelsLastBf16(x, o.num_groups(), norm->weight, norm->bias, o.eps(), silu);
  }
  torch::Tensor h = normFloat(norm, x);
  return silu ? siluFast(h) : h;
}

/// Nearest ×2 upsampling of a channels-last [N, C, H, W] tensor: one copy of an expanded NHWC view
/// into a channels-last result; 1.13's upsample_nearest2d on channels-last bf16 was ~30× slower
/// (bench/bf16_profile.md).
torch::Tensor upsampleChannelsLast2x(const torch::Tensor& h) {
  const int64_t b = h.size(0), c = h.size(1), height = h.size(2), width = h.size(3);
  torch::Tensor out = torch::empty({b, c, 2 * height, 2 * width}, h.options().memory_format(torch::MemoryFormat::ChannelsLast));
  out.permute({0, 2, 3, 1}).view({b, height, 2, width, 2, c})
      .copy_(h.permute({0, 2, 3, 1}).unsqueeze(2).unsqueeze(4).expand({b, height, 2, width, 2, c}));
  return out;
}

/// The same with a gradient: each input value's gradient is the sum of its 2×2 copies', i.e. 4 ×
/// avg_pool2d (exact in bf16, a power of two), which has a channels-last kernel; autograd through
/// the expand summed them in ~120 ms per 4×64×256² bf16 call of a training step, the pool in ~4.
struct NearestUpsample2xFunction : public torch::autograd::Function<NearestUpsample2xFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext*, const torch::Tensor& h) {
    return upsampleChannelsLast2x(h);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list grads) {
    const torch::Tensor g = grads[0].contiguous(torch::MemoryFormat::ChannelsLast);
    return {torch::avg_pool2d(g, {2, 2}).mul_(4)};
  }
};

/// Nearest ×2 upsampling; channels-last 2D as above, everything else through interpolate.
torch::Tensor upsampleNearest2x(const torch::Tensor& h, int64_t spatialDims) {
  if (h.dim() == 4 && !h.is_contiguous() && h.is_contiguous(torch::MemoryFormat::ChannelsLast))
    return torch::GradMode::is_enabled() && h.requires_grad() ? NearestUpsample2xFunction::apply(h)
                                                               : upsampleChannelsLast2x(h);
  const std::vector<double> scale(size_t(spatialDims), 2.0);
  return torch::nn::functional::interpolate(
      h, torch::nn::functional::InterpolateFuncOptions().scale_factor(scale).mode(torch::kNearest));
}
}  // namespace

ConvNdImpl::ConvNdImpl(ConvNdOptions o) : options(o) {
  if (o.dims() != 2 && o.dims() != 3) throw UsageError("ConvNd: dims must be 2 or 3");
  std::vector<int64_t> shape{o.out(), o.in()};
  for (int i = 0; i < o.dims(); ++i) shape.push_back(o.kernel());
  weight = register_parameter("weight", torch::empty(shape));
  bias = register_parameter("bias", torch::empty({o.out()}));
  // PyTorch's default: kaiming_uniform_(a = √5) gives U(±1/√fan_in) for weight and bias alike.
  const double fanIn = double(o.in()) * std::pow(double(o.kernel()), o.dims());
  const double bound = 1.0 / std::sqrt(fanIn);
  torch::NoGradGuard noGrad;
  weight.uniform_(-bound, bound);
  bias.uniform_(-bound, bound);
}

torch::Tensor ConvNdImpl::forward(const torch::Tensor& x) {
  const int64_t pad = options.padding() >= 0 ? options.padding() : options.kernel() / 2;
  if (options.dims() == 2) return torch::conv2d(x, weight, bias, {options.stride()}, {pad});
  return torch::conv3d(x, weight, bias, {options.stride()}, {pad});
}

ResBlockImpl::ResBlockImpl(int dims, int64_t in, int64_t out, int64_t timeDim, int64_t groups)
    : norm1(register_module("norm1", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, in).eps(1e-5)))),
      conv1(register_module("conv1", ConvNd(ConvNdOptions(dims, in, out, 3)))),
      timeProjection(register_module("time", torch::nn::Linear(timeDim, out))) {
  norm2 = register_module("norm2", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, out).eps(1e-5)));
  conv2 = register_module("conv2", ConvNd(ConvNdOptions(dims, out, out, 3)));
  if (in != out) skip = register_module("skip", ConvNd(ConvNdOptions(dims, in, out, 1)));
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& tembActivated) {
  torch::Tensor h = conv1(normalized(norm1, x, true));
  // [B, out] → [B, out, 1, 1(, 1)], broadcast over space.
  torch::Tensor tproj = timeProjection(tembActivated);
  std::vector<int64_t> shape{tproj.size(0), tproj.size(1)};
  for (int64_t i = 2; i < h.dim(); ++i) shape.push_back(1);
  h = h + tproj.view(shape);
  h = conv2(normalized(norm2, h, true));
  return (skip ? skip(x) : x) + h;
}

SelfAttentionImpl::SelfAttentionImpl(int dims, int64_t channels, int64_t groups)
    : norm(register_module("norm", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels)))),
      qkv(register_module("qkv", ConvNd(ConvNdOptions(dims, channels, 3 * channels, 1)))),
      projection(register_module("projection", ConvNd(ConvNdOptions(dims, channels, channels, 1)))) {}

torch::Tensor SelfAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), c = x.size(1);
  auto q_k_v = qkv(normalized(norm, x, false)).reshape({b, 3, c, -1}).unbind(1);  // each [B, C, N]
  const torch::Tensor q = q_k_v[0].transpose(1, 2);           // [B, N, C]
  const torch::Tensor attn = torch::softmax(torch::bmm(q, q_k_v[1]) / std::sqrt(double(c)), -1);  // [B, N, N]
  const torch::Tensor out = torch::bmm(q_k_v[2], attn.transpose(1, 2));                         // [B, C, N]
  return x + projection(out.reshape(x.sizes()));
}

torch::Tensor sinusoidalTimeFeatures(const torch::Tensor& t, int64_t n, double maxFrequency) {
  const auto freqs = torch::exp(
      torch::linspace(0.0, std::log(maxFrequency), n / 2, torch::TensorOptions().dtype(t.dtype()).device(t.device())));
  const torch::Tensor arg = t.reshape({-1, 1}) * freqs.reshape({1, -1});  // [B, n/2]
  return torch::cat({torch::sin(arg), torch::cos(arg)}, 1);
}

// ---- options and presets ------------------------------------------------------------------------

int64_t VelocityUNetOptions::sizeMultiple() const { return int64_t(1) << (channels().size() - 1); }

void VelocityUNetOptions::validate() const {
  if (dims() != 2 && dims() != 3) throw UsageError("network.dims must be 2 or 3, got " + std::to_string(dims()));
  if (channels().empty()) throw UsageError("network.channels must not be empty");
  for (auto c : channels())
    if (c <= 0 || c % groups() != 0)
      throw UsageError("network.channels: " + std::to_string(c) + " is not a positive multiple of groups (" +
                       std::to_string(groups()) + ")");
  if (blocksPerLevel() < 1) throw UsageError("network.blocksPerLevel must be >= 1");
  if (condChannels() < 1) throw UsageError("network condition channels must be >= 1");
  if (timeFeatures() < 2 || timeFeatures() % 2) throw UsageError("network.timeFeatures must be even and >= 2");
  if (timeDim() < 1) throw UsageError("network.timeDim must be >= 1");
}

VelocityUNetOptions velocityUNetPreset(const std::string& name) {
  VelocityUNetOptions o;
  if (name == "unet2d-bench") return o;  // defaults = the peer's network exactly
  if (name == "unet2d") return o.attention(true);
  if (name == "unet2d-small") return o.channels({16, 32, 64}).blocksPerLevel(1).attention(true);
  if (name == "unet3d-small") return o.dims(3).channels({8, 16, 32}).blocksPerLevel(1).attention(false);
  std::string known;
  for (const auto& n : velocityUNetPresetNames()) known += (known.empty() ? "" : ", ") + n;
  throw UsageError("unknown network preset '" + name + "' (known: " + known + ")");
}

std::vector<std::string> velocityUNetPresetNames() { return {"unet2d-bench", "unet2d", "unet2d-small", "unet3d-small"}; }

// ---- the network --------------------------------------------------------------------------------

VelocityUNetImpl::VelocityUNetImpl(VelocityUNetOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  o.validate();
  const int d = o.dims();
  const auto& ch = o.channels();
  const int64_t levels = int64_t(ch.size());
  time1_ = register_module("time1", torch::nn::Linear(o.timeFeatures(), o.timeDim()));
  time2_ = register_module("time2", torch::nn::Linear(o.timeDim(), o.timeDim()));
  stem_ = register_module("stem", ConvNd(ConvNdOptions(d, 1 + o.condChannels(), ch[0], 3)));
  int64_t c = ch[0];
  for (int64_t l = 0; l < levels; ++l) {
    encoder_.emplace_back();
    for (int b = 0; b < o.blocksPerLevel(); ++b) {
      encoder_.back().push_back(register_module("enc" + std::to_string(l) + "_" + std::to_string(b),
                                                ResBlock(d, c, ch[l], o.timeDim(), o.groups())));
      c = ch[l];
    }
    if (l + 1 < levels)
      downsample_.push_back(
          register_module("down" + std::to_string(l), ConvNd(ConvNdOptions(d, c, c, 3).stride(2).padding(1))));
  }
  middle1_ = register_module("mid1", ResBlock(d, c, c, o.timeDim(), o.groups()));
  if (o.attention()) attention_ = register_module("attention", SelfAttention(d, c, o.groups()));
  middle2_ = register_module("mid2", ResBlock(d, c, c, o.timeDim(), o.groups()));
  decoder_.resize(levels);
  upsample_.assign(size_t(levels), ConvNd(nullptr));
  for (int64_t l = levels - 1; l >= 0; --l) {
    for (int b = 0; b < o.blocksPerLevel(); ++b) {
      const int64_t in = b == 0 ? c + ch[l] : ch[l];
      decoder_[l].push_back(register_module("dec" + std::to_string(l) + "_" + std::to_string(b),
                                            ResBlock(d, in, ch[l], o.timeDim(), o.groups())));
      c = ch[l];
    }
    if (l > 0) upsample_[l] = register_module("up" + std::to_string(l), ConvNd(ConvNdOptions(d, c, c, 3)));
  }
  headNorm_ = register_module("head_norm", torch::nn::GroupNorm(torch::nn::GroupNormOptions(o.groups(), ch[0])));
  head_ = register_module("head", ConvNd(ConvNdOptions(d, ch[0], 1, 3)));
}

torch::Tensor VelocityUNetImpl::forward(const torch::Tensor& x_t, const torch::Tensor& t, const torch::Tensor& cond) {
  const auto& o = options_;
  const int64_t spatialDims = o.dims();
  TORCH_CHECK(x_t.dim() == 2 + spatialDims && x_t.size(1) == 1, "VelocityUNet: x_t must be [B,1,spatial...] with ",
              spatialDims, " spatial dims, got ", x_t.sizes());
  TORCH_CHECK(cond.dim() == x_t.dim() && cond.size(1) == o.condChannels() && cond.size(0) == x_t.size(0),
              "VelocityUNet: cond must be [B,", o.condChannels(), ",spatial...] like x_t ", x_t.sizes(), ", got ",
              cond.sizes());
  TORCH_CHECK(t.dim() == 1 && t.size(0) == x_t.size(0), "VelocityUNet: t must be [B] with B = ", x_t.size(0),
              ", got ", t.sizes());
  for (int64_t i = 2; i < x_t.dim(); ++i)
    TORCH_CHECK(x_t.size(i) % o.sizeMultiple() == 0 && x_t.size(i) == cond.size(i),
                "VelocityUNet: spatial size ", x_t.sizes(), " must match cond and be a multiple of ",
                o.sizeMultiple());

  // The time MLP keeps the dtype of its weights (float32 after prepareForInference, since
  // sin(1000 t) needs more than bf16's 8-bit mantissa); the rest runs in the stem's weight dtype.
  const auto timeType = time1_->weight.scalar_type();
  const auto computeType = stem_->weight.scalar_type();
  const torch::Tensor temb =
      torch::silu(time2_(torch::silu(time1_(sinusoidalTimeFeatures(t.to(timeType), o.timeFeatures(), o.maxFrequency())))))
          .to(computeType);
  torch::Tensor input = torch::cat({x_t, cond}, 1).to(computeType);
  // After useChannelsLast() the 2D weights are NHWC; feed the activations the same way.
  if (spatialDims == 2 && !stem_->weight.is_contiguous() &&
      stem_->weight.is_contiguous(torch::MemoryFormat::ChannelsLast))
    input = input.contiguous(torch::MemoryFormat::ChannelsLast);
  torch::Tensor h = stem_(input);
  const size_t levels = encoder_.size();
  std::vector<torch::Tensor> skips;
  for (size_t l = 0; l < levels; ++l) {
    for (auto& block : encoder_[l]) h = block(h, temb);
    skips.push_back(h);
    if (l + 1 < levels) h = downsample_[l](h);
  }
  h = middle1_(h, temb);
  if (attention_) h = attention_(h);
  h = middle2_(h, temb);
  for (size_t l = levels; l-- > 0;) {
    h = concatChannelsLastApplies(h, skips[l]) && !h.is_contiguous() ? concatChannelsLast(h, skips[l])
                                                                      : torch::cat({h, skips[l]}, 1);
    for (auto& block : decoder_[l]) h = block(h, temb);
    if (l > 0) {
      h = upsample_[l](upsampleNearest2x(h, spatialDims));
    }
  }
  return head_(normalized(headNorm_, h, true)).to(x_t.scalar_type());
}

void VelocityUNetImpl::prepareForInference(at::ScalarType type, bool channelsLast) {
  torch::NoGradGuard noGrad;
  const auto timeType = time1_->weight.scalar_type();
  for (auto& p : parameters()) p.set_data(p.data().to(type));
  // The time MLP stays in its own dtype (float32): its input holds sinusoids up to 1000 t.
  for (auto& p : time1_->parameters()) p.set_data(p.data().to(timeType));
  for (auto& p : time2_->parameters()) p.set_data(p.data().to(timeType));
  if (channelsLast && options_.dims() == 2) useChannelsLast(true);
}

void VelocityUNetImpl::useChannelsLast(bool on) {
  torch::NoGradGuard noGrad;
  const auto format = on ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  for (auto& p : parameters())
    if (p.dim() == 4) p.set_data(p.data().contiguous(format));
}

int64_t VelocityUNetImpl::parameterCount() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

void VelocityUNetImpl::pretty_print(std::ostream& stream) const {
  stream << "mr2ct::VelocityUNet(dims=" << options_.dims() << ", cond=" << options_.condChannels() << ", channels=[";
  for (size_t i = 0; i < options_.channels().size(); ++i) stream << (i ? "," : "") << options_.channels()[i];
  stream << "], blocks=" << options_.blocksPerLevel() << ", attention=" << options_.attention() << ")";
}

}  // namespace mr2ct
