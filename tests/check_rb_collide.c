// Narrow-phase rigid-body contact (lib/rb_collide_kern.h): every pair routine against an
// independent closed form or a brute-force minimization on seeded random configurations near
// touching (φ of both signs), every adjoint against central differences, and the degenerate
// configurations (exact touching, coincident centres, parallel and crossing capsules, zero
// half-length) kept finite with the documented tie-breaks.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "rb_collide_kern.h"
#include "testutil.h"

#define MAXP 32        // packed inputs of the largest pair (box–box: 30)
#define MAXY (7 * 8)  // packed outputs of the largest pair (box–plane, box–box: 8 contacts)
#define GRAD_TOL 1e-6  // DESIGN.md §2: smooth operators agree to 1e-6 relative
#define MARGIN 1e-3    // random samples closer than this (m) to a branch switch are rejected

// A pair routine under test: y = fn(p), p packed (np values), y packed per contact as
// (pt (3), nrm (3), φ) for kmax contacts, unused contacts zero; adj accumulates p_bar from y_bar.
typedef struct {
  const char *name;
  int np, kmax;
  void (*fn)(const double *p, double *y);
  void (*adj)(const double *p, double *p_bar, const double *y_bar);
} pair;

// Pack separate pt/nrm/phi arrays (count contacts) into y (kmax contacts).
static void pack(double *y, int kmax, int count, const double *pt, const double *nrm,
                 const double *phi) {
  memset(y, 0, (size_t)(7 * kmax) * sizeof *y);
  for (int k = 0; k < count; k++) {
    for (int i = 0; i < 3; i++) {
      y[7 * k + i] = pt[3 * k + i];
      y[7 * k + 3 + i] = nrm[3 * k + i];
    }
    y[7 * k + 6] = phi[k];
  }
}

static void unpack(const double *y, int kmax, double *pt, double *nrm, double *phi) {
  for (int k = 0; k < kmax; k++) {
    for (int i = 0; i < 3; i++) {
      pt[3 * k + i] = y[7 * k + i];
      nrm[3 * k + i] = y[7 * k + 3 + i];
    }
    phi[k] = y[7 * k + 6];
  }
}

// ---- the pairs, packed ------------------------------------------------------------------------
// sphere–plane: o(3) n(3) c(3) r = 10
static void sp_fn(const double *p, double *y) {
  double pt[3], nrm[3], phi[1];
  int n = rb_sphere_plane(pt, nrm, phi, p, p + 3, p + 6, p[9]);
  pack(y, 1, n, pt, nrm, phi);
}
static void sp_adj(const double *p, double *pb, const double *yb) {
  double pt[3], nrm[3], phi[1];
  unpack(yb, 1, pt, nrm, phi);
  adj_rb_sphere_plane(p, p + 3, p + 6, p[9], pb, pb + 3, pb + 6, pb + 9, pt, nrm, phi);
}
// capsule–plane: o(3) n(3) p(3) R(9) r h = 20
static void cp_fn(const double *p, double *y) {
  double pt[6], nrm[6], phi[2];
  int n = rb_capsule_plane(pt, nrm, phi, p, p + 3, p + 6, p + 9, p[18], p[19]);
  pack(y, 2, n, pt, nrm, phi);
}
static void cp_adj(const double *p, double *pb, const double *yb) {
  double pt[6], nrm[6], phi[2];
  unpack(yb, 2, pt, nrm, phi);
  adj_rb_capsule_plane(p, p + 3, p + 6, p + 9, p[18], p[19], pb, pb + 3, pb + 6, pb + 9, pb + 18,
                       pb + 19, pt, nrm, phi);
}
// box–plane: o(3) n(3) p(3) R(9) he(3) = 21
static void bp_fn(const double *p, double *y) {
  double pt[24], nrm[24], phi[8];
  int n = rb_box_plane(pt, nrm, phi, p, p + 3, p + 6, p + 9, p + 18);
  pack(y, 8, n, pt, nrm, phi);
}
static void bp_adj(const double *p, double *pb, const double *yb) {
  double pt[24], nrm[24], phi[8];
  unpack(yb, 8, pt, nrm, phi);
  adj_rb_box_plane(p, p + 3, p + 6, p + 9, p + 18, pb, pb + 3, pb + 6, pb + 9, pb + 18, pt, nrm,
                   phi);
}
// sphere–sphere: c1(3) r1 c2(3) r2 = 8
static void ss_fn(const double *p, double *y) {
  double pt[3], nrm[3], phi[1];
  int n = rb_sphere_sphere(pt, nrm, phi, p, p[3], p + 4, p[7]);
  pack(y, 1, n, pt, nrm, phi);
}
static void ss_adj(const double *p, double *pb, const double *yb) {
  double pt[3], nrm[3], phi[1];
  unpack(yb, 1, pt, nrm, phi);
  adj_rb_sphere_sphere(p, p[3], p + 4, p[7], pb, pb + 3, pb + 4, pb + 7, pt, nrm, phi);
}
// sphere–capsule: c1(3) r1 p2(3) R2(9) r2 h2 = 18
static void sc_fn(const double *p, double *y) {
  double pt[3], nrm[3], phi[1];
  int n = rb_sphere_capsule(pt, nrm, phi, p, p[3], p + 4, p + 7, p[16], p[17]);
  pack(y, 1, n, pt, nrm, phi);
}
static void sc_adj(const double *p, double *pb, const double *yb) {
  double pt[3], nrm[3], phi[1];
  unpack(yb, 1, pt, nrm, phi);
  adj_rb_sphere_capsule(p, p[3], p + 4, p + 7, p[16], p[17], pb, pb + 3, pb + 4, pb + 7, pb + 16,
                        pb + 17, pt, nrm, phi);
}
// capsule–capsule: p1(3) R1(9) r1 h1 p2(3) R2(9) r2 h2 = 28
static int cc_fn_n(const double *p, double *y) {
  double pt[6], nrm[6], phi[2];
  int n = rb_capsule_capsule(pt, nrm, phi, p, p + 3, p[12], p[13], p + 14, p + 17, p[26], p[27]);
  pack(y, 2, n, pt, nrm, phi);
  return n;
}
static void cc_fn(const double *p, double *y) {
  cc_fn_n(p, y);
}
static void cc_adj(const double *p, double *pb, const double *yb) {
  double pt[6], nrm[6], phi[2];
  unpack(yb, 2, pt, nrm, phi);
  adj_rb_capsule_capsule(p, p + 3, p[12], p[13], p + 14, p + 17, p[26], p[27], pb, pb + 3,
                         pb + 12, pb + 13, pb + 14, pb + 17, pb + 26, pb + 27, pt, nrm, phi);
}
// sphere–box: c1(3) r1 p2(3) R2(9) he2(3) = 19
static void sb_fn(const double *p, double *y) {
  double pt[3], nrm[3], phi[1];
  int n = rb_sphere_box(pt, nrm, phi, p, p[3], p + 4, p + 7, p + 16);
  pack(y, 1, n, pt, nrm, phi);
}
static void sb_adj(const double *p, double *pb, const double *yb) {
  double pt[3], nrm[3], phi[1];
  unpack(yb, 1, pt, nrm, phi);
  adj_rb_sphere_box(p, p[3], p + 4, p + 7, p + 16, pb, pb + 3, pb + 4, pb + 7, pb + 16, pt, nrm,
                    phi);
}

