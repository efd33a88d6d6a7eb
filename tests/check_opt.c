// Tests of the optimizers: Rosenbrock with and without a box that excludes its minimum, an
// ill-conditioned separable quadratic (λ from 1 to 1e6) free and clipped, the linear rate of
// gradient descent, fixed variables, stop rules and their priority, best-point tracking, errors
// from the objective, NaN trial points, invalid options and allocation failures.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "dp/dp.h"
#include "testutil.h"

#define MAXN 32

// What every objective records: evaluations outside the box, the lowest f and its point, and
// an optional injected failure (a NaN f or g, or an error status) at one call.
typedef struct {
  int n;
  double lo[MAXN], hi[MAXN];
  int calls;
  int outside;          // evaluations with some z_i outside [lo_i, hi_i]
  double min_f, min_z[MAXN];
  int nan_f_at;         // call number (1-based) that returns f = NaN; 0: none
  int nan_g_at;         // call number that returns g_0 = NaN
  int error_at;         // call number that fails with DP_ERR_DIVERGED
  double lam[MAXN], c[MAXN];  // quadratic: f = ½ Σ λ_i (z_i − c_i)² (+ coupling)
  double coupling;      // adds coupling · z_0 · z_1
} Obj;

static void obj_init(Obj *o, int n, const double *lo, const double *hi) {
  memset(o, 0, sizeof *o);
  o->n = n;
  o->min_f = INFINITY;
  for (int i = 0; i < n; i++) {
    o->lo[i] = lo != NULL ? lo[i] : -INFINITY;
    o->hi[i] = hi != NULL ? hi[i] : INFINITY;
  }
}

// Bookkeeping shared by the objectives; returns a status to hand back (DP_OK to go on).
static dpStatus obj_record(Obj *o, const double *z, double *f, double *g, dpError *err) {
  o->calls++;
  for (int i = 0; i < o->n; i++) {
    if (!(z[i] >= o->lo[i] && z[i] <= o->hi[i])) {
      o->outside++;
    }
  }
  if (o->calls == o->error_at) {
    return dp_error_set(err, DP_ERR_DIVERGED, NULL, 0, 0, "injected failure at call %d",
                        o->calls);
  }
  if (o->calls == o->nan_f_at) {
    *f = NAN;
  }
  if (o->calls == o->nan_g_at) {
    g[0] = NAN;
  }
  if (*f < o->min_f) {
    o->min_f = *f;
    memcpy(o->min_z, z, (size_t)o->n * sizeof *z);
  }
  return DP_OK;
}

// Rosenbrock: f = (1 − z0)² + 100 (z1 − z0²)², minimum 0 at (1, 1).
static dpStatus rosenbrock(void *ud, const double *z, double *f, double *g, dpError *err) {
  double a = 1 - z[0], b = z[1] - z[0] * z[0];
  *f = a * a + 100 * b * b;
  g[0] = -2 * a - 400 * z[0] * b;
  g[1] = 200 * b;
  return obj_record(ud, z, f, g, err);
}

static dpStatus quadratic(void *ud, const double *z, double *f, double *g, dpError *err) {
  Obj *o = ud;
  double s = 0;
  for (int i = 0; i < o->n; i++) {
    double d = z[i] - o->c[i];
    s += 0.5 * o->lam[i] * d * d;
    g[i] = o->lam[i] * d;
  }
  if (o->coupling != 0) {
    s += o->coupling * z[0] * z[1];
    g[0] += o->coupling * z[1];
    g[1] += o->coupling * z[0];
  }
  *f = s;
  return obj_record(o, z, f, g, err);
}

// A gradient with the wrong sign: no step along −g decreases f.
static dpStatus wrong_gradient(void *ud, const double *z, double *f, double *g, dpError *err) {
  *f = z[0] * z[0];
  g[0] = -2 * z[0];
  return obj_record(ud, z, f, g, err);
}

// f = 1 + z⁴: gradient descent slows down as z → 0, so the relative change of f vanishes.
static dpStatus quartic(void *ud, const double *z, double *f, double *g, dpError *err) {
  *f = 1 + z[0] * z[0] * z[0] * z[0];
  g[0] = 4 * z[0] * z[0] * z[0];
  return obj_record(ud, z, f, g, err);
}

static dpOptimizer *make_opt(int n, const double *lo, const double *hi, const dpOptOptions *opt) {
  dpError err = {0};
  dpOptimizer *o = NULL;
  dpStatus st = dp_opt_new(n, lo, hi, opt, &o, &err);
  ck_assert_msg(st == DP_OK, "dp_opt_new: %s", err.message);
  return o;
}

// Start at z0 and iterate until a stop rule holds; returns the stop reason.
static dpOptStop run_to_stop(dpOptimizer *o, dpOptFn fn, Obj *obj, const double *z0) {
  dpError err = {0};
  ck_assert_msg(dp_opt_start(o, fn, obj, z0, &err) == DP_OK, "start: %s", err.message);
  while (dp_opt_stop(o) == DP_STOP_NONE) {
    ck_assert_msg(dp_opt_iterate(o, fn, obj, &err) == DP_OK, "iterate %d: %s", dp_opt_iter(o),
                  err.message);
  }
  return dp_opt_stop(o);
}

static double max_abs_diff(int n, const double *a, const double *b) {
  double e = 0;
  for (int i = 0; i < n; i++) {
    e = fmax(e, fabs(a[i] - b[i]));
  }
  return e;
}

