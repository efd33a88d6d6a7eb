// The bound loss (internal to loss.c and io_loss.c): one record per term of a JSON loss file,
// with entity names already resolved to particle, body, soft-body and θ indices against one
// model.
// The forward/adjoint pairs are in loss.c; parsing and binding are in io_loss.c.
#ifndef DP_LOSS_H
#define DP_LOSS_H

#include <stddef.h>

#include "dp/dp.h"

typedef enum dpTermType {
  DP_TERM_POSITION = 0,    // w ‖x_p(t) − target‖² (m²), or of the centre of mass of a set
  DP_TERM_VELOCITY,        // w ‖v_p(t) − target‖² ((m/s)²), or of the mean velocity of a set
  DP_TERM_TRAJECTORY,      // w (1/F) Σ_f Σ_p ‖q_p(t_f) − obs_{f,p}‖² against an observed file
  DP_TERM_CONTROL_EFFORT,  // w Σ_t Σ_p ‖u_p[t]‖² (N²)
  DP_TERM_KINETIC_ENERGY,  // w Σ_i ½ m_i ‖v_i(t)‖² (J)
  DP_TERM_PRIOR,           // w Σ_k (θ_k − value_k)²
  DP_TERM_BODY_POSITION,   // w ‖xpos_b(t) − target‖² (m²) of a body origin
  DP_TERM_JOINT,           // w Σ_k (q_k(t) − target_k)² over a body's joint coordinates
  DP_TERM_JOINT_VELOCITY,  // w Σ_k (qd_k(t) − target_k)² over a body's joint velocities
  DP_TERM_CENTROID,        // w (1/S) Σ_t ‖c(t) − target‖² (m²), c the vertex mean of a soft body
  DP_TERM_COUNT
} dpTermType;

// What a trajectory term compares.
typedef enum dpTrajField {
  DP_FIELD_PARTICLE_X = 0,  // particles/x (F, N, 3), m
  DP_FIELD_PARTICLE_V,      // particles/v (F, N, 3), m/s
  DP_FIELD_BODY_XPOS,       // bodies/xpos (F, nb, 3), m: body origins in the world
  DP_FIELD_BODY_Q,          // bodies/q (F, nq): joint coordinates, componentwise
  DP_FIELD_SOFT_X,          // softbodies/NAME/x or shells/NAME/x (F, nv, 3), m: vertices
  DP_FIELD_SOFT_V,          // softbodies/NAME/v or shells/NAME/v (F, nv, 3), m/s
} dpTrajField;

typedef struct dpTerm {
  dpTermType type;
  double weight;        // w ≥ 0
  int step;             // position, velocity, kinetic_energy: the step 0..T it reads
  int com;              // position, velocity: 1 = mass-weighted mean of pidx, 0 = pidx[0] alone
  int n;                // particles in pidx
  int *pidx;            // particle indices (n)
  int mask[3];          // 1 where a coordinate counts (position, velocity, trajectory)
  double target[3];     // position, velocity
  int body;             // body_position, joint, joint_velocity: the body index
  int adr, len;         // joint, joint_velocity: its block q[adr .. adr+len) (or of qd)
  int soft;             // centroid, trajectory of soft vertices: the soft body or shell
  dpTrajField field;    // trajectory: the compared array
  int *bidx;            // trajectory of bodies: body indices (n)
  int *qsel;            // trajectory of bodies/q: the compared q indices (row of obs)
  int row;              // trajectory: values per frame in obs (n × 3, or len of qsel)
  int nframes;          // trajectory: selected frames F; centroid: selected steps S
  int *frame_of_step;   // trajectory, centroid: steps + 1 entries, selected frame (step) at
                        // step t or -1
  double *obs;          // trajectory: nframes × row observed values (m, m/s or q's units)
  size_t nsel;          // prior: selected θ components
  size_t *index;        // prior: their θ indices
  double *value;        // prior: their prior values; joint, joint_velocity: targets (len)
} dpTerm;

struct dpLoss {
  int steps;              // T of the model it was bound to
  int np;                 // particles of that model
  int nterms;
  dpTerm *term;
  unsigned char *need;    // steps + 1: 1 where some state term reads x[t]
  int body_poses;         // 1 when some term reads body origins (body_position, bodies/xpos)
  // Work space for those terms, allocated once when the loss is bound (NULL otherwise):
  // body origins (nb × 3), their adjoint (nb × 3) and dp_body_scratch_size doubles. A loss is
  // therefore evaluated by one thread at a time.
  double *xpos, *xpos_bar, *scratch;
};

// Name of a term type as written in the file ("position", ...).
const char *dp_loss_type_name(dpTermType type);
// Release what a term owns (not the term itself).
void dp_loss_term_clear(dpTerm *t);
// Fill loss->need from the bound terms. DP_ERR_NOMEM on allocation failure.
dpStatus dp_loss_index_steps(dpLoss *loss, dpError *err);
// Allocate the body-origin work space when some term reads body origins (after
// dp_loss_index_steps). DP_ERR_NOMEM on allocation failure.
dpStatus dp_loss_alloc_poses(dpLoss *loss, const dpModel *m, dpError *err);

#endif
