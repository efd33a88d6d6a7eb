// Writing a scene with a new parameter block θ (dp_scene_write, for dp-optimize): the source
// document with its --set overrides (mesh files renamed relative to the written scene), each
// changed θ entry at its place in the document (body shapes in their body's list, the vertex
// entries of soft bodies and shells as per-vertex lists) or under `overrides:` (applied after
// compiling, so it always reads back), emitted as YAML, compiled again and compared with θ bit
// for bit before the file is committed.
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp/dp.h"
#include "core_text.h"
#include "io_scene.h"
#include "io_yaml.h"

// Where an entry's value is written: left as the document gives it, at its place in the
// document, or under `overrides:`. An entry only moves forward, so a few passes settle.
enum { KEEP = 0, IN_PLACE, OVERRIDE };
#define MAX_PASSES 4

// ---- values -------------------------------------------------------------------------------------

// The shortest of %.15g, %.16g and %.17g that reads back as x bit for bit (%.17g always does),
// with ".0" added where it would otherwise read as an integer.
static void format_number(double x, char *buf, size_t size) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, size, "%.*g", prec, x);
    double y = strtod(buf, NULL);
    if (memcmp(&x, &y, sizeof x) == 0) {
      break;
    }
  }
  if (strpbrk(buf, ".eE") == NULL) {
    size_t n = strlen(buf);
    snprintf(buf + n, size - n, ".0");
  }
}

static dpYNode *number_node(double x) {
  char buf[40];
  format_number(x, buf, sizeof buf);
  return dp_yaml_new_scalar(buf, 0);
}

// A list of n numbers; NULL when out of memory.
static dpYNode *vector_node(const double *x, size_t n) {
  dpYNode *v = dp_yaml_new(DP_Y_SEQ);
  for (size_t i = 0; v != NULL && i < n; i++) {
    dpYNode *item = number_node(x[i]);
    if (item == NULL || !dp_yaml_push(v, item)) {
      dp_yaml_free(v);
      v = NULL;
    }
  }
  return v;
}

// A list of n 3-vectors; NULL when out of memory.
static dpYNode *rows_node(const double *x, size_t n) {
  dpYNode *v = dp_yaml_new(DP_Y_SEQ);
  for (size_t i = 0; v != NULL && i < n; i++) {
    dpYNode *row = vector_node(x + 3 * i, 3);
    if (row == NULL || !dp_yaml_push(v, row)) {
      dp_yaml_free(v);
      v = NULL;
    }
  }
  return v;
}

// The value of entry p in theta as the document writes it: a number, a list, the rows of an
// entry of vertices (nv 3-vectors), or for controls and pin_controls the rows of
// controls.values (steps × nu 3-vectors). NULL when out of memory.
static dpYNode *entry_node(const dpParam *p, const double *theta) {
  const double *x = theta + p->offset;
  if (p->ndim == 0) {
    return number_node(x[0]);
  }
  if (p->ndim == 2 && p->shape[1] == 3) {
    return rows_node(x, p->shape[0]);
  }
  if (p->ndim != 3) {
    return vector_node(x, p->len);
  }
  dpYNode *rows = dp_yaml_new(DP_Y_SEQ);
  for (size_t t = 0; rows != NULL && t < p->shape[0]; t++) {
    dpYNode *row = dp_yaml_new(DP_Y_SEQ);
    for (size_t k = 0; row != NULL && k < p->shape[1]; k++) {
      dpYNode *u = vector_node(x + 3 * (t * p->shape[1] + k), 3);
      if (u == NULL || !dp_yaml_push(row, u)) {
        dp_yaml_free(row);
        row = NULL;
      }
    }
    if (row == NULL || !dp_yaml_push(rows, row)) {
      dp_yaml_free(rows);
      rows = NULL;
    }
  }
  return rows;
}

// ---- the document -------------------------------------------------------------------------------

// Keep the model's name: a document without `name` gets one first (the loader would otherwise
// name the scene after the written file).
static dpStatus keep_name(dpYNode *root, const char *name, const char *path, dpError *err) {
  if (dp_yaml_get(root, "name", NULL) != NULL) {
    return DP_OK;
  }
  dpYNode *v = dp_yaml_new_scalar(name, 1);
  if (v == NULL || !dp_yaml_put(root, "name", v, NULL)) {
    return dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
  }
  dpYNode *k = root->keys[root->n - 1];
  memmove(root->keys + 1, root->keys, (root->n - 1) * sizeof *root->keys);
  memmove(root->items + 1, root->items, (root->n - 1) * sizeof *root->items);
  root->keys[0] = k;
  root->items[0] = v;
  return DP_OK;
}

// The `overrides:` mapping of root, created (last) when absent.
static dpStatus overrides_map(dpYNode *root, const char *path, dpYNode **out, dpError *err) {
  dpYNode *ov = dp_yaml_get(root, "overrides", NULL);
  if (ov == NULL) {
    ov = dp_yaml_new(DP_Y_MAP);
    if (ov == NULL || !dp_yaml_put(root, "overrides", ov, NULL)) {
      return dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
    }
  }
  if (ov->kind != DP_Y_MAP) {
    return dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                        "cannot write '%s': 'overrides' of the scene is not a mapping", path);
  }
  *out = ov;
  return DP_OK;
}

