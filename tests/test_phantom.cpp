// The paired head phantom: per-tissue CT values, MR contrast, determinism, the saved transform and
// the data set written to disk.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "mr2ct/core/Error.h"
#include "mr2ct/phantom/HeadPhantom.h"
#include "mr2ct/preprocessing/Resampling.h"
#include "mr2ct/preprocessing/Statistics.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

// Voxels of class `cls` whose 26 neighbours carry the same label: away from partial volume (the
// phantom's PSF mixes a voxel with its edge neighbours too, and bone is 1400 HU brighter than CSF).
std::vector<std::uint8_t> core(const Volume& labels, int cls) {
  const auto& n = labels.size();
  std::vector<std::uint8_t> m(labels.voxelCount(), 0);
  const float c = float(cls);
  for (std::size_t z = 1; z + 1 < n[2]; ++z)
    for (std::size_t y = 1; y + 1 < n[1]; ++y)
      for (std::size_t x = 1; x + 1 < n[0]; ++x) {
        bool all = true;
        for (int dz = -1; dz <= 1 && all; ++dz)
          for (int dy = -1; dy <= 1 && all; ++dy)
            for (int dx = -1; dx <= 1 && all; ++dx) all = labels.at(x + dx, y + dy, z + dz) == c;
        m[labels.geometry().linearIndex(x, y, z)] = all;
      }
  return m;
}

// p5, p50, p95 of `image` over the core voxels of `cls`.
std::vector<double> classPercentiles(const Volume& image, const Volume& labels, int cls) {
  const auto m = core(labels, cls);
  return percentiles(image.data(), image.voxelCount(), {5, 50, 95}, m.data());
}

// One default-size case shared by the tests that only read it.
class PhantomCaseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    PhantomOptions o;
    o.seed = 7;
    c_ = new PhantomCase(generatePhantomCase(o, 0));
  }
  static void TearDownTestSuite() {
    delete c_;
    c_ = nullptr;
  }
  static PhantomCase* c_;
};
PhantomCase* PhantomCaseTest::c_ = nullptr;

TEST_F(PhantomCaseTest, GridsAndMisalignment) {
  const PhantomCase& c = *c_;
  EXPECT_EQ(c.ct.size(), (std::array<std::size_t, 3>{128, 128, 96}));
  EXPECT_TRUE(c.ctLabels.geometry().sameAs(c.ct.geometry()));
  EXPECT_TRUE(c.mrLabels.geometry().sameAs(c.mr.geometry()));
  EXPECT_TRUE(c.mrMask.geometry().sameAs(c.mr.geometry()));
  for (int i = 0; i < 3; ++i) {
    EXPECT_DOUBLE_EQ(c.ct.geometry().spacing[i], 1.5);
    EXPECT_GE(c.mr.geometry().spacing[i], 1.2);
    EXPECT_LE(c.mr.geometry().spacing[i], 1.8);
  }
  EXPECT_GT(c.rotationDeg, 0.0);
  EXPECT_LE(c.rotationDeg, 10.0);
  EXPECT_GT(c.translationMm, 0.0);
  EXPECT_LE(c.translationMm, 15.0 + 1e-9);
  EXPECT_EQ(c.mrToCt.kind(), "rigid");
  // Every class of the anatomy is present on both grids.
  for (int l : {kAir, kCsf, kGreyMatter, kWhiteMatter, kFat, kMuscle, kSkin, kCorticalBone, kMarrow, kInternalAir, kEye}) {
    std::size_t nCt = 0, nMr = 0;
    for (float v : c.ctLabels.voxels()) nCt += v == float(l);
    for (float v : c.mrLabels.voxels()) nMr += v == float(l);
    EXPECT_GT(nCt, 100u) << phantomLabelName(l);
    EXPECT_GT(nMr, 100u) << phantomLabelName(l);
  }
}

