// Articulated rigid-body trees (lib/rb_tree.c): inverse and forward dynamics agree on random
// mixed trees, the CRBA mass matrix against RNEA columns, the LTDL solve, gradient checks of every
// adjoint (RNEA, forward dynamics, manifold integration, whole Euler and RK4 rollouts) against
// central differences on the manifold, and closed-form physics (pendulum period, energy and
// momentum conservation).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "rb_spatial_kern.h"
#include "rb_tree.h"
#include "testutil.h"

#define MAXB 12
#define MAXV (6 * MAXB)
#define MAXQ (7 * MAXB)
#define MAXTH (16 * MAXB + 2 * MAXV + 3)

// A tree with its parameters packed in one vector θ (so a finite-difference loop can walk it) and
// a scratch buffer.
typedef struct rbModel {
  dpRbTree *t;
  double th[MAXTH];
  int nth;
  int off[8];  // offsets of mass, com, inertia, jpos, damping, armature, gravity, end
  dpRbParams p;
  double *ws;
} rbModel;

static const char *GROUP[7] = {"mass", "com", "inertia", "jpos", "damping", "armature", "gravity"};

static void params_bind(const rbModel *m, double *th, dpRbParams *p) {
  p->mass = th + m->off[0];
  p->com = th + m->off[1];
  p->inertia = th + m->off[2];
  p->jpos = th + m->off[3];
  p->damping = th + m->off[4];
  p->armature = th + m->off[5];
  p->gravity = th + m->off[6];
}

static void params_bar_bind(const rbModel *m, double *thb, dpRbParamsBar *p) {
  p->mass = thb + m->off[0];
  p->com = thb + m->off[1];
  p->inertia = thb + m->off[2];
  p->jpos = thb + m->off[3];
  p->damping = thb + m->off[4];
  p->armature = thb + m->off[5];
  p->gravity = thb + m->off[6];
}

static void model_init(rbModel *m, int nb, const int *parent, const int *jtype,
                       const double *axis) {
  memset(m, 0, sizeof *m);
  dpError err = {0};
  ck_assert_int_eq(rb_tree_create(nb, parent, jtype, axis, &m->t, &err), DP_OK);
  int nv = m->t->nv;
  int sizes[7] = {nb, 3 * nb, 6 * nb, 3 * nb, nv, nv, 3};
  m->off[0] = 0;
  for (int g = 0; g < 7; g++) {
    m->off[g + 1] = m->off[g] + sizes[g];
  }
  m->nth = m->off[7];
  ck_assert_int_le(m->nth, MAXTH);
  params_bind(m, m->th, &m->p);
  m->ws = malloc(rb_scratch_size(m->t) * sizeof *m->ws);
  ck_assert_ptr_nonnull(m->ws);
}

static void model_free(rbModel *m) {
  rb_tree_free(m->t);
  free(m->ws);
}

// Random physical parameters: masses 0.5–2 kg, inertias positive definite, link offsets of a few
// tenths of a metre, gravity near (0, 0, -9.81).
static void model_random_params(rbModel *m, tu_rng *r, double damp, double arm) {
  int nb = m->t->nb, nv = m->t->nv;
  double *th = m->th;
  for (int i = 0; i < nb; i++) {
    th[m->off[0] + i] = tu_uniform(r, 0.5, 2.0);
    for (int c = 0; c < 3; c++) {
      th[m->off[1] + 3 * i + c] = tu_uniform(r, -0.2, 0.2);
      th[m->off[2] + 6 * i + c] = tu_uniform(r, 0.05, 0.3);
      th[m->off[2] + 6 * i + 3 + c] = tu_uniform(r, -0.02, 0.02);
      th[m->off[3] + 3 * i + c] = tu_uniform(r, -0.4, 0.4);
    }
  }
  for (int k = 0; k < nv; k++) {
    th[m->off[4] + k] = damp * tu_uniform(r, 0.5, 1.5);
    th[m->off[5] + k] = arm * tu_uniform(r, 0.5, 1.5);
  }
  th[m->off[6]] = tu_uniform(r, -0.5, 0.5);
  th[m->off[6] + 1] = tu_uniform(r, -0.5, 0.5);
  th[m->off[6] + 2] = -9.81 + tu_uniform(r, -0.5, 0.5);
}

static void random_unit(tu_rng *r, double *a) {
  double n;
  do {
    for (int c = 0; c < 3; c++) {
      a[c] = tu_uniform(r, -1, 1);
    }
    n = dp_norm3(a);
  } while (n < 0.2 || n > 1);
  for (int c = 0; c < 3; c++) {
    a[c] /= n;
  }
}

// A random tree of nb bodies: random parents, random joint types (body 0 free when root_free).
static void model_random(rbModel *m, tu_rng *r, int nb, int root_free) {
  int parent[MAXB], jtype[MAXB];
  double axis[3 * MAXB];
  for (int i = 0; i < nb; i++) {
    parent[i] = i == 0 ? -1 : (int)floor(tu_uniform(r, -1, i - 1e-9));
    if (parent[i] < -1) {
      parent[i] = -1;
    }
    int ty = (int)floor(tu_uniform(r, 0, 5 - 1e-9));
    jtype[i] = (i == 0 && root_free) ? DP_RB_FREE : ty;
    random_unit(r, axis + 3 * i);
  }
  model_init(m, nb, parent, jtype, axis);
}

// The fixed mixed tree of the gradient checks: every joint type, a branch, a fixed body in a
// chain, a ball below a revolute, a free body not at the root of the array.
static void model_mixed(rbModel *m, tu_rng *r) {
  int parent[9] = {-1, 0, 1, 0, 3, 4, 0, 6, -1};
  int jtype[9] = {DP_RB_FREE, DP_RB_REVOLUTE, DP_RB_BALL,     DP_RB_PRISMATIC, DP_RB_FIXED,
                  DP_RB_REVOLUTE, DP_RB_BALL, DP_RB_REVOLUTE, DP_RB_FREE};
  double axis[27];
  for (int i = 0; i < 9; i++) {
    random_unit(r, axis + 3 * i);
  }
  model_init(m, 9, parent, jtype, axis);
  model_random_params(m, r, 0.3, 0.05);
}

// A random configuration (random unit quaternions) and a random vector of size n.
static void random_q(const dpRbTree *t, tu_rng *r, double *q) {
  for (int k = 0; k < t->nq; k++) {
    q[k] = tu_uniform(r, -1, 1);
  }
  for (int i = 0; i < t->nb; i++) {
    int o = t->qadr[i] + (t->jtype[i] == DP_RB_FREE ? 3 : 0);
    if (t->jtype[i] == DP_RB_BALL || t->jtype[i] == DP_RB_FREE) {
      rb_quat_normalize(q + o);
    }
  }
}

static void random_vec(tu_rng *r, double *x, int n, double s) {
  for (int k = 0; k < n; k++) {
    x[k] = tu_uniform(r, -s, s);
  }
}

// ---- tree description -----------------------------------------------------------------------

START_TEST(test_tree_layout) {
  int parent[5] = {-1, 0, 1, 0, 3};
  int jtype[5] = {DP_RB_FREE, DP_RB_FIXED, DP_RB_BALL, DP_RB_REVOLUTE, DP_RB_PRISMATIC};
  double axis[15] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0};
  dpRbTree *t = NULL;
  dpError err = {0};
  ck_assert_int_eq(rb_tree_create(5, parent, jtype, axis, &t, &err), DP_OK);
  ck_assert_int_eq(t->nq, 7 + 4 + 1 + 1);
  ck_assert_int_eq(t->nv, 6 + 3 + 1 + 1);
  ck_assert_int_eq(t->qadr[2], 7);
  ck_assert_int_eq(t->vadr[3], 9);
  // the ball's first dof hangs below the free joint's last (the fixed body has none)
  ck_assert_int_eq(t->dof_parent[6], 5);
  ck_assert_int_eq(t->dof_parent[0], -1);
  ck_assert_int_eq(t->dof_parent[9], 5);
  ck_assert_int_eq(t->dof_parent[10], 9);
  ck_assert_double_eq_tol(t->axis[3 * 3 + 2], 1.0, 1e-15);  // normalized
  rb_tree_free(t);
  int bad_parent[2] = {-1, 1};
  int jt2[2] = {DP_RB_BALL, DP_RB_BALL};
  ck_assert_int_eq(rb_tree_create(2, bad_parent, jt2, NULL, &t, &err), DP_ERR_INVALID);
  ck_assert_ptr_nonnull(strstr(err.message, "rigid body 1"));
  dp_error_clear(&err);
  int jt3[1] = {DP_RB_REVOLUTE};
  double ax0[3] = {0, 0, 0};
  ck_assert_int_eq(rb_tree_create(1, parent, jt3, ax0, &t, &err), DP_ERR_INVALID);
  ck_assert_ptr_nonnull(strstr(err.message, "axis"));
}
END_TEST

