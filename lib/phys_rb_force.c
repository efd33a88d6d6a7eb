// Generalized forces on articulated bodies that depend on the state: actuators (motors and
// position servos, with a smooth clamp of the control), soft joint limits, and contact between
// body shapes and with the scene's colliders, applied through the contact Jacobian; each with
// its adjoint.
//
// Contact: the narrow phase (rb_collide_kern.h) gives points, normals A→B and signed distances;
// the law of the particle contacts (contact_law, phys_contact_kern.h: softplus penetration,
// damping, smoothed Coulomb friction) gives the force f on B at the point p from the relative
// velocity v_B(p) − v_A(p); B gets (f, p × f), A the opposite, as world forces and torques about
// the world origin, and τ = Jᵀ f by rb_generalized_force. Pairs whose bounding spheres are
// farther apart than 40 smoothing widths are skipped (their force is below 1e-16 k w), the same
// way in the adjoint.
// Sources: Featherstone (2008), §2.9 (forces at points) and §8 (contact); Geilinger et al.,
// SIGGRAPH Asia 2020 (smooth penalty contact and friction).
#include <math.h>
#include <string.h>

#include "dp/dp.h"
#include "phys_contact_kern.h"
#include "phys_rb.h"
#include "rb_collide_kern.h"
#include "rb_spatial_kern.h"

// ---- smooth clamp -----------------------------------------------------------------------------

// clamp(u) = lo + w softplus((u − lo)/w) − w softplus((u − hi)/w): the identity between lo and
// hi up to w e^{−(hi−lo)/w}, lo below and hi above, C^∞. Slope σ((u−lo)/w) − σ((u−hi)/w).
static double smooth_clamp(double u, double lo, double hi, double w, double *slope) {
  double a = (u - lo) / w, b = (u - hi) / w;
  *slope = dp_sigmoid(a) - dp_sigmoid(b);
  return lo + w * dp_softplus(a) - w * dp_softplus(b);
}

// ---- actuators and limits ---------------------------------------------------------------------

static void actuator_force(const dpModel *m, const double *th, int t, const double *q,
                           const double *qd, double *tau) {
  const dpOffsets *o = &m->off;
  for (int a = 0; a < m->na; a++) {
    int b = m->abody[a], dof = m->bvadr[b];
    double u = th[o->act_controls + (size_t)a * m->steps + t], slope = 1;
    if (m->alimited[a]) {
      u = smooth_clamp(u, m->arange[3 * a], m->arange[3 * a + 1], m->arange[3 * a + 2], &slope);
    }
    if (m->atype[a] == DP_ACTUATOR_MOTOR) {
      tau[dof] += th[o->gear + a] * u;
    } else {
      tau[dof] += th[o->kp + a] * (u - q[m->bqadr[b]]) - th[o->kv + a] * qd[dof];
    }
  }
}

static void adj_actuator_force(const dpModel *m, const double *th, int t, const double *q,
                               const double *qd, double *q_bar, double *qd_bar,
                               double *th_bar, const double *tau_bar) {
  const dpOffsets *o = &m->off;
  for (int a = 0; a < m->na; a++) {
    int b = m->abody[a], dof = m->bvadr[b];
    size_t iu = o->act_controls + (size_t)a * m->steps + t;
    double u = th[iu], slope = 1, g = tau_bar[dof], ub;
    if (m->alimited[a]) {
      u = smooth_clamp(u, m->arange[3 * a], m->arange[3 * a + 1], m->arange[3 * a + 2], &slope);
    }
    if (m->atype[a] == DP_ACTUATOR_MOTOR) {
      th_bar[o->gear + a] += u * g;
      ub = th[o->gear + a] * g;
    } else {
      double kp = th[o->kp + a], kv = th[o->kv + a], qa = q[m->bqadr[b]];
      th_bar[o->kp + a] += (u - qa) * g;
      th_bar[o->kv + a] -= qd[dof] * g;
      ub = kp * g;
      q_bar[dof] -= kp * g;  // a revolute or prismatic dof: tangent = coordinate
      qd_bar[dof] -= kv * g;
    }
    th_bar[iu] += slope * ub;
  }
}

