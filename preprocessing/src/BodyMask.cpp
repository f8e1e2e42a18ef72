// Body masks. Otsu (or an HU threshold for CT) separates tissue from background; the largest
// connected component drops noise specks and the scanner table; closing bridges the dark skull
// (bone has no MR signal) and hole filling (3D, then per axial slice) puts internal air, sinuses
// and dark bone back inside the body, where the CT still has to be learned.
#include "mr2ct/preprocessing/BodyMask.h"

#include <itkBinaryBallStructuringElement.h>
#include <itkBinaryMorphologicalClosingImageFilter.h>
#include <itkConnectedComponentImageFilter.h>
#include <itkOtsuThresholdCalculator.h>
#include <itkImageToHistogramFilter.h>
#include <itkRelabelComponentImageFilter.h>

#include <cmath>
#include <deque>
#include <vector>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/ItkInterop.h"

namespace mr2ct {

void BodyMaskOptions::validate() const {
  if (!(closingRadiusMm >= 0) || !std::isfinite(closingRadiusMm))
    throw UsageError("body mask: closing radius must be >= 0 mm (got " + std::to_string(closingRadiusMm) + ")");
  if (!std::isfinite(ctThresholdHu)) throw UsageError("body mask: CT threshold must be finite");
  if (otsuBins < 16 || otsuBins > 4096)
    throw UsageError("body mask: Otsu histogram bins must be in [16, 4096] (got " + std::to_string(otsuBins) + ")");
}

nlohmann::json BodyMaskOptions::toJson() const {
  return {{"closing_radius_mm", closingRadiusMm},
          {"fill_holes_per_slice", fillHolesPerSlice},
          {"ct_threshold_hu", ctThresholdHu},
          {"otsu_bins", otsuBins}};
}

BodyMaskOptions BodyMaskOptions::fromJson(const nlohmann::json& j) {
  BodyMaskOptions o;
  o.closingRadiusMm = j.value("closing_radius_mm", o.closingRadiusMm);
  o.fillHolesPerSlice = j.value("fill_holes_per_slice", o.fillHolesPerSlice);
  o.ctThresholdHu = j.value("ct_threshold_hu", o.ctThresholdHu);
  o.otsuBins = j.value("otsu_bins", o.otsuBins);
  return o;
}

namespace {

/// Otsu threshold over the finite voxels (ITK's calculator on a histogram of `bins` bins).
double otsuThreshold(const Volume& v, int bins) {
  using HistogramFilter = itk::Statistics::ImageToHistogramFilter<ItkFloatImage>;
  auto image = itkView(v);
  auto hf = HistogramFilter::New();
  hf->SetInput(image);
  HistogramFilter::HistogramSizeType size(1);
  size[0] = static_cast<unsigned>(bins);
  hf->SetHistogramSize(size);
  hf->SetAutoMinimumMaximum(true);
  hf->SetMarginalScale(10.0);
  hf->Update();
  using Calculator = itk::OtsuThresholdCalculator<HistogramFilter::HistogramType, double>;
  auto calc = Calculator::New();
  calc->SetInput(hf->GetOutput());
  calc->Compute();
  return calc->GetThreshold();
}

/// Keeps the largest 26-connected component (ties broken by ITK's label order).
Mask largestComponent(const Mask& m) {
  using LabelImage = itk::Image<unsigned, 3>;
  auto cc = itk::ConnectedComponentImageFilter<ItkMaskImage, LabelImage>::New();
  auto view = itkView(m);
  cc->SetInput(view);
  cc->FullyConnectedOn();
  auto relabel = itk::RelabelComponentImageFilter<LabelImage, LabelImage>::New();
  relabel->SetInput(cc->GetOutput());
  relabel->Update();
  const LabelImage* labels = relabel->GetOutput();
  const unsigned* l = labels->GetBufferPointer();
  Mask out(m.geometry(), 0);
  for (std::size_t i = 0; i < out.voxelCount(); ++i) out.data()[i] = l[i] == 1 ? 1 : 0;
  return out;
}

/// Morphological closing with a ball of `radiusMm` (voxel radii per axis from the spacing).
Mask closing(const Mask& m, double radiusMm) {
  using Kernel = itk::BinaryBallStructuringElement<unsigned char, 3>;
  Kernel::SizeType radius;
  bool any = false;
  for (unsigned i = 0; i < 3; ++i) {
    radius[i] = static_cast<Kernel::SizeValueType>(std::lround(radiusMm / m.geometry().spacing[i]));
    any = any || radius[i] > 0;
  }
  if (!any) return m.clone();
  Kernel kernel;
  kernel.SetRadius(radius);
  kernel.CreateStructuringElement();
  auto f = itk::BinaryMorphologicalClosingImageFilter<ItkMaskImage, ItkMaskImage, Kernel>::New();
  auto view = itkView(m);
  f->SetInput(view);
  f->SetKernel(kernel);
  f->SetForegroundValue(1);
  f->SetSafeBorder(true);  // pads so that objects touching the border are not eroded away
  f->Update();
  return maskFromItk(f->GetOutput());
}

/// Background = zero voxels connected (6-neighbourhood) to the border of the box; everything else
/// is set to 1. Works on a sub-box so the same code fills 3D volumes and single slices.
void fillHoles(std::uint8_t* data, const std::array<std::size_t, 3>& n, const std::array<std::size_t, 3>& stride) {
  const std::size_t count = n[0] * n[1] * n[2];
  std::vector<std::uint8_t> outside(count, 0);
  std::deque<std::array<std::size_t, 3>> queue;
  auto at = [&](const std::array<std::size_t, 3>& p) -> std::uint8_t& {
    return data[p[0] * stride[0] + p[1] * stride[1] + p[2] * stride[2]];
  };
  auto local = [&](const std::array<std::size_t, 3>& p) { return p[0] + n[0] * (p[1] + n[1] * p[2]); };
  auto seed = [&](const std::array<std::size_t, 3>& p) {
    if (at(p) == 0 && !outside[local(p)]) {
      outside[local(p)] = 1;
      queue.push_back(p);
    }
  };
  for (std::size_t z = 0; z < n[2]; ++z)
    for (std::size_t y = 0; y < n[1]; ++y)
      for (std::size_t x = 0; x < n[0]; ++x) {
        // Only axes longer than one voxel have a border (a single slice is open in-plane only).
        const std::array<std::size_t, 3> p{x, y, z};
        bool border = false;
        for (int a = 0; a < 3; ++a) border = border || (n[a] > 1 && (p[a] == 0 || p[a] + 1 == n[a]));
        if (border) seed(p);
      }
  while (!queue.empty()) {
    const auto p = queue.front();
    queue.pop_front();
    for (int axis = 0; axis < 3; ++axis) {
      if (n[axis] == 1) continue;
      for (int d : {-1, 1}) {
        auto q = p;
        if (d < 0 && q[axis] == 0) continue;
        if (d > 0 && q[axis] + 1 == n[axis]) continue;
        q[axis] = d < 0 ? q[axis] - 1 : q[axis] + 1;
        seed(q);
      }
    }
  }
  for (std::size_t z = 0; z < n[2]; ++z)
    for (std::size_t y = 0; y < n[1]; ++y)
      for (std::size_t x = 0; x < n[0]; ++x)
        if (!outside[local({x, y, z})]) at({x, y, z}) = 1;
}

Mask cleanUp(Mask m, const BodyMaskOptions& o, const std::string& context) {
  if (m.count() == 0) throw DataError(context, "body mask is empty (no voxel above the threshold)");
  m = largestComponent(m);
  m = closing(m, o.closingRadiusMm);
  const auto& n = m.size();
  fillHoles(m.data(), n, {1, n[0], n[0] * n[1]});
  if (o.fillHolesPerSlice && n[0] > 1 && n[1] > 1) {
    // Axial slices (z after reorientation to LPS): closes sinuses and ear canals that are open in 3D.
    for (std::size_t z = 0; z < n[2]; ++z) fillHoles(m.data() + z * n[0] * n[1], {n[0], n[1], 1}, {1, n[0], 0});
  }
  if (m.count() == 0) throw DataError(context, "body mask is empty after clean-up");
  return m;
}

}  // namespace

Mask bodyMaskFromMr(const Volume& mr, const BodyMaskOptions& options, const std::string& context) {
  options.validate();
  if (mr.empty()) throw DataError(context, "empty image: no body mask");
  if (mr.firstNonFinite() >= 0) throw DataError(context, "NaN/Inf voxels: no body mask");
  const auto r = mr.range();
  if (!(r.max > r.min)) throw DataError(context, "constant image (all voxels " + std::to_string(r.min) + "): no body mask");
  const double t = otsuThreshold(mr, options.otsuBins);
  Mask m(mr.geometry(), 0);
  for (std::size_t i = 0; i < m.voxelCount(); ++i) m.data()[i] = mr.data()[i] > t ? 1 : 0;
  return cleanUp(std::move(m), options, context);
}

Mask bodyMaskFromCt(const Volume& ct, const BodyMaskOptions& options, const std::string& context) {
  options.validate();
  if (ct.empty()) throw DataError(context, "empty image: no body mask");
  Mask m(ct.geometry(), 0);
  for (std::size_t i = 0; i < m.voxelCount(); ++i) m.data()[i] = ct.data()[i] > options.ctThresholdHu ? 1 : 0;
  return cleanUp(std::move(m), options, context);
}

}  // namespace mr2ct
