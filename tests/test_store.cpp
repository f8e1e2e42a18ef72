// The HDF5 training store: round trip, hyperslab reads, atomic commit, resume copy, version check.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/TrainingStore.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

struct CaseData {
  StoredCaseInfo info;
  Volume mr, ct;
  Mask mask, valid;
};

CaseData makeCase(const std::string& id, const std::string& split, float offset) {
  CaseData c;
  c.mr = test::makeIdentifiableVolume({7, 5, 4});
  c.ct = c.mr.clone();
  for (auto& v : c.ct.voxels()) v = -v - offset;
  for (auto& v : c.mr.voxels()) v += offset;
  c.mask = Mask(c.mr.geometry(), 0);
  c.valid = Mask(c.mr.geometry(), 1);
  for (std::size_t i = 0; i < c.mask.voxelCount(); i += 3) c.mask.data()[i] = 1;
  c.valid.data()[2] = 0;
  c.info.id = id;
  c.info.split = split;
  c.info.geometry = c.mr.geometry();
  c.info.attributes = {{"mr_normalization", {{"method", "percentile"}, {"low", 1.5}, {"high", 99.25}}},
                       {"registration", {{"final_metric", -0.75}, {"iterations_per_level", {10, 20}}}}};
  return c;
}

void write(TrainingStoreWriter& w, const CaseData& c) { w.writeCase(c.info, c.mr, c.ct, c.mask, c.valid); }

TEST(TrainingStore, RoundTripWithGeometryAttributesAndRandomAccess) {
  test::TempDir dir;
  const auto path = dir / "store.h5";
  const auto a = makeCase("case-a", "train", 0.0f), b = makeCase("case_b.2", "val", 0.5f);
  {
    TrainingStoreWriter w(path, {{"preprocessing_options", {{"spacing", {1, 1, 1}}}}});
    write(w, a);
    write(w, b);
    EXPECT_TRUE(w.hasCase("case-a"));
    EXPECT_FALSE(w.hasCase("nope"));
    EXPECT_FALSE(std::filesystem::exists(path)) << "nothing at the final path before commit";
    w.commit();
  }
  const TrainingStore s = TrainingStore::open(path);
  EXPECT_EQ(s.caseIds(), (std::vector<std::string>{"case-a", "case_b.2"}));
  EXPECT_EQ(s.caseIds("val"), (std::vector<std::string>{"case_b.2"}));
  const auto root = s.rootAttributes();
  EXPECT_EQ(root["format_version"], kTrainingStoreFormatVersion);
  EXPECT_EQ(root["tool_version"], MR2CT_VERSION);
  EXPECT_EQ(root["preprocessing_options"]["spacing"][2], 1);

  const auto& info = s.info("case_b.2");
  EXPECT_EQ(info.split, "val");
  EXPECT_TRUE(info.geometry.sameAs(b.info.geometry, 1e-12)) << info.geometry.differenceFrom(b.info.geometry);
  EXPECT_EQ(info.attributes, b.info.attributes);

  // Whole volumes.
  const Volume mr = s.readVolume("case_b.2", "mr");
  EXPECT_EQ(mr.voxels(), b.mr.voxels());
  EXPECT_EQ(s.readVolume("case_b.2", "ct").voxels(), b.ct.voxels());
  EXPECT_EQ(s.readMask("case-a", "mask").voxels(), a.mask.voxels());
  EXPECT_EQ(s.readMask("case-a", "valid").voxels(), a.valid.voxels());

  // Slices z = 1..2, x-fastest.
  const auto& g = a.info.geometry;
  std::vector<float> slices(g.size[0] * g.size[1] * 2);
  s.readSlices("case-a", "ct", 1, 2, slices.data());
  for (std::size_t k = 0; k < 2; ++k)
    for (std::size_t y = 0; y < g.size[1]; ++y)
      for (std::size_t x = 0; x < g.size[0]; ++x)
        ASSERT_EQ(slices[(k * g.size[1] + y) * g.size[0] + x], a.ct.at(x, y, 1 + k));

  // A patch, and a uint8 dataset read as float.
  std::vector<float> patch(3 * 2 * 2);
  s.readPatch("case-a", "mr", {2, 1, 1}, {3, 2, 2}, patch.data());
  for (std::size_t z = 0; z < 2; ++z)
    for (std::size_t y = 0; y < 2; ++y)
      for (std::size_t x = 0; x < 3; ++x) ASSERT_EQ(patch[(z * 2 + y) * 3 + x], a.mr.at(2 + x, 1 + y, 1 + z));
  s.readPatch("case-a", "valid", {0, 0, 0}, {3, 1, 1}, patch.data());
  EXPECT_EQ(patch[2], 0.0f);
  EXPECT_EQ(patch[1], 1.0f);

  // Out of range, unknown dataset / case.
  EXPECT_THROW(s.readSlices("case-a", "mr", 3, 2, slices.data()), DataError);
  EXPECT_THROW(s.readPatch("case-a", "mr", {5, 0, 0}, {3, 1, 1}, patch.data()), DataError);
  EXPECT_THROW(s.readSlices("case-a", "labels", 0, 1, slices.data()), UsageError);
  EXPECT_THROW(s.info("missing"), DataError);
}

