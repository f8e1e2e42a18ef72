#pragma once
// `mr2ct run`: preprocess → train → convert the test split → evaluate (plus the bulk-density
// baseline on the same cases), in one work folder:
//   <work>/store.h5            preprocess  (skipped when present: the store is committed atomically)
//   <work>/model/              train       (skipped when training finished; resumed when interrupted)
//   <work>/sct/<id>.nii.gz     convert     (--resume: finished cases are kept)
//   <work>/baseline/<id>.nii.gz  bulk-density baseline
//   <work>/report/, <work>/report-baseline/   evaluate (metrics.csv, summary.json, montages)
//   <work>/config/<stage>.ini  the resolved options of every stage (every option, defaults included)
//   <work>/results.md, results.json  the final table
// Each stage is the subcommand of the same name: the experiment file's [stage] section (and the
// paths `run` decides) is parsed once by that command's own option declarations, read into the
// stage's typed options and handed to the library in-process, so `run` accepts exactly what the
// stage commands accept and a stage behaves as its command does. A section key the command does not
// have, or a value it does not accept, is a usage error of `run` naming the file and the section.
#include <filesystem>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "mr2ct/pipeline/Manifest.h"

namespace mr2ct {

struct ExperimentOptions {
  std::filesystem::path manifest;
  std::filesystem::path work;
  std::filesystem::path config;            ///< experiment INI with [preprocess] [train] [convert] [evaluate]
  ManifestOptions manifestOptions;         ///< passed to stages that read the manifest
  std::string split = "test";              ///< cases to convert and evaluate
  bool baseline = true;                    ///< also run and evaluate the bulk-density baseline
  int threads = 0;
  bool quiet = false;
  /// Extra stage options given programmatically (demo), applied after the INI: stage → key → value.
  std::map<std::string, std::map<std::string, std::string>> overrides;
  void validate() const;
};

/// Runs the stages; returns 0, 3 when some case failed in a stage, or the first failing stage's code.
int runExperiment(const ExperimentOptions& options, std::ostream& out, std::ostream& err);

/// Reads an experiment INI: "[stage]" sections of "key = value" lines → stage → key → value.
/// Keys before the first section are `run`'s own options and are left out here.
std::map<std::string, std::map<std::string, std::string>> readExperimentIni(const std::filesystem::path& path);

}  // namespace mr2ct
