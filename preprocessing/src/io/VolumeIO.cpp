#include "mr2ct/preprocessing/VolumeIO.h"

#include <itkCastImageFilter.h>
#include <itkGDCMImageIO.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkImageIOFactory.h>
#include <itkMetaImageIO.h>
#include <itkNiftiImageIO.h>
#include <itkNrrdImageIO.h>

#include <cmath>
#include <limits>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/Log.h"
#include "mr2ct/core/StderrCapture.h"
#include "mr2ct/preprocessing/ItkInterop.h"
#include "DicomSeriesReader.h"
#include "FormatDetection.h"
#include "MetaImageGuard.h"
#include "NiftiFormat.h"
#include "NiftiGuard.h"

namespace fs = std::filesystem;

namespace mr2ct {

namespace {

std::string componentName(itk::IOComponentEnum c) {
  using C = itk::IOComponentEnum;
  switch (c) {
    case C::UCHAR: return "uint8";
    case C::CHAR: return "int8";
    case C::USHORT: return "uint16";
    case C::SHORT: return "int16";
    case C::UINT: return "uint32";
    case C::INT: return "int32";
    case C::ULONG: return "uint64";
    case C::LONG: return "int64";
    case C::ULONGLONG: return "uint64";
    case C::LONGLONG: return "int64";
    case C::FLOAT: return "float32";
    case C::DOUBLE: return "float64";
    default: return "unknown";
  }
}

std::string formatName(const itk::ImageIOBase* io) {
  const std::string n = io->GetNameOfClass();
  if (n == "NiftiImageIO") return "NIfTI";
  if (n == "MetaImageIO") return "MetaImage";
  if (n == "NrrdImageIO") return "NRRD";
  if (n == "GDCMImageIO") return "DICOM";
  if (n.size() > 7 && n.compare(n.size() - 7, 7, "ImageIO") == 0) return n.substr(0, n.size() - 7);
  return n;
}

std::string itkMessage(const itk::ExceptionObject& e) {
  std::string d = e.GetDescription();
  while (!d.empty() && (d.back() == '\n' || d.back() == ' ')) d.pop_back();
  const auto nl = d.find('\n');
  return nl == std::string::npos ? d : d.substr(0, nl);
}

void checkReadableFile(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IoError(path.string(), "file not found");
  if (fs::is_regular_file(path, ec) && fs::file_size(path, ec) == 0) throw IoError(path.string(), "file is empty");
}

// Validates the header of a single-file image and returns its ImageIO, ready for reading.
itk::ImageIOBase::Pointer openImageIO(const fs::path& path, VolumeInfo& info, const ReadOptions& options) {
  checkReadableFile(path);
  // niftilib and MetaIO print their own complaints to stderr while probing and parsing headers;
  // the user gets our one line instead (the library text goes to the debug log).
  StderrCapture quiet;
  auto fail = [&](auto error) {
    const std::string noise = quiet.release();
    if (!noise.empty()) spdlog::debug("{}", noise);
    throw error;
  };
  // Only the readers of the formats we support ever see a file: ITK's factory would also hand it to
  // PNG/TIFF/JPEG/BMP/... readers, whose libraries abort() on corrupt input (libpng did, under the
  // fuzzer). So probe our four explicitly, in this order, and refuse everything else.
  itk::ImageIOBase::Pointer io;
  for (itk::ImageIOBase::Pointer candidate :
       {itk::ImageIOBase::Pointer(itk::MetaImageIO::New()),
        itk::ImageIOBase::Pointer(itk::NrrdImageIO::New()), itk::ImageIOBase::Pointer(itk::GDCMImageIO::New())}) {
    // MetaIO divides by header values and parses numbers without bounds: check its header first.
    if (std::string(candidate->GetNameOfClass()) == "MetaImageIO" && detail::looksLikeMetaImage(path))
      detail::checkMetaImageHeader(path);
    if (candidate->CanReadFile(path.string().c_str())) {
      io = candidate;
      break;
    }
  }
  if (!io) {
    const std::string neuro = detail::neuroimagingFormatName(path);
    if (!neuro.empty())
      fail(IoError(path.string(), neuro + " file: not supported (mr2ct reads NIfTI-1/-2, MetaImage, NRRD and DICOM; "
                                          "convert it to NIfTI first, e.g. with mri_convert or mnc2nii)"));
    const std::string other = detail::otherImageFormat(path);
    if (!other.empty())
      fail(IoError(path.string(), other + " file: not a volume format mr2ct reads (NIfTI, MetaImage, NRRD or DICOM)"));
    fail(IoError(path.string(), "not a readable image (unknown format, wrong magic number or corrupt header)"));
  }
  io->SetFileName(path.string());
  try {
    io->ReadImageInformation();
  } catch (const itk::ExceptionObject& e) {
    fail(IoError(path.string(), "cannot read image header: " + itkMessage(e)));
  }
  info.format = formatName(io);
  info.pixelType = componentName(io->GetComponentType());
  info.components = io->GetNumberOfComponents();
  info.dimensions = io->GetNumberOfDimensions();
  const auto bo = io->GetByteOrder();
  info.byteOrder = bo == itk::IOByteOrderEnum::BigEndian ? "big" : bo == itk::IOByteOrderEnum::LittleEndian ? "little" : "";
  return io;
}

void checkHeader(const VolumeInfo& info, const itk::ImageIOBase* io, const ReadOptions& options) {
  const std::string& p = info.path;
  if (info.pixelType == "unknown") throw DataError(p, "unsupported pixel type");
  if (info.components != 1)
    throw DataError(p, "has " + std::to_string(info.components) + " components per voxel; a scalar image is needed");
  if (info.dimensions < 2 || info.dimensions > 4)
    throw DataError(p, std::to_string(info.dimensions) + "D image where a 3D volume is needed");
  std::size_t total = 1;
  for (unsigned d = 0; d < info.dimensions; ++d) {
    const auto n = io->GetDimensions(d);
    if (n == 0) throw DataError(p, "header claims a zero size along axis " + std::to_string(d));
    if (d == 3 && n != 1)
      throw DataError(p, "4D image (" + std::to_string(n) + " volumes) where a 3D volume is needed");
    if (total > std::numeric_limits<std::size_t>::max() / n) throw DataError(p, "header claims a size that overflows");
    total *= n;
  }
  if (info.dimensions == 2 && info.format != "DICOM" && info.format != "PNG")
    throw DataError(p, "2D image where a 3D volume is needed");
  if (total > options.maxVoxels)
    throw DataError(p, "header claims " + std::to_string(total) + " voxels, more than the limit of " +
                           std::to_string(options.maxVoxels));
}

Geometry geometryFromIO(const itk::ImageIOBase* io) {
  Geometry g;
  const unsigned nd = std::min(3u, io->GetNumberOfDimensions());
  for (unsigned i = 0; i < 3; ++i) g.size[i] = i < nd ? io->GetDimensions(i) : 1;
  for (unsigned i = 0; i < nd; ++i) {
    g.spacing[i] = io->GetSpacing(i);
    g.origin[i] = io->GetOrigin(i);
    const auto dir = io->GetDirection(i);
    for (unsigned r = 0; r < 3; ++r) g.direction[r * 3 + i] = r < dir.size() ? dir[r] : (r == i ? 1.0 : 0.0);
  }
  return g;
}

void checkFinite(const Volume& v, const std::string& path) {
  const long long bad = v.firstNonFinite();
  if (bad < 0) return;
  const auto& g = v.geometry();
  const std::size_t i = std::size_t(bad);
  const std::size_t x = i % g.size[0], y = (i / g.size[0]) % g.size[1], z = i / (g.size[0] * g.size[1]);
  throw DataError(path, "contains NaN or Inf voxels (first at voxel " + std::to_string(x) + "," + std::to_string(y) +
                            "," + std::to_string(z) + ")");
}

// NIfTI files are read by NiftiFormat (both versions, nibabel's scaling and orientation rules).
bool isNifti(const fs::path& path) {
  const std::string ext = fullExtension(path);
  // A PNG (or other known format) named .nii is left to the general path, which names what it is.
  if (ext == ".nii" || ext == ".nii.gz" || ext == ".hdr")
    return detail::looksLikeNifti(path) || detail::otherImageFormat(path).empty();
  return ext != ".img" && detail::looksLikeNifti(path);
}

// A .img named directly stands for its .hdr.
fs::path niftiHeaderPath(const fs::path& path) {
  const std::string ext = fullExtension(path);
  if (ext != ".img") return path;
  std::string s = path.string();
  s.replace(s.size() - ext.size(), ext.size(), ".hdr");
  if (!fs::exists(s)) throw IoError(path.string(), "image data without its header " + s);
  return s;
}

VolumeInfo niftiInfo(const fs::path& path, const ReadOptions& options, detail::NiftiHeader& header) {
  checkReadableFile(path);
  header = detail::readNiftiHeader(path);  // refused by NiftiGuard.h when unusable
  VolumeInfo info;
  info.path = path.string();
  info.format = "NIfTI";
  info.formatVersion = header.version;
  info.pixelType = detail::niftiTypeName(header.datatype);
  info.dimensions = unsigned(header.dim[0]);
  info.byteOrder = header.bigEndian ? "big" : "little";
  detail::checkNiftiShape(info.path, header, options.maxVoxels);
  if (std::isfinite(header.sclSlope) && header.sclSlope != 0) {
    info.scaleSlope = header.sclSlope;
    info.scaleIntercept = header.sclInter;
  }
  info.geometry = detail::niftiGeometry(header, &info.warnings, &info.transform);
  info.nifti = header.spatial;
  return info;
}

}  // namespace

VolumeInfo readVolumeInfo(const fs::path& path, const ReadOptions& options) {
  if (isNifti(path)) {
    detail::NiftiHeader header;
    VolumeInfo info = niftiInfo(niftiHeaderPath(path), options, header);
    info.path = path.string();
    return info;
  }
  VolumeInfo info;
  info.path = path.string();
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const auto series = detail::readDicomSeriesHeader(path, options);
    info.format = "DICOM series";
    info.pixelType = componentName(series.io->GetComponentType());
    info.dicomFiles = series.files;
    info.dimensions = 3;
    info.geometry = series.layout.geometry;
    return info;
  }
  auto io = openImageIO(path, info, options);
  checkHeader(info, io, options);
  info.geometry = geometryFromIO(io);
  return info;
}

