// Narrow phase of rigid-body contact: contact points, normals and signed distances between pairs
// of primitive shapes (plane, sphere, capsule, box) at given world poses, each with its adjoint.
// Closest points follow Ericson, "Real-Time Collision Detection" (2005): §5.1.2 point–segment,
// §5.1.3–5.1.4 point–box, §5.1.9 segment–segment; the contact layout follows MuJoCo's
// engine_collision_primitive.c (plane–capsule reports both end caps, plane–box every corner).
//
// Conventions (every routine):
//   - Pose: position p (3, m) and rotation matrix R (3x3, row-major), whose columns are the body
//     axes in world coordinates: a body point l maps to the world point p + R l. A sphere has
//     no orientation and is given by its centre c. A plane is static: a point o (3) and a unit
//     normal n (3); its solid side is n·(x − o) < 0.
//   - Shapes: sphere radius r; capsule radius r and half-length h along the body z axis (the
//     segment p ± h R e_z, so h = 0 is a sphere); box half extents he (3) along the body axes.
//   - A contact is a world point (3), a unit normal (3) pointing from shape A to shape B (the
//     first and second shapes of the routine's name; A is the plane for plane pairs), and a
//     signed distance φ (m): the gap between the surfaces along the normal, negative when they
//     penetrate. The point is the midpoint of the two surfaces' points along the normal (as in
//     MuJoCo), so a penalty force applied there is symmetric in A and B.
//   - Outputs are arrays pt (3K), nrm (3K), phi (K), contact k at pt + 3k, nrm + 3k, phi[k]; the
//     routine returns how many contacts it wrote (K per pair: sphere pairs 1, capsule–plane 2,
//     capsule–capsule 1 or 2 (2 when the axes are parallel and overlap), box–plane 8,
//     sphere–box 1, box–box 8). Far contacts are reported with their (positive) φ, so a
//     smooth penalty decays instead of switching off.
//   - Adjoints adj_<pair>(forward inputs, bars of each differentiable input, pt_bar, nrm_bar,
//     phi_bar) accumulate (+=) into the bars; the incoming adjoints have the forward outputs'
//     layout (the first `count` contacts are read). They recompute the forward pass (a few dozen
//     flops; nothing is worth storing). Plane bars (o_bar, n_bar) may be NULL for a static
//     plane; every other bar is required.
//   - R is used as given, never re-orthonormalized, and R_bar (9) is the derivative with respect
//     to its nine entries taken independently, of formulas that assume orthonormal R (a capsule
//     axis is the column R e_z without normalization). Along rotations it is the exact gradient;
//     for a body-frame tangent perturbation R exp([δθ]×) the gradient is
//     δθ_bar = (A21 − A12, A02 − A20, A10 − A01) with A = Rᵀ R_bar.
//   - Discrete choices (which face, which clamp of a segment parameter, the parallel-segment
//     rule) are made in the forward pass; the adjoint differentiates the branch taken, so the
//     gradient is exact everywhere except on the measure-zero switch surfaces, where it is the
//     one-sided derivative of the branch the forward pass chose (finite, never NaN).
//   - Tie-breaks at degenerate configurations (all finite, documented at each routine):
//     coincident centres use the normal +z; a clamp at equality takes the upper bound (a
//     zero-length segment, h = 0, therefore gives its centre); parallel capsule axes (1 − b² <=
//     RB_PARALLEL_EPS, b the cosine between them) use the overlap rule of rb_capsule_capsule.
//
// Box–box (rb_box_box) reports the corners of one box against the reference face of the other
// (chosen by the separating-axis test over face normals); edge–edge contacts are not detected
// yet (see there).
#ifndef DP_RB_COLLIDE_KERN_H
#define DP_RB_COLLIDE_KERN_H

#include "core_kern.h"
#include "phys_contact_kern.h"
#include "rb_spatial_kern.h"

// Capsule axes count as parallel when 1 − b² = |u1 × u2|² is at most this (an angle of 1e-5
// rad): below it the segment–segment solution (b f − c)/(1 − b²) loses every digit.
#define RB_PARALLEL_EPS 1e-10

// Column k of a row-major 3x3 rotation matrix: the body axis k in world coordinates.
DP_HD static inline void rbc_axis(double *DP_RESTRICT u, const double *R, int k) {
  u[0] = R[k];
  u[1] = R[3 + k];
  u[2] = R[6 + k];
}

// Clamp x to [lo, hi] (lo <= hi); *side receives 0 inside, +1 at hi, −1 at lo. Equality takes
// the upper bound (so lo = hi gives hi).
DP_HD static inline double rbc_clamp(double x, double lo, double hi, int *side) {
  if (x >= hi) {
    *side = 1;
    return hi;
  }
  if (x <= lo) {
    *side = -1;
    return lo;
  }
  *side = 0;
  return x;
}

// ---- sphere–sphere --------------------------------------------------------------------------

// Contact between sphere A (centre c1 (3), radius r1) and sphere B (c2, r2), m. One contact:
//   d = c2 − c1,  n = d / |d|,  φ = |d| − r1 − r2,  pt = (c1 + c2)/2 + (r1 − r2)/2 n
// (pt is the midpoint of c1 + r1 n and c2 − r2 n). Coincident centres (|d| = 0): n = +z,
// φ = −r1 − r2. Returns 1.
DP_HD static inline int rb_sphere_sphere(double *DP_RESTRICT pt, double *DP_RESTRICT nrm,
                                         double *DP_RESTRICT phi, const double *c1, double r1,
                                         const double *c2, double r2) {
  double d[3] = {c2[0] - c1[0], c2[1] - c1[1], c2[2] - c1[2]};
  double l = dp_norm3(d);
  if (l > 0) {
    nrm[0] = d[0] / l;
    nrm[1] = d[1] / l;
    nrm[2] = d[2] / l;
  } else {
    nrm[0] = 0.0;
    nrm[1] = 0.0;
    nrm[2] = 1.0;
  }
  phi[0] = l - r1 - r2;
  for (int i = 0; i < 3; i++) {
    pt[i] = 0.5 * (c1[i] + c2[i]) + 0.5 * (r1 - r2) * nrm[i];
  }
  return 1;
}

