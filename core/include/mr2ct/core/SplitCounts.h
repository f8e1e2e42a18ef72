#pragma once
// How many cases of a data set go to validation and test: the one rule that `mr2ct phantom` and
// `mr2ct manifest scan` share.
#include <cstddef>

namespace mr2ct {

struct SplitCounts {
  std::size_t val = 0, test = 0;
};

/// round(fraction · n) each; from 3 cases on, a split with a fraction > 0 gets at least one case and
/// at least one case stays for training; with 2 cases one goes to val (when its fraction > 0), with
/// fewer none.
SplitCounts splitCounts(std::size_t n, double valFraction, double testFraction);

}  // namespace mr2ct
