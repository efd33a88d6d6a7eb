// Raster primitives: clipped rectangles, and anti-aliased capsules (thick lines), disks, rings
// and convex polygons whose coverage is the distance from the pixel centre to the shape's edge,
// clamped to one pixel (a box filter). Segments are first cut to the clip rectangle with the
// Liang–Barsky algorithm (Liang & Barsky, "A new concept and method for line clipping", ACM TOG
// 3(1), 1984).
#include <math.h>

#include "render_draw.h"

void dp_canvas_init(dpCanvas *c, dpImage *img) {
  c->img = img;
  c->cx0 = 0;
  c->cy0 = 0;
  c->cx1 = img->width - 1;
  c->cy1 = img->height - 1;
}

static int imax(int a, int b) {
  return a > b ? a : b;
}

static int imin(int a, int b) {
  return a < b ? a : b;
}

void dp_canvas_clip(dpCanvas *c, int x0, int y0, int x1, int y1) {
  c->cx0 = imax(0, imin(x0, x1));
  c->cy0 = imax(0, imin(y0, y1));
  c->cx1 = imin(c->img->width - 1, imax(x0, x1));
  c->cy1 = imin(c->img->height - 1, imax(y0, y1));
}

void dp_draw_blend(const dpCanvas *c, int x, int y, dpColor col, double alpha) {
  if (x < c->cx0 || x > c->cx1 || y < c->cy0 || y > c->cy1 || !(alpha > 0)) {
    return;
  }
  unsigned char *p = c->img->rgb + 3 * ((size_t)y * (size_t)c->img->width + (size_t)x);
  const unsigned char s[3] = {(unsigned char)(col >> 16), (unsigned char)(col >> 8),
                              (unsigned char)col};
  if (alpha >= 1) {
    p[0] = s[0];
    p[1] = s[1];
    p[2] = s[2];
    return;
  }
  for (int k = 0; k < 3; k++) {
    p[k] = (unsigned char)lround(p[k] + alpha * ((double)s[k] - p[k]));
  }
}

void dp_draw_rect_fill(const dpCanvas *c, int x0, int y0, int x1, int y1, dpColor col) {
  int xa = imax(c->cx0, imin(x0, x1)), xb = imin(c->cx1, imax(x0, x1));
  int ya = imax(c->cy0, imin(y0, y1)), yb = imin(c->cy1, imax(y0, y1));
  for (int y = ya; y <= yb; y++) {
    for (int x = xa; x <= xb; x++) {
      dp_draw_blend(c, x, y, col, 1.0);
    }
  }
}

void dp_draw_rect_outline(const dpCanvas *c, int x0, int y0, int x1, int y1, dpColor col) {
  dp_draw_rect_fill(c, x0, y0, x1, y0, col);
  dp_draw_rect_fill(c, x0, y1, x1, y1, col);
  dp_draw_rect_fill(c, x0, y0, x0, y1, col);
  dp_draw_rect_fill(c, x1, y0, x1, y1, col);
}

