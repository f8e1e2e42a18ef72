#pragma once
// The one place that decodes the bytes of a NIfTI-1 (348-byte) or NIfTI-2 (540-byte) header:
// gzip, byte order from sizeof_hdr, and every field mr2ct uses, as stored. Nothing here refuses a
// file: the sniffing (FormatDetection.h), the guard (NiftiGuard.h) and the reader (NiftiFormat.h)
// all judge the same decoded header. Private to mr2ct_preprocessing.
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "mr2ct/preprocessing/VolumeIO.h"

namespace mr2ct::detail {

constexpr std::size_t kNifti1HeaderBytes = 348, kNifti2HeaderBytes = 540;

/// The parts of a NIfTI header that mr2ct uses, as stored (byte order resolved).
struct NiftiHeader {
  int version = 1;  ///< 1 (348-byte header) or 2 (540-byte header); 0: neither
  bool bigEndian = false;
  bool swapped = false;               ///< stored in the byte order opposite to this machine's
  bool pair = false;                  ///< .hdr/.img pair ("ni1"/"ni2") rather than one file
  std::size_t storedBytes = 0;        ///< header bytes the file holds (at most 540)
  std::uint32_t sizeofHdr = 0;        ///< byte-swapped when neither order gives 348 or 540
  std::array<char, 4> magic{};        ///< "n+1\0", "ni1\0", "n+2\0", ...
  std::array<std::int64_t, 8> dim{};  ///< dim[0] = rank
  int datatype = 0;
  int bitpix = 0;
  std::array<double, 8> pixdim{};
  /// vox_offset as the version stores it (a float in NIfTI-1, an int64 in NIfTI-2) ...
  float voxOffset1 = 0;
  std::int64_t voxOffset2 = 0;
  /// ... and as the reader uses it: 0 when negative or not finite, at most 1e18.
  std::uint64_t voxOffset = 0;
  double sclSlope = 0, sclInter = 0;
  int xyztUnits = 0;
  NiftiSpatialHeader spatial;  ///< codes, quaternion, offsets, sform rows

  /// Whether the file holds the whole header of its version (the fields are decoded only then).
  bool complete() const {
    return (version == 1 && storedBytes >= kNifti1HeaderBytes) || (version == 2 && storedBytes >= kNifti2HeaderBytes);
  }
  bool magicIs(const char* text, std::size_t n) const { return std::memcmp(magic.data(), text, n) == 0; }
};

/// The first `n` bytes of the file, through zlib so that .nii.gz and .nii read the same way.
std::vector<unsigned char> niftiHeadBytes(const std::filesystem::path& path, unsigned n);

/// Decodes `bytes` (the start of a file). Any length is accepted: sizeof_hdr and the byte order need
/// 4 bytes, the other fields the whole header of the version.
NiftiHeader parseNiftiHeader(const std::vector<unsigned char>& bytes);

/// A NIfTI-1-sized header without NIfTI magic in a .hdr/.img (.hdr.gz): Analyze 7.5.
bool isAnalyzeHeader(const std::filesystem::path& path, const NiftiHeader& header);

/// The .img (or .img.gz) holding the voxels of a .hdr; IoError "file not found" when there is none.
std::filesystem::path niftiPairDataFile(const std::filesystem::path& hdr);

bool hostBigEndian();

/// A NIfTI datatype code mr2ct reads, its stored type's name and size.
struct NiftiType {
  int code;
  const char* name;
  int bytes;
};
/// nullptr for codes mr2ct does not read.
const NiftiType* niftiType(int datatype);

/// Stored type name ("int16", "float32", ...) for a NIfTI datatype code, "" when unsupported.
std::string niftiTypeName(int datatype);

}  // namespace mr2ct::detail
