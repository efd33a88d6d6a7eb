// Articulated rigid-body trees: RNEA, CRBA, LTDL, forward dynamics (ABA), the manifold
// integrators, with their adjoints (conventions in rb_tree.h). Every joint is applied as two
// stages,
//   parent --(translation r = jpos + q_trans, dofs [0; s_t] in the parent's axes)--> mid
//   mid    --(rotation R(q_rot), dofs [s_r; 0] in the body frame)-------------------> body
// so each stage has a motion subspace constant in its own frame (no Ṡ term) and a free joint is
// a 3-dof translation followed by a ball joint with a massless frame between them. This makes
// the free joint's linear velocity that of the body origin in the parent frame (MuJoCo's
// convention, so that q̇ = qd for positions) while RNEA keeps the textbook form
// a = X a_parent + S q̈ + v × S q̇ (Featherstone 2008, §5.3) per stage.
#include "rb_tree.h"

#include <math.h>
#include <string.h>

#include "rb_spatial_kern.h"

// Per-body forward state of RNEA in the scratch: R (9), r (3), v_mid (6), a_mid (6), v (6),
// a (6), f (6, the total force transmitted by the joint after the backward sweep).
enum { WS_R = 0, WS_r = 9, WS_VM = 12, WS_AM = 18, WS_V = 24, WS_A = 30, WS_F = 36, WS_BODY = 42 };
// Per-body adjoint state: f_bar (6), v_bar (6), a_bar (6), θ_bar (3), r_bar (3).
enum { AS_F = 0, AS_V = 6, AS_A = 12, AS_TH = 18, AS_R = 21, AS_BODY = 24 };
// Per-body CRBA state: composite inertia (36), R (9), r (3).
enum { CS_I = 0, CS_R = 36, CS_r = 45, CS_BODY = 48 };

static int joint_nq(int type) {
  switch (type) {
    case DP_RB_REVOLUTE:
    case DP_RB_PRISMATIC: return 1;
    case DP_RB_BALL: return 4;
    case DP_RB_FREE: return 7;
    default: return 0;
  }
}

static int joint_nv(int type) {
  switch (type) {
    case DP_RB_REVOLUTE:
    case DP_RB_PRISMATIC: return 1;
    case DP_RB_BALL: return 3;
    case DP_RB_FREE: return 6;
    default: return 0;
  }
}

dpStatus rb_tree_create(int nb, const int *parent, const int *jtype, const double *axis,
                        dpRbTree **out, dpError *err) {
  *out = NULL;
  if (nb < 1) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "rigid-body tree: %d bodies", nb);
  }
  int nq = 0, nv = 0;
  for (int i = 0; i < nb; i++) {
    if (parent[i] < -1 || parent[i] >= i) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "rigid body %d: parent %d must be -1 or a lower index", i, parent[i]);
    }
    if (jtype[i] < DP_RB_FIXED || jtype[i] > DP_RB_FREE) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "rigid body %d: unknown joint type %d",
                          i, jtype[i]);
    }
    if (jtype[i] == DP_RB_REVOLUTE || jtype[i] == DP_RB_PRISMATIC) {
      double n = axis != NULL ? dp_norm3(axis + 3 * i) : 0.0;
      if (!(n >= 0.5 && n <= 2.0)) {
        return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                            "rigid body %d: joint axis of length %g is not a unit vector", i, n);
      }
    }
    nq += joint_nq(jtype[i]);
    nv += joint_nv(jtype[i]);
  }
  // One block: the struct, then the int arrays, then the axes (aligned for double).
  size_t nint = 4 * (size_t)nb + 2 * (size_t)nv;
  size_t off_d = (sizeof(dpRbTree) + nint * sizeof(int) + sizeof(double) - 1) / sizeof(double);
  double *block = dp_malloc((off_d + 3 * (size_t)nb) * sizeof(double));
  if (block == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "rigid-body tree: out of memory");
  }
  dpRbTree *t = (dpRbTree *)block;
  int *ip = (int *)(t + 1);
  int *par = ip, *jt = ip + nb, *qa = ip + 2 * nb, *va = ip + 3 * nb;
  int *dp = ip + 4 * nb, *db = dp + nv;
  double *ax = block + off_d;
  int iq = 0, iv = 0;
  for (int i = 0; i < nb; i++) {
    par[i] = parent[i];
    jt[i] = jtype[i];
    qa[i] = iq;
    va[i] = iv;
    ax[3 * i] = ax[3 * i + 1] = ax[3 * i + 2] = 0.0;
    if (jtype[i] == DP_RB_REVOLUTE || jtype[i] == DP_RB_PRISMATIC) {
      double n = dp_norm3(axis + 3 * i);
      for (int c = 0; c < 3; c++) {
        ax[3 * i + c] = axis[3 * i + c] / n;
      }
    }
    // λ of the first dof: the last dof of the nearest ancestor that has dofs (fixed joints have
    // none); the following dofs of a multi-dof joint chain to the previous one.
    int nvi = joint_nv(jtype[i]);
    int anc = -1;
    for (int j = parent[i]; j >= 0; j = parent[j]) {
      if (joint_nv(jtype[j]) > 0) {
        anc = va[j] + joint_nv(jtype[j]) - 1;
        break;
      }
    }
    for (int k = 0; k < nvi; k++) {
      dp[iv + k] = k == 0 ? anc : iv + k - 1;
      db[iv + k] = i;
    }
    iq += joint_nq(jtype[i]);
    iv += nvi;
  }
  t->nb = nb;
  t->nq = nq;
  t->nv = nv;
  t->parent = par;
  t->jtype = jt;
  t->qadr = qa;
  t->vadr = va;
  t->axis = ax;
  t->dof_parent = dp;
  t->dof_body = db;
  *out = t;
  return DP_OK;
}

void rb_tree_free(dpRbTree *t) {
  dp_free(t);
}

// Scratch sizes of each algorithm, in doubles.
static size_t ws_rnea(const dpRbTree *t) {
  return (size_t)WS_BODY * t->nb + (size_t)t->nv;
}
static size_t ws_adj_rnea(const dpRbTree *t) {
  return ws_rnea(t) + (size_t)AS_BODY * t->nb;
}
static size_t ws_crba(const dpRbTree *t) {
  return (size_t)CS_BODY * t->nb;
}
static size_t zmax(size_t a, size_t b) {
  return a > b ? a : b;
}
static size_t ws_aba(const dpRbTree *t);
static size_t ws_fd(const dpRbTree *t) {
  return ws_aba(t);
}
static size_t ws_adj_fd(const dpRbTree *t) {
  return 2 * (size_t)t->nv + zmax(ws_aba(t), ws_adj_rnea(t));
}
// RK4 stage storage: per stage δ, v, A, K (nv each) and q (nq), then Δ, then the stage
// generalized forces T (4 nv).
static size_t ws_rk4_stages(const dpRbTree *t) {
  return 4 * (4 * (size_t)t->nv + (size_t)t->nq) + 5 * (size_t)t->nv;
}

size_t rb_scratch_size(const dpRbTree *t) {
  size_t nv = (size_t)t->nv;
  size_t s = zmax(ws_fd(t), ws_adj_fd(t));
  s = zmax(s, ws_adj_rnea(t));
  s = zmax(s, 5 * nv + s);                       // Euler step and its adjoint
  s = zmax(s, ws_rk4_stages(t) + 13 * nv + zmax(ws_fd(t), ws_adj_fd(t)));  // RK4 adjoint
  s = zmax(s, ws_rnea(t) + 12 * (size_t)t->nb);  // energy, momentum
  s = zmax(s, ws_crba(t));                       // rb_crba
  s = zmax(s, 9 * (size_t)t->nb);                // adj_rb_velocities
  s = zmax(s, 12 * (size_t)t->nb);               // (adj_)rb_generalized_force
  return s;
}

void rb_q_neutral(const dpRbTree *t, double *q) {
  memset(q, 0, (size_t)t->nq * sizeof *q);
  for (int i = 0; i < t->nb; i++) {
    if (t->jtype[i] == DP_RB_BALL) {
      q[t->qadr[i]] = 1.0;
    } else if (t->jtype[i] == DP_RB_FREE) {
      q[t->qadr[i] + 3] = 1.0;
    }
  }
}

// ---- joint helpers --------------------------------------------------------------------------

