// Orthographic frames of a scene for movies and inspection: two world axes mapped to image
// right and up with one scale, colliders from the geometry in θ (layout of
// phys_contact_kern.h), the shapes of articulated bodies at their world poses (far ones first)
// with a stick figure of the tree over them, springs, particles and a time label.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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
#define COL_BODY_FILL 0xE8C9A0
#define COL_BODY_EDGE 0x8C5A2B
#define COL_BONE 0x404040
#define COL_JOINT 0x202020

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

// Rotation matrix (row-major 3 × 3) of the quaternion q = (w, x, y, z), normalized here.
static void quat_mat(const double *q, double *R) {
  double n = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  double w = 1, x = 0, y = 0, z = 0;
  if (n > 0 && isfinite(n)) {
    w = q[0] / n;
    x = q[1] / n;
    y = q[2] / n;
    z = q[3] / n;
  }
  R[0] = 1 - 2 * (y * y + z * z);
  R[1] = 2 * (x * y - w * z);
  R[2] = 2 * (x * z + w * y);
  R[3] = 2 * (x * y + w * z);
  R[4] = 1 - 2 * (x * x + z * z);
  R[5] = 2 * (y * z - w * x);
  R[6] = 2 * (x * z - w * y);
  R[7] = 2 * (y * z + w * x);
  R[8] = 1 - 2 * (x * x + y * y);
}

// World pose of shape k on its body at (bp, bq): centre c = bp + R_b p and R = R_b R(shquat).
static void shape_pose(const dpModel *m, const double *th, int k, const double *bp,
                       const double *bq, double c[3], double R[9]) {
  double Rb[9], Rs[9];
  quat_mat(bq, Rb);
  quat_mat(m->shquat + 4 * (size_t)k, Rs);
  const double *p = th + m->off.shape_pos + 3 * (size_t)k;
  for (int i = 0; i < 3; i++) {
    c[i] = bp[i] + Rb[3 * i] * p[0] + Rb[3 * i + 1] * p[1] + Rb[3 * i + 2] * p[2];
    for (int j = 0; j < 3; j++) {
      R[3 * i + j] = Rb[3 * i] * Rs[j] + Rb[3 * i + 1] * Rs[3 + j] + Rb[3 * i + 2] * Rs[6 + j];
    }
  }
}

// Half extents (3) along the world axes of the box that holds shape k with rotation R.
static void shape_half(const dpModel *m, const double *th, int k, const double R[9],
                       double h[3]) {
  const double *sz = th + m->off.shape_size + 3 * (size_t)k;
  for (int i = 0; i < 3; i++) {
    switch (m->shtype[k]) {
      case DP_SHAPE_SPHERE: h[i] = fabs(sz[0]); break;
      case DP_SHAPE_CAPSULE: h[i] = fabs(sz[0]) + fabs(R[3 * i + 2] * sz[1]); break;
      case DP_SHAPE_BOX:
        h[i] = fabs(R[3 * i] * sz[0]) + fabs(R[3 * i + 1] * sz[1]) + fabs(R[3 * i + 2] * sz[2]);
        break;
    }
  }
}

