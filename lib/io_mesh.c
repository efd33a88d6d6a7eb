// Meshes for soft bodies and cloth: Kuhn-split boxes and checkerboard grids, the TetGen, Gmsh MSH
// (ASCII 2.2 and 4.1) and Wavefront OBJ readers, the mesh check, cloth hinges and tet surfaces.
// A reader loads the whole file, splits it into lines and whitespace-separated tokens in place,
// and names file:line:column in every message. Formats: TetGen 1.5 user's manual §5; Gmsh
// reference manual, "MSH file format"; Wavefront Advanced Visualizer manual, appendix B1.
#include "io_mesh.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// A tet (triangle) smaller than this times the bounding-box diagonal cubed (squared) is
// degenerate: its stiffness matrix would be singular to working precision.
#define DEGENERATE_TOL 1e-12
// Attribute columns accepted in a TetGen header; far above any real file, it bounds the
// per-line token count before anything is allocated.
#define MAX_ATTRIBUTES 4096

// ============================================================================================
// Errors and growing arrays

static dpStatus vinvalid(dpError *err, const char *path, int line, int col, const char *fmt,
                         va_list ap) {
  char msg[440];
  vsnprintf(msg, sizeof msg, fmt, ap);
  if (path == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "generated mesh: %s", msg);
  }
  return dp_error_set(err, DP_ERR_INVALID, path, line, col, "%s", msg);
}

#if defined(__GNUC__)
#define DP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DP_PRINTF(a, b)
#endif

static dpStatus invalid(dpError *err, const char *path, int line, int col, const char *fmt, ...)
    DP_PRINTF(5, 6);
static dpStatus invalid(dpError *err, const char *path, int line, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dpStatus st = vinvalid(err, path, line, col, fmt, ap);
  va_end(ap);
  return st;
}

static dpStatus nomem(dpError *err, const char *path) {
  return dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
}

// A growing array; n and cap count elements of the size given to vec_add.
typedef struct Vec {
  void *p;
  size_t n;
  size_t cap;
} Vec;

// Room for k more elements of es bytes; returns the first of them, or NULL when out of memory.
static void *vec_add(Vec *v, size_t k, size_t es) {
  if (v->n + k > v->cap) {
    size_t ncap = v->cap < 64 ? 64 : v->cap;
    while (ncap < v->n + k) {
      ncap *= 2;
    }
    if (ncap > SIZE_MAX / es) {
      return NULL;
    }
    void *q = dp_realloc(v->p, v->cap * es, ncap * es);
    if (q == NULL) {
      return NULL;
    }
    v->p = q;
    v->cap = ncap;
  }
  void *r = (char *)v->p + v->n * es;
  v->n += k;
  return r;
}

static void vec_free(Vec *v) {
  dp_free(v->p);
  memset(v, 0, sizeof *v);
}

// A mesh being read: vertices with their source lines, and both element kinds with theirs.
typedef struct Build {
  Vec X;      // double, 3 per vertex
  Vec vline;  // int per vertex
  Vec tet;    // int, 4 per tet
  Vec tline;  // int per tet
  Vec tri;    // int, 3 per triangle
  Vec fline;  // int per triangle
} Build;

static void build_free(Build *b) {
  vec_free(&b->X);
  vec_free(&b->vline);
  vec_free(&b->tet);
  vec_free(&b->tline);
  vec_free(&b->tri);
  vec_free(&b->fline);
}

static dpStatus add_vertex(Build *b, const double x[3], int line, const char *path,
                           dpError *err) {
  if (b->vline.n >= INT_MAX) {
    return invalid(err, path, line, 0, "too many vertices (more than %d)", INT_MAX);
  }
  double *p = vec_add(&b->X, 3, sizeof(double));
  int *l = p != NULL ? vec_add(&b->vline, 1, sizeof(int)) : NULL;
  if (l == NULL) {
    if (p != NULL) {
      b->X.n -= 3;
    }
    return nomem(err, path);
  }
  memcpy(p, x, 3 * sizeof(double));
  *l = line;
  return DP_OK;
}

// Append an element of k (4 or 3) vertices to the tets or the triangles.
static dpStatus add_element(Build *b, int k, const int *v, int line, const char *path,
                            dpError *err) {
  Vec *ev = k == 4 ? &b->tet : &b->tri;
  Vec *lv = k == 4 ? &b->tline : &b->fline;
  if (lv->n >= INT_MAX) {
    return invalid(err, path, line, 0, "too many elements (more than %d)", INT_MAX);
  }
  int *p = vec_add(ev, (size_t)k, sizeof(int));
  int *l = p != NULL ? vec_add(lv, 1, sizeof(int)) : NULL;
  if (l == NULL) {
    if (p != NULL) {
      ev->n -= (size_t)k;
    }
    return nomem(err, path);
  }
  memcpy(p, v, (size_t)k * sizeof(int));
  *l = line;
  return DP_OK;
}

// Move the vertices and one element kind (tets when tets != 0) into out; b keeps the rest.
static void build_take(Build *b, int tets, dpMesh *out) {
  memset(out, 0, sizeof *out);
  out->nv = (int)b->vline.n;
  out->X = b->X.p;
  memset(&b->X, 0, sizeof b->X);
  if (tets) {
    out->ntet = (int)b->tline.n;
    out->tet = b->tet.p;
    out->line = b->tline.p;
    memset(&b->tet, 0, sizeof b->tet);
    memset(&b->tline, 0, sizeof b->tline);
  } else {
    out->ntri = (int)b->fline.n;
    out->tri = b->tri.p;
    out->line = b->fline.p;
    memset(&b->tri, 0, sizeof b->tri);
    memset(&b->fline, 0, sizeof b->fline);
  }
}

void dp_mesh_free(dpMesh *m) {
  if (m == NULL) {
    return;
  }
  dp_free(m->X);
  dp_free(m->tet);
  dp_free(m->tri);
  dp_free(m->line);
  memset(m, 0, sizeof *m);
}

// ============================================================================================
// Generated meshes

// Kuhn subdivision of the unit cube: corner c has offset (c & 1, c >> 1 & 1, c >> 2 & 1). Tet p
// walks from corner 0 to corner 7 along the axes in the order of permutation p; the walks of
// odd permutations have their last two corners swapped so that every tet is positive.
static const int KUHN[6][4] = {
    {0, 1, 3, 7},  // x y z (even)
    {0, 1, 7, 5},  // x z y (odd)
    {0, 2, 7, 3},  // y x z (odd)
    {0, 2, 6, 7},  // y z x (even)
    {0, 4, 5, 7},  // z x y (even)
    {0, 4, 7, 6},  // z y x (odd)
};

static int size_ok(double s) {
  return s > 0 && isfinite(s);
}

dpStatus dp_mesh_box_tets(const double size[3], const int res[3], dpMesh *out, dpError *err) {
  if (out == NULL || size == NULL || res == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "box mesh: size, res or out is NULL");
  }
  memset(out, 0, sizeof *out);
  for (int a = 0; a < 3; a++) {
    if (!size_ok(size[a])) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "box mesh: size[%d] must be a positive number of metres, found %g", a,
                          size[a]);
    }
    if (res[a] < 1) {
      return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "box mesh: res[%d] must be at least 1 cell, found %d", a, res[a]);
    }
  }
  double nv = (double)(res[0] + 1.0) * (res[1] + 1.0) * (res[2] + 1.0);
  double nt = 6.0 * res[0] * (double)res[1] * res[2];
  if (nv > INT_MAX || nt > INT_MAX) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "box mesh: %d x %d x %d cells give more than %d vertices or tetrahedra",
                        res[0], res[1], res[2], INT_MAX);
  }
  int n0 = res[0] + 1, n1 = res[1] + 1;
  dpMesh m = {0};
  m.nv = (int)nv;
  m.ntet = (int)nt;
  m.X = dp_malloc((size_t)m.nv * 3 * sizeof(double));
  m.tet = dp_malloc((size_t)m.ntet * 4 * sizeof(int));
  m.line = dp_calloc((size_t)m.ntet, sizeof(int));
  if (m.X == NULL || m.tet == NULL || m.line == NULL) {
    dp_mesh_free(&m);
    return nomem(err, NULL);
  }
  for (int k = 0; k <= res[2]; k++) {
    for (int j = 0; j <= res[1]; j++) {
      for (int i = 0; i <= res[0]; i++) {
        double *x = m.X + 3 * ((size_t)i + (size_t)n0 * ((size_t)j + (size_t)n1 * k));
        // (i/res − 1/2)·size puts both faces exactly at ±size/2.
        x[0] = ((double)i / res[0] - 0.5) * size[0];
        x[1] = ((double)j / res[1] - 0.5) * size[1];
        x[2] = ((double)k / res[2] - 0.5) * size[2];
      }
    }
  }
  int *t = m.tet;
  for (int k = 0; k < res[2]; k++) {
    for (int j = 0; j < res[1]; j++) {
      for (int i = 0; i < res[0]; i++) {
        for (int p = 0; p < 6; p++) {
          for (int q = 0; q < 4; q++) {
            int c = KUHN[p][q];
            *t++ = (i + (c & 1)) + n0 * ((j + (c >> 1 & 1)) + n1 * (k + (c >> 2 & 1)));
          }
        }
      }
    }
  }
  *out = m;
  return DP_OK;
}

