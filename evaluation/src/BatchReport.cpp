#include "mr2ct/evaluation/BatchReport.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/core/Text.h"
#include "mr2ct/core/Progress.h"
#include "mr2ct/core/SafePath.h"
#include "mr2ct/evaluation/UncertaintyCalibration.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace mr2ct {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct CaseRow {
  std::string id;
  bool ok = false;
  std::vector<double> values;
  std::size_t maskVoxels = 0;
  double meanStdHu = kNaN;  ///< mean of the case's std map in the mask, when it has one
  std::string maskSource, resampling, warnings, error, montage;
};

std::string number(double v, int precision = 10) {
  if (!std::isfinite(v)) return "";
  std::ostringstream s;
  s.precision(precision);
  s << v;
  return s.str();
}

std::string html(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

nlohmann::json jsonNumber(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

double quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * double(sorted.size() - 1);
  const std::size_t i = std::size_t(std::floor(pos));
  const double f = pos - double(i);
  return i + 1 < sorted.size() ? sorted[i] + f * (sorted[i + 1] - sorted[i]) : sorted[i];
}

std::string metricsCaption1(const MetricsResult& m) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(1);
  s << "MAE " << m.mae << " HU  ME " << m.me << " HU  PSNR ";
  s.precision(2);
  s << m.psnr << " DB";
  return s.str();
}

std::string metricsCaption2(const MetricsResult& m) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(4);
  s << "SSIM " << m.ssim << "  MS-SSIM " << m.msSsim << "  (" << m.profile << ")";
  return s.str();
}

void writeCsv(const std::filesystem::path& path, const std::vector<CaseRow>& rows) {
  std::ostringstream s;
  s << "id,status";
  for (const auto& n : MetricsResult::names()) s << "," << n;
  s << ",mask_voxels,mean_std_hu,mask_source,resampling,warnings,error\n";
  for (const auto& r : rows) {
    s << csvField(r.id) << "," << (r.ok ? "ok" : "failed");
    for (std::size_t i = 0; i < MetricsResult::names().size(); ++i)
      s << "," << (r.ok ? number(r.values[i]) : std::string());
    s << "," << (r.ok ? std::to_string(r.maskVoxels) : std::string()) << "," << number(r.meanStdHu) << ","
      << csvField(r.maskSource) << ","
      << csvField(r.resampling) << "," << csvField(r.warnings) << "," << csvField(r.error) << "\n";
  }
  writeTextAtomically(path, s.str());
}

/// Per case mean std beside MAE (r over the cases that have a std map), and the voxel calibration.
nlohmann::json uncertaintyJson(const std::vector<CaseRow>& rows, const UncertaintyCalibration& calibration) {
  const auto& names = MetricsResult::names();
  const auto mae = std::size_t(std::find(names.begin(), names.end(), "mae") - names.begin());
  std::vector<double> sd, err;
  for (const auto& r : rows)
    if (r.ok && std::isfinite(r.meanStdHu)) sd.push_back(r.meanStdHu), err.push_back(r.values[mae]);
  nlohmann::json j = calibration.toJson();
  j["cases"] = sd.size();
  j["case_pearson_r_mean_std_vs_mae"] = jsonNumber(pearsonR(sd, err));
  j["calibrated_gaussian_mean_abs_error_per_std"] = std::sqrt(2.0 / M_PI);
  return j;
}

