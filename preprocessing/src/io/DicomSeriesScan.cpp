#include "DicomSeriesScan.h"
#include "DicomGuard.h"

#include <gdcmDataSet.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmStringFilter.h>
#include <gdcmUIDs.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/ProcessFence.h"
#include "mr2ct/core/Text.h"
#include "mr2ct/preprocessing/DicomSeries.h"
#include "DicomSliceGeometry.h"

namespace fs = std::filesystem;

namespace mr2ct::detail {

namespace {

/// The text of an ASCII element (UI, CS, LO, DS, IS, ...), "" when absent.
std::string text(const gdcm::DataSet& ds, const gdcm::Tag& tag) {
  if (!ds.FindDataElement(tag)) return "";
  const gdcm::ByteValue* bv = ds.GetDataElement(tag).GetByteValue();
  if (!bv || !bv->GetPointer()) return "";
  return trimDicomPadding(std::string(bv->GetPointer(), bv->GetLength()));
}

/// Backslash-separated decimal numbers; nullopt unless there are exactly N finite ones.
template <std::size_t N>
std::optional<std::array<double, N>> numbers(const std::string& s) {
  if (s.empty()) return std::nullopt;
  std::array<double, N> out{};
  std::size_t k = 0, start = 0;
  while (start <= s.size()) {
    const std::size_t end = std::min(s.find('\\', start), s.size());
    const std::string item = trimDicomPadding(s.substr(start, end - start));
    if (k == N || item.empty()) return std::nullopt;
    char* stop = nullptr;
    const double v = std::strtod(item.c_str(), &stop);
    if (stop != item.c_str() + item.size() || !std::isfinite(v)) return std::nullopt;
    out[k++] = v;
    start = end + 1;
  }
  if (k != N) return std::nullopt;
  return out;
}

double number(const std::string& s) {
  const auto v = numbers<1>(s);
  return v ? (*v)[0] : 0.0;
}

/// An unsigned integer element of any VR (US in explicit/implicit, either byte order), 0 if absent.
std::size_t count(const gdcm::StringFilter& filter, const gdcm::DataSet& ds, const gdcm::Tag& tag) {
  if (!ds.FindDataElement(tag)) return 0;
  const std::string s = trimDicomPadding(filter.ToString(tag));
  char* stop = nullptr;
  const long long v = std::strtoll(s.c_str(), &stop, 10);
  if (s.empty() || stop != s.c_str() + s.size() || v < 0 || v > (1LL << 31)) return 0;
  return std::size_t(v);
}

/// Item `index` (1-based) of a sequence, copied (GDCM may build the sequence on the fly).
std::optional<gdcm::DataSet> item(const gdcm::DataSet& ds, const gdcm::Tag& seq, std::size_t index = 1) {
  if (!ds.FindDataElement(seq)) return std::nullopt;
  const gdcm::SmartPointer<gdcm::SequenceOfItems> sq = ds.GetDataElement(seq).GetValueAsSQ();
  if (!sq || sq->GetNumberOfItems() < index) return std::nullopt;
  return sq->GetItem(index).GetNestedDataSet();
}

/// Plane fields of a classic image (or of one functional-group item set of a multi-frame one).
void readPlane(const gdcm::DataSet& ds, DicomPlane& p) {
  if (auto v = numbers<3>(text(ds, gdcm::Tag(0x0020, 0x0032)))) p.position = v;
  if (auto v = numbers<6>(text(ds, gdcm::Tag(0x0020, 0x0037)))) p.orientation = v;
  if (auto v = numbers<2>(text(ds, gdcm::Tag(0x0028, 0x0030)))) p.pixelSpacing = v;
  const auto slope = numbers<1>(text(ds, gdcm::Tag(0x0028, 0x1053)));
  const auto intercept = numbers<1>(text(ds, gdcm::Tag(0x0028, 0x1052)));
  if (slope || intercept) p.rescale = std::array<double, 2>{slope ? (*slope)[0] : 1.0, intercept ? (*intercept)[0] : 0.0};
}

/// A functional group macro of one frame: the per-frame item's, else the shared one.
std::optional<gdcm::DataSet> group(const std::optional<gdcm::DataSet>& perFrame, const std::optional<gdcm::DataSet>& shared,
                                   const gdcm::Tag& tag) {
  if (perFrame)
    if (auto g = item(*perFrame, tag)) return g;
  if (shared) return item(*shared, tag);
  return std::nullopt;
}

/// Enhanced (multi-frame) images: the plane of every frame from the functional groups. Left empty
/// (the layout then refuses the image) unless there is one per-frame item per frame.
void readFramePlanes(const gdcm::DataSet& ds, DicomInstance& in) {
  const auto shared = item(ds, gdcm::Tag(0x5200, 0x9229));
  const gdcm::SmartPointer<gdcm::SequenceOfItems> perFrameItems = ds.GetDataElement(gdcm::Tag(0x5200, 0x9230)).GetValueAsSQ();
  if (!perFrameItems || perFrameItems->GetNumberOfItems() != in.frames) return;
  in.frameplanes.resize(in.frames);
  for (std::size_t f = 0; f < in.frames; ++f) {
    DicomPlane& p = in.frameplanes[f];
    p.instanceNumber = std::to_string(f + 1);
    const std::optional<gdcm::DataSet> perFrame = perFrameItems->GetItem(f + 1).GetNestedDataSet();
    if (auto g = group(perFrame, shared, gdcm::Tag(0x0020, 0x9113))) readPlane(*g, p);  // PlanePositionSequence
    DicomPlane o;
    if (auto g = group(perFrame, shared, gdcm::Tag(0x0020, 0x9116))) readPlane(*g, o);  // PlaneOrientationSequence
    p.orientation = o.orientation;
    DicomPlane m;
    if (auto g = group(perFrame, shared, gdcm::Tag(0x0028, 0x9110))) readPlane(*g, m);  // PixelMeasuresSequence
    p.pixelSpacing = m.pixelSpacing;
    DicomPlane r;
    if (auto g = group(perFrame, shared, gdcm::Tag(0x0028, 0x9145))) readPlane(*g, r);  // PixelValueTransformation
    p.rescale = r.rescale;
    if (auto g = group(perFrame, shared, gdcm::Tag(0x0020, 0x9111))) {  // FrameContentSequence
      p.temporal = text(*g, gdcm::Tag(0x0020, 0x9128));
      p.stack = text(*g, gdcm::Tag(0x0020, 0x9056));
    }
    if (auto g = group(perFrame, shared, gdcm::Tag(0x0018, 0x9114)))  // MREchoSequence
      p.echo = text(*g, gdcm::Tag(0x0018, 0x9082));
  }
  if (shared)
    if (auto g = item(*shared, gdcm::Tag(0x0028, 0x9110))) {
      in.sliceThickness = number(text(*g, gdcm::Tag(0x0018, 0x0050)));
      in.spacingBetweenSlices = number(text(*g, gdcm::Tag(0x0018, 0x0088)));
    }
}

enum class Looks { NotDicom, Dicom, Maybe };

/// A cheap look at the first bytes, so GDCM only parses files that can be DICOM: "DICM" after the
/// 128-byte preamble, or a file starting with a group 0002/0008 tag (no preamble, little endian).
Looks looksLikeDicom(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char head[132] = {};
  in.read(head, sizeof head);
  const auto n = in.gcount();
  if (n >= 132 && std::memcmp(head + 128, "DICM", 4) == 0) return Looks::Dicom;
  return n >= 8 && (head[0] == 0x02 || head[0] == 0x08) && head[1] == 0x00 ? Looks::Maybe : Looks::NotDicom;
}

std::optional<DicomInstance> readInstance(const fs::path& path) {
  const Looks looks = looksLikeDicom(path);
  if (looks == Looks::NotDicom) return std::nullopt;
  // GDCM allocates whatever an element claims before finding the file too short (DicomGuard.h).
  if (const std::string bad = checkDicomLengths(path); !bad.empty()) {
    if (looks == Looks::Dicom) throw IoError(path.string(), "corrupt DICOM file: " + bad);
    return std::nullopt;  // no DICOM preamble: some other file
  }
  gdcm::Reader reader;
  reader.SetFileName(path.string().c_str());
  std::set<gdcm::Tag> skip{gdcm::Tag(0x7fe0, 0x0010)};
  if (!reader.ReadUpToTag(gdcm::Tag(0x7fe0, 0x0010), skip)) return std::nullopt;
  const gdcm::DataSet& ds = reader.GetFile().GetDataSet();
  DicomInstance in;
  in.path = path;
  in.seriesUid = text(ds, gdcm::Tag(0x0020, 0x000e));
  if (in.seriesUid.empty()) return std::nullopt;  // DICOMDIR and other non-series objects
  gdcm::StringFilter filter;
  filter.SetFile(reader.GetFile());
  in.seriesNumber = text(ds, gdcm::Tag(0x0020, 0x0011));
  in.description = text(ds, gdcm::Tag(0x0008, 0x103e));
  in.modality = text(ds, gdcm::Tag(0x0008, 0x0060));
  in.sopClassUid = text(ds, gdcm::Tag(0x0008, 0x0016));
  in.rows = count(filter, ds, gdcm::Tag(0x0028, 0x0010));
  in.columns = count(filter, ds, gdcm::Tag(0x0028, 0x0011));
  in.samplesPerPixel = std::max<std::size_t>(1, count(filter, ds, gdcm::Tag(0x0028, 0x0002)));
  in.photometric = text(ds, gdcm::Tag(0x0028, 0x0004));
  in.bitsAllocated = count(filter, ds, gdcm::Tag(0x0028, 0x0100));
  in.bitsStored = count(filter, ds, gdcm::Tag(0x0028, 0x0101));
  in.highBit = count(filter, ds, gdcm::Tag(0x0028, 0x0102));
  in.recognitionCode = text(ds, gdcm::Tag(0x0008, 0x0010));
  const std::string frames = text(ds, gdcm::Tag(0x0028, 0x0008));
  in.frames = frames.empty() ? 1 : std::size_t(std::max(1.0, std::min(number(frames), 1e9)));
  in.sliceThickness = number(text(ds, gdcm::Tag(0x0018, 0x0050)));
  in.spacingBetweenSlices = number(text(ds, gdcm::Tag(0x0018, 0x0088)));
  readPlane(ds, in.plane);
  in.plane.instanceNumber = text(ds, gdcm::Tag(0x0020, 0x0013));
  in.plane.echo = text(ds, gdcm::Tag(0x0018, 0x0086));
  in.plane.temporal = text(ds, gdcm::Tag(0x0020, 0x0100));
  // Multi-frame: only enhanced objects place each frame; others (e.g. a cine) keep frameplanes empty.
  if (in.frames > 1 && ds.FindDataElement(gdcm::Tag(0x5200, 0x9230))) readFramePlanes(ds, in);
  return in;
}

/// The scan's results cross from the fenced child as bytes: length-prefixed strings, raw numbers.
class Packer {
 public:
  void text(const std::string& s) {
    count(s.size());
    bytes_ += s;
  }
  void count(std::size_t n) { raw(&n, sizeof n); }
  void real(double v) { raw(&v, sizeof v); }
  template <std::size_t N>
  void reals(const std::optional<std::array<double, N>>& v) {
    count(v ? 1 : 0);
    if (v)
      for (double x : *v) real(x);
  }
  void plane(const DicomPlane& p) {
    reals(p.position);
    reals(p.orientation);
    reals(p.pixelSpacing);
    reals(p.rescale);
    for (const auto* s : {&p.instanceNumber, &p.echo, &p.temporal, &p.stack}) text(*s);
  }
  void instance(const DicomInstance& in) {
    text(in.path.string());
    for (const auto* s : {&in.seriesUid, &in.seriesNumber, &in.description, &in.modality, &in.sopClassUid,
                          &in.photometric, &in.recognitionCode})
      text(*s);
    for (std::size_t n : {in.rows, in.columns, in.frames, in.samplesPerPixel, in.bitsAllocated, in.bitsStored, in.highBit})
      count(n);
    real(in.sliceThickness);
    real(in.spacingBetweenSlices);
    plane(in.plane);
    count(in.frameplanes.size());
    for (const auto& p : in.frameplanes) plane(p);
  }
  const std::string& bytes() const { return bytes_; }

