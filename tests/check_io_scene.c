// Tests of the YAML scene loader: the example scenes (counts and θ values at known paths), the
// bad-scene corpus (message and position from each file's "# expect:" / "# where:" lines),
// --set overrides (document, insertion, wildcards, θ after compile), articulated bodies (every
// joint, shape and actuator; mass properties against closed forms; errors with their positions),
// soft bodies and shells (generated and loaded meshes, θ values, pins, per-element materials,
// per-vertex lists, errors at the scene's and the mesh file's positions) and allocation
// failures.
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "dp/dp.h"
#include "testutil.h"

// θ component k of the entries matching path (dp_param_select order).
static double theta(const dpModel *m, const char *path, size_t k) {
  dpSelection sel;
  dpError err;
  dp_error_clear(&err);
  dpStatus st = dp_param_select(m, path, &sel, &err);
  ck_assert_msg(st == DP_OK, "select '%s': %s", path, err.message);
  ck_assert_msg(k < sel.n, "select '%s': component %zu of %zu", path, k, sel.n);
  double v = m->theta0[sel.index[k]];
  dp_selection_free(&sel);
  return v;
}

static size_t nselect(const dpModel *m, const char *path) {
  dpSelection sel;
  dpError err;
  dp_error_clear(&err);
  if (dp_param_select(m, path, &sel, &err) != DP_OK) {
    return 0;
  }
  size_t n = sel.n;
  dp_selection_free(&sel);
  return n;
}

static dpModel *load_ok(const char *path, const char *const *sets, int nsets) {
  dpModel *m = NULL;
  dpError err;
  dp_error_clear(&err);
  dpStatus st = dp_scene_load(path, sets, nsets, &m, &err);
  ck_assert_msg(st == DP_OK, "%s: %s:%d:%d: %s", path, err.file, err.line, err.column,
                err.message);
  ck_assert_ptr_nonnull(m);
  return m;
}

static dpModel *parse_ok(const char *text, const char *const *sets, int nsets) {
  dpModel *m = NULL;
  dpError err;
  dp_error_clear(&err);
  dpStatus st = dp_scene_parse(text, strlen(text), "test.yaml", sets, nsets, &m, &err);
  ck_assert_msg(st == DP_OK, "%s:%d:%d: %s", err.file, err.line, err.column, err.message);
  return m;
}

// Parse text expecting DP_ERR_INVALID with `expect` in the message; returns the error.
static dpError parse_bad(const char *text, const char *const *sets, int nsets,
                         const char *expect) {
  dpModel *m = NULL;
  dpError err;
  dp_error_clear(&err);
  dpStatus st = dp_scene_parse(text, strlen(text), "test.yaml", sets, nsets, &m, &err);
  ck_assert_msg(st == DP_ERR_INVALID, "expected invalid, got %s (%s)", dp_status_string(st),
                err.message);
  ck_assert_ptr_null(m);
  ck_assert_msg(strstr(err.message, expect) != NULL, "message '%s' lacks '%s'", err.message,
                expect);
  return err;
}

// Load the scene file path expecting status `code` with `expect` in the message.
static dpError load_bad(const char *path, dpStatus code, const char *expect) {
  dpModel *m = NULL;
  dpError err;
  dp_error_clear(&err);
  dpStatus st = dp_scene_load(path, NULL, 0, &m, &err);
  ck_assert_msg(st == code, "%s: expected %s, got %s (%s)", path, dp_status_string(code),
                dp_status_string(st), err.message);
  ck_assert_ptr_null(m);
  ck_assert_msg(strstr(err.message, expect) != NULL, "message '%s' lacks '%s'", err.message,
                expect);
  return err;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ck_assert_msg(f != NULL, "cannot write %s", path);
  ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
  fclose(f);
}

#define NEAR(a, b)                                                                        \
  do {                                                                                    \
    double a_ = (a), b_ = (b);                                                            \
    ck_assert_msg(fabs(a_ - b_) <= 1e-12 * fmax(1.0, fabs(b_)), "%s = %.17g, expected %.17g", \
                  #a, a_, b_);                                                            \
  } while (0)

static const char *k_two =
    "dt: 0.01\n"
    "steps: 10\n"
    "particles:\n"
    "  ball: {mass: 1, position: [0, 0, 1]}\n"
    "  bell: {mass: 2, position: [1, 0, 1], velocity: [0, 1, 0]}\n"
    "springs:\n"
    "  s: {a: ball, b: bell, stiffness: 5}\n";

// ---- example scenes -----------------------------------------------------------------------------

START_TEST(test_projectile) {
  dpModel *m = load_ok("scenes/projectile.yaml", NULL, 0);
  ck_assert_str_eq(m->name, "projectile");
  ck_assert_str_eq(m->source, "scenes/projectile.yaml");
  ck_assert_int_eq(m->np, 1);
  ck_assert_int_eq(m->ns, 0);
  ck_assert_int_eq(m->nc, 0);
  ck_assert_int_eq(m->steps, 200);
  ck_assert_int_eq(m->integrator, DP_RK4);
  NEAR(m->dt, 0.01);
  NEAR(theta(m, "particles.ball.mass", 0), 0.145);
  NEAR(theta(m, "particles.ball.velocity", 0), 20);
  NEAR(theta(m, "particles.ball.velocity", 2), 15);
  NEAR(theta(m, "particles.ball.position", 2), 1);
  NEAR(theta(m, "particles.ball.quadratic_drag", 0), 0.0013);
  NEAR(theta(m, "gravity", 2), -9.81);
  ck_assert_uint_eq(m->nspec, 1);
  ck_assert_str_eq(m->spec[0].path, "particles.ball.velocity");
  NEAR(m->spec[0].lower, -100);
  NEAR(m->spec[0].upper, 100);
  ck_assert_int_eq(m->spec[0].log_scale, 0);
  dp_model_free(m);
}
END_TEST

START_TEST(test_oscillator) {
  dpModel *m = load_ok("scenes/oscillator.yaml", NULL, 0);
  ck_assert_int_eq(m->np, 1);
  ck_assert_int_eq(m->ns, 1);
  ck_assert_int_eq(m->nc, 0);
  ck_assert_str_eq(m->pname[0], "bob");
  ck_assert_int_eq(m->sb[0], -1);
  NEAR(theta(m, "springs.spring.stiffness", 0), 40);
  NEAR(theta(m, "springs.spring.damping", 0), 0.5);
  NEAR(theta(m, "springs.spring.rest_length", 0), 1.0);
  NEAR(theta(m, "springs.spring.anchor", 0), 0);
  NEAR(theta(m, "particles.bob.position", 0), 1.2);
  NEAR(theta(m, "gravity", 2), 0);
  ck_assert_uint_eq(m->nspec, 3);
  ck_assert_int_eq(m->spec[1].log_scale, 1);
  ck_assert_str_eq(m->spec[2].path, "springs.spring.damping");
  dp_model_free(m);
}
END_TEST

START_TEST(test_bounce) {
  dpModel *m = load_ok("scenes/bounce.yaml", NULL, 0);
  ck_assert_int_eq(m->np, 1);
  ck_assert_int_eq(m->ns, 0);
  ck_assert_int_eq(m->nc, 2);
  ck_assert_str_eq(m->cname[0], "ground");
  ck_assert_int_eq(m->ctype[0], DP_COLLIDER_GROUND);
  ck_assert_str_eq(m->cname[1], "wall");
  ck_assert_int_eq(m->ctype[1], DP_COLLIDER_BOX);
  ck_assert_int_eq(m->steps, 288);
  NEAR(m->dt * m->steps, 0.6);
  NEAR(theta(m, "particles.ball.velocity", 0), 5);
  NEAR(theta(m, "particles.ball.velocity", 2), -5);
  NEAR(theta(m, "ground.height", 0), 0);
  NEAR(theta(m, "ground.stiffness", 0), 1e4);
  NEAR(theta(m, "ground.friction_smoothing", 0), 1e-2);
  NEAR(theta(m, "boxes.wall.center", 0), 2);
  NEAR(theta(m, "boxes.wall.half_extents", 0), 0.25);
  NEAR(theta(m, "boxes.wall.friction", 0), 0.2);
  NEAR(theta(m, "boxes.wall.smoothing", 0), 1e-3);
  dp_model_free(m);
}
END_TEST

START_TEST(test_spring_cage) {
  dpModel *m = load_ok("scenes/spring_cage.yaml", NULL, 0);
  ck_assert_int_eq(m->np, 1);
  ck_assert_int_eq(m->ns, 8);
  ck_assert_int_eq(m->nc, 0);
  ck_assert_uint_eq(nselect(m, "springs.*.rest_length"), 8);
  for (size_t k = 0; k < 8; k++) {
    NEAR(theta(m, "springs.*.rest_length", k), 1.5);
    NEAR(theta(m, "springs.*.stiffness", k), 100);
  }
  NEAR(theta(m, "springs.c3.anchor", 0), 1);
  NEAR(theta(m, "springs.c3.anchor", 1), 1);
  NEAR(theta(m, "springs.c3.anchor", 2), -1);
  ck_assert_str_eq(m->spec[0].path, "springs.*.rest_length");
  dp_model_free(m);
}
END_TEST

START_TEST(test_cloth) {
  dpModel *m = load_ok("scenes/cloth.yaml", NULL, 0);
  int n = 16;
  ck_assert_int_eq(m->np, n * n);
  ck_assert_int_eq(m->ns, 2 * n * (n - 1) + 2 * (n - 1) * (n - 1));
  ck_assert_int_eq(m->nc, 0);
  ck_assert_str_eq(m->pname[0], "sheet_0_0");
  ck_assert_str_eq(m->pname[n - 1], "sheet_0_15");
  ck_assert_str_eq(m->pname[n], "sheet_1_0");
  ck_assert_int_eq(m->pinned[0], 1);
  ck_assert_int_eq(m->pinned[n - 1], 1);
  ck_assert_int_eq(m->pinned[1], 0);
  ck_assert_int_eq(m->pinned[n * n - 1], 0);
  NEAR(theta(m, "particles.sheet_3_4.mass", 0), 1.0 / (n * n));
  NEAR(theta(m, "particles.sheet_15_15.position", 0), 1.0);
  NEAR(theta(m, "particles.sheet_15_15.position", 1), 1.0);
  NEAR(theta(m, "particles.sheet_15_15.position", 2), 1.0);
  NEAR(theta(m, "particles.sheet_5_0.position", 0), 5.0 / 15);
  // Structural springs: all (i, j)-(i, j+1) first, then (i, j)-(i+1, j).
  ck_assert_str_eq(m->sname[0], "sheet_s0");
  ck_assert_int_eq(m->sa[0], 0);
  ck_assert_int_eq(m->sb[0], 1);
  ck_assert_int_eq(m->sa[n * (n - 1)], 0);
  ck_assert_int_eq(m->sb[n * (n - 1)], n);
  NEAR(theta(m, "springs.sheet_s0.rest_length", 0), 1.0 / 15);
  NEAR(theta(m, "springs.sheet_s0.stiffness", 0), 1000);
  // Shear springs: the two diagonals of each cell.
  int d0 = 2 * n * (n - 1);
  ck_assert_str_eq(m->sname[d0], "sheet_d0");
  ck_assert_int_eq(m->sa[d0], 0);
  ck_assert_int_eq(m->sb[d0], n + 1);
  ck_assert_int_eq(m->sa[d0 + 1], n);
  ck_assert_int_eq(m->sb[d0 + 1], 1);
  NEAR(theta(m, "springs.sheet_d1.rest_length", 0), sqrt(2.0) / 15);
  NEAR(theta(m, "springs.sheet_d1.stiffness", 0), 200);
  dp_model_free(m);
}
END_TEST

// Every scene in scenes/ loads (new scenes are covered without touching this file).
START_TEST(test_all_scenes_load) {
  DIR *d = opendir("scenes");
  ck_assert_msg(d != NULL, "run the tests from the repository root");
  int count = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0) {
      continue;
    }
    char path[512];
    snprintf(path, sizeof path, "scenes/%s", e->d_name);
    dpModel *m = load_ok(path, NULL, 0);
    ck_assert_int_gt(m->np + m->nb + m->nsoft, 0);
    ck_assert_int_ne(m->scene_hash, 0);
    dp_model_free(m);
    count++;
  }
  closedir(d);
  ck_assert_int_ge(count, 5);
}
END_TEST

