// Reads the real files in $MR2CT_DATA_DIR and checks the properties their SOURCE.md states.
#include <gtest/gtest.h>
#include <itkEuler3DTransform.h>
#include <itkTransformFileReader.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "mr2ct/preprocessing/Statistics.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

void expectVec(const Vec3& got, const Vec3& want, double tol) {
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(got[i], want[i], tol) << "component " << i;
}

using Size3 = std::array<std::size_t, 3>;

void expectDirectionDiag(const Geometry& g, const Vec3& diag) {
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(g.direction[r * 3 + c], r == c ? diag[r] : 0.0, 1e-6) << r << "," << c;
}

// Voxel count of every label value in a label volume.
std::map<int, std::size_t> labelCounts(const Volume& labels) {
  std::map<int, std::size_t> n;
  for (float v : labels.voxels()) ++n[int(v)];
  return n;
}

// Median of `image` over the core voxels of class `cls`: the voxel and its 6 face neighbours all carry
// the label (SOURCE.md's "class region eroded by one voxel").
double classMedian(const Volume& image, const Volume& labels, int cls) {
  const auto& n = labels.size();
  std::vector<std::uint8_t> m(labels.voxelCount(), 0);
  const float c = float(cls);
  for (std::size_t z = 1; z + 1 < n[2]; ++z)
    for (std::size_t y = 1; y + 1 < n[1]; ++y)
      for (std::size_t x = 1; x + 1 < n[0]; ++x)
        m[labels.geometry().linearIndex(x, y, z)] =
            labels.at(x, y, z) == c && labels.at(x - 1, y, z) == c && labels.at(x + 1, y, z) == c &&
            labels.at(x, y - 1, z) == c && labels.at(x, y + 1, z) == c && labels.at(x, y, z - 1) == c &&
            labels.at(x, y, z + 1) == c;
  return percentiles(image.data(), image.voxelCount(), {50}, m.data())[0];
}

bool allIntegers(const Volume& v) {
  for (float x : v.voxels())
    if (x != std::nearbyint(x)) return false;
  return true;
}

// The paired sets (brainweb20-paired, nyhead-roast-paired, invesalius-cranium-ct-paired) share one
// layout: mr_t1, ct (int16 HU clipped to [-1024, 3071]), mask and labels (uint8) on one grid.
struct Pair {
  Volume mr, ct, mask, labels;
};
Pair readPair(const std::filesystem::path& dir, const Size3& size, double spacing) {
  Pair p;
  for (const auto& [name, want] : std::vector<std::pair<std::string, std::string>>{
           {"mr_t1", "int16"}, {"ct", "int16"}, {"mask", "uint8"}, {"labels", "uint8"}}) {
    const auto info = readVolumeInfo(dir / (name + ".nii.gz"));
    EXPECT_EQ(info.format, "NIfTI") << name;
    EXPECT_EQ(info.pixelType, want) << name;
    EXPECT_EQ(info.byteOrder, "little") << name;
  }
  p.mr = readVolume(dir / "mr_t1.nii.gz");
  p.ct = readVolume(dir / "ct.nii.gz");
  p.mask = readVolume(dir / "mask.nii.gz");
  p.labels = readVolume(dir / "labels.nii.gz");
  for (const Volume* v : {&p.mr, &p.ct, &p.mask, &p.labels}) {
    EXPECT_EQ(v->size(), size);
    expectVec(v->geometry().spacing, {spacing, spacing, spacing}, 1e-5);
    EXPECT_TRUE(v->geometry().sameAs(p.mr.geometry())) << v->geometry().differenceFrom(p.mr.geometry());
  }
  EXPECT_GE(p.ct.range().min, -1024.f);
  EXPECT_LE(p.ct.range().max, 3071.f);
  EXPECT_GE(p.mr.range().min, 0.f);
  EXPECT_EQ(p.mask.range().min, 0.f);
  EXPECT_EQ(p.mask.range().max, 1.f);
  EXPECT_GE(p.labels.range().min, 0.f);
  EXPECT_LE(p.labels.range().max, 20.f);
  EXPECT_TRUE(allIntegers(p.labels));
  return p;
}

