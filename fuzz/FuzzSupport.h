#pragma once
// Shared by the fuzz targets: a per-process scratch folder (removed at exit) where the fuzzer's
// bytes are written as a file, because the readers under test take paths, as in production.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace mr2ct::fuzz {

class ScratchDir {
 public:
  static const std::filesystem::path& path() {
    static ScratchDir dir;
    return dir.path_;
  }

 private:
  ScratchDir() {
    const char* base = std::getenv("TMPDIR");
    path_ = std::filesystem::path(base && *base ? base : "/tmp") / ("mr2ct-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::filesystem::path path_;
};

/// Writes `size` bytes to <scratch>/<name> (replacing it) and returns the path.
inline std::filesystem::path writeInput(const std::string& name, const std::uint8_t* data, std::size_t size) {
  const auto path = ScratchDir::path() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return path;
}

}  // namespace mr2ct::fuzz
