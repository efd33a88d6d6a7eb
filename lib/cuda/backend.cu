// The CUDA backend of the rollout (grad_backend.h): buffers in device memory, and the step and
// its adjoint run on the GPU with the kernel bodies the CPU uses (kernels.cuh), in the same
// substep and RK4 stage structure as core_step.c, so CPU and GPU agree to round-off (~1e-12
// relative in double). One CUDA stream per backend; the host waits only where it reads data.
//
// θ̄ accumulation: entries owned by one particle or one spring (mass, constant force, drags,
// controls u[t], stiffness, damping, rest length, anchor) are updated by their thread with plain
// +=; particle adjoints x̄, v̄ receive the spring contributions with atomicAdd; global entries
// (gravity, collider geometry and contact constants) are summed per block in shared memory and
// added with one atomicAdd per block and entry. Springs scatter forces with atomicAdd, so results
// are reproducible to round-off, not bit for bit, from run to run.
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

#include "dp/dp.h"
extern "C" {
#include "grad_backend.h"
}
#include "cuda_check.cuh"
#include "kernels.cuh"

static unsigned cuda_blocks(size_t n) {
  return (unsigned)((n + DP_CUDA_BLOCK - 1) / DP_CUDA_BLOCK);
}

// ---- availability -------------------------------------------------------------------------------

extern "C" dpStatus dp_cuda_available(char *why, size_t n) {
  char dummy[8];
  if (why == NULL || n == 0) {
    why = dummy;
    n = sizeof dummy;
  }
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    // cudaErrorInsufficientDriver also stands for "no driver at all" (no libcuda).
    snprintf(why, n, "%s (%s: %s)",
             e == cudaErrorNoDevice ? "no CUDA device" : "CUDA unavailable",
             cudaGetErrorName(e), cudaGetErrorString(e));
    return DP_ERR_NO_CUDA;
  }
  if (count == 0) {
    snprintf(why, n, "no CUDA device (cudaGetDeviceCount found none)");
    return DP_ERR_NO_CUDA;
  }
  int dev = 0, major = 0, minor = 0;
  if ((e = cudaGetDevice(&dev)) != cudaSuccess ||
      (e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev)) !=
          cudaSuccess ||
      (e = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev)) !=
          cudaSuccess) {
    (void)cudaGetLastError();
    snprintf(why, n, "CUDA device not usable (%s: %s)", cudaGetErrorName(e),
             cudaGetErrorString(e));
    return DP_ERR_NO_CUDA;
  }
  // The build carries sm_90 code and compute_90 PTX, which older devices cannot run.
  if (major < 9) {
    snprintf(why, n,
             "CUDA device %d has compute capability %d.%d; this build needs 9.0 or newer "
             "(rebuild with NVCCFLAGS for its architecture)",
             dev, major, minor);
    return DP_ERR_NO_CUDA;
  }
  snprintf(why, n, "CUDA device %d (compute capability %d.%d) of %d", dev, major, minor, count);
  return DP_OK;
}

// ---- the backend --------------------------------------------------------------------------------

typedef struct dpCuda {
  const dpModel *m;
  dpDevModel dm;       // kernel view: sizes, offsets, the device pointers below
  cudaStream_t stream;
  size_t n3, ns, ntheta;
  // device
  double *theta, *theta_bar;
  unsigned char *pinned;
  int *sa, *sb, *ctype, *uptr, *uidx;
  double *f;       // forces, n3
  double *fbar;    // force adjoint, n3
  double *sub;     // substep states, (substeps + 1) × ns (slots 1 .. substeps-1 used)
  double *subbar;  // substep adjoints, 2 × ns
  double *stage;   // RK4 stages: 4 × (x, v, f) × n3 (x_0, v_0 alias the input)
  double *work;    // RK4 adjoint: k̄x, k̄v, ȳx, ȳv, n3 each
  double *dadd;    // upload buffer of add_from_host, daddcap
  size_t daddcap;
  // host (pinned)
  double *hstage;  // host_view and theta_bar downloads, hcap
  size_t hcap;
} dpCuda;