TEST(TrainingStore, ConcurrentReadersGetConsistentData) {
  test::TempDir dir;
  const auto path = dir / "s.h5";
  const auto a = makeCase("a", "train", 1.0f);
  {
    TrainingStoreWriter w(path, {});
    write(w, a);
    w.commit();
  }
  const TrainingStore s = TrainingStore::open(path);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<float> buf(7 * 5);
      for (int k = 0; k < 50; ++k) {
        const std::size_t z = std::size_t((t + k) % 4);
        s.readSlices("a", "mr", z, 1, buf.data());
        if (buf[0] != a.mr.at(0, 0, z)) ++bad;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(TrainingStore, UncommittedWriterLeavesNothingBehind) {
  test::TempDir dir;
  const auto path = dir / "s.h5";
  {
    TrainingStoreWriter w(path, {});
    write(w, makeCase("a", "train", 0));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << "temporary file must be removed";
}

TEST(TrainingStore, FailingRunKeepsThePreviousStoreIntact) {
  test::TempDir dir;
  const auto path = dir / "s.h5";
  {
    TrainingStoreWriter w(path, {});
    write(w, makeCase("old", "train", 0));
    w.commit();
  }
  {
    TrainingStoreWriter w(path, {});
    write(w, makeCase("new", "train", 0));
    // destroyed without commit: an interrupted run
  }
  EXPECT_EQ(TrainingStore::open(path).caseIds(), std::vector<std::string>{"old"});
}

TEST(TrainingStore, CopyCasesFromAnExistingStore) {
  test::TempDir dir;
  const auto first = dir / "first.h5", second = dir / "second.h5";
  const auto a = makeCase("a", "train", 0), b = makeCase("b", "val", 2), c = makeCase("c", "test", 3);
  {
    TrainingStoreWriter w(first, {});
    write(w, a);
    write(w, b);
    w.commit();
  }
  {
    TrainingStoreWriter w(second, {});
    EXPECT_EQ(w.copyCasesFrom(first, {"b"}), std::vector<std::string>{"b"});
    write(w, c);
    EXPECT_EQ(w.copyCasesFrom(first), std::vector<std::string>{"a"}) << "b already present";
    w.commit();
  }
  const TrainingStore s = TrainingStore::open(second);
  EXPECT_EQ(s.caseIds().size(), 3u);
  EXPECT_EQ(s.readVolume("b", "ct").voxels(), b.ct.voxels());
  EXPECT_EQ(s.info("b").attributes, b.info.attributes);
  EXPECT_EQ(s.info("b").split, "val");
}

TEST(TrainingStore, BadCasesAreRefused) {
  test::TempDir dir;
  TrainingStoreWriter w(dir / "s.h5", {});
  auto c = makeCase("../evil", "train", 0);
  EXPECT_THROW(write(w, c), DataError);
  c = makeCase("ok", "training", 0);
  EXPECT_THROW(write(w, c), DataError);
  c = makeCase("ok", "train", 0);
  c.info.geometry.size[0] += 1;
  EXPECT_THROW(write(w, c), DataError);
  c = makeCase("ok", "train", 0);
  write(w, c);
  EXPECT_THROW(write(w, c), DataError) << "duplicate id";
}

TEST(TrainingStore, UnknownVersionAndForeignFilesAreRefused) {
  test::TempDir dir;
  const auto future = dir / "future.h5";
  {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);  // checksummed metadata, as stores are written
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(future.string().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(f, "format_version", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    long long v = 99;
    H5Awrite(attr, H5T_NATIVE_LLONG, &v);
    H5Aclose(attr);
    H5Sclose(space);
    H5Fclose(f);
  }
  const std::string futureMessage = test::thrownMessage<DataError>([&] { TrainingStore::open(future); });
  EXPECT_NE(futureMessage.find("version 99"), std::string::npos) << futureMessage;
  // A store of another version is still a store (info says so); without format_version the same
  // file is another program's HDF5.
  try {
    TrainingStore::open(future);
  } catch (const NotATrainingStore& e) {
    ADD_FAILURE() << "a store of another version called foreign: " << e.what();
  } catch (const DataError&) {
  }
  {
    hid_t f = H5Fopen(future.string().c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Adelete(f, "format_version");
    H5Fclose(f);
  }
  const std::string foreign = test::thrownMessage<NotATrainingStore>([&] { TrainingStore::open(future); });
  EXPECT_NE(foreign.find("future.h5: not an mr2ct training store (no format_version"), std::string::npos) << foreign;
  // An HDF5 file with an unchecksummed superblock v0 (the library default; format version 1
  // stores) is refused before libhdf5 parses it: fuzz_training_store found heap overflows in
  // libhdf5 1.10.8 on corrupt v0 metadata. The same refusal when the superblock sits at 512 (a
  // user block in front).
  for (const hsize_t userBlock : {hsize_t(0), hsize_t(512)}) {
    const auto old = dir / ("v0_" + std::to_string(userBlock) + ".h5");
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_userblock(fcpl, userBlock);
    hid_t f = H5Fcreate(old.string().c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    H5Fclose(f);
    const std::string message = test::thrownMessage<NotATrainingStore>([&] { TrainingStore::open(old); });
    EXPECT_NE(message.find(old.string() + ": not an mr2ct store (HDF5 superblock v0"), std::string::npos) << message;
  }
  // A store written by TrainingStoreWriter carries superblock v3 at offset 0.
  {
    const auto written = dir / "new.h5";
    { TrainingStoreWriter(written, {}).commit(); }
    std::ifstream in(written, std::ios::binary);
    char b[9] = {};
    in.read(b, 9);
    EXPECT_EQ(std::string(b + 1, 3), "HDF");
    EXPECT_GE(int(static_cast<unsigned char>(b[8])), 2);
  }
  const auto text = dir / "text.h5";
  { std::ofstream(text) << "not hdf5"; }
  EXPECT_THROW(TrainingStore::open(text), IoError);
  EXPECT_THROW(TrainingStore::open(dir / "missing.h5"), IoError);
}

}  // namespace
}  // namespace mr2ct