START_TEST(test_quat_helpers) {
  tu_rng r = {99};
  for (int trial = 0; trial < 20; trial++) {
    double Q[4], g[3], gq[4], back[3], th[3];
    for (int k = 0; k < 4; k++) {
      Q[k] = tu_uniform(&r, -1, 1);
    }
    rb_quat_normalize(Q);
    random_vec(&r, g, 3, 1);
    rb_quat_grad_from_tangent(gq, Q, g);
    rb_quat_tangent_from_grad(back, Q, gq);
    ck_assert_double_eq_tol(dp_dot3(gq, gq) + gq[3] * gq[3] - 4 * dp_dot3(g, g), 0, 1e-12);
    for (int c = 0; c < 3; c++) {
      ck_assert_double_eq_tol(back[c], g[c], 1e-14);
    }
    // exp of a rotation vector: quaternion and Rodrigues give the same matrix
    random_vec(&r, th, 3, trial < 10 ? 2.0 : 1e-5);
    double E[4], R1[9], R2[9];
    rb_quat_exp(E, th);
    rb_quat_to_mat(R1, E);
    rb_so3_exp(R2, th);
    for (int k = 0; k < 9; k++) {
      ck_assert_double_eq_tol(R1[k], R2[k], 1e-14);
    }
  }
}
END_TEST

// ---- inverse and forward dynamics -----------------------------------------------------------

START_TEST(test_rnea_inverts_fd) {
  tu_rng r = {2024};
  double maxerr = 0;
  for (int trial = 0; trial < 40; trial++) {
    rbModel m;
    model_random(&m, &r, 2 + trial % 10, trial % 2);
    model_random_params(&m, &r, trial % 3 == 0 ? 0.0 : 0.4, trial % 4 == 0 ? 0.0 : 0.1);
    const dpRbTree *t = m.t;
    double q[MAXQ], qd[MAXV], tau[MAXV], qdd[MAXV], tau2[MAXV];
    random_q(t, &r, q);
    random_vec(&r, qd, t->nv, 2);
    random_vec(&r, tau, t->nv, 5);
    ck_assert_int_eq(rb_forward_dynamics(t, &m.p, q, qd, tau, qdd, m.ws), 0);
    rb_rnea(t, &m.p, q, qd, qdd, tau2, m.ws);
    double s = 1;
    for (int k = 0; k < t->nv; k++) {
      s = fmax(s, fabs(tau[k]));
    }
    for (int k = 0; k < t->nv; k++) {
      double e = fabs(tau2[k] - tau[k]) / s;
      maxerr = fmax(maxerr, e);
      ck_assert_msg(e < 1e-12, "trial %d dof %d: RNEA(FD(tau)) %.15g vs tau %.15g", trial, k,
                    tau2[k], tau[k]);
    }
    model_free(&m);
  }
  printf("rb: RNEA(q, qd, FD(q, qd, tau)) = tau: max relative error %.2e\n", maxerr);
}
END_TEST

START_TEST(test_crba_matches_rnea) {
  tu_rng r = {31337};
  double maxerr = 0, maxres = 0;
  for (int trial = 0; trial < 30; trial++) {
    rbModel m;
    model_random(&m, &r, 2 + trial % 10, trial % 2);
    model_random_params(&m, &r, 0.3, trial % 2 == 0 ? 0.0 : 0.1);
    const dpRbTree *t = m.t;
    int nv = t->nv;
    double q[MAXQ], qd[MAXV], b0[MAXV], col[MAXV], e[MAXV];
    double *M = malloc((size_t)nv * nv * sizeof *M), *LD = malloc((size_t)nv * nv * sizeof *M);
    random_q(t, &r, q);
    random_vec(&r, qd, nv, 2);
    rb_crba(t, &m.p, q, M, m.ws);
    rb_rnea(t, &m.p, q, NULL, NULL, b0, m.ws);
    double s = 0;
    for (int k = 0; k < nv * nv; k++) {
      s = fmax(s, fabs(M[k]));
    }
    for (int j = 0; j < nv; j++) {
      memset(e, 0, sizeof e);
      e[j] = 1;
      rb_rnea(t, &m.p, q, NULL, e, col, m.ws);
      for (int i = 0; i < nv; i++) {
        double d = fabs(M[i * nv + j] - (col[i] - b0[i])) / s;
        maxerr = fmax(maxerr, d);
        ck_assert_msg(d < 1e-12, "trial %d M[%d][%d] %.15g vs RNEA %.15g", trial, i, j,
                      M[i * nv + j], col[i] - b0[i]);
        ck_assert_double_eq(M[i * nv + j], M[j * nv + i]);  // symmetric by construction
      }
    }
    // Positive definite: every LTDL pivot > 0, and qdᵀ M qd is twice the kinetic energy.
    memcpy(LD, M, (size_t)nv * nv * sizeof *M);
    ck_assert_int_eq(rb_ltdl(t, LD), 0);
    double ke, pe, qMq = 0;
    rb_energy(t, &m.p, q, qd, &ke, &pe, m.ws);
    for (int i = 0; i < nv; i++) {
      ck_assert(LD[i * nv + i] > 0);
      for (int j = 0; j < nv; j++) {
        qMq += qd[i] * M[i * nv + j] * qd[j];
      }
    }
    ck_assert_msg(fabs(0.5 * qMq - ke) <= 1e-12 * ke, "kinetic %.15g vs ½ qd M qd %.15g", ke,
                  0.5 * qMq);
    // Solve residual.
    double b[MAXV], x[MAXV];
    random_vec(&r, b, nv, 1);
    memcpy(x, b, (size_t)nv * sizeof *b);
    rb_ltdl_solve(t, LD, x);
    double bn = 0;
    for (int i = 0; i < nv; i++) {
      double Mx = 0;
      for (int j = 0; j < nv; j++) {
        Mx += M[i * nv + j] * x[j];
      }
      bn = fmax(bn, fabs(b[i]));
      maxres = fmax(maxres, fabs(Mx - b[i]));
    }
    ck_assert_msg(maxres < 1e-12 * bn * 1e3, "LTDL residual %.3e", maxres);
    free(M);
    free(LD);
    model_free(&m);
  }
  printf("rb: CRBA vs RNEA columns: max relative error %.2e; LTDL solve residual %.2e\n", maxerr,
         maxres);
}
END_TEST

