// dp-inspect: look at dp files. Summaries of trajectory/gradient archives (NPZ), history tables
// (CSV) and scenes (their parameter table); comparison of two archives or tables within
// numpy.allclose tolerances (for regression tests); PNG plots of recorded series; PNG frames of a
// trajectory drawn by the software rasterizer.
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common.h"
#include "core_text.h"
#include "io_yaml.h"
#include "render_scene.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: dp-inspect FILE.npz | FILE.csv | SCENE.yaml [--set PATH=VALUE]... [options]\n"
          "       dp-inspect --compare A B [--rtol X] [--atol X] [options]\n"
          "       dp-inspect --plot SERIES [--plot SERIES]... -o PLOT.png FILE... [options]\n"
          "       dp-inspect --render SCENE.yaml TRAJ.npz --frames DIR [options]\n"
          "       dp-inspect --get SERIES [--get SERIES]... FILE\n"
          "\n"
          "Summarize an NPZ archive (arrays with dtype, shape, min, max, mean; meta.json), a CSV\n"
          "table (columns with first, last, min, max) or a scene (its differentiable parameters);\n"
          "compare two NPZ or two CSV files; plot series as PNG; render trajectory frames.\n"
          "\n"
          "  --compare A B          compare every array (CSV: column) of A and B; exit 1 when one\n"
          "                         differs: |a - b| > atol + rtol |b| somewhere, a missing\n"
          "                         array, another shape, or another meta.json format_version\n"
          "      --rtol X           relative tolerance (default 1e-9)\n"
          "      --atol X           absolute tolerance (default 1e-12)\n"
          "  --plot SERIES          plot SERIES of every FILE (repeatable): an NPZ array with an\n"
          "                         index holding one ':', e.g. 'particles/x[:,0,2]' or\n"
          "                         'particles/x[:,ball,2]', or a CSV column name, e.g. loss\n"
          "  -o, --output PLOT.png  the plot to write (required with --plot)\n"
          "      --x COLUMN         CSV abscissa (default: 'iteration' if present, else the row)\n"
          "      --logy, --linear   force a logarithmic / linear y axis (default: log when every\n"
          "                         series is a CSV 'loss' column with positive values)\n"
          "      --title TEXT, --xlabel TEXT, --ylabel TEXT\n"
          "      --size WxH         image size in pixels (plot default 800x500, frames 800x600)\n"
          "  --get SERIES           print the values SERIES selects, one per line (repeatable):\n"
          "                         'particles/x[-1,ball,0]', 'time', 'loss[-1]' (CSV row)\n"
          "  --render SCENE TRAJ    draw the frames of the trajectory TRAJ of SCENE\n"
          "      --frames DIR       where to write frame_00000.png ... (created if missing)\n"
          "      --view xz|xy|yz    world axes shown right and up (default xz)\n"
          "      --every N          draw every N-th frame (default 1)\n"
          "      --mesh strain|edges  soft bodies and shells: surfaces coloured by strain\n"
          "                         (default) or their edges only\n"
          "      --set PATH=VALUE   override a scene value (repeatable)\n"
          "      --json             print a JSON document on stdout instead of the text\n"
          "  -q, --quiet            print nothing on success (--compare: only the exit status)\n"
          "  -h, --help             show this help\n"
          "  -V, --version          show the version\n"
          "\n"
          "Exit status: 0 success (--compare: everything within tolerance), 1 --compare found a\n"
          "difference or an output could not be written, 2 bad usage or unreadable input.\n");
}

// ---------------------------------------------------------------------------------------------
// Small helpers: memory, number and shape formatting, aligned text tables
// ---------------------------------------------------------------------------------------------

static void *xmalloc(size_t n) {
  void *p = malloc(n > 0 ? n : 1);
  if (p == NULL) {
    fprintf(stderr, "%s: out of memory\n", cli_tool);
    exit(EXIT_FAIL);
  }
  return p;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(xmalloc(n), s, n);
}

static char *xprintf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

static char *xprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = xmalloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

// Shortest of %.15g / %.16g / %.17g that reads back as x (scene values print as written).
static void fmt_exact(char *buf, size_t cap, double x) {
  if (isnan(x)) {
    snprintf(buf, cap, "nan");
    return;
  }
  if (isinf(x)) {
    snprintf(buf, cap, x > 0 ? "inf" : "-inf");
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, x);
    if (strtod(buf, NULL) == x) {
      return;
    }
  }
}

// Six significant digits, for summaries.
static void fmt_short(char *buf, size_t cap, double x) {
  if (isnan(x)) {
    snprintf(buf, cap, "nan");
  } else if (isinf(x)) {
    snprintf(buf, cap, x > 0 ? "inf" : "-inf");
  } else {
    snprintf(buf, cap, "%.6g", x == 0 ? 0.0 : x);  // no "-0"
  }
}

// numpy style: () (5,) (201, 1, 3)
static void fmt_shape(char *buf, size_t cap, int ndim, const size_t *shape) {
  size_t used = (size_t)snprintf(buf, cap, "(");
  for (int i = 0; i < ndim && used < cap; i++) {
    used += (size_t)snprintf(buf + used, cap - used, "%s%zu", i > 0 ? ", " : "", shape[i]);
  }
  if (used < cap) {
    snprintf(buf + used, cap - used, ndim == 1 ? ",)" : ")");
  }
}

// A JSON number that reads back exactly (cJSON prints 15 significant digits when they are
// "close enough"); non-finite numbers become null.
static cJSON *json_num(double x) {
  if (!isfinite(x)) {
    return cJSON_CreateNull();
  }
  char buf[32];
  fmt_exact(buf, sizeof buf, x);
  return cJSON_CreateRaw(buf);
}

static void json_add_num(cJSON *o, const char *key, double x) {
  cJSON_AddItemToObject(o, key, json_num(x));
}

// Numbers of a parsed document (meta.json) in exact form, in place.
static void json_exact_numbers(cJSON *o) {
  for (cJSON *c = o->child; c != NULL; c = c->next) {
    if (cJSON_IsNumber(c)) {
      cJSON *r = json_num(c->valuedouble);
      if (cJSON_IsObject(o)) {
        cJSON_ReplaceItemInObjectCaseSensitive(o, c->string, r);
      } else {
        cJSON_ReplaceItemViaPointer(o, c, r);
      }
      c = r;
    } else if (cJSON_IsObject(c) || cJSON_IsArray(c)) {
      json_exact_numbers(c);
    }
  }
}

static cJSON *json_shape(int ndim, const size_t *shape) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < ndim; i++) {
    cJSON_AddItemToArray(a, json_num((double)shape[i]));
  }
  return a;
}

static void json_print(cJSON *doc) {
  char *s = cJSON_Print(doc);
  if (s == NULL) {
    fprintf(stderr, "%s: out of memory\n", cli_tool);
    exit(EXIT_FAIL);
  }
  printf("%s\n", s);
  cJSON_free(s);
}

// A text table: left-aligned columns two spaces apart, a header row first.
typedef struct {
  int ncol;
  size_t nrow, cap;
  char **cell;  // nrow × ncol, owned
} txtTable;

static void tt_init(txtTable *t, int ncol) {
  memset(t, 0, sizeof *t);
  t->ncol = ncol;
}

// Append a row of ncol strings (copied).
static void tt_row(txtTable *t, ...) {
  if (t->nrow == t->cap) {
    t->cap = t->cap == 0 ? 16 : 2 * t->cap;
    char **nc = realloc(t->cell, t->cap * (size_t)t->ncol * sizeof *nc);
    if (nc == NULL) {
      fprintf(stderr, "%s: out of memory\n", cli_tool);
      exit(EXIT_FAIL);
    }
    t->cell = nc;
  }
  va_list ap;
  va_start(ap, t);
  for (int j = 0; j < t->ncol; j++) {
    const char *s = va_arg(ap, const char *);
    t->cell[t->nrow * (size_t)t->ncol + (size_t)j] = xstrdup(s != NULL ? s : "");
  }
  va_end(ap);
  t->nrow++;
}

static void tt_print(const txtTable *t, const char *indent) {
  size_t w[16] = {0};
  for (size_t i = 0; i < t->nrow; i++) {
    for (int j = 0; j < t->ncol; j++) {
      size_t n = strlen(t->cell[i * (size_t)t->ncol + (size_t)j]);
      w[j] = n > w[j] ? n : w[j];
    }
  }
  for (size_t i = 0; i < t->nrow; i++) {
    // Trailing empty cells are not padded.
    int last = t->ncol - 1;
    while (last > 0 && t->cell[i * (size_t)t->ncol + (size_t)last][0] == '\0') {
      last--;
    }
    fputs(indent, stdout);
    for (int j = 0; j <= last; j++) {
      const char *s = t->cell[i * (size_t)t->ncol + (size_t)j];
      if (j < last) {
        printf("%-*s  ", (int)w[j], s);
      } else {
        fputs(s, stdout);
      }
    }
    putchar('\n');
  }
}

static void tt_free(txtTable *t) {
  for (size_t i = 0; i < t->nrow * (size_t)t->ncol; i++) {
    free(t->cell[i]);
  }
  free(t->cell);
  memset(t, 0, sizeof *t);
}

// ---------------------------------------------------------------------------------------------
// Inputs: what a file is, and loading it
// ---------------------------------------------------------------------------------------------

typedef enum { KIND_UNKNOWN = 0, KIND_NPZ, KIND_CSV, KIND_SCENE } fileKind;

