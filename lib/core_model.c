// The model builder and the parameter block θ: definitions are collected in growable arrays,
// then dp_model_finalize lays out θ as structure of arrays (dpOffsets) with one named entry per
// scene value, so that a single adjoint sweep fills the gradient of every parameter.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core_soft.h"
#include "core_text.h"
#include "dp/dp.h"
#include "rb_spatial_kern.h"
#include "rb_tree.h"

// Open-addressing hash set of indices into a names array (-1: empty slot).
typedef struct {
  int *slot;
  size_t cap;  // power of two, 0 when unallocated
} dpNameSet;

static uint64_t name_hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) {
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  }
  return h;
}

// Index of name in names (via the set), or -1.
static int nameset_find(const dpNameSet *set, dpName *names, const char *name) {
  if (set->cap == 0) {
    return -1;
  }
  for (size_t i = name_hash(name) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
    int k = set->slot[i];
    if (k < 0) {
      return -1;
    }
    if (strcmp(names[k], name) == 0) {
      return k;
    }
  }
}

// Insert index k (names[k] already written); the set stays at most half full.
static int nameset_insert(dpNameSet *set, dpName *names, int k) {
  if (2 * ((size_t)k + 1) > set->cap) {
    size_t ncap = set->cap == 0 ? 64 : 2 * set->cap;
    int *ns = dp_malloc(ncap * sizeof *ns);
    if (ns == NULL) {
      return 0;
    }
    for (size_t i = 0; i < ncap; i++) {
      ns[i] = -1;
    }
    dp_free(set->slot);
    set->slot = ns;
    set->cap = ncap;
    for (int j = 0; j < k; j++) {
      size_t i = name_hash(names[j]) & (ncap - 1);
      while (ns[i] >= 0) {
        i = (i + 1) & (ncap - 1);
      }
      ns[i] = j;
    }
  }
  size_t i = name_hash(names[k]) & (set->cap - 1);
  while (set->slot[i] >= 0) {
    i = (i + 1) & (set->cap - 1);
  }
  set->slot[i] = k;
  return 1;
}

typedef struct {
  dpParticleDef *p;
  int pcap;
  dpSpringDef *s;
  int scap;
  dpColliderDef *c;
  int ccap;
  double gravity[3];
  double *controls;  // steps × nu × 3 or NULL
  int controls_set;
  dpNameSet names[6];  // particles, springs, colliders, bodies, shapes, actuators
  dpBodyDef *b;
  int bcap;
  dpShapeDef *sh;
  int shcap;
  dpActuatorDef *a;
  int acap;
  double **actrl;      // na: initial controls (steps each) or NULL
  int actrlcap;
  dpColliderDef body_contact;
  dpSoftBuild *soft;   // soft bodies and shells (core_soft.c)
} dpBuild;

#define NAMESETS 6

static void build_free(dpBuild *b, int na, int nsoft) {
  if (b == NULL) {
    return;
  }
  soft_build_free(b->soft, nsoft);
  dp_free(b->p);
  dp_free(b->s);
  dp_free(b->c);
  dp_free(b->controls);
  dp_free(b->b);
  dp_free(b->sh);
  dp_free(b->a);
  if (b->actrl != NULL) {
    for (int i = 0; i < na; i++) {
      dp_free(b->actrl[i]);
    }
    dp_free(b->actrl);
  }
  for (int i = 0; i < NAMESETS; i++) {
    dp_free(b->names[i].slot);
  }
  dp_free(b);
}

dpParticleDef dp_default_particle_def(void) {
  dpParticleDef d;
  memset(&d, 0, sizeof d);
  d.mass = 1.0;
  return d;
}

dpSpringDef dp_default_spring_def(void) {
  dpSpringDef d;
  memset(&d, 0, sizeof d);
  d.a = 0;
  d.b = -1;
  d.stiffness = 1.0;
  d.rest_length = -1.0;
  return d;
}

dpColliderDef dp_default_collider_def(dpColliderType type) {
  dpColliderDef d;
  memset(&d, 0, sizeof d);
  d.type = type;
  d.half_extents[0] = d.half_extents[1] = d.half_extents[2] = 0.5;
  d.radius = 0.5;
  d.stiffness = 1.0e4;
  d.damping = 10.0;
  d.friction = 0.2;
  d.smoothing = 1.0e-3;
  d.friction_smoothing = 1.0e-2;
  d.friction_damping = INFINITY;
  d.damping_smoothing = INFINITY;
  return d;
}

int dp_joint_nq(dpJointType type) {
  switch (type) {
    case DP_JOINT_REVOLUTE:
    case DP_JOINT_PRISMATIC: return 1;
    case DP_JOINT_BALL: return 4;
    case DP_JOINT_FREE: return 7;
    default: return 0;
  }
}

int dp_joint_nv(dpJointType type) {
  switch (type) {
    case DP_JOINT_REVOLUTE:
    case DP_JOINT_PRISMATIC: return 1;
    case DP_JOINT_BALL: return 3;
    case DP_JOINT_FREE: return 6;
    default: return 0;
  }
}

dpBodyDef dp_default_body_def(void) {
  dpBodyDef d;
  memset(&d, 0, sizeof d);
  d.parent = -1;
  d.joint = DP_JOINT_REVOLUTE;
  d.axis[2] = 1.0;
  d.mass = 1.0;
  d.inertia[0] = d.inertia[1] = d.inertia[2] = 1.0e-2;
  d.range[0] = -1.0;
  d.range[1] = 1.0;
  d.limit_stiffness = 1.0e3;
  d.limit_damping = 1.0;
  d.limit_smoothing = 1.0e-2;
  return d;
}

dpShapeDef dp_default_shape_def(dpShapeType type) {
  dpShapeDef d;
  memset(&d, 0, sizeof d);
  d.type = type;
  d.quat[0] = 1.0;
  d.size[0] = d.size[1] = d.size[2] = 0.1;
  d.density = 1000.0;
  d.contact = 1;
  return d;
}

dpActuatorDef dp_default_actuator_def(dpActuatorType type) {
  dpActuatorDef d;
  memset(&d, 0, sizeof d);
  d.type = type;
  d.gear = 1.0;
  d.kp = 1.0;
  d.kv = 0.0;
  d.ctrl_range[0] = -1.0;
  d.ctrl_range[1] = 1.0;
  d.ctrl_smoothing = 1.0e-2;
  return d;
}

dpModel *dp_model_new(void) {
  dpModel *m = dp_calloc(1, sizeof *m);
  if (m == NULL) {
    return NULL;
  }
  dpBuild *b = dp_calloc(1, sizeof *b);
  if (b == NULL) {
    dp_free(m);
    return NULL;
  }
  b->gravity[2] = -9.81;
  b->body_contact = dp_default_collider_def(DP_COLLIDER_GROUND);
  m->build_ = b;
  snprintf(m->name, sizeof m->name, "scene");
  m->dt = 1.0e-3;
  m->steps = 100;
  m->substeps = 1;
  m->integrator = DP_SEMI_IMPLICIT_EULER;
  m->divergence_limit = 1.0e8;
  return m;
}

static int valid_name(const char *name) {
  if (name == NULL || name[0] == '\0' || strlen(name) >= DP_NAME_MAX) {
    return 0;
  }
  for (const char *c = name; *c; c++) {
    if (*c == '.' || *c == '*' || *c == '?' || *c == '[' || *c == ' ' || *c == '\t' ||
        *c == '\n' || *c == '=') {
      return 0;
    }
  }
  return 1;
}

