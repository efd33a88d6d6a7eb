// The strict YAML layer: libyaml's document (yaml_parser_load) converted to a dpYNode tree with
// 1-based positions, typed readers that resolve plain scalars by the YAML 1.2 core schema, and
// --set overrides applied to the tree before a loader walks it.
#include "io_yaml.h"

#include "core_text.h"

#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64
#define MAX_COMPONENTS 16

// ---- nodes --------------------------------------------------------------------------------------

static dpYNode *node_new(dpYKind kind, int line, int column, const char *set) {
  dpYNode *n = dp_calloc(1, sizeof *n);
  if (n != NULL) {
    n->kind = kind;
    n->line = line;
    n->column = column;
    n->set = set;
  }
  return n;
}

static dpYNode *scalar_new(const char *text, size_t len, int quoted, int line, int column,
                           const char *set) {
  dpYNode *n = node_new(DP_Y_SCALAR, line, column, set);
  if (n == NULL) {
    return NULL;
  }
  n->text = dp_malloc(len + 1);
  if (n->text == NULL) {
    dp_free(n);
    return NULL;
  }
  memcpy(n->text, text, len);
  n->text[len] = '\0';
  n->quoted = quoted;
  return n;
}

void dp_yaml_free(dpYNode *n) {
  if (n == NULL) {
    return;
  }
  for (size_t i = 0; i < n->n; i++) {
    if (n->keys != NULL) {
      dp_yaml_free(n->keys[i]);
    }
    dp_yaml_free(n->items[i]);
  }
  dp_free(n->keys);
  dp_free(n->items);
  dp_free(n->text);
  dp_free(n);
}

// Append an item (and a key for mappings); ownership passes to n even on failure.
static int node_push(dpYNode *n, dpYNode *key, dpYNode *item) {
  if (n->n == n->cap) {
    size_t ncap = n->cap == 0 ? 4 : 2 * n->cap;
    dpYNode **ni = dp_realloc(n->items, n->cap * sizeof *ni, ncap * sizeof *ni);
    if (ni == NULL) {
      dp_yaml_free(key);
      dp_yaml_free(item);
      return 0;
    }
    n->items = ni;
    if (n->kind == DP_Y_MAP) {
      dpYNode **nk = dp_realloc(n->keys, n->cap * sizeof *nk, ncap * sizeof *nk);
      if (nk == NULL) {
        dp_yaml_free(key);
        dp_yaml_free(item);
        return 0;
      }
      n->keys = nk;
    }
    n->cap = ncap;
  }
  if (n->kind == DP_Y_MAP) {
    n->keys[n->n] = key;
  }
  n->items[n->n++] = item;
  return 1;
}

dpYNode *dp_yaml_copy(const dpYNode *n, const char *set) {
  const char *s = set != NULL ? set : n->set;
  dpYNode *c = n->kind == DP_Y_SCALAR
                   ? scalar_new(n->text, strlen(n->text), n->quoted, n->line, n->column, s)
                   : node_new(n->kind, n->line, n->column, s);
  if (c == NULL) {
    return NULL;
  }
  for (size_t i = 0; i < n->n; i++) {
    dpYNode *k = n->kind == DP_Y_MAP ? dp_yaml_copy(n->keys[i], set) : NULL;
    dpYNode *v = dp_yaml_copy(n->items[i], set);
    if ((n->kind == DP_Y_MAP && k == NULL) || v == NULL) {
      dp_yaml_free(k);
      dp_yaml_free(v);
      dp_yaml_free(c);
      return NULL;
    }
    if (!node_push(c, k, v)) {  // node_push has freed k and v
      dp_yaml_free(c);
      return NULL;
    }
  }
  return c;
}

dpYNode *dp_yaml_get(const dpYNode *map, const char *key, size_t *idx) {
  if (map == NULL || map->kind != DP_Y_MAP) {
    return NULL;
  }
  for (size_t i = 0; i < map->n; i++) {
    if (strcmp(map->keys[i]->text, key) == 0) {
      if (idx != NULL) {
        *idx = i;
      }
      return map->items[i];
    }
  }
  return NULL;
}

