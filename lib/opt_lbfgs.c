// Bound-constrained L-BFGS as a projected quasi-Newton method: variables held at a bound by their
// gradient are fixed, the two-loop recursion (Nocedal & Wright, Numerical Optimization, 2nd ed.,
// 2006, Alg. 7.4) gives the step on the others, and a backtracking Armijo search runs along the
// projected path P(z + αd) (Bertsekas, "Projected Newton methods for optimization problems
// with simple constraints", SIAM J. Control Optim. 20(2), 1982).
#include <math.h>
#include <string.h>

#include "opt_internal.h"

enum { LS_MAX_TRIALS = 30 };
static const double k_armijo_c1 = 1e-4;
// A pair (s, y) enters the memory only when sᵀy > k_curv ‖s‖‖y‖: the curvature condition with a
// margin that keeps H positive definite and well-conditioned, and that does not depend on the
// scale of f or of z.
static const double k_curv = 1e-10;

// z_i counts as at a finite bound when within a relative 1e-12 of it (the projection puts it
// there exactly; the tolerance covers a caller's z0 a rounding away).
static int near(double z, double b) {
  return isfinite(b) && fabs(z - b) <= 1e-12 * fmax(1.0, fabs(b));
}

// Variable i is held fixed this iteration: a fixed variable, or one at a bound with the gradient
// pushing it outwards (Bertsekas 1982, the active set with ε → 0).
static int is_active(const dpOptimizer *o, int i) {
  if (o->lower[i] == o->upper[i]) {
    return 1;
  }
  return (near(o->z[i], o->lower[i]) && o->g[i] > 0) ||
         (near(o->z[i], o->upper[i]) && o->g[i] < 0);
}

static double dot(int n, const double *a, const double *b) {
  double s = 0;
  for (int i = 0; i < n; i++) {
    s += a[i] * b[i];
  }
  return s;
}

// d = −H ĝ with d_A = 0, where ĝ is g with the active components zeroed and H the L-BFGS
// inverse Hessian of the memory with H0 = γI, γ = sᵀy / yᵀy of the newest pair (Nocedal & Wright
// Alg. 7.4, eq. 7.20). With no pairs, d = −ĝ. H is positive definite, so gᵀd = −ĝᵀHĝ < 0 unless
// ĝ = 0 (up to rounding, which the caller checks). Returns gᵀd.
static double direction(dpOptimizer *o) {
  int n = o->n, mem = o->opt.memory;
  double *q = o->d;
  for (int i = 0; i < n; i++) {
    q[i] = is_active(o, i) ? 0.0 : o->g[i];
  }
  if (o->npairs > 0) {
    for (int j = 0; j < o->npairs; j++) {  // newest to oldest
      int k = (o->head - j + mem) % mem;
      const double *s = o->s + (size_t)k * (size_t)n, *y = o->y + (size_t)k * (size_t)n;
      o->alpha[k] = o->rho[k] * dot(n, s, q);
      for (int i = 0; i < n; i++) {
        q[i] -= o->alpha[k] * y[i];
      }
    }
    const double *yh = o->y + (size_t)o->head * (size_t)n;
    double gamma = 1.0 / (o->rho[o->head] * dot(n, yh, yh));
    for (int i = 0; i < n; i++) {
      q[i] *= gamma;
    }
    for (int j = o->npairs - 1; j >= 0; j--) {  // oldest to newest
      int k = (o->head - j + mem) % mem;
      const double *s = o->s + (size_t)k * (size_t)n, *y = o->y + (size_t)k * (size_t)n;
      double beta = o->rho[k] * dot(n, y, q);
      for (int i = 0; i < n; i++) {
        q[i] += (o->alpha[k] - beta) * s[i];
      }
    }
  }
  double gd = 0;
  for (int i = 0; i < n; i++) {
    q[i] = is_active(o, i) ? 0.0 : -q[i];
    gd += o->g[i] * q[i];
  }
  return gd;
}

// Steepest descent on the free variables: memory dropped, d = −ĝ. Returns the first trial step
// min(1, 1/‖ĝ‖∞), so the first trial moves no variable by more than 1 (or 0 when ĝ = 0).
static double steepest(dpOptimizer *o) {
  o->npairs = 0;
  direction(o);
  double dmax = 0;
  for (int i = 0; i < o->n; i++) {
    dmax = fmax(dmax, fabs(o->d[i]));
  }
  return dmax > 0 ? fmin(1.0, 1.0 / dmax) : 0.0;
}

