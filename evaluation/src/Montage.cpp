// The per-case montage (see Montage.h): 3 planes x 4 columns, captions, CT window, error scale bar.
#include "mr2ct/evaluation/Montage.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/Resampling.h"
#include "mr2ct/preprocessing/SpatialTransform.h"
#include "mr2ct/preprocessing/Statistics.h"

namespace mr2ct {
namespace {

constexpr int kMargin = 8;
constexpr int kLine = 18;  // caption line height at font scale 2

/// One plane: which voxel axis is held fixed, and which axes run horizontally / vertically.
struct Plane {
  const char* name;
  int fixed, horizontal, vertical;
  bool flipVertical;  // show higher indices at the top (z up)
};
const Plane kPlanes[3] = {{"AXIAL", 2, 0, 1, false}, {"CORONAL", 1, 0, 2, true}, {"SAGITTAL", 0, 1, 2, true}};

std::array<std::size_t, 3> maskCentroid(const Mask& m) {
  const auto s = m.size();
  double sum[3] = {0, 0, 0};
  std::size_t n = 0;
  for (std::size_t z = 0; z < s[2]; ++z)
    for (std::size_t y = 0; y < s[1]; ++y)
      for (std::size_t x = 0; x < s[0]; ++x)
        if (m.data()[m.geometry().linearIndex(x, y, z)]) {
          sum[0] += double(x), sum[1] += double(y), sum[2] += double(z);
          ++n;
        }
  if (n == 0) return {s[0] / 2, s[1] / 2, s[2] / 2};
  return {std::size_t(sum[0] / double(n)), std::size_t(sum[1] / double(n)), std::size_t(sum[2] / double(n))};
}

std::uint8_t grey(double v, double lo, double hi) {
  const double t = hi > lo ? (v - lo) / (hi - lo) : 0.0;
  return std::uint8_t(std::lround(255.0 * std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0)));
}

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "N/A";
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

/// Panel and picture sizes: every panel at one mm-per-pixel, the longest physical extent drawn in
/// options.panelPixels pixels; four equal columns under the captions, the footer below.
struct Layout {
  double mmPerPixel = 0;
  int panelW[3] = {}, panelH[3] = {}, colW = 0;
  int top = 0;  ///< first panel row: below the captions, a gap and the column titles
  int width = 0, height = 0;
  int columnX(int c) const { return kMargin + c * (colW + kMargin); }
};

Layout layoutMontage(const Geometry& g, int panelPixels, std::size_t captionLines) {
  const auto size = g.size;
  Layout l;
  double maxExtent = 0;
  for (int a = 0; a < 3; ++a) maxExtent = std::max(maxExtent, double(size[a]) * g.spacing[a]);
  l.mmPerPixel = maxExtent / panelPixels;
  for (int p = 0; p < 3; ++p) {
    const int h = kPlanes[p].horizontal, v = kPlanes[p].vertical;
    l.panelW[p] = std::max(1, int(std::lround(double(size[h]) * g.spacing[h] / l.mmPerPixel)));
    l.panelH[p] = std::max(1, int(std::lround(double(size[v]) * g.spacing[v] / l.mmPerPixel)));
    l.colW = std::max(l.colW, l.panelW[p]);
  }
  l.colW = std::max(l.colW, 130);  // room for the column titles and the scale-bar label
  const int headerLines = 1 + int(captionLines);
  l.top = kMargin + headerLines * kLine + kMargin + kLine;  // captions, gap, column titles
  l.height = l.top;
  for (int p = 0; p < 3; ++p) l.height += l.panelH[p] + kMargin;
  const int footer = 3 * kLine + 12;
  l.height += footer;
  l.width = kMargin + 4 * (l.colW + kMargin);
  return l;
}

/// The MR on the evaluation grid, for display only (identity transform, linear), and its window.
struct DisplayMr {
  Volume volume;  ///< empty without an MR
  double lo = 0, hi = 1;
};

DisplayMr displayMr(const MontageInput& in, const Geometry& g, const MontageOptions& o) {
  DisplayMr mr;
  if (in.mr)
    mr.volume = in.mr->geometry().sameAs(g, 1e-3) ? *in.mr : resampleVolume(*in.mr, g, SpatialTransform::identity());
  if (!mr.volume.empty()) {
    const auto p =
        percentiles(mr.volume.data(), mr.volume.voxelCount(), {o.mrLowPercentile, o.mrHighPercentile}, in.mask->data());
    if (std::isfinite(p[0]) && std::isfinite(p[1])) mr.lo = p[0], mr.hi = p[1];
  }
  return mr;
}

/// Title, caption lines and column titles.
void drawHeader(RgbImage& img, const MontageInput& in, const Layout& l) {
  int y = kMargin;
  drawText(img, kMargin, y, in.title, 2, 255, 255, 120);
  y += kLine;
  for (const auto& line : in.lines) {
    drawText(img, kMargin, y, line, 2);
    y += kLine;
  }
  y += kMargin;
  const char* columns[4] = {"MR", "SCT", "CT", "|SCT - CT|"};
  for (int c = 0; c < 4; ++c) drawText(img, l.columnX(c), y, columns[c], 2, 200, 220, 255);
}

/// One panel: plane p through `centre`, column c (0 MR, 1 sCT, 2 CT, 3 |error| inside the mask), top row y.
void drawPanel(RgbImage& img, const MontageInput& in, const MontageOptions& o, const DisplayMr& mr, const Layout& l,
               const std::array<std::size_t, 3>& centre, int p, int c, int y) {
  const Plane& pl = kPlanes[p];
  const Geometry& g = in.ref->geometry();
  const auto size = g.size;
  const Volume* vols[4] = {mr.volume.empty() ? nullptr : &mr.volume, in.pred, in.ref, nullptr};
  const int x0 = l.columnX(c) + (l.colW - l.panelW[p]) / 2;
  if (c == 0 && !vols[0]) {
    drawText(img, x0 + 4, y + l.panelH[p] / 2, "NO MR", 2, 160, 160, 160);
    return;
  }
  const auto along = [&](int axis, int pixel) {
    const double i = std::floor((pixel + 0.5) * l.mmPerPixel / g.spacing[axis]);
    return std::size_t(std::clamp(i, 0.0, double(size[axis] - 1)));
  };
  for (int v = 0; v < l.panelH[p]; ++v) {
    for (int u = 0; u < l.panelW[p]; ++u) {
      std::array<std::size_t, 3> idx = centre;
      idx[pl.horizontal] = along(pl.horizontal, u);
      const std::size_t vi = along(pl.vertical, v);
      idx[pl.vertical] = pl.flipVertical ? size[pl.vertical] - 1 - vi : vi;
      const std::size_t li = g.linearIndex(idx[0], idx[1], idx[2]);
      std::uint8_t r, gg, b;
      if (c == 3) {
        if (in.mask->data()[li]) {
          errorColour(std::fabs(in.pred->data()[li] - in.ref->data()[li]) / o.errorMaxHu, r, gg, b);
        } else {
          r = gg = b = 40;  // outside the evaluation mask
        }
      } else if (c == 0) {
        r = gg = b = grey(vols[0]->data()[li], mr.lo, mr.hi);
      } else {
        r = gg = b = grey(vols[c]->data()[li], o.ctLowHu, o.ctHighHu);
      }
      img.set(x0 + u, y + v, r, gg, b);
    }
  }
  if (c == 0 || (c == 1 && !vols[0])) drawText(img, x0 + 2, y + 2, pl.name, 1, 255, 255, 0);
}

/// Footer at row y: CT window, MR window, the planes' voxel, and the error scale bar under the error column.
void drawFooter(RgbImage& img, const MontageOptions& o, const Layout& l, const std::array<std::size_t, 3>& centre,
                int y) {
  const int barX = l.columnX(3);
  for (int u = 0; u < l.colW; ++u) {
    std::uint8_t r, gg, b;
    errorColour(double(u) / std::max(1, l.colW - 1), r, gg, b);
    for (int v = 0; v < 12; ++v) img.set(barX + u, y + v, r, gg, b);
  }
  drawText(img, barX, y + 16, "0", 2);
  const std::string maxLabel = fixed(o.errorMaxHu, 0) + " HU";
  drawText(img, barX + l.colW - int(maxLabel.size()) * 12, y + 16, maxLabel, 2);
  drawText(img, kMargin, y, "CT WINDOW [" + fixed(o.ctLowHu, 0) + ", " + fixed(o.ctHighHu, 0) + "] HU", 2);
  drawText(img, kMargin, y + kLine, "MR [P" + fixed(o.mrLowPercentile, 0) + ", P" + fixed(o.mrHighPercentile, 0) +
                                        "] IN MASK. PLANES THROUGH MASK CENTRE",
           1, 200, 200, 200);
  drawText(img, kMargin, y + kLine + 10,
           "VOXEL (" + std::to_string(centre[0]) + ", " + std::to_string(centre[1]) + ", " +
               std::to_string(centre[2]) + ")  |ERROR| INSIDE MASK ONLY",
           1, 200, 200, 200);
}

}  // namespace