// Adjoint of rb_sphere_sphere: accumulates c1_bar, c2_bar (3), r1_bar, r2_bar. With n = d/|d|,
// ∂n/∂d = (I − n nᵀ)/|d|. At coincident centres the +z normal is a constant, so only φ and pt
// pass gradient to the centres (the one-sided derivatives of n do not exist there).
DP_HD static inline void adj_rb_sphere_sphere(const double *c1, double r1, const double *c2,
                                              double r2, double *c1_bar, double *r1_bar,
                                              double *c2_bar, double *r2_bar, const double *pt_bar,
                                              const double *nrm_bar, const double *phi_bar) {
  double d[3] = {c2[0] - c1[0], c2[1] - c1[1], c2[2] - c1[2]};
  double l = dp_norm3(d);
  double n[3] = {0.0, 0.0, 1.0};
  if (l > 0) {
    n[0] = d[0] / l;
    n[1] = d[1] / l;
    n[2] = d[2] / l;
  }
  double nb[3];
  for (int i = 0; i < 3; i++) {
    nb[i] = nrm_bar[i] + 0.5 * (r1 - r2) * pt_bar[i];
    c1_bar[i] += 0.5 * pt_bar[i];
    c2_bar[i] += 0.5 * pt_bar[i];
  }
  double npb = dp_dot3(n, pt_bar);
  *r1_bar += 0.5 * npb - phi_bar[0];
  *r2_bar += -0.5 * npb - phi_bar[0];
  if (l > 0) {
    double nnb = dp_dot3(n, nb);
    for (int i = 0; i < 3; i++) {
      double db = phi_bar[0] * n[i] + (nb[i] - n[i] * nnb) / l;
      c2_bar[i] += db;
      c1_bar[i] -= db;
    }
  }
}

// ---- sphere–plane ---------------------------------------------------------------------------

// Contact between plane A (point o (3), unit normal n (3)) and sphere B (centre c (3), radius
// r), m. One contact, smooth everywhere:
//   δ = n·(c − o),  φ = δ − r,  normal n,  pt = c − (δ + r)/2 n
// (the midpoint of the sphere's lowest point c − r n and the plane point c − δ n). Returns 1.
DP_HD static inline int rb_sphere_plane(double *DP_RESTRICT pt, double *DP_RESTRICT nrm,
                                        double *DP_RESTRICT phi, const double *o, const double *n,
                                        const double *c, double r) {
  double w[3] = {c[0] - o[0], c[1] - o[1], c[2] - o[2]};
  double dl = dp_dot3(n, w);
  phi[0] = dl - r;
  for (int i = 0; i < 3; i++) {
    nrm[i] = n[i];
    pt[i] = c[i] - 0.5 * (dl + r) * n[i];
  }
  return 1;
}

// Adjoint of rb_sphere_plane: accumulates o_bar, n_bar (3, each may be NULL), c_bar (3) and
// r_bar (may be NULL: a box corner has r = 0 as a constant). n_bar is the derivative with respect
// to n as given (no renormalization).
DP_HD static inline void adj_rb_sphere_plane(const double *o, const double *n, const double *c,
                                             double r, double *o_bar, double *n_bar, double *c_bar,
                                             double *r_bar, const double *pt_bar,
                                             const double *nrm_bar, const double *phi_bar) {
  double w[3] = {c[0] - o[0], c[1] - o[1], c[2] - o[2]};
  double dl = dp_dot3(n, w);
  double npb = dp_dot3(n, pt_bar);
  double dl_bar = phi_bar[0] - 0.5 * npb;
  if (r_bar) {
    *r_bar += -phi_bar[0] - 0.5 * npb;
  }
  for (int i = 0; i < 3; i++) {
    c_bar[i] += pt_bar[i] + dl_bar * n[i];
    if (o_bar) {
      o_bar[i] -= dl_bar * n[i];
    }
    if (n_bar) {
      n_bar[i] += nrm_bar[i] + dl_bar * w[i] - 0.5 * (dl + r) * pt_bar[i];
    }
  }
}

// ---- capsule–plane --------------------------------------------------------------------------

// Contact between plane A (o, n) and capsule B (pose p, R; radius r, half-length h), m. Two
// contacts, always: the end-cap spheres at p − h u (k = 0) and p + h u (k = 1), u = R e_z, each
// as rb_sphere_plane. Smooth everywhere; a capsule lying flat gets both, one standing up gets a
// far second contact whose penalty vanishes. h = 0 reports the same contact twice (a consumer
// that sums penalties should halve them, or use rb_sphere_plane). Returns 2.
DP_HD static inline int rb_capsule_plane(double *DP_RESTRICT pt, double *DP_RESTRICT nrm,
                                         double *DP_RESTRICT phi, const double *o, const double *n,
                                         const double *p, const double *R, double r, double h) {
  double u[3];
  rbc_axis(u, R, 2);
  for (int k = 0; k < 2; k++) {
    double sg = k == 0 ? -1.0 : 1.0;
    double c[3] = {p[0] + sg * h * u[0], p[1] + sg * h * u[1], p[2] + sg * h * u[2]};
    rb_sphere_plane(pt + 3 * k, nrm + 3 * k, phi + k, o, n, c, r);
  }
  return 2;
}

