// `mr2ct convert --output-format dicom`: the sCT as a CT series, checked by tools that are not ours.
// Inputs are written by nibabel and pydicom (tests/integration/dicom_out_inputs.py); the series is
// validated by dciodvfy, pydicom, dcm2niix + nibabel (dicom_out_check.py), stored into dcmtk's
// dcmqrscp and found again by UID (dicom_out_pacs.sh), and read back by mr2ct's own reader.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "mr2ct/core/Error.h"
#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/pipeline/Converter.h"
#include "mr2ct/pipeline/DicomCtSeriesWriter.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/ConvertFixtures.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

const fs::path kScripts = fs::path(MR2CT_SOURCE_DIR) / "tests" / "integration";

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

/// Runs a shell command, its output into `log`; returns the exit status.
int shell(const std::string& command, std::string* log = nullptr) {
  const std::string out = (fs::temp_directory_path() / ("mr2ct-dicom-out-" + std::to_string(::getpid()) + ".log")).string();
  const int rc = std::system((command + " > " + quote(out) + " 2>&1").c_str());
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  fs::remove(out);
  if (log) *log = ss.str();
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

std::string convert(const std::string& args, int expected = 0) {
  std::string log;
  const int rc = shell(quote(MR2CT_EXE) + " convert --quiet " + args, &log);
  EXPECT_EQ(rc, expected) << args << "\n" << log;
  return log;
}

std::set<std::string> filesIn(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

/// Inputs and conversions shared by the tests (made once: the model and the sCTs).
class DicomOut : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    test::saveRandomModel(*dir_ / "model", test::tinyNetworkConfig());
    std::string log;
    ASSERT_EQ(shell("/usr/bin/python3 " + quote((kScripts / "dicom_out_inputs.py").string()) + " " +
                    quote(dir_->path().string()), &log), 0) << log;
  }
  static void TearDownTestSuite() { delete dir_; }
  static fs::path at(const std::string& name) { return *dir_ / name; }
  static std::string model() { return "--model " + quote(at("model").string()); }
  static TempDir* dir_;
};
TempDir* DicomOut::dir_ = nullptr;

