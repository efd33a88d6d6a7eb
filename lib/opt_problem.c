// Optimization problems: which θ components an optimizer moves, in which scale and within which
// bounds, and the objective z ↦ (L, ∂L/∂z) through one checkpointed rollout. The log scale is the
// usual reparametrization of positive quantities: θ = e^z, ∂L/∂z = θ ∂L/∂θ.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dp/dp.h"

void dp_problem_free(dpProblem *p) {
  if (p == NULL) {
    return;
  }
  dp_rollout_free(p->rollout);
  dp_free(p->index);
  dp_free(p->log);
  dp_free(p->lower);
  dp_free(p->upper);
  dp_free(p->name);
  dp_free(p->theta);
  dp_free(p->theta_bar);
  dp_free(p);
}

// The `parameters:` entry a pattern names (same text, or the entry's path matches it), or NULL.
static const dpParamSpec *spec_for(const dpModel *m, const char *pattern) {
  for (size_t i = 0; i < m->nspec; i++) {
    if (strcmp(m->spec[i].path, pattern) == 0) {
      return &m->spec[i];
    }
  }
  return NULL;
}

// Add the components selected by pattern (skipping ones already in p), with the bounds and
// scale of spec (may be NULL: linear, the entry's range).
static dpStatus add_pattern(dpProblem *p, const char *pattern, const dpParamSpec *spec,
                            unsigned char *taken, dpError *err) {
  const dpModel *m = p->m;
  dpSelection sel = {0};
  dpStatus st = dp_param_select(m, pattern, &sel, err);
  if (st != DP_OK) {
    return st;
  }
  for (size_t k = 0; k < sel.n; k++) {
    size_t j = sel.index[k];
    if (taken[j]) {
      continue;
    }
    size_t comp = 0;
    const dpParam *e = dp_param_at(m, j, &comp);
    double lo = e != NULL ? e->lower : -INFINITY;
    double hi = e != NULL ? e->upper : INFINITY;
    int logs = 0;
    if (spec != NULL) {
      lo = fmax(lo, spec->lower);
      hi = fmin(hi, spec->upper);
      logs = spec->log_scale;
    }
    char label[DP_PATH_MAX + 16];
    if (e != NULL && e->len > 1) {
      snprintf(label, sizeof label, "%s[%zu]", e->path, comp);
    } else {
      snprintf(label, sizeof label, "%s", e != NULL ? e->path : "theta");
    }
    if (!(lo <= hi)) {
      st = dp_error_set(err, DP_ERR_INVALID, m->source, 0, 0,
                        "parameter '%s': lower bound %g is above upper bound %g", label, lo, hi);
      goto done;
    }
    double v = m->theta0[j];
    if (!isfinite(v)) {
      st = dp_error_set(err, DP_ERR_INVALID, m->source, 0, 0,
                        "parameter '%s' is %g and cannot be optimized (give it a finite value "
                        "in the scene, or leave it out of the selection)",
                        label, v);
      goto done;
    }
    if (logs) {
      if (!(v > 0)) {
        st = dp_error_set(err, DP_ERR_INVALID, m->source, 0, 0,
                          "parameter '%s': 'scale: log' needs a value > 0 (got %g)", label, v);
        goto done;
      }
      lo = lo > 0 ? log(lo) : -INFINITY;
      hi = hi > 0 ? log(hi) : -INFINITY;
      if (!(lo <= hi)) {
        st = dp_error_set(err, DP_ERR_INVALID, m->source, 0, 0,
                          "parameter '%s': 'scale: log' needs an upper bound > 0", label);
        goto done;
      }
    }
    size_t i = p->n++;
    taken[j] = 1;
    p->index[i] = j;
    p->log[i] = (unsigned char)logs;
    p->lower[i] = lo;
    p->upper[i] = hi;
    snprintf(p->name[i], sizeof p->name[i], "%s", label);
  }
done:
  dp_selection_free(&sel);
  return st;
}

