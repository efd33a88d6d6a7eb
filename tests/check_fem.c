// Soft bodies and shells inside the model: whole-rollout gradient checks of every θ entry (both
// explicit integrators and implicit Euler, every constitutive model), implicit differentiation
// against the unrolled Newton solve, the patch test, energy behaviour of the integrators,
// inverted elements, and the cantilever against Euler–Bernoulli.
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "core_text.h"
#include "dp/dp.h"
#include "io_mesh.h"
#include "phys_fem.h"
#include "testutil.h"

// ---- model builders --------------------------------------------------------------------------

static dpModel *new_model(dpIntegrator integ, double dt, int steps, int substeps) {
  dpModel *m = dp_model_new();
  m->integrator = integ;
  m->dt = dt;
  m->steps = steps;
  m->substeps = substeps;
  m->newton_tol = 1e-14;
  m->cg_tol = 1e-14;
  m->newton_max_iter = 50;
  return m;
}

static void finalize(dpModel *m) {
  dpError err = {0};
  dpStatus st = dp_model_finalize(m, &err);
  ck_assert_msg(st == DP_OK, "finalize: %s", err.message);
}

static void add_ground(dpModel *m, double height) {
  dpColliderDef g = dp_default_collider_def(DP_COLLIDER_GROUND);
  g.height = height;
  g.stiffness = 2e3;
  g.damping = 5;
  g.friction = 0.4;
  g.smoothing = 2e-3;
  g.friction_damping = 50;
  dpError err = {0};
  ck_assert_int_ge(dp_model_add_collider(m, "ground", &g, &err), 0);
}

// A box of res cells (size s) placed with its centre at c; a few vertices slightly tilted so the
// elements are not all alike; vertex 0 pinned with a moving control.
static void add_solid(dpModel *m, const char *name, dpMaterial mat, const int res[3],
                      const double size[3], const double c[3], int per_element, int pin) {
  dpMesh mesh = {0};
  dpError err = {0};
  ck_assert_int_eq(dp_mesh_box_tets(size, res, &mesh, &err), DP_OK);
  tu_rng g = {77};
  for (int i = 0; i < mesh.nv; i++) {
    for (int k = 0; k < 3; k++) {
      mesh.X[3 * i + k] += c[k] + tu_uniform(&g, -0.04, 0.04) * size[k] / res[k];
    }
  }
  // Initial positions: the rest shape slightly stretched and sheared (internal stress at t = 0).
  double *x0 = malloc(3 * (size_t)mesh.nv * sizeof *x0);
  for (int i = 0; i < mesh.nv; i++) {
    const double *X = mesh.X + 3 * i;
    x0[3 * i] = X[0] + 0.05 * (X[0] - c[0]) + 0.03 * (X[2] - c[2]);
    x0[3 * i + 1] = X[1] - 0.02 * (X[1] - c[1]);
    x0[3 * i + 2] = X[2] + 0.04 * (X[2] - c[2]);
  }
  dpSoftDef d = dp_default_soft_def(0);
  d.material = mat;
  d.nv = mesh.nv;
  d.rest = mesh.X;
  d.position = x0;
  d.velocity[0] = 0.3;
  d.velocity[2] = -0.5;
  d.nelem = mesh.ntet;
  d.elem = mesh.tet;
  d.youngs_modulus = 2e4;
  d.poisson_ratio = 0.3;
  d.per_element = per_element;
  d.density = 500;
  d.mass_damping = 0.5;
  d.stiffness_damping = 2e-3;
  d.radius = 0.01;
  int pins[1] = {0};
  double *pv = NULL;
  if (pin) {
    d.npin = 1;
    d.pin = pins;
    pv = malloc((size_t)m->steps * 3 * sizeof *pv);
    for (int t = 0; t < m->steps; t++) {
      pv[3 * t] = 0.1 * sin(0.3 * t);
      pv[3 * t + 1] = 0.05;
      pv[3 * t + 2] = -0.02 * t;
    }
    d.pin_velocity = pv;
  }
  ck_assert_msg(dp_model_add_soft(m, name, &d, &err) >= 0, "%s", err.message);
  free(pv);
  free(x0);
  dp_mesh_free(&mesh);
}

