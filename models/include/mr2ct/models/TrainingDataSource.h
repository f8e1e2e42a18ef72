#pragma once
// What the trainer reads: cases with co-registered MR, CT, body mask and CT field-of-view mask on
// one grid, split into train/val/test. A plain interface so models/ needs no HDF5: pipeline's
// StoreDataSource adapts the TrainingStore; InMemoryDataSource serves tests and synthetic data.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mr2ct {

class TrainingDataSource {
 public:
  virtual ~TrainingDataSource() = default;
  /// For messages: the store's path or a label.
  virtual std::string name() const = 0;
  /// Case ids of one split ("train" | "val" | "test"), sorted.
  virtual std::vector<std::string> caseIds(const std::string& split) const = 0;
  /// {nz, ny, nx} of a case's arrays.
  virtual std::array<int64_t, 3> shape(const std::string& id) const = 0;
  /// Reads `count` slices from z0 of dataset "mr" | "ct" | "mask" | "valid" as float, x fastest:
  /// out[(k·ny + y)·nx + x]. Must be safe to call from the loader thread (one at a time).
  virtual void readSlices(const std::string& id, const std::string& dataset, int64_t z0, int64_t count,
                          float* out) const = 0;
};

/// Cases held in memory (tests, synthetic phantoms).
class InMemoryDataSource : public TrainingDataSource {
 public:
  struct Case {
    std::string split;
    std::array<int64_t, 3> shape{};  ///< nz, ny, nx
    std::vector<float> mr, ct, mask, valid;
  };
  explicit InMemoryDataSource(std::string label = "memory") : label_(std::move(label)) {}
  /// DataError when a buffer's size is not nz·ny·nx.
  void addCase(const std::string& id, Case c);

  std::string name() const override { return label_; }
  std::vector<std::string> caseIds(const std::string& split) const override;
  std::array<int64_t, 3> shape(const std::string& id) const override;
  void readSlices(const std::string& id, const std::string& dataset, int64_t z0, int64_t count,
                  float* out) const override;

 private:
  const Case& get(const std::string& id) const;
  std::string label_;
  std::map<std::string, Case> cases_;
};

}  // namespace mr2ct
