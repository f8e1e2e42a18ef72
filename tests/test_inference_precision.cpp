// models/: bf16 inference (VelocityUNet::prepareForInference) against float32, and the precision
// option's parsing and CPU fallback (InferencePrecision). Tiny networks, fast.
#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "mr2ct/core/Error.h"
#include "mr2ct/models/ChannelsLastConcat.h"
#include "mr2ct/models/ChannelsLastGroupNorm.h"
#include "mr2ct/models/InferencePrecision.h"
#include "mr2ct/models/VelocityUNet.h"

using namespace mr2ct;

namespace {

// Tolerance from bf16's 8-bit significand: unit roundoff u = 2^-8 ≈ 3.9e-3 per rounding. The
// inputs, every weight and every layer's output are rounded once; the deepest path of these tiny
// networks has ≤ 12 rounded layers, so even with errors adding up linearly the relative L2 error
// stays below 12u ≈ 0.047. We allow 0.05 and require a nonzero error (bf16 really ran).
constexpr double kUnitRoundoff = 1.0 / 256.0;
constexpr double kRelativeTolerance = 0.05;

VelocityUNetOptions tiny2d() {
  return VelocityUNetOptions().channels({8, 16}).blocksPerLevel(1).attention(true).timeFeatures(8).timeDim(16);
}
VelocityUNetOptions tiny3d() { return tiny2d().dims(3).attention(false); }

double relativeError(const torch::Tensor& a, const torch::Tensor& reference) {
  return (a.to(torch::kDouble) - reference.to(torch::kDouble)).norm().item<double>() /
         reference.to(torch::kDouble).norm().item<double>();
}

void expectBf16CloseToFp32(const VelocityUNetOptions& options, std::vector<int64_t> spatial, bool channelsLast) {
  torch::manual_seed(0);
  VelocityUNet fp32(options);
  torch::manual_seed(0);
  VelocityUNet bf16(options);  // same seed: identical float32 weights
  fp32->eval();
  bf16->eval();
  bf16->prepareForInference(torch::kBFloat16, channelsLast);
  std::vector<int64_t> shape{3, 1};
  shape.insert(shape.end(), spatial.begin(), spatial.end());
  const auto x = torch::randn(shape);
  const auto cond = torch::randn(shape);
  const auto t = torch::tensor({0.0f, 0.37f, 1.0f});
  torch::NoGradGuard ng;
  const auto reference = fp32->forward(x, t, cond);
  const auto v = bf16->forward(x, t, cond);
  EXPECT_EQ(v.scalar_type(), torch::kFloat);
  EXPECT_EQ(v.sizes(), x.sizes());
  ASSERT_GT(reference.abs().mean().item<double>(), 1e-3);  // a velocity worth comparing
  const double err = relativeError(v, reference);
  EXPECT_LE(err, kRelativeTolerance) << "relative L2 error " << err;
  EXPECT_GT(err, kUnitRoundoff / 64) << "no rounding at all: the network did not run in bf16";
}

}  // namespace

TEST(InferencePrecision, Bf16VelocityIsCloseToFp32In2dChannelsLast) {
  expectBf16CloseToFp32(tiny2d(), {16, 16}, true);
}

// Slices large enough that a group holds thousands of voxels: LibTorch 1.13's bf16 channels-last
// GroupNorm on the CPU drifted there (0.66 relative error at 64²) while 16² stayed within bounds.
TEST(InferencePrecision, Bf16VelocityIsCloseToFp32OnLargerSlices) { expectBf16CloseToFp32(tiny2d(), {64, 64}, true); }

