#pragma once
// The one place where Volume/Mask meet itk::Image. Views share the Volume's buffer (no copy; keep
// the Volume alive while the ITK image is used); fromItk copies a filter's output once.
#include <itkImage.h>

#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

using ItkFloatImage = itk::Image<float, 3>;
using ItkMaskImage = itk::Image<unsigned char, 3>;

/// An itk::Image that points into the Volume's buffer (no copy). Writing through it changes the Volume.
ItkFloatImage::Pointer itkView(const Volume& volume);
ItkMaskImage::Pointer itkView(const Mask& mask);

/// Copies an ITK image (its buffered region) into a Volume / Mask, geometry included.
Volume volumeFromItk(const ItkFloatImage* image);
Mask maskFromItk(const ItkMaskImage* image);

/// Geometry of an ITK image (largest possible region's size).
template <class TImage>
Geometry geometryOf(const TImage* image) {
  Geometry g;
  const auto region = image->GetLargestPossibleRegion();
  for (unsigned i = 0; i < 3; ++i) {
    g.size[i] = region.GetSize()[i];
    g.spacing[i] = image->GetSpacing()[i];
    g.origin[i] = image->GetOrigin()[i];
    for (unsigned j = 0; j < 3; ++j) g.direction[i * 3 + j] = image->GetDirection()(i, j);
  }
  return g;
}

/// Sets origin, spacing, direction and region of an ITK image from a Geometry (no allocation).
template <class TImage>
void applyGeometry(TImage* image, const Geometry& g) {
  typename TImage::RegionType region;
  typename TImage::SizeType size;
  typename TImage::SpacingType spacing;
  typename TImage::PointType origin;
  typename TImage::DirectionType direction;
  for (unsigned i = 0; i < 3; ++i) {
    size[i] = g.size[i];
    spacing[i] = g.spacing[i];
    origin[i] = g.origin[i];
    for (unsigned j = 0; j < 3; ++j) direction(i, j) = g.direction[i * 3 + j];
  }
  region.SetSize(size);
  image->SetRegions(region);
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->SetDirection(direction);
}

}  // namespace mr2ct