// box–box: p1(3) R1(9) he1(3) p2(3) R2(9) he2(3) = 30
static void bb_fn(const double *p, double *y) {
  double pt[24], nrm[24], phi[8];
  int n = rb_box_box(pt, nrm, phi, p, p + 3, p + 12, p + 15, p + 18, p + 27);
  pack(y, 8, n, pt, nrm, phi);
}
static void bb_adj(const double *p, double *pb, const double *yb) {
  double pt[24], nrm[24], phi[8];
  unpack(yb, 8, pt, nrm, phi);
  adj_rb_box_box(p, p + 3, p + 12, p + 15, p + 18, p + 27, pb, pb + 3, pb + 12, pb + 15, pb + 18,
                 pb + 27, pt, nrm, phi);
}

static const pair SP = {"sphere_plane", 10, 1, sp_fn, sp_adj};
static const pair CP = {"capsule_plane", 20, 2, cp_fn, cp_adj};
static const pair BP = {"box_plane", 21, 8, bp_fn, bp_adj};
static const pair SS = {"sphere_sphere", 8, 1, ss_fn, ss_adj};
static const pair SC = {"sphere_capsule", 18, 1, sc_fn, sc_adj};
static const pair CC = {"capsule_capsule", 28, 2, cc_fn, cc_adj};
static const pair SB = {"sphere_box", 19, 1, sb_fn, sb_adj};
static const pair BB = {"box_box", 30, 8, bb_fn, bb_adj};

// ---- the gradient check -----------------------------------------------------------------------

// Compare the adjoint with central differences of ȳ·y(p) for every component of p not masked
// out (mask may be NULL: all). Returns the largest relative error |an − fd| / max(|an|, |fd|)
// over the components whose derivative is well above the round-off floor.
static double check_pair(const pair *k, const double *p0, const double *ybar, const int *mask,
                         double tol) {
  double p[MAXP], pb[MAXP] = {0}, y[MAXY];
  int ny = 7 * k->kmax;
  double worst = 0;
  memcpy(p, p0, (size_t)k->np * sizeof *p);
  k->adj(p, pb, ybar);
  for (int i = 0; i < k->np; i++) {
    ck_assert_msg(isfinite(pb[i]), "%s[%d]: adjoint not finite", k->name, i);
    if (mask && !mask[i]) {
      continue;
    }
    // Central differences at h and h/2 combined by Richardson extrapolation (error O(h⁴)), as in
    // check_kernels.c.
    double h = 1e-5 * fmax(1e-1, fabs(p0[i]));
    double d[2], lmax = 0;
    for (int r = 0; r < 2; r++) {
      double hr = r == 0 ? h : 0.5 * h;
      double lp = 0, lm = 0;
      memcpy(p, p0, (size_t)k->np * sizeof *p);
      p[i] = p0[i] + hr;
      k->fn(p, y);
      for (int j = 0; j < ny; j++) {
        lp += ybar[j] * y[j];
      }
      p[i] = p0[i] - hr;
      k->fn(p, y);
      for (int j = 0; j < ny; j++) {
        lm += ybar[j] * y[j];
      }
      d[r] = (lp - lm) / (2 * hr);
      lmax = fmax(lmax, fmax(fabs(lp), fabs(lm)));
    }
    double fd = (4 * d[1] - d[0]) / 3;
    // Floor: the round-off of the differences, 1e3 ulps of ȳ·y over the step.
    double floor_ = fmax(1e-9, 1e3 * 2.2e-16 * lmax / h);
    TU_ASSERT_GRAD(k->name, i, pb[i], fd, tol, floor_);
    // The reported error: components whose derivative is at least 1e4 floors, where round-off
    // accounts for at most 1e-4 of it.
    double s = fmax(fabs(pb[i]), fabs(fd));
    if (s > 1e4 * floor_) {
      worst = fmax(worst, fabs(pb[i] - fd) / s);
      if (getenv("RB_COLLIDE_DEBUG") && fabs(pb[i] - fd) > 1e-6 * s) {
        printf("%s[%d] p=%g an=%.15g fd=%.15g floor=%g\n", k->name, i, p0[i], pb[i], fd, floor_);
      }
    }
  }
  return worst;
}

static void random_ybar(tu_rng *r, double *yb, int n) {
  for (int i = 0; i < n; i++) {
    yb[i] = tu_uniform(r, -1, 1);
  }
}

// Prints the largest relative gradient error of a pair when RB_COLLIDE_VERBOSE is set.
static void report(const char *name, int n, double worst) {
  if (getenv("RB_COLLIDE_VERBOSE")) {
    printf("rb_collide: %-24s %3d samples, max relative gradient error %.2e\n", name, n, worst);
  }
}

// ---- random geometry ------------------------------------------------------------------------

static void random_unit(tu_rng *r, double *u) {
  double l;
  do {
    for (int i = 0; i < 3; i++) {
      u[i] = tu_uniform(r, -1, 1);
    }
    l = dp_norm3(u);
  } while (l < 0.1 || l > 1);
  for (int i = 0; i < 3; i++) {
    u[i] /= l;
  }
}

