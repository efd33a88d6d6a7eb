// The soft-body element loops on the GPU (dp.h, "CUDA soft-body kernels"): internal forces,
// the elastic and bending Hessian-vector product, and the force adjoint in x and v. The rest
// data (Dm⁻¹, volumes and areas, Lamé parameters, hinge rest angles and weights) is computed on
// the host with the kernels fem_prepare uses (tet_rest, fem_lame, tri_rest, cloth_lame,
// hinge_rest), uploaded once per call, and the elements run one per thread (fem_kernels.cuh).
//
// Each call allocates its device buffers (one block of doubles, one of ints) and frees them
// before returning: nothing is kept between calls, so the entry points are reentrant and cost
// two cudaMalloc/cudaFree pairs plus the uploads per call. The default stream is used; the final
// blocking copy to the host surfaces kernel execution errors.
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

#include "dp/dp.h"
#include "cuda_check.cuh"
#include "fem_kernels.cuh"

static unsigned soft_blocks(int n) {
  return (unsigned)(((size_t)n + DP_SOFT_BLOCK - 1) / DP_SOFT_BLOCK);
}

// Device state of one call: the element data and nvec vertex vectors (nvert × 3 each).
typedef struct dpSoftCall {
  dpDevSoft ds;
  size_t n3;
  double *dbuf;  // device: rest data, then the vectors
  int *ibuf;     // device: tet, tmodel, tri, hinge
  double *vec;   // device: first vector in dbuf
} dpSoftCall;

static double *soft_vec(const dpSoftCall *c, int k) {
  return c->vec + (size_t)k * c->n3;
}

// Material entry of element e (tet or triangle index) of soft body s (as phys_fem.c).
static size_t soft_mat_index(const dpModel *m, int s, int e) {
  return (size_t)m->soft_madr[s] + (m->soft_perelem[s] ? (size_t)(e - m->soft_eadr[s]) : 0);
}

static void soft_gather_host(const double *a, const int *id, int n, double *out) {
  for (int k = 0; k < n; k++) {
    for (int c = 0; c < 3; c++) {
      out[3 * k + c] = a[3 * (size_t)id[k] + c];
    }
  }
}

// Rest data of every element from θ into h (doubles, in the device layout of soft_setup) and
// the material model of every tet into tmodel; the same kernel calls as fem_prepare.
static void soft_rest_host(const dpModel *m, const double *theta, double *h, int *tmodel) {
  const dpOffsets *o = &m->off;
  const double *X = theta + o->soft_rest;
  const size_t nt = (size_t)m->ntet, nr = (size_t)m->ntri;
  double *tD = h, *tp = tD + 9 * nt, *rD = tp + 4 * nt, *rp = rD + 4 * nr, *hp = rp + 4 * nr;
  for (int e = 0; e < m->ntet; e++) {
    const int *id = m->tet + 4 * (size_t)e;
    const int s = m->vsoft[id[0]];
    const size_t mi = soft_mat_index(m, s, e);
    double Xe[12], *p = tp + 4 * (size_t)e;
    soft_gather_host(X, id, 4, Xe);
    p[0] = tet_rest(Xe, tD + 9 * (size_t)e);
    fem_lame(theta[o->soft_E + mi], theta[o->soft_nu + mi], &p[1], &p[2]);
    p[3] = theta[o->soft_beta + s];
    tmodel[e] = (int)m->soft_material[s];
  }
  for (int e = 0; e < m->ntri; e++) {
    const int *id = m->tri + 3 * (size_t)e;
    const int s = m->vsoft[id[0]];
    const size_t mi = soft_mat_index(m, s, e);
    double Xe[9], *p = rp + 4 * (size_t)e;
    soft_gather_host(X, id, 3, Xe);
    p[0] = tri_rest(Xe, rD + 4 * (size_t)e);
    cloth_lame(theta[o->soft_E + mi], theta[o->soft_nu + mi], theta[o->soft_thickness + s],
               &p[1], &p[2]);
    p[3] = theta[o->soft_beta + s];
  }
  for (int e = 0; e < m->nhinge; e++) {
    const int *id = m->hinge + 4 * (size_t)e;
    double Xe[12], *p = hp + 3 * (size_t)e;
    soft_gather_host(X, id, 4, Xe);
    p[0] = theta[o->soft_bend + m->vsoft[id[0]]];
    hinge_rest(Xe, &p[1], &p[2]);
  }
}

