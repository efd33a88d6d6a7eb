// Articulated rigid-body trees in generalized coordinates (internal, not installed): the tree
// description, forward kinematics, recursive Newton–Euler inverse dynamics (RNEA), the
// composite-rigid-body mass matrix (CRBA), its branch-sparse LTDL factorization, forward
// dynamics by the articulated-body algorithm (ABA), manifold integration of ball and free
// joints, semi-implicit Euler and RK4 steps;
// each differentiable operator with its reverse-mode adjoint.
// Sources: Featherstone, "Rigid Body Dynamics Algorithms" (2008), ch. 4–7; Carpentier & Mansard,
// "Analytical Derivatives of Rigid Body Dynamics Algorithms", RSS 2018 (the inverse-dynamics
// route to the forward-dynamics derivatives).
//
// Conventions (every function below):
//   - Bodies are numbered so that parent[i] < i (-1: the world). Each body has one joint to its
//     parent, whose frame sits at jpos[i] (3, m) in the parent frame with the parent's axes.
//   - Joint coordinates q (nq) and velocities qd (nv), each body's block at qadr[i] / vadr[i]:
//       DP_RB_REVOLUTE   q: angle (rad) about axis          qd: angular rate (rad/s)
//       DP_RB_PRISMATIC  q: slide (m) along axis            qd: slide rate (m/s)
//       DP_RB_BALL       q: unit quaternion (w, x, y, z)    qd: angular velocity (3, rad/s) of
//                                                               the body relative to its parent,
//                                                               in the body frame
//       DP_RB_FREE       q: position (3, m) of the body     qd: linear velocity (3, m/s) of the
//                           origin in the parent frame,         body origin relative to the
//                           then a unit quaternion (4)          parent, in the parent frame, then
//                                                               the angular velocity (3) in the
//                                                               body frame (MuJoCo's convention)
//       DP_RB_FIXED      nothing                            nothing
//     The axis (unit, 3) of a revolute or prismatic joint is in the parent frame; at q = 0 the
//     body frame has the parent's axes. A quaternion is the body orientation in its parent
//     frame (x_parent = R(Q) x_body).
//   - With these velocities, q̇ is qd for every component except a quaternion, whose rate is
//     Q̇ = ½ Q ⊗ (0, ω). The integrators step q on the manifold, q ⊕ δ (rb_retract).
//   - Adjoints with respect to q are tangent vectors of size nv with the layout of qd: for a
//     quaternion block the gradient with respect to δθ in Q ⊗ exp(δθ) (body frame, 3 numbers),
//     otherwise the ordinary partial derivative. rb_tangent_from_qgrad / rb_qgrad_from_tangent
//     convert from and to gradients with respect to the nq components.
//   - Inverse dynamics includes the joint armature and damping (τ = M(q) q̈ + c(q, q̇) + D q̇
//     with M including armature), so that it inverts forward dynamics exactly.
//   - Spatial vectors are [angular; linear] (rb_spatial_kern.h). Double precision throughout.
//   - Nothing here allocates except rb_tree_create; every algorithm takes a caller-provided
//     scratch array of rb_scratch_size(tree) doubles (the same size serves every function).
#ifndef DP_RB_TREE_H
#define DP_RB_TREE_H

#include <stddef.h>

#include "dp/dp.h"

typedef enum dpRbJoint {
  DP_RB_FIXED = 0,
  DP_RB_REVOLUTE,
  DP_RB_PRISMATIC,
  DP_RB_BALL,
  DP_RB_FREE,
} dpRbJoint;

// The topology of a tree, read-only while simulating (structure of arrays, one allocation).
typedef struct dpRbTree {
  int nb;                 // bodies
  int nq, nv;             // sizes of q and qd
  const int *parent;      // (nb) parent body, < i, or -1 for the world
  const int *jtype;       // (nb) dpRbJoint
  const int *qadr;        // (nb) offset of the body's block in q
  const int *vadr;        // (nb) offset of the body's block in qd
  const double *axis;     // (nb x 3) unit joint axis in the parent frame (revolute, prismatic)
  const int *dof_parent;  // (nv) parent dof in the tree (-1: none), the λ of Featherstone §6.3
  const int *dof_body;    // (nv) body owning each dof
} dpRbTree;

