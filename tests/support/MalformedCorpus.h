#pragma once
// The malformed-input corpus shared by test_malformed_inputs (library) and test_malformed_cli
// (`mr2ct info`): each entry builds one broken file from a valid one written by our own writer.
// Entry names are <reader>_<what>; the reader is the part before the first '_'.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/TestSupport.h"

namespace mr2ct::test::malformed {

namespace fs = std::filesystem;


using Bytes = std::string;

inline Bytes slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void spit(const fs::path& p, const Bytes& b) { std::ofstream(p, std::ios::binary).write(b.data(), std::streamsize(b.size())); }

inline void spitGzip(const fs::path& p, const Bytes& b) {
  gzFile gz = gzopen(p.string().c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  ASSERT_EQ(gzwrite(gz, b.data(), unsigned(b.size())), int(b.size()));
  gzclose(gz);
}

inline Bytes gunzip(const fs::path& p) {
  gzFile gz = gzopen(p.string().c_str(), "rb");
  Bytes out;
  char buf[4096];
  int n;
  while ((n = gzread(gz, buf, sizeof buf)) > 0) out.append(buf, std::size_t(n));
  gzclose(gz);
  return out;
}

/// A valid volume file's bytes: 6x5x4 with a voxel pattern, written by our own writer.
inline Bytes validBytes(const fs::path& dir, const std::string& ext, PixelType type = PixelType::Int16, bool compress = false) {
  const auto p = dir / ("valid" + ext);
  writeVolume(makeIdentifiableVolume({6, 5, 4}), p, {type, compress});
  return ext == ".nii.gz" ? gunzip(p) : slurp(p);
}

template <class T>
inline void poke(Bytes& b, std::size_t offset, T value) {
  std::memcpy(&b[offset], &value, sizeof(T));
}

/// Replaces the value of one "key<sep>value" header line of a text header (MetaImage / NRRD).
inline Bytes withHeaderLine(Bytes b, const std::string& key, const std::string& value) {
  const auto k = b.find(key);
  if (k == Bytes::npos) throw std::logic_error("header key not found: " + key);
  const auto eol = b.find('\n', k);
  return b.replace(k, eol - k, key + value);
}

// NIfTI-1 header offsets.
constexpr std::size_t kDim = 40, kDatatype = 70, kBitpix = 72, kVoxOffset = 108, kMagic = 344;

struct Malformed {
  std::string name;    ///< <reader>_<what>: the reader is the part before the first '_'
  std::string file;    ///< file name inside the test's folder (its extension picks the reader)
  std::function<void(const fs::path& dir, const fs::path& target)> build;
  std::vector<std::string> because;  ///< the message must contain one of these (lower-case ok)

  /// Writes the malformed file (and its valid sources under dir/src) into `dir`; returns its path.
  fs::path writeInto(const fs::path& dir) const {
    fs::create_directories(dir / "src");
    const fs::path target = dir / file;
    build(dir / "src", target);
    return target;
  }
};

/// GoogleTest prints a parameter without PrintTo as its raw bytes (pointers included), and
/// gtest_discover_tests puts that text into the CTest test names: names that changed with every
/// build, and bytes that could break the discovered test list. The entry's name is printed instead.
inline void PrintTo(const Malformed& m, std::ostream* os) { *os << m.name; }

inline std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// ---- NIfTI (.nii and .nii.gz: the same header edits, written raw or gzip-compressed) ------------

/// Builds a valid NIfTI (raw or gzip-compressed as `ext` says) with `edit` applied to its bytes.
inline std::function<void(const fs::path&, const fs::path&)> editedNifti(const std::string& ext,
                                                                         std::function<void(Bytes&)> edit) {
  return [ext, edit](const fs::path& dir, const fs::path& target) {
    Bytes b = validBytes(dir, ext);
    edit(b);
    if (ext == ".nii.gz")
      spitGzip(target, b);
    else
      spit(target, b);
  };
}

/// The entry-name prefix of the NIfTI reader for `ext`.
inline std::string niftiReader(const std::string& ext) { return ext == ".nii" ? "nii" : "niigz"; }

// Empty, cut short, or not NIfTI at all.
inline void addNiftiTruncations(std::vector<Malformed>& all, const std::string& ext) {
  const std::string r = niftiReader(ext);
  auto edited = [ext](std::function<void(Bytes&)> edit) { return editedNifti(ext, std::move(edit)); };
  const std::string f = "case" + ext;
  all.push_back({r + "_empty", f, [](const fs::path&, const fs::path& t) { spit(t, ""); }, {"empty"}});
  all.push_back({r + "_truncated_header", f, edited([](Bytes& b) { b.resize(200); }), {"truncated", "header", "not a readable"}});
  all.push_back({r + "_truncated_voxels", f, edited([](Bytes& b) { b.resize(b.size() - 37); }), {"truncated"}});
  all.push_back({r + "_header_only", f, edited([](Bytes& b) { b.resize(352); }), {"truncated"}});
  all.push_back({r + "_wrong_magic", f, edited([](Bytes& b) { std::memcpy(&b[kMagic], "xyz\0", 4); }),
                 {"not a readable", "magic", "header"}});
  all.push_back({r + "_wrong_sizeof_hdr", f, edited([](Bytes& b) { poke<std::int32_t>(b, 0, 999); }),
                 {"not a readable", "magic", "header"}});
}

// The dim[] field: zero, negative, huge and overflowing sizes, too few or too many dimensions.
inline void addNiftiDimensions(std::vector<Malformed>& all, const std::string& ext) {
  const std::string r = niftiReader(ext);
  auto edited = [ext](std::function<void(Bytes&)> edit) { return editedNifti(ext, std::move(edit)); };
  const std::string f = "case" + ext;
  all.push_back({r + "_zero_size", f, edited([](Bytes& b) { poke<std::int16_t>(b, kDim + 2 * 2, 0); }),
                 {"zero", "size", "header"}});
  all.push_back({r + "_negative_size", f, edited([](Bytes& b) { poke<std::int16_t>(b, kDim + 2 * 1, -6); }),
                 {"negative", "zero", "size", "header"}});
  all.push_back({r + "_huge_size", f, edited([](Bytes& b) {
                   for (int d = 1; d <= 3; ++d) poke<std::int16_t>(b, kDim + 2 * d, 32000);
                 }),
                 {"limit", "voxels"}});
  all.push_back({r + "_overflowing_size", f, edited([](Bytes& b) {
                   poke<std::int16_t>(b, kDim, 7);
                   for (int d = 1; d <= 7; ++d) poke<std::int16_t>(b, kDim + 2 * d, 32767);
                 }),
                 {"overflow", "limit", "4d", "dimension", "3d"}});
  all.push_back({r + "_2d", f, edited([](Bytes& b) {
                   poke<std::int16_t>(b, kDim, 2);
                   poke<std::int16_t>(b, kDim + 2 * 3, 1);
                 }),
                 {"2d"}});
  all.push_back({r + "_4d", f, edited([](Bytes& b) {
                   // 6x5x2x2: the same voxel count as the valid 6x5x4 file, so only the shape is wrong
                   poke<std::int16_t>(b, kDim, 4);
                   poke<std::int16_t>(b, kDim + 2 * 3, 2);
                   poke<std::int16_t>(b, kDim + 2 * 4, 2);
                 }),
                 {"4d"}});
}

// Pixel types mr2ct does not read, and voxels that are not finite.
inline void addNiftiVoxelKinds(std::vector<Malformed>& all, const std::string& ext) {
  const std::string r = niftiReader(ext);
  auto edited = [ext](std::function<void(Bytes&)> edit) { return editedNifti(ext, std::move(edit)); };
  const std::string f = "case" + ext;
  all.push_back({r + "_unknown_datatype", f, edited([](Bytes& b) { poke<std::int16_t>(b, kDatatype, 1234); }),
                 {"pixel type", "datatype", "header", "not a readable", "unsupported"}});
  all.push_back({r + "_rgb_components", f, edited([](Bytes& b) {
                   poke<std::int16_t>(b, kDatatype, 128);  // RGB24: 3 components per voxel
                   poke<std::int16_t>(b, kBitpix, 24);
                 }),
                 {"components", "truncated"}});
  all.push_back({r + "_nan_voxels", f, [ext](const fs::path&, const fs::path& t) {
                   Volume v = makeIdentifiableVolume({6, 5, 4});
                   v.at(2, 3, 1) = std::numeric_limits<float>::quiet_NaN();
                   writeVolume(v, t);
                 },
                 {"nan"}});
  all.push_back({r + "_inf_voxels", f, [ext](const fs::path&, const fs::path& t) {
                   Volume v = makeIdentifiableVolume({6, 5, 4});
                   v.at(5, 4, 3) = -std::numeric_limits<float>::infinity();
                   writeVolume(v, t);
                 },
                 {"inf"}});
}

// Header floats the fuzzer found dangerous: a huge vox_offset, non-finite matrices and spacing.
inline void addNiftiHeaderFloats(std::vector<Malformed>& all, const std::string& ext) {
  const std::string r = niftiReader(ext);
  auto edited = [ext](std::function<void(Bytes&)> edit) { return editedNifti(ext, std::move(edit)); };
  const std::string f = "case" + ext;
  // fuzz_volume_reader finding: a vox_offset of 7e22 made the float->integer conversion undefined.
  all.push_back({r + "_huge_vox_offset", f, edited([](Bytes& b) { poke<float>(b, kVoxOffset, 6.97e22f); }),
                 {"truncated", "offset", "header", "voxel data"}});
  // fuzz_volume_reader finding: ITK's NIfTI reader abort()ed (vnl_svd on a NaN matrix) for these.
  all.push_back({r + "_nan_sform", f, edited([](Bytes& b) {
                   poke<std::int16_t>(b, 254, 1);
                   poke<float>(b, 280 + 4 * 5, std::numeric_limits<float>::quiet_NaN());
                 }),
                 {"not finite"}});
  all.push_back({r + "_inf_quaternion", f, edited([](Bytes& b) {
                   poke<std::int16_t>(b, 252, 1);
                   poke<float>(b, 256, std::numeric_limits<float>::infinity());
                 }),
                 {"not finite"}});
  all.push_back({r + "_nan_spacing", f, edited([](Bytes& b) { poke<float>(b, 76 + 4 * 2, std::numeric_limits<float>::quiet_NaN()); }),
                 {"not finite"}});
}

// Not a file, and (.nii.gz) a corrupt or truncated gzip stream around a valid NIfTI.
inline void addNiftiContainers(std::vector<Malformed>& all, const std::string& ext) {
  const std::string r = niftiReader(ext);
  const std::string f = "case" + ext;
  all.push_back({r + "_is_a_folder", f, [](const fs::path&, const fs::path& t) { fs::create_directories(t); },
                 {"folder", "directory"}});
  if (ext == ".nii.gz") {
    all.push_back({r + "_bad_gzip_stream", f, [](const fs::path& dir, const fs::path& t) {
                     writeVolume(makeIdentifiableVolume({6, 5, 4}), dir / "v.nii.gz");
                     Bytes b = slurp(dir / "v.nii.gz");
                     for (std::size_t i = 40; i < b.size() - 8; i += 7) b[i] = char(b[i] ^ 0x5a);
                     spit(t, b);
                   },
                   {"truncated", "corrupt", "header", "not a readable", "voxel data"}});
    all.push_back({r + "_truncated_gzip", f, [](const fs::path& dir, const fs::path& t) {
                     writeVolume(makeIdentifiableVolume({6, 5, 4}), dir / "v.nii.gz");
                     Bytes b = slurp(dir / "v.nii.gz");
                     b.resize(b.size() * 2 / 3);
                     spit(t, b);
                   },
                   {"truncated", "corrupt", "header"}});
  }
}

/// Every NIfTI entry, in the corpus's order.
inline void addNifti(std::vector<Malformed>& all, const std::string& ext) {
  addNiftiTruncations(all, ext);
  addNiftiDimensions(all, ext);
  addNiftiVoxelKinds(all, ext);
  addNiftiHeaderFloats(all, ext);
  addNiftiContainers(all, ext);
}

// ---- MetaImage (.mha, text header + LOCAL data; .mhd + detached data file) ---------------------

inline void addMetaImage(std::vector<Malformed>& all) {
  auto edited = [](std::function<Bytes(Bytes)> edit, bool compress = false) {
    return [edit, compress](const fs::path& dir, const fs::path& t) { spit(t, edit(validBytes(dir, ".mha", PixelType::Int16, compress))); };
  };
  auto line = [edited](const std::string& key, const std::string& value) {
    return edited([key, value](Bytes b) { return withHeaderLine(b, key, value); });
  };
  const std::string f = "case.mha";
  all.push_back({"mha_empty", f, [](const fs::path&, const fs::path& t) { spit(t, ""); }, {"empty"}});
  all.push_back({"mha_truncated_voxels", f, edited([](Bytes b) { return b.substr(0, b.size() - 11); }), {"truncated"}});
  all.push_back({"mha_header_only", f, edited([](Bytes b) { return b.substr(0, b.find("LOCAL") + 6); }), {"truncated"}});
  all.push_back({"mha_truncated_compressed", f, edited([](Bytes b) { return b.substr(0, b.size() - 9); }, true),
                 {"truncated", "voxel data"}});
  all.push_back({"mha_half_header", f, edited([](Bytes b) { return b.substr(0, b.find("DimSize")); }),
                 {"header", "not a readable", "truncated"}});
  all.push_back({"mha_binary_garbage_header", f, edited([](Bytes b) {
                   Bytes junk(64, '\0');
                   for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = char(0x80 + (i * 37) % 120);
                   return junk + b.substr(b.find("DimSize"));  // header keys before DimSize lost
                 }),
                 {"header", "not a readable"}});
  all.push_back({"mha_zero_size", f, line("DimSize = ", "6 0 4"), {"zero", "size", "header"}});
  all.push_back({"mha_negative_size", f, line("DimSize = ", "6 -5 4"), {"negative", "zero", "size", "header", "limit", "overflow"}});
  all.push_back({"mha_huge_size", f, line("DimSize = ", "100000 100000 100000"), {"limit"}});
  all.push_back({"mha_overflowing_size", f, line("DimSize = ", "4294967295 4294967295 4294967295"),
                 {"overflow", "limit", "size", "header"}});
  all.push_back({"mha_2d", f, edited([](Bytes b) {
                   return withHeaderLine(withHeaderLine(withHeaderLine(withHeaderLine(b, "NDims = ", "2"), "DimSize = ", "6 20"),
                                                        "ElementSpacing = ", "1 1"),
                                         "Offset = ", "0 0");
                 }),
                 {"2d"}});
  all.push_back({"mha_4d", f, edited([](Bytes b) {
                   return withHeaderLine(withHeaderLine(withHeaderLine(withHeaderLine(withHeaderLine(b, "NDims = ", "4"), "DimSize = ", "6 5 2 2"),
                                                                       "ElementSpacing = ", "1 1 1 1"),
                                                        "Offset = ", "0 0 0 0"),
                                         "TransformMatrix = ", "1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1");
                 }),
                 {"4d", "header"}});
  all.push_back({"mha_two_components", f, edited([](Bytes b) {
                   const auto k = b.find("ElementType");
                   return b.insert(k, "ElementNumberOfChannels = 2\n");
                 }),
                 {"components", "truncated"}});
  all.push_back({"mha_unknown_element_type", f, line("ElementType = ", "MET_NOSUCHTYPE"), {"pixel type", "header", "unsupported", "not a readable"}});
  all.push_back({"mhd_missing_data_file", "case.mhd", line("ElementDataFile = ", "nowhere.raw"), {"nowhere.raw"}});
  all.push_back({"mha_nan_voxels", f, [](const fs::path&, const fs::path& t) {
                   Volume v = makeIdentifiableVolume({6, 5, 4});
                   v.at(0, 0, 0) = std::numeric_limits<float>::quiet_NaN();
                   writeVolume(v, t);
                 },
                 {"nan"}});
  // Fuzzer regressions and MetaIO hazards, refused by our header check (io/MetaImageGuard.h)
  // before MetaIO divides by them (SIGFPE), loops over them (a %d pattern with step 0) or parses
  // unbounded lists of numbers.
  all.push_back({"mha_zero_channels", f, edited([](Bytes b) { return b.insert(b.find("ElementType"), "ElementNumberOfChannels = 0\n"); }),
                 {"ElementNumberOfChannels"}});
  all.push_back({"mha_size_product_overflows", f, edited([](Bytes b) {
                   return withHeaderLine(withHeaderLine(b, "NDims = ", "4"), "DimSize = ", "65536 65536 65536 65536");
                 }),
                 {"overflow"}});
  all.push_back({"mha_list_data_files", f, line("ElementDataFile = ", "LIST 2D"), {"several files"}});
  all.push_back({"mha_pattern_step_zero", f, line("ElementDataFile = ", "slice%03d.raw 1 4 0"), {"several files"}});
  all.push_back({"mha_nan_spacing", f, line("ElementSpacing = ", "nan 1 1"), {"not finite"}});
  all.push_back({"mha_endless_number_list", f, edited([](Bytes b) {
                   std::string many;
                   for (int i = 0; i < 1000; ++i) many += "1 ";
                   return withHeaderLine(b, "Offset = ", many);
                 }),
                 {"values"}});
  all.push_back({"mha_megabyte_header_line", f, edited([](Bytes b) { return withHeaderLine(b, "Offset = ", std::string(1 << 20, '7')); }),
                 {"4 KiB"}});
  all.push_back({"mha_is_a_folder", f, [](const fs::path&, const fs::path& t) { fs::create_directories(t); }, {"folder", "directory"}});
}

// ---- NRRD (.nrrd, attached raw or gzip data) -----------------------------------------------------

inline void addNrrd(std::vector<Malformed>& all) {
  auto edited = [](std::function<Bytes(Bytes)> edit, bool compress = false) {
    return [edit, compress](const fs::path& dir, const fs::path& t) { spit(t, edit(validBytes(dir, ".nrrd", PixelType::Int16, compress))); };
  };
  auto line = [edited](const std::string& key, const std::string& value) {
    return edited([key, value](Bytes b) { return withHeaderLine(b, key, value); });
  };
  const std::string f = "case.nrrd";
  all.push_back({"nrrd_empty", f, [](const fs::path&, const fs::path& t) { spit(t, ""); }, {"empty"}});
  all.push_back({"nrrd_truncated_voxels", f, edited([](Bytes b) { return b.substr(0, b.size() - 13); }), {"truncated", "voxel data"}});
  all.push_back({"nrrd_header_only", f, edited([](Bytes b) { return b.substr(0, b.find("\n\n") + 2); }), {"truncated", "voxel data"}});
  all.push_back({"nrrd_truncated_compressed", f, edited([](Bytes b) { return b.substr(0, b.size() - 60); }, true),
                 {"truncated", "voxel data"}});
  all.push_back({"nrrd_wrong_magic", f, edited([](Bytes b) { return b.replace(0, 8, "NRRX0004"); }), {"not a readable", "header"}});
  all.push_back({"nrrd_zero_size", f, line("sizes: ", "6 0 4"), {"zero", "size", "header"}});
  all.push_back({"nrrd_negative_size", f, line("sizes: ", "6 -5 4"), {"negative", "zero", "size", "header"}});
  all.push_back({"nrrd_huge_size", f, line("sizes: ", "100000 100000 100000"), {"limit", "header"}});
  all.push_back({"nrrd_overflowing_size", f, line("sizes: ", "18446744073709551615 18446744073709551615 2"),
                 {"overflow", "limit", "size", "header"}});
  all.push_back({"nrrd_unknown_type", f, line("type: ", "quaternion"), {"header", "type"}});
  all.push_back({"nrrd_missing_detached_data", f, edited([](Bytes b) {
                   const auto blank = b.find("\n\n");
                   return b.substr(0, blank + 1) + "data file: nowhere.raw\n";
                 }),
                 {"nowhere.raw", "header", "file"}});
  all.push_back({"nrrd_is_a_folder", f, [](const fs::path&, const fs::path& t) { fs::create_directories(t); }, {"folder", "directory"}});
}

// ---- anything else: missing files, unknown formats, DICOM folders without DICOM ------------------

inline void addOther(std::vector<Malformed>& all) {
  all.push_back({"any_missing_file", "nothing.nii.gz", [](const fs::path&, const fs::path&) {}, {"not found", "no such"}});
  all.push_back({"any_unknown_extension", "case.xyz", [](const fs::path&, const fs::path& t) { spit(t, "plain text, not an image\n"); },
                 {"not a readable"}});
  all.push_back({"any_random_bytes", "case.img", [](const fs::path&, const fs::path& t) {
                   Bytes b(4096, '\0');
                   std::uint32_t x = 12345;
                   for (auto& c : b) c = char((x = x * 1664525u + 1013904223u) >> 24);
                   spit(t, b);
                 },
                 {"not a readable", "header", "not found"}});
  // Fuzzer regression: PNG bytes under a volume extension reached ITK's PNGImageIO, and libpng
  // abort()ed. Only the NIfTI/MetaImage/NRRD/DICOM readers may see a file now.
  auto png = [](const fs::path&, const fs::path& t) { spit(t, std::string("\x89PNG\r\n\x1a\n", 8) + std::string(340, '\0')); };
  all.push_back({"any_png_bytes_as_nii", "case.nii", png, {"PNG file", "not a volume format"}});
  all.push_back({"any_png_file", "case.png", png, {"PNG file", "not a volume format"}});
  all.push_back({"dicom_folder_without_dicom", "series", [](const fs::path&, const fs::path& t) {
                   fs::create_directories(t);
                   spit(t / "readme.txt", "no images here\n");
                 },
                 {"dicom"}});
  all.push_back({"dicom_empty_folder", "series", [](const fs::path&, const fs::path& t) { fs::create_directories(t); }, {"dicom"}});
}

inline std::vector<Malformed> corpus() {
  std::vector<Malformed> all;
  addNifti(all, ".nii");
  addNifti(all, ".nii.gz");
  addMetaImage(all);
  addNrrd(all);
  addOther(all);
  return all;
}

}  // namespace mr2ct::test::malformed
