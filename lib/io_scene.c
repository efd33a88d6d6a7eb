// The YAML scene loader (schemas/scene.schema.json, dp-scene(5)): a strict walk over the
// document that builds a dpModel (particles, generated cloth sheets, springs, colliders,
// controls, articulated bodies with their shapes and actuators, soft bodies and shells on
// generated or loaded meshes (io_mesh.c), parameters), then the scene's `overrides:` and the
// --set overrides that named no document value applied to θ. --set overrides that do name
// document values change the document before it is compiled (dp_scene_doc, shared with the
// writer io_scene_write.c).
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp/dp.h"
#include "core_text.h"
#include "io_mesh.h"
#include "io_scene.h"
#include "io_yaml.h"

#define MAX_STEPS 100000000LL
#define MAX_SUBSTEPS 10000LL
#define MAX_CLOTH_N 1024LL
#define MAX_PARTICLES 10000000LL
#define MAX_CONTROLS 500000000LL
#define MAX_FILE_BYTES (1ull << 30)
#define MAX_MESH_RES 10000LL
#define MAX_SOLVER_ITER 100000000LL
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const k_top[] = {"name", "description", "dt", "steps", "substeps", "integrator",
                                    "gravity", "divergence_limit", "particles", "springs", "ground",
                                    "boxes", "spheres", "cloth", "controls", "bodies", "actuators",
                                    "contact", "softbodies", "shells", "pin_controls", "solver",
                                    "parameters", "overrides"};
static const char *const k_particle[] = {"mass",           "position",       "velocity",
                                         "linear_drag",    "quadratic_drag", "force",
                                         "radius",         "pinned"};
static const char *const k_spring[] = {"a", "b", "anchor", "stiffness", "damping", "rest_length"};
static const char *const k_ground[] = {"height",           "stiffness",    "damping",
                                       "damping_mode",     "damping_smoothing",
                                       "friction",         "smoothing",    "friction_smoothing",
                                       "friction_damping"};
static const char *const k_box[] = {"center",           "half_extents", "stiffness",
                                    "damping",          "damping_mode", "damping_smoothing",
                                    "friction",         "smoothing",    "friction_smoothing",
                                    "friction_damping"};
static const char *const k_sphere[] = {"center",           "radius",       "stiffness",
                                       "damping",          "damping_mode", "damping_smoothing",
                                       "friction",         "smoothing",    "friction_smoothing",
                                       "friction_damping"};
static const char *const k_damping_modes[] = {"both", "approach"};
static const char *const k_cloth[] = {"n",           "size",           "origin",     "plane",
                                      "mass",        "velocity",       "linear_drag",
                                      "quadratic_drag", "radius",      "structural",
                                      "shear",       "pinned"};
static const char *const k_springset[] = {"stiffness", "damping"};
static const char *const k_controls[] = {"particles", "values"};
static const char *const k_param[] = {"path", "lower", "upper", "scale"};
static const char *const k_body[] = {"parent", "joint", "axis", "joint_pos", "mass", "com",
                                     "inertia", "damping", "armature", "q", "qd", "range",
                                     "limit_stiffness", "limit_damping", "limit_smoothing",
                                     "shapes"};
static const char *const k_shape[] = {"type", "name", "radius", "half_length", "half_extents",
                                      "position", "quat", "fromto", "density", "contact"};
static const char *const k_actuator[] = {"body", "type", "gear", "kp", "kv", "ctrl_range",
                                         "ctrl_smoothing", "controls"};
static const char *const k_contact[] = {"stiffness", "damping", "damping_mode", "damping_smoothing",
                                        "friction", "smoothing", "friction_smoothing",
                                        "friction_damping"};
// In the order of dpJointType, dpShapeType and dpActuatorType.
static const char *const k_joints[] = {"fixed", "revolute", "prismatic", "ball", "free"};
static const char *const k_shape_types[] = {"sphere", "capsule", "box"};
static const char *const k_actuator_types[] = {"motor", "position"};
static const char *const k_solver[] = {"newton_tol", "newton_max_iter", "cg_tol", "cg_max_iter"};
// Keys of a soft body and of a shell: mesh and placement, initial state, material, pins.
static const char *const k_soft[] = {
    "mesh", "position", "scale", "rest", "vertex_position", "velocity", "vertex_velocity",
    "material", "youngs_modulus", "poisson_ratio", "per_element", "density", "mass_damping",
    "stiffness_damping", "radius", "pinned", "pin_region", "pin_velocity"};
static const char *const k_shell[] = {
    "mesh", "position", "scale", "rest", "vertex_position", "velocity", "vertex_velocity",
    "youngs_modulus", "poisson_ratio", "per_element", "density", "thickness",
    "bending_stiffness", "mass_damping", "stiffness_damping", "lift", "drag", "air_density",
    "wind", "radius", "pinned", "pin_region", "pin_velocity"};
static const char *const k_soft_mesh[] = {"box", "file"};
static const char *const k_shell_mesh[] = {"grid", "file"};
static const char *const k_mesh_gen[] = {"size", "resolution"};
static const char *const k_region[] = {"min", "max"};
// In the order of dpMaterial and dpIntegrator.
static const char *const k_materials[] = {"linear", "corotated", "stvk", "neohookean"};
static const char *const k_integrators[] = {"explicit_euler", "semi_implicit_euler", "rk4",
                                            "implicit_euler"};
static const char *const k_planes[] = {"xy", "xz", "yz"};
static const char *const k_scales[] = {"linear", "log"};

typedef struct {
  const char *name;
  int n;
  int base;               // index of particle (0, 0)
  const dpYNode *node;
  const dpYNode *key;
} dpClothRef;

typedef struct {
  const char *name;
  int index;
} dpNameRef;

// What a soft body or shell keeps from its reading until θ is filled after compiling.
typedef struct {
  double *E, *nu;  // per-element Young's moduli and Poisson ratios (nelem each), or NULL
  double *v0;      // vertex_velocity (nv × 3), or NULL
} dpSoftLate;

typedef struct {
  const char *file;       // name of the scene in messages
  dpError *err;
  dpModel *m;
  dpYNode *root;
  dpNameRef *byname;      // explicit particles sorted by name
  int nexplicit;
  dpClothRef *cloth;
  int ncloth;
  const dpYNode **specnode;  // path node of each `parameters:` entry
  const dpYNode **shnode;    // the document item of each body shape (nsh)
  size_t nshnode;
  dpSoftLate *late;          // per soft body and shell, in model order
  int nlate;
  long long soft_vertices;   // vertices of the soft bodies and shells read so far
  long long pin_values;      // steps × pinned vertices × 3 so far
} dpLoad;

// ---- helpers ------------------------------------------------------------------------------------

static dpYScope scope(const dpLoad *L, const char *what, const char *path) {
  dpYScope s = {L->file, L->err, what, path};
  return s;
}

static int valid_name(const char *s, size_t maxlen) {
  size_t n = strlen(s);
  if (n == 0 || n > maxlen) {
    return 0;
  }
  for (; *s; s++) {
    char c = *s;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '-')) {
      return 0;
    }
  }
  return 1;
}

static dpStatus check_name(const dpLoad *L, const dpYNode *key, const char *kind,
                           const char *section, size_t maxlen) {
  if (valid_name(key->text, maxlen)) {
    return DP_OK;
  }
  dpYScope s = scope(L, "", section);
  if (strlen(key->text) > maxlen) {
    return dp_yaml_fail(&s, key, key->text, "%s name '%.80s' is too long (at most %zu characters)",
                        kind, key->text, maxlen);
  }
  return dp_yaml_fail(&s, key, key->text,
                      "invalid %s name '%.80s' (use letters, digits, '_' or '-')", kind,
                      key->text);
}

// Locate an error the builder reported without a position at `at`.
static dpStatus locate(dpLoad *L, dpStatus st, const dpYNode *at) {
  if (L->err != NULL && L->err->file[0] == '\0' && at != NULL) {
    if (at->set != NULL) {
      snprintf(L->err->file, sizeof L->err->file, "--set %s", at->set);
    } else {
      snprintf(L->err->file, sizeof L->err->file, "%s", L->file);
    }
    L->err->line = at->line;
    L->err->column = at->column;
  }
  return st;
}

// Parse a canonical non-negative decimal (no sign, no leading zero) ending at *end.
static int parse_index(const char *s, const char **end, long *out) {
  if (!(*s >= '0' && *s <= '9') || (s[0] == '0' && s[1] >= '0' && s[1] <= '9')) {
    return 0;
  }
  long v = 0;
  while (*s >= '0' && *s <= '9' && v < 100000000) {
    v = 10 * v + (*s++ - '0');
  }
  *end = s;
  *out = v;
  return 1;
}

// Is name the generated name "<cloth>_<i>_<j>" of a particle of a cloth? Returns its index.
static int cloth_particle(const dpLoad *L, const char *name, const char **cloth_name) {
  for (int c = 0; c < L->ncloth; c++) {
    const dpClothRef *cl = &L->cloth[c];
    size_t len = strlen(cl->name);
    long i, j;
    const char *p;
    if (strncmp(name, cl->name, len) != 0 || name[len] != '_' ||
        !parse_index(name + len + 1, &p, &i) || *p != '_' || !parse_index(p + 1, &p, &j) ||
        *p != '\0' || i >= cl->n || j >= cl->n) {
      continue;
    }
    if (cloth_name != NULL) {
      *cloth_name = cl->name;
    }
    return cl->base + (int)(i * cl->n + j);
  }
  return -1;
}

// Is name a generated spring name "<cloth>_s<k>" / "<cloth>_d<k>"?
static const char *cloth_spring(const dpLoad *L, const char *name) {
  for (int c = 0; c < L->ncloth; c++) {
    const dpClothRef *cl = &L->cloth[c];
    size_t len = strlen(cl->name);
    long k;
    const char *p;
    if (strncmp(name, cl->name, len) == 0 && name[len] == '_' &&
        (name[len + 1] == 's' || name[len + 1] == 'd') && parse_index(name + len + 2, &p, &k) &&
        *p == '\0') {
      long cells = (long)(cl->n - 1) * (cl->n - 1);
      long count = name[len + 1] == 's' ? 2L * cl->n * (cl->n - 1) : 2 * cells;
      if (k < count) {
        return cl->name;
      }
    }
  }
  return NULL;
}

static int nameref_cmp(const void *a, const void *b) {
  const dpNameRef *x = a, *y = b;
  return strcmp(x->name, y->name);
}

// Resolve a particle name (explicit or generated by a cloth) to its index, or fail at `at`.
static dpStatus find_particle(dpLoad *L, const dpYScope *s, const dpYNode *at, const char *key,
                              int *index) {
  const char *name;
  dpStatus st = dp_yaml_string(s, at, key, &name);
  if (st != DP_OK) {
    return st;
  }
  dpNameRef probe = {name, 0};
  const dpNameRef *hit =
      L->nexplicit > 0
          ? bsearch(&probe, L->byname, (size_t)L->nexplicit, sizeof probe, nameref_cmp)
          : NULL;
  if (hit != NULL) {
    *index = hit->index;
    return DP_OK;
  }
  int ci = cloth_particle(L, name, NULL);
  if (ci >= 0) {
    *index = ci;
    return DP_OK;
  }
  const dpYNode *parts = dp_yaml_get(L->root, "particles", NULL);
  const char *sug = NULL;
  if (parts != NULL && parts->n > 0) {
    const char **cand = dp_malloc(parts->n * sizeof *cand);
    if (cand != NULL) {
      for (size_t i = 0; i < parts->n; i++) {
        cand[i] = parts->keys[i]->text;
      }
      sug = dp_yaml_suggest(name, cand, parts->n);
      st = sug != NULL ? dp_yaml_fail(s, at, key, "unknown particle '%.80s' (did you mean '%s'?)",
                                      name, sug)
                       : DP_OK;
      dp_free(cand);
      if (st != DP_OK) {
        return st;
      }
    }
  }
  return dp_yaml_fail(s, at, key, "unknown particle '%.80s'", name);
}

// ---- top-level values ---------------------------------------------------------------------------

// `solver:` the Newton and conjugate-gradient settings of implicit Euler.
static dpStatus read_solver(dpLoad *L, const dpYNode *n) {
  dpYScope s = scope(L, "solver", "solver");
  dpModel *m = L->m;
  const dpYNode *v;
  dpStatus st;
  long long k;
  if ((st = dp_yaml_check_map(&s, n, "solver", k_solver, NELEM(k_solver))) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "newton_tol", NULL)) != NULL &&
      (st = dp_yaml_number_in(&s, v, "newton_tol", 0, 1, INFINITY, &m->newton_tol)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "cg_tol", NULL)) != NULL &&
      (st = dp_yaml_number_in(&s, v, "cg_tol", 0, 1, INFINITY, &m->cg_tol)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "newton_max_iter", NULL)) != NULL) {
    if ((st = dp_yaml_int(&s, v, "newton_max_iter", 1, MAX_SOLVER_ITER, &k)) != DP_OK) {
      return st;
    }
    m->newton_max_iter = (int)k;
  }
  if ((v = dp_yaml_get(n, "cg_max_iter", NULL)) != NULL) {
    if ((st = dp_yaml_int(&s, v, "cg_max_iter", 1, MAX_SOLVER_ITER, &k)) != DP_OK) {
      return st;
    }
    m->cg_max_iter = (int)k;
  }
  return DP_OK;
}

static dpStatus read_globals(dpLoad *L, const dpYNode *root, double gravity[3]) {
  dpYScope s = scope(L, "", "");
  dpModel *m = L->m;
  dpStatus st;
  const dpYNode *n;
  if ((st = dp_yaml_check_map(&s, root, "scene", k_top, NELEM(k_top))) != DP_OK ||
      (st = dp_yaml_require(&s, root, "dt")) != DP_OK ||
      (st = dp_yaml_require(&s, root, "steps")) != DP_OK) {
    return st;
  }
  if ((n = dp_yaml_get(root, "name", NULL)) != NULL) {
    const char *name;
    if ((st = dp_yaml_string(&s, n, "name", &name)) != DP_OK) {
      return st;
    }
    if (strlen(name) >= DP_NAME_MAX) {
      return dp_yaml_fail(&s, n, "name", "'name' is too long (at most %d characters)",
                          DP_NAME_MAX - 1);
    }
    snprintf(m->name, sizeof m->name, "%s", name);
  }
  if ((n = dp_yaml_get(root, "description", NULL)) != NULL) {
    const char *d;
    if ((st = dp_yaml_string(&s, n, "description", &d)) != DP_OK) {
      return st;
    }
  }
  long long v;
  if ((st = dp_yaml_number_in(&s, dp_yaml_get(root, "dt", NULL), "dt", 0, 1, INFINITY,
                              &m->dt)) != DP_OK ||
      (st = dp_yaml_int(&s, dp_yaml_get(root, "steps", NULL), "steps", 1, MAX_STEPS, &v)) !=
          DP_OK) {
    return st;
  }
  m->steps = (int)v;
  if ((n = dp_yaml_get(root, "substeps", NULL)) != NULL) {
    if ((st = dp_yaml_int(&s, n, "substeps", 1, MAX_SUBSTEPS, &v)) != DP_OK) {
      return st;
    }
    m->substeps = (int)v;
  }
  if ((n = dp_yaml_get(root, "integrator", NULL)) != NULL) {
    int k;
    if ((st = dp_yaml_enum(&s, n, "integrator", k_integrators, NELEM(k_integrators), &k)) !=
        DP_OK) {
      return st;
    }
    m->integrator = (dpIntegrator)k;
  }
  if ((n = dp_yaml_get(root, "gravity", NULL)) != NULL &&
      (st = dp_yaml_vec(&s, n, "gravity", 3, -INFINITY, 0, gravity)) != DP_OK) {
    return st;
  }
  if ((n = dp_yaml_get(root, "divergence_limit", NULL)) != NULL &&
      (st = dp_yaml_number_in(&s, n, "divergence_limit", 0, 1, INFINITY,
                              &m->divergence_limit)) != DP_OK) {
    return st;
  }
  if ((n = dp_yaml_get(root, "solver", NULL)) != NULL && (st = read_solver(L, n)) != DP_OK) {
    return st;
  }
  return DP_OK;
}

// ---- particles ----------------------------------------------------------------------------------

static dpStatus read_particle(dpLoad *L, const dpYNode *key, const dpYNode *n,
                              dpParticleDef *d) {
  char what[96], path[96];
  snprintf(what, sizeof what, "particle '%s'", key->text);
  snprintf(path, sizeof path, "particles.%s", key->text);
  dpYScope s = scope(L, what, path);
  dpStatus st;
  const dpYNode *v;
  *d = dp_default_particle_def();
  if ((st = dp_yaml_check_map(&s, n, key->text, k_particle, NELEM(k_particle))) != DP_OK ||
      (st = dp_yaml_require(&s, n, "mass")) != DP_OK ||
      (st = dp_yaml_require(&s, n, "position")) != DP_OK ||
      (st = dp_yaml_number_in(&s, dp_yaml_get(n, "mass", NULL), "mass", 0, 1, INFINITY,
                              &d->mass)) != DP_OK ||
      (st = dp_yaml_vec(&s, dp_yaml_get(n, "position", NULL), "position", 3, -INFINITY, 0,
                        d->position)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "velocity", NULL)) != NULL &&
      (st = dp_yaml_vec(&s, v, "velocity", 3, -INFINITY, 0, d->velocity)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "force", NULL)) != NULL &&
      (st = dp_yaml_vec(&s, v, "force", 3, -INFINITY, 0, d->force)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "linear_drag", NULL)) != NULL &&
      (st = dp_yaml_number_in(&s, v, "linear_drag", 0, 0, INFINITY, &d->linear_drag)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "quadratic_drag", NULL)) != NULL &&
      (st = dp_yaml_number_in(&s, v, "quadratic_drag", 0, 0, INFINITY, &d->quadratic_drag)) !=
          DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "radius", NULL)) != NULL &&
      (st = dp_yaml_number_in(&s, v, "radius", 0, 0, INFINITY, &d->radius)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "pinned", NULL)) != NULL &&
      (st = dp_yaml_bool(&s, v, "pinned", &d->pinned)) != DP_OK) {
    return st;
  }
  return DP_OK;
}