static void cuda_destroy(void *ctx) {
  dpCuda *c = (dpCuda *)ctx;
  if (c == NULL) {
    return;
  }
  if (c->stream != NULL) {
    (void)cudaStreamSynchronize(c->stream);
  }
  void *dev[] = {c->theta, c->theta_bar, c->pinned, c->sa,     c->sb,    c->ctype,
                 c->uptr,  c->uidx,      c->f,      c->fbar,   c->sub,   c->subbar,
                 c->stage, c->work,      c->dadd};
  for (size_t k = 0; k < sizeof dev / sizeof dev[0]; k++) {
    if (dev[k] != NULL) {
      (void)cudaFree(dev[k]);
    }
  }
  if (c->hstage != NULL) {
    (void)cudaFreeHost(c->hstage);
  }
  if (c->stream != NULL) {
    (void)cudaStreamDestroy(c->stream);
  }
  (void)cudaGetLastError();
  dp_free(c);
}

// Device buffer of n elements of `size` bytes (at least one element).
static cudaError_t cuda_alloc_bytes(void **p, size_t n, size_t size) {
  return cudaMalloc(p, (n > 0 ? n : 1) * size);
}

static dpStatus cuda_upload(dpCuda *c, void *dst, const void *src, size_t bytes, dpError *err) {
  if (bytes > 0) {
    DP_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream));
  }
  return DP_OK;
}

// Host staging of at least n doubles (grows outside the step if a caller asks for more).
static dpStatus cuda_host_reserve(dpCuda *c, size_t n, dpError *err) {
  if (n <= c->hcap) {
    return DP_OK;
  }
  DP_CUDA_TRY(cudaStreamSynchronize(c->stream));
  if (c->hstage != NULL) {
    DP_CUDA_TRY(cudaFreeHost(c->hstage));
    c->hstage = NULL;
    c->hcap = 0;
  }
  DP_CUDA_TRY(cudaMallocHost((void **)&c->hstage, n * sizeof(double)));
  c->hcap = n;
  return DP_OK;
}

static dpStatus cuda_set_theta(void *ctx, const double *theta, dpError *err) {
  dpCuda *c = (dpCuda *)ctx;
  // From pageable memory the copy has left `theta` when cudaMemcpyAsync returns.
  DP_CUDA_TRY(cudaMemcpyAsync(c->theta, theta, c->ntheta * sizeof(double),
                              cudaMemcpyHostToDevice, c->stream));
  DP_CUDA_TRY(cudaMemsetAsync(c->theta_bar, 0, c->ntheta * sizeof(double), c->stream));
  return DP_OK;
}

// Zeroed like the CPU backend's calloc. NULL on failure (the op has no error argument).
static double *cuda_alloc_op(void *ctx, size_t n) {
  dpCuda *c = (dpCuda *)ctx;
  double *p = NULL;
  if (cuda_alloc_bytes((void **)&p, n, sizeof(double)) != cudaSuccess) {
    (void)cudaGetLastError();
    return NULL;
  }
  if (cudaMemsetAsync(p, 0, (n > 0 ? n : 1) * sizeof(double), c->stream) != cudaSuccess) {
    (void)cudaGetLastError();
    (void)cudaFree(p);
    return NULL;
  }
  return p;
}

static void cuda_release(void *ctx, double *p) {
  dpCuda *c = (dpCuda *)ctx;
  (void)cudaStreamSynchronize(c->stream);
  (void)cudaFree(p);
  (void)cudaGetLastError();
}

static const double *cuda_host_view(void *ctx, const double *dev, size_t n, dpError *err) {
  dpCuda *c = (dpCuda *)ctx;
  cudaError_t e;
  if (cuda_host_reserve(c, n, err) != DP_OK) {
    return NULL;
  }
  if ((e = cudaMemcpyAsync(c->hstage, dev, n * sizeof(double), cudaMemcpyDeviceToHost,
                           c->stream)) != cudaSuccess) {
    cuda_fail(err, e, __FILE__, __LINE__);
    return NULL;
  }
  if ((e = cudaStreamSynchronize(c->stream)) != cudaSuccess) {
    cuda_fail(err, e, __FILE__, __LINE__);
    return NULL;
  }
  return c->hstage;
}

