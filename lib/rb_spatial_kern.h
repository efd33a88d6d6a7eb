// 3D and spatial (6D) algebra for articulated rigid bodies: rotations from unit quaternions and
// rotation vectors, the SO(3) right Jacobian, spatial cross products, Plücker transforms split
// into a pure translation and a pure rotation, and rigid-body spatial inertia; each with the
// adjoint the tree algorithms need.
//
// Spatial vectors follow Featherstone, angular part first: a motion vector is m = [ω; v] (v: the
// velocity of the body-fixed point at the frame origin), a force vector is f = [n; f] (n: the
// moment about the frame origin). A rotation R (3x3, row-major) is the orientation of a child
// frame in its parent frame (x_parent = R x_child). Tangent perturbations of a rotation are on the
// right (body frame): R ← R exp([δθ]×), Q ← Q ⊗ exp(δθ); the adjoints below return gradients in
// that tangent space (3 numbers per rotation, never 4 or 9).
// Sources: Featherstone, "Rigid Body Dynamics Algorithms" (2008), ch. 2 (spatial algebra:
// Plücker transforms, the cross products crm/crf, rigid-body inertia); Solà, Deray & Atchuthan,
// "A micro Lie theory for state estimation in robotics" (2018), appendix on SO(3) (exp, right
// Jacobian).
#ifndef DP_RB_SPATIAL_KERN_H
#define DP_RB_SPATIAL_KERN_H

#include "core_kern.h"

// out = a × b (out may not alias a or b)
DP_HD static inline void rb_cross3(double *DP_RESTRICT out, const double *a, const double *b) {
  out[0] = a[1] * b[2] - a[2] * b[1];
  out[1] = a[2] * b[0] - a[0] * b[2];
  out[2] = a[0] * b[1] - a[1] * b[0];
}

// out += a × b
DP_HD static inline void rb_cross3_acc(double *DP_RESTRICT out, const double *a, const double *b) {
  out[0] += a[1] * b[2] - a[2] * b[1];
  out[1] += a[2] * b[0] - a[0] * b[2];
  out[2] += a[0] * b[1] - a[1] * b[0];
}

// Adjoint of y = a × b: a_bar += b × y_bar, b_bar += y_bar × a (either bar may be NULL).
DP_HD static inline void adj_rb_cross3(const double *a, const double *b, double *a_bar,
                                       double *b_bar, const double *y_bar) {
  if (a_bar != NULL) {
    rb_cross3_acc(a_bar, b, y_bar);
  }
  if (b_bar != NULL) {
    rb_cross3_acc(b_bar, y_bar, a);
  }
}

// out = R x
DP_HD static inline void rb_mat_vec(double *DP_RESTRICT out, const double *R, const double *x) {
  for (int i = 0; i < 3; i++) {
    out[i] = R[3 * i] * x[0] + R[3 * i + 1] * x[1] + R[3 * i + 2] * x[2];
  }
}

// out = Rᵀ x
DP_HD static inline void rb_mat_tvec(double *DP_RESTRICT out, const double *R, const double *x) {
  for (int i = 0; i < 3; i++) {
    out[i] = R[i] * x[0] + R[3 + i] * x[1] + R[6 + i] * x[2];
  }
}

// C = A B (3x3, row-major; C may not alias A or B)
DP_HD static inline void rb_mat_mul(double *DP_RESTRICT C, const double *A, const double *B) {
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      C[3 * i + j] = A[3 * i] * B[j] + A[3 * i + 1] * B[3 + j] + A[3 * i + 2] * B[6 + j];
    }
  }
}

// ---- rotations ------------------------------------------------------------------------------

// Rotation matrix of the quaternion Q = (w, x, y, z). Q need not be exactly unit: R is that of
// Q / |Q| (the factor 2 / |Q|² below), so a quaternion that drifted by round-off still gives an
// orthogonal R, and gradients taken in the tangent space are consistent with it.
// The standard unit-quaternion rotation matrix (Featherstone 2008 uses its transpose, E = Rᵀ).
DP_HD static inline void rb_quat_to_mat(double *DP_RESTRICT R, const double *Q) {
  double w = Q[0], x = Q[1], y = Q[2], z = Q[3];
  double s = 2.0 / (w * w + x * x + y * y + z * z);
  R[0] = 1 - s * (y * y + z * z);
  R[1] = s * (x * y - w * z);
  R[2] = s * (x * z + w * y);
  R[3] = s * (x * y + w * z);
  R[4] = 1 - s * (x * x + z * z);
  R[5] = s * (y * z - w * x);
  R[6] = s * (x * z - w * y);
  R[7] = s * (y * z + w * x);
  R[8] = 1 - s * (x * x + y * y);
}