static void add_shell(dpModel *m, const char *name, int n, double size, double z, int pin) {
  dpMesh mesh = {0};
  dpError err = {0};
  ck_assert_int_eq(dp_mesh_grid_tris(size, size, n, n, &mesh, &err), DP_OK);
  int *hinge = NULL, nh = 0;
  ck_assert_int_eq(dp_mesh_hinges(&mesh, NULL, &hinge, &nh, &err), DP_OK);
  tu_rng g = {91};
  double *x0 = malloc(3 * (size_t)mesh.nv * sizeof *x0);
  for (int i = 0; i < mesh.nv; i++) {
    mesh.X[3 * i + 2] += z + tu_uniform(&g, -0.02, 0.02) * size / n;
    // Initial shape: stretched in x, wavy in z (membrane and bending forces at t = 0).
    x0[3 * i] = 1.04 * mesh.X[3 * i];
    x0[3 * i + 1] = mesh.X[3 * i + 1];
    x0[3 * i + 2] = mesh.X[3 * i + 2] + 0.05 * size * sin(3 * mesh.X[3 * i] / size);
  }
  dpSoftDef d = dp_default_soft_def(1);
  d.nv = mesh.nv;
  d.rest = mesh.X;
  d.position = x0;
  d.velocity[0] = 0.2;
  d.velocity[2] = 0.4;
  d.nelem = mesh.ntri;
  d.elem = mesh.tri;
  d.nhinge = nh;
  d.hinge = hinge;
  d.youngs_modulus = 2e5;
  d.poisson_ratio = 0.3;
  d.thickness = 1e-3;
  d.density = 0.3;
  d.bending_stiffness = 2e-4;
  d.mass_damping = 0.3;
  d.stiffness_damping = 1e-3;
  d.lift = 0.4;
  d.drag = 1.1;
  d.wind[0] = 1.5;
  d.wind[1] = -0.5;
  d.wind[2] = 0.7;
  d.radius = 0.005;
  int pins[1] = {n};
  double *pv = NULL;
  if (pin) {
    d.npin = 1;
    d.pin = pins;
    pv = malloc((size_t)m->steps * 3 * sizeof *pv);
    for (int t = 0; t < m->steps; t++) {
      pv[3 * t] = 0.2 * cos(0.5 * t);
      pv[3 * t + 1] = -0.1;
      pv[3 * t + 2] = 0.03 * t;
    }
    d.pin_velocity = pv;
  }
  ck_assert_msg(dp_model_add_soft(m, name, &d, &err) >= 0, "%s", err.message);
  free(pv);
  free(x0);
  dp_free(hinge);
  dp_mesh_free(&mesh);
}

// ---- rollouts with a linear loss --------------------------------------------------------------

// Check every component of the entries matching pattern against central differences (at most
// `every`-th component of long entries, to bound the cost). Returns the worst relative error.
static double check_grad(const dpModel *m, const char *pattern, uint64_t seed, double tol,
                         int every) {
  tu_roll r;
  tu_roll_init(&r, m, seed);
  double *th = malloc(m->ntheta * sizeof *th);
  double *g = malloc(m->ntheta * sizeof *g);
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  tu_roll_grad(&r, th, g);
  int checked = 0;
  double worst = 0;
  for (size_t e = 0; e < m->nparam; e++) {
    const dpParam *p = &m->param[e];
    if (!dp_path_match(pattern, p->path)) {
      continue;
    }
    size_t stride = p->len > 12 ? (size_t)every : 1;
    for (size_t c = 0; c < p->len; c += stride) {
      size_t i = p->offset + c;
      double x = th[i];
      if (!isfinite(x)) {
        continue;
      }
      double h = 1e-6 * fmax(fabs(x), 1e-2);
      th[i] = x + h;
      double lp = tu_roll_value(&r, th);
      th[i] = x - h;
      double lm = tu_roll_value(&r, th);
      th[i] = x;
      double fd = (lp - lm) / (2 * h);
      double floor_ = 1e-9 * (1 + fabs(lp)) / h * 1e-3;
      TU_ASSERT_GRAD(p->path, c, g[i], fd, tol, floor_);
      double s = fmax(fabs(g[i]), fabs(fd));
      if (s > 10 * floor_) {
        worst = fmax(worst, fabs(g[i] - fd) / s);
      }
      checked++;
    }
  }
  ck_assert_msg(checked > 0, "no parameter matches %s", pattern);
  free(th);
  free(g);
  tu_roll_free(&r);
  return worst;
}

