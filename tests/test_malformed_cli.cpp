// Malformed inputs through the command line: `mr2ct info <file>` on every corpus entry
// (tests/support/MalformedCorpus.h) must exit 1 and print exactly one line on stderr, naming the
// file. Entries with NaN/Inf voxels are left out: `info` is an inspection tool and reads them
// (allowNonFinite) to report them; the library test covers their refusal.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "support/MalformedCorpus.h"
#include "support/TestSupport.h"

namespace fs = std::filesystem;

namespace mr2ct {
namespace {

using test::malformed::Malformed;
using test::malformed::slurp;

std::vector<Malformed> refusedByInfo() {
  auto all = test::malformed::corpus();
  all.erase(std::remove_if(all.begin(), all.end(),
                           [](const Malformed& m) {
                             return m.name.find("_nan_voxels") != std::string::npos ||
                                    m.name.find("_inf_voxels") != std::string::npos;
                           }),
            all.end());
  return all;
}

class MalformedCli : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedCli, InfoExitsOneWithOneLine) {
  const Malformed& m = GetParam();
  test::TempDir dir;
  const fs::path target = m.writeInto(dir.path());
  const fs::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  const std::string cmd = std::string("'") + MR2CT_EXE + "' info '" + target.string() + "' >'" + out.string() + "' 2>'" +
                          err.string() + "'";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << "mr2ct info did not exit normally (signal?) for " << m.name;
  EXPECT_EQ(WEXITSTATUS(status), 1) << slurp(err);
  const std::string e = slurp(err);
  EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 1) << "stderr is not one line:\n" << e;
  const bool named = e.find(target.string()) != std::string::npos || e.find("nowhere.raw") != std::string::npos;
  EXPECT_TRUE(named) << "stderr does not name the file: " << e;
}

INSTANTIATE_TEST_SUITE_P(Malformed, MalformedCli, ::testing::ValuesIn(refusedByInfo()),
                         [](const ::testing::TestParamInfo<Malformed>& param) { return param.param.name; });

}  // namespace
}  // namespace mr2ct