void writeSummary(const std::filesystem::path& path, const std::vector<CaseRow>& rows, const BatchOptions& o,
                  const UncertaintyCalibration& calibration) {
  nlohmann::json j;
  j["cases"] = rows.size();
  j["succeeded"] = std::count_if(rows.begin(), rows.end(), [](const CaseRow& r) { return r.ok; });
  j["failed"] = nlohmann::json::array();
  for (const auto& r : rows)
    if (!r.ok) j["failed"].push_back({{"id", r.id}, {"error", r.error}});
  j["options"] = o.evaluate.toJson();
  j["prediction_dir"] = o.predDir.string();
  nlohmann::json metrics;
  const auto& names = MetricsResult::names();
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::vector<double> v;
    for (const auto& r : rows)
      if (r.ok) v.push_back(r.values[i]);
    const MetricSummary s = summarize(v);
    metrics[names[i]] = {{"n", s.n}, {"mean", jsonNumber(s.mean)}, {"std", jsonNumber(s.std)},
                         {"median", jsonNumber(s.median)}, {"q1", jsonNumber(s.q1)}, {"q3", jsonNumber(s.q3)},
                         {"min", jsonNumber(s.min)}, {"max", jsonNumber(s.max)}};
  }
  j["metrics"] = metrics;
  if (calibration.voxels() > 0) j["uncertainty"] = uncertaintyJson(rows, calibration);
  writeTextAtomically(path, j.dump(2) + "\n");
}

/// Mean |error| against mean std per bin, log-log, with the calibrated Gaussian line.
std::string calibrationSvg(const std::vector<CalibrationBin>& bins) {
  const double lo = 1, hi = 1000, w = 360, h = 300, pad = 40;
  auto px = [&](double v) { return pad + (std::log10(std::clamp(v, lo, hi)) - std::log10(lo)) / 3.0 * (w - 2 * pad); };
  auto py = [&](double v) { return h - pad - (std::log10(std::clamp(v, lo, hi)) - std::log10(lo)) / 3.0 * (h - 2 * pad); };
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h << "\" font-size=\"11\">"
    << "<rect x=\"" << pad << "\" y=\"" << pad << "\" width=\"" << w - 2 * pad << "\" height=\"" << h - 2 * pad
    << "\" fill=\"none\" stroke=\"#999\"/>";
  for (double t : {1.0, 10.0, 100.0, 1000.0})
    s << "<text x=\"" << px(t) << "\" y=\"" << h - pad + 14 << "\" text-anchor=\"middle\">" << t << "</text>"
      << "<text x=\"" << pad - 4 << "\" y=\"" << py(t) + 4 << "\" text-anchor=\"end\">" << t << "</text>";
  s << "<text x=\"" << w / 2 << "\" y=\"" << h - 6 << "\" text-anchor=\"middle\">mean std in bin (HU)</text>"
    << "<text x=\"12\" y=\"" << h / 2 << "\" transform=\"rotate(-90 12 " << h / 2
    << ")\" text-anchor=\"middle\">mean |sCT - CT| (HU)</text>";
  const double k = std::sqrt(2.0 / M_PI);
  s << "<line x1=\"" << px(lo) << "\" y1=\"" << py(lo * k) << "\" x2=\"" << px(hi) << "\" y2=\"" << py(hi * k)
    << "\" stroke=\"#888\" stroke-dasharray=\"4 3\"/><polyline fill=\"none\" stroke=\"#c33\" points=\"";
  for (const auto& b : bins) s << px(b.meanStd) << "," << py(b.meanAbsError) << " ";
  s << "\"/>";
  for (const auto& b : bins) s << "<circle cx=\"" << px(b.meanStd) << "\" cy=\"" << py(b.meanAbsError) << "\" r=\"3\" fill=\"#c33\"/>";
  s << "</svg>";
  return s.str();
}

void writeUncertaintySection(std::ostringstream& s, const std::vector<CaseRow>& rows,
                             const UncertaintyCalibration& calibration) {
  const nlohmann::json j = uncertaintyJson(rows, calibration);
  auto r = [](const nlohmann::json& v) { return v.is_null() ? std::string("n/a") : number(v.get<double>(), 3); };
  s << "<h2>Uncertainty</h2>\n<p>Std maps (<code>&lt;id&gt;_std</code> beside the predictions) for " << j["cases"].get<std::size_t>()
    << " case(s). Pearson r, mean std vs MAE over cases: " << r(j["case_pearson_r_mean_std_vs_mae"])
    << "; std vs |error| over " << calibration.voxels() << " voxels: " << r(j["voxel_pearson_r"])
    << ". Dashed: a calibrated Gaussian std (mean |error| = 0.80 &times; std).</p>\n"
    << calibrationSvg(calibration.bins()) << "\n<table><tr><th>std from (HU)</th><th>to</th><th>voxels</th>"
    << "<th>mean std</th><th>mean |error|</th></tr>\n";
  for (const auto& b : calibration.bins())
    s << "<tr><td>" << number(b.stdFrom) << "</td><td>" << (std::isfinite(b.stdTo) ? number(b.stdTo) : "&infin;")
      << "</td><td>" << b.voxels << "</td><td>" << number(b.meanStd, 4) << "</td><td>" << number(b.meanAbsError, 4)
      << "</td></tr>\n";
  s << "</table>\n";
}

