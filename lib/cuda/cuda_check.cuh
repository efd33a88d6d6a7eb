// CUDA error handling shared by the translation units of lib/cuda/ (backend.cu, fem.cu): every
// CUDA call checked, a failure reported as DP_ERR_CUDA naming the file and line (Warp style).
#ifndef DP_CUDA_CHECK_CUH
#define DP_CUDA_CHECK_CUH

#include <cuda_runtime.h>
#include <string.h>

#include "dp/dp.h"

static inline const char *cuda_base(const char *file) {
  const char *s = strrchr(file, '/');
  return s != NULL ? s + 1 : file;
}

static inline dpStatus cuda_fail(dpError *err, cudaError_t e, const char *file, int line) {
  (void)cudaGetLastError();  // clear a non-sticky error so that later launch checks are honest
  return dp_error_set(err, DP_ERR_CUDA, NULL, 0, 0, "cuda error at %s:%d: %s", cuda_base(file),
                      line, cudaGetErrorString(e));
}

// Return from the enclosing function with DP_ERR_CUDA when `call` fails. Needs `err` in scope.
#define DP_CUDA_TRY(call)                                   \
  do {                                                      \
    cudaError_t e_ = (call);                                \
    if (e_ != cudaSuccess) {                                \
      return cuda_fail(err, e_, __FILE__, __LINE__);        \
    }                                                       \
  } while (0)

// After a kernel launch: configuration and launch errors (execution errors surface at the next
// synchronizing call, which is checked too).
#define DP_CUDA_LAUNCHED() DP_CUDA_TRY(cudaGetLastError())

#endif
