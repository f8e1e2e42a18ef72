// `mr2ct convert --manifest`: this shard's cases, J at a time, one status record per case.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <ostream>
#include <sstream>
#include <thread>
#include <iomanip>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/core/Stopwatch.h"
#include "mr2ct/core/Text.h"
#include "mr2ct/core/Log.h"
#include "mr2ct/core/OutputGuard.h"
#include "mr2ct/core/SafePath.h"
#include "mr2ct/pipeline/Converter.h"
#include "mr2ct/pipeline/Manifest.h"
#include "mr2ct/pipeline/Shard.h"

namespace mr2ct {

namespace fs = std::filesystem;

void BatchConvertOptions::validate() const {
  convert.validate();
  if (manifest.empty()) throw OptionError("{manifest} is required for a batch");
  if (outDir.empty()) throw OptionError("{outDir} is required with {manifest}");
  if (shardCount < 1 || shardIndex < 0 || shardIndex >= shardCount)
    throw OptionError("{shard} must be i/N with 0 <= i < N");
  if (jobs < 1) throw OptionError("{jobs} must be at least 1");
}

std::size_t BatchConvertSummary::count(const std::string& status) const {
  std::size_t n = 0;
  for (const auto& c : cases) n += c.status == status;
  return n;
}

int BatchConvertSummary::exitCode() const { return count("failed") > 0 ? 3 : 0; }

namespace {

void writeStatus(const fs::path& outDir, const std::string& suffix, const std::vector<BatchCaseStatus>& cases) {
  std::ostringstream csv;
  csv << "id,status,seconds,nfe,output,reason,mean_std_hu,input_score,input_feature,input_typical\n";
  nlohmann::json j = nlohmann::json::array();
  for (const auto& c : cases) {
    if (c.status.empty()) continue;  // not reached yet
    csv << csvMessage(c.id) << "," << c.status << "," << c.seconds << "," << c.nfe << "," << csvMessage(c.output) << ","
        << csvMessage(c.reason) << "," << (c.meanStdHu >= 0 ? std::to_string(c.meanStdHu) : std::string()) << ",";
    if (c.inputCheck)
      csv << c.inputCheck->score << "," << c.inputCheck->feature << "," << (c.inputCheck->typical() ? "yes" : "no");
    else
      csv << ",,";
    csv << "\n";
    j.push_back({{"id", c.id}, {"status", c.status}, {"seconds", c.seconds}, {"nfe", c.nfe}, {"output", c.output},
                 {"reason", c.reason}});
    if (c.meanStdHu >= 0) j.back()["mean_std_hu"] = c.meanStdHu;
    if (c.inputCheck) j.back()["input_check"] = c.inputCheck->toJson();
    if (c.medianMatchGamma) j.back()["median_match_gamma"] = *c.medianMatchGamma;
  }
  writeTextAtomically(outDir / ("status" + suffix + ".csv"), csv.str());
  writeTextAtomically(outDir / ("status" + suffix + ".json"), j.dump(2) + "\n");
}

/// Each case's output path (checked: a safe id, none of the manifest's files), named in `summary`.
std::vector<fs::path> caseOutputs(const BatchConvertOptions& o, const Manifest& manifest,
                                  const std::vector<const ManifestCase*>& todo, BatchConvertSummary& summary) {
  // No output may be one of the files the manifest lists (any case's mr, ct or mask).
  std::vector<fs::path> listed;
  for (const auto& c : manifest.cases)
    for (const auto* p : {&c.mr, &c.ct, &c.mask})
      if (!p->empty()) listed.push_back(*p);
  std::vector<fs::path> outputs(todo.size());
  for (std::size_t k = 0; k < todo.size(); ++k) {
    const auto& c = *todo[k];
    if (!isSafeId(c.id)) throw DataError(o.manifest.string(), c.where + ": id '" + c.id + "' is not a safe file name");
    summary.cases[k].id = c.id;
    const bool dicom = o.convert.outputFormat == OutputFormat::DicomSeries;
    outputs[k] = o.outDir / (dicom ? c.id : c.id + o.extension);  // DICOM: one series folder per case
    refuseOverwritingInputs(outputs[k], listed);
    for (int n : o.convert.nfeSweep) refuseOverwritingInputs(sweepOutputPath(outputs[k], n), listed);
    summary.cases[k].output = outputs[k].string();
  }
  return outputs;
}

/// --resume: whether every output of the case exists.
bool outputsComplete(const ConvertOptions& convert, const fs::path& output) {
  // A series folder only ever appears complete (renamed into place), so existing = done.
  auto done = [](const fs::path& p) {
    std::error_code ec;
    return fs::exists(p, ec) && !(fs::is_directory(p, ec) && fs::is_empty(p, ec));
  };
  // With --samples the std map belongs to the case's output: both or it is not done.
  if (convert.nfeSweep.empty()) return done(output) && (convert.samples == 1 || done(uncertaintyOutputPath(output)));
  bool complete = true;
  for (int n : convert.nfeSweep) complete = complete && done(sweepOutputPath(output, n));
  return complete;
}

/// Converts one case into `st` ("ok", or "failed" with the error's first line).
void convertCase(const Converter& converter, const ManifestCase& c, const fs::path& output,
                 const BatchConvertOptions& o, BatchCaseStatus& st) {
  try {
    const auto report = converter.convert(c.mr, output, c.mrSeries.empty() ? o.convert.dicomSeries : c.mrSeries);
    st.status = "ok";
    st.nfe = report.nfe.empty() ? 0 : report.nfe.back();
    if (report.samples > 1) st.meanStdHu = report.meanStdHu;
    st.inputCheck = report.inputCheck;
    st.medianMatchGamma = report.medianMatchGamma;
  } catch (const std::exception& e) {
    st.status = "failed";
    st.output.clear();  // nothing was written there
    std::string msg = e.what();
    const auto nl = msg.find('\n');
    st.reason = nl == std::string::npos ? msg : msg.substr(0, nl);
  }
}

/// The log's line for a finished case.
std::string statusLine(const BatchConvertOptions& o, const std::string& id, const BatchCaseStatus& st) {
  std::ostringstream line;
  line << std::fixed << std::setprecision(1) << id << ": " << st.status
       << (st.reason.empty() ? "" : " (" + st.reason + ")") << " " << st.seconds << " s";
  if (o.convert.samples > 1 && st.status == "ok") line << ", mean std " << st.meanStdHu << " HU in the body";
  if (st.inputCheck && !st.inputCheck->typical())
    line << ", unlike the training data (" << st.inputCheck->feature << ", score " << st.inputCheck->score << ")";
  return line.str();
}

}  // namespace

BatchConvertSummary runBatchConvert(const BatchConvertOptions& o, std::ostream& log) {
  o.validate();
  const Manifest manifest = readManifest(o.manifest, o.manifestOptions);
  // --split first: the shard partition is taken over the selected split, so i/N covers it once.
  const auto selected = manifest.split(o.split);
  std::vector<const ManifestCase*> todo;
  for (std::size_t p : shardPositions(selected.size(), o.shardIndex, o.shardCount)) todo.push_back(selected[p]);
  const std::string suffix = shardSuffix(o.shardIndex, o.shardCount);

  // The first Converter checks the model folder before any case runs (a bad model is one error,
  // exit 1) and before the output folder is made, so a refused batch leaves nothing behind.
  std::vector<std::unique_ptr<Converter>> converters;
  const int jobs = std::max(1, std::min<int>(o.jobs, int(std::max<std::size_t>(1, todo.size()))));
  for (int j = 0; j < jobs; ++j) converters.push_back(std::make_unique<Converter>(o.convert));

  prepareOutputFolder(o.outDir);  // created like every command's output folder
  BatchConvertSummary summary;
  summary.cases.resize(todo.size());
  const std::vector<fs::path> outputs = caseOutputs(o, manifest, todo, summary);

  std::mutex mutex;
  std::atomic<std::size_t> next{0};
  auto worker = [&](int j) {
    for (;;) {
      const std::size_t k = next.fetch_add(1);
      if (k >= todo.size()) return;
      const auto& c = *todo[k];
      BatchCaseStatus st = summary.cases[k];
      const Stopwatch watch;
      if (o.resume && outputsComplete(o.convert, outputs[k])) {
        st.status = "skipped";
        st.reason = "output exists (--resume)";
      } else {
        convertCase(*converters[std::size_t(j)], c, outputs[k], o, st);
      }
      st.seconds = watch.seconds();
      std::lock_guard<std::mutex> lock(mutex);
      summary.cases[k] = st;
      log << statusLine(o, c.id, st) << "\n";
      writeStatus(o.outDir, suffix, summary.cases);
    }
  };
  if (jobs == 1) {
    worker(0);
  } else {
    std::vector<std::thread> threads;
    for (int j = 0; j < jobs; ++j) threads.emplace_back(worker, j);
    for (auto& th : threads) th.join();
  }
  writeStatus(o.outDir, suffix, summary.cases);
  return summary;
}

}  // namespace mr2ct
