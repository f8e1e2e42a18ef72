#pragma once
// How an MR becomes the network's input, as one typed value: written into the training store by
// `preprocess`, copied unchanged into the model folder by `train`, read back by `convert`. The same
// plan and the same function, prepareMr, serve preprocessing and conversion, so a model is always
// converted with the preparation it was trained on (N4 options included).
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "mr2ct/preprocessing/BiasFieldCorrection.h"
#include "mr2ct/preprocessing/BodyMask.h"
#include "mr2ct/preprocessing/Normalization.h"

namespace mr2ct {

struct PreprocessPlan {
  /// Version of the JSON below; fromJson reads this and every earlier layout (no key = 1).
  static constexpr int kFormatVersion = 2;
  bool reorientToLps = true;                    ///< "orientation": "LPS" | "none"
  std::optional<Vec3> spacing;                  ///< target MR spacing (mm); none = the MR's own grid
  BodyMaskOptions bodyMask;                     ///< mask from the MR when none is given
  std::optional<BiasFieldOptions> biasField;    ///< N4 before normalization, when set
  MrNormalizationRule mrNormalization;
  CtNormalization ctNormalization;

  /// UsageError naming the field.
  void validate() const;
  /// {"plan_version", "orientation", "spacing", "body_mask", "n4" (options or false),
  ///  "mr_normalization", "ct_normalization"}.
  nlohmann::json toJson() const;
  /// Missing keys keep the defaults above; other keys (a store's registration options) are
  /// ignored; a key of the wrong type or an unknown newer version is a DataError naming `context`.
  static PreprocessPlan fromJson(const nlohmann::json& j, const std::string& context);
};

/// An MR prepared by a plan: the grid it lives on, the body mask, the network's input.
struct PreparedMr {
  Volume mr;                          ///< reoriented and resampled, intensities as read
  Mask mask;                          ///< body mask on mr's grid
  Volume normalized;                  ///< after N4 (when planned) and normalization: the network's x0
  MrNormalizationRecord normalization;
  std::optional<BiasFieldRecord> biasField;
};

/// reorient (plan.reorientToLps) → resample to plan.spacing → body mask (`givenMask` moved onto the
/// grid when given, else from the MR) → N4 (plan.biasField) → normalization (plan.mrNormalization).
/// Errors name `context` (the MR's file).
PreparedMr prepareMr(const Volume& raw, const PreprocessPlan& plan, const std::string& context,
                     const Mask* givenMask = nullptr);

}  // namespace mr2ct
