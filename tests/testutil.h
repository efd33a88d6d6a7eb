// Helpers shared by the Check suites: seeded random numbers, relative error, and a central
// finite-difference gradient check that prints both numbers on failure.
#ifndef DP_TESTUTIL_H
#define DP_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

// xorshift64*: deterministic across platforms.
typedef struct { uint64_t s; } tu_rng;
static inline double tu_uniform(tu_rng *r, double lo, double hi) {
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  uint64_t x = r->s * 2685821657736338717ULL;
  return lo + (hi - lo) * ((double)(x >> 11) * (1.0 / 9007199254740992.0));
}

// |a - b| / max(|a|, |b|, floor)
static inline double tu_relerr(double a, double b, double floor_) {
  double s = fmax(fmax(fabs(a), fabs(b)), floor_);
  return fabs(a - b) / s;
}

// Assert that the adjoint value `an` matches the finite-difference value `fd`:
// |an - fd| <= tol · max(|an|, |fd|) + floor, where floor is the absolute round-off allowance of
// the difference quotient. Prints both numbers on failure.
#define TU_ASSERT_GRAD(what, idx, an, fd, tol, floor_)                                          \
  do {                                                                                          \
    double an_ = (an), fd_ = (fd);                                                              \
    double d_ = fabs(an_ - fd_);                                                                \
    double s_ = fmax(fabs(an_), fabs(fd_));                                                     \
    ck_assert_msg(d_ <= (tol) * s_ + (floor_),                                                  \
                  "%s[%d]: adjoint %.12e vs finite difference %.12e (rel %.3e, floor %.1e)",    \
                  (what), (int)(idx), an_, fd_, s_ > 0 ? d_ / s_ : 0.0, (double)(floor_));      \
  } while (0)

#include "dp/dp.h"

// An allocator for dp_set_allocator that fails the allocation numbered fail_at (1-based; <= 0:
// none), counts allocations, and tracks live blocks (to prove error paths free everything).
typedef struct {
  long count;
  long fail_at;
  long live;
} tu_fail_alloc;
void *tu_failing_alloc(void *ud, void *ptr, size_t oldsize, size_t newsize);

// A small model that exercises every force: 5 particles (one pinned) with drag and constant
// forces, two-particle and anchored springs, ground, box and sphere each in contact range of
// some particle, controls on two particles (seeded random values). Finalized. The ground and
// box have a finite friction damping; the sphere keeps the default INFINITY (pure Coulomb), so
// a loop over θ meets one infinite component per sphere, which it cannot step (skip it).
dpModel *tu_mixed_model(dpIntegrator integ, int substeps, int steps);

// A scratch directory under /tmp for file tests ("/tmp/dp-<tag>-XXXXXX").
typedef struct tmpDir {
  char path[64];
} tmpDir;
void tmpdir_make(tmpDir *d, const char *tag);
// path of name inside the directory
void tmpdir_file(const tmpDir *d, const char *name, char *out, size_t cap);
// Entries other than . and ..; last (may be NULL) receives the name of one of them.
int tmpdir_count(const tmpDir *d, char *last, size_t cap);
// Remove the files in it, then the directory.
void tmpdir_remove(tmpDir *d);

// A rollout of a model with the loss L = w_T · s_T + w_M · s_M (M = T/2), seeded random weights
// over the whole state: tu_roll_value runs it forward at θ, tu_roll_grad fills θ̄ (ntheta) by the
// discrete adjoint (adj_dp_step, adj_dp_initial_state). For whole-rollout gradient checks.
typedef struct {
  const dpModel *m;
  dpData *d;
  double *s;      // (T + 1) × ns
  double *wT, *wM;
  double *lam, *lam2;
} tu_roll;
void tu_roll_init(tu_roll *r, const dpModel *m, uint64_t seed);
void tu_roll_free(tu_roll *r);
double tu_roll_value(tu_roll *r, const double *theta);
void tu_roll_grad(tu_roll *r, const double *theta, double *theta_bar);

#endif
