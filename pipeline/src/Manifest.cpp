// Manifest reading: CSV and JSON become the same raw rows, then one validation path resolves
// paths and checks ids, splits and duplicates, collecting every problem.
#include "mr2ct/pipeline/Manifest.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/core/Text.h"
#include "mr2ct/core/Log.h"
#include "mr2ct/core/SplitCounts.h"
#include "mr2ct/core/SafePath.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace fs = std::filesystem;

namespace mr2ct {

namespace {

struct RawRow {
  std::string id, mr, ct, mask, split, mrSeries, ctSeries, where;
};

const std::vector<std::string>& knownColumns() {
  static const std::vector<std::string> c{"id", "mr", "ct", "mask", "split", "mr_series", "ct_series"};
  return c;
}

struct RawManifest {
  std::vector<RawRow> rows;
  std::string dataRootKey;
  nlohmann::json metadata = nlohmann::json::object();
};

/// Offset of the first byte that is not valid UTF-8, or npos.
std::size_t firstInvalidUtf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    if (c < 0x80) n = 0;
    else if ((c & 0xE0) == 0xC0 && c >= 0xC2) n = 1;
    else if ((c & 0xF0) == 0xE0) n = 2;
    else if ((c & 0xF8) == 0xF0 && c <= 0xF4) n = 3;
    else return i;
    if (n > 0 && i + n >= s.size()) return i;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return i;
    i += n + 1;
  }
  return std::string::npos;
}

/// RFC 4180 records with their first line numbers; `#` lines (outside quotes, at a record start)
/// are comments, blank lines are skipped.
struct CsvRecord {
  std::size_t line;
  std::vector<std::string> fields;
};

