#include "DicomSliceGeometry.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <sstream>
#include <utility>

#include "DicomGuard.h"
#include "mr2ct/core/Error.h"

namespace fs = std::filesystem;

namespace mr2ct::detail {

namespace {

// Tolerances. DICOM writes decimals as text of at most 16 characters, and scanners round
// orientations to 5-6 decimals: comparisons allow that rounding and nothing coarser.
constexpr double kOrientationTol = 1e-4;  // direction cosines, absolute
constexpr double kUnitTol = 1e-3;         // |row|, |column| = 1 and row·column = 0
constexpr double kSamePositionMm = 1e-2;  // two slices closer than this lie at the same position
constexpr double kRelSpacingTol = 1e-2;   // a slice off its regular place by > 1 % of the spacing
constexpr double kTiltMm = 1e-2;          // in-plane drift of the stack allowed over its length ...
constexpr double kTiltPerMm = 1e-4;       // ... plus this per mm along the normal (IOP rounding)

Vec3d minus(const Vec3d& a, const Vec3d& b) {
  return {a[0] - b[0], a[1] - b[1], a[2] - b[2]};
}
double norm(const Vec3d& a) {
  return std::sqrt(dot(a, a));
}

std::string fmt(double v, int precision = 4) {
  std::ostringstream s;
  s.precision(precision);
  s << v;
  return s.str();
}

/// One image of the series: a file, or a frame of the multi-frame file.
struct Slice {
  const DicomPlane* plane;
  std::string name;   ///< "IM0005.dcm (instance 5)" / "frame 5"
  std::size_t index;  ///< frame index (multi-frame) or instance index
  double along = 0;   ///< position along the slice normal
};

std::string distinctValues(const std::vector<Slice>& slices, std::string DicomPlane::*field) {
  std::set<std::string> values;
  for (const auto& s : slices) values.insert(s.plane->*field);
  if (values.size() < 2) return "";
  std::string out;
  int k = 0;
  for (const auto& v : values) {
    if (k++ == 4) {
      out += ", ...";
      break;
    }
    out += (out.empty() ? "" : ", ") + (v.empty() ? std::string("(none)") : v);
  }
  return out;
}

/// Builds the DataError "<dir>: DICOM series ...: <problem>".
struct Refusal {
  const fs::path& dir;
  std::string where;
  DataError operator()(const std::string& problem) const { return DataError(dir.string(), where + ": " + problem); }
};

std::vector<const DicomInstance*> imageInstances(const DicomSeriesFiles& series, const Refusal& refuse) {
  std::vector<const DicomInstance*> images;
  for (const auto& in : series.instances)
    if (in.isImage()) images.push_back(&in);
  if (images.empty())
    throw refuse("holds no images (" + sopClassName(series.instances.front().sopClassUid) + ", modality " +
                 series.instances.front().modality + ")");
  return images;
}

/// One slice per frame of a multi-frame file, or per single-frame file; sets layout.multiFrame and,
/// for one file, layout.files.
std::vector<Slice> slicesOf(const fs::path& dir, const std::vector<const DicomInstance*>& images,
                            DicomSeriesLayout& layout, const Refusal& refuse) {
  std::vector<Slice> slices;
  const DicomInstance& first = *images.front();
  if (first.frames > 1 || images.size() == 1) {
    if (images.size() > 1) throw refuse(std::to_string(images.size()) + " multi-frame files: several volumes, not one");
    layout.multiFrame = first.frames > 1;
    layout.files = {first.path};
    if (layout.multiFrame) {
      if (first.frameplanes.size() != first.frames)
        throw refuse(first.path.filename().string() + " is a multi-frame image of " + std::to_string(first.frames) +
                     " frames without one per-frame functional group per frame (not an enhanced image): its frames "
                     "cannot be placed in space");
      for (std::size_t f = 0; f < first.frames; ++f)
        slices.push_back({&first.frameplanes[f], "frame " + std::to_string(f + 1), f});
    } else {
      slices.push_back({&first.plane, first.path.filename().string(), 0});
    }
    return slices;
  }
  for (std::size_t i = 0; i < images.size(); ++i) {
    const DicomInstance& in = *images[i];
    if (in.frames > 1) throw refuse("mixes multi-frame and single-frame files");
    std::string name = in.path.lexically_relative(dir).generic_string();
    if (!in.plane.instanceNumber.empty()) name += " (instance " + in.plane.instanceNumber + ")";
    slices.push_back({&in.plane, name, i});
  }
  return slices;
}

// Same image size and pixel type everywhere (single-frame series; a multi-frame file has one).
void checkImagesAlike(const std::vector<const DicomInstance*>& images, const Refusal& refuse) {
  const DicomInstance& first = *images.front();
  for (const DicomInstance* in : images) {
    if (in->rows != first.rows || in->columns != first.columns)
      throw refuse("mixed image sizes (" + std::to_string(first.columns) + "x" + std::to_string(first.rows) + " in " +
                   first.path.filename().string() + ", " + std::to_string(in->columns) + "x" +
                   std::to_string(in->rows) + " in " + in->path.filename().string() + ")");
    if (in->samplesPerPixel != 1)
      throw refuse(in->path.filename().string() + " has " + std::to_string(in->samplesPerPixel) +
                   " samples per pixel (colour); a grey-scale image is needed");
    if (const std::string bad = dicomPixelDescriptionProblem(*in); !bad.empty())
      throw refuse(in->path.filename().string() + " " + bad);
  }
  if (first.columns * first.rows > (std::size_t(1) << 31)) throw refuse("image size overflows");
}

// Several volumes interleaved in one series: echoes, time points.
void checkOneVolume(const std::vector<Slice>& slices, const Refusal& refuse) {
  if (const std::string echoes = distinctValues(slices, &DicomPlane::echo); !echoes.empty())
    throw refuse("several volumes in one series (echoes " + echoes + "): choose or export one echo");
  if (const std::string times = distinctValues(slices, &DicomPlane::temporal); !times.empty())
    throw refuse("several volumes in one series (temporal positions " + times + "): export one time point");
  if (const std::string stacks = distinctValues(slices, &DicomPlane::stack); !stacks.empty())
    throw refuse("several stacks in one series (StackID " + stacks + ")");
}

// Pixel spacing and orientation: present (or absent) and equal everywhere.
void checkPlanesAlike(const std::vector<Slice>& slices, const Refusal& refuse) {
  const DicomPlane& p0 = *slices.front().plane;
  for (const auto& s : slices) {
    const DicomPlane& p = *s.plane;
    if (p.pixelSpacing.has_value() != p0.pixelSpacing.has_value() ||
        (p.pixelSpacing && (std::fabs((*p.pixelSpacing)[0] - (*p0.pixelSpacing)[0]) > 1e-4 ||
                            std::fabs((*p.pixelSpacing)[1] - (*p0.pixelSpacing)[1]) > 1e-4)))
      throw refuse("mixed pixel spacings (" + slices.front().name + " and " + s.name + ")");
    if (p.orientation.has_value() != p0.orientation.has_value())
      throw refuse("ImageOrientationPatient missing in " + (p.orientation ? slices.front().name : s.name));
    if (p.orientation)
      for (int k = 0; k < 6; ++k)
        if (std::fabs((*p.orientation)[k] - (*p0.orientation)[k]) > kOrientationTol)
          throw refuse("mixed orientations (ImageOrientationPatient differs between " + slices.front().name + " and " +
                       s.name + "): not one volume");
  }
  if (p0.pixelSpacing && ((*p0.pixelSpacing)[0] <= 0 || (*p0.pixelSpacing)[1] <= 0))
    throw refuse("PixelSpacing " + fmt((*p0.pixelSpacing)[0]) + "\\" + fmt((*p0.pixelSpacing)[1]) + " is not positive");
}

/// The row and column directions (unit vectors) of the image plane; x and y without an orientation.
std::pair<Vec3d, Vec3d> planeAxes(const DicomPlane& p0, const Refusal& refuse) {
  Vec3d row{1, 0, 0}, col{0, 1, 0};
  if (p0.orientation) {
    const auto& o = *p0.orientation;
    row = {o[0], o[1], o[2]};
    col = {o[3], o[4], o[5]};
    if (std::fabs(norm(row) - 1) > kUnitTol || std::fabs(norm(col) - 1) > kUnitTol ||
        std::fabs(dot(row, col)) > kUnitTol)
      throw refuse("ImageOrientationPatient is not two orthogonal unit vectors");
    for (double& v : row) v /= norm(Vec3d{o[0], o[1], o[2]});
    for (double& v : col) v /= norm(Vec3d{o[3], o[4], o[5]});
  }
  return {row, col};
}

/// Sorts the slices by position along the normal; refuses slices without a position and repeated
/// positions (several volumes stacked in one series).
void orderAlongNormal(std::vector<Slice>& slices, const Vec3d& normal, const Refusal& refuse) {
  for (const auto& s : slices)
    if (!s.plane->position || !s.plane->orientation)
      throw refuse(s.name + " has no ImagePositionPatient/ImageOrientationPatient: the slices cannot be ordered");
  for (auto& s : slices) s.along = dot(*s.plane->position, normal);
  std::stable_sort(slices.begin(), slices.end(), [](const Slice& a, const Slice& b) { return a.along < b.along; });
  const std::size_t n = slices.size();
  std::size_t distinct = 1;
  for (std::size_t i = 1; i < n; ++i)
    if (slices[i].along - slices[i - 1].along >= kSamePositionMm) ++distinct;
  if (distinct == n) return;
  for (std::size_t i = 1; i < n; ++i)
    if (slices[i].along - slices[i - 1].along < kSamePositionMm)
      throw refuse("several volumes in one series: " + std::to_string(n) + " images at " + std::to_string(distinct) +
                   " positions (" + slices[i - 1].name + " and " + slices[i].name + " both at " +
                   fmt(slices[i].along, 6) + " mm along the normal)");
}

// Gantry tilt: the positions must step along the normal of the image plane.
void checkNoTilt(const std::vector<Slice>& slices, const Vec3d& normal, const Refusal& refuse) {
  const Vec3d& origin = *slices.front().plane->position;
  for (const auto& s : slices) {
    const Vec3d d = minus(*s.plane->position, origin);
    const double along = dot(d, normal);
    const Vec3d inPlane{d[0] - along * normal[0], d[1] - along * normal[1], d[2] - along * normal[2]};
    const double off = norm(inPlane);
    if (off > kTiltMm + kTiltPerMm * std::fabs(along)) {
      const double degrees = std::atan2(off, std::fabs(along)) * 180.0 / M_PI;
      throw refuse("gantry tilt or sheared stack: the slices step " + fmt(degrees, 3) +
                   " degrees off the normal of their ImageOrientationPatient (" + s.name + " lies " + fmt(off) +
                   " mm sideways); resample it upstream (e.g. dcm2niix corrects gantry tilt)");
    }
  }
}

/// The slice spacing of slices ordered along the normal; refuses missing slices (a gap of k
/// spacings is k - 1 of them) and non-uniform spacing.
double regularStep(const std::vector<Slice>& slices, const Refusal& refuse) {
  const std::size_t n = slices.size();
  std::vector<double> gaps(n - 1);
  for (std::size_t i = 0; i + 1 < n; ++i) gaps[i] = slices[i + 1].along - slices[i].along;
  std::vector<double> sorted = gaps;
  std::nth_element(sorted.begin(), sorted.begin() + long(sorted.size() / 2), sorted.end());
  const double typical = sorted[sorted.size() / 2];
  const double tol = kRelSpacingTol * typical;
  std::string missing;
  std::size_t missingCount = 0;
  for (std::size_t i = 0; i + 1 < n; ++i) {
    const double k = std::round(gaps[i] / typical);
    if (k >= 2 && std::fabs(gaps[i] - k * typical) <= tol * k) {
      missingCount += std::size_t(k) - 1;
      if (missing.size() < 300)
        missing += (missing.empty() ? "" : "; ") + std::to_string(long(k) - 1) + " between " + slices[i].name + " at " +
                   fmt(slices[i].along, 6) + " mm and " + slices[i + 1].name + " at " + fmt(slices[i + 1].along, 6) +
                   " mm";
    }
  }
  if (missingCount > 0)
    throw refuse("missing slices: " + std::to_string(missingCount) + " missing (" + missing +
                 " along the normal; spacing " + fmt(typical) + " mm elsewhere)");
  const double step = (slices.back().along - slices.front().along) / double(n - 1);
  for (std::size_t i = 0; i < n; ++i) {
    const double off = slices[i].along - (slices.front().along + double(i) * step);
    if (std::fabs(off) > kRelSpacingTol * step) {
      const auto [lo, hi] = std::minmax_element(gaps.begin(), gaps.end());
      throw refuse("non-uniform slice spacing: gaps from " + fmt(*lo) + " to " + fmt(*hi) + " mm (" + slices[i].name +
                   " is " + fmt(off) + " mm off a regular grid)");
    }
  }
  return step;
}

}  // namespace

DicomSeriesLayout layoutDicomSeries(const fs::path& dir, const DicomSeriesFiles& series) {
  const Refusal refuse{dir, "DICOM " + series.label()};
  const auto images = imageInstances(series, refuse);
  DicomSeriesLayout layout;
  std::vector<Slice> slices = slicesOf(dir, images, layout, refuse);
  checkImagesAlike(images, refuse);
  checkOneVolume(slices, refuse);
  checkPlanesAlike(slices, refuse);

  const DicomInstance& first = *images.front();
  const DicomPlane& p0 = *slices.front().plane;
  Geometry& g = layout.geometry;
  g.size = {first.columns, first.rows, slices.size()};
  if (p0.pixelSpacing)
    g.spacing = {(*p0.pixelSpacing)[1], (*p0.pixelSpacing)[0], 1.0};  // (between columns, between rows)
  const auto [row, col] = planeAxes(p0, refuse);
  const Vec3d normal = cross(row, col);
  if (slices.size() == 1) {
    // One slice: no neighbour to measure the spacing from; SpacingBetweenSlices, else SliceThickness.
    if (p0.position) g.origin = *p0.position;
    g.spacing[2] = first.spacingBetweenSlices > 0 ? first.spacingBetweenSlices
                   : first.sliceThickness > 0     ? first.sliceThickness
                                                  : 1.0;
  } else {
    orderAlongNormal(slices, normal, refuse);
    checkNoTilt(slices, normal, refuse);
    g.spacing[2] = regularStep(slices, refuse);
    g.origin = *slices.front().plane->position;
  }
  for (int r = 0; r < 3; ++r) {
    g.direction[r * 3 + 0] = row[r];
    g.direction[r * 3 + 1] = col[r];
    g.direction[r * 3 + 2] = normal[r];
  }
  if (layout.multiFrame) {
    for (const auto& s : slices) layout.frameOrder.push_back(s.index);
  } else if (images.size() > 1) {
    for (const auto& s : slices) layout.files.push_back(images[s.index]->path);
  }
  g.validate(dir.string());
  return layout;
}

}  // namespace mr2ct::detail
