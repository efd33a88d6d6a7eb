// Numeric CSV tables (optimizer histories, tool summaries): read through libcsv's push parser
// (RFC 4180 quoting), written with %.17g so every double survives a round trip, atomically.
// libcsv reports fields and row ends, not positions, so lines are counted here.
#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp/dp.h"

#define CHUNK 65536

// Parser state shared by the libcsv callbacks. After the first failure the callbacks do nothing
// and the reader stops feeding libcsv.
typedef struct csvReader {
  const char *path;
  dpError *err;
  dpStatus st;
  dpTable *t;
  int have_header;
  size_t cap_names;     // header being collected
  size_t cap_data;      // doubles allocated in t->data
  size_t field;         // fields seen in the current row
  long line;            // line where the next character starts (1-based)
  long row_line;        // line where the current row started
  double *row;          // the current data row (ncol)
} csvReader;

static void *csv_realloc_hook(void *p, size_t n) {
  return dp_realloc(p, 0, n);
}

static void fail(csvReader *r, dpStatus code, long line, size_t column, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static void fail(csvReader *r, dpStatus code, long line, size_t column, const char *fmt, ...) {
  if (r->st != DP_OK) {
    return;
  }
  r->st = code;
  if (code == DP_ERR_NOMEM) {
    dp_error_set(r->err, code, r->path, 0, 0, "'%s': out of memory", r->path);
    return;
  }
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dp_error_set(r->err, code, r->path, (int)line, (int)column, "%s", msg);
}

// Quoted fields may hold line breaks: count them so the next row's line is right.
static void count_lines(csvReader *r, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    r->line += s[i] == '\n';
  }
}

static int parse_number(const char *s, size_t n, double *out) {
  if (n == 0) {
    *out = NAN;
    return 1;
  }
  char *end = NULL;
  errno = 0;
  double x = strtod(s, &end);
  if (end != s + n || end == s) {
    return 0;
  }
  // Overflow to ±inf or underflow to 0 is the nearest double: accept it like a literal.
  *out = x;
  return 1;
}

static void on_field(void *s, size_t n, void *ud) {
  csvReader *r = ud;
  const char *text = s != NULL ? s : "";
  if (s == NULL) {
    n = 0;
  }
  if (r->st != DP_OK) {
    return;
  }
  if (r->field == 0) {
    r->row_line = r->line;
  }
  size_t col = r->field++;
  dpTable *t = r->t;
  if (!r->have_header) {
    // libcsv strips spaces around unquoted fields; a name keeps what is left.
    if (n == 0) {
      fail(r, DP_ERR_INVALID, r->row_line, col + 1, "column %zu has an empty name", col + 1);
      return;
    }
    if (t->ncol == r->cap_names) {
      size_t ncap = r->cap_names == 0 ? 8 : 2 * r->cap_names;
      char **nv = dp_realloc(t->name, r->cap_names * sizeof *nv, ncap * sizeof *nv);
      if (nv == NULL) {
        fail(r, DP_ERR_NOMEM, 0, 0, "out of memory");
        return;
      }
      t->name = nv;
      r->cap_names = ncap;
    }
    char *name = dp_malloc(n + 1);
    if (name == NULL) {
      fail(r, DP_ERR_NOMEM, 0, 0, "out of memory");
      return;
    }
    memcpy(name, text, n);
    name[n] = '\0';
    for (size_t i = 0; i < t->ncol; i++) {
      if (strcmp(t->name[i], name) == 0) {
        fail(r, DP_ERR_INVALID, r->row_line, col + 1,
             "duplicate column name '%s' (also column %zu)", name, i + 1);
        dp_free(name);
        return;
      }
    }
    t->name[t->ncol++] = name;
    count_lines(r, text, n);
    return;
  }
  if (col >= t->ncol) {
    count_lines(r, text, n);
    return;  // reported with the field count at the end of the row
  }
  double x;
  if (!parse_number(text, n, &x)) {
    char shown[64];
    snprintf(shown, sizeof shown, "%.*s%s", (int)(n < 40 ? n : 40), text, n > 40 ? "..." : "");
    for (char *q = shown; *q; q++) {
      *q = (unsigned char)*q < 0x20 ? '?' : *q;  // a quoted line break stays on one line
    }
    fail(r, DP_ERR_INVALID, r->row_line, col + 1, "column '%s': '%s' is not a number",
         t->name[col], shown);
    return;
  }
  r->row[col] = x;
  count_lines(r, text, n);
}

