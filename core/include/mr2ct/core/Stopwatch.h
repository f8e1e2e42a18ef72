#pragma once
// Wall-clock seconds for the timings reports carry (read, preprocess, integrate, registration, ...).
// The steady clock: a timing never goes negative when the system clock is set.
#include <chrono>

namespace mr2ct {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  /// Seconds since construction or the last restart()/lap().
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
  /// seconds(), and starts again from now (consecutive stages timed with one watch).
  double lap() {
    const auto now = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(now - start_).count();
    start_ = now;
    return s;
  }
  void restart() { start_ = std::chrono::steady_clock::now(); }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace mr2ct