// The two stages of joint i at q: rotation R (9) of the body in the parent frame and translation
// r (3, parent frame) of the body origin.
static void joint_transform(const dpRbTree *t, int i, const double *q, const double *jpos,
                            double *R, double *r) {
  const double *a = t->axis + 3 * i;
  const double *qi = q + t->qadr[i];
  r[0] = jpos[3 * i];
  r[1] = jpos[3 * i + 1];
  r[2] = jpos[3 * i + 2];
  static const double eye[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  memcpy(R, eye, sizeof eye);
  switch (t->jtype[i]) {
    case DP_RB_REVOLUTE: {
      double phi[3] = {qi[0] * a[0], qi[0] * a[1], qi[0] * a[2]};
      rb_so3_exp(R, phi);
      break;
    }
    case DP_RB_PRISMATIC:
      for (int c = 0; c < 3; c++) {
        r[c] += qi[0] * a[c];
      }
      break;
    case DP_RB_BALL: rb_quat_to_mat(R, qi); break;
    case DP_RB_FREE:
      for (int c = 0; c < 3; c++) {
        r[c] += qi[c];
      }
      rb_quat_to_mat(R, qi + 3);
      break;
    default: break;
  }
}

// S x for joint i: split the dof vector x (nv, may be NULL = 0) into the translation-stage vector
// tr (3, parent axes) and the rotation-stage vector rot (3, body frame).
static void joint_split(const dpRbTree *t, int i, const double *x, double *tr, double *rot) {
  tr[0] = tr[1] = tr[2] = 0.0;
  rot[0] = rot[1] = rot[2] = 0.0;
  if (x == NULL) {
    return;
  }
  const double *a = t->axis + 3 * i;
  const double *xi = x + t->vadr[i];
  switch (t->jtype[i]) {
    case DP_RB_REVOLUTE:
      for (int c = 0; c < 3; c++) {
        rot[c] = a[c] * xi[0];
      }
      break;
    case DP_RB_PRISMATIC:
      for (int c = 0; c < 3; c++) {
        tr[c] = a[c] * xi[0];
      }
      break;
    case DP_RB_BALL:
      for (int c = 0; c < 3; c++) {
        rot[c] = xi[c];
      }
      break;
    case DP_RB_FREE:
      for (int c = 0; c < 3; c++) {
        tr[c] = xi[c];
        rot[c] = xi[3 + c];
      }
      break;
    default: break;
  }
}

// The transpose: out (nv, may be NULL) += Sᵀ (tr, rot) on joint i's dofs.
static void joint_gather(const dpRbTree *t, int i, const double *tr, const double *rot,
                         double *out) {
  if (out == NULL) {
    return;
  }
  const double *a = t->axis + 3 * i;
  double *oi = out + t->vadr[i];
  switch (t->jtype[i]) {
    case DP_RB_REVOLUTE: oi[0] += dp_dot3(a, rot); break;
    case DP_RB_PRISMATIC: oi[0] += dp_dot3(a, tr); break;
    case DP_RB_BALL:
      for (int c = 0; c < 3; c++) {
        oi[c] += rot[c];
      }
      break;
    case DP_RB_FREE:
      for (int c = 0; c < 3; c++) {
        oi[c] += tr[c];
        oi[3 + c] += rot[c];
      }
      break;
    default: break;
  }
}

// Column d (local dof index) of joint i's motion subspace in the body frame (6), given R.
static void joint_column(const dpRbTree *t, int i, int d, const double *R, double *s) {
  const double *a = t->axis + 3 * i;
  double e[3] = {0, 0, 0};
  int rot = 1;
  switch (t->jtype[i]) {
    case DP_RB_REVOLUTE: memcpy(e, a, sizeof e); break;
    case DP_RB_PRISMATIC:
      memcpy(e, a, sizeof e);
      rot = 0;
      break;
    case DP_RB_BALL: e[d] = 1.0; break;
    case DP_RB_FREE:
      rot = d >= 3;
      e[d % 3] = 1.0;
      break;
    default: break;
  }
  for (int c = 0; c < 6; c++) {
    s[c] = 0.0;
  }
  if (rot) {
    memcpy(s, e, sizeof e);
  } else {
    rb_mat_tvec(s + 3, R, e);  // the translation stage's [0; e] seen from the body frame
  }
}

static void add3(double *y, const double *x) {
  y[0] += x[0];
  y[1] += x[1];
  y[2] += x[2];
}

static void add6(double *y, const double *x) {
  for (int c = 0; c < 6; c++) {
    y[c] += x[c];
  }
}

// ---- forward kinematics ---------------------------------------------------------------------

void rb_fk(const dpRbTree *t, const dpRbParams *p, const double *q, double *xpos, double *xrot) {
  for (int i = 0; i < t->nb; i++) {
    double R[9], r[3];
    joint_transform(t, i, q, p->jpos, R, r);
    int pa = t->parent[i];
    if (pa < 0) {
      memcpy(xrot + 9 * i, R, sizeof R);
      memcpy(xpos + 3 * i, r, sizeof r);
      continue;
    }
    rb_mat_mul(xrot + 9 * i, xrot + 9 * pa, R);
    rb_mat_vec(xpos + 3 * i, xrot + 9 * pa, r);
    add3(xpos + 3 * i, xpos + 3 * pa);
  }
}

// Reverse of rb_fk, leaves to root: x_i = x_λ + W_λ r_i and W_i = W_λ R_i give
// x̄_λ += x̄_i, r̄_i = W_λᵀ x̄_i, W̄_λ += x̄_i r_iᵀ + W̄_i R_iᵀ, R̄_i = W_λᵀ W̄_i;
// a matrix gradient R̄ becomes the tangent gradient θ̄ = vee(A − Aᵀ) with A = Rᵀ R̄
// (from dR = R [δθ]×).
void adj_rb_fk(const dpRbTree *t, const dpRbParams *p, const double *q, double *q_bar,
               const dpRbParamsBar *p_bar, const double *xpos_bar, const double *xrot_bar,
               double *scratch) {
  int nb = t->nb;
  double *xpos = scratch, *xrot = xpos + 3 * (size_t)nb, *xb = xrot + 9 * (size_t)nb;
  double *Wb = xb + 3 * (size_t)nb;
  rb_fk(t, p, q, xpos, xrot);
  memcpy(xb, xpos_bar, 3 * (size_t)nb * sizeof *xb);
  if (xrot_bar != NULL) {
    memcpy(Wb, xrot_bar, 9 * (size_t)nb * sizeof *Wb);
  } else {
    memset(Wb, 0, 9 * (size_t)nb * sizeof *Wb);
  }
  static const double eye[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  for (int i = nb - 1; i >= 0; i--) {
    double R[9], r[3], rbar[3], Rb[9], A[9];
    joint_transform(t, i, q, p->jpos, R, r);
    int pa = t->parent[i];
    const double *Wp = pa < 0 ? eye : xrot + 9 * pa;
    const double *xbi = xb + 3 * i, *Wbi = Wb + 9 * i;
    rb_mat_tvec(rbar, Wp, xbi);
    for (int j = 0; j < 3; j++) {
      for (int k = 0; k < 3; k++) {
        Rb[3 * j + k] = Wp[j] * Wbi[k] + Wp[3 + j] * Wbi[3 + k] + Wp[6 + j] * Wbi[6 + k];
      }
    }
    if (pa >= 0) {
      double *Wbp = Wb + 9 * pa;
      add3(xb + 3 * pa, xbi);
      for (int j = 0; j < 3; j++) {
        for (int k = 0; k < 3; k++) {
          Wbp[3 * j + k] += xbi[j] * r[k] + Wbi[3 * j] * R[3 * k] + Wbi[3 * j + 1] * R[3 * k + 1] +
                            Wbi[3 * j + 2] * R[3 * k + 2];
        }
      }
    }
    for (int j = 0; j < 3; j++) {
      for (int k = 0; k < 3; k++) {
        A[3 * j + k] = R[j] * Rb[k] + R[3 + j] * Rb[3 + k] + R[6 + j] * Rb[6 + k];
      }
    }
    double th[3] = {A[7] - A[5], A[2] - A[6], A[3] - A[1]};
    add3(p_bar->jpos + 3 * i, rbar);
    joint_gather(t, i, rbar, th, q_bar);
  }
}

// ---- RNEA -----------------------------------------------------------------------------------

// The forward and backward sweeps, keeping the per-body state in ws (WS_BODY x nb).
//   translation:  v_m = X(r) v_λ + [0; q̇_t]       a_m = X(r) a_λ + [0; q̈_t] + v_m × [0; q̇_t]
//   rotation:     v = Rᵀ v_m + [q̇_r; 0]          a = Rᵀ a_m + [q̈_r; 0] + v × [q̇_r; 0]
//   force:        f = I a + v ×* I v,  summed over the subtree; τ = Sᵀ f per stage
// The world has v = 0 and a = [0; −g] (gravity as a fictitious base acceleration, Featherstone
// 2008 §5.3), so gravity enters the adjoint only through the base acceleration.
static void rnea_sweeps(const dpRbTree *t, const dpRbParams *p, const double *q,
                        const double *qd, const double *qdd, double *tau, double *ws) {
  double a0[6] = {0, 0, 0, -p->gravity[0], -p->gravity[1], -p->gravity[2]};
  static const double v0[6] = {0, 0, 0, 0, 0, 0};
  for (int i = 0; i < t->nb; i++) {
    double *w = ws + (size_t)WS_BODY * i;
    joint_transform(t, i, q, p->jpos, w + WS_R, w + WS_r);
    double vt[3], vr[3], at[3], ar[3];
    joint_split(t, i, qd, vt, vr);
    joint_split(t, i, qdd, at, ar);
    int pa = t->parent[i];
    const double *vp = pa < 0 ? v0 : ws + (size_t)WS_BODY * pa + WS_V;
    const double *ap = pa < 0 ? a0 : ws + (size_t)WS_BODY * pa + WS_A;
    double *vm = w + WS_VM, *am = w + WS_AM, *v = w + WS_V, *a = w + WS_A, *f = w + WS_F;
    rb_mot_translate(vm, w + WS_r, vp);
    add3(vm + 3, vt);
    rb_mot_translate(am, w + WS_r, ap);
    add3(am + 3, at);
    rb_cross3_acc(am + 3, vm, vt);
    rb_sv_rotate_in(v, w + WS_R, vm);
    add3(v, vr);
    rb_sv_rotate_in(a, w + WS_R, am);
    add3(a, ar);
    rb_cross3_acc(a, v, vr);
    rb_cross3_acc(a + 3, v + 3, vr);
    double m = p->mass[i];
    const double *c = p->com + 3 * i, *I6 = p->inertia + 6 * i;
    double h[6], vh[6];
    rb_inertia_apply(f, m, c, I6, a);
    rb_inertia_apply(h, m, c, I6, v);
    rb_crf(vh, v, h);
    add6(f, vh);
  }
  memset(tau, 0, (size_t)t->nv * sizeof *tau);
  for (int i = t->nb - 1; i >= 0; i--) {
    double *w = ws + (size_t)WS_BODY * i;
    double fm[6], zero[3] = {0, 0, 0};
    joint_gather(t, i, zero, w + WS_F, tau);
    rb_sv_rotate_out(fm, w + WS_R, w + WS_F);
    joint_gather(t, i, fm + 3, zero, tau);
    int pa = t->parent[i];
    if (pa >= 0) {
      double fp[6];
      rb_frc_translate_back(fp, w + WS_r, fm);
      add6(ws + (size_t)WS_BODY * pa + WS_F, fp);
    }
  }
  for (int k = 0; k < t->nv; k++) {
    tau[k] += (qdd != NULL ? p->armature[k] * qdd[k] : 0.0) +
              (qd != NULL ? p->damping[k] * qd[k] : 0.0);
  }
}

void rb_rnea(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
             const double *qdd, double *tau, double *scratch) {
  rnea_sweeps(t, p, q, qd, qdd, tau, scratch);
}

// Reverse of rnea_sweeps: first the backward (force) sweep in reverse, root to leaves, giving the
// adjoint of each body's total force; then the forward sweep in reverse, leaves to root. A
// rotation enters through u = Rᵀ x (ū gives x̄ += R ū and θ̄ += ū × u) and y = R z
// (θ̄ += z × Rᵀ ȳ), from d(R) = R [δθ]×; θ̄ then projects on the joint's rotation dofs like a
// velocity.
void adj_rb_rnea(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                 const double *qdd, double *q_bar, double *qd_bar, double *qdd_bar,
                 const dpRbParamsBar *p_bar, const double *tau_bar, double *scratch) {
  double *ws = scratch;
  double *tau = scratch + (size_t)WS_BODY * t->nb;
  double *as = tau + t->nv;
  rnea_sweeps(t, p, q, qd, qdd, tau, ws);
  memset(as, 0, (size_t)AS_BODY * t->nb * sizeof *as);
  for (int k = 0; k < t->nv; k++) {
    if (qdd != NULL) {
      p_bar->armature[k] += tau_bar[k] * qdd[k];
    }
    if (qdd_bar != NULL) {
      qdd_bar[k] += p->armature[k] * tau_bar[k];
    }
    if (qd != NULL) {
      p_bar->damping[k] += tau_bar[k] * qd[k];
    }
    if (qd_bar != NULL) {
      qd_bar[k] += p->damping[k] * tau_bar[k];
    }
  }
  // Backward sweep in reverse (ascending i: a parent's f_bar is complete before its children).
  for (int i = 0; i < t->nb; i++) {
    const double *w = ws + (size_t)WS_BODY * i;
    double *b = as + (size_t)AS_BODY * i;
    const double *R = w + WS_R, *r = w + WS_r, *f = w + WS_F;
    double tt[3], tr[3];
    joint_split(t, i, tau_bar, tt, tr);
    double fm_bar[6] = {0, 0, 0, tt[0], tt[1], tt[2]};
    int pa = t->parent[i];
    if (pa >= 0) {
      // fp = [n_m + r × f_m; f_m] added into the parent's total force
      const double *cb = as + (size_t)AS_BODY * pa + AS_F;
      double fm[6];
      rb_sv_rotate_out(fm, R, f);
      add3(fm_bar, cb);
      add3(fm_bar + 3, cb + 3);
      adj_rb_cross3(r, fm + 3, b + AS_R, fm_bar + 3, cb);
    }
    // fm = [R n; R f]
    double g[6];
    rb_sv_rotate_in(g, R, fm_bar);
    add6(b + AS_F, g);
    rb_cross3_acc(b + AS_TH, f, g);
    rb_cross3_acc(b + AS_TH, f + 3, g + 3);
    add3(b + AS_F, tr);
  }
  // Forward sweep in reverse.
  for (int i = t->nb - 1; i >= 0; i--) {
    const double *w = ws + (size_t)WS_BODY * i;
    double *b = as + (size_t)AS_BODY * i;
    const double *R = w + WS_R, *r = w + WS_r;
    const double *vm = w + WS_VM, *am = w + WS_AM, *v = w + WS_V, *a = w + WS_A;
    double *fb = b + AS_F, *vb = b + AS_V, *ab = b + AS_A, *thb = b + AS_TH, *rbar = b + AS_R;
    double m = p->mass[i];
    const double *c = p->com + 3 * i, *I6 = p->inertia + 6 * i;
    double *mb = p_bar->mass + i, *cbar = p_bar->com + 3 * i, *Ib = p_bar->inertia + 6 * i;
    // f = I a + v ×* (I v)
    double h[6], hb[6] = {0, 0, 0, 0, 0, 0};
    adj_rb_inertia_apply(m, c, I6, a, mb, cbar, Ib, ab, fb);
    rb_inertia_apply(h, m, c, I6, v);
    adj_rb_crf(v, h, vb, hb, fb);
    adj_rb_inertia_apply(m, c, I6, v, mb, cbar, Ib, vb, hb);
    double vt[3], vr[3];
    joint_split(t, i, qd, vt, vr);
    double vtb[3] = {0, 0, 0}, vrb[3] = {0, 0, 0}, atb[3] = {0, 0, 0}, arb[3] = {0, 0, 0};
    // a = Rᵀ a_m + [q̈_r; 0] + [ω × q̇_r; v_lin × q̇_r]
    add3(arb, ab);
    adj_rb_cross3(v, vr, vb, vrb, ab);
    adj_rb_cross3(v + 3, vr, vb + 3, vrb, ab + 3);
    double amb[6], u[6];
    rb_sv_rotate_out(amb, R, ab);
    rb_sv_rotate_in(u, R, am);
    rb_cross3_acc(thb, ab, u);
    rb_cross3_acc(thb, ab + 3, u + 3);
    // v = Rᵀ v_m + [q̇_r; 0]
    add3(vrb, vb);
    double vmb[6];
    rb_sv_rotate_out(vmb, R, vb);
    rb_sv_rotate_in(u, R, vm);
    rb_cross3_acc(thb, vb, u);
    rb_cross3_acc(thb, vb + 3, u + 3);
    // a_m = [α_λ; a_λ + α_λ × r + q̈_t + ω_λ × q̇_t]
    int pa = t->parent[i];
    double apb[6], vpb[6];
    apb[3] = amb[3];
    apb[4] = amb[4];
    apb[5] = amb[5];
    memcpy(apb, amb, 3 * sizeof *apb);
    rb_cross3_acc(apb, r, amb + 3);
    rb_cross3_acc(rbar, amb + 3, am);  // am[0..2] = α_λ
    add3(atb, amb + 3);
    vpb[0] = vpb[1] = vpb[2] = 0.0;
    adj_rb_cross3(vm, vt, vpb, vtb, amb + 3);  // vm[0..2] = ω_λ
    // v_m = [ω_λ; v_λ + ω_λ × r + q̇_t]
    add3(vpb, vmb);
    rb_cross3_acc(vpb, r, vmb + 3);
    rb_cross3_acc(rbar, vmb + 3, vm);
    add3(vtb, vmb + 3);
    vpb[3] = vmb[3];
    vpb[4] = vmb[4];
    vpb[5] = vmb[5];
    if (pa >= 0) {
      double *bp = as + (size_t)AS_BODY * pa;
      add6(bp + AS_V, vpb);
      add6(bp + AS_A, apb);
    } else {
      // a_world = [0; −g]; the world's velocity is constant
      for (int k = 0; k < 3; k++) {
        p_bar->gravity[k] -= apb[3 + k];
      }
    }
    add3(p_bar->jpos + 3 * i, rbar);
    joint_gather(t, i, rbar, thb, q_bar);
    joint_gather(t, i, vtb, vrb, qd_bar);
    joint_gather(t, i, atb, arb, qdd_bar);
  }
}

// ---- CRBA and LTDL --------------------------------------------------------------------------

void rb_crba(const dpRbTree *t, const dpRbParams *p, const double *q, double *M,
             double *scratch) {
  int nv = t->nv;
  memset(M, 0, (size_t)nv * nv * sizeof *M);
  for (int i = 0; i < t->nb; i++) {
    double *w = scratch + (size_t)CS_BODY * i;
    rb_inertia_matrix(w + CS_I, p->mass[i], p->com + 3 * i, p->inertia + 6 * i);
    joint_transform(t, i, q, p->jpos, w + CS_R, w + CS_r);
  }
  for (int i = t->nb - 1; i >= 0; i--) {
    double *w = scratch + (size_t)CS_BODY * i;
    const double *R = w + CS_R, *r = w + CS_r, *Ic = w + CS_I;
    // Diagonal block and the chain of ancestors: F = Ic s carried up as a force.
    int vi = t->vadr[i], ni = joint_nv(t->jtype[i]);
    for (int d = 0; d < ni; d++) {
      double s[6], F[6];
      joint_column(t, i, d, R, s);
      for (int r6 = 0; r6 < 6; r6++) {
        F[r6] = 0;
        for (int c6 = 0; c6 < 6; c6++) {
          F[r6] += Ic[6 * r6 + c6] * s[c6];
        }
      }
      for (int e = 0; e <= d; e++) {
        double se[6], x = 0;
        joint_column(t, i, e, R, se);
        for (int c6 = 0; c6 < 6; c6++) {
          x += se[c6] * F[c6];
        }
        M[(size_t)(vi + d) * nv + vi + e] = x;
        M[(size_t)(vi + e) * nv + vi + d] = x;
      }
      int j = i;
      while (t->parent[j] >= 0) {
        const double *wj = scratch + (size_t)CS_BODY * j;
        double fm[6];
        rb_sv_rotate_out(fm, wj + CS_R, F);
        rb_frc_translate_back(F, wj + CS_r, fm);
        j = t->parent[j];
        const double *Rj = scratch + (size_t)CS_BODY * j + CS_R;
        for (int e = 0; e < joint_nv(t->jtype[j]); e++) {
          double se[6], x = 0;
          joint_column(t, j, e, Rj, se);
          for (int c6 = 0; c6 < 6; c6++) {
            x += se[c6] * F[c6];
          }
          M[(size_t)(vi + d) * nv + t->vadr[j] + e] = x;
          M[(size_t)(t->vadr[j] + e) * nv + vi + d] = x;
        }
      }
    }
    // Ic_λ += Xᵀ Ic X, column by column: X e_k is the parent's unit motion seen from the body.
    int pa = t->parent[i];
    if (pa >= 0) {
      double *Ip = scratch + (size_t)CS_BODY * pa + CS_I;
      for (int k = 0; k < 6; k++) {
        double ek[6] = {0, 0, 0, 0, 0, 0}, xm[6], xb[6], y[6], z[6];
        ek[k] = 1.0;
        rb_mot_translate(xm, r, ek);
        rb_sv_rotate_in(xb, R, xm);
        for (int r6 = 0; r6 < 6; r6++) {
          y[r6] = 0;
          for (int c6 = 0; c6 < 6; c6++) {
            y[r6] += Ic[6 * r6 + c6] * xb[c6];
          }
        }
        rb_sv_rotate_out(xm, R, y);
        rb_frc_translate_back(z, r, xm);
        for (int r6 = 0; r6 < 6; r6++) {
          Ip[6 * r6 + k] += z[r6];
        }
      }
    }
  }
  for (int k = 0; k < nv; k++) {
    M[(size_t)k * nv + k] += p->armature[k];
  }
}

int rb_ltdl(const dpRbTree *t, double *M) {
  int n = t->nv;
  const int *lam = t->dof_parent;
  for (int k = n - 1; k >= 0; k--) {
    double dkk = M[(size_t)k * n + k];
    if (!(dkk > 0)) {
      return k + 1;
    }
    for (int i = lam[k]; i >= 0; i = lam[i]) {
      double a = M[(size_t)k * n + i] / dkk;
      for (int j = i; j >= 0; j = lam[j]) {
        M[(size_t)i * n + j] -= a * M[(size_t)k * n + j];
      }
      M[(size_t)k * n + i] = a;
    }
  }
  return 0;
}

void rb_ltdl_solve(const dpRbTree *t, const double *LD, double *x) {
  int n = t->nv;
  const int *lam = t->dof_parent;
  // Lᵀ y = b, from the leaves up
  for (int i = n - 1; i >= 0; i--) {
    for (int j = lam[i]; j >= 0; j = lam[j]) {
      x[j] -= LD[(size_t)i * n + j] * x[i];
    }
  }
  for (int i = 0; i < n; i++) {
    x[i] /= LD[(size_t)i * n + i];
  }
  // L x = z, from the root down
  for (int i = 0; i < n; i++) {
    for (int j = lam[i]; j >= 0; j = lam[j]) {
      x[i] -= LD[(size_t)i * n + j] * x[j];
    }
  }
}

// ---- forward dynamics: the articulated-body algorithm ---------------------------------------

// Featherstone (2008), §7.3, Table 7.1, run per joint stage (see the top of this file): the
// rotation stage in the body frame (dofs [s_r; 0]), then, for prismatic and free joints, the
// translation stage in the mid frame (dofs [0; s_t]); a stage without dofs only transforms.
// Armature enters the joint-space inertia D = Sᵀ I^A S + armature and damping the joint force
// u = τ − damping·q̇ − Sᵀ p^A, so that ABA inverts rb_rnea exactly.
// Per-body state in the scratch: R (9), r (3), v (6), c_m (6, translation-stage velocity
// product), c (6, rotation-stage one), I^A (36), p^A (6), then per stage (translation, rotation)
// U = I^A S (6 x 3), D⁻¹ (3 x 3), u (3); and the acceleration a (6).
enum {
  AB_R = 0,
  AB_r = 9,
  AB_V = 12,
  AB_CM = 18,
  AB_C = 24,
  AB_I = 30,
  AB_P = 66,
  AB_UT = 72,
  AB_DT = 90,
  AB_uT = 99,
  AB_UR = 102,
  AB_DR = 120,
  AB_uR = 129,
  AB_A = 132,
  AB_BODY = 138
};

static size_t ws_aba(const dpRbTree *t) {
  return (size_t)AB_BODY * t->nb;
}

// The columns (6 each) of stage st (0: translation, 1: rotation) of joint i in that stage's frame
// and its first dof; returns the number of dofs.
static int stage_cols(const dpRbTree *t, int i, int st, double S[3][6], int *dof0) {
  const double *a = t->axis + 3 * i;
  int type = t->jtype[i], d = 0, off = st == 0 ? 0 : 3;  // off: angular (0) or linear (3) part
  *dof0 = t->vadr[i];
  memset(S, 0, 3 * sizeof S[0]);
  if ((st == 1 && type == DP_RB_REVOLUTE) || (st == 0 && type == DP_RB_PRISMATIC)) {
    memcpy(S[0] + 3 - off, a, 3 * sizeof *a);
    return 1;
  }
  if ((st == 1 && (type == DP_RB_BALL || type == DP_RB_FREE)) || (st == 0 && type == DP_RB_FREE)) {
    d = 3;
    for (int k = 0; k < 3; k++) {
      S[k][3 - off + k] = 1.0;
    }
    if (st == 1 && type == DP_RB_FREE) {
      *dof0 += 3;
    }
  }
  return d;
}

// out = R X Rᵀ for 3x3 blocks (row-major).
static void rot3_conj(double *DP_RESTRICT out, const double *R, const double *X) {
  double T[9];
  rb_mat_mul(T, R, X);
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      out[3 * i + j] =
          T[3 * i] * R[3 * j] + T[3 * i + 1] * R[3 * j + 1] + T[3 * i + 2] * R[3 * j + 2];
    }
  }
}

