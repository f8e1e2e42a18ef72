#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/Statistics.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

void expectSameGeometry(const Geometry& a, const Geometry& b) {
  EXPECT_EQ(a.size, b.size);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(a.spacing[i], b.spacing[i], 1e-6);
    EXPECT_NEAR(a.origin[i], b.origin[i], 1e-5);
  }
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(a.direction[i], b.direction[i], 1e-6);
}

class VolumeRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(VolumeRoundTrip, GeometryAndValuesSurvive) {
  test::TempDir dir;
  const Volume v = test::makeIdentifiableVolume();
  const auto path = dir / ("v" + GetParam());
  writeVolume(v, path);
  const Volume r = readVolume(path);
  expectSameGeometry(r.geometry(), v.geometry());
  ASSERT_EQ(r.voxelCount(), v.voxelCount());
  for (std::size_t i = 0; i < v.voxelCount(); ++i) ASSERT_EQ(r.data()[i], v.data()[i]) << "voxel " << i;
  EXPECT_EQ(r.at(6, 4, 2), 6 + 400 + 20000);
}

TEST_P(VolumeRoundTrip, Int16AndMask) {
  test::TempDir dir;
  Volume v = test::makeIdentifiableVolume({4, 3, 2});
  for (auto& x : v.voxels()) x = x * 0.1f - 1000.4f;  // HU-like, rounds to the nearest integer
  const auto path = dir / ("ct" + GetParam());
  writeVolume(v, path, {PixelType::Int16});
  EXPECT_EQ(readVolumeInfo(path).pixelType, "int16");
  const Volume r = readVolume(path);
  for (std::size_t i = 0; i < v.voxelCount(); ++i) ASSERT_EQ(r.data()[i], std::nearbyint(v.data()[i]));

  Mask m(v.geometry());
  m.at(1, 1, 1) = 1;
  m.at(3, 2, 0) = 1;
  const auto mp = dir / ("m" + GetParam());
  writeMask(m, mp);
  const Mask rm = readMask(mp);
  expectSameGeometry(rm.geometry(), m.geometry());
  EXPECT_EQ(rm.count(), 2u);
  EXPECT_EQ(rm.at(3, 2, 0), 1);
  EXPECT_EQ(readVolumeInfo(mp).pixelType, "uint8");
}

INSTANTIATE_TEST_SUITE_P(Formats, VolumeRoundTrip, ::testing::Values(".nii.gz", ".nii", ".mha", ".nrrd"),
                         [](const auto& format) {
                           std::string s = format.param.substr(1);
                           for (auto& c : s)
                             if (c == '.') c = '_';
                           return s;
                         });

TEST(VolumeIO, GeometryHelpers) {
  const Volume v = test::makeIdentifiableVolume();
  const auto& g = v.geometry();
  const Vec3 idx{2.5, 1.0, 2.0};
  const Vec3 p = g.indexToPhysical(idx);
  const Vec3 back = g.physicalToIndex(p);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(back[i], idx[i], 1e-9);
  Geometry lps;
  EXPECT_EQ(lps.orientationCode(), "LPS");
  Geometry ras;
  ras.direction = {-1, 0, 0, 0, -1, 0, 0, 0, 1};
  EXPECT_EQ(ras.orientationCode(), "RAS");
}

TEST(VolumeIO, MissingFileIsNamed) {
  try {
    readVolume("/no/such/file.nii.gz");
    FAIL();
  } catch (const IoError& e) {
    EXPECT_EQ(std::string(e.what()), "/no/such/file.nii.gz: file not found");
  }
}

TEST(VolumeIO, EmptyAndGarbageFiles) {
  test::TempDir dir;
  std::ofstream(dir / "empty.nii.gz").close();
  EXPECT_THROW(readVolume(dir / "empty.nii.gz"), IoError);
  std::ofstream(dir / "junk.nii") << std::string(400, 'x');
  EXPECT_THROW(readVolume(dir / "junk.nii"), Error);
  std::ofstream(dir / "junk.txt") << "hello";
  EXPECT_THROW(readVolume(dir / "junk.txt"), IoError);
}

TEST(VolumeIO, TruncatedFilesAreRefused) {
  test::TempDir dir;
  const Volume v = test::makeIdentifiableVolume({40, 30, 20});
  for (const std::string ext : {".nii.gz", ".mha", ".nii"}) {
    const auto path = dir / ("v" + ext);
    writeVolume(v, path, {PixelType::Float32, false});
    const auto size = std::filesystem::file_size(path);
    std::filesystem::resize_file(path, size / 2);
    EXPECT_THROW(readVolume(path), Error) << ext;
  }
}

TEST(VolumeIO, TruncationIsNamedWithByteCounts) {
  test::TempDir dir;
  const Volume v = test::makeIdentifiableVolume({40, 30, 20});
  const std::uint64_t payload = 40 * 30 * 20 * 4;
  for (const std::string ext : {".nii.gz", ".nii", ".mha"}) {
    const auto path = dir / ("t" + ext);
    writeVolume(v, path, {PixelType::Float32, false});
    std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
    try {
      readVolume(path);
      FAIL() << ext;
    } catch (const IoError& e) {
      const std::string m = e.what();
      EXPECT_EQ(m.rfind(path.string() + ": truncated: expected " + std::to_string(payload) + " bytes", 0), 0u) << m;
    }
  }
}