// A random rotation matrix (row-major) from a random unit quaternion (w, x, y, z).
static void random_rotation(tu_rng *r, double *R) {
  double q[4], l;
  do {
    for (int i = 0; i < 4; i++) {
      q[i] = tu_uniform(r, -1, 1);
    }
    l = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  } while (l < 0.1 || l > 1);
  double w = q[0] / l, x = q[1] / l, y = q[2] / l, z = q[3] / l;
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

static void mat_vec(const double *R, const double *l, double *x) {
  for (int i = 0; i < 3; i++) {
    x[i] = R[3 * i] * l[0] + R[3 * i + 1] * l[1] + R[3 * i + 2] * l[2];
  }
}

// The midpoint convention of every contact: the surface points pt ∓ φ/2 n lie on A and on B.
// Checked through the shapes' own distance functions where the test has them.

// A random plane: o in [−1, 1]³, a unit normal.
static void random_plane(tu_rng *r, double *o, double *n) {
  for (int i = 0; i < 3; i++) {
    o[i] = tu_uniform(r, -1, 1);
  }
  random_unit(r, n);
}

// ---- sphere–plane -----------------------------------------------------------------------------

START_TEST(test_sphere_plane) {
  tu_rng r = {1001};
  double worst = 0;
  int ns = 100;
  for (int trial = 0; trial < ns; trial++) {
    double p[10], y[7], yb[7], tang[3];
    random_plane(&r, p, p + 3);
    p[9] = tu_uniform(&r, 0.05, 0.5);
    double phi0 = tu_uniform(&r, -0.05, 0.05);
    random_unit(&r, tang);
    for (int i = 0; i < 3; i++) {
      p[6 + i] = p[i] + (p[9] + phi0) * p[3 + i] + 0.7 * tang[i];
    }
    sp_fn(p, y);
    // closed form φ = n·c − n·o − r, normal n, pt halfway between the plane and the sphere
    double want = dp_dot3(p + 3, p + 6) - dp_dot3(p + 3, p) - p[9];
    ck_assert_double_eq_tol(y[6], want, 1e-14);
    double w[3] = {y[0] - p[0], y[1] - p[1], y[2] - p[2]};
    ck_assert_double_eq_tol(dp_dot3(p + 3, w), 0.5 * want, 1e-14);
    ck_assert(y[3] == p[3] && y[4] == p[4] && y[5] == p[5]);
    random_ybar(&r, yb, 7);
    worst = fmax(worst, check_pair(&SP, p, yb, NULL, GRAD_TOL));
  }
  report(SP.name, ns, worst);
}
END_TEST

// ---- capsule–plane ----------------------------------------------------------------------------

// Random capsule near the plane: the lower end cap at φ0 (both signs), the other end anywhere.
static void capsule_plane_inputs(tu_rng *r, double *p) {
  random_plane(r, p, p + 3);
  random_rotation(r, p + 9);
  p[18] = tu_uniform(r, 0.05, 0.3);
  p[19] = tu_uniform(r, 0, 0.5);
  double u[3];
  rbc_axis(u, p + 9, 2);
  double un = fabs(dp_dot3(u, p + 3));
  double phi0 = tu_uniform(r, -0.05, 0.05), tang[3];
  random_unit(r, tang);
  // lowest end cap at height r + φ0 above the plane: centre height r + φ0 + h |u·n|
  for (int i = 0; i < 3; i++) {
    p[6 + i] = p[i] + (p[18] + phi0 + p[19] * un) * p[3 + i] + 0.5 * tang[i];
  }
}

START_TEST(test_capsule_plane) {
  tu_rng r = {1002};
  double worst = 0;
  int ns = 100;
  for (int trial = 0; trial < ns; trial++) {
    double p[20], y[14], yb[14];
    capsule_plane_inputs(&r, p);
    cp_fn(p, y);
    double u[3];
    rbc_axis(u, p + 9, 2);
    for (int k = 0; k < 2; k++) {
      double sg = k == 0 ? -1 : 1, e[3];
      for (int i = 0; i < 3; i++) {
        e[i] = p[6 + i] + sg * p[19] * u[i] - p[i];
      }
      ck_assert_double_eq_tol(y[7 * k + 6], dp_dot3(p + 3, e) - p[18], 1e-14);
    }
    // the lower of the two is the capsule's distance: n·(p − o) − h |u·n| − r
    double want = dp_dot3(p + 3, p + 6) - dp_dot3(p + 3, p) - p[19] * fabs(dp_dot3(u, p + 3)) -
                  p[18];
    ck_assert_double_eq_tol(fmin(y[6], y[13]), want, 1e-14);
    random_ybar(&r, yb, 14);
    worst = fmax(worst, check_pair(&CP, p, yb, NULL, GRAD_TOL));
  }
  report(CP.name, ns, worst);
}
END_TEST

// ---- box–plane --------------------------------------------------------------------------------

START_TEST(test_box_plane) {
  tu_rng r = {1003};
  double worst = 0;
  int ns = 100;
  for (int trial = 0; trial < ns; trial++) {
    double p[21], y[56], yb[56], tang[3];
    random_plane(&r, p, p + 3);
    random_rotation(&r, p + 9);
    double support = 0;  // Σ he_j |n·R e_j|: how far the lowest corner is below the centre
    for (int j = 0; j < 3; j++) {
      double a[3];
      p[18 + j] = tu_uniform(&r, 0.05, 0.5);
      rbc_axis(a, p + 9, j);
      support += p[18 + j] * fabs(dp_dot3(a, p + 3));
    }
    double phi0 = tu_uniform(&r, -0.05, 0.05);
    random_unit(&r, tang);
    double tn = dp_dot3(tang, p + 3);
    for (int i = 0; i < 3; i++) {
      p[6 + i] = p[i] + (phi0 + support) * p[3 + i] + 0.5 * (tang[i] - tn * p[3 + i]);
    }
    bp_fn(p, y);
    double lo = INFINITY;
    for (int k = 0; k < 8; k++) {
      double l[3], x[3];
      for (int j = 0; j < 3; j++) {
        l[j] = (k >> j) & 1 ? p[18 + j] : -p[18 + j];
      }
      mat_vec(p + 9, l, x);
      for (int i = 0; i < 3; i++) {
        x[i] += p[6 + i] - p[i];
      }
      ck_assert_double_eq_tol(y[7 * k + 6], dp_dot3(p + 3, x), 1e-14);
      lo = fmin(lo, y[7 * k + 6]);
    }
    // the box's support function: the lowest corner sits at φ0
    ck_assert_double_eq_tol(lo, phi0, 1e-13);
    random_ybar(&r, yb, 56);
    worst = fmax(worst, check_pair(&BP, p, yb, NULL, GRAD_TOL));
  }
  report(BP.name, ns, worst);
}
END_TEST

// ---- sphere–sphere ----------------------------------------------------------------------------

START_TEST(test_sphere_sphere) {
  tu_rng r = {1004};
  double worst = 0;
  int ns = 100;
  for (int trial = 0; trial < ns; trial++) {
    double p[8], y[7], yb[7], dir[3];
    for (int i = 0; i < 3; i++) {
      p[i] = tu_uniform(&r, -1, 1);
    }
    p[3] = tu_uniform(&r, 0.05, 0.5);
    p[7] = tu_uniform(&r, 0.05, 0.5);
    double phi0 = tu_uniform(&r, -0.05, 0.05);
    random_unit(&r, dir);
    for (int i = 0; i < 3; i++) {
      p[4 + i] = p[i] + (p[3] + p[7] + phi0) * dir[i];
    }
    ss_fn(p, y);
    double d[3] = {p[4] - p[0], p[5] - p[1], p[6] - p[2]};
    ck_assert_double_eq_tol(y[6], dp_norm3(d) - p[3] - p[7], 1e-14);
    ck_assert_double_eq_tol(y[6], phi0, 1e-14);
    for (int i = 0; i < 3; i++) {
      ck_assert_double_eq_tol(y[3 + i], dir[i], 1e-14);
      // surface points pt ∓ φ/2 n: on sphere A at c1 + r1 n, on B at c2 − r2 n
      ck_assert_double_eq_tol(y[i] - 0.5 * y[6] * dir[i], p[i] + p[3] * dir[i], 1e-14);
      ck_assert_double_eq_tol(y[i] + 0.5 * y[6] * dir[i], p[4 + i] - p[7] * dir[i], 1e-14);
    }
    random_ybar(&r, yb, 7);
    worst = fmax(worst, check_pair(&SS, p, yb, NULL, GRAD_TOL));
  }
  report(SS.name, ns, worst);
}
END_TEST

// ---- sphere–capsule ---------------------------------------------------------------------------

// Distance from x to the segment p ± h u by ternary search over t (convex in t): independent of
// the clamped projection in the kernel.
static double brute_point_segment(const double *x, const double *p, const double *u, double h) {
  double lo = -h, hi = h;
  for (int it = 0; it < 200; it++) {
    double a = lo + (hi - lo) / 3, b = hi - (hi - lo) / 3, da[3], db[3];
    for (int i = 0; i < 3; i++) {
      da[i] = p[i] + a * u[i] - x[i];
      db[i] = p[i] + b * u[i] - x[i];
    }
    if (dp_norm3(da) < dp_norm3(db)) {
      hi = b;
    } else {
      lo = a;
    }
  }
  double t = 0.5 * (lo + hi), d[3];
  for (int i = 0; i < 3; i++) {
    d[i] = p[i] + t * u[i] - x[i];
  }
  return dp_norm3(d);
}

START_TEST(test_sphere_capsule) {
  tu_rng r = {1005};
  double worst = 0;
  int ns = 0, nregion[2] = {0, 0};
  for (int trial = 0; trial < 300 && ns < 100; trial++) {
    double p[18], y[7], yb[7], d[3], u[3];
    p[3] = tu_uniform(&r, 0.05, 0.3);
    for (int i = 0; i < 3; i++) {
      p[4 + i] = tu_uniform(&r, -1, 1);
    }
    random_rotation(&r, p + 7);
    p[16] = tu_uniform(&r, 0.05, 0.3);
    p[17] = tu_uniform(&r, 0.05, 0.6);
    rbc_axis(u, p + 7, 2);
    // Construction: a closest point on the axis, interior (direction ⟂ u) or an end cap
    // (direction pointing away from the segment), then the sphere centre at r1 + r2 + φ0.
    double t, phi0 = tu_uniform(&r, -0.05, 0.05);
    random_unit(&r, d);
    int region = trial % 3;
    if (region == 0) {
      t = tu_uniform(&r, -p[17], p[17]);
      double du = dp_dot3(d, u);
      for (int i = 0; i < 3; i++) {
        d[i] -= du * u[i];
      }
      double l = dp_norm3(d);
      for (int i = 0; i < 3; i++) {
        d[i] /= l;
      }
    } else {
      double sg = region == 1 ? 1 : -1;
      t = sg * p[17];
      if (sg * dp_dot3(d, u) < 0) {
        for (int i = 0; i < 3; i++) {
          d[i] = -d[i];
        }
      }
    }
    for (int i = 0; i < 3; i++) {
      p[i] = p[4 + i] + t * u[i] + (p[3] + p[16] + phi0) * d[i];
    }
    sc_fn(p, y);
    ck_assert_double_eq_tol(y[6], phi0, 1e-13);
    ck_assert_double_eq_tol(y[6], brute_point_segment(p, p + 4, u, p[17]) - p[3] - p[16], 1e-10);
    for (int i = 0; i < 3; i++) {
      ck_assert_double_eq_tol(y[3 + i], -d[i], 1e-12);  // from the sphere to the capsule
    }
    // Reject samples within MARGIN of the clamp switch t = ±h2 (the end caps' boundary), where a
    // central difference would straddle two branches.
    double w[3] = {p[0] - p[4], p[1] - p[5], p[2] - p[6]};
    double x = dp_dot3(u, w);
    if (fabs(x - p[17]) < MARGIN || fabs(x + p[17]) < MARGIN) {
      continue;
    }
    ns++;
    nregion[region > 0]++;
    random_ybar(&r, yb, 7);
    worst = fmax(worst, check_pair(&SC, p, yb, NULL, GRAD_TOL));
  }
  ck_assert_int_ge(ns, 80);
  ck_assert_int_ge(nregion[0], 20);  // both branches of the clamp are checked
  ck_assert_int_ge(nregion[1], 20);
  report(SC.name, ns, worst);
}
END_TEST

// ---- capsule–capsule --------------------------------------------------------------------------

// Distance between the segments p1 + s u1 and p2 + t u2 (s ∈ [−h1, h1], t ∈ [−h2, h2]) by
// brute force: a 41 x 41 grid, then 100 rounds of a 17 x 17 grid around the best point with the
// spacing halved each round, each round reaching 4 old spacings out so that the search can
// follow the distance's diagonal valley (it is convex in (s, t), so this converges to the
// minimum). Independent of Ericson's clamped solution in the kernel.
static double brute_segments(const double *p1, const double *u1, double h1, const double *p2,
                             const double *u2, double h2, double *sbest, double *tbest) {
  double best = INFINITY, bs = 0, bt = 0;
  double ds = h1 / 20, dt = h2 / 20;
  int n = 20;
  double cs = 0, ct = 0;
  for (int round = 0; round < 101; round++) {
    for (int a = -n; a <= n; a++) {
      for (int b = -n; b <= n; b++) {
        double s = fmin(h1, fmax(-h1, cs + a * ds)), t = fmin(h2, fmax(-h2, ct + b * dt)), d[3];
        for (int i = 0; i < 3; i++) {
          d[i] = p1[i] + s * u1[i] - p2[i] - t * u2[i];
        }
        double l = dp_norm3(d);
        if (l < best) {
          best = l;
          bs = s;
          bt = t;
        }
      }
    }
    cs = bs;
    ct = bt;
    n = 8;
    ds /= 2;
    dt /= 2;
  }
  *sbest = bs;
  *tbest = bt;
  return best;
}

// Distance of a sample to the branch switches of rbc_segments (the clamps of s, t and the
// recomputed s), and 1 − b²: samples within MARGIN of a switch, or nearly parallel (1 − b² <
// 0.05, where ∂s/∂b grows as 1/(1 − b²)² and the parallel rule is near), are rejected for the
// gradient check.
static double segment_switch_margin(const double *p) {
  double u1[3], u2[3], w[3] = {p[0] - p[14], p[1] - p[15], p[2] - p[16]};
  rbc_axis(u1, p + 3, 2);
  rbc_axis(u2, p + 17, 2);
  double b = dp_dot3(u1, u2), c = dp_dot3(u1, w), f = dp_dot3(u2, w), h1 = p[13], h2 = p[27];
  double den = 1 - b * b;
  if (den < 0.05) {
    return 0;
  }
  double s0 = (b * f - c) / den, m = fmin(fabs(s0 - h1), fabs(s0 + h1));
  double s1 = fmin(h1, fmax(-h1, s0)), t0 = b * s1 + f;
  m = fmin(m, fmin(fabs(t0 - h2), fabs(t0 + h2)));
  if (fabs(t0) > h2) {
    double t = t0 > 0 ? h2 : -h2, s2 = b * t - c;
    m = fmin(m, fmin(fabs(s2 - h1), fabs(s2 + h1)));
  }
  return m;
}

START_TEST(test_capsule_capsule) {
  tu_rng r = {1006};
  double worst = 0;
  int ns = 0, nbranch[3] = {0, 0, 0};  // both interior, s clamped, t clamped
  for (int trial = 0; trial < 400 && ns < 100; trial++) {
    double p[28], y[14], yb[14], u1[3], u2[3], s, t;
    for (int i = 0; i < 3; i++) {
      p[i] = tu_uniform(&r, -0.5, 0.5);
      p[14 + i] = tu_uniform(&r, -0.5, 0.5);
    }
    random_rotation(&r, p + 3);
    random_rotation(&r, p + 17);
    p[12] = tu_uniform(&r, 0.05, 0.25);
    p[13] = tu_uniform(&r, 0.05, 0.6);
    p[26] = tu_uniform(&r, 0.05, 0.25);
    p[27] = tu_uniform(&r, 0.05, 0.6);
    rbc_axis(u1, p + 3, 2);
    rbc_axis(u2, p + 17, 2);
    // Move capsule B along the line of closest points until the gap is φ0: a translation along
    // that line keeps the closest points and changes the distance by its length.
    double dist = brute_segments(p, u1, p[13], p + 14, u2, p[27], &s, &t);
    if (dist < 1e-3) {
      continue;  // crossing axes: no line of closest points (tested in the special cases)
    }
    double phi0 = tu_uniform(&r, -0.05, 0.05), d[3];
    for (int i = 0; i < 3; i++) {
      d[i] = (p[14 + i] + t * u2[i] - p[i] - s * u1[i]) / dist;
    }
    double shift = p[12] + p[26] + phi0 - dist;
    for (int i = 0; i < 3; i++) {
      p[14 + i] += shift * d[i];
    }
    int n = cc_fn_n(p, y);
    ck_assert_int_eq(n, 1);
    double bf = brute_segments(p, u1, p[13], p + 14, u2, p[27], &s, &t) - p[12] - p[26];
    ck_assert_msg(fabs(y[6] - bf) <= 1e-10, "capsule_capsule: φ %.15g, brute force %.15g", y[6],
                  bf);
    ck_assert_double_eq_tol(y[6], phi0, 1e-10);
    // The normal from A to B, where the brute force locates the closest points well (axes at
    // least 13° from parallel; nearer, the distance's valley is flat along the axes).
    double den = 1 - dp_dot3(u1, u2) * dp_dot3(u1, u2);
    for (int i = 0; i < 3 && den > 0.05; i++) {
      ck_assert_msg(fabs(y[3 + i] - d[i]) <= 1e-6, "capsule_capsule: normal[%d] %.12g, brute "
                    "force %.12g (1 − b² %g)", i, y[3 + i], d[i], den);
    }
    if (segment_switch_margin(p) < MARGIN) {
      continue;
    }
    ns++;
    {
      double w[3] = {p[0] - p[14], p[1] - p[15], p[2] - p[16]}, sk, tk;
      int side[3];
      rbc_segments(&sk, &tk, side, dp_dot3(u1, u2), dp_dot3(u1, w), dp_dot3(u2, w), p[13], p[27]);
      nbranch[side[1] != 0 ? 2 : side[0] != 0]++;
    }
    random_ybar(&r, yb, 14);
    worst = fmax(worst, check_pair(&CC, p, yb, NULL, GRAD_TOL));
  }
  ck_assert_int_ge(ns, 80);
  for (int j = 0; j < 3; j++) {
    ck_assert_msg(nbranch[j] >= 10, "capsule_capsule: branch %d checked %d times", j, nbranch[j]);
  }
  report(CC.name, ns, worst);
}
END_TEST

// ---- sphere–box -------------------------------------------------------------------------------

// Distance of a sample to the switches of the box distance: a coordinate crossing a face plane
// (|x_j| = he_j), or, inside, two faces equally near. Samples within MARGIN are rejected.
static double point_box_margin(const double *x, const double *pb, const double *R,
                               const double *he) {
  double w[3] = {x[0] - pb[0], x[1] - pb[1], x[2] - pb[2]}, q[3], m = INFINITY;
  for (int j = 0; j < 3; j++) {
    double xj = R[j] * w[0] + R[3 + j] * w[1] + R[6 + j] * w[2];
    q[j] = fabs(xj) - he[j];
    m = fmin(m, fabs(q[j]));
  }
  if (q[0] < 0 && q[1] < 0 && q[2] < 0) {
    double a = fmax(q[0], fmax(q[1], q[2]));
    for (int j = 0; j < 3; j++) {
      if (q[j] != a) {
        m = fmin(m, a - q[j]);
      }
    }
  }
  return m;
}

static double box_switch_margin(const double *p) {
  return point_box_margin(p, p + 4, p + 7, p + 16);
}

START_TEST(test_sphere_box) {
  tu_rng r = {1007};
  double worst = 0;
  int ns = 0, nfeature[4] = {0, 0, 0, 0};  // inside, then outside a face, an edge, a corner
  for (int trial = 0; trial < 300 && ns < 120; trial++) {
    double p[19], y[7], yb[7];
    p[3] = tu_uniform(&r, 0.05, 0.15);
    for (int i = 0; i < 3; i++) {
      p[4 + i] = tu_uniform(&r, -1, 1);
      p[16 + i] = tu_uniform(&r, 0.3, 0.6);
    }
    random_rotation(&r, p + 7);
    // Construction in box coordinates: the nearest box feature (a face, an edge or a corner: the
    // first `nout` axes at ±he, the rest inside) and a direction in its normal cone; the sphere
    // centre at distance r1 + φ0 from it. Faces also get deep centres (inside the box, φ0 < −r1).
    int nout = 1 + trial % 3;
    double phi0 = tu_uniform(&r, -0.05, 0.05);
    if (nout == 1 && trial % 2) {
      phi0 = -p[3] - tu_uniform(&r, 0.01, 0.1);
    }
    double a = p[3] + phi0, xl[3], dl[3], l = 0;
    int perm = (int)tu_uniform(&r, 0, 3);  // which axes are the outside ones
    for (int jj = 0; jj < 3; jj++) {
      int j = (jj + perm) % 3;
      double sg = tu_uniform(&r, -1, 1) > 0 ? 1 : -1;
      if (jj < nout) {
        xl[j] = sg * p[16 + j];
        dl[j] = sg * tu_uniform(&r, 0.2, 1);
      } else {
        xl[j] = tu_uniform(&r, -1, 1) * (p[16 + j] - 0.15);
        dl[j] = 0;
      }
      l += dl[j] * dl[j];
    }
    l = sqrt(l);
    double cl[3], c[3], dw[3];
    for (int j = 0; j < 3; j++) {
      dl[j] /= l;
      cl[j] = xl[j] + a * dl[j];
    }
    mat_vec(p + 7, cl, c);
    mat_vec(p + 7, dl, dw);
    for (int i = 0; i < 3; i++) {
      p[i] = p[4 + i] + c[i];
    }
    sb_fn(p, y);
    ck_assert_msg(fabs(y[6] - phi0) <= 1e-13, "sphere_box (%d out): φ %.15g, want %.15g", nout,
                  y[6], phi0);
    for (int i = 0; i < 3; i++) {
      ck_assert_double_eq_tol(y[3 + i], -dw[i], 1e-12);  // into the box
    }
    if (box_switch_margin(p) < MARGIN) {
      continue;
    }
    ns++;
    nfeature[a < 0 ? 0 : nout]++;
    random_ybar(&r, yb, 7);
    worst = fmax(worst, check_pair(&SB, p, yb, NULL, GRAD_TOL));
  }
  ck_assert_int_ge(ns, 100);
  for (int j = 0; j < 4; j++) {
    ck_assert_msg(nfeature[j] >= 10, "sphere_box: feature %d checked %d times", j, nfeature[j]);
  }
  report(SB.name, ns, worst);
}
END_TEST

// ---- box–box ---------------------------------------------------------------------------------

START_TEST(test_box_box) {
  tu_rng r = {1008};
  double worst = 0;
  int ns = 0;
  for (int trial = 0; trial < 300 && ns < 100; trial++) {
    // Construction in A's frame: A at the origin, axis-aligned; a small tilted box B whose lowest
    // corner is φ0 above A's top face, well inside the face's outline. Then one random rigid
    // motion (G, g) moves both.
    double p[30], y[56], yb[56], G[9], g[3], RB[9], cB[3], lowest = INFINITY;
    random_rotation(&r, G);
    random_rotation(&r, RB);
    for (int j = 0; j < 3; j++) {
      g[j] = tu_uniform(&r, -1, 1);
      p[12 + j] = tu_uniform(&r, 0.4, 0.7);
      p[27 + j] = tu_uniform(&r, 0.05, 0.15);
    }
    double phi0 = tu_uniform(&r, -0.05, 0.05), support = 0;
    for (int j = 0; j < 3; j++) {
      support += p[27 + j] * fabs(RB[6 + j]);  // Σ he_j |(RB e_j)_z|
    }
    cB[0] = tu_uniform(&r, -1, 1) * (p[12] - 0.35);
    cB[1] = tu_uniform(&r, -1, 1) * (p[13] - 0.35);
    cB[2] = p[14] + phi0 + support;
    memcpy(p + 3, G, sizeof G);
    memcpy(p, g, sizeof g);
    mat_vec(G, cB, p + 15);
    for (int i = 0; i < 3; i++) {
      p[15 + i] += g[i];
      for (int j = 0; j < 3; j++) {
        p[18 + 3 * i + j] = G[3 * i] * RB[j] + G[3 * i + 1] * RB[3 + j] + G[3 * i + 2] * RB[6 + j];
      }
    }
    bb_fn(p, y);
    // Every corner of B against A's top face (the reference face: the separating axis of least
    // penetration is A's z): φ its height above the face, the normal G e_z, the point halfway
    // between the corner and its projection on the face (inside the face's outline here).
    double m = INFINITY;
    for (int k = 0; k < 8; k++) {
      double x[3], w[3], xl[3];
      rbc_box_corner_world(x, p + 15, p + 18, p + 27, k);
      for (int i = 0; i < 3; i++) {
        w[i] = x[i] - p[i];
      }
      for (int j = 0; j < 3; j++) {
        xl[j] = G[j] * w[0] + G[3 + j] * w[1] + G[6 + j] * w[2];
      }
      double h = xl[2] - p[14];
      ck_assert_double_eq_tol(y[7 * k + 6], h, 1e-13);
      lowest = fmin(lowest, h);
      for (int i = 0; i < 3; i++) {
        ck_assert_double_eq_tol(y[7 * k + 3 + i], G[3 * i + 2], 1e-12);
        double o = y[7 * k + i] + 0.5 * y[7 * k + 6] * y[7 * k + 3 + i];
        ck_assert_double_eq_tol(o, x[i], 1e-13);
      }
      m = fmin(m, fmin(p[12] - fabs(xl[0]), p[13] - fabs(xl[1])));
    }
    ck_assert_double_eq_tol(lowest, phi0, 1e-13);
    // Reject samples near a switch: a corner near the face's outline, or another face axis whose
    // separation comes within MARGIN of the chosen one (phi0).
    for (int b = 0; b < 6; b++) {
      const double *Rx = b < 3 ? p + 3 : p + 18, *Ro = b < 3 ? p + 18 : p + 3;
      const double *hx = b < 3 ? p + 12 : p + 27, *ho = b < 3 ? p + 27 : p + 12;
      double a[3] = {Rx[b % 3], Rx[3 + b % 3], Rx[6 + b % 3]}, d[3], ro = 0;
      for (int i = 0; i < 3; i++) {
        d[i] = p[15 + i] - p[i];
        double u[3] = {Ro[i], Ro[3 + i], Ro[6 + i]};
        ro += ho[i] * fabs(dp_dot3(a, u));
      }
      double sep = fabs(dp_dot3(d, a)) - hx[b % 3] - ro;
      if (b != 2) {
        m = fmin(m, phi0 - sep);
      }
    }
    if (m < MARGIN) {
      continue;
    }
    ns++;
    random_ybar(&r, yb, 56);
    worst = fmax(worst, check_pair(&BB, p, yb, NULL, GRAD_TOL));
  }
  ck_assert_int_ge(ns, 80);
  report(BB.name, ns, worst);
}
END_TEST

// ---- the degenerate configurations ----------------------------------------------------------

// Asserts the first `count` contacts finite with unit normals, then runs the adjoint with a
// fixed ȳ and asserts every bar finite.
static void assert_adjoint_finite(const pair *k, const double *p, int count) {
  double pb[MAXP] = {0}, yb[MAXY], y[MAXY];
  k->fn(p, y);
  for (int c = 0; c < count; c++) {
    for (int i = 0; i < 7; i++) {
      ck_assert_msg(isfinite(y[7 * c + i]), "%s: output %d of contact %d not finite", k->name,
                    i, c);
    }
    ck_assert_double_eq_tol(dp_norm3(y + 7 * c + 3), 1.0, 1e-14);
  }
  for (int i = 0; i < 7 * k->kmax; i++) {
    yb[i] = 0.3 + 0.1 * (i % 7) - 0.05 * i;
  }
  k->adj(p, pb, yb);
  for (int i = 0; i < k->np; i++) {
    ck_assert_msg(isfinite(pb[i]), "%s[%d]: adjoint not finite", k->name, i);
  }
}

START_TEST(test_touching) {
  // Exactly touching (φ = 0) is not a switch of any pair: values exact, gradients still match
  // central differences there.
  double yb[MAXY], y[MAXY];
  tu_rng r = {2001};
  random_ybar(&r, yb, MAXY);
  double ss[8] = {0, 0, 0, 0.5, 0, 0, 1, 0.5};
  ss_fn(ss, y);
  ck_assert(y[6] == 0 && y[5] == 1 && y[2] == 0.5);
  check_pair(&SS, ss, yb, NULL, GRAD_TOL);
  double sp[10] = {0, 0, 0, 0, 0, 1, 0.3, -0.2, 0.25, 0.25};
  sp_fn(sp, y);
  ck_assert(y[6] == 0 && y[2] == 0);
  check_pair(&SP, sp, yb, NULL, GRAD_TOL);
  // A capsule lying flat on the ground along y (R e_z = −y): both end caps touch, k = 0 at
  // p − h u = (0, 0.4, ·).
  double cp[20] = {0, 0, 0, 0, 0, 1, 0, 0, 0.1, 1, 0, 0, 0, 0, -1, 0, 1, 0, 0.1, 0.4};
  cp_fn(cp, y);
  ck_assert(y[6] == 0 && y[13] == 0);
  ck_assert(y[1] == 0.4 && y[8] == -0.4 && y[2] == 0 && y[9] == 0);
  check_pair(&CP, cp, yb, NULL, GRAD_TOL);
  // A unit cube resting on the ground: the four z = −he corners at 0, the others at 1.
  double bp[21] = {0, 0, 0, 0, 0, 1, 0, 0, 0.5, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0.5, 0.5, 0.5};
  bp_fn(bp, y);
  for (int k = 0; k < 8; k++) {
    ck_assert(y[7 * k + 6] == ((k & 4) ? 1.0 : 0.0));
  }
  check_pair(&BP, bp, yb, NULL, GRAD_TOL);
  // A sphere resting on a box's top face.
  double sb[19] = {0.1, 0.2, 0.75, 0.25, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0.5, 0.5, 0.5};
  sb_fn(sb, y);
  ck_assert(y[6] == 0 && y[5] == -1 && y[2] == 0.5);
  check_pair(&SB, sb, yb, NULL, GRAD_TOL);
  // A sphere on the side of a capsule lying along y (R e_z = −y).
  double sc[18] = {0, 0.1, 0.5, 0.25, 0, 0, 0, 1, 0, 0, 0, 0, -1, 0, 1, 0, 0.25, 0.5};
  sc_fn(sc, y);
  ck_assert(y[6] == 0 && y[5] == -1 && y[2] == 0.25);
  check_pair(&SC, sc, yb, NULL, GRAD_TOL);
  // Capsules crossed at right angles: A along y at z = 0, B vertical with its lower end 0.125
  // above A's axis; radii 1/16 each.
  double cc[28] = {0, 0.1, 0, 1, 0, 0, 0, 0, -1, 0, 1, 0, 0.0625, 0.5,
                   0, 0, 0.625, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0.0625, 0.5};
  ck_assert_int_eq(cc_fn_n(cc, y), 1);
  ck_assert(y[6] == 0 && y[5] == 1 && y[2] == 0.0625);
  check_pair(&CC, cc, yb, NULL, GRAD_TOL);
  // A small cube resting on a big box's top face: B's four lower corners at 0, A's corners far.
  double bb[30] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0.5,
                   0.25, -0.125, 0.75, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0.25, 0.25, 0.25};
  bb_fn(bb, y);
  for (int k = 0; k < 8; k++) {
    ck_assert(y[7 * k + 6] == ((k & 4) ? 0.5 : 0.0) && y[7 * k + 5] == 1);
  }
  assert_adjoint_finite(&BB, bb, BB.kmax);
  check_pair(&BB, bb, yb, NULL, GRAD_TOL);
}
END_TEST

