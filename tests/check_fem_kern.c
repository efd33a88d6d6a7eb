// Checks of the tetrahedral FEM element bodies (lib/phys_fem_kern.h): stress = energy gradient,
// stress differential and adjoints against central differences (Richardson-extrapolated), major
// symmetry, rest state and small-strain tangent of every model, rotation invariance, element
// force/energy/Hessian-vector products, momentum, and finite outputs for inverted and flat tets.
// DP_TEST_REPORT=1 prints the worst relative error of each gradient test.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "phys_fem_kern.h"
#include "testutil.h"

#define FK_MAXP 64
#define FK_TOL 1e-6

static const char *const model_name[4] = {"linear", "corotated", "stvk", "neohookean"};

// y = fn(p) with p packed (np values) and y (ny values); adj accumulates p_bar from y_bar.
typedef struct {
  const char *name;
  int np, ny;
  void (*fn)(const double *p, double *y, const void *aux);
  void (*adj)(const double *p, double *p_bar, const double *y_bar, const void *aux);
  const void *aux;
} fk_kernel;

static void fk_report(const char *test, double worst) {
  if (getenv("DP_TEST_REPORT") != NULL) {
    fprintf(stderr, "fem_kern %-34s worst relative error %.2e\n", test, worst);
  }
}

// Relative error of an agreeing pair as the assertion sees it: |an − fd| / max(|an|, |fd|),
// with the round-off floor as the smallest scale.
static double fk_relerr(double an, double fd, double floor_) {
  double s = fmax(fmax(fabs(an), fabs(fd)), floor_ / FK_TOL);
  return s > 0 ? fabs(an - fd) / s : 0.0;
}

// ȳ·y(p) by central differences at h and h/2 in component i, Richardson-extrapolated (O(h⁴)).
// *floor_ receives the round-off allowance: 1e3 ulps of ȳ·y over the step.
static double fk_fd_component(const fk_kernel *k, const double *p0, const double *ybar, int i,
                              double *floor_) {
  double p[FK_MAXP], y[FK_MAXP];
  double h = 1e-5 * fmax(1e-2, fabs(p0[i]));
  double d[2], lmax = 0;
  for (int r = 0; r < 2; r++) {
    double hr = r == 0 ? h : 0.5 * h, lp = 0, lm = 0;
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
    lmax = fmax(lmax, fmax(fabs(lp), fabs(lm)));
  }
  *floor_ = fmax(1e-9, 1e3 * 2.2e-16 * lmax / h);
  return (4 * d[1] - d[0]) / 3;
}

// Compare the adjoint with central differences of ȳ·y(p) for every component of p; returns the
// worst relative error.
static double fk_check_vjp(const fk_kernel *k, const double *p0, const double *ybar, double tol) {
  double p[FK_MAXP], pb[FK_MAXP] = {0};
  memcpy(p, p0, (size_t)k->np * sizeof *p);
  k->adj(p, pb, ybar, k->aux);
  double worst = 0;
  for (int i = 0; i < k->np; i++) {
    double floor_;
    double fd = fk_fd_component(k, p0, ybar, i, &floor_);
    ck_assert_msg(isfinite(pb[i]), "%s[%d]: adjoint not finite", k->name, i);
    TU_ASSERT_GRAD(k->name, i, pb[i], fd, tol, floor_);
    worst = fmax(worst, fk_relerr(pb[i], fd, floor_));
  }
  return worst;
}

// Compare a directional derivative jv (ny) with central differences of y(p0 + t dir) at t = 0
// (Richardson-extrapolated), component by component; returns the worst relative error.
static double fk_check_jvp(const fk_kernel *k, const double *p0, const double *dir,
                           const double *jv, double tol) {
  double p[FK_MAXP], yp[2][FK_MAXP], ym[2][FK_MAXP];
  double pmax = 0, dmax = 0;
  for (int i = 0; i < k->np; i++) {
    pmax = fmax(pmax, fabs(p0[i]));
    dmax = fmax(dmax, fabs(dir[i]));
  }
  double h = 1e-5 * fmax(1e-2, pmax) / dmax;
  for (int r = 0; r < 2; r++) {
    double hr = r == 0 ? h : 0.5 * h;
    for (int i = 0; i < k->np; i++) {
      p[i] = p0[i] + hr * dir[i];
    }
    k->fn(p, yp[r], k->aux);
    for (int i = 0; i < k->np; i++) {
      p[i] = p0[i] - hr * dir[i];
    }
    k->fn(p, ym[r], k->aux);
  }
  double ymax = 0;
  for (int j = 0; j < k->ny; j++) {
    ymax = fmax(ymax, fmax(fabs(yp[0][j]), fabs(ym[0][j])));
  }
  double floor_ = fmax(1e-9, 1e3 * 2.2e-16 * ymax / h), worst = 0;
  for (int j = 0; j < k->ny; j++) {
    double d0 = (yp[0][j] - ym[0][j]) / (2 * h), d1 = (yp[1][j] - ym[1][j]) / h;
    double fd = (4 * d1 - d0) / 3;
    ck_assert_msg(isfinite(jv[j]), "%s[%d]: derivative not finite", k->name, j);
    TU_ASSERT_GRAD(k->name, j, jv[j], fd, tol, floor_);
    worst = fmax(worst, fk_relerr(jv[j], fd, floor_));
  }
  return worst;
}

// ---- random inputs ---------------------------------------------------------------------------

static void rand_rotation(tu_rng *r, double Q[9]) {
  double q[4], n = 0;
  for (int i = 0; i < 4; i++) {
    q[i] = tu_uniform(r, -1, 1);
    n += q[i] * q[i];
  }
  n = sqrt(n);
  double w = q[0] / n, x = q[1] / n, y = q[2] / n, z = q[3] / n;
  Q[0] = 1 - 2 * (y * y + z * z);
  Q[1] = 2 * (x * y - w * z);
  Q[2] = 2 * (x * z + w * y);
  Q[3] = 2 * (x * y + w * z);
  Q[4] = 1 - 2 * (x * x + z * z);
  Q[5] = 2 * (y * z - w * x);
  Q[6] = 2 * (x * z - w * y);
  Q[7] = 2 * (y * z + w * x);
  Q[8] = 1 - 2 * (x * x + y * y);
}

