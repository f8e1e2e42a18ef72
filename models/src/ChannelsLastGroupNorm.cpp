#include "mr2ct/models/ChannelsLastGroupNorm.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "mr2ct/core/Error.h"

namespace mr2ct {

namespace {

// The row loops below are plain arithmetic on arrays so that GCC vectorizes them; target_clones
// compiles one copy per instruction set and picks the best at load time (the build itself has no
// -march: the binary runs on any x86-64).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define MR2CT_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MR2CT_VECTOR_CLONES
#endif

inline float fromBf16(std::uint16_t v) {
  const std::uint32_t u = std::uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// Round to nearest even, as c10::BFloat16 does; NaN stays NaN (quiet).
inline std::uint16_t toBf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  const std::uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const std::uint32_t nan = (u >> 16) | 0x40u;
  return std::uint16_t((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

/// e^x for x in [-87, 88] (clamped outside): Cephes' expf reduction and polynomial, ~1 ulp, no
/// library call, so that the SiLU loop vectorizes.
inline float expApprox(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  // Round to nearest by adding and removing 1.5·2^23 (|x·log2 e| < 2^22): no call, vectorizes.
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  const std::int32_t bits = (std::int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return e * scale;
}

/// Per-channel sum and sum of squares of `rows` rows of C values.
MR2CT_VECTOR_CLONES
void accumulateRows(const std::uint16_t* x, int64_t rows, int64_t c, double* sum, double* sumSq) {
  for (int64_t r = 0; r < rows; ++r) {
    const std::uint16_t* row = x + r * c;
    for (int64_t k = 0; k < c; ++k) {
      const double v = fromBf16(row[k]);
      sum[k] += v;
      sumSq[k] += v * v;
    }
  }
}

/// y = x·scale + shift per channel, then SiLU when asked, rounded to bf16: `count` values whose
/// channel is their index modulo C, with scale and shift given as one tile of whole rows (length
/// `tile`, a multiple of C) so that the loop runs long (rows of 16–128 channels are too short).
MR2CT_VECTOR_CLONES
void normalizeValues(const std::uint16_t* x, std::uint16_t* y, int64_t count, const float* scale, const float* shift,
                     int64_t tile, bool silu) {
  for (int64_t start = 0; start < count; start += tile) {
    const int64_t len = std::min(tile, count - start);
    const std::uint16_t* in = x + start;
    std::uint16_t* out = y + start;
    if (silu) {
      for (int64_t k = 0; k < len; ++k) {
        const float v = fromBf16(in[k]) * scale[k] + shift[k];
        out[k] = toBf16(v / (1.0f + expApprox(-v)));
      }
    } else {
      for (int64_t k = 0; k < len; ++k) out[k] = toBf16(fromBf16(in[k]) * scale[k] + shift[k]);
    }
  }
}

std::vector<float> asFloats(const torch::Tensor& t) {
  const torch::Tensor f = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
}

constexpr int64_t kRowsPerTask = 1024;
constexpr int64_t kTileValues = 512;

}  // namespace

bool groupNormChannelsLastBf16Applies(const torch::Tensor& x) {
  return x.is_cpu() && x.scalar_type() == torch::kBFloat16 && x.dim() == 4 &&
         x.is_contiguous(torch::MemoryFormat::ChannelsLast);
}

torch::Tensor groupNormChannelsLastBf16(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                                        const torch::Tensor& bias, double eps, bool silu) {
  if (!groupNormChannelsLastBf16Applies(x))
    throw UsageError("groupNormChannelsLastBf16: x must be a CPU bf16 channels-last 4-D tensor");
  const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  if (groups < 1 || c % groups != 0 || weight.numel() != c || bias.numel() != c)
    throw UsageError("groupNormChannelsLastBf16: channels must be a multiple of groups, weight and bias [C]");
  torch::Tensor y = torch::empty_like(x, x.options().memory_format(torch::MemoryFormat::ChannelsLast));
  if (x.numel() == 0) return y;
  const auto* in = reinterpret_cast<const std::uint16_t*>(x.data_ptr<at::BFloat16>());
  auto* out = reinterpret_cast<std::uint16_t*>(y.data_ptr<at::BFloat16>());

  // Statistics: each task sums a block of rows of one sample into its own slot, then per sample.
  const int64_t blocks = (hw + kRowsPerTask - 1) / kRowsPerTask;
  std::vector<double> partial(std::size_t(n * blocks * 2 * c), 0.0);
  at::parallel_for(0, n * blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t s = task / blocks, b = task % blocks;
      const int64_t first = b * kRowsPerTask, rows = std::min(kRowsPerTask, hw - first);
      double* slot = partial.data() + task * 2 * c;
      accumulateRows(in + (s * hw + first) * c, rows, c, slot, slot + c);
    }
  });
  const std::vector<float> w = asFloats(weight), bs = asFloats(bias);
  const int64_t perGroup = c / groups;
  const int64_t tileRows = std::max<int64_t>(1, kTileValues / c), tile = tileRows * c;
  std::vector<float> scale(std::size_t(n * tile)), shift(std::size_t(n * tile));
  for (int64_t s = 0; s < n; ++s)
    for (int64_t g = 0; g < groups; ++g) {
      double sum = 0, sumSq = 0;
      for (int64_t b = 0; b < blocks; ++b)
        for (int64_t k = g * perGroup; k < (g + 1) * perGroup; ++k) {
          sum += partial[std::size_t(((s * blocks + b) * 2) * c + k)];
          sumSq += partial[std::size_t(((s * blocks + b) * 2 + 1) * c + k)];
        }
      const double count = double(perGroup * hw), mean = sum / count;
      const double var = std::max(0.0, sumSq / count - mean * mean);
      const double rstd = 1.0 / std::sqrt(var + eps);
      for (int64_t k = g * perGroup; k < (g + 1) * perGroup; ++k) {
        const double a = rstd * double(w[std::size_t(k)]);
        for (int64_t r = 0; r < tileRows; ++r) {
          scale[std::size_t(s * tile + r * c + k)] = float(a);
          shift[std::size_t(s * tile + r * c + k)] = float(double(bs[std::size_t(k)]) - mean * a);
        }
      }
    }

  at::parallel_for(0, n * blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t s = task / blocks, b = task % blocks;
      const int64_t first = b * kRowsPerTask, rows = std::min(kRowsPerTask, hw - first);
      const int64_t offset = (s * hw + first) * c;
      normalizeValues(in + offset, out + offset, rows * c, scale.data() + s * tile, shift.data() + s * tile, tile, silu);
    }
  });
  return y;
}

}  // namespace mr2ct