void writeIndex(const std::filesystem::path& path, const std::vector<CaseRow>& rows, const BatchOptions& o,
                const UncertaintyCalibration& calibration) {
  std::ostringstream s;
  const auto& names = MetricsResult::names();
  s << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mr2ct evaluation</title>\n"
    << "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;"
       "padding:3px 6px;text-align:right}td.l{text-align:left}.failed{background:#fdd}</style></head><body>\n"
    << "<h1>mr2ct evaluation</h1>\n<p>Profile " << html(o.evaluate.metrics.profile)
    << "; predictions from " << html(o.predDir.string()) << ". Summary: <a href=\"summary.json\">summary.json</a>, "
    << "per case: <a href=\"metrics.csv\">metrics.csv</a>. CT window in pictures [" << o.montage.ctLowHu << ", "
    << o.montage.ctHighHu << "] HU, |error| scale 0&ndash;" << o.montage.errorMaxHu << " HU.</p>\n<table><tr><th>case</th>";
  for (const auto& n : names) s << "<th>" << html(n) << "</th>";
  s << "<th>notes</th></tr>\n";
  for (const auto& r : rows) {
    s << "<tr" << (r.ok ? "" : " class=\"failed\"") << "><td class=\"l\">" << html(r.id) << "</td>";
    if (r.ok) {
      for (double v : r.values) s << "<td>" << (std::isfinite(v) ? number(v, 5) : "&ndash;") << "</td>";
      s << "<td class=\"l\">" << html(r.warnings) << (r.resampling.empty() ? "" : " " + html(r.resampling)) << "</td>";
    } else {
      s << "<td class=\"l\" colspan=\"" << names.size() + 1 << "\">failed: " << html(r.error) << "</td>";
    }
    s << "</tr>\n";
  }
  s << "</table>\n";
  if (calibration.voxels() > 0) writeUncertaintySection(s, rows, calibration);
  for (const auto& r : rows)
    if (r.ok && !r.montage.empty())
      s << "<h2>" << html(r.id) << "</h2>\n<a href=\"" << html(r.montage) << "\"><img src=\"" << html(r.montage)
        << "\" alt=\"" << html(r.id) << " montage\"></a>\n";
  s << "</body></html>\n";
  writeTextAtomically(path, s.str());
}

}  // namespace

void BatchOptions::validate() const {
  evaluate.validate();
  montage.validate();
  if (predDir.empty()) throw OptionError("{predDir} is required for a batch evaluation");
  if (!std::filesystem::is_directory(predDir)) throw OptionError("{predDir} " + predDir.string() + ": not a folder");
  if (outDir.empty()) throw OptionError("{out} is required for a batch evaluation");
}

std::filesystem::path findPrediction(const std::filesystem::path& predDir, const std::string& id) {
  for (const char* ext : {".nii.gz", ".nii", ".mha", ".nrrd"}) {
    const auto p = predDir / (id + ext);
    if (std::filesystem::is_regular_file(p)) return p;
  }
  for (const char* name : {"sct.nii.gz", "sct.nii", "sct.mha", "sct.nrrd"}) {
    const auto p = predDir / id / name;
    if (std::filesystem::is_regular_file(p)) return p;
  }
  return {};
}