// First pass over cloth: names and sizes (to bound the particle count before allocating).
static dpStatus scan_cloth(dpLoad *L, const dpYNode *cloth, long long *total) {
  dpYScope top = scope(L, "", "");
  if (cloth->kind != DP_Y_MAP) {
    char got[64];
    dp_yaml_describe(cloth, got, sizeof got);
    return dp_yaml_fail(&top, cloth, "cloth", "'cloth' must be a mapping (got %s)", got);
  }
  L->cloth = dp_calloc(cloth->n > 0 ? cloth->n : 1, sizeof *L->cloth);
  if (L->cloth == NULL) {
    return dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
  }
  for (size_t c = 0; c < cloth->n; c++) {
    const dpYNode *key = cloth->keys[c], *n = cloth->items[c];
    // Leave room for the generated suffix "_1023_1023".
    dpStatus st = check_name(L, key, "cloth", "cloth", DP_NAME_MAX - 11);
    if (st != DP_OK) {
      return st;
    }
    char what[96], path[96];
    snprintf(what, sizeof what, "cloth '%s'", key->text);
    snprintf(path, sizeof path, "cloth.%s", key->text);
    dpYScope s = scope(L, what, path);
    long long nn;
    if ((st = dp_yaml_check_map(&s, n, key->text, k_cloth, NELEM(k_cloth))) != DP_OK ||
        (st = dp_yaml_require(&s, n, "n")) != DP_OK ||
        (st = dp_yaml_int(&s, dp_yaml_get(n, "n", NULL), "n", 2, MAX_CLOTH_N, &nn)) != DP_OK) {
      return st;
    }
    L->cloth[c].name = key->text;
    L->cloth[c].n = (int)nn;
    L->cloth[c].node = n;
    L->cloth[c].key = key;
    *total += nn * nn;
  }
  L->ncloth = (int)cloth->n;
  return DP_OK;
}

static dpStatus add_explicit_particles(dpLoad *L, const dpYNode *parts) {
  dpStatus st;
  L->byname = dp_malloc((parts->n > 0 ? parts->n : 1) * sizeof *L->byname);
  if (L->byname == NULL) {
    return dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
  }
  for (size_t i = 0; i < parts->n; i++) {
    const dpYNode *key = parts->keys[i];
    if ((st = check_name(L, key, "particle", "particles", DP_NAME_MAX - 1)) != DP_OK) {
      return st;
    }
    const char *cname;
    if (cloth_particle(L, key->text, &cname) >= 0) {
      dpYScope s = scope(L, "", "particles");
      return dp_yaml_fail(&s, key, key->text,
                          "duplicate particle name '%s' (also generated by cloth '%s')",
                          key->text, cname);
    }
    dpParticleDef d;
    if ((st = read_particle(L, key, parts->items[i], &d)) != DP_OK) {
      return st;
    }
    int idx = dp_model_add_particle(L->m, key->text, &d, L->err);
    if (idx < 0) {
      return locate(L, L->err ? L->err->code : DP_ERR_INVALID, key);
    }
    L->byname[i].name = key->text;
    L->byname[i].index = idx;
  }
  L->nexplicit = (int)parts->n;
  qsort(L->byname, parts->n, sizeof *L->byname, nameref_cmp);
  return DP_OK;
}

// ---- cloth --------------------------------------------------------------------------------------

static dpStatus read_springset(const dpYScope *cs, const dpYNode *n, const char *key,
                               double *k, double *c) {
  char what[128], path[128];
  snprintf(what, sizeof what, "'%s' of %.90s", key, cs->what);
  snprintf(path, sizeof path, "%.100s.%s", cs->path, key);
  dpYScope s = {cs->file, cs->err, what, path};
  dpStatus st;
  const dpYNode *v;
  *c = 0;
  if ((st = dp_yaml_check_map(&s, n, key, k_springset, NELEM(k_springset))) != DP_OK ||
      (st = dp_yaml_require(&s, n, "stiffness")) != DP_OK ||
      (st = dp_yaml_number_in(&s, dp_yaml_get(n, "stiffness", NULL), "stiffness", 0, 0,
                              INFINITY, k)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "damping", NULL)) != NULL &&
      (st = dp_yaml_number_in(&s, v, "damping", 0, 0, INFINITY, c)) != DP_OK) {
    return st;
  }
  return DP_OK;
}

static dpStatus read_pinned(const dpYScope *s, const dpYNode *n, int nn, unsigned char *pin) {
  if (n->kind != DP_Y_SEQ) {
    char got[64];
    dp_yaml_describe(n, got, sizeof got);
    return dp_yaml_fail(s, n, "pinned", "'pinned' must be a list of [i, j] pairs (got %s)", got);
  }
  for (size_t p = 0; p < n->n; p++) {
    const dpYNode *item = n->items[p];
    long long ij[2];
    if (item->kind != DP_Y_SEQ || item->n != 2) {
      char got[64];
      dp_yaml_describe(item, got, sizeof got);
      return dp_yaml_fail(s, item, "pinned", "'pinned[%zu]' must be a pair [i, j] (got %s)", p,
                          item->kind == DP_Y_SEQ ? "a list of another length" : got);
    }
    for (int k = 0; k < 2; k++) {
      char key[64];
      snprintf(key, sizeof key, "pinned[%zu][%d]", p, k);
      dpStatus st = dp_yaml_int(s, item->items[k], key, -1000000000LL, 1000000000LL, &ij[k]);
      if (st != DP_OK) {
        return st;
      }
      if (ij[k] < -nn || ij[k] >= nn) {
        return dp_yaml_fail(s, item->items[k], "pinned",
                            "pinned index %lld is out of range for n = %d (use 0..%d or -%d..-1)",
                            ij[k], nn, nn - 1, nn);
      }
      if (ij[k] < 0) {
        ij[k] += nn;
      }
    }
    pin[ij[0] * nn + ij[1]] = 1;
  }
  return DP_OK;
}

static dpStatus add_cloth_particles(dpLoad *L, dpClothRef *cl) {
  char what[96], path[96];
  snprintf(what, sizeof what, "cloth '%s'", cl->name);
  snprintf(path, sizeof path, "cloth.%s", cl->name);
  dpYScope s = scope(L, what, path);
  const dpYNode *n = cl->node, *v;
  dpStatus st;
  int nn = cl->n;
  double size[2] = {1, 1}, origin[3] = {0, 0, 0}, mass, vel[3] = {0, 0, 0}, lin = 0, quad = 0;
  int plane = 0;
  if ((st = dp_yaml_require(&s, n, "mass")) != DP_OK ||
      (st = dp_yaml_number_in(&s, dp_yaml_get(n, "mass", NULL), "mass", 0, 1, INFINITY,
                              &mass)) != DP_OK ||
      (st = dp_yaml_require(&s, n, "structural")) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "size", NULL)) != NULL &&
      (st = dp_yaml_vec(&s, v, "size", 2, 0, 1, size)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "origin", NULL)) != NULL &&
      (st = dp_yaml_vec(&s, v, "origin", 3, -INFINITY, 0, origin)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "plane", NULL)) != NULL &&
      (st = dp_yaml_enum(&s, v, "plane", k_planes, NELEM(k_planes), &plane)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "velocity", NULL)) != NULL &&
      (st = dp_yaml_vec(&s, v, "velocity", 3, -INFINITY, 0, vel)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "linear_drag", NULL)) != NULL &&
      (st = dp_yaml_number_in(&s, v, "linear_drag", 0, 0, INFINITY, &lin)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "quadratic_drag", NULL)) != NULL &&
      (st = dp_yaml_number_in(&s, v, "quadratic_drag", 0, 0, INFINITY, &quad)) != DP_OK) {
    return st;
  }
  double radius = 0.0;
  if ((v = dp_yaml_get(n, "radius", NULL)) != NULL &&
      (st = dp_yaml_number_in(&s, v, "radius", 0, 0, INFINITY, &radius)) != DP_OK) {
    return st;
  }
  unsigned char *pin = dp_calloc((size_t)nn * (size_t)nn, 1);
  if (pin == NULL) {
    return dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
  }
  if ((v = dp_yaml_get(n, "pinned", NULL)) != NULL &&
      (st = read_pinned(&s, v, nn, pin)) != DP_OK) {
    dp_free(pin);
    return st;
  }
  // In-plane axes: xy → (x, y), xz → (x, z), yz → (y, z).
  static const int axes[3][2] = {{0, 1}, {0, 2}, {1, 2}};
  int ea = axes[plane][0], eb = axes[plane][1];
  dpParticleDef d = dp_default_particle_def();
  d.mass = mass / ((double)nn * nn);
  memcpy(d.velocity, vel, sizeof vel);
  d.linear_drag = lin;
  d.quadratic_drag = quad;
  d.radius = radius;
  cl->base = L->m->np;
  st = DP_OK;
  for (int i = 0; st == DP_OK && i < nn; i++) {
    for (int j = 0; j < nn; j++) {
      char name[96];  // fits DP_NAME_MAX: cloth names are at most 52 characters
      snprintf(name, sizeof name, "%s_%d_%d", cl->name, i, j);
      memcpy(d.position, origin, sizeof origin);
      d.position[ea] += size[0] * i / (nn - 1);
      d.position[eb] += size[1] * j / (nn - 1);
      d.pinned = pin[i * nn + j];
      if (dp_model_add_particle(L->m, name, &d, L->err) < 0) {
        st = locate(L, L->err ? L->err->code : DP_ERR_INVALID, cl->key);
        break;
      }
    }
  }
  dp_free(pin);
  return st;
}

static dpStatus add_cloth_spring(dpLoad *L, const dpClothRef *cl, char kind, int k, int a, int b,
                                 double stiff, double damp) {
  char name[96];
  snprintf(name, sizeof name, "%s_%c%d", cl->name, kind, k);
  dpSpringDef d = dp_default_spring_def();
  d.a = a;
  d.b = b;
  d.stiffness = stiff;
  d.damping = damp;
  d.rest_length = -1;  // the initial distance
  if (dp_model_add_spring(L->m, name, &d, L->err) < 0) {
    return locate(L, L->err ? L->err->code : DP_ERR_INVALID, cl->key);
  }
  return DP_OK;
}

static dpStatus add_cloth_springs(dpLoad *L, const dpClothRef *cl) {
  char what[96], path[96];
  snprintf(what, sizeof what, "cloth '%s'", cl->name);
  snprintf(path, sizeof path, "cloth.%s", cl->name);
  dpYScope s = scope(L, what, path);
  const dpYNode *v;
  double ks, cs, kd = 0, cd = 0;
  int nn = cl->n, b0 = cl->base, shear = 0;
  dpStatus st = read_springset(&s, dp_yaml_get(cl->node, "structural", NULL), "structural", &ks,
                               &cs);
  if (st == DP_OK && (v = dp_yaml_get(cl->node, "shear", NULL)) != NULL) {
    st = read_springset(&s, v, "shear", &kd, &cd);
    shear = 1;
  }
  int k = 0;
  for (int i = 0; st == DP_OK && i < nn; i++) {
    for (int j = 0; st == DP_OK && j + 1 < nn; j++) {
      st = add_cloth_spring(L, cl, 's', k++, b0 + i * nn + j, b0 + i * nn + j + 1, ks, cs);
    }
  }
  for (int i = 0; st == DP_OK && i + 1 < nn; i++) {
    for (int j = 0; st == DP_OK && j < nn; j++) {
      st = add_cloth_spring(L, cl, 's', k++, b0 + i * nn + j, b0 + (i + 1) * nn + j, ks, cs);
    }
  }
  k = 0;
  for (int i = 0; shear && st == DP_OK && i + 1 < nn; i++) {
    for (int j = 0; st == DP_OK && j + 1 < nn; j++) {
      st = add_cloth_spring(L, cl, 'd', k++, b0 + i * nn + j, b0 + (i + 1) * nn + j + 1, kd, cd);
      if (st == DP_OK) {
        st = add_cloth_spring(L, cl, 'd', k++, b0 + (i + 1) * nn + j, b0 + i * nn + j + 1, kd,
                              cd);
      }
    }
  }
  return st;
}

// ---- springs ------------------------------------------------------------------------------------

static dpStatus add_springs(dpLoad *L, const dpYNode *springs) {
  dpYScope top = scope(L, "", "");
  if (springs->kind != DP_Y_MAP) {
    char got[64];
    dp_yaml_describe(springs, got, sizeof got);
    return dp_yaml_fail(&top, springs, "springs", "'springs' must be a mapping (got %s)", got);
  }
  for (size_t i = 0; i < springs->n; i++) {
    const dpYNode *key = springs->keys[i], *n = springs->items[i], *v, *vb, *va;
    dpStatus st = check_name(L, key, "spring", "springs", DP_NAME_MAX - 1);
    if (st != DP_OK) {
      return st;
    }
    const char *gen = cloth_spring(L, key->text);
    if (gen != NULL) {
      dpYScope s = scope(L, "", "springs");
      return dp_yaml_fail(&s, key, key->text,
                          "duplicate spring name '%s' (also generated by cloth '%s')", key->text,
                          gen);
    }
    char what[96], path[96];
    snprintf(what, sizeof what, "spring '%s'", key->text);
    snprintf(path, sizeof path, "springs.%s", key->text);
    dpYScope s = scope(L, what, path);
    dpSpringDef d = dp_default_spring_def();
    d.damping = 0;
    d.rest_length = -1;
    if ((st = dp_yaml_check_map(&s, n, key->text, k_spring, NELEM(k_spring))) != DP_OK ||
        (st = dp_yaml_require(&s, n, "a")) != DP_OK ||
        (st = dp_yaml_require(&s, n, "stiffness")) != DP_OK ||
        (st = find_particle(L, &s, dp_yaml_get(n, "a", NULL), "a", &d.a)) != DP_OK ||
        (st = dp_yaml_number_in(&s, dp_yaml_get(n, "stiffness", NULL), "stiffness", 0, 0,
                                INFINITY, &d.stiffness)) != DP_OK) {
      return st;
    }
    vb = dp_yaml_get(n, "b", NULL);
    va = dp_yaml_get(n, "anchor", NULL);
    if (vb != NULL && va != NULL) {
      return dp_yaml_fail(&s, va, "anchor", "give either 'b' or 'anchor', not both");
    }
    if (vb == NULL && va == NULL) {
      return dp_yaml_fail(&s, n, "b", "missing 'b' (a particle) or 'anchor' (a fixed point)");
    }
    if (vb != NULL) {
      if ((st = find_particle(L, &s, vb, "b", &d.b)) != DP_OK) {
        return st;
      }
      if (d.b == d.a) {
        return dp_yaml_fail(&s, vb, "b", "'a' and 'b' are the same particle ('%s')", vb->text);
      }
    } else {
      d.b = -1;
      if ((st = dp_yaml_vec(&s, va, "anchor", 3, -INFINITY, 0, d.anchor)) != DP_OK) {
        return st;
      }
    }
    if ((v = dp_yaml_get(n, "damping", NULL)) != NULL &&
        (st = dp_yaml_number_in(&s, v, "damping", 0, 0, INFINITY, &d.damping)) != DP_OK) {
      return st;
    }
    if ((v = dp_yaml_get(n, "rest_length", NULL)) != NULL &&
        (st = dp_yaml_number_in(&s, v, "rest_length", 0, 0, INFINITY, &d.rest_length)) !=
            DP_OK) {
      return st;
    }
    if (dp_model_add_spring(L->m, key->text, &d, L->err) < 0) {
      return locate(L, L->err ? L->err->code : DP_ERR_INVALID, key);
    }
  }
  return DP_OK;
}

// ---- colliders ----------------------------------------------------------------------------------

static dpStatus read_contact(const dpYScope *s, const dpYNode *n, dpColliderDef *d) {
  const dpYNode *v;
  dpStatus st;
  struct {
    const char *key;
    double *out;
    int open;
  } f[] = {{"stiffness", &d->stiffness, 0},
           {"damping", &d->damping, 0},
           {"friction", &d->friction, 0},
           {"smoothing", &d->smoothing, 1},
           {"friction_smoothing", &d->friction_smoothing, 1},
           {"friction_damping", &d->friction_damping, 0}};
  for (size_t i = 0; i < NELEM(f); i++) {
    if ((v = dp_yaml_get(n, f[i].key, NULL)) != NULL &&
        (st = dp_yaml_number_in(s, v, f[i].key, 0, f[i].open, INFINITY, f[i].out)) != DP_OK) {
      return st;
    }
  }
  // damping_mode: both (δ = inf, the default) or approach (δ = damping_smoothing, 1 mm/s by
  // default); damping_smoothing is only meaningful, and only accepted, with approach.
  int mode = 0;
  if ((v = dp_yaml_get(n, "damping_mode", NULL)) != NULL &&
      (st = dp_yaml_enum(s, v, "damping_mode", k_damping_modes, NELEM(k_damping_modes), &mode)) !=
          DP_OK) {
    return st;
  }
  d->damping_smoothing = mode == 1 ? 1.0e-3 : INFINITY;
  if ((v = dp_yaml_get(n, "damping_smoothing", NULL)) != NULL) {
    if (mode != 1) {
      return dp_yaml_fail(s, v, "damping_smoothing",
                          "'damping_smoothing' needs 'damping_mode: approach' (the damping acts "
                          "both ways by default)");
    }
    if ((st = dp_yaml_number_in(s, v, "damping_smoothing", 0, 1, INFINITY,
                                &d->damping_smoothing)) != DP_OK) {
      return st;
    }
  }
  return DP_OK;
}