TEST_F(PhantomCaseTest, CtHounsfieldUnitsPerTissue) {
  const PhantomCase& c = *c_;
  // class -> allowed median range and p5/p95 bounds (HU)
  const std::map<int, std::array<double, 4>> want{
      {kAir, {-1010, -990, -1030, -970}},         {kCsf, {0, 20, -15, 35}},
      {kGreyMatter, {32, 48, 20, 60}},            {kWhiteMatter, {20, 36, 8, 48}},
      {kFat, {-120, -80, -140, -60}},             {kMuscle, {35, 60, 20, 75}},
      {kCorticalBone, {1100, 1700, 900, 1850}},   {kMarrow, {180, 420, 80, 600}},
      {kEye, {0, 25, -10, 40}}};
  for (const auto& [cls, w] : want) {
    const auto p = classPercentiles(c.ct, c.ctLabels, cls);
    SCOPED_TRACE(phantomLabelName(cls) + " p5/p50/p95 " + std::to_string(p[0]) + " " + std::to_string(p[1]) + " " +
                 std::to_string(p[2]));
    EXPECT_GE(p[1], w[0]);
    EXPECT_LE(p[1], w[1]);
    EXPECT_GE(p[0], w[2]);
    EXPECT_LE(p[2], w[3]);
  }
  // Grey matter denser than white matter; bone has texture (not one value).
  EXPECT_GT(classPercentiles(c.ct, c.ctLabels, kGreyMatter)[1], classPercentiles(c.ct, c.ctLabels, kWhiteMatter)[1] + 5);
  const auto bone = classPercentiles(c.ct, c.ctLabels, kCorticalBone);
  EXPECT_GT(bone[2] - bone[0], 100);
  // Integer HU in the int16 CT range.
  EXPECT_GE(c.ct.range().min, -1024.f);
  EXPECT_LE(c.ct.range().max, 3071.f);
  for (std::size_t i = 0; i < c.ct.voxelCount(); i += 97) ASSERT_EQ(c.ct.data()[i], std::nearbyint(c.ct.data()[i]));
}

TEST_F(PhantomCaseTest, MrT1ContrastOrdering) {
  const PhantomCase& c = *c_;
  auto median = [&](int cls) { return classPercentiles(c.mr, c.mrLabels, cls)[1]; };
  const double fat = median(kFat), wm = median(kWhiteMatter), gm = median(kGreyMatter), csf = median(kCsf);
  const double bone = median(kCorticalBone), air = median(kAir), sinus = median(kInternalAir);
  EXPECT_GT(fat, 1.5 * wm);
  EXPECT_GT(wm, 1.1 * gm);
  EXPECT_GT(gm, 1.5 * csf);
  // Bone and air both dark: the ambiguity that makes MR -> CT a genuine problem.
  EXPECT_LT(bone, 0.2 * wm);
  EXPECT_LT(air, 0.2 * wm);
  EXPECT_LT(sinus, 0.2 * wm);
  EXPECT_LT(std::abs(bone - air), 0.15 * wm);
  // Rician noise: no negative values, a noise floor in the air.
  EXPECT_GE(c.mr.range().min, 0.f);
  EXPECT_GT(air, 0.0);
}

TEST_F(PhantomCaseTest, MrHasSmoothBias) {
  // White matter's intensity varies smoothly across the head (bias), beyond the noise.
  const PhantomCase& c = *c_;
  const auto m = core(c.mrLabels, kWhiteMatter);
  const auto& n = c.mr.size();
  double lo[2] = {0, 0};
  std::size_t cnt[2] = {0, 0};
  for (std::size_t z = 0; z < n[2]; ++z)
    for (std::size_t y = 0; y < n[1]; ++y)
      for (std::size_t x = 0; x < n[0]; ++x) {
        const std::size_t i = c.mr.geometry().linearIndex(x, y, z);
        if (!m[i]) continue;
        const int half = z < n[2] / 2 ? 0 : 1;
        lo[half] += c.mr.data()[i];
        ++cnt[half];
      }
  ASSERT_GT(cnt[0] * cnt[1], 0u);
  const double a = lo[0] / double(cnt[0]), b = lo[1] / double(cnt[1]);
  EXPECT_GT(std::abs(a - b) / std::max(a, b), 0.005);
}

TEST_F(PhantomCaseTest, MaskIsTheHead) {
  const PhantomCase& c = *c_;
  for (std::size_t i = 0; i < c.mrMask.voxelCount(); ++i)
    ASSERT_EQ(c.mrMask.data()[i] != 0, c.mrLabels.data()[i] != float(kAir)) << i;
  EXPECT_GT(c.mrMask.count(), c.mrMask.voxelCount() / 5);
}