static dpStatus cuda_add_from_host(void *ctx, double *dev, const double *host, size_t n,
                                   dpError *err) {
  dpCuda *c = (dpCuda *)ctx;
  if (n == 0) {
    return DP_OK;
  }
  if (n > c->daddcap) {
    DP_CUDA_TRY(cudaStreamSynchronize(c->stream));
    DP_CUDA_TRY(cudaFree(c->dadd));
    c->dadd = NULL;
    c->daddcap = 0;
    DP_CUDA_TRY(cudaMalloc((void **)&c->dadd, n * sizeof(double)));
    c->daddcap = n;
  }
  // From pageable memory the copy has left `host` when cudaMemcpyAsync returns.
  DP_CUDA_TRY(cudaMemcpyAsync(c->dadd, host, n * sizeof(double), cudaMemcpyHostToDevice,
                              c->stream));
  k_add<<<cuda_blocks(n), DP_CUDA_BLOCK, 0, c->stream>>>(dev, c->dadd, n);
  DP_CUDA_LAUNCHED();
  return DP_OK;
}

static dpStatus cuda_copy(void *ctx, double *dst, const double *src, size_t n, dpError *err) {
  dpCuda *c = (dpCuda *)ctx;
  if (n > 0 && dst != src) {
    DP_CUDA_TRY(cudaMemcpyAsync(dst, src, n * sizeof(double), cudaMemcpyDeviceToDevice,
                                c->stream));
  }
  return DP_OK;
}

static dpStatus cuda_zero(void *ctx, double *dst, size_t n, dpError *err) {
  dpCuda *c = (dpCuda *)ctx;
  if (n > 0) {
    DP_CUDA_TRY(cudaMemsetAsync(dst, 0, n * sizeof(double), c->stream));
  }
  return DP_OK;
}

static dpStatus cuda_initial_state(void *ctx, double *s0, dpError *err) {
  dpCuda *c = (dpCuda *)ctx;
  if (c->dm.np > 0) {
    k_initial_state<<<cuda_blocks((size_t)c->dm.np), DP_CUDA_BLOCK, 0, c->stream>>>(c->dm, s0);
    DP_CUDA_LAUNCHED();
  }
  return DP_OK;
}

static dpStatus cuda_adj_initial_state(void *ctx, const double *s0_bar, dpError *err) {
  dpCuda *c = (dpCuda *)ctx;
  if (c->dm.np > 0) {
    k_adj_initial_state<<<cuda_blocks((size_t)c->dm.np), DP_CUDA_BLOCK, 0, c->stream>>>(
        c->dm, s0_bar);
    DP_CUDA_LAUNCHED();
  }
  return DP_OK;
}

static dpStatus cuda_theta_bar(void *ctx, double *theta_bar, dpError *err) {
  dpCuda *c = (dpCuda *)ctx;
  dpStatus st = cuda_host_reserve(c, c->ntheta, err);
  if (st != DP_OK) {
    return st;
  }
  DP_CUDA_TRY(cudaMemcpyAsync(c->hstage, c->theta_bar, c->ntheta * sizeof(double),
                              cudaMemcpyDeviceToHost, c->stream));
  DP_CUDA_TRY(cudaStreamSynchronize(c->stream));
  for (size_t k = 0; k < c->ntheta; k++) {
    theta_bar[k] += c->hstage[k];
  }
  return DP_OK;
}

// ---- the force stage (dp_forces, adj_dp_forces) -----------------------------------------------

static dpStatus cuda_forces(dpCuda *c, int t, const double *x, const double *v, double *f,
                            dpError *err) {
  const unsigned nb = cuda_blocks((size_t)c->dm.np);
  if (c->dm.np > 0) {
    k_particle_forces<<<nb, DP_CUDA_BLOCK, 0, c->stream>>>(c->dm, t, x, v, f);
    DP_CUDA_LAUNCHED();
  }
  if (c->dm.ns > 0) {
    k_spring_forces<<<cuda_blocks((size_t)c->dm.ns), DP_CUDA_BLOCK, 0, c->stream>>>(c->dm, x, v,
                                                                                     f);
    DP_CUDA_LAUNCHED();
  }
  return DP_OK;
}

