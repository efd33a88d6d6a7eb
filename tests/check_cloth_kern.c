// Checks of the cloth element bodies (lib/phys_cloth_kern.h): every adjoint against central
// differences (Richardson-extrapolated) on seeded random elements, forces against energy
// gradients, Hessian-vector products against differences of the forces (and for symmetry), and
// the physics each model must keep: no net force or torque, StVK uniaxial stretch in closed
// form, no damping of rigid motion, hand-built dihedral angles, aerodynamic drag that only
// takes energy out; plus the degenerate cases (zero-area triangles, θ near ±π, u = 0).
// CLOTH_KERN_VERBOSE=1 prints the worst relative error of each check.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "phys_cloth_kern.h"
#include "testutil.h"

#define MAXP 40

// A kernel under test: y = fn(p), p packed (np values), y (ny values); adj accumulates p_bar
// from y_bar.
typedef struct {
  const char *name;
  int np, ny;
  void (*fn)(const double *p, double *y, const void *aux);
  void (*adj)(const double *p, double *p_bar, const double *y_bar, const void *aux);
  const void *aux;
} kernel;

// Worst relative error |an - fd| / max(|an|, |fd|) seen by the current test, over comparisons
// whose size is well above the round-off floor (for the report).
static double worst_rel;

static void note_err(double an, double fd, double floor_) {
  double s = fmax(fabs(an), fabs(fd));
  if (s > 1e3 * floor_) {
    worst_rel = fmax(worst_rel, fabs(an - fd) / s);
  }
}

static void report(const char *what) {
  const char *v = getenv("CLOTH_KERN_VERBOSE");
  if (v != NULL && v[0] == '1') {
    printf("cloth_kern: %-34s worst relative error %.2e\n", what, worst_rel);
  }
  worst_rel = 0;
}

// Central differences at h and h/2 combined by Richardson extrapolation (error O(h⁴)) of
// ȳ·y(p) along component i; lmax receives the largest |ȳ·y| seen (for the round-off floor).
static double fd_component(const kernel *k, const double *p0, int i, const double *ybar,
                           double h, double *lmax) {
  double p[MAXP], y[MAXP], d[2];
  *lmax = 0;
  for (int r = 0; r < 2; r++) {
    double hr = r == 0 ? h : 0.5 * h;
    double lp = 0, lm = 0;
    memcpy(p, p0, (size_t)k->np * sizeof *p);
    p[i] = p0[i] + hr;
    k->fn(p, y, k->aux);
    for (int j = 0; j < k->ny; j++) {
      lp += ybar[j] * y[j];
    }
    p[i] = p0[i] - hr;
    k->fn(p, y, k->aux);
    for (int j = 0; j < k->ny; j++) {
      lm += ybar[j] * y[j];
    }
    d[r] = (lp - lm) / (2 * hr);
    *lmax = fmax(*lmax, fmax(fabs(lp), fabs(lm)));
  }
  return (4 * d[1] - d[0]) / 3;
}

// Compare the adjoint with central differences of ȳ·y(p) for every component of p.
static void check_kernel(const kernel *k, const double *p0, const double *ybar, double tol) {
  double p[MAXP], pb[MAXP] = {0};
  memcpy(p, p0, (size_t)k->np * sizeof *p);
  k->adj(p, pb, ybar, k->aux);
  for (int i = 0; i < k->np; i++) {
    // The elements are of unit scale (sizes ~1 m, |θ| < 2.8): a step of 1e-3 keeps the O(h⁴)
    // truncation near 1e-12 and the round-off well below the tolerance.
    double h = 1e-3 * fmax(0.1, fabs(p0[i]));
    double lmax;
    double fd = fd_component(k, p0, i, ybar, h, &lmax);
    // Floor: the round-off of the differences, 1e3 ulps of ȳ·y over the step.
    double floor_ = fmax(1e-9, 1e3 * 2.2e-16 * lmax / h);
    ck_assert_msg(isfinite(pb[i]), "%s[%d]: adjoint not finite", k->name, i);
    note_err(pb[i], fd, floor_);
    TU_ASSERT_GRAD(k->name, i, pb[i], fd, tol, floor_);
  }
}

// Directional central difference (Richardson) of y = fn(p) along dir: out (ny) ≈ Dy[dir].
static void fd_direction(const kernel *k, const double *p0, const double *dir, double h,
                         double *out, double *ymax) {
  double p[MAXP], yp[MAXP], ym[MAXP], d[2][MAXP];
  *ymax = 0;
  for (int r = 0; r < 2; r++) {
    double hr = r == 0 ? h : 0.5 * h;
    for (int i = 0; i < k->np; i++) {
      p[i] = p0[i] + hr * dir[i];
    }
    k->fn(p, yp, k->aux);
    for (int i = 0; i < k->np; i++) {
      p[i] = p0[i] - hr * dir[i];
    }
    k->fn(p, ym, k->aux);
    for (int j = 0; j < k->ny; j++) {
      d[r][j] = (yp[j] - ym[j]) / (2 * hr);
      *ymax = fmax(*ymax, fmax(fabs(yp[j]), fabs(ym[j])));
    }
  }
  for (int j = 0; j < k->ny; j++) {
    out[j] = (4 * d[1][j] - d[0][j]) / 3;
  }
}

static void rand_vec(tu_rng *r, double *v, int n, double lo, double hi) {
  for (int i = 0; i < n; i++) {
    v[i] = tu_uniform(r, lo, hi);
  }
}

static double dot(const double *a, const double *b, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) {
    s += a[i] * b[i];
  }
  return s;
}