// The fused bf16 channels-last GroupNorm (+ SiLU) against float32 group_norm (+ silu) of the same
// bf16 values: one rounding to bf16 at the end, so each value within one unit roundoff of the
// reference (plus float32's own error, which matters only near zero). A mean far from zero and odd shapes (C = 48 in
// 6 groups, 37×29 positions) check the statistics; a NaN input stays NaN.
TEST(InferencePrecision, FusedChannelsLastGroupNormIsFloat32GroupNormRoundedOnce) {
  torch::manual_seed(3);
  const auto x = (torch::randn({2, 48, 37, 29}) * 3 + 5).to(torch::kBFloat16).contiguous(torch::MemoryFormat::ChannelsLast);
  const auto weight = torch::randn({48}), bias = torch::randn({48});
  ASSERT_TRUE(groupNormChannelsLastBf16Applies(x));
  for (const bool silu : {false, true}) {
    SCOPED_TRACE(silu ? "GroupNorm + SiLU" : "GroupNorm");
    const auto y = groupNormChannelsLastBf16(x, 6, weight, bias, 1e-5, silu);
    EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
    EXPECT_TRUE(y.is_contiguous(torch::MemoryFormat::ChannelsLast));
    auto reference = torch::group_norm(x.to(torch::kFloat), 6, weight, bias, 1e-5);
    if (silu) reference = torch::silu(reference);
    const auto error = (y.to(torch::kFloat) - reference).abs();
    // Near zero, y is the difference of terms of size |x̂ w| + |b| ≲ 10 computed in float32 here
    // and in the reference: each side carries ~2^-24 · 10 · (a few operations) < 1e-5 absolute.
    const auto bound = reference.abs() * kUnitRoundoff + 1e-5;
    EXPECT_TRUE((error <= bound).all().item<bool>()) << "largest error " << error.max().item<double>()
        << ", largest error / (|reference| u) " << (error / (reference.abs() * kUnitRoundoff + 1e-30)).max().item<double>();
    EXPECT_GT(error.max().item<double>(), 0.0) << "bf16 output, so some rounding";
  }
  auto withNan = x.clone();
  withNan[1][7][3][4] = std::numeric_limits<float>::quiet_NaN();
  const auto y = groupNormChannelsLastBf16(withNan, 6, weight, bias, 1e-5, true);
  EXPECT_TRUE(torch::isnan(y[1][7][3][4]).item<bool>());
  EXPECT_FALSE(torch::isnan(y[0]).any().item<bool>()) << "another sample's statistics are untouched";
  EXPECT_FALSE(groupNormChannelsLastBf16Applies(x.contiguous())) << "NCHW is not this kernel's layout";
  EXPECT_THROW(groupNormChannelsLastBf16(x, 5, weight, bias, 1e-5, false), UsageError);
}

// The training form's backward against autograd through float32 group_norm (+ silu) of the same
// bf16 values, which is what bf16 autocast training computed before (then rounded dx to bf16).
// dx is rounded once, so within u of the reference plus float32's cancellation in
// rstd·(w·dz − mean(w·dz) − x̂·mean(w·dz·x̂)), bounded by 1e-5 of the largest term; dw and db are
// float32 sums of 2·37·29·8 products, compared at 1e-4 relative to their largest entry.
TEST(InferencePrecision, FusedChannelsLastGroupNormBackwardIsFloat32Derivative) {
  torch::manual_seed(5);
  const auto cl = torch::MemoryFormat::ChannelsLast;
  const auto x = (torch::randn({2, 48, 37, 29}) * 3 + 5).to(torch::kBFloat16).contiguous(cl);
  const auto dy = torch::randn({2, 48, 37, 29}).to(torch::kBFloat16).contiguous(cl);
  for (const bool silu : {false, true}) {
    SCOPED_TRACE(silu ? "GroupNorm + SiLU" : "GroupNorm");
    const auto weight = torch::randn({48}).requires_grad_(), bias = torch::randn({48}).requires_grad_();
    const auto xb = x.detach().requires_grad_();
    const auto y = groupNormChannelsLastBf16Differentiable(xb, 6, weight, bias, 1e-5, silu);
    EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
    EXPECT_TRUE((y == groupNormChannelsLastBf16(x, 6, weight.detach(), bias.detach(), 1e-5, silu)).all().item<bool>())
        << "the training form's output is the inference kernel's";
    y.backward(dy);

    const auto xf = x.to(torch::kFloat).requires_grad_();
    const auto wf = weight.detach().clone().requires_grad_(), bf = bias.detach().clone().requires_grad_();
    auto reference = torch::group_norm(xf, 6, wf, bf, 1e-5);
    if (silu) reference = torch::silu(reference);
    reference.backward(dy.to(torch::kFloat));

    ASSERT_TRUE(xb.grad().defined());
    EXPECT_EQ(xb.grad().scalar_type(), torch::kBFloat16);
    const auto dx = xb.grad().to(torch::kFloat), dxRef = xf.grad();
    const auto error = (dx - dxRef).abs();
    const auto bound = dxRef.abs() * kUnitRoundoff + 1e-5 * dxRef.abs().max();
    EXPECT_TRUE((error <= bound).all().item<bool>()) << "largest dx error " << error.max().item<double>()
        << " at |dx| max " << dxRef.abs().max().item<double>();
    EXPECT_GT(error.max().item<double>(), 0.0) << "dx is bf16, so some rounding";
    for (const auto& [ours, ref, name] : {std::tuple{weight.grad(), wf.grad(), "weight"}, std::tuple{bias.grad(), bf.grad(), "bias"}}) {
      ASSERT_TRUE(ours.defined()) << name;
      EXPECT_EQ(ours.scalar_type(), torch::kFloat) << name;
      const double err = (ours - ref).abs().max().item<double>(), scale = ref.abs().max().item<double>();
      EXPECT_LE(err, 1e-4 * scale) << name << " gradient off by " << err << " of " << scale;
    }
  }
  EXPECT_THROW(groupNormChannelsLastBf16Differentiable(x.contiguous(), 6, torch::ones({48}), torch::zeros({48}), 1e-5, true),
               UsageError);
}

