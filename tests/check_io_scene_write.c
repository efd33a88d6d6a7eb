// Tests of the YAML emitter (lib/io_yaml_emit.c) and the scene writer (lib/io_scene_write.c):
// layout and scalar round trips, every example scene written with a perturbed θ and read back
// bit for bit, values in place and under `overrides:` (generated entities, pinned velocities,
// rest lengths, controls, --set overrides), every entry of articulated bodies in place, errors
// that leave nothing behind, soft bodies and shells (per-vertex lists, per-element materials,
// pin controls, mesh files renamed relative to the written scene), and allocation failures.
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_suites.h"
#include "dp/dp.h"
#include "io_yaml.h"
#include "testutil.h"

#define PYTHON "/usr/bin/python3"

// ---- helpers ------------------------------------------------------------------------------------

static char g_dir[64];

static void dir_make(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/dp-scene-write-XXXXXX");
  ck_assert_msg(mkdtemp(g_dir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void dir_file(const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", g_dir, name);
}

// Entries of the scratch directory other than . and .., with names starting with prefix.
static int dir_count(const char *prefix) {
  DIR *d = opendir(g_dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
        strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
      n++;
    }
  }
  closedir(d);
  return n;
}

static void dir_remove(void) {
  DIR *d = opendir(g_dir);
  if (d == NULL) {
    return;
  }
  struct dirent *e;
  char p[512];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
      unlink(p);
    }
  }
  closedir(d);
  rmdir(g_dir);
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
  fclose(f);
}

// The whole file (malloc'ed, NUL-terminated).
static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(s);
  ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = '\0';
  fclose(f);
  return s;
}

static int file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

static dpModel *load_ok(const char *path, const char *const *sets, int nsets) {
  dpModel *m = NULL;
  dpError err;
  dp_error_clear(&err);
  dpStatus st = dp_scene_load(path, sets, nsets, &m, &err);
  ck_assert_msg(st == DP_OK, "%s: %s:%d:%d: %s", path, err.file, err.line, err.column,
                err.message);
  return m;
}

static double *theta_copy(const dpModel *m) {
  double *th = malloc((m->ntheta > 0 ? m->ntheta : 1) * sizeof *th);
  ck_assert_ptr_nonnull(th);
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  return th;
}

// θ[i] = scale θ[i] + shift + step k (k counting the components selected); the number of
// components changed (0 when nothing matches).
static size_t perturb(const dpModel *m, double *th, const char *pattern, double scale,
                      double shift, double step) {
  dpSelection sel;
  dpError err;
  dp_error_clear(&err);
  if (dp_param_select(m, pattern, &sel, &err) != DP_OK) {
    return 0;
  }
  for (size_t k = 0; k < sel.n; k++) {
    th[sel.index[k]] = scale * th[sel.index[k]] + shift + step * (double)k;
  }
  size_t n = sel.n;
  dp_selection_free(&sel);
  return n;
}

// Index in θ of component k of the one entry at path.
static size_t index_of(const dpModel *m, const char *path, size_t k) {
  dpSelection sel;
  dpError err;
  dp_error_clear(&err);
  ck_assert_msg(dp_param_select(m, path, &sel, &err) == DP_OK, "%s", err.message);
  ck_assert_uint_lt(k, sel.n);
  size_t i = sel.index[k];
  dp_selection_free(&sel);
  return i;
}

// Write, then load the file alone (no --set) and require θ, its layout and the name to be the
// same bit for bit. Returns the file's text (free it).
static char *write_and_check(const char *src, const char *const *sets, int nsets,
                             const dpModel *m, const double *th, const char *out) {
  dpError err;
  dp_error_clear(&err);
  dpStatus st = dp_scene_write(src, sets, nsets, m, th, "written by a test\nsecond line", out,
                               &err);
  ck_assert_msg(st == DP_OK, "write %s: %s", src, err.message);
  dpModel *r = load_ok(out, NULL, 0);
  ck_assert_str_eq(r->name, m->name);
  ck_assert_uint_eq(r->ntheta, m->ntheta);
  ck_assert_uint_eq(r->nparam, m->nparam);
  for (size_t i = 0; i < m->nparam; i++) {
    ck_assert_str_eq(r->param[i].path, m->param[i].path);
  }
  for (size_t i = 0; i < m->ntheta; i++) {
    if (memcmp(&r->theta0[i], &th[i], sizeof th[i]) != 0) {
      size_t c = 0;
      const dpParam *p = dp_param_at(m, i, &c);
      ck_abort_msg("%s: θ[%zu] (%s[%zu]) reads back as %.17g, written %.17g", src, i,
                   p != NULL ? p->path : "?", c, r->theta0[i], th[i]);
    }
  }
  ck_assert_int_eq(r->steps, m->steps);
  ck_assert(r->dt == m->dt);
  ck_assert_int_eq(r->np, m->np);
  ck_assert_int_eq(r->nu, m->nu);
  dp_model_free(r);
  char *text = read_text(out);
  const char *header = "# written by a test\n# second line\n";
  ck_assert_msg(strncmp(text, header, strlen(header)) == 0, "header: %.80s", text);
  return text;
}

// ---- the emitter --------------------------------------------------------------------------------

static dpYNode *parse_tree(const char *text) {
  dpYNode *root = NULL;
  dpError err;
  dp_error_clear(&err);
  ck_assert_msg(dp_yaml_parse(text, strlen(text), "t.yaml", &root, &err) == DP_OK, "%s:%d:%d %s",
                err.file, err.line, err.column, err.message);
  return root;
}

