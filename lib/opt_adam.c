// First-order methods on a box: projected gradient descent z ← P(z − lr·g) (Bertsekas,
// Nonlinear Programming, 2nd ed., 1999, §2.3) and Adam with bias correction (Kingma & Ba, "Adam:
// A method for stochastic optimization", ICLR 2015, Algorithm 1) followed by the projection.
#include <math.h>

#include "opt_internal.h"

// Evaluate the trial point zt; a non-finite value leaves the current point as it was.
static dpStatus take_step(dpOptimizer *o, dpOptFn fn, void *ud, dpError *err) {
  double f;
  dpStatus st = dp_opt_eval(o, fn, ud, o->zt, &f, o->gt, err);
  if (st != DP_OK) {
    return st;
  }
  if (!dp_opt_finite(o, f, o->gt)) {
    return dp_error_set(err, DP_ERR_DIVERGED, NULL, 0, 0,
                        "%s: objective or gradient not finite at iteration %d (f = %g)",
                        dp_opt_method_name(o->opt.method), o->iter + 1, f);
  }
  dp_opt_accept(o, f);
  return DP_OK;
}

dpStatus dp_opt_gd_iterate(dpOptimizer *o, dpOptFn fn, void *ud, dpError *err) {
  double lr = o->opt.lr;
  for (int i = 0; i < o->n; i++) {
    o->zt[i] = o->z[i] - lr * o->g[i];
  }
  dp_opt_project(o, o->zt);
  return take_step(o, fn, ud, err);
}

// Kingma & Ba 2015, Alg. 1: m ← β1 m + (1 − β1) g, v ← β2 v + (1 − β2) g², then
// z ← z − lr m̂ / (√v̂ + ε) with m̂ = m / (1 − β1^t), v̂ = v / (1 − β2^t), t = 1, 2, ...
dpStatus dp_opt_adam_iterate(dpOptimizer *o, dpOptFn fn, void *ud, dpError *err) {
  const dpOptOptions *p = &o->opt;
  double t = (double)o->iter + 1;
  double c1 = 1 - pow(p->beta1, t);
  double c2 = 1 - pow(p->beta2, t);
  for (int i = 0; i < o->n; i++) {
    double g = o->g[i];
    o->m[i] = p->beta1 * o->m[i] + (1 - p->beta1) * g;
    o->v[i] = p->beta2 * o->v[i] + (1 - p->beta2) * g * g;
    double mhat = o->m[i] / c1;
    double vhat = o->v[i] / c2;
    o->zt[i] = o->z[i] - p->lr * mhat / (sqrt(vhat) + p->eps);
  }
  dp_opt_project(o, o->zt);
  return take_step(o, fn, ud, err);
}
