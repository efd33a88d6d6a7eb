// Articulated bodies inside the model: their parameters as views of θ, world poses from the
// state, the initial state, and its adjoint. The packed state of one environment holds, after
// the particles, q (nq) and qd (nv); the adjoint of q in a state adjoint is the gradient with
// respect to q's components (tangent to each quaternion), converted to and from the tangent
// adjoints of lib/rb_tree.h at each step's boundary.
#include <math.h>
#include <string.h>

#include "dp/dp.h"
#include "phys_rb.h"
#include "rb_spatial_kern.h"

void rb_params_of(const dpModel *m, const double *theta, dpRbParams *p) {
  const dpOffsets *o = &m->off;
  p->mass = theta + o->body_mass;
  p->com = theta + o->body_com;
  p->inertia = theta + o->body_inertia;
  p->jpos = theta + o->joint_pos;
  p->damping = theta + o->joint_damping;
  p->armature = theta + o->armature;
  p->gravity = theta + o->gravity;
}

void rb_params_bar_of(const dpModel *m, double *theta_bar, dpRbParamsBar *p) {
  const dpOffsets *o = &m->off;
  p->mass = theta_bar + o->body_mass;
  p->com = theta_bar + o->body_com;
  p->inertia = theta_bar + o->body_inertia;
  p->jpos = theta_bar + o->joint_pos;
  p->damping = theta_bar + o->joint_damping;
  p->armature = theta_bar + o->armature;
  p->gravity = theta_bar + o->gravity;
}

size_t dp_body_scratch_size(const dpModel *m) {
  if (m->nb == 0) {
    return 1;
  }
  return 12 * (size_t)m->nb + 2 * (size_t)m->nv + rb_scratch_size(m->rb_);
}

// Shepperd's method: the largest of 4w², 4x², 4y², 4z² picks the stable formula.
static void mat_to_quat(double *Q, const double *R) {
  double tr = R[0] + R[4] + R[8];
  if (tr > 0) {
    double s = 2.0 * sqrt(1.0 + tr);
    Q[0] = 0.25 * s;
    Q[1] = (R[7] - R[5]) / s;
    Q[2] = (R[2] - R[6]) / s;
    Q[3] = (R[3] - R[1]) / s;
  } else if (R[0] > R[4] && R[0] > R[8]) {
    double s = 2.0 * sqrt(1.0 + R[0] - R[4] - R[8]);
    Q[0] = (R[7] - R[5]) / s;
    Q[1] = 0.25 * s;
    Q[2] = (R[1] + R[3]) / s;
    Q[3] = (R[2] + R[6]) / s;
  } else if (R[4] > R[8]) {
    double s = 2.0 * sqrt(1.0 + R[4] - R[0] - R[8]);
    Q[0] = (R[2] - R[6]) / s;
    Q[1] = (R[1] + R[3]) / s;
    Q[2] = 0.25 * s;
    Q[3] = (R[5] + R[7]) / s;
  } else {
    double s = 2.0 * sqrt(1.0 + R[8] - R[0] - R[4]);
    Q[0] = (R[3] - R[1]) / s;
    Q[1] = (R[2] + R[6]) / s;
    Q[2] = (R[5] + R[7]) / s;
    Q[3] = 0.25 * s;
  }
  if (Q[0] < 0) {
    for (int k = 0; k < 4; k++) {
      Q[k] = -Q[k];
    }
  }
  rb_quat_normalize(Q);
}

void dp_body_poses(const dpModel *m, const double *theta, const double *s, double *xpos,
                   double *xquat, double *scratch) {
  if (m->nb == 0) {
    return;
  }
  dpRbParams p;
  rb_params_of(m, theta, &p);
  double *xp = scratch, *xr = scratch + 3 * (size_t)m->nb;
  rb_fk(m->rb_, &p, s + dp_model_q_offset(m), xp, xr);
  if (xpos != NULL) {
    memcpy(xpos, xp, 3 * (size_t)m->nb * sizeof *xpos);
  }
  if (xquat != NULL) {
    for (int i = 0; i < m->nb; i++) {
      mat_to_quat(xquat + 4 * i, xr + 9 * i);
    }
  }
}