START_TEST(test_emit_layout) {
  const char *in =
      "name: demo\n"
      "description: 'a demo, with a comma'\n"
      "dt: 0.01\n"
      "steps: 4\n"
      "gravity: [0, 0, -9.81]\n"
      "particles:\n"
      "  ball: {mass: 1, position: [0, 0, 1], pinned: true}\n"
      "  cart:\n"
      "    mass: 2.5\n"
      "    position: [0, 0, 0]\n"
      "    velocity: [1.0e-3, 0, 0]\n"
      "    linear_drag: 0.5\n"
      "    force: [0, 0, 0]\n"
      "    quadratic_drag: 0.25\n"
      "cloth:\n"
      "  sheet:\n"
      "    n: 3\n"
      "    mass: 1\n"
      "    structural: {stiffness: 1000, damping: 0.05}\n"
      "    shear: {stiffness: 200}\n"
      "    pinned: [[0, 0], [0, -1]]\n"
      "ground: {}\n"
      "controls:\n"
      "  particles: [ball, cart]\n"
      "  values: [[[1, 0, 0], [0, 0, 0]], [[2, 0, 0], [0, 0, 0]], [[3, 0, 0], [0, 0, 0]], "
      "[[4, 0, 0], [0, 0, 0]]]\n"
      "parameters:\n"
      "  - {path: particles.ball.velocity, lower: -20, upper: 20}\n"
      "  - {path: 'springs.*.stiffness', scale: \"log\"}\n";
  const char *want =
      "# optimized\n"
      "#\n"
      "# by a test\n"
      "name: demo\n"
      "description: \"a demo, with a comma\"\n"
      "dt: 0.01\n"
      "steps: 4\n"
      "gravity: [0, 0, -9.81]\n"
      "particles:\n"
      "  ball: {mass: 1, position: [0, 0, 1], pinned: true}\n"
      "  cart:\n"
      "    mass: 2.5\n"
      "    position: [0, 0, 0]\n"
      "    velocity: [1.0e-3, 0, 0]\n"
      "    linear_drag: 0.5\n"
      "    force: [0, 0, 0]\n"
      "    quadratic_drag: 0.25\n"
      "cloth:\n"
      "  sheet:\n"
      "    n: 3\n"
      "    mass: 1\n"
      "    structural: {stiffness: 1000, damping: 0.05}\n"
      "    shear: {stiffness: 200}\n"
      "    pinned: [[0, 0], [0, -1]]\n"
      "ground: {}\n"
      "controls:\n"
      "  particles: [ball, cart]\n"
      "  values:\n"
      "    - [[1, 0, 0], [0, 0, 0]]\n"
      "    - [[2, 0, 0], [0, 0, 0]]\n"
      "    - [[3, 0, 0], [0, 0, 0]]\n"
      "    - [[4, 0, 0], [0, 0, 0]]\n"
      "parameters:\n"
      "  - {path: particles.ball.velocity, lower: -20, upper: 20}\n"
      "  - {path: springs.*.stiffness, scale: log}\n";
  dpYNode *root = parse_tree(in);
  size_t len = 0;
  char *out = dp_yaml_emit(root, "optimized\n\nby a test\n", &len);
  ck_assert_ptr_nonnull(out);
  ck_assert_uint_eq(len, strlen(out));
  ck_assert_str_eq(out, want);
  // The emitted text is the same scene.
  dpModel *a = NULL, *b = NULL;
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_scene_parse(in, strlen(in), "in.yaml", NULL, 0, &a, &err), DP_OK);
  ck_assert_msg(dp_scene_parse(out, len, "out.yaml", NULL, 0, &b, &err) == DP_OK, "%s",
                err.message);
  ck_assert_uint_eq(a->ntheta, b->ntheta);
  ck_assert_mem_eq(a->theta0, b->theta0, a->ntheta * sizeof(double));
  ck_assert_int_eq(b->spec[1].log_scale, 1);
  dp_model_free(a);
  dp_model_free(b);
  dp_free(out);
  // Line breaks other than '\n' inside a comment line would end it.
  out = dp_yaml_emit(root, "a\rb\xc2\x85" "c\xe2\x80\xa8" "d\te", NULL);
  ck_assert_ptr_nonnull(out);
  const char *head = "# a b c d e\nname: demo\n";
  ck_assert_msg(strncmp(out, head, strlen(head)) == 0, "%.40s", out);
  dp_free(out);
  dp_yaml_free(root);
}
END_TEST

// Every scalar reads back with its text and its type; each is written plain only when that is
// safe, quoted otherwise.
START_TEST(test_emit_scalars) {
  static const struct {
    const char *text;
    int quoted;
    const char *written;  // NULL: don't check the form
  } cases[] = {
      {"plain words", 0, "plain words"},
      {"plain words", 1, "plain words"},
      {"3.25", 0, "3.25"},
      {"-1e-3", 0, "-1e-3"},
      {"3.25", 1, "\"3.25\""},
      {"true", 1, "\"true\""},
      {"null", 1, "\"null\""},
      {"", 0, "null"},
      {"", 1, "\"\""},
      {"~", 0, "~"},
      {"yes", 1, "\"yes\""},
      {"yes", 0, "yes"},
      {"0x1F", 1, "\"0x1F\""},
      {".inf", 1, "\".inf\""},
      {"a: b", 0, "\"a: b\""},
      {"a:b", 1, "\"a:b\""},
      {"x #y", 1, "\"x #y\""},
      {"x#y", 1, "x#y"},
      {"#x", 1, "\"#x\""},
      {"a, b", 1, "\"a, b\""},
      {"[x]", 1, "\"[x]\""},
      {"{x}", 1, "\"{x}\""},
      {"-", 1, "\"-\""},
      {"- x", 1, "\"- x\""},
      {"-x", 1, "-x"},
      {"---", 1, "\"---\""},
      {"...", 1, "\"...\""},
      {"?q", 1, "\"?q\""},
      {"*star", 1, "\"*star\""},
      {"&amp", 1, "\"&amp\""},
      {"!tag", 1, "\"!tag\""},
      {"|", 1, "\"|\""},
      {">", 1, "\">\""},
      {"'single'", 1, "\"'single'\""},
      {"%pct", 1, "\"%pct\""},
      {"@at", 1, "\"@at\""},
      {"`tick", 1, "\"`tick\""},
      {" lead", 1, "\" lead\""},
      {"trail ", 1, "\"trail \""},
      {"tab\there", 1, "\"tab\\there\""},
      {"two\nlines", 1, "\"two\\nlines\""},
      {"quote \" and \\", 1, "quote \" and \\"},
      {"\"quoted\" \\", 1, "\"\\\"quoted\\\" \\\\\""},
      {"bell\a", 1, "\"bell\\x07\""},
      {"1 m \xc3\x97 1 m", 1, "\"1 m \xc3\x97 1 m\""},
      {"m \xc3\x97 s", 1, "m \xc3\x97 s"},
      {"next\xc2\x85line", 1, "\"next\\Nline\""},
      {"sep\xe2\x80\xa8" "ar", 1, "\"sep\\Lar\""},
      {"para\xe2\x80\xa9" "graph", 1, "\"para\\Pgraph\""},
      {"\xef\xbb\xbf" "bom", 1, "\"\\uFEFFbom\""},
      {"<<", 1, "\"<<\""},
      {"springs.*.stiffness", 0, "springs.*.stiffness"},
  };
  size_t n = sizeof cases / sizeof cases[0];
  dpYNode *root = dp_yaml_new(DP_Y_MAP);
  dpYNode *list = dp_yaml_new(DP_Y_SEQ);
  ck_assert_ptr_nonnull(root);
  ck_assert_ptr_nonnull(list);
  for (size_t i = 0; i < n; i++) {
    char key[32];
    snprintf(key, sizeof key, "k%zu", i);
    ck_assert(dp_yaml_put(root, key, dp_yaml_new_scalar(cases[i].text, cases[i].quoted), NULL));
    // The same scalars as keys (in block context) and in a flow list.
    if (cases[i].text[0] != '\0') {
      ck_assert(dp_yaml_put(root, cases[i].text, dp_yaml_new_scalar("1", 0), NULL));
    }
    ck_assert(dp_yaml_push(list, dp_yaml_new_scalar(cases[i].text, cases[i].quoted)));
  }
  ck_assert(dp_yaml_put(root, "list", list, NULL));
  char *out = dp_yaml_emit(root, "scalars", NULL);  // the comment line puts "\n" before k0
  ck_assert_ptr_nonnull(out);
  dpYNode *back = parse_tree(out);
  ck_assert_uint_eq(back->n, root->n);
  for (size_t i = 0; i < root->n; i++) {
    ck_assert_str_eq(back->keys[i]->text, root->keys[i]->text);
    const dpYNode *a = root->items[i], *b = back->items[i];
    if (a->kind == DP_Y_SCALAR) {
      ck_assert_int_eq(dp_yaml_type(b), dp_yaml_type(a));
      if (dp_yaml_type(a) != DP_YT_NULL) {  // an empty null is written as null
        ck_assert_str_eq(b->text, a->text);
      }
    }
  }
  const dpYNode *bl = dp_yaml_get(back, "list", NULL);
  ck_assert_ptr_nonnull(bl);
  ck_assert_uint_eq(bl->n, n);
  for (size_t i = 0; i < n; i++) {
    ck_assert_int_eq(dp_yaml_type(bl->items[i]), dp_yaml_type(list->items[i]));
    if (dp_yaml_type(list->items[i]) != DP_YT_NULL) {
      ck_assert_str_eq(bl->items[i]->text, cases[i].text);
    }
    char line[128];
    snprintf(line, sizeof line, "\nk%zu: %s\n", i, cases[i].written);
    ck_assert_msg(strstr(out, line) != NULL, "case %zu: '%s' not written as %s", i, cases[i].text,
                  cases[i].written);
  }
  dp_yaml_free(back);
  dp_yaml_free(root);
  dp_free(out);
}
END_TEST

