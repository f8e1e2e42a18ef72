// The HDF5 training store: the one place that knows its schema (see TrainingStore.h).
// libhdf5 (serial build) is not thread-safe, so every HDF5 call below runs under one global mutex.
#include "mr2ct/preprocessing/TrainingStore.h"

#include <hdf5.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/SafePath.h"

namespace mr2ct {

namespace {

std::recursive_mutex& hdf5Mutex() {
  static std::recursive_mutex m;
  return m;
}
using Lock = std::lock_guard<std::recursive_mutex>;

/// Silences HDF5's own error printing once; we turn failures into exceptions naming the file.
void quietHdf5() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

/// RAII for an hid_t with its matching close function.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = -1;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

Handle checked(hid_t id, herr_t (*close)(hid_t), const std::string& file, const std::string& what) {
  if (id < 0) throw IoError(file, "HDF5: cannot " + what);
  return Handle(id, close);
}

void check(herr_t status, const std::string& file, const std::string& what) {
  if (status < 0) throw IoError(file, "HDF5: cannot " + what);
}

void writeStringAttribute(hid_t object, const std::string& name, const std::string& value, const std::string& file) {
  Handle type = checked(H5Tcopy(H5T_C_S1), H5Tclose, file, "create a string type");
  check(H5Tset_size(type.get(), std::max<std::size_t>(1, value.size())), file, "size a string type");
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), file, "set UTF-8");
  Handle space = checked(H5Screate(H5S_SCALAR), H5Sclose, file, "create a scalar space");
  if (H5Aexists(object, name.c_str()) > 0) H5Adelete(object, name.c_str());
  Handle attr =
      checked(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose, file,
              "create attribute '" + name + "' (too large?)");
  const std::string padded = value.empty() ? std::string(1, '\0') : value;
  check(H5Awrite(attr.get(), type.get(), padded.data()), file, "write attribute '" + name + "'");
}

void writeIntAttribute(hid_t object, const std::string& name, long long value, const std::string& file) {
  Handle space = checked(H5Screate(H5S_SCALAR), H5Sclose, file, "create a scalar space");
  Handle attr = checked(H5Acreate2(object, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                        H5Aclose, file, "create attribute '" + name + "'");
  check(H5Awrite(attr.get(), H5T_NATIVE_LLONG, &value), file, "write attribute '" + name + "'");
}

/// Reads a string attribute (fixed or variable length).
std::string readStringAttribute(hid_t object, const std::string& name, const std::string& file) {
  Handle attr = checked(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose, file, "open attribute '" + name + "'");
  Handle type = checked(H5Aget_type(attr.get()), H5Tclose, file, "read the type of attribute '" + name + "'");
  if (H5Tget_class(type.get()) != H5T_STRING) throw DataError(file, "attribute '" + name + "' is not a string");
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem = checked(H5Tcopy(H5T_C_S1), H5Tclose, file, "create a string type");
    H5Tset_size(mem.get(), H5T_VARIABLE);
    char* s = nullptr;
    check(H5Aread(attr.get(), mem.get(), &s), file, "read attribute '" + name + "'");
    std::string out = s ? s : "";
    H5free_memory(s);
    return out;
  }
  const std::size_t n = H5Tget_size(type.get());
  std::string out(n, '\0');
  check(H5Aread(attr.get(), type.get(), out.data()), file, "read attribute '" + name + "'");
  const auto end = out.find('\0');
  if (end != std::string::npos) out.resize(end);
  return out;
}

long long readIntAttribute(hid_t object, const std::string& name, const std::string& file) {
  Handle attr = checked(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose, file, "open attribute '" + name + "'");
  long long v = 0;
  check(H5Aread(attr.get(), H5T_NATIVE_LLONG, &v), file, "read attribute '" + name + "'");
  return v;
}

nlohmann::json parseJsonAttribute(hid_t object, const std::string& name, const std::string& file,
                                  const std::string& where) {
  const std::string text = readStringAttribute(object, name, file);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(file, where + " attribute '" + name + "' is not valid JSON: " + e.what());
  }
}

