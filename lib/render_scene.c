// Orthographic frames of a scene for movies and inspection: two world axes mapped to image
// right and up with one scale, colliders from the geometry in θ (layout of
// phys_contact_kern.h), the surfaces of soft bodies and shells coloured by strain (painter's
// order), the shapes of articulated bodies at their world poses (far ones first) with a stick
// figure of the tree over them, springs, particles and a time label.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp/dp.h"
#include "io_mesh.h"
#include "render_draw.h"
#include "render_scene.h"

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
#define COL_SOFT_OUTLINE 0x404040
#define COL_SOFT_EDGE 0x2F4F6F
#define COL_STRAIN_NAN 0xB0B0B0

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
  dp_render_bounds_soft(m, theta, x, bpos, bquat, NULL, nframes, lo, hi);
}

void dp_render_bounds_soft(const dpModel *m, const double *theta, const double *x,
                           const double *bpos, const double *bquat, const double *sx,
                           size_t nframes, double lo[3], double hi[3]) {
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
  size_t nvert = (size_t)(m->nvert > 0 ? m->nvert : 0);
  for (size_t f = 0; sx != NULL && f < nframes; f++) {
    for (size_t i = 0; i < nvert; i++) {
      grow_point(lo, hi, sx + 3 * (f * nvert + i), NULL);
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

// ------------------------------------------------------------------------------------------
// Soft bodies and shells: surface triangles coloured by the Green strain of their element.

// viridis (matplotlib), sampled at 0, 0.1, ..., 1.
static const dpColor k_viridis[11] = {0x440154, 0x482475, 0x414487, 0x355F8D,
                                      0x2A788E, 0x21918C, 0x22A884, 0x44BF70,
                                      0x7AD151, 0xBDDF26, 0xFDE725};

// Colour of t in [0, 1] (clamped), linear between the samples.
static dpColor viridis(double t) {
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  double u = 10 * t;
  int k = (int)floor(u);
  if (k >= 10) {
    return k_viridis[10];
  }
  double a = u - k;
  dpColor c0 = k_viridis[k], c1 = k_viridis[k + 1], out = 0;
  for (int sh = 16; sh >= 0; sh -= 8) {
    double v0 = (c0 >> sh) & 0xFF, v1 = (c1 >> sh) & 0xFF;
    out |= (dpColor)lround(v0 + a * (v1 - v0)) << sh;
  }
  return out;
}

static dpColor strain_color(double e) {
  return isfinite(e) ? viridis(e / DP_RENDER_STRAIN_MAX) : COL_STRAIN_NAN;
}

// ‖FᵀF − I‖_F / 2 with FᵀF = Dm⁻ᵀ (Dsᵀ Ds) Dm⁻¹ for the n × n rest matrix Dm (n = 2, 3; column
// j the rest edge j in some orthonormal basis) and the Gram matrix G = Dsᵀ Ds of the current
// edges (n × n, row-major).
static double green_norm(const double *Dm, const double *G, int n) {
  double inv[9];
  if (n == 3) {
    double det = Dm[0] * (Dm[4] * Dm[8] - Dm[5] * Dm[7]) - Dm[1] * (Dm[3] * Dm[8] - Dm[5] * Dm[6]) +
                 Dm[2] * (Dm[3] * Dm[7] - Dm[4] * Dm[6]);
    if (!(fabs(det) > 0) || !isfinite(det)) {
      return NAN;
    }
    inv[0] = (Dm[4] * Dm[8] - Dm[5] * Dm[7]) / det;
    inv[1] = (Dm[2] * Dm[7] - Dm[1] * Dm[8]) / det;
    inv[2] = (Dm[1] * Dm[5] - Dm[2] * Dm[4]) / det;
    inv[3] = (Dm[5] * Dm[6] - Dm[3] * Dm[8]) / det;
    inv[4] = (Dm[0] * Dm[8] - Dm[2] * Dm[6]) / det;
    inv[5] = (Dm[2] * Dm[3] - Dm[0] * Dm[5]) / det;
    inv[6] = (Dm[3] * Dm[7] - Dm[4] * Dm[6]) / det;
    inv[7] = (Dm[1] * Dm[6] - Dm[0] * Dm[7]) / det;
    inv[8] = (Dm[0] * Dm[4] - Dm[1] * Dm[3]) / det;
  } else {
    double det = Dm[0] * Dm[3] - Dm[1] * Dm[2];
    if (!(fabs(det) > 0) || !isfinite(det)) {
      return NAN;
    }
    inv[0] = Dm[3] / det;
    inv[1] = -Dm[1] / det;
    inv[2] = -Dm[2] / det;
    inv[3] = Dm[0] / det;
  }
  double sum = 0;
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < n; j++) {
      double c = 0;  // (Dm⁻ᵀ G Dm⁻¹)_ij = Σ_kl inv_ki G_kl inv_lj
      for (int k = 0; k < n; k++) {
        for (int l = 0; l < n; l++) {
          c += inv[k * n + i] * G[k * n + l] * inv[l * n + j];
        }
      }
      c -= i == j;
      sum += c * c;
    }
  }
  return 0.5 * sqrt(sum);
}

static void edge(const double *P, int a, int b, double e[3]) {
  for (int k = 0; k < 3; k++) {
    e[k] = P[3 * (size_t)b + k] - P[3 * (size_t)a + k];
  }
}

static double dot3(const double *a, const double *b) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static void cross3(const double *a, const double *b, double c[3]) {
  c[0] = a[1] * b[2] - a[2] * b[1];
  c[1] = a[2] * b[0] - a[0] * b[2];
  c[2] = a[0] * b[1] - a[1] * b[0];
}

double dp_render_tet_strain(const double *X, const double *x, const int *v) {
  double R[3][3], C[3][3], Dm[9], G[9];
  for (int j = 0; j < 3; j++) {
    edge(X, v[0], v[j + 1], R[j]);
    edge(x, v[0], v[j + 1], C[j]);
  }
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      Dm[3 * i + j] = R[j][i];  // column j: rest edge j in world coordinates
      G[3 * i + j] = dot3(C[i], C[j]);
    }
  }
  return green_norm(Dm, G, 3);
}

