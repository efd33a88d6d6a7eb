// The rollout and its discrete adjoint (DESIGN.md §1): a forward sweep that keeps every k-th
// state (checkpoints), and a backward sweep that recomputes each segment from its checkpoint and
// propagates λ[t] = (∂f/∂x[t])ᵀ λ[t+1] + ∂l_t/∂x[t]. Memory: (T/k + k + 4) states; k = ⌈√T⌉
// by default. Source: Griewank & Walther, "Evaluating Derivatives" (2008), ch. 12.
#include <math.h>
#include <string.h>

#include "dp/dp.h"
#include "grad_backend.h"

// ---- CPU backend -----------------------------------------------------------------------------

typedef struct {
  const dpModel *m;
  dpData *d;
  const double *theta;
  double *theta_bar;
} dpCpu;

static dpStatus cpu_set_theta(void *ctx, const double *theta, dpError *err) {
  dpCpu *c = ctx;
  c->theta = theta;
  memset(c->theta_bar, 0, c->m->ntheta * sizeof *c->theta_bar);
  (void)err;
  return DP_OK;
}

static double *cpu_alloc(void *ctx, size_t n) {
  (void)ctx;
  return dp_calloc(n > 0 ? n : 1, sizeof(double));
}

static void cpu_release(void *ctx, double *p) {
  (void)ctx;
  dp_free(p);
}

static const double *cpu_host_view(void *ctx, const double *dev, size_t n, dpError *err) {
  (void)ctx;
  (void)n;
  (void)err;
  return dev;
}

static dpStatus cpu_add_from_host(void *ctx, double *dev, const double *host, size_t n,
                                  dpError *err) {
  (void)ctx;
  (void)err;
  for (size_t k = 0; k < n; k++) {
    dev[k] += host[k];
  }
  return DP_OK;
}

static dpStatus cpu_copy(void *ctx, double *dst, const double *src, size_t n, dpError *err) {
  (void)ctx;
  (void)err;
  memcpy(dst, src, n * sizeof *dst);
  return DP_OK;
}

static dpStatus cpu_zero(void *ctx, double *dst, size_t n, dpError *err) {
  (void)ctx;
  (void)err;
  memset(dst, 0, n * sizeof *dst);
  return DP_OK;
}

static dpStatus cpu_initial_state(void *ctx, double *s0, dpError *err) {
  dpCpu *c = ctx;
  (void)err;
  dp_initial_state(c->m, c->theta, s0);
  return DP_OK;
}

static dpStatus cpu_step(void *ctx, int t, const double *s_in, double *s_out, dpError *err) {
  dpCpu *c = ctx;
  (void)err;
  dp_step(c->m, c->theta, c->d, t, s_in, s_out);
  return DP_OK;
}

static dpStatus cpu_adj_step(void *ctx, int t, const double *s_in, const double *s_out,
                             double *s_in_bar, const double *s_out_bar, dpError *err) {
  dpCpu *c = ctx;
  (void)err;
  adj_dp_step(c->m, c->theta, c->d, t, s_in, s_out, c->theta_bar, s_in_bar, s_out_bar);
  return DP_OK;
}

static dpStatus cpu_adj_initial_state(void *ctx, const double *s0_bar, dpError *err) {
  dpCpu *c = ctx;
  (void)err;
  adj_dp_initial_state(c->m, c->theta, c->theta_bar, s0_bar);
  return DP_OK;
}

static dpStatus cpu_theta_bar(void *ctx, double *theta_bar, dpError *err) {
  dpCpu *c = ctx;
  (void)err;
  for (size_t k = 0; k < c->m->ntheta; k++) {
    theta_bar[k] += c->theta_bar[k];
  }
  return DP_OK;
}

static void cpu_destroy(void *ctx) {
  dpCpu *c = ctx;
  if (c != NULL) {
    dp_data_free(c->d);
    dp_free(c->theta_bar);
    dp_free(c);
  }
}

