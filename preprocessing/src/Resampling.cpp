// Resampling through ITK's ResampleImageFilter over zero-copy views of our volumes, and the
// field-of-view mask that tells which target voxels received real data.
#include "mr2ct/preprocessing/Resampling.h"

#include <itkBSplineInterpolateImageFunction.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkNearestNeighborInterpolateImageFunction.h>
#include <itkResampleImageFilter.h>

#include <cmath>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/ItkInterop.h"

namespace mr2ct {

namespace {

template <class TImage>
typename TImage::Pointer resample(const TImage* input, const Geometry& target, const SpatialTransform& t,
                                  Interpolation interpolation, typename TImage::PixelType outside) {
  using Filter = itk::ResampleImageFilter<TImage, TImage, double>;
  auto filter = Filter::New();
  filter->SetInput(input);
  filter->SetTransform(t.itk());
  switch (interpolation) {
    case Interpolation::Nearest:
      filter->SetInterpolator(itk::NearestNeighborInterpolateImageFunction<TImage, double>::New());
      break;
    case Interpolation::Linear:
      filter->SetInterpolator(itk::LinearInterpolateImageFunction<TImage, double>::New());
      break;
    case Interpolation::BSpline: {
      auto bspline = itk::BSplineInterpolateImageFunction<TImage, double, float>::New();
      bspline->SetSplineOrder(3);
      filter->SetInterpolator(bspline);
      break;
    }
  }
  filter->SetDefaultPixelValue(outside);
  auto reference = TImage::New();  // geometry only, never allocated
  applyGeometry(reference.GetPointer(), target);
  filter->SetOutputParametersFromImage(reference);
  try {
    filter->Update();
  } catch (const itk::ExceptionObject& e) {
    throw DataError(std::string("resampling failed: ") + e.GetDescription());
  }
  typename TImage::Pointer out = filter->GetOutput();
  out->DisconnectPipeline();
  return out;
}

void checkInput(const Geometry& moving, const Geometry& target, const char* what) {
  moving.validate(std::string(what) + " (moving image)");
  target.validate(std::string(what) + " (target grid)");
}

}  // namespace

Volume resampleVolume(const Volume& moving, const Geometry& target, const SpatialTransform& fixedToMoving,
                      Interpolation interpolation, float outsideValue) {
  checkInput(moving.geometry(), target, "resampleVolume");
  auto view = itkView(moving);
  auto out = resample<ItkFloatImage>(view.GetPointer(), target, fixedToMoving, interpolation, outsideValue);
  return volumeFromItk(out.GetPointer());
}

Mask resampleMask(const Mask& moving, const Geometry& target, const SpatialTransform& fixedToMoving) {
  checkInput(moving.geometry(), target, "resampleMask");
  auto view = itkView(moving);
  auto out = resample<ItkMaskImage>(view.GetPointer(), target, fixedToMoving, Interpolation::Nearest, 0);
  return maskFromItk(out.GetPointer());
}

Mask fieldOfViewMask(const Geometry& moving, const Geometry& target, const SpatialTransform& fixedToMoving) {
  checkInput(moving, target, "fieldOfViewMask");
  Mask mask(target, 0);
  // Same rule as ITK's interpolators: a point is inside when its continuous index lies in
  // [-0.5, size - 0.5) along every axis (the voxels' own extent).
  auto inside = [&](const Vec3& idx) {
    for (int i = 0; i < 3; ++i)
      if (!(idx[i] >= -0.5 && idx[i] < double(moving.size[i]) - 0.5)) return false;
    return true;
  };
  if (fixedToMoving.isLinear()) {
    // target index -> moving continuous index is affine: idx_m = A·idx_t + b.
    const Vec3 b = moving.physicalToIndex(fixedToMoving.apply(target.indexToPhysical({0, 0, 0})));
    std::array<Vec3, 3> col{};
    for (int c = 0; c < 3; ++c) {
      Vec3 e{0, 0, 0};
      e[c] = 1;
      const Vec3 q = moving.physicalToIndex(fixedToMoving.apply(target.indexToPhysical(e)));
      for (int r = 0; r < 3; ++r) col[c][r] = q[r] - b[r];
    }
    for (std::size_t z = 0; z < target.size[2]; ++z)
      for (std::size_t y = 0; y < target.size[1]; ++y) {
        Vec3 row{};
        for (int r = 0; r < 3; ++r) row[r] = b[r] + col[1][r] * double(y) + col[2][r] * double(z);
        std::uint8_t* out = mask.data() + target.linearIndex(0, y, z);
        for (std::size_t x = 0; x < target.size[0]; ++x) {
          const Vec3 idx{row[0] + col[0][0] * double(x), row[1] + col[0][1] * double(x), row[2] + col[0][2] * double(x)};
          out[x] = inside(idx) ? 1 : 0;
        }
      }
  } else {
    for (std::size_t z = 0; z < target.size[2]; ++z)
      for (std::size_t y = 0; y < target.size[1]; ++y)
        for (std::size_t x = 0; x < target.size[0]; ++x) {
          const Vec3 q = fixedToMoving.apply(target.indexToPhysical({double(x), double(y), double(z)}));
          mask.at(x, y, z) = inside(moving.physicalToIndex(q)) ? 1 : 0;
        }
  }
  return mask;
}

Geometry withSpacing(const Geometry& g, const Vec3& spacing) {
  for (int i = 0; i < 3; ++i)
    if (!(spacing[i] > 0) || !std::isfinite(spacing[i]))
      throw UsageError("target spacing must be positive and finite, got " + std::to_string(spacing[i]));
  Geometry out = g;
  // The outer corner of the first voxel stays where it is; the new first voxel centre is half a
  // new voxel inside it.
  Vec3 cornerIndex{-0.5, -0.5, -0.5};
  const Vec3 corner = g.indexToPhysical(cornerIndex);
  Vec3 offset{};  // from the corner to the new first voxel centre, along each voxel axis
  for (int i = 0; i < 3; ++i) {
    const double extent = double(g.size[i]) * g.spacing[i];
    out.size[i] = std::max<std::size_t>(1, std::size_t(std::llround(extent / spacing[i])));
    out.spacing[i] = spacing[i];
    // A layer thinner than one new voxel (one thin slice) is sampled in its middle, not half a
    // new voxel in, which would lie outside the input and read nothing but background.
    offset[i] = out.size[i] == 1 ? 0.5 * extent : 0.5 * spacing[i];
  }
  for (int r = 0; r < 3; ++r) {
    out.origin[r] = corner[r];
    for (int c = 0; c < 3; ++c) out.origin[r] += g.direction[r * 3 + c] * offset[c];
  }
  return out;
}

}  // namespace mr2ct
