// Loss terms, each a forward l(s, θ) with its adjoint next to it: squared distances of a
// particle's (or a set's mass-weighted mean) position or velocity to a target, of a body origin
// or a joint's coordinates to a target, of a soft body's vertex mean (centroid) to a target, an
// observed trajectory, control effort, kinetic energy and a quadratic prior. State
// s = [x (np×3) | v | q (nq) | qd (nv) | soft x (nvert×3) | soft v]; body origins come from
// forward kinematics (dp_body_poses) and their adjoint from adj_dp_body_positions.
#include <stdlib.h>
#include <string.h>

#include "loss.h"

static const char *const k_type_name[DP_TERM_COUNT] = {
    "position", "velocity",      "trajectory", "control_effort", "kinetic_energy",
    "prior",    "body_position", "joint",      "joint_velocity", "centroid",
};

const char *dp_loss_type_name(dpTermType type) {
  return (unsigned)type < DP_TERM_COUNT ? k_type_name[type] : "unknown";
}

void dp_loss_term_clear(dpTerm *t) {
  dp_free(t->pidx);
  dp_free(t->bidx);
  dp_free(t->qsel);
  dp_free(t->frame_of_step);
  dp_free(t->obs);
  dp_free(t->index);
  dp_free(t->value);
  t->pidx = NULL;
  t->bidx = NULL;
  t->qsel = NULL;
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
  dp_free(loss->xpos);
  dp_free(loss->xpos_bar);
  dp_free(loss->scratch);
  dp_free(loss);
}

// A state term reads x[t] when its step is t (trajectory: when a selected frame is at t).
static int term_reads_step(const dpTerm *tm, int t) {
  switch (tm->type) {
    case DP_TERM_POSITION:
    case DP_TERM_VELOCITY:
    case DP_TERM_KINETIC_ENERGY:
    case DP_TERM_BODY_POSITION:
    case DP_TERM_JOINT:
    case DP_TERM_JOINT_VELOCITY:
      return tm->step == t;
    case DP_TERM_TRAJECTORY:
    case DP_TERM_CENTROID:
      return tm->frame_of_step[t] >= 0;
    default:
      return 0;
  }
}

// 1 when a term reads the body origins (computed once per step for all such terms).
static int term_reads_poses(const dpTerm *tm) {
  return tm->type == DP_TERM_BODY_POSITION ||
         (tm->type == DP_TERM_TRAJECTORY && tm->field == DP_FIELD_BODY_XPOS);
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
  loss->body_poses = 0;
  for (int i = 0; i < loss->nterms; i++) {
    loss->body_poses |= term_reads_poses(&loss->term[i]);
  }
  return DP_OK;
}