// ---- the bad-scene corpus -----------------------------------------------------------------------

static int scan_header(const char *path, char *expect, size_t esize, int *line, int *column) {
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  char buf[512];
  expect[0] = '\0';
  *line = *column = -1;
  for (int i = 0; i < 5 && fgets(buf, sizeof buf, f) != NULL; i++) {
    buf[strcspn(buf, "\n")] = '\0';
    if (strncmp(buf, "# expect: ", 10) == 0) {
      snprintf(expect, esize, "%s", buf + 10);
    } else if (strncmp(buf, "# where: ", 9) == 0) {
      ck_assert_msg(sscanf(buf + 9, "%d:%d", line, column) == 2, "%s: bad '# where:'", path);
    }
  }
  fclose(f);
  return expect[0] != '\0';
}

START_TEST(test_bad_corpus) {
  DIR *d = opendir("tests/bad/scenes");
  ck_assert_msg(d != NULL, "run the tests from the repository root");
  int count = 0, placed = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0) {
      continue;
    }
    char path[512], expect[512];
    int line, column;
    snprintf(path, sizeof path, "tests/bad/scenes/%s", e->d_name);
    ck_assert_msg(scan_header(path, expect, sizeof expect, &line, &column),
                  "%s: no '# expect:' line", path);
    dpModel *m = NULL;
    dpError err;
    dp_error_clear(&err);
    dpStatus st = dp_scene_load(path, NULL, 0, &m, &err);
    ck_assert_msg(st == DP_ERR_INVALID || st == DP_ERR_IO, "%s: loaded (status %s)", path,
                  dp_status_string(st));
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.message, expect) != NULL, "%s: message '%s' lacks '%s'", path,
                  err.message, expect);
    ck_assert_str_eq(err.file, path);
    if (line >= 0) {
      ck_assert_msg(err.line == line && err.column == column, "%s: error at %d:%d, expected %d:%d",
                    path, err.line, err.column, line, column);
      placed++;
    }
    // Messages are lowercase and have no final period (git style).
    ck_assert_msg(err.message[0] < 'A' || err.message[0] > 'Z', "%s: capitalized", path);
    ck_assert_msg(err.message[strlen(err.message) - 1] != '.', "%s: final period", path);
    count++;
  }
  closedir(d);
  ck_assert_int_ge(count, 14);
  ck_assert_int_ge(placed, count - 2);
}
END_TEST

START_TEST(test_io_error) {
  dpModel *m = NULL;
  dpError err;
  dp_error_clear(&err);
  dpStatus st = dp_scene_load("tests/bad/scenes/no-such-scene.yaml", NULL, 0, &m, &err);
  ck_assert_int_eq(st, DP_ERR_IO);
  ck_assert_ptr_null(m);
  ck_assert_str_eq(err.message,
                   "cannot read 'tests/bad/scenes/no-such-scene.yaml': No such file or directory");
  dp_error_clear(&err);
  st = dp_scene_load("tests/bad/scenes", NULL, 0, &m, &err);
  ck_assert_int_eq(st, DP_ERR_IO);
  ck_assert_ptr_null(m);
}
END_TEST

START_TEST(test_error_fields) {
  dpError err = parse_bad("dt: 0.01\nsteps: 10\nparticles:\n  ball: {mass: 1, position: [0, 0, "
                          "1], velocty: [1, 0, 0]}\n",
                          NULL, 0, "unknown key 'velocty' in particle 'ball' (did you mean "
                                   "'velocity'?)");
  ck_assert_str_eq(err.file, "test.yaml");
  ck_assert_int_eq(err.line, 4);
  ck_assert_int_eq(err.column, 40);
  ck_assert_str_eq(err.key, "particles.ball.velocty");
  err = parse_bad("dt: 0.01\nsteps: 10\nparticles:\n  ball: {mass: 0, position: [0, 0, 1]}\n", NULL,
                  0, "particle 'ball': 'mass' must be > 0 (got 0)");
  ck_assert_str_eq(err.key, "particles.ball.mass");
  ck_assert_int_eq(err.line, 4);
  ck_assert_int_eq(err.column, 16);
  // An unknown key far from every allowed one lists them instead of guessing.
  parse_bad("dt: 0.01\nsteps: 10\nzzzzzz: 1\n", NULL, 0, "(expected one of: name, description");
  parse_bad("dt: 0.01\nsteps: 10\nparticles: [ball]\n", NULL, 0,
            "'particles' must be a mapping (got a list)");
  parse_bad("dt: 0.01\nsteps: 1\nsubsteps: 0\n", NULL, 0, "'substeps' must be >= 1 (got 0)");
  parse_bad("dt: 0.01\nsteps: 1\ngravity: [0, 0, x]\n", NULL, 0,
            "'gravity[2]' must be a number (got 'x')");
  parse_bad("dt: 1e999\nsteps: 1\n", NULL, 0, "'dt': value must be finite (got 1e999)");
  parse_bad("a: &x [1, 2]\nb: *x\n", NULL, 0, "unknown top-level key 'a'");
}
END_TEST

// ---- defaults and details -----------------------------------------------------------------------

START_TEST(test_defaults) {
  const char *text = "dt: 0.5\nsteps: 3\nparticles:\n  p: {mass: 2, position: [1, 2, 3]}\n"
                     "ground: {}\nspheres:\n  rock: {center: [0, 0, 0.5], radius: 0.5}\n";
  dpModel *m = NULL;
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_scene_parse(text, strlen(text), "dir/my-scene.yaml", NULL, 0, &m, &err),
                   DP_OK);
  ck_assert_str_eq(m->name, "my-scene");
  ck_assert_int_eq(m->substeps, 1);
  ck_assert_int_eq(m->integrator, DP_SEMI_IMPLICIT_EULER);
  NEAR(m->divergence_limit, 1e8);
  NEAR(theta(m, "gravity", 2), -9.81);
  NEAR(theta(m, "particles.p.velocity", 1), 0);
  NEAR(theta(m, "particles.p.linear_drag", 0), 0);
  ck_assert_int_eq(m->pinned[0], 0);
  ck_assert_int_eq(m->nu, 0);
  dpColliderDef g = dp_default_collider_def(DP_COLLIDER_GROUND);
  NEAR(theta(m, "ground.height", 0), 0);
  NEAR(theta(m, "ground.stiffness", 0), g.stiffness);
  NEAR(theta(m, "ground.friction", 0), g.friction);
  NEAR(theta(m, "spheres.rock.radius", 0), 0.5);
  NEAR(theta(m, "spheres.rock.smoothing", 0), g.smoothing);
  ck_assert_str_eq(m->cname[1], "rock");
  dp_model_free(m);

  // Numbers in any YAML 1.2 decimal form; integral floats for integers.
  m = parse_ok("dt: .5e-2\nsteps: 1e3\nsubsteps: +2\ndivergence_limit: 1.0E6\n", NULL, 0);
  NEAR(m->dt, 0.005);
  ck_assert_int_eq(m->steps, 1000);
  ck_assert_int_eq(m->substeps, 2);
  NEAR(m->divergence_limit, 1e6);
  ck_assert_int_eq(m->np, 0);
  dp_model_free(m);
}
END_TEST

START_TEST(test_springs_and_names) {
  dpModel *m = parse_ok(k_two, NULL, 0);
  ck_assert_int_eq(m->ns, 1);
  ck_assert_int_eq(m->sa[0], 0);
  ck_assert_int_eq(m->sb[0], 1);
  NEAR(theta(m, "springs.s.rest_length", 0), 1.0);  // the initial distance
  NEAR(theta(m, "springs.s.damping", 0), 0);
  dp_model_free(m);
  parse_bad("dt: 1\nsteps: 1\nparticles:\n  a: {mass: 1, position: [0, 0, 0]}\nsprings:\n"
            "  s: {a: a, b: a, stiffness: 1}\n",
            NULL, 0, "'a' and 'b' are the same particle");
  parse_bad("dt: 1\nsteps: 1\nboxes:\n  x: {center: [0, 0, 0], half_extents: [1, 1, 1]}\n"
            "spheres:\n  x: {center: [0, 0, 0], radius: 1}\n",
            NULL, 0, "duplicate collider name 'x'");
  parse_bad("dt: 1\nsteps: 1\nboxes:\n  ground: {center: [0, 0, 0], half_extents: [1, 1, 1]}\n",
            NULL, 0, "duplicate collider name 'ground'");
  // Springs may refer to generated cloth particles.
  m = parse_ok("dt: 1\nsteps: 1\nparticles:\n  p: {mass: 1, position: [0, 0, 2]}\n"
               "cloth:\n  c: {n: 3, mass: 9, structural: {stiffness: 1}}\n"
               "springs:\n  hang: {a: p, b: c_2_1, stiffness: 3}\n",
               NULL, 0);
  ck_assert_int_eq(m->np, 10);
  ck_assert_int_eq(m->ns, 1 + 12);
  ck_assert_str_eq(m->sname[0], "hang");
  ck_assert_int_eq(m->sb[0], 1 + 2 * 3 + 1);
  NEAR(theta(m, "particles.c_0_0.mass", 0), 1.0);
  dp_model_free(m);
  parse_bad("dt: 1\nsteps: 1\ncloth:\n  c: {n: 3, mass: 9, structural: {stiffness: 1}}\n"
            "springs:\n  c_s0: {a: c_0_0, b: c_2_2, stiffness: 3}\n",
            NULL, 0, "duplicate spring name 'c_s0' (also generated by cloth 'c')");
  parse_bad("dt: 1\nsteps: 1\ncloth:\n  c: {n: 3, mass: 9, structural: {stiffness: 1}}\n"
            "springs:\n  s: {a: c_0_0, b: c_3_0, stiffness: 3}\n",
            NULL, 0, "unknown particle 'c_3_0'");
}
END_TEST

START_TEST(test_cloth_planes) {
  const char *text = "dt: 1\nsteps: 1\ncloth:\n  w:\n    n: 3\n    size: [2, 4]\n"
                     "    origin: [1, 1, 1]\n    plane: yz\n    mass: 9\n"
                     "    velocity: [0, 0, 1]\n    structural: {stiffness: 10, damping: 1}\n"
                     "    pinned: [[-1, -1], [1, 0]]\n";
  dpModel *m = parse_ok(text, NULL, 0);
  ck_assert_int_eq(m->np, 9);
  ck_assert_int_eq(m->ns, 12);  // no shear springs
  NEAR(theta(m, "particles.w_2_1.position", 0), 1);
  NEAR(theta(m, "particles.w_2_1.position", 1), 3);
  NEAR(theta(m, "particles.w_2_1.position", 2), 3);
  NEAR(theta(m, "particles.w_0_1.velocity", 2), 1);
  ck_assert_int_eq(m->pinned[8], 1);
  ck_assert_int_eq(m->pinned[3], 1);
  ck_assert_int_eq(m->pinned[0], 0);
  NEAR(theta(m, "springs.w_s11.damping", 0), 1);
  NEAR(theta(m, "springs.w_s11.rest_length", 0), 1);
  NEAR(theta(m, "springs.w_s0.rest_length", 0), 2);
  dp_model_free(m);
}
END_TEST

