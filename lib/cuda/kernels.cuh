// The __global__ wrappers of the CUDA backend: thin loops over the DP_HD kernel bodies of
// phys_particle_kern.h, phys_spring_kern.h, phys_contact_kern.h and phys_integrate_kern.h, one
// thread per particle or per spring. Included by backend.cu only (no -rdc: kernels and their
// launches share one translation unit). The CPU loops they mirror are in phys_forces.c and
// core_step.c; every place where the order of floating-point operations differs from the CPU
// is marked "ORDER:".
#ifndef DP_CUDA_KERNELS_CUH
#define DP_CUDA_KERNELS_CUH

#include "dp/dp.h"
#include "phys_contact_kern.h"
#include "phys_integrate_kern.h"
#include "phys_particle_kern.h"
#include "phys_spring_kern.h"

// Threads per block of every launch; a multiple of 32 (the block reductions rely on it).
#define DP_CUDA_BLOCK 256

// The model as the kernels see it: sizes, θ offsets and device copies of the topology.
typedef struct dpDevModel {
  int np, ns, nc, nu;
  dpOffsets off;
  const unsigned char *pinned;  // np
  const int *sa, *sb;           // ns
  const int *ctype;             // nc (dpColliderType as int)
  const int *uptr, *uidx;       // controls of particle i: uidx[uptr[i] .. uptr[i+1]) (CSR)
  const double *theta;          // ntheta
  double *theta_bar;            // ntheta
} dpDevModel;

// Stage states of one RK4 substep: x_j, v_j, f_j (np × 3 each) for j = 0..3 (x_0, v_0 alias
// the substep input), weights w and stage offsets α as in core_step.c.
typedef struct dpRk4 {
  const double *x[4], *v[4], *f[4];
  double w[4], alpha[4];
} dpRk4;

__device__ static inline int dp_tid(void) {
  return (int)(blockIdx.x * blockDim.x + threadIdx.x);
}

// Block-wide sum of N per-thread values; thread q < N adds the block's sum of value q to
// dst_a[q] (q < na) or dst_b[q - na] with one atomicAdd per block. Every thread of the block
// must call it (warp shuffles and __syncthreads). Within a block the tree is fixed; only the
// order in which blocks add is not. sh: N × 32 doubles of shared memory.
template <int N>
__device__ static void dp_block_accumulate(const double (&v)[N], double *sh, double *dst_a,
                                           int na, double *dst_b) {
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  const unsigned nwarps = blockDim.x >> 5;
#pragma unroll
  for (int q = 0; q < N; q++) {
    double r = v[q];
    for (int o = 16; o > 0; o >>= 1) {
      r += __shfl_down_sync(0xffffffffu, r, o);
    }
    if (lane == 0) {
      sh[q * 32 + warp] = r;
    }
  }
  __syncthreads();
  if (threadIdx.x < (unsigned)N) {
    int q = (int)threadIdx.x;
    double s = 0.0;
    for (unsigned w = 0; w < nwarps; w++) {
      s += sh[q * 32 + w];
    }
    if (s != 0.0) {
      atomicAdd(q < na ? dst_a + q : dst_b + (q - na), s);
    }
  }
  __syncthreads();
}

// ---- state ------------------------------------------------------------------------------------

// s0 = [x0 | v0], pinned velocities zero (dp_initial_state).
__global__ void k_initial_state(dpDevModel dm, double *s0) {
  int i = dp_tid();
  if (i >= dm.np) {
    return;
  }
  const size_t n3 = 3 * (size_t)dm.np, i3 = 3 * (size_t)i;
  const double *th = dm.theta;
  for (int c = 0; c < 3; c++) {
    s0[i3 + c] = th[dm.off.x0 + i3 + c];
    s0[n3 + i3 + c] = dm.pinned[i] ? 0.0 : th[dm.off.v0 + i3 + c];
  }
}

