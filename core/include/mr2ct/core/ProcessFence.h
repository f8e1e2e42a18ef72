#pragma once
// Runs third-party parsing in a forked child process. Debian's GDCM is built with assertions, and
// some corrupt DICOM files reach an assert() in its parser: in-process, that abort() ends the whole
// batch. Fenced, the same input becomes one error line that names the file being parsed, and the
// process goes on. The child inherits the parent's memory (no serialisation of inputs); what it
// produces comes back through a FenceChannel (short messages) or a SharedMemory block (voxels).
//
// The child must not take locks another thread of the parent may hold at fork time: it writes no
// log lines and uses no StderrCapture (its stdout and stderr go to /dev/null instead).
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

namespace mr2ct {

struct FencedOutcome;

/// The child's side: `mark` names what it is about to parse, so a crash can be attributed.
class FenceChannel {
 public:
  explicit FenceChannel(int fd) : fd_(fd) {}
  void mark(const std::string& what);
  /// Hands a result (any bytes) to the parent: FencedOutcome::reply (the last one sent wins).
  void reply(const std::string& bytes);

 private:
  friend struct FenceChild;
  friend FencedOutcome runFenced(const std::function<void(FenceChannel&)>&, std::chrono::seconds);
  void send(char type, const std::string& payload);
  int fd_;
  std::string replyInProcess_;
};

struct FencedOutcome {
  bool completed = false;  ///< the work returned or threw inside the child (no crash, no hang)
  std::string lastMark;    ///< the last FenceChannel::mark before a crash or hang
  std::string failure;     ///< when not completed: "aborted (signal 6, Aborted)", "did not finish within 300 s", ...
  std::string reply;       ///< what the child sent with FenceChannel::reply
};

/// Runs `work` in a forked child and waits for it. An mr2ct::Error (or std::bad_alloc) thrown by
/// `work` in the child is thrown again here with the same type and message; a crash, an abort or
/// `quietLimit` without a new mark (the child is then killed) is reported in the outcome. When the
/// process cannot fork, `work` runs in this process.
FencedOutcome runFenced(const std::function<void(FenceChannel&)>& work,
                        std::chrono::seconds quietLimit = std::chrono::seconds(300));

/// Anonymous memory shared with forked children: the child's results land where the parent reads.
class SharedMemory {
 public:
  explicit SharedMemory(std::size_t bytes);  ///< throws std::bad_alloc when the mapping fails
  ~SharedMemory();
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  void* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace mr2ct
