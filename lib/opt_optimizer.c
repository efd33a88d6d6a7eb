// The optimizer shell: options and their checks, the box projection P and the stationarity
// measure ‖z − P(z − g)‖∞ (Bertsekas, SIAM J. Control Optim. 20(2), 1982), stop rules,
// accessors and the dispatch to the methods in opt_adam.c and opt_lbfgs.c.
#include <math.h>
#include <string.h>

#include "opt_internal.h"

dpOptOptions dp_default_opt_options(dpOptMethod method) {
  dpOptOptions o;
  memset(&o, 0, sizeof o);
  o.method = method;
  o.lr = 1e-2;
  o.max_iter = 100;
  o.tol = 1e-12;
  o.gtol = 1e-10;
  o.memory = 10;
  o.beta1 = 0.9;
  o.beta2 = 0.999;
  o.eps = 1e-8;
  return o;
}

const char *dp_opt_method_name(dpOptMethod method) {
  switch (method) {
    case DP_OPT_GD: return "gd";
    case DP_OPT_ADAM: return "adam";
    case DP_OPT_LBFGS: return "lbfgs";
  }
  return "unknown";
}

const char *dp_opt_stop_name(dpOptStop stop) {
  switch (stop) {
    case DP_STOP_NONE: return "none";
    case DP_STOP_MAX_ITER: return "max_iter";
    case DP_STOP_GRAD_NORM: return "grad_norm";
    case DP_STOP_REL_CHANGE: return "rel_change";
    case DP_STOP_LINE_SEARCH: return "line_search";
    case DP_STOP_INTERRUPTED: return "interrupted";
  }
  return "unknown";
}

static dpStatus check_options(const dpOptOptions *opt, dpError *err) {
  if (opt->method != DP_OPT_GD && opt->method != DP_OPT_ADAM && opt->method != DP_OPT_LBFGS) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "unknown optimizer method %d",
                        (int)opt->method);
  }
  if (!(opt->lr > 0) || !isfinite(opt->lr)) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "learning rate %g must be positive and finite", opt->lr);
  }
  if (opt->max_iter < 0) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "max_iter %d must be >= 0",
                        opt->max_iter);
  }
  if (!(opt->tol >= 0) || !(opt->gtol >= 0)) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "tolerances must be >= 0 (tol %g, gtol %g)", opt->tol, opt->gtol);
  }
  if (opt->memory < 1) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "L-BFGS memory %d must be >= 1",
                        opt->memory);
  }
  if (opt->method == DP_OPT_ADAM) {
    if (!(opt->beta1 >= 0 && opt->beta1 < 1) || !(opt->beta2 >= 0 && opt->beta2 < 1)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "adam beta1 %g and beta2 %g must lie in [0, 1)", opt->beta1,
                          opt->beta2);
    }
    if (!(opt->eps > 0) || !isfinite(opt->eps)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "adam eps %g must be positive and finite", opt->eps);
    }
  }
  return DP_OK;
}

static dpStatus check_bounds(int n, const double *lower, const double *upper, dpError *err) {
  for (int i = 0; i < n; i++) {
    double lo = lower != NULL ? lower[i] : -INFINITY;
    double hi = upper != NULL ? upper[i] : INFINITY;
    if (isnan(lo) || isnan(hi)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "bound of variable %d is nan", i);
    }
    if (lo > hi) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "lower bound %g > upper bound %g for variable %d", lo, hi, i);
    }
    if (lo == INFINITY || hi == -INFINITY) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "bounds [%g, %g] of variable %d admit no finite value", lo, hi, i);
    }
  }
  return DP_OK;
}

void dp_opt_free(dpOptimizer *o) {
  if (o == NULL) {
    return;
  }
  dp_free(o->lower);
  dp_free(o->upper);
  dp_free(o->z);
  dp_free(o->g);
  dp_free(o->best_z);
  dp_free(o->zt);
  dp_free(o->gt);
  dp_free(o->d);
  dp_free(o->m);
  dp_free(o->v);
  dp_free(o->s);
  dp_free(o->y);
  dp_free(o->rho);
  dp_free(o->alpha);
  dp_free(o);
}

