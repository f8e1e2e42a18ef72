#pragma once
// A stage of `mr2ct run` is the subcommand of the same name. Its options (the experiment file's
// [stage] section, the demo's overrides and the paths the experiment decides) are parsed once,
// by the stage command's own declarations, into the values its typed options are read from.
#include <filesystem>
#include <map>
#include <string>

#include "mr2ct/pipeline/Command.h"

namespace mr2ct {

/// option name → value as written in an experiment file ("true" for a switch that is on).
using StageOptions = std::map<std::string, std::string>;

/// What every stage takes from `run` itself.
struct RunGlobals {
  int threads = 0;
  bool quiet = false;
};

/// The stage's values, defaults included. An unknown option: UsageError "<config>: [stage] has no
/// option 'key'"; a value its option does not accept: UsageError naming the file, stage and option.
po::variables_map parseStageOptions(const std::string& command, const StageOptions& options, const RunGlobals& globals,
                                    const std::filesystem::path& config);

/// The same checks on a section alone, before any stage runs (the paths `run` adds come later).
void checkStageOptions(const std::string& command, const StageOptions& options, const std::filesystem::path& config);

/// Every option of the stage with the value it runs with (defaults included), as INI text; for
/// train also the defaults that depend on other options, so the file reproduces the model.
std::string resolvedStageIni(const std::string& command, const po::variables_map& values);

}  // namespace mr2ct
