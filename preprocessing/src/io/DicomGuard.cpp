#include "DicomGuard.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

namespace mr2ct::detail {

namespace {

constexpr std::uint32_t kUndefined = 0xffffffffu;

std::string tagName(std::uint16_t g, std::uint16_t e) {
  char s[16];
  std::snprintf(s, sizeof s, "(%04x,%04x)", g, e);
  return s;
}

bool isVr(const unsigned char* p) { return p[0] >= 'A' && p[0] <= 'Z' && p[1] >= 'A' && p[1] <= 'Z'; }

bool longVr(const unsigned char* p) {
  static const char* const kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"};
  for (const char* v : kLong)
    if (p[0] == v[0] && p[1] == v[1]) return true;
  return false;
}

/// The value representations of PS3.5 6.2; GDCM reads any other pair of letters as a VR with a
/// 4-byte length, which in a file meta group runs its reader past the end (and into an assert).
bool standardVr(const unsigned char* p) {
  static const char* const kAll[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO",
                                     "LT", "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ",
                                     "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"};
  for (const char* v : kAll)
    if (p[0] == v[0] && p[1] == v[1]) return true;
  return false;
}

class Walker {
 public:
  explicit Walker(std::vector<unsigned char> bytes) : b_(std::move(bytes)) {}

  std::string run() {
    std::size_t pos = 0;
    if (b_.size() >= 132 && std::memcmp(b_.data() + 128, "DICM", 4) == 0) pos = 132;
    // File meta group: explicit VR little endian by the standard; GDCM also reads implicit-VR
    // meta groups ("compat"). Its meta reader asserts (aborting the process with Debian's GDCM)
    // when a tag, a length or the tag after the group runs past the end of the file, so those
    // are refused here (fuzz_dicom_series: gdcmFileMetaInformation.cxx lines 425, 436, 487).
    std::string syntax;
    const std::size_t metaStart = pos;
    while (pos + 4 <= b_.size() && u16(pos, false) == 0x0002) {
      const std::size_t start = pos;
      if (pos + 8 > b_.size())
        return "file meta information element " + tagName(0x0002, u16(pos + 2, false)) + " at byte " +
               std::to_string(pos) + " runs past the end of the file (truncated or corrupt)";
      const bool explicitVr = isVr(b_.data() + pos + 4);
      if (explicitVr && !standardVr(b_.data() + pos + 4))
        return "file meta information element " + tagName(0x0002, u16(pos + 2, false)) + " at byte " +
               std::to_string(pos) + " has the non-standard value representation '" +
               std::string(reinterpret_cast<const char*>(b_.data() + pos + 4), 2) + "' (corrupt)";
      std::uint32_t len = 0;
      if (!header(pos, explicitVr, false, len)) return problem_;
      if (len == kUndefined)  // no meta element is a sequence; GDCM asserts on it
        return "file meta information element " + tagName(0x0002, u16(start + 2, false)) + " at byte " +
               std::to_string(start) + " has an undefined length (corrupt)";
      if (len > b_.size() - pos) return tooLong(start, len, pos);
      if (u16(start + 2, false) == 0x0010) syntax.assign(reinterpret_cast<const char*>(b_.data() + pos), len);
      pos += len;
    }
    // Less than one element header after the meta group (or right after the DICM preamble):
    // GDCM's reader asserts on the stream state (gdcmReader.cxx:385).
    if ((pos > metaStart || metaStart == 132) && b_.size() - pos < 8)
      return "the file ends after its file meta information, at byte " + std::to_string(pos) +
             ", without a data set (truncated or corrupt)";
    while (!syntax.empty() && (syntax.back() == '\0' || syntax.back() == ' ')) syntax.pop_back();
    if (syntax == "1.2.840.10008.1.2.1.99") return "";  // deflated: the data set is compressed
    bool explicitVr = syntax != "1.2.840.10008.1.2";
    const bool bigEndian = be_ = syntax == "1.2.840.10008.1.2.2";
    if (syntax.empty() && pos + 6 <= b_.size()) explicitVr = isVr(b_.data() + pos + 4);  // no meta: guess as GDCM does
    return dataSet(pos, explicitVr, bigEndian);
  }

 private:
  std::uint16_t u16(std::size_t at, bool be) const {
    return be ? std::uint16_t(b_[at] << 8 | b_[at + 1]) : std::uint16_t(b_[at] | b_[at + 1] << 8);
  }
  std::uint32_t u32(std::size_t at, bool be) const {
    return be ? std::uint32_t(b_[at]) << 24 | std::uint32_t(b_[at + 1]) << 16 | std::uint32_t(b_[at + 2]) << 8 | b_[at + 3]
              : std::uint32_t(b_[at]) | std::uint32_t(b_[at + 1]) << 8 | std::uint32_t(b_[at + 2]) << 16 |
                    std::uint32_t(b_[at + 3]) << 24;
  }

  std::string tooLong(std::size_t start, std::uint32_t len, std::size_t valueAt) const {
    return "element " + tagName(u16(start, be_), u16(start + 2, be_)) + " at byte " + std::to_string(start) + " claims " +
           std::to_string(len) + " bytes, " + std::to_string(b_.size() - valueAt) + " left (truncated or corrupt)";
  }