static const char *kind_name(fileKind k) {
  return k == KIND_NPZ ? "an NPZ archive" : k == KIND_CSV ? "a CSV table" : "a scene";
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

// By extension; else a ZIP signature means an NPZ.
static fileKind file_kind(const char *path) {
  if (ends_with(path, ".npz")) {
    return KIND_NPZ;
  }
  if (ends_with(path, ".csv")) {
    return KIND_CSV;
  }
  if (ends_with(path, ".yaml") || ends_with(path, ".yml")) {
    return KIND_SCENE;
  }
  FILE *f = fopen(path, "rb");
  unsigned char sig[4] = {0};
  if (f != NULL) {
    size_t n = fread(sig, 1, 4, f);
    fclose(f);
    if (n == 4 && memcmp(sig, "PK\x03\x04", 4) == 0) {
      return KIND_NPZ;
    }
  }
  return KIND_UNKNOWN;
}

// A loaded NPZ or CSV file.
typedef struct {
  const char *path;
  fileKind kind;
  dpNpz *z;
  dpTable *t;
  cJSON *meta;  // parsed meta.json, or NULL
} input;

// Load path as an NPZ or CSV file; returns an exit code (0 when loaded).
static int input_load(input *in, const char *path) {
  memset(in, 0, sizeof *in);
  in->path = path;
  in->kind = file_kind(path);
  dpError err;
  dp_error_clear(&err);
  if (in->kind == KIND_NPZ) {
    if (dp_npz_read(path, &in->z, &err) != DP_OK) {
      return cli_report(&err, 1);
    }
    const dpNpzEntry *m = dp_npz_get(in->z, "meta.json");
    if (m != NULL && m->text != NULL) {
      in->meta = cJSON_Parse(m->text);
    }
    return EXIT_OK;
  }
  if (in->kind == KIND_CSV) {
    return dp_csv_read(path, &in->t, &err) == DP_OK ? EXIT_OK : cli_report(&err, 1);
  }
  if (in->kind == KIND_SCENE) {
    return cli_usage_error("'%s' is a scene; expected an NPZ or CSV file here", path);
  }
  return cli_usage_error("cannot tell what '%s' is: expected a .npz, .csv or .yaml file", path);
}

static void input_free(input *in) {
  dp_npz_free(in->z);
  dp_table_free(in->t);
  cJSON_Delete(in->meta);
  memset(in, 0, sizeof *in);
}

static int is_array(const dpNpzEntry *e) {
  return e != NULL && e->text == NULL;
}

// "(did you mean 'x'?)" for name among the arrays (NPZ) or columns (CSV) of in, or "".
static void suggest(const input *in, const char *name, char *buf, size_t cap) {
  size_t n = in->z != NULL ? in->z->n : in->t->ncol;
  const char **cand = xmalloc(n * sizeof *cand);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (in->z != NULL) {
      if (is_array(&in->z->entry[i])) {
        cand[k++] = in->z->entry[i].name;
      }
    } else {
      cand[k++] = in->t->name[i];
    }
  }
  const char *s = dp_yaml_suggest(name, cand, k);
  if (s != NULL) {
    snprintf(buf, cap, " (did you mean '%s'?)", s);
  } else if (in->z != NULL && k > 0 && k <= 8) {
    size_t used = (size_t)snprintf(buf, cap, " (arrays:");
    for (size_t i = 0; i < k && used < cap; i++) {
      used += (size_t)snprintf(buf + used, cap - used, " %s", cand[i]);
    }
    if (used < cap) {
      snprintf(buf + used, cap - used, ")");
    }
  } else {
    buf[0] = '\0';
  }
  free(cand);
}

// Statistics of the finite values, and counts of the others.
typedef struct {
  double min, max, mean;
  size_t nfinite, nnan, ninf;
} stats;

static stats stats_of(const double *x, size_t n, size_t stride) {
  stats s = {NAN, NAN, NAN, 0, 0, 0};
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    double v = x[i * stride];
    if (isnan(v)) {
      s.nnan++;
    } else if (isinf(v)) {
      s.ninf++;
    } else {
      if (s.nfinite == 0 || v < s.min) {
        s.min = v;
      }
      if (s.nfinite == 0 || v > s.max) {
        s.max = v;
      }
      sum += v;
      s.nfinite++;
    }
  }
  if (s.nfinite > 0) {
    s.mean = sum / (double)s.nfinite;
  }
  return s;
}

static void fmt_nonfinite(char *buf, size_t cap, const stats *s) {
  if (s->nnan > 0 && s->ninf > 0) {
    snprintf(buf, cap, "%zu nan, %zu inf", s->nnan, s->ninf);
  } else if (s->nnan > 0) {
    snprintf(buf, cap, "%zu nan", s->nnan);
  } else if (s->ninf > 0) {
    snprintf(buf, cap, "%zu inf", s->ninf);
  } else {
    buf[0] = '\0';
  }
}

static void stats_json(cJSON *o, const stats *s) {
  cJSON_AddItemToObject(o, "min", s->nfinite ? json_num(s->min) : cJSON_CreateNull());
  cJSON_AddItemToObject(o, "max", s->nfinite ? json_num(s->max) : cJSON_CreateNull());
  cJSON_AddItemToObject(o, "mean", s->nfinite ? json_num(s->mean) : cJSON_CreateNull());
  json_add_num(o, "nan", (double)s->nnan);
  json_add_num(o, "inf", (double)s->ninf);
}

// ---------------------------------------------------------------------------------------------
// Summaries
// ---------------------------------------------------------------------------------------------

// A JSON value on one line: strings bare, numbers shortest, short arrays of scalars inline.
static void print_json_scalar(const cJSON *v) {
  char buf[64];
  if (cJSON_IsString(v)) {
    fputs(v->valuestring, stdout);
  } else if (cJSON_IsNumber(v)) {
    fmt_exact(buf, sizeof buf, v->valuedouble);
    fputs(buf, stdout);
  } else if (cJSON_IsBool(v)) {
    fputs(cJSON_IsTrue(v) ? "true" : "false", stdout);
  } else if (cJSON_IsNull(v)) {
    fputs("null", stdout);
  } else {
    char *s = cJSON_PrintUnformatted(v);
    fputs(s != NULL ? s : "?", stdout);
    cJSON_free(s);
  }
}

// key: value lines, nested objects indented; arrays of scalars as [a, b, c] (the first 12).
static void print_meta(const cJSON *o, int indent) {
  for (const cJSON *c = o->child; c != NULL; c = c->next) {
    printf("%*s%s:", indent, "", c->string != NULL ? c->string : "");
    if (cJSON_IsObject(c)) {
      putchar('\n');
      print_meta(c, indent + 2);
      continue;
    }
    putchar(' ');
    if (cJSON_IsArray(c)) {
      int n = cJSON_GetArraySize(c), i = 0;
      putchar('[');
      for (const cJSON *e = c->child; e != NULL && i < 12; e = e->next, i++) {
        if (i > 0) {
          fputs(", ", stdout);
        }
        print_json_scalar(e);
      }
      printf(n > 12 ? ", ...] (%d items)" : "]", n);
    } else {
      print_json_scalar(c);
    }
    putchar('\n');
  }
}

static int summary_npz(const char *path, int json, int quiet) {
  input in;
  int rc = input_load(&in, path);
  if (rc != EXIT_OK) {
    return rc;
  }
  const dpNpz *z = in.z;
  cJSON *doc = NULL, *arrays = NULL, *texts = NULL;
  txtTable t;
  tt_init(&t, 7);
  tt_row(&t, "array", "dtype", "shape", "min", "max", "mean", "");
  if (json) {
    doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "file", path);
    arrays = cJSON_AddArrayToObject(doc, "arrays");
    texts = cJSON_AddArrayToObject(doc, "text");
  }
  size_t narr = 0;
  for (size_t i = 0; i < z->n; i++) {
    const dpNpzEntry *e = &z->entry[i];
    if (!is_array(e)) {
      continue;
    }
    narr++;
    stats s = stats_of(e->data, e->size, 1);
    if (json) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "name", e->name);
      cJSON_AddStringToObject(o, "dtype", e->dtype);
      cJSON_AddItemToObject(o, "shape", json_shape(e->ndim, e->shape));
      stats_json(o, &s);
      cJSON_AddItemToArray(arrays, o);
      continue;
    }
    char shape[96], mn[32], mx[32], mean[32], nf[64];
    fmt_shape(shape, sizeof shape, e->ndim, e->shape);
    fmt_short(mn, sizeof mn, s.min);
    fmt_short(mx, sizeof mx, s.max);
    fmt_short(mean, sizeof mean, s.mean);
    if (s.nfinite == 0) {
      snprintf(mn, sizeof mn, "-");
      snprintf(mx, sizeof mx, "-");
      snprintf(mean, sizeof mean, "-");
    }
    fmt_nonfinite(nf, sizeof nf, &s);
    tt_row(&t, e->name, e->dtype, shape, mn, mx, mean, nf);
  }
  if (json) {
    for (size_t i = 0; i < z->n; i++) {
      const dpNpzEntry *e = &z->entry[i];
      if (!is_array(e)) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", e->name);
        json_add_num(o, "bytes", (double)strlen(e->text));
        cJSON_AddItemToArray(texts, o);
      }
    }
    cJSON *meta = in.meta != NULL ? cJSON_Duplicate(in.meta, 1) : cJSON_CreateNull();
    json_exact_numbers(meta);
    cJSON_AddItemToObject(doc, "meta", meta);
    if (!quiet) {
      json_print(doc);
    }
  } else if (!quiet) {
    printf("%s: %zu array%s\n", path, narr, narr == 1 ? "" : "s");
    tt_print(&t, "  ");
    for (size_t i = 0; i < z->n; i++) {
      const dpNpzEntry *e = &z->entry[i];
      if (is_array(e)) {
        continue;
      }
      if (strcmp(e->name, "meta.json") == 0 && cJSON_IsObject(in.meta)) {
        printf("%s:\n", e->name);
        print_meta(in.meta, 2);
      } else {
        printf("%s: text, %zu bytes\n", e->name, strlen(e->text));
      }
    }
  }
  tt_free(&t);
  cJSON_Delete(doc);
  input_free(&in);
  return EXIT_OK;
}

static int summary_csv(const char *path, int json, int quiet) {
  input in;
  int rc = input_load(&in, path);
  if (rc != EXIT_OK) {
    return rc;
  }
  const dpTable *tb = in.t;
  cJSON *doc = NULL, *cols = NULL;
  txtTable t;
  tt_init(&t, 6);
  tt_row(&t, "column", "first", "last", "min", "max", "");
  if (json) {
    doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "file", path);
    json_add_num(doc, "rows", (double)tb->nrow);
    cols = cJSON_AddArrayToObject(doc, "columns");
  }
  for (size_t j = 0; j < tb->ncol; j++) {
    stats s = stats_of(tb->data + j, tb->nrow, tb->ncol);
    double first = tb->nrow > 0 ? tb->data[j] : NAN;
    double last = tb->nrow > 0 ? tb->data[(tb->nrow - 1) * tb->ncol + j] : NAN;
    if (json) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "name", tb->name[j]);
      cJSON_AddItemToObject(o, "first", tb->nrow ? json_num(first) : cJSON_CreateNull());
      cJSON_AddItemToObject(o, "last", tb->nrow ? json_num(last) : cJSON_CreateNull());
      stats_json(o, &s);
      cJSON_AddItemToArray(cols, o);
      continue;
    }
    char f[32] = "-", l[32] = "-", mn[32] = "-", mx[32] = "-", nf[64];
    if (tb->nrow > 0) {
      fmt_short(f, sizeof f, first);
      fmt_short(l, sizeof l, last);
    }
    if (s.nfinite > 0) {
      fmt_short(mn, sizeof mn, s.min);
      fmt_short(mx, sizeof mx, s.max);
    }
    fmt_nonfinite(nf, sizeof nf, &s);
    tt_row(&t, tb->name[j], f, l, mn, mx, nf);
  }
  if (json) {
    if (!quiet) {
      json_print(doc);
    }
  } else if (!quiet) {
    printf("%s: %zu row%s, %zu column%s\n", path, tb->nrow, tb->nrow == 1 ? "" : "s", tb->ncol,
           tb->ncol == 1 ? "" : "s");
    tt_print(&t, "  ");
  }
  tt_free(&t);
  cJSON_Delete(doc);
  input_free(&in);
  return EXIT_OK;
}