// The articulated-body algorithm of rb_forward_dynamics against the reference route it replaced,
// qdd = M⁻¹ (tau − RNEA(q, qd, 0)) with M from CRBA and the sparse LTDL solve; and its O(nb)
// M⁻¹ solve (used by adj_rb_forward_dynamics: tau_bar += M⁻¹ qdd_bar) against rb_ltdl_solve.
// A massless body on a revolute joint without armature must be reported (1 + its dof).
START_TEST(test_aba_matches_crba) {
  tu_rng r = {8080};
  double maxfd = 0, maxsolve = 0;
  for (int trial = 0; trial < 60; trial++) {
    rbModel m;
    model_random(&m, &r, 1 + trial % 12, trial % 2);
    model_random_params(&m, &r, trial % 3 == 0 ? 0.0 : 0.4, trial % 4 == 0 ? 0.0 : 0.1);
    const dpRbTree *t = m.t;
    int nv = t->nv;
    if (nv == 0) {
      model_free(&m);
      continue;
    }
    double q[MAXQ], qd[MAXV], tau[MAXV], qdd[MAXV], x[MAXV], b[MAXV];
    double *M = malloc((size_t)nv * nv * sizeof *M);
    random_q(t, &r, q);
    random_vec(&r, qd, nv, 2);
    random_vec(&r, tau, nv, 5);
    ck_assert_int_eq(rb_forward_dynamics(t, &m.p, q, qd, tau, qdd, m.ws), 0);
    rb_rnea(t, &m.p, q, qd, NULL, b, m.ws);
    rb_crba(t, &m.p, q, M, m.ws);
    ck_assert_int_eq(rb_ltdl(t, M), 0);
    for (int k = 0; k < nv; k++) {
      x[k] = tau[k] - b[k];
    }
    rb_ltdl_solve(t, M, x);
    double s = 0;
    for (int k = 0; k < nv; k++) {
      s = fmax(s, fabs(x[k]));
    }
    for (int k = 0; k < nv; k++) {
      double e = fabs(qdd[k] - x[k]) / s;
      maxfd = fmax(maxfd, e);
      ck_assert_msg(e < 1e-12, "trial %d dof %d: ABA %.15g vs CRBA+LTDL %.15g", trial, k, qdd[k],
                    x[k]);
    }
    // The solve: tau_bar of the forward-dynamics adjoint is M⁻¹ qdd_bar.
    double gq[MAXV] = {0}, gqd[MAXV] = {0}, gtau[MAXV] = {0}, gth[MAXTH] = {0};
    dpRbParamsBar pb;
    params_bar_bind(&m, gth, &pb);
    random_vec(&r, b, nv, 1);
    for (int k = 0; k < nv; k++) {
      x[k] = b[k];
    }
    rb_ltdl_solve(t, M, x);
    adj_rb_forward_dynamics(t, &m.p, q, qd, tau, qdd, gq, gqd, gtau, &pb, b, m.ws);
    s = 0;
    for (int k = 0; k < nv; k++) {
      s = fmax(s, fabs(x[k]));
    }
    for (int k = 0; k < nv; k++) {
      double e = fabs(gtau[k] - x[k]) / s;
      maxsolve = fmax(maxsolve, e);
      ck_assert_msg(e < 1e-12, "trial %d dof %d: ABA solve %.15g vs LTDL %.15g", trial, k,
                    gtau[k], x[k]);
    }
    free(M);
    model_free(&m);
  }
  printf("rb: ABA vs CRBA+LTDL forward dynamics: max relative error %.2e; M⁻¹ b %.2e\n", maxfd,
         maxsolve);
  // Not positive definite: body 1 (revolute, dof 3 after the ball's 0..2) has no mass.
  int parent[2] = {-1, 0}, jtype[2] = {DP_RB_BALL, DP_RB_REVOLUTE};
  double axis[6] = {0, 0, 1, 0, 0, 1};
  rbModel m;
  model_init(&m, 2, parent, jtype, axis);
  model_random_params(&m, &r, 0.0, 0.0);
  m.th[m.off[0] + 1] = 0.0;
  for (int c = 0; c < 6; c++) {
    m.th[m.off[2] + 6 + c] = 0.0;
  }
  double q[MAXQ], qd[MAXV] = {0}, tau[MAXV] = {0}, qdd[MAXV];
  rb_q_neutral(m.t, q);
  ck_assert_int_eq(rb_forward_dynamics(m.t, &m.p, q, qd, tau, qdd, m.ws), 1 + 3);
  model_free(&m);
}
END_TEST

// ---- gradient checks ------------------------------------------------------------------------

// A scalar loss of (q, qd, u, θ) and its adjoint gradient (gq: tangent, nv; gqd: nv; gu: nu; gth).
typedef struct gradProblem {
  rbModel *m;
  int nu;
  double (*loss)(struct gradProblem *g, const double *q, const double *qd, const double *u,
                 const dpRbParams *p);
  const double *wq, *wv, *wu;  // random loss weights
  int steps;                   // rollouts
  double h;
  int rk4;
} gradProblem;

// Max relative error per group: q, qd, u, then the 7 parameter groups.
typedef struct gradReport {
  double rel[10];
} gradReport;

static double loss_at(gradProblem *g, const double *q, const double *qd, const double *u,
                      const double *th) {
  dpRbParams p;
  params_bind(g->m, (double *)th, &p);
  return g->loss(g, q, qd, u, &p);
}

// Central differences at h and h/2 combined by Richardson extrapolation (error O(h⁴)) along each
// coordinate; q is stepped on the manifold, q ⊕ ±h e_k.
static void check_grad(gradProblem *g, const char *name, const double *q, const double *qd,
                       const double *u, const double *gq, const double *gqd, const double *gu,
                       const double *gth, double tol, gradReport *rep) {
  rbModel *m = g->m;
  const dpRbTree *t = m->t;
  int nv = t->nv;
  double qx[MAXQ], dv[MAXV], v[MAXV], th[MAXTH];
  double *uu = malloc((size_t)(g->nu > 0 ? g->nu : 1) * sizeof *uu);
  memset(rep, 0, sizeof *rep);
  int ngroups = 3 + 7;
  for (int grp = 0; grp < ngroups; grp++) {
    int n = grp == 0 ? nv : grp == 1 ? nv : grp == 2 ? g->nu : m->off[grp - 2] - m->off[grp - 3];
    for (int k = 0; k < n; k++) {
      double x0 = grp == 0 ? 0.0
                  : grp == 1 ? qd[k]
                  : grp == 2 ? u[k]
                             : m->th[m->off[grp - 3] + k];
      double an = grp == 0   ? gq[k]
                  : grp == 1 ? gqd[k]
                  : grp == 2 ? gu[k]
                             : gth[m->off[grp - 3] + k];
      double hstep = 1e-4 * fmax(1e-1, fabs(x0));
      double d[2], lmax = 0;
      for (int rr = 0; rr < 2; rr++) {
        double hr = rr == 0 ? hstep : 0.5 * hstep;
        double l[2];
        for (int sgn = 0; sgn < 2; sgn++) {
          double e = sgn == 0 ? hr : -hr;
          memcpy(qx, q, (size_t)t->nq * sizeof *qx);
          memcpy(v, qd, (size_t)nv * sizeof *v);
          if (g->nu > 0) {
            memcpy(uu, u, (size_t)g->nu * sizeof *uu);
          }
          memcpy(th, m->th, (size_t)m->nth * sizeof *th);
          if (grp == 0) {
            memset(dv, 0, sizeof dv);
            dv[k] = e;
            rb_retract(t, q, dv, qx);
          } else if (grp == 1) {
            v[k] += e;
          } else if (grp == 2) {
            uu[k] += e;
          } else {
            th[m->off[grp - 3] + k] += e;
          }
          l[sgn] = loss_at(g, qx, v, uu, th);
          lmax = fmax(lmax, fabs(l[sgn]));
        }
        d[rr] = (l[0] - l[1]) / (2 * hr);
      }
      double fd = (4 * d[1] - d[0]) / 3;
      double floor_ = fmax(1e-10, 1e3 * 2.2e-16 * lmax / hstep);
      char what[64];
      snprintf(what, sizeof what, "%s/%s", name,
               grp == 0 ? "q" : grp == 1 ? "qd" : grp == 2 ? "u" : GROUP[grp - 3]);
      ck_assert_msg(isfinite(an), "%s[%d]: adjoint not finite", what, k);
      TU_ASSERT_GRAD(what, k, an, fd, tol, floor_);
      double s = fmax(fabs(an), fabs(fd));
      if (s > 1e3 * floor_) {
        rep->rel[grp] = fmax(rep->rel[grp], fabs(an - fd) / s);
      }
    }
  }
  free(uu);
}

static void print_report(const char *name, const gradReport *rep) {
  printf("rb: %-14s max rel. gradient error: q %.1e qd %.1e u %.1e", name, rep->rel[0],
         rep->rel[1], rep->rel[2]);
  for (int g = 0; g < 7; g++) {
    printf(" %s %.1e", GROUP[g], rep->rel[3 + g]);
  }
  printf("\n");
}

static double loss_rnea(gradProblem *g, const double *q, const double *qd, const double *u,
                        const dpRbParams *p) {
  double tau[MAXV];
  rb_rnea(g->m->t, p, q, qd, u, tau, g->m->ws);
  double l = 0;
  for (int k = 0; k < g->m->t->nv; k++) {
    l += g->wv[k] * tau[k];
  }
  return l;
}

START_TEST(test_rnea_gradient) {
  tu_rng r = {4242};
  rbModel m;
  model_mixed(&m, &r);
  const dpRbTree *t = m.t;
  int nv = t->nv;
  double q[MAXQ], qd[MAXV], qdd[MAXV], w[MAXV];
  random_q(t, &r, q);
  random_vec(&r, qd, nv, 2);
  random_vec(&r, qdd, nv, 3);
  random_vec(&r, w, nv, 1);
  double gq[MAXV] = {0}, gqd[MAXV] = {0}, gqdd[MAXV] = {0}, gth[MAXTH] = {0};
  dpRbParamsBar pb;
  params_bar_bind(&m, gth, &pb);
  adj_rb_rnea(t, &m.p, q, qd, qdd, gq, gqd, gqdd, &pb, w, m.ws);
  gradProblem g = {&m, nv, loss_rnea, NULL, w, NULL, 0, 0, 0};
  gradReport rep;
  check_grad(&g, "rnea", q, qd, qdd, gq, gqd, gqdd, gth, 1e-6, &rep);
  print_report("rnea", &rep);
  model_free(&m);
}
END_TEST

static double loss_fd(gradProblem *g, const double *q, const double *qd, const double *u,
                      const dpRbParams *p) {
  double qdd[MAXV];
  ck_assert_int_eq(rb_forward_dynamics(g->m->t, p, q, qd, u, qdd, g->m->ws), 0);
  double l = 0;
  for (int k = 0; k < g->m->t->nv; k++) {
    l += g->wv[k] * qdd[k];
  }
  return l;
}

