// Reads the real files in $MR2CT_DATA_DIR and checks the properties their SOURCE.md states.
#include <gtest/gtest.h>

#include "mr2ct/preprocessing/Statistics.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

void expectVec(const Vec3& got, const Vec3& want, double tol) {
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(got[i], want[i], tol) << "component " << i;
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

}  // namespace
}  // namespace mr2ct
