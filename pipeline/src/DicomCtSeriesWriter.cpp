// The sCT as a DICOM CT series (see DicomCtSeriesWriter.h). GDCM's low-level DataSet/Writer is used
// on purpose instead of ITK's GDCMImageIO series path: that one regenerates Study/Series UIDs unless
// told otherwise, rewrites slope/intercept for integer pixels and gives every slice its own series.
#include "mr2ct/pipeline/DicomCtSeriesWriter.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>
#include <map>
#include <random>
#include <set>

#include <gdcmAttribute.h>
#include <gdcmDataElement.h>
#include <gdcmDirectory.h>
#include <gdcmItem.h>
#include <gdcmReader.h>
#include <gdcmScanner.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmWriter.h>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/core/Log.h"
#include "mr2ct/core/OutputGuard.h"
#include "mr2ct/core/Text.h"

namespace mr2ct {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCtImageStorage = "1.2.840.10008.5.1.4.1.1.2";
const std::set<std::string> kPatientPositions{"HFP", "HFS", "HFDR", "HFDL", "FFDR", "FFDL", "FFP", "FFS",
                                              "LFP", "LFS", "RFP", "RFS", "AFDR", "AFDL", "PFDR", "PFDL"};

bool isAscii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

/// Sets a text element (padded to even length: UI with NUL, others with space).
void put(gdcm::DataSet& ds, uint16_t group, uint16_t element, gdcm::VR vr, std::string value) {
  if (value.size() % 2) value += vr == gdcm::VR::UI ? '\0' : ' ';
  gdcm::DataElement de(gdcm::Tag(group, element));
  de.SetVR(vr);
  de.SetByteValue(value.data(), uint32_t(value.size()));
  ds.Replace(de);
}

/// Adds an empty element (type 2: present, no value) unless the tag is already there.
void putEmptyIfMissing(gdcm::DataSet& ds, uint16_t group, uint16_t element, gdcm::VR vr) {
  if (!ds.FindDataElement(gdcm::Tag(group, element))) put(ds, group, element, vr, "");
}

void putSequence(gdcm::DataSet& ds, uint16_t group, uint16_t element, const std::vector<gdcm::DataSet>& items) {
  gdcm::SmartPointer<gdcm::SequenceOfItems> sq = new gdcm::SequenceOfItems;
  sq->SetLengthToUndefined();
  for (const auto& nested : items) {
    gdcm::Item item;
    item.SetVLToUndefined();
    item.SetNestedDataSet(nested);
    sq->AddItem(item);
  }
  gdcm::DataElement de(gdcm::Tag(group, element));
  de.SetVR(gdcm::VR::SQ);
  de.SetValue(*sq);
  de.SetVLToUndefined();
  ds.Replace(de);
}

std::string decimals(const Vec3& v, std::size_t n = 3) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += (i ? "\\" : "") + formatDecimalString(v[i]);
  return s;
}

struct Clock {
  std::string date, time;  // DA YYYYMMDD, TM HHMMSS.ffffff (local time, as DICOM means it)
};

