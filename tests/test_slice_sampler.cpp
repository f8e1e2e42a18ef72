// models/SliceSampler: training batches (a pure function of seed and step) and the prefetch loader.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "mr2ct/models/IntensityAugmentation.h"
#include "mr2ct/models/SliceSampler.h"
#include "support/ModelFixtures.h"

using namespace mr2ct;
using mr2ct::test::phantomSource;
constexpr auto tinyConfig = mr2ct::test::tinyTrainingConfig;

namespace {

// The phantom's ellipse covers about half of each 40×36 slice, so of a 32² crop more still; 0.3
// leaves room for crops placed off the body's centre.
constexpr double kMinBodyFraction = 0.3;

}  // namespace

TEST(Sampler, BatchesArePureFunctionsOfSeedAndStepAndMostlyInTheBody) {
  const auto src = phantomSource(2, 1);
  ModelConfig c = tinyConfig();
  c.network.neighbours = 1;
  c.flow.source = "noise";
  c.flow.sigma = 0.1;
  c.training.batch = 16;
  const BatchSampler s(src, c);
  const TrainingBatch a = s.batch(7), b = s.batch(7), other = s.batch(8);
  EXPECT_EQ(a.cond.sizes(), (std::vector<int64_t>{16, 3, 32, 32}));
  EXPECT_EQ(a.ct.sizes(), (std::vector<int64_t>{16, 1, 32, 32}));
  EXPECT_EQ(a.noise.sizes(), a.ct.sizes());
  EXPECT_EQ(a.eps.sizes(), a.ct.sizes());
  for (auto [x, y] : {std::pair{a.cond, b.cond}, {a.ct, b.ct}, {a.t, b.t}, {a.noise, b.noise}, {a.eps, b.eps}})
    EXPECT_TRUE(torch::equal(x, y));
  EXPECT_FALSE(torch::equal(a.t, other.t));
  EXPECT_GT(a.body.sum().item<double>(), kMinBodyFraction * double(a.body.numel()));
  // Padding: the phantom slice is 40×36, so no invalid column appears... except the first 2 rows.
  EXPECT_LT(a.valid.sum().item<double>(), double(a.valid.numel()));
  // Neighbouring MR slices differ from the centre one.
  EXPECT_FALSE(torch::equal(a.cond.select(1, 0), a.cond.select(1, 1)));
  // 3D patches.
  ModelConfig c3;
  c3.network = NetworkConfig::fromPreset("unet3d-small");
  c3.network.patchSize = {4, 16, 16};
  c3.training.batch = 2;
  const TrainingBatch p = BatchSampler(src, c3).batch(0);
  EXPECT_EQ(p.cond.sizes(), (std::vector<int64_t>{2, 1, 4, 16, 16}));
}

TEST(Sampler, PrefetchLoaderDeliversStepsInOrder) {
  const auto src = phantomSource(1, 0);
  const ModelConfig c = tinyConfig();
  const BatchSampler s(src, c);
  PrefetchLoader loader(s, 3, 9, 2);
  for (int64_t step = 3; step < 9; ++step) {
    const TrainingBatch b = loader.next();
    EXPECT_EQ(b.step, step);
    EXPECT_TRUE(torch::equal(b.cond, s.batch(step).cond));
  }
  EXPECT_GE(loader.waitSeconds(), 0.0);
}

TEST(IntensityAugmentation, ContrastCurveIsMonotoneFixesTheEndsAndMovesTheInside) {
  SplitMix64 rng(3);
  EXPECT_EQ(ContrastCurve::draw(rng, 0.0)(0.3f), 0.3f);
  double largestMove = 0.0;
  for (int draw = 0; draw < 200; ++draw) {
    const ContrastCurve f = ContrastCurve::draw(rng, 0.99);
    EXPECT_EQ(f(-1.0f), -1.0f);
    EXPECT_EQ(f(1.0f), 1.0f);
    EXPECT_EQ(f(-1.7f), -1.7f);  // below the floor and above p99.5: unchanged
    EXPECT_EQ(f(1.4f), 1.4f);
    float previous = f(-1.0f);
    for (int i = 1; i <= 400; ++i) {
      const float x = -1.0f + 2.0f * float(i) / 400.0f, y = f(x);
      EXPECT_GT(y, previous) << "draw " << draw << " x " << x;
      previous = y;
      largestMove = std::max(largestMove, double(std::abs(y - x)));
    }
  }
  // Inner points move by at most strength × half their spacing (0.2).
  EXPECT_GT(largestMove, 0.15);
  EXPECT_LE(largestMove, 0.99 * 0.2 + 1e-6);
}