// Differentiable constants of a tree. Shapes: mass (nb) kg; com (nb x 3) m, centre of mass in the
// body frame; inertia (nb x 6) kg·m², about the centre of mass in body axes, as Ixx Iyy Izz Ixy
// Ixz Iyz; jpos (nb x 3) m, joint position in the parent frame (link geometry); damping (nv)
// N·m·s/rad or N·s/m per dof; armature (nv) kg·m² or kg per dof; gravity (3) m/s².
typedef struct dpRbParams {
  const double *mass;
  const double *com;
  const double *inertia;
  const double *jpos;
  const double *damping;
  const double *armature;
  const double *gravity;
} dpRbParams;

// Accumulators of the adjoints of dpRbParams, same shapes (all non-NULL).
typedef struct dpRbParamsBar {
  double *mass;
  double *com;
  double *inertia;
  double *jpos;
  double *damping;
  double *armature;
  double *gravity;
} dpRbParamsBar;

// Build a tree of nb >= 1 bodies: parent (nb), jtype (nb, dpRbJoint), axis (nb x 3; read for
// revolute and prismatic joints, normalized; may be NULL when there are none). Returns
// DP_ERR_INVALID (naming the body) for parent[i] >= i or < -1, an unknown joint type, or an axis
// of length outside [0.5, 2] (a likely unit mistake); DP_ERR_NOMEM. Free with rb_tree_free.
dpStatus rb_tree_create(int nb, const int *parent, const int *jtype, const double *axis,
                        dpRbTree **out, dpError *err);
void rb_tree_free(dpRbTree *t);

// Number of doubles of scratch that every function below needs.
size_t rb_scratch_size(const dpRbTree *t);

// Set q (nq) to the zero configuration: zero angles and slides, identity quaternions.
void rb_q_neutral(const dpRbTree *t, double *q);

// Forward kinematics: world position xpos (nb x 3, m) of each body origin and world rotation
// xrot (nb x 9, row-major, x_world = xrot x_body). Source: Featherstone (2008), §4.1.
void rb_fk(const dpRbTree *t, const dpRbParams *p, const double *q, double *xpos, double *xrot);

// Adjoint of rb_fk: from xpos_bar (nb x 3) and xrot_bar (nb x 9, gradient with respect to the
// matrix entries; may be NULL) accumulates q_bar (nv, tangent) and p_bar->jpos (the only
// parameter FK depends on). Recomputes the world poses (12 nb doubles of scratch).
void adj_rb_fk(const dpRbTree *t, const dpRbParams *p, const double *q, double *q_bar,
               const dpRbParamsBar *p_bar, const double *xpos_bar, const double *xrot_bar,
               double *scratch);

// Inverse dynamics τ (nv) = M(q) qdd + c(q, qd) + damping·qd, gravity included. qd or qdd may be
// NULL (zero). Source: Featherstone (2008), §5.3, Table 5.1, with a joint split into a
// translation and a rotation stage (see rb_tree.c).
void rb_rnea(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
             const double *qdd, double *tau, double *scratch);

// Adjoint of rb_rnea: from tau_bar (nv) accumulates q_bar (nv, tangent), qd_bar, qdd_bar (nv)
// and every entry of p_bar. Recomputes the forward sweep (its per-body state, 42 nb doubles, is
// as cheap to recompute as to keep). qd/qdd may be NULL (zero); so may qd_bar/qdd_bar.
void adj_rb_rnea(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                 const double *qdd, double *q_bar, double *qd_bar, double *qdd_bar,
                 const dpRbParamsBar *p_bar, const double *tau_bar, double *scratch);

