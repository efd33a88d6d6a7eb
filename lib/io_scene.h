// Internal interface between the scene loader (io_scene.c) and the scene writer
// (io_scene_write.c): reading a scene file, the document after the --set overrides that apply to
// it, and the rules by which a value may be inserted into the document or given to a θ entry.
#ifndef DP_IO_SCENE_H
#define DP_IO_SCENE_H

#include <stddef.h>

#include "dp/dp.h"
#include "io_yaml.h"

// One --set override, parsed.
typedef struct dpSceneSet {
  const char *set;    // "path=value" as given
  char path[DP_PATH_MAX];
  dpYNode *value;
  size_t doc_count;   // places assigned in the document
} dpSceneSet;

// A scene document with the --set overrides applied to it (the first stage of --set).
typedef struct dpSceneDoc {
  dpYNode *root;      // a mapping
  dpSceneSet *sets;   // nsets, parsed
  int nsets;
} dpSceneDoc;

// Read a whole scene file (at most 1 GiB) into a dp_malloc'ed buffer (*text, *len bytes, not
// NUL-terminated). Errors: DP_ERR_IO naming path, DP_ERR_INVALID for a file too large,
// DP_ERR_NOMEM.
dpStatus dp_scene_read(const char *path, char **text, size_t *len, dpError *err);

// Parse the overrides, then the document (file names it in messages); check that it is a
// mapping and apply the overrides to it. On failure doc is empty (nothing to free).
dpStatus dp_scene_doc(const char *text, size_t len, const char *file, const char *const *sets,
                      int nsets, dpSceneDoc *doc, dpError *err);
void dp_scene_doc_free(dpSceneDoc *doc);

// 1 when the override s is applied to the θ entries it matches after compiling (its path named
// nothing in the document, or holds a pattern).
int dp_scene_set_theta(const dpSceneSet *s);

// The dpYInsertFn of --set: may `key` be added to the mapping reached by keys[0..depth)?
int dp_scene_may_insert(const char *const *keys, int depth, const char *key, void *ud);

// Admissible values of each component of θ entry p: x > lo when *lo_open, else x >= lo; and
// x <= hi. (mass, radius, half_extents, smoothing and friction_smoothing are strictly positive.)
void dp_scene_param_range(const dpParam *p, double *lo, int *lo_open, double *hi);

#endif