// Set `overrides: {key: value}` last in the mapping (so that it wins over earlier patterns);
// takes ownership of value.
static dpStatus put_override(dpYNode *root, const char *key, dpYNode *value, const char *path,
                             dpError *err) {
  dpYNode *ov = NULL;
  dpStatus st = value == NULL ? dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory")
                              : overrides_map(root, path, &ov, err);
  if (st != DP_OK) {
    dp_yaml_free(value);
    return st;
  }
  dp_yaml_remove(ov, key);
  return dp_yaml_append(ov, key, value)
             ? DP_OK
             : dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
}

typedef struct {
  const char *key;
  size_t index;
} dpKeyIndex;

static int key_index_cmp(const void *a, const void *b) {
  return strcmp(((const dpKeyIndex *)a)->key, ((const dpKeyIndex *)b)->key);
}

// Append every entry in state OVERRIDE to `overrides:`, in table order after the pairs there (a
// pair of the same path already there is dropped). A scene can have an override for every
// entry, so existing pairs are looked up by bisection.
static dpStatus put_overrides(dpYNode *root, const dpModel *m, const unsigned char *state,
                              const double *theta, const char *path, dpError *err) {
  size_t count = 0;
  for (size_t i = 0; i < m->nparam; i++) {
    count += state[i] == OVERRIDE;
  }
  if (count == 0) {
    return DP_OK;
  }
  dpYNode *ov;
  dpStatus st = overrides_map(root, path, &ov, err);
  if (st != DP_OK) {
    return st;
  }
  size_t n0 = ov->n;
  dpKeyIndex *sorted = dp_malloc((n0 > 0 ? n0 : 1) * sizeof *sorted);
  unsigned char *drop = dp_calloc(n0 > 0 ? n0 : 1, 1);
  if (sorted == NULL || drop == NULL) {
    st = dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
    goto done;
  }
  for (size_t k = 0; k < n0; k++) {
    sorted[k].key = ov->keys[k]->text;
    sorted[k].index = k;
  }
  qsort(sorted, n0, sizeof *sorted, key_index_cmp);
  for (size_t i = 0; i < m->nparam; i++) {
    dpKeyIndex probe = {m->param[i].path, 0};
    const dpKeyIndex *hit =
        state[i] == OVERRIDE ? bsearch(&probe, sorted, n0, sizeof *sorted, key_index_cmp) : NULL;
    if (hit != NULL) {
      drop[hit->index] = 1;
    }
  }
  size_t kept = 0;
  for (size_t k = 0; k < n0; k++) {
    if (drop[k]) {
      dp_yaml_free(ov->keys[k]);
      dp_yaml_free(ov->items[k]);
    } else {
      ov->keys[kept] = ov->keys[k];
      ov->items[kept++] = ov->items[k];
    }
  }
  ov->n = kept;
  for (size_t i = 0; i < m->nparam && st == DP_OK; i++) {
    if (state[i] != OVERRIDE) {
      continue;
    }
    dpYNode *v = entry_node(&m->param[i], theta);
    if (v == NULL || !dp_yaml_append(ov, m->param[i].path, v)) {
      st = dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
    }
  }
done:
  dp_free(sorted);
  dp_free(drop);
  return st;
}

// Set key of map to v (owned; NULL: out of memory). Returns 0 when out of memory.
static int put_node(dpYNode *map, const char *key, dpYNode *v) {
  return v != NULL && dp_yaml_put(map, key, v, NULL);
}