static void on_row(int c, void *ud) {
  csvReader *r = ud;
  if (r->st != DP_OK) {
    return;
  }
  size_t nfield = r->field;
  r->field = 0;
  long row_line = r->row_line;
  if (c == '\n') {
    r->line++;
  }
  if (nfield == 0) {
    return;  // a blank line (reported because of CSV_REPALL_NL), or the LF of a CRLF
  }
  dpTable *t = r->t;
  if (!r->have_header) {
    r->have_header = 1;
    r->row = dp_malloc(t->ncol * sizeof *r->row);
    if (r->row == NULL) {
      fail(r, DP_ERR_NOMEM, 0, 0, "out of memory");
    }
    return;
  }
  if (nfield != t->ncol) {
    fail(r, DP_ERR_INVALID, row_line, nfield < t->ncol ? nfield : t->ncol + 1,
         "row has %zu field%s, the header has %zu", nfield, nfield == 1 ? "" : "s", t->ncol);
    return;
  }
  if ((t->nrow + 1) * t->ncol > r->cap_data) {
    size_t ncap = r->cap_data < 64 * t->ncol ? 64 * t->ncol : 2 * r->cap_data;
    double *nd = dp_realloc(t->data, r->cap_data * sizeof *nd, ncap * sizeof *nd);
    if (nd == NULL) {
      fail(r, DP_ERR_NOMEM, 0, 0, "out of memory");
      return;
    }
    t->data = nd;
    r->cap_data = ncap;
  }
  memcpy(t->data + t->nrow * t->ncol, r->row, t->ncol * sizeof *r->row);
  t->nrow++;
}

dpStatus dp_csv_read(const char *path, dpTable **out, dpError *err) {
  if (path == NULL || out == NULL) {
    return dp_error_set(err, DP_ERR_INVALID, NULL, 0, 0, "csv path or output is NULL");
  }
  *out = NULL;
  dpError local;
  dp_error_clear(&local);
  csvReader r = {0};
  r.path = path;
  r.err = err != NULL ? err : &local;
  r.line = 1;
  struct csv_parser p;
  int parser_live = 0;
  char *buf = NULL;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    return dp_error_set(err, DP_ERR_IO, path, 0, 0, "cannot read '%s': %s", path,
                        strerror(errno));
  }
  r.t = dp_calloc(1, sizeof *r.t);
  buf = dp_malloc(CHUNK);
  if (r.t == NULL || buf == NULL) {
    fail(&r, DP_ERR_NOMEM, 0, 0, "out of memory");
    goto done;
  }
  if (csv_init(&p, CSV_APPEND_NULL | CSV_REPALL_NL) != 0) {
    fail(&r, DP_ERR_NOMEM, 0, 0, "out of memory");
    goto done;
  }
  parser_live = 1;
  csv_set_realloc_func(&p, csv_realloc_hook);
  csv_set_free_func(&p, dp_free);
  size_t got;
  int first = 1;
  while (r.st == DP_OK && (got = fread(buf, 1, CHUNK, f)) > 0) {
    size_t skip = 0;
    if (first && got >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
      skip = 3;  // a UTF-8 byte order mark, as spreadsheets write
    }
    first = 0;
    if (csv_parse(&p, buf + skip, got - skip, on_field, on_row, &r) != got - skip &&
        r.st == DP_OK) {
      fail(&r, csv_error(&p) == CSV_ENOMEM ? DP_ERR_NOMEM : DP_ERR_INVALID, r.line, 0, "%s",
           csv_strerror(csv_error(&p)));
    }
  }
  if (r.st == DP_OK && ferror(f)) {
    r.st = dp_error_set(r.err, DP_ERR_IO, path, 0, 0, "cannot read '%s': %s", path,
                        strerror(errno != 0 ? errno : EIO));
  }
  if (r.st == DP_OK && csv_fini(&p, on_field, on_row, &r) != 0 && r.st == DP_OK) {
    fail(&r, DP_ERR_INVALID, r.line, 0, "%s", csv_strerror(csv_error(&p)));
  }
  if (r.st == DP_OK && !r.have_header) {
    r.st = dp_error_set(r.err, DP_ERR_INVALID, path, 1, 0,
                        "empty file, expected a header row of column names");
  }
