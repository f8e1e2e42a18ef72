#pragma once
// The mr2ct::Error hierarchy. Every message names the file (or option) and what was wrong with it,
// so the CLI can print exactly one line. The CLI maps UsageError to exit 2 and every other Error to 1.
#include <stdexcept>
#include <string>

namespace mr2ct {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A bad command line, option value or configuration key (exit code 2).
class UsageError : public Error {
 public:
  using Error::Error;
};

/// A file that is missing, unreadable, corrupt or cannot be written. what() = "<path>: <problem>".
class IoError : public Error {
 public:
  IoError(const std::string& path, const std::string& problem)
      : Error(path + ": " + problem), path_(path) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Content that was read but is unusable: NaN voxels, an empty mask, mismatched geometry, ...
class DataError : public Error {
 public:
  using Error::Error;
  DataError(const std::string& path, const std::string& problem) : Error(path + ": " + problem) {}
};

}  // namespace mr2ct