// A body shape's entry (shapes.NAME.position or .size) at its place in its body's `shapes` list:
// position; radius (sphere), radius and half_length (capsule), half_extents (box). A capsule
// given by `fromto` becomes position, quat, radius and half_length: θ's values, with the
// orientation the loader derived from fromto (the same numbers, so the same bits).
static dpStatus put_shape(dpYNode *root, const dpModel *m, const dpParam *p, const double *theta,
                          const char *path, int *placed, dpError *err) {
  char name[DP_PATH_MAX];
  const char *field = strrchr(p->path, '.');
  size_t len = (size_t)(field - (p->path + 7));
  memcpy(name, p->path + 7, len);
  name[len] = '\0';
  field++;
  int si = dp_model_find_shape(m, name);
  dpYNode *item = si >= 0 ? dp_scene_shape_item(root, name, NULL, NULL) : NULL;
  if (item == NULL || item->kind != DP_Y_MAP) {
    return DP_OK;
  }
  const double *pos = theta + m->off.shape_pos + 3 * (size_t)si;
  const double *size = theta + m->off.shape_size + 3 * (size_t)si;
  dpShapeType type = m->shtype[si];
  const dpYNode *ft = dp_yaml_get(item, "fromto", NULL);
  int ok = 1;
  if (type == DP_SHAPE_CAPSULE && ft != NULL) {
    double f[6], c[3], q[4], hl;
    for (size_t k = 0; k < 6; k++) {
      if (ft->kind != DP_Y_SEQ || ft->n != 6 || ft->items[k]->kind != DP_Y_SCALAR) {
        return DP_OK;
      }
      f[k] = strtod(ft->items[k]->text, NULL);
    }
    if (!dp_scene_fromto(f, c, q, &hl)) {
      return DP_OK;
    }
    dp_yaml_remove(item, "fromto");
    ok = put_node(item, "position", vector_node(pos, 3)) &&
         put_node(item, "quat", vector_node(q, 4)) &&
         put_node(item, "radius", number_node(size[0])) &&
         put_node(item, "half_length", number_node(size[1]));
  } else if (strcmp(field, "position") == 0) {
    ok = put_node(item, "position", vector_node(pos, 3));
  } else if (type == DP_SHAPE_SPHERE) {
    ok = put_node(item, "radius", number_node(size[0]));
  } else if (type == DP_SHAPE_CAPSULE) {
    ok = put_node(item, "radius", number_node(size[0])) &&
         put_node(item, "half_length", number_node(size[1]));
  } else {
    ok = put_node(item, "half_extents", vector_node(size, 3));
  }
  if (!ok) {
    return dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
  }
  *placed = 1;
  return DP_OK;
}

// The pinned vertices of soft body s as a list of its vertex indices; NULL when out of memory.
static dpYNode *pins_node(const dpModel *m, int s) {
  dpYNode *v = dp_yaml_new(DP_Y_SEQ);
  for (int k = 0; v != NULL && k < m->soft_npin[s]; k++) {
    char buf[24];
    snprintf(buf, sizeof buf, "%d", m->pin[m->soft_padr[s] + k] - m->soft_vadr[s]);
    dpYNode *item = dp_yaml_new_scalar(buf, 0);
    if (item == NULL || !dp_yaml_push(v, item)) {
      dp_yaml_free(v);
      v = NULL;
    }
  }
  return v;
}

static int zero_bits(const double *x) {
  static const double zero[3] = {0, 0, 0};
  return memcmp(x, zero, sizeof zero) == 0;
}

// A soft body's or shell's entry of vertices (softbodies.NAME.rest, .position or .velocity, or
// the same under shells.) at its place in the document:
//   rest: `rest:` rows, replacing the mesh's placement (position, scale); a pin_region becomes
//         the explicit `pinned` list (the region would be tested against the new positions);
//   position (and after rest): `vertex_position:` rows, or none when they are the rest
//         positions;
//   velocity: `velocity:` when every free vertex has the same velocity and every pinned vertex
//         zero (as the loader gives it), else `vertex_velocity:` rows.
static dpStatus put_soft_vertices(dpYNode *root, const dpModel *m, const dpParam *p,
                                  const double *theta, const char *path, int *placed,
                                  dpError *err) {
  int shell = p->path[1] == 'h';
  const char *name = p->path + (shell ? 7 : 11), *field = strrchr(p->path, '.') + 1;
  char buf[DP_PATH_MAX];
  snprintf(buf, sizeof buf, "%.*s", (int)(field - 1 - name), name);
  int s = dp_model_find_soft(m, buf);
  dpYNode *sec = dp_yaml_get(root, shell ? "shells" : "softbodies", NULL);
  dpYNode *item = s >= 0 && sec != NULL && sec->kind == DP_Y_MAP ? dp_yaml_get(sec, buf, NULL)
                                                                : NULL;
  if (item == NULL || item->kind != DP_Y_MAP) {
    return DP_OK;
  }
  size_t nv = (size_t)m->soft_nv[s], v3 = 3 * (size_t)m->soft_vadr[s];
  const double *rest = theta + m->off.soft_rest + v3, *x0 = theta + m->off.soft_x0 + v3;
  const double *v0 = theta + m->off.soft_v0 + v3;
  int ok = 1, is_rest = strcmp(field, "rest") == 0;
  if (is_rest) {
    dp_yaml_remove(item, "position");
    dp_yaml_remove(item, "scale");
    ok = put_node(item, "rest", rows_node(rest, nv));
    if (ok && dp_yaml_remove(item, "pin_region")) {
      ok = put_node(item, "pinned", pins_node(m, s));
    }
  }
  if (ok && (is_rest || strcmp(field, "position") == 0)) {
    if (memcmp(x0, rest, 3 * nv * sizeof *x0) == 0) {
      dp_yaml_remove(item, "vertex_position");
    } else {
      ok = put_node(item, "vertex_position", rows_node(x0, nv));
    }
  }
  if (ok && strcmp(field, "velocity") == 0) {
    const double *u = NULL;
    int uniform = 1;
    for (size_t i = 0; uniform && i < nv; i++) {
      if (m->vpinned[(size_t)m->soft_vadr[s] + i]) {
        uniform = zero_bits(v0 + 3 * i);
      } else if (u == NULL) {
        u = v0 + 3 * i;
      } else {
        uniform = memcmp(u, v0 + 3 * i, 3 * sizeof *u) == 0;
      }
    }
    if (uniform) {
      dp_yaml_remove(item, "vertex_velocity");
      ok = u == NULL || put_node(item, "velocity", vector_node(u, 3));
    } else {
      dp_yaml_remove(item, "velocity");
      ok = put_node(item, "vertex_velocity", rows_node(v0, nv));
    }
  }
  if (!ok) {
    return dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
  }
  *placed = 1;
  return DP_OK;
}