// Backtracking along z(α) = P(z + αd) from α0: accept the first α with a finite f, g and
// f(z(α)) ≤ f(z) + c1 gᵀ(z(α) − z). A failed trial shrinks α by the minimizer of the quadratic
// through f(z), the secant slope and f(z(α)), kept within [α/10, α/2] (Nocedal & Wright §3.5);
// a non-finite f halves α. *found says whether a point was accepted (then in zt, gt, *ft).
static dpStatus line_search(dpOptimizer *o, dpOptFn fn, void *ud, double alpha, int *found,
                            double *ft, dpError *err) {
  int n = o->n;
  *found = 0;
  for (int trial = 0; trial < LS_MAX_TRIALS; trial++) {
    double slope = 0;
    int moved = 0;
    for (int i = 0; i < n; i++) {
      double zi = o->z[i] + alpha * o->d[i];
      zi = zi < o->lower[i] ? o->lower[i] : (zi > o->upper[i] ? o->upper[i] : zi);
      o->zt[i] = zi;
      slope += o->g[i] * (zi - o->z[i]);
      moved |= zi != o->z[i];
    }
    if (!moved) {
      return DP_OK;  // the step fell below the resolution of z: no smaller α helps
    }
    if (!(slope < 0)) {
      alpha *= 0.5;  // rounding made the projected step ascend; shorter steps descend
      continue;
    }
    double f;
    dpStatus st = dp_opt_eval(o, fn, ud, o->zt, &f, o->gt, err);
    if (st != DP_OK) {
      return st;
    }
    int finite = dp_opt_finite(o, f, o->gt);
    if (finite && f <= o->f + k_armijo_c1 * slope) {
      *found = 1;
      *ft = f;
      return DP_OK;
    }
    if (isfinite(f)) {
      // φ(a) ≈ f + (slope/α) a + c a² through φ(α) = f(z(α)); Armijo failed, so c > 0.
      double a = -slope * alpha / (2 * (f - o->f - slope));
      alpha = fmin(fmax(a, 0.1 * alpha), 0.5 * alpha);
    } else {
      alpha *= 0.5;
    }
  }
  return DP_OK;
}

// Store s = zt − z, y = gt − g as the newest pair when it passes the curvature test.
static void update_memory(dpOptimizer *o) {
  int n = o->n, mem = o->opt.memory;
  double sy = 0, ss = 0, yy = 0;
  for (int i = 0; i < n; i++) {
    double si = o->zt[i] - o->z[i], yi = o->gt[i] - o->g[i];
    sy += si * yi;
    ss += si * si;
    yy += yi * yi;
  }
  if (!(sy > k_curv * sqrt(ss) * sqrt(yy)) || !isfinite(sy)) {
    return;
  }
  int k = (o->head + 1) % mem;
  double *s = o->s + (size_t)k * (size_t)n, *y = o->y + (size_t)k * (size_t)n;
  for (int i = 0; i < n; i++) {
    s[i] = o->zt[i] - o->z[i];
    y[i] = o->gt[i] - o->g[i];
  }
  o->rho[k] = 1.0 / sy;
  o->head = k;
  if (o->npairs < mem) {
    o->npairs++;
  }
}

dpStatus dp_opt_lbfgs_iterate(dpOptimizer *o, dpOptFn fn, void *ud, dpError *err) {
  size_t bytes = (size_t)o->n * sizeof(double);
  double alpha0;
  int quasi_newton = o->npairs > 0;
  if (quasi_newton) {
    double gd = direction(o);
    alpha0 = 1.0;
    if (!(gd < 0)) {
      quasi_newton = 0;
      alpha0 = steepest(o);
    }
  } else {
    alpha0 = steepest(o);
  }
  if (alpha0 == 0) {
    // ĝ = 0: every free component of g vanishes and every other is held by its bound, so z is
    // a stationary point. The iteration stays there without evaluating.
    memcpy(o->zt, o->z, bytes);
    memcpy(o->gt, o->g, bytes);
    dp_opt_accept(o, o->f);
    return DP_OK;
  }
  int found = 0;
  double ft = NAN;
  dpStatus st = line_search(o, fn, ud, alpha0, &found, &ft, err);
  if (st == DP_OK && !found && quasi_newton) {
    alpha0 = steepest(o);
    st = line_search(o, fn, ud, alpha0, &found, &ft, err);
  }
  if (st != DP_OK) {
    return st;
  }
  if (!found) {
    o->ls_failed = 1;
    return DP_OK;
  }
  update_memory(o);
  dp_opt_accept(o, ft);
  return DP_OK;
}
