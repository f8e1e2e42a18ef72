// T1-weighted MR synthesis for the head phantom: per-tissue signal relative to white matter (fat
// bright, WM > GM > CSF, cortical bone AND air dark, fatty marrow bright), per-case jitter, smooth
// within-tissue heterogeneity, partial volume, a smooth multiplicative bias field and Rician noise.
#include <algorithm>
#include <cmath>

#include "PhantomInternal.h"
#include "mr2ct/phantom/HeadPhantom.h"

namespace mr2ct::phantom {

Volume synthesizeMr(const Volume& labels, const Vec3& lo, const Vec3& hi, Random& rng, nlohmann::json& meta) {
  const Geometry& g = labels.geometry();
  float sig[256];
  std::fill(std::begin(sig), std::end(sig), 0.f);
  auto jitter = [&](double v) { return float(v * (1 + 0.04 * (2 * rng.uniform() - 1))); };
  sig[kAir] = 0;
  sig[kInternalAir] = 0;
  sig[kCorticalBone] = jitter(0.04);  // T2* far below the echo time: almost no signal
  sig[kMarrow] = jitter(1.05);        // fatty marrow
  sig[kCsf] = jitter(0.33);
  sig[kGreyMatter] = jitter(0.78);
  sig[kWhiteMatter] = 1.0f;
  sig[kFat] = jitter(2.1);
  sig[kMuscle] = jitter(0.72);
  sig[kSkin] = jitter(0.85);
  sig[kEye] = jitter(0.30);
  const double wmLevel = rng.uniform(120, 220);
  const double noiseFrac = rng.uniform(0.02, 0.04);
  const double heterogeneity = rng.uniform(0.015, 0.04);
  const double biasAmplitude = rng.uniform(0.10, 0.18);
  const Vec3 gradient{rng.uniform(-0.12, 0.12), rng.uniform(-0.12, 0.12), rng.uniform(-0.12, 0.12)};

  const SmoothField texture(lo, hi, 6.0, rng), bias(lo, hi, 70.0, rng);
  const Vec3 mid{(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2};
  const Vec3 half{(hi[0] - lo[0]) / 2, (hi[1] - lo[1]) / 2, (hi[2] - lo[2]) / 2};
  Volume mr(g), biasField(g);
  const float* lab = labels.data();
  float* d = mr.data();
  const auto& n = g.size;
  for (std::size_t z = 0; z < n[2]; ++z)
    for (std::size_t y = 0; y < n[1]; ++y)
      for (std::size_t x = 0; x < n[0]; ++x) {
        const std::size_t i = g.linearIndex(x, y, z);
        const Vec3 p = g.indexToPhysical({double(x), double(y), double(z)});
        const int l = int(lab[i]);
        d[i] = sig[l] == 0 ? 0.f : float(sig[l] * (1 + heterogeneity * texture.at(p)));
        double b = biasAmplitude * bias.at(p);
        for (int a = 0; a < 3; ++a) b += gradient[a] * (p[a] - mid[a]) / half[a];
        biasField.data()[i] = float(std::exp(b));
      }
  gaussianBlur(mr, {0.5, 0.5, 0.5});
  // Rician magnitude: |s + n1 + i·n2| with Gaussian n1, n2 (air becomes a Rayleigh floor).
  const double sigma = noiseFrac * wmLevel;
  for (std::size_t i = 0; i < mr.voxelCount(); ++i) {
    const double s = d[i] * biasField.data()[i] * wmLevel;
    const double re = s + sigma * rng.normal(), im = sigma * rng.normal();
    d[i] = float(std::sqrt(re * re + im * im));
  }
  meta = {{"wm_level", wmLevel},         {"noise_sigma", sigma},          {"heterogeneity", heterogeneity},
          {"bias_amplitude", biasAmplitude}, {"bias_gradient", gradient}};
  nlohmann::json tissue;
  for (int l : {int(kCorticalBone), int(kMarrow), int(kCsf), int(kGreyMatter), int(kWhiteMatter), int(kFat),
                int(kMuscle), int(kSkin), int(kEye)})
    tissue[phantomLabelName(l)] = sig[l];
  meta["tissue_relative_to_wm"] = tissue;
  return mr;
}

}  // namespace mr2ct::phantom