dpStatus dp_mesh_grid_tris(double size_x, double size_y, int nx, int ny, dpMesh *out,
                           dpError *err) {
  if (out == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "grid mesh: out is NULL");
  }
  memset(out, 0, sizeof *out);
  if (!size_ok(size_x) || !size_ok(size_y)) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "grid mesh: the size must be positive numbers of metres, found %g x %g",
                        size_x, size_y);
  }
  if (nx < 1 || ny < 1) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "grid mesh: need at least 1 x 1 cells, found %d x %d", nx, ny);
  }
  double nv = (nx + 1.0) * (ny + 1.0);
  if (nv > INT_MAX || 2.0 * nx * ny > INT_MAX) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "grid mesh: %d x %d cells give more than %d vertices or triangles", nx,
                        ny, INT_MAX);
  }
  dpMesh m = {0};
  m.nv = (int)nv;
  m.ntri = 2 * nx * ny;
  m.X = dp_malloc((size_t)m.nv * 3 * sizeof(double));
  m.tri = dp_malloc((size_t)m.ntri * 3 * sizeof(int));
  m.line = dp_calloc((size_t)m.ntri, sizeof(int));
  if (m.X == NULL || m.tri == NULL || m.line == NULL) {
    dp_mesh_free(&m);
    return nomem(err, NULL);
  }
  for (int j = 0; j <= ny; j++) {
    for (int i = 0; i <= nx; i++) {
      double *x = m.X + 3 * ((size_t)i + (size_t)(nx + 1) * j);
      x[0] = ((double)i / nx - 0.5) * size_x;
      x[1] = ((double)j / ny - 0.5) * size_y;
      x[2] = 0.0;
    }
  }
  int *t = m.tri;
  for (int j = 0; j < ny; j++) {
    for (int i = 0; i < nx; i++) {
      int a = i + (nx + 1) * j, b = a + 1, c = b + nx + 1, d = a + nx + 1;
      int even = (i + j) % 2 == 0;
      int tris[2][3] = {{a, b, even ? c : d}, {even ? a : b, c, d}};
      memcpy(t, tris, sizeof tris);
      t += 6;
    }
  }
  *out = m;
  return DP_OK;
}

// ============================================================================================
// Text reader: whole file in memory, one line at a time, tokens split in place

typedef struct Tok {
  char *s;  // NUL-terminated inside the buffer
  int col;  // 1-based
} Tok;

typedef struct Reader {
  const char *path;
  dpError *err;
  dpStatus st;
  char *buf;
  size_t len;
  size_t pos;
  char comment;  // '#' for TetGen and OBJ, 0 for Gmsh
  int line;      // the current line, 1-based (0 before the first)
  int last;      // the last line that held a token
  Tok *tok;      // tokens of the current line
  int ntok;
  int captok;
  int itok;      // the next token for next_tok
} Reader;

static dpStatus reader_open(Reader *r, const char *path, char comment, dpError *err) {
  memset(r, 0, sizeof *r);
  r->path = path;
  r->err = err;
  r->comment = comment;
  errno = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    return dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot read '%s': %s", path,
                        strerror(errno));
  }
  size_t cap = 0;
  dpStatus st = DP_OK;
  for (;;) {
    if (cap - r->len < 2) {  // room for a byte and the final NUL
      size_t ncap = cap == 0 ? 65536 : 2 * cap;
      char *nb = dp_realloc(r->buf, cap, ncap);
      if (nb == NULL) {
        st = nomem(err, path);
        break;
      }
      r->buf = nb;
      cap = ncap;
    }
    size_t got = fread(r->buf + r->len, 1, cap - r->len - 1, f);
    r->len += got;
    if (got == 0) {
      break;
    }
  }
  if (st == DP_OK && ferror(f)) {
    st = dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot read '%s': %s", path,
                      strerror(errno != 0 ? errno : EIO));
  }
  fclose(f);
  if (st != DP_OK) {
    dp_free(r->buf);
    r->buf = NULL;
    return st;
  }
  r->buf[r->len] = '\0';
  if (r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0) {
    r->pos = 3;  // a UTF-8 byte order mark, as some exporters write
  }
  return DP_OK;
}

static void reader_close(Reader *r) {
  dp_free(r->buf);
  dp_free(r->tok);
  r->buf = NULL;
  r->tok = NULL;
}

static int rd_fail(Reader *r, int line, int col, const char *fmt, ...) DP_PRINTF(4, 5);
// Record an input error at line:col of the reader's file; returns 0 for `return rd_fail(...)`.
static int rd_fail(Reader *r, int line, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  r->st = vinvalid(r->err, r->path, line, col, fmt, ap);
  va_end(ap);
  return 0;
}

static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

// Advance to the next line holding a token (comments and blank lines are skipped) and split
// it. Returns 1, 0 at the end of the file, -1 on error (r->st).
static int next_line(Reader *r) {
  for (;;) {
    r->ntok = 0;
    r->itok = 0;
    if (r->pos >= r->len) {
      return 0;
    }
    char *s = r->buf + r->pos;
    char *nl = memchr(s, '\n', r->len - r->pos);
    size_t n = nl != NULL ? (size_t)(nl - s) : r->len - r->pos;
    r->pos += n + (nl != NULL);
    if (r->line < INT_MAX) {
      r->line++;
    }
    s[n] = '\0';
    size_t real = strlen(s);
    if (real < n) {
      r->st = invalid(r->err, r->path, r->line, (int)real + 1,
                      "a NUL byte in the line: this is not a text file");
      return -1;
    }
    if (r->comment != 0) {
      char *c = strchr(s, r->comment);
      if (c != NULL) {
        *c = '\0';
      }
    }
    char *p = s;
    for (;;) {
      while (is_blank(*p)) {
        p++;
      }
      if (*p == '\0') {
        break;
      }
      if (r->ntok == r->captok) {
        int ncap = r->captok < 16 ? 16 : 2 * r->captok;
        size_t es = sizeof *r->tok;
        Tok *nt = r->captok > INT_MAX / 2
                      ? NULL
                      : dp_realloc(r->tok, (size_t)r->captok * es, (size_t)ncap * es);
        if (nt == NULL) {
          r->st = nomem(r->err, r->path);
          return -1;
        }
        r->tok = nt;
        r->captok = ncap;
      }
      r->tok[r->ntok].s = p;
      r->tok[r->ntok].col = p - s < INT_MAX ? (int)(p - s) + 1 : INT_MAX;
      r->ntok++;
      while (*p != '\0' && !is_blank(*p)) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
          *p = '?';  // a control byte parses as nothing valid and prints as '?'
        }
        p++;
      }
      if (*p != '\0') {
        *p++ = '\0';
      }
    }
    if (r->ntok > 0) {
      r->last = r->line;
      return 1;
    }
  }
}

// The next token across lines (Gmsh node tags). Returns 1, 0 at the end, -1 on error.
static int next_tok(Reader *r, Tok *t) {
  while (r->itok >= r->ntok) {
    int k = next_line(r);
    if (k <= 0) {
      return k;
    }
  }
  *t = r->tok[r->itok++];
  return 1;
}

// A whole token as a decimal integer; *v is 0 when it is not one.
static int parse_ll(const char *s, long long *v) {
  char *end = NULL;
  errno = 0;
  long long x = strtoll(s, &end, 10);
  int ok = end != s && *end == '\0' && errno != ERANGE;
  *v = ok ? x : 0;
  return ok;
}

// A whole token as a finite number; *v is 0 when it is not one.
static int parse_real(const char *s, double *v) {
  char *end = NULL;
  double x = strtod(s, &end);
  int ok = end != s && *end == '\0' && isfinite(x);
  *v = ok ? x : 0.0;
  return ok;
}

// Token i of the current line as a finite number; `what` names it in the message.
static int tok_real(Reader *r, int i, const char *what, double *v) {
  if (parse_real(r->tok[i].s, v)) {
    return 1;
  }
  return rd_fail(r, r->line, r->tok[i].col, "expected a finite number for %s, found '%.40s'",
                 what, r->tok[i].s);
}

static int tok_int(Reader *r, int i, const char *what, long long *v) {
  if (parse_ll(r->tok[i].s, v)) {
    return 1;
  }
  return rd_fail(r, r->line, r->tok[i].col, "expected an integer for %s, found '%.40s'", what,
                 r->tok[i].s);
}