// Net force Σ f_i and net torque Σ x_i × f_i of nv vertices.
static void net_force_torque(const double *x, const double *f, int nv, double F[3], double T[3]) {
  F[0] = F[1] = F[2] = T[0] = T[1] = T[2] = 0;
  for (int v = 0; v < nv; v++) {
    const double *p = x + 3 * v, *q = f + 3 * v;
    for (int c = 0; c < 3; c++) {
      F[c] += q[c];
    }
    T[0] += p[1] * q[2] - p[2] * q[1];
    T[1] += p[2] * q[0] - p[0] * q[2];
    T[2] += p[0] * q[1] - p[1] * q[0];
  }
}

// Apply the rotation R (3x3 row-major) and translation t to nv points.
static void rigid(const double *R, const double *t, const double *x, double *y, int nv) {
  for (int v = 0; v < nv; v++) {
    for (int i = 0; i < 3; i++) {
      y[3 * v + i] = t[i];
      for (int j = 0; j < 3; j++) {
        y[3 * v + i] += R[3 * i + j] * x[3 * v + j];
      }
    }
  }
}

// Rotation by angle a about the unit axis (Rodrigues).
static void rotation(const double *axis, double a, double *R) {
  double c = cos(a), s = sin(a), C = 1 - c, x = axis[0], y = axis[1], z = axis[2];
  double M[9] = {c + x * x * C,     x * y * C - z * s, x * z * C + y * s,
                 y * x * C + z * s, c + y * y * C,     y * z * C - x * s,
                 z * x * C - y * s, z * y * C + x * s, c + z * z * C};
  memcpy(R, M, sizeof M);
}

// A random rest triangle with area ≥ 0.05 m² (sides of order 1 m).
static void rand_triangle(tu_rng *r, double X[9]) {
  for (;;) {
    rand_vec(r, X, 9, -1, 1);
    double Dm[4];
    if (tri_rest(X, Dm) > 0.05) {
      return;
    }
  }
}

// ---- material ----------------------------------------------------------------------------------

static void lame_fn(const double *p, double *y, const void *aux) {
  (void)aux;
  cloth_lame(p[0], p[1], p[2], y, y + 1);
}

static void lame_adj(const double *p, double *pb, const double *yb, const void *aux) {
  (void)aux;
  adj_cloth_lame(p[0], p[1], p[2], pb, pb + 1, pb + 2, yb[0], yb[1]);
}

START_TEST(test_lame) {
  double mu, lam;
  cloth_lame(1e6, 0.3, 1e-3, &mu, &lam);
  ck_assert_double_eq_tol(mu, 1e3 / 2.6, 1e-9);
  ck_assert_double_eq_tol(lam, 300 / 0.91, 1e-9);
  tu_rng r = {101};
  kernel k = {"cloth_lame", 3, 2, lame_fn, lame_adj, NULL};
  for (int trial = 0; trial < 50; trial++) {
    double p[3] = {tu_uniform(&r, 1e4, 1e7), tu_uniform(&r, -0.5, 0.49),
                   tu_uniform(&r, 1e-4, 1e-3)};
    double yb[2] = {tu_uniform(&r, -1, 1), tu_uniform(&r, -1, 1)};
    check_kernel(&k, p, yb, 1e-6);
  }
  report("adj_cloth_lame");
}
END_TEST

// ---- rest shape ------------------------------------------------------------------------------

static void rest_fn(const double *p, double *y, const void *aux) {
  (void)aux;
  y[4] = tri_rest(p, y);
}

static void rest_adj(const double *p, double *pb, const double *yb, const void *aux) {
  (void)aux;
  adj_tri_rest(p, pb, yb, yb[4]);
}

START_TEST(test_tri_rest) {
  // Right triangle with legs a, b along x, y: Dm = diag(a, b).
  double X[9] = {0, 0, 0, 0.3, 0, 0, 0, 0.2, 0}, D[4];
  ck_assert_double_eq_tol(tri_rest(X, D), 0.03, 1e-15);
  ck_assert_double_eq_tol(D[0], 1 / 0.3, 1e-12);
  ck_assert_double_eq_tol(D[1], 0, 1e-15);
  ck_assert_double_eq_tol(D[2], 0, 1e-15);
  ck_assert_double_eq_tol(D[3], 1 / 0.2, 1e-12);
  tu_rng r = {202};
  kernel k = {"tri_rest", 9, 5, rest_fn, rest_adj, NULL};
  for (int trial = 0; trial < 50; trial++) {
    double p[9], yb[5];
    rand_triangle(&r, p);
    rand_vec(&r, yb, 5, -1, 1);
    check_kernel(&k, p, yb, 1e-6);
    // Dm is an isometric embedding: at x = X (or a rigid motion of it) G = 0, F = 0.
    double Dm[4], A = tri_rest(p, Dm), f[9], v[9] = {0};
    ck_assert(A > 0);
    ck_assert_double_eq_tol(tri_energy(p, Dm, A, 10, 5), 0, 1e-12);
    tri_force(p, p, v, Dm, A, 10, 5, 0.1, f);
    for (int i = 0; i < 9; i++) {
      ck_assert_double_eq_tol(f[i], 0, 1e-12);
    }
  }
  report("adj_tri_rest");
  // Degenerate (collinear): area 0, Dm⁻¹ zero, adjoint accumulates nothing.
  double Xc[9] = {0, 0, 0, 1, 1, 1, 2, 2, 2}, Xb[9] = {0}, Db[4] = {1, 1, 1, 1};
  ck_assert_double_eq_tol(tri_rest(Xc, D), 0, 1e-15);
  for (int i = 0; i < 4; i++) {
    ck_assert(D[i] == 0);
  }
  adj_tri_rest(Xc, Xb, Db, 1);
  for (int i = 0; i < 9; i++) {
    ck_assert(Xb[i] == 0);
  }
}
END_TEST

