// The operations a rollout needs from a backend (CPU or CUDA): device buffers of doubles, the
// step and its adjoint on them, and host access for losses, frames and divergence checks.
// Checkpointing lives in grad_rollout.c, over these, so every backend gets it unchanged.
#ifndef DP_GRAD_BACKEND_H
#define DP_GRAD_BACKEND_H

#include "dp/dp.h"

typedef struct dpBackendOps {
  // 1 when device buffers are host memory (host_view is free): divergence is checked each step.
  int host_memory;
  dpStatus (*set_theta)(void *ctx, const double *theta, dpError *err);
  double *(*alloc)(void *ctx, size_t n);
  void (*release)(void *ctx, double *p);
  // A host copy of n doubles at dev (valid until the next call), or NULL on failure.
  const double *(*host_view)(void *ctx, const double *dev, size_t n, dpError *err);
  dpStatus (*add_from_host)(void *ctx, double *dev, const double *host, size_t n, dpError *err);
  dpStatus (*copy)(void *ctx, double *dst, const double *src, size_t n, dpError *err);
  dpStatus (*zero)(void *ctx, double *dst, size_t n, dpError *err);
  dpStatus (*initial_state)(void *ctx, double *s0, dpError *err);
  dpStatus (*step)(void *ctx, int t, const double *s_in, double *s_out, dpError *err);
  // s_in_bar += ..., θ̄ (held by the backend, zeroed by set_theta) += ...
  // s_out: the step's output (from the forward or the segment recomputation).
  dpStatus (*adj_step)(void *ctx, int t, const double *s_in, const double *s_out,
                       double *s_in_bar, const double *s_out_bar, dpError *err);
  dpStatus (*adj_initial_state)(void *ctx, const double *s0_bar, dpError *err);
  // theta_bar (host) += the backend's θ̄.
  dpStatus (*theta_bar)(void *ctx, double *theta_bar, dpError *err);
  void (*destroy)(void *ctx);
} dpBackendOps;

// CUDA backend (lib/cuda/): DP_ERR_NO_CUDA when unavailable.
dpStatus dp_cuda_backend_new(const dpModel *m, const dpBackendOps **ops, void **ctx,
                             dpError *err);

#endif
