#pragma once
// Structural similarity exactly as the SynthRAD challenges compute it (see
// ../shared/peers/metrics_reference.py, the definition we match):
//   * both images clipped to [lo, hi], voxels outside the mask set to lo, shifted by -lo;
//   * local means and SAMPLE (co)variances (N/(N-1), N = 7^3) over a 7x7x7 uniform window;
//   * K1 = 0.01, K2 = 0.03, data range R = hi - lo;
//   * the value of a map is its mean over the mask after cropping a 3-voxel border from every
//     side (scikit-image's crop), so the window never needs border handling.
// Plain arrays, x-fastest (index = x + nx*(y + ny*z)), no ITK. Computed in double precision
// with separable 7-tap box sums over a ring of 2D-filtered slices, threads over z-chunks.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mr2ct {

struct SsimInput {
  const float* ref = nullptr;
  const float* pred = nullptr;
  const std::uint8_t* mask = nullptr;  ///< non-zero = inside
  std::array<std::size_t, 3> size{0, 0, 0};
  double lo = -1024.0;  ///< clip range (profile)
  double hi = 3000.0;
  int threads = 0;      ///< 0 = hardware concurrency
};

/// SynthRAD2023 SSIM. NaN when an axis is shorter than 7 voxels or the cropped mask is empty.
double ssim3d(const SsimInput& in);

/// SynthRAD2025 MS-SSIM: every axis edge-padded to at least 97 voxels, `weights.size()` levels,
/// per level map = L^w * C^w * S^w (each term clipped at 0; luminance at EVERY level, as the
/// challenge code does), level value = mean over the cropped (strided) mask, clipped to [0, 1];
/// result = product of level values. Between levels: 2x2x2 box average over indices {2i-1, 2i}
/// (index -1 counts as 0) keeping every second voxel; the mask is subsampled by striding.
/// NaN when a level's cropped mask is empty. `levelValues` (optional) receives each level's value.
double msSsim3d(const SsimInput& in, const std::vector<double>& weights = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333},
                std::vector<double>* levelValues = nullptr);

struct SsimPair {
  double ssim, msSsim;
};
/// Both, sharing the full-resolution pass when every axis is >= 97 voxels (identical values to
/// calling ssim3d and msSsim3d separately).
SsimPair ssimAndMsSsim3d(const SsimInput& in,
                         const std::vector<double>& weights = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333});

}  // namespace mr2ct