static const char *material_name(dpMaterial k) {
  static const char *n[] = {"linear", "corotated", "stvk", "neohookean"};
  return n[k];
}

// Every θ entry of a solid (per-element materials, pinned control, ground contact) under each
// constitutive model and integrator.
static void solid_rollout(dpIntegrator integ, dpMaterial mat, int per_element) {
  double dt = integ == DP_IMPLICIT_EULER ? 4e-3 : 1e-3;
  dpModel *m = new_model(integ, dt, 8, integ == DP_IMPLICIT_EULER ? 1 : 2);
  add_ground(m, -0.02);
  int res[3] = {2, 1, 1};
  double size[3] = {0.1, 0.05, 0.05}, c[3] = {0, 0, 0.003};
  add_solid(m, "cube", mat, res, size, c, per_element, 1);
  finalize(m);
  double w = check_grad(m, "softbodies.cube.*", 11, 2e-5, 3);
  double w2 = check_grad(m, "pin_controls", 12, 2e-5, 5);
  double w3 = check_grad(m, "ground.*", 13, 2e-5, 1);
  double w4 = check_grad(m, "gravity", 14, 2e-5, 1);
  fprintf(stderr, "fem rollout %s %s%s: worst rel err %.2e %.2e %.2e %.2e\n",
          integ == DP_IMPLICIT_EULER ? "implicit" : integ == DP_EXPLICIT_EULER ? "explicit"
                                                                               : "semi-implicit",
          material_name(mat), per_element ? " per-element" : "", w, w2, w3, w4);
  dp_model_free(m);
}

START_TEST(test_grad_solid_semi) {
  solid_rollout(DP_SEMI_IMPLICIT_EULER, (dpMaterial)_i, _i == 1);
}
END_TEST

START_TEST(test_grad_solid_implicit) {
  solid_rollout(DP_IMPLICIT_EULER, (dpMaterial)_i, _i == 2);
}
END_TEST

START_TEST(test_grad_solid_explicit) {
  solid_rollout(DP_EXPLICIT_EULER, DP_MATERIAL_NEOHOOKEAN, 0);
}
END_TEST

static void shell_rollout(dpIntegrator integ) {
  double dt = integ == DP_IMPLICIT_EULER ? 4e-3 : 5e-4;
  dpModel *m = new_model(integ, dt, 8, integ == DP_IMPLICIT_EULER ? 1 : 2);
  add_ground(m, -0.01);
  add_shell(m, "sheet", 2, 0.2, 0.002, 1);
  finalize(m);
  double w = check_grad(m, "shells.sheet.*", 21, 2e-5, 2);
  double w2 = check_grad(m, "pin_controls", 22, 2e-5, 5);
  double w3 = check_grad(m, "ground.*", 23, 2e-5, 1);
  fprintf(stderr, "shell rollout %s: worst rel err %.2e %.2e %.2e\n",
          integ == DP_IMPLICIT_EULER ? "implicit" : "semi-implicit", w, w2, w3);
  dp_model_free(m);
}

START_TEST(test_grad_shell_semi) {
  shell_rollout(DP_SEMI_IMPLICIT_EULER);
}
END_TEST

START_TEST(test_grad_shell_implicit) {
  shell_rollout(DP_IMPLICIT_EULER);
}
END_TEST

// ---- implicit differentiation vs the unrolled Newton solve -----------------------------------