double dp_render_tri_strain(const double *X, const double *x, const int *v) {
  double r1[3], r2[3], c1[3], c2[3], nrm[3], e1[3], e2[3];
  edge(X, v[0], v[1], r1);
  edge(X, v[0], v[2], r2);
  edge(x, v[0], v[1], c1);
  edge(x, v[0], v[2], c2);
  // An orthonormal basis (e1, e2) of the rest plane.
  double l1 = sqrt(dot3(r1, r1));
  cross3(r1, r2, nrm);
  double ln = sqrt(dot3(nrm, nrm));
  if (!(l1 > 0) || !(ln > 0)) {
    return NAN;
  }
  for (int k = 0; k < 3; k++) {
    e1[k] = r1[k] / l1;
    nrm[k] /= ln;
  }
  cross3(nrm, e1, e2);
  double Dm[4] = {dot3(e1, r1), dot3(e1, r2), dot3(e2, r1), dot3(e2, r2)};
  double G[4] = {dot3(c1, c1), dot3(c1, c2), dot3(c2, c1), dot3(c2, c2)};
  return green_norm(Dm, G, 2);
}

// A surface triangle: model vertex indices, the element it belongs to (into m->tet, or into
// m->tri for a shell) and whether it is one-sided (a soft body's boundary face).
typedef struct softFace {
  int v[3];
  int elem;
  int solid;
} softFace;

typedef struct faceKey {
  int key[3];  // sorted vertex indices
  int elem;
} faceKey;

static int cmp_key(const void *pa, const void *pb) {
  const faceKey *a = pa, *b = pb;
  for (int k = 0; k < 3; k++) {
    if (a->key[k] != b->key[k]) {
      return a->key[k] < b->key[k] ? -1 : 1;
    }
  }
  return 0;
}

static void sort3(const int *v, int *k) {
  int a = v[0], b = v[1], c = v[2], t;
  if (a > b) {
    t = a, a = b, b = t;
  }
  if (b > c) {
    t = b, b = c, c = t;
  }
  if (a > b) {
    t = a, a = b, b = t;
  }
  k[0] = a;
  k[1] = b;
  k[2] = c;
}