 private:
  void raw(const void* p, std::size_t n) { bytes_.append(static_cast<const char*>(p), n); }
  std::string bytes_;
};

class Unpacker {
 public:
  explicit Unpacker(const std::string& bytes) : bytes_(bytes) {}
  bool done() const { return at_ == bytes_.size(); }
  std::string text() {
    const std::size_t n = count();
    need(n);
    std::string s = bytes_.substr(at_, n);
    at_ += n;
    return s;
  }
  std::size_t count() {
    std::size_t n;
    raw(&n, sizeof n);
    return n;
  }
  double real() {
    double v;
    raw(&v, sizeof v);
    return v;
  }
  template <std::size_t N>
  std::optional<std::array<double, N>> reals() {
    if (count() == 0) return std::nullopt;
    std::array<double, N> v{};
    for (double& x : v) x = real();
    return v;
  }
  DicomPlane plane() {
    DicomPlane p;
    p.position = reals<3>();
    p.orientation = reals<6>();
    p.pixelSpacing = reals<2>();
    p.rescale = reals<2>();
    for (auto* s : {&p.instanceNumber, &p.echo, &p.temporal, &p.stack}) *s = text();
    return p;
  }
  DicomInstance instance() {
    DicomInstance in;
    in.path = text();
    for (auto* s : {&in.seriesUid, &in.seriesNumber, &in.description, &in.modality, &in.sopClassUid, &in.photometric,
                    &in.recognitionCode})
      *s = text();
    for (auto* n : {&in.rows, &in.columns, &in.frames, &in.samplesPerPixel, &in.bitsAllocated, &in.bitsStored, &in.highBit})
      *n = count();
    in.sliceThickness = real();
    in.spacingBetweenSlices = real();
    in.plane = plane();
    const std::size_t frames = count();
    need(frames);  // each frame plane takes more than a byte: bounds a corrupt count
    for (std::size_t f = 0; f < frames; ++f) in.frameplanes.push_back(plane());
    return in;
  }

