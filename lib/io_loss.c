// JSON loss files (schemas/loss.schema.json, cJSON): parsing, validation and binding of every
// term to the model's entities (particle, body and soft-body names, θ paths, observed
// trajectory files). cJSON keeps no positions, so errors are placed by re-scanning the text
// along the offending key's path.
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core_text.h"
#include "loss.h"

// ------------------------------------------------------------------------------------------
// cJSON allocations go through the library's allocator hook; a failed one is remembered so a
// NULL parse result can be told apart from a syntax error.

static _Thread_local int t_cjson_oom;

static void *cjson_alloc(size_t n) {
  void *p = dp_malloc(n);
  if (p == NULL) {
    t_cjson_oom = 1;
  }
  return p;
}

static void cjson_free(void *p) {
  dp_free(p);
}

static void cjson_use_dp_allocator(void) {
  cJSON_Hooks hooks = {cjson_alloc, cjson_free};
  cJSON_InitHooks(&hooks);
  t_cjson_oom = 0;
}

// ------------------------------------------------------------------------------------------
// Locator: the byte offset of the value (or key) at a path such as terms[2].weight, found by
// walking the JSON text. The text has already been parsed, so the scanner can be lenient;
// when an element is not found it returns the offset of the innermost container it reached.

typedef struct PathElem {
  const char *key;  // object member, or NULL for an array element
  int index;        // array element (key == NULL), or which occurrence of a repeated key
} PathElem;

static size_t skip_ws(const char *s, size_t i) {
  while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
    i++;
  }
  return i;
}

static size_t skip_string(const char *s, size_t i) {
  i++;
  while (s[i] != '\0' && s[i] != '"') {
    if (s[i] == '\\' && s[i + 1] != '\0') {
      i++;
    }
    i++;
  }
  return s[i] != '\0' ? i + 1 : i;
}

static size_t skip_value(const char *s, size_t i) {
  if (s[i] == '"') {
    return skip_string(s, i);
  }
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (s[i] != '\0') {
      if (s[i] == '"') {
        i = skip_string(s, i);
        continue;
      }
      if (s[i] == '{' || s[i] == '[') {
        depth++;
      } else if (s[i] == '}' || s[i] == ']') {
        if (--depth == 0) {
          return i + 1;
        }
      }
      i++;
    }
    return i;
  }
  while (s[i] != '\0' && strchr(",}] \t\r\n", s[i]) == NULL) {
    i++;
  }
  return i;
}

// 1 when the string literal at s[i] (raw, escapes not decoded) equals key.
static int key_equals(const char *s, size_t i, const char *key) {
  size_t n = strlen(key);
  return strncmp(s + i + 1, key, n) == 0 && s[i + 1 + n] == '"';
}

static size_t json_locate(const char *s, const PathElem *path, int n, int at_key) {
  size_t i = skip_ws(s, 0);
  for (int k = 0; k < n; k++) {
    size_t found = SIZE_MAX;
    if (path[k].key != NULL && s[i] == '{') {
      size_t j = skip_ws(s, i + 1);
      int occurrence = 0;
      while (s[j] == '"') {
        size_t kpos = j;
        int match = key_equals(s, j, path[k].key);
        j = skip_ws(s, skip_string(s, j));
        if (s[j] != ':') {
          break;
        }
        j = skip_ws(s, j + 1);
        if (match && occurrence++ == path[k].index) {
          found = at_key && k == n - 1 ? kpos : j;
          break;
        }
        j = skip_ws(s, skip_value(s, j));
        if (s[j] != ',') {
          break;
        }
        j = skip_ws(s, j + 1);
      }
    } else if (path[k].key == NULL && s[i] == '[') {
      size_t j = skip_ws(s, i + 1);
      for (int idx = 0; s[j] != '\0' && s[j] != ']'; idx++) {
        if (idx == path[k].index) {
          found = j;
          break;
        }
        j = skip_ws(s, skip_value(s, j));
        if (s[j] != ',') {
          break;
        }
        j = skip_ws(s, j + 1);
      }
    }
    if (found == SIZE_MAX) {
      return i;
    }
    i = found;
  }
  return i;
}

// 1-based line and column (in characters: UTF-8 continuation bytes do not count) of offset.
static void offset_linecol(const char *s, size_t off, int *line, int *col) {
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < off && s[i] != '\0'; i++) {
    if (s[i] == '\n') {
      (*line)++;
      *col = 1;
    } else if (((unsigned char)s[i] & 0xC0) != 0x80) {
      (*col)++;
    }
  }
}

// ------------------------------------------------------------------------------------------
// Suggestions: the nearest key by dp_edit_distance (core_text.c).

#define SUGGEST_LEN 64

// Running best candidate for "did you mean": close enough to be a plausible typo.
typedef struct Suggest {
  const char *word;
  const char *best;
  int dist;
} Suggest;

static void suggest_add(Suggest *sg, const char *cand) {
  int d = dp_edit_distance(sg->word, cand);
  int len = (int)strlen(sg->word);
  int limit = len / 3 > 2 ? len / 3 : 2;
  if (d <= limit && d < len && (sg->best == NULL || d < sg->dist)) {
    sg->best = cand;
    sg->dist = d;
  }
}

// " (did you mean 'x'?)" or "" into buf.
static const char *suggest_text(char *buf, size_t n, const char *best) {
  if (best == NULL) {
    buf[0] = '\0';
  } else {
    snprintf(buf, n, " (did you mean '%s'?)", best);
  }
  return buf;
}

// ------------------------------------------------------------------------------------------
// Binding context and errors.

#define PATH_DEPTH 6

typedef struct Ctx {
  const char *text;  // the JSON text
  const char *name;  // the loss file (for messages)
  const char *base;  // directory that relative trajectory files are read from; NULL: cwd
  const dpModel *m;
  dpError *err;
  int term;          // 0-based index of the term being bound, -1 outside the terms
  PathElem path[PATH_DEPTH];
  int depth;
  int occurrence;    // for the next error: which occurrence of its key is meant (duplicates)
} Ctx;

