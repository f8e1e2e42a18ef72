#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <vector>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/OutputGuard.h"
#include "mr2ct/core/ProcessFence.h"
#include "mr2ct/core/SafePath.h"
#include "mr2ct/core/SplitCounts.h"
#include "mr2ct/core/Text.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace fs = std::filesystem;

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

TEST(AtomicFile, SuffixGoesBeforeTheWholeExtensionWithItsCaseKept) {
  EXPECT_EQ(stemBeforeExtension("a/Sct.NII.gz"), "Sct");
  EXPECT_EQ(stemBeforeExtension("noext"), "noext");
  EXPECT_EQ(withSuffixBeforeExtension("a/sct.nii.gz", "_std"), fs::path("a/sct_std.nii.gz"));
  EXPECT_EQ(withSuffixBeforeExtension("a/SCT.NII.GZ", "_nfe4"), fs::path("a/SCT_nfe4.NII.GZ"));
  EXPECT_EQ(withSuffixBeforeExtension("store.h5", ".shard0of2"), fs::path("store.shard0of2.h5"));
  EXPECT_EQ(withSuffixBeforeExtension("series", "_std"), fs::path("series_std"));
}

TEST(Text, DicomPaddingIsTrimmedButInnerSpacesStay) {
  EXPECT_EQ(trimDicomPadding(std::string("1.2.840\0", 8)), "1.2.840");
  EXPECT_EQ(trimDicomPadding(" HEAD  ^ NECK "), "HEAD  ^ NECK");
  EXPECT_EQ(trimDicomPadding(std::string("\0\0", 2)), "");
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

TEST(ProcessFence, AnAbortInTheChildIsReportedWithTheLastMarkAndThisProcessGoesOn) {
  const FencedOutcome out = runFenced([](FenceChannel& channel) {
    channel.mark("first.dcm");
    channel.mark("second.dcm");
    std::abort();  // what an assert() in a third-party parser does
  });
  EXPECT_FALSE(out.completed);
  EXPECT_EQ(out.lastMark, "second.dcm");
  EXPECT_NE(out.failure.find("aborted"), std::string::npos) << out.failure;
  EXPECT_NE(out.failure.find("signal 6"), std::string::npos) << out.failure;
}

TEST(ProcessFence, ErrorsThrownInTheChildComeBackWithTheirTypeAndMessage) {
  try {
    runFenced([](FenceChannel&) { throw IoError("/data/IM0001", "cannot read DICOM header: bad"); });
    FAIL() << "no exception";
  } catch (const IoError& e) {
    EXPECT_EQ(e.path(), "/data/IM0001");
    EXPECT_STREQ(e.what(), "/data/IM0001: cannot read DICOM header: bad");
  }
  EXPECT_EQ(test::thrownMessage<DataError>([] { runFenced([](FenceChannel&) { throw DataError("x: gap in z"); }); }),
            "x: gap in z");
  EXPECT_THROW(runFenced([](FenceChannel&) { throw std::bad_alloc(); }), std::bad_alloc);
}

TEST(ProcessFence, TheChildSendsRepliesAndBulkBytesButWritesNoneOfOurMemory) {
  // 3 MiB + 3 floats: several pipe pieces, the last one short.
  const std::size_t n = (std::size_t(3) << 20) / sizeof(float) * 4 + 3;
  std::vector<float> into(n, -1.0f);
  int ours = 0;
  const FencedOutcome out = runFenced(
      [&](FenceChannel& channel) {
        std::vector<float> v(n);
        for (std::size_t i = 0; i < n; ++i) v[i] = float(i % 1000) * 0.5f;
        channel.bulk(v.data(), 7 * sizeof(float));
        channel.bulk(v.data() + 7, (n - 7) * sizeof(float));
        channel.reply(std::string("done\0with a zero", 16));
        ours = 7;  // the child's copy of this process's memory
      },
      std::chrono::seconds(60), n * sizeof(float), [&] { return static_cast<void*>(into.data()); });
  EXPECT_TRUE(out.completed);
  EXPECT_EQ(out.bulkBytes, n * sizeof(float));
  EXPECT_EQ(out.reply, std::string("done\0with a zero", 16));
  for (std::size_t i : {std::size_t(0), std::size_t(6), std::size_t(7), n / 2, n - 1})
    EXPECT_EQ(into[i], float(i % 1000) * 0.5f) << i;
  EXPECT_EQ(ours, 0);
  // More bulk bytes than the parent's buffer holds: an error, nothing written past it.
  std::vector<float> small(4, -1.0f);
  EXPECT_THROW(runFenced([&](FenceChannel& channel) { channel.bulk(into.data(), 8 * sizeof(float)); },
                         std::chrono::seconds(60), small.size() * sizeof(float),
                         [&] { return static_cast<void*>(small.data()); }),
               Error);
}

TEST(ProcessFence, AChildThatStopsReportingIsKilledAfterTheQuietLimit) {
  const auto start = std::chrono::steady_clock::now();
  const FencedOutcome out = runFenced(
      [](FenceChannel& channel) {
        channel.mark("hangs.dcm");
        std::this_thread::sleep_for(std::chrono::seconds(30));
      },
      std::chrono::seconds(1));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_FALSE(out.completed);
  EXPECT_EQ(out.lastMark, "hangs.dcm");
  EXPECT_EQ(out.failure, "did not finish within 1 s");
  EXPECT_LT(seconds, 20.0);
}

}  // namespace
}  // namespace mr2ct