TEST(InferencePrecision, ChannelsLastConcatEqualsCat) {
  torch::manual_seed(4);
  const auto cl = torch::MemoryFormat::ChannelsLast;
  for (const auto type : {torch::kBFloat16, torch::kFloat}) {
    const auto a = torch::randn({3, 5, 7, 9}).to(type).contiguous(cl);
    const auto b = torch::randn({3, 2, 7, 9}).to(type).contiguous(cl);
    ASSERT_TRUE(concatChannelsLastApplies(a, b));
    const auto y = concatChannelsLast(a, b);
    EXPECT_TRUE(y.is_contiguous(cl));
    EXPECT_TRUE(torch::equal(y, torch::cat({a, b}, 1)));
  }
  const auto a = torch::randn({3, 5, 7, 9}).contiguous(cl);
  EXPECT_FALSE(concatChannelsLastApplies(a, torch::randn({3, 2, 7, 9}))) << "NCHW b";
  EXPECT_FALSE(concatChannelsLastApplies(a, torch::randn({3, 2, 7, 8}).contiguous(cl))) << "other width";
  EXPECT_FALSE(concatChannelsLastApplies(a, torch::randn({3, 2, 7, 9}).to(torch::kBFloat16).contiguous(cl)));
  EXPECT_FALSE(concatChannelsLastApplies(a.clone().requires_grad_(), a)) << "autograd needs torch::cat";
  EXPECT_THROW(concatChannelsLast(a, torch::randn({3, 2, 7, 9})), UsageError);
}

TEST(InferencePrecision, Bf16VelocityIsCloseToFp32In3d) { expectBf16CloseToFp32(tiny3d(), {8, 8, 8}, false); }

TEST(InferencePrecision, WeightsAreCastOnceAndTheTimeMlpStaysFloat32) {
  torch::manual_seed(0);
  VelocityUNet net(tiny2d());
  net->eval();
  net->prepareForInference(torch::kBFloat16, true);
  std::map<std::string, const void*> storage;
  int bf16 = 0, fp32 = 0;
  for (const auto& p : net->named_parameters()) {
    const bool timeMlp = p.key().rfind("time1.", 0) == 0 || p.key().rfind("time2.", 0) == 0;
    EXPECT_EQ(p.value().scalar_type(), timeMlp ? torch::kFloat : torch::kBFloat16) << p.key();
    (timeMlp ? fp32 : bf16) += 1;
    if (p.value().dim() == 4) {
      EXPECT_TRUE(p.value().is_contiguous(torch::MemoryFormat::ChannelsLast)) << p.key();
    }
    storage[p.key()] = p.value().data_ptr();
  }
  EXPECT_EQ(fp32, 4);  // time1/time2 weight and bias
  EXPECT_GT(bf16, 20);
  // Forward calls cast nothing in place and leave the stored weights where they are.
  torch::NoGradGuard ng;
  const auto x = torch::randn({2, 1, 16, 16});
  for (int i = 0; i < 2; ++i) net->forward(x, torch::rand({2}), x);
  for (const auto& p : net->named_parameters()) {
    EXPECT_EQ(p.value().data_ptr(), storage.at(p.key())) << p.key();
    EXPECT_NE(p.value().scalar_type(), torch::kDouble);
  }
}

