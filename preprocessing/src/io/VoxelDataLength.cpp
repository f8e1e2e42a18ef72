#include "VoxelDataLength.h"

#include <zlib.h>

#include <fstream>
#include <string>
#include <vector>

#include "mr2ct/core/Error.h"

namespace fs = std::filesystem;

namespace mr2ct::detail {

namespace {

std::uint32_t le32(const unsigned char* b) {
  return std::uint32_t(b[0]) | std::uint32_t(b[1]) << 8 | std::uint32_t(b[2]) << 16 | std::uint32_t(b[3]) << 24;
}

bool isGzip(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char m[2] = {0, 0};
  in.read(reinterpret_cast<char*>(m), 2);
  return in.gcount() == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

}  // namespace

std::uint64_t fileSize(const fs::path& path) {
  std::error_code ec;
  const auto s = fs::file_size(path, ec);
  if (ec) throw IoError(path.string(), "cannot read the file size: " + ec.message());
  return s;
}

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

void refuseTruncatedVoxelData(const fs::path& path, std::uint64_t expected, std::uint64_t found) {
  throw IoError(path.string(), "truncated: expected " + std::to_string(expected) + " bytes of voxel data, found " +
                                   std::to_string(found));
}

}  // namespace mr2ct::detail
