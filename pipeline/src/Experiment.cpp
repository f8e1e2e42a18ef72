#include "mr2ct/pipeline/Experiment.h"

#include <boost/any.hpp>
#include <cstdint>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/Text.h"
#include "mr2ct/core/Log.h"
#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/pipeline/Command.h"
#include "mr2ct/pipeline/Manifest.h"
#include "mr2ct/preprocessing/BodyMask.h"
#include "mr2ct/preprocessing/Resampling.h"
#include "mr2ct/preprocessing/SpatialTransform.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace fs = std::filesystem;

namespace mr2ct {

namespace {

using StageOptions = std::map<std::string, std::string>;

const Command& commandNamed(const std::string& name) {
  for (const auto& c : allCommands())
    if (c.name == name) return c;
  throw Error("internal: no command '" + name + "'");
}

/// Renders a parsed option value (boost::any) as INI text.
std::string anyToText(const boost::any& v) {
  if (v.empty()) return "";
  if (auto p = boost::any_cast<std::string>(&v)) return *p;
  if (auto p = boost::any_cast<bool>(&v)) return *p ? "true" : "false";
  if (auto p = boost::any_cast<int>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<unsigned>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<std::int64_t>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<std::uint32_t>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<std::size_t>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<double>(&v)) {
    std::ostringstream s;
    s << std::setprecision(10) << *p;
    return s.str();
  }
  if (auto p = boost::any_cast<float>(&v)) {
    std::ostringstream s;
    s << std::setprecision(8) << *p;
    return s.str();
  }
  if (auto p = boost::any_cast<std::vector<std::string>>(&v)) {
    std::string out;
    for (const auto& x : *p) out += (out.empty() ? "" : " ") + x;
    return out;
  }
  return "<unprintable>";
}

struct StageCall {
  std::string command;                 ///< subcommand name
  std::vector<std::string> fixedArgs;  ///< paths the experiment decides
  StageOptions options;                ///< from the INI section and overrides
};

/// argv for a stage: fixed args first, then --key value (switches: --key when true).
std::vector<std::string> stageArgv(const StageCall& call, const ExperimentOptions& ex) {
  const Command& cmd = commandNamed(call.command);
  po::options_description desc;
  po::positional_options_description pos;
  cmd.declare(desc, pos);
  std::vector<std::string> argv{"mr2ct", call.command};
  argv.insert(argv.end(), call.fixedArgs.begin(), call.fixedArgs.end());
  for (const auto& [key, value] : call.options) {
    const auto* d = desc.find_nothrow(key, false);
    if (!d) throw UsageError(ex.config.string() + ": [" + call.command + "] has no option '" + key + "'");
    if (d->semantic()->max_tokens() == 0) {
      if (value == "true" || value == "1" || value == "yes" || value == "on") argv.push_back("--" + key);
      continue;
    }
    argv.push_back("--" + key);
    argv.push_back(value);
  }
  argv.push_back("--threads");
  argv.push_back(std::to_string(ex.threads));
  if (ex.quiet) argv.push_back("--quiet");
  return argv;
}

/// Every option of the stage with the value it will run with (defaults included), as INI text.
std::string resolvedIni(const std::vector<std::string>& argv) {
  const Command& cmd = commandNamed(argv[1]);
  po::options_description desc;
  po::positional_options_description pos;
  desc.add_options()("threads", po::value<int>())("quiet", po::bool_switch());
  cmd.declare(desc, pos);
  std::vector<const char*> raw;
  for (std::size_t i = 1; i < argv.size(); ++i) raw.push_back(argv[i].c_str());
  po::variables_map vm;
  // raw[0] (the stage name) stands where the parser expects the program name.
  po::store(po::command_line_parser(int(raw.size()), raw.data()).options(desc).positional(pos).run(), vm);
  std::ostringstream ini;
  ini << "# mr2ct " << MR2CT_VERSION << ": resolved options of `mr2ct " << argv[1] << "` in this experiment\n";
  for (const auto& opt : desc.options()) {
    const std::string& name = opt->long_name();
    if (name.empty()) continue;
    auto it = vm.find(name);
    if (it == vm.end()) continue;
    ini << name << " = " << anyToText(it->second.value()) << "\n";
  }
  if (argv[1] == "train") {
    // Defaults that depend on other options (σ on the source, the patch on the preset) are no
    // program-option defaults; written out, rerunning this file gives the same model even after a
    // default changes (σ did on 2026-12-04).
    const std::string source = vm.count("source") ? vm["source"].as<std::string>() : FlowConfig{}.source;
    if (!vm.count("sigma")) ini << "sigma = " << FlowConfig::defaultSigma(source) << "\n";
    if (!vm.count("steps")) ini << "steps = " << TrainingConfig{}.steps << "\n";
    if (!vm.count("patch") && vm.count("preset")) {
      const auto patch = NetworkConfig::fromPreset(vm["preset"].as<std::string>()).patchSize;
      ini << "patch = ";
      for (std::size_t i = 0; i < patch.size(); ++i) ini << (i ? "x" : "") << patch[i];
      ini << "\n";
    }
  }
  return ini.str();
}

/// Runs one stage in-process. Returns its exit code.
int runStage(const StageCall& call, const ExperimentOptions& ex, const fs::path& configDir, std::ostream& out,
             std::ostream& err) {
  const auto argv = stageArgv(call, ex);
  writeTextAtomically(configDir / (call.command + ".ini"), resolvedIni(argv));
  std::string line;
  for (std::size_t i = 1; i < argv.size(); ++i) line += (i > 1 ? " " : "") + argv[i];
  spdlog::info("stage: mr2ct {}", line);
  std::vector<const char*> raw;
  for (const auto& a : argv) raw.push_back(a.c_str());
  return runCli(int(raw.size()), raw.data(), out, err);
}

fs::path marker(const fs::path& work, const std::string& stage) { return work / ".stages" / (stage + ".done"); }

bool stageDone(const fs::path& work, const std::string& stage) { return fs::exists(marker(work, stage)); }

void markDone(const fs::path& work, const std::string& stage, int code) {
  writeTextAtomically(marker(work, stage), nlohmann::json{{"stage", stage}, {"exit_code", code}}.dump() + "\n");
}

StageOptions section(const ExperimentOptions& ex,
                     const std::map<std::string, std::map<std::string, std::string>>& ini, const std::string& name) {
  StageOptions s;
  if (auto it = ini.find(name); it != ini.end()) s = it->second;
  if (auto it = ex.overrides.find(name); it != ex.overrides.end())
    for (const auto& [k, v] : it->second) s[k] = v;
  return s;
}

std::vector<std::string> manifestArgs(const ExperimentOptions& ex) {
  std::vector<std::string> a{"--manifest", ex.manifest.string()};
  if (!ex.dataRoot.empty()) a.insert(a.end(), {"--data-root", ex.dataRoot});
  if (ex.allowOutside) a.push_back("--allow-outside");
  return a;
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
  if (manifest.empty()) throw UsageError("run: --manifest is required");
  if (work.empty()) throw UsageError("run: --work is required");
  if (split != "train" && split != "val" && split != "test")
    throw UsageError("run: --split must be train, val or test, not '" + split + "'");
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

int runExperiment(const ExperimentOptions& ex, std::ostream& out, std::ostream& err) {
  ex.validate();
  const auto ini = ex.config.empty() ? std::map<std::string, StageOptions>{} : readExperimentIni(ex.config);
  ManifestOptions mo;
  mo.dataRoot = ex.dataRoot;
  mo.allowOutside = ex.allowOutside;
  const Manifest manifest = readManifest(ex.manifest, mo);  // fail early, before any stage
  const auto evalCases = manifest.split(ex.split);
  if (evalCases.empty()) throw DataError(ex.manifest.string(), "has no '" + ex.split + "' cases to convert");

  fs::create_directories(ex.work / ".stages");
  const fs::path configDir = ex.work / "config";
  fs::create_directories(configDir);
  const fs::path store = ex.work / "store.h5", model = ex.work / "model", sct = ex.work / "sct",
                 base = ex.work / "baseline", report = ex.work / "report", reportBase = ex.work / "report-baseline";
  int worst = kExitOk;
  auto accept = [&](const std::string& stage, int code) {
    if (code == kExitOk || code == kExitPartial) {
      if (code == kExitPartial) worst = kExitPartial;
      markDone(ex.work, stage, code);
      return true;
    }
    err << "mr2ct run: stage '" << stage << "' failed (exit " << code << "); rerun the same command to resume\n";
    return false;
  };

  // 1. preprocess
  if (stageDone(ex.work, "preprocess")) {
    spdlog::info("preprocess: done earlier ({}), skipped", store.string());
  } else {
    StageCall c{"preprocess", manifestArgs(ex), section(ex, ini, "preprocess")};
    c.fixedArgs.insert(c.fixedArgs.end(), {"--out", store.string(), "--qa-dir", (ex.work / "qa").string()});
    if (fs::exists(store)) c.fixedArgs.push_back("--resume");
    if (!accept("preprocess", runStage(c, ex, configDir, out, err))) return kExitFailure;
  }
  // 2. train
  if (stageDone(ex.work, "train")) {
    spdlog::info("train: done earlier ({}), skipped", model.string());
  } else {
    StageCall c{"train", {"--store", store.string(), "--out", model.string()}, section(ex, ini, "train")};
    if (fs::exists(model / "train_state.pt")) c.fixedArgs.push_back("--resume");
    if (!accept("train", runStage(c, ex, configDir, out, err))) return kExitFailure;
  }
  // 3. convert the evaluation split (always resumable: finished cases are kept)
  if (stageDone(ex.work, "convert")) {
    spdlog::info("convert: done earlier ({}), skipped", sct.string());
  } else {
    fs::create_directories(sct);
    StageCall c{"convert", manifestArgs(ex), section(ex, ini, "convert")};
    c.fixedArgs.insert(c.fixedArgs.end(),
                       {"--model", model.string(), "--out-dir", sct.string(), "--split", ex.split, "--resume"});
    if (!accept("convert", runStage(c, ex, configDir, out, err))) return kExitFailure;
  }
  // 4. the bulk-density baseline on the same cases
  if (ex.baseline && !stageDone(ex.work, "baseline")) {
    fs::create_directories(base);
    int code = kExitOk;
    for (const ManifestCase* mc : evalCases) {
      const fs::path target = base / (mc->id + ".nii.gz");
      if (fs::exists(target)) continue;
      StageCall c{"baseline", {"bulk-density", "--input", mc->mr.string(), "--output", target.string()}, {}};
      if (mc->hasMask()) c.fixedArgs.insert(c.fixedArgs.end(), {"--mask", mc->mask.string()});
      if (!mc->mrSeries.empty()) c.fixedArgs.insert(c.fixedArgs.end(), {"--dicom-series", mc->mrSeries});
      if (runStage(c, ex, configDir, out, err) != kExitOk) code = kExitPartial;
    }
    accept("baseline", code);
  }
  // 5. evaluate against the reference CTs registered onto each MR's grid
  const fs::path referenceManifest = registeredReferences(evalCases, ex.work);
  auto evaluate = [&](const std::string& stage, const fs::path& predDir, const fs::path& reportDir) {
    if (stageDone(ex.work, stage)) return true;
    StageCall c{"evaluate", {"--manifest", referenceManifest.string(), "--allow-outside"}, section(ex, ini, "evaluate")};
    c.fixedArgs.insert(c.fixedArgs.end(),
                       {"--pred-dir", predDir.string(), "--out", reportDir.string(), "--split", ex.split});
    return accept(stage, runStage(c, ex, configDir, out, err));
  };
  if (!evaluate("evaluate", sct, report)) return kExitFailure;
  if (ex.baseline && !evaluate("evaluate-baseline", base, reportBase)) return kExitFailure;

  nlohmann::json table;
  const std::string md = resultsTable(readSummary(report / "summary.json"),
                                      ex.baseline ? readSummary(reportBase / "summary.json") : nlohmann::json(),
                                      table);
  writeTextAtomically(ex.work / "results.md", "Cases: split '" + ex.split + "' of " + ex.manifest.string() +
                                                   " (mean ± std over cases, inside the body mask)\n\n" + md);
  writeTextAtomically(ex.work / "results.json", table.dump(2) + "\n");
  out << "\nResults (" << ex.split << " split, " << evalCases.size() << " cases):\n" << md
      << "\nwork folder:  " << ex.work.string() << "\n"
      << "report:       " << (report / "index.html").string() << "\n"
      << "synthetic CT: " << sct.string() << "/<id>.nii.gz\n";
  return worst;
}

}  // namespace mr2ct
