#include "mr2ct/models/SliceSampler.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/Stopwatch.h"
#include "mr2ct/models/IntensityAugmentation.h"

namespace mr2ct {

// ---- InMemoryDataSource -------------------------------------------------------------------------

void InMemoryDataSource::addCase(const std::string& id, Case c) {
  const size_t n = size_t(c.shape[0] * c.shape[1] * c.shape[2]);
  for (const auto* v : {&c.mr, &c.ct, &c.mask, &c.valid})
    if (v->size() != n)
      throw DataError(label_ + ": case '" + id + "' has a buffer of " + std::to_string(v->size()) +
                      " values, expected " + std::to_string(n));
  cases_[id] = std::move(c);
}

std::vector<std::string> InMemoryDataSource::caseIds(const std::string& split) const {
  std::vector<std::string> ids;
  for (const auto& [id, c] : cases_)
    if (split.empty() || c.split == split) ids.push_back(id);
  return ids;
}

const InMemoryDataSource::Case& InMemoryDataSource::get(const std::string& id) const {
  auto it = cases_.find(id);
  if (it == cases_.end()) throw DataError(label_ + ": no case '" + id + "'");
  return it->second;
}

std::array<int64_t, 3> InMemoryDataSource::shape(const std::string& id) const { return get(id).shape; }

void InMemoryDataSource::readSlices(const std::string& id, const std::string& dataset, int64_t z0, int64_t count,
                                    float* out) const {
  const Case& c = get(id);
  const std::vector<float>* v = dataset == "mr"     ? &c.mr
                                : dataset == "ct"   ? &c.ct
                                : dataset == "mask" ? &c.mask
                                : dataset == "valid" ? &c.valid
                                                     : nullptr;
  if (!v) throw DataError(label_ + ": unknown dataset '" + dataset + "'");
  if (z0 < 0 || count < 0 || z0 + count > c.shape[0])
    throw DataError(label_ + ": slices [" + std::to_string(z0) + ", " + std::to_string(z0 + count) +
                    ") outside case '" + id + "'");
  const int64_t plane = c.shape[1] * c.shape[2];
  std::memcpy(out, v->data() + z0 * plane, size_t(count * plane) * sizeof(float));
}

// ---- TrainingBatch ------------------------------------------------------------------------------

torch::Tensor TrainingBatch::source(const FlowConfig& flow, int neighbours) const {
  if (flow.source == "noise") return noise;
  return cond.narrow(1, cond.size(1) == 1 ? 0 : neighbours, 1);
}

// ---- BatchSampler -------------------------------------------------------------------------------

namespace {

/// First index of a window of `size` around `centre` in an axis of `n` voxels: clamped into the
/// image when it fits, centred (negative start = padding) when it does not.
int64_t windowStart(int64_t centre, int64_t size, int64_t n) {
  if (n >= size) return std::clamp(centre - size / 2, int64_t(0), n - size);
  return (n - size) / 2;
}

}  // namespace

BatchSampler::BatchSampler(const TrainingDataSource& data, const ModelConfig& config, const std::string& split,
                           BatchPart part)
    : data_(data), config_(config), part_(part) {
  config_.validate();
  if (part.count < 1 || part.index < 0 || part.index >= part.count || config_.training.batch % part.count != 0)
    throw UsageError("the batch " + std::to_string(config_.training.batch) + " does not split into " +
                     std::to_string(part.count) + " equal parts");
  const auto ids = data.caseIds(split);
  if (ids.empty()) throw DataError(data.name(), "no cases in split '" + split + "'");
  int64_t body = 0, all = 0;
  for (const auto& id : ids) {
    CaseIndex c;
    c.id = id;
    c.shape = data.shape(id);
    const int64_t nz = c.shape[0], ny = c.shape[1], nx = c.shape[2];
    if (nz < 1 || ny < 1 || nx < 1) throw DataError(data.name(), "case '" + id + "' is empty");
    std::vector<float> mask(size_t(ny * nx));
    c.bbox.assign(size_t(nz), {-1, -1, -1, -1});
    for (int64_t z = 0; z < nz; ++z) {
      data.readSlices(id, "mask", z, 1, mask.data());
      auto& b = c.bbox[size_t(z)];
      for (int64_t y = 0; y < ny; ++y)
        for (int64_t x = 0; x < nx; ++x)
          if (mask[size_t(y * nx + x)] > 0.5f) {
            if (b[0] < 0) b = {y, y, x, x};
            b[0] = std::min(b[0], y);
            b[1] = std::max(b[1], y);
            b[2] = std::min(b[2], x);
            b[3] = std::max(b[3], x);
          }
      if (b[0] >= 0) c.bodySlices.push_back(z);
    }
    body += int64_t(c.bodySlices.size());
    all += nz;
    cumulativeBodySlices_.push_back(body);
    cumulativeSlices_.push_back(all);
    cases_.push_back(std::move(c));
  }
}

WindowSpec BatchSampler::drawWindow(SplitMix64& rng) const {
  WindowSpec w;
  const bool inBody = rng.uniform() < config_.training.bodyFraction && cumulativeBodySlices_.back() > 0;
  const auto& cum = inBody ? cumulativeBodySlices_ : cumulativeSlices_;
  const int64_t g = rng.below(cum.back());
  w.caseIndex = size_t(std::upper_bound(cum.begin(), cum.end(), g) - cum.begin());
  const CaseIndex& c = cases_[w.caseIndex];
  const int64_t local = g - (w.caseIndex ? cum[w.caseIndex - 1] : 0);
  if (inBody) {
    w.z = c.bodySlices[size_t(local)];
    const auto& b = c.bbox[size_t(w.z)];
    w.y = b[0] + rng.below(b[1] - b[0] + 1);
    w.x = b[2] + rng.below(b[3] - b[2] + 1);
  } else {
    w.z = local;
    w.y = rng.below(c.shape[1]);
    w.x = rng.below(c.shape[2]);
  }
  w.flip = config_.training.flips && rng.uniform() < 0.5;
  return w;
}

void BatchSampler::fillWindow(const WindowSpec& w, const std::vector<int64_t>& size, float* cond, float* ct,
                              float* body, float* valid) const {
  const CaseIndex& c = cases_[w.caseIndex];
  const int64_t nz = c.shape[0], ny = c.shape[1], nx = c.shape[2];
  const bool is3d = size.size() == 3;
  const int64_t D = is3d ? size[0] : 1, H = size[size.size() - 2], W = size.back();
  const int64_t n = is3d ? 0 : config_.network.neighbours;
  const int64_t y0 = windowStart(w.y, H, ny), x0 = windowStart(w.x, W, nx);
  const int64_t z0 = is3d ? windowStart(w.z, D, nz) : w.z;
  const int64_t plane = ny * nx, window = D * H * W;

  // Slab of source slices [za, zb] covering the window (and the 2.5D neighbours, edge-replicated).
  const int64_t za = std::max<int64_t>(0, is3d ? z0 : w.z - n);
  const int64_t zb = std::min<int64_t>(nz - 1, is3d ? z0 + D - 1 : w.z + n);
  const int64_t slab = zb - za + 1;
  std::vector<float> buf(size_t(slab * plane));

  // Copies slice sz of the slab into output depth d of `out` (padding with `pad`).
  auto copySlice = [&](const float* src, int64_t sz, float* out, float pad) {
    for (int64_t yy = 0; yy < H; ++yy) {
      const int64_t sy = y0 + yy;
      float* row = out + yy * W;
      if (sz < 0 || sy < 0 || sy >= ny) {
        std::fill(row, row + W, pad);
        continue;
      }
      const float* srow = src + (sz - za) * plane + sy * nx;
      for (int64_t xx = 0; xx < W; ++xx) {
        const int64_t sx = x0 + (w.flip ? W - 1 - xx : xx);
        row[xx] = (sx >= 0 && sx < nx) ? srow[sx] : pad;
      }
    }
  };
  auto sourceZ = [&](int64_t d) -> int64_t {  // 3D: depth d of the window → source z or -1
    const int64_t z = z0 + d;
    return (z >= 0 && z < nz) ? z : -1;
  };

  data_.readSlices(c.id, "mr", za, slab, buf.data());
  float mrMin = std::numeric_limits<float>::max();
  for (float v : buf) mrMin = std::min(mrMin, v);
  if (is3d) {
    for (int64_t d = 0; d < D; ++d) copySlice(buf.data(), sourceZ(d), cond + d * H * W, mrMin);
  } else {
    for (int64_t k = 0; k < 2 * n + 1; ++k)
      copySlice(buf.data(), std::clamp(w.z - n + k, za, zb), cond + k * window, mrMin);
  }
  struct Target {
    const char* dataset;
    float* out;
    float pad;
  };
  for (const Target& tg : {Target{"ct", ct, -1.0f}, Target{"mask", body, 0.0f}, Target{"valid", valid, 0.0f}}) {
    if (is3d) {
      data_.readSlices(c.id, tg.dataset, za, slab, buf.data());
      for (int64_t d = 0; d < D; ++d) copySlice(buf.data(), sourceZ(d), tg.out + d * H * W, tg.pad);
    } else {
      data_.readSlices(c.id, tg.dataset, w.z, 1, buf.data() + (w.z - za) * plane);
      copySlice(buf.data(), w.z, tg.out, tg.pad);
    }
  }
}

TrainingBatch BatchSampler::windows(const std::vector<WindowSpec>& specs, const std::vector<int64_t>& size) const {
  const int64_t B = int64_t(specs.size());
  const int64_t C = config_.network.condChannels();
  std::vector<int64_t> shape{B, 1};
  shape.insert(shape.end(), size.begin(), size.end());
  int64_t window = 1;
  for (auto s : size) window *= s;
  TrainingBatch b;
  b.ct = torch::empty(shape);
  b.body = torch::empty(shape);
  b.valid = torch::empty(shape);
  shape[1] = C;
  b.cond = torch::empty(shape);
  for (int64_t i = 0; i < B; ++i)
    fillWindow(specs[size_t(i)], size, b.cond.data_ptr<float>() + i * C * window, b.ct.data_ptr<float>() + i * window,
               b.body.data_ptr<float>() + i * window, b.valid.data_ptr<float>() + i * window);
  b.t = torch::zeros({B});
  return b;
}

TrainingBatch BatchSampler::batch(int64_t step) const {
  // The whole batch's random numbers are drawn in one order whatever the part, and only this
  // part's windows are cut: the random stream, hence every sample, is independent of part.count.
  const auto& tr = config_.training;
  SplitMix64 rng = SplitMix64::forStream(tr.seed, uint64_t(step));
  const int64_t B = tr.batch / part_.count, first = part_.index * B;
  std::vector<WindowSpec> all;
  for (int64_t i = 0; i < tr.batch; ++i) all.push_back(drawWindow(rng));
  const std::vector<WindowSpec> specs(all.begin() + long(first), all.begin() + long(first + B));
  TrainingBatch b = windows(specs, config_.network.patchSize);
  b.step = step;
  const int64_t perItem = b.cond.numel() / B, perBody = b.body.numel() / B;
  const int64_t H = b.cond.size(-2), W = b.cond.size(-1);
  float* cond = b.cond.data_ptr<float>();
  const TimeSampler times(config_.flow);
  float* t = b.t.data_ptr<float>();
  for (int64_t i = 0; i < tr.batch; ++i) {
    const bool mine = i >= first && i < first + B;
    float* item = mine ? cond + (i - first) * perItem : nullptr;
    if (tr.surfaceGainAugmentation > 0.0) {
      const SurfaceGain gain = SurfaceGain::draw(rng, tr.surfaceGainAugmentation);
      if (mine) {
        const float* body = b.body.data_ptr<float>() + (i - first) * perBody;
        const int64_t depth = perBody / (H * W), channels = perItem / perBody;
        // 2.5D neighbours share the centre slice's mask: one shell for all channels.
        if (depth == 1)
          gain.apply(item, channels, body, H, W);
        else
          for (int64_t ch = 0; ch < channels; ++ch)
            for (int64_t d = 0; d < depth; ++d) gain.apply(item + (ch * depth + d) * H * W, 1, body + d * H * W, H, W);
      }
    }
    if (tr.gammaAugmentation > 0.0) {
      const GammaCurve gamma = GammaCurve::draw(rng, tr.gammaAugmentation);
      if (mine) gamma.apply(item, perItem);
    }
    if (tr.contrastAugmentation > 0.0) {
      const ContrastCurve curve = ContrastCurve::draw(rng, tr.contrastAugmentation);
      if (mine) curve.apply(item, perItem);
    }
    if (tr.biasFieldAugmentation > 0.0) {
      const BiasField field = BiasField::draw(rng, tr.biasFieldAugmentation);
      if (mine) field.apply(item, perItem / (H * W), H, W);
    }
    if (tr.intensityJitter > 0.0) {
      const float scale = float(1.0 + rng.uniform(-tr.intensityJitter, tr.intensityJitter));
      const float shift = float(rng.uniform(-tr.intensityJitter, tr.intensityJitter));
      if (mine)
        for (int64_t k = 0; k < perItem; ++k) item[k] = item[k] * scale + shift;
    }
    const float ti = float(times.sample(rng));
    if (mine) t[i - first] = ti;
  }
  const int64_t perCt = b.ct.numel() / B;
  auto gaussian = [&]() {
    torch::Tensor g = torch::empty_like(b.ct);
    float* p = g.data_ptr<float>();
    for (int64_t k = 0; k < tr.batch * perCt; ++k) {
      const float v = float(rng.normal());
      if (k >= first * perCt && k < (first + B) * perCt) p[k - first * perCt] = v;
    }
    return g;
  };
  if (config_.flow.source == "noise") b.noise = gaussian();
  if (config_.flow.sigma > 0.0) b.eps = gaussian();
  return b;
}

std::vector<std::pair<std::vector<WindowSpec>, std::vector<int64_t>>> BatchSampler::validationWindows(
    int64_t perCase, int64_t sizeMultiple) const {
  std::vector<std::pair<std::vector<WindowSpec>, std::vector<int64_t>>> out;
  auto roundUp = [&](int64_t v) { return (v + sizeMultiple - 1) / sizeMultiple * sizeMultiple; };
  for (size_t ci = 0; ci < cases_.size(); ++ci) {
    const CaseIndex& c = cases_[ci];
    std::vector<WindowSpec> specs;
    const int64_t nBody = int64_t(c.bodySlices.size());
    for (int64_t i = 0; i < perCase; ++i) {
      WindowSpec w;
      w.caseIndex = ci;
      if (nBody > 0) {
        w.z = c.bodySlices[size_t((2 * i + 1) * nBody / (2 * perCase))];
        const auto& b = c.bbox[size_t(w.z)];
        w.y = (b[0] + b[1]) / 2;
        w.x = (b[2] + b[3]) / 2;
      } else {
        w.z = (2 * i + 1) * c.shape[0] / (2 * perCase);
        w.y = c.shape[1] / 2;
        w.x = c.shape[2] / 2;
      }
      specs.push_back(w);
    }
    std::vector<int64_t> size = config_.network.dims() == 3
                                    ? config_.network.patchSize
                                    : std::vector<int64_t>{roundUp(c.shape[1]), roundUp(c.shape[2])};
    out.emplace_back(std::move(specs), std::move(size));
  }
  return out;
}

// ---- PrefetchLoader -----------------------------------------------------------------------------

PrefetchLoader::PrefetchLoader(const BatchSampler& sampler, int64_t first, int64_t last, int depth)
    : sampler_(sampler), next_(first), last_(last), depth_(size_t(std::max(1, depth))) {
  thread_ = std::thread([this] { run(); });
}

PrefetchLoader::~PrefetchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PrefetchLoader::run() {
  try {
    // The loader fills buffers with plain loops: no parallel ATen op, so no second OpenMP team.
    for (int64_t step = next_; step < last_; ++step) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stop_ || queue_.size() < depth_; });
        if (stop_) return;
      }
      TrainingBatch b = sampler_.batch(step);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        queue_.push_back(std::move(b));
      }
      changed_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
    changed_.notify_all();
  }
}

TrainingBatch PrefetchLoader::next() {
  const Stopwatch wait;
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !queue_.empty() || error_; });
  if (queue_.empty() && error_) std::rethrow_exception(error_);
  TrainingBatch b = std::move(queue_.front());
  queue_.pop_front();
  lock.unlock();
  changed_.notify_all();
  waitSeconds_ += wait.seconds();
  return b;
}

}  // namespace mr2ct
