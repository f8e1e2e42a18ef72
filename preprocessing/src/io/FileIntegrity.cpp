#include "FileIntegrity.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <fstream>
#include <vector>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/Text.h"

namespace fs = std::filesystem;

namespace mr2ct::detail {

namespace {

// Reads up to n bytes from the start of a plain or gzip file (gzread passes plain files through).
std::vector<unsigned char> readHead(const fs::path& path, std::size_t n) {
  std::vector<unsigned char> buf(n);
  gzFile f = gzopen(path.string().c_str(), "rb");
  if (!f) return {};
  const int got = gzread(f, buf.data(), unsigned(n));
  gzclose(f);
  buf.resize(got > 0 ? std::size_t(got) : 0);
  return buf;
}

std::uint32_t le32(const unsigned char* b) {
  return std::uint32_t(b[0]) | std::uint32_t(b[1]) << 8 | std::uint32_t(b[2]) << 16 | std::uint32_t(b[3]) << 24;
}
std::uint32_t be32(const unsigned char* b) {
  return std::uint32_t(b[3]) | std::uint32_t(b[2]) << 8 | std::uint32_t(b[1]) << 16 | std::uint32_t(b[0]) << 24;
}
std::uint64_t read64(const unsigned char* b, bool big) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t(b[big ? 7 - i : i]) << (8 * i);
  return v;
}

bool isGzip(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char m[2] = {0, 0};
  in.read(reinterpret_cast<char*>(m), 2);
  return in.gcount() == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

std::uint64_t fileSize(const fs::path& path) {
  std::error_code ec;
  const auto s = fs::file_size(path, ec);
  if (ec) throw IoError(path.string(), "cannot read the file size: " + ec.message());
  return s;
}

// Bytes the file holds once decompressed. For gzip, the trailer's ISIZE (size mod 2^32 of the last
// member) confirms `expected` without decompressing; otherwise (multi-member or truncated streams)
// every byte is counted.
std::uint64_t decompressedSize(const fs::path& path, std::uint64_t expected) {
  if (!isGzip(path)) return fileSize(path);
  const auto size = fileSize(path);
  if (size >= 18) {
    std::ifstream in(path, std::ios::binary);
    in.seekg(std::streamoff(size - 4));
    unsigned char t[4];
    in.read(reinterpret_cast<char*>(t), 4);
    if (in.gcount() == 4 && le32(t) == std::uint32_t(expected & 0xffffffffu)) return expected;
  }
  gzFile f = gzopen(path.string().c_str(), "rb");
  if (!f) throw IoError(path.string(), "cannot open the gzip stream");
  gzbuffer(f, 1 << 17);
  std::vector<char> buf(1 << 20);
  std::uint64_t total = 0;
  for (;;) {
    const int got = gzread(f, buf.data(), unsigned(buf.size()));
    if (got <= 0) break;
    total += std::uint64_t(got);
  }
  gzclose(f);
  return total;
}

// Bytes a zlib stream starting at `offset` of `path` inflates to (MetaImage's CompressedData).
std::uint64_t inflatedSize(const fs::path& path, std::uint64_t offset) {
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

[[noreturn]] void truncated(const fs::path& path, std::uint64_t expected, std::uint64_t found) {
  throw IoError(path.string(), "truncated: expected " + std::to_string(expected) + " bytes of voxel data, found " +
                                   std::to_string(found));
}

void checkNifti(const fs::path& path, std::uint64_t payload) {
  const auto h = readHead(path, 540);
  if (h.size() < 348) throw IoError(path.string(), "truncated: the NIfTI header is incomplete");
  const std::string order = niftiByteOrder(path);
  const bool big = order == "big";
  const std::uint32_t sizeofHdr = big ? be32(h.data()) : le32(h.data());
  std::uint64_t voxOffset = 0;
  if (sizeofHdr == 540) {
    if (h.size() < 540) throw IoError(path.string(), "truncated: the NIfTI-2 header is incomplete");
    voxOffset = read64(h.data() + 168, big);
  } else {
    const std::uint32_t bits = big ? be32(h.data() + 108) : le32(h.data() + 108);
    float f;
    std::memcpy(&f, &bits, 4);
    // Clamped before the conversion: a float beyond uint64's range makes the cast undefined (fuzzer).
    voxOffset = f > 0 ? std::uint64_t(std::min(f, 1.0e18f)) : 0;
  }
  // A .hdr/.img pair keeps the voxels in the .img (vox_offset is then usually 0).
  fs::path data = path;
  const std::string ext = fullExtension(path);
  if (ext == ".hdr" || ext == ".hdr.gz") {
    std::string s = path.string();
    s.replace(s.size() - ext.size(), 4, ".img");
    data = s;
    if (!fs::exists(data) && fs::exists(s + ".gz")) data = s + ".gz";  // .hdr with .img.gz
    if (!fs::exists(data)) throw IoError(data.string(), "file not found (the image data of " + path.string() + ")");
  }
  const std::uint64_t total = decompressedSize(data, voxOffset + payload);
  const std::uint64_t found = total > voxOffset ? total - voxOffset : 0;
  if (found < payload) truncated(path, payload, found);
}

void checkMetaImage(const fs::path& path, std::uint64_t payload) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path.string(), "cannot open");
  std::string line, dataFile;
  bool compressed = false;
  long long headerSize = 0;
  std::uint64_t compressedSize = 0;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = lower(trim(line.substr(0, eq)));
    const std::string value = trim(line.substr(eq + 1));
    if (key == "compresseddata") compressed = lower(value) == "true";
    else if (key == "compresseddatasize") compressedSize = std::strtoull(value.c_str(), nullptr, 10);
    else if (key == "headersize") headerSize = std::strtoll(value.c_str(), nullptr, 10);
    else if (key == "elementdatafile") {
      dataFile = value;
      break;  // MetaIO: the data file is always the last key; LOCAL data starts on the next byte
    }
  }
  if (dataFile.empty()) return;  // ITK reports a header without data file itself
  std::uint64_t start = 0;
  fs::path data = path;
  if (lower(dataFile) == "local") {
    if (!in) truncated(path, payload, 0);  // no byte after the header line
    start = std::uint64_t(in.tellg());
  } else {
    // Lists and file-name patterns (slice per file) are left to MetaIO.
    if (lower(dataFile).rfind("list", 0) == 0 || dataFile.find('%') != std::string::npos ||
        dataFile.find(' ') != std::string::npos)
      return;
    data = fs::path(dataFile).is_absolute() ? fs::path(dataFile) : path.parent_path() / dataFile;
    if (!fs::exists(data)) throw IoError(data.string(), "file not found (the voxel data of " + path.string() + ")");
    if (headerSize > 0) start = std::uint64_t(headerSize);
  }
  const std::uint64_t size = fileSize(data);
  const std::uint64_t available = size > start ? size - start : 0;
  if (compressed) {
    if (compressedSize > 0) {
      if (available < compressedSize) truncated(path, compressedSize, available);
      return;
    }
    const std::uint64_t found = inflatedSize(data, start);
    if (found < payload) truncated(path, payload, found);
    return;
  }
  // HeaderSize -1: the voxels are the last `payload` bytes of the data file.
  if (available < payload) truncated(path, payload, available);
}

}  // namespace

std::string niftiByteOrder(const fs::path& path) {
  const auto h = readHead(path, 4);
  if (h.size() < 4) return "";
  const auto le = le32(h.data()), be = be32(h.data());
  if (le == 348 || le == 540) return "little";
  if (be == 348 || be == 540) return "big";
  return "";
}

void checkVoxelDataComplete(const fs::path& path, const std::string& format, std::uint64_t payloadBytes) {
  if (format == "NIfTI") checkNifti(path, payloadBytes);
  else if (format == "MetaImage") checkMetaImage(path, payloadBytes);
}

}  // namespace mr2ct::detail
