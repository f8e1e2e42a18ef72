// registerImages: checks the inputs, then chains initialisation → rigid → affine → B-spline and
// fills the QA record. The stages live in Registration{Initialisation,Rigid,Affine,BSpline}.cpp.
#include "mr2ct/preprocessing/Registration.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>

#include <spdlog/fmt/ranges.h>

#include "RegistrationInternal.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/Log.h"
#include "mr2ct/core/Stopwatch.h"
#include "mr2ct/preprocessing/BodyMask.h"

namespace mr2ct {

namespace registration {

constexpr double kMinSamples = 5000;

Schedule scheduleFrom(const RegistrationOptions& o, const Geometry& fixed, std::size_t firstLevel) {
  Schedule s;
  const double meanSpacing = std::cbrt(fixed.spacing[0] * fixed.spacing[1] * fixed.spacing[2]);
  firstLevel = std::min(firstLevel, o.shrinkFactors.size() - 1);
  for (std::size_t l = firstLevel; l < o.shrinkFactors.size(); ++l) {
    const unsigned f = static_cast<unsigned>(o.shrinkFactors[l]);
    double voxels = 1;
    for (int i = 0; i < 3; ++i) voxels *= double(std::max<std::size_t>(1, fixed.size[i] / f));
    s.shrink.push_back(f);
    s.sigmaMm.push_back(o.smoothingSigmasMm[l]);
    // The fraction asked for, but never fewer than kMinSamples points (small images, coarse levels:
    // Mattes MI is too noisy below a few thousand samples) nor more than maxSamplesPerLevel.
    const double wanted = std::clamp(o.samplingPercentage * voxels, std::min(voxels, kMinSamples),
                                     std::max(double(o.maxSamplesPerLevel), std::min(voxels, kMinSamples)));
    s.samplingFraction.push_back(std::min(1.0, wanted / voxels));
    s.firstStep.push_back(meanSpacing * f);
  }
  s.iterations = o.iterations;
  s.bins = o.histogramBins;
  s.seed = o.seed;
  return s;
}

}  // namespace registration

namespace {

void checkImage(const Volume& v, const char* which) {
  if (v.empty()) throw DataError(std::string("registration: the ") + which + " image is empty");
  v.geometry().validate(std::string("registration: the ") + which + " image");
  if (v.firstNonFinite() >= 0)
    throw DataError(std::string("registration: the ") + which + " image has NaN or infinite voxels");
  const auto r = v.range();
  if (!(double(r.max) - double(r.min) > 1e-6 * std::max(1.0, std::abs(double(r.max))))) {
    std::ostringstream s;
    s << "registration: the " << which << " image is flat (every voxel is " << r.min << ")";
    throw DataError(s.str());
  }
}

}  // namespace

RegistrationResult registerImages(const Volume& fixed, const Volume& moving, const RegistrationOptions& options,
                                  const Mask* fixedMask) {
  options.validate();
  checkImage(fixed, "fixed");
  checkImage(moving, "moving");
  if (fixedMask) {
    if (!fixedMask->geometry().sameAs(fixed.geometry()))
      throw DataError("registration: the fixed mask's grid differs from the fixed image's (" +
                      fixedMask->geometry().differenceFrom(fixed.geometry()) + ")");
    if (fixedMask->count() == 0) throw DataError("registration: the fixed mask is empty");
  }
  const Stopwatch watch;
  RegistrationResult result;
  if (options.kind == RegistrationKind::None) {
    result.qa.initialisation = "none (world coordinates as they are)";
    return result;
  }

  const registration::Initialisation init = registration::initialise(fixed, moving, options);
  // The grown mask must outlive `images` (the ITK view shares its buffer).
  const Mask metricMask = fixedMask ? dilateMaskBox(*fixedMask, options.maskMarginMm) : Mask();
  registration::Images images{itkView(fixed), itkView(moving), fixedMask ? itkView(metricMask) : nullptr};
  registration::StageReport report;
  const auto elapsed = [&watch] { return watch.seconds(); };
  spdlog::debug("registration: initialisation done after {:.2f} s", elapsed());
  SpatialTransform current =
      registration::rigidStage(images, init.transform, registration::scheduleFrom(options, fixed.geometry()), report);
  spdlog::debug("registration: rigid stage done after {:.2f} s (iterations {})", elapsed(),
                fmt::join(report.iterationsPerLevel, ","));
  // Later stages start close to the answer: they skip the coarsest level.
  if (options.kind == RegistrationKind::Affine || options.kind == RegistrationKind::BSpline)
    current = registration::affineStage(images, current, registration::scheduleFrom(options, fixed.geometry(), 1),
                                        report);
  if (options.kind == RegistrationKind::BSpline)
    current = registration::bsplineStage(images, current,
                                         {options.bsplineGridMm, options.bsplineBending, options.bsplineShrink},
                                         registration::scheduleFrom(options, fixed.geometry(), 1), report);

  result.transform = current;
  auto& qa = result.qa;
  qa.finalMetric = report.metric;
  qa.smoothnessPenalty = report.penalty;
  qa.iterationsPerLevel = report.iterationsPerLevel;
  qa.initialisation = init.description;
  // Measured from the start the search chose (centres + turn), not from its coarse refinement: an
  // already aligned pair then reads ≈0 (the refinement on 5 mm copies alone moves it ~0.5 mm).
  qa.meanDisplacementMm = fixedMask ? init.start.meanDistance(current, *fixedMask)
                                    : init.start.meanDistance(current, fixed.geometry());
  if (init.overlap < 0.5) {
    std::ostringstream s;
    s << "only " << int(std::lround(100 * init.overlap)) << "% of the fixed image overlaps the moving image";
    qa.warnings.push_back(s.str());
  }
  if (qa.finalMetric > -0.05) qa.warnings.push_back("weak mutual information at the end: check the overlay");
  qa.seconds = elapsed();
  return result;
}

}  // namespace mr2ct