// Soft limits: τ = k w [sp(zl) − sp(zh)] − c [σ(zl) + σ(zh)] qd, zl = (lo − q)/w, zh = (q − hi)/w.
static void limit_force(const dpModel *m, const double *th, const double *q, const double *qd,
                        double *tau) {
  const dpOffsets *o = &m->off;
  for (int i = 0; i < m->nb; i++) {
    if (!m->blimited[i]) {
      continue;
    }
    int dof = m->bvadr[i];
    double x = q[m->bqadr[i]], lo = th[o->limit_range + 2 * i], hi = th[o->limit_range + 2 * i + 1];
    double k = th[o->limit_stiffness + i], c = th[o->limit_damping + i];
    double w = th[o->limit_smoothing + i];
    double zl = (lo - x) / w, zh = (x - hi) / w;
    if (zl < DP_CONTACT_CUTOFF && zh < DP_CONTACT_CUTOFF) {
      continue;
    }
    tau[dof] += k * w * (dp_softplus(zl) - dp_softplus(zh)) -
                c * (dp_sigmoid(zl) + dp_sigmoid(zh)) * qd[dof];
  }
}

static void adj_limit_force(const dpModel *m, const double *th, const double *q,
                            const double *qd, double *q_bar, double *qd_bar, double *th_bar,
                            const double *tau_bar) {
  const dpOffsets *o = &m->off;
  for (int i = 0; i < m->nb; i++) {
    if (!m->blimited[i]) {
      continue;
    }
    int dof = m->bvadr[i];
    double x = q[m->bqadr[i]], lo = th[o->limit_range + 2 * i], hi = th[o->limit_range + 2 * i + 1];
    double k = th[o->limit_stiffness + i], c = th[o->limit_damping + i];
    double w = th[o->limit_smoothing + i], v = qd[dof], g = tau_bar[dof];
    double zl = (lo - x) / w, zh = (x - hi) / w;
    if (zl < DP_CONTACT_CUTOFF && zh < DP_CONTACT_CUTOFF) {
      continue;
    }
    double spl = dp_softplus(zl), sph = dp_softplus(zh);
    double sl = dp_sigmoid(zl), sh = dp_sigmoid(zh);
    double dl = sl * (1 - sl), dh = sh * (1 - sh);
    q_bar[dof] += g * (-k * (sl + sh) + c * v * (dl - dh) / w);
    qd_bar[dof] -= g * c * (sl + sh);
    th_bar[o->limit_range + 2 * i] += g * (k * sl - c * v * dl / w);
    th_bar[o->limit_range + 2 * i + 1] += g * (k * sh + c * v * dh / w);
    th_bar[o->limit_stiffness + i] += g * w * (spl - sph);
    th_bar[o->limit_damping + i] -= g * (sl + sh) * v;
    th_bar[o->limit_smoothing + i] +=
        g * (k * (spl - sph) - k * (sl * zl - sh * zh) + c * v * (dl * zl + dh * zh) / w);
  }
}

// ---- contact geometry -------------------------------------------------------------------------

enum { G_PLANE = 0, G_SPHERE, G_CAPSULE, G_BOX };

// One side of a pair at its world pose, and the accumulators of its adjoint.
typedef struct {
  int kind;       // G_*
  int body;       // -1: static (a collider)
  double p[3];    // centre (plane: a point on it)
  double R[9];    // rotation (identity for colliders)
  double n[3];    // plane normal
  double size[3]; // sphere r; capsule r, h; box half extents
  double rad;     // bounding radius (INFINITY for a plane)
  double p_bar[3], R_bar[9], size_bar[3];
} Geo;

static void geo_zero_bars(Geo *g) {
  memset(g->p_bar, 0, sizeof g->p_bar);
  memset(g->R_bar, 0, sizeof g->R_bar);
  memset(g->size_bar, 0, sizeof g->size_bar);
}