// Adjoint of rb_capsule_plane: accumulates o_bar, n_bar (3, may be NULL), p_bar (3), R_bar (9),
// r_bar and h_bar.
DP_HD static inline void adj_rb_capsule_plane(const double *o, const double *n, const double *p,
                                              const double *R, double r, double h, double *o_bar,
                                              double *n_bar, double *p_bar, double *R_bar,
                                              double *r_bar, double *h_bar, const double *pt_bar,
                                              const double *nrm_bar, const double *phi_bar) {
  double u[3];
  rbc_axis(u, R, 2);
  for (int k = 0; k < 2; k++) {
    double sg = k == 0 ? -1.0 : 1.0;
    double c[3] = {p[0] + sg * h * u[0], p[1] + sg * h * u[1], p[2] + sg * h * u[2]};
    double cb[3] = {0.0, 0.0, 0.0};
    adj_rb_sphere_plane(o, n, c, r, o_bar, n_bar, cb, r_bar, pt_bar + 3 * k, nrm_bar + 3 * k,
                        phi_bar + k);
    // c = p + sg h u
    *h_bar += sg * dp_dot3(u, cb);
    for (int i = 0; i < 3; i++) {
      p_bar[i] += cb[i];
      R_bar[3 * i + 2] += sg * h * cb[i];
    }
  }
}

// ---- box–plane ------------------------------------------------------------------------------

// Corner k (0..7) of a box in body coordinates: bit j of k set means +he[j], clear −he[j].
DP_HD static inline void rbc_box_corner(double *DP_RESTRICT l, const double *he, int k) {
  for (int j = 0; j < 3; j++) {
    l[j] = ((k >> j) & 1) ? he[j] : -he[j];
  }
}

// Contact between plane A (o, n) and box B (pose p, R; half extents he (3)), m. Eight contacts,
// always: corner k (bits as rbc_box_corner) at x_k = p + R l_k, each as rb_sphere_plane with
// radius 0: φ_k = n·(x_k − o), pt_k = x_k − φ_k/2 n. Smooth everywhere (no corner is selected;
// far corners keep their positive φ). Returns 8.
DP_HD static inline int rb_box_plane(double *DP_RESTRICT pt, double *DP_RESTRICT nrm,
                                     double *DP_RESTRICT phi, const double *o, const double *n,
                                     const double *p, const double *R, const double *he) {
  for (int k = 0; k < 8; k++) {
    double l[3], x[3];
    rbc_box_corner(l, he, k);
    for (int i = 0; i < 3; i++) {
      x[i] = p[i] + R[3 * i] * l[0] + R[3 * i + 1] * l[1] + R[3 * i + 2] * l[2];
    }
    rb_sphere_plane(pt + 3 * k, nrm + 3 * k, phi + k, o, n, x, 0.0);
  }
  return 8;
}

// Adjoint of rb_box_plane: accumulates o_bar, n_bar (3, may be NULL), p_bar (3), R_bar (9) and
// he_bar (3).
DP_HD static inline void adj_rb_box_plane(const double *o, const double *n, const double *p,
                                          const double *R, const double *he, double *o_bar,
                                          double *n_bar, double *p_bar, double *R_bar,
                                          double *he_bar, const double *pt_bar,
                                          const double *nrm_bar, const double *phi_bar) {
  for (int k = 0; k < 8; k++) {
    double l[3], x[3], xb[3] = {0.0, 0.0, 0.0};
    rbc_box_corner(l, he, k);
    for (int i = 0; i < 3; i++) {
      x[i] = p[i] + R[3 * i] * l[0] + R[3 * i + 1] * l[1] + R[3 * i + 2] * l[2];
    }
    adj_rb_sphere_plane(o, n, x, 0.0, o_bar, n_bar, xb, NULL, pt_bar + 3 * k, nrm_bar + 3 * k,
                        phi_bar + k);
    // x = p + R l, l_j = ±he_j
    for (int i = 0; i < 3; i++) {
      p_bar[i] += xb[i];
      for (int j = 0; j < 3; j++) {
        R_bar[3 * i + j] += xb[i] * l[j];
      }
    }
    for (int j = 0; j < 3; j++) {
      double lb = R[j] * xb[0] + R[3 + j] * xb[1] + R[6 + j] * xb[2];  // (Rᵀ x_bar)_j
      he_bar[j] += ((k >> j) & 1) ? lb : -lb;
    }
  }
}

// ---- sphere–capsule -------------------------------------------------------------------------

// Contact between sphere A (centre c1, radius r1) and capsule B (pose p2, R2; radius r2,
// half-length h2), m. The closest point of B's segment to c1 (Ericson §5.1.2) in the centred
// parametrization q = p2 + t u, u = R2 e_z:
//   t = clamp(u·(c1 − p2), −h2, h2)
// then rb_sphere_sphere(c1, r1, q, r2). The clamp at equality takes the upper end; h2 = 0 gives
// q = p2 (a sphere). Returns 1.
DP_HD static inline int rb_sphere_capsule(double *DP_RESTRICT pt, double *DP_RESTRICT nrm,
                                          double *DP_RESTRICT phi, const double *c1, double r1,
                                          const double *p2, const double *R2, double r2,
                                          double h2) {
  double u[3], w[3] = {c1[0] - p2[0], c1[1] - p2[1], c1[2] - p2[2]};
  rbc_axis(u, R2, 2);
  int side;
  double t = rbc_clamp(dp_dot3(u, w), -h2, h2, &side);
  double q[3] = {p2[0] + t * u[0], p2[1] + t * u[1], p2[2] + t * u[2]};
  return rb_sphere_sphere(pt, nrm, phi, c1, r1, q, r2);
}