// Hamilton product out = a ⊗ b (w first; out may not alias a or b).
DP_HD static inline void rb_quat_mul(double *DP_RESTRICT out, const double *a, const double *b) {
  out[0] = a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3];
  out[1] = a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2];
  out[2] = a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1];
  out[3] = a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0];
}

// Unit quaternion of the rotation vector θ (rad): (cos(t/2), sin(t/2) θ / t), t = |θ|. Below
// t = 1e-4 the Taylor series of sin(t/2)/t (error < t⁶/10⁵) avoids the 0/0.
DP_HD static inline void rb_quat_exp(double *DP_RESTRICT Q, const double *th) {
  double t2 = dp_dot3(th, th);
  double t = sqrt(t2);
  double c, s;
  if (t < 1e-4) {
    c = 1.0 - t2 / 8.0 + t2 * t2 / 384.0;
    s = 0.5 - t2 / 48.0 + t2 * t2 / 3840.0;
  } else {
    c = cos(0.5 * t);
    s = sin(0.5 * t) / t;
  }
  Q[0] = c;
  Q[1] = s * th[0];
  Q[2] = s * th[1];
  Q[3] = s * th[2];
}

// Scale Q to unit length (a zero quaternion becomes the identity).
DP_HD static inline void rb_quat_normalize(double *Q) {
  double n = sqrt(Q[0] * Q[0] + Q[1] * Q[1] + Q[2] * Q[2] + Q[3] * Q[3]);
  if (n == 0) {
    Q[0] = 1.0;
    Q[1] = Q[2] = Q[3] = 0.0;
    return;
  }
  for (int k = 0; k < 4; k++) {
    Q[k] /= n;
  }
}

// The coefficients of the SO(3) exponential and its right Jacobian for t = |φ|:
//   a = sin t / t, b = (1 − cos t) / t², c = (t − sin t) / t³
// with Taylor series below t = 1e-3 (truncation < t⁶/5040, far below round-off there).
DP_HD static inline void rb_so3_coeffs(double t2, double *a, double *b, double *c) {
  if (t2 < 1e-6) {
    *a = 1.0 - t2 / 6.0 + t2 * t2 / 120.0;
    *b = 0.5 - t2 / 24.0 + t2 * t2 / 720.0;
    *c = 1.0 / 6.0 - t2 / 120.0 + t2 * t2 / 5040.0;
    return;
  }
  double t = sqrt(t2);
  *a = sin(t) / t;
  *b = (1.0 - cos(t)) / t2;
  *c = (t - sin(t)) / (t2 * t);
}

// R = exp([φ]×) (Rodrigues): I + a [φ]× + b [φ]×². For a unit axis u and angle q, φ = q u gives
// the rotation of a revolute joint (Rodrigues' formula).
DP_HD static inline void rb_so3_exp(double *DP_RESTRICT R, const double *phi) {
  double a, b, c;
  rb_so3_coeffs(dp_dot3(phi, phi), &a, &b, &c);
  double x = phi[0], y = phi[1], z = phi[2];
  R[0] = 1 - b * (y * y + z * z);
  R[1] = -a * z + b * x * y;
  R[2] = a * y + b * x * z;
  R[3] = a * z + b * x * y;
  R[4] = 1 - b * (x * x + z * z);
  R[5] = -a * x + b * y * z;
  R[6] = -a * y + b * x * z;
  R[7] = a * x + b * y * z;
  R[8] = 1 - b * (x * x + y * y);
}

// out = Jr(φ)ᵀ x, the transpose of the right Jacobian of SO(3):
//   Jr(φ) = I − b [φ]× + c [φ]×²,  so Jr(φ)ᵀ x = x + b φ × x + c φ × (φ × x)
// exp(φ + δ) = exp(φ) exp(Jr(φ) δ) to first order, hence the adjoint of φ ↦ exp(φ) in the
// right tangent space maps an output gradient g to Jr(φ)ᵀ g. Source: Solà et al. (2018).
DP_HD static inline void rb_so3_jr_tvec(double *DP_RESTRICT out, const double *phi,
                                        const double *x) {
  double a, b, c;
  rb_so3_coeffs(dp_dot3(phi, phi), &a, &b, &c);
  double px[3], ppx[3];
  rb_cross3(px, phi, x);
  rb_cross3(ppx, phi, px);
  for (int i = 0; i < 3; i++) {
    out[i] = x[i] + b * px[i] + c * ppx[i];
  }
}