TEST_F(PhantomCaseTest, TransformMapsCtAnatomyOntoMr) {
  // Resample the CT labels through the true transform onto the MR grid: they must agree with the MR's
  // own labels (computed independently from the analytic anatomy) and with the MR's contrast.
  const PhantomCase& c = *c_;
  const Volume warped = resampleVolume(c.ctLabels, c.mr.geometry(), c.mrToCt, Interpolation::Nearest, float(kAir));
  std::size_t agree = 0, inside = 0;
  for (std::size_t i = 0; i < warped.voxelCount(); ++i) {
    if (c.mrLabels.data()[i] == float(kAir) && warped.data()[i] == float(kAir)) continue;
    ++inside;
    agree += warped.data()[i] == c.mrLabels.data()[i];
  }
  const double aligned = double(agree) / double(inside);
  EXPECT_GT(aligned, 0.85);
  // Without the transform the anatomy does not line up: the test can fail.
  const Volume unaligned = resampleVolume(c.ctLabels, c.mr.geometry(), SpatialTransform::identity(),
                                          Interpolation::Nearest, float(kAir));
  std::size_t agree0 = 0, inside0 = 0;
  for (std::size_t i = 0; i < unaligned.voxelCount(); ++i) {
    if (c.mrLabels.data()[i] == float(kAir) && unaligned.data()[i] == float(kAir)) continue;
    ++inside0;
    agree0 += unaligned.data()[i] == c.mrLabels.data()[i];
  }
  EXPECT_LT(double(agree0) / double(inside0), aligned - 0.15);
  // MR intensity ordering inside the CT's classes carried onto the MR grid.
  auto median = [&](int cls) { return classPercentiles(c.mr, warped, cls)[1]; };
  EXPECT_GT(median(kWhiteMatter), median(kGreyMatter));
  EXPECT_GT(median(kGreyMatter), median(kCsf));
  EXPECT_LT(median(kCorticalBone), 0.25 * median(kWhiteMatter));
  // The CT itself, resampled, is bright where the MR is dark bone.
  const Volume ctOnMr = resampleVolume(c.ct, c.mr.geometry(), c.mrToCt, Interpolation::Linear, -1024.f);
  EXPECT_GT(classPercentiles(ctOnMr, c.mrLabels, kCorticalBone)[1], 900);
  EXPECT_LT(classPercentiles(ctOnMr, c.mrLabels, kInternalAir)[1], -600);
}

PhantomOptions small(std::uint64_t seed) {
  PhantomOptions o;
  o.size = {56, 64, 48};
  o.spacing = 3.5;
  o.mrSpacingMin = 3.6;
  o.mrSpacingMax = 4.4;
  o.seed = seed;
  return o;
}

TEST(Phantom, DeterministicBySeedAndVariesBetweenCases) {
  const PhantomCase a = generatePhantomCase(small(11), 1);
  const PhantomCase b = generatePhantomCase(small(11), 1);
  EXPECT_EQ(a.ct.voxels(), b.ct.voxels());
  EXPECT_EQ(a.mr.voxels(), b.mr.voxels());
  EXPECT_EQ(a.mrLabels.voxels(), b.mrLabels.voxels());
  EXPECT_EQ(a.parametersJson, b.parametersJson);
  const PhantomCase other = generatePhantomCase(small(11), 2);
  const PhantomCase otherSeed = generatePhantomCase(small(12), 1);
  EXPECT_NE(a.ctLabels.voxels(), other.ctLabels.voxels());
  EXPECT_NE(a.ctLabels.voxels(), otherSeed.ctLabels.voxels());
  EXPECT_NE(a.rotationDeg, other.rotationDeg);
  // The shape varies smoothly: the head volume differs by a few percent, not by half.
  auto head = [](const PhantomCase& c) {
    std::size_t n = 0;
    for (float v : c.ctLabels.voxels()) n += v != float(kAir);
    return double(n);
  };
  const double ratio = head(a) / head(other);
  EXPECT_GT(ratio, 0.75);
  EXPECT_LT(ratio, 1.33);
  EXPECT_NE(ratio, 1.0);
}

