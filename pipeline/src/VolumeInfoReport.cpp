#include "mr2ct/pipeline/VolumeInfoReport.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <optional>
#include <ostream>
#include <sstream>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/DicomSeries.h"
#include "mr2ct/preprocessing/Statistics.h"
#include "mr2ct/preprocessing/TrainingStore.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace mr2ct {

namespace {

/// A DICOM folder's series, as `info` lists them (every series, readable or not).
nlohmann::json seriesList(const std::string& dir) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& s : listDicomSeries(dir)) {
    nlohmann::json e{{"uid", s.uid},          {"number", s.number},     {"description", s.description},
                     {"modality", s.modality}, {"sop_class", s.sopClass}, {"files", s.files},
                     {"images", s.images},     {"size", {s.columns, s.rows, s.images}},
                     {"folder", std::filesystem::relative(s.folder, dir).generic_string()}};
    if (!s.problem.empty()) e["refused"] = s.problem;
    list.push_back(e);
  }
  return list;
}

/// Format, geometry and value statistics of the volume at `path` into `j`.
void describeVolume(nlohmann::json& j, const std::string& path, const std::string& dicomSeries) {
  ReadOptions ro;
  ro.allowNonFinite = true;
  ro.dicomSeries = dicomSeries;
  VolumeInfo info;
  const Volume v = readVolume(path, ro, &info);
  const Geometry& g = v.geometry();
  j["format"] = info.format;
  if (info.formatVersion > 0) j["format_version"] = info.formatVersion;
  j["pixel_type"] = info.pixelType;
  if (info.scaleSlope != 1.0 || info.scaleIntercept != 0.0)
    j["scaling"] = {{"slope", info.scaleSlope}, {"intercept", info.scaleIntercept}};
  if (!info.byteOrder.empty()) j["byte_order"] = info.byteOrder;
  if (!info.transform.empty()) j["transform"] = info.transform;
  if (info.nifti) j["nifti_codes"] = {{"qform", info.nifti->qformCode}, {"sform", info.nifti->sformCode}};
  if (!info.warnings.empty()) j["warnings"] = info.warnings;
  j["size"] = g.size;
  j["spacing"] = g.spacing;
  j["origin"] = g.origin;
  j["direction"] = g.direction;
  j["orientation"] = g.orientationCode();
  std::size_t nonFinite = 0;
  double sum = 0, lo = INFINITY, hi = -INFINITY;
  for (float x : v.voxels()) {
    if (!std::isfinite(x)) {
      ++nonFinite;
      continue;
    }
    sum += x;
    lo = std::min(lo, double(x));
    hi = std::max(hi, double(x));
  }
  const std::size_t finite = v.voxelCount() - nonFinite;
  j["nonfinite_voxels"] = nonFinite;
  if (finite > 0) {
    const auto p = percentiles(v.data(), v.voxelCount(), {1, 50, 99});
    j["min"] = lo;
    j["max"] = hi;
    j["mean"] = sum / double(finite);
    j["p1"] = p[0];
    j["p50"] = p[1];
    j["p99"] = p[2];
  }
}

bool startsLikeHdf5(const std::string& path) {
  char b[8] = {};
  std::ifstream(path, std::ios::binary).read(b, sizeof b);
  return std::memcmp(b, "\x89HDF\r\n\x1a\n", 8) == 0;
}

/// Our own training store is the HDF5 file users most often hand to `info`: say what it holds
/// instead of "not a volume". Another HDF5 file (MINC-2, ...) gives nullopt; a store this build
/// cannot read (another format version, damage) throws the store's own message.
std::optional<nlohmann::json> describeTrainingStore(const std::string& path) {
  std::optional<TrainingStore> store;
  try {
    store.emplace(TrainingStore::open(path));
  } catch (const NotATrainingStore&) {
    return std::nullopt;
  }
  const nlohmann::json root = store->rootAttributes();
  nlohmann::json j;
  j["file"] = path;
  j["format"] = "mr2ct training store";
  j["format_version"] = root.at("format_version");
  if (root.contains("tool_version")) j["tool_version"] = root["tool_version"];
  j["cases"] = store->caseIds().size();
  j["splits"] = nlohmann::json::object();
  for (const char* split : {"train", "val", "test"})
    if (const auto n = store->caseIds(split).size()) j["splits"][split] = n;
  for (const char* key : {"preprocessing_options", "manifest"})
    if (root.contains(key)) j[key] = root[key];
  return j;
}

}  // namespace

nlohmann::json describeVolumeFile(const std::string& path, const std::string& dicomSeries) {
  nlohmann::json j;
  j["file"] = path;
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec) && startsLikeHdf5(path))
    if (auto store = describeTrainingStore(path)) return *store;
  if (std::filesystem::is_directory(path, ec)) {
    // A study folder: list every series; describe the volume too when one is chosen or the only one.
    j["format"] = "DICOM folder";
    j["dicom_series"] = seriesList(path);
    std::size_t withImages = 0;
    for (const auto& s : j["dicom_series"]) withImages += s["images"].get<std::size_t>() > 0;
    if (dicomSeries.empty() && withImages > 1) return j;
    try {
      describeVolume(j, path, dicomSeries);
    } catch (const Error& e) {
      j["error"] = e.what();
    }
    return j;
  }
  describeVolume(j, path, dicomSeries);
  return j;
}