// ---- writing scenes -----------------------------------------------------------------------------

// Every example scene, with particle velocities and masses, rest lengths, ground friction,
// gravity, box centres, controls and the values of bodies, shapes, actuators and body contact
// changed, reads back bit for bit; scenes without generated entities need no `overrides:`.
START_TEST(test_write_scenes) {
  dir_make();
  DIR *d = opendir("scenes");
  ck_assert_msg(d != NULL, "run the tests from the repository root");
  int count = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0) {
      continue;
    }
    char src[512], out[512];
    snprintf(src, sizeof src, "scenes/%s", e->d_name);
    dir_file(e->d_name, out, sizeof out);
    dpModel *m = load_ok(src, NULL, 0);
    double *th = theta_copy(m);
    size_t changed = perturb(m, th, "particles.*.velocity", 1.5, 0.25, 1e-3) +
                     perturb(m, th, "particles.*.mass", 1.0, 1.0 / 3.0, 0) +
                     perturb(m, th, "springs.*.rest_length", 1.1, 0, 1e-4) +
                     perturb(m, th, "ground.friction", 1.0, 0.05, 0) +
                     perturb(m, th, "gravity", 1.0, 0.125, 0.1) +
                     perturb(m, th, "boxes.*.center", 1.0, 0.01, 0) +
                     perturb(m, th, "controls", 1.0, 0.5, 1e-3) +
                     perturb(m, th, "bodies.*.*", 1.0625, 0, 0) +
                     perturb(m, th, "bodies.*.q", 1.0, 0.01, 1e-3) +
                     perturb(m, th, "shapes.*.*", 1.0625, 0, 0) +
                     perturb(m, th, "actuators.*.*", 1.0625, 0.5, 1e-3) +
                     perturb(m, th, "contact.*", 1.0625, 0, 0) +
                     perturb(m, th, "*.*.youngs_modulus", 1.0625, 0, 1.0) +
                     perturb(m, th, "*.*.poisson_ratio", 1.0, 0.01, 0) +
                     perturb(m, th, "*.*.density", 1.0625, 0, 0) +
                     perturb(m, th, "*.*.rest", 1.0, 1e-3, 1e-6) +
                     perturb(m, th, "*.*.velocity", 1.0, 0.25, 1e-3) +
                     perturb(m, th, "shells.*.wind", 1.0, 0.5, 0) +
                     perturb(m, th, "pin_controls", 1.0, 0.125, 1e-3);
    ck_assert_uint_gt(changed, 3);
    char *text = write_and_check(src, NULL, 0, m, th, out);
    char *srctext = read_text(src);
    if (strstr(srctext, "\ncloth:") == NULL) {
      ck_assert_msg(strstr(text, "overrides:") == NULL, "%s: needs no overrides:\n%s", src, text);
    }
    free(srctext);
    free(text);
    free(th);
    dp_model_free(m);
    count++;
  }
  closedir(d);
  ck_assert_int_ge(count, 5);
  dir_remove();
}
END_TEST

// A cloth refined by a document --set, its springs set by a θ --set pattern, and generated
// particles and springs optimized: the pattern stays one line under `overrides:`, before the
// entries it does not cover.
START_TEST(test_write_cloth) {
  dir_make();
  char out[512];
  dir_file("cloth_opt.yaml", out, sizeof out);
  const char *sets[] = {"cloth.sheet.n=8", "springs.*.stiffness=123"};
  dpModel *m = load_ok("scenes/cloth.yaml", sets, 2);
  ck_assert_int_eq(m->np, 64);
  double *th = theta_copy(m);
  th[index_of(m, "particles.sheet_3_4.velocity", 2)] = -0.75;
  th[index_of(m, "particles.sheet_7_7.velocity", 0)] = 0.1;
  th[index_of(m, "springs.sheet_s12.stiffness", 0)] = 150.25;
  th[index_of(m, "springs.sheet_d3.damping", 0)] = 2;
  th[index_of(m, "gravity", 0)] = 0.5;
  char *text = write_and_check("scenes/cloth.yaml", sets, 2, m, th, out);
  ck_assert_ptr_nonnull(strstr(text, "\n    n: 8\n"));
  ck_assert_ptr_nonnull(strstr(text, "\nname: cloth\n"));
  ck_assert_ptr_nonnull(strstr(text, "\ngravity: [0.5, 0.0, -9.81]\n"));
  const char *ov = strstr(text, "\noverrides:\n");
  ck_assert_ptr_nonnull(ov);
  const char *want[] = {"  springs.*.stiffness: 123\n",
                        "  particles.sheet_3_4.velocity: [0.0, 0.0, -0.75]\n",
                        "  particles.sheet_7_7.velocity: [0.1, 0.0, 0.0]\n",
                        "  springs.sheet_s12.stiffness: 150.25\n",
                        "  springs.sheet_d3.damping: 2.0\n"};
  const char *at = ov;
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    const char *hit = strstr(at, want[i]);
    ck_assert_msg(hit != NULL, "'%s' not after the previous line in:\n%s", want[i], ov);
    at = hit;
  }
  int lines = 0;
  for (const char *p = ov + 1; *p != '\0'; p++) {
    lines += *p == '\n';
  }
  ck_assert_int_eq(lines, 6);  // "overrides:" and five entries
  // The file stands alone: no --set needed, and writing it again changes nothing.
  dpModel *r = load_ok(out, NULL, 0);
  char again[512];
  dir_file("cloth_again.yaml", again, sizeof again);
  free(write_and_check(out, NULL, 0, r, th, again));
  char *text2 = read_text(again);
  ck_assert_str_eq(text2, text);
  free(text2);
  dp_model_free(r);
  free(text);
  free(th);
  dp_model_free(m);
  dir_remove();
}
END_TEST

