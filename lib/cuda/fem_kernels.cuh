// The __global__ wrappers of the soft-body element loops: one thread per tetrahedron, triangle or
// hinge gathers its vertices, calls the DP_HD kernel body of phys_fem_kern.h or
// phys_cloth_kern.h and scatters into the vertex arrays with atomicAdd. They mirror force_int,
// adj_force_int and hess_vec of phys_fem.c; the element rest data comes precomputed (fem.cu).
// Included by fem.cu only (no -rdc: kernels and their launches share one translation unit).
// ORDER: the CPU adds elements in index order, tets, triangles, then hinges; here the atomics
// land in whatever order the threads reach them.
#ifndef DP_CUDA_FEM_KERNELS_CUH
#define DP_CUDA_FEM_KERNELS_CUH

#include "phys_cloth_kern.h"
#include "phys_fem_kern.h"

// Threads per block of the element launches (the kernel bodies are register-heavy).
#define DP_SOFT_BLOCK 128

// Per-element data of the soft bodies as the kernels see it (device pointers).
typedef struct dpDevSoft {
  int ntet, ntri, nhinge;
  const int *tet;      // ntet × 4 vertex indices
  const int *tmodel;   // ntet: DP_FEM_* of the tet's soft body
  const double *tD;    // ntet × 9: Dm⁻¹, 1/m
  const double *tp;    // ntet × 4: rest volume W (m³), μ, λ (Pa), β (s)
  const int *tri;      // ntri × 3
  const double *rD;    // ntri × 4: Dm⁻¹, 1/m
  const double *rp;    // ntri × 4: rest area A (m²), μ, λ (N/m), β (s)
  const int *hinge;    // nhinge × 4
  const double *hp;    // nhinge × 3: kb (N·m), rest angle θ̄ (rad), weight c
} dpDevSoft;

__device__ static inline int soft_tid(void) {
  return (int)(blockIdx.x * blockDim.x + threadIdx.x);
}

// out (3N) = the vertices id[0 .. N) of a (nvert × 3).
template <int N>
__device__ static inline void soft_gather(const double *a, const int *id, double *out) {
#pragma unroll
  for (int k = 0; k < N; k++) {
    const size_t i3 = 3 * (size_t)id[k];
    out[3 * k] = a[i3];
    out[3 * k + 1] = a[i3 + 1];
    out[3 * k + 2] = a[i3 + 2];
  }
}

// a (nvert × 3) += in (3N) at the vertices id[0 .. N).
template <int N>
__device__ static inline void soft_scatter(double *a, const int *id, const double *in) {
#pragma unroll
  for (int k = 0; k < N; k++) {
    const size_t i3 = 3 * (size_t)id[k];
    atomicAdd(a + i3, in[3 * k]);
    atomicAdd(a + i3 + 1, in[3 * k + 1]);
    atomicAdd(a + i3 + 2, in[3 * k + 2]);
  }
}

// ---- forces (force_int without the mass damping, xd = x) ---------------------------------------

__global__ void k_soft_tet_forces(dpDevSoft ds, const double *x, const double *v, double *f) {
  const int e = soft_tid();
  if (e >= ds.ntet) {
    return;
  }
  const int *id = ds.tet + 4 * (size_t)e;
  const double *p = ds.tp + 4 * (size_t)e;
  double xe[12], ve[12], fe[12];
  soft_gather<4>(x, id, xe);
  soft_gather<4>(v, id, ve);
  tet_force(ds.tmodel[e], xe, xe, ve, ds.tD + 9 * (size_t)e, p[0], p[1], p[2], p[3], fe);
  soft_scatter<4>(f, id, fe);
}

__global__ void k_soft_tri_forces(dpDevSoft ds, const double *x, const double *v, double *f) {
  const int e = soft_tid();
  if (e >= ds.ntri) {
    return;
  }
  const int *id = ds.tri + 3 * (size_t)e;
  const double *p = ds.rp + 4 * (size_t)e;
  double xe[9], ve[9], fe[9];
  soft_gather<3>(x, id, xe);
  soft_gather<3>(v, id, ve);
  tri_force(xe, xe, ve, ds.rD + 4 * (size_t)e, p[0], p[1], p[2], p[3], fe);
  soft_scatter<3>(f, id, fe);
}

__global__ void k_soft_hinge_forces(dpDevSoft ds, const double *x, double *f) {
  const int e = soft_tid();
  if (e >= ds.nhinge) {
    return;
  }
  const int *id = ds.hinge + 4 * (size_t)e;
  const double *p = ds.hp + 3 * (size_t)e;
  double xe[12], fe[12];
  soft_gather<4>(x, id, xe);
  hinge_force(xe, p[0], p[1], p[2], fe);
  soft_scatter<4>(f, id, fe);
}

// ---- elastic and bending Hessian-vector products (hess_vec's K part) ---------------------------

__global__ void k_soft_tet_hvp(dpDevSoft ds, const double *x, const double *dx, double *out) {
  const int e = soft_tid();
  if (e >= ds.ntet) {
    return;
  }
  const int *id = ds.tet + 4 * (size_t)e;
  const double *p = ds.tp + 4 * (size_t)e;
  double xe[12], de[12], ke[12];
  soft_gather<4>(x, id, xe);
  soft_gather<4>(dx, id, de);
  tet_elastic_hvp(ds.tmodel[e], xe, ds.tD + 9 * (size_t)e, p[0], p[1], p[2], de, ke);
  soft_scatter<4>(out, id, ke);
}

