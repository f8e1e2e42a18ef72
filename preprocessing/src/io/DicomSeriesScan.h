#pragma once
// Finding DICOM series in a folder tree: each file's header (never its pixels) read with GDCM into
// the few fields that place its slices, grouped by SeriesInstanceUID. DicomSliceGeometry.h checks
// them; DicomSeriesReader.cpp reads the pixels.
#include <array>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace mr2ct::detail {

using Vec3d = std::array<double, 3>;

/// Where one image (a file, or a frame of a multi-frame file) lies, and how its values scale.
struct DicomPlane {
  std::optional<Vec3d> position;                   ///< ImagePositionPatient
  std::optional<std::array<double, 6>> orientation;  ///< ImageOrientationPatient
  std::optional<std::array<double, 2>> pixelSpacing;  ///< PixelSpacing: between rows, between columns
  std::optional<std::array<double, 2>> rescale;       ///< RescaleSlope, RescaleIntercept
  std::string instanceNumber;  ///< InstanceNumber (single-frame) or the frame number (multi-frame)
  std::string echo;            ///< EchoNumbers / EffectiveEchoTime
  std::string temporal;        ///< TemporalPositionIdentifier / TemporalPositionIndex
  std::string stack;           ///< StackID (multi-frame)
};

struct DicomInstance {
  std::filesystem::path path;
  std::string seriesUid, seriesNumber, description, modality, sopClassUid;
  std::size_t rows = 0, columns = 0, frames = 1, samplesPerPixel = 1;
  std::string photometric;  ///< (0028,0004), "" when absent
  /// (0028,0100), (0028,0101), (0028,0102); 0 when absent or unreadable.
  std::size_t bitsAllocated = 0, bitsStored = 0, highBit = 0;
  std::string recognitionCode;  ///< (0008,0010), retired (ACR-NEMA); "" when absent
  double sliceThickness = 0, spacingBetweenSlices = 0;  ///< 0 when absent
  DicomPlane plane;                ///< single-frame image
  std::vector<DicomPlane> frameplanes;  ///< multi-frame (enhanced) image: one per frame
  bool isImage() const { return rows > 0 && columns > 0; }
};

struct DicomSeriesFiles {
  std::string uid;
  std::vector<DicomInstance> instances;  ///< in file name order
  std::size_t images() const;            ///< frames of the image instances
  /// "series 3 'T1 MPRAGE' (1.2.3...)": how messages name it.
  std::string label() const;
};

/// Every DICOM file under `dir` (recursively, symlinked folders not followed), grouped by series.
/// Throws IoError naming `dir` when it holds none.
std::vector<DicomSeriesFiles> scanDicomFolder(const std::filesystem::path& dir);

/// The series `selector` names (a SeriesInstanceUID or a SeriesNumber); with an empty selector the
/// only series holding images. Throws DataError naming `dir` and listing the series otherwise.
const DicomSeriesFiles& chooseDicomSeries(const std::filesystem::path& dir, const std::vector<DicomSeriesFiles>& all,
                                          const std::string& selector);

/// "Enhanced MR Image Storage" etc. for the SOP classes met in practice, else the UID itself.
std::string sopClassName(const std::string& uid);

}  // namespace mr2ct::detail