// F = U diag(s1, s2, s3) Vᵀ with random rotations, s1, s2 in [0.6, 1.6] and s3 = t s2 with
// t in [tlo, 1]; tlo < 0 gives inverted F that stay away from the corotated singular set
// (σ2 + σ3 ≥ (1 + tlo) σ2).
static void rand_F(tu_rng *r, double tlo, double F[9]) {
  double U[9], V[9], T[9];
  rand_rotation(r, U);
  rand_rotation(r, V);
  double s1 = tu_uniform(r, 0.6, 1.6), s2 = tu_uniform(r, 0.6, 1.6);
  if (s2 > s1) {
    double t = s1;
    s1 = s2;
    s2 = t;
  }
  double s[3] = {s1, s2, tu_uniform(r, tlo, 1.0) * s2};
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      T[3 * i + j] = U[3 * i + j] * s[j];
    }
  }
  fem_m3_mul_nt(T, V, F);
}

static void rand_vec(tu_rng *r, int n, double lo, double hi, double *v) {
  for (int i = 0; i < n; i++) {
    v[i] = tu_uniform(r, lo, hi);
  }
}

static void eye3(double A[9]) {
  for (int i = 0; i < 9; i++) {
    A[i] = (i % 4 == 0) ? 1.0 : 0.0;
  }
}

// A positively oriented rest tetrahedron of size ~0.1 m, its inverse edge matrix and volume.
static double rand_rest(tu_rng *r, double X[12], double Dminv[9]) {
  static const double base[12] = {0, 0, 0, 0.1, 0, 0, 0.02, 0.09, 0, 0.03, 0.03, 0.08};
  for (int i = 0; i < 12; i++) {
    X[i] = base[i] + tu_uniform(r, -0.015, 0.015) + (i % 3 == 2 ? 0.5 : 0.0);
  }
  return tet_rest(X, Dminv);
}

// Current vertices x = F X + t + noise (noise 0.002 m on a 0.1 m element).
static void deform(tu_rng *r, const double F[9], const double X[12], double noise, double x[12]) {
  double t[3];
  rand_vec(r, 3, -0.2, 0.2, t);
  for (int v = 0; v < 4; v++) {
    for (int i = 0; i < 3; i++) {
      x[3 * v + i] = F[3 * i] * X[3 * v] + F[3 * i + 1] * X[3 * v + 1] +
                     F[3 * i + 2] * X[3 * v + 2] + t[i] + tu_uniform(r, -noise, noise);
    }
  }
}

// ---- Lamé parameters -------------------------------------------------------------------------

static void lame_fn(const double *p, double *y, const void *aux) {
  (void)aux;
  fem_lame(p[0], p[1], y, y + 1);
}

static void lame_adj(const double *p, double *pb, const double *yb, const void *aux) {
  (void)aux;
  adj_fem_lame(p[0], p[1], pb, pb + 1, yb[0], yb[1]);
}

START_TEST(test_lame_gradient) {
  tu_rng r = {2024};
  fk_kernel k = {"fem_lame", 2, 2, lame_fn, lame_adj, NULL};
  double worst = 0;
  for (int trial = 0; trial < 40; trial++) {
    double p[2] = {tu_uniform(&r, 1e4, 1e7), tu_uniform(&r, -0.3, 0.47)}, yb[2];
    rand_vec(&r, 2, -1, 1, yb);
    worst = fmax(worst, fk_check_vjp(&k, p, yb, FK_TOL));
  }
  double mu, lam;
  fem_lame(1e6, 0.25, &mu, &lam);
  ck_assert_double_eq_tol(mu, 4e5, 1e-9);
  ck_assert_double_eq_tol(lam, 4e5, 1e-9);
  fk_report("lame_gradient", worst);
}
END_TEST

// ---- SVD / polar helper ----------------------------------------------------------------------

static void check_svd(const double F[9], const char *what) {
  double U[9], s[3], V[9], T[9], A[9], I[9];
  fem_svd3(F, U, s, V);
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      T[3 * i + j] = U[3 * i + j] * s[j];
    }
  }
  fem_m3_mul_nt(T, V, A);
  double fn = sqrt(fem_m3_ddot(F, F)) + 1e-300;
  for (int i = 0; i < 9; i++) {
    ck_assert_msg(fabs(A[i] - F[i]) <= 1e-13 * fn, "%s: U S Vt[%d] %.17g vs F %.17g", what, i,
                  A[i], F[i]);
  }
  fem_m3_mul_tn(U, U, T);
  fem_m3_mul_tn(V, V, A);
  eye3(I);
  for (int i = 0; i < 9; i++) {
    ck_assert_msg(fabs(T[i] - I[i]) < 1e-13 && fabs(A[i] - I[i]) < 1e-13, "%s: not orthogonal",
                  what);
  }
  ck_assert_msg(fem_m3_det(U) > 0 && fem_m3_det(V) > 0, "%s: reflection in U or V", what);
  ck_assert_msg(s[0] >= s[1] - 1e-13 * fn && s[1] >= fabs(s[2]) - 1e-13 * fn,
                "%s: order %g %g %g", what, s[0], s[1], s[2]);
  ck_assert_msg(s[1] >= 0 && (fem_m3_det(F) >= 0 ? s[2] >= -1e-13 * fn : s[2] <= 1e-13 * fn),
                "%s: sign of sigma3 %g with det %g", what, s[2], fem_m3_det(F));
}

