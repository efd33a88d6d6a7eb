// One step of the particle system: substeps of explicit Euler, semi-implicit Euler or RK4 over
// the force stage (phys_forces.c), and the step's discrete adjoint. The adjoint recomputes the
// substep and RK4 stage states from the step's input (one extra force evaluation per stage),
// which is cheaper in memory than storing them for every step of the rollout.
#include <math.h>
#include <string.h>

#include "dp/dp.h"
#include "phys_fem.h"
#include "phys_integrate_kern.h"
#include "phys_rb.h"

dpData *dp_data_new(const dpModel *m, int nbatch) {
  size_t n3 = 3 * (size_t)m->np;
  size_t ns = dp_model_nstate(m);
  size_t nsub = (size_t)m->substeps + 1;
  size_t nrb = m->nb > 0 ? rb_step_scratch_size(m) : 0;
  size_t nfem = fem_scratch_size(m);
  size_t total = 2 * n3 + nsub * ns + 2 * ns + 36 * (size_t)m->np + 4 * n3 + nrb + nfem;
  dpData *d = dp_calloc(1, sizeof *d);
  double *block = dp_calloc(total > 0 ? total : 1, sizeof *block);
  if (d == NULL || block == NULL) {
    dp_free(d);
    dp_free(block);
    return NULL;
  }
  d->nbatch = nbatch < 1 ? 1 : nbatch;
  d->nstate = ns;
  d->block_ = block;
  d->f = block;
  d->fbar = d->f + n3;
  d->sub = d->fbar + n3;
  d->subbar = d->sub + nsub * ns;
  d->stage = d->subbar + 2 * ns;
  d->work = d->stage + 36 * (size_t)m->np;
  d->rb = d->work + 4 * n3;
  d->fem = d->rb + nrb;
  return d;
}

void dp_data_free(dpData *d) {
  if (d != NULL) {
    dp_free(d->block_);
    dp_free(d);
  }
}

void dp_initial_state(const dpModel *m, const double *theta, double *s0) {
  size_t n3 = 3 * (size_t)m->np;
  memcpy(s0, theta + m->off.x0, n3 * sizeof *s0);
  memcpy(s0 + n3, theta + m->off.v0, n3 * sizeof *s0);
  for (int i = 0; i < m->np; i++) {
    if (m->pinned[i]) {
      s0[n3 + 3 * i] = s0[n3 + 3 * i + 1] = s0[n3 + 3 * i + 2] = 0.0;
    }
  }
  rb_initial_state(m, theta, s0);
  if (m->nsoft > 0) {
    size_t off = dp_model_soft_offset(m), nv3 = 3 * (size_t)m->nvert;
    memcpy(s0 + off, theta + m->off.soft_x0, nv3 * sizeof *s0);
    memcpy(s0 + off + nv3, theta + m->off.soft_v0, nv3 * sizeof *s0);
    for (int i = 0; i < m->nvert; i++) {
      if (m->vpinned[i]) {
        s0[off + nv3 + 3 * i] = s0[off + nv3 + 3 * i + 1] = s0[off + nv3 + 3 * i + 2] = 0.0;
      }
    }
  }
}

void adj_dp_initial_state(const dpModel *m, const double *theta, double *theta_bar,
                          const double *s0_bar) {
  size_t n3 = 3 * (size_t)m->np;
  for (size_t k = 0; k < n3; k++) {
    theta_bar[m->off.x0 + k] += s0_bar[k];
    if (!m->pinned[k / 3]) {
      theta_bar[m->off.v0 + k] += s0_bar[n3 + k];
    }
  }
  adj_rb_initial_state(m, theta, theta_bar, s0_bar);
  if (m->nsoft > 0) {
    size_t off = dp_model_soft_offset(m), nv3 = 3 * (size_t)m->nvert;
    for (size_t k = 0; k < nv3; k++) {
      theta_bar[m->off.soft_x0 + k] += s0_bar[off + k];
      if (!m->vpinned[k / 3]) {
        theta_bar[m->off.soft_v0 + k] += s0_bar[off + nv3 + k];
      }
    }
  }
}

// ---- Euler -----------------------------------------------------------------------------------