// Token i as a count in lo..hi.
static int tok_count(Reader *r, int i, const char *what, long long lo, long long hi, int *v) {
  long long x;
  if (!tok_int(r, i, what, &x)) {
    return 0;
  }
  if (x < lo || x > hi) {
    return rd_fail(r, r->line, r->tok[i].col, "%s must be in %lld..%lld, found %lld", what, lo,
                   hi, x);
  }
  *v = (int)x;
  return 1;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

// Every vertex must be used by an element: an unused one would get no mass. `first` is the
// file's number of vertex 0.
static dpStatus check_used(const Build *b, const int *el, size_t nidx, long long first,
                           const char *path, const char *vname, const char *ename,
                           dpError *err) {
  size_t nv = b->vline.n;
  unsigned char *used = dp_calloc(nv, 1);
  if (used == NULL) {
    return nomem(err, path);
  }
  for (size_t i = 0; i < nidx; i++) {
    used[el[i]] = 1;
  }
  dpStatus st = DP_OK;
  for (size_t v = 0; v < nv; v++) {
    if (!used[v]) {
      st = invalid(err, path, ((const int *)b->vline.p)[v], 0,
                   "%s %lld is used by no %s (it would have no mass)", vname,
                   (long long)v + first, ename);
      break;
    }
  }
  dp_free(used);
  return st;
}

// ============================================================================================
// TetGen .node / .ele

// The header line: 1..maxn integers into h (the caller fills defaults); desc shows its form.
static int tg_header(Reader *r, int maxn, long long *h, const char *desc) {
  int k = next_line(r);
  if (k < 0) {
    return 0;
  }
  if (k == 0) {
    return rd_fail(r, r->line > 0 ? r->line : 1, 0, "empty file, expected the header '%s'",
                   desc);
  }
  if (r->ntok > maxn) {
    return rd_fail(r, r->line, r->tok[maxn].col,
                   "the header has %d values, expected at most %d ('%s')", r->ntok, maxn, desc);
  }
  for (int i = 0; i < r->ntok; i++) {
    if (!parse_ll(r->tok[i].s, &h[i])) {
      return rd_fail(r, r->line, r->tok[i].col,
                     "expected an integer in the header '%s', found '%.40s'", desc,
                     r->tok[i].s);
    }
  }
  return 1;
}

// After the declared records, only comments and blank lines may follow.
static int tg_trailing(Reader *r, int n, const char *what, int hline) {
  int k = next_line(r);
  if (k < 0) {
    return 0;
  }
  if (k > 0) {
    return rd_fail(r, r->line, r->tok[0].col,
                   "unexpected '%.40s' after the %d %s declared on line %d", r->tok[0].s, n,
                   what, hline);
  }
  return 1;
}

// First line: "<#points> [3 [<#attributes> [<0|1 markers>]]]"; then "<#> x y z [attr] [mark]".
static dpStatus tg_read_node(Reader *r, Build *b, long long *first) {
  long long h[4] = {0, 3, 0, 0};
  if (!tg_header(r, 4, h, "<#points> <dimension> <#attributes> <#boundary markers>")) {
    return r->st;
  }
  int hline = r->line;
  if (h[0] < 1 || h[0] > INT_MAX) {
    rd_fail(r, hline, r->tok[0].col, "the number of points must be in 1..%d, found %lld",
            INT_MAX, h[0]);
    return r->st;
  }
  if (h[1] != 3) {
    rd_fail(r, hline, r->tok[1].col, "the dimension must be 3, found %lld", h[1]);
    return r->st;
  }
  if (h[2] < 0 || h[2] > MAX_ATTRIBUTES) {
    rd_fail(r, hline, r->tok[2].col, "the number of attributes must be in 0..%d, found %lld",
            MAX_ATTRIBUTES, h[2]);
    return r->st;
  }
  if (h[3] != 0 && h[3] != 1) {
    rd_fail(r, hline, r->tok[3].col, "the number of boundary markers must be 0 or 1, found %lld",
            h[3]);
    return r->st;
  }
  int np = (int)h[0], nattr = (int)h[2], nmark = (int)h[3];
  int want = 4 + nattr + nmark;
  char attrs[48] = "";
  if (nattr > 0) {
    snprintf(attrs, sizeof attrs, ", %d attribute%s", nattr, nattr == 1 ? "" : "s");
  }
  char form[128];
  snprintf(form, sizeof form, "point number, x, y, z%s%s", attrs,
           nmark ? ", boundary marker" : "");
  for (int i = 0; i < np; i++) {
    int k = next_line(r);
    if (k < 0) {
      return r->st;
    }
    if (k == 0) {
      rd_fail(r, r->last, 0, "the file ends after %d of the %d points declared on line %d", i,
              np, hline);
      return r->st;
    }
    if (r->ntok != want) {
      rd_fail(r, r->line, r->ntok > want ? r->tok[want].col : 0,
              "expected %d values (%s), found %d", want, form, r->ntok);
      return r->st;
    }
    long long num;
    if (!tok_int(r, 0, "the point number", &num)) {
      return r->st;
    }
    if (i == 0) {
      if (num != 0 && num != 1) {
        rd_fail(r, r->line, r->tok[0].col, "point numbers must start at 0 or 1, found %lld",
                num);
        return r->st;
      }
      *first = num;
    } else if (num != *first + i) {
      rd_fail(r, r->line, r->tok[0].col, "expected point number %lld, found %lld", *first + i,
              num);
      return r->st;
    }
    double x[3], a;
    static const char *const AXES[3] = {"x", "y", "z"};
    for (int c = 0; c < 3; c++) {
      if (!tok_real(r, 1 + c, AXES[c], &x[c])) {
        return r->st;
      }
    }
    for (int c = 0; c < nattr; c++) {
      if (!tok_real(r, 4 + c, "an attribute", &a)) {
        return r->st;
      }
    }
    long long mark;
    if (nmark && !tok_int(r, 4 + nattr, "the boundary marker", &mark)) {
      return r->st;
    }
    dpStatus st = add_vertex(b, x, r->line, r->path, r->err);
    if (st != DP_OK) {
      return st;
    }
  }
  if (!tg_trailing(r, np, "points", hline)) {
    return r->st;
  }
  return DP_OK;
}

// First line: "<#tets> [4 [<#attributes>]]"; then "<#> n1 n2 n3 n4 [attributes]".
static dpStatus tg_read_ele(Reader *r, Build *b, long long first) {
  long long h[3] = {0, 4, 0};
  if (!tg_header(r, 3, h, "<#tetrahedra> <nodes per tetrahedron> <#attributes>")) {
    return r->st;
  }
  int hline = r->line;
  if (h[0] < 1 || h[0] > INT_MAX) {
    rd_fail(r, hline, r->tok[0].col, "the number of tetrahedra must be in 1..%d, found %lld",
            INT_MAX, h[0]);
    return r->st;
  }
  if (h[1] == 10) {
    rd_fail(r, hline, r->tok[1].col,
            "10-node (quadratic) tetrahedra are not supported: only linear 4-node tetrahedra");
    return r->st;
  }
  if (h[1] != 4) {
    rd_fail(r, hline, r->tok[1].col, "nodes per tetrahedron must be 4, found %lld", h[1]);
    return r->st;
  }
  if (h[2] < 0 || h[2] > MAX_ATTRIBUTES) {
    rd_fail(r, hline, r->tok[2].col, "the number of attributes must be in 0..%d, found %lld",
            MAX_ATTRIBUTES, h[2]);
    return r->st;
  }
  int nt = (int)h[0], nattr = (int)h[2];
  int want = 5 + nattr;
  int nv = (int)b->vline.n;
  long long efirst = 0;
  for (int i = 0; i < nt; i++) {
    int k = next_line(r);
    if (k < 0) {
      return r->st;
    }
    if (k == 0) {
      rd_fail(r, r->last, 0, "the file ends after %d of the %d tetrahedra declared on line %d",
              i, nt, hline);
      return r->st;
    }
    if (r->ntok != want) {
      rd_fail(r, r->line, r->ntok > want ? r->tok[want].col : 0,
              "expected %d values (tetrahedron number and 4 vertex indices%s), found %d", want,
              nattr == 0 ? "" : nattr == 1 ? ", 1 attribute" : ", attributes", r->ntok);
      return r->st;
    }
    long long num;
    if (!tok_int(r, 0, "the tetrahedron number", &num)) {
      return r->st;
    }
    if (i == 0) {
      if (num != 0 && num != 1) {
        rd_fail(r, r->line, r->tok[0].col,
                "tetrahedron numbers must start at 0 or 1, found %lld", num);
        return r->st;
      }
      efirst = num;
    } else if (num != efirst + i) {
      rd_fail(r, r->line, r->tok[0].col, "expected tetrahedron number %lld, found %lld",
              efirst + i, num);
      return r->st;
    }
    long long v[4];
    int t[4];
    for (int q = 0; q < 4; q++) {
      if (!parse_ll(r->tok[1 + q].s, &v[q])) {
        rd_fail(r, r->line, r->tok[1 + q].col, "expected a vertex index, found '%.40s'",
                r->tok[1 + q].s);
        return r->st;
      }
      if (v[q] < first || v[q] > first + nv - 1) {
        rd_fail(r, r->line, r->tok[1 + q].col, "vertex index %lld out of range %lld..%lld",
                v[q], first, first + nv - 1);
        return r->st;
      }
      for (int p = 0; p < q; p++) {
        if (v[p] == v[q]) {
          rd_fail(r, r->line, r->tok[1 + q].col, "vertex %lld appears twice in tetrahedron %lld",
                  v[q], num);
          return r->st;
        }
      }
      t[q] = (int)(v[q] - first);
    }
    double a;
    for (int c = 0; c < nattr; c++) {
      if (!tok_real(r, 5 + c, "an attribute", &a)) {
        return r->st;
      }
    }
    dpStatus st = add_element(b, 4, t, r->line, r->path, r->err);
    if (st != DP_OK) {
      return st;
    }
  }
  if (!tg_trailing(r, nt, "tetrahedra", hline)) {
    return r->st;
  }
  return DP_OK;
}

dpStatus dp_mesh_load_tetgen(const char *path, dpMesh *out, dpError *err) {
  if (path == NULL || out == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "tetgen: path or out is NULL");
  }
  memset(out, 0, sizeof *out);
  size_t n = strlen(path);
  size_t base;
  if (ends_with(path, ".node")) {
    base = n - 5;
  } else if (ends_with(path, ".ele")) {
    base = n - 4;
  } else {
    return dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                        "'%s' is not a TetGen file: expected a .node or .ele file name", path);
  }
  dpStatus st = DP_OK;
  Build b = {0};
  Reader r;
  int open = 0;
  char *node = dp_malloc(base + 6), *ele = dp_malloc(base + 5);
  if (node == NULL || ele == NULL) {
    st = nomem(err, path);
    goto done;
  }
  memcpy(node, path, base);
  memcpy(node + base, ".node", 6);
  memcpy(ele, path, base);
  memcpy(ele + base, ".ele", 5);
  if (ends_with(path, ".node")) {
    memcpy(node, path, n + 1);  // keep the caller's spelling of its own file
  } else {
    memcpy(ele, path, n + 1);
  }
  long long first = 0;
  st = reader_open(&r, node, '#', err);
  if (st != DP_OK) {
    goto done;
  }
  open = 1;
  st = tg_read_node(&r, &b, &first);
  reader_close(&r);
  open = 0;
  if (st != DP_OK) {
    goto done;
  }
  st = reader_open(&r, ele, '#', err);
  if (st != DP_OK) {
    goto done;
  }
  open = 1;
  st = tg_read_ele(&r, &b, first);
  if (st != DP_OK) {
    goto done;
  }
  st = check_used(&b, b.tet.p, b.tet.n, first, node, "point", "tetrahedron", err);
  if (st != DP_OK) {
    goto done;
  }
  build_take(&b, 1, out);
  st = dp_mesh_check(out, ele, err);
