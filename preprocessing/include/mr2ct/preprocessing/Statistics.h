#pragma once
// Order statistics over voxels, optionally restricted to a mask.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mr2ct {

/// Percentiles (0..100) of the finite values of data[0..n), linear interpolation between order
/// statistics (numpy's default). Voxels where mask[i]==0 are skipped when mask is given.
/// Returns NaN for every percentile when no value qualifies.
std::vector<double> percentiles(const float* data, std::size_t n, const std::vector<double>& ps,
                                const std::uint8_t* mask = nullptr);

}  // namespace mr2ct