static const double k_rosen_z0[2] = {-1.2, 1.0};

// ------------------------------------------------------------------------------------------
// Rosenbrock.

START_TEST(test_lbfgs_rosenbrock) {
  Obj obj;
  obj_init(&obj, 2, NULL, NULL);
  dpOptOptions opt = dp_default_opt_options(DP_OPT_LBFGS);
  dpOptimizer *o = make_opt(2, NULL, NULL, &opt);
  dpOptStop stop = run_to_stop(o, rosenbrock, &obj, k_rosen_z0);
  const double one[2] = {1, 1};
  double e = max_abs_diff(2, dp_opt_z(o), one);
  // Measured: 44 iterations, 51 evaluations, |z − (1, 1)| < 1e-13 (SciPy's L-BFGS-B: 39, 47).
  ck_assert_msg(stop == DP_STOP_GRAD_NORM, "stop %s", dp_opt_stop_name(stop));
  ck_assert_msg(e <= 1e-6, "|z - (1,1)|inf = %.3e after %d iterations", e, dp_opt_iter(o));
  ck_assert_msg(dp_opt_iter(o) <= 60, "%d iterations (measured 44)", dp_opt_iter(o));
  ck_assert_msg(dp_opt_evals(o) <= 80, "%d evaluations (measured 51)", dp_opt_evals(o));
  ck_assert_int_eq(dp_opt_evals(o), obj.calls);
  ck_assert_msg(dp_opt_pgnorm(o) <= opt.gtol, "pgnorm %.3e", dp_opt_pgnorm(o));
  dp_opt_free(o);
}
END_TEST

START_TEST(test_adam_rosenbrock) {
  Obj obj;
  obj_init(&obj, 2, NULL, NULL);
  dpOptOptions opt = dp_default_opt_options(DP_OPT_ADAM);
  opt.lr = 0.02;
  opt.max_iter = 8000;
  dpOptimizer *o = make_opt(2, NULL, NULL, &opt);
  dpOptStop stop = run_to_stop(o, rosenbrock, &obj, k_rosen_z0);
  const double one[2] = {1, 1};
  double e = max_abs_diff(2, dp_opt_z(o), one);
  // Measured with lr 0.02: |z − (1, 1)| is 5.5e-2 after 2000 iterations, 1.1e-3 after 3000;
  // ‖pg‖∞ <= 1e-10 at iteration 4746 with |z − (1, 1)| = 2.8e-10.
  ck_assert_msg(stop == DP_STOP_GRAD_NORM, "stop %s at %d", dp_opt_stop_name(stop),
                dp_opt_iter(o));
  ck_assert_msg(e <= 1e-8, "|z - (1,1)|inf = %.3e", e);
  ck_assert_msg(dp_opt_iter(o) <= 6000, "%d iterations (measured 4746)", dp_opt_iter(o));
  ck_assert_int_eq(dp_opt_evals(o), dp_opt_iter(o) + 1);
  dp_opt_free(o);
}
END_TEST

// Rosenbrock on [−2, 0.5] × [−2, 2]: for fixed z0 the best z1 is z0², leaving (1 − z0)², which
// decreases up to the bound z0 = 0.5; the constrained minimum is (0.5, 0.25) with f = 0.25.
START_TEST(test_rosenbrock_box) {
  const double lo[2] = {-2, -2}, hi[2] = {0.5, 2}, zstar[2] = {0.5, 0.25};
  // Measured iterations to ‖pg‖∞ <= 1e-10: L-BFGS 29 (SciPy's L-BFGS-B: 20), Adam (lr 0.02)
  // 1176, GD (lr 1e-3) 1354; |z − z*| <= 5e-13 each.
  static const struct {
    dpOptMethod method;
    double lr;
    int max_iter, budget;
  } cases[] = {
      {DP_OPT_LBFGS, 1e-2, 100, 40},
      {DP_OPT_ADAM, 0.02, 3000, 1500},
      {DP_OPT_GD, 1e-3, 5000, 1700},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    Obj obj;
    obj_init(&obj, 2, lo, hi);
    dpOptOptions opt = dp_default_opt_options(cases[k].method);
    opt.lr = cases[k].lr;
    opt.max_iter = cases[k].max_iter;
    opt.tol = 0;  // f is flat along the bound: tol 1e-12 stops Adam at |z − z*| ≈ 1e-7
    dpOptimizer *o = make_opt(2, lo, hi, &opt);
    dpOptStop stop = run_to_stop(o, rosenbrock, &obj, k_rosen_z0);
    const char *name = dp_opt_method_name(cases[k].method);
    double e = max_abs_diff(2, dp_opt_z(o), zstar);
    ck_assert_msg(obj.outside == 0, "%s: %d evaluations outside the box", name, obj.outside);
    ck_assert_msg(stop == DP_STOP_GRAD_NORM, "%s: stop %s", name, dp_opt_stop_name(stop));
    ck_assert_msg(e <= 1e-9, "%s: |z - (0.5, 0.25)|inf = %.3e (stop %s at %d)", name, e,
                  dp_opt_stop_name(stop), dp_opt_iter(o));
    ck_assert_msg(fabs(dp_opt_f(o) - 0.25) <= 1e-12, "%s: f %.15g vs 0.25", name, dp_opt_f(o));
    ck_assert_msg(dp_opt_z(o)[0] == 0.5, "%s: z0 %.17g not on its bound", name, dp_opt_z(o)[0]);
    ck_assert_msg(dp_opt_iter(o) <= cases[k].budget, "%s: %d iterations", name, dp_opt_iter(o));
    dp_opt_free(o);
  }
}
END_TEST

