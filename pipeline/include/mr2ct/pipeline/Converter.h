#pragma once
// `mr2ct convert`: one MR volume → synthetic CT on the MR's own grid, and the batch form over a
// manifest. The whole path for one volume:
//   read (any format VolumeIO reads, DICOM series folders included; NaN voxels refused)
//   → prepareMr with the model's PreprocessPlan (ModelConfig.preprocessing, the training store's
//     plan copied unchanged: reorient to LPS, optional target spacing, body mask from the MR,
//     optional N4 with the trained options, MR normalization) — the function preprocess calls
//   → tensor [D,H,W] (TensorBridge) → VolumeIntegrator from x0 = MR (slices or 3D patches)
//   → CtNormalization::toHu → outside the body mask −1000 HU (optional)
//   → resampled back onto the input MR's grid (linear; exact when only reoriented)
//   → written atomically with the input's origin, spacing and direction (int16 or float32), or as
//     a DICOM CT series folder (--output-format dicom, DicomCtSeriesWriter.h).
#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mr2ct/models/InferencePrecision.h"
#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/models/OdeSolver.h"
#include "mr2ct/models/VolumeIntegrator.h"
#include "mr2ct/pipeline/DicomCtSeriesWriter.h"
#include "mr2ct/pipeline/Manifest.h"
#include "mr2ct/preprocessing/InputTypicality.h"
#include "mr2ct/preprocessing/PreprocessPlan.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace mr2ct {

/// How the sCT is written: a volume file whose extension picks the format, or a DICOM CT series
/// folder (one file per slice; DicomCtSeriesWriter.h).
enum class OutputFormat { VolumeFile, DicomSeries };
/// "file" | "dicom" → OutputFormat; UsageError otherwise.
OutputFormat parseOutputFormat(const std::string& text);

/// The one place of convert's precision default (ConvertOptions and the CLI read it). Auto (bf16
/// for 2D models on a CPU with native bf16) since 2026-12-04: on BrainWeb's val subjects bf16
/// moved the MAE by +0.2 to +0.4 HU at NFE 1, 4 and 8 (the bar was 0.5 HU) and integrated a
/// 256×256×180 volume 1.55× faster (README "convert --precision").
inline constexpr InferencePrecision kDefaultConvertPrecision = InferencePrecision::Auto;

struct ConvertOptions {
  std::filesystem::path model;          ///< model folder (config.json + weights.pt)
  SolverOptions solver;                 ///< default Heun, 4 steps (8 NFE)
  std::vector<int> nfeSweep;            ///< non-empty: Euler on nested grids, one output per NFE
  std::string device = "cpu";
  int batch = 4;                        ///< slices (2D) or patches (3D) per network call
  /// 2D: at most this many voxels per network call (batch shrinks for large slices; 0 = no limit).
  /// 4 × 256²: a 512² volume runs one slice per call, bounding activation memory.
  int64_t maxBatchVoxels = 4 * 256 * 256;
  double overlap = 0.25;                ///< 3D: patch overlap as a fraction of the patch size
  BlendWindow blend = BlendWindow::Gaussian;
  bool maskOutside = true;              ///< set voxels outside the body mask to outsideHu
  float outsideHu = -1000.0f;
  PixelType pixelType = PixelType::Int16;
  std::string dicomSeries;              ///< for DICOM folders with several series
  bool channelsLast = true;             ///< 2D on CPU: channels-last inputs (faster oneDNN convolutions)
  std::uint64_t seed = 0;               ///< models trained with source "noise": seed of x0 ~ N(0, I)
  OutputFormat outputFormat = OutputFormat::VolumeFile;  ///< --output-format file | dicom
  DicomSeriesOptions dicom;             ///< the series' description, number, patient (dicom only)
  /// Network precision. bf16: weights cast once at load, ODE state and solver in float32; falls
  /// back to fp32 on a CPU without native bf16.
  InferencePrecision precision = kDefaultConvertPrecision;
  /// Trajectories per volume (`--samples K`). K > 1: noise-source models start from x0 ~ N(0, I),
  /// mr-source models with σ > 0 draw the Brownian bridge (BridgeSampler.h), with seeds
  /// seed … seed + K − 1; the output is their voxel-wise mean and
  /// uncertaintyOutputPath(output) their standard deviation in HU, from running moments (memory:
  /// three volumes whatever K).
  int samples = 1;
  /// `--match-median`: after the plan's percentile map, the gamma that puts the MR's body median
  /// where the model's training MRs have theirs on average (their mean p50 in the model's input
  /// reference). A test-time contrast standardization: the training inputs keep their variety,
  /// an input of unusual contrast is moved to their centre. Needs a percentile-map model with an
  /// input reference.
  bool matchMedian = false;
  void validate() const;                ///< UsageError naming the option
  nlohmann::json toJson() const;
};