// θ̄[x0, v0] += s0_bar, pinned velocities excluded (adj_dp_initial_state).
__global__ void k_adj_initial_state(dpDevModel dm, const double *s0_bar) {
  int i = dp_tid();
  if (i >= dm.np) {
    return;
  }
  const size_t n3 = 3 * (size_t)dm.np, i3 = 3 * (size_t)i;
  double *tb = dm.theta_bar;
  for (int c = 0; c < 3; c++) {
    tb[dm.off.x0 + i3 + c] += s0_bar[i3 + c];
    if (!dm.pinned[i]) {
      tb[dm.off.v0 + i3 + c] += s0_bar[n3 + i3 + c];
    }
  }
}

// dev[k] += add[k] (add_from_host, after the upload into add).
__global__ void k_add(double *dev, const double *add, size_t n) {
  size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (k < n) {
    dev[k] += add[k];
  }
}

// ---- forces (dp_forces) -----------------------------------------------------------------------

// Per particle: particle_force (gravity, constant force, drag), the controls u[t] of the
// particle, and the contact with every collider; written to f. Springs are added afterwards by
// k_spring_forces.
// ORDER: the CPU adds springs before contacts; here contacts come first, springs last (in the
// order the atomics land).
__global__ void k_particle_forces(dpDevModel dm, int t, const double *x, const double *v,
                                  double *f) {
  int i = dp_tid();
  if (i >= dm.np) {
    return;
  }
  const dpOffsets *o = &dm.off;
  const double *th = dm.theta;
  const size_t i3 = 3 * (size_t)i;
  double fi[3];
  particle_force(fi, th[o->mass + i], th + o->gravity, th + o->force + i3, NULL,
                 th[o->drag_lin + i], th[o->drag_quad + i], v + i3);
  if (dm.nu > 0) {
    const double *u = th + o->controls + (size_t)t * dm.nu * 3;
    for (int q = dm.uptr[i]; q < dm.uptr[i + 1]; q++) {
      const double *uj = u + 3 * (size_t)dm.uidx[q];
      fi[0] += uj[0];
      fi[1] += uj[1];
      fi[2] += uj[2];
    }
  }
  for (int j = 0; j < dm.nc; j++) {
    contact_force(fi, dm.ctype[j], th + o->cgeom + (size_t)DP_CGEOM * j,
                  th + o->ccontact + (size_t)DP_CCONTACT * j, th[o->radius + i], x + i3, v + i3);
  }
  f[i3] = fi[0];
  f[i3 + 1] = fi[1];
  f[i3 + 2] = fi[2];
}

// Per spring: spring_force, scattered into f with atomicAdd (+fa on a, -fa on b).
__global__ void k_spring_forces(dpDevModel dm, const double *x, const double *v, double *f) {
  int s = dp_tid();
  if (s >= dm.ns) {
    return;
  }
  const dpOffsets *o = &dm.off;
  const double *th = dm.theta;
  const int a = dm.sa[s], b = dm.sb[s];
  const size_t a3 = 3 * (size_t)a;
  double fa[3];
  if (b >= 0) {
    const size_t b3 = 3 * (size_t)b;
    spring_force(fa, x + a3, x + b3, v + a3, v + b3, th[o->k + s], th[o->c + s],
                 th[o->rest + s]);
    atomicAdd(f + b3, -fa[0]);
    atomicAdd(f + b3 + 1, -fa[1]);
    atomicAdd(f + b3 + 2, -fa[2]);
  } else {
    const double zero3[3] = {0.0, 0.0, 0.0};
    spring_force(fa, x + a3, th + o->anchor + 3 * (size_t)s, v + a3, zero3, th[o->k + s],
                 th[o->c + s], th[o->rest + s]);
  }
  atomicAdd(f + a3, fa[0]);
  atomicAdd(f + a3 + 1, fa[1]);
  atomicAdd(f + a3 + 2, fa[2]);
}

// ---- force adjoint (adj_dp_forces) ------------------------------------------------------------

