#include "mr2ct/core/ProcessFence.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <new>
#include <vector>

#include "mr2ct/core/Error.h"

namespace mr2ct {

namespace {

void writeAll(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // the parent is gone: nothing left to tell
    p += w;
    n -= std::size_t(w);
  }
}

// Child → parent messages: one type byte, a 4-byte length, the payload.
constexpr char kMark = 'M', kReply = 'R', kBulk = 'B', kDone = 'K', kIoError = 'I', kDataError = 'D', kUsageError = 'U', kError = 'E',
               kNoMemory = 'A', kOther = 'X';

std::string describeStatus(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    std::string s = sig == SIGABRT ? "aborted" : "crashed";
    return s + " (signal " + std::to_string(sig) + (name ? std::string(", ") + name : std::string()) + ")";
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "ended with status " + std::to_string(status);
}

}  // namespace

void FenceChannel::send(char type, const std::string& payload) {
  if (fd_ < 0) return;  // running in-process (no fork)
  char head[5];
  head[0] = type;
  const std::uint32_t n = std::uint32_t(payload.size());
  std::memcpy(head + 1, &n, 4);
  writeAll(fd_, head, 5);
  writeAll(fd_, payload.data(), payload.size());
}

void FenceChannel::mark(const std::string& what) { send(kMark, what); }

void FenceChannel::bulk(const void* data, std::size_t bytes) {
  const char* p = static_cast<const char*>(data);
  if (fd_ < 0) {
    if (bytes > bulkCapacity_ - bulkUsed_) throw Error("internal: a fenced child sent more bulk bytes than expected");
    std::memcpy(bulkInProcess_ + bulkUsed_, p, bytes);
    bulkUsed_ += bytes;
    return;
  }
  constexpr std::size_t kPiece = std::size_t(1) << 20;
  for (std::size_t at = 0; at < bytes; at += kPiece) {
    const std::size_t n = std::min(kPiece, bytes - at);
    char head[5];
    head[0] = kBulk;
    const std::uint32_t len = std::uint32_t(n);
    std::memcpy(head + 1, &len, 4);
    writeAll(fd_, head, 5);
    writeAll(fd_, p + at, n);
  }
}

void FenceChannel::reply(const std::string& bytes) {
  if (fd_ < 0) replyInProcess_ = bytes;
  else send(kReply, bytes);
}

struct FenceChild {
  [[noreturn]] static void run(const std::function<void(FenceChannel&)>& work, int fd) {
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) {
      ::dup2(null, STDOUT_FILENO);
      ::dup2(null, STDERR_FILENO);
      ::close(null);
    }
    FenceChannel channel(fd);
    try {
      work(channel);
      channel.send(kDone, "");
    } catch (const IoError& e) {
      channel.send(kIoError, e.path() + std::string(1, '\0') + e.what());
    } catch (const DataError& e) {
      channel.send(kDataError, e.what());
    } catch (const UsageError& e) {
      channel.send(kUsageError, e.what());
    } catch (const Error& e) {
      channel.send(kError, e.what());
    } catch (const std::bad_alloc&) {
      channel.send(kNoMemory, "");
    } catch (const std::exception& e) {
      channel.send(kOther, e.what());
    } catch (...) {
      channel.send(kOther, "unknown exception");
    }
    ::_exit(0);  // no atexit handlers, no flush of the parent's stdio buffers, no leak check
  }
};

namespace {

/// Waits for the child to end; its wait status.
int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

/// The parent's side of the pipe: decodes the child's messages as they arrive.
class ChildMessages {
 public:
  ChildMessages(FencedOutcome& outcome, void* bulk, std::size_t bulkCapacity)
      : outcome_(outcome), bulk_(static_cast<char*>(bulk)), bulkCapacity_(bulkCapacity) {}

