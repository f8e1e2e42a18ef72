// `mr2ct preprocess`: options → PreprocessOptions → runPreprocess.
#include <sstream>
#include <tuple>

#include "Commands.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/pipeline/Preprocess.h"
#include "mr2ct/pipeline/Shard.h"

namespace mr2ct {

namespace {

Vec3 parseSpacing(const std::string& text) {
  Vec3 v{};
  std::vector<double> values = parseNumberList("spacing", text, ',', "X,Y,Z in mm (or one value for all axes)");
  if (values.size() == 1) values.assign(3, values[0]);
  if (values.size() != 3) throw UsageError("--spacing: give X,Y,Z in mm (or one value), got '" + text + "'");
  for (int i = 0; i < 3; ++i) v[i] = values[i];
  return v;
}

}  // namespace

PreprocessOptions preprocessOptionsFrom(const po::variables_map& vm) {
  PreprocessOptions o;
  if (vm.count("manifest")) o.manifest = vm["manifest"].as<std::string>();
  if (vm.count("out")) o.out = vm["out"].as<std::string>();
  o.manifestOptions = manifestOptionsFrom(vm);
  o.jobs = vm["jobs"].as<int>();
  o.resume = vm["resume"].as<bool>();
  std::tie(o.shardIndex, o.shardCount) =
      resolveShard(vm.count("shard") ? std::optional<std::string>(vm["shard"].as<std::string>()) : std::nullopt);
  o.qaDir = vm["qa-dir"].as<std::string>();
  o.registration.kind = parseRegistrationKind(vm["register"].as<std::string>());
  o.registration.seed = vm["seed"].as<std::uint32_t>();
  o.registration.maskMarginMm = vm["mask-margin"].as<double>();
  o.registration.bsplineGridMm = vm["bspline-grid"].as<double>();
  o.registration.bsplineBending = vm["bspline-bending"].as<double>();
  if (vm.count("spacing")) o.plan.spacing = parseSpacing(vm["spacing"].as<std::string>());
  if (vm["n4"].as<bool>()) o.plan.biasField = BiasFieldOptions{};
  o.plan.mrNormalization.method = vm["mr-norm"].as<std::string>();
  return o;
}

int runPreprocessStage(const PreprocessOptions& o, CommandIO& io) {
  const PreprocessSummary s = runPreprocess(o);
  io.out << o.storePath().string() << ": " << s.count("ok") << " case(s) preprocessed, " << s.count("kept") << " kept, "
         << s.count("skipped") << " skipped, " << s.count("failed") << " failed\n";
  for (const auto& r : s.cases)
    if (r.status == "failed") io.out << "  failed: " << r.id << ": " << r.error << "\n";
  if (!o.qaDir.empty())
    io.out << "QA: " << (o.qaDir / ("qa" + shardSuffix(o.shardIndex, o.shardCount) + ".csv")).string() << "\n";
  return s.exitCode();
}

Command preprocessCommand() {
  Command c;
  c.name = "preprocess";
  c.summary = "register, mask and normalize paired MR/CT into an HDF5 training store";
  c.usage =
      "mr2ct preprocess --manifest M --out store.h5 [--jobs N] [--resume] [--qa-dir D] [--shard i/N]\n"
      "       [--register rigid|affine|bspline|none] [--spacing X,Y,Z] [--n4] [--mr-norm percentile|zscore|nyul|gamma]";
  c.example =
      "mr2ct preprocess --manifest data_manifests/brainweb20-paired.csv --data-root /data --out bw.h5 --jobs 2 "
      "--qa-dir bw_qa --register rigid";
  c.declare = [](po::options_description& d, po::positional_options_description&) {
    const PreprocessOptions def;
    d.add_options()("manifest", po::value<std::string>(), "data manifest (.csv or .json)")(
        "out", po::value<std::string>(), "the HDF5 store to write (.h5)")(
        "jobs,j", po::value<int>()->default_value(def.jobs), "cases processed in parallel")(
        "resume", po::bool_switch(), "keep the cases already in --out (same options required)")(
        "shard", po::value<std::string>(),
        "only shard i of N of the manifest (cases i, i+N, ...), written to S.shard<i>of<N>.h5 for --out S.h5, for "
        "`mr2ct merge-stores`; default 0/1, or in a Slurm job array the task's shard")(
        "qa-dir", po::value<std::string>()->default_value(""), "folder for qa.csv, <id>_qa.png, <id>.tfm")(
        "register", po::value<std::string>()->default_value(toString(def.registration.kind)), "rigid | affine | bspline | none")(
        "mask-margin", realValue(def.registration.maskMarginMm),
        "mm the body mask is grown by before it limits the registration metric (keeps the outline in view)")(
        "bspline-grid", realValue(def.registration.bsplineGridMm), "--register bspline: control-point spacing in mm")(
        "bspline-bending", realValue(def.registration.bsplineBending),
        "--register bspline: weight of the bending-energy penalty (0 = unregularised, drifts)")(
        "spacing", po::value<std::string>(), "resample the MR to X,Y,Z mm first (default: its own grid)")(
        "n4", po::bool_switch(), "N4 bias-field correction of the MR")(
        "mr-norm", po::value<std::string>()->default_value(def.plan.mrNormalization.method),
        "percentile (p0.5 -> -1, p99.5 -> +1 inside the body) | zscore | nyul (histogram standardization: "
        "p0.5, p10 ... p90, p99.5 onto the training MRs' average, fitted on the manifest's train cases) | gamma "
        "(percentile, then the gamma that puts the body's median where the train cases have it on average)")(
        "seed", po::value<std::uint32_t>()->default_value(def.registration.seed), "registration sampling seed");
    addManifestOptions(d);
  };
  c.run = [](const po::variables_map& vm, CommandIO& io) { return runPreprocessStage(preprocessOptionsFrom(vm), io); };
  return c;
}

}  // namespace mr2ct
