#pragma once
// A progress bar for long loops (cases, training steps, slices). Drawn on stderr only when stderr is
// a terminal and logging is not quiet; otherwise silent, so logs and pipes stay clean.
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>

namespace mr2ct {

class ProgressBar {
 public:
  ProgressBar(std::string label, std::size_t total);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  /// Advances by n and redraws (at most ~10 times per second). `status` is shown after the bar.
  void advance(std::size_t n = 1, const std::string& status = "");
  void setStatus(const std::string& status);
  void finish();
  bool visible() const { return visible_; }

 private:
  void draw(bool force);
  std::string label_;
  std::size_t total_;
  std::size_t done_ = 0;
  std::string status_;
  bool visible_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, lastDraw_;
  std::mutex mutex_;
};

/// Global switch set by --quiet.
void setQuiet(bool quiet);
bool isQuiet();

}  // namespace mr2ct
