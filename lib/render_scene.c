// Orthographic frames of a scene for movies and inspection: two world axes mapped to image
// right and up with one scale, colliders from the geometry in θ (layout of
// phys_contact_kern.h), springs, particles and a time label.
#include <math.h>
#include <stdio.h>

#include "dp/dp.h"
#include "render_draw.h"

#define MARGIN 0.08      // fraction of the larger extent added on every side
#define MIN_EXTENT 1e-9  // m; below this an extent counts as none

#define COL_BG 0xFFFFFF
#define COL_TOP_GROUND 0xF4F1E8
#define COL_GROUND_FILL 0xE6DFCF
#define COL_GROUND_LINE 0x6B5B45
#define COL_BOX_FILL 0xD3DCE6
#define COL_BOX_EDGE 0x4F6378
#define COL_SPHERE_FILL 0xDCE6D3
#define COL_SPHERE_EDGE 0x56704A
#define COL_SPRING 0x808080
#define COL_ANCHOR 0x333333
#define COL_PARTICLE 0x1F77B4
#define COL_PINNED 0xD62728
#define COL_TEXT 0x000000

static void grow(double lo[3], double hi[3], int axis, double a, double b) {
  if (isfinite(a) && isfinite(b)) {
    lo[axis] = fmin(lo[axis], fmin(a, b));
    hi[axis] = fmax(hi[axis], fmax(a, b));
  }
}

static void grow_point(double lo[3], double hi[3], const double *p, const double *half) {
  if (!isfinite(p[0]) || !isfinite(p[1]) || !isfinite(p[2])) {
    return;
  }
  for (int k = 0; k < 3; k++) {
    double h = half != NULL ? fabs(half[k]) : 0;
    grow(lo, hi, k, p[k] - h, p[k] + h);
  }
}

void dp_render_bounds(const dpModel *m, const double *theta, const double *x, size_t nframes,
                      double lo[3], double hi[3]) {
  for (int k = 0; k < 3; k++) {
    lo[k] = INFINITY;
    hi[k] = -INFINITY;
  }
  const double *th = theta != NULL ? theta : m->theta0;
  size_t np = (size_t)(m->np > 0 ? m->np : 0);
  for (size_t f = 0; x != NULL && f < nframes; f++) {
    for (size_t i = 0; i < np; i++) {
      grow_point(lo, hi, x + 3 * (f * np + i), NULL);
    }
  }
  for (int i = 0; i < m->ns; i++) {
    if (m->sb[i] < 0) {
      grow_point(lo, hi, th + m->off.anchor + 3 * (size_t)i, NULL);
    }
  }
  for (int c = 0; c < m->nc; c++) {
    const double *g = th + m->off.cgeom + (size_t)DP_CGEOM * c;
    if (m->ctype[c] == DP_COLLIDER_BOX) {
      grow_point(lo, hi, g, g + 3);
    } else if (m->ctype[c] == DP_COLLIDER_SPHERE) {
      const double r[3] = {g[3], g[3], g[3]};
      grow_point(lo, hi, g, r);
    } else {
      grow(lo, hi, 2, g[0], g[0]);
    }
  }
  // Nothing on an axis: a metre around 0. Nothing anywhere but a point: a metre around it.
  int flat = 1;
  for (int k = 0; k < 3; k++) {
    if (lo[k] > hi[k]) {
      lo[k] = -0.5;
      hi[k] = 0.5;
    }
    flat = flat && hi[k] - lo[k] < MIN_EXTENT;
  }
  for (int k = 0; flat && k < 3; k++) {
    double c = 0.5 * (lo[k] + hi[k]);
    lo[k] = c - 0.5;
    hi[k] = c + 0.5;
  }
}

// World to pixel: column u0 + (p[a] − ca)·s, row v0 − (p[b] − cb)·s.
typedef struct sceneMap {
  int a, b;
  double s, ca, cb, u0, v0;
} sceneMap;

static void to_pixel(const sceneMap *mp, const double *p, double *u, double *v) {
  *u = mp->u0 + (p[mp->a] - mp->ca) * mp->s;
  *v = mp->v0 - (p[mp->b] - mp->cb) * mp->s;
}

// Pixel coordinate clamped far outside the image but within int range.
static int pix(double v) {
  return (int)lround(fmax(-1e6, fmin(1e6, v)));
}

static int finite3(const double *p) {
  return isfinite(p[0]) && isfinite(p[1]) && isfinite(p[2]);
}