// Truncated inverse of the right Jacobian, the "dexpinv" of Runge–Kutta–Munthe-Kaas methods:
//   y = ω + ½ θ × ω + (1/12) θ × (θ × ω)
// θ(t) with R(t) = R0 exp([θ(t)]×) and body angular velocity ω obeys θ̇ = Jr(θ)⁻¹ ω; the series
// up to the Bernoulli term B2 is enough for an order-4 method (the omitted terms are O(|θ|³ |ω|)
// and θ = O(h) inside a step). Source: Munthe-Kaas, "High order Runge–Kutta methods on
// manifolds", Appl. Numer. Math. 29 (1999); Iserles et al., "Lie-group methods", Acta
// Numerica 9 (2000).
DP_HD static inline void rb_dexpinv(double *DP_RESTRICT y, const double *th, const double *w) {
  double tw[3], ttw[3];
  rb_cross3(tw, th, w);
  rb_cross3(ttw, th, tw);
  for (int i = 0; i < 3; i++) {
    y[i] = w[i] + 0.5 * tw[i] + ttw[i] / 12.0;
  }
}

// Adjoint of rb_dexpinv: accumulates th_bar and w_bar (3 each) from y_bar. With
// θ × (θ × ω) = θ (θ·ω) − ω |θ|² (a symmetric operator on ω).
DP_HD static inline void adj_rb_dexpinv(const double *th, const double *w, double *th_bar,
                                        double *w_bar, const double *y_bar) {
  double tw = dp_dot3(th, w), ty = dp_dot3(th, y_bar), wy = dp_dot3(w, y_bar);
  double tt = dp_dot3(th, th);
  double yt[3], wy3[3];
  rb_cross3(yt, y_bar, th);
  rb_cross3(wy3, w, y_bar);
  for (int i = 0; i < 3; i++) {
    w_bar[i] += y_bar[i] + 0.5 * yt[i] + (th[i] * ty - tt * y_bar[i]) / 12.0;
    th_bar[i] += 0.5 * wy3[i] + (tw * y_bar[i] + w[i] * ty - 2.0 * th[i] * wy) / 12.0;
  }
}

// Tangent gradient of a function of a unit quaternion from its gradient g (4) with respect to the
// components: out = ½ Im(Q* ⊗ g), i.e. the gradient with respect to δθ in Q ⊗ exp(δθ)
// (δQ = ½ Q ⊗ (0, δθ), so out = ½ L(Q)ᵀ g, rows 1..3). Radial components of g are dropped.
DP_HD static inline void rb_quat_tangent_from_grad(double *DP_RESTRICT out, const double *Q,
                                                   const double *g) {
  // ½ L(Q)ᵀ g, rows 1..3, with L(Q) the left-multiplication matrix of Q.
  double w = Q[0], x = Q[1], y = Q[2], z = Q[3];
  out[0] = 0.5 * (-x * g[0] + w * g[1] + z * g[2] - y * g[3]);
  out[1] = 0.5 * (-y * g[0] - z * g[1] + w * g[2] + x * g[3]);
  out[2] = 0.5 * (-z * g[0] + y * g[1] - x * g[2] + w * g[3]);
}

// The inverse map: the component gradient (4, tangent to the unit sphere at Q) of a function of
// Q / |Q| whose tangent gradient is gt (3): out = 2 Q ⊗ (0, gt).
DP_HD static inline void rb_quat_grad_from_tangent(double *DP_RESTRICT out, const double *Q,
                                                   const double *gt) {
  double v[4] = {0.0, 2.0 * gt[0], 2.0 * gt[1], 2.0 * gt[2]};
  rb_quat_mul(out, Q, v);
}

// ---- spatial transforms ---------------------------------------------------------------------