// Grow a names array and a defs array together to hold n + 1 entries.
static int grow(void **defs, size_t defsize, dpName **names, int n, int *cap) {
  if (n < *cap) {
    return 1;
  }
  int ncap = *cap == 0 ? 8 : 2 * *cap;
  void *nd = dp_realloc(*defs, (size_t)*cap * defsize, (size_t)ncap * defsize);
  if (nd == NULL) {
    return 0;
  }
  *defs = nd;
  dpName *nn = dp_realloc(*names, (size_t)*cap * sizeof(dpName), (size_t)ncap * sizeof(dpName));
  if (nn == NULL) {
    return 0;
  }
  *names = nn;
  *cap = ncap;
  return 1;
}

static int find_name(dpName *names, int n, const char *name) {
  for (int i = 0; i < n; i++) {
    if (strcmp(names[i], name) == 0) {
      return i;
    }
  }
  return -1;
}

int dp_model_find_particle(const dpModel *m, const char *name) {
  const dpBuild *b = m->build_;
  if (b != NULL) {
    return nameset_find(&b->names[0], m->pname, name);
  }
  return find_name(m->pname, m->np, name);
}

static int add_check(dpModel *m, const char *kind, const char *name, dpName *names, int which,
                     dpError *err) {
  if (m->build_ == NULL) {
    dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "model is already finalized");
    return 0;
  }
  if (!valid_name(name)) {
    dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                 "invalid %s name '%s' (use letters, digits, '_' or '-')", kind,
                 name ? name : "");
    return 0;
  }
  if (nameset_find(&((dpBuild *)m->build_)->names[which], names, name) >= 0) {
    dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "duplicate %s name '%s'", kind, name);
    return 0;
  }
  return 1;
}

// Append def (defsize bytes) under name to one kind of entity: the defs array and its names
// grow together, the name goes into that kind's hash set. Returns the new index or -1.
static int add_entity(dpModel *m, const char *kind, const char *name, int which, void **defs,
                      size_t defsize, dpName **names, int *n, int *cap, const void *def,
                      dpError *err) {
  dpBuild *b = m->build_;
  if (!grow(defs, defsize, names, *n, cap)) {
    dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory adding %s '%s'", kind, name);
    return -1;
  }
  memcpy((char *)*defs + (size_t)*n * defsize, def, defsize);
  snprintf((*names)[*n], DP_NAME_MAX, "%s", name);
  if (!nameset_insert(&b->names[which], *names, *n)) {
    dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory adding %s '%s'", kind, name);
    return -1;
  }
  return (*n)++;
}

int dp_model_add_particle(dpModel *m, const char *name, const dpParticleDef *def, dpError *err) {
  if (!add_check(m, "particle", name, m->pname, 0, err)) {
    return -1;
  }
  dpBuild *b = m->build_;
  return add_entity(m, "particle", name, 0, (void **)&b->p, sizeof *b->p, &m->pname, &m->np,
                    &b->pcap, def, err);
}

int dp_model_add_spring(dpModel *m, const char *name, const dpSpringDef *def, dpError *err) {
  if (!add_check(m, "spring", name, m->sname, 1, err)) {
    return -1;
  }
  dpBuild *b = m->build_;
  return add_entity(m, "spring", name, 1, (void **)&b->s, sizeof *b->s, &m->sname, &m->ns,
                    &b->scap, def, err);
}

int dp_model_add_collider(dpModel *m, const char *name, const dpColliderDef *def,
                          dpError *err) {
  if (!add_check(m, "collider", name, m->cname, 2, err)) {
    return -1;
  }
  dpBuild *b = m->build_;
  return add_entity(m, "collider", name, 2, (void **)&b->c, sizeof *b->c, &m->cname, &m->nc,
                    &b->ccap, def, err);
}

int dp_model_add_body(dpModel *m, const char *name, const dpBodyDef *def, dpError *err) {
  if (!add_check(m, "body", name, m->bname, 3, err)) {
    return -1;
  }
  if (def->parent < -1 || def->parent >= m->nb) {
    dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                 "body '%s': the parent must be an earlier body or the world (got %d)", name,
                 def->parent);
    return -1;
  }
  dpBuild *b = m->build_;
  return add_entity(m, "body", name, 3, (void **)&b->b, sizeof *b->b, &m->bname, &m->nb,
                    &b->bcap, def, err);
}

int dp_model_add_shape(dpModel *m, const char *name, const dpShapeDef *def, dpError *err) {
  if (!add_check(m, "shape", name, m->shname, 4, err)) {
    return -1;
  }
  if (def->body < 0 || def->body >= m->nb) {
    dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "shape '%s': no body %d", name, def->body);
    return -1;
  }
  dpBuild *b = m->build_;
  return add_entity(m, "shape", name, 4, (void **)&b->sh, sizeof *b->sh, &m->shname, &m->nsh,
                    &b->shcap, def, err);
}

int dp_model_add_actuator(dpModel *m, const char *name, const dpActuatorDef *def,
                          dpError *err) {
  if (!add_check(m, "actuator", name, m->aname, 5, err)) {
    return -1;
  }
  if (def->body < 0 || def->body >= m->nb) {
    dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "actuator '%s': no body %d", name, def->body);
    return -1;
  }
  dpBuild *b = m->build_;
  if (m->na == b->actrlcap) {  // the initial-control table, one entry per actuator
    int ncap = b->actrlcap == 0 ? 8 : 2 * b->actrlcap;
    size_t osz = (size_t)b->actrlcap * sizeof(double *);
    double **nc = dp_realloc(b->actrl, osz, (size_t)ncap * sizeof *nc);
    if (nc == NULL) {
      dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory adding actuator '%s'", name);
      return -1;
    }
    for (int i = b->actrlcap; i < ncap; i++) {
      nc[i] = NULL;
    }
    b->actrl = nc;
    b->actrlcap = ncap;
  }
  return add_entity(m, "actuator", name, 5, (void **)&b->a, sizeof *b->a, &m->aname, &m->na,
                    &b->acap, def, err);
}

void dp_model_set_body_contact(dpModel *m, const dpColliderDef *constants) {
  dpBuild *b = m->build_;
  if (b != NULL) {
    b->body_contact = *constants;
  }
}

dpStatus dp_model_set_actuator_controls(dpModel *m, int a, const double *values, dpError *err) {
  dpBuild *b = m->build_;
  if (b == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "model is already finalized");
  }
  if (a < 0 || a >= m->na || m->steps < 1) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "invalid actuator %d", a);
  }
  double *u = dp_calloc((size_t)m->steps, sizeof *u);
  if (u == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory for controls");
  }
  if (values != NULL) {
    memcpy(u, values, (size_t)m->steps * sizeof *u);
  }
  dp_free(b->actrl[a]);
  b->actrl[a] = u;
  return DP_OK;
}

static int find_kind(const dpModel *m, dpName *names, int n, int which, const char *name) {
  const dpBuild *b = m->build_;
  if (b != NULL) {
    return nameset_find(&b->names[which], names, name);
  }
  return find_name(names, n, name);
}

int dp_model_find_body(const dpModel *m, const char *name) {
  return find_kind(m, m->bname, m->nb, 3, name);
}