static int soft_vertex_entry(const dpParam *p) {
  if (p->ndim != 2 ||
      (strncmp(p->path, "softbodies.", 11) != 0 && strncmp(p->path, "shells.", 7) != 0)) {
    return 0;
  }
  const char *field = strrchr(p->path, '.') + 1;
  return strcmp(field, "rest") == 0 || strcmp(field, "position") == 0 ||
         strcmp(field, "velocity") == 0;
}

// The mapping that holds the last component of the dotted path (no patterns), or NULL.
static dpYNode *holder(dpYNode *root, const char *path) {
  char buf[DP_PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  char *last = strrchr(buf, '.');
  if (last == NULL) {
    return root;
  }
  *last = '\0';
  dpYNode *n = root;
  for (char *q = buf, *save = NULL, *tok; n != NULL && (tok = strtok_r(q, ".", &save)) != NULL;
       q = NULL) {
    n = n->kind == DP_Y_MAP ? dp_yaml_get(n, tok, NULL) : NULL;
  }
  return n != NULL && n->kind == DP_Y_MAP ? n : NULL;
}

// Write entry p at its place in the document when the document has (or may insert) it there;
// *placed is 0 otherwise (a generated entity). Body shapes live in their body's list; the
// vertex entries of soft bodies and shells in the keys of put_soft_vertices; `contact:` is added
// when absent (its entries exist whenever there are bodies); a finite damping_smoothing needs
// damping_mode: approach; `controls` is controls.values, `pin_controls` a top-level key.
static dpStatus put_in_place(dpYNode *root, const dpModel *m, const dpParam *p,
                             const double *theta, const char *path, int *placed, dpError *err) {
  *placed = 0;
  if (strncmp(p->path, "shapes.", 7) == 0) {
    return put_shape(root, m, p, theta, path, placed, err);
  }
  if (soft_vertex_entry(p)) {
    return put_soft_vertices(root, m, p, theta, path, placed, err);
  }
  if (strncmp(p->path, "contact.", 8) == 0 && dp_yaml_get(root, "contact", NULL) == NULL &&
      !put_node(root, "contact", dp_yaml_new(DP_Y_MAP))) {
    return dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
  }
  dpYNode *v = entry_node(p, theta);
  if (v == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
  }
  size_t count = 0;
  const char *at = strcmp(p->path, "controls") == 0 ? "controls.values" : p->path;
  dpStatus st = dp_yaml_apply(root, at, v, dp_scene_may_insert, NULL, &count, err);
  dp_yaml_free(v);
  *placed = count > 0;
  const char *field = strrchr(p->path, '.');
  if (st == DP_OK && *placed && field != NULL && strcmp(field, ".damping_smoothing") == 0) {
    dpYNode *map = holder(root, p->path);
    const dpYNode *mode = map != NULL ? dp_yaml_get(map, "damping_mode", NULL) : NULL;
    if (map != NULL && !(mode != NULL && mode->kind == DP_Y_SCALAR &&
                         strcmp(mode->text, "approach") == 0) &&
        !put_node(map, "damping_mode", dp_yaml_new_scalar("approach", 0))) {
      st = dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
    }
  }
  return st;
}

// The entries bodies.B.mass, .com and .inertia of a body come and go together (what the
// document leaves out comes from the shapes): when one is written in place, so are the others.
// They are consecutive in the table.
static void raise_mass_groups(const dpModel *m, unsigned char *state) {
  for (size_t i = 0; i + 2 < m->nparam; i++) {
    const dpParam *p = &m->param[i];
    size_t len = strlen(p->path);
    if (strncmp(p->path, "bodies.", 7) != 0 || len < 5 || strcmp(p->path + len - 5, ".mass") != 0 ||
        strncmp(m->param[i + 1].path, p->path, len - 4) != 0 ||
        strncmp(m->param[i + 2].path, p->path, len - 4) != 0) {
      continue;
    }
    if (state[i] >= IN_PLACE || state[i + 1] >= IN_PLACE || state[i + 2] >= IN_PLACE) {
      for (size_t k = i; k < i + 3; k++) {
        if (state[k] == KEEP) {
          state[k] = IN_PLACE;
        }
      }
    }
  }
}

// Emit root and compile the text (named `name` in messages). *text receives the text.
static dpStatus compile(const dpYNode *root, const char *header, const char *name,
                        const char *path, char **text, size_t *len, dpModel **out,
                        dpError *err) {
  *out = NULL;
  *text = dp_yaml_emit(root, header, len);
  if (*text == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
  }
  dpError e;
  dp_error_clear(&e);
  dpStatus st = dp_scene_parse(*text, *len, name, NULL, 0, out, &e);
  if (st == DP_ERR_NOMEM) {
    return dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
  }
  if (st != DP_OK) {
    return dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                        "cannot write '%s': the scene written does not load (line %d: %s)", path,
                        e.line, e.message);
  }
  return DP_OK;
}

