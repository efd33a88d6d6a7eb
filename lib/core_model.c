// The model builder and the parameter block θ: definitions are collected in growable arrays,
// then dp_model_finalize lays out θ as structure of arrays (dpOffsets) with one named entry per
// scene value, so that a single adjoint sweep fills the gradient of every parameter.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core_text.h"
#include "dp/dp.h"

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
  dpNameSet names[3];  // particles, springs, colliders: duplicate checks in O(1)
} dpBuild;

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

int dp_model_add_particle(dpModel *m, const char *name, const dpParticleDef *def, dpError *err) {
  if (!add_check(m, "particle", name, m->pname, 0, err)) {
    return -1;
  }
  dpBuild *b = m->build_;
  if (!grow((void **)&b->p, sizeof *b->p, &m->pname, m->np, &b->pcap)) {
    dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory adding particle '%s'", name);
    return -1;
  }
  b->p[m->np] = *def;
  snprintf(m->pname[m->np], DP_NAME_MAX, "%s", name);
  if (!nameset_insert(&b->names[0], m->pname, m->np)) {
    dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory adding particle '%s'", name);
    return -1;
  }
  return m->np++;
}

int dp_model_add_spring(dpModel *m, const char *name, const dpSpringDef *def, dpError *err) {
  if (!add_check(m, "spring", name, m->sname, 1, err)) {
    return -1;
  }
  dpBuild *b = m->build_;
  if (!grow((void **)&b->s, sizeof *b->s, &m->sname, m->ns, &b->scap)) {
    dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory adding spring '%s'", name);
    return -1;
  }
  b->s[m->ns] = *def;
  snprintf(m->sname[m->ns], DP_NAME_MAX, "%s", name);
  if (!nameset_insert(&b->names[1], m->sname, m->ns)) {
    dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory adding spring '%s'", name);
    return -1;
  }
  return m->ns++;
}

int dp_model_add_collider(dpModel *m, const char *name, const dpColliderDef *def,
                          dpError *err) {
  if (!add_check(m, "collider", name, m->cname, 2, err)) {
    return -1;
  }
  dpBuild *b = m->build_;
  if (!grow((void **)&b->c, sizeof *b->c, &m->cname, m->nc, &b->ccap)) {
    dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory adding collider '%s'", name);
    return -1;
  }
  b->c[m->nc] = *def;
  snprintf(m->cname[m->nc], DP_NAME_MAX, "%s", name);
  if (!nameset_insert(&b->names[2], m->cname, m->nc)) {
    dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory adding collider '%s'", name);
    return -1;
  }
  return m->nc++;
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
  return 6 * (size_t)m->np;
}

// ---- parameter table -------------------------------------------------------------------------

typedef struct {
  dpModel *m;
  size_t cap;
} ParamTable;

static int table_add(ParamTable *t, size_t offset, size_t len, double lo, double hi,
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
  for (int i = 0; i < m->nu; i++) {
    if (m->uparticle[i] < 0 || m->uparticle[i] >= m->np) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "control %d: invalid particle", i);
    }
  }
  return DP_OK;
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
  return ok ? DP_OK : dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
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
  m->theta0 = th;
  m->pinned = pinned;
  m->sa = sa;
  m->sb = sb;
  m->ctype = ct;
  if ((st = build_table(m, err)) != DP_OK) {
    return st;
  }
  dp_free(b->p);
  dp_free(b->s);
  dp_free(b->c);
  dp_free(b->controls);
  for (int i = 0; i < 3; i++) {
    dp_free(b->names[i].slot);
  }
  dp_free(b);
  m->build_ = NULL;
  return DP_OK;
}

void dp_model_free(dpModel *m) {
  if (m == NULL) {
    return;
  }
  dpBuild *b = m->build_;
  if (b != NULL) {
    dp_free(b->p);
    dp_free(b->s);
    dp_free(b->c);
    dp_free(b->controls);
    for (int i = 0; i < 3; i++) {
      dp_free(b->names[i].slot);
    }
    dp_free(b);
  }
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
