#include "FormatDetection.h"

#include <cstring>
#include <fstream>

#include "NiftiHeader.h"
#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Text.h"

namespace fs = std::filesystem;

namespace mr2ct::detail {

bool looksLikeNifti(const fs::path& path) {
  return parseNiftiHeader(niftiHeadBytes(path, 4)).version != 0;
}

std::string neuroimagingFormatName(const fs::path& path) {
  const std::string ext = fullExtension(path);
  const auto b = niftiHeadBytes(path, unsigned(kNifti1HeaderBytes));
  if (ext == ".mgz" || ext == ".mgh") return "MGH/MGZ (FreeSurfer)";
  if (ext == ".mnc" || ext == ".mnc.gz") return "MINC";
  if (b.size() >= 4 && std::memcmp(b.data(), "CDF", 3) == 0) return "MINC";
  if (b.size() >= 4 && b[0] == 0x89 && b[1] == 'H' && b[2] == 'D' && b[3] == 'F') return "HDF5 (not an mr2ct training store; MINC-2?)";
  if (isAnalyzeHeader(path, parseNiftiHeader(b))) return "Analyze 7.5";
  return "";
}

std::string otherImageFormat(const fs::path& path) {
  unsigned char b[8] = {};
  {
    std::ifstream in(path, std::ios::binary);
    in.read(reinterpret_cast<char*>(b), sizeof b);
  }
  if (b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') return "PNG";
  if (b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "JPEG";
  if ((b[0] == 'I' && b[1] == 'I' && b[2] == 42 && b[3] == 0) ||
      (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && b[3] == 42))
    return "TIFF";
  if (b[0] == 'G' && b[1] == 'I' && b[2] == 'F' && b[3] == '8') return "GIF";
  if (b[0] == 'B' && b[1] == 'M') return "BMP";
  const std::string ext = lower(fullExtension(path));
  if (ext == ".png") return "PNG";
  if (ext == ".jpg" || ext == ".jpeg") return "JPEG";
  if (ext == ".tif" || ext == ".tiff") return "TIFF";
  if (ext == ".bmp") return "BMP";
  if (ext == ".gif") return "GIF";
  if (ext == ".vtk") return "VTK";
  return "";
}

}  // namespace mr2ct::detail
