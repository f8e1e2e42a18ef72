#pragma once
// Per-case pictures: MR, synthetic CT, CT and |sCT - CT| (colour map with a scale bar) in three
// planes (axial, coronal, sagittal = voxel axes z, y, x held fixed) through the centroid of the
// evaluation mask, drawn to scale (one mm-per-pixel for every panel). The CT window and the error
// range are written into the picture. RGB PNG via libpng, written atomically.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

/// An 8-bit RGB raster, row-major, top row first.
struct RgbImage {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;  ///< 3 * width * height
  RgbImage() = default;
  RgbImage(int w, int h, std::uint8_t grey = 0) : width(w), height(h), rgb(std::size_t(3) * w * h, grey) {}
  void set(int x, int y, std::uint8_t r, std::uint8_t g, std::uint8_t b);
};

/// Draws text with a built-in 5x7 bitmap font (upper case, digits, common punctuation; lower
/// case is drawn as upper case), `scale` pixels per font pixel. Returns the text width in pixels.
int drawText(RgbImage& image, int x, int y, const std::string& text, int scale = 2, std::uint8_t r = 255,
             std::uint8_t g = 255, std::uint8_t b = 255);

/// Writes an RGB PNG atomically; IoError naming the file on failure.
void writePng(const RgbImage& image, const std::filesystem::path& path);

/// Error colour map (perceptually ordered dark -> bright, like matplotlib's "inferno"), t in [0, 1].
void errorColour(double t, std::uint8_t& r, std::uint8_t& g, std::uint8_t& b);

struct MontageOptions {
  double ctLowHu = -1000.0, ctHighHu = 1500.0;  ///< CT/sCT display window
  double errorMaxHu = 500.0;                     ///< |error| colour scale 0..this
  int panelPixels = 180;                         ///< longest physical extent drawn in this many pixels
  double mrLowPercentile = 1.0, mrHighPercentile = 99.0;  ///< MR window (inside the mask)
  void validate() const;
};

struct MontageInput {
  const Volume* mr = nullptr;  ///< optional; resampled for display when on another grid
  const Volume* pred = nullptr;
  const Volume* ref = nullptr;
  const Mask* mask = nullptr;  ///< same grid as pred/ref; its centroid picks the planes
  std::string title;                ///< first caption line (e.g. the case id)
  std::vector<std::string> lines;   ///< more caption lines (metrics)
};

RgbImage renderMontage(const MontageInput& input, const MontageOptions& options = {});
void writeMontagePng(const MontageInput& input, const std::filesystem::path& path, const MontageOptions& options = {});

}  // namespace mr2ct