TEST(RealDataIO, PorcinePhantomCtAndMr) {
  MR2CT_REQUIRE_DATA(data);
  const auto dir = data / "mri-dir-porcine-phantom";
  const VolumeInfo ctInfo = readVolumeInfo(dir / "ct.nii.gz");
  EXPECT_EQ(ctInfo.format, "NIfTI");
  EXPECT_EQ(ctInfo.pixelType, "int16");
  const Volume ct = readVolume(dir / "ct.nii.gz");
  EXPECT_EQ(ct.size(), (std::array<std::size_t, 3>{256, 256, 204}));
  expectVec(ct.geometry().spacing, {0.78125, 0.78125, 1.25}, 1e-5);
  expectVec(ct.geometry().origin, {-99.80, 99.41, -121.94}, 0.01);
  EXPECT_NEAR(ct.geometry().direction[4], -1.0, 1e-6);
  EXPECT_EQ(ct.range().min, -1024.f);
  EXPECT_EQ(ct.range().max, 3071.f);
  const auto p = percentiles(ct.data(), ct.voxelCount(), {1, 50, 99});
  EXPECT_NEAR(p[0], -1024, 1);
  EXPECT_NEAR(p[1], -974, 2);
  EXPECT_NEAR(p[2], 288, 2);

  const Volume mr = readVolume(dir / "mr_t2.nii.gz");
  EXPECT_EQ(mr.size(), (std::array<std::size_t, 3>{256, 256, 94}));
  expectVec(mr.geometry().spacing, {1.0, 1.0, 2.5}, 1e-5);
  expectVec(mr.geometry().origin, {-129.0, 144.3, -129.35}, 0.01);
  EXPECT_EQ(mr.range().min, 0.f);
  EXPECT_EQ(mr.range().max, 3545.f);
}

TEST(RealDataIO, BigEndianNifti) {
  MR2CT_REQUIRE_DATA(data);
  const auto path = data / "nibabel-anatomical" / "anatomical.nii";
  const VolumeInfo info = readVolumeInfo(path);
  EXPECT_EQ(info.byteOrder, "big");
  EXPECT_EQ(info.pixelType, "int16");
  const Volume v = readVolume(path);
  EXPECT_EQ(v.size(), (std::array<std::size_t, 3>{33, 41, 25}));
  expectVec(v.geometry().spacing, {2, 2, 2}, 1e-6);
  expectVec(v.geometry().origin, {-32, 40, -16}, 1e-4);
  EXPECT_EQ(v.range().min, -610.f);
  EXPECT_EQ(v.range().max, 30393.f);
  const auto p = percentiles(v.data(), v.voxelCount(), {50});
  EXPECT_NEAR(p[0], 8935, 2);
}

TEST(RealDataIO, DicomSliceInHounsfieldUnits) {
  MR2CT_REQUIRE_DATA(data);
  const auto path = data / "pydicom-ct-small" / "CT_small.dcm";
  const Volume v = readVolume(path);
  EXPECT_EQ(v.size(), (std::array<std::size_t, 3>{128, 128, 1}));
  EXPECT_NEAR(v.geometry().spacing[0], 0.661468, 1e-5);
  expectVec(v.geometry().origin, {-158.136, -179.036, -75.7}, 1e-3);
  EXPECT_EQ(v.range().min, -896.f);  // rescale intercept -1024 applied
  EXPECT_EQ(v.range().max, 1167.f);
  EXPECT_NEAR(percentiles(v.data(), v.voxelCount(), {50})[0], 2, 1);
}

TEST(RealDataIO, DicomFolderOfOneSlice) {
  MR2CT_REQUIRE_DATA(data);
  test::TempDir dir;
  std::filesystem::copy_file(data / "pydicom-ct-small" / "CT_small.dcm", dir / "IM0001.dcm");
  const Volume v = readVolume(dir.path());
  EXPECT_EQ(v.size(), (std::array<std::size_t, 3>{128, 128, 1}));
  EXPECT_EQ(v.range().min, -896.f);
}