int dp_model_find_shape(const dpModel *m, const char *name) {
  return find_kind(m, m->shname, m->nsh, 4, name);
}

int dp_model_find_actuator(const dpModel *m, const char *name) {
  return find_kind(m, m->aname, m->na, 5, name);
}

size_t dp_model_q_offset(const dpModel *m) {
  return 6 * (size_t)m->np;
}

size_t dp_model_qd_offset(const dpModel *m) {
  return 6 * (size_t)m->np + (size_t)m->nq;
}

void dp_model_set_gravity(dpModel *m, const double g[3]) {
  dpBuild *b = m->build_;
  if (b != NULL) {
    memcpy(b->gravity, g, sizeof b->gravity);
  }
}

dpStatus dp_model_set_controls(dpModel *m, int nu, const int *particles, const double *values,
                               dpError *err) {
  dpBuild *b = m->build_;
  if (b == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "model is already finalized");
  }
  if (nu < 0 || m->steps < 1) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "invalid controls (nu %d, steps %d)",
                        nu, m->steps);
  }
  size_t n = (size_t)m->steps * (size_t)nu * 3;
  int *up = dp_malloc((size_t)(nu > 0 ? nu : 1) * sizeof *up);
  double *u = dp_calloc(n > 0 ? n : 1, sizeof *u);
  if (up == NULL || u == NULL) {
    dp_free(up);
    dp_free(u);
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory for %zu controls", n);
  }
  for (int i = 0; i < nu; i++) {
    up[i] = particles[i];
  }
  if (values != NULL) {
    memcpy(u, values, n * sizeof *u);
  }
  dp_free(m->uparticle);
  dp_free(b->controls);
  m->uparticle = up;
  m->nu = nu;
  b->controls = u;
  b->controls_set = 1;
  return DP_OK;
}

dpStatus dp_model_add_spec(dpModel *m, const dpParamSpec *spec, dpError *err) {
  dpParamSpec *ns = dp_realloc(m->spec, m->nspec * sizeof *ns, (m->nspec + 1) * sizeof *ns);
  if (ns == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
  }
  m->spec = ns;
  m->spec[m->nspec++] = *spec;
  return DP_OK;
}

size_t dp_model_nstate(const dpModel *m) {
  return 6 * (size_t)m->np + (size_t)m->nq + (size_t)m->nv + 6 * (size_t)m->nvert;
}

// ---- parameter table -------------------------------------------------------------------------

dpSoftBuild **soft_build_slot(dpModel *m) {
  dpBuild *b = m->build_;
  return b != NULL ? &b->soft : NULL;
}

int table_add(ParamTable *t, size_t offset, size_t len, double lo, double hi,
                     const char *fmt, const char *a, const char *field) {
  dpModel *m = t->m;
  if (m->nparam == t->cap) {
    size_t ncap = t->cap == 0 ? 64 : 2 * t->cap;
    dpParam *np = dp_realloc(m->param, t->cap * sizeof *np, ncap * sizeof *np);
    if (np == NULL) {
      return 0;
    }
    m->param = np;
    t->cap = ncap;
  }
  dpParam *p = &m->param[m->nparam++];
  memset(p, 0, sizeof *p);
  snprintf(p->path, sizeof p->path, fmt, a, field);
  p->offset = offset;
  p->len = len;
  p->ndim = len == 1 ? 0 : 1;
  p->shape[0] = len;
  p->lower = lo;
  p->upper = hi;
  return 1;
}

static dpStatus validate(const dpModel *m, const dpBuild *b, dpError *err) {
  if (!(m->dt > 0) || !isfinite(m->dt)) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "'dt' must be > 0 (got %g)", m->dt);
  }
  if (m->steps < 1 || m->substeps < 1) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "'steps' and 'substeps' must be >= 1");
  }
  for (int i = 0; i < m->np; i++) {
    if (!(b->p[i].mass > 0) || !isfinite(b->p[i].mass)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "particle '%s': 'mass' must be > 0 (got %g)", m->pname[i],
                          b->p[i].mass);
    }
    if (!(b->p[i].radius >= 0) || !isfinite(b->p[i].radius)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "particle '%s': 'radius' must be >= 0 (got %g)", m->pname[i],
                          b->p[i].radius);
    }
  }
  for (int i = 0; i < m->ns; i++) {
    const dpSpringDef *s = &b->s[i];
    if (s->a < 0 || s->a >= m->np || s->b >= m->np || s->a == s->b) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "spring '%s': particle indices (%d, %d) invalid", m->sname[i], s->a,
                          s->b);
    }
    if (s->stiffness < 0 || s->damping < 0) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "spring '%s': 'stiffness' and 'damping' must be >= 0", m->sname[i]);
    }
  }
  for (int i = 0; i < m->nc; i++) {
    const dpColliderDef *c = &b->c[i];
    if (!(c->smoothing > 0) || !(c->friction_smoothing > 0)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "collider '%s': 'smoothing' and 'friction_smoothing' must be > 0",
                          m->cname[i]);
    }
    if (c->stiffness < 0 || c->damping < 0 || c->friction < 0) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "collider '%s': contact constants must be >= 0", m->cname[i]);
    }
    if (!(c->friction_damping >= 0)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "collider '%s': 'friction_damping' must be >= 0 or inf (got %g)",
                          m->cname[i], c->friction_damping);
    }
    if (!(c->damping_smoothing > 0)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "collider '%s': 'damping_smoothing' must be > 0 (got %g)", m->cname[i],
                          c->damping_smoothing);
    }
    if (c->type == DP_COLLIDER_SPHERE && !(c->radius > 0)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "sphere '%s': 'radius' must be > 0", m->cname[i]);
    }
    if (c->type == DP_COLLIDER_BOX &&
        !(c->half_extents[0] > 0 && c->half_extents[1] > 0 && c->half_extents[2] > 0)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "box '%s': 'half_extents' must be > 0", m->cname[i]);
    }
  }
  if ((m->nb > 0 || m->nsh > 0 || m->na > 0) && m->integrator == DP_EXPLICIT_EULER) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "'integrator': explicit_euler is not available with bodies (use "
                        "semi_implicit_euler or rk4)");
  }
  for (int i = 0; i < m->nb; i++) {
    const dpBodyDef *d = &b->b[i];
    const char *n = m->bname[i];
    if (d->joint < DP_JOINT_FIXED || d->joint > DP_JOINT_FREE) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "body '%s': unknown joint type", n);
    }
    if (d->joint == DP_JOINT_REVOLUTE || d->joint == DP_JOINT_PRISMATIC) {
      double l = sqrt(d->axis[0] * d->axis[0] + d->axis[1] * d->axis[1] + d->axis[2] * d->axis[2]);
      if (!(l > 1e-12) || !isfinite(l)) {
        return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                            "body '%s': 'axis' must be a non-zero vector", n);
      }
    }
    if (d->mass_from_shapes != 1) {
      if (!(d->mass > 0) || !isfinite(d->mass)) {
        return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                            "body '%s': 'mass' must be > 0 (got %g)", n, d->mass);
      }
    }
    if (!(d->damping >= 0) || !(d->armature >= 0)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "body '%s': 'damping' and 'armature' must be >= 0", n);
    }
    if (d->joint == DP_JOINT_BALL || d->joint == DP_JOINT_FREE) {
      const double *Q = d->q0 + (d->joint == DP_JOINT_FREE ? 3 : 0);
      double l = sqrt(Q[0] * Q[0] + Q[1] * Q[1] + Q[2] * Q[2] + Q[3] * Q[3]);
      if (!isfinite(l)) {
        return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                            "body '%s': the initial quaternion must be finite", n);
      }
    }
    if (d->limited) {
      if (d->joint != DP_JOINT_REVOLUTE && d->joint != DP_JOINT_PRISMATIC) {
        return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                            "body '%s': limits need a revolute or prismatic joint", n);
      }
      if (!(d->range[0] < d->range[1]) || !(d->limit_stiffness >= 0) ||
          !(d->limit_damping >= 0) || !(d->limit_smoothing > 0)) {
        return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                            "body '%s': limits need range[0] < range[1], stiffness and damping "
                            ">= 0 and smoothing > 0",
                            n);
      }
    }
  }
  for (int i = 0; i < m->nsh; i++) {
    const dpShapeDef *d = &b->sh[i];
    int ns = d->type == DP_SHAPE_SPHERE ? 1 : d->type == DP_SHAPE_CAPSULE ? 2 : 3;
    for (int k = 0; k < ns; k++) {
      int ok = k == 1 && d->type == DP_SHAPE_CAPSULE ? d->size[k] >= 0 : d->size[k] > 0;
      if (!ok || !isfinite(d->size[k])) {
        return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                            "shape '%s': size %d must be > 0 (got %g)", m->shname[i], k,
                            d->size[k]);
      }
    }
    if (!(d->density >= 0)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "shape '%s': 'density' must be >= 0",
                          m->shname[i]);
    }
  }
  for (int i = 0; i < m->na; i++) {
    const dpActuatorDef *d = &b->a[i];
    dpJointType jt = b->b[d->body].joint;
    if (jt != DP_JOINT_REVOLUTE && jt != DP_JOINT_PRISMATIC) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "actuator '%s': body '%s' has no revolute or prismatic joint to drive",
                          m->aname[i], m->bname[d->body]);
    }
    if (!(d->kp >= 0) || !(d->kv >= 0)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "actuator '%s': 'kp' and 'kv' must be >= 0", m->aname[i]);
    }
    if (d->ctrl_limited && (!(d->ctrl_range[0] < d->ctrl_range[1]) || !(d->ctrl_smoothing > 0))) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "actuator '%s': 'ctrl_range' needs lower < upper and smoothing > 0",
                          m->aname[i]);
    }
  }
  {
    const dpColliderDef *c = &b->body_contact;
    if (!(c->smoothing > 0) || !(c->friction_smoothing > 0) || c->stiffness < 0 ||
        c->damping < 0 || c->friction < 0 || !(c->friction_damping >= 0) ||
        !(c->damping_smoothing > 0)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "contact: constants must be >= 0 and smoothing widths > 0");
    }
  }
  for (int i = 0; i < m->nu; i++) {
    if (m->uparticle[i] < 0 || m->uparticle[i] >= m->np) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "control %d: invalid particle", i);
    }
  }
  return DP_OK;
}

