// SSIM / MS-SSIM on plain arrays; the definitions are in Ssim.h. Why this shape: the challenge
// code filters whole volumes five times in numpy (seconds, gigabytes); here each z-slice is box-
// filtered in 2D once, kept in a ring of 7 slices, and the 7x7x7 sums are formed only where the
// cropped mask is set, so memory is O(slice) and the work is split over z-chunks.
#include "mr2ct/evaluation/Ssim.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <thread>

namespace mr2ct {
namespace {

constexpr std::size_t kWin = 7;
constexpr std::size_t kRad = kWin / 2;  // also the crop width
constexpr double kK1 = 0.01, kK2 = 0.03;
constexpr std::size_t kMsMinSize = 97;

/// A pair of prepared images (already clipped, masked, shifted) and a mask, read slice by slice.
struct SliceSource {
  std::array<std::size_t, 3> size{0, 0, 0};
  std::function<void(std::size_t z, double* x, double* y, std::uint8_t* m)> fill;
};

struct Moments {
  double ux, uy, vx, vy, vxy;
};

/// Sums of up to two map values (SSIM and MS-SSIM level 0 share one pass when no padding is needed).
struct PartialMean {
  double sum[2] = {0.0, 0.0};
  std::size_t count = 0;
};

int resolveThreads(int threads) {
  if (threads > 0) return threads;
  const unsigned hc = std::thread::hardware_concurrency();
  return hc ? int(hc) : 1;
}

/// Sum over the cropped mask of kernel(moments) for output slices [zb, ze).
template <class Kernel>
PartialMean chunkSum(const SliceSource& src, std::size_t zb, std::size_t ze, const Kernel& kernel) {
  const std::size_t nx = src.size[0], ny = src.size[1];
  const std::size_t ox = nx - 2 * kRad, oy = ny - 2 * kRad, plane = ox * oy;
  std::vector<double> x(nx * ny), y(nx * ny), prod(3 * nx);
  std::vector<double> rows(5 * ox * ny);
  std::vector<double> ring(kWin * 5 * plane);
  std::vector<std::uint8_t> ringMask(kWin * nx * ny);
  const double n = double(kWin * kWin * kWin);
  const double cov = n / (n - 1.0);
  PartialMean acc;

  for (std::size_t zi = zb - kRad; zi < ze + kRad; ++zi) {
    const std::size_t slot = zi % kWin;
    std::uint8_t* m = &ringMask[slot * nx * ny];
    src.fill(zi, x.data(), y.data(), m);
    // x pass: 7-tap sums of x, y, x², y², xy along each row.
    for (std::size_t j = 0; j < ny; ++j) {
      const double* a = &x[j * nx];
      const double* b = &y[j * nx];
      double* aa = prod.data();
      double* bb = aa + nx;
      double* ab = bb + nx;
      for (std::size_t i = 0; i < nx; ++i) {
        aa[i] = a[i] * a[i];
        bb[i] = b[i] * b[i];
        ab[i] = a[i] * b[i];
      }
      const double* in[5] = {a, b, aa, bb, ab};
      for (int q = 0; q < 5; ++q) {
        double* out = &rows[(q * ny + j) * ox];
        const double* s = in[q];
        for (std::size_t i = 0; i < ox; ++i)
          out[i] = s[i] + s[i + 1] + s[i + 2] + s[i + 3] + s[i + 4] + s[i + 5] + s[i + 6];
      }
    }
    // y pass into the ring slot.
    for (int q = 0; q < 5; ++q) {
      const double* r = &rows[q * ny * ox];
      double* out = &ring[(slot * 5 + q) * plane];
      for (std::size_t j = 0; j < oy; ++j) {
        const double* r0 = r + j * ox;
        double* o = out + j * ox;
        for (std::size_t i = 0; i < ox; ++i)
          o[i] = r0[i] + r0[i + ox] + r0[i + 2 * ox] + r0[i + 3 * ox] + r0[i + 4 * ox] + r0[i + 5 * ox] +
                 r0[i + 6 * ox];
      }
    }
    if (zi < zb + kRad) continue;
    // Output slice z = zi - kRad: its 7 input slices are all in the ring.
    const std::size_t z = zi - kRad;
    const std::uint8_t* mz = &ringMask[(z % kWin) * nx * ny];
    for (std::size_t j = 0; j < oy; ++j) {
      for (std::size_t i = 0; i < ox; ++i) {
        if (!mz[(j + kRad) * nx + i + kRad]) continue;
        const std::size_t p = j * ox + i;
        double s[5] = {0, 0, 0, 0, 0};
        for (std::size_t k = 0; k < kWin; ++k) {
          const double* base = &ring[k * 5 * plane + p];
          for (int q = 0; q < 5; ++q) s[q] += base[q * plane];
        }
        Moments mo;
        mo.ux = s[0] / n;
        mo.uy = s[1] / n;
        mo.vx = cov * (s[2] / n - mo.ux * mo.ux);
        mo.vy = cov * (s[3] / n - mo.uy * mo.uy);
        mo.vxy = cov * (s[4] / n - mo.ux * mo.uy);
        const std::array<double, 2> v = kernel(mo);
        acc.sum[0] += v[0];
        acc.sum[1] += v[1];
        ++acc.count;
      }
    }
  }
  return acc;
}

/// Means of kernel(moments) (two values) over the mask inside the 3-voxel crop; NaN when empty.
template <class Kernel>
std::array<double, 2> maskedCroppedMeans(const SliceSource& src, const Kernel& kernel, int threads) {
  const std::size_t nz = src.size[2];
  const std::size_t z0 = kRad, z1 = nz - kRad, outSlices = z1 - z0;
  const std::size_t chunks = std::max<std::size_t>(1, std::min<std::size_t>(resolveThreads(threads), outSlices));
  std::vector<PartialMean> parts(chunks);
  auto work = [&](std::size_t c) {
    const std::size_t zb = z0 + outSlices * c / chunks, ze = z0 + outSlices * (c + 1) / chunks;
    if (zb < ze) parts[c] = chunkSum(src, zb, ze, kernel);
  };
  if (chunks == 1) {
    work(0);
  } else {
    std::vector<std::thread> pool;
    for (std::size_t c = 0; c < chunks; ++c) pool.emplace_back(work, c);
    for (auto& t : pool) t.join();
  }
  PartialMean total;
  for (const auto& p : parts) {
    total.sum[0] += p.sum[0];
    total.sum[1] += p.sum[1];
    total.count += p.count;
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (!total.count) return {nan, nan};
  return {total.sum[0] / double(total.count), total.sum[1] / double(total.count)};
}

/// The SSIM map (SynthRAD2023).
struct SsimKernel {
  double c1, c2;
  double operator()(const Moments& m) const {
    return ((2 * m.ux * m.uy + c1) * (2 * m.vxy + c2)) / ((m.ux * m.ux + m.uy * m.uy + c1) * (m.vx + m.vy + c2));
  }
};

/// One MS-SSIM level's map L^w C^w S^w (SynthRAD2025).
struct MsSsimKernel {
  double c1, c2, c3, w;
  double operator()(const Moments& m) const {
    const double sx = std::sqrt(std::max(m.vx, 0.0)), sy = std::sqrt(std::max(m.vy, 0.0));
    const double lum = std::max((2 * m.ux * m.uy + c1) / (m.ux * m.ux + m.uy * m.uy + c1), 0.0);
    const double con = std::max((2 * sx * sy + c2) / (m.vx + m.vy + c2), 0.0);
    const double str = std::max((m.vxy + c3) / (sx * sy + c3), 0.0);
    // L^w C^w S^w == (L C S)^w for non-negative terms; one pow instead of three.
    return std::pow(lum * con * str, w);
  }
};

struct Constants {
  double c1, c2, c3;
  explicit Constants(const SsimInput& in) {
    const double range = in.hi - in.lo;
    c1 = (kK1 * range) * (kK1 * range);
    c2 = (kK2 * range) * (kK2 * range);
    c3 = c2 / 2;
  }
};

/// Level 0: clip, mask, shift, and edge-pad every axis to at least `minSize` (0 = no padding),
/// split (n_pad = minSize - n) as floor(n_pad/2) before and the rest after, like np.pad.
SliceSource preparedSource(const SsimInput& in, std::size_t minSize) {
  SliceSource s;
  std::array<std::size_t, 3> before{0, 0, 0};
  for (int a = 0; a < 3; ++a) {
    const std::size_t n = in.size[a];
    const std::size_t total = minSize > n ? minSize - n : 0;
    before[a] = total / 2;
    s.size[a] = n + total;
  }
  const SsimInput input = in;
  const auto full = s.size;
  s.fill = [input, before, full](std::size_t z, double* x, double* y, std::uint8_t* m) {
    const auto clampIndex = [](std::ptrdiff_t p, std::size_t n) {
      return std::size_t(std::clamp<std::ptrdiff_t>(p, 0, std::ptrdiff_t(n) - 1));
    };
    const std::size_t nx = input.size[0], ny = input.size[1];
    const std::size_t sz = clampIndex(std::ptrdiff_t(z) - std::ptrdiff_t(before[2]), input.size[2]);
    for (std::size_t j = 0; j < full[1]; ++j) {
      const std::size_t sy = clampIndex(std::ptrdiff_t(j) - std::ptrdiff_t(before[1]), ny);
      const std::size_t row = nx * (sy + ny * sz);
      for (std::size_t i = 0; i < full[0]; ++i) {
        const std::size_t sx = clampIndex(std::ptrdiff_t(i) - std::ptrdiff_t(before[0]), nx);
        const std::size_t idx = row + sx;
        const std::size_t o = j * full[0] + i;
        const bool inside = input.mask[idx] != 0;
        m[o] = inside ? 1 : 0;
        // where(m, clip(v, lo, hi), lo) - lo
        x[o] = inside ? std::clamp(double(input.ref[idx]), input.lo, input.hi) - input.lo : 0.0;
        y[o] = inside ? std::clamp(double(input.pred[idx]), input.lo, input.hi) - input.lo : 0.0;
      }
    }
  };
  return s;
}

/// A materialized level (after halving).
struct Level {
  std::array<std::size_t, 3> size{0, 0, 0};
  std::vector<double> x, y;
  std::vector<std::uint8_t> m;
  SliceSource source() const {
    SliceSource s;
    s.size = size;
    const Level* self = this;
    s.fill = [self](std::size_t z, double* xOut, double* yOut, std::uint8_t* mOut) {
      const std::size_t plane = self->size[0] * self->size[1];
      std::copy_n(self->x.data() + z * plane, plane, xOut);
      std::copy_n(self->y.data() + z * plane, plane, yOut);
      std::copy_n(self->m.data() + z * plane, plane, mOut);
    };
    return s;
  }
};

/// out[k] = (a[2k-1] + a[2k]) per axis (a[-1] = 0), x then y then z, / 8; mask strided.
Level halve(const SliceSource& src) {
  const std::size_t nx = src.size[0], ny = src.size[1], nz = src.size[2];
  Level out;
  out.size = {(nx + 1) / 2, (ny + 1) / 2, (nz + 1) / 2};
  const std::size_t hx = out.size[0], hy = out.size[1], hz = out.size[2];
  out.x.assign(hx * hy * hz, 0.0);
  out.y.assign(hx * hy * hz, 0.0);
  out.m.assign(hx * hy * hz, 0);
  std::vector<double> sx(nx * ny), sy(nx * ny);
  std::vector<std::uint8_t> sm(nx * ny);
  std::vector<double> hxTmp(hx * ny);
  std::vector<double> pairX(hx * hy), pairY(hx * hy);
  // 2D halving of one slice along x then y.
  auto halve2d = [&](const std::vector<double>& a, std::vector<double>& dst) {
    for (std::size_t j = 0; j < ny; ++j)
      for (std::size_t i = 0; i < hx; ++i) {
        const std::size_t c = 2 * i;
        hxTmp[j * hx + i] = (c == 0 ? 0.0 : a[j * nx + c - 1]) + a[j * nx + c];
      }
    for (std::size_t j = 0; j < hy; ++j)
      for (std::size_t i = 0; i < hx; ++i) {
        const std::size_t r = 2 * j;
        dst[j * hx + i] = (r == 0 ? 0.0 : hxTmp[(r - 1) * hx + i]) + hxTmp[r * hx + i];
      }
  };
  std::vector<double> prevX(hx * hy), prevY(hx * hy), curX(hx * hy), curY(hx * hy);
  for (std::size_t k = 0; k < hz; ++k) {
    const std::size_t c = 2 * k;
    if (c == 0) {
      std::fill(prevX.begin(), prevX.end(), 0.0);
      std::fill(prevY.begin(), prevY.end(), 0.0);
    } else {
      src.fill(c - 1, sx.data(), sy.data(), sm.data());
      halve2d(sx, prevX);
      halve2d(sy, prevY);
    }
    src.fill(c, sx.data(), sy.data(), sm.data());
    halve2d(sx, curX);
    halve2d(sy, curY);
    const std::size_t base = k * hx * hy;
    for (std::size_t p = 0; p < hx * hy; ++p) {
      out.x[base + p] = (prevX[p] + curX[p]) / 8.0;
      out.y[base + p] = (prevY[p] + curY[p]) / 8.0;
    }
    for (std::size_t j = 0; j < hy; ++j)
      for (std::size_t i = 0; i < hx; ++i) out.m[base + j * hx + i] = sm[(2 * j) * nx + 2 * i];
  }
  return out;
}

void checkInput(const SsimInput& in) {
  if (!in.ref || !in.pred || !in.mask) throw std::invalid_argument("ssim: null input buffer");
  if (!(in.hi > in.lo)) throw std::invalid_argument("ssim: clip range must have hi > lo");
}

}  // namespace

double ssim3d(const SsimInput& in) {
  checkInput(in);
  if (std::min({in.size[0], in.size[1], in.size[2]}) < kWin) return std::numeric_limits<double>::quiet_NaN();
  const Constants k(in);
  const SsimKernel kernel{k.c1, k.c2};
  return maskedCroppedMeans(
      preparedSource(in, 0), [&](const Moments& m) { return std::array<double, 2>{kernel(m), 0.0}; },
      in.threads)[0];
}

namespace {

/// MS-SSIM; when `ssimOut` is given and no padding is needed, SSIM is computed in level 0's pass
/// (same prepared images, same moments).
double msSsimImpl(const SsimInput& in, const std::vector<double>& weights, std::vector<double>* levelValues,
                  double* ssimOut) {
  checkInput(in);
  const Constants k(in);
  const bool fuse = ssimOut && std::min({in.size[0], in.size[1], in.size[2]}) >= kMsMinSize;
  if (ssimOut && !fuse) *ssimOut = ssim3d(in);
  if (levelValues) levelValues->clear();
  double result = 1.0;
  Level level;  // holds levels >= 1
  SliceSource src = preparedSource(in, kMsMinSize);
  for (std::size_t l = 0; l < weights.size(); ++l) {
    const MsSsimKernel ms{k.c1, k.c2, k.c3, weights[l]};
    double value = std::numeric_limits<double>::quiet_NaN();
    if (std::min({src.size[0], src.size[1], src.size[2]}) >= kWin) {
      if (l == 0 && fuse) {
        const SsimKernel ss{k.c1, k.c2};
        const auto v = maskedCroppedMeans(
            src, [&](const Moments& m) { return std::array<double, 2>{ms(m), ss(m)}; }, in.threads);
        value = v[0];
        *ssimOut = v[1];
      } else {
        value = maskedCroppedMeans(
            src, [&](const Moments& m) { return std::array<double, 2>{ms(m), 0.0}; }, in.threads)[0];
      }
    } else if (l == 0 && fuse) {
      *ssimOut = std::numeric_limits<double>::quiet_NaN();
    }
    if (levelValues) levelValues->push_back(value);
    result *= std::isnan(value) ? value : std::clamp(value, 0.0, 1.0);
    if (l + 1 < weights.size()) {
      Level next = halve(src);
      level = std::move(next);
      src = level.source();
    }
  }
  return result;
}

}  // namespace

double msSsim3d(const SsimInput& in, const std::vector<double>& weights, std::vector<double>* levelValues) {
  return msSsimImpl(in, weights, levelValues, nullptr);
}

SsimPair ssimAndMsSsim3d(const SsimInput& in, const std::vector<double>& weights) {
  SsimPair p;
  p.msSsim = msSsimImpl(in, weights, nullptr, &p.ssim);
  return p;
}

}  // namespace mr2ct
