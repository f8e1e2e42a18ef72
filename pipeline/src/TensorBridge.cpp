#include "mr2ct/pipeline/TensorBridge.h"

#include <cstring>

#include "mr2ct/core/Error.h"

namespace mr2ct {

namespace {
std::vector<int64_t> shapeOf(const Geometry& g) {
  return {int64_t(g.size[2]), int64_t(g.size[1]), int64_t(g.size[0])};
}
}  // namespace

torch::Tensor asTensor(const Volume& volume) {
  auto keep = volume.buffer();
  return torch::from_blob(keep->data(), shapeOf(volume.geometry()), [keep](void*) {},
                          torch::TensorOptions().dtype(torch::kFloat32));
}

torch::Tensor asTensor(const Mask& mask) {
  auto keep = mask.buffer();
  return torch::from_blob(keep->data(), shapeOf(mask.geometry()), [keep](void*) {},
                          torch::TensorOptions().dtype(torch::kUInt8));
}

Volume volumeFromTensor(const torch::Tensor& tensor, const Geometry& reference) {
  const auto expected = shapeOf(reference);
  if (tensor.sizes().vec() != expected) {
    std::string got;
    for (auto s : tensor.sizes()) got += (got.empty() ? "" : "x") + std::to_string(s);
    throw DataError("tensor of shape " + got + " does not match the reference grid [nz, ny, nx] = " +
                    std::to_string(expected[0]) + "x" + std::to_string(expected[1]) + "x" +
                    std::to_string(expected[2]));
  }
  const torch::Tensor t = tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  Volume v(reference);
  std::memcpy(v.data(), t.data_ptr<float>(), v.voxelCount() * sizeof(float));
  return v;
}

}  // namespace mr2ct