// Mass, centre of mass and inertia about it (Ixx Iyy Izz Ixy Ixz Iyz, body axes) of a body's
// shapes of uniform density: each shape's inertia about its centre, rotated into the body frame
// (R I Rᵀ) and moved to the common centre of mass (parallel-axis theorem,
// I + m (|d|² E − d dᵀ)). Capsule: a cylinder of length 2h plus two hemispheres, each of mass M
// with inertia 2/5 M r² + M (h² + 3 h r / 4) about the capsule centre across its axis.
// Returns 0 when the shapes have no mass.
static int mass_from_shapes(const dpModel *m, const dpBuild *b, int body, double *mass,
                            double *com, double *I6) {
  double mt = 0, c[3] = {0, 0, 0};
  for (int i = 0; i < m->nsh; i++) {
    const dpShapeDef *d = &b->sh[i];
    if (d->body != body) {
      continue;
    }
    double r = d->size[0], h = d->size[1], mi;
    if (d->type == DP_SHAPE_SPHERE) {
      mi = d->density * 4.0 / 3.0 * M_PI * r * r * r;
    } else if (d->type == DP_SHAPE_CAPSULE) {
      mi = d->density * (M_PI * r * r * 2 * h + 4.0 / 3.0 * M_PI * r * r * r);
    } else {
      mi = d->density * 8 * d->size[0] * d->size[1] * d->size[2];
    }
    mt += mi;
    for (int k = 0; k < 3; k++) {
      c[k] += mi * d->pos[k];
    }
  }
  if (!(mt > 0)) {
    return 0;
  }
  for (int k = 0; k < 3; k++) {
    c[k] /= mt;
  }
  double I[9] = {0};
  for (int i = 0; i < m->nsh; i++) {
    const dpShapeDef *d = &b->sh[i];
    if (d->body != body) {
      continue;
    }
    double r = d->size[0], h = d->size[1], mi, Il[3];
    if (d->type == DP_SHAPE_SPHERE) {
      mi = d->density * 4.0 / 3.0 * M_PI * r * r * r;
      Il[0] = Il[1] = Il[2] = 0.4 * mi * r * r;
    } else if (d->type == DP_SHAPE_CAPSULE) {
      double mc = d->density * M_PI * r * r * 2 * h;
      double ms = d->density * 4.0 / 3.0 * M_PI * r * r * r;
      mi = mc + ms;
      Il[2] = 0.5 * mc * r * r + 0.4 * ms * r * r;
      Il[0] = Il[1] = mc * (r * r / 4 + h * h / 3) + ms * (0.4 * r * r + h * h + 0.75 * h * r);
    } else {
      const double *e = d->size;
      mi = d->density * 8 * e[0] * e[1] * e[2];
      Il[0] = mi / 3 * (e[1] * e[1] + e[2] * e[2]);
      Il[1] = mi / 3 * (e[0] * e[0] + e[2] * e[2]);
      Il[2] = mi / 3 * (e[0] * e[0] + e[1] * e[1]);
    }
    double Q[4], R[9];
    double ql = sqrt(d->quat[0] * d->quat[0] + d->quat[1] * d->quat[1] +
                     d->quat[2] * d->quat[2] + d->quat[3] * d->quat[3]);
    for (int k = 0; k < 4; k++) {
      Q[k] = d->quat[k] / ql;
    }
    rb_quat_to_mat(R, Q);
    double dd[3] = {d->pos[0] - c[0], d->pos[1] - c[1], d->pos[2] - c[2]};
    double d2 = dd[0] * dd[0] + dd[1] * dd[1] + dd[2] * dd[2];
    for (int a = 0; a < 3; a++) {
      for (int e = 0; e < 3; e++) {
        double x = 0;
        for (int k = 0; k < 3; k++) {
          x += R[3 * a + k] * Il[k] * R[3 * e + k];
        }
        I[3 * a + e] += x + mi * ((a == e ? d2 : 0.0) - dd[a] * dd[e]);
      }
    }
  }
  *mass = mt;
  memcpy(com, c, sizeof c);
  I6[0] = I[0];
  I6[1] = I[4];
  I6[2] = I[8];
  I6[3] = I[1];
  I6[4] = I[2];
  I6[5] = I[5];
  return 1;
}

