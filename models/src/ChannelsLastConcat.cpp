#include "mr2ct/models/ChannelsLastConcat.h"

#include <ATen/Parallel.h>

#include <cstring>

#include "mr2ct/core/Error.h"

namespace mr2ct {

bool concatChannelsLastApplies(const torch::Tensor& a, const torch::Tensor& b) {
  const auto cl = torch::MemoryFormat::ChannelsLast;
  return a.is_cpu() && b.is_cpu() && a.dim() == 4 && b.dim() == 4 && a.scalar_type() == b.scalar_type() &&
         a.size(0) == b.size(0) && a.size(2) == b.size(2) && a.size(3) == b.size(3) && a.is_contiguous(cl) &&
         b.is_contiguous(cl) && !(torch::GradMode::is_enabled() && (a.requires_grad() || b.requires_grad()));
}

torch::Tensor concatChannelsLast(const torch::Tensor& a, const torch::Tensor& b) {
  if (!concatChannelsLastApplies(a, b))
    throw UsageError("concatChannelsLast: a and b must be CPU channels-last 4-D tensors of one dtype and N, H, W");
  const int64_t n = a.size(0), ca = a.size(1), cb = b.size(1), h = a.size(2), w = a.size(3);
  torch::Tensor out = torch::empty({n, ca + cb, h, w}, a.options().memory_format(torch::MemoryFormat::ChannelsLast));
  const int64_t rows = n * h * w;
  if (rows == 0) return out;
  const auto bytes = static_cast<int64_t>(a.element_size());
  const auto* pa = static_cast<const char*>(a.data_ptr());
  const auto* pb = static_cast<const char*>(b.data_ptr());
  auto* po = static_cast<char*>(out.data_ptr());
  const int64_t rowA = ca * bytes, rowB = cb * bytes, rowOut = rowA + rowB;
  at::parallel_for(0, rows, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      std::memcpy(po + r * rowOut, pa + r * rowA, std::size_t(rowA));
      std::memcpy(po + r * rowOut + rowA, pb + r * rowB, std::size_t(rowB));
    }
  });
  return out;
}

}  // namespace mr2ct