// ---- mesh files ---------------------------------------------------------------------------------

// The directory of a file path ("." when the path has none).
static void dir_of(const char *file, char *out, size_t size) {
  const char *slash = strrchr(file, '/');
  if (slash == NULL) {
    snprintf(out, size, ".");
  } else if (slash == file) {
    snprintf(out, size, "/");
  } else {
    snprintf(out, size, "%.*s", (int)(slash - file), file);
  }
}

// The path of target relative to the directory dir, both canonical and absolute ("../m.obj").
// Returns 0 when it does not fit.
static int relative_path(const char *dir, const char *target, char *out, size_t size) {
  char a[PATH_MAX], b[PATH_MAX];
  const char *ca[PATH_MAX / 2], *cb[PATH_MAX / 2];
  int na = 0, nb = 0;
  snprintf(a, sizeof a, "%s", dir);
  snprintf(b, sizeof b, "%s", target);
  for (char *q = a, *save = NULL, *tok; (tok = strtok_r(q, "/", &save)) != NULL; q = NULL) {
    ca[na++] = tok;
  }
  for (char *q = b, *save = NULL, *tok; (tok = strtok_r(q, "/", &save)) != NULL; q = NULL) {
    cb[nb++] = tok;
  }
  int k = 0;
  while (k < na && k + 1 < nb && strcmp(ca[k], cb[k]) == 0) {
    k++;
  }
  size_t len = 0;
  out[0] = '\0';
  for (int i = k; i < na + nb - k; i++) {
    int n = i < na ? snprintf(out + len, size - len, "../")
                   : snprintf(out + len, size - len, "%s%s", cb[i - na + k],
                              i + 1 < na + nb - k ? "/" : "");
    if (n < 0 || (size_t)n >= size - len) {
      return 0;
    }
    len += (size_t)n;
  }
  return 1;
}

// Mesh files are named relative to the scene file's directory: rename those of the document of
// src relative to the directory of the written scene `path` (nothing changes when the two are the
// same directory, or for absolute names).
static dpStatus rebase_meshes(dpYNode *root, const char *src, const char *path, dpError *err) {
  static const char *const sections[] = {"softbodies", "shells"};
  char sdir[PATH_MAX], odir[PATH_MAX], rs[PATH_MAX], ro[PATH_MAX];
  int resolved = 0;
  for (size_t k = 0; k < 2; k++) {
    dpYNode *sec = dp_yaml_get(root, sections[k], NULL);
    for (size_t i = 0; sec != NULL && sec->kind == DP_Y_MAP && i < sec->n; i++) {
      dpYNode *item = sec->items[i];
      dpYNode *mesh = item->kind == DP_Y_MAP ? dp_yaml_get(item, "mesh", NULL) : NULL;
      const dpYNode *file =
          mesh != NULL && mesh->kind == DP_Y_MAP ? dp_yaml_get(mesh, "file", NULL) : NULL;
      if (file == NULL || file->kind != DP_Y_SCALAR || file->text[0] == '/' ||
          file->text[0] == '\0') {
        continue;
      }
      if (!resolved) {
        dir_of(src, sdir, sizeof sdir);
        dir_of(path, odir, sizeof odir);
        if (realpath(sdir, rs) == NULL) {
          return dp_error_set(err, DP_ERR_IO, src, 0, 0, "cannot read '%s': %s", src,
                              strerror(errno));
        }
        if (realpath(odir, ro) == NULL) {
          return dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot write '%s': %s", path,
                              strerror(errno));
        }
        resolved = 1;
      }
      if (strcmp(rs, ro) == 0) {
        return DP_OK;
      }
      char full[2 * PATH_MAX], canon[PATH_MAX], rel[PATH_MAX];
      snprintf(full, sizeof full, "%s/%s", rs, file->text);
      if (realpath(full, canon) == NULL) {
        return dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot write '%s': mesh '%s': %s", path,
                            full, strerror(errno));
      }
      if (!relative_path(ro, canon, rel, sizeof rel)) {
        return dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                            "cannot write '%s': the path of mesh '%s' is too long", path, canon);
      }
      if (!put_node(mesh, "file", dp_yaml_new_scalar(rel, 1))) {
        return dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
      }
    }
  }
  return DP_OK;
}

// ---- comparing models ---------------------------------------------------------------------------

