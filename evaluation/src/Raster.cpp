// RgbImage, a 5x7 bitmap font for captions, the error colour map and the libpng writer.
#include <png.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/evaluation/Montage.h"

namespace mr2ct {
namespace {

/// Each glyph: 7 rows of 5 pixels, '1' = ink.
const std::map<char, const char*>& font() {
  static const std::map<char, const char*> f{
      {'0', "01110100011001110101110011000101110"}, {'1', "00100011000010000100001000010001110"},
      {'2', "01110100010000100010001000100011111"}, {'3', "11111000100010000010000011000101110"},
      {'4', "00010001100101010010111110001000010"}, {'5', "11111100001111000001000011000101110"},
      {'6', "00110010001000011110100011000101110"}, {'7', "11111000010001000100010000100001000"},
      {'8', "01110100011000101110100011000101110"}, {'9', "01110100011000101111000010001001100"},
      {'A', "01110100011000111111100011000110001"}, {'B', "11110100011000111110100011000111110"},
      {'C', "01110100011000010000100001000101110"}, {'D', "11100100101000110001100011001011100"},
      {'E', "11111100001000011110100001000011111"}, {'F', "11111100001000011110100001000010000"},
      {'G', "01110100011000010111100011000101111"}, {'H', "10001100011000111111100011000110001"},
      {'I', "01110001000010000100001000010001110"}, {'J', "00111000100001000010000101001001100"},
      {'K', "10001100101010011000101001001010001"}, {'L', "10000100001000010000100001000011111"},
      {'M', "10001110111010110101100011000110001"}, {'N', "10001100011100110101100111000110001"},
      {'O', "01110100011000110001100011000101110"}, {'P', "11110100011000111110100001000010000"},
      {'Q', "01110100011000110001101011001001101"}, {'R', "11110100011000111110101001001010001"},
      {'S', "01111100001000001110000010000111110"}, {'T', "11111001000010000100001000010000100"},
      {'U', "10001100011000110001100011000101110"}, {'V', "10001100011000110001100010101000100"},
      {'W', "10001100011000110101101011010101010"}, {'X', "10001100010101000100010101000110001"},
      {'Y', "10001100011000101010001000010000100"}, {'Z', "11111000010001000100010001000011111"},
      {' ', "00000000000000000000000000000000000"}, {'.', "00000000000000000000000000110001100"},
      {'-', "00000000000000011111000000000000000"}, {'+', "00000001000010011111001000010000000"},
      {':', "00000011000110000000011000110000000"}, {'/', "00000000010001000100010001000000000"},
      {'|', "00100001000010000100001000010000100"}, {'[', "01110010000100001000010000100001110"},
      {']', "01110000100001000010000100001001110"}, {',', "00000000000000000000011000010001000"},
      {'(', "00010001000100001000010000010000010"}, {')', "01000001000001000010000100010001000"},
      {'%', "11000110010001000100010001001100011"}, {'=', "00000000001111100000111110000000000"},
      {'_', "00000000000000000000000000000011111"}, {'<', "00010001000100010000010000010000010"},
      {'>', "01000001000001000001000100010001000"}, {'#', "01010010101111101010111110101001010"},
  };
  return f;
}

}  // namespace

void RgbImage::set(int x, int y, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  std::uint8_t* p = &rgb[3 * (std::size_t(y) * width + x)];
  p[0] = r;
  p[1] = g;
  p[2] = b;
}

int drawText(RgbImage& image, int x, int y, const std::string& text, int scale, std::uint8_t r, std::uint8_t g,
             std::uint8_t b) {
  const auto& f = font();
  int cx = x;
  for (char ch : text) {
    const char up = char(std::toupper(static_cast<unsigned char>(ch)));
    const auto it = f.find(up);
    const char* glyph = it != f.end() ? it->second : f.at('#');  // unknown characters show as '#'
    for (int row = 0; row < 7; ++row)
      for (int col = 0; col < 5; ++col)
        if (glyph[row * 5 + col] == '1')
          for (int dy = 0; dy < scale; ++dy)
            for (int dx = 0; dx < scale; ++dx) image.set(cx + col * scale + dx, y + row * scale + dy, r, g, b);
    cx += 6 * scale;
  }
  return cx - x;
}

void errorColour(double t, std::uint8_t& r, std::uint8_t& g, std::uint8_t& b) {
  // Control points sampled from matplotlib's "inferno".
  static const double stops[5][3] = {{0, 0, 4}, {87, 16, 110}, {188, 55, 84}, {249, 142, 9}, {252, 255, 164}};
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * 4.0;
  const int i = std::min(int(t), 3);
  const double f = t - i;
  r = std::uint8_t(std::lround(stops[i][0] + f * (stops[i + 1][0] - stops[i][0])));
  g = std::uint8_t(std::lround(stops[i][1] + f * (stops[i + 1][1] - stops[i][1])));
  b = std::uint8_t(std::lround(stops[i][2] + f * (stops[i + 1][2] - stops[i][2])));
}

void writePng(const RgbImage& image, const std::filesystem::path& path) {
  if (image.width <= 0 || image.height <= 0) throw DataError(path.string(), "cannot write an empty picture");
  writeAtomically(path, [&](const std::filesystem::path& tmp) {
    FILE* fp = std::fopen(tmp.c_str(), "wb");
    if (!fp) throw IoError(path.string(), "cannot open for writing");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    png_infop info = png ? png_create_info_struct(png) : nullptr;
    if (!png || !info) {
      png_destroy_write_struct(&png, &info);
      std::fclose(fp);
      throw IoError(path.string(), "libpng initialisation failed");
    }
    if (setjmp(png_jmpbuf(png))) {
      png_destroy_write_struct(&png, &info);
      std::fclose(fp);
      throw IoError(path.string(), "libpng failed while writing");
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, png_uint_32(image.width), png_uint_32(image.height), 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < image.height; ++y)
      png_write_row(png, const_cast<png_bytep>(&image.rgb[3 * std::size_t(y) * image.width]));
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    if (std::fclose(fp) != 0) throw IoError(path.string(), "write failed (disk full?)");
  });
}

}  // namespace mr2ct
