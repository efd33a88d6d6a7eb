// Soft bodies and shells in the model: definitions (deep copies) until finalize, their
// validation (ranges, element orientation, unreferenced vertices), the topology arrays the step
// reads, and their entries of θ (rest and initial positions, velocities, materials, damping,
// aerodynamics, contact radius, pinned-vertex controls).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core_soft.h"

typedef struct {
  dpSoftDef def;   // arrays below replace the caller's pointers
  double *rest, *position, *pin_velocity;
  int *elem, *hinge, *pin;
  dpName name;
} SoftCopy;

struct dpSoftBuild {
  SoftCopy *s;
  int n, cap;
};

void soft_build_free(dpSoftBuild *sb, int nsoft) {
  if (sb == NULL) {
    return;
  }
  for (int i = 0; i < nsoft && i < sb->n; i++) {
    SoftCopy *c = &sb->s[i];
    dp_free(c->rest);
    dp_free(c->position);
    dp_free(c->pin_velocity);
    dp_free(c->elem);
    dp_free(c->hinge);
    dp_free(c->pin);
  }
  dp_free(sb->s);
  dp_free(sb);
}

dpSoftDef dp_default_soft_def(int shell) {
  dpSoftDef d;
  memset(&d, 0, sizeof d);
  d.shell = shell ? 1 : 0;
  d.material = DP_MATERIAL_NEOHOOKEAN;
  d.youngs_modulus = shell ? 1.0e6 : 1.0e5;
  d.poisson_ratio = 0.3;
  d.density = shell ? 0.2 : 1000.0;
  d.thickness = shell ? 1.0e-3 : 0.0;
  d.bending_stiffness = shell ? 1.0e-4 : 0.0;
  d.air_density = 1.2;
  return d;
}

static void *dup_array(const void *src, size_t n) {
  if (src == NULL || n == 0) {
    return NULL;
  }
  void *p = dp_malloc(n);
  if (p != NULL) {
    memcpy(p, src, n);
  }
  return p;
}

int dp_model_add_soft(dpModel *m, const char *name, const dpSoftDef *def, dpError *err) {
  dpSoftBuild **slot = soft_build_slot(m);
  if (slot == NULL) {
    dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "model is already finalized");
    return -1;
  }
  if (name == NULL || name[0] == '\0' || strlen(name) >= DP_NAME_MAX ||
      strpbrk(name, ".*?[ \t\n=") != NULL) {
    dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                 "invalid soft body name '%s' (use letters, digits, '_' or '-')",
                 name ? name : "");
    return -1;
  }
  if (dp_model_find_soft(m, name) >= 0) {
    dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "duplicate soft body or shell name '%s'", name);
    return -1;
  }
  if (def->nv < 1 || def->nelem < 1 || def->rest == NULL || def->elem == NULL ||
      def->nhinge < 0 || def->npin < 0 || def->npin > def->nv) {
    dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                 "%s '%s': needs vertices and elements (got %d vertices, %d elements)",
                 def->shell ? "shell" : "soft body", name, def->nv, def->nelem);
    return -1;
  }
  if (*slot == NULL && (*slot = dp_calloc(1, sizeof **slot)) == NULL) {
    goto nomem;
  }
  dpSoftBuild *sb = *slot;
  if (sb->n == sb->cap) {
    int ncap = sb->cap == 0 ? 4 : 2 * sb->cap;
    SoftCopy *ns = dp_realloc(sb->s, (size_t)sb->cap * sizeof *ns, (size_t)ncap * sizeof *ns);
    dpName *nn = dp_realloc(m->softname, (size_t)sb->cap * sizeof *nn, (size_t)ncap * sizeof *nn);
    if (ns != NULL) {
      sb->s = ns;
    }
    if (nn != NULL) {
      m->softname = nn;
    }
    if (ns == NULL || nn == NULL) {
      goto nomem;
    }
    sb->cap = ncap;
  }
  SoftCopy *c = &sb->s[sb->n];
  memset(c, 0, sizeof *c);
  c->def = *def;
  size_t nv3 = 3 * (size_t)def->nv * sizeof(double);
  size_t epv = def->shell ? 3 : 4;
  c->rest = dup_array(def->rest, nv3);
  c->position = dup_array(def->position, nv3);
  c->elem = dup_array(def->elem, epv * (size_t)def->nelem * sizeof(int));
  c->hinge = dup_array(def->hinge, 4 * (size_t)def->nhinge * sizeof(int));
  c->pin = dup_array(def->pin, (size_t)def->npin * sizeof(int));
  int bad = c->rest == NULL || c->elem == NULL || (def->position != NULL && c->position == NULL) ||
            (def->nhinge > 0 && def->hinge != NULL && c->hinge == NULL) ||
            (def->npin > 0 && c->pin == NULL);
  if (!bad && def->pin_velocity != NULL && def->npin > 0 && m->steps > 0) {
    c->pin_velocity =
        dup_array(def->pin_velocity, (size_t)m->steps * (size_t)def->npin * 3 * sizeof(double));
    bad = c->pin_velocity == NULL;
  }
  if (bad) {
    dp_free(c->rest);
    dp_free(c->position);
    dp_free(c->elem);
    dp_free(c->hinge);
    dp_free(c->pin);
    dp_free(c->pin_velocity);
    goto nomem;
  }
  c->def.rest = c->rest;
  c->def.position = c->position;
  c->def.elem = c->elem;
  c->def.hinge = c->hinge;
  c->def.nhinge = c->hinge != NULL ? def->nhinge : 0;
  c->def.pin = c->pin;
  c->def.pin_velocity = c->pin_velocity;
  snprintf(m->softname[sb->n], DP_NAME_MAX, "%s", name);
  m->nsoft = ++sb->n;
  return sb->n - 1;
