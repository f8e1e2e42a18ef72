#pragma once
// `mr2ct train`: a model folder from a training store (the library side of TrainCommand).
#include <filesystem>
#include <optional>
#include <string>

#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/models/Trainer.h"

namespace mr2ct {

struct TrainCommandOptions {
  std::filesystem::path store;  ///< HDF5 training store (mr2ct preprocess)
  std::filesystem::path out;    ///< model folder
  bool resume = false;          ///< continue out/train_state.pt with out/config.json (only --steps/--device apply)
  ModelConfig config;           ///< network, flow and training options (ignored on resume except below)
  std::optional<int64_t> resumeSteps;        ///< --steps given with --resume
  std::optional<std::string> resumeDevice;   ///< --device given with --resume
  bool progress = true;
  int64_t stopAfterStep = -1;  ///< --stop-after: checkpoint and stop once this many steps are done (-1: all)
  /// Data-parallel runs (WORLD_SIZE/SLURM variables > 1 process): a collective that waits longer
  /// than this for another rank fails (the dead or hung rank's peers exit non-zero).
  int64_t distTimeoutSeconds = 300;
  void validate() const;  ///< UsageError naming the option
};

/// Opens the store, records its preprocessing options in the config (the conversion applies the
/// same rules), trains, and returns the summary (also the last line of `mr2ct train`, as JSON).
TrainSummary trainFromStore(const TrainCommandOptions& options);

}  // namespace mr2ct
