#include "mr2ct/models/ModelFolder.h"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/models/MixedPrecision.h"

namespace mr2ct {

namespace fs = std::filesystem;

namespace {

/// Reads j[key] into value when present; DataError naming the key when its type is wrong.
template <typename T>
void readField(const nlohmann::json& j, const char* section, const char* key, T& value) {
  if (!j.contains(key)) return;
  try {
    value = j.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw DataError(std::string(section) + "." + key + ": " + e.what());
  }
}

const nlohmann::json& section(const nlohmann::json& j, const char* key) {
  static const nlohmann::json empty = nlohmann::json::object();
  if (!j.contains(key)) return empty;
  if (!j.at(key).is_object()) throw DataError(std::string(key) + ": expected a JSON object");
  return j.at(key);
}

// Each config's JSON fields, named once: the same list writes and reads them.
template <class C, class F>
void networkFields(C& c, F&& f) {
  f("preset", c.preset);
  f("dims", c.unet.dims());
  f("neighbours", c.neighbours);
  f("channels", c.unet.channels());
  f("blocks_per_level", c.unet.blocksPerLevel());
  f("attention", c.unet.attention());
  f("groups", c.unet.groups());
  f("time_features", c.unet.timeFeatures());
  f("time_dim", c.unet.timeDim());
  f("max_frequency", c.unet.maxFrequency());
  f("patch_size", c.patchSize);
}

template <class C, class F>
void flowFields(C& c, F&& f) {
  f("source", c.source);
  f("sigma", c.sigma);
  f("time_sampling", c.timeSampling);
  f("logit_mean", c.logitMean);
  f("logit_std", c.logitStd);
  f("body_weight", c.bodyWeight);
  f("background_weight", c.backgroundWeight);
  f("bone_weight", c.boneWeight);
  f("bone_above_hu", c.boneAboveHu);
}

template <class C, class F>
void trainingFields(C& c, F&& f) {
  f("steps", c.steps);
  f("batch", c.batch);
  f("lr", c.lr);
  f("weight_decay", c.weightDecay);
  f("beta1", c.beta1);
  f("beta2", c.beta2);
  f("warmup_steps", c.warmupSteps);
  f("min_lr_fraction", c.minLrFraction);
  f("grad_clip", c.gradClip);
  f("ema_decay", c.emaDecay);
  f("seed", c.seed);
  f("body_fraction", c.bodyFraction);
  f("flips", c.flips);
  f("intensity_jitter", c.intensityJitter);
  f("contrast_augmentation", c.contrastAugmentation);
  f("gamma_augmentation", c.gammaAugmentation);
  f("bias_field_augmentation", c.biasFieldAugmentation);
  f("surface_gain_augmentation", c.surfaceGainAugmentation);
  f("harmonize_bone_level", c.harmonizeBoneLevel);
  f("validate_every", c.validateEvery);
  f("validation_slices", c.validationSlices);
  f("validation_nfe", c.validationNfe);
  f("checkpoint_every", c.checkpointEvery);
  f("log_every", c.logEvery);
  f("prefetch", c.prefetch);
  f("device", c.device);
  f("precision", c.precision);
  f("channels_last", c.channelsLast);
  f("hu_min", c.huMin);
  f("hu_max", c.huMax);
}

template <class C, class Fields>
nlohmann::json writeFields(const C& c, Fields fields) {
  nlohmann::json j = nlohmann::json::object();
  fields(c, [&j](const char* key, const auto& value) { j[key] = value; });
  return j;
}

template <class C, class Fields>
C readFields(const nlohmann::json& j, const char* sectionName, Fields fields) {
  C c;
  fields(c, [&](const char* key, auto& value) { readField(j, sectionName, key, value); });
  return c;
}

}  // namespace

// ---- NetworkConfig ------------------------------------------------------------------------------

VelocityUNetOptions NetworkConfig::unetOptions() const { return VelocityUNetOptions(unet).condChannels(condChannels()); }

NetworkConfig NetworkConfig::fromPreset(const std::string& name) {
  NetworkConfig c;
  c.preset = name;
  c.unet = velocityUNetPreset(name);
  if (name == "unet2d-bench" || name == "unet2d") c.patchSize = {256, 256};
  else if (c.dims() == 3) c.patchSize = {32, 64, 64};
  else c.patchSize = {128, 128};
  return c;
}

void NetworkConfig::validate() const {
  unetOptions().validate();
  if (neighbours < 0) throw UsageError("network.neighbours must be >= 0");
  if (dims() == 3 && neighbours != 0) throw UsageError("network.neighbours (2.5D) applies to 2D networks only");
  if (int(patchSize.size()) != dims())
    throw UsageError("network.patch_size needs " + std::to_string(dims()) + " values for a " + std::to_string(dims()) +
                     "D network");
  const int64_t m = unetOptions().sizeMultiple();
  for (auto s : patchSize)
    if (s <= 0 || s % m != 0)
      throw UsageError("network.patch_size: " + std::to_string(s) + " is not a positive multiple of " +
                       std::to_string(m));
}

nlohmann::json NetworkConfig::toJson() const {
  nlohmann::json j = writeFields(*this, [](auto& c, auto&& f) { networkFields(c, f); });
  j["condition_channels"] = condChannels();
  return j;
}

NetworkConfig NetworkConfig::fromJson(const nlohmann::json& j) {
  return readFields<NetworkConfig>(j, "network", [](auto& c, auto&& f) { networkFields(c, f); });
}

// ---- FlowConfig ---------------------------------------------------------------------------------

double FlowConfig::defaultSigma(const std::string& source) {
  // σ = 1: the best of 0.2, 0.5, 1 and 2 (and the noise source) on BrainWeb's val subjects over
  // two seeds, whole volumes (README "Quality → Ablation", 2026-12-04); 0.2 before. σ = 0 lost to
  // the noise source in the single-seed study of 2026-11-30 and was not in this ablation.
  return source == "mr" ? 1.0 : 0.0;
}

void FlowConfig::validate() const {
  if (source != "mr" && source != "noise") throw UsageError("flow.source must be mr or noise, got '" + source + "'");
  if (!(sigma >= 0.0)) throw UsageError("flow.sigma must be >= 0");
  if (timeSampling != "uniform" && timeSampling != "logit-normal")
    throw UsageError("flow.time_sampling must be uniform or logit-normal, got '" + timeSampling + "'");
  if (!(logitStd > 0.0)) throw UsageError("flow.logit_std must be > 0");
  if (!(bodyWeight >= 0.0) || !(backgroundWeight >= 0.0) || bodyWeight + backgroundWeight <= 0.0)
    throw UsageError("flow.body_weight and flow.background_weight must be >= 0, not both 0");
  if (!(boneWeight > 0.0) || !std::isfinite(boneWeight)) throw UsageError("flow.bone_weight must be > 0 (1 = off)");
  if (!std::isfinite(boneAboveHu)) throw UsageError("flow.bone_above_hu must be a number of HU");
}

nlohmann::json FlowConfig::toJson() const {
  return writeFields(*this, [](auto& c, auto&& f) { flowFields(c, f); });
}

FlowConfig FlowConfig::fromJson(const nlohmann::json& j) {
  return readFields<FlowConfig>(j, "flow", [](auto& c, auto&& f) { flowFields(c, f); });
}

// ---- TrainingConfig -----------------------------------------------------------------------------

void TrainingConfig::validate() const {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw UsageError("training." + what);
  };
  need(steps >= 1, "steps must be >= 1");
  need(batch >= 1, "batch must be >= 1");
  need(lr > 0.0, "lr must be > 0");
  need(weightDecay >= 0.0, "weight_decay must be >= 0");
  need(beta1 >= 0.0 && beta1 < 1.0 && beta2 >= 0.0 && beta2 < 1.0, "betas must be in [0, 1)");
  need(warmupSteps >= 0, "warmup_steps must be >= 0");
  need(minLrFraction >= 0.0 && minLrFraction <= 1.0, "min_lr_fraction must be in [0, 1]");
  need(gradClip >= 0.0, "grad_clip must be >= 0");
  need(emaDecay >= 0.0 && emaDecay < 1.0, "ema_decay must be in [0, 1)");
  need(bodyFraction >= 0.0 && bodyFraction <= 1.0, "body_fraction must be in [0, 1]");
  need(intensityJitter >= 0.0 && intensityJitter < 0.5, "intensity_jitter must be in [0, 0.5)");
  need(contrastAugmentation >= 0.0 && contrastAugmentation < 1.0, "contrast_augmentation must be in [0, 1)");
  need(gammaAugmentation >= 0.0 && gammaAugmentation <= 1.0, "gamma_augmentation must be in [0, 1]");
  need(biasFieldAugmentation >= 0.0 && biasFieldAugmentation <= 1.0, "bias_field_augmentation must be in [0, 1]");
  need(surfaceGainAugmentation >= 0.0 && surfaceGainAugmentation < 1.0, "surface_gain_augmentation must be in [0, 1)");
  need(validateEvery >= 0, "validate_every must be >= 0");
  need(validationSlices >= 1, "validation_slices must be >= 1");
  need(validationNfe >= 1, "validation_nfe must be >= 1");
  need(checkpointEvery >= 1, "checkpoint_every must be >= 1");
  need(logEvery >= 1, "log_every must be >= 1");
  need(prefetch >= 1, "prefetch must be >= 1");
  need(huMax > huMin, "hu_max must be > hu_min");
  validatePrecision(precision);
}