static dpStatus add_ground(dpLoad *L, const dpYNode *n) {
  dpYScope s = scope(L, "ground", "ground");
  dpColliderDef d = dp_default_collider_def(DP_COLLIDER_GROUND);
  const dpYNode *v;
  dpStatus st;
  if ((st = dp_yaml_check_map(&s, n, "ground", k_ground, NELEM(k_ground))) != DP_OK) {
    return st;
  }
  d.height = 0;
  if ((v = dp_yaml_get(n, "height", NULL)) != NULL &&
      (st = dp_yaml_number(&s, v, "height", &d.height)) != DP_OK) {
    return st;
  }
  if ((st = read_contact(&s, n, &d)) != DP_OK) {
    return st;
  }
  if (dp_model_add_collider(L->m, "ground", &d, L->err) < 0) {
    return locate(L, L->err ? L->err->code : DP_ERR_INVALID, n);
  }
  return DP_OK;
}

static dpStatus add_shapes(dpLoad *L, const dpYNode *group, dpColliderType type) {
  const char *section = type == DP_COLLIDER_BOX ? "boxes" : "spheres";
  const char *kind = type == DP_COLLIDER_BOX ? "box" : "sphere";
  dpYScope top = scope(L, "", "");
  if (group->kind != DP_Y_MAP) {
    char got[64];
    dp_yaml_describe(group, got, sizeof got);
    return dp_yaml_fail(&top, group, section, "'%s' must be a mapping (got %s)", section, got);
  }
  const dpYNode *others =
      dp_yaml_get(L->root, type == DP_COLLIDER_BOX ? "spheres" : "boxes", NULL);
  for (size_t i = 0; i < group->n; i++) {
    const dpYNode *key = group->keys[i], *n = group->items[i];
    dpStatus st = check_name(L, key, kind, section, DP_NAME_MAX - 1);
    if (st != DP_OK) {
      return st;
    }
    if (strcmp(key->text, "ground") == 0 ||
        (type == DP_COLLIDER_SPHERE && dp_yaml_get(others, key->text, NULL) != NULL)) {
      dpYScope s = scope(L, "", section);
      return dp_yaml_fail(&s, key, key->text, "duplicate collider name '%s'%s", key->text,
                          strcmp(key->text, "ground") == 0 ? " ('ground' is the ground plane)"
                                                           : " (also a box)");
    }
    char what[96], path[96];
    snprintf(what, sizeof what, "%s '%s'", kind, key->text);
    snprintf(path, sizeof path, "%s.%s", section, key->text);
    dpYScope s = scope(L, what, path);
    dpColliderDef d = dp_default_collider_def(type);
    if (type == DP_COLLIDER_BOX) {
      if ((st = dp_yaml_check_map(&s, n, key->text, k_box, NELEM(k_box))) != DP_OK ||
          (st = dp_yaml_require(&s, n, "center")) != DP_OK ||
          (st = dp_yaml_require(&s, n, "half_extents")) != DP_OK ||
          (st = dp_yaml_vec(&s, dp_yaml_get(n, "center", NULL), "center", 3, -INFINITY, 0,
                            d.center)) != DP_OK ||
          (st = dp_yaml_vec(&s, dp_yaml_get(n, "half_extents", NULL), "half_extents", 3, 0, 1,
                            d.half_extents)) != DP_OK) {
        return st;
      }
    } else {
      if ((st = dp_yaml_check_map(&s, n, key->text, k_sphere, NELEM(k_sphere))) != DP_OK ||
          (st = dp_yaml_require(&s, n, "center")) != DP_OK ||
          (st = dp_yaml_require(&s, n, "radius")) != DP_OK ||
          (st = dp_yaml_vec(&s, dp_yaml_get(n, "center", NULL), "center", 3, -INFINITY, 0,
                            d.center)) != DP_OK ||
          (st = dp_yaml_number_in(&s, dp_yaml_get(n, "radius", NULL), "radius", 0, 1, INFINITY,
                                  &d.radius)) != DP_OK) {
        return st;
      }
    }
    if ((st = read_contact(&s, n, &d)) != DP_OK) {
      return st;
    }
    if (dp_model_add_collider(L->m, key->text, &d, L->err) < 0) {
      return locate(L, L->err ? L->err->code : DP_ERR_INVALID, key);
    }
  }
  return DP_OK;
}

// ---- controls -----------------------------------------------------------------------------------

// Control forces u (steps × nu × 3) from v: one 3-vector for every step and particle, or steps
// rows of nu 3-vectors. key names v in messages ("values", or an `overrides:` path).
// Control values (steps × nu × 3): one 3-vector for every step and item, or steps rows of nu
// 3-vectors; `per` names an item in messages ("controlled particle", "pinned vertex").
static dpStatus read_control_values(const dpYScope *s, const dpYNode *v, const char *key,
                                    int steps, int nu, const char *per, double *u) {
  dpStatus st;
  int broadcast = v->kind == DP_Y_SEQ && v->n == 3;
  for (size_t i = 0; broadcast && i < 3; i++) {
    broadcast = v->items[i]->kind == DP_Y_SCALAR;
  }
  if (broadcast) {
    double f[3];
    if ((st = dp_yaml_vec(s, v, key, 3, -INFINITY, 0, f)) != DP_OK) {
      return st;
    }
    for (size_t i = 0; i < (size_t)steps * nu; i++) {
      memcpy(u + 3 * i, f, sizeof f);
    }
    return DP_OK;
  }
  if (v->kind != DP_Y_SEQ || v->n != (size_t)steps) {
    char got[64];
    if (v->kind == DP_Y_SEQ) {
      snprintf(got, sizeof got, "%zu rows", v->n);
    } else {
      dp_yaml_describe(v, got, sizeof got);
    }
    return dp_yaml_fail(s, v, key,
                        "'%s' must be one 3-vector or a list of %d rows (one per step), each "
                        "a list of %d 3-vectors (got %s)",
                        key, steps, nu, got);
  }
  for (int t = 0; t < steps; t++) {
    const dpYNode *row = v->items[t];
    if (row->kind != DP_Y_SEQ || row->n != (size_t)nu) {
      return dp_yaml_fail(s, row, key, "'%s[%d]' must be a list of %d 3-vectors (one per %s)",
                          key, t, nu, per);
    }
    for (int k = 0; k < nu; k++) {
      char item[DP_PATH_MAX + 32];
      snprintf(item, sizeof item, "%s[%d][%d]", key, t, k);
      if ((st = dp_yaml_vec(s, row->items[k], item, 3, -INFINITY, 0,
                            u + 3 * ((size_t)t * nu + k))) != DP_OK) {
        return st;
      }
    }
  }
  return DP_OK;
}

static dpStatus set_controls(dpLoad *L, const dpYNode *n) {
  dpYScope s = scope(L, "controls", "controls");
  dpModel *m = L->m;
  dpStatus st;
  if ((st = dp_yaml_check_map(&s, n, "controls", k_controls, NELEM(k_controls))) != DP_OK) {
    return st;
  }
  const dpYNode *parts = dp_yaml_get(n, "particles", NULL), *v = dp_yaml_get(n, "values", NULL);
  if (parts != NULL && parts->kind != DP_Y_SEQ) {
    char got[64];
    dp_yaml_describe(parts, got, sizeof got);
    return dp_yaml_fail(&s, parts, "particles", "'particles' must be a list of names (got %s)",
                        got);
  }
  long long nu = parts != NULL ? (long long)parts->n : m->np;
  long long total = (long long)m->steps * nu * 3;
  if (total > MAX_CONTROLS) {
    return dp_yaml_fail(&s, n, NULL,
                        "controls are too large (steps × particles × 3 = %lld > %lld)", total,
                        MAX_CONTROLS);
  }
  int *idx = dp_malloc((size_t)(nu > 0 ? nu : 1) * sizeof *idx);
  unsigned char *seen = dp_calloc((size_t)(m->np > 0 ? m->np : 1), 1);
  double *u = NULL;
  if (idx == NULL || seen == NULL) {
    st = dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
    goto done;
  }
  for (int i = 0; i < (int)nu; i++) {
    idx[i] = i;
    if (parts != NULL) {
      char key[64];
      snprintf(key, sizeof key, "particles[%d]", i);
      if ((st = find_particle(L, &s, parts->items[i], key, &idx[i])) != DP_OK) {
        goto done;
      }
      if (seen[idx[i]]) {
        st = dp_yaml_fail(&s, parts->items[i], "particles", "particle '%s' is listed twice",
                          parts->items[i]->text);
        goto done;
      }
      seen[idx[i]] = 1;
    }
  }
  if (v != NULL) {
    u = dp_calloc((size_t)(total > 0 ? total : 1), sizeof *u);
    if (u == NULL) {
      st = dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory for %lld controls",
                        total);
      goto done;
    }
    if ((st = read_control_values(&s, v, "values", m->steps, (int)nu, "controlled particle",
                                  u)) != DP_OK) {
      goto done;
    }
  }
  if ((st = dp_model_set_controls(m, (int)nu, idx, u, L->err)) != DP_OK) {
    st = locate(L, st, n);
  }
done:
  dp_free(idx);
  dp_free(seen);
  dp_free(u);
  return st;
}

// ---- articulated bodies -------------------------------------------------------------------------

static int single_dof(dpJointType j) {
  return j == DP_JOINT_REVOLUTE || j == DP_JOINT_PRISMATIC;
}

// Inertia (Ixx Iyy Izz Ixy Ixz Iyz) positive definite: Sylvester's criterion on the 3x3 matrix.
static int inertia_pd(const double *I) {
  double d2 = I[0] * I[1] - I[3] * I[3];
  double d3 = I[0] * (I[1] * I[2] - I[5] * I[5]) - I[3] * (I[3] * I[2] - I[5] * I[4]) +
              I[4] * (I[3] * I[5] - I[1] * I[4]);
  return I[0] > 0 && d2 > 0 && d3 > 0 && isfinite(d3);
}

int dp_scene_fromto(const double ft[6], double pos[3], double quat[4], double *half_length) {
  double d[3] = {ft[3] - ft[0], ft[4] - ft[1], ft[5] - ft[2]};
  double l = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
  if (!(l > 0) || !isfinite(l)) {
    return 0;
  }
  for (int k = 0; k < 3; k++) {
    pos[k] = 0.5 * (ft[k] + ft[3 + k]);
    d[k] /= l;
  }
  *half_length = 0.5 * l;
  // The shortest rotation from z to d: (1 + z·d, z × d), normalized; |q|² = 2 (1 + d_z).
  double w = 1.0 + d[2];
  if (w < 1e-12) {
    quat[0] = 0;
    quat[1] = 1;
    quat[2] = 0;
    quat[3] = 0;
    return 1;
  }
  double s = 1.0 / sqrt(2.0 * w);
  quat[0] = w * s;
  quat[1] = -d[1] * s;
  quat[2] = d[0] * s;
  quat[3] = 0;
  return 1;
}

void dp_scene_shape_name(const char *body, size_t k, char *out, size_t size) {
  if (k == 0) {
    snprintf(out, size, "%s", body);
  } else {
    snprintf(out, size, "%s_%zu", body, k);
  }
}

dpYNode *dp_scene_shape_item(const dpYNode *root, const char *name, const char **body,
                             size_t *index) {
  const dpYNode *bodies = root != NULL ? dp_yaml_get(root, "bodies", NULL) : NULL;
  for (size_t i = 0; bodies != NULL && bodies->kind == DP_Y_MAP && i < bodies->n; i++) {
    const dpYNode *b = bodies->items[i];
    const dpYNode *list = b->kind == DP_Y_MAP ? dp_yaml_get(b, "shapes", NULL) : NULL;
    for (size_t k = 0; list != NULL && list->kind == DP_Y_SEQ && k < list->n; k++) {
      dpYNode *item = list->items[k];
      const dpYNode *nn = item->kind == DP_Y_MAP ? dp_yaml_get(item, "name", NULL) : NULL;
      char gen[2 * DP_NAME_MAX];
      const char *sn = gen;
      if (nn != NULL && nn->kind == DP_Y_SCALAR) {
        sn = nn->text;
      } else {
        dp_scene_shape_name(bodies->keys[i]->text, k, gen, sizeof gen);
      }
      if (strcmp(sn, name) == 0) {
        if (body != NULL) {
          *body = bodies->keys[i]->text;
        }
        if (index != NULL) {
          *index = k;
        }
        return item;
      }
    }
  }
  return NULL;
}

// A number (for every component) or a list of exactly n numbers, each >= lo.
static dpStatus read_components(const dpYScope *s, const dpYNode *v, const char *key, int n,
                                double lo, double *out) {
  if (v->kind == DP_Y_SEQ) {
    if (v->n != (size_t)n) {
      return dp_yaml_fail(s, v, key, "'%s' must be a number or a list of %d number%s (got %zu)",
                          key, n, n == 1 ? "" : "s", v->n);
    }
    return dp_yaml_vec(s, v, key, n, lo, 0, out);
  }
  double x;
  dpStatus st = dp_yaml_number_in(s, v, key, lo, 0, INFINITY, &x);
  for (int i = 0; st == DP_OK && i < n; i++) {
    out[i] = x;
  }
  return st;
}

// A quaternion (w, x, y, z), not zero; the model normalizes it.
static dpStatus read_quat(const dpYScope *s, const dpYNode *v, const char *key, double q[4]) {
  dpStatus st = dp_yaml_vec(s, v, key, 4, -INFINITY, 0, q);
  if (st == DP_OK && q[0] == 0 && q[1] == 0 && q[2] == 0 && q[3] == 0) {
    return dp_yaml_fail(s, v, key, "'%s' must be a non-zero quaternion [w, x, y, z]", key);
  }
  return st;
}

// Ixx Iyy Izz, or Ixx Iyy Izz Ixy Ixz Iyz; positive definite.
static dpStatus read_inertia(const dpYScope *s, const dpYNode *v, double I[6]) {
  if (v->kind != DP_Y_SEQ || (v->n != 3 && v->n != 6)) {
    char got[64];
    if (v->kind == DP_Y_SEQ) {
      snprintf(got, sizeof got, "%zu numbers", v->n);
    } else {
      dp_yaml_describe(v, got, sizeof got);
    }
    return dp_yaml_fail(s, v, "inertia",
                        "'inertia' must be [Ixx, Iyy, Izz] or [Ixx, Iyy, Izz, Ixy, Ixz, Iyz] "
                        "(got %s)",
                        got);
  }
  memset(I, 0, 6 * sizeof *I);
  dpStatus st = dp_yaml_vec(s, v, "inertia", (int)v->n, -INFINITY, 0, I);
  if (st == DP_OK && !inertia_pd(I)) {
    return dp_yaml_fail(s, v, "inertia",
                        "'inertia' must be positive definite (got %g %g %g %g %g %g)", I[0], I[1],
                        I[2], I[3], I[4], I[5]);
  }
  return st;
}

// `parent` of body i of the mapping: the world or an earlier body.
static dpStatus read_parent(dpLoad *L, const dpYScope *s, const dpYNode *bodies, size_t i,
                            const dpYNode *v, int *parent) {
  const char *name;
  dpStatus st = dp_yaml_string(s, v, "parent", &name);
  if (st != DP_OK) {
    return st;
  }
  size_t j;
  if (strcmp(name, "world") == 0) {
    *parent = -1;
    return DP_OK;
  }
  if (dp_yaml_get(bodies, name, &j) != NULL) {
    if (j == i) {
      return dp_yaml_fail(s, v, "parent", "a body cannot be its own parent");
    }
    if (j > i) {
      return dp_yaml_fail(s, v, "parent",
                          "parent '%s' must come before '%s' in 'bodies' (a parent is declared "
                          "first)",
                          name, bodies->keys[i]->text);
    }
    *parent = (int)j;
    return DP_OK;
  }
  const char **cand = dp_malloc((bodies->n + 1) * sizeof *cand);
  if (cand == NULL) {
    return dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
  }
  cand[0] = "world";
  for (size_t k = 0; k < bodies->n; k++) {
    cand[k + 1] = bodies->keys[k]->text;
  }
  const char *sug = dp_yaml_suggest(name, cand, bodies->n + 1);
  st = sug != NULL ? dp_yaml_fail(s, v, "parent", "unknown parent '%.80s' (did you mean '%s'?)",
                                  name, sug)
                   : dp_yaml_fail(s, v, "parent",
                                  "unknown parent '%.80s' (use 'world' or an earlier body)", name);
  dp_free(cand);
  return st;
}

// `q` of a joint: a number (revolute, prismatic), a quaternion (ball), a position with an
// optional quaternion (free).
static dpStatus read_q(const dpYScope *s, const dpYNode *v, dpJointType jt, double *q) {
  if (single_dof(jt)) {
    return read_components(s, v, "q", 1, -INFINITY, q);
  }
  size_t got = v->kind == DP_Y_SEQ ? v->n : 0;
  if (jt == DP_JOINT_BALL) {
    if (got != 4) {
      return dp_yaml_fail(s, v, "q",
                          "'q' of a ball joint must be a quaternion [w, x, y, z] (got %zu "
                          "numbers)",
                          got);
    }
    return read_quat(s, v, "q", q);
  }
  if (got != 3 && got != 7) {
    return dp_yaml_fail(s, v, "q",
                        "'q' of a free joint must be [x, y, z] or [x, y, z, w, qx, qy, qz] (got "
                        "%zu numbers)",
                        got);
  }
  dpStatus st = dp_yaml_vec(s, v, "q", (int)got, -INFINITY, 0, q);
  if (st == DP_OK && got == 3) {
    q[3] = 1;
    q[4] = q[5] = q[6] = 0;
  } else if (st == DP_OK && q[3] == 0 && q[4] == 0 && q[5] == 0 && q[6] == 0) {
    return dp_yaml_fail(s, v, "q", "the quaternion of 'q' (its last 4 numbers) must not be zero");
  }
  return st;
}