// Joint-space mass matrix M (nv x nv, dense row-major, symmetric, armature on the diagonal) by
// the composite-rigid-body algorithm. Source: Featherstone (2008), §6.2, Table 6.2.
void rb_crba(const dpRbTree *t, const dpRbParams *p, const double *q, double *M,
             double *scratch);

// In-place LTDL factorization M = Lᵀ D L (L unit lower triangular stored below the diagonal, D on
// it) that visits only the nonzeros the branches allow: O(nv d²) for depth d.
// Returns 0, or 1 + the dof of a non-positive pivot (M not positive definite).
// Source: Featherstone (2008), §6.3 (the LTDL algorithm).
int rb_ltdl(const dpRbTree *t, double *M);

// Solve M x = b in place (x: nv, b on entry) with the factor of rb_ltdl. Featherstone §6.3.
void rb_ltdl_solve(const dpRbTree *t, const double *LD, double *x);

// Forward dynamics qdd (nv) = M⁻¹ (tau − c(q, qd) − damping·qd) by the articulated-body
// algorithm, O(nb), with armature in the joint-space inertia D = Sᵀ I^A S + armature and damping
// in the joint force. Returns 0, or 1 + a dof of a joint whose D is not positive definite.
// Source: Featherstone (2008), §7.3, Table 7.1.
int rb_forward_dynamics(const dpRbTree *t, const dpRbParams *p, const double *q,
                        const double *qd, const double *tau, double *qdd, double *scratch);

// Adjoint of rb_forward_dynamics by the inverse-dynamics route: with M w = qdd_bar,
// tau_bar += w and (q, qd, p)_bar −= (∂RNEA/∂(q, qd, p))ᵀ w at the solution qdd (Carpentier &
// Mansard 2018, §III). qdd is the forward output (nv), kept by the caller; w = M⁻¹ qdd_bar is
// recomputed by ABA at zero velocity, gravity and damping (O(nb), nothing stored per step).
void adj_rb_forward_dynamics(const dpRbTree *t, const dpRbParams *p, const double *q,
                             const double *qd, const double *tau, const double *qdd,
                             double *q_bar, double *qd_bar, double *tau_bar,
                             const dpRbParamsBar *p_bar, const double *qdd_bar, double *scratch);

// q_out (nq) = q ⊕ dv for a tangent step dv (nv): components add, a quaternion becomes
// Q ⊗ exp(dv_rot), renormalized. q_out may alias q.
void rb_retract(const dpRbTree *t, const double *q, const double *dv, double *q_out);

// Adjoint of rb_retract in the tangent spaces: q_bar (nv) += Ad q_out_bar (R(dv_rot) g for a
// quaternion), dv_bar (nv) += Jr(dv_rot)ᵀ g (the SO(3) right Jacobian); identity elsewhere.
void adj_rb_retract(const dpRbTree *t, const double *q, const double *dv, double *q_bar,
                    double *dv_bar, const double *q_out_bar);

// q_out = q ⊕ h v, and its adjoint (q_bar, v_bar: nv).
void rb_integrate(const dpRbTree *t, const double *q, const double *v, double h, double *q_out);
void adj_rb_integrate(const dpRbTree *t, const double *q, const double *v, double h,
                      double *q_bar, double *v_bar, const double *q_out_bar);

// Convert a gradient with respect to the nq components of q (gq) into the tangent gradient
// gt (nv), and back (the component gradient orthogonal to each quaternion).
void rb_tangent_from_qgrad(const dpRbTree *t, const double *q, const double *gq, double *gt);
void rb_qgrad_from_tangent(const dpRbTree *t, const double *q, const double *gt, double *gq);

