#include "SliceBatch.h"

#include <vector>

namespace mr2ct::slicebatch {

namespace F = torch::nn::functional;

torch::Tensor padTo2d(const torch::Tensor& x, int64_t h, int64_t w) {
  const int64_t ph = h - x.size(2), pw = w - x.size(3);
  if (ph == 0 && pw == 0) return x;
  return F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate));
}

torch::Tensor padTo3d(const torch::Tensor& x, int64_t d, int64_t h, int64_t w) {
  const int64_t pd = d - x.size(2), ph = h - x.size(3), pw = w - x.size(4);
  if (pd == 0 && ph == 0 && pw == 0) return x;
  return F::pad(x, F::PadFuncOptions({0, pw, 0, ph, 0, pd}).mode(torch::kReplicate));
}

torch::Tensor conditionSlices(const torch::Tensor& volume, int64_t z0, int64_t count, int contextSlices) {
  const int64_t D = volume.size(0);
  const auto zs = torch::arange(z0, z0 + count, torch::kLong);
  std::vector<torch::Tensor> channels;
  for (int o = -contextSlices; o <= contextSlices; ++o) channels.push_back(volume.index_select(0, (zs + o).clamp(0, D - 1)));
  return torch::stack(channels, 1);
}

}  // namespace mr2ct::slicebatch
