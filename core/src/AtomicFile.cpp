#include "mr2ct/core/AtomicFile.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/OutputGuard.h"

namespace fs = std::filesystem;

namespace mr2ct {

std::string fullExtension(const fs::path& p) {
  std::string name = p.filename().string();
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* multi : {".nii.gz", ".tar.gz"}) {
    const std::string m(multi);
    if (name.size() > m.size() && name.compare(name.size() - m.size(), m.size(), m) == 0) return m;
  }
  const auto dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0) return "";
  return name.substr(dot);
}

std::string stemBeforeExtension(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.substr(0, name.size() - fullExtension(p).size());
}

fs::path withSuffixBeforeExtension(const fs::path& p, const std::string& suffix) {
  const std::string name = p.filename().string();
  const std::string stem = stemBeforeExtension(p);
  return p.parent_path() / (stem + suffix + name.substr(stem.size()));
}

fs::path temporarySibling(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  const std::string ext = fullExtension(target);
  const std::string stem = stemBeforeExtension(target);
  std::ostringstream name;
  name << "." << stem << ".tmp-" << ::getpid() << "-" << counter++ << ext;
  return target.parent_path() / name.str();
}

void writeAtomically(const fs::path& target, const std::function<void(const fs::path&)>& write) {
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw IoError(target.string(), "output folder does not exist: " + dir.string());
  if (fs::is_directory(target, ec)) throw IoError(target.string(), "is a directory, expected a file path");
  removeStaleTemporaries(target);  // left by an earlier run that was killed mid-write
  const fs::path tmp = temporarySibling(target);
  try {
    write(tmp);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  if (!fs::exists(tmp, ec)) throw IoError(target.string(), "writer produced no file");
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw IoError(target.string(), "cannot rename temporary file into place: " + ec.message());
  }
}

void writeTextAtomically(const fs::path& target, const std::string& content) {
  writeAtomically(target, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw IoError(target.string(), std::string("cannot open for writing: ") + std::strerror(errno));
    out << content;
    out.flush();
    if (!out) throw IoError(target.string(), "write failed (disk full?)");
  });
}

std::string readTextFile(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IoError(path.string(), "file not found");
  if (fs::is_directory(path, ec)) throw IoError(path.string(), "is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path.string(), std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace mr2ct
