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

/// The body's centre: the mask's centroid (voxel index), else the grid's middle.
std::array<std::size_t, 3> bodyCentre(const Geometry& g, const Mask* mask) {
  std::array<std::size_t, 3> centre{g.size[0] / 2, g.size[1] / 2, g.size[2] / 2};
  if (!mask || !mask->count()) return centre;
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
  return centre;
}

/// Panel sizes at a common display pixel (the finest in-plane spacing of all planes): side by
/// side, the MR/CT checkerboard on top and the MR with bone and mask outline below.
struct Layout {
  double pix = 0;  ///< mm per display pixel
  std::size_t widths[3] = {}, heights[3] = {};
  std::size_t totalW = 0, panelH = 0;
};

Layout layoutPanels(const Geometry& g, const Plane (&planes)[3]) {
  Layout l;
  l.pix = *std::min_element(g.spacing.begin(), g.spacing.end());
  for (int k = 0; k < 3; ++k) {
    const auto& pl = planes[k];
    l.widths[k] = std::max<std::size_t>(1, std::size_t(std::lround(double(g.size[pl.u]) * g.spacing[pl.u] / l.pix)));
    l.heights[k] = std::max<std::size_t>(1, std::size_t(std::lround(double(g.size[pl.v]) * g.spacing[pl.v] / l.pix)));
    l.totalW += l.widths[k];
    l.panelH = std::max(l.panelH, l.heights[k]);
  }
  return l;
}

/// A mask voxel with a 4-neighbour (in plane) outside the mask, or on the grid's border.
bool onMaskOutline(const Mask& mask, const Geometry& g, const std::array<std::size_t, 3>& idx, const Plane& pl) {
  for (int d = 0; d < 4; ++d) {
    auto q = idx;
    const int axis = d < 2 ? pl.u : pl.v;
    const auto a = static_cast<std::size_t>(axis);
    if (d % 2 == 0) {
      if (q[a] == 0) return true;
      --q[a];
    } else {
      if (q[a] + 1 >= g.size[a]) return true;
      ++q[a];
    }
    if (mask.at(q[0], q[1], q[2]) == 0) return true;
  }
  return false;
}

struct QaInputs {
  const Volume& mr;
  const Volume& ctHu;
  const Mask* mask;
  double mrLo, mrHi;
  const QaImageOptions& o;
};

/// One plane's two panels, the top one at column x0, the bottom one below it.
void paintPlane(Canvas& canvas, const QaInputs& in, const Plane& pl, const Layout& l, int k, std::size_t x0) {
  const Geometry& g = in.mr.geometry();
  const QaImageOptions& o = in.o;
  for (std::size_t r = 0; r < l.heights[k]; ++r)
    for (std::size_t c = 0; c < l.widths[k]; ++c) {
      std::array<std::size_t, 3> idx;
      idx[static_cast<std::size_t>(pl.w)] = pl.fixed;
      const std::size_t iu = std::min(g.size[pl.u] - 1, std::size_t(double(c) * l.pix / g.spacing[pl.u]));
      std::size_t iv = std::min(g.size[pl.v] - 1, std::size_t(double(r) * l.pix / g.spacing[pl.v]));
      if (pl.flipV) iv = g.size[pl.v] - 1 - iv;
      idx[static_cast<std::size_t>(pl.u)] = iu;
      idx[static_cast<std::size_t>(pl.v)] = iv;
      const std::size_t li = g.linearIndex(idx[0], idx[1], idx[2]);
      const double m = in.mr.data()[li], ct = in.ctHu.data()[li];
      const bool tileMr =
          (std::size_t(double(c) * l.pix / o.tileMm) + std::size_t(double(r) * l.pix / o.tileMm)) % 2 == 0;
      const unsigned char gm = grey(m, in.mrLo, in.mrHi), gc = grey(ct, o.ctLowHu, o.ctHighHu);
      Rgb& top = canvas.at(x0 + c, r);
      top.Fill(tileMr ? gm : gc);
      Rgb& bottom = canvas.at(x0 + c, l.panelH + r);
      bottom.Fill(gm);
      if (ct > o.boneHu) {
        bottom[0] = 255;
        bottom[1] = static_cast<unsigned char>(gm / 2);
        bottom[2] = static_cast<unsigned char>(gm / 2);
      }
      if (in.mask && in.mask->data()[li] != 0 && onMaskOutline(*in.mask, g, idx, pl)) {
        bottom[0] = 0;
        bottom[1] = 255;
        bottom[2] = 0;
      }
    }
}

void writeCanvasPng(const Canvas& canvas, const std::filesystem::path& out) {
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
  const QaInputs in{mr, ctHu, mask, std::isfinite(p[0]) ? p[0] : 0, std::isfinite(p[1]) ? p[1] : 1, o};
  const auto centre = bodyCentre(g, mask);

  const Plane planes[3] = {{0, 1, 2, centre[2], false}, {0, 2, 1, centre[1], true}, {1, 2, 0, centre[0], true}};
  const Layout layout = layoutPanels(g, planes);
  Canvas canvas(layout.totalW, 2 * layout.panelH);
  std::size_t x0 = 0;
  for (int k = 0; k < 3; ++k) {
    paintPlane(canvas, in, planes[k], layout, k, x0);
    x0 += layout.widths[k];
  }
  writeCanvasPng(canvas, out);
}

}  // namespace mr2ct