// Shape sh of a body at the world pose (xpos, xrot) of its body.
static void geo_shape(const dpModel *m, const double *th, int sh, const double *xpos,
                      const double *xrot, Geo *g) {
  int b = m->shbody[sh];
  const double *W = xrot + 9 * b, *l = th + m->off.shape_pos + 3 * sh;
  const double *sz = th + m->off.shape_size + 3 * sh;
  double Rq[9];
  g->kind = m->shtype[sh] == DP_SHAPE_SPHERE    ? G_SPHERE
            : m->shtype[sh] == DP_SHAPE_CAPSULE ? G_CAPSULE
                                                : G_BOX;
  g->body = b;
  rb_mat_vec(g->p, W, l);
  for (int k = 0; k < 3; k++) {
    g->p[k] += xpos[3 * b + k];
  }
  rb_quat_to_mat(Rq, m->shquat + 4 * sh);
  rb_mat_mul(g->R, W, Rq);
  memcpy(g->size, sz, sizeof g->size);
  g->rad = g->kind == G_SPHERE ? sz[0] : g->kind == G_CAPSULE ? sz[0] + sz[1] : dp_norm3(sz);
  geo_zero_bars(g);
}

// Adjoint of geo_shape: p = x_b + W l, R = W Rq.
static void adj_geo_shape(const dpModel *m, const double *th, int sh, const double *xrot,
                          const Geo *g, double *xpos_bar, double *xrot_bar, double *th_bar) {
  int b = m->shbody[sh];
  const double *W = xrot + 9 * b, *l = th + m->off.shape_pos + 3 * sh;
  double Rq[9], lb[3];
  rb_quat_to_mat(Rq, m->shquat + 4 * sh);
  rb_mat_tvec(lb, W, g->p_bar);
  for (int k = 0; k < 3; k++) {
    xpos_bar[3 * b + k] += g->p_bar[k];
    th_bar[m->off.shape_pos + 3 * sh + k] += lb[k];
    th_bar[m->off.shape_size + 3 * sh + k] += g->size_bar[k];
  }
  double *Wb = xrot_bar + 9 * b;
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      double x = g->p_bar[i] * l[j];
      for (int k = 0; k < 3; k++) {
        x += g->R_bar[3 * i + k] * Rq[3 * j + k];  // (R̄ Rqᵀ)_ij
      }
      Wb[3 * i + j] += x;
    }
  }
}

// Collider c as the static side of a pair.
static void geo_collider(const dpModel *m, const double *th, int c, Geo *g) {
  const double *geom = th + m->off.cgeom + (size_t)DP_CGEOM * c;
  memset(g, 0, sizeof *g);
  g->body = -1;
  g->R[0] = g->R[4] = g->R[8] = 1.0;
  switch (m->ctype[c]) {
    case DP_COLLIDER_GROUND:
      g->kind = G_PLANE;
      g->p[2] = geom[0];
      g->n[2] = 1.0;
      g->rad = INFINITY;
      break;
    case DP_COLLIDER_BOX:
      g->kind = G_BOX;
      memcpy(g->p, geom, 3 * sizeof(double));
      memcpy(g->size, geom + 3, 3 * sizeof(double));
      g->rad = dp_norm3(g->size);
      break;
    case DP_COLLIDER_SPHERE:
      g->kind = G_SPHERE;
      memcpy(g->p, geom, 3 * sizeof(double));
      g->size[0] = geom[3];
      g->rad = geom[3];
      break;
  }
}

static void adj_geo_collider(const dpModel *m, int c, const Geo *g, double *th_bar) {
  double *gb = th_bar + m->off.cgeom + (size_t)DP_CGEOM * c;
  switch (m->ctype[c]) {
    case DP_COLLIDER_GROUND: gb[0] += g->p_bar[2]; break;
    case DP_COLLIDER_BOX:
      for (int k = 0; k < 3; k++) {
        gb[k] += g->p_bar[k];
        gb[3 + k] += g->size_bar[k];
      }
      break;
    case DP_COLLIDER_SPHERE:
      for (int k = 0; k < 3; k++) {
        gb[k] += g->p_bar[k];
      }
      gb[3] += g->size_bar[0];
      break;
  }
}

