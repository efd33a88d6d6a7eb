// Per-particle update bodies of the Euler integrators (explicit and semi-implicit) and of RK4
// (stage states, the final combination, the adjoint of a stage slope), shared by the CPU loops
// in core_step.c and the CUDA kernels. Pinned particles keep their state.
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

// RK4 stage state of one particle: x_j = x + a v_{j-1}, v_j = v + a f_{j-1} / m, where a = α_j
// (0 for a pinned particle, which keeps its state in every stage). x, v, vp, fp, xj, vj: (3).
DP_HD static inline void rk4_stage(double *DP_RESTRICT xj, double *DP_RESTRICT vj, double a,
                                   double m, const double *x, const double *v, const double *vp,
                                   const double *fp) {
  double inv_m = 1.0 / m;
  for (int c = 0; c < 3; c++) {
    xj[c] = x[c] + a * vp[c];
    vj[c] = v[c] + a * fp[c] * inv_m;
  }
}

// RK4 combination for one particle: y' = y + Σ_j w_j k_j with slopes k_j = (v_j, f_j / m),
// summed j = 0..3 in order; a pinned particle keeps y. vs[j], fs[j]: this particle's stage
// velocity and force (3 each); xo, vo: (3), not aliasing the inputs.
DP_HD static inline void rk4_combine(double *DP_RESTRICT xo, double *DP_RESTRICT vo,
                                     const double *w, double m, int pinned, const double *x,
                                     const double *v, const double *const *vs,
                                     const double *const *fs) {
  for (int c = 0; c < 3; c++) {
    xo[c] = x[c];
    vo[c] = v[c];
  }
  if (pinned) {
    return;
  }
  double inv_m = 1.0 / m;
  for (int j = 0; j < 4; j++) {
    for (int c = 0; c < 3; c++) {
      xo[c] += w[j] * vs[j][c];
      vo[c] += w[j] * fs[j][c] * inv_m;
    }
  }
}

// Adjoint of the slope k = (v, f / m) of one free particle (the slope rk4_stage and rk4_combine
// use): v_bar += kx_bar, f_bar += kv_bar / m, m_bar += −(kv_bar · f) / m². f, v_bar, f_bar,
// kx_bar, kv_bar: (3).
DP_HD static inline void adj_rk4_slope(double m, const double *f, double *m_bar, double *v_bar,
                                       double *f_bar, const double *kx_bar,
                                       const double *kv_bar) {
  double mb = 0.0;
  for (int c = 0; c < 3; c++) {
    v_bar[c] += kx_bar[c];
    f_bar[c] += kv_bar[c] / m;
    mb -= kv_bar[c] * f[c];
  }
  *m_bar += mb / (m * m);
}

#endif