static const char *integrator_name(dpIntegrator k) {
  return k == DP_EXPLICIT_EULER ? "explicit_euler"
         : k == DP_RK4          ? "rk4"
         : k == DP_IMPLICIT_EULER ? "implicit_euler"
                                : "semi_implicit_euler";
}

// The scene's parameters: entry that selects path, or NULL.
static const dpParamSpec *spec_of(const dpModel *m, const char *path) {
  for (size_t i = 0; i < m->nspec; i++) {
    if (dp_path_match(m->spec[i].path, path)) {
      return &m->spec[i];
    }
  }
  return NULL;
}

// Entries longer than this are summarized by their range.
#define VALUE_INLINE_MAX 6

static const char *shape_type_name(dpShapeType t) {
  return t == DP_SHAPE_SPHERE ? "sphere" : t == DP_SHAPE_CAPSULE ? "capsule" : "box";
}

static const char *actuator_type_name(dpActuatorType t) {
  return t == DP_ACTUATOR_MOTOR ? "motor" : "position";
}

static const char *plural(int n, const char *one, const char *many) {
  return n == 1 ? one : many;
}

// The articulated bodies, their shapes and actuators: text tables (printed after the header
// line) or arrays of the --json document.
static void summary_bodies(const dpModel *m, cJSON *doc, txtTable *tb, txtTable *ts,
                           txtTable *ta) {
  cJSON *jb = NULL, *js = NULL, *ja = NULL;
  if (doc != NULL) {
    json_add_num(doc, "nq", m->nq);
    json_add_num(doc, "nv", m->nv);
    jb = cJSON_AddArrayToObject(doc, "bodies");
    js = cJSON_AddArrayToObject(doc, "shapes");
    ja = cJSON_AddArrayToObject(doc, "actuators");
  }
  tt_row(tb, "body", "joint", "parent", "nq", "nv", "q at", "qd at");
  for (int i = 0; i < m->nb; i++) {
    const char *parent = m->bparent[i] >= 0 ? m->bname[m->bparent[i]] : "world";
    int nq = dp_joint_nq(m->bjoint[i]), nv = dp_joint_nv(m->bjoint[i]);
    if (jb != NULL) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "name", m->bname[i]);
      cJSON_AddStringToObject(o, "joint", dp_joint_type_name(m->bjoint[i]));
      if (m->bparent[i] >= 0) {
        cJSON_AddStringToObject(o, "parent", parent);
      } else {
        cJSON_AddNullToObject(o, "parent");
      }
      json_add_num(o, "nq", nq);
      json_add_num(o, "nv", nv);
      json_add_num(o, "qadr", m->bqadr[i]);
      json_add_num(o, "vadr", m->bvadr[i]);
      cJSON_AddItemToArray(jb, o);
      continue;
    }
    char a[16], b[16], c[16], d[16];
    snprintf(a, sizeof a, "%d", nq);
    snprintf(b, sizeof b, "%d", nv);
    snprintf(c, sizeof c, "%d", m->bqadr[i]);
    snprintf(d, sizeof d, "%d", m->bvadr[i]);
    tt_row(tb, m->bname[i], dp_joint_type_name(m->bjoint[i]), parent, a, b, nq > 0 ? c : "-",
           nv > 0 ? d : "-");
  }
  tt_row(ts, "shape", "type", "body", "contact");
  for (int k = 0; k < m->nsh; k++) {
    if (js != NULL) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "name", m->shname[k]);
      cJSON_AddStringToObject(o, "type", shape_type_name(m->shtype[k]));
      cJSON_AddStringToObject(o, "body", m->bname[m->shbody[k]]);
      cJSON_AddBoolToObject(o, "contact", m->shcontact[k]);
      cJSON_AddItemToArray(js, o);
      continue;
    }
    tt_row(ts, m->shname[k], shape_type_name(m->shtype[k]), m->bname[m->shbody[k]],
           m->shcontact[k] ? "yes" : "no");
  }
  tt_row(ta, "actuator", "type", "body", "control range");
  for (int k = 0; k < m->na; k++) {
    if (ja != NULL) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "name", m->aname[k]);
      cJSON_AddStringToObject(o, "type", actuator_type_name(m->atype[k]));
      cJSON_AddStringToObject(o, "body", m->bname[m->abody[k]]);
      if (m->alimited[k]) {
        cJSON *r = cJSON_AddArrayToObject(o, "ctrl_range");
        cJSON_AddItemToArray(r, json_num(m->arange[3 * k]));
        cJSON_AddItemToArray(r, json_num(m->arange[3 * k + 1]));
      }
      cJSON_AddItemToArray(ja, o);
      continue;
    }
    char range[80] = "-";
    if (m->alimited[k]) {
      char a[32], b[32];
      fmt_exact(a, sizeof a, m->arange[3 * k]);
      fmt_exact(b, sizeof b, m->arange[3 * k + 1]);
      snprintf(range, sizeof range, "[%s, %s]", a, b);
    }
    tt_row(ta, m->aname[k], actuator_type_name(m->atype[k]), m->bname[m->abody[k]], range);
  }
}

// In the order of dpMaterial, as the scene spells them.
static const char *material_name(dpMaterial k) {
  static const char *const names[] = {"linear", "corotated", "stvk", "neohookean"};
  return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

// "v" for one value, "min .. max" for several (exact for one, six digits for a range).
static void fmt_range(char *buf, size_t cap, const double *v, size_t n) {
  stats st = stats_of(v, n, 1);
  if (n == 1 || st.min == st.max) {
    fmt_exact(buf, cap, v[0]);
    return;
  }
  char a[32], b[32];
  fmt_short(a, sizeof a, st.min);
  fmt_short(b, sizeof b, st.max);
  snprintf(buf, cap, "%s .. %s", a, b);
}

// The soft bodies and shells: a text table (printed after the header line) or an array of the
// --json document. E and ν are the scene's values (θ), per element as a range.
static void summary_soft(const dpModel *m, cJSON *doc, txtTable *t) {
  cJSON *js = doc != NULL ? cJSON_AddArrayToObject(doc, "softbodies") : NULL;
  tt_row(t, "soft body", "kind", "vertices", "elements", "material", "E (Pa)", "nu", "density",
         "pins");
  for (int i = 0; i < m->nsoft; i++) {
    int shell = m->soft_shell[i];
    size_t nm = m->soft_perelem[i] ? (size_t)m->soft_ne[i] : 1;
    const double *E = m->theta0 + m->off.soft_E + m->soft_madr[i];
    const double *nu = m->theta0 + m->off.soft_nu + m->soft_madr[i];
    double rho = m->theta0[m->off.soft_density + (size_t)i];
    const char *mat = shell ? "stvk" : material_name(m->soft_material[i]);
    if (js != NULL) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "name", m->softname[i]);
      cJSON_AddStringToObject(o, "kind", shell ? "shell" : "softbody");
      json_add_num(o, "vertices", m->soft_nv[i]);
      json_add_num(o, shell ? "triangles" : "tetrahedra", m->soft_ne[i]);
      cJSON_AddStringToObject(o, "material", mat);
      stats se = stats_of(E, nm, 1), sn = stats_of(nu, nm, 1);
      if (nm == 1) {
        json_add_num(o, "youngs_modulus", E[0]);
        json_add_num(o, "poisson_ratio", nu[0]);
      } else {
        cJSON *a = cJSON_AddArrayToObject(o, "youngs_modulus_range");
        cJSON_AddItemToArray(a, json_num(se.min));
        cJSON_AddItemToArray(a, json_num(se.max));
        a = cJSON_AddArrayToObject(o, "poisson_ratio_range");
        cJSON_AddItemToArray(a, json_num(sn.min));
        cJSON_AddItemToArray(a, json_num(sn.max));
      }
      json_add_num(o, "density", rho);
      if (shell) {
        json_add_num(o, "thickness", m->theta0[m->off.soft_thickness + (size_t)i]);
      }
      json_add_num(o, "pins", m->soft_npin[i]);
      cJSON_AddItemToArray(js, o);
      continue;
    }
    char nv[16], ne[32], e[80], n[80], d[48], pins[16];
    snprintf(nv, sizeof nv, "%d", m->soft_nv[i]);
    snprintf(ne, sizeof ne, "%d %s", m->soft_ne[i],
             shell ? plural(m->soft_ne[i], "triangle", "triangles")
                   : plural(m->soft_ne[i], "tetrahedron", "tetrahedra"));
    fmt_range(e, sizeof e, E, nm);
    fmt_range(n, sizeof n, nu, nm);
    char r[32];
    fmt_exact(r, sizeof r, rho);
    snprintf(d, sizeof d, "%s %s", r, shell ? "kg/m^2" : "kg/m^3");
    snprintf(pins, sizeof pins, "%d", m->soft_npin[i]);
    tt_row(t, m->softname[i], shell ? "shell" : "soft body", nv, ne,
           shell ? "stvk (membrane)" : mat, e, n, d, pins);
  }
}