// Fill err at the location of the current path extended by key (if non-NULL) and array element
// index (if ≥ 0); at_key: point at the key itself rather than its value. Messages inside a term
// start with "term N: " (N 1-based, as a person counts).
static dpStatus fail_at(Ctx *c, const char *key, int index, int at_key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static dpStatus fail_at(Ctx *c, const char *key, int index, int at_key, const char *fmt, ...) {
  PathElem p[PATH_DEPTH + 2];
  int n = c->depth;
  memcpy(p, c->path, (size_t)n * sizeof p[0]);
  if (key != NULL) {
    p[n++] = (PathElem){key, c->occurrence};
  }
  if (index >= 0) {
    p[n++] = (PathElem){NULL, index};
  }
  int line, col;
  offset_linecol(c->text, json_locate(c->text, p, n, at_key && index < 0), &line, &col);
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  int fresh = c->err != NULL && c->err->code == DP_OK;
  if (c->term >= 0) {
    dp_error_set(c->err, DP_ERR_INVALID, c->name, line, col, "term %d: %s", c->term + 1, msg);
  } else {
    dp_error_set(c->err, DP_ERR_INVALID, c->name, line, col, "%s", msg);
  }
  if (fresh) {
    const char *k = key;
    for (int i = c->depth - 1; k == NULL && i >= 0; i--) {
      k = c->path[i].key;
    }
    snprintf(c->err->key, sizeof c->err->key, "%s", k != NULL ? k : "");
  }
  return DP_ERR_INVALID;
}

static dpStatus nomem(Ctx *c) {
  return dp_error_set(c->err, DP_ERR_NOMEM, c->name, 0, 0, "out of memory while reading the loss");
}

static const char *json_type(const cJSON *v) {
  if (cJSON_IsString(v)) {
    return "string";
  }
  if (cJSON_IsNumber(v)) {
    return "number";
  }
  if (cJSON_IsBool(v)) {
    return "boolean";
  }
  if (cJSON_IsNull(v)) {
    return "null";
  }
  if (cJSON_IsArray(v)) {
    return "array";
  }
  return "object";
}

static const cJSON *member(const cJSON *obj, const char *key) {
  return cJSON_GetObjectItemCaseSensitive(obj, key);
}

// ------------------------------------------------------------------------------------------
// Typed getters. key/index name the value for messages and locations.

static dpStatus get_number(Ctx *c, const cJSON *v, const char *key, int index, double *out) {
  if (!cJSON_IsNumber(v)) {
    if (index >= 0) {
      return fail_at(c, key, index, 0, "'%s' must contain numbers only (item %d is a %s)", key,
                     index + 1, json_type(v));
    }
    return fail_at(c, key, index, 0, "'%s' must be a number (got %s)", key, json_type(v));
  }
  if (!isfinite(v->valuedouble)) {
    return fail_at(c, key, index, 0, "'%s' must be finite (got %g)", key, v->valuedouble);
  }
  *out = v->valuedouble;
  return DP_OK;
}

// An integer-valued number in [lo, hi].
static dpStatus get_int(Ctx *c, const cJSON *v, const char *key, int index, long lo, long hi,
                        long *out) {
  double x;
  dpStatus st = get_number(c, v, key, index, &x);
  if (st != DP_OK) {
    return st;
  }
  if (x != floor(x)) {
    return fail_at(c, key, index, 0, "'%s' must be an integer (got %g)", key, x);
  }
  if (x < (double)lo || x > (double)hi) {
    return fail_at(c, key, index, 0, "'%s' must be in %ld..%ld (got %g)", key, lo, hi, x);
  }
  *out = (long)x;
  return DP_OK;
}

// A step: "end" (= T), an integer 0..T, or a negative integer counting from the end (-1 = T).
static dpStatus get_step(Ctx *c, const cJSON *v, const char *key, int index, int *out) {
  int T = c->m->steps;
  if (cJSON_IsString(v)) {
    if (strcmp(v->valuestring, "end") == 0) {
      *out = T;
      return DP_OK;
    }
    return fail_at(c, key, index, 0, "'%s' must be an integer or \"end\" (got '%s')", key,
                   v->valuestring);
  }
  if (!cJSON_IsNumber(v)) {
    return fail_at(c, key, index, 0, "'%s' must be an integer or \"end\" (got %s)", key,
                   json_type(v));
  }
  double x = v->valuedouble;
  if (!isfinite(x) || x != floor(x)) {
    return fail_at(c, key, index, 0, "'%s' must be an integer or \"end\" (got %g)", key, x);
  }
  double t = x < 0 ? x + T + 1 : x;
  if (t < 0 || t > T) {
    return fail_at(c, key, index, 0,
                   "step %g is out of range (the scene has %d steps: 0..%d, or -%d..-1 from the "
                   "end)",
                   x, T, T, T + 1);
  }
  *out = (int)t;
  return DP_OK;
}

static int find_particle(const dpModel *m, const char *name) {
  for (int i = 0; i < m->np; i++) {
    if (strcmp(m->pname[i], name) == 0) {
      return i;
    }
  }
  return -1;
}

// A scene particle by name, with a suggestion when there is none.
static dpStatus resolve_particle(Ctx *c, const cJSON *v, const char *key, int index, int *out) {
  if (!cJSON_IsString(v)) {
    return fail_at(c, key, index, 0, "'%s' must name a particle (got %s)", key, json_type(v));
  }
  int i = find_particle(c->m, v->valuestring);
  if (i < 0) {
    Suggest sg = {v->valuestring, NULL, 0};
    for (int k = 0; k < c->m->np; k++) {
      suggest_add(&sg, c->m->pname[k]);
    }
    char sug[DP_NAME_MAX + 32];
    return fail_at(c, key, index, 0, "unknown particle '%s'%s", v->valuestring,
                   suggest_text(sug, sizeof sug, sg.best));
  }
  *out = i;
  return DP_OK;
}

// A particle set: a list of names, or one fnmatch pattern string ("sheet_*") matched against
// every particle name. Returns a new array of indices in *idx (n entries).
static dpStatus get_particles(Ctx *c, const cJSON *v, const char *key, int **idx, int *n) {
  const dpModel *m = c->m;
  *idx = NULL;
  *n = 0;
  if (cJSON_IsString(v)) {
    const char *pat = v->valuestring;
    if (strpbrk(pat, "*?[") == NULL) {
      int i;
      dpStatus st = resolve_particle(c, v, key, -1, &i);
      if (st != DP_OK) {
        return st;
      }
      if ((*idx = dp_malloc(sizeof(int))) == NULL) {
        return nomem(c);
      }
      (*idx)[0] = i;
      *n = 1;
      return DP_OK;
    }
    if ((*idx = dp_malloc((size_t)(m->np > 0 ? m->np : 1) * sizeof(int))) == NULL) {
      return nomem(c);
    }
    for (int i = 0; i < m->np; i++) {
      if (fnmatch(pat, m->pname[i], 0) == 0) {
        (*idx)[(*n)++] = i;
      }
    }
    if (*n == 0) {
      return fail_at(c, key, -1, 0, "pattern '%s' matches no particle", pat);
    }
    return DP_OK;
  }
  if (!cJSON_IsArray(v)) {
    return fail_at(c, key, -1, 0, "'%s' must be a list of particle names or a pattern (got %s)",
                   key, json_type(v));
  }
  int len = cJSON_GetArraySize(v);
  if (len == 0) {
    return fail_at(c, key, -1, 0, "'%s' must name at least one particle", key);
  }
  if ((*idx = dp_malloc((size_t)len * sizeof(int))) == NULL) {
    return nomem(c);
  }
  int k = 0;
  for (const cJSON *e = v->child; e != NULL; e = e->next, k++) {
    int i;
    dpStatus st = resolve_particle(c, e, key, k, &i);
    if (st != DP_OK) {
      return st;
    }
    for (int j = 0; j < k; j++) {
      if ((*idx)[j] == i) {
        return fail_at(c, key, k, 0, "particle '%s' is listed twice", m->pname[i]);
      }
    }
    (*idx)[k] = i;
  }
  *n = len;
  return DP_OK;
}

// A scene body by name, with a suggestion when there is none.
static dpStatus resolve_body(Ctx *c, const cJSON *v, const char *key, int index, int *out) {
  if (!cJSON_IsString(v)) {
    return fail_at(c, key, index, 0, "'%s' must name a body (got %s)", key, json_type(v));
  }
  int i = dp_model_find_body(c->m, v->valuestring);
  if (i < 0) {
    Suggest sg = {v->valuestring, NULL, 0};
    for (int k = 0; k < c->m->nb; k++) {
      suggest_add(&sg, c->m->bname[k]);
    }
    char sug[DP_NAME_MAX + 32];
    if (c->m->nb == 0) {
      return fail_at(c, key, index, 0, "unknown body '%s' (the scene has no bodies)",
                     v->valuestring);
    }
    return fail_at(c, key, index, 0, "unknown body '%s'%s", v->valuestring,
                   suggest_text(sug, sizeof sug, sg.best));
  }
  *out = i;
  return DP_OK;
}

// A body set: a list of names, or one fnmatch pattern string ("leg_*"), as for particles.
static dpStatus get_bodies(Ctx *c, const cJSON *v, const char *key, int **idx, int *n) {
  const dpModel *m = c->m;
  *idx = NULL;
  *n = 0;
  if (cJSON_IsString(v) && strpbrk(v->valuestring, "*?[") != NULL) {
    if ((*idx = dp_malloc((size_t)(m->nb > 0 ? m->nb : 1) * sizeof(int))) == NULL) {
      return nomem(c);
    }
    for (int i = 0; i < m->nb; i++) {
      if (fnmatch(v->valuestring, m->bname[i], 0) == 0) {
        (*idx)[(*n)++] = i;
      }
    }
    if (*n == 0) {
      return fail_at(c, key, -1, 0, "pattern '%s' matches no body", v->valuestring);
    }
    return DP_OK;
  }
  if (cJSON_IsString(v)) {
    int i;
    dpStatus st = resolve_body(c, v, key, -1, &i);
    if (st != DP_OK) {
      return st;
    }
    if ((*idx = dp_malloc(sizeof(int))) == NULL) {
      return nomem(c);
    }
    (*idx)[0] = i;
    *n = 1;
    return DP_OK;
  }
  if (!cJSON_IsArray(v)) {
    return fail_at(c, key, -1, 0, "'%s' must be a list of body names or a pattern (got %s)", key,
                   json_type(v));
  }
  int len = cJSON_GetArraySize(v);
  if (len == 0) {
    return fail_at(c, key, -1, 0, "'%s' must name at least one body", key);
  }
  if ((*idx = dp_malloc((size_t)len * sizeof(int))) == NULL) {
    return nomem(c);
  }
  int k = 0;
  for (const cJSON *e = v->child; e != NULL; e = e->next, k++) {
    int i;
    dpStatus st = resolve_body(c, e, key, k, &i);
    if (st != DP_OK) {
      return st;
    }
    for (int j = 0; j < k; j++) {
      if ((*idx)[j] == i) {
        return fail_at(c, key, k, 0, "body '%s' is listed twice", m->bname[i]);
      }
    }
    (*idx)[k] = i;
  }
  *n = len;
  return DP_OK;
}

// A soft body or shell by name, with a suggestion when there is none. shell: the kind the caller
// needs (0 solid, 1 shell) or -1 for either; a name of the other kind says which it is.
static dpStatus resolve_soft(Ctx *c, const char *name, const char *key, int shell, int *out) {
  const dpModel *m = c->m;
  int i = dp_model_find_soft(m, name);
  if (i < 0) {
    Suggest sg = {name, NULL, 0};
    for (int k = 0; k < m->nsoft; k++) {
      if (shell < 0 || m->soft_shell[k] == shell) {
        suggest_add(&sg, m->softname[k]);
      }
    }
    const char *what = shell < 0 ? "soft body or shell" : shell ? "shell" : "soft body";
    if (m->nsoft == 0) {
      return fail_at(c, key, -1, 0, "unknown %s '%s' (the scene has no soft bodies or shells)",
                     what, name);
    }
    char sug[DP_NAME_MAX + 32];
    return fail_at(c, key, -1, 0, "unknown %s '%s'%s", what, name,
                   suggest_text(sug, sizeof sug, sg.best));
  }
  if (shell >= 0 && m->soft_shell[i] != shell) {
    return fail_at(c, key, -1, 0, "'%s' is a %s, not a %s (its arrays are under '%s/')", name,
                   m->soft_shell[i] ? "shell" : "soft body", shell ? "shell" : "soft body",
                   m->soft_shell[i] ? "shells" : "softbodies");
  }
  *out = i;
  return DP_OK;
}

// target: exactly 3 finite numbers (m or m/s).
static dpStatus get_vec3(Ctx *c, const cJSON *v, const char *key, double out[3]) {
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3) {
    if (cJSON_IsArray(v)) {
      return fail_at(c, key, -1, 0, "'%s' must be a list of 3 numbers (got %d)", key,
                     cJSON_GetArraySize(v));
    }
    return fail_at(c, key, -1, 0, "'%s' must be a list of 3 numbers (got %s)", key,
                   json_type(v));
  }
  int k = 0;
  for (const cJSON *e = v->child; e != NULL; e = e->next, k++) {
    dpStatus st = get_number(c, e, key, k, &out[k]);
    if (st != DP_OK) {
      return st;
    }
  }
  return DP_OK;
}