Volume readVolume(const fs::path& path, const ReadOptions& options, VolumeInfo* infoOut) {
  std::error_code ec;
  if (!fs::is_directory(path, ec) && isNifti(path)) {
    detail::NiftiHeader header;
    const fs::path hdr = niftiHeaderPath(path);
    VolumeInfo info = niftiInfo(hdr, options, header);
    info.path = path.string();
    for (const auto& w : info.warnings) spdlog::warn("{}: {}", info.path, w);  // once per read
    // A header may promise gigabytes in a file of a few bytes: check before allocating.
    const std::uint64_t payload = std::uint64_t(info.geometry.voxelCount()) * std::uint64_t(header.bitpix / 8);
    detail::checkNiftiVoxelDataComplete(hdr, header, payload);
    Volume v;
    try {
      v = detail::readNiftiVolume(hdr, header);
    } catch (const std::bad_alloc&) {
      throw IoError(path.string(), "not enough memory to read the voxel data");
    }
    v.geometry().validate(path.string());
    if (!options.allowNonFinite) checkFinite(v, path.string());
    if (infoOut) *infoOut = std::move(info);
    return v;
  }
  if (infoOut) *infoOut = readVolumeInfo(path, options);
  ItkFloatImage::Pointer image;
  if (fs::is_directory(path, ec)) {
    Volume v = detail::readDicomSeriesVoxels(path, detail::readDicomSeriesHeader(path, options));
    if (!options.allowNonFinite) checkFinite(v, path.string());
    return v;
  } else {
    VolumeInfo info;
    info.path = path.string();
    auto io = openImageIO(path, info, options);
    checkHeader(info, io, options);
    // MetaIO only warns about a short data file and returns a partly filled image: refuse it here.
    if (info.format == "MetaImage")
      detail::checkMetaImageVoxelDataComplete(path, std::uint64_t(io->GetImageSizeInBytes()));
    auto reader = itk::ImageFileReader<ItkFloatImage>::New();
    reader->SetFileName(path.string());
    reader->SetImageIO(io);
    try {
      reader->Update();
    } catch (const itk::ExceptionObject& e) {
      throw IoError(path.string(), "cannot read voxel data (truncated or corrupt file?): " + itkMessage(e));
    } catch (const std::bad_alloc&) {
      throw IoError(path.string(), "not enough memory to read the voxel data");
    }
    image = reader->GetOutput();
  }
  Volume v = volumeFromItk(image);
  v.geometry().validate(path.string());
  if (!options.allowNonFinite) checkFinite(v, path.string());
  return v;
}

