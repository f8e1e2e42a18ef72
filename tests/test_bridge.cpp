#include <gtest/gtest.h>

#include "mr2ct/core/Error.h"
#include "mr2ct/pipeline/TensorBridge.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

TEST(TensorBridge, AxisOrderIsZYX) {
  const Volume v = test::makeIdentifiableVolume({7, 5, 3});
  const torch::Tensor t = asTensor(v);
  ASSERT_EQ(t.sizes().vec(), (std::vector<int64_t>{3, 5, 7}));
  EXPECT_TRUE(t.is_contiguous());
  for (int z = 0; z < 3; ++z)
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < 7; ++x) ASSERT_EQ(t[z][y][x].item<float>(), v.at(x, y, z));
}

TEST(TensorBridge, ViewSharesTheBufferAndKeepsItAlive) {
  torch::Tensor t;
  const float* ptr = nullptr;
  {
    Volume v = test::makeIdentifiableVolume();
    t = asTensor(v);
    ptr = v.data();
    t[1][2][3] = -5.0f;
    EXPECT_EQ(v.at(3, 2, 1), -5.0f);
  }
  EXPECT_EQ(t.data_ptr<float>(), ptr);
  EXPECT_EQ(t[1][2][3].item<float>(), -5.0f);  // the Volume handle is gone, the buffer is not
}

TEST(TensorBridge, RoundTripKeepsReferenceGeometry) {
  const Volume v = test::makeIdentifiableVolume();
  const torch::Tensor t = asTensor(v) * 2.0;
  const Volume r = volumeFromTensor(t, v.geometry());
  EXPECT_TRUE(r.geometry().sameAs(v.geometry(), 0));
  EXPECT_EQ(r.at(6, 4, 2), 2 * v.at(6, 4, 2));
  EXPECT_NE(r.data(), v.data());
  EXPECT_THROW(volumeFromTensor(t.transpose(0, 2), v.geometry()), DataError);
}

TEST(TensorBridge, MaskView) {
  Mask m(test::makeIdentifiableVolume().geometry());
  m.at(2, 1, 0) = 1;
  const auto t = asTensor(m);
  EXPECT_EQ(t.dtype(), torch::kUInt8);
  EXPECT_EQ(t[0][1][2].item<int>(), 1);
  EXPECT_EQ(t.sum().item<int>(), 1);
}

}  // namespace
}  // namespace mr2ct
