#include "mr2ct/preprocessing/Statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace mr2ct {

std::vector<double> percentiles(const float* data, std::size_t n, const std::vector<double>& ps,
                                const std::uint8_t* mask) {
  std::vector<float> values;
  values.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    if ((!mask || mask[i]) && std::isfinite(data[i])) values.push_back(data[i]);
  std::vector<double> out;
  out.reserve(ps.size());
  if (values.empty()) {
    out.assign(ps.size(), std::numeric_limits<double>::quiet_NaN());
    return out;
  }
  // Ascending percentiles let each nth_element work on the remaining upper part only.
  std::vector<std::size_t> order(ps.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return ps[a] < ps[b]; });
  out.assign(ps.size(), 0.0);
  auto begin = values.begin();
  const double last = double(values.size() - 1);
  for (std::size_t k : order) {
    const double pos = std::clamp(ps[k], 0.0, 100.0) / 100.0 * last;
    const std::size_t lo = std::size_t(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, values.size() - 1);
    auto itLo = values.begin() + lo;
    if (itLo >= begin) std::nth_element(begin, itLo, values.end());
    const double vLo = *itLo;
    double vHi = vLo;
    if (hi != lo) vHi = *std::min_element(itLo + 1, values.end());
    out[k] = vLo + (pos - double(lo)) * (vHi - vLo);
    begin = itLo;
  }
  return out;
}

}  // namespace mr2ct
