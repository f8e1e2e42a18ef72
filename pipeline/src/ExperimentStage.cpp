#include "ExperimentStage.h"

#include <boost/any.hpp>
#include <cstdint>
#include <iomanip>
#include <sstream>

#include "mr2ct/core/Error.h"
#include "mr2ct/models/ModelFolder.h"

namespace mr2ct {

namespace {

const Command& commandNamed(const std::string& name) {
  for (const auto& c : allCommands())
    if (c.name == name) return c;
  throw Error("internal: no command '" + name + "'");
}

/// The global options a stage takes from `run` (as `mr2ct <stage> --threads N --quiet` would), then
/// the stage command's own.
void declareStage(const std::string& command, const RunGlobals& globals, po::options_description& desc) {
  desc.add_options()("threads", po::value<int>()->default_value(globals.threads))(
      "quiet", po::bool_switch()->default_value(globals.quiet));
  po::positional_options_description positional;
  commandNamed(command).declare(desc, positional);
}

/// Renders a parsed option value (boost::any) as INI text.
std::string anyToText(const boost::any& v) {
  if (v.empty()) return "";
  if (auto p = boost::any_cast<std::string>(&v)) return *p;
  if (auto p = boost::any_cast<bool>(&v)) return *p ? "true" : "false";
  if (auto p = boost::any_cast<int>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<unsigned>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<std::int64_t>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<std::uint32_t>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<std::size_t>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<double>(&v)) {
    std::ostringstream s;
    s << std::setprecision(10) << *p;
    return s.str();
  }
  if (auto p = boost::any_cast<float>(&v)) {
    std::ostringstream s;
    s << std::setprecision(8) << *p;
    return s.str();
  }
  if (auto p = boost::any_cast<std::vector<std::string>>(&v)) {
    std::string out;
    for (const auto& x : *p) out += (out.empty() ? "" : " ") + x;
    return out;
  }
  return "<unprintable>";
}

bool switchedOn(const std::string& value) { return value == "true" || value == "1" || value == "yes" || value == "on"; }

}  // namespace

namespace {

/// The options as Boost would have parsed them from a command line; an unknown key is refused.
po::parsed_options stageParse(const std::string& command, const StageOptions& options,
                              const po::options_description& desc, const std::filesystem::path& config) {
  po::parsed_options parsed(&desc);
  for (const auto& [key, value] : options) {
    const auto* d = desc.find_nothrow(key, false);
    if (!d) throw UsageError(config.string() + ": [" + command + "] has no option '" + key + "'");
    po::option o;
    o.string_key = key;
    if (d->semantic()->max_tokens() == 0) {  // a switch: on, or left at its default
      if (!switchedOn(value)) continue;
    } else {
      o.value = {value};
    }
    o.original_tokens = {key, value};
    parsed.options.push_back(o);
  }
  return parsed;
}

}  // namespace

void checkStageOptions(const std::string& command, const StageOptions& options, const std::filesystem::path& config) {
  po::options_description desc;
  declareStage(command, RunGlobals{}, desc);
  po::variables_map vm;
  try {
    po::store(stageParse(command, options, desc, config), vm);  // values converted; required ones come later
  } catch (const po::error& e) {
    throw UsageError(config.string() + ": [" + command + "] " + e.what());
  }
}

po::variables_map parseStageOptions(const std::string& command, const StageOptions& options, const RunGlobals& globals,
                                    const std::filesystem::path& config) {
  po::options_description desc;
  declareStage(command, globals, desc);
  po::variables_map vm;
  try {
    po::store(stageParse(command, options, desc, config), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(config.string() + ": [" + command + "] " + e.what());
  }
  return vm;
}

std::string resolvedStageIni(const std::string& command, const po::variables_map& vm) {
  po::options_description desc;
  declareStage(command, RunGlobals{}, desc);
  std::ostringstream ini;
  ini << "# mr2ct " << MR2CT_VERSION << ": resolved options of `mr2ct " << command << "` in this experiment\n";
  for (const auto& opt : desc.options()) {
    const std::string& name = opt->long_name();
    if (name.empty()) continue;
    auto it = vm.find(name);
    if (it == vm.end()) continue;
    ini << name << " = " << anyToText(it->second.value()) << "\n";
  }
  if (command == "train") {
    // Defaults that depend on other options (σ on the source, the patch on the preset) are no
    // program-option defaults; written out, rerunning this file gives the same model even after a
    // default changes (σ did on 2026-12-04).
    const std::string source = vm.count("source") ? vm["source"].as<std::string>() : FlowConfig{}.source;
    if (!vm.count("sigma")) ini << "sigma = " << FlowConfig::defaultSigma(source) << "\n";
    if (!vm.count("steps")) ini << "steps = " << TrainingConfig{}.steps << "\n";
    if (!vm.count("patch") && vm.count("preset")) {
      const auto patch = NetworkConfig::fromPreset(vm["preset"].as<std::string>()).patchSize;
      ini << "patch = ";
      for (std::size_t i = 0; i < patch.size(); ++i) ini << (i ? "x" : "") << patch[i];
      ini << "\n";
    }
  }
  return ini.str();
}

}  // namespace mr2ct
