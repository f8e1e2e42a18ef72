// log p(CT | MR) of files under a model folder (see Likelihood.h).
#include "mr2ct/pipeline/Likelihood.h"

#include <chrono>
#include <cmath>
#include <iomanip>
#include <memory>
#include <sstream>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/core/Stopwatch.h"
#include "mr2ct/core/Text.h"
#include "mr2ct/core/OutputGuard.h"
#include "mr2ct/core/Progress.h"
#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/models/Runtime.h"
#include "mr2ct/pipeline/Converter.h"
#include "mr2ct/pipeline/Manifest.h"
#include "mr2ct/pipeline/TensorBridge.h"
#include "mr2ct/preprocessing/PreprocessPlan.h"
#include "mr2ct/preprocessing/BodyMask.h"
#include "mr2ct/preprocessing/Resampling.h"
#include "mr2ct/preprocessing/SpatialTransform.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace mr2ct {

namespace fs = std::filesystem;

void LikelihoodCommandOptions::validate() const {
  if (model.empty()) throw OptionError("{model} is required");
  if (batch < 1) throw OptionError("{batch} must be at least 1 (got " + std::to_string(batch) + ")");
  if (!(geometryTolerance >= 0)) throw OptionError("{geometryTolerance} must not be negative");
  likelihood.validate();
}

nlohmann::json LikelihoodCommandOptions::toJson() const {
  nlohmann::json j{{"model", model.string()}, {"device", device}, {"batch", batch}, {"likelihood", likelihood.toJson()},
                   {"geometry_tolerance", geometryTolerance}};
  if (!ctTransform.empty()) j["ct_transform"] = ctTransform.string();
  return j;
}

nlohmann::json LikelihoodReport::toJson() const {
  nlohmann::json j = result.toJson();
  j["mr"] = mr.string();
  j["ct"] = ct.string();
  j["bits_per_voxel_hu"] = bitsPerVoxelHu;
  j["seconds"] = seconds;
  return j;
}

struct LikelihoodScorer::Impl {
  LoadedModel model;
  PreprocessPlan plan;
  VolumeLikelihoodOptions volume;
  std::unique_ptr<SpatialTransform> ctTransform;
};

LikelihoodScorer::LikelihoodScorer(LikelihoodCommandOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  options_.validate();
  const torch::Device device = parseDevice(options_.device);
  if (!fs::is_directory(options_.model)) throw IoError(options_.model.string(), "model folder not found");
  const ModelConfig config = loadModelConfig(options_.model);
  const std::string cfgFile = modelConfigPath(options_.model).string();
  VolumeLikelihoodOptions& v = impl_->volume;
  v.dims = config.network.dims();
  v.contextSlices = config.network.neighbours;
  v.batchSize = options_.batch;
  v.sizeMultiple = config.network.unetOptions().sizeMultiple();
  v.device = device;
  v.source = config.flow.source;
  v.sigma = config.flow.sigma;
  v.likelihood = options_.likelihood;
  try {
    v.validate();  // σ = 0 and 3D are refused here, before the weights are read
  } catch (const DataError& e) {
    throw DataError(cfgFile, std::string(e.what()).substr(std::string("likelihood: ").size()));
  }
  impl_->plan = PreprocessPlan::fromJson(config.preprocessing, cfgFile);
  impl_->model = loadModel(options_.model, device);
  if (!options_.ctTransform.empty()) impl_->ctTransform = std::make_unique<SpatialTransform>(SpatialTransform::load(options_.ctTransform));
}

LikelihoodScorer::~LikelihoodScorer() = default;

nlohmann::json LikelihoodScorer::modelJson() const {
  return {{"folder", options_.model.string()}, {"source", impl_->volume.source}, {"sigma", impl_->volume.sigma},
          {"dims", impl_->volume.dims}, {"source_density", impl_->volume.toJson()["source_density"]}};
}

