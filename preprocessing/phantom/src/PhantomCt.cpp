// CT synthesis for the head phantom: per-tissue HU with a per-case offset, smooth soft-tissue
// texture, cortical bone density varying regionally and finely (not visible in the MR, as in real
// heads), trabecular marrow, partial volume (a small PSF) and noise.
#include <algorithm>
#include <cmath>

#include "PhantomInternal.h"
#include "mr2ct/phantom/HeadPhantom.h"

namespace mr2ct::phantom {

Volume synthesizeCt(const Volume& labels, const Vec3& lo, const Vec3& hi, Random& rng, nlohmann::json& meta) {
  const Geometry& g = labels.geometry();
  const double offset = rng.uniform(-4, 4);  // scanner calibration
  float hu[256];
  std::fill(std::begin(hu), std::end(hu), 0.f);
  hu[kAir] = -1000;
  hu[kInternalAir] = float(rng.uniform(-990, -960));  // mucosa and partial volume in small cavities
  hu[kCsf] = float(rng.uniform(6, 12) + offset);
  hu[kGreyMatter] = float(rng.uniform(37, 43) + offset);
  hu[kWhiteMatter] = float(rng.uniform(25, 31) + offset);
  hu[kFat] = float(rng.uniform(-110, -90) + offset);
  hu[kMuscle] = float(rng.uniform(40, 52) + offset);
  hu[kSkin] = float(rng.uniform(40, 55) + offset);
  hu[kEye] = float(rng.uniform(8, 14) + offset);
  const double boneBase = rng.uniform(1350, 1550), boneRegional = rng.uniform(100, 170),
               boneFine = rng.uniform(60, 100);
  const double marrowBase = rng.uniform(260, 340);
  const double noise = rng.uniform(4, 8);

  const SmoothField soft(lo, hi, 8.0, rng), fatTex(lo, hi, 5.0, rng), boneRegion(lo, hi, 12.0, rng),
      marrowTex(lo, hi, 4.0, rng);
  Volume ct(g);
  const float* lab = labels.data();
  float* d = ct.data();
  const auto& n = g.size;
  for (std::size_t z = 0; z < n[2]; ++z)
    for (std::size_t y = 0; y < n[1]; ++y)
      for (std::size_t x = 0; x < n[0]; ++x) {
        const std::size_t i = g.linearIndex(x, y, z);
        const int l = int(lab[i]);
        double v = hu[l];
        if (l == kAir || l == kInternalAir) {
          d[i] = float(v);
          continue;
        }
        const Vec3 p = g.indexToPhysical({double(x), double(y), double(z)});
        if (l == kCorticalBone) {
          v = boneBase + boneRegional * boneRegion.at(p) + boneFine * rng.normal();
          v = std::clamp(v, 1000.0, 1800.0);
        } else if (l == kMarrow) {
          v = marrowBase + 50 * marrowTex.at(p) + 60 * rng.normal();
        } else if (l == kFat) {
          v += 8 * fatTex.at(p);
        } else {
          v += 2.5 * soft.at(p);
        }
        d[i] = float(v);
      }
  // Partial volume: the scanner's PSF (~0.5 voxel), then quantum noise, lightly correlated.
  gaussianBlur(ct, {0.5, 0.5, 0.5});
  Volume nz(g);
  for (auto& x : nz.voxels()) x = float(rng.normal());
  gaussianBlur(nz, {0.4, 0.4, 0.4});
  double ss = 0;
  for (float x : nz.voxels()) ss += double(x) * x;
  const double nzScale = noise / std::sqrt(ss / double(nz.voxelCount()));  // sigma `noise` after the blur
  for (std::size_t i = 0; i < ct.voxelCount(); ++i)
    d[i] = float(std::clamp(std::nearbyint(d[i] + nzScale * nz.data()[i]), -1024.0, 3071.0));

  meta = {{"offset_hu", offset},       {"bone_base_hu", boneBase}, {"bone_regional_sigma_hu", boneRegional},
          {"bone_fine_sigma_hu", boneFine}, {"marrow_hu", marrowBase}, {"noise_sigma_hu", noise}};
  nlohmann::json tissue;
  for (int l : {int(kInternalAir), int(kCsf), int(kGreyMatter), int(kWhiteMatter), int(kFat), int(kMuscle), int(kSkin),
                int(kEye)})
    tissue[phantomLabelName(l)] = hu[l];
  meta["tissue_hu"] = tissue;
  return ct;
}

}  // namespace mr2ct::phantom
