// The CUDA entry points of a build without nvcc (make without CUDA=1): they report
// DP_ERR_NO_CUDA so that `--device cuda` fails with a clear message and CUDA tests skip.
#include <stdio.h>

#include "dp/dp.h"
#include "grad_backend.h"

dpStatus dp_cuda_available(char *why, size_t n) {
  if (why != NULL && n > 0) {
    snprintf(why, n, "built without CUDA (rebuild with make CUDA=1)");
  }
  return DP_ERR_NO_CUDA;
}

dpStatus dp_cuda_backend_new(const dpModel *m, const dpBackendOps **ops, void **ctx,
                             dpError *err) {
  (void)m;
  *ops = NULL;
  *ctx = NULL;
  return dp_error_set(err, DP_ERR_NO_CUDA, NULL, 0, 0,
                      "this build has no CUDA backend (rebuild with make CUDA=1)");
}

// The soft-body element loops (fem.cu) likewise need nvcc.
static dpStatus soft_no_cuda(dpError *err) {
  return dp_error_set(err, DP_ERR_NO_CUDA, NULL, 0, 0,
                      "this build has no CUDA soft-body kernels (rebuild with make CUDA=1)");
}

dpStatus dp_cuda_soft_forces(const dpModel *m, const double *theta, const double *x,
                             const double *v, double *f, dpError *err) {
  (void)m;
  (void)theta;
  (void)x;
  (void)v;
  (void)f;
  return soft_no_cuda(err);
}

dpStatus dp_cuda_soft_hvp(const dpModel *m, const double *theta, const double *x,
                          const double *dx, double *out, dpError *err) {
  (void)m;
  (void)theta;
  (void)x;
  (void)dx;
  (void)out;
  return soft_no_cuda(err);
}

dpStatus dp_cuda_soft_adj_forces(const dpModel *m, const double *theta, const double *x,
                                 const double *v, const double *f_bar, double *x_bar,
                                 double *v_bar, dpError *err) {
  (void)m;
  (void)theta;
  (void)x;
  (void)v;
  (void)f_bar;
  (void)x_bar;
  (void)v_bar;
  return soft_no_cuda(err);
}
