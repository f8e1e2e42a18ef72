#include "mr2ct/core/SplitCounts.h"

#include <algorithm>
#include <cmath>

namespace mr2ct {

SplitCounts splitCounts(std::size_t n, double valFraction, double testFraction) {
  SplitCounts c;
  c.val = std::size_t(std::llround(valFraction * double(n)));
  c.test = std::size_t(std::llround(testFraction * double(n)));
  if (n >= 3) {
    if (valFraction > 0) c.val = std::max<std::size_t>(c.val, 1);
    if (testFraction > 0) c.test = std::max<std::size_t>(c.test, 1);
  } else {
    c.test = 0;
    c.val = n == 2 && valFraction > 0 ? 1 : 0;
  }
  while (c.val + c.test >= n && n > 0 && (c.val > 1 || c.test > 1)) (c.val > c.test ? c.val : c.test)--;
  while (c.val + c.test >= n && n > 0 && c.val + c.test > 0) (c.val >= c.test ? c.val : c.test)--;
  return c;
}

}  // namespace mr2ct
