// Initialisation: align centres (geometry or intensity moments) and search the 24 axis-aligned
// rotations (every 90°/180° turn about the world axes), so a feet-first CT and a head-first MR need
// no hand-made start. Candidates are compared by Mattes MI on coarse (≈5 mm) images over one
// fixed, seeded set of points; the best few are refined briefly and the best refined one wins.
#include <itkSmoothingRecursiveGaussianImageFilter.h>
#include <itkVersorRigid3DTransform.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>

#include "RegistrationStage.h"
#include "mr2ct/core/Log.h"
#include "mr2ct/core/Stopwatch.h"
#include "mr2ct/preprocessing/Resampling.h"
#include "mr2ct/preprocessing/Statistics.h"

namespace mr2ct::registration {

namespace {

constexpr double kMinOverlap = 0.05;  // fraction of fixed points that must land inside the moving image
constexpr std::size_t kSearchPoints = 20000;
constexpr std::size_t kRefined = 3;
constexpr std::size_t kRefinePoints = 8000;

/// Smoothed and resampled to about `spacingMm` (never finer than the input).
Volume coarseCopy(const Volume& v, double spacingMm) {
  const Geometry& g = v.geometry();
  Vec3 sp{};
  for (int i = 0; i < 3; ++i) sp[i] = std::max(spacingMm, g.spacing[i]);
  auto smooth = itk::SmoothingRecursiveGaussianImageFilter<ItkFloatImage, ItkFloatImage>::New();
  auto view = itkView(v);
  smooth->SetInput(view);
  smooth->SetSigma(0.5 * spacingMm);
  smooth->Update();
  const Volume smoothed = volumeFromItk(smooth->GetOutput());
  const auto range = v.range();
  return resampleVolume(smoothed, withSpacing(g, sp), SpatialTransform::identity(), Interpolation::Linear, range.min);
}

/// Intensity centroid with robust weights: values above the 5th percentile count, clipped at the
/// 99th, so background (air: 0 in MR, -1024 HU in CT) weighs nothing and metal does not dominate.
Vec3 momentsCentre(const Volume& v) {
  const auto p = percentiles(v.data(), v.voxelCount(), {5.0, 99.0});
  const double lo = p[0], hi = p[1];
  const Geometry& g = v.geometry();
  double sw = 0;
  Vec3 si{0, 0, 0};
  for (std::size_t z = 0; z < g.size[2]; ++z)
    for (std::size_t y = 0; y < g.size[1]; ++y)
      for (std::size_t x = 0; x < g.size[0]; ++x) {
        const double w = std::clamp(double(v.at(x, y, z)) - lo, 0.0, std::max(hi - lo, 1e-12));
        sw += w;
        si[0] += w * double(x);
        si[1] += w * double(y);
        si[2] += w * double(z);
      }
  if (sw <= 0) return g.center();
  return g.indexToPhysical({si[0] / sw, si[1] / sw, si[2] / sw});
}

std::vector<Mat3> axisRotations() {
  static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  std::vector<Mat3> out;
  for (const auto& p : perms)
    for (int signs = 0; signs < 8; ++signs) {
      Mat3 m{};
      for (int r = 0; r < 3; ++r) m[r * 3 + p[r]] = (signs >> r & 1) ? -1.0 : 1.0;
      if (determinant(m) > 0) out.push_back(m);
    }
  // identity first, so ties keep the scanners' own orientation
  std::stable_sort(out.begin(), out.end(), [](const Mat3& a, const Mat3& b) {
    return (a[0] + a[4] + a[8]) > (b[0] + b[4] + b[8]);
  });
  return out;
}

std::string rotationLabel(const Mat3& r) {
  const double tr = r[0] + r[4] + r[8];
  const double angle = std::acos(std::clamp((tr - 1) / 2, -1.0, 1.0));
  const int degrees = int(std::lround(angle * 180.0 / M_PI));
  if (degrees == 0) return "no turn";
  Vec3 axis{};
  if (degrees == 180) {
    for (int i = 0; i < 3; ++i) axis[i] = std::sqrt(std::max(0.0, (r[i * 4] + 1) / 2));
    // signs relative to the largest component
    const int k = int(std::max_element(axis.begin(), axis.end()) - axis.begin());
    for (int i = 0; i < 3; ++i)
      if (i != k && r[k * 3 + i] < 0) axis[i] = -axis[i];
  } else {
    axis = {r[7] - r[5], r[2] - r[6], r[3] - r[1]};
  }
  static const char* names = "xyz";
  int nonzero = 0, which = 0;
  for (int i = 0; i < 3; ++i)
    if (std::abs(axis[i]) > 1e-6) {
      ++nonzero;
      which = i;
    }
  std::ostringstream s;
  s << degrees << "° about ";
  if (nonzero == 1) {
    if (degrees != 180 && axis[which] < 0) s << '-';
    s << names[which];
  } else {
    s << "(";
    for (int i = 0; i < 3; ++i) s << (i ? "," : "") << (axis[i] > 1e-6 ? 1 : axis[i] < -1e-6 ? -1 : 0);
    s << ")";
  }
  return s.str();
}

/// Scores rigid candidates with Mattes MI over one fixed point set.
class CandidateScorer {
 public:
  CandidateScorer(const Volume& fixed, const Volume& moving, int bins, std::uint32_t seed)
      : fixed_(itkView(fixed)), moving_(itkView(moving)), bins_(bins) {
    const Geometry& g = fixed.geometry();
    points_ = Metric::FixedSampledPointSetType::New();
    std::mt19937 rng(seed);
    const std::size_t n = g.voxelCount();
    std::uniform_real_distribution<double> jitter(-0.5, 0.5);
    std::uniform_int_distribution<std::size_t> pick(0, n - 1);
    const std::size_t count = std::min(n, kSearchPoints);
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t k = count == n ? i : pick(rng);
      const std::size_t x = k % g.size[0], y = (k / g.size[0]) % g.size[1], z = k / (g.size[0] * g.size[1]);
      const Vec3 p = g.indexToPhysical({double(x) + jitter(rng), double(y) + jitter(rng), double(z) + jitter(rng)});
      Metric::FixedSampledPointSetType::PointType q;
      // The point set stores ITK's default mesh coordinates (float): sub-micrometre rounding.
      using Coordinate = Metric::FixedSampledPointSetType::PointType::ValueType;
      for (int j = 0; j < 3; ++j) q[j] = static_cast<Coordinate>(p[j]);
      points_->SetPoint(i, q);
    }
  }