#define MAX_CONTACTS 16

// Contacts between A and B (A->kind <= B->kind). Returns the count (0 for plane–plane).
static int pair_contacts(const Geo *A, const Geo *B, double *pt, double *nrm, double *phi) {
  switch (A->kind * 4 + B->kind) {
    case G_PLANE * 4 + G_SPHERE: return rb_sphere_plane(pt, nrm, phi, A->p, A->n, B->p, B->size[0]);
    case G_PLANE * 4 + G_CAPSULE:
      return rb_capsule_plane(pt, nrm, phi, A->p, A->n, B->p, B->R, B->size[0], B->size[1]);
    case G_PLANE * 4 + G_BOX: return rb_box_plane(pt, nrm, phi, A->p, A->n, B->p, B->R, B->size);
    case G_SPHERE * 4 + G_SPHERE:
      return rb_sphere_sphere(pt, nrm, phi, A->p, A->size[0], B->p, B->size[0]);
    case G_SPHERE * 4 + G_CAPSULE:
      return rb_sphere_capsule(pt, nrm, phi, A->p, A->size[0], B->p, B->R, B->size[0],
                               B->size[1]);
    case G_SPHERE * 4 + G_BOX:
      return rb_sphere_box(pt, nrm, phi, A->p, A->size[0], B->p, B->R, B->size);
    case G_CAPSULE * 4 + G_CAPSULE:
      return rb_capsule_capsule(pt, nrm, phi, A->p, A->R, A->size[0], A->size[1], B->p, B->R,
                                B->size[0], B->size[1]);
    case G_CAPSULE * 4 + G_BOX: {
      // The two end-cap spheres against the box (documented approximation).
      int n = 0;
      for (int e = 0; e < 2; e++) {
        double c[3], sg = e == 0 ? 1.0 : -1.0;
        for (int k = 0; k < 3; k++) {
          c[k] = A->p[k] + sg * A->size[1] * A->R[3 * k + 2];
        }
        n += rb_sphere_box(pt + 3 * n, nrm + 3 * n, phi + n, c, A->size[0], B->p, B->R, B->size);
      }
      return n;
    }
    case G_BOX * 4 + G_BOX:
      return rb_box_box(pt, nrm, phi, A->p, A->R, A->size, B->p, B->R, B->size);
    default: return 0;
  }
}

