// `mr2ct convert` end to end with a tiny randomly initialised model folder made in the test:
// geometry round trip, HU range, air outside the body, sweeps, bad input, batch and shards.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/pipeline/Command.h"
#include "mr2ct/pipeline/Converter.h"
#include "mr2ct/pipeline/Shard.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/CliRun.h"
#include "support/ConvertFixtures.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::saveRandomModel;
using test::cli;
ModelConfig tinyConfig(int dims = 2, int neighbours = 1) { return test::tinyNetworkConfig(dims, neighbours); }

/// A body (ellipsoid, ~100) in air (~0) on a rotated, flipped, anisotropic grid.
Volume phantomMr(std::array<std::size_t, 3> size = {26, 22, 7}) {
  Volume v = test::makeIdentifiableVolume(size);
  const double nx = double(size[0]), ny = double(size[1]), nz = double(size[2]);
  const double cx = nx / 2.0, cy = ny / 2.0, cz = nz / 2.0;
  for (std::size_t z = 0; z < size[2]; ++z)
    for (std::size_t y = 0; y < size[1]; ++y)
      for (std::size_t x = 0; x < size[0]; ++x) {
        const double dx = double(x), dy = double(y), dz = double(z);
        const double r = std::pow((dx - cx) / (0.35 * nx), 2) + std::pow((dy - cy) / (0.35 * ny), 2) +
                         std::pow((dz - cz) / (0.8 * nz), 2);
        v.at(x, y, z) = r < 1 ? float(100 + 20 * std::sin(0.7 * dx + 0.3 * dy + dz)) : float((x * 7 + y * 3 + z) % 5);
      }
  return v;
}

TEST(Convert, RoundTripKeepsTheInputGridExactlyWithHuAndAirOutside) {
  TempDir tmp;
  const auto model = saveRandomModel(tmp / "model", tinyConfig());
  const Volume mr = phantomMr();
  writeVolume(mr, tmp / "mr.nii.gz");
  std::string out, err;
  ASSERT_EQ(cli({"convert", "--model", model.string(), "--input", (tmp / "mr.nii.gz").string(), "--output",
                 (tmp / "sct.nii.gz").string(), "--solver", "heun", "--steps", "2", "--quiet"},
                &out, &err),
            0)
      << err;
  EXPECT_NE(out.find("per NFE"), std::string::npos) << out;
  const auto info = readVolumeInfo(tmp / "sct.nii.gz");
  const Geometry written = readVolumeInfo(tmp / "mr.nii.gz").geometry;
  EXPECT_EQ(info.geometry.size, written.size);
  EXPECT_TRUE(info.geometry.sameAs(written, 1e-6)) << info.geometry.differenceFrom(written, 1e-6);
  EXPECT_EQ(info.pixelType, "int16");
  const Volume sct = readVolume(tmp / "sct.nii.gz");
  const auto range = sct.range();
  EXPECT_GE(range.min, -1024.0f);
  EXPECT_LE(range.max, 3000.0f);
  // corners are far outside the body: air
  EXPECT_EQ(sct.at(0, 0, 0), -1000.0f);
  EXPECT_EQ(sct.at(25, 21, 6), -1000.0f);
  // the body centre is inside the mask: the network's value (anything but exactly the air value is
  // not guaranteed, but all body voxels being -1000 would mean the mask was lost)
  std::size_t notAir = 0;
  for (float v : sct.voxels()) notAir += v != -1000.0f;
  EXPECT_GT(notAir, sct.voxelCount() / 10);
}

TEST(Convert, TargetSpacingIsUndoneOntoTheInputGrid) {
  TempDir tmp;
  auto cfg = tinyConfig(2, 0);
  cfg.preprocessing["spacing"] = {1.5, 1.5, 2.0};
  const auto model = saveRandomModel(tmp / "model", cfg);
  writeVolume(phantomMr(), tmp / "mr.mha");
  ConvertOptions o;
  o.model = model;
  o.solver.method = SolverMethod::Euler;
  o.solver.steps = 1;
  o.pixelType = PixelType::Float32;
  const Converter converter(o);
  const auto report = converter.convert(tmp / "mr.mha", tmp / "sct.mha");
  EXPECT_EQ(report.nfe, std::vector<int>{1});
  const auto g = readVolumeInfo(tmp / "sct.mha").geometry;
  EXPECT_TRUE(g.sameAs(readVolumeInfo(tmp / "mr.mha").geometry, 1e-6));
  EXPECT_EQ(readVolumeInfo(tmp / "sct.mha").pixelType, "float32");
}

TEST(Convert, NfeSweepWritesOneOutputPerNfe) {
  TempDir tmp;
  const auto model = saveRandomModel(tmp / "model", tinyConfig());
  writeVolume(phantomMr(), tmp / "mr.nii.gz");
  ASSERT_EQ(cli({"convert", "--model", model.string(), "--input", (tmp / "mr.nii.gz").string(), "--output",
                 (tmp / "sct.nii.gz").string(), "--nfe-sweep", "1,2,4", "--quiet"}),
            0);
  for (int n : {1, 2, 4}) EXPECT_TRUE(fs::exists(tmp / ("sct_nfe" + std::to_string(n) + ".nii.gz"))) << n;
  EXPECT_FALSE(fs::exists(tmp / "sct.nii.gz"));
  EXPECT_EQ(sweepOutputPath("a/b.nii.gz", 8), fs::path("a/b_nfe8.nii.gz"));
}

