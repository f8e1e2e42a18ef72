#pragma once
// Private to the registration sources: the pieces registerImages() chains together.
// Stages: initialisation (centres, moments, rotation search), rigid, affine, B-spline.
#include <string>
#include <vector>

#include "mr2ct/preprocessing/ItkInterop.h"
#include "mr2ct/preprocessing/Registration.h"

namespace mr2ct::registration {

/// A multi-resolution schedule for one stage (ITK v4 shrink + smoothing per level).
struct Schedule {
  std::vector<unsigned> shrink;
  std::vector<double> sigmaMm;
  std::vector<double> samplingFraction;  ///< per level, capped so each level has at most maxSamples samples
  std::vector<double> firstStep;         ///< optimiser's initial step per level (≈ mm of motion)
  int iterations = 200;
  /// false (default): regular-step gradient descent, one metric evaluation per iteration. true:
  /// conjugate gradient with a golden-section line search, ~8 evaluations per iteration; measured on
  /// the phantom pairs it cost 2.6x the time for the same TRE (the error is set by the sample noise
  /// of the finest level, not by the optimiser), so it is kept for experiments only.
  bool lineSearch = false;
  double regularStepFraction = 0.5;  ///< regular step: first step per level, fraction of firstStep
  int bins = 32;
  std::uint32_t seed = 1;
};

struct StageReport {
  double metric = 0;
  double penalty = 0;  ///< B-spline stage: the smoothness penalty at the end (not part of `metric`)
  std::vector<int> iterationsPerLevel;
};

Schedule scheduleFrom(const RegistrationOptions& options, const Geometry& fixed, std::size_t firstLevel = 0);

struct Images {
  ItkFloatImage::Pointer fixed;
  ItkFloatImage::Pointer moving;
  ItkMaskImage::Pointer fixedMask;  ///< may be null
};

/// Versor rigid stage starting from `initial` (rigid or identity).
SpatialTransform rigidStage(const Images& images, const SpatialTransform& initial, const Schedule& schedule,
                            StageReport& report);
/// Affine stage starting from a linear transform.
SpatialTransform affineStage(const Images& images, const SpatialTransform& initial, const Schedule& schedule,
                             StageReport& report);
/// B-spline stage on top of a linear transform; returns linear ∘ bspline (a composite).
struct BSplineSettings {
  double gridMm = 50;
  double bending = 0;  ///< weight of the mean squared (dimensionless) second difference of the control points
  double shrink = 0;   ///< weight of their mean squared displacement (in control-point spacings)
};
SpatialTransform bsplineStage(const Images& images, const SpatialTransform& linear, const BSplineSettings& settings,
                              const Schedule& schedule, StageReport& report);

struct Initialisation {
  SpatialTransform transform;  ///< the winner after its short coarse refinement: where the rigid stage starts
  SpatialTransform start;      ///< the winner's start before refinement (centres + turn): the QA displacement's reference
  std::string description;
  double overlap = 0;  ///< fraction of sampled fixed points that map into the moving image
  double metric = 0;
};

/// Geometry centre / moments, plus (options.rotationSearch) the 24 axis-aligned rotations (every
/// 90° and 180° turn) compared by Mattes MI on coarse images; the best few are refined briefly at
/// the coarse level and the best one wins. DataError when no candidate overlaps.
Initialisation initialise(const Volume& fixed, const Volume& moving, const RegistrationOptions& options);

}  // namespace mr2ct::registration