done:
  if (open) {
    reader_close(&r);
  }
  build_free(&b);
  dp_free(node);
  dp_free(ele);
  if (st != DP_OK) {
    dp_mesh_free(out);
  }
  return st;
}

// ============================================================================================
// Gmsh MSH 2.2 / 4.1 (ASCII)

typedef struct MshType {
  int type;
  int nodes;
  int dim;
  const char *name;
} MshType;

// Gmsh element types 1–31 (Gmsh reference manual, "MSH file format", elm-type).
static const MshType MSH_TYPES[] = {
    {1, 2, 1, "2-node line"},           {2, 3, 2, "3-node triangle"},
    {3, 4, 2, "4-node quadrangle"},     {4, 4, 3, "4-node tetrahedron"},
    {5, 8, 3, "8-node hexahedron"},     {6, 6, 3, "6-node prism"},
    {7, 5, 3, "5-node pyramid"},        {8, 3, 1, "3-node line"},
    {9, 6, 2, "6-node triangle"},       {10, 9, 2, "9-node quadrangle"},
    {11, 10, 3, "10-node tetrahedron"}, {12, 27, 3, "27-node hexahedron"},
    {13, 18, 3, "18-node prism"},       {14, 14, 3, "14-node pyramid"},
    {15, 1, 0, "1-node point"},         {16, 8, 2, "8-node quadrangle"},
    {17, 20, 3, "20-node hexahedron"},  {18, 15, 3, "15-node prism"},
    {19, 13, 3, "13-node pyramid"},     {20, 9, 2, "9-node triangle"},
    {21, 10, 2, "10-node triangle"},    {22, 12, 2, "12-node triangle"},
    {23, 15, 2, "15-node triangle"},    {24, 15, 2, "15-node triangle"},
    {25, 21, 2, "21-node triangle"},    {26, 4, 1, "4-node line"},
    {27, 5, 1, "5-node line"},          {28, 6, 1, "6-node line"},
    {29, 20, 3, "20-node tetrahedron"}, {30, 35, 3, "35-node tetrahedron"},
    {31, 56, 3, "56-node tetrahedron"},
};

static const MshType *msh_type(long long type) {
  for (size_t i = 0; i < sizeof MSH_TYPES / sizeof MSH_TYPES[0]; i++) {
    if (MSH_TYPES[i].type == type) {
      return &MSH_TYPES[i];
    }
  }
  return NULL;
}

typedef struct NodeKey {
  long long tag;
  int index;
} NodeKey;

typedef struct Msh {
  Reader r;
  Build b;
  int version;    // 2 or 4
  Vec tag;        // long long per node, in file order
  NodeKey *keys;  // sorted by tag, after $EndNodes
  int bad_type;   // first surface element of an unsupported type (reported without tets)
  int bad_line;
  int bad_col;
} Msh;

static int cmp_nodekey(const void *a, const void *b) {
  const NodeKey *x = a, *y = b;
  if (x->tag != y->tag) {
    return x->tag < y->tag ? -1 : 1;
  }
  return (x->index > y->index) - (x->index < y->index);
}

// The next line of a section, which must start a new record (the last one used its line up).
static int msh_line(Reader *r, const char *sect) {
  if (r->itok < r->ntok) {
    return rd_fail(r, r->line, r->tok[r->itok].col, "unexpected '%.40s' in %s",
                   r->tok[r->itok].s, sect);
  }
  int k = next_line(r);
  if (k < 0) {
    return 0;
  }
  if (k == 0) {
    return rd_fail(r, r->last, 0, "the file ends inside %s", sect);
  }
  r->itok = r->ntok;
  return 1;
}

// A record of exactly n values on its own line; form describes them.
static int msh_record(Reader *r, const char *sect, int n, const char *form) {
  if (!msh_line(r, sect)) {
    return 0;
  }
  if (r->ntok != n) {
    return rd_fail(r, r->line, r->ntok > n ? r->tok[n].col : 0,
                   "expected %d values (%s) in %s, found %d", n, form, sect, r->ntok);
  }
  return 1;
}

static int msh_end(Reader *r, const char *end, const char *sect) {
  if (!msh_line(r, sect)) {
    return 0;
  }
  if (strcmp(r->tok[0].s, end) != 0) {
    return rd_fail(r, r->line, r->tok[0].col, "expected %s, found '%.40s'", end, r->tok[0].s);
  }
  if (r->ntok > 1) {
    return rd_fail(r, r->line, r->tok[1].col, "unexpected '%.40s' after %s", r->tok[1].s, end);
  }
  return 1;
}

static int msh_format(Msh *g) {
  Reader *r = &g->r;
  if (!msh_record(r, "$MeshFormat", 3, "version, file type, data size")) {
    return 0;
  }
  double v;
  if (!parse_real(r->tok[0].s, &v)) {
    return rd_fail(r, r->line, r->tok[0].col, "expected the MSH version, found '%.40s'",
                   r->tok[0].s);
  }
  if (v == 2.0 || v == 2.1 || v == 2.2) {
    g->version = 2;
  } else if (v == 4.1) {
    g->version = 4;
  } else {
    return rd_fail(r, r->line, r->tok[0].col,
                   "unsupported MSH version %.40s (supported: ASCII 2.2 and 4.1)", r->tok[0].s);
  }
  if (strcmp(r->tok[1].s, "1") == 0) {
    return rd_fail(r, r->line, r->tok[1].col,
                   "binary MSH files are not supported: save the mesh as ASCII "
                   "(Gmsh option Mesh.Binary = 0)");
  }
  if (strcmp(r->tok[1].s, "0") != 0) {
    return rd_fail(r, r->line, r->tok[1].col,
                   "the file type must be 0 (ASCII), found '%.40s'", r->tok[1].s);
  }
  long long ds;
  if (!tok_int(r, 2, "the data size", &ds)) {
    return 0;
  }
  return msh_end(r, "$EndMeshFormat", "$MeshFormat");
}

static int msh_add_node(Msh *g, long long tag, int col, const double x[3], int line) {
  Reader *r = &g->r;
  if (tag < 1) {
    return rd_fail(r, line, col, "node tags must be positive, found %lld", tag);
  }
  long long *t = vec_add(&g->tag, 1, sizeof *t);
  if (t == NULL) {
    r->st = nomem(r->err, r->path);
    return 0;
  }
  *t = tag;
  r->st = add_vertex(&g->b, x, line, r->path, r->err);
  return r->st == DP_OK;
}