// Adjoint of rb_sphere_capsule: accumulates c1_bar (3), r1_bar, p2_bar (3), R2_bar (9), r2_bar,
// h2_bar. A clamped t passes its adjoint to h2 (±), an interior one to u·(c1 − p2).
DP_HD static inline void adj_rb_sphere_capsule(const double *c1, double r1, const double *p2,
                                               const double *R2, double r2, double h2,
                                               double *c1_bar, double *r1_bar, double *p2_bar,
                                               double *R2_bar, double *r2_bar, double *h2_bar,
                                               const double *pt_bar, const double *nrm_bar,
                                               const double *phi_bar) {
  double u[3], w[3] = {c1[0] - p2[0], c1[1] - p2[1], c1[2] - p2[2]};
  rbc_axis(u, R2, 2);
  int side;
  double t = rbc_clamp(dp_dot3(u, w), -h2, h2, &side);
  double q[3] = {p2[0] + t * u[0], p2[1] + t * u[1], p2[2] + t * u[2]};
  double qb[3] = {0.0, 0.0, 0.0};
  adj_rb_sphere_sphere(c1, r1, q, r2, c1_bar, r1_bar, qb, r2_bar, pt_bar, nrm_bar, phi_bar);
  // q = p2 + t u
  double tb = dp_dot3(u, qb);
  double ub[3] = {t * qb[0], t * qb[1], t * qb[2]};
  if (side == 0) {
    // t = u·w, w = c1 − p2
    for (int i = 0; i < 3; i++) {
      ub[i] += tb * w[i];
      c1_bar[i] += tb * u[i];
      p2_bar[i] -= tb * u[i];
    }
  } else {
    *h2_bar += side * tb;
  }
  for (int i = 0; i < 3; i++) {
    p2_bar[i] += qb[i];
    R2_bar[3 * i + 2] += ub[i];
  }
}

// ---- capsule–capsule ------------------------------------------------------------------------

// Closest-point parameters of two segments p1 + s u1, s ∈ [−h1, h1] and p2 + t u2,
// t ∈ [−h2, h2] with unit axes, from b = u1·u2, c = u1·(p1 − p2), f = u2·(p1 − p2). Ericson's
// clamped solution (§5.1.9, ClosestPtSegmentSegment, with a = e = 1 and centred parameters):
//   s = clamp((b f − c)/(1 − b²), ±h1)   (s = 0, the centre, when 1 − b² <= RB_PARALLEL_EPS)
//   t = b s + f; if t leaves [−h2, h2]: t = clamp(t), s = clamp(b t − c, ±h1)
// side[0..2] record the clamps taken (s, t, the recomputed s; 0 interior, ±1 at ±h).
DP_HD static inline void rbc_segments(double *s, double *t, int *side, double b, double c,
                                      double f, double h1, double h2) {
  double den = 1.0 - b * b;
  double s0 = den > RB_PARALLEL_EPS ? (b * f - c) / den : 0.0;
  *s = rbc_clamp(s0, -h1, h1, &side[0]);
  *t = rbc_clamp(b * *s + f, -h2, h2, &side[1]);
  side[2] = 0;
  if (side[1] != 0) {
    *s = rbc_clamp(b * *t - c, -h1, h1, &side[2]);
  }
}

// Adjoint of rbc_segments: accumulates b_bar, c_bar, f_bar, h1_bar, h2_bar from s_bar, t_bar,
// differentiating the clamps recorded in side.
DP_HD static inline void adj_rbc_segments(double b, double c, double f, double h1, double h2,
                                          double *b_bar, double *c_bar, double *f_bar,
                                          double *h1_bar, double *h2_bar, double s_bar,
                                          double t_bar) {
  double s, t;
  int side[3];
  rbc_segments(&s, &t, side, b, c, f, h1, h2);
  if (side[1] != 0) {
    // s = clamp(b t − c), t = ±h2; the first s does not reach the outputs
    if (side[2] == 0) {
      *b_bar += s_bar * t;
      t_bar += s_bar * b;
      *c_bar -= s_bar;
    } else {
      *h1_bar += side[2] * s_bar;
    }
    *h2_bar += side[1] * t_bar;
    return;
  }
  // t = b s1 + f, s = s1
  double s1 = s, s1_bar = s_bar + t_bar * b;
  *b_bar += t_bar * s1;
  *f_bar += t_bar;
  if (side[0] != 0) {
    *h1_bar += side[0] * s1_bar;
    return;
  }
  double den = 1.0 - b * b;
  if (den > RB_PARALLEL_EPS) {
    // s1 = (b f − c)/den: ∂/∂b = (f + 2 b s1)/den, ∂/∂f = b/den, ∂/∂c = −1/den
    *b_bar += s1_bar * (f + 2.0 * b * s1) / den;
    *f_bar += s1_bar * b / den;
    *c_bar -= s1_bar / den;
  }
}

// Parameters of the two contacts of parallel segments (1 − b² <= RB_PARALLEL_EPS): the ends
// s_lo, s_hi of the overlap of [−h1, h1] with segment 2 projected on line 1 (s = b t − c for
// t = ±h2), and t_k = clamp(b s_k + f, ±h2) opposite each. Returns 0 when the projections do
// not overlap (the segments are end to end); then the single-contact rule applies. side[0..3]:
// which bound gave s_lo and s_hi (0 segment 2's projection, ±1 segment 1's end), and the clamps
// of t_0, t_1.
DP_HD static inline int rbc_segments_parallel(double *s, double *t, int *side, double b, double c,
                                              double f, double h1, double h2) {
  double sg = b >= 0 ? 1.0 : -1.0;
  double lo2 = -sg * b * h2 - c, hi2 = sg * b * h2 - c;
  side[0] = lo2 > -h1 ? 0 : -1;
  side[1] = hi2 < h1 ? 0 : 1;
  s[0] = side[0] == 0 ? lo2 : -h1;
  s[1] = side[1] == 0 ? hi2 : h1;
  if (s[0] > s[1]) {
    return 0;
  }
  for (int k = 0; k < 2; k++) {
    t[k] = rbc_clamp(b * s[k] + f, -h2, h2, &side[2 + k]);
  }
  return 1;
}

