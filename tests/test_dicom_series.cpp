// DICOM series written by an independent tool (python3-pydicom, tests/support/dicom_series.py, at
// test time) and the same series converted by Debian's dcm2niix: readVolume reads the folder to
// the geometry and values pydicom wrote (1e-4 mm), and to the same sampling and values as
// nibabel and mr2ct read from dcm2niix's NIfTI. Broken series are refused with one line naming
// the folder, the series and the problem. Skips without python3-pydicom or dcm2niix.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <tuple>

#include <sys/wait.h>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/DicomSeries.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/TestSupport.h"

namespace fs = std::filesystem;

namespace mr2ct {
namespace {

const char* kPython = "/usr/bin/python3";

bool run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

/// The generated series, once per test program (about 1 s of Python).
class DicomSeriesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!run(std::string(kPython) + " -c 'import pydicom, numpy, nibabel'")) {
      skip_ = "python3 with pydicom, numpy and nibabel missing (scripts/install-deps.sh)";
      return;
    }
    dir_ = std::make_unique<test::TempDir>();
    const fs::path script = fs::path(MR2CT_SOURCE_DIR) / "tests" / "support" / "dicom_series.py";
    if (!run(std::string(kPython) + " '" + script.string() + "' '" + dir_->path().string() + "'")) {
      skip_ = "generator failed: " + script.string();
      return;
    }
    std::ifstream in(dir_->path() / "expected.json");
    expected_ = nlohmann::json::parse(in);
  }
  static void TearDownTestSuite() { dir_.reset(); }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }
  static fs::path path(const std::string& name) { return dir_->path() / name; }

  static inline std::unique_ptr<test::TempDir> dir_;
  static inline nlohmann::json expected_;
  static inline std::string skip_;
};

Geometry geometryOf(const nlohmann::json& e) {
  Geometry g;
  for (int i = 0; i < 3; ++i) {
    g.size[i] = e["size"][i].get<std::size_t>();
    g.spacing[i] = e["spacing"][i].get<double>();
    g.origin[i] = e["origin"][i].get<double>();
  }
  for (int i = 0; i < 9; ++i) g.direction[i] = e["direction"][i].get<double>();
  return g;
}

/// The volume pydicom wrote: its known grid and values.
Volume expectedVolume(const nlohmann::json& e) {
  Volume v(geometryOf(e));
  for (std::size_t i = 0; i < v.voxelCount(); ++i) v.data()[i] = e["values"][i].get<float>();
  return v;
}

/// Same voxel centres (1e-4 mm) and values, whatever the voxel order: every voxel of `a` maps to
/// a voxel centre of `b` holding the same value, and both have as many voxels.
void expectSameSampling(const Volume& a, const Volume& b, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(a.voxelCount(), b.voxelCount());
  const auto& ga = a.geometry();
  const auto& gb = b.geometry();
  double worstMm = 0, worstValue = 0;
  for (std::size_t z = 0; z < ga.size[2]; ++z)
    for (std::size_t y = 0; y < ga.size[1]; ++y)
      for (std::size_t x = 0; x < ga.size[0]; ++x) {
        const Vec3 p = ga.indexToPhysical({double(x), double(y), double(z)});
        const Vec3 q = gb.physicalToIndex(p);
        std::array<std::size_t, 3> j{};
        for (int d = 0; d < 3; ++d) {
          const double r = std::round(q[d]);
          ASSERT_TRUE(r >= 0 && r < double(gb.size[d])) << "voxel " << x << "," << y << "," << z << " falls outside: index " << q[0] << "," << q[1] << "," << q[2] << "\n" << ga.differenceFrom(gb);
          j[d] = std::size_t(r);
        }
        const Vec3 pb = gb.indexToPhysical({double(j[0]), double(j[1]), double(j[2])});
        worstMm = std::max(worstMm, std::hypot(p[0] - pb[0], p[1] - pb[1], p[2] - pb[2]));
        worstValue = std::max(worstValue, double(std::fabs(a.at(x, y, z) - b.at(j[0], j[1], j[2]))));
      }
  EXPECT_LT(worstMm, 1e-4);
  EXPECT_EQ(worstValue, 0.0);
}

