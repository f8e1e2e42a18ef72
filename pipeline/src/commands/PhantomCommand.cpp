// `mr2ct phantom --out DIR --cases N --seed S`: the paired MR/CT head phantom data set.
#include "Commands.h"
#include "mr2ct/pipeline/PhantomCli.h"

namespace mr2ct {

Command phantomCommand() {
  Command c;
  c.name = "phantom";
  c.summary = "generate paired MR/CT head phantoms (misaligned, with the true transform) and a manifest";
  c.usage = "mr2ct phantom --out DIR [--cases N] [--seed S] [--size X,Y,Z] [--spacing MM]";
  c.example = "mr2ct phantom --out phantom --cases 10 --seed 1";
  c.declare = [](po::options_description& d, po::positional_options_description&) { declarePhantomOptions(d, "", 4); };
  c.run = [](const po::variables_map& vm, CommandIO& io) {
    const PhantomDatasetOptions o = phantomOptionsFrom(vm);
    const auto cases = writePhantomDataset(o);
    printPhantomSummary(o, cases, io.out);
    return int(kExitOk);
  };
  return c;
}

}  // namespace mr2ct