START_TEST(test_controls) {
  const char *text = "dt: 1\nsteps: 2\nparticles:\n  a: {mass: 1, position: [0, 0, 0]}\n"
                     "  b: {mass: 1, position: [1, 0, 0]}\n"
                     "controls:\n  particles: [b]\n  values: [1, 2, 3]\n";
  dpModel *m = parse_ok(text, NULL, 0);
  ck_assert_int_eq(m->nu, 1);
  ck_assert_int_eq(m->uparticle[0], 1);
  ck_assert_uint_eq(nselect(m, "controls"), 6);
  NEAR(theta(m, "controls", 3), 1);
  NEAR(theta(m, "controls", 5), 3);
  dp_model_free(m);

  text = "dt: 1\nsteps: 2\nparticles:\n  a: {mass: 1, position: [0, 0, 0]}\n"
         "  b: {mass: 1, position: [1, 0, 0]}\n"
         "controls:\n  values: [[[1, 0, 0], [2, 0, 0]], [[3, 0, 0], [4, 0, 0]]]\n";
  m = parse_ok(text, NULL, 0);
  ck_assert_int_eq(m->nu, 2);
  for (int k = 0; k < 4; k++) {
    NEAR(theta(m, "controls", (size_t)(3 * k)), k + 1);
  }
  dp_model_free(m);

  m = parse_ok("dt: 1\nsteps: 4\nparticles:\n  a: {mass: 1, position: [0, 0, 0]}\ncontrols: {}\n",
               NULL, 0);
  ck_assert_int_eq(m->nu, 1);
  NEAR(theta(m, "controls", 11), 0);
  dp_model_free(m);

  parse_bad("dt: 1\nsteps: 2\nparticles:\n  a: {mass: 1, position: [0, 0, 0]}\n"
            "controls:\n  values: [[[1, 0, 0]], [[1, 0]]]\n",
            NULL, 0, "'values[1][0]' must be a list of 3 numbers (got 2)");
  parse_bad("dt: 1\nsteps: 2\nparticles:\n  a: {mass: 1, position: [0, 0, 0]}\n"
            "controls:\n  particles: [a, a]\n",
            NULL, 0, "particle 'a' is listed twice");
  parse_bad("dt: 1\nsteps: 100000000\nparticles:\n  a: {mass: 1, position: [0, 0, 0]}\n"
            "  b: {mass: 1, position: [0, 0, 0]}\ncontrols: {}\n",
            NULL, 0, "controls are too large");
}
END_TEST

START_TEST(test_parameters) {
  const char *text = "dt: 1\nsteps: 1\nparticles:\n  a: {mass: 1, position: [0, 0, 0]}\n"
                     "parameters:\n  - {path: particles.a.mass, lower: 0.5, scale: log}\n"
                     "  - {path: 'particles.*.velocity'}\n";
  dpModel *m = parse_ok(text, NULL, 0);
  ck_assert_uint_eq(m->nspec, 2);
  ck_assert_int_eq(m->spec[0].log_scale, 1);
  NEAR(m->spec[0].lower, 0.5);
  ck_assert(isinf(m->spec[0].upper) && m->spec[0].upper > 0);
  ck_assert(isinf(m->spec[1].lower) && m->spec[1].lower < 0);
  ck_assert_str_eq(m->spec[1].path, "particles.*.velocity");
  dp_model_free(m);
  parse_bad("dt: 1\nsteps: 1\nparticles:\n  a: {mass: 1, position: [0, 0, 0]}\n"
            "parameters:\n  - {path: particles.a.mass, lower: 2, upper: 1}\n",
            NULL, 0, "'lower' must be < 'upper'");
  parse_bad("dt: 1\nsteps: 1\nparticles:\n  a: {mass: 1, position: [0, 0, 0]}\n"
            "parameters:\n  - {path: particles.a.linear_drag, scale: log}\n",
            NULL, 0, "scale: log needs positive values");
}
END_TEST

START_TEST(test_hash) {
  const char *text = "dt: 1\nsteps: 1\n";
  dpModel *m = parse_ok(text, NULL, 0);
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char *p = text; *p; p++) {
    h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
  }
  ck_assert_uint_eq(m->scene_hash, h);
  dp_model_free(m);
  const char *sets[] = {"dt=2"};
  m = parse_ok(text, sets, 1);
  for (const char *p = "dt=2\n"; *p; p++) {
    h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
  }
  ck_assert_uint_eq(m->scene_hash, h);
  NEAR(m->dt, 2);
  dp_model_free(m);
}
END_TEST

// ---- --set --------------------------------------------------------------------------------------

START_TEST(test_set_structural) {
  const char *sets[] = {"cloth.sheet.n=8"};
  dpModel *m = load_ok("scenes/cloth.yaml", sets, 1);
  ck_assert_int_eq(m->np, 64);
  ck_assert_int_eq(m->ns, 2 * 8 * 7 + 2 * 7 * 7);
  ck_assert_int_eq(m->pinned[0], 1);
  ck_assert_int_eq(m->pinned[7], 1);  // [0, -1] follows n
  ck_assert_int_eq(m->pinned[15], 0);
  NEAR(theta(m, "particles.sheet_7_7.mass", 0), 1.0 / 64);
  dp_model_free(m);
}
END_TEST

START_TEST(test_set_values) {
  const char *sets[] = {"particles.ball.mass=2", "gravity=[0,0,-1]", "integrator=rk4",
                        "particles.ball.force=[1, 2, 3]", "ground.friction=0.5",
                        "boxes.wall.center=[3, 0, 1]"};
  dpModel *m = load_ok("scenes/bounce.yaml", sets, 6);
  NEAR(theta(m, "particles.ball.mass", 0), 2);
  NEAR(theta(m, "gravity", 0), 0);
  NEAR(theta(m, "gravity", 2), -1);
  ck_assert_int_eq(m->integrator, DP_RK4);
  NEAR(theta(m, "particles.ball.force", 1), 2);  // inserted: absent from the file
  NEAR(theta(m, "ground.friction", 0), 0.5);
  NEAR(theta(m, "boxes.wall.center", 0), 3);
  dp_model_free(m);
}
END_TEST

START_TEST(test_set_wildcard) {
  const char *sets[] = {"particles.*.mass=3", "particles.b*.linear_drag=0.25"};
  dpModel *m = parse_ok(k_two, sets, 2);
  NEAR(theta(m, "particles.ball.mass", 0), 3);
  NEAR(theta(m, "particles.bell.mass", 0), 3);
  NEAR(theta(m, "particles.ball.linear_drag", 0), 0.25);
  NEAR(theta(m, "particles.bell.linear_drag", 0), 0.25);
  dp_model_free(m);
  // A wildcard reaches generated entities too (through θ).
  const char *sets2[] = {"particles.*.mass=0.5"};
  m = load_ok("scenes/cloth.yaml", sets2, 1);
  NEAR(theta(m, "particles.sheet_9_9.mass", 0), 0.5);
  dp_model_free(m);
}
END_TEST

START_TEST(test_set_theta) {
  const char *sets[] = {"springs.*.stiffness=7", "particles.sheet_2_3.velocity=[0, 0, 4]",
                        "springs.sheet_d5.rest_length=0.3"};
  dpModel *m = load_ok("scenes/cloth.yaml", sets, 3);
  size_t n = nselect(m, "springs.*.stiffness");
  ck_assert_uint_eq(n, (size_t)m->ns);
  for (size_t k = 0; k < n; k++) {
    NEAR(theta(m, "springs.*.stiffness", k), 7);
  }
  NEAR(theta(m, "particles.sheet_2_3.velocity", 2), 4);
  NEAR(theta(m, "springs.sheet_d5.rest_length", 0), 0.3);
  dp_model_free(m);
}
END_TEST

START_TEST(test_set_errors) {
  const char *bad_path[] = {"particles.ball.mas=2"};
  dpError err = parse_bad(k_two, bad_path, 1,
                          "unknown path 'particles.ball.mas' "
                          "(did you mean 'particles.ball.mass'?)");
  ck_assert_str_eq(err.file, "--set particles.ball.mas=2");
  const char *bad_top[] = {"gravty=[0,0,1]"};
  parse_bad(k_two, bad_top, 1, "unknown path 'gravty' (did you mean 'gravity'?)");
  const char *no_ground[] = {"ground.friction=0.5"};
  parse_bad(k_two, no_ground, 1, "unknown path 'ground.friction' (the scene has no 'ground')");
  const char *bad_name[] = {"particles.bal.mass=2"};
  parse_bad(k_two, bad_name, 1, "(did you mean 'particles.ball.mass'?)");

  const char *bad_value[] = {"particles.ball.mass=-1"};
  err = parse_bad(k_two, bad_value, 1, "'mass' must be > 0 (got -1)");
  ck_assert_str_eq(err.file, "--set particles.ball.mass=-1");
  ck_assert_int_eq(err.line, 0);
  ck_assert_int_eq(err.column, 0);
  const char *bad_type[] = {"dt=fast"};
  err = parse_bad(k_two, bad_type, 1, "'dt' must be a number (got 'fast')");
  ck_assert(strstr(err.file, "--set") != NULL);
  const char *bad_vec[] = {"gravity=[0, 1]"};
  parse_bad(k_two, bad_vec, 1, "'gravity' must be a list of 3 numbers (got 2)");
  const char *bad_steps[] = {"steps=1e12"};
  parse_bad(k_two, bad_steps, 1, "'steps' is too large");
  const char *bad_theta[] = {"springs.*.stiffness=-3"};
  parse_bad("dt: 1\nsteps: 1\ncloth:\n  c: {n: 2, mass: 1, structural: {stiffness: 1}}\n",
            bad_theta, 1, "'stiffness' must be >= 0 (got -3)");
  const char *bad_theta_vec[] = {"springs.*.stiffness=[1, 2, 3]"};
  parse_bad("dt: 1\nsteps: 1\ncloth:\n  c: {n: 2, mass: 1, structural: {stiffness: 1}}\n",
            bad_theta_vec, 1, "takes 1 number, not a list of 3");
  const char *no_eq[] = {"dt"};
  err = parse_bad(k_two, no_eq, 1, "expected path=value");
  ck_assert_str_eq(err.file, "--set dt");
  const char *bad_yaml[] = {"gravity=[0, 0"};
  parse_bad(k_two, bad_yaml, 1, "yaml syntax error");
  const char *inserted_bad[] = {"particles.ball.pinned=maybe"};
  parse_bad(k_two, inserted_bad, 1, "'pinned' must be true or false (got 'maybe')");
}
END_TEST

// ---- the overrides key --------------------------------------------------------------------------

