#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "Commands.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/Progress.h"
#include "mr2ct/pipeline/Train.h"

namespace mr2ct {

namespace {

/// "128" → {128, 128} (2D) / {128, 128, 128} (3D); "32x64x64" → {32, 64, 64}.
std::vector<int64_t> parsePatch(const std::string& text, int dims) {
  std::vector<int64_t> v;
  for (long long n : parseIntegerList("patch", text, 'x', "N, HxW or DxHxW (positive integers)")) v.push_back(n);
  if (v.size() == 1) v.assign(size_t(dims), v[0]);
  return v;
}

void declareTrainOptions(po::options_description& d) {
  const ModelConfig def;
  d.add_options()
      ("store", po::value<std::string>(), "training store (mr2ct preprocess)")
      ("out", po::value<std::string>(), "model folder to create (or to continue with --resume)")
      ("resume", po::bool_switch(), "continue from MODEL_DIR/train_state.pt bit-for-bit (only --steps, --device apply)")
      ("preset", po::value<std::string>()->default_value(def.network.preset),
       "network: unet2d-small (CPU), unet2d (GPU), unet2d-bench, unet3d-small")
      ("patch", po::value<std::string>(), "training slice/patch size: N, HxW or DxHxW (default per preset)")
      ("neighbours", po::value<int>()->default_value(def.network.neighbours), "2.5D: neighbouring MR slices on each side as condition")
      ("source", po::value<std::string>()->default_value(def.flow.source), "x0: mr (the MR itself) or noise")
      ("sigma", po::value<double>(),
       fmt::format("bridge noise sigma of the path (default {:g} with --source mr, {:g} with noise; see "
                   "README \"Quality\")", FlowConfig::defaultSigma("mr"), FlowConfig::defaultSigma("noise"))
           .c_str())
      ("time-sampling", po::value<std::string>()->default_value(def.flow.timeSampling), "uniform or logit-normal")
      ("logit-mean", realValue(def.flow.logitMean),
       "logit-normal: t = sigmoid(mean + std·z); a negative mean trains the first steps more")
      ("logit-std", realValue(def.flow.logitStd), "logit-normal: spread of the logit")
      ("body-weight", realValue(def.flow.bodyWeight), "loss weight inside the body")
      ("background-weight", realValue(def.flow.backgroundWeight),
       "loss weight outside the body (outside the CT field of view: always 0)")
      ("bone-weight", realValue(def.flow.boneWeight), "loss weight factor where the CT is bone (1 = off)")
      ("bone-above-hu", realValue(def.flow.boneAboveHu), "the CT level above which --bone-weight applies and --harmonize-bone measures (HU)")
      ("steps", po::value<int64_t>(), fmt::format("training steps (default {})", def.training.steps).c_str())
      ("batch", po::value<int64_t>()->default_value(def.training.batch), "samples per step")
      ("lr", realValue(def.training.lr), "peak learning rate (AdamW)")
      ("weight-decay", realValue(def.training.weightDecay), "AdamW weight decay")
      ("warmup", po::value<int64_t>()->default_value(def.training.warmupSteps), "linear warm-up steps")
      ("grad-clip", realValue(def.training.gradClip), "max gradient norm (0 = off)")
      ("ema", realValue(def.training.emaDecay), "EMA decay of the saved weights")
      ("flips", booleanValue(def.training.flips), "random left-right flips")
      ("jitter", realValue(def.training.intensityJitter), "MR intensity jitter")
      ("contrast", realValue(def.training.contrastAugmentation),
       "MR contrast augmentation: a random monotone curve moves tissue intensities against each other (0 = off, < 1)")
      ("gamma", realValue(def.training.gammaAugmentation),
       "MR gamma augmentation: the whole tone scale, x -> x^gamma on the 0-1 intensity position with "
       "log gamma ~ U(+-strength), for MRs darker or brighter than the training ones (0 = off, <= 1)")
      ("bias-field", realValue(def.training.biasFieldAugmentation),
       "MR bias-field augmentation: a random smooth multiplicative field (0 = off, <= 1)")
      ("surface-gain", realValue(def.training.surfaceGainAugmentation),
       "MR surface augmentation: a random gain on the body's outer 1-4 voxels, skin and scalp (0 = off, < 1)")
      ("harmonize-bone", booleanValue(def.training.harmonizeBoneLevel),
       "train on CTs whose bone (above --bone-above-hu) is scaled to the train cases' common density level, "
       "which the MR does not show")
      ("body-fraction", realValue(def.training.bodyFraction),
       "share of samples centred inside the body")
      ("validate-every", po::value<int64_t>()->default_value(def.training.validateEvery),
       "steps between validations on the val split (0 = end only)")
      ("validation-slices", po::value<int64_t>()->default_value(def.training.validationSlices), "per val case")
      ("validation-nfe", po::value<int>()->default_value(def.training.validationNfe), "Euler steps at validation")
      ("checkpoint-every", po::value<int64_t>()->default_value(def.training.checkpointEvery), "steps between checkpoints")
      ("log-every", po::value<int64_t>()->default_value(def.training.logEvery), "steps between log.csv rows")
      ("seed", po::value<uint64_t>()->default_value(def.training.seed), "seed of initialisation and sampling")
      ("device", po::value<std::string>(), "cpu (default) or cuda[:N]")
      ("channels-last", booleanValue(def.training.channelsLast), "2D on CPU: channels-last memory format")
      ("precision", po::value<std::string>()->default_value(def.training.precision),
       "fp32 | bf16 (autocast of the network: faster on CPUs with AVX512-BF16, there with --channels-last true, and on GPUs)")
      ("stop-after", po::value<int64_t>()->default_value(TrainCommandOptions{}.stopAfterStep),
       "stop with a checkpoint once this many steps are done (a job's time slice); --resume continues")
      ("dist-timeout", po::value<int64_t>()->default_value(TrainCommandOptions{}.distTimeoutSeconds),
       "seconds a rank waits for the others (rendezvous, all-reduce) before failing; runs under "
       "torchrun/srun with > 1 process train data-parallel, --batch is the global batch");
}

}  // namespace

TrainCommandOptions trainOptionsFrom(const po::variables_map& vm) {
  TrainCommandOptions o;
  if (vm.count("store")) o.store = vm["store"].as<std::string>();
  if (vm.count("out")) o.out = vm["out"].as<std::string>();
  o.resume = vm["resume"].as<bool>();
  o.progress = !isQuiet();
  o.distTimeoutSeconds = vm["dist-timeout"].as<int64_t>();
  o.stopAfterStep = vm["stop-after"].as<int64_t>();
  ModelConfig& m = o.config;
  m.network = NetworkConfig::fromPreset(vm["preset"].as<std::string>());
  if (vm.count("patch")) m.network.patchSize = parsePatch(vm["patch"].as<std::string>(), m.network.dims());
  m.network.neighbours = vm["neighbours"].as<int>();
  m.flow.source = vm["source"].as<std::string>();
  m.flow.sigma = vm.count("sigma") ? vm["sigma"].as<double>() : FlowConfig::defaultSigma(m.flow.source);
  m.flow.timeSampling = vm["time-sampling"].as<std::string>();
  m.flow.logitMean = vm["logit-mean"].as<double>();
  m.flow.logitStd = vm["logit-std"].as<double>();
  m.flow.bodyWeight = vm["body-weight"].as<double>();
  m.flow.backgroundWeight = vm["background-weight"].as<double>();
  m.flow.boneWeight = vm["bone-weight"].as<double>();
  m.flow.boneAboveHu = vm["bone-above-hu"].as<double>();
  auto& t = m.training;
  if (vm.count("steps")) t.steps = vm["steps"].as<int64_t>();
  t.batch = vm["batch"].as<int64_t>();
  t.lr = vm["lr"].as<double>();
  t.weightDecay = vm["weight-decay"].as<double>();
  t.warmupSteps = vm["warmup"].as<int64_t>();
  t.gradClip = vm["grad-clip"].as<double>();
  t.emaDecay = vm["ema"].as<double>();
  t.flips = vm["flips"].as<bool>();
  t.intensityJitter = vm["jitter"].as<double>();
  t.contrastAugmentation = vm["contrast"].as<double>();
  t.gammaAugmentation = vm["gamma"].as<double>();
  t.biasFieldAugmentation = vm["bias-field"].as<double>();
  t.surfaceGainAugmentation = vm["surface-gain"].as<double>();
  t.harmonizeBoneLevel = vm["harmonize-bone"].as<bool>();
  t.bodyFraction = vm["body-fraction"].as<double>();
  t.validateEvery = vm["validate-every"].as<int64_t>();
  t.validationSlices = vm["validation-slices"].as<int64_t>();
  t.validationNfe = vm["validation-nfe"].as<int>();
  t.checkpointEvery = vm["checkpoint-every"].as<int64_t>();
  t.logEvery = vm["log-every"].as<int64_t>();
  t.seed = vm["seed"].as<uint64_t>();
  if (vm.count("device")) t.device = vm["device"].as<std::string>();
  t.channelsLast = vm["channels-last"].as<bool>();
  t.precision = vm["precision"].as<std::string>();
  if (o.resume) {
    if (vm.count("steps")) o.resumeSteps = t.steps;
    if (vm.count("device")) o.resumeDevice = t.device;
  }
  return o;
}

int runTrainStage(const TrainCommandOptions& o, CommandIO& io) {
  const TrainSummary s = trainFromStore(o);
  io.out << s.toJson().dump() << "\n";
  return int(kExitOk);
}

Command trainCommand() {
  Command c;
  c.name = "train";
  c.summary = "train a flow-matching model (MR → CT) from a training store into a model folder";
  c.usage = "mr2ct train --store STORE.h5 --out MODEL_DIR [--config train.ini] [--steps N] [--batch B] [--resume]";
  c.example = "mr2ct train --store work/store.h5 --out work/model --steps 2000 --batch 8 --threads 2";
  c.declare = [](po::options_description& d, po::positional_options_description&) { declareTrainOptions(d); };
  c.run = [](const po::variables_map& vm, CommandIO& io) { return runTrainStage(trainOptionsFrom(vm), io); };
  return c;
}

}  // namespace mr2ct