static const dpBackendOps cpu_ops = {
    1,           cpu_set_theta, cpu_alloc,        cpu_release,  cpu_host_view,
    cpu_add_from_host, cpu_copy, cpu_zero,        cpu_initial_state, cpu_step,
    cpu_adj_step, cpu_adj_initial_state, cpu_theta_bar, cpu_destroy,
};

static dpStatus cpu_backend_new(const dpModel *m, const dpBackendOps **ops, void **ctx,
                                dpError *err) {
  dpCpu *c = dp_calloc(1, sizeof *c);
  if (c == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
  }
  c->m = m;
  c->d = dp_data_new(m, 1);
  c->theta_bar = dp_calloc(m->ntheta > 0 ? m->ntheta : 1, sizeof *c->theta_bar);
  if (c->d == NULL || c->theta_bar == NULL) {
    cpu_destroy(c);
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory for the step data");
  }
  *ops = &cpu_ops;
  *ctx = c;
  return DP_OK;
}

// ---- rollout ---------------------------------------------------------------------------------

struct dpRollout {
  const dpModel *m;
  const dpBackendOps *ops;
  void *ctx;
  int k;            // checkpoint interval
  int ncp;          // checkpoints: x[0], x[k], x[2k], ...
  size_t ns;
  double *cp;       // ncp × ns (device)
  double *seg;      // k × ns (device): the states of one segment during the backward sweep
  double *cur, *nxt;     // forward work (device)
  double *lam, *lam2;    // λ (device)
  double *hbar;     // host scratch for loss adjoints, ns
  int forward_done;
};

dpStatus dp_rollout_new(const dpModel *m, dpDevice device, int checkpoint_every,
                        dpRollout **out, dpError *err) {
  *out = NULL;
  dpRollout *r = dp_calloc(1, sizeof *r);
  if (r == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
  }
  r->m = m;
  r->ns = dp_model_nstate(m);
  int T = m->steps;
  int k = checkpoint_every > 0 ? checkpoint_every : (int)ceil(sqrt((double)T));
  if (k > T) {
    k = T;
  }
  if (k < 1) {
    k = 1;
  }
  r->k = k;
  r->ncp = T / k + 1;
  if (device == DP_DEVICE_CUDA && m->nb > 0) {
    dp_free(r);
    return dp_error_set(err, DP_ERR_NO_CUDA, NULL, 0, 0,
                        "articulated bodies run on the CPU only (the CUDA backend steps "
                        "particles, springs and colliders)");
  }
  if (device == DP_DEVICE_CUDA && m->nsoft > 0) {
    dp_free(r);
    return dp_error_set(err, DP_ERR_NO_CUDA, NULL, 0, 0,
                        "soft bodies and shells roll out on the CPU only (their element "
                        "kernels have CUDA wrappers, but the CUDA rollout steps particles, "
                        "springs and colliders)");
  }
  dpStatus st = device == DP_DEVICE_CUDA ? dp_cuda_backend_new(m, &r->ops, &r->ctx, err)
                                         : cpu_backend_new(m, &r->ops, &r->ctx, err);
  if (st != DP_OK) {
    dp_free(r);
    return st;
  }
  size_t ns = r->ns > 0 ? r->ns : 1;
  r->cp = r->ops->alloc(r->ctx, (size_t)r->ncp * ns);
  r->seg = r->ops->alloc(r->ctx, (size_t)k * ns);
  r->cur = r->ops->alloc(r->ctx, ns);
  r->nxt = r->ops->alloc(r->ctx, ns);
  r->lam = r->ops->alloc(r->ctx, ns);
  r->lam2 = r->ops->alloc(r->ctx, ns);
  r->hbar = dp_calloc(ns, sizeof *r->hbar);
  if (r->cp == NULL || r->seg == NULL || r->cur == NULL || r->nxt == NULL || r->lam == NULL ||
      r->lam2 == NULL || r->hbar == NULL) {
    int ncp = r->ncp;
    dp_rollout_free(r);
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0,
                        "out of memory for %d checkpoints of %zu doubles", ncp, ns);
  }
  *out = r;
  return DP_OK;
}