TEST_F(DicomOut, FromNiftiValidByDciodvfyPydicomDcm2niixAndReadBackByMr2ct) {
  convert(model() + " --input " + quote(at("mr.nii.gz").string()) + " --output " + quote(at("sct.nii.gz").string()));
  const std::string log =
      convert(model() + " --input " + quote(at("mr.nii.gz").string()) + " --output " + quote(at("sct_dcm").string()) +
              " --output-format dicom --patient-id P-77 --patient-name 'Doe^Jane' --series-number 42"
              " --series-description 'sCT test'");
  std::string check;
  const int rc = shell("/usr/bin/python3 " + quote((kScripts / "dicom_out_check.py").string()) + " " +
                           quote(at("sct_dcm").string()) + " " + quote(at("sct.nii.gz").string()) + " " +
                           quote(at("mr.nii.gz").string()) +
                           " --patient-id P-77 --patient-name 'Doe^Jane' --series-number 42 --series-description 'sCT test'",
                       &check);
  EXPECT_EQ(rc, 0) << check;
  std::cout << check;
  // mr2ct's own reader: the same grid (1e-4 mm) and the same HU as the NIfTI written by the same run.
  const Volume nifti = readVolume(at("sct.nii.gz"));
  const Volume series = readVolume(at("sct_dcm"));
  EXPECT_TRUE(series.geometry().sameAs(nifti.geometry(), 1e-4)) << series.geometry().differenceFrom(nifti.geometry());
  ASSERT_EQ(series.voxelCount(), nifti.voxelCount());
  std::size_t differ = 0;
  for (std::size_t i = 0; i < series.voxelCount(); ++i) differ += series.data()[i] != nifti.data()[i];
  EXPECT_EQ(differ, 0u);
  // No temporary folder is left beside the series.
  for (const auto& e : fs::directory_iterator(dir_->path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST_F(DicomOut, FromDicomMrJoinsItsStudyPatientAndFrameOfReference) {
  convert(model() + " --input " + quote(at("mr_dicom").string()) + " --output " + quote(at("sct_of_dcm.nii.gz").string()));
  convert(model() + " --input " + quote(at("mr_dicom").string()) + " --output " + quote(at("sct_of_dcm").string() + "/") +
          " --output-format dicom");  // a trailing slash names the same folder
  std::string check;
  const int rc = shell("/usr/bin/python3 " + quote((kScripts / "dicom_out_check.py").string()) + " " +
                           quote(at("sct_of_dcm").string()) + " " + quote(at("sct_of_dcm.nii.gz").string()) + " " +
                           quote(at("mr_dicom").string()) + " --mr-dicom-json " + quote(at("mr_dicom.json").string()),
                       &check);
  EXPECT_EQ(rc, 0) << check;
  std::cout << check;
  // A --patient-id that contradicts the MR's is refused before any work.
  const std::string log = convert(model() + " --input " + quote(at("mr_dicom").string()) + " --output " +
                                      quote(at("sct_wrong_patient").string()) + " --output-format dicom --patient-id other",
                                  2);
  EXPECT_NE(log.find("differs from the MR's PatientID"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(at("sct_wrong_patient")));
}

TEST_F(DicomOut, ExistingSeriesFolderIsKeptUnlessOverwriteIsGiven) {
  const std::string target = quote(at("sct_keep").string());
  const std::string base = model() + " --input " + quote(at("mr.nii.gz").string()) + " --output " + target +
                           " --output-format dicom";
  convert(base);
  const auto before = filesIn(at("sct_keep"));
  const std::string refused = convert(base, 1);
  EXPECT_NE(refused.find("not empty (give --overwrite"), std::string::npos) << refused;
  EXPECT_EQ(filesIn(at("sct_keep")), before);
  convert(base + " --overwrite");
  EXPECT_EQ(filesIn(at("sct_keep")).size(), before.size());
  // An empty folder is simply filled.
  fs::create_directory(at("sct_empty"));
  convert(model() + " --input " + quote(at("mr.nii.gz").string()) + " --output " + quote(at("sct_empty").string()) +
          " --output-format dicom");
  EXPECT_EQ(filesIn(at("sct_empty")).size(), before.size());
}

// A run killed while writing its series leaves a hidden temporary folder; the next run into the
// same place removes it (its writer's pid is dead) and keeps another live writer's.
TEST_F(DicomOut, StaleTemporaryFolderOfAKilledRunIsRemoved) {
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  ASSERT_GT(dead, 0);
  int status = 0;
  waitpid(dead, &status, 0);  // reaped: this pid runs no more
  const fs::path stale = at(".sct_stale.tmp-" + std::to_string(dead) + "-0");
  const fs::path live = at(".sct_stale.tmp-" + std::to_string(::getpid()) + "-3");
  fs::create_directories(stale);
  fs::create_directories(live);
  std::ofstream(stale / "CT0001.dcm") << "half a slice";
  convert(model() + " --input " + quote(at("mr.nii.gz").string()) + " --output " + quote(at("sct_stale").string()) +
          " --output-format dicom");
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_FALSE(filesIn(at("sct_stale")).empty());
}

TEST_F(DicomOut, BatchWritesOneSeriesFolderPerCaseAndResumes) {
  {
    std::ofstream m(at("manifest.csv"));
    m << "id,mr,ct,mask,split\nnifti,mr.nii.gz,,,test\ndicom,mr_dicom,,,test\n";
  }
  convert(model() + " --manifest " + quote(at("manifest.csv").string()) + " --out-dir " + quote(at("batch").string()) +
          " --output-format dicom");
  ASSERT_TRUE(fs::is_directory(at("batch") / "nifti"));
  ASSERT_TRUE(fs::is_directory(at("batch") / "dicom"));
  EXPECT_EQ(filesIn(at("batch") / "nifti").size(), 7u);
  EXPECT_EQ(filesIn(at("batch") / "dicom").size(), 7u);
  const std::string again = convert(model() + " --manifest " + quote(at("manifest.csv").string()) + " --out-dir " +
                                    quote(at("batch").string()) + " --output-format dicom --resume");
  EXPECT_NE(again.find("0 converted, 2 skipped"), std::string::npos) << again;
}

TEST_F(DicomOut, StoredIntoDcmqrscpOnLoopbackAndFoundBySeriesUid) {
  convert(model() + " --input " + quote(at("mr.nii.gz").string()) + " --output " + quote(at("sct_pacs").string()) +
          " --output-format dicom --patient-id PACS-1 --patient-name 'Pacs^Test'");
  std::string log;
  EXPECT_EQ(shell(quote((kScripts / "dicom_out_pacs.sh").string()) + " " + quote(at("sct_pacs").string()), &log), 0) << log;
  std::cout << log;
}

TEST(DicomCtSeriesWriter, UidsAreUuidDerivedAndDecimalStringsFitSixteenCharacters) {
  const std::regex uid(R"(2\.25\.(0|[1-9][0-9]*))");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string u = newUuidDerivedUid();
    EXPECT_TRUE(std::regex_match(u, uid)) << u;
    EXPECT_LE(u.size(), 64u);
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
  for (double v : {0.0, 1.0, -1024.0, 0.70710678118654757, -123.456789012345678, 1e-7, 3.0e12, -0.000123456789}) {
    const std::string s = formatDecimalString(v);
    EXPECT_LE(s.size(), 16u) << s;
    EXPECT_NEAR(std::stod(s), v, std::abs(v) * 1e-10 + 1e-15) << s;
  }
}

TEST(DicomCtSeriesWriter, OptionsAreValidated) {
  DicomSeriesOptions o;
  o.patientPosition = "XYZ";
  // A library caller reads the field it set; the command line prints the flag (--patient-position).
  EXPECT_EQ(test::thrownMessage<UsageError>([&] { o.validate(); }).rfind("patientPosition 'XYZ'", 0), 0u);
  o = DicomSeriesOptions{};
  o.seriesDescription = std::string(65, 'a');
  EXPECT_NE(test::thrownMessage<UsageError>([&] { o.validate(); }).find("64"), std::string::npos);
  o = DicomSeriesOptions{};
  o.patientName = "a\\b";
  EXPECT_NE(test::thrownMessage<UsageError>([&] { o.validate(); }).find("backslash"), std::string::npos);
}

}  // namespace
}  // namespace mr2ct
