#include "mr2ct/pipeline/VolumeInfoReport.h"

#include <cmath>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/Statistics.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace mr2ct {

nlohmann::json describeVolumeFile(const std::string& path, const std::string& dicomSeries) {
  ReadOptions ro;
  ro.allowNonFinite = true;
  ro.dicomSeries = dicomSeries;
  VolumeInfo info;
  const Volume v = readVolume(path, ro, &info);
  const Geometry& g = v.geometry();
  nlohmann::json j;
  j["file"] = path;
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
      continue;
    }
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