// The surface of every soft body (boundary faces of all tetrahedra at once, from the rest
// positions: bodies share no vertex, so no face of one meets another's) and every shell
// triangle, each with its element. *out (dp_malloc'ed) holds *n faces.
static dpStatus soft_faces(const dpModel *m, const double *th, softFace **out, int *n,
                           dpError *err) {
  int *bt = NULL, nbt = 0;
  faceKey *keys = NULL;
  dpStatus st = DP_OK;
  *out = NULL;
  *n = 0;
  if (m->ntet > 0) {
    dpMesh mesh;
    memset(&mesh, 0, sizeof mesh);
    mesh.nv = m->nvert;
    mesh.X = (double *)(th + m->off.soft_rest);  // read only: dp_mesh_surface takes const
    mesh.ntet = m->ntet;
    mesh.tet = m->tet;
    if ((st = dp_mesh_surface(&mesh, &bt, &nbt, err)) != DP_OK) {
      return st;
    }
  }
  size_t total = (size_t)nbt + (size_t)m->ntri;
  softFace *f = dp_malloc((total > 0 ? total : 1) * sizeof *f);
  keys = m->ntet > 0 ? dp_malloc(4 * (size_t)m->ntet * sizeof *keys) : NULL;
  if (f == NULL || (m->ntet > 0 && keys == NULL)) {
    dp_free(f);
    st = dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "render: out of memory");
    goto done;
  }
  // The tetrahedron under each boundary face: look its vertex set up among all tets' faces.
  static const int faces[4][3] = {{1, 2, 3}, {0, 3, 2}, {0, 1, 3}, {0, 2, 1}};
  for (int t = 0; t < m->ntet; t++) {
    for (int q = 0; q < 4; q++) {
      const int *tv = m->tet + 4 * (size_t)t;
      int v[3] = {tv[faces[q][0]], tv[faces[q][1]], tv[faces[q][2]]};
      faceKey *k = &keys[4 * (size_t)t + q];
      sort3(v, k->key);
      k->elem = t;
    }
  }
  if (m->ntet > 0) {
    qsort(keys, 4 * (size_t)m->ntet, sizeof *keys, cmp_key);
  }
  int nf = 0;
  for (int i = 0; i < nbt; i++) {
    faceKey probe;
    sort3(bt + 3 * (size_t)i, probe.key);
    const faceKey *hit = bsearch(&probe, keys, 4 * (size_t)m->ntet, sizeof *keys, cmp_key);
    if (hit == NULL) {
      continue;  // cannot happen: every boundary face is a face of some tetrahedron
    }
    memcpy(f[nf].v, bt + 3 * (size_t)i, sizeof f[nf].v);
    f[nf].elem = hit->elem;
    f[nf].solid = 1;
    nf++;
  }
  for (int i = 0; i < m->ntri; i++) {
    memcpy(f[nf].v, m->tri + 3 * (size_t)i, sizeof f[nf].v);
    f[nf].elem = i;
    f[nf].solid = 0;
    nf++;
  }
  *out = f;
  *n = nf;
done:
  dp_free(bt);
  dp_free(keys);
  return st;
}

// Colour bar of the strain scale at the bottom right: 0 … DP_RENDER_STRAIN_MAX, "strain".
static void draw_strain_legend(const dpCanvas *c, int ts) {
  int W = c->img->width, H = c->img->height;
  int bw = 100 * ts, bh = 8 * ts, pad = 4 * ts, th = dp_font_height(ts);
  char hi[32];
  snprintf(hi, sizeof hi, "%g", DP_RENDER_STRAIN_MAX);
  int lw = dp_font_width("strain", ts);
  int x1 = W - 1 - 8 * ts, x0 = x1 - bw + 1;
  int y1 = H - 1 - 8 * ts - th - pad, y0 = y1 - bh + 1;  // the bar; labels below it
  int bx0 = x0 - pad - lw - pad, by0 = y0 - pad, bx1 = x1 + pad, by1 = y1 + pad + th + pad;
  if (bx0 < 0 || by0 < 0) {
    return;  // no room
  }
  dp_draw_rect_fill(c, bx0, by0, bx1, by1, COL_BG);
  dp_draw_rect_outline(c, bx0, by0, bx1, by1, COL_SOFT_OUTLINE);
  for (int i = x0; i <= x1; i++) {
    dp_draw_rect_fill(c, i, y0, i, y1, viridis((double)(i - x0) / (bw - 1)));
  }
  dp_draw_text(c, bx0 + pad, (y0 + y1) / 2, "strain", ts, -1, 0, 0, COL_TEXT);
  dp_draw_text(c, x0, y1 + pad, "0", ts, -1, -1, 0, COL_TEXT);
  dp_draw_text(c, x1, y1 + pad, hi, ts, 1, -1, 0, COL_TEXT);
}