TEST(Phantom, SplitIsSeededAndCoversValAndTest) {
  const auto s = phantomSplit(10, 3);
  EXPECT_EQ(s, phantomSplit(10, 3));
  std::map<std::string, int> n;
  for (const auto& x : s) ++n[x];
  EXPECT_EQ(n["train"], 6);
  EXPECT_EQ(n["val"], 2);  // round(1.5)
  EXPECT_EQ(n["test"], 2);
  for (std::size_t cases : {3u, 4u, 5u}) {
    std::map<std::string, int> m;
    for (const auto& x : phantomSplit(cases, 9)) ++m[x];
    EXPECT_GE(m["val"], 1);
    EXPECT_GE(m["test"], 1);
    EXPECT_GE(m["train"], 1);
  }
  EXPECT_EQ(phantomSplit(1, 1), std::vector<std::string>{"train"});
}

TEST(Phantom, InvalidOptionsAreRefused) {
  PhantomOptions o;
  o.size = {8, 128, 96};
  EXPECT_THROW(o.validate(), UsageError);
  o = PhantomOptions{};
  o.spacing = 0.5;  // 64 mm field of view: the head does not fit
  EXPECT_THROW(o.validate(), UsageError);
  o = PhantomOptions{};
  o.mrSpacingMin = 2;
  o.mrSpacingMax = 1;
  EXPECT_THROW(o.validate(), UsageError);
}

TEST(Phantom, DatasetOnDiskWithManifestAndTransform) {
  test::TempDir dir;
  PhantomDatasetOptions o;
  o.out = dir / "set";
  o.cases = 3;
  o.phantom = small(5);
  const auto cases = writePhantomDataset(o);
  ASSERT_EQ(cases.size(), 3u);
  std::ifstream in(o.out / "manifest.csv");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "id,mr,ct,mask,split");
  std::map<std::string, int> splits;
  for (const auto& c : cases) {
    std::getline(in, line);
    EXPECT_EQ(line, c.id + "," + c.id + "/mr.nii.gz," + c.id + "/ct.nii.gz," + c.id + "/mask.nii.gz," + c.split);
    ++splits[c.split];
    for (const char* f : {"mr.nii.gz", "ct.nii.gz", "mask.nii.gz", "labels.nii.gz", "true_transform.tfm", "meta.json"})
      EXPECT_TRUE(std::filesystem::exists(c.dir / f)) << c.id << "/" << f;
  }
  EXPECT_EQ(splits["train"], 1);
  EXPECT_EQ(splits["val"], 1);
  EXPECT_EQ(splits["test"], 1);
  // The files hold what generatePhantomCase makes, the CT as int16 HU; the .tfm round-trips.
  const PhantomCase c1 = generatePhantomCase(o.phantom, 1);
  const auto d = o.out / "case001";
  EXPECT_EQ(readVolumeInfo(d / "ct.nii.gz").pixelType, "int16");
  EXPECT_EQ(readVolumeInfo(d / "labels.nii.gz").pixelType, "uint8");
  EXPECT_EQ(readVolume(d / "ct.nii.gz").voxels(), c1.ct.voxels());
  EXPECT_EQ(readVolume(d / "labels.nii.gz").voxels(), c1.ctLabels.voxels());
  const Volume mr = readVolume(d / "mr.nii.gz");
  EXPECT_TRUE(mr.geometry().sameAs(c1.mr.geometry()));
  EXPECT_EQ(readMask(d / "mask.nii.gz").voxels(), c1.mrMask.voxels());
  const SpatialTransform t = SpatialTransform::load(d / "true_transform.tfm");
  EXPECT_LT(t.meanDistance(c1.mrToCt, c1.mr.geometry()), 1e-6);
  const auto meta = nlohmann::json::parse(std::ifstream(d / "meta.json"));
  EXPECT_EQ(meta["id"], "case001");
  EXPECT_EQ(meta["options"]["seed"], 5);
  // Same seed, same files.
  PhantomDatasetOptions again = o;
  again.out = dir / "again";
  writePhantomDataset(again);
  EXPECT_EQ(readVolume(again.out / "case002" / "mr.nii.gz").voxels(), readVolume(o.out / "case002" / "mr.nii.gz").voxels());
}

}  // namespace
}  // namespace mr2ct