nlohmann::json TrainingConfig::toJson() const {
  return writeFields(*this, [](auto& c, auto&& f) { trainingFields(c, f); });
}

TrainingConfig TrainingConfig::fromJson(const nlohmann::json& j) {
  TrainingConfig c = readFields<TrainingConfig>(j, "training", [](auto& c2, auto&& f) { trainingFields(c2, f); });
  // A model written before a key existed trained without that augmentation: resuming it must not
  // switch the augmentation on.
  if (!j.contains("surface_gain_augmentation")) c.surfaceGainAugmentation = 0.0;
  if (!j.contains("contrast_augmentation")) c.contrastAugmentation = 0.0;
  if (!j.contains("harmonize_bone_level")) c.harmonizeBoneLevel = false;
  return c;
}

// ---- ModelConfig --------------------------------------------------------------------------------

void ModelConfig::validate() const {
  network.validate();
  flow.validate();
  training.validate();
}

nlohmann::json ModelConfig::toJson() const {
  nlohmann::json j = {{"format", "mr2ct-model"},
                      {"format_version", formatVersion},
                      {"network", network.toJson()},
                      {"flow", flow.toJson()},
                      {"training", training.toJson()},
                      {"preprocessing", preprocessing}};
  if (!inputReference.is_null()) j["input_reference"] = inputReference;
  return j;
}

