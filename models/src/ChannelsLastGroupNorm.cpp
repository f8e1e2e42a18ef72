#include "mr2ct/models/ChannelsLastGroupNorm.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

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

/// d silu(z) / dz = σ(z)·(1 + z·(1 − σ(z))).
inline float siluDerivative(float z) {
  const float sig = 1.0f / (1.0f + expApprox(-z));
  return sig * (1.0f + z * (1.0f - sig));
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

/// Backward, first pass: per channel (as tile positions) Σ dz and Σ dz·x̂ over `count` values,
/// where z = x·scale + shift is the normalized value, dz = dy·silu'(z) (dy without SiLU) and
/// x̂ = x·hatScale + hatShift. Accumulates into sum1/sum2 (length `tile`).
MR2CT_VECTOR_CLONES
void accumulateGradients(const std::uint16_t* x, const std::uint16_t* dy, int64_t count, const float* scale,
                         const float* shift, const float* hatScale, const float* hatShift, int64_t tile, bool silu,
                         float* sum1, float* sum2) {
  // Two loops rather than a branch inside one: GCC vectorizes neither with the branch in it.
  for (int64_t start = 0; start < count; start += tile) {
    const int64_t len = std::min(tile, count - start);
    const std::uint16_t* in = x + start;
    const std::uint16_t* grad = dy + start;
    if (silu) {
      for (int64_t k = 0; k < len; ++k) {
        const float v = fromBf16(in[k]);
        const float d = fromBf16(grad[k]) * siluDerivative(v * scale[k] + shift[k]);
        sum1[k] += d;
        sum2[k] += d * (v * hatScale[k] + hatShift[k]);
      }
    } else {
      for (int64_t k = 0; k < len; ++k) {
        const float v = fromBf16(in[k]), d = fromBf16(grad[k]);
        sum1[k] += d;
        sum2[k] += d * (v * hatScale[k] + hatShift[k]);
      }
    }
  }
}

/// Backward, second pass: dx = a·dz + b·x + c per channel (tiles as above), rounded to bf16.
MR2CT_VECTOR_CLONES
void inputGradient(const std::uint16_t* x, const std::uint16_t* dy, std::uint16_t* dx, int64_t count,
                   const float* scale, const float* shift, const float* a, const float* b, const float* c,
                   int64_t tile, bool silu) {
  for (int64_t start = 0; start < count; start += tile) {
    const int64_t len = std::min(tile, count - start);
    const std::uint16_t* in = x + start;
    const std::uint16_t* grad = dy + start;
    std::uint16_t* out = dx + start;
    if (silu) {
      for (int64_t k = 0; k < len; ++k) {
        const float v = fromBf16(in[k]);
        const float d = fromBf16(grad[k]) * siluDerivative(v * scale[k] + shift[k]);
        out[k] = toBf16(a[k] * d + b[k] * v + c[k]);
      }
    } else {
      for (int64_t k = 0; k < len; ++k) {
        const float v = fromBf16(in[k]);
        out[k] = toBf16(a[k] * fromBf16(grad[k]) + b[k] * v + c[k]);
      }
    }
  }
}

std::vector<float> asFloats(const torch::Tensor& t) {
  const torch::Tensor f = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
}

constexpr int64_t kRowsPerTask = 1024;
constexpr int64_t kTileValues = 512;

const std::uint16_t* bf16Data(const torch::Tensor& t) {
  return reinterpret_cast<const std::uint16_t*>(t.data_ptr<at::BFloat16>());
}
std::uint16_t* bf16Data(torch::Tensor& t) { return reinterpret_cast<std::uint16_t*>(t.data_ptr<at::BFloat16>()); }

/// Shape of one call: N samples of HW positions × C channels in G groups, cut into tasks of
/// kRowsPerTask positions; per-channel constants are laid out as tiles of whole rows.
struct Layout {
  int64_t n, c, hw, groups, perGroup, blocks, tileRows, tile;
  Layout(const torch::Tensor& x, int64_t g)
      : n(x.size(0)), c(x.size(1)), hw(x.size(2) * x.size(3)), groups(g), perGroup(x.size(1) / g),
        blocks((hw + kRowsPerTask - 1) / kRowsPerTask), tileRows(std::max<int64_t>(1, kTileValues / c)),
        tile(tileRows * c) {}
  /// Runs fn(sample, firstRow, rows, task) for every task, in parallel.
  template <class Fn>
  void forEachTask(const Fn& fn) const {
    at::parallel_for(0, n * blocks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t s = task / blocks, first = (task % blocks) * kRowsPerTask;
        fn(s, first, std::min(kRowsPerTask, hw - first), task);
      }
    });
  }
  /// Index of (sample s, the group of channel k) in per-group arrays such as GroupStatistics'.
  std::size_t group(int64_t s, int64_t k) const { return std::size_t(s * groups + k / perGroup); }
  /// Sums per-task slots [task][2][C] over each sample's tasks into [sample][2][C].
  std::vector<double> sumTasksPerSample(const std::vector<double>& partial) const {
    std::vector<double> sums(std::size_t(n * 2 * c), 0.0);
    for (int64_t s = 0; s < n; ++s)
      for (int64_t b = 0; b < blocks; ++b)
        for (int64_t k = 0; k < 2 * c; ++k) sums[std::size_t(s * 2 * c + k)] += partial[std::size_t((s * blocks + b) * 2 * c + k)];
    return sums;
  }
  /// Writes value(k) for channel k into every row of sample s's tile of `out` (length n·tile).
  template <class Fn>
  void fillTile(std::vector<float>& out, int64_t s, const Fn& value) const {
    for (int64_t k = 0; k < c; ++k) {
      const float v = float(value(k));
      for (int64_t r = 0; r < tileRows; ++r) out[std::size_t(s * tile + r * c + k)] = v;
    }
  }
};