dpStatus dp_opt_new(int n, const double *lower, const double *upper, const dpOptOptions *opt,
                    dpOptimizer **out, dpError *err) {
  *out = NULL;
  if (n < 1) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "optimizer needs n >= 1 variables, got %d",
                        n);
  }
  if (opt == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "optimizer options missing");
  }
  dpStatus st = check_options(opt, err);
  if (st == DP_OK) {
    st = check_bounds(n, lower, upper, err);
  }
  if (st != DP_OK) {
    return st;
  }
  dpOptimizer *o = dp_calloc(1, sizeof *o);
  if (o == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
  }
  o->n = n;
  o->opt = *opt;
  size_t nn = (size_t)n;
  size_t mem = (size_t)opt->memory;
  int lbfgs = opt->method == DP_OPT_LBFGS;
  int adam = opt->method == DP_OPT_ADAM;
  st = DP_ERR_NOMEM;
  if ((o->lower = dp_malloc(nn * sizeof *o->lower)) == NULL ||
      (o->upper = dp_malloc(nn * sizeof *o->upper)) == NULL ||
      (o->z = dp_calloc(nn, sizeof *o->z)) == NULL ||
      (o->g = dp_calloc(nn, sizeof *o->g)) == NULL ||
      (o->best_z = dp_calloc(nn, sizeof *o->best_z)) == NULL ||
      (o->zt = dp_calloc(nn, sizeof *o->zt)) == NULL ||
      (o->gt = dp_calloc(nn, sizeof *o->gt)) == NULL) {
    goto done;
  }
  if (adam && ((o->m = dp_calloc(nn, sizeof *o->m)) == NULL ||
               (o->v = dp_calloc(nn, sizeof *o->v)) == NULL)) {
    goto done;
  }
  if (lbfgs) {
    if (nn > (size_t)-1 / sizeof(double) / mem) {
      goto done;
    }
    if ((o->d = dp_calloc(nn, sizeof *o->d)) == NULL ||
        (o->s = dp_calloc(mem * nn, sizeof *o->s)) == NULL ||
        (o->y = dp_calloc(mem * nn, sizeof *o->y)) == NULL ||
        (o->rho = dp_calloc(mem, sizeof *o->rho)) == NULL ||
        (o->alpha = dp_calloc(mem, sizeof *o->alpha)) == NULL) {
      goto done;
    }
  }
  for (int i = 0; i < n; i++) {
    o->lower[i] = lower != NULL ? lower[i] : -INFINITY;
    o->upper[i] = upper != NULL ? upper[i] : INFINITY;
  }
  o->f = o->fprev = o->best_f = NAN;
  o->pgnorm = NAN;
  st = DP_OK;
done:
  if (st != DP_OK) {
    dp_opt_free(o);
    return dp_error_set(err, st, NULL, 0, 0, "out of memory");
  }
  *out = o;
  return DP_OK;
}

void dp_opt_project(const dpOptimizer *o, double *z) {
  for (int i = 0; i < o->n; i++) {
    if (z[i] < o->lower[i]) {
      z[i] = o->lower[i];
    } else if (z[i] > o->upper[i]) {
      z[i] = o->upper[i];
    }
  }
}

double dp_opt_proj_grad_norm(const dpOptimizer *o, const double *z, const double *g) {
  // Per component, z_i − P(z_i − g_i) without forming z_i − g_i when no bound is hit, so an
  // unbounded variable contributes exactly |g_i|.
  double w = 0;
  for (int i = 0; i < o->n; i++) {
    double t = z[i] - g[i], pg;
    if (t < o->lower[i]) {
      pg = z[i] - o->lower[i];
    } else if (t > o->upper[i]) {
      pg = z[i] - o->upper[i];
    } else {
      pg = g[i];
    }
    w = fmax(w, fabs(pg));
  }
  return w;
}

dpStatus dp_opt_eval(dpOptimizer *o, dpOptFn fn, void *ud, const double *z, double *f, double *g,
                     dpError *err) {
  o->evals++;
  *f = NAN;
  return fn(ud, z, f, g, err);
}

int dp_opt_finite(const dpOptimizer *o, double f, const double *g) {
  if (!isfinite(f)) {
    return 0;
  }
  for (int i = 0; i < o->n; i++) {
    if (!isfinite(g[i])) {
      return 0;
    }
  }
  return 1;
}