Clock now() {
  const auto tp = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(tp);
  std::tm tm{};
  localtime_r(&t, &tm);
  char d[16], h[32];
  std::strftime(d, sizeof d, "%Y%m%d", &tm);
  const long micros = long(std::chrono::duration_cast<std::chrono::microseconds>(tp.time_since_epoch()).count() % 1000000);
  std::snprintf(h, sizeof h, "%02d%02d%02d.%06ld", tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
  return {d, h};
}


/// The elements copied verbatim from a DICOM MR: Patient, Patient Study and General Study modules,
/// Frame of Reference, PatientPosition, and the character set their text is encoded in.
const std::vector<gdcm::Tag>& copiedFromMr() {
  static const std::vector<gdcm::Tag> tags{
      {0x0008, 0x0005},  // SpecificCharacterSet
      {0x0010, 0x0010}, {0x0010, 0x0020}, {0x0010, 0x0021}, {0x0010, 0x0030}, {0x0010, 0x0040},
      {0x0010, 0x1000}, {0x0010, 0x1001}, {0x0010, 0x2160}, {0x0010, 0x4000}, {0x0012, 0x0062},
      {0x0012, 0x0063}, {0x0010, 0x1010}, {0x0010, 0x1020}, {0x0010, 0x1030},  // patient, patient study
      {0x0020, 0x000D}, {0x0008, 0x0020}, {0x0008, 0x0030}, {0x0008, 0x0090}, {0x0020, 0x0010},
      {0x0008, 0x0050}, {0x0008, 0x1030}, {0x0008, 0x1048}, {0x0008, 0x1060},  // general study
      {0x0020, 0x0052}, {0x0020, 0x1040},  // frame of reference
      {0x0018, 0x5100}, {0x0020, 0x0060}};  // PatientPosition, Laterality
  return tags;
}

std::string elementText(const gdcm::DataSet& ds, uint16_t group, uint16_t element) {
  const gdcm::Tag tag(group, element);
  if (!ds.FindDataElement(tag)) return "";
  const gdcm::ByteValue* bv = ds.GetDataElement(tag).GetByteValue();
  return bv ? trimDicomPadding(std::string(bv->GetPointer(), bv->GetLength())) : "";
}

/// A --patient-id/--patient-name that contradicts the DICOM MR's is a mistake: the sCT keeps the MR's.
void checkPatientOptions(const gdcm::DataSet& mr, const DicomSeriesOptions& o, const fs::path& file) {
  const std::string mrId = elementText(mr, 0x0010, 0x0020), mrName = elementText(mr, 0x0010, 0x0010);
  if (!o.patientId.empty() && o.patientId != mrId)
    throw OptionError("{patientId} '" + o.patientId + "' differs from the MR's PatientID '" + mrId + "' (" +
                     file.string() + "); the sCT keeps the MR's patient");
  if (!o.patientName.empty() && o.patientName != mrName)
    throw OptionError("{patientName} '" + o.patientName + "' differs from the MR's PatientName '" + mrName + "' (" +
                     file.string() + "); the sCT keeps the MR's patient");
}

gdcm::DataSet readHeader(const fs::path& file) {
  gdcm::Reader reader;
  reader.SetFileName(file.string().c_str());
  if (!reader.ReadUpToTag(gdcm::Tag(0x7fe0, 0x0010), std::set<gdcm::Tag>{}))
    throw IoError(file.string(), "cannot read the MR's DICOM header");
  return reader.GetFile().GetDataSet();
}

/// Patient, study and frame of reference copied from the DICOM MR (a patient option must agree with
/// it). Returns the MR's character set.
std::string putFromMr(gdcm::DataSet& ds, const DicomSeriesOptions& o, const DicomSourceSeries& source) {
  const gdcm::DataSet mr = readHeader(source.firstFile);
  for (const auto& tag : copiedFromMr())
    if (mr.FindDataElement(tag)) ds.Replace(mr.GetDataElement(tag));
  const std::string charset = elementText(mr, 0x0008, 0x0005);
  checkPatientOptions(mr, o, source.firstFile);
  if (elementText(mr, 0x0020, 0x000D).empty()) {
    spdlog::warn("{}: the MR has no StudyInstanceUID; the sCT gets a new study", source.firstFile.string());
    put(ds, 0x0020, 0x000D, gdcm::VR::UI, newUuidDerivedUid());
  }
  if (elementText(mr, 0x0020, 0x0052).empty()) {
    spdlog::warn("{}: the MR has no FrameOfReferenceUID; the sCT gets a new frame of reference",
                 source.firstFile.string());
    put(ds, 0x0020, 0x0052, gdcm::VR::UI, newUuidDerivedUid());
  }
  if (!o.patientPosition.empty()) put(ds, 0x0018, 0x5100, gdcm::VR::CS, o.patientPosition);
  return charset;
}

/// A new study on a new frame of reference: the MR file carries no DICOM identity to join.
/// Returns the character set (command-line text is UTF-8).
std::string putNewStudy(gdcm::DataSet& ds, const DicomSeriesOptions& o, const Clock& clock) {
  put(ds, 0x0010, 0x0010, gdcm::VR::PN, o.patientName);
  put(ds, 0x0010, 0x0020, gdcm::VR::LO, o.patientId);
  put(ds, 0x0020, 0x000D, gdcm::VR::UI, newUuidDerivedUid());
  put(ds, 0x0008, 0x0020, gdcm::VR::DA, clock.date);  // the study is created now, by this conversion
  put(ds, 0x0008, 0x0030, gdcm::VR::TM, clock.time);
  put(ds, 0x0020, 0x0052, gdcm::VR::UI, newUuidDerivedUid());
  put(ds, 0x0018, 0x5100, gdcm::VR::CS, o.patientPosition);  // empty (type 2) unless given
  return "ISO_IR 192";
}

/// Type 2 elements of the Patient, General Study and Frame of Reference modules, empty when unknown.
void putMissingType2(gdcm::DataSet& ds) {
  putEmptyIfMissing(ds, 0x0010, 0x0010, gdcm::VR::PN);
  putEmptyIfMissing(ds, 0x0010, 0x0020, gdcm::VR::LO);
  putEmptyIfMissing(ds, 0x0010, 0x0030, gdcm::VR::DA);
  putEmptyIfMissing(ds, 0x0010, 0x0040, gdcm::VR::CS);
  putEmptyIfMissing(ds, 0x0008, 0x0020, gdcm::VR::DA);
  putEmptyIfMissing(ds, 0x0008, 0x0030, gdcm::VR::TM);
  putEmptyIfMissing(ds, 0x0008, 0x0090, gdcm::VR::PN);
  putEmptyIfMissing(ds, 0x0020, 0x0010, gdcm::VR::SH);
  putEmptyIfMissing(ds, 0x0008, 0x0050, gdcm::VR::SH);
  putEmptyIfMissing(ds, 0x0020, 0x1040, gdcm::VR::LO);
  putEmptyIfMissing(ds, 0x0018, 0x5100, gdcm::VR::CS);
  putEmptyIfMissing(ds, 0x0020, 0x0060, gdcm::VR::CS);  // Laterality (2C): empty, the body part is unknown
}

/// General Series, General Equipment, CT Image, VOI LUT, SOP Common.
void putCtSeries(gdcm::DataSet& ds, const DicomSeriesOptions& o, const DicomDerivation& d, const std::string& seriesUid,
                 const Clock& clock, bool utf8) {
  put(ds, 0x0008, 0x0016, gdcm::VR::UI, kCtImageStorage);
  put(ds, 0x0008, 0x0060, gdcm::VR::CS, "CT");
  put(ds, 0x0020, 0x000E, gdcm::VR::UI, seriesUid);
  put(ds, 0x0020, 0x0011, gdcm::VR::IS, std::to_string(o.seriesNumber));
  put(ds, 0x0008, 0x103E, gdcm::VR::LO, o.seriesDescription);
  put(ds, 0x0008, 0x0021, gdcm::VR::DA, clock.date);
  put(ds, 0x0008, 0x0031, gdcm::VR::TM, clock.time);
  put(ds, 0x0008, 0x0012, gdcm::VR::DA, clock.date);  // InstanceCreationDate/Time
  put(ds, 0x0008, 0x0013, gdcm::VR::TM, clock.time);
  put(ds, 0x0008, 0x0023, gdcm::VR::DA, clock.date);  // ContentDate/Time: when the sCT was made
  put(ds, 0x0008, 0x0033, gdcm::VR::TM, clock.time);
  put(ds, 0x0008, 0x0070, gdcm::VR::LO, "mr2ct");
  put(ds, 0x0008, 0x1090, gdcm::VR::LO, "mr2ct synthetic CT");
  put(ds, 0x0018, 0x1020, gdcm::VR::LO, std::string("mr2ct ") + MR2CT_VERSION);
  put(ds, 0x0008, 0x0008, gdcm::VR::CS, "DERIVED\\SECONDARY\\AXIAL");
  std::string description = d.description.substr(0, 1024);  // ST holds 1024 characters
  if (!utf8 && !isAscii(description)) description = "synthetic CT from MR by mr2ct";
  put(ds, 0x0008, 0x2111, gdcm::VR::ST, description);
  put(ds, 0x0018, 0x0060, gdcm::VR::DS, "");  // KVP (type 2): no X-ray tube made this image
  put(ds, 0x0020, 0x0012, gdcm::VR::IS, "");  // AcquisitionNumber (type 2)
  gdcm::Attribute<0x0028, 0x0002> samples{1};
  ds.Replace(samples.GetAsDataElement());
  put(ds, 0x0028, 0x0004, gdcm::VR::CS, "MONOCHROME2");
  gdcm::Attribute<0x0028, 0x0100> allocated{16};
  gdcm::Attribute<0x0028, 0x0101> stored{16};
  gdcm::Attribute<0x0028, 0x0102> high{15};
  gdcm::Attribute<0x0028, 0x0103> representation{1};
  ds.Replace(allocated.GetAsDataElement());
  ds.Replace(stored.GetAsDataElement());
  ds.Replace(high.GetAsDataElement());
  ds.Replace(representation.GetAsDataElement());
  put(ds, 0x0028, 0x1052, gdcm::VR::DS, "0");
  put(ds, 0x0028, 0x1053, gdcm::VR::DS, "1");
  put(ds, 0x0028, 0x1054, gdcm::VR::LO, "HU");
  put(ds, 0x0028, 0x1050, gdcm::VR::DS, formatDecimalString(o.windowCenter));
  put(ds, 0x0028, 0x1051, gdcm::VR::DS, formatDecimalString(o.windowWidth));
  put(ds, 0x0028, 0x1055, gdcm::VR::LO, "SOFT TISSUE");
  put(ds, 0x0028, 0x2110, gdcm::VR::CS, "00");  // LossyImageCompression: none
}

/// The series-wide elements (everything but the per-slice ones) of the sCT series.
gdcm::DataSet seriesTemplate(const DicomSeriesOptions& o, const DicomDerivation& d, const std::string& seriesUid,
                             const Clock& clock) {
  gdcm::DataSet ds;
  const std::string charset = d.source ? putFromMr(ds, o, *d.source) : putNewStudy(ds, o, clock);
  if (!charset.empty()) put(ds, 0x0008, 0x0005, gdcm::VR::CS, charset);
  const bool utf8 = charset.find("ISO_IR 192") != std::string::npos;
  if (!utf8 && !isAscii(o.seriesDescription))
    throw OptionError("{seriesDescription}: the MR's character set '" + charset +
                     "' cannot carry non-ASCII text; use ASCII");
  putMissingType2(ds);
  putCtSeries(ds, o, d, seriesUid, clock, utf8);
  return ds;
}

/// The MR instance at slice position `p` (within half a slice), if the MR series has one.
const DicomSourceInstance* matchingInstance(const DicomSourceSeries& s, const Vec3& p, double halfSlice) {
  const DicomSourceInstance* best = nullptr;
  double bestDistance = halfSlice;
  for (const auto& i : s.instances) {
    const Vec3 d{i.position[0] - p[0], i.position[1] - p[1], i.position[2] - p[2]};
    const double distance = std::sqrt(dot(d, d));
    if (distance <= bestDistance) {
      bestDistance = distance;
      best = &i;
    }
  }
  return best;
}

gdcm::DataSet referenceItem(const DicomSourceInstance& i) {
  gdcm::DataSet item;
  put(item, 0x0008, 0x1150, gdcm::VR::UI, i.sopClassUid);
  put(item, 0x0008, 0x1155, gdcm::VR::UI, i.sopInstanceUid);
  return item;
}

void removeQuietly(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
}

/// What every slice takes from the volume's grid.
struct SliceLayout {
  Vec3 sliceDir, normal;
  std::string orientation, pixelSpacing;
  int width;  // digits of the file numbers
};

SliceLayout sliceLayout(const Geometry& g) {
  const Vec3 rowDir{g.direction[0], g.direction[3], g.direction[6]};  // voxel axis x: along a row
  const Vec3 colDir{g.direction[1], g.direction[4], g.direction[7]};  // voxel axis y: down a column
  SliceLayout l;
  l.sliceDir = {g.direction[2], g.direction[5], g.direction[8]};
  l.normal = cross(rowDir, colDir);
  l.orientation = decimals(rowDir) + "\\" + decimals(colDir);
  l.pixelSpacing = formatDecimalString(g.spacing[1]) + "\\" + formatDecimalString(g.spacing[0]);
  l.width = std::max(4, int(std::to_string(g.size[2]).size()));
  return l;
}

/// SourceImageSequence and ReferencedSeriesSequence of a slice: the MR instance at its position.
void putSourceReference(gdcm::DataSet& ds, const DicomSourceSeries& source, const Vec3& position, double halfSlice) {
  const auto* mr = matchingInstance(source, position, halfSlice);
  if (!mr) return;
  gdcm::DataSet sourceItem = referenceItem(*mr);
  gdcm::DataSet purpose;
  put(purpose, 0x0008, 0x0100, gdcm::VR::SH, "121322");
  put(purpose, 0x0008, 0x0102, gdcm::VR::SH, "DCM");
  put(purpose, 0x0008, 0x0104, gdcm::VR::LO, "Source image for image processing operation");
  putSequence(sourceItem, 0x0040, 0xA170, {purpose});
  putSequence(ds, 0x0008, 0x2112, {sourceItem});  // SourceImageSequence
  gdcm::DataSet series;
  put(series, 0x0020, 0x000E, gdcm::VR::UI, source.seriesInstanceUid);
  putSequence(series, 0x0008, 0x114A, {referenceItem(*mr)});  // ReferencedInstanceSequence
  putSequence(ds, 0x0008, 0x1115, {series});                  // ReferencedSeriesSequence
}

/// Slice k of `hu` as `folder`/CT<k+1>.dcm; `pixels` is the slice buffer, reused.
void writeSlice(const Volume& hu, std::size_t k, const gdcm::DataSet& base, const SliceLayout& layout,
                const DicomDerivation& derivation, std::vector<int16_t>& pixels, const fs::path& folder) {
  const Geometry& g = hu.geometry();
  const std::size_t nx = g.size[0], ny = g.size[1];
  gdcm::Writer writer;
  gdcm::File& file = writer.GetFile();
  file.GetHeader().SetDataSetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  gdcm::DataSet& ds = file.GetDataSet();
  ds = base;
  const Vec3& sliceDir = layout.sliceDir;
  const Vec3 position{g.origin[0] + sliceDir[0] * g.spacing[2] * double(k),
                      g.origin[1] + sliceDir[1] * g.spacing[2] * double(k),
                      g.origin[2] + sliceDir[2] * g.spacing[2] * double(k)};
  put(ds, 0x0008, 0x0018, gdcm::VR::UI, newUuidDerivedUid());
  put(ds, 0x0020, 0x0013, gdcm::VR::IS, std::to_string(k + 1));
  put(ds, 0x0020, 0x0032, gdcm::VR::DS, decimals(position));
  put(ds, 0x0020, 0x0037, gdcm::VR::DS, layout.orientation);
  put(ds, 0x0028, 0x0030, gdcm::VR::DS, layout.pixelSpacing);
  put(ds, 0x0018, 0x0050, gdcm::VR::DS, formatDecimalString(g.spacing[2]));
  put(ds, 0x0018, 0x0088, gdcm::VR::DS, formatDecimalString(g.spacing[2]));  // SpacingBetweenSlices
  put(ds, 0x0020, 0x1041, gdcm::VR::DS, formatDecimalString(dot(position, layout.normal)));
  gdcm::Attribute<0x0028, 0x0010> rows{uint16_t(ny)};
  gdcm::Attribute<0x0028, 0x0011> columns{uint16_t(nx)};
  ds.Replace(rows.GetAsDataElement());
  ds.Replace(columns.GetAsDataElement());
  if (derivation.source) putSourceReference(ds, *derivation.source, position, 0.5 * g.spacing[2]);
  const float* src = hu.data() + k * nx * ny;
  for (std::size_t i = 0; i < nx * ny; ++i) {
    const double r = std::nearbyint(double(src[i]));
    pixels[i] = std::isfinite(r) ? int16_t(std::clamp(r, -32768.0, 32767.0)) : int16_t(0);
  }
  gdcm::DataElement pixelData(gdcm::Tag(0x7fe0, 0x0010));
  pixelData.SetVR(gdcm::VR::OW);
  pixelData.SetByteValue(reinterpret_cast<const char*>(pixels.data()), uint32_t(pixels.size() * sizeof(int16_t)));
  ds.Replace(pixelData);

  std::string number = std::to_string(k + 1);
  number.insert(0, std::size_t(std::max(0, layout.width - int(number.size()))), '0');
  const fs::path slicePath = folder / ("CT" + number + ".dcm");
  writer.SetFileName(slicePath.string().c_str());
  if (!writer.Write()) throw IoError(slicePath.string(), "cannot write the DICOM file (disk full or not writable?)");
}

/// Into place: an absent or empty target is replaced by rename; a non-empty one only with
/// --overwrite (checked before), moved aside first so that it is never half-replaced.
void moveIntoPlace(const fs::path& tmp, const fs::path& dir, const fs::path& parent, const std::string& tag) {
  std::error_code ec;
  fs::path old;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    old = parent / ("." + dir.filename().string() + ".old-" + tag);
    fs::rename(dir, old);
  }
  fs::rename(tmp, dir);
  if (!old.empty()) removeQuietly(old);
}

}  // namespace