// ---- membrane --------------------------------------------------------------------------------
// p = x(9), xd(9), v(9), Dminv(4), A, mu, lam, beta = 35

enum { TF_X = 0, TF_XD = 9, TF_V = 18, TF_D = 27, TF_A = 31, TF_MU, TF_LAM, TF_BETA, TF_NP };

static void tf_fn(const double *p, double *y, const void *aux) {
  (void)aux;
  tri_force(p + TF_X, p + TF_XD, p + TF_V, p + TF_D, p[TF_A], p[TF_MU], p[TF_LAM], p[TF_BETA], y);
}

static void tf_adj(const double *p, double *pb, const double *yb, const void *aux) {
  (void)aux;
  adj_tri_force(p + TF_X, p + TF_XD, p + TF_V, p + TF_D, p[TF_A], p[TF_MU], p[TF_LAM], p[TF_BETA],
                pb + TF_X, pb + TF_XD, pb + TF_V, pb + TF_D, pb + TF_A, pb + TF_MU, pb + TF_LAM,
                pb + TF_BETA, yb);
}

// A random membrane element: rest triangle, deformed x (up to ±30 % of the size), xd near x,
// velocities, Lamé parameters 1–100 N/m, β 0.01–0.5 s.
static void rand_membrane(tu_rng *r, double *p) {
  double X[9];
  rand_triangle(r, X);
  p[TF_A] = tri_rest(X, p + TF_D);
  for (int i = 0; i < 9; i++) {
    p[TF_X + i] = X[i] + tu_uniform(r, -0.3, 0.3);
    p[TF_XD + i] = p[TF_X + i] + tu_uniform(r, -0.05, 0.05);
    p[TF_V + i] = tu_uniform(r, -1, 1);
  }
  p[TF_MU] = tu_uniform(r, 1, 100);
  p[TF_LAM] = tu_uniform(r, 1, 100);
  p[TF_BETA] = tu_uniform(r, 0.01, 0.5);
}

// Energy as a function of x (p = x, aux = the full parameter vector).
static void te_fn(const double *p, double *y, const void *aux) {
  const double *q = aux;
  y[0] = tri_energy(p, q + TF_D, q[TF_A], q[TF_MU], q[TF_LAM]);
}

// The elastic force is minus the energy gradient: the adjoint of the energy (ȳ = 1) is -f_el.
static void te_adj(const double *p, double *pb, const double *yb, const void *aux) {
  const double *q = aux;
  double f[9], v0[9] = {0};
  tri_force(p, p, v0, q + TF_D, q[TF_A], q[TF_MU], q[TF_LAM], 0, f);
  for (int i = 0; i < 9; i++) {
    pb[i] -= yb[0] * f[i];
  }
}

START_TEST(test_tri_force_is_energy_gradient) {
  tu_rng r = {303};
  for (int trial = 0; trial < 50; trial++) {
    double p[TF_NP], yb[1] = {1};
    rand_membrane(&r, p);
    kernel k = {"tri_force=-grad tri_energy", 9, 1, te_fn, te_adj, p};
    check_kernel(&k, p + TF_X, yb, 1e-6);
  }
  report("tri_force = -grad tri_energy");
}
END_TEST

START_TEST(test_tri_force_gradient) {
  tu_rng r = {404};
  kernel k = {"tri_force", TF_NP, 9, tf_fn, tf_adj, NULL};
  for (int trial = 0; trial < 50; trial++) {
    double p[TF_NP], yb[9];
    rand_membrane(&r, p);
    rand_vec(&r, yb, 9, -1, 1);
    check_kernel(&k, p, yb, 1e-6);
  }
  report("adj_tri_force");
}
END_TEST

// Elastic force only (v = 0) as a function of x.
static void tfx_fn(const double *p, double *y, const void *aux) {
  const double *q = aux;  // the full parameter vector; p replaces x
  double v0[9] = {0};
  tri_force(p, p, v0, q + TF_D, q[TF_A], q[TF_MU], q[TF_LAM], 0, y);
}

// Damping force as a function of v (x fixed).
static void tfv_fn(const double *p, double *y, const void *aux) {
  const double *q = aux;
  double f0[9], v0[9] = {0};
  tri_force(q + TF_X, q + TF_XD, p, q + TF_D, q[TF_A], q[TF_MU], q[TF_LAM], q[TF_BETA], y);
  tri_force(q + TF_X, q + TF_XD, v0, q + TF_D, q[TF_A], q[TF_MU], q[TF_LAM], q[TF_BETA], f0);
  for (int i = 0; i < 9; i++) {
    y[i] -= f0[i];
  }
}

// Compare out (ny) with -fd (the Hessian is minus the force Jacobian).
static void check_hvp(const char *name, const double *out, const double *fd, int n, double ymax,
                      double h, double tol) {
  double floor_ = fmax(1e-9, 1e3 * 2.2e-16 * ymax / h);
  for (int i = 0; i < n; i++) {
    ck_assert_msg(isfinite(out[i]), "%s[%d]: not finite", name, i);
    note_err(out[i], -fd[i], floor_);
    TU_ASSERT_GRAD(name, i, out[i], -fd[i], tol, floor_);
  }
}