std::vector<std::string> attributeNames(hid_t object) {
  std::vector<std::string> names;
  H5Aiterate2(
      object, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->emplace_back(name);
        return 0;
      },
      &names);
  return names;
}

std::vector<std::string> childNames(hid_t group) {
  std::vector<std::string> names;
  H5Literate(
      group, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->emplace_back(name);
        return 0;
      },
      &names);
  return names;
}

const std::vector<std::string>& datasetNames() {
  static const std::vector<std::string> names{"mr", "ct", "mask", "valid"};
  return names;
}

// Per-case attributes with a fixed meaning; every other attribute is one top-level key of
// StoredCaseInfo::attributes, stored as a JSON string.
constexpr const char* kSplitAttr = "split";
constexpr const char* kGeometryAttr = "geometry";

void checkDatasetName(const std::string& dataset, const std::string& file) {
  const auto& n = datasetNames();
  if (std::find(n.begin(), n.end(), dataset) == n.end())
    throw UsageError(file + ": unknown dataset '" + dataset + "' (mr|ct|mask|valid)");
}

}  // namespace

nlohmann::json geometryToJson(const Geometry& g) {
  return {{"size", g.size}, {"spacing", g.spacing}, {"origin", g.origin}, {"direction", g.direction}};
}

Geometry geometryFromJson(const nlohmann::json& j, const std::string& context) {
  Geometry g;
  try {
    g.size = j.at("size").get<std::array<std::size_t, 3>>();
    g.spacing = j.at("spacing").get<Vec3>();
    g.origin = j.at("origin").get<Vec3>();
    g.direction = j.at("direction").get<Mat3>();
  } catch (const nlohmann::json::exception& e) {
    throw DataError(context, std::string("geometry record: ") + e.what());
  }
  g.validate(context);
  return g;
}

// ---------------------------------------------------------------------------------------------
// Writer

struct TrainingStoreWriter::Impl {
  std::filesystem::path path, tmp;
  Handle file, cases;
  std::vector<std::string> ids;
  bool committed = false;
  int deflateLevel = 4;
  std::string tmpName() const { return tmp.string(); }
};

