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
  const auto size = g.size;
  // The MR on the evaluation grid, for display only (identity transform, linear).
  Volume mr;
  if (in.mr) mr = in.mr->geometry().sameAs(g, 1e-3) ? *in.mr : resampleVolume(*in.mr, g, SpatialTransform::identity());
  double mrLo = 0, mrHi = 1;
  if (!mr.empty()) {
    const auto p = percentiles(mr.data(), mr.voxelCount(), {o.mrLowPercentile, o.mrHighPercentile}, in.mask->data());
    if (std::isfinite(p[0]) && std::isfinite(p[1])) mrLo = p[0], mrHi = p[1];
  }
  const auto centre = maskCentroid(*in.mask);
  double maxExtent = 0;
  for (int a = 0; a < 3; ++a) maxExtent = std::max(maxExtent, double(size[a]) * g.spacing[a]);
  const double mmPerPixel = maxExtent / o.panelPixels;
  int panelW[3], panelH[3], colW = 0;
  for (int p = 0; p < 3; ++p) {
    panelW[p] = std::max(1, int(std::lround(size[kPlanes[p].horizontal] * g.spacing[kPlanes[p].horizontal] / mmPerPixel)));
    panelH[p] = std::max(1, int(std::lround(size[kPlanes[p].vertical] * g.spacing[kPlanes[p].vertical] / mmPerPixel)));
    colW = std::max(colW, panelW[p]);
  }
  colW = std::max(colW, 130);  // room for the column titles and the scale-bar label
  const int headerLines = 1 + int(in.lines.size());
  const int top = kMargin + headerLines * kLine + kMargin + kLine;  // captions, gap, column titles
  int height = top;
  for (int p = 0; p < 3; ++p) height += panelH[p] + kMargin;
  const int footer = 3 * kLine + 12;
  height += footer;
  const int width = kMargin + 4 * (colW + kMargin);
  RgbImage img(width, height, 24);

  int y = kMargin;
  drawText(img, kMargin, y, in.title, 2, 255, 255, 120);
  y += kLine;
  for (const auto& line : in.lines) {
    drawText(img, kMargin, y, line, 2);
    y += kLine;
  }
  y += kMargin;
  const char* columns[4] = {"MR", "SCT", "CT", "|SCT - CT|"};
  for (int c = 0; c < 4; ++c) drawText(img, kMargin + c * (colW + kMargin), y, columns[c], 2, 200, 220, 255);
  y += kLine;

  const Volume* vols[4] = {mr.empty() ? nullptr : &mr, in.pred, in.ref, nullptr};
  for (int p = 0; p < 3; ++p) {
    const Plane& pl = kPlanes[p];
    for (int c = 0; c < 4; ++c) {
      const int x0 = kMargin + c * (colW + kMargin) + (colW - panelW[p]) / 2;
      if (c == 0 && !vols[0]) {
        drawText(img, x0 + 4, y + panelH[p] / 2, "NO MR", 2, 160, 160, 160);
        continue;
      }
      for (int v = 0; v < panelH[p]; ++v) {
        for (int u = 0; u < panelW[p]; ++u) {
          std::array<std::size_t, 3> idx = centre;
          const auto along = [&](int axis, int pixel) {
            const double i = std::floor((pixel + 0.5) * mmPerPixel / g.spacing[axis]);
            return std::size_t(std::clamp(i, 0.0, double(size[axis] - 1)));
          };
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
            r = gg = b = grey(vols[0]->data()[li], mrLo, mrHi);
          } else {
            r = gg = b = grey(vols[c]->data()[li], o.ctLowHu, o.ctHighHu);
          }
          img.set(x0 + u, y + v, r, gg, b);
        }
      }
      if (c == 0 || (c == 1 && !vols[0])) drawText(img, x0 + 2, y + 2, pl.name, 1, 255, 255, 0);
    }
    y += panelH[p] + kMargin;
  }
  // Footer: CT window and the error scale bar under the error column.
  const int barX = kMargin + 3 * (colW + kMargin);
  for (int u = 0; u < colW; ++u) {
    std::uint8_t r, gg, b;
    errorColour(double(u) / std::max(1, colW - 1), r, gg, b);
    for (int v = 0; v < 12; ++v) img.set(barX + u, y + v, r, gg, b);
  }
  drawText(img, barX, y + 16, "0", 2);
  const std::string maxLabel = fixed(o.errorMaxHu, 0) + " HU";
  drawText(img, barX + colW - int(maxLabel.size()) * 12, y + 16, maxLabel, 2);
  drawText(img, kMargin, y, "CT WINDOW [" + fixed(o.ctLowHu, 0) + ", " + fixed(o.ctHighHu, 0) + "] HU", 2);
  drawText(img, kMargin, y + kLine, "MR [P" + fixed(o.mrLowPercentile, 0) + ", P" + fixed(o.mrHighPercentile, 0) +
                                        "] IN MASK. PLANES THROUGH MASK CENTRE",
           1, 200, 200, 200);
  drawText(img, kMargin, y + kLine + 10,
           "VOXEL (" + std::to_string(centre[0]) + ", " + std::to_string(centre[1]) + ", " +
               std::to_string(centre[2]) + ")  |ERROR| INSIDE MASK ONLY",
           1, 200, 200, 200);
  return img;
}

void writeMontagePng(const MontageInput& input, const std::filesystem::path& path, const MontageOptions& options) {
  writePng(renderMontage(input, options), path);
}

}  // namespace mr2ct
