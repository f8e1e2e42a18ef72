#pragma once
// `mr2ct merge-stores`: the per-shard stores of `preprocess --shard i/N` (or stores of several
// manifests made with one set of options) joined into one training store, so that training reads
// exactly the cases and arrays one unsharded `preprocess` would have written.
#include <filesystem>
#include <vector>

namespace mr2ct {

struct StoreMergeOptions {
  std::vector<std::filesystem::path> inputs;  ///< stores to join, at least one
  std::filesystem::path out;                  ///< the merged store (.h5); must not exist yet
  void validate() const;                      ///< UsageError naming the option
};

struct StoreMergeSummary {
  std::size_t cases = 0;  ///< in the merged store
  int shards = 0;         ///< N when the inputs are the shards of one manifest, else 0
};

/// Checks before anything is written, each a one-line error naming the store:
/// - every input opens as a training store;
/// - all were made with the same preprocessing options (the first key that differs is named);
/// - no case id is in two inputs;
/// - shards: all of one manifest and one N, and every shard 0..N-1 given exactly once.
/// Then copies the cases (arrays and attributes unchanged) and commits the store atomically. Its
/// root attributes are the first input's, without "shard", plus "merged_from" (file, shard, tool
/// version of each input).
StoreMergeSummary mergeStores(const StoreMergeOptions& options);

}  // namespace mr2ct