/// Mean and 1/sqrt(var + eps) per (sample, group), from sums in double of the bf16 values.
struct GroupStatistics {
  std::vector<double> mean, rstd;  ///< [n · groups]
};

GroupStatistics groupStatistics(const std::uint16_t* in, const Layout& l, double eps) {
  std::vector<double> partial(std::size_t(l.n * l.blocks * 2 * l.c), 0.0);
  l.forEachTask([&](int64_t s, int64_t first, int64_t rows, int64_t task) {
    double* slot = partial.data() + task * 2 * l.c;
    accumulateRows(in + (s * l.hw + first) * l.c, rows, l.c, slot, slot + l.c);
  });
  const std::vector<double> sums = l.sumTasksPerSample(partial);
  GroupStatistics st{std::vector<double>(std::size_t(l.n * l.groups)), std::vector<double>(std::size_t(l.n * l.groups))};
  for (int64_t s = 0; s < l.n; ++s)
    for (int64_t g = 0; g < l.groups; ++g) {
      double sum = 0, sumSq = 0;
      for (int64_t k = g * l.perGroup; k < (g + 1) * l.perGroup; ++k) {
        sum += sums[std::size_t(s * 2 * l.c + k)];
        sumSq += sums[std::size_t(s * 2 * l.c + l.c + k)];
      }
      const double count = double(l.perGroup * l.hw), mean = sum / count;
      const double var = std::max(0.0, sumSq / count - mean * mean);
      st.mean[std::size_t(s * l.groups + g)] = mean;
      st.rstd[std::size_t(s * l.groups + g)] = 1.0 / std::sqrt(var + eps);
    }
  return st;
}

/// The normalized value z = x·scale + shift per channel: scale = rstd·w, shift = b − mean·rstd·w.
void affineTiles(const Layout& l, const GroupStatistics& st, const std::vector<float>& w, const std::vector<float>& b,
                 std::vector<float>& scale, std::vector<float>& shift) {
  scale.assign(std::size_t(l.n * l.tile), 0.0f);
  shift.assign(std::size_t(l.n * l.tile), 0.0f);
  for (int64_t s = 0; s < l.n; ++s) {
    l.fillTile(scale, s, [&](int64_t k) { return st.rstd[l.group(s, k)] * double(w[std::size_t(k)]); });
    l.fillTile(shift, s, [&](int64_t k) {
      return double(b[std::size_t(k)]) - st.mean[l.group(s, k)] * st.rstd[l.group(s, k)] * double(w[std::size_t(k)]);
    });
  }
}

void checkArguments(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight, const torch::Tensor& bias,
                    const char* who) {
  if (!groupNormChannelsLastBf16Applies(x))
    throw UsageError(std::string(who) + ": x must be a CPU bf16 channels-last 4-D tensor");
  const int64_t c = x.size(1);
  if (groups < 1 || c % groups != 0 || weight.numel() != c || bias.numel() != c)
    throw UsageError(std::string(who) + ": channels must be a multiple of groups, weight and bias [C]");
}