MetricSummary summarize(std::vector<double> values) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return !std::isfinite(v); }), values.end());
  MetricSummary s;
  s.n = values.size();
  if (values.empty()) {
    s.mean = s.std = s.median = s.q1 = s.q3 = s.min = s.max = kNaN;
    return s;
  }
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / double(s.n);
  double ss = 0;
  for (double v : values) ss += (v - s.mean) * (v - s.mean);
  s.std = s.n > 1 ? std::sqrt(ss / double(s.n - 1)) : kNaN;
  s.median = quantile(values, 0.5);
  s.q1 = quantile(values, 0.25);
  s.q3 = quantile(values, 0.75);
  s.min = values.front();
  s.max = values.back();
  return s;
}

BatchResult evaluateBatch(const std::vector<BatchCase>& cases, const BatchOptions& options) {
  options.validate();
  std::error_code ec;
  std::filesystem::create_directories(options.outDir, ec);
  if (!std::filesystem::is_directory(options.outDir))
    throw IoError(options.outDir.string(), "cannot create the report folder");
  std::vector<CaseRow> rows;
  BatchResult result;
  result.cases = cases.size();
  UncertaintyCalibration calibration;
  ProgressBar bar("evaluate", cases.size());
  for (const auto& c : cases) {
    CaseRow row;
    row.id = c.id;
    try {
      if (!isSafeId(c.id)) throw DataError("case id '" + c.id + "' is not a safe file name");
      if (c.ct.empty()) throw DataError(c.id + ": the manifest gives no reference CT");
      const auto pred = findPrediction(options.predDir, c.id);
      if (pred.empty())
        throw IoError((options.predDir / (c.id + ".nii.gz")).string(),
                      "no prediction (also looked for " + c.id + "/sct.nii.gz, .nii, .mha, .nrrd)");
      EvaluateOptions caseOptions = options.evaluate;
      if (!c.ctSeries.empty()) caseOptions.dicomSeries = c.ctSeries;
      CaseEvaluation e = evaluateFiles(pred, c.ct, c.mask, caseOptions);
      row.values = e.metrics.values();
      row.maskVoxels = e.metrics.maskVoxels;
      row.maskSource = e.maskSource;
      row.resampling = e.resampling;
      for (const auto& w : e.warnings) row.warnings += (row.warnings.empty() ? "" : "; ") + w;
      if (const auto stdMap = findUncertaintyMap(pred); !stdMap.empty()) {
        // Optional: unreadable, or on another grid than the one evaluated (a resampled
        // prediction), it says nothing voxel by voxel: a warning, and the case's metrics stand.
        try {
          row.meanStdHu = calibration.add(readVolume(stdMap), e.pred, e.ref, e.mask, stdMap.string());
        } catch (const Error& err) {
          row.warnings += std::string(row.warnings.empty() ? "" : "; ") + "std map not used: " + err.what();
          spdlog::warn("case {}: std map not used: {}", c.id, err.what());
        }
      }
      if (options.montages) {
        Volume mr;
        if (!c.mr.empty()) {
          try {
            ReadOptions mrRead;
            mrRead.dicomSeries = c.mrSeries;
            mr = readVolume(c.mr, mrRead);
          } catch (const Error& err) {
            row.warnings += std::string(row.warnings.empty() ? "" : "; ") + "montage without MR: " + err.what();
          }
        }
        MontageInput in;
        in.mr = mr.empty() ? nullptr : &mr;
        in.pred = &e.pred;
        in.ref = &e.ref;
        in.mask = &e.mask;
        in.title = c.id;
        in.lines = {metricsCaption1(e.metrics), metricsCaption2(e.metrics)};
        row.montage = c.id + "_montage.png";
        writeMontagePng(in, options.outDir / row.montage, options.montage);
      }
      row.ok = true;
      ++result.succeeded;
    } catch (const std::exception& e) {
      row.error = e.what();
      result.failures.push_back({c.id, row.error});
      spdlog::error("case {}: {}", c.id, row.error);
    }
    rows.push_back(std::move(row));
    bar.advance(1, c.id);
  }
  bar.finish();
  writeCsv(options.outDir / "metrics.csv", rows);
  writeSummary(options.outDir / "summary.json", rows, options, calibration);
  writeIndex(options.outDir / "index.html", rows, options, calibration);
  return result;
}

}  // namespace mr2ct