START_TEST(test_tri_elastic_hvp) {
  tu_rng r = {505};
  for (int trial = 0; trial < 50; trial++) {
    double p[TF_NP], dx[9], dy[9], out[9], fd[9], ymax;
    rand_membrane(&r, p);
    rand_vec(&r, dx, 9, -1, 1);
    rand_vec(&r, dy, 9, -1, 1);
    kernel k = {"tri_elastic_hvp", 9, 9, tfx_fn, NULL, p};
    tri_elastic_hvp(p + TF_X, p + TF_D, p[TF_A], p[TF_MU], p[TF_LAM], dx, out);
    fd_direction(&k, p + TF_X, dx, 1e-3, fd, &ymax);
    check_hvp("tri_elastic_hvp", out, fd, 9, ymax, 1e-3, 1e-6);
    // symmetric: dyᵀ K dx = dxᵀ K dy
    double out2[9];
    tri_elastic_hvp(p + TF_X, p + TF_D, p[TF_A], p[TF_MU], p[TF_LAM], dy, out2);
    double a = dot(dy, out, 9), b = dot(dx, out2, 9);
    ck_assert_msg(fabs(a - b) <= 1e-12 * (fabs(a) + fabs(b) + 1e-12),
                  "K not symmetric: %.15e vs %.15e", a, b);
  }
  report("tri_elastic_hvp vs FD");
}
END_TEST

START_TEST(test_tri_damping_hvp) {
  tu_rng r = {606};
  for (int trial = 0; trial < 50; trial++) {
    double p[TF_NP], dv[9], dw[9], out[9], out2[9], fd[9], ymax;
    rand_membrane(&r, p);
    rand_vec(&r, dv, 9, -1, 1);
    rand_vec(&r, dw, 9, -1, 1);
    kernel k = {"tri_damping_hvp", 9, 9, tfv_fn, NULL, p};
    tri_damping_hvp(p + TF_XD, p + TF_D, p[TF_A], p[TF_MU], p[TF_LAM], p[TF_BETA], dv, out);
    fd_direction(&k, p + TF_V, dv, 1e-3, fd, &ymax);
    check_hvp("tri_damping_hvp", out, fd, 9, ymax, 1e-3, 1e-6);
    tri_damping_hvp(p + TF_XD, p + TF_D, p[TF_A], p[TF_MU], p[TF_LAM], p[TF_BETA], dw, out2);
    double a = dot(dw, out, 9), b = dot(dv, out2, 9);
    ck_assert_msg(fabs(a - b) <= 1e-12 * (fabs(a) + fabs(b) + 1e-12),
                  "D not symmetric: %.15e vs %.15e", a, b);
    ck_assert_msg(dot(dv, out, 9) >= 0, "D not PSD: dvᵀ D dv = %g", dot(dv, out, 9));
    ck_assert_msg(dot(dw, out2, 9) >= 0, "D not PSD: dwᵀ D dw = %g", dot(dw, out2, 9));
    // A rigid velocity field of xd (ω × xd_i + c) is not damped.
    double w[3], c[3], vr[9], f[9], fe[9], v0[9] = {0};
    rand_vec(&r, w, 3, -2, 2);
    rand_vec(&r, c, 3, -2, 2);
    for (int i = 0; i < 3; i++) {
      const double *q = p + TF_XD + 3 * i;
      vr[3 * i] = w[1] * q[2] - w[2] * q[1] + c[0];
      vr[3 * i + 1] = w[2] * q[0] - w[0] * q[2] + c[1];
      vr[3 * i + 2] = w[0] * q[1] - w[1] * q[0] + c[2];
    }
    tri_force(p + TF_X, p + TF_XD, vr, p + TF_D, p[TF_A], p[TF_MU], p[TF_LAM], p[TF_BETA], f);
    tri_force(p + TF_X, p + TF_XD, v0, p + TF_D, p[TF_A], p[TF_MU], p[TF_LAM], p[TF_BETA], fe);
    tri_damping_hvp(p + TF_XD, p + TF_D, p[TF_A], p[TF_MU], p[TF_LAM], p[TF_BETA], vr, out);
    for (int i = 0; i < 9; i++) {
      ck_assert_msg(fabs(f[i] - fe[i]) < 1e-12 * (1 + fabs(fe[i])), "rigid velocity damped: %g",
                    f[i] - fe[i]);
      ck_assert_msg(fabs(out[i]) < 1e-12, "rigid velocity damped (hvp): %g", out[i]);
    }
  }
  report("tri_damping_hvp vs FD");
}
END_TEST

START_TEST(test_tri_uniaxial_stretch) {
  // Right triangle with legs a (x) and b (y), stretched by s along x without lateral contraction:
  // F = diag(s, 1), G = diag((s² - 1)/2, 0), Ψ = (μ + λ/2) G11², P = diag(s (2μ + λ) G11, λ G11);
  // f1 = -A P[:,0]/a = -(b/2) s (2μ + λ) G11 x̂, f2 = -A P[:,1]/b = -(a/2) λ G11 ŷ.
  double a = 0.3, b = 0.2, mu = 40, lam = 25;
  double X[9] = {0, 0, 0, a, 0, 0, 0, b, 0}, D[4];
  double A = tri_rest(X, D);
  double ss[3] = {0.8, 1.1, 1.5};
  for (int t = 0; t < 3; t++) {
    double s = ss[t], x[9], v0[9] = {0}, f[9];
    memcpy(x, X, sizeof x);
    x[3] = s * a;
    double G11 = 0.5 * (s * s - 1);
    ck_assert_double_eq_tol(tri_energy(x, D, A, mu, lam), A * (mu + 0.5 * lam) * G11 * G11, 1e-13);
    tri_force(x, x, v0, D, A, mu, lam, 0.3, f);
    double f1 = -0.5 * b * s * (2 * mu + lam) * G11, f2 = -0.5 * a * lam * G11;
    double want[9] = {-f1, -f2, 0, f1, 0, 0, 0, f2, 0};
    for (int i = 0; i < 9; i++) {
      ck_assert_msg(fabs(f[i] - want[i]) < 1e-12, "stretch %g: f[%d] = %.15e, closed form %.15e",
                    s, i, f[i], want[i]);
    }
  }
}
END_TEST