torch::Tensor forwardPass(const torch::Tensor& x, const Layout& l, const GroupStatistics& st,
                          const torch::Tensor& weight, const torch::Tensor& bias, bool silu) {
  torch::Tensor y = torch::empty_like(x, x.options().memory_format(torch::MemoryFormat::ChannelsLast));
  std::vector<float> scale, shift;
  affineTiles(l, st, asFloats(weight), asFloats(bias), scale, shift);
  const std::uint16_t* in = bf16Data(x);
  std::uint16_t* out = bf16Data(y);
  l.forEachTask([&](int64_t s, int64_t first, int64_t rows, int64_t) {
    const int64_t offset = (s * l.hw + first) * l.c;
    normalizeValues(in + offset, out + offset, rows * l.c, scale.data() + s * l.tile, shift.data() + s * l.tile,
                    l.tile, silu);
  });
  return y;
}

/// The derivative of forwardPass: with z = x̂·w + b, dz = dy·silu'(z) and M = values per group,
///   dw = Σ dz·x̂,  db = Σ dz,  dx = rstd·(w·dz − mean_g(w·dz) − x̂·mean_g(w·dz·x̂)),
/// sums over samples and positions, means over a sample's group; dx is linear in (dz, x) per channel.
struct Gradients {
  torch::Tensor x, weight, bias;
};

Gradients backwardPass(const torch::Tensor& x, const torch::Tensor& dyIn, const Layout& l, const GroupStatistics& st,
                       const torch::Tensor& weight, const torch::Tensor& bias, bool silu) {
  const torch::Tensor dy = dyIn.to(torch::kBFloat16).contiguous(torch::MemoryFormat::ChannelsLast);
  const std::vector<float> w = asFloats(weight), bs = asFloats(bias);
  std::vector<float> scale, shift, hatScale(std::size_t(l.n * l.tile)), hatShift(std::size_t(l.n * l.tile));
  affineTiles(l, st, w, bs, scale, shift);
  for (int64_t s = 0; s < l.n; ++s) {
    l.fillTile(hatScale, s, [&](int64_t k) { return st.rstd[l.group(s, k)]; });
    l.fillTile(hatShift, s, [&](int64_t k) { return -st.mean[l.group(s, k)] * st.rstd[l.group(s, k)]; });
  }
  const std::uint16_t* in = bf16Data(x);
  const std::uint16_t* grad = bf16Data(dy);

  // Pass 1: per task, tile sums in float (≤ kRowsPerTask / tileRows values each), folded per channel.
  std::vector<double> partial(std::size_t(l.n * l.blocks * 2 * l.c), 0.0);
  l.forEachTask([&](int64_t s, int64_t first, int64_t rows, int64_t task) {
    std::vector<float> sum1(std::size_t(l.tile), 0.0f), sum2(std::size_t(l.tile), 0.0f);
    const int64_t offset = (s * l.hw + first) * l.c, o = s * l.tile;
    accumulateGradients(in + offset, grad + offset, rows * l.c, scale.data() + o, shift.data() + o,
                        hatScale.data() + o, hatShift.data() + o, l.tile, silu, sum1.data(), sum2.data());
    double* slot = partial.data() + task * 2 * l.c;
    for (int64_t k = 0; k < l.tile; ++k) {
      slot[k % l.c] += double(sum1[std::size_t(k)]);
      slot[l.c + k % l.c] += double(sum2[std::size_t(k)]);
    }
  });
  const std::vector<double> sums = l.sumTasksPerSample(partial);  // per sample: Σ dz [C], then Σ dz·x̂ [C]

  torch::Tensor dWeight = torch::zeros({l.c}, torch::kDouble), dBias = torch::zeros({l.c}, torch::kDouble);
  double* dw = dWeight.data_ptr<double>();
  double* db = dBias.data_ptr<double>();
  std::vector<float> a(std::size_t(l.n * l.tile)), bx(std::size_t(l.n * l.tile)), cx(std::size_t(l.n * l.tile));
  const double m = double(l.perGroup * l.hw);
  for (int64_t s = 0; s < l.n; ++s) {
    std::vector<double> meanWdz(std::size_t(l.groups), 0.0), meanWdzHat(std::size_t(l.groups), 0.0);
    const double* s1 = sums.data() + s * 2 * l.c;  // Σ dz
    const double* s2 = s1 + l.c;                   // Σ dz·x̂
    for (int64_t k = 0; k < l.c; ++k) {
      dw[k] += s2[k];
      db[k] += s1[k];
      meanWdz[std::size_t(k / l.perGroup)] += double(w[std::size_t(k)]) * s1[k] / m;
      meanWdzHat[std::size_t(k / l.perGroup)] += double(w[std::size_t(k)]) * s2[k] / m;
    }
    // dx = rstd·w·dz − rstd·meanWdz − rstd·(x − mean)·rstd·meanWdzHat
    const auto g = [&](int64_t k) { return std::size_t(k / l.perGroup); };
    l.fillTile(a, s, [&](int64_t k) { return st.rstd[l.group(s, k)] * double(w[std::size_t(k)]); });
    l.fillTile(bx, s, [&](int64_t k) { return -st.rstd[l.group(s, k)] * st.rstd[l.group(s, k)] * meanWdzHat[g(k)]; });
    l.fillTile(cx, s, [&](int64_t k) {
      const double r = st.rstd[l.group(s, k)];
      return -r * meanWdz[g(k)] + st.mean[l.group(s, k)] * r * r * meanWdzHat[g(k)];
    });
  }

  torch::Tensor dx = torch::empty_like(x, x.options().memory_format(torch::MemoryFormat::ChannelsLast));
  std::uint16_t* out = bf16Data(dx);
  l.forEachTask([&](int64_t s, int64_t first, int64_t rows, int64_t) {
    const int64_t offset = (s * l.hw + first) * l.c, o = s * l.tile;
    inputGradient(in + offset, grad + offset, out + offset, rows * l.c, scale.data() + o, shift.data() + o,
                  a.data() + o, bx.data() + o, cx.data() + o, l.tile, silu);
  });
  return {dx, dWeight.to(weight.scalar_type()), dBias.to(bias.scalar_type())};
}