TEST(IntensityAugmentation, GammaCurveRaisesThePositionToOnePowerPerDrawAndFixesTheEnds) {
  SplitMix64 rng(11);
  EXPECT_EQ(GammaCurve::draw(rng, 0.0)(0.3f), 0.3f);
  EXPECT_EQ(GammaCurve::draw(rng, 0.0).gamma(), 1.0f);
  const double strength = 0.5;
  double smallest = 10.0, largest = 0.0;
  for (int draw = 0; draw < 300; ++draw) {
    const GammaCurve f = GammaCurve::draw(rng, strength);
    const double g = f.gamma();
    smallest = std::min(smallest, g);
    largest = std::max(largest, g);
    EXPECT_EQ(f(-1.0f), -1.0f);
    EXPECT_EQ(f(1.0f), 1.0f);
    EXPECT_EQ(f(-1.3f), -1.3f);
    EXPECT_EQ(f(1.2f), 1.2f);
    // The median of a [0, 1] position 0.5 goes to 0.5^gamma: written out, not through the class.
    EXPECT_NEAR(f(0.0f), 2.0 * std::pow(0.5, g) - 1.0, 1e-6);
    EXPECT_NEAR(f(0.6f), 2.0 * std::pow(0.8, g) - 1.0, 1e-6);
    float previous = -1.0f;
    for (int i = 1; i <= 200; ++i) {
      const float y = f(-1.0f + 2.0f * float(i) / 200.0f);
      EXPECT_GE(y, previous);
      previous = y;
    }
    std::vector<float> v{-1.0f, -0.5f, 0.25f, 0.9f};
    f.apply(v.data(), int64_t(v.size()));
    EXPECT_EQ(v[0], -1.0f);
    EXPECT_FLOAT_EQ(v[2], f(0.25f));
  }
  EXPECT_GE(smallest, std::exp(-strength) - 1e-6);
  EXPECT_LE(largest, std::exp(strength) + 1e-6);
  EXPECT_LT(smallest, std::exp(-0.8 * strength)) << "darker and brighter draws both occur";
  EXPECT_GT(largest, std::exp(0.8 * strength));
}

TEST(IntensityAugmentation, BiasFieldScalesTheSignalAboveTheFloorSmoothlyAndAlikeInEveryPlane) {
  SplitMix64 rng(5);
  const int64_t planes = 3, H = 9, W = 7;
  std::vector<float> x(size_t(planes * H * W));
  for (size_t i = 0; i < x.size(); ++i) x[i] = -1.0f + 0.01f * float(i % 150);
  std::vector<float> y = x;
  BiasField::draw(rng, 0.0).apply(y.data(), planes, H, W);
  EXPECT_EQ(y, x);
  const double strength = 0.2;
  BiasField::draw(rng, strength).apply(y.data(), planes, H, W);
  std::vector<double> gain(size_t(H * W), 0.0);
  double lowest = 1e9, highest = 0;
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t k = 0; k < H * W; ++k) {
      const size_t i = size_t(p * H * W + k);
      if (x[i] == -1.0f) {
        EXPECT_EQ(y[i], -1.0f);  // no signal stays no signal
        continue;
      }
      const double g = (double(y[i]) + 1.0) / (double(x[i]) + 1.0);
      if (gain[size_t(k)] == 0.0) gain[size_t(k)] = g;
      EXPECT_NEAR(g, gain[size_t(k)], 1e-4) << "plane " << p << " pixel " << k;
      lowest = std::min(lowest, g);
      highest = std::max(highest, g);
    }
  // |log field| ≤ strength·(|u| + |v| + |uv| + u² + v²) ≤ 5·strength, and it is not constant.
  EXPECT_GE(lowest, std::exp(-5 * strength) - 1e-6);
  EXPECT_LE(highest, std::exp(5 * strength) + 1e-6);
  EXPECT_GT(highest / lowest, 1.01);
}

