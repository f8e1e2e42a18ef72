#include "NiftiHeaderCheck.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"

namespace mr2ct::detail {

namespace {

/// The first `n` bytes, through zlib so that .nii.gz and .nii read the same way.
std::vector<unsigned char> head(const std::filesystem::path& path, unsigned n) {
  std::vector<unsigned char> b(n);
  gzFile gz = gzopen(path.string().c_str(), "rb");
  if (!gz) return {};
  const int got = gzread(gz, b.data(), n);
  gzclose(gz);
  b.resize(got > 0 ? std::size_t(got) : 0);
  return b;
}

struct Reader {
  const std::vector<unsigned char>& b;
  bool swap;
  template <class T>
  T at(std::size_t offset) const {
    unsigned char raw[sizeof(T)];
    std::memcpy(raw, &b[offset], sizeof(T));
    if (swap)
      for (std::size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(raw[i], raw[sizeof(T) - 1 - i]);
    T v;
    std::memcpy(&v, raw, sizeof(T));
    return v;
  }
};

std::uint32_t byteSwap(std::uint32_t v) {
  return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

void checkValue(const std::filesystem::path& path, const std::string& field, double v) {
  if (std::isfinite(v) && std::fabs(v) <= 1e9) return;
  std::ostringstream s;
  s << "NIfTI header: " << field << " is " << v << " (not finite or absurd); the orientation cannot be computed";
  throw DataError(path.string(), s.str());
}

bool singleFileNifti(const std::filesystem::path& path) {
  const std::string ext = fullExtension(path);
  return ext == ".nii" || ext == ".nii.gz";
}

}  // namespace

void checkNiftiHeaderValues(const std::filesystem::path& path) {
  const auto b = head(path, 540);
  if (b.size() < 348) return;  // too short to be a header: ITK and the truncation check report it
  std::uint32_t sizeofHdr;
  std::memcpy(&sizeofHdr, b.data(), 4);
  bool swap = false;
  if (sizeofHdr != 348 && sizeofHdr != 540) {
    sizeofHdr = byteSwap(sizeofHdr);
    swap = true;
  }
  const Reader r{b, swap};
  if (singleFileNifti(path)) {
    if (sizeofHdr != 348 && sizeofHdr != 540)
      throw DataError(path.string(), "not a NIfTI file: sizeof_hdr is " + std::to_string(r.at<std::int32_t>(0)) +
                                         " (348 or 540 expected; wrong magic number or corrupt header)");
    const bool magicOk = sizeofHdr == 348 ? std::memcmp(&b[344], "n+1\0", 4) == 0
                                          : b.size() >= 540 && std::memcmp(&b[4], "n+2\0", 4) == 0;
    if (!magicOk) throw DataError(path.string(), "not a NIfTI file: wrong magic number (\"n+1\" or \"n+2\" expected)");
    const bool v1 = sizeofHdr == 348;
    const long long rank = v1 ? r.at<std::int16_t>(40) : r.at<std::int64_t>(16);
    if (rank < 1 || rank > 7) throw DataError(path.string(), "NIfTI header: dim[0] is " + std::to_string(rank) + " (1..7 expected)");
    for (long long d = 1; d <= rank; ++d) {
      const long long n = v1 ? r.at<std::int16_t>(40 + 2 * d) : r.at<std::int64_t>(16 + 8 * d);
      if (n < 1)
        throw DataError(path.string(), "header claims a zero or negative size (" + std::to_string(n) + ") along axis " +
                                           std::to_string(d - 1));
    }
  }
  // Field offsets: NIfTI-1 (floats, int16 codes) and NIfTI-2 (doubles, int32 codes).
  if (sizeofHdr == 348) {
    for (int i = 0; i < 4; ++i) checkValue(path, "pixdim[" + std::to_string(i) + "]", r.at<float>(76 + 4 * i));
    if (r.at<std::int16_t>(252) > 0) {
      const char* names[] = {"quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z"};
      for (int i = 0; i < 6; ++i) checkValue(path, names[i], r.at<float>(256 + 4 * i));
    }
    if (r.at<std::int16_t>(254) > 0)
      for (int i = 0; i < 12; ++i) checkValue(path, "srow[" + std::to_string(i) + "]", r.at<float>(280 + 4 * i));
  } else if (sizeofHdr == 540 && b.size() >= 540) {
    for (int i = 0; i < 4; ++i) checkValue(path, "pixdim[" + std::to_string(i) + "]", r.at<double>(104 + 8 * i));
    if (r.at<std::int32_t>(344) > 0) {
      const char* names[] = {"quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z"};
      for (int i = 0; i < 6; ++i) checkValue(path, names[i], r.at<double>(352 + 8 * i));
    }
    if (r.at<std::int32_t>(348) > 0)
      for (int i = 0; i < 12; ++i) checkValue(path, "srow[" + std::to_string(i) + "]", r.at<double>(400 + 8 * i));
  }
}

void checkNiftiVoxelsFinite(const std::filesystem::path& path) {
  if (!singleFileNifti(path)) return;
  const auto b = head(path, 540);
  if (b.size() < 348) return;
  std::uint32_t sizeofHdr;
  std::memcpy(&sizeofHdr, b.data(), 4);
  const bool swap = sizeofHdr != 348 && sizeofHdr != 540;
  if (swap) sizeofHdr = byteSwap(sizeofHdr);
  if (sizeofHdr != 540 && sizeofHdr != 348) return;
  const Reader r{b, swap};
  const bool v1 = sizeofHdr == 348;
  if (!v1 && b.size() < 540) return;
  const int datatype = v1 ? r.at<std::int16_t>(70) : r.at<std::int16_t>(12);
  if (datatype != 16 && datatype != 64) return;  // FLOAT32, FLOAT64
  const double off = v1 ? double(r.at<float>(108)) : double(r.at<std::int64_t>(168));
  if (!(off >= 0 && off < 1e12)) return;  // the header checks report absurd offsets
  gzFile gz = gzopen(path.string().c_str(), "rb");
  if (!gz) return;
  std::vector<unsigned char> skip(4096);
  for (auto left = std::uint64_t(off); left > 0;) {
    const unsigned n = unsigned(std::min<std::uint64_t>(left, skip.size()));
    if (gzread(gz, skip.data(), n) != int(n)) break;
    left -= n;
  }
  const std::size_t size = datatype == 16 ? 4 : 8;
  std::vector<unsigned char> buf(size * 16384);
  std::uint64_t index = 0;
  int got;
  while ((got = gzread(gz, buf.data(), unsigned(buf.size()))) > 0) {
    for (std::size_t i = 0; i + size <= std::size_t(got); i += size, ++index) {
      const Reader v{buf, swap};
      const double x = size == 4 ? double(v.at<float>(i)) : v.at<double>(i);
      if (!std::isfinite(x)) {
        gzclose(gz);
        throw DataError(path.string(), "contains NaN or Inf voxels (first at voxel index " + std::to_string(index) + ")");
      }
    }
  }
  gzclose(gz);
}

}  // namespace mr2ct::detail