// Values in place: a moved particle adds the rest length its spring had from the initial
// distance; a pinned particle's velocity (ignored by the document) goes to `overrides:`;
// controls become controls.values rows; document --set values are written into the document
// and θ --set patterns under `overrides:`; a scene without `name` keeps its name.
START_TEST(test_write_in_place) {
  dir_make();
  char src[512], out[512];
  dir_file("in_place.yaml", src, sizeof src);
  dir_file("out.yaml", out, sizeof out);
  write_text(src,
             "# a comment that is not kept\n"
             "dt: 0.01\n"
             "steps: 3\n"
             "particles:\n"
             "  a: {mass: 1, position: [0, 0, 0]}\n"
             "  b: {mass: 2, position: [1, 0, 0], pinned: true}\n"
             "springs:\n"
             "  s: {a: a, b: b, stiffness: 5}\n"
             "controls:\n"
             "  particles: [a]\n"
             "  values: [1, 0, 0]\n");
  const char *sets[] = {"particles.a.linear_drag=0.5", "particles.*.force=[0, 0, 1]"};
  dpModel *m = load_ok(src, sets, 2);
  ck_assert_str_eq(m->name, "in_place");
  double *th = theta_copy(m);
  th[index_of(m, "particles.a.position", 0)] = 0.5;
  th[index_of(m, "particles.b.velocity", 2)] = 3;
  for (size_t k = 0; k < 9; k++) {
    th[index_of(m, "controls", k)] = 0.25 * (double)k;
  }
  char *text = write_and_check(src, sets, 2, m, th, out);
  const char *want[] = {
      "\nname: in_place\n",
      "\n  a: {mass: 1, position: [0.5, 0.0, 0.0], linear_drag: 0.5, force: [0, 0, 1]}\n",
      "\n  s: {a: a, b: b, stiffness: 5, rest_length: 1.0}\n",
      "\n  values: [[[0.0, 0.25, 0.5]], [[0.75, 1.0, 1.25]], [[1.5, 1.75, 2.0]]]\n",
      "\noverrides:\n  particles.*.force: [0, 0, 1]\n  particles.b.velocity: [0.0, 0.0, 3.0]\n",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    ck_assert_msg(strstr(text, want[i]) != NULL, "'%s' not in:\n%s", want[i], text);
  }
  ck_assert_ptr_null(strstr(text, "comment"));
  ck_assert_ptr_null(strstr(text, "springs.s.rest_length"));
  free(text);
  // Unchanged θ: the document as it is, with the --set values.
  free(write_and_check(src, sets, 2, m, m->theta0, out));
  free(th);
  dp_model_free(m);
  dir_remove();
}
END_TEST

// A scene with every joint type, every shape (capsules by half_length and by fromto), both
// actuator types, limits and body contact: every θ entry of the bodies, shapes, actuators and
// contact changed is written at its place in the document (no `overrides:`) and reads back bit
// for bit; a fromto capsule that moved becomes position, quat and half_length.
static const char *k_write_bodies =
    "dt: 0.01\n"
    "steps: 3\n"
    "integrator: rk4\n"
    "ground: {}\n"
    "bodies:\n"
    "  base:\n"
    "    joint: fixed\n"
    "    shapes:\n"
    "      - {type: box, half_extents: [0.1, 0.2, 0.3], density: 500}\n"
    "  cart:\n"
    "    parent: base\n"
    "    joint: prismatic\n"
    "    axis: [1, 0, 0]\n"
    "    mass: 1.5\n"
    "    inertia: [0.1, 0.2, 0.3]\n"
    "    range: [-1, 1]\n"
    "  arm:\n"
    "    parent: cart\n"
    "    axis: [0, 1, 0]\n"
    "    mass: 2\n"
    "    q: 0.3\n"
    "    shapes:\n"
    "      - {type: capsule, name: link, radius: 0.05, fromto: [0, 0, 0, 0.3, 0.4, -1]}\n"
    "      - {type: capsule, radius: 0.05, half_length: 0.2, position: [0, 0, -1]}\n"
    "  ball:\n"
    "    parent: arm\n"
    "    joint: ball\n"
    "    joint_pos: [0, 0, -1]\n"
    "    shapes:\n"
    "      - {type: sphere, radius: 0.1, density: 800}\n"
    "  free:\n"
    "    joint: free\n"
    "    q: [2, 0, 1]\n"
    "    mass: 1\n"
    "    inertia: [0.1, 0.2, 0.3, 0.01, 0.02, 0.03]\n"
    "actuators:\n"
    "  push: {body: cart, gear: 2, ctrl_range: [-1, 2]}\n"
    "  servo: {body: arm, type: position, kp: 100, controls: [0, 0.1, 0.2]}\n";