void parseCsv(const std::string& text, const std::string& file, std::vector<CsvRecord>& records,
              std::vector<std::string>& comments, std::vector<std::string>& problems) {
  std::size_t i = 0, line = 1;
  const std::size_t n = text.size();
  while (i < n) {
    // Start of a record.
    if (text[i] == '#') {
      const auto e = text.find('\n', i);
      comments.push_back(text.substr(i + 1, (e == std::string::npos ? n : e) - i - 1));
      i = e == std::string::npos ? n : e + 1;
      ++line;
      continue;
    }
    CsvRecord rec{line, {}};
    std::string field;
    bool quoted = false, wasQuoted = false, endOfRecord = false;
    while (i < n && !endOfRecord) {
      const char c = text[i];
      if (quoted) {
        if (c == '"') {
          if (i + 1 < n && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          quoted = false;
          ++i;
          continue;
        }
        if (c == '\n') ++line;
        field += c;
        ++i;
        continue;
      }
      if (c == '"') {
        if (!trim(field).empty())
          problems.push_back(file + ": line " + std::to_string(line) + ": quote in the middle of an unquoted field");
        field.clear();
        quoted = wasQuoted = true;
        ++i;
      } else if (c == ',') {
        rec.fields.push_back(wasQuoted ? field : trim(field));
        field.clear();
        wasQuoted = false;
        ++i;
      } else if (c == '\r' || c == '\n') {
        if (c == '\r' && i + 1 < n && text[i + 1] == '\n') ++i;
        ++i;
        ++line;
        endOfRecord = true;
      } else {
        field += c;
        ++i;
      }
    }
    if (quoted) problems.push_back(file + ": line " + std::to_string(rec.line) + ": unterminated quoted field");
    rec.fields.push_back(wasQuoted ? field : trim(field));
    const bool blank = rec.fields.size() == 1 && rec.fields[0].empty();
    if (!blank) records.push_back(std::move(rec));
  }
}

RawManifest readCsv(const std::string& text, const std::string& file, std::vector<std::string>& problems,
                    std::vector<std::string>& warnings) {
  RawManifest raw;
  std::vector<CsvRecord> records;
  std::vector<std::string> comments;
  parseCsv(text, file, records, comments, problems);
  for (const auto& c : comments) {
    const auto colon = c.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = lower(trim(c.substr(0, colon)));
    const std::string value = trim(c.substr(colon + 1));
    if (key.empty() || key.find(' ') != std::string::npos) continue;
    if (key == "data-root" || key == "data_root") raw.dataRootKey = value;
    else raw.metadata[key] = value;
  }
  if (records.empty()) {
    problems.push_back(file + ": no header line (expected id,mr,ct,mask,split)");
    return raw;
  }
  std::map<std::string, std::size_t> column;
  const auto& header = records.front().fields;
  for (std::size_t c = 0; c < header.size(); ++c) {
    const std::string name = lower(trim(header[c]));
    if (column.count(name)) problems.push_back(file + ": header: column '" + name + "' appears twice");
    column[name] = c;
    if (std::find(knownColumns().begin(), knownColumns().end(), name) == knownColumns().end())
      warnings.push_back(file + ": header: unknown column '" + header[c] + "' ignored");
  }
  for (const char* required : {"id", "mr"})
    if (!column.count(required))
      problems.push_back(file + ": header: required column '" + std::string(required) +
                         "' missing (header is: " + [&] {
                           std::string h;
                           for (const auto& f : header) h += (h.empty() ? "" : ",") + f;
                           return h;
                         }() + ")");
  if (!column.count("id") || !column.count("mr")) return raw;
  for (std::size_t r = 1; r < records.size(); ++r) {
    const auto& rec = records[r];
    RawRow row;
    row.where = "line " + std::to_string(rec.line);
    if (rec.fields.size() != header.size()) {
      problems.push_back(file + ": " + row.where + ": " + std::to_string(rec.fields.size()) + " fields, header has " +
                         std::to_string(header.size()));
      continue;
    }
    auto get = [&](const char* name) { return column.count(name) ? rec.fields[column.at(name)] : std::string(); };
    row.id = get("id");
    row.mr = get("mr");
    row.ct = get("ct");
    row.mask = get("mask");
    row.split = get("split");
    row.mrSeries = get("mr_series");
    row.ctSeries = get("ct_series");
    raw.rows.push_back(std::move(row));
  }
  return raw;
}

RawManifest readJson(const std::string& text, const std::string& file, std::vector<std::string>& problems) {
  RawManifest raw;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    problems.push_back(file + ": not valid JSON: " + e.what());
    return raw;
  }
  if (!j.is_object()) {
    problems.push_back(file + ": the top level must be an object {\"training\": [...], ...}");
    return raw;
  }
  static const std::vector<std::pair<std::string, std::string>> splits{
      {"training", "train"}, {"validation", "val"}, {"test", "test"}};
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    if (key == "data_root") {
      if (!it->is_string()) problems.push_back(file + ": \"data_root\" must be a string");
      else raw.dataRootKey = it->get<std::string>();
    } else if (key != "training" && key != "validation" && key != "test") {
      if (it->is_array())
        problems.push_back(file + ": unknown split list \"" + key + "\" (training|validation|test)");
      else
        raw.metadata[key] = *it;
    }
  }
  // Fixed order (nlohmann::json iterates keys alphabetically): training, validation, test.
  for (const auto& sp : splits) {
    if (!j.contains(sp.first)) continue;
    const auto it = j.find(sp.first);
    const std::string& key = sp.first;
    if (!it->is_array()) {
      problems.push_back(file + ": \"" + key + "\" must be a list of cases");
      continue;
    }
    for (std::size_t k = 0; k < it->size(); ++k) {
      const auto& e = (*it)[k];
      RawRow row;
      row.where = key + "[" + std::to_string(k) + "]";
      row.split = sp.second;
      if (!e.is_object()) {
        problems.push_back(file + ": " + row.where + ": must be an object {\"id\", \"mr\", \"ct\", \"mask\"}");
        continue;
      }
      bool ok = true;
      for (auto f = e.begin(); f != e.end(); ++f) {
        std::string* target = f.key() == "id" ? &row.id : f.key() == "mr" ? &row.mr : f.key() == "ct" ? &row.ct
                              : f.key() == "mask" ? &row.mask : f.key() == "mr_series" ? &row.mrSeries
                              : f.key() == "ct_series" ? &row.ctSeries : nullptr;
        if (!target) continue;  // extra keys (e.g. "label") are allowed and ignored
        const bool series = target == &row.mrSeries || target == &row.ctSeries;
        if (series && f->is_number_unsigned()) {  // "mr_series": 3, a SeriesNumber
          *target = std::to_string(f->get<std::uint64_t>());
          continue;
        }
        if (!f->is_string()) {
          problems.push_back(file + ": " + row.where + ": \"" + f.key() + "\" must be a string");
          ok = false;
          continue;
        }
        *target = f->get<std::string>();
      }
      if (ok) raw.rows.push_back(std::move(row));
    }
  }
  return raw;
}

