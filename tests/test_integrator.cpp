// VolumeIntegrator with analytic "networks" on tiny volumes: exact results, batch bounds,
// patch blending without seams.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "mr2ct/core/Error.h"
#include "mr2ct/models/VolumeIntegrator.h"

namespace mr2ct {
namespace {

using torch::indexing::Slice;

torch::Tensor randomVolume(int64_t d, int64_t h, int64_t w, uint64_t seed = 3) {
  torch::manual_seed(seed);
  return torch::rand({d, h, w}) * 2 - 1;
}

TEST(Integrator, TileStartsCoverWithAtLeastTheOverlap) {
  for (int64_t length : {1, 5, 16, 17, 40, 63}) {
    for (int64_t window : {4, 8, 16}) {
      const int64_t overlap = window / 4;
      const auto s = tileStarts(length, window, overlap);
      ASSERT_FALSE(s.empty());
      EXPECT_EQ(s.front(), 0);
      if (window < length) {
        EXPECT_EQ(s.back(), length - window);
        for (std::size_t i = 1; i < s.size(); ++i) {
          EXPECT_GT(s[i], s[i - 1]);
          EXPECT_GE(s[i - 1] + window - s[i], overlap) << length << " " << window;
        }
      } else {
        EXPECT_EQ(s.size(), 1u);
      }
    }
  }
}

TEST(Integrator, BlendWindowsArePositiveSymmetricPeakOne) {
  for (auto kind : {BlendWindow::Gaussian, BlendWindow::Hann}) {
    const auto w = blendWindow1d(9, kind);
    EXPECT_GT(w.min().item<float>(), 0.f);
    EXPECT_FLOAT_EQ(w.max().item<float>(), 1.f);
    EXPECT_TRUE(torch::allclose(w, w.flip(0)));
    EXPECT_LT(w[0].item<float>(), w[4].item<float>());
  }
}

// 2.5D, constant velocity from the neighbours: x1 = MR + (MR[z−1] − MR[z+1]) (clamped at the ends),
// exact with one Euler step. H, W not multiples of 8: padded for the "network", cropped after.
TEST(Integrator, SlicesWithNeighbourConditionAreExactAndBounded) {
  const auto mr = randomVolume(7, 10, 13);
  IntegratorOptions o;
  o.dims = 2;
  o.contextSlices = 1;
  o.batchSize = 3;
  o.sizeMultiple = 8;
  o.solver.method = SolverMethod::Euler;
  o.solver.steps = 1;
  int64_t maxBatch = 0;
  bool sizesOk = true;
  VolumeIntegrator integrator(
      [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& cond) {
        maxBatch = std::max(maxBatch, x.size(0));
        sizesOk = sizesOk && x.size(2) % 8 == 0 && x.size(3) % 8 == 0 && cond.size(1) == 3 && t.size(0) == x.size(0);
        return cond.narrow(1, 0, 1) - cond.narrow(1, 2, 1);  // z−1 minus z+1
      },
      o);
  const auto r = integrator.integrate(mr);
  ASSERT_EQ(r.x.size(), 1u);
  const auto prev = torch::cat({mr.narrow(0, 0, 1), mr.narrow(0, 0, 6)});
  const auto next = torch::cat({mr.narrow(0, 1, 6), mr.narrow(0, 6, 1)});
  EXPECT_TRUE(torch::allclose(r.x[0], mr + prev - next, 1e-6, 1e-6));
  EXPECT_EQ(maxBatch, 3);
  EXPECT_TRUE(sizesOk);
  EXPECT_EQ(r.batches, 3);  // ceil(7 / 3)
  EXPECT_EQ(r.nfe[0], 1);
  EXPECT_EQ(r.totalEvaluations, 3);
}

TEST(Integrator, LargeSlicesShrinkTheBatchToTheVoxelBudget) {
  const auto mr = randomVolume(5, 16, 16);
  IntegratorOptions o;
  o.batchSize = 4;
  o.maxBatchVoxels = 2 * 16 * 16;  // two slices per call
  o.solver.method = SolverMethod::Euler;
  o.solver.steps = 1;
  int64_t maxBatch = 0;
  const auto r = VolumeIntegrator(
                     [&](const torch::Tensor& x, const torch::Tensor&, const torch::Tensor& c) {
                       maxBatch = std::max(maxBatch, x.size(0));
                       return c;
                     },
                     o)
                     .integrate(mr);
  EXPECT_EQ(maxBatch, 2);
  EXPECT_EQ(r.batches, 3);
  EXPECT_TRUE(torch::allclose(r.x[0], 2 * mr));
}

// dx/dt = MR − x from x0 = MR stays MR; dx/dt = −x gives MR·e^(−1): checks time handling with RK4.
TEST(Integrator, SlicesFollowTheOdeWithEachSolver) {
  const auto mr = randomVolume(4, 8, 8);
  for (auto m : {SolverMethod::Heun, SolverMethod::Rk4, SolverMethod::Dopri5}) {
    IntegratorOptions o;
    o.solver.method = m;
    o.solver.steps = 16;
    o.solver.rtol = o.solver.atol = 1e-6;
    VolumeIntegrator integrator([](const torch::Tensor& x, const torch::Tensor&, const torch::Tensor&) { return -x; }, o);
    const auto r = integrator.integrate(mr);
    // each fixed step multiplies by the method's stability polynomial R(−h); Dopri5 meets e^(−1)
    const double h = 1.0 / 16;
    double factor = std::exp(-1.0);
    if (m == SolverMethod::Heun) factor = std::pow(1 - h + h * h / 2, 16);
    if (m == SolverMethod::Rk4) factor = std::pow(1 - h + h * h / 2 - h * h * h / 6 + h * h * h * h / 24, 16);
    EXPECT_TRUE(torch::allclose(r.x[0], mr * factor, 1e-5, 1e-5)) << solverMethodName(m);
  }
}

TEST(Integrator, NfeSweepMatchesSeparateSolves) {
  const auto mr = randomVolume(5, 8, 8);
  const ConditionalVelocityFn v = [](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& c) {
    return torch::sin(x) * t.view({-1, 1, 1, 1}) + c;
  };
  IntegratorOptions o;
  o.batchSize = 2;
  const auto sweep = VolumeIntegrator(v, o).integrateSweep(mr, {1, 2, 4});
  ASSERT_EQ(sweep.x.size(), 3u);
  EXPECT_EQ(sweep.totalEvaluations, 3 * (1 + 1 + 3));  // 3 batches of slices
  const int nfes[] = {1, 2, 4};
  for (int i = 0; i < 3; ++i) {
    o.solver.method = SolverMethod::Euler;
    o.solver.steps = nfes[i];
    const auto single = VolumeIntegrator(v, o).integrate(mr);
    EXPECT_TRUE(torch::allclose(sweep.x[std::size_t(i)], single.x[0], 1e-6, 1e-6)) << nfes[i];
    EXPECT_EQ(sweep.nfe[std::size_t(i)], nfes[i]);
  }
}

// A translation-invariant velocity integrated patch-wise (many patches, several batches)
// equals the whole-volume integration: the blended velocity is the same field, so there is no seam.
TEST(Integrator, PatchBlendingLeavesNoSeam) {
  const auto mr = randomVolume(21, 19, 23);
  const ConditionalVelocityFn v = [](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& c) {
    return torch::tanh(c - x) + 0.3 * t.view({-1, 1, 1, 1, 1}) * x;
  };
  IntegratorOptions whole;
  whole.dims = 3;
  whole.patchSize = {24, 24, 24};
  whole.patchOverlap = {4, 4, 4};
  whole.solver.method = SolverMethod::Heun;
  whole.solver.steps = 3;
  const auto reference = VolumeIntegrator(v, whole).integrate(mr);
  EXPECT_EQ(reference.batches, 1);

  for (auto blend : {BlendWindow::Gaussian, BlendWindow::Hann}) {
    IntegratorOptions patches = whole;
    patches.patchSize = {8, 8, 8};
    patches.patchOverlap = {3, 4, 2};
    patches.batchSize = 5;
    patches.blend = blend;
    int64_t maxDepth = 0, maxBatch = 0;
    VolumeIntegrator integrator(
        [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& c) {
          maxDepth = std::max(maxDepth, x.size(2));
          maxBatch = std::max(maxBatch, x.size(0));
          return v(x, t, c);
        },
        patches);
    const auto r = integrator.integrate(mr);
    EXPECT_GT(r.totalEvaluations, 0);
    EXPECT_EQ(maxDepth, 8);
    EXPECT_EQ(maxBatch, 5);
    EXPECT_EQ(r.nfe[0], 6);
    EXPECT_LT((r.x[0] - reference.x[0]).abs().max().item<float>(), 1e-5f);
  }
}

// A velocity that differs between windows (it sees the patch's own mean) makes each window's
// solution differ; blending the velocity at every step keeps the field continuous: the largest jump
// between neighbouring voxels stays at the level of the data's own jumps.
TEST(Integrator, PatchVelocityBlendingIsSmoothAcrossWindowEdges) {
  const auto mr = torch::zeros({16, 16, 16});
  IntegratorOptions o;
  o.dims = 3;
  o.patchSize = {8, 8, 8};
  o.patchOverlap = {4, 4, 4};
  o.solver.method = SolverMethod::Euler;
  o.solver.steps = 4;
  int calls = 0;
  const auto r = VolumeIntegrator(
                     [&](const torch::Tensor& x, const torch::Tensor&, const torch::Tensor&) {
                       // each window gets its own constant velocity: 0, 1, 2, ...
                       auto out = torch::empty_like(x);
                       for (int64_t i = 0; i < x.size(0); ++i) out[i].fill_(double(calls++ % 8));
                       return out;
                     },
                     o)
                     .integrate(mr);
  const auto x = r.x[0];
  const float jump = std::max({(x.narrow(0, 1, 15) - x.narrow(0, 0, 15)).abs().max().item<float>(),
                               (x.narrow(1, 1, 15) - x.narrow(1, 0, 15)).abs().max().item<float>(),
                               (x.narrow(2, 1, 15) - x.narrow(2, 0, 15)).abs().max().item<float>()});
  EXPECT_LT(jump, 3.5f);  // window velocities differ by up to 7: a hard seam would jump by ~7
  EXPECT_TRUE(torch::isfinite(x).all().item<bool>());
}

// The definition, written out plainly: at every Euler step the velocity of the WHOLE volume is
// Σ_tiles w·v_tile / Σ_tiles w, with v_tile seeing its own patch of the current state. A velocity
// that depends on its patch's mean (non-local, like a network's receptive field) makes any
// per-slab or per-window integration differ from this; the integrator must match it anyway.
TEST(Integrator, PatchIntegrationFollowsTheBlendedWholeVolumeField) {
  const auto mr = randomVolume(20, 9, 11);
  const ConditionalVelocityFn v = [](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& c) {
    const auto mean = x.mean({2, 3, 4}, /*keepdim=*/true);
    return torch::sin(3 * c) - 0.5 * x + mean * (1 + t.view({-1, 1, 1, 1, 1}));
  };
  IntegratorOptions o;
  o.dims = 3;
  o.patchSize = {8, 8, 8};
  o.patchOverlap = {4, 2, 3};
  o.batchSize = 3;
  o.blend = BlendWindow::Hann;
  o.solver.method = SolverMethod::Euler;
  o.solver.steps = 3;
  const auto r = VolumeIntegrator(v, o).integrate(mr);

  // Oracle: the same tiles (no padding: every side is at least the patch size).
  const int64_t D = 20, H = 9, W = 11;
  const auto zs = tileStarts(D, 8, 4), ys = tileStarts(H, 8, 2), xs = tileStarts(W, 8, 3);
  const auto w = blendWindow1d(8, BlendWindow::Hann);
  const auto pw = w.view({8, 1, 1}) * w.view({1, 8, 1}) * w.view({1, 1, 8});
  torch::Tensor x = mr.clone();
  for (int k = 0; k < 3; ++k) {
    const double t = k / 3.0;
    torch::Tensor num = torch::zeros_like(x), den = torch::zeros_like(x);
    for (int64_t z : zs)
      for (int64_t y : ys)
        for (int64_t xx : xs) {
          auto patch = [&](const torch::Tensor& a) { return a.narrow(0, z, 8).narrow(1, y, 8).narrow(2, xx, 8); };
          const auto vel = v(patch(x).reshape({1, 1, 8, 8, 8}), torch::full({1}, t), patch(mr).reshape({1, 1, 8, 8, 8}));
          patch(num).add_(vel.reshape({8, 8, 8}) * pw);
          patch(den).add_(pw);
        }
    x = x + (num / den) / 3.0;
  }
  EXPECT_EQ(r.nfe[0], 3);
  EXPECT_LT((r.x[0] - x).abs().max().item<float>(), 1e-5f);
}

// Noise source: v = cond (ignores x), one Euler step, so x1 − MR is exactly the starting noise.
// It must be N(0, I), fixed by the seed, and the same whatever the batch size (2D) or tiling (3D).
TEST(Integrator, NoiseSourceStartsFromSeededStandardNoise) {
  const auto mr = randomVolume(12, 20, 24);
  const ConditionalVelocityFn v = [](const torch::Tensor&, const torch::Tensor&, const torch::Tensor& c) {
    return c.narrow(1, 0, 1);
  };
  auto run = [&](int dims, int batch, std::uint64_t seed) {
    IntegratorOptions o;
    o.dims = dims;
    o.batchSize = batch;
    o.sizeMultiple = 8;  // 2D: 20×24 padded to 24×24, so the drawn noise is larger than the slice
    o.patchSize = {8, 16, 16};
    o.patchOverlap = {2, 4, 4};
    o.solver.method = SolverMethod::Euler;
    o.solver.steps = 1;
    o.source = "noise";
    o.noiseSeed = seed;
    return VolumeIntegrator(v, o).integrate(mr).x[0] - mr;
  };
  for (int dims : {2, 3}) {
    const auto a = run(dims, 2, 7), b = run(dims, 5, 7), c = run(dims, 2, 8);
    EXPECT_TRUE(torch::equal(a, b)) << dims << "D: the noise must not depend on the batch size";
    EXPECT_GT((a - c).abs().mean().item<float>(), 0.5f) << dims << "D: another seed, other noise";
    EXPECT_NEAR(a.mean().item<float>(), 0.0f, 0.05f);
    EXPECT_NEAR(a.std().item<float>(), 1.0f, 0.05f);
  }
  IntegratorOptions bad;
  bad.source = "uniform";
  EXPECT_THROW(bad.validate(), UsageError);
}

TEST(Integrator, BadOptionsAreUsageErrors) {
  IntegratorOptions o;
  o.batchSize = 0;
  EXPECT_THROW(o.validate(), UsageError);
  o = IntegratorOptions{};
  o.dims = 3;
  o.sizeMultiple = 8;
  o.patchSize = {12, 16, 16};
  EXPECT_THROW(o.validate(), UsageError);
  o.patchSize = {16, 16, 16};
  o.patchOverlap = {16, 0, 0};
  EXPECT_THROW(o.validate(), UsageError);
  EXPECT_THROW(parseBlendWindow("box"), UsageError);
}

}  // namespace
}  // namespace mr2ct
