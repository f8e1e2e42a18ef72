#pragma once
// Registration of a moving image (CT) to a fixed image (MR) with Mattes mutual information:
// multi-resolution, random sampling, rigid then affine (optionally B-spline), initialised by
// geometry centre / moments plus a coarse search over large rotations (180° turns included).
// CONTRACT between the registration and the preprocessing work: extend, do not break.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mr2ct/preprocessing/SpatialTransform.h"
#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

enum class RegistrationKind { None, Rigid, Affine, BSpline };
RegistrationKind parseRegistrationKind(const std::string& name);  ///< "none|rigid|affine|bspline", UsageError otherwise
std::string toString(RegistrationKind kind);

struct RegistrationOptions {
  RegistrationKind kind = RegistrationKind::Affine;  ///< rigid stage always runs first unless None
  int histogramBins = 32;
  double samplingPercentage = 0.05;                  ///< random samples per iteration, fraction of voxels
  std::vector<int> shrinkFactors{4, 2, 1};
  std::vector<double> smoothingSigmasMm{2.0, 1.0, 0.0};
  int iterations = 200;                              ///< per level
  bool rotationSearch = true;                        ///< coarse search over large rotations first
  bool alignCentres = true;                          ///< false: start from the scanners' world coordinates as they are
  std::size_t maxSamplesPerLevel = 40000;            ///< cap on the random samples of one level (at least 5000)
  double searchSpacingMm = 5.0;                      ///< voxel size of the coarse images the search compares
  double bsplineGridMm = 50.0;
  /// B-spline smoothness: weights of the control points' bending energy and of their squared
  /// displacement, both dimensionless (see BSplineRegularisedMetric); 0 and 0 = unregularised.
  /// Defaults chosen on textured test pairs (tests/test_registration.cpp): they stop the drift
  /// from a rigid truth and halve the error of a ±3 mm bending that MI alone does not reduce.
  double bsplineBending = 10.0;
  double bsplineShrink = 1.0;
  /// The fixed mask is grown by this margin before it limits the metric's samples, so the body
  /// outline stays in view (a mask cut at the skin lets MI reward rescaling the inside).
  double maskMarginMm = 10.0;
  std::uint32_t seed = 12345;
  void validate() const;                             ///< UsageError naming the bad option
  nlohmann::json toJson() const;
};

struct RegistrationQA {
  double finalMetric = 0;                 ///< Mattes MI (negative: ITK minimises −MI)
  double smoothnessPenalty = 0;           ///< B-spline only: the regularisation term at the end (not in finalMetric)
  std::vector<int> iterationsPerLevel;    ///< of the last stage
  double seconds = 0;
  double meanDisplacementMm = 0;          ///< start (centres + chosen turn) vs final transform, over the fixed mask or grid
  std::string initialisation;             ///< e.g. "moments + rotation search (180° about x)"
  std::vector<std::string> warnings;
  nlohmann::json toJson() const;
};

struct RegistrationResult {
  SpatialTransform transform;  ///< fixed (MR) → moving (CT)
  RegistrationQA qa;
};

/// Throws DataError when the images cannot be registered (no overlap after the search, flat image).
RegistrationResult registerImages(const Volume& fixed, const Volume& moving, const RegistrationOptions& options,
                                  const Mask* fixedMask = nullptr);

}  // namespace mr2ct