fs::path defaultDataRoot(const fs::path& given) {
  if (!given.empty()) return given;
  const char* env = std::getenv("MR2CT_DATA_DIR");
  return env && *env ? fs::path(env) : fs::path();
}

}  // namespace

std::vector<const ManifestCase*> Manifest::split(const std::string& name) const {
  std::vector<const ManifestCase*> out;
  for (const auto& c : cases)
    if (name.empty() || c.split == name) out.push_back(&c);
  return out;
}

const ManifestCase* Manifest::find(const std::string& id) const {
  for (const auto& c : cases)
    if (c.id == id) return &c;
  return nullptr;
}

namespace {

/// The file's rows (BOM dropped): none when it is not UTF-8 or not a manifest type, with the
/// problem in `result`.
std::optional<RawManifest> readRawManifest(const fs::path& file, ManifestParse& result) {
  const std::string f = file.string();
  std::string text = readTextFile(file);
  if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);  // UTF-8 BOM
  const auto bad = firstInvalidUtf8(text);
  if (bad != std::string::npos) {
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(bad), '\n');
    result.problems.push_back(f + ": line " + std::to_string(line) + ": byte " + std::to_string(bad) +
                              " is not valid UTF-8 (save the manifest as UTF-8)");
    return std::nullopt;
  }
  const std::string ext = fullExtension(file);
  if (ext == ".json") return readJson(text, f, result.problems);
  if (ext == ".csv" || ext == ".txt") return readCsv(text, f, result.problems, result.warnings);
  result.problems.push_back(f + ": unknown manifest type '" + ext + "' (.csv or .json)");
  return std::nullopt;
}

/// m.base from the manifest's data root key (under --data-root or $MR2CT_DATA_DIR); false when it
/// cannot be resolved (the problem is in `result`).
bool resolveDataRoot(const std::string& dataRootKey, const ManifestOptions& options, const std::string& f,
                     ManifestParse& result) {
  Manifest& m = result.manifest;
  if (dataRootKey.empty() && !options.dataRoot.empty())
    result.warnings.push_back(f + ": --data-root " + options.dataRoot.string() +
                              " is not used: the manifest names no data root (no `# data-root:` line or \"data_root\" key), "
                              "so its paths are relative to its own folder");
  if (dataRootKey.empty()) return true;
  const fs::path root = defaultDataRoot(options.dataRoot);
  if (root.empty()) {
    result.problems.push_back(f + ": the manifest's paths are relative to data root '" + dataRootKey +
                              "': give --data-root or set MR2CT_DATA_DIR");
    return false;
  }
  try {
    m.base = resolveInside(root, dataRootKey, false, f + ": data-root");
  } catch (const DataError& e) {
    result.problems.push_back(e.what());
    return false;
  }
  if (!fs::is_directory(m.base))
    result.problems.push_back(f + ": data root folder " + m.base.string() + " does not exist");
  return true;
}