static dpStatus draw_soft(const dpCanvas *cv, const dpModel *m, const double *th,
                          const sceneMap *mp, dpView view, const double *sx, dpMeshStyle style,
                          double rp, dpError *err) {
  softFace *f = NULL;
  int nf = 0;
  dpStatus st = soft_faces(m, th, &f, &nf, err);
  if (st != DP_OK) {
    return st;
  }
  shapeDepth *order = dp_malloc((size_t)(nf > 0 ? nf : 1) * sizeof *order);
  if (order == NULL) {
    dp_free(f);
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "render: out of memory");
  }
  // The viewing direction d (into the picture): a face whose outward normal has n·d > 0 is
  // seen from behind.
  int dax = view == DP_VIEW_XZ ? 1 : view == DP_VIEW_XY ? 2 : 0;
  double dsign = view == DP_VIEW_XZ ? 1.0 : -1.0;
  const double *X = th + m->off.soft_rest;
  int n = 0;
  for (int i = 0; i < nf; i++) {
    const double *a = sx + 3 * (size_t)f[i].v[0], *b = sx + 3 * (size_t)f[i].v[1];
    const double *c = sx + 3 * (size_t)f[i].v[2];
    if (!finite3(a) || !finite3(b) || !finite3(c)) {
      continue;
    }
    if (style == DP_MESH_STRAIN && f[i].solid) {
      double u[3], w[3], nrm[3];
      for (int k = 0; k < 3; k++) {
        u[k] = b[k] - a[k];
        w[k] = c[k] - a[k];
      }
      cross3(u, w, nrm);
      if (dsign * nrm[dax] > 0) {
        continue;
      }
    }
    order[n++] = (shapeDepth){dsign * (a[dax] + b[dax] + c[dax]) / 3.0, i};
  }
  qsort(order, (size_t)n, sizeof *order, by_depth);
  for (int i = 0; i < n; i++) {
    const softFace *g = &f[order[i].k];
    double xy[6];
    for (int k = 0; k < 3; k++) {
      to_pixel(mp, sx + 3 * (size_t)g->v[k], &xy[2 * k], &xy[2 * k + 1]);
    }
    double lw = style == DP_MESH_STRAIN ? 1.0 : 1.5;
    dpColor ec = style == DP_MESH_STRAIN ? COL_SOFT_OUTLINE : COL_SOFT_EDGE;
    if (style == DP_MESH_STRAIN) {
      double e = g->solid ? dp_render_tet_strain(X, sx, m->tet + 4 * (size_t)g->elem)
                          : dp_render_tri_strain(X, sx, m->tri + 3 * (size_t)g->elem);
      dp_draw_polygon_fill(cv, xy, 3, strain_color(e));
    }
    for (int k = 0; k < 3; k++) {
      const double *p = xy + 2 * k, *q = xy + 2 * ((k + 1) % 3);
      dp_draw_line(cv, p[0], p[1], q[0], q[1], lw, ec);
    }
  }
  int qs = (int)lround(0.5 * rp);
  for (int p = 0; p < m->npin; p++) {
    const double *pv = sx + 3 * (size_t)m->pin[p];
    if (finite3(pv)) {
      double u, v;
      to_pixel(mp, pv, &u, &v);
      dp_draw_rect_fill(cv, pix(u) - qs, pix(v) - qs, pix(u) + qs, pix(v) + qs, COL_PINNED);
    }
  }
  dp_free(order);
  dp_free(f);
  return DP_OK;
}

// dp_render_frame and dp_render_frame_soft; skip_soft: leave soft bodies out (sx unused).
static dpStatus render_frame(const dpModel *m, const double *theta, const double *x,
                             const double *bpos, const double *bquat, const double *sx,
                             dpMeshStyle style, int skip_soft, double time, dpView view,
                             const double lo[3], const double hi[3], dpImage *img, dpError *err) {
  if (m == NULL || img == NULL || img->rgb == NULL || lo == NULL || hi == NULL ||
      (x == NULL && m->np > 0)) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "render: missing model, image or data");
  }
  if (!skip_soft && m->nsoft > 0 && sx == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "render: the model has soft bodies or shells but no vertex positions "
                        "were given");
  }
  if (style != DP_MESH_STRAIN && style != DP_MESH_EDGES) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "render: unknown mesh style %d",
                        (int)style);
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
  if (!skip_soft && m->nsoft > 0) {
    dpStatus st = draw_soft(&c, m, th, &mp, view, sx, style, rp, err);
    if (st != DP_OK) {
      return st;
    }
  }
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
  if (!skip_soft && m->nsoft > 0 && style == DP_MESH_STRAIN) {
    draw_strain_legend(&c, ts);
  }
  return DP_OK;
}

dpStatus dp_render_frame(const dpModel *m, const double *theta, const double *x,
                         const double *bpos, const double *bquat, double time, dpView view,
                         const double lo[3], const double hi[3], dpImage *img, dpError *err) {
  return render_frame(m, theta, x, bpos, bquat, NULL, DP_MESH_STRAIN, 1, time, view, lo, hi, img,
                      err);
}

dpStatus dp_render_frame_soft(const dpModel *m, const double *theta, const double *x,
                              const double *bpos, const double *bquat, const double *sx,
                              dpMeshStyle style, double time, dpView view, const double lo[3],
                              const double hi[3], dpImage *img, dpError *err) {
  return render_frame(m, theta, x, bpos, bquat, sx, style, 0, time, view, lo, hi, img, err);
}
