#include "NiftiFormat.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <type_traits>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"

namespace fs = std::filesystem;

namespace mr2ct::detail {

namespace {

constexpr std::size_t kHeader1 = 348, kHeader2 = 540;

// The first n bytes, through zlib so that .nii.gz and .nii read the same way.
std::vector<unsigned char> head(const fs::path& path, unsigned n) {
  std::vector<unsigned char> b(n);
  gzFile gz = gzopen(path.string().c_str(), "rb");
  if (!gz) return {};
  const int got = gzread(gz, b.data(), n);
  gzclose(gz);
  b.resize(got > 0 ? std::size_t(got) : 0);
  return b;
}

// Typed little/big-endian field access into a header buffer.
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
  if (v == kHeader1 || v == kHeader2) return v;
  unsigned char r[4] = {b[3], b[2], b[1], b[0]};
  std::memcpy(&v, r, 4);
  swap = true;
  return v;
}

bool hostBigEndian() {
  const std::uint16_t one = 1;
  unsigned char c;
  std::memcpy(&c, &one, 1);
  return c == 0;
}

struct TypeInfo {
  int code;
  const char* name;
  int bytes;
};
constexpr TypeInfo kTypes[] = {{2, "uint8", 1},   {4, "int16", 2},   {8, "int32", 4},   {16, "float32", 4},
                               {64, "float64", 8}, {256, "int8", 1},  {512, "uint16", 2}, {768, "uint32", 4},
                               {1024, "int64", 8}, {1280, "uint64", 8}};

const TypeInfo* typeInfo(int code) {
  for (const auto& t : kTypes)
    if (t.code == code) return &t;
  return nullptr;
}

std::string unsupportedTypeName(int code) {
  switch (code) {
    case 1: return "binary";
    case 32: return "complex64";
    case 128: return "RGB24";
    case 1536: return "float128";
    case 1792: return "complex128";
    case 2048: return "complex256";
    case 2304: return "RGBA32";
    default: return "datatype code " + std::to_string(code);
  }
}

void fillVersion1(const Fields& f, NiftiHeader& h) {
  for (int i = 0; i < 8; ++i) h.dim[std::size_t(i)] = f.at<std::int16_t>(40 + 2 * std::size_t(i));
  h.datatype = f.at<std::int16_t>(70);
  h.bitpix = f.at<std::int16_t>(72);
  for (int i = 0; i < 8; ++i) h.pixdim[std::size_t(i)] = f.at<float>(76 + 4 * std::size_t(i));
  const float off = f.at<float>(108);
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
  h.datatype = f.at<std::int16_t>(12);
  h.bitpix = f.at<std::int16_t>(14);
  for (std::size_t i = 0; i < 8; ++i) h.dim[i] = f.at<std::int64_t>(16 + 8 * i);
  for (std::size_t i = 0; i < 8; ++i) h.pixdim[i] = f.at<double>(104 + 8 * i);
  const std::int64_t off = f.at<std::int64_t>(168);
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

// The .img (or .img.gz) holding the voxels of a .hdr pair.
fs::path pairDataFile(const fs::path& hdr) {
  const std::string ext = fullExtension(hdr);
  std::string s = hdr.string();
  s.replace(s.size() - ext.size(), ext.size(), ext == ".hdr.gz" ? ".img.gz" : ".img");
  if (!fs::exists(s) && ext == ".hdr") {
    const std::string gz = s + ".gz";
    if (fs::exists(gz)) return gz;
  }
  if (!fs::exists(s)) throw IoError(s, "file not found (the image data of " + hdr.string() + ")");
  return s;
}

std::array<double, 9> quaternionRotation(double b, double c, double d) {
  const double a = std::sqrt(std::max(0.0, 1.0 - (b * b + c * c + d * d)));
  return {a * a + b * b - c * c - d * d, 2 * (b * c - a * d),         2 * (b * d + a * c),
          2 * (b * c + a * d),         a * a + c * c - b * b - d * d, 2 * (c * d - a * b),
          2 * (b * d - a * c),         2 * (c * d + a * b),         a * a + d * d - c * c - b * b};
}

// RAS affine (3×3 linear part M, row-major, and translation t) → mr2ct's LPS Geometry.
Geometry geometryFromRas(const std::array<double, 9>& m, const Vec3& t, const std::array<std::size_t, 3>& size) {
  Geometry g;
  g.size = size;
  for (int c = 0; c < 3; ++c) {
    const double x = -m[std::size_t(c)], y = -m[std::size_t(3 + c)], z = m[std::size_t(6 + c)];
    const double n = std::sqrt(x * x + y * y + z * z);
    g.spacing[std::size_t(c)] = n;
    const double inv = n > 0 ? 1.0 / n : 0.0;
    g.direction[std::size_t(c)] = x * inv;
    g.direction[std::size_t(3 + c)] = y * inv;
    g.direction[std::size_t(6 + c)] = z * inv;
  }
  g.origin = {-t[0], -t[1], t[2]};
  return g;
}

// Largest |cos| between two columns of M: 0 for an orthogonal (shear-free) matrix.
double shearOf(const std::array<double, 9>& m) {
  double worst = 0;
  for (int a = 0; a < 3; ++a)
    for (int b = a + 1; b < 3; ++b) {
      double dot = 0, na = 0, nb = 0;
      for (int r = 0; r < 3; ++r) {
        const double u = m[std::size_t(3 * r + a)], v = m[std::size_t(3 * r + b)];
        dot += u * v;
        na += u * u;
        nb += v * v;
      }
      if (na > 0 && nb > 0) worst = std::max(worst, std::fabs(dot) / std::sqrt(na * nb));
    }
  return worst;
}

std::array<double, 9> qformMatrix(const NiftiSpatialHeader& s) {
  const auto r = quaternionRotation(s.quatern[0], s.quatern[1], s.quatern[2]);
  const double qfac = s.qfac < 0 ? -1.0 : 1.0;
  const double scale[3] = {std::fabs(s.pixdim[0]), std::fabs(s.pixdim[1]), std::fabs(s.pixdim[2]) * qfac};
  std::array<double, 9> m{};
  for (std::size_t i = 0; i < 9; ++i) m[i] = r[i] * scale[i % 3];
  return m;
}

std::array<double, 9> sformMatrix(const NiftiSpatialHeader& s) {
  return {s.srow[0], s.srow[1], s.srow[2], s.srow[4], s.srow[5], s.srow[6], s.srow[8], s.srow[9], s.srow[10]};
}

// An sform more sheared than this cannot be held as spacing + direction cosines.
constexpr double kShearTolerance = 1e-4;

}  // namespace

bool looksLikeNifti(const fs::path& path) {
  const auto b = head(path, 4);
  if (b.size() < 4) return false;
  bool swap;
  const auto n = sizeofHdr(b, swap);
  return n == kHeader1 || n == kHeader2;
}

std::string neuroimagingFormatName(const fs::path& path) {
  const std::string ext = fullExtension(path);
  const auto b = head(path, 348);
  if (ext == ".mgz" || ext == ".mgh") return "MGH/MGZ (FreeSurfer)";
  if (ext == ".mnc" || ext == ".mnc.gz") return "MINC";
  if (b.size() >= 4 && std::memcmp(b.data(), "CDF", 3) == 0) return "MINC";
  if (b.size() >= 4 && b[0] == 0x89 && b[1] == 'H' && b[2] == 'D' && b[3] == 'F') return "HDF5 (MINC-2?)";
  if ((ext == ".hdr" || ext == ".img" || ext == ".hdr.gz") && b.size() >= 348) {
    bool swap;
    if (sizeofHdr(b, swap) == kHeader1 && std::memcmp(&b[344], "ni1", 3) != 0 && std::memcmp(&b[344], "n+1", 3) != 0)
      return "Analyze 7.5";
  }
  return "";
}

std::string niftiTypeName(int datatype) {
  const auto* t = typeInfo(datatype);
  return t ? t->name : "";
}

NiftiHeader readNiftiHeader(const fs::path& path) {
  const auto b = head(path, kHeader2);
  if (b.size() < kHeader1) throw IoError(path.string(), "truncated: the NIfTI header is incomplete");
  NiftiHeader h;
  bool swap;
  const auto size = sizeofHdr(b, swap);
  h.bigEndian = swap != hostBigEndian();
  const Fields f{b, swap};
  if (size == kHeader2) {
    if (b.size() < kHeader2) throw IoError(path.string(), "truncated: the NIfTI-2 header is incomplete");
    h.version = 2;
    h.pair = std::memcmp(&b[4], "ni2", 3) == 0;
    if (!h.pair && std::memcmp(&b[4], "n+2", 3) != 0)
      throw DataError(path.string(), "not a NIfTI-2 file: wrong magic number (\"n+2\" expected)");
    fillVersion2(f, h);
  } else if (size == kHeader1) {
    h.pair = std::memcmp(&b[344], "ni1", 3) == 0;
    if (!h.pair && std::memcmp(&b[344], "n+1", 3) != 0) {
      if (neuroimagingFormatName(path) == "Analyze 7.5")
        throw DataError(path.string(), "Analyze 7.5 file (no NIfTI magic): its orientation and origin are not defined, "
                                       "so mr2ct does not guess them; convert it to NIfTI with the tool that wrote it");
      throw DataError(path.string(), "not a NIfTI file: wrong magic number (\"n+1\" or \"ni1\" expected)");
    }
    fillVersion1(f, h);
  } else {
    throw DataError(path.string(), "not a NIfTI file: sizeof_hdr is " + std::to_string(size) + " (348 or 540 expected)");
  }
  const auto rank = h.dim[0];
  if (rank < 1 || rank > 7) throw DataError(path.string(), "NIfTI header: dim[0] is " + std::to_string(rank) + " (1..7 expected)");
  for (std::int64_t d = 1; d <= rank; ++d)
    if (h.dim[std::size_t(d)] < 1)
      throw DataError(path.string(), "header claims a zero or negative size (" + std::to_string(h.dim[std::size_t(d)]) +
                                         ") along axis " + std::to_string(d - 1));
  for (std::int64_t d = rank + 1; d < 8; ++d) h.dim[std::size_t(d)] = 1;
  const auto* type = typeInfo(h.datatype);
  if (h.datatype == 128 || h.datatype == 2304 || h.datatype == 32 || h.datatype == 1792 || h.datatype == 2048)
    throw DataError(path.string(), "NIfTI voxels of type " + unsupportedTypeName(h.datatype) +
                                       " have several components per voxel; a scalar image is needed");
  if (!type)
    throw DataError(path.string(), "NIfTI voxel type " + unsupportedTypeName(h.datatype) +
                                       " is not supported (scalar integer or float types only)");
  if (h.bitpix != 8 * type->bytes)
    throw DataError(path.string(), "NIfTI header: bitpix " + std::to_string(h.bitpix) + " does not match datatype " +
                                       type->name);
  auto& s = h.spatial;
  s.qfac = h.pixdim[0];
  s.pixdim = {h.pixdim[1], h.pixdim[2], h.pixdim[3]};
  for (std::size_t i = 0; i < 3; ++i)
    if (s.pixdim[i] == 0 && rank <= int(i)) s.pixdim[i] = 1;  // axes the file does not have
  if (std::isfinite(h.sclSlope) && h.sclSlope != 0 && !std::isfinite(h.sclInter))
    throw DataError(path.string(), "NIfTI header: scl_slope is valid but scl_inter is not finite");
  if (!h.pair && h.voxOffset < (h.version == 1 ? 352u : 544u))
    throw DataError(path.string(), "NIfTI header: vox_offset " + std::to_string(h.voxOffset) +
                                       " lies inside the header");
  return h;
}

Geometry niftiGeometry(const NiftiHeader& h, std::vector<std::string>* warnings, std::string* transform) {
  const std::array<std::size_t, 3> size{std::size_t(h.dim[1]), std::size_t(h.dim[2]), std::size_t(h.dim[3])};
  const auto& s = h.spatial;
  auto note = [&](const std::string& text) {
    if (warnings) warnings->push_back(text);
  };
  auto used = [&](const char* name) {
    if (transform) *transform = name;
  };
  if (s.sformCode > 0) {
    const auto m = sformMatrix(s);
    const double shear = shearOf(m);
    used("sform");
    if (shear <= kShearTolerance) return geometryFromRas(m, {s.srow[3], s.srow[7], s.srow[11]}, size);
    std::ostringstream why;
    why << "the sform (code " << s.sformCode << ") is sheared (largest axis cosine " << shear
        << "), which a grid of spacing and direction cannot hold; ";
    if (s.qformCode > 0) {
      used("qform (the sform is sheared)");
      note(why.str() + "using the qform (code " + std::to_string(s.qformCode) +
           ") instead, so the grid differs from what nibabel/FSL read from the sform");
    } else {
      used("sform without its shear");
      note(why.str() + "the qform code is 0, so the voxel sizes with the sform's translation and its nearest "
                       "rotation are used; the grid differs from what nibabel/FSL read");
      // Gram-Schmidt of the sform's columns: keeps the first axis, removes the shear.
      std::array<double, 9> q = m;
      for (int c = 0; c < 3; ++c) {
        for (int p = 0; p < c; ++p) {
          double dot = 0, np = 0;
          for (int r = 0; r < 3; ++r) {
            dot += q[std::size_t(3 * r + c)] * q[std::size_t(3 * r + p)];
            np += q[std::size_t(3 * r + p)] * q[std::size_t(3 * r + p)];
          }
          if (np > 0)
            for (int r = 0; r < 3; ++r) q[std::size_t(3 * r + c)] -= dot / np * q[std::size_t(3 * r + p)];
        }
      }
      return geometryFromRas(q, {s.srow[3], s.srow[7], s.srow[11]}, size);
    }
  }
  if (s.qformCode > 0) {
    used("qform");
    return geometryFromRas(qformMatrix(s), s.qoffset, size);
  }
  used("none (codes 0: pixdim only)");
  note("the header claims no orientation (qform_code and sform_code are 0); assuming nibabel's default: "
       "voxel sizes from pixdim, x flipped, the grid centred on the origin");
  std::array<double, 9> m{};
  Vec3 t{};
  for (std::size_t i = 0; i < 3; ++i) {
    const double zoom = (i == 0 ? -1.0 : 1.0) * (s.pixdim[i] != 0 ? std::fabs(s.pixdim[i]) : 1.0);
    m[4 * i] = zoom;
    t[i] = -zoom * double(size[i] - 1) / 2.0;
  }
  return geometryFromRas(m, t, size);
}

namespace {

template <class T>
void convertRaw(const unsigned char* src, std::size_t count, bool swap, double slope, double inter, float* dst) {
  for (std::size_t i = 0; i < count; ++i) {
    unsigned char raw[sizeof(T)];
    std::memcpy(raw, src + i * sizeof(T), sizeof(T));
    if (swap) std::reverse(raw, raw + sizeof(T));
    T v;
    std::memcpy(&v, raw, sizeof(T));
    dst[i] = float(double(v) * slope + inter);
  }
}

void convertChunk(int datatype, const unsigned char* src, std::size_t count, bool swap, double slope, double inter,
                  float* dst) {
  switch (datatype) {
    case 2: convertRaw<std::uint8_t>(src, count, swap, slope, inter, dst); break;
    case 4: convertRaw<std::int16_t>(src, count, swap, slope, inter, dst); break;
    case 8: convertRaw<std::int32_t>(src, count, swap, slope, inter, dst); break;
    case 16: convertRaw<float>(src, count, swap, slope, inter, dst); break;
    case 64: convertRaw<double>(src, count, swap, slope, inter, dst); break;
    case 256: convertRaw<std::int8_t>(src, count, swap, slope, inter, dst); break;
    case 512: convertRaw<std::uint16_t>(src, count, swap, slope, inter, dst); break;
    case 768: convertRaw<std::uint32_t>(src, count, swap, slope, inter, dst); break;
    case 1024: convertRaw<std::int64_t>(src, count, swap, slope, inter, dst); break;
    case 1280: convertRaw<std::uint64_t>(src, count, swap, slope, inter, dst); break;
    default: break;
  }
}

}  // namespace

Volume readNiftiVolume(const fs::path& path, const NiftiHeader& h) {
  Volume v(niftiGeometry(h));
  const auto* type = typeInfo(h.datatype);
  const std::size_t bytes = std::size_t(type->bytes);
  const std::uint64_t payload = std::uint64_t(v.voxelCount()) * bytes;
  const fs::path dataFile = h.pair ? pairDataFile(path) : path;
  const std::uint64_t skip = h.voxOffset;
  const bool scaled = std::isfinite(h.sclSlope) && h.sclSlope != 0;
  const double slope = scaled ? h.sclSlope : 1.0, inter = scaled ? h.sclInter : 0.0;
  const bool swap = h.bigEndian != hostBigEndian();
  gzFile gz = gzopen(dataFile.string().c_str(), "rb");
  if (!gz) throw IoError(dataFile.string(), "cannot open");
  gzbuffer(gz, 1 << 17);
  std::vector<unsigned char> buf(std::size_t(1) << 20);
  auto fail = [&](std::uint64_t found) {
    gzclose(gz);
    throw IoError(path.string(), "truncated: expected " + std::to_string(payload) + " bytes of voxel data, found " +
                                     std::to_string(found));
  };
  for (std::uint64_t left = skip; left > 0;) {
    const unsigned n = unsigned(std::min<std::uint64_t>(left, buf.size()));
    const int got = gzread(gz, buf.data(), n);
    if (got != int(n)) fail(0);
    left -= n;
  }
  std::uint64_t done = 0;
  const std::size_t chunk = buf.size() / bytes * bytes;
  while (done < payload) {
    const unsigned want = unsigned(std::min<std::uint64_t>(chunk, payload - done));
    const int got = gzread(gz, buf.data(), want);
    if (got <= 0 || std::size_t(got) % bytes != 0) fail(done + std::uint64_t(std::max(got, 0)));
    convertChunk(h.datatype, buf.data(), std::size_t(got) / bytes, swap, slope, inter, v.data() + done / bytes);
    done += std::uint64_t(got);
  }
  gzclose(gz);
  return v;
}

// ---- writing -------------------------------------------------------------------------------------

namespace {

// Rotation (orthonormal, det +1) → unit quaternion (b, c, d) with a ≥ 0 (niftilib's method).
std::array<double, 3> quaternionOf(const std::array<double, 9>& r) {
  double a = r[0] + r[4] + r[8] + 1.0, b, c, d;
  if (a > 0.5) {
    a = 0.5 * std::sqrt(a);
    b = 0.25 * (r[7] - r[5]) / a;
    c = 0.25 * (r[2] - r[6]) / a;
    d = 0.25 * (r[3] - r[1]) / a;
  } else {
    const double xd = 1.0 + r[0] - (r[4] + r[8]), yd = 1.0 + r[4] - (r[0] + r[8]), zd = 1.0 + r[8] - (r[0] + r[4]);
    if (xd > 1.0) {
      b = 0.5 * std::sqrt(xd);
      c = 0.25 * (r[1] + r[3]) / b;
      d = 0.25 * (r[2] + r[6]) / b;
      a = 0.25 * (r[7] - r[5]) / b;
    } else if (yd > 1.0) {
      c = 0.5 * std::sqrt(yd);
      b = 0.25 * (r[1] + r[3]) / c;
      d = 0.25 * (r[5] + r[7]) / c;
      a = 0.25 * (r[2] - r[6]) / c;
    } else {
      d = 0.5 * std::sqrt(zd);
      b = 0.25 * (r[2] + r[6]) / d;
      c = 0.25 * (r[5] + r[7]) / d;
      a = 0.25 * (r[3] - r[1]) / d;
    }
    if (a < 0.0) b = -b, c = -c, d = -d;
  }
  return {b, c, d};
}

// Codes 1 (scanner anatomical) with qform and sform both describing `g`.
NiftiSpatialHeader spatialFromGeometry(const Geometry& g) {
  NiftiSpatialHeader s;
  s.qformCode = s.sformCode = 1;
  std::array<double, 9> r{};  // RAS rotation: LPS direction with rows x, y negated
  for (std::size_t i = 0; i < 9; ++i) r[i] = (i < 6 ? -1.0 : 1.0) * g.direction[i];
  const double det = determinant(r);
  s.qfac = det < 0 ? -1.0 : 1.0;
  std::array<double, 9> proper = r;
  if (det < 0)
    for (std::size_t row = 0; row < 3; ++row) proper[3 * row + 2] = -proper[3 * row + 2];
  s.quatern = quaternionOf(proper);
  s.qoffset = {-g.origin[0], -g.origin[1], g.origin[2]};
  s.pixdim = g.spacing;
  for (std::size_t row = 0; row < 3; ++row) {
    for (std::size_t c = 0; c < 3; ++c) s.srow[4 * row + c] = r[3 * row + c] * g.spacing[c];
    s.srow[4 * row + 3] = s.qoffset[row];
  }
  s.xyztUnits = 2 | 8;  // mm, seconds
  return s;
}

template <class T>
void put(std::vector<unsigned char>& b, std::size_t offset, T v) {
  std::memcpy(&b[offset], &v, sizeof(T));
  if (hostBigEndian()) std::reverse(b.begin() + std::ptrdiff_t(offset), b.begin() + std::ptrdiff_t(offset + sizeof(T)));
}

std::vector<unsigned char> headerVersion1(const Geometry& g, NiftiStoredType type, const NiftiSpatialHeader& s) {
  std::vector<unsigned char> b(352, 0);
  put<std::int32_t>(b, 0, 348);
  put<std::int16_t>(b, 40, 3);
  for (std::size_t i = 0; i < 3; ++i) put<std::int16_t>(b, 42 + 2 * i, std::int16_t(g.size[i]));
  for (std::size_t i = 3; i < 7; ++i) put<std::int16_t>(b, 42 + 2 * i, 1);
  const int code = type == NiftiStoredType::Float32 ? 16 : type == NiftiStoredType::Int16 ? 4 : 2;
  put<std::int16_t>(b, 70, std::int16_t(code));
  put<std::int16_t>(b, 72, std::int16_t(code == 16 ? 32 : code == 4 ? 16 : 8));
  put<float>(b, 76, float(s.qfac < 0 ? -1.0 : 1.0));
  for (std::size_t i = 0; i < 3; ++i) put<float>(b, 80 + 4 * i, float(s.pixdim[i]));
  put<float>(b, 108, 352.0f);
  put<float>(b, 112, 1.0f);
  b[123] = static_cast<unsigned char>(s.xyztUnits);
  const char descrip[] = "mr2ct";
  std::memcpy(&b[148], descrip, sizeof descrip);
  put<std::int16_t>(b, 252, std::int16_t(s.qformCode));
  put<std::int16_t>(b, 254, std::int16_t(s.sformCode));
  for (std::size_t i = 0; i < 3; ++i) put<float>(b, 256 + 4 * i, float(s.quatern[i]));
  for (std::size_t i = 0; i < 3; ++i) put<float>(b, 268 + 4 * i, float(s.qoffset[i]));
  for (std::size_t i = 0; i < 12; ++i) put<float>(b, 280 + 4 * i, float(s.srow[i]));
  std::memcpy(&b[344], "n+1\0", 4);
  return b;
}

template <class T>
std::vector<unsigned char> encode(const float* src, std::size_t count) {
  std::vector<unsigned char> out(count * sizeof(T));
  constexpr double lo = double(std::numeric_limits<T>::lowest()), hi = double(std::numeric_limits<T>::max());
  for (std::size_t i = 0; i < count; ++i) {
    T v;
    if constexpr (std::is_floating_point_v<T>) {
      v = src[i];
    } else {
      const double r = std::nearbyint(double(src[i]));
      v = static_cast<T>(std::isfinite(r) ? std::clamp(r, lo, hi) : 0.0);
    }
    std::memcpy(&out[i * sizeof(T)], &v, sizeof(T));
    if (hostBigEndian()) std::reverse(out.begin() + std::ptrdiff_t(i * sizeof(T)), out.begin() + std::ptrdiff_t((i + 1) * sizeof(T)));
  }
  return out;
}

}  // namespace

void writeNiftiFile(const fs::path& path, const Geometry& g, const float* voxels, NiftiStoredType type,
                    const NiftiSpatialHeader* spatial, bool compress) {
  for (std::size_t i = 0; i < 3; ++i)
    if (g.size[i] > 32767)
      throw IoError(path.string(), "NIfTI-1 holds at most 32767 voxels along an axis (" + std::to_string(g.size[i]) + ")");
  const NiftiSpatialHeader s = spatial ? *spatial : spatialFromGeometry(g);
  const auto header = headerVersion1(g, type, s);
  const std::size_t slice = g.size[0] * g.size[1];
  gzFile gz = gzopen(path.string().c_str(), compress ? "wb6" : "wbT");
  if (!gz) throw IoError(path.string(), "cannot create the file");
  auto check = [&](int wrote, std::size_t want) {
    if (wrote != int(want)) {
      gzclose(gz);
      throw IoError(path.string(), "write failed (disk full?)");
    }
  };
  check(gzwrite(gz, header.data(), unsigned(header.size())), header.size());
  for (std::size_t z = 0; z < g.size[2]; ++z) {
    const float* src = voxels + z * slice;
    const auto bytes = type == NiftiStoredType::Float32 ? encode<float>(src, slice)
                       : type == NiftiStoredType::Int16 ? encode<std::int16_t>(src, slice)
                                                        : encode<std::uint8_t>(src, slice);
    check(gzwrite(gz, bytes.data(), unsigned(bytes.size())), bytes.size());
  }
  if (gzclose(gz) != Z_OK) throw IoError(path.string(), "write failed (disk full?)");
}

}  // namespace mr2ct::detail