static dpStatus cuda_adj_forces(dpCuda *c, int t, const double *x, const double *v,
                                double *x_bar, double *v_bar, const double *f_bar,
                                dpError *err) {
  if (c->dm.np > 0) {
    k_adj_particle_forces<<<cuda_blocks((size_t)c->dm.np), DP_CUDA_BLOCK, 0, c->stream>>>(
        c->dm, t, x, v, x_bar, v_bar, f_bar);
    DP_CUDA_LAUNCHED();
  }
  if (c->dm.ns > 0) {
    k_adj_spring_forces<<<cuda_blocks((size_t)c->dm.ns), DP_CUDA_BLOCK, 0, c->stream>>>(
        c->dm, x, v, x_bar, v_bar, f_bar);
    DP_CUDA_LAUNCHED();
  }
  return DP_OK;
}

// ---- substeps (core_step.c) --------------------------------------------------------------------

static dpStatus cuda_euler_substep(dpCuda *c, int t, double h, const double *s, double *so,
                                   dpError *err) {
  const int semi = c->m->integrator == DP_SEMI_IMPLICIT_EULER;
  dpStatus st = cuda_forces(c, t, s, s + c->n3, c->f, err);
  if (st != DP_OK) {
    return st;
  }
  if (c->dm.np > 0) {
    k_euler_update<<<cuda_blocks((size_t)c->dm.np), DP_CUDA_BLOCK, 0, c->stream>>>(
        c->dm, semi, h, s, so, c->f);
    DP_CUDA_LAUNCHED();
  }
  return DP_OK;
}

// As core_step.c: the mass adjoint comes from the output velocity, no force evaluation.
static dpStatus cuda_adj_euler_substep(dpCuda *c, int t, double h, const double *s,
                                       const double *so, double *s_bar, const double *so_bar,
                                       dpError *err) {
  const int semi = c->m->integrator == DP_SEMI_IMPLICIT_EULER;
  if (c->dm.np > 0) {
    k_adj_euler_update<<<cuda_blocks((size_t)c->dm.np), DP_CUDA_BLOCK, 0, c->stream>>>(
        c->dm, semi, h, s, so, s_bar, c->fbar, so_bar);
    DP_CUDA_LAUNCHED();
  }
  return cuda_adj_forces(c, t, s, s + c->n3, s_bar, s_bar + c->n3, c->fbar, err);
}

// Stage pointers and constants of an RK4 substep from s; as core_step.c.
static dpRk4 cuda_rk4_layout(const dpCuda *c, double h, const double *s) {
  dpRk4 r;
  const size_t n3 = c->n3;
  for (int j = 0; j < 4; j++) {
    const double *xj = c->stage + (size_t)(3 * j) * n3;
    r.x[j] = j == 0 ? s : xj;
    r.v[j] = j == 0 ? s + n3 : xj + n3;
    r.f[j] = xj + 2 * n3;
  }
  const double w[4] = {h / 6, h / 3, h / 3, h / 6};
  const double alpha[4] = {0.0, 0.5 * h, 0.5 * h, h};
  for (int j = 0; j < 4; j++) {
    r.w[j] = w[j];
    r.alpha[j] = alpha[j];
  }
  return r;
}

// The four stages y_j and forces f_j (rk4_stages). Stage 0 reads s in place where the CPU
// copies it: same values.
static dpStatus cuda_rk4_stages(dpCuda *c, int t, const dpRk4 *r, const double *s,
                                dpError *err) {
  const size_t n3 = c->n3;
  dpStatus st;
  for (int j = 0; j < 4; j++) {
    double *xj = c->stage + (size_t)(3 * j) * n3;
    double *vj = xj + n3, *fj = vj + n3;
    if (j > 0 && c->dm.np > 0) {
      k_rk4_stage<<<cuda_blocks((size_t)c->dm.np), DP_CUDA_BLOCK, 0, c->stream>>>(
          c->dm, r->alpha[j], s, r->v[j - 1], r->f[j - 1], xj, vj);
      DP_CUDA_LAUNCHED();
    }
    if ((st = cuda_forces(c, t, r->x[j], r->v[j], fj, err)) != DP_OK) {
      return st;
    }
  }
  return DP_OK;
}

