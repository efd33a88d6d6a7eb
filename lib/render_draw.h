// Raster primitives for plots and scene frames, on a dpImage, all clipped to a rectangle.
// Pixel (i, j) is the unit square centred at the point (i, j). Lines, disks and circles are
// anti-aliased by coverage: a pixel whose centre is at distance d from the shape's edge
// (inside: d < 0) gets opacity clamp(0.5 − d, 0, 1), i.e. a one-pixel box filter across the edge.
// Text uses the built-in 5 × 7 bitmap font of render_font.c.
#ifndef DP_RENDER_DRAW_H
#define DP_RENDER_DRAW_H

#include <stdint.h>

#include "dp/dp.h"

typedef uint32_t dpColor;  // 0xRRGGBB

// A drawing target: the image and the clip rectangle (inclusive pixel bounds).
typedef struct dpCanvas {
  dpImage *img;
  int cx0, cy0, cx1, cy1;
} dpCanvas;

// The whole image as clip rectangle.
void dp_canvas_init(dpCanvas *c, dpImage *img);
// Clip to [x0, x1] × [y0, y1] intersected with the image (may become empty).
void dp_canvas_clip(dpCanvas *c, int x0, int y0, int x1, int y1);

// Blend col over pixel (x, y) with opacity alpha in [0, 1]; nothing outside the clip.
void dp_draw_blend(const dpCanvas *c, int x, int y, dpColor col, double alpha);
// Opaque rectangle [x0, x1] × [y0, y1] (inclusive; corners in any order).
void dp_draw_rect_fill(const dpCanvas *c, int x0, int y0, int x1, int y1, dpColor col);
// One-pixel outline of the same rectangle.
void dp_draw_rect_outline(const dpCanvas *c, int x0, int y0, int x1, int y1, dpColor col);
// Segment (ax, ay)–(bx, by) of the given width in pixels with round caps (a capsule). Segments
// far outside the clip are cut first (Liang–Barsky), so huge coordinates are safe; non-finite
// ones (or a difference that overflows) draw nothing.
void dp_draw_line(const dpCanvas *c, double ax, double ay, double bx, double by, double width,
                  dpColor col);
// Filled disk of radius r (pixels) centred at (x, y).
void dp_draw_disk(const dpCanvas *c, double x, double y, double r, dpColor col);
// Circle of radius r with a ring of the given width.
void dp_draw_circle(const dpCanvas *c, double x, double y, double r, double width, dpColor col);
// Filled convex polygon of n vertices xy (n × 2: x, y pairs, in order around it, either
// orientation), anti-aliased like the others: coverage clamp(0.5 − d) with d the largest signed
// distance of the pixel centre to an edge line (exact inside and near the edges). Non-finite
// vertices, n < 3 or no area draw nothing.
void dp_draw_polygon_fill(const dpCanvas *c, const double *xy, int n, dpColor col);

// ---- Text (render_font.c) -----------------------------------------------------------------
// Glyph: 5 × 7 pixels above the baseline and one descender row below, advance 6, line height 9,
// all times scale (1, 2, ...); heights and alignment use the 7 rows. Bytes outside
// ASCII 32..126 draw as '?' (a UTF-8 sequence counts as one character).
#define DP_FONT_W 5
#define DP_FONT_H 7
#define DP_FONT_ADVANCE 6
#define DP_FONT_LINE 9

// Width and height in pixels of text drawn unrotated at scale (0 for empty text).
int dp_font_width(const char *s, int scale);
int dp_font_height(int scale);
// Draw text with its box's anchor at (x, y): halign −1 left, 0 centre, 1 right edge at x;
// valign −1 top, 0 middle, 1 bottom at y. rotate 1: turned 90° counter-clockwise (reads bottom
// to top, for a y-axis label); alignment then applies to the turned box.
void dp_draw_text(const dpCanvas *c, int x, int y, const char *s, int scale, int halign, int valign,
                  int rotate, dpColor col);

#endif