// Adjoint of rbc_segments_parallel (for an overlap): accumulates b_bar, c_bar, f_bar, h1_bar,
// h2_bar from s_bar (2), t_bar (2).
DP_HD static inline void adj_rbc_segments_parallel(double b, double c, double f, double h1,
                                                   double h2, double *b_bar, double *c_bar,
                                                   double *f_bar, double *h1_bar, double *h2_bar,
                                                   const double *s_bar, const double *t_bar) {
  double s[2] = {0, 0}, t[2] = {0, 0};
  int side[4] = {0, 0, 0, 0};  // (initialized for the compiler: called only on an overlap)
  rbc_segments_parallel(s, t, side, b, c, f, h1, h2);
  double sg = b >= 0 ? 1.0 : -1.0;
  double sb[2] = {s_bar[0], s_bar[1]};
  for (int k = 0; k < 2; k++) {
    if (side[2 + k] == 0) {
      *b_bar += t_bar[k] * s[k];
      sb[k] += t_bar[k] * b;
      *f_bar += t_bar[k];
    } else {
      *h2_bar += side[2 + k] * t_bar[k];
    }
  }
  // s_lo = −sg b h2 − c or −h1; s_hi = sg b h2 − c or h1
  for (int k = 0; k < 2; k++) {
    double sk = k == 0 ? -1.0 : 1.0;
    if (side[k] == 0) {
      *b_bar += sk * sg * h2 * sb[k];
      *h2_bar += sk * sg * b * sb[k];
      *c_bar -= sb[k];
    } else {
      *h1_bar += sk * sb[k];
    }
  }
}

// Contact between capsule A (pose p1, R1; radius r1, half-length h1) and capsule B (p2, R2;
// r2, h2), m. The closest points q1 = p1 + s u1, q2 = p2 + t u2 of the axes (rbc_segments) give
// one contact rb_sphere_sphere(q1, r1, q2, r2). When the axes are parallel (1 − b² <=
// RB_PARALLEL_EPS) and their projections overlap, two contacts at the ends of the overlap
// (rbc_segments_parallel), so a capsule lying on another is supported along its length; parallel
// but end to end, the single contact with s = 0 first. The contact count switches there (a
// documented discontinuity of the contact set; φ itself is continuous). Coincident closest points
// take the normal +z. Returns 1 or 2.
DP_HD static inline int rb_capsule_capsule(double *DP_RESTRICT pt, double *DP_RESTRICT nrm,
                                           double *DP_RESTRICT phi, const double *p1,
                                           const double *R1, double r1, double h1,
                                           const double *p2, const double *R2, double r2,
                                           double h2) {
  double u1[3], u2[3], w[3] = {p1[0] - p2[0], p1[1] - p2[1], p1[2] - p2[2]};
  rbc_axis(u1, R1, 2);
  rbc_axis(u2, R2, 2);
  double b = dp_dot3(u1, u2), c = dp_dot3(u1, w), f = dp_dot3(u2, w);
  double s[2], t[2];
  int side[4], count = 1;
  if (1.0 - b * b <= RB_PARALLEL_EPS && rbc_segments_parallel(s, t, side, b, c, f, h1, h2)) {
    count = 2;
  } else {
    rbc_segments(&s[0], &t[0], side, b, c, f, h1, h2);
  }
  for (int k = 0; k < count; k++) {
    double q1[3], q2[3];
    for (int i = 0; i < 3; i++) {
      q1[i] = p1[i] + s[k] * u1[i];
      q2[i] = p2[i] + t[k] * u2[i];
    }
    rb_sphere_sphere(pt + 3 * k, nrm + 3 * k, phi + k, q1, r1, q2, r2);
  }
  return count;
}