TEST(Convert, ThreeDimensionalModelConvertsWithPatches) {
  TempDir tmp;
  const auto model = saveRandomModel(tmp / "model", tinyConfig(3));
  writeVolume(phantomMr({20, 18, 11}), tmp / "mr.nii.gz");
  ASSERT_EQ(cli({"convert", "--model", model.string(), "--input", (tmp / "mr.nii.gz").string(), "--output",
                 (tmp / "sct.nii.gz").string(), "--solver", "euler", "--steps", "2", "--quiet"}),
            0);
  EXPECT_TRUE(readVolumeInfo(tmp / "sct.nii.gz").geometry.sameAs(readVolumeInfo(tmp / "mr.nii.gz").geometry, 1e-6));
}

TEST(Convert, NoiseSourceModelConvertsFromSeededNoise) {
  TempDir tmp;
  auto cfg = tinyConfig(2, 0);
  cfg.flow.source = "noise";
  const auto model = saveRandomModel(tmp / "model", cfg);
  writeVolume(phantomMr(), tmp / "mr.mha");
  auto convert = [&](const std::string& name, const std::string& seed) {
    std::string err;
    EXPECT_EQ(cli({"convert", "--model", model.string(), "--input", (tmp / "mr.mha").string(), "--output",
                   (tmp / name).string(), "--solver", "euler", "--steps", "2", "--seed", seed,
                   "--pixel-type", "float32", "--quiet"},
                  nullptr, &err),
              0)
        << err;
    return readVolume(tmp / name);
  };
  const Volume a = convert("a.mha", "5"), b = convert("b.mha", "5"), c = convert("c.mha", "6");
  EXPECT_EQ(a.voxels(), b.voxels());  // reproducible: the seed fixes x0
  std::size_t differ = 0;
  for (std::size_t i = 0; i < a.voxelCount(); ++i) differ += a.voxels()[i] != c.voxels()[i];
  EXPECT_GT(differ, a.voxelCount() / 10);  // another seed starts elsewhere (inside the body)
}