static int same_bits(const void *a, const void *b, size_t n) {
  return n == 0 || memcmp(a, b, n) == 0;
}

static int same_names(dpName *a, dpName *b, int n) {
  for (int i = 0; i < n; i++) {
    if (strcmp(a[i], b[i]) != 0) {
      return 0;
    }
  }
  return 1;
}

// Describe in what the first difference between models a and b other than θ's values; 0 when
// they agree.
static int differ(const dpModel *a, const dpModel *b, char *what, size_t size) {
  if (strcmp(a->name, b->name) != 0) {
    snprintf(what, size, "the name '%s' is not '%s'", a->name, b->name);
    return 1;
  }
  if (!same_bits(&a->dt, &b->dt, sizeof a->dt) || a->steps != b->steps ||
      a->substeps != b->substeps || a->integrator != b->integrator ||
      !same_bits(&a->divergence_limit, &b->divergence_limit, sizeof(double))) {
    snprintf(what, size, "dt, steps, substeps, integrator or divergence_limit differ");
    return 1;
  }
  if (a->np != b->np || a->ns != b->ns || a->nc != b->nc || a->nu != b->nu) {
    snprintf(what, size, "%d particles, %d springs, %d colliders, %d controls instead of %d, %d, "
             "%d, %d", a->np, a->ns, a->nc, a->nu, b->np, b->ns, b->nc, b->nu);
    return 1;
  }
  if (!same_names(a->pname, b->pname, a->np) || !same_bits(a->pinned, b->pinned, (size_t)a->np) ||
      !same_names(a->sname, b->sname, a->ns) ||
      !same_bits(a->sa, b->sa, (size_t)a->ns * sizeof *a->sa) ||
      !same_bits(a->sb, b->sb, (size_t)a->ns * sizeof *a->sb) ||
      !same_names(a->cname, b->cname, a->nc) ||
      !same_bits(a->ctype, b->ctype, (size_t)a->nc * sizeof *a->ctype) ||
      !same_bits(a->uparticle, b->uparticle, (size_t)a->nu * sizeof *a->uparticle)) {
    snprintf(what, size, "names, pins or connections differ");
    return 1;
  }
  if (a->nb != b->nb || a->nsh != b->nsh || a->na != b->na || a->nq != b->nq ||
      a->nv != b->nv || a->npair != b->npair) {
    snprintf(what, size, "%d bodies, %d shapes, %d actuators, %d contact pairs instead of %d, "
             "%d, %d, %d", a->nb, a->nsh, a->na, a->npair, b->nb, b->nsh, b->na, b->npair);
    return 1;
  }
  size_t nb = (size_t)a->nb, nsh = (size_t)a->nsh, na = (size_t)a->na;
  if (!same_names(a->bname, b->bname, a->nb) ||
      !same_bits(a->bparent, b->bparent, nb * sizeof *a->bparent) ||
      !same_bits(a->bjoint, b->bjoint, nb * sizeof *a->bjoint) ||
      !same_bits(a->blimited, b->blimited, nb) || !same_names(a->shname, b->shname, a->nsh) ||
      !same_bits(a->shtype, b->shtype, nsh * sizeof *a->shtype) ||
      !same_bits(a->shbody, b->shbody, nsh * sizeof *a->shbody) ||
      !same_bits(a->shquat, b->shquat, 4 * nsh * sizeof *a->shquat) ||
      !same_bits(a->shcontact, b->shcontact, nsh) || !same_names(a->aname, b->aname, a->na) ||
      !same_bits(a->atype, b->atype, na * sizeof *a->atype) ||
      !same_bits(a->abody, b->abody, na * sizeof *a->abody) ||
      !same_bits(a->alimited, b->alimited, na) ||
      !same_bits(a->arange, b->arange, 3 * na * sizeof *a->arange) ||
      !same_bits(a->pair, b->pair, 2 * (size_t)a->npair * sizeof *a->pair)) {
    snprintf(what, size, "bodies, shapes, actuators, joints or contact pairs differ");
    return 1;
  }
  if (a->nsoft != b->nsoft || a->nvert != b->nvert || a->ntet != b->ntet || a->ntri != b->ntri ||
      a->nhinge != b->nhinge || a->npin != b->npin || a->nmat != b->nmat) {
    snprintf(what, size, "%d soft bodies and shells, %d vertices, %d pinned instead of %d, %d, %d",
             a->nsoft, a->nvert, a->npin, b->nsoft, b->nvert, b->npin);
    return 1;
  }
  size_t ns = (size_t)a->nsoft, isz = sizeof(int);
  if (a->nsoft > 0 &&
      (!same_names(a->softname, b->softname, a->nsoft) ||
       !same_bits(a->soft_shell, b->soft_shell, ns) ||
       !same_bits(a->soft_material, b->soft_material, ns * sizeof *a->soft_material) ||
       !same_bits(a->soft_perelem, b->soft_perelem, ns) ||
       !same_bits(a->soft_nv, b->soft_nv, ns * isz) ||
       !same_bits(a->soft_ne, b->soft_ne, ns * isz) ||
       !same_bits(a->soft_nh, b->soft_nh, ns * isz) ||
       !same_bits(a->soft_npin, b->soft_npin, ns * isz) ||
       !same_bits(a->tet, b->tet, 4 * (size_t)a->ntet * isz) ||
       !same_bits(a->tri, b->tri, 3 * (size_t)a->ntri * isz) ||
       !same_bits(a->hinge, b->hinge, 4 * (size_t)a->nhinge * isz) ||
       !same_bits(a->pin, b->pin, (size_t)a->npin * isz))) {
    snprintf(what, size,
             "soft bodies or shells differ (names, kinds, materials, elements or pins)");
    return 1;
  }
  if (!same_bits(&a->newton_tol, &b->newton_tol, sizeof(double)) ||
      a->newton_max_iter != b->newton_max_iter ||
      !same_bits(&a->cg_tol, &b->cg_tol, sizeof(double)) || a->cg_max_iter != b->cg_max_iter) {
    snprintf(what, size, "the solver settings differ");
    return 1;
  }
  if (a->ntheta != b->ntheta || a->nparam != b->nparam) {
    snprintf(what, size, "%zu parameters instead of %zu", a->ntheta, b->ntheta);
    return 1;
  }
  for (size_t i = 0; i < a->nparam; i++) {
    const dpParam *p = &a->param[i], *q = &b->param[i];
    if (strcmp(p->path, q->path) != 0 || p->offset != q->offset || p->len != q->len) {
      snprintf(what, size, "parameter '%.100s' instead of '%.100s'", p->path, q->path);
      return 1;
    }
  }
  if (a->nspec != b->nspec) {
    snprintf(what, size, "%zu 'parameters' entries instead of %zu", a->nspec, b->nspec);
    return 1;
  }
  for (size_t i = 0; i < a->nspec; i++) {
    const dpParamSpec *p = &a->spec[i], *q = &b->spec[i];
    if (strcmp(p->path, q->path) != 0 || !same_bits(&p->lower, &q->lower, sizeof(double)) ||
        !same_bits(&p->upper, &q->upper, sizeof(double)) || p->log_scale != q->log_scale) {
      snprintf(what, size, "'parameters' entry %zu ('%.100s') differs", i, p->path);
      return 1;
    }
  }
  return 0;
}