// Mass, centre of mass and inertia: given, or (what is absent) from the shapes.
static dpStatus read_mass(const dpYScope *s, const dpYNode *n, dpBodyDef *d) {
  const dpYNode *vm = dp_yaml_get(n, "mass", NULL), *vc = dp_yaml_get(n, "com", NULL);
  const dpYNode *vi = dp_yaml_get(n, "inertia", NULL), *vs = dp_yaml_get(n, "shapes", NULL);
  dpStatus st;
  if (vm != NULL &&
      (st = dp_yaml_number_in(s, vm, "mass", 0, 1, INFINITY, &d->mass)) != DP_OK) {
    return st;
  }
  if (vc != NULL && (st = dp_yaml_vec(s, vc, "com", 3, -INFINITY, 0, d->com)) != DP_OK) {
    return st;
  }
  if (vi != NULL && (st = read_inertia(s, vi, d->inertia)) != DP_OK) {
    return st;
  }
  if (vs != NULL && vs->kind != DP_Y_SEQ) {
    char got[64];
    dp_yaml_describe(vs, got, sizeof got);
    return dp_yaml_fail(s, vs, "shapes", "'shapes' must be a list of shapes (got %s)", got);
  }
  if (vm != NULL && vi != NULL) {
    return DP_OK;
  }
  // Given com and inertia replace the shapes' values after compiling (apply_body_values).
  d->mass_from_shapes = vm != NULL ? 2 : 1;
  if (vs == NULL || vs->n == 0) {
    if (vm != NULL) {
      return dp_yaml_fail(s, vm, "inertia",
                          "'mass' without 'inertia' needs shapes to compute the inertia from");
    }
    return dp_yaml_fail(s, n, "mass",
                        vi != NULL ? "missing required key 'mass' (or shapes to compute it from)"
                                   : "missing 'mass' and 'inertia' (or shapes to compute them "
                                     "from)");
  }
  return DP_OK;
}

static dpStatus read_body(dpLoad *L, const dpYNode *bodies, size_t i, dpBodyDef *d) {
  const dpYNode *key = bodies->keys[i], *n = bodies->items[i], *v;
  char what[96], path[96];
  snprintf(what, sizeof what, "body '%s'", key->text);
  snprintf(path, sizeof path, "bodies.%s", key->text);
  dpYScope s = scope(L, what, path);
  dpStatus st;
  *d = dp_default_body_def();
  if ((st = dp_yaml_check_map(&s, n, key->text, k_body, NELEM(k_body))) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "parent", NULL)) != NULL &&
      (st = read_parent(L, &s, bodies, i, v, &d->parent)) != DP_OK) {
    return st;
  }
  int jt = DP_JOINT_REVOLUTE;
  if ((v = dp_yaml_get(n, "joint", NULL)) != NULL &&
      (st = dp_yaml_enum(&s, v, "joint", k_joints, NELEM(k_joints), &jt)) != DP_OK) {
    return st;
  }
  d->joint = (dpJointType)jt;
  const char *jname = k_joints[jt];
  int nv = dp_joint_nv(d->joint);
  if ((v = dp_yaml_get(n, "axis", NULL)) != NULL) {
    if (!single_dof(d->joint)) {
      return dp_yaml_fail(&s, v, "axis",
                          "'axis' is only for revolute and prismatic joints (the joint is %s)",
                          jname);
    }
    if ((st = dp_yaml_vec(&s, v, "axis", 3, -INFINITY, 0, d->axis)) != DP_OK) {
      return st;
    }
    if (d->axis[0] == 0 && d->axis[1] == 0 && d->axis[2] == 0) {
      return dp_yaml_fail(&s, v, "axis", "'axis' must be a non-zero vector");
    }
  }
  if ((v = dp_yaml_get(n, "joint_pos", NULL)) != NULL &&
      (st = dp_yaml_vec(&s, v, "joint_pos", 3, -INFINITY, 0, d->joint_pos)) != DP_OK) {
    return st;
  }
  if ((st = read_mass(&s, n, d)) != DP_OK) {
    return st;
  }
  static const char *const per_dof[] = {"damping", "armature", "q", "qd"};
  for (size_t k = 0; k < NELEM(per_dof); k++) {
    if ((v = dp_yaml_get(n, per_dof[k], NULL)) != NULL && nv == 0) {
      return dp_yaml_fail(&s, v, per_dof[k], "'%s' needs a joint that moves (the joint is fixed)",
                          per_dof[k]);
    }
  }
  double x[6];
  // A list of per-dof values goes to θ after compiling (apply_body_values).
  if ((v = dp_yaml_get(n, "damping", NULL)) != NULL) {
    if ((st = read_components(&s, v, "damping", nv, 0, x)) != DP_OK) {
      return st;
    }
    d->damping = x[0];
  }
  if ((v = dp_yaml_get(n, "armature", NULL)) != NULL) {
    if ((st = read_components(&s, v, "armature", nv, 0, x)) != DP_OK) {
      return st;
    }
    d->armature = x[0];
  }
  if ((v = dp_yaml_get(n, "q", NULL)) != NULL && (st = read_q(&s, v, d->joint, d->q0)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "qd", NULL)) != NULL &&
      (st = read_components(&s, v, "qd", nv, -INFINITY, d->qd0)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "range", NULL)) != NULL) {
    if (!single_dof(d->joint)) {
      return dp_yaml_fail(&s, v, "range",
                          "'range' (joint limits) is only for revolute and prismatic joints (the "
                          "joint is %s)",
                          jname);
    }
    if ((st = dp_yaml_vec(&s, v, "range", 2, -INFINITY, 0, d->range)) != DP_OK) {
      return st;
    }
    if (!(d->range[0] < d->range[1])) {
      return dp_yaml_fail(&s, v, "range", "'range' must be [lower, upper] with lower < upper "
                          "(got [%g, %g])", d->range[0], d->range[1]);
    }
    d->limited = 1;
  }
  struct {
    const char *key;
    double *out;
    int open;
  } lim[] = {{"limit_stiffness", &d->limit_stiffness, 0},
             {"limit_damping", &d->limit_damping, 0},
             {"limit_smoothing", &d->limit_smoothing, 1}};
  for (size_t k = 0; k < NELEM(lim); k++) {
    if ((v = dp_yaml_get(n, lim[k].key, NULL)) == NULL) {
      continue;
    }
    if (!d->limited) {
      return dp_yaml_fail(&s, v, lim[k].key, "'%s' needs 'range' (the joint has no limits)",
                          lim[k].key);
    }
    if ((st = dp_yaml_number_in(&s, v, lim[k].key, 0, lim[k].open, INFINITY, lim[k].out)) !=
        DP_OK) {
      return st;
    }
  }
  return DP_OK;
}

// Keys of a shape that its type does not take.
static dpStatus shape_keys(const dpYScope *s, const dpYNode *n, dpShapeType type) {
  static const struct {
    const char *key;
    unsigned types;  // bit t: shape type t takes the key
    const char *msg;
  } t[] = {{"radius", 3, "'radius' is for spheres and capsules (a box has 'half_extents')"},
           {"half_length", 2, "'half_length' is only for capsules"},
           {"fromto", 2, "'fromto' is only for capsules"},
           {"half_extents", 4, "'half_extents' is only for boxes"}};
  for (size_t i = 0; i < NELEM(t); i++) {
    size_t at;
    if (!(t[i].types & (1u << type)) && dp_yaml_get(n, t[i].key, &at) != NULL) {
      return dp_yaml_fail(s, n->keys[at], t[i].key, "%s", t[i].msg);
    }
  }
  return DP_OK;
}

// The geometry of a capsule: radius, and half_length (with position, quat) or fromto.
static dpStatus read_capsule(const dpYScope *s, const dpYNode *n, dpShapeDef *d) {
  const dpYNode *ft = dp_yaml_get(n, "fromto", NULL), *hl = dp_yaml_get(n, "half_length", NULL);
  dpStatus st;
  if (ft == NULL) {
    if (hl == NULL) {
      return dp_yaml_fail(s, n, "half_length",
                          "a capsule needs 'half_length' (with 'position' and 'quat') or "
                          "'fromto'");
    }
    return dp_yaml_number_in(s, hl, "half_length", 0, 0, INFINITY, &d->size[1]);
  }
  static const char *const alt[] = {"half_length", "position", "quat"};
  for (size_t i = 0; i < NELEM(alt); i++) {
    size_t at;
    if (dp_yaml_get(n, alt[i], &at) != NULL) {
      return dp_yaml_fail(s, n->keys[at], alt[i],
                          "give either 'fromto' or 'position', 'quat' and 'half_length', not "
                          "both");
    }
  }
  double f[6];
  if ((st = dp_yaml_vec(s, ft, "fromto", 6, -INFINITY, 0, f)) != DP_OK) {
    return st;
  }
  if (!dp_scene_fromto(f, d->pos, d->quat, &d->size[1])) {
    return dp_yaml_fail(s, ft, "fromto", "'fromto' needs two distinct points");
  }
  return DP_OK;
}

static dpStatus add_body_shapes(dpLoad *L, const char *bname, int body, const dpYNode *list) {
  for (size_t k = 0; list != NULL && k < list->n; k++) {
    const dpYNode *n = list->items[k], *v;
    char what[112], path[112], item[32], name[2 * DP_NAME_MAX];
    snprintf(what, sizeof what, "body '%s', shapes[%zu]", bname, k);
    snprintf(path, sizeof path, "bodies.%s.shapes.%zu", bname, k);
    snprintf(item, sizeof item, "shapes[%zu]", k);
    dpYScope s = scope(L, what, path);
    dpStatus st;
    int type;
    if ((st = dp_yaml_check_map(&s, n, item, k_shape, NELEM(k_shape))) != DP_OK ||
        (st = dp_yaml_require(&s, n, "type")) != DP_OK ||
        (st = dp_yaml_enum(&s, dp_yaml_get(n, "type", NULL), "type", k_shape_types,
                           NELEM(k_shape_types), &type)) != DP_OK ||
        (st = shape_keys(&s, n, (dpShapeType)type)) != DP_OK) {
      return st;
    }
    dpShapeDef d = dp_default_shape_def((dpShapeType)type);
    d.body = body;
    memset(d.size, 0, sizeof d.size);
    if ((v = dp_yaml_get(n, "name", NULL)) != NULL) {
      const char *sn;
      if ((st = dp_yaml_string(&s, v, "name", &sn)) != DP_OK) {
        return st;
      }
      if (!valid_name(sn, DP_NAME_MAX - 1)) {
        return dp_yaml_fail(&s, v, "name",
                            strlen(sn) > DP_NAME_MAX - 1
                                ? "shape name '%.80s' is too long (at most 63 characters)"
                                : "invalid shape name '%.80s' (use letters, digits, '_' or '-')",
                            sn);
      }
      snprintf(name, sizeof name, "%s", sn);
    } else {
      dp_scene_shape_name(bname, k, name, sizeof name);
      if (strlen(name) > DP_NAME_MAX - 1) {
        return dp_yaml_fail(&s, n, "name",
                            "the shape's generated name '%.80s' is too long (give it a 'name')",
                            name);
      }
    }
    if (type == DP_SHAPE_BOX) {
      if ((st = dp_yaml_require(&s, n, "half_extents")) != DP_OK ||
          (st = dp_yaml_vec(&s, dp_yaml_get(n, "half_extents", NULL), "half_extents", 3, 0, 1,
                            d.size)) != DP_OK) {
        return st;
      }
    } else if ((st = dp_yaml_require(&s, n, "radius")) != DP_OK ||
               (st = dp_yaml_number_in(&s, dp_yaml_get(n, "radius", NULL), "radius", 0, 1,
                                       INFINITY, &d.size[0])) != DP_OK ||
               (type == DP_SHAPE_CAPSULE && (st = read_capsule(&s, n, &d)) != DP_OK)) {
      return st;
    }
    if ((v = dp_yaml_get(n, "position", NULL)) != NULL &&
        (st = dp_yaml_vec(&s, v, "position", 3, -INFINITY, 0, d.pos)) != DP_OK) {
      return st;
    }
    if ((v = dp_yaml_get(n, "quat", NULL)) != NULL &&
        (st = read_quat(&s, v, "quat", d.quat)) != DP_OK) {
      return st;
    }
    if ((v = dp_yaml_get(n, "density", NULL)) != NULL &&
        (st = dp_yaml_number_in(&s, v, "density", 0, 0, INFINITY, &d.density)) != DP_OK) {
      return st;
    }
    if ((v = dp_yaml_get(n, "contact", NULL)) != NULL &&
        (st = dp_yaml_bool(&s, v, "contact", &d.contact)) != DP_OK) {
      return st;
    }
    int idx = dp_model_add_shape(L->m, name, &d, L->err);
    if (idx < 0) {
      return locate(L, L->err ? L->err->code : DP_ERR_INVALID,
                    (v = dp_yaml_get(n, "name", NULL)) != NULL ? v : n);
    }
    if ((size_t)idx < L->nshnode) {
      L->shnode[idx] = n;
    }
  }
  return DP_OK;
}

static dpStatus add_bodies(dpLoad *L, const dpYNode *bodies) {
  dpYScope top = scope(L, "", "");
  if (bodies->kind != DP_Y_MAP) {
    char got[64];
    dp_yaml_describe(bodies, got, sizeof got);
    return dp_yaml_fail(&top, bodies, "bodies", "'bodies' must be a mapping (got %s)", got);
  }
  const dpYNode *integ = dp_yaml_get(L->root, "integrator", NULL);
  if (bodies->n > 0 && L->m->integrator == DP_EXPLICIT_EULER && integ != NULL) {
    return dp_yaml_fail(&top, integ, "integrator",
                        "'integrator': explicit_euler is not available with bodies (use "
                        "semi_implicit_euler or rk4)");
  }
  size_t nsh = 0;
  for (size_t i = 0; i < bodies->n; i++) {
    const dpYNode *n = bodies->items[i];
    const dpYNode *list = n->kind == DP_Y_MAP ? dp_yaml_get(n, "shapes", NULL) : NULL;
    nsh += list != NULL && list->kind == DP_Y_SEQ ? list->n : 0;
  }
  L->shnode = dp_calloc(nsh > 0 ? nsh : 1, sizeof *L->shnode);
  if (L->shnode == NULL) {
    return dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
  }
  L->nshnode = nsh;
  for (size_t i = 0; i < bodies->n; i++) {
    const dpYNode *key = bodies->keys[i];
    dpStatus st = check_name(L, key, "body", "bodies", DP_NAME_MAX - 1);
    if (st != DP_OK) {
      return st;
    }
    if (strcmp(key->text, "world") == 0) {
      dpYScope s = scope(L, "", "bodies");
      return dp_yaml_fail(&s, key, key->text,
                          "'world' is not a body name (it names the fixed frame, the parent of "
                          "root bodies)");
    }
    dpBodyDef d;
    if ((st = read_body(L, bodies, i, &d)) != DP_OK) {
      return st;
    }
    int idx = dp_model_add_body(L->m, key->text, &d, L->err);
    if (idx < 0) {
      return locate(L, L->err ? L->err->code : DP_ERR_INVALID, key);
    }
    if ((st = add_body_shapes(L, key->text, idx, dp_yaml_get(bodies->items[i], "shapes", NULL))) !=
        DP_OK) {
      return st;
    }
  }
  return DP_OK;
}

// After compiling: the values the body definitions cannot carry (per-dof damping and armature
// lists; a given com or inertia where the rest comes from the shapes) go to θ.
static dpStatus apply_body_values(dpLoad *L) {
  const dpYNode *bodies = dp_yaml_get(L->root, "bodies", NULL);
  dpModel *m = L->m;
  for (int i = 0; bodies != NULL && i < m->nb; i++) {
    const dpYNode *n = bodies->items[i], *v;
    char what[96], path[96];
    snprintf(what, sizeof what, "body '%s'", m->bname[i]);
    snprintf(path, sizeof path, "bodies.%s", m->bname[i]);
    dpYScope s = scope(L, what, path);
    dpStatus st = DP_OK;
    int nv = dp_joint_nv(m->bjoint[i]);
    double *th = m->theta0;
    if ((v = dp_yaml_get(n, "damping", NULL)) != NULL && v->kind == DP_Y_SEQ) {
      st = dp_yaml_vec(&s, v, "damping", nv, 0, 0, th + m->off.joint_damping + m->bvadr[i]);
    }
    if (st == DP_OK && (v = dp_yaml_get(n, "armature", NULL)) != NULL && v->kind == DP_Y_SEQ) {
      st = dp_yaml_vec(&s, v, "armature", nv, 0, 0, th + m->off.armature + m->bvadr[i]);
    }
    int given_mass = dp_yaml_get(n, "mass", NULL) != NULL;
    const dpYNode *vi = dp_yaml_get(n, "inertia", NULL);
    if (st == DP_OK && !(given_mass && vi != NULL)) {
      if ((v = dp_yaml_get(n, "com", NULL)) != NULL) {
        st = dp_yaml_vec(&s, v, "com", 3, -INFINITY, 0, th + m->off.body_com + 3 * (size_t)i);
      }
      if (st == DP_OK && vi != NULL) {
        st = read_inertia(&s, vi, th + m->off.body_inertia + 6 * (size_t)i);
      }
    }
    if (st != DP_OK) {
      return st;
    }
  }
  return DP_OK;
}