static void soft_free(dpSoftCall *c) {
  if (c->dbuf != NULL) {
    (void)cudaFree(c->dbuf);
  }
  if (c->ibuf != NULL) {
    (void)cudaFree(c->ibuf);
  }
  (void)cudaGetLastError();
  c->dbuf = NULL;
  c->ibuf = NULL;
}

// Device buffers for m with nvec zeroed vertex vectors, the rest data and topology uploaded.
// On failure the caller still calls soft_free.
static dpStatus soft_setup(const dpModel *m, const double *theta, int nvec, dpSoftCall *c,
                           dpError *err) {
  const size_t nt = (size_t)m->ntet, nr = (size_t)m->ntri, nh = (size_t)m->nhinge;
  const size_t nrest = 13 * nt + 8 * nr + 3 * nh;
  const size_t nint = 5 * nt + 3 * nr + 4 * nh;
  c->n3 = 3 * (size_t)m->nvert;
  const size_t ndbl = nrest + (size_t)nvec * c->n3;
  DP_CUDA_TRY(cudaMalloc((void **)&c->dbuf, (ndbl > 0 ? ndbl : 1) * sizeof(double)));
  DP_CUDA_TRY(cudaMalloc((void **)&c->ibuf, (nint > 0 ? nint : 1) * sizeof(int)));
  double *h = (double *)dp_malloc((nrest > 0 ? nrest : 1) * sizeof *h);
  int *hi = (int *)dp_malloc((nint > 0 ? nint : 1) * sizeof *hi);
  dpStatus st = DP_OK;
  cudaError_t e = cudaSuccess;
  if (h == NULL || hi == NULL) {
    st = dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory for the soft-body rest data");
    goto done;
  }
  {
    int *tet = hi, *tmodel = tet + 4 * nt, *tri = tmodel + nt, *hinge = tri + 3 * nr;
    if (nt > 0) {
      memcpy(tet, m->tet, 4 * nt * sizeof *tet);
    }
    if (nr > 0) {
      memcpy(tri, m->tri, 3 * nr * sizeof *tri);
    }
    if (nh > 0) {
      memcpy(hinge, m->hinge, 4 * nh * sizeof *hinge);
    }
    soft_rest_host(m, theta, h, tmodel);
  }
  if ((nrest > 0 &&
       (e = cudaMemcpy(c->dbuf, h, nrest * sizeof *h, cudaMemcpyHostToDevice)) != cudaSuccess) ||
      (nint > 0 &&
       (e = cudaMemcpy(c->ibuf, hi, nint * sizeof *hi, cudaMemcpyHostToDevice)) != cudaSuccess) ||
      (ndbl > nrest && (e = cudaMemset(c->dbuf + nrest, 0, (ndbl - nrest) * sizeof(double))) !=
                           cudaSuccess)) {
    st = cuda_fail(err, e, __FILE__, __LINE__);
    goto done;
  }
  {
    dpDevSoft *ds = &c->ds;
    ds->ntet = m->ntet;
    ds->ntri = m->ntri;
    ds->nhinge = m->nhinge;
    ds->tD = c->dbuf;
    ds->tp = ds->tD + 9 * nt;
    ds->rD = ds->tp + 4 * nt;
    ds->rp = ds->rD + 4 * nr;
    ds->hp = ds->rp + 4 * nr;
    ds->tet = c->ibuf;
    ds->tmodel = ds->tet + 4 * nt;
    ds->tri = ds->tmodel + nt;
    ds->hinge = ds->tri + 3 * nr;
    c->vec = c->dbuf + nrest;
  }
done:
  dp_free(h);
  dp_free(hi);
  return st;
}

