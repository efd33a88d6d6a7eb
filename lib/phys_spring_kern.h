// Spring-damper body between two points (a particle and another particle or a fixed anchor),
// and its adjoint. The damping acts along the spring on the relative velocity.
#ifndef DP_PHYS_SPRING_KERN_H
#define DP_PHYS_SPRING_KERN_H

#include "core_kern.h"

// Below this length (m) the spring direction is undefined and the spring exerts no force.
#define DP_SPRING_MIN_LENGTH 1e-12

// Force on end a of the spring (a, b), in N; the force on b is -fa.
//   xa, xb: positions (3) in m; va, vb: velocities (3) in m/s (vb zero for an anchor)
//   k: stiffness in N/m; c: damping in N·s/m; rest: rest length in m
//   fa = (k (l - rest) + c (vb - va)·n) n,   d = xb - xa, l = |d|, n = d / l
// Source: Baraff & Witkin, "Physically Based Modeling", SIGGRAPH 2001 course notes, eq. (5.1).
DP_HD static inline void spring_force(double *DP_RESTRICT fa, const double *xa, const double *xb,
                                      const double *va, const double *vb, double k, double c,
                                      double rest) {
  double d[3] = {xb[0] - xa[0], xb[1] - xa[1], xb[2] - xa[2]};
  double l = dp_norm3(d);
  if (l < DP_SPRING_MIN_LENGTH) {
    fa[0] = fa[1] = fa[2] = 0.0;
    return;
  }
  double inv = 1.0 / l;
  double n[3] = {d[0] * inv, d[1] * inv, d[2] * inv};
  double vr[3] = {vb[0] - va[0], vb[1] - va[1], vb[2] - va[2]};
  double fs = k * (l - rest) + c * dp_dot3(vr, n);
  fa[0] = fs * n[0];
  fa[1] = fs * n[1];
  fa[2] = fs * n[2];
}

// Adjoint of spring_force with fa_bar = the adjoint of the force on a minus that on b
// (fb = -fa). Accumulates xa_bar, xb_bar, va_bar, vb_bar (3 each; xb_bar is the anchor's
// adjoint for an anchored spring, vb_bar may be NULL), k_bar, c_bar, rest_bar. Recomputes d, l,
// n (cheaper than storing them per spring and step).
DP_HD static inline void adj_spring_force(const double *xa, const double *xb, const double *va,
                                          const double *vb, double k, double c, double rest,
                                          double *xa_bar, double *xb_bar, double *va_bar,
                                          double *vb_bar, double *k_bar, double *c_bar,
                                          double *rest_bar, const double *fa_bar) {
  double d[3] = {xb[0] - xa[0], xb[1] - xa[1], xb[2] - xa[2]};
  double l = dp_norm3(d);
  if (l < DP_SPRING_MIN_LENGTH) {
    return;
  }
  double inv = 1.0 / l;
  double n[3] = {d[0] * inv, d[1] * inv, d[2] * inv};
  double vr[3] = {vb[0] - va[0], vb[1] - va[1], vb[2] - va[2]};
  double vrn = dp_dot3(vr, n);
  double fs = k * (l - rest) + c * vrn;
  double fs_bar = dp_dot3(n, fa_bar);
  *k_bar += (l - rest) * fs_bar;
  *rest_bar -= k * fs_bar;
  *c_bar += vrn * fs_bar;
  double l_bar = k * fs_bar;
  double cf = c * fs_bar;
  // n_bar = fs fa_bar + c fs_bar vr; d_bar = (n_bar - n (n·n_bar)) / l + l_bar n
  double n_bar[3] = {fs * fa_bar[0] + cf * vr[0], fs * fa_bar[1] + cf * vr[1],
                     fs * fa_bar[2] + cf * vr[2]};
  double nn = dp_dot3(n, n_bar);
  for (int i = 0; i < 3; i++) {
    double db = (n_bar[i] - n[i] * nn) * inv + l_bar * n[i];
    xb_bar[i] += db;
    xa_bar[i] -= db;
    double vrb = cf * n[i];
    if (vb_bar != NULL) {
      vb_bar[i] += vrb;
    }
    va_bar[i] -= vrb;
  }
}

#endif