START_TEST(test_tri_net_force_torque) {
  tu_rng r = {707};
  for (int trial = 0; trial < 50; trial++) {
    double p[TF_NP], f[9], F[3], T[3];
    rand_membrane(&r, p);
    // damping at xd = x so that both torques are about the same points
    tri_force(p + TF_X, p + TF_X, p + TF_V, p + TF_D, p[TF_A], p[TF_MU], p[TF_LAM], p[TF_BETA], f);
    net_force_torque(p + TF_X, f, 3, F, T);
    double scale = 0;
    for (int i = 0; i < 9; i++) {
      scale = fmax(scale, fabs(f[i]));
    }
    for (int c = 0; c < 3; c++) {
      ck_assert_msg(fabs(F[c]) < 1e-13 * scale + 1e-15, "net force %g (scale %g)", F[c], scale);
      ck_assert_msg(fabs(T[c]) < 1e-13 * scale + 1e-15, "net torque %g (scale %g)", T[c], scale);
    }
  }
}
END_TEST

START_TEST(test_tri_rotation_invariance) {
  // Energy and force magnitudes are invariant under a rigid motion of x (forces rotate with it).
  tu_rng r = {808};
  for (int trial = 0; trial < 20; trial++) {
    double p[TF_NP], R[9], t[3], ax[3], y[9], f[9], g[9], v0[9] = {0};
    rand_membrane(&r, p);
    rand_vec(&r, ax, 3, -1, 1);
    double l = sqrt(dot(ax, ax, 3));
    for (int i = 0; i < 3; i++) {
      ax[i] /= l;
    }
    rotation(ax, tu_uniform(&r, -3, 3), R);
    rand_vec(&r, t, 3, -5, 5);
    rigid(R, t, p + TF_X, y, 3);
    double e1 = tri_energy(p + TF_X, p + TF_D, p[TF_A], p[TF_MU], p[TF_LAM]);
    double e2 = tri_energy(y, p + TF_D, p[TF_A], p[TF_MU], p[TF_LAM]);
    ck_assert_double_eq_tol(e1, e2, 1e-10 * (1 + fabs(e1)));
    tri_force(p + TF_X, p + TF_X, v0, p + TF_D, p[TF_A], p[TF_MU], p[TF_LAM], 0, f);
    tri_force(y, y, v0, p + TF_D, p[TF_A], p[TF_MU], p[TF_LAM], 0, g);
    double zero[3] = {0, 0, 0}, fr[9];
    rigid(R, zero, f, fr, 3);
    for (int i = 0; i < 9; i++) {
      ck_assert_double_eq_tol(fr[i], g[i], 1e-10 * (1 + fabs(g[i])));
    }
  }
}
END_TEST

// ---- bending ---------------------------------------------------------------------------------

// Hinge with edge x0 = 0, x1 = (1, 0, 0), x2 = (0.5, 1, 0), and x3 rotated about the edge by φ
// from its flat position (0.5, -1, 0): x3 = (0.5, -cos φ, -sin φ); the dihedral angle is φ.
static void folded_hinge(double phi, double x[12]) {
  double h[12] = {0, 0, 0, 1, 0, 0, 0.5, 1, 0, 0.5, -cos(phi), -sin(phi)};
  memcpy(x, h, sizeof h);
}

static double hinge_theta(const double x[12]) {
  double th, c;
  hinge_rest(x, &th, &c);
  return th;
}

START_TEST(test_hinge_angle_values) {
  double x[12];
  folded_hinge(0, x);
  ck_assert_double_eq_tol(hinge_theta(x), 0, 1e-15);
  folded_hinge(M_PI / 2, x);
  ck_assert_double_eq_tol(hinge_theta(x), M_PI / 2, 1e-14);
  folded_hinge(-M_PI / 2, x);
  ck_assert_double_eq_tol(hinge_theta(x), -M_PI / 2, 1e-14);
  for (double phi = -3.1; phi < 3.1; phi += 0.37) {
    folded_hinge(phi, x);
    ck_assert_double_eq_tol(hinge_theta(x), phi, 1e-13);
  }
  // Flat: θ = 0 wherever x2, x3 lie along the edge; the rest weight is 3|e|²/Ā = 3·1/1.
  double th, c;
  folded_hinge(0, x);
  hinge_rest(x, &th, &c);
  ck_assert_double_eq_tol(c, 3, 1e-14);
  // The sign flips with the fold direction and with swapping the wings (x2 <-> x3 with the
  // edge reversed keeps the orientation and the angle).
  double y[12];
  folded_hinge(0.7, x);
  memcpy(y, x + 3, 3 * sizeof *y);
  memcpy(y + 3, x, 3 * sizeof *y);
  memcpy(y + 6, x + 9, 3 * sizeof *y);
  memcpy(y + 9, x + 6, 3 * sizeof *y);
  ck_assert_double_eq_tol(hinge_theta(y), 0.7, 1e-14);
  // The wing on the -n side (ridge seen from n) gives θ > 0; on the +n side θ < 0.
  folded_hinge(0, x);
  x[11] = -0.3;
  ck_assert(hinge_theta(x) > 0);
  x[11] = 0.3;
  ck_assert(hinge_theta(x) < 0);
}
END_TEST