static int msh_nodes(Msh *g) {
  Reader *r = &g->r;
  const char *S = "$Nodes";
  if (g->version == 2) {
    int n;
    if (!msh_record(r, S, 1, "number of nodes") ||
        !tok_count(r, 0, "the number of nodes", 0, INT_MAX, &n)) {
      return 0;
    }
    for (int i = 0; i < n; i++) {
      long long tag;
      double x[3];
      if (!msh_record(r, S, 4, "node tag, x, y, z") || !tok_int(r, 0, "the node tag", &tag) ||
          !tok_real(r, 1, "x", &x[0]) || !tok_real(r, 2, "y", &x[1]) ||
          !tok_real(r, 3, "z", &x[2]) || !msh_add_node(g, tag, r->tok[0].col, x, r->line)) {
        return 0;
      }
    }
  } else {
    int nblock, total, hline, hcol;
    long long t;
    if (!msh_record(r, S, 4, "numEntityBlocks numNodes minNodeTag maxNodeTag") ||
        !tok_count(r, 0, "the number of entity blocks", 0, INT_MAX, &nblock) ||
        !tok_count(r, 1, "the number of nodes", 0, INT_MAX, &total) ||
        !tok_int(r, 2, "the smallest node tag", &t) || !tok_int(r, 3, "the largest node tag", &t)) {
      return 0;
    }
    hline = r->line;
    hcol = r->tok[1].col;
    for (int blk = 0; blk < nblock; blk++) {
      int dim, param, n;
      if (!msh_record(r, S, 4, "entityDim entityTag parametric numNodesInBlock") ||
          !tok_count(r, 0, "the entity dimension", 0, 3, &dim) ||
          !tok_int(r, 1, "the entity tag", &t) ||
          !tok_count(r, 2, "the parametric flag", 0, 1, &param) ||
          !tok_count(r, 3, "the number of nodes in the block", 0, INT_MAX, &n)) {
        return 0;
      }
      size_t start = g->tag.n;
      if (start + (size_t)n > (size_t)total) {
        return rd_fail(r, r->line, r->tok[3].col,
                       "the blocks hold more nodes than the %d declared on line %d", total,
                       hline);
      }
      // Tags first (any layout), then one coordinate line per node.
      for (int j = 0; j < n; j++) {
        Tok tk;
        int k = next_tok(r, &tk);
        if (k < 0) {
          return 0;
        }
        if (k == 0) {
          return rd_fail(r, r->last, 0, "the file ends inside %s", S);
        }
        long long tag;
        if (!parse_ll(tk.s, &tag)) {
          return rd_fail(r, r->line, tk.col, "expected an integer for the node tag, found '%.40s'",
                         tk.s);
        }
        static const double ZERO[3] = {0, 0, 0};
        if (!msh_add_node(g, tag, tk.col, ZERO, r->line)) {
          return 0;
        }
      }
      int want = 3 + (param ? dim : 0);
      for (int j = 0; j < n; j++) {
        char form[32];
        snprintf(form, sizeof form, "x, y, z%s", want == 3 ? "" : " and u, v, w");
        if (!msh_record(r, S, want, form)) {
          return 0;
        }
        double *x = (double *)g->b.X.p + 3 * (start + (size_t)j);
        for (int c = 0; c < want; c++) {
          double u;
          if (!tok_real(r, c, "a coordinate", c < 3 ? &x[c] : &u)) {
            return 0;
          }
        }
      }
    }
    if (g->tag.n != (size_t)total) {
      return rd_fail(r, hline, hcol, "the header declares %d nodes, the blocks hold %zu", total,
                     g->tag.n);
    }
  }
  if (!msh_end(r, "$EndNodes", S)) {
    return 0;
  }
  size_t nv = g->tag.n;
  g->keys = dp_malloc((nv > 0 ? nv : 1) * sizeof *g->keys);
  if (g->keys == NULL) {
    r->st = nomem(r->err, r->path);
    return 0;
  }
  for (size_t i = 0; i < nv; i++) {
    g->keys[i].tag = ((long long *)g->tag.p)[i];
    g->keys[i].index = (int)i;
  }
  qsort(g->keys, nv, sizeof *g->keys, cmp_nodekey);
  for (size_t i = 1; i < nv; i++) {
    if (g->keys[i].tag == g->keys[i - 1].tag) {
      const int *vl = g->b.vline.p;
      return rd_fail(r, vl[g->keys[i].index], 0, "node tag %lld is defined twice (also line %d)",
                     g->keys[i].tag, vl[g->keys[i - 1].index]);
    }
  }
  return 1;
}

static int msh_lookup(const Msh *g, long long tag) {
  size_t lo = 0, hi = g->tag.n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (g->keys[mid].tag < tag) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < g->tag.n && g->keys[lo].tag == tag ? g->keys[lo].index : -1;
}

// One element of type t whose node tags are tokens nt.. of the current line; tcol is the
// column of its type on line tline (the block header in MSH 4).
static int msh_element(Msh *g, const MshType *t, int nt, int tline, int tcol) {
  Reader *r = &g->r;
  if (t->type != 4 && t->type != 2) {
    if (t->dim == 3) {
      return rd_fail(r, tline, tcol,
                     "element type %d (%s) is not supported: only 4-node tetrahedra (type 4) "
                     "and 3-node triangles (type 2) are read",
                     t->type, t->name);
    }
    if (t->dim == 2 && g->bad_type == 0) {
      g->bad_type = t->type;
      g->bad_line = tline;
      g->bad_col = tcol;
    }
    return 1;  // points and lines are skipped
  }
  int v[4];
  long long tags[4];
  for (int q = 0; q < t->nodes; q++) {
    const Tok *tk = &r->tok[nt + q];
    if (!parse_ll(tk->s, &tags[q])) {
      return rd_fail(r, r->line, tk->col, "expected an integer for a node tag, found '%.40s'",
                     tk->s);
    }
    v[q] = msh_lookup(g, tags[q]);
    if (v[q] < 0) {
      return rd_fail(r, r->line, tk->col, "node tag %lld is not defined in $Nodes", tags[q]);
    }
    for (int p = 0; p < q; p++) {
      if (tags[p] == tags[q]) {
        return rd_fail(r, r->line, tk->col, "node %lld appears twice in this element",
                       tags[q]);
      }
    }
  }
  r->st = add_element(&g->b, t->nodes, v, r->line, r->path, r->err);
  return r->st == DP_OK;
}

static int msh_unknown_type(Reader *r, int line, int col, long long type) {
  return rd_fail(r, line, col, "unknown element type %lld", type);
}

static int msh_elements(Msh *g) {
  Reader *r = &g->r;
  const char *S = "$Elements";
  if (g->version == 2) {
    int n;
    if (!msh_record(r, S, 1, "number of elements") ||
        !tok_count(r, 0, "the number of elements", 0, INT_MAX, &n)) {
      return 0;
    }
    for (int i = 0; i < n; i++) {
      long long tag, type;
      int ntags;
      if (!msh_line(r, S)) {
        return 0;
      }
      if (r->ntok < 3) {
        return rd_fail(r, r->line, 0,
                       "expected an element (tag, type, number of tags, tags, node tags), "
                       "found %d values",
                       r->ntok);
      }
      if (!tok_int(r, 0, "the element tag", &tag) || !tok_int(r, 1, "the element type", &type) ||
          !tok_count(r, 2, "the number of tags", 0, INT_MAX - 64, &ntags)) {
        return 0;
      }
      const MshType *t = msh_type(type);
      if (t == NULL) {
        return msh_unknown_type(r, r->line, r->tok[1].col, type);
      }
      int want = 3 + ntags + t->nodes;
      if (r->ntok != want) {
        return rd_fail(r, r->line, r->ntok > want ? r->tok[want].col : 0,
                       "expected %d values for a %s with %d tags, found %d", want, t->name,
                       ntags, r->ntok);
      }
      for (int q = 0; q < ntags; q++) {
        long long x;
        if (!tok_int(r, 3 + q, "a tag", &x)) {
          return 0;
        }
      }
      if (!msh_element(g, t, 3 + ntags, r->line, r->tok[1].col)) {
        return 0;
      }
    }
  } else {
    int nblock, total, hline, hcol;
    long long x;
    if (!msh_record(r, S, 4, "numEntityBlocks numElements minElementTag maxElementTag") ||
        !tok_count(r, 0, "the number of entity blocks", 0, INT_MAX, &nblock) ||
        !tok_count(r, 1, "the number of elements", 0, INT_MAX, &total) ||
        !tok_int(r, 2, "the smallest element tag", &x) ||
        !tok_int(r, 3, "the largest element tag", &x)) {
      return 0;
    }
    hline = r->line;
    hcol = r->tok[1].col;
    long long seen = 0;
    for (int blk = 0; blk < nblock; blk++) {
      int dim, n;
      long long type;
      if (!msh_record(r, S, 4, "entityDim entityTag elementType numElementsInBlock") ||
          !tok_count(r, 0, "the entity dimension", 0, 3, &dim) ||
          !tok_int(r, 1, "the entity tag", &x) || !tok_int(r, 2, "the element type", &type) ||
          !tok_count(r, 3, "the number of elements in the block", 0, INT_MAX, &n)) {
        return 0;
      }
      int bline = r->line, bcol = r->tok[2].col;
      const MshType *t = msh_type(type);
      if (t == NULL) {
        return msh_unknown_type(r, bline, bcol, type);
      }
      seen += n;
      if (seen > total) {
        return rd_fail(r, bline, r->tok[3].col,
                       "the blocks hold more elements than the %d declared on line %d", total,
                       hline);
      }
      char form[48];
      snprintf(form, sizeof form, "element tag and %d node tags", t->nodes);
      for (int j = 0; j < n; j++) {
        if (!msh_record(r, S, 1 + t->nodes, form) || !tok_int(r, 0, "the element tag", &x) ||
            !msh_element(g, t, 1, bline, bcol)) {
          return 0;
        }
      }
    }
    if (seen != total) {
      return rd_fail(r, hline, hcol, "the header declares %d elements, the blocks hold %lld",
                     total, seen);
    }
  }
  return msh_end(r, "$EndElements", S);
}