  struct Score {
    double value = std::numeric_limits<double>::infinity();
    double overlap = 0;
  };

  Score score(const SpatialTransform& t) const {
    Score s;
    auto metric = makeMetric(bins_, nullptr);
    metric->SetFixedImage(fixed_);
    metric->SetMovingImage(moving_);
    metric->SetFixedSampledPointSet(points_);
    metric->SetUseSampledPointSet(true);
    metric->SetMovingTransform(const_cast<SpatialTransform::ItkTransform*>(t.itk()));
    try {
      metric->Initialize();
      const double v = metric->GetValue();
      s.overlap = double(metric->GetNumberOfValidPoints()) / double(points_->GetNumberOfPoints());
      if (s.overlap >= kMinOverlap && std::isfinite(v)) s.value = v;
    } catch (const itk::ExceptionObject&) {
      // no valid point: stays at +inf
    }
    return s;
  }

 private:
  ItkFloatImage::Pointer fixed_, moving_;
  Metric::FixedSampledPointSetType::Pointer points_;
  int bins_;
};

struct Candidate {
  SpatialTransform transform;
  std::string label;
  CandidateScorer::Score score;
};

struct Centring {
  std::string name;
  Vec3 fixedCentre, movingCentre;
};

/// The centre pairs a start may align: geometry centres and intensity moments, or none (world coordinates).
std::vector<Centring> centringsFor(const Volume& fixed, const Volume& moving, const Volume& coarseFixed,
                                   const Volume& coarseMoving, const RegistrationOptions& options) {
  if (!options.alignCentres) return {{"world coordinates", fixed.geometry().center(), fixed.geometry().center()}};
  return {{"geometry centre", fixed.geometry().center(), moving.geometry().center()},
          {"moments", momentsCentre(coarseFixed), momentsCentre(coarseMoving)}};
}

/// The best-scoring centring for each rotation.
std::vector<Candidate> bestStartPerRotation(const std::vector<Mat3>& rotations, const std::vector<Centring>& centrings,
                                            const CandidateScorer& scorer) {
  std::vector<Candidate> perRotation;
  for (const Mat3& r : rotations) {
    Candidate best;
    for (const Centring& c : centrings) {
      Vec3 t{};
      for (int i = 0; i < 3; ++i) t[i] = c.movingCentre[i] - c.fixedCentre[i];
      Candidate cand{SpatialTransform::rigid(r, t, c.fixedCentre), c.name + ", " + rotationLabel(r), {}};
      cand.score = scorer.score(cand.transform);
      if (cand.score.value < best.score.value || best.label.empty()) best = cand;
    }
    perRotation.push_back(best);
  }
  return perRotation;
}

/// Best start first; DataError when none overlaps.
void rankStarts(std::vector<Candidate>& perRotation) {
  std::stable_sort(perRotation.begin(), perRotation.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score.value < b.score.value; });
  if (!std::isfinite(perRotation.front().score.value)) {
    std::ostringstream s;
    s << "the images do not overlap after the initial search (best overlap "
      << int(std::lround(100 * perRotation.front().score.overlap)) << "% of the fixed image's points, at least "
      << int(kMinOverlap * 100) << "% needed)";
    throw DataError(s.str());
  }
}