static void adj_pair_contacts(Geo *A, Geo *B, const double *pt_bar, const double *nrm_bar,
                              const double *phi_bar) {
  double o_bar[3] = {0, 0, 0};
  switch (A->kind * 4 + B->kind) {
    case G_PLANE * 4 + G_SPHERE:
      adj_rb_sphere_plane(A->p, A->n, B->p, B->size[0], o_bar, NULL, B->p_bar, &B->size_bar[0],
                          pt_bar, nrm_bar, phi_bar);
      break;
    case G_PLANE * 4 + G_CAPSULE:
      adj_rb_capsule_plane(A->p, A->n, B->p, B->R, B->size[0], B->size[1], o_bar, NULL, B->p_bar,
                           B->R_bar, &B->size_bar[0], &B->size_bar[1], pt_bar, nrm_bar,
                           phi_bar);
      break;
    case G_PLANE * 4 + G_BOX:
      adj_rb_box_plane(A->p, A->n, B->p, B->R, B->size, o_bar, NULL, B->p_bar, B->R_bar,
                       B->size_bar, pt_bar, nrm_bar, phi_bar);
      break;
    case G_SPHERE * 4 + G_SPHERE:
      adj_rb_sphere_sphere(A->p, A->size[0], B->p, B->size[0], A->p_bar, &A->size_bar[0],
                           B->p_bar, &B->size_bar[0], pt_bar, nrm_bar, phi_bar);
      break;
    case G_SPHERE * 4 + G_CAPSULE:
      adj_rb_sphere_capsule(A->p, A->size[0], B->p, B->R, B->size[0], B->size[1], A->p_bar,
                            &A->size_bar[0], B->p_bar, B->R_bar, &B->size_bar[0],
                            &B->size_bar[1], pt_bar, nrm_bar, phi_bar);
      break;
    case G_SPHERE * 4 + G_BOX:
      adj_rb_sphere_box(A->p, A->size[0], B->p, B->R, B->size, A->p_bar, &A->size_bar[0],
                        B->p_bar, B->R_bar, B->size_bar, pt_bar, nrm_bar, phi_bar);
      break;
    case G_CAPSULE * 4 + G_CAPSULE:
      adj_rb_capsule_capsule(A->p, A->R, A->size[0], A->size[1], B->p, B->R, B->size[0],
                             B->size[1], A->p_bar, A->R_bar, &A->size_bar[0], &A->size_bar[1],
                             B->p_bar, B->R_bar, &B->size_bar[0], &B->size_bar[1], pt_bar,
                             nrm_bar, phi_bar);
      break;
    case G_CAPSULE * 4 + G_BOX: {
      int n = 0;
      for (int e = 0; e < 2; e++) {
        double c[3], c_bar[3] = {0, 0, 0}, sg = e == 0 ? 1.0 : -1.0;
        for (int k = 0; k < 3; k++) {
          c[k] = A->p[k] + sg * A->size[1] * A->R[3 * k + 2];
        }
        double pt[3], nrm[3], phi;
        int cnt = rb_sphere_box(pt, nrm, &phi, c, A->size[0], B->p, B->R, B->size);
        adj_rb_sphere_box(c, A->size[0], B->p, B->R, B->size, c_bar, &A->size_bar[0], B->p_bar,
                          B->R_bar, B->size_bar, pt_bar + 3 * n, nrm_bar + 3 * n, phi_bar + n);
        n += cnt;
        for (int k = 0; k < 3; k++) {
          A->p_bar[k] += c_bar[k];
          A->size_bar[1] += sg * A->R[3 * k + 2] * c_bar[k];
          A->R_bar[3 * k + 2] += sg * A->size[1] * c_bar[k];
        }
      }
      break;
    }
    case G_BOX * 4 + G_BOX:
      adj_rb_box_box(A->p, A->R, A->size, B->p, B->R, B->size, A->p_bar, A->R_bar, A->size_bar,
                     B->p_bar, B->R_bar, B->size_bar, pt_bar, nrm_bar, phi_bar);
      break;
    default: break;
  }
  for (int k = 0; k < 3; k++) {
    A->p_bar[k] += o_bar[k];
  }
}

// ---- the contact stage ------------------------------------------------------------------------

// Scratch layout (doubles): per body xpos 3, xrot 9, w 3, vo 3, F 3, N 3 and their adjoints
// (24 + 24), then the tree's scratch.
typedef struct {
  double *xpos, *xrot, *w, *vo, *F, *N;
  double *xpos_b, *xrot_b, *w_b, *vo_b, *F_b, *N_b;
  double *ws;
} Work;

static void work_layout(const dpModel *m, double *scratch, Work *k) {
  size_t nb = (size_t)m->nb;
  double *x = scratch;
  k->xpos = x; x += 3 * nb;
  k->xrot = x; x += 9 * nb;
  k->w = x; x += 3 * nb;
  k->vo = x; x += 3 * nb;
  k->F = x; x += 3 * nb;
  k->N = x; x += 3 * nb;
  k->xpos_b = x; x += 3 * nb;
  k->xrot_b = x; x += 9 * nb;
  k->w_b = x; x += 3 * nb;
  k->vo_b = x; x += 3 * nb;
  k->F_b = x; x += 3 * nb;
  k->N_b = x; x += 3 * nb;
  k->ws = x;
}

