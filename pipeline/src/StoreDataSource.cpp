#include "mr2ct/pipeline/StoreDataSource.h"

#include "mr2ct/core/Error.h"

namespace mr2ct {

StoreDataSource::StoreDataSource(const std::filesystem::path& store) : store_(TrainingStore::open(store)) {}

std::string StoreDataSource::name() const { return store_.path().string(); }

std::vector<std::string> StoreDataSource::caseIds(const std::string& split) const { return store_.caseIds(split); }

std::array<int64_t, 3> StoreDataSource::shape(const std::string& id) const {
  const auto& size = store_.info(id).geometry.size;  // x, y, z
  return {int64_t(size[2]), int64_t(size[1]), int64_t(size[0])};
}

void StoreDataSource::readSlices(const std::string& id, const std::string& dataset, int64_t z0, int64_t count,
                                 float* out) const {
  if (z0 < 0 || count < 0) throw DataError(name(), "negative slice range for case '" + id + "'");
  store_.readSlices(id, dataset, std::size_t(z0), std::size_t(count), out);
}

}  // namespace mr2ct