// ------------------------------------------------------------------------------------------
// Ill-conditioned quadratic: f = ½ Σ λ_i (z_i − c_i)², λ_i = 1e6^(i/(n−1)).

static void ill_quadratic(Obj *obj, int n, int box) {
  double lo[MAXN], hi[MAXN];
  for (int i = 0; i < n; i++) {
    lo[i] = -INFINITY;
    hi[i] = INFINITY;
    if (box && i % 3 == 0) {  // cuts off c_0 = 1.68, c_3 = −1.51, c_6 = 1.31, c_9 = −1.09
      lo[i] = -0.5;
      hi[i] = 0.5;
    }
  }
  obj_init(obj, n, lo, hi);
  for (int i = 0; i < n; i++) {
    obj->lam[i] = pow(1e6, (double)i / (n - 1));
    obj->c[i] = 2 * sin(1.0 + i);
  }
}

// Relative distance to the clamped centre, the exact minimizer of a separable quadratic.
static double ill_error(const Obj *obj, const double *z) {
  double e = 0;
  for (int i = 0; i < obj->n; i++) {
    double ci = fmin(fmax(obj->c[i], obj->lo[i]), obj->hi[i]);
    e = fmax(e, fabs(z[i] - ci) / fabs(ci));
  }
  return e;
}

START_TEST(test_lbfgs_ill_conditioned) {
  // Unit steps are accepted almost always here, so L-BFGS does not terminate in n steps as it
  // would with exact line searches; with memory = n it is slow (SciPy's L-BFGS-B needs 671
  // iterations on the same problem), with memory 2n much faster. Measured iterations to
  // gtol = 1e-10: memory 10: 779 free, 87 boxed; memory 20: 116 free, 60 boxed.
  static const struct {
    int box, memory, budget;
  } cases[] = {{0, 20, 150}, {1, 20, 80}, {1, 10, 120}, {0, 10, 1000}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    Obj obj;
    ill_quadratic(&obj, 10, cases[k].box);
    dpOptOptions opt = dp_default_opt_options(DP_OPT_LBFGS);
    opt.memory = cases[k].memory;
    opt.max_iter = 5000;
    opt.tol = 0;
    dpOptimizer *o = make_opt(10, obj.lo, obj.hi, &opt);
    double z0[10] = {0};
    dpOptStop stop = run_to_stop(o, quadratic, &obj, z0);
    double e = ill_error(&obj, dp_opt_z(o));
    ck_assert_msg(stop == DP_STOP_GRAD_NORM, "case %zu: stop %s", k, dp_opt_stop_name(stop));
    ck_assert_msg(e <= 1e-8, "case %zu: relative error %.3e", k, e);
    ck_assert_msg(dp_opt_iter(o) <= cases[k].budget, "case %zu: %d iterations > %d", k,
                  dp_opt_iter(o), cases[k].budget);
    ck_assert_msg(obj.outside == 0, "case %zu: %d points outside", k, obj.outside);
    if (cases[k].box) {
      // Clipped components sit exactly on their bound.
      for (int i = 0; i < 10; i += 3) {
        double b = obj.c[i] < 0 ? -0.5 : 0.5;
        ck_assert_msg(dp_opt_z(o)[i] == b, "case %zu: z[%d] = %.17g, bound %g", k, i,
                      dp_opt_z(o)[i], b);
      }
    }
    dp_opt_free(o);
  }
}
END_TEST

// Gradient descent on ½ Σ λ_i z_i² with λ = (1, 4, 10) and lr 0.1 multiplies z_i by 1 − 0.1 λ_i
// each step (Bertsekas, Nonlinear Programming, 2nd ed., 1999, §1.3): by 0.9, 0.6 and 0, so z_0
// after k steps is 0.9^k z_0.
START_TEST(test_gd_linear_rate) {
  Obj obj;
  obj_init(&obj, 3, NULL, NULL);
  obj.lam[0] = 1;
  obj.lam[1] = 4;
  obj.lam[2] = 10;
  dpOptOptions opt = dp_default_opt_options(DP_OPT_GD);
  opt.lr = 0.1;
  opt.max_iter = 200;
  opt.tol = 0;
  opt.gtol = 0;
  dpOptimizer *o = make_opt(3, NULL, NULL, &opt);
  const double z0[3] = {1.0, -2.0, 3.0};
  dpError err = {0};
  ck_assert_int_eq(dp_opt_start(o, quadratic, &obj, z0, &err), DP_OK);
  double fprev = dp_opt_f(o);
  for (int k = 1; k <= 200; k++) {
    ck_assert_int_eq(dp_opt_iterate(o, quadratic, &obj, &err), DP_OK);
    const double *z = dp_opt_z(o);
    double want = pow(0.9, k);
    ck_assert_msg(tu_relerr(z[0], want, 1e-300) <= 1e-12, "k %d: z0 %.17g vs 0.9^k %.17g", k,
                  z[0], want);
    ck_assert_msg(fabs(z[1]) <= 2 * pow(0.6, k) * (1 + 1e-12), "k %d: z1 %.3e", k, z[1]);
    ck_assert_msg(z[2] == 0, "k %d: z2 %.3e", k, z[2]);
    if (k >= 60) {  // the slowest mode dominates: f shrinks by 0.81 per step
      double rate = dp_opt_f(o) / fprev;
      ck_assert_msg(fabs(rate - 0.81) <= 1e-9, "k %d: rate %.12f vs 0.81", k, rate);
    }
    fprev = dp_opt_f(o);
  }
  ck_assert_int_eq(dp_opt_stop(o), DP_STOP_MAX_ITER);
  dp_opt_free(o);
}
END_TEST