  /// Reads until the child closes the pipe, or until `quietLimit` passes without a byte (the child
  /// is then killed). False on that time-out.
  bool readUntilEnd(int fd, pid_t pid, std::chrono::seconds quietLimit) {
    std::vector<char> chunk(std::size_t(1) << 20);
    const auto limitMs = std::chrono::duration_cast<std::chrono::milliseconds>(quietLimit).count();
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, int(std::min<long long>(limitMs, 1LL << 30)));
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) {
        ::kill(pid, SIGKILL);
        return false;
      }
      const ssize_t got = ::read(fd, chunk.data(), chunk.size());
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return true;  // EOF: the child exited (or crashed)
      buffer_.append(chunk.data(), std::size_t(got));
      decodeWhole();
    }
  }

  char resultType() const { return resultType_; }
  const std::string& resultPayload() const { return resultPayload_; }
  bool bulkOverflow() const { return bulkOverflow_; }

 private:
  /// Takes every complete message off the front of the buffer; a partial one waits for more bytes.
  void decodeWhole() {
    std::size_t at = 0;
    while (buffer_.size() - at >= 5) {
      std::uint32_t n;
      std::memcpy(&n, buffer_.data() + at + 1, 4);
      if (buffer_.size() - at < 5 + std::size_t(n)) break;
      const char type = buffer_[at];
      const char* body = buffer_.data() + at + 5;
      at += 5 + std::size_t(n);
      if (type == kBulk) {
        if (bulkOverflow_ || !bulk_ || n > bulkCapacity_ - outcome_.bulkBytes) bulkOverflow_ = true;
        else std::memcpy(bulk_ + outcome_.bulkBytes, body, n);
        outcome_.bulkBytes += n;
        continue;
      }
      std::string payload(body, n);
      if (type == kMark) outcome_.lastMark = std::move(payload);
      else if (type == kReply) outcome_.reply = std::move(payload);
      else {
        resultType_ = type;
        resultPayload_ = std::move(payload);
      }
    }
    buffer_.erase(0, at);
  }

  FencedOutcome& outcome_;
  char* bulk_;
  std::size_t bulkCapacity_;
  std::string buffer_;
  bool bulkOverflow_ = false;
  char resultType_ = 0;
  std::string resultPayload_;
};

/// Throws in the parent what the child's work threw; returns when it returned (kDone).
void rethrowChildResult(char type, const std::string& payload) {
  switch (type) {
    case kIoError: {
      const auto zero = payload.find('\0');
      const std::string path = payload.substr(0, zero);
      const std::string what = payload.substr(zero + 1);
      throw IoError(path, what.size() > path.size() + 2 ? what.substr(path.size() + 2) : what);
    }
    case kDataError: throw DataError(payload);
    case kUsageError: throw UsageError(payload);
    case kError: throw Error(payload);
    case kNoMemory: throw std::bad_alloc();
    case kOther: throw std::runtime_error(payload);
    default: return;
  }
}

/// The parent's bulk buffer, asked for after the fork; if that throws, the child is ended first.
void* bulkBufferAfterFork(std::size_t bulkCapacity, const std::function<void*()>& bulkBuffer, pid_t pid, int fd) {
  if (bulkCapacity == 0) return nullptr;
  try {
    return bulkBuffer();
  } catch (...) {
    ::kill(pid, SIGKILL);
    ::close(fd);
    reap(pid);
    throw;
  }
}

}  // namespace

FencedOutcome runFenced(const std::function<void(FenceChannel&)>& work, std::chrono::seconds quietLimit,
                        std::size_t bulkCapacity, const std::function<void*()>& bulkBuffer) {
  FencedOutcome outcome;
  int fds[2];
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);  // or the child's copies of unwritten buffers could be written twice
  const bool piped = ::pipe2(fds, O_CLOEXEC) == 0;
  if (piped && bulkCapacity > 0) ::fcntl(fds[0], F_SETPIPE_SZ, 1 << 20);  // bulk bytes in fewer, larger hops (best effort)
  const pid_t pid = piped ? ::fork() : -1;
  if (pid < 0) {
    if (piped) {
      ::close(fds[0]);
      ::close(fds[1]);
    }
    FenceChannel inProcess(-1);
    inProcess.bulkInProcess_ = bulkCapacity > 0 ? static_cast<char*>(bulkBuffer()) : nullptr;
    inProcess.bulkCapacity_ = inProcess.bulkInProcess_ ? bulkCapacity : 0;
    work(inProcess);
    outcome.completed = true;
    outcome.reply = std::move(inProcess.replyInProcess_);
    outcome.bulkBytes = inProcess.bulkUsed_;
    return outcome;
  }
  if (pid == 0) {
    ::close(fds[0]);
    FenceChild::run(work, fds[1]);
  }
  ::close(fds[1]);
  void* bulk = bulkBufferAfterFork(bulkCapacity, bulkBuffer, pid, fds[0]);

  ChildMessages messages(outcome, bulk, bulkCapacity);
  const bool ended = messages.readUntilEnd(fds[0], pid, quietLimit);
  ::close(fds[0]);
  const int status = reap(pid);
  if (!ended) {
    outcome.failure = "did not finish within " + std::to_string(quietLimit.count()) + " s";
    return outcome;
  }
  if (messages.resultType() == 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    outcome.failure = describeStatus(status);
    return outcome;
  }
  outcome.completed = true;
  if (messages.bulkOverflow()) throw Error("internal: a fenced child sent more bulk bytes than expected");
  rethrowChildResult(messages.resultType(), messages.resultPayload());
  return outcome;
}

}  // namespace mr2ct
