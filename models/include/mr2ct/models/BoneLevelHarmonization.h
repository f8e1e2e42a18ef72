#pragma once
// Each head's CT has its own bone density, and a T1 MR does not show it: cortical bone gives no MR
// signal. With a dozen training heads the network learns each head's bone level from its anatomy
// and reproduces it on the training heads; an unseen head then gets the level of whichever training
// head it resembles. On BrainWeb's folds 1-2 that put the sCT's cortical bone 135 HU off the CT's
// on average (up to 200), where the training heads' common level is 52-132 HU off (README
// "Quality", fifteenth round). Training
// on CTs whose bone is brought to the training heads' common level removes what the MR cannot
// teach; the sCT then carries that level, the best guess for a head whose density is unknown.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "mr2ct/models/TrainingDataSource.h"

namespace mr2ct {

/// The percentile of a head's CT voxels above the bone threshold that stands for its bone level.
/// A high one: the median of those voxels follows the bone's thickness through partial volume
/// (r 0.44 with the cortical bone's median on BrainWeb), the 90th its density (r 0.94).
inline constexpr double kBoneLevelPercentile = 90.0;

/// The kBoneLevelPercentile-th percentile (nearest rank) of ct where body and valid are set and ct
/// is above threshold; NaN when no such voxel exists (a head without bone, a phantom).
/// DataError naming `what` when the three buffers differ in size.
double boneLevel(const std::vector<float>& ct, const std::vector<float>& body, const std::vector<float>& valid,
                 double threshold, const std::string& what);

/// ct above threshold mapped affinely so that `level` lands on `commonLevel`:
/// v' = threshold + (v - threshold)·(commonLevel - threshold)/(level - threshold). Voxels at or
/// below threshold are unchanged, so soft tissue, air and the map's continuity stay.
void harmonizeBoneLevel(float* ct, int64_t n, double threshold, double level, double commonLevel);

/// `data` with the CT of every case of one split (train) brought to the median of those cases' bone
/// levels; other splits, and the MR and masks, read through unchanged (validation scores the true
/// CT). Levels and threshold are in the source's normalized CT units. The source must outlive this.
class BoneLevelHarmonizedSource : public TrainingDataSource {
 public:
  /// Reads every case of `split` whole once to measure its level. A case without bone voxels keeps
  /// its CT and does not count towards the common level; when no case of the split has any,
  /// hasBone() is false and every read passes through unchanged.
  BoneLevelHarmonizedSource(const TrainingDataSource& data, double threshold, const std::string& split = "train");

  std::string name() const override { return data_.name(); }
  std::vector<std::string> caseIds(const std::string& split) const override { return data_.caseIds(split); }
  std::array<int64_t, 3> shape(const std::string& id) const override { return data_.shape(id); }
  void readSlices(const std::string& id, const std::string& dataset, int64_t z0, int64_t count,
                  float* out) const override;

  bool hasBone() const { return !std::isnan(commonLevel_); }
  double commonLevel() const { return commonLevel_; }  ///< NaN without bone
  /// The measured level of each case of the split (NaN: no bone, left unchanged).
  const std::map<std::string, double>& caseLevels() const { return levels_; }

 private:
  const TrainingDataSource& data_;
  double threshold_;
  double commonLevel_;
  std::map<std::string, double> levels_;
};

}  // namespace mr2ct