// ------------------------------------------------------------------------------------------
// Fixed variables, projection of z0, stop rules, best point.

START_TEST(test_fixed_variables) {
  // f = ½ Σ (z_i − c_i)² + 0.5 z_0 z_1 with z_1 fixed at 2: the gradient pushes z_1, which must
  // never move; the others reach their minimum given z_1 (z_0 = c_0 − 0.5·2 = −0.5).
  const double lo[3] = {-INFINITY, 2.0, -INFINITY}, hi[3] = {INFINITY, 2.0, INFINITY};
  for (int m = DP_OPT_GD; m <= DP_OPT_LBFGS; m++) {
    Obj obj;
    obj_init(&obj, 3, lo, hi);
    for (int i = 0; i < 3; i++) {
      obj.lam[i] = 1;
    }
    obj.c[0] = 0.5;
    obj.c[1] = -1;
    obj.c[2] = 3;
    obj.coupling = 0.5;
    dpOptOptions opt = dp_default_opt_options((dpOptMethod)m);
    opt.lr = m == DP_OPT_GD ? 0.5 : 0.05;
    opt.max_iter = 3000;
    opt.tol = 0;
    dpOptimizer *o = make_opt(3, lo, hi, &opt);
    const double z0[3] = {0, 7, 0};  // z_1 starts off its value: the projection puts it there
    run_to_stop(o, quadratic, &obj, z0);
    const char *name = dp_opt_method_name((dpOptMethod)m);
    ck_assert_msg(obj.outside == 0, "%s: z_1 moved in %d evaluations", name, obj.outside);
    ck_assert_msg(dp_opt_z(o)[1] == 2.0, "%s: z_1 = %.17g", name, dp_opt_z(o)[1]);
    ck_assert_msg(fabs(dp_opt_z(o)[0] + 0.5) <= 1e-6, "%s: z_0 %.12f vs -0.5", name,
                  dp_opt_z(o)[0]);
    ck_assert_msg(fabs(dp_opt_z(o)[2] - 3) <= 1e-6, "%s: z_2 %.12f vs 3", name, dp_opt_z(o)[2]);
    dp_opt_free(o);
  }
}
END_TEST

START_TEST(test_start_projects) {
  const double lo[2] = {-1, 0}, hi[2] = {1, 0.5};
  Obj obj;
  obj_init(&obj, 2, lo, hi);
  dpOptOptions opt = dp_default_opt_options(DP_OPT_LBFGS);
  dpOptimizer *o = make_opt(2, lo, hi, &opt);
  dpError err = {0};
  const double z0[2] = {-5, 0.25};
  ck_assert_int_eq(dp_opt_start(o, rosenbrock, &obj, z0, &err), DP_OK);
  ck_assert(dp_opt_z(o)[0] == -1 && dp_opt_z(o)[1] == 0.25);
  ck_assert_int_eq(obj.outside, 0);
  ck_assert_int_eq(dp_opt_iter(o), 0);
  ck_assert_int_eq(dp_opt_evals(o), 1);
  // f and g at (−1, 0.25): a = 2, b = −0.75.
  ck_assert_msg(fabs(dp_opt_f(o) - (4 + 100 * 0.5625)) <= 1e-12, "f %.15g", dp_opt_f(o));
  ck_assert_msg(fabs(dp_opt_g(o)[0] - (-4 - 300)) <= 1e-12, "g0 %.15g", dp_opt_g(o)[0]);
  ck_assert_msg(fabs(dp_opt_g(o)[1] + 150) <= 1e-12, "g1 %.15g", dp_opt_g(o)[1]);
  // Projected gradient z − P(z − g): z0 − g0 = 303 is cut at the upper bound 1, so pg0 = −2;
  // z1 − g1 = 150.25 is cut at 0.5, so pg1 = −0.25.
  ck_assert_msg(fabs(dp_opt_pgnorm(o) - 2) <= 1e-15, "pgnorm %.17g vs 2", dp_opt_pgnorm(o));
  dp_opt_free(o);
}
END_TEST

START_TEST(test_stop_max_iter_and_priority) {
  Obj obj;
  obj_init(&obj, 2, NULL, NULL);
  dpOptOptions opt = dp_default_opt_options(DP_OPT_LBFGS);
  opt.max_iter = 7;
  dpOptimizer *o = make_opt(2, NULL, NULL, &opt);
  ck_assert_int_eq(dp_opt_stop(o), DP_STOP_NONE);  // not started
  ck_assert_int_eq(run_to_stop(o, rosenbrock, &obj, k_rosen_z0), DP_STOP_MAX_ITER);
  ck_assert_int_eq(dp_opt_iter(o), 7);
  dp_opt_free(o);

  // At the minimum with max_iter 0: grad_norm and max_iter both hold; grad_norm wins.
  opt.max_iter = 0;
  o = make_opt(2, NULL, NULL, &opt);
  const double one[2] = {1, 1};
  ck_assert_int_eq(run_to_stop(o, rosenbrock, &obj, one), DP_STOP_GRAD_NORM);
  ck_assert_int_eq(dp_opt_iter(o), 0);
  ck_assert(dp_opt_pgnorm(o) == 0);
  dp_opt_free(o);
  // Elsewhere, max_iter 0 stops right after start.
  o = make_opt(2, NULL, NULL, &opt);
  ck_assert_int_eq(run_to_stop(o, rosenbrock, &obj, k_rosen_z0), DP_STOP_MAX_ITER);
  dp_opt_free(o);
}
END_TEST