/// dcm2niix's NIfTI of `series`, written into <dir>/nii_<name>/out.nii; a test failure with
/// dcm2niix's output when it fails.
fs::path dcm2niix(const fs::path& series, const std::string& name) {
  const fs::path out = series.parent_path() / ("nii_" + name);
  fs::create_directories(out);
  const std::string cmd = "dcm2niix -z n -b n -f out -o '" + out.string() + "' '" + series.string() + "' >'" +
                          (out / "log.txt").string() + "' 2>&1";
  if (std::system(cmd.c_str()) != 0 || !fs::exists(out / "out.nii")) {
    std::ifstream log(out / "log.txt");
    ADD_FAILURE() << cmd << " failed:\n" << std::string(std::istreambuf_iterator<char>(log), {});
    return {};
  }
  return out / "out.nii";
}

/// nibabel's reading of a NIfTI (get_fdata, RAS affine turned to LPS) as a Volume.
Volume nibabelVolume(const fs::path& nii) {
  const fs::path json = nii.string() + ".json";
  const std::string code =
      "import json, sys, nibabel as nib, numpy as np\n"
      "im = nib.load(sys.argv[1]); a = np.diag([-1, -1, 1, 1]) @ im.affine; d = im.get_fdata()\n"
      "json.dump({'affine': a.tolist(), 'shape': list(d.shape[:3]),"
      " 'values': d.reshape(-1, order='F').tolist()}, open(sys.argv[2], 'w'))\n";
  const fs::path codeFile = nii.parent_path() / "nibabel_dump.py";
  std::ofstream(codeFile) << code;
  if (!run(std::string(kPython) + " '" + codeFile.string() + "' '" + nii.string() + "' '" + json.string() + "'"))
    throw std::runtime_error("nibabel failed on " + nii.string());
  std::ifstream in(json);
  const auto j = nlohmann::json::parse(in);
  Geometry g;
  for (int c = 0; c < 3; ++c) {
    g.size[c] = j["shape"][c].get<std::size_t>();
    double n = 0;
    for (int r = 0; r < 3; ++r) n += std::pow(j["affine"][r][c].get<double>(), 2);
    g.spacing[c] = std::sqrt(n);
    for (int r = 0; r < 3; ++r) g.direction[r * 3 + c] = j["affine"][r][c].get<double>() / g.spacing[c];
    g.origin[c] = j["affine"][c][3].get<double>();
  }
  Volume v(g);
  for (std::size_t i = 0; i < v.voxelCount(); ++i) v.data()[i] = j["values"][i].get<float>();
  return v;
}

TEST_F(DicomSeriesTest, ReadsWhatPydicomWrote) {
  for (const std::string name : {"ct", "mr", "plain", "enhanced"}) {
    SCOPED_TRACE(name);
    const Volume v = readVolume(path(name));
    const Volume want = expectedVolume(expected_[name]);
    EXPECT_TRUE(v.geometry().sameAs(want.geometry(), 1e-6)) << v.geometry().differenceFrom(want.geometry(), 1e-6);
    expectSameSampling(v, want, name + " vs pydicom's values");
    const VolumeInfo info = readVolumeInfo(path(name));
    EXPECT_EQ(info.format, "DICOM series");
    EXPECT_TRUE(info.geometry.sameAs(want.geometry(), 1e-6)) << info.geometry.differenceFrom(want.geometry(), 1e-6);
  }
}

/// dcm2niix's NIfTI, read by nibabel: the same voxel centres and values as mr2ct's DICOM reading.
/// (The CT, MR and enhanced series carry rescale slope/intercept, which dcm2niix stores as
/// scl_slope/scl_inter.)
TEST_F(DicomSeriesTest, Dcm2niixThroughNibabelAgrees) {
  if (!run("command -v dcm2niix")) GTEST_SKIP() << "dcm2niix missing (scripts/install-deps.sh)";
  for (const std::string name : {"ct", "mr", "plain", "enhanced"}) {
    SCOPED_TRACE(name);
    const fs::path nii = dcm2niix(path(name), name);
    ASSERT_FALSE(nii.empty()) << "dcm2niix failed on " << path(name);
    expectSameSampling(readVolume(path(name)), nibabelVolume(nii), name + ": mr2ct DICOM vs nibabel(dcm2niix)");
  }
}