static int summary_scene(const char *path, const cli_list *sets, int json, int quiet) {
  dpError err;
  dp_error_clear(&err);
  dpModel *m = NULL;
  if (dp_scene_load(path, sets->v, sets->n, &m, &err) != DP_OK) {
    return cli_report(&err, 1);
  }
  int ncoll[3] = {0, 0, 0};
  for (int i = 0; i < m->nc; i++) {
    ncoll[m->ctype[i]]++;
  }
  cJSON *doc = NULL, *params = NULL;
  if (json) {
    doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "file", path);
    cJSON_AddStringToObject(doc, "scene", m->name);
    json_add_num(doc, "dt", m->dt);
    json_add_num(doc, "steps", m->steps);
    json_add_num(doc, "substeps", m->substeps);
    cJSON_AddStringToObject(doc, "integrator", integrator_name(m->integrator));
    json_add_num(doc, "particles", m->np);
    json_add_num(doc, "springs", m->ns);
    json_add_num(doc, "colliders", m->nc);
    json_add_num(doc, "controlled_particles", m->nu);
    json_add_num(doc, "ntheta", (double)m->ntheta);
  }
  txtTable tb, ts, ta, tsoft;
  tt_init(&tb, 7);
  tt_init(&ts, 4);
  tt_init(&ta, 4);
  tt_init(&tsoft, 9);
  if (m->nb > 0) {
    summary_bodies(m, doc, &tb, &ts, &ta);
  }
  int nshell = 0;
  for (int i = 0; i < m->nsoft; i++) {
    nshell += m->soft_shell[i];
  }
  if (m->nsoft > 0) {
    if (doc != NULL) {
      json_add_num(doc, "soft_vertices", m->nvert);
    }
    summary_soft(m, doc, &tsoft);
  }
  if (json) {
    params = cJSON_AddArrayToObject(doc, "parameters");
  }
  txtTable t;
  tt_init(&t, 6);
  tt_row(&t, "parameter", "shape", "value", "lower", "upper", "optimized");
  for (size_t i = 0; i < m->nparam; i++) {
    const dpParam *p = &m->param[i];
    const double *v = m->theta0 + p->offset;
    const dpParamSpec *sp = spec_of(m, p->path);
    stats s = stats_of(v, p->len, 1);
    if (json) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "path", p->path);
      cJSON_AddItemToObject(o, "shape", json_shape(p->ndim, p->shape));
      if (p->ndim == 0) {
        json_add_num(o, "value", v[0]);
      } else if (p->len <= VALUE_INLINE_MAX) {
        cJSON *a = cJSON_AddArrayToObject(o, "value");
        for (size_t k = 0; k < p->len; k++) {
          cJSON_AddItemToArray(a, json_num(v[k]));
        }
      } else {
        cJSON_AddItemToObject(o, "min", json_num(s.min));
        cJSON_AddItemToObject(o, "max", json_num(s.max));
      }
      // ±inf bounds print as null.
      json_add_num(o, "lower", p->lower);
      json_add_num(o, "upper", p->upper);
      cJSON_AddBoolToObject(o, "optimized", sp != NULL);
      if (sp != NULL) {
        cJSON_AddStringToObject(o, "scale", sp->log_scale ? "log" : "linear");
        json_add_num(o, "optimized_lower", sp->lower);
        json_add_num(o, "optimized_upper", sp->upper);
      }
      cJSON_AddItemToArray(params, o);
      continue;
    }
    char shape[64], value[512], lo[32], hi[32], opt[128] = "";
    fmt_shape(shape, sizeof shape, p->ndim, p->shape);
    if (p->ndim == 0) {
      fmt_exact(value, sizeof value, v[0]);
    } else if (p->len <= VALUE_INLINE_MAX) {
      size_t used = (size_t)snprintf(value, sizeof value, "[");
      for (size_t k = 0; k < p->len; k++) {
        char b[32];
        fmt_exact(b, sizeof b, v[k]);
        used += (size_t)snprintf(value + used, sizeof value - used, "%s%s", k ? ", " : "", b);
      }
      snprintf(value + used, sizeof value - used, "]");
    } else {
      char a[32], b[32];
      fmt_short(a, sizeof a, s.min);
      fmt_short(b, sizeof b, s.max);
      snprintf(value, sizeof value, "%s .. %s", a, b);
    }
    fmt_exact(lo, sizeof lo, p->lower);
    fmt_exact(hi, sizeof hi, p->upper);
    if (sp != NULL) {
      char a[32], b[32];
      fmt_exact(a, sizeof a, sp->lower);
      fmt_exact(b, sizeof b, sp->upper);
      snprintf(opt, sizeof opt, "%s [%s, %s]", sp->log_scale ? "log" : "linear", a, b);
    }
    tt_row(&t, p->path, shape, value, lo, hi, opt);
  }
  if (json) {
    if (!quiet) {
      json_print(doc);
    }
  } else if (!quiet) {
    printf("scene %s (%s): dt %g s, %d steps, %s", m->name, path, m->dt, m->steps,
           integrator_name(m->integrator));
    if (m->substeps > 1) {
      printf(" (%d substeps)", m->substeps);
    }
    printf("; %d particle%s, %d spring%s, %d collider%s", m->np, m->np == 1 ? "" : "s", m->ns,
           m->ns == 1 ? "" : "s", m->nc, m->nc == 1 ? "" : "s");
    if (m->nc > 0) {
      printf(" (%d ground, %d box%s, %d sphere%s)", ncoll[DP_COLLIDER_GROUND],
             ncoll[DP_COLLIDER_BOX], ncoll[DP_COLLIDER_BOX] == 1 ? "" : "es",
             ncoll[DP_COLLIDER_SPHERE], ncoll[DP_COLLIDER_SPHERE] == 1 ? "" : "s");
    }
    if (m->nu > 0) {
      printf(", controls on %d particle%s", m->nu, m->nu == 1 ? "" : "s");
    }
    if (m->nb > 0) {
      printf("; %d bod%s (nq %d, nv %d), %d shape%s, %d actuator%s", m->nb,
             plural(m->nb, "y", "ies"), m->nq, m->nv, m->nsh, plural(m->nsh, "", "s"), m->na,
             plural(m->na, "", "s"));
    }
    if (m->nsoft > 0) {
      int nsolid = m->nsoft - nshell;
      printf("; %d soft bod%s, %d shell%s (%d vertices)", nsolid, plural(nsolid, "y", "ies"),
             nshell, plural(nshell, "", "s"), m->nvert);
    }
    printf("\n");
    if (m->nb > 0) {
      tt_print(&tb, "  ");
      if (m->nsh > 0) {
        tt_print(&ts, "  ");
      }
      if (m->na > 0) {
        tt_print(&ta, "  ");
      }
    }
    if (m->nsoft > 0) {
      tt_print(&tsoft, "  ");
    }
    printf("%zu parameter entries, %zu values; %zu in the scene's parameters: list\n",
           m->nparam, m->ntheta, m->nspec);
    tt_print(&t, "  ");
  }
  tt_free(&t);
  tt_free(&tb);
  tt_free(&ts);
  tt_free(&ta);
  tt_free(&tsoft);
  cJSON_Delete(doc);
  dp_model_free(m);
  return EXIT_OK;
}

// ---------------------------------------------------------------------------------------------
// --compare
// ---------------------------------------------------------------------------------------------

// One compared array (or CSV column) in both files.
typedef struct {
  const char *name;
  int ndim_a, ndim_b;         // -1: absent
  const size_t *shape_a, *shape_b;
  size_t shape_col_a[1], shape_col_b[1];
  const double *a, *b;
  size_t stride_a, stride_b;  // CSV columns are strided
  size_t n;
} pairIn;

typedef struct {
  double max_abs, max_rel;
  size_t bad;       // elements outside the tolerance
  size_t nan_diff;  // elements NaN on one side only
  int ok;
} pairOut;

// numpy.allclose(a, b, rtol, atol) elementwise, except that NaN matches NaN: the same file
// written twice must compare equal. Infinities match when equal. Relative error |a-b|/|b|
// (b is the reference), 0 where both are 0 and inf where only b is.
static pairOut compare_values(const pairIn *p, double rtol, double atol) {
  pairOut o = {0, 0, 0, 0, 1};
  for (size_t i = 0; i < p->n; i++) {
    double a = p->a[i * p->stride_a], b = p->b[i * p->stride_b];
    if (isnan(a) || isnan(b)) {
      if (!(isnan(a) && isnan(b))) {
        o.bad++;
        o.nan_diff++;
      }
      continue;
    }
    if (isinf(a) || isinf(b)) {
      if (a != b) {
        o.bad++;
        o.max_abs = INFINITY;
        o.max_rel = INFINITY;
      }
      continue;
    }
    double d = fabs(a - b);
    double rel = b != 0 ? d / fabs(b) : (d > 0 ? INFINITY : 0);
    o.max_abs = d > o.max_abs ? d : o.max_abs;
    o.max_rel = rel > o.max_rel ? rel : o.max_rel;
    if (!(d <= atol + rtol * fabs(b))) {
      o.bad++;
    }
  }
  o.ok = o.bad == 0;
  return o;
}

static int same_shape(const pairIn *p) {
  if (p->ndim_a != p->ndim_b) {
    return 0;
  }
  for (int i = 0; i < p->ndim_a; i++) {
    if (p->shape_a[i] != p->shape_b[i]) {
      return 0;
    }
  }
  return 1;
}