TEST(RealDataIO, BrainwebAnatomicalModel) {
  MR2CT_REQUIRE_DATA(data);
  // One of the 15 models (each 57 M voxels); they share the grid, SOURCE.md lists the class counts.
  const auto path = data / "brainweb20-anatomical" / "subject04_crisp_v.nii.gz";
  const VolumeInfo info = readVolumeInfo(path);
  EXPECT_EQ(info.pixelType, "uint8");
  EXPECT_EQ(info.byteOrder, "little");
  const Volume v = readVolume(path);
  EXPECT_EQ(v.size(), (Size3{362, 434, 362}));
  expectVec(v.geometry().spacing, {0.5, 0.5, 0.5}, 1e-6);
  expectVec(v.geometry().origin, {90.25, 126.25, -72.25}, 1e-4);  // RAS (-90.25, -126.25, -72.25) in LPS
  expectDirectionDiag(v.geometry(), {-1, -1, 1});
  const std::map<int, std::size_t> want{{0, 25853417}, {1, 2893804}, {2, 7709189}, {3, 5174874},
                                        {4, 847517},   {5, 1547783}, {6, 7489846}, {7, 2294932},
                                        {8, 208240},   {9, 503097},  {10, 413636}, {11, 1936761}};
  EXPECT_EQ(labelCounts(v), want);
  // The other models: same header.
  for (const char* s : {"subject05", "subject53"}) {
    const auto other = readVolumeInfo(data / "brainweb20-anatomical" / (std::string(s) + "_crisp_v.nii.gz"));
    EXPECT_TRUE(other.geometry.sameAs(v.geometry())) << s << ": " << other.geometry.differenceFrom(v.geometry());
  }
}

TEST(RealDataIO, BrainwebPairedCase) {
  MR2CT_REQUIRE_DATA(data);
  const Pair p = readPair(data / "brainweb20-paired" / "subject04", {90, 108, 90}, 2.0);
  expectVec(p.ct.geometry().origin, {89.5, 125.5, -71.5}, 1e-4);  // RAS (-89.5, -125.5, -71.5)
  expectDirectionDiag(p.ct.geometry(), {-1, -1, 1});
  // SOURCE.md's measured class medians (all 15 cases pooled; one case sits close to them).
  const double wm = classMedian(p.mr, p.labels, 3);
  EXPECT_NEAR(wm, 194, 194 * 0.1);  // the case's WM level
  const std::vector<std::tuple<int, double, double, double, double>> classes{
      // class, CT median, tolerance HU, MR/WM median, tolerance
      {0, -1000, 5, 0.04, 0.03}, {1, 11, 12, 0.34, 0.08}, {2, 37, 8, 0.79, 0.08},
      {3, 28, 8, 1.00, 0.001},   {6, 43, 15, 0.84, 0.1},  {7, 1406, 120, 0.04, 0.05},
      {11, 324, 100, 1.06, 0.2}};
  for (const auto& [cls, hu, huTol, mr, mrTol] : classes) {
    EXPECT_NEAR(classMedian(p.ct, p.labels, cls), hu, huTol) << "class " << cls;
    EXPECT_NEAR(classMedian(p.mr, p.labels, cls) / wm, mr, mrTol) << "class " << cls;
  }
  // Bone and air both dark in the MR, far apart in the CT: the problem mr2ct solves.
  EXPECT_LT(classMedian(p.mr, p.labels, 7), 0.2 * wm);
  EXPECT_LT(classMedian(p.mr, p.labels, 0), 0.2 * wm);
}

TEST(RealDataIO, NyheadSegmentation) {
  MR2CT_REQUIRE_DATA(data);
  const auto path = data / "nyhead-roast" / "nyhead_T1orT2_masks.nii.gz";
  const VolumeInfo info = readVolumeInfo(path);
  EXPECT_EQ(info.pixelType, "uint8");
  EXPECT_EQ(info.geometry.size, (Size3{394, 466, 620}));
  expectVec(info.geometry.spacing, {0.5, 0.5, 0.5}, 1e-6);
  expectVec(info.geometry.origin, {98, 134, -193}, 1e-4);  // RAS (-98, -134, -193)
  expectDirectionDiag(info.geometry, {-1, -1, 1});
  const Volume v = readVolume(path);
  const std::map<int, std::size_t> want{{0, 64920307}, {1, 5430929}, {2, 7815082}, {3, 2818933},
                                        {4, 5016395},  {5, 27304560}, {6, 528274}};
  EXPECT_EQ(labelCounts(v), want);
}