START_TEST(test_coincident_centres) {
  // Sphere centres coincide: n = +z, φ = −r1 − r2; the normal is a constant there, so the
  // adjoint has no 1/|d| term and stays finite.
  double y[MAXY];
  double ss[8] = {0.2, 0.3, 0.4, 0.5, 0.2, 0.3, 0.4, 0.2};
  ss_fn(ss, y);
  ck_assert(y[3] == 0 && y[4] == 0 && y[5] == 1);
  ck_assert_double_eq_tol(y[6], -0.7, 1e-15);
  ck_assert_double_eq_tol(y[2], 0.4 + 0.15, 1e-15);
  assert_adjoint_finite(&SS, ss, SS.kmax);
  // A sphere centre on a capsule's axis.
  double sc[18] = {0, 0, 0.1, 0.2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0.1, 0.5};
  sc_fn(sc, y);
  ck_assert(y[5] == 1);
  ck_assert_double_eq_tol(y[6], -0.3, 1e-15);
  assert_adjoint_finite(&SC, sc, SC.kmax);
  // Capsule axes crossing: the closest points coincide.
  double cc[28] = {0, 0, 0, 1, 0, 0, 0, 0, -1, 0, 1, 0, 0.1, 0.5,
                   0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0.1, 0.5};
  ck_assert_int_eq(cc_fn_n(cc, y), 1);
  ck_assert(y[5] == 1);
  ck_assert_double_eq_tol(y[6], -0.2, 1e-15);
  assert_adjoint_finite(&CC, cc, cc_fn_n(cc, y));
  // A sphere centre at the box centre: every face is equally near; the +x face is taken (the
  // lowest axis, and a zero coordinate counts as +), the normal pointing into the box (−x).
  double sb[19] = {1, 2, 3, 0.1, 1, 2, 3, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0.4, 0.4, 0.4};
  sb_fn(sb, y);
  ck_assert(y[3] == -1 && y[4] == 0 && y[5] == 0);
  ck_assert_double_eq_tol(y[6], -0.5, 1e-15);
  assert_adjoint_finite(&SB, sb, SB.kmax);
  // Two identical boxes at the same pose: the least penetrating face axis is the shortest one
  // (z, A's by the tie-break, pointing +z at d = 0): B's top corners lie on A's top face
  // (φ = 0), its bottom corners 2 he_z below it.
  double bb[30] = {1, 2, 3, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0.5, 0.25, 0.125,
                   1, 2, 3, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0.5, 0.25, 0.125};
  bb_fn(bb, y);
  for (int k = 0; k < 8; k++) {
    ck_assert(y[7 * k + 5] == 1);
    ck_assert(y[7 * k + 6] == 0 || y[7 * k + 6] == -0.25);
  }
  assert_adjoint_finite(&BB, bb, BB.kmax);
}
END_TEST