// format_version of a meta.json, or NAN.
static double format_version(const cJSON *meta) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, "format_version");
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int run_compare(const char *pa, const char *pb, double rtol, double atol, int json,
                       int quiet) {
  input A, B;
  int rc = input_load(&A, pa);
  if (rc != EXIT_OK) {
    return rc;
  }
  rc = input_load(&B, pb);
  if (rc != EXIT_OK) {
    input_free(&A);
    return rc;
  }
  if (A.kind != B.kind) {
    rc = cli_usage_error("cannot compare %s ('%s') with %s ('%s')", kind_name(A.kind), pa,
                         kind_name(B.kind), pb);
    input_free(&A);
    input_free(&B);
    return rc;
  }
  // The union of names: A's in order, then those only in B.
  size_t na = A.z != NULL ? A.z->n : A.t->ncol;
  size_t nb = B.z != NULL ? B.z->n : B.t->ncol;
  pairIn *pairs = xmalloc((na + nb) * sizeof *pairs);
  size_t np = 0;
  for (int side = 0; side < 2; side++) {
    const input *in = side == 0 ? &A : &B;
    const input *other = side == 0 ? &B : &A;
    size_t n = side == 0 ? na : nb;
    for (size_t i = 0; i < n; i++) {
      pairIn p;
      memset(&p, 0, sizeof p);
      p.ndim_a = p.ndim_b = -1;
      const double *d_in = NULL, *d_other = NULL;
      int nd_in = -1, nd_other = -1;
      const size_t *s_in = NULL, *s_other = NULL;
      size_t st_in = 1, st_other = 1;
      if (in->z != NULL) {
        const dpNpzEntry *e = &in->z->entry[i];
        if (!is_array(e)) {
          continue;
        }
        p.name = e->name;
        const dpNpzEntry *f = dp_npz_get(other->z, e->name);
        if (side == 1 && is_array(f)) {
          continue;  // already paired
        }
        d_in = e->data;
        nd_in = e->ndim;
        s_in = e->shape;
        p.n = e->size;
        if (is_array(f)) {
          d_other = f->data;
          nd_other = f->ndim;
          s_other = f->shape;
        }
      } else {
        p.name = in->t->name[i];
        int j = dp_table_column(other->t, p.name);
        if (side == 1 && j >= 0) {
          continue;
        }
        d_in = in->t->data + i;
        st_in = in->t->ncol;
        nd_in = 1;
        s_in = &in->t->nrow;
        p.n = in->t->nrow;
        if (j >= 0) {
          d_other = other->t->data + j;
          st_other = other->t->ncol;
          nd_other = 1;
          s_other = &other->t->nrow;
        }
      }
      if (side == 0) {
        p.a = d_in, p.ndim_a = nd_in, p.shape_a = s_in, p.stride_a = st_in;
        p.b = d_other, p.ndim_b = nd_other, p.shape_b = s_other, p.stride_b = st_other;
      } else {
        p.b = d_in, p.ndim_b = nd_in, p.shape_b = s_in, p.stride_b = st_in;
      }
      pairs[np++] = p;
    }
  }
  cJSON *doc = NULL, *arr = NULL;
  if (json) {
    doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "a", pa);
    cJSON_AddStringToObject(doc, "b", pb);
    json_add_num(doc, "rtol", rtol);
    json_add_num(doc, "atol", atol);
    arr = cJSON_AddArrayToObject(doc, "arrays");
  }
  txtTable t;
  tt_init(&t, 5);
  tt_row(&t, A.z != NULL ? "array" : "column", "shape", "max abs err", "max rel err", "result");
  size_t ndiff = 0;
  for (size_t i = 0; i < np; i++) {
    const pairIn *p = &pairs[i];
    char shape[200], ea[32] = "-", er[32] = "-", detail[160], result[192];
    const char *status;
    pairOut o = {0, 0, 0, 0, 0};
    if (p->ndim_a < 0 || p->ndim_b < 0) {
      status = p->ndim_a < 0 ? "missing in a" : "missing in b";
      fmt_shape(shape, sizeof shape, p->ndim_a < 0 ? p->ndim_b : p->ndim_a,
                p->ndim_a < 0 ? p->shape_b : p->shape_a);
      snprintf(detail, sizeof detail, "missing in %s", p->ndim_a < 0 ? pa : pb);
    } else if (!same_shape(p)) {
      status = "shape mismatch";
      char sa[96], sb[96];  // fmt_shape of 8 dimensions fits
      fmt_shape(sa, sizeof sa, p->ndim_a, p->shape_a);
      fmt_shape(sb, sizeof sb, p->ndim_b, p->shape_b);
      snprintf(shape, sizeof shape, "%s vs %s", sa, sb);
      snprintf(detail, sizeof detail, "shape mismatch");
    } else {
      fmt_shape(shape, sizeof shape, p->ndim_a, p->shape_a);
      o = compare_values(p, rtol, atol);
      snprintf(ea, sizeof ea, "%.3g", o.max_abs);
      snprintf(er, sizeof er, "%.3g", o.max_rel);
      status = o.ok ? "ok" : "differs";
      if (o.nan_diff > 0) {
        snprintf(detail, sizeof detail, "%zu of %zu elements (%zu NaN on one side)", o.bad,
                 p->n, o.nan_diff);
      } else {
        snprintf(detail, sizeof detail, "%zu of %zu elements", o.bad, p->n);
      }
    }
    if (o.ok) {
      snprintf(result, sizeof result, "ok");
    } else {
      ndiff++;
      snprintf(result, sizeof result, "DIFFERS: %s", detail);
    }
    if (json) {
      cJSON *e = cJSON_CreateObject();
      cJSON_AddStringToObject(e, "name", p->name);
      cJSON_AddItemToObject(e, "shape_a", p->ndim_a < 0 ? cJSON_CreateNull()
                                                        : json_shape(p->ndim_a, p->shape_a));
      cJSON_AddItemToObject(e, "shape_b", p->ndim_b < 0 ? cJSON_CreateNull()
                                                        : json_shape(p->ndim_b, p->shape_b));
      int compared = strcmp(status, "ok") == 0 || strcmp(status, "differs") == 0;
      cJSON_AddItemToObject(e, "max_abs_err",
                            compared ? json_num(o.max_abs) : cJSON_CreateNull());
      cJSON_AddItemToObject(e, "max_rel_err",
                            compared ? json_num(o.max_rel) : cJSON_CreateNull());
      json_add_num(e, "mismatched", (double)o.bad);
      cJSON_AddStringToObject(e, "status", status);
      cJSON_AddBoolToObject(e, "ok", o.ok);
      cJSON_AddItemToArray(arr, e);
    }
    tt_row(&t, p->name, shape, ea, er, result);
  }
  // meta.json: only format_version is compared, when both files record one (tool versions,
  // file names and hashes may differ between two equivalent runs).
  double fa = format_version(A.meta), fb = format_version(B.meta);
  int fv_differs = !isnan(fa) && !isnan(fb) && fa != fb;
  if (json) {
    cJSON *fv = cJSON_AddObjectToObject(doc, "format_version");
    cJSON_AddItemToObject(fv, "a", isnan(fa) ? cJSON_CreateNull() : json_num(fa));
    cJSON_AddItemToObject(fv, "b", isnan(fb) ? cJSON_CreateNull() : json_num(fb));
    cJSON_AddBoolToObject(fv, "ok", !fv_differs);
    json_add_num(doc, "compared", (double)np);
    json_add_num(doc, "differ", (double)ndiff);
    cJSON_AddBoolToObject(doc, "ok", ndiff == 0 && !fv_differs);
    if (!quiet) {
      json_print(doc);
    }
  } else if (!quiet) {
    tt_print(&t, "");
    if (fv_differs) {
      char a[32] = "none", b[32] = "none";
      if (!isnan(fa)) {
        fmt_exact(a, sizeof a, fa);
      }
      if (!isnan(fb)) {
        fmt_exact(b, sizeof b, fb);
      }
      printf("meta.json format_version: %s vs %s: DIFFERS\n", a, b);
    }
    printf("compare: %zu %s, %zu differ%s (rtol %g, atol %g)\n", np,
           A.z != NULL ? (np == 1 ? "array" : "arrays") : (np == 1 ? "column" : "columns"),
           ndiff, fv_differs ? ", format_version differs" : "", rtol, atol);
  }
  tt_free(&t);
  cJSON_Delete(doc);
  free(pairs);
  input_free(&A);
  input_free(&B);
  return ndiff == 0 && !fv_differs ? EXIT_OK : EXIT_FAIL;
}

// ---------------------------------------------------------------------------------------------
// --plot
// ---------------------------------------------------------------------------------------------

typedef enum { X_INDEX = 0, X_TIME, X_COLUMN } xKind;

typedef struct {
  char *label;
  size_t n;
  double *x, *y;
  xKind xkind;
  const char *xname;  // X_COLUMN: the column
  int is_loss;        // a CSV 'loss' column
} builtSeries;

// Particle names listed in meta.json ("particles"), or NULL.
static const cJSON *meta_particles(const input *in) {
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(in->meta, "particles");
  return cJSON_IsArray(p) ? p : NULL;
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') {
    s++;
  }
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
    s[--n] = '\0';
  }
  return s;
}