/// One row checked and resolved; it becomes a case when it adds no problem. `seen`: id → where.
void addRow(const RawRow& row, const ManifestOptions& options, const std::string& f,
            std::map<std::string, std::string>& seen, ManifestParse& result) {
  Manifest& m = result.manifest;
  const std::string at = f + ": " + row.where + ": ";
  std::size_t before = result.problems.size();
  ManifestCase c;
  c.id = row.id;
  c.where = row.where;
  c.split = row.split.empty() ? "train" : lower(row.split);
  if (row.id.empty())
    result.problems.push_back(at + "empty id");
  else if (!isSafeId(row.id))
    result.problems.push_back(at + "id '" + row.id + "' is not a safe name (letters, digits, '.', '_', '-')");
  else if (seen.count(row.id))
    result.problems.push_back(at + "duplicate id '" + row.id + "' (first at " + seen[row.id] + ")");
  else
    seen[row.id] = row.where;
  if (c.split != "train" && c.split != "val" && c.split != "test")
    result.problems.push_back(at + "unknown split '" + row.split + "' (train|val|test)");
  if (row.mr.empty()) result.problems.push_back(at + "empty mr path");
  auto resolve = [&](const std::string& entry, const char* what) -> fs::path {
    if (entry.empty()) return {};
    try {
      return resolveInside(m.base, entry, options.allowOutside, f + ": " + row.where + ": " + what);
    } catch (const DataError& e) {
      result.problems.push_back(e.what());
      return {};
    }
  };
  c.mr = resolve(row.mr, "mr");
  c.ct = resolve(row.ct, "ct");
  c.mask = resolve(row.mask, "mask");
  c.mrSeries = row.mrSeries;
  c.ctSeries = row.ctSeries;
  if (!row.ctSeries.empty() && row.ct.empty()) result.problems.push_back(at + "ct_series is given without a ct");
  if (result.problems.size() == before) m.cases.push_back(std::move(c));
}

}  // namespace

ManifestParse parseManifest(const fs::path& file, const ManifestOptions& options) {
  ManifestParse result;
  const std::string f = file.string();
  const std::optional<RawManifest> raw = readRawManifest(file, result);
  if (!raw) return result;

  Manifest& m = result.manifest;
  m.file = file;
  m.metadata = raw->metadata;
  m.dataRootKey = raw->dataRootKey;
  m.base = file.has_parent_path() ? fs::absolute(file.parent_path()) : fs::current_path();
  if (!resolveDataRoot(raw->dataRootKey, options, f, result)) return result;
  if (raw->rows.empty() && result.problems.empty()) result.problems.push_back(f + ": no cases");

  std::map<std::string, std::string> seen;  // id → where
  for (const auto& row : raw->rows) addRow(row, options, f, seen, result);
  return result;
}

Manifest readManifest(const fs::path& file, const ManifestOptions& options) {
  ManifestParse p = parseManifest(file, options);
  for (const auto& w : p.warnings) spdlog::warn("{}", w);
  if (!p.problems.empty()) {
    std::string msg = std::to_string(p.problems.size()) + " problem(s) in the manifest (mr2ct manifest check lists all):";
    for (std::size_t i = 0; i < p.problems.size() && i < 5; ++i) msg += "\n  " + p.problems[i];
    throw DataError(file.string(), msg);
  }
  return std::move(p.manifest);
}

namespace {

/// Axis-aligned world bounding box extent (mm) of a grid.
Vec3 worldExtent(const Geometry& g) {
  Vec3 lo{1e300, 1e300, 1e300}, hi{-1e300, -1e300, -1e300};
  for (int corner = 0; corner < 8; ++corner) {
    Vec3 idx;
    for (int a = 0; a < 3; ++a) idx[a] = (corner >> a & 1) ? double(g.size[a]) - 0.5 : -0.5;
    const Vec3 p = g.indexToPhysical(idx);
    for (int a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], p[a]);
      hi[a] = std::max(hi[a], p[a]);
    }
  }
  return {hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]};
}

