// Manifests: CSV and JSON parsing through one validation path, `check`, and `scan` layouts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include <fstream>
#include <set>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/pipeline/Manifest.h"
#include "mr2ct/phantom/HeadPhantom.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/TestSupport.h"

namespace fs = std::filesystem;

namespace mr2ct {
namespace {

void writeFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

bool anyContains(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& s : v)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

TEST(Manifest, CsvColumnsInAnyOrderQuotesCrlfAndBom) {
  test::TempDir dir;
  const auto m = dir / "m.csv";
  writeFile(m, "\xEF\xBB\xBFsplit,ct,id,mr\r\n# a comment\r\nval,ct/a.nii.gz,a,\"mr/a, first.nii.gz\"\r\n\r\n"
               "train,,b,\"mr/\"\"b\"\".mha\"\r\n");
  const auto p = parseManifest(m);
  ASSERT_TRUE(p.problems.empty()) << joined(p.problems);
  ASSERT_EQ(p.manifest.cases.size(), 2u);
  const auto& a = p.manifest.cases[0];
  EXPECT_EQ(a.id, "a");
  EXPECT_EQ(a.split, "val");
  EXPECT_EQ(a.mr, fs::absolute(dir.path() / "mr/a, first.nii.gz").lexically_normal());
  EXPECT_EQ(a.ct.filename(), "a.nii.gz");
  EXPECT_FALSE(a.hasMask());
  EXPECT_EQ(p.manifest.cases[1].mr.filename(), "\"b\".mha");
  EXPECT_FALSE(p.manifest.cases[1].hasCt());
}

TEST(Manifest, EveryProblemIsReportedAtOnce) {
  test::TempDir dir;
  const auto m = dir / "m.csv";
  writeFile(m,
            "id,mr,ct,mask,split\n"
            "a,a_mr.nii.gz,a_ct.nii.gz,,train\n"
            "a,b_mr.nii.gz,,,train\n"           // duplicate id
            "bad id,c.nii.gz,,,val\n"          // unsafe id
            "d,d.nii.gz,,,training\n"          // unknown split
            "e,../../etc/passwd,,,test\n"      // escapes
            "f,,,,train\n"                     // empty mr
            "g,g.nii.gz,,\n");                 // wrong field count
  const auto p = parseManifest(m);
  EXPECT_TRUE(anyContains(p.problems, "duplicate id 'a'")) << joined(p.problems);
  EXPECT_TRUE(anyContains(p.problems, "'bad id' is not a safe name")) << joined(p.problems);
  EXPECT_TRUE(anyContains(p.problems, "unknown split 'training'")) << joined(p.problems);
  EXPECT_TRUE(anyContains(p.problems, "escapes")) << joined(p.problems);
  EXPECT_TRUE(anyContains(p.problems, "empty mr path")) << joined(p.problems);
  EXPECT_TRUE(anyContains(p.problems, "4 fields")) << joined(p.problems);
  EXPECT_TRUE(anyContains(p.problems, "line 6")) << "problems name the line: " << joined(p.problems);
  EXPECT_EQ(p.problems.size(), 6u) << joined(p.problems);
  EXPECT_THROW(readManifest(m), DataError);

  ManifestOptions outside;
  outside.allowOutside = true;
  EXPECT_FALSE(anyContains(parseManifest(m, outside).problems, "escapes"));
}

TEST(Manifest, MissingColumnsAndNonUtf8AreClear) {
  test::TempDir dir;
  writeFile(dir / "nomr.csv", "id,ct\na,a.nii.gz\n");
  EXPECT_TRUE(anyContains(parseManifest(dir / "nomr.csv").problems, "required column 'mr' missing"));
  writeFile(dir / "latin1.csv", "id,mr\ncaf\xe9,a.nii.gz\n");
  const auto p = parseManifest(dir / "latin1.csv");
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_NE(p.problems[0].find("line 2"), std::string::npos) << p.problems[0];
  EXPECT_NE(p.problems[0].find("UTF-8"), std::string::npos) << p.problems[0];
  EXPECT_THROW(parseManifest(dir / "absent.csv"), IoError);
  writeFile(dir / "m.yaml", "id: 1");
  EXPECT_TRUE(anyContains(parseManifest(dir / "m.yaml").problems, "unknown manifest type"));
}

TEST(Manifest, JsonDataListGoesThroughTheSameValidation) {
  test::TempDir dir;
  writeFile(dir / "m.json", R"({"name": "demo",
    "training": [{"id": "a", "mr": "a/mr.nii.gz", "ct": "a/ct.nii.gz", "mask": "a/mask.nii.gz"}],
    "validation": [{"id": "b", "mr": "b/mr.nii.gz", "ct": "b/ct.nii.gz"}],
    "test": [{"id": "c", "mr": "c/mr.nii.gz"}, {"id": "a", "mr": "/abs/x.nii.gz"}],
    "holdout": [{"id": "z", "mr": "z.nii.gz"}]})");
  const auto p = parseManifest(dir / "m.json");
  EXPECT_EQ(p.manifest.cases.size(), 3u);
  EXPECT_TRUE(anyContains(p.problems, "duplicate id 'a'")) << joined(p.problems);
  EXPECT_TRUE(anyContains(p.problems, "test[1]")) << joined(p.problems);
  EXPECT_TRUE(anyContains(p.problems, "unknown split list \"holdout\"")) << joined(p.problems);
  EXPECT_EQ(p.manifest.find("b")->split, "val");
  EXPECT_EQ(p.manifest.find("c")->split, "test");
  EXPECT_TRUE(p.manifest.find("a")->hasMask());
  EXPECT_EQ(p.manifest.metadata["name"], "demo");
}

TEST(Manifest, DataRootLineResolvesAgainstTheDataRoot) {
  test::TempDir dir;
  writeFile(dir / "manifests/m.csv", "# data-root: set1\nid,mr\na,a/mr.nii.gz\n");
  ManifestOptions o;
  o.dataRoot = dir / "data";
  fs::create_directories(dir / "data/set1");
  const auto p = parseManifest(dir / "manifests/m.csv", o);
  ASSERT_TRUE(p.problems.empty()) << joined(p.problems);
  EXPECT_EQ(p.manifest.dataRootKey, "set1");
  EXPECT_EQ(p.manifest.cases[0].mr, fs::absolute(dir / "data/set1/a/mr.nii.gz").lexically_normal());
  EXPECT_TRUE(p.warnings.empty()) << joined(p.warnings);

  // A data root given for a manifest that names none is not used: said, not silently ignored.
  writeFile(dir / "manifests/plain.csv", "id,mr\na,a/mr.nii.gz\n");
  const auto plain = parseManifest(dir / "manifests/plain.csv", o);
  EXPECT_TRUE(plain.problems.empty()) << joined(plain.problems);
  EXPECT_TRUE(anyContains(plain.warnings, "is not used: the manifest names no data root")) << joined(plain.warnings);
  EXPECT_EQ(plain.manifest.cases[0].mr, fs::absolute(dir / "manifests/a/mr.nii.gz").lexically_normal());

  writeFile(dir / "manifests/j.json", R"({"data_root": "set1", "training": [{"id": "a", "mr": "a.nii.gz"}]})");
  EXPECT_EQ(parseManifest(dir / "manifests/j.json", o).manifest.cases.at(0).mr.parent_path(),
            fs::absolute(dir / "data/set1").lexically_normal());

  writeFile(dir / "manifests/evil.csv", "# data-root: ../../x\nid,mr\na,a.nii.gz\n");
  EXPECT_TRUE(anyContains(parseManifest(dir / "manifests/evil.csv", o).problems, "escapes"));
}

Volume box(std::array<std::size_t, 3> size, double spacing) {
  Geometry g;
  g.size = size;
  g.spacing = {spacing, spacing, spacing};
  return Volume(g, 1.0f);
}

/// A PACS export of one study: a CT series (number 7) and an MR series (number 8) in one folder,
/// written by python3-pydicom (tests/support/dicom_series.py). mr_series/ct_series pick them.
TEST(Manifest, SeriesColumnsPickTheSeriesOfAStudyFolder) {
  test::TempDir dir;
  const fs::path script = fs::path(MR2CT_SOURCE_DIR) / "tests" / "support" / "dicom_series.py";
  if (std::system(("/usr/bin/python3 '" + script.string() + "' '" + dir.path().string() + "' >/dev/null 2>&1").c_str()) != 0)
    GTEST_SKIP() << "python3 with pydicom, numpy and nibabel missing (scripts/install-deps.sh)";
  writeFile(dir / "ok.csv", "id,mr,ct,split,mr_series,ct_series\ns1,study,study,val,8,7\n");
  const Manifest m = readManifest(dir / "ok.csv");
  ASSERT_EQ(m.cases.size(), 1u);
  EXPECT_EQ(m.cases[0].mrSeries, "8");
  EXPECT_EQ(m.cases[0].ctSeries, "7");
  const auto ok = checkManifest(dir / "ok.csv");
  EXPECT_TRUE(ok.ok()) << joined(ok.problems);
  EXPECT_FALSE(anyContains(ok.warnings, "unknown column")) << joined(ok.warnings);

  // JSON: the same, with a SeriesNumber as a number or a string.
  writeFile(dir / "ok.json", R"({"validation": [{"id": "s1", "mr": "study", "ct": "study", "mr_series": 8, "ct_series": "7"}]})");
  const Manifest j = readManifest(dir / "ok.json");
  EXPECT_EQ(j.cases.at(0).mrSeries, "8");
  EXPECT_EQ(j.cases.at(0).ctSeries, "7");
  EXPECT_TRUE(checkManifest(dir / "ok.json").ok());

  // Without the columns the same folder is ambiguous, and check says so for mr and ct.
  writeFile(dir / "plain.csv", "id,mr,ct,split\ns1,study,study,val\n");
  const auto plain = checkManifest(dir / "plain.csv");
  EXPECT_FALSE(plain.ok());
  EXPECT_TRUE(anyContains(plain.problems, "mr unreadable")) << joined(plain.problems);
  EXPECT_TRUE(anyContains(plain.problems, "--dicom-series")) << joined(plain.problems);

  // A series of a file, a series that is not there, and a ct_series without a ct.
  writeVolume(box({4, 4, 4}, 1.0), dir / "mr.nii.gz");
  writeFile(dir / "bad.csv", "id,mr,ct,split,mr_series,ct_series\n"
                             "a,mr.nii.gz,study,val,3,7\n"
                             "b,study,study,val,9,7\n"
                             "c,study,,test,8,7\n");
  const auto bad = checkManifest(dir / "bad.csv");
  EXPECT_TRUE(anyContains(bad.problems, "line 2 (a): mr_series '3' is given, but")) << joined(bad.problems);
  EXPECT_TRUE(anyContains(bad.problems, "no DICOM series with UID or SeriesNumber 9")) << joined(bad.problems);
  EXPECT_TRUE(anyContains(bad.problems, "line 4: ct_series is given without a ct")) << joined(bad.problems);

  // Written back (as `run` writes its reference manifest), the columns survive.
  writeManifestCsv(dir / "copy.csv", m.cases, dir.path(), {});
  const Manifest copy = readManifest(dir / "copy.csv");
  EXPECT_EQ(copy.cases.at(0).mrSeries, "8");
  EXPECT_EQ(copy.cases.at(0).ctSeries, "7");
  EXPECT_EQ(copy.cases.at(0).mr, m.cases[0].mr);
}

TEST(Manifest, CheckFindsMissingFilesExtentAndMaskGridProblems) {
  test::TempDir dir;
  writeVolume(box({10, 10, 10}, 2.0), dir / "a_mr.nii.gz");
  writeVolume(box({12, 12, 12}, 1.5), dir / "a_ct.nii.gz");   // similar extent: fine
  writeVolume(box({10, 10, 10}, 10.0), dir / "b_ct.nii.gz");  // 100 mm vs 20 mm
  writeMask(Mask(box({9, 10, 10}, 2.0).geometry(), 1), dir / "b_mask.nii.gz");
  writeFile(dir / "broken.nii.gz", "this is not a volume");
  writeFile(dir / "m.csv",
            "id,mr,ct,mask,split\n"
            "a,a_mr.nii.gz,a_ct.nii.gz,,train\n"
            "b,a_mr.nii.gz,b_ct.nii.gz,b_mask.nii.gz,train\n"
            "c,missing.nii.gz,broken.nii.gz,,val\n");
  const auto r = checkManifest(dir / "m.csv");
  EXPECT_EQ(r.cases, 3u);
  EXPECT_TRUE(anyContains(r.problems, "very different physical extents")) << joined(r.problems);
  EXPECT_TRUE(anyContains(r.problems, "mask grid differs")) << joined(r.problems);
  EXPECT_TRUE(anyContains(r.problems, "missing.nii.gz does not exist")) << joined(r.problems);
  EXPECT_TRUE(anyContains(r.problems, "ct unreadable")) << joined(r.problems);
  EXPECT_EQ(r.problems.size(), 4u) << joined(r.problems);
  EXPECT_FALSE(r.ok());
}

class Scan : public ::testing::Test {
 protected:
  void makeVolume(const fs::path& p) {
    fs::create_directories(p.parent_path());
    writeVolume(box({4, 4, 4}, 1.0), p);
  }
  test::TempDir dir;
};

TEST_F(Scan, SynthRadLayoutWithSeededRecordedSplit) {
  for (int i = 0; i < 10; ++i) {
    const auto c = dir / "data" / ("case" + std::to_string(i));
    makeVolume(c / "mr.nii.gz");
    makeVolume(c / "ct.mha");
    if (i % 2) makeVolume(c / "mask.nii.gz");
  }
  fs::create_directories(dir / "data/empty_folder");
  ScanOptions o;
  o.seed = 7;
  o.valFraction = 0.2;
  o.testFraction = 0.1;
  const auto m = scanToManifest(dir / "data", dir / "m.csv", o);
  EXPECT_EQ(m.cases.size(), 10u);
  EXPECT_EQ(m.split("val").size(), 2u);
  EXPECT_EQ(m.split("test").size(), 1u);
  EXPECT_EQ(m.split("").size(), 10u) << "no split named: every case";
  const auto text = readTextFile(dir / "m.csv");
  EXPECT_NE(text.find("--seed 7"), std::string::npos) << "the split's seed is recorded";
  // Re-reading gives the same cases; the same seed gives the same split; another seed differs.
  const auto back = readManifest(dir / "m.csv");
  ASSERT_EQ(back.cases.size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(back.cases[i].id, m.cases[i].id);
    EXPECT_EQ(back.cases[i].split, m.cases[i].split);
    EXPECT_EQ(back.cases[i].mr, fs::absolute(m.cases[i].mr).lexically_normal());
  }
  EXPECT_TRUE(back.find("case1")->hasMask());
  EXPECT_FALSE(back.find("case0")->hasMask());
  const auto again = scanToManifest(dir / "data", dir / "m2.csv", o);
  std::set<std::string> val1, val2, val3;
  for (auto* c : m.split("val")) val1.insert(c->id);
  for (auto* c : again.split("val")) val2.insert(c->id);
  EXPECT_EQ(val1, val2);
  bool differs = false;
  for (std::uint32_t seed = 1; seed < 6 && !differs; ++seed) {
    o.seed = seed;
    val3.clear();
    const Manifest other = scanToManifest(dir / "data", dir / "m3.csv", o);
    for (auto* c : other.split("val")) val3.insert(c->id);
    differs = val3 != val1;
  }
  EXPECT_TRUE(differs);
}

// Issue 13, defect 12: `manifest scan --test 0.1` on 3 cases gave no test case while `phantom`
// guarantees one; both now share splitCounts.
TEST_F(Scan, SmallDataSetsGetTheSameSplitCountsAsThePhantom) {
  for (int i = 0; i < 3; ++i) {
    const auto c = dir / "small" / ("case" + std::to_string(i));
    makeVolume(c / "mr.nii.gz");
    makeVolume(c / "ct.nii.gz");
  }
  ScanOptions o;
  o.valFraction = 0.1;
  o.testFraction = 0.1;
  const auto m = scanToManifest(dir / "small", dir / "small.csv", o);
  EXPECT_EQ(m.split("test").size(), 1u);
  EXPECT_EQ(m.split("val").size(), 1u);
  EXPECT_EQ(m.split("train").size(), 1u);
  const auto phantom = phantomSplit(3, 1, 0.1, 0.1);
  EXPECT_EQ(std::count(phantom.begin(), phantom.end(), "test"), 1);
  EXPECT_EQ(std::count(phantom.begin(), phantom.end(), "val"), 1);
  o.testFraction = 0;  // asked for none: none
  EXPECT_EQ(scanToManifest(dir / "small", dir / "small0.csv", o).split("test").size(), 0u);
}

TEST_F(Scan, FlatAndNnUnetLayouts) {
  for (const char* id : {"p1", "p2", "p3"}) {
    makeVolume(dir / "flat" / (std::string(id) + "_mr.nii.gz"));
    makeVolume(dir / "flat" / (std::string(id) + "_ct.nii.gz"));
    makeVolume(dir / "nn/imagesTr" / (std::string(id) + "_0000.nii.gz"));
    makeVolume(dir / "nn/labelsTr" / (std::string(id) + ".nii.gz"));
  }
  makeVolume(dir / "nn/imagesTs/q9_0000.nii.gz");
  ScanOptions o;
  o.layout = ScanLayout::Flat;
  o.valFraction = 0;
  const auto flat = scanToManifest(dir / "flat", dir / "flat/m.csv", o);
  ASSERT_EQ(flat.cases.size(), 3u);
  EXPECT_EQ(flat.cases[1].id, "p2");
  EXPECT_EQ(flat.split("train").size(), 3u);
  o.layout = ScanLayout::NnUnet;
  const auto nn = scanToManifest(dir / "nn", dir / "nn/m.csv", o);
  ASSERT_EQ(nn.cases.size(), 4u);
  EXPECT_EQ(nn.find("q9")->split, "test") << "cases without CT are test cases";
  EXPECT_FALSE(nn.find("q9")->hasCt());
  EXPECT_EQ(nn.find("p1")->ct.filename(), "p1.nii.gz");
  EXPECT_TRUE(checkManifest(dir / "nn/m.csv").ok());
  ScanOptions nnOnFlat;
  nnOnFlat.layout = ScanLayout::NnUnet;
  EXPECT_THROW(scanToManifest(dir / "flat", dir / "x.csv", nnOnFlat), DataError);
  EXPECT_THROW(parseScanLayout("bids"), UsageError);
}

TEST_F(Scan, DataRootRelativeManifest) {
  makeVolume(dir / "root/set/a/mr.nii.gz");
  makeVolume(dir / "root/set/a/ct.nii.gz");
  ScanOptions o;
  o.dataRoot = dir / "root";
  o.valFraction = 0;
  fs::create_directories(dir / "manifests");
  scanToManifest(dir / "root/set", dir / "manifests/set.csv", o);
  const auto text = readTextFile(dir / "manifests/set.csv");
  EXPECT_NE(text.find("# data-root: set"), std::string::npos) << text;
  EXPECT_NE(text.find("a,a/mr.nii.gz,a/ct.nii.gz,,train"), std::string::npos) << text;
  ManifestOptions mo;
  mo.dataRoot = dir / "root";
  EXPECT_TRUE(checkManifest(dir / "manifests/set.csv", mo).ok());
}

}  // namespace
}  // namespace mr2ct