static dpStatus cuda_rk4_substep(dpCuda *c, int t, double h, const double *s, double *so,
                                 dpError *err) {
  dpRk4 r = cuda_rk4_layout(c, h, s);
  dpStatus st = cuda_rk4_stages(c, t, &r, s, err);
  if (st != DP_OK) {
    return st;
  }
  if (c->dm.np > 0) {
    k_rk4_combine<<<cuda_blocks((size_t)c->dm.np), DP_CUDA_BLOCK, 0, c->stream>>>(c->dm, r, s,
                                                                                   so);
    DP_CUDA_LAUNCHED();
  }
  return DP_OK;
}

// adj_rk4_substep: stage j = 3 .. 0, each the adjoint of k_j = (v_j, f_j / m), the force
// adjoint at y_j, then ȳ_j into s_bar and k̄_{j-1}.
static dpStatus cuda_adj_rk4_substep(dpCuda *c, int t, double h, const double *s,
                                     double *s_bar, const double *so_bar, dpError *err) {
  const size_t n3 = c->n3;
  dpRk4 r = cuda_rk4_layout(c, h, s);
  dpStatus st = cuda_rk4_stages(c, t, &r, s, err);
  if (st != DP_OK) {
    return st;
  }
  if (c->dm.np == 0) {
    return DP_OK;
  }
  double *kxb = c->work, *kvb = kxb + n3, *yxb = kvb + n3, *yvb = yxb + n3;
  const unsigned nb = cuda_blocks((size_t)c->dm.np);
  k_rk4_adj_begin<<<nb, DP_CUDA_BLOCK, 0, c->stream>>>(c->dm, r.w[3], so_bar, s_bar, kxb, kvb);
  DP_CUDA_LAUNCHED();
  for (int j = 3; j >= 0; j--) {
    k_rk4_adj_k<<<nb, DP_CUDA_BLOCK, 0, c->stream>>>(c->dm, r.f[j], kxb, kvb, yxb, yvb,
                                                      c->fbar);
    DP_CUDA_LAUNCHED();
    if ((st = cuda_adj_forces(c, t, r.x[j], r.v[j], yxb, yvb, c->fbar, err)) != DP_OK) {
      return st;
    }
    k_rk4_adj_end<<<nb, DP_CUDA_BLOCK, 0, c->stream>>>(
        c->dm, j > 0, j > 0 ? r.w[j - 1] : 0.0, r.alpha[j], so_bar, yxb, yvb, s_bar, kxb, kvb);
    DP_CUDA_LAUNCHED();
  }
  return DP_OK;
}

static dpStatus cuda_substep(dpCuda *c, int t, double h, const double *s, double *so,
                             dpError *err) {
  return c->m->integrator == DP_RK4 ? cuda_rk4_substep(c, t, h, s, so, err)
                                    : cuda_euler_substep(c, t, h, s, so, err);
}

static dpStatus cuda_adj_substep(dpCuda *c, int t, double h, const double *s, const double *so,
                                 double *s_bar, const double *so_bar, dpError *err) {
  return c->m->integrator == DP_RK4 ? cuda_adj_rk4_substep(c, t, h, s, s_bar, so_bar, err)
                                    : cuda_adj_euler_substep(c, t, h, s, so, s_bar, so_bar, err);
}

// ---- the step (dp_step, adj_dp_step) ------------------------------------------------------------

static dpStatus cuda_step(void *ctx, int t, const double *s_in, double *s_out, dpError *err) {
  dpCuda *c = (dpCuda *)ctx;
  const dpModel *m = c->m;
  const double h = m->dt / m->substeps;
  const double *cur = s_in;
  for (int k = 0; k < m->substeps; k++) {
    double *next = k == m->substeps - 1 ? s_out : c->sub + (size_t)(k + 1) * c->ns;
    dpStatus st = cuda_substep(c, t, h, cur, next, err);
    if (st != DP_OK) {
      return st;
    }
    cur = next;
  }
  return DP_OK;
}