nomem:
  dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory adding soft body '%s'", name);
  return -1;
}

int dp_model_find_soft(const dpModel *m, const char *name) {
  for (int i = 0; i < m->nsoft; i++) {
    if (strcmp(m->softname[i], name) == 0) {
      return i;
    }
  }
  return -1;
}

size_t dp_model_soft_offset(const dpModel *m) {
  return 6 * (size_t)m->np + (size_t)m->nq + (size_t)m->nv;
}

// Signed volume of a tetrahedron (m³) and area of a triangle (m²) from rest positions.
static double tet_volume(const double *X, const int *e) {
  const double *a = X + 3 * e[0], *b = X + 3 * e[1], *c = X + 3 * e[2], *d = X + 3 * e[3];
  double u[3], v[3], w[3];
  for (int k = 0; k < 3; k++) {
    u[k] = b[k] - a[k];
    v[k] = c[k] - a[k];
    w[k] = d[k] - a[k];
  }
  return (u[0] * (v[1] * w[2] - v[2] * w[1]) - u[1] * (v[0] * w[2] - v[2] * w[0]) +
          u[2] * (v[0] * w[1] - v[1] * w[0])) / 6.0;
}

static double tri_area(const double *X, const int *e) {
  const double *a = X + 3 * e[0], *b = X + 3 * e[1], *c = X + 3 * e[2];
  double u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
  double v[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
  double n[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
  return 0.5 * sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
}

static dpStatus soft_validate(const dpModel *m, const SoftCopy *c, const char *name,
                              unsigned char *used, dpError *err) {
  const dpSoftDef *d = &c->def;
  const char *kind = d->shell ? "shell" : "soft body";
  int epv = d->shell ? 3 : 4;
  struct {
    const char *key;
    double v, lo, hi;
    int open_lo;
  } r[] = {
      {"youngs_modulus", d->youngs_modulus, 0, INFINITY, 1},
      {"poisson_ratio", d->poisson_ratio, 0, d->shell ? 1.0 : 0.5, 0},
      {"density", d->density, 0, INFINITY, 1},
      {"mass_damping", d->mass_damping, 0, INFINITY, 0},
      {"stiffness_damping", d->stiffness_damping, 0, INFINITY, 0},
      {"radius", d->radius, 0, INFINITY, 0},
      {"thickness", d->shell ? d->thickness : 1.0, 0, INFINITY, 1},
      {"bending_stiffness", d->bending_stiffness, 0, INFINITY, 0},
      {"air_density", d->air_density, 0, INFINITY, 0},
  };
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
    int ok = isfinite(r[i].v) && (r[i].open_lo ? r[i].v > r[i].lo : r[i].v >= r[i].lo) &&
             (i != 1 || r[i].v < r[i].hi);
    if (!ok) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "%s '%s': '%s' must be %s %g%s (got %g)",
                          kind, name, r[i].key, r[i].open_lo ? ">" : ">=", r[i].lo,
                          i == 1 ? (d->shell ? " and < 1" : " and < 0.5") : "", r[i].v);
    }
  }
  if (!d->shell && (d->material < DP_MATERIAL_LINEAR || d->material > DP_MATERIAL_NEOHOOKEAN)) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "soft body '%s': unknown material %d",
                        name, (int)d->material);
  }
  memset(used, 0, (size_t)d->nv);
  double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  for (int i = 0; i < 3 * d->nv; i++) {
    if (!isfinite(d->rest[i]) || (d->position != NULL && !isfinite(d->position[i]))) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "%s '%s': vertex %d is not finite",
                          kind, name, i / 3);
    }
    lo[i % 3] = fmin(lo[i % 3], d->rest[i]);
    hi[i % 3] = fmax(hi[i % 3], d->rest[i]);
  }
  double diag = sqrt((hi[0] - lo[0]) * (hi[0] - lo[0]) + (hi[1] - lo[1]) * (hi[1] - lo[1]) +
                     (hi[2] - lo[2]) * (hi[2] - lo[2]));
  for (int e = 0; e < d->nelem; e++) {
    const int *v = d->elem + (size_t)epv * e;
    for (int k = 0; k < epv; k++) {
      if (v[k] < 0 || v[k] >= d->nv) {
        return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                            "%s '%s': element %d: vertex index %d out of range 0..%d", kind,
                            name, e, v[k], d->nv - 1);
      }
      for (int l = 0; l < k; l++) {
        if (v[l] == v[k]) {
          return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                              "%s '%s': element %d repeats vertex %d", kind, name, e, v[k]);
        }
      }
      used[v[k]] = 1;
    }
    if (d->shell) {
      double a = tri_area(d->rest, v);
      if (!(a > 1e-12 * diag * diag)) {
        return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                            "shell '%s': triangle %d is degenerate (area %.3g m^2)", name, e, a);
      }
    } else {
      double vol = tet_volume(d->rest, v);
      if (!(vol > 1e-12 * diag * diag * diag)) {
        return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                            "soft body '%s': tetrahedron %d is %s (signed volume %.3g m^3)", name,
                            e, vol < 0 ? "inverted" : "degenerate", vol);
      }
    }
  }
  for (int h = 0; h < d->nhinge; h++) {
    for (int k = 0; k < 4; k++) {
      int v = d->hinge[4 * h + k];
      if (v < 0 || v >= d->nv) {
        return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                            "shell '%s': hinge %d: vertex index %d out of range", name, h, v);
      }
    }
  }
  for (int i = 0; i < d->nv; i++) {
    if (!used[i]) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "%s '%s': vertex %d belongs to no element (it would have no mass)",
                          kind, name, i);
    }
  }
  for (int p = 0; p < d->npin; p++) {
    int v = d->pin[p];
    if (v < 0 || v >= d->nv) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "%s '%s': pinned vertex %d out of range 0..%d", kind, name, v,
                          d->nv - 1);
    }
    if (used[v] == 2) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "%s '%s': vertex %d is pinned twice",
                          kind, name, v);
    }
    used[v] = 2;
  }
  (void)m;
  return DP_OK;
}