done:
  if (parser_live) {
    csv_free(&p);
  }
  fclose(f);
  dp_free(buf);
  dp_free(r.row);
  if (r.st != DP_OK) {
    dp_table_free(r.t);
    return r.st;
  }
  *out = r.t;
  return DP_OK;
}

void dp_table_free(dpTable *t) {
  if (t == NULL) {
    return;
  }
  if (t->name != NULL) {
    for (size_t i = 0; i < t->ncol; i++) {
      dp_free(t->name[i]);
    }
  }
  dp_free(t->name);
  dp_free(t->data);
  dp_free(t);
}

int dp_table_column(const dpTable *t, const char *name) {
  if (t == NULL || name == NULL) {
    return -1;
  }
  for (size_t i = 0; i < t->ncol; i++) {
    if (strcmp(t->name[i], name) == 0) {
      return (int)i;
    }
  }
  return -1;
}

// RFC 4180 needs quotes around a field with a comma, quote or line break; spaces at either end
// would be stripped by libcsv on reading, and an empty name would read as no name.
static int needs_quotes(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t') {
    return 1;
  }
  return strpbrk(s, ",\"\r\n") != NULL;
}

static void write_number(FILE *f, double x) {
  if (isnan(x)) {
    fputs("nan", f);
  } else if (isinf(x)) {
    fputs(x > 0 ? "inf" : "-inf", f);
  } else {
    fprintf(f, "%.17g", x);
  }
}

dpStatus dp_csv_write(const char *path, const char *const *names, size_t ncol, const double *data,
                      size_t nrow, dpError *err) {
  if (names == NULL || ncol == 0 || (data == NULL && nrow > 0)) {
    return dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                        "csv: no columns, or names or data is NULL");
  }
  for (size_t j = 0; j < ncol; j++) {
    if (names[j] == NULL || names[j][0] == '\0') {
      return dp_error_set(err, DP_ERR_INVALID, path, 0, 0, "csv: column %zu has no name",
                          j + 1);
    }
    for (size_t i = 0; i < j; i++) {
      if (strcmp(names[i], names[j]) == 0) {
        return dp_error_set(err, DP_ERR_INVALID, path, 0, 0, "csv: duplicate column name '%s'",
                            names[j]);
      }
    }
  }
  dpAtomicFile a;
  dpStatus st = dp_atomic_open(&a, path, err);
  if (st != DP_OK) {
    return st;
  }
  for (size_t j = 0; j < ncol; j++) {
    if (j > 0) {
      fputc(',', a.f);
    }
    if (needs_quotes(names[j])) {
      csv_fwrite(a.f, names[j], strlen(names[j]));
    } else {
      fputs(names[j], a.f);
    }
  }
  fputc('\n', a.f);
  for (size_t i = 0; i < nrow; i++) {
    for (size_t j = 0; j < ncol; j++) {
      if (j > 0) {
        fputc(',', a.f);
      }
      write_number(a.f, data[i * ncol + j]);
    }
    fputc('\n', a.f);
  }
  return dp_atomic_commit(&a, err);
}
