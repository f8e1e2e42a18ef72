// Shard i of N: parsing, the Slurm array default, the partition and the file-name suffix.
#include "mr2ct/pipeline/Shard.h"

#include <cstdlib>
#include <stdexcept>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/core/Log.h"

namespace mr2ct {

std::pair<int, int> parseShard(const std::string& text) {
  const auto slash = text.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument("no slash");
    std::size_t a = 0, b = 0;
    const int i = std::stoi(text.substr(0, slash), &a);
    const int n = std::stoi(text.substr(slash + 1), &b);
    if (a != slash || b != text.size() - slash - 1 || n < 1 || i < 0 || i >= n) throw std::invalid_argument("range");
    return {i, n};
  } catch (const std::exception&) {
    throw OptionError("{shard} '" + text + "': expected i/N with 0 <= i < N (e.g. 0/4)");
  }
}

std::optional<std::pair<int, int>> slurmArrayShard() {
  const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
  if (!id || !count) return std::nullopt;
  const char* min = std::getenv("SLURM_ARRAY_TASK_MIN");
  // An array 0-3 (or 1-4) is shard ID - MIN of COUNT; a stepped or sparse array (0-6:2, 1,5) is
  // not a partition, so it needs an explicit --shard.
  try {
    const int i = std::stoi(id) - (min ? std::stoi(min) : 0), n = std::stoi(count);
    if (n >= 1 && i >= 0 && i < n) return std::make_pair(i, n);
  } catch (const std::exception&) {
  }
  throw OptionError(std::string("SLURM_ARRAY_TASK_ID=") + id + " of SLURM_ARRAY_TASK_COUNT=" + count +
                   " is not shard i of a contiguous array (e.g. sbatch --array=0-3); pass {shard} i/N");
}

std::pair<int, int> resolveShard(const std::optional<std::string>& option) {
  if (option) return parseShard(*option);
  if (const auto array = slurmArrayShard()) {
    spdlog::info("--shard {}/{} from the Slurm job array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT)", array->first,
                 array->second);
    return *array;
  }
  return {0, 1};
}

std::vector<std::size_t> shardPositions(std::size_t count, int index, int shards) {
  std::vector<std::size_t> out;
  for (std::size_t p = std::size_t(index); p < count; p += std::size_t(shards)) out.push_back(p);
  return out;
}

std::string shardSuffix(int index, int shards) {
  return shards > 1 ? ".shard" + std::to_string(index) + "of" + std::to_string(shards) : "";
}

}  // namespace mr2ct