// Common start of an entry point: CUDA usable, else DP_ERR_NO_CUDA with the reason.
static dpStatus soft_check(dpError *err) {
  char why[256];
  if (dp_cuda_available(why, sizeof why) != DP_OK) {
    return dp_error_set(err, DP_ERR_NO_CUDA, NULL, 0, 0, "%s", why);
  }
  return DP_OK;
}

static dpStatus soft_upload(dpSoftCall *c, double *dst, const double *src, dpError *err) {
  DP_CUDA_TRY(cudaMemcpy(dst, src, c->n3 * sizeof(double), cudaMemcpyHostToDevice));
  return DP_OK;
}

static dpStatus soft_download(dpSoftCall *c, double *dst, const double *src, dpError *err) {
  DP_CUDA_TRY(cudaMemcpy(dst, src, c->n3 * sizeof(double), cudaMemcpyDeviceToHost));
  return DP_OK;
}

// Vectors: x, v, f.
static dpStatus soft_forces_run(dpSoftCall *c, const double *x, const double *v, double *f,
                                dpError *err) {
  double *dx = soft_vec(c, 0), *dv = soft_vec(c, 1), *df = soft_vec(c, 2);
  dpStatus st;
  if ((st = soft_upload(c, dx, x, err)) != DP_OK || (st = soft_upload(c, dv, v, err)) != DP_OK) {
    return st;
  }
  const dpDevSoft ds = c->ds;
  if (ds.ntet > 0) {
    k_soft_tet_forces<<<soft_blocks(ds.ntet), DP_SOFT_BLOCK>>>(ds, dx, dv, df);
    DP_CUDA_LAUNCHED();
  }
  if (ds.ntri > 0) {
    k_soft_tri_forces<<<soft_blocks(ds.ntri), DP_SOFT_BLOCK>>>(ds, dx, dv, df);
    DP_CUDA_LAUNCHED();
  }
  if (ds.nhinge > 0) {
    k_soft_hinge_forces<<<soft_blocks(ds.nhinge), DP_SOFT_BLOCK>>>(ds, dx, df);
    DP_CUDA_LAUNCHED();
  }
  return soft_download(c, f, df, err);
}

// Vectors: x, dx, out.
static dpStatus soft_hvp_run(dpSoftCall *c, const double *x, const double *dx, double *out,
                             dpError *err) {
  double *d_x = soft_vec(c, 0), *d_dx = soft_vec(c, 1), *d_out = soft_vec(c, 2);
  dpStatus st;
  if ((st = soft_upload(c, d_x, x, err)) != DP_OK ||
      (st = soft_upload(c, d_dx, dx, err)) != DP_OK) {
    return st;
  }
  const dpDevSoft ds = c->ds;
  if (ds.ntet > 0) {
    k_soft_tet_hvp<<<soft_blocks(ds.ntet), DP_SOFT_BLOCK>>>(ds, d_x, d_dx, d_out);
    DP_CUDA_LAUNCHED();
  }
  if (ds.ntri > 0) {
    k_soft_tri_hvp<<<soft_blocks(ds.ntri), DP_SOFT_BLOCK>>>(ds, d_x, d_dx, d_out);
    DP_CUDA_LAUNCHED();
  }
  if (ds.nhinge > 0) {
    k_soft_hinge_hvp<<<soft_blocks(ds.nhinge), DP_SOFT_BLOCK>>>(ds, d_x, d_dx, d_out);
    DP_CUDA_LAUNCHED();
  }
  return soft_download(c, out, d_out, err);
}