void MontageOptions::validate() const {
  if (!(ctHighHu > ctLowHu)) throw UsageError("montage: CT window high must exceed low");
  if (!(errorMaxHu > 0)) throw UsageError("montage: error scale maximum must be > 0");
  if (panelPixels < 16 || panelPixels > 2048) throw UsageError("montage: panel size must be 16..2048 pixels");
}

RgbImage renderMontage(const MontageInput& in, const MontageOptions& o) {
  o.validate();
  if (!in.pred || !in.ref || !in.mask) throw DataError("montage: prediction, reference and mask are required");
  const Geometry& g = in.ref->geometry();
  const DisplayMr mr = displayMr(in, g, o);
  const auto centre = maskCentroid(*in.mask);
  const Layout l = layoutMontage(g, o.panelPixels, in.lines.size());
  RgbImage img(l.width, l.height, 24);
  drawHeader(img, in, l);
  int y = l.top;
  for (int p = 0; p < 3; ++p) {
    for (int c = 0; c < 4; ++c) drawPanel(img, in, o, mr, l, centre, p, c, y);
    y += l.panelH[p] + kMargin;
  }
  drawFooter(img, o, l, centre, y);
  return img;
}

void writeMontagePng(const MontageInput& input, const std::filesystem::path& path, const MontageOptions& options) {
  writePng(renderMontage(input, options), path);
}

}  // namespace mr2ct