__global__ void k_soft_tri_hvp(dpDevSoft ds, const double *x, const double *dx, double *out) {
  const int e = soft_tid();
  if (e >= ds.ntri) {
    return;
  }
  const int *id = ds.tri + 3 * (size_t)e;
  const double *p = ds.rp + 4 * (size_t)e;
  double xe[9], de[9], ke[9];
  soft_gather<3>(x, id, xe);
  soft_gather<3>(dx, id, de);
  tri_elastic_hvp(xe, ds.rD + 4 * (size_t)e, p[0], p[1], p[2], de, ke);
  soft_scatter<3>(out, id, ke);
}

__global__ void k_soft_hinge_hvp(dpDevSoft ds, const double *x, const double *dx, double *out) {
  const int e = soft_tid();
  if (e >= ds.nhinge) {
    return;
  }
  const int *id = ds.hinge + 4 * (size_t)e;
  const double *p = ds.hp + 3 * (size_t)e;
  double xe[12], de[12], ke[12];
  soft_gather<4>(x, id, xe);
  soft_gather<4>(dx, id, de);
  hinge_hvp(xe, p[0], p[1], p[2], de, ke);
  soft_scatter<4>(out, id, ke);
}

// ---- force adjoints (adj_force_int's element loops, xd = x) ------------------------------------
// Only x_bar and v_bar leave the thread: the adjoints of the rest data and of β, kb are not
// asked for (they would need the adjoint of the host-side rest data, adj_fem_prepare).

__global__ void k_soft_adj_tet_forces(dpDevSoft ds, const double *x, const double *v,
                                      const double *f_bar, double *x_bar, double *v_bar) {
  const int e = soft_tid();
  if (e >= ds.ntet) {
    return;
  }
  const int *id = ds.tet + 4 * (size_t)e;
  const double *p = ds.tp + 4 * (size_t)e;
  double xe[12], ve[12], fb[12], xb[12], xdb[12], vb[12], Db[9];
  double Wb = 0.0, mub = 0.0, lamb = 0.0, betab = 0.0;
  soft_gather<4>(x, id, xe);
  soft_gather<4>(v, id, ve);
  soft_gather<4>(f_bar, id, fb);
  for (int k = 0; k < 12; k++) {
    xb[k] = xdb[k] = vb[k] = 0.0;
  }
  for (int k = 0; k < 9; k++) {
    Db[k] = 0.0;
  }
  adj_tet_force(ds.tmodel[e], xe, xe, ve, ds.tD + 9 * (size_t)e, p[0], p[1], p[2], p[3], xb,
                xdb, vb, Db, &Wb, &mub, &lamb, &betab, fb);
  // ORDER: the CPU scatters x̄ and x̄_d separately (x_bar and xd_bar alias); here their sum.
  for (int k = 0; k < 12; k++) {
    xb[k] += xdb[k];
  }
  soft_scatter<4>(x_bar, id, xb);
  soft_scatter<4>(v_bar, id, vb);
}

__global__ void k_soft_adj_tri_forces(dpDevSoft ds, const double *x, const double *v,
                                      const double *f_bar, double *x_bar, double *v_bar) {
  const int e = soft_tid();
  if (e >= ds.ntri) {
    return;
  }
  const int *id = ds.tri + 3 * (size_t)e;
  const double *p = ds.rp + 4 * (size_t)e;
  double xe[9], ve[9], fb[9], xb[9], xdb[9], vb[9], Db[4] = {0.0, 0.0, 0.0, 0.0};
  double Ab = 0.0, mub = 0.0, lamb = 0.0, betab = 0.0;
  soft_gather<3>(x, id, xe);
  soft_gather<3>(v, id, ve);
  soft_gather<3>(f_bar, id, fb);
  for (int k = 0; k < 9; k++) {
    xb[k] = xdb[k] = vb[k] = 0.0;
  }
  adj_tri_force(xe, xe, ve, ds.rD + 4 * (size_t)e, p[0], p[1], p[2], p[3], xb, xdb, vb, Db, &Ab,
                &mub, &lamb, &betab, fb);
  for (int k = 0; k < 9; k++) {
    xb[k] += xdb[k];
  }
  soft_scatter<3>(x_bar, id, xb);
  soft_scatter<3>(v_bar, id, vb);
}

__global__ void k_soft_adj_hinge_forces(dpDevSoft ds, const double *x, const double *f_bar,
                                        double *x_bar) {
  const int e = soft_tid();
  if (e >= ds.nhinge) {
    return;
  }
  const int *id = ds.hinge + 4 * (size_t)e;
  const double *p = ds.hp + 3 * (size_t)e;
  double xe[12], fb[12], xb[12];
  double kbb = 0.0, th0b = 0.0, cb = 0.0;
  soft_gather<4>(x, id, xe);
  soft_gather<4>(f_bar, id, fb);
  for (int k = 0; k < 12; k++) {
    xb[k] = 0.0;
  }
  adj_hinge_force(xe, p[0], p[1], p[2], xb, &kbb, &th0b, &cb, fb);
  soft_scatter<4>(x_bar, id, xb);
}

#endif