// out (=|+=) Xᵀ I X for the motion transform X = rot(Rᵀ) xlt(r) (R or r NULL: identity), i.e. the
// symmetric spatial inertia I of the child seen from the parent (Featherstone 2008, §2.13, and
// the I^A_λ update of Table 7.1). With I = [A B; Bᵀ C] (3x3 blocks): the rotation gives
// [R A Rᵀ, R B Rᵀ; ·, R C Rᵀ]; then xlt(r) = [1 0; −r× 1] gives C' = C, B' = B + r× C,
// A' = A − B' r× + r× Bᵀ.
static void inertia_xform(double *out, const double *I, const double *R, const double *r,
                          int acc) {
  double A[9], B[9], C[9];
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      A[3 * i + j] = I[6 * i + j];
      B[3 * i + j] = I[6 * i + 3 + j];
      C[3 * i + j] = I[6 * (3 + i) + 3 + j];
    }
  }
  if (R != NULL) {
    double T[9];
    rot3_conj(T, R, A);
    memcpy(A, T, sizeof T);
    rot3_conj(T, R, B);
    memcpy(B, T, sizeof T);
    rot3_conj(T, R, C);
    memcpy(C, T, sizeof T);
  }
  if (r != NULL) {
    double Bn[9], col[3], x[3];
    for (int j = 0; j < 3; j++) {  // B' = B + r× C, column by column
      col[0] = C[j];
      col[1] = C[3 + j];
      col[2] = C[6 + j];
      rb_cross3(x, r, col);
      for (int i = 0; i < 3; i++) {
        Bn[3 * i + j] = B[3 * i + j] + x[i];
      }
    }
    for (int i = 0; i < 3; i++) {
      rb_cross3(x, Bn + 3 * i, r);  // row i of B' r× is B'[i,:] × r
      for (int j = 0; j < 3; j++) {
        A[3 * i + j] -= x[j];
      }
    }
    for (int j = 0; j < 3; j++) {
      rb_cross3(x, r, B + 3 * j);  // column j of r× Bᵀ is r × B[j,:]
      for (int i = 0; i < 3; i++) {
        A[3 * i + j] += x[i];
      }
    }
    memcpy(B, Bn, sizeof Bn);
  }
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      double va = A[3 * i + j], vb = B[3 * i + j], vbt = B[3 * j + i], vc = C[3 * i + j];
      if (acc) {
        out[6 * i + j] += va;
        out[6 * i + 3 + j] += vb;
        out[6 * (3 + i) + j] += vbt;
        out[6 * (3 + i) + 3 + j] += vc;
      } else {
        out[6 * i + j] = va;
        out[6 * i + 3 + j] = vb;
        out[6 * (3 + i) + j] = vbt;
        out[6 * (3 + i) + 3 + j] = vc;
      }
    }
  }
}