void DicomSeriesOptions::validate() const {
  if (seriesDescription.size() > 64) throw OptionError("{seriesDescription}: at most 64 characters (DICOM LO)");
  if (seriesNumber < 0 || seriesNumber > 2147483647) throw OptionError("{seriesNumber} must be 0 .. 2^31-1");
  if (patientId.size() > 64) throw OptionError("{patientId}: at most 64 characters (DICOM LO)");
  if (patientName.size() > 320) throw OptionError("{patientName}: at most 320 characters (DICOM PN)");
  for (const auto* s : {&seriesDescription, &patientId, &patientName})
    if (s->find('\\') != std::string::npos || s->find('\n') != std::string::npos)
      throw UsageError("DICOM text options may not contain a backslash or a line break ('" + *s + "')");
  if (!patientPosition.empty() && !kPatientPositions.count(patientPosition))
    throw OptionError("{patientPosition} '" + patientPosition + "': use a DICOM term such as HFS, HFP, FFS, FFP");
  if (!(windowWidth >= 1) || !std::isfinite(windowCenter)) throw UsageError("the CT window needs width >= 1");
}

std::string newUuidDerivedUid() {
  static thread_local std::mt19937_64 rng([] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }());
  unsigned __int128 u = (static_cast<unsigned __int128>(rng()) << 64) | rng();
  // UUID version 4 (random) and the RFC 4122 variant, as X.667 expects of a 2.25 UID.
  u &= ~(static_cast<unsigned __int128>(0xF) << 76);
  u |= static_cast<unsigned __int128>(0x4) << 76;
  u &= ~(static_cast<unsigned __int128>(0x3) << 62);
  u |= static_cast<unsigned __int128>(0x2) << 62;
  std::string digits;
  do {
    digits.insert(digits.begin(), char('0' + int(u % 10)));
    u /= 10;
  } while (u != 0);
  return "2.25." + digits;
}

