#pragma once
// A fresh temporary folder for a test, removed with everything in it when the object goes out of
// scope. No ITK or torch: the GPU kit (bench/gpu) builds it against any LibTorch.
#include <ftw.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

namespace mr2ct::test {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("mr2ct-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  // POSIX nftw, not std::filesystem::remove_all: pip's CUDA libtorch.so exports its own copies of
  // libstdc++'s std::filesystem symbols, and remove_all bound to them jumped to address 0 after a
  // training test (GPU kit, LibTorch 2.11); the removal must not depend on that binding.
  ~TempDir() {
    nftw(
        path_.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return std::remove(p); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace mr2ct::test