// One implicit step of a stiff neo-Hookean solid: the gradient of a linear loss of the new
// state by implicit differentiation, against the derivative (central differences) of the
// unrolled map "k Newton iterations from vₙ" for growing k. The unrolled derivative converges
// to the implicit one as the solve converges.
START_TEST(test_implicit_vs_unrolled) {
  dpModel *m = new_model(DP_IMPLICIT_EULER, 2e-2, 1, 1);
  int res[3] = {2, 1, 1};
  double size[3] = {0.1, 0.05, 0.05}, c[3] = {0, 0, 0.5};
  add_solid(m, "cube", DP_MATERIAL_NEOHOOKEAN, res, size, c, 0, 1);
  finalize(m);
  size_t ns = dp_model_nstate(m);
  tu_roll r;
  tu_roll_init(&r, m, 5);
  memset(r.wM, 0, ns * sizeof *r.wM);
  double *th = malloc(m->ntheta * sizeof *th);
  double *g = malloc(m->ntheta * sizeof *g);
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  dpModel *mm = (dpModel *)m;
  tu_roll_grad(&r, th, g);
  const char *names[] = {"softbodies.cube.youngs_modulus", "softbodies.cube.poisson_ratio",
                         "softbodies.cube.density"};
  for (int q = 0; q < 3; q++) {
    dpSelection sel;
    dpError err = {0};
    ck_assert_int_eq(dp_param_select(m, names[q], &sel, &err), DP_OK);
    size_t i = sel.index[0];
    dp_selection_free(&sel);
    double x = th[i], h = 1e-6 * fabs(x), prev = INFINITY;
    for (int k = 1; k <= 12; k++) {
      mm->newton_max_iter = k;
      mm->newton_tol = 1e-300;  // exactly k iterations (unless Φ stops decreasing)
      th[i] = x + h;
      double lp = tu_roll_value(&r, th);
      th[i] = x - h;
      double lm = tu_roll_value(&r, th);
      th[i] = x;
      double unrolled = (lp - lm) / (2 * h);
      double rel = tu_relerr(unrolled, g[i], 1e-12);
      if (k >= 8) {
        ck_assert_msg(rel < 1e-6, "%s: unrolled (%d Newton iterations) %.12e vs implicit %.12e",
                      names[q], k, unrolled, g[i]);
      }
      if (k == 1) {
        fprintf(stderr, "implicit vs unrolled %s: implicit %.10e\n", names[q], g[i]);
      }
      if (k <= 4 || k == 12) {
        fprintf(stderr, "  k=%2d unrolled %.10e rel %.2e\n", k, unrolled, rel);
      }
      prev = rel;
    }
    ck_assert(prev < 1e-6);
  }
  free(th);
  free(g);
  tu_roll_free(&r);
  dp_model_free(m);
}
END_TEST

// ---- patch test ------------------------------------------------------------------------------

// A uniform deformation x = A X + b of a box mesh: every element has F = A, so the stress is
// uniform, and the internal force on every interior vertex is zero (to rounding).
START_TEST(test_patch) {
  for (int mat = 0; mat < 4; mat++) {
    dpModel *m = new_model(DP_SEMI_IMPLICIT_EULER, 1e-3, 1, 1);
    double g0[3] = {0, 0, 0};
    dp_model_set_gravity(m, g0);
    dpMesh mesh = {0};
    dpError err = {0};
    int res[3] = {3, 3, 3};
    double size[3] = {0.3, 0.3, 0.3};
    ck_assert_int_eq(dp_mesh_box_tets(size, res, &mesh, &err), DP_OK);
    // Perturb interior vertices of the rest mesh (an irregular patch).
    tu_rng rg = {3};
    for (int k = 1; k < 3; k++) {
      for (int j = 1; j < 3; j++) {
        for (int i = 1; i < 3; i++) {
          int v = i + 4 * (j + 4 * k);
          for (int c = 0; c < 3; c++) {
            mesh.X[3 * v + c] += tu_uniform(&rg, -0.02, 0.02);
          }
        }
      }
    }
    dpSoftDef d = dp_default_soft_def(0);
    d.material = (dpMaterial)mat;
    d.nv = mesh.nv;
    d.rest = mesh.X;
    d.nelem = mesh.ntet;
    d.elem = mesh.tet;
    ck_assert_int_ge(dp_model_add_soft(m, "patch", &d, &err), 0);
    finalize(m);
    dpData *data = dp_data_new(m, 1);
    double *th = m->theta0;
    fem_prepare(m, th, data->fem);
    double A[9] = {1.1, 0.2, -0.05, 0.03, 0.9, 0.1, -0.1, 0.05, 1.2};
    size_t nv3 = 3 * (size_t)m->nvert;
    double *x = calloc(nv3, sizeof *x), *v = calloc(nv3, sizeof *v), *f = calloc(nv3, sizeof *f);
    for (int i = 0; i < m->nvert; i++) {
      for (int r2 = 0; r2 < 3; r2++) {
        x[3 * i + r2] = 0.3 * r2;
        for (int c = 0; c < 3; c++) {
          x[3 * i + r2] += A[3 * r2 + c] * th[m->off.soft_rest + 3 * i + c];
        }
      }
    }
    fem_forces(m, th, data->fem, x, v, f);
    double fmax_ = 0;
    for (size_t k = 0; k < nv3; k++) {
      fmax_ = fmax(fmax_, fabs(f[k]));
    }
    ck_assert(fmax_ > 0);
    for (int k = 1; k < 3; k++) {
      for (int j = 1; j < 3; j++) {
        for (int i = 1; i < 3; i++) {
          int vi = i + 4 * (j + 4 * k);
          for (int c = 0; c < 3; c++) {
            ck_assert_msg(fabs(f[3 * vi + c]) <= 1e-11 * fmax_,
                          "%s: interior vertex %d force %g (boundary max %g)",
                          material_name((dpMaterial)mat), vi, f[3 * vi + c], fmax_);
          }
        }
      }
    }
    free(x);
    free(v);
    free(f);
    dp_data_free(data);
    dp_mesh_free(&mesh);
    dp_model_free(m);
  }
}
END_TEST