 private:
  void need(std::size_t n) const {
    if (n > bytes_.size() - at_) throw Error("DICOM scan: the child process sent a truncated result");
  }
  void raw(void* p, std::size_t n) {
    need(n);
    std::memcpy(p, bytes_.data() + at_, n);
    at_ += n;
  }
  const std::string& bytes_;
  std::size_t at_ = 0;
};

}  // namespace

std::size_t DicomSeriesFiles::images() const {
  std::size_t n = 0;
  for (const auto& i : instances)
    if (i.isImage()) n += i.frames;
  return n;
}

std::string DicomSeriesFiles::label() const {
  const DicomInstance& first = instances.front();
  std::string s = "series";
  if (!first.seriesNumber.empty()) s += " " + first.seriesNumber;
  if (!first.description.empty()) s += " '" + first.description + "'";
  return s + " (" + uid + ")";
}

std::string sopClassName(const std::string& uid) {
  gdcm::UIDs u;
  if (!uid.empty() && u.SetFromUID(uid.c_str()) && u.GetName()) return u.GetName();
  return uid;
}

std::vector<DicomSeriesFiles> scanDicomFolder(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
       it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(it->path());
  if (ec) throw IoError(dir.string(), "cannot list the folder: " + ec.message());
  std::sort(files.begin(), files.end());
  // GDCM parses in a child process: a file on which it aborts is named, not fatal. An Error thrown
  // there (a corrupt file refused by our checks) comes back as thrown; GDCM's own warnings for odd
  // files go nowhere (our messages say what matters).
  const FencedOutcome fenced = runFenced([&](FenceChannel& channel) {
    Packer packed;
    for (const auto& f : files) {
      channel.mark(f.string());
      if (auto in = readInstance(f)) packed.instance(*in);
    }
    channel.reply(packed.bytes());
  });
  if (!fenced.completed)
    throw IoError(fenced.lastMark.empty() ? dir.string() : fenced.lastMark,
                  "corrupt DICOM file: the DICOM parser (GDCM) " + fenced.failure + " while reading its header");
  std::map<std::string, DicomSeriesFiles> byUid;
  for (Unpacker unpack(fenced.reply); !unpack.done();) {
    DicomInstance in = unpack.instance();
    auto& s = byUid[in.seriesUid];
    s.uid = in.seriesUid;
    s.instances.push_back(std::move(in));
  }
  if (byUid.empty()) throw IoError(dir.string(), "is a folder without a DICOM series (" + std::to_string(files.size()) + " files, none DICOM)");
  std::vector<DicomSeriesFiles> all;
  for (auto& [uid, s] : byUid) all.push_back(std::move(s));
  // SeriesNumber order (numerically), as a PACS viewer lists them.
  std::stable_sort(all.begin(), all.end(), [](const DicomSeriesFiles& a, const DicomSeriesFiles& b) {
    return number(a.instances.front().seriesNumber) < number(b.instances.front().seriesNumber);
  });
  return all;
}

const DicomSeriesFiles& chooseDicomSeries(const fs::path& dir, const std::vector<DicomSeriesFiles>& all,
                                          const std::string& selector) {
  auto listing = [&]() {
    std::string list;
    for (const auto& s : all)
      list += (list.empty() ? "" : "; ") + s.label() + " " + s.instances.front().modality + " " + std::to_string(s.images()) + " images";
    return list;
  };
  if (selector.empty()) {
    std::vector<const DicomSeriesFiles*> withImages;
    for (const auto& s : all)
      if (s.images() > 0) withImages.push_back(&s);
    if (withImages.size() == 1) return *withImages.front();
    if (withImages.empty()) return all.front();  // the reader says what it holds instead
    throw DataError(dir.string(), "folder holds " + std::to_string(withImages.size()) +
                                      " DICOM series, choose one by UID or SeriesNumber (--dicom-series, or a manifest's mr_series/ct_series): " +
                                      listing());
  }
  for (const auto& s : all)
    if (s.uid == selector) return s;
  const bool isNumber = !selector.empty() && std::all_of(selector.begin(), selector.end(), [](char c) { return c >= '0' && c <= '9'; });
  std::vector<const DicomSeriesFiles*> hits;
  if (isNumber)
    for (const auto& s : all) {
      const std::string& n = s.instances.front().seriesNumber;
      if (!n.empty() && numbers<1>(n) && number(n) == number(selector)) hits.push_back(&s);
    }
  if (hits.size() == 1) return *hits.front();
  if (hits.size() > 1)
    throw DataError(dir.string(), "SeriesNumber " + selector + " names " + std::to_string(hits.size()) +
                                      " DICOM series, choose one by its UID: " + listing());
  throw DataError(dir.string(), "no DICOM series with UID or SeriesNumber " + selector + " (found: " + listing() + ")");
}

}  // namespace mr2ct::detail

namespace mr2ct {

std::vector<DicomSeriesSummary> listDicomSeries(const fs::path& dir) {
  std::vector<DicomSeriesSummary> out;
  for (const auto& s : detail::scanDicomFolder(dir)) {
    const auto& first = s.instances.front();
    DicomSeriesSummary d;
    d.uid = s.uid;
    d.number = first.seriesNumber;
    d.description = first.description;
    d.modality = first.modality;
    d.sopClass = detail::sopClassName(first.sopClassUid);
    d.files = s.instances.size();
    d.images = s.images();
    d.folder = first.path.parent_path();
    for (const auto& i : s.instances)
      if (i.isImage()) {
        d.columns = i.columns;
        d.rows = i.rows;
        break;
      }
    try {
      detail::layoutDicomSeries(dir, s);
    } catch (const DataError& e) {
      const std::string m = e.what(), prefix = dir.string() + ": DICOM " + s.label() + ": ";
      d.problem = m.rfind(prefix, 0) == 0 ? m.substr(prefix.size()) : m;
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace mr2ct