// A random hinge: a random edge and wings with heights ≥ 0.2 |e| and |θ| < 2.8 (away from the
// ±π branch cut for the differences).
static void rand_hinge(tu_rng *r, double x[12]) {
  for (;;) {
    rand_vec(r, x, 12, -1, 1);
    double e[3] = {x[3] - x[0], x[4] - x[1], x[5] - x[2]};
    double a2[3] = {x[6] - x[0], x[7] - x[1], x[8] - x[2]};
    double a3[3] = {x[9] - x[3], x[10] - x[4], x[11] - x[5]};
    double n1[3], n2[3];
    cloth_cross(n1, e, a2);
    cloth_cross(n2, a3, e);
    double le2 = dot(e, e, 3);
    if (le2 < 0.1 || dot(n1, n1, 3) < 0.04 * le2 * le2 || dot(n2, n2, 3) < 0.04 * le2 * le2) {
      continue;
    }
    if (fabs(hinge_theta(x)) < 2.8) {
      return;
    }
  }
}

// Energy as a function of x (p = x, aux = x(12), kb, theta0, c).
static void he_fn(const double *p, double *y, const void *aux) {
  const double *q = aux;
  y[0] = hinge_energy(p, q[12], q[13], q[14]);
}

static void he_adj(const double *p, double *pb, const double *yb, const void *aux) {
  const double *q = aux;
  double f[12];
  hinge_force(p, q[12], q[13], q[14], f);
  for (int i = 0; i < 12; i++) {
    pb[i] -= yb[0] * f[i];
  }
}

// p = x(12), kb, theta0, c = 15
static void hf_fn(const double *p, double *y, const void *aux) {
  (void)aux;
  hinge_force(p, p[12], p[13], p[14], y);
}

static void hf_adj(const double *p, double *pb, const double *yb, const void *aux) {
  (void)aux;
  adj_hinge_force(p, p[12], p[13], p[14], pb, pb + 12, pb + 13, pb + 14, yb);
}

static void rand_hinge_params(tu_rng *r, double *p) {
  rand_hinge(r, p);
  p[12] = tu_uniform(r, 1e-3, 1);
  p[13] = tu_uniform(r, -1.5, 1.5);
  p[14] = tu_uniform(r, 1, 10);
}

START_TEST(test_hinge_force_is_energy_gradient) {
  tu_rng r = {909};
  for (int trial = 0; trial < 50; trial++) {
    double p[15], yb[1] = {1};
    rand_hinge_params(&r, p);
    kernel k = {"hinge_force=-grad hinge_energy", 12, 1, he_fn, he_adj, p};
    check_kernel(&k, p, yb, 1e-6);
  }
  report("hinge_force = -grad hinge_energy");
}
END_TEST

START_TEST(test_hinge_force_gradient) {
  tu_rng r = {1010};
  kernel k = {"hinge_force", 15, 12, hf_fn, hf_adj, NULL};
  for (int trial = 0; trial < 50; trial++) {
    double p[15], yb[12];
    rand_hinge_params(&r, p);
    rand_vec(&r, yb, 12, -1, 1);
    check_kernel(&k, p, yb, 1e-6);
  }
  report("adj_hinge_force");
}
END_TEST

static void hfx_fn(const double *p, double *y, const void *aux) {
  const double *q = aux;
  hinge_force(p, q[12], q[13], q[14], y);
}

START_TEST(test_hinge_hvp) {
  tu_rng r = {1111};
  for (int trial = 0; trial < 50; trial++) {
    double p[15], dx[12], dy[12], out[12], out2[12], fd[12], ymax;
    rand_hinge_params(&r, p);
    rand_vec(&r, dx, 12, -1, 1);
    rand_vec(&r, dy, 12, -1, 1);
    kernel k = {"hinge_hvp", 12, 12, hfx_fn, NULL, p};
    hinge_hvp(p, p[12], p[13], p[14], dx, out);
    fd_direction(&k, p, dx, 1e-3, fd, &ymax);
    check_hvp("hinge_hvp", out, fd, 12, ymax, 1e-3, 1e-6);
    hinge_hvp(p, p[12], p[13], p[14], dy, out2);
    double a = dot(dy, out, 12), b = dot(dx, out2, 12);
    ck_assert_msg(fabs(a - b) <= 1e-11 * (fabs(a) + fabs(b) + 1e-12),
                  "bending Hessian not symmetric: %.15e vs %.15e", a, b);
  }
  report("hinge_hvp vs FD");
}
END_TEST

static void hr_fn(const double *p, double *y, const void *aux) {
  (void)aux;
  hinge_rest(p, y, y + 1);
}

static void hr_adj(const double *p, double *pb, const double *yb, const void *aux) {
  (void)aux;
  adj_hinge_rest(p, pb, yb[0], yb[1]);
}

START_TEST(test_hinge_rest_gradient) {
  tu_rng r = {1212};
  kernel k = {"hinge_rest", 12, 2, hr_fn, hr_adj, NULL};
  for (int trial = 0; trial < 50; trial++) {
    double p[12], yb[2];
    rand_hinge(&r, p);
    rand_vec(&r, yb, 2, -1, 1);
    check_kernel(&k, p, yb, 1e-6);
  }
  report("adj_hinge_rest");
}
END_TEST

START_TEST(test_hinge_net_force_torque) {
  tu_rng r = {1313};
  for (int trial = 0; trial < 50; trial++) {
    double p[15], f[12], F[3], T[3], dx[12], h[12];
    rand_hinge_params(&r, p);
    hinge_force(p, p[12], p[13], p[14], f);
    net_force_torque(p, f, 4, F, T);
    double scale = 0;
    for (int i = 0; i < 12; i++) {
      scale = fmax(scale, fabs(f[i]));
    }
    for (int c = 0; c < 3; c++) {
      ck_assert_msg(fabs(F[c]) < 1e-13 * scale + 1e-15, "net force %g (scale %g)", F[c], scale);
      ck_assert_msg(fabs(T[c]) < 1e-13 * scale + 1e-15, "net torque %g (scale %g)", T[c], scale);
    }
    // An infinitesimal translation is in the Hessian's null space.
    double t[3];
    rand_vec(&r, t, 3, -1, 1);
    for (int i = 0; i < 12; i++) {
      dx[i] = t[i % 3];
    }
    hinge_hvp(p, p[12], p[13], p[14], dx, h);
    for (int i = 0; i < 12; i++) {
      ck_assert_msg(fabs(h[i]) < 1e-11 * (1 + scale), "translation not in the null space: %g",
                    h[i]);
    }
  }
}
END_TEST

