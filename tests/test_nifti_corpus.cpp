// NIfTI files written by nibabel (tests/integration/nifti_corpus.py), not by mr2ct: every datatype,
// scaled integers (slope/intercept, slope 0), both byte orders, .nii/.nii.gz/.hdr+.img, NIfTI-1 and
// NIfTI-2, sform-only, qform-only, both codes 0, a sheared sform, oblique and flipped axes,
// anisotropic voxels, a singleton 4th dimension, header extensions; and nibabel's own test files.
// mr2ct must read nibabel's get_fdata() values and nibabel's affine (in LPS), and a file written on
// the input's grid with the input's header must read back in nibabel with the same shape, affine and
// codes (the script's `check`).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

namespace fs = std::filesystem;

const std::string kScript = std::string(MR2CT_TESTS_DIR) + "/integration/nifti_corpus.py";

bool haveNibabel() { return std::system("/usr/bin/python3 -c 'import nibabel' >/dev/null 2>&1") == 0; }

nlohmann::json readJson(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

std::vector<double> readDoubles(const fs::path& p) {
  std::ifstream in(p, std::ios::binary | std::ios::ate);
  const auto bytes = std::size_t(in.tellg());
  std::vector<double> v(bytes / sizeof(double));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), std::streamsize(bytes));
  return v;
}

// Our grid against nibabel's 4×4 affine in LPS: column c of the affine is direction·spacing of
// axis c, the last column the origin. 1e-4 mm: the headers hold float32, both sides compute in double.
void expectGeometry(const Geometry& g, const nlohmann::json& affine, const std::string& name) {
  constexpr double kMm = 1e-4;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c)
      EXPECT_NEAR(g.direction[std::size_t(3 * r + c)] * g.spacing[std::size_t(c)], affine[r][c].get<double>(), kMm)
          << name << " affine[" << r << "][" << c << "]";
    EXPECT_NEAR(g.origin[std::size_t(r)], affine[r][3].get<double>(), kMm) << name << " origin[" << r << "]";
  }
}

// nibabel's float64 values against our float32 ones: float32 rounding (2^-24 relative) and no more.
void expectValues(const Volume& v, const fs::path& expected, const std::string& name) {
  const auto want = readDoubles(expected);
  ASSERT_EQ(want.size(), v.voxelCount()) << name;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < want.size(); ++i)
    if (std::abs(double(v.data()[i]) - want[i]) > 1e-7 * std::max(1.0, std::abs(want[i]))) ++bad;
  EXPECT_EQ(bad, 0u) << name << ": voxels differing from nibabel's get_fdata()";
}

TEST(NiftiCorpus, ReadsWhatNibabelReadsAndWritesTheInputHeaderBack) {
  if (!haveNibabel()) GTEST_SKIP() << "python3-nibabel is missing (scripts/install-deps.sh installs it)";
  test::TempDir dir;
  ASSERT_EQ(std::system(("/usr/bin/python3 " + kScript + " write " + dir.path().string()).c_str()), 0);
  fs::create_directories(dir / "out");
  int variants = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    const std::string file = e.path().filename().string();
    if (file.size() < 12 || file.compare(file.size() - 12, 12, ".expect.json") != 0) continue;
    const std::string name = file.substr(0, file.size() - 12);
    const auto expect = readJson(e.path());
    SCOPED_TRACE(name);
    VolumeInfo info;
    const Volume v = readVolume(dir / expect["file"].get<std::string>(), {}, &info);
    ++variants;
    const auto shape = expect["shape"].get<std::vector<std::size_t>>();
    ASSERT_EQ(shape.size(), 3u);
    EXPECT_EQ(v.size()[0], shape[0]);
    EXPECT_EQ(v.size()[1], shape[1]);
    EXPECT_EQ(v.size()[2], shape[2]);
    expectGeometry(v.geometry(), expect["affine_lps"], name);
    expectValues(v, dir / (name + ".f64"), name);
    EXPECT_EQ(info.format, "NIfTI");
    EXPECT_EQ(info.formatVersion, expect["version"].get<int>());
    ASSERT_TRUE(info.nifti.has_value());
    EXPECT_EQ(info.nifti->qformCode, expect["qform_code"].get<int>());
    EXPECT_EQ(info.nifti->sformCode, expect["sform_code"].get<int>());
    const std::string warning = expect["warning"].get<std::string>();
    bool warned = warning.empty() ? info.warnings.empty() : false;
    for (const auto& w : info.warnings) warned = warned || (!warning.empty() && w.find(warning) != std::string::npos);
    EXPECT_TRUE(warned) << "expected warning '" << warning << "', got " << ::testing::PrintToString(info.warnings);
    // What convert does with its output: the input's grid and header, float32 voxels.
    WriteOptions wo(PixelType::Float32);
    wo.nifti = info.nifti;
    writeVolume(v, dir / "out" / (name + ".nii.gz"), wo);
  }
  EXPECT_GE(variants, 25);
  EXPECT_EQ(std::system(("/usr/bin/python3 " + kScript + " check " + dir.path().string()).c_str()), 0)
      << "nibabel reads the outputs with another shape, affine, codes or values (printed above)";
}

TEST(NiftiCorpus, NibabelsOwnTestFilesAreReadOrRefusedInOneLine) {
  if (!haveNibabel()) GTEST_SKIP() << "python3-nibabel is missing (scripts/install-deps.sh installs it)";
  test::TempDir dir;
  ASSERT_EQ(std::system(("/usr/bin/python3 " + kScript + " write " + dir.path().string()).c_str()), 0);
  const auto listing = readJson(dir / "nibabel-data.json");
  ASSERT_GE(listing.size(), 8u);
  for (const auto& entry : listing) {
    const fs::path path = entry["path"].get<std::string>();
    SCOPED_TRACE(path.string());
    if (entry.contains("refuse")) {
      const std::string m = test::thrownMessage<Error>([&] { readVolume(path); });
      EXPECT_NE(m.find(path.string()), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
      const std::string why = entry["refuse"].get<std::string>();
      EXPECT_NE(m.find(why), std::string::npos) << m;
      continue;
    }
    const VolumeInfo info = readVolumeInfo(path);
    expectGeometry(info.geometry, entry["affine_lps"], path.string());
    if (entry.contains("values")) expectValues(readVolume(path), dir / entry["values"].get<std::string>(), path.string());
  }
}

}  // namespace
}  // namespace mr2ct
