// Loss terms, each a forward l(s, θ) with its adjoint next to it: squared distances of a
// particle's (or a set's mass-weighted mean) position or velocity to a target, an observed
// trajectory, control effort, kinetic energy and a quadratic prior. State s = [x (np×3) | v].
#include <stdlib.h>
#include <string.h>

#include "loss.h"

static const char *const k_type_name[DP_TERM_COUNT] = {
    "position", "velocity", "trajectory", "control_effort", "kinetic_energy", "prior",
};

const char *dp_loss_type_name(dpTermType type) {
  return (unsigned)type < DP_TERM_COUNT ? k_type_name[type] : "unknown";
}

void dp_loss_term_clear(dpTerm *t) {
  dp_free(t->pidx);
  dp_free(t->frame_of_step);
  dp_free(t->obs);
  dp_free(t->index);
  dp_free(t->value);
  t->pidx = NULL;
  t->frame_of_step = NULL;
  t->obs = NULL;
  t->index = NULL;
  t->value = NULL;
}

void dp_loss_free(dpLoss *loss) {
  if (loss == NULL) {
    return;
  }
  for (int i = 0; i < loss->nterms; i++) {
    dp_loss_term_clear(&loss->term[i]);
  }
  dp_free(loss->term);
  dp_free(loss->need);
  dp_free(loss);
}

// A state term reads x[t] when its step is t (trajectory: when a selected frame is at t).
static int term_reads_step(const dpTerm *tm, int t) {
  switch (tm->type) {
    case DP_TERM_POSITION:
    case DP_TERM_VELOCITY:
    case DP_TERM_KINETIC_ENERGY:
      return tm->step == t;
    case DP_TERM_TRAJECTORY:
      return tm->frame_of_step[t] >= 0;
    default:
      return 0;
  }
}

dpStatus dp_loss_index_steps(dpLoss *loss, dpError *err) {
  dp_free(loss->need);
  loss->need = dp_calloc((size_t)loss->steps + 1, 1);
  if (loss->need == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
  }
  for (int t = 0; t <= loss->steps; t++) {
    for (int i = 0; i < loss->nterms && !loss->need[t]; i++) {
      loss->need[t] = (unsigned char)term_reads_step(&loss->term[i], t);
    }
  }
  return DP_OK;
}

int dp_loss_needs_step(const dpLoss *loss, int t) {
  if (loss == NULL || t < 0 || t > loss->steps) {
    return 0;
  }
  return loss->need[t];
}

int dp_loss_nterms(const dpLoss *loss) {
  return loss != NULL ? loss->nterms : 0;
}

const char *dp_loss_term_kind(const dpLoss *loss, int i) {
  if (loss == NULL || i < 0 || i >= loss->nterms) {
    return NULL;
  }
  return dp_loss_type_name(loss->term[i].type);
}

// ------------------------------------------------------------------------------------------
// position / velocity: l = w Σ_{c∈mask} (y_c − target_c)², y = q_p (one particle) or
// y = Σ m_i q_i / Σ m_i (mass-weighted mean over the set), q = x (m) or v (m/s).

// The compared point y (3) and, for a set, its total mass M (kg; 0 for one particle).
static void point_value(const dpTerm *tm, const dpModel *m, const double *theta, const double *q,
                        double y[3], double *M) {
  *M = 0.0;
  if (!tm->com) {
    memcpy(y, q + 3 * (size_t)tm->pidx[0], 3 * sizeof(double));
    return;
  }
  y[0] = y[1] = y[2] = 0.0;
  for (int k = 0; k < tm->n; k++) {
    size_t i = (size_t)tm->pidx[k];
    double mi = theta[m->off.mass + i];
    *M += mi;
    for (int c = 0; c < 3; c++) {
      y[c] += mi * q[3 * i + c];
    }
  }
  for (int c = 0; c < 3; c++) {
    y[c] /= *M;
  }
}

static double point_loss(const dpTerm *tm, const dpModel *m, const double *theta,
                         const double *s) {
  const double *q = tm->type == DP_TERM_VELOCITY ? s + 3 * (size_t)m->np : s;
  double y[3], M;
  point_value(tm, m, theta, q, y, &M);
  double l = 0.0;
  for (int c = 0; c < 3; c++) {
    if (tm->mask[c]) {
      double d = y[c] - tm->target[c];
      l += d * d;
    }
  }
  return tm->weight * l;
}