// Adjoint of rb_capsule_capsule: accumulates p1_bar (3), R1_bar (9), r1_bar, h1_bar, p2_bar,
// R2_bar, r2_bar, h2_bar, reading as many contacts as the forward pass wrote.
DP_HD static inline void adj_rb_capsule_capsule(
    const double *p1, const double *R1, double r1, double h1, const double *p2, const double *R2,
    double r2, double h2, double *p1_bar, double *R1_bar, double *r1_bar, double *h1_bar,
    double *p2_bar, double *R2_bar, double *r2_bar, double *h2_bar, const double *pt_bar,
    const double *nrm_bar, const double *phi_bar) {
  double u1[3], u2[3], w[3] = {p1[0] - p2[0], p1[1] - p2[1], p1[2] - p2[2]};
  rbc_axis(u1, R1, 2);
  rbc_axis(u2, R2, 2);
  double b = dp_dot3(u1, u2), c = dp_dot3(u1, w), f = dp_dot3(u2, w);
  double s[2], t[2];
  int side[4], count = 1;
  if (1.0 - b * b <= RB_PARALLEL_EPS && rbc_segments_parallel(s, t, side, b, c, f, h1, h2)) {
    count = 2;
  } else {
    rbc_segments(&s[0], &t[0], side, b, c, f, h1, h2);
  }
  double u1b[3] = {0.0, 0.0, 0.0}, u2b[3] = {0.0, 0.0, 0.0}, wb[3] = {0.0, 0.0, 0.0};
  double sb[2] = {0.0, 0.0}, tb[2] = {0.0, 0.0};
  for (int k = 0; k < count; k++) {
    double q1[3], q2[3], q1b[3] = {0.0, 0.0, 0.0}, q2b[3] = {0.0, 0.0, 0.0};
    for (int i = 0; i < 3; i++) {
      q1[i] = p1[i] + s[k] * u1[i];
      q2[i] = p2[i] + t[k] * u2[i];
    }
    adj_rb_sphere_sphere(q1, r1, q2, r2, q1b, r1_bar, q2b, r2_bar, pt_bar + 3 * k,
                         nrm_bar + 3 * k, phi_bar + k);
    // q1 = p1 + s u1, q2 = p2 + t u2
    sb[k] = dp_dot3(u1, q1b);
    tb[k] = dp_dot3(u2, q2b);
    for (int i = 0; i < 3; i++) {
      p1_bar[i] += q1b[i];
      p2_bar[i] += q2b[i];
      u1b[i] += s[k] * q1b[i];
      u2b[i] += t[k] * q2b[i];
    }
  }
  double bb = 0.0, cb = 0.0, fb = 0.0;
  if (count == 2) {
    adj_rbc_segments_parallel(b, c, f, h1, h2, &bb, &cb, &fb, h1_bar, h2_bar, sb, tb);
  } else {
    adj_rbc_segments(b, c, f, h1, h2, &bb, &cb, &fb, h1_bar, h2_bar, sb[0], tb[0]);
  }
  // b = u1·u2, c = u1·w, f = u2·w, w = p1 − p2
  for (int i = 0; i < 3; i++) {
    u1b[i] += bb * u2[i] + cb * w[i];
    u2b[i] += bb * u1[i] + fb * w[i];
    wb[i] = cb * u1[i] + fb * u2[i];
    p1_bar[i] += wb[i];
    p2_bar[i] -= wb[i];
    R1_bar[3 * i + 2] += u1b[i];
    R2_bar[3 * i + 2] += u2b[i];
  }
}

// ---- sphere–box -----------------------------------------------------------------------------

// Contact between sphere A (centre c1, radius r1) and box B (pose p2, R2; half extents he2 (3)),
// m. In box coordinates x = R2ᵀ(c1 − p2), the exact box signed distance s and outward normal m
// of collider_sdf (phys_contact_kern.h; Ericson §5.1.4 outside: the clamped closest point; inside:
// the nearest face, ties to the lowest axis). In world coordinates, with M = R2 m:
//   normal −M (from the sphere into the box),  φ = s − r1,  pt = c1 − (s + r1)/2 M
// (the midpoint of the sphere point c1 − r1 M and the box point c1 − s M). A centre exactly at
// the box centre takes the x face. Returns 1.
DP_HD static inline int rb_sphere_box(double *DP_RESTRICT pt, double *DP_RESTRICT nrm,
                                      double *DP_RESTRICT phi, const double *c1, double r1,
                                      const double *p2, const double *R2, const double *he2) {
  double g[6] = {0.0, 0.0, 0.0, he2[0], he2[1], he2[2]}, w[3], x[3], m[3];
  for (int i = 0; i < 3; i++) {
    w[i] = c1[i] - p2[i];
  }
  for (int j = 0; j < 3; j++) {
    x[j] = R2[j] * w[0] + R2[3 + j] * w[1] + R2[6 + j] * w[2];
  }
  double s = collider_sdf(m, 1, g, x);
  phi[0] = s - r1;
  for (int i = 0; i < 3; i++) {
    double M = R2[3 * i] * m[0] + R2[3 * i + 1] * m[1] + R2[3 * i + 2] * m[2];
    nrm[i] = -M;
    pt[i] = c1[i] - 0.5 * (s + r1) * M;
  }
  return 1;
}

