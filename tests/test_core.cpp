#include <gtest/gtest.h>

#include <fstream>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/OutputGuard.h"
#include "mr2ct/core/SafePath.h"
#include "mr2ct/core/SplitCounts.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

TEST(AtomicFile, KeepsFullExtension) {
  EXPECT_EQ(fullExtension("a/b/ct.nii.gz"), ".nii.gz");
  EXPECT_EQ(fullExtension("CT.NII.GZ"), ".nii.gz");
  EXPECT_EQ(fullExtension("x.mha"), ".mha");
  EXPECT_EQ(fullExtension("noext"), "");
  const auto tmp = temporarySibling("/data/out/sct.nii.gz");
  EXPECT_EQ(tmp.parent_path(), "/data/out");
  EXPECT_EQ(fullExtension(tmp), ".nii.gz");
  EXPECT_NE(tmp.filename(), "sct.nii.gz");
}

TEST(AtomicFile, FailedWriteLeavesOldContentAndNoTemporary) {
  test::TempDir dir;
  const auto target = dir / "result.txt";
  writeTextAtomically(target, "old");
  EXPECT_THROW(writeAtomically(target,
                               [](const std::filesystem::path& tmp) {
                                 std::ofstream(tmp) << "half";
                                 throw Error("interrupted");
                               }),
               Error);
  EXPECT_EQ(readTextFile(target), "old");
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) (void)e, ++files;
  EXPECT_EQ(files, 1);
}

TEST(AtomicFile, MissingFolderIsNamed) {
  try {
    writeTextAtomically("/nonexistent-dir-mr2ct/x.txt", "x");
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir-mr2ct/x.txt"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("folder does not exist"), std::string::npos);
  }
}

TEST(OutputGuard, FolderIsCreatedAndChecked) {
  test::TempDir dir;
  prepareOutputFile(dir / "a" / "b" / "out.nii.gz");
  EXPECT_TRUE(std::filesystem::is_directory(dir / "a" / "b"));
  const std::string space = test::thrownMessage<IoError>([&] { prepareOutputFolder(dir / "a", std::uintmax_t(1) << 62); });
  EXPECT_NE(space.find("no space"), std::string::npos) << space;
  const std::string file = test::thrownMessage<IoError>([&] { prepareOutputFile(dir / "a"); });
  EXPECT_NE(file.find("is a folder"), std::string::npos) << file;
  const std::string proc = test::thrownMessage<IoError>([&] { prepareOutputFolder("/proc"); });
  EXPECT_NE(proc.find("not writable"), std::string::npos) << proc;
}

TEST(OutputGuard, SameFileSeesLinksAndHardLinks) {
  test::TempDir dir;
  writeTextAtomically(dir / "in.nii", "x");
  std::filesystem::create_symlink(dir / "in.nii", dir / "sym.nii");
  std::filesystem::create_hard_link(dir / "in.nii", dir / "hard.nii");
  writeTextAtomically(dir / "other.nii", "x");
  EXPECT_TRUE(sameFile(dir / "sym.nii", dir / "in.nii"));
  EXPECT_TRUE(sameFile(dir / "hard.nii", dir / "in.nii"));
  EXPECT_FALSE(sameFile(dir / "other.nii", dir / "in.nii"));
  EXPECT_FALSE(sameFile(dir / "missing.nii", dir / "in.nii"));
  EXPECT_THROW(refuseOverwritingInputs(dir / "hard.nii", {dir / "in.nii"}), UsageError);
  EXPECT_NO_THROW(refuseOverwritingInputs(dir / "new.nii", {dir / "in.nii"}));
  std::filesystem::create_directories(dir / "dicom");
  EXPECT_THROW(refuseOverwritingInputs(dir / "dicom" / "sct.nii.gz", {dir / "dicom"}), UsageError);
}

TEST(SplitCounts, OneRule) {
  EXPECT_EQ(splitCounts(3, 0.1, 0.1).test, 1u);
  EXPECT_EQ(splitCounts(3, 0.1, 0.1).val, 1u);
  EXPECT_EQ(splitCounts(10, 0.2, 0.1).val, 2u);
  EXPECT_EQ(splitCounts(10, 0.2, 0.1).test, 1u);
  EXPECT_EQ(splitCounts(10, 0.2, 0.0).test, 0u);
  EXPECT_EQ(splitCounts(2, 0.15, 0.15).val, 1u);
  EXPECT_EQ(splitCounts(2, 0.15, 0.15).test, 0u);
  EXPECT_EQ(splitCounts(1, 0.5, 0.5).val + splitCounts(1, 0.5, 0.5).test, 0u);
  const auto c = splitCounts(4, 0.6, 0.6);
  EXPECT_LT(c.val + c.test, 4u);  // one case always trains
}

TEST(SafePath, Ids) {
  EXPECT_TRUE(isSafeId("case_001-a.b"));
  EXPECT_FALSE(isSafeId(""));
  EXPECT_FALSE(isSafeId(".."));
  EXPECT_FALSE(isSafeId("a/b"));
  EXPECT_FALSE(isSafeId("a b"));
  EXPECT_FALSE(isSafeId("caf\xc3\xa9"));
}

TEST(SafePath, EscapesAreRefused) {
  EXPECT_EQ(resolveInside("/data/m", "sub/x.nii.gz", false, "m.csv"), "/data/m/sub/x.nii.gz");
  EXPECT_THROW(resolveInside("/data/m", "../x.nii.gz", false, "m.csv"), DataError);
  EXPECT_THROW(resolveInside("/data/m", "sub/../../x.nii.gz", false, "m.csv"), DataError);
  EXPECT_THROW(resolveInside("/data/m", "/etc/passwd", false, "m.csv"), DataError);
  EXPECT_EQ(resolveInside("/data/m", "../x.nii.gz", true, "m.csv"), "/data/x.nii.gz");
}

}  // namespace
}  // namespace mr2ct