// components: a non-empty list of distinct coordinates 0 (x), 1 (y), 2 (z); default all.
static dpStatus get_components(Ctx *c, const cJSON *v, int mask[3]) {
  mask[0] = mask[1] = mask[2] = 1;
  if (v == NULL) {
    return DP_OK;
  }
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
    return fail_at(c, "components", -1, 0,
                   "'components' must be a non-empty list of coordinates 0, 1, 2");
  }
  mask[0] = mask[1] = mask[2] = 0;
  int k = 0;
  for (const cJSON *e = v->child; e != NULL; e = e->next, k++) {
    long comp;
    dpStatus st = get_int(c, e, "components", k, 0, 2, &comp);
    if (st != DP_OK) {
      return st;
    }
    if (mask[comp]) {
      return fail_at(c, "components", k, 0, "coordinate %ld is listed twice", comp);
    }
    mask[comp] = 1;
  }
  return DP_OK;
}

static dpStatus get_string(Ctx *c, const cJSON *v, const char *key, const char **out) {
  if (!cJSON_IsString(v)) {
    return fail_at(c, key, -1, 0, "'%s' must be a string (got %s)", key, json_type(v));
  }
  *out = v->valuestring;
  return DP_OK;
}

// Duplicate keys are an error (cJSON would keep both and use the first); the error points at
// the second one.
static dpStatus check_duplicate(Ctx *c, const cJSON *obj, const cJSON *e) {
  for (const cJSON *p = obj->child; p != e; p = p->next) {
    if (strcmp(p->string, e->string) == 0) {
      c->occurrence = 1;
      return fail_at(c, e->string, -1, 1, "duplicate key '%s'", e->string);
    }
  }
  return DP_OK;
}

// ------------------------------------------------------------------------------------------
// Term keys.

#define MAX_KEYS 10
static const char *const k_term_keys[DP_TERM_COUNT][MAX_KEYS] = {
    [DP_TERM_POSITION] = {"type", "description", "weight", "particle", "particles", "step",
                          "target", "components", NULL},
    [DP_TERM_VELOCITY] = {"type", "description", "weight", "particle", "particles", "step",
                          "target", "components", NULL},
    [DP_TERM_TRAJECTORY] = {"type", "description", "weight", "file", "field", "particles",
                            "bodies", "steps", "components", NULL},
    [DP_TERM_CONTROL_EFFORT] = {"type", "description", "weight", NULL},
    [DP_TERM_KINETIC_ENERGY] = {"type", "description", "weight", "step", "particles", NULL},
    [DP_TERM_PRIOR] = {"type", "description", "weight", "path", "value", NULL},
    [DP_TERM_BODY_POSITION] = {"type", "description", "weight", "body", "step", "target",
                               "components", NULL},
    [DP_TERM_JOINT] = {"type", "description", "weight", "body", "step", "target", NULL},
    [DP_TERM_JOINT_VELOCITY] = {"type", "description", "weight", "body", "step", "target", NULL},
    [DP_TERM_CENTROID] = {"type", "description", "weight", "soft", "step", "steps", "target",
                          "components", NULL},
};

static int key_allowed(dpTermType type, const char *key) {
  for (int k = 0; k < MAX_KEYS && k_term_keys[type][k] != NULL; k++) {
    if (strcmp(k_term_keys[type][k], key) == 0) {
      return 1;
    }
  }
  return 0;
}

static dpStatus check_term_keys(Ctx *c, const cJSON *obj, dpTermType type) {
  for (const cJSON *e = obj->child; e != NULL; e = e->next) {
    dpStatus st = check_duplicate(c, obj, e);
    if (st != DP_OK) {
      return st;
    }
    if (key_allowed(type, e->string)) {
      continue;
    }
    for (int t = 0; t < DP_TERM_COUNT; t++) {
      if (key_allowed((dpTermType)t, e->string)) {
        return fail_at(c, e->string, -1, 1, "key '%s' does not apply to a '%s' term", e->string,
                       dp_loss_type_name(type));
      }
    }
    Suggest sg = {e->string, NULL, 0};
    for (int k = 0; k < MAX_KEYS && k_term_keys[type][k] != NULL; k++) {
      suggest_add(&sg, k_term_keys[type][k]);
    }
    char sug[64];
    return fail_at(c, e->string, -1, 1, "unknown key '%s'%s", e->string,
                   suggest_text(sug, sizeof sug, sg.best));
  }
  return DP_OK;
}

// ------------------------------------------------------------------------------------------
// Terms.

// position / velocity: one of particle | particles, step (default end), target, components.
static dpStatus bind_point(Ctx *c, const cJSON *obj, dpTerm *tm) {
  const cJSON *one = member(obj, "particle"), *set = member(obj, "particles");
  dpStatus st;
  if (one != NULL && set != NULL) {
    return fail_at(c, "particles", -1, 1, "give either 'particle' or 'particles', not both");
  }
  if (one == NULL && set == NULL) {
    return fail_at(c, NULL, -1, 0, "missing 'particle' (or 'particles' for a centre of mass)");
  }
  if (one != NULL) {
    int i;
    if ((st = resolve_particle(c, one, "particle", -1, &i)) != DP_OK) {
      return st;
    }
    if ((tm->pidx = dp_malloc(sizeof(int))) == NULL) {
      return nomem(c);
    }
    tm->pidx[0] = i;
    tm->n = 1;
    tm->com = 0;
  } else {
    if ((st = get_particles(c, set, "particles", &tm->pidx, &tm->n)) != DP_OK) {
      return st;
    }
    tm->com = 1;
  }
  tm->step = c->m->steps;
  const cJSON *v = member(obj, "step");
  if (v != NULL && (st = get_step(c, v, "step", -1, &tm->step)) != DP_OK) {
    return st;
  }
  if ((v = member(obj, "target")) == NULL) {
    return fail_at(c, NULL, -1, 0, "missing 'target'");
  }
  if ((st = get_vec3(c, v, "target", tm->target)) != DP_OK) {
    return st;
  }
  return get_components(c, member(obj, "components"), tm->mask);
}