TrainingStoreWriter::TrainingStoreWriter(const std::filesystem::path& path, const nlohmann::json& rootAttributes)
    : impl_(std::make_unique<Impl>()) {
  Lock lock(hdf5Mutex());
  quietHdf5();
  impl_->path = path;
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  if (!std::filesystem::is_directory(dir)) throw IoError(path.string(), "the output folder does not exist");
  impl_->tmp = temporarySibling(path);
  const std::string f = impl_->tmpName();
  // The newest file format: superblock v2+ and v2 object headers, whose metadata carry checksums
  // that libhdf5 verifies before parsing. libhdf5 1.10.8 overflows buffers on corrupt v0/v1
  // metadata (fuzz_training_store), so readers accept only these files (checkSuperblock below).
  Handle fapl = checked(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, path.string(), "create file access properties");
  check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST), path.string(),
        "select the checksummed HDF5 file format");
  impl_->file = checked(H5Fcreate(f.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose, path.string(),
                        "create the temporary store file " + f);
  const hid_t root = impl_->file.get();
  writeIntAttribute(root, "format_version", kTrainingStoreFormatVersion, f);
  if (!rootAttributes.is_null() && !rootAttributes.is_object())
    throw DataError(path.string(), "store root attributes must be a JSON object");
  const nlohmann::json attrs = rootAttributes.is_object() ? rootAttributes : nlohmann::json::object();
  writeStringAttribute(root, "tool_version", attrs.value("tool_version", std::string(MR2CT_VERSION)), f);
  writeStringAttribute(root, "format", "mr2ct training store", f);
  for (auto it = attrs.begin(); it != attrs.end(); ++it) {
    if (it.key() == "tool_version" || it.key() == "format_version" || it.key() == "format") continue;
    writeStringAttribute(root, it.key(), it.value().dump(), f);
  }
  impl_->cases = checked(H5Gcreate2(root, "cases", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose, f,
                         "create group /cases");
}

TrainingStoreWriter::~TrainingStoreWriter() {
  if (!impl_) return;
  Lock lock(hdf5Mutex());
  impl_->cases.reset();
  impl_->file.reset();
  if (!impl_->committed) {
    std::error_code ec;
    std::filesystem::remove(impl_->tmp, ec);
  }
}

bool TrainingStoreWriter::hasCase(const std::string& id) const {
  Lock lock(hdf5Mutex());
  return std::find(impl_->ids.begin(), impl_->ids.end(), id) != impl_->ids.end();
}

std::vector<std::string> TrainingStoreWriter::caseIds() const {
  Lock lock(hdf5Mutex());
  return impl_->ids;
}

namespace {

template <class T>
void writeDataset(hid_t group, const std::string& name, hid_t fileType, hid_t memType, const Geometry& g, const T* data,
                  int deflate, const std::string& file) {
  const hsize_t dims[3] = {g.size[2], g.size[1], g.size[0]};
  const hsize_t chunk[3] = {1, g.size[1], g.size[0]};  // one axial slice per chunk
  Handle space = checked(H5Screate_simple(3, dims, nullptr), H5Sclose, file, "create a dataspace");
  Handle dcpl = checked(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, file, "create dataset properties");
  check(H5Pset_chunk(dcpl.get(), 3, chunk), file, "set chunking");
  if (deflate > 0 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
    check(H5Pset_shuffle(dcpl.get()), file, "set the shuffle filter");
    check(H5Pset_deflate(dcpl.get(), static_cast<unsigned>(deflate)), file, "set gzip compression");
  }
  Handle ds = checked(H5Dcreate2(group, name.c_str(), fileType, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                      H5Dclose, file, "create dataset " + name);
  check(H5Dwrite(ds.get(), memType, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), file, "write dataset " + name);
}

}  // namespace

void TrainingStoreWriter::writeCase(const StoredCaseInfo& info, const Volume& mr, const Volume& ct, const Mask& mask,
                                    const Mask& valid) {
  const std::string f = impl_->path.string();
  if (!isSafeId(info.id)) throw DataError(f, "case id '" + info.id + "' is not a safe name ([A-Za-z0-9._-]+)");
  if (info.split != "train" && info.split != "val" && info.split != "test")
    throw DataError(f, "case " + info.id + ": unknown split '" + info.split + "' (train|val|test)");
  const Geometry& g = info.geometry;
  g.validate(f + " case " + info.id);
  auto sameSize = [&](const std::array<std::size_t, 3>& s, const char* what) {
    if (s != g.size)
      throw DataError(f, "case " + info.id + ": " + what + " size differs from the case geometry (" + g.describe() + ")");
  };
  sameSize(mr.size(), "mr");
  sameSize(ct.size(), "ct");
  sameSize(mask.size(), "mask");
  sameSize(valid.size(), "valid");
  if (!info.attributes.is_object() && !info.attributes.is_null())
    throw DataError(f, "case " + info.id + ": attributes must be a JSON object");

  Lock lock(hdf5Mutex());
  if (impl_->committed) throw Error(f + ": store already committed");
  if (std::find(impl_->ids.begin(), impl_->ids.end(), info.id) != impl_->ids.end())
    throw DataError(f, "case " + info.id + " written twice");
  const std::string t = impl_->tmpName();
  Handle group = checked(H5Gcreate2(impl_->cases.get(), info.id.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                         H5Gclose, t, "create group /cases/" + info.id);
  try {
    writeDataset(group.get(), "mr", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, g, mr.data(), impl_->deflateLevel, t);
    writeDataset(group.get(), "ct", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, g, ct.data(), impl_->deflateLevel, t);
    writeDataset(group.get(), "mask", H5T_STD_U8LE, H5T_NATIVE_UINT8, g, mask.data(), impl_->deflateLevel, t);
    writeDataset(group.get(), "valid", H5T_STD_U8LE, H5T_NATIVE_UINT8, g, valid.data(), impl_->deflateLevel, t);
    writeStringAttribute(group.get(), kSplitAttr, info.split, t);
    writeStringAttribute(group.get(), kGeometryAttr, geometryToJson(g).dump(), t);
    if (info.attributes.is_object())
      for (auto it = info.attributes.begin(); it != info.attributes.end(); ++it) {
        if (it.key() == kSplitAttr || it.key() == kGeometryAttr)
          throw DataError(f, "case " + info.id + ": attribute name '" + it.key() + "' is reserved");
        writeStringAttribute(group.get(), it.key(), it.value().dump(), t);
      }
  } catch (...) {
    group.reset();
    H5Ldelete(impl_->cases.get(), info.id.c_str(), H5P_DEFAULT);
    throw;
  }
  impl_->ids.push_back(info.id);
  H5Fflush(impl_->file.get(), H5F_SCOPE_GLOBAL);
}

std::vector<std::string> TrainingStoreWriter::copyCasesFrom(const std::filesystem::path& existing,
                                                            const std::vector<std::string>& only) {
  // Opening through the reader checks the format version before anything is copied.
  return copyCasesFrom(TrainingStore::open(existing), only);
}

std::vector<std::string> TrainingStoreWriter::copyCasesFrom(const TrainingStore& source,
                                                            const std::vector<std::string>& only) {
  Lock lock(hdf5Mutex());
  const std::string f = source.path().string();
  Handle srcFile = checked(H5Fopen(f.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, f, "open");
  Handle srcCases = checked(H5Gopen2(srcFile.get(), "cases", H5P_DEFAULT), H5Gclose, f, "open group /cases");
  std::vector<std::string> copied;
  for (const auto& id : source.caseIds()) {
    if (!only.empty() && std::find(only.begin(), only.end(), id) == only.end()) continue;
    if (std::find(impl_->ids.begin(), impl_->ids.end(), id) != impl_->ids.end()) continue;
    check(H5Ocopy(srcCases.get(), id.c_str(), impl_->cases.get(), id.c_str(), H5P_DEFAULT, H5P_DEFAULT), f,
          "copy case " + id);
    impl_->ids.push_back(id);
    copied.push_back(id);
  }
  H5Fflush(impl_->file.get(), H5F_SCOPE_GLOBAL);
  return copied;
}

void TrainingStoreWriter::commit() {
  Lock lock(hdf5Mutex());
  if (impl_->committed) return;
  const std::string t = impl_->tmpName();
  writeIntAttribute(impl_->file.get(), "case_count", static_cast<long long>(impl_->ids.size()), t);
  impl_->cases.reset();
  if (H5Fclose(impl_->file.get()) < 0) throw IoError(t, "HDF5: cannot close (disk full?)");
  impl_->file = Handle();
  std::error_code ec;
  std::filesystem::rename(impl_->tmp, impl_->path, ec);
  if (ec) throw IoError(impl_->path.string(), "cannot rename the finished store into place: " + ec.message());
  impl_->committed = true;
}

// ---------------------------------------------------------------------------------------------
// Reader

struct TrainingStore::Impl {
  std::filesystem::path path;
  Handle file;
  nlohmann::json root;
  std::vector<std::string> ids;
  std::map<std::string, StoredCaseInfo> infos;
  std::map<std::string, Handle> datasets;  ///< "<id>/<name>" → open dataset

  hid_t dataset(const std::string& id, const std::string& name) {
    const std::string f = path.string();
    if (!infos.count(id)) throw DataError(f, "no case '" + id + "' in the store");
    checkDatasetName(name, f);
    const std::string key = id + "/" + name;
    auto it = datasets.find(key);
    if (it != datasets.end()) return it->second.get();
    const std::string h5path = "/cases/" + key;
    Handle ds = checked(H5Dopen2(file.get(), h5path.c_str(), H5P_DEFAULT), H5Dclose, f, "open dataset " + h5path);
    const hid_t h = ds.get();
    datasets.emplace(key, std::move(ds));
    return h;
  }

  /// Reads the box [o, o+e) (x, y, z) of dataset `name` as float.
  void read(const std::string& id, const std::string& name, const std::array<std::size_t, 3>& o,
            const std::array<std::size_t, 3>& e, float* out) {
    const std::string f = path.string();
    const hid_t ds = dataset(id, name);
    const auto& size = infos.at(id).geometry.size;
    for (int a = 0; a < 3; ++a)
      if (e[a] == 0 || o[a] + e[a] > size[a] || o[a] + e[a] < o[a])
        throw DataError(f, "case " + id + ": region [" + std::to_string(o[0]) + "," + std::to_string(o[1]) + "," +
                               std::to_string(o[2]) + "]+[" + std::to_string(e[0]) + "," + std::to_string(e[1]) + "," +
                               std::to_string(e[2]) + ") outside the volume (" + infos.at(id).geometry.describe() +
                               ")");
    const hsize_t start[3] = {o[2], o[1], o[0]};
    const hsize_t count[3] = {e[2], e[1], e[0]};
    Handle fileSpace = checked(H5Dget_space(ds), H5Sclose, f, "get a dataspace");
    check(H5Sselect_hyperslab(fileSpace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr), f, "select a region");
    Handle memSpace = checked(H5Screate_simple(3, count, nullptr), H5Sclose, f, "create a dataspace");
    check(H5Dread(ds, H5T_NATIVE_FLOAT, memSpace.get(), fileSpace.get(), H5P_DEFAULT, out), f,
          "read /cases/" + id + "/" + name + " (corrupt file?)");
  }
};

TrainingStore::TrainingStore() : impl_(std::make_unique<Impl>()) {}
TrainingStore::TrainingStore(TrainingStore&&) noexcept = default;
TrainingStore::~TrainingStore() {
  if (!impl_) return;
  Lock lock(hdf5Mutex());
  impl_->datasets.clear();
  impl_->file.reset();
}

namespace {

/// Refuses, before libhdf5 parses anything, files that are not HDF5 or whose superblock is version
/// 0/1: their metadata has no checksums and libhdf5 1.10.8 reads corrupt ones out of bounds
/// (heap-buffer-overflow, use-after-free in H5Aiterate2/H5A__close: fuzz_training_store). Stores
/// are written with superblock v3 (format version 2); the superblock sits at 0, 512, 1024, ...
void checkSuperblock(const std::filesystem::path& path) {
  const std::string f = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(f, "cannot open");
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  static const char kSignature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  for (std::uintmax_t at = 0; !ec && at + 9 <= size; at = at == 0 ? 512 : at * 2) {
    char b[9];
    in.seekg(std::streamoff(at));
    if (!in.read(b, 9)) break;
    if (std::memcmp(b, kSignature, 8) != 0) continue;
    const int version = static_cast<unsigned char>(b[8]);
    if (version < 2)
      throw NotATrainingStore(f, "not an mr2ct store (HDF5 superblock v" + std::to_string(version) +
                                     "; stores are written with checksummed metadata)");
    return;
  }
  throw IoError(f, "not an HDF5 file (or unreadable)");
}

}  // namespace

TrainingStore TrainingStore::open(const std::filesystem::path& path) {
  Lock lock(hdf5Mutex());
  quietHdf5();
  const std::string f = path.string();
  if (!std::filesystem::exists(path)) throw IoError(f, "no such file");
  checkSuperblock(path);
  TrainingStore s;
  s.impl_->path = path;
  s.impl_->file = checked(H5Fopen(f.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, f, "open");
  const hid_t root = s.impl_->file.get();
  if (H5Aexists(root, "format_version") <= 0)
    throw NotATrainingStore(f, "not an mr2ct training store (no format_version attribute)");
  const long long version = readIntAttribute(root, "format_version", f);
  if (version != kTrainingStoreFormatVersion)
    throw DataError(f, "training store format version " + std::to_string(version) + " is not supported (this build reads " +
                           std::to_string(kTrainingStoreFormatVersion) + "); re-run mr2ct preprocess");
  for (const auto& name : attributeNames(root)) {
    if (name == "format_version" || name == "case_count") {
      s.impl_->root[name] = readIntAttribute(root, name, f);
      continue;
    }
    const std::string text = readStringAttribute(root, name, f);
    if (name == "tool_version" || name == "format") {
      s.impl_->root[name] = text;
      continue;
    }
    try {
      s.impl_->root[name] = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception&) {
      s.impl_->root[name] = text;
    }
  }
  Handle cases = checked(H5Gopen2(root, "cases", H5P_DEFAULT), H5Gclose, f, "open group /cases");
  for (const auto& id : childNames(cases.get())) {
    const std::string where = "/cases/" + id;
    Handle g = checked(H5Gopen2(cases.get(), id.c_str(), H5P_DEFAULT), H5Gclose, f, "open group " + where);
    StoredCaseInfo info;
    info.id = id;
    info.split = readStringAttribute(g.get(), kSplitAttr, f);
    info.geometry = geometryFromJson(parseJsonAttribute(g.get(), kGeometryAttr, f, where), f + " " + where);
    info.attributes = nlohmann::json::object();
    for (const auto& name : attributeNames(g.get())) {
      if (name == kSplitAttr || name == kGeometryAttr) continue;
      info.attributes[name] = parseJsonAttribute(g.get(), name, f, where);
    }
    for (const auto& ds : datasetNames()) {
      if (H5Lexists(g.get(), ds.c_str(), H5P_DEFAULT) <= 0) throw DataError(f, where + ": dataset '" + ds + "' missing");
      Handle d = checked(H5Dopen2(g.get(), ds.c_str(), H5P_DEFAULT), H5Dclose, f, "open " + where + "/" + ds);
      Handle sp = checked(H5Dget_space(d.get()), H5Sclose, f, "get a dataspace");
      hsize_t dims[3] = {0, 0, 0};
      if (H5Sget_simple_extent_ndims(sp.get()) != 3 || H5Sget_simple_extent_dims(sp.get(), dims, nullptr) != 3 ||
          dims[0] != info.geometry.size[2] || dims[1] != info.geometry.size[1] || dims[2] != info.geometry.size[0])
        throw DataError(f, where + "/" + ds + ": shape does not match the case geometry");
    }
    s.impl_->ids.push_back(id);
    s.impl_->infos.emplace(id, std::move(info));
  }
  return s;
}

const std::filesystem::path& TrainingStore::path() const { return impl_->path; }

nlohmann::json TrainingStore::rootAttributes() const { return impl_->root; }

std::vector<std::string> TrainingStore::caseIds(const std::string& split) const {
  std::vector<std::string> out;
  for (const auto& id : impl_->ids)
    if (split.empty() || impl_->infos.at(id).split == split) out.push_back(id);
  return out;
}

const StoredCaseInfo& TrainingStore::info(const std::string& id) const {
  auto it = impl_->infos.find(id);
  if (it == impl_->infos.end()) throw DataError(impl_->path.string(), "no case '" + id + "' in the store");
  return it->second;
}

void TrainingStore::readSlices(const std::string& id, const std::string& dataset, std::size_t z0, std::size_t count,
                               float* out) const {
  Lock lock(hdf5Mutex());
  const auto& g = info(id).geometry;
  impl_->read(id, dataset, {0, 0, z0}, {g.size[0], g.size[1], count}, out);
}

void TrainingStore::readPatch(const std::string& id, const std::string& dataset,
                              const std::array<std::size_t, 3>& origin, const std::array<std::size_t, 3>& extent,
                              float* out) const {
  Lock lock(hdf5Mutex());
  impl_->read(id, dataset, origin, extent, out);
}

Volume TrainingStore::readVolume(const std::string& id, const std::string& dataset) const {
  const auto& g = info(id).geometry;
  Volume v(g);
  Lock lock(hdf5Mutex());
  impl_->read(id, dataset, {0, 0, 0}, g.size, v.data());
  return v;
}

Mask TrainingStore::readMask(const std::string& id, const std::string& dataset) const {
  const auto& g = info(id).geometry;
  if (dataset != "mask" && dataset != "valid")
    throw UsageError(impl_->path.string() + ": readMask reads 'mask' or 'valid', not '" + dataset + "'");
  Lock lock(hdf5Mutex());
  const hid_t ds = impl_->dataset(id, dataset);
  Mask m(g);
  check(H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, m.data()), impl_->path.string(),
        "read /cases/" + id + "/" + dataset);
  return m;
}

}  // namespace mr2ct
