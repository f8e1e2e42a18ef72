#include "MetaImageGuard.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "VoxelDataLength.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/Text.h"

namespace mr2ct::detail {

namespace {

constexpr std::size_t kMaxHeaderBytes = 64 * 1024, kMaxLineBytes = 4096, kMaxDims = 10;

std::vector<std::string> tokens(const std::string& s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    const auto b = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
  return out;
}

class HeaderCheck {
 public:
  explicit HeaderCheck(const std::filesystem::path& path) : path_(path.string()) {}

  [[noreturn]] void refuse(const std::string& problem) const { throw DataError(path_, "MetaImage header: " + problem); }

  long long integer(const std::string& key, const std::string& token, long long lo, long long hi) const {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(token.c_str(), &end, 10);
    if (token.empty() || *end != '\0') refuse(key + " '" + token.substr(0, 40) + "' is not an integer");
    if (errno == ERANGE || v < lo || v > hi) {
      if (key == "DimSize" && v <= 0) refuse("DimSize holds a zero or negative size (" + token + ")");
      if (key == "DimSize") refuse("DimSize " + token + " overflows (more than 2^31-1 voxels along an axis)");
      refuse(key + " " + token.substr(0, 40) + " is out of range " + std::to_string(lo) + ".." + std::to_string(hi));
    }
    return v;
  }

  void numbers(const std::string& key, const std::string& value, std::size_t maxCount, bool positive) const {
    const auto t = tokens(value);
    if (t.empty()) refuse(key + " has no value");
    if (t.size() > maxCount) refuse(key + " has " + std::to_string(t.size()) + " values (at most " + std::to_string(maxCount) + ")");
    for (const auto& s : t) {
      char* end = nullptr;
      const double v = std::strtod(s.c_str(), &end);
      if (*end != '\0' || s.size() > 64) refuse(key + " '" + s.substr(0, 40) + "' is not a number");
      if (!std::isfinite(v)) refuse(key + " " + s + " is not finite");
      if (positive && !(v > 0)) refuse(key + " " + s + " is not positive");
    }
  }

  void run() {
    std::ifstream in(path_, std::ios::binary);
    if (!in) return;  // missing/unreadable: the reader's own check says so
    std::map<std::string, std::string> fields;
    std::string line;
    std::size_t consumed = 0;
    bool dataFile = false;
    char c;
    while (!dataFile) {
      line.clear();
      bool eol = false;
      while (in.get(c)) {
        if (++consumed > kMaxHeaderBytes) refuse("no ElementDataFile line in the first 64 KiB");
        if (c == '\n') {
          eol = true;
          break;
        }
        if (line.size() >= kMaxLineBytes) refuse("a header line is longer than 4 KiB");
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 && c != '\t' && c != '\r') refuse("binary bytes in the text header");
        line += c;
      }
      if (!eol && line.empty()) break;  // end of file
      const auto eq = line.find('=');
      if (eq != std::string::npos) {
        const std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
        if (!fields.emplace(key, value).second) refuse(key + " appears twice");
        if (key == "ElementDataFile") dataFile = true;
      }
      if (!eol) break;
    }
    if (!dataFile) refuse("no ElementDataFile line (truncated header?)");
    const auto get = [&](const std::string& k) -> const std::string* {
      const auto it = fields.find(k);
      return it == fields.end() ? nullptr : &it->second;
    };
    const std::string* nd = get("NDims");
    if (!nd) refuse("no NDims");
    const auto ndims = std::size_t(integer("NDims", *nd, 1, kMaxDims));
    const std::string* ds = get("DimSize");
    if (!ds) refuse("no DimSize");
    const auto sizes = tokens(*ds);
    if (sizes.size() != ndims)
      refuse("DimSize has " + std::to_string(sizes.size()) + " values for NDims = " + std::to_string(ndims));
    long long channels = 1;
    if (const auto* ch = get("ElementNumberOfChannels")) channels = integer("ElementNumberOfChannels", *ch, 1, 1024);
    // MetaIO keeps the voxel count in a signed 64-bit integer and divides by it: keep the product
    // (times the channels and 8 bytes a value) far from overflow.
    long double product = double(channels) * 8.0;
    for (const auto& s : sizes) product *= (long double)integer("DimSize", s, 1, std::numeric_limits<std::int32_t>::max());
    if (product > (long double)(std::int64_t(1) << 62)) refuse("DimSize " + *ds + ": the size product overflows");
    // MetaIO reads the first NDims (NDims^2) values and ignores extra ones (ITK writes a 3-value
    // CenterOfRotation into 2D files): bound the count by MetaIO's 10 dimensions, not by NDims.
    for (const char* k : {"ElementSpacing", "ElementSize"})
      if (const auto* v = get(k)) numbers(k, *v, kMaxDims, true);
    for (const char* k : {"Offset", "Position", "Origin", "CenterOfRotation"})
      if (const auto* v = get(k)) numbers(k, *v, kMaxDims, false);
    for (const char* k : {"TransformMatrix", "Rotation", "Orientation"})
      if (const auto* v = get(k)) numbers(k, *v, kMaxDims * kMaxDims, false);
    for (const char* k : {"ElementMin", "ElementMax"})
      if (const auto* v = get(k)) numbers(k, *v, 1, false);
    if (const auto* v = get("HeaderSize")) integer("HeaderSize", *v, -1, std::numeric_limits<std::int64_t>::max());
    if (const auto* v = get("CompressedDataSize"))
      integer("CompressedDataSize", *v, 0, std::numeric_limits<std::int64_t>::max());
    const std::string file = *get("ElementDataFile");
    const auto first = tokens(file);
    if (first.empty()) refuse("ElementDataFile is empty");
    if (first.front() == "LIST" || file.find('%') != std::string::npos)
      refuse("ElementDataFile '" + file.substr(0, 60) + "': data split over several files is not supported");
  }

