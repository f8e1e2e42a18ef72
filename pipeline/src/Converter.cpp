// One MR volume → synthetic CT (see Converter.h for the chain).
#include "mr2ct/pipeline/Converter.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/core/Log.h"
#include "mr2ct/core/OutputGuard.h"
#include "mr2ct/core/Progress.h"
#include "mr2ct/core/Stopwatch.h"
#include "mr2ct/models/Runtime.h"
#include "mr2ct/pipeline/TensorBridge.h"
#include "mr2ct/preprocessing/Resampling.h"

namespace mr2ct {

namespace fs = std::filesystem;

// ---- options -------------------------------------------------------------------------------------

OutputFormat parseOutputFormat(const std::string& text) {
  if (text == "file") return OutputFormat::VolumeFile;
  if (text == "dicom") return OutputFormat::DicomSeries;
  throw OptionError("{outputFormat}: use file or dicom (got '" + text + "')");
}

void ConvertOptions::validate() const {
  if (model.empty()) throw OptionError("{model} is required");
  if (nfeSweep.empty()) solver.validate();
  for (int n : nfeSweep)
    if (n < 1) throw OptionError("{nfeSweep}: every NFE must be at least 1 (got " + std::to_string(n) + ")");
  if (batch < 1) throw OptionError("{batch} must be at least 1");
  if (!(overlap >= 0 && overlap < 1)) throw OptionError("{overlap} must be in [0, 1)");
  if (maxBatchVoxels < 0) throw OptionError("{maxBatchVoxels} must not be negative");
  if (!std::isfinite(outsideHu)) throw OptionError("{outsideHu} must be finite");
  if (samples < 1 || samples > 1000) throw OptionError("{samples} must be in 1..1000 (got " + std::to_string(samples) + ")");
  if (samples > 1 && !nfeSweep.empty()) throw OptionError("{samples} and {nfeSweep} cannot be combined");
  if (samples > 1 && outputFormat == OutputFormat::DicomSeries)
    throw OptionError("{samples} with {outputFormat} dicom: the standard-deviation map is written as a volume "
                     "file; convert to a file (e.g. sct.nii.gz)");
  if (outputFormat == OutputFormat::DicomSeries) {
    if (pixelType != PixelType::Int16) throw OptionError("{outputFormat} dicom writes int16 HU; drop {pixelType} float32");
    dicom.validate();
  }
}

nlohmann::json ConvertOptions::toJson() const {
  nlohmann::json j{{"model", model.string()}, {"device", device}, {"batch", batch}, {"mask_outside", maskOutside},
                   {"outside_hu", outsideHu}, {"pixel_type", pixelType == PixelType::Int16 ? "int16" : "float32"},
                   {"seed", seed},
                   {"output_format", outputFormat == OutputFormat::DicomSeries ? "dicom" : "file"},
                   {"precision", inferencePrecisionName(precision)},
                   {"samples", samples}, {"match_median", matchMedian}};
  if (nfeSweep.empty())
    j["solver"] = solver.toJson();
  else
    j["nfe_sweep"] = nfeSweep;
  return j;
}

namespace {

/// --match-median's rule: the gamma method at the training MRs' mean median position, (p50 + 1) / 2
/// on the percentile map's −1 … +1. UsageError naming the model when it has no percentile map or
/// no input reference (trained before the input check, or on fewer than 3 cases).
MrNormalizationRule medianMatchRule(const PreprocessPlan& plan, const std::optional<TypicalityReference>& reference,
                                    const fs::path& model) {
  if (plan.mrNormalization.method != "percentile")
    throw UsageError("--match-median: " + model.string() + " normalizes MRs by '" + plan.mrNormalization.method +
                     "'; the median match works on the percentile map only");
  if (!reference)
    throw UsageError("--match-median: " + model.string() +
                     " has no input reference (trained before the input check, or on fewer than 3 cases), so it "
                     "does not know where its training MRs' median lies");
  const auto& features = inputProfileFeatures();
  std::size_t k = 0;
  while (k < features.size() && features[k].key != "p50") ++k;
  MrNormalizationRule rule;
  rule.method = "gamma";
  rule.lowPercentile = plan.mrNormalization.lowPercentile;
  rule.highPercentile = plan.mrNormalization.highPercentile;
  rule.medianPosition = (reference->mean.at(k) + 1.0) / 2.0;
  try {
    rule.validate();
  } catch (const UsageError& e) {
    throw DataError(modelConfigPath(model).string(), std::string("--match-median: ") + e.what());
  }
  return rule;
}

/// The input check (InputTypicality.h): warns above the threshold, never refuses. An input it
/// cannot profile (a single slice) is converted unscored, as before the check existed.
std::optional<TypicalityScore> checkInput(const TypicalityReference& reference, const PreparedMr& prepared,
                                          const fs::path& input) {
  TypicalityScore check;
  try {
    check = reference.score(inputProfile(prepared.normalized, prepared.mask, input.string()));
  } catch (const DataError& e) {
    spdlog::warn("{} (input check skipped; converting anyway)", e.what());
    return std::nullopt;
  }
  if (!check.typical()) {
    // The threshold is the training cases' largest leave-one-out score, so about 1 in (cases + 1)
    // inputs like them exceed it too: with a handful of cases the user must know it is a hint.
    spdlog::warn("{}: this input looks unlike the model's training data: {} is {:.1f} standard deviations from "
                 "the mean of its {} training cases (the check allows {:.1f}, which about 1 in {} inputs like "
                 "them also exceed); check the contrast, orientation, voxel size and body region before using "
                 "the sCT",
                 input.string(), inputProfileFeature(check.feature).description, std::abs(check.z), reference.cases,
                 check.threshold, reference.cases + 1);
  }
  return check;
}

}  // namespace

fs::path sweepOutputPath(const fs::path& output, int nfe) { return withSuffixBeforeExtension(output, "_nfe" + std::to_string(nfe)); }

fs::path uncertaintyOutputPath(const fs::path& output) { return withSuffixBeforeExtension(output, "_std"); }

nlohmann::json ConvertReport::toJson() const {
  std::vector<std::string> outs;
  for (const auto& o : outputs) outs.push_back(o.string());
  nlohmann::json j = {{"input", input.string()},
          {"outputs", outs},
          {"nfe", nfe},
          {"evaluations", evaluations},
          {"slices", slices},
          {"precision", inferencePrecisionName(precision)},
          {"seconds", {{"total", secondsTotal},
                       {"read", secondsRead},
                       {"preprocess", secondsPreprocess},
                       {"integrate", secondsIntegrate},
                       {"write", secondsWrite},
                       {"per_evaluation", secondsPerEvaluation()}}}};
  if (samples > 1) {
    j["samples"] = samples;
    j["uncertainty_output"] = uncertaintyOutput.string();
    j["mean_std_hu_in_body"] = meanStdHu;
    j["sampler"] = sampler;
  }
  if (inputCheck) j["input_check"] = inputCheck->toJson();
  if (medianMatchGamma) j["median_match_gamma"] = *medianMatchGamma;
  return j;
}

// ---- converter -----------------------------------------------------------------------------------

struct Converter::Impl {
  LoadedModel model;
  PreprocessPlan plan;
  std::optional<TypicalityReference> inputReference;
  std::optional<MrNormalizationRule> medianMatch;  ///< --match-median: the gamma rule on the normalized MR
  torch::Device device = torch::kCPU;
  InferencePrecision precision = InferencePrecision::Fp32;
  std::unique_ptr<VolumeIntegrator> integrator;
};

Converter::Converter(ConvertOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  options_.validate();
  impl_->device = parseDevice(options_.device);
  if (!fs::is_directory(options_.model)) throw IoError(options_.model.string(), "model folder not found");
  impl_->model = loadModel(options_.model, impl_->device);
  const auto& cfg = impl_->model.config;
  impl_->plan = PreprocessPlan::fromJson(cfg.preprocessing, modelConfigPath(options_.model).string());
  if (!cfg.inputReference.is_null())
    impl_->inputReference = TypicalityReference::fromJson(cfg.inputReference, modelConfigPath(options_.model).string());
  else
    spdlog::debug("{}: no input_reference (trained before the input check): inputs are not compared with the "
                  "training data", options_.model.string());
  if (options_.matchMedian) impl_->medianMatch = medianMatchRule(impl_->plan, impl_->inputReference, options_.model);
  // Weights cast once here (bf16) and stored channels-last for 2D on the CPU; 3D stays NCDHW,
  // where oneDNN's bf16 conv3d measured faster than channels-last-3d (bench/bf16_profile.md).
  impl_->precision = effectiveInferencePrecision(options_.precision, impl_->device, cfg.network.dims());
  impl_->model.network->eval();
  impl_->model.network->prepareForInference(inferenceScalarType(impl_->precision),
                                            options_.channelsLast && impl_->device.is_cpu());

  IntegratorOptions io;
  io.dims = cfg.network.dims();
  io.contextSlices = cfg.network.neighbours;
  io.batchSize = options_.batch;
  io.maxBatchVoxels = options_.maxBatchVoxels;
  io.sizeMultiple = cfg.network.unetOptions().sizeMultiple();
  io.device = impl_->device;
  io.blend = options_.blend;
  io.solver = options_.solver;
  io.source = cfg.flow.source;  // validated when the model was loaded: mr or noise
  io.noiseSeed = options_.seed;
  // An mr-source model's start is the MR itself, with no randomness its training saw (the bridge
  // noise σ·√(t(1−t)) vanishes at t = 0: on the demo model, noise added to the start passed
  // through, 408 HU of "std" everywhere). With σ > 0 its path is a Brownian bridge, sampled step
  // by step (BridgeSampler.h); with σ = 0 the model is deterministic.
  if (options_.samples > 1 && io.source == "mr") {
    if (!(cfg.flow.sigma > 0.0))
      throw OptionError("{samples} " + std::to_string(options_.samples) + ": " + options_.model.string() +
                       " transports the MR itself without bridge noise (flow.source mr, flow.sigma 0), so every "
                       "trajectory is the same; sampling needs a model trained with {sigma} > 0 or {source} noise "
                       "(or use {samples} 1)");
    io.bridgeSigma = cfg.flow.sigma;
    if (evaluationsPerStep(options_.solver.method) > 1)
      spdlog::info("--samples {} with an mr-source model: the Brownian-bridge sampler takes one evaluation per step, "
                   "{} steps (NFE {}); --solver {} is used only when --samples is 1",
                   options_.samples, options_.solver.steps, options_.solver.steps, solverMethodName(options_.solver.method));
  }
  // A noise-source model only ever saw x = CT at t = 1 and answers v ≈ x there, while the true
  // field of a near-deterministic target is stiff, (E[CT | x] − x)/(1 − t). Solvers with a stage at
  // t = 1 keep part of the noise (BrainWeb: Heun NFE 2/4/8 gave 1066/535/250 HU, Euler 101/88/86).
  const auto m = options_.solver.method;
  if (io.source == "noise" && options_.nfeSweep.empty() &&
      (m == SolverMethod::Heun || m == SolverMethod::Rk4 || m == SolverMethod::Dopri5))
    spdlog::warn("{}: a noise-source model with a solver that evaluates at t = 1 ({}): expect a noisy result; "
                 "use --solver euler or midpoint",
                 options_.model.string(), solverMethodName(m));
  if (!options_.nfeSweep.empty()) io.solver = SolverOptions{};  // the sweep brings its own grids
  if (io.dims == 3) {
    if (cfg.network.patchSize.size() != 3)
      throw DataError(modelConfigPath(options_.model).string(), "network.patch_size must have 3 entries for a 3D network");
    for (int i = 0; i < 3; ++i) {
      io.patchSize[std::size_t(i)] = cfg.network.patchSize[std::size_t(i)];
      const int64_t ov = int64_t(std::llround(options_.overlap * double(io.patchSize[std::size_t(i)])));
      io.patchOverlap[std::size_t(i)] = std::min(ov, io.patchSize[std::size_t(i)] - 1);
    }
  }
  auto network = impl_->model.network;
  impl_->integrator = std::make_unique<VolumeIntegrator>(
      [network](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& cond) mutable {
        return network->forward(x, t, cond);
      },
      io);
}

Converter::~Converter() = default;

const ModelConfig& Converter::config() const { return impl_->model.config; }
const PreprocessPlan& Converter::plan() const { return impl_->plan; }

DicomDerivation Converter::dicomDerivation(const fs::path& input, const std::string& dicomSeries) const {
  DicomDerivation d;
  std::error_code ec;
  if (fs::is_directory(input, ec)) {
    d.source = readDicomSourceSeries(input, dicomSeries);
    checkPatientOptionsAgainst(*d.source, options_.dicom);
  }
  const bool sweep = !options_.nfeSweep.empty();
  d.description = "Synthetic CT (HU) predicted from MR " +
                  (d.source ? "series " + d.source->seriesInstanceUid : "file " + input.filename().string()) +
                  " by mr2ct " + MR2CT_VERSION + " (flow matching; model " +
                  fs::absolute(options_.model).lexically_normal().filename().string() + ", " +
                  (sweep ? std::string("euler sweep") : solverMethodName(options_.solver.method)) +
                  "); on the MR's grid; not for diagnosis;";
  if (!d.source && options_.dicom.patientId.empty() && options_.dicom.patientName.empty())
    spdlog::warn("{}: not a DICOM series and no --patient-id/--patient-name: the sCT series gets empty PatientID "
                 "and PatientName (a new study); give them so a PACS or TPS files it under the right patient",
                 input.string());
  return d;
}
InferencePrecision Converter::precision() const { return impl_->precision; }

ConvertReport Converter::convert(const fs::path& input, const fs::path& output) const {
  return convert(input, output, options_.dicomSeries);
}

namespace {

/// One input, read and prepared for the network, with what its outputs need of the input.
struct PreparedInput {
  Geometry inputGrid;    // the input's own grid: every output is written on it
  Geometry grid;         // the prepared grid the network integrates on
  Mask mask;             // body mask on `grid`
  Volume normalized;     // the network's x0
  VolumeInfo inputInfo;  // the input's header: a NIfTI output carries its codes and matrices
  bool sameGrid() const { return grid.sameAs(inputGrid, 1e-9); }
};

/// The report's outputs: the target, or one per sweep NFE; with --samples also the std map.
void nameOutputs(const ConvertOptions& o, const fs::path& target, bool dicom, ConvertReport& report) {
  if (!o.nfeSweep.empty()) {
    for (int n : o.nfeSweep) report.outputs.push_back(sweepOutputPath(target, n));
    return;
  }
  report.outputs = {target};
  if (o.samples > 1) report.uncertaintyOutput = uncertaintyOutputPath(target);
  // An older run's std map beside the new sCT would be read as this sCT's by `evaluate`; it is
  // the user's file, so it is named, not removed.
  if (std::error_code ec; o.samples == 1 && !dicom && fs::exists(uncertaintyOutputPath(target), ec))
    spdlog::warn(
        "{}: a standard-deviation map from an earlier --samples run lies beside the output; it does not "
        "belong to this sCT (mr2ct evaluate would read it): remove it or convert with --samples",
        uncertaintyOutputPath(target).string());
}

void checkDicomOutputs(const std::vector<fs::path>& outputs, const fs::path& input, std::uintmax_t bytes,
                       const DicomSeriesOptions& dicom) {
  for (const auto& out : outputs) {
    refuseOverwritingInputs(out, {input});
    prepareOutputFolder(out.parent_path().empty() ? fs::path(".") : out.parent_path(), bytes);
    checkDicomSeriesTarget(out, dicom);
  }
}

void checkFileOutputs(const std::vector<fs::path>& outputs, const fs::path& input, std::uintmax_t bytes) {
  for (const auto& out : outputs) {
    refuseOverwritingInputs(out, {input});
    const auto& exts = writableExtensions();
    if (std::find(exts.begin(), exts.end(), fullExtension(out)) == exts.end())
      throw UsageError(out.string() + ": unsupported output extension '" + fullExtension(out) + "'");
    prepareOutputFile(out, bytes);
  }
}

/// Read (NaN/Inf voxels and unreadable geometry are refused here, naming the file) and prepareMr;
/// `stage` times the read into the report. The raw and intermediate buffers are released on return.
PreparedInput readAndPrepare(const fs::path& input, const ReadOptions& ro, const PreprocessPlan& plan,
                             const std::optional<TypicalityReference>& reference,
                             const std::optional<MrNormalizationRule>& medianMatch, Stopwatch& stage,
                             ConvertReport& report) {
  PreparedInput in;
  const Volume raw = readVolume(input, ro, &in.inputInfo);
  in.inputGrid = raw.geometry();
  in.inputGrid.validate(input.string());
  report.secondsRead = stage.lap();
  PreparedMr prepared = prepareMr(raw, plan, input.string());
  if (reference) report.inputCheck = checkInput(*reference, prepared, input);  // on the MR as given
  if (medianMatch) {
    // The gamma method on the percentile-normalized MR: its percentiles are the map's ±1, so this
    // is the percentile map of the input followed by the one gamma (Normalization.h).
    MrNormalizationRecord record;
    prepared.normalized = normalizeMr(prepared.normalized, prepared.mask, *medianMatch, &record, input.string());
    report.medianMatchGamma = record.gamma;
  }
  in.grid = prepared.mr.geometry();
  in.mask = std::move(prepared.mask);
  in.normalized = std::move(prepared.normalized);
  return in;
}

/// --samples K > 1: Welford's running mean and M2 over the samples, each clamped to the CT range
/// first (as the written sCT is): three volumes in memory whatever K. x = {mean, std}.
IntegrationResult integrateSamples(const VolumeIntegrator& integrator, const ConvertOptions& o,
                                   const torch::Tensor& x0) {
  IntegrationResult integrated;
  torch::Tensor mean, m2;
  int evaluations = 0, batches = 0;
  for (int k = 0; k < o.samples; ++k) {
    VolumeIntegrator sample = integrator.withNoiseSeed(o.seed + std::uint64_t(k));
    const auto overall = integrator.progress;
    const std::size_t K = std::size_t(o.samples), done = std::size_t(k);
    sample.progress = [overall, K, done](std::size_t d, std::size_t total) { overall(done * total + d, K * total); };
    IntegrationResult r = sample.integrate(x0);
    const torch::Tensor x = r.x[0].clamp(-1.0, 1.0);
    if (k == 0) {
      mean = x.clone();
      m2 = torch::zeros_like(x);
      evaluations = r.totalEvaluations;  // per trajectory, as for one sample
      batches = r.batches;
      integrated.nfe = r.nfe;
    } else {
      const torch::Tensor delta = x - mean;
      mean.add_(delta, 1.0 / double(k + 1));
      m2.add_(delta * (x - mean));
    }
  }
  integrated.x = {mean, (m2 / double(o.samples - 1)).sqrt_()};
  integrated.totalEvaluations = evaluations;
  integrated.batches = batches;
  return integrated;
}

/// The sweep, one solve, or the samples, with a progress bar named after the input.
IntegrationResult integrateCase(VolumeIntegrator& integrator, const ConvertOptions& o, const Volume& normalized,
                                const fs::path& input) {
  IntegrationResult integrated;
  const torch::Tensor x0 = asTensor(normalized);
  std::unique_ptr<ProgressBar> bar;  // sized on the first report (slice batches or 3D evaluations)
  integrator.progress = [&](std::size_t done, std::size_t total) {
    if (!bar) bar = std::make_unique<ProgressBar>("convert " + input.filename().string(), total);
    bar->advance(1, std::to_string(done) + "/" + std::to_string(total));
  };
  // The callback captures this frame: unhook it on every way out, a throwing solve included.
  struct Unhook {
    VolumeIntegrator& integrator;
    ~Unhook() { integrator.progress = nullptr; }
  } unhook{integrator};
  if (!o.nfeSweep.empty())
    integrated = integrator.integrateSweep(x0, o.nfeSweep);
  else if (o.samples == 1)
    integrated = integrator.integrate(x0);
  else
    integrated = integrateSamples(integrator, o, x0);
  if (bar) bar->finish();
  return integrated;
}

/// Back to HU on the input grid, one output at a time (bounded memory).
void writeSct(const ConvertOptions& o, const CtNormalization& ct, const PreparedInput& in,
              const DicomDerivation& derivation, IntegrationResult& integrated, const ConvertReport& report) {
  const bool sameGrid = in.sameGrid();
  for (std::size_t i = 0; i < report.outputs.size(); ++i) {
    Volume hu = volumeFromTensor(integrated.x[i], in.grid);
    integrated.x[i] = torch::Tensor();
    float* p = hu.data();
    const std::uint8_t* m = in.mask.data();
    for (std::size_t v = 0; v < hu.voxelCount(); ++v) {
      const float unit = std::clamp(p[v], -1.0f, 1.0f);
      p[v] = (o.maskOutside && !m[v]) ? o.outsideHu : ct.toHu(unit);
    }
    if (!sameGrid)
      hu = resampleVolume(hu, in.inputGrid, SpatialTransform::identity(), Interpolation::Linear,
                          o.maskOutside ? o.outsideHu : float(ct.minHu));
    hu.setGeometry(in.inputGrid);  // bit-exact origin/spacing/direction of the input
    if (o.outputFormat == OutputFormat::DicomSeries) {
      DicomDerivation d = derivation;
      d.description += " NFE " + std::to_string(report.nfe[i]) + ".";
      writeDicomCtSeries(hu, report.outputs[i], o.dicom, d);
      continue;
    }
    WriteOptions wo;
    wo.pixelType = o.pixelType;
    wo.nifti = in.inputInfo.nifti;
    writeVolume(hu, report.outputs[i], wo);
  }
}

/// The std of the samples in HU (the map is linear, so std scales by the HU span / 2); 0 where
/// the sCT is the constant outside value. Always float32: a fraction of a HU matters here.
/// Returns the mean std inside the body mask.
double writeUncertainty(const ConvertOptions& o, const CtNormalization& ct, const PreparedInput& in,
                        torch::Tensor& stdTensor, const fs::path& output) {
  Volume sd = volumeFromTensor(stdTensor, in.grid);
  stdTensor = torch::Tensor();
  const double scale = 0.5 * (ct.maxHu - ct.minHu);
  float* p = sd.data();
  const std::uint8_t* m = in.mask.data();
  double sum = 0;
  std::size_t inBody = 0;
  for (std::size_t v = 0; v < sd.voxelCount(); ++v) {
    p[v] = float(double(p[v]) * scale);
    if (m[v]) {
      sum += p[v];
      ++inBody;
    } else if (o.maskOutside) {
      p[v] = 0.0f;
    }
  }
  if (!in.sameGrid()) sd = resampleVolume(sd, in.inputGrid, SpatialTransform::identity(), Interpolation::Linear, 0.0f);
  sd.setGeometry(in.inputGrid);
  WriteOptions wo;
  wo.pixelType = PixelType::Float32;
  wo.nifti = in.inputInfo.nifti;
  writeVolume(sd, output, wo);
  return inBody ? sum / double(inBody) : 0.0;
}

}  // namespace

ConvertReport Converter::convert(const fs::path& input, const fs::path& output, const std::string& dicomSeries) const {
  const Stopwatch wholeCase;
  ConvertReport report;
  report.input = input;
  report.precision = impl_->precision;
  // Every output is checked before any work: not the input, extension writable, folder created and
  // writable, space for the uncompressed voxels.
  const bool dicom = options_.outputFormat == OutputFormat::DicomSeries;
  const fs::path target = dicom ? seriesFolderPath(output) : output;  // "sct/" is the folder "sct"
  report.samples = options_.samples;
  if (options_.samples > 1) report.sampler = impl_->integrator->options().bridgeSigma > 0.0 ? "bridge" : "noise-start";
  nameOutputs(options_, target, dicom, report);
  ReadOptions ro;
  ro.dicomSeries = dicomSeries;
  const VolumeInfo header = readVolumeInfo(input, ro);
  const std::uintmax_t bytes =
      header.geometry.voxelCount() * (options_.pixelType == PixelType::Int16 ? 2u : 4u);
  DicomDerivation derivation;
  if (dicom) {
    checkDicomOutputs(report.outputs, input, bytes, options_.dicom);
    derivation = dicomDerivation(input, dicomSeries);
  } else {
    checkFileOutputs(report.outputs, input, bytes);
  }
  if (!report.uncertaintyOutput.empty()) {
    refuseOverwritingInputs(report.uncertaintyOutput, {input});
    prepareOutputFile(report.uncertaintyOutput, header.geometry.voxelCount() * 4u);
  }

  Stopwatch stage;
  PreparedInput in = readAndPrepare(input, ro, impl_->plan, impl_->inputReference, impl_->medianMatch, stage, report);
  report.secondsPreprocess = stage.seconds();
  report.slices = in.grid.size[2];

  stage.restart();
  IntegrationResult integrated = integrateCase(*impl_->integrator, options_, in.normalized, input);
  in.normalized = Volume();
  report.secondsIntegrate = stage.seconds();
  report.nfe = integrated.nfe;
  report.evaluations = integrated.batches > 0 ? integrated.totalEvaluations / integrated.batches : 0;

  stage.restart();
  const CtNormalization& ct = impl_->plan.ctNormalization;
  writeSct(options_, ct, in, derivation, integrated, report);
  if (report.samples > 1)
    report.meanStdHu = writeUncertainty(options_, ct, in, integrated.x[1], report.uncertaintyOutput);
  report.secondsWrite = stage.seconds();
  report.secondsTotal = wholeCase.seconds();
  return report;
}

}  // namespace mr2ct
