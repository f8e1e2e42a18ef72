#pragma once
// A fixture for the models/ suites whose draws come from torch's global generator: each test
// starts from seed 0, so its random inputs and initial weights do not depend on test order.
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace mr2ct::test {

class Seeded : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(0); }
};

}  // namespace mr2ct::test
