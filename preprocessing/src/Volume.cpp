#include "mr2ct/preprocessing/Volume.h"

#include <algorithm>
#include <cmath>

#include "mr2ct/core/Error.h"

namespace mr2ct {
namespace detail {

template <class T>
VoxelGrid<T>::VoxelGrid(const Geometry& geometry, std::vector<T> voxels)
    : geometry_(geometry), data_(std::make_shared<std::vector<T>>(std::move(voxels))) {
  if (data_->size() != geometry_.voxelCount())
    throw Error("voxel buffer of " + std::to_string(data_->size()) + " values does not match the grid " +
                geometry_.describe());
}

template <class T>
void VoxelGrid<T>::setGeometry(const Geometry& g) {
  if (g.size != geometry_.size) throw Error("setGeometry cannot change the size of a volume");
  geometry_ = g;
}

template class VoxelGrid<float>;
template class VoxelGrid<std::uint8_t>;
}  // namespace detail

Volume Volume::clone() const { return Volume(geometry_, *data_); }

long long Volume::firstNonFinite() const {
  const auto& v = *data_;
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) return static_cast<long long>(i);
  return -1;
}

Volume::Range Volume::range() const {
  if (data_->empty()) return {0.f, 0.f};
  const auto [lo, hi] = std::minmax_element(data_->begin(), data_->end());
  return {*lo, *hi};
}

Mask Mask::clone() const { return Mask(geometry_, *data_); }

std::size_t Mask::count() const {
  return static_cast<std::size_t>(std::count_if(data_->begin(), data_->end(), [](std::uint8_t v) { return v != 0; }));
}

}  // namespace mr2ct