// A generalized force that depends on the state (actuators, joint limits, contact), evaluated
// at every stage of a step: eval adds Q(q, qd) (nv) into tau; adj accumulates q_bar (nv,
// tangent) and qd_bar (nv) += (∂Q/∂(q, qd))ᵀ tau_bar, and whatever parameters ud holds the
// adjoints of. Either function may be NULL (no force / no adjoint).
typedef struct dpRbForce {
  void (*eval)(void *ud, const double *q, const double *qd, double *tau);
  void (*adj)(void *ud, const double *q, const double *qd, double *q_bar, double *qd_bar,
              const double *tau_bar);
  void *ud;
} dpRbForce;

// The steps below with a state-dependent force fx (may be NULL) added to tau (may be NULL:
// zero) at each stage; the _ex adjoints call fx->adj with each stage's generalized-force
// adjoint, and add it to tau_bar when tau is given (tau_bar may be NULL when tau is).
int rb_step_euler_ex(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                     const double *tau, const dpRbForce *fx, double h, double *q_out,
                     double *qd_out, double *scratch);
void adj_rb_step_euler_ex(const dpRbTree *t, const dpRbParams *p, const double *q,
                          const double *qd, const double *tau, const dpRbForce *fx, double h,
                          double *q_bar, double *qd_bar, double *tau_bar,
                          const dpRbParamsBar *p_bar, const double *q_out_bar,
                          const double *qd_out_bar, double *scratch);
int rb_step_rk4_ex(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                   const double *tau, const dpRbForce *fx, double h, double *q_out,
                   double *qd_out, double *scratch);
void adj_rb_step_rk4_ex(const dpRbTree *t, const dpRbParams *p, const double *q,
                        const double *qd, const double *tau, const dpRbForce *fx, double h,
                        double *q_bar, double *qd_bar, double *tau_bar,
                        const dpRbParamsBar *p_bar, const double *q_out_bar,
                        const double *qd_out_bar, double *scratch);

// One semi-implicit (symplectic) Euler step over h (s): qd' = qd + h qdd(q, qd, tau),
// q' = q ⊕ h qd'. Returns 0 or the rb_forward_dynamics code. Source: Hairer, Lubich & Wanner
// (2006), §I.1.
int rb_step_euler(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                  const double *tau, double h, double *q_out, double *qd_out, double *scratch);
// Adjoint of rb_step_euler: accumulates q_bar (nv, tangent), qd_bar, tau_bar and p_bar from
// q_out_bar (nv, tangent) and qd_out_bar. Recomputes the step's forward dynamics (one ABA); a
// rollout keeps only the states.
void adj_rb_step_euler(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                       const double *tau, double h, double *q_bar, double *qd_bar,
                       double *tau_bar, const dpRbParamsBar *p_bar, const double *q_out_bar,
                       const double *qd_out_bar, double *scratch);

// One classical RK4 step over h with tau held over the step, on the manifold as a
// Runge–Kutta–Munthe-Kaas method: stage configurations q ⊕ δ_s, the quaternion slopes mapped by
// dexpinv (rb_dexpinv), order 4 for every joint type. Returns 0 or the rb_forward_dynamics
// code.
// Source: Munthe-Kaas, Appl. Numer. Math. 29 (1999); Hairer, Lubich & Wanner (2006), §IV.8.
int rb_step_rk4(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                const double *tau, double h, double *q_out, double *qd_out, double *scratch);
// Adjoint of rb_step_rk4 (same accumulators as adj_rb_step_euler). Recomputes the four stages.
void adj_rb_step_rk4(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                     const double *tau, double h, double *q_bar, double *qd_bar,
                     double *tau_bar, const dpRbParamsBar *p_bar, const double *q_out_bar,
                     const double *qd_out_bar, double *scratch);

// Kinetic energy ½ Σ vᵢᵀ Iᵢ vᵢ + ½ Σ armature qd² and gravitational potential energy
// −Σ mᵢ g·cᵢ (J, cᵢ the world centre of mass), for energy-conservation checks.
void rb_energy(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
               double *kinetic, double *potential, double *scratch);