TEST(IntensityAugmentation, SurfaceDepthCountsVoxelsInFromTheBackgroundNotFromTheWindowEdge) {
  // A body filling columns 3.. of a 6×12 window: its only surface is the left one.
  const int64_t H = 6, W = 12;
  std::vector<float> body(size_t(H * W), 0.0f);
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 3; x < W; ++x) body[size_t(y * W + x)] = 1.0f;
  const std::vector<float> d = SurfaceGain::depth(body.data(), H, W);
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      EXPECT_FLOAT_EQ(d[size_t(y * W + x)], x < 3 ? 0.0f : float(x - 2)) << y << "," << x;
  const std::vector<float> all(size_t(H * W), 1.0f);
  for (float v : SurfaceGain::depth(all.data(), H, W)) EXPECT_TRUE(std::isinf(v));
}

TEST(IntensityAugmentation, SurfaceGainScalesOnlyTheBodysOuterShellAboveTheFloor) {
  // A disc of radius 12 in a 32² window; the MR is a ramp so every pixel's gain can be read.
  const int64_t H = 32, W = 32, planes = 2;
  std::vector<float> body(size_t(H * W)), x(size_t(planes * H * W));
  for (int64_t y = 0; y < H; ++y)
    for (int64_t c = 0; c < W; ++c)
      body[size_t(y * W + c)] = std::hypot(double(y) - 15.5, double(c) - 15.5) < 12 ? 1.0f : 0.0f;
  for (size_t i = 0; i < x.size(); ++i) x[i] = -0.9f + 0.0015f * float(i % 1000);
  SplitMix64 rng(11);
  std::vector<float> y = x;
  SurfaceGain::draw(rng, 0.0).apply(y.data(), planes, body.data(), H, W);
  EXPECT_EQ(y, x);
  const std::vector<float> depth = SurfaceGain::depth(body.data(), H, W);
  const double strength = 0.3;
  bool sawBrighter = false, sawDarker = false;
  for (int draw = 0; draw < 40; ++draw) {
    std::copy(x.begin(), x.end(), y.begin());
    SurfaceGain::draw(rng, strength).apply(y.data(), planes, body.data(), H, W);
    double shellGain = 0.0;
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t k = 0; k < H * W; ++k) {
        const size_t i = size_t(p * H * W + k);
        const double g = (double(y[i]) + 1.0) / (double(x[i]) + 1.0), dk = depth[size_t(k)];
        if (dk == 0.0 || dk > 5.0) {
          // gain 1: only the rounding of (x + 1)·1 − 1 (|x| < 1, so below 2^-23)
          EXPECT_NEAR(y[i], x[i], 2e-7) << "outside the body or deeper than 4 + 1 voxels: " << k;
        } else if (dk <= 1.0) {  // the surface voxels always carry the full gain
          if (shellGain == 0.0) shellGain = g;
          EXPECT_NEAR(g, shellGain, 1e-4);
        } else {
          EXPECT_LE(std::abs(g - 1.0), std::abs(shellGain - 1.0) + 1e-4) << "the gain fades inwards";
        }
      }
    EXPECT_LE(std::abs(shellGain - 1.0), strength + 1e-6);
    sawBrighter |= shellGain > 1.05;
    sawDarker |= shellGain < 0.95;
  }
  EXPECT_TRUE(sawBrighter && sawDarker);
}

