// Soft particle contact with static colliders (ground half-space, axis-aligned box, sphere):
// signed distance and outward normal of each collider, a smooth penalty normal force with
// damping, and smoothed Coulomb friction; each with its adjoint.
//
// With penetration p = r − φ(x) (r: the particle's contact radius), z = p / w (w: smoothing
// width, m):
//   s  = w · softplus(z)                        smooth max(p, 0), m
//   fn = k s − c σ(z) d(v·n)                    normal force, N (σ gates the damping)
//   d(vn) = vn, or with a finite damping smoothing δ the approach-only (vn − sqrt(vn² + δ²))/2
//   ft = −μ k s · v_t / sqrt(|v_t|² + ε²)       smoothed Coulomb friction, bounded by μ k s
//        (with a finite friction damping kf: capped by the viscous kf v_t, friction_factor)
//   f  = fn n + ft
// As w, ε → 0 this is the penalty contact of Warp's particle–shape collision (ke, kd, mu) with
// friction bounded by the elastic normal force. The force is exactly C^∞ in x, v and every
// constant; there is no switch, so no NaN at onset, separation or v_t = 0. Far from contact
// (z < DP_CONTACT_CUTOFF) the force (< 1e-16 k w) is skipped, identically in the adjoint.
// Sources: Geilinger et al., "ADD: Analytically Differentiable Dynamics for Multi-Body Systems
// with Frictional Contact", SIGGRAPH Asia 2020 (smoothed penalty and friction); Hunt & Crossley
// (1975) for gating damping by penetration; Warp's eval_particle_contacts for the friction cap.
#ifndef DP_PHYS_CONTACT_KERN_H
#define DP_PHYS_CONTACT_KERN_H

#include "core_kern.h"

#define DP_CONTACT_CUTOFF (-36.0)

// Signed distance φ (m, negative inside) from x (3) to a collider and its outward normal n = ∇φ.
//   type: 0 ground (geom[0] = height), 1 box (center geom[0..2], half extents geom[3..5]),
//   2 sphere (center geom[0..2], radius geom[3]). Box: exact SDF; the normal of the nearest face
//   inside, the direction from the nearest surface point outside. At the sphere centre the
//   normal is +z by convention.
DP_HD static inline double collider_sdf(double *DP_RESTRICT n, int type, const double *geom,
                                        const double *x) {
  if (type == 0) {
    n[0] = 0.0;
    n[1] = 0.0;
    n[2] = 1.0;
    return x[2] - geom[0];
  }
  double d[3] = {x[0] - geom[0], x[1] - geom[1], x[2] - geom[2]};
  if (type == 2) {
    double l = dp_norm3(d);
    if (l <= 0.0) {
      n[0] = 0.0;
      n[1] = 0.0;
      n[2] = 1.0;
      return -geom[3];
    }
    n[0] = d[0] / l;
    n[1] = d[1] / l;
    n[2] = d[2] / l;
    return l - geom[3];
  }
  double q[3], r[3], sg[3];
  int kmax = 0;
  for (int i = 0; i < 3; i++) {
    sg[i] = d[i] >= 0 ? 1.0 : -1.0;
    q[i] = fabs(d[i]) - geom[3 + i];
    r[i] = q[i] > 0 ? sg[i] * q[i] : 0.0;
    if (q[i] > q[kmax]) {
      kmax = i;
    }
  }
  if (q[kmax] > 0) {
    double l = dp_norm3(r);
    n[0] = r[0] / l;
    n[1] = r[1] / l;
    n[2] = r[2] / l;
    return l;
  }
  n[0] = n[1] = n[2] = 0.0;
  n[kmax] = sg[kmax];
  return q[kmax];
}