dpStatus dp_problem_new(const dpModel *m, const dpLoss *loss, const char *const *wrt, int nwrt,
                        dpDevice device, int checkpoint_every, dpProblem **out, dpError *err) {
  dpStatus st = DP_OK;
  unsigned char *taken = NULL;
  *out = NULL;
  if (nwrt == 0 && m->nspec == 0) {
    return dp_error_set(err, DP_ERR_INVALID, m->source, 0, 0,
                        "nothing to optimize: the scene has no 'parameters:' list and no "
                        "--wrt PATH was given");
  }
  dpProblem *p = dp_calloc(1, sizeof *p);
  size_t cap = m->ntheta;
  if (p == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
  }
  p->m = m;
  p->loss = loss;
  p->index = dp_malloc(cap * sizeof *p->index);
  p->log = dp_malloc(cap * sizeof *p->log);
  p->lower = dp_malloc(cap * sizeof *p->lower);
  p->upper = dp_malloc(cap * sizeof *p->upper);
  p->name = dp_malloc(cap * sizeof *p->name);
  p->theta = dp_malloc(m->ntheta * sizeof *p->theta);
  p->theta_bar = dp_malloc(m->ntheta * sizeof *p->theta_bar);
  taken = dp_calloc(m->ntheta, 1);
  if (p->index == NULL || p->log == NULL || p->lower == NULL || p->upper == NULL ||
      p->name == NULL || p->theta == NULL || p->theta_bar == NULL || taken == NULL) {
    st = dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    goto done;
  }
  memcpy(p->theta, m->theta0, m->ntheta * sizeof *p->theta);
  if (nwrt > 0) {
    for (int i = 0; i < nwrt && st == DP_OK; i++) {
      st = add_pattern(p, wrt[i], spec_for(m, wrt[i]), taken, err);
    }
  } else {
    for (size_t i = 0; i < m->nspec && st == DP_OK; i++) {
      st = add_pattern(p, m->spec[i].path, &m->spec[i], taken, err);
    }
  }
  if (st != DP_OK) {
    goto done;
  }
  st = dp_rollout_new(m, device, checkpoint_every, &p->rollout, err);
done:
  dp_free(taken);
  if (st != DP_OK) {
    dp_problem_free(p);
    return st;
  }
  *out = p;
  return DP_OK;
}

void dp_problem_to_z(const dpProblem *p, const double *theta, double *z) {
  for (size_t i = 0; i < p->n; i++) {
    double v = theta[p->index[i]];
    z[i] = p->log[i] ? log(v) : v;
  }
}

void dp_problem_to_theta(const dpProblem *p, const double *z, double *theta) {
  for (size_t i = 0; i < p->n; i++) {
    theta[p->index[i]] = p->log[i] ? exp(z[i]) : z[i];
  }
}

dpStatus dp_problem_eval(void *ud, const double *z, double *f, double *g, dpError *err) {
  dpProblem *p = ud;
  const dpModel *m = p->m;
  dp_problem_to_theta(p, z, p->theta);
  memset(p->theta_bar, 0, m->ntheta * sizeof *p->theta_bar);
  p->evals++;
  p->diverged = 0;
  double L = 0.0;
  dpStatus st = dp_rollout_forward(p->rollout, p->theta, p->loss, &L, 1, NULL, NULL, err);
  if (st == DP_OK && isfinite(L)) {
    st = dp_rollout_backward(p->rollout, p->theta, p->loss, p->theta_bar, err);
  }
  if (st == DP_ERR_DIVERGED || (st == DP_OK && !isfinite(L))) {
    p->diverged = 1;
    dp_error_clear(&p->diverge_err);
    if (st == DP_OK) {
      dp_error_set(&p->diverge_err, DP_ERR_DIVERGED, m->source, 0, 0,
                   "the loss is not finite (%g)", L);
    } else {
      p->diverge_err = *err;
      dp_error_clear(err);
    }
    *f = NAN;
    memset(g, 0, p->n * sizeof *g);
    return DP_OK;
  }
  if (st != DP_OK) {
    return st;
  }
  *f = L;
  for (size_t i = 0; i < p->n; i++) {
    double gb = p->theta_bar[p->index[i]];
    g[i] = p->log[i] ? gb * p->theta[p->index[i]] : gb;
  }
  return DP_OK;
}
