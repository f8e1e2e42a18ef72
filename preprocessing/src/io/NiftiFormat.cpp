#include "NiftiFormat.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <type_traits>

#include "NiftiGuard.h"
#include "VoxelDataLength.h"
#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"

namespace fs = std::filesystem;

namespace mr2ct::detail {

namespace {

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

NiftiHeader readNiftiHeader(const fs::path& path) {
  NiftiHeader h = parseNiftiHeader(niftiHeadBytes(path, unsigned(kNifti2HeaderBytes)));
  checkNiftiHeader(path, h);
  for (std::int64_t d = h.dim[0] + 1; d < 8; ++d) h.dim[std::size_t(d)] = 1;
  auto& s = h.spatial;
  s.qfac = h.pixdim[0];
  s.pixdim = {h.pixdim[1], h.pixdim[2], h.pixdim[3]};
  for (std::size_t i = 0; i < 3; ++i)
    if (s.pixdim[i] == 0 && h.dim[0] <= int(i)) s.pixdim[i] = 1;  // axes the file does not have
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
  const auto* type = niftiType(h.datatype);
  const std::size_t bytes = std::size_t(type->bytes);
  const std::uint64_t payload = std::uint64_t(v.voxelCount()) * bytes;
  const fs::path dataFile = h.pair ? niftiPairDataFile(path) : path;
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
    refuseTruncatedVoxelData(path, payload, found);
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