// One index token of axis `axis` (length len) of array `name`: -1 for ':', else the index.
// Returns 0 (and prints) on error.
static int parse_index(const input *in, const char *series, const char *name, int axis,
                       size_t len, char *tok, long *out) {
  if (strcmp(tok, ":") == 0) {
    *out = -1;
    return 1;
  }
  if (tok[0] == '\0') {
    cli_usage_error("series '%s': empty index at position %d", series, axis + 1);
    return 0;
  }
  if (strchr(tok, ':') != NULL) {
    cli_usage_error("series '%s': '%s': only a whole axis ':' is supported, not a slice",
                    series, tok);
    return 0;
  }
  char *end = NULL;
  errno = 0;
  long k = strtol(tok, &end, 10);
  if (end != tok && *end == '\0' && errno == 0) {
    long n = (long)len;
    if (k < -n || k >= n) {
      cli_usage_error("series '%s': index %ld is out of range for axis %d of '%s' (length %zu)",
                      series, k, axis, name, len);
      return 0;
    }
    *out = k < 0 ? k + n : k;
    return 1;
  }
  // A particle name, on an axis as long as the list of names.
  const cJSON *names = meta_particles(in);
  if (names == NULL || (size_t)cJSON_GetArraySize(names) != len) {
    cli_usage_error("series '%s': '%s' is not an integer index%s", series, tok,
                    names == NULL ? " (and the file lists no particle names)"
                                  : " (particle names index an axis of the particle count)");
    return 0;
  }
  int n = cJSON_GetArraySize(names);
  const char **cand = xmalloc((size_t)n * sizeof *cand);
  int i = 0;
  for (const cJSON *c = names->child; c != NULL; c = c->next, i++) {
    cand[i] = cJSON_IsString(c) ? c->valuestring : "";
    if (strcmp(cand[i], tok) == 0) {
      *out = i;
      free(cand);
      return 1;
    }
  }
  const char *s = dp_yaml_suggest(tok, cand, (size_t)n);
  cli_usage_error("series '%s': no particle '%s' in %s%s%s%s", series, tok, in->path,
                  s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
  free(cand);
  return 0;
}

// A selection of NPZ elements: e->data[base + k stride], k < n. colon: the ':' axis, or -1
// when the index picks one element (n = 1).
typedef struct {
  const dpNpzEntry *e;
  const char *name;  // points into the caller's copy
  size_t base, stride, n;
  int colon;
} npzPick;

// Resolve SERIES = NAME or NAME[i,j,...] in an NPZ. plot: the index must hold exactly one ':'
// (a bare NAME must be 1-D); otherwise (--get) at most one ':' (a bare NAME: the whole of a 0-
// or 1-D array). spec is modified (a copy of series). Prints and returns 0 on error.
static int pick_npz(const input *in, const char *series, char *spec, int plot, npzPick *out) {
  char *br = strchr(spec, '[');
  char *idx = NULL;
  if (br != NULL) {
    size_t n = strlen(spec);
    if (spec[n - 1] != ']' || strchr(br + 1, '[') != NULL || strchr(br, ']') != spec + n - 1) {
      cli_usage_error("series '%s': expected NAME[i,j,...] with one ']' at the end", series);
      return 0;
    }
    *br = '\0';
    spec[n - 1] = '\0';
    idx = br + 1;
  } else if (strchr(spec, ']') != NULL) {
    cli_usage_error("series '%s': ']' without '['", series);
    return 0;
  }
  const char *name = trim(spec);
  const dpNpzEntry *e = dp_npz_get(in->z, name);
  if (e != NULL && !is_array(e)) {
    cli_usage_error("'%s' in %s is a text member, not an array", name, in->path);
    return 0;
  }
  if (e == NULL) {
    char sug[256];
    suggest(in, name, sug, sizeof sug);
    cli_usage_error("no array '%s' in %s%s", name, in->path, sug);
    return 0;
  }
  char shape[96];
  fmt_shape(shape, sizeof shape, e->ndim, e->shape);
  long pos[8];
  int colon = -1;
  if (idx == NULL) {
    if (plot && e->ndim == 0) {
      cli_usage_error("series '%s': '%s' is a scalar: nothing to plot", series, name);
      return 0;
    }
    if (e->ndim > 1) {
      cli_usage_error("series '%s': '%s' has shape %s; pick %s with an index, e.g. %s[%s]", series,
                      name, shape, plot ? "one axis" : "elements", name,
                      e->ndim == 3 ? ":,0,0" : e->ndim == 2 ? ":,0" : ":,0,0,...");
      return 0;
    }
    pos[0] = -1;
    colon = e->ndim == 1 ? 0 : -1;
  } else {
    int ntok = 1;
    for (const char *c = idx; *c; c++) {
      ntok += *c == ',';
    }
    if (ntok != e->ndim) {
      cli_usage_error("series '%s': %d ind%s for '%s' of shape %s (%d dimension%s)", series, ntok,
                      ntok == 1 ? "ex" : "ices", name, shape, e->ndim, e->ndim == 1 ? "" : "s");
      return 0;
    }
    char *tok = idx;
    int ncolon = 0;
    for (int axis = 0; axis < e->ndim; axis++) {
      char *comma = strchr(tok, ',');
      if (comma != NULL) {
        *comma = '\0';
      }
      if (!parse_index(in, series, name, axis, e->shape[axis], trim(tok), &pos[axis])) {
        return 0;
      }
      if (pos[axis] < 0) {
        ncolon++;
        colon = axis;
      }
      tok = comma != NULL ? comma + 1 : tok + strlen(tok);
    }
    if (plot ? ncolon != 1 : ncolon > 1) {
      cli_usage_error("series '%s': the index needs %s one ':' (the %s axis), got %d", series,
                      plot ? "exactly" : "at most", plot ? "plotted" : "listed", ncolon);
      return 0;
    }
  }
  size_t stride[8], sz = 1;
  out->base = 0;
  for (int a = e->ndim - 1; a >= 0; a--) {
    stride[a] = sz;
    sz *= e->shape[a];
  }
  for (int a = 0; a < e->ndim; a++) {
    if (a != colon) {
      out->base += (size_t)pos[a] * stride[a];
    }
  }
  out->e = e;
  out->name = name;
  out->colon = colon;
  out->n = colon >= 0 ? e->shape[colon] : 1;
  out->stride = colon >= 0 ? stride[colon] : 1;
  return 1;
}

static int build_npz_series(const input *in, const char *series, builtSeries *out) {
  char *spec = xstrdup(series);
  npzPick pk;
  if (!pick_npz(in, series, spec, 1, &pk)) {
    free(spec);
    return EXIT_USAGE;
  }
  size_t n = pk.n;
  out->n = n;
  out->x = xmalloc(n * sizeof *out->x);
  out->y = xmalloc(n * sizeof *out->y);
  for (size_t k = 0; k < n; k++) {
    out->y[k] = pk.e->data[pk.base + k * pk.stride];
  }
  const dpNpzEntry *time = dp_npz_get(in->z, "time");
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(in->meta, "dt");
  if (is_array(time) && time->ndim == 1 && time->size == n) {
    memcpy(out->x, time->data, n * sizeof *out->x);
    out->xkind = X_TIME;
  } else if (strcmp(pk.name, "controls") == 0 && pk.colon == 0 && cJSON_IsNumber(dt)) {
    // u[t] acts from t dt: one row per step whatever the frame stride.
    for (size_t k = 0; k < n; k++) {
      out->x[k] = (double)k * dt->valuedouble;
    }
    out->xkind = X_TIME;
  } else {
    for (size_t k = 0; k < n; k++) {
      out->x[k] = (double)k;
    }
    out->xkind = X_INDEX;
  }
  free(spec);
  return EXIT_OK;
}

// --get: the selected values, one per line (JSON: an object from SERIES to a number or a list).
// For a CSV file SERIES is COLUMN (every row) or COLUMN[ROW] (ROW may be negative).
static int run_get(const cli_list *series, const char *path, int json, int quiet) {
  input in;
  int rc = input_load(&in, path);
  if (rc != EXIT_OK) {
    return rc;
  }
  cJSON *doc = json ? cJSON_CreateObject() : NULL;
  char **lines = calloc((size_t)series->n, sizeof *lines);
  for (int s = 0; s < series->n && rc == EXIT_OK; s++) {
    const char *sp = series->v[s];
    const double *data = NULL;
    size_t base = 0, stride = 1, n = 0;
    int one = 0;
    char *spec = xstrdup(sp);
    if (in.kind == KIND_NPZ) {
      npzPick pk;
      if (!pick_npz(&in, sp, spec, 0, &pk)) {
        rc = EXIT_USAGE;
      } else {
        data = pk.e->data, base = pk.base, stride = pk.stride, n = pk.n, one = pk.colon < 0;
      }
    } else {
      const dpTable *t = in.t;
      int j = dp_table_column(t, sp);
      long row = -1;
      char *br = strrchr(spec, '[');
      size_t len = strlen(spec);
      if (j < 0 && br != NULL && len > 0 && spec[len - 1] == ']') {
        // COLUMN[ROW]: column names may hold brackets themselves (particles.ball.velocity[0]).
        char *end = NULL;
        spec[len - 1] = '\0';
        errno = 0;
        row = strtol(br + 1, &end, 10);
        if (end != br + 1 && *end == '\0' && errno == 0) {
          *br = '\0';
          j = dp_table_column(t, spec);
        } else {
          row = -1;
        }
        if (j >= 0 && (row < -(long)t->nrow || row >= (long)t->nrow)) {
          rc = cli_usage_error("series '%s': row %ld is out of range (%zu rows)", sp, row,
                               t->nrow);
        }
        row = row < 0 ? row + (long)t->nrow : row;
        one = 1;
      }
      if (rc == EXIT_OK && j < 0) {
        char sug[256];
        suggest(&in, sp, sug, sizeof sug);
        rc = cli_usage_error("no column '%s' in %s%s", sp, path, sug);
      }
      if (rc == EXIT_OK) {
        data = t->data, stride = t->ncol;
        base = (one ? (size_t)row * t->ncol : 0) + (size_t)j;
        n = one ? 1 : t->nrow;
      }
    }
    free(spec);
    if (rc != EXIT_OK) {
      break;
    }
    if (json) {
      if (one) {
        json_add_num(doc, sp, data[base]);
      } else {
        cJSON *a = cJSON_AddArrayToObject(doc, sp);
        for (size_t k = 0; k < n; k++) {
          cJSON_AddItemToArray(a, json_num(data[base + k * stride]));
        }
      }
    } else {
      // Built first, printed only when every SERIES resolved.
      size_t cap = n * 32 + 1, used = 0;
      lines[s] = xmalloc(cap);
      lines[s][0] = '\0';
      for (size_t k = 0; k < n; k++) {
        char b[32];
        fmt_exact(b, sizeof b, data[base + k * stride]);
        used += (size_t)snprintf(lines[s] + used, cap - used, "%s\n", b);
      }
    }
  }
  if (rc == EXIT_OK && !quiet) {
    if (json) {
      json_print(doc);
    } else {
      for (int s = 0; s < series->n; s++) {
        fputs(lines[s], stdout);
      }
    }
  }
  for (int s = 0; lines != NULL && s < series->n; s++) {
    free(lines[s]);
  }
  free(lines);
  cJSON_Delete(doc);
  input_free(&in);
  return rc;
}

static int build_csv_series(const input *in, const char *series, const char *xcol,
                            builtSeries *out) {
  const dpTable *t = in->t;
  int j = dp_table_column(t, series);
  if (j < 0) {
    char sug[256];
    suggest(in, series, sug, sizeof sug);
    return cli_usage_error("no column '%s' in %s%s", series, in->path, sug);
  }
  int jx = -1;
  if (xcol != NULL) {
    jx = dp_table_column(t, xcol);
    if (jx < 0) {
      char sug[256];
      suggest(in, xcol, sug, sizeof sug);
      return cli_usage_error("option '--x': no column '%s' in %s%s", xcol, in->path, sug);
    }
  } else {
    jx = dp_table_column(t, "iteration");
  }
  out->n = t->nrow;
  out->x = xmalloc(t->nrow * sizeof *out->x);
  out->y = xmalloc(t->nrow * sizeof *out->y);
  for (size_t i = 0; i < t->nrow; i++) {
    out->y[i] = t->data[i * t->ncol + (size_t)j];
    out->x[i] = jx >= 0 ? t->data[i * t->ncol + (size_t)jx] : (double)i;
  }
  out->xkind = jx >= 0 ? X_COLUMN : X_INDEX;
  out->xname = jx >= 0 ? t->name[jx] : NULL;
  out->is_loss = strcmp(series, "loss") == 0;
  return EXIT_OK;
}

typedef struct {
  const char *output;
  const char *xcol;
  int logy;  // -1 automatic, 0 linear, 1 log
  const char *title, *xlabel, *ylabel;
  int width, height;  // 0: default
} plotArgs;

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s != NULL ? s + 1 : path;
}

// The unit of an NPZ series from meta.json's "units" ("particles/x[:,0,2]" → "m"), or NULL.
static const char *series_unit(const input *in, const char *series) {
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(in->meta, "units");
  if (!cJSON_IsObject(u)) {
    return NULL;
  }
  size_t n = strcspn(series, "[");
  for (const cJSON *c = u->child; c != NULL; c = c->next) {
    if (c->string != NULL && strlen(c->string) == n && strncmp(c->string, series, n) == 0 &&
        cJSON_IsString(c)) {
      return c->valuestring;
    }
  }
  return NULL;
}

static int run_plot(const cli_list *series, char **files, int nfiles, const plotArgs *pa,
                    int json, int quiet) {
  int rc = EXIT_OK;
  input *in = calloc((size_t)nfiles, sizeof *in);
  size_t ns = (size_t)nfiles * (size_t)series->n;
  builtSeries *bs = calloc(ns, sizeof *bs);
  dpPlotSeries *ps = calloc(ns, sizeof *ps);
  dpImage *img = NULL;
  char *ylabel_own = NULL;
  if (in == NULL || bs == NULL || ps == NULL) {
    rc = cli_usage_error("out of memory");
    rc = EXIT_FAIL;
    goto done;
  }
  for (int f = 0; f < nfiles; f++) {
    if ((rc = input_load(&in[f], files[f])) != EXIT_OK) {
      goto done;
    }
  }
  size_t k = 0;
  int all_loss = 1, all_positive = 1;
  for (int f = 0; f < nfiles; f++) {
    for (int s = 0; s < series->n; s++, k++) {
      const char *sp = series->v[s];
      rc = in[f].kind == KIND_NPZ ? build_npz_series(&in[f], sp, &bs[k])
                                  : build_csv_series(&in[f], sp, pa->xcol, &bs[k]);
      if (rc != EXIT_OK) {
        goto done;
      }
      bs[k].label = nfiles > 1 ? xprintf("%s: %s", in[f].path, sp) : xstrdup(sp);
      all_loss = all_loss && bs[k].is_loss;
      for (size_t i = 0; i < bs[k].n; i++) {
        all_positive = all_positive && !(isfinite(bs[k].y[i]) && bs[k].y[i] <= 0);
      }
      ps[k].label = bs[k].label;
      ps[k].n = bs[k].n;
      ps[k].x = bs[k].x;
      ps[k].y = bs[k].y;
    }
  }
  dpPlotOptions opt = dp_default_plot_options();
  if (pa->width > 0) {
    opt.width = pa->width;
    opt.height = pa->height;
  }
  opt.logy = pa->logy >= 0 ? pa->logy : (all_loss && all_positive);
  // Axis labels: what the abscissae are, when every series agrees.
  int same_x = 1;
  for (size_t i = 1; i < ns; i++) {
    same_x = same_x && bs[i].xkind == bs[0].xkind &&
             (bs[i].xkind != X_COLUMN || strcmp(bs[i].xname, bs[0].xname) == 0);
  }
  opt.xlabel = pa->xlabel != NULL ? pa->xlabel
               : !same_x          ? NULL
               : bs[0].xkind == X_TIME  ? "time (s)"
               : bs[0].xkind == X_COLUMN ? bs[0].xname
                                         : "index";
  if (pa->ylabel != NULL) {
    opt.ylabel = pa->ylabel;
  } else if (series->n == 1) {
    const char *unit = in[0].kind == KIND_NPZ ? series_unit(&in[0], series->v[0]) : NULL;
    ylabel_own = unit != NULL ? xprintf("%s (%s)", series->v[0], unit) : xstrdup(series->v[0]);
    opt.ylabel = ylabel_own;
  }
  opt.title = pa->title != NULL ? pa->title : nfiles == 1 ? base_name(files[0]) : NULL;
  dpError err;
  dp_error_clear(&err);
  if (dp_plot(ps, (int)ns, &opt, &img, NULL, &err) != DP_OK) {
    rc = cli_report(&err, 1);
    goto done;
  }
  if (dp_image_write_png(img, pa->output, &err) != DP_OK) {
    rc = cli_report(&err, 0);
    goto done;
  }
  if (json) {
    if (!quiet) {
      cJSON *doc = cJSON_CreateObject();
      cJSON_AddStringToObject(doc, "output", pa->output);
      json_add_num(doc, "width", img->width);
      json_add_num(doc, "height", img->height);
      cJSON_AddBoolToObject(doc, "logy", opt.logy);
      cJSON *a = cJSON_AddArrayToObject(doc, "series");
      for (size_t i = 0; i < ns; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "label", bs[i].label);
        json_add_num(o, "points", (double)bs[i].n);
        cJSON_AddItemToArray(a, o);
      }
      json_print(doc);
      cJSON_Delete(doc);
    }
  } else if (!quiet) {
    printf("plot: %zu series, %d x %d%s -> %s\n", ns, img->width, img->height,
           opt.logy ? ", log y" : "", pa->output);
  }
