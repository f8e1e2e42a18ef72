// Three orthogonal planes, each resampled (nearest) to square display pixels so anisotropic grids
// keep their aspect; written with ITK's PNG writer.
#include "mr2ct/preprocessing/QaImage.h"

#include <itkImageFileWriter.h>
#include <itkRGBPixel.h>

#include <algorithm>
#include <cmath>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/Statistics.h"

namespace mr2ct {

namespace {

using Rgb = itk::RGBPixel<unsigned char>;

struct Canvas {
  std::size_t width = 0, height = 0;
  std::vector<Rgb> pixels;
  Canvas(std::size_t w, std::size_t h) : width(w), height(h), pixels(w * h) {
    Rgb black;
    black.Fill(0);
    std::fill(pixels.begin(), pixels.end(), black);
  }
  Rgb& at(std::size_t x, std::size_t y) { return pixels[y * width + x]; }
};

unsigned char grey(double v, double lo, double hi) {
  const double t = std::clamp((v - lo) / std::max(1e-12, hi - lo), 0.0, 1.0);
  return static_cast<unsigned char>(std::lround(t * 255.0));
}

/// A plane: two in-plane voxel axes (u → columns, v → rows) at a fixed index of the third axis.
struct Plane {
  int u, v, w;
  std::size_t fixed;
  bool flipV;  ///< rows run against v (superior up for coronal/sagittal views of an LPS grid)
};

}  // namespace

void writeRegistrationQaPng(const Volume& mr, const Volume& ctHu, const Mask* mask, const std::filesystem::path& out,
                            const QaImageOptions& o) {
  const Geometry& g = mr.geometry();
  if (!ctHu.geometry().sameAs(g, 1e-3))
    throw DataError(out.string(), "QA image: CT not on the MR grid: " + ctHu.geometry().differenceFrom(g, 1e-3));
  if (mask && mask->size() != g.size) throw DataError(out.string(), "QA image: mask size differs from the MR's");

  // Display window of the MR and the centre of the body.
  const auto p = percentiles(mr.data(), mr.voxelCount(), {o.mrLowPercentile, o.mrHighPercentile},
                             mask && mask->count() ? mask->data() : nullptr);
  const double mrLo = std::isfinite(p[0]) ? p[0] : 0, mrHi = std::isfinite(p[1]) ? p[1] : 1;
  std::array<std::size_t, 3> centre{g.size[0] / 2, g.size[1] / 2, g.size[2] / 2};
  if (mask && mask->count()) {
    std::array<double, 3> sum{0, 0, 0};
    std::size_t n = 0;
    for (std::size_t z = 0; z < g.size[2]; ++z)
      for (std::size_t y = 0; y < g.size[1]; ++y)
        for (std::size_t x = 0; x < g.size[0]; ++x)
          if (mask->at(x, y, z)) {
            sum[0] += double(x);
            sum[1] += double(y);
            sum[2] += double(z);
            ++n;
          }
    for (int a = 0; a < 3; ++a) centre[a] = static_cast<std::size_t>(sum[a] / double(n));
  }

  const Plane planes[3] = {{0, 1, 2, centre[2], false}, {0, 2, 1, centre[1], true}, {1, 2, 0, centre[0], true}};
  // Panel sizes at a common display pixel (the finest in-plane spacing of all planes).
  const double pix = *std::min_element(g.spacing.begin(), g.spacing.end());
  std::size_t totalW = 0, panelH = 0;
  std::size_t widths[3], heights[3];
  for (int k = 0; k < 3; ++k) {
    const auto& pl = planes[k];
    widths[k] = std::max<std::size_t>(1, std::size_t(std::lround(double(g.size[pl.u]) * g.spacing[pl.u] / pix)));
    heights[k] = std::max<std::size_t>(1, std::size_t(std::lround(double(g.size[pl.v]) * g.spacing[pl.v] / pix)));
    totalW += widths[k];
    panelH = std::max(panelH, heights[k]);
  }
  Canvas canvas(totalW, 2 * panelH);
  std::size_t x0 = 0;
  for (int k = 0; k < 3; ++k) {
    const auto& pl = planes[k];
    for (std::size_t r = 0; r < heights[k]; ++r)
      for (std::size_t c = 0; c < widths[k]; ++c) {
        std::array<std::size_t, 3> idx;
        idx[static_cast<std::size_t>(pl.w)] = pl.fixed;
        const std::size_t iu = std::min(g.size[pl.u] - 1, std::size_t(double(c) * pix / g.spacing[pl.u]));
        std::size_t iv = std::min(g.size[pl.v] - 1, std::size_t(double(r) * pix / g.spacing[pl.v]));
        if (pl.flipV) iv = g.size[pl.v] - 1 - iv;
        idx[static_cast<std::size_t>(pl.u)] = iu;
        idx[static_cast<std::size_t>(pl.v)] = iv;
        const std::size_t li = g.linearIndex(idx[0], idx[1], idx[2]);
        const double m = mr.data()[li], ct = ctHu.data()[li];
        const bool tileMr = (std::size_t(double(c) * pix / o.tileMm) + std::size_t(double(r) * pix / o.tileMm)) % 2 == 0;
        const unsigned char gm = grey(m, mrLo, mrHi), gc = grey(ct, o.ctLowHu, o.ctHighHu);
        Rgb& top = canvas.at(x0 + c, r);
        top.Fill(tileMr ? gm : gc);
        Rgb& bottom = canvas.at(x0 + c, panelH + r);
        bottom.Fill(gm);
        if (ct > o.boneHu) {
          bottom[0] = 255;
          bottom[1] = static_cast<unsigned char>(gm / 2);
          bottom[2] = static_cast<unsigned char>(gm / 2);
        }
        if (mask) {
          // Outline: a mask voxel with a 4-neighbour (in plane) outside the mask.
          const bool in = mask->data()[li] != 0;
          bool edge = false;
          if (in)
            for (int d = 0; d < 4 && !edge; ++d) {
              auto q = idx;
              const int axis = d < 2 ? pl.u : pl.v;
              const auto a = static_cast<std::size_t>(axis);
              if (d % 2 == 0) {
                if (q[a] == 0) { edge = true; break; }
                --q[a];
              } else {
                if (q[a] + 1 >= g.size[a]) { edge = true; break; }
                ++q[a];
              }
              edge = mask->at(q[0], q[1], q[2]) == 0;
            }
          if (edge) {
            bottom[0] = 0;
            bottom[1] = 255;
            bottom[2] = 0;
          }
        }
      }
    x0 += widths[k];
  }

  using Image2 = itk::Image<Rgb, 2>;
  auto image = Image2::New();
  Image2::RegionType region;
  region.SetSize(0, canvas.width);
  region.SetSize(1, canvas.height);
  image->SetRegions(region);
  image->Allocate();
  std::copy(canvas.pixels.begin(), canvas.pixels.end(), image->GetBufferPointer());
  writeAtomically(out, [&](const std::filesystem::path& tmp) {
    auto writer = itk::ImageFileWriter<Image2>::New();
    writer->SetFileName(tmp.string());
    writer->SetInput(image);
    try {
      writer->Update();
    } catch (const itk::ExceptionObject& e) {
      throw IoError(out.string(), std::string("cannot write PNG: ") + e.GetDescription());
    }
  });
}

}  // namespace mr2ct