// body_position: body, step (default end), target (m), components.
static dpStatus bind_body_position(Ctx *c, const cJSON *obj, dpTerm *tm) {
  const cJSON *v = member(obj, "body");
  dpStatus st;
  if (v == NULL) {
    return fail_at(c, NULL, -1, 0, "missing 'body'");
  }
  if ((st = resolve_body(c, v, "body", -1, &tm->body)) != DP_OK) {
    return st;
  }
  tm->step = c->m->steps;
  if ((v = member(obj, "step")) != NULL && (st = get_step(c, v, "step", -1, &tm->step)) != DP_OK) {
    return st;
  }
  if ((v = member(obj, "target")) == NULL) {
    return fail_at(c, NULL, -1, 0, "missing 'target'");
  }
  if ((st = get_vec3(c, v, "target", tm->target)) != DP_OK) {
    return st;
  }
  return get_components(c, member(obj, "components"), tm->mask);
}

// joint / joint_velocity: body (not welded), step (default end), target: one number for every
// coordinate of the body's joint, or one per coordinate (dp_joint_nq, or dp_joint_nv).
static dpStatus bind_joint(Ctx *c, const cJSON *obj, dpTerm *tm) {
  const dpModel *m = c->m;
  const cJSON *v = member(obj, "body");
  int vel = tm->type == DP_TERM_JOINT_VELOCITY;
  dpStatus st;
  if (v == NULL) {
    return fail_at(c, NULL, -1, 0, "missing 'body'");
  }
  if ((st = resolve_body(c, v, "body", -1, &tm->body)) != DP_OK) {
    return st;
  }
  dpJointType jt = m->bjoint[tm->body];
  tm->adr = vel ? m->bvadr[tm->body] : m->bqadr[tm->body];
  tm->len = vel ? dp_joint_nv(jt) : dp_joint_nq(jt);
  if (tm->len == 0) {
    return fail_at(c, "body", -1, 0, "body '%s' has a fixed joint: it has no %s to compare",
                   m->bname[tm->body], vel ? "joint velocities" : "joint coordinates");
  }
  tm->step = m->steps;
  if ((v = member(obj, "step")) != NULL && (st = get_step(c, v, "step", -1, &tm->step)) != DP_OK) {
    return st;
  }
  if ((v = member(obj, "target")) == NULL) {
    return fail_at(c, NULL, -1, 0, "missing 'target'");
  }
  if ((tm->value = dp_malloc((size_t)tm->len * sizeof(double))) == NULL) {
    return nomem(c);
  }
  if (cJSON_IsArray(v)) {
    if (cJSON_GetArraySize(v) != tm->len) {
      return fail_at(c, "target", -1, 0,
                     "'target' must have %d number%s, one per %s of the %s joint of body '%s' "
                     "(got %d)",
                     tm->len, tm->len == 1 ? "" : "s", vel ? "velocity" : "coordinate",
                     dp_joint_type_name(jt), m->bname[tm->body], cJSON_GetArraySize(v));
    }
    int k = 0;
    for (const cJSON *e = v->child; e != NULL; e = e->next, k++) {
      if ((st = get_number(c, e, "target", k, &tm->value[k])) != DP_OK) {
        return st;
      }
    }
    return DP_OK;
  }
  if (!cJSON_IsNumber(v)) {
    return fail_at(c, "target", -1, 0, "'target' must be a number or a list of numbers (got %s)",
                   json_type(v));
  }
  double x;
  if ((st = get_number(c, v, "target", -1, &x)) != DP_OK) {
    return st;
  }
  for (int k = 0; k < tm->len; k++) {
    tm->value[k] = x;
  }
  return DP_OK;
}

// kinetic_energy: step (default end), particles (default every particle).
static dpStatus bind_kinetic(Ctx *c, const cJSON *obj, dpTerm *tm) {
  dpStatus st;
  tm->step = c->m->steps;
  const cJSON *v = member(obj, "step");
  if (v != NULL && (st = get_step(c, v, "step", -1, &tm->step)) != DP_OK) {
    return st;
  }
  if ((v = member(obj, "particles")) != NULL) {
    return get_particles(c, v, "particles", &tm->pidx, &tm->n);
  }
  int np = c->m->np;
  if ((tm->pidx = dp_malloc((size_t)(np > 0 ? np : 1) * sizeof(int))) == NULL) {
    return nomem(c);
  }
  for (int i = 0; i < np; i++) {
    tm->pidx[i] = i;
  }
  tm->n = np;
  return DP_OK;
}

// prior: path (a θ selection pattern), value (one number for all, or one per component).
static dpStatus bind_prior(Ctx *c, const cJSON *obj, dpTerm *tm) {
  const cJSON *vp = member(obj, "path"), *vv = member(obj, "value");
  const char *path = NULL;
  dpStatus st;
  if (vp == NULL) {
    return fail_at(c, NULL, -1, 0, "missing 'path'");
  }
  if ((st = get_string(c, vp, "path", &path)) != DP_OK) {
    return st;
  }
  if (vv == NULL) {
    return fail_at(c, NULL, -1, 0, "missing 'value'");
  }
  dpSelection sel;
  memset(&sel, 0, sizeof sel);
  dpError lerr;
  dp_error_clear(&lerr);
  st = dp_param_select(c->m, path, &sel, &lerr);
  if (st == DP_ERR_NOMEM) {
    dp_selection_free(&sel);
    return nomem(c);
  }
  if (st != DP_OK || sel.n == 0) {
    dp_selection_free(&sel);
    const char *best = dp_param_suggest(c->m, path);
    char sug[DP_PATH_MAX + 32];
    return fail_at(c, "path", -1, 0, "unknown parameter '%s'%s", path,
                   suggest_text(sug, sizeof sug, best));
  }
  tm->nsel = sel.n;
  tm->index = dp_malloc(sel.n * sizeof(size_t));
  tm->value = dp_malloc(sel.n * sizeof(double));
  if (tm->index == NULL || tm->value == NULL) {
    dp_selection_free(&sel);
    return nomem(c);
  }
  memcpy(tm->index, sel.index, sel.n * sizeof(size_t));
  dp_selection_free(&sel);
  if (cJSON_IsArray(vv)) {
    if ((size_t)cJSON_GetArraySize(vv) != tm->nsel) {
      return fail_at(c, "value", -1, 0,
                     "'value' must have %zu numbers, one per component of '%s' (got %d)",
                     tm->nsel, path, cJSON_GetArraySize(vv));
    }
    int k = 0;
    for (const cJSON *e = vv->child; e != NULL; e = e->next, k++) {
      if ((st = get_number(c, e, "value", k, &tm->value[k])) != DP_OK) {
        return st;
      }
    }
    return DP_OK;
  }
  double x;
  if (!cJSON_IsNumber(vv)) {
    return fail_at(c, "value", -1, 0, "'value' must be a number or a list of numbers (got %s)",
                   json_type(vv));
  }
  if ((st = get_number(c, vv, "value", -1, &x)) != DP_OK) {
    return st;
  }
  for (size_t k = 0; k < tm->nsel; k++) {
    tm->value[k] = x;
  }
  return DP_OK;
}

// Frame selection of a trajectory term. chosen (T+1) is set to 1 at each selected step;
// file_frame (T+1) is the file frame at each step or -1.
static dpStatus select_frames(Ctx *c, const cJSON *v, const char *file, const int *file_frame,
                              int *chosen) {
  int T = c->m->steps;
  if (v == NULL || (cJSON_IsString(v) && strcmp(v->valuestring, "all") == 0)) {
    for (int t = 0; t <= T; t++) {
      chosen[t] = file_frame[t] >= 0;
    }
    return DP_OK;
  }
  if (cJSON_IsArray(v)) {
    int k = 0;
    for (const cJSON *e = v->child; e != NULL; e = e->next, k++) {
      int t;
      dpStatus st = get_step(c, e, "steps", k, &t);
      if (st != DP_OK) {
        return st;
      }
      if (file_frame[t] < 0) {
        return fail_at(c, "steps", k, 0, "step %d is not a frame of '%s'", t, file);
      }
      if (chosen[t]) {
        return fail_at(c, "steps", k, 0, "step %d is listed twice", t);
      }
      chosen[t] = 1;
    }
    return DP_OK;
  }
  if (cJSON_IsObject(v)) {
    const cJSON *every = member(v, "every");
    for (const cJSON *e = v->child; e != NULL; e = e->next) {
      if (strcmp(e->string, "every") != 0) {
        c->path[c->depth++] = (PathElem){"steps", 0};
        Suggest sg = {e->string, NULL, 0};
        suggest_add(&sg, "every");
        char sug[64];
        dpStatus st = fail_at(c, e->string, -1, 1, "unknown key '%s' in 'steps'%s", e->string,
                              suggest_text(sug, sizeof sug, sg.best));
        c->depth--;
        return st;
      }
    }
    if (every == NULL) {
      return fail_at(c, "steps", -1, 0, "'steps' as an object needs 'every'");
    }
    long k;
    c->path[c->depth++] = (PathElem){"steps", 0};
    dpStatus st = get_int(c, every, "every", -1, 1, (long)T + 1, &k);
    c->depth--;
    if (st != DP_OK) {
      return st;
    }
    for (int t = 0; t <= T; t++) {
      chosen[t] = file_frame[t] >= 0 && t % k == 0;
    }
    return DP_OK;
  }
  return fail_at(c, "steps", -1, 0,
                 "'steps' must be \"all\", a list of steps or {\"every\": k} (got %s)",
                 cJSON_IsString(v) ? v->valuestring : json_type(v));
}

