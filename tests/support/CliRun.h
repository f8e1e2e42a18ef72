#pragma once
// The mr2ct command line run in-process (runCli, as main() runs it), with what it prints captured.
#include <sstream>
#include <string>
#include <vector>

#include "mr2ct/pipeline/Command.h"

namespace mr2ct::test {

/// `args` without the program name; returns the exit code main() would return.
inline int cli(std::vector<std::string> args, std::string* out = nullptr, std::string* err = nullptr) {
  args.insert(args.begin(), "mr2ct");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  std::ostringstream o, e;
  const int rc = runCli(int(argv.size()), argv.data(), o, e);
  if (out) *out = o.str();
  if (err) *err = e.str();
  return rc;
}

}  // namespace mr2ct::test