START_TEST(test_stop_grad_norm) {
  for (int m = DP_OPT_GD; m <= DP_OPT_LBFGS; m++) {
    Obj obj;
    obj_init(&obj, 2, NULL, NULL);
    obj.lam[0] = 1;
    obj.lam[1] = 3;
    obj.c[0] = 1;
    obj.c[1] = -2;
    dpOptOptions opt = dp_default_opt_options((dpOptMethod)m);
    opt.gtol = 1e-6;
    opt.tol = 0;
    opt.lr = 0.1;
    opt.max_iter = 100000;
    dpOptimizer *o = make_opt(2, NULL, NULL, &opt);
    const double z0[2] = {3, 3};
    const char *name = dp_opt_method_name((dpOptMethod)m);
    ck_assert_msg(run_to_stop(o, quadratic, &obj, z0) == DP_STOP_GRAD_NORM, "%s", name);
    const double *g = dp_opt_g(o);
    double gn = fmax(fabs(g[0]), fabs(g[1]));  // unbounded: pg = g
    ck_assert_msg(gn <= 1e-6 && gn == dp_opt_pgnorm(o), "%s: |g| %.3e, pgnorm %.3e", name, gn,
                  dp_opt_pgnorm(o));
    dp_opt_free(o);
  }
}
END_TEST

START_TEST(test_stop_rel_change) {
  // GD on 1 + z⁴ from z = 1 with lr 0.1: the relative change of f falls below 1e-8 first at
  // some iteration k; the rule must hold there and not before.
  Obj obj;
  obj_init(&obj, 1, NULL, NULL);
  dpOptOptions opt = dp_default_opt_options(DP_OPT_GD);
  opt.lr = 0.1;
  opt.tol = 1e-8;
  opt.gtol = 0;
  opt.max_iter = 100000;
  dpOptimizer *o = make_opt(1, NULL, NULL, &opt);
  dpError err = {0};
  const double z0[1] = {1};
  ck_assert_int_eq(dp_opt_start(o, quartic, &obj, z0, &err), DP_OK);
  double fprev = dp_opt_f(o);
  while (dp_opt_stop(o) == DP_STOP_NONE) {
    ck_assert_int_eq(dp_opt_iterate(o, quartic, &obj, &err), DP_OK);
    double f = dp_opt_f(o);
    int holds = fabs(f - fprev) <= opt.tol * fmax(fabs(f), fabs(fprev));
    ck_assert_msg(holds == (dp_opt_stop(o) == DP_STOP_REL_CHANGE),
                  "iteration %d: f %.17g, previous %.17g, stop %s", dp_opt_iter(o), f, fprev,
                  dp_opt_stop_name(dp_opt_stop(o)));
    fprev = f;
  }
  ck_assert_int_eq(dp_opt_stop(o), DP_STOP_REL_CHANGE);
  ck_assert_int_gt(dp_opt_iter(o), 100);
  dp_opt_free(o);

  // GD on ½ z² with lr slightly above 2 flips z and grows f by (1 + 1e-7)² per step: the
  // relative change is below tol but f rises, so the run goes on to max_iter.
  obj_init(&obj, 1, NULL, NULL);
  obj.lam[0] = 1;
  opt.lr = 2 + 1e-7;
  opt.tol = 1e-6;
  opt.max_iter = 20;
  o = make_opt(1, NULL, NULL, &opt);
  ck_assert_int_eq(run_to_stop(o, quadratic, &obj, z0), DP_STOP_MAX_ITER);
  ck_assert_msg(dp_opt_f(o) > 0.5, "f %.17g", dp_opt_f(o));
  dp_opt_free(o);
}
END_TEST

START_TEST(test_best_point) {
  // Adam with a large step on Rosenbrock overshoots: f rises at some iterations, and the best
  // point must be the lowest evaluated one, not the last.
  Obj obj;
  obj_init(&obj, 2, NULL, NULL);
  dpOptOptions opt = dp_default_opt_options(DP_OPT_ADAM);
  opt.lr = 0.3;
  opt.max_iter = 300;
  opt.tol = 0;
  opt.gtol = 0;
  dpOptimizer *o = make_opt(2, NULL, NULL, &opt);
  dpError err = {0};
  ck_assert_int_eq(dp_opt_start(o, rosenbrock, &obj, k_rosen_z0, &err), DP_OK);
  int rises = 0;
  double fprev = dp_opt_f(o);
  while (dp_opt_stop(o) == DP_STOP_NONE) {
    ck_assert_int_eq(dp_opt_iterate(o, rosenbrock, &obj, &err), DP_OK);
    if (dp_opt_f(o) > fprev) {
      rises++;
      ck_assert_msg(dp_opt_best_f(o) < dp_opt_f(o), "iteration %d: best %.17g, f %.17g",
                    dp_opt_iter(o), dp_opt_best_f(o), dp_opt_f(o));
    }
    fprev = dp_opt_f(o);
    ck_assert(dp_opt_best_f(o) <= dp_opt_f(o));
    ck_assert_msg(dp_opt_best_f(o) == obj.min_f, "best %.17g vs lowest seen %.17g",
                  dp_opt_best_f(o), obj.min_f);
    ck_assert(max_abs_diff(2, dp_opt_best_z(o), obj.min_z) == 0);
  }
  ck_assert_msg(rises > 10, "f rose %d times: the test hardly exercises best tracking", rises);
  dp_opt_free(o);
}
END_TEST