static int entry_differs(const dpParam *p, const double *x, const double *y) {
  return !same_bits(x + p->offset, y + p->offset, p->len * sizeof *x);
}

// Every component of a changed entry must be one the loader accepts.
static dpStatus check_value(const dpParam *p, const double *theta, const char *path,
                            dpError *err) {
  for (size_t c = 0; c < p->len; c++) {
    double lo, hi;
    int lo_open;
    int hi_open;
    dp_scene_param_range(p, c, &lo, &lo_open, &hi, &hi_open);
    double x = theta[p->offset + c];
    if (!isfinite(x)) {
      return dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                          "cannot write '%s': '%s' is not finite (component %zu is %g)", path,
                          p->path, c, x);
    }
    if ((lo_open ? !(x > lo) : !(x >= lo)) || (hi_open ? !(x < hi) : x > hi)) {
      return dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                          "cannot write '%s': '%s' is %g, outside its range (%s %g, %s %g)", path,
                          p->path, x, lo_open ? ">" : ">=", lo, hi_open ? "<" : "<=", hi);
    }
  }
  return DP_OK;
}

static int matches_any(const dpModel *m, const char *pattern) {
  for (size_t i = 0; i < m->nparam; i++) {
    if (dp_path_match(pattern, m->param[i].path)) {
      return 1;
    }
  }
  return 0;
}

// ---- the writer ---------------------------------------------------------------------------------

