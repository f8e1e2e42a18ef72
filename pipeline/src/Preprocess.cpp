// The preprocessing batch: cases in parallel (a worker pool pulling case indices), each case's
// failure caught and reported, the store written under a temporary name and renamed at the end.
#include "mr2ct/pipeline/Preprocess.h"

#include <itkMultiThreaderBase.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cmath>
#include <mutex>
#include <sstream>
#include <thread>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/core/Stopwatch.h"
#include "mr2ct/core/Text.h"
#include "mr2ct/core/OutputGuard.h"
#include "mr2ct/core/Log.h"
#include "mr2ct/core/Progress.h"
#include "mr2ct/pipeline/Shard.h"
#include "mr2ct/preprocessing/QaImage.h"
#include "mr2ct/preprocessing/Resampling.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace fs = std::filesystem;

namespace mr2ct {

void PreprocessOptions::validate() const {
  if (manifest.empty()) throw OptionError("preprocess: {manifest} is required");
  if (out.empty()) throw OptionError("preprocess: {out} is required");
  if (fullExtension(out) != ".h5" && fullExtension(out) != ".hdf5")
    throw OptionError("preprocess: {out} must end in .h5 (got " + out.string() + ")");
  if (jobs < 1 || jobs > 256) throw OptionError("preprocess: {jobs} must be in [1, 256]");
  if (shardCount < 1 || shardIndex < 0 || shardIndex >= shardCount)
    throw OptionError("preprocess: {shard} must be i/N with 0 <= i < N");
  if (registration.kind != RegistrationKind::None) registration.validate();
  try {
    plan.validate();
  } catch (const UsageError& e) {
    throw UsageError(std::string("preprocess: ") + e.what());
  }
}

fs::path PreprocessOptions::storePath() const {
  return withSuffixBeforeExtension(out, shardSuffix(shardIndex, shardCount));
}

nlohmann::json PreprocessOptions::toJson() const {
  nlohmann::json j = plan.toJson();
  j["registration"] = registration.kind == RegistrationKind::None ? nlohmann::json{{"kind", "none"}} : registration.toJson();
  j["registration"]["kind"] = toString(registration.kind);
  j["ct_outside_hu"] = ctOutsideHu;
  return j;
}

std::size_t PreprocessSummary::count(const std::string& status) const {
  std::size_t n = 0;
  for (const auto& c : cases) n += c.status == status;
  return n;
}

int PreprocessSummary::exitCode() const { return count("failed") || count("interrupted") ? 3 : 0; }

namespace {

// Ctrl-C / SIGTERM: stop taking new cases, finish the running ones and commit the store, so that
// --resume starts from everything finished. A second signal kills at once (default handler).
std::atomic<bool> gStopRequested{false};
extern "C" void onStopSignal(int sig) {
  gStopRequested = true;
  std::signal(sig, SIG_DFL);
}

class StopSignalScope {
 public:
  StopSignalScope() {
    gStopRequested = false;
    oldInt_ = std::signal(SIGINT, onStopSignal);
    oldTerm_ = std::signal(SIGTERM, onStopSignal);
  }
  ~StopSignalScope() {
    std::signal(SIGINT, oldInt_ == SIG_ERR ? SIG_DFL : oldInt_);
    std::signal(SIGTERM, oldTerm_ == SIG_ERR ? SIG_DFL : oldTerm_);
  }

