#pragma once
// The TrainingStore seen through models/' plain TrainingDataSource interface (models/ stays free
// of HDF5): the trainer reads slices of the store's cases through this adapter.
#include <filesystem>
#include <string>
#include <vector>

#include "mr2ct/models/TrainingDataSource.h"
#include "mr2ct/preprocessing/TrainingStore.h"

namespace mr2ct {

class StoreDataSource : public TrainingDataSource {
 public:
  /// Opens the store (IoError / DataError from TrainingStore::open).
  explicit StoreDataSource(const std::filesystem::path& store);

  std::string name() const override;
  std::vector<std::string> caseIds(const std::string& split) const override;
  std::array<int64_t, 3> shape(const std::string& id) const override;
  void readSlices(const std::string& id, const std::string& dataset, int64_t z0, int64_t count,
                  float* out) const override;

  const TrainingStore& store() const { return store_; }

 private:
  TrainingStore store_;
};

}  // namespace mr2ct