// Adjoint of rb_sphere_box: accumulates c1_bar (3), r1_bar, p2_bar (3), R2_bar (9), he2_bar (3),
// through adj_collider_sdf (its Hessian outside an edge or corner, zero on a face's interior
// side).
DP_HD static inline void adj_rb_sphere_box(const double *c1, double r1, const double *p2,
                                           const double *R2, const double *he2, double *c1_bar,
                                           double *r1_bar, double *p2_bar, double *R2_bar,
                                           double *he2_bar, const double *pt_bar,
                                           const double *nrm_bar, const double *phi_bar) {
  double g[6] = {0.0, 0.0, 0.0, he2[0], he2[1], he2[2]}, w[3], x[3], m[3];
  for (int i = 0; i < 3; i++) {
    w[i] = c1[i] - p2[i];
  }
  for (int j = 0; j < 3; j++) {
    x[j] = R2[j] * w[0] + R2[3 + j] * w[1] + R2[6 + j] * w[2];
  }
  double s = collider_sdf(m, 1, g, x);
  double M[3], Mb[3];
  for (int i = 0; i < 3; i++) {
    M[i] = R2[3 * i] * m[0] + R2[3 * i + 1] * m[1] + R2[3 * i + 2] * m[2];
  }
  // nrm = −M, φ = s − r1, pt = c1 − (s + r1)/2 M
  double mpb = dp_dot3(M, pt_bar);
  double s_bar = phi_bar[0] - 0.5 * mpb;
  *r1_bar += -phi_bar[0] - 0.5 * mpb;
  for (int i = 0; i < 3; i++) {
    c1_bar[i] += pt_bar[i];
    Mb[i] = -nrm_bar[i] - 0.5 * (s + r1) * pt_bar[i];
  }
  // M = R2 m
  double mb[3], xb[3] = {0.0, 0.0, 0.0}, gb[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  for (int j = 0; j < 3; j++) {
    mb[j] = R2[j] * Mb[0] + R2[3 + j] * Mb[1] + R2[6 + j] * Mb[2];
    for (int i = 0; i < 3; i++) {
      R2_bar[3 * i + j] += Mb[i] * m[j];
    }
  }
  adj_collider_sdf(1, g, x, xb, gb, s_bar, mb);
  // x = R2ᵀ w, w = c1 − p2
  for (int i = 0; i < 3; i++) {
    double wb = R2[3 * i] * xb[0] + R2[3 * i + 1] * xb[1] + R2[3 * i + 2] * xb[2];
    c1_bar[i] += wb;
    p2_bar[i] -= wb;
    for (int j = 0; j < 3; j++) {
      R2_bar[3 * i + j] += w[i] * xb[j];
    }
    he2_bar[i] += gb[3 + i];
  }
}

// ---- box–box (vertex–face) ------------------------------------------------------------------

// Corner k of a box at pose (p, R): x = p + R l_k (bits as rbc_box_corner).
DP_HD static inline void rbc_box_corner_world(double *DP_RESTRICT x, const double *p,
                                              const double *R, const double *he, int k) {
  double l[3];
  rbc_box_corner(l, he, k);
  for (int i = 0; i < 3; i++) {
    x[i] = p[i] + R[3 * i] * l[0] + R[3 * i + 1] * l[1] + R[3 * i + 2] * l[2];
  }
}

// Adjoint of rbc_box_corner_world: accumulates p_bar (3), R_bar (9), he_bar (3) from x_bar.
DP_HD static inline void adj_rbc_box_corner_world(const double *R, const double *he, int k,
                                                  double *p_bar, double *R_bar, double *he_bar,
                                                  const double *x_bar) {
  double l[3];
  rbc_box_corner(l, he, k);
  for (int i = 0; i < 3; i++) {
    p_bar[i] += x_bar[i];
    for (int j = 0; j < 3; j++) {
      R_bar[3 * i + j] += x_bar[i] * l[j];
    }
  }
  for (int j = 0; j < 3; j++) {
    double lb = R[j] * x_bar[0] + R[3 + j] * x_bar[1] + R[6 + j] * x_bar[2];  // (Rᵀ x_bar)_j
    he_bar[j] += ((k >> j) & 1) ? lb : -lb;
  }
}

// The reference face of a box pair by the separating-axis test over the six face normals
// (Ericson §4.4.1; Gottschalk's OBB test): for axis a = R e_j of either box, with d = p2 − p1,
// the separation |d·a| − r_A(a) − r_B(a) (r the box's projected radius); the axis of largest
// separation (least penetration) is the contact normal, except in a tie (below). ref: 0
// face of A, 1 face of B; j the axis; sg = ±1 so that sg R e_j points from the reference box
// towards the other.
DP_HD static inline void rbc_box_box_axis(const double *p1, const double *R1, const double *he1,
                                          const double *p2, const double *R2, const double *he2,
                                          int *ref, int *j, double *sg) {
  double d[3] = {p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]};
  double best[2] = {-INFINITY, -INFINITY}, sgn[2] = {1.0, 1.0};
  int bj[2] = {0, 0};
  for (int b = 0; b < 2; b++) {
    const double *R = b == 0 ? R1 : R2, *Ro = b == 0 ? R2 : R1;
    const double *he = b == 0 ? he1 : he2, *ho = b == 0 ? he2 : he1;
    for (int k = 0; k < 3; k++) {
      double a[3], u[3], ro = 0.0;
      rbc_axis(a, R, k);
      for (int l = 0; l < 3; l++) {
        rbc_axis(u, Ro, l);
        ro += ho[l] * fabs(dp_dot3(a, u));
      }
      double da = dp_dot3(d, a);
      double sep = fabs(da) - he[k] - ro;
      if (sep > best[b]) {
        best[b] = sep;
        bj[b] = k;
        // towards the other box: +d for A's faces, −d for B's
        sgn[b] = (b == 0 ? da : -da) >= 0 ? 1.0 : -1.0;
      }
    }
  }
  // Within a band of 2 % of the smallest half extent the two boxes' best separations count as
  // a tie (parallel faces touching, as in a stack), and the face of B is the reference only when
  // it is more than 1 % larger in area than A's, so that the smaller box's corners fall inside
  // its outline; outside the band the least penetrating axis wins.
  double hmin = fmin(fmin(fmin(he1[0], he1[1]), fmin(he1[2], he2[0])), fmin(he2[1], he2[2]));
  double band = 0.02 * hmin;
  if (fabs(best[1] - best[0]) <= band) {
    double a1 = he1[(bj[0] + 1) % 3] * he1[(bj[0] + 2) % 3];
    double a2 = he2[(bj[1] + 1) % 3] * he2[(bj[1] + 2) % 3];
    *ref = a2 > 1.01 * a1 ? 1 : 0;  // equal faces (within 1 %) keep A: no switch at equality
  } else {
    *ref = best[1] > best[0] ? 1 : 0;
  }
  *j = bj[*ref];
  *sg = sgn[*ref];
}

