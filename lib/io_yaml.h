// A small strict layer over libyaml's document API: the document becomes a tree of dpYNode
// (kind, scalar text, children, 1-based positions, the --set override a value came from), with
// typed readers that fail with "file:line:column" messages and "did you mean" suggestions.
#ifndef DP_IO_YAML_H
#define DP_IO_YAML_H

#include <stddef.h>

#include "dp/dp.h"

typedef enum dpYKind { DP_Y_SCALAR = 0, DP_Y_SEQ, DP_Y_MAP } dpYKind;

typedef struct dpYNode {
  dpYKind kind;
  char *text;               // scalar: its text (NUL-terminated); NULL otherwise
  int quoted;               // scalar written quoted or as a block: always a string
  int line, column;         // 1-based start position; 0 for values from --set
  const char *set;          // the "path=value" override this node came from, or NULL
  size_t n, cap;            // sequence items / mapping pairs
  struct dpYNode **keys;    // mapping: key scalars (n)
  struct dpYNode **items;   // sequence items / mapping values (n)
} dpYNode;

// How a plain scalar resolves (YAML 1.2 core schema, decimal numbers only).
typedef enum dpYType { DP_YT_NULL, DP_YT_BOOL, DP_YT_INT, DP_YT_FLOAT, DP_YT_NONFINITE,
                       DP_YT_STR } dpYType;

// Where a reader is: the file for messages, the error record, the entity being read
// ("particle 'ball'", "" at top level) and the dotted path of the enclosing mapping
// ("particles.ball", "" at top level) used for dpError.key.
typedef struct dpYScope {
  const char *file;
  dpError *err;
  const char *what;
  const char *path;
} dpYScope;

// Parse one YAML document. *root is NULL for an empty document (no content). Syntax errors are
// DP_ERR_INVALID at the problem's position; duplicate keys, non-scalar keys, a second document,
// nesting deeper than 64 and runaway alias expansion are errors too.
dpStatus dp_yaml_parse(const char *text, size_t len, const char *file, dpYNode **root,
                       dpError *err);
// Parse an override value ("2.5", "[0, 0, -1]", "rk4") as one flow node; every node of the
// result has set = `set` and position 0. An empty value is a null scalar.
dpStatus dp_yaml_parse_value(const char *text, const char *set, dpYNode **out, dpError *err);
dpYNode *dp_yaml_copy(const dpYNode *n, const char *set);
void dp_yaml_free(dpYNode *n);

// Mapping lookup: the value of key, or NULL (idx receives the pair index when non-NULL).
dpYNode *dp_yaml_get(const dpYNode *map, const char *key, size_t *idx);
// Replace or append a mapping pair; takes ownership of value. Returns 0 on allocation failure.
int dp_yaml_put(dpYNode *map, const char *key, dpYNode *value, const char *set);

// Building a tree (for writers): a scalar (text copied; quoted: a string whatever its text), an
// empty sequence or mapping, all with position 0 and no --set; NULL when out of memory.
dpYNode *dp_yaml_new_scalar(const char *text, int quoted);
dpYNode *dp_yaml_new(dpYKind kind);
// Append item to a sequence; takes ownership (freed on failure). Returns 0 on allocation failure.
int dp_yaml_push(dpYNode *seq, dpYNode *item);
// Append a pair without looking for key first (the caller knows it is new); takes ownership of
// value. Returns 0 on allocation failure.
int dp_yaml_append(dpYNode *map, const char *key, dpYNode *value);
// Remove the pair of key from a mapping (the later pairs keep their order); 1 when it was there.
int dp_yaml_remove(dpYNode *map, const char *key);