// Per particle, given f_bar: adj_contact_force for every collider, the controls' adjoint and
// adj_particle_force, accumulated into x_bar, v_bar (this thread's particle only, so plain
// stores) and θ̄. θ̄ entries of the particle (mass, force, drags) and of its controls u[t] are
// owned by the thread. The global entries (gravity, collider geometry and contact constants) are
// summed per block (dp_block_accumulate) and added with one atomicAdd per block and entry; a
// block with no contribution to a collider skips its reduction (__syncthreads_or).
// ORDER: the CPU accumulates x_bar, v_bar as contacts, springs, particle force; here contacts,
// particle force, then springs (k_adj_spring_forces). Global θ̄ entries are summed per block
// first, where the CPU adds particle by particle.
__global__ void __launch_bounds__(DP_CUDA_BLOCK)
    k_adj_particle_forces(dpDevModel dm, int t, const double *x, const double *v, double *x_bar,
                          double *v_bar, const double *f_bar) {
  __shared__ double sh[(DP_CGEOM + DP_CCONTACT) * 32];
  const int i = dp_tid();
  const bool on = i < dm.np;  // inactive threads still take part in the block reductions
  const dpOffsets *o = &dm.off;
  const double *th = dm.theta;
  double *tb = dm.theta_bar;
  const size_t i3 = on ? 3 * (size_t)i : 0;
  double xi[3] = {0.0, 0.0, 0.0}, vi[3] = {0.0, 0.0, 0.0}, fb[3] = {0.0, 0.0, 0.0};
  double xb[3] = {0.0, 0.0, 0.0}, vb[3] = {0.0, 0.0, 0.0};
  const double ri = on ? th[o->radius + i] : 0.0;
  double rb = 0.0;  // the particle's radius adjoint (owned by the thread)
  if (on) {
    for (int c = 0; c < 3; c++) {
      xi[c] = x[i3 + c];
      vi[c] = v[i3 + c];
      fb[c] = f_bar[i3 + c];
      xb[c] = x_bar[i3 + c];
      vb[c] = v_bar[i3 + c];
    }
  }
  for (int j = 0; j < dm.nc; j++) {
    double part[DP_CGEOM + DP_CCONTACT];  // geom_bar (DP_CGEOM) then kc_bar (DP_CCONTACT)
    int nonzero = 0;
#pragma unroll
    for (int q = 0; q < DP_CGEOM + DP_CCONTACT; q++) {
      part[q] = 0.0;
    }
    if (on) {
      adj_contact_force(dm.ctype[j], th + o->cgeom + (size_t)DP_CGEOM * j,
                        th + o->ccontact + (size_t)DP_CCONTACT * j, ri, xi, vi,
                        xb, vb, part, part + DP_CGEOM, &rb, fb);
#pragma unroll
      for (int q = 0; q < DP_CGEOM + DP_CCONTACT; q++) {
        nonzero |= part[q] != 0.0;
      }
    }
    if (__syncthreads_or(nonzero)) {
      dp_block_accumulate<DP_CGEOM + DP_CCONTACT>(part, sh, tb + o->cgeom + (size_t)DP_CGEOM * j,
                                                   DP_CGEOM,
                                                   tb + o->ccontact + (size_t)DP_CCONTACT * j);
    }
  }
  double gb[3] = {0.0, 0.0, 0.0};
  if (on) {
    if (dm.nu > 0) {
      double *u_bar = tb + o->controls + (size_t)t * dm.nu * 3;
      for (int q = dm.uptr[i]; q < dm.uptr[i + 1]; q++) {
        double *ub = u_bar + 3 * (size_t)dm.uidx[q];
        ub[0] += fb[0];
        ub[1] += fb[1];
        ub[2] += fb[2];
      }
    }
    adj_particle_force(th[o->mass + i], th + o->gravity, th + o->force + i3, NULL,
                       th[o->drag_lin + i], th[o->drag_quad + i], vi, tb + o->mass + i, gb,
                       tb + o->force + i3, NULL, tb + o->drag_lin + i, tb + o->drag_quad + i, vb,
                       fb);
    tb[o->radius + i] += rb;
    for (int c = 0; c < 3; c++) {
      x_bar[i3 + c] = xb[c];
      v_bar[i3 + c] = vb[c];
    }
  }
  if (__syncthreads_or(gb[0] != 0.0 || gb[1] != 0.0 || gb[2] != 0.0)) {
    dp_block_accumulate<3>(gb, sh, tb + o->gravity, 3, NULL);
  }
}

