#include "mr2ct/models/Trainer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/core/Log.h"
#include "mr2ct/core/Progress.h"
#include "mr2ct/core/Stopwatch.h"
#include "mr2ct/models/BoneLevelHarmonization.h"
#include "mr2ct/models/FlowMatching.h"
#include "mr2ct/models/MixedPrecision.h"
#include "mr2ct/models/OdeSolver.h"
#include "mr2ct/models/Runtime.h"

namespace mr2ct {

namespace fs = std::filesystem;

double learningRateAt(const TrainingConfig& t, int64_t step) {
  // A short run keeps at least half its steps for the cosine (a 100-step warm-up of a 60-step run
  // would never reach the learning rate).
  const int64_t warmup = std::min(t.warmupSteps, t.steps / 2);
  if (step < warmup) return t.lr * double(step + 1) / double(warmup);
  const double span = double(std::max<int64_t>(1, t.steps - 1 - warmup));
  const double p = std::min(1.0, double(step - warmup) / span);
  return t.lr * (t.minLrFraction + (1.0 - t.minLrFraction) * 0.5 * (1.0 + std::cos(M_PI * p)));
}

nlohmann::json TrainSummary::toJson() const {
  nlohmann::json j{{"first_step", firstStep},       {"last_step", lastStep},
                   {"last_loss", lastLoss},         {"samples_per_s", samplesPerSecond},
                   {"seconds", seconds},            {"data_wait_s", dataWaitSeconds},
                   {"communication_s", communicationSeconds}, {"gradient_bytes_per_step", gradientBytesPerStep}};
  nlohmann::json mae = nlohmann::json::object();
  for (const auto& [nfe, v] : finalValMaeHu) mae["nfe" + std::to_string(nfe)] = v;
  j["val_mae_hu"] = mae;
  return j;
}

std::vector<double> validationMaeHu(VelocityUNet& network, const BatchSampler& val, const ModelConfig& config,
                                    const torch::Device& device, const std::vector<int>& nfes) {
  torch::NoGradGuard noGrad;
  network->eval();
  const double huPerUnit = (config.training.huMax - config.training.huMin) / 2.0;
  std::vector<double> sum(nfes.size(), 0.0);
  double count = 0.0;
  auto generator = at::detail::createCPUGenerator(config.training.seed + 12345);
  const int64_t chunk = std::max<int64_t>(1, config.training.batch);
  for (const auto& [allSpecs, size] : val.validationWindows(config.training.validationSlices,
                                                            network->options().sizeMultiple())) {
    for (size_t first = 0; first < allSpecs.size(); first += size_t(chunk)) {
      const std::vector<WindowSpec> specs(allSpecs.begin() + long(first),
                                          allSpecs.begin() + long(std::min(allSpecs.size(), first + size_t(chunk))));
      TrainingBatch b = val.windows(specs, size);
      if (config.flow.source == "noise") b.noise = torch::randn(b.ct.sizes(), generator);
      const torch::Tensor cond = b.cond.to(device);
      const torch::Tensor x0 = b.source(config.flow, config.network.neighbours).to(device);
      const torch::Tensor weight = (b.body * b.valid).to(device);
      VelocityFn v = [&](const torch::Tensor& x, double t) {
        return network->forward(x, torch::full({x.size(0)}, t, x.options()), cond);
      };
      const auto results = eulerNfeSweep(v, x0, nfes);
      const torch::Tensor ct = b.ct.to(device);
      for (size_t i = 0; i < nfes.size(); ++i)
        sum[i] += ((results[i].x - ct).abs() * weight).sum().item<double>() * huPerUnit;
      count += weight.sum().item<double>();
    }
  }
  std::vector<double> mae;
  for (double s : sum) mae.push_back(count > 0 ? s / count : std::numeric_limits<double>::quiet_NaN());
  network->train();
  return mae;
}

namespace {

struct LogRow {
  int64_t step = 0;
  double loss = 0, lr = 0, gradNorm = 0, samplesPerSecond = 0, dataWait = 0;
  double valMae = std::numeric_limits<double>::quiet_NaN();
};

const char* kLogHeader = "step,loss,lr,grad_norm,samples_per_s,data_wait_s,val_mae_hu";

std::string formatRow(const LogRow& r) {
  std::ostringstream s;
  s.precision(8);
  s << r.step << "," << r.loss << "," << r.lr << "," << r.gradNorm << "," << r.samplesPerSecond << "," << r.dataWait
    << ",";
  if (!std::isnan(r.valMae)) s << r.valMae;
  return s.str();
}

/// Rows of an existing log.csv up to `lastStep` (a resumed run drops rows written after its checkpoint).
std::vector<std::string> readLogRows(const fs::path& path, int64_t lastStep) {
  std::vector<std::string> rows;
  std::ifstream in(path);
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {
      header = false;
      continue;
    }
    if (line.empty()) continue;
    if (std::stoll(line.substr(0, line.find(','))) <= lastStep) rows.push_back(line);
  }
  return rows;
}

void writeLog(const fs::path& path, const std::vector<std::string>& rows) {
  std::string text = std::string(kLogHeader) + "\n";
  for (const auto& r : rows) text += r + "\n";
  writeTextAtomically(path, text);
}

class TrainingState {
 public:
  TrainingState(const ModelConfig& config, const torch::Device& device)
      : config_(config), device_(device), network(makeNetwork(config)), ema(makeNetwork(config)) {
    copyInto(ema, network);
    network->to(device);
    ema->to(device);
    if (config.training.channelsLast && config.network.dims() == 2 && device.is_cpu()) {
      network->useChannelsLast();
      ema->useChannelsLast();
    }
    for (auto& p : ema->parameters()) p.set_requires_grad(false);
    optimizer = std::make_unique<torch::optim::AdamW>(
        network->parameters(), torch::optim::AdamWOptions(config.training.lr)
                                   .betas({config.training.beta1, config.training.beta2})
                                   .weight_decay(config.training.weightDecay));
  }

