// models/BoneLevelHarmonization: each train head's bone brought to the train heads' common level.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "mr2ct/core/Error.h"
#include "mr2ct/models/BoneLevelHarmonization.h"

using namespace mr2ct;

namespace {

constexpr double kThreshold = 0.125;  // exact in float, so the strict comparison is testable

// One slice of 10 voxels per z, 2 slices: bone values `bone` in the first voxels of slice 0, soft
// tissue and air elsewhere, all inside the body and the field of view.
InMemoryDataSource::Case headCase(const std::string& split, const std::vector<float>& bone) {
  InMemoryDataSource::Case c;
  c.split = split;
  c.shape = {2, 1, 10};
  c.ct.assign(20, 0.0f);
  c.ct[10] = -1.0f;  // air
  c.ct[11] = 0.05f;  // soft tissue, below the threshold
  for (std::size_t i = 0; i < bone.size(); ++i) c.ct[i] = bone[i];
  c.mr.assign(20, 0.3f);
  c.mask.assign(20, 1.0f);
  c.valid.assign(20, 1.0f);
  return c;
}

std::vector<float> read(const TrainingDataSource& s, const std::string& id, const std::string& dataset) {
  const auto shape = s.shape(id);
  std::vector<float> v(std::size_t(shape[0] * shape[1] * shape[2]));
  s.readSlices(id, dataset, 0, shape[0], v.data());
  return v;
}

}  // namespace

TEST(BoneLevel, IsTheNinetiethPercentileOfBodyVoxelsAboveTheThreshold) {
  // Ten bone voxels 0.2, 0.3, ..., 1.1: the nearest-rank 90th percentile is the 9th, 1.0.
  std::vector<float> ct, body, valid;
  for (int i = 0; i < 10; ++i) ct.push_back(0.2f + 0.1f * float(i));
  body.assign(10, 1.0f);
  valid.assign(10, 1.0f);
  ct.push_back(0.05f);  // soft tissue: below the threshold, not bone
  ct.push_back(5.0f);   // outside the body
  ct.push_back(6.0f);   // outside the CT's field of view
  body.insert(body.end(), {1.0f, 0.0f, 1.0f});
  valid.insert(valid.end(), {1.0f, 1.0f, 0.0f});
  EXPECT_NEAR(boneLevel(ct, body, valid, kThreshold, "x"), 1.0, 1e-6);
  // The threshold is strict, as the metrics' bone class.
  EXPECT_TRUE(std::isnan(boneLevel({0.125f, 0.05f}, {1.0f, 1.0f}, {1.0f, 1.0f}, kThreshold, "x")));
  EXPECT_THROW(boneLevel(ct, body, {1.0f}, kThreshold, "x"), DataError);
}

TEST(BoneLevel, HarmonizingMovesBoneOnlyAndPutsTheLevelOnTheCommonOne) {
  std::vector<float> ct{-1.0f, 0.05f, 0.125f, 0.3f, 0.5f};
  harmonizeBoneLevel(ct.data(), int64_t(ct.size()), kThreshold, 0.5, 0.3);
  // Above the threshold, distances to it shrink by (0.3 - t) / (0.5 - t); continuous at it.
  const double factor = (0.3 - kThreshold) / (0.5 - kThreshold);
  EXPECT_FLOAT_EQ(ct[0], -1.0f);
  EXPECT_FLOAT_EQ(ct[1], 0.05f);
  EXPECT_FLOAT_EQ(ct[2], 0.125f);
  EXPECT_NEAR(ct[3], kThreshold + (0.3 - kThreshold) * factor, 1e-6);
  EXPECT_NEAR(ct[4], 0.3, 1e-6);
  // A level that is no bone level leaves the CT alone.
  std::vector<float> same{0.5f};
  harmonizeBoneLevel(same.data(), 1, kThreshold, std::nan(""), 0.3);
  EXPECT_FLOAT_EQ(same[0], 0.5f);
}

TEST(BoneLevel, SourceBringsEveryTrainCaseToTheMedianLevelAndLeavesValAlone) {
  InMemoryDataSource data;
  // Levels (p90 of 10 bone voxels = the 9th smallest): 0.5, 0.7, 0.9 -> median 0.7.
  auto bone = [](float top) {
    std::vector<float> v(10, 0.2f);
    v[8] = top;
    v[9] = top + 0.2f;
    return v;
  };
  data.addCase("a", headCase("train", bone(0.5f)));
  data.addCase("b", headCase("train", bone(0.7f)));
  data.addCase("c", headCase("train", bone(0.9f)));
  data.addCase("flat", headCase("train", {}));  // no bone: kept, and not counted
  data.addCase("v", headCase("val", bone(0.9f)));
  const BoneLevelHarmonizedSource h(data, kThreshold);

  EXPECT_NEAR(h.commonLevel(), 0.7, 1e-6);
  EXPECT_NEAR(h.caseLevels().at("a"), 0.5, 1e-6);
  EXPECT_TRUE(std::isnan(h.caseLevels().at("flat")));
  EXPECT_EQ(h.caseLevels().count("v"), 0u);
  for (const char* id : {"a", "b", "c"}) {
    const auto ct = read(h, id, "ct");
    const auto body = read(h, id, "mask");
    EXPECT_NEAR(boneLevel(ct, body, read(h, id, "valid"), kThreshold, id), 0.7, 1e-6) << id;
    EXPECT_FLOAT_EQ(ct[10], -1.0f) << id;  // air and soft tissue as stored
    EXPECT_FLOAT_EQ(ct[11], 0.05f) << id;
  }
  // Case a's bone is stretched by (0.7 - t) / (0.5 - t) about the threshold t.
  EXPECT_NEAR(read(h, "a", "ct")[0], kThreshold + (0.2 - kThreshold) * (0.7 - kThreshold) / (0.5 - kThreshold), 1e-6);
  EXPECT_EQ(read(h, "flat", "ct"), read(data, "flat", "ct"));
  EXPECT_EQ(read(h, "v", "ct"), read(data, "v", "ct"));  // validation scores the true CT
  EXPECT_EQ(read(h, "a", "mr"), read(data, "a", "mr"));
  EXPECT_EQ(h.caseIds("train"), data.caseIds("train"));

  // A read of the second slice alone is the second half of a whole read.
  std::vector<float> second(10);
  h.readSlices("c", "ct", 1, 1, second.data());
  const auto whole = read(h, "c", "ct");
  EXPECT_EQ(second, std::vector<float>(whole.begin() + 10, whole.end()));
}

TEST(BoneLevel, SourceWithoutAnyTrainBonePassesEveryReadThrough) {
  InMemoryDataSource data("phantoms.h5");
  data.addCase("flat", headCase("train", {}));
  auto fat = headCase("train", {});
  fat.ct[3] = 0.1f;  // below the strict threshold: still no bone
  data.addCase("fat", fat);
  data.addCase("v", headCase("val", {0.9f}));  // bone in val does not count: it is not trained on
  const BoneLevelHarmonizedSource h(data, kThreshold);
  EXPECT_FALSE(h.hasBone());
  EXPECT_TRUE(std::isnan(h.commonLevel()));
  for (const char* id : {"flat", "fat", "v"}) EXPECT_EQ(read(h, id, "ct"), read(data, id, "ct")) << id;
}
