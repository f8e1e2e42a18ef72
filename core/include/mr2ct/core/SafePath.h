#pragma once
// Rules for names and paths that come from users' files (manifests, ids): an id must be a safe file
// name, and a relative path must not escape its base folder.
#include <filesystem>
#include <string>

namespace mr2ct {

/// True for ids made only of [A-Za-z0-9._-], not empty, not "." or "..".
bool isSafeId(const std::string& id);

/// Resolves `relative` against `base` (lexically normalised). If the result lies outside `base`
/// and allowOutside is false, throws DataError naming `context` (usually the manifest file).
std::filesystem::path resolveInside(const std::filesystem::path& base, const std::string& relative,
                                    bool allowOutside, const std::string& context);

}  // namespace mr2ct
