#include "mr2ct/evaluation/CaseEvaluation.h"

#include <sstream>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/core/Log.h"
#include "mr2ct/preprocessing/Resampling.h"
#include "mr2ct/preprocessing/SpatialTransform.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace mr2ct {

void EvaluateOptions::validate() const {
  metrics.validate();
  bodyMask.validate();
  if (!(geometryTolerance >= 0)) throw OptionError("{geometryTolerance} must be >= 0");
}

nlohmann::json EvaluateOptions::toJson() const {
  return {{"metrics", metrics.toJson()},
          {"geometry_tolerance", geometryTolerance},
          {"resample_pred", resamplePred},
          {"ref_transform", refTransform.string()},
          {"body_mask", bodyMask.toJson()},
          {"dicom_series", dicomSeries}};
}

nlohmann::json CaseEvaluation::toJson() const {
  nlohmann::json j = metrics.toJson();
  j["mask_source"] = maskSource;
  j["resampling"] = resampling.empty() ? nlohmann::json(nullptr) : nlohmann::json(resampling);
  j["mask_voxels_outside_fov"] = excludedOutsideFov;
  j["warnings"] = warnings;
  return j;
}

CaseEvaluation evaluateVolumes(Volume pred, Volume ref, Mask mask, const EvaluateOptions& options,
                               const std::string& predName, const std::string& refName, const std::string& maskName) {
  options.validate();
  CaseEvaluation c;
  const double tol = options.geometryTolerance;
  // Where a grid was resampled, the voxels it did not cover hold padding, not data: they leave the
  // mask (the reference's field of view, or the prediction's when the prediction moved).
  Mask fov;
  if (!options.refTransform.empty()) {
    // The reference moves onto the prediction's grid through the given transform.
    const SpatialTransform t = SpatialTransform::load(options.refTransform);
    // A mask may be on either grid: on the prediction's it is kept, on the reference's it moves
    // with the reference (nearest neighbour).
    bool maskMoved = false;
    if (!mask.empty() && !mask.geometry().sameAs(pred.geometry(), tol)) {
      if (!mask.geometry().sameAs(ref.geometry(), tol))
        throw DataError(maskName, "grid matches neither the prediction " + predName + " nor the reference " +
                                      refName + " (" + mask.geometry().differenceFrom(pred.geometry(), tol) + ")");
      mask = resampleMask(mask, pred.geometry(), t);
      maskMoved = true;
    }
    fov = fieldOfViewMask(ref.geometry(), pred.geometry(), t);
    ref = resampleVolume(ref, pred.geometry(), t, Interpolation::Linear, -1024.0f);
    c.resampling = "reference " + refName + " resampled onto the prediction grid through " +
                   options.refTransform.string() + " (linear, -1024 HU outside)" +
                   (maskMoved ? "; mask with it (nearest neighbour)" : "");
  }
  if (!pred.geometry().sameAs(ref.geometry(), tol)) {
    const std::string diff = pred.geometry().differenceFrom(ref.geometry(), tol);
    if (!options.resamplePred)
      throw DataError(predName, "grid differs from the reference " + refName + ": " + diff +
                                    " (use --resample-pred to resample the prediction onto the reference grid)");
    fov = fieldOfViewMask(pred.geometry(), ref.geometry(), SpatialTransform::identity());
    pred = resampleVolume(pred, ref.geometry(), SpatialTransform::identity(), Interpolation::Linear, -1024.0f);
    c.resampling += std::string(c.resampling.empty() ? "" : "; ") + "prediction " + predName +
                    " resampled onto the reference grid (linear, -1024 HU outside; was: " + diff + ")";
    c.warnings.push_back(predName + ": resampled onto the reference grid (" + diff + ")");
  }
  if (mask.empty()) {
    mask = bodyMaskFromCt(ref, options.bodyMask, refName);
    std::ostringstream s;
    s << "body mask of the reference CT (HU > " << options.bodyMask.ctThresholdHu
      << ", holes filled, largest component, closing " << options.bodyMask.closingRadiusMm << " mm)";
    c.maskSource = s.str();
  } else {
    if (!mask.geometry().sameAs(ref.geometry(), tol))
      throw DataError(maskName, "grid differs from the reference " + refName + ": " +
                                    mask.geometry().differenceFrom(ref.geometry(), tol));
    c.maskSource = maskName;
  }
  if (!fov.empty() && fov.geometry().sameAs(mask.geometry(), tol)) {
    std::size_t excluded = 0;
    std::uint8_t* m = mask.data();
    const std::uint8_t* f = fov.data();
    for (std::size_t i = 0; i < mask.voxelCount(); ++i)
      if (m[i] && !f[i]) m[i] = 0, ++excluded;
    c.excludedOutsideFov = excluded;
    if (excluded > 0)
      c.warnings.push_back(refName + ": " + std::to_string(excluded) +
                           " mask voxels lie outside the field of view of the resampled grid (padding, not data) "
                           "and are left out of the metrics");
  }
  const auto refRange = ref.range();
  if (refRange.min >= 0.0f)
    c.warnings.push_back(refName + ": minimum is " + std::to_string(refRange.min) +
                         " >= 0; the reference CT does not look like HU (air is about -1000). Stored with an "
                         "offset such as HU+1024?");
  const auto predRange = pred.range();
  if (predRange.min >= 0.0f)
    c.warnings.push_back(predName + ": minimum is " + std::to_string(predRange.min) +
                         " >= 0; the prediction does not look like HU");
  for (const auto& w : c.warnings) spdlog::warn("{}", w);
  c.metrics = computeMetrics(pred, ref, mask, options.metrics, predName, refName,
                             maskName.empty() ? refName + " (body mask)" : maskName);
  c.pred = std::move(pred);
  c.ref = std::move(ref);
  c.mask = std::move(mask);
  return c;
}

CaseEvaluation evaluateFiles(const std::filesystem::path& pred, const std::filesystem::path& ref,
                             const std::filesystem::path& mask, const EvaluateOptions& options) {
  options.validate();
  Volume p = readVolume(pred);
  ReadOptions refOptions;
  refOptions.dicomSeries = options.dicomSeries;
  Volume r = readVolume(ref, refOptions);
  Mask m;
  if (!mask.empty()) m = readMask(mask);
  return evaluateVolumes(std::move(p), std::move(r), std::move(m), options, pred.string(), ref.string(),
                         mask.string());
}

}  // namespace mr2ct