START_TEST(test_svd) {
  tu_rng r = {31};
  char what[64];
  for (int trial = 0; trial < 200; trial++) {
    double F[9];
    if (trial % 2) {
      rand_F(&r, -1.0, F);
    } else {
      rand_vec(&r, 9, -2, 2, F);
    }
    snprintf(what, sizeof what, "random %d", trial);
    check_svd(F, what);
  }
  double F[9], Q[9], n[3] = {0.36, 0.48, 0.8};
  eye3(F);
  check_svd(F, "identity");
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      F[3 * i + j] = (i == j ? 1.0 : 0.0) - 2 * n[i] * n[j];
    }
  }
  check_svd(F, "reflection");
  double flat[9] = {1, 0.2, 0, 0.1, 0.9, 0, 0.3, -0.2, 0};
  rand_rotation(&r, Q);
  fem_m3_mul(Q, flat, F);
  check_svd(F, "rank 2");
  double rank1[9] = {1, 2, 3, 2, 4, 6, -1, -2, -3};
  check_svd(rank1, "rank 1");
  double zero[9] = {0};
  check_svd(zero, "zero");
  double rep[9] = {2, 0, 0, 0, 1, 0, 0, 0, 1};
  fem_m3_mul(Q, rep, F);
  check_svd(F, "repeated");
}
END_TEST

// ---- stress, stress differential, adjoint ------------------------------------------------------

typedef struct {
  int model;
  double mu, lam;
} fk_mat;

static void psi_fn(const double *p, double *y, const void *aux) {
  const fk_mat *m = (const fk_mat *)aux;
  y[0] = fem_psi(m->model, p, m->mu, m->lam);
}

static void psi_adj(const double *p, double *pb, const double *yb, const void *aux) {
  const fk_mat *m = (const fk_mat *)aux;
  double P[9];
  fem_pk1(m->model, p, m->mu, m->lam, P);
  for (int i = 0; i < 9; i++) {
    pb[i] += yb[0] * P[i];
  }
}

static void pk1_fn(const double *p, double *y, const void *aux) {
  const fk_mat *m = (const fk_mat *)aux;
  fem_pk1(m->model, p, m->mu, m->lam, y);
}

// p = F (9), μ, λ
static void pk1p_fn(const double *p, double *y, const void *aux) {
  fem_pk1(*(const int *)aux, p, p[9], p[10], y);
}

static void pk1p_adj(const double *p, double *pb, const double *yb, const void *aux) {
  adj_fem_pk1(*(const int *)aux, p, p[9], p[10], pb, pb + 9, pb + 10, yb);
}

// Random material point: F (near inversion for every third case), μ, λ.
static void rand_material_point(tu_rng *r, int trial, double F[9], double *mu, double *lam) {
  rand_F(r, trial % 3 == 0 ? -0.6 : 0.3, F);
  *mu = tu_uniform(r, 0.5, 2.0);
  *lam = tu_uniform(r, 0.2, 10.0);
}

START_TEST(test_pk1_is_energy_gradient) {
  double worst = 0;
  for (int model = 0; model < 4; model++) {
    tu_rng r = {100 + (uint64_t)model};
    fk_mat m = {model, 0, 0};
    fk_kernel k = {model_name[model], 9, 1, psi_fn, psi_adj, &m};
    for (int trial = 0; trial < 60; trial++) {
      double F[9], yb[1] = {tu_uniform(&r, 0.5, 2.0)};
      rand_material_point(&r, trial, F, &m.mu, &m.lam);
      worst = fmax(worst, fk_check_vjp(&k, F, yb, FK_TOL));
    }
  }
  fk_report("pk1_is_energy_gradient", worst);
}
END_TEST

START_TEST(test_dpk1_vs_fd) {
  double worst = 0;
  for (int model = 0; model < 4; model++) {
    tu_rng r = {200 + (uint64_t)model};
    fk_mat m = {model, 0, 0};
    fk_kernel k = {model_name[model], 9, 9, pk1_fn, NULL, &m};
    for (int trial = 0; trial < 60; trial++) {
      double F[9], dF[9], dP[9];
      rand_material_point(&r, trial, F, &m.mu, &m.lam);
      rand_vec(&r, 9, -1, 1, dF);
      fem_dpk1(model, F, m.mu, m.lam, dF, dP);
      worst = fmax(worst, fk_check_jvp(&k, F, dF, dP, FK_TOL));
    }
  }
  fk_report("dpk1_vs_fd", worst);
}
END_TEST

START_TEST(test_adj_pk1_gradient) {
  double worst = 0;
  for (int model = 0; model < 4; model++) {
    tu_rng r = {300 + (uint64_t)model};
    fk_kernel k = {model_name[model], 11, 9, pk1p_fn, pk1p_adj, &model};
    for (int trial = 0; trial < 60; trial++) {
      double p[11], yb[9];
      rand_material_point(&r, trial, p, p + 9, p + 10);
      rand_vec(&r, 9, -1, 1, yb);
      worst = fmax(worst, fk_check_vjp(&k, p, yb, FK_TOL));
    }
  }
  fk_report("adj_pk1_gradient", worst);
}
END_TEST

START_TEST(test_dpk1_major_symmetry) {
  double worst = 0;
  for (int model = 0; model < 4; model++) {
    tu_rng r = {400 + (uint64_t)model};
    for (int trial = 0; trial < 100; trial++) {
      double F[9], A[9], B[9], dA[9], dB[9], mu, lam;
      rand_material_point(&r, trial, F, &mu, &lam);
      rand_vec(&r, 9, -1, 1, A);
      rand_vec(&r, 9, -1, 1, B);
      fem_dpk1(model, F, mu, lam, A, dA);
      fem_dpk1(model, F, mu, lam, B, dB);
      double ab = fem_m3_ddot(A, dB), ba = fem_m3_ddot(B, dA);
      double scale = sqrt(fem_m3_ddot(A, A) * fem_m3_ddot(dB, dB)) +
                     sqrt(fem_m3_ddot(B, B) * fem_m3_ddot(dA, dA));
      double e = fabs(ab - ba) / scale;
      ck_assert_msg(e < 1e-12, "%s: <A, dP[B]> %.17g vs <B, dP[A]> %.17g", model_name[model], ab,
                    ba);
      worst = fmax(worst, e);
    }
  }
  fk_report("dpk1_major_symmetry", worst);
}
END_TEST

