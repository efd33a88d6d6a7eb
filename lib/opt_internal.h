// The optimizer state shared by opt_optimizer.c (options, projection, stop rules, accessors),
// opt_adam.c (projected gradient descent and Adam) and opt_lbfgs.c (projected L-BFGS).
// Every array is allocated once in dp_opt_new; start and iterate never allocate.
#ifndef DP_OPT_INTERNAL_H
#define DP_OPT_INTERNAL_H

#include "dp/dp.h"

struct dpOptimizer {
  int n;
  dpOptOptions opt;
  double *lower, *upper;  // box (n each), ±INFINITY for none
  int started;            // dp_opt_start succeeded
  int iter, evals;
  double *z, *g;          // current point and its gradient (n each)
  double f;
  double fprev;           // f at the previous iterate (valid when iter >= 1)
  double pgnorm;          // ‖z − P(z − g)‖∞ at the current point
  int ls_failed;          // L-BFGS: the last iterate's line search found no decrease
  double *best_z;         // lowest accepted point (n) and its f
  double best_f;
  double *zt, *gt;        // trial point and its gradient (n each)
  double *d;              // L-BFGS search direction (n)
  double *m, *v;          // Adam: first and second moment estimates (n each)
  double *s, *y;          // L-BFGS: memory pairs, memory × n each, ring buffer
  double *rho;            // L-BFGS: 1 / sᵀy per pair (memory)
  double *alpha;          // L-BFGS: two-loop coefficients (memory)
  int head, npairs;       // L-BFGS: slot of the newest pair, pairs held
};

// P(z): clamp each component into [lower, upper] (in place).
void dp_opt_project(const dpOptimizer *o, double *z);
// ‖z − P(z − g)‖∞, the first-order stationarity measure of the box-constrained problem.
double dp_opt_proj_grad_norm(const dpOptimizer *o, const double *z, const double *g);
// Call fn at z (into *f, g), counting the evaluation.
dpStatus dp_opt_eval(dpOptimizer *o, dpOptFn fn, void *ud, const double *z, double *f, double *g,
                     dpError *err);
// 1 when f and every component of g are finite.
int dp_opt_finite(const dpOptimizer *o, double f, const double *g);
// Make the trial point (zt, f, gt) the current one: iteration count, previous f, projected
// gradient norm and best point follow.
void dp_opt_accept(dpOptimizer *o, double f);

// One projected gradient descent or Adam iteration (opt_adam.c).
dpStatus dp_opt_gd_iterate(dpOptimizer *o, dpOptFn fn, void *ud, dpError *err);
dpStatus dp_opt_adam_iterate(dpOptimizer *o, dpOptFn fn, void *ud, dpError *err);
// One projected L-BFGS iteration (opt_lbfgs.c).
dpStatus dp_opt_lbfgs_iterate(dpOptimizer *o, dpOptFn fn, void *ud, dpError *err);

#endif