TEST(InferencePrecision, ParsesAndNamesAndRefusesOthers) {
  EXPECT_EQ(parseInferencePrecision("fp32"), InferencePrecision::Fp32);
  EXPECT_EQ(parseInferencePrecision("bf16"), InferencePrecision::Bf16);
  EXPECT_EQ(inferencePrecisionName(InferencePrecision::Bf16), "bf16");
  EXPECT_EQ(inferenceScalarType(InferencePrecision::Bf16), torch::kBFloat16);
  EXPECT_EQ(parseInferencePrecision("auto"), InferencePrecision::Auto);
  EXPECT_EQ(inferencePrecisionName(InferencePrecision::Auto), "auto");
  EXPECT_THROW(parseInferencePrecision("fp16"), UsageError);
  EXPECT_THROW(parseInferencePrecision("BF16"), UsageError);
}

TEST(InferencePrecision, Bf16FallsBackToFp32OnlyOnACpuWithoutNativeBf16) {
  forceCpuBf16SupportForTesting(false);
  EXPECT_FALSE(cpuHasNativeBf16());
  EXPECT_EQ(effectiveInferencePrecision(InferencePrecision::Bf16, torch::kCPU), InferencePrecision::Fp32);
  EXPECT_EQ(effectiveInferencePrecision(InferencePrecision::Fp32, torch::kCPU), InferencePrecision::Fp32);
  // The ISA check is the CPU's: a CUDA device keeps bf16.
  EXPECT_EQ(effectiveInferencePrecision(InferencePrecision::Bf16, torch::Device("cuda")), InferencePrecision::Bf16);
  forceCpuBf16SupportForTesting(true);
  EXPECT_EQ(effectiveInferencePrecision(InferencePrecision::Bf16, torch::kCPU), InferencePrecision::Bf16);
  forceCpuBf16SupportForTesting(std::nullopt);
  EXPECT_EQ(cpuHasNativeBf16(), detectCpuBf16Support().any());
}

// Auto is bf16 only where it was measured: 2D networks on a CPU with native bf16.
TEST(InferencePrecision, AutoIsBf16For2dOnACpuWithNativeBf16Only) {
  const auto autoOn = [](const torch::Device& d, int dims) {
    return effectiveInferencePrecision(InferencePrecision::Auto, d, dims);
  };
  forceCpuBf16SupportForTesting(true);
  EXPECT_EQ(autoOn(torch::kCPU, 2), InferencePrecision::Bf16);
  EXPECT_EQ(autoOn(torch::kCPU, 3), InferencePrecision::Fp32);
  EXPECT_EQ(autoOn(torch::Device("cuda"), 2), InferencePrecision::Fp32);
  forceCpuBf16SupportForTesting(false);
  EXPECT_EQ(autoOn(torch::kCPU, 2), InferencePrecision::Fp32);
  forceCpuBf16SupportForTesting(std::nullopt);
}

TEST(InferencePrecision, DetectorAgreesWithProcCpuinfo) {
  // An independent source: the kernel's own flags (Linux x86 only; skipped elsewhere).
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  bool found = false, avx512bf16 = false, amx = false;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    found = true;
    avx512bf16 = line.find(" avx512_bf16") != std::string::npos;
    amx = line.find(" amx_bf16") != std::string::npos;
    break;
  }
  if (!found) GTEST_SKIP() << "no /proc/cpuinfo flags line";
  const auto s = detectCpuBf16Support();
  EXPECT_EQ(s.avx512bf16, avx512bf16) << s.describe();
  EXPECT_EQ(s.amxbf16, amx) << s.describe();
}