std::string mm(const Vec3& e) {
  std::ostringstream s;
  s.precision(4);
  s << e[0] << "x" << e[1] << "x" << e[2] << " mm";
  return s.str();
}

}  // namespace

ManifestCheckReport checkManifest(const fs::path& file, const ManifestOptions& options) {
  ManifestParse p = parseManifest(file, options);
  ManifestCheckReport report;
  report.problems = p.problems;
  report.warnings = p.warnings;
  report.cases = p.manifest.cases.size();
  const std::string f = file.string();
  for (const auto& c : p.manifest.cases) {
    const std::string at = f + ": " + c.where + " (" + c.id + "): ";
    auto info = [&](const fs::path& path, const char* what, VolumeInfo* out, const std::string& series = "") {
      if (path.empty()) return false;
      if (!fs::exists(path)) {
        report.problems.push_back(at + what + " file " + path.string() + " does not exist");
        return false;
      }
      if (!series.empty() && !fs::is_directory(path)) {
        report.problems.push_back(at + what + "_series '" + series + "' is given, but " + path.string() +
                                  " is a file, not a DICOM folder");
        return false;
      }
      try {
        ReadOptions ro;
        ro.dicomSeries = series;
        *out = readVolumeInfo(path, ro);
        return true;
      } catch (const Error& e) {
        report.problems.push_back(at + what + " unreadable: " + e.what());
        return false;
      }
    };
    VolumeInfo mr, ct, mask;
    const bool hasMr = info(c.mr, "mr", &mr, c.mrSeries);
    const bool hasCt = info(c.ct, "ct", &ct, c.ctSeries);
    const bool hasMask = info(c.mask, "mask", &mask);
    if (!c.hasCt() && c.split != "test")
      report.warnings.push_back(at + "no CT: the case can only be converted, not trained or evaluated");
    if (hasMr && hasMask && !mask.geometry.sameAs(mr.geometry, 1e-3))
      report.problems.push_back(at + "mask grid differs from the MR's: " + mask.geometry.differenceFrom(mr.geometry, 1e-3));
    if (hasMr && hasCt) {
      const Vec3 a = worldExtent(mr.geometry), b = worldExtent(ct.geometry);
      for (int k = 0; k < 3; ++k) {
        const double r = std::max(a[k], b[k]) / std::max(1e-9, std::min(a[k], b[k]));
        if (r > 2.0) {
          report.problems.push_back(at + "MR and CT cover very different physical extents (MR " + mm(a) + ", CT " +
                                    mm(b) + "): not the same body part?");
          break;
        }
      }
    }
  }
  return report;
}

// ---------------------------------------------------------------------------------------------
// Scanning

ScanLayout parseScanLayout(const std::string& name) {
  if (name == "synthrad") return ScanLayout::SynthRad;
  if (name == "nnunet") return ScanLayout::NnUnet;
  if (name == "flat") return ScanLayout::Flat;
  throw OptionError("{layout}: unknown layout '" + name + "' (synthrad|nnunet|flat)");
}

std::string toString(ScanLayout layout) {
  switch (layout) {
    case ScanLayout::SynthRad: return "synthrad";
    case ScanLayout::NnUnet: return "nnunet";
    case ScanLayout::Flat: return "flat";
  }
  return "?";
}

void ScanOptions::validate() const {
  auto bad = [](double f) { return !(f >= 0 && f <= 1); };
  if (bad(valFraction)) throw OptionError("{valFraction} must be in [0, 1]");
  if (bad(testFraction)) throw OptionError("{testFraction} must be in [0, 1]");
  if (valFraction + testFraction > 1) throw OptionError("{valFraction} + {testFraction} must not exceed 1");
}

nlohmann::json ScanOptions::toJson() const {
  return {{"layout", toString(layout)}, {"seed", seed}, {"val", valFraction}, {"test", testFraction}};
}