// ---- actuators and body contact -----------------------------------------------------------------

static dpStatus read_actuator(dpLoad *L, const dpYNode *key, const dpYNode *n, dpActuatorDef *d,
                              const dpYNode **controls) {
  char what[96], path[96];
  snprintf(what, sizeof what, "actuator '%s'", key->text);
  snprintf(path, sizeof path, "actuators.%s", key->text);
  dpYScope s = scope(L, what, path);
  dpModel *m = L->m;
  dpStatus st;
  const dpYNode *v, *vb;
  const char *bname;
  int type = DP_ACTUATOR_MOTOR;
  if ((st = dp_yaml_check_map(&s, n, key->text, k_actuator, NELEM(k_actuator))) != DP_OK ||
      (st = dp_yaml_require(&s, n, "body")) != DP_OK ||
      (st = dp_yaml_string(&s, vb = dp_yaml_get(n, "body", NULL), "body", &bname)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "type", NULL)) != NULL &&
      (st = dp_yaml_enum(&s, v, "type", k_actuator_types, NELEM(k_actuator_types), &type)) !=
          DP_OK) {
    return st;
  }
  *d = dp_default_actuator_def((dpActuatorType)type);
  d->body = dp_model_find_body(m, bname);
  if (d->body < 0) {
    const dpYNode *bodies = dp_yaml_get(L->root, "bodies", NULL);
    const char *sug = NULL;
    if (bodies != NULL && bodies->kind == DP_Y_MAP && bodies->n > 0) {
      const char **cand = dp_malloc(bodies->n * sizeof *cand);
      if (cand == NULL) {
        return dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
      }
      for (size_t i = 0; i < bodies->n; i++) {
        cand[i] = bodies->keys[i]->text;
      }
      sug = dp_yaml_suggest(bname, cand, bodies->n);
      st = sug != NULL ? dp_yaml_fail(&s, vb, "body", "unknown body '%.80s' (did you mean '%s'?)",
                                      bname, sug)
                       : DP_OK;
      dp_free(cand);
      if (st != DP_OK) {
        return st;
      }
    }
    return dp_yaml_fail(&s, vb, "body", "unknown body '%.80s'", bname);
  }
  const dpYNode *bn = dp_yaml_get(dp_yaml_get(L->root, "bodies", NULL), bname, NULL);
  int jt = DP_JOINT_REVOLUTE;
  const dpYNode *vj = bn != NULL ? dp_yaml_get(bn, "joint", NULL) : NULL;
  if (vj != NULL && dp_yaml_enum(&s, vj, "joint", k_joints, NELEM(k_joints), &jt) != DP_OK) {
    return DP_ERR_INVALID;
  }
  if (!single_dof((dpJointType)jt)) {
    return dp_yaml_fail(&s, vb, "body",
                        "body '%s' has a %s joint (an actuator drives a revolute or prismatic "
                        "joint)",
                        bname, k_joints[jt]);
  }
  // The gains of the other type of actuator.
  static const char *const other[] = {"gear", "kp", "kv"};
  for (size_t i = 0; i < NELEM(other); i++) {
    size_t at;
    int for_motor = i == 0;
    if (for_motor != (type == DP_ACTUATOR_MOTOR) && dp_yaml_get(n, other[i], &at) != NULL) {
      return dp_yaml_fail(&s, n->keys[at], other[i], "'%s' is only for %s actuators", other[i],
                          for_motor ? "motor" : "position");
    }
  }
  if (type == DP_ACTUATOR_MOTOR) {
    if ((v = dp_yaml_get(n, "gear", NULL)) != NULL &&
        (st = dp_yaml_number(&s, v, "gear", &d->gear)) != DP_OK) {
      return st;
    }
  } else {
    if ((st = dp_yaml_require(&s, n, "kp")) != DP_OK ||
        (st = dp_yaml_number_in(&s, dp_yaml_get(n, "kp", NULL), "kp", 0, 0, INFINITY, &d->kp)) !=
            DP_OK) {
      return st;
    }
    if ((v = dp_yaml_get(n, "kv", NULL)) != NULL &&
        (st = dp_yaml_number_in(&s, v, "kv", 0, 0, INFINITY, &d->kv)) != DP_OK) {
      return st;
    }
  }
  if ((v = dp_yaml_get(n, "ctrl_range", NULL)) != NULL) {
    if ((st = dp_yaml_vec(&s, v, "ctrl_range", 2, -INFINITY, 0, d->ctrl_range)) != DP_OK) {
      return st;
    }
    if (!(d->ctrl_range[0] < d->ctrl_range[1])) {
      return dp_yaml_fail(&s, v, "ctrl_range",
                          "'ctrl_range' must be [lower, upper] with lower < upper (got [%g, %g])",
                          d->ctrl_range[0], d->ctrl_range[1]);
    }
    d->ctrl_limited = 1;
  }
  if ((v = dp_yaml_get(n, "ctrl_smoothing", NULL)) != NULL) {
    if (!d->ctrl_limited) {
      return dp_yaml_fail(&s, v, "ctrl_smoothing",
                          "'ctrl_smoothing' needs 'ctrl_range' (the control is not clamped)");
    }
    if ((st = dp_yaml_number_in(&s, v, "ctrl_smoothing", 0, 1, INFINITY, &d->ctrl_smoothing)) !=
        DP_OK) {
      return st;
    }
  }
  *controls = dp_yaml_get(n, "controls", NULL);
  if (*controls != NULL && (*controls)->kind == DP_Y_SEQ &&
      (*controls)->n != (size_t)m->steps) {
    return dp_yaml_fail(&s, *controls, "controls",
                        "'controls' must be a number or a list of %d numbers (one per step; got "
                        "%zu)",
                        m->steps, (*controls)->n);
  }
  return DP_OK;
}

static dpStatus add_actuators(dpLoad *L, const dpYNode *acts) {
  dpYScope top = scope(L, "", "");
  dpModel *m = L->m;
  if (acts->kind != DP_Y_MAP) {
    char got[64];
    dp_yaml_describe(acts, got, sizeof got);
    return dp_yaml_fail(&top, acts, "actuators", "'actuators' must be a mapping (got %s)", got);
  }
  long long total = (long long)acts->n * m->steps;
  if (total > MAX_CONTROLS) {
    return dp_yaml_fail(&top, acts, "actuators",
                        "actuator controls are too large (steps × actuators = %lld > %lld)",
                        total, MAX_CONTROLS);
  }
  double *u = dp_malloc((size_t)m->steps * sizeof *u);
  if (u == NULL) {
    return dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory for %d controls",
                        m->steps);
  }
  dpStatus st = DP_OK;
  for (size_t i = 0; st == DP_OK && i < acts->n; i++) {
    const dpYNode *key = acts->keys[i], *cv = NULL;
    dpActuatorDef d;
    if ((st = check_name(L, key, "actuator", "actuators", DP_NAME_MAX - 1)) != DP_OK ||
        (st = read_actuator(L, key, acts->items[i], &d, &cv)) != DP_OK) {
      break;
    }
    int a = dp_model_add_actuator(m, key->text, &d, L->err);
    if (a < 0) {
      st = locate(L, L->err ? L->err->code : DP_ERR_INVALID, key);
      break;
    }
    if (cv == NULL) {
      continue;
    }
    char what[96], path[96];
    snprintf(what, sizeof what, "actuator '%s'", key->text);
    snprintf(path, sizeof path, "actuators.%s", key->text);
    dpYScope s = scope(L, what, path);
    if ((st = read_components(&s, cv, "controls", m->steps, -INFINITY, u)) == DP_OK &&
        (st = dp_model_set_actuator_controls(m, a, u, L->err)) != DP_OK) {
      st = locate(L, st, cv);
    }
  }
  dp_free(u);
  return st;
}

static dpStatus set_body_contact(dpLoad *L, const dpYNode *n) {
  dpYScope s = scope(L, "contact", "contact");
  dpStatus st;
  if ((st = dp_yaml_check_map(&s, n, "contact", k_contact, NELEM(k_contact))) != DP_OK) {
    return st;
  }
  if (L->m->nb == 0) {
    dpYScope top = scope(L, "", "");
    return dp_yaml_fail(&top, n, "contact",
                        "'contact' sets the contact between bodies, and the scene has no bodies");
  }
  dpColliderDef d = dp_default_collider_def(DP_COLLIDER_GROUND);
  if ((st = read_contact(&s, n, &d)) != DP_OK) {
    return st;
  }
  dp_model_set_body_contact(L->m, &d);
  return DP_OK;
}

// ---- soft bodies and shells ---------------------------------------------------------------------

// Keys of one kind that the other kind does not take.
static dpStatus soft_kind_keys(const dpYScope *s, const dpYNode *n, int shell) {
  static const char *const shell_only[] = {"thickness", "bending_stiffness", "lift",
                                           "drag",      "air_density",       "wind"};
  size_t at;
  if (shell && dp_yaml_get(n, "material", &at) != NULL) {
    return dp_yaml_fail(s, n->keys[at], "material",
                        "'material' is for soft bodies (a shell is a St. Venant-Kirchhoff "
                        "membrane)");
  }
  for (size_t i = 0; !shell && i < NELEM(shell_only); i++) {
    if (dp_yaml_get(n, shell_only[i], &at) != NULL) {
      return dp_yaml_fail(s, n->keys[at], shell_only[i], "'%s' is only for shells",
                          shell_only[i]);
    }
  }
  return DP_OK;
}

// Fail at `at` with the error e of the mesh reader: "mesh: FILE:LINE:COLUMN: what" (the mesh
// file's own position), keeping DP_ERR_IO for a file that cannot be read.
static dpStatus mesh_fail(dpLoad *L, const dpYScope *s, const dpYNode *at, const char *key,
                          const dpError *e) {
  if (e->code == DP_ERR_NOMEM) {
    return dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
  }
  char where[300];
  where[0] = '\0';
  if (e->file[0] != '\0' && e->line > 0 && e->column > 0) {
    snprintf(where, sizeof where, "%.200s:%d:%d: ", e->file, e->line, e->column);
  } else if (e->file[0] != '\0' && e->line > 0) {
    snprintf(where, sizeof where, "%.200s:%d: ", e->file, e->line);
  } else if (e->file[0] != '\0' && strstr(e->message, e->file) == NULL) {
    snprintf(where, sizeof where, "%.200s: ", e->file);
  }
  dpStatus st = dp_yaml_fail(s, at, key, "mesh: %s%s", where, e->message);
  if (e->code == DP_ERR_IO) {
    if (L->err != NULL) {
      L->err->code = DP_ERR_IO;
    }
    return DP_ERR_IO;
  }
  return st;
}

// A mesh file named in the scene: relative to the directory of the scene file (`scene`), unless
// absolute. Returns 0 when the path does not fit.
static int mesh_path(const char *scene, const char *name, char *out, size_t size) {
  const char *slash = strrchr(scene, '/');
  int n = name[0] == '/' || slash == NULL
              ? snprintf(out, size, "%s", name)
              : snprintf(out, size, "%.*s/%s", (int)(slash - scene), scene, name);
  return n >= 0 && (size_t)n < size;
}

// mesh: {box | grid: {size, resolution}}: a generated box of tetrahedra or grid of triangles.
static dpStatus read_generated(dpLoad *L, const dpYScope *s, const dpYNode *gkey,
                               const dpYNode *g, int shell, dpMesh *mesh) {
  const char *kind = shell ? "grid" : "box";
  int dim = shell ? 2 : 3;
  char path[128];
  snprintf(path, sizeof path, "%.100s.%s", s->path, kind);
  dpYScope gs = {s->file, s->err, s->what, path};
  dpStatus st;
  double size[3] = {0, 0, 0};
  if ((st = dp_yaml_check_map(&gs, g, kind, k_mesh_gen, NELEM(k_mesh_gen))) != DP_OK ||
      (st = dp_yaml_require(&gs, g, "size")) != DP_OK ||
      (st = dp_yaml_require(&gs, g, "resolution")) != DP_OK ||
      (st = dp_yaml_vec(&gs, dp_yaml_get(g, "size", NULL), "size", dim, 0, 1, size)) != DP_OK) {
    return st;
  }
  const dpYNode *r = dp_yaml_get(g, "resolution", NULL);
  if (r->kind != DP_Y_SEQ || r->n != (size_t)dim) {
    char got[64];
    if (r->kind == DP_Y_SEQ) {
      snprintf(got, sizeof got, "%zu numbers", r->n);
    } else {
      dp_yaml_describe(r, got, sizeof got);
    }
    return dp_yaml_fail(&gs, r, "resolution",
                        "'resolution' must be a list of %d integers (cells along each axis; got "
                        "%s)",
                        dim, got);
  }
  long long res[3] = {1, 1, 1}, nvert = 1;
  for (int k = 0; k < dim; k++) {
    char item[32];
    snprintf(item, sizeof item, "resolution[%d]", k);
    if ((st = dp_yaml_int(&gs, r->items[k], item, 1, MAX_MESH_RES, &res[k])) != DP_OK) {
      return st;
    }
    nvert *= res[k] + 1;
  }
  if (L->soft_vertices + nvert > MAX_PARTICLES) {
    return dp_yaml_fail(&gs, r, "resolution",
                        "the mesh is too large (%lld vertices; soft bodies and shells have at "
                        "most %lld in all)",
                        nvert, MAX_PARTICLES);
  }
  int ires[3] = {(int)res[0], (int)res[1], (int)res[2]};
  dpError e;
  dp_error_clear(&e);
  st = shell ? dp_mesh_grid_tris(size[0], size[1], ires[0], ires[1], mesh, &e)
             : dp_mesh_box_tets(size, ires, mesh, &e);
  return st == DP_OK ? DP_OK : mesh_fail(L, &gs, gkey, kind, &e);
}

// `mesh:` of a soft body (a box of tetrahedra or a TetGen / Gmsh file) or a shell (a grid of
// triangles or an OBJ / Gmsh file), and a shell's bending hinges.
static dpStatus read_mesh(dpLoad *L, const dpYScope *s, const dpYNode *n, int shell,
                          dpMesh *mesh, int **hinge, int *nhinge) {
  const char *gen_key = shell ? "grid" : "box";
  const dpYNode *v = dp_yaml_get(n, "mesh", NULL), *gen, *file;
  char path[128];
  snprintf(path, sizeof path, "%.100s.mesh", s->path);
  dpYScope ms = {s->file, s->err, s->what, path};
  dpStatus st;
  size_t gi = 0, fi = 0;
  if (v->kind == DP_Y_MAP && dp_yaml_get(v, shell ? "box" : "grid", &gi) != NULL) {
    return dp_yaml_fail(&ms, v->keys[gi], shell ? "box" : "grid",
                        shell ? "'box' is the mesh of a soft body (a shell's mesh is a 'grid' or "
                                "a 'file')"
                              : "'grid' is the mesh of a shell (a soft body's mesh is a 'box' or "
                                "a 'file')");
  }
  if ((st = dp_yaml_check_map(&ms, v, "mesh", shell ? k_shell_mesh : k_soft_mesh,
                              shell ? NELEM(k_shell_mesh) : NELEM(k_soft_mesh))) != DP_OK) {
    return st;
  }
  gen = dp_yaml_get(v, gen_key, &gi);
  file = dp_yaml_get(v, "file", &fi);
  if (gen != NULL && file != NULL) {
    return dp_yaml_fail(&ms, v->keys[fi], "file", "give either '%s' or 'file', not both",
                        gen_key);
  }
  if (gen == NULL && file == NULL) {
    return dp_yaml_fail(&ms, v, "mesh", "'mesh' needs '%s' (a generated %s) or 'file' (a mesh "
                        "file)", gen_key, shell ? "grid of triangles" : "box of tetrahedra");
  }
  const dpYNode *at;
  const char *mpath = NULL;
  char full[1024];
  if (gen != NULL) {
    at = v->keys[gi];
    if ((st = read_generated(L, &ms, at, gen, shell, mesh)) != DP_OK) {
      return st;
    }
  } else {
    at = file->set != NULL ? file : v->keys[fi];
    const char *fname;
    if ((st = dp_yaml_string(&ms, file, "file", &fname)) != DP_OK) {
      return st;
    }
    if (fname[0] == '\0' || !mesh_path(L->file, fname, full, sizeof full)) {
      return dp_yaml_fail(&ms, file, "file",
                          fname[0] == '\0' ? "'file' must name a mesh file"
                                           : "'file': the path is too long");
    }
    dpError e;
    dp_error_clear(&e);
    if (dp_mesh_load(full, mesh, &e) != DP_OK) {
      return mesh_fail(L, &ms, at, "file", &e);
    }
    mpath = full;
    if (shell ? mesh->ntri == 0 : mesh->ntet == 0) {
      return dp_yaml_fail(&ms, at, "file",
                          shell ? "mesh: %s has no triangles (a shell's mesh is a triangle "
                                  "surface: OBJ, or Gmsh triangles)"
                                : "mesh: %s has no tetrahedra (a soft body's mesh is a TetGen "
                                  ".node/.ele or a Gmsh tetrahedral mesh)",
                          full);
    }
    if (L->soft_vertices + mesh->nv > MAX_PARTICLES) {
      return dp_yaml_fail(&ms, at, "file",
                          "mesh: %s is too large (%d vertices; soft bodies and shells have at "
                          "most %lld in all)",
                          full, mesh->nv, MAX_PARTICLES);
    }
  }
  if (shell) {
    dpError e;
    dp_error_clear(&e);
    if (dp_mesh_hinges(mesh, mpath, hinge, nhinge, &e) != DP_OK) {
      return mesh_fail(L, &ms, at, gen != NULL ? gen_key : "file", &e);
    }
  }
  L->soft_vertices += mesh->nv;
  return DP_OK;
}

