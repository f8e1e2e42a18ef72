#pragma once
// The model folder (README "Model folder"): everything needed to convert with, or resume, a model.
//   config.json     ModelConfig (network, flow, preprocessing record, training options, version)
//   weights.pt      EMA weights of the network (torch::serialize archive, module hierarchy)
//   train_state.pt  optimizer, step, raw weights, EMA (for --resume)
//   log.csv         step, loss, lr, grad norm, samples/s, data wait, validation MAE
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mr2ct/models/VelocityUNet.h"

namespace mr2ct {

inline constexpr int kModelFormatVersion = 1;

/// The network: a resolved preset (every field explicit, the preset name is a label).
struct NetworkConfig {
  std::string preset = "unet2d-small";
  int neighbours = 0;                 ///< 2.5D: MR slices on each side as extra condition channels (2D only)
  /// Training slice/patch size: [H, W] in 2D, [D, H, W] in 3D (voxels).
  std::vector<int64_t> patchSize{128, 128};
  /// The network itself (dims, channels, blocks, attention, groups, time embedding), held here
  /// once; its condChannels is set from `neighbours` by unetOptions(). The default is the preset's.
  VelocityUNetOptions unet = velocityUNetPreset("unet2d-small");

  int dims() const { return unet.dims(); }  ///< 2 (slices) or 3 (patches)
  int64_t condChannels() const { return dims() == 2 ? 1 + 2 * int64_t(neighbours) : 1; }
  VelocityUNetOptions unetOptions() const;
  /// The preset's network (and a patch size that suits it).
  static NetworkConfig fromPreset(const std::string& name);
  void validate() const;  ///< UsageError naming the field
  nlohmann::json toJson() const;
  static NetworkConfig fromJson(const nlohmann::json& j);
};

/// Flow matching (DESIGN.md §4): x_t = (1−t)·x0 + t·x1 + σ·√(t(1−t))·ε, target x1 − x0.
struct FlowConfig {
  std::string source = "mr";            ///< "mr": x0 = MR; "noise": x0 ~ N(0, I)
  /// Bridge noise σ ≥ 0; the default is defaultSigma(source). With the MR as both x0 and the
  /// condition and no bridge noise, (x_t, MR) gives the CT away for every t > 0 and only the first
  /// step is learned (README "Quality → Ablation" measures σ from 0 to 2).
  double sigma = defaultSigma("mr");
  /// The mr source's measured best (ModelFolder.cpp says which study), 0 for noise (whose x0 is
  /// noise already).
  static double defaultSigma(const std::string& source);
  std::string timeSampling = "uniform"; ///< "uniform" | "logit-normal"
  double logitMean = 0.0;               ///< logit-normal: t = sigmoid(m + s·z)
  double logitStd = 1.0;
  double bodyWeight = 1.0;              ///< loss weight of voxels inside the body mask
  double backgroundWeight = 1.0;        ///< loss weight outside the body (voxels outside the CT FOV: always 0)
  /// Factor on the weight of voxels whose CT is bone (HU > boneAboveHu), 1 = off. Off: aimed at the
  /// bone that both sources predict too light on BrainWeb's hardest subjects, 3 made every subject's
  /// sCT brighter and lost 4.9 HU on folds 1-2 (README "Quality", fourteenth round, 2026-12-07).
  double boneWeight = 1.0;
  double boneAboveHu = 250.0;           ///< the bone class of the loss weight and of bone harmonization (the metrics' too)
  void validate() const;
  nlohmann::json toJson() const;
  static FlowConfig fromJson(const nlohmann::json& j);
};

/// Training options (recorded in config.json; the trainer reads them).
struct TrainingConfig {
  int64_t steps = 2000;
  int64_t batch = 8;
  double lr = 2e-4;
  double weightDecay = 0.01;
  double beta1 = 0.9, beta2 = 0.999;
  int64_t warmupSteps = 100;     ///< capped at steps/2 by the schedule (learningRateAt)
  double minLrFraction = 0.05;   ///< cosine decays to lr·minLrFraction at the last step
  double gradClip = 1.0;         ///< max global L2 norm (0 = off)
  double emaDecay = 0.999;
  uint64_t seed = 1;
  double bodyFraction = 0.9;     ///< share of samples centred on a body voxel (rest: anywhere)
  bool flips = true;             ///< random left-right flips
  double intensityJitter = 0.05; ///< MR' = MR·(1+a) + b, a, b ~ U(±jitter)
  /// ContrastCurve strength in [0, 1) (0 = off). 0.8: with the surface gain, on the 12 BrainWeb
  /// subjects of cross-validation folds 1-4 it lowered the MAE and the spread over subjects
  /// (README "Quality", 2026-12-06).
  double contrastAugmentation = 0.8;
  /// GammaCurve log-gamma range in [0, 1] (0 = off). Off: 0.5 made BrainWeb's hardest subjects
  /// worse (their bone lighter still; README "Quality", thirteenth round, 2026-12-07).
  double gammaAugmentation = 0.0;
  double biasFieldAugmentation = 0.0; ///< BiasField coefficient range in [0, 1] (0 = off)
  /// SurfaceGain gain range in [0, 1) (0 = off). 0.4: on BrainWeb's val subjects at the full
  /// budget it lowered the MAE and the spread over subjects (README "Quality", 2026-12-06).
  double surfaceGainAugmentation = 0.4;
  /// Train on CTs whose bone is brought to the train cases' common level (BoneLevelHarmonization.h;
  /// the bone class is flow.boneAboveHu). On: over two seeds on BrainWeb's 12 cross-validation
  /// subjects it lowered the MAE of unseen heads (README "Quality", fifteenth round).
  bool harmonizeBoneLevel = true;
  int64_t validateEvery = 500;   ///< 0 = only at the end
  int64_t validationSlices = 8;  ///< per val case (2D); 3D: patches
  int validationNfe = 4;         ///< Euler steps at validation
  int64_t checkpointEvery = 250;
  int64_t logEvery = 10;
  int prefetch = 3;              ///< batches prepared ahead by the loader thread
  std::string device = "cpu";
  std::string precision = "fp32"; ///< fp32 | bf16 (autocast of the network in training; README "Quality")
  bool channelsLast = false;     ///< 2D on CPU: channels-last memory format (measured 0.83-0.87x of NCHW here, so off)
  double huMin = -1024.0, huMax = 3000.0;  ///< CT normalization [-1,1] ↔ [huMin, huMax] (for MAE in HU)
  double normalizedCt(double hu) const { return 2.0 * (hu - huMin) / (huMax - huMin) - 1.0; }
  double ctHu(double normalized) const { return huMin + (normalized + 1.0) * 0.5 * (huMax - huMin); }
  void validate() const;
  nlohmann::json toJson() const;
  static TrainingConfig fromJson(const nlohmann::json& j);
};

struct ModelConfig {
  int formatVersion = kModelFormatVersion;
  NetworkConfig network;
  FlowConfig flow;
  TrainingConfig training;
  /// Written by pipeline (normalization rule, spacing, mask options); opaque to models/.
  nlohmann::json preprocessing = nlohmann::json::object();
  /// Written by pipeline (the training inputs' statistics for `convert`'s input check); opaque to
  /// models/; null in models trained before it existed.
  nlohmann::json inputReference;