// The archive's meta.json, parsed, or NULL when it has none.
static dpStatus read_meta(Ctx *c, const dpNpz *z, const char *file, cJSON **meta) {
  *meta = NULL;
  const dpNpzEntry *e = dp_npz_get(z, "meta.json");
  if (e == NULL || e->text == NULL) {
    return DP_OK;
  }
  t_cjson_oom = 0;
  *meta = cJSON_Parse(e->text);
  if (*meta == NULL) {
    if (t_cjson_oom) {
      return nomem(c);
    }
    return fail_at(c, "file", -1, 0, "meta.json in '%s' is not valid json", file);
  }
  return DP_OK;
}

// Observed entity names from meta.json (key "particles" or "bodies": a list of strings), if it
// has them: nobs of them, or any number when nobs is SIZE_MAX. *names is owned by meta (or NULL).
static dpStatus meta_names(Ctx *c, const cJSON *meta, const char *key, const char *file,
                           size_t nobs, const cJSON **names) {
  *names = NULL;
  const cJSON *v = cJSON_IsObject(meta) ? member(meta, key) : NULL;
  if (v == NULL) {
    return DP_OK;
  }
  if (!cJSON_IsArray(v) || (nobs != SIZE_MAX && (size_t)cJSON_GetArraySize(v) != nobs)) {
    return fail_at(c, "file", -1, 0, "'%s' in meta.json of '%s' must list %zu names", key, file,
                   nobs);
  }
  for (const cJSON *n = v->child; n != NULL; n = n->next) {
    if (!cJSON_IsString(n)) {
      return fail_at(c, "file", -1, 0, "'%s' in meta.json of '%s' must list names", key, file);
    }
  }
  *names = v;
  return DP_OK;
}

static const char *const k_field_name[] = {"particles/x", "particles/v", "bodies/xpos",
                                           "bodies/q"};

// The observed entities (particles or bodies) in the file → scene indices: obs_of[i] is the
// file's index of scene entity i, or -1. By the names in meta.json (key), or else by index, when
// the file holds exactly the scene's count. *stranger: an observed name not in the scene.
static dpStatus map_observed(Ctx *c, const cJSON *names, const char *what, const char *file,
                             size_t nobs, int nscene, int *obs_of, const char **stranger) {
  const dpModel *m = c->m;
  int bodies = strcmp(what, "body") == 0;
  *stranger = NULL;
  for (int i = 0; i < nscene; i++) {
    obs_of[i] = names == NULL && (size_t)i < nobs ? i : -1;
  }
  if (names == NULL) {
    if (nobs != (size_t)nscene) {
      return fail_at(c, "file", -1, 0,
                     "'%s' has %zu %s but the scene has %d (and its meta.json names none)", file,
                     nobs, bodies ? "bodies" : "particles", nscene);
    }
    return DP_OK;
  }
  int o = 0;
  for (const cJSON *n = names->child; n != NULL; n = n->next, o++) {
    int i = bodies ? dp_model_find_body(m, n->valuestring) : find_particle(m, n->valuestring);
    if (i < 0) {
      *stranger = *stranger != NULL ? *stranger : n->valuestring;
    } else if (obs_of[i] >= 0) {
      return fail_at(c, "file", -1, 0, "%s '%s' appears twice in '%s'", what, n->valuestring,
                     file);
    } else {
      obs_of[i] = o;
    }
  }
  return DP_OK;
}

// The compared entities: the term's set (key "particles" or "bodies"), kept where observed (a
// listed name must be), or every observed entity of the scene. *idx: n scene indices.
static dpStatus select_observed(Ctx *c, const cJSON *obj, const char *key, const char *what,
                                const char *file, const int *obs_of, int nscene,
                                const char *stranger, int **idx, int *n) {
  const dpModel *m = c->m;
  int bodies = strcmp(what, "body") == 0;
  const cJSON *v = member(obj, key);
  dpStatus st;
  *n = 0;
  if (v == NULL) {
    if (stranger != NULL) {
      return fail_at(c, "file", -1, 0, "observed %s '%s' in '%s' is not in the scene", what,
                     stranger, file);
    }
    if ((*idx = dp_malloc((size_t)(nscene > 0 ? nscene : 1) * sizeof(int))) == NULL) {
      return nomem(c);
    }
    for (int i = 0; i < nscene; i++) {
      if (obs_of[i] >= 0) {
        (*idx)[(*n)++] = i;
      }
    }
    if (*n == 0) {
      return fail_at(c, "file", -1, 0, "'%s' observes no %s of the scene", file, what);
    }
    return DP_OK;
  }
  st = bodies ? get_bodies(c, v, key, idx, n) : get_particles(c, v, key, idx, n);
  if (st != DP_OK) {
    return st;
  }
  int kept = 0;
  for (int k = 0; k < *n; k++) {
    int i = (*idx)[k];
    if (obs_of[i] >= 0) {
      (*idx)[kept++] = i;
    } else if (cJSON_IsArray(v)) {
      return fail_at(c, key, k, 0, "%s '%s' is not in '%s'", what,
                     bodies ? m->bname[i] : m->pname[i], file);
    }
  }
  *n = kept;
  if (kept == 0) {
    return fail_at(c, key, -1, 0, "'%s' selects no %s of '%s'", key, what, file);
  }
  return DP_OK;
}

// bodies/q: the file's block of each observed body, from meta.json's "qadr" (and its "joints",
// when present, must agree with the scene's joint types); without names, the scene's own layout.
static dpStatus body_q_columns(Ctx *c, const cJSON *meta, const cJSON *names, const char *file,
                               size_t nqf, const int *obs_of, int *fqadr) {
  const dpModel *m = c->m;
  if (names == NULL) {
    if (nqf != (size_t)m->nq) {
      return fail_at(c, "file", -1, 0,
                     "'%s' has %zu joint coordinates but the scene has %d (and its meta.json "
                     "names no bodies)",
                     file, nqf, m->nq);
    }
    for (int i = 0; i < m->nb; i++) {
      fqadr[i] = m->bqadr[i];
    }
    return DP_OK;
  }
  const cJSON *qadr = member(meta, "qadr"), *joints = member(meta, "joints");
  int nnames = cJSON_GetArraySize(names);
  if (!cJSON_IsArray(qadr) || cJSON_GetArraySize(qadr) != nnames) {
    return fail_at(c, "file", -1, 0,
                   "meta.json of '%s' needs 'qadr' (%d offsets, one per body) to read "
                   "'bodies/q'",
                   file, nnames);
  }
  if (joints != NULL && (!cJSON_IsArray(joints) || cJSON_GetArraySize(joints) != nnames)) {
    return fail_at(c, "file", -1, 0, "'joints' in meta.json of '%s' must list %d joint types",
                   file, nnames);
  }
  for (int i = 0; i < m->nb; i++) {
    fqadr[i] = -1;
    if (obs_of[i] < 0) {
      continue;
    }
    const cJSON *a = cJSON_GetArrayItem(qadr, obs_of[i]);
    int len = dp_joint_nq(m->bjoint[i]);
    if (!cJSON_IsNumber(a) || a->valuedouble < 0 || a->valuedouble != floor(a->valuedouble) ||
        a->valuedouble + len > (double)nqf) {
      return fail_at(c, "file", -1, 0,
                     "'qadr' in meta.json of '%s' gives body '%s' no block of %d coordinates in "
                     "'bodies/q' (%zu columns)",
                     file, m->bname[i], len, nqf);
    }
    const cJSON *j = joints != NULL ? cJSON_GetArrayItem(joints, obs_of[i]) : NULL;
    if (j != NULL && (!cJSON_IsString(j) ||
                      strcmp(j->valuestring, dp_joint_type_name(m->bjoint[i])) != 0)) {
      return fail_at(c, "file", -1, 0, "body '%s' has a %s joint in the scene but a %s joint in "
                     "'%s'",
                     m->bname[i], dp_joint_type_name(m->bjoint[i]),
                     cJSON_IsString(j) ? j->valuestring : "unknown", file);
    }
    fqadr[i] = (int)a->valuedouble;
  }
  return DP_OK;
}

