// End to end `preprocess` on tiny synthetic MR/CT pairs built here: a head-like ellipsoid (brain,
// dark skull, scalp, an off-centre ventricle) written as an MR on one grid and as a CT on another
// grid (other spacing, z flipped, optionally shifted by a known translation).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <random>
#include <tuple>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/pipeline/Preprocess.h"
#include "mr2ct/pipeline/StoreMerge.h"
#include "mr2ct/preprocessing/Statistics.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/TestSupport.h"

namespace fs = std::filesystem;

namespace mr2ct {
namespace {

struct Tissue {
  float mr, hu;
};

/// The anatomy at a physical point (mm).
Tissue anatomy(const Vec3& p) {
  const double dx = (p[0] - 31) / 24, dy = (p[1] - 31) / 20, dz = (p[2] - 23) / 16;
  const double r = std::sqrt(dx * dx + dy * dy + dz * dz);
  const double v = std::sqrt((p[0] - 38) * (p[0] - 38) + (p[1] - 26) * (p[1] - 26) + (p[2] - 20) * (p[2] - 20));
  if (r > 1.0) return {3, -1000};
  if (r > 0.85) return {180, -60};
  if (r > 0.72) return {10, 1200};
  if (v < 6) return {60, 5};
  return {150, 35};
}

Volume sample(const Geometry& g, bool ct, const Vec3& shift = {0, 0, 0}) {
  Volume v(g);
  for (std::size_t z = 0; z < g.size[2]; ++z)
    for (std::size_t y = 0; y < g.size[1]; ++y)
      for (std::size_t x = 0; x < g.size[0]; ++x) {
        Vec3 p = g.indexToPhysical({double(x), double(y), double(z)});
        for (int a = 0; a < 3; ++a) p[a] -= shift[a];
        const Tissue t = anatomy(p);
        v.at(x, y, z) = ct ? t.hu : t.mr;
      }
  return v;
}

Geometry mrGrid() {
  Geometry g;
  g.size = {32, 32, 24};
  g.spacing = {2, 2, 2};
  return g;
}

/// CT grid: 2.5 mm, z axis flipped (as a feet-first scan), covering the MR's box with a margin.
Geometry ctGrid() {
  Geometry g;
  g.size = {30, 30, 26};
  g.spacing = {2.5, 2.5, 2.5};
  g.origin = {-5, -5, 55};
  g.direction = {1, 0, 0, 0, 1, 0, 0, 0, -1};
  return g;
}

/// Writes <id>_mr.nii.gz / <id>_ct.nii.gz and returns the manifest line.
std::string writePair(const fs::path& dir, const std::string& id, const Vec3& shift = {0, 0, 0}, float ctOffset = 0) {
  writeVolume(sample(mrGrid(), false), dir / (id + "_mr.nii.gz"));
  Volume ct = sample(ctGrid(), true, shift);
  for (auto& v : ct.voxels()) v += ctOffset;
  writeVolume(ct, dir / (id + "_ct.nii.gz"));
  return id + "," + id + "_mr.nii.gz," + id + "_ct.nii.gz,,train\n";
}

/// Voxel centres of the MR grid whose ±3 mm cube (27 points) is one tissue: interpolation is exact there.
std::vector<std::size_t> interiorVoxels(const Geometry& g) {
  std::vector<std::size_t> out;
  for (std::size_t z = 0; z < g.size[2]; ++z)
    for (std::size_t y = 0; y < g.size[1]; ++y)
      for (std::size_t x = 0; x < g.size[0]; ++x) {
        const Vec3 p = g.indexToPhysical({double(x), double(y), double(z)});
        const float hu = anatomy(p).hu;
        bool uniform = hu != -1000;
        for (double dx : {-3.0, 0.0, 3.0})
          for (double dy : {-3.0, 0.0, 3.0})
            for (double dz : {-3.0, 0.0, 3.0})
              uniform = uniform && anatomy({p[0] + dx, p[1] + dy, p[2] + dz}).hu == hu;
        if (uniform) out.push_back(g.linearIndex(x, y, z));
      }
  return out;
}

PreprocessOptions options(const fs::path& manifest, const fs::path& out, RegistrationKind kind) {
  PreprocessOptions o;
  o.manifest = manifest;
  o.out = out;
  o.registration.kind = kind;
  return o;
}

TEST(Preprocess, AlignedPairEndToEndWithQaAndExactRecords) {
  test::TempDir dir;
  std::ofstream(dir / "m.csv") << "id,mr,ct,mask,split\n" << writePair(dir.path(), "p1");
  auto o = options(dir / "m.csv", dir / "store.h5", RegistrationKind::None);
  o.qaDir = dir / "qa";
  const auto summary = runPreprocess(o);
  ASSERT_EQ(summary.count("ok"), 1u) << summary.cases[0].error;
  EXPECT_EQ(summary.exitCode(), 0);

  const TrainingStore s = TrainingStore::open(dir / "store.h5");
  ASSERT_EQ(s.caseIds(), std::vector<std::string>{"p1"});
  const auto& info = s.info("p1");
  EXPECT_TRUE(info.geometry.sameAs(mrGrid())) << info.geometry.differenceFrom(mrGrid());
  EXPECT_EQ(s.rootAttributes()["preprocessing_options"], o.toJson());

  // CT back to HU through the stored record equals the anatomy where interpolation is exact.
  const auto ctNorm = CtNormalization::fromJson(info.attributes["ct_normalization"]);
  const Volume ctHu = ctNorm.invert(s.readVolume("p1", "ct"));
  const auto interior = interiorVoxels(info.geometry);
  ASSERT_GT(interior.size(), 150u);
  for (std::size_t i : interior) {
    const Vec3 p = info.geometry.indexToPhysical(
        {double(i % 32), double((i / 32) % 32), double(i / (32 * 32))});
    ASSERT_NEAR(ctHu.data()[i], anatomy(p).hu, 0.5) << "voxel " << i;
  }
  // MR record inverts to the input intensities.
  const auto mrRec = MrNormalizationRecord::fromJson(info.attributes["mr_normalization"]);
  const Volume mrStored = s.readVolume("p1", "mr");
  const Volume mrIn = readVolume(dir / "p1_mr.nii.gz");
  for (std::size_t i = 0; i < mrIn.voxelCount(); i += 5) ASSERT_NEAR(mrRec.inverse(mrStored.data()[i]), mrIn.data()[i], 1e-3);

  // Body mask covers the head (skull and ventricle included), the CT is valid inside it.
  const Mask mask = s.readMask("p1", "mask");
  EXPECT_EQ(mask.at(15, 15, 11), 1);
  EXPECT_EQ(mask.at(0, 0, 0), 0);
  const double headMl = 4.0 / 3.0 * M_PI * 24 * 20 * 16 / 1000.0;
  EXPECT_NEAR(info.attributes["body_mask"]["volume_ml"].get<double>(), headMl, 0.1 * headMl);
  EXPECT_DOUBLE_EQ(info.attributes["qa"]["ct_valid_fraction_in_mask"].get<double>(), 1.0);

  EXPECT_TRUE(fs::exists(dir / "qa/p1_qa.png"));
  EXPECT_TRUE(fs::exists(dir / "qa/p1.tfm"));
  const std::string qa = readTextFile(dir / "qa/qa.csv");
  EXPECT_EQ(qa.rfind("id,split,status", 0), 0u);
  EXPECT_NE(qa.find("p1,train,ok"), std::string::npos) << qa;
}

TEST(Preprocess, BadCasesFailAloneAndResumeKeepsFinishedCases) {
  test::TempDir dir;
  std::string rows = writePair(dir.path(), "good");
  rows += writePair(dir.path(), "offset", {0, 0, 0}, 1024.0f);  // CT stored without the -1024 intercept
  {
    Volume nan = sample(mrGrid(), false);
    nan.at(3, 3, 3) = std::numeric_limits<float>::quiet_NaN();
    writeVolume(nan, dir / "nan_mr.mha");  // MetaImage keeps NaN as written
    writeVolume(sample(ctGrid(), true), dir / "nan_ct.nii.gz");
    rows += "nan,nan_mr.mha,nan_ct.nii.gz,,val\n";
  }
  rows += "noct,good_mr.nii.gz,,,test\n";
  std::ofstream(dir / "m.csv") << "id,mr,ct,mask,split\n" << rows;
  auto o = options(dir / "m.csv", dir / "store.h5", RegistrationKind::None);
  o.qaDir = dir / "qa";
  o.jobs = 2;
  const auto s1 = runPreprocess(o);
  EXPECT_EQ(s1.count("ok"), 1u);
  EXPECT_EQ(s1.count("failed"), 2u);
  EXPECT_EQ(s1.count("skipped"), 1u);
  EXPECT_EQ(s1.exitCode(), 3);
  EXPECT_NE(s1.cases[1].error.find("no value below 0 HU"), std::string::npos) << s1.cases[1].error;
  EXPECT_NE(s1.cases[2].error.find("nan_mr.mha"), std::string::npos) << s1.cases[2].error;
  EXPECT_EQ(TrainingStore::open(dir / "store.h5").caseIds(), std::vector<std::string>{"good"});
  const std::string qa = readTextFile(dir / "qa/qa.csv");
  EXPECT_NE(qa.find("offset,train,failed"), std::string::npos) << qa;

  // Fix the offset CT and resume: "good" is kept, "offset" is done now, "nan" still fails.
  writeVolume(sample(ctGrid(), true), dir / "offset_ct.nii.gz");
  o.resume = true;
  const auto s2 = runPreprocess(o);
  EXPECT_EQ(s2.cases[0].status, "kept");
  EXPECT_EQ(s2.cases[1].status, "ok");
  EXPECT_EQ(s2.cases[2].status, "failed");
  const auto store = TrainingStore::open(dir / "store.h5");
  EXPECT_EQ(store.caseIds().size(), 2u);

  // Resuming with other options is refused, and the store is left as it was.
  o.plan.mrNormalization.method = "zscore";
  EXPECT_THROW(runPreprocess(o), UsageError);
  EXPECT_EQ(TrainingStore::open(dir / "store.h5").caseIds().size(), 2u);
}

// Issue 17: conversion reran N4 with default options whatever the store was made with. Now the
// store's plan survives its JSON (as a model folder holds it) and the same prepareMr gives the
// very tensor preprocess stored.
TEST(Preprocess, ConversionPreparesTheMrExactlyAsPreprocessDid) {
  test::TempDir dir;
  std::ofstream(dir / "m.csv") << "id,mr,ct,mask,split\n" << writePair(dir.path(), "case");
  auto o = options(dir / "m.csv", dir / "store.h5", RegistrationKind::None);
  BiasFieldOptions n4;
  n4.shrinkFactor = 2;
  n4.iterations = {6, 4};
  n4.controlPoints = 5;
  o.plan.biasField = n4;
  o.plan.mrNormalization.method = "zscore";
  o.plan.spacing = Vec3{2.5, 2.0, 3.0};
  const Manifest manifest = readManifest(dir / "m.csv");
  const PreprocessedCase stored = preprocessCase(manifest.cases[0], o);
  const PreprocessPlan plan = PreprocessPlan::fromJson(nlohmann::json::parse(o.toJson().dump()), "config.json");
  EXPECT_EQ(plan.toJson(), o.plan.toJson());
  ASSERT_TRUE(plan.biasField.has_value());
  EXPECT_EQ(plan.biasField->iterations, n4.iterations);
  const PreparedMr converted = prepareMr(readVolume(manifest.cases[0].mr), plan, "mr");
  ASSERT_TRUE(converted.normalized.geometry().sameAs(stored.mr.geometry(), 0));
  EXPECT_EQ(converted.normalized.voxels(), stored.mr.voxels());
  // A plan written before the plan had a version (config.json of older models) keeps its N4 options.
  nlohmann::json old = o.toJson();
  old.erase("plan_version");
  EXPECT_EQ(PreprocessPlan::fromJson(old, "old").biasField->shrinkFactor, 2);
  old["plan_version"] = PreprocessPlan::kFormatVersion + 1;
  EXPECT_THROW(PreprocessPlan::fromJson(old, "new"), DataError);
}

/// An MR of the anatomy with Gaussian noise (so its deciles are distinct), through `contrast`.
void writeNoisyMr(const fs::path& file, unsigned seed, double gamma = 1.0) {
  Volume mr = sample(mrGrid(), false);
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 6.0f);
  for (auto& v : mr.voxels()) v = float(200.0 * std::pow(std::max(1.0, double(v + noise(rng))) / 200.0, gamma));
  writeVolume(mr, file);
}

/// Two train MRs ("a" as written, "b" with gamma bGamma) and a val MR "v" with gamma 0.5, each with
/// a CT, listed in dir/m.csv: the fits must use a and b alone.
void writeStandardManifest(const fs::path& dir, double bGamma) {
  std::ofstream manifest(dir / "m.csv");
  manifest << "id,mr,ct,mask,split\n";
  for (const auto& [id, seed, gamma, split] : {std::tuple{"a", 1u, 1.0, "train"}, std::tuple{"b", 2u, bGamma, "train"},
                                               std::tuple{"v", 3u, 0.5, "val"}}) {
    writeNoisyMr(dir / (std::string(id) + "_mr.nii.gz"), seed, gamma);
    writeVolume(sample(ctGrid(), true), dir / (std::string(id) + "_ct.nii.gz"));
    manifest << id << "," << id << "_mr.nii.gz," << id << "_ct.nii.gz,," << split << "\n";
  }
}

// Issue 15: --mr-norm nyul fits its standard scale on the manifest's train MRs alone, before the
// cases run, and writes it into the plan: train copies the plan into the model and convert
// prepares an MR with it. Shards of one manifest fit the same scale, so they merge.
TEST(Preprocess, NyulStandardScaleComesFromTheTrainMrsAndTravelsInThePlan) {
  test::TempDir dir;
  writeStandardManifest(dir.path(), 1.0);
  auto o = options(dir / "m.csv", dir / "store.h5", RegistrationKind::None);
  o.plan.mrNormalization.method = "nyul";
  const auto summary = runPreprocess(o);
  ASSERT_EQ(summary.count("ok"), 3u) << summary.cases[0].error << summary.cases[2].error;
  const TrainingStore s = TrainingStore::open(dir / "store.h5");
  const nlohmann::json storeOptions = s.rootAttributes()["preprocessing_options"];
  const PreprocessPlan plan = PreprocessPlan::fromJson(storeOptions, "store.h5");
  ASSERT_EQ(plan.mrNormalization.standardScale.size(), MrNormalizationRule::kNyulLandmarks) << storeOptions.dump();

  // The scale is the train MRs' own: their landmarks in their stored masks, fitted alone. The val MR
  // (gamma 0.5: its deciles sit much higher between the ends) would have moved it.
  std::vector<std::vector<double>> train;
  for (const char* id : {"a", "b"})
    train.push_back(nyulLandmarks(readVolume(dir / (std::string(id) + "_mr.nii.gz")), s.readMask(id, "mask"),
                                  plan.mrNormalization));
  const std::vector<double> expected = fitNyulStandardScale(train);
  // Preprocess takes the landmarks after the float32 percentile map (an affine map the fit cancels).
  for (std::size_t k = 0; k < expected.size(); ++k)
    EXPECT_NEAR(plan.mrNormalization.standardScale[k], expected[k], 1e-5) << k;
  auto withVal = train;
  withVal.push_back(nyulLandmarks(readVolume(dir / "v_mr.nii.gz"), s.readMask("v", "mask"), plan.mrNormalization));
  EXPECT_GT(fitNyulStandardScale(withVal)[5] - expected[5], 0.03);

  // The val MR's deciles inside its mask land on the scale, and its record inverts to the file.
  const Volume stored = s.readVolume("v", "mr");
  const Mask mask = s.readMask("v", "mask");
  const auto landed = percentiles(stored.data(), stored.voxelCount(), plan.mrNormalization.nyulPercentiles(), mask.data());
  for (std::size_t k = 0; k < landed.size(); ++k) EXPECT_NEAR(landed[k], expected[k], 0.01) << "landmark " << k;
  const auto record = MrNormalizationRecord::fromJson(s.info("v").attributes["mr_normalization"]);
  const Volume raw = readVolume(dir / "v_mr.nii.gz");
  for (std::size_t i = 0; i < raw.voxelCount(); i += 7) ASSERT_NEAR(record.inverse(stored.data()[i]), raw.data()[i], 1e-3);

  // Conversion prepares the val MR from the plan alone into the very tensor preprocess stored.
  const PreparedMr converted = prepareMr(raw, plan, "v_mr.nii.gz");
  EXPECT_EQ(converted.normalized.voxels(), stored.voxels());

  // Shards fit the same scale (each reads every train MR), so their stores merge.
  o.shardCount = 2;
  for (int i = 0; i < 2; ++i) {
    o.shardIndex = i;
    runPreprocess(o);
  }
  EXPECT_EQ(TrainingStore::open(dir / "store.shard0of2.h5").rootAttributes()["preprocessing_options"], storeOptions);
  EXPECT_EQ(TrainingStore::open(dir / "store.shard1of2.h5").rootAttributes()["preprocessing_options"], storeOptions);

  // No train MR: one line naming the manifest.
  std::ofstream(dir / "val_only.csv") << "id,mr,ct,mask,split\nv,v_mr.nii.gz,v_ct.nii.gz,,val\n";
  auto valOnly = options(dir / "val_only.csv", dir / "val_only.h5", RegistrationKind::None);
  valOnly.plan.mrNormalization.method = "nyul";
  const std::string message = test::thrownMessage<DataError>([&] { runPreprocess(valOnly); });
  EXPECT_NE(message.find("val_only.csv"), std::string::npos) << message;
  EXPECT_NE(message.find("nyul"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir / "val_only.h5"));
}

// Issue 15: --mr-norm gamma fits its median position on the train MRs alone, the same way, and
// conversion prepares an MR from the plan into the tensor preprocess stored.
TEST(Preprocess, GammaMedianPositionComesFromTheTrainMrsAndTravelsInThePlan) {
  test::TempDir dir;
  writeStandardManifest(dir.path(), 0.8);
  auto o = options(dir / "m.csv", dir / "store.h5", RegistrationKind::None);
  o.plan.mrNormalization.method = "gamma";
  const auto summary = runPreprocess(o);
  ASSERT_EQ(summary.count("ok"), 3u) << summary.cases[0].error << summary.cases[2].error;
  const TrainingStore s = TrainingStore::open(dir / "store.h5");
  const PreprocessPlan plan = PreprocessPlan::fromJson(s.rootAttributes()["preprocessing_options"], "store.h5");
  const MrNormalizationRule& rule = plan.mrNormalization;
  ASSERT_FALSE(std::isnan(rule.medianPosition));

  std::vector<double> train;
  for (const char* id : {"a", "b"})
    train.push_back(mrMedianPosition(readVolume(dir / (std::string(id) + "_mr.nii.gz")), s.readMask(id, "mask"), rule));
  EXPECT_NEAR(rule.medianPosition, fitMedianPosition(train), 1e-5);
  const double val = mrMedianPosition(readVolume(dir / "v_mr.nii.gz"), s.readMask("v", "mask"), rule);
  EXPECT_GT(std::abs(val - rule.medianPosition), 0.03) << "the val MR must differ for the test to mean anything";

  // The val MR's median inside its mask lands on the position; its record inverts to the file.
  const Volume stored = s.readVolume("v", "mr");
  const Mask mask = s.readMask("v", "mask");
  const auto landed = percentiles(stored.data(), stored.voxelCount(), {50.0}, mask.data());
  EXPECT_NEAR(landed[0], 2 * rule.medianPosition - 1, 0.01);
  const auto record = MrNormalizationRecord::fromJson(s.info("v").attributes["mr_normalization"]);
  const Volume raw = readVolume(dir / "v_mr.nii.gz");
  for (std::size_t i = 0; i < raw.voxelCount(); i += 7) ASSERT_NEAR(record.inverse(stored.data()[i]), raw.data()[i], 1e-2);
  const PreparedMr converted = prepareMr(raw, plan, "v_mr.nii.gz");
  EXPECT_EQ(converted.normalized.voxels(), stored.voxels());

  std::ofstream(dir / "val_only.csv") << "id,mr,ct,mask,split\nv,v_mr.nii.gz,v_ct.nii.gz,,val\n";
  auto valOnly = options(dir / "val_only.csv", dir / "val_only.h5", RegistrationKind::None);
  valOnly.plan.mrNormalization.method = "gamma";
  const std::string message = test::thrownMessage<DataError>([&] { runPreprocess(valOnly); });
  EXPECT_NE(message.find("val_only.csv"), std::string::npos) << message;
  EXPECT_NE(message.find("gamma"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir / "val_only.h5"));
}

TEST(Preprocess, RigidRegistrationRecoversAKnownShift) {
  test::TempDir dir;
  const Vec3 shift{4.0, -3.0, 2.5};
  std::ofstream(dir / "m.csv") << "id,mr,ct,mask,split\n" << writePair(dir.path(), "moved", shift);
  auto o = options(dir / "m.csv", dir / "store.h5", RegistrationKind::Rigid);
  o.registration.rotationSearch = false;  // small known shift; the search is tested with registration
  // A 32x32x24 grid: two levels (a 4x shrink leaves 8x8x6 voxels) and more samples.
  o.registration.shrinkFactors = {2, 1};
  o.registration.smoothingSigmasMm = {2.0, 0.0};
  o.registration.samplingPercentage = 0.3;
  const auto summary = runPreprocess(o);
  ASSERT_EQ(summary.count("ok"), 1u) << summary.cases[0].error;
  const auto store = TrainingStore::open(dir / "store.h5");
  const auto& reg = store.info("moved").attributes["registration"];
  ASSERT_TRUE(reg.contains("offset")) << reg.dump();
  // T(p) = M·p + b should be p + shift: check at the head's centre.
  const auto m = reg["matrix"].get<Mat3>();
  const auto b = reg["offset"].get<Vec3>();
  const Vec3 c{31, 31, 23};
  for (int a = 0; a < 3; ++a) {
    const double mapped = m[a * 3] * c[0] + m[a * 3 + 1] * c[1] + m[a * 3 + 2] * c[2] + b[a];
    EXPECT_NEAR(mapped - c[a], shift[a], 1.0) << "axis " << a << " " << reg.dump();
  }
}

// Issue 14: `preprocess --shard i/N` tasks write their own stores (and qa files); merged, they hold
// the cases and arrays of one unsharded run. Stores that do not belong together are refused, naming
// the file.
TEST(Preprocess, ShardStoresMergeIntoTheUnshardedStore) {
  test::TempDir dir;
  std::string rows;
  for (int i = 0; i < 5; ++i) rows += writePair(dir.path(), "c" + std::to_string(i), {double(i) * 0.5, 0, 0});
  std::ofstream(dir / "m.csv") << "id,mr,ct,mask,split\n" << rows;
  auto o = options(dir / "m.csv", dir / "whole.h5", RegistrationKind::None);
  ASSERT_EQ(runPreprocess(o).count("ok"), 5u);
  o.out = dir / "part.h5";
  o.qaDir = dir / "qa";
  o.shardCount = 3;
  std::vector<fs::path> shards;
  for (int i : {2, 0, 1}) {
    o.shardIndex = i;
    const auto s = runPreprocess(o);
    EXPECT_EQ(s.cases.size(), i < 2 ? 2u : 1u);  // positions i, i+3
    shards.push_back(o.storePath());
    EXPECT_EQ(o.storePath().filename().string(), "part.shard" + std::to_string(i) + "of3.h5");
    EXPECT_TRUE(fs::exists(dir / ("qa/qa.shard" + std::to_string(i) + "of3.csv")));
  }
  EXPECT_FALSE(fs::exists(dir / "part.h5"));
  EXPECT_EQ(TrainingStore::open(shards[1]).caseIds(), (std::vector<std::string>{"c0", "c3"}));

  StoreMergeOptions m;
  m.inputs = shards;  // shards 2, 0, 1: the order given does not matter
  m.out = dir / "merged.h5";
  const StoreMergeSummary summary = mergeStores(m);
  EXPECT_EQ(summary.cases, 5u);
  EXPECT_EQ(summary.shards, 3);
  const TrainingStore whole = TrainingStore::open(dir / "whole.h5"), merged = TrainingStore::open(m.out);
  ASSERT_EQ(merged.caseIds(), whole.caseIds());
  EXPECT_EQ(merged.rootAttributes()["preprocessing_options"], whole.rootAttributes()["preprocessing_options"]);
  EXPECT_EQ(merged.rootAttributes()["manifest"], whole.rootAttributes()["manifest"]);
  EXPECT_EQ(merged.rootAttributes()["merged_from"].size(), 3u);
  for (const auto& id : whole.caseIds()) {
    EXPECT_EQ(merged.info(id).split, whole.info(id).split);
    EXPECT_TRUE(merged.info(id).geometry.sameAs(whole.info(id).geometry));
    EXPECT_EQ(merged.info(id).attributes["mr_normalization"], whole.info(id).attributes["mr_normalization"]);
    for (const char* ds : {"mr", "ct"}) EXPECT_EQ(merged.readVolume(id, ds).voxels(), whole.readVolume(id, ds).voxels()) << id << ds;
    for (const char* ds : {"mask", "valid"}) EXPECT_EQ(merged.readMask(id, ds).voxels(), whole.readMask(id, ds).voxels()) << id << ds;
  }

  auto refused = [&](std::vector<fs::path> inputs, const std::string& out) {
    StoreMergeOptions bad;
    bad.inputs = std::move(inputs);
    bad.out = dir / out;
    const bool existed = fs::exists(bad.out);
    const std::string message = test::thrownMessage<UsageError>([&] { mergeStores(bad); });
    EXPECT_EQ(fs::exists(bad.out), existed) << message;
    return message;
  };
  EXPECT_NE(refused({shards[0], shards[1]}, "x.h5").find("shard 1/3 is missing"), std::string::npos);
  EXPECT_NE(refused({shards[0], shards[1], shards[2], shards[1]}, "x.h5").find("given twice"), std::string::npos);
  EXPECT_NE(refused({dir / "whole.h5", shards[0]}, "x.h5").find("is in both"), std::string::npos);
  EXPECT_NE(refused(shards, "merged.h5").find("exists"), std::string::npos);
  // A whole store among shards (either order): its cases are no shard of this manifest.
  std::ofstream(dir / "other.csv") << "id,mr,ct,mask,split\n" << writePair(dir.path(), "d0");
  runPreprocess(options(dir / "other.csv", dir / "other.h5", RegistrationKind::None));
  for (const auto& mixed : {std::vector<fs::path>{dir / "other.h5", shards[0], shards[1], shards[2]},
                            std::vector<fs::path>{shards[0], shards[1], shards[2], dir / "other.h5"}}) {
    const std::string message = refused(mixed, "x.h5");
    EXPECT_NE(message.find("other.h5 is a whole store"), std::string::npos) << message;
  }
  EXPECT_EQ(TrainingStore::open(m.out).caseIds().size(), 5u);
  o.plan.mrNormalization.method = "zscore";
  o.shardIndex = 0;
  o.out = dir / "zscore.h5";
  runPreprocess(o);
  const std::string other = refused({shards[0], shards[2], o.storePath()}, "x.h5");
  EXPECT_NE(other.find("zscore.shard0of3.h5"), std::string::npos) << other;
  EXPECT_NE(other.find("mr_normalization"), std::string::npos) << other;
}

}  // namespace
}  // namespace mr2ct