static void draw_colliders(const dpCanvas *c, const dpModel *m, const double *th,
                           const sceneMap *mp, dpView view) {
  int W = c->img->width, H = c->img->height;
  for (int k = 0; k < m->nc; k++) {  // ground first: it lies under everything
    const double *g = th + m->off.cgeom + (size_t)DP_CGEOM * k;
    if (m->ctype[k] != DP_COLLIDER_GROUND || !isfinite(g[0])) {
      continue;
    }
    if (view == DP_VIEW_XY) {  // seen from above: the whole image is ground
      dp_draw_rect_fill(c, 0, 0, W - 1, H - 1, COL_TOP_GROUND);
      continue;
    }
    double v = mp->v0 - (g[0] - mp->cb) * mp->s;
    dp_draw_rect_fill(c, 0, pix(ceil(v)), W - 1, H - 1, COL_GROUND_FILL);
    dp_draw_line(c, -2, v, W + 1, v, 2.0, COL_GROUND_LINE);
  }
  for (int k = 0; k < m->nc; k++) {
    const double *g = th + m->off.cgeom + (size_t)DP_CGEOM * k;
    if (m->ctype[k] == DP_COLLIDER_GROUND || !finite3(g)) {
      continue;
    }
    double u, v;
    to_pixel(mp, g, &u, &v);
    if (m->ctype[k] == DP_COLLIDER_BOX) {  // an axis-aligned box projects to a rectangle
      double hu = fabs(g[3 + mp->a]) * mp->s, hv = fabs(g[3 + mp->b]) * mp->s;
      int x0 = pix(u - hu), x1 = pix(u + hu), y0 = pix(v - hv), y1 = pix(v + hv);
      dp_draw_rect_fill(c, x0, y0, x1, y1, COL_BOX_FILL);
      dp_draw_rect_outline(c, x0, y0, x1, y1, COL_BOX_EDGE);
    } else {
      double r = fabs(g[3]) * mp->s;
      dp_draw_disk(c, u, v, r, COL_SPHERE_FILL);
      dp_draw_circle(c, u, v, r, 1.5, COL_SPHERE_EDGE);
    }
  }
}

dpStatus dp_render_frame(const dpModel *m, const double *theta, const double *x, double time,
                         dpView view, const double lo[3], const double hi[3], dpImage *img,
                         dpError *err) {
  if (m == NULL || img == NULL || img->rgb == NULL || lo == NULL || hi == NULL ||
      (x == NULL && m->np > 0)) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "render: missing model, image or data");
  }
  if (view != DP_VIEW_XZ && view != DP_VIEW_XY && view != DP_VIEW_YZ) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "render: unknown view %d", (int)view);
  }
  if (!finite3(lo) || !finite3(hi)) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "render: bounds must be finite");
  }
  const double *th = theta != NULL ? theta : m->theta0;
  int W = img->width, H = img->height;
  sceneMap mp;
  mp.a = view == DP_VIEW_YZ ? 1 : 0;
  mp.b = view == DP_VIEW_XY ? 1 : 2;
  double ea = fmax(0, hi[mp.a] - lo[mp.a]), eb = fmax(0, hi[mp.b] - lo[mp.b]);
  double big = fmax(ea, eb);
  if (big < MIN_EXTENT) {
    big = 1.0;
  }
  double margin = MARGIN * big;
  mp.s = fmin(W / (ea + 2 * margin), H / (eb + 2 * margin));
  mp.ca = 0.5 * (lo[mp.a] + hi[mp.a]);
  mp.cb = 0.5 * (lo[mp.b] + hi[mp.b]);
  mp.u0 = 0.5 * (W - 1);
  mp.v0 = 0.5 * (H - 1);

  dpCanvas c;
  dp_canvas_init(&c, img);
  dp_draw_rect_fill(&c, 0, 0, W - 1, H - 1, COL_BG);
  draw_colliders(&c, m, th, &mp, view);

  int small = W < H ? W : H;
  int ts = small >= 700 ? 2 : 1;
  double rp = fmax(3.0, fmin(8.0, small / 120.0));  // particle radius, px
  for (int i = 0; i < m->ns; i++) {
    const double *pa = x + 3 * (size_t)m->sa[i];
    const double *pb =
        m->sb[i] >= 0 ? x + 3 * (size_t)m->sb[i] : th + m->off.anchor + 3 * (size_t)i;
    if (!finite3(pa) || !finite3(pb)) {
      continue;
    }
    double ua, va, ub, vb;
    to_pixel(&mp, pa, &ua, &va);
    to_pixel(&mp, pb, &ub, &vb);
    dp_draw_line(&c, ua, va, ub, vb, 1.5, COL_SPRING);
    if (m->sb[i] < 0) {
      int q = (int)ceil(0.5 * rp);
      dp_draw_rect_fill(&c, pix(ub) - q, pix(vb) - q, pix(ub) + q, pix(vb) + q, COL_ANCHOR);
    }
  }
  for (int i = 0; i < m->np; i++) {
    const double *p = x + 3 * (size_t)i;
    if (!finite3(p)) {
      continue;
    }
    double u, v;
    to_pixel(&mp, p, &u, &v);
    if (m->pinned[i]) {
      int q = (int)lround(rp);
      dp_draw_rect_fill(&c, pix(u) - q, pix(v) - q, pix(u) + q, pix(v) + q, COL_PINNED);
    } else {
      dp_draw_disk(&c, u, v, rp, COL_PARTICLE);
    }
  }
  char label[64];
  snprintf(label, sizeof label, "t = %.3f s", time);
  dp_draw_text(&c, 8 * ts, 8 * ts, label, ts, -1, -1, 0, COL_TEXT);
  static const char *const names[3] = {"x-z view", "x-y view", "y-z view"};
  dp_draw_text(&c, W - 1 - 8 * ts, 8 * ts, names[view], ts, 1, -1, 0, COL_TEXT);
  return DP_OK;
}