START_TEST(test_fd_gradient) {
  tu_rng r = {5151};
  rbModel m;
  model_mixed(&m, &r);
  const dpRbTree *t = m.t;
  int nv = t->nv;
  double q[MAXQ], qd[MAXV], tau[MAXV], qdd[MAXV], w[MAXV];
  random_q(t, &r, q);
  random_vec(&r, qd, nv, 2);
  random_vec(&r, tau, nv, 3);
  random_vec(&r, w, nv, 1);
  ck_assert_int_eq(rb_forward_dynamics(t, &m.p, q, qd, tau, qdd, m.ws), 0);
  double gq[MAXV] = {0}, gqd[MAXV] = {0}, gtau[MAXV] = {0}, gth[MAXTH] = {0};
  dpRbParamsBar pb;
  params_bar_bind(&m, gth, &pb);
  adj_rb_forward_dynamics(t, &m.p, q, qd, tau, qdd, gq, gqd, gtau, &pb, w, m.ws);
  gradProblem g = {&m, nv, loss_fd, NULL, w, NULL, 0, 0, 0};
  gradReport rep;
  check_grad(&g, "fd", q, qd, tau, gq, gqd, gtau, gth, 1e-6, &rep);
  print_report("forward dyn.", &rep);
  model_free(&m);
}
END_TEST

// L = wq · xpos + wv · xrot (wv: nb x 9 weights) of forward kinematics.
static double loss_fk(gradProblem *g, const double *q, const double *qd, const double *u,
                      const dpRbParams *p) {
  (void)qd;
  (void)u;
  const dpRbTree *t = g->m->t;
  double xpos[3 * MAXB], xrot[9 * MAXB], l = 0;
  rb_fk(t, p, q, xpos, xrot);
  for (int k = 0; k < 3 * t->nb; k++) {
    l += g->wq[k] * xpos[k];
  }
  for (int k = 0; k < 9 * t->nb; k++) {
    l += g->wu[k] * xrot[k];
  }
  return l;
}

START_TEST(test_fk_gradient) {
  tu_rng r = {7171};
  rbModel m;
  model_mixed(&m, &r);
  const dpRbTree *t = m.t;
  double q[MAXQ], qd[MAXV] = {0}, wx[3 * MAXB], wr[9 * MAXB];
  random_q(t, &r, q);
  random_vec(&r, wx, 3 * t->nb, 1);
  random_vec(&r, wr, 9 * t->nb, 1);
  double gq[MAXV] = {0}, gqd[MAXV] = {0}, gth[MAXTH] = {0};
  dpRbParamsBar pb;
  params_bar_bind(&m, gth, &pb);
  adj_rb_fk(t, &m.p, q, gq, &pb, wx, wr, m.ws);
  gradProblem g = {&m, 0, loss_fk, wx, NULL, wr, 0, 0, 0};
  gradReport rep;
  check_grad(&g, "fk", q, qd, NULL, gq, gqd, NULL, gth, 1e-6, &rep);
  print_report("kinematics", &rep);
  // world poses: orthonormal rotations; the free root at jpos + its position coordinates; the
  // revolute body 1 at its joint position carried by the root's rotation
  double xpos[3 * MAXB], xrot[9 * MAXB], x1[3];
  rb_fk(t, &m.p, q, xpos, xrot);
  rb_mat_vec(x1, xrot, m.p.jpos + 3);
  for (int c = 0; c < 3; c++) {
    ck_assert_double_eq_tol(xpos[c], m.p.jpos[c] + q[c], 1e-15);
    ck_assert_double_eq_tol(xpos[3 + c], xpos[c] + x1[c], 1e-15);
  }
  for (int i = 0; i < t->nb; i++) {
    double RRt[9];
    for (int j = 0; j < 3; j++) {
      for (int k = 0; k < 3; k++) {
        RRt[3 * j + k] = dp_dot3(xrot + 9 * i + 3 * j, xrot + 9 * i + 3 * k);
        ck_assert_double_eq_tol(RRt[3 * j + k], j == k ? 1.0 : 0.0, 1e-14);
      }
    }
  }
  model_free(&m);
}
END_TEST

// L = wq · (q ⊕ h v) on the nq components; u = (h).
static double loss_integrate(gradProblem *g, const double *q, const double *qd, const double *u,
                             const dpRbParams *p) {
  (void)p;
  double qo[MAXQ];
  rb_integrate(g->m->t, q, qd, u[0], qo);
  double l = 0;
  for (int k = 0; k < g->m->t->nq; k++) {
    l += g->wq[k] * qo[k];
  }
  return l;
}

START_TEST(test_integrate_gradient) {
  tu_rng r = {6161};
  rbModel m;
  model_mixed(&m, &r);
  const dpRbTree *t = m.t;
  int nv = t->nv;
  for (int trial = 0; trial < 3; trial++) {
    double q[MAXQ], v[MAXV], wq[MAXQ], qo[MAXQ], go[MAXV];
    double h = trial == 0 ? 0.01 : trial == 1 ? 0.7 : 1e-7;
    random_q(t, &r, q);
    random_vec(&r, v, nv, 3);
    random_vec(&r, wq, t->nq, 1);
    rb_integrate(t, q, v, h, qo);
    rb_tangent_from_qgrad(t, qo, wq, go);
    double gq[MAXV] = {0}, gv[MAXV] = {0}, gh = 0, gth[MAXTH] = {0};
    adj_rb_integrate(t, q, v, h, gq, gv, go);
    // h is not an adjoint input; its derivative is v · ∂/∂v / h, used to fill the u slot.
    for (int k = 0; k < nv; k++) {
      gh += gv[k] * v[k] / h;
    }
    gradProblem g = {&m, 1, loss_integrate, wq, NULL, NULL, 0, 0, 0};
    gradReport rep;
    check_grad(&g, "integrate", q, v, &h, gq, gv, &gh, gth, 1e-6, &rep);
    if (trial == 0) {
      print_report("integrate", &rep);
    }
    // the quaternions stay unit
    for (int i = 0; i < t->nb; i++) {
      if (t->jtype[i] == DP_RB_BALL || t->jtype[i] == DP_RB_FREE) {
        const double *Q = qo + t->qadr[i] + (t->jtype[i] == DP_RB_FREE ? 3 : 0);
        double n = Q[0] * Q[0] + Q[1] * Q[1] + Q[2] * Q[2] + Q[3] * Q[3];
        ck_assert_double_eq_tol(n, 1.0, 1e-15);
      }
    }
  }
  model_free(&m);
}
END_TEST

// Rollout of g->steps steps from (q, qd) with torques u (steps x nv):
//   L = wq · q_T (components) + wv · qd_T + Σ_t wu_t · qd_t (a running term)
static double loss_rollout(gradProblem *g, const double *q, const double *qd, const double *u,
                           const dpRbParams *p) {
  const dpRbTree *t = g->m->t;
  int nv = t->nv;
  double qa[MAXQ], va[MAXV], qb[MAXQ], vb[MAXV], l = 0;
  memcpy(qa, q, (size_t)t->nq * sizeof *qa);
  memcpy(va, qd, (size_t)nv * sizeof *va);
  for (int s = 0; s < g->steps; s++) {
    for (int k = 0; k < nv; k++) {
      l += g->wu[s * nv + k] * va[k];
    }
    int rc = g->rk4 ? rb_step_rk4(t, p, qa, va, u + s * nv, g->h, qb, vb, g->m->ws)
                    : rb_step_euler(t, p, qa, va, u + s * nv, g->h, qb, vb, g->m->ws);
    ck_assert_int_eq(rc, 0);
    memcpy(qa, qb, (size_t)t->nq * sizeof *qa);
    memcpy(va, vb, (size_t)nv * sizeof *va);
  }
  for (int k = 0; k < t->nq; k++) {
    l += g->wq[k] * qa[k];
  }
  for (int k = 0; k < nv; k++) {
    l += g->wv[k] * va[k];
  }
  return l;
}

