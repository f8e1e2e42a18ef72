#pragma once
// The one gradient-descent stage template (ITK v4 ImageRegistrationMethodv4 + Mattes MI + regular
// step gradient descent, or conjugate gradient with line search, with physical-shift scales), shared
// by the rigid and affine stages.
#include <itkImageMaskSpatialObject.h>
#include <itkImageRegistrationMethodv4.h>
#include <itkMattesMutualInformationImageToImageMetricv4.h>
#include <itkRegistrationParameterScalesFromPhysicalShift.h>
#include <itkConjugateGradientLineSearchOptimizerv4.h>
#include <itkRegularStepGradientDescentOptimizerv4.h>

#include <chrono>
#include <memory>
#include <sstream>

#include "mr2ct/core/Log.h"

#include "RegistrationInternal.h"
#include "mr2ct/core/Error.h"

namespace mr2ct::registration {

using Metric = itk::MattesMutualInformationImageToImageMetricv4<ItkFloatImage, ItkFloatImage, ItkFloatImage, double>;

inline void configureMetric(Metric* metric, int bins, const ItkMaskImage* fixedMask) {
  metric->SetNumberOfHistogramBins(bins);
  // Gradients by central differences at the sampled points only: with sparse random sampling this
  // is far cheaper than filtering the whole image.
  metric->SetUseMovingImageGradientFilter(false);
  metric->SetUseFixedImageGradientFilter(false);
  if (fixedMask) {
    auto so = itk::ImageMaskSpatialObject<3>::New();
    so->SetImage(fixedMask);
    so->Update();
    metric->SetFixedImageMask(so);
  }
}

inline Metric::Pointer makeMetric(int bins, const ItkMaskImage* fixedMask) {
  auto metric = Metric::New();
  configureMetric(metric.GetPointer(), bins, fixedMask);
  return metric;
}

/// Runs one stage in place on `transform`.
/// The multi-resolution schedule (shrink, physical smoothing), seeded random sampling of a v4
/// registration method; shared by every stage. Returns the number of levels.
template <class Method>
unsigned configurePyramid(Method* method, const Schedule& s) {
  const unsigned levels = static_cast<unsigned>(s.shrink.size());
  typename Method::ShrinkFactorsArrayType shrink(levels);
  typename Method::SmoothingSigmasArrayType sigmas(levels);
  typename Method::MetricSamplingPercentageArrayType sampling(levels);
  for (unsigned l = 0; l < levels; ++l) {
    shrink[l] = s.shrink[l];
    sigmas[l] = s.sigmaMm[l];
    sampling[l] = s.samplingFraction[l];
  }
  method->SetNumberOfLevels(levels);
  method->SetShrinkFactorsPerLevel(shrink);
  method->SetSmoothingSigmasPerLevel(sigmas);
  method->SmoothingSigmasAreSpecifiedInPhysicalUnitsOn();
  method->SetMetricSamplingStrategy(Method::MetricSamplingStrategyEnum::RANDOM);
  method->SetMetricSamplingPercentagePerLevel(sampling);
  method->MetricSamplingReinitializeSeed(static_cast<int>(s.seed % 2147483647u));
  return levels;
}

/// The stage's optimiser and, by kind, the one whose step is set per level (the other is null).
struct StageOptimizer {
  using Regular = itk::RegularStepGradientDescentOptimizerv4<double>;
  using LineSearch = itk::ConjugateGradientLineSearchOptimizerv4Template<double>;
  using Base = itk::GradientDescentOptimizerv4Template<double>;
  Base::Pointer optimizer;
  Regular* regular = nullptr;
  LineSearch* cg = nullptr;
};

inline StageOptimizer makeStageOptimizer(const Schedule& s,
                                         itk::OptimizerParameterScalesEstimatorTemplate<double>* scales) {
  StageOptimizer made;
  if (s.lineSearch) {
    auto o = StageOptimizer::LineSearch::New();
    o->SetLowerLimit(0);
    o->SetUpperLimit(3.0);
    o->SetEpsilon(0.1);
    o->SetMaximumLineSearchIterations(8);
    o->SetDoEstimateLearningRateOnce(true);
    o->SetDoEstimateLearningRateAtEachIteration(false);
    o->SetLearningRate(1.0);
    made.cg = o.GetPointer();
    made.optimizer = o.GetPointer();
  } else {
    auto o = StageOptimizer::Regular::New();
    o->SetRelaxationFactor(0.7);
    o->SetGradientMagnitudeTolerance(1e-8);
    o->SetDoEstimateLearningRateOnce(false);
    o->SetDoEstimateLearningRateAtEachIteration(false);
    made.regular = o.GetPointer();
    made.optimizer = o.GetPointer();
  }
  made.optimizer->SetScalesEstimator(scales);
  made.optimizer->SetNumberOfIterations(static_cast<itk::SizeValueType>(s.iterations));
  made.optimizer->SetReturnBestParametersAndValue(false);
  // Only the line-search optimiser monitors convergence (ITK's regular-step one stops on its step
  // length, see minStepRatio in observeLevels).
  made.optimizer->SetConvergenceWindowSize(10);
  made.optimizer->SetMinimumConvergenceValue(1e-6);
  return made;
}

/// Sets each level's first step to match its voxel size, counts iterations per level into
/// `report`, and logs each level's iterations and time. Returns the start time of the level running.
template <class Method>
std::shared_ptr<std::chrono::steady_clock::time_point> observeLevels(Method* m, const StageOptimizer& so,
                                                                     const Schedule& s, StageReport& report,
                                                                     const char* stageName) {
  // Initial step per level as a fraction of the level's voxel size. The line search only needs an
  // upper bound; the regular-step optimiser shrinks its step at each reversal, so it starts smaller.
  const double stepFactor = s.lineSearch ? 1.0 : s.regularStepFraction, minStepRatio = 0.002;
  StageOptimizer::Regular* regular = so.regular;
  StageOptimizer::LineSearch* cg = so.cg;
  StageOptimizer::Base* o = so.optimizer.GetPointer();
  auto levelStart = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  m->AddObserver(itk::MultiResolutionIterationEvent(), [=, &s, &report](const itk::EventObject&) {
    const auto level = m->GetCurrentLevel();
    const auto now = std::chrono::steady_clock::now();
    if (level > 0)
      spdlog::debug("{} level {}: {} iterations, {:.2f} s", stageName, level - 1, report.iterationsPerLevel[level - 1],
                    std::chrono::duration<double>(now - *levelStart).count());
    *levelStart = now;
    const double step = stepFactor * s.firstStep[level];
    if (regular) {
      regular->SetLearningRate(step);
      regular->SetMinimumStepLength(step * minStepRatio);
    }
    if (cg) cg->SetMaximumStepSizeInPhysicalUnits(step);
  });
  o->AddObserver(itk::IterationEvent(), [m, o, &report](const itk::EventObject&) {
    const auto level = m->GetCurrentLevel();
    if (level < report.iterationsPerLevel.size()) ++report.iterationsPerLevel[level];
    if (spdlog::should_log(spdlog::level::trace)) {
      std::ostringstream pos;
      pos << o->GetCurrentPosition();
      spdlog::trace("registration level {} iteration {}: metric {} position {}", level, o->GetCurrentIteration(),
                    o->GetValue(), pos.str());
    }
  });
  return levelStart;
}

template <class TTransform>
void runGradientStage(const Images& images, TTransform* transform, const Schedule& s, StageReport& report,
                      const char* stageName, const SpatialTransform* fixedPart = nullptr) {
  using Method = itk::ImageRegistrationMethodv4<ItkFloatImage, ItkFloatImage, TTransform>;
  using Scales = itk::RegistrationParameterScalesFromPhysicalShift<Metric>;

  auto metric = makeMetric(s.bins, images.fixedMask.GetPointer());
  auto scales = Scales::New();
  scales->SetMetric(metric);
  const StageOptimizer so = makeStageOptimizer(s, scales);

  auto method = Method::New();
  method->SetFixedImage(images.fixed);
  method->SetMovingImage(images.moving);
  method->SetMetric(metric);
  method->SetOptimizer(so.optimizer);
  method->SetInitialTransform(transform);
  // The full mapping is fixedPart(transform(p)): the optimised part stays near identity.
  if (fixedPart) method->SetMovingInitialTransform(const_cast<SpatialTransform::ItkTransform*>(fixedPart->itk()));
  method->InPlaceOn();
  const unsigned levels = configurePyramid(method.GetPointer(), s);

  report.iterationsPerLevel.assign(levels, 0);
  const auto levelStart = observeLevels(method.GetPointer(), so, s, report, stageName);
  try {
    method->Update();
  } catch (const itk::ExceptionObject& e) {
    throw DataError(std::string(stageName) + " registration failed: " + e.GetDescription());
  }
  report.metric = so.optimizer->GetValue();
  spdlog::debug("{} level {}: {} iterations, {:.2f} s", stageName, levels - 1, report.iterationsPerLevel[levels - 1],
                std::chrono::duration<double>(std::chrono::steady_clock::now() - *levelStart).count());
}

}  // namespace mr2ct::registration