// ∂l/∂y = 2w(y − target) on the mask; for a set, ∂y/∂q_i = m_i/M and ∂y/∂m_i = (q_i − y)/M,
// so the masses get an adjoint too. Recomputes y (O(n)) rather than storing it.
static void adj_point_loss(const dpTerm *tm, const dpModel *m, const double *theta,
                           const double *s, double *theta_bar, double *s_bar, double L_bar) {
  size_t qoff = tm->type == DP_TERM_VELOCITY ? 3 * (size_t)m->np : 0;
  const double *q = s + qoff;
  double *q_bar = s_bar + qoff;
  double y[3], M, g[3];
  point_value(tm, m, theta, q, y, &M);
  for (int c = 0; c < 3; c++) {
    g[c] = tm->mask[c] ? 2.0 * tm->weight * (y[c] - tm->target[c]) * L_bar : 0.0;
  }
  if (!tm->com) {
    for (int c = 0; c < 3; c++) {
      q_bar[3 * (size_t)tm->pidx[0] + c] += g[c];
    }
    return;
  }
  for (int k = 0; k < tm->n; k++) {
    size_t i = (size_t)tm->pidx[k];
    double mi = theta[m->off.mass + i];
    double dm = 0.0;
    for (int c = 0; c < 3; c++) {
      q_bar[3 * i + c] += g[c] * mi / M;
      dm += g[c] * (q[3 * i + c] - y[c]);
    }
    theta_bar[m->off.mass + i] += dm / M;
  }
}

// ------------------------------------------------------------------------------------------
// trajectory: l_t = (w / F) Σ_{p} Σ_{c∈mask} (q_{p,c}(t) − obs_{f(t),p,c})², summed over the
// selected frames f this is L = w (1/F) Σ_f Σ_p ‖q_p(t_f) − obs_{f,p}‖² (m² or (m/s)²).

static double trajectory_loss(const dpTerm *tm, const dpModel *m, int t, const double *s) {
  int f = tm->frame_of_step[t];
  const double *q = tm->velocity ? s + 3 * (size_t)m->np : s;
  const double *o = tm->obs + (size_t)f * (size_t)tm->n * 3;
  double l = 0.0;
  for (int k = 0; k < tm->n; k++) {
    size_t i = (size_t)tm->pidx[k];
    for (int c = 0; c < 3; c++) {
      if (tm->mask[c]) {
        double d = q[3 * i + c] - o[3 * k + c];
        l += d * d;
      }
    }
  }
  return tm->weight * l / tm->nframes;
}

static void adj_trajectory_loss(const dpTerm *tm, const dpModel *m, int t, const double *s,
                                double *s_bar, double L_bar) {
  int f = tm->frame_of_step[t];
  size_t qoff = tm->velocity ? 3 * (size_t)m->np : 0;
  const double *o = tm->obs + (size_t)f * (size_t)tm->n * 3;
  double scale = 2.0 * tm->weight * L_bar / tm->nframes;
  for (int k = 0; k < tm->n; k++) {
    size_t i = (size_t)tm->pidx[k];
    for (int c = 0; c < 3; c++) {
      if (tm->mask[c]) {
        s_bar[qoff + 3 * i + c] += scale * (s[qoff + 3 * i + c] - o[3 * k + c]);
      }
    }
  }
}

// ------------------------------------------------------------------------------------------
// kinetic_energy: l = w Σ_i ½ m_i ‖v_i‖² (J) over the term's particles.

static double kinetic_loss(const dpTerm *tm, const dpModel *m, const double *theta,
                           const double *s) {
  const double *v = s + 3 * (size_t)m->np;
  double l = 0.0;
  for (int k = 0; k < tm->n; k++) {
    size_t i = (size_t)tm->pidx[k];
    const double *vi = v + 3 * i;
    l += 0.5 * theta[m->off.mass + i] * (vi[0] * vi[0] + vi[1] * vi[1] + vi[2] * vi[2]);
  }
  return tm->weight * l;
}

// ∂l/∂v_i = w m_i v_i, ∂l/∂m_i = ½ w ‖v_i‖².
static void adj_kinetic_loss(const dpTerm *tm, const dpModel *m, const double *theta,
                             const double *s, double *theta_bar, double *s_bar, double L_bar) {
  size_t voff = 3 * (size_t)m->np;
  double wl = tm->weight * L_bar;
  for (int k = 0; k < tm->n; k++) {
    size_t i = (size_t)tm->pidx[k];
    const double *vi = s + voff + 3 * i;
    double mi = theta[m->off.mass + i];
    for (int c = 0; c < 3; c++) {
      s_bar[voff + 3 * i + c] += wl * mi * vi[c];
    }
    theta_bar[m->off.mass + i] += 0.5 * wl * (vi[0] * vi[0] + vi[1] * vi[1] + vi[2] * vi[2]);
  }
}

// ------------------------------------------------------------------------------------------
// control_effort: l = w Σ_t Σ_p ‖u_p[t]‖² (N²) over θ[off.controls .. + steps·nu·3).

