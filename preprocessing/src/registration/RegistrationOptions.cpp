// RegistrationOptions / RegistrationQA: parsing, validation, JSON records.
#include <cmath>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/preprocessing/Registration.h"

namespace mr2ct {

RegistrationKind parseRegistrationKind(const std::string& name) {
  if (name == "none") return RegistrationKind::None;
  if (name == "rigid") return RegistrationKind::Rigid;
  if (name == "affine") return RegistrationKind::Affine;
  if (name == "bspline") return RegistrationKind::BSpline;
  throw OptionError("{registration.kind}: unknown kind '" + name + "' (expected none, rigid, affine or bspline)");
}

std::string toString(RegistrationKind kind) {
  switch (kind) {
    case RegistrationKind::None: return "none";
    case RegistrationKind::Rigid: return "rigid";
    case RegistrationKind::Affine: return "affine";
    case RegistrationKind::BSpline: return "bspline";
  }
  return "?";
}

void RegistrationOptions::validate() const {
  if (histogramBins < 8 || histogramBins > 256)
    throw UsageError("registration: histogramBins must be in [8, 256], got " + std::to_string(histogramBins));
  if (!(samplingPercentage > 0 && samplingPercentage <= 1))
    throw UsageError("registration: samplingPercentage must be in (0, 1], got " + std::to_string(samplingPercentage));
  if (shrinkFactors.empty()) throw UsageError("registration: shrinkFactors must not be empty");
  if (shrinkFactors.size() != smoothingSigmasMm.size())
    throw UsageError("registration: shrinkFactors and smoothingSigmasMm must have the same number of levels (" +
                     std::to_string(shrinkFactors.size()) + " vs " + std::to_string(smoothingSigmasMm.size()) + ")");
  for (int f : shrinkFactors)
    if (f < 1) throw UsageError("registration: shrink factors must be >= 1, got " + std::to_string(f));
  for (double s : smoothingSigmasMm)
    if (!(s >= 0) || !std::isfinite(s))
      throw UsageError("registration: smoothing sigmas must be >= 0, got " + std::to_string(s));
  if (iterations < 1) throw UsageError("registration: iterations must be >= 1, got " + std::to_string(iterations));
  if (!(bsplineGridMm > 0)) throw UsageError("registration: bsplineGridMm must be > 0");
  if (!(bsplineBending >= 0) || !std::isfinite(bsplineBending) || !(bsplineShrink >= 0) || !std::isfinite(bsplineShrink))
    throw UsageError("registration: bsplineBending and bsplineShrink must be >= 0");
  if (maxSamplesPerLevel < 100) throw UsageError("registration: maxSamplesPerLevel must be >= 100");
  if (!(searchSpacingMm > 0)) throw UsageError("registration: searchSpacingMm must be > 0");
  if (!(maskMarginMm >= 0) || !std::isfinite(maskMarginMm))
    throw UsageError("registration: maskMarginMm must be >= 0, got " + std::to_string(maskMarginMm));
}

nlohmann::json RegistrationOptions::toJson() const {
  return {{"kind", toString(kind)},
          {"histogram_bins", histogramBins},
          {"sampling_percentage", samplingPercentage},
          {"max_samples_per_level", maxSamplesPerLevel},
          {"shrink_factors", shrinkFactors},
          {"smoothing_sigmas_mm", smoothingSigmasMm},
          {"iterations", iterations},
          {"rotation_search", rotationSearch},
          {"align_centres", alignCentres},
          {"search_spacing_mm", searchSpacingMm},
          {"bspline_grid_mm", bsplineGridMm},
          {"bspline_bending", bsplineBending},
          {"bspline_shrink", bsplineShrink},
          {"mask_margin_mm", maskMarginMm},
          {"seed", seed}};
}

nlohmann::json RegistrationQA::toJson() const {
  return {{"final_metric", finalMetric},       {"smoothness_penalty", smoothnessPenalty},
          {"iterations_per_level", iterationsPerLevel},
          {"seconds", seconds},                {"mean_displacement_mm", meanDisplacementMm},
          {"initialisation", initialisation}, {"warnings", warnings}};
}

}  // namespace mr2ct