done:
  dp_image_free(img);
  free(ylabel_own);
  for (size_t i = 0; bs != NULL && i < ns; i++) {
    free(bs[i].label);
    free(bs[i].x);
    free(bs[i].y);
  }
  free(bs);
  free(ps);
  for (int f = 0; in != NULL && f < nfiles; f++) {
    input_free(&in[f]);
  }
  free(in);
  return rc;
}

// ---------------------------------------------------------------------------------------------
// --render
// ---------------------------------------------------------------------------------------------

typedef struct {
  const char *dir;
  dpView view;
  long every;
  int width, height;
  dpMeshStyle mesh;
} renderArgs;

// The soft vertices of every frame, nframes × nvert × 3, gathered from the trajectory's
// softbodies/NAME/x and shells/NAME/x in model vertex order; NULL (and a usage error printed)
// when one is missing or has another shape.
static double *soft_frames(const dpModel *m, const dpNpz *z, const char *traj,
                           const char *scene, size_t nframes, int *rc) {
  double *sx = xmalloc(nframes * 3 * (size_t)m->nvert * sizeof *sx);
  for (int i = 0; i < m->nsoft; i++) {
    const char *kind = m->soft_shell[i] ? "shells" : "softbodies";
    char *name = xprintf("%s/%s/x", kind, m->softname[i]);
    const dpNpzEntry *e = dp_npz_get(z, name);
    size_t nv = (size_t)m->soft_nv[i];
    if (!is_array(e) || e->ndim != 3 || e->shape[0] != nframes || e->shape[1] != nv ||
        e->shape[2] != 3) {
      char shape[96] = "";
      if (is_array(e)) {
        fmt_shape(shape, sizeof shape, e->ndim, e->shape);
      }
      *rc = is_array(e) ? cli_usage_error("'%s' in %s has shape %s, expected (%zu, %zu, 3): %s "
                                          "'%s' of the scene %s has %zu vertices",
                                          name, traj, shape, nframes, nv,
                                          m->soft_shell[i] ? "shell" : "soft body",
                                          m->softname[i], scene, nv)
                        : cli_usage_error("no array '%s' in %s, and the scene %s has the %s '%s'",
                                          name, traj, scene,
                                          m->soft_shell[i] ? "shell" : "soft body",
                                          m->softname[i]);
      free(name);
      free(sx);
      return NULL;
    }
    for (size_t f = 0; f < nframes; f++) {
      memcpy(sx + 3 * (f * (size_t)m->nvert + (size_t)m->soft_vadr[i]), e->data + 3 * nv * f,
             3 * nv * sizeof *sx);
    }
    free(name);
  }
  return sx;
}