TEST(VolumeIO, TruncatedCompressedMetaImageAndNrrdRefused) {
  test::TempDir dir;
  const Volume v = test::makeIdentifiableVolume({40, 30, 20});
  for (const std::string ext : {".mha", ".nrrd"}) {
    for (const bool compress : {false, true}) {
      const auto path = dir / ("c" + std::to_string(compress) + ext);
      writeVolume(v, path, {PixelType::Float32, compress});
      std::filesystem::resize_file(path, std::filesystem::file_size(path) * 2 / 3);
      EXPECT_THROW(readVolume(path), Error) << ext << " compress=" << compress;
    }
  }
}

TEST(VolumeIO, MultiMemberGzipNiftiIsComplete) {
  // Concatenated gzip members are one valid stream (gzip -c a >> b); the trailer then holds only
  // the last member's size, so the integrity check must count the bytes instead of refusing.
  test::TempDir dir;
  const Volume v = test::makeIdentifiableVolume({40, 30, 20});
  writeVolume(v, dir / "whole.nii", {PixelType::Float32, false});
  std::ifstream in(dir / "whole.nii", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto multi = dir / "multi.nii.gz";
  for (const auto& [from, to] : {std::pair<std::size_t, std::size_t>{0, 1000}, {1000, bytes.size()}}) {
    gzFile f = gzopen(multi.string().c_str(), "ab");
    ASSERT_NE(f, nullptr);
    gzwrite(f, bytes.data() + from, unsigned(to - from));
    gzclose(f);
  }
  const Volume r = readVolume(multi);
  EXPECT_EQ(r.voxels(), v.voxels());
}

TEST(VolumeIO, NiftiByteOrderReported) {
  test::TempDir dir;
  writeVolume(test::makeIdentifiableVolume(), dir / "le.nii.gz");
  EXPECT_EQ(readVolumeInfo(dir / "le.nii.gz").byteOrder, "little");
}

TEST(VolumeIO, NonFiniteVoxelsRefusedUnlessAllowed) {
  test::TempDir dir;
  Volume v = test::makeIdentifiableVolume();
  v.at(1, 2, 1) = std::numeric_limits<float>::quiet_NaN();
  const auto path = dir / "nan.mha";
  writeVolume(v, path);
  try {
    readVolume(path);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("1,2,1"), std::string::npos);
  }
  ReadOptions ro;
  ro.allowNonFinite = true;
  EXPECT_TRUE(std::isnan(readVolume(path, ro).at(1, 2, 1)));
}

TEST(VolumeIO, AbsurdHeaderSizeRefusedBeforeAllocation) {
  test::TempDir dir;
  const auto path = dir / "huge.mhd";
  std::ofstream(path) << "ObjectType = Image\nNDims = 3\nDimSize = 100000 100000 100000\n"
                         "ElementType = MET_FLOAT\nElementDataFile = huge.raw\n";
  std::ofstream(dir / "huge.raw") << "1234";
  try {
    readVolume(path);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("more than the limit"), std::string::npos) << e.what();
  }
}

TEST(VolumeIO, WrongDimensionalityRefused) {
  test::TempDir dir;
  const auto p4 = dir / "four.mhd";
  std::ofstream(p4) << "ObjectType = Image\nNDims = 4\nDimSize = 2 2 2 3\nElementType = MET_UCHAR\n"
                       "ElementDataFile = four.raw\n";
  std::ofstream(dir / "four.raw") << std::string(24, '\1');
  EXPECT_THROW(readVolume(p4), DataError);
  const auto p2 = dir / "two.mhd";
  std::ofstream(p2) << "ObjectType = Image\nNDims = 2\nDimSize = 2 2\nElementType = MET_UCHAR\n"
                       "ElementDataFile = two.raw\n";
  std::ofstream(dir / "two.raw") << std::string(4, '\1');
  EXPECT_THROW(readVolume(p2), DataError);
}

TEST(VolumeIO, UnsupportedOutputExtensionAndMissingFolder) {
  const Volume v = test::makeIdentifiableVolume();
  test::TempDir dir;
  EXPECT_THROW(writeVolume(v, dir / "x.png"), IoError);
  EXPECT_THROW(writeVolume(v, dir / "missing" / "x.nii.gz"), IoError);
  EXPECT_FALSE(std::filesystem::exists(dir / "missing"));
}

TEST(VolumeIO, DirectoryWithoutDicom) {
  test::TempDir dir;
  EXPECT_THROW(readVolume(dir.path()), IoError);
}

TEST(Statistics, PercentilesMatchNumpyLinear) {
  std::vector<float> v{5, 1, 4, 2, 3, NAN};
  const auto p = percentiles(v.data(), v.size(), {0, 25, 50, 90, 100});
  EXPECT_DOUBLE_EQ(p[0], 1.0);
  EXPECT_DOUBLE_EQ(p[1], 2.0);
  EXPECT_DOUBLE_EQ(p[2], 3.0);
  EXPECT_DOUBLE_EQ(p[3], 4.6);
  EXPECT_DOUBLE_EQ(p[4], 5.0);
  std::vector<std::uint8_t> m{1, 0, 0, 1, 1, 1};
  const auto pm = percentiles(v.data(), v.size(), {50}, m.data());
  EXPECT_DOUBLE_EQ(pm[0], 3.0);  // {5, 2, 3}
}

}  // namespace
}  // namespace mr2ct
