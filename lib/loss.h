// The bound loss (internal to loss.c and io_loss.c): one record per term of a JSON loss file,
// with entity names already resolved to particle indices and θ indices against one model.
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
  DP_TERM_COUNT
} dpTermType;

typedef struct dpTerm {
  dpTermType type;
  double weight;        // w ≥ 0
  int step;             // position, velocity, kinetic_energy: the step 0..T it reads
  int com;              // position, velocity: 1 = mass-weighted mean of pidx, 0 = pidx[0] alone
  int n;                // particles in pidx
  int *pidx;            // particle indices (n)
  int mask[3];          // 1 where a coordinate counts (position, velocity, trajectory)
  double target[3];     // position, velocity
  int velocity;         // trajectory: 1 compares v ("particles/v"), 0 compares x
  int nframes;          // trajectory: selected frames F
  int *frame_of_step;   // trajectory: steps + 1 entries, selected frame at step t or -1
  double *obs;          // trajectory: nframes × n × 3 observed values (m or m/s)
  size_t nsel;          // prior: selected θ components
  size_t *index;        // prior: their θ indices
  double *value;        // prior: their prior values
} dpTerm;

struct dpLoss {
  int steps;              // T of the model it was bound to
  int np;                 // particles of that model
  int nterms;
  dpTerm *term;
  unsigned char *need;    // steps + 1: 1 where some state term reads x[t]
};

// Name of a term type as written in the file ("position", ...).
const char *dp_loss_type_name(dpTermType type);
// Release what a term owns (not the term itself).
void dp_loss_term_clear(dpTerm *t);
// Fill loss->need from the bound terms. DP_ERR_NOMEM on allocation failure.
dpStatus dp_loss_index_steps(dpLoss *loss, dpError *err);

#endif
