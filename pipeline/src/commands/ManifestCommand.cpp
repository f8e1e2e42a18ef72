// `mr2ct manifest check M` and `mr2ct manifest scan DIR --layout L --out M.csv`.
#include <iostream>

#include "Commands.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/pipeline/Manifest.h"

namespace mr2ct {

namespace {

int runCheck(const po::variables_map& vm, const std::vector<std::string>& args, CommandIO& io) {
  if (args.size() != 2) throw UsageError("manifest check: give exactly one manifest file");
  const auto report = checkManifest(args[1], manifestOptionsFrom(vm));
  for (const auto& w : report.warnings) io.err << "warning: " << w << "\n";
  for (const auto& p : report.problems) io.out << "problem: " << p << "\n";
  io.out << args[1] << ": " << report.cases << " case(s), " << report.problems.size() << " problem(s), "
         << report.warnings.size() << " warning(s)\n";
  return report.ok() ? kExitOk : kExitFailure;
}

int runScan(const po::variables_map& vm, const std::vector<std::string>& args, CommandIO& io) {
  if (args.size() != 2) throw UsageError("manifest scan: give exactly one folder");
  if (!vm.count("out")) throw UsageError("manifest scan: --out M.csv is required");
  if (!vm.count("layout")) throw UsageError("manifest scan: --layout synthrad|nnunet|flat is required");
  ScanOptions o;
  o.layout = parseScanLayout(vm["layout"].as<std::string>());
  o.seed = vm["seed"].as<std::uint32_t>();
  o.valFraction = vm["val"].as<double>();
  o.testFraction = vm["test"].as<double>();
  o.dataRoot = manifestOptionsFrom(vm).dataRoot;
  const std::string out = vm["out"].as<std::string>();
  const Manifest m = scanToManifest(args[1], out, o);
  io.out << out << ": " << m.cases.size() << " case(s): " << m.split("train").size() << " train, "
         << m.split("val").size() << " val, " << m.split("test").size() << " test (seed " << o.seed << ")"
         << (m.dataRootKey.empty() ? "" : ", data-root " + m.dataRootKey) << "\n";
  return kExitOk;
}

}  // namespace

Command manifestCommand() {
  Command c;
  c.name = "manifest";
  c.summary = "check a data manifest, or scan a folder into one (seeded split)";
  c.usage =
      "mr2ct manifest check M.csv|M.json [--data-root D] [--allow-outside]\n"
      "       mr2ct manifest scan DIR --layout synthrad|nnunet|flat --out M.csv [--seed S] [--val F] [--test F]";
  c.example = "mr2ct manifest check data_manifests/brainweb20-paired.csv --data-root /data";
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    const ScanOptions def;
    d.add_options()("args", po::value<std::vector<std::string>>()->multitoken(), "check M | scan DIR")(
        "layout", po::value<std::string>(), "scan: synthrad | nnunet | flat")(
        "out", po::value<std::string>(), "scan: the manifest to write (.csv)")(
        "seed", po::value<std::uint32_t>()->default_value(def.seed), "scan: seed of the split")(
        "val", realValue(def.valFraction), "scan: fraction of cases for validation")(
        "test", realValue(def.testFraction), "scan: fraction of cases for test");
    addManifestOptions(d);
    p.add("args", -1);
  };
  c.run = [](const po::variables_map& vm, CommandIO& io) {
    std::vector<std::string> args;
    if (vm.count("args")) args = vm["args"].as<std::vector<std::string>>();
    if (args.empty()) throw UsageError("manifest: give a subcommand: check or scan");
    if (args[0] == "check") return runCheck(vm, args, io);
    if (args[0] == "scan") return runScan(vm, args, io);
    throw UsageError("manifest: unknown subcommand '" + args[0] + "' (check|scan)");
  };
  return c;
}

}  // namespace mr2ct
