#include "mr2ct/core/SafePath.h"

#include "mr2ct/core/Error.h"

namespace fs = std::filesystem;

namespace mr2ct {

bool isSafeId(const std::string& id) {
  if (id.empty() || id == "." || id == ".." || id.size() > 200) return false;
  for (unsigned char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

fs::path resolveInside(const fs::path& base, const std::string& relative, bool allowOutside,
                       const std::string& context) {
  const fs::path rel(relative);
  const fs::path baseNorm = fs::absolute(base).lexically_normal();
  const fs::path full = (rel.is_absolute() ? rel : baseNorm / rel).lexically_normal();
  if (!allowOutside) {
    const fs::path back = full.lexically_relative(baseNorm);
    const bool escapes = back.empty() || *back.begin() == ".." || rel.is_absolute();
    if (escapes)
      throw DataError(context, "path '" + relative + "' escapes the folder " + baseNorm.string() +
                                   " (use --allow-outside to permit it)");
  }
  return full;
}

}  // namespace mr2ct