// Inertia (Ixx Iyy Izz Ixy Ixz Iyz) positive definite: Sylvester's criterion on the 3x3 matrix.
static int inertia_pd(const double *I6) {
  double a = I6[0], b = I6[1], c = I6[2], xy = I6[3], xz = I6[4], yz = I6[5];
  double d2 = a * b - xy * xy;
  double d3 = a * (b * c - yz * yz) - xy * (xy * c - yz * xz) + xz * (xy * yz - b * xz);
  return a > 0 && d2 > 0 && d3 > 0 && isfinite(d3);
}

// Narrow phase exists for the pair of shape types (capsule–box goes through the end caps).
static int pair_wanted(const dpModel *m, const dpBuild *b, int i, int j) {
  int bi = b->sh[i].body, bj = b->sh[j].body;
  if (!b->sh[i].contact || !b->sh[j].contact || bi == bj) {
    return 0;
  }
  if (b->b[bi].parent == bj || b->b[bj].parent == bi) {
    return 0;
  }
  (void)m;
  return 1;
}

static const char *collider_group(dpColliderType t) {
  return t == DP_COLLIDER_BOX ? "boxes.%s.%s" : t == DP_COLLIDER_SPHERE ? "spheres.%s.%s"
                                                                        : "%s.%s";
}

static dpStatus build_table(dpModel *m, dpError *err) {
  ParamTable t = {m, 0};
  const dpOffsets *o = &m->off;
  const double inf = INFINITY;
  int ok = table_add(&t, o->gravity, 3, -inf, inf, "%s%s", "gravity", "");
  for (int i = 0; ok && i < m->np; i++) {
    const char *n = m->pname[i];
    const char *f = "particles.%s.%s";
    ok = table_add(&t, o->mass + i, 1, 0, inf, f, n, "mass") &&
         table_add(&t, o->x0 + 3 * i, 3, -inf, inf, f, n, "position") &&
         table_add(&t, o->v0 + 3 * i, 3, -inf, inf, f, n, "velocity") &&
         table_add(&t, o->drag_lin + i, 1, 0, inf, f, n, "linear_drag") &&
         table_add(&t, o->drag_quad + i, 1, 0, inf, f, n, "quadratic_drag") &&
         table_add(&t, o->force + 3 * i, 3, -inf, inf, f, n, "force") &&
         table_add(&t, o->radius + i, 1, 0, inf, f, n, "radius");
  }
  for (int i = 0; ok && i < m->ns; i++) {
    const char *n = m->sname[i];
    const char *f = "springs.%s.%s";
    ok = table_add(&t, o->k + i, 1, 0, inf, f, n, "stiffness") &&
         table_add(&t, o->c + i, 1, 0, inf, f, n, "damping") &&
         table_add(&t, o->rest + i, 1, 0, inf, f, n, "rest_length");
    if (ok && m->sb[i] < 0) {
      ok = table_add(&t, o->anchor + 3 * i, 3, -inf, inf, f, n, "anchor");
    }
  }
  for (int i = 0; ok && i < m->nc; i++) {
    const char *n = m->cname[i];
    const char *f = collider_group(m->ctype[i]);
    size_t g = o->cgeom + (size_t)DP_CGEOM * i;
    size_t c = o->ccontact + (size_t)DP_CCONTACT * i;
    switch (m->ctype[i]) {
      case DP_COLLIDER_GROUND: ok = table_add(&t, g, 1, -inf, inf, f, n, "height"); break;
      case DP_COLLIDER_BOX:
        ok = table_add(&t, g, 3, -inf, inf, f, n, "center") &&
             table_add(&t, g + 3, 3, 0, inf, f, n, "half_extents");
        break;
      case DP_COLLIDER_SPHERE:
        ok = table_add(&t, g, 3, -inf, inf, f, n, "center") &&
             table_add(&t, g + 3, 1, 0, inf, f, n, "radius");
        break;
    }
    ok = ok && table_add(&t, c + DP_C_STIFFNESS, 1, 0, inf, f, n, "stiffness") &&
         table_add(&t, c + DP_C_DAMPING, 1, 0, inf, f, n, "damping") &&
         table_add(&t, c + DP_C_FRICTION, 1, 0, inf, f, n, "friction") &&
         table_add(&t, c + DP_C_SMOOTHING, 1, 0, inf, f, n, "smoothing") &&
         table_add(&t, c + DP_C_FRICTION_SMOOTHING, 1, 0, inf, f, n, "friction_smoothing") &&
         table_add(&t, c + DP_C_FRICTION_DAMPING, 1, 0, inf, f, n, "friction_damping") &&
         table_add(&t, c + DP_C_DAMPING_SMOOTHING, 1, 0, inf, f, n, "damping_smoothing");
  }
  for (int i = 0; ok && i < m->nb; i++) {
    const char *n = m->bname[i];
    const char *f = "bodies.%s.%s";
    int jq = dp_joint_nq(m->bjoint[i]), jv = dp_joint_nv(m->bjoint[i]);
    ok = table_add(&t, o->body_mass + i, 1, 0, inf, f, n, "mass") &&
         table_add(&t, o->body_com + 3 * i, 3, -inf, inf, f, n, "com") &&
         table_add(&t, o->body_inertia + 6 * i, 6, -inf, inf, f, n, "inertia") &&
         table_add(&t, o->joint_pos + 3 * i, 3, -inf, inf, f, n, "joint_pos");
    if (ok && jv > 0) {
      size_t v = (size_t)m->bvadr[i], q = (size_t)m->bqadr[i];
      ok = table_add(&t, o->joint_damping + v, (size_t)jv, 0, inf, f, n, "damping") &&
           table_add(&t, o->armature + v, (size_t)jv, 0, inf, f, n, "armature") &&
           table_add(&t, o->q0 + q, (size_t)jq, -inf, inf, f, n, "q") &&
           table_add(&t, o->qd0 + v, (size_t)jv, -inf, inf, f, n, "qd");
    }
    if (ok && m->blimited[i]) {
      ok = table_add(&t, o->limit_range + 2 * i, 2, -inf, inf, f, n, "range") &&
           table_add(&t, o->limit_stiffness + i, 1, 0, inf, f, n, "limit_stiffness") &&
           table_add(&t, o->limit_damping + i, 1, 0, inf, f, n, "limit_damping") &&
           table_add(&t, o->limit_smoothing + i, 1, 0, inf, f, n, "limit_smoothing");
    }
  }
  for (int i = 0; ok && i < m->nsh; i++) {
    const char *n = m->shname[i];
    const char *f = "shapes.%s.%s";
    size_t len = m->shtype[i] == DP_SHAPE_SPHERE ? 1 : m->shtype[i] == DP_SHAPE_CAPSULE ? 2 : 3;
    ok = table_add(&t, o->shape_pos + 3 * i, 3, -inf, inf, f, n, "position") &&
         table_add(&t, o->shape_size + 3 * i, len, 0, inf, f, n, "size");
  }
  for (int i = 0; ok && i < m->na; i++) {
    const char *n = m->aname[i];
    const char *f = "actuators.%s.%s";
    if (m->atype[i] == DP_ACTUATOR_MOTOR) {
      ok = table_add(&t, o->gear + i, 1, -inf, inf, f, n, "gear");
    } else {
      ok = table_add(&t, o->kp + i, 1, 0, inf, f, n, "kp") &&
           table_add(&t, o->kv + i, 1, 0, inf, f, n, "kv");
    }
    ok = ok && table_add(&t, o->act_controls + (size_t)i * m->steps, (size_t)m->steps, -inf, inf,
                         f, n, "controls");
  }
  if (ok && m->nb > 0) {
    size_t c = o->body_contact;
    const char *f = "%s.%s";
    const char *n = "contact";
    ok = table_add(&t, c + DP_C_STIFFNESS, 1, 0, inf, f, n, "stiffness") &&
         table_add(&t, c + DP_C_DAMPING, 1, 0, inf, f, n, "damping") &&
         table_add(&t, c + DP_C_FRICTION, 1, 0, inf, f, n, "friction") &&
         table_add(&t, c + DP_C_SMOOTHING, 1, 0, inf, f, n, "smoothing") &&
         table_add(&t, c + DP_C_FRICTION_SMOOTHING, 1, 0, inf, f, n, "friction_smoothing") &&
         table_add(&t, c + DP_C_FRICTION_DAMPING, 1, 0, inf, f, n, "friction_damping") &&
         table_add(&t, c + DP_C_DAMPING_SMOOTHING, 1, 0, inf, f, n, "damping_smoothing");
  }
  if (ok && m->nu > 0) {
    ok = table_add(&t, o->controls, (size_t)m->steps * m->nu * 3, -inf, inf, "%s%s", "controls",
                   "");
    if (ok) {
      dpParam *p = &m->param[m->nparam - 1];
      p->ndim = 3;
      p->shape[0] = (size_t)m->steps;
      p->shape[1] = (size_t)m->nu;
      p->shape[2] = 3;
    }
  }
  ok = ok && soft_table(&t);
  return ok ? DP_OK : dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
}

