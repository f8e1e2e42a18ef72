#include "mr2ct/preprocessing/PreprocessPlan.h"

#include <cmath>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/Resampling.h"

namespace mr2ct {

void PreprocessPlan::validate() const {
  if (spacing)
    for (double s : *spacing)
      if (!(s > 0) || !std::isfinite(s)) throw UsageError("spacing values must be > 0 and finite");
  bodyMask.validate();
  if (biasField) biasField->validate();
  mrNormalization.validate();
  ctNormalization.validate();
}

nlohmann::json PreprocessPlan::toJson() const {
  return {{"plan_version", kFormatVersion},
          {"orientation", reorientToLps ? "LPS" : "none"},
          {"spacing", spacing ? nlohmann::json(*spacing) : nlohmann::json(nullptr)},
          {"body_mask", bodyMask.toJson()},
          {"n4", biasField ? biasField->toJson() : nlohmann::json(false)},
          {"mr_normalization", mrNormalization.toJson()},
          {"ct_normalization", ctNormalization.toJson()}};
}

PreprocessPlan PreprocessPlan::fromJson(const nlohmann::json& j, const std::string& context) {
  if (!j.is_object()) throw DataError(context, "preprocessing must be an object");
  PreprocessPlan p;
  const std::string at = "preprocessing.";
  try {
    const int version = j.value("plan_version", 1);
    if (version < 1 || version > kFormatVersion)
      throw DataError(context, at + "plan_version " + std::to_string(version) + " is newer than this mr2ct reads (" +
                                   std::to_string(kFormatVersion) + ")");
    if (j.contains("orientation") && !j.at("orientation").is_null()) {
      const std::string o = j.at("orientation").get<std::string>();
      if (o != "LPS" && o != "none") throw DataError(context, at + "orientation '" + o + "' is not supported (LPS or none)");
      p.reorientToLps = o == "LPS";
    }
    if (j.contains("spacing") && !j.at("spacing").is_null()) {
      const auto s = j.at("spacing").get<std::vector<double>>();
      if (s.size() != 3) throw DataError(context, at + "spacing must be three numbers or null");
      p.spacing = Vec3{s[0], s[1], s[2]};
    }
    if (j.contains("body_mask")) p.bodyMask = BodyMaskOptions::fromJson(j.at("body_mask"));
    // Version 1 wrote the N4 options too, but conversion read only "on or off": the skew is gone.
    if (j.contains("n4") && j.at("n4").is_object()) p.biasField = BiasFieldOptions::fromJson(j.at("n4"));
    else if (j.contains("n4") && j.at("n4").is_boolean() && j.at("n4").get<bool>()) p.biasField = BiasFieldOptions{};
    if (j.contains("mr_normalization")) p.mrNormalization = MrNormalizationRule::fromJson(j.at("mr_normalization"));
    if (j.contains("ct_normalization")) p.ctNormalization = CtNormalization::fromJson(j.at("ct_normalization"));
  } catch (const nlohmann::json::exception& e) {
    throw DataError(context, at + "has a field of the wrong type (" + e.what() + ")");
  }
  try {
    p.validate();
  } catch (const UsageError& e) {
    throw DataError(context, at + e.what());
  }
  return p;
}

PreparedMr prepareMr(const Volume& raw, const PreprocessPlan& plan, const std::string& context, const Mask* givenMask) {
  PreparedMr r;
  r.mr = plan.reorientToLps ? reorientToLps(raw) : raw;
  if (plan.spacing)
    r.mr = resampleVolume(r.mr, withSpacing(r.mr.geometry(), *plan.spacing), SpatialTransform::identity(),
                          Interpolation::Linear, 0.0f);
  const Geometry& grid = r.mr.geometry();
  if (givenMask) {
    r.mask = plan.reorientToLps ? reorientToLps(*givenMask) : *givenMask;
    if (!r.mask.geometry().sameAs(grid, 1e-3)) r.mask = resampleMask(r.mask, grid, SpatialTransform::identity());
  } else {
    r.mask = bodyMaskFromMr(r.mr, plan.bodyMask, context);
  }
  Volume corrected = r.mr;
  if (plan.biasField) {
    BiasFieldRecord record;
    corrected = correctBiasField(r.mr, r.mask, *plan.biasField, &record, context);
    r.biasField = record;
  }
  r.normalized = normalizeMr(corrected, r.mask, plan.mrNormalization, &r.normalization, context);
  return r;
}

}  // namespace mr2ct