// A list of n 3-vectors (one per vertex), into out (n × 3).
static dpStatus read_rows(const dpYScope *s, const dpYNode *v, const char *key, int n,
                          double *out) {
  if (v->kind != DP_Y_SEQ || v->n != (size_t)n) {
    char got[64];
    if (v->kind == DP_Y_SEQ) {
      snprintf(got, sizeof got, "%zu", v->n);
    } else {
      dp_yaml_describe(v, got, sizeof got);
    }
    return dp_yaml_fail(s, v, key, "'%s' must be a list of %d 3-vectors (one per vertex; got %s)",
                        key, n, got);
  }
  for (int i = 0; i < n; i++) {
    char item[64];
    snprintf(item, sizeof item, "%s[%d]", key, i);
    dpStatus st = dp_yaml_vec(s, v->items[i], item, 3, -INFINITY, 0, out + 3 * (size_t)i);
    if (st != DP_OK) {
      return st;
    }
  }
  return DP_OK;
}

// A number x with lo < x (lo <= x unless lo_open) and x < hi.
static dpStatus read_open(const dpYScope *s, const dpYNode *v, const char *key, double lo,
                          int lo_open, double hi, double *out) {
  dpStatus st = dp_yaml_number_in(s, v, key, lo, lo_open, INFINITY, out);
  if (st == DP_OK && !(*out < hi)) {
    return dp_yaml_fail(s, v, key, "'%s' must be < %g (got %s)", key, hi, v->text);
  }
  return st;
}

// Young's modulus or Poisson's ratio: a number, or with per_element a list of one number per
// element (nelem); each in the range of read_open. *value receives the number (the first of a
// list), *list the list (dp_malloc'ed) or NULL.
static dpStatus read_elem_values(dpLoad *L, const dpYScope *s, const dpYNode *v, const char *key,
                                 int per_element, int nelem, const char *elem, double lo,
                                 int lo_open, double hi, double *value, double **list) {
  *list = NULL;
  if (v->kind != DP_Y_SEQ) {
    return read_open(s, v, key, lo, lo_open, hi, value);
  }
  if (!per_element) {
    return dp_yaml_fail(s, v, key,
                        "'%s' is a list: one value per %s needs 'per_element: true'", key, elem);
  }
  if (v->n != (size_t)nelem) {
    return dp_yaml_fail(s, v, key, "'%s' must be a number or a list of %d numbers (one per %s; "
                        "got %zu)", key, nelem, elem, v->n);
  }
  double *x = dp_malloc((size_t)nelem * sizeof *x);
  if (x == NULL) {
    return dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
  }
  for (int i = 0; i < nelem; i++) {
    char item[64];
    snprintf(item, sizeof item, "%s[%d]", key, i);
    dpStatus st = read_open(s, v->items[i], item, lo, lo_open, hi, &x[i]);
    if (st != DP_OK) {
      dp_free(x);
      return st;
    }
  }
  *value = x[0];
  *list = x;
  return DP_OK;
}

// The pinned vertices: `pinned` indices and the vertices whose rest position lies in
// `pin_region`, in increasing order (*pin dp_malloc'ed, NULL when none).
static dpStatus read_pins(dpLoad *L, const dpYScope *s, const dpYNode *n, int nv,
                          const double *rest, int **pin, int *npin) {
  const dpYNode *vp = dp_yaml_get(n, "pinned", NULL), *vr = dp_yaml_get(n, "pin_region", NULL);
  *pin = NULL;
  *npin = 0;
  if (vp == NULL && vr == NULL) {
    return DP_OK;
  }
  unsigned char *mark = dp_calloc((size_t)nv, 1);
  if (mark == NULL) {
    return dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
  }
  dpStatus st = DP_OK;
  if (vp != NULL && vp->kind != DP_Y_SEQ) {
    char got[64];
    dp_yaml_describe(vp, got, sizeof got);
    st = dp_yaml_fail(s, vp, "pinned", "'pinned' must be a list of vertex indices (got %s)", got);
  }
  for (size_t k = 0; st == DP_OK && vp != NULL && k < vp->n; k++) {
    char item[32];
    long long i;
    snprintf(item, sizeof item, "pinned[%zu]", k);
    if ((st = dp_yaml_int(s, vp->items[k], item, -(1LL << 40), 1LL << 40, &i)) != DP_OK) {
      break;
    }
    if (i < 0 || i >= nv) {
      st = dp_yaml_fail(s, vp->items[k], "pinned",
                        "pinned index %lld is out of range (the mesh has %d vertices: 0..%d)", i,
                        nv, nv - 1);
    } else if (mark[i]) {
      st = dp_yaml_fail(s, vp->items[k], "pinned", "vertex %lld is listed twice in 'pinned'", i);
    }
    if (st == DP_OK) {
      mark[i] = 1;
    }
  }
  if (st == DP_OK && vr != NULL) {
    char path[128];
    snprintf(path, sizeof path, "%.100s.pin_region", s->path);
    dpYScope rs = {s->file, s->err, s->what, path};
    double lo[3], hi[3];
    if ((st = dp_yaml_check_map(&rs, vr, "pin_region", k_region, NELEM(k_region))) == DP_OK &&
        (st = dp_yaml_require(&rs, vr, "min")) == DP_OK &&
        (st = dp_yaml_require(&rs, vr, "max")) == DP_OK &&
        (st = dp_yaml_vec(&rs, dp_yaml_get(vr, "min", NULL), "min", 3, -INFINITY, 0, lo)) ==
            DP_OK &&
        (st = dp_yaml_vec(&rs, dp_yaml_get(vr, "max", NULL), "max", 3, -INFINITY, 0, hi)) ==
            DP_OK) {
      for (int k = 0; st == DP_OK && k < 3; k++) {
        if (!(lo[k] <= hi[k])) {
          st = dp_yaml_fail(&rs, dp_yaml_get(vr, "max", NULL), "max",
                            "'pin_region' needs min <= max in each component (got min %g > max "
                            "%g)",
                            lo[k], hi[k]);
        }
      }
      int inside = 0;
      for (int i = 0; st == DP_OK && i < nv; i++) {
        const double *x = rest + 3 * (size_t)i;
        if (x[0] >= lo[0] && x[0] <= hi[0] && x[1] >= lo[1] && x[1] <= hi[1] && x[2] >= lo[2] &&
            x[2] <= hi[2]) {
          mark[i] = 1;
          inside++;
        }
      }
      if (st == DP_OK && inside == 0) {
        st = dp_yaml_fail(s, vr, "pin_region",
                          "'pin_region' contains no vertex (the rest positions lie elsewhere)");
      }
    }
  }
  int count = 0;
  for (int i = 0; st == DP_OK && i < nv; i++) {
    count += mark[i];
  }
  long long values = (long long)L->m->steps * count * 3;
  if (st == DP_OK && L->pin_values + values > MAX_CONTROLS) {
    st = dp_yaml_fail(s, vp != NULL ? vp : vr, vp != NULL ? "pinned" : "pin_region",
                      "too many pinned vertices for the steps (the controls of all pinned "
                      "vertices, steps × vertices × 3, would be %lld > %lld)",
                      L->pin_values + values, MAX_CONTROLS);
  }
  if (st == DP_OK && count > 0) {
    *pin = dp_malloc((size_t)count * sizeof **pin);
    if (*pin == NULL) {
      st = dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
    }
    for (int i = 0, k = 0; st == DP_OK && i < nv; i++) {
      if (mark[i]) {
        (*pin)[k++] = i;
      }
    }
    if (st == DP_OK) {
      *npin = count;
      L->pin_values += values;
    }
  }
  dp_free(mark);
  return st;
}

// Where the rest positions come from: `rest:` (one 3-vector per vertex), or the mesh scaled by
// `scale`, then moved by `position`.
static dpStatus read_rest(const dpYScope *s, const dpYNode *n, const dpMesh *mesh,
                          double *rest) {
  const dpYNode *vr = dp_yaml_get(n, "rest", NULL), *v;
  dpStatus st;
  if (vr != NULL) {
    static const char *const placing[] = {"position", "scale"};
    for (size_t k = 0; k < NELEM(placing); k++) {
      size_t at;
      if (dp_yaml_get(n, placing[k], &at) != NULL) {
        return dp_yaml_fail(s, n->keys[at], placing[k],
                            "give either 'rest' or '%s' (which places the mesh), not both",
                            placing[k]);
      }
    }
    return read_rows(s, vr, "rest", mesh->nv, rest);
  }
  double pos[3] = {0, 0, 0}, scale = 1;
  if ((v = dp_yaml_get(n, "position", NULL)) != NULL &&
      (st = dp_yaml_vec(s, v, "position", 3, -INFINITY, 0, pos)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "scale", NULL)) != NULL &&
      (st = dp_yaml_number_in(s, v, "scale", 0, 1, INFINITY, &scale)) != DP_OK) {
    return st;
  }
  for (size_t i = 0; i < 3 * (size_t)mesh->nv; i++) {
    rest[i] = scale * mesh->X[i] + pos[i % 3];
  }
  return DP_OK;
}

// The material and the scalar constants of a soft body or shell (E and ν lists to *late).
static dpStatus read_soft_constants(dpLoad *L, const dpYScope *s, const dpYNode *n, int shell,
                                    int nelem, dpSoftDef *d, dpSoftLate *late) {
  const dpYNode *v;
  dpStatus st;
  const char *elem = shell ? "triangle" : "tetrahedron";
  int mat = (int)d->material;
  if ((v = dp_yaml_get(n, "material", NULL)) != NULL &&
      (st = dp_yaml_enum(s, v, "material", k_materials, NELEM(k_materials), &mat)) != DP_OK) {
    return st;
  }
  d->material = (dpMaterial)mat;
  if ((v = dp_yaml_get(n, "per_element", NULL)) != NULL &&
      (st = dp_yaml_bool(s, v, "per_element", &d->per_element)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "youngs_modulus", NULL)) != NULL &&
      (st = read_elem_values(L, s, v, "youngs_modulus", d->per_element, nelem, elem, 0, 1,
                             INFINITY, &d->youngs_modulus, &late->E)) != DP_OK) {
    return st;
  }
  if ((v = dp_yaml_get(n, "poisson_ratio", NULL)) != NULL &&
      (st = read_elem_values(L, s, v, "poisson_ratio", d->per_element, nelem, elem, 0, 0,
                             shell ? 1.0 : 0.5, &d->poisson_ratio, &late->nu)) != DP_OK) {
    return st;
  }
  struct {
    const char *key;
    double *out;
    double lo;
    int open;
  } f[] = {{"density", &d->density, 0, 1},
           {"mass_damping", &d->mass_damping, 0, 0},
           {"stiffness_damping", &d->stiffness_damping, 0, 0},
           {"radius", &d->radius, 0, 0},
           {"thickness", &d->thickness, 0, 1},
           {"bending_stiffness", &d->bending_stiffness, 0, 0},
           {"lift", &d->lift, -INFINITY, 0},
           {"drag", &d->drag, 0, 0},
           {"air_density", &d->air_density, 0, 0}};
  for (size_t i = 0; i < NELEM(f); i++) {
    if ((v = dp_yaml_get(n, f[i].key, NULL)) != NULL &&
        (st = dp_yaml_number_in(s, v, f[i].key, f[i].lo, f[i].open, INFINITY, f[i].out)) !=
            DP_OK) {
      return st;
    }
  }
  if ((v = dp_yaml_get(n, "wind", NULL)) != NULL &&
      (st = dp_yaml_vec(s, v, "wind", 3, -INFINITY, 0, d->wind)) != DP_OK) {
    return st;
  }
  return DP_OK;
}

static dpStatus add_soft(dpLoad *L, const dpYNode *key, const dpYNode *n, int shell) {
  char what[96], path[96];
  snprintf(what, sizeof what, "%s '%s'", shell ? "shell" : "soft body", key->text);
  snprintf(path, sizeof path, "%s.%s", shell ? "shells" : "softbodies", key->text);
  dpYScope s = scope(L, what, path);
  dpModel *m = L->m;
  dpMesh mesh;
  memset(&mesh, 0, sizeof mesh);
  double *rest = NULL, *x0 = NULL, *pinv = NULL;
  int *hinge = NULL, *pin = NULL, nhinge = 0, npin = 0;
  dpSoftLate late = {NULL, NULL, NULL};
  dpSoftDef d = dp_default_soft_def(shell);
  const dpYNode *v, *vv;
  dpStatus st;
  if ((n->kind == DP_Y_MAP && (st = soft_kind_keys(&s, n, shell)) != DP_OK) ||
      (st = dp_yaml_check_map(&s, n, key->text, shell ? k_shell : k_soft,
                              shell ? NELEM(k_shell) : NELEM(k_soft))) != DP_OK ||
      (st = dp_yaml_require(&s, n, "mesh")) != DP_OK ||
      (st = read_mesh(L, &s, n, shell, &mesh, &hinge, &nhinge)) != DP_OK) {
    goto done;
  }
  int nv = mesh.nv, nelem = shell ? mesh.ntri : mesh.ntet;
  size_t nv3 = 3 * (size_t)nv;
  if ((rest = dp_malloc(nv3 * sizeof *rest)) == NULL) {
    st = dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
    goto done;
  }
  if ((st = read_rest(&s, n, &mesh, rest)) != DP_OK) {
    goto done;
  }
  if ((v = dp_yaml_get(n, "vertex_position", NULL)) != NULL) {
    if ((x0 = dp_malloc(nv3 * sizeof *x0)) == NULL) {
      st = dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
      goto done;
    }
    if ((st = read_rows(&s, v, "vertex_position", nv, x0)) != DP_OK) {
      goto done;
    }
  }
  v = dp_yaml_get(n, "velocity", NULL);
  size_t at;
  if ((vv = dp_yaml_get(n, "vertex_velocity", &at)) != NULL && v != NULL) {
    st = dp_yaml_fail(&s, n->keys[at], "vertex_velocity",
                      "give either 'velocity' (of every vertex) or 'vertex_velocity' (one per "
                      "vertex), not both");
    goto done;
  }
  if (v != NULL && (st = dp_yaml_vec(&s, v, "velocity", 3, -INFINITY, 0, d.velocity)) != DP_OK) {
    goto done;
  }
  if (vv != NULL) {
    if ((late.v0 = dp_malloc(nv3 * sizeof *late.v0)) == NULL) {
      st = dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
      goto done;
    }
    if ((st = read_rows(&s, vv, "vertex_velocity", nv, late.v0)) != DP_OK) {
      goto done;
    }
  }
  if ((st = read_soft_constants(L, &s, n, shell, nelem, &d, &late)) != DP_OK ||
      (st = read_pins(L, &s, n, nv, rest, &pin, &npin)) != DP_OK) {
    goto done;
  }
  if ((v = dp_yaml_get(n, "pin_velocity", NULL)) != NULL) {
    double u[3];
    if ((st = dp_yaml_vec(&s, v, "pin_velocity", 3, -INFINITY, 0, u)) != DP_OK) {
      goto done;
    }
    if (npin == 0) {
      st = dp_yaml_fail(&s, v, "pin_velocity",
                        "'pin_velocity' needs pinned vertices ('pinned' or 'pin_region')");
      goto done;
    }
    if (u[0] != 0 || u[1] != 0 || u[2] != 0) {
      size_t count = (size_t)m->steps * (size_t)npin;
      if ((pinv = dp_malloc(3 * count * sizeof *pinv)) == NULL) {
        st = dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
        goto done;
      }
      for (size_t k = 0; k < count; k++) {
        memcpy(pinv + 3 * k, u, sizeof u);
      }
    }
  }
  d.nv = nv;
  d.rest = rest;
  d.position = x0;
  d.nelem = nelem;
  d.elem = shell ? mesh.tri : mesh.tet;
  d.nhinge = nhinge;
  d.hinge = hinge;
  d.npin = npin;
  d.pin = pin;
  d.pin_velocity = pinv;
  if (dp_model_add_soft(m, key->text, &d, L->err) < 0) {
    st = locate(L, L->err ? L->err->code : DP_ERR_INVALID, key);
    goto done;
  }
  L->late[L->nlate++] = late;
  memset(&late, 0, sizeof late);
done:
  dp_mesh_free(&mesh);
  dp_free(rest);
  dp_free(x0);
  dp_free(pinv);
  dp_free(hinge);
  dp_free(pin);
  dp_free(late.E);
  dp_free(late.nu);
  dp_free(late.v0);
  return st;
}

// `softbodies:` then `shells:`, in document order (the model's order); names are shared.
static dpStatus add_softs(dpLoad *L) {
  static const char *const section[2] = {"softbodies", "shells"};
  dpYScope top = scope(L, "", "");
  const dpYNode *sec[2];
  size_t total = 0;
  for (int k = 0; k < 2; k++) {
    sec[k] = dp_yaml_get(L->root, section[k], NULL);
    if (sec[k] != NULL && sec[k]->kind != DP_Y_MAP) {
      char got[64];
      dp_yaml_describe(sec[k], got, sizeof got);
      return dp_yaml_fail(&top, sec[k], section[k], "'%s' must be a mapping (got %s)",
                          section[k], got);
    }
    total += sec[k] != NULL ? sec[k]->n : 0;
  }
  if (total == 0) {
    return DP_OK;
  }
  const dpYNode *integ = dp_yaml_get(L->root, "integrator", NULL);
  if (L->m->integrator == DP_RK4 && integ != NULL) {
    return dp_yaml_fail(&top, integ, "integrator",
                        "'integrator': rk4 is not available with soft bodies or shells (use "
                        "implicit_euler, semi_implicit_euler or explicit_euler)");
  }
  L->late = dp_calloc(total, sizeof *L->late);
  if (L->late == NULL) {
    return dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
  }
  for (int k = 0; k < 2; k++) {
    for (size_t i = 0; sec[k] != NULL && i < sec[k]->n; i++) {
      const dpYNode *key = sec[k]->keys[i];
      dpStatus st = check_name(L, key, k ? "shell" : "soft body", section[k], DP_NAME_MAX - 1);
      if (st != DP_OK) {
        return st;
      }
      if (k == 1 && sec[0] != NULL && dp_yaml_get(sec[0], key->text, NULL) != NULL) {
        dpYScope s = scope(L, "", "shells");
        return dp_yaml_fail(&s, key, key->text,
                            "duplicate name '%s' (also a soft body: soft bodies and shells "
                            "share names)",
                            key->text);
      }
      if ((st = add_soft(L, key, sec[k]->items[i], k)) != DP_OK) {
        return st;
      }
    }
  }
  return DP_OK;
}

