// Batch isolation (issue 8, README "Reliability"): in a manifest of 5 tiny phantom cases one MR is a
// truncated .nii.gz. `mr2ct preprocess` and batch `mr2ct convert --manifest` must process every good
// case, list the bad one with its reason (naming the file), and exit 3 -- one bad file costs one
// case, never the batch. Runs the real executable (exit status as a shell or scheduler sees it).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "mr2ct/preprocessing/TrainingStore.h"
#include "support/TestSupport.h"

namespace fs = std::filesystem;

namespace mr2ct {
namespace {

struct Run {
  int code;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Run exe(const test::TempDir& dir, const std::string& args) {
  const fs::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  const std::string cmd =
      std::string("'") + MR2CT_EXE + "' " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(cmd.c_str());
  if (!WIFEXITED(status)) return {-1, slurp(out), "killed by a signal: " + slurp(err)};
  return {WEXITSTATUS(status), slurp(out), slurp(err)};
}

/// 5 tiny phantom cases; case002's MR cut to half its bytes (a transfer that stopped midway).
struct CorruptBatch {
  test::TempDir dir;
  fs::path manifest, bad;
  CorruptBatch() {
    const auto r = exe(dir, "phantom --out '" + (dir / "ph").string() +
                                "' --cases 5 --seed 8 --size 40,40,36 --spacing 3.5 --mr-spacing 3.8,4.2 "
                                "--threads 1 --quiet");
    EXPECT_EQ(r.code, 0) << r.err;
    manifest = dir / "ph" / "manifest.csv";
    bad = dir / "ph" / "case002" / "mr.nii.gz";
    const std::string bytes = slurp(bad);
    std::ofstream(bad, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size() / 2));
  }
};

TEST(BatchIsolation, PreprocessAndConvertSkipOnlyTheCorruptCase) {
  CorruptBatch b;
  const auto& dir = b.dir;
  const fs::path store = dir / "store.h5";
  // --register none: registration is not what this test is about, and it keeps the test quick.
  auto r = exe(dir, "preprocess --manifest '" + b.manifest.string() + "' --out '" + store.string() +
                        "' --register none --threads 1 --quiet");
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("4 case(s) preprocessed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 failed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("failed: case002: " + b.bad.string() + ": truncated"), std::string::npos) << r.out;
  ASSERT_TRUE(fs::exists(store)) << "the good cases must still be written";
  {
    const auto ids = TrainingStore::open(store).caseIds();
    EXPECT_EQ(ids, (std::vector<std::string>{"case000", "case001", "case003", "case004"}));
  }

  // Batch convert with a 2-step model trained on the good cases.
  const fs::path model = dir / "model";
  r = exe(dir, "train --store '" + store.string() + "' --out '" + model.string() +
                   "' --steps 2 --batch 2 --threads 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const fs::path sct = dir / "sct";
  fs::create_directories(sct);
  r = exe(dir, "convert --model '" + model.string() + "' --manifest '" + b.manifest.string() + "' --out-dir '" +
                   sct.string() + "' --steps 1 --threads 1 --quiet");
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("failed: case002: " + b.bad.string() + ": truncated"), std::string::npos) << r.out;
  for (const std::string id : {"case000", "case001", "case003", "case004"})
    EXPECT_TRUE(fs::exists(sct / (id + ".nii.gz"))) << id;
  EXPECT_FALSE(fs::exists(sct / "case002.nii.gz"));
  // status.csv: one row per case; the bad one "failed" with the reason naming the file.
  std::istringstream status(slurp(sct / "status.csv"));
  std::string line;
  int ok = 0, failed = 0;
  while (std::getline(status, line)) {
    if (line.rfind("case002,failed,", 0) == 0) {
      ++failed;
      EXPECT_NE(line.find(b.bad.string() + ": truncated"), std::string::npos) << line;
    } else if (line.find(",ok,") != std::string::npos) {
      ++ok;
    }
  }
  EXPECT_EQ(ok, 4);
  EXPECT_EQ(failed, 1);
}

}  // namespace
}  // namespace mr2ct