static void euler_substep(const dpModel *m, const double *theta, dpData *d, int t, double h,
                          const double *s, double *so) {
  size_t n3 = 3 * (size_t)m->np;
  int semi = m->integrator != DP_EXPLICIT_EULER;
  dp_forces(m, theta, t, s, s + n3, d->f);
  for (int i = 0; i < m->np; i++) {
    euler_update(so + 3 * i, so + n3 + 3 * i, semi, h, theta[m->off.mass + i], m->pinned[i],
                 s + 3 * i, s + n3 + 3 * i, d->f + 3 * i);
  }
}

static void adj_euler_substep(const dpModel *m, const double *theta, dpData *d, int t, double h,
                              const double *s, const double *so, double *theta_bar,
                              double *s_bar, const double *so_bar) {
  size_t n3 = 3 * (size_t)m->np;
  int semi = m->integrator != DP_EXPLICIT_EULER;
  memset(d->fbar, 0, n3 * sizeof *d->fbar);
  for (int i = 0; i < m->np; i++) {
    adj_euler_update(semi, h, theta[m->off.mass + i], m->pinned[i], s + n3 + 3 * i,
                     so + n3 + 3 * i, theta_bar + m->off.mass + i, s_bar + 3 * i,
                     s_bar + n3 + 3 * i, d->fbar + 3 * i, so_bar + 3 * i, so_bar + n3 + 3 * i);
  }
  adj_dp_forces(m, theta, t, s, s + n3, theta_bar, s_bar, s_bar + n3, d->fbar);
}

// ---- RK4 -------------------------------------------------------------------------------------
// Stage j (0..3) keeps x_j, v_j, f_j in d->stage: y_0 = y, y_j = y + α_j k_{j-1} with
// α = (h/2, h/2, h), k_j = (v_j, f_j / m), y' = y + h/6 (k_0 + 2 k_1 + 2 k_2 + k_3).

static void rk4_stages(const dpModel *m, const double *theta, dpData *d, int t, double h,
                       const double *s) {
  size_t n3 = 3 * (size_t)m->np;
  const double alpha[4] = {0.0, 0.5 * h, 0.5 * h, h};
  for (int j = 0; j < 4; j++) {
    double *xj = d->stage + (size_t)(3 * j) * n3;
    double *vj = xj + n3;
    double *fj = vj + n3;
    if (j == 0) {
      memcpy(xj, s, n3 * sizeof *xj);
      memcpy(vj, s + n3, n3 * sizeof *vj);
    } else {
      const double *xp = d->stage + (size_t)(3 * (j - 1)) * n3;
      const double *vp = xp + n3, *fp = vp + n3;
      for (int i = 0; i < m->np; i++) {
        size_t i3 = 3 * (size_t)i;
        rk4_stage(xj + i3, vj + i3, m->pinned[i] ? 0.0 : alpha[j], theta[m->off.mass + i],
                  s + i3, s + n3 + i3, vp + i3, fp + i3);
      }
    }
    dp_forces(m, theta, t, xj, vj, fj);
  }
}

static void rk4_substep(const dpModel *m, const double *theta, dpData *d, int t, double h,
                        const double *s, double *so) {
  size_t n3 = 3 * (size_t)m->np;
  rk4_stages(m, theta, d, t, h, s);
  const double w[4] = {h / 6, h / 3, h / 3, h / 6};
  for (int i = 0; i < m->np; i++) {
    size_t i3 = 3 * (size_t)i;
    const double *vs[4], *fs[4];
    for (int j = 0; j < 4; j++) {
      vs[j] = d->stage + (size_t)(3 * j + 1) * n3 + i3;
      fs[j] = vs[j] + n3;
    }
    rk4_combine(so + i3, so + n3 + i3, w, theta[m->off.mass + i], m->pinned[i], s + i3,
                s + n3 + i3, vs, fs);
  }
}

