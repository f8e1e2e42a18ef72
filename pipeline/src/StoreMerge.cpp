// Joining training stores: every check first, then one atomic write.
#include "mr2ct/pipeline/StoreMerge.h"

#include <map>
#include <set>
#include <string>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/core/OutputGuard.h"
#include "mr2ct/core/Text.h"
#include "mr2ct/preprocessing/TrainingStore.h"

namespace mr2ct {

namespace fs = std::filesystem;

void StoreMergeOptions::validate() const {
  if (inputs.empty()) throw UsageError("merge-stores: give the stores to merge");
  if (out.empty()) throw OptionError("merge-stores: {out} is required");
  if (fullExtension(out) != ".h5" && fullExtension(out) != ".hdf5")
    throw OptionError("merge-stores: {out} must end in .h5 (got " + out.string() + ")");
  if (fs::exists(out)) throw OptionError("merge-stores: " + out.string() + " exists; remove it or choose another {out}");
}

namespace {

/// The first top-level key where two option records differ (or "" when equal).
std::string firstDifference(const nlohmann::json& a, const nlohmann::json& b) {
  if (!a.is_object() || !b.is_object()) return a == b ? "" : "preprocessing_options";
  std::set<std::string> keys;
  for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it.key());
  for (auto it = b.begin(); it != b.end(); ++it) keys.insert(it.key());
  for (const auto& k : keys)
    if (!a.contains(k) || !b.contains(k) || a[k] != b[k]) return k;
  return "";
}

nlohmann::json shardOf(const nlohmann::json& root) {
  const auto m = root.find("manifest");
  if (m == root.end() || !m->is_object() || !m->contains("shard")) return nullptr;
  return (*m)["shard"];
}

/// Every input a shard of one manifest with one N, each shard once; or none a shard. Returns N or 0.
int checkShards(const std::vector<TrainingStore>& stores) {
  const TrainingStore& first = stores.front();
  const bool shards = !shardOf(first.rootAttributes()).is_null();
  const nlohmann::json firstManifest = first.rootAttributes().value("manifest", nlohmann::json::object());
  std::map<int, std::string> seen;
  int count = 0;
  for (const auto& s : stores) {
    const std::string f = s.path().string();
    const nlohmann::json shard = shardOf(s.rootAttributes());
    if (shard.is_null() == shards)
      throw UsageError("merge-stores: " + (shards ? f : first.path().string()) + " is a whole store, " +
                       (shards ? first.path().string() : f) + " a shard of a manifest (give all shards, or stores)");
    if (!shards) continue;
    if (!shard.is_object() || !shard.value("count", nlohmann::json()).is_number_integer() ||
        !shard.value("index", nlohmann::json()).is_number_integer())
      throw DataError(f, "the 'manifest' attribute's shard record is malformed: " + shard.dump());
    const int n = shard["count"].get<int>(), i = shard["index"].get<int>();
    if (count == 0) count = n;
    if (n != count)
      throw UsageError("merge-stores: " + f + " is shard " + std::to_string(i) + "/" + std::to_string(n) + ", " +
                       first.path().string() + " one of " + std::to_string(count) + " shards");
    const nlohmann::json m = s.rootAttributes().at("manifest");  // an object: shardOf found the shard in it
    if (!firstManifest.is_object() || m.value("file", "") != firstManifest.value("file", "") ||
        m.value("cases", -1) != firstManifest.value("cases", -1))
      throw UsageError("merge-stores: " + f + " is a shard of another manifest (" + m.value("file", "?") + ") than " +
                       first.path().string());
    if (!seen.emplace(i, f).second)
      throw UsageError("merge-stores: shard " + std::to_string(i) + "/" + std::to_string(n) +
                       " is given twice: " + seen[i] + " and " + f);
  }
  for (int i = 0; i < count; ++i)
    if (!seen.count(i))
      throw OptionError("merge-stores: shard " + std::to_string(i) + "/" + std::to_string(count) +
                       " is missing (run preprocess --shard " + std::to_string(i) + "/" + std::to_string(count) +
                       " and give its store)");
  return count;
}

}  // namespace

StoreMergeSummary mergeStores(const StoreMergeOptions& o) {
  o.validate();
  refuseOverwritingInputs(o.out, o.inputs);
  for (std::size_t i = 0; i < o.inputs.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (sameFile(o.inputs[i], o.inputs[j]))
        throw UsageError("merge-stores: " + o.inputs[i].string() + " is given twice");
  std::vector<TrainingStore> stores;
  for (const auto& p : o.inputs) stores.push_back(TrainingStore::open(p));

  const nlohmann::json options = stores.front().rootAttributes().value("preprocessing_options", nlohmann::json());
  std::map<std::string, std::string> owner;  // case id → store
  for (const auto& s : stores) {
    const std::string f = s.path().string();
    const std::string key =
        firstDifference(options, s.rootAttributes().value("preprocessing_options", nlohmann::json()));
    if (!key.empty())
      throw UsageError("merge-stores: " + f + " was preprocessed with other options than " +
                       stores.front().path().string() + " (they differ in '" + key + "')");
    for (const auto& id : s.caseIds())
      if (!owner.emplace(id, f).second)
        throw UsageError("merge-stores: case '" + id + "' is in both " + owner[id] + " and " + f);
  }
  StoreMergeSummary summary;
  summary.shards = checkShards(stores);

  nlohmann::json root = stores.front().rootAttributes();
  for (const char* k : {"format", "format_version", "case_count"}) root.erase(k);
  if (root.contains("manifest") && root["manifest"].is_object()) root["manifest"].erase("shard");
  nlohmann::json from = nlohmann::json::array();
  for (const auto& s : stores)
    from.push_back({{"file", s.path().generic_string()},
                    {"shard", shardOf(s.rootAttributes())},
                    {"tool_version", s.rootAttributes().value("tool_version", "")}});
  root["merged_from"] = from;

  prepareOutputFile(o.out);
  TrainingStoreWriter writer(o.out, root);
  for (const auto& s : stores) writer.copyCasesFrom(s);
  summary.cases = writer.caseIds().size();
  writer.commit();
  return summary;
}

}  // namespace mr2ct