static void rollout_gradient(int rk4, int steps, double h, uint64_t seed) {
  tu_rng r = {seed};
  rbModel m;
  model_mixed(&m, &r);
  const dpRbTree *t = m.t;
  int nv = t->nv, nq = t->nq;
  double q0[MAXQ], qd0[MAXV], wq[MAXQ], wv[MAXV];
  double *u = malloc((size_t)steps * nv * sizeof *u), *wu = malloc((size_t)steps * nv * sizeof *u);
  double *gu = calloc((size_t)steps * nv, sizeof *gu);
  double *qs = malloc((size_t)(steps + 1) * nq * sizeof *qs);
  double *vs = malloc((size_t)(steps + 1) * nv * sizeof *vs);
  random_q(t, &r, q0);
  random_vec(&r, qd0, nv, 1);
  random_vec(&r, u, steps * nv, 2);
  random_vec(&r, wu, steps * nv, 0.1);
  random_vec(&r, wq, nq, 1);
  random_vec(&r, wv, nv, 1);
  memcpy(qs, q0, (size_t)nq * sizeof *qs);
  memcpy(vs, qd0, (size_t)nv * sizeof *vs);
  for (int s = 0; s < steps; s++) {
    int rc = rk4 ? rb_step_rk4(t, &m.p, qs + s * nq, vs + s * nv, u + s * nv, h,
                               qs + (s + 1) * nq, vs + (s + 1) * nv, m.ws)
                 : rb_step_euler(t, &m.p, qs + s * nq, vs + s * nv, u + s * nv, h,
                                 qs + (s + 1) * nq, vs + (s + 1) * nv, m.ws);
    ck_assert_int_eq(rc, 0);
  }
  // The backward sweep: λ_q (tangent) and λ_v carried from step T to 0.
  double lq[MAXV], lv[MAXV], gth[MAXTH] = {0};
  dpRbParamsBar pb;
  params_bar_bind(&m, gth, &pb);
  rb_tangent_from_qgrad(t, qs + steps * nq, wq, lq);
  memcpy(lv, wv, (size_t)nv * sizeof *lv);
  for (int s = steps - 1; s >= 0; s--) {
    double nq_[MAXV] = {0}, nv_[MAXV] = {0};
    if (rk4) {
      adj_rb_step_rk4(t, &m.p, qs + s * nq, vs + s * nv, u + s * nv, h, nq_, nv_, gu + s * nv,
                      &pb, lq, lv, m.ws);
    } else {
      adj_rb_step_euler(t, &m.p, qs + s * nq, vs + s * nv, u + s * nv, h, nq_, nv_, gu + s * nv,
                        &pb, lq, lv, m.ws);
    }
    for (int k = 0; k < nv; k++) {
      lq[k] = nq_[k];
      lv[k] = nv_[k] + wu[s * nv + k];
    }
  }
  gradProblem g = {&m, steps * nv, loss_rollout, wq, wv, wu, steps, h, rk4};
  gradReport rep;
  check_grad(&g, rk4 ? "rollout_rk4" : "rollout_euler", q0, qd0, u, lq, lv, gu, gth, 1e-6, &rep);
  print_report(rk4 ? "rollout rk4" : "rollout euler", &rep);
  free(u);
  free(wu);
  free(gu);
  free(qs);
  free(vs);
  model_free(&m);
}

START_TEST(test_rollout_euler_gradient) {
  rollout_gradient(0, 12, 0.01, 777);
}
END_TEST

START_TEST(test_rollout_rk4_gradient) {
  rollout_gradient(1, 6, 0.02, 888);
}
END_TEST

// ---- contact kinematics: world velocities and generalized forces ------------------------------

// A model for the contact-kinematics checks: the mixed tree (trial 0) or a random tree of 4 to
// 12 bodies, its root free on even trials.
static void model_for_trial(rbModel *m, tu_rng *r, int trial) {
  if (trial == 0) {
    model_mixed(m, r);
    return;
  }
  model_random(m, r, 4 + (int)tu_uniform(r, 0, MAXB - 4 + 1 - 1e-9), trial % 2 == 0);
  model_random_params(m, r, 0.3, 0.05);
}

// Finite differences in time: vo ≈ ẋpos and [w]× ≈ Ṙ Rᵀ along q(s) = q ⊕ s qd, by central
// differences at h and h/2 combined by Richardson extrapolation.
START_TEST(test_velocities_match_fk) {
  tu_rng r = {1212};
  double maxerr = 0;
  for (int trial = 0; trial < 12; trial++) {
    rbModel m;
    model_for_trial(&m, &r, trial);
    const dpRbTree *t = m.t;
    int nb = t->nb;
    double q[MAXQ], qd[MAXV], qx[MAXQ], xpos[3 * MAXB], xrot[9 * MAXB], w[3 * MAXB], vo[3 * MAXB];
    random_q(t, &r, q);
    random_vec(&r, qd, t->nv, 2);
    rb_fk(t, &m.p, q, xpos, xrot);
    rb_velocities(t, &m.p, xpos, xrot, qd, w, vo);
    double dx[2][3 * MAXB], dR[2][9 * MAXB];
    for (int rr = 0; rr < 2; rr++) {
      double h = rr == 0 ? 1e-4 : 0.5e-4;
      double xp[3 * MAXB], Rp[9 * MAXB], xm[3 * MAXB], Rm[9 * MAXB];
      rb_integrate(t, q, qd, h, qx);
      rb_fk(t, &m.p, qx, xp, Rp);
      rb_integrate(t, q, qd, -h, qx);
      rb_fk(t, &m.p, qx, xm, Rm);
      for (int k = 0; k < 3 * nb; k++) {
        dx[rr][k] = (xp[k] - xm[k]) / (2 * h);
      }
      for (int k = 0; k < 9 * nb; k++) {
        dR[rr][k] = (Rp[k] - Rm[k]) / (2 * h);
      }
    }
    for (int i = 0; i < nb; i++) {
      double Rd[9], Om[9];
      for (int k = 0; k < 9; k++) {
        Rd[k] = (4 * dR[1][9 * i + k] - dR[0][9 * i + k]) / 3;
      }
      const double *R = xrot + 9 * i;
      for (int j = 0; j < 3; j++) {
        for (int k = 0; k < 3; k++) {
          Om[3 * j + k] = dp_dot3(Rd + 3 * j, R + 3 * k);  // (Ṙ Rᵀ)[j][k]
        }
      }
      double wfd[3] = {0.5 * (Om[7] - Om[5]), 0.5 * (Om[2] - Om[6]), 0.5 * (Om[3] - Om[1])};
      double scale = 1 + dp_norm3(w + 3 * i) + dp_norm3(vo + 3 * i);
      for (int c = 0; c < 3; c++) {
        double vfd = (4 * dx[1][3 * i + c] - dx[0][3 * i + c]) / 3;
        double ev = fabs(vo[3 * i + c] - vfd) / scale, ew = fabs(w[3 * i + c] - wfd[c]) / scale;
        ck_assert_msg(ev < 1e-9, "trial %d body %d: vo[%d] %.12e vs d/dt xpos %.12e", trial, i, c,
                      vo[3 * i + c], vfd);
        ck_assert_msg(ew < 1e-9, "trial %d body %d: w[%d] %.12e vs Ṙ Rᵀ %.12e", trial, i, c,
                      w[3 * i + c], wfd[c]);
        maxerr = fmax(maxerr, fmax(ev, ew));
      }
      // Ṙ Rᵀ is skew
      for (int k = 0; k < 9; k++) {
        ck_assert_msg(fabs(Om[k] + Om[3 * (k % 3) + k / 3]) < 1e-9 * scale,
                      "trial %d body %d: Ṙ Rᵀ not skew", trial, i);
      }
    }
    model_free(&m);
  }
  printf("rb: velocities vs d/dt of rb_fk: max error %.1e (relative to 1 + |w| + |vo|)\n",
         maxerr);
}
END_TEST