START_TEST(test_overrides_key) {
  const char *text = "dt: 1\nsteps: 2\n"
                     "particles:\n  p: {mass: 1, position: [0, 0, 2], velocity: [1, 1, 1]}\n"
                     "cloth:\n  c: {n: 3, mass: 9, structural: {stiffness: 1}}\n"
                     "controls: {particles: [p, c_1_1]}\n"
                     "overrides:\n"
                     "  springs.*.stiffness: 7\n"
                     "  springs.c_s0.stiffness: 9\n"
                     "  particles.c_2_2.velocity: [0, 0, -1.5]\n"
                     "  particles.p.velocity: 2\n"
                     "  particles.c_0_0.mass: 0.5\n"
                     "  particles.c_?_1.linear_drag: 0.25\n"
                     "  controls: [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]\n";
  dpModel *m = parse_ok(text, NULL, 0);
  NEAR(theta(m, "springs.c_s0.stiffness", 0), 9);  // a later key wins over a pattern
  NEAR(theta(m, "springs.c_s1.stiffness", 0), 7);
  NEAR(theta(m, "springs.c_s11.stiffness", 0), 7);
  NEAR(theta(m, "particles.c_2_2.velocity", 2), -1.5);
  NEAR(theta(m, "particles.c_2_2.velocity", 0), 0);
  NEAR(theta(m, "particles.p.velocity", 0), 2);  // one number for every component
  NEAR(theta(m, "particles.p.velocity", 2), 2);
  NEAR(theta(m, "particles.c_0_0.mass", 0), 0.5);
  NEAR(theta(m, "particles.c_0_1.mass", 0), 1);
  NEAR(theta(m, "particles.c_2_1.linear_drag", 0), 0.25);
  NEAR(theta(m, "particles.c_2_2.linear_drag", 0), 0);
  for (size_t k = 0; k < 12; k++) {
    NEAR(theta(m, "controls", k), k + 1);
  }
  dp_model_free(m);

  // Command-line values for entries come after the scene's overrides; a --set can add the key.
  const char *sets[] = {"particles.c_0_0.mass=0.25", "controls.values=[0, 0, 1]"};
  m = parse_ok(text, sets, 2);
  NEAR(theta(m, "particles.c_0_0.mass", 0), 0.25);
  NEAR(theta(m, "controls", 11), 12);  // the overrides key still sets controls after compiling
  dp_model_free(m);
  const char *add[] = {"overrides={particles.c_1_1.mass: 0.75, controls: [0, 0, -1]}"};
  m = parse_ok("dt: 1\nsteps: 2\ncloth:\n  c: {n: 3, mass: 9, structural: {stiffness: 1}}\n"
               "controls: {particles: [c_1_1]}\n",
               add, 1);
  NEAR(theta(m, "particles.c_1_1.mass", 0), 0.75);
  NEAR(theta(m, "controls", 0), 0);
  NEAR(theta(m, "controls", 5), -1);
  dp_model_free(m);
  m = parse_ok("dt: 1\nsteps: 1\noverrides: {}\n", NULL, 0);
  dp_model_free(m);

  const char *two = "dt: 1\nsteps: 1\nparticles:\n  ball: {mass: 1, position: [0, 0, 0]}\n";
  char buf[512];
  snprintf(buf, sizeof buf, "%soverrides:\n  particles.ball.mas: 2\n", two);
  dpError err = parse_bad(buf, NULL, 0,
                          "overrides: unknown parameter path 'particles.ball.mas' (did you mean "
                          "'particles.ball.mass'?)");
  ck_assert_int_eq(err.line, 6);
  ck_assert_int_eq(err.column, 3);
  ck_assert_str_eq(err.key, "overrides.particles.ball.mas");
  snprintf(buf, sizeof buf, "%soverrides:\n  particles.ball.velocity: [1, 2]\n", two);
  parse_bad(buf, NULL, 0, "overrides: 'particles.ball.velocity' takes 3 numbers, not a list of 2");
  snprintf(buf, sizeof buf, "%soverrides:\n  particles.*.mass: -1\n", two);
  err = parse_bad(buf, NULL, 0, "overrides: 'particles.*.mass' must be > 0 (got -1)");
  ck_assert_int_eq(err.column, 21);
  snprintf(buf, sizeof buf, "%soverrides:\n  particles.ball.force: [1, .nan, 0]\n", two);
  parse_bad(buf, NULL, 0, "'particles.ball.force[1]': value must be finite (got .nan)");
  snprintf(buf, sizeof buf, "%soverrides:\n  gravity: {z: 1}\n", two);
  parse_bad(buf, NULL, 0, "overrides: 'gravity' must be a number (got a mapping)");
  snprintf(buf, sizeof buf, "%soverrides:\n  steps: 2\n", two);
  parse_bad(buf, NULL, 0, "unknown parameter path 'steps' (a document value: set it at the top");
  snprintf(buf, sizeof buf, "%soverrides: 3\n", two);
  parse_bad(buf, NULL, 0, "'overrides' must be a mapping of parameter paths to values (got 3)");
}
END_TEST

// ---- articulated bodies -------------------------------------------------------------------------

// Every joint type, every shape type (a capsule by half_length and by fromto), mass properties
// given, from the shapes and scaled to a given mass, both actuator types and the body contact.
static const char *k_bodies =
    "dt: 0.01\n"
    "steps: 3\n"
    "integrator: rk4\n"
    "ground: {}\n"
    "bodies:\n"
    "  base:\n"
    "    joint: fixed\n"
    "    joint_pos: [0, 0, 1]\n"
    "    shapes:\n"
    "      - {type: box, half_extents: [0.1, 0.2, 0.3], density: 500, position: [1, 0, 0]}\n"
    "  cart:\n"
    "    parent: base\n"
    "    joint: prismatic\n"
    "    axis: [2, 0, 0]\n"
    "    mass: 1.5\n"
    "    com: [0, 0, 0.25]\n"
    "    inertia: [0.1, 0.2, 0.3]\n"
    "    armature: 0.05\n"
    "    range: [-1, 1]\n"
    "    limit_stiffness: 100\n"
    "    limit_smoothing: 0.02\n"
    "  arm:\n"
    "    parent: cart\n"
    "    axis: [0, 1, 0]\n"
    "    mass: 2\n"
    "    damping: 0.1\n"
    "    q: 0.3\n"
    "    qd: -0.5\n"
    "    shapes:\n"
    "      - {type: capsule, name: link, radius: 0.05, fromto: [0, 0, 0, 1, 0, 0]}\n"
    "      - {type: capsule, radius: 0.05, half_length: 0.2, position: [0, 0, -1],\n"
    "         quat: [1, 1, 0, 0], contact: false}\n"
    "      - {type: capsule, radius: 0.01, fromto: [0, 0, 1, 0, 0, 0], density: 0}\n"
    "  ball:\n"
    "    parent: arm\n"
    "    joint: ball\n"
    "    joint_pos: [0, 0, -1]\n"
    "    com: [0, 0, -0.5]\n"
    "    q: [1, 0, 0.5, 0]\n"
    "    qd: [0, 1, 0]\n"
    "    damping: [0.1, 0.2, 0.3]\n"
    "    shapes:\n"
    "      - {type: sphere, radius: 0.1, position: [0, 0, -0.2], density: 800}\n"
    "  free:\n"
    "    joint: free\n"
    "    q: [2, 0, 1]\n"
    "    qd: 0.25\n"
    "    mass: 1\n"
    "    inertia: [0.1, 0.2, 0.3, 0.01, 0.02, 0.03]\n"
    "  spin:\n"
    "    joint: free\n"
    "    q: [0, 0, 3, 0, 0, 0, 2]\n"
    "    mass: 1\n"
    "    inertia: [0.1, 0.1, 0.1]\n"
    "actuators:\n"
    "  push: {body: cart, gear: 2, ctrl_range: [-1, 2], ctrl_smoothing: 0.05, controls: 0.5}\n"
    "  servo: {body: arm, type: position, kp: 100, kv: 10, controls: [0, 0.1, 0.2]}\n"
    "contact:\n"
    "  friction: 0.8\n"
    "  damping_mode: approach\n"
    "  damping_smoothing: 0.002\n";

START_TEST(test_bodies) {
  dpModel *m = parse_ok(k_bodies, NULL, 0);
  ck_assert_int_eq(m->nb, 6);
  ck_assert_int_eq(m->nsh, 5);
  ck_assert_int_eq(m->na, 2);
  ck_assert_int_eq(m->nq, 0 + 1 + 1 + 4 + 7 + 7);
  ck_assert_int_eq(m->nv, 0 + 1 + 1 + 3 + 6 + 6);
  const int parent[] = {-1, 0, 1, 2, -1, -1};
  const dpJointType joint[] = {DP_JOINT_FIXED, DP_JOINT_PRISMATIC, DP_JOINT_REVOLUTE,
                               DP_JOINT_BALL,  DP_JOINT_FREE,      DP_JOINT_FREE};
  for (int i = 0; i < 6; i++) {
    ck_assert_int_eq(m->bparent[i], parent[i]);
    ck_assert_int_eq(m->bjoint[i], joint[i]);
    ck_assert_int_eq(m->blimited[i], i == 1);
  }
  // Shape names: given, or the body's for the first shape and <body>_<k> after.
  ck_assert_str_eq(m->shname[0], "base");
  ck_assert_str_eq(m->shname[1], "link");
  ck_assert_str_eq(m->shname[2], "arm_1");
  ck_assert_str_eq(m->shname[3], "arm_2");
  ck_assert_str_eq(m->shname[4], "ball");
  ck_assert_int_eq(m->shtype[0], DP_SHAPE_BOX);
  ck_assert_int_eq(m->shtype[1], DP_SHAPE_CAPSULE);
  ck_assert_int_eq(m->shtype[4], DP_SHAPE_SPHERE);
  ck_assert_int_eq(m->shbody[2], 2);
  ck_assert_int_eq(m->shcontact[1], 1);
  ck_assert_int_eq(m->shcontact[2], 0);

  // Box mass properties from its density: m = ρ 8abc, Ixx = m (b² + c²)/3, com at its centre.
  double mb = 500 * 8 * 0.1 * 0.2 * 0.3;
  NEAR(theta(m, "bodies.base.mass", 0), mb);
  NEAR(theta(m, "bodies.base.com", 0), 1);
  NEAR(theta(m, "bodies.base.inertia", 0), mb * (0.04 + 0.09) / 3);
  NEAR(theta(m, "bodies.base.inertia", 1), mb * (0.01 + 0.09) / 3);
  NEAR(theta(m, "bodies.base.inertia", 2), mb * (0.01 + 0.04) / 3);
  NEAR(theta(m, "bodies.base.inertia", 3), 0);
  NEAR(theta(m, "bodies.base.joint_pos", 2), 1);
  ck_assert_uint_eq(nselect(m, "bodies.base.q"), 0);  // a fixed joint has no coordinates
  NEAR(theta(m, "shapes.base.size", 2), 0.3);
  NEAR(theta(m, "shapes.base.position", 0), 1);

  // Given mass, com and inertia; per-dof values; limits.
  NEAR(theta(m, "bodies.cart.mass", 0), 1.5);
  NEAR(theta(m, "bodies.cart.com", 2), 0.25);
  NEAR(theta(m, "bodies.cart.inertia", 1), 0.2);
  NEAR(theta(m, "bodies.cart.inertia", 5), 0);
  NEAR(theta(m, "bodies.cart.armature", 0), 0.05);
  NEAR(theta(m, "bodies.cart.range", 0), -1);
  NEAR(theta(m, "bodies.cart.range", 1), 1);
  NEAR(theta(m, "bodies.cart.limit_stiffness", 0), 100);
  NEAR(theta(m, "bodies.cart.limit_damping", 0), 1);  // the default
  NEAR(theta(m, "bodies.cart.limit_smoothing", 0), 0.02);
  ck_assert_uint_eq(nselect(m, "bodies.arm.range"), 0);  // no limits

  // A capsule from fromto: the midpoint, half the length, z turned onto x (a quarter turn
  // about y); one pointing down z: a half turn about x.
  NEAR(theta(m, "shapes.link.position", 0), 0.5);
  NEAR(theta(m, "shapes.link.size", 0), 0.05);
  NEAR(theta(m, "shapes.link.size", 1), 0.5);
  ck_assert_uint_eq(nselect(m, "shapes.link.size"), 2);
  NEAR(m->shquat[4 * 1 + 0], sqrt(0.5));
  NEAR(m->shquat[4 * 1 + 1], 0);
  NEAR(m->shquat[4 * 1 + 2], sqrt(0.5));
  NEAR(m->shquat[4 * 1 + 3], 0);
  NEAR(m->shquat[4 * 3 + 0], 0);
  NEAR(m->shquat[4 * 3 + 1], 1);
  NEAR(theta(m, "shapes.arm_2.position", 2), 0.5);
  NEAR(m->shquat[4 * 2 + 0], sqrt(0.5));  // [1, 1, 0, 0] normalized
  NEAR(m->shquat[4 * 2 + 1], sqrt(0.5));

  // Mass given, inertia from the shapes scaled to it (the density-0 capsule adds nothing).
  NEAR(theta(m, "bodies.arm.mass", 0), 2);
  double r = 0.05, h1 = 0.5, h2 = 0.2;
  double mc1 = 1000 * M_PI * r * r * 2 * h1, ms = 1000 * 4.0 / 3.0 * M_PI * r * r * r;
  double mc2 = 1000 * M_PI * r * r * 2 * h2, mt = mc1 + mc2 + 2 * ms;
  NEAR(theta(m, "bodies.arm.com", 0), (mc1 + ms) * 0.5 / mt);
  NEAR(theta(m, "bodies.arm.com", 2), (mc2 + ms) * -1.0 / mt);
  double ix1 = 0.5 * mc1 * r * r + 0.4 * ms * r * r;  // capsule 1 lies along x
  double ix2 = mc2 * (r * r / 4 + h2 * h2 / 3) + ms * (0.4 * r * r + h2 * h2 + 0.75 * h2 * r);
  double cz = (mc2 + ms) * -1.0 / mt;
  double ixx = ix1 + (mc1 + ms) * cz * cz + ix2 + (mc2 + ms) * (1 + cz) * (1 + cz);
  NEAR(theta(m, "bodies.arm.inertia", 0), ixx * 2 / mt);
  NEAR(theta(m, "bodies.arm.damping", 0), 0.1);
  NEAR(theta(m, "bodies.arm.q", 0), 0.3);
  NEAR(theta(m, "bodies.arm.qd", 0), -0.5);

  // Mass from the sphere's density against the closed form; the given com replaces the
  // shapes'; per-dof damping; the ball's quaternion as given (normalized by the initial state).
  double msph = 800 * 4.0 / 3.0 * M_PI * 0.001;
  NEAR(theta(m, "bodies.ball.mass", 0), msph);
  NEAR(theta(m, "bodies.ball.inertia", 0), 0.4 * msph * 0.01);
  NEAR(theta(m, "bodies.ball.inertia", 2), 0.4 * msph * 0.01);
  NEAR(theta(m, "bodies.ball.com", 2), -0.5);
  NEAR(theta(m, "bodies.ball.damping", 1), 0.2);
  NEAR(theta(m, "bodies.ball.damping", 2), 0.3);
  NEAR(theta(m, "bodies.ball.armature", 2), 0);
  NEAR(theta(m, "bodies.ball.q", 2), 0.5);
  NEAR(theta(m, "bodies.ball.qd", 1), 1);

  // Free joints: a position alone (identity orientation), or position and quaternion.
  const double free_q[7] = {2, 0, 1, 1, 0, 0, 0}, spin_q[7] = {0, 0, 3, 0, 0, 0, 2};
  for (size_t k = 0; k < 7; k++) {
    NEAR(theta(m, "bodies.free.q", k), free_q[k]);
    NEAR(theta(m, "bodies.spin.q", k), spin_q[k]);
  }
  for (size_t k = 0; k < 6; k++) {
    NEAR(theta(m, "bodies.free.qd", k), 0.25);
  }
  NEAR(theta(m, "bodies.free.inertia", 5), 0.03);

  // Actuators: controls as one number and as a list; the smooth clamp.
  ck_assert_int_eq(m->atype[0], DP_ACTUATOR_MOTOR);
  ck_assert_int_eq(m->atype[1], DP_ACTUATOR_POSITION);
  ck_assert_int_eq(m->abody[0], 1);
  ck_assert_int_eq(m->abody[1], 2);
  ck_assert_int_eq(m->alimited[0], 1);
  ck_assert_int_eq(m->alimited[1], 0);
  NEAR(m->arange[1], 2);
  NEAR(m->arange[2], 0.05);
  NEAR(theta(m, "actuators.push.gear", 0), 2);
  ck_assert_uint_eq(nselect(m, "actuators.push.kp"), 0);
  NEAR(theta(m, "actuators.servo.kp", 0), 100);
  NEAR(theta(m, "actuators.servo.kv", 0), 10);
  for (size_t t = 0; t < 3; t++) {
    NEAR(theta(m, "actuators.push.controls", t), 0.5);
    NEAR(theta(m, "actuators.servo.controls", t), 0.1 * (double)t);
  }

  // Body contact; the rest keeps the ground's defaults.
  dpColliderDef g = dp_default_collider_def(DP_COLLIDER_GROUND);
  NEAR(theta(m, "contact.friction", 0), 0.8);
  NEAR(theta(m, "contact.damping_smoothing", 0), 0.002);
  NEAR(theta(m, "contact.stiffness", 0), g.stiffness);
  ck_assert(isinf(theta(m, "contact.friction_damping", 0)));
  dp_model_free(m);

  // Defaults: a revolute joint about z to the world, contact: {} as the ground's defaults.
  m = parse_ok("dt: 1\nsteps: 1\nbodies:\n  b: {mass: 1, inertia: [1, 1, 1]}\n", NULL, 0);
  ck_assert_int_eq(m->bjoint[0], DP_JOINT_REVOLUTE);
  ck_assert_int_eq(m->bparent[0], -1);
  ck_assert(isinf(theta(m, "contact.damping_smoothing", 0)));
  NEAR(theta(m, "contact.friction", 0), g.friction);
  NEAR(theta(m, "bodies.b.com", 0), 0);
  dp_model_free(m);
}
END_TEST