START_TEST(test_parallel_capsules) {
  // Parallel axes (1 − b² = 0 exactly) overlapping in projection: two contacts at the ends of
  // the overlap, both at the lateral gap. Both axes along +x (R = a quarter turn about y):
  // A from x = −0.5 to 0.5 at z = 0, B from 0.25 to 1.0 at z = 0.4375; radii 0.25 and 0.125:
  // φ = 0.0625 (binary-exact values, so the checks can be exact).
  double cc[28] = {0, 0, 0, 0, 0, 1, 0, 1, 0, -1, 0, 0, 0.25, 0.5,
                   0.625, 0, 0.4375, 0, 0, 1, 0, 1, 0, -1, 0, 0, 0.125, 0.375};
  double y[MAXY], yb[MAXY];
  ck_assert_int_eq(cc_fn_n(cc, y), 2);
  for (int k = 0; k < 2; k++) {
    ck_assert(y[7 * k + 6] == 0.0625 && y[7 * k + 5] == 1);
    ck_assert(y[7 * k + 2] == 0.28125);  // (0 + 0.4375)/2 + (0.25 − 0.125)/2
  }
  ck_assert(y[0] == 0.25 && y[7] == 0.5);
  assert_adjoint_finite(&CC, cc, cc_fn_n(cc, y));
  // The parallel branch is 1e-5 rad wide, narrower than a central difference in the axis
  // entries of R (column 2), so those are left out of the check; everything else is checked.
  int mask[28];
  for (int i = 0; i < 28; i++) {
    mask[i] = 1;
  }
  mask[3 + 2] = mask[3 + 5] = mask[3 + 8] = mask[17 + 2] = mask[17 + 5] = mask[17 + 8] = 0;
  tu_rng r = {3001};
  random_ybar(&r, yb, MAXY);
  check_pair(&CC, cc, yb, mask, GRAD_TOL);
  // Anti-parallel (B's axis along −x, a quarter turn about y the other way): the same contacts.
  double ca[28];
  memcpy(ca, cc, sizeof ca);
  const double Rm[9] = {0, 0, -1, 0, 1, 0, 1, 0, 0};
  memcpy(ca + 17, Rm, sizeof Rm);
  ck_assert_int_eq(cc_fn_n(ca, y), 2);
  ck_assert(y[6] == 0.0625 && y[13] == 0.0625);
  ck_assert(y[0] == 0.25 && y[7] == 0.5);
  assert_adjoint_finite(&CC, ca, cc_fn_n(ca, y));
  check_pair(&CC, ca, yb, mask, GRAD_TOL);
  // Parallel, end to end (B from x = 0.625 to 1.375 on A's line): no overlap, one contact
  // between the facing end caps, 0.125 apart with radii summing to 0.375.
  cc[14] = 1.0;
  cc[16] = 0;
  ck_assert_int_eq(cc_fn_n(cc, y), 1);
  ck_assert(y[6] == -0.25 && y[3] == 1);
  ck_assert(y[0] == 0.625);  // (0.5 + 0.625)/2 + (0.25 − 0.125)/2
  assert_adjoint_finite(&CC, cc, cc_fn_n(cc, y));
  // Exactly collinear and overlapping: two contacts whose closest points coincide (+z normal,
  // φ = −r1 − r2).
  cc[14] = 0.625;
  ck_assert_int_eq(cc_fn_n(cc, y), 2);
  ck_assert(y[6] == -0.375 && y[13] == -0.375);
  ck_assert(y[5] == 1 && y[12] == 1);
  assert_adjoint_finite(&CC, cc, cc_fn_n(cc, y));
}
END_TEST

