#include "mr2ct/evaluation/Metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/evaluation/Ssim.h"

namespace mr2ct {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace

const std::vector<std::string>& metricProfileNames() {
  static const std::vector<std::string> names{"synthrad2023", "synthrad2025"};
  return names;
}

MetricProfile metricProfile(const std::string& name) {
  if (name == "synthrad2023") return {name, -1024.0, 3000.0};
  if (name == "synthrad2025") return {name, -1024.0, 3071.0};
  throw OptionError("{profile}: unknown metric profile '" + name + "' (synthrad2023 or synthrad2025)");
}

void MetricsOptions::validate() const {
  metricProfile(profile);
  if (!(airBelowHu < boneAboveHu))
    throw UsageError("tissue thresholds: air threshold (" + std::to_string(airBelowHu) +
                     ") must be below the bone threshold (" + std::to_string(boneAboveHu) + ")");
  if (!std::isfinite(boneDiceHu)) throw UsageError("bone Dice threshold must be finite");
}

nlohmann::json MetricsOptions::toJson() const {
  const auto p = metricProfile(profile);
  return {{"profile", profile}, {"clip", {p.lo, p.hi}}, {"air_below_hu", airBelowHu},
          {"bone_above_hu", boneAboveHu}, {"bone_dice_hu", boneDiceHu}, {"ssim", ssim}, {"ms_ssim", msSsim}};
}

const std::vector<std::string>& MetricsResult::names() {
  static const std::vector<std::string> n{"mae", "me", "rmse", "psnr", "ssim", "ms_ssim",
                                          "mae_air", "mae_soft", "mae_bone", "bone_dice"};
  return n;
}

std::vector<double> MetricsResult::values() const {
  return {mae, me, rmse, psnr, ssim, msSsim, air.mae, soft.mae, bone.mae, boneDice};
}

nlohmann::json MetricsResult::toJson() const {
  nlohmann::json j;
  const auto& n = names();
  const auto v = values();
  for (std::size_t i = 0; i < n.size(); ++i) j[n[i]] = num(v[i]);
  j["profile"] = profile;
  j["mask_voxels"] = maskVoxels;
  j["voxels_air"] = air.voxels;
  j["voxels_soft"] = soft.voxels;
  j["voxels_bone"] = bone.voxels;
  return j;
}

MetricsResult computeMetrics(const float* pred, const float* ref, const std::uint8_t* mask,
                             const std::array<std::size_t, 3>& size, const MetricsOptions& options) {
  options.validate();
  const MetricProfile p = metricProfile(options.profile);
  const std::size_t n = size[0] * size[1] * size[2];
  MetricsResult r;
  r.profile = p.name;
  double sumAbs = 0, sumDiff = 0, sumSq = 0, sumSqClip = 0;
  double tissueAbs[3] = {0, 0, 0};
  std::size_t tissueN[3] = {0, 0, 0};
  std::size_t bonePred = 0, boneRef = 0, boneBoth = 0;
  std::size_t count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!mask[i]) continue;
    ++count;
    const double a = pred[i], b = ref[i];
    const double d = a - b;
    sumAbs += std::fabs(d);
    sumDiff += d;
    sumSq += d * d;
    const double dc = std::clamp(a, p.lo, p.hi) - std::clamp(b, p.lo, p.hi);
    sumSqClip += dc * dc;
    const int cls = b < options.airBelowHu ? 0 : (b > options.boneAboveHu ? 2 : 1);
    tissueAbs[cls] += std::fabs(d);
    ++tissueN[cls];
    const bool bp = a > options.boneDiceHu, br = b > options.boneDiceHu;
    bonePred += bp;
    boneRef += br;
    boneBoth += bp && br;
  }
  if (count == 0) throw DataError("mask is empty: no voxel to evaluate");
  r.maskVoxels = count;
  const double c = double(count);
  r.mae = sumAbs / c;
  r.me = sumDiff / c;
  r.rmse = std::sqrt(sumSq / c);
  const double mseClip = sumSqClip / c;
  r.psnr = mseClip > 0 ? 10.0 * std::log10((p.hi - p.lo) * (p.hi - p.lo) / mseClip) : kNaN;
  TissueError* t[3] = {&r.air, &r.soft, &r.bone};
  for (int k = 0; k < 3; ++k) {
    t[k]->voxels = tissueN[k];
    t[k]->mae = tissueN[k] ? tissueAbs[k] / double(tissueN[k]) : kNaN;
  }
  r.boneDice = (bonePred + boneRef) ? 2.0 * double(boneBoth) / double(bonePred + boneRef) : kNaN;

  SsimInput in;
  in.ref = ref;
  in.pred = pred;
  in.mask = mask;
  in.size = size;
  in.lo = p.lo;
  in.hi = p.hi;
  in.threads = options.threads;
  if (options.ssim && options.msSsim) {
    const SsimPair both = ssimAndMsSsim3d(in);
    r.ssim = both.ssim;
    r.msSsim = both.msSsim;
  } else {
    r.ssim = options.ssim ? ssim3d(in) : kNaN;
    r.msSsim = options.msSsim ? msSsim3d(in) : kNaN;
  }
  return r;
}

MetricsResult computeMetrics(const Volume& pred, const Volume& ref, const Mask& mask, const MetricsOptions& options,
                             const std::string& predName, const std::string& refName, const std::string& maskName) {
  auto dims = [](const std::array<std::size_t, 3>& s) {
    return std::to_string(s[0]) + "x" + std::to_string(s[1]) + "x" + std::to_string(s[2]);
  };
  if (pred.size() != ref.size())
    throw DataError(predName, "size " + dims(pred.size()) + " differs from the reference " + refName + " (" +
                                  dims(ref.size()) + ")");
  if (mask.size() != ref.size())
    throw DataError(maskName, "size " + dims(mask.size()) + " differs from the reference " + refName + " (" +
                                  dims(ref.size()) + ")");
  if (pred.firstNonFinite() >= 0)
    throw DataError(predName, "voxel " + std::to_string(pred.firstNonFinite()) + " is NaN or infinite");
  if (ref.firstNonFinite() >= 0)
    throw DataError(refName, "voxel " + std::to_string(ref.firstNonFinite()) + " is NaN or infinite");
  if (mask.count() == 0) throw DataError(maskName, "mask is empty: no voxel to evaluate");
  return computeMetrics(pred.data(), ref.data(), mask.data(), ref.size(), options);
}

}  // namespace mr2ct
