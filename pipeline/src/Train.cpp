#include "mr2ct/pipeline/Train.h"

#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/core/Log.h"
#include "mr2ct/preprocessing/InputTypicality.h"
#include "mr2ct/preprocessing/PreprocessPlan.h"
#include "mr2ct/pipeline/Distributed.h"
#include "mr2ct/pipeline/StoreDataSource.h"

namespace mr2ct {

void TrainCommandOptions::validate() const {
  if (store.empty()) throw OptionError("{store} is required");
  if (out.empty()) throw OptionError("{out} is required");
  if (!resume) config.validate();
  if (distTimeoutSeconds < 1) throw OptionError("{distTimeoutSeconds} must be at least 1 second");
}

TrainSummary trainFromStore(const TrainCommandOptions& o) {
  o.validate();
  const StoreDataSource data(o.store);
  ModelConfig config = o.config;
  if (o.resume) {
    config = loadModelConfig(o.out);
    if (o.resumeSteps) config.training.steps = *o.resumeSteps;
    if (o.resumeDevice) config.training.device = *o.resumeDevice;
    // The model converts with the plan in its config.json: resuming on a store prepared another way
    // would train it on inputs it will never be given.
    const auto storePlan = data.store().rootAttributes().value("preprocessing_options", nlohmann::json::object());
    if (storePlan != config.preprocessing) {
      std::string differs;
      for (const auto& item : storePlan.items())
        if (!config.preprocessing.contains(item.key()) || config.preprocessing.at(item.key()) != item.value()) {
          differs = item.key();
          break;
        }
      if (differs.empty())
        for (const auto& item : config.preprocessing.items())
          if (!storePlan.contains(item.key())) differs = item.key();
      throw OptionError("{resume}: " + o.store.string() + " was preprocessed differently from the store " +
                       o.out.string() + " was trained on (preprocessing option '" + differs +
                       "' differs); resume with that store or one made with the same options");
    }
  } else {
    const auto root = data.store().rootAttributes();
    config.preprocessing = root.value("preprocessing_options", nlohmann::json::object());
  }
  TrainRunOptions run;
  run.resume = o.resume;
  run.progress = o.progress;
  run.stopAfterStep = o.stopAfterStep;
  // Every rank profiles the training inputs (the same cases, the same result) before the process
  // group forms, so none waits on rank 0 past --dist-timeout; a resumed model from before the input
  // check gets one now.
  if (config.inputReference.is_null()) {
    const PreprocessPlan plan = PreprocessPlan::fromJson(config.preprocessing, o.store.string());
    if (const auto reference = fitTypicalityReference(data.store(), plan.bodyMask)) {
      config.inputReference = reference->toJson();
      spdlog::info("input check: {} training cases profiled, threshold {:.2f}", reference->cases, reference->threshold);
    } else {
      spdlog::info("input check: off for this model (the store has fewer than {} train cases)",
                   TypicalityReference::kMinimumCases);
    }
  }
  const DistributedContext context = DistributedContext::fromEnvironment();
  std::unique_ptr<GradientReducer> reducer;
  if (context.distributed()) {
    // --batch is the global batch: each rank trains on batch / world size of its samples.
    if (config.training.batch % context.worldSize != 0)
      throw OptionError("{batch} " + std::to_string(config.training.batch) + " must be divisible by the " +
                       std::to_string(context.worldSize) + " processes (it is the global batch)");
    std::string device = config.training.device;
    if (device == "cuda") device = config.training.device = "cuda:" + std::to_string(context.localRank);
    reducer = joinProcessGroup(context, device, std::chrono::seconds(o.distTimeoutSeconds));
    run.reducer = reducer.get();
  }
  return trainModel(config, data, o.out, run);
}

}  // namespace mr2ct