dpStatus soft_compile(dpModel *m, const dpSoftBuild *sb, dpError *err) {
  int ns = m->nsoft;
  if (m->newton_max_iter <= 0) {
    m->newton_max_iter = 20;
  }
  if (!(m->newton_tol > 0)) {
    m->newton_tol = 1e-9;
  }
  if (m->cg_max_iter <= 0) {
    m->cg_max_iter = 1000;
  }
  if (!(m->cg_tol > 0)) {
    m->cg_tol = 1e-10;
  }
  if (ns == 0) {
    return DP_OK;
  }
  if (m->integrator == DP_RK4) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "soft bodies and shells step with semi_implicit_euler, explicit_euler or "
                        "implicit_euler, not rk4");
  }
  int nvert = 0, ntet = 0, ntri = 0, nh = 0, npin = 0, nmat = 0, maxnv = 1;
  for (int s = 0; s < ns; s++) {
    const dpSoftDef *d = &sb->s[s].def;
    nvert += d->nv;
    maxnv = d->nv > maxnv ? d->nv : maxnv;
    if (d->shell) {
      ntri += d->nelem;
    } else {
      ntet += d->nelem;
    }
    nh += d->nhinge;
    npin += d->npin;
    nmat += d->per_element ? d->nelem : 1;
  }
  unsigned char *used = dp_malloc((size_t)maxnv);
  if (used == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
  }
  for (int s = 0; s < ns; s++) {
    dpStatus st = soft_validate(m, &sb->s[s], m->softname[s], used, err);
    if (st != DP_OK) {
      dp_free(used);
      return st;
    }
  }
  dp_free(used);
  size_t n1 = (size_t)ns;
  m->soft_shell = dp_calloc(n1, 1);
  m->soft_material = dp_calloc(n1, sizeof *m->soft_material);
  m->soft_perelem = dp_calloc(n1, 1);
  int **ranges[] = {&m->soft_vadr, &m->soft_nv,   &m->soft_eadr, &m->soft_ne, &m->soft_hadr,
                    &m->soft_nh,   &m->soft_padr, &m->soft_npin, &m->soft_madr};
  int bad = m->soft_shell == NULL || m->soft_material == NULL || m->soft_perelem == NULL;
  for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
    *ranges[k] = dp_calloc(n1, sizeof(int));
    bad = bad || *ranges[k] == NULL;
  }
  m->vsoft = dp_calloc((size_t)nvert, sizeof *m->vsoft);
  m->vpinned = dp_calloc((size_t)nvert, 1);
  m->tet = dp_calloc(4 * (size_t)(ntet > 0 ? ntet : 1), sizeof *m->tet);
  m->tri = dp_calloc(3 * (size_t)(ntri > 0 ? ntri : 1), sizeof *m->tri);
  m->hinge = dp_calloc(4 * (size_t)(nh > 0 ? nh : 1), sizeof *m->hinge);
  m->pin = dp_calloc((size_t)(npin > 0 ? npin : 1), sizeof *m->pin);
  if (bad || m->vsoft == NULL || m->vpinned == NULL || m->tet == NULL || m->tri == NULL ||
      m->hinge == NULL || m->pin == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory for the soft bodies");
  }
  int va = 0, ta = 0, ra = 0, ha = 0, pa = 0, ma = 0;
  for (int s = 0; s < ns; s++) {
    const dpSoftDef *d = &sb->s[s].def;
    m->soft_shell[s] = (unsigned char)d->shell;
    m->soft_material[s] = d->material;
    m->soft_perelem[s] = d->per_element ? 1 : 0;
    m->soft_vadr[s] = va;
    m->soft_nv[s] = d->nv;
    m->soft_eadr[s] = d->shell ? ra : ta;
    m->soft_ne[s] = d->nelem;
    m->soft_hadr[s] = ha;
    m->soft_nh[s] = d->nhinge;
    m->soft_padr[s] = pa;
    m->soft_npin[s] = d->npin;
    m->soft_madr[s] = ma;
    for (int i = 0; i < d->nv; i++) {
      m->vsoft[va + i] = s;
    }
    if (d->shell) {
      for (int k = 0; k < 3 * d->nelem; k++) {
        m->tri[3 * (size_t)ra + k] = va + d->elem[k];
      }
      ra += d->nelem;
    } else {
      for (int k = 0; k < 4 * d->nelem; k++) {
        m->tet[4 * (size_t)ta + k] = va + d->elem[k];
      }
      ta += d->nelem;
    }
    for (int k = 0; k < 4 * d->nhinge; k++) {
      m->hinge[4 * (size_t)ha + k] = va + d->hinge[k];
    }
    ha += d->nhinge;
    for (int p = 0; p < d->npin; p++) {
      m->pin[pa + p] = va + d->pin[p];
      m->vpinned[va + d->pin[p]] = 1;
    }
    pa += d->npin;
    ma += d->per_element ? d->nelem : 1;
    va += d->nv;
  }
  m->nvert = nvert;
  m->ntet = ntet;
  m->ntri = ntri;
  m->nhinge = nh;
  m->npin = npin;
  m->nmat = nmat;
  return DP_OK;
}

