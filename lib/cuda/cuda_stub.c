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
