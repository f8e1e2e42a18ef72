#pragma once
// `mr2ct demo`: the whole tool on a fresh machine with no data: generates paired head phantoms,
// then runs `mr2ct run` on them (preprocess → train → convert the test cases → evaluate, with the
// bulk-density baseline beside the model) with a configuration sized for about 10 minutes on two
// CPU cores (`--quick`: about 2 minutes, a smoke run whose model is not expected to be good).
#include <iosfwd>
#include <map>
#include <string>

#include "mr2ct/phantom/HeadPhantom.h"

namespace mr2ct {

struct DemoOptions {
  PhantomDatasetOptions phantom;  ///< out = <demo out>/data
  bool quick = false;
  int threads = 0;
  bool quiet = false;
  /// The stage options the demo runs with (see demoStageOptions), stage → key → value.
  std::map<std::string, std::map<std::string, std::string>> stages;
};

/// The demo's experiment configuration (what an experiment INI would hold).
std::map<std::string, std::map<std::string, std::string>> demoStageOptions(bool quick);

/// Runs the demo into `out` (data/ and run/ inside); returns the exit code.
int runDemo(const DemoOptions& options, std::ostream& out, std::ostream& err);

}  // namespace mr2ct
