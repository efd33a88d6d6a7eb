// Per-particle force body: gravity, constant external force, control force and drag; the
// adjoint follows. Drag: linear -b1 v (Stokes) and quadratic -b2 |v| v (Newton, b2 = ½ρC_dA).
#ifndef DP_PHYS_PARTICLE_KERN_H
#define DP_PHYS_PARTICLE_KERN_H

#include "core_kern.h"

// Force on one particle, written (not accumulated) to f (3), N.
//   m: mass, kg; g: gravity (3), m/s²; fext: constant force (3), N; u: control force (3), N, or
//   NULL; b1: linear drag, N·s/m; b2: quadratic drag, N·s²/m²; v: velocity (3), m/s.
// Source: drag laws as in Taylor, "Classical Mechanics" (2005), §2.1.
DP_HD static inline void particle_force(double *DP_RESTRICT f, double m, const double *g,
                                        const double *fext, const double *u, double b1,
                                        double b2, const double *v) {
  double speed = dp_norm3(v);
  for (int c = 0; c < 3; c++) {
    f[c] = m * g[c] + fext[c] - b1 * v[c] - b2 * speed * v[c] + (u != NULL ? u[c] : 0.0);
  }
}

// Adjoint of particle_force: accumulates m_bar, g_bar (3), fext_bar (3), u_bar (3, may be NULL),
// b1_bar, b2_bar, v_bar (3) from f_bar (3). Recomputes |v| (cheap) instead of storing it.
// |v| v is C¹ with zero Jacobian at v = 0, so v = 0 needs no special case beyond 0/0.
DP_HD static inline void adj_particle_force(double m, const double *g, const double *fext,
                                            const double *u, double b1, double b2,
                                            const double *v, double *m_bar, double *g_bar,
                                            double *fext_bar, double *u_bar, double *b1_bar,
                                            double *b2_bar, double *v_bar, const double *f_bar) {
  (void)fext;
  (void)u;
  double speed = dp_norm3(v);
  double vf = dp_dot3(v, f_bar);
  *m_bar += dp_dot3(g, f_bar);
  *b1_bar -= vf;
  *b2_bar -= speed * vf;
  double inv = speed > 0 ? 1.0 / speed : 0.0;
  for (int c = 0; c < 3; c++) {
    g_bar[c] += m * f_bar[c];
    fext_bar[c] += f_bar[c];
    if (u_bar != NULL) {
      u_bar[c] += f_bar[c];
    }
    v_bar[c] -= b1 * f_bar[c] + b2 * (speed * f_bar[c] + v[c] * vf * inv);
  }
}

#endif
