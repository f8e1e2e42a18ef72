#pragma once
// What data-parallel training needs from a process group, so that models/ stays free of c10d:
// pipeline/ implements it on a ProcessGroup (pipeline/Distributed.h); a null reducer means one
// process. Every call is collective: all ranks make the same calls in the same order.
#include <vector>

#include <torch/torch.h>

namespace mr2ct {

class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  virtual int rank() const = 0;
  virtual int worldSize() const = 0;
  /// Overwrites `tensors` on every rank with rank 0's values (initial or resumed weights).
  virtual void broadcastFromRankZero(const std::vector<torch::Tensor>& tensors) = 0;
  /// Element-wise sum over the ranks of a small tensor, in place (loss terms, weight totals).
  virtual void sum(torch::Tensor& small) = 0;
  /// Replaces each parameter's gradient by its mean over the ranks (flattened, bucketed).
  virtual void averageGradients(const std::vector<torch::Tensor>& parameters) = 0;
};

}  // namespace mr2ct