int dp_yaml_put(dpYNode *map, const char *key, dpYNode *value, const char *set) {
  size_t i;
  if (dp_yaml_get(map, key, &i) != NULL) {
    dp_yaml_free(map->items[i]);
    map->items[i] = value;
    return 1;
  }
  dpYNode *k = scalar_new(key, strlen(key), 0, 0, 0, set);
  if (k == NULL) {
    dp_yaml_free(value);
    return 0;
  }
  return node_push(map, k, value);
}

dpYNode *dp_yaml_new_scalar(const char *text, int quoted) {
  return scalar_new(text, strlen(text), quoted, 0, 0, NULL);
}

dpYNode *dp_yaml_new(dpYKind kind) {
  return node_new(kind, 0, 0, NULL);
}

int dp_yaml_push(dpYNode *seq, dpYNode *item) {
  return node_push(seq, NULL, item);
}

int dp_yaml_append(dpYNode *map, const char *key, dpYNode *value) {
  dpYNode *k = scalar_new(key, strlen(key), 0, 0, 0, NULL);
  if (k == NULL) {
    dp_yaml_free(value);
    return 0;
  }
  return node_push(map, k, value);
}

int dp_yaml_remove(dpYNode *map, const char *key) {
  size_t i;
  if (dp_yaml_get(map, key, &i) == NULL) {
    return 0;
  }
  dp_yaml_free(map->keys[i]);
  dp_yaml_free(map->items[i]);
  memmove(map->keys + i, map->keys + i + 1, (map->n - i - 1) * sizeof *map->keys);
  memmove(map->items + i, map->items + i + 1, (map->n - i - 1) * sizeof *map->items);
  map->n--;
  return 1;
}

// ---- libyaml document → tree --------------------------------------------------------------------

typedef struct {
  yaml_document_t *doc;
  size_t budget;      // nodes left to create (bounds alias expansion)
  const char *file;   // for messages
  const char *set;    // override string for --set values, else NULL
  dpError *err;
} dpConv;

static dpStatus conv_fail(dpConv *c, int line, int column, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static dpStatus conv_fail(dpConv *c, int line, int column, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->set != NULL) {
    char file[256];
    snprintf(file, sizeof file, "--set %s", c->set);
    return dp_error_set(c->err, DP_ERR_INVALID, file, 0, 0, "%s", msg);
  }
  return dp_error_set(c->err, DP_ERR_INVALID, c->file, line, column, "%s", msg);
}

typedef struct {
  const char *key;
  size_t idx;
} dpKeyRef;