START_TEST(test_hinge_degenerate) {
  // x2 on the edge line (zero-area wing), and a zero-length edge: no force, no NaN anywhere.
  double cases[2][12] = {{0, 0, 0, 1, 0, 0, 0.3, 0, 0, 0.5, -1, 0.2},
                         {0, 0, 0, 0, 0, 0, 0.5, 1, 0, 0.5, -1, 0}};
  for (int k = 0; k < 2; k++) {
    const double *x = cases[k];
    double f[12], h[12], dx[12], xb[12] = {0}, kbb = 0, thb = 0, cb = 0, fb[12], th, c;
    for (int i = 0; i < 12; i++) {
      dx[i] = fb[i] = 0.1 * (i + 1);
    }
    ck_assert(isfinite(hinge_energy(x, 1, 0.2, 3)));
    hinge_force(x, 1, 0.2, 3, f);
    hinge_hvp(x, 1, 0.2, 3, dx, h);
    adj_hinge_force(x, 1, 0.2, 3, xb, &kbb, &thb, &cb, fb);
    hinge_rest(x, &th, &c);
    ck_assert(th == 0 && c == 0);
    adj_hinge_rest(x, xb, 1, 1);
    for (int i = 0; i < 12; i++) {
      ck_assert(f[i] == 0 && h[i] == 0 && xb[i] == 0);
    }
    ck_assert(kbb == 0 && thb == 0 && cb == 0);
  }
}
END_TEST

START_TEST(test_hinge_near_pi) {
  // Wings almost folded onto each other: θ → ±π; force and Hessian stay finite (the branch cut
  // makes θ jump by 2π there, documented in hinge_force).
  double phis[4] = {M_PI - 1e-6, M_PI + 1e-6, M_PI - 1e-3, M_PI};
  for (int k = 0; k < 4; k++) {
    double x[12], f[12], h[12], dx[12], xb[12] = {0}, kbb = 0, thb = 0, cb = 0;
    folded_hinge(phis[k], x);
    double th = hinge_theta(x);
    ck_assert_msg(fabs(fabs(th) - M_PI) < 2e-3, "θ = %g near π", th);
    for (int i = 0; i < 12; i++) {
      dx[i] = 0.1 * (i + 1);
    }
    hinge_force(x, 1, 0.5, 3, f);
    hinge_hvp(x, 1, 0.5, 3, dx, h);
    adj_hinge_force(x, 1, 0.5, 3, xb, &kbb, &thb, &cb, dx);
    for (int i = 0; i < 12; i++) {
      ck_assert(isfinite(f[i]) && isfinite(h[i]) && isfinite(xb[i]));
    }
    ck_assert(isfinite(hinge_energy(x, 1, 0.5, 3)) && isfinite(kbb) && isfinite(thb) &&
              isfinite(cb));
    // |f| at the cut: 2 kb c |θ - θ̄| |∇θ| with |∂θ/∂x2| = 1/h = 1
    ck_assert_double_eq_tol(sqrt(dot(f + 6, f + 6, 3)), 6 * fabs(th - 0.5), 1e-9);
  }
}
END_TEST

// ---- aerodynamics ----------------------------------------------------------------------------
// p = x(9), v(9), wind(3), rho, cd, cl = 24

static void ae_fn(const double *p, double *y, const void *aux) {
  (void)aux;
  tri_aero_force(p, p + 9, p + 18, p[21], p[22], p[23], y);
}

static void ae_adj(const double *p, double *pb, const double *yb, const void *aux) {
  (void)aux;
  adj_tri_aero_force(p, p + 9, p + 18, p[21], p[22], p[23], pb, pb + 9, pb + 18, pb + 21, pb + 22,
                     pb + 23, yb);
}

static void rand_aero(tu_rng *r, double *p) {
  rand_triangle(r, p);
  rand_vec(r, p + 9, 9, -3, 3);
  rand_vec(r, p + 18, 3, -3, 3);
  p[21] = tu_uniform(r, 0.5, 1.5);
  p[22] = tu_uniform(r, 0.1, 2);
  p[23] = tu_uniform(r, 0, 1);
}

START_TEST(test_aero_gradient) {
  tu_rng r = {1414};
  kernel k = {"tri_aero_force", 24, 9, ae_fn, ae_adj, NULL};
  for (int trial = 0; trial < 50; trial++) {
    double p[24], yb[9];
    rand_aero(&r, p);
    rand_vec(&r, yb, 9, -1, 1);
    check_kernel(&k, p, yb, 1e-6);
  }
  report("adj_tri_aero_force");
}
END_TEST

