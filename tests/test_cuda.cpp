// The CUDA paths: training (fp32 and bf16 autocast), whole-volume integration and bf16 inference on
// a GPU agree with the CPU, and a NCCL process group reduces. Every test skips without a GPU (CI);
// bench/gpu-check.sh builds and runs them on a machine that has one.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>

#include "mr2ct/models/MixedPrecision.h"
#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/models/Trainer.h"
#include "mr2ct/models/VelocityUNet.h"
#include "mr2ct/models/VolumeIntegrator.h"
#include "mr2ct/pipeline/Distributed.h"
#include "support/TempDir.h"
#include "support/ModelFixtures.h"

namespace fs = std::filesystem;
using namespace mr2ct;

namespace {

// CPU and GPU float32 differ by summation order and, on Ampere and later, by TF32 in cuDNN's
// convolutions (LibTorch's default): a 10-bit significand, unit roundoff 2^-11 ≈ 4.9e-4 per
// rounding. The tiny networks' deepest path has ≤ 12 rounded layers, so the relative L2 error stays
// below 12·2^-11 ≈ 5.9e-3 even when the errors add up linearly; we allow 1e-2.
constexpr double kCpuGpuTolerance = 1e-2;
// bf16: u = 2^-8 per rounding, ≤ 12 layers (as tests/test_inference_precision.cpp).
constexpr double kBf16Tolerance = 0.05;

#define MR2CT_REQUIRE_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device (this LibTorch or this machine)"

/// test_models' tiny training on the GPU (every voxel inside the CT's field of view).
InMemoryDataSource phantomSource(int train, int val) { return test::phantomSource(train, val, 6, 40, 36, 0); }

ModelConfig tinyCudaConfig() {
  ModelConfig c = test::tinyTrainingConfig();
  c.training.logEvery = 10;
  c.training.device = "cuda";
  return c;
}

using test::firstAndLastLoss;

double relativeError(const torch::Tensor& a, const torch::Tensor& reference) {
  const auto r = reference.to(torch::kCPU, torch::kDouble);
  return (a.to(torch::kCPU, torch::kDouble) - r).norm().item<double>() / r.norm().item<double>();
}

VelocityUNetOptions tinyNetwork() {
  return VelocityUNetOptions().channels({8, 16}).blocksPerLevel(1).attention(true).timeFeatures(8).timeDim(16);
}

}  // namespace

TEST(Cuda, TrainsInFp32AndBf16AndWritesWeightsACpuLoads) {
  MR2CT_REQUIRE_CUDA();
  const auto src = phantomSource(2, 1);
  for (const std::string precision : {"fp32", "bf16"}) {
    SCOPED_TRACE(precision);
    test::TempDir dir;
    ModelConfig c = tinyCudaConfig();
    c.training.precision = precision;
    TrainRunOptions run;
    run.progress = false;
    run.finalNfes = {1, 4};
    const TrainSummary s = trainModel(c, src, dir.path(), run);
    EXPECT_EQ(s.lastStep, 60);
    const auto [l0, l1] = firstAndLastLoss(trainLogPath(dir.path()));
    EXPECT_LT(l1, 0.5 * l0);
    ASSERT_EQ(s.finalValMaeHu.size(), 2u);
    EXPECT_TRUE(std::isfinite(s.finalValMaeHu[0].second));
    EXPECT_FALSE(autocastEnabled(torch::Device(torch::kCUDA)));  // the guard restored the thread's state
    // The folder loads on a machine without a GPU: the weights are CPU float32.
    const LoadedModel m = loadModel(dir.path(), torch::kCPU);
    for (const auto& p : m.network->parameters()) {
      EXPECT_TRUE(p.device().is_cpu());
      EXPECT_EQ(p.scalar_type(), torch::kFloat);
    }
  }
}

TEST(Cuda, ResumingOnTheGpuContinuesTheUninterruptedRun) {
  MR2CT_REQUIRE_CUDA();
  const auto src = phantomSource(2, 0);
  ModelConfig c = tinyCudaConfig();
  c.training.steps = 20;
  c.training.checkpointEvery = 10;
  TrainRunOptions run;
  run.progress = false;
  run.finalNfes = {};
  test::TempDir whole, split;
  trainModel(c, src, whole.path(), run);
  run.stopAfterStep = 10;
  trainModel(c, src, split.path(), run);
  run.stopAfterStep = -1;
  run.resume = true;
  trainModel(c, src, split.path(), run);
  VelocityUNet a = makeNetwork(c), b = makeNetwork(c);
  loadWeights(a, modelWeightsPath(whole.path()));
  loadWeights(b, modelWeightsPath(split.path()));
  // Not bit-for-bit as on the CPU: cuDNN's backward kernels accumulate with atomics (another
  // summation order on every run, restarted or not), and AdamW's m/√v magnifies the relative
  // differences of near-zero gradients; so each tensor must agree to 1e-3 of its norm.
  const auto pa = a->parameters(), pb = b->parameters();
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    const double err = relativeError(pb[i], pa[i]);
    worst = std::max(worst, err);
    EXPECT_LE(err, 1e-3) << "parameter " << i;
  }
  std::cout << "largest relative difference of a parameter tensor after resume: " << worst << "\n";
}