START_TEST(test_zero_half_length) {
  // h = 0: a capsule is a sphere, in every pair, values and adjoints alike (h = 0 sits on the
  // clamp's switch, so only finiteness is asserted for the h and R bars).
  tu_rng r = {4001};
  for (int trial = 0; trial < 20; trial++) {
    double R1[9], R2[9], c1[3], c2[3], yb[MAXY];
    random_rotation(&r, R1);
    random_rotation(&r, R2);
    for (int i = 0; i < 3; i++) {
      c1[i] = tu_uniform(&r, -0.3, 0.3);
      c2[i] = tu_uniform(&r, -0.3, 0.3);
    }
    double r1 = tu_uniform(&r, 0.1, 0.3), r2 = tu_uniform(&r, 0.1, 0.3);
    random_ybar(&r, yb, MAXY);
    double ss[8] = {c1[0], c1[1], c1[2], r1, c2[0], c2[1], c2[2], r2};
    double ys[MAXY], yc[MAXY], ssb[8] = {0};
    ss_fn(ss, ys);
    ss_adj(ss, ssb, yb);
    // sphere–capsule with h2 = 0
    double sc[18], scb[18] = {0};
    memcpy(sc, c1, sizeof c1);
    sc[3] = r1;
    memcpy(sc + 4, c2, sizeof c2);
    memcpy(sc + 7, R2, sizeof R2);
    sc[16] = r2;
    sc[17] = 0;
    sc_fn(sc, yc);
    sc_adj(sc, scb, yb);
    for (int i = 0; i < 7; i++) {
      ck_assert_double_eq_tol(yc[i], ys[i], 1e-15);
    }
    for (int i = 0; i < 3; i++) {
      ck_assert_double_eq_tol(scb[i], ssb[i], 1e-14);
      ck_assert_double_eq_tol(scb[4 + i], ssb[4 + i], 1e-14);
    }
    ck_assert_double_eq_tol(scb[3], ssb[3], 1e-14);
    ck_assert_double_eq_tol(scb[16], ssb[7], 1e-14);
    for (int i = 0; i < 18; i++) {
      ck_assert(isfinite(scb[i]));
    }
    // capsule–capsule with h1 = h2 = 0 (random, non-parallel axes): one contact
    double cc[28], ccb[28] = {0};
    memcpy(cc, c1, sizeof c1);
    memcpy(cc + 3, R1, sizeof R1);
    cc[12] = r1;
    cc[13] = 0;
    memcpy(cc + 14, c2, sizeof c2);
    memcpy(cc + 17, R2, sizeof R2);
    cc[26] = r2;
    cc[27] = 0;
    ck_assert_int_eq(cc_fn_n(cc, yc), 1);
    cc_adj(cc, ccb, yb);
    for (int i = 0; i < 7; i++) {
      ck_assert_double_eq_tol(yc[i], ys[i], 1e-15);
    }
    for (int i = 0; i < 3; i++) {
      ck_assert_double_eq_tol(ccb[i], ssb[i], 1e-14);
      ck_assert_double_eq_tol(ccb[14 + i], ssb[4 + i], 1e-14);
    }
    ck_assert_double_eq_tol(ccb[12], ssb[3], 1e-14);
    ck_assert_double_eq_tol(ccb[26], ssb[7], 1e-14);
    for (int i = 0; i < 28; i++) {
      ck_assert(isfinite(ccb[i]));
    }
    // capsule–plane with h = 0: both contacts are the sphere's
    double cp[20] = {0, 0, -0.2, 0, 0, 1}, ycp[MAXY], ysp[MAXY];
    memcpy(cp + 6, c1, sizeof c1);
    memcpy(cp + 9, R1, sizeof R1);
    cp[18] = r1;
    cp[19] = 0;
    double sp[10] = {0, 0, -0.2, 0, 0, 1, c1[0], c1[1], c1[2], r1};
    cp_fn(cp, ycp);
    sp_fn(sp, ysp);
    for (int i = 0; i < 7; i++) {
      ck_assert_double_eq_tol(ycp[i], ysp[i], 1e-15);
      ck_assert_double_eq_tol(ycp[7 + i], ysp[i], 1e-15);
    }
    assert_adjoint_finite(&CP, cp, CP.kmax);
  }
}
END_TEST