// Contacts between box A (pose p1, R1; half extents he1) and box B (p2, R2, he2), m: the
// reference face of rbc_box_box_axis and the eight corners of the other (incident) box against
// it, as in the face-contact case of ODE's dBoxBox and Box2D's reference/incident faces. With
// the reference box at (p, R, he), its face normal n = sg R e_j and a corner x of the other box
// in reference coordinates y = Rᵀ (x − p):
//   φ = sg y_j − he_j   (the corner's height above the face plane; far corners stay positive)
//   pt = p + R z,  z_j = (y_j + sg he_j)/2,  z_l = clamp(y_l, −he_l, he_l) for l ≠ j
// so the point is the midpoint between the corner and the face plane, moved onto the face's
// rectangle when the corner overhangs its edges (a box half off another is held at the edge, as
// clipping the incident face would). The normal points from A to B: n for a face of A, −n for a
// face of B. Edge–edge contacts (crossed edges, the SAT's nine cross-product axes) are not
// detected: two boxes meeting edge on edge are held by the face axis of least penetration
// instead. The reference face switches where two axes' separations cross (a documented
// discontinuity of the contact set; the adjoint differentiates the face taken). Returns 8.
DP_HD static inline int rb_box_box(double *DP_RESTRICT pt, double *DP_RESTRICT nrm,
                                   double *DP_RESTRICT phi, const double *p1, const double *R1,
                                   const double *he1, const double *p2, const double *R2,
                                   const double *he2) {
  int ref, j;
  double sg;
  rbc_box_box_axis(p1, R1, he1, p2, R2, he2, &ref, &j, &sg);
  const double *pr = ref ? p2 : p1, *Rr = ref ? R2 : R1, *hr = ref ? he2 : he1;
  const double *pi = ref ? p1 : p2, *Ri = ref ? R1 : R2, *hi = ref ? he1 : he2;
  double dir = ref ? -sg : sg;
  for (int k = 0; k < 8; k++) {
    double x[3], y[3], z[3];
    rbc_box_corner_world(x, pi, Ri, hi, k);
    double w[3] = {x[0] - pr[0], x[1] - pr[1], x[2] - pr[2]};
    rb_mat_tvec(y, Rr, w);
    phi[k] = sg * y[j] - hr[j];
    for (int l = 0; l < 3; l++) {
      int side;
      z[l] = l == j ? 0.5 * (y[j] + sg * hr[j]) : rbc_clamp(y[l], -hr[l], hr[l], &side);
    }
    rb_mat_vec(pt + 3 * k, Rr, z);
    for (int i = 0; i < 3; i++) {
      pt[3 * k + i] += pr[i];
      nrm[3 * k + i] = dir * Rr[3 * i + j];
    }
  }
  return 8;
}

// Adjoint of rb_box_box: accumulates p1_bar (3), R1_bar (9), he1_bar (3), p2_bar, R2_bar,
// he2_bar for the reference face the forward pass takes.
DP_HD static inline void adj_rb_box_box(const double *p1, const double *R1, const double *he1,
                                        const double *p2, const double *R2, const double *he2,
                                        double *p1_bar, double *R1_bar, double *he1_bar,
                                        double *p2_bar, double *R2_bar, double *he2_bar,
                                        const double *pt_bar, const double *nrm_bar,
                                        const double *phi_bar) {
  int ref, j;
  double sg;
  rbc_box_box_axis(p1, R1, he1, p2, R2, he2, &ref, &j, &sg);
  const double *pr = ref ? p2 : p1, *Rr = ref ? R2 : R1, *hr = ref ? he2 : he1;
  const double *pi = ref ? p1 : p2, *Ri = ref ? R1 : R2, *hi = ref ? he1 : he2;
  double *pr_b = ref ? p2_bar : p1_bar, *Rr_b = ref ? R2_bar : R1_bar;
  double *hr_b = ref ? he2_bar : he1_bar;
  double *pi_b = ref ? p1_bar : p2_bar, *Ri_b = ref ? R1_bar : R2_bar;
  double *hi_b = ref ? he1_bar : he2_bar;
  double dir = ref ? -sg : sg;
  for (int k = 0; k < 8; k++) {
    double x[3], y[3], z[3], zb[3], yb[3] = {0.0, 0.0, 0.0}, xb[3];
    int side[3] = {0, 0, 0};
    rbc_box_corner_world(x, pi, Ri, hi, k);
    double w[3] = {x[0] - pr[0], x[1] - pr[1], x[2] - pr[2]};
    rb_mat_tvec(y, Rr, w);
    for (int l = 0; l < 3; l++) {
      z[l] = l == j ? 0.5 * (y[j] + sg * hr[j]) : rbc_clamp(y[l], -hr[l], hr[l], &side[l]);
    }
    const double *g = pt_bar + 3 * k;
    // pt = p + R z; nrm = dir R e_j
    rb_mat_tvec(zb, Rr, g);
    for (int i = 0; i < 3; i++) {
      pr_b[i] += g[i];
      for (int l = 0; l < 3; l++) {
        Rr_b[3 * i + l] += g[i] * z[l];
      }
      Rr_b[3 * i + j] += dir * nrm_bar[3 * k + i];
    }
    // φ = sg y_j − he_j; z_j = (y_j + sg he_j)/2; z_l = clamp(y_l, ±he_l)
    yb[j] += sg * phi_bar[k] + 0.5 * zb[j];
    hr_b[j] += -phi_bar[k] + 0.5 * sg * zb[j];
    for (int l = 0; l < 3; l++) {
      if (l == j) {
        continue;
      }
      if (side[l] == 0) {
        yb[l] += zb[l];
      } else {
        hr_b[l] += side[l] * zb[l];
      }
    }
    // y = Rᵀ (x − p)
    rb_mat_vec(xb, Rr, yb);
    for (int i = 0; i < 3; i++) {
      pr_b[i] -= xb[i];
      for (int l = 0; l < 3; l++) {
        Rr_b[3 * i + l] += w[i] * yb[l];
      }
    }
    adj_rbc_box_corner_world(Ri, hi, k, pi_b, Ri_b, hi_b, xb);
  }
}

#endif