size_t rb_force_scratch_size(const dpModel *m) {
  if (m->nb == 0) {
    return 1;
  }
  return 48 * (size_t)m->nb + rb_scratch_size(m->rb_);
}

// The two sides of pair k (A->kind <= B->kind) and the contact constants; returns 0 when the
// bounding spheres are too far apart for any force.
static int pair_setup(const dpModel *m, const double *th, const Work *k, int pk, Geo *A, Geo *B,
                      const double **kc, int *cA, int *cB) {
  int i = m->pair[2 * pk], j = m->pair[2 * pk + 1];
  Geo g1, g2;
  geo_shape(m, th, i, k->xpos, k->xrot, &g1);
  *cA = *cB = -1;
  if (j >= 0) {
    geo_shape(m, th, j, k->xpos, k->xrot, &g2);
    *kc = th + m->off.body_contact;
  } else {
    geo_collider(m, th, -1 - j, &g2);
    *kc = th + m->off.ccontact + (size_t)DP_CCONTACT * (-1 - j);
  }
  int swap = g2.kind < g1.kind;
  *A = swap ? g2 : g1;
  *B = swap ? g1 : g2;
  if (j < 0) {
    if (swap) {
      *cA = -1 - j;
    } else {
      *cB = -1 - j;
    }
  }
  double reach = 40.0 * (*kc)[DP_C_SMOOTHING];
  if (A->kind == G_PLANE) {
    double d[3] = {B->p[0] - A->p[0], B->p[1] - A->p[1], B->p[2] - A->p[2]};
    return dp_dot3(d, A->n) - B->rad <= reach;
  }
  double d[3] = {B->p[0] - A->p[0], B->p[1] - A->p[1], B->p[2] - A->p[2]};
  return dp_norm3(d) - A->rad - B->rad <= reach;
}

// Velocity of the world point x moving with body b (zero for the world).
static void point_velocity(const Work *k, int b, const double *x, double *v) {
  if (b < 0) {
    v[0] = v[1] = v[2] = 0.0;
    return;
  }
  double d[3] = {x[0] - k->xpos[3 * b], x[1] - k->xpos[3 * b + 1], x[2] - k->xpos[3 * b + 2]};
  rb_cross3(v, k->w + 3 * b, d);
  for (int c = 0; c < 3; c++) {
    v[c] += k->vo[3 * b + c];
  }
}

// Adjoint of point_velocity: from v_bar accumulates w_b, vo_b, xpos_b and x_bar.
static void adj_point_velocity(const Work *k, int b, const double *x, double *x_bar,
                               const double *v_bar) {
  if (b < 0) {
    return;
  }
  double d[3] = {x[0] - k->xpos[3 * b], x[1] - k->xpos[3 * b + 1], x[2] - k->xpos[3 * b + 2]};
  double wb[3], db[3];
  rb_cross3(wb, d, v_bar);             // ∂(w × d)/∂w ᵀ v̄ = d × v̄
  rb_cross3(db, v_bar, k->w + 3 * b);  // ∂(w × d)/∂d ᵀ v̄ = v̄ × w
  for (int c = 0; c < 3; c++) {
    k->w_b[3 * b + c] += wb[c];
    k->vo_b[3 * b + c] += v_bar[c];
    x_bar[c] += db[c];
    k->xpos_b[3 * b + c] -= db[c];
  }
}

// The contact law at contact point x (normal A→B, distance phi) for the relative velocity
// v_B(x) − v_A(x), written to v: f (3, zeroed here) on B. Returns 0 out of the law's range.
static int contact_at(const Work *k, const Geo *A, const Geo *B, const double *x,
                      const double *nrm, double phi, const double *kc, double *v, double *f) {
  double va[3], vb[3];
  point_velocity(k, A->body, x, va);
  point_velocity(k, B->body, x, vb);
  for (int e = 0; e < 3; e++) {
    v[e] = vb[e] - va[e];
    f[e] = 0.0;
  }
  return contact_law(f, phi, nrm, v, kc);
}

