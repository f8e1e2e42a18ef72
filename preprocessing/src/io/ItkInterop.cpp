#include "mr2ct/preprocessing/ItkInterop.h"

#include <algorithm>

namespace mr2ct {

namespace {
template <class TImage, class TGrid>
typename TImage::Pointer viewOf(const TGrid& grid) {
  auto image = TImage::New();
  applyGeometry(image.GetPointer(), grid.geometry());
  using Pixel = typename TImage::PixelType;
  // ITK's API takes a non-const pointer; the view is read-only by convention unless the caller owns it.
  auto* ptr = const_cast<Pixel*>(reinterpret_cast<const Pixel*>(grid.data()));
  image->GetPixelContainer()->SetImportPointer(ptr, grid.voxelCount(), false);
  return image;
}

template <class TGrid, class TImage>
TGrid copyOf(const TImage* image) {
  const Geometry g = geometryOf(image);
  TGrid out(g);
  const auto* src = image->GetBufferPointer();
  std::copy(src, src + g.voxelCount(), reinterpret_cast<typename TImage::PixelType*>(out.data()));
  return out;
}
}  // namespace

ItkFloatImage::Pointer itkView(const Volume& volume) { return viewOf<ItkFloatImage>(volume); }
ItkMaskImage::Pointer itkView(const Mask& mask) { return viewOf<ItkMaskImage>(mask); }
Volume volumeFromItk(const ItkFloatImage* image) { return copyOf<Volume>(image); }
Mask maskFromItk(const ItkMaskImage* image) { return copyOf<Mask>(image); }

}  // namespace mr2ct
