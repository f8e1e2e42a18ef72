#include "mr2ct/core/StderrCapture.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <mutex>

namespace mr2ct {

namespace {
std::recursive_mutex& captureMutex() {
  static std::recursive_mutex m;
  return m;
}
}  // namespace

StderrCapture::StderrCapture() {
  captureMutex().lock();
  std::cerr.flush();
  std::fflush(stderr);
  std::FILE* f = std::tmpfile();
  if (!f) return;  // cannot capture: library output simply goes through
  savedFd_ = ::dup(STDERR_FILENO);
  if (savedFd_ < 0 || ::dup2(::fileno(f), STDERR_FILENO) < 0) {
    if (savedFd_ >= 0) ::close(savedFd_);
    savedFd_ = -1;
    std::fclose(f);
    return;
  }
  file_ = f;
  active_ = true;
}

std::string StderrCapture::release() {
  std::string text;
  if (active_) {
    std::cerr.flush();
    std::fflush(stderr);
    ::dup2(savedFd_, STDERR_FILENO);
    ::close(savedFd_);
    auto* f = static_cast<std::FILE*>(file_);
    std::rewind(f);
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    std::fclose(f);
    active_ = false;
    captureMutex().unlock();
  } else if (savedFd_ != -2) {
    captureMutex().unlock();
  }
  savedFd_ = -2;  // released
  return text;
}

StderrCapture::~StderrCapture() {
  if (savedFd_ == -2) return;
  const std::string text = release();
  if (!text.empty()) std::fputs(text.c_str(), stderr);
}

}  // namespace mr2ct