// ---- energy behaviour ------------------------------------------------------------------------

static double total_energy(const dpModel *m, const double *th, dpData *d, const double *s) {
  size_t off = dp_model_soft_offset(m), nv3 = 3 * (size_t)m->nvert;
  const double *mass = fem_masses(m, d->fem);
  double E = fem_energy(m, th, d->fem, s + off);
  for (size_t k = 0; k < nv3; k++) {
    E += 0.5 * mass[k / 3] * s[off + nv3 + k] * s[off + nv3 + k];
  }
  return E;
}

// Free oscillation of a stretched cube without damping, gravity or contact: semi-implicit Euler
// keeps the energy within a band (symplectic), implicit Euler dissipates it at every step.
static void energy_run(dpIntegrator integ, double *drift, int *monotone) {
  dpModel *m = new_model(integ, integ == DP_IMPLICIT_EULER ? 2e-3 : 2e-4,
                         integ == DP_IMPLICIT_EULER ? 200 : 2000, 1);
  m->newton_tol = 1e-12;
  double g0[3] = {0, 0, 0};
  dp_model_set_gravity(m, g0);
  int res[3] = {2, 2, 2};
  double size[3] = {0.1, 0.1, 0.1}, c[3] = {0, 0, 0};
  add_solid(m, "cube", DP_MATERIAL_NEOHOOKEAN, res, size, c, 0, 0);
  finalize(m);
  double *th = malloc(m->ntheta * sizeof *th);
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  th[m->off.soft_alpha] = 0;
  th[m->off.soft_beta] = 0;
  size_t ns = dp_model_nstate(m);
  double *s = calloc(ns, sizeof *s), *s2 = calloc(ns, sizeof *s2);
  dpData *d = dp_data_new(m, 1);
  dp_initial_state(m, th, s);
  fem_prepare(m, th, d->fem);
  double E0 = total_energy(m, th, d, s), Emin = E0, Emax = E0, prev = E0;
  *monotone = 1;
  for (int t = 0; t < m->steps; t++) {
    dp_step(m, th, d, t, s, s2);
    memcpy(s, s2, ns * sizeof *s);
    double E = total_energy(m, th, d, s);
    if (E > prev * (1 + 1e-12)) {
      *monotone = 0;
    }
    prev = E;
    Emin = fmin(Emin, E);
    Emax = fmax(Emax, E);
  }
  *drift = (Emax - Emin) / E0;
  if (integ == DP_IMPLICIT_EULER) {
    *drift = (E0 - prev) / E0;  // fraction dissipated
  }
  fprintf(stderr, "energy %s: E0 %.6e, final %.6e, band/dissipated %.3e, monotone %d\n",
          integ == DP_IMPLICIT_EULER ? "implicit" : "semi-implicit", E0, prev, *drift,
          *monotone);
  free(th);
  free(s);
  free(s2);
  dp_data_free(d);
  dp_model_free(m);
}

START_TEST(test_energy_semi_implicit_bounded) {
  double band;
  int mono;
  energy_run(DP_SEMI_IMPLICIT_EULER, &band, &mono);
  ck_assert_msg(band < 0.05, "semi-implicit Euler energy band %.3e of E0", band);
  ck_assert_msg(!mono, "semi-implicit Euler should exchange energy, not only lose it");
}
END_TEST