dpStatus dp_loss_alloc_poses(dpLoss *loss, const dpModel *m, dpError *err) {
  if (!loss->body_poses || m->nb == 0 || loss->scratch != NULL) {
    return DP_OK;
  }
  size_t n3 = 3 * (size_t)m->nb;
  loss->xpos = dp_malloc(n3 * sizeof(double));
  loss->xpos_bar = dp_malloc(n3 * sizeof(double));
  loss->scratch = dp_malloc(dp_body_scratch_size(m) * sizeof(double));
  if (loss->xpos == NULL || loss->xpos_bar == NULL || loss->scratch == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
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
// trajectory: l_t = (w / F) Σ_j (y_j(t) − obs_{f(t),j})² over the compared values y of one
// frame (the chosen components of the selected particles' x or v, of the selected bodies'
// origins xpos, their joint coordinates q, or of every vertex of one soft body or shell, x or
// v); summed over the selected frames f this is
// L = w (1/F) Σ_f ‖y(t_f) − obs_f‖² (m², (m/s)², or the squared units of q).

// The value y_j of row entry j (0 ≤ j < tm->row) and its place in s (or, for body origins, in
// xpos: *in_xpos = 1); the entry counts when *on.
static double traj_value(const dpTerm *tm, const dpModel *m, const double *s, const double *xpos,
                         int j, size_t *at, int *in_xpos, int *on) {
  int k = j / 3, c = j % 3;
  *in_xpos = 0;
  *on = 1;
  switch (tm->field) {
    case DP_FIELD_PARTICLE_X:
    case DP_FIELD_PARTICLE_V:
      *on = tm->mask[c];
      *at = (tm->field == DP_FIELD_PARTICLE_V ? 3 * (size_t)m->np : 0) +
            3 * (size_t)tm->pidx[k] + (size_t)c;
      return s[*at];
    case DP_FIELD_BODY_XPOS:
      *on = tm->mask[c];
      *in_xpos = 1;
      *at = 3 * (size_t)tm->bidx[k] + (size_t)c;
      return xpos[*at];
    case DP_FIELD_BODY_Q:
      *at = dp_model_q_offset(m) + (size_t)tm->qsel[j];
      return s[*at];
    case DP_FIELD_SOFT_X:
    case DP_FIELD_SOFT_V:
      *on = tm->mask[c];
      *at = dp_model_soft_offset(m) +
            (tm->field == DP_FIELD_SOFT_V ? 3 * (size_t)m->nvert : 0) +
            3 * (size_t)(m->soft_vadr[tm->soft] + k) + (size_t)c;
      return s[*at];
  }
  return 0.0;
}

static double trajectory_loss(const dpTerm *tm, const dpModel *m, int t, const double *s,
                              const double *xpos) {
  const double *o = tm->obs + (size_t)tm->frame_of_step[t] * (size_t)tm->row;
  double l = 0.0;
  for (int j = 0; j < tm->row; j++) {
    size_t at;
    int in_xpos, on;
    double y = traj_value(tm, m, s, xpos, j, &at, &in_xpos, &on);
    if (on) {
      l += (y - o[j]) * (y - o[j]);
    }
  }
  return tm->weight * l / tm->nframes;
}

// Accumulates into s_bar, or into xpos_bar for body origins (propagated by the caller).
static void adj_trajectory_loss(const dpTerm *tm, const dpModel *m, int t, const double *s,
                                const double *xpos, double *s_bar, double *xpos_bar,
                                double L_bar) {
  const double *o = tm->obs + (size_t)tm->frame_of_step[t] * (size_t)tm->row;
  double scale = 2.0 * tm->weight * L_bar / tm->nframes;
  for (int j = 0; j < tm->row; j++) {
    size_t at;
    int in_xpos, on;
    double y = traj_value(tm, m, s, xpos, j, &at, &in_xpos, &on);
    if (on) {
      (in_xpos ? xpos_bar : s_bar)[at] += scale * (y - o[j]);
    }
  }
}

// ------------------------------------------------------------------------------------------
// body_position: l = w Σ_{c∈mask} (xpos_{b,c} − target_c)² (m²) of body b's origin in the world.
// The adjoint stops at ∂l/∂xpos; the caller runs adj_dp_body_positions once for all terms.

static double body_position_loss(const dpTerm *tm, const double *xpos) {
  const double *p = xpos + 3 * (size_t)tm->body;
  double l = 0.0;
  for (int c = 0; c < 3; c++) {
    if (tm->mask[c]) {
      l += (p[c] - tm->target[c]) * (p[c] - tm->target[c]);
    }
  }
  return tm->weight * l;
}

static void adj_body_position_loss(const dpTerm *tm, const double *xpos, double *xpos_bar,
                                   double L_bar) {
  size_t b = 3 * (size_t)tm->body;
  for (int c = 0; c < 3; c++) {
    if (tm->mask[c]) {
      xpos_bar[b + c] += 2.0 * tm->weight * L_bar * (xpos[b + c] - tm->target[c]);
    }
  }
}

// ------------------------------------------------------------------------------------------
// joint / joint_velocity: l = w Σ_k (y_k − target_k)² over a body's block of q (its joint
// coordinates: rad, m, or a quaternion's components) or of qd. A quaternion is compared
// componentwise, so its adjoint is the plain partial derivative; the step's conversion to the
// tangent space drops the part along the quaternion.

static const double *joint_block(const dpTerm *tm, const dpModel *m, const double *s,
                                 size_t *off) {
  *off = (tm->type == DP_TERM_JOINT ? dp_model_q_offset(m) : dp_model_qd_offset(m)) +
         (size_t)tm->adr;
  return s + *off;
}

static double joint_loss(const dpTerm *tm, const dpModel *m, const double *s) {
  size_t off;
  const double *y = joint_block(tm, m, s, &off);
  double l = 0.0;
  for (int k = 0; k < tm->len; k++) {
    l += (y[k] - tm->value[k]) * (y[k] - tm->value[k]);
  }
  return tm->weight * l;
}

static void adj_joint_loss(const dpTerm *tm, const dpModel *m, const double *s, double *s_bar,
                           double L_bar) {
  size_t off;
  const double *y = joint_block(tm, m, s, &off);
  for (int k = 0; k < tm->len; k++) {
    s_bar[off + (size_t)k] += 2.0 * tm->weight * L_bar * (y[k] - tm->value[k]);
  }
}

// ------------------------------------------------------------------------------------------
// centroid: l_t = (w / S) Σ_{c∈mask} (ȳ_c(t) − target_c)² (m²) at each of the S selected steps,
// ȳ = (1/n) Σ_i x_i the mean of the soft body's n vertex positions (its centre of mass when the
// lumped vertex masses are equal; not weighted by them, so θ gets no adjoint).

static void centroid_value(const dpTerm *tm, const dpModel *m, const double *s, double y[3]) {
  int n = m->soft_nv[tm->soft];
  const double *x = s + dp_model_soft_offset(m) + 3 * (size_t)m->soft_vadr[tm->soft];
  y[0] = y[1] = y[2] = 0.0;
  for (int i = 0; i < n; i++) {
    for (int c = 0; c < 3; c++) {
      y[c] += x[3 * (size_t)i + c];
    }
  }
  for (int c = 0; c < 3; c++) {
    y[c] /= n;
  }
}

static double centroid_loss(const dpTerm *tm, const dpModel *m, const double *s) {
  double y[3], l = 0.0;
  centroid_value(tm, m, s, y);
  for (int c = 0; c < 3; c++) {
    if (tm->mask[c]) {
      l += (y[c] - tm->target[c]) * (y[c] - tm->target[c]);
    }
  }
  return tm->weight * l / tm->nframes;
}

// ∂l/∂x_i = (2w / (S n)) (ȳ − target) on the mask, the same for every vertex. Recomputes ȳ
// (O(n)) rather than storing it.
static void adj_centroid_loss(const dpTerm *tm, const dpModel *m, const double *s, double *s_bar,
                              double L_bar) {
  int n = m->soft_nv[tm->soft];
  double y[3], g[3];
  centroid_value(tm, m, s, y);
  for (int c = 0; c < 3; c++) {
    g[c] = tm->mask[c] ? 2.0 * tm->weight * L_bar * (y[c] - tm->target[c]) / (tm->nframes * n)
                       : 0.0;
  }
  double *x_bar = s_bar + dp_model_soft_offset(m) + 3 * (size_t)m->soft_vadr[tm->soft];
  for (int i = 0; i < n; i++) {
    for (int c = 0; c < 3; c++) {
      x_bar[3 * (size_t)i + c] += g[c];
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
// control_effort: l = w (Σ_t Σ_p ‖u_p[t]‖² + Σ_t Σ_a u_a[t]²) over the particle control forces
// θ[off.controls .. + steps·nu·3) (N²) and the actuator controls θ[off.act_controls .. +
// na·steps) (squared units of each control: a motor's command, whose torque or force is
// gear·u; a position servo's target, rad or m).

static size_t ncontrols(const dpModel *m) {
  return m->nu > 0 ? (size_t)m->steps * (size_t)m->nu * 3 : 0;
}

static size_t nact_controls(const dpModel *m) {
  return m->na > 0 ? (size_t)m->steps * (size_t)m->na : 0;
}

static double sum_squares(const double *u, size_t n) {
  double l = 0.0;
  for (size_t k = 0; k < n; k++) {
    l += u[k] * u[k];
  }
  return l;
}

static double effort_loss(const dpTerm *tm, const dpModel *m, const double *theta) {
  return tm->weight * (sum_squares(theta + m->off.controls, ncontrols(m)) +
                       sum_squares(theta + m->off.act_controls, nact_controls(m)));
}

static void adj_effort_loss(const dpTerm *tm, const dpModel *m, const double *theta,
                            double *theta_bar, double L_bar) {
  size_t off[2] = {m->off.controls, m->off.act_controls};
  size_t n[2] = {ncontrols(m), nact_controls(m)};
  for (int g = 0; g < 2; g++) {
    for (size_t k = 0; k < n[g]; k++) {
      theta_bar[off[g] + k] += 2.0 * tm->weight * L_bar * theta[off[g] + k];
    }
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

// 1 when some term read at step t needs the body origins.
static int step_reads_poses(const dpLoss *loss, int t) {
  if (!loss->body_poses || loss->scratch == NULL) {
    return 0;
  }
  for (int i = 0; i < loss->nterms; i++) {
    if (term_reads_poses(&loss->term[i]) && term_reads_step(&loss->term[i], t)) {
      return 1;
    }
  }
  return 0;
}

void dp_loss_step(const dpLoss *loss, const dpModel *m, const double *theta, int t,
                  const double *s, double *L) {
  if (!dp_loss_needs_step(loss, t)) {
    return;
  }
  const double *xpos = NULL;
  if (step_reads_poses(loss, t)) {
    dp_body_poses(m, theta, s, loss->xpos, NULL, loss->scratch);
    xpos = loss->xpos;
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
        l += trajectory_loss(tm, m, t, s, xpos);
        break;
      case DP_TERM_KINETIC_ENERGY:
        l += kinetic_loss(tm, m, theta, s);
        break;
      case DP_TERM_BODY_POSITION:
        l += body_position_loss(tm, xpos);
        break;
      case DP_TERM_JOINT:
      case DP_TERM_JOINT_VELOCITY:
        l += joint_loss(tm, m, s);
        break;
      case DP_TERM_CENTROID:
        l += centroid_loss(tm, m, s);
        break;
      default:
        break;
    }
  }
  *L += l;
}

// The body-origin terms accumulate ∂l/∂xpos into loss->xpos_bar, taken through forward
// kinematics by one adj_dp_body_positions at the end. Recomputes the origins (one forward
// kinematics pass) rather than storing them per step.
void adj_dp_loss_step(const dpLoss *loss, const dpModel *m, const double *theta, int t,
                      const double *s, double *theta_bar, double *s_bar, double L_bar) {
  if (!dp_loss_needs_step(loss, t)) {
    return;
  }
  const double *xpos = NULL;
  int poses = step_reads_poses(loss, t);
  if (poses) {
    dp_body_poses(m, theta, s, loss->xpos, NULL, loss->scratch);
    xpos = loss->xpos;
    memset(loss->xpos_bar, 0, 3 * (size_t)m->nb * sizeof(double));
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
        adj_trajectory_loss(tm, m, t, s, xpos, s_bar, loss->xpos_bar, L_bar);
        break;
      case DP_TERM_KINETIC_ENERGY:
        adj_kinetic_loss(tm, m, theta, s, theta_bar, s_bar, L_bar);
        break;
      case DP_TERM_BODY_POSITION:
        adj_body_position_loss(tm, xpos, loss->xpos_bar, L_bar);
        break;
      case DP_TERM_JOINT:
      case DP_TERM_JOINT_VELOCITY:
        adj_joint_loss(tm, m, s, s_bar, L_bar);
        break;
      case DP_TERM_CENTROID:
        adj_centroid_loss(tm, m, s, s_bar, L_bar);
        break;
      default:
        break;
    }
  }
  if (poses) {
    adj_dp_body_positions(m, theta, s, theta_bar, s_bar, loss->xpos_bar, loss->scratch);
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