// Motion vector m (6) of frame A expressed in frame B whose origin is at r (3) in A and whose
// axes are those of A: out = [ω; v + ω × r] (Featherstone's xlt(r)).
DP_HD static inline void rb_mot_translate(double *DP_RESTRICT out, const double *r,
                                          const double *m) {
  out[0] = m[0];
  out[1] = m[1];
  out[2] = m[2];
  out[3] = m[3] + m[1] * r[2] - m[2] * r[1];
  out[4] = m[4] + m[2] * r[0] - m[0] * r[2];
  out[5] = m[5] + m[0] * r[1] - m[1] * r[0];
}

// The transpose for forces: force f (6) in B back in A: out = [n + r × f; f].
DP_HD static inline void rb_frc_translate_back(double *DP_RESTRICT out, const double *r,
                                               const double *f) {
  out[0] = f[0] + r[1] * f[5] - r[2] * f[4];
  out[1] = f[1] + r[2] * f[3] - r[0] * f[5];
  out[2] = f[2] + r[0] * f[4] - r[1] * f[3];
  out[3] = f[3];
  out[4] = f[4];
  out[5] = f[5];
}

// Motion or force vector x (6) of frame A in a frame B of the same origin with orientation R in A:
// out = [Rᵀ x_ang; Rᵀ x_lin] (Featherstone's rot(E) with E = Rᵀ).
DP_HD static inline void rb_sv_rotate_in(double *DP_RESTRICT out, const double *R,
                                         const double *x) {
  rb_mat_tvec(out, R, x);
  rb_mat_tvec(out + 3, R, x + 3);
}

// The inverse: out = [R x_ang; R x_lin] (a vector of B back in A).
DP_HD static inline void rb_sv_rotate_out(double *DP_RESTRICT out, const double *R,
                                          const double *x) {
  rb_mat_vec(out, R, x);
  rb_mat_vec(out + 3, R, x + 3);
}

// ---- spatial cross products -----------------------------------------------------------------

// Motion cross product out = v × m = [ω × ω2; ω × v2 + v × ω2] (Featherstone's crm).
DP_HD static inline void rb_crm(double *DP_RESTRICT out, const double *v, const double *m) {
  rb_cross3(out, v, m);
  rb_cross3(out + 3, v, m + 3);
  rb_cross3_acc(out + 3, v + 3, m);
}

// Adjoint of rb_crm: accumulates v_bar and m_bar (6 each; either may be NULL) from y_bar.
DP_HD static inline void adj_rb_crm(const double *v, const double *m, double *v_bar,
                                    double *m_bar, const double *y_bar) {
  adj_rb_cross3(v, m, v_bar, m_bar, y_bar);
  adj_rb_cross3(v, m + 3, v_bar, m_bar != NULL ? m_bar + 3 : NULL, y_bar + 3);
  adj_rb_cross3(v + 3, m, v_bar != NULL ? v_bar + 3 : NULL, m_bar, y_bar + 3);
}

// Force cross product out = v ×* f = [ω × n + v × f; ω × f] (Featherstone's crf).
DP_HD static inline void rb_crf(double *DP_RESTRICT out, const double *v, const double *f) {
  rb_cross3(out, v, f);
  rb_cross3_acc(out, v + 3, f + 3);
  rb_cross3(out + 3, v, f + 3);
}

// Adjoint of rb_crf: accumulates v_bar and f_bar (6 each) from y_bar.
DP_HD static inline void adj_rb_crf(const double *v, const double *f, double *v_bar,
                                    double *f_bar, const double *y_bar) {
  adj_rb_cross3(v, f, v_bar, f_bar, y_bar);
  adj_rb_cross3(v + 3, f + 3, v_bar + 3, f_bar + 3, y_bar);
  adj_rb_cross3(v, f + 3, v_bar, f_bar + 3, y_bar + 3);
}

// ---- rigid-body inertia ---------------------------------------------------------------------

// y = I3 x for the symmetric 3x3 inertia stored as (Ixx, Iyy, Izz, Ixy, Ixz, Iyz).
DP_HD static inline void rb_sym3_vec(double *DP_RESTRICT y, const double *I6, const double *x) {
  y[0] = I6[0] * x[0] + I6[3] * x[1] + I6[4] * x[2];
  y[1] = I6[3] * x[0] + I6[1] * x[1] + I6[5] * x[2];
  y[2] = I6[4] * x[0] + I6[5] * x[1] + I6[2] * x[2];
}