// rb_generalized_force is the transpose of rb_velocities: τ·qd = Σ F·(vo − w × x) + N·w; and for
// one point force f at body point l of body b, τ = Jᵀ f = adj_rb_fk with x̄_b = f, W̄_b = f lᵀ.
START_TEST(test_generalized_force_transpose) {
  tu_rng r = {3434};
  double maxp = 0, maxj = 0;
  for (int trial = 0; trial < 12; trial++) {
    rbModel m;
    model_for_trial(&m, &r, trial);
    const dpRbTree *t = m.t;
    int nb = t->nb, nv = t->nv;
    double q[MAXQ], qd[MAXV], xpos[3 * MAXB], xrot[9 * MAXB], w[3 * MAXB], vo[3 * MAXB];
    double F[3 * MAXB], N[3 * MAXB], tau[MAXV];
    random_q(t, &r, q);
    random_vec(&r, qd, nv, 2);
    random_vec(&r, F, 3 * nb, 5);
    random_vec(&r, N, 3 * nb, 5);
    rb_fk(t, &m.p, q, xpos, xrot);
    rb_velocities(t, &m.p, xpos, xrot, qd, w, vo);
    for (int k = 0; k < nv; k++) {
      tau[k] = 1.0;  // accumulates
    }
    rb_generalized_force(t, &m.p, xpos, xrot, F, N, tau, m.ws);
    double lhs = 0, rhs = 0, mag = 0;
    for (int k = 0; k < nv; k++) {
      lhs += (tau[k] - 1.0) * qd[k];
      mag += fabs((tau[k] - 1.0) * qd[k]);
    }
    for (int i = 0; i < nb; i++) {
      double wx[3], v0[3];
      rb_cross3(wx, w + 3 * i, xpos + 3 * i);
      for (int c = 0; c < 3; c++) {
        v0[c] = vo[3 * i + c] - wx[c];
      }
      rhs += dp_dot3(F + 3 * i, v0) + dp_dot3(N + 3 * i, w + 3 * i);
    }
    double ep = fabs(lhs - rhs) / mag;
    ck_assert_msg(ep < 1e-12, "trial %d: τ·qd %.17g vs power %.17g", trial, lhs, rhs);
    maxp = fmax(maxp, ep);
    for (int b = 0; b < nb; b++) {
      double f[3], l[3], x[3], xbar[3 * MAXB] = {0}, Wbar[9 * MAXB] = {0};
      double Fp[3 * MAXB] = {0}, Np[3 * MAXB] = {0}, tp[MAXV] = {0}, gq[MAXV] = {0};
      double gth[MAXTH] = {0};
      random_vec(&r, f, 3, 3);
      random_vec(&r, l, 3, 0.5);
      rb_mat_vec(x, xrot + 9 * b, l);
      for (int c = 0; c < 3; c++) {
        x[c] += xpos[3 * b + c];
      }
      memcpy(Fp + 3 * b, f, sizeof f);
      rb_cross3(Np + 3 * b, x, f);
      rb_generalized_force(t, &m.p, xpos, xrot, Fp, Np, tp, m.ws);
      memcpy(xbar + 3 * b, f, sizeof f);
      for (int j = 0; j < 3; j++) {
        for (int k = 0; k < 3; k++) {
          Wbar[9 * b + 3 * j + k] = f[j] * l[k];
        }
      }
      dpRbParamsBar pb;
      params_bar_bind(&m, gth, &pb);
      adj_rb_fk(t, &m.p, q, gq, &pb, xbar, Wbar, m.ws);
      double s = 0;
      for (int k = 0; k < nv; k++) {
        s = fmax(s, fabs(gq[k]));
      }
      for (int k = 0; k < nv; k++) {
        double e = s > 0 ? fabs(tp[k] - gq[k]) / s : fabs(tp[k]);  // s = 0: b moves with no dof
        ck_assert_msg(e < 1e-12, "trial %d body %d: τ[%d] %.17g vs Jᵀf %.17g", trial, b, k,
                      tp[k], gq[k]);
        maxj = fmax(maxj, e);
      }
    }
    model_free(&m);
  }
  printf("rb: generalized force: power identity %.1e, vs adj_rb_fk (Jᵀ f) %.1e (relative)\n",
         maxp, maxj);
}
END_TEST

// Central differences of a scalar function of packed inputs x (n), each entry stepped by
// h max(1, |x_k|), against the adjoint an (n). The functions checked here are affine in each
// single entry, so the difference quotient is exact up to round-off. Returns the max relative
// error over the entries whose derivative stands well above that round-off.
typedef double (*packedLoss)(const rbModel *m, const double *x, const double *wts);

static double check_packed(const char *name, const rbModel *m, packedLoss f, const double *wts,
                           const double *x0, int n, const double *an, double h, double tol) {
  double x[18 * MAXB + MAXV], maxe = 0;
  memcpy(x, x0, (size_t)n * sizeof *x);
  for (int k = 0; k < n; k++) {
    double hk = h * fmax(1.0, fabs(x0[k]));
    x[k] = x0[k] + hk;
    double lp = f(m, x, wts);
    x[k] = x0[k] - hk;
    double lm = f(m, x, wts);
    x[k] = x0[k];
    double fd = (lp - lm) / (2 * hk);
    double floor_ = 1e2 * 2.2e-16 * fmax(fabs(lp), fabs(lm)) / hk;
    TU_ASSERT_GRAD(name, k, an[k], fd, tol, floor_);
    double s = fmax(fabs(an[k]), fabs(fd));
    if (s > 1e3 * floor_) {
      maxe = fmax(maxe, fabs(an[k] - fd) / s);
    }
  }
  return maxe;
}

// x = [xpos (3 nb), xrot (9 nb), qd (nv)]; wts = [w̄ (3 nb), v̄o (3 nb)].
static double loss_velocities(const rbModel *m, const double *x, const double *wts) {
  int nb = m->t->nb;
  double w[3 * MAXB], vo[3 * MAXB], l = 0;
  rb_velocities(m->t, &m->p, x, x + 3 * nb, x + 12 * nb, w, vo);
  for (int k = 0; k < 3 * nb; k++) {
    l += wts[k] * w[k] + wts[3 * nb + k] * vo[k];
  }
  return l;
}

// x = [xpos (3 nb), xrot (9 nb), F (3 nb), N (3 nb)]; wts = τ̄ (nv).
static double loss_genforce(const rbModel *m, const double *x, const double *wts) {
  int nb = m->t->nb;
  double tau[MAXV] = {0}, l = 0;
  rb_generalized_force(m->t, &m->p, x, x + 3 * nb, x + 12 * nb, x + 15 * nb, tau, m->ws);
  for (int k = 0; k < m->t->nv; k++) {
    l += wts[k] * tau[k];
  }
  return l;
}

START_TEST(test_contact_kinematics_gradient) {
  // adj_rb_velocities and adj_rb_generalized_force against central differences on every entry
  // of xpos, xrot (independently), qd, F and N, at poses from rb_fk; random output adjoints.
  // Both are affine in each single entry, so a large step is exact too and shows the agreement
  // beyond the round-off of the small one.
  tu_rng r = {5656};
  const double hstep[2] = {1e-6, 1e-2};
  double maxv[2] = {0, 0}, maxg[2] = {0, 0};
  for (int trial = 0; trial < 8; trial++) {
    rbModel m;
    model_for_trial(&m, &r, trial);
    const dpRbTree *t = m.t;
    int nb = t->nb, nv = t->nv;
    double q[MAXQ], x[18 * MAXB + MAXV], an[18 * MAXB + MAXV], wts[6 * MAXB];
    random_q(t, &r, q);
    rb_fk(t, &m.p, q, x, x + 3 * nb);
    // velocities: x = [xpos, xrot, qd]
    random_vec(&r, x + 12 * nb, nv, 2);
    random_vec(&r, wts, 6 * nb, 1);
    memset(an, 0, sizeof an);
    for (int k = 0; k < 12 * nb + nv; k++) {
      an[k] = 0.01 * k;  // accumulates
    }
    adj_rb_velocities(t, &m.p, x, x + 3 * nb, x + 12 * nb, an, an + 3 * nb, an + 12 * nb, wts,
                      wts + 3 * nb, m.ws);
    for (int k = 0; k < 12 * nb + nv; k++) {
      an[k] -= 0.01 * k;
    }
    for (int hh = 0; hh < 2; hh++) {
      double e = check_packed("adj_rb_velocities", &m, loss_velocities, wts, x, 12 * nb + nv, an,
                              hstep[hh], 1e-7);
      maxv[hh] = fmax(maxv[hh], e);
    }
    // generalized force: x = [xpos, xrot, F, N]
    random_vec(&r, x + 12 * nb, 6 * nb, 5);
    random_vec(&r, wts, nv, 1);
    memset(an, 0, sizeof an);
    adj_rb_generalized_force(t, &m.p, x, x + 3 * nb, x + 12 * nb, x + 15 * nb, an, an + 3 * nb,
                             an + 12 * nb, an + 15 * nb, wts, m.ws);
    for (int hh = 0; hh < 2; hh++) {
      double e = check_packed("adj_rb_generalized_force", &m, loss_genforce, wts, x, 18 * nb, an,
                              hstep[hh], 1e-7);
      maxg[hh] = fmax(maxg[hh], e);
    }
    model_free(&m);
  }
  printf("rb: contact kinematics max rel. gradient error (step 1e-6 | 1e-2): velocities %.1e | "
         "%.1e, generalized force %.1e | %.1e\n", maxv[0], maxv[1], maxg[0], maxg[1]);
}
END_TEST

// q ↦ τ̄ · rb_generalized_force(rb_fk(q), F, N), u = [F; N]; wv = τ̄.
static double loss_genforce_fk(gradProblem *g, const double *q, const double *qd, const double *u,
                               const dpRbParams *p) {
  (void)qd;
  const dpRbTree *t = g->m->t;
  double xpos[3 * MAXB], xrot[9 * MAXB], tau[MAXV] = {0}, l = 0;
  rb_fk(t, p, q, xpos, xrot);
  rb_generalized_force(t, p, xpos, xrot, u, u + 3 * t->nb, tau, g->m->ws);
  for (int k = 0; k < t->nv; k++) {
    l += g->wv[k] * tau[k];
  }
  return l;
}