// ------------------------------------------------------------------------------------------
// Failures: the objective's errors, NaN trial points, line-search failure, invalid input.

START_TEST(test_error_propagates) {
  for (int m = DP_OPT_GD; m <= DP_OPT_LBFGS; m++) {
    Obj obj;
    obj_init(&obj, 2, NULL, NULL);
    obj.error_at = 4;
    dpOptOptions opt = dp_default_opt_options((dpOptMethod)m);
    dpOptimizer *o = make_opt(2, NULL, NULL, &opt);
    dpError err = {0};
    ck_assert_int_eq(dp_opt_start(o, rosenbrock, &obj, k_rosen_z0, &err), DP_OK);
    dpStatus st = DP_OK;
    double zbefore[2] = {0}, fbefore = 0;
    while (st == DP_OK && obj.calls < 10) {
      memcpy(zbefore, dp_opt_z(o), sizeof zbefore);
      fbefore = dp_opt_f(o);
      st = dp_opt_iterate(o, rosenbrock, &obj, &err);
    }
    const char *name = dp_opt_method_name((dpOptMethod)m);
    ck_assert_msg(st == DP_ERR_DIVERGED, "%s: status %d", name, st);
    ck_assert_str_eq(err.message, "injected failure at call 4");
    ck_assert_int_eq(dp_opt_evals(o), 4);
    // The failed evaluation leaves the current point as it was.
    ck_assert_msg(max_abs_diff(2, dp_opt_z(o), zbefore) == 0 && dp_opt_f(o) == fbefore,
                  "%s: the point moved", name);
    dp_opt_free(o);
  }
  // An error at the start is returned too.
  Obj obj;
  obj_init(&obj, 2, NULL, NULL);
  obj.error_at = 1;
  dpOptOptions opt = dp_default_opt_options(DP_OPT_LBFGS);
  dpOptimizer *o = make_opt(2, NULL, NULL, &opt);
  dpError err = {0};
  ck_assert_int_eq(dp_opt_start(o, rosenbrock, &obj, k_rosen_z0, &err), DP_ERR_DIVERGED);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_opt_iterate(o, rosenbrock, &obj, &err), DP_ERR_INVALID);
  dp_opt_free(o);
}
END_TEST

START_TEST(test_lbfgs_nan_backtracks) {
  // f = (z − 1)² from z = 0: the first trial (α0 = 1/|g| = 0.5, z = 1) returns NaN; the search
  // halves α and accepts z = 0.5. Then a NaN gradient at the next first trial also backtracks.
  for (int which = 0; which < 2; which++) {
    Obj obj;
    obj_init(&obj, 1, NULL, NULL);
    obj.lam[0] = 2;
    obj.c[0] = 1;
    if (which == 0) {
      obj.nan_f_at = 2;
    } else {
      obj.nan_g_at = 2;
    }
    dpOptOptions opt = dp_default_opt_options(DP_OPT_LBFGS);
    dpOptimizer *o = make_opt(1, NULL, NULL, &opt);
    dpError err = {0};
    const double z0[1] = {0};
    ck_assert_int_eq(dp_opt_start(o, quadratic, &obj, z0, &err), DP_OK);
    ck_assert_int_eq(dp_opt_iterate(o, quadratic, &obj, &err), DP_OK);
    ck_assert_int_eq(dp_opt_evals(o), 3);
    ck_assert_int_eq(dp_opt_iter(o), 1);
    ck_assert_msg(dp_opt_z(o)[0] == 0.5, "z %.17g", dp_opt_z(o)[0]);
    ck_assert_msg(dp_opt_f(o) == 0.25, "f %.17g", dp_opt_f(o));
    ck_assert_int_eq(dp_opt_stop(o), DP_STOP_NONE);
    ck_assert_int_eq(run_to_stop(o, quadratic, &obj, dp_opt_z(o)), DP_STOP_GRAD_NORM);
    ck_assert_msg(fabs(dp_opt_z(o)[0] - 1) <= 1e-10, "z %.17g", dp_opt_z(o)[0]);
    dp_opt_free(o);
  }
}
END_TEST

START_TEST(test_lbfgs_line_search_failure) {
  Obj obj;
  obj_init(&obj, 1, NULL, NULL);
  dpOptOptions opt = dp_default_opt_options(DP_OPT_LBFGS);
  dpOptimizer *o = make_opt(1, NULL, NULL, &opt);
  const double z0[1] = {1};
  ck_assert_int_eq(run_to_stop(o, wrong_gradient, &obj, z0), DP_STOP_LINE_SEARCH);
  ck_assert_int_eq(dp_opt_iter(o), 0);
  ck_assert(dp_opt_z(o)[0] == 1 && dp_opt_f(o) == 1 && dp_opt_best_f(o) == 1);
  ck_assert_int_gt(dp_opt_evals(o), 10);
  ck_assert_int_le(dp_opt_evals(o), 31);
  ck_assert_str_eq(dp_opt_stop_name(dp_opt_stop(o)), "line_search");
  dp_opt_free(o);
}
END_TEST

