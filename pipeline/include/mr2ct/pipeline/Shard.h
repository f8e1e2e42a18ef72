#pragma once
// Shard i of N of a manifest: how `convert --manifest` and `preprocess` split one batch over the
// tasks of a Slurm job array (or any launcher) so that the tasks together cover every case once.
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mr2ct {

/// "i/N" → (i, N), 0 ≤ i < N; UsageError otherwise.
std::pair<int, int> parseShard(const std::string& text);
/// In a Slurm job array (SLURM_ARRAY_TASK_ID, _COUNT, _MIN set): shard (ID − MIN, COUNT), the
/// default of --shard; nullopt outside an array. UsageError for a stepped or sparse array.
std::optional<std::pair<int, int>> slurmArrayShard();
/// The shard a batch command runs: `option` ("i/N") when given, else the Slurm job array's (logged),
/// else the whole batch (0, 1).
std::pair<int, int> resolveShard(const std::optional<std::string>& option);
/// Positions of the cases of shard i of N among `count` cases (deterministic, round robin).
std::vector<std::size_t> shardPositions(std::size_t count, int index, int shards);
/// ".shard<i>of<N>" for N > 1, "" for the whole batch: inserted into the names of the files each
/// task writes (status, QA, store), so tasks sharing a folder never write the same file.
std::string shardSuffix(int index, int shards);

}  // namespace mr2ct