/// The training form: forwardPass with its statistics kept for backwardPass.
struct GroupNormSiluFunction : public torch::autograd::Function<GroupNormSiluFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, int64_t groups, double eps, bool silu) {
    const Layout l(x, groups);
    const GroupStatistics st = groupStatistics(bf16Data(x), l, eps);
    torch::Tensor stats = torch::empty({2, l.n * l.groups}, torch::kDouble);
    std::copy(st.mean.begin(), st.mean.end(), stats.data_ptr<double>());
    std::copy(st.rstd.begin(), st.rstd.end(), stats.data_ptr<double>() + l.n * l.groups);
    ctx->save_for_backward({x, weight, bias, stats});
    ctx->saved_data["groups"] = groups;
    ctx->saved_data["silu"] = silu;
    return forwardPass(x, l, st, weight, bias, silu);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const Layout l(x, ctx->saved_data["groups"].toInt());
    const int64_t count = l.n * l.groups;
    const double* stats = saved[3].data_ptr<double>();
    const GroupStatistics st{std::vector<double>(stats, stats + count), std::vector<double>(stats + count, stats + 2 * count)};
    Gradients g = backwardPass(x, grads[0], l, st, saved[1], saved[2], ctx->saved_data["silu"].toBool());
    return {g.x, g.weight, g.bias, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

bool groupNormChannelsLastBf16Applies(const torch::Tensor& x) {
  return x.is_cpu() && x.scalar_type() == torch::kBFloat16 && x.dim() == 4 &&
         x.is_contiguous(torch::MemoryFormat::ChannelsLast);
}

torch::Tensor groupNormChannelsLastBf16(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                                        const torch::Tensor& bias, double eps, bool silu) {
  checkArguments(x, groups, weight, bias, "groupNormChannelsLastBf16");
  if (x.numel() == 0) return torch::empty_like(x, x.options().memory_format(torch::MemoryFormat::ChannelsLast));
  const Layout l(x, groups);
  return forwardPass(x, l, groupStatistics(bf16Data(x), l, eps), weight, bias, silu);
}

torch::Tensor groupNormChannelsLastBf16Differentiable(const torch::Tensor& x, int64_t groups,
                                                      const torch::Tensor& weight, const torch::Tensor& bias,
                                                      double eps, bool silu) {
  checkArguments(x, groups, weight, bias, "groupNormChannelsLastBf16Differentiable");
  if (x.numel() == 0) throw UsageError("groupNormChannelsLastBf16Differentiable: x is empty");
  return GroupNormSiluFunction::apply(x, weight, bias, groups, eps, silu);
}

}  // namespace mr2ct