// Skip a section that carries nothing for the mesh, up to its $End line.
static int msh_skip(Reader *r, const char *name) {
  char end[128];
  snprintf(end, sizeof end, "$End%.100s", name + 1);
  int start = r->line;
  for (;;) {
    int k = next_line(r);
    if (k < 0) {
      return 0;
    }
    if (k == 0) {
      return rd_fail(r, start, 1, "section %.100s has no %s", name, end);
    }
    r->itok = r->ntok;
    if (strcmp(r->tok[0].s, end) == 0) {
      return 1;
    }
  }
}

// Drop the nodes that no kept element uses; the rest keep their file order.
static dpStatus msh_compact(Msh *g, int tets, dpError *err) {
  Build *b = &g->b;
  size_t nv = b->vline.n;
  Vec *ev = tets ? &b->tet : &b->tri;
  int *el = ev->p;
  int *map = dp_malloc((nv > 0 ? nv : 1) * sizeof *map);
  if (map == NULL) {
    return nomem(err, g->r.path);
  }
  for (size_t i = 0; i < nv; i++) {
    map[i] = -1;
  }
  for (size_t i = 0; i < ev->n; i++) {
    map[el[i]] = 0;
  }
  double *X = b->X.p;
  int *vl = b->vline.p;
  int m = 0;
  for (size_t i = 0; i < nv; i++) {
    if (map[i] == 0) {
      memmove(X + 3 * m, X + 3 * i, 3 * sizeof *X);
      vl[m] = vl[i];
      map[i] = m++;
    }
  }
  for (size_t i = 0; i < ev->n; i++) {
    el[i] = map[el[i]];
  }
  b->X.n = 3 * (size_t)m;
  b->vline.n = (size_t)m;
  dp_free(map);
  return DP_OK;
}

dpStatus dp_mesh_load_gmsh(const char *path, dpMesh *out, dpError *err) {
  if (path == NULL || out == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "gmsh: path or out is NULL");
  }
  memset(out, 0, sizeof *out);
  Msh g;
  memset(&g, 0, sizeof g);
  Reader *r = &g.r;
  dpStatus st = reader_open(r, path, 0, err);
  if (st != DP_OK) {
    return st;
  }
  int have_nodes = 0, have_elements = 0, elements_line = 0, ok = 1;
  while (ok) {
    int k = next_line(r);
    if (k <= 0) {
      ok = k == 0;
      break;
    }
    r->itok = 1;
    const char *name = r->tok[0].s;
    if (name[0] != '$') {
      ok = rd_fail(r, r->line, r->tok[0].col, "expected a section such as $Nodes, found '%.40s'",
                   name);
    } else if (r->ntok > 1) {
      ok = rd_fail(r, r->line, r->tok[1].col, "unexpected '%.40s' after %.60s", r->tok[1].s,
                   name);
    } else if (g.version == 0) {
      if (strcmp(name, "$MeshFormat") == 0) {
        ok = msh_format(&g);
      } else if (strcmp(name, "$NOD") == 0 || strcmp(name, "$NOE") == 0) {
        ok = rd_fail(r, r->line, 1, "MSH version 1 files are not supported (supported: ASCII "
                                    "2.2 and 4.1)");
      } else {
        ok = rd_fail(r, r->line, 1, "expected $MeshFormat at the start of a Gmsh file, found "
                                    "'%.40s'", name);
      }
    } else if (strcmp(name, "$MeshFormat") == 0) {
      ok = rd_fail(r, r->line, 1, "a second $MeshFormat section");
    } else if (strcmp(name, "$Nodes") == 0) {
      ok = have_nodes ? rd_fail(r, r->line, 1, "a second $Nodes section") : msh_nodes(&g);
      have_nodes = 1;
    } else if (strcmp(name, "$Elements") == 0) {
      if (!have_nodes) {
        ok = rd_fail(r, r->line, 1, "$Elements before $Nodes");
      } else if (have_elements) {
        ok = rd_fail(r, r->line, 1, "a second $Elements section");
      } else {
        elements_line = r->line;
        ok = msh_elements(&g);
      }
      have_elements = 1;
    } else if (strncmp(name, "$End", 4) == 0) {
      ok = rd_fail(r, r->line, 1, "%.60s without its section start", name);
    } else {
      ok = msh_skip(r, name);
    }
  }
  if (!ok) {
    st = r->st;
    goto done;
  }
  int last = r->last > 0 ? r->last : 1;
  if (g.version == 0) {
    st = invalid(err, path, last, 0, "no $MeshFormat section: this is not a Gmsh MSH file");
  } else if (!have_nodes) {
    st = invalid(err, path, last, 0, "no $Nodes section");
  } else if (!have_elements) {
    st = invalid(err, path, last, 0, "no $Elements section");
  } else if (g.b.tline.n == 0 && g.bad_type != 0) {
    const MshType *t = msh_type(g.bad_type);
    st = invalid(err, path, g.bad_line, g.bad_col,
                 "element type %d (%s) is not supported: only 4-node tetrahedra (type 4) and "
                 "3-node triangles (type 2) are read",
                 t->type, t->name);
  } else if (g.b.tline.n == 0 && g.b.fline.n == 0) {
    st = invalid(err, path, elements_line, 0,
                 "no tetrahedra (type 4) or triangles (type 2) in $Elements");
  }
  if (st != DP_OK) {
    goto done;
  }
  int tets = g.b.tline.n > 0;
  st = msh_compact(&g, tets, err);
  if (st != DP_OK) {
    goto done;
  }
  build_take(&g.b, tets, out);
  st = dp_mesh_check(out, path, err);
done:
  reader_close(r);
  build_free(&g.b);
  vec_free(&g.tag);
  dp_free(g.keys);
  if (st != DP_OK) {
    dp_mesh_free(out);
  }
  return st;
}

// ============================================================================================
// Wavefront OBJ

// Statements that carry nothing for a simulated surface.
static const char *const OBJ_IGNORED[] = {
    "vt",    "vn",   "vp",     "g",     "o",        "s",        "usemtl",     "mtllib",
    "l",     "p",    "cstype", "deg",   "bmat",     "step",     "curv",       "curv2",
    "surf",  "parm", "trim",   "hole",  "scrv",     "sp",       "end",        "con",
    "mg",    "bevel", "c_interp", "d_interp", "lod", "shadow_obj", "trace_obj", "maplib",
    "usemap", "ctech", "stech",
};

static int obj_ignored(const char *kw) {
  for (size_t i = 0; i < sizeof OBJ_IGNORED / sizeof OBJ_IGNORED[0]; i++) {
    if (strcmp(kw, OBJ_IGNORED[i]) == 0) {
      return 1;
    }
  }
  return 0;
}

// An optional integer ending at '/' or the end of the token; *p moves past it.
static int obj_index_part(const char **p, int required) {
  const char *s = *p;
  if (*s == '/' || *s == '\0') {
    return !required;
  }
  char *end = NULL;
  errno = 0;
  (void)strtoll(s, &end, 10);
  if (end == s || errno == ERANGE || (*end != '/' && *end != '\0')) {
    return 0;
  }
  *p = end;
  return 1;
}

// A face's vertex reference v, v/vt, v/vt/vn or v//vn, resolved against the nv vertices
// defined so far into a 0-based index.
static int obj_ref(Reader *r, const Tok *tk, int nv, int *out) {
  char *end = NULL;
  errno = 0;
  long long a = strtoll(tk->s, &end, 10);
  int ok = end != tk->s && errno != ERANGE;
  if (ok && *end == '/') {
    const char *p = end + 1;
    if (*p == '/') {  // v//vn
      p++;
      ok = obj_index_part(&p, 1) && *p == '\0';
    } else {  // v/vt or v/vt/vn
      ok = obj_index_part(&p, 1);
      if (ok && *p == '/') {
        p++;
        ok = obj_index_part(&p, 1);
      }
      ok = ok && *p == '\0';
    }
  } else if (ok) {
    ok = *end == '\0';
  }
  if (!ok) {
    return rd_fail(r, r->line, tk->col,
                   "expected a vertex reference (v, v/vt, v/vt/vn or v//vn), found '%.40s'",
                   tk->s);
  }
  if (a == 0) {
    return rd_fail(r, r->line, tk->col,
                   "vertex index 0 is invalid: OBJ indices start at 1 (or count back from -1)");
  }
  if (nv == 0) {
    return rd_fail(r, r->line, tk->col, "vertex index %lld: no vertex is defined before this "
                                        "face", a);
  }
  if (a > nv) {
    return rd_fail(r, r->line, tk->col, "vertex index %lld out of range 1..%d", a, nv);
  }
  if (a < -(long long)nv) {
    return rd_fail(r, r->line, tk->col,
                   "relative vertex index %lld reaches before the first vertex (%d defined so "
                   "far)",
                   a, nv);
  }
  *out = a > 0 ? (int)(a - 1) : (int)(nv + a);
  return 1;
}