START_TEST(test_accumulates) {
  // Adjoints add to what the bars hold: twice the adjoint on zero bars equals once on bars that
  // already hold it.
  const pair *all[8] = {&SP, &CP, &BP, &SS, &SC, &CC, &SB, &BB};
  tu_rng r = {5001};
  double p[MAXP], yb[MAXY], once[MAXP], twice[MAXP];
  for (int j = 0; j < 8; j++) {
    for (int i = 0; i < MAXP; i++) {
      p[i] = tu_uniform(&r, 0.1, 0.5);
    }
    random_ybar(&r, yb, MAXY);
    memset(once, 0, sizeof once);
    all[j]->adj(p, once, yb);
    memcpy(twice, once, sizeof once);
    all[j]->adj(p, twice, yb);
    for (int i = 0; i < all[j]->np; i++) {
      ck_assert_double_eq_tol(twice[i], 2 * once[i], 1e-14 * (1 + fabs(once[i])));
    }
  }
}
END_TEST

// R exp([w]×) (Rodrigues), for perturbations of a rotation in its body frame.
static void rot_right(const double *R, const double *w, double *out) {
  double th = dp_norm3(w), K[9] = {0, -w[2], w[1], w[2], 0, -w[0], -w[1], w[0], 0}, E[9];
  double a = th > 0 ? sin(th) / th : 1, b = th > 0 ? (1 - cos(th)) / (th * th) : 0.5;
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      double k2 = K[3 * i] * K[j] + K[3 * i + 1] * K[3 + j] + K[3 * i + 2] * K[6 + j];
      E[3 * i + j] = (i == j) + a * K[3 * i + j] + b * k2;
    }
  }
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      out[3 * i + j] = R[3 * i] * E[j] + R[3 * i + 1] * E[3 + j] + R[3 * i + 2] * E[6 + j];
    }
  }
}

