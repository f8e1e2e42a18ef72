#include "mr2ct/pipeline/Experiment.h"

#include <cstdint>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/core/Text.h"
#include "mr2ct/core/Log.h"
#include "ExperimentStage.h"
#include "commands/Commands.h"
#include "mr2ct/pipeline/Command.h"
#include "mr2ct/pipeline/Manifest.h"
#include "mr2ct/preprocessing/BodyMask.h"
#include "mr2ct/preprocessing/Resampling.h"
#include "mr2ct/preprocessing/SpatialTransform.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace fs = std::filesystem;

namespace mr2ct {

namespace {

fs::path marker(const fs::path& work, const std::string& stage) { return work / ".stages" / (stage + ".done"); }

bool stageDone(const fs::path& work, const std::string& stage) { return fs::exists(marker(work, stage)); }

void markDone(const fs::path& work, const std::string& stage, int code) {
  writeTextAtomically(marker(work, stage), nlohmann::json{{"stage", stage}, {"exit_code", code}}.dump() + "\n");
}

/// The stage's options from the experiment file with the manifest options of `run` added.
StageOptions withManifest(StageOptions s, const ExperimentOptions& ex) {
  s["manifest"] = ex.manifest.string();
  if (!ex.manifestOptions.dataRoot.empty()) s["data-root"] = ex.manifestOptions.dataRoot.string();
  if (ex.manifestOptions.allowOutside) s["allow-outside"] = "true";
  return s;
}

nlohmann::json readSummary(const fs::path& p) {
  if (!fs::exists(p)) return nullptr;
  try {
    return nlohmann::json::parse(readTextFile(p));
  } catch (const std::exception&) {
    return nullptr;
  }
}

/// The final table: mean ± std of each metric for the model and the baseline.
std::string resultsTable(const nlohmann::json& model, const nlohmann::json& baseline, nlohmann::json& asJson) {
  static const std::vector<std::pair<std::string, std::string>> kMetrics{
      {"mae", "MAE (HU)"}, {"me", "ME (HU)"},   {"rmse", "RMSE (HU)"}, {"psnr", "PSNR (dB)"},
      {"ssim", "SSIM"},    {"mae_bone", "MAE bone (HU)"}};
  auto cell = [](const nlohmann::json& summary, const std::string& m) -> std::string {
    if (summary.is_null()) return "-";
    const nlohmann::json* metrics = summary.contains("metrics") ? &summary["metrics"] : &summary;
    if (!metrics->contains(m)) return "-";
    const auto& s = (*metrics)[m];
    if (!s.contains("mean") || s["mean"].is_null()) return "-";
    std::ostringstream c;
    c << std::fixed << std::setprecision(m == "ssim" ? 4 : 2) << s["mean"].get<double>();
    if (s.contains("std") && s["std"].is_number()) c << " ± " << s["std"].get<double>();
    return c.str();
  };
  std::ostringstream t;
  t << "| method | cases |";
  for (const auto& m : kMetrics) t << " " << m.second << " |";
  t << "\n|---|---|";
  for (std::size_t i = 0; i < kMetrics.size(); ++i) t << "---|";
  t << "\n";
  auto row = [&](const std::string& name, const nlohmann::json& s) {
    std::string n = "-";
    if (!s.is_null() && s.contains("succeeded") && s["succeeded"].is_number())
      n = std::to_string(s["succeeded"].get<long long>());
    t << "| " << name << " | " << n << " |";
    nlohmann::json r;
    for (const auto& m : kMetrics) {
      const std::string c = cell(s, m.first);
      t << " " << c << " |";
      r[m.first] = c;
    }
    t << "\n";
    asJson[name] = r;
  };
  row("mr2ct (flow matching)", model);
  if (!baseline.is_null()) row("bulk-density baseline", baseline);
  return t.str();
}

/// The reference CT of each evaluated case, registered onto its MR's own grid (where the synthetic
/// CT lives) through the transform preprocess found (<work>/qa/<id>.tfm), and a manifest listing
/// them: metrics compare sCT and CT voxel by voxel, so both must share the MR's grid.
fs::path registeredReferences(const std::vector<const ManifestCase*>& cases, const fs::path& work) {
  const fs::path dir = work / "reference";
  fs::create_directories(dir);
  std::vector<ManifestCase> rows;
  for (const ManifestCase* c : cases) {
    if (!c->hasCt()) continue;
    const fs::path target = dir / (c->id + "_ct.nii.gz");
    const fs::path maskFile = dir / (c->id + "_mask.nii.gz");
    const fs::path tfm = work / "qa" / (c->id + ".tfm");
    if ((!fs::exists(target) || !fs::exists(maskFile)) && fs::exists(tfm)) {
      ReadOptions mrRead, ctRead;
      mrRead.dicomSeries = c->mrSeries;
      ctRead.dicomSeries = c->ctSeries;
      const VolumeInfo mrInfo = readVolumeInfo(c->mr, mrRead);
      const Volume ct = readVolume(c->ct, ctRead);
      const SpatialTransform t = SpatialTransform::load(tfm);
      const Volume onMr = resampleVolume(ct, mrInfo.geometry, t, Interpolation::Linear, -1024.0f);
      // Metrics count only voxels the CT really covers: its field of view on the MR's grid, inside
      // the case's mask (or the registered CT's body mask). Real CTs often cover less than the MR.
      Mask mask = c->hasMask() ? readMask(c->mask) : bodyMaskFromCt(onMr, BodyMaskOptions{}, target.string());
      if (!mask.geometry().sameAs(mrInfo.geometry, 1e-3)) mask = resampleMask(mask, mrInfo.geometry, SpatialTransform::identity());
      const Mask fov = fieldOfViewMask(ct.geometry(), mrInfo.geometry, t);
      std::size_t excluded = 0;
      for (std::size_t i = 0; i < mask.voxelCount(); ++i)
        if (mask.data()[i] && !fov.data()[i]) mask.data()[i] = 0, ++excluded;
      if (excluded > 0)
        spdlog::info("{}: {} mask voxels lie outside the CT's field of view and are not evaluated", c->id, excluded);
      writeMask(mask, maskFile);
      writeVolume(onMr, target, {PixelType::Int16});
    }
    ManifestCase row = *c;
    if (fs::exists(target)) row.ct = target, row.ctSeries.clear();  // else: the case failed in preprocess, evaluate reports it
    if (fs::exists(maskFile)) row.mask = maskFile;
    rows.push_back(row);
  }
  const fs::path manifest = dir / "manifest.csv";
  writeManifestCsv(manifest, rows, dir, {"reference CTs registered onto each MR's grid by mr2ct run"});
  return manifest;
}

}  // namespace

void ExperimentOptions::validate() const {
  if (manifest.empty()) throw OptionError("run: {manifest} is required");
  if (work.empty()) throw OptionError("run: {work} is required");
  if (split != "train" && split != "val" && split != "test")
    throw OptionError("run: {split} must be train, val or test, not '" + split + "'");
}

std::map<std::string, std::map<std::string, std::string>> readExperimentIni(const fs::path& path) {
  std::istringstream in(readTextFile(path));
  std::map<std::string, std::map<std::string, std::string>> out;
  static const std::vector<std::string> kStages{"preprocess", "train", "convert", "evaluate"};
  std::string line, current;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    const std::string where = path.string() + ":" + std::to_string(number);
    if (line.front() == '[') {
      if (line.back() != ']') throw UsageError(where + ": malformed section header '" + line + "'");
      current = trim(line.substr(1, line.size() - 2));
      if (std::find(kStages.begin(), kStages.end(), current) == kStages.end())
        throw UsageError(where + ": unknown section [" + current + "] (use preprocess, train, convert, evaluate)");
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos) throw UsageError(where + ": expected 'key = value', got '" + line + "'");
    if (current.empty()) continue;  // run's own options: parsed by the command line layer
    out[current][trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return out;
}

namespace {

/// One experiment's work folder and what its stages share.
class ExperimentRun {
 public:
  ExperimentRun(const ExperimentOptions& ex, std::ostream& out, std::ostream& err)
      : ex_(ex),
        ini_(ex.config.empty() ? std::map<std::string, StageOptions>{} : readExperimentIni(ex.config)),
        io_{out, err} {
    // Every section checked before anything is written: a typo fails now, not after hours of training.
    for (const char* stage : {"preprocess", "train", "convert", "evaluate"})
      checkStageOptions(stage, section(stage), ex.config);
    fs::create_directories(ex.work / ".stages");
    fs::create_directories(configDir());
  }

  const ExperimentOptions& options() const { return ex_; }
  CommandIO& io() { return io_; }
  int worst() const { return worst_; }
  fs::path configDir() const { return ex_.work / "config"; }
  fs::path store() const { return ex_.work / "store.h5"; }
  fs::path model() const { return ex_.work / "model"; }
  fs::path sct() const { return ex_.work / "sct"; }
  fs::path baseline() const { return ex_.work / "baseline"; }
  fs::path report() const { return ex_.work / "report"; }
  fs::path reportBaseline() const { return ex_.work / "report-baseline"; }

  /// The experiment file's [name] section with the demo's overrides on top.
  StageOptions section(const std::string& name) const {
    StageOptions s;
    if (auto it = ini_.find(name); it != ini_.end()) s = it->second;
    if (auto it = ex_.overrides.find(name); it != ex_.overrides.end())
      for (const auto& [k, v] : it->second) s[k] = v;
    return s;
  }

  /// Runs one stage in-process: its options parsed once by its command's declarations (an
  /// unknown or malformed option is a usage error of `run`), recorded in config/<command>.ini,
  /// then read into the stage's typed options and handed to the library. Returns the stage's exit
  /// code, its errors reported as its command reports them.
  template <typename Stage>
  int run(const std::string& command, const StageOptions& options, const Stage& stage) {
    const po::variables_map values = parseStageOptions(command, options, {ex_.threads, ex_.quiet}, ex_.config);
    writeTextAtomically(configDir() / (command + ".ini"), resolvedStageIni(command, values));
    std::string line;
    for (const auto& [key, value] : options) line += " --" + key + " " + value;
    spdlog::info("stage: mr2ct {}{}", command, line);
    return runReportingErrors([&] { return stage(values); }, io_.err);
  }

  /// Marks a finished stage (a partial one too); false, with the line that says how to go on, when
  /// it failed.
  bool accept(const std::string& stage, int code) {
    if (code == kExitOk || code == kExitPartial) {
      if (code == kExitPartial) worst_ = kExitPartial;
      markDone(ex_.work, stage, code);
      return true;
    }
    io_.err << "mr2ct run: stage '" << stage << "' failed (exit " << code << "); rerun the same command to resume\n";
    return false;
  }

  bool done(const std::string& stage, const fs::path& result) const {
    if (!stageDone(ex_.work, stage)) return false;
    spdlog::info("{}: done earlier ({}), skipped", stage, result.string());
    return true;
  }

 private:
  const ExperimentOptions& ex_;
  std::map<std::string, StageOptions> ini_;
  CommandIO io_;
  int worst_ = kExitOk;
};

bool preprocessStage(ExperimentRun& run) {
  if (run.done("preprocess", run.store())) return true;
  StageOptions o = withManifest(run.section("preprocess"), run.options());
  o["out"] = run.store().string();
  o["qa-dir"] = (run.options().work / "qa").string();
  if (fs::exists(run.store())) o["resume"] = "true";
  return run.accept("preprocess", run.run("preprocess", o, [&](const po::variables_map& v) {
    return runPreprocessStage(preprocessOptionsFrom(v), run.io());
  }));
}

bool trainStage(ExperimentRun& run) {
  if (run.done("train", run.model())) return true;
  StageOptions o = run.section("train");
  o["store"] = run.store().string();
  o["out"] = run.model().string();
  if (fs::exists(run.model() / "train_state.pt")) o["resume"] = "true";
  return run.accept("train", run.run("train", o, [&](const po::variables_map& v) {
    return runTrainStage(trainOptionsFrom(v), run.io());
  }));
}

/// The evaluation split, always resumable: finished cases are kept.
bool convertStage(ExperimentRun& run) {
  if (run.done("convert", run.sct())) return true;
  fs::create_directories(run.sct());
  StageOptions o = withManifest(run.section("convert"), run.options());
  o["model"] = run.model().string();
  o["out-dir"] = run.sct().string();
  o["split"] = run.options().split;
  o["resume"] = "true";
  return run.accept("convert", run.run("convert", o, [&](const po::variables_map& v) {
    return runBatchConvertStage(batchConvertOptionsFrom(v), run.io());
  }));
}

/// The bulk-density baseline on the same cases; a failed case leaves the stage partial.
void baselineStage(ExperimentRun& run, const std::vector<const ManifestCase*>& cases) {
  if (!run.options().baseline || stageDone(run.options().work, "baseline")) return;
  fs::create_directories(run.baseline());
  int code = kExitOk;
  for (const ManifestCase* mc : cases) {
    const fs::path target = run.baseline() / (mc->id + ".nii.gz");
    if (fs::exists(target)) continue;
    StageOptions o{{"method", "bulk-density"}, {"input", mc->mr.string()}, {"output", target.string()}};
    if (mc->hasMask()) o["mask"] = mc->mask.string();
    if (!mc->mrSeries.empty()) o["dicom-series"] = mc->mrSeries;
    const int caseCode = run.run("baseline", o, [&](const po::variables_map& v) {
      return runBulkDensityStage(bulkDensityStageFrom(v), run.io());
    });
    if (caseCode != kExitOk) code = kExitPartial;
  }
  run.accept("baseline", code);
}

bool evaluateStage(ExperimentRun& run, const std::string& stage, const fs::path& references, const fs::path& predDir,
                   const fs::path& reportDir) {
  if (stageDone(run.options().work, stage)) return true;
  StageOptions o = run.section("evaluate");
  o["manifest"] = references.string();
  o["allow-outside"] = "true";
  o["pred-dir"] = predDir.string();
  o["out"] = reportDir.string();
  o["split"] = run.options().split;
  return run.accept(stage, run.run("evaluate", o, [&](const po::variables_map& v) {
    return runEvaluateBatchStage(evaluateBatchFrom(v), run.io());
  }));
}

void writeResults(ExperimentRun& run, std::size_t cases) {
  const ExperimentOptions& ex = run.options();
  nlohmann::json table;
  const std::string md = resultsTable(readSummary(run.report() / "summary.json"),
                                      ex.baseline ? readSummary(run.reportBaseline() / "summary.json") : nlohmann::json(),
                                      table);
  writeTextAtomically(ex.work / "results.md", "Cases: split '" + ex.split + "' of " + ex.manifest.string() +
                                                   " (mean ± std over cases, inside the body mask)\n\n" + md);
  writeTextAtomically(ex.work / "results.json", table.dump(2) + "\n");
  run.io().out << "\nResults (" << ex.split << " split, " << cases << " cases):\n" << md
               << "\nwork folder:  " << ex.work.string() << "\n"
               << "report:       " << (run.report() / "index.html").string() << "\n"
               << "synthetic CT: " << run.sct().string() << "/<id>.nii.gz\n";
}

}  // namespace

int runExperiment(const ExperimentOptions& ex, std::ostream& out, std::ostream& err) {
  ex.validate();
  const Manifest manifest = readManifest(ex.manifest, ex.manifestOptions);  // fail early, before any stage
  const auto evalCases = manifest.split(ex.split);
  if (evalCases.empty()) throw DataError(ex.manifest.string(), "has no '" + ex.split + "' cases to convert");

  ExperimentRun run(ex, out, err);
  if (!preprocessStage(run) || !trainStage(run) || !convertStage(run)) return kExitFailure;
  baselineStage(run, evalCases);
  // Evaluated against the reference CTs registered onto each MR's grid.
  const fs::path references = registeredReferences(evalCases, ex.work);
  if (!evaluateStage(run, "evaluate", references, run.sct(), run.report())) return kExitFailure;
  if (ex.baseline && !evaluateStage(run, "evaluate-baseline", references, run.baseline(), run.reportBaseline()))
    return kExitFailure;
  writeResults(run, evalCases.size());
  return run.worst();
}

}  // namespace mr2ct
