#include "mr2ct/core/Progress.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace mr2ct {

namespace {
std::atomic<bool> gQuiet{false};
}

void setQuiet(bool quiet) { gQuiet = quiet; }
bool isQuiet() { return gQuiet; }

ProgressBar::ProgressBar(std::string label, std::size_t total)
    : label_(std::move(label)), total_(total), visible_(!gQuiet && ::isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()), lastDraw_{} {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::advance(std::size_t n, const std::string& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  done_ += n;
  if (!status.empty()) status_ = status;
  draw(false);
}

void ProgressBar::setStatus(const std::string& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  status_ = status;
  draw(false);
}

void ProgressBar::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  if (!visible_) return;
  draw(true);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

void ProgressBar::draw(bool force) {
  if (!visible_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - lastDraw_ < std::chrono::milliseconds(100) && done_ < total_) return;
  lastDraw_ = now;
  const double frac = total_ ? std::min(1.0, double(done_) / double(total_)) : 1.0;
  constexpr int kWidth = 30;
  const int filled = int(frac * kWidth);
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double eta = done_ ? elapsed * double(total_ - std::min(done_, total_)) / double(done_) : 0.0;
  std::string bar(filled, '#');
  bar.append(kWidth - filled, '.');
  std::fprintf(stderr, "\r%s [%s] %zu/%zu %5.1fs eta %5.1fs %s\033[K", label_.c_str(), bar.c_str(), done_, total_,
               elapsed, eta, status_.c_str());
  std::fflush(stderr);
}

}  // namespace mr2ct