START_TEST(test_rotation_tangent) {
  // The header's claim: along body-frame rotations R exp([δθ]×) the gradient is
  // δθ_bar = (A21 − A12, A02 − A20, A10 − A01), A = Rᵀ R_bar. Checked on capsule–capsule (both
  // bodies) and sphere–box, away from branch switches.
  tu_rng r = {6001};
  int nchecked = 0;
  for (int trial = 0; trial < 60; trial++) {
    const pair *k = trial % 2 ? &CC : &SB;
    double p[MAXP], pb[MAXP] = {0}, yb[MAXY], y[MAXY];
    int nrot = k == &CC ? 2 : 1, roff[2] = {3, 17};
    if (k == &SB) {
      roff[0] = 7;
    }
    for (int i = 0; i < k->np; i++) {
      p[i] = tu_uniform(&r, -0.5, 0.5);
    }
    for (int b = 0; b < nrot; b++) {
      random_rotation(&r, p + roff[b]);
    }
    if (k == &CC) {
      p[12] = 0.1, p[13] = 0.4, p[26] = 0.15, p[27] = 0.3;
      if (segment_switch_margin(p) < MARGIN) {
        continue;
      }
    } else {
      p[3] = 0.1, p[16] = 0.3, p[17] = 0.2, p[18] = 0.4;
      if (box_switch_margin(p) < MARGIN) {
        continue;
      }
    }
    random_ybar(&r, yb, 7 * k->kmax);
    k->adj(p, pb, yb);
    for (int b = 0; b < nrot; b++) {
      const double *R = p + roff[b], *Rb = pb + roff[b];
      double A[9];
      for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++) {
          A[3 * i + j] = R[i] * Rb[j] + R[3 + i] * Rb[3 + j] + R[6 + i] * Rb[6 + j];
        }
      }
      double an[3] = {A[7] - A[5], A[2] - A[6], A[3] - A[1]};
      for (int ax = 0; ax < 3; ax++) {
        double d[2];
        for (int rr = 0; rr < 2; rr++) {
          double h = rr == 0 ? 1e-5 : 0.5e-5, l[2];
          for (int sg = 0; sg < 2; sg++) {
            double q[MAXP], w[3] = {0, 0, 0};
            memcpy(q, p, sizeof q);
            w[ax] = sg == 0 ? h : -h;
            rot_right(R, w, q + roff[b]);
            k->fn(q, y);
            l[sg] = 0;
            for (int j = 0; j < 7 * k->kmax; j++) {
              l[sg] += yb[j] * y[j];
            }
          }
          d[rr] = (l[0] - l[1]) / (2 * h);
        }
        TU_ASSERT_GRAD(k->name, 3 * b + ax, an[ax], (4 * d[1] - d[0]) / 3, GRAD_TOL, 1e-9);
      }
    }
    nchecked++;
  }
  ck_assert_int_ge(nchecked, 40);
}
END_TEST

Suite *make_rb_collide_suite(void) {
  Suite *s = suite_create("rb_collide");
  TCase *tc = tcase_create("pairs");
  tcase_add_test(tc, test_sphere_plane);
  tcase_add_test(tc, test_capsule_plane);
  tcase_add_test(tc, test_box_plane);
  tcase_add_test(tc, test_sphere_sphere);
  tcase_add_test(tc, test_sphere_capsule);
  tcase_add_test(tc, test_capsule_capsule);
  tcase_add_test(tc, test_sphere_box);
  tcase_add_test(tc, test_box_box);
  suite_add_tcase(s, tc);
  TCase *td = tcase_create("degenerate");
  tcase_add_test(td, test_touching);
  tcase_add_test(td, test_coincident_centres);
  tcase_add_test(td, test_parallel_capsules);
  tcase_add_test(td, test_zero_half_length);
  tcase_add_test(td, test_accumulates);
  tcase_add_test(td, test_rotation_tangent);
  suite_add_tcase(s, td);
  return s;
}