// Vectors: x, v, f_bar, x_bar, v_bar (device adjoints from zero, added to the host's after).
static dpStatus soft_adj_forces_run(dpSoftCall *c, const double *x, const double *v,
                                    const double *f_bar, double *x_bar, double *v_bar,
                                    dpError *err) {
  double *dx = soft_vec(c, 0), *dv = soft_vec(c, 1), *dfb = soft_vec(c, 2);
  double *dxb = soft_vec(c, 3), *dvb = soft_vec(c, 4);
  dpStatus st;
  if ((st = soft_upload(c, dx, x, err)) != DP_OK || (st = soft_upload(c, dv, v, err)) != DP_OK ||
      (st = soft_upload(c, dfb, f_bar, err)) != DP_OK) {
    return st;
  }
  const dpDevSoft ds = c->ds;
  if (ds.nhinge > 0) {
    k_soft_adj_hinge_forces<<<soft_blocks(ds.nhinge), DP_SOFT_BLOCK>>>(ds, dx, dfb, dxb);
    DP_CUDA_LAUNCHED();
  }
  if (ds.ntri > 0) {
    k_soft_adj_tri_forces<<<soft_blocks(ds.ntri), DP_SOFT_BLOCK>>>(ds, dx, dv, dfb, dxb, dvb);
    DP_CUDA_LAUNCHED();
  }
  if (ds.ntet > 0) {
    k_soft_adj_tet_forces<<<soft_blocks(ds.ntet), DP_SOFT_BLOCK>>>(ds, dx, dv, dfb, dxb, dvb);
    DP_CUDA_LAUNCHED();
  }
  // The host arrays accumulate: download both increments into a host scratch, then add.
  double *hb = (double *)dp_malloc(2 * (c->n3 > 0 ? c->n3 : 1) * sizeof *hb);
  if (hb == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory for the soft-body adjoint");
  }
  if ((st = soft_download(c, hb, dxb, err)) == DP_OK &&
      (st = soft_download(c, hb + c->n3, dvb, err)) == DP_OK) {
    for (size_t k = 0; k < c->n3; k++) {
      x_bar[k] += hb[k];
      v_bar[k] += hb[c->n3 + k];
    }
  }
  dp_free(hb);
  return st;
}

extern "C" dpStatus dp_cuda_soft_forces(const dpModel *m, const double *theta, const double *x,
                                        const double *v, double *f, dpError *err) {
  dpStatus st = soft_check(err);
  if (st != DP_OK || m->nvert == 0) {
    return st;
  }
  dpSoftCall c;
  memset(&c, 0, sizeof c);
  if ((st = soft_setup(m, theta != NULL ? theta : m->theta0, 3, &c, err)) == DP_OK) {
    st = soft_forces_run(&c, x, v, f, err);
  }
  soft_free(&c);
  return st;
}

extern "C" dpStatus dp_cuda_soft_hvp(const dpModel *m, const double *theta, const double *x,
                                     const double *dx, double *out, dpError *err) {
  dpStatus st = soft_check(err);
  if (st != DP_OK || m->nvert == 0) {
    return st;
  }
  dpSoftCall c;
  memset(&c, 0, sizeof c);
  if ((st = soft_setup(m, theta != NULL ? theta : m->theta0, 3, &c, err)) == DP_OK) {
    st = soft_hvp_run(&c, x, dx, out, err);
  }
  soft_free(&c);
  return st;
}

extern "C" dpStatus dp_cuda_soft_adj_forces(const dpModel *m, const double *theta,
                                            const double *x, const double *v,
                                            const double *f_bar, double *x_bar, double *v_bar,
                                            dpError *err) {
  dpStatus st = soft_check(err);
  if (st != DP_OK || m->nvert == 0) {
    return st;
  }
  dpSoftCall c;
  memset(&c, 0, sizeof c);
  if ((st = soft_setup(m, theta != NULL ? theta : m->theta0, 5, &c, err)) == DP_OK) {
    st = soft_adj_forces_run(&c, x, v, f_bar, x_bar, v_bar, err);
  }
  soft_free(&c);
  return st;
}