static int run_render(const char *scene, const char *traj, const cli_list *sets,
                      const renderArgs *ra, int json, int quiet) {
  dpError err;
  dp_error_clear(&err);
  dpModel *m = NULL;
  dpNpz *z = NULL;
  dpImage *img = NULL;
  char *path = NULL;
  cJSON *meta = NULL;
  double *sx = NULL;
  int rc = EXIT_OK;
  if (file_kind(traj) != KIND_NPZ) {
    return cli_usage_error("--render: '%s' is not an NPZ trajectory", traj);
  }
  if (dp_scene_load(scene, sets->v, sets->n, &m, &err) != DP_OK ||
      dp_npz_read(traj, &z, &err) != DP_OK) {
    rc = cli_report(&err, 1);
    goto done;
  }
  const dpNpzEntry *x = dp_npz_get(z, "particles/x");
  if (!is_array(x)) {
    rc = cli_usage_error("no array 'particles/x' in %s: not a trajectory", traj);
    goto done;
  }
  char shape[96];
  fmt_shape(shape, sizeof shape, x->ndim, x->shape);
  if (x->ndim != 3 || x->shape[2] != 3 || x->shape[0] == 0) {
    rc = cli_usage_error("'particles/x' in %s has shape %s, expected (frames, particles, 3)", traj,
                         shape);
    goto done;
  }
  if (x->shape[1] != (size_t)m->np) {
    rc = cli_usage_error("%s has %zu particle%s but the scene %s has %d", traj, x->shape[1],
                         x->shape[1] == 1 ? "" : "s", scene, m->np);
    goto done;
  }
  // Bodies are drawn at the poses the trajectory recorded.
  const dpNpzEntry *bp = NULL, *bq = NULL;
  if (m->nb > 0) {
    bp = dp_npz_get(z, "bodies/xpos");
    bq = dp_npz_get(z, "bodies/xquat");
    static const char *const bnames[2] = {"bodies/xpos", "bodies/xquat"};
    for (int k = 0; k < 2; k++) {
      const dpNpzEntry *e = k == 0 ? bp : bq;
      size_t w = k == 0 ? 3 : 4;
      if (!is_array(e)) {
        rc = cli_usage_error("no array '%s' in %s, and the scene %s has bodies", bnames[k], traj,
                             scene);
        goto done;
      }
      if (e->ndim != 3 || e->shape[0] != x->shape[0] || e->shape[1] != (size_t)m->nb ||
          e->shape[2] != w) {
        fmt_shape(shape, sizeof shape, e->ndim, e->shape);
        rc = cli_usage_error("'%s' in %s has shape %s, expected (%zu, %d, %zu): the scene %s "
                             "has %d bod%s",
                             bnames[k], traj, shape, x->shape[0], m->nb, w, scene, m->nb,
                             m->nb == 1 ? "y" : "ies");
        goto done;
      }
    }
  }
  const double *bpos = bp != NULL ? bp->data : NULL, *bquat = bq != NULL ? bq->data : NULL;
  // Soft bodies and shells are drawn at the vertex positions the trajectory recorded.
  if (m->nsoft > 0 && (sx = soft_frames(m, z, traj, scene, x->shape[0], &rc)) == NULL) {
    goto done;
  }
  const dpNpzEntry *time = dp_npz_get(z, "time");
  int have_time = is_array(time) && time->ndim == 1 && time->size == x->shape[0];
  // A trajectory of another version of the scene still renders; say so.
  const dpNpzEntry *me = dp_npz_get(z, "meta.json");
  meta = me != NULL && me->text != NULL ? cJSON_Parse(me->text) : NULL;
  const cJSON *hash = cJSON_GetObjectItemCaseSensitive(meta, "scene_hash");
  char mine[32];
  snprintf(mine, sizeof mine, "%016llx", (unsigned long long)m->scene_hash);
  if (!quiet && cJSON_IsString(hash) && strcmp(hash->valuestring, mine) != 0) {
    fprintf(stderr,
            "%s: warning: %s was written from another scene text (hash %s, %s has %s; "
            "different --set?)\n",
            cli_tool, traj, hash->valuestring, scene, mine);
  }
  size_t nframes = x->shape[0];
  double lo[3], hi[3];
  dp_render_bounds_soft(m, m->theta0, x->data, bpos, bquat, sx, nframes, lo, hi);
  if (mkdir(ra->dir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "%s: cannot create directory '%s': %s\n", cli_tool, ra->dir, strerror(errno));
    rc = EXIT_FAIL;
    goto done;
  }
  struct stat sb;
  if (stat(ra->dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    fprintf(stderr, "%s: '%s' is not a directory\n", cli_tool, ra->dir);
    rc = EXIT_FAIL;
    goto done;
  }
  if (dp_image_new(ra->width > 0 ? ra->width : 800, ra->height > 0 ? ra->height : 600, &img,
                   &err) != DP_OK) {
    rc = cli_report(&err, 1);
    goto done;
  }
  size_t written = 0;
  size_t total = (nframes + (size_t)ra->every - 1) / (size_t)ra->every;
  int progress = !quiet && !json && cli_stderr_tty();
  path = xmalloc(strlen(ra->dir) + 32);
  for (size_t f = 0; f < nframes; f += (size_t)ra->every) {
    double tf = have_time ? time->data[f] : (double)f * m->dt;
    sprintf(path, "%s/frame_%05zu.png", ra->dir, written);
    size_t nb = (size_t)m->nb;
    if (dp_render_frame_soft(m, m->theta0, x->data + f * (size_t)m->np * 3,
                             bpos != NULL ? bpos + f * nb * 3 : NULL,
                             bquat != NULL ? bquat + f * nb * 4 : NULL,
                             sx != NULL ? sx + f * (size_t)m->nvert * 3 : NULL, ra->mesh, tf,
                             ra->view, lo, hi, img, &err) != DP_OK ||
        dp_image_write_png(img, path, &err) != DP_OK) {
      if (progress) {
        fputc('\n', stderr);
      }
      rc = cli_report(&err, 0);
      goto done;
    }
    written++;
    if (progress) {
      fprintf(stderr, "\r%s: frame %zu/%zu", cli_tool, written, total);
    }
  }
  if (progress) {
    fputc('\n', stderr);
  }
  if (json) {
    if (!quiet) {
      cJSON *doc = cJSON_CreateObject();
      cJSON_AddStringToObject(doc, "scene", m->name);
      json_add_num(doc, "frames", (double)written);
      json_add_num(doc, "trajectory_frames", (double)nframes);
      json_add_num(doc, "every", (double)ra->every);
      cJSON_AddStringToObject(doc, "directory", ra->dir);
      json_add_num(doc, "width", img->width);
      json_add_num(doc, "height", img->height);
      if (m->nsoft > 0) {
        cJSON_AddStringToObject(doc, "mesh", ra->mesh == DP_MESH_EDGES ? "edges" : "strain");
      }
      json_print(doc);
      cJSON_Delete(doc);
    }
  } else if (!quiet) {
    printf("%s: %zu frame%s (of %zu, every %ld) -> %s/frame_00000.png .. frame_%05zu.png\n",
           m->name, written, written == 1 ? "" : "s", nframes, ra->every, ra->dir,
           written - 1);
  }
done:
  free(sx);
  free(path);
  cJSON_Delete(meta);
  dp_image_free(img);
  dp_npz_free(z);
  dp_model_free(m);
  return rc;
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

// "800x500" → 800, 500 (each 16..8192).
static int parse_size(const char *s, int *w, int *h) {
  char *end = NULL;
  errno = 0;
  long a = strtol(s, &end, 10);
  if (end == s || (*end != 'x' && *end != 'X') || errno != 0) {
    goto bad;
  }
  const char *s2 = end + 1;
  long b = strtol(s2, &end, 10);
  if (end == s2 || *end != '\0' || errno != 0) {
    goto bad;
  }
  if (a < 16 || a > 8192 || b < 16 || b > 8192) {
    cli_usage_error("option '--size': %ldx%ld is out of range (16..8192 each)", a, b);
    return 0;
  }
  *w = (int)a;
  *h = (int)b;
  return 1;
bad:
  cli_usage_error("option '--size': expected WIDTHxHEIGHT (e.g. 800x500), got '%s'", s);
  return 0;
}

enum {
  OPT_COMPARE = 1000, OPT_RTOL, OPT_ATOL, OPT_PLOT, OPT_X, OPT_LOGY, OPT_LINEAR, OPT_TITLE,
  OPT_XLABEL, OPT_YLABEL, OPT_SIZE, OPT_RENDER, OPT_FRAMES, OPT_VIEW, OPT_EVERY, OPT_SET,
  OPT_JSON, OPT_GET, OPT_MESH,
};

// Which mode each option belongs to (for "only applies to" errors).
typedef struct {
  const char *first_compare, *first_plot, *first_render, *first_size, *first_set;
} optSeen;

int main(int argc, char **argv) {
  cli_init("dp-inspect");
  static const struct option opts[] = {
      {"compare", no_argument, NULL, OPT_COMPARE},
      {"rtol", required_argument, NULL, OPT_RTOL},
      {"atol", required_argument, NULL, OPT_ATOL},
      {"plot", required_argument, NULL, OPT_PLOT},
      {"get", required_argument, NULL, OPT_GET},
      {"output", required_argument, NULL, 'o'},
      {"x", required_argument, NULL, OPT_X},
      {"logy", no_argument, NULL, OPT_LOGY},
      {"linear", no_argument, NULL, OPT_LINEAR},
      {"title", required_argument, NULL, OPT_TITLE},
      {"xlabel", required_argument, NULL, OPT_XLABEL},
      {"ylabel", required_argument, NULL, OPT_YLABEL},
      {"size", required_argument, NULL, OPT_SIZE},
      {"render", no_argument, NULL, OPT_RENDER},
      {"frames", required_argument, NULL, OPT_FRAMES},
      {"view", required_argument, NULL, OPT_VIEW},
      {"every", required_argument, NULL, OPT_EVERY},
      {"mesh", required_argument, NULL, OPT_MESH},
      {"set", required_argument, NULL, OPT_SET},
      {"json", no_argument, NULL, OPT_JSON},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0},
  };
  int compare = 0, render = 0, json = 0, quiet = 0;
  double rtol = 1e-9, atol = 1e-12;
  cli_list plots = {0}, gets = {0}, sets = {0};
  plotArgs pa = {NULL, NULL, -1, NULL, NULL, NULL, 0, 0};
  renderArgs ra = {NULL, DP_VIEW_XZ, 1, 0, 0, DP_MESH_STRAIN};
  optSeen seen = {0};
  long every = 1;
  int c, rc = EXIT_OK;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":o:qhV", opts, NULL)) != -1) {
    const char *self = argv[optind - 1];
    switch (c) {
      case OPT_COMPARE: compare = 1; break;
      case OPT_RTOL:
      case OPT_ATOL: {
        double v;
        if (!cli_parse_double(c == OPT_RTOL ? "--rtol" : "--atol", optarg, &v)) {
          rc = EXIT_USAGE;
          goto done;
        }
        if (v < 0) {
          rc = cli_usage_error("option '%s': must be >= 0 (got %s)",
                               c == OPT_RTOL ? "--rtol" : "--atol", optarg);
          goto done;
        }
        *(c == OPT_RTOL ? &rtol : &atol) = v;
        seen.first_compare = c == OPT_RTOL ? "--rtol" : "--atol";
        break;
      }
      case OPT_PLOT:
      case OPT_GET:
        if (!cli_list_push(c == OPT_PLOT ? &plots : &gets, optarg)) {
          rc = cli_usage_error("out of memory");
          goto done;
        }
        break;
      case 'o': pa.output = optarg; seen.first_plot = "-o"; break;
      case OPT_X: pa.xcol = optarg; seen.first_plot = "--x"; break;
      case OPT_LOGY: pa.logy = 1; seen.first_plot = "--logy"; break;
      case OPT_LINEAR: pa.logy = 0; seen.first_plot = "--linear"; break;
      case OPT_TITLE: pa.title = optarg; seen.first_plot = "--title"; break;
      case OPT_XLABEL: pa.xlabel = optarg; seen.first_plot = "--xlabel"; break;
      case OPT_YLABEL: pa.ylabel = optarg; seen.first_plot = "--ylabel"; break;
      case OPT_SIZE:
        if (!parse_size(optarg, &pa.width, &pa.height)) {
          rc = EXIT_USAGE;
          goto done;
        }
        ra.width = pa.width;
        ra.height = pa.height;
        seen.first_size = "--size";
        break;
      case OPT_RENDER: render = 1; break;
      case OPT_FRAMES: ra.dir = optarg; seen.first_render = "--frames"; break;
      case OPT_VIEW:
        if (strcmp(optarg, "xz") == 0) {
          ra.view = DP_VIEW_XZ;
        } else if (strcmp(optarg, "xy") == 0) {
          ra.view = DP_VIEW_XY;
        } else if (strcmp(optarg, "yz") == 0) {
          ra.view = DP_VIEW_YZ;
        } else {
          rc = cli_usage_error("option '--view': unknown view '%s' (use xz, xy or yz)", optarg);
          goto done;
        }
        seen.first_render = "--view";
        break;
      case OPT_MESH:
        if (strcmp(optarg, "strain") == 0) {
          ra.mesh = DP_MESH_STRAIN;
        } else if (strcmp(optarg, "edges") == 0) {
          ra.mesh = DP_MESH_EDGES;
        } else {
          rc = cli_usage_error("option '--mesh': unknown style '%s' (use strain or edges)",
                               optarg);
          goto done;
        }
        seen.first_render = "--mesh";
        break;
      case OPT_EVERY:
        if (!cli_parse_int("--every", optarg, 1, 1000000000, &every)) {
          rc = EXIT_USAGE;
          goto done;
        }
        ra.every = every;
        seen.first_render = "--every";
        break;
      case OPT_SET:
        if (!cli_add_set(&sets, optarg)) {
          rc = EXIT_USAGE;
          goto done;
        }
        seen.first_set = "--set";
        break;
      case OPT_JSON: json = 1; break;
      case 'q': quiet = 1; break;
      case 'h': usage(stdout); goto done;
      case 'V': cli_version(); goto done;
      case ':': rc = cli_usage_error("option '%s' needs a value", self); goto done;
      default: rc = cli_usage_error("unknown option '%s' (see --help)", self); goto done;
    }
  }
  int nfiles = argc - optind;
  char **files = argv + optind;
  int plot = plots.n > 0, get = gets.n > 0;
  if (compare + render + plot + get > 1) {
    rc = cli_usage_error("--compare, --plot, --get and --render cannot be combined");
    goto done;
  }
  // Options that belong to another mode are mistakes, not silently ignored.
  if (!compare && seen.first_compare != NULL) {
    rc = cli_usage_error("option '%s' only applies to --compare", seen.first_compare);
    goto done;
  }
  if (!plot && seen.first_plot != NULL) {
    rc = cli_usage_error("option '%s' only applies to --plot", seen.first_plot);
    goto done;
  }
  if (!render && seen.first_render != NULL) {
    rc = cli_usage_error("option '%s' only applies to --render", seen.first_render);
    goto done;
  }
  if (!plot && !render && seen.first_size != NULL) {
    rc = cli_usage_error("option '--size' only applies to --plot and --render");
    goto done;
  }
  if (compare) {
    if (nfiles != 2) {
      rc = cli_usage_error("--compare needs two files A B, got %d (see --help)", nfiles);
      goto done;
    }
  } else if (plot) {
    if (pa.output == NULL) {
      rc = cli_usage_error("--plot needs -o PLOT.png (see --help)");
      goto done;
    }
    if (nfiles < 1) {
      rc = cli_usage_error("--plot needs at least one FILE (see --help)");
      goto done;
    }
  } else if (render) {
    if (nfiles != 2) {
      rc = cli_usage_error("--render needs SCENE.yaml TRAJ.npz, got %d file%s (see --help)",
                           nfiles, nfiles == 1 ? "" : "s");
      goto done;
    }
    if (ra.dir == NULL) {
      rc = cli_usage_error("--render needs --frames DIR (see --help)");
      goto done;
    }
  } else if (get && nfiles != 1) {
    rc = cli_usage_error("--get needs one NPZ or CSV file, got %d (see --help)", nfiles);
    goto done;
  } else if (nfiles != 1) {
    rc = cli_usage_error(nfiles == 0 ? "missing FILE (see --help)"
                                     : "expected one FILE, got %d (see --help)",
                         nfiles);
    goto done;
  }
  if (sets.n > 0 && !render && (compare || plot || get || file_kind(files[0]) != KIND_SCENE)) {
    rc = cli_usage_error("option '--set' only applies to a scene");
    goto done;
  }
  if (compare) {
    rc = run_compare(files[0], files[1], rtol, atol, json, quiet);
  } else if (plot) {
    rc = run_plot(&plots, files, nfiles, &pa, json, quiet);
  } else if (get) {
    rc = run_get(&gets, files[0], json, quiet);
  } else if (render) {
    rc = run_render(files[0], files[1], &sets, &ra, json, quiet);
  } else {
    switch (file_kind(files[0])) {
      case KIND_NPZ: rc = summary_npz(files[0], json, quiet); break;
      case KIND_CSV: rc = summary_csv(files[0], json, quiet); break;
      case KIND_SCENE: rc = summary_scene(files[0], &sets, json, quiet); break;
      default: {
        FILE *f = fopen(files[0], "rb");
        if (f == NULL) {
          rc = cli_usage_error("%s: cannot read '%s': %s", files[0], files[0], strerror(errno));
        } else {
          fclose(f);
          rc = cli_usage_error("cannot tell what '%s' is: expected a .npz, .csv or .yaml file",
                               files[0]);
        }
      }
    }
  }
done:
  cli_list_free(&plots);
  cli_list_free(&gets);
  cli_list_free(&sets);
  return rc;
}