START_TEST(test_write_bodies) {
  dir_make();
  char src[512], out[512];
  dir_file("bodies.yaml", src, sizeof src);
  dir_file("out.yaml", out, sizeof out);
  for (int variant = 0; variant < 2; variant++) {
    // Without and with `contact:` (damping acting both ways: damping_smoothing is inf).
    char text[4096];
    snprintf(text, sizeof text, "%s%s", k_write_bodies,
             variant == 0 ? "" : "contact: {friction: 0.5, damping_mode: both}\n");
    write_text(src, text);
    dpModel *m = load_ok(src, NULL, 0);
    double *th = theta_copy(m);
    // Scaling keeps inertias positive definite, ranges ordered and quaternions non-zero.
    size_t changed = perturb(m, th, "bodies.*.*", 1.0625, 0, 0) +
                     perturb(m, th, "bodies.*.qd", 1.0, 0.25, 0.125) +
                     perturb(m, th, "bodies.*.damping", 1.0, 0.5, 0.0625) +
                     perturb(m, th, "bodies.*.armature", 1.0, 0.25, 0.03125) +
                     perturb(m, th, "bodies.*.com", 1.0, 0.01, 0.001) +
                     perturb(m, th, "bodies.*.joint_pos", 1.0, 0.01, 0.001) +
                     perturb(m, th, "bodies.*.q", 1.0, 0.01, 0.001) +
                     perturb(m, th, "shapes.*.*", 1.125, 0.001, 0) +
                     perturb(m, th, "actuators.*.*", 1.5, 0.1, 0.01) +
                     perturb(m, th, "contact.*", 1.25, 0.5, 0);
    th[index_of(m, "contact.damping_smoothing", 0)] = 0.002;  // inf → approach-only damping
    ck_assert_uint_gt(changed, 100);
    // Every entry of the new kinds changed (inf ones aside).
    for (size_t i = 0; i < m->nparam; i++) {
      const dpParam *p = &m->param[i];
      if (strncmp(p->path, "bodies.", 7) == 0 || strncmp(p->path, "shapes.", 7) == 0 ||
          strncmp(p->path, "actuators.", 10) == 0 || strncmp(p->path, "contact.", 8) == 0) {
        int differs = 0;
        for (size_t c = 0; c < p->len; c++) {
          differs |= th[p->offset + c] != m->theta0[p->offset + c];
        }
        ck_assert_msg(differs || strcmp(p->path, "contact.friction_damping") == 0,
                      "'%s' unchanged", p->path);
      }
    }
    char *w = write_and_check(src, NULL, 0, m, th, out);
    ck_assert_msg(strstr(w, "overrides:") == NULL, "needs no overrides:\n%s", w);
    ck_assert_msg(strstr(w, "fromto") == NULL, "the moved fromto capsule stays:\n%s", w);
    ck_assert_ptr_nonnull(strstr(w, "damping_mode: approach"));
    ck_assert_ptr_nonnull(strstr(w, "\ncontact:"));
    // The ball's per-dof damping as a list, a free joint's q as 7 numbers, the controls as
    // steps numbers.
    const char *want[] = {"damping: [0.625, 0.6875, 0.75]",
                          "q: [2.1409999999999996, 0.017, 1.0805, 1.0815, 0.02, ",
                          "controls: [0.11, 0.12000000000000001, 0.13]"};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
      ck_assert_msg(strstr(w, want[k]) != NULL, "'%s' not in:\n%s", want[k], w);
    }
    // The written scene is written again unchanged.
    dpModel *r = load_ok(out, NULL, 0);
    char again[512];
    dir_file("again.yaml", again, sizeof again);
    char *w2 = write_and_check(out, NULL, 0, r, th, again);
    ck_assert_str_eq(w2, w);
    free(w2);
    free(w);
    dp_model_free(r);
    free(th);
    dp_model_free(m);
  }

  // Moving one shape of a body whose mass comes from its shapes writes the body's mass, com and
  // inertia (as the model has them) next to the new geometry.
  write_text(src, k_write_bodies);
  dpModel *m = load_ok(src, NULL, 0);
  double *th = theta_copy(m);
  th[index_of(m, "shapes.ball.size", 0)] = 0.2;
  th[index_of(m, "shapes.base.position", 2)] = 0.5;
  char *w = write_and_check(src, NULL, 0, m, th, out);
  ck_assert_msg(strstr(w, "radius: 0.2") != NULL, "%s", w);
  ck_assert_msg(strstr(w, "position: [0.0, 0.0, 0.5]") != NULL, "%s", w);
  ck_assert_msg(strstr(w, "inertia: [") != NULL && strstr(w, "overrides:") == NULL, "%s", w);
  free(w);
  free(th);
  dp_model_free(m);
  dir_remove();
}
END_TEST

START_TEST(test_write_errors) {
  dir_make();
  char out[512], missing[512];
  dir_file("out.yaml", out, sizeof out);
  dir_file("no-such-dir/out.yaml", missing, sizeof missing);
  dpModel *m = load_ok("scenes/bounce.yaml", NULL, 0);
  double *th = theta_copy(m);
  dpError err;

  dp_error_clear(&err);
  ck_assert_int_eq(dp_scene_write("scenes/bounce.yaml", NULL, 0, m, th, NULL, missing, &err),
                   DP_ERR_IO);
  ck_assert_str_eq(err.file, missing);
  ck_assert_msg(strstr(err.message, "No such file or directory") != NULL, "%s", err.message);
  ck_assert_int_eq(dir_count(""), 0);

  // A failed write leaves an existing file alone.
  write_text(out, "old\n");
  th[index_of(m, "particles.ball.velocity", 1)] = NAN;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_scene_write("scenes/bounce.yaml", NULL, 0, m, th, NULL, out, &err),
                   DP_ERR_INVALID);
  ck_assert_msg(strstr(err.message, "'particles.ball.velocity' is not finite") != NULL, "%s",
                err.message);
  th[index_of(m, "particles.ball.velocity", 1)] = 0;
  th[index_of(m, "particles.ball.mass", 0)] = -1;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_scene_write("scenes/bounce.yaml", NULL, 0, m, th, NULL, out, &err),
                   DP_ERR_INVALID);
  ck_assert_msg(strstr(err.message, "'particles.ball.mass' is -1, outside its range (> 0") !=
                    NULL,
                "%s", err.message);
  th[index_of(m, "particles.ball.mass", 0)] = 1;

  // The source must be the scene of the model.
  dp_error_clear(&err);
  ck_assert_int_eq(dp_scene_write("scenes/projectile.yaml", NULL, 0, m, th, NULL, out, &err),
                   DP_ERR_INVALID);
  ck_assert_msg(strstr(err.message, "is not the scene of the model") != NULL, "%s", err.message);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_scene_write("scenes/no-such-scene.yaml", NULL, 0, m, th, NULL, out, &err),
                   DP_ERR_IO);
  const char *bad_set[] = {"particles.ball.mas=2"};
  dp_error_clear(&err);
  ck_assert_int_eq(dp_scene_write("scenes/bounce.yaml", bad_set, 1, m, th, NULL, out, &err),
                   DP_ERR_INVALID);
  char *text = read_text(out);
  ck_assert_str_eq(text, "old\n");
  free(text);
  ck_assert_int_eq(dir_count(""), 1);
  free(th);
  dp_model_free(m);

  // θ components outside every entry (the anchor of a spring between two particles).
  char src[512];
  dir_file("two.yaml", src, sizeof src);
  write_text(src, "dt: 1\nsteps: 1\nparticles:\n  a: {mass: 1, position: [0, 0, 0]}\n"
                  "  b: {mass: 1, position: [1, 0, 0]}\nsprings:\n  s: {a: a, b: b, "
                  "stiffness: 1}\n");
  m = load_ok(src, NULL, 0);
  th = theta_copy(m);
  th[m->off.anchor] = 1;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_scene_write(src, NULL, 0, m, th, NULL, out, &err), DP_ERR_INVALID);
  ck_assert_msg(strstr(err.message, "belongs to no parameter") != NULL, "%s", err.message);
  free(th);
  dp_model_free(m);
  dir_remove();
}
END_TEST