namespace {

const std::vector<std::string>& volumeExtensions() {
  static const std::vector<std::string> e{".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr"};
  return e;
}

/// The file name without its (multi-part) volume extension, or "" when it is not a volume file.
std::string volumeStem(const fs::path& p) {
  const auto& e = volumeExtensions();
  if (std::find(e.begin(), e.end(), fullExtension(p)) == e.end()) return "";
  return stemBeforeExtension(p);
}

std::vector<fs::path> sortedEntries(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

/// In a case folder: the first volume file named `role` or `role_*` (e.g. mr.nii.gz, mr_t1.nii.gz).
fs::path findRole(const fs::path& dir, const std::string& role) {
  for (const auto& p : sortedEntries(dir)) {
    const std::string s = volumeStem(p);
    if (s == role || s.rfind(role + "_", 0) == 0) return p;
  }
  return {};
}

}  // namespace

void writeManifestCsv(const fs::path& out, const std::vector<ManifestCase>& cases, const fs::path& base,
                      const std::vector<std::string>& comments) {
  const auto field = csvField;
  const fs::path b = fs::absolute(base).lexically_normal();
  auto rel = [&](const fs::path& p) {
    return p.empty() ? std::string() : fs::absolute(p).lexically_normal().lexically_relative(b).generic_string();
  };
  std::ostringstream s;
  for (const auto& c : comments) s << "# " << c << "\n";
  const bool series = std::any_of(cases.begin(), cases.end(),
                                  [](const ManifestCase& c) { return !c.mrSeries.empty() || !c.ctSeries.empty(); });
  s << "id,mr,ct,mask,split" << (series ? ",mr_series,ct_series" : "") << "\n";
  for (const auto& c : cases) {
    s << field(c.id) << "," << field(rel(c.mr)) << "," << field(rel(c.ct)) << "," << field(rel(c.mask)) << ","
      << c.split;
    if (series) s << "," << field(c.mrSeries) << "," << field(c.ctSeries);
    s << "\n";
  }
  writeTextAtomically(out, s.str());
}

namespace {

/// A scanned case; an entry without an MR is none.
void addScanned(std::vector<ManifestCase>& cases, const std::string& id, const fs::path& mr, const fs::path& ct,
                const fs::path& mask, const std::string& where) {
  if (mr.empty()) return;
  if (!isSafeId(id)) throw DataError(where, "case id '" + id + "' is not a safe name");
  ManifestCase c;
  c.id = id;
  c.mr = mr;
  c.ct = ct;
  c.mask = mask;
  c.where = where;
  cases.push_back(std::move(c));
}

/// synthrad: one folder per case holding mr*, ct*, mask* volumes.
void scanSynthRad(const fs::path& dir, std::vector<ManifestCase>& cases) {
  for (const auto& p : sortedEntries(dir))
    if (fs::is_directory(p))
      addScanned(cases, p.filename().string(), findRole(p, "mr"), findRole(p, "ct"), findRole(p, "mask"), p.string());
}

/// flat: <id>_mr, <id>_ct, <id>_mask volumes side by side.
void scanFlat(const fs::path& dir, std::vector<ManifestCase>& cases) {
  std::map<std::string, std::array<fs::path, 3>> found;
  for (const auto& p : sortedEntries(dir)) {
    const std::string s = volumeStem(p);
    for (int role = 0; role < 3; ++role) {
      static const char* suffix[] = {"_mr", "_ct", "_mask"};
      const std::string suf = suffix[role];
      if (s.size() > suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0)
        found[s.substr(0, s.size() - suf.size())][static_cast<std::size_t>(role)] = p;
    }
  }
  for (const auto& [id, files] : found) addScanned(cases, id, files[0], files[1], files[2], (dir / id).string());
}

/// nnunet: imagesTr/<id>_0000 with labelsTr/<id> (the CT) and masksTr/<id>; imagesTs MR only.
void scanNnUnet(const fs::path& dir, std::vector<ManifestCase>& cases) {
  for (const char* images : {"imagesTr", "imagesTs"}) {
    const bool training = std::string(images) == "imagesTr";
    for (const auto& p : sortedEntries(dir / images)) {
      const std::string s = volumeStem(p);
      if (s.size() <= 5 || s.compare(s.size() - 5, 5, "_0000") != 0) continue;
      const std::string id = s.substr(0, s.size() - 5);
      const std::string ext = fullExtension(p);
      fs::path ct, mask;
      if (training) {
        if (fs::exists(dir / "labelsTr" / (id + ext))) ct = dir / "labelsTr" / (id + ext);
        if (fs::exists(dir / "masksTr" / (id + ext))) mask = dir / "masksTr" / (id + ext);
      }
      addScanned(cases, id, p, ct, mask, p.string());
    }
  }
}

/// The layout's cases, sorted by id (at least one; ids unique).
std::vector<ManifestCase> scanCases(const fs::path& dir, ScanLayout layout) {
  std::vector<ManifestCase> cases;
  switch (layout) {
    case ScanLayout::SynthRad:
      scanSynthRad(dir, cases);
      break;
    case ScanLayout::Flat:
      scanFlat(dir, cases);
      break;
    case ScanLayout::NnUnet:
      scanNnUnet(dir, cases);
      break;
  }
  if (cases.empty()) throw DataError(dir.string(), "no cases found for layout '" + toString(layout) + "'");
  std::sort(cases.begin(), cases.end(), [](const ManifestCase& a, const ManifestCase& b) { return a.id < b.id; });
  for (std::size_t i = 1; i < cases.size(); ++i)
    if (cases[i].id == cases[i - 1].id) throw DataError(dir.string(), "duplicate case id '" + cases[i].id + "'");
  return cases;
}

/// Seeded split: Fisher-Yates with mt19937's raw output (identical on every standard library).
/// Cases without a CT are test cases.
void assignSplits(std::vector<ManifestCase>& cases, const ScanOptions& options) {
  std::vector<std::size_t> withCt, order;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (cases[i].hasCt()) withCt.push_back(i);
    else cases[i].split = "test";
  }
  std::mt19937 rng(options.seed);
  order = withCt;
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  const auto [nVal, nTest] = splitCounts(order.size(), options.valFraction, options.testFraction);
  for (std::size_t k = 0; k < order.size(); ++k)
    cases[order[k]].split = k < nVal ? "val" : k < nVal + nTest ? "test" : "train";
}

}  // namespace