START_TEST(test_bodies_set) {
  const char *sets[] = {"bodies.arm.mass=3",        "bodies.cart.damping=0.5",
                        "bodies.arm.shapes.0.radius=0.07", "actuators.push.gear=3",
                        "actuators.servo.controls=[1, 2, 3]", "contact.friction=0.25",
                        "shapes.ball.size=0.2",     "bodies.free.q=[1, 2, 3, 0, 1, 0, 0]",
                        "joint=x"};
  // The last one: a document value that names nothing, to be rejected.
  dpError err = parse_bad(k_bodies, sets, 9, "unknown path 'joint'");
  ck_assert_str_eq(err.file, "--set joint=x");
  dpModel *m = parse_ok(k_bodies, sets, 8);
  NEAR(theta(m, "bodies.arm.mass", 0), 3);
  NEAR(theta(m, "bodies.cart.damping", 0), 0.5);  // inserted into the document
  NEAR(theta(m, "shapes.link.size", 0), 0.07);
  NEAR(theta(m, "actuators.push.gear", 0), 3);
  NEAR(theta(m, "actuators.servo.controls", 2), 3);
  NEAR(theta(m, "contact.friction", 0), 0.25);
  NEAR(theta(m, "shapes.ball.size", 0), 0.2);  // θ only: the mass stays the document's
  NEAR(theta(m, "bodies.ball.mass", 0), 800 * 4.0 / 3.0 * M_PI * 0.001);
  NEAR(theta(m, "bodies.free.q", 4), 1);
  dp_model_free(m);
  // The contact entries exist whenever there are bodies: --set reaches them through θ.
  const char *c[] = {"contact.friction=0.5", "bodies.*.mass=2"};
  m = parse_ok("dt: 1\nsteps: 1\nbodies:\n  a: {mass: 1, inertia: [1, 1, 1]}\n"
               "  b: {mass: 1, inertia: [1, 1, 1]}\n",
               c, 2);
  NEAR(theta(m, "contact.friction", 0), 0.5);
  NEAR(theta(m, "bodies.b.mass", 0), 2);
  dp_model_free(m);

  const char *bad_key[] = {"bodies.arm.mas=2"};
  parse_bad(k_bodies, bad_key, 1,
            "unknown path 'bodies.arm.mas' (did you mean 'bodies.arm.mass'?)");
  const char *bad_shape[] = {"bodies.arm.shapes.1.radus=2"};
  parse_bad(k_bodies, bad_shape, 1, "(did you mean 'bodies.arm.shapes.1.radius'?)");
  const char *bad_size[] = {"shapes.ball.size=0"};
  parse_bad(k_bodies, bad_size, 1, "'size' must be > 0 (got 0)");
  const char *zero_half[] = {"shapes.link.size=[0.1, 0]"};  // a capsule's half-length may be 0
  m = parse_ok(k_bodies, zero_half, 1);
  NEAR(theta(m, "shapes.link.size", 1), 0);
  dp_model_free(m);
  const char *long_list[] = {"bodies.spin.inertia=[1, 1, 1, 0, 0, 0, 0]"};
  parse_bad(k_bodies, long_list, 1, "'inertia' must be [Ixx, Iyy, Izz] or");
  const char *euler[] = {"integrator=explicit_euler"};
  err = parse_bad(k_bodies, euler, 1, "explicit_euler is not available with bodies");
  ck_assert_str_eq(err.file, "--set integrator=explicit_euler");
}
END_TEST

START_TEST(test_bodies_errors) {
  const char *head = "dt: 1\nsteps: 2\nbodies:\n";
  char buf[1024];
  struct {
    const char *body;
    const char *expect;
    int line, column;
    const char *key;
  } cases[] = {
      {"  a: {mass: 1, inertia: [1, 1, 1], parent: a}\n", "a body cannot be its own parent", 4,
       44, "bodies.a.parent"},
      {"  a: {mass: 1, inertia: [1, 1, 1], joint: free, q: [0, 0]}\n",
       "'q' of a free joint must be [x, y, z] or [x, y, z, w, qx, qy, qz] (got 2 numbers)", 4, 52,
       "bodies.a.q"},
      {"  a: {mass: 1, inertia: [1, 1, 1], joint: ball, qd: [0, 0]}\n",
       "'qd' must be a number or a list of 3 numbers (got 2)", 4, 53, "bodies.a.qd"},
      {"  a: {mass: 1, inertia: [1, 1, 1], joint: fixed, q: 1}\n",
       "body 'a': 'q' needs a joint that moves (the joint is fixed)", 4, 53, "bodies.a.q"},
      {"  a: {mass: 1, inertia: [1, 1, 1], range: [1, -1]}\n",
       "'range' must be [lower, upper] with lower < upper (got [1, -1])", 4, 43, "bodies.a.range"},
      {"  a: {mass: 1, inertia: [1, 1, 1], axis: [0, 0, 0]}\n", "'axis' must be a non-zero vector",
       4, 42, "bodies.a.axis"},
      {"  a: {mass: 1}\n", "'mass' without 'inertia' needs shapes to compute the inertia from", 4,
       13, "bodies.a.inertia"},
      {"  a: {mass: 1, inertia: [1, 1, 1], shapes: [{type: cone}]}\n",
       "body 'a', shapes[0]: 'type' must be one of sphere, capsule, box (got 'cone')", 4, 52,
       "bodies.a.shapes.0.type"},
      {"  a:\n    shapes: [{type: sphere, radius: 1, half_extents: [1, 1, 1]}]\n",
       "'half_extents' is only for boxes", 5, 40, "bodies.a.shapes.0.half_extents"},
      {"  a:\n    shapes: [{type: capsule, radius: 1, fromto: [1, 1, 1, 1, 1, 1]}]\n",
       "'fromto' needs two distinct points", 5, 49, "bodies.a.shapes.0.fromto"},
      {"  a:\n    shapes: [{type: sphere, radius: 1}, {type: sphere, radius: 1, name: a}]\n",
       "duplicate shape name 'a'", 5, 73, NULL},
      {"  a:\n    shapes: [{type: sphere, radius: 1, quat: [0, 0, 0, 0]}]\n",
       "'quat' must be a non-zero quaternion [w, x, y, z]", 5, 46, "bodies.a.shapes.0.quat"},
      {"  world: {mass: 1, inertia: [1, 1, 1]}\n", "'world' is not a body name", 4, 3,
       "bodies.world"},
      {"  a: {mass: 1, inertia: [1, 1, 1]}\nactuators:\n  m: {body: a, type: position}\n",
       "actuator 'm': missing required key 'kp'", 6, 6, "actuators.m.kp"},
      {"  a: {mass: 1, inertia: [1, 1, 1]}\nactuators:\n  m: {body: a, ctrl_range: [1, 1]}\n",
       "'ctrl_range' must be [lower, upper] with lower < upper (got [1, 1])", 6, 28,
       "actuators.m.ctrl_range"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(buf, sizeof buf, "%s%s", head, cases[i].body);
    dpError err = parse_bad(buf, NULL, 0, cases[i].expect);
    ck_assert_msg(err.line == cases[i].line && err.column == cases[i].column,
                  "case %zu (%s): at %d:%d, expected %d:%d", i, err.message, err.line, err.column,
                  cases[i].line, cases[i].column);
    if (cases[i].key != NULL) {
      ck_assert_str_eq(err.key, cases[i].key);
    }
  }
  parse_bad("dt: 1\nsteps: 1\ncontact: {friction: 1}\n", NULL, 0,
            "'contact' sets the contact between bodies, and the scene has no bodies");
  parse_bad("dt: 1\nsteps: 1\nbodies: [a]\n", NULL, 0, "'bodies' must be a mapping (got a list)");
}
END_TEST

// ---- allocation failures ------------------------------------------------------------------------

START_TEST(test_alloc_failures) {
  const char *text = "dt: 1\nsteps: 3\nparticles:\n  a: {mass: 1, position: [0, 0, 0]}\n"
                     "springs:\n  s: {a: a, anchor: [0, 0, 1], stiffness: 1}\n"
                     "cloth:\n  c: {n: 2, mass: 1, structural: {stiffness: 1}, pinned: [[0, 0]]}\n"
                     "ground: {}\ncontrols: {values: [0, 0, 1]}\n"
                     "parameters:\n  - {path: particles.a.mass}\n"
                     "overrides: {springs.c_s0.stiffness: 2, 'particles.*.mass': 0.5}\n"
                     "bodies:\n  b: {joint: ball, damping: [1, 2, 3], shapes: [{type: sphere, "
                     "radius: 1}]}\n  c: {parent: b, mass: 1, inertia: [1, 1, 1]}\n"
                     "actuators:\n  u: {body: c, controls: [1, 2, 3]}\ncontact: {friction: 1}\n";
  const char *sets[] = {"particles.a.velocity=[1, 0, 0]", "springs.*.damping=0.5"};
  tu_fail_alloc f = {0, -1, 0};
  dp_set_allocator(tu_failing_alloc, &f);
  dpModel *m = NULL;
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_scene_parse(text, strlen(text), "t.yaml", sets, 2, &m, &err), DP_OK);
  dp_model_free(m);
  long total = f.count;
  ck_assert_int_gt(total, 10);
  for (long k = 0; k < total; k++) {
    f.count = 0;
    f.fail_at = k + 1;
    dp_error_clear(&err);
    m = NULL;
    dpStatus st = dp_scene_parse(text, strlen(text), "t.yaml", sets, 2, &m, &err);
    ck_assert_msg(st == DP_ERR_NOMEM, "allocation %ld of %ld failed: got %s (%s)", k, total,
                  dp_status_string(st), err.message);
    ck_assert_ptr_null(m);
  }
  dp_set_allocator(NULL, NULL);
}
END_TEST