static dpStatus cuda_adj_step(void *ctx, int t, const double *s_in, const double *s_out,
                              double *s_in_bar, const double *s_out_bar, dpError *err) {
  dpCuda *c = (dpCuda *)ctx;
  const dpModel *m = c->m;
  const double h = m->dt / m->substeps;
  const size_t ns = c->ns;
  const int nsub = m->substeps;
  dpStatus st;
  if (nsub == 1) {
    return cuda_adj_substep(c, t, h, s_in, s_out, s_in_bar, s_out_bar, err);
  }
  // Recompute the intermediate substep states sub[1 .. nsub-1] (as adj_dp_step).
  const double *cur = s_in;
  for (int k = 0; k < nsub - 1; k++) {
    double *next = c->sub + (size_t)(k + 1) * ns;
    if ((st = cuda_substep(c, t, h, cur, next, err)) != DP_OK) {
      return st;
    }
    cur = next;
  }
  double *a = c->subbar, *b = c->subbar + ns;
  DP_CUDA_TRY(cudaMemcpyAsync(a, s_out_bar, ns * sizeof(double), cudaMemcpyDeviceToDevice,
                              c->stream));
  for (int k = nsub - 1; k >= 1; k--) {
    DP_CUDA_TRY(cudaMemsetAsync(b, 0, ns * sizeof(double), c->stream));
    const double *so = k == nsub - 1 ? s_out : c->sub + (size_t)(k + 1) * ns;
    if ((st = cuda_adj_substep(c, t, h, c->sub + (size_t)k * ns, so, b, a, err)) != DP_OK) {
      return st;
    }
    double *tmp = a;
    a = b;
    b = tmp;
  }
  return cuda_adj_substep(c, t, h, s_in, c->sub + ns, s_in_bar, a, err);
}

static const dpBackendOps cuda_ops = {
    0,                  cuda_set_theta, cuda_alloc_op, cuda_release,
    cuda_host_view,     cuda_add_from_host, cuda_copy, cuda_zero,
    cuda_initial_state, cuda_step,      cuda_adj_step, cuda_adj_initial_state,
    cuda_theta_bar,     cuda_destroy,
};

