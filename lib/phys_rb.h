// Articulated bodies inside the model (internal): θ views, initial state, the generalized forces
// of actuators, joint limits and contact, and one step of the bodies' part of the state with its
// adjoint. phys_rb.c holds the glue; phys_rb_force.c the forces.
#ifndef DP_PHYS_RB_H
#define DP_PHYS_RB_H

#include "dp/dp.h"
#include "rb_tree.h"

// The tree's differentiable constants as views of θ, and of an adjoint block θ̄.
void rb_params_of(const dpModel *m, const double *theta, dpRbParams *p);
void rb_params_bar_of(const dpModel *m, double *theta_bar, dpRbParamsBar *p);

// q and qd of the initial state from θ (quaternions normalized), and the adjoint.
void rb_initial_state(const dpModel *m, const double *theta, double *s0);
void adj_rb_initial_state(const dpModel *m, const double *theta, double *theta_bar,
                          const double *s0_bar);

// DP_ERR_DIVERGED naming the body and coordinate when q or qd is not finite or too large.
dpStatus rb_state_check(const dpModel *m, int step, const double *s, dpError *err);

// Doubles of scratch (dpData.rb) that the bodies' step and its adjoint need.
size_t rb_step_scratch_size(const dpModel *m);

// One substep h of the bodies at step t (controls u[t]): the q and qd blocks of s to those of
// so (the model's integrator: semi-implicit Euler or RK4). Returns 0, or 1 + a dof whose joint
// inertia lost positive definiteness.
int rb_substep(const dpModel *m, const double *theta, double *scratch, int t, double h,
               const double *s, double *so);
// Adjoint of rb_substep: from so_bar (q block as component gradients) accumulates s_bar and
// theta_bar; so is the substep's output (its q converts so_bar to tangent adjoints).
// Recomputes the substep's stages.
void adj_rb_substep(const dpModel *m, const double *theta, double *scratch, int t, double h,
                    const double *s, const double *so, double *theta_bar, double *s_bar,
                    const double *so_bar);

// Generalized force (nv) of actuators, joint limits and contacts at (q, qd) during step t,
// accumulated into tau; and its adjoint into q_bar (nv, tangent), qd_bar and theta_bar.
void rb_applied_force(const dpModel *m, const double *theta, int t, const double *q,
                      const double *qd, double *tau, double *scratch);
void adj_rb_applied_force(const dpModel *m, const double *theta, int t, const double *q,
                          const double *qd, double *q_bar, double *qd_bar, double *theta_bar,
                          const double *tau_bar, double *scratch);
// Doubles of scratch that rb_applied_force and its adjoint need.
size_t rb_force_scratch_size(const dpModel *m);

#endif