// Adjoint of collider_sdf: given phi_bar and n_bar (3), accumulates x_bar (3) and geom_bar
// (DP_CGEOM). Uses the Hessian of φ: (I − n nᵀ) P / |r| outside a box (P selects the axes
// outside the slab), (I − n nᵀ) / |d| for a sphere, zero for planes and box interiors.
DP_HD static inline void adj_collider_sdf(int type, const double *geom, const double *x,
                                          double *x_bar, double *geom_bar, double phi_bar,
                                          const double *n_bar) {
  if (type == 0) {
    x_bar[2] += phi_bar;
    geom_bar[0] -= phi_bar;
    return;
  }
  double d[3] = {x[0] - geom[0], x[1] - geom[1], x[2] - geom[2]};
  if (type == 2) {
    double l = dp_norm3(d);
    geom_bar[3] -= phi_bar;
    if (l <= 0.0) {
      return;
    }
    double n[3] = {d[0] / l, d[1] / l, d[2] / l};
    double nn = dp_dot3(n, n_bar);
    for (int i = 0; i < 3; i++) {
      double db = phi_bar * n[i] + (n_bar[i] - n[i] * nn) / l;
      x_bar[i] += db;
      geom_bar[i] -= db;
    }
    return;
  }
  double q[3], r[3], sg[3];
  int kmax = 0;
  for (int i = 0; i < 3; i++) {
    sg[i] = d[i] >= 0 ? 1.0 : -1.0;
    q[i] = fabs(d[i]) - geom[3 + i];
    r[i] = q[i] > 0 ? sg[i] * q[i] : 0.0;
    if (q[i] > q[kmax]) {
      kmax = i;
    }
  }
  if (q[kmax] > 0) {
    double l = dp_norm3(r);
    double n[3] = {r[0] / l, r[1] / l, r[2] / l};
    double nn = dp_dot3(n, n_bar);
    for (int i = 0; i < 3; i++) {
      if (q[i] > 0) {
        double rb = phi_bar * n[i] + (n_bar[i] - n[i] * nn) / l;
        x_bar[i] += rb;
        geom_bar[i] -= rb;
        geom_bar[3 + i] -= sg[i] * rb;
      }
    }
    return;
  }
  x_bar[kmax] += phi_bar * sg[kmax];
  geom_bar[kmax] -= phi_bar * sg[kmax];
  geom_bar[3 + kmax] -= phi_bar;
}

// Damping velocity d(vn) of the normal force −c σ(z) d(vn), m/s, for the damping smoothing δ
// (m/s, > 0). δ = INFINITY: d = vn, the dashpot acts both ways. Finite δ: approach
// (compression) only, d = (vn − sqrt(vn² + δ²)) / 2, a smooth min(vn, 0) that is never
// positive, so the damping never pulls a separating particle back; it differs from
// min(vn, 0) by at most δ/2 (at vn = 0) and its slope at vn = 0 is 1/2.
// Source: Warp, warp/sim/integrator_euler.py, eval_particle_contacts: kd · min(vn, 0).
DP_HD static inline double damping_velocity(double vn, double delta) {
  return isinf(delta) ? vn : 0.5 * (vn - sqrt(vn * vn + delta * delta));
}

// Adjoint of damping_velocity: accumulates vn_bar and delta_bar from d_bar.
//   ∂d/∂vn = (1 − vn/R)/2,  ∂d/∂δ = −δ/(2R),  R = sqrt(vn² + δ²) (> 0 for δ > 0).
DP_HD static inline void adj_damping_velocity(double vn, double delta, double *vn_bar,
                                              double *delta_bar, double d_bar) {
  if (isinf(delta)) {
    *vn_bar += d_bar;
    return;
  }
  double R = sqrt(vn * vn + delta * delta);
  *vn_bar += 0.5 * (1.0 - vn / R) * d_bar;
  *delta_bar += -0.5 * delta / R * d_bar;
}

// Friction factor a of the tangential force f_t = a v_t, in N·s/m (a <= 0), for a finite friction
// damping kf: smoothed Coulomb friction capped by a viscous friction of coefficient kf.
//   P: the friction bound μ k s, N (>= 0); Q: |v_t|² + ε², m²/s² (> 0); q = sqrt(Q), m/s;
//   kf: friction damping, N·s/m (>= 0, finite).
//   a = −kf P / D,  D = sqrt(kf² Q + P²)
// A smooth min(): |f_t| = |a| |v_t| <= min(kf sqrt(Q), P), and the slope at v_t = 0 is
// kf P / sqrt(kf² ε² + P²) <= kf, so an explicit or semi-implicit step h is stable on the
// tangential dynamics when h kf / m < 2 however large P grows during an impact (the pure law's
// slope P / ε is not). kf = 0 gives no friction; kf → ∞ tends to the pure smoothed Coulomb
// a = −P / q, which contact_force evaluates as such for kf = INFINITY. kf² Q must stay finite
// (kf below about 1e150). D = 0 (kf = 0 and P = 0): a = 0.
// Source: Warp, warp/sim/integrator_euler.py, eval_particle_contacts: friction
// −v_t/|v_t| · min(kf |v_t|, μ fn), with the min() and |v_t| smoothed here.
DP_HD static inline double friction_factor(double P, double Q, double kf) {
  double D = sqrt(kf * kf * Q + P * P);
  return D == 0 ? 0.0 : -kf / D * P;  // written so that a NaN kf or P propagates
}