static int keyref_cmp(const void *a, const void *b) {
  const dpKeyRef *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c != 0 ? c : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

// The later of two equal keys is the error, at its position.
static dpStatus check_duplicates(dpConv *c, const dpYNode *map) {
  if (map->n < 2) {
    return DP_OK;
  }
  dpKeyRef *r = dp_malloc(map->n * sizeof *r);
  if (r == NULL) {
    return dp_error_set(c->err, DP_ERR_NOMEM, c->file, 0, 0, "out of memory");
  }
  for (size_t i = 0; i < map->n; i++) {
    r[i].key = map->keys[i]->text;
    r[i].idx = i;
  }
  qsort(r, map->n, sizeof *r, keyref_cmp);
  size_t dup = map->n;
  for (size_t i = 1; i < map->n; i++) {
    if (strcmp(r[i].key, r[i - 1].key) == 0 && (dup == map->n || r[i].idx < dup)) {
      dup = r[i].idx;
    }
  }
  dp_free(r);
  if (dup == map->n) {
    return DP_OK;
  }
  const dpYNode *k = map->keys[dup];
  dpStatus st = conv_fail(c, k->line, k->column, "duplicate key '%s'", k->text);
  if (c->err != NULL && c->err->key[0] == '\0') {
    snprintf(c->err->key, sizeof c->err->key, "%s", k->text);
  }
  return st;
}

static dpStatus convert(dpConv *c, yaml_node_t *yn, int depth, dpYNode **out) {
  *out = NULL;
  int line = c->set != NULL ? 0 : (int)yn->start_mark.line + 1;
  int column = c->set != NULL ? 0 : (int)yn->start_mark.column + 1;
  if (depth > MAX_DEPTH) {
    return conv_fail(c, line, column, "nesting is too deep (more than %d levels)", MAX_DEPTH);
  }
  if (c->budget == 0) {
    return conv_fail(c, line, column, "document is too large after alias expansion");
  }
  c->budget--;
  dpYNode *n = NULL;
  switch (yn->type) {
    case YAML_SCALAR_NODE:
      n = scalar_new((const char *)yn->data.scalar.value, yn->data.scalar.length,
                     yn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE, line, column, c->set);
      break;
    case YAML_SEQUENCE_NODE: n = node_new(DP_Y_SEQ, line, column, c->set); break;
    case YAML_MAPPING_NODE: n = node_new(DP_Y_MAP, line, column, c->set); break;
    case YAML_NO_NODE: break;
  }
  if (n == NULL) {
    return dp_error_set(c->err, DP_ERR_NOMEM, c->file, 0, 0, "out of memory");
  }
  dpStatus st = DP_OK;
  if (yn->type == YAML_SEQUENCE_NODE) {
    for (yaml_node_item_t *it = yn->data.sequence.items.start;
         st == DP_OK && it < yn->data.sequence.items.top; it++) {
      dpYNode *child;
      st = convert(c, yaml_document_get_node(c->doc, *it), depth + 1, &child);
      if (st == DP_OK && !node_push(n, NULL, child)) {
        st = dp_error_set(c->err, DP_ERR_NOMEM, c->file, 0, 0, "out of memory");
      }
    }
  } else if (yn->type == YAML_MAPPING_NODE) {
    for (yaml_node_pair_t *p = yn->data.mapping.pairs.start;
         st == DP_OK && p < yn->data.mapping.pairs.top; p++) {
      yaml_node_t *yk = yaml_document_get_node(c->doc, p->key);
      if (yk->type != YAML_SCALAR_NODE) {
        st = conv_fail(c, c->set ? 0 : (int)yk->start_mark.line + 1,
                       c->set ? 0 : (int)yk->start_mark.column + 1,
                       "mapping keys must be plain strings");
        break;
      }
      dpYNode *key, *val;
      if ((st = convert(c, yk, depth + 1, &key)) != DP_OK) {
        break;
      }
      if ((st = convert(c, yaml_document_get_node(c->doc, p->value), depth + 1, &val)) !=
          DP_OK) {
        dp_yaml_free(key);
        break;
      }
      if (!node_push(n, key, val)) {
        st = dp_error_set(c->err, DP_ERR_NOMEM, c->file, 0, 0, "out of memory");
      }
    }
    if (st == DP_OK) {
      st = check_duplicates(c, n);
    }
  }
  if (st != DP_OK) {
    dp_yaml_free(n);
    return st;
  }
  *out = n;
  return DP_OK;
}

static dpStatus syntax_error(dpConv *c, const yaml_parser_t *p) {
  if (p->error == YAML_MEMORY_ERROR) {
    return dp_error_set(c->err, DP_ERR_NOMEM, c->file, 0, 0, "out of memory");
  }
  const char *problem = p->problem != NULL ? p->problem : "invalid yaml";
  int line = (int)p->problem_mark.line + 1, column = (int)p->problem_mark.column + 1;
  if (p->error == YAML_READER_ERROR) {
    // Reader errors (bad encoding) carry a byte offset, not a mark.
    line = 0;
    column = 0;
  }
  if (p->context != NULL) {
    return conv_fail(c, line, column, "yaml syntax error: %s (%s)", problem, p->context);
  }
  return conv_fail(c, line, column, "yaml syntax error: %s", problem);
}

static dpStatus parse_doc(const char *text, size_t len, const char *file, const char *set,
                          dpYNode **root, dpError *err) {
  *root = NULL;
  dpConv c = {NULL, 0, file, set, err};
  yaml_parser_t parser;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&parser)) {
    return dp_error_set(err, DP_ERR_NOMEM, file, 0, 0, "out of memory");
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    dpStatus st = syntax_error(&c, &parser);
    yaml_parser_delete(&parser);
    return st;
  }
  dpStatus st = DP_OK;
  yaml_node_t *yroot = yaml_document_get_root_node(&doc);
  if (yroot != NULL) {
    size_t nnodes = (size_t)(doc.nodes.top - doc.nodes.start);
    c.doc = &doc;
    c.budget = 4 * nnodes + 100000;
    st = convert(&c, yroot, 0, root);
  }
  yaml_document_delete(&doc);
  if (st == DP_OK && yroot != NULL && set == NULL) {
    // A scene is one document: a second one is an error, not silently ignored.
    yaml_document_t doc2;
    if (!yaml_parser_load(&parser, &doc2)) {
      st = syntax_error(&c, &parser);
    } else {
      yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
      if (r2 != NULL) {
        st = conv_fail(&c, (int)r2->start_mark.line + 1, (int)r2->start_mark.column + 1,
                       "a scene holds one yaml document (found a second one)");
      }
      yaml_document_delete(&doc2);
    }
    if (st != DP_OK) {
      dp_yaml_free(*root);
      *root = NULL;
    }
  }
  yaml_parser_delete(&parser);
  return st;
}