// ---- soft bodies and shells ---------------------------------------------------------------------

static const char *k_soft =
    "dt: 0.01\n"
    "steps: 4\n"
    "integrator: implicit_euler\n"
    "solver: {newton_tol: 1e-8, newton_max_iter: 7, cg_tol: 1e-9, cg_max_iter: 50}\n"
    "softbodies:\n"
    "  cube:\n"
    "    mesh: {box: {size: [0.2, 0.4, 0.6], resolution: [2, 2, 2]}}\n"
    "    position: [1, 2, 3]\n"
    "    velocity: [0.5, 0, 0]\n"
    "    material: corotated\n"
    "    youngs_modulus: 2.0e5\n"
    "    poisson_ratio: 0.45\n"
    "    density: 500\n"
    "    mass_damping: 0.1\n"
    "    stiffness_damping: 0.01\n"
    "    radius: 0.005\n"
    "    pinned: [2, 0]\n"
    "    pin_region: {min: [-10, -10, -10], max: [0.91, 10, 10]}\n"
    "    pin_velocity: [0, 0, 0.25]\n"
    "shells:\n"
    "  sheet:\n"
    "    mesh: {grid: {size: [1.0, 2.0], resolution: [4, 4]}}\n"
    "    position: [0, 0, 1]\n"
    "    density: 0.3\n"
    "    thickness: 0.002\n"
    "    bending_stiffness: 0.01\n"
    "    lift: 0.5\n"
    "    drag: 1.5\n"
    "    air_density: 1.3\n"
    "    wind: [2, 0, 0]\n"
    "    pinned: [24]\n";

// Generated meshes: a box of tetrahedra and a grid of triangles, placed; every constant in θ;
// pins by index and by region; the initial pin controls; the solver settings.
START_TEST(test_soft_generated) {
  dpModel *m = parse_ok(k_soft, NULL, 0);
  ck_assert_int_eq(m->integrator, DP_IMPLICIT_EULER);
  NEAR(m->newton_tol, 1e-8);
  ck_assert_int_eq(m->newton_max_iter, 7);
  NEAR(m->cg_tol, 1e-9);
  ck_assert_int_eq(m->cg_max_iter, 50);
  ck_assert_int_eq(m->nsoft, 2);
  ck_assert_str_eq(m->softname[0], "cube");
  ck_assert_str_eq(m->softname[1], "sheet");
  ck_assert_int_eq(m->soft_shell[0], 0);
  ck_assert_int_eq(m->soft_shell[1], 1);
  ck_assert_int_eq(m->soft_material[0], DP_MATERIAL_COROTATED);
  ck_assert_int_eq(m->nvert, 27 + 25);
  ck_assert_int_eq(m->ntet, 6 * 8);
  ck_assert_int_eq(m->ntri, 2 * 16);
  ck_assert_int_eq(m->nhinge, 3 * 16 - 2 * 4);  // interior edges of a 4 × 4 grid
  ck_assert_int_eq(m->nmat, 2);
  // Vertex (i, j, k) of the box is i + 3 (j + 3 k), at -size/2 + (i, j, k) size/2 + position.
  for (int v = 0; v < 27; v++) {
    int ijk[3] = {v % 3, (v / 3) % 3, v / 9};
    double size[3] = {0.2, 0.4, 0.6}, pos[3] = {1, 2, 3};
    for (int c = 0; c < 3; c++) {
      double want = -size[c] / 2 + ijk[c] * size[c] / 2 + pos[c];
      NEAR(theta(m, "softbodies.cube.rest", 3 * (size_t)v + c), want);
      NEAR(theta(m, "softbodies.cube.position", 3 * (size_t)v + c), want);
    }
  }
  // The sheet: vertex (i, j) = i + 5 j at (-0.5 + i/4, -1 + j/2, 1).
  NEAR(theta(m, "shells.sheet.rest", 3 * 7 + 0), -0.5 + 2 * 0.25);
  NEAR(theta(m, "shells.sheet.rest", 3 * 7 + 1), -1 + 1 * 0.5);
  NEAR(theta(m, "shells.sheet.rest", 3 * 7 + 2), 1);
  // Pins: 0 and 2 by index, the 9 vertices of the face x = 0.9 (i = 0) by the region.
  ck_assert_int_eq(m->soft_npin[0], 10);
  ck_assert_int_eq(m->soft_npin[1], 1);
  ck_assert_int_eq(m->npin, 11);
  int want_pins[] = {0, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27 + 24};
  for (int p = 0; p < 11; p++) {
    ck_assert_int_eq(m->pin[p], want_pins[p]);
    ck_assert_int_eq(m->vpinned[want_pins[p]], 1);
  }
  ck_assert_int_eq(m->vpinned[1], 0);
  // Free vertices start with the velocity, pinned ones at rest.
  NEAR(theta(m, "softbodies.cube.velocity", 3 * 1 + 0), 0.5);
  NEAR(theta(m, "softbodies.cube.velocity", 3 * 0 + 0), 0);
  NEAR(theta(m, "shells.sheet.velocity", 0), 0);
  NEAR(theta(m, "softbodies.cube.youngs_modulus", 0), 2e5);
  NEAR(theta(m, "softbodies.cube.poisson_ratio", 0), 0.45);
  NEAR(theta(m, "softbodies.cube.density", 0), 500);
  NEAR(theta(m, "softbodies.cube.mass_damping", 0), 0.1);
  NEAR(theta(m, "softbodies.cube.stiffness_damping", 0), 0.01);
  NEAR(theta(m, "softbodies.cube.radius", 0), 0.005);
  // Shell defaults and values.
  NEAR(theta(m, "shells.sheet.youngs_modulus", 0), 1e6);
  NEAR(theta(m, "shells.sheet.poisson_ratio", 0), 0.3);
  NEAR(theta(m, "shells.sheet.density", 0), 0.3);
  NEAR(theta(m, "shells.sheet.thickness", 0), 0.002);
  NEAR(theta(m, "shells.sheet.bending_stiffness", 0), 0.01);
  NEAR(theta(m, "shells.sheet.lift", 0), 0.5);
  NEAR(theta(m, "shells.sheet.drag", 0), 1.5);
  NEAR(theta(m, "shells.sheet.air_density", 0), 1.3);
  NEAR(theta(m, "shells.sheet.wind", 0), 2);
  ck_assert_uint_eq(nselect(m, "softbodies.cube.thickness"), 0);
  // pin_controls (steps, pins, 3): the cube's pin_velocity, the sheet's default 0.
  ck_assert_uint_eq(nselect(m, "pin_controls"), 4 * 11 * 3);
  for (size_t t = 0; t < 4; t++) {
    for (size_t p = 0; p < 11; p++) {
      NEAR(theta(m, "pin_controls", (t * 11 + p) * 3 + 2), p < 10 ? 0.25 : 0);
      NEAR(theta(m, "pin_controls", (t * 11 + p) * 3 + 0), 0);
    }
  }
  dp_model_free(m);
  // Defaults of a soft body: neo-Hookean, E 1e5, ν 0.3, 1000 kg/m³, nothing pinned.
  m = parse_ok("dt: 1\nsteps: 1\nsoftbodies:\n  c: {mesh: {box: {size: [1, 1, 1], resolution: "
               "[1, 1, 1]}}}\n",
               NULL, 0);
  ck_assert_int_eq(m->integrator, DP_SEMI_IMPLICIT_EULER);
  ck_assert_int_eq(m->soft_material[0], DP_MATERIAL_NEOHOOKEAN);
  ck_assert_int_eq(m->npin, 0);
  ck_assert_uint_eq(nselect(m, "pin_controls"), 0);
  NEAR(theta(m, "softbodies.c.youngs_modulus", 0), 1e5);
  NEAR(theta(m, "softbodies.c.poisson_ratio", 0), 0.3);
  NEAR(theta(m, "softbodies.c.density", 0), 1000);
  NEAR(theta(m, "softbodies.c.rest", 0), -0.5);
  ck_assert_int_eq(m->newton_max_iter, 20);
  dp_model_free(m);
}
END_TEST

