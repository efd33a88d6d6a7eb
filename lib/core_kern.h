// Macros and small vector helpers shared by every *_kern.h kernel body. Kernel bodies are plain C
// that nvcc also compiles as C++ (DP_HD marks them host+device); no VLAs, no compound literals.
#ifndef DP_CORE_KERN_H
#define DP_CORE_KERN_H

#include <math.h>

#ifdef __CUDACC__
#define DP_HD __host__ __device__
#define DP_RESTRICT __restrict__
#else
#define DP_HD
#ifdef __cplusplus
#define DP_RESTRICT __restrict__
#else
#define DP_RESTRICT restrict
#endif
#endif

DP_HD static inline double dp_dot3(const double *a, const double *b) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

DP_HD static inline double dp_norm3(const double *a) {
  return sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
}

// Numerically stable softplus log(1 + e^z) and logistic sigmoid 1 / (1 + e^-z).
DP_HD static inline double dp_softplus(double z) {
  return (z > 0 ? z : 0.0) + log1p(exp(-fabs(z)));
}

DP_HD static inline double dp_sigmoid(double z) {
  if (z >= 0) {
    return 1.0 / (1.0 + exp(-z));
  }
  double e = exp(z);
  return e / (1.0 + e);
}

#endif