// Forces of every pair into F, N (world force and torque about the origin per body).
static void contact_wrenches(const dpModel *m, const double *th, const Work *k) {
  memset(k->F, 0, 3 * (size_t)m->nb * sizeof *k->F);
  memset(k->N, 0, 3 * (size_t)m->nb * sizeof *k->N);
  for (int pk = 0; pk < m->npair; pk++) {
    Geo A, B;
    const double *kc;
    int cA, cB;
    if (!pair_setup(m, th, k, pk, &A, &B, &kc, &cA, &cB)) {
      continue;
    }
    double pt[3 * MAX_CONTACTS], nrm[3 * MAX_CONTACTS], phi[MAX_CONTACTS];
    int n = pair_contacts(&A, &B, pt, nrm, phi);
    for (int c = 0; c < n; c++) {
      const double *x = pt + 3 * c;
      double v[3], f[3], tq[3];
      if (!contact_at(k, &A, &B, x, nrm + 3 * c, phi[c], kc, v, f)) {
        continue;
      }
      rb_cross3(tq, x, f);
      for (int e = 0; e < 3; e++) {
        if (B.body >= 0) {
          k->F[3 * B.body + e] += f[e];
          k->N[3 * B.body + e] += tq[e];
        }
        if (A.body >= 0) {
          k->F[3 * A.body + e] -= f[e];
          k->N[3 * A.body + e] -= tq[e];
        }
      }
    }
  }
}

// Adjoint of contact_wrenches from F_b, N_b: accumulates xpos_b, xrot_b, w_b, vo_b and θ̄.
static void adj_contact_wrenches(const dpModel *m, const double *th, const Work *k,
                                 double *th_bar) {
  for (int pk = 0; pk < m->npair; pk++) {
    Geo A, B;
    const double *kc;
    int cA, cB;
    if (!pair_setup(m, th, k, pk, &A, &B, &kc, &cA, &cB)) {
      continue;
    }
    double pt[3 * MAX_CONTACTS], nrm[3 * MAX_CONTACTS], phi[MAX_CONTACTS];
    double pt_b[3 * MAX_CONTACTS], nrm_b[3 * MAX_CONTACTS], phi_b[MAX_CONTACTS];
    double *kc_bar = th_bar + (kc - th);
    int n = pair_contacts(&A, &B, pt, nrm, phi);
    memset(pt_b, 0, sizeof pt_b);
    memset(nrm_b, 0, sizeof nrm_b);
    memset(phi_b, 0, sizeof phi_b);
    int any = 0;
    for (int c = 0; c < n; c++) {
      const double *x = pt + 3 * c;
      double v[3], f[3];
      if (!contact_at(k, &A, &B, x, nrm + 3 * c, phi[c], kc, v, f)) {
        continue;
      }
      any = 1;
      // F_B += f, N_B += x × f; A the opposite. f̄ = F̄_B − F̄_A + (N̄_B − N̄_A) × x,
      // x̄ += f × (N̄_B − N̄_A).
      double Fb[3] = {0, 0, 0}, Nb[3] = {0, 0, 0};
      for (int e = 0; e < 3; e++) {
        if (B.body >= 0) {
          Fb[e] += k->F_b[3 * B.body + e];
          Nb[e] += k->N_b[3 * B.body + e];
        }
        if (A.body >= 0) {
          Fb[e] -= k->F_b[3 * A.body + e];
          Nb[e] -= k->N_b[3 * A.body + e];
        }
      }
      double f_bar[3], t1[3];
      rb_cross3(f_bar, Nb, x);
      rb_cross3(t1, f, Nb);
      for (int e = 0; e < 3; e++) {
        f_bar[e] += Fb[e];
        pt_b[3 * c + e] += t1[e];
      }
      double v_bar[3] = {0, 0, 0}, vn_bar[3];
      adj_contact_law(phi[c], nrm + 3 * c, v, kc, &phi_b[c], nrm_b + 3 * c, v_bar, kc_bar, f_bar);
      adj_point_velocity(k, B.body, x, pt_b + 3 * c, v_bar);
      for (int e = 0; e < 3; e++) {
        vn_bar[e] = -v_bar[e];
      }
      adj_point_velocity(k, A.body, x, pt_b + 3 * c, vn_bar);
    }
    if (!any) {
      continue;
    }
    adj_pair_contacts(&A, &B, pt_b, nrm_b, phi_b);
    // Distribute the sides' pose adjoints to the collider's θ, or through the shape's pose to
    // its body and θ. pair_setup put the lower kind first (A), so A is shape i unless swapped.
    if (cA >= 0) {
      adj_geo_collider(m, cA, &A, th_bar);
    }
    if (cB >= 0) {
      adj_geo_collider(m, cB, &B, th_bar);
    }
    int i = m->pair[2 * pk], j = m->pair[2 * pk + 1];
    if (j < 0) {
      adj_geo_shape(m, th, i, k->xrot, A.body >= 0 ? &A : &B, k->xpos_b, k->xrot_b, th_bar);
    } else {
      int swap = m->shtype[j] < m->shtype[i];
      adj_geo_shape(m, th, i, k->xrot, swap ? &B : &A, k->xpos_b, k->xrot_b, th_bar);
      adj_geo_shape(m, th, j, k->xrot, swap ? &A : &B, k->xpos_b, k->xrot_b, th_bar);
    }
  }
}