static void adj_rk4_substep(const dpModel *m, const double *theta, dpData *d, int t, double h,
                            const double *s, double *theta_bar, double *s_bar,
                            const double *so_bar) {
  size_t n3 = 3 * (size_t)m->np;
  rk4_stages(m, theta, d, t, h, s);
  const double w[4] = {h / 6, h / 3, h / 3, h / 6};
  const double alpha[4] = {0.0, 0.5 * h, 0.5 * h, h};
  double *kxb = d->work;       // adjoint of k_j (position part)
  double *kvb = kxb + n3;      // adjoint of k_j (velocity part)
  double *yxb = kvb + n3;      // adjoint of y_j
  double *yvb = yxb + n3;
  for (size_t k = 0; k < 2 * n3; k++) {
    s_bar[k] += so_bar[k];
  }
  for (size_t k = 0; k < n3; k++) {
    kxb[k] = w[3] * so_bar[k];
    kvb[k] = w[3] * so_bar[n3 + k];
  }
  for (int j = 3; j >= 0; j--) {
    const double *xj = d->stage + (size_t)(3 * j) * n3;
    const double *vj = xj + n3, *fj = vj + n3;
    memset(yxb, 0, 2 * n3 * sizeof *yxb);
    memset(d->fbar, 0, n3 * sizeof *d->fbar);
    // k_j = (v_j, f_j / m); a pinned particle's slope is zero.
    for (int i = 0; i < m->np; i++) {
      size_t i3 = 3 * (size_t)i;
      if (!m->pinned[i]) {
        adj_rk4_slope(theta[m->off.mass + i], fj + i3, theta_bar + m->off.mass + i, yvb + i3,
                      d->fbar + i3, kxb + i3, kvb + i3);
      }
    }
    adj_dp_forces(m, theta, t, xj, vj, theta_bar, yxb, yvb, d->fbar);
    for (size_t k = 0; k < 2 * n3; k++) {
      s_bar[k] += yxb[k];
    }
    if (j == 0) {
      break;
    }
    // y_j = y + α_j k_{j-1}: the adjoint of k_{j-1} gets α_j ȳ_j plus its own weight.
    for (int i = 0; i < m->np; i++) {
      for (int c = 0; c < 3; c++) {
        size_t k = 3 * (size_t)i + c;
        kxb[k] = w[j - 1] * so_bar[k] + alpha[j] * yxb[k];
        kvb[k] = w[j - 1] * so_bar[n3 + k] + alpha[j] * yvb[k];
      }
    }
  }
}

// ---- step ------------------------------------------------------------------------------------

// The particles and the bodies do not interact: each part of the state steps on its own.
static void substep(const dpModel *m, const double *theta, dpData *d, int t, double h,
                    const double *s, double *so) {
  if (m->integrator == DP_RK4) {
    rk4_substep(m, theta, d, t, h, s, so);
  } else {
    euler_substep(m, theta, d, t, h, s, so);
  }
  if (m->nb > 0 && rb_substep(m, theta, d->rb, t, h, s, so) != 0) {
    // A joint-space inertia lost positive definiteness: poison the bodies' state so that the
    // divergence check stops the run and names the body.
    size_t qo = dp_model_q_offset(m);
    for (size_t k = 0; k < (size_t)m->nq + (size_t)m->nv; k++) {
      so[qo + k] = NAN;
    }
  }
  if (m->nsoft > 0) {
    fem_substep(m, theta, d, t, h, s, so);
  }
}

static void adj_substep(const dpModel *m, const double *theta, dpData *d, int t, double h,
                        const double *s, const double *so, double *theta_bar, double *s_bar,
                        const double *so_bar) {
  if (m->integrator == DP_RK4) {
    adj_rk4_substep(m, theta, d, t, h, s, theta_bar, s_bar, so_bar);
  } else {
    adj_euler_substep(m, theta, d, t, h, s, so, theta_bar, s_bar, so_bar);
  }
  if (m->nb > 0) {
    adj_rb_substep(m, theta, d->rb, t, h, s, so, theta_bar, s_bar, so_bar);
  }
  if (m->nsoft > 0) {
    adj_fem_substep(m, theta, d, t, h, s, so, theta_bar, s_bar, so_bar);
  }
}

void dp_step(const dpModel *m, const double *theta, dpData *d, int t, const double *s_in,
             double *s_out) {
  double h = m->dt / m->substeps;
  size_t ns = d->nstate;
  const double *cur = s_in;
  if (m->nsoft > 0) {
    fem_prepare(m, theta, d->fem);
  }
  for (int k = 0; k < m->substeps; k++) {
    double *next = k == m->substeps - 1 ? s_out : d->sub + (size_t)(k + 1) * ns;
    substep(m, theta, d, t, h, cur, next);
    cur = next;
  }
}

