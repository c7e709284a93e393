// SPDX-License-Identifier: MIT
// The evaluation's labelled grids (reference/src/image/image_common.hpp, docs/evaluation.md "Grids"): the PNG
// decoded again (stb_image) holds each image scaled by nearest neighbour at its place, and each column's
// label drawn in the 5 × 7 font where the layout puts it; labels break into lines of the column's width.
#include "torch_common.hpp"  // first: see there

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#include <stb/stb_image.h>

#include <string>
#include <vector>

#include "image_common.hpp"

using namespace eps;
using namespace eps::test;

TEST_CASE("grids: labels break into lines of the column's width") {
  using V = std::vector<std::string>;
  CHECK(cli::label_lines("DPS@250", 9) == V{"DPS@250"});
  CHECK(cli::label_lines("EPS TASK@20", 9) == V{"EPS TASK", "@20"});
  CHECK(cli::label_lines("ZERO-SHOT@100", 9) == V{"ZERO-SHOT", "@100"});
  CHECK(cli::label_lines("PALETTE LONGNAME", 9) == V{"PALETTE", "LONGNAME"});
  CHECK(cli::label_lines("ABCDEFGHIJKLM", 9) == V{"ABCDEFGHI", "JKLM"});
  CHECK(cli::label_lines("", 9).empty());
}

TEST_CASE("grids: the decoded PNG holds the zoomed images and the labels' glyphs where the layout puts them") {
  // Two images of 3 × 4 pixels in two columns, zoom 2: each cell 6 × 8, 2-pixel gutters; header one line of
  // 9 px + 2. Column width 8 px: one character per line (6 px each), so "A1" is two lines: header 2·9 + 2.
  const at::Tensor imgs = at::linspace(-1, 1, 24, at::kFloat).reshape({2, 1, 3, 4});
  const std::string png = cli::png_grid_labelled(imgs, 2, {"A1", "-"}, 2);
  int w = 0, h = 0, ch = 0;
  unsigned char* px = stbi_load_from_memory(reinterpret_cast<const unsigned char*>(png.data()),
                                            static_cast<int>(png.size()), &w, &h, &ch, 1);
  REQUIRE(px != nullptr);
  const std::int64_t header = 2 * 9 + 2, pad = 2, cw = 8, chh = 6;
  CHECK(w == 2 * (cw + pad) + pad);
  CHECK(h == header + (chh + pad) + pad);
  const auto at_px = [&](std::int64_t x, std::int64_t y) { return int(px[y * w + x]); };
  // The images: pixel (i, j) of image k at (pad + k (cw + pad) + 2j + dj, header + pad + 2i + di).
  const at::Tensor u8 = ((imgs.clamp(-1, 1) + 1) * 127.5).round().to(at::kInt);
  int wrong = 0;
  for (std::int64_t k = 0; k < 2; ++k)
    for (std::int64_t i = 0; i < 3; ++i)
      for (std::int64_t j = 0; j < 4; ++j)
        for (int d = 0; d < 4; ++d)
          wrong +=
              at_px(pad + k * (cw + pad) + 2 * j + d % 2, header + pad + 2 * i + d / 2) != u8[k][0][i][j].item<int>();
  CHECK(wrong == 0);
  // The glyphs: 'A' (rows 0E 11 11 11 1F 11 11) on line 0 and '1' on line 1 of column 0, '-' on column 1;
  // a character is centred: x0 = pad + col (cw + pad) + (cw − 6 + 1)/2, y0 = 2 + 9 line.
  const auto glyph_ok = [&](std::int64_t x0, std::int64_t y0, const std::vector<int>& rows) {
    int bad = 0;
    for (int r = 0; r < 7; ++r)
      for (int b = 0; b < 5; ++b) bad += (at_px(x0 + b, y0 + r) == 0) != bool(rows[std::size_t(r)] & (0x10 >> b));
    return bad;
  };
  const std::int64_t off = (cw - 6 + 1) / 2;
  CHECK(glyph_ok(pad + off, 2, {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11}) == 0);
  CHECK(glyph_ok(pad + off, 11, {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}) == 0);
  CHECK(glyph_ok(pad + (cw + pad) + off, 2, {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}) == 0);
  stbi_image_free(px);
  CHECK_THROWS_AS(cli::png_grid_labelled(imgs, 2, {"only one"}, 2), shape_error);
}