START_TEST(test_aero_zero_relative_velocity) {
  // u = v̄ - w = 0 (vertex velocities differ, but their mean is the wind): no force, finite
  // adjoint.
  tu_rng r = {1515};
  for (int trial = 0; trial < 20; trial++) {
    double p[24], f[9], pb[24] = {0}, fb[9];
    rand_aero(&r, p);
    for (int c = 0; c < 3; c++) {
      p[18 + c] = (p[9 + c] + p[12 + c] + p[15 + c]) / 3;
    }
    rand_vec(&r, fb, 9, -1, 1);
    ae_fn(p, f, NULL);
    ae_adj(p, pb, fb, NULL);
    for (int i = 0; i < 9; i++) {
      ck_assert_msg(fabs(f[i]) < 1e-15, "force %g at u = 0", f[i]);
    }
    for (int i = 0; i < 24; i++) {
      ck_assert(isfinite(pb[i]));
    }
  }
  // Exactly zero velocities and wind.
  double x[9] = {0, 0, 0, 1, 0, 0, 0, 1, 0}, v[9] = {0}, w[3] = {0}, f[9];
  double xb[9] = {0}, vb[9] = {0}, wb[3] = {0}, rb = 0, cdb = 0, clb = 0;
  double fb[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  tri_aero_force(x, v, w, 1.2, 1, 0.5, f);
  adj_tri_aero_force(x, v, w, 1.2, 1, 0.5, xb, vb, wb, &rb, &cdb, &clb, fb);
  for (int i = 0; i < 9; i++) {
    ck_assert(f[i] == 0 && isfinite(xb[i]) && isfinite(vb[i]));
  }
  ck_assert(isfinite(rb) && isfinite(cdb) && isfinite(clb));
}
END_TEST

START_TEST(test_aero_drag_and_lift) {
  tu_rng r = {1616};
  for (int trial = 0; trial < 50; trial++) {
    double p[24], f[9], F[3], u[3], n[3], a[3], b[3];
    rand_aero(&r, p);
    for (int c = 0; c < 3; c++) {
      u[c] = (p[9 + c] + p[12 + c] + p[15 + c]) / 3 - p[18 + c];
      a[c] = p[3 + c] - p[c];
      b[c] = p[6 + c] - p[c];
    }
    cloth_cross(n, a, b);
    double l = sqrt(dot(n, n, 3));
    for (int c = 0; c < 3; c++) {
      n[c] /= l;
    }
    // Drag alone: along the normal, and it only takes energy out (f·u ≤ 0).
    double cl = p[23];
    p[23] = 0;
    ae_fn(p, f, NULL);
    for (int c = 0; c < 3; c++) {
      F[c] = f[c] + f[3 + c] + f[6 + c];
      ck_assert(f[c] == f[3 + c] && f[c] == f[6 + c]);  // split equally
    }
    double Fn = dot(F, n, 3);
    for (int c = 0; c < 3; c++) {
      ck_assert_double_eq_tol(F[c], Fn * n[c], 1e-12 * (1 + fabs(Fn)));
    }
    ck_assert_msg(dot(F, u, 3) <= 0, "drag power %g > 0", dot(F, u, 3));
    // Lift alone: perpendicular to u (up to the O(ε²) regularisation), magnitude
    // ½ρ C_L A |u_n| |u_t|.
    p[22] = 0;
    p[23] = cl;
    ae_fn(p, f, NULL);
    for (int c = 0; c < 3; c++) {
      F[c] = f[c] + f[3 + c] + f[6 + c];
    }
    double un = dot(u, n, 3), uu = dot(u, u, 3), ut = sqrt(fmax(0, uu - un * un));
    double L = 0.5 * p[21] * cl * 0.5 * l * fabs(un) * ut;
    ck_assert_double_eq_tol(sqrt(dot(F, F, 3)), L, 1e-9 * (1 + L));
    ck_assert_msg(fabs(dot(F, u, 3)) <= 1e-9 * (1 + L * sqrt(uu)), "lift does work %g",
                  dot(F, u, 3));
  }
  // A plate moving along its normal at U: F = -½ρ C_D A U² n, no lift.
  double x[9] = {0, 0, 0, 2, 0, 0, 0, 1, 0}, v[9], w[3] = {0, 0, 0}, f[9], U = 3;
  for (int i = 0; i < 9; i++) {
    v[i] = i % 3 == 2 ? U : 0;
  }
  tri_aero_force(x, v, w, 1.2, 1.1, 0.7, f);
  double sU = sqrt(U * U + 1e-12);  // the regularised speed; lift is O(ε²) here
  double want = -0.5 * 1.2 * 1.0 * U * (1.1 * sU + 0.7 * 1e-12 / sU);
  ck_assert_double_eq_tol(3 * f[2], want, 1e-12);
  ck_assert(f[0] == 0 && f[1] == 0);
}
END_TEST

Suite *make_cloth_kern_suite(void) {
  Suite *s = suite_create("cloth_kern");
  TCase *tc = tcase_create("membrane");
  tcase_add_test(tc, test_lame);
  tcase_add_test(tc, test_tri_rest);
  tcase_add_test(tc, test_tri_force_is_energy_gradient);
  tcase_add_test(tc, test_tri_force_gradient);
  tcase_add_test(tc, test_tri_elastic_hvp);
  tcase_add_test(tc, test_tri_damping_hvp);
  tcase_add_test(tc, test_tri_uniaxial_stretch);
  tcase_add_test(tc, test_tri_net_force_torque);
  tcase_add_test(tc, test_tri_rotation_invariance);
  suite_add_tcase(s, tc);
  tc = tcase_create("bending");
  tcase_add_test(tc, test_hinge_angle_values);
  tcase_add_test(tc, test_hinge_force_is_energy_gradient);
  tcase_add_test(tc, test_hinge_force_gradient);
  tcase_add_test(tc, test_hinge_hvp);
  tcase_add_test(tc, test_hinge_rest_gradient);
  tcase_add_test(tc, test_hinge_net_force_torque);
  tcase_add_test(tc, test_hinge_degenerate);
  tcase_add_test(tc, test_hinge_near_pi);
  suite_add_tcase(s, tc);
  tc = tcase_create("aero");
  tcase_add_test(tc, test_aero_gradient);
  tcase_add_test(tc, test_aero_zero_relative_velocity);
  tcase_add_test(tc, test_aero_drag_and_lift);
  suite_add_tcase(s, tc);
  return s;
}