void adj_dp_body_positions(const dpModel *m, const double *theta, const double *s,
                           double *theta_bar, double *s_bar, const double *xpos_bar,
                           double *scratch) {
  if (m->nb == 0) {
    return;
  }
  dpRbParams p;
  dpRbParamsBar pb;
  rb_params_of(m, theta, &p);
  rb_params_bar_of(m, theta_bar, &pb);
  size_t nv = (size_t)m->nv, qo = dp_model_q_offset(m);
  double *gt = scratch, *gq = scratch + nv, *ws = scratch + 2 * nv;
  memset(gt, 0, nv * sizeof *gt);
  adj_rb_fk(m->rb_, &p, s + qo, gt, &pb, xpos_bar, NULL, ws);
  rb_qgrad_from_tangent(m->rb_, s + qo, gt, gq);
  for (int k = 0; k < m->nq; k++) {
    s_bar[qo + k] += gq[k];
  }
}

void rb_initial_state(const dpModel *m, const double *theta, double *s0) {
  if (m->nb == 0) {
    return;
  }
  double *q = s0 + dp_model_q_offset(m), *qd = s0 + dp_model_qd_offset(m);
  memcpy(q, theta + m->off.q0, (size_t)m->nq * sizeof *q);
  memcpy(qd, theta + m->off.qd0, (size_t)m->nv * sizeof *qd);
  for (int i = 0; i < m->nb; i++) {
    dpJointType jt = m->bjoint[i];
    if (jt == DP_JOINT_BALL || jt == DP_JOINT_FREE) {
      rb_quat_normalize(q + m->bqadr[i] + (jt == DP_JOINT_FREE ? 3 : 0));
    }
  }
}

// q = Q / |Q| for each quaternion: Q_bar += (I − q qᵀ) q_bar / |Q|.
void adj_rb_initial_state(const dpModel *m, const double *theta, double *theta_bar,
                          const double *s0_bar) {
  if (m->nb == 0) {
    return;
  }
  const double *qb = s0_bar + dp_model_q_offset(m), *qdb = s0_bar + dp_model_qd_offset(m);
  for (int k = 0; k < m->nv; k++) {
    theta_bar[m->off.qd0 + k] += qdb[k];
  }
  for (int i = 0; i < m->nb; i++) {
    dpJointType jt = m->bjoint[i];
    int a = m->bqadr[i], nlin = dp_joint_nq(jt);
    if (jt == DP_JOINT_BALL || jt == DP_JOINT_FREE) {
      nlin = jt == DP_JOINT_FREE ? 3 : 0;
      const double *Q = theta + m->off.q0 + a + nlin;
      const double *g = qb + a + nlin;
      double l = sqrt(Q[0] * Q[0] + Q[1] * Q[1] + Q[2] * Q[2] + Q[3] * Q[3]);
      double u[4], ug = 0;
      for (int k = 0; k < 4; k++) {
        u[k] = Q[k] / l;
        ug += u[k] * g[k];
      }
      for (int k = 0; k < 4; k++) {
        theta_bar[m->off.q0 + a + nlin + k] += (g[k] - u[k] * ug) / l;
      }
    }
    for (int k = 0; k < nlin; k++) {
      theta_bar[m->off.q0 + a + k] += qb[a + k];
    }
  }
}

dpStatus rb_state_check(const dpModel *m, int step, const double *s, dpError *err) {
  size_t qo = dp_model_q_offset(m);
  size_t n = (size_t)m->nq + (size_t)m->nv;
  double lim = m->divergence_limit;
  for (size_t k = 0; k < n; k++) {
    double a = s[qo + k];
    if (fabs(a) <= lim) {
      continue;
    }
    int vel = k >= (size_t)m->nq;
    int idx = (int)(vel ? k - (size_t)m->nq : k), body = 0;
    for (int i = 0; i < m->nb; i++) {
      if ((vel ? m->bvadr[i] : m->bqadr[i]) <= idx) {
        body = i;
      }
    }
    int comp = idx - (vel ? m->bvadr[body] : m->bqadr[body]);
    const char *q = vel ? "joint velocity qd" : "joint coordinate q";
    if (!isfinite(a)) {
      return dp_error_set(err, DP_ERR_DIVERGED, NULL, 0, 0,
                          "diverged at step %d: body '%s' %s[%d] is %s", step, m->bname[body], q,
                          comp, isnan(a) ? "nan" : "infinite");
    }
    return dp_error_set(err, DP_ERR_DIVERGED, NULL, 0, 0,
                        "diverged at step %d: body '%s' %s[%d] = %.3g exceeds the divergence "
                        "limit %.3g",
                        step, m->bname[body], q, comp, a, lim);
  }
  return DP_OK;
}

