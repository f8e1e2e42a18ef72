// B-spline stage: a cubic B-spline free-form deformation on top of the linear result, optimised
// with L-BFGS-B (no scales needed: all parameters are displacements in mm) on Mattes MI plus a
// smoothness penalty (BSplineRegularisedMetric).
#include <itkBSplineTransform.h>
#include <itkBSplineTransformInitializer.h>
#include <itkImageRegistrationMethodv4.h>
#include <itkLBFGSBOptimizerv4.h>

#include <algorithm>
#include <cmath>

#include "BSplineRegularisedMetric.h"

namespace mr2ct::registration {

SpatialTransform bsplineStage(const Images& images, const SpatialTransform& linear, const BSplineSettings& settings,
                              const Schedule& s, StageReport& report) {
  const double gridMm = settings.gridMm;
  using BSpline = itk::BSplineTransform<double, 3, 3>;
  using Method = itk::ImageRegistrationMethodv4<ItkFloatImage, ItkFloatImage, BSpline>;

  auto bspline = BSpline::New();
  auto initializer = itk::BSplineTransformInitializer<BSpline, ItkFloatImage>::New();
  BSpline::MeshSizeType mesh;
  const Geometry g = geometryOf(images.fixed.GetPointer());
  const Vec3 extent = g.extentMm();
  for (int i = 0; i < 3; ++i) mesh[i] = static_cast<unsigned>(std::max(1.0, std::round(extent[i] / gridMm)));
  initializer->SetTransform(bspline);
  initializer->SetImage(images.fixed);
  initializer->SetTransformDomainMeshSize(mesh);
  initializer->InitializeTransform();
  bspline->SetIdentity();

  auto metric = BSplineRegularisedMetric::New();
  configureMetric(metric.GetPointer(), s.bins, images.fixedMask.GetPointer());
  metric->setPenalty(bspline.GetPointer(), settings.bending, settings.shrink);
  auto optimizer = itk::LBFGSBOptimizerv4::New();
  const auto n = bspline->GetNumberOfParameters();
  itk::LBFGSBOptimizerv4::BoundSelectionType select(n);
  itk::LBFGSBOptimizerv4::BoundValueType bounds(n);
  select.Fill(0);  // unbounded
  bounds.Fill(0);
  optimizer->SetBoundSelection(select);
  optimizer->SetLowerBound(bounds);
  optimizer->SetUpperBound(bounds);
  optimizer->SetCostFunctionConvergenceFactor(1e7);
  optimizer->SetGradientConvergenceTolerance(1e-6);
  // The linear stages did the large motion; a few dozen quasi-Newton steps per level fit the local
  // deformation (the full linear budget took minutes on a 128×128×96 case for no gain in TRE).
  const unsigned iterations = static_cast<unsigned>(std::min(s.iterations, 50));
  optimizer->SetNumberOfIterations(iterations);
  optimizer->SetMaximumNumberOfFunctionEvaluations(2 * iterations);
  optimizer->SetMaximumNumberOfCorrections(7);

  auto linearItk = const_cast<SpatialTransform::ItkTransform*>(linear.itk());
  auto method = Method::New();
  method->SetFixedImage(images.fixed);
  method->SetMovingImage(images.moving);
  method->SetMetric(metric);
  method->SetOptimizer(optimizer);
  method->SetMovingInitialTransform(linearItk);
  method->SetInitialTransform(bspline);
  method->InPlaceOn();
  const unsigned levels = configurePyramid(method.GetPointer(), s);
  report.iterationsPerLevel.assign(levels, 0);
  Method* m = method.GetPointer();
  optimizer->AddObserver(itk::IterationEvent(), [m, &report](const itk::EventObject&) {
    const auto level = m->GetCurrentLevel();
    if (level < report.iterationsPerLevel.size()) ++report.iterationsPerLevel[level];
  });
  try {
    method->Update();
  } catch (const itk::ExceptionObject& e) {
    throw DataError(std::string("bspline registration failed: ") + e.GetDescription());
  }
  // Mattes MI alone at the final parameters (the optimiser's value includes the penalty).
  metric->GetValue();
  report.metric = metric->lastMutualInformation();
  report.penalty = metric->lastPenalty();
  // The method's full mapping is linear(bspline(p)): the moving initial transform is applied last.
  return linear.after(SpatialTransform::fromItk(bspline.GetPointer()));
}

}  // namespace mr2ct::registration