dpStatus dp_yaml_parse(const char *text, size_t len, const char *file, dpYNode **root,
                       dpError *err) {
  return parse_doc(text, len, file, NULL, root, err);
}

dpStatus dp_yaml_parse_value(const char *text, const char *set, dpYNode **out, dpError *err) {
  dpStatus st = parse_doc(text, strlen(text), "--set", set, out, err);
  if (st == DP_OK && *out == NULL) {
    *out = scalar_new("", 0, 0, 0, 0, set);
    if (*out == NULL) {
      return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    }
  }
  return st;
}

// ---- scalars ------------------------------------------------------------------------------------

static int one_of(const char *s, const char *const *list) {
  for (; *list != NULL; list++) {
    if (strcmp(s, *list) == 0) {
      return 1;
    }
  }
  return 0;
}

static const char *skip_digits(const char *s) {
  while (*s >= '0' && *s <= '9') {
    s++;
  }
  return s;
}

// [-+]?[0-9]+ → 1 (int); [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? → 2; else 0.
static int number_form(const char *s) {
  if (*s == '-' || *s == '+') {
    s++;
  }
  const char *d = skip_digits(s);
  int is_int = 1;
  if (d == s) {
    if (*d != '.' || skip_digits(d + 1) == d + 1) {
      return 0;
    }
    d = skip_digits(d + 1);
    is_int = 0;
  } else if (*d == '.') {
    d = skip_digits(d + 1);
    is_int = 0;
  }
  if (*d == 'e' || *d == 'E') {
    d++;
    if (*d == '-' || *d == '+') {
      d++;
    }
    const char *e = skip_digits(d);
    if (e == d) {
      return 0;
    }
    d = e;
    is_int = 0;
  }
  if (*d != '\0') {
    return 0;
  }
  return is_int ? 1 : 2;
}

dpYType dp_yaml_type(const dpYNode *n) {
  static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
  static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
  static const char *const nonfinite[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                                          "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN",
                                          NULL};
  if (n->kind != DP_Y_SCALAR || n->quoted) {
    return DP_YT_STR;
  }
  if (one_of(n->text, nulls)) {
    return DP_YT_NULL;
  }
  if (one_of(n->text, bools)) {
    return DP_YT_BOOL;
  }
  if (one_of(n->text, nonfinite)) {
    return DP_YT_NONFINITE;
  }
  switch (number_form(n->text)) {
    case 1: return DP_YT_INT;
    case 2: return isfinite(strtod(n->text, NULL)) ? DP_YT_FLOAT : DP_YT_NONFINITE;
    default: return DP_YT_STR;
  }
}

void dp_yaml_describe(const dpYNode *n, char *buf, size_t size) {
  if (n == NULL) {
    snprintf(buf, size, "nothing");
  } else if (n->kind == DP_Y_SEQ) {
    snprintf(buf, size, "a list");
  } else if (n->kind == DP_Y_MAP) {
    snprintf(buf, size, "a mapping");
  } else {
    dpYType t = dp_yaml_type(n);
    if (t == DP_YT_NULL) {
      snprintf(buf, size, "null");
    } else if (t == DP_YT_STR) {
      snprintf(buf, size, "'%.40s%s'", n->text, strlen(n->text) > 40 ? "..." : "");
    } else {
      snprintf(buf, size, "%.40s", n->text);
    }
  }
}

// ---- suggestions --------------------------------------------------------------------------------

const char *dp_yaml_suggest(const char *word, const char *const *cand, size_t ncand) {
  const char *best = NULL;
  int bestd = 1 << 20;
  int lw = (int)strlen(word);
  for (size_t i = 0; i < ncand; i++) {
    int d = dp_edit_distance(word, cand[i]);
    int lc = (int)strlen(cand[i]);
    if (d <= 3 && d < lw && d < lc && d < bestd) {
      best = cand[i];
      bestd = d;
    }
  }
  if (best != NULL || lw < 2) {
    return best;
  }
  for (size_t i = 0; i < ncand; i++) {
    size_t lc = strlen(cand[i]);
    if (lc >= 2 && (strncmp(cand[i], word, (size_t)lw) == 0 || strncmp(word, cand[i], lc) == 0)) {
      return cand[i];
    }
  }
  return NULL;
}