namespace {
std::string vec(const nlohmann::json& a) {
  std::ostringstream s;
  s << "(";
  for (std::size_t i = 0; i < a.size(); ++i) s << (i ? ", " : "") << a[i].get<double>();
  s << ")";
  return s.str();
}
void printSeriesList(const nlohmann::json& j, std::ostream& out) {
  const auto& list = j["dicom_series"];
  out << j["file"].get<std::string>() << "\n  DICOM folder, " << list.size() << " series"
      << (list.size() > 1 ? " (read one with --dicom-series NUMBER or UID)" : "") << "\n";
  for (const auto& s : list) {
    const std::string number = s["number"].get<std::string>();
    out << "  series " << std::left << std::setw(5) << (number.empty() ? "-" : number) << std::setw(4)
        << s["modality"].get<std::string>() << std::right << std::setw(5) << s["images"].get<std::size_t>() << " images  "
        << s["size"][0] << " x " << s["size"][1] << " x " << s["size"][2] << "  '" << s["description"].get<std::string>()
        << "'  " << s["uid"].get<std::string>() << "  " << s["folder"].get<std::string>() << "\n";
    if (s.contains("refused")) out << "         refused: " << s["refused"].get<std::string>() << "\n";
  }
}

void printTrainingStore(const nlohmann::json& j, std::ostream& out) {
  std::string splits;
  for (const auto& [split, n] : j["splits"].items())
    splits += (splits.empty() ? ": " : ", ") + std::to_string(n.get<std::size_t>()) + " " + split;
  out << j["file"].get<std::string>() << "\n"
      << "  format      " << j["format"].get<std::string>() << "-" << j["format_version"].get<int>()
      << (j.contains("tool_version") ? " (written by mr2ct " + j["tool_version"].get<std::string>() + ")" : "") << "\n"
      << "  cases       " << j["cases"].get<std::size_t>() << splits << "\n";
  if (!j.contains("preprocessing_options") || !j["preprocessing_options"].is_object()) return;
  const nlohmann::json& o = j["preprocessing_options"];
  if (o.contains("mr_normalization")) out << "  MR norm     " << o["mr_normalization"].dump() << "\n";
  if (o.contains("registration")) out << "  CT to MR    " << o["registration"].dump() << "\n";
  if (o.contains("spacing"))
    out << "  spacing     " << (o["spacing"].is_null() ? std::string("each MR's own") : vec(o["spacing"]) + " mm") << "\n";
  if (j.contains("manifest") && j["manifest"].contains("file"))
    out << "  manifest    " << j["manifest"]["file"].get<std::string>() << "\n";
}

}  // namespace

int printVolumeInfo(const InfoOptions& options, std::ostream& out, std::ostream& err) {
  if (options.files.empty()) throw UsageError("info: give at least one FILE");
  int rc = 0;
  nlohmann::json all = nlohmann::json::array();
  for (const auto& f : options.files) {
    nlohmann::json j;
    try {
      j = describeVolumeFile(f, options.dicomSeries);
    } catch (const Error& e) {
      err << "mr2ct: error: " << e.what() << "\n";
      rc = 1;
      continue;
    }
    if (options.json) {
      all.push_back(j);
    }
    if (j.contains("error")) {
      err << "mr2ct: error: " << j["error"].get<std::string>() << "\n";
      rc = 1;
    }
    if (options.json) continue;
    if (j.contains("dicom_series")) printSeriesList(j, out);
    if (j["format"] == "mr2ct training store") printTrainingStore(j, out);
    if (!j.contains("size")) continue;
    std::ostringstream scaling;
    if (j.contains("scaling"))
      scaling << " (scaled: x " << j["scaling"]["slope"].get<double>() << " + " << j["scaling"]["intercept"].get<double>()
              << ")";
    out << j["file"].get<std::string>() << "\n"
        << "  format      " << j["format"].get<std::string>()
        << (j.contains("format_version") ? "-" + std::to_string(j["format_version"].get<int>()) : "") << ", "
        << j["pixel_type"].get<std::string>() << scaling.str()
        << (j.contains("byte_order") ? ", " + j["byte_order"].get<std::string>() + "-endian" : "") << "\n";
    if (j.contains("transform"))
      out << "  transform   " << j["transform"].get<std::string>() << " (qform_code "
          << j["nifti_codes"]["qform"].get<int>() << ", sform_code " << j["nifti_codes"]["sform"].get<int>() << ")\n";
    out
        << "  size        " << j["size"][0] << " x " << j["size"][1] << " x " << j["size"][2] << "\n"
        << "  spacing     " << vec(j["spacing"]) << " mm\n"
        << "  origin      " << vec(j["origin"]) << " mm (LPS)\n"
        << "  direction   " << vec(j["direction"]) << "\n"
        << "  orientation " << j["orientation"].get<std::string>() << "\n";
    if (j.contains("min"))
      out << "  range       " << j["min"].get<double>() << " .. " << j["max"].get<double>()
          << "  mean " << j["mean"].get<double>() << "\n"
          << "  p1/p50/p99  " << j["p1"].get<double>() << " / " << j["p50"].get<double>() << " / "
          << j["p99"].get<double>() << "\n";
    if (j["nonfinite_voxels"].get<std::size_t>() > 0)
      out << "  WARNING     " << j["nonfinite_voxels"].get<std::size_t>() << " NaN/Inf voxels\n";
  }
  if (options.json) out << (all.size() == 1 ? all[0] : all).dump(2) << "\n";
  return rc;
}

}  // namespace mr2ct