/// mr2ct reads the DICOM folder and dcm2niix's NIfTI of it to the same geometry and values.
TEST_F(DicomSeriesTest, Dcm2niixThroughMr2ctAgrees) {
  if (!run("command -v dcm2niix")) GTEST_SKIP() << "dcm2niix missing (scripts/install-deps.sh)";
  for (const std::string name : {"plain", "ct", "mr", "enhanced"}) {
    SCOPED_TRACE(name);
    const fs::path nii = dcm2niix(path(name), name + "_m");
    ASSERT_FALSE(nii.empty()) << "dcm2niix failed on " << path(name);
    expectSameSampling(readVolume(path(name)), readVolume(nii), name + ": mr2ct DICOM vs mr2ct(dcm2niix)");
  }
}

TEST_F(DicomSeriesTest, StudyFolderListsEverySeriesAndPicksOneByUidOrNumber) {
  const auto list = listDicomSeries(path("study"));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].number, "7");
  EXPECT_EQ(list[0].description, "CT head");
  EXPECT_EQ(list[0].modality, "CT");
  EXPECT_EQ(list[0].images, 8u);
  EXPECT_EQ(list[0].columns, 7u);
  EXPECT_EQ(list[0].rows, 6u);
  EXPECT_EQ(list[0].uid, expected_["study_ct"]["series_uid"].get<std::string>());
  EXPECT_EQ(list[1].number, "8");
  EXPECT_EQ(list[1].description, "T1 MPRAGE");
  EXPECT_EQ(list[1].modality, "MR");
  EXPECT_EQ(list[1].images, 4u);
  EXPECT_EQ(list[1].folder, path("study") / "S2" / "MR" / "t1");

  const std::string msg = test::thrownMessage<DataError>([&] { readVolume(path("study")); });
  EXPECT_NE(msg.find(path("study").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("2 DICOM series"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--dicom-series"), std::string::npos) << msg;
  EXPECT_NE(msg.find("T1 MPRAGE"), std::string::npos) << msg;

  ReadOptions byNumber;
  byNumber.dicomSeries = "8";
  expectSameSampling(readVolume(path("study"), byNumber), expectedVolume(expected_["study_mr"]), "by number");
  ReadOptions byUid;
  byUid.dicomSeries = expected_["study_ct"]["series_uid"].get<std::string>();
  expectSameSampling(readVolume(path("study"), byUid), expectedVolume(expected_["study_ct"]), "by uid");
  EXPECT_EQ(readVolumeInfo(path("study"), byNumber).geometry.size[2], 4u);
  // The files in slice order: IM0004 (named backwards) holds the first slice, at the origin.
  const auto files = dicomSeriesFiles(path("study"), "8");
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files.front(), path("study") / "S2" / "MR" / "t1" / "IM0004");
  EXPECT_EQ(files.back(), path("study") / "S2" / "MR" / "t1" / "IM0001");

  ReadOptions none;
  none.dicomSeries = "9";
  const std::string missing = test::thrownMessage<DataError>([&] { readVolume(path("study"), none); });
  EXPECT_NE(missing.find("no DICOM series with UID or SeriesNumber 9"), std::string::npos) << missing;
}

struct Refusal {
  const char* folder;
  std::vector<const char*> says;  ///< all of these appear in the one-line message
};

TEST_F(DicomSeriesTest, BrokenSeriesAreRefusedWithTheReason) {
  const std::vector<Refusal> cases{
      // slices 3 and 4 (of 0..7) are missing: IM0005 and IM0004 are gone, IM0006 (k=2) and IM0003 (k=5) border the gap
      {"missing", {"missing slices: 2 missing", "IM0006", "IM0003", "spacing 2.5 mm"}},
      {"nonuniform", {"non-uniform slice spacing", "2.5", "3.3"}},
      {"tilt", {"gantry tilt", "15"}},
      {"mixed_orientation", {"mixed orientations", "IM0002"}},
      {"repeated", {"several volumes in one series: 16 images at 8 positions", "a/IM0008 (instance 1)", "b/IM0008 (instance 101)"}},
      {"echoes", {"several volumes in one series (echoes 1, 2)"}},
      {"temporal", {"several volumes in one series (temporal positions 1, 2)"}},
      {"palette", {"IM0006 has the photometric interpretation 'PALETTE COLOR'", "MONOCHROME1 or MONOCHROME2"}},
      {"bits", {"has missing or inconsistent pixel bits (allocated 16, stored 20, high bit"}},
      {"recognition", {"has a Recognition Code (0008,0010) that is not ACR-NEMA's"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.folder);
    for (const bool headerOnly : {true, false}) {
      const std::string msg = test::thrownMessage<DataError>([&] {
        if (headerOnly) readVolumeInfo(path(c.folder)); else readVolume(path(c.folder));
      });
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      EXPECT_EQ(msg.rfind(path(c.folder).string() + ": DICOM series 1 'CT oblique' (", 0), 0u) << msg;
      for (const char* s : c.says) EXPECT_NE(msg.find(s), std::string::npos) << "want '" << s << "' in: " << msg;
    }
  }
}

/// A slice cut short, and one whose pixel data claims 2 GiB: refused from the declared lengths,
/// before GDCM allocates them (the fence fuzz_dicom_series called for), naming the file.
TEST_F(DicomSeriesTest, CorruptFilesAreRefusedBeforeGdcmAllocates) {
  for (const auto& c : std::vector<std::pair<std::string, std::string>>{
           {"truncated", "element (7fe0,0010) at byte "}, {"huge_length", "claims 2147483647 bytes"}}) {
    const std::string folder = c.first, says = c.second;  // (C++17 lambdas cannot capture bindings)
    SCOPED_TRACE(folder);
    const std::string msg = test::thrownMessage<IoError>([&] { readVolume(path(folder)); });
    EXPECT_EQ(msg.rfind((path(folder) / "IM0004").string() + ": corrupt DICOM file: ", 0), 0u) << msg;
    EXPECT_NE(msg.find(says), std::string::npos) << msg;
    EXPECT_NE(msg.find("(truncated or corrupt)"), std::string::npos) << msg;
  }
}

/// A slice whose header is fine but whose pixels GDCM cannot read: the series read fails, and the
/// error names that file (each file is then read alone), without ITK's object address.
TEST_F(DicomSeriesTest, ASliceWhosePixelsCannotBeReadIsNamed) {
  const std::string msg = test::thrownMessage<IoError>([&] { readVolume(path("no_pixels")); });
  EXPECT_EQ(msg.rfind((path("no_pixels") / "IM0005").string() + ": cannot read the pixel data: ", 0), 0u) << msg;
  EXPECT_EQ(msg.find("0x"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

/// Files that made Debian's GDCM assert (abort the whole process) in its meta reader, or allocate
/// a declared gigabyte, as fuzz_dicom_series found them: each must be one IoError naming the file.
TEST(DicomFence, FileMetaInformationThatGdcmWouldAbortOnIsRefused) {
  auto element = [](std::uint16_t e, const char* vr, const std::string& value) {
    std::string b{char(0x02), char(0x00), char(e & 0xff), char(e >> 8), vr[0], vr[1]};
    b += char(value.size() & 0xff);
    b += char(value.size() >> 8);
    return b + value;
  };
  const std::string preamble = std::string(128, '\0') + "DICM";
  const std::string syntax = element(0x0010, "UI", std::string("1.2.840.10008.1.2.1") + '\0');
  const std::string undefinedLength = std::string{char(0x02), 0, char(0x01), 0} + std::string(4, char(0xff));
  const struct {
    std::string name, bytes, says;
  } cases[] = {
      {"undefined length", preamble + undefinedLength + std::string(64, '\0'), "has an undefined length"},
      {"non-standard VR", preamble + syntax + element(0x0013, "NH", "ab") + std::string(2, '\0'),
       "non-standard value representation 'NH'"},
      {"nothing after the meta group", preamble + syntax, "without a data set"},
      {"meta element cut", preamble + syntax + std::string{char(0x02), 0, char(0x13), 0, 'S'}, "runs past the end"},
      {"two bytes after the preamble", preamble + std::string{char(0x02), char(0x01)}, "without a data set"},
      // Not an abort but GDCM allocating (and zeroing) 1 GiB: elements after the pixel data count too.
      {"huge element after the pixel data",
       preamble + syntax + std::string{char(0xe0), char(0x7f), char(0x10), 0, 'O', 'W', 0, 0, 4, 0, 0, 0} +
           std::string(4, '\0') + std::string{char(0x09), 0, char(0x10), 0, 'O', 'B', 0, 0, 0, 0, 0, char(0x40)} +
           std::string(16, '\0'),
       "element (0009,0010) at byte 176 claims 1073741824 bytes"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    test::TempDir dir;
    const fs::path file = dir / "IM0001";
    std::ofstream(file, std::ios::binary).write(c.bytes.data(), std::streamsize(c.bytes.size()));
    const std::string msg = test::thrownMessage<IoError>([&] { listDicomSeries(dir.path()); });
    EXPECT_EQ(msg.rfind(file.string() + ": corrupt DICOM file: ", 0), 0u) << msg;
    EXPECT_NE(msg.find(c.says), std::string::npos) << msg;
  }
}

#ifdef MR2CT_EXE
/// The exit code and output (stdout and stderr together) of an mr2ct command line.
std::pair<int, std::string> mr2ct(const std::string& args) {
  const std::string cmd = std::string(MR2CT_EXE) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// `mr2ct info STUDY` lists every series (number, modality, images, size, description, UID,
/// folder) and the reason a series would be refused; `--dicom-series` describes one.
TEST_F(DicomSeriesTest, InfoListsTheSeriesOfAStudyFolder) {
  const std::string study = path("study").string();
  const std::string uidCt = expected_["study_ct"]["series_uid"].get<std::string>();
  const std::string uidMr = expected_["study_mr"]["series_uid"].get<std::string>();
  auto [rc, out] = mr2ct("info '" + study + "'");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("2 series"), std::string::npos) << out;
  EXPECT_NE(out.find("CT head"), std::string::npos) << out;
  EXPECT_NE(out.find(uidCt), std::string::npos) << out;
  EXPECT_NE(out.find(uidMr), std::string::npos) << out;
  EXPECT_NE(out.find("S2/MR/t1"), std::string::npos) << out;
  EXPECT_NE(out.find("7 x 6 x 4"), std::string::npos) << out;
  EXPECT_EQ(out.find("refused"), std::string::npos) << out;

  std::tie(rc, out) = mr2ct("info '" + study + "' --dicom-series 8 --json");
  ASSERT_EQ(rc, 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["dicom_series"].size(), 2u);
  EXPECT_EQ(j["dicom_series"][1]["number"], "8");
  EXPECT_EQ(j["dicom_series"][1]["modality"], "MR");
  EXPECT_EQ(j["dicom_series"][1]["images"], 4);
  EXPECT_EQ(j["format"], "DICOM series");
  EXPECT_EQ(j["size"], nlohmann::json({7, 6, 4}));

  // A broken series is listed with its reason; reading it fails with one line on stderr.
  std::tie(rc, out) = mr2ct("info '" + path("missing").string() + "'");
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("refused: missing slices"), std::string::npos) << out;
  EXPECT_NE(out.find("mr2ct: error: " + path("missing").string() + ": DICOM series 1"), std::string::npos) << out;
}
#endif

}  // namespace
}  // namespace mr2ct
