// `mr2ct merge-stores`: options → StoreMergeOptions → mergeStores.
#include "Commands.h"
#include "mr2ct/pipeline/StoreMerge.h"

namespace mr2ct {

Command mergeStoresCommand() {
  Command c;
  c.name = "merge-stores";
  c.summary = "join the per-shard stores of `preprocess --shard i/N` into one training store";
  c.usage = "mr2ct merge-stores --out store.h5 STORE.h5...";
  c.example = "mr2ct merge-stores --out bw.h5 bw.shard0of4.h5 bw.shard1of4.h5 bw.shard2of4.h5 bw.shard3of4.h5";
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()("stores", po::value<std::vector<std::string>>()->multitoken(),
                    "the stores to join (all shards of one manifest, or stores made with the same options)")(
        "out", po::value<std::string>(), "the merged store to write (.h5; must not exist)");
    p.add("stores", -1);
  };
  c.run = [](const po::variables_map& vm, CommandIO& io) {
    StoreMergeOptions o;
    if (vm.count("stores"))
      for (const auto& s : vm["stores"].as<std::vector<std::string>>()) o.inputs.emplace_back(s);
    if (vm.count("out")) o.out = vm["out"].as<std::string>();
    const StoreMergeSummary s = mergeStores(o);
    io.out << o.out.string() << ": " << s.cases << " case(s) from " << o.inputs.size() << " store(s)";
    if (s.shards > 0) io.out << " (all " << s.shards << " shards of the manifest)";
    io.out << "\n";
    return 0;
  };
  return c;
}

}  // namespace mr2ct