static size_t ncontrols(const dpModel *m) {
  return m->nu > 0 ? (size_t)m->steps * (size_t)m->nu * 3 : 0;
}

static double effort_loss(const dpTerm *tm, const dpModel *m, const double *theta) {
  const double *u = theta + m->off.controls;
  size_t n = ncontrols(m);
  double l = 0.0;
  for (size_t k = 0; k < n; k++) {
    l += u[k] * u[k];
  }
  return tm->weight * l;
}

static void adj_effort_loss(const dpTerm *tm, const dpModel *m, const double *theta,
                            double *theta_bar, double L_bar) {
  const double *u = theta + m->off.controls;
  double *u_bar = theta_bar + m->off.controls;
  size_t n = ncontrols(m);
  for (size_t k = 0; k < n; k++) {
    u_bar[k] += 2.0 * tm->weight * L_bar * u[k];
  }
}

// ------------------------------------------------------------------------------------------
// prior: l = w Σ_k (θ_{index_k} − value_k)² over the selected θ components (their units²).

static double prior_loss(const dpTerm *tm, const double *theta) {
  double l = 0.0;
  for (size_t k = 0; k < tm->nsel; k++) {
    double d = theta[tm->index[k]] - tm->value[k];
    l += d * d;
  }
  return tm->weight * l;
}

static void adj_prior_loss(const dpTerm *tm, const double *theta, double *theta_bar,
                           double L_bar) {
  for (size_t k = 0; k < tm->nsel; k++) {
    theta_bar[tm->index[k]] += 2.0 * tm->weight * L_bar * (theta[tm->index[k]] - tm->value[k]);
  }
}

// ------------------------------------------------------------------------------------------
// The public sums.

void dp_loss_step(const dpLoss *loss, const dpModel *m, const double *theta, int t,
                  const double *s, double *L) {
  if (!dp_loss_needs_step(loss, t)) {
    return;
  }
  double l = 0.0;
  for (int i = 0; i < loss->nterms; i++) {
    const dpTerm *tm = &loss->term[i];
    if (!term_reads_step(tm, t)) {
      continue;
    }
    switch (tm->type) {
      case DP_TERM_POSITION:
      case DP_TERM_VELOCITY:
        l += point_loss(tm, m, theta, s);
        break;
      case DP_TERM_TRAJECTORY:
        l += trajectory_loss(tm, m, t, s);
        break;
      case DP_TERM_KINETIC_ENERGY:
        l += kinetic_loss(tm, m, theta, s);
        break;
      default:
        break;
    }
  }
  *L += l;
}

void adj_dp_loss_step(const dpLoss *loss, const dpModel *m, const double *theta, int t,
                      const double *s, double *theta_bar, double *s_bar, double L_bar) {
  if (!dp_loss_needs_step(loss, t)) {
    return;
  }
  for (int i = 0; i < loss->nterms; i++) {
    const dpTerm *tm = &loss->term[i];
    if (!term_reads_step(tm, t)) {
      continue;
    }
    switch (tm->type) {
      case DP_TERM_POSITION:
      case DP_TERM_VELOCITY:
        adj_point_loss(tm, m, theta, s, theta_bar, s_bar, L_bar);
        break;
      case DP_TERM_TRAJECTORY:
        adj_trajectory_loss(tm, m, t, s, s_bar, L_bar);
        break;
      case DP_TERM_KINETIC_ENERGY:
        adj_kinetic_loss(tm, m, theta, s, theta_bar, s_bar, L_bar);
        break;
      default:
        break;
    }
  }
}

void dp_loss_params(const dpLoss *loss, const dpModel *m, const double *theta, double *L) {
  if (loss == NULL) {
    return;
  }
  double l = 0.0;
  for (int i = 0; i < loss->nterms; i++) {
    const dpTerm *tm = &loss->term[i];
    if (tm->type == DP_TERM_CONTROL_EFFORT) {
      l += effort_loss(tm, m, theta);
    } else if (tm->type == DP_TERM_PRIOR) {
      l += prior_loss(tm, theta);
    }
  }
  *L += l;
}

void adj_dp_loss_params(const dpLoss *loss, const dpModel *m, const double *theta,
                        double *theta_bar, double L_bar) {
  if (loss == NULL) {
    return;
  }
  for (int i = 0; i < loss->nterms; i++) {
    const dpTerm *tm = &loss->term[i];
    if (tm->type == DP_TERM_CONTROL_EFFORT) {
      adj_effort_loss(tm, m, theta, theta_bar, L_bar);
    } else if (tm->type == DP_TERM_PRIOR) {
      adj_prior_loss(tm, theta, theta_bar, L_bar);
    }
  }
}