dpStatus dp_scene_write(const char *src, const char *const *sets, int nsets, const dpModel *m,
                        const double *theta, const char *header, const char *path,
                        dpError *err) {
  char *src_text = NULL, *text = NULL;
  size_t src_len = 0, len = 0;
  dpSceneDoc doc;
  memset(&doc, 0, sizeof doc);
  dpModel *full = NULL, *base = NULL, *got = NULL;
  dpYNode *work = NULL;
  unsigned char *state = NULL, *covered = NULL;
  dpAtomicFile af;
  memset(&af, 0, sizeof af);
  char what[256];
  dpStatus st;
  if (src == NULL || m == NULL || theta == NULL || path == NULL || m->theta0 == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                        "dp_scene_write needs a source scene, a compiled model, θ and a path");
  }
  // The scene as the loader compiles it with the overrides: it must be the model's.
  if ((st = dp_scene_read(src, &src_text, &src_len, err)) != DP_OK ||
      (st = dp_scene_parse(src_text, src_len, src, sets, nsets, &full, err)) != DP_OK) {
    goto done;
  }
  if (differ(full, m, what, sizeof what)) {
    st = dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                      "cannot write '%s': '%s' with these overrides is not the scene of the "
                      "model (%s)",
                      path, src, what);
    goto done;
  }
  if ((st = dp_scene_doc(src_text, src_len, src, sets, nsets, &doc, err)) != DP_OK ||
      (st = keep_name(doc.root, m->name, path, err)) != DP_OK ||
      (st = rebase_meshes(doc.root, src, path, err)) != DP_OK) {
    goto done;
  }
  // The --set overrides the loader gave to θ go under `overrides:`, after the scene's own (the
  // loader's order), as they were given: "springs.*.stiffness=100" stays one line.
  for (int i = 0; i < doc.nsets; i++) {
    const dpSceneSet *s = &doc.sets[i];
    if (dp_scene_set_theta(s) && matches_any(m, s->path) &&
        (st = put_override(doc.root, s->path, dp_yaml_copy(s->value, NULL), path, err)) !=
            DP_OK) {
      goto done;
    }
  }
  // The document alone now gives what the file and the overrides give; theta's changes are
  // written against it.
  if ((st = compile(doc.root, NULL, path, path, &text, &len, &base, err)) != DP_OK) {
    goto done;
  }
  if (differ(base, full, what, sizeof what) ||
      !same_bits(base->theta0, full->theta0, m->ntheta * sizeof *theta)) {
    st = dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                      "cannot write '%s': the --set overrides do not carry over into the scene",
                      path);
    goto done;
  }
  // θ components outside every entry (the anchor slots of springs between two particles) have
  // no place in a scene.
  state = dp_calloc(m->nparam > 0 ? m->nparam : 1, 1);
  covered = dp_calloc(m->ntheta > 0 ? m->ntheta : 1, 1);
  if (state == NULL || covered == NULL) {
    st = dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < m->nparam; i++) {
    memset(covered + m->param[i].offset, 1, m->param[i].len);
  }
  for (size_t i = 0; i < m->ntheta; i++) {
    if (!covered[i] && !same_bits(&theta[i], &base->theta0[i], sizeof *theta)) {
      st = dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                        "cannot write '%s': θ[%zu] = %g belongs to no parameter and differs from "
                        "the scene's %g",
                        path, i, theta[i], base->theta0[i]);
      goto done;
    }
  }
  for (size_t i = 0; i < m->nparam; i++) {
    const dpParam *p = &m->param[i];
    if (entry_differs(p, theta, base->theta0)) {
      if ((st = check_value(p, theta, path, err)) != DP_OK) {
        goto done;
      }
      state[i] = IN_PLACE;
    }
  }
  for (int pass = 0;; pass++) {
    dp_free(text);
    text = NULL;
    dp_model_free(got);
    got = NULL;
    dp_yaml_free(work);
    if ((work = dp_yaml_copy(doc.root, NULL)) == NULL) {
      st = dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
      goto done;
    }
    raise_mass_groups(m, state);
    for (size_t i = 0; i < m->nparam; i++) {
      int placed = 0;
      if (state[i] == IN_PLACE) {
        if ((st = put_in_place(work, m, &m->param[i], theta, path, &placed, err)) != DP_OK) {
          goto done;
        }
        state[i] = placed ? IN_PLACE : OVERRIDE;
      }
    }
    if ((st = put_overrides(work, m, state, theta, path, err)) != DP_OK ||
        (st = compile(work, header, path, path, &text, &len, &got, err)) != DP_OK) {
      goto done;
    }
    if (differ(got, m, what, sizeof what)) {
      st = dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                        "cannot write '%s': the scene written is not the model's (%s)", path,
                        what);
      goto done;
    }
    int mismatch = 0;
    for (size_t i = 0; i < m->nparam; i++) {
      if (!entry_differs(&m->param[i], theta, got->theta0)) {
        continue;
      }
      // `overrides:` is applied last, so an entry there that does not read back never will.
      if (state[i] == OVERRIDE || pass + 1 == MAX_PASSES) {
        st = dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                          "cannot write '%s': '%s' does not read back as the value written",
                          path, m->param[i].path);
        goto done;
      }
      state[i]++;
      mismatch = 1;
    }
    if (!mismatch) {
      break;
    }
  }
  if (!same_bits(theta, got->theta0, m->ntheta * sizeof *theta)) {
    st = dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                      "cannot write '%s': the scene written does not reproduce θ", path);
    goto done;
  }
  if ((st = dp_atomic_open(&af, path, err)) != DP_OK) {
    goto done;
  }
  if (len > 0 && fwrite(text, 1, len, af.f) != len) {
    st = dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot write '%s'", path);
    goto done;
  }
  st = dp_atomic_commit(&af, err);
done:
  dp_atomic_abort(&af);
  dp_free(src_text);
  dp_free(text);
  dp_free(state);
  dp_free(covered);
  dp_yaml_free(work);
  dp_model_free(full);
  dp_model_free(base);
  dp_model_free(got);
  dp_scene_doc_free(&doc);
  return st;
}