std::string formatDecimalString(double value) {
  if (!std::isfinite(value)) throw DataError("DICOM", "a non-finite decimal value cannot be written");
  if (value == 0) return "0";
  char buf[64];
  for (int precision = 16; precision > 0; --precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    if (std::strlen(buf) <= 16) return buf;
  }
  throw DataError("DICOM", "decimal value out of range for DS: " + std::to_string(value));
}

DicomSourceSeries readDicomSourceSeries(const fs::path& dir, const std::string& series) {
  gdcm::Directory directory;
  directory.Load(dir.string(), false);
  const gdcm::Tag seriesUidTag(0x0020, 0x000E), seriesNumberTag(0x0020, 0x0011), sopClassTag(0x0008, 0x0016),
      sopInstanceTag(0x0008, 0x0018), positionTag(0x0020, 0x0032);
  gdcm::Scanner scanner;
  for (const auto& t : {seriesUidTag, seriesNumberTag, sopClassTag, sopInstanceTag, positionTag}) scanner.AddTag(t);
  if (!scanner.Scan(directory.GetFilenames())) throw IoError(dir.string(), "cannot scan the DICOM folder");
  std::map<std::string, std::vector<std::string>> bySeries;
  std::map<std::string, std::string> numberOf;
  for (const auto& file : directory.GetFilenames()) {
    if (!scanner.IsKey(file.c_str())) continue;  // not DICOM
    const char* uid = scanner.GetValue(file.c_str(), seriesUidTag);
    if (!uid) continue;
    const std::string u = trimDicomPadding(uid);
    bySeries[u].push_back(file);
    const char* number = scanner.GetValue(file.c_str(), seriesNumberTag);
    if (number) numberOf[u] = trimDicomPadding(number);
  }
  std::string chosen;
  for (const auto& [uid, files] : bySeries) {
    const bool match = series.empty() ? bySeries.size() == 1
                                      : uid == series || series.rfind(uid, 0) == 0 || numberOf[uid] == series;
    if (match) {
      if (!chosen.empty()) throw DataError(dir.string(), "series '" + series + "' matches several DICOM series");
      chosen = uid;
    }
  }
  if (chosen.empty())
    throw DataError(dir.string(), series.empty() ? "no single DICOM series to reference (use --dicom-series)"
                                                 : "no DICOM series '" + series + "'");
  DicomSourceSeries s;
  s.seriesInstanceUid = chosen;
  auto files = bySeries[chosen];
  std::sort(files.begin(), files.end());
  s.firstFile = files.front();
  for (const auto& f : files) {
    DicomSourceInstance i;
    const char* cls = scanner.GetValue(f.c_str(), sopClassTag);
    const char* inst = scanner.GetValue(f.c_str(), sopInstanceTag);
    const char* pos = scanner.GetValue(f.c_str(), positionTag);
    if (!cls || !inst) continue;  // nothing to reference
    i.sopClassUid = trimDicomPadding(cls);
    i.sopInstanceUid = trimDicomPadding(inst);
    if (!pos || std::sscanf(pos, "%lf\\%lf\\%lf", &i.position[0], &i.position[1], &i.position[2]) != 3)
      i.position = {std::nan(""), std::nan(""), std::nan("")};  // never matches a slice
    s.instances.push_back(i);
  }
  return s;
}

