#pragma once
// A small counter-based random generator for the training data: every batch is a pure function of
// (seed, step), so a resumed run draws exactly the batches an uninterrupted one would, and the
// prefetch thread needs no shared state. SplitMix64 (Steele, Lea, Flood 2014).
#include <cmath>
#include <cstdint>

namespace mr2ct {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  /// A generator for stream (seed, a, b): hashes the three so nearby steps are unrelated.
  static SplitMix64 forStream(uint64_t seed, uint64_t a, uint64_t b = 0) {
    SplitMix64 g(seed);
    g.state_ ^= SplitMix64(a * 0x9E3779B97F4A7C15ULL + 1).next();
    g.state_ ^= SplitMix64(b * 0xD1B54A32D192ED03ULL + 7).next() * 3;
    g.next();
    return g;
  }
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Uniform integer in [0, n) (n ≥ 1).
  int64_t below(int64_t n) { return int64_t(uniform() * double(n)) % n; }
  /// Standard normal (Box–Muller; one value per call, the pair's second is dropped for simplicity).
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_;
};

}  // namespace mr2ct