// Adjoint of friction_factor: accumulates P_bar, Q_bar and kf_bar from a_bar. Recomputes D (one
// square root). With r = kf / D and p = P / D (both finite whenever D is):
//   ∂a/∂kf = −P³/D³ = −p³,  ∂a/∂P = −kf³ Q/D³ = −r³ Q,  ∂a/∂Q = kf³ P/(2 D³) = r³ P / 2.
// At D = 0 every derivative is taken as 0.
DP_HD static inline void adj_friction_factor(double P, double Q, double kf, double *P_bar,
                                             double *Q_bar, double *kf_bar, double a_bar) {
  double D = sqrt(kf * kf * Q + P * P);
  if (D == 0) {
    return;
  }
  double r = kf / D, p = P / D;
  double r3 = r * r * r;
  *kf_bar += -p * p * p * a_bar;
  *P_bar += -r3 * Q * a_bar;
  *Q_bar += 0.5 * r3 * P * a_bar;
}

// The contact law: the force fn n + a v_t accumulated into f (3), N, at signed distance phi (m,
// negative when penetrating; for a particle of radius r, φ(x) − r), unit normal n (3) and
// relative velocity v (3, m/s) of the contact point against the other side. kc: the DP_CCONTACT
// constants (k, c, μ, w, ε, kf, δ). Returns 1 when in range (z = −phi/w >= DP_CONTACT_CUTOFF),
// else 0 and f untouched. n enters polynomially (its adjoint treats its entries as independent).
DP_HD static inline int contact_law(double *DP_RESTRICT f, double phi, const double *n,
                                    const double *v, const double *kc) {
  double k = kc[0], c = kc[1], mu = kc[2], w = kc[3], eps = kc[4], kf = kc[5], dl = kc[6];
  double z = -phi / w;
  if (z < DP_CONTACT_CUTOFF) {
    return 0;
  }
  double s = w * dp_softplus(z);
  double g = dp_sigmoid(z);
  double vn = dp_dot3(v, n);
  double vt[3] = {v[0] - vn * n[0], v[1] - vn * n[1], v[2] - vn * n[2]};
  double Q = dp_dot3(vt, vt) + eps * eps;
  double q = sqrt(Q);
  double fn = k * s - c * g * damping_velocity(vn, dl);
  double a = isinf(kf) ? -mu * k * s / q : friction_factor(mu * k * s, Q, kf);
  for (int i = 0; i < 3; i++) {
    f[i] += fn * n[i] + a * vt[i];
  }
  return 1;
}

