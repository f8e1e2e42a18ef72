#include "mr2ct/pipeline/Train.h"

#include "mr2ct/core/Error.h"
#include "mr2ct/pipeline/StoreDataSource.h"

namespace mr2ct {

void TrainCommandOptions::validate() const {
  if (store.empty()) throw UsageError("--store is required");
  if (out.empty()) throw UsageError("--out is required");
  if (!resume) config.validate();
}

TrainSummary trainFromStore(const TrainCommandOptions& o) {
  o.validate();
  const StoreDataSource data(o.store);
  ModelConfig config = o.config;
  if (o.resume) {
    config = loadModelConfig(o.out);
    if (o.resumeSteps) config.training.steps = *o.resumeSteps;
    if (o.resumeDevice) config.training.device = *o.resumeDevice;
  } else {
    const auto root = data.store().rootAttributes();
    config.preprocessing = root.value("preprocessing_options", nlohmann::json::object());
  }
  TrainRunOptions run;
  run.resume = o.resume;
  run.progress = o.progress;
  return trainModel(config, data, o.out, run);
}

}  // namespace mr2ct