void checkPatientOptionsAgainst(const DicomSourceSeries& source, const DicomSeriesOptions& options) {
  checkPatientOptions(readHeader(source.firstFile), options, source.firstFile);
}

fs::path seriesFolderPath(const fs::path& path) {
  const fs::path p = path.lexically_normal();
  return p.has_filename() ? p : p.parent_path();  // "sct/" names the folder "sct"
}

void checkDicomSeriesTarget(const fs::path& path, const DicomSeriesOptions& options) {
  const fs::path dir = seriesFolderPath(path);
  const fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) throw IoError(dir.string(), "output folder " + parent.string() + " does not exist");
  if (::access(parent.c_str(), W_OK | X_OK) != 0) throw IoError(parent.string(), "not writable");
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec))
      throw IoError(dir.string(), "exists and is not a folder (a DICOM series is written as a folder)");
    if (!fs::is_empty(dir, ec) && !options.overwrite)
      throw IoError(dir.string(), "folder exists and is not empty (give --overwrite to replace it)");
  }
}

std::string writeDicomCtSeries(const Volume& hu, const fs::path& path, const DicomSeriesOptions& options,
                               const DicomDerivation& derivation) {
  const fs::path dir = seriesFolderPath(path);
  options.validate();
  checkDicomSeriesTarget(dir, options);
  const Geometry& g = hu.geometry();
  g.validate(dir.string());
  if (g.size[0] > 65535 || g.size[1] > 65535) throw DataError(dir.string(), "slices larger than 65535 (DICOM US)");

  static std::atomic<unsigned> counter{0};
  const fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  const std::string tag = std::to_string(::getpid()) + "-" + std::to_string(counter++);
  // Named as temporarySibling names files, so that the next run removes it if this one is killed.
  removeStaleTemporaries(dir);
  const fs::path tmp = parent / ("." + stemBeforeExtension(dir) + ".tmp-" + tag + fullExtension(dir));
  fs::create_directory(tmp);
  try {
    const Clock clock = now();
    const std::string seriesUid = newUuidDerivedUid();
    const gdcm::DataSet base = seriesTemplate(options, derivation, seriesUid, clock);
    const SliceLayout layout = sliceLayout(g);
    std::vector<int16_t> pixels(g.size[0] * g.size[1]);
    for (std::size_t k = 0; k < g.size[2]; ++k) writeSlice(hu, k, base, layout, derivation, pixels, tmp);
    moveIntoPlace(tmp, dir, parent, tag);
    return seriesUid;
  } catch (...) {
    removeQuietly(tmp);
    throw;
  }
}

}  // namespace mr2ct
