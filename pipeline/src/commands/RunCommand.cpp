#include "Commands.h"
#include "mr2ct/pipeline/Experiment.h"

namespace mr2ct {

Command runCommand() {
  Command c;
  c.name = "run";
  c.summary = "preprocess -> train -> convert the test split -> evaluate, resumable, in one work folder";
  c.usage = "mr2ct run --manifest M --work DIR [--config experiment.ini]";
  c.example = "mr2ct run --manifest data_manifests/brainweb20-paired.csv --work runs/bw --config "
              "data_manifests/brainweb20-experiment.ini";
  c.configHasStageSections = true;
  c.declare = [](po::options_description& d, po::positional_options_description&) {
    d.add_options()("manifest", po::value<std::string>()->required(), "data manifest (.csv or .json)")(
        "work", po::value<std::string>()->required(), "work folder (created; rerun to resume)")(
        "split", po::value<std::string>()->default_value("test"), "cases to convert and evaluate")(
        "no-baseline", po::bool_switch(), "skip the bulk-density baseline");
    addManifestOptions(d);
  };
  c.run = [](const po::variables_map& vm, CommandIO& io) {
    ExperimentOptions o;
    o.manifest = vm["manifest"].as<std::string>();
    o.work = vm["work"].as<std::string>();
    if (vm.count("config")) o.config = vm["config"].as<std::string>();
    o.manifestOptions = manifestOptionsFrom(vm);
    o.split = vm["split"].as<std::string>();
    o.baseline = !vm["no-baseline"].as<bool>();
    o.threads = vm["threads"].as<int>();
    o.quiet = vm["quiet"].as<bool>();
    return runExperiment(o, io.out, io.err);
  };
  return c;
}

}  // namespace mr2ct