START_TEST(test_rest_state_and_tangent) {
  // Zero stress and energy at F = I; every model's tangent there is the linear model's
  // 2μ sym(dF) + λ tr(dF) I (for stable neo-Hookean this checks μ' = 4μ/3, λ' = λ + 5μ/6, α).
  tu_rng r = {500};
  double I[9];
  eye3(I);
  double worst = 0;
  for (int model = 0; model < 4; model++) {
    for (int trial = 0; trial < 20; trial++) {
      double mu = tu_uniform(&r, 1e3, 1e6), lam = tu_uniform(&r, 1e3, 1e7), P[9], dF[9];
      double dP[9], dL[9];
      fem_pk1(model, I, mu, lam, P);
      for (int i = 0; i < 9; i++) {
        ck_assert_msg(fabs(P[i]) <= 1e-12 * (mu + lam), "%s: P(I)[%d] = %g", model_name[model],
                      i, P[i]);
      }
      double psi = fem_psi(model, I, mu, lam);
      ck_assert_msg(fabs(psi) <= 1e-12 * (mu + lam), "%s: psi(I) = %g", model_name[model], psi);
      rand_vec(&r, 9, -1, 1, dF);
      fem_dpk1(model, I, mu, lam, dF, dP);
      double tr = dF[0] + dF[4] + dF[8];
      for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++) {
          dL[3 * i + j] = mu * (dF[3 * i + j] + dF[3 * j + i]) + (i == j ? lam * tr : 0.0);
        }
      }
      for (int i = 0; i < 9; i++) {
        double e = fabs(dP[i] - dL[i]) / (mu + lam);
        ck_assert_msg(e < 1e-12, "%s: dP(I)[%d] %.17g vs linear %.17g", model_name[model], i,
                      dP[i], dL[i]);
        worst = fmax(worst, e);
      }
    }
  }
  fk_report("rest_state_and_tangent", worst);
}
END_TEST

START_TEST(test_rotation_invariance) {
  tu_rng r = {600};
  double worst = 0;
  for (int model = 1; model < 4; model++) {
    for (int trial = 0; trial < 50; trial++) {
      double F[9], Q[9], QF[9], P[9], PQ[9], QP[9], mu, lam;
      rand_material_point(&r, trial, F, &mu, &lam);
      rand_rotation(&r, Q);
      fem_m3_mul(Q, F, QF);
      double a = fem_psi(model, F, mu, lam), b = fem_psi(model, QF, mu, lam);
      ck_assert_msg(fabs(a - b) <= 1e-12 * (fabs(a) + mu + lam), "%s: psi(F) %.17g psi(QF) %.17g",
                    model_name[model], a, b);
      worst = fmax(worst, fabs(a - b) / (fabs(a) + mu + lam));
      fem_pk1(model, F, mu, lam, P);
      fem_pk1(model, QF, mu, lam, PQ);
      fem_m3_mul(Q, P, QP);
      for (int i = 0; i < 9; i++) {
        double e = fabs(PQ[i] - QP[i]) / (mu + lam);
        ck_assert_msg(e < 1e-12, "%s: P(QF)[%d] %.17g vs Q P(F) %.17g", model_name[model], i,
                      PQ[i], QP[i]);
        worst = fmax(worst, e);
      }
    }
  }
  fk_report("rotation_invariance", worst);
}
END_TEST

// ---- element rest shape ------------------------------------------------------------------------

static void rest_fn(const double *p, double *y, const void *aux) {
  (void)aux;
  y[9] = tet_rest(p, y);
}

static void rest_adj(const double *p, double *pb, const double *yb, const void *aux) {
  (void)aux;
  adj_tet_rest(p, pb, yb, yb[9]);
}

START_TEST(test_tet_rest_gradient) {
  tu_rng r = {700};
  fk_kernel k = {"tet_rest", 12, 10, rest_fn, rest_adj, NULL};
  double worst = 0;
  for (int trial = 0; trial < 50; trial++) {
    double X[12], Dminv[9], yb[10], Dm[9], T[9];
    double W = rand_rest(&r, X, Dminv);
    ck_assert(W > 0);
    fem_edges(X, Dm);
    ck_assert_double_eq_tol(W, fem_m3_det(Dm) / 6, 1e-18);
    fem_m3_mul(Dm, Dminv, T);
    for (int i = 0; i < 9; i++) {
      ck_assert_double_eq_tol(T[i], i % 4 == 0 ? 1.0 : 0.0, 1e-12);
    }
    rand_vec(&r, 9, -0.1, 0.1, yb);
    yb[9] = tu_uniform(&r, -1e3, 1e3);
    worst = fmax(worst, fk_check_vjp(&k, X, yb, FK_TOL));
  }
  fk_report("tet_rest_gradient", worst);
}
END_TEST

// ---- element force ------------------------------------------------------------------------------

// p = x (12), xd (12), v (12), Dminv (9), W, μ, λ, β = 49
enum { TP_X = 0, TP_XD = 12, TP_V = 24, TP_DMI = 36, TP_W = 45, TP_MU, TP_LAM, TP_BETA, TP_N };

static void tf_fn(const double *p, double *y, const void *aux) {
  tet_force(*(const int *)aux, p + TP_X, p + TP_XD, p + TP_V, p + TP_DMI, p[TP_W], p[TP_MU],
            p[TP_LAM], p[TP_BETA], y);
}

static void tf_adj(const double *p, double *pb, const double *yb, const void *aux) {
  adj_tet_force(*(const int *)aux, p + TP_X, p + TP_XD, p + TP_V, p + TP_DMI, p[TP_W], p[TP_MU],
                p[TP_LAM], p[TP_BETA], pb + TP_X, pb + TP_XD, pb + TP_V, pb + TP_DMI, pb + TP_W,
                pb + TP_MU, pb + TP_LAM, pb + TP_BETA, yb);
}