ModelConfig ModelConfig::fromJson(const nlohmann::json& j) {
  if (!j.is_object()) throw DataError("expected a JSON object");
  if (!j.contains("format_version") || !j.at("format_version").is_number_integer())
    throw DataError("format_version: missing or not an integer");
  ModelConfig c;
  c.formatVersion = j.at("format_version").get<int>();
  if (c.formatVersion != kModelFormatVersion)
    throw DataError("format_version " + std::to_string(c.formatVersion) + " is not supported (this build reads " +
                    std::to_string(kModelFormatVersion) + ")");
  c.network = NetworkConfig::fromJson(section(j, "network"));
  c.flow = FlowConfig::fromJson(section(j, "flow"));
  c.training = TrainingConfig::fromJson(section(j, "training"));
  if (j.contains("preprocessing")) c.preprocessing = j.at("preprocessing");
  if (j.contains("input_reference")) c.inputReference = j.at("input_reference");
  return c;
}

fs::path modelConfigPath(const fs::path& dir) { return dir / "config.json"; }
fs::path modelWeightsPath(const fs::path& dir) { return dir / "weights.pt"; }
fs::path trainStatePath(const fs::path& dir) { return dir / "train_state.pt"; }
fs::path trainLogPath(const fs::path& dir) { return dir / "log.csv"; }

ModelConfig loadModelConfig(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw IoError(dir.string(), "model folder not found");
  const fs::path file = modelConfigPath(dir);
  if (!fs::exists(file)) throw IoError(file.string(), "missing (not a model folder?)");
  const std::string text = readTextFile(file);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(file.string(), std::string("invalid JSON: ") + e.what());
  }
  try {
    ModelConfig c = ModelConfig::fromJson(j);
    c.validate();
    return c;
  } catch (const Error& e) {
    throw DataError(file.string(), e.what());
  }
}