// ---- the bodies' substep ----------------------------------------------------------------------

// What the generalized-force callbacks of a step need.
typedef struct {
  const dpModel *m;
  const double *theta;
  double *theta_bar;
  int t;
  double *scratch;
} ForceCtx;

static void force_eval(void *ud, const double *q, const double *qd, double *tau) {
  const ForceCtx *c = ud;
  rb_applied_force(c->m, c->theta, c->t, q, qd, tau, c->scratch);
}

static void force_adj(void *ud, const double *q, const double *qd, double *q_bar,
                      double *qd_bar, const double *tau_bar) {
  const ForceCtx *c = ud;
  adj_rb_applied_force(c->m, c->theta, c->t, q, qd, q_bar, qd_bar, c->theta_bar, tau_bar,
                       c->scratch);
}

// Scratch: the force stage's, then the tree's, then 3 nv + nq for the adjoint's conversions.
size_t rb_step_scratch_size(const dpModel *m) {
  if (m->nb == 0) {
    return 1;
  }
  return rb_force_scratch_size(m) + rb_scratch_size(m->rb_) + 3 * (size_t)m->nv +
         (size_t)m->nq;
}

int rb_substep(const dpModel *m, const double *theta, double *scratch, int t, double h,
               const double *s, double *so) {
  if (m->nb == 0) {
    return 0;
  }
  size_t qo = dp_model_q_offset(m), vo = dp_model_qd_offset(m);
  ForceCtx c = {m, theta, NULL, t, scratch};
  dpRbForce fx = {force_eval, force_adj, &c};
  double *ws = scratch + rb_force_scratch_size(m);
  dpRbParams p;
  rb_params_of(m, theta, &p);
  if (m->integrator == DP_RK4) {
    return rb_step_rk4_ex(m->rb_, &p, s + qo, s + vo, NULL, &fx, h, so + qo, so + vo, ws);
  }
  return rb_step_euler_ex(m->rb_, &p, s + qo, s + vo, NULL, &fx, h, so + qo, so + vo, ws);
}

void adj_rb_substep(const dpModel *m, const double *theta, double *scratch, int t, double h,
                    const double *s, const double *so, double *theta_bar, double *s_bar,
                    const double *so_bar) {
  if (m->nb == 0) {
    return;
  }
  size_t qo = dp_model_q_offset(m), vo = dp_model_qd_offset(m), nv = (size_t)m->nv;
  ForceCtx c = {m, theta, theta_bar, t, scratch};
  dpRbForce fx = {force_eval, force_adj, &c};
  double *ws = scratch + rb_force_scratch_size(m);
  double *gto = ws + rb_scratch_size(m->rb_), *qb = gto + nv, *qdb = qb + nv, *gq = qdb + nv;
  dpRbParams p;
  dpRbParamsBar pb;
  rb_params_of(m, theta, &p);
  rb_params_bar_of(m, theta_bar, &pb);
  rb_tangent_from_qgrad(m->rb_, so + qo, so_bar + qo, gto);
  memset(qb, 0, 2 * nv * sizeof *qb);
  if (m->integrator == DP_RK4) {
    adj_rb_step_rk4_ex(m->rb_, &p, s + qo, s + vo, NULL, &fx, h, qb, qdb, NULL, &pb, gto,
                       so_bar + vo, ws);
  } else {
    adj_rb_step_euler_ex(m->rb_, &p, s + qo, s + vo, NULL, &fx, h, qb, qdb, NULL, &pb, gto,
                         so_bar + vo, ws);
  }
  rb_qgrad_from_tangent(m->rb_, s + qo, qb, gq);
  for (int k = 0; k < m->nq; k++) {
    s_bar[qo + k] += gq[k];
  }
  for (size_t k = 0; k < nv; k++) {
    s_bar[vo + k] += qdb[k];
  }
}