TEST(RealDataIO, NyheadPairedCase) {
  MR2CT_REQUIRE_DATA(data);
  const Pair p = readPair(data / "nyhead-roast-paired" / "nyhead", {97, 116, 151}, 2.0);
  expectVec(p.ct.geometry().origin, {96.75, 132.25, -192.25}, 1e-4);
  const double wm = classMedian(p.mr, p.labels, 3);
  EXPECT_NEAR(wm, 135, 135 * 0.1);
  const std::vector<std::tuple<int, double, double, double, double>> classes{
      {0, -1000, 5, 0.04, 0.03},     {1, 11, 10, 0.35, 0.05},   {2, 34, 5, 0.74, 0.05},
      {7, 1032, 60, 0.18, 0.08},     {11, 181, 30, 1.06, 0.08}, {12, -996, 10, 0.04, 0.03},
      {20, 26, 10, 0.95, 0.08}};
  for (const auto& [cls, hu, huTol, mr, mrTol] : classes) {
    EXPECT_NEAR(classMedian(p.ct, p.labels, cls), hu, huTol) << "class " << cls;
    EXPECT_NEAR(classMedian(p.mr, p.labels, cls) / wm, mr, mrTol) << "class " << cls;
  }
}

TEST(RealDataIO, InvesaliusCraniumCt) {
  MR2CT_REQUIRE_DATA(data);
  const auto path = data / "invesalius-cranium-ct" / "Cranium.nii.gz";
  EXPECT_EQ(readVolumeInfo(path).pixelType, "int16");
  const Volume v = readVolume(path);
  EXPECT_EQ(v.size(), (Size3{256, 256, 108}));
  expectVec(v.geometry().spacing, {0.9570312, 0.9570312, 1.5}, 1e-5);
  expectVec(v.geometry().origin, {0, 0, 0}, 1e-6);
  expectDirectionDiag(v.geometry(), {-1, -1, 1});
  EXPECT_EQ(v.range().min, -1024.f);
  EXPECT_EQ(v.range().max, 2986.f);
  const auto p = percentiles(v.data(), v.voxelCount(), {1, 50, 99});
  EXPECT_NEAR(p[0], -1024, 1);
  EXPECT_NEAR(p[1], -994, 2);
  EXPECT_NEAR(p[2], 1210, 2);
}

TEST(RealDataIO, InvesaliusCraniumPairedCase) {
  MR2CT_REQUIRE_DATA(data);
  const Pair p = readPair(data / "invesalius-cranium-ct-paired" / "cranium", {105, 120, 81}, 2.0);
  expectVec(p.ct.geometry().origin, {-18.705, -2.436, 0.25}, 1e-3);  // RAS (18.705, 2.436, 0.25)
  const double wm = classMedian(p.mr, p.labels, 3);
  const std::vector<std::tuple<int, double, double, double, double>> classes{
      {1, -3, 5, 0.30, 0.05},  {2, 33, 5, 0.71, 0.05},   {3, 21, 5, 1.0, 0.001},
      {4, -84, 10, 2.03, 0.2}, {7, 1079, 60, 0.05, 0.05}, {11, 435, 40, 0.94, 0.1}};
  for (const auto& [cls, hu, huTol, mr, mrTol] : classes) {
    EXPECT_NEAR(classMedian(p.ct, p.labels, cls), hu, huTol) << "class " << cls;
    EXPECT_NEAR(classMedian(p.mr, p.labels, cls) / wm, mr, mrTol) << "class " << cls;
  }
}

TEST(RealDataIO, MricronCh2) {
  MR2CT_REQUIRE_DATA(data);
  const auto path = data / "mricron-ch2" / "ch2.nii.gz";
  EXPECT_EQ(readVolumeInfo(path).pixelType, "uint8");
  const Volume v = readVolume(path);
  EXPECT_EQ(v.size(), (Size3{181, 217, 181}));
  expectVec(v.geometry().spacing, {1, 1, 1}, 1e-6);
  expectVec(v.geometry().origin, {90, 125, -71}, 1e-4);
  expectDirectionDiag(v.geometry(), {-1, -1, 1});
  EXPECT_EQ(v.range().min, 0.f);
  EXPECT_EQ(v.range().max, 254.f);
  const auto p = percentiles(v.data(), v.voxelCount(), {50, 99});
  EXPECT_NEAR(p[0], 32, 1);
  EXPECT_NEAR(p[1], 164, 1);
}