// World spatial momentum of the whole tree: h (6) = angular momentum about the world origin
// (kg·m²/s), then linear momentum (kg·m/s).
void rb_momentum(const dpRbTree *t, const dpRbParams *p, const double *q, const double *qd,
                 double *h, double *scratch);

// ---- contact kinematics (world frame, from the poses of rb_fk) ----
// xpos (nb x 3) and xrot (nb x 9) are rb_fk's outputs; their adjoints are taken with respect to
// the entries independently (xrot_bar: gradient with respect to the 9 matrix entries, as adj_rb_fk
// takes it), so that adj_rb_fk completes the chain to q. p is unused (kept for symmetry).

// World angular velocity w (nb x 3, rad/s) and world velocity vo (nb x 3, m/s) of each body
// origin, from qd (nv). With λ the parent (the world: w = vo = 0, W = I, x = 0), W the world
// rotations, a the joint axis (parent frame), r = xpos_i − xpos_λ:
//   revolute   w_i = w_λ + W_λ a q̇       vo_i = vo_λ + w_λ × r
//   prismatic  w_i = w_λ                 vo_i = vo_λ + w_λ × r + W_λ a q̇
//   ball       w_i = w_λ + W_i q̇          vo_i = vo_λ + w_λ × r
//   free       w_i = w_λ + W_i q̇[3..6]    vo_i = vo_λ + w_λ × r + W_λ q̇[0..3]
//   fixed      w_i = w_λ                 vo_i = vo_λ + w_λ × r
// The velocity of a body-fixed point x (world) is vo_i + w_i × (x − xpos_i). No scratch.
// Source: Featherstone (2008), §5.3 (the forward pass v_i = v_λ + S_i q̇_i), in world coordinates.
void rb_velocities(const dpRbTree *t, const dpRbParams *p, const double *xpos, const double *xrot,
                   const double *qd, double *w, double *vo);

// Adjoint of rb_velocities: from w_bar and vo_bar (nb x 3) accumulates xpos_bar (nb x 3),
// xrot_bar (nb x 9, entries) and qd_bar (nv). Scratch: 9 nb doubles (within rb_scratch_size).
void adj_rb_velocities(const dpRbTree *t, const dpRbParams *p, const double *xpos,
                       const double *xrot, const double *qd, double *xpos_bar, double *xrot_bar,
                       double *qd_bar, const double *w_bar, const double *vo_bar,
                       double *scratch);

// Generalized force of world wrenches: tau (nv) += Jᵀ (F, N), with F (nb x 3, N) the world force
// and N (nb x 3, N·m) the world moment about the WORLD ORIGIN applied to each body (a point force
// f at world point x adds f to F and x × f to N). Exactly the transpose of rb_velocities:
// τ·qd = Σ_i F_i·(vo_i − w_i × xpos_i) + N_i·w_i. With (F_j, N_j) summed over the subtree of j
// and M_j = N_j − xpos_j × F_j (the moment about the body origin):
//   revolute τ = (W_λ a)·M_j;  prismatic τ = (W_λ a)·F_j;  ball τ = W_jᵀ M_j;
//   free τ[0..3] = W_λᵀ F_j, τ[3..6] = W_jᵀ M_j.
// Scratch: 6 nb doubles. Source: Featherstone (2008), §5.3 (the backward pass τ_i = S_iᵀ f_i).
void rb_generalized_force(const dpRbTree *t, const dpRbParams *p, const double *xpos,
                          const double *xrot, const double *F, const double *N, double *tau,
                          double *scratch);

// Adjoint of rb_generalized_force: from tau_bar (nv) accumulates xpos_bar (nb x 3), xrot_bar
// (nb x 9, entries), F_bar and N_bar (nb x 3). Scratch: 12 nb doubles.
void adj_rb_generalized_force(const dpRbTree *t, const dpRbParams *p, const double *xpos,
                              const double *xrot, const double *F, const double *N,
                              double *xpos_bar, double *xrot_bar, double *F_bar, double *N_bar,
                              const double *tau_bar, double *scratch);

#endif