// The written scenes validate against schemas/scene.schema.json (through the YAML 1.2 reader of
// tests/py/validate_schemas.py), `overrides:` included.
START_TEST(test_write_schema) {
  if (access(PYTHON, X_OK) != 0 ||
      system(PYTHON " -c 'import jsonschema, yaml' 2>/dev/null") != 0) {
    fprintf(stderr, "check_io_scene_write: skipped schema test: no python3 with jsonschema and "
                    "yaml\n");
    return;
  }
  dir_make();
  char a[512], b[512], c[512], src[512];
  dir_file("bounce.yaml", a, sizeof a);
  dir_file("cloth.yaml", b, sizeof b);
  dir_file("controls.yaml", c, sizeof c);
  dir_file("src.yaml", src, sizeof src);
  dpModel *m = load_ok("scenes/bounce.yaml", NULL, 0);
  double *th = theta_copy(m);
  perturb(m, th, "particles.ball.velocity", 1.0, 0.5, 0);
  free(write_and_check("scenes/bounce.yaml", NULL, 0, m, th, a));
  free(th);
  dp_model_free(m);
  const char *sets[] = {"cloth.sheet.n=4", "springs.*.stiffness=123"};
  m = load_ok("scenes/cloth.yaml", sets, 2);
  th = theta_copy(m);
  perturb(m, th, "particles.*.velocity", 1.0, 0.5, 0.01);
  perturb(m, th, "controls", 1.0, 0.5, 0.01);
  free(write_and_check("scenes/cloth.yaml", sets, 2, m, th, b));
  free(th);
  dp_model_free(m);
  write_text(src, "dt: 0.01\nsteps: 40\nparticles:\n  a: {mass: 1, position: [0, 0, 0]}\n"
                  "  b: {mass: 2, position: [1, 0, 0]}\ncontrols: {values: [1, 0, 0]}\n");
  m = load_ok(src, NULL, 0);
  th = theta_copy(m);
  perturb(m, th, "controls", 1.0, 0.5, 0.01);
  char *text = write_and_check(src, NULL, 0, m, th, c);
  ck_assert_ptr_nonnull(strstr(text, "\n  values:\n    - [[1.5, 0.51, "));
  free(text);
  free(th);
  dp_model_free(m);
  char d[512];
  dir_file("bodies.yaml", d, sizeof d);
  write_text(src, k_write_bodies);
  m = load_ok(src, NULL, 0);
  th = theta_copy(m);
  perturb(m, th, "bodies.*.*", 1.0625, 0, 0);
  perturb(m, th, "shapes.*.*", 1.125, 0.001, 0);
  perturb(m, th, "actuators.*.*", 1.5, 0.1, 0.01);
  perturb(m, th, "contact.*", 1.25, 0.5, 0);
  free(write_and_check(src, NULL, 0, m, th, d));
  free(th);
  dp_model_free(m);
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           PYTHON " -c 'import json, sys; sys.path.insert(0, \"tests/py\"); "
                  "import validate_schemas as v, jsonschema; "
                  "s = jsonschema.Draft202012Validator("
                  "json.load(open(\"schemas/scene.schema.json\"))); "
                  "bad = [(p, v._problem(s, lambda f: v.yaml.load(f, Loader=v.CoreLoader), p)) "
                  "for p in sys.argv[1:]]; bad = [b for b in bad if b[1]]; bad and print(bad); "
                  "sys.exit(1 if bad else 0)' '%s' '%s' '%s' '%s'",
           a, b, c, d);
  ck_assert_int_eq(system(cmd), 0);
  dir_remove();
}
END_TEST

// ---- soft bodies and shells ---------------------------------------------------------------------

// A soft body with per-element materials placed by a pin region, a generated shell and a shell
// on an OBJ file beside the scene (the written scene is in another directory).
static const char *k_write_soft =
    "dt: 0.01\n"
    "steps: 3\n"
    "integrator: implicit_euler\n"
    "solver: {newton_tol: 1e-7}\n"
    "softbodies:\n"
    "  cube:\n"
    "    mesh: {box: {size: [0.2, 0.2, 0.2], resolution: [1, 1, 2]}}\n"
    "    position: [0, 0, 0.5]\n"
    "    scale: 2\n"
    "    material: stvk\n"
    "    per_element: true\n"
    "    youngs_modulus: 1.0e5\n"
    "    pin_region: {min: [-1, -1, -1], max: [-0.15, 1, 1]}\n"
    "    pin_velocity: [0, 0, 0.5]\n"
    "shells:\n"
    "  sheet:\n"
    "    mesh: {grid: {size: [1, 1], resolution: [2, 2]}}\n"
    "    velocity: [0, 0, -1]\n"
    "    pinned: [0, 2]\n"
    "  flag:\n"
    "    mesh: {file: flag.obj}\n"
    "    wind: [3, 0, 0]\n";

static void write_flag(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/flag.obj", dir);
  write_text(path, "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 2 0 0\nv 2 1 0\nf 1 2 3 4\nf 2 5 6 3\n");
}