  static void copyInto(VelocityUNet& dst, VelocityUNet& src) {
    torch::NoGradGuard g;
    auto d = dst->parameters();
    auto s = src->parameters();
    for (size_t i = 0; i < d.size(); ++i) d[i].copy_(s[i]);
  }

  void updateEma(int64_t done) {
    torch::NoGradGuard g;
    const double decay = std::min(config_.training.emaDecay, double(1 + done) / double(10 + done));
    auto e = ema->parameters();
    auto p = network->parameters();
    for (size_t i = 0; i < e.size(); ++i) e[i].mul_(decay).add_(p[i].detach(), 1.0 - decay);
  }

  void save(const fs::path& dir, int64_t step) const {
    torch::serialize::OutputArchive archive, model, emaArchive, opt;
    archive.write("format_version", torch::tensor(int64_t(kModelFormatVersion)));
    archive.write("step", torch::tensor(step));
    writeModuleArchive(*network, model);
    writeModuleArchive(*ema, emaArchive);
    optimizer->save(opt);
    archive.write("model", model);
    archive.write("ema", emaArchive);
    archive.write("optimizer", opt);
    writeAtomically(trainStatePath(dir), [&](const fs::path& tmp) { archive.save_to(tmp.string()); });
    saveWeights(*ema, modelWeightsPath(dir));
  }

  int64_t load(const fs::path& dir) {
    const fs::path file = trainStatePath(dir);
    torch::serialize::InputArchive archive, model, emaArchive, opt;
    try {
      archive.load_from(file.string(), device_);
    } catch (const c10::Error& e) {
      throw DataError(file.string(), "not a readable training state (" + firstLine(e.what_without_backtrace()) + ")");
    }
    torch::Tensor step, version;
    if (!archive.try_read("format_version", version) || version.item<int64_t>() != kModelFormatVersion ||
        !archive.try_read("step", step) || !archive.try_read("model", model) ||
        !archive.try_read("ema", emaArchive) || !archive.try_read("optimizer", opt))
      throw DataError(file.string(), "not an mr2ct training state of format version " +
                                         std::to_string(kModelFormatVersion));
    readModuleArchive(*network, model, file.string());
    readModuleArchive(*ema, emaArchive, file.string());
    try {
      optimizer->load(opt);
    } catch (const c10::Error& e) {
      throw DataError(file.string(), "optimizer state does not match (" + firstLine(e.what_without_backtrace()) + ")");
    }
    return step.item<int64_t>();
  }

  static std::string firstLine(std::string s) {
    if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
    return s;
  }