static double clamp01(double v) {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

// Liang–Barsky: the boundary test p·t <= q of edge `id` narrows [t0, t1] and records which edge
// set each end (e0, e1). Returns 0 when nothing is left.
static int lb_edge(double p, double q, int id, double *t0, double *t1, int *e0, int *e1) {
  if (p == 0) {
    return q >= 0;
  }
  double r = q / p;
  if (p < 0) {
    if (r > *t1) {
      return 0;
    }
    if (r > *t0) {
      *t0 = r;
      *e0 = id;
    }
  } else {
    if (r < *t0) {
      return 0;
    }
    if (r < *t1) {
      *t1 = r;
      *e1 = id;
    }
  }
  return 1;
}

// The point at t of the segment, exactly on the boundary edge e (0..3: x = lo, x = hi, y = lo,
// y = hi) that cut it there, or the endpoint itself (e < 0). Setting the cut coordinate exactly
// keeps far-away endpoints (|a| >> image) from smearing it by their rounding.
static void lb_point(double ax, double ay, double dx, double dy, double t, int e,
                     const double edge[4], double *x, double *y) {
  *x = e < 0 ? ax : e < 2 ? edge[e] : ax + t * dx;
  *y = e < 0 ? ay : e >= 2 ? edge[e] : ay + t * dy;
}

// Distance from (px, py) to the segment a + t d, t in [0, 1] (dd = |d|², > 0).
static double seg_dist(double px, double py, double ax, double ay, double dx, double dy,
                       double dd) {
  double t = ((px - ax) * dx + (py - ay) * dy) / dd;
  t = clamp01(t);
  double ex = px - (ax + t * dx), ey = py - (ay + t * dy);
  return sqrt(ex * ex + ey * ey);
}

void dp_draw_line(const dpCanvas *c, double ax, double ay, double bx, double by, double width,
                  dpColor col) {
  if (!isfinite(ax) || !isfinite(ay) || !isfinite(bx) || !isfinite(by) || !(width > 0) ||
      c->cx0 > c->cx1 || c->cy0 > c->cy1) {
    return;
  }
  double hw = 0.5 * width;
  // Pixels farther than hw + 0.5 from the segment get no ink, so cutting the segment to the clip
  // rectangle grown by pad changes nothing visible and bounds the loops below.
  double pad = hw + 1.0;
  double dx = bx - ax, dy = by - ay;
  if (!isfinite(dx) || !isfinite(dy)) {  // endpoints near ±DBL_MAX on both sides
    return;
  }
  double t0 = 0, t1 = 1;
  int e0 = -1, e1 = -1;
  const double edge[4] = {c->cx0 - pad, c->cx1 + pad, c->cy0 - pad, c->cy1 + pad};
  if (!lb_edge(-dx, ax - edge[0], 0, &t0, &t1, &e0, &e1) ||
      !lb_edge(dx, edge[1] - ax, 1, &t0, &t1, &e0, &e1) ||
      !lb_edge(-dy, ay - edge[2], 2, &t0, &t1, &e0, &e1) ||
      !lb_edge(dy, edge[3] - ay, 3, &t0, &t1, &e0, &e1)) {
    return;
  }
  double px, py, qx, qy;
  lb_point(ax, ay, dx, dy, t0, e0, edge, &px, &py);
  if (e1 < 0) {
    qx = bx;
    qy = by;
  } else {
    lb_point(ax, ay, dx, dy, t1, e1, edge, &qx, &qy);
  }
  dx = qx - px;
  dy = qy - py;
  double dd = dx * dx + dy * dy;
  if (dd < 1e-12) {
    dp_draw_disk(c, px, py, hw, col);
    return;
  }
  // Walk the major axis; across it, the capsule spans at most (hw + 1)·len/|major| on each side.
  int steep = fabs(dy) > fabs(dx);
  double len = sqrt(dd);
  double across = pad * len / (steep ? fabs(dy) : fabs(dx)) + 1.0;
  double m0 = steep ? fmin(py, qy) : fmin(px, qx), m1 = steep ? fmax(py, qy) : fmax(px, qx);
  int lo = (int)floor(m0 - pad), hi = (int)ceil(m1 + pad);
  lo = imax(lo, steep ? c->cy0 : c->cx0);
  hi = imin(hi, steep ? c->cy1 : c->cx1);
  for (int i = lo; i <= hi; i++) {
    // Centre of the capsule's cross-section at this major coordinate.
    double t = steep ? (i - py) / dy : (i - px) / dx;
    t = clamp01(t);
    double mc = steep ? px + t * dx : py + t * dy;
    int j0 = (int)floor(mc - across), j1 = (int)ceil(mc + across);
    j0 = imax(j0, steep ? c->cx0 : c->cy0);
    j1 = imin(j1, steep ? c->cx1 : c->cy1);
    for (int j = j0; j <= j1; j++) {
      int x = steep ? j : i, y = steep ? i : j;
      double d = seg_dist(x, y, px, py, dx, dy, dd);
      dp_draw_blend(c, x, y, col, clamp01(hw + 0.5 - d));
    }
  }
}

// Shared loop of disks and rings: coverage as a function of the distance to the centre.
static void radial(const dpCanvas *c, double x, double y, double rout, double r, double hw,
                   int ring, dpColor col) {
  if (!isfinite(x) || !isfinite(y) || !isfinite(rout) || !(rout > 0)) {
    return;
  }
  double xa = fmax(x - rout - 1, c->cx0), xb = fmin(x + rout + 1, c->cx1);
  double ya = fmax(y - rout - 1, c->cy0), yb = fmin(y + rout + 1, c->cy1);
  if (xa > xb || ya > yb) {
    return;
  }
  for (int j = (int)floor(ya); j <= (int)ceil(yb); j++) {
    for (int i = (int)floor(xa); i <= (int)ceil(xb); i++) {
      double d = hypot(i - x, j - y);
      double a = ring ? hw + 0.5 - fabs(d - r) : r + 0.5 - d;
      dp_draw_blend(c, i, j, col, clamp01(a));
    }
  }
}

void dp_draw_disk(const dpCanvas *c, double x, double y, double r, dpColor col) {
  radial(c, x, y, r, r, 0, 0, col);
}

void dp_draw_circle(const dpCanvas *c, double x, double y, double r, double width, dpColor col) {
  radial(c, x, y, r + 0.5 * width, r, 0.5 * width, 1, col);
}

void dp_draw_polygon_fill(const dpCanvas *c, const double *xy, int n, dpColor col) {
  if (n < 3 || c->cx0 > c->cx1 || c->cy0 > c->cy1) {
    return;
  }
  double area = 0, x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (int k = 0; k < n; k++) {
    const double *a = xy + 2 * k, *b = xy + 2 * ((k + 1) % n);
    if (!isfinite(a[0]) || !isfinite(a[1])) {
      return;
    }
    area += a[0] * b[1] - b[0] * a[1];
    x0 = fmin(x0, a[0]);
    x1 = fmax(x1, a[0]);
    y0 = fmin(y0, a[1]);
    y1 = fmax(y1, a[1]);
  }
  if (!(fabs(area) > 1e-12)) {
    return;
  }
  // Outward normals point right of each edge for a positive (counter-clockwise) area.
  double sign = area > 0 ? 1.0 : -1.0;
  int ia = imax(c->cx0, (int)floor(fmax(x0 - 1, -1e6)));
  int ib = imin(c->cx1, (int)ceil(fmin(x1 + 1, 1e6)));
  int ja = imax(c->cy0, (int)floor(fmax(y0 - 1, -1e6)));
  int jb = imin(c->cy1, (int)ceil(fmin(y1 + 1, 1e6)));
  for (int j = ja; j <= jb; j++) {
    for (int i = ia; i <= ib; i++) {
      double d = -INFINITY;
      for (int k = 0; k < n; k++) {
        const double *a = xy + 2 * k, *b = xy + 2 * ((k + 1) % n);
        double ex = b[0] - a[0], ey = b[1] - a[1], len = hypot(ex, ey);
        if (len < 1e-12) {
          continue;
        }
        d = fmax(d, sign * ((i - a[0]) * ey - (j - a[1]) * ex) / len);
      }
      dp_draw_blend(c, i, j, col, clamp01(0.5 - d));
    }
  }
}