// A random element: rest shape, current x (near inversion every third case), xd near x,
// velocities, materials (E ~ 1e5 Pa), β.
static void rand_element(tu_rng *r, int trial, double *p) {
  double X[12], F[9];
  p[TP_W] = rand_rest(r, X, p + TP_DMI);
  rand_F(r, trial % 3 == 0 ? -0.6 : 0.3, F);
  deform(r, F, X, 0.002, p + TP_X);
  for (int i = 0; i < 12; i++) {
    p[TP_XD + i] = p[TP_X + i] + tu_uniform(r, -0.005, 0.005);
  }
  rand_vec(r, 12, -1, 1, p + TP_V);
  p[TP_MU] = tu_uniform(r, 1e4, 1e5);
  p[TP_LAM] = tu_uniform(r, 1e4, 5e5);
  p[TP_BETA] = tu_uniform(r, 1e-3, 0.05);
}

START_TEST(test_tet_force_gradient) {
  double worst = 0;
  for (int model = 0; model < 4; model++) {
    tu_rng r = {800 + (uint64_t)model};
    fk_kernel k = {model_name[model], TP_N, 12, tf_fn, tf_adj, &model};
    for (int trial = 0; trial < 30; trial++) {
      double p[TP_N], yb[12];
      rand_element(&r, trial, p);
      rand_vec(&r, 12, -1, 1, yb);
      worst = fmax(worst, fk_check_vjp(&k, p, yb, FK_TOL));
    }
  }
  fk_report("tet_force_gradient", worst);
}
END_TEST

typedef struct {
  int model;
  const double *Dminv;
  double W, mu, lam;
} fk_elem;

static void te_fn(const double *p, double *y, const void *aux) {
  const fk_elem *e = (const fk_elem *)aux;
  y[0] = tet_energy(e->model, p, e->Dminv, e->W, e->mu, e->lam);
}

// "adjoint" of the energy: −f (the elastic force with β = 0) times ȳ.
static void te_adj(const double *p, double *pb, const double *yb, const void *aux) {
  const fk_elem *e = (const fk_elem *)aux;
  double f[12], zero[12] = {0};
  tet_force(e->model, p, p, zero, e->Dminv, e->W, e->mu, e->lam, 0.0, f);
  for (int i = 0; i < 12; i++) {
    pb[i] -= yb[0] * f[i];
  }
}

// Elastic force as a function of x (β = 0).
static void tfe_fn(const double *p, double *y, const void *aux) {
  const fk_elem *e = (const fk_elem *)aux;
  double zero[12] = {0};
  tet_force(e->model, p, p, zero, e->Dminv, e->W, e->mu, e->lam, 0.0, y);
  for (int i = 0; i < 12; i++) {
    y[i] = -y[i];
  }
}

START_TEST(test_tet_force_is_energy_gradient) {
  double worst = 0;
  for (int model = 0; model < 4; model++) {
    tu_rng r = {900 + (uint64_t)model};
    for (int trial = 0; trial < 30; trial++) {
      double p[TP_N], yb[1] = {1.0};
      rand_element(&r, trial, p);
      fk_elem e = {model, p + TP_DMI, p[TP_W], p[TP_MU], p[TP_LAM]};
      fk_kernel k = {model_name[model], 12, 1, te_fn, te_adj, &e};
      worst = fmax(worst, fk_check_vjp(&k, p + TP_X, yb, FK_TOL));
    }
  }
  fk_report("tet_force_is_energy_gradient", worst);
}
END_TEST

