#include "mr2ct/core/OutputGuard.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"

namespace fs = std::filesystem;

namespace mr2ct {

void prepareOutputFolder(const fs::path& folder, std::uintmax_t bytesNeeded) {
  std::error_code ec;
  if (fs::exists(folder, ec) && !fs::is_directory(folder, ec))
    throw IoError(folder.string(), "is a file, expected an output folder");
  fs::create_directories(folder, ec);
  if (ec) throw IoError(folder.string(), "cannot create the output folder: " + ec.message());
  // access(W_OK) says yes to root on read-only file systems: create a real probe file instead.
  const fs::path probe = folder / (".mr2ct-probe-" + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) throw IoError(folder.string(), std::string("not writable (") + std::strerror(errno) + ")");
  ::close(fd);
  ::unlink(probe.c_str());
  if (bytesNeeded == 0) return;
  struct statvfs st {};
  if (::statvfs(folder.c_str(), &st) != 0) return;  // unknown: the write itself reports a full disk
  const std::uintmax_t free = std::uintmax_t(st.f_bavail) * std::uintmax_t(st.f_frsize);
  if (free < bytesNeeded)
    throw IoError(folder.string(), "no space: " + std::to_string(free >> 20) + " MiB free, about " +
                                       std::to_string((bytesNeeded + (1u << 20) - 1) >> 20) + " MiB needed");
}

void prepareOutputFile(const fs::path& output, std::uintmax_t bytesNeeded) {
  std::error_code ec;
  if (fs::is_directory(output, ec)) throw IoError(output.string(), "is a folder, expected an output file path");
  prepareOutputFolder(output.parent_path().empty() ? fs::path(".") : output.parent_path(), bytesNeeded);
}

bool sameFile(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (!fs::exists(a, ec) || !fs::exists(b, ec)) return false;
  const bool same = fs::equivalent(a, b, ec);  // stat: device and inode, through symbolic links
  return !ec && same;
}

void refuseOverwritingInputs(const fs::path& output, const std::vector<fs::path>& inputs) {
  std::error_code ec;
  for (const auto& input : inputs) {
    if (input.empty()) continue;
    if (sameFile(output, input))
      throw UsageError(output.string() + ": is the input " + input.string() +
                       " (same file, a link to it or a hard link); refusing to overwrite it, choose another output");
    if (fs::is_directory(input, ec)) {
      const fs::path folder = fs::weakly_canonical(input, ec);
      const fs::path out = fs::weakly_canonical(output, ec);
      const std::string f = folder.string(), o = out.string();
      if (!ec && o.size() > f.size() && o.compare(0, f.size(), f) == 0 && o[f.size()] == '/')
        throw UsageError(output.string() + ": lies inside the input folder " + input.string() +
                         "; refusing to write into it, choose another output");
    }
  }
}

std::size_t removeStaleTemporaries(const fs::path& target) {
  const std::string ext = fullExtension(target);
  const std::string prefix = "." + stemBeforeExtension(target) + ".tmp-";
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::error_code ec;
  std::size_t removed = 0;
  for (fs::directory_iterator it(dir, ec), last; !ec && it != last; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() + ext.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    if (name.compare(name.size() - ext.size(), ext.size(), ext) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    const auto dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos) continue;
    char* digitsEnd = nullptr;
    const long pid = std::strtol(rest.c_str(), &digitsEnd, 10);
    if (digitsEnd != rest.c_str() + dash || pid <= 0) continue;
    if (pid == ::getpid() || ::kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;  // its writer may still run
    std::error_code rm;
    fs::remove_all(it->path(), rm);
    if (!rm) ++removed;
  }
  return removed;
}

}  // namespace mr2ct