TEST(RealDataIO, RireMrAndGroundTruthTransform) {
  MR2CT_REQUIRE_DATA(data);
  const auto dir = data / "rire-training-001";
  const VolumeInfo info = readVolumeInfo(dir / "training_001_mr_T1.mha");
  EXPECT_EQ(info.format, "MetaImage");
  EXPECT_EQ(info.pixelType, "int16");
  const Volume v = readVolume(dir / "training_001_mr_T1.mha");
  EXPECT_EQ(v.size(), (Size3{256, 256, 26}));
  expectVec(v.geometry().spacing, {1.25, 1.25, 4.0}, 1e-6);
  expectVec(v.geometry().origin, {0, 0, 0}, 1e-6);
  expectDirectionDiag(v.geometry(), {1, 1, 1});
  EXPECT_EQ(v.range().min, 2.f);
  EXPECT_EQ(v.range().max, 1626.f);
  const auto p = percentiles(v.data(), v.voxelCount(), {1, 50, 99});
  EXPECT_NEAR(p[0], 2, 1);
  EXPECT_NEAR(p[1], 32, 1);
  EXPECT_NEAR(p[2], 747, 2);

  // The ground truth CT->MR transform: an Euler3D with the stated parameters.
  auto reader = itk::TransformFileReaderTemplate<double>::New();
  reader->SetFileName((dir / "training_001_ct_to_mr_T1_ground_truth.tfm").string());
  reader->Update();
  ASSERT_EQ(reader->GetTransformList()->size(), 1u);
  const auto* t = dynamic_cast<const itk::Euler3DTransform<double>*>(reader->GetTransformList()->front().GetPointer());
  ASSERT_NE(t, nullptr);
  const double want[6] = {0.033179119426, 0.000752546655, -0.077500324582, 5.03685847, -17.49694636, -27.16499259};
  for (unsigned i = 0; i < 6; ++i) EXPECT_NEAR(t->GetParameters()[i], want[i], 1e-9) << i;
  // Its translation moves the CT origin (centre (0,0,0)) by t.
  const auto o = t->TransformPoint(itk::Point<double, 3>());
  EXPECT_NEAR(o[0], want[3], 1e-9);
  EXPECT_NEAR(o[2], want[5], 1e-9);
}

TEST(RealDataIO, VisibleHumanHeadCtAndMr) {
  MR2CT_REQUIRE_DATA(data);
  const auto dir = data / "visible-human-male-head";
  const VolumeInfo ctInfo = readVolumeInfo(dir / "vm_head_ct.mha");
  EXPECT_EQ(ctInfo.format, "MetaImage");
  EXPECT_EQ(ctInfo.pixelType, "int16");
  const Volume ct = readVolume(dir / "vm_head_ct.mha");
  EXPECT_EQ(ct.size(), (Size3{512, 512, 8}));
  expectVec(ct.geometry().spacing, {0.488281, 0.488281, 1.0}, 1e-5);
  expectVec(ct.geometry().origin, {-123, -125, 383}, 1e-3);
  expectDirectionDiag(ct.geometry(), {1, 1, 1});
  EXPECT_EQ(ct.range().min, 0.f);
  EXPECT_EQ(ct.range().max, 2669.f);
  const auto pc = percentiles(ct.data(), ct.voxelCount(), {50, 99});
  EXPECT_NEAR(pc[0], 84, 2);
  EXPECT_NEAR(pc[1], 2087, 3);

  const Volume mr = readVolume(dir / "vm_head_mri.mha");
  EXPECT_EQ(mr.size(), (Size3{256, 256, 33}));
  expectVec(mr.geometry().spacing, {1.01562, 1.01562, 5.0}, 1e-5);
  expectVec(mr.geometry().origin, {-130, -161.6, -74.9}, 1e-3);
  EXPECT_EQ(mr.range().min, 0.f);
  EXPECT_EQ(mr.range().max, 1134.f);
  const auto pm = percentiles(mr.data(), mr.voxelCount(), {50, 99});
  EXPECT_NEAR(pm[0], 7, 1);
  EXPECT_NEAR(pm[1], 589, 2);
}

TEST(RealDataIO, PairedManifestsListExistingFiles) {
  MR2CT_REQUIRE_DATA(data);
  for (const char* set : {"brainweb20-paired", "nyhead-roast-paired", "invesalius-cranium-ct-paired"}) {
    std::ifstream in(data / set / "manifest.csv");
    ASSERT_TRUE(in) << set;
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "id,mr,ct,mask,split") << set;
    int rows = 0;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      ++rows;
      std::stringstream ss(line);
      std::string field;
      for (int col = 0; std::getline(ss, field, ','); ++col)
        if (col >= 1 && col <= 3) {
          EXPECT_TRUE(std::filesystem::exists(data / set / field)) << set << ": " << field;
        }
    }
    EXPECT_GE(rows, 1) << set;
  }
}

}  // namespace
}  // namespace mr2ct