// Symmetric 12 × 12 eigenvalues by cyclic Jacobi (test helper).
static void sym_eig12(double A[144], double ev[12]) {
  for (int sweep = 0; sweep < 50; sweep++) {
    double off = 0, tot = 0;
    for (int i = 0; i < 12; i++) {
      for (int j = 0; j < 12; j++) {
        tot += A[12 * i + j] * A[12 * i + j];
        off += i != j ? A[12 * i + j] * A[12 * i + j] : 0.0;
      }
    }
    if (off <= 1e-30 * tot) {
      break;
    }
    for (int p = 0; p < 11; p++) {
      for (int q = p + 1; q < 12; q++) {
        double apq = A[12 * p + q];
        if (apq == 0) {
          continue;
        }
        double th = (A[12 * q + q] - A[12 * p + p]) / (2 * apq);
        double t = (th >= 0 ? 1.0 : -1.0) / (fabs(th) + sqrt(th * th + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < 12; k++) {
          double akp = A[12 * k + p], akq = A[12 * k + q];
          A[12 * k + p] = c * akp - s * akq;
          A[12 * k + q] = s * akp + c * akq;
        }
        for (int k = 0; k < 12; k++) {
          double apk = A[12 * p + k], aqk = A[12 * q + k];
          A[12 * p + k] = c * apk - s * aqk;
          A[12 * q + k] = s * apk + c * aqk;
        }
      }
    }
  }
  for (int i = 0; i < 12; i++) {
    ev[i] = A[13 * i];
  }
}

START_TEST(test_tet_elastic_hvp) {
  double worst = 0, worst_sym = 0;
  for (int model = 0; model < 4; model++) {
    tu_rng r = {1000 + (uint64_t)model};
    for (int trial = 0; trial < 30; trial++) {
      double p[TP_N], dx[12], out[12], K[144];
      rand_element(&r, trial, p);
      fk_elem e = {model, p + TP_DMI, p[TP_W], p[TP_MU], p[TP_LAM]};
      fk_kernel k = {model_name[model], 12, 12, tfe_fn, NULL, &e};
      rand_vec(&r, 12, -1, 1, dx);
      tet_elastic_hvp(model, p + TP_X, e.Dminv, e.W, e.mu, e.lam, dx, out);
      worst = fmax(worst, fk_check_jvp(&k, p + TP_X, dx, out, FK_TOL));
      double kmax = 0;
      for (int j = 0; j < 12; j++) {
        double ej[12] = {0};
        ej[j] = 1;
        tet_elastic_hvp(model, p + TP_X, e.Dminv, e.W, e.mu, e.lam, ej, K + 12 * j);
      }
      for (int i = 0; i < 144; i++) {
        kmax = fmax(kmax, fabs(K[i]));
      }
      for (int i = 0; i < 12; i++) {
        for (int j = 0; j < i; j++) {
          double d = fabs(K[12 * i + j] - K[12 * j + i]) / kmax;
          ck_assert_msg(d < 1e-12, "%s: K[%d][%d] %.17g vs K[%d][%d] %.17g", model_name[model],
                        i, j, K[12 * i + j], j, i, K[12 * j + i]);
          worst_sym = fmax(worst_sym, d);
        }
      }
    }
  }
  fk_report("tet_elastic_hvp", worst);
  fk_report("tet_elastic_hvp_symmetry", worst_sym);
}
END_TEST

typedef struct {
  const double *x, *xd, *Dminv;
  double W, mu, lam, beta;
} fk_damp;

// −f as a function of v (model irrelevant: the elastic part is constant in v).
static void td_fn(const double *p, double *y, const void *aux) {
  const fk_damp *d = (const fk_damp *)aux;
  tet_force(DP_FEM_STVK, d->x, d->xd, p, d->Dminv, d->W, d->mu, d->lam, d->beta, y);
  for (int i = 0; i < 12; i++) {
    y[i] = -y[i];
  }
}

START_TEST(test_tet_damping_hvp) {
  tu_rng r = {1100};
  double worst = 0, worst_sym = 0, worst_neg = 0;
  for (int trial = 0; trial < 40; trial++) {
    double p[TP_N], dv[12], out[12], D[144], ev[12];
    rand_element(&r, trial, p);
    fk_damp dd = {p + TP_X, p + TP_XD, p + TP_DMI, p[TP_W], p[TP_MU], p[TP_LAM], p[TP_BETA]};
    fk_kernel k = {"tet_damping_hvp", 12, 12, td_fn, NULL, &dd};
    rand_vec(&r, 12, -1, 1, dv);
    tet_damping_hvp(dd.xd, dd.Dminv, dd.W, dd.mu, dd.lam, dd.beta, dv, out);
    worst = fmax(worst, fk_check_jvp(&k, p + TP_V, dv, out, FK_TOL));
    for (int j = 0; j < 12; j++) {
      double ej[12] = {0};
      ej[j] = 1;
      tet_damping_hvp(dd.xd, dd.Dminv, dd.W, dd.mu, dd.lam, dd.beta, ej, D + 12 * j);
    }
    double dmax = 0;
    for (int i = 0; i < 144; i++) {
      dmax = fmax(dmax, fabs(D[i]));
    }
    for (int i = 0; i < 12; i++) {
      for (int j = 0; j < i; j++) {
        double d = fabs(D[12 * i + j] - D[12 * j + i]) / dmax;
        ck_assert_msg(d < 1e-12, "D[%d][%d] %.17g vs D[%d][%d] %.17g", i, j, D[12 * i + j], j, i,
                      D[12 * j + i]);
        worst_sym = fmax(worst_sym, d);
      }
    }
    sym_eig12(D, ev);
    double emax = 0, emin = 0;
    for (int i = 0; i < 12; i++) {
      emax = fmax(emax, ev[i]);
      emin = fmin(emin, ev[i]);
    }
    ck_assert_msg(emin >= -1e-12 * emax, "damping matrix eigenvalue %g (largest %g)", emin, emax);
    worst_neg = fmax(worst_neg, -emin / emax);
  }
  fk_report("tet_damping_hvp", worst);
  fk_report("tet_damping_hvp_symmetry", worst_sym);
  fk_report("tet_damping_hvp_psd(-min/max eig)", worst_neg);
}
END_TEST

START_TEST(test_damping_rigid_velocity) {
  // v_i = ω × xd_i + c: Ė = sym(F_dᵀ [ω]× F_d) = 0, so no damping force at any configuration.
  tu_rng r = {1200};
  double worst = 0;
  for (int trial = 0; trial < 50; trial++) {
    double p[TP_N], w[3], c[3], v[12], out[12], ref[12];
    rand_element(&r, trial, p);
    rand_vec(&r, 3, -3, 3, w);
    rand_vec(&r, 3, -1, 1, c);
    const double *xd = p + TP_XD;
    for (int i = 0; i < 4; i++) {
      const double *y = xd + 3 * i;
      v[3 * i] = w[1] * y[2] - w[2] * y[1] + c[0];
      v[3 * i + 1] = w[2] * y[0] - w[0] * y[2] + c[1];
      v[3 * i + 2] = w[0] * y[1] - w[1] * y[0] + c[2];
    }
    tet_damping_hvp(xd, p + TP_DMI, p[TP_W], p[TP_MU], p[TP_LAM], p[TP_BETA], v, out);
    // Reference magnitude: the same velocities with vertex order scrambled (not rigid).
    double vs[12];
    for (int i = 0; i < 12; i++) {
      vs[i] = v[(i + 3) % 12];
    }
    tet_damping_hvp(xd, p + TP_DMI, p[TP_W], p[TP_MU], p[TP_LAM], p[TP_BETA], vs, ref);
    double n = 0, nr = 0;
    for (int i = 0; i < 12; i++) {
      n = fmax(n, fabs(out[i]));
      nr = fmax(nr, fabs(ref[i]));
    }
    ck_assert_msg(n <= 1e-12 * nr, "rigid velocity damping %g (reference %g)", n, nr);
    worst = fmax(worst, n / nr);
  }
  fk_report("damping_rigid_velocity(|f|/|f_ref|)", worst);
}
END_TEST

START_TEST(test_momentum) {
  // Σ f_i = 0 for every model; Σ x_i × f_i = 0 for the rotation-invariant ones (xd = x).
  double worst_f = 0, worst_t = 0;
  for (int model = 0; model < 4; model++) {
    tu_rng r = {1300 + (uint64_t)model};
    for (int trial = 0; trial < 50; trial++) {
      double p[TP_N], f[12];
      rand_element(&r, trial, p);
      const double *x = p + TP_X;
      tet_force(model, x, x, p + TP_V, p + TP_DMI, p[TP_W], p[TP_MU], p[TP_LAM], p[TP_BETA], f);
      double sf[3] = {0}, tq[3] = {0}, fs = 0, ts = 0;
      for (int i = 0; i < 4; i++) {
        const double *y = x + 3 * i, *g = f + 3 * i;
        for (int c = 0; c < 3; c++) {
          sf[c] += g[c];
          fs = fmax(fs, fabs(g[c]));
        }
        tq[0] += y[1] * g[2] - y[2] * g[1];
        tq[1] += y[2] * g[0] - y[0] * g[2];
        tq[2] += y[0] * g[1] - y[1] * g[0];
        ts = fmax(ts, dp_norm3(y) * dp_norm3(g));
      }
      for (int c = 0; c < 3; c++) {
        ck_assert_msg(fabs(sf[c]) <= 1e-13 * fs, "%s: net force %g (scale %g)",
                      model_name[model], sf[c], fs);
        worst_f = fmax(worst_f, fabs(sf[c]) / fs);
        if (model != DP_FEM_LINEAR) {
          ck_assert_msg(fabs(tq[c]) <= 1e-12 * ts, "%s: net torque %g (scale %g)",
                        model_name[model], tq[c], ts);
          worst_t = fmax(worst_t, fabs(tq[c]) / ts);
        }
      }
    }
  }
  fk_report("momentum(net force / scale)", worst_f);
  fk_report("momentum(net torque / scale)", worst_t);
}
END_TEST

// ---- inverted, flat and singular elements ---------------------------------------------------

static void assert_finite(const double *a, int n, const char *what) {
  for (int i = 0; i < n; i++) {
    ck_assert_msg(isfinite(a[i]), "%s[%d] = %g", what, i, a[i]);
  }
}

// Every output of the element kernels at x finite (forward, adjoint, both products).
static void assert_element_finite(int model, const double x[12], const double Dminv[9], double W,
                                  const char *what) {
  double v[12], f[12], out[12], fb[12], dx[12];
  double xb[12] = {0}, xdb[12] = {0}, vb[12] = {0}, Db[9] = {0}, Wb = 0, mb = 0, lb = 0, bb = 0;
  for (int i = 0; i < 12; i++) {
    v[i] = 0.1 * (i % 5) - 0.2;
    fb[i] = 1.0 - 0.15 * i;
    dx[i] = 0.01 * (i % 4) - 0.015;
  }
  double mu = 1e5, lam = 4e5, beta = 0.01;
  tet_force(model, x, x, v, Dminv, W, mu, lam, beta, f);
  assert_finite(f, 12, what);
  adj_tet_force(model, x, x, v, Dminv, W, mu, lam, beta, xb, xdb, vb, Db, &Wb, &mb, &lb, &bb, fb);
  assert_finite(xb, 12, what);
  assert_finite(xdb, 12, what);
  assert_finite(vb, 12, what);
  assert_finite(Db, 9, what);
  double s[4] = {Wb, mb, lb, bb};
  assert_finite(s, 4, what);
  tet_elastic_hvp(model, x, Dminv, W, mu, lam, dx, out);
  assert_finite(out, 12, what);
  tet_damping_hvp(x, Dminv, W, mu, lam, beta, dx, out);
  assert_finite(out, 12, what);
  double e = tet_energy(model, x, Dminv, W, mu, lam);
  ck_assert_msg(isfinite(e), "%s: energy %g", what, e);
}

// ∇_x J of J = det F(x) (12): distribution of cof(F) Dm⁻ᵀ.
static void grad_J(const double x[12], const double Dminv[9], double g[12]) {
  double F[9], C[9], H[9];
  tet_deformation_gradient(x, Dminv, F);
  fem_m3_cof(F, C);
  fem_m3_mul_nt(C, Dminv, H);
  for (int i = 0; i < 12; i++) {
    g[i] = 0;
  }
  fem_edges_scatter(H, g);
}

START_TEST(test_inverted_and_flat_elements) {
  static const double X[12] = {0, 0, 0, 0.1, 0, 0, 0.05, 0.0866, 0, 0.05, 0.0289, 0.0816};
  double Dminv[9], n[3], e1[3], e2[3];
  double W = tet_rest(X, Dminv);
  ck_assert(W > 0);
  for (int c = 0; c < 3; c++) {
    e1[c] = X[3 + c] - X[c];
    e2[c] = X[6 + c] - X[c];
  }
  n[0] = e1[1] * e2[2] - e1[2] * e2[1];
  n[1] = e1[2] * e2[0] - e1[0] * e2[2];
  n[2] = e1[0] * e2[1] - e1[1] * e2[0];
  double nl = dp_norm3(n);
  for (int c = 0; c < 3; c++) {
    n[c] /= nl;
  }
  // Vertex 3 reflected through the opposite face (F a reflection, det −1), moved into the face
  // (flat, det 0), and halfway back (inverted, det −1/2).
  const char *names[3] = {"reflected", "flat", "half inverted"};
  const double t[3] = {2.0, 1.0, 1.5};
  for (int cs = 0; cs < 3; cs++) {
    double x[12], F[9];
    memcpy(x, X, sizeof x);
    double h = (X[9] - X[0]) * n[0] + (X[10] - X[1]) * n[1] + (X[11] - X[2]) * n[2];
    for (int c = 0; c < 3; c++) {
      x[9 + c] -= t[cs] * h * n[c];
    }
    tet_deformation_gradient(x, Dminv, F);
    double J = fem_m3_det(F);
    ck_assert_double_eq_tol(J, 1.0 - t[cs], 1e-12);
    for (int model = 1; model < 4; model += 2) {
      char what[64];
      snprintf(what, sizeof what, "%s %s", model_name[model], names[cs]);
      assert_element_finite(model, x, Dminv, W, what);
    }
    // Stable neo-Hookean pushes the element back toward positive volume, down its energy.
    double f[12], g[12], zero[12] = {0}, xs[12];
    tet_force(DP_FEM_NEOHOOKEAN, x, x, zero, Dminv, W, 1e5, 4e5, 0, f);
    grad_J(x, Dminv, g);
    double fg = 0, ff = 0, gg = 0;
    for (int i = 0; i < 12; i++) {
      fg += f[i] * g[i];
      ff += f[i] * f[i];
      gg += g[i] * g[i];
    }
    ck_assert_msg(fg > 0.1 * sqrt(ff * gg), "%s: force·∇J %g (|f| %g, |∇J| %g)", names[cs], fg,
                  sqrt(ff), sqrt(gg));
    double step = 1e-4 / sqrt(ff);
    for (int i = 0; i < 12; i++) {
      xs[i] = x[i] + step * f[i];
    }
    double e0 = tet_energy(DP_FEM_NEOHOOKEAN, x, Dminv, W, 1e5, 4e5);
    double e1s = tet_energy(DP_FEM_NEOHOOKEAN, xs, Dminv, W, 1e5, 4e5);
    ck_assert_msg(e1s < e0, "%s: energy %g -> %g along the force", names[cs], e0, e1s);
  }
}
END_TEST

START_TEST(test_singular_stress_finite) {
  // Stress, differential and adjoint finite at singular F for corotated and stable NH: zero,
  // rank 1, rank 2, an exact reflection (σ2 + σ3 = 0, polar rotation not unique), and inverted
  // F within 1e-14 of that set.
  double refl[9], nrm[3] = {0.36, 0.48, 0.8}, Q[9], near[9];
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      refl[3 * i + j] = (i == j ? 1.0 : 0.0) - 2 * nrm[i] * nrm[j];
    }
  }
  tu_rng r = {1400};
  rand_rotation(&r, Q);
  double dg[9] = {1.3, 0, 0, 0, 0.7, 0, 0, 0, -0.7 + 1e-14};
  fem_m3_mul(Q, dg, near);
  const double cases[6][9] = {{0, 0, 0, 0, 0, 0, 0, 0, 0},
                              {1, 2, 3, 2, 4, 6, -1, -2, -3},
                              {1, 0.2, 0, 0.1, 0.9, 0, 0.3, -0.2, 0},
                              {refl[0], refl[1], refl[2], refl[3], refl[4], refl[5], refl[6],
                               refl[7], refl[8]},
                              {near[0], near[1], near[2], near[3], near[4], near[5], near[6],
                               near[7], near[8]},
                              {-1, 0, 0, 0, -1, 0, 0, 0, -1}};
  for (int cs = 0; cs < 6; cs++) {
    for (int model = 0; model < 4; model++) {
      char what[64];
      snprintf(what, sizeof what, "%s case %d", model_name[model], cs);
      double P[9], dP[9], Fb[9] = {0}, mb = 0, lb = 0, dF[9] = {0.3, -0.1, 0.2, 0.5, 0.1, -0.4,
                                                                  0.2, 0.2, 0.7};
      double psi = fem_psi(model, cases[cs], 1.0, 4.0);
      ck_assert_msg(isfinite(psi), "%s: psi %g", what, psi);
      fem_pk1(model, cases[cs], 1.0, 4.0, P);
      assert_finite(P, 9, what);
      fem_dpk1(model, cases[cs], 1.0, 4.0, dF, dP);
      assert_finite(dP, 9, what);
      adj_fem_pk1(model, cases[cs], 1.0, 4.0, Fb, &mb, &lb, dF);
      assert_finite(Fb, 9, what);
      ck_assert_msg(isfinite(mb) && isfinite(lb), "%s: parameter adjoints", what);
    }
  }
  // A degenerate rest shape gives W = 0 and a zero Dminv (no division by zero).
  double Xf[12] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 0}, Dminv[9], Xb[12] = {0}, Db[9];
  double W = tet_rest(Xf, Dminv);
  ck_assert(W == 0);
  assert_finite(Dminv, 9, "flat rest Dminv");
  for (int i = 0; i < 9; i++) {
    Db[i] = 1.0;
  }
  adj_tet_rest(Xf, Xb, Db, 1.0);
  assert_finite(Xb, 12, "flat rest adjoint");
}
END_TEST

