// Per-particle update bodies of the Euler integrators (explicit and semi-implicit) and the RK4
// stage combination, with their adjoints. Pinned particles keep their state.
// Source: Hairer, Lubich & Wanner, "Geometric Numerical Integration" (2006), §I.1 (symplectic
// Euler) and §II.1 (Runge–Kutta).
#ifndef DP_PHYS_INTEGRATE_KERN_H
#define DP_PHYS_INTEGRATE_KERN_H

#include "core_kern.h"

// One Euler update of a particle over h (s): semi = 1 semi-implicit (v' = v + h f/m,
// x' = x + h v'), semi = 0 explicit (x' = x + h v, v' = v + h f/m). x, v, f, xo, vo: (3).
DP_HD static inline void euler_update(double *DP_RESTRICT xo, double *DP_RESTRICT vo, int semi,
                                      double h, double m, int pinned, const double *x,
                                      const double *v, const double *f) {
  for (int c = 0; c < 3; c++) {
    if (pinned) {
      xo[c] = x[c];
      vo[c] = v[c];
    } else if (semi) {
      vo[c] = v[c] + h * f[c] / m;
      xo[c] = x[c] + h * vo[c];
    } else {
      xo[c] = x[c] + h * v[c];
      vo[c] = v[c] + h * f[c] / m;
    }
  }
}

// Adjoint of euler_update: accumulates x_bar, v_bar, f_bar (3) and m_bar from xo_bar, vo_bar.
// The mass enters only through v' = v + h f/m, so ∂v'/∂m = −(v' − v)/m: the step's output
// velocity vo replaces the force, and the adjoint needs no force evaluation.
DP_HD static inline void adj_euler_update(int semi, double h, double m, int pinned,
                                          const double *v, const double *vo, double *m_bar,
                                          double *x_bar, double *v_bar, double *f_bar,
                                          const double *xo_bar, const double *vo_bar) {
  if (pinned) {
    for (int c = 0; c < 3; c++) {
      x_bar[c] += xo_bar[c];
      v_bar[c] += vo_bar[c];
    }
    return;
  }
  double mb = 0.0;
  for (int c = 0; c < 3; c++) {
    double vb = semi ? vo_bar[c] + h * xo_bar[c] : vo_bar[c];
    x_bar[c] += xo_bar[c];
    v_bar[c] += semi ? vb : vb + h * xo_bar[c];
    f_bar[c] += h * vb / m;
    mb -= vb * (vo[c] - v[c]);
  }
  *m_bar += mb / m;
}

#endif