size_t soft_layout(dpModel *m, size_t at) {
  dpOffsets *o = &m->off;
  size_t nv3 = 3 * (size_t)m->nvert, ns = (size_t)m->nsoft;
  o->soft_rest = at; at += nv3;
  o->soft_x0 = at; at += nv3;
  o->soft_v0 = at; at += nv3;
  o->soft_E = at; at += (size_t)m->nmat;
  o->soft_nu = at; at += (size_t)m->nmat;
  o->soft_density = at; at += ns;
  o->soft_thickness = at; at += ns;
  o->soft_alpha = at; at += ns;
  o->soft_beta = at; at += ns;
  o->soft_bend = at; at += ns;
  o->soft_lift = at; at += ns;
  o->soft_drag = at; at += ns;
  o->soft_air = at; at += ns;
  o->soft_wind = at; at += 3 * ns;
  o->soft_radius = at; at += ns;
  o->pin_controls = at; at += (size_t)m->steps * (size_t)m->npin * 3;
  return at;
}

void soft_fill_theta(const dpModel *m, const dpSoftBuild *sb, double *th) {
  const dpOffsets *o = &m->off;
  for (int s = 0; s < m->nsoft; s++) {
    const dpSoftDef *d = &sb->s[s].def;
    size_t v3 = 3 * (size_t)m->soft_vadr[s];
    memcpy(th + o->soft_rest + v3, d->rest, 3 * (size_t)d->nv * sizeof(double));
    memcpy(th + o->soft_x0 + v3, d->position != NULL ? d->position : d->rest,
           3 * (size_t)d->nv * sizeof(double));
    for (int i = 0; i < d->nv; i++) {
      if (!m->vpinned[m->soft_vadr[s] + i]) {
        memcpy(th + o->soft_v0 + v3 + 3 * (size_t)i, d->velocity, 3 * sizeof(double));
      }
    }
    int nm = d->per_element ? d->nelem : 1;
    for (int k = 0; k < nm; k++) {
      th[o->soft_E + m->soft_madr[s] + k] = d->youngs_modulus;
      th[o->soft_nu + m->soft_madr[s] + k] = d->poisson_ratio;
    }
    th[o->soft_density + s] = d->density;
    th[o->soft_thickness + s] = d->shell ? d->thickness : 0.0;
    th[o->soft_alpha + s] = d->mass_damping;
    th[o->soft_beta + s] = d->stiffness_damping;
    th[o->soft_bend + s] = d->bending_stiffness;
    th[o->soft_lift + s] = d->lift;
    th[o->soft_drag + s] = d->drag;
    th[o->soft_air + s] = d->air_density;
    memcpy(th + o->soft_wind + 3 * (size_t)s, d->wind, 3 * sizeof(double));
    th[o->soft_radius + s] = d->radius;
    if (d->pin_velocity != NULL) {
      // Controls are stored step-major over all pinned vertices: (t, pin, 3).
      for (int t = 0; t < m->steps; t++) {
        memcpy(th + o->pin_controls + ((size_t)t * m->npin + m->soft_padr[s]) * 3,
               d->pin_velocity + (size_t)t * d->npin * 3, 3 * (size_t)d->npin * sizeof(double));
      }
    }
  }
}