// Per spring, given f_bar: adj_spring_force. Endpoint adjoints go to x_bar, v_bar with
// atomicAdd; θ̄ of the spring (k, c, rest, anchor) is owned by the thread.
__global__ void k_adj_spring_forces(dpDevModel dm, const double *x, const double *v,
                                    double *x_bar, double *v_bar, const double *f_bar) {
  int s = dp_tid();
  if (s >= dm.ns) {
    return;
  }
  const dpOffsets *o = &dm.off;
  const double *th = dm.theta;
  double *tb = dm.theta_bar;
  const int a = dm.sa[s], b = dm.sb[s];
  const size_t a3 = 3 * (size_t)a;
  double xab[3] = {0.0, 0.0, 0.0}, vab[3] = {0.0, 0.0, 0.0};
  if (b >= 0) {
    const size_t b3 = 3 * (size_t)b;
    double fab[3] = {f_bar[a3] - f_bar[b3], f_bar[a3 + 1] - f_bar[b3 + 1],
                     f_bar[a3 + 2] - f_bar[b3 + 2]};
    double xbb[3] = {0.0, 0.0, 0.0}, vbb[3] = {0.0, 0.0, 0.0};
    adj_spring_force(x + a3, x + b3, v + a3, v + b3, th[o->k + s], th[o->c + s],
                     th[o->rest + s], xab, xbb, vab, vbb, tb + o->k + s, tb + o->c + s,
                     tb + o->rest + s, fab);
    for (int c = 0; c < 3; c++) {
      atomicAdd(x_bar + b3 + c, xbb[c]);
      atomicAdd(v_bar + b3 + c, vbb[c]);
    }
  } else {
    const double zero3[3] = {0.0, 0.0, 0.0};
    adj_spring_force(x + a3, th + o->anchor + 3 * (size_t)s, v + a3, zero3, th[o->k + s],
                     th[o->c + s], th[o->rest + s], xab, tb + o->anchor + 3 * (size_t)s, vab,
                     NULL, tb + o->k + s, tb + o->c + s, tb + o->rest + s, f_bar + a3);
  }
  for (int c = 0; c < 3; c++) {
    atomicAdd(x_bar + a3 + c, xab[c]);
    atomicAdd(v_bar + a3 + c, vab[c]);
  }
}

// ---- Euler (core_step.c: euler_substep, adj_euler_substep) -------------------------------------

__global__ void k_euler_update(dpDevModel dm, int semi, double h, const double *s, double *so,
                               const double *f) {
  int i = dp_tid();
  if (i >= dm.np) {
    return;
  }
  const size_t n3 = 3 * (size_t)dm.np, i3 = 3 * (size_t)i;
  euler_update(so + i3, so + n3 + i3, semi, h, dm.theta[dm.off.mass + i], dm.pinned[i], s + i3,
               s + n3 + i3, f + i3);
}

// s_bar += ..., θ̄[mass] += ..., f_bar = (written, from zero) the force adjoint.
__global__ void k_adj_euler_update(dpDevModel dm, int semi, double h, const double *s,
                                   const double *so, double *s_bar, double *f_bar,
                                   const double *so_bar) {
  int i = dp_tid();
  if (i >= dm.np) {
    return;
  }
  const size_t n3 = 3 * (size_t)dm.np, i3 = 3 * (size_t)i;
  double fb[3] = {0.0, 0.0, 0.0};
  adj_euler_update(semi, h, dm.theta[dm.off.mass + i], dm.pinned[i], s + n3 + i3,
                   so + n3 + i3, dm.theta_bar + dm.off.mass + i, s_bar + i3, s_bar + n3 + i3, fb,
                   so_bar + i3, so_bar + n3 + i3);
  f_bar[i3] = fb[0];
  f_bar[i3 + 1] = fb[1];
  f_bar[i3 + 2] = fb[2];
}

// ---- RK4 (core_step.c: rk4_stages, rk4_substep, adj_rk4_substep) -------------------------------
// The per-particle bodies are rk4_stage, rk4_combine and adj_rk4_slope of phys_integrate_kern.h,
// the same the CPU loops call.

