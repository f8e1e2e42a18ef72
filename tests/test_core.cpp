#include <gtest/gtest.h>

#include <fstream>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/SafePath.h"
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