START_TEST(test_gd_nan_is_an_error) {
  // GD and Adam cannot backtrack: a NaN at their new point is DP_ERR_DIVERGED, the point stays.
  for (int m = DP_OPT_GD; m <= DP_OPT_ADAM; m++) {
    Obj obj;
    obj_init(&obj, 2, NULL, NULL);
    obj.nan_f_at = 3;
    dpOptOptions opt = dp_default_opt_options((dpOptMethod)m);
    dpOptimizer *o = make_opt(2, NULL, NULL, &opt);
    dpError err = {0};
    ck_assert_int_eq(dp_opt_start(o, rosenbrock, &obj, k_rosen_z0, &err), DP_OK);
    ck_assert_int_eq(dp_opt_iterate(o, rosenbrock, &obj, &err), DP_OK);
    double z1[2];
    memcpy(z1, dp_opt_z(o), sizeof z1);
    ck_assert_int_eq(dp_opt_iterate(o, rosenbrock, &obj, &err), DP_ERR_DIVERGED);
    ck_assert_msg(strstr(err.message, "not finite") != NULL, "message '%s'", err.message);
    ck_assert(max_abs_diff(2, dp_opt_z(o), z1) == 0);
    ck_assert_int_eq(dp_opt_iter(o), 1);
    dp_opt_free(o);
  }
}
END_TEST

// dp_opt_new's status, its message in msg (512); a failure must leave *out NULL.
static dpStatus new_status(int n, const double *lo, const double *hi, const dpOptOptions *opt,
                           char *msg) {
  dpError err = {0};
  dpOptimizer *o = (dpOptimizer *)&err;  // any non-NULL value: must come back NULL on failure
  dpStatus st = dp_opt_new(n, lo, hi, opt, &o, &err);
  snprintf(msg, 512, "%s", err.message);
  if (st != DP_OK) {
    ck_assert_ptr_null(o);
  }
  dp_opt_free(st == DP_OK ? o : NULL);
  return st;
}

START_TEST(test_invalid_options) {
  char msg[512];
  const double lo[3] = {0, -1, 3}, hi[3] = {1, 1, 1};
  dpOptOptions ok = dp_default_opt_options(DP_OPT_LBFGS);
  ck_assert_int_eq(new_status(3, lo, hi, &ok, msg), DP_ERR_INVALID);
  ck_assert_str_eq(msg, "lower bound 3 > upper bound 1 for variable 2");
  ck_assert_int_eq(new_status(0, NULL, NULL, &ok, msg), DP_ERR_INVALID);
  ck_assert_int_eq(new_status(2, NULL, NULL, NULL, msg), DP_ERR_INVALID);
  const double nanlo[1] = {NAN}, inflo[1] = {INFINITY}, infhi[1] = {INFINITY};
  ck_assert_int_eq(new_status(1, nanlo, NULL, &ok, msg), DP_ERR_INVALID);
  ck_assert_int_eq(new_status(1, inflo, infhi, &ok, msg), DP_ERR_INVALID);

  struct {
    const char *field;
    dpOptOptions opt;
  } bad[10];
  int nb = 0;
  for (int i = 0; i < 10; i++) {
    bad[i].opt = dp_default_opt_options(DP_OPT_ADAM);
  }
  bad[nb].field = "lr 0";
  bad[nb++].opt.lr = 0;
  bad[nb].field = "lr -1";
  bad[nb++].opt.lr = -1;
  bad[nb].field = "max_iter -1";
  bad[nb++].opt.max_iter = -1;
  bad[nb].field = "memory 0";
  bad[nb++].opt.memory = 0;
  bad[nb].field = "tol -1";
  bad[nb++].opt.tol = -1;
  bad[nb].field = "gtol nan";
  bad[nb++].opt.gtol = NAN;
  bad[nb].field = "beta1 1";
  bad[nb++].opt.beta1 = 1;
  bad[nb].field = "beta2 -0.1";
  bad[nb++].opt.beta2 = -0.1;
  bad[nb].field = "eps 0";
  bad[nb++].opt.eps = 0;
  bad[nb].field = "method 7";
  bad[nb++].opt.method = (dpOptMethod)7;
  for (int i = 0; i < nb; i++) {
    ck_assert_msg(new_status(2, NULL, NULL, &bad[i].opt, msg) == DP_ERR_INVALID, "%s accepted",
                  bad[i].field);
    ck_assert_msg(msg[0] != '\0', "%s: no message", bad[i].field);
  }
  // Unbounded (NULL bounds), equal bounds and max_iter 0 are fine.
  const double fix[2] = {1, 1};
  ok.max_iter = 0;
  ck_assert_int_eq(new_status(2, NULL, NULL, &ok, msg), DP_OK);
  ck_assert_int_eq(new_status(2, fix, fix, &ok, msg), DP_OK);

  // A non-finite z0 is refused by start, and iterate before a start is an error.
  dpOptimizer *o = make_opt(2, NULL, NULL, &ok);
  Obj obj;
  obj_init(&obj, 2, NULL, NULL);
  dpError err = {0};
  ck_assert_int_eq(dp_opt_iterate(o, rosenbrock, &obj, &err), DP_ERR_INVALID);
  dp_error_clear(&err);
  const double zbad[2] = {0, NAN};
  ck_assert_int_eq(dp_opt_start(o, rosenbrock, &obj, zbad, &err), DP_ERR_INVALID);
  ck_assert_int_eq(obj.calls, 0);
  // A NaN objective at the start point is DP_ERR_DIVERGED.
  dp_error_clear(&err);
  obj.nan_f_at = 1;
  ck_assert_int_eq(dp_opt_start(o, rosenbrock, &obj, k_rosen_z0, &err), DP_ERR_DIVERGED);
  dp_opt_free(o);
}
END_TEST