void dp_rollout_free(dpRollout *r) {
  if (r == NULL) {
    return;
  }
  if (r->ops != NULL) {
    double *bufs[] = {r->cp, r->seg, r->cur, r->nxt, r->lam, r->lam2};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
      if (bufs[i] != NULL) {
        r->ops->release(r->ctx, bufs[i]);
      }
    }
    r->ops->destroy(r->ctx);
  }
  dp_free(r->hbar);
  dp_free(r);
}

int dp_rollout_checkpoint_every(const dpRollout *r) {
  return r->k;
}

size_t dp_rollout_bytes(const dpRollout *r) {
  return ((size_t)r->ncp + (size_t)r->k + 4) * r->ns * sizeof(double);
}

// The state at step t on the host, checked for divergence, fed to the loss and the frame sink.
static dpStatus visit(dpRollout *r, int t, const double *s, const dpLoss *loss, double *L,
                      const double *theta, int stride, dpFrameFn frame, void *ud, dpError *err) {
  int want_loss = loss != NULL && dp_loss_needs_step(loss, t);
  int want_frame = frame != NULL && (t % stride == 0 || t == r->m->steps);
  int want_check = r->ops->host_memory || t % r->k == 0 || t == r->m->steps;
  if (!want_loss && !want_frame && !want_check) {
    return DP_OK;
  }
  const double *h = r->ops->host_view(r->ctx, s, r->ns, err);
  if (h == NULL) {
    return err != NULL && err->code != DP_OK ? err->code : DP_ERR_CUDA;
  }
  dpStatus st = dp_state_check(r->m, t, h, err);
  if (st != DP_OK) {
    return st;
  }
  if (want_loss) {
    dp_loss_step(loss, r->m, theta, t, h, L);
  }
  if (want_frame) {
    return frame(ud, t, h, err);
  }
  return DP_OK;
}

dpStatus dp_rollout_forward(dpRollout *r, const double *theta, const dpLoss *loss, double *L,
                            int stride, dpFrameFn frame, void *ud, dpError *err) {
  const dpBackendOps *ops = r->ops;
  const int T = r->m->steps;
  const size_t ns = r->ns;
  double Lsum = 0.0;
  dpStatus st;
  r->forward_done = 0;
  if (stride < 1) {
    stride = 1;
  }
  if ((st = ops->set_theta(r->ctx, theta, err)) != DP_OK ||
      (st = ops->initial_state(r->ctx, r->cur, err)) != DP_OK ||
      (st = ops->copy(r->ctx, r->cp, r->cur, ns, err)) != DP_OK ||
      (st = visit(r, 0, r->cur, loss, &Lsum, theta, stride, frame, ud, err)) != DP_OK) {
    return st;
  }
  for (int t = 0; t < T; t++) {
    if ((st = ops->step(r->ctx, t, r->cur, r->nxt, err)) != DP_OK) {
      return st;
    }
    double *tmp = r->cur;
    r->cur = r->nxt;
    r->nxt = tmp;
    if ((t + 1) % r->k == 0 &&
        (st = ops->copy(r->ctx, r->cp + (size_t)((t + 1) / r->k) * ns, r->cur, ns, err)) !=
            DP_OK) {
      return st;
    }
    if ((st = visit(r, t + 1, r->cur, loss, &Lsum, theta, stride, frame, ud, err)) != DP_OK) {
      return st;
    }
  }
  if (loss != NULL) {
    dp_loss_params(loss, r->m, theta, &Lsum);
  }
  if (L != NULL) {
    *L += Lsum;
  }
  r->forward_done = 1;
  return DP_OK;
}

// λ += ∂l_t/∂x[t] at the state s (device).
static dpStatus loss_adjoint(dpRollout *r, int t, const double *s, const dpLoss *loss,
                             const double *theta, double *theta_bar, double *lam, dpError *err) {
  if (loss == NULL || !dp_loss_needs_step(loss, t)) {
    return DP_OK;
  }
  const double *h = r->ops->host_view(r->ctx, s, r->ns, err);
  if (h == NULL) {
    return err != NULL && err->code != DP_OK ? err->code : DP_ERR_CUDA;
  }
  memset(r->hbar, 0, r->ns * sizeof *r->hbar);
  adj_dp_loss_step(loss, r->m, theta, t, h, theta_bar, r->hbar, 1.0);
  return r->ops->add_from_host(r->ctx, lam, r->hbar, r->ns, err);
}