// A field "softbodies/NAME/x" (or v) or "shells/NAME/x" (or v): *soft = 1 with tm->soft and
// tm->field set; *soft = 0 when field starts otherwise.
static dpStatus soft_field(Ctx *c, const char *field, dpTerm *tm, int *soft) {
  *soft = 0;
  int shell = strncmp(field, "shells/", 7) == 0;
  if (!shell && strncmp(field, "softbodies/", 11) != 0) {
    return DP_OK;
  }
  const char *name = field + (shell ? 7 : 11), *slash = strrchr(name, '/');
  const char *kind = shell ? "shells" : "softbodies";
  if (slash == NULL || slash == name || (size_t)(slash - name) >= DP_NAME_MAX ||
      memchr(name, '/', (size_t)(slash - name)) != NULL ||
      (strcmp(slash, "/x") != 0 && strcmp(slash, "/v") != 0)) {
    return fail_at(c, "field", -1, 0,
                   "'field' '%s' must be \"%s/NAME/x\" or \"%s/NAME/v\" (NAME: a %s of the "
                   "scene)",
                   field, kind, kind, shell ? "shell" : "soft body");
  }
  char buf[DP_NAME_MAX];
  memcpy(buf, name, (size_t)(slash - name));
  buf[slash - name] = '\0';
  dpStatus st = resolve_soft(c, buf, "field", shell, &tm->soft);
  if (st != DP_OK) {
    return st;
  }
  tm->field = slash[1] == 'x' ? DP_FIELD_SOFT_X : DP_FIELD_SOFT_V;
  *soft = 1;
  return DP_OK;
}

// trajectory: file (NPZ with `time` (F) and the `field` array: (F, N, 3) for particles/x,
// particles/v and bodies/xpos, (F, nq) for bodies/q, (F, nv, 3) for a soft body's or shell's
// softbodies/NAME/x, shells/NAME/v, ...), field, particles or bodies, steps, components. Keeps only the selected frames and values: obs row j of frame f is column
// col[j] of the file's row at that frame.
static dpStatus bind_trajectory(Ctx *c, const cJSON *obj, dpTerm *tm) {
  const dpModel *m = c->m;
  int T = m->steps;
  dpStatus st = DP_OK;
  dpNpz *z = NULL;
  cJSON *meta = NULL;
  int *file_frame = NULL, *obs_of = NULL, *fqadr = NULL, *col = NULL;
  const cJSON *vf = member(obj, "file"), *v;
  const char *file = NULL, *field = "particles/x";
  char path[4096];

  if (vf == NULL) {
    return fail_at(c, NULL, -1, 0, "missing 'file'");
  }
  if ((st = get_string(c, vf, "file", &file)) != DP_OK) {
    return st;
  }
  if ((v = member(obj, "field")) != NULL) {
    if ((st = get_string(c, v, "field", &field)) != DP_OK) {
      return st;
    }
  }
  int known = 0;
  for (int f = 0; f < 4; f++) {
    if (strcmp(field, k_field_name[f]) == 0) {
      tm->field = (dpTrajField)f;
      known = 1;
    }
  }
  int soft = 0;
  if (!known && (st = soft_field(c, field, tm, &soft)) != DP_OK) {
    return st;
  }
  if (!known && !soft) {
    return fail_at(c, "field", -1, 0,
                   "'field' must be \"particles/x\", \"particles/v\", \"bodies/xpos\", "
                   "\"bodies/q\", \"softbodies/NAME/x\" (or /v) or \"shells/NAME/x\" (or /v) "
                   "(got '%s')",
                   field);
  }
  int bodies = tm->field == DP_FIELD_BODY_XPOS || tm->field == DP_FIELD_BODY_Q;
  const char *setkey = bodies ? "bodies" : "particles", *what = bodies ? "body" : "particle";
  const char *other = bodies ? "particles" : "bodies";
  if (soft) {
    const char *key = member(obj, "particles") != NULL ? "particles"
                      : member(obj, "bodies") != NULL ? "bodies"
                                                      : NULL;
    if (key != NULL) {
      return fail_at(c, key, -1, 1,
                     "key '%s' does not apply to field '%s' (it compares every vertex of '%s')",
                     key, field, m->softname[tm->soft]);
    }
  } else if (member(obj, other) != NULL) {
    return fail_at(c, other, -1, 1, "key '%s' does not apply to field '%s' (use '%s')", other,
                   field, setkey);
  }
  if (tm->field == DP_FIELD_BODY_Q && member(obj, "components") != NULL) {
    return fail_at(c, "components", -1, 1,
                   "key 'components' does not apply to field 'bodies/q' (it compares every "
                   "coordinate of the selected bodies)");
  }
  if (bodies && m->nb == 0) {
    return fail_at(c, "field", -1, 0, "field '%s' needs bodies, and the scene has none", field);
  }
  if ((st = get_components(c, member(obj, "components"), tm->mask)) != DP_OK) {
    return st;
  }
  if (c->base != NULL && c->base[0] != '\0' && file[0] != '/') {
    snprintf(path, sizeof path, "%s/%s", c->base, file);
  } else {
    snprintf(path, sizeof path, "%s", file);
  }

  dpError lerr;
  dp_error_clear(&lerr);
  st = dp_npz_read(path, &z, &lerr);
  if (st == DP_ERR_NOMEM) {
    return nomem(c);
  }
  if (st != DP_OK) {
    // The NPZ message names the file (joined with the loss file's directory) and the member.
    return fail_at(c, "file", -1, 0, "%s observed trajectory: %s",
                   st == DP_ERR_IO ? "cannot read" : "bad", lerr.message);
  }

  const dpNpzEntry *et = dp_npz_get(z, "time"), *ex = dp_npz_get(z, field);
  if (et == NULL || et->data == NULL || et->ndim != 1) {
    st = fail_at(c, "file", -1, 0, "observed trajectory '%s' has no 'time' array of shape (F,)",
                 file);
    goto done;
  }
  size_t F = et->shape[0];
  if (tm->field == DP_FIELD_BODY_Q) {
    if (ex == NULL || ex->data == NULL || ex->ndim != 2 || ex->shape[0] != F) {
      st = fail_at(c, "file", -1, 0,
                   "observed trajectory '%s' has no '%s' array of shape (%zu, nq)", file, field,
                   F);
      goto done;
    }
  } else if (ex == NULL || ex->data == NULL || ex->ndim != 3 || ex->shape[0] != F ||
             ex->shape[2] != 3) {
    st = fail_at(c, "file", -1, 0,
                 "observed trajectory '%s' has no '%s' array of shape (%zu, N, 3)", file, field,
                 F);
    goto done;
  }
  size_t nobs = ex->shape[1];
  size_t width = tm->field == DP_FIELD_BODY_Q ? nobs : 3 * nobs;  // values per file frame
  if (soft && nobs != (size_t)m->soft_nv[tm->soft]) {
    st = fail_at(c, "file", -1, 0, "'%s' in '%s' has %zu vertices but %s '%s' has %d", field,
                 file, nobs, m->soft_shell[tm->soft] ? "shell" : "soft body",
                 m->softname[tm->soft], m->soft_nv[tm->soft]);
    goto done;
  }

  // Frames → steps: t = round(time[f] / dt), which must be an exact step of the scene.
  int nscene = bodies ? m->nb : m->np;
  file_frame = dp_malloc(((size_t)T + 1) * sizeof(int));
  tm->frame_of_step = dp_malloc(((size_t)T + 1) * sizeof(int));
  obs_of = dp_malloc((size_t)(nscene > 0 ? nscene : 1) * sizeof(int));
  if (file_frame == NULL || tm->frame_of_step == NULL || obs_of == NULL) {
    st = nomem(c);
    goto done;
  }
  for (int t = 0; t <= T; t++) {
    file_frame[t] = -1;
    tm->frame_of_step[t] = 0;
  }
  for (size_t f = 0; f < F; f++) {
    double r = et->data[f] / m->dt;
    double t = floor(r + 0.5);
    if (!isfinite(r) || fabs(r - t) > 1e-6 || t < 0 || t > T) {
      st = fail_at(c, "file", -1, 0,
                   "frame %zu of '%s' at time %g is not a step of the scene (dt=%g, %d steps)",
                   f, file, et->data[f], m->dt, T);
      goto done;
    }
    if (file_frame[(int)t] >= 0) {
      st = fail_at(c, "file", -1, 0, "frames %d and %zu of '%s' are both at step %d",
                   file_frame[(int)t], f, file, (int)t);
      goto done;
    }
    file_frame[(int)t] = (int)f;
  }
  if ((st = select_frames(c, member(obj, "steps"), file, file_frame, tm->frame_of_step)) !=
      DP_OK) {
    goto done;
  }
  tm->nframes = 0;
  for (int t = 0; t <= T; t++) {
    tm->frame_of_step[t] = tm->frame_of_step[t] ? tm->nframes++ : -1;
  }
  if (tm->nframes == 0) {
    st = fail_at(c, "steps", -1, 0, "'steps' selects no frame of '%s'", file);
    goto done;
  }

  // Observed entities → scene entities, by the names in meta.json or else by index (a soft
  // body's vertices: the file's, in order).
  int *sel = NULL;
  if (soft) {
    tm->n = m->soft_nv[tm->soft];
  } else {
    const cJSON *names;
    const char *stranger;
    if ((st = read_meta(c, z, file, &meta)) != DP_OK ||
        (st = meta_names(c, meta, setkey, file, tm->field == DP_FIELD_BODY_Q ? SIZE_MAX : nobs,
                         &names)) != DP_OK) {
      goto done;
    }
    if (tm->field == DP_FIELD_BODY_Q) {
      if ((fqadr = dp_malloc((size_t)m->nb * sizeof(int))) == NULL) {
        st = nomem(c);
        goto done;
      }
      // By name: the names need not match the width; by index: the width must be the scene's
      // nq.
      size_t nb_file = names != NULL ? (size_t)cJSON_GetArraySize(names) : (size_t)m->nb;
      if ((st = map_observed(c, names, what, file, nb_file, nscene, obs_of, &stranger)) !=
              DP_OK ||
          (st = body_q_columns(c, meta, names, file, nobs, obs_of, fqadr)) != DP_OK) {
        goto done;
      }
    } else if ((st = map_observed(c, names, what, file, nobs, nscene, obs_of, &stranger)) !=
               DP_OK) {
      goto done;
    }
    if ((st = select_observed(c, obj, setkey, what, file, obs_of, nscene, stranger, &sel,
                              &tm->n)) != DP_OK) {
      dp_free(sel);
      goto done;
    }
    if (bodies) {
      tm->bidx = sel;
    } else {
      tm->pidx = sel;
    }
  }

  // The compared values of one frame and their columns in the file's rows.
  if (tm->field == DP_FIELD_BODY_Q) {
    tm->row = 0;
    for (int k = 0; k < tm->n; k++) {
      tm->row += dp_joint_nq(m->bjoint[sel[k]]);
    }
    if (tm->row == 0) {
      st = fail_at(c, member(obj, "bodies") != NULL ? "bodies" : "file", -1, 0,
                   "the selected bodies of '%s' have no joint coordinates (fixed joints)", file);
      goto done;
    }
  } else {
    tm->row = 3 * tm->n;
  }
  col = dp_malloc((size_t)tm->row * sizeof(int));
  tm->qsel = tm->field == DP_FIELD_BODY_Q ? dp_malloc((size_t)tm->row * sizeof(int)) : NULL;
  if (col == NULL || (tm->field == DP_FIELD_BODY_Q && tm->qsel == NULL)) {
    st = nomem(c);
    goto done;
  }
  for (int k = 0, j = 0; k < tm->n; k++) {
    int i = sel != NULL ? sel[k] : k;
    if (tm->field == DP_FIELD_BODY_Q) {
      for (int q = 0; q < dp_joint_nq(m->bjoint[i]); q++, j++) {
        col[j] = fqadr[i] + q;
        tm->qsel[j] = m->bqadr[i] + q;
      }
    } else {
      for (int cc = 0; cc < 3; cc++, j++) {
        col[j] = 3 * (soft ? k : obs_of[i]) + cc;
      }
    }
  }
  size_t row = (size_t)tm->row;
  if ((tm->obs = dp_malloc((size_t)tm->nframes * row * sizeof(double))) == NULL) {
    st = nomem(c);
    goto done;
  }
  for (int t = 0; t <= T; t++) {
    int j = tm->frame_of_step[t];
    if (j < 0) {
      continue;
    }
    const double *src = ex->data + (size_t)file_frame[t] * width;
    for (size_t k = 0; k < row; k++) {
      tm->obs[(size_t)j * row + k] = src[col[k]];
    }
  }

done:
  cJSON_Delete(meta);
  dp_npz_free(z);
  dp_free(file_frame);
  dp_free(obs_of);
  dp_free(fqadr);
  dp_free(col);
  return st;
}