// The tree as YAML text (dp_malloc'ed, NUL-terminated, *len bytes when len is non-NULL), or NULL
// when out of memory. comment: lines put first, each prefixed with "# ", or NULL.
// Block mappings with keys in tree order; a sequence of scalars, or of sequences of scalars, as
// one flow line ([0, 0, 1], [[0, 0], [0, -1]]); deeper or mixed sequences and the mappings below
// the top-level sections in flow style when they fit in 100 columns, in block style otherwise
// (- {path: gravity, lower: -20}). A scalar is written plain when that reads back as the same
// text and type (a quoted scalar only when it reads as a string in YAML 1.2 and 1.1 alike),
// double-quoted with escapes otherwise; an empty plain scalar (null) as null. The text read back
// with dp_yaml_parse gives the same tree, aliases expanded.
char *dp_yaml_emit(const dpYNode *root, const char *comment, size_t *len);

// Scalar resolution and a short description of a node for "(got ...)" messages.
dpYType dp_yaml_type(const dpYNode *n);
void dp_yaml_describe(const dpYNode *n, char *buf, size_t size);

// The nearest candidate to word (Levenshtein distance <= 3 and smaller than both lengths, or a
// prefix either way), or NULL.
const char *dp_yaml_suggest(const char *word, const char *const *cand, size_t ncand);

// Fill the error at node `at` (its position, or "--set ..." for override values). key is the
// offending key (joined to scope->path for dpError.key), may be NULL. The message gets the
// prefix "<what>: " when scope->what is not empty.
dpStatus dp_yaml_fail(const dpYScope *s, const dpYNode *at, const char *key, const char *fmt,
                      ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

// Require `n` to be a mapping (named `key` in messages), and each of its keys to be in
// allowed[0..nallowed): "unknown key 'mas' in particle 'ball' (did you mean 'mass'?)".
dpStatus dp_yaml_check_map(const dpYScope *s, const dpYNode *n, const char *key,
                           const char *const *allowed, size_t nallowed);
// Fail with "missing required key 'key'" at the mapping when key is absent.
dpStatus dp_yaml_require(const dpYScope *s, const dpYNode *map, const char *key);

// Typed readers; each fails with the key name and what it got.
dpStatus dp_yaml_number(const dpYScope *s, const dpYNode *n, const char *key, double *out);
// Number with a range: lo/hi bounds, *_open: strict (> lo, < hi). Use ±INFINITY for none.
dpStatus dp_yaml_number_in(const dpYScope *s, const dpYNode *n, const char *key, double lo,
                           int lo_open, double hi, double *out);
// Integral number in [lo, hi]; above hi: "'steps' is too large (X > hi)".
dpStatus dp_yaml_int(const dpYScope *s, const dpYNode *n, const char *key, long long lo,
                     long long hi, long long *out);
// A sequence of exactly `dim` numbers, each >= lo (or > lo when lo_open).
dpStatus dp_yaml_vec(const dpYScope *s, const dpYNode *n, const char *key, int dim, double lo,
                     int lo_open, double *out);
dpStatus dp_yaml_bool(const dpYScope *s, const dpYNode *n, const char *key, int *out);
// A string scalar (not null, bool or number unless quoted); *out points into the node.
dpStatus dp_yaml_string(const dpYScope *s, const dpYNode *n, const char *key, const char **out);
// A string from choices; returns its index in *out.
dpStatus dp_yaml_enum(const dpYScope *s, const dpYNode *n, const char *key,
                      const char *const *choices, size_t nchoices, int *out);

// --set: assign a copy of value at the dotted path. A '*'/'?' component matches keys by
// fnmatch; an integer component indexes a sequence. A literal last component that is absent
// from its mapping is inserted when may_insert(keys, depth, key, ud) says it is allowed there
// (keys: the concrete keys leading to that mapping). *count receives the number of places
// assigned (0: the path does not resolve in the document).
typedef int (*dpYInsertFn)(const char *const *keys, int depth, const char *key, void *ud);
dpStatus dp_yaml_apply(dpYNode *root, const char *path, const dpYNode *value,
                       dpYInsertFn may_insert, void *ud, size_t *count, dpError *err);

#endif