  /// Reads one element header at pos (advancing past it); len = its value length.
  bool header(std::size_t& pos, bool explicitVr, bool be, std::uint32_t& len) {
    if (pos + 8 > b_.size()) {
      problem_ = "element header at byte " + std::to_string(pos) + " runs past the end of the file";
      return false;
    }
    const std::uint16_t g = u16(pos, be);
    if (g == 0xfffe || !explicitVr || !isVr(b_.data() + pos + 4)) {  // items, implicit VR (and invalid VRs read so)
      len = u32(pos + 4, be);
      pos += 8;
      return true;
    }
    if (longVr(b_.data() + pos + 4)) {
      if (pos + 12 > b_.size()) {
        problem_ = "element header at byte " + std::to_string(pos) + " runs past the end of the file";
        return false;
      }
      len = u32(pos + 8, be);
      pos += 12;
      return true;
    }
    len = u16(pos + 6, be);
    pos += 8;
    return true;
  }

  std::string dataSet(std::size_t pos, bool explicitVr, bool be) {
    std::size_t elements = 0;
    while (pos < b_.size()) {
      if (++elements > 10'000'000) return "";  // enough checked
      if (b_.size() - pos < 8) return "";  // trailing padding: GDCM's business
      const std::size_t start = pos;
      const std::uint16_t g = u16(pos, be), e = u16(pos + 2, be);
      // GDCM's recovery from a missing VR in an explicit-VR data set allocates without end
      // (pydicom's SC_rgb_jpeg.dcm: minutes, gigabytes); dcmtk reports such files corrupt too.
      if (explicitVr && g != 0xfffe && !isVr(b_.data() + pos + 4))
        return "element " + tagName(g, e) + " at byte " + std::to_string(start) +
               " has no value representation in an explicit-VR data set (corrupt)";
      std::uint32_t len = 0;
      if (!header(pos, explicitVr, be, len)) return problem_;
      if (g == 0xfffe) {  // item or delimiter: its content (if any) is elements, walked next
        if (len != kUndefined && e == 0xe000 && len > b_.size() - pos) return tooLong(start, len, pos);
        continue;
      }
      // Pixel data is not the end: GDCM reads (and allocates) whatever elements follow it.
      if (g == 0x7fe0 && e == 0x0010) {
        if (len == kUndefined) {
          if (std::string bad = fragments(pos, be); !bad.empty()) return bad;
          continue;
        }
        if (len > b_.size() - pos) return tooLong(start, len, pos);
        pos += len;
        continue;
      }
      if (len == kUndefined) continue;  // a sequence (or UN of undefined length): its items follow
      if (len > b_.size() - pos) return tooLong(start, len, pos);
      // A value that starts like an item is a sequence (implicit VR, or UN): walk into it.
      if (len >= 8 && u16(pos, be) == 0xfffe && u16(pos + 2, be) == 0xe000) continue;
      pos += len;
    }
    return "";
  }

  /// Encapsulated pixel data: items of raw bytes up to the sequence delimiter; pos ends after it.
  std::string fragments(std::size_t& pos, bool be) {
    while (pos + 8 <= b_.size()) {
      const std::size_t start = pos;
      const std::uint16_t g = u16(pos, be), e = u16(pos + 2, be);
      const std::uint32_t len = u32(pos + 4, be);
      pos += 8;
      if (e == 0xe0dd && g == 0xfffe) return "";  // the sequence delimiter: the data set goes on
      if (g != 0xfffe) {  // not an item: no telling where the data set resumes; GDCM's business
        pos = b_.size();
        return "";
      }
      if (len > b_.size() - pos) return tooLong(start, len, pos);
      pos += len;
    }
    return "";
  }

  std::vector<unsigned char> b_;
  bool be_ = false;  ///< the data set's byte order (the meta group is always little endian)
  std::string problem_;
};

}  // namespace

std::string checkDicomLengths(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return Walker(std::move(bytes)).run();
}

std::string dicomPixelDescriptionProblem(const DicomInstance& in) {
  // GDCM asserts (aborts) on these instead of reporting them (fuzz_dicom_series findings).
  const std::size_t ba = in.bitsAllocated;
  if ((ba != 8 && ba != 16 && ba != 32) || in.bitsStored < 1 || in.bitsStored > ba || in.highBit >= ba)
    return "has missing or inconsistent pixel bits (allocated " + std::to_string(in.bitsAllocated) + ", stored " +
           std::to_string(in.bitsStored) + ", high bit " + std::to_string(in.highBit) + ")";
  const std::string& rc = in.recognitionCode;
  if (!rc.empty() && rc.rfind("ACR-NEMA", 0) != 0 && rc.rfind("ACRNEMA", 0) != 0 && rc.rfind("MIPS 2.0", 0) != 0)
    return "has a Recognition Code (0008,0010) that is not ACR-NEMA's";
  // Anything else reaches GDCM's palette and colour paths, which assert (abort) on
  // inconsistent files (fuzz_dicom_series: gdcmPixmapReader.cxx:960 on 'PALETTE COL').
  if (!in.photometric.empty() && in.photometric != "MONOCHROME1" && in.photometric != "MONOCHROME2") {
    std::string shown = in.photometric.substr(0, 32);
    for (char& c : shown)
      if (c < 0x20 || c > 0x7e) c = '?';
    return "has the photometric interpretation '" + shown +
           "'; a grey-scale image (MONOCHROME1 or MONOCHROME2) is needed";
  }
  return "";
}

}  // namespace mr2ct::detail