 private:
  std::string path_;
};

// Where the voxel data lies, as MetaIO will look for it.
struct VoxelDataPlace {
  std::filesystem::path data;  ///< empty: nothing to check here (no data file, or several)
  std::uint64_t start = 0;
  bool compressed = false;
  std::uint64_t compressedSize = 0;
  bool headerOnly = false;  ///< LOCAL data and not one byte after the header line
};

VoxelDataPlace voxelDataPlace(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path.string(), "cannot open");
  VoxelDataPlace place;
  std::string line, dataFile;
  long long headerSize = 0;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = lower(trim(line.substr(0, eq)));
    const std::string value = trim(line.substr(eq + 1));
    if (key == "compresseddata") place.compressed = lower(value) == "true";
    else if (key == "compresseddatasize") place.compressedSize = std::strtoull(value.c_str(), nullptr, 10);
    else if (key == "headersize") headerSize = std::strtoll(value.c_str(), nullptr, 10);
    else if (key == "elementdatafile") {
      dataFile = value;
      break;  // MetaIO: the data file is always the last key; LOCAL data starts on the next byte
    }
  }
  if (dataFile.empty()) return place;  // ITK reports a header without data file itself
  if (lower(dataFile) == "local") {
    place.data = path;
    place.headerOnly = !in;
    if (!place.headerOnly) place.start = std::uint64_t(in.tellg());
    return place;
  }
  // Lists and file-name patterns (slice per file) are left to MetaIO.
  if (lower(dataFile).rfind("list", 0) == 0 || dataFile.find('%') != std::string::npos ||
      dataFile.find(' ') != std::string::npos)
    return place;
  place.data = std::filesystem::path(dataFile).is_absolute() ? std::filesystem::path(dataFile)
                                                             : path.parent_path() / dataFile;
  if (!std::filesystem::exists(place.data))
    throw IoError(place.data.string(), "file not found (the voxel data of " + path.string() + ")");
  if (headerSize > 0) place.start = std::uint64_t(headerSize);
  return place;
}

// Bytes a zlib stream starting at `offset` of `path` inflates to (CompressedData = True).
std::uint64_t inflatedSize(const std::filesystem::path& path, std::uint64_t offset) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(std::streamoff(offset));
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) throw IoError(path.string(), "cannot start zlib");
  std::vector<unsigned char> src(1 << 16), dst(1 << 18);
  std::uint64_t total = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (zs.avail_in == 0) {
      in.read(reinterpret_cast<char*>(src.data()), std::streamsize(src.size()));
      zs.avail_in = unsigned(in.gcount());
      zs.next_in = src.data();
      if (zs.avail_in == 0) break;
    }
    zs.next_out = dst.data();
    zs.avail_out = unsigned(dst.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    total += dst.size() - zs.avail_out;
    if (rc != Z_OK && rc != Z_STREAM_END) break;
  }
  inflateEnd(&zs);
  return total;
}

}  // namespace

bool looksLikeMetaImage(const std::filesystem::path& path) {
  const std::string ext = lower(path.extension().string());
  return ext == ".mha" || ext == ".mhd";
}

void checkMetaImageHeader(const std::filesystem::path& path) { HeaderCheck(path).run(); }

void checkMetaImageVoxelDataComplete(const std::filesystem::path& path, std::uint64_t payload) {
  const VoxelDataPlace place = voxelDataPlace(path);
  if (place.data.empty()) return;
  if (place.headerOnly) refuseTruncatedVoxelData(path, payload, 0);
  const std::uint64_t size = fileSize(place.data);
  const std::uint64_t available = size > place.start ? size - place.start : 0;
  if (place.compressed) {
    if (place.compressedSize > 0) {
      if (available < place.compressedSize) refuseTruncatedVoxelData(path, place.compressedSize, available);
      return;
    }
    const std::uint64_t found = inflatedSize(place.data, place.start);
    if (found < payload) refuseTruncatedVoxelData(path, payload, found);
    return;
  }
  // HeaderSize -1: the voxels are the last `payload` bytes of the data file.
  if (available < payload) refuseTruncatedVoxelData(path, payload, available);
}

}  // namespace mr2ct::detail
