// Soft bodies and shells inside the step (internal): per-step element rest data from θ, the
// force stages, one substep by explicit / semi-implicit Euler or by implicit Euler (Newton with
// matrix-free PCG), and their adjoints. phys_fem.c holds the CPU loops over the kernel bodies of
// phys_fem_kern.h (tetrahedra) and phys_cloth_kern.h (membranes, hinges, aerodynamics).
#ifndef DP_PHYS_FEM_H
#define DP_PHYS_FEM_H

#include "dp/dp.h"

// Doubles of scratch (dpData.fem) that the soft bodies' step and its adjoint need.
size_t fem_scratch_size(const dpModel *m);

// Element rest data (Dm⁻¹, volumes, areas, Lamé parameters, hinge constants, lumped masses)
// from θ into the scratch; once per step, before fem_substep. The adjoint pushes the rest data's
// adjoints accumulated by adj_fem_substep (zeroed by fem_prepare_bar_clear) into theta_bar.
void fem_prepare(const dpModel *m, const double *theta, double *scratch);
void fem_prepare_bar_clear(const dpModel *m, double *scratch);
void adj_fem_prepare(const dpModel *m, const double *theta, double *theta_bar, double *scratch);

// One substep h of the soft vertices at step t: the soft blocks of s to those of so.
void fem_substep(const dpModel *m, const double *theta, dpData *d, int t, double h,
                 const double *s, double *so);
// Adjoint: accumulates s_bar (soft blocks), theta_bar (pinned-vertex controls, collider and
// aerodynamic constants, gravity, damping) and the rest data's adjoints in the scratch. so is
// the substep's output (implicit Euler reads its converged velocity from it).
void adj_fem_substep(const dpModel *m, const double *theta, dpData *d, int t, double h,
                     const double *s, const double *so, double *theta_bar, double *s_bar,
                     const double *so_bar);

// Total force on each soft vertex (nvert × 3, N) at positions x and velocities v (elastic,
// damping, bending, gravity, contact, aerodynamics), after fem_prepare; and the elastic plus
// bending energy (J). For tests and tools.
void fem_forces(const dpModel *m, const double *theta, const double *scratch, const double *x,
                const double *v, double *f);
double fem_energy(const dpModel *m, const double *theta, const double *scratch, const double *x);
// Lumped vertex masses (nvert, kg) after fem_prepare.
const double *fem_masses(const dpModel *m, const double *scratch);

// DP_ERR_DIVERGED naming the soft body, vertex and quantity when a soft state is not finite or
// exceeds the divergence limit.
dpStatus fem_state_check(const dpModel *m, int step, const double *s, dpError *err);

#endif
