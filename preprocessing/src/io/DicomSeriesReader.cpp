#include "DicomSeriesReader.h"

#include <itkGDCMImageIO.h>
#include <itkImageFileReader.h>
#include <itkImageSeriesReader.h>

#include <cmath>
#include <cstring>
#include <optional>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/Log.h"
#include "mr2ct/core/ProcessFence.h"
#include "mr2ct/core/StderrCapture.h"
#include "mr2ct/preprocessing/DicomSeries.h"
#include "mr2ct/preprocessing/ItkInterop.h"

namespace fs = std::filesystem;

namespace mr2ct::detail {

namespace {

std::string firstLine(const itk::ExceptionObject& e) {
  std::string d = e.GetDescription();
  while (!d.empty() && (d.back() == '\n' || d.back() == ' ')) d.pop_back();
  const auto nl = d.find('\n');
  if (nl != std::string::npos) d = d.substr(0, nl);
  // "ITK ERROR: GDCMImageIO(0x55...): Cannot read requested file": the object's address says nothing.
  if (d.rfind("ITK ERROR: ", 0) == 0)
    if (const auto colon = d.find("): "); colon != std::string::npos) d = d.substr(colon + 3);
  return d;
}

/// GDCM applies one rescale to all frames of a multi-frame image: refuse frames that differ.
void checkOneRescale(const fs::path& dir, const DicomSeriesFiles& series, const DicomInstance& in) {
  for (const auto& p : in.frameplanes) {
    const auto& a = p.rescale;
    const auto& b = in.frameplanes.front().rescale;
    if (a.has_value() != b.has_value() || (a && (std::fabs((*a)[0] - (*b)[0]) > 1e-9 || std::fabs((*a)[1] - (*b)[1]) > 1e-9)))
      throw DataError(dir.string(), "DICOM " + series.label() +
                                        ": rescale slope/intercept differ between frames of a multi-frame image, which GDCM "
                                        "cannot apply; convert it with dcm2niix first");
  }
}

}  // namespace

DicomSeriesHeader readDicomSeriesHeader(const fs::path& dir, const ReadOptions& options) {
  const auto all = scanDicomFolder(dir);
  const DicomSeriesFiles& series = chooseDicomSeries(dir, all, options.dicomSeries);
  DicomSeriesHeader h;
  h.layout = layoutDicomSeries(dir, series);
  h.files = series.instances.size();
  const Geometry& g = h.layout.geometry;
  if (g.size[0] * g.size[1] > options.maxVoxels / std::max<std::size_t>(1, g.size[2]))
    throw DataError(dir.string(), "DICOM " + series.label() + " has " + std::to_string(g.size[0]) + "x" +
                                      std::to_string(g.size[1]) + "x" + std::to_string(g.size[2]) +
                                      " voxels, more than the limit of " + std::to_string(options.maxVoxels));
  if (h.layout.multiFrame)
    for (const auto& in : series.instances)
      if (in.path == h.layout.files.front()) checkOneRescale(dir, series, in);
  auto io = itk::GDCMImageIO::New();
  io->SetFileName(h.layout.files.front().string());
  const FencedOutcome fenced = runFenced([&](FenceChannel&) {
    try {
      io->ReadImageInformation();
    } catch (const itk::ExceptionObject&) {
      // reported below, by the same call in this process
    }
  });
  if (!fenced.completed)
    throw IoError(h.layout.files.front().string(), "corrupt DICOM file: the DICOM reader (GDCM) " + fenced.failure);
  StderrCapture quiet;
  try {
    io->ReadImageInformation();
  } catch (const itk::ExceptionObject& e) {
    spdlog::debug("{}", quiet.release());
    throw IoError(h.layout.files.front().string(), "cannot read DICOM header: " + firstLine(e));
  }
  h.io = io;
  return h;
}

namespace {

/// The series' voxels in slice order, sent through `channel` (runs in a fenced child: no logging,
/// no captures).
void readSeriesPixels(const fs::path& dir, const DicomSeriesHeader& h, FenceChannel& channel) {
  const Geometry& g = h.layout.geometry;
  ItkFloatImage::Pointer image;
  try {
    if (h.layout.files.size() > 1) {
      std::vector<std::string> names;
      for (const auto& f : h.layout.files) names.push_back(f.string());
      auto reader = itk::ImageSeriesReader<ItkFloatImage>::New();
      reader->SetImageIO(itk::GDCMImageIO::New());
      reader->SetFileNames(names);
      reader->Update();
      image = reader->GetOutput();
    } else {
      auto reader = itk::ImageFileReader<ItkFloatImage>::New();
      reader->SetImageIO(itk::GDCMImageIO::New());
      reader->SetFileName(h.layout.files.front().string());
      reader->Update();
      image = reader->GetOutput();
    }
  } catch (const itk::ExceptionObject& e) {
    throw IoError(dir.string(), "cannot read DICOM series pixels: " + firstLine(e));
  } catch (const std::bad_alloc&) {
    throw IoError(dir.string(), "not enough memory to read the DICOM series");
  }
  const auto size = image->GetLargestPossibleRegion().GetSize();
  if (size[0] != g.size[0] || size[1] != g.size[1] || size[2] != g.size[2])
    throw IoError(dir.string(), "GDCM read " + std::to_string(size[0]) + "x" + std::to_string(size[1]) + "x" +
                                    std::to_string(size[2]) + " voxels where the headers describe " + std::to_string(g.size[0]) +
                                    "x" + std::to_string(g.size[1]) + "x" + std::to_string(g.size[2]));
  const float* src = image->GetBufferPointer();
  const std::size_t slice = g.size[0] * g.size[1];
  if (h.layout.multiFrame) {
    for (std::size_t k = 0; k < g.size[2]; ++k) channel.bulk(src + h.layout.frameOrder[k] * slice, slice * sizeof(float));
  } else {
    channel.bulk(src, g.voxelCount() * sizeof(float));
  }
}

/// After a failed series read: reads every file's pixels alone, each in the fenced child, and
/// throws an IoError naming the first file that fails (returns when each file reads alone).
void blameOneFile(const DicomSeriesHeader& h) {
  const FencedOutcome probe = runFenced([&](FenceChannel& channel) {
    for (const auto& f : h.layout.files) {
      channel.mark(f.string());
      auto reader = itk::ImageFileReader<ItkFloatImage>::New();
      reader->SetImageIO(itk::GDCMImageIO::New());
      reader->SetFileName(f.string());
      try {
        reader->Update();
      } catch (const itk::ExceptionObject& e) {
        channel.reply(f.string() + std::string(1, '\0') + firstLine(e));
        return;
      }
    }
  });
  if (!probe.completed && !probe.lastMark.empty())
    throw IoError(probe.lastMark, "cannot read the pixel data: the DICOM reader (GDCM) " + probe.failure);
  if (const auto zero = probe.reply.find('\0'); zero != std::string::npos)
    throw IoError(probe.reply.substr(0, zero), "cannot read the pixel data: " + probe.reply.substr(zero + 1));
}

}  // namespace

Volume readDicomSeriesVoxels(const fs::path& dir, const DicomSeriesHeader& h) {
  const Geometry& g = h.layout.geometry;
  const std::size_t bytes = g.voxelCount() * sizeof(float);
  std::optional<Volume> v;  // allocated after the fork (ProcessFence.h says why)
  // GDCM decodes the pixel data in a child process: an assert in it becomes one line. When the
  // series fails, each file is read alone (in another child) to name the one that fails.
  FencedOutcome fenced;
  try {
    fenced = runFenced([&](FenceChannel& channel) { readSeriesPixels(dir, h, channel); }, std::chrono::seconds(300),
                       bytes, [&] {
                         v.emplace(g);
                         return static_cast<void*>(v->data());
                       });
  } catch (const std::bad_alloc&) {
    throw IoError(dir.string(), "not enough memory to read the DICOM series");
  } catch (const IoError& e) {
    blameOneFile(h);
    throw;
  }
  if (!fenced.completed) {
    blameOneFile(h);
    throw IoError(dir.string(), "cannot read DICOM series pixels: the DICOM reader (GDCM) " + fenced.failure);
  }
  if (fenced.bulkBytes != bytes)
    throw IoError(dir.string(), "cannot read DICOM series pixels: the reader returned " + std::to_string(fenced.bulkBytes) +
                                    " of " + std::to_string(bytes) + " bytes");
  return std::move(*v);
}

}  // namespace mr2ct::detail

namespace mr2ct {

std::vector<fs::path> dicomSeriesFiles(const fs::path& dir, const std::string& series) {
  const auto all = detail::scanDicomFolder(dir);
  return detail::layoutDicomSeries(dir, detail::chooseDicomSeries(dir, all, series)).files;
}

}  // namespace mr2ct
