#pragma once
// Checks made before any work starts, so that a long conversion or training never ends in "cannot
// write" and never writes over the data it was given: the output's folder is created, a file can
// be created in it, the free space suffices, and the output is none of the inputs.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mr2ct {

/// Creates `folder` (and its parents), then checks that a file can be created in it and that at
/// least `bytesNeeded` bytes are free. IoError naming the folder: "not writable (...)" or
/// "no space: N MiB free, about M MiB needed".
void prepareOutputFolder(const std::filesystem::path& folder, std::uintmax_t bytesNeeded = 0);

/// prepareOutputFolder for the folder `output` goes into ("." when it has none); also refuses an
/// existing folder where a file is to be written.
void prepareOutputFile(const std::filesystem::path& output, std::uintmax_t bytesNeeded = 0);

/// True when both paths name the same existing file: the same path, a symbolic link to it, or a
/// hard link (same device and inode).
bool sameFile(const std::filesystem::path& a, const std::filesystem::path& b);

/// UsageError "<output>: is the input <input> (...); refusing to overwrite it" when `output` is one
/// of `inputs` (sameFile), or lies inside an input that is a folder (a DICOM series).
void refuseOverwritingInputs(const std::filesystem::path& output, const std::vector<std::filesystem::path>& inputs);

/// Removes temporaries that writeAtomically left beside `target` when its process was killed
/// (".<stem>.tmp-<pid>-<n><ext>" whose pid no longer runs). Returns how many were removed.
std::size_t removeStaleTemporaries(const std::filesystem::path& target);

}  // namespace mr2ct