  void validate() const;
  nlohmann::json toJson() const;
  /// Missing fields take their defaults; DataError naming the key for a field of the wrong type.
  static ModelConfig fromJson(const nlohmann::json& j);
};

std::filesystem::path modelConfigPath(const std::filesystem::path& dir);   ///< dir/config.json
std::filesystem::path modelWeightsPath(const std::filesystem::path& dir);  ///< dir/weights.pt
std::filesystem::path trainStatePath(const std::filesystem::path& dir);    ///< dir/train_state.pt
std::filesystem::path trainLogPath(const std::filesystem::path& dir);      ///< dir/log.csv

/// Reads dir/config.json. IoError naming the file when the folder or file is missing or unreadable;
/// DataError naming the file for bad JSON, another format version or an invalid field.
ModelConfig loadModelConfig(const std::filesystem::path& dir);
/// Writes dir/config.json atomically (creates dir).
void saveModelConfig(const ModelConfig& config, const std::filesystem::path& dir);

/// A freshly initialised network for the config.
VelocityUNet makeNetwork(const ModelConfig& config);

/// Writes the network's parameters and buffers (as CPU float tensors) atomically.
void saveWeights(const torch::nn::Module& network, const std::filesystem::path& path);
/// Loads weights into `network` (on its device). DataError naming the file when the checkpoint is
/// corrupt, misses a parameter or module, or has a shape that differs from the network.
void loadWeights(torch::nn::Module& network, const std::filesystem::path& path);
inline void loadWeights(VelocityUNet& network, const std::filesystem::path& path) { loadWeights(*network, path); }

/// The same layout inside a larger archive (train_state.pt holds the raw and the EMA weights).
void writeModuleArchive(const torch::nn::Module& network, torch::serialize::OutputArchive& archive);
void readModuleArchive(torch::nn::Module& network, torch::serialize::InputArchive& archive, const std::string& file);

/// Convenience for conversion: config + network with the EMA weights, in eval mode on `device`.
struct LoadedModel {
  ModelConfig config;
  VelocityUNet network{nullptr};
};
LoadedModel loadModel(const std::filesystem::path& dir, const torch::Device& device = torch::kCPU);

}  // namespace mr2ct