// ---- the applied force ------------------------------------------------------------------------

void rb_applied_force(const dpModel *m, const double *theta, int t, const double *q,
                      const double *qd, double *tau, double *scratch) {
  actuator_force(m, theta, t, q, qd, tau);
  limit_force(m, theta, q, qd, tau);
  if (m->npair == 0) {
    return;
  }
  Work k;
  work_layout(m, scratch, &k);
  dpRbParams p;
  rb_params_of(m, theta, &p);
  rb_fk(m->rb_, &p, q, k.xpos, k.xrot);
  rb_velocities(m->rb_, &p, k.xpos, k.xrot, qd, k.w, k.vo);
  contact_wrenches(m, theta, &k);
  rb_generalized_force(m->rb_, &p, k.xpos, k.xrot, k.F, k.N, tau, k.ws);
}

void adj_rb_applied_force(const dpModel *m, const double *theta, int t, const double *q,
                          const double *qd, double *q_bar, double *qd_bar, double *theta_bar,
                          const double *tau_bar, double *scratch) {
  adj_actuator_force(m, theta, t, q, qd, q_bar, qd_bar, theta_bar, tau_bar);
  adj_limit_force(m, theta, q, qd, q_bar, qd_bar, theta_bar, tau_bar);
  if (m->npair == 0) {
    return;
  }
  Work k;
  work_layout(m, scratch, &k);
  size_t nb = (size_t)m->nb;
  dpRbParams p;
  dpRbParamsBar pb;
  rb_params_of(m, theta, &p);
  rb_params_bar_of(m, theta_bar, &pb);
  rb_fk(m->rb_, &p, q, k.xpos, k.xrot);
  rb_velocities(m->rb_, &p, k.xpos, k.xrot, qd, k.w, k.vo);
  contact_wrenches(m, theta, &k);
  memset(k.xpos_b, 0, 24 * nb * sizeof *k.xpos_b);
  adj_rb_generalized_force(m->rb_, &p, k.xpos, k.xrot, k.F, k.N, k.xpos_b, k.xrot_b, k.F_b,
                           k.N_b, tau_bar, k.ws);
  adj_contact_wrenches(m, theta, &k, theta_bar);
  adj_rb_velocities(m->rb_, &p, k.xpos, k.xrot, qd, k.xpos_b, k.xrot_b, qd_bar, k.w_b, k.vo_b,
                    k.ws);
  adj_rb_fk(m->rb_, &p, q, q_bar, &pb, k.xpos_b, k.xrot_b, k.ws);
}