// Every θ entry of soft bodies and shells changed: written in place (rest, vertex_position and
// vertex_velocity lists, per-element lists, scalars, pin_controls) with no `overrides:`, read
// back bit for bit; the mesh file renamed relative to the written scene; written again
// unchanged.
START_TEST(test_write_soft) {
  dir_make();
  tmpDir out_dir;
  tmpdir_make(&out_dir, "scene-write-out");
  char src[512], out[512], again[512];
  dir_file("soft.yaml", src, sizeof src);
  tmpdir_file(&out_dir, "soft_opt.yaml", out, sizeof out);
  tmpdir_file(&out_dir, "again.yaml", again, sizeof again);
  write_text(src, k_write_soft);
  write_flag(g_dir);
  dpModel *m = load_ok(src, NULL, 0);
  ck_assert_int_eq(m->nsoft, 3);
  ck_assert_int_gt(m->soft_npin[0], 0);
  double *th = theta_copy(m);
  size_t changed = perturb(m, th, "*.*.youngs_modulus", 1.0, 0, 1024) +
                   perturb(m, th, "*.*.poisson_ratio", 1.0, 0.0625, 0.001) +
                   perturb(m, th, "*.*.density", 1.25, 0, 0) +
                   perturb(m, th, "*.*.mass_damping", 1.0, 0.5, 0) +
                   perturb(m, th, "*.*.stiffness_damping", 1.0, 0.01, 0) +
                   perturb(m, th, "*.*.radius", 1.0, 0.001, 0) +
                   perturb(m, th, "shells.*.thickness", 1.5, 0, 0) +
                   perturb(m, th, "shells.*.bending_stiffness", 2.0, 0, 0) +
                   perturb(m, th, "shells.*.lift", 1.0, 0.25, 0) +
                   perturb(m, th, "shells.*.drag", 1.0, 0.75, 0) +
                   perturb(m, th, "shells.*.air_density", 1.0, 0.1, 0) +
                   perturb(m, th, "shells.*.wind", 1.0, 0.5, 0.125) +
                   perturb(m, th, "softbodies.cube.rest", 1.0, 0.001, 1e-4) +
                   perturb(m, th, "shells.flag.position", 1.0, 0.01, 1e-3) +
                   perturb(m, th, "softbodies.cube.velocity", 1.0, 0.5, 0.01) +
                   perturb(m, th, "pin_controls", 1.0, 0.25, 0.001);
  ck_assert_uint_gt(changed, 100);
  // The sheet's free vertices all get one new velocity: written as `velocity`.
  for (int i = 0; i < m->soft_nv[1]; i++) {
    int v = m->soft_vadr[1] + i;
    if (!m->vpinned[v]) {
      th[m->off.soft_v0 + 3 * (size_t)v + 0] = 0.75;
    }
  }
  // Every soft entry changed but the vertices of the unmoved shells and the cube's initial
  // positions (now apart from its moved rest positions).
  for (size_t i = 0; i < m->nparam; i++) {
    const dpParam *p = &m->param[i];
    if (strncmp(p->path, "softbodies.", 11) != 0 && strncmp(p->path, "shells.", 7) != 0) {
      continue;
    }
    int differs = 0;
    for (size_t c = 0; c < p->len; c++) {
      differs |= th[p->offset + c] != m->theta0[p->offset + c];
    }
    ck_assert_msg(differs || strcmp(p->path, "softbodies.cube.position") == 0 ||
                      strcmp(p->path, "shells.sheet.rest") == 0 ||
                      strcmp(p->path, "shells.sheet.position") == 0 ||
                      strcmp(p->path, "shells.flag.rest") == 0 ||
                      strcmp(p->path, "shells.flag.velocity") == 0,
                  "'%s' unchanged", p->path);
  }
  char *w = write_and_check(src, NULL, 0, m, th, out);
  ck_assert_msg(strstr(w, "overrides:") == NULL, "needs no overrides:\n%s", w);
  const char *want[] = {"\n    rest: [[", "\n    vertex_position: [[", "\n    vertex_velocity: [[",
                        "\n    youngs_modulus: [100000.0, 101024.0, 102048.0, ",
                        "\n    velocity: [0.75, 0.0, -1.0]\n", "\npin_controls:\n",
                        "\n    wind: [0.5, 0.625, 0.75]\n", "\n    material: stvk\n",
                        "\nsolver:\n  newton_tol: 1e-7\n"};
  for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
    ck_assert_msg(strstr(w, want[k]) != NULL, "'%s' not in:\n%s", want[k], w);
  }
  // The cube's placement and region became its rest positions and explicit pins.
  ck_assert_msg(strstr(w, "scale:") == NULL && strstr(w, "pin_region") == NULL, "%s", w);
  ck_assert_msg(strstr(w, "    pinned: [0, 2, 4") != NULL, "%s", w);
  // The mesh file, named relative to the written scene's directory.
  char rel[600];
  snprintf(rel, sizeof rel, "file: ../%s/flag.obj}", strrchr(g_dir, '/') + 1);
  ck_assert_msg(strstr(w, rel) != NULL, "'%s' not in:\n%s", rel, w);
  // The written scene is written again unchanged, from its own directory.
  dpModel *r = load_ok(out, NULL, 0);
  char *w2 = write_and_check(out, NULL, 0, r, th, again);
  ck_assert_str_eq(w2, w);
  free(w2);
  dp_model_free(r);
  free(w);
  // Unchanged θ: the document as it is (the mesh file renamed).
  w = write_and_check(src, NULL, 0, m, m->theta0, out);
  ck_assert_msg(strstr(w, "pin_region") != NULL && strstr(w, "rest:") == NULL, "%s", w);
  free(w);
  // Written beside the source, the mesh file keeps its name.
  char beside[512];
  dir_file("beside.yaml", beside, sizeof beside);
  w = write_and_check(src, NULL, 0, m, th, beside);
  ck_assert_msg(strstr(w, "{file: flag.obj}") != NULL, "%s", w);
  free(w);
  // A uniform velocity back from vertex_velocity; the initial positions back to the rest
  // positions (vertex_position dropped).
  dpModel *b = load_ok(beside, NULL, 0);
  double *tb = theta_copy(b);
  for (int i = 0; i < b->soft_nv[0]; i++) {
    size_t v = (size_t)b->soft_vadr[0] + (size_t)i;
    for (int c = 0; c < 3; c++) {
      tb[b->off.soft_v0 + 3 * v + c] = b->vpinned[v] ? 0.0 : (c == 2 ? -2.0 : 0.0);
    }
  }
  size_t fx = b->off.soft_x0 + 3 * (size_t)b->soft_vadr[2];
  memcpy(tb + fx, tb + b->off.soft_rest + 3 * (size_t)b->soft_vadr[2],
         3 * (size_t)b->soft_nv[2] * sizeof *tb);
  char third[512];
  dir_file("third.yaml", third, sizeof third);
  w = write_and_check(beside, NULL, 0, b, tb, third);
  const char *flag = strstr(w, "\n  flag:\n");
  ck_assert_msg(strstr(w, "vertex_velocity") == NULL && flag != NULL &&
                    strstr(flag, "vertex_position") == NULL &&
                    strstr(w, "velocity: [0.0, 0.0, -2.0]") != NULL,
                "%s", w);
  free(w);
  free(tb);
  dp_model_free(b);
  free(th);
  dp_model_free(m);
  // A scene whose soft constants come from --set: written into the document.
  const char *sets[] = {"softbodies.cube.mesh.box.resolution=[1, 1, 1]", "shells.*.drag=0.5"};
  m = load_ok(src, sets, 2);
  ck_assert_int_eq(m->ntet, 6);
  th = theta_copy(m);
  perturb(m, th, "shells.sheet.drag", 1.0, 0.25, 0);
  w = write_and_check(src, sets, 2, m, th, out);
  ck_assert_msg(strstr(w, "resolution: [1, 1, 1]") != NULL && strstr(w, "drag: 0.75") != NULL,
                "%s", w);
  ck_assert_msg(strstr(w, "\noverrides:\n  shells.*.drag: 0.5\n") != NULL, "%s", w);
  free(w);
  free(th);
  dp_model_free(m);
  // Out of range: a Poisson ratio at its bound.
  m = load_ok(src, NULL, 0);
  th = theta_copy(m);
  th[index_of(m, "softbodies.cube.poisson_ratio", 0)] = 0.5;
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_scene_write(src, NULL, 0, m, th, NULL, out, &err), DP_ERR_INVALID);
  ck_assert_msg(strstr(err.message, "'softbodies.cube.poisson_ratio' is 0.5, outside its range "
                                    "(>= 0, < 0.5)") != NULL,
                "%s", err.message);
  free(th);
  dp_model_free(m);
  tmpdir_remove(&out_dir);
  dir_remove();
}
END_TEST

// The written soft scene validates against schemas/scene.schema.json.
START_TEST(test_write_soft_schema) {
  if (access(PYTHON, X_OK) != 0 ||
      system(PYTHON " -c 'import jsonschema, yaml' 2>/dev/null") != 0) {
    fprintf(stderr, "check_io_scene_write: skipped soft schema test: no python3 with jsonschema "
                    "and yaml\n");
    return;
  }
  dir_make();
  char src[512], out[512];
  dir_file("soft.yaml", src, sizeof src);
  dir_file("out.yaml", out, sizeof out);
  write_text(src, k_write_soft);
  write_flag(g_dir);
  dpModel *m = load_ok(src, NULL, 0);
  double *th = theta_copy(m);
  perturb(m, th, "softbodies.*.youngs_modulus", 1.0, 0, 1024);
  perturb(m, th, "*.*.rest", 1.0, 0.001, 1e-4);
  perturb(m, th, "*.*.velocity", 1.0, 0.5, 0.01);
  perturb(m, th, "pin_controls", 1.0, 0.25, 0.001);
  free(write_and_check(src, NULL, 0, m, th, out));
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           PYTHON " -c 'import json, sys; sys.path.insert(0, \"tests/py\"); "
                  "import validate_schemas as v, jsonschema; "
                  "s = jsonschema.Draft202012Validator("
                  "json.load(open(\"schemas/scene.schema.json\"))); "
                  "bad = [(p, v._problem(s, lambda f: v.yaml.load(f, Loader=v.CoreLoader), p)) "
                  "for p in sys.argv[1:]]; bad = [b for b in bad if b[1]]; bad and print(bad); "
                  "sys.exit(1 if bad else 0)' '%s' '%s'",
           src, out);
  ck_assert_int_eq(system(cmd), 0);
  free(th);
  dp_model_free(m);
  dir_remove();
}
END_TEST