void saveModelConfig(const ModelConfig& config, const fs::path& dir) {
  fs::create_directories(dir);
  writeTextAtomically(modelConfigPath(dir), config.toJson().dump(2) + "\n");
}

VelocityUNet makeNetwork(const ModelConfig& config) {
  config.network.validate();
  return VelocityUNet(config.network.unetOptions());
}

// ---- weights ------------------------------------------------------------------------------------

namespace {

// The archive layout mirrors torch::nn::Module::save (one sub-archive per child module), but
// tensors are written from CPU contiguous copies so a CUDA or channels-last model loads anywhere.
void writeModule(const torch::nn::Module& m, torch::serialize::OutputArchive& archive) {
  for (const auto& p : m.named_parameters(/*recurse=*/false))
    archive.write(p.key(), p.value().detach().to(torch::kCPU).contiguous(), /*is_buffer=*/false);
  for (const auto& b : m.named_buffers(/*recurse=*/false))
    archive.write(b.key(), b.value().detach().to(torch::kCPU).contiguous(), /*is_buffer=*/true);
  for (const auto& c : m.named_children()) {
    torch::serialize::OutputArchive child;
    writeModule(*c.value(), child);
    archive.write(c.key(), child);
  }
}

void readModule(torch::nn::Module& m, torch::serialize::InputArchive& archive, const std::string& prefix,
                const std::string& file) {
  torch::NoGradGuard noGrad;
  auto readInto = [&](const std::string& name, torch::Tensor& target, bool isBuffer) {
    torch::Tensor loaded;
    if (!archive.try_read(name, loaded, isBuffer))
      throw DataError(file, "checkpoint has no '" + prefix + name + "' (it was saved from a different network)");
    if (loaded.sizes() != target.sizes()) {
      std::ostringstream s;
      s << "'" << prefix << name << "' has shape " << loaded.sizes() << " in the checkpoint but " << target.sizes()
        << " in the network of config.json";
      throw DataError(file, s.str());
    }
    target.copy_(loaded);
  };
  for (auto& p : m.named_parameters(false)) readInto(p.key(), p.value(), false);
  for (auto& b : m.named_buffers(false)) readInto(b.key(), b.value(), true);
  for (auto& c : m.named_children()) {
    torch::serialize::InputArchive child;
    if (!archive.try_read(c.key(), child))
      throw DataError(file, "checkpoint has no module '" + prefix + c.key() + "' (saved from a different network)");
    readModule(*c.value(), child, prefix + c.key() + ".", file);
  }
}

}  // namespace

void writeModuleArchive(const torch::nn::Module& network, torch::serialize::OutputArchive& archive) {
  writeModule(network, archive);
}

void readModuleArchive(torch::nn::Module& network, torch::serialize::InputArchive& archive, const std::string& file) {
  try {
    readModule(network, archive, "", file);
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg = msg.substr(0, nl);
    throw DataError(file, "checkpoint does not match the network (" + msg + ")");
  }
}

void saveWeights(const torch::nn::Module& network, const fs::path& path) {
  torch::serialize::OutputArchive archive;
  writeModule(network, archive);
  writeAtomically(path, [&](const fs::path& tmp) { archive.save_to(tmp.string()); });
}

void loadWeights(torch::nn::Module& network, const fs::path& path) {
  if (!fs::exists(path)) throw IoError(path.string(), "missing");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string());
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg = msg.substr(0, nl);
    throw DataError(path.string(), "not a readable torch checkpoint (" + msg + ")");
  }
  try {
    readModule(network, archive, "", path.string());
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg = msg.substr(0, nl);
    throw DataError(path.string(), "checkpoint does not match the network (" + msg + ")");
  }
}

LoadedModel loadModel(const fs::path& dir, const torch::Device& device) {
  LoadedModel m;
  m.config = loadModelConfig(dir);
  m.network = makeNetwork(m.config);
  loadWeights(m.network, modelWeightsPath(dir));
  m.network->to(device);
  m.network->eval();
  return m;
}

}  // namespace mr2ct