// Device copies of the model's topology and the scratch of a step, sized from the model.
static dpStatus cuda_setup(dpCuda *c, dpError *err) {
  const dpModel *m = c->m;
  const size_t np = (size_t)m->np, ns_ = (size_t)m->ns, nc = (size_t)m->nc;
  const size_t nu = (size_t)m->nu, n3 = c->n3, nstate = c->ns;
  const size_t nsub = (size_t)m->substeps + 1;
  dpStatus st = DP_OK;
  int *uptr = NULL, *uidx = NULL, *ctype = NULL;

  DP_CUDA_TRY(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
  DP_CUDA_TRY(cuda_alloc_bytes((void **)&c->theta, c->ntheta, sizeof(double)));
  DP_CUDA_TRY(cuda_alloc_bytes((void **)&c->theta_bar, c->ntheta, sizeof(double)));
  DP_CUDA_TRY(cuda_alloc_bytes((void **)&c->pinned, np, 1));
  DP_CUDA_TRY(cuda_alloc_bytes((void **)&c->sa, ns_, sizeof(int)));
  DP_CUDA_TRY(cuda_alloc_bytes((void **)&c->sb, ns_, sizeof(int)));
  DP_CUDA_TRY(cuda_alloc_bytes((void **)&c->ctype, nc, sizeof(int)));
  DP_CUDA_TRY(cuda_alloc_bytes((void **)&c->uptr, np + 1, sizeof(int)));
  DP_CUDA_TRY(cuda_alloc_bytes((void **)&c->uidx, nu, sizeof(int)));
  DP_CUDA_TRY(cuda_alloc_bytes((void **)&c->f, n3, sizeof(double)));
  DP_CUDA_TRY(cuda_alloc_bytes((void **)&c->fbar, n3, sizeof(double)));
  DP_CUDA_TRY(cuda_alloc_bytes((void **)&c->sub, nsub * nstate, sizeof(double)));
  DP_CUDA_TRY(cuda_alloc_bytes((void **)&c->subbar, 2 * nstate, sizeof(double)));
  DP_CUDA_TRY(cuda_alloc_bytes((void **)&c->stage, 12 * n3, sizeof(double)));
  DP_CUDA_TRY(cuda_alloc_bytes((void **)&c->work, 4 * n3, sizeof(double)));
  c->daddcap = nstate > 0 ? nstate : 1;
  DP_CUDA_TRY(cuda_alloc_bytes((void **)&c->dadd, c->daddcap, sizeof(double)));
  c->hcap = nstate > c->ntheta ? nstate : c->ntheta;
  c->hcap = c->hcap > 0 ? c->hcap : 1;
  DP_CUDA_TRY(cudaMallocHost((void **)&c->hstage, c->hcap * sizeof(double)));

  // Controls by particle (CSR, control indices ascending: the CPU's order of addition).
  uptr = (int *)dp_calloc(np + 1, sizeof *uptr);
  uidx = (int *)dp_calloc(nu > 0 ? nu : 1, sizeof *uidx);
  ctype = (int *)dp_calloc(nc > 0 ? nc : 1, sizeof *ctype);
  if (uptr == NULL || uidx == NULL || ctype == NULL) {
    st = dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory for the CUDA backend");
    goto done;
  }
  for (size_t j = 0; j < nu; j++) {
    uptr[m->uparticle[j] + 1]++;
  }
  for (size_t i = 0; i < np; i++) {
    uptr[i + 1] += uptr[i];
  }
  {
    int *fill = (int *)dp_calloc(np + 1, sizeof *fill);
    if (fill == NULL) {
      st = dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory for the CUDA backend");
      goto done;
    }
    for (size_t j = 0; j < nu; j++) {
      int i = m->uparticle[j];
      uidx[uptr[i] + fill[i]++] = (int)j;
    }
    dp_free(fill);
  }
  for (size_t j = 0; j < nc; j++) {
    ctype[j] = (int)m->ctype[j];
  }
  if ((st = cuda_upload(c, c->pinned, m->pinned, np, err)) != DP_OK ||
      (st = cuda_upload(c, c->sa, m->sa, ns_ * sizeof(int), err)) != DP_OK ||
      (st = cuda_upload(c, c->sb, m->sb, ns_ * sizeof(int), err)) != DP_OK ||
      (st = cuda_upload(c, c->ctype, ctype, nc * sizeof(int), err)) != DP_OK ||
      (st = cuda_upload(c, c->uptr, uptr, (np + 1) * sizeof(int), err)) != DP_OK ||
      (st = cuda_upload(c, c->uidx, uidx, nu * sizeof(int), err)) != DP_OK ||
      (st = cuda_upload(c, c->theta, m->theta0, c->ntheta * sizeof(double), err)) != DP_OK) {
    goto done;
  }
  {
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) {
      st = cuda_fail(err, e, __FILE__, __LINE__);
      goto done;
    }
  }
  c->dm.np = m->np;
  c->dm.ns = m->ns;
  c->dm.nc = m->nc;
  c->dm.nu = m->nu;
  c->dm.off = m->off;
  c->dm.pinned = c->pinned;
  c->dm.sa = c->sa;
  c->dm.sb = c->sb;
  c->dm.ctype = c->ctype;
  c->dm.uptr = c->uptr;
  c->dm.uidx = c->uidx;
  c->dm.theta = c->theta;
  c->dm.theta_bar = c->theta_bar;
done:
  dp_free(uptr);
  dp_free(uidx);
  dp_free(ctype);
  return st;
}

extern "C" dpStatus dp_cuda_backend_new(const dpModel *m, const dpBackendOps **ops, void **ctx,
                                        dpError *err) {
  char why[256];
  *ops = NULL;
  *ctx = NULL;
  if (dp_cuda_available(why, sizeof why) != DP_OK) {
    return dp_error_set(err, DP_ERR_NO_CUDA, NULL, 0, 0, "%s", why);
  }
  dpCuda *c = (dpCuda *)dp_calloc(1, sizeof *c);
  if (c == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
  }
  c->m = m;
  c->n3 = 3 * (size_t)m->np;
  c->ns = dp_model_nstate(m);
  c->ntheta = m->ntheta;
  dpStatus st = cuda_setup(c, err);
  if (st != DP_OK) {
    cuda_destroy(c);
    return st;
  }
  *ops = &cuda_ops;
  *ctx = c;
  return DP_OK;
}
