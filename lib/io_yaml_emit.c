// The YAML emitter for dpYNode trees (used to write optimized scenes): block mappings in tree
// order, short sequences in flow style, scalars plain when that reads back as the same text and
// type under the YAML 1.2 core schema (YAML 1.2.2, §10.3), double-quoted otherwise (§7.3.1).
#include "io_yaml.h"

#include <stdint.h>
#include <string.h>

#define WIDTH 100

// A growing text; counting only (s unused) when count is set. oom sticks.
typedef struct {
  char *s;
  size_t n, cap;
  int count;
  int oom;
} dpBuf;

static void buf_put(dpBuf *b, const char *s, size_t n) {
  if (b->oom) {
    return;
  }
  if (b->count) {
    b->n += n;
    return;
  }
  if (b->n + n + 1 > b->cap) {
    size_t ncap = b->cap == 0 ? 1024 : b->cap;
    while (b->n + n + 1 > ncap) {
      ncap *= 2;
    }
    char *ns = dp_realloc(b->s, b->cap, ncap);
    if (ns == NULL) {
      b->oom = 1;
      return;
    }
    b->s = ns;
    b->cap = ncap;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = '\0';
}

static void buf_str(dpBuf *b, const char *s) {
  buf_put(b, s, strlen(s));
}

static void buf_indent(dpBuf *b, int n) {
  static const char spaces[] = "                                ";
  while (n > 0) {
    int k = n < 32 ? n : 32;
    buf_put(b, spaces, (size_t)k);
    n -= k;
  }
}

// ---- scalars ------------------------------------------------------------------------------------

// Length of a UTF-8 line break or byte-order mark at p (NEL, LS, PS, BOM), or 0: libyaml treats
// them as breaks inside plain scalars, so such text is quoted and the character escaped.
static size_t special_char(const unsigned char *p) {
  if (p[0] == 0xC2 && p[1] == 0x85) {
    return 2;
  }
  if (p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) {
    return 3;
  }
  if (p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
    return 3;
  }
  return 0;
}

// Can t be written plain, in block and flow context alike, and read back with the same text?
// Conservative: no indicator first, no ':' or flow indicator anywhere, no " #", no control
// characters, no leading or trailing space.
static int plain_safe(const char *t) {
  const unsigned char *u = (const unsigned char *)t;
  size_t len = strlen(t);
  if (len == 0 || t[0] == ' ' || t[len - 1] == ' ') {
    return 0;
  }
  if (strchr("?:,[]{}#&*!|>'\"%@`", t[0]) != NULL) {
    return 0;
  }
  if (t[0] == '-' && (t[1] == '\0' || t[1] == ' ' || strncmp(t, "---", 3) == 0)) {
    return 0;
  }
  if (strncmp(t, "...", 3) == 0) {
    return 0;
  }
  for (size_t i = 0; i < len; i++) {
    if (u[i] < 0x20 || u[i] == 0x7f || strchr(":,[]{}", t[i]) != NULL ||
        (t[i] == '#' && i > 0 && t[i - 1] == ' ') || special_char(u + i) > 0) {
      return 0;
    }
  }
  return 1;
}

// Would a YAML 1.1 reader (PyYAML's default, many editors) take plain t for something other
// than a string? Booleans yes/no/on/off/y/n, merge and value keys, and anything starting like a
// number (0x1F, 1_000, 1:30 are numbers there).
static int yaml11_special(const char *t) {
  static const char *const words[] = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
                                      "on", "On", "ON", "off", "Off", "OFF", "<<", "="};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    if (strcmp(t, words[i]) == 0) {
      return 1;
    }
  }
  const char *p = t + (t[0] == '+' || t[0] == '-');
  p += p[0] == '.';
  return p[0] >= '0' && p[0] <= '9';
}

static int write_plain(const dpYNode *n) {
  if (!plain_safe(n->text)) {
    return 0;
  }
  if (!n->quoted) {
    return 1;
  }
  dpYNode probe = *n;
  probe.quoted = 0;
  return dp_yaml_type(&probe) == DP_YT_STR && !yaml11_special(n->text);
}

static void emit_quoted(dpBuf *b, const char *t) {
  static const char hex[] = "0123456789ABCDEF";
  const unsigned char *u = (const unsigned char *)t;
  buf_put(b, "\"", 1);
  size_t run = 0;  // bytes copied as they are, pending
  for (size_t i = 0; u[i] != '\0'; i++) {
    const char *esc = NULL;
    char hx[5];
    size_t skip = 1;
    switch (u[i]) {
      case '"': esc = "\\\""; break;
      case '\\': esc = "\\\\"; break;
      case '\n': esc = "\\n"; break;
      case '\t': esc = "\\t"; break;
      case '\r': esc = "\\r"; break;
      default:
        if (u[i] < 0x20 || u[i] == 0x7f) {
          hx[0] = '\\';
          hx[1] = 'x';
          hx[2] = hex[u[i] >> 4];
          hx[3] = hex[u[i] & 15];
          hx[4] = '\0';
          esc = hx;
        } else if ((skip = special_char(u + i)) > 0) {
          esc = u[i] == 0xC2 ? "\\N" : u[i] == 0xEF ? "\\uFEFF" : u[i + 2] == 0xA8 ? "\\L" : "\\P";
        } else {
          skip = 1;
        }
    }
    if (esc == NULL) {
      run++;
      continue;
    }
    buf_put(b, t + i - run, run);
    run = 0;
    buf_str(b, esc);
    i += skip - 1;
  }
  size_t len = strlen(t);
  buf_put(b, t + len - run, run);
  buf_put(b, "\"", 1);
}