dpStatus dp_mesh_load_obj(const char *path, dpMesh *out, dpError *err) {
  if (path == NULL || out == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "obj: path or out is NULL");
  }
  memset(out, 0, sizeof *out);
  Reader r;
  Build b = {0};
  Vec face = {0};
  dpStatus st = reader_open(&r, path, '#', err);
  if (st != DP_OK) {
    return st;
  }
  for (;;) {
    int k = next_line(&r);
    if (k < 0) {
      st = r.st;
      goto done;
    }
    if (k == 0) {
      break;
    }
    const char *kw = r.tok[0].s;
    int nv = (int)b.vline.n;
    if (strcmp(kw, "v") == 0) {
      int n = r.ntok - 1;
      if (n < 3 || n > 7) {
        rd_fail(&r, r.line, n > 7 ? r.tok[8].col : 0,
                "expected 3 coordinates (x y z [w], or x y z r g b), found %d value%s", n,
                n == 1 ? "" : "s");
        st = r.st;
        goto done;
      }
      double x[3], extra;
      for (int c = 0; c < n; c++) {
        if (!tok_real(&r, 1 + c, c < 3 ? "a coordinate" : "a vertex weight or colour",
                      c < 3 ? &x[c] : &extra)) {
          st = r.st;
          goto done;
        }
      }
      st = add_vertex(&b, x, r.line, path, err);
      if (st != DP_OK) {
        goto done;
      }
    } else if (strcmp(kw, "f") == 0) {
      int n = r.ntok - 1;
      if (n < 3) {
        rd_fail(&r, r.line, 0, "a face needs at least 3 vertices, found %d", n);
        st = r.st;
        goto done;
      }
      face.n = 0;
      int *v = vec_add(&face, (size_t)n, sizeof(int));
      if (v == NULL) {
        st = nomem(err, path);
        goto done;
      }
      for (int q = 0; q < n; q++) {
        if (!obj_ref(&r, &r.tok[1 + q], nv, &v[q])) {
          st = r.st;
          goto done;
        }
        for (int p = 0; p < q; p++) {
          if (v[p] == v[q]) {
            rd_fail(&r, r.line, r.tok[1 + q].col, "vertex %d appears twice in this face",
                    v[q] + 1);
            st = r.st;
            goto done;
          }
        }
      }
      for (int q = 1; q + 1 < n; q++) {
        int t[3] = {v[0], v[q], v[q + 1]};
        st = add_element(&b, 3, t, r.line, path, err);
        if (st != DP_OK) {
          goto done;
        }
      }
    } else if (!obj_ignored(kw)) {
      rd_fail(&r, r.line, r.tok[0].col, "unknown OBJ statement '%.40s'", kw);
      st = r.st;
      goto done;
    }
  }
  if (b.vline.n == 0) {
    st = invalid(err, path, r.last > 0 ? r.last : 1, 0, "no vertices ('v' statements)");
    goto done;
  }
  if (b.fline.n == 0) {
    st = invalid(err, path, r.last, 0, "no faces ('f' statements)");
    goto done;
  }
  st = check_used(&b, b.tri.p, b.tri.n, 1, path, "vertex", "face", err);
  if (st != DP_OK) {
    goto done;
  }
  build_take(&b, 0, out);
  st = dp_mesh_check(out, path, err);
done:
  reader_close(&r);
  build_free(&b);
  vec_free(&face);
  if (st != DP_OK) {
    dp_mesh_free(out);
  }
  return st;
}

dpStatus dp_mesh_load(const char *path, dpMesh *out, dpError *err) {
  if (path == NULL || out == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "mesh: path or out is NULL");
  }
  if (ends_with(path, ".node") || ends_with(path, ".ele")) {
    return dp_mesh_load_tetgen(path, out, err);
  }
  if (ends_with(path, ".msh")) {
    return dp_mesh_load_gmsh(path, out, err);
  }
  if (ends_with(path, ".obj")) {
    return dp_mesh_load_obj(path, out, err);
  }
  memset(out, 0, sizeof *out);
  return dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                      "'%s': unknown mesh file extension (known: .node or .ele for TetGen, "
                      ".msh for Gmsh, .obj for Wavefront OBJ)",
                      path);
}

// ============================================================================================
// Checks and derived topology

// det[b−a, c−a, d−a] = 6 × the signed volume of the tet (a, b, c, d).
static double tet_det(const double *X, const int *t) {
  const double *a = X + 3 * (size_t)t[0], *b = X + 3 * (size_t)t[1];
  const double *c = X + 3 * (size_t)t[2], *d = X + 3 * (size_t)t[3];
  double u[3], v[3], w[3];
  for (int i = 0; i < 3; i++) {
    u[i] = b[i] - a[i];
    v[i] = c[i] - a[i];
    w[i] = d[i] - a[i];
  }
  return u[0] * (v[1] * w[2] - v[2] * w[1]) - u[1] * (v[0] * w[2] - v[2] * w[0]) +
         u[2] * (v[0] * w[1] - v[1] * w[0]);
}

static double tri_area(const double *X, const int *t) {
  const double *a = X + 3 * (size_t)t[0], *b = X + 3 * (size_t)t[1], *c = X + 3 * (size_t)t[2];
  double u[3], v[3];
  for (int i = 0; i < 3; i++) {
    u[i] = b[i] - a[i];
    v[i] = c[i] - a[i];
  }
  double n0 = u[1] * v[2] - u[2] * v[1], n1 = u[2] * v[0] - u[0] * v[2];
  double n2 = u[0] * v[1] - u[1] * v[0];
  return 0.5 * sqrt(n0 * n0 + n1 * n1 + n2 * n2);
}

// Indices of element e (k vertices) in 0..nv−1 and pairwise distinct.
static dpStatus check_indices(const int *t, int k, int nv, const char *ename, int e,
                              const char *path, int line, dpError *err) {
  for (int q = 0; q < k; q++) {
    if (t[q] < 0 || t[q] >= nv) {
      return invalid(err, path, line, 0, "%s %d: vertex index %d out of range 0..%d", ename, e,
                     t[q], nv - 1);
    }
    for (int p = 0; p < q; p++) {
      if (t[p] == t[q]) {
        return invalid(err, path, line, 0, "%s %d uses vertex %d twice", ename, e, t[q]);
      }
    }
  }
  return DP_OK;
}

dpStatus dp_mesh_check(const dpMesh *m, const char *path, dpError *err) {
  if (m == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, path, 0, 0, "mesh is NULL");
  }
  if (m->nv <= 0 || m->X == NULL) {
    return invalid(err, path, 0, 0, "the mesh has no vertices");
  }
  int tets = m->ntet > 0;
  int ne = tets ? m->ntet : m->ntri, k = tets ? 4 : 3;
  const int *el = tets ? m->tet : m->tri;
  const char *ename = tets ? "tetrahedron" : "triangle";
  if (ne <= 0 || el == NULL) {
    return invalid(err, path, 0, 0, "the mesh has no tetrahedra or triangles");
  }
  double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  for (int v = 0; v < m->nv; v++) {
    const double *x = m->X + 3 * (size_t)v;
    if (!isfinite(x[0]) || !isfinite(x[1]) || !isfinite(x[2])) {
      return invalid(err, path, 0, 0, "vertex %d has a non-finite coordinate (%g, %g, %g)", v,
                     x[0], x[1], x[2]);
    }
    for (int i = 0; i < 3; i++) {
      lo[i] = fmin(lo[i], x[i]);
      hi[i] = fmax(hi[i], x[i]);
    }
  }
  double d = sqrt((hi[0] - lo[0]) * (hi[0] - lo[0]) + (hi[1] - lo[1]) * (hi[1] - lo[1]) +
                  (hi[2] - lo[2]) * (hi[2] - lo[2]));
  double vol_tol = DEGENERATE_TOL * d * d * d, area_tol = DEGENERATE_TOL * d * d;
  unsigned char *used = dp_calloc((size_t)m->nv, 1);
  if (used == NULL) {
    return nomem(err, path);
  }
  dpStatus st = DP_OK;
  for (int e = 0; e < ne && st == DP_OK; e++) {
    const int *t = el + (size_t)k * e;
    int line = m->line != NULL ? m->line[e] : 0;
    st = check_indices(t, k, m->nv, ename, e, path, line, err);
    if (st != DP_OK) {
      break;
    }
    for (int q = 0; q < k; q++) {
      used[t[q]] = 1;
    }
    if (tets) {
      double vol = tet_det(m->X, t) / 6.0;
      if (vol < -vol_tol) {
        st = invalid(err, path, line, 0, "tetrahedron %d is inverted (signed volume %.3g m^3)",
                     e, vol);
      } else if (vol <= vol_tol) {
        st = invalid(err, path, line, 0,
                     "tetrahedron %d is degenerate (signed volume %.3g m^3, at most %.3g m^3)",
                     e, vol, vol_tol);
      }
    } else {
      double area = tri_area(m->X, t);
      if (area <= area_tol) {
        st = invalid(err, path, line, 0, "triangle %d has zero area (%.3g m^2)", e, area);
      }
    }
  }
  // Triangles kept beside tets (a surface) must at least index the vertices.
  for (int e = 0; tets && st == DP_OK && m->tri != NULL && e < m->ntri; e++) {
    st = check_indices(m->tri + 3 * (size_t)e, 3, m->nv, "surface triangle", e, path, 0, err);
  }
  for (int v = 0; v < m->nv && st == DP_OK; v++) {
    if (!used[v]) {
      st = invalid(err, path, 0, 0, "vertex %d is used by no %s (it would have no mass)", v,
                   ename);
    }
  }
  dp_free(used);
  return st;
}