// y_j = y + α_j k_{j-1}: xj = x + a v_{j-1}, vj = v + a f_{j-1} / m (a = 0 when pinned).
__global__ void k_rk4_stage(dpDevModel dm, double alpha_j, const double *s, const double *vp,
                            const double *fp, double *xj, double *vj) {
  int i = dp_tid();
  if (i >= dm.np) {
    return;
  }
  const size_t n3 = 3 * (size_t)dm.np, i3 = 3 * (size_t)i;
  rk4_stage(xj + i3, vj + i3, dm.pinned[i] ? 0.0 : alpha_j, dm.theta[dm.off.mass + i], s + i3,
            s + n3 + i3, vp + i3, fp + i3);
}

// y' = y + Σ_j w_j k_j, summed j = 0..3 as on the CPU; pinned particles keep y.
__global__ void k_rk4_combine(dpDevModel dm, dpRk4 r, const double *s, double *so) {
  int i = dp_tid();
  if (i >= dm.np) {
    return;
  }
  const size_t n3 = 3 * (size_t)dm.np, i3 = 3 * (size_t)i;
  const double *vs[4], *fs[4];
  for (int j = 0; j < 4; j++) {
    vs[j] = r.v[j] + i3;
    fs[j] = r.f[j] + i3;
  }
  rk4_combine(so + i3, so + n3 + i3, r.w, dm.theta[dm.off.mass + i], dm.pinned[i], s + i3,
              s + n3 + i3, vs, fs);
}

// Start of the RK4 adjoint: s_bar += so_bar; k̄_3 = w_3 so_bar.
__global__ void k_rk4_adj_begin(dpDevModel dm, double w3, const double *so_bar, double *s_bar,
                                double *kxb, double *kvb) {
  int i = dp_tid();
  if (i >= dm.np) {
    return;
  }
  const size_t n3 = 3 * (size_t)dm.np;
  for (int c = 0; c < 3; c++) {
    size_t k = 3 * (size_t)i + c;
    s_bar[k] += so_bar[k];
    s_bar[n3 + k] += so_bar[n3 + k];
    kxb[k] = w3 * so_bar[k];
    kvb[k] = w3 * so_bar[n3 + k];
  }
}

// Adjoint of k_j = (v_j, f_j / m): ȳ_j and f̄_j are reset and set from k̄_j (pinned: zero);
// θ̄[mass] += -(k̄_v · f_j) / m².
__global__ void k_rk4_adj_k(dpDevModel dm, const double *fj, const double *kxb,
                            const double *kvb, double *yxb, double *yvb, double *f_bar) {
  int i = dp_tid();
  if (i >= dm.np) {
    return;
  }
  const size_t i3 = 3 * (size_t)i;
  for (int c = 0; c < 3; c++) {
    yxb[i3 + c] = 0.0;
    yvb[i3 + c] = 0.0;
    f_bar[i3 + c] = 0.0;
  }
  if (!dm.pinned[i]) {
    adj_rk4_slope(dm.theta[dm.off.mass + i], fj + i3, dm.theta_bar + dm.off.mass + i, yvb + i3,
                  f_bar + i3, kxb + i3, kvb + i3);
  }
}

// After the force adjoint of stage j: s_bar += ȳ_j; for j > 0, k̄_{j-1} = w_{j-1} so_bar + α_j ȳ_j.
__global__ void k_rk4_adj_end(dpDevModel dm, int has_prev, double w_prev, double alpha_j,
                              const double *so_bar, const double *yxb, const double *yvb,
                              double *s_bar, double *kxb, double *kvb) {
  int i = dp_tid();
  if (i >= dm.np) {
    return;
  }
  const size_t n3 = 3 * (size_t)dm.np;
  for (int c = 0; c < 3; c++) {
    size_t k = 3 * (size_t)i + c;
    s_bar[k] += yxb[k];
    s_bar[n3 + k] += yvb[k];
    if (has_prev) {
      kxb[k] = w_prev * so_bar[k] + alpha_j * yxb[k];
      kvb[k] = w_prev * so_bar[n3 + k] + alpha_j * yvb[k];
    }
  }
}

#endif