// Topology arrays of the bodies, shapes, actuators and contact pairs (model-owned), and the
// compiled tree. Called after validate, before θ is laid out (sets nq and nv).
static dpStatus compile_bodies(dpModel *m, const dpBuild *b, dpError *err) {
  int nb = m->nb, nsh = m->nsh, na = m->na;
  size_t n1 = (size_t)(nb > 0 ? nb : 1), s1 = (size_t)(nsh > 0 ? nsh : 1);
  size_t a1 = (size_t)(na > 0 ? na : 1);
  m->bparent = dp_malloc(n1 * sizeof *m->bparent);
  m->bjoint = dp_malloc(n1 * sizeof *m->bjoint);
  m->bqadr = dp_malloc(n1 * sizeof *m->bqadr);
  m->bvadr = dp_malloc(n1 * sizeof *m->bvadr);
  m->blimited = dp_calloc(n1, 1);
  m->shtype = dp_malloc(s1 * sizeof *m->shtype);
  m->shbody = dp_malloc(s1 * sizeof *m->shbody);
  m->shquat = dp_malloc(4 * s1 * sizeof *m->shquat);
  m->shcontact = dp_calloc(s1, 1);
  m->atype = dp_malloc(a1 * sizeof *m->atype);
  m->abody = dp_malloc(a1 * sizeof *m->abody);
  m->alimited = dp_calloc(a1, 1);
  m->arange = dp_malloc(3 * a1 * sizeof *m->arange);
  size_t pcap = (size_t)nsh * (size_t)(nsh + m->nc) + 1;
  m->pair = dp_malloc(2 * pcap * sizeof *m->pair);
  if (m->bparent == NULL || m->bjoint == NULL || m->bqadr == NULL || m->bvadr == NULL ||
      m->blimited == NULL || m->shtype == NULL || m->shbody == NULL || m->shquat == NULL ||
      m->shcontact == NULL || m->atype == NULL || m->abody == NULL || m->alimited == NULL ||
      m->arange == NULL || m->pair == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory for %d bodies", nb);
  }
  int nq = 0, nv = 0;
  for (int i = 0; i < nb; i++) {
    m->bparent[i] = b->b[i].parent;
    m->bjoint[i] = b->b[i].joint;
    m->bqadr[i] = nq;
    m->bvadr[i] = nv;
    m->blimited[i] = b->b[i].limited ? 1 : 0;
    nq += dp_joint_nq(b->b[i].joint);
    nv += dp_joint_nv(b->b[i].joint);
  }
  m->nq = nq;
  m->nv = nv;
  for (int i = 0; i < nsh; i++) {
    const dpShapeDef *d = &b->sh[i];
    m->shtype[i] = d->type;
    m->shbody[i] = d->body;
    m->shcontact[i] = d->contact ? 1 : 0;
    double l = sqrt(d->quat[0] * d->quat[0] + d->quat[1] * d->quat[1] + d->quat[2] * d->quat[2] +
                    d->quat[3] * d->quat[3]);
    if (!(l > 1e-9) || !isfinite(l)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "shape '%s': 'quat' must be a non-zero quaternion", m->shname[i]);
    }
    for (int k = 0; k < 4; k++) {
      m->shquat[4 * i + k] = d->quat[k] / l;
    }
  }
  for (int i = 0; i < na; i++) {
    const dpActuatorDef *d = &b->a[i];
    m->atype[i] = d->type;
    m->abody[i] = d->body;
    m->alimited[i] = d->ctrl_limited ? 1 : 0;
    m->arange[3 * i] = d->ctrl_range[0];
    m->arange[3 * i + 1] = d->ctrl_range[1];
    m->arange[3 * i + 2] = d->ctrl_smoothing;
  }
  m->npair = 0;
  for (int i = 0; i < nsh; i++) {
    for (int j = i + 1; j < nsh; j++) {
      if (pair_wanted(m, b, i, j)) {
        m->pair[2 * m->npair] = i;
        m->pair[2 * m->npair + 1] = j;
        m->npair++;
      }
    }
    for (int c = 0; c < m->nc && b->sh[i].contact; c++) {
      m->pair[2 * m->npair] = i;
      m->pair[2 * m->npair + 1] = -1 - c;
      m->npair++;
    }
  }
  if (nb == 0) {
    return DP_OK;
  }
  int *jt = dp_malloc(n1 * sizeof *jt);
  double *axis = dp_malloc(3 * n1 * sizeof *axis);
  if (jt == NULL || axis == NULL) {
    dp_free(jt);
    dp_free(axis);
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory for %d bodies", nb);
  }
  for (int i = 0; i < nb; i++) {
    jt[i] = (int)b->b[i].joint;
    const double *a = b->b[i].axis;
    double l = sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
    for (int k = 0; k < 3; k++) {
      axis[3 * i + k] = l > 0 ? a[k] / l : (k == 2 ? 1.0 : 0.0);
    }
  }
  dpRbTree *tree = NULL;
  dpStatus st = rb_tree_create(nb, m->bparent, jt, axis, &tree, err);
  dp_free(jt);
  dp_free(axis);
  if (st != DP_OK) {
    return st;
  }
  m->rb_ = tree;
  return DP_OK;
}

