#pragma once
// Runs third-party parsing in a forked child process. Debian's GDCM is built with assertions, and
// some corrupt DICOM files reach an assert() in its parser: in-process, that abort() ends the whole
// batch. Fenced, the same input becomes one error line that names the file being parsed, and the
// process goes on. The child inherits the parent's memory (no serialisation of inputs); what it
// produces comes back through its FenceChannel: short replies, and bulk bytes (voxels) written
// straight into a buffer of the parent's (a pipe costs less than shared memory's page faults).
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
  /// Appends bytes to the parent's bulk buffer (runFenced's `bulkBuffer`); FencedOutcome::bulkBytes counts them.
  void bulk(const void* data, std::size_t bytes);

 private:
  friend struct FenceChild;
  friend FencedOutcome runFenced(const std::function<void(FenceChannel&)>&, std::chrono::seconds, std::size_t,
                                 const std::function<void*()>&);
  void send(char type, const std::string& payload);
  int fd_;
  std::string replyInProcess_;
  char* bulkInProcess_ = nullptr;
  std::size_t bulkCapacity_ = 0, bulkUsed_ = 0;
};

struct FencedOutcome {
  bool completed = false;  ///< the work returned or threw inside the child (no crash, no hang)
  std::string lastMark;    ///< the last FenceChannel::mark before a crash or hang
  std::string failure;     ///< when not completed: "aborted (signal 6, Aborted)", "did not finish within 300 s", ...
  std::string reply;       ///< what the child sent with FenceChannel::reply
  std::size_t bulkBytes = 0;  ///< bytes the child wrote into the bulk buffer
};

/// Runs `work` in a forked child and waits for it. An mr2ct::Error (or std::bad_alloc) thrown by
/// `work` in the child is thrown again here with the same type and message; a crash, an abort or
/// `quietLimit` without a new mark (the child is then killed) is reported in the outcome. When the
/// process cannot fork, `work` runs in this process. With bulkCapacity > 0, `bulkBuffer` is called
/// once, here, after the fork, for the buffer the bulk bytes go to: memory written before the fork
/// would be shared copy-on-write with the child, and every page written then copied again. Bulk
/// bytes beyond bulkCapacity are an Error.
FencedOutcome runFenced(const std::function<void(FenceChannel&)>& work,
                        std::chrono::seconds quietLimit = std::chrono::seconds(300), std::size_t bulkCapacity = 0,
                        const std::function<void*()>& bulkBuffer = {});

}  // namespace mr2ct