// Adjoint of contact_law: accumulates phi_bar (1), n_bar (3), v_bar (3) and kc_bar (DP_CCONTACT)
// from f_bar (3); nothing out of range. Recomputes the forward intermediates (a few flops).
DP_HD static inline void adj_contact_law(double phi, const double *n, const double *v,
                                         const double *kc, double *phi_bar, double *n_bar,
                                         double *v_bar, double *kc_bar, const double *f_bar) {
  double k = kc[0], c = kc[1], mu = kc[2], w = kc[3], eps = kc[4], kf = kc[5], dl = kc[6];
  double z = -phi / w;
  if (z < DP_CONTACT_CUTOFF) {
    return;
  }
  double sp = dp_softplus(z);
  double s = w * sp;
  double g = dp_sigmoid(z);
  double vn = dp_dot3(v, n);
  double vt[3] = {v[0] - vn * n[0], v[1] - vn * n[1], v[2] - vn * n[2]};
  double Q = dp_dot3(vt, vt) + eps * eps;
  double q = sqrt(Q);
  double dv = damping_velocity(vn, dl);
  double fn = k * s - c * g * dv;
  double a = isinf(kf) ? -mu * k * s / q : friction_factor(mu * k * s, Q, kf);

  // f = fn n + a vt
  double fn_bar = dp_dot3(n, f_bar);
  double a_bar = dp_dot3(vt, f_bar);
  double nb[3] = {fn * f_bar[0], fn * f_bar[1], fn * f_bar[2]};
  double vt_bar[3] = {a * f_bar[0], a * f_bar[1], a * f_bar[2]};
  double ks_bar, q_bar;  // adjoints of the product k s inside a, and of q
  if (isinf(kf)) {
    // a = -μ k s / q (kept as the original expressions, so gradients stay bit-identical)
    kc_bar[2] += -k * s / q * a_bar;
    ks_bar = -mu / q * a_bar;
    q_bar = mu * k * s / (q * q) * a_bar;
  } else {
    // a = friction_factor(P = μ k s, Q = q², kf)
    double P_bar = 0.0, Q_bar = 0.0;
    adj_friction_factor(mu * k * s, Q, kf, &P_bar, &Q_bar, &kc_bar[5], a_bar);
    kc_bar[2] += k * s * P_bar;
    ks_bar = mu * P_bar;
    q_bar = 2.0 * q * Q_bar;
  }
  // q = sqrt(|vt|² + ε²)
  for (int i = 0; i < 3; i++) {
    vt_bar[i] += q_bar * vt[i] / q;
  }
  kc_bar[4] += q_bar * eps / q;
  // vt = v - vn n
  double vt_n = dp_dot3(n, vt_bar);
  double vn_bar = -vt_n;
  for (int i = 0; i < 3; i++) {
    v_bar[i] += vt_bar[i];
    nb[i] -= vn * vt_bar[i];
  }
  // fn = k s - c g d(vn)
  kc_bar[0] += s * fn_bar + s * ks_bar;
  double s_bar = k * fn_bar + k * ks_bar;
  kc_bar[1] += -g * dv * fn_bar;
  double g_bar = -c * dv * fn_bar;
  adj_damping_velocity(vn, dl, &vn_bar, &kc_bar[6], -c * g * fn_bar);
  // vn = v · n
  for (int i = 0; i < 3; i++) {
    v_bar[i] += vn_bar * n[i];
    nb[i] += vn_bar * v[i];
  }
  // s = w softplus(z), g = σ(z), z = -φ / w
  double z_bar = s_bar * w * g + g_bar * g * (1.0 - g);
  kc_bar[3] += s_bar * sp - z_bar * z / w;
  *phi_bar += -z_bar / w;
  for (int i = 0; i < 3; i++) {
    n_bar[i] += nb[i];
  }
}

// Contact force on a particle of contact radius r (m, >= 0) at x (3), velocity v (3), from one
// collider, accumulated into f (3), N: contact_law at φ = collider_sdf(x) − r. kc: the collider's
// DP_CCONTACT constants (k, c, μ, w, ε, kf, δ). Returns 1 when in range.
DP_HD static inline int contact_force(double *DP_RESTRICT f, int type, const double *geom,
                                      const double *kc, double r, const double *x,
                                      const double *v) {
  double n[3];
  double phi = collider_sdf(n, type, geom, x) - r;
  return contact_law(f, phi, n, v, kc);
}

// Adjoint of contact_force: accumulates x_bar, v_bar (3), geom_bar (DP_CGEOM), kc_bar
// (DP_CCONTACT) and r_bar (1) from f_bar (3). Recomputes the distance and the law's
// intermediates (a few flops).
DP_HD static inline void adj_contact_force(int type, const double *geom, const double *kc,
                                           double r, const double *x, const double *v,
                                           double *x_bar, double *v_bar, double *geom_bar,
                                           double *kc_bar, double *r_bar, const double *f_bar) {
  double n[3];
  double phi = collider_sdf(n, type, geom, x) - r;
  if (-phi / kc[3] < DP_CONTACT_CUTOFF) {
    return;
  }
  double phi_bar = 0.0, n_bar[3] = {0.0, 0.0, 0.0};
  adj_contact_law(phi, n, v, kc, &phi_bar, n_bar, v_bar, kc_bar, f_bar);
  *r_bar -= phi_bar;
  adj_collider_sdf(type, geom, x, x_bar, geom_bar, phi_bar, n_bar);
}

#endif