LikelihoodReport LikelihoodScorer::score(const fs::path& mrPath, const fs::path& ctPath, bool showProgress,
                                         const std::string& mrSeries, const std::string& ctSeries) const {
  ReadOptions mrRead, ctRead;
  mrRead.dicomSeries = mrSeries;
  ctRead.dicomSeries = ctSeries;
  const Stopwatch watch;
  LikelihoodReport report;
  report.mr = mrPath;
  report.ct = ctPath;
  const PreprocessPlan& plan = impl_->plan;

  // The MR, prepared by the function preprocess and convert call (PreprocessPlan.h).
  Volume normalized;
  Geometry inputGrid, grid;
  {
    const Volume raw = readVolume(mrPath, mrRead);
    inputGrid = raw.geometry();
    inputGrid.validate(mrPath.string());
    PreparedMr prepared = prepareMr(raw, plan, mrPath.string());
    grid = prepared.mr.geometry();
    normalized = std::move(prepared.normalized);
  }

  // The CT on the prepared grid.
  Volume ct = readVolume(ctPath, ctRead);
  const float outside = float(plan.ctNormalization.minHu);
  if (impl_->ctTransform) {
    ct = resampleVolume(ct, grid, *impl_->ctTransform, Interpolation::Linear, outside);
  } else {
    if (!ct.geometry().sameAs(inputGrid, options_.geometryTolerance))
      throw DataError(ctPath.string(), "not on the MR's grid (" + ct.geometry().differenceFrom(inputGrid, options_.geometryTolerance) +
                                           "); resample it onto " + mrPath.string() + " or give --ct-transform");
    ct.setGeometry(inputGrid);
    if (plan.reorientToLps) ct = reorientToLps(ct);
    if (plan.spacing) ct = resampleVolume(ct, grid, SpatialTransform::identity(), Interpolation::Linear, outside);
  }
  const Volume ctUnit = plan.ctNormalization.apply(ct);
  ct = Volume();

  auto network = impl_->model.network;
  const ConditionalVelocityFn velocity = [network](const torch::Tensor& x, const torch::Tensor& t,
                                                   const torch::Tensor& cond) mutable { return network->forward(x, t, cond); };
  std::unique_ptr<ProgressBar> bar;
  LikelihoodProgress progress;
  if (showProgress)
    progress = [&](std::size_t done, std::size_t total) {
      if (!bar) bar = std::make_unique<ProgressBar>("likelihood " + mrPath.filename().string(), total);
      bar->advance(1, std::to_string(done) + "/" + std::to_string(total));
    };
  report.result = volumeLogLikelihood(velocity, asTensor(normalized), asTensor(ctUnit), impl_->volume, progress);
  if (bar) bar->finish();
  const double halfRange = 0.5 * (plan.ctNormalization.maxHu - plan.ctNormalization.minHu);
  report.bitsPerVoxelHu = report.result.bitsPerVoxel + std::log2(halfRange);
  report.seconds = watch.seconds();
  return report;
}

LikelihoodBatchResult runLikelihoodBatch(const LikelihoodBatchOptions& options, std::ostream& err) {
  if (options.out.empty()) throw OptionError("{out} is required with {manifest} (the report CSV)");
  const Manifest manifest = readManifest(options.manifest, options.manifestOptions);
  std::vector<const ManifestCase*> cases;
  for (const auto* c : manifest.split(options.split))
    if (c->hasCt()) cases.push_back(c);
  if (cases.empty())
    throw UsageError("likelihood: no case with a CT in " + manifest.file.string() +
                     (options.split.empty() ? "" : " with split " + options.split));
  std::vector<fs::path> inputs{options.manifest};
  for (const auto* c : cases) {
    inputs.push_back(c->mr);
    inputs.push_back(c->ct);
  }
  refuseOverwritingInputs(options.out, inputs);
  prepareOutputFile(options.out);

  const LikelihoodScorer scorer(options.score);
  std::ostringstream csv;
  csv << "# mr2ct likelihood: " << scorer.modelJson().dump() << " " << options.score.toJson().dump() << "\n";
  csv << "id,split,status,bits_per_voxel,bits_per_voxel_hu,log_density_nats,log_source_nats,divergence_integral,"
         "voxels,rms_x0,nfe,vjps,seconds,error\n";
  csv << std::setprecision(9);
  LikelihoodBatchResult result;
  ProgressBar bar("likelihood", cases.size());
  for (const auto* c : cases) {
    ++result.cases;
    try {
      const LikelihoodReport r = scorer.score(c->mr, c->ct, false, c->mrSeries, c->ctSeries);
      const auto& v = r.result;
      csv << csvMessage(c->id) << "," << csvMessage(c->split) << ",ok," << v.bitsPerVoxel << "," << r.bitsPerVoxelHu << ","
          << v.logDensity << "," << v.logSource << "," << v.divergence << "," << v.voxels << "," << v.rmsX0 << ","
          << v.nfe << "," << v.vjps << "," << r.seconds << ",\n";
      bar.advance(1, c->id + " " + std::to_string(v.bitsPerVoxel) + " bits/voxel");
    } catch (const std::exception& e) {
      ++result.failed;
      err << "failed: " << c->id << ": " << e.what() << "\n";
      csv << csvMessage(c->id) << "," << csvMessage(c->split) << ",failed,,,,,,,,,,," << csvMessage(e.what()) << "\n";
      bar.advance(1, c->id + " failed");
    }
  }
  bar.finish();
  writeTextAtomically(options.out, csv.str());
  return result;
}

}  // namespace mr2ct