Manifest scanToManifest(const fs::path& dir, const fs::path& out, const ScanOptions& options) {
  options.validate();
  if (!fs::is_directory(dir)) throw IoError(dir.string(), "not a folder");
  std::vector<ManifestCase> cases = scanCases(dir, options.layout);
  assignSplits(cases, options);

  // Paths relative to <data root>/<sub> when DIR lies inside the data root, else to the manifest's folder.
  std::vector<std::string> comments{"mr2ct manifest scan --layout " + toString(options.layout) + " --seed " +
                                    std::to_string(options.seed) + " --val " + std::to_string(options.valFraction) +
                                    " --test " + std::to_string(options.testFraction)};
  fs::path base = out.has_parent_path() ? fs::absolute(out.parent_path()) : fs::current_path();
  const fs::path root = defaultDataRoot(options.dataRoot);
  Manifest m;
  if (!root.empty()) {
    const fs::path rel = fs::absolute(dir).lexically_normal().lexically_relative(fs::absolute(root).lexically_normal());
    if (!rel.empty() && *rel.begin() != "..") {
      comments.push_back("data-root: " + rel.generic_string());
      base = fs::absolute(dir).lexically_normal();
      m.dataRootKey = rel.generic_string();
    }
  }
  writeManifestCsv(out, cases, base, comments);
  m.file = out;
  m.base = base;
  m.metadata = options.toJson();
  m.cases = std::move(cases);
  return m;
}

}  // namespace mr2ct