// --samples K: the mean of K trajectories and their standard deviation in HU, from running moments.
// Oracle: a noise-source model's sample k starts from the noise of seed s + k, exactly what
// `--seed s+k --samples 1` converts, so the mean and std maps must equal those of K single runs.
TEST(Convert, SamplesWriteTheMeanAndTheStandardDeviationOfSingleRuns) {
  TempDir tmp;
  auto cfg = tinyConfig(2, 0);
  cfg.flow.source = "noise";
  const auto model = saveRandomModel(tmp / "model", cfg);
  Volume mr = phantomMr();
  Geometry g = mr.geometry();
  g.direction = {1, 0, 0, 0, 1, 0, 0, 0, 1};  // LPS already: the sCT grid is the input's, no resampling
  mr.setGeometry(g);
  writeVolume(mr, tmp / "mr.mha");
  auto convert = [&](const std::string& name, const std::string& seed, const std::string& samples) {
    std::string out, err;
    EXPECT_EQ(cli({"convert", "--model", model.string(), "--input", (tmp / "mr.mha").string(), "--output",
                   (tmp / name).string(), "--solver", "euler", "--steps", "2", "--seed", seed, "--samples", samples,
                   "--pixel-type", "float32"},
                  &out, &err),
              0)
        << err;
    return out;
  };
  const std::string said = convert("mean.mha", "5", "3");
  EXPECT_NE(said.find("3 samples: mean written above, standard deviation " + (tmp / "mean_std.mha").string()),
            std::string::npos) << said;
  const Volume mean = readVolume(tmp / "mean.mha"), sd = readVolume(tmp / "mean_std.mha");
  std::vector<Volume> single;
  for (const std::string seed : {"5", "6", "7"}) {
    convert("s" + seed + ".mha", seed, "1");
    single.push_back(readVolume(tmp / ("s" + seed + ".mha")));
  }
  EXPECT_FALSE(fs::exists(tmp / "s5_std.mha"));
  ASSERT_TRUE(sd.geometry().sameAs(mean.geometry(), 0.0));
  double worstMean = 0, worstSd = 0, largestSd = 0;
  std::size_t outside = 0;
  for (std::size_t i = 0; i < mean.voxelCount(); ++i) {
    const double a = single[0].voxels()[i], b = single[1].voxels()[i], c = single[2].voxels()[i];
    const double m = (a + b + c) / 3.0;
    const double s = std::sqrt(((a - m) * (a - m) + (b - m) * (b - m) + (c - m) * (c - m)) / 2.0);
    worstMean = std::max(worstMean, std::abs(mean.voxels()[i] - m));
    worstSd = std::max(worstSd, std::abs(sd.voxels()[i] - s));
    largestSd = std::max(largestSd, s);
    outside += a == -1000.0 && sd.voxels()[i] == 0.0f;
  }
  // float32 running moments on [-1, 1], scaled by the 2012 HU half-span: ~1e-3 HU of rounding.
  EXPECT_LT(worstMean, 0.05) << "mean map vs the mean of three single runs (HU)";
  EXPECT_LT(worstSd, 0.05) << "std map vs the sample std of three single runs (HU)";
  EXPECT_GT(largestSd, 1.0) << "the three runs must differ for this to test anything";
  EXPECT_GT(outside, 0u) << "air outside the body: std 0";

  // An mr-source model without bridge noise is deterministic: refused before any work.
  auto deterministic = tinyConfig(2, 0);
  deterministic.flow.sigma = 0.0;
  const auto model0 = saveRandomModel(tmp / "model0", deterministic);
  std::string err;
  EXPECT_EQ(cli({"convert", "--model", model0.string(), "--input", (tmp / "mr.mha").string(), "--output",
                 (tmp / "x.mha").string(), "--samples", "2"},
                nullptr, &err),
            2);
  EXPECT_NE(err.find("sampling needs a model trained with --sigma > 0 or --source noise"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(tmp / "x.mha"));
}

// --samples K on an mr-source model with σ > 0: K draws of the Brownian-bridge sampler. Its noise
// is drawn per slice and step from the seed, so the maps do not depend on how slices are batched,
// a seed reproduces them, and another seed gives other draws; air outside the body has std 0.
TEST(Convert, BridgeSamplesOfAnMrSourceModelDoNotDependOnTheBatch) {
  TempDir tmp;
  auto cfg = tinyConfig(2, 0);
  cfg.flow.sigma = 1.0;
  const auto model = saveRandomModel(tmp / "model", cfg);
  Volume mr = phantomMr();
  writeVolume(mr, tmp / "mr.mha");
  auto convert = [&](const std::string& name, const std::string& seed, const std::string& batch) {
    std::string out, err;
    EXPECT_EQ(cli({"convert", "--model", model.string(), "--input", (tmp / "mr.mha").string(), "--output",
                   (tmp / name).string(), "--solver", "euler", "--steps", "3", "--seed", seed, "--samples", "3",
                   "--batch", batch, "--pixel-type", "float32"},
                  &out, &err),
              0)
        << err;
    return std::make_pair(readVolume(tmp / name), readVolume(tmp / (name.substr(0, name.size() - 4) + "_std.mha")));
  };
  const auto [meanA, sdA] = convert("a.mha", "5", "4");
  const auto [meanB, sdB] = convert("b.mha", "5", "1");
  const auto [meanC, sdC] = convert("c.mha", "6", "4");
  // Batches of 4 and of 1 slice run other convolution kernels: float rounding only (noise drawn
  // per batch would differ by hundreds of HU).
  double worstMean = 0, worstSd = 0;
  std::size_t differ = 0, spread = 0, outside = 0;
  for (std::size_t i = 0; i < meanA.voxelCount(); ++i) {
    worstMean = std::max(worstMean, double(std::abs(meanA.voxels()[i] - meanB.voxels()[i])));
    worstSd = std::max(worstSd, double(std::abs(sdA.voxels()[i] - sdB.voxels()[i])));
    differ += meanA.voxels()[i] != meanC.voxels()[i];
    spread += sdA.voxels()[i] > 1.0f;
    outside += meanA.voxels()[i] == -1000.0f && sdA.voxels()[i] == 0.0f;
  }
  EXPECT_LT(worstMean, 0.1) << "HU, batch 4 vs batch 1";
  EXPECT_LT(worstSd, 0.1) << "HU, batch 4 vs batch 1";
  EXPECT_GT(differ, meanA.voxelCount() / 10);
  EXPECT_GT(spread, meanA.voxelCount() / 10) << "bridge noise must spread the samples inside the body";
  EXPECT_GT(outside, 0u);
  // One bridge step has no noise: K identical draws, refused before any work.
  std::string err;
  EXPECT_EQ(cli({"convert", "--model", model.string(), "--input", (tmp / "mr.mha").string(), "--output",
                 (tmp / "one.mha").string(), "--solver", "euler", "--steps", "1", "--samples", "2"},
                nullptr, &err),
            2);
  EXPECT_NE(err.find("use --steps 2 or more"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(tmp / "one.mha"));
}

// Each bad input: exit 1, one line naming the file, nothing at the output path.
TEST(Convert, BadInputsNameTheFileAndLeaveNothing) {
  TempDir tmp;
  const auto model = saveRandomModel(tmp / "model", tinyConfig());
  writeVolume(phantomMr(), tmp / "mr.nii.gz");
  const std::string output = (tmp / "sct.nii.gz").string();
  auto expectFailure = [&](const std::vector<std::string>& args, const std::string& named) {
    std::string err;
    std::vector<std::string> a{"convert"};
    a.insert(a.end(), args.begin(), args.end());
    a.push_back("--quiet");
    EXPECT_EQ(cli(a, nullptr, &err), 1) << err;
    EXPECT_NE(err.find(named), std::string::npos) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_FALSE(fs::exists(output));
  };
  const std::string in = (tmp / "mr.nii.gz").string();
  // no model folder
  expectFailure({"--model", (tmp / "nomodel").string(), "--input", in, "--output", output}, "nomodel");
  // another format version
  fs::create_directories(tmp / "v99");
  fs::copy(model / "weights.pt", tmp / "v99" / "weights.pt");
  auto j = nlohmann::json::parse(readTextFile(model / "config.json"));
  j["format_version"] = 99;
  writeTextAtomically(tmp / "v99" / "config.json", j.dump());
  expectFailure({"--model", (tmp / "v99").string(), "--input", in, "--output", output}, "config.json");
  // checkpoint that does not match its config
  auto other = tinyConfig();
  other.network.unet.channels({16, 32});
  const auto wrong = saveRandomModel(tmp / "wrong", other);
  fs::copy(model / "config.json", wrong / "config.json", fs::copy_options::overwrite_existing);
  expectFailure({"--model", wrong.string(), "--input", in, "--output", output}, "weights.pt");
  // unreadable input geometry
  { std::ofstream(tmp / "garbage.nii.gz") << "not an image"; }
  expectFailure({"--model", model.string(), "--input", (tmp / "garbage.nii.gz").string(), "--output", output},
                "garbage.nii.gz");
  // NaN voxels
  Volume nan = phantomMr();
  nan.at(3, 3, 3) = std::nanf("");
  writeVolume(nan, tmp / "nan.mha");
  expectFailure({"--model", model.string(), "--input", (tmp / "nan.mha").string(), "--output", output}, "nan.mha");
  // an output folder that cannot be created: one line naming it, before any work
  std::string err;
  EXPECT_EQ(cli({"convert", "--model", model.string(), "--input", in, "--output", "/proc/mr2ct-nodir/s.nii.gz", "--quiet"},
                nullptr, &err),
            1);
  EXPECT_NE(err.find("/proc/mr2ct-nodir"), std::string::npos) << err;
  EXPECT_NE(err.find("cannot create the output folder"), std::string::npos) << err;
  // a folder that exists but takes no files: "not writable"
  err.clear();
  EXPECT_EQ(cli({"convert", "--model", model.string(), "--input", in, "--output", "/proc/s.nii.gz", "--quiet"}, nullptr, &err),
            1);
  EXPECT_NE(err.find("not writable"), std::string::npos) << err;
  // no stray temporary files left next to the output
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST(Convert, ShardsPartitionTheCasesExactlyOnce) {
  for (std::size_t count : {0u, 1u, 5u, 17u}) {
    for (int n : {1, 2, 3, 7}) {
      std::multiset<std::size_t> seen;
      for (int i = 0; i < n; ++i)
        for (auto p : shardPositions(count, i, n)) seen.insert(p);
      EXPECT_EQ(seen.size(), count);
      for (std::size_t p = 0; p < count; ++p) EXPECT_EQ(seen.count(p), 1u);
    }
  }
  EXPECT_EQ(parseShard("2/5"), std::make_pair(2, 5));
  EXPECT_THROW(parseShard("5/5"), UsageError);
  EXPECT_THROW(parseShard("1-2"), UsageError);
  EXPECT_THROW(parseShard("a/2"), UsageError);
}

TEST(Convert, BatchGoesOnAfterAFailureResumesAndShards) {
  TempDir tmp;
  const auto model = saveRandomModel(tmp / "model", tinyConfig(2, 0));
  fs::create_directories(tmp / "data");
  writeVolume(phantomMr(), tmp / "data" / "a.nii.gz");
  writeVolume(phantomMr({24, 20, 5}), tmp / "data" / "c.nii.gz");
  { std::ofstream(tmp / "data" / "b.nii.gz") << "broken"; }
  writeTextAtomically(tmp / "data" / "m.csv",
                      "id,mr,ct,mask,split\na,a.nii.gz,,,test\nb,b.nii.gz,,,test\nc,c.nii.gz,,,test\n");
  fs::create_directories(tmp / "out");
  const std::vector<std::string> base{"convert", "--model", model.string(), "--manifest",
                                      (tmp / "data" / "m.csv").string(), "--out-dir", (tmp / "out").string(),
                                      "--solver", "euler", "--steps", "1", "--quiet"};
  std::string out;
  EXPECT_EQ(cli(base, &out), 3) << out;
  EXPECT_TRUE(fs::exists(tmp / "out" / "a.nii.gz"));
  EXPECT_FALSE(fs::exists(tmp / "out" / "b.nii.gz"));
  EXPECT_TRUE(fs::exists(tmp / "out" / "c.nii.gz"));
  const auto status = nlohmann::json::parse(readTextFile(tmp / "out" / "status.json"));
  ASSERT_EQ(status.size(), 3u);
  EXPECT_EQ(status[0]["status"], "ok");
  EXPECT_EQ(status[0]["nfe"], 1);
  EXPECT_EQ(status[1]["status"], "failed");
  EXPECT_NE(status[1]["reason"].get<std::string>().find("b.nii.gz"), std::string::npos);
  EXPECT_EQ(status[1]["output"], "");  // nothing was written for it
  EXPECT_EQ(status[0]["output"], (tmp / "out" / "a.nii.gz").string());
  EXPECT_TRUE(fs::exists(tmp / "out" / "status.csv"));

  // A model that cannot be loaded stops the batch before its output folder is made.
  auto badModel = base;
  badModel[2] = (tmp / "no-such-model").string();
  badModel[6] = (tmp / "never-made").string();
  EXPECT_EQ(cli(badModel), 1);
  EXPECT_FALSE(fs::exists(tmp / "never-made"));

  // --resume: the complete outputs are skipped, the failed case is tried again
  auto resume = base;
  resume.push_back("--resume");
  EXPECT_EQ(cli(resume, &out), 3);
  const auto again = nlohmann::json::parse(readTextFile(tmp / "out" / "status.json"));
  EXPECT_EQ(again[0]["status"], "skipped");
  EXPECT_EQ(again[1]["status"], "failed");
  EXPECT_EQ(again[2]["status"], "skipped");

  // --shard: two shards cover the three cases exactly once
  fs::create_directories(tmp / "sharded");
  std::set<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    auto s = base;
    s[6] = (tmp / "sharded").string();
    s.push_back("--shard");
    s.push_back(std::to_string(i) + "/2");
    cli(s);
    const auto st = nlohmann::json::parse(
        readTextFile(tmp / "sharded" / ("status.shard" + std::to_string(i) + "of2.json")));
    for (const auto& c : st) EXPECT_TRUE(ids.insert(c["id"].get<std::string>()).second);
  }
  EXPECT_EQ(ids, (std::set<std::string>{"a", "b", "c"}));

  // --split: an output may not replace a file of a case in another split either (x's sCT would be
  // written over d's MR, data/x.nii.gz).
  fs::copy_file(tmp / "data" / "a.nii.gz", tmp / "data" / "x.nii.gz");
  const std::string before = readTextFile(tmp / "data" / "x.nii.gz");
  writeTextAtomically(tmp / "data" / "m2.csv", "id,mr,ct,mask,split\nx,a.nii.gz,,,test\nd,x.nii.gz,,,train\n");
  auto split = base;
  split[4] = (tmp / "data" / "m2.csv").string();
  split[6] = (tmp / "data").string();
  split.insert(split.end(), {"--split", "test"});
  std::string err;
  EXPECT_EQ(cli(split, nullptr, &err), 2) << err;
  EXPECT_NE(err.find("x.nii.gz"), std::string::npos) << err;
  EXPECT_EQ(readTextFile(tmp / "data" / "x.nii.gz"), before);
}


// Issue 16: an input unlike the training inputs is flagged (the warning, the report, the batch's
// status) without refusing it; an input the reference was fitted on passes.
TEST(Convert, AnInputUnlikeTheTrainingDataIsFlaggedInTheReportAndTheStatus) {
  TempDir tmp;
  auto cfg = tinyConfig(2, 0);
  const PreprocessPlan plan = PreprocessPlan::fromJson(cfg.preprocessing, "test");
  auto variant = [](int k) {
    Volume v = phantomMr();
    for (std::size_t z = 0; z < v.size()[2]; ++z)
      for (std::size_t y = 0; y < v.size()[1]; ++y)
        for (std::size_t x = 0; x < v.size()[0]; ++x)
          if (v.at(x, y, z) > 50) v.at(x, y, z) += float((5 + k) * std::sin(0.5 * double(x + y) + k));
    return v;
  };
  std::vector<InputProfile> profiles;
  for (int k = 0; k < 4; ++k) {
    const PreparedMr p = prepareMr(variant(k), plan, "variant");
    profiles.push_back(inputProfile(p.normalized, p.mask, "variant"));
  }
  cfg.inputReference = TypicalityReference::fit(profiles).toJson();
  const auto model = saveRandomModel(tmp / "model", cfg);
  fs::create_directories(tmp / "data");
  writeVolume(variant(1), tmp / "data" / "seen.nii.gz");
  Volume biased = variant(1);  // a bias field left in: ×0.2 → ×5 across x
  for (std::size_t z = 0; z < biased.size()[2]; ++z)
    for (std::size_t y = 0; y < biased.size()[1]; ++y)
      for (std::size_t x = 0; x < biased.size()[0]; ++x)
        biased.at(x, y, z) *= float(0.2 * std::pow(25.0, double(x) / double(biased.size()[0] - 1)));
  writeVolume(biased, tmp / "data" / "biased.nii.gz");

  ConvertOptions o;
  o.model = model;
  o.solver.method = SolverMethod::Euler;
  o.solver.steps = 1;
  const Converter converter(o);
  const ConvertReport seen = converter.convert(tmp / "data" / "seen.nii.gz", tmp / "seen_sct.nii.gz");
  ASSERT_TRUE(seen.inputCheck.has_value());
  EXPECT_TRUE(seen.inputCheck->typical()) << seen.inputCheck->toJson().dump();
  const ConvertReport odd = converter.convert(tmp / "data" / "biased.nii.gz", tmp / "biased_sct.nii.gz");
  ASSERT_TRUE(odd.inputCheck.has_value());
  EXPECT_FALSE(odd.inputCheck->typical());
  EXPECT_EQ(odd.inputCheck->feature, "trend_x") << odd.inputCheck->toJson().dump();
  EXPECT_GT(odd.inputCheck->z, odd.inputCheck->threshold);
  EXPECT_TRUE(fs::exists(tmp / "biased_sct.nii.gz"));  // flagged, still converted
  EXPECT_EQ(odd.toJson().at("input_check").at("typical"), false);

  writeTextAtomically(tmp / "data" / "m.csv", "id,mr\nseen,seen.nii.gz\nbiased,biased.nii.gz\n");
  std::string out, err;
  ASSERT_EQ(cli({"convert", "--model", model.string(), "--manifest", (tmp / "data" / "m.csv").string(), "--out-dir",
                 (tmp / "out").string(), "--solver", "euler", "--steps", "1"},
                &out, &err),
            0);
  EXPECT_NE(err.find("biased: ok"), std::string::npos) << err;
  EXPECT_NE(err.find("unlike the training data (trend_x"), std::string::npos) << err;
  const auto status = nlohmann::json::parse(readTextFile(tmp / "out" / "status.json"));
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[0]["input_check"]["typical"], true);
  EXPECT_EQ(status[1]["input_check"]["typical"], false);
  const std::string csv = readTextFile(tmp / "out" / "status.csv");
  EXPECT_NE(csv.find(",input_score,input_feature,input_typical\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",trend_x,no\n"), std::string::npos) << csv;

  // One slice cannot be profiled (the body spans one voxel along z): converted, unscored.
  {
    const Volume whole = variant(1);
    Geometry g = whole.geometry();
    g.size[2] = 1;
    Volume slice(g);
    for (std::size_t y = 0; y < g.size[1]; ++y)
      for (std::size_t x = 0; x < g.size[0]; ++x) slice.at(x, y, 0) = whole.at(x, y, 3);
    writeVolume(slice, tmp / "data" / "slice.nii.gz");
    const ConvertReport one = converter.convert(tmp / "data" / "slice.nii.gz", tmp / "slice_sct.nii.gz");
    EXPECT_FALSE(one.inputCheck.has_value());
    EXPECT_TRUE(fs::exists(tmp / "slice_sct.nii.gz"));
  }

  // A model from before the check converts without one.
  const auto old = saveRandomModel(tmp / "old", tinyConfig(2, 0));
  o.model = old;
  EXPECT_FALSE(Converter(o).convert(tmp / "data" / "biased.nii.gz", tmp / "old_sct.nii.gz").inputCheck.has_value());
}

// Issue 15: --match-median moves an input's body median to the training MRs' mean (the model's
// input reference) by one gamma after the percentile map. An input near there gets a gamma near
// 1 and nearly the same sCT; a darker one gets the gamma that its own median asks for, and another sCT.
TEST(Convert, MatchMedianAppliesTheGammaThatMovesTheMedianToTheTrainingMrs) {
  TempDir tmp;
  auto cfg = tinyConfig(2, 0);
  const PreprocessPlan plan = PreprocessPlan::fromJson(cfg.preprocessing, "test");
  auto variant = [](int k) {  // the training MRs: the phantom's body as a ramp 40 … 200, a little texture each
    Volume v = phantomMr();
    for (std::size_t z = 0; z < v.size()[2]; ++z)
      for (std::size_t y = 0; y < v.size()[1]; ++y)
        for (std::size_t x = 0; x < v.size()[0]; ++x)
          if (v.at(x, y, z) > 50)
            v.at(x, y, z) = float(40 + 160 * double(x) / double(v.size()[0]) + 3 * std::sin(0.5 * double(x + y) + k));
    return v;
  };
  std::vector<InputProfile> profiles;
  for (int k = 0; k < 4; ++k) {
    const PreparedMr p = prepareMr(variant(k), plan, "variant");
    profiles.push_back(inputProfile(p.normalized, p.mask, "variant"));
  }
  const TypicalityReference reference = TypicalityReference::fit(profiles);
  cfg.inputReference = reference.toJson();
  MrNormalizationRule rule;
  rule.method = "gamma";
  rule.medianPosition = (reference.mean.at(1) + 1) / 2;  // p50, the second feature
  ASSERT_EQ(inputProfileFeatures().at(1).key, "p50");
  const Volume centred = variant(1);
  const PreparedMr own = prepareMr(centred, plan, "centred");
  const auto model = saveRandomModel(tmp / "model", cfg);
  writeVolume(centred, tmp / "centred.nii.gz");
  Volume darker = centred.clone();
  for (auto& v : darker.voxels()) v = float(200.0 * std::pow(std::max(0.0f, v) / 200.0, 2.0));
  writeVolume(darker, tmp / "darker.nii.gz");

  ConvertOptions o;
  o.model = model;
  o.solver.method = SolverMethod::Euler;
  o.solver.steps = 2;
  o.pixelType = PixelType::Float32;
  const Converter plain(o);
  o.matchMedian = true;
  const Converter matched(o);
  EXPECT_EQ(o.toJson().at("match_median"), true);

  plain.convert(tmp / "centred.nii.gz", tmp / "centred_plain.nii.gz");
  const ConvertReport atCentre = matched.convert(tmp / "centred.nii.gz", tmp / "centred_matched.nii.gz");
  ASSERT_TRUE(atCentre.medianMatchGamma.has_value());
  EXPECT_NEAR(*atCentre.medianMatchGamma,
              std::log(rule.medianPosition) / std::log(mrMedianPosition(own.normalized, own.mask, rule)), 1e-3);
  EXPECT_NEAR(*atCentre.medianMatchGamma, 1.0, 0.05);
  const Volume a = readVolume(tmp / "centred_plain.nii.gz"), b = readVolume(tmp / "centred_matched.nii.gz");
  double moved0 = 0;
  for (std::size_t i = 0; i < a.voxelCount(); ++i) moved0 = std::max(moved0, double(std::abs(a.data()[i] - b.data()[i])));

  const PreparedMr dark = prepareMr(darker, plan, "darker");
  const double position = mrMedianPosition(dark.normalized, dark.mask, rule);
  ASSERT_GT(std::abs(position - rule.medianPosition), 0.03) << "the darker MR must sit elsewhere to test anything";
  plain.convert(tmp / "darker.nii.gz", tmp / "darker_plain.nii.gz");
  const ConvertReport moved = matched.convert(tmp / "darker.nii.gz", tmp / "darker_matched.nii.gz");
  ASSERT_TRUE(moved.medianMatchGamma.has_value());
  EXPECT_NEAR(*moved.medianMatchGamma, std::log(rule.medianPosition) / std::log(position), 1e-3);
  EXPECT_EQ(moved.toJson().at("median_match_gamma"), *moved.medianMatchGamma);
  const Volume c = readVolume(tmp / "darker_plain.nii.gz"), d = readVolume(tmp / "darker_matched.nii.gz");
  double differs = 0;
  for (std::size_t i = 0; i < c.voxelCount(); ++i) differs = std::max(differs, double(std::abs(c.data()[i] - d.data()[i])));
  EXPECT_GT(differs, 4 * moved0) << "a gamma near 1 moved the sCT by up to " << moved0 << " HU";
  EXPECT_FALSE(plain.convert(tmp / "darker.nii.gz", tmp / "again.nii.gz").medianMatchGamma.has_value());

  // The batch's status.json carries each case's gamma.
  writeTextAtomically(tmp / "m.csv", "id,mr\ndarker,darker.nii.gz\n");
  std::string out, err;
  ASSERT_EQ(cli({"convert", "--model", model.string(), "--manifest", (tmp / "m.csv").string(), "--out-dir",
                 (tmp / "out").string(), "--solver", "euler", "--steps", "2", "--match-median"},
                &out, &err),
            0)
      << err;
  const auto status = nlohmann::json::parse(readTextFile(tmp / "out" / "status.json"));
  EXPECT_NEAR(status.at(0).at("median_match_gamma").get<double>(), *moved.medianMatchGamma, 1e-9);

  // A model that cannot say where its training MRs' median lies is refused, naming it.
  o.model = saveRandomModel(tmp / "old", tinyConfig(2, 0));
  std::string message = test::thrownMessage<UsageError>([&] { Converter{o}; });
  EXPECT_NE(message.find("old"), std::string::npos) << message;
  EXPECT_NE(message.find("input reference"), std::string::npos) << message;
  auto nyulCfg = cfg;
  nyulCfg.preprocessing["mr_normalization"]["method"] = "nyul";
  nyulCfg.preprocessing["mr_normalization"]["standard_scale"] = {-1.0, -0.8, -0.6, -0.4, -0.2, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0};
  o.model = saveRandomModel(tmp / "nyul", nyulCfg);
  message = test::thrownMessage<UsageError>([&] { Converter{o}; });
  EXPECT_NE(message.find("percentile map only"), std::string::npos) << message;
}

// Issue 13, defect 2: `--output` equal to `--input` replaced the MR with the sCT (exit 0).
TEST(Convert, NeverWritesOverItsInputThroughAPathALinkOrAHardLink) {
  TempDir tmp;
  const auto model = saveRandomModel(tmp / "model", tinyConfig());
  writeVolume(phantomMr(), tmp / "mr.nii.gz");
  const std::string before = readTextFile(tmp / "mr.nii.gz");
  fs::create_symlink(tmp / "mr.nii.gz", tmp / "link.nii.gz");
  fs::create_hard_link(tmp / "mr.nii.gz", tmp / "hard.nii.gz");
  for (const std::string out : {"mr.nii.gz", "link.nii.gz", "hard.nii.gz", "./mr.nii.gz"}) {
    std::string err;
    const fs::path output = out == "./mr.nii.gz" ? tmp.path() / "." / "mr.nii.gz" : tmp / out;
    EXPECT_EQ(cli({"convert", "--model", model.string(), "--input", (tmp / "mr.nii.gz").string(), "--output",
                   output.string(), "--quiet"},
                  nullptr, &err),
              2)
        << out;
    EXPECT_NE(err.find("refusing to overwrite"), std::string::npos) << err;
  }
  EXPECT_EQ(readTextFile(tmp / "mr.nii.gz"), before);
  // a batch never writes over a file its manifest lists (here: case b's output is case a's MR)
  writeTextAtomically(tmp / "m.csv", "id,mr,ct,mask,split\nmr,mr.nii.gz,,,test\n");
  std::string err;
  EXPECT_EQ(cli({"convert", "--model", model.string(), "--manifest", (tmp / "m.csv").string(), "--out-dir",
                 tmp.path().string(), "--quiet"},
                nullptr, &err),
            2);
  EXPECT_NE(err.find("refusing to overwrite"), std::string::npos) << err;
  EXPECT_EQ(readTextFile(tmp / "mr.nii.gz"), before);
}

// Defects 9 and 10: a killed run's temporary is removed by the next run; output folders are created.
// `mr2ct run` writes every convert option with its value into config/convert.ini, the DICOM
// series options included; that file converts again as it stands (it was refused: "apply to
// --output-format dicom").
TEST(Convert, AResolvedConfigWithTheDicomDefaultsConvertsToAFile) {
  TempDir tmp;
  const auto model = saveRandomModel(tmp / "model", tinyConfig(2, 0));
  writeVolume(phantomMr(), tmp / "mr.nii.gz");
  writeTextAtomically(tmp / "convert.ini", "solver = euler\nsteps = 1\noutput-format = file\n"
                                           "series-description = sCT mr2ct, not for diagnosis\nseries-number = 901\n"
                                           "patient-id = \noverwrite = false\n");
  std::string err;
  EXPECT_EQ(cli({"convert", "--config", (tmp / "convert.ini").string(), "--model", model.string(), "--input",
                 (tmp / "mr.nii.gz").string(), "--output", (tmp / "sct.nii.gz").string(), "--quiet"},
                nullptr, &err),
            0)
      << err;
  // A real DICOM-only value with a file output is still refused.
  EXPECT_EQ(cli({"convert", "--model", model.string(), "--input", (tmp / "mr.nii.gz").string(), "--output",
                 (tmp / "sct2.nii.gz").string(), "--series-number", "5", "--quiet"},
                nullptr, &err),
            2);
  EXPECT_NE(err.find("apply to --output-format dicom"), std::string::npos) << err;
}

TEST(Convert, RemovesStaleTemporariesAndCreatesItsOutputFolders) {
  TempDir tmp;
  const auto model = saveRandomModel(tmp / "model", tinyConfig(2, 0));
  writeVolume(phantomMr(), tmp / "mr.nii.gz");
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  ASSERT_GT(dead, 0);
  int status = 0;
  waitpid(dead, &status, 0);  // reaped: this pid runs no more
  fs::create_directories(tmp / "new" / "deeper");
  const fs::path stale = tmp / "new" / "deeper" / (".sct.tmp-" + std::to_string(dead) + "-0.nii.gz");
  const fs::path live = tmp / "new" / "deeper" / (".sct.tmp-" + std::to_string(getpid()) + "-99.nii.gz");
  writeTextAtomically(stale, "half a file");
  writeTextAtomically(live, "another writer's file");
  std::string err;
  ASSERT_EQ(cli({"convert", "--model", model.string(), "--input", (tmp / "mr.nii.gz").string(), "--output",
                 (tmp / "new" / "deeper" / "sct.nii.gz").string(), "--solver", "euler", "--steps", "1", "--quiet"},
                nullptr, &err),
            0)
      << err;
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));  // its process still runs
  // the README's batch example on a fresh tree: --out-dir does not exist yet
  writeTextAtomically(tmp / "m.csv", "id,mr,ct,mask,split\na,mr.nii.gz,,,test\n");
  ASSERT_EQ(cli({"convert", "--model", model.string(), "--manifest", (tmp / "m.csv").string(), "--out-dir",
                 (tmp / "batch" / "sct").string(), "--solver", "euler", "--steps", "1", "--quiet"},
                nullptr, &err),
            0)
      << err;
  EXPECT_TRUE(fs::exists(tmp / "batch" / "sct" / "a.nii.gz"));
}

// Defect 4: one slice thinner than the model's grid gave "constant image (all voxels 0)".
TEST(Convert, OneThinSliceIsConvertedOnACoarserModelGrid) {
  TempDir tmp;
  ModelConfig c = tinyConfig(2, 0);
  c.preprocessing["spacing"] = {2.0, 2.0, 2.0};
  const auto model = saveRandomModel(tmp / "model", c);
  Volume mr = phantomMr({40, 36, 1});
  Geometry g = mr.geometry();
  g.spacing = {1.0, 1.0, 1.0};
  mr.setGeometry(g);
  writeVolume(mr, tmp / "slice.nii.gz");
  std::string err;
  ASSERT_EQ(cli({"convert", "--model", model.string(), "--input", (tmp / "slice.nii.gz").string(), "--output",
                 (tmp / "sct.nii.gz").string(), "--solver", "euler", "--steps", "1", "--quiet"},
                nullptr, &err),
            0)
      << err;
  const Volume sct = readVolume(tmp / "sct.nii.gz");
  EXPECT_EQ(sct.size(), mr.size());
  std::size_t body = 0;
  for (float v : sct.voxels()) body += v != -1000.0f;
  EXPECT_GT(body, sct.voxelCount() / 10);
}

// Defects 1 and 6 end to end: a scaled int16 NIfTI without orientation codes, written by nibabel,
// converts, and the sCT carries the input's shape, affine and codes as nibabel reads them.
TEST(Convert, ScaledNiftiFromNibabelConvertsAndKeepsItsHeader) {
  if (std::system("/usr/bin/python3 -c 'import nibabel' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3-nibabel is missing (scripts/install-deps.sh installs it)";
  TempDir tmp;
  const auto model = saveRandomModel(tmp / "model", tinyConfig(2, 0));
  writeVolume(phantomMr(), tmp / "ours.nii");
  const std::string py =
      "import nibabel as nib, numpy as np, sys\n"
      "src = nib.load(sys.argv[1]); d = src.get_fdata()\n"
      "for name, q, s in [('codes00', 0, 0), ('codes20', 2, 0), ('codes14', 1, 4)]:\n"
      "    img = nib.Nifti1Image(d, src.affine); img.set_data_dtype('i2')\n"
      "    img.set_qform(src.affine if q else None, code=q); img.set_sform(src.affine if s else None, code=s)\n"
      "    nib.save(img, sys.argv[2] + '/' + name + '.nii.gz')\n";
  writeTextAtomically(tmp / "make.py", py);
  ASSERT_EQ(std::system(("/usr/bin/python3 " + (tmp / "make.py").string() + " " + (tmp / "ours.nii").string() + " " +
                         tmp.path().string())
                            .c_str()),
            0);
  for (const std::string name : {"codes00", "codes20", "codes14"}) {
    std::string err;
    ASSERT_EQ(cli({"convert", "--model", model.string(), "--input", (tmp / (name + ".nii.gz")).string(), "--output",
                   (tmp / (name + "_sct.nii.gz")).string(), "--solver", "euler", "--steps", "1", "--quiet"},
                  nullptr, &err),
              0)
        << name << ": " << err;
  }
  const std::string check =
      "import nibabel as nib, numpy as np, sys\n"
      "bad = 0\n"
      "for name in ['codes00', 'codes20', 'codes14']:\n"
      "    a = nib.load(sys.argv[1] + '/' + name + '.nii.gz'); b = nib.load(sys.argv[1] + '/' + name + '_sct.nii.gz')\n"
      "    same = a.shape == b.shape and np.array_equal(a.affine, b.affine)\n"
      "    same = same and [int(a.header[k]) for k in ('qform_code', 'sform_code')] == "
      "[int(b.header[k]) for k in ('qform_code', 'sform_code')]\n"
      "    if not same: print(name, a.shape, b.shape, a.affine, b.affine, a.header['qform_code'], b.header['qform_code']); bad += 1\n"
      "sys.exit(bad)\n";
  writeTextAtomically(tmp / "check.py", check);
  EXPECT_EQ(std::system(("/usr/bin/python3 " + (tmp / "check.py").string() + " " + tmp.path().string()).c_str()), 0);
}

}  // namespace
}  // namespace mr2ct