START_TEST(test_energy_implicit_dissipates) {
  double lost;
  int mono;
  energy_run(DP_IMPLICIT_EULER, &lost, &mono);
  ck_assert_msg(mono, "implicit Euler energy increased at some step");
  ck_assert_msg(lost > 0.01, "implicit Euler dissipated only %.3e of the energy", lost);
}
END_TEST

// ---- inverted elements -----------------------------------------------------------------------

// A neo-Hookean cube whose initial positions invert elements (one corner pushed through the
// body): no NaN, and the body recovers its orientation.
START_TEST(test_inverted_recovers) {
  for (int integ = 0; integ < 2; integ++) {
    dpIntegrator k = integ ? DP_IMPLICIT_EULER : DP_SEMI_IMPLICIT_EULER;
    dpModel *m = new_model(k, integ ? 2e-3 : 2e-4, integ ? 300 : 3000, 1);
    double g0[3] = {0, 0, 0};
    dp_model_set_gravity(m, g0);
    dpMesh mesh = {0};
    dpError err = {0};
    int res[3] = {1, 1, 1};
    double size[3] = {0.1, 0.1, 0.1};
    ck_assert_int_eq(dp_mesh_box_tets(size, res, &mesh, &err), DP_OK);
    double *x0 = malloc(3 * (size_t)mesh.nv * sizeof *x0);
    memcpy(x0, mesh.X, 3 * (size_t)mesh.nv * sizeof *x0);
    // Vertex 7 = (+,+,+) corner pushed through to (−0.07, −0.07, −0.07).
    x0[21] = x0[22] = x0[23] = -0.07;
    dpSoftDef d = dp_default_soft_def(0);
    d.nv = mesh.nv;
    d.rest = mesh.X;
    d.position = x0;
    d.nelem = mesh.ntet;
    d.elem = mesh.tet;
    d.stiffness_damping = 2e-3;
    ck_assert_int_ge(dp_model_add_soft(m, "cube", &d, &err), 0);
    finalize(m);
    size_t ns = dp_model_nstate(m);
    double *s = calloc(ns, sizeof *s), *s2 = calloc(ns, sizeof *s2);
    dpData *data = dp_data_new(m, 1);
    dp_initial_state(m, m->theta0, s);
    for (int t = 0; t < m->steps; t++) {
      dp_step(m, m->theta0, data, t, s, s2);
      ck_assert_int_eq(dp_state_check(m, t + 1, s2, &err), DP_OK);
      memcpy(s, s2, ns * sizeof *s);
    }
    size_t off = dp_model_soft_offset(m);
    int inverted = 0;
    for (int e = 0; e < m->ntet; e++) {
      const int *id = m->tet + 4 * e;
      double u[3], v[3], w[3];
      for (int c = 0; c < 3; c++) {
        u[c] = s[off + 3 * id[1] + c] - s[off + 3 * id[0] + c];
        v[c] = s[off + 3 * id[2] + c] - s[off + 3 * id[0] + c];
        w[c] = s[off + 3 * id[3] + c] - s[off + 3 * id[0] + c];
      }
      double det = u[0] * (v[1] * w[2] - v[2] * w[1]) - u[1] * (v[0] * w[2] - v[2] * w[0]) +
                   u[2] * (v[0] * w[1] - v[1] * w[0]);
      inverted += det <= 0;
    }
    ck_assert_msg(inverted == 0, "%d tetrahedra still inverted after %d steps", inverted,
                  m->steps);
    free(s);
    free(s2);
    free(x0);
    dp_data_free(data);
    dp_mesh_free(&mesh);
    dp_model_free(m);
  }
}
END_TEST

// ---- cantilever ------------------------------------------------------------------------------