// ---- errors -------------------------------------------------------------------------------------

static dpStatus vfail(const dpYScope *s, const dpYNode *at, const char *key, int prefix,
                      const char *fmt, va_list ap) {
  if (s->err == NULL || s->err->code != DP_OK) {
    return DP_ERR_INVALID;
  }
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  char file[256];
  int line = 0, column = 0;
  if (at != NULL && at->set != NULL) {
    snprintf(file, sizeof file, "--set %s", at->set);
  } else {
    snprintf(file, sizeof file, "%s", s->file != NULL ? s->file : "");
    if (at != NULL) {
      line = at->line;
      column = at->column;
    }
  }
  if (prefix && s->what != NULL && s->what[0] != '\0') {
    dp_error_set(s->err, DP_ERR_INVALID, file, line, column, "%s: %s", s->what, msg);
  } else {
    dp_error_set(s->err, DP_ERR_INVALID, file, line, column, "%s", msg);
  }
  const char *path = s->path != NULL ? s->path : "";
  if (key != NULL) {
    snprintf(s->err->key, sizeof s->err->key, "%s%s%s", path, path[0] ? "." : "", key);
  } else {
    snprintf(s->err->key, sizeof s->err->key, "%s", path);
  }
  return DP_ERR_INVALID;
}

dpStatus dp_yaml_fail(const dpYScope *s, const dpYNode *at, const char *key, const char *fmt,
                      ...) {
  va_list ap;
  va_start(ap, fmt);
  dpStatus st = vfail(s, at, key, 1, fmt, ap);
  va_end(ap);
  return st;
}