static void emit_scalar(dpBuf *b, const dpYNode *n) {
  if (!n->quoted && n->text[0] == '\0') {
    buf_str(b, "null");
  } else if (write_plain(n)) {
    buf_str(b, n->text);
  } else {
    emit_quoted(b, n->text);
  }
}

// ---- flow and block styles ----------------------------------------------------------------------

static void emit_flow(dpBuf *b, const dpYNode *n) {
  if (n->kind == DP_Y_SCALAR) {
    emit_scalar(b, n);
    return;
  }
  buf_put(b, n->kind == DP_Y_MAP ? "{" : "[", 1);
  for (size_t i = 0; i < n->n; i++) {
    if (i > 0) {
      buf_put(b, ", ", 2);
    }
    if (n->kind == DP_Y_MAP) {
      emit_scalar(b, n->keys[i]);
      buf_put(b, ": ", 2);
    }
    emit_flow(b, n->items[i]);
  }
  buf_put(b, n->kind == DP_Y_MAP ? "}" : "]", 1);
}

static size_t flow_width(const dpYNode *n) {
  dpBuf c = {NULL, 0, 0, 1, 0};
  emit_flow(&c, n);
  return c.n;
}

// Nesting of sequences below n (a scalar 0, a vector 1, a list of vectors 2); mappings count as
// deep.
static int seq_nesting(const dpYNode *n) {
  if (n->kind == DP_Y_SCALAR) {
    return 0;
  }
  if (n->kind == DP_Y_MAP) {
    return 100;
  }
  int d = 0;
  for (size_t i = 0; i < n->n && d < 100; i++) {
    int k = seq_nesting(n->items[i]);
    d = k > d ? k : d;
  }
  return d + 1;
}

// Flow style for n (depth: 0 the root, 1 a top-level section) starting at column col?
static int use_flow(const dpYNode *n, int depth, size_t col) {
  if (n->kind == DP_Y_SCALAR || n->n == 0) {
    return 1;
  }
  if (n->kind == DP_Y_SEQ) {
    int d = seq_nesting(n);
    if (d <= 2 || d >= 100) {  // vectors and lists of them; lists of mappings in block style
      return d <= 2;
    }
  }
  if (n->kind == DP_Y_MAP && depth < 2) {
    return 0;
  }
  return col + flow_width(n) <= WIDTH;
}

static void emit_block(dpBuf *b, const dpYNode *n, int depth, int indent, int inline_first);

// n follows "key:" or "-" ending at column col; a block below it is indented by indent.
static void emit_value(dpBuf *b, const dpYNode *n, int depth, size_t col, int indent,
                       int in_seq) {
  if (use_flow(n, depth, col + 1)) {
    buf_put(b, " ", 1);
    emit_flow(b, n);
    buf_put(b, "\n", 1);
  } else if (in_seq) {
    // Compact: "- key: value" / "- - item", the rest aligned under the first.
    buf_put(b, " ", 1);
    emit_block(b, n, depth, indent, 1);
  } else {
    buf_put(b, "\n", 1);
    emit_block(b, n, depth, indent, 0);
  }
}

// A block mapping or sequence at indent; inline_first: the first line's indent is written.
static void emit_block(dpBuf *b, const dpYNode *n, int depth, int indent, int inline_first) {
  for (size_t i = 0; i < n->n && !b->oom; i++) {
    if (i > 0 || !inline_first) {
      buf_indent(b, indent);
    }
    if (n->kind == DP_Y_MAP) {
      size_t before = b->n;
      emit_scalar(b, n->keys[i]);
      buf_put(b, ":", 1);
      size_t keyw = b->n - before;
      emit_value(b, n->items[i], depth + 1, (size_t)indent + keyw, indent + 2, 0);
    } else {
      buf_put(b, "-", 1);
      emit_value(b, n->items[i], depth + 1, (size_t)indent + 1, indent + 2, 1);
    }
  }
}

char *dp_yaml_emit(const dpYNode *root, const char *comment, size_t *len) {
  dpBuf b = {NULL, 0, 0, 0, 0};
  buf_put(&b, "", 0);  // an empty result is "", not NULL
  for (const char *p = comment; p != NULL && *p != '\0';) {
    const char *e = strchr(p, '\n');
    size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
    buf_put(&b, n > 0 ? "# " : "#", n > 0 ? 2 : 1);
    // Other line breaks (CR, NEL, LS, PS) would end the comment: they become spaces.
    for (size_t i = 0; i < n; i++) {
      const unsigned char *u = (const unsigned char *)p + i;
      size_t k = *u < 0x20 || *u == 0x7f ? 1 : special_char(u);
      if (k > 0) {
        buf_put(&b, " ", 1);
        i += k - 1;
      } else {
        buf_put(&b, p + i, 1);
      }
    }
    buf_put(&b, "\n", 1);
    p = e != NULL ? e + 1 : p + n;
  }
  if (root != NULL) {
    if (root->kind != DP_Y_SCALAR && root->n > 0) {
      emit_block(&b, root, 0, 0, 0);
    } else {
      emit_flow(&b, root);
      buf_put(&b, "\n", 1);
    }
  }
  if (b.oom) {
    dp_free(b.s);
    return NULL;
  }
  if (len != NULL) {
    *len = b.n;
  }
  return b.s;
}