TEST(Cuda, IntegrationOnTheGpuMatchesTheCpu) {
  MR2CT_REQUIRE_CUDA();
  torch::manual_seed(0);
  VelocityUNet net(tinyNetwork());
  net->eval();
  const auto mr = torch::rand({5, 24, 20});  // H, W not multiples of 2: padded and cropped
  for (const std::string source : {"mr", "noise"}) {
    SCOPED_TRACE(source);
    IntegratorOptions o;
    o.batchSize = 2;
    o.sizeMultiple = net->options().sizeMultiple();
    o.solver.method = SolverMethod::Heun;
    o.solver.steps = 3;
    o.source = source;
    o.noiseSeed = 7;
    auto velocity = [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& c) {
      return net->forward(x, t, c);
    };
    net->to(torch::kCPU);
    const auto cpu = VolumeIntegrator(velocity, o).integrate(mr);
    net->to(torch::kCUDA);
    o.device = torch::kCUDA;
    const auto gpu = VolumeIntegrator(velocity, o).integrate(mr);
    ASSERT_TRUE(gpu.x[0].device().is_cpu());
    EXPECT_EQ(gpu.x[0].sizes(), mr.sizes());
    EXPECT_EQ(gpu.nfe[0], cpu.nfe[0]);
    const double err = relativeError(gpu.x[0], cpu.x[0]);
    EXPECT_LE(err, kCpuGpuTolerance) << "relative L2 error " << err;
  }
}

TEST(Cuda, Bf16InferenceOnTheGpuIsCloseToFp32) {
  MR2CT_REQUIRE_CUDA();
  torch::manual_seed(0);
  VelocityUNet fp32(tinyNetwork());
  torch::manual_seed(0);
  VelocityUNet bf16(tinyNetwork());
  fp32->eval();
  bf16->eval();
  fp32->to(torch::kCUDA);
  bf16->to(torch::kCUDA);
  bf16->prepareForInference(torch::kBFloat16, /*channelsLast=*/true);
  const auto opts = torch::TensorOptions().device(torch::kCUDA);
  const auto x = torch::randn({3, 1, 32, 32}, opts), cond = torch::randn({3, 1, 32, 32}, opts);
  const auto t = torch::tensor({0.0f, 0.37f, 1.0f}, opts);
  torch::NoGradGuard ng;
  const auto reference = fp32->forward(x, t, cond);
  const auto v = bf16->forward(x, t, cond);
  EXPECT_EQ(v.scalar_type(), torch::kFloat);
  EXPECT_TRUE(v.is_cuda());
  const double err = relativeError(v, reference);
  EXPECT_LE(err, kBf16Tolerance) << "relative L2 error " << err;
  EXPECT_GT(err, 1.0 / 256 / 64) << "no rounding at all: the network did not run in bf16";
}

TEST(Cuda, NcclGroupOfOneBroadcastsSumsAndAverages) {
  MR2CT_REQUIRE_CUDA();
  DistributedContext context;
  context.masterAddr = "127.0.0.1";
  context.masterPort = 20000 + int(std::random_device{}() % 20000);
  const auto reducer = joinProcessGroup(context, "cuda:0", std::chrono::seconds(60));
  ASSERT_TRUE(reducer);
  const auto opts = torch::TensorOptions().device(torch::kCUDA);
  auto p = torch::arange(10, opts.dtype(torch::kFloat)).requires_grad_(true);
  (p * p).sum().backward();
  const auto expected = p.grad().clone();
  reducer->averageGradients({p});
  EXPECT_TRUE(torch::allclose(p.grad(), expected));
  auto small = torch::tensor({2.5f}, opts);
  reducer->sum(small);
  EXPECT_FLOAT_EQ(small.item<float>(), 2.5f);
  auto w = torch::ones({4}, opts);
  reducer->broadcastFromRankZero({w});
  EXPECT_TRUE(torch::equal(w, torch::ones({4}, opts)));
}