// Meshes from files, relative to the scene file's directory: TetGen .node/.ele (1-based),
// Gmsh 2.2 tetrahedra, a Wavefront OBJ quad (a fan of two triangles, one hinge); scale, then
// position.
START_TEST(test_soft_files) {
  tmpDir d;
  tmpdir_make(&d, "scene-mesh");
  char path[512];
  tmpdir_file(&d, "beam.node", path, sizeof path);
  write_file(path, "# two tetrahedra\n5 3 0 0\n1 0 0 0\n2 1 0 0\n3 0 1 0\n4 0 0 1\n5 1 1 1\n");
  tmpdir_file(&d, "beam.ele", path, sizeof path);
  write_file(path, "2 4 0\n1 1 2 3 4\n2 2 3 4 5\n");
  tmpdir_file(&d, "tet.msh", path, sizeof path);
  write_file(path, "$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n4\n1 0 0 0\n2 1 0 0\n"
                   "3 0 1 0\n4 0 0 1\n$EndNodes\n$Elements\n1\n1 4 2 0 1 1 2 3 4\n$EndElements\n");
  tmpdir_file(&d, "flag.obj", path, sizeof path);
  write_file(path, "# a unit square\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3 4\n");
  tmpdir_file(&d, "scene.yaml", path, sizeof path);
  write_file(path, "dt: 0.01\n"
                   "steps: 2\n"
                   "softbodies:\n"
                   "  beam: {mesh: {file: beam.node}, scale: 2, position: [0, 0, 1]}\n"
                   "  tet: {mesh: {file: tet.msh}, pinned: [3]}\n"
                   "shells:\n"
                   "  flag: {mesh: {file: flag.obj}, pin_region: {min: [-1, -1, -1], "
                   "max: [0, 2, 1]}}\n");
  dpModel *m = load_ok(path, NULL, 0);
  ck_assert_int_eq(m->nsoft, 3);
  ck_assert_int_eq(m->nvert, 5 + 4 + 4);
  ck_assert_int_eq(m->ntet, 3);
  ck_assert_int_eq(m->ntri, 2);
  ck_assert_int_eq(m->nhinge, 1);
  ck_assert_int_eq(m->soft_nv[0], 5);
  // Point 5 (1, 1, 1) scaled by 2, moved up 1.
  NEAR(theta(m, "softbodies.beam.rest", 3 * 4 + 0), 2);
  NEAR(theta(m, "softbodies.beam.rest", 3 * 4 + 1), 2);
  NEAR(theta(m, "softbodies.beam.rest", 3 * 4 + 2), 3);
  // 1-based .ele indices become 0-based, in the model's soft vertex numbering.
  int want_tet[] = {0, 1, 2, 3, 1, 2, 3, 4, 5, 6, 7, 8};
  for (int k = 0; k < 12; k++) {
    ck_assert_int_eq(m->tet[k], want_tet[k]);
  }
  NEAR(theta(m, "softbodies.tet.rest", 3 * 3 + 2), 1);
  int want_tri[] = {9, 10, 11, 9, 11, 12};
  for (int k = 0; k < 6; k++) {
    ck_assert_int_eq(m->tri[k], want_tri[k]);
  }
  // Pins: tet's vertex 3; the flag's x = 0 edge (vertices 0 and 3).
  ck_assert_int_eq(m->npin, 3);
  ck_assert_int_eq(m->pin[0], 5 + 3);
  ck_assert_int_eq(m->pin[1], 9 + 0);
  ck_assert_int_eq(m->pin[2], 9 + 3);
  dp_model_free(m);
  // A shell on a tetrahedral file and a soft body on a surface have the wrong kind of mesh.
  char scene[512];
  tmpdir_file(&d, "wrong.yaml", scene, sizeof scene);
  write_file(scene, "dt: 1\nsteps: 1\nshells:\n  s: {mesh: {file: beam.ele}}\n");
  dpError err = load_bad(scene, DP_ERR_INVALID, "has no triangles (a shell's mesh is a triangle");
  ck_assert_int_eq(err.line, 4);
  ck_assert_int_eq(err.column, 14);
  write_file(scene, "dt: 1\nsteps: 1\nsoftbodies:\n  s: {mesh: {file: flag.obj}}\n");
  load_bad(scene, DP_ERR_INVALID, "has no tetrahedra (a soft body's mesh is a TetGen");
  tmpdir_remove(&d);
}
END_TEST

// per_element: E and ν per tetrahedron, from lists or a number; `overrides:` with a list per
// element, and with one 3-vector per vertex.
START_TEST(test_soft_per_element) {
  const char *text =
      "dt: 1\n"
      "steps: 1\n"
      "softbodies:\n"
      "  c:\n"
      "    mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}\n"
      "    per_element: true\n"
      "    youngs_modulus: [1.0e5, 2.0e5, 3.0e5, 4.0e5, 5.0e5, 6.0e5]\n"
      "    poisson_ratio: 0.25\n"
      "  d: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}, youngs_modulus: 7}\n";
  dpModel *m = parse_ok(text, NULL, 0);
  ck_assert_int_eq(m->nmat, 6 + 1);
  ck_assert_int_eq(m->soft_perelem[0], 1);
  ck_assert_uint_eq(nselect(m, "softbodies.c.youngs_modulus"), 6);
  for (size_t k = 0; k < 6; k++) {
    NEAR(theta(m, "softbodies.c.youngs_modulus", k), 1e5 * (double)(k + 1));
    NEAR(theta(m, "softbodies.c.poisson_ratio", k), 0.25);
  }
  NEAR(theta(m, "softbodies.d.youngs_modulus", 0), 7);
  dp_model_free(m);
  char buf[2048];
  snprintf(buf, sizeof buf,
           "%soverrides:\n  softbodies.c.poisson_ratio: [0.1, 0.2, 0.3, 0.4, 0.45, 0.49]\n"
           "  softbodies.d.velocity: [[0, 0, 1], [0, 0, 2], [0, 0, 3], [0, 0, 4], [0, 0, 5], "
           "[0, 0, 6], [0, 0, 7], [0, 0, 8]]\n"
           "  'softbodies.*.density': 50\n",
           text);
  m = parse_ok(buf, NULL, 0);
  NEAR(theta(m, "softbodies.c.poisson_ratio", 5), 0.49);
  NEAR(theta(m, "softbodies.d.velocity", 3 * 7 + 2), 8);
  NEAR(theta(m, "softbodies.c.density", 0), 50);
  NEAR(theta(m, "softbodies.d.density", 0), 50);
  dp_model_free(m);
  snprintf(buf, sizeof buf, "%soverrides:\n  softbodies.c.poisson_ratio: 0.5\n", text);
  dpError err = parse_bad(buf, NULL, 0, "'softbodies.c.poisson_ratio' must be < 0.5 (got 0.5)");
  ck_assert_int_eq(err.line, 11);
  snprintf(buf, sizeof buf, "%soverrides:\n  softbodies.d.velocity: [[0, 0, 1]]\n", text);
  parse_bad(buf, NULL, 0,
            "'softbodies.d.velocity' must be a list of 8 3-vectors (one per vertex; got 1)");
}
END_TEST

// The explicit per-vertex forms dp-optimize writes: rest (instead of the mesh's placement),
// vertex_position, vertex_velocity; top-level pin_controls; `parameters:` on soft entries.
START_TEST(test_soft_vertex_lists) {
  const char *text =
      "dt: 0.5\n"
      "steps: 2\n"
      "shells:\n"
      "  s:\n"
      "    mesh: {grid: {size: [1, 1], resolution: [1, 1]}}\n"
      "    rest: [[0, 0, 1], [2, 0, 1], [0, 2, 1], [2, 2, 1]]\n"
      "    vertex_position: [[0, 0, 2], [2, 0, 2], [0, 2, 2], [2, 2, 2.5]]\n"
      "    vertex_velocity: [[1, 0, 0], [2, 0, 0], [3, 0, 0], [4, 0, 0]]\n"
      "    pinned: [3, 0]\n"
      "pin_controls: [[[1, 0, 0], [2, 0, 0]], [[3, 0, 0], [4, 0, 0]]]\n"
      "parameters:\n"
      "  - {path: shells.s.youngs_modulus, scale: log, lower: 1}\n"
      "  - {path: pin_controls}\n"
      "  - {path: 'shells.*.rest'}\n";
  dpModel *m = parse_ok(text, NULL, 0);
  NEAR(theta(m, "shells.s.rest", 3 * 3 + 0), 2);
  NEAR(theta(m, "shells.s.rest", 3 * 3 + 2), 1);
  NEAR(theta(m, "shells.s.position", 3 * 3 + 2), 2.5);
  NEAR(theta(m, "shells.s.velocity", 3 * 0 + 0), 1);  // pinned ones included
  NEAR(theta(m, "shells.s.velocity", 3 * 2 + 0), 3);
  ck_assert_int_eq(m->npin, 2);
  ck_assert_int_eq(m->pin[0], 0);
  ck_assert_int_eq(m->pin[1], 3);
  for (size_t k = 0; k < 4; k++) {
    NEAR(theta(m, "pin_controls", 3 * k), (double)(k + 1));
  }
  ck_assert_uint_eq(m->nspec, 3);
  dp_model_free(m);
  // pin_velocity as one 3-vector; pin_controls as one 3-vector replaces it.
  const char *sets[] = {"shells.s.pin_velocity=[0, 1, 0]"};
  char buf[2048];
  snprintf(buf, sizeof buf, "%.*s", (int)(strstr(text, "pin_controls:") - text), text);
  m = parse_ok(buf, sets, 1);
  NEAR(theta(m, "pin_controls", 3 * 3 + 1), 1);
  dp_model_free(m);
  const char *sets2[] = {"pin_controls=[0, 0, -1]"};
  m = parse_ok(buf, sets2, 1);
  NEAR(theta(m, "pin_controls", 3 * 3 + 2), -1);
  dp_model_free(m);
}
END_TEST

// --set on document values (the mesh's resolution, E) and on θ (a pattern after compiling).
START_TEST(test_soft_set) {
  const char *sets[] = {"softbodies.cube.youngs_modulus=2.5e5",
                        "softbodies.cube.mesh.box.resolution=[1, 1, 1]",
                        "shells.sheet.mesh.grid.resolution=[2, 3]", "shells.sheet.pinned=[0]",
                        "softbodies.cube.pin_region.max=[0.95, 10, 10]",
                        "shells.*.thickness=0.003", "softbodies.cube.scale=2"};
  dpModel *m = parse_ok(k_soft, sets, 7);
  ck_assert_int_eq(m->ntet, 6);
  ck_assert_int_eq(m->ntri, 12);
  ck_assert_int_eq(m->nvert, 8 + 12);
  NEAR(theta(m, "softbodies.cube.youngs_modulus", 0), 2.5e5);
  NEAR(theta(m, "shells.sheet.thickness", 0), 0.003);
  NEAR(theta(m, "softbodies.cube.rest", 0), 2 * -0.1 + 1);
  // Pins: 0 and 2 (index 2 is vertex (0, 1, 0) of the 2 × 2 × 2 lattice, x = 0.8 after the
  // scale); the region x <= 0.95 holds the four vertices with i = 0.
  ck_assert_int_eq(m->soft_npin[0], 4);
  dp_model_free(m);
  const char *bad[] = {"softbodies.cube.mesh.box.resolution=[0, 1, 1]"};
  dpError err = parse_bad(k_soft, bad, 1, "'resolution[0]' must be >= 1 (got 0)");
  ck_assert_str_eq(err.file, "--set softbodies.cube.mesh.box.resolution=[0, 1, 1]");
  const char *bad2[] = {"softbodies.cube.youngs_modulos=1"};
  parse_bad(k_soft, bad2, 1, "(did you mean 'softbodies.cube.youngs_modulus'?)");
}
END_TEST

// Write a scene and the mesh files it names into d.
static void write_soft_files(const tmpDir *d) {
  char path[512];
  tmpdir_file(d, "inverted.node", path, sizeof path);
  write_file(path, "5 3 0 0\n0 0 0 0\n1 1 0 0\n2 0 1 0\n3 0 0 1\n4 1 1 1\n");
  tmpdir_file(d, "inverted.ele", path, sizeof path);
  write_file(path, "# the second one is inverted\n2 4 0\n0 0 1 2 3\n1 1 3 2 4\n");
}