// Adjoint of rb_sym3_vec with respect to I6 only: I6_bar += the symmetric outer product.
DP_HD static inline void adj_rb_sym3_coef(const double *x, double *I6_bar, const double *y_bar) {
  I6_bar[0] += y_bar[0] * x[0];
  I6_bar[1] += y_bar[1] * x[1];
  I6_bar[2] += y_bar[2] * x[2];
  I6_bar[3] += y_bar[0] * x[1] + y_bar[1] * x[0];
  I6_bar[4] += y_bar[0] * x[2] + y_bar[2] * x[0];
  I6_bar[5] += y_bar[1] * x[2] + y_bar[2] * x[1];
}

// Spatial inertia of a rigid body times a motion vector, about the body-frame origin:
//   m: mass (kg); c (3): centre of mass (m); I6: rotational inertia about the centre of mass
//   (kg·m², Ixx Iyy Izz Ixy Ixz Iyz); x = [ω; v] (6). Result (6):
//   p = m (v + ω × c),  y = [I_c ω + c × p; p]
// which is [I_c + m c× c×ᵀ, m c×; m c×ᵀ, m 1] x. Source: Featherstone (2008), ch. 2 (spatial
// inertia).
DP_HD static inline void rb_inertia_apply(double *DP_RESTRICT y, double m, const double *c,
                                          const double *I6, const double *x) {
  double wc[3];
  rb_cross3(wc, x, c);
  double p[3] = {m * (x[3] + wc[0]), m * (x[4] + wc[1]), m * (x[5] + wc[2])};
  rb_sym3_vec(y, I6, x);
  rb_cross3_acc(y, c, p);
  y[3] = p[0];
  y[4] = p[1];
  y[5] = p[2];
}

// Adjoint of rb_inertia_apply: accumulates m_bar, c_bar (3), I6_bar (6) and x_bar (6; may be
// NULL) from y_bar (6). Recomputes p (9 flops).
DP_HD static inline void adj_rb_inertia_apply(double m, const double *c, const double *I6,
                                              const double *x, double *m_bar, double *c_bar,
                                              double *I6_bar, double *x_bar,
                                              const double *y_bar) {
  double wc[3];
  rb_cross3(wc, x, c);
  double u[3] = {x[3] + wc[0], x[4] + wc[1], x[5] + wc[2]};
  double p[3] = {m * u[0], m * u[1], m * u[2]};
  // y_ang = I_c ω + c × p
  adj_rb_sym3_coef(x, I6_bar, y_bar);
  if (x_bar != NULL) {
    double t[3];
    rb_sym3_vec(t, I6, y_bar);
    x_bar[0] += t[0];
    x_bar[1] += t[1];
    x_bar[2] += t[2];
  }
  double p_bar[3] = {y_bar[3], y_bar[4], y_bar[5]};
  adj_rb_cross3(c, p, c_bar, p_bar, y_bar);
  // p = m (v + ω × c)
  *m_bar += dp_dot3(p_bar, u);
  double u_bar[3] = {m * p_bar[0], m * p_bar[1], m * p_bar[2]};
  if (x_bar != NULL) {
    x_bar[3] += u_bar[0];
    x_bar[4] += u_bar[1];
    x_bar[5] += u_bar[2];
  }
  adj_rb_cross3(x, c, x_bar, c_bar, u_bar);
}

// The same inertia as a dense 6x6 matrix (row-major), for the composite-rigid-body algorithm.
DP_HD static inline void rb_inertia_matrix(double *DP_RESTRICT M, double m, const double *c,
                                           const double *I6) {
  double cx[9] = {0, -c[2], c[1], c[2], 0, -c[0], -c[1], c[0], 0};
  double Ic[9] = {I6[0], I6[3], I6[4], I6[3], I6[1], I6[5], I6[4], I6[5], I6[2]};
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      // c× c×ᵀ = -c× c×
      double s = 0;
      for (int k = 0; k < 3; k++) {
        s += cx[3 * i + k] * cx[3 * j + k];
      }
      M[6 * i + j] = Ic[3 * i + j] + m * s;
      M[6 * i + 3 + j] = m * cx[3 * i + j];
      M[6 * (3 + i) + j] = m * cx[3 * j + i];
      M[6 * (3 + i) + 3 + j] = i == j ? m : 0.0;
    }
  }
}

#endif