dpStatus dp_rollout_backward(dpRollout *r, const double *theta, const dpLoss *loss,
                             double *theta_bar, dpError *err) {
  const dpBackendOps *ops = r->ops;
  const int T = r->m->steps;
  const size_t ns = r->ns;
  dpStatus st;
  if (!r->forward_done) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "dp_rollout_backward called without a completed forward sweep");
  }
  if ((st = ops->zero(r->ctx, r->lam, ns, err)) != DP_OK ||
      (st = loss_adjoint(r, T, r->cur, loss, theta, theta_bar, r->lam, err)) != DP_OK) {
    return st;
  }
  for (int j = (T - 1) / r->k; j >= 0; j--) {
    int t0 = j * r->k;
    int t1 = t0 + r->k < T ? t0 + r->k : T;
    // Recompute x[t0 .. t1-1] from the checkpoint.
    if ((st = ops->copy(r->ctx, r->seg, r->cp + (size_t)j * ns, ns, err)) != DP_OK) {
      return st;
    }
    for (int t = t0; t < t1 - 1; t++) {
      double *s = r->seg + (size_t)(t - t0) * ns;
      if ((st = ops->step(r->ctx, t, s, s + ns, err)) != DP_OK) {
        return st;
      }
    }
    // x[t1]: the next checkpoint, or the final state kept by the forward sweep.
    const double *end = t1 % r->k == 0 ? r->cp + (size_t)(t1 / r->k) * ns : r->cur;
    for (int t = t1 - 1; t >= t0; t--) {
      const double *s = r->seg + (size_t)(t - t0) * ns;
      const double *so = t == t1 - 1 ? end : s + ns;
      if ((st = ops->zero(r->ctx, r->lam2, ns, err)) != DP_OK ||
          (st = ops->adj_step(r->ctx, t, s, so, r->lam2, r->lam, err)) != DP_OK ||
          (st = loss_adjoint(r, t, s, loss, theta, theta_bar, r->lam2, err)) != DP_OK) {
        return st;
      }
      double *tmp = r->lam;
      r->lam = r->lam2;
      r->lam2 = tmp;
    }
  }
  if ((st = ops->adj_initial_state(r->ctx, r->lam, err)) != DP_OK ||
      (st = ops->theta_bar(r->ctx, theta_bar, err)) != DP_OK) {
    return st;
  }
  if (loss != NULL) {
    adj_dp_loss_params(loss, r->m, theta, theta_bar, 1.0);
  }
  return DP_OK;
}

dpStatus dp_value_and_grad(const dpModel *m, dpDevice device, int checkpoint_every,
                           const double *theta, const dpLoss *loss, double *L,
                           double *theta_bar, dpError *err) {
  dpRollout *r = NULL;
  dpStatus st = dp_rollout_new(m, device, checkpoint_every, &r, err);
  if (st != DP_OK) {
    return st;
  }
  memset(theta_bar, 0, m->ntheta * sizeof *theta_bar);
  *L = 0.0;
  st = dp_rollout_forward(r, theta, loss, L, 1, NULL, NULL, err);
  if (st == DP_OK) {
    st = dp_rollout_backward(r, theta, loss, theta_bar, err);
  }
  dp_rollout_free(r);
  return st;
}

dpStatus dp_value(const dpModel *m, const double *theta, const dpLoss *loss, double *L,
                  dpError *err) {
  dpRollout *r = NULL;
  dpStatus st = dp_rollout_new(m, DP_DEVICE_CPU, 0, &r, err);
  if (st != DP_OK) {
    return st;
  }
  *L = 0.0;
  st = dp_rollout_forward(r, theta, loss, L, 1, NULL, NULL, err);
  dp_rollout_free(r);
  return st;
}