// Errors at their file:line:column: the scene's key, with the mesh file's own position.
START_TEST(test_soft_errors) {
  const char *head = "dt: 1\nsteps: 2\nsoftbodies:\n";
  char buf[1024];
  struct {
    const char *body;
    const char *expect;
    int line, column;
    const char *key;
  } cases[] = {
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}, desnity: 2}\n",
       "unknown key 'desnity' in soft body 'c' (did you mean 'density'?)", 4, 62,
       "softbodies.c.desnity"},
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}, material: rubber}\n",
       "soft body 'c': 'material' must be one of linear, corotated, stvk, neohookean (got "
       "'rubber')",
       4, 72, "softbodies.c.material"},
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}, poisson_ratio: 0.5}\n",
       "soft body 'c': 'poisson_ratio' must be < 0.5 (got 0.5)", 4, 77,
       "softbodies.c.poisson_ratio"},
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}, density: -1}\n",
       "soft body 'c': 'density' must be > 0 (got -1)", 4, 71, "softbodies.c.density"},
      {"  c: {youngs_modulus: 1}\n", "soft body 'c': missing required key 'mesh'", 4, 6,
       "softbodies.c.mesh"},
      {"  c:\n    mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}, file: a.node}\n",
       "soft body 'c': give either 'box' or 'file', not both", 5, 59, "softbodies.c.mesh.file"},
      {"  c: {mesh: {}}\n", "'mesh' needs 'box' (a generated box of tetrahedra) or 'file'", 4,
       13, "softbodies.c.mesh.mesh"},
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}, pinned: [8]}\n",
       "soft body 'c': pinned index 8 is out of range (the mesh has 8 vertices: 0..7)", 4, 71,
       "softbodies.c.pinned"},
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}, pinned: [1, 1]}\n",
       "vertex 1 is listed twice in 'pinned'", 4, 74, "softbodies.c.pinned"},
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1]}}}\n",
       "'resolution' must be a list of 3 integers (cells along each axis; got 2 numbers)", 4, 49,
       "softbodies.c.mesh.box.resolution"},
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}, scale: 2, rest: []}\n",
       "give either 'rest' or 'scale' (which places the mesh), not both", 4, 62,
       "softbodies.c.scale"},
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}, rest: [[0, 0, 0]]}\n",
       "'rest' must be a list of 8 3-vectors (one per vertex; got 1)", 4, 68,
       "softbodies.c.rest"},
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}, velocity: [0, 0, 0],\n"
       "      vertex_velocity: []}\n",
       "give either 'velocity' (of every vertex) or 'vertex_velocity' (one per vertex), not both",
       5, 7, "softbodies.c.vertex_velocity"},
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}, pin_velocity: [0, 0, 1]}\n",
       "'pin_velocity' needs pinned vertices ('pinned' or 'pin_region')", 4, 76,
       "softbodies.c.pin_velocity"},
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}, per_element: true,\n"
       "      poisson_ratio: [0.3, 0.3]}\n",
       "'poisson_ratio' must be a number or a list of 6 numbers (one per tetrahedron; got 2)", 5,
       22, "softbodies.c.poisson_ratio"},
      {"  c: {mesh: {grid: {size: [1, 1], resolution: [1, 1]}}}\n",
       "'grid' is the mesh of a shell (a soft body's mesh is a 'box' or a 'file')", 4, 14,
       "softbodies.c.mesh.grid"},
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}, thickness: 1}\n",
       "soft body 'c': 'thickness' is only for shells", 4, 62, "softbodies.c.thickness"},
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}}\nshells:\n"
       "  c: {mesh: {grid: {size: [1, 1], resolution: [1, 1]}}}\n",
       "duplicate name 'c' (also a soft body: soft bodies and shells share names)", 6, 3, NULL},
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}}\nshells:\n"
       "  s: {mesh: {grid: {size: [1, 1], resolution: [1, 1]}}, material: linear}\n",
       "shell 's': 'material' is for soft bodies", 6, 57, "shells.s.material"},
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}}\nintegrator: rk4\n",
       "'integrator': rk4 is not available with soft bodies or shells", 5, 13, "integrator"},
      {"  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}, pinned: [0]}\n"
       "pin_controls: [[[0, 0, 1]]]\n",
       "'pin_controls' must be one 3-vector or a list of 2 rows (one per step)", 5, 15,
       "pin_controls"},
      // The mirrored rest positions invert every tetrahedron: the model's error, at `rest`.
      {"  c:\n    mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 1]}}\n"
       "    rest: [[0, 0, 0], [-1, 0, 0], [0, 1, 0], [-1, 1, 0], [0, 0, 1], [-1, 0, 1], "
       "[0, 1, 1], [-1, 1, 1]]\n",
       "soft body 'c': tetrahedron 0 is inverted", 6, 5, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(buf, sizeof buf, "%s%s", head, cases[i].body);
    dpError err = parse_bad(buf, NULL, 0, cases[i].expect);
    ck_assert_msg(err.line == cases[i].line && err.column == cases[i].column,
                  "case %zu (%s): at %d:%d, expected %d:%d", i, err.message, err.line, err.column,
                  cases[i].line, cases[i].column);
    ck_assert_str_eq(err.file, "test.yaml");
    if (cases[i].key != NULL) {
      ck_assert_str_eq(err.key, cases[i].key);
    }
  }
  parse_bad("dt: 1\nsteps: 1\nsoftbodies: [a]\n", NULL, 0,
            "'softbodies' must be a mapping (got a list)");
  parse_bad("dt: 1\nsteps: 1\nshells:\n  s: {mesh: {grid: {size: [1, 1], resolution: [1, 1]}}, "
            "poisson_ratio: 1}\n",
            NULL, 0, "shell 's': 'poisson_ratio' must be < 1 (got 1)");
  parse_bad("dt: 1\nsteps: 1\nsolver: {cg_max_iter: 0}\n", NULL, 0,
            "solver: 'cg_max_iter' must be >= 1 (got 0)");

  // Mesh files: unreadable (DP_ERR_IO) and inverted, each at the scene's `file` key and with
  // the mesh file's own position.
  tmpDir d;
  tmpdir_make(&d, "scene-bad-mesh");
  write_soft_files(&d);
  char scene[512], ele[512], missing[512], want[1024];
  tmpdir_file(&d, "scene.yaml", scene, sizeof scene);
  tmpdir_file(&d, "inverted.ele", ele, sizeof ele);
  tmpdir_file(&d, "nope.node", missing, sizeof missing);
  write_file(scene, "dt: 1\nsteps: 2\nsoftbodies:\n  jelly:\n    mesh:\n      file: nope.node\n");
  snprintf(want, sizeof want, "soft body 'jelly': mesh: cannot read '%s': No such file", missing);
  dpError err = load_bad(scene, DP_ERR_IO, want);
  ck_assert_str_eq(err.file, scene);
  ck_assert_int_eq(err.line, 6);
  ck_assert_int_eq(err.column, 7);
  ck_assert_str_eq(err.key, "softbodies.jelly.mesh.file");
  write_file(scene, "dt: 1\nsteps: 2\nsoftbodies:\n  jelly: {mesh: {file: inverted.node}}\n");
  snprintf(want, sizeof want,
           "soft body 'jelly': mesh: %s:4: tetrahedron 1 is inverted (signed volume -0.333 m^3)",
           ele);
  err = load_bad(scene, DP_ERR_INVALID, want);
  ck_assert_int_eq(err.line, 4);
  ck_assert_int_eq(err.column, 18);
  // The file named by --set is at the --set.
  write_file(scene, "dt: 1\nsteps: 2\nsoftbodies:\n  jelly: {mesh: {box: {size: [1, 1, 1], "
                    "resolution: [1, 1, 1]}}}\n");
  const char *sets[] = {"softbodies.jelly.mesh={file: inverted.ele}"};
  dpModel *m = NULL;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_scene_load(scene, sets, 1, &m, &err), DP_ERR_INVALID);
  ck_assert_str_eq(err.file, "--set softbodies.jelly.mesh={file: inverted.ele}");
  ck_assert_msg(strstr(err.message, "tetrahedron 1 is inverted") != NULL, "%s", err.message);
  tmpdir_remove(&d);
}
END_TEST

// Every allocation of a scene with soft bodies and shells that fails makes the load fail with
// DP_ERR_NOMEM.
START_TEST(test_soft_alloc_failures) {
  const char *text =
      "dt: 1\nsteps: 3\nintegrator: implicit_euler\n"
      "softbodies:\n"
      "  c: {mesh: {box: {size: [1, 1, 1], resolution: [1, 1, 2]}}, per_element: true,\n"
      "      poisson_ratio: [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2],\n"
      "      pin_region: {min: [-1, -1, -1], max: [0, 1, 1]}, pin_velocity: [0, 0, 1],\n"
      "      vertex_velocity: [[0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1],\n"
      "                        [0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1]]}\n"
      "shells:\n"
      "  s: {mesh: {grid: {size: [1, 1], resolution: [2, 2]}}, pinned: [0],\n"
      "      vertex_position: [[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0], [1, 1, 0], [2, 1, 0],\n"
      "                        [0, 2, 0], [1, 2, 0], [2, 2, 0]]}\n"
      "pin_controls: [0, 1, 0]\n"
      "overrides: {softbodies.c.youngs_modulus: 2}\n";
  const char *sets[] = {"shells.s.wind=[1, 0, 0]"};
  tu_fail_alloc f = {0, -1, 0};
  dp_set_allocator(tu_failing_alloc, &f);
  dpModel *m = NULL;
  dpError err;
  dp_error_clear(&err);
  ck_assert_int_eq(dp_scene_parse(text, strlen(text), "t.yaml", sets, 1, &m, &err), DP_OK);
  dp_model_free(m);
  ck_assert_int_eq(f.live, 0);
  long total = f.count;
  ck_assert_int_gt(total, 20);
  for (long k = 0; k < total; k++) {
    f.count = 0;
    f.fail_at = k + 1;
    dp_error_clear(&err);
    m = NULL;
    dpStatus st = dp_scene_parse(text, strlen(text), "t.yaml", sets, 1, &m, &err);
    ck_assert_msg(st == DP_ERR_NOMEM, "allocation %ld of %ld failed: got %s (%s)", k, total,
                  dp_status_string(st), err.message);
    ck_assert_ptr_null(m);
    ck_assert_msg(f.live == 0, "allocation %ld of %ld failed: %ld blocks leaked", k, total,
                  f.live);
  }
  dp_set_allocator(NULL, NULL);
}
END_TEST

Suite *make_io_scene_suite(void) {
  Suite *s = suite_create("io_scene");
  TCase *tc = tcase_create("scenes");
  tcase_add_test(tc, test_projectile);
  tcase_add_test(tc, test_oscillator);
  tcase_add_test(tc, test_bounce);
  tcase_add_test(tc, test_spring_cage);
  tcase_add_test(tc, test_cloth);
  tcase_add_test(tc, test_all_scenes_load);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_add_test(tc, test_bad_corpus);
  tcase_add_test(tc, test_io_error);
  tcase_add_test(tc, test_error_fields);
  suite_add_tcase(s, tc);
  tc = tcase_create("format");
  tcase_add_test(tc, test_defaults);
  tcase_add_test(tc, test_springs_and_names);
  tcase_add_test(tc, test_cloth_planes);
  tcase_add_test(tc, test_controls);
  tcase_add_test(tc, test_parameters);
  tcase_add_test(tc, test_hash);
  suite_add_tcase(s, tc);
  tc = tcase_create("set");
  tcase_add_test(tc, test_set_structural);
  tcase_add_test(tc, test_set_values);
  tcase_add_test(tc, test_set_wildcard);
  tcase_add_test(tc, test_set_theta);
  tcase_add_test(tc, test_set_errors);
  tcase_add_test(tc, test_overrides_key);
  suite_add_tcase(s, tc);
  tc = tcase_create("bodies");
  tcase_add_test(tc, test_bodies);
  tcase_add_test(tc, test_bodies_set);
  tcase_add_test(tc, test_bodies_errors);
  suite_add_tcase(s, tc);
  tc = tcase_create("soft");
  tcase_add_test(tc, test_soft_generated);
  tcase_add_test(tc, test_soft_files);
  tcase_add_test(tc, test_soft_per_element);
  tcase_add_test(tc, test_soft_vertex_lists);
  tcase_add_test(tc, test_soft_set);
  tcase_add_test(tc, test_soft_errors);
  suite_add_tcase(s, tc);
  tc = tcase_create("alloc");
  tcase_add_test(tc, test_alloc_failures);
  tcase_add_test(tc, test_soft_alloc_failures);
  suite_add_tcase(s, tc);
  return s;
}
