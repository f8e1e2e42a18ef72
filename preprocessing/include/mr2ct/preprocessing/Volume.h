#pragma once
// Volume (float) and Mask (uint8): 3D voxel buffers that always carry their Geometry, the way
// SimpleITK's Image does. Copies share the buffer (cheap handles); clone() makes a deep copy.
// No ITK in this header: conversion to itk::Image lives in ItkInterop.h.
#include <cstdint>
#include <memory>
#include <vector>

#include "mr2ct/preprocessing/Geometry.h"

namespace mr2ct {

namespace detail {
template <class T>
class VoxelGrid {
 public:
  using value_type = T;
  VoxelGrid() : data_(std::make_shared<std::vector<T>>()) {}
  /// Allocates geometry.voxelCount() voxels set to `fill`.
  explicit VoxelGrid(const Geometry& geometry, T fill = T(0))
      : geometry_(geometry), data_(std::make_shared<std::vector<T>>(geometry.voxelCount(), fill)) {}
  VoxelGrid(const Geometry& geometry, std::vector<T> voxels);

  const Geometry& geometry() const { return geometry_; }
  /// Changes origin/spacing/direction; the size must stay the same.
  void setGeometry(const Geometry& g);
  const std::array<std::size_t, 3>& size() const { return geometry_.size; }
  std::size_t voxelCount() const { return data_->size(); }
  bool empty() const { return data_->empty(); }

  T* data() { return data_->data(); }
  const T* data() const { return data_->data(); }
  std::vector<T>& voxels() { return *data_; }
  const std::vector<T>& voxels() const { return *data_; }
  /// The shared buffer, so a view (e.g. a torch tensor) can keep it alive.
  std::shared_ptr<std::vector<T>> buffer() const { return data_; }

  T& at(std::size_t x, std::size_t y, std::size_t z) { return (*data_)[geometry_.linearIndex(x, y, z)]; }
  T at(std::size_t x, std::size_t y, std::size_t z) const { return (*data_)[geometry_.linearIndex(x, y, z)]; }

 protected:
  Geometry geometry_;
  std::shared_ptr<std::vector<T>> data_;
};
extern template class VoxelGrid<float>;
extern template class VoxelGrid<std::uint8_t>;
}  // namespace detail

class Volume : public detail::VoxelGrid<float> {
 public:
  using VoxelGrid::VoxelGrid;
  Volume clone() const;
  /// Index of the first NaN/Inf voxel, or -1 when all are finite.
  long long firstNonFinite() const;
  struct Range {
    float min, max;
  };
  Range range() const;
};

class Mask : public detail::VoxelGrid<std::uint8_t> {
 public:
  using VoxelGrid::VoxelGrid;
  Mask clone() const;
  std::size_t count() const;  ///< voxels that are non-zero
};

}  // namespace mr2ct
