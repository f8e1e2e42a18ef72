// `mr2ct demo`: phantoms, then the whole pipeline on them (see Demo.h).
#include "Commands.h"
#include "mr2ct/models/InferencePrecision.h"
#include "mr2ct/pipeline/Demo.h"
#include "mr2ct/pipeline/PhantomCli.h"

namespace mr2ct {

Command demoCommand() {
  Command c;
  c.name = "demo";
  c.summary = "the whole pipeline on generated head phantoms (no data needed; ~10 min on 2 cores)";
  c.usage = "mr2ct demo [--out DIR] [--quick] [--cases N] [--seed S]";
  c.example = "mr2ct demo --out mr2ct-demo --quick";
  c.declare = [](po::options_description& d, po::positional_options_description&) {
    declarePhantomOptions(d, "mr2ct-demo", 10);
    d.add_options()("quick", po::bool_switch(), "a ~2 minute smoke run (few training steps)")(
        "precision", po::value<std::string>(), "conversion network precision fp32 | bf16 | auto (default: convert's)");
  };
  c.run = [](const po::variables_map& vm, CommandIO& io) {
    DemoOptions o;
    o.phantom = phantomOptionsFrom(vm);
    o.quick = vm["quick"].as<bool>();
    if (o.quick && vm["cases"].defaulted()) o.phantom.cases = 4;
    // Phantoms go to <out>/data, the run to <out>/run.
    o.phantom.out = o.phantom.out / "data";
    o.threads = vm["threads"].as<int>();
    o.quiet = vm["quiet"].as<bool>();
    if (vm.count("precision")) {  // checked here, passed to the convert stage as its --precision
      const auto precision = parseInferencePrecision(vm["precision"].as<std::string>());
      o.stages = demoStageOptions(o.quick);
      o.stages["convert"]["precision"] = inferencePrecisionName(precision);
    }
    return runDemo(o, io.out, io.err);
  };
  return c;
}

}  // namespace mr2ct