// θ values of the bodies, shapes, actuators and body contact (θ laid out).
static dpStatus fill_bodies(dpModel *m, const dpBuild *b, double *th, dpError *err) {
  const dpOffsets *o = &m->off;
  for (int i = 0; i < m->nb; i++) {
    const dpBodyDef *d = &b->b[i];
    double mass = d->mass, com[3], I6[6];
    memcpy(com, d->com, sizeof com);
    memcpy(I6, d->inertia, sizeof I6);
    if (d->mass_from_shapes && !mass_from_shapes(m, b, i, &mass, com, I6)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "body '%s': computing the mass or inertia from the shapes needs "
                          "shapes with density > 0",
                          m->bname[i]);
    }
    if (d->mass_from_shapes == 2) {
      // The shapes' distribution scaled to the given mass.
      double f = d->mass / mass;
      for (int k = 0; k < 6; k++) {
        I6[k] *= f;
      }
      mass = d->mass;
    }
    if (!(mass > 0) || !isfinite(mass)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "body '%s': 'mass' must be > 0",
                          m->bname[i]);
    }
    if (!inertia_pd(I6)) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "body '%s': 'inertia' must be positive definite (got %g %g %g %g %g "
                          "%g)",
                          m->bname[i], I6[0], I6[1], I6[2], I6[3], I6[4], I6[5]);
    }
    th[o->body_mass + i] = mass;
    memcpy(th + o->body_com + 3 * i, com, sizeof com);
    memcpy(th + o->body_inertia + 6 * i, I6, sizeof I6);
    memcpy(th + o->joint_pos + 3 * i, d->joint_pos, 3 * sizeof(double));
    int q = m->bqadr[i], v = m->bvadr[i];
    int jq = dp_joint_nq(d->joint), jv = dp_joint_nv(d->joint);
    for (int k = 0; k < jv; k++) {
      th[o->joint_damping + v + k] = d->damping;
      th[o->armature + v + k] = d->armature;
      th[o->qd0 + v + k] = d->qd0[k];
    }
    for (int k = 0; k < jq; k++) {
      th[o->q0 + q + k] = d->q0[k];
    }
    if (d->joint == DP_JOINT_BALL || d->joint == DP_JOINT_FREE) {
      // A zero quaternion (the default) is the identity; others are normalized by the initial
      // state (dp_initial_state), so the gradient stays tangent to the unit sphere.
      double *Q = th + o->q0 + q + (d->joint == DP_JOINT_FREE ? 3 : 0);
      if (Q[0] == 0 && Q[1] == 0 && Q[2] == 0 && Q[3] == 0) {
        Q[0] = 1.0;
      }
    }
    th[o->limit_range + 2 * i] = d->range[0];
    th[o->limit_range + 2 * i + 1] = d->range[1];
    th[o->limit_stiffness + i] = d->limit_stiffness;
    th[o->limit_damping + i] = d->limit_damping;
    th[o->limit_smoothing + i] = d->limit_smoothing;
  }
  for (int i = 0; i < m->nsh; i++) {
    memcpy(th + o->shape_pos + 3 * i, b->sh[i].pos, 3 * sizeof(double));
    memcpy(th + o->shape_size + 3 * i, b->sh[i].size, 3 * sizeof(double));
  }
  for (int i = 0; i < m->na; i++) {
    th[o->gear + i] = b->a[i].gear;
    th[o->kp + i] = b->a[i].kp;
    th[o->kv + i] = b->a[i].kv;
    if (b->actrl != NULL && b->actrl[i] != NULL) {
      memcpy(th + o->act_controls + (size_t)i * m->steps, b->actrl[i],
             (size_t)m->steps * sizeof(double));
    }
  }
  if (m->nb == 0) {
    return DP_OK;
  }
  const dpColliderDef *c = &b->body_contact;
  double *k = th + o->body_contact;
  k[DP_C_STIFFNESS] = c->stiffness;
  k[DP_C_DAMPING] = c->damping;
  k[DP_C_FRICTION] = c->friction;
  k[DP_C_SMOOTHING] = c->smoothing;
  k[DP_C_FRICTION_SMOOTHING] = c->friction_smoothing;
  k[DP_C_FRICTION_DAMPING] = c->friction_damping;
  k[DP_C_DAMPING_SMOOTHING] = c->damping_smoothing;
  return DP_OK;
}

dpStatus dp_model_finalize(dpModel *m, dpError *err) {
  dpBuild *b = m->build_;
  if (b == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "model is already finalized");
  }
  dpStatus st = DP_OK;
  int np = m->np, ns = m->ns, nc = m->nc;
  if (b->controls_set && (size_t)m->steps * (size_t)m->nu * 3 == 0) {
    m->nu = 0;
  }
  if ((st = validate(m, b, err)) != DP_OK) {
    return st;
  }
  if ((st = compile_bodies(m, b, err)) != DP_OK) {
    return st;
  }
  if ((st = soft_compile(m, b->soft, err)) != DP_OK) {
    return st;
  }
  int nb = m->nb, nsh = m->nsh, na = m->na, nq = m->nq, nv = m->nv;
  dpOffsets *o = &m->off;
  size_t at = 0;
  o->gravity = at; at += 3;
  o->mass = at; at += (size_t)np;
  o->x0 = at; at += 3 * (size_t)np;
  o->v0 = at; at += 3 * (size_t)np;
  o->drag_lin = at; at += (size_t)np;
  o->drag_quad = at; at += (size_t)np;
  o->force = at; at += 3 * (size_t)np;
  o->radius = at; at += (size_t)np;
  o->k = at; at += (size_t)ns;
  o->c = at; at += (size_t)ns;
  o->rest = at; at += (size_t)ns;
  o->anchor = at; at += 3 * (size_t)ns;
  o->cgeom = at; at += (size_t)DP_CGEOM * nc;
  o->ccontact = at; at += (size_t)DP_CCONTACT * nc;
  o->controls = at; at += (size_t)m->steps * (size_t)m->nu * 3;
  o->body_mass = at; at += (size_t)nb;
  o->body_com = at; at += 3 * (size_t)nb;
  o->body_inertia = at; at += 6 * (size_t)nb;
  o->joint_pos = at; at += 3 * (size_t)nb;
  o->joint_damping = at; at += (size_t)nv;
  o->armature = at; at += (size_t)nv;
  o->q0 = at; at += (size_t)nq;
  o->qd0 = at; at += (size_t)nv;
  o->limit_range = at; at += 2 * (size_t)nb;
  o->limit_stiffness = at; at += (size_t)nb;
  o->limit_damping = at; at += (size_t)nb;
  o->limit_smoothing = at; at += (size_t)nb;
  o->shape_pos = at; at += 3 * (size_t)nsh;
  o->shape_size = at; at += 3 * (size_t)nsh;
  o->gear = at; at += (size_t)na;
  o->kp = at; at += (size_t)na;
  o->kv = at; at += (size_t)na;
  o->act_controls = at; at += (size_t)na * (size_t)m->steps;
  o->body_contact = at; at += nb > 0 ? DP_CCONTACT : 0;
  at = soft_layout(m, at);
  m->ntheta = at;

  double *th = dp_calloc(at, sizeof *th);
  unsigned char *pinned = dp_calloc((size_t)(np > 0 ? np : 1), 1);
  int *sa = dp_malloc((size_t)(ns > 0 ? ns : 1) * sizeof *sa);
  int *sb = dp_malloc((size_t)(ns > 0 ? ns : 1) * sizeof *sb);
  dpColliderType *ct = dp_malloc((size_t)(nc > 0 ? nc : 1) * sizeof *ct);
  if (th == NULL || pinned == NULL || sa == NULL || sb == NULL || ct == NULL) {
    dp_free(th);
    dp_free(pinned);
    dp_free(sa);
    dp_free(sb);
    dp_free(ct);
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory for %zu parameters", at);
  }
  memcpy(th + o->gravity, b->gravity, 3 * sizeof(double));
  for (int i = 0; i < np; i++) {
    const dpParticleDef *p = &b->p[i];
    th[o->mass + i] = p->mass;
    memcpy(th + o->x0 + 3 * i, p->position, 3 * sizeof(double));
    if (!p->pinned) {
      memcpy(th + o->v0 + 3 * i, p->velocity, 3 * sizeof(double));
    }
    th[o->drag_lin + i] = p->linear_drag;
    th[o->drag_quad + i] = p->quadratic_drag;
    memcpy(th + o->force + 3 * i, p->force, 3 * sizeof(double));
    th[o->radius + i] = p->radius;
    pinned[i] = p->pinned ? 1 : 0;
  }
  for (int i = 0; i < ns; i++) {
    const dpSpringDef *s = &b->s[i];
    sa[i] = s->a;
    sb[i] = s->b < 0 ? -1 : s->b;
    th[o->k + i] = s->stiffness;
    th[o->c + i] = s->damping;
    const double *xa = b->p[s->a].position;
    const double *xb = s->b >= 0 ? b->p[s->b].position : s->anchor;
    double d[3] = {xb[0] - xa[0], xb[1] - xa[1], xb[2] - xa[2]};
    th[o->rest + i] =
        s->rest_length >= 0 ? s->rest_length : sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    if (s->b < 0) {
      memcpy(th + o->anchor + 3 * i, s->anchor, 3 * sizeof(double));
    }
  }
  for (int i = 0; i < nc; i++) {
    const dpColliderDef *c = &b->c[i];
    double *g = th + o->cgeom + (size_t)DP_CGEOM * i;
    double *k = th + o->ccontact + (size_t)DP_CCONTACT * i;
    ct[i] = c->type;
    if (c->type == DP_COLLIDER_GROUND) {
      g[0] = c->height;
    } else {
      memcpy(g, c->center, 3 * sizeof(double));
      if (c->type == DP_COLLIDER_BOX) {
        memcpy(g + 3, c->half_extents, 3 * sizeof(double));
      } else {
        g[3] = c->radius;
      }
    }
    k[DP_C_STIFFNESS] = c->stiffness;
    k[DP_C_DAMPING] = c->damping;
    k[DP_C_FRICTION] = c->friction;
    k[DP_C_SMOOTHING] = c->smoothing;
    k[DP_C_FRICTION_SMOOTHING] = c->friction_smoothing;
    k[DP_C_FRICTION_DAMPING] = c->friction_damping;
    k[DP_C_DAMPING_SMOOTHING] = c->damping_smoothing;
  }
  if (m->nu > 0 && b->controls != NULL) {
    memcpy(th + o->controls, b->controls, (size_t)m->steps * m->nu * 3 * sizeof(double));
  }
  if ((st = fill_bodies(m, b, th, err)) != DP_OK) {
    dp_free(th);
    dp_free(pinned);
    dp_free(sa);
    dp_free(sb);
    dp_free(ct);
    return st;
  }
  if (m->nsoft > 0) {
    soft_fill_theta(m, b->soft, th);
  }
  m->theta0 = th;
  m->pinned = pinned;
  m->sa = sa;
  m->sb = sb;
  m->ctype = ct;
  if ((st = build_table(m, err)) != DP_OK) {
    return st;
  }
  build_free(b, m->na, m->nsoft);
  m->build_ = NULL;
  return DP_OK;
}

