#include "NiftiGuard.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "VoxelDataLength.h"
#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"

namespace fs = std::filesystem;

namespace mr2ct::detail {

namespace {

bool singleFileNifti(const fs::path& path) {
  const std::string ext = fullExtension(path);
  return ext == ".nii" || ext == ".nii.gz";
}

void checkValue(const fs::path& path, const std::string& field, double v) {
  if (std::isfinite(v) && std::fabs(v) <= 1e9) return;
  std::ostringstream s;
  s << "NIfTI header: " << field << " is " << v << " (not finite or absurd); the orientation cannot be computed";
  throw DataError(path.string(), s.str());
}

void checkDims(const fs::path& path, const NiftiHeader& h) {
  const auto rank = h.dim[0];
  if (rank < 1 || rank > 7)
    throw DataError(path.string(), "NIfTI header: dim[0] is " + std::to_string(rank) + " (1..7 expected)");
  for (std::int64_t d = 1; d <= rank; ++d)
    if (h.dim[std::size_t(d)] < 1)
      throw DataError(path.string(), "header claims a zero or negative size (" + std::to_string(h.dim[std::size_t(d)]) +
                                         ") along axis " + std::to_string(d - 1));
}

// What ITK would silently misread in a single file: ITK then falls back to Analyze 7.5.
void checkSingleFileIdentity(const fs::path& path, const NiftiHeader& h) {
  if (h.version == 0)
    throw DataError(path.string(), "not a NIfTI file: sizeof_hdr is " + std::to_string(std::int32_t(h.sizeofHdr)) +
                                       " (348 or 540 expected; wrong magic number or corrupt header)");
  const bool magicOk = h.version == 1 ? h.magicIs("n+1\0", 4) : h.complete() && h.magicIs("n+2\0", 4);
  if (!magicOk) throw DataError(path.string(), "not a NIfTI file: wrong magic number (\"n+1\" or \"n+2\" expected)");
  checkDims(path, h);
}

// The fields ITK 5.2's vnl_svd aborts on when they are not finite.
void checkOrientationValues(const fs::path& path, const NiftiHeader& h) {
  const auto& s = h.spatial;
  for (std::size_t i = 0; i < 4; ++i) checkValue(path, "pixdim[" + std::to_string(i) + "]", h.pixdim[i]);
  if (s.qformCode > 0) {
    const char* names[] = {"quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z"};
    for (std::size_t i = 0; i < 6; ++i) checkValue(path, names[i], i < 3 ? s.quatern[i] : s.qoffset[i - 3]);
  }
  if (s.sformCode > 0)
    for (std::size_t i = 0; i < 12; ++i) checkValue(path, "srow[" + std::to_string(i) + "]", s.srow[i]);
}

std::string unsupportedTypeName(int code) {
  switch (code) {
    case 1:
      return "binary";
    case 32:
      return "complex64";
    case 128:
      return "RGB24";
    case 1536:
      return "float128";
    case 1792:
      return "complex128";
    case 2048:
      return "complex256";
    case 2304:
      return "RGBA32";
    default:
      return "datatype code " + std::to_string(code);
  }
}

void checkVersionAndMagic(const fs::path& path, const NiftiHeader& h) {
  if (h.storedBytes < kNifti1HeaderBytes) throw IoError(path.string(), "truncated: the NIfTI header is incomplete");
  if (h.version == 2) {
    if (!h.complete()) throw IoError(path.string(), "truncated: the NIfTI-2 header is incomplete");
    if (!h.pair && !h.magicIs("n+2", 3))
      throw DataError(path.string(), "not a NIfTI-2 file: wrong magic number (\"n+2\" expected)");
  } else if (h.version == 1) {
    if (!h.pair && !h.magicIs("n+1", 3)) {
      if (isAnalyzeHeader(path, h))
        throw DataError(path.string(),
                        "Analyze 7.5 file (no NIfTI magic): its orientation and origin are not defined, "
                        "so mr2ct does not guess them; convert it to NIfTI with the tool that wrote it");
      throw DataError(path.string(), "not a NIfTI file: wrong magic number (\"n+1\" or \"ni1\" expected)");
    }
  } else {
    throw DataError(path.string(),
                    "not a NIfTI file: sizeof_hdr is " + std::to_string(h.sizeofHdr) + " (348 or 540 expected)");
  }
}

void checkVoxelType(const fs::path& path, const NiftiHeader& h) {
  const auto* type = niftiType(h.datatype);
  if (h.datatype == 128 || h.datatype == 2304 || h.datatype == 32 || h.datatype == 1792 || h.datatype == 2048)
    throw DataError(path.string(), "NIfTI voxels of type " + unsupportedTypeName(h.datatype) +
                                       " have several components per voxel; a scalar image is needed");
  if (!type)
    throw DataError(path.string(), "NIfTI voxel type " + unsupportedTypeName(h.datatype) +
                                       " is not supported (scalar integer or float types only)");
  if (h.bitpix != 8 * type->bytes)
    throw DataError(path.string(),
                    "NIfTI header: bitpix " + std::to_string(h.bitpix) + " does not match datatype " + type->name);
}

// What NiftiFormat.h cannot decode.
void checkDecodable(const fs::path& path, const NiftiHeader& h) {
  checkVersionAndMagic(path, h);
  checkDims(path, h);
  checkVoxelType(path, h);
  if (std::isfinite(h.sclSlope) && h.sclSlope != 0 && !std::isfinite(h.sclInter))
    throw DataError(path.string(), "NIfTI header: scl_slope is valid but scl_inter is not finite");
  if (!h.pair && h.voxOffset < (h.version == 1 ? 352u : 544u))
    throw DataError(path.string(),
                    "NIfTI header: vox_offset " + std::to_string(h.voxOffset) + " lies inside the header");
}

}  // namespace

void checkNiftiHeader(const fs::path& path, const NiftiHeader& h) {
  // Too short to be a header: the decoding check below says so.
  if (h.storedBytes >= kNifti1HeaderBytes) {
    if (singleFileNifti(path)) checkSingleFileIdentity(path, h);
    if (h.complete()) checkOrientationValues(path, h);
  }
  checkDecodable(path, h);
}

void checkNiftiShape(const std::string& p, const NiftiHeader& h, std::size_t maxVoxels) {
  const auto rank = h.dim[0];
  if (rank < 3) throw DataError(p, std::to_string(rank) + "D image where a 3D volume is needed");
  if (h.dim[4] != 1)
    throw DataError(p, "4D image (" + std::to_string(h.dim[4]) + " volumes) where a 3D volume is needed");
  for (std::size_t d = 5; d < 8; ++d)
    if (h.dim[d] != 1)
      throw DataError(p, "NIfTI dim[" + std::to_string(d) + "] is " + std::to_string(h.dim[d]) +
                             ": more than one 3D volume where one is needed");
  std::size_t total = 1;
  for (std::size_t d = 1; d <= 3; ++d) {
    const auto n = std::size_t(h.dim[d]);
    if (total > std::numeric_limits<std::size_t>::max() / n) throw DataError(p, "header claims a size that overflows");
    total *= n;
  }
  if (total > maxVoxels)
    throw DataError(
        p, "header claims " + std::to_string(total) + " voxels, more than the limit of " + std::to_string(maxVoxels));
}

void checkNiftiVoxelDataComplete(const fs::path& path, const NiftiHeader& h, std::uint64_t payload) {
  // Rounded unlike the reader's voxOffset: an Inf or negative vox_offset of a .hdr/.img pair lies
  // past the end of any file, so the pair is refused as truncated rather than read from byte 0.
  // Clamped before the conversion: a float beyond uint64's range makes the cast undefined (fuzzer).
  const std::uint64_t voxOffset = h.version == 2     ? std::uint64_t(h.voxOffset2)
                                  : h.voxOffset1 > 0 ? std::uint64_t(std::min(h.voxOffset1, 1.0e18f))
                                                     : 0;
  // A .hdr/.img pair keeps the voxels in the .img (vox_offset is then usually 0).
  const std::string ext = fullExtension(path);
  const fs::path data = ext == ".hdr" ? niftiPairDataFile(path) : path;
  const std::uint64_t total = decompressedSize(data, voxOffset + payload);
  const std::uint64_t found = total > voxOffset ? total - voxOffset : 0;
  if (found < payload) refuseTruncatedVoxelData(path, payload, found);
}

}  // namespace mr2ct::detail
