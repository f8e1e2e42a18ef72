// models/VelocityUNet: presets, output shapes, channels-last memory format, gradients (tiny sizes).
#include <gtest/gtest.h>

#include <iostream>
#include <vector>

#include "mr2ct/core/Error.h"
#include "mr2ct/models/MixedPrecision.h"
#include "mr2ct/models/VelocityUNet.h"
#include "support/SeededTest.h"

using namespace mr2ct;
using mr2ct::test::Seeded;

namespace {

// torch::allclose(a, b, rtol, atol) for the same network in two memory formats: the convolutions'
// sums run in another order (float32), a few ulps of each activation, compounded over the layers.
constexpr double kChannelsLastRtol = 1e-4;
constexpr double kChannelsLastAtol = 1e-5;

int64_t countParameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace

TEST_F(Seeded, BenchPresetHasThePeersExactParameterCount) {
  VelocityUNet net(velocityUNetPreset("unet2d-bench"));
  EXPECT_EQ(net->parameterCount(), 10774849);
  EXPECT_EQ(countParameters(*net), 10774849);
  // Every preset builds; attention adds parameters.
  EXPECT_GT(VelocityUNet(velocityUNetPreset("unet2d"))->parameterCount(), 10774849);
  EXPECT_THROW(velocityUNetPreset("unet9d"), UsageError);
}

TEST_F(Seeded, ShapesPerPreset) {
  torch::NoGradGuard g;
  {
    VelocityUNet net(velocityUNetPreset("unet2d-bench"));
    auto v = net(torch::randn({2, 1, 16, 24}), torch::rand({2}), torch::randn({2, 1, 16, 24}));
    EXPECT_EQ(v.sizes(), (std::vector<int64_t>{2, 1, 16, 24}));
  }
  {
    VelocityUNet net(velocityUNetPreset("unet2d-small").condChannels(5));  // 2.5D, 2 neighbours
    auto v = net(torch::randn({3, 1, 8, 12}), torch::rand({3}), torch::randn({3, 5, 8, 12}));
    EXPECT_EQ(v.sizes(), (std::vector<int64_t>{3, 1, 8, 12}));
    EXPECT_THROW(net(torch::randn({3, 1, 8, 12}), torch::rand({3}), torch::randn({3, 1, 8, 12})), c10::Error);
    EXPECT_THROW(net(torch::randn({3, 1, 6, 12}), torch::rand({3}), torch::randn({3, 5, 6, 12})), c10::Error);
  }
  {
    VelocityUNet net(velocityUNetPreset("unet3d-small"));
    auto v = net(torch::randn({1, 1, 8, 12, 16}), torch::rand({1}), torch::randn({1, 1, 8, 12, 16}));
    EXPECT_EQ(v.sizes(), (std::vector<int64_t>{1, 1, 8, 12, 16}));
  }
}

TEST_F(Seeded, ChannelsLastGivesTheSameVelocity) {
  torch::NoGradGuard g;
  VelocityUNet net(velocityUNetPreset("unet2d-small"));
  const auto x = torch::randn({2, 1, 16, 16}), t = torch::rand({2}), c = torch::randn({2, 1, 16, 16});
  const auto a = net(x, t, c);
  net->useChannelsLast();
  const auto b = net(x, t, c);
  EXPECT_TRUE(torch::allclose(a, b.contiguous(), kChannelsLastRtol, kChannelsLastAtol));
}

TEST_F(Seeded, GradientsReachEveryParameter) {
  for (const char* preset : {"unet2d-small", "unet3d-small"}) {
    auto o = velocityUNetPreset(preset);
    if (o.dims() == 2) o.condChannels(3);
    VelocityUNet net(o);
    const std::vector<int64_t> shape =
        o.dims() == 2 ? std::vector<int64_t>{2, 1, 8, 8} : std::vector<int64_t>{1, 1, 4, 8, 8};
    auto condShape = shape;
    condShape[1] = o.condChannels();
    auto v = net(torch::randn(shape), torch::rand({shape[0]}), torch::randn(condShape));
    (v * torch::randn_like(v)).sum().backward();
    for (const auto& p : net->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << preset << " " << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << preset << " " << p.key();
    }
  }
}

namespace {

/// Every parameter's gradient of sum(v · w) for one forward of `net`, flattened into one vector.
torch::Tensor parameterGradients(VelocityUNet& net, const torch::Tensor& x, const torch::Tensor& t,
                                 const torch::Tensor& c, const torch::Tensor& w) {
  net->zero_grad();
  (net(x, t, c).to(torch::kFloat) * w).sum().backward();
  std::vector<torch::Tensor> grads;
  for (const auto& p : net->parameters()) grads.push_back(p.grad().detach().to(torch::kFloat).contiguous().view(-1));
  return torch::cat(grads);
}

}  // namespace

// Channels-last training has its own upsampling backward (a 2×2 pool of the gradient); float32,
// so the two layouts agree up to the convolutions' summation order.
TEST_F(Seeded, ChannelsLastGivesTheSameGradients) {
  VelocityUNet net(velocityUNetPreset("unet2d-small"));
  const auto x = torch::randn({2, 1, 16, 16}), t = torch::rand({2}), c = torch::randn({2, 1, 16, 16});
  const auto w = torch::randn({2, 1, 16, 16});
  const auto a = parameterGradients(net, x, t, c, w);
  net->useChannelsLast();
  const auto b = parameterGradients(net, x, t, c, w);
  EXPECT_TRUE(torch::allclose(a, b, kChannelsLastRtol, kChannelsLastAtol * a.abs().max().item<double>()))
      << "largest difference " << (a - b).abs().max().item<double>();
}

// bf16 autocast training in channels-last (the fused GroupNorm + SiLU with its own backward, the
// pooled upsampling gradient) against float32 NCHW autograd of the same weights. Each activation
// and each backward product is rounded to bf16 (u = 2^-8) once per layer; over the ~15 layers of
// unet2d-small the relative L2 error of the whole gradient stays well below 15u ≈ 0.06: we allow
// 0.06 and require > u/16 (bf16 really ran). The autocast NCHW path (float32 GroupNorm) is held to
// the same bound, so the fused path is no worse than what it replaced.
TEST_F(Seeded, Bf16ChannelsLastTrainingGradientsAreCloseToFloat32) {
  VelocityUNet net(velocityUNetPreset("unet2d-small"));
  const auto x = torch::randn({2, 1, 32, 32}), t = torch::rand({2}), c = torch::randn({2, 1, 32, 32});
  const auto w = torch::randn({2, 1, 32, 32});
  const auto reference = parameterGradients(net, x, t, c, w);
  const auto relative = [&](const torch::Tensor& g) {
    return ((g - reference).norm() / reference.norm()).item<double>();
  };
  double nchw = 0, channelsLast = 0;
  {
    const AutocastGuard autocast("bf16", torch::kCPU);
    nchw = relative(parameterGradients(net, x, t, c, w));
    net->useChannelsLast();
    channelsLast = relative(parameterGradients(net, x, t, c, w));
  }
  EXPECT_LE(nchw, 0.06);
  EXPECT_LE(channelsLast, 0.06);
  EXPECT_GT(channelsLast, 1.0 / 256 / 16) << "no rounding: autocast did not run in bf16";
  std::cout << "relative gradient error: autocast NCHW " << nchw << ", autocast channels-last " << channelsLast << "\n";
}
