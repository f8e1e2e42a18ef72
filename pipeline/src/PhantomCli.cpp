// The phantom options shared by `mr2ct phantom` and `mr2ct demo`.
#include "mr2ct/pipeline/PhantomCli.h"
#include "mr2ct/pipeline/Command.h"

#include <ostream>
#include <sstream>

#include "mr2ct/core/Error.h"

namespace mr2ct {

namespace po = boost::program_options;

namespace {

// "a,b,c" -> numbers; UsageError naming the option otherwise.
std::vector<double> parseList(const std::string& option, const std::string& text, std::size_t count) {
  const std::vector<double> v =
      parseNumberList(option, text, ',', "a list of " + std::to_string(count) + " comma-separated numbers");
  if (v.size() != count)
    throw UsageError("--" + option + ": expected " + std::to_string(count) + " comma-separated numbers, got '" + text + "'");
  return v;
}

}  // namespace

void declarePhantomOptions(po::options_description& d, const std::string& defaultOut, std::size_t defaultCases) {
  const PhantomOptions def;
  auto out = po::value<std::string>();
  if (!defaultOut.empty()) out->default_value(defaultOut);
  d.add_options()("out", out, "output folder (one sub-folder per case, plus manifest.csv)")(
      "cases", po::value<std::size_t>()->default_value(defaultCases), "number of cases")(
      "seed", po::value<std::uint64_t>()->default_value(def.seed), "random seed (same seed, same files)")(
      "size", po::value<std::string>()->default_value("128,128,96"), "CT grid X,Y,Z in voxels")(
      "spacing", realValue(def.spacing), "CT voxel size in mm (isotropic)")(
      "mr-spacing", po::value<std::string>()->default_value("1.2,1.8"), "MIN,MAX of the MR voxel size in mm")(
      "max-rotation", realValue(def.maxRotationDeg), "largest MR/CT misalignment angle, degrees")(
      "max-translation", realValue(def.maxTranslationMm), "largest MR/CT shift, mm");
}

PhantomDatasetOptions phantomOptionsFrom(const po::variables_map& vm) {
  PhantomDatasetOptions o;
  if (!vm.count("out")) throw UsageError("phantom: --out DIR is required");
  o.out = vm["out"].as<std::string>();
  o.cases = vm["cases"].as<std::size_t>();
  o.phantom.seed = vm["seed"].as<std::uint64_t>();
  const auto size = parseList("size", vm["size"].as<std::string>(), 3);
  for (int i = 0; i < 3; ++i) {
    if (size[i] < 1 || size[i] != double(std::size_t(size[i])))
      throw UsageError("--size: '" + vm["size"].as<std::string>() + "' must be three positive integers");
    o.phantom.size[i] = std::size_t(size[i]);
  }
  o.phantom.spacing = vm["spacing"].as<double>();
  const auto mr = parseList("mr-spacing", vm["mr-spacing"].as<std::string>(), 2);
  o.phantom.mrSpacingMin = mr[0];
  o.phantom.mrSpacingMax = mr[1];
  o.phantom.maxRotationDeg = vm["max-rotation"].as<double>();
  o.phantom.maxTranslationMm = vm["max-translation"].as<double>();
  o.validate();
  return o;
}

void printPhantomSummary(const PhantomDatasetOptions& o, const std::vector<PhantomDatasetCase>& cases, std::ostream& out) {
  std::size_t n[3] = {0, 0, 0};
  for (const auto& c : cases) ++n[c.split == "train" ? 0 : c.split == "val" ? 1 : 2];
  out << "wrote " << cases.size() << " phantom case(s) to " << o.out.string() << " (" << n[0] << " train, " << n[1]
      << " val, " << n[2] << " test; seed " << o.phantom.seed << ")\n"
      << "manifest: " << (o.out / "manifest.csv").string() << "\n";
}

}  // namespace mr2ct