 private:
  void (*oldInt_)(int);
  void (*oldTerm_)(int);
};

}  // namespace

namespace {

/// The case's CT in LPS (when planned) and its range as read.
struct CaseCt {
  Volume lps;
  Volume::Range range;
};

/// CT: HU sanity first (an offset CT would silently train the wrong mapping).
CaseCt readCaseCt(const ManifestCase& c, const PreprocessOptions& o, std::vector<std::string>& warnings) {
  ReadOptions ctRead;
  ctRead.dicomSeries = c.ctSeries;
  const Volume ctRaw = readVolume(c.ct, ctRead);
  const auto ctRange = ctRaw.range();
  if (ctRange.min >= 0)
    throw DataError(c.ct.string(), "CT has no value below 0 HU (range " + std::to_string(ctRange.min) + " .. " +
                                       std::to_string(ctRange.max) +
                                       "): not in HU? (missing rescale intercept, e.g. stored +1024)");
  if (ctRange.min > -500)
    warnings.push_back("CT minimum is " + std::to_string(ctRange.min) + " HU: no air in the field of view?");
  return {o.plan.reorientToLps ? reorientToLps(ctRaw) : ctRaw, ctRange};
}

/// MR: prepared exactly as conversion prepares it (PreprocessPlan.h), with the manifest's mask
/// when it gives one. `sourceGeometry` receives the MR's grid as read.
PreparedMr prepareCaseMr(const ManifestCase& c, const PreprocessOptions& o, Geometry& sourceGeometry) {
  ReadOptions mrRead;
  mrRead.dicomSeries = c.mrSeries;
  const Volume mrRaw = readVolume(c.mr, mrRead);
  sourceGeometry = mrRaw.geometry();
  std::optional<Mask> givenMask;
  if (c.hasMask()) {
    givenMask = readMask(c.mask);
    if (givenMask->count() == 0) throw DataError(c.mask.string(), "the mask is empty");
  }
  return prepareMr(mrRaw, o.plan, c.mr.string(), givenMask ? &*givenMask : nullptr);
}

/// Registration of the CT to the MR: sets r.transform (and its warnings); returns the record.
nlohmann::json registerCtToMr(const Volume& mr, const Volume& ctLps, const PreprocessOptions& o, PreprocessedCase& r) {
  nlohmann::json regJson;
  if (o.registration.kind == RegistrationKind::None) {
    r.transform = SpatialTransform::identity();
    regJson = {{"kind", "none"}};
  } else {
    const RegistrationResult reg = registerImages(mr, ctLps, o.registration, &r.mask);
    r.transform = reg.transform;
    regJson = reg.qa.toJson();
    regJson["kind"] = toString(o.registration.kind);
    for (const auto& w : reg.qa.warnings) r.warnings.push_back("registration: " + w);
  }
  if (r.transform.isLinear()) {
    regJson["matrix"] = r.transform.matrix();
    regJson["offset"] = r.transform.offset();
  }
  regJson["transform_kind"] = r.transform.kind();
  return regJson;
}

/// The fraction of the body mask the registered CT covers; none at all is an error.
double checkCtCoverage(const ManifestCase& c, PreprocessedCase& r) {
  std::size_t inMask = 0, validInMask = 0;
  for (std::size_t i = 0; i < r.mask.voxelCount(); ++i)
    if (r.mask.data()[i]) {
      ++inMask;
      validInMask += r.valid.data()[i] != 0;
    }
  const double validFraction = inMask ? double(validInMask) / double(inMask) : 0.0;
  if (validInMask == 0) throw DataError(c.id, "the registered CT does not overlap the body mask at all");
  if (validFraction < 0.9)
    r.warnings.push_back("the CT covers only " + std::to_string(int(std::lround(validFraction * 100))) +
                         " % of the body mask");
  return validFraction;
}

}  // namespace

PreprocessedCase preprocessCase(const ManifestCase& c, const PreprocessOptions& o) {
  const Stopwatch total;
  PreprocessedCase r;
  nlohmann::json timings;
  if (!c.hasCt()) throw DataError(c.id, "no CT in the manifest: nothing to train on");
  const CaseCt ct = readCaseCt(c, o, r.warnings);

  // The MR's grid defines the stored space.
  Stopwatch stage;
  Geometry sourceMrGeometry;
  PreparedMr prepared = prepareCaseMr(c, o, sourceMrGeometry);
  const Volume& mr = prepared.mr;
  const Geometry grid = mr.geometry();
  r.mask = prepared.mask;
  if (r.mask.count() == 0) throw DataError(c.mask.string(), "the mask is empty on the MR's grid");
  const std::string maskSource = c.hasMask() ? "manifest" : "mr";
  timings["mr_preparation"] = stage.seconds();

  stage.restart();
  const nlohmann::json regJson = registerCtToMr(mr, ct.lps, o, r);
  timings["registration"] = stage.seconds();

  stage.restart();
  r.ctHu = resampleVolume(ct.lps, grid, r.transform, Interpolation::Linear, o.ctOutsideHu);
  r.valid = fieldOfViewMask(ct.lps.geometry(), grid, r.transform);
  timings["resample"] = stage.seconds();
  const double validFraction = checkCtCoverage(c, r);

  // MR intensities were normalized by prepareMr (N4 first when planned).
  const nlohmann::json n4Json = prepared.biasField ? prepared.biasField->toJson() : nlohmann::json(false);
  if (prepared.biasField) timings["n4"] = prepared.biasField->seconds;
  const MrNormalizationRecord& mrRec = prepared.normalization;
  r.mr = prepared.normalized;
  r.ct = o.plan.ctNormalization.apply(r.ctHu);

  const double voxelMl = grid.spacing[0] * grid.spacing[1] * grid.spacing[2] / 1000.0;
  r.info.id = c.id;
  r.info.split = c.split;
  r.info.geometry = grid;
  r.info.attributes = {
      {"source", {{"mr", c.mr.generic_string()}, {"ct", c.ct.generic_string()}, {"mask", c.mask.generic_string()}}},
      {"source_mr_geometry", geometryToJson(sourceMrGeometry)},
      {"mr_normalization", mrRec.toJson()},
      {"ct_normalization", o.plan.ctNormalization.toJson()},
      {"registration", regJson},
      {"n4", n4Json},
      {"body_mask",
       {{"source", maskSource}, {"voxels", r.mask.count()}, {"volume_ml", double(r.mask.count()) * voxelMl}}},
      {"qa",
       {{"ct_valid_fraction_in_mask", validFraction},
        {"ct_range_hu", {ct.range.min, ct.range.max}},
        {"warnings", r.warnings},
        {"timings_s", timings},
        {"seconds", total.seconds()}}}};
  return r;
}

namespace {

std::string num(const nlohmann::json& j) {
  if (j.is_number()) {
    std::ostringstream s;
    s.precision(6);
    s << j.get<double>();
    return s.str();
  }
  return "";
}

nlohmann::json at(const nlohmann::json& j, std::initializer_list<const char*> keys) {
  const nlohmann::json* p = &j;
  for (const char* k : keys) {
    if (!p->is_object() || !p->contains(k)) return nullptr;
    p = &(*p)[k];
  }
  return *p;
}

/// Figures for qa.csv from a case's stored attributes.
nlohmann::json qaFigures(const nlohmann::json& a) {
  return {{"mask_voxels", at(a, {"body_mask", "voxels"})},
          {"mask_ml", at(a, {"body_mask", "volume_ml"})},
          {"ct_valid_fraction", at(a, {"qa", "ct_valid_fraction_in_mask"})},
          {"registration", at(a, {"registration", "kind"})},
          {"final_metric", at(a, {"registration", "final_metric"})},
          {"iterations", at(a, {"registration", "iterations_per_level"})},
          {"registration_s", at(a, {"registration", "seconds"})},
          {"displacement_mm", at(a, {"registration", "mean_displacement_mm"})},
          {"initialisation", at(a, {"registration", "initialisation"})},
          {"mr_low", at(a, {"mr_normalization", "low"})},
          {"mr_high", at(a, {"mr_normalization", "high"})}};
}

}  // namespace

std::string qaCsv(const PreprocessSummary& s) {
  std::ostringstream o;
  o << "id,split,status,seconds,mask_voxels,mask_ml,ct_valid_fraction,registration,final_metric,iterations,"
       "registration_s,displacement_mm,initialisation,mr_low,mr_high,warnings,error\n";
  for (const auto& c : s.cases) {
    const auto& q = c.qa;
    std::string its, warn;
    if (q.contains("iterations") && q["iterations"].is_array())
      for (const auto& i : q["iterations"]) its += (its.empty() ? "" : " ") + i.dump();
    for (const auto& w : c.warnings) warn += (warn.empty() ? "" : "; ") + w;
    auto str = [&](const char* k) { return q.contains(k) && q[k].is_string() ? q[k].get<std::string>() : std::string(); };
    auto n = [&](const char* k) { return q.contains(k) ? num(q[k]) : std::string(); };
    o << csvField(c.id) << "," << c.split << "," << c.status << "," << num(c.seconds) << "," << n("mask_voxels") << ","
      << n("mask_ml") << "," << n("ct_valid_fraction") << "," << str("registration") << "," << n("final_metric") << ","
      << its << "," << n("registration_s") << "," << n("displacement_mm") << "," << csvField(str("initialisation"))
      << "," << n("mr_low") << "," << n("mr_high") << "," << csvField(warn) << "," << csvField(c.error) << "\n";
  }
  return o.str();
}

namespace {

/// --shard i/N: keeps this shard's cases; returns the store's "manifest" record.
nlohmann::json takeShard(Manifest& manifest, const PreprocessOptions& o) {
  nlohmann::json manifestRecord{{"file", o.manifest.generic_string()}, {"cases", manifest.cases.size()}};
  if (o.shardCount > 1) {
    std::vector<ManifestCase> mine;
    for (std::size_t p : shardPositions(manifest.cases.size(), o.shardIndex, o.shardCount))
      mine.push_back(manifest.cases[p]);
    manifest.cases = std::move(mine);
    manifestRecord["shard"] = {{"index", o.shardIndex}, {"count", o.shardCount}};
    spdlog::info("shard {}/{}: {} case(s) of the manifest's {}", o.shardIndex, o.shardCount, manifest.cases.size(),
                 manifestRecord["cases"].get<std::size_t>());
  }
  return manifestRecord;
}

/// --resume: copies the old store's cases that the manifest still lists (same split) into the
/// writer and marks them "kept"; the old store must have been made with the same options.
void keepFinishedCases(const fs::path& store, const nlohmann::json& optionsJson, const Manifest& manifest,
                       TrainingStoreWriter& writer, PreprocessSummary& summary) {
  const TrainingStore old = TrainingStore::open(store);
  const auto oldOptions = old.rootAttributes().value("preprocessing_options", nlohmann::json());
  if (oldOptions != optionsJson)
    throw OptionError("preprocess {resume}: " + store.string() +
                     " was made with different preprocessing options; remove it or run without {resume}\n  store:   " +
                     oldOptions.dump() + "\n  now:     " + optionsJson.dump());
  std::vector<std::string> keep;
  const std::vector<std::string> oldIds = old.caseIds();
  for (const auto& c : manifest.cases)
    if (std::find(oldIds.begin(), oldIds.end(), c.id) != oldIds.end() && old.info(c.id).split == c.split)
      keep.push_back(c.id);
  writer.copyCasesFrom(store, keep);
  for (auto& rep : summary.cases)
    if (writer.hasCase(rep.id)) {
      rep.status = "kept";
      rep.qa = qaFigures(old.info(rep.id).attributes);
    }
  spdlog::info("resume: kept {} finished case(s) of {}", keep.size(), store.string());
}

/// The positions of the cases to preprocess: not kept, and with a CT (the others are "skipped").
std::vector<std::size_t> casesToRun(const Manifest& manifest, PreprocessSummary& summary) {
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < manifest.cases.size(); ++i) {
    if (summary.cases[i].status == "kept") continue;
    if (!manifest.cases[i].hasCt()) {
      summary.cases[i].status = "skipped";
      summary.cases[i].warnings.push_back("no CT in the manifest (conversion-only case)");
      continue;
    }
    todo.push_back(i);
  }
  return todo;
}

/// One case into the store (and its QA picture and transform); a failure is reported in `rep`.
void preprocessOne(const ManifestCase& c, const PreprocessOptions& o, TrainingStoreWriter& writer, CaseReport& rep,
                   std::mutex& reportMutex) {
  const Stopwatch watch;
  try {
    PreprocessedCase p = preprocessCase(c, o);
    rep.warnings = p.warnings;
    if (!o.qaDir.empty()) {
      writeRegistrationQaPng(p.mr, p.ctHu, &p.mask, o.qaDir / (c.id + "_qa.png"));
      p.transform.save(o.qaDir / (c.id + ".tfm"));
    }
    writer.writeCase(p.info, p.mr, p.ct, p.mask, p.valid);
    rep.qa = qaFigures(p.info.attributes);
    rep.status = "ok";
  } catch (const std::exception& e) {
    rep.status = "failed";
    rep.error = e.what();
    std::lock_guard<std::mutex> lock(reportMutex);
    spdlog::error("case {}: {}", c.id, e.what());
  }
  rep.seconds = watch.seconds();
  for (const auto& w : rep.warnings) {
    std::lock_guard<std::mutex> lock(reportMutex);
    spdlog::warn("case {}: {}", c.id, w);
  }
}

/// The cases at `todo`, `jobs` at a time (a worker pool pulling positions) until done or a stop
/// signal.
void runCases(const Manifest& manifest, const std::vector<std::size_t>& todo, int jobs, const PreprocessOptions& o,
              TrainingStoreWriter& writer, PreprocessSummary& summary) {
  ProgressBar bar("preprocess", todo.size());
  std::atomic<std::size_t> next{0};
  std::mutex reportMutex;
  auto worker = [&] {
    for (;;) {
      if (gStopRequested) return;
      const std::size_t k = next.fetch_add(1);
      if (k >= todo.size()) return;
      const ManifestCase& c = manifest.cases[todo[k]];
      CaseReport& rep = summary.cases[todo[k]];
      preprocessOne(c, o, writer, rep, reportMutex);
      bar.advance(1, c.id + " " + rep.status);
    }
  };
  std::vector<std::thread> pool;
  for (int j = 1; j < jobs; ++j) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  bar.finish();
}

/// --mr-norm nyul or gamma, not yet fitted: fits the standard (the nyul scale, the gamma median
/// position) on the manifest's training MRs (split train, with a CT), each prepared as the plan
/// prepares it. Every shard reads all of them, so the shards of one store agree, and the val and
/// test MRs never shape it.
PreprocessOptions withFittedMrStandard(const PreprocessOptions& given, const Manifest& manifest) {
  PreprocessOptions o = given;
  MrNormalizationRule& rule = o.plan.mrNormalization;
  const bool nyul = rule.method == "nyul" && rule.standardScale.empty();
  const bool gamma = rule.method == "gamma" && std::isnan(rule.medianPosition);
  if (!nyul && !gamma) return o;
  PreprocessOptions percentileOnly = given;
  percentileOnly.plan.mrNormalization = MrNormalizationRule{};  // affine: landmarks and positions keep their shape
  percentileOnly.plan.mrNormalization.lowPercentile = rule.lowPercentile;
  percentileOnly.plan.mrNormalization.highPercentile = rule.highPercentile;
  std::vector<std::vector<double>> landmarks;
  std::vector<double> positions;
  for (const auto& c : manifest.cases) {
    if (c.split != "train" || !c.hasCt()) continue;
    try {
      Geometry sourceGeometry;
      const PreparedMr p = prepareCaseMr(c, percentileOnly, sourceGeometry);
      if (nyul) landmarks.push_back(nyulLandmarks(p.normalized, p.mask, rule, c.mr.string()));
      if (gamma) positions.push_back(mrMedianPosition(p.normalized, p.mask, rule, c.mr.string()));
    } catch (const std::exception& e) {
      spdlog::warn("case {}: left out of the {} standard: {}", c.id, rule.method, e.what());
    }
  }
  if (landmarks.empty() && positions.empty())
    throw DataError(given.manifest.string(),
                    "--mr-norm " + rule.method +
                        " fits its standard on the training MRs, and the manifest has no readable one (split train, "
                        "with a CT)");
  if (nyul) {
    rule.standardScale = fitNyulStandardScale(landmarks);
    spdlog::info("nyul standard scale from {} training MR(s): {}", landmarks.size(),
                 nlohmann::json(rule.standardScale).dump());
  } else {
    rule.medianPosition = fitMedianPosition(positions);
    spdlog::info("gamma standard from {} training MR(s): median at {:.4f} of p{}..p{}", positions.size(),
                 rule.medianPosition, rule.lowPercentile, rule.highPercentile);
  }
  return o;
}

}  // namespace