// One stage of the backward pass of Table 7.1 on (I, p) in the stage's frame with velocity
// product c: U = I S, D = Sᵀ U + armature, u = τ − damping·q̇ − Sᵀ p; then
// I ← I − U D⁻¹ Uᵀ, p ← p + I c + U D⁻¹ u. D⁻¹ from a Cholesky factor (d ≤ 3). Keeps U, D⁻¹, u
// in Us, Ds, us. Returns 0 or 1 + the dof whose pivot is not positive.
static int aba_stage(const dpRbTree *t, const dpRbParams *p, const double *qd,
                     const double *tau, int damp, int i, int st, double *I, double *pA,
                     const double *c, double *Us, double *Ds, double *us) {
  double S[3][6];
  int k0, d = stage_cols(t, i, st, S, &k0);
  if (d == 0) {
    return 0;  // no dofs: c = 0 too
  }
  double D[9], L[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (int j = 0; j < d; j++) {
    double *U = Us + 6 * j, sp = 0;
    for (int a = 0; a < 6; a++) {
      U[a] = 0;
      for (int b = 0; b < 6; b++) {
        U[a] += I[6 * a + b] * S[j][b];
      }
      sp += S[j][a] * pA[a];
    }
    int k = k0 + j;
    us[j] = tau[k] - sp - (damp && qd != NULL ? p->damping[k] * qd[k] : 0.0);
    for (int l = 0; l <= j; l++) {
      double x = 0;
      for (int a = 0; a < 6; a++) {
        x += S[l][a] * U[a];
      }
      D[3 * j + l] = D[3 * l + j] = x;
    }
    D[4 * j] += p->armature[k];
  }
  // Cholesky D = L Lᵀ, then D⁻¹ = L⁻ᵀ L⁻¹ from the inverse of L.
  for (int j = 0; j < d; j++) {
    for (int l = 0; l <= j; l++) {
      double x = D[3 * j + l];
      for (int m = 0; m < l; m++) {
        x -= L[3 * j + m] * L[3 * l + m];
      }
      if (l == j) {
        if (!(x > 0)) {
          return k0 + j + 1;
        }
        L[4 * j] = sqrt(x);
      } else {
        L[3 * j + l] = x / L[4 * l];
      }
    }
  }
  double Li[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (int j = 0; j < d; j++) {
    Li[4 * j] = 1.0 / L[4 * j];
    for (int l = 0; l < j; l++) {
      double x = 0;
      for (int m = l; m < j; m++) {
        x += L[3 * j + m] * Li[3 * m + l];
      }
      Li[3 * j + l] = -x * Li[4 * j];
    }
  }
  for (int j = 0; j < d; j++) {
    for (int l = 0; l <= j; l++) {
      double x = 0;
      for (int m = j; m < d; m++) {
        x += Li[3 * m + j] * Li[3 * m + l];
      }
      Ds[3 * j + l] = Ds[3 * l + j] = x;
    }
  }
  // W = U D⁻¹ (6 x d); I −= W Uᵀ; p += I c + W u.
  double W[3][6];
  for (int j = 0; j < d; j++) {
    for (int a = 0; a < 6; a++) {
      double x = 0;
      for (int l = 0; l < d; l++) {
        x += Us[6 * l + a] * Ds[3 * l + j];
      }
      W[j][a] = x;
    }
  }
  for (int a = 0; a < 6; a++) {
    for (int b = 0; b < 6; b++) {
      double x = 0;
      for (int j = 0; j < d; j++) {
        x += W[j][a] * Us[6 * j + b];
      }
      I[6 * a + b] -= x;
    }
  }
  for (int a = 0; a < 6; a++) {
    double x = 0;
    for (int b = 0; b < 6; b++) {
      x += I[6 * a + b] * c[b];
    }
    for (int j = 0; j < d; j++) {
      x += W[j][a] * us[j];
    }
    pA[a] += x;
  }
  return 0;
}

// The forward pass of Table 7.1 for one stage: q̈ = D⁻¹ (u − Uᵀ a'), a = a' + S q̈ (a in place).
static void aba_accel(const dpRbTree *t, int i, int st, const double *Us, const double *Ds,
                      const double *us, double *a, double *qdd) {
  double S[3][6], y[3];
  int k0, d = stage_cols(t, i, st, S, &k0);
  for (int j = 0; j < d; j++) {
    y[j] = us[j];
    for (int b = 0; b < 6; b++) {
      y[j] -= Us[6 * j + b] * a[b];
    }
  }
  for (int j = 0; j < d; j++) {
    double x = 0;
    for (int l = 0; l < d; l++) {
      x += Ds[3 * j + l] * y[l];
    }
    qdd[k0 + j] = x;
    for (int b = 0; b < 6; b++) {
      a[b] += S[j][b] * x;
    }
  }
}

static int has_trans_dofs(int type) {
  return type == DP_RB_PRISMATIC || type == DP_RB_FREE;
}

// ABA: qdd = M⁻¹ (tau − c(q, qd) − damping·qd) with gravity when dyn is set; with dyn clear,
// qd is ignored and the result is M⁻¹ tau (zero velocity, zero gravity, no damping), an O(nb)
// solve with the mass matrix. Featherstone (2008), §7.3, Table 7.1.
static int aba(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
               const double *tau, int dyn, double *qdd, double *ws) {
  if (!dyn) {
    qd = NULL;
  }
  static const double z6[6] = {0, 0, 0, 0, 0, 0};
  // Pass 1: velocities, velocity products, rigid-body inertias and bias forces.
  for (int i = 0; i < t->nb; i++) {
    double *w = ws + (size_t)AB_BODY * i;
    joint_transform(t, i, q, p->jpos, w + AB_R, w + AB_r);
    rb_inertia_matrix(w + AB_I, p->mass[i], p->com + 3 * i, p->inertia + 6 * i);
    double *v = w + AB_V, *cm = w + AB_CM, *c = w + AB_C, *pA = w + AB_P;
    if (qd == NULL) {
      memset(v, 0, 18 * sizeof *v);  // v, c_m, c
      memset(pA, 0, 6 * sizeof *pA);
      continue;
    }
    double vt[3], vr[3], vm[6];
    joint_split(t, i, qd, vt, vr);
    int pa = t->parent[i];
    const double *vp = pa < 0 ? z6 : ws + (size_t)AB_BODY * pa + AB_V;
    rb_mot_translate(vm, w + AB_r, vp);
    add3(vm + 3, vt);
    cm[0] = cm[1] = cm[2] = 0.0;
    rb_cross3(cm + 3, vm, vt);  // v_m × [0; q̇_t]
    rb_sv_rotate_in(v, w + AB_R, vm);
    add3(v, vr);
    rb_cross3(c, v, vr);  // v × [q̇_r; 0]
    rb_cross3(c + 3, v + 3, vr);
    double h[6];
    rb_inertia_apply(h, p->mass[i], p->com + 3 * i, p->inertia + 6 * i, v);
    rb_crf(pA, v, h);
  }
  // Pass 2: articulated inertias and bias forces, leaves to root.
  for (int i = t->nb - 1; i >= 0; i--) {
    double *w = ws + (size_t)AB_BODY * i;
    const double *R = w + AB_R, *r = w + AB_r;
    double *I = w + AB_I, *pA = w + AB_P;
    int rc = aba_stage(t, p, qd, tau, dyn, i, 1, I, pA, w + AB_C, w + AB_UR, w + AB_DR, w + AB_uR);
    if (rc != 0) {
      return rc;
    }
    int pa = t->parent[i];
    double pm[6], pp[6];
    if (has_trans_dofs(t->jtype[i])) {
      double Im[36];
      inertia_xform(Im, I, R, NULL, 0);
      rb_sv_rotate_out(pm, R, pA);
      rc = aba_stage(t, p, qd, tau, dyn, i, 0, Im, pm, w + AB_CM, w + AB_UT, w + AB_DT,
                     w + AB_uT);
      if (rc != 0) {
        return rc;
      }
      if (pa >= 0) {
        inertia_xform(ws + (size_t)AB_BODY * pa + AB_I, Im, NULL, r, 1);
      }
    } else {
      rb_sv_rotate_out(pm, R, pA);
      if (pa >= 0) {
        inertia_xform(ws + (size_t)AB_BODY * pa + AB_I, I, R, r, 1);
      }
    }
    if (pa >= 0) {
      rb_frc_translate_back(pp, r, pm);
      add6(ws + (size_t)AB_BODY * pa + AB_P, pp);
    }
  }
  // Pass 3: accelerations, root to leaves; the world accelerates at [0; −g] (gravity).
  double a0[6] = {0, 0, 0, 0, 0, 0};
  if (dyn) {
    a0[3] = -p->gravity[0];
    a0[4] = -p->gravity[1];
    a0[5] = -p->gravity[2];
  }
  for (int i = 0; i < t->nb; i++) {
    double *w = ws + (size_t)AB_BODY * i;
    int pa = t->parent[i];
    const double *ap = pa < 0 ? a0 : ws + (size_t)AB_BODY * pa + AB_A;
    double am[6];
    rb_mot_translate(am, w + AB_r, ap);
    add6(am, w + AB_CM);
    if (has_trans_dofs(t->jtype[i])) {
      aba_accel(t, i, 0, w + AB_UT, w + AB_DT, w + AB_uT, am, qdd);
    }
    double *a = w + AB_A;
    rb_sv_rotate_in(a, w + AB_R, am);
    add6(a, w + AB_C);
    aba_accel(t, i, 1, w + AB_UR, w + AB_DR, w + AB_uR, a, qdd);
  }
  return 0;
}

// The articulated-body algorithm (above) rather than RNEA + CRBA + LTDL: O(nb) against the
// O(nv d²) of the sparse LTDL, which is O(nv³) for a chain. Featherstone (2008), §7.3, Table 7.1.
int rb_forward_dynamics(const dpRbTree *t, const dpRbParams *p, const double *q,
                        const double *qd, const double *tau, double *qdd, double *scratch) {
  return aba(t, p, q, qd, tau, 1, qdd, scratch);
}

// With M w = qdd_bar solved by ABA at zero velocity, zero gravity and no damping (w = M⁻¹ b in
// O(nb); M is symmetric, so this is also the transposed solve).
void adj_rb_forward_dynamics(const dpRbTree *t, const dpRbParams *p, const double *q,
                             const double *qd, const double *tau, const double *qdd,
                             double *q_bar, double *qd_bar, double *tau_bar,
                             const dpRbParamsBar *p_bar, const double *qdd_bar, double *scratch) {
  (void)tau;  // enters linearly: its adjoint is w, independent of its value
  size_t nv = (size_t)t->nv;
  double *w = scratch, *nw = w + nv, *ws = nw + nv;
  if (aba(t, p, q, NULL, qdd_bar, 0, w, ws) != 0) {
    return;  // the forward pass failed on the same inertias and reported it
  }
  for (size_t k = 0; k < nv; k++) {
    tau_bar[k] += w[k];
    nw[k] = -w[k];
  }
  // qdd's own adjoint from RNEA (M w) is what the implicit function theorem consumed: not wanted.
  adj_rb_rnea(t, p, q, qd, qdd, q_bar, qd_bar, NULL, p_bar, nw, ws);
}

// ---- manifold integration -------------------------------------------------------------------

void rb_retract(const dpRbTree *t, const double *q, const double *dv, double *q_out) {
  for (int i = 0; i < t->nb; i++) {
    const double *qi = q + t->qadr[i], *di = dv + t->vadr[i];
    double *qo = q_out + t->qadr[i];
    int type = t->jtype[i];
    int nlin = type == DP_RB_FREE ? 3 : (type == DP_RB_BALL ? 0 : joint_nq(type));
    for (int k = 0; k < nlin; k++) {
      qo[k] = qi[k] + di[k];
    }
    if (type == DP_RB_BALL || type == DP_RB_FREE) {
      double e[4], qn[4];
      rb_quat_exp(e, di + nlin);
      rb_quat_mul(qn, qi + nlin, e);
      rb_quat_normalize(qn);
      memcpy(qo + nlin, qn, sizeof qn);
    }
  }
}

void adj_rb_retract(const dpRbTree *t, const double *q, const double *dv, double *q_bar,
                    double *dv_bar, const double *q_out_bar) {
  (void)q;  // the tangent-space adjoint does not depend on the base point
  for (int i = 0; i < t->nb; i++) {
    int vi = t->vadr[i], type = t->jtype[i];
    int nlin = type == DP_RB_FREE ? 3 : (type == DP_RB_BALL ? 0 : joint_nv(type));
    for (int k = 0; k < nlin; k++) {
      if (q_bar != NULL) {
        q_bar[vi + k] += q_out_bar[vi + k];
      }
      if (dv_bar != NULL) {
        dv_bar[vi + k] += q_out_bar[vi + k];
      }
    }
    if (type == DP_RB_BALL || type == DP_RB_FREE) {
      // Q exp(ε) exp(φ) = Q exp(φ) exp(R(φ)ᵀ ε): the base-point adjoint is R(φ) g.
      const double *phi = dv + vi + nlin, *g = q_out_bar + vi + nlin;
      double R[9], x[3];
      if (q_bar != NULL) {
        rb_so3_exp(R, phi);
        rb_mat_vec(x, R, g);
        add3(q_bar + vi + nlin, x);
      }
      if (dv_bar != NULL) {
        rb_so3_jr_tvec(x, phi, g);
        add3(dv_bar + vi + nlin, x);
      }
    }
  }
}

void rb_integrate(const dpRbTree *t, const double *q, const double *v, double h, double *q_out) {
  // dv = h v, one joint block at a time so that no nv-sized temporary is needed.
  for (int i = 0; i < t->nb; i++) {
    const double *qi = q + t->qadr[i], *vi = v + t->vadr[i];
    double *qo = q_out + t->qadr[i];
    int type = t->jtype[i];
    int nlin = type == DP_RB_FREE ? 3 : (type == DP_RB_BALL ? 0 : joint_nq(type));
    for (int k = 0; k < nlin; k++) {
      qo[k] = qi[k] + h * vi[k];
    }
    if (type == DP_RB_BALL || type == DP_RB_FREE) {
      double phi[3] = {h * vi[nlin], h * vi[nlin + 1], h * vi[nlin + 2]};
      double e[4], qn[4];
      rb_quat_exp(e, phi);
      rb_quat_mul(qn, qi + nlin, e);
      rb_quat_normalize(qn);
      memcpy(qo + nlin, qn, sizeof qn);
    }
  }
}

void adj_rb_integrate(const dpRbTree *t, const double *q, const double *v, double h,
                      double *q_bar, double *v_bar, const double *q_out_bar) {
  (void)q;
  for (int i = 0; i < t->nb; i++) {
    int vi = t->vadr[i], type = t->jtype[i];
    int nlin = type == DP_RB_FREE ? 3 : (type == DP_RB_BALL ? 0 : joint_nv(type));
    for (int k = 0; k < nlin; k++) {
      q_bar[vi + k] += q_out_bar[vi + k];
      v_bar[vi + k] += h * q_out_bar[vi + k];
    }
    if (type == DP_RB_BALL || type == DP_RB_FREE) {
      const double *vv = v + vi + nlin, *g = q_out_bar + vi + nlin;
      double phi[3] = {h * vv[0], h * vv[1], h * vv[2]};
      double R[9], x[3];
      rb_so3_exp(R, phi);
      rb_mat_vec(x, R, g);
      add3(q_bar + vi + nlin, x);
      rb_so3_jr_tvec(x, phi, g);
      for (int c = 0; c < 3; c++) {
        v_bar[vi + nlin + c] += h * x[c];
      }
    }
  }
}

void rb_tangent_from_qgrad(const dpRbTree *t, const double *q, const double *gq, double *gt) {
  for (int i = 0; i < t->nb; i++) {
    int qa = t->qadr[i], va = t->vadr[i], type = t->jtype[i];
    int nlin = type == DP_RB_FREE ? 3 : (type == DP_RB_BALL ? 0 : joint_nv(type));
    for (int k = 0; k < nlin; k++) {
      gt[va + k] = gq[qa + k];
    }
    if (type == DP_RB_BALL || type == DP_RB_FREE) {
      rb_quat_tangent_from_grad(gt + va + nlin, q + qa + nlin, gq + qa + nlin);
    }
  }
}

void rb_qgrad_from_tangent(const dpRbTree *t, const double *q, const double *gt, double *gq) {
  for (int i = 0; i < t->nb; i++) {
    int qa = t->qadr[i], va = t->vadr[i], type = t->jtype[i];
    int nlin = type == DP_RB_FREE ? 3 : (type == DP_RB_BALL ? 0 : joint_nv(type));
    for (int k = 0; k < nlin; k++) {
      gq[qa + k] = gt[va + k];
    }
    if (type == DP_RB_BALL || type == DP_RB_FREE) {
      rb_quat_grad_from_tangent(gq + qa + nlin, q + qa + nlin, gt + va + nlin);
    }
  }
}

// ---- time steps -----------------------------------------------------------------------------

// The stage's generalized force: tau (may be NULL: zero) plus fx at (q, qd) (fx may be NULL).
static const double *stage_force(const dpRbTree *t, const double *tau, const dpRbForce *fx,
                                 const double *q, const double *qd, double *buf) {
  if (fx == NULL || fx->eval == NULL) {
    if (tau != NULL) {
      return tau;
    }
    memset(buf, 0, (size_t)t->nv * sizeof *buf);
    return buf;
  }
  if (tau != NULL) {
    memcpy(buf, tau, (size_t)t->nv * sizeof *buf);
  } else {
    memset(buf, 0, (size_t)t->nv * sizeof *buf);
  }
  fx->eval(fx->ud, q, qd, buf);
  return buf;
}

// Adjoint of stage_force: tau_bar += Tb (when tau is given), and fx's adjoint at (q, qd).
static void adj_stage_force(const dpRbTree *t, const double *tau, const dpRbForce *fx,
                            const double *q, const double *qd, double *q_bar, double *qd_bar,
                            double *tau_bar, const double *Tb) {
  if (tau != NULL && tau_bar != NULL) {
    for (int k = 0; k < t->nv; k++) {
      tau_bar[k] += Tb[k];
    }
  }
  if (fx != NULL && fx->adj != NULL) {
    fx->adj(fx->ud, q, qd, q_bar, qd_bar, Tb);
  }
}

int rb_step_euler_ex(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                     const double *tau, const dpRbForce *fx, double h, double *q_out,
                     double *qd_out, double *scratch) {
  size_t nv = (size_t)t->nv;
  double *qdd = scratch, *T = scratch + 3 * nv, *ws = scratch + 5 * nv;
  const double *Ts = stage_force(t, tau, fx, q, qd, T);
  int rc = rb_forward_dynamics(t, p, q, qd, Ts, qdd, ws);
  if (rc != 0) {
    return rc;
  }
  for (size_t k = 0; k < nv; k++) {
    qd_out[k] = qd[k] + h * qdd[k];
  }
  rb_integrate(t, q, qd_out, h, q_out);
  return 0;
}

int rb_step_euler(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                  const double *tau, double h, double *q_out, double *qd_out, double *scratch) {
  return rb_step_euler_ex(t, p, q, qd, tau, NULL, h, q_out, qd_out, scratch);
}

void adj_rb_step_euler_ex(const dpRbTree *t, const dpRbParams *p, const double *q,
                          const double *qd, const double *tau, const dpRbForce *fx, double h,
                          double *q_bar, double *qd_bar, double *tau_bar,
                          const dpRbParamsBar *p_bar, const double *q_out_bar,
                          const double *qd_out_bar, double *scratch) {
  size_t nv = (size_t)t->nv;
  double *qdd = scratch, *vo = qdd + nv, *vob = vo + nv, *T = vob + nv, *Tb = T + nv;
  double *ws = Tb + nv;
  const double *Ts = stage_force(t, tau, fx, q, qd, T);
  if (rb_forward_dynamics(t, p, q, qd, Ts, qdd, ws) != 0) {
    return;
  }
  for (size_t k = 0; k < nv; k++) {
    vo[k] = qd[k] + h * qdd[k];
    vob[k] = qd_out_bar[k];
  }
  adj_rb_integrate(t, q, vo, h, q_bar, vob, q_out_bar);
  for (size_t k = 0; k < nv; k++) {
    qd_bar[k] += vob[k];
    vob[k] *= h;  // now the adjoint of qdd
  }
  memset(Tb, 0, nv * sizeof *Tb);
  adj_rb_forward_dynamics(t, p, q, qd, Ts, qdd, q_bar, qd_bar, Tb, p_bar, vob, ws);
  adj_stage_force(t, tau, fx, q, qd, q_bar, qd_bar, tau_bar, Tb);
}

void adj_rb_step_euler(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                       const double *tau, double h, double *q_bar, double *qd_bar,
                       double *tau_bar, const dpRbParamsBar *p_bar, const double *q_out_bar,
                       const double *qd_out_bar, double *scratch) {
  adj_rb_step_euler_ex(t, p, q, qd, tau, NULL, h, q_bar, qd_bar, tau_bar, p_bar, q_out_bar,
                       qd_out_bar, scratch);
}

// K = dexpinv(δ, v) on the rotation blocks of ball and free joints, K = v elsewhere.
static void tree_dexpinv(const dpRbTree *t, const double *d, const double *v, double *K) {
  memcpy(K, v, (size_t)t->nv * sizeof *K);
  for (int i = 0; i < t->nb; i++) {
    int type = t->jtype[i];
    if (type == DP_RB_BALL || type == DP_RB_FREE) {
      int o = t->vadr[i] + (type == DP_RB_FREE ? 3 : 0);
      rb_dexpinv(K + o, d + o, v + o);
    }
  }
}

static void adj_tree_dexpinv(const dpRbTree *t, const double *d, const double *v, double *d_bar,
                             double *v_bar, const double *K_bar) {
  for (int i = 0; i < t->nb; i++) {
    int type = t->jtype[i], vi = t->vadr[i];
    if (type == DP_RB_BALL || type == DP_RB_FREE) {
      int o = vi + (type == DP_RB_FREE ? 3 : 0);
      for (int k = vi; k < o; k++) {
        v_bar[k] += K_bar[k];
      }
      adj_rb_dexpinv(d + o, v + o, d_bar + o, v_bar + o, K_bar + o);
    } else {
      for (int k = vi; k < vi + joint_nv(type); k++) {
        v_bar[k] += K_bar[k];
      }
    }
  }
}

// The stage storage of RK4 in the scratch.
typedef struct rk4Stages {
  double *d[4], *v[4], *A[4], *K[4], *q[4], *D, *T[4];
} rk4Stages;

static const double RK4_C[4] = {0.0, 0.5, 0.5, 1.0};
static const double RK4_B[4] = {1.0 / 6.0, 2.0 / 6.0, 2.0 / 6.0, 1.0 / 6.0};

static double *rk4_layout(const dpRbTree *t, double *scratch, rk4Stages *st) {
  size_t nv = (size_t)t->nv, nq = (size_t)t->nq;
  double *x = scratch;
  for (int s = 0; s < 4; s++) {
    st->d[s] = x;
    st->v[s] = x + nv;
    st->A[s] = x + 2 * nv;
    st->K[s] = x + 3 * nv;
    st->q[s] = x + 4 * nv;
    x += 4 * nv + nq;
  }
  st->D = x;
  x += nv;
  for (int s = 0; s < 4; s++) {
    st->T[s] = x;
    x += nv;
  }
  return x;
}

// The four stages and the final tangent step Δ; returns the first failure of forward dynamics.
static int rk4_stages(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                      const double *tau, const dpRbForce *fx, double h, const rk4Stages *st,
                      double *ws) {
  size_t nv = (size_t)t->nv;
  for (int s = 0; s < 4; s++) {
    for (size_t k = 0; k < nv; k++) {
      st->d[s][k] = s == 0 ? 0.0 : RK4_C[s] * h * st->K[s - 1][k];
      st->v[s][k] = s == 0 ? qd[k] : qd[k] + RK4_C[s] * h * st->A[s - 1][k];
    }
    rb_retract(t, q, st->d[s], st->q[s]);
    const double *Ts = stage_force(t, tau, fx, st->q[s], st->v[s], st->T[s]);
    int rc = rb_forward_dynamics(t, p, st->q[s], st->v[s], Ts, st->A[s], ws);
    if (rc != 0) {
      return rc;
    }
    tree_dexpinv(t, st->d[s], st->v[s], st->K[s]);
  }
  for (size_t k = 0; k < nv; k++) {
    double x = 0;
    for (int s = 0; s < 4; s++) {
      x += RK4_B[s] * st->K[s][k];
    }
    st->D[k] = h * x;
  }
  return 0;
}

int rb_step_rk4(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                const double *tau, double h, double *q_out, double *qd_out, double *scratch) {
  return rb_step_rk4_ex(t, p, q, qd, tau, NULL, h, q_out, qd_out, scratch);
}

int rb_step_rk4_ex(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                   const double *tau, const dpRbForce *fx, double h, double *q_out,
                   double *qd_out, double *scratch) {
  rk4Stages st;
  double *ws = rk4_layout(t, scratch, &st);
  int rc = rk4_stages(t, p, q, qd, tau, fx, h, &st, ws);
  if (rc != 0) {
    return rc;
  }
  for (int k = 0; k < t->nv; k++) {
    double x = 0;
    for (int s = 0; s < 4; s++) {
      x += RK4_B[s] * st.A[s][k];
    }
    qd_out[k] = qd[k] + h * x;
  }
  rb_retract(t, q, st.D, q_out);
  return 0;
}

void adj_rb_step_rk4(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                     const double *tau, double h, double *q_bar, double *qd_bar,
                     double *tau_bar, const dpRbParamsBar *p_bar, const double *q_out_bar,
                     const double *qd_out_bar, double *scratch) {
  adj_rb_step_rk4_ex(t, p, q, qd, tau, NULL, h, q_bar, qd_bar, tau_bar, p_bar, q_out_bar,
                     qd_out_bar, scratch);
}

void adj_rb_step_rk4_ex(const dpRbTree *t, const dpRbParams *p, const double *q,
                        const double *qd, const double *tau, const dpRbForce *fx, double h,
                        double *q_bar, double *qd_bar, double *tau_bar,
                        const dpRbParamsBar *p_bar, const double *q_out_bar,
                        const double *qd_out_bar, double *scratch) {
  size_t nv = (size_t)t->nv;
  rk4Stages st;
  double *x = rk4_layout(t, scratch, &st);
  double *Kb[4], *Ab[4];
  for (int s = 0; s < 4; s++) {
    Kb[s] = x + (size_t)s * nv;
    Ab[s] = x + (size_t)(4 + s) * nv;
  }
  double *Db = x + 8 * nv, *qsb = x + 9 * nv, *vsb = x + 10 * nv, *dsb = x + 11 * nv;
  double *Tb = x + 12 * nv;
  double *ws = x + 13 * nv;
  if (rk4_stages(t, p, q, qd, tau, fx, h, &st, ws) != 0) {
    return;
  }
  memset(Db, 0, nv * sizeof *Db);
  adj_rb_retract(t, q, st.D, q_bar, Db, q_out_bar);
  for (size_t k = 0; k < nv; k++) {
    qd_bar[k] += qd_out_bar[k];
    for (int s = 0; s < 4; s++) {
      Kb[s][k] = h * RK4_B[s] * Db[k];
      Ab[s][k] = h * RK4_B[s] * qd_out_bar[k];
    }
  }
  for (int s = 3; s >= 0; s--) {
    memset(qsb, 0, nv * sizeof *qsb);
    memset(vsb, 0, nv * sizeof *vsb);
    memset(dsb, 0, nv * sizeof *dsb);
    adj_tree_dexpinv(t, st.d[s], st.v[s], dsb, vsb, Kb[s]);
    const double *Ts = fx != NULL && fx->eval != NULL ? st.T[s] : tau != NULL ? tau : st.T[s];
    memset(Tb, 0, nv * sizeof *Tb);
    adj_rb_forward_dynamics(t, p, st.q[s], st.v[s], Ts, st.A[s], qsb, vsb, Tb, p_bar, Ab[s], ws);
    adj_stage_force(t, tau, fx, st.q[s], st.v[s], qsb, vsb, tau_bar, Tb);
    adj_rb_retract(t, q, st.d[s], q_bar, dsb, qsb);
    for (size_t k = 0; k < nv; k++) {
      qd_bar[k] += vsb[k];
      if (s > 0) {
        Ab[s - 1][k] += RK4_C[s] * h * vsb[k];
        Kb[s - 1][k] += RK4_C[s] * h * dsb[k];
      }
    }
  }
}

// ---- energy and momentum --------------------------------------------------------------------

void rb_energy(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
               double *kinetic, double *potential, double *scratch) {
  double *ws = scratch, *tau = ws + (size_t)WS_BODY * t->nb, *xpos = tau + t->nv;
  double *xrot = xpos + 3 * (size_t)t->nb;
  rnea_sweeps(t, p, q, qd, NULL, tau, ws);
  rb_fk(t, p, q, xpos, xrot);
  double ke = 0, pe = 0;
  for (int i = 0; i < t->nb; i++) {
    const double *v = ws + (size_t)WS_BODY * i + WS_V;
    double h[6], cw[3];
    rb_inertia_apply(h, p->mass[i], p->com + 3 * i, p->inertia + 6 * i, v);
    for (int c = 0; c < 6; c++) {
      ke += 0.5 * v[c] * h[c];
    }
    rb_mat_vec(cw, xrot + 9 * i, p->com + 3 * i);
    add3(cw, xpos + 3 * i);
    pe -= p->mass[i] * dp_dot3(p->gravity, cw);
  }
  for (int k = 0; k < t->nv; k++) {
    ke += 0.5 * p->armature[k] * qd[k] * qd[k];
  }
  *kinetic = ke;
  *potential = pe;
}

void rb_momentum(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                 double *h, double *scratch) {
  double *ws = scratch, *tau = ws + (size_t)WS_BODY * t->nb, *xpos = tau + t->nv;
  double *xrot = xpos + 3 * (size_t)t->nb;
  rnea_sweeps(t, p, q, qd, NULL, tau, ws);
  rb_fk(t, p, q, xpos, xrot);
  for (int c = 0; c < 6; c++) {
    h[c] = 0;
  }
  for (int i = 0; i < t->nb; i++) {
    const double *v = ws + (size_t)WS_BODY * i + WS_V;
    double hb[6], hw[6];
    rb_inertia_apply(hb, p->mass[i], p->com + 3 * i, p->inertia + 6 * i, v);
    rb_sv_rotate_out(hw, xrot + 9 * i, hb);
    rb_frc_translate_back(hb, xpos + 3 * i, hw);
    add6(h, hb);
  }
}

// ---- contact kinematics ---------------------------------------------------------------------
// World-frame velocities of the body origins and the generalized force of world forces, from the
// poses of rb_fk. They are RNEA's two sweeps in world coordinates, the transpose of each other:
// v_i = v_λ + S_i q̇_i (forward) and τ_i = S_iᵀ f_i with f_i the total wrench on the subtree of i
// (backward), Featherstone (2008), §5.3. A joint's angular column u (revolute W_λ a; ball and the
// rotation of a free joint: the columns of W_i) turns about the body origin x_i, so it adds u q̇ to
// w and, as a wrench, takes the moment about x_i; the origin's velocity is carried down the tree
// by w_λ × (x_i − x_λ).

static const double RB_EYE[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};

void rb_velocities(const dpRbTree *t, const dpRbParams *p, const double *xpos, const double *xrot,
                   const double *qd, double *w, double *vo) {
  (void)p;
  for (int i = 0; i < t->nb; i++) {
    int pa = t->parent[i];
    const double *Wp = pa < 0 ? RB_EYE : xrot + 9 * pa;
    const double *Wi = xrot + 9 * i, *a = t->axis + 3 * i, *qi = qd + t->vadr[i];
    double *wi = w + 3 * i, *vi = vo + 3 * i;
    if (pa < 0) {
      wi[0] = wi[1] = wi[2] = 0.0;
      vi[0] = vi[1] = vi[2] = 0.0;
    } else {
      double r[3] = {xpos[3 * i] - xpos[3 * pa], xpos[3 * i + 1] - xpos[3 * pa + 1],
                     xpos[3 * i + 2] - xpos[3 * pa + 2]};
      memcpy(wi, w + 3 * pa, 3 * sizeof *wi);
      memcpy(vi, vo + 3 * pa, 3 * sizeof *vi);
      rb_cross3_acc(vi, w + 3 * pa, r);
    }
    double u[3];
    switch (t->jtype[i]) {
      case DP_RB_REVOLUTE:
        rb_mat_vec(u, Wp, a);
        for (int c = 0; c < 3; c++) {
          wi[c] += u[c] * qi[0];
        }
        break;
      case DP_RB_PRISMATIC:
        rb_mat_vec(u, Wp, a);
        for (int c = 0; c < 3; c++) {
          vi[c] += u[c] * qi[0];
        }
        break;
      case DP_RB_BALL:
        rb_mat_vec(u, Wi, qi);
        add3(wi, u);
        break;
      case DP_RB_FREE:
        rb_mat_vec(u, Wp, qi);
        add3(vi, u);
        rb_mat_vec(u, Wi, qi + 3);
        add3(wi, u);
        break;
      default: break;
    }
  }
}

// Wb (9) += x yᵀ scaled by s (the gradient of xᵀ W y with respect to the entries of W).
static void outer_acc(double *Wb, double s, const double *x, const double *y) {
  for (int j = 0; j < 3; j++) {
    for (int k = 0; k < 3; k++) {
      Wb[3 * j + k] += s * x[j] * y[k];
    }
  }
}

// out (3) += Rᵀ x
static void mat_tvec_acc(double *out, const double *R, const double *x) {
  double y[3];
  rb_mat_tvec(y, R, x);
  add3(out, y);
}

// Reverse of rb_velocities, leaves to root, with the subtree totals w̄_i, v̄_i of the adjoints:
// v̄_λ += v̄_i, w̄_λ += w̄_i + r × v̄_i, r̄ = v̄_i × w_λ (x̄_i += r̄, x̄_λ −= r̄), and per joint
// q̇̄ = uᵀ w̄_i or uᵀ v̄_i with the outer products into W̄. Recomputes w (the only forward value
// needed; 3 nb doubles) and keeps w̄, v̄ (6 nb): 9 nb doubles of scratch.
void adj_rb_velocities(const dpRbTree *t, const dpRbParams *p, const double *xpos,
                       const double *xrot, const double *qd, double *xpos_bar, double *xrot_bar,
                       double *qd_bar, const double *w_bar, const double *vo_bar,
                       double *scratch) {
  size_t nb3 = 3 * (size_t)t->nb;
  double *w = scratch, *wb = w + nb3, *vb = wb + nb3;
  rb_velocities(t, p, xpos, xrot, qd, w, vb);  // vb: the velocities, unused, then overwritten
  memcpy(wb, w_bar, nb3 * sizeof *wb);
  memcpy(vb, vo_bar, nb3 * sizeof *vb);
  for (int i = t->nb - 1; i >= 0; i--) {
    int pa = t->parent[i];
    const double *Wp = pa < 0 ? RB_EYE : xrot + 9 * pa;
    const double *Wi = xrot + 9 * i, *a = t->axis + 3 * i, *qi = qd + t->vadr[i];
    double *Wpb = pa < 0 ? NULL : xrot_bar + 9 * pa, *Wib = xrot_bar + 9 * i;
    double *qb = qd_bar + t->vadr[i];
    const double *wbi = wb + 3 * i, *vbi = vb + 3 * i;
    double u[3];
    switch (t->jtype[i]) {
      case DP_RB_REVOLUTE:
      case DP_RB_PRISMATIC: {
        const double *g = t->jtype[i] == DP_RB_REVOLUTE ? wbi : vbi;
        rb_mat_vec(u, Wp, a);
        qb[0] += dp_dot3(u, g);
        if (Wpb != NULL) {
          outer_acc(Wpb, qi[0], g, a);
        }
        break;
      }
      case DP_RB_BALL:
        mat_tvec_acc(qb, Wi, wbi);
        outer_acc(Wib, 1.0, wbi, qi);
        break;
      case DP_RB_FREE:
        mat_tvec_acc(qb, Wp, vbi);
        if (Wpb != NULL) {
          outer_acc(Wpb, 1.0, vbi, qi);
        }
        mat_tvec_acc(qb + 3, Wi, wbi);
        outer_acc(Wib, 1.0, wbi, qi + 3);
        break;
      default: break;
    }
    if (pa >= 0) {
      double r[3] = {xpos[3 * i] - xpos[3 * pa], xpos[3 * i + 1] - xpos[3 * pa + 1],
                     xpos[3 * i + 2] - xpos[3 * pa + 2]};
      double rb[3];
      add3(wb + 3 * pa, wbi);
      rb_cross3_acc(wb + 3 * pa, r, vbi);
      add3(vb + 3 * pa, vbi);
      rb_cross3(rb, vbi, w + 3 * pa);
      for (int c = 0; c < 3; c++) {
        xpos_bar[3 * i + c] += rb[c];
        xpos_bar[3 * pa + c] -= rb[c];
      }
    }
  }
}

// Subtree sums (leaves to root) of the world forces F and moments N about the world origin.
static void subtree_wrench(const dpRbTree *t, const double *F, const double *N, double *Fs,
                           double *Ns) {
  size_t nb3 = 3 * (size_t)t->nb;
  memcpy(Fs, F, nb3 * sizeof *Fs);
  memcpy(Ns, N, nb3 * sizeof *Ns);
  for (int i = t->nb - 1; i > 0; i--) {
    int pa = t->parent[i];
    if (pa >= 0) {
      add3(Fs + 3 * pa, Fs + 3 * i);
      add3(Ns + 3 * pa, Ns + 3 * i);
    }
  }
}

// Moment M (3) about the body origin x of the subtree wrench (Fs, Ns about the world origin).
static void moment_at(double *M, const double *x, const double *Fs, const double *Ns) {
  double xf[3];
  rb_cross3(xf, x, Fs);
  for (int c = 0; c < 3; c++) {
    M[c] = Ns[c] - xf[c];
  }
}

void rb_generalized_force(const dpRbTree *t, const dpRbParams *p, const double *xpos,
                          const double *xrot, const double *F, const double *N, double *tau,
                          double *scratch) {
  (void)p;
  double *Fs = scratch, *Ns = Fs + 3 * (size_t)t->nb;
  subtree_wrench(t, F, N, Fs, Ns);
  for (int i = 0; i < t->nb; i++) {
    int pa = t->parent[i];
    const double *Wp = pa < 0 ? RB_EYE : xrot + 9 * pa;
    const double *Wi = xrot + 9 * i, *a = t->axis + 3 * i, *Fi = Fs + 3 * i;
    double *ti = tau + t->vadr[i];
    double u[3], M[3];
    moment_at(M, xpos + 3 * i, Fi, Ns + 3 * i);
    switch (t->jtype[i]) {
      case DP_RB_REVOLUTE:
        rb_mat_vec(u, Wp, a);
        ti[0] += dp_dot3(u, M);
        break;
      case DP_RB_PRISMATIC:
        rb_mat_vec(u, Wp, a);
        ti[0] += dp_dot3(u, Fi);
        break;
      case DP_RB_BALL: mat_tvec_acc(ti, Wi, M); break;
      case DP_RB_FREE:
        mat_tvec_acc(ti, Wp, Fi);
        mat_tvec_acc(ti + 3, Wi, M);
        break;
      default: break;
    }
  }
}

// Reverse of rb_generalized_force: per joint the adjoints of the subtree wrench (F̄s, N̄s) and
// the outer products into W̄; M = Ns − x × Fs gives N̄s += M̄, x̄ += M̄ × Fs, F̄s += x × M̄; then
// the subtree sums transpose to F̄_i += Σ over the ancestors-or-self j of F̄s_j (root to leaves).
// Recomputes the subtree sums (6 nb doubles) and keeps their adjoints (6 nb): 12 nb of scratch.
void adj_rb_generalized_force(const dpRbTree *t, const dpRbParams *p, const double *xpos,
                              const double *xrot, const double *F, const double *N,
                              double *xpos_bar, double *xrot_bar, double *F_bar, double *N_bar,
                              const double *tau_bar, double *scratch) {
  (void)p;
  size_t nb3 = 3 * (size_t)t->nb;
  double *Fs = scratch, *Ns = Fs + nb3, *Fsb = Ns + nb3, *Nsb = Fsb + nb3;
  subtree_wrench(t, F, N, Fs, Ns);
  memset(Fsb, 0, 2 * nb3 * sizeof *Fsb);
  for (int i = 0; i < t->nb; i++) {
    int pa = t->parent[i];
    const double *Wp = pa < 0 ? RB_EYE : xrot + 9 * pa;
    const double *Wi = xrot + 9 * i, *a = t->axis + 3 * i, *Fi = Fs + 3 * i, *xi = xpos + 3 * i;
    double *Wpb = pa < 0 ? NULL : xrot_bar + 9 * pa, *Wib = xrot_bar + 9 * i;
    double *Fib = Fsb + 3 * i;
    const double *tb = tau_bar + t->vadr[i];
    double u[3], M[3], Mb[3] = {0, 0, 0};
    moment_at(M, xi, Fi, Ns + 3 * i);
    switch (t->jtype[i]) {
      case DP_RB_REVOLUTE:
        rb_mat_vec(u, Wp, a);
        for (int c = 0; c < 3; c++) {
          Mb[c] = tb[0] * u[c];
        }
        if (Wpb != NULL) {
          outer_acc(Wpb, tb[0], M, a);
        }
        break;
      case DP_RB_PRISMATIC:
        rb_mat_vec(u, Wp, a);
        for (int c = 0; c < 3; c++) {
          Fib[c] += tb[0] * u[c];
        }
        if (Wpb != NULL) {
          outer_acc(Wpb, tb[0], Fi, a);
        }
        break;
      case DP_RB_BALL:
        rb_mat_vec(Mb, Wi, tb);
        outer_acc(Wib, 1.0, M, tb);
        break;
      case DP_RB_FREE:
        rb_mat_vec(u, Wp, tb);
        add3(Fib, u);
        if (Wpb != NULL) {
          outer_acc(Wpb, 1.0, Fi, tb);
        }
        rb_mat_vec(Mb, Wi, tb + 3);
        outer_acc(Wib, 1.0, M, tb + 3);
        break;
      default: break;
    }
    add3(Nsb + 3 * i, Mb);
    rb_cross3_acc(xpos_bar + 3 * i, Mb, Fi);
    rb_cross3_acc(Fib, xi, Mb);
  }
  for (int i = 0; i < t->nb; i++) {
    int pa = t->parent[i];
    if (pa >= 0) {
      add3(Fsb + 3 * i, Fsb + 3 * pa);
      add3(Nsb + 3 * i, Nsb + 3 * pa);
    }
    add3(F_bar + 3 * i, Fsb + 3 * i);
    add3(N_bar + 3 * i, Nsb + 3 * i);
  }
}