TEST(Sampler, AppearanceAugmentationMapsEachMrMonotonicallyAndSplitsAcrossProcessesLikeTheWholeBatch) {
  const auto src = phantomSource(2, 1);
  ModelConfig plain = tinyConfig();
  plain.training.batch = 4;
  plain.training.intensityJitter = 0.0;
  plain.training.contrastAugmentation = 0.0;
  plain.training.surfaceGainAugmentation = 0.0;  // on by default; off here so the curve is alone
  ModelConfig aug = plain, toned = plain;
  aug.training.contrastAugmentation = 0.8;
  toned.training.gammaAugmentation = 0.5;
  const TrainingBatch a = BatchSampler(src, plain).batch(3);
  for (const ModelConfig& curved : {aug, toned}) {
    const TrainingBatch b = BatchSampler(src, curved).batch(3);
    EXPECT_TRUE(torch::equal(a.ct, b.ct));  // the windows are drawn first: same places
    EXPECT_FALSE(torch::equal(a.cond, b.cond));
    for (int64_t i = 0; i < 4; ++i) {
      // One monotone curve per sample: the augmented MR sorts like the original.
      const torch::Tensor order = std::get<1>(a.cond[i].flatten().sort(/*stable=*/true, 0, false));
      const torch::Tensor mapped = b.cond[i].flatten().index_select(0, order);
      EXPECT_TRUE((mapped.slice(0, 1) >= mapped.slice(0, 0, -1)).all().item<bool>()) << "sample " << i;
    }
  }
  // The gamma is one power per sample: log((y + 1)/2) / log((x + 1)/2) is the same for every voxel.
  const TrainingBatch g = BatchSampler(src, toned).batch(3);
  for (int64_t i = 0; i < 4; ++i) {
    const torch::Tensor x = (a.cond[i].flatten() + 1) / 2, y = (g.cond[i].flatten() + 1) / 2;
    const torch::Tensor inner = (x > 0.05) & (x < 0.95);
    ASSERT_GT(inner.sum().item<int64_t>(), 10);
    const torch::Tensor ratio = y.index({inner}).log() / x.index({inner}).log();
    EXPECT_LT((ratio.max() - ratio.min()).item<double>(), 1e-3) << "sample " << i;
    EXPECT_LE(std::abs(std::log(ratio.mean().item<double>())), 0.5 + 1e-4);
  }
  // The surface gain changes only the body, and not all of it.
  ModelConfig surface = plain;
  surface.training.surfaceGainAugmentation = 0.5;
  const TrainingBatch c = BatchSampler(src, surface).batch(3);
  EXPECT_TRUE(torch::equal(a.body, c.body));
  const torch::Tensor changed = (c.cond - a.cond).abs() > 1e-6;
  EXPECT_TRUE(changed.any().item<bool>());
  EXPECT_FALSE((changed & (a.body < 0.5)).any().item<bool>()) << "background changed";
  EXPECT_TRUE((~changed & (a.body > 0.5)).any().item<bool>()) << "the whole body changed";
  // 2.5D: the neighbour slices share the centre slice's shell, so each voxel's gain on MR + 1 is
  // the same in every channel.
  ModelConfig plain3 = plain, surface3 = surface;
  plain3.network.neighbours = surface3.network.neighbours = 1;
  const TrainingBatch a3 = BatchSampler(src, plain3).batch(3), c3 = BatchSampler(src, surface3).batch(3);
  ASSERT_EQ(c3.cond.size(1), 3);
  const torch::Tensor lit = ((a3.cond + 1).abs() > 1e-3).all(1, true);
  const torch::Tensor ratio = torch::where(lit, (c3.cond + 1) / (a3.cond + 1), torch::ones_like(c3.cond));
  EXPECT_GT((ratio - 1).abs().max().item<double>(), 0.05) << "no gain in 2.5D";
  EXPECT_LT((ratio - ratio.select(1, 1).unsqueeze(1)).abs().max().item<double>(), 1e-4);
  aug.training.biasFieldAugmentation = 0.3;
  aug.training.gammaAugmentation = 0.5;
  aug.training.surfaceGainAugmentation = 0.2;
  aug.training.intensityJitter = 0.1;
  const TrainingBatch whole = BatchSampler(src, aug).batch(5);
  const TrainingBatch first = BatchSampler(src, aug, "train", {0, 2}).batch(5);
  const TrainingBatch second = BatchSampler(src, aug, "train", {1, 2}).batch(5);
  EXPECT_TRUE(torch::equal(torch::cat({first.cond, second.cond}), whole.cond));
  EXPECT_TRUE(torch::equal(torch::cat({first.t, second.t}), whole.t));
}