/// A few dozen rigid iterations at the coarse level, with no pyramid.
Schedule refinementSchedule(const Volume& coarseFixed, const RegistrationOptions& options) {
  Schedule s;
  s.shrink = {1};
  s.sigmaMm = {0.0};
  s.samplingFraction = {std::min(1.0, double(kRefinePoints) / double(coarseFixed.voxelCount()))};
  s.firstStep = {options.searchSpacingMm};
  s.iterations = 20;
  s.lineSearch = false;
  s.regularStepFraction = 0.25;  // ≈1.25 mm first step on the 5 mm copies
  s.bins = options.histogramBins;
  s.seed = options.seed;
  return s;
}

struct Refined {
  Candidate winner;
  SpatialTransform start;  ///< the winner's transform before refinement
  std::size_t tried = 0;   ///< starts considered for refinement
};

/// Short refinement of the best few at the coarse level: the raw score of a start is a noisy
/// guide, the value after a few dozen rigid iterations is a reliable one. Falls back to the best
/// unrefined start when no refinement stays in the image.
Refined refineBest(const Volume& coarseFixed, const Volume& coarseMoving, const std::vector<Candidate>& perRotation,
                   const CandidateScorer& scorer, const RegistrationOptions& options) {
  const Images coarse{itkView(coarseFixed), itkView(coarseMoving), nullptr};
  const Schedule s = refinementSchedule(coarseFixed, options);
  Refined best;
  best.tried = std::min(kRefined, perRotation.size());
  for (std::size_t i = 0; i < best.tried; ++i) {
    if (!std::isfinite(perRotation[i].score.value)) break;
    StageReport report;
    Candidate refined = perRotation[i];
    try {
      refined.transform = rigidStage(coarse, perRotation[i].transform, s, report);
    } catch (const DataError&) {
      continue;  // this start drifted out of the image: not a candidate
    }
    refined.score = scorer.score(refined.transform);
    spdlog::debug("rotation search: {}: start {:.4f}, refined {:.4f}", refined.label, perRotation[i].score.value,
                  refined.score.value);
    if (refined.score.value < best.winner.score.value || best.winner.label.empty()) {
      best.winner = refined;
      best.start = perRotation[i].transform;
    }
  }
  if (best.winner.label.empty() || !std::isfinite(best.winner.score.value)) {
    best.winner = perRotation.front();
    best.start = best.winner.transform;
  }
  return best;
}

Initialisation initialisationFrom(const Candidate& winner, const SpatialTransform& start, std::string description) {
  Initialisation init;
  init.transform = winner.transform;
  init.start = start;
  init.description = std::move(description);
  init.overlap = winner.score.overlap;
  init.metric = winner.score.value;
  return init;
}

}  // namespace

Initialisation initialise(const Volume& fixed, const Volume& moving, const RegistrationOptions& options) {
  const Stopwatch watch;
  const auto since = [&watch] { return watch.seconds(); };
  const Volume coarseFixed = coarseCopy(fixed, options.searchSpacingMm);
  const Volume coarseMoving = coarseCopy(moving, options.searchSpacingMm);
  const CandidateScorer scorer(coarseFixed, coarseMoving, options.histogramBins, options.seed);

  const std::vector<Centring> centrings = centringsFor(fixed, moving, coarseFixed, coarseMoving, options);
  const std::vector<Mat3> rotations =
      options.rotationSearch ? axisRotations() : std::vector<Mat3>{{1, 0, 0, 0, 1, 0, 0, 0, 1}};
  std::vector<Candidate> perRotation = bestStartPerRotation(rotations, centrings, scorer);
  spdlog::debug("rotation search: coarse copies and {} starts scored in {:.2f} s", rotations.size() * centrings.size(),
                since());
  rankStarts(perRotation);
  if (!options.rotationSearch)
    return initialisationFrom(perRotation.front(), perRotation.front().transform, perRotation.front().label);
  const double identityValue = [&] {
    for (const auto& c : perRotation)
      if (c.label.find("no turn") != std::string::npos) return c.score.value;
    return std::numeric_limits<double>::quiet_NaN();
  }();

  const Refined refined = refineBest(coarseFixed, coarseMoving, perRotation, scorer, options);
  spdlog::debug("rotation search: {} starts refined, {:.2f} s in all", refined.tried, since());
  std::ostringstream d;
  d << refined.winner.label << " (rotation search over " << rotations.size() << " turns; coarse MI "
    << refined.winner.score.value;
  if (std::isfinite(identityValue)) d << ", unturned start " << identityValue;
  d << ")";
  return initialisationFrom(refined.winner, refined.start, d.str());
}

}  // namespace mr2ct::registration