START_TEST(test_names_and_defaults) {
  ck_assert_str_eq(dp_opt_method_name(DP_OPT_GD), "gd");
  ck_assert_str_eq(dp_opt_method_name(DP_OPT_ADAM), "adam");
  ck_assert_str_eq(dp_opt_method_name(DP_OPT_LBFGS), "lbfgs");
  ck_assert_str_eq(dp_opt_stop_name(DP_STOP_NONE), "none");
  ck_assert_str_eq(dp_opt_stop_name(DP_STOP_MAX_ITER), "max_iter");
  ck_assert_str_eq(dp_opt_stop_name(DP_STOP_GRAD_NORM), "grad_norm");
  ck_assert_str_eq(dp_opt_stop_name(DP_STOP_REL_CHANGE), "rel_change");
  ck_assert_str_eq(dp_opt_stop_name(DP_STOP_LINE_SEARCH), "line_search");
  ck_assert_str_eq(dp_opt_stop_name(DP_STOP_INTERRUPTED), "interrupted");
  dpOptOptions o = dp_default_opt_options(DP_OPT_ADAM);
  ck_assert_int_eq(o.method, DP_OPT_ADAM);
  ck_assert(o.lr == 1e-2 && o.max_iter == 100 && o.tol == 1e-12 && o.gtol == 1e-10);
  ck_assert(o.memory == 10 && o.beta1 == 0.9 && o.beta2 == 0.999 && o.eps == 1e-8);
}
END_TEST

START_TEST(test_allocation_failure) {
  // Every allocation of dp_opt_new fails cleanly (NOMEM, nothing live); start and iterate
  // allocate nothing.
  const double lo[2] = {-2, -2}, hi[2] = {0.5, 2};
  for (int m = DP_OPT_GD; m <= DP_OPT_LBFGS; m++) {
    dpOptOptions opt = dp_default_opt_options((dpOptMethod)m);
    tu_fail_alloc f = {0, -1, 0};
    dp_set_allocator(tu_failing_alloc, &f);
    dpOptimizer *o = NULL;
    dpError err = {0};
    ck_assert_int_eq(dp_opt_new(2, lo, hi, &opt, &o, &err), DP_OK);
    long total = f.count;
    Obj obj;
    obj_init(&obj, 2, lo, hi);
    ck_assert_int_eq(dp_opt_start(o, rosenbrock, &obj, k_rosen_z0, &err), DP_OK);
    for (int k = 0; k < 20; k++) {
      ck_assert_int_eq(dp_opt_iterate(o, rosenbrock, &obj, &err), DP_OK);
    }
    ck_assert_msg(f.count == total, "%s: start/iterate allocated %ld blocks",
                  dp_opt_method_name((dpOptMethod)m), f.count - total);
    dp_opt_free(o);
    ck_assert_int_eq(f.live, 0);
    ck_assert_int_ge(total, 5);
    for (long n = 1; n <= total; n++) {
      f.count = 0;
      f.fail_at = n;
      dp_error_clear(&err);
      o = (dpOptimizer *)&f;
      dpStatus st = dp_opt_new(2, lo, hi, &opt, &o, &err);
      ck_assert_msg(st == DP_ERR_NOMEM, "%s: allocation %ld of %ld gave status %d",
                    dp_opt_method_name((dpOptMethod)m), n, total, st);
      ck_assert_ptr_null(o);
      ck_assert_str_eq(err.message, "out of memory");
      ck_assert_int_eq(f.live, 0);
    }
    dp_set_allocator(NULL, NULL);
  }
}
END_TEST

Suite *make_opt_suite(void) {
  Suite *s = suite_create("opt");
  TCase *tc = tcase_create("opt");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_lbfgs_rosenbrock);
  tcase_add_test(tc, test_adam_rosenbrock);
  tcase_add_test(tc, test_rosenbrock_box);
  tcase_add_test(tc, test_lbfgs_ill_conditioned);
  tcase_add_test(tc, test_gd_linear_rate);
  tcase_add_test(tc, test_fixed_variables);
  tcase_add_test(tc, test_start_projects);
  tcase_add_test(tc, test_stop_max_iter_and_priority);
  tcase_add_test(tc, test_stop_grad_norm);
  tcase_add_test(tc, test_stop_rel_change);
  tcase_add_test(tc, test_best_point);
  tcase_add_test(tc, test_error_propagates);
  tcase_add_test(tc, test_lbfgs_nan_backtracks);
  tcase_add_test(tc, test_lbfgs_line_search_failure);
  tcase_add_test(tc, test_gd_nan_is_an_error);
  tcase_add_test(tc, test_invalid_options);
  tcase_add_test(tc, test_names_and_defaults);
  tcase_add_test(tc, test_allocation_failure);
  suite_add_tcase(s, tc);
  return s;
}
