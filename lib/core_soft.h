// Internal interface between the model builder (core_model.c) and the soft-body part of it
// (core_soft.c): definitions kept until finalize, validation, topology, θ layout and entries.
#ifndef DP_CORE_SOFT_H
#define DP_CORE_SOFT_H

#include "dp/dp.h"

typedef struct dpSoftBuild dpSoftBuild;

// Table of named θ entries under construction (core_model.c).
typedef struct {
  dpModel *m;
  size_t cap;
} ParamTable;
int table_add(ParamTable *t, size_t offset, size_t len, double lo, double hi, const char *fmt,
              const char *a, const char *field);

void soft_build_free(dpSoftBuild *sb, int nsoft);
// Validate the definitions and build the model's topology arrays (sets nvert, ntet, ...).
dpStatus soft_compile(dpModel *m, const dpSoftBuild *sb, dpError *err);
// Offsets of the soft-body entries of θ from `at` on; returns the new end.
size_t soft_layout(dpModel *m, size_t at);
void soft_fill_theta(const dpModel *m, const dpSoftBuild *sb, double *theta);
int soft_table(ParamTable *t);
void soft_model_free(dpModel *m);

// The builder's soft definitions (created on first use) — core_model.c owns the pointer.
dpSoftBuild **soft_build_slot(dpModel *m);

#endif
