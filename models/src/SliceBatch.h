#pragma once
// How a [D,H,W] volume becomes the 2D/2.5D network's batches, shared by conversion
// (VolumeIntegrator) and the likelihood (VolumeLikelihood) so both see exactly the slices,
// neighbours and padding the trainer's SliceSampler gives the network.
#include <torch/torch.h>

namespace mr2ct::slicebatch {

inline int64_t roundUp(int64_t v, int64_t multiple) { return (v + multiple - 1) / multiple * multiple; }

/// [B,C,H,W] replicate-padded at the high end to (h, w): the network needs sizes divisible by its
/// size multiple, and replicating the edge adds no new intensity at the border.
torch::Tensor padTo2d(const torch::Tensor& x, int64_t h, int64_t w);
/// [B,C,D,H,W] replicate-padded at the high end to (d, h, w).
torch::Tensor padTo3d(const torch::Tensor& x, int64_t d, int64_t h, int64_t w);

/// The condition of slices z0 … z0+count−1 of `volume` [D,H,W]: [count, 2k+1, H, W] holding
/// slices z−k … z+k (the trainer's order), clamped to [0, D); channel k is the slice itself.
torch::Tensor conditionSlices(const torch::Tensor& volume, int64_t z0, int64_t count, int contextSlices);

}  // namespace mr2ct::slicebatch