int soft_table(ParamTable *t) {
  dpModel *m = t->m;
  const dpOffsets *o = &m->off;
  const double inf = INFINITY;
  int ok = 1;
  for (int s = 0; ok && s < m->nsoft; s++) {
    const char *n = m->softname[s];
    const char *f = m->soft_shell[s] ? "shells.%s.%s" : "softbodies.%s.%s";
    size_t v3 = 3 * (size_t)m->soft_vadr[s], nv3 = 3 * (size_t)m->soft_nv[s];
    size_t nm = m->soft_perelem[s] ? (size_t)m->soft_ne[s] : 1;
    size_t before = m->nparam;
    ok = table_add(t, o->soft_rest + v3, nv3, -inf, inf, f, n, "rest") &&
         table_add(t, o->soft_x0 + v3, nv3, -inf, inf, f, n, "position") &&
         table_add(t, o->soft_v0 + v3, nv3, -inf, inf, f, n, "velocity");
    for (size_t k = before; ok && k < m->nparam; k++) {
      m->param[k].ndim = 2;
      m->param[k].shape[0] = (size_t)m->soft_nv[s];
      m->param[k].shape[1] = 3;
    }
    ok = ok &&
         table_add(t, o->soft_E + m->soft_madr[s], nm, 0, inf, f, n, "youngs_modulus") &&
         table_add(t, o->soft_nu + m->soft_madr[s], nm, 0, m->soft_shell[s] ? 1.0 : 0.5, f, n,
                   "poisson_ratio") &&
         table_add(t, o->soft_density + s, 1, 0, inf, f, n, "density") &&
         table_add(t, o->soft_alpha + s, 1, 0, inf, f, n, "mass_damping") &&
         table_add(t, o->soft_beta + s, 1, 0, inf, f, n, "stiffness_damping") &&
         table_add(t, o->soft_radius + s, 1, 0, inf, f, n, "radius");
    if (ok && m->soft_shell[s]) {
      ok = table_add(t, o->soft_thickness + s, 1, 0, inf, f, n, "thickness") &&
           table_add(t, o->soft_bend + s, 1, 0, inf, f, n, "bending_stiffness") &&
           table_add(t, o->soft_lift + s, 1, -inf, inf, f, n, "lift") &&
           table_add(t, o->soft_drag + s, 1, 0, inf, f, n, "drag") &&
           table_add(t, o->soft_air + s, 1, 0, inf, f, n, "air_density") &&
           table_add(t, o->soft_wind + 3 * (size_t)s, 3, -inf, inf, f, n, "wind");
    }
  }
  if (ok && m->npin > 0) {
    ok = table_add(t, o->pin_controls, (size_t)m->steps * m->npin * 3, -inf, inf, "%s%s",
                   "pin_controls", "");
    if (ok) {
      dpParam *p = &m->param[m->nparam - 1];
      p->ndim = 3;
      p->shape[0] = (size_t)m->steps;
      p->shape[1] = (size_t)m->npin;
      p->shape[2] = 3;
    }
  }
  return ok;
}

void soft_model_free(dpModel *m) {
  dp_free(m->softname);
  dp_free(m->soft_shell);
  dp_free(m->soft_material);
  dp_free(m->soft_perelem);
  dp_free(m->soft_vadr);
  dp_free(m->soft_nv);
  dp_free(m->soft_eadr);
  dp_free(m->soft_ne);
  dp_free(m->soft_hadr);
  dp_free(m->soft_nh);
  dp_free(m->soft_padr);
  dp_free(m->soft_npin);
  dp_free(m->soft_madr);
  dp_free(m->vsoft);
  dp_free(m->vpinned);
  dp_free(m->tet);
  dp_free(m->tri);
  dp_free(m->hinge);
  dp_free(m->pin);
}
