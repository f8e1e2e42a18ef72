#include "mr2ct/evaluation/BulkDensity.h"

#include <itkSignedMaurerDistanceMapImageFilter.h>

#include <cmath>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/preprocessing/ItkInterop.h"
#include "mr2ct/preprocessing/Statistics.h"

namespace mr2ct {

void BulkDensityOptions::validate() const {
  if (!(darkFraction > 0 && darkFraction < 1)) throw OptionError("{darkFraction} must be in (0, 1)");
  if (!(airFraction > 0 && airFraction <= darkFraction))
    throw OptionError("{airFraction} must be in (0, dark fraction]");
  if (!(boneMaxDepthMm > 0)) throw OptionError("{boneMaxDepthMm} must be > 0");
  if (!std::isfinite(airHu) || !std::isfinite(softHu) || !std::isfinite(boneHu))
    throw UsageError("bulk HU values must be finite");
  bodyMask.validate();
}

nlohmann::json BulkDensityOptions::toJson() const {
  return {{"method", "bulk-density"},   {"air_hu", airHu},
          {"soft_hu", softHu},          {"bone_hu", boneHu},
          {"dark_fraction", darkFraction}, {"air_fraction", airFraction},
          {"bone_max_depth_mm", boneMaxDepthMm}, {"body_mask", bodyMask.toJson()}};
}

nlohmann::json BulkDensityResult::toJson() const {
  return {{"mr_median_in_mask", mrMedian},
          {"voxels", {{"air", airVoxels}, {"soft", softVoxels}, {"bone", boneVoxels}}},
          {"options", options}};
}

BulkDensityResult bulkDensitySct(const Volume& mr, const Mask& mask, const BulkDensityOptions& options,
                                 const std::string& context) {
  options.validate();
  BulkDensityResult r;
  r.options = options.toJson();
  if (mask.empty()) {
    r.mask = bodyMaskFromMr(mr, options.bodyMask, context);
  } else {
    if (!mask.geometry().sameAs(mr.geometry(), 1e-3))
      throw DataError(context, "mask grid differs: " + mask.geometry().differenceFrom(mr.geometry(), 1e-3));
    r.mask = mask;
  }
  if (r.mask.count() == 0) throw DataError(context, "body mask is empty");
  r.mrMedian = percentiles(mr.data(), mr.voxelCount(), {50.0}, r.mask.data())[0];
  if (!(r.mrMedian > 0))
    throw DataError(context, "median MR intensity inside the body is not positive; cannot classify");

  // Depth below the body surface in mm (positive inside).
  using DistanceFilter = itk::SignedMaurerDistanceMapImageFilter<ItkMaskImage, ItkFloatImage>;
  auto distance = DistanceFilter::New();
  auto maskView = itkView(r.mask);
  distance->SetInput(maskView);
  distance->SetInsideIsPositive(true);
  distance->SetSquaredDistance(false);
  distance->SetUseImageSpacing(true);
  distance->SetBackgroundValue(0);
  distance->Update();
  const float* depth = distance->GetOutput()->GetBufferPointer();

  const double dark = options.darkFraction * r.mrMedian, veryDark = options.airFraction * r.mrMedian;
  r.sct = Volume(mr.geometry(), options.airHu);
  float* out = r.sct.data();
  const float* in = mr.data();
  const std::uint8_t* m = r.mask.data();
  for (std::size_t i = 0; i < mr.voxelCount(); ++i) {
    if (!m[i]) continue;
    const bool shell = depth[i] <= options.boneMaxDepthMm;
    if (in[i] < dark && shell) {
      out[i] = options.boneHu;
      ++r.boneVoxels;
    } else if (in[i] < veryDark && !shell) {
      out[i] = options.airHu;
      ++r.airVoxels;
    } else {
      out[i] = options.softHu;
      ++r.softVoxels;
    }
  }
  return r;
}

}  // namespace mr2ct
