#pragma once
// Captures what third-party C code (niftilib, MetaIO, GDCM) prints straight to stderr while it
// parses a header, so a failed read gives the user our one clear line, not four lines of library
// noise. Captures are serialised process-wide (stderr is one file descriptor); what was captured
// is handed back so the caller can re-emit it (on success) or log it at debug level (on failure).
#include <string>

namespace mr2ct {

class StderrCapture {
 public:
  StderrCapture();   ///< starts capturing (blocks while another capture is active)
  ~StderrCapture();  ///< stops capturing and re-emits anything not yet released
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  /// Stops capturing and returns the captured text (the capture's text is not re-emitted).
  std::string release();

 private:
  int savedFd_ = -1;
  void* file_ = nullptr;
  bool active_ = false;
};

}  // namespace mr2ct