// After compiling: per-element E and ν lists, per-vertex velocities and `pin_controls` go to θ.
static dpStatus apply_soft_values(dpLoad *L) {
  dpModel *m = L->m;
  double *th = m->theta0;
  for (int s = 0; s < L->nlate && s < m->nsoft; s++) {
    const dpSoftLate *late = &L->late[s];
    size_t ne = (size_t)m->soft_ne[s], nv3 = 3 * (size_t)m->soft_nv[s];
    if (late->E != NULL) {
      memcpy(th + m->off.soft_E + m->soft_madr[s], late->E, ne * sizeof *th);
    }
    if (late->nu != NULL) {
      memcpy(th + m->off.soft_nu + m->soft_madr[s], late->nu, ne * sizeof *th);
    }
    if (late->v0 != NULL) {
      memcpy(th + m->off.soft_v0 + 3 * (size_t)m->soft_vadr[s], late->v0, nv3 * sizeof *th);
    }
  }
  size_t at;
  const dpYNode *n = dp_yaml_get(L->root, "pin_controls", &at);
  if (n == NULL) {
    return DP_OK;
  }
  dpYScope s = scope(L, "", "");
  if (m->npin == 0) {
    return dp_yaml_fail(&s, L->root->keys[at], "pin_controls",
                        "'pin_controls' needs pinned vertices of soft bodies or shells");
  }
  return read_control_values(&s, n, "pin_controls", m->steps, m->npin, "pinned vertex",
                             th + m->off.pin_controls);
}

// The node of a soft body or shell (item `at` of its section) that an error of
// dp_model_finalize about it points at: a key the message quotes, its pins for a pinned vertex,
// its `rest` (or `mesh`) for an element or a vertex, else its name.
static const dpYNode *soft_error_node(const dpYNode *sec, size_t at, const char *msg) {
  const dpYNode *n = sec->items[at];
  if (n->kind != DP_Y_MAP) {
    return sec->keys[at];
  }
  for (size_t k = 0; k < n->n; k++) {
    char quoted[DP_NAME_MAX + 2];
    snprintf(quoted, sizeof quoted, "'%s'", n->keys[k]->text);
    if (strstr(msg, quoted) != NULL) {
      return n->keys[k];
    }
  }
  static const char *const pins[] = {"pinned", "pin_region"}, *const geom[] = {"rest", "mesh"};
  const char *const *cand = strstr(msg, "pinned") != NULL ? pins : geom;
  for (size_t k = 0; k < 2; k++) {
    size_t i;
    if (dp_yaml_get(n, cand[k], &i) != NULL) {
      return n->keys[i];
    }
  }
  return sec->keys[at];
}

// The document node an error of dp_model_finalize is about: the body, shape, actuator, soft body
// or shell its message names, `contact`, `integrator`; else the top level.
static const dpYNode *model_error_node(const dpLoad *L) {
  const char *msg = L->err != NULL ? L->err->message : "";
  static const struct {
    const char *prefix;
    const char *section;
  } kinds[] = {{"body '", "bodies"},
               {"shape '", NULL},
               {"actuator '", "actuators"},
               {"soft body '", "softbodies"},
               {"shell '", "shells"}};
  for (size_t k = 0; k < NELEM(kinds); k++) {
    size_t len = strlen(kinds[k].prefix);
    const char *end = strncmp(msg, kinds[k].prefix, len) == 0 ? strchr(msg + len, '\'') : NULL;
    if (end == NULL || (size_t)(end - msg - len) >= DP_NAME_MAX) {
      continue;
    }
    char name[DP_NAME_MAX];
    memcpy(name, msg + len, (size_t)(end - msg - len));
    name[end - msg - len] = '\0';
    if (kinds[k].section == NULL) {
      int i = dp_model_find_shape(L->m, name);
      if (i >= 0 && (size_t)i < L->nshnode && L->shnode[i] != NULL) {
        return L->shnode[i];
      }
      continue;
    }
    const dpYNode *sec = dp_yaml_get(L->root, kinds[k].section, NULL);
    size_t at;
    if (sec != NULL && sec->kind == DP_Y_MAP && dp_yaml_get(sec, name, &at) != NULL) {
      return k >= 3 ? soft_error_node(sec, at, end + 1) : sec->keys[at];
    }
  }
  const dpYNode *n = NULL;
  if (strncmp(msg, "contact:", 8) == 0) {
    n = dp_yaml_get(L->root, "contact", NULL);
  } else if (strncmp(msg, "'integrator'", 12) == 0 ||
             strncmp(msg, "soft bodies and shells step", 27) == 0) {
    n = dp_yaml_get(L->root, "integrator", NULL);
  }
  return n != NULL ? n : L->root;
}

// ---- parameters ---------------------------------------------------------------------------------

static dpStatus add_specs(dpLoad *L, const dpYNode *list) {
  dpYScope top = scope(L, "", "");
  if (list->kind != DP_Y_SEQ) {
    char got[64];
    dp_yaml_describe(list, got, sizeof got);
    return dp_yaml_fail(&top, list, "parameters",
                        "'parameters' must be a list of {path, lower, upper, scale} (got %s)",
                        got);
  }
  L->specnode = dp_calloc(list->n > 0 ? list->n : 1, sizeof *L->specnode);
  if (L->specnode == NULL) {
    return dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
  }
  for (size_t i = 0; i < list->n; i++) {
    const dpYNode *n = list->items[i], *v;
    char what[64], path[64];
    snprintf(what, sizeof what, "parameters[%zu]", i);
    snprintf(path, sizeof path, "parameters.%zu", i);
    dpYScope s = scope(L, what, path);
    dpParamSpec spec;
    memset(&spec, 0, sizeof spec);
    spec.lower = -INFINITY;
    spec.upper = INFINITY;
    const char *p;
    int scale = 0;
    dpStatus st;
    if ((st = dp_yaml_check_map(&s, n, what, k_param, NELEM(k_param))) != DP_OK ||
        (st = dp_yaml_require(&s, n, "path")) != DP_OK ||
        (st = dp_yaml_string(&s, dp_yaml_get(n, "path", NULL), "path", &p)) != DP_OK) {
      return st;
    }
    if (strlen(p) >= DP_PATH_MAX) {
      return dp_yaml_fail(&s, dp_yaml_get(n, "path", NULL), "path",
                          "'path' is too long (at most %d characters)", DP_PATH_MAX - 1);
    }
    snprintf(spec.path, sizeof spec.path, "%s", p);
    if ((v = dp_yaml_get(n, "lower", NULL)) != NULL &&
        (st = dp_yaml_number(&s, v, "lower", &spec.lower)) != DP_OK) {
      return st;
    }
    if ((v = dp_yaml_get(n, "upper", NULL)) != NULL &&
        (st = dp_yaml_number(&s, v, "upper", &spec.upper)) != DP_OK) {
      return st;
    }
    if (!(spec.lower < spec.upper)) {
      return dp_yaml_fail(&s, v, "upper", "'lower' must be < 'upper' (got %g and %g)",
                          spec.lower, spec.upper);
    }
    if ((v = dp_yaml_get(n, "scale", NULL)) != NULL &&
        (st = dp_yaml_enum(&s, v, "scale", k_scales, NELEM(k_scales), &scale)) != DP_OK) {
      return st;
    }
    spec.log_scale = scale;
    if (scale && isfinite(spec.lower) && !(spec.lower > 0)) {
      return dp_yaml_fail(&s, dp_yaml_get(n, "lower", NULL), "lower",
                          "'lower' must be > 0 with scale: log (got %g)", spec.lower);
    }
    if ((st = dp_model_add_spec(L->m, &spec, L->err)) != DP_OK) {
      return locate(L, st, n);
    }
    L->specnode[i] = dp_yaml_get(n, "path", NULL);
  }
  return DP_OK;
}

static int param_match(const char *pattern, const char *path) {
  return dp_path_match(pattern, path);
}

// After finalize: every spec path names θ entries; log-scaled values are positive.
static dpStatus check_specs(dpLoad *L) {
  const dpModel *m = L->m;
  for (size_t i = 0; i < m->nspec; i++) {
    const dpParamSpec *sp = &m->spec[i];
    char what[64], path[64];
    snprintf(what, sizeof what, "parameters[%zu]", i);
    snprintf(path, sizeof path, "parameters.%zu", i);
    dpYScope s = scope(L, what, path);
    size_t hits = 0;
    for (size_t k = 0; k < m->nparam; k++) {
      const dpParam *p = &m->param[k];
      if (!param_match(sp->path, p->path)) {
        continue;
      }
      hits++;
      for (size_t c = 0; sp->log_scale && c < p->len; c++) {
        double x = m->theta0[p->offset + c];
        if (!(x > 0)) {
          return dp_yaml_fail(&s, L->specnode[i], "scale",
                              "'%s' is %g: scale: log needs positive values", p->path, x);
        }
      }
    }
    if (hits == 0) {
      const char *sug = dp_param_suggest(m, sp->path);
      if (sug != NULL) {
        return dp_yaml_fail(&s, L->specnode[i], "path",
                            "unknown parameter path '%s' (did you mean '%s'?)", sp->path, sug);
      }
      return dp_yaml_fail(&s, L->specnode[i], "path", "unknown parameter path '%s'", sp->path);
    }
  }
  return DP_OK;
}

// ---- θ values: `overrides:` and --set ---------------------------------------------------------

void dp_scene_param_range(const dpParam *p, size_t c, double *lo, int *lo_open, double *hi,
                          int *hi_open) {
  const char *field = strrchr(p->path, '.');
  field = field != NULL ? field + 1 : p->path;
  int soft = strncmp(p->path, "softbodies.", 11) == 0 || strncmp(p->path, "shells.", 7) == 0;
  // A sphere's radius must be > 0; a particle's contact radius may be 0 (a point). A shape's
  // size is > 0 but for a capsule's half-length (component 1 of 2), which may be 0.
  int shape_size = strcmp(field, "size") == 0 && strncmp(p->path, "shapes.", 7) == 0;
  int positive = strcmp(field, "mass") == 0 ||
                 (strcmp(field, "radius") == 0 && strncmp(p->path, "spheres.", 8) == 0) ||
                 strcmp(field, "half_extents") == 0 || strcmp(field, "smoothing") == 0 ||
                 strcmp(field, "friction_smoothing") == 0 ||
                 strcmp(field, "damping_smoothing") == 0 ||
                 strcmp(field, "limit_smoothing") == 0 ||
                 (shape_size && !(p->len == 2 && c == 1)) ||
                 (soft && (strcmp(field, "youngs_modulus") == 0 || strcmp(field, "density") == 0 ||
                           strcmp(field, "thickness") == 0));
  *lo = positive ? fmax(0.0, p->lower) : p->lower;
  *lo_open = positive;
  *hi = p->upper;
  // Poisson's ratio stays below its bound (0.5 for a solid, 1 for a shell): λ is finite.
  *hi_open = soft && strcmp(field, "poisson_ratio") == 0;
}

static dpStatus check_range(const dpYScope *sc, const dpYNode *v, const char *name,
                            const dpParam *p, size_t c, double x) {
  double lo, hi;
  int lo_open, hi_open;
  dp_scene_param_range(p, c, &lo, &lo_open, &hi, &hi_open);
  if (lo_open ? !(x > lo) : !(x >= lo)) {
    return dp_yaml_fail(sc, v, name, "'%s' must be %s %g (got %g)", name, lo_open ? ">" : ">=",
                        lo, x);
  }
  if (hi_open ? !(x < hi) : x > hi) {
    return dp_yaml_fail(sc, v, name, "'%s' must be %s %g (got %g)", name, hi_open ? "<" : "<=",
                        hi, x);
  }
  return DP_OK;
}

// Give the value v to θ entry p: one number for every component; a list of one number per
// component; for an entry of vertices (nv × 3) also a list of nv 3-vectors; for `controls` and
// `pin_controls` also the forms of controls.values. name stands for the value in messages.
// Every component must lie in the entry's range. Values are read in place: on failure the model
// is discarded.
static dpStatus assign_entry(dpLoad *L, const dpYScope *sc, const dpParam *p, const dpYNode *v,
                             const char *name) {
  double *th = L->m->theta0 + p->offset;
  dpStatus st;
  int rows = p->ndim == 2 && v->kind == DP_Y_SEQ && v->n > 0 && v->items[0]->kind == DP_Y_SEQ;
  if ((p->ndim == 3 && v->kind == DP_Y_SEQ) || rows) {
    st = rows ? read_rows(sc, v, name, (int)p->shape[0], th)
              : read_control_values(sc, v, name, (int)p->shape[0], (int)p->shape[1],
                                    strcmp(p->path, "controls") == 0 ? "controlled particle"
                                                                     : "pinned vertex",
                                    th);
    if (st != DP_OK) {
      return st;
    }
    for (size_t c = 0; c < p->len; c++) {
      if ((st = check_range(sc, v, name, p, c, th[c])) != DP_OK) {
        return st;
      }
    }
    return DP_OK;
  }
  if (v->kind == DP_Y_SEQ) {
    if (p->len != v->n || p->ndim == 3) {
      return dp_yaml_fail(sc, v, name, "'%s' takes %zu number%s, not a list of %zu", p->path,
                          p->len, p->len == 1 ? "" : "s", v->n);
    }
    for (size_t c = 0; c < p->len; c++) {
      char key[DP_PATH_MAX + 24];
      double x;
      snprintf(key, sizeof key, "%s[%zu]", name, c);
      if ((st = dp_yaml_number(sc, v->items[c], key, &x)) != DP_OK ||
          (st = check_range(sc, v->items[c], name, p, c, x)) != DP_OK) {
        return st;
      }
      th[c] = x;
    }
    return DP_OK;
  }
  double x;
  if ((st = dp_yaml_number(sc, v, name, &x)) != DP_OK) {
    return st;
  }
  for (size_t c = 0; c < p->len; c++) {
    if ((st = check_range(sc, v, name, p, c, x)) != DP_OK) {
      return st;
    }
  }
  for (size_t c = 0; c < p->len; c++) {
    th[c] = x;
  }
  return DP_OK;
}

static int param_cmp(const void *a, const void *b) {
  return strcmp((*(const dpParam *const *)a)->path, (*(const dpParam *const *)b)->path);
}

static int param_key_cmp(const void *key, const void *b) {
  return strcmp(key, (*(const dpParam *const *)b)->path);
}

// The entries a key of `overrides:` names: one (found by bisection in `order`, the entries
// sorted by path) for a plain path, or every match of a pattern.
static dpStatus apply_override(dpLoad *L, const dpYScope *s, const dpParam *const *order,
                               const dpYNode *key, const dpYNode *v, size_t *hits) {
  const dpModel *m = L->m;
  const char *path = key->text;
  dpStatus st = DP_OK;
  *hits = 0;
  if (strpbrk(path, "*?[") == NULL) {
    const dpParam *const *p = bsearch(path, order, m->nparam, sizeof *order, param_key_cmp);
    if (p != NULL) {
      *hits = 1;
      st = assign_entry(L, s, *p, v, path);
    }
    return st;
  }
  for (size_t k = 0; st == DP_OK && k < m->nparam; k++) {
    if (param_match(path, m->param[k].path)) {
      (*hits)++;
      st = assign_entry(L, s, &m->param[k], v, path);
    }
  }
  return st;
}

// A key of `overrides:` that names no entry: suggest the nearest path.
static dpStatus unknown_override(const dpLoad *L, const dpYScope *s, const dpYNode *key) {
  const char *path = key->text;
  const char *sug = dp_param_suggest(L->m, path);
  if (sug != NULL) {
    return dp_yaml_fail(s, key, path, "unknown parameter path '%s' (did you mean '%s'?)", path,
                        sug);
  }
  for (size_t k = 0; k < NELEM(k_top); k++) {
    if (strcmp(path, k_top[k]) == 0) {
      return dp_yaml_fail(s, key, path,
                          "unknown parameter path '%s' (a document value: set it at the top "
                          "level)",
                          path);
    }
  }
  return dp_yaml_fail(s, key, path, "unknown parameter path '%s'", path);
}

