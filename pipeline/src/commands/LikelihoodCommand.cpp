// `mr2ct likelihood`: log p(CT | MR) under a model, in bits per voxel, for one case (--input/--ct)
// or a manifest (--manifest/--out report.csv). Likelihood.h has the rules.
#include <iomanip>

#include "Commands.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/pipeline/Likelihood.h"

namespace mr2ct {
namespace {

std::string opt(const po::variables_map& vm, const char* name) {
  return vm.count(name) ? vm[name].as<std::string>() : std::string();
}

LikelihoodCommandOptions optionsFrom(const po::variables_map& vm) {
  LikelihoodCommandOptions o;
  o.model = opt(vm, "model");
  o.device = vm["device"].as<std::string>();
  o.batch = vm["batch"].as<int>();
  o.likelihood.method = parseSolverMethod(vm["solver"].as<std::string>());
  o.likelihood.steps = vm["steps"].as<int>();
  o.likelihood.divergence = parseDivergenceMethod(vm["divergence"].as<std::string>());
  o.likelihood.probes = vm["probes"].as<int>();
  o.likelihood.seed = vm["seed"].as<std::uint64_t>();
  o.ctTransform = opt(vm, "ct-transform");
  o.geometryTolerance = vm["geometry-tolerance"].as<double>();
  o.validate();
  return o;
}

}  // namespace

Command likelihoodCommand() {
  Command c;
  c.name = "likelihood";
  c.summary = "log p(CT | MR) under a model in bits per voxel (Hutchinson divergence along the reverse ODE)";
  c.usage =
      "mr2ct likelihood --model DIR --input MR --ct CT [--probes 1] [--seed 0] [--steps 8] [--solver midpoint] "
      "[--ct-transform T.tfm] [--dicom-series S] [--ct-series S] [--json]\n"
      "       mr2ct likelihood --model DIR --manifest M --out report.csv [--split val]";
  c.example = "mr2ct likelihood --model model --input phantom/case000/mr.nii.gz --ct phantom/case000/ct.nii.gz --json";
  c.declare = [](po::options_description& d, po::positional_options_description&) {
    const LikelihoodCommandOptions def;
    d.add_options()
        ("model", po::value<std::string>()->required(), "model folder (config.json, weights.pt); 2D/2.5D, source noise or mr with sigma > 0")
        ("input", po::value<std::string>(), "MR volume (one case)")
        ("ct", po::value<std::string>(), "CT in HU on the MR's grid (one case)")
        ("dicom-series", po::value<std::string>()->default_value(""),
         "--input is a DICOM folder of several series: the MR's SeriesInstanceUID or SeriesNumber")
        ("ct-series", po::value<std::string>()->default_value(""),
         "--ct is a DICOM folder of several series: the CT's SeriesInstanceUID or SeriesNumber")
        ("ct-transform", po::value<std::string>(),
         "ITK transform (MR-grid point -> CT point): resample the CT onto the MR's grid instead of requiring it there")
        ("geometry-tolerance", realValue(def.geometryTolerance), "MR vs CT grid: origin mm, spacing relative, direction")
        ("json", po::bool_switch(), "print JSON (one case)")
        ("manifest", po::value<std::string>(), "batch: manifest; every case with a CT is scored")
        ("out", po::value<std::string>(), "batch: report CSV")
        ("split", po::value<std::string>()->default_value(""), "batch: only cases of this split")
        ("probes", po::value<int>()->default_value(def.likelihood.probes), "Hutchinson: Rademacher probes per solve (cost: one backward pass each per evaluation)")
        ("seed", po::value<std::uint64_t>()->default_value(def.likelihood.seed), "Hutchinson: seed of the probes")
        ("divergence", po::value<std::string>()->default_value(divergenceMethodName(def.likelihood.divergence)), "hutchinson | exact (one backward pass per voxel: tiny inputs only)")
        ("solver", po::value<std::string>()->default_value(solverMethodName(def.likelihood.method)), "euler | midpoint | heun | rk4 | dopri5 (backwards from t = 1 to 0)")
        ("steps", po::value<int>()->default_value(def.likelihood.steps), "steps of a fixed-step solver")
        ("device", po::value<std::string>()->default_value(def.device), "cpu | cuda | cuda:N")
        ("batch", po::value<int>()->default_value(def.batch), "slices per solve");
    addManifestOptions(d, "batch: ");
  };
  c.run = [](const po::variables_map& vm, CommandIO& io) {
    const LikelihoodCommandOptions options = optionsFrom(vm);
    if (vm.count("manifest")) {
      if (vm.count("input") || vm.count("ct")) throw UsageError("--manifest and --input/--ct exclude each other");
      LikelihoodBatchOptions b;
      b.score = options;
      b.manifest = opt(vm, "manifest");
      b.out = opt(vm, "out");
      b.split = vm["split"].as<std::string>();
      b.manifestOptions = manifestOptionsFrom(vm);
      const auto r = runLikelihoodBatch(b, io.err);
      io.out << "scored " << (r.cases - r.failed) << " of " << r.cases << " cases -> " << b.out.string() << "\n";
      return r.failed == 0 ? int(kExitOk) : int(kExitPartial);
    }
    if (!vm.count("input") || !vm.count("ct"))
      throw UsageError("give --input and --ct (one case) or --manifest and --out (a batch)");
    requireDicomFolderFor("dicom-series", vm["dicom-series"].as<std::string>(), opt(vm, "input"));
    requireDicomFolderFor("ct-series", vm["ct-series"].as<std::string>(), opt(vm, "ct"));
    const LikelihoodScorer scorer(options);
    const LikelihoodReport r = scorer.score(opt(vm, "input"), opt(vm, "ct"), true, vm["dicom-series"].as<std::string>(),
                                            vm["ct-series"].as<std::string>());
    if (vm["json"].as<bool>()) {
      nlohmann::json j = r.toJson();
      j["model"] = scorer.modelJson();
      j["options"] = options.toJson();
      io.out << j.dump(2) << "\n";
    } else {
      const auto& v = r.result;
      io.out << std::fixed << std::setprecision(4) << r.ct.string() << " given " << r.mr.string() << ": "
             << v.bitsPerVoxel << " bits/voxel (normalized CT; " << r.bitsPerVoxelHu << " in HU), log p = "
             << std::setprecision(1) << v.logDensity << " nats over " << v.voxels << " voxels\n"
             << "  source " << std::setprecision(1) << v.logSource << " nats, divergence integral " << v.divergence
             << ", RMS of x0 in source units " << std::setprecision(3) << v.rmsX0 << "\n"
             << "  NFE " << v.nfe << " per solve, " << v.vjps << " backward passes, " << std::setprecision(2)
             << r.seconds << " s\n";
    }
    return int(kExitOk);
  };
  return c;
}

}  // namespace mr2ct