void dp_render_bounds(const dpModel *m, const double *theta, const double *x, const double *bpos,
                      const double *bquat, size_t nframes, double lo[3], double hi[3]) {
  for (int k = 0; k < 3; k++) {
    lo[k] = INFINITY;
    hi[k] = -INFINITY;
  }
  const double *th = theta != NULL ? theta : m->theta0;
  size_t np = (size_t)(m->np > 0 ? m->np : 0), nb = (size_t)(m->nb > 0 ? m->nb : 0);
  for (size_t f = 0; x != NULL && f < nframes; f++) {
    for (size_t i = 0; i < np; i++) {
      grow_point(lo, hi, x + 3 * (f * np + i), NULL);
    }
  }
  for (size_t f = 0; bpos != NULL && bquat != NULL && f < nframes; f++) {
    const double *bp = bpos + 3 * f * nb, *bq = bquat + 4 * f * nb;
    for (size_t i = 0; i < nb; i++) {
      grow_point(lo, hi, bp + 3 * i, NULL);
    }
    for (int k = 0; k < m->nsh; k++) {
      size_t b = (size_t)m->shbody[k];
      double c[3], R[9], h[3];
      shape_pose(m, th, k, bp + 3 * b, bq + 4 * b, c, R);
      shape_half(m, th, k, R, h);
      grow_point(lo, hi, c, h);
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

// Painter's order: a shape's depth along the viewing direction (larger is farther). The views
// look along +y (x-z, with x right and z up), −z (x-y) and −x (y-z).
typedef struct shapeDepth {
  double depth;
  int k;
} shapeDepth;

static int by_depth(const void *pa, const void *pb) {
  const shapeDepth *a = pa, *b = pb;
  if (a->depth != b->depth) {
    return a->depth > b->depth ? -1 : 1;
  }
  return a->k - b->k;
}

static void draw_shape(const dpCanvas *cv, const dpModel *m, const double *th, const sceneMap *mp,
                       int k, const double c[3], const double R[9]) {
  const double *sz = th + m->off.shape_size + 3 * (size_t)k;
  double u, v;
  to_pixel(mp, c, &u, &v);
  if (m->shtype[k] == DP_SHAPE_SPHERE) {
    double r = fabs(sz[0]) * mp->s;
    dp_draw_disk(cv, u, v, r, COL_BODY_FILL);
    dp_draw_circle(cv, u, v, r, 1.5, COL_BODY_EDGE);
  } else if (m->shtype[k] == DP_SHAPE_CAPSULE) {
    // The segment's ends ± half-length along the local z; the outline is a wider capsule under.
    double a[3], b[3], ua, va, ub, vb, r = fabs(sz[0]) * mp->s;
    for (int i = 0; i < 3; i++) {
      a[i] = c[i] - R[3 * i + 2] * sz[1];
      b[i] = c[i] + R[3 * i + 2] * sz[1];
    }
    to_pixel(mp, a, &ua, &va);
    to_pixel(mp, b, &ub, &vb);
    dp_draw_line(cv, ua, va, ub, vb, 2 * r + 3.0, COL_BODY_EDGE);
    dp_draw_line(cv, ua, va, ub, vb, 2 * r, COL_BODY_FILL);
  } else {
    // The convex hull of the 8 projected corners (Andrew's monotone chain).
    double pt[16], hull[32];
    for (int n = 0; n < 8; n++) {
      double w[3];
      for (int i = 0; i < 3; i++) {
        w[i] = c[i];
        for (int j = 0; j < 3; j++) {
          w[i] += R[3 * i + j] * ((n >> j) & 1 ? sz[j] : -sz[j]);
        }
      }
      to_pixel(mp, w, &pt[2 * n], &pt[2 * n + 1]);
    }
    for (int i = 1; i < 8; i++) {  // sort by (x, y): insertion sort of 8 points
      double px = pt[2 * i], py = pt[2 * i + 1];
      int j = i - 1;
      for (; j >= 0 && (pt[2 * j] > px || (pt[2 * j] == px && pt[2 * j + 1] > py)); j--) {
        pt[2 * j + 2] = pt[2 * j];
        pt[2 * j + 3] = pt[2 * j + 1];
      }
      pt[2 * j + 2] = px;
      pt[2 * j + 3] = py;
    }
    int h = 0;
    for (int pass = 0; pass < 2; pass++) {  // lower hull, then upper hull
      int start = h;
      for (int n = 0; n < 8; n++) {
        const double *p = pt + 2 * (pass == 0 ? n : 7 - n);
        while (h >= start + 2) {
          const double *o = hull + 2 * (h - 2), *a = hull + 2 * (h - 1);
          if ((a[0] - o[0]) * (p[1] - o[1]) - (a[1] - o[1]) * (p[0] - o[0]) > 0) {
            break;
          }
          h--;
        }
        hull[2 * h] = p[0];
        hull[2 * h + 1] = p[1];
        h++;
      }
      h--;  // the last point of each chain starts the other
    }
    dp_draw_polygon_fill(cv, hull, h, COL_BODY_FILL);
    for (int n = 0; n < h; n++) {
      const double *a = hull + 2 * n, *b = hull + 2 * ((n + 1) % h);
      dp_draw_line(cv, a[0], a[1], b[0], b[1], 1.5, COL_BODY_EDGE);
    }
  }
}

// Shapes far to near, then the stick figure: a line from each body origin to its parent's and a
// dot at every origin (radius rj pixels).
static dpStatus draw_bodies(const dpCanvas *cv, const dpModel *m, const double *th,
                            const sceneMap *mp, dpView view, const double *bpos,
                            const double *bquat, double rj, dpError *err) {
  int dax = view == DP_VIEW_XZ ? 1 : view == DP_VIEW_XY ? 2 : 0;
  double dsign = view == DP_VIEW_XZ ? 1.0 : -1.0;
  shapeDepth *order = m->nsh > 0 ? dp_malloc((size_t)m->nsh * sizeof *order) : NULL;
  if (m->nsh > 0 && order == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "render: out of memory");
  }
  int n = 0;
  for (int k = 0; k < m->nsh; k++) {
    size_t b = (size_t)m->shbody[k];
    double c[3], R[9];
    if (!finite3(bpos + 3 * b) || !finite3(bquat + 4 * b) || !isfinite(bquat[4 * b + 3])) {
      continue;
    }
    shape_pose(m, th, k, bpos + 3 * b, bquat + 4 * b, c, R);
    order[n++] = (shapeDepth){dsign * c[dax], k};
  }
  qsort(order, (size_t)n, sizeof *order, by_depth);
  for (int i = 0; i < n; i++) {
    int k = order[i].k;
    size_t b = (size_t)m->shbody[k];
    double c[3], R[9];
    shape_pose(m, th, k, bpos + 3 * b, bquat + 4 * b, c, R);
    draw_shape(cv, m, th, mp, k, c, R);
  }
  dp_free(order);
  for (int b = 0; b < m->nb; b++) {
    int p = m->bparent[b];
    const double *pb = bpos + 3 * (size_t)b;
    if (p < 0 || !finite3(pb) || !finite3(bpos + 3 * (size_t)p)) {
      continue;
    }
    double ua, va, ub, vb;
    to_pixel(mp, pb, &ua, &va);
    to_pixel(mp, bpos + 3 * (size_t)p, &ub, &vb);
    dp_draw_line(cv, ua, va, ub, vb, 1.5, COL_BONE);
  }
  for (int b = 0; b < m->nb; b++) {
    const double *pb = bpos + 3 * (size_t)b;
    if (finite3(pb)) {
      double u, v;
      to_pixel(mp, pb, &u, &v);
      dp_draw_disk(cv, u, v, rj, COL_JOINT);
    }
  }
  return DP_OK;
}

dpStatus dp_render_frame(const dpModel *m, const double *theta, const double *x,
                         const double *bpos, const double *bquat, double time, dpView view,
                         const double lo[3], const double hi[3], dpImage *img, dpError *err) {
  if (m == NULL || img == NULL || img->rgb == NULL || lo == NULL || hi == NULL ||
      (x == NULL && m->np > 0)) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "render: missing model, image or data");
  }
  if (m->nb > 0 && (bpos == NULL || bquat == NULL)) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "render: the model has bodies but no body poses were given");
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
  if (m->nb > 0) {
    dpStatus st = draw_bodies(&c, m, th, &mp, view, bpos, bquat, 0.5 * rp, err);
    if (st != DP_OK) {
      return st;
    }
  }
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
