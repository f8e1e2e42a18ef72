#pragma once
// The one crossing between Volume (ITK side) and torch tensors.
//
// AXIS ORDER (written down once): a Volume's buffer is x-fastest (ITK order, index
// x + nx·(y + ny·z)). As a tensor it is contiguous float32 of shape [nz, ny, nx] = [D, H, W]:
// tensor[z][y][x] == volume.at(x, y, z). A slice for a 2D network is tensor[z] ([H, W] = [ny, nx]).
#include <torch/torch.h>

#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

/// A [nz, ny, nx] float32 CPU tensor sharing the Volume's buffer (no copy); the tensor keeps the
/// buffer alive even after the Volume handle is gone. Writes through the tensor change the Volume.
torch::Tensor asTensor(const Volume& volume);

/// A [nz, ny, nx] uint8 tensor sharing the Mask's buffer.
torch::Tensor asTensor(const Mask& mask);

/// A Volume with `reference`'s geometry holding the values of `tensor` ([nz, ny, nx], any float
/// dtype/device; moved to CPU float32 once). Throws DataError when the shape does not match.
Volume volumeFromTensor(const torch::Tensor& tensor, const Geometry& reference);

}  // namespace mr2ct
