#include "mr2ct/pipeline/Demo.h"

#include <ostream>

#include "mr2ct/pipeline/Experiment.h"
#include "mr2ct/pipeline/PhantomCli.h"

namespace mr2ct {

std::map<std::string, std::map<std::string, std::string>> demoStageOptions(bool quick) {
  // Sized for two CPU cores: the phantoms are resampled to 2 mm (about 96×96 slices), a small 2D
  // UNet is trained on 64×64 crops, and the test cases are converted with Heun (NFE 4).
  std::map<std::string, std::map<std::string, std::string>> s;
  s["preprocess"] = {{"register", "rigid"}, {"spacing", "2"}, {"jobs", "2"}};
  s["train"] = {{"preset", "unet2d-small"},   {"patch", "64"},           {"batch", "8"},
                {"steps", quick ? "60" : "4000"}, {"lr", "1e-3"},        {"warmup", quick ? "10" : "200"},
                {"validate-every", quick ? "60" : "1000"}, {"checkpoint-every", quick ? "60" : "500"},
                {"seed", "1"}};
  s["convert"] = {{"solver", "heun"}, {"steps", "2"}};
  s["evaluate"] = {};
  return s;
}

int runDemo(const DemoOptions& options, std::ostream& out, std::ostream& err) {
  const std::filesystem::path root = options.phantom.out.parent_path();
  out << "== 1/2 paired MR/CT head phantoms\n";
  const auto cases = writePhantomDataset(options.phantom);
  printPhantomSummary(options.phantom, cases, out);

  out << "\n== 2/2 mr2ct run: preprocess -> train -> convert the test cases -> evaluate"
      << (options.quick ? " (quick smoke run)" : "") << "\n";
  ExperimentOptions ex;
  ex.manifest = options.phantom.out / "manifest.csv";
  ex.work = root / "run";
  ex.threads = options.threads;
  ex.quiet = options.quiet;
  ex.overrides = options.stages.empty() ? demoStageOptions(options.quick) : options.stages;
  return runExperiment(ex, out, err);
}

}  // namespace mr2ct