// (q, qd) ↦ w̄ · w + v̄o · vo of rb_velocities(rb_fk(q), qd); wq = w̄, wu = v̄o.
static double loss_velocities_fk(gradProblem *g, const double *q, const double *qd,
                                 const double *u, const dpRbParams *p) {
  (void)u;
  const dpRbTree *t = g->m->t;
  double xpos[3 * MAXB], xrot[9 * MAXB], w[3 * MAXB], vo[3 * MAXB], l = 0;
  rb_fk(t, p, q, xpos, xrot);
  rb_velocities(t, p, xpos, xrot, qd, w, vo);
  for (int k = 0; k < 3 * t->nb; k++) {
    l += g->wq[k] * w[k] + g->wu[k] * vo[k];
  }
  return l;
}

START_TEST(test_contact_kinematics_fk_gradient) {
  // End to end through adj_rb_fk (the xrot_bar semantics): the q gradient in the tangent space
  // (q ⊕ ±h e_k), the jpos gradient, F, N and qd.
  tu_rng r = {7878};
  rbModel m;
  model_mixed(&m, &r);
  const dpRbTree *t = m.t;
  int nb = t->nb, nv = t->nv;
  double q[MAXQ], qd[MAXV], xpos[3 * MAXB], xrot[9 * MAXB], FN[6 * MAXB], tb[MAXV];
  random_q(t, &r, q);
  random_vec(&r, qd, nv, 2);
  random_vec(&r, FN, 6 * nb, 5);
  random_vec(&r, tb, nv, 1);
  rb_fk(t, &m.p, q, xpos, xrot);
  double xb[3 * MAXB] = {0}, Wb[9 * MAXB] = {0}, FNb[6 * MAXB] = {0};
  double gq[MAXV] = {0}, gqd[MAXV] = {0}, gth[MAXTH] = {0};
  dpRbParamsBar pb;
  params_bar_bind(&m, gth, &pb);
  adj_rb_generalized_force(t, &m.p, xpos, xrot, FN, FN + 3 * nb, xb, Wb, FNb, FNb + 3 * nb, tb,
                           m.ws);
  adj_rb_fk(t, &m.p, q, gq, &pb, xb, Wb, m.ws);
  gradProblem g = {&m, 6 * nb, loss_genforce_fk, NULL, tb, NULL, 0, 0, 0};
  gradReport rep;
  check_grad(&g, "genforce_fk", q, qd, FN, gq, gqd, FNb, gth, 1e-6, &rep);
  print_report("gen. force∘fk", &rep);

  double wb[3 * MAXB], vb[3 * MAXB];
  random_vec(&r, wb, 3 * nb, 1);
  random_vec(&r, vb, 3 * nb, 1);
  memset(xb, 0, sizeof xb);
  memset(Wb, 0, sizeof Wb);
  memset(gq, 0, sizeof gq);
  memset(gth, 0, sizeof gth);
  adj_rb_velocities(t, &m.p, xpos, xrot, qd, xb, Wb, gqd, wb, vb, m.ws);
  adj_rb_fk(t, &m.p, q, gq, &pb, xb, Wb, m.ws);
  gradProblem g2 = {&m, 0, loss_velocities_fk, wb, NULL, vb, 0, 0, 0};
  check_grad(&g2, "velocities_fk", q, qd, NULL, gq, gqd, NULL, gth, 1e-6, &rep);
  print_report("velocities∘fk", &rep);
  model_free(&m);
}
END_TEST

// ---- physics --------------------------------------------------------------------------------

// A point-like bob (mass 1 kg, inertia 1e-9 kg·m²) on a massless rod of length L about the y
// axis, released at 0.01 rad: the small-angle period 2π √(L/g) (the amplitude correction
// θ₀²/16 is 6e-6 and the bob's own inertia 1e-9 relative).
START_TEST(test_pendulum_period) {
  int parent[1] = {-1}, jtype[1] = {DP_RB_REVOLUTE};
  double axis[3] = {0, 1, 0};
  rbModel m;
  model_init(&m, 1, parent, jtype, axis);
  double L = 0.8, g = 9.81;
  memset(m.th, 0, sizeof m.th);
  m.th[m.off[0]] = 1.0;
  m.th[m.off[1] + 2] = -L;
  for (int c = 0; c < 3; c++) {
    m.th[m.off[2] + c] = 1e-9;
  }
  m.th[m.off[6] + 2] = -g;
  double q[1] = {0.01}, qd[1] = {0}, tau[1] = {0}, qn[1], vn[1];
  double h = 1e-3, tprev = 0, first = -1, last = -1;
  int crossings = 0;
  for (int s = 0; s < 20000; s++) {
    ck_assert_int_eq(rb_step_rk4(m.t, &m.p, q, qd, tau, h, qn, vn, m.ws), 0);
    if (q[0] > 0 && qn[0] <= 0) {  // downward zero crossing, linear interpolation
      double tc = (s + q[0] / (q[0] - qn[0])) * h;
      if (first < 0) {
        first = tc;
      } else {
        last = tc;
        crossings++;
      }
      tprev = tc;
    }
    q[0] = qn[0];
    qd[0] = vn[0];
  }
  (void)tprev;
  ck_assert_int_gt(crossings, 5);
  double period = (last - first) / crossings, exact = 2 * M_PI * sqrt(L / g);
  double err = fabs(period - exact) / exact;
  printf("rb: pendulum period %.6f s vs 2π√(L/g) %.6f s: relative error %.2e\n", period, exact,
         err);
  ck_assert_msg(err < 5e-3, "period %.6f vs %.6f", period, exact);
  model_free(&m);
}
END_TEST

// An undamped 7-link chain of revolute joints (alternating axes, so the motion is 3D), RK4 at
// h = 1e-3 over 10 s: total energy kept to 1e-6 relative.
START_TEST(test_chain_energy) {
  int parent[7], jtype[7];
  double axis[21];
  for (int i = 0; i < 7; i++) {
    parent[i] = i - 1;
    jtype[i] = DP_RB_REVOLUTE;
    axis[3 * i] = i % 2 == 0 ? 0 : 1;
    axis[3 * i + 1] = i % 2 == 0 ? 1 : 0;
    axis[3 * i + 2] = 0;
  }
  rbModel m;
  model_init(&m, 7, parent, jtype, axis);
  tu_rng r = {7};
  model_random_params(&m, &r, 0.0, 0.0);
  for (int i = 0; i < 7; i++) {
    double *jp = m.th + m.off[3] + 3 * i, *c = m.th + m.off[1] + 3 * i;
    jp[0] = jp[1] = 0;
    jp[2] = i == 0 ? 0 : -0.25;
    c[2] = -0.125;
  }
  double q[7], qd[7], tau[7] = {0}, qn[7], vn[7];
  random_vec(&r, q, 7, 1.0);
  random_vec(&r, qd, 7, 1.0);
  double ke, pe;
  rb_energy(m.t, &m.p, q, qd, &ke, &pe, m.ws);
  double e0 = ke + pe, scale = fmax(fabs(e0), ke), drift = 0;
  double h = 1e-3;
  for (int s = 0; s < 10000; s++) {
    ck_assert_int_eq(rb_step_rk4(m.t, &m.p, q, qd, tau, h, qn, vn, m.ws), 0);
    memcpy(q, qn, sizeof q);
    memcpy(qd, vn, sizeof qd);
    if (s % 100 == 99) {
      rb_energy(m.t, &m.p, q, qd, &ke, &pe, m.ws);
      drift = fmax(drift, fabs(ke + pe - e0) / scale);
    }
  }
  printf("rb: 7-link chain, RK4 h=1e-3, 10 s: max relative energy drift %.2e\n", drift);
  ck_assert_msg(drift < 1e-6, "energy drift %.3e", drift);
  model_free(&m);
}
END_TEST

