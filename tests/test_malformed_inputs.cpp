// Malformed inputs through the library: every entry of the corpus (tests/support/MalformedCorpus.h:
// truncated, wrong magic, zero/negative/overflowing/huge sizes, NaN/Inf voxels, 2D/4D,
// multi-component, empty files, folders where files are expected, fuzzer regressions) is one test,
// one CTest case with its own timeout: readVolume must throw mr2ct::Error, in one line, naming the
// file and saying why. The count per reader is printed by MalformedCorpus.CountsPerReader.
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <string>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/MalformedCorpus.h"
#include "support/TestSupport.h"

namespace fs = std::filesystem;

namespace mr2ct {
namespace {

using test::malformed::corpus;
using test::malformed::lower;
using test::malformed::Malformed;

class MalformedInput : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedInput, RefusedWithTheFileNamed) {
  const Malformed& m = GetParam();
  test::TempDir dir;
  const fs::path target = m.writeInto(dir.path());
  ReadOptions options;
  options.maxVoxels = std::size_t(1) << 28;  // 1 GiB of floats: "huge" entries exceed it, the valid 120 voxels do not
  std::string message;
  try {
    readVolume(target, options);
    FAIL() << m.name << ": readVolume accepted a malformed input";
  } catch (const Error& e) {
    message = e.what();
  }
  // The message names the file that was read (or, for a detached header, the data file it names).
  const bool named = message.find(target.string()) != std::string::npos || message.find("nowhere.raw") != std::string::npos;
  EXPECT_TRUE(named) << "message does not name the file: " << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "message is not one line: " << message;
  bool because = false;
  for (const auto& b : m.because) because = because || lower(message).find(lower(b)) != std::string::npos;
  EXPECT_TRUE(because) << "message does not say why (expected one of: " << ::testing::PrintToString(m.because) << "): " << message;
  // readVolumeInfo reads only the header: it may accept a file whose voxels are bad, but it must not
  // fail in any other way than mr2ct::Error.
  try {
    readVolumeInfo(target, options);
  } catch (const Error&) {
  }
}

INSTANTIATE_TEST_SUITE_P(Malformed, MalformedInput, ::testing::ValuesIn(corpus()),
                         [](const ::testing::TestParamInfo<Malformed>& param) { return param.param.name; });

/// The corpus size per reader, printed so the README's figures can be regenerated.
TEST(MalformedCorpus, CountsPerReader) {
  std::map<std::string, int> perReader;
  for (const auto& m : corpus()) ++perReader[m.name.substr(0, m.name.find('_'))];
  std::string line;
  for (const auto& [reader, n] : perReader) line += reader + "=" + std::to_string(n) + " ";
  std::cout << "malformed inputs per reader: " << line << "\n";
  EXPECT_GE(perReader["nii"], 15);
  EXPECT_GE(perReader["mha"], 12);
  EXPECT_GE(perReader["nrrd"], 10);
}

}  // namespace
}  // namespace mr2ct