void dp_opt_accept(dpOptimizer *o, double f) {
  size_t bytes = (size_t)o->n * sizeof(double);
  memcpy(o->z, o->zt, bytes);
  memcpy(o->g, o->gt, bytes);
  o->fprev = o->f;
  o->f = f;
  o->iter++;
  o->ls_failed = 0;
  o->pgnorm = dp_opt_proj_grad_norm(o, o->z, o->g);
  if (f < o->best_f) {
    o->best_f = f;
    memcpy(o->best_z, o->z, bytes);
  }
}

dpStatus dp_opt_start(dpOptimizer *o, dpOptFn fn, void *ud, const double *z0, dpError *err) {
  int n = o->n;
  o->started = 0;
  o->iter = 0;
  o->evals = 0;
  o->ls_failed = 0;
  o->head = 0;
  o->npairs = 0;
  o->f = o->fprev = o->best_f = NAN;
  o->pgnorm = NAN;
  for (int i = 0; i < n; i++) {
    if (!isfinite(z0[i])) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "starting value %g of variable %d is not finite", z0[i], i);
    }
  }
  size_t bytes = (size_t)n * sizeof(double);
  if (o->m != NULL) {
    memset(o->m, 0, bytes);
    memset(o->v, 0, bytes);
  }
  memcpy(o->z, z0, bytes);
  dp_opt_project(o, o->z);
  double f;
  dpStatus st = dp_opt_eval(o, fn, ud, o->z, &f, o->g, err);
  if (st != DP_OK) {
    return st;
  }
  if (!dp_opt_finite(o, f, o->g)) {
    return dp_error_set(err, DP_ERR_DIVERGED, NULL, 0, 0,
                        "objective or gradient not finite at the starting point (f = %g)", f);
  }
  o->f = f;
  o->best_f = f;
  memcpy(o->best_z, o->z, bytes);
  o->pgnorm = dp_opt_proj_grad_norm(o, o->z, o->g);
  o->started = 1;
  return DP_OK;
}

dpStatus dp_opt_iterate(dpOptimizer *o, dpOptFn fn, void *ud, dpError *err) {
  if (!o->started) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "optimizer iterated before a successful dp_opt_start");
  }
  switch (o->opt.method) {
    case DP_OPT_GD: return dp_opt_gd_iterate(o, fn, ud, err);
    case DP_OPT_ADAM: return dp_opt_adam_iterate(o, fn, ud, err);
    case DP_OPT_LBFGS: return dp_opt_lbfgs_iterate(o, fn, ud, err);
  }
  return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "unknown optimizer method %d",
                      (int)o->opt.method);
}

dpOptStop dp_opt_stop(const dpOptimizer *o) {
  if (!o->started) {
    return DP_STOP_NONE;
  }
  if (o->opt.gtol > 0 && o->pgnorm <= o->opt.gtol) {
    return DP_STOP_GRAD_NORM;
  }
  // Only a step that did not raise f counts, so an Adam or GD oscillation whose two values
  // happen to agree does not end the run.
  if (o->opt.tol > 0 && o->iter >= 1 && o->f <= o->fprev &&
      fabs(o->f - o->fprev) <= o->opt.tol * fmax(fabs(o->f), fabs(o->fprev))) {
    return DP_STOP_REL_CHANGE;
  }
  if (o->ls_failed) {
    return DP_STOP_LINE_SEARCH;
  }
  if (o->iter >= o->opt.max_iter) {
    return DP_STOP_MAX_ITER;
  }
  return DP_STOP_NONE;
}

int dp_opt_iter(const dpOptimizer *o) {
  return o->iter;
}

int dp_opt_evals(const dpOptimizer *o) {
  return o->evals;
}

const double *dp_opt_z(const dpOptimizer *o) {
  return o->z;
}

double dp_opt_f(const dpOptimizer *o) {
  return o->f;
}

const double *dp_opt_g(const dpOptimizer *o) {
  return o->g;
}

double dp_opt_pgnorm(const dpOptimizer *o) {
  return o->pgnorm;
}

const double *dp_opt_best_z(const dpOptimizer *o) {
  return o->best_z;
}

double dp_opt_best_f(const dpOptimizer *o) {
  return o->best_f;
}