// Steps read by a term with `steps` (as for trajectories, every step being a frame) or one
// `step` (default end): frame_of_step[t] is the index of step t among the S selected ones, or
// -1; nframes = S.
static dpStatus select_steps(Ctx *c, const cJSON *obj, dpTerm *tm) {
  const dpModel *m = c->m;
  int T = m->steps;
  const cJSON *one = member(obj, "step"), *many = member(obj, "steps");
  dpStatus st = DP_OK;
  if (one != NULL && many != NULL) {
    return fail_at(c, "steps", -1, 1, "give either 'step' or 'steps', not both");
  }
  int *all = dp_calloc((size_t)T + 1, sizeof(int));
  tm->frame_of_step = dp_calloc((size_t)T + 1, sizeof(int));
  if (all == NULL || tm->frame_of_step == NULL) {
    dp_free(all);
    return nomem(c);
  }
  if (many != NULL) {
    st = select_frames(c, many, "the scene", all, tm->frame_of_step);
  } else {
    int t = T;
    if (one != NULL) {
      st = get_step(c, one, "step", -1, &t);
    }
    if (st == DP_OK) {
      tm->frame_of_step[t] = 1;
    }
  }
  dp_free(all);
  if (st != DP_OK) {
    return st;
  }
  tm->nframes = 0;
  for (int t = 0; t <= T; t++) {
    tm->frame_of_step[t] = tm->frame_of_step[t] ? tm->nframes++ : -1;
  }
  if (tm->nframes == 0) {
    return fail_at(c, "steps", -1, 0, "'steps' selects no step");
  }
  return DP_OK;
}

// centroid: soft (a soft body or shell), step or steps (default end), target (m), components.
static dpStatus bind_centroid(Ctx *c, const cJSON *obj, dpTerm *tm) {
  const cJSON *v = member(obj, "soft");
  dpStatus st;
  if (v == NULL) {
    return fail_at(c, NULL, -1, 0, "missing 'soft' (the soft body or shell whose centroid counts)");
  }
  if (!cJSON_IsString(v)) {
    return fail_at(c, "soft", -1, 0, "'soft' must name a soft body or shell (got %s)",
                   json_type(v));
  }
  if ((st = resolve_soft(c, v->valuestring, "soft", -1, &tm->soft)) != DP_OK ||
      (st = select_steps(c, obj, tm)) != DP_OK) {
    return st;
  }
  if ((v = member(obj, "target")) == NULL) {
    return fail_at(c, NULL, -1, 0, "missing 'target'");
  }
  if ((st = get_vec3(c, v, "target", tm->target)) != DP_OK) {
    return st;
  }
  return get_components(c, member(obj, "components"), tm->mask);
}

static const dpTermType k_types[] = {
    DP_TERM_POSITION,      DP_TERM_VELOCITY, DP_TERM_TRAJECTORY,    DP_TERM_CONTROL_EFFORT,
    DP_TERM_KINETIC_ENERGY, DP_TERM_PRIOR,   DP_TERM_BODY_POSITION, DP_TERM_JOINT,
    DP_TERM_JOINT_VELOCITY, DP_TERM_CENTROID};