static dpStatus fail_plain(const dpYScope *s, const dpYNode *at, const char *key,
                           const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static dpStatus fail_plain(const dpYScope *s, const dpYNode *at, const char *key,
                           const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dpStatus st = vfail(s, at, key, 0, fmt, ap);
  va_end(ap);
  return st;
}

dpStatus dp_yaml_check_map(const dpYScope *s, const dpYNode *n, const char *key,
                           const char *const *allowed, size_t nallowed) {
  if (n->kind != DP_Y_MAP) {
    char got[64];
    dp_yaml_describe(n, got, sizeof got);
    return dp_yaml_fail(s, n, key, "'%s' must be a mapping (got %s)", key, got);
  }
  for (size_t i = 0; i < n->n; i++) {
    const dpYNode *k = n->keys[i];
    int known = 0;
    for (size_t j = 0; j < nallowed && !known; j++) {
      known = strcmp(k->text, allowed[j]) == 0;
    }
    if (known) {
      continue;
    }
    char where[192];
    if (s->what != NULL && s->what[0] != '\0') {
      snprintf(where, sizeof where, "key '%.60s' in %.120s", k->text, s->what);
    } else {
      snprintf(where, sizeof where, "top-level key '%.60s'", k->text);
    }
    const char *sug = dp_yaml_suggest(k->text, allowed, nallowed);
    if (sug != NULL) {
      return fail_plain(s, k, k->text, "unknown %s (did you mean '%s'?)", where, sug);
    }
    char list[300];
    size_t at = 0;
    list[0] = '\0';
    for (size_t j = 0; j < nallowed && at < sizeof list; j++) {
      at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", j ? ", " : "", allowed[j]);
    }
    return fail_plain(s, k, k->text, "unknown %s (expected one of: %s)", where, list);
  }
  return DP_OK;
}

dpStatus dp_yaml_require(const dpYScope *s, const dpYNode *map, const char *key) {
  if (dp_yaml_get(map, key, NULL) != NULL) {
    return DP_OK;
  }
  return dp_yaml_fail(s, map, key, "missing required key '%s'", key);
}

// ---- typed readers ------------------------------------------------------------------------------

dpStatus dp_yaml_number(const dpYScope *s, const dpYNode *n, const char *key, double *out) {
  char got[64];
  dp_yaml_describe(n, got, sizeof got);
  dpYType t = n->kind == DP_Y_SCALAR ? dp_yaml_type(n) : DP_YT_STR;
  if (t == DP_YT_NONFINITE) {
    return dp_yaml_fail(s, n, key, "'%s': value must be finite (got %s)", key, got);
  }
  if (n->kind != DP_Y_SCALAR || (t != DP_YT_INT && t != DP_YT_FLOAT)) {
    return dp_yaml_fail(s, n, key, "'%s' must be a number (got %s)", key, got);
  }
  *out = strtod(n->text, NULL);
  return DP_OK;
}

dpStatus dp_yaml_number_in(const dpYScope *s, const dpYNode *n, const char *key, double lo,
                           int lo_open, double hi, double *out) {
  double v;
  dpStatus st = dp_yaml_number(s, n, key, &v);
  if (st != DP_OK) {
    return st;
  }
  if (lo_open ? !(v > lo) : !(v >= lo)) {
    return dp_yaml_fail(s, n, key, "'%s' must be %s %g (got %s)", key, lo_open ? ">" : ">=", lo,
                        n->text);
  }
  if (v > hi) {
    return dp_yaml_fail(s, n, key, "'%s' must be <= %g (got %s)", key, hi, n->text);
  }
  *out = v;
  return DP_OK;
}

dpStatus dp_yaml_int(const dpYScope *s, const dpYNode *n, const char *key, long long lo,
                     long long hi, long long *out) {
  double v;
  dpStatus st = dp_yaml_number(s, n, key, &v);
  if (st != DP_OK) {
    return st;
  }
  if (v != floor(v)) {
    return dp_yaml_fail(s, n, key, "'%s' must be an integer (got %s)", key, n->text);
  }
  if (v < (double)lo) {
    return dp_yaml_fail(s, n, key, "'%s' must be >= %lld (got %s)", key, lo, n->text);
  }
  if (v > (double)hi) {
    if (v < 1e18) {
      return dp_yaml_fail(s, n, key, "'%s' is too large (%.0f > %lld)", key, v, hi);
    }
    return dp_yaml_fail(s, n, key, "'%s' is too large (%g > %lld)", key, v, hi);
  }
  *out = (long long)v;
  return DP_OK;
}

dpStatus dp_yaml_vec(const dpYScope *s, const dpYNode *n, const char *key, int dim, double lo,
                     int lo_open, double *out) {
  if (n->kind != DP_Y_SEQ) {
    char got[64];
    dp_yaml_describe(n, got, sizeof got);
    return dp_yaml_fail(s, n, key, "'%s' must be a list of %d numbers (got %s)", key, dim, got);
  }
  if (n->n != (size_t)dim) {
    return dp_yaml_fail(s, n, key, "'%s' must be a list of %d numbers (got %zu)", key, dim,
                        n->n);
  }
  for (int i = 0; i < dim; i++) {
    char k[160];
    snprintf(k, sizeof k, "%.140s[%d]", key, i);
    dpStatus st = dp_yaml_number_in(s, n->items[i], k, lo, lo_open, INFINITY, &out[i]);
    if (st != DP_OK) {
      return st;
    }
  }
  return DP_OK;
}

dpStatus dp_yaml_bool(const dpYScope *s, const dpYNode *n, const char *key, int *out) {
  if (n->kind != DP_Y_SCALAR || dp_yaml_type(n) != DP_YT_BOOL) {
    char got[64];
    dp_yaml_describe(n, got, sizeof got);
    return dp_yaml_fail(s, n, key, "'%s' must be true or false (got %s)", key, got);
  }
  *out = n->text[0] == 't' || n->text[0] == 'T';
  return DP_OK;
}

dpStatus dp_yaml_string(const dpYScope *s, const dpYNode *n, const char *key, const char **out) {
  if (n->kind != DP_Y_SCALAR || dp_yaml_type(n) != DP_YT_STR) {
    char got[64];
    dp_yaml_describe(n, got, sizeof got);
    return dp_yaml_fail(s, n, key, "'%s' must be a string (got %s)", key, got);
  }
  *out = n->text;
  return DP_OK;
}

dpStatus dp_yaml_enum(const dpYScope *s, const dpYNode *n, const char *key,
                      const char *const *choices, size_t nchoices, int *out) {
  const char *v;
  dpStatus st = dp_yaml_string(s, n, key, &v);
  if (st != DP_OK) {
    return st;
  }
  for (size_t i = 0; i < nchoices; i++) {
    if (strcmp(v, choices[i]) == 0) {
      *out = (int)i;
      return DP_OK;
    }
  }
  char list[256];
  size_t at = 0;
  list[0] = '\0';
  for (size_t j = 0; j < nchoices && at < sizeof list; j++) {
    at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", j ? ", " : "", choices[j]);
  }
  return dp_yaml_fail(s, n, key, "'%s' must be one of %s (got '%.60s')", key, list, v);
}

// ---- --set --------------------------------------------------------------------------------------

static int has_glob(const char *s) {
  return strpbrk(s, "*?[") != NULL;
}

static int is_index(const char *s) {
  return s[0] != '\0' && *skip_digits(s) == '\0';
}

typedef struct {
  char *comp[MAX_COMPONENTS];
  int ncomp;
  const char *keys[MAX_COMPONENTS];
  const dpYNode *value;
  dpYInsertFn may_insert;
  void *ud;
  size_t count;
  dpError *err;
} dpApply;

static dpStatus assign(dpApply *a, dpYNode **slot) {
  dpYNode *c = dp_yaml_copy(a->value, NULL);
  if (c == NULL) {
    return dp_error_set(a->err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
  }
  dp_yaml_free(*slot);
  *slot = c;
  a->count++;
  return DP_OK;
}

static dpStatus apply_at(dpApply *a, dpYNode *node, int depth) {
  const char *comp = a->comp[depth];
  int last = depth == a->ncomp - 1;
  dpStatus st = DP_OK;
  if (node->kind == DP_Y_MAP) {
    if (has_glob(comp)) {
      for (size_t i = 0; st == DP_OK && i < node->n; i++) {
        if (fnmatch(comp, node->keys[i]->text, 0) != 0) {
          continue;
        }
        a->keys[depth] = node->keys[i]->text;
        st = last ? assign(a, &node->items[i]) : apply_at(a, node->items[i], depth + 1);
      }
      return st;
    }
    size_t i;
    if (dp_yaml_get(node, comp, &i) != NULL) {
      a->keys[depth] = node->keys[i]->text;
      return last ? assign(a, &node->items[i]) : apply_at(a, node->items[i], depth + 1);
    }
    if (last && a->may_insert != NULL && a->may_insert(a->keys, depth, comp, a->ud)) {
      dpYNode *c = dp_yaml_copy(a->value, NULL);
      if (c == NULL || !dp_yaml_put(node, comp, c, a->value->set)) {
        return dp_error_set(a->err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
      }
      a->count++;
    }
    return DP_OK;
  }
  if (node->kind == DP_Y_SEQ) {
    int all = strcmp(comp, "*") == 0;
    if (!all && !is_index(comp)) {
      return DP_OK;
    }
    size_t lo = 0, hi = node->n;
    if (!all) {
      lo = (size_t)strtoull(comp, NULL, 10);
      hi = lo + 1;
      if (lo >= node->n) {
        return DP_OK;
      }
    }
    for (size_t i = lo; st == DP_OK && i < hi; i++) {
      a->keys[depth] = comp;
      st = last ? assign(a, &node->items[i]) : apply_at(a, node->items[i], depth + 1);
    }
  }
  return st;
}

dpStatus dp_yaml_apply(dpYNode *root, const char *path, const dpYNode *value,
                       dpYInsertFn may_insert, void *ud, size_t *count, dpError *err) {
  *count = 0;
  if (root == NULL) {
    return DP_OK;
  }
  char *buf = dp_strdup(path);
  if (buf == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
  }
  dpApply a;
  memset(&a, 0, sizeof a);
  a.value = value;
  a.may_insert = may_insert;
  a.ud = ud;
  a.err = err;
  dpStatus st = DP_OK;
  for (char *p = buf, *save = NULL, *tok; (tok = strtok_r(p, ".", &save)) != NULL; p = NULL) {
    if (a.ncomp == MAX_COMPONENTS) {
      st = dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "path '%s' is too deep", path);
      break;
    }
    a.comp[a.ncomp++] = tok;
  }
  if (st == DP_OK && a.ncomp > 0) {
    st = apply_at(&a, root, 0);
  }
  *count = a.count;
  dp_free(buf);
  return st;
}