  const ModelConfig& config_;
  torch::Device device_;
  VelocityUNet network, ema;
  std::unique_ptr<torch::optim::AdamW> optimizer;
};

void checkResumable(const ModelConfig& config, const fs::path& outDir) {
  const ModelConfig stored = loadModelConfig(outDir);
  auto differs = [](const nlohmann::json& a, const nlohmann::json& b) { return a.dump() != b.dump(); };
  if (differs(stored.network.toJson(), config.network.toJson()) || differs(stored.flow.toJson(), config.flow.toJson()))
    throw OptionError("{resume}: the network or flow options differ from " + modelConfigPath(outDir).string());
  if (stored.training.seed != config.training.seed || stored.training.batch != config.training.batch)
    throw OptionError("{resume}: seed or batch differ from " + modelConfigPath(outDir).string() +
                     " (a resumed run must replay the same batches)");
}

/// Refuses to overwrite a training state, and to resume without one or with other settings.
void checkTrainingStart(const ModelConfig& config, const fs::path& outDir, bool resume) {
  if (resume) {
    if (!fs::exists(trainStatePath(outDir)))
      throw OptionError("{resume}: nothing to resume, " + trainStatePath(outDir).string() + " is missing");
    checkResumable(config, outDir);
  } else if (fs::exists(trainStatePath(outDir))) {
    throw OptionError(outDir.string() + " already holds a training state; use {resume} or another {out}");
  }
}

/// What the training steps read besides the batches and the network's state.
struct TrainingContext {
  const ModelConfig& config;
  const TrainingDataSource& data;
  const fs::path& outDir;
  const torch::Device& device;
  GradientReducer* reducer;  ///< null: a single process
  bool writer;               ///< the rank that validates and writes
  const BatchSampler* val;   ///< null without validation cases (and on every rank but the writer)
  int64_t last;              ///< the step training stops at
};

/// Forward and backward pass of one batch. With a reducer the gradients are then the global
/// batch's; communication time is added to `communicationSeconds`. Returns the batch's loss.
double lossAndGradients(const TrainingContext& ctx, TrainingState& state, const TrainingBatch& b,
                        const LinearProbabilityPath& path, double& communicationSeconds) {
  const ModelConfig& config = ctx.config;
  const torch::Device& device = ctx.device;
  GradientReducer* const reducer = ctx.reducer;
  const torch::Tensor cond = b.cond.to(device), ct = b.ct.to(device), t = b.t.to(device);
  const torch::Tensor x0 = b.source(config.flow, config.network.neighbours).to(device);
  const PathSample ps = path.sample(x0, ct, t, b.eps.defined() ? b.eps.to(device) : torch::Tensor());
  const torch::Tensor w = lossWeights(b.body.to(device), b.valid.to(device), ct, config.flow,
                                      config.training.normalizedCt(config.flow.boneAboveHu));
  state.optimizer->zero_grad();
  torch::Tensor loss;
  double lossValue = 0.0;
  {
    const AutocastGuard autocast(config.training.precision, device);  // forward only; backward follows its casts
    const torch::Tensor v = state.network->forward(ps.x_t, t, cond).to(torch::kFloat);
    if (!reducer) {
      loss = flowMatchingLoss(v, ps.dx_t, w);
    } else {
      // The loss of the global batch is Σ_ranks Σ w·err² / Σ_ranks Σ w: each rank scales its
      // numerator by worldSize / Σ w so that the averaged gradient is the global loss's gradient.
      const torch::Tensor errorSum = flowMatchingErrorSum(v, ps.dx_t, w);
      torch::Tensor totals = torch::stack({errorSum.detach(), w.sum()}).to(torch::kCPU, torch::kDouble);
      const Stopwatch communication;
      reducer->sum(totals);
      communicationSeconds += communication.seconds();
      const double weightTotal = std::max(1.0, totals[1].item<double>());
      loss = errorSum * (double(reducer->worldSize()) / weightTotal);
      lossValue = totals[0].item<double>() / weightTotal;
    }
  }
  loss.backward();
  if (!reducer) lossValue = loss.item<double>();
  else {
    const Stopwatch communication;
    reducer->averageGradients(state.network->parameters());
    communicationSeconds += communication.seconds();
  }
  return lossValue;
}

struct StepResult {
  double loss = 0.0;
  double gradNorm = 0.0;  ///< before clipping; 0 without clipping
};

/// One optimiser step at learning rate `lr` (the EMA is updated by the caller). DataError on a
/// loss that is not finite.
StepResult optimiserStep(const TrainingContext& ctx, TrainingState& state, const TrainingBatch& b, double lr,
                         int64_t step, const LinearProbabilityPath& path, double& communicationSeconds) {
  const auto& tr = ctx.config.training;
  for (auto& group : state.optimizer->param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  StepResult result;
  result.loss = lossAndGradients(ctx, state, b, path, communicationSeconds);
  if (!std::isfinite(result.loss))
    throw DataError(ctx.data.name(), "loss is " + std::to_string(result.loss) + " at step " + std::to_string(step) +
                                         ", stopping training");
  if (tr.gradClip > 0.0) {
    result.gradNorm = torch::nn::utils::clip_grad_norm_(state.network->parameters(), tr.gradClip);
  }
  state.optimizer->step();
  return result;
}

/// The steps since the last log row.
struct LogInterval {
  std::chrono::steady_clock::time_point start;
  double loss = 0.0;         ///< summed over the steps
  double waitAtStart = 0.0;  ///< the loader's total data wait at `start`
  int64_t steps = 0;

  double meanLoss() const { return loss / double(steps); }
  double samplesPerSecond(int64_t batch) const {
    const auto now = std::chrono::steady_clock::now();
    return double(steps * batch) / std::chrono::duration<double>(now - start).count();
  }
  LogRow row(int64_t step, double lr, double gradNorm, double sps, double waitNow) const {
    LogRow r;
    r.step = step;
    r.loss = meanLoss();
    r.lr = lr;
    r.gradNorm = gradNorm;
    r.samplesPerSecond = sps;
    r.dataWait = waitNow - waitAtStart;
    return r;
  }
  void restart(double waitNow) {
    loss = 0.0;
    steps = 0;
    waitAtStart = waitNow;
    start = std::chrono::steady_clock::now();
  }
};

std::string progressStatus(double meanLoss, double lr, double sps) {
  std::ostringstream status;
  status.precision(4);
  status << "loss " << meanLoss << " lr " << lr << " " << sps << " samples/s";
  return status.str();
}

/// Steps from `step` to ctx.last: log rows every logEvery steps (with the EMA's validation MAE
/// every validateEvery steps), checkpoints every checkpointEvery steps and at the end.
TrainSummary trainSteps(const TrainingContext& ctx, TrainingState& state, const BatchSampler& sampler, int64_t step,
                        std::vector<std::string> logRows, const TrainRunOptions& run) {
  const auto& tr = ctx.config.training;
  TrainSummary summary;
  summary.firstStep = step;
  const LinearProbabilityPath path(ctx.config.flow.sigma);
  PrefetchLoader loader(sampler, step, ctx.last, tr.prefetch);
  std::optional<ProgressBar> bar;
  if (run.progress && ctx.writer) {
    bar.emplace("train", size_t(tr.steps));
    bar->advance(size_t(step));
  }
  const auto start = std::chrono::steady_clock::now();
  LogInterval interval{start, 0.0, loader.waitSeconds(), 0};
  state.network->train();
  while (step < ctx.last) {
    TrainingBatch b = loader.next();
    const double lr = learningRateAt(tr, step);
    const StepResult result = optimiserStep(ctx, state, b, lr, step, path, summary.communicationSeconds);
    ++step;
    state.updateEma(step);

    interval.loss += result.loss;
    ++interval.steps;
    const double sps = interval.samplesPerSecond(tr.batch);
    if (bar) bar->advance(1, progressStatus(interval.meanLoss(), lr, sps));

    const bool validate = ctx.val && tr.validateEvery > 0 && step % tr.validateEvery == 0;
    if (step % tr.logEvery == 0 || step == ctx.last || validate) {
      LogRow row = interval.row(step, lr, result.gradNorm, sps, loader.waitSeconds());
      if (validate && ctx.writer)
        row.valMae = validationMaeHu(state.ema, *ctx.val, ctx.config, ctx.device, {tr.validationNfe})[0];
      if (validate) spdlog::info("step {}: val MAE {:.1f} HU (EMA, Euler NFE {})", step, row.valMae, tr.validationNfe);
      logRows.push_back(formatRow(row));
      summary.lastLoss = row.loss;
      interval.restart(loader.waitSeconds());
    }
    if (ctx.writer && (step % tr.checkpointEvery == 0 || step == ctx.last)) {
      state.save(ctx.outDir, step);
      writeLog(trainLogPath(ctx.outDir), logRows);
    }
  }
  if (bar) bar->finish();
  summary.lastStep = step;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary.samplesPerSecond = summary.seconds > 0 ? double((step - summary.firstStep) * tr.batch) / summary.seconds : 0;
  summary.dataWaitSeconds = loader.waitSeconds();
  if (ctx.reducer)
    for (const auto& p : state.network->parameters())
      summary.gradientBytesPerStep += p.numel() * int64_t(p.element_size());
  if (ctx.val && step == tr.steps && !run.finalNfes.empty()) {
    const auto mae = validationMaeHu(state.ema, *ctx.val, ctx.config, ctx.device, run.finalNfes);
    for (size_t i = 0; i < mae.size(); ++i) summary.finalValMaeHu.emplace_back(run.finalNfes[i], mae[i]);
  }
  return summary;
}

/// The train split as trained on: with training.harmonizeBoneLevel, each case's bone brought to the
/// train cases' common level (null: the data as stored, also when no train case has bone, since a
/// phantom or a soft-tissue store has no density to harmonize and trains as it is).
std::unique_ptr<BoneLevelHarmonizedSource> harmonizedTrainData(const ModelConfig& config,
                                                               const TrainingDataSource& data) {
  const auto& tr = config.training;
  if (!tr.harmonizeBoneLevel) return nullptr;
  auto harmonized = std::make_unique<BoneLevelHarmonizedSource>(data, tr.normalizedCt(config.flow.boneAboveHu));
  if (!harmonized->hasBone()) {
    spdlog::warn("{}: no train case has CT above {:g} HU in its body, so there is no bone level to harmonize; "
                 "training on the CT as stored",
                 data.name(), config.flow.boneAboveHu);
    return nullptr;
  }
  std::string levels;
  for (const auto& [id, v] : harmonized->caseLevels())
    levels += fmt::format("{}{} {:.0f}", levels.empty() ? "" : ", ", id, std::isnan(v) ? v : tr.ctHu(v));
  spdlog::info("bone level (p{:g} above {:g} HU) of each train case: {}; training on {:.0f} HU for all",
               kBoneLevelPercentile, config.flow.boneAboveHu, levels, tr.ctHu(harmonized->commonLevel()));
  return harmonized;
}

}  // namespace

TrainSummary trainModel(const ModelConfig& config, const TrainingDataSource& data, const fs::path& outDir,
                        const TrainRunOptions& run) {
  config.validate();
  const auto& tr = config.training;
  const torch::Device device = parseDevice(tr.device);
  checkTrainingStart(config, outDir, run.resume);
  const std::unique_ptr<BoneLevelHarmonizedSource> harmonized = harmonizedTrainData(config, data);
  GradientReducer* const reducer = run.reducer;
  const bool writer = !reducer || reducer->rank() == 0;  // the rank that validates and writes
  if (writer) fs::create_directories(outDir);

  torch::manual_seed(tr.seed);  // network initialisation
  TrainingState state(config, device);
  int64_t step = 0;
  std::vector<std::string> logRows;
  if (run.resume) {
    step = state.load(outDir);
    logRows = readLogRows(trainLogPath(outDir), step);
    // A kill between the two files of a checkpoint leaves weights.pt one checkpoint behind
    // train_state.pt; the weights are derived from the state, so write them again.
    if (writer) saveWeights(*state.ema, modelWeightsPath(outDir));
    spdlog::info("resuming {} at step {}", outDir.string(), step);
  }
  if (reducer) {  // every rank starts from rank 0's weights (also a barrier before rank 0 writes)
    reducer->broadcastFromRankZero(state.network->parameters());
    reducer->broadcastFromRankZero(state.ema->parameters());
  }
  if (writer) saveModelConfig(config, outDir);

  const BatchPart part = reducer ? BatchPart{reducer->rank(), reducer->worldSize()} : BatchPart{};
  const BatchSampler sampler(harmonized ? static_cast<const TrainingDataSource&>(*harmonized) : data, config,
                             "train", part);
  std::unique_ptr<BatchSampler> val;
  if (writer && !data.caseIds("val").empty()) val = std::make_unique<BatchSampler>(data, config, "val");
  const int64_t last = run.stopAfterStep >= 0 ? std::min(tr.steps, run.stopAfterStep) : tr.steps;
  spdlog::info("training {} ({} parameters) on {} train cases{}, seed {}, steps {}..{}, batch {}, device {}",
               config.network.preset, state.network->parameterCount(), sampler.cases().size(),
               val ? ", " + std::to_string(val->cases().size()) + " val cases" : "", tr.seed, step, last, tr.batch,
               tr.device);
  const TrainingContext ctx{config, data, outDir, device, reducer, writer, val.get(), last};
  return trainSteps(ctx, state, sampler, step, std::move(logRows), run);
}

}  // namespace mr2ct
