// N4 on a shrunk image, field reconstructed at full resolution from the control-point lattice
// (the approach of ITK's N4 example and ANTs' N4BiasFieldCorrection).
#include "mr2ct/preprocessing/BiasFieldCorrection.h"

#include <itkBSplineControlPointImageFilter.h>
#include <itkN4BiasFieldCorrectionImageFilter.h>
#include <itkShrinkImageFilter.h>

#include <chrono>
#include <cmath>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/Stopwatch.h"
#include "mr2ct/preprocessing/ItkInterop.h"

namespace mr2ct {

void BiasFieldOptions::validate() const {
  if (shrinkFactor < 1 || shrinkFactor > 16) throw UsageError("N4: shrink factor must be in [1, 16]");
  if (iterations.empty()) throw UsageError("N4: at least one fitting level is needed");
  if (!(convergenceThreshold > 0)) throw UsageError("N4: convergence threshold must be > 0");
  if (splineOrder < 1 || splineOrder > 5) throw UsageError("N4: spline order must be in [1, 5]");
  if (controlPoints <= splineOrder) throw UsageError("N4: control points per axis must exceed the spline order");
  if (histogramBins < 10) throw UsageError("N4: histogram bins must be >= 10");
}

nlohmann::json BiasFieldOptions::toJson() const {
  return {{"shrink_factor", shrinkFactor},     {"iterations", iterations},
          {"convergence", convergenceThreshold}, {"spline_order", splineOrder},
          {"control_points", controlPoints},   {"histogram_bins", histogramBins}};
}

BiasFieldOptions BiasFieldOptions::fromJson(const nlohmann::json& j) {
  BiasFieldOptions o;
  o.shrinkFactor = j.value("shrink_factor", o.shrinkFactor);
  o.iterations = j.value("iterations", o.iterations);
  o.convergenceThreshold = j.value("convergence", o.convergenceThreshold);
  o.splineOrder = j.value("spline_order", o.splineOrder);
  o.controlPoints = j.value("control_points", o.controlPoints);
  o.histogramBins = j.value("histogram_bins", o.histogramBins);
  return o;
}

nlohmann::json BiasFieldRecord::toJson() const {
  return {{"options", options.toJson()},
          {"seconds", seconds},
          {"field_min", fieldMin},
          {"field_max", fieldMax},
          {"iterations_run", iterationsRun}};
}

namespace {

using N4 = itk::N4BiasFieldCorrectionImageFilter<ItkFloatImage, ItkMaskImage, ItkFloatImage>;
using ScalarField = itk::Image<itk::Vector<float, 1>, 3>;

/// Fit mask: inside the body and strictly positive (log intensities). DataError when empty.
Mask fitMask(const Volume& mr, const Mask& mask, const std::string& context) {
  const bool useMask = !mask.empty();
  Mask fit(mr.geometry(), 0);
  std::size_t n = 0;
  for (std::size_t i = 0; i < mr.voxelCount(); ++i) {
    const float v = mr.data()[i];
    if ((!useMask || mask.data()[i]) && std::isfinite(v) && v > 0) {
      fit.data()[i] = 1;
      ++n;
    }
  }
  if (n == 0) throw DataError(context, "N4: no positive voxel inside the body mask");
  return fit;
}

/// N4 on the image and fit mask shrunk by the options' factor (at most a quarter of each axis).
N4::Pointer fitShrunk(const ItkFloatImage* input, const ItkMaskImage* fit, const std::array<std::size_t, 3>& size,
                      const BiasFieldOptions& options, const std::string& context) {
  using Shrink = itk::ShrinkImageFilter<ItkFloatImage, ItkFloatImage>;
  using ShrinkMask = itk::ShrinkImageFilter<ItkMaskImage, ItkMaskImage>;
  auto shrink = Shrink::New();
  auto shrinkMask = ShrinkMask::New();
  shrink->SetInput(input);
  shrinkMask->SetInput(fit);
  for (unsigned a = 0; a < 3; ++a) {
    const unsigned f = static_cast<unsigned>(
        std::max<std::size_t>(1, std::min<std::size_t>(std::size_t(options.shrinkFactor), size[a] / 4)));
    shrink->SetShrinkFactor(a, f);
    shrinkMask->SetShrinkFactor(a, f);
  }
  shrink->Update();
  shrinkMask->Update();

  auto n4 = N4::New();
  n4->SetInput(shrink->GetOutput());
  n4->SetMaskImage(shrinkMask->GetOutput());
  n4->SetMaskLabel(1);
  N4::VariableSizeArrayType its(static_cast<unsigned>(options.iterations.size()));
  for (std::size_t i = 0; i < options.iterations.size(); ++i) its[i] = options.iterations[i];
  n4->SetMaximumNumberOfIterations(its);
  n4->SetNumberOfFittingLevels(static_cast<unsigned>(options.iterations.size()));
  // N4 computes in the image's pixel type (float); the option is kept as a double.
  n4->SetConvergenceThreshold(static_cast<N4::RealType>(options.convergenceThreshold));
  n4->SetSplineOrder(options.splineOrder);
  N4::ArrayType cps;
  cps.Fill(options.controlPoints);
  n4->SetNumberOfControlPoints(cps);
  n4->SetNumberOfHistogramBins(options.histogramBins);
  try {
    n4->Update();
  } catch (const itk::ExceptionObject& e) {
    throw DataError(context, std::string("N4 bias-field correction failed: ") + e.GetDescription());
  }
  return n4;
}

/// The fitted log field evaluated on `grid`'s full-resolution voxels.
ScalarField::Pointer logFieldOn(const ItkFloatImage* grid, N4* n4, unsigned splineOrder) {
  using Lattice = N4::BiasFieldControlPointLatticeType;
  using Reconstruct = itk::BSplineControlPointImageFilter<Lattice, ScalarField>;
  auto rec = Reconstruct::New();
  rec->SetInput(n4->GetLogBiasFieldControlPointLattice());
  rec->SetSplineOrder(splineOrder);
  rec->SetSize(grid->GetLargestPossibleRegion().GetSize());
  rec->SetOrigin(grid->GetOrigin());
  rec->SetSpacing(grid->GetSpacing());
  rec->SetDirection(grid->GetDirection());
  rec->Update();
  return rec->GetOutput();
}

}  // namespace

Volume correctBiasField(const Volume& mr, const Mask& mask, const BiasFieldOptions& options, BiasFieldRecord* record,
                        const std::string& context) {
  options.validate();
  const Stopwatch watch;
  if (!mask.empty() && mask.size() != mr.size()) throw DataError(context, "N4: mask and image sizes differ");
  const Mask fit = fitMask(mr, mask, context);
  // Non-positive voxels become a small positive value so the log is defined; they are outside the fit.
  Volume input = mr.clone();
  for (auto& v : input.voxels())
    if (!(v > 0)) v = 1e-3f;

  auto inView = itkView(input);
  auto fitView = itkView(fit);
  const N4::Pointer n4 = fitShrunk(inView, fitView, mr.size(), options, context);
  const ScalarField::Pointer logField = logFieldOn(inView, n4, options.splineOrder);
  const auto* field = logField->GetBufferPointer();

  Volume out = mr.clone();
  double fmin = std::numeric_limits<double>::infinity(), fmax = -fmin;
  for (std::size_t i = 0; i < out.voxelCount(); ++i) {
    const double b = std::exp(double(field[i][0]));
    out.data()[i] = static_cast<float>(double(mr.data()[i]) / b);
    if (fit.data()[i]) {
      fmin = std::min(fmin, b);
      fmax = std::max(fmax, b);
    }
  }
  if (record) {
    record->options = options;
    record->fieldMin = fmin;
    record->fieldMax = fmax;
    record->iterationsRun.clear();
    record->iterationsRun.push_back(n4->GetElapsedIterations());
    record->seconds = watch.seconds();
  }
  return out;
}

}  // namespace mr2ct