Mask readMask(const fs::path& path, const ReadOptions& options) {
  const Volume v = readVolume(path, options);
  Mask m(v.geometry());
  const float* src = v.data();
  std::uint8_t* dst = m.data();
  for (std::size_t i = 0; i < v.voxelCount(); ++i) dst[i] = src[i] != 0.0f ? 1 : 0;
  return m;
}

const std::vector<std::string>& writableExtensions() {
  static const std::vector<std::string> ext{".nii.gz", ".nii", ".mha", ".nrrd"};
  return ext;
}

namespace {

void checkWritable(const fs::path& path) {
  const std::string ext = fullExtension(path);
  const auto& ok = writableExtensions();
  if (std::find(ok.begin(), ok.end(), ext) == ok.end())
    throw IoError(path.string(), "unsupported output extension '" + ext + "' (use .nii.gz, .nii, .mha or .nrrd)");
}

template <class TImage>
void writeItk(const TImage* image, const fs::path& path, bool compress) {
  writeAtomically(path, [&](const fs::path& tmp) {
    auto writer = itk::ImageFileWriter<TImage>::New();
    writer->SetFileName(tmp.string());
    writer->SetInput(image);
    writer->SetUseCompression(compress);
    try {
      writer->Update();
    } catch (const itk::ExceptionObject& e) {
      throw IoError(path.string(), "cannot write: " + itkMessage(e));
    }
  });
}

template <class TPixel>
typename itk::Image<TPixel, 3>::Pointer roundedCopy(const Volume& v) {
  auto image = itk::Image<TPixel, 3>::New();
  applyGeometry(image.GetPointer(), v.geometry());
  image->Allocate();
  TPixel* dst = image->GetBufferPointer();
  const float* src = v.data();
  constexpr double lo = std::numeric_limits<TPixel>::lowest(), hi = std::numeric_limits<TPixel>::max();
  for (std::size_t i = 0; i < v.voxelCount(); ++i) {
    const double r = std::nearbyint(double(src[i]));
    dst[i] = static_cast<TPixel>(std::isfinite(r) ? std::clamp(r, lo, hi) : 0.0);
  }
  return image;
}

// The input's NIfTI codes and matrices, when they describe `g` (an output on the input's grid).
const NiftiSpatialHeader* carriedNifti(const Geometry& g, const WriteOptions& options) {
  if (!options.nifti) return nullptr;
  detail::NiftiHeader h;
  h.dim = {3, std::int64_t(g.size[0]), std::int64_t(g.size[1]), std::int64_t(g.size[2]), 1, 1, 1, 1};
  h.spatial = *options.nifti;
  if (detail::niftiGeometry(h).sameAs(g, 1e-4)) return &*options.nifti;
  spdlog::debug("the input's NIfTI orientation does not describe the output grid; writing codes 1");
  return nullptr;
}

void writeNifti(const Volume& volume, const fs::path& path, const WriteOptions& options) {
  const auto type = options.pixelType == PixelType::Float32 ? detail::NiftiStoredType::Float32
                    : options.pixelType == PixelType::Int16 ? detail::NiftiStoredType::Int16
                                                            : detail::NiftiStoredType::UInt8;
  const NiftiSpatialHeader* spatial = carriedNifti(volume.geometry(), options);
  writeAtomically(path, [&](const fs::path& tmp) {
    detail::writeNiftiFile(tmp, volume.geometry(), volume.data(), type, spatial, fullExtension(path) == ".nii.gz");
  });
}

}  // namespace

void writeVolume(const Volume& volume, const fs::path& path, const WriteOptions& options) {
  checkWritable(path);
  const std::string ext = fullExtension(path);
  if (ext == ".nii" || ext == ".nii.gz") return writeNifti(volume, path, options);
  const bool compress = options.compress;
  switch (options.pixelType) {
    case PixelType::Float32: writeItk(itkView(volume).GetPointer(), path, compress); break;
    case PixelType::Int16: writeItk(roundedCopy<short>(volume).GetPointer(), path, compress); break;
    case PixelType::UInt8: writeItk(roundedCopy<unsigned char>(volume).GetPointer(), path, compress); break;
  }
}

void writeMask(const Mask& mask, const fs::path& path) {
  checkWritable(path);
  writeItk(itkView(mask).GetPointer(), path, true);
}

}  // namespace mr2ct