// The scene's `overrides:` mapping: each parameter path (or pattern) to the value its entries
// take, applied in document order after compiling.
static dpStatus apply_overrides(dpLoad *L, const dpYNode *map) {
  const dpModel *m = L->m;
  dpYScope top = scope(L, "", "");
  if (map->kind != DP_Y_MAP) {
    char got[64];
    dp_yaml_describe(map, got, sizeof got);
    return dp_yaml_fail(&top, map, "overrides",
                        "'overrides' must be a mapping of parameter paths to values (got %s)",
                        got);
  }
  // A written scene can hold an override for every entry: look plain paths up by bisection.
  const dpParam **order = dp_malloc((m->nparam > 0 ? m->nparam : 1) * sizeof *order);
  if (order == NULL) {
    return dp_error_set(L->err, DP_ERR_NOMEM, L->file, 0, 0, "out of memory");
  }
  for (size_t k = 0; k < m->nparam; k++) {
    order[k] = &m->param[k];
  }
  qsort(order, m->nparam, sizeof *order, param_cmp);
  dpYScope s = scope(L, "overrides", "overrides");
  dpStatus st = DP_OK;
  for (size_t i = 0; st == DP_OK && i < map->n; i++) {
    const dpYNode *key = map->keys[i];
    const char *path = key->text;
    size_t hits;
    if (strlen(path) >= DP_PATH_MAX) {
      st = dp_yaml_fail(&s, key, NULL, "parameter path '%.60s...' is too long (at most %d "
                        "characters)", path, DP_PATH_MAX - 1);
    } else if ((st = apply_override(L, &s, order, key, map->items[i], &hits)) == DP_OK &&
               hits == 0) {
      st = unknown_override(L, &s, key);
    }
  }
  dp_free(order);
  return st;
}

// ---- --set --------------------------------------------------------------------------------------

// The allowed keys of the mapping reached by keys[0..depth), or NULL.
static const char *const *context_keys(const char *const *keys, int depth, size_t *n) {
  static const struct {
    const char *section;
    int depth;
    const char *const *keys;
    size_t n;
  } t[] = {{"ground", 1, k_ground, NELEM(k_ground)},
           {"controls", 1, k_controls, NELEM(k_controls)},
           {"contact", 1, k_contact, NELEM(k_contact)},
           {"bodies", 2, k_body, NELEM(k_body)},
           {"actuators", 2, k_actuator, NELEM(k_actuator)},
           {"particles", 2, k_particle, NELEM(k_particle)},
           {"springs", 2, k_spring, NELEM(k_spring)},
           {"boxes", 2, k_box, NELEM(k_box)},
           {"spheres", 2, k_sphere, NELEM(k_sphere)},
           {"cloth", 2, k_cloth, NELEM(k_cloth)},
           {"solver", 1, k_solver, NELEM(k_solver)},
           {"softbodies", 2, k_soft, NELEM(k_soft)},
           {"shells", 2, k_shell, NELEM(k_shell)}};
  int soft = depth >= 3 && (strcmp(keys[0], "softbodies") == 0 || strcmp(keys[0], "shells") == 0);
  int shell = soft && keys[0][1] == 'h';
  if (soft && depth == 3 && strcmp(keys[2], "mesh") == 0) {
    *n = shell ? NELEM(k_shell_mesh) : NELEM(k_soft_mesh);
    return shell ? k_shell_mesh : k_soft_mesh;
  }
  if (soft && depth == 3 && strcmp(keys[2], "pin_region") == 0) {
    *n = NELEM(k_region);
    return k_region;
  }
  if (soft && depth == 4 && strcmp(keys[2], "mesh") == 0 &&
      strcmp(keys[3], shell ? "grid" : "box") == 0) {
    *n = NELEM(k_mesh_gen);
    return k_mesh_gen;
  }
  if (depth == 0) {
    *n = NELEM(k_top);
    return k_top;
  }
  if (depth == 3 && strcmp(keys[0], "cloth") == 0 &&
      (strcmp(keys[2], "structural") == 0 || strcmp(keys[2], "shear") == 0)) {
    *n = NELEM(k_springset);
    return k_springset;
  }
  if (depth == 4 && strcmp(keys[0], "bodies") == 0 && strcmp(keys[2], "shapes") == 0) {
    *n = NELEM(k_shape);
    return k_shape;
  }
  for (size_t i = 0; i < NELEM(t); i++) {
    if (t[i].depth == depth && strcmp(keys[0], t[i].section) == 0) {
      *n = t[i].n;
      return t[i].keys;
    }
  }
  return NULL;
}

int dp_scene_may_insert(const char *const *keys, int depth, const char *key, void *ud) {
  (void)ud;
  size_t n;
  const char *const *allowed = context_keys(keys, depth, &n);
  for (size_t i = 0; allowed != NULL && i < n; i++) {
    if (strcmp(allowed[i], key) == 0) {
      return 1;
    }
  }
  return 0;
}

int dp_scene_set_theta(const dpSceneSet *s) {
  return s->doc_count == 0 || strpbrk(s->path, "*?[") != NULL;
}

static dpStatus set_fail(dpError *err, const char *set, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static dpStatus set_fail(dpError *err, const char *set, const char *fmt, ...) {
  char msg[400], file[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(file, sizeof file, "--set %s", set);
  return dp_error_set(err, DP_ERR_INVALID, file, 0, 0, "%s", msg);
}

static dpStatus parse_set(const char *set, dpSceneSet *out, dpError *err) {
  memset(out, 0, sizeof *out);
  out->set = set;
  const char *eq = strchr(set, '=');
  if (eq == NULL) {
    return set_fail(err, set, "expected path=value");
  }
  size_t len = (size_t)(eq - set);
  if (len == 0) {
    return set_fail(err, set, "empty path");
  }
  if (len >= DP_PATH_MAX) {
    return set_fail(err, set, "path is too long (at most %d characters)", DP_PATH_MAX - 1);
  }
  memcpy(out->path, set, len);
  out->path[len] = '\0';
  const char *p = out->path;
  if (p[0] == '.' || p[len - 1] == '.' || strstr(p, "..") != NULL || strpbrk(p, " \t") != NULL) {
    return set_fail(err, set, "invalid path '%s'", p);
  }
  return dp_yaml_parse_value(eq + 1, set, &out->value, err);
}

// A set whose path named nothing in the document (or holds a pattern): give its value to the θ
// entries it matches.
static dpStatus apply_theta(dpLoad *L, const dpSceneSet *s) {
  dpModel *m = L->m;
  dpYScope sc = {L->file, L->err, "", ""};
  size_t hits = 0;
  for (size_t k = 0; k < m->nparam; k++) {
    const dpParam *p = &m->param[k];
    if (!param_match(s->path, p->path)) {
      continue;
    }
    hits++;
    const char *field = strrchr(p->path, '.');
    field = field != NULL ? field + 1 : p->path;
    dpStatus st = assign_entry(L, &sc, p, s->value, field);
    if (st != DP_OK) {
      return st;
    }
  }
  if (hits > 0 || s->doc_count > 0) {
    return DP_OK;
  }
  // Nothing matched: suggest a key of the mapping the path points into, a θ path, or a
  // top-level key.
  char buf[DP_PATH_MAX];
  snprintf(buf, sizeof buf, "%s", s->path);
  const char *comp[16];
  int nc = 0;
  for (char *q = buf, *save = NULL, *tok; nc < 16 && (tok = strtok_r(q, ".", &save)) != NULL;
       q = NULL) {
    comp[nc++] = tok;
  }
  size_t na;
  const char *const *allowed = nc > 0 ? context_keys(comp, nc - 1, &na) : NULL;
  const char *sug = NULL;
  char full[DP_PATH_MAX + 64];
  if (allowed != NULL && !dp_scene_may_insert(comp, nc - 1, comp[nc - 1], NULL)) {
    sug = dp_yaml_suggest(comp[nc - 1], allowed, na);
    if (sug != NULL) {
      size_t pre = strlen(s->path) - strlen(comp[nc - 1]);
      snprintf(full, sizeof full, "%.*s%s", (int)pre, s->path, sug);
      sug = full;
    }
  }
  if (sug == NULL) {
    sug = dp_param_suggest(m, s->path);
  }
  if (sug != NULL) {
    return set_fail(L->err, s->set, "unknown path '%s' (did you mean '%s'?)", s->path, sug);
  }
  if (nc > 1 && dp_scene_may_insert(comp, 0, comp[0], NULL) &&
      dp_yaml_get(L->root, comp[0], NULL) == NULL) {
    return set_fail(L->err, s->set, "unknown path '%s' (the scene has no '%s')", s->path,
                    comp[0]);
  }
  return set_fail(L->err, s->set, "unknown path '%s'", s->path);
}

// ---- the loader ---------------------------------------------------------------------------------

static uint64_t fnv1a(uint64_t h, const void *data, size_t len) {
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

static void default_name(const char *file, char *out, size_t size) {
  const char *base = strrchr(file, '/');
  base = base != NULL ? base + 1 : file;
  const char *dot = strrchr(base, '.');
  size_t len = dot != NULL && dot != base ? (size_t)(dot - base) : strlen(base);
  if (len >= size) {
    len = size - 1;
  }
  memcpy(out, base, len);
  out[len] = '\0';
  if (out[0] == '\0') {
    snprintf(out, size, "scene");
  }
}

// Compile the document (the overrides in sets already applied to it), then give θ the scene's
// `overrides:` and the sets that named no document value.
static dpStatus build(dpLoad *L, const dpSceneSet *sets, int nsets) {
  dpModel *m = L->m;
  dpYNode *root = L->root;
  dpYScope top = scope(L, "", "");
  dpStatus st;
  double gravity[3] = {0, 0, -9.81};
  if ((st = read_globals(L, root, gravity)) != DP_OK) {
    return st;
  }
  dp_model_set_gravity(m, gravity);

  const dpYNode *parts = dp_yaml_get(root, "particles", NULL);
  const dpYNode *cloth = dp_yaml_get(root, "cloth", NULL), *n;
  if (parts != NULL && parts->kind != DP_Y_MAP) {
    char got[64];
    dp_yaml_describe(parts, got, sizeof got);
    return dp_yaml_fail(&top, parts, "particles", "'particles' must be a mapping (got %s)", got);
  }
  long long total = parts != NULL ? (long long)parts->n : 0;
  if (cloth != NULL && (st = scan_cloth(L, cloth, &total)) != DP_OK) {
    return st;
  }
  if (total > MAX_PARTICLES) {
    return dp_yaml_fail(&top, cloth != NULL ? cloth : parts, NULL,
                        "the scene is too large (%lld particles > %lld)", total, MAX_PARTICLES);
  }
  if (parts != NULL && (st = add_explicit_particles(L, parts)) != DP_OK) {
    return st;
  }
  for (int c = 0; c < L->ncloth; c++) {
    if ((st = add_cloth_particles(L, &L->cloth[c])) != DP_OK) {
      return st;
    }
  }
  if ((n = dp_yaml_get(root, "springs", NULL)) != NULL && (st = add_springs(L, n)) != DP_OK) {
    return st;
  }
  for (int c = 0; c < L->ncloth; c++) {
    if ((st = add_cloth_springs(L, &L->cloth[c])) != DP_OK) {
      return st;
    }
  }
  if ((n = dp_yaml_get(root, "ground", NULL)) != NULL && (st = add_ground(L, n)) != DP_OK) {
    return st;
  }
  if ((n = dp_yaml_get(root, "boxes", NULL)) != NULL &&
      (st = add_shapes(L, n, DP_COLLIDER_BOX)) != DP_OK) {
    return st;
  }
  if ((n = dp_yaml_get(root, "spheres", NULL)) != NULL &&
      (st = add_shapes(L, n, DP_COLLIDER_SPHERE)) != DP_OK) {
    return st;
  }
  if ((n = dp_yaml_get(root, "controls", NULL)) != NULL && (st = set_controls(L, n)) != DP_OK) {
    return st;
  }
  if ((n = dp_yaml_get(root, "bodies", NULL)) != NULL && (st = add_bodies(L, n)) != DP_OK) {
    return st;
  }
  if ((n = dp_yaml_get(root, "actuators", NULL)) != NULL && (st = add_actuators(L, n)) != DP_OK) {
    return st;
  }
  if ((n = dp_yaml_get(root, "contact", NULL)) != NULL && (st = set_body_contact(L, n)) != DP_OK) {
    return st;
  }
  if ((st = add_softs(L)) != DP_OK) {
    return st;
  }
  if ((n = dp_yaml_get(root, "parameters", NULL)) != NULL && (st = add_specs(L, n)) != DP_OK) {
    return st;
  }
  if ((st = dp_model_finalize(m, L->err)) != DP_OK) {
    return locate(L, st, model_error_node(L));
  }
  if ((st = apply_body_values(L)) != DP_OK || (st = apply_soft_values(L)) != DP_OK) {
    return st;
  }
  if ((n = dp_yaml_get(root, "overrides", NULL)) != NULL &&
      (st = apply_overrides(L, n)) != DP_OK) {
    return st;
  }
  for (int i = 0; i < nsets; i++) {
    if (dp_scene_set_theta(&sets[i]) && (st = apply_theta(L, &sets[i])) != DP_OK) {
      return st;
    }
  }
  return check_specs(L);
}

dpStatus dp_scene_doc(const char *text, size_t len, const char *file, const char *const *sets,
                      int nsets, dpSceneDoc *doc, dpError *err) {
  memset(doc, 0, sizeof *doc);
  dpSceneSet *ps = dp_calloc((size_t)(nsets > 0 ? nsets : 1), sizeof *ps);
  if (ps == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, file, 0, 0, "out of memory");
  }
  dpYNode *root = NULL;
  dpStatus st = DP_OK;
  for (int i = 0; i < nsets && st == DP_OK; i++) {
    st = parse_set(sets[i], &ps[i], err);
  }
  if (st == DP_OK) {
    st = dp_yaml_parse(text, len, file, &root, err);
  }
  if (st == DP_OK && root == NULL) {
    st = dp_error_set(err, DP_ERR_INVALID, file, 0, 0,
                      "empty scene (expected a mapping with at least 'dt' and 'steps')");
  }
  if (st == DP_OK && root->kind != DP_Y_MAP) {
    dpYScope top = {file, err, "", ""};
    char got[64];
    dp_yaml_describe(root, got, sizeof got);
    st = dp_yaml_fail(&top, root, NULL, "a scene must be a mapping of keys (got %s)", got);
  }
  for (int i = 0; i < nsets && st == DP_OK; i++) {
    st = dp_yaml_apply(root, ps[i].path, ps[i].value, dp_scene_may_insert, NULL,
                       &ps[i].doc_count, err);
  }
  doc->root = root;
  doc->sets = ps;
  doc->nsets = nsets;
  if (st != DP_OK) {
    dp_scene_doc_free(doc);
  }
  return st;
}

void dp_scene_doc_free(dpSceneDoc *doc) {
  for (int i = 0; doc->sets != NULL && i < doc->nsets; i++) {
    dp_yaml_free(doc->sets[i].value);
  }
  dp_free(doc->sets);
  dp_yaml_free(doc->root);
  memset(doc, 0, sizeof *doc);
}

dpStatus dp_scene_parse(const char *text, size_t len, const char *name, const char *const *sets,
                        int nsets, dpModel **out, dpError *err) {
  *out = NULL;
  const char *file = name != NULL ? name : "<scene>";
  dpLoad L;
  memset(&L, 0, sizeof L);
  L.file = file;
  L.err = err;
  dpSceneDoc doc;
  dpStatus st = dp_scene_doc(text, len, file, sets, nsets, &doc, err);
  if (st != DP_OK) {
    return st;
  }
  L.root = doc.root;
  if ((L.m = dp_model_new()) == NULL) {
    st = dp_error_set(err, DP_ERR_NOMEM, file, 0, 0, "out of memory");
  }
  if (st == DP_OK) {
    default_name(file, L.m->name, sizeof L.m->name);
    snprintf(L.m->source, sizeof L.m->source, "%s", file);
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, text, len);
    for (int i = 0; i < nsets; i++) {
      h = fnv1a(h, sets[i], strlen(sets[i]));
      h = fnv1a(h, "\n", 1);
    }
    L.m->scene_hash = h;
    st = build(&L, doc.sets, nsets);
  }
  if (st == DP_OK) {
    *out = L.m;
  } else {
    dp_model_free(L.m);
  }
  dp_scene_doc_free(&doc);
  dp_free(L.byname);
  dp_free(L.cloth);
  dp_free(L.specnode);
  dp_free(L.shnode);
  for (int i = 0; i < L.nlate; i++) {
    dp_free(L.late[i].E);
    dp_free(L.late[i].nu);
    dp_free(L.late[i].v0);
  }
  dp_free(L.late);
  return st;
}

dpStatus dp_scene_read(const char *path, char **out, size_t *outlen, dpError *err) {
  *out = NULL;
  *outlen = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    return dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot read '%s': %s", path,
                        strerror(errno));
  }
  size_t cap = 1 << 16, len = 0;
  char *text = dp_malloc(cap);
  dpStatus st = DP_OK;
  while (text != NULL) {
    size_t got = fread(text + len, 1, cap - len, f);
    len += got;
    if (got == 0) {
      break;
    }
    if (len == cap) {
      if (cap >= MAX_FILE_BYTES) {
        st = dp_error_set(err, DP_ERR_INVALID, path, 0, 0, "'%s' is too large (over %llu bytes)",
                          path, (unsigned long long)MAX_FILE_BYTES);
        break;
      }
      char *nt = dp_realloc(text, cap, 2 * cap);
      if (nt == NULL) {
        dp_free(text);
        text = NULL;
        break;
      }
      text = nt;
      cap *= 2;
    }
  }
  if (st == DP_OK && text == NULL) {
    st = dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory reading '%s'", path);
  } else if (st == DP_OK && ferror(f)) {
    st = dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot read '%s': %s", path, strerror(errno));
  }
  fclose(f);
  if (st != DP_OK) {
    dp_free(text);
    return st;
  }
  *out = text;
  *outlen = len;
  return DP_OK;
}

dpStatus dp_scene_load(const char *path, const char *const *sets, int nsets, dpModel **out,
                       dpError *err) {
  *out = NULL;
  char *text;
  size_t len;
  dpStatus st = dp_scene_read(path, &text, &len, err);
  if (st == DP_OK) {
    st = dp_scene_parse(text, len, path, sets, nsets, out, err);
    dp_free(text);
  }
  return st;
}