void dp_model_free(dpModel *m) {
  if (m == NULL) {
    return;
  }
  build_free(m->build_, m->na, m->nsoft);
  soft_model_free(m);
  rb_tree_free(m->rb_);
  dp_free(m->bname);
  dp_free(m->bparent);
  dp_free(m->bjoint);
  dp_free(m->bqadr);
  dp_free(m->bvadr);
  dp_free(m->blimited);
  dp_free(m->shname);
  dp_free(m->shtype);
  dp_free(m->shbody);
  dp_free(m->shquat);
  dp_free(m->shcontact);
  dp_free(m->aname);
  dp_free(m->atype);
  dp_free(m->abody);
  dp_free(m->alimited);
  dp_free(m->arange);
  dp_free(m->pair);
  dp_free(m->pname);
  dp_free(m->pinned);
  dp_free(m->sname);
  dp_free(m->sa);
  dp_free(m->sb);
  dp_free(m->cname);
  dp_free(m->ctype);
  dp_free(m->uparticle);
  dp_free(m->theta0);
  dp_free(m->param);
  dp_free(m->spec);
  dp_free(m);
}

// ---- selection -------------------------------------------------------------------------------

dpStatus dp_param_select(const dpModel *m, const char *pattern, dpSelection *sel, dpError *err) {
  memset(sel, 0, sizeof *sel);
  snprintf(sel->pattern, sizeof sel->pattern, "%s", pattern);
  size_t count = 0, total = 0;
  const dpParam *first = NULL;
  int same = 1;
  for (size_t i = 0; i < m->nparam; i++) {
    const dpParam *p = &m->param[i];
    if (dp_path_match(pattern, p->path)) {
      if (first == NULL) {
        first = p;
      } else if (p->ndim != first->ndim || p->len != first->len) {
        same = 0;
      }
      count++;
      total += p->len;
    }
  }
  if (count == 0) {
    const char *s = dp_param_suggest(m, pattern);
    if (s != NULL) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "unknown parameter '%s' (did you mean '%s'?)", pattern, s);
    }
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "unknown parameter '%s'", pattern);
  }
  sel->index = dp_malloc(total * sizeof *sel->index);
  if (sel->index == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
  }
  for (size_t i = 0; i < m->nparam; i++) {
    const dpParam *p = &m->param[i];
    if (dp_path_match(pattern, p->path)) {
      for (size_t k = 0; k < p->len; k++) {
        sel->index[sel->n++] = p->offset + k;
      }
    }
  }
  if (count == 1) {
    sel->ndim = first->ndim;
    for (int d = 0; d < first->ndim; d++) {
      sel->shape[d] = first->shape[d];
    }
  } else if (same) {
    sel->ndim = 1 + first->ndim;
    sel->shape[0] = count;
    for (int d = 0; d < first->ndim; d++) {
      sel->shape[1 + d] = first->shape[d];
    }
  } else {
    sel->ndim = 1;
    sel->shape[0] = total;
  }
  return DP_OK;
}

void dp_selection_free(dpSelection *sel) {
  if (sel != NULL) {
    dp_free(sel->index);
    sel->index = NULL;
    sel->n = 0;
  }
}

const dpParam *dp_param_at(const dpModel *m, size_t i, size_t *component) {
  // Entries are laid out in increasing offset order within each group, not globally: scan.
  for (size_t k = 0; k < m->nparam; k++) {
    const dpParam *p = &m->param[k];
    if (i >= p->offset && i < p->offset + p->len) {
      if (component != NULL) {
        *component = i - p->offset;
      }
      return p;
    }
  }
  return NULL;
}

const char *dp_param_suggest(const dpModel *m, const char *path) {
  const char *best = NULL;
  int bestd = 1 << 30;
  for (size_t i = 0; i < m->nparam; i++) {
    int d = dp_edit_distance(path, m->param[i].path);
    if (d < bestd) {
      bestd = d;
      best = m->param[i].path;
    }
  }
  size_t len = strlen(path);
  int limit = len < 8 ? 2 : (int)(len / 3);
  return bestd <= limit ? best : NULL;
}