PreprocessSummary runPreprocess(const PreprocessOptions& given) {
  given.validate();
  Manifest manifest = readManifest(given.manifest, given.manifestOptions);
  const fs::path store = given.storePath();
  std::vector<fs::path> inputs{given.manifest};
  for (const auto& c : manifest.cases) inputs.insert(inputs.end(), {c.mr, c.ct, c.mask});
  refuseOverwritingInputs(store, inputs);
  const PreprocessOptions o = withFittedMrStandard(given, manifest);
  prepareOutputFile(store);
  if (!o.qaDir.empty()) prepareOutputFolder(o.qaDir);
  const nlohmann::json optionsJson = o.toJson();
  const nlohmann::json manifestRecord = takeShard(manifest, o);
  nlohmann::json root{{"preprocessing_options", optionsJson},
                      {"manifest", manifestRecord},
                      {"tool_version", std::string(MR2CT_VERSION)}};

  PreprocessSummary summary;
  summary.cases.resize(manifest.cases.size());
  for (std::size_t i = 0; i < manifest.cases.size(); ++i) {
    summary.cases[i].id = manifest.cases[i].id;
    summary.cases[i].split = manifest.cases[i].split;
  }

  TrainingStoreWriter writer(store, root);
  if (o.resume && fs::exists(store)) keepFinishedCases(store, optionsJson, manifest, writer, summary);
  const std::vector<std::size_t> todo = casesToRun(manifest, summary);

  const int jobs = std::max(1, std::min<int>(o.jobs, int(todo.size())));
  if (jobs > 1) {
    // ITK's own threads share the cores between the parallel cases.
    const unsigned cores = std::max(1u, itk::MultiThreaderBase::GetGlobalDefaultNumberOfThreads());
    itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(std::max(1u, cores / unsigned(jobs)));
  }
  StopSignalScope stopScope;  // held until the store is committed: a first signal never cuts the commit
  runCases(manifest, todo, jobs, o, writer, summary);
  for (std::size_t i : todo)
    if (summary.cases[i].status.empty()) {
      summary.cases[i].status = "interrupted";
      summary.cases[i].error = "not processed: the run was interrupted (run again with --resume)";
    }
  if (gStopRequested) spdlog::warn("interrupted: storing the finished cases; run again with --resume for the rest");

  writer.commit();
  if (!o.qaDir.empty())
    writeTextAtomically(o.qaDir / ("qa" + shardSuffix(o.shardIndex, o.shardCount) + ".csv"), qaCsv(summary));
  return summary;
}

}  // namespace mr2ct