static dpStatus bind_term(Ctx *c, const cJSON *obj, dpTerm *tm) {
  if (!cJSON_IsObject(obj)) {
    return fail_at(c, NULL, -1, 0, "a term must be an object (got %s)", json_type(obj));
  }
  const cJSON *vt = member(obj, "type");
  dpStatus st;
  if (vt == NULL) {
    return fail_at(c, NULL, -1, 0, "missing 'type'");
  }
  if (!cJSON_IsString(vt)) {
    return fail_at(c, "type", -1, 0, "'type' must be a string (got %s)", json_type(vt));
  }
  int found = 0;
  Suggest sg = {vt->valuestring, NULL, 0};
  for (size_t k = 0; k < sizeof k_types / sizeof k_types[0]; k++) {
    if (strcmp(vt->valuestring, dp_loss_type_name(k_types[k])) == 0) {
      tm->type = k_types[k];
      found = 1;
    }
    suggest_add(&sg, dp_loss_type_name(k_types[k]));
  }
  if (!found) {
    char sug[64];
    return fail_at(c, "type", -1, 0, "unknown term type '%s'%s", vt->valuestring,
                   suggest_text(sug, sizeof sug, sg.best));
  }
  if ((st = check_term_keys(c, obj, tm->type)) != DP_OK) {
    return st;
  }
  const cJSON *v = member(obj, "description");
  const char *text;
  if (v != NULL && (st = get_string(c, v, "description", &text)) != DP_OK) {
    return st;
  }
  tm->weight = 1.0;
  if ((v = member(obj, "weight")) != NULL) {
    if ((st = get_number(c, v, "weight", -1, &tm->weight)) != DP_OK) {
      return st;
    }
    if (tm->weight < 0) {
      return fail_at(c, "weight", -1, 0, "'weight' must be ≥ 0 (got %g)", tm->weight);
    }
  }
  switch (tm->type) {
    case DP_TERM_POSITION:
    case DP_TERM_VELOCITY:
      return bind_point(c, obj, tm);
    case DP_TERM_TRAJECTORY:
      return bind_trajectory(c, obj, tm);
    case DP_TERM_KINETIC_ENERGY:
      return bind_kinetic(c, obj, tm);
    case DP_TERM_PRIOR:
      return bind_prior(c, obj, tm);
    case DP_TERM_BODY_POSITION:
      return bind_body_position(c, obj, tm);
    case DP_TERM_JOINT:
    case DP_TERM_JOINT_VELOCITY:
      return bind_joint(c, obj, tm);
    case DP_TERM_CENTROID:
      return bind_centroid(c, obj, tm);
    default:
      return DP_OK;
  }
}

static const char *const k_top_keys[] = {"$schema", "description", "terms"};

static dpStatus bind_loss(Ctx *c, const cJSON *root, dpLoss *loss) {
  dpStatus st;
  if (!cJSON_IsObject(root)) {
    return fail_at(c, NULL, -1, 0, "a loss must be a json object (got %s)", json_type(root));
  }
  const cJSON *terms = NULL;
  for (const cJSON *e = root->child; e != NULL; e = e->next) {
    if ((st = check_duplicate(c, root, e)) != DP_OK) {
      return st;
    }
    if (strcmp(e->string, "terms") == 0) {
      terms = e;
    } else if (strcmp(e->string, "description") == 0 || strcmp(e->string, "$schema") == 0) {
      const char *text;
      if ((st = get_string(c, e, e->string, &text)) != DP_OK) {
        return st;
      }
    } else {
      Suggest sg = {e->string, NULL, 0};
      for (size_t k = 0; k < sizeof k_top_keys / sizeof k_top_keys[0]; k++) {
        suggest_add(&sg, k_top_keys[k]);
      }
      char sug[64];
      return fail_at(c, e->string, -1, 1, "unknown key '%s'%s", e->string,
                     suggest_text(sug, sizeof sug, sg.best));
    }
  }
  if (terms == NULL) {
    return fail_at(c, NULL, -1, 0, "missing 'terms'");
  }
  if (!cJSON_IsArray(terms)) {
    return fail_at(c, "terms", -1, 0, "'terms' must be a list (got %s)", json_type(terms));
  }
  int n = cJSON_GetArraySize(terms);
  if (n == 0) {
    return fail_at(c, "terms", -1, 0, "'terms' must list at least one term");
  }
  if ((loss->term = dp_calloc((size_t)n, sizeof(dpTerm))) == NULL) {
    return nomem(c);
  }
  int k = 0;
  for (const cJSON *e = terms->child; e != NULL; e = e->next, k++) {
    loss->nterms = k + 1;  // so that a failure frees what this term holds
    c->term = k;
    c->path[0] = (PathElem){"terms", 0};
    c->path[1] = (PathElem){NULL, k};
    c->depth = 2;
    if ((st = bind_term(c, e, &loss->term[k])) != DP_OK) {
      return st;
    }
  }
  c->term = -1;
  c->depth = 0;
  return DP_OK;
}

// Parse and bind; base: directory of the loss file (NULL: trajectory files are read from the
// current directory).
static dpStatus loss_parse(const char *text, const char *name, const char *base, const dpModel *m,
                           dpLoss **out, dpError *err) {
  Ctx c = {text, name, base, m, err, -1, {{NULL, 0}}, 0, 0};
  cJSON *root = NULL;
  dpLoss *loss = NULL;
  dpStatus st = DP_OK;
  *out = NULL;
  if (m == NULL || m->theta0 == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, name, 0, 0,
                        "a loss needs a finalized model to bind to");
  }
  cjson_use_dp_allocator();
  const char *end = NULL;
  root = cJSON_ParseWithOpts(text, &end, 1);
  if (root == NULL) {
    if (t_cjson_oom) {
      return nomem(&c);
    }
    size_t off = end != NULL && end >= text ? (size_t)(end - text) : 0;
    int line, col;
    offset_linecol(text, off, &line, &col);
    if (text[off] == '\0') {
      return dp_error_set(err, DP_ERR_INVALID, name, line, col,
                          "json syntax error: unexpected end of input");
    }
    int len = 0;
    while (len < 20 && text[off + len] != '\0' && text[off + len] != '\n' &&
           text[off + len] != '\r') {
      len++;
    }
    return dp_error_set(err, DP_ERR_INVALID, name, line, col, "json syntax error near '%.*s'",
                        len, text + off);
  }
  if ((loss = dp_calloc(1, sizeof *loss)) == NULL) {
    st = nomem(&c);
    goto done;
  }
  loss->steps = m->steps;
  loss->np = m->np;
  if ((st = bind_loss(&c, root, loss)) != DP_OK) {
    goto done;
  }
  if ((st = dp_loss_index_steps(loss, err)) == DP_OK) {
    st = dp_loss_alloc_poses(loss, m, err);
  }

done:
  cJSON_Delete(root);
  if (st != DP_OK) {
    dp_loss_free(loss);
  } else {
    *out = loss;
  }
  return st;
}

dpStatus dp_loss_parse(const char *text, const char *name, const dpModel *m, dpLoss **out,
                       dpError *err) {
  if (out == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, name, 0, 0, "no output for the loss");
  }
  *out = NULL;
  if (text == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, name, 0, 0, "no loss text");
  }
  return loss_parse(text, name != NULL ? name : "<loss>", NULL, m, out, err);
}

dpStatus dp_loss_load(const char *path, const dpModel *m, dpLoss **out, dpError *err) {
  char *text = NULL, *base = NULL;
  size_t len = 0, cap = 0;
  dpStatus st = DP_OK;
  if (out == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, path, 0, 0, "no output for the loss");
  }
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    return dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot read '%s': %s", path,
                        strerror(errno));
  }
  for (;;) {
    if (cap - len < 4096) {
      size_t ncap = cap == 0 ? 65536 : 2 * cap;
      char *p = dp_realloc(text, cap, ncap);
      if (p == NULL) {
        st = dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory while reading the loss");
        goto done;
      }
      text = p;
      cap = ncap;
    }
    size_t got = fread(text + len, 1, cap - len - 1, f);
    len += got;
    if (got == 0) {
      break;
    }
  }
  if (ferror(f)) {
    st = dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot read '%s': %s", path, strerror(errno));
    goto done;
  }
  text[len] = '\0';
  if (memchr(text, '\0', len) != NULL) {
    st = dp_error_set(err, DP_ERR_INVALID, path, 0, 0, "'%s' is not a text file (NUL byte)",
                      path);
    goto done;
  }
  const char *slash = strrchr(path, '/');
  if (slash != NULL) {
    size_t n = (size_t)(slash - path);
    if ((base = dp_malloc(n + 2)) == NULL) {
      st = dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory while reading the loss");
      goto done;
    }
    memcpy(base, path, n);
    base[n] = '\0';
    if (n == 0) {
      strcpy(base, "/");
    }
  }
  st = loss_parse(text, path, base, m, out, err);

done:
  fclose(f);
  dp_free(text);
  dp_free(base);
  return st;
}