typedef struct Edge {
  int a, b;  // sorted vertex pair
  int t, k;  // triangle and its edge k: tri[k] → tri[(k+1) % 3]
} Edge;

static int cmp_edge(const void *p, const void *q) {
  const Edge *x = p, *y = q;
  if (x->a != y->a) {
    return x->a < y->a ? -1 : 1;
  }
  if (x->b != y->b) {
    return x->b < y->b ? -1 : 1;
  }
  if (x->t != y->t) {
    return x->t < y->t ? -1 : 1;
  }
  return (x->k > y->k) - (x->k < y->k);
}

dpStatus dp_mesh_hinges(const dpMesh *m, const char *path, int **hinge, int *nhinge,
                        dpError *err) {
  if (hinge == NULL || nhinge == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, path, 0, 0, "hinges: output is NULL");
  }
  *hinge = NULL;
  *nhinge = 0;
  if (m == NULL || m->ntri <= 0 || m->tri == NULL) {
    return invalid(err, path, 0, 0, "hinges need a triangle mesh, this one has no triangles");
  }
  dpStatus st = DP_OK;
  size_t ne = 3 * (size_t)m->ntri;
  Edge *e = dp_malloc(ne * sizeof *e);
  int *h = NULL;
  if (e == NULL) {
    st = nomem(err, path);
    goto done;
  }
  for (int t = 0; t < m->ntri; t++) {
    const int *v = m->tri + 3 * (size_t)t;
    st = check_indices(v, 3, m->nv, "triangle", t, path, m->line != NULL ? m->line[t] : 0, err);
    if (st != DP_OK) {
      goto done;
    }
    for (int k = 0; k < 3; k++) {
      int a = v[k], b = v[(k + 1) % 3];
      e[3 * (size_t)t + k] = (Edge){a < b ? a : b, a < b ? b : a, t, k};
    }
  }
  qsort(e, ne, sizeof *e, cmp_edge);
  size_t nh = 0;
  for (size_t i = 0; i < ne;) {
    size_t j = i + 1;
    while (j < ne && e[j].a == e[i].a && e[j].b == e[i].b) {
      j++;
    }
    if (j - i >= 3) {
      int t = e[i + 2].t;
      st = invalid(err, path, m->line != NULL ? m->line[t] : 0, 0,
                   "the edge between vertices %d and %d is shared by %zu triangles (%d, %d, %d%s): "
                   "the surface is not a manifold",
                   e[i].a, e[i].b, j - i, e[i].t, e[i + 1].t, t, j - i > 3 ? ", ..." : "");
      goto done;
    }
    if (j - i == 2) {
      const int *t0 = m->tri + 3 * (size_t)e[i].t, *t1 = m->tri + 3 * (size_t)e[i + 1].t;
      if (t0[e[i].k] == t1[e[i + 1].k]) {
        int t = e[i + 1].t;
        st = invalid(err, path, m->line != NULL ? m->line[t] : 0, 0,
                     "triangles %d and %d traverse the edge between vertices %d and %d in the "
                     "same direction: their orientations are inconsistent",
                     e[i].t, t, e[i].a, e[i].b);
        goto done;
      }
      nh++;
    }
    i = j;
  }
  if (nh > 0) {
    h = dp_malloc(4 * nh * sizeof *h);
    if (h == NULL) {
      st = nomem(err, path);
      goto done;
    }
  }
  int *o = h;
  for (size_t i = 0; i < ne;) {
    size_t j = i + 1;
    while (j < ne && e[j].a == e[i].a && e[j].b == e[i].b) {
      j++;
    }
    if (j - i == 2) {
      const int *t0 = m->tri + 3 * (size_t)e[i].t, *t1 = m->tri + 3 * (size_t)e[i + 1].t;
      int k0 = e[i].k, k1 = e[i + 1].k;
      o[0] = t0[k0];
      o[1] = t0[(k0 + 1) % 3];
      o[2] = t0[(k0 + 2) % 3];
      o[3] = t1[(k1 + 2) % 3];
      o += 4;
    }
    i = j;
  }
  *hinge = h;
  *nhinge = (int)nh;
  h = NULL;
done:
  dp_free(e);
  dp_free(h);
  return st;
}

typedef struct Face {
  int key[3];  // sorted vertices
  int v[3];    // outward order
  int t;
} Face;

static int cmp_face(const void *p, const void *q) {
  const Face *x = p, *y = q;
  for (int i = 0; i < 3; i++) {
    if (x->key[i] != y->key[i]) {
      return x->key[i] < y->key[i] ? -1 : 1;
    }
  }
  if (x->t != y->t) {
    return x->t < y->t ? -1 : 1;
  }
  for (int i = 0; i < 3; i++) {
    if (x->v[i] != y->v[i]) {
      return x->v[i] < y->v[i] ? -1 : 1;
    }
  }
  return 0;
}

// Faces of a positively oriented tet (0, 1, 2, 3) with normals away from the opposite vertex.
static const int TET_FACES[4][3] = {{1, 2, 3}, {0, 3, 2}, {0, 1, 3}, {0, 2, 1}};

dpStatus dp_mesh_surface(const dpMesh *m, int **tri, int *ntri, dpError *err) {
  if (tri == NULL || ntri == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "surface: output is NULL");
  }
  *tri = NULL;
  *ntri = 0;
  if (m == NULL || m->X == NULL || (m->ntet <= 0 && m->ntri <= 0)) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "surface: the mesh has no elements");
  }
  if (m->ntet <= 0) {
    int *c = dp_malloc(3 * (size_t)m->ntri * sizeof *c);
    if (c == NULL) {
      return nomem(err, NULL);
    }
    memcpy(c, m->tri, 3 * (size_t)m->ntri * sizeof *c);
    *tri = c;
    *ntri = m->ntri;
    return DP_OK;
  }
  dpStatus st = DP_OK;
  size_t nf = 4 * (size_t)m->ntet;
  Face *f = dp_malloc(nf * sizeof *f);
  int *s = NULL;
  if (f == NULL) {
    st = nomem(err, NULL);
    goto done;
  }
  for (int t = 0; t < m->ntet; t++) {
    const int *v = m->tet + 4 * (size_t)t;
    for (int q = 0; q < 4; q++) {
      if (v[q] < 0 || v[q] >= m->nv) {
        st = dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                          "surface: tetrahedron %d: vertex index %d out of range 0..%d", t, v[q],
                          m->nv - 1);
        goto done;
      }
    }
    int flip = tet_det(m->X, v) < 0;  // an inverted tet: its faces turn the other way
    for (int q = 0; q < 4; q++) {
      Face *g = &f[4 * (size_t)t + q];
      int a = v[TET_FACES[q][0]], b = v[TET_FACES[q][1]], c = v[TET_FACES[q][2]];
      if (flip) {
        int tmp = b;
        b = c;
        c = tmp;
      }
      // Rotate to start at the smallest index; the cyclic order (the normal) is unchanged.
      int r = a <= b && a <= c ? 0 : b <= c ? 1 : 2;
      int w[3] = {a, b, c};
      for (int i = 0; i < 3; i++) {
        g->v[i] = w[(r + i) % 3];
      }
      int k0 = g->v[0], k1 = g->v[1] < g->v[2] ? g->v[1] : g->v[2];
      int k2 = g->v[1] < g->v[2] ? g->v[2] : g->v[1];
      g->key[0] = k0;
      g->key[1] = k1;
      g->key[2] = k2;
      g->t = t;
    }
  }
  qsort(f, nf, sizeof *f, cmp_face);
  size_t nb = 0;
  for (size_t i = 0; i < nf;) {
    size_t j = i + 1;
    while (j < nf && memcmp(f[j].key, f[i].key, sizeof f[i].key) == 0) {
      j++;
    }
    if (j - i >= 3) {
      st = dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0,
                        "surface: the face (%d, %d, %d) is shared by %zu tetrahedra (%d, %d, %d)",
                        f[i].key[0], f[i].key[1], f[i].key[2], j - i, f[i].t, f[i + 1].t,
                        f[i + 2].t);
      goto done;
    }
    nb += j - i == 1;
    i = j;
  }
  if (nb > INT_MAX) {
    st = dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "surface: too many faces");
    goto done;
  }
  s = nb > 0 ? dp_malloc(3 * nb * sizeof *s) : NULL;
  if (nb > 0 && s == NULL) {
    st = nomem(err, NULL);
    goto done;
  }
  int *o = s;
  for (size_t i = 0; i < nf;) {
    size_t j = i + 1;
    while (j < nf && memcmp(f[j].key, f[i].key, sizeof f[i].key) == 0) {
      j++;
    }
    if (j - i == 1) {
      memcpy(o, f[i].v, sizeof f[i].v);
      o += 3;
    }
    i = j;
  }
  *tri = s;
  *ntri = (int)nb;
  s = NULL;
done:
  dp_free(f);
  dp_free(s);
  return st;
}