/// Output path for one NFE of a sweep: "sct.nii.gz" → "sct_nfe4.nii.gz".
std::filesystem::path sweepOutputPath(const std::filesystem::path& output, int nfe);
/// The standard-deviation map of `convert --samples K`: "sct.nii.gz" → "sct_std.nii.gz".
std::filesystem::path uncertaintyOutputPath(const std::filesystem::path& output);

struct ConvertReport {
  std::filesystem::path input;
  std::vector<std::filesystem::path> outputs;  ///< one, or one per sweep NFE
  std::vector<int> nfe;                        ///< per output
  int evaluations = 0;                         ///< network evaluations per trajectory (sweep: shared total)
  double secondsTotal = 0, secondsRead = 0, secondsPreprocess = 0, secondsIntegrate = 0, secondsWrite = 0;
  std::size_t slices = 0;                      ///< slices of the integrated (preprocessed) grid
  InferencePrecision precision = InferencePrecision::Fp32;  ///< what ran (after any fallback)
  int samples = 1;                             ///< trajectories averaged
  std::filesystem::path uncertaintyOutput;     ///< the std map (samples > 1), else empty
  double meanStdHu = 0;                        ///< samples > 1: mean std (HU) inside the body mask
  std::string sampler;                         ///< samples > 1: "noise-start" or "bridge"
  /// The input check against the model's training inputs (InputTypicality.h); none for models
  /// trained before it.
  std::optional<TypicalityScore> inputCheck;
  /// --match-median: the gamma applied to this input (1 = its median already sat at the reference's).
  std::optional<double> medianMatchGamma;
  /// Integration seconds per network evaluation (over the whole volume; all samples counted).
  double secondsPerEvaluation() const { return evaluations > 0 ? secondsIntegrate / evaluations / samples : 0; }
  nlohmann::json toJson() const;
};

/// A loaded model ready to convert many volumes (the batch loads it once).
class Converter {
 public:
  /// Loads and checks the model folder (IoError / DataError naming the file).
  explicit Converter(ConvertOptions options);
  ~Converter();

  /// Converts one volume. Outputs: options.nfeSweep empty → {output}; else sweepOutputPath per NFE.
  /// Before any work: the output is not the input, its extension is writable, its folder is created
  /// and writable with space for it (IoError/UsageError); nothing partial is left on failure.
  ConvertReport convert(const std::filesystem::path& input, const std::filesystem::path& output) const;
  /// The same, reading `dicomSeries` of a DICOM folder instead of options().dicomSeries (a manifest's
  /// mr_series).
  ConvertReport convert(const std::filesystem::path& input, const std::filesystem::path& output,
                        const std::string& dicomSeries) const;

  const ModelConfig& config() const;
  /// The model's preparation of an MR (ModelConfig.preprocessing, read by PreprocessPlan::fromJson).
  const PreprocessPlan& plan() const;
  const ConvertOptions& options() const { return options_; }
  /// The precision that runs (options().precision, or fp32 after a fallback).
  InferencePrecision precision() const;

 private:
  /// The DICOM MR's series to reference (input is a folder) and the DerivationDescription.
  DicomDerivation dicomDerivation(const std::filesystem::path& input, const std::string& dicomSeries) const;
  struct Impl;
  ConvertOptions options_;
  std::unique_ptr<Impl> impl_;
};

// ---- batch ---------------------------------------------------------------------------------------

struct BatchConvertOptions {
  ConvertOptions convert;
  std::filesystem::path manifest;
  std::filesystem::path outDir;     ///< created when missing
  std::string extension = ".nii.gz";  ///< per case <id><extension>; DICOM: folder <id>
  bool resume = false;              ///< skip cases whose outputs all exist
  int shardIndex = 0, shardCount = 1;  ///< --shard i/N: cases with position % N == i
  int jobs = 1;                     ///< cases converted concurrently
  std::string split;                ///< only cases of this split ("" = all)
  ManifestOptions manifestOptions;  ///< data root, paths outside the manifest's folder
  void validate() const;
};

struct BatchCaseStatus {
  std::string id;
  std::string status;   ///< "ok" | "skipped" (resume) | "failed"
  std::string reason;   ///< the error, for failed cases
  double seconds = 0;
  int nfe = 0;
  std::string output;
  double meanStdHu = -1;  ///< --samples K > 1: the case's mean std (HU) in the body; -1 otherwise
  std::optional<TypicalityScore> inputCheck;  ///< ConvertReport's
  std::optional<double> medianMatchGamma;     ///< ConvertReport's (--match-median)
};

struct BatchConvertSummary {
  std::vector<BatchCaseStatus> cases;  ///< this shard's cases, manifest order
  std::size_t count(const std::string& status) const;
  int exitCode() const;  ///< 0, or 3 when some case failed
};

/// Converts this shard's cases; writes <outDir>/status.csv and status.json (for a shard i/N > 1:
/// status.shard<i>of<N>.csv/json) atomically after every case, so an interrupted batch leaves a
/// true record. One failing case never stops the others.
BatchConvertSummary runBatchConvert(const BatchConvertOptions& options, std::ostream& log);

}  // namespace mr2ct
