#include "NiftiHeader.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"

namespace fs = std::filesystem;

namespace mr2ct::detail {

namespace {

// Typed field access into a header buffer, in the file's byte order.
struct Fields {
  const std::vector<unsigned char>& b;
  bool swap;
  template <class T>
  T at(std::size_t offset) const {
    unsigned char raw[sizeof(T)];
    std::memcpy(raw, &b[offset], sizeof(T));
    if (swap) std::reverse(raw, raw + sizeof(T));
    T v;
    std::memcpy(&v, raw, sizeof(T));
    return v;
  }
};

std::uint32_t sizeofHdr(const std::vector<unsigned char>& b, bool& swap) {
  std::uint32_t v;
  std::memcpy(&v, b.data(), 4);
  swap = false;
  if (v == kNifti1HeaderBytes || v == kNifti2HeaderBytes) return v;
  unsigned char r[4] = {b[3], b[2], b[1], b[0]};
  std::memcpy(&v, r, 4);
  swap = true;
  return v;
}

void fillVersion1(const Fields& f, NiftiHeader& h) {
  std::memcpy(h.magic.data(), &f.b[344], 4);
  for (int i = 0; i < 8; ++i) h.dim[std::size_t(i)] = f.at<std::int16_t>(40 + 2 * std::size_t(i));
  h.datatype = f.at<std::int16_t>(70);
  h.bitpix = f.at<std::int16_t>(72);
  for (int i = 0; i < 8; ++i) h.pixdim[std::size_t(i)] = f.at<float>(76 + 4 * std::size_t(i));
  const float off = h.voxOffset1 = f.at<float>(108);
  h.voxOffset = off > 0 && std::isfinite(off) ? std::uint64_t(std::min(off, 1.0e18f)) : 0;
  h.sclSlope = f.at<float>(112);
  h.sclInter = f.at<float>(116);
  h.xyztUnits = f.b[123];
  auto& s = h.spatial;
  s.qformCode = f.at<std::int16_t>(252);
  s.sformCode = f.at<std::int16_t>(254);
  for (std::size_t i = 0; i < 3; ++i) s.quatern[i] = f.at<float>(256 + 4 * i);
  for (std::size_t i = 0; i < 3; ++i) s.qoffset[i] = f.at<float>(268 + 4 * i);
  for (std::size_t i = 0; i < 12; ++i) s.srow[i] = f.at<float>(280 + 4 * i);
}

void fillVersion2(const Fields& f, NiftiHeader& h) {
  std::memcpy(h.magic.data(), &f.b[4], 4);
  h.datatype = f.at<std::int16_t>(12);
  h.bitpix = f.at<std::int16_t>(14);
  for (std::size_t i = 0; i < 8; ++i) h.dim[i] = f.at<std::int64_t>(16 + 8 * i);
  for (std::size_t i = 0; i < 8; ++i) h.pixdim[i] = f.at<double>(104 + 8 * i);
  const std::int64_t off = h.voxOffset2 = f.at<std::int64_t>(168);
  h.voxOffset = off > 0 ? std::uint64_t(off) : 0;
  h.sclSlope = f.at<double>(176);
  h.sclInter = f.at<double>(184);
  h.xyztUnits = f.at<std::int32_t>(500);
  auto& s = h.spatial;
  s.qformCode = f.at<std::int32_t>(344);
  s.sformCode = f.at<std::int32_t>(348);
  for (std::size_t i = 0; i < 3; ++i) s.quatern[i] = f.at<double>(352 + 8 * i);
  for (std::size_t i = 0; i < 3; ++i) s.qoffset[i] = f.at<double>(376 + 8 * i);
  for (std::size_t i = 0; i < 12; ++i) s.srow[i] = f.at<double>(400 + 8 * i);
}

constexpr NiftiType kTypes[] = {{2, "uint8", 1},    {4, "int16", 2},    {8, "int32", 4},    {16, "float32", 4},
                                {64, "float64", 8}, {256, "int8", 1},   {512, "uint16", 2}, {768, "uint32", 4},
                                {1024, "int64", 8}, {1280, "uint64", 8}};

}  // namespace

std::vector<unsigned char> niftiHeadBytes(const fs::path& path, unsigned n) {
  std::vector<unsigned char> b(n);
  gzFile gz = gzopen(path.string().c_str(), "rb");
  if (!gz) return {};
  const int got = gzread(gz, b.data(), n);
  gzclose(gz);
  b.resize(got > 0 ? std::size_t(got) : 0);
  return b;
}

NiftiHeader parseNiftiHeader(const std::vector<unsigned char>& bytes) {
  NiftiHeader h;
  h.version = 0;
  h.storedBytes = bytes.size();
  if (bytes.size() < 4) return h;
  h.sizeofHdr = sizeofHdr(bytes, h.swapped);
  h.bigEndian = h.swapped != hostBigEndian();
  h.version = h.sizeofHdr == kNifti1HeaderBytes ? 1 : h.sizeofHdr == kNifti2HeaderBytes ? 2 : 0;
  if (!h.complete()) return h;
  const Fields f{bytes, h.swapped};
  if (h.version == 1)
    fillVersion1(f, h);
  else
    fillVersion2(f, h);
  h.pair = h.magicIs(h.version == 1 ? "ni1" : "ni2", 3);
  return h;
}

bool isAnalyzeHeader(const fs::path& path, const NiftiHeader& h) {
  const std::string ext = fullExtension(path);
  return (ext == ".hdr" || ext == ".img") && h.version == 1 && h.complete() &&
         !h.magicIs("ni1", 3) && !h.magicIs("n+1", 3);
}

fs::path niftiPairDataFile(const fs::path& hdr) {
  const std::string ext = fullExtension(hdr);
  std::string s = hdr.string();
  s.replace(s.size() - ext.size(), ext.size(), ".img");
  if (!fs::exists(s) && ext == ".hdr") {
    const std::string gz = s + ".gz";
    if (fs::exists(gz)) return gz;
  }
  if (!fs::exists(s)) throw IoError(s, "file not found (the image data of " + hdr.string() + ")");
  return s;
}

bool hostBigEndian() {
  const std::uint16_t one = 1;
  unsigned char c;
  std::memcpy(&c, &one, 1);
  return c == 0;
}

const NiftiType* niftiType(int code) {
  for (const auto& t : kTypes)
    if (t.code == code) return &t;
  return nullptr;
}

std::string niftiTypeName(int datatype) {
  const auto* t = niftiType(datatype);
  return t ? t->name : "";
}

}  // namespace mr2ct::detail
