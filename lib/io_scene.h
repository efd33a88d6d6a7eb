// Internal interface between the scene loader (io_scene.c) and the scene writer
// (io_scene_write.c): reading a scene file, the document after the --set overrides that apply to
// it, the rules by which a value may be inserted into the document or given to a θ entry, and
// where a body shape's θ entries live in the document.
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

// Admissible values of component c of θ entry p: x > lo when *lo_open, else x >= lo; and
// x < hi when *hi_open, else x <= hi. (mass, a sphere's radius, half_extents, the smoothing
// widths, a body shape's size but for a capsule's half-length, and the Young's modulus, density
// and thickness of soft bodies and shells are strictly positive; a Poisson ratio stays below
// its bound.)
void dp_scene_param_range(const dpParam *p, size_t c, double *lo, int *lo_open, double *hi,
                          int *hi_open);

// A capsule given by the end points of its segment, ft = (a, b) in the body frame (m): its
// centre pos (the midpoint), its orientation quat (w, x, y, z; unit length: the shortest
// rotation taking the local z axis onto b − a, or a half turn about x when b − a points down z)
// and half_length |b − a|/2. Returns 0 (nothing written) when a == b or a value is not finite.
int dp_scene_fromto(const double ft[6], double pos[3], double quat[4], double *half_length);

// The name the loader gives shape k of body `body` that has no `name`: the body's name for
// k = 0, "<body>_<k>" after.
void dp_scene_shape_name(const char *body, size_t k, char *out, size_t size);

// The item of bodies.<B>.shapes in the document root that defines the shape `name` (by its
// `name` or the name the loader gives it), or NULL; *body receives B and *index the item's
// index (either may be NULL).
dpYNode *dp_scene_shape_item(const dpYNode *root, const char *name, const char **body,
                             size_t *index);

#endif
