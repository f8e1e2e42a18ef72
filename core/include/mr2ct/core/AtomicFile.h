#pragma once
// Atomic writes: produce a file under a temporary name in the destination folder, then rename it.
// A reader (or a resumed batch) therefore sees either the old file or the complete new one.
#include <filesystem>
#include <functional>
#include <string>

namespace mr2ct {

/// A temporary path next to `target` that keeps the target's full extension (".nii.gz" stays last,
/// so writers that pick a format by extension still work): dir/.name.tmp-<pid>-<n>.nii.gz
std::filesystem::path temporarySibling(const std::filesystem::path& target);

/// The multi-part extension of a file name in lower case: ".nii.gz", ".mha", ".csv", ...
std::string fullExtension(const std::filesystem::path& p);

/// The file name without its full extension, case kept: "a/Sct.NII.gz" → "Sct".
std::string stemBeforeExtension(const std::filesystem::path& p);

/// `suffix` inserted before the full extension, case kept: "a/sct.nii.gz" + "_std" → "a/sct_std.nii.gz".
std::filesystem::path withSuffixBeforeExtension(const std::filesystem::path& p, const std::string& suffix);

/// Calls write(tmp) and renames tmp to target. If write throws, tmp is removed and the exception
/// propagates; target is untouched. Throws IoError when the target's folder does not exist.
void writeAtomically(const std::filesystem::path& target,
                     const std::function<void(const std::filesystem::path& tmp)>& write);

/// Writes text content atomically.
void writeTextAtomically(const std::filesystem::path& target, const std::string& content);

/// Reads a whole text file; IoError naming the file when it is missing or unreadable.
std::string readTextFile(const std::filesystem::path& path);

}  // namespace mr2ct