static void adj_substeps(const dpModel *m, const double *theta, dpData *d, int t, double h,
                         const double *s_in, const double *s_out, double *theta_bar,
                         double *s_in_bar, const double *s_out_bar);

void adj_dp_step(const dpModel *m, const double *theta, dpData *d, int t, const double *s_in,
                 const double *s_out, double *theta_bar, double *s_in_bar,
                 const double *s_out_bar) {
  double h = m->dt / m->substeps;
  size_t ns = d->nstate;
  int nsub = m->substeps;
  if (m->nsoft > 0) {
    fem_prepare(m, theta, d->fem);
    fem_prepare_bar_clear(m, d->fem);
  }
  // Recompute the intermediate substep states sub[1 .. nsub-1], and the output into sub[nsub]
  // when the caller does not have it.
  const double *cur = s_in;
  for (int k = 0; k < nsub - 1; k++) {
    double *next = d->sub + (size_t)(k + 1) * ns;
    substep(m, theta, d, t, h, cur, next);
    cur = next;
  }
  if (s_out == NULL) {
    double *out = d->sub + (size_t)nsub * ns;
    substep(m, theta, d, t, h, cur, out);
    s_out = out;
  }
  if (nsub == 1) {
    adj_substep(m, theta, d, t, h, s_in, s_out, theta_bar, s_in_bar, s_out_bar);
  } else {
    adj_substeps(m, theta, d, t, h, s_in, s_out, theta_bar, s_in_bar, s_out_bar);
  }
  if (m->nsoft > 0) {
    adj_fem_prepare(m, theta, theta_bar, d->fem);
  }
}

// The substeps' adjoint in reverse, for more than one substep.
static void adj_substeps(const dpModel *m, const double *theta, dpData *d, int t, double h,
                         const double *s_in, const double *s_out, double *theta_bar,
                         double *s_in_bar, const double *s_out_bar) {
  size_t ns = d->nstate;
  int nsub = m->substeps;
  double *a = d->subbar, *b = d->subbar + ns;
  memcpy(a, s_out_bar, ns * sizeof *a);
  for (int k = nsub - 1; k >= 1; k--) {
    memset(b, 0, ns * sizeof *b);
    const double *so = k == nsub - 1 ? s_out : d->sub + (size_t)(k + 1) * ns;
    adj_substep(m, theta, d, t, h, d->sub + (size_t)k * ns, so, theta_bar, b, a);
    double *tmp = a;
    a = b;
    b = tmp;
  }
  adj_substep(m, theta, d, t, h, s_in, nsub > 1 ? d->sub + ns : s_out, theta_bar, s_in_bar, a);
}

void dp_step_batch(const dpModel *m, const double *theta, size_t theta_stride, dpData *d, int t,
                   const double *s_in, double *s_out) {
  size_t ns = d->nstate;
  for (int b = 0; b < d->nbatch; b++) {
    dp_step(m, theta + (size_t)b * theta_stride, d, t, s_in + (size_t)b * ns,
            s_out + (size_t)b * ns);
  }
}

dpStatus dp_state_check(const dpModel *m, int step, const double *s, dpError *err) {
  if (m->nsoft > 0) {
    dpStatus st = fem_state_check(m, step, s, err);
    if (st != DP_OK) {
      return st;
    }
  }
  if (m->nb > 0) {
    dpStatus st = rb_state_check(m, step, s, err);
    if (st != DP_OK) {
      return st;
    }
  }
  size_t n3 = 3 * (size_t)m->np;
  double lim = m->divergence_limit;
  for (size_t k = 0; k < 2 * n3; k++) {
    double a = s[k];
    if (!(fabs(a) <= lim)) {
      size_t i = (k % n3) / 3;
      const char *q = k < n3 ? "position" : "velocity";
      if (!isfinite(a)) {
        return dp_error_set(err, DP_ERR_DIVERGED, NULL, 0, 0,
                            "diverged at step %d: particle '%s' %s %c is %s", step,
                            m->pname[i], q, "xyz"[k % 3], isnan(a) ? "nan" : "infinite");
      }
      return dp_error_set(err, DP_ERR_DIVERGED, NULL, 0, 0,
                          "diverged at step %d: particle '%s' %s %c = %.3g exceeds the "
                          "divergence limit %.3g",
                          step, m->pname[i], q, "xyz"[k % 3], a, lim);
    }
  }
  return DP_OK;
}