// A 1 m × 0.1 m × 0.1 m steel-like beam (linear model, ν = 0, E = 1.5e8 Pa, ρ = 1000 kg/m³)
// clamped at x = −L/2, under its own weight. One implicit Euler step of 100 s is the static
// solve (the inertia term M/h² vanishes; the linear model makes it one Newton step). The mean
// tip deflection on an 80 × 8 × 8 lattice (30 720 tetrahedra) is compared with Euler–Bernoulli
// q L⁴ / (8 E I), q = ρ g A, I = H⁴/12: 9.81 mm. Linear tetrahedra are too stiff in bending
// (shear locking) on coarse meshes: 10×1×1 gives 25 %, 20×2×2 55 %, 40×4×4 83 %, 80×8×8 95.6 %
// of the beam value; shear deformation (Timoshenko) adds 0.8 % at L/H = 10.
START_TEST(test_cantilever) {
  double L = 1.0, H = 0.1, E = 1.5e8, rho = 1000, g = 9.81;
  dpModel *m = new_model(DP_IMPLICIT_EULER, 100.0, 1, 1);
  m->newton_tol = 1e-8;
  m->cg_tol = 1e-10;
  m->cg_max_iter = 20000;
  dpMesh mesh = {0};
  dpError err = {0};
  double size[3] = {L, H, H};
  int res[3] = {80, 8, 8};
  ck_assert_int_eq(dp_mesh_box_tets(size, res, &mesh, &err), DP_OK);
  int *pin = malloc((size_t)mesh.nv * sizeof *pin), np = 0;
  for (int i = 0; i < mesh.nv; i++) {
    if (mesh.X[3 * i] < -L / 2 + 1e-9) {
      pin[np++] = i;
    }
  }
  dpSoftDef d = dp_default_soft_def(0);
  d.material = DP_MATERIAL_LINEAR;
  d.nv = mesh.nv;
  d.rest = mesh.X;
  d.nelem = mesh.ntet;
  d.elem = mesh.tet;
  d.youngs_modulus = E;
  d.poisson_ratio = 0.0;
  d.density = rho;
  d.npin = np;
  d.pin = pin;
  ck_assert_int_ge(dp_model_add_soft(m, "beam", &d, &err), 0);
  finalize(m);
  size_t ns = dp_model_nstate(m);
  double *s = calloc(ns, sizeof *s), *s2 = calloc(ns, sizeof *s2);
  dpData *data = dp_data_new(m, 1);
  dp_initial_state(m, m->theta0, s);
  dp_step(m, m->theta0, data, 0, s, s2);
  size_t off = dp_model_soft_offset(m);
  double tip = 0;
  int nt = 0;
  for (int i = 0; i < mesh.nv; i++) {
    if (mesh.X[3 * i] > L / 2 - 1e-9) {
      tip -= s2[off + 3 * i + 2] - mesh.X[3 * i + 2];
      nt++;
    }
  }
  tip /= nt;
  double I = H * H * H * H / 12, q = rho * g * H * H;
  double eb = q * L * L * L * L / (8 * E * I);
  fprintf(stderr, "cantilever: %d tets, tip deflection %.5e m, Euler-Bernoulli %.5e m (%.2f %%), "
          "Newton %ld, CG %ld\n", m->ntet, tip, eb, 100 * (tip - eb) / eb, data->newton_iters,
          data->cg_iters);
  ck_assert_msg(fabs(tip - eb) <= 0.05 * eb, "tip %.5e vs Euler-Bernoulli %.5e", tip, eb);
  ck_assert_int_eq(data->unconverged, 0);
  free(s);
  free(s2);
  free(pin);
  dp_data_free(data);
  dp_mesh_free(&mesh);
  dp_model_free(m);
}
END_TEST

Suite *make_fem_suite(void) {
  Suite *s = suite_create("fem");
  TCase *tc = tcase_create("fem");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_patch);
  tcase_add_loop_test(tc, test_grad_solid_semi, 0, 4);
  tcase_add_loop_test(tc, test_grad_solid_implicit, 0, 4);
  tcase_add_test(tc, test_grad_solid_explicit);
  tcase_add_test(tc, test_grad_shell_semi);
  tcase_add_test(tc, test_grad_shell_implicit);
  tcase_add_test(tc, test_implicit_vs_unrolled);
  tcase_add_test(tc, test_energy_semi_implicit_bounded);
  tcase_add_test(tc, test_energy_implicit_dissipates);
  tcase_add_test(tc, test_inverted_recovers);
  suite_add_tcase(s, tc);
  TCase *slow = tcase_create("fem_slow");
  tcase_set_tags(slow, "slow");
  tcase_set_timeout(slow, 600);
  tcase_add_test(slow, test_cantilever);
  suite_add_tcase(s, slow);
  return s;
}