// Every allocation of a write that fails makes it fail with DP_ERR_NOMEM, freeing everything
// and leaving no file.
START_TEST(test_write_alloc_failures) {
  dir_make();
  char src[512], out[512];
  dir_file("src.yaml", src, sizeof src);
  dir_file("out.yaml", out, sizeof out);
  write_text(src, "dt: 1\nsteps: 2\nparticles:\n  a: {mass: 1, position: [0, 0, 0]}\n"
                  "  p: {mass: 1, position: [0, 0, 2], pinned: true}\n"
                  "springs:\n  s: {a: a, anchor: [0, 0, 1], stiffness: 1}\n"
                  "cloth:\n  c: {n: 2, mass: 1, structural: {stiffness: 1}}\n"
                  "controls: {particles: [a], values: [0, 0, 1]}\n"
                  "bodies:\n  b: {joint: ball, shapes: [{type: capsule, radius: 0.1, "
                  "fromto: [0, 0, 0, 0, 0, 1]}]}\n");
  const char *sets[] = {"particles.a.linear_drag=0.5", "springs.*.damping=0.25"};
  dpModel *m = load_ok(src, sets, 2);
  double *th = theta_copy(m);
  th[index_of(m, "shapes.b.position", 0)] = 0.5;          // fromto rewritten, mass written
  th[index_of(m, "bodies.b.damping", 1)] = 2;             // a list
  th[index_of(m, "contact.damping_smoothing", 0)] = 0.1;  // contact: and damping_mode added
  th[index_of(m, "particles.a.position", 2)] = 0.5;   // in place, and the rest length
  th[index_of(m, "particles.p.velocity", 0)] = 1;     // pinned: overrides
  th[index_of(m, "springs.c_s1.stiffness", 0)] = 2;   // generated: overrides
  th[index_of(m, "controls", 4)] = 3;                 // controls.values
  tu_fail_alloc f = {0, -1, 0};
  dp_set_allocator(tu_failing_alloc, &f);
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_scene_write(src, sets, 2, m, th, "h", out, &err), DP_OK);
  ck_assert_int_eq(f.live, 0);
  long total = f.count;
  ck_assert_int_gt(total, 50);
  unlink(out);
  for (long k = 1; k <= total; k++) {
    f.count = 0;
    f.fail_at = k;
    dp_error_clear(&err);
    dpStatus st = dp_scene_write(src, sets, 2, m, th, "h", out, &err);
    ck_assert_msg(st == DP_ERR_NOMEM, "allocation %ld of %ld failed: got %s (%s)", k, total,
                  dp_status_string(st), err.message);
    ck_assert_msg(f.live == 0, "allocation %ld of %ld failed: %ld blocks leaked", k, total,
                  f.live);
    ck_assert(!file_exists(out));
    ck_assert_int_eq(dir_count("out.yaml"), 0);
  }
  dp_set_allocator(NULL, NULL);
  free(th);
  dp_model_free(m);
  dir_remove();
}
END_TEST

// Every allocation of a write of soft bodies and shells that fails (vertex lists, explicit pins,
// the renamed mesh file, pin_controls) makes it fail with DP_ERR_NOMEM, freeing everything.
START_TEST(test_write_soft_alloc_failures) {
  dir_make();
  tmpDir out_dir;
  tmpdir_make(&out_dir, "scene-write-out");
  char src[512], out[512];
  dir_file("soft.yaml", src, sizeof src);
  tmpdir_file(&out_dir, "out.yaml", out, sizeof out);
  write_text(src, k_write_soft);
  write_flag(g_dir);
  dpModel *m = load_ok(src, NULL, 0);
  double *th = theta_copy(m);
  perturb(m, th, "softbodies.cube.rest", 1.0, 0.001, 1e-4);
  perturb(m, th, "softbodies.cube.youngs_modulus", 1.0, 0, 1024);
  perturb(m, th, "shells.sheet.velocity", 1.0, 0.5, 0.01);
  perturb(m, th, "pin_controls", 1.0, 0.25, 0.001);
  tu_fail_alloc f = {0, -1, 0};
  dp_set_allocator(tu_failing_alloc, &f);
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_scene_write(src, NULL, 0, m, th, "h", out, &err), DP_OK);
  ck_assert_int_eq(f.live, 0);
  long total = f.count;
  ck_assert_int_gt(total, 50);
  unlink(out);
  for (long k = 1; k <= total; k++) {
    f.count = 0;
    f.fail_at = k;
    dp_error_clear(&err);
    dpStatus st = dp_scene_write(src, NULL, 0, m, th, "h", out, &err);
    ck_assert_msg(st == DP_ERR_NOMEM, "allocation %ld of %ld failed: got %s (%s)", k, total,
                  dp_status_string(st), err.message);
    ck_assert_msg(f.live == 0, "allocation %ld of %ld failed: %ld blocks leaked", k, total,
                  f.live);
    ck_assert(!file_exists(out));
    ck_assert_int_eq(tmpdir_count(&out_dir, NULL, 0), 0);
  }
  dp_set_allocator(NULL, NULL);
  free(th);
  dp_model_free(m);
  tmpdir_remove(&out_dir);
  dir_remove();
}
END_TEST

Suite *make_io_scene_write_suite(void) {
  Suite *s = suite_create("io_scene_write");
  TCase *tc = tcase_create("emit");
  tcase_add_test(tc, test_emit_layout);
  tcase_add_test(tc, test_emit_scalars);
  suite_add_tcase(s, tc);
  tc = tcase_create("write");
  tcase_add_test(tc, test_write_scenes);
  tcase_add_test(tc, test_write_cloth);
  tcase_add_test(tc, test_write_in_place);
  tcase_add_test(tc, test_write_bodies);
  tcase_add_test(tc, test_write_errors);
  tcase_add_test(tc, test_write_schema);
  tcase_add_test(tc, test_write_soft);
  tcase_add_test(tc, test_write_soft_schema);
  suite_add_tcase(s, tc);
  tc = tcase_create("alloc");
  tcase_add_test(tc, test_write_alloc_failures);
  tcase_add_test(tc, test_write_soft_alloc_failures);
  suite_add_tcase(s, tc);
  return s;
}