Suite *make_fem_kern_suite(void) {
  Suite *s = suite_create("fem_kern");
  TCase *tc = tcase_create("material");
  tcase_add_test(tc, test_lame_gradient);
  tcase_add_test(tc, test_svd);
  tcase_add_test(tc, test_pk1_is_energy_gradient);
  tcase_add_test(tc, test_dpk1_vs_fd);
  tcase_add_test(tc, test_adj_pk1_gradient);
  tcase_add_test(tc, test_dpk1_major_symmetry);
  tcase_add_test(tc, test_rest_state_and_tangent);
  tcase_add_test(tc, test_rotation_invariance);
  tcase_add_test(tc, test_singular_stress_finite);
  suite_add_tcase(s, tc);
  TCase *te = tcase_create("element");
  tcase_add_test(te, test_tet_rest_gradient);
  tcase_add_test(te, test_tet_force_gradient);
  tcase_add_test(te, test_tet_force_is_energy_gradient);
  tcase_add_test(te, test_tet_elastic_hvp);
  tcase_add_test(te, test_tet_damping_hvp);
  tcase_add_test(te, test_damping_rigid_velocity);
  tcase_add_test(te, test_momentum);
  tcase_add_test(te, test_inverted_and_flat_elements);
  suite_add_tcase(s, te);
  return s;
}