// The mixed tree (every joint type, armature, gravity, no damping) with RK4 at h = 1e-3 over 3 s:
// energy kept to 1e-6 relative, which checks the velocity-product and gravity terms of every
// joint type together; with damping the energy never increases.
START_TEST(test_mixed_tree_energy) {
  for (int damped = 0; damped < 2; damped++) {
    tu_rng r = {1234};
    rbModel m;
    model_mixed(&m, &r);
    const dpRbTree *t = m.t;
    for (int k = 0; k < t->nv; k++) {
      m.th[m.off[4] + k] = damped ? 0.2 : 0.0;
    }
    double q[MAXQ], qd[MAXV], tau[MAXV] = {0}, qn[MAXQ], vn[MAXV];
    random_q(t, &r, q);
    random_vec(&r, qd, t->nv, 1.0);
    double ke, pe;
    rb_energy(t, &m.p, q, qd, &ke, &pe, m.ws);
    // drift measured against the initial energy scale (the free bodies' fall later raises both
    // kinetic and potential energy by thousands of joules)
    double e0 = ke + pe, eprev = e0, scale0 = fmax(fabs(e0), ke), scale = scale0, drift = 0;
    for (int s = 0; s < 3000; s++) {
      ck_assert_int_eq(rb_step_rk4(t, &m.p, q, qd, tau, 1e-3, qn, vn, m.ws), 0);
      memcpy(q, qn, (size_t)t->nq * sizeof *q);
      memcpy(qd, vn, (size_t)t->nv * sizeof *qd);
      rb_energy(t, &m.p, q, qd, &ke, &pe, m.ws);
      scale = fmax(scale, ke);
      drift = fmax(drift, fabs(ke + pe - e0));
      if (damped) {
        ck_assert_msg(ke + pe <= eprev + 1e-12 * scale, "damped energy rose at step %d", s);
      }
      eprev = ke + pe;
    }
    if (!damped) {
      printf("rb: mixed tree, RK4 h=1e-3, 3 s: max energy drift %.2e J, relative to |E0| %.2e\n",
             drift, drift / scale0);
      ck_assert_msg(drift / scale0 < 1e-6, "energy drift %.3e", drift / scale0);
    } else {
      ck_assert(eprev < e0 - 1e-3 * scale);
    }
    model_free(&m);
  }
}
END_TEST

// RK4 on the manifold is of order 4 for every joint type: on the mixed tree, halving h divides the
// error after 0.2 s (against h/16) by about 16. Semi-implicit Euler: by about 2.
START_TEST(test_integrator_order) {
  tu_rng r = {4321};
  rbModel m;
  model_mixed(&m, &r);
  const dpRbTree *t = m.t;
  double q0[MAXQ], qd0[MAXV], tau[MAXV];
  random_q(t, &r, q0);
  random_vec(&r, qd0, t->nv, 2.0);
  random_vec(&r, tau, t->nv, 1.0);
  for (int rk4 = 0; rk4 < 2; rk4++) {
    double err[3], ref[MAXQ + MAXV];
    for (int lev = 3; lev >= 0; lev--) {
      int n = 10 << (lev == 3 ? 6 : lev);  // 10, 20, 40 steps; reference 640
      double h = 0.2 / n, q[MAXQ], qd[MAXV], qn[MAXQ], vn[MAXV];
      memcpy(q, q0, sizeof q);
      memcpy(qd, qd0, sizeof qd);
      for (int s = 0; s < n; s++) {
        int rc = rk4 ? rb_step_rk4(t, &m.p, q, qd, tau, h, qn, vn, m.ws)
                     : rb_step_euler(t, &m.p, q, qd, tau, h, qn, vn, m.ws);
        ck_assert_int_eq(rc, 0);
        memcpy(q, qn, sizeof q);
        memcpy(qd, vn, sizeof qd);
      }
      if (lev == 3) {
        memcpy(ref, q, (size_t)t->nq * sizeof *q);
        memcpy(ref + t->nq, qd, (size_t)t->nv * sizeof *qd);
        continue;
      }
      double e = 0;
      for (int k = 0; k < t->nq; k++) {
        e = fmax(e, fabs(q[k] - ref[k]));
      }
      for (int k = 0; k < t->nv; k++) {
        e = fmax(e, fabs(qd[k] - ref[t->nq + k]));
      }
      err[lev] = e;
    }
    double r1 = err[0] / err[1], r2 = err[1] / err[2];
    printf("rb: %s error ratios on halving h: %.2f %.2f\n", rk4 ? "RK4" : "Euler", r1, r2);
    if (rk4) {
      ck_assert_msg(r1 > 12 && r2 > 12, "RK4 ratios %.2f %.2f", r1, r2);
    } else {
      ck_assert_msg(r1 > 1.6 && r2 > 1.6 && r1 < 2.6 && r2 < 2.6, "Euler ratios %.2f %.2f", r1,
                    r2);
    }
  }
  model_free(&m);
}
END_TEST

// A torque-free free body with a fully asymmetric inertia (spinning near its unstable middle
// axis) and no gravity: world angular momentum (about the world origin) and linear momentum are
// conserved by the exact flow; RK4 on the manifold keeps them to 1e-8 relative.
START_TEST(test_free_body_momentum) {
  int parent[1] = {-1}, jtype[1] = {DP_RB_FREE};
  rbModel m;
  model_init(&m, 1, parent, jtype, NULL);
  memset(m.th, 0, sizeof m.th);
  double I6[6] = {1.0, 2.0, 3.0, 0.1, -0.05, 0.2}, com[3] = {0.1, -0.2, 0.05};
  m.th[m.off[0]] = 2.0;
  memcpy(m.th + m.off[1], com, sizeof com);
  memcpy(m.th + m.off[2], I6, sizeof I6);
  double q[7] = {0.3, -0.1, 0.2, 1, 0, 0, 0}, qd[6] = {0.2, 0.1, -0.3, 0.1, 2.0, 0.2};
  double tau[6] = {0}, qn[7], vn[6], h0[6], h1[6];
  rb_momentum(m.t, &m.p, q, qd, h0, m.ws);
  double ln = dp_norm3(h0), pn = dp_norm3(h0 + 3), errl = 0, errp = 0, ke0, ke, pe;
  rb_energy(m.t, &m.p, q, qd, &ke0, &pe, m.ws);
  double h = 1e-3;
  for (int s = 0; s < 5000; s++) {
    ck_assert_int_eq(rb_step_rk4(m.t, &m.p, q, qd, tau, h, qn, vn, m.ws), 0);
    memcpy(q, qn, sizeof q);
    memcpy(qd, vn, sizeof qd);
    rb_momentum(m.t, &m.p, q, qd, h1, m.ws);
    double dl[3] = {h1[0] - h0[0], h1[1] - h0[1], h1[2] - h0[2]};
    double dpv[3] = {h1[3] - h0[3], h1[4] - h0[4], h1[5] - h0[5]};
    errl = fmax(errl, dp_norm3(dl) / ln);
    errp = fmax(errp, dp_norm3(dpv) / pn);
  }
  rb_energy(m.t, &m.p, q, qd, &ke, &pe, m.ws);
  printf("rb: free body, RK4 h=1e-3, 5 s: angular momentum %.2e, linear %.2e, energy %.2e "
         "(relative)\n",
         errl, errp, fabs(ke - ke0) / ke0);
  ck_assert_msg(errl < 1e-8, "angular momentum drift %.3e", errl);
  ck_assert_msg(errp < 1e-8, "linear momentum drift %.3e", errp);
  model_free(&m);
}
END_TEST

Suite *make_rb_suite(void) {
  Suite *s = suite_create("rb");
  TCase *tc = tcase_create("dynamics");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_tree_layout);
  tcase_add_test(tc, test_quat_helpers);
  tcase_add_test(tc, test_rnea_inverts_fd);
  tcase_add_test(tc, test_crba_matches_rnea);
  tcase_add_test(tc, test_aba_matches_crba);
  suite_add_tcase(s, tc);
  TCase *tg = tcase_create("gradients");
  tcase_set_timeout(tg, 120);
  tcase_add_test(tg, test_rnea_gradient);
  tcase_add_test(tg, test_fd_gradient);
  tcase_add_test(tg, test_integrate_gradient);
  tcase_add_test(tg, test_fk_gradient);
  tcase_add_test(tg, test_rollout_euler_gradient);
  tcase_add_test(tg, test_rollout_rk4_gradient);
  suite_add_tcase(s, tg);
  TCase *tk = tcase_create("contact kinematics");
  tcase_set_timeout(tk, 120);
  tcase_add_test(tk, test_velocities_match_fk);
  tcase_add_test(tk, test_generalized_force_transpose);
  tcase_add_test(tk, test_contact_kinematics_gradient);
  tcase_add_test(tk, test_contact_kinematics_fk_gradient);
  suite_add_tcase(s, tk);
  TCase *tp = tcase_create("physics");
  tcase_set_timeout(tp, 120);
  tcase_add_test(tp, test_pendulum_period);
  tcase_add_test(tp, test_chain_energy);
  tcase_add_test(tp, test_free_body_momentum);
  tcase_add_test(tp, test_mixed_tree_energy);
  tcase_add_test(tp, test_integrator_order);
  suite_add_tcase(s, tp);
  return s;
}
