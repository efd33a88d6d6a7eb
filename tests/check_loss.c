// Tests of the loss module: exact values of every term on hand-computed states, adjoints against
// central differences (every state and θ component; quaternions along tangent directions),
// accumulation, the step index, observed trajectories (name mapping, frame selection; bodies,
// soft bodies and shells from a file written by dp_traj_frame), the centroid of a soft body,
// the bad-loss corpus and allocation failures.
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "dp/dp.h"
#include "testutil.h"

#define T_STEPS 10
#define T_DT 0.01

// ------------------------------------------------------------------------------------------
// Fixtures.

// Five particles: ball (1 kg), bob (3 kg), sheet_0_0 (2 kg), sheet_0_1 (2 kg), sheet_1_0 (4 kg);
// springs "spring" (ball–bob) and "anchor" (bob to a fixed point); controls on ball and
// sheet_0_1; T = 10 steps of 0.01 s.
static dpModel *test_model(void) {
  static const char *const names[] = {"ball", "bob", "sheet_0_0", "sheet_0_1", "sheet_1_0"};
  static const double mass[] = {1.0, 3.0, 2.0, 2.0, 4.0};
  dpError err;
  dp_error_clear(&err);
  dpModel *m = dp_model_new();
  ck_assert_ptr_nonnull(m);
  m->dt = T_DT;
  m->steps = T_STEPS;
  for (int i = 0; i < 5; i++) {
    dpParticleDef d = dp_default_particle_def();
    d.mass = mass[i];
    d.position[0] = i;
    d.position[2] = 1.0;
    ck_assert_int_eq(dp_model_add_particle(m, names[i], &d, &err), i);
  }
  dpSpringDef s = dp_default_spring_def();
  s.a = 0;
  s.b = 1;
  s.stiffness = 40.0;
  ck_assert_int_eq(dp_model_add_spring(m, "spring", &s, &err), 0);
  s.a = 1;
  s.b = -1;
  s.stiffness = 10.0;
  ck_assert_int_eq(dp_model_add_spring(m, "anchor", &s, &err), 1);
  int up[2] = {0, 3};
  ck_assert_int_eq(dp_model_set_controls(m, 2, up, NULL, &err), DP_OK);
  ck_assert_msg(dp_model_finalize(m, &err) == DP_OK, "finalize: %s", err.message);
  return m;
}

static dpLoss *parse_ok(const dpModel *m, const char *json) {
  dpError err;
  dp_error_clear(&err);
  dpLoss *loss = NULL;
  dpStatus st = dp_loss_parse(json, "test.json", m, &loss, &err);
  ck_assert_msg(st == DP_OK, "parse failed: %d:%d: %s\n%s", err.line, err.column, err.message,
                json);
  ck_assert_ptr_nonnull(loss);
  return loss;
}

// Parse that must fail with DP_ERR_INVALID, a message containing want, at line:col (0: any).
static void parse_bad(const dpModel *m, const char *json, const char *want, int line, int col) {
  dpError err;
  dp_error_clear(&err);
  dpLoss *loss = NULL;
  dpStatus st = dp_loss_parse(json, "test.json", m, &loss, &err);
  ck_assert_msg(st == DP_ERR_INVALID, "expected an error for %s (got %d)", json, (int)st);
  ck_assert_ptr_null(loss);
  ck_assert_msg(strstr(err.message, want) != NULL, "message '%s' lacks '%s'", err.message, want);
  ck_assert_str_eq(err.file, "test.json");
  if (line > 0) {
    ck_assert_msg(err.line == line && err.column == col, "'%s' at %d:%d, expected %d:%d",
                  err.message, err.line, err.column, line, col);
  }
}

static double *theta_copy(const dpModel *m) {
  double *th = malloc(m->ntheta * sizeof *th);
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  return th;
}

// θ with every component random, masses positive.
static double *theta_random(const dpModel *m, tu_rng *r) {
  double *th = malloc(m->ntheta * sizeof *th);
  for (size_t k = 0; k < m->ntheta; k++) {
    th[k] = tu_uniform(r, -2.0, 2.0);
  }
  for (int i = 0; i < m->np; i++) {
    th[m->off.mass + (size_t)i] = tu_uniform(r, 0.5, 2.0);
  }
  return th;
}

static double eval_step(const dpLoss *loss, const dpModel *m, const double *th, int t,
                        const double *s) {
  double L = 0.0;
  dp_loss_step(loss, m, th, t, s, &L);
  return L;
}

static double eval_params(const dpLoss *loss, const dpModel *m, const double *th) {
  double L = 0.0;
  dp_loss_params(loss, m, th, &L);
  return L;
}

static double g_max_err;  // largest relative error seen by the gradient checks

// Central difference of f along component k of v (h relative to |v_k|), scaled by L_bar.
#define FD(expr, v, k, L_bar, out)                         \
  do {                                                     \
    double v0_ = (v)[k], h_ = 1e-6 * fmax(1.0, fabs(v0_)); \
    (v)[k] = v0_ + h_;                                     \
    double lp_ = (expr);                                   \
    (v)[k] = v0_ - h_;                                     \
    double lm_ = (expr);                                   \
    (v)[k] = v0_;                                          \
    (out) = (L_bar) * (lp_ - lm_) / (2.0 * h_);            \
  } while (0)

static void note_err(double an, double fd) {
  double e = tu_relerr(an, fd, 1e-8);
  g_max_err = e > g_max_err ? e : g_max_err;
}

// adj_dp_loss_step at step t against central differences, for every component of a random
// state and of a random θ. Returns the sum of |adjoint| so a caller can check it is not zero.
static double grad_check_step(const dpLoss *loss, const dpModel *m, int t, uint64_t seed,
                              const char *what) {
  tu_rng r = {seed};
  size_t ns = dp_model_nstate(m), nt = m->ntheta;
  double *s = malloc(ns * sizeof *s), *th = theta_random(m, &r);
  double *s_bar = calloc(ns, sizeof *s_bar), *th_bar = calloc(nt, sizeof *th_bar);
  for (size_t i = 0; i < ns; i++) {
    s[i] = tu_uniform(&r, -2.0, 2.0);
  }
  double L_bar = tu_uniform(&r, 0.5, 1.5), mag = 0.0, fd;
  adj_dp_loss_step(loss, m, th, t, s, th_bar, s_bar, L_bar);
  for (size_t i = 0; i < ns; i++) {
    FD(eval_step(loss, m, th, t, s), s, i, L_bar, fd);
    TU_ASSERT_GRAD(what, i, s_bar[i], fd, 1e-6, 1e-8);
    note_err(s_bar[i], fd);
    mag += fabs(s_bar[i]);
  }
  for (size_t k = 0; k < nt; k++) {
    FD(eval_step(loss, m, th, t, s), th, k, L_bar, fd);
    TU_ASSERT_GRAD(what, k, th_bar[k], fd, 1e-6, 1e-8);
    note_err(th_bar[k], fd);
    mag += fabs(th_bar[k]);
  }
  free(s);
  free(th);
  free(s_bar);
  free(th_bar);
  return mag;
}

// adj_dp_loss_params against central differences over every θ component.
static double grad_check_params(const dpLoss *loss, const dpModel *m, uint64_t seed,
                                const char *what) {
  tu_rng r = {seed};
  size_t nt = m->ntheta;
  double *th = theta_random(m, &r), *th_bar = calloc(nt, sizeof *th_bar);
  double L_bar = tu_uniform(&r, 0.5, 1.5), mag = 0.0, fd;
  adj_dp_loss_params(loss, m, th, th_bar, L_bar);
  for (size_t k = 0; k < nt; k++) {
    FD(eval_params(loss, m, th), th, k, L_bar, fd);
    TU_ASSERT_GRAD(what, k, th_bar[k], fd, 1e-6, 1e-8);
    note_err(th_bar[k], fd);
    mag += fabs(th_bar[k]);
  }
  free(th);
  free(th_bar);
  return mag;
}

// A state with x_i = (i, 0, 1) and v = 0, then the caller sets what it needs.
static double *state_zero(const dpModel *m) {
  double *s = calloc(dp_model_nstate(m), sizeof *s);
  for (int i = 0; i < m->np; i++) {
    s[3 * i] = i;
    s[3 * i + 2] = 1.0;
  }
  return s;
}

static void set3(double *p, double a, double b, double c) {
  p[0] = a;
  p[1] = b;
  p[2] = c;
}

// ------------------------------------------------------------------------------------------
// Exact values.

START_TEST(test_position_value) {
  dpModel *m = test_model();
  dpLoss *loss = parse_ok(m, "{\"terms\": [{\"type\": \"position\", \"particle\": \"ball\", "
                             "\"target\": [0, 0, 1], \"weight\": 2}]}");
  double *s = state_zero(m), *th = theta_copy(m);
  set3(s, 1, 2, 3);
  // 2 · (1 + 4 + 4) = 18 at the end; nothing at other steps.
  ck_assert_double_eq(eval_step(loss, m, th, T_STEPS, s), 18.0);
  ck_assert_double_eq(eval_step(loss, m, th, T_STEPS - 1, s), 0.0);
  double L = 1.25;
  dp_loss_step(loss, m, th, T_STEPS, s, &L);
  ck_assert_double_eq(L, 19.25);  // adds to *L
  ck_assert_double_eq(eval_params(loss, m, th), 0.0);
  ck_assert_int_eq(dp_loss_nterms(loss), 1);
  ck_assert_str_eq(dp_loss_term_kind(loss, 0), "position");
  ck_assert_ptr_null(dp_loss_term_kind(loss, 1));
  dp_loss_free(loss);

  // Only x and z count: 2 · (1 + 4) = 10.
  loss = parse_ok(m, "{\"terms\": [{\"type\": \"position\", \"particle\": \"ball\", \"step\": 3, "
                     "\"target\": [0, 0, 1], \"weight\": 2, \"components\": [2, 0]}]}");
  ck_assert_double_eq(eval_step(loss, m, th, 3, s), 10.0);
  dp_loss_free(loss);
  free(s);
  free(th);
  dp_model_free(m);
}
END_TEST

START_TEST(test_centre_of_mass_value) {
  dpModel *m = test_model();
  double *s = state_zero(m), *th = theta_copy(m);
  // ball (1 kg) at 0, bob (3 kg) at (4, 0, 0): centre of mass (3, 0, 0); target (1, 0, 0) → 4.
  set3(s, 0, 0, 0);
  set3(s + 3, 4, 0, 0);
  dpLoss *loss = parse_ok(m, "{\"terms\": [{\"type\": \"position\", \"particles\": "
                             "[\"ball\", \"bob\"], \"target\": [1, 0, 0]}]}");
  ck_assert_double_eq(eval_step(loss, m, th, T_STEPS, s), 4.0);
  dp_loss_free(loss);
  // sheet_* : 2 kg at (0,0,0), 2 kg at (1,0,0), 4 kg at (0,1,0) → (0.25, 0.5, 0); target z 1.
  set3(s + 6, 0, 0, 0);
  set3(s + 9, 1, 0, 0);
  set3(s + 12, 0, 1, 0);
  loss = parse_ok(m, "{\"terms\": [{\"type\": \"position\", \"particles\": \"sheet_*\", "
                     "\"step\": -1, \"target\": [0.25, 0.5, 1]}]}");
  ck_assert_double_eq(eval_step(loss, m, th, T_STEPS, s), 1.0);
  dp_loss_free(loss);
  // Mean velocity of ball and bob: (1·(1,0,0) + 3·(1,0,2)) / 4 = (1, 0, 1.5); target 0.
  double *v = s + 3 * m->np;
  set3(v, 1, 0, 0);
  set3(v + 3, 1, 0, 2);
  loss = parse_ok(m, "{\"terms\": [{\"type\": \"velocity\", \"particles\": [\"ball\", \"bob\"], "
                     "\"step\": 0, \"target\": [0, 0, 0], \"weight\": 4}]}");
  ck_assert_double_eq(eval_step(loss, m, th, 0, s), 4.0 * (1.0 + 2.25));
  dp_loss_free(loss);
  free(s);
  free(th);
  dp_model_free(m);
}
END_TEST

START_TEST(test_velocity_kinetic_value) {
  dpModel *m = test_model();
  double *s = state_zero(m), *th = theta_copy(m);
  double *v = s + 3 * m->np;
  set3(v, 1, 1, 1);
  set3(v + 3, 1, 2, 2);
  dpLoss *loss = parse_ok(m, "{\"terms\": [{\"type\": \"velocity\", \"particle\": \"ball\", "
                             "\"step\": 4, \"target\": [0, 0, 0], \"weight\": 0.5}]}");
  ck_assert_double_eq(eval_step(loss, m, th, 4, s), 1.5);
  dp_loss_free(loss);
  // ½ · 1 · 3 + ½ · 3 · 9 = 15 J, weight 2 → 30.
  loss = parse_ok(m, "{\"terms\": [{\"type\": \"kinetic_energy\", \"weight\": 2}]}");
  ck_assert_double_eq(eval_step(loss, m, th, T_STEPS, s), 30.0);
  dp_loss_free(loss);
  loss = parse_ok(m, "{\"terms\": [{\"type\": \"kinetic_energy\", \"particles\": [\"bob\"], "
                     "\"step\": 2}]}");
  ck_assert_double_eq(eval_step(loss, m, th, 2, s), 13.5);
  dp_loss_free(loss);
  free(s);
  free(th);
  dp_model_free(m);
}
END_TEST

START_TEST(test_params_value) {
  dpModel *m = test_model();
  double *th = theta_copy(m);
  size_t nu = (size_t)m->steps * (size_t)m->nu * 3;
  for (size_t k = 0; k < nu; k++) {
    th[m->off.controls + k] = k % 2 == 0 ? 1.0 : -2.0;  // 30 ones and 30 minus twos
  }
  dpLoss *loss = parse_ok(m, "{\"terms\": [{\"type\": \"control_effort\", \"weight\": 0.5}]}");
  ck_assert_double_eq(eval_params(loss, m, th), 0.5 * (30.0 * 1.0 + 30.0 * 4.0));
  ck_assert_int_eq(dp_loss_needs_step(loss, T_STEPS), 0);
  dp_loss_free(loss);
  // springs.*.stiffness = (40, 10) with values (41, 7): 2 · (1 + 9) = 20; mass of ball 1 → 1.5.
  loss = parse_ok(m, "{\"terms\": [{\"type\": \"prior\", \"path\": \"springs.*.stiffness\", "
                     "\"value\": [41, 7], \"weight\": 2}, {\"type\": \"prior\", \"path\": "
                     "\"particles.ball.mass\", \"value\": 1.5, \"weight\": 4}]}");
  ck_assert_double_eq(eval_params(loss, m, th), 20.0 + 4.0 * 0.25);
  ck_assert_str_eq(dp_loss_term_kind(loss, 1), "prior");
  dp_loss_free(loss);
  loss = parse_ok(m, "{\"terms\": [{\"type\": \"prior\", \"path\": \"springs.*.stiffness\", "
                     "\"value\": 40}]}");
  ck_assert_double_eq(eval_params(loss, m, th), 900.0);
  dp_loss_free(loss);
  free(th);
  dp_model_free(m);
}
END_TEST

// A model without controls: control_effort is allowed and is zero.
START_TEST(test_effort_without_controls) {
  dpError err;
  dp_error_clear(&err);
  dpModel *m = dp_model_new();
  dpParticleDef d = dp_default_particle_def();
  ck_assert_int_eq(dp_model_add_particle(m, "ball", &d, &err), 0);
  ck_assert_int_eq(dp_model_finalize(m, &err), DP_OK);
  dpLoss *loss = parse_ok(m, "{\"terms\": [{\"type\": \"control_effort\"}]}");
  ck_assert_double_eq(eval_params(loss, m, m->theta0), 0.0);
  dp_loss_free(loss);
  dp_model_free(m);
}
END_TEST

// ------------------------------------------------------------------------------------------
// Gradients.

// Each state term's adjoint, reached through adj_dp_loss_step: position and velocity terms
// (one particle or a mass-weighted centre of mass) exercise adj_point_loss, kinetic_energy
// exercises adj_kinetic_loss; the trajectory cases below exercise adj_trajectory_loss.
START_TEST(test_grad_state_terms) {
  static const struct {
    const char *json;
    int step;
  } cases[] = {
      {"{\"type\": \"position\", \"particle\": \"bob\", \"target\": [0.5, -1, 2], \"weight\": 3}",
       T_STEPS},
      {"{\"type\": \"position\", \"particle\": \"ball\", \"step\": 2, \"target\": [1, 1, 1], "
       "\"components\": [1]}",
       2},
      {"{\"type\": \"position\", \"particles\": \"sheet_*\", \"step\": -2, "
       "\"target\": [0.5, 0.5, 0.6], \"weight\": 1.5}",
       T_STEPS - 1},
      {"{\"type\": \"position\", \"particles\": [\"ball\", \"bob\", \"sheet_1_0\"], \"step\": 0, "
       "\"target\": [0.1, 0.2, 0.3], \"components\": [0, 2]}",
       0},
      {"{\"type\": \"velocity\", \"particle\": \"sheet_0_1\", \"step\": 5, \"target\": [0, 0, -1],"
       " \"weight\": 0.1}",
       5},
      {"{\"type\": \"velocity\", \"particles\": \"*\", \"target\": [0.3, 0, -1]}", T_STEPS},
      {"{\"type\": \"kinetic_energy\", \"step\": 7, \"weight\": 2}", 7},
      {"{\"type\": \"kinetic_energy\", \"particles\": \"sheet_*\"}", T_STEPS},
  };
  dpModel *m = test_model();
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char json[512];
    snprintf(json, sizeof json, "{\"terms\": [%s]}", cases[k].json);
    dpLoss *loss = parse_ok(m, json);
    ck_assert_int_eq(dp_loss_needs_step(loss, cases[k].step), 1);
    double mag = grad_check_step(loss, m, cases[k].step, 1000 + k, cases[k].json);
    ck_assert_msg(mag > 0.0, "zero adjoint for %s", cases[k].json);
    dp_loss_free(loss);
  }
  dp_model_free(m);
}
END_TEST

// Parameter-only terms through adj_dp_loss_params: control_effort exercises adj_effort_loss,
// prior exercises adj_prior_loss.
START_TEST(test_grad_param_terms) {
  static const char *const cases[] = {
      "{\"type\": \"control_effort\", \"weight\": 1e-3}",
      "{\"type\": \"control_effort\", \"weight\": 2}",
      "{\"type\": \"prior\", \"path\": \"springs.spring.stiffness\", \"value\": 40, "
      "\"weight\": 1e-4}",
      "{\"type\": \"prior\", \"path\": \"particles.*.mass\", \"value\": [1, 2, 3, 4, 5]}",
      "{\"type\": \"prior\", \"path\": \"particles.bob.position\", \"value\": [0, 1, 2], "
      "\"weight\": 0.5}",
  };
  dpModel *m = test_model();
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char json[512];
    snprintf(json, sizeof json, "{\"terms\": [%s]}", cases[k]);
    dpLoss *loss = parse_ok(m, json);
    double mag = grad_check_params(loss, m, 2000 + k, cases[k]);
    ck_assert_msg(mag > 0.0, "zero adjoint for %s", cases[k]);
    dp_loss_free(loss);
  }
  dp_model_free(m);
}
END_TEST

// Adjoints accumulate: a second call adds the same amount again.
START_TEST(test_adjoint_accumulates) {
  dpModel *m = test_model();
  dpLoss *loss = parse_ok(
      m, "{\"terms\": [{\"type\": \"position\", \"particles\": \"sheet_*\", \"target\": [1, 2, 3]},"
         "{\"type\": \"kinetic_energy\"}, {\"type\": \"control_effort\"},"
         "{\"type\": \"prior\", \"path\": \"springs.*.stiffness\", \"value\": 1}]}");
  tu_rng r = {77};
  size_t ns = dp_model_nstate(m), nt = m->ntheta;
  double *th = theta_random(m, &r), *s = malloc(ns * sizeof *s);
  for (size_t i = 0; i < ns; i++) {
    s[i] = tu_uniform(&r, -1, 1);
  }
  double *sb1 = calloc(ns, sizeof *sb1), *tb1 = calloc(nt, sizeof *tb1);
  double *sb2 = calloc(ns, sizeof *sb2), *tb2 = calloc(nt, sizeof *tb2);
  adj_dp_loss_step(loss, m, th, T_STEPS, s, tb1, sb1, 0.75);
  adj_dp_loss_params(loss, m, th, tb1, 0.75);
  for (int rep = 0; rep < 2; rep++) {
    adj_dp_loss_step(loss, m, th, T_STEPS, s, tb2, sb2, 0.75);
    adj_dp_loss_params(loss, m, th, tb2, 0.75);
  }
  int nonzero = 0;
  for (size_t i = 0; i < ns; i++) {
    ck_assert_msg(fabs(sb2[i] - 2.0 * sb1[i]) <= 1e-14 * fabs(sb1[i]), "s_bar[%zu]", i);
    nonzero += sb1[i] != 0.0;
  }
  for (size_t k = 0; k < nt; k++) {
    ck_assert_msg(fabs(tb2[k] - 2.0 * tb1[k]) <= 1e-14 * fabs(tb1[k]), "theta_bar[%zu]", k);
    nonzero += tb1[k] != 0.0;
  }
  ck_assert_int_gt(nonzero, 10);
  // A step that no term reads leaves the accumulators alone.
  double before = sb2[0];
  adj_dp_loss_step(loss, m, th, 3, s, tb2, sb2, 1.0);
  ck_assert_double_eq(sb2[0], before);
  free(th);
  free(s);
  free(sb1);
  free(tb1);
  free(sb2);
  free(tb2);
  dp_loss_free(loss);
  dp_model_free(m);
}
END_TEST

START_TEST(test_needs_step) {
  dpModel *m = test_model();
  dpLoss *loss = parse_ok(
      m, "{\"terms\": [{\"type\": \"position\", \"particle\": \"ball\", \"target\": [0, 0, 0]},"
         "{\"type\": \"position\", \"particle\": \"ball\", \"step\": -11, \"target\": [0, 0, 0]},"
         "{\"type\": \"velocity\", \"particle\": \"ball\", \"step\": 4, \"target\": [0, 0, 0]},"
         "{\"type\": \"kinetic_energy\", \"step\": -4},"
         "{\"type\": \"prior\", \"path\": \"gravity\", \"value\": 0}]}");
  for (int t = -1; t <= T_STEPS + 1; t++) {
    int want = t == 0 || t == 4 || t == 7 || t == T_STEPS;
    ck_assert_msg(dp_loss_needs_step(loss, t) == want, "step %d", t);
  }
  dp_loss_free(loss);
  loss = parse_ok(m, "{\"terms\": [{\"type\": \"position\", \"particle\": \"ball\", "
                     "\"step\": \"end\", \"target\": [0, 0, 0]}]}");
  for (int t = 0; t <= T_STEPS; t++) {
    ck_assert_int_eq(dp_loss_needs_step(loss, t), t == T_STEPS);
  }
  ck_assert_int_eq(dp_loss_needs_step(NULL, 0), 0);
  dp_loss_free(loss);
  loss = parse_ok(m, "{\"terms\": [{\"type\": \"position\", \"particle\": \"ball\", "
                     "\"step\": -1, \"target\": [0, 0, 0]}]}");
  ck_assert_int_eq(dp_loss_needs_step(loss, T_STEPS), 1);
  ck_assert_int_eq(dp_loss_needs_step(loss, T_STEPS - 1), 0);
  dp_loss_free(loss);
  dp_model_free(m);
}
END_TEST

// ------------------------------------------------------------------------------------------
// Observed trajectories.

// obs.npz in a fresh directory: frames at steps 0, 2, …, 10; observed particles in the order
// (bob, ball) with obs_{f,bob} = (f, 1, 2), obs_{f,ball} = (10 + f, -1, 0.5).
static char g_dir[64];

static void write_obs(const char *path, const char *meta, const char *field) {
  dpError err;
  dp_error_clear(&err);
  dpNpzWriter *w = NULL;
  enum { F = 6 };
  double time[F], x[F * 2 * 3];
  for (int f = 0; f < F; f++) {
    time[f] = 2 * f * T_DT;
    set3(x + 6 * f, f, 1, 2);
    set3(x + 6 * f + 3, 10 + f, -1, 0.5);
  }
  size_t st[1] = {F}, sx[3] = {F, 2, 3};
  ck_assert_int_eq(dp_npz_open(path, -1, &w, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_f64(w, "time", 1, st, time, &err), DP_OK);
  ck_assert_int_eq(dp_npz_add_f64(w, field, 3, sx, x, &err), DP_OK);
  if (meta != NULL) {
    ck_assert_int_eq(dp_npz_add_text(w, "meta.json", meta, &err), DP_OK);
  }
  ck_assert_msg(dp_npz_commit(w, &err) == DP_OK, "commit: %s", err.message);
}

static void obs_setup(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/dp_check_loss_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(g_dir));
  char path[128];
  snprintf(path, sizeof path, "%s/obs.npz", g_dir);
  write_obs(path, "{\"format_version\": 1, \"particles\": [\"bob\", \"ball\"]}", "particles/x");
}

static void obs_teardown(void) {
  char path[128];
  static const char *const files[] = {"obs.npz",    "vel.npz",  "anon.npz",    "loss.json",
                                      "bodies.npz", "soft.npz", "soft_4v.npz"};
  for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
    snprintf(path, sizeof path, "%s/%s", g_dir, files[k]);
    unlink(path);
  }
  rmdir(g_dir);
}

static dpLoss *parse_traj(const dpModel *m, const char *file, const char *extra) {
  char json[512];
  snprintf(json, sizeof json,
           "{\"terms\": [{\"type\": \"trajectory\", \"file\": \"%s/%s\"%s%s}]}", g_dir, file,
           extra[0] != '\0' ? ", " : "", extra);
  return parse_ok(m, json);
}

START_TEST(test_trajectory_value) {
  dpModel *m = test_model();
  dpLoss *loss = parse_traj(m, "obs.npz", "\"weight\": 3");
  ck_assert_str_eq(dp_loss_term_kind(loss, 0), "trajectory");
  for (int t = 0; t <= T_STEPS; t++) {
    ck_assert_int_eq(dp_loss_needs_step(loss, t), t % 2 == 0);
  }
  // At step 4 (frame 2) put ball exactly on its observation and bob off by (1, 2, 0):
  // only observed particles count, so l = 3 · (1/6) · 5 = 2.5.
  double *s = state_zero(m), *th = theta_copy(m);
  set3(s, 12, -1, 0.5);
  set3(s + 3, 2 + 1, 1 + 2, 2);
  ck_assert_double_eq_tol(eval_step(loss, m, th, 4, s), 2.5, 1e-15);
  ck_assert_double_eq(eval_step(loss, m, th, 3, s), 0.0);
  // Names mapped, not order: swapping the two states gives a different, larger value.
  set3(s + 3, 12, -1, 0.5);
  set3(s, 2, 1, 2);
  ck_assert_double_gt(eval_step(loss, m, th, 4, s), 100.0);
  dp_loss_free(loss);

  // Restricted to ball, z only, every 4th step: frames at 0, 4, 8 → F = 3.
  loss = parse_traj(m, "obs.npz", "\"particles\": [\"ball\"], \"components\": [2], "
                                  "\"steps\": {\"every\": 4}");
  for (int t = 0; t <= T_STEPS; t++) {
    ck_assert_int_eq(dp_loss_needs_step(loss, t), t % 4 == 0);
  }
  set3(s, 0, 0, 2.5);  // z off by 2 → (1/3) · 4
  ck_assert_double_eq_tol(eval_step(loss, m, th, 8, s), 4.0 / 3.0, 1e-15);
  dp_loss_free(loss);

  // Explicit steps (negative counts from the end) and a pattern.
  loss = parse_traj(m, "obs.npz", "\"steps\": [2, -1], \"particles\": \"b*\"");
  for (int t = 0; t <= T_STEPS; t++) {
    ck_assert_int_eq(dp_loss_needs_step(loss, t), t == 2 || t == T_STEPS);
  }
  set3(s, 10 + 5, -1, 0.5);
  set3(s + 3, 5, 1, 2 + 3);  // bob z off by 3 at the last frame: (1/2) · 9
  ck_assert_double_eq_tol(eval_step(loss, m, th, T_STEPS, s), 4.5, 1e-15);
  dp_loss_free(loss);
  free(s);
  free(th);
  dp_model_free(m);
}
END_TEST

START_TEST(test_trajectory_grad) {
  dpModel *m = test_model();
  char path[128];
  snprintf(path, sizeof path, "%s/vel.npz", g_dir);
  write_obs(path, "{\"particles\": [\"sheet_1_0\", \"bob\"]}", "particles/v");
  dpLoss *loss = parse_traj(m, "obs.npz", "\"weight\": 0.7");
  for (int t = 0; t <= T_STEPS; t += 2) {
    ck_assert(grad_check_step(loss, m, t, 3000 + t, "trajectory x") > 0.0);
  }
  dp_loss_free(loss);
  loss = parse_traj(m, "vel.npz", "\"field\": \"particles/v\", \"steps\": [4, 8]");
  ck_assert(grad_check_step(loss, m, 8, 3100, "trajectory v") > 0.0);
  dp_loss_free(loss);
  dp_model_free(m);
}
END_TEST

// Without names in meta.json the file must hold every particle, in index order.
START_TEST(test_trajectory_by_index) {
  dpModel *m = test_model();
  char path[128];
  snprintf(path, sizeof path, "%s/anon.npz", g_dir);
  write_obs(path, NULL, "particles/x");
  char json[512];
  snprintf(json, sizeof json, "{\"terms\": [{\"type\": \"trajectory\", \"file\": \"%s\"}]}",
           path);
  parse_bad(m, json, "has 2 particles but the scene has 5", 1, 43);
  dp_model_free(m);
}
END_TEST

// dp_loss_load reads observed files relative to the loss file's directory.
START_TEST(test_load_relative) {
  dpModel *m = test_model();
  char path[128];
  snprintf(path, sizeof path, "%s/loss.json", g_dir);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs("{\n  \"description\": \"fit\",\n  \"terms\": [\n    {\"type\": \"trajectory\", "
        "\"file\": \"obs.npz\", \"steps\": \"all\"}\n  ]\n}\n",
        f);
  fclose(f);
  dpError err;
  dp_error_clear(&err);
  dpLoss *loss = NULL;
  ck_assert_msg(dp_loss_load(path, m, &loss, &err) == DP_OK, "%s", err.message);
  ck_assert_int_eq(dp_loss_needs_step(loss, 10), 1);
  dp_loss_free(loss);
  // Observed frames that are not steps of the scene.
  m->dt = 0.003;  // frames at 0.02 s are not multiples of 3 ms
  dp_error_clear(&err);
  ck_assert_int_eq(dp_loss_load(path, m, &loss, &err), DP_ERR_INVALID);
  ck_assert_msg(strstr(err.message, "frame 1 of 'obs.npz' at time 0.02 is not a step") != NULL,
                "%s", err.message);
  ck_assert_int_eq(err.line, 4);
  ck_assert_int_eq(err.column, 36);
  m->dt = T_DT;
  // The loss file itself missing is an I/O error.
  dp_error_clear(&err);
  ck_assert_int_eq(dp_loss_load("/nonexistent/loss.json", m, &loss, &err), DP_ERR_IO);
  ck_assert_ptr_nonnull(strstr(err.message, "cannot read '/nonexistent/loss.json'"));
  dp_model_free(m);
}
END_TEST

// ------------------------------------------------------------------------------------------
// Errors.

START_TEST(test_errors_inline) {
  dpModel *m = test_model();
  parse_bad(m, "{\"terms\": [\n  {\"type\": \"position\", \"particle\": \"bal\", "
               "\"target\": [0, 0, 0]}\n]}",
            "term 1: unknown particle 'bal' (did you mean 'ball'?)", 2, 36);
  parse_bad(m, "{\"terms\": [{\"type\": \"kinetic_energy\"},\n {\"type\": \"positon\"}]}",
            "term 2: unknown term type 'positon' (did you mean 'position'?)", 2, 11);
  parse_bad(m, "{\"terms\": [{\"type\": \"control_effort\",\n  \"weight\": -1}]}",
            "'weight' must be ≥ 0 (got -1)", 2, 13);
  parse_bad(m, "{\"terms\": [{\"type\": \"control_effort\", \"wieght\": 1}]}",
            "unknown key 'wieght' (did you mean 'weight'?)", 1, 39);
  parse_bad(m, "{\"terms\": [{\"type\": \"control_effort\", \"target\": [0, 0, 0]}]}",
            "key 'target' does not apply to a 'control_effort' term", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"kinetic_energy\", \"weight\": 1, \"weight\": 2}]}",
            "term 1: duplicate key 'weight'", 1, 52);
  parse_bad(m, "{\"terms\": [{\"type\": \"position\", \"particle\": \"ball\", "
               "\"particles\": [\"bob\"], \"target\": [0, 0, 0]}]}",
            "either 'particle' or 'particles'", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"position\", \"particles\": [\"ball\", \"ball\"], "
               "\"target\": [0, 0, 0]}]}",
            "particle 'ball' is listed twice", 1, 55);
  parse_bad(m, "{\"terms\": [{\"type\": \"position\", \"particles\": \"nope_*\", "
               "\"target\": [0, 0, 0]}]}",
            "pattern 'nope_*' matches no particle", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"position\", \"particle\": \"ball\", \"step\": 1.5, "
               "\"target\": [0, 0, 0]}]}",
            "'step' must be an integer or \"end\" (got 1.5)", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"position\", \"particle\": \"ball\", \"step\": -12, "
               "\"target\": [0, 0, 0]}]}",
            "step -12 is out of range", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"position\", \"particle\": \"ball\"}]}",
            "term 1: missing 'target'", 1, 12);
  parse_bad(m, "{\"terms\": [{\"type\": \"position\", \"particle\": \"ball\", "
               "\"target\": [0, \"1\", 0]}]}",
            "'target' must contain numbers only (item 2 is a string)", 1, 67);
  parse_bad(m, "{\"terms\": [{\"type\": \"position\", \"particle\": \"ball\", "
               "\"target\": [0, 0, 0], \"components\": [0, 3]}]}",
            "'components' must be in 0..2 (got 3)", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"prior\", \"path\": \"springs.*.stiffness\", "
               "\"value\": [1, 2, 3]}]}",
            "'value' must have 2 numbers", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"prior\", \"path\": \"springs.sprng.stiffness\", "
               "\"value\": 1}]}",
            "unknown parameter 'springs.sprng.stiffness' (did you mean "
            "'springs.spring.stiffness'?)",
            1, 38);
  parse_bad(m, "[1, 2]", "a loss must be a json object (got array)", 1, 1);
  parse_bad(m, "{\"terms\": {}}", "'terms' must be a list (got object)", 1, 11);
  parse_bad(m, "{\"description\": \"x\"}", "missing 'terms'", 1, 1);
  parse_bad(m, "{\"terms\": [3]}", "term 1: a term must be an object (got number)", 1, 12);
  parse_bad(m, "{\"terms\": [{\"type\": \"control_effort\"}],\n  \"terms\": []}",
            "duplicate key 'terms'", 2, 3);
  parse_bad(m, "{\"terms\": [{\"type\": \"position\"", "json syntax error", 1, 31);
  parse_bad(m, "", "json syntax error: unexpected end of input", 1, 1);
  parse_bad(m, "{\"terms\": []} x", "json syntax error near 'x'", 1, 15);
  // The error names the key too.
  dpError err;
  dp_error_clear(&err);
  dpLoss *loss = NULL;
  dp_loss_parse("{\"terms\": [{\"type\": \"control_effort\", \"weight\": \"1\"}]}", "w.json", m,
                &loss, &err);
  ck_assert_str_eq(err.key, "weight");
  ck_assert_str_eq(err.message, "term 1: 'weight' must be a number (got string)");
  ck_assert_int_eq(err.column, 49);
  dp_model_free(m);
}
END_TEST

// Reads a whole small file into buf (NUL-terminated); 0 when it cannot.
static int read_small(const char *path, char *buf, size_t n) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    return 0;
  }
  size_t got = fread(buf, 1, n - 1, f);
  buf[got] = '\0';
  fclose(f);
  return 1;
}

// Every tests/bad/losses/*.json fails with the message and position of its .expect, bound to
// the scene its .expect names (default scenes/bounce.yaml).
START_TEST(test_bad_corpus) {
  glob_t g;
  ck_assert_int_eq(glob("tests/bad/losses/*.json", 0, NULL, &g), 0);
  ck_assert_uint_ge(g.gl_pathc, 8);
  for (size_t k = 0; k < g.gl_pathc; k++) {
    const char *path = g.gl_pathv[k];
    char expect_path[512], text[2048], expect[256] = "", scene[256] = "scenes/bounce.yaml";
    int line = 0, col = 0;
    snprintf(expect_path, sizeof expect_path, "%.*s.expect", (int)(strlen(path) - 5), path);
    ck_assert_msg(read_small(expect_path, text, sizeof text), "missing %s", expect_path);
    for (char *ln = strtok(text, "\n"); ln != NULL; ln = strtok(NULL, "\n")) {
      if (strncmp(ln, "expect: ", 8) == 0) {
        snprintf(expect, sizeof expect, "%s", ln + 8);
      } else if (strncmp(ln, "where: ", 7) == 0) {
        ck_assert_int_eq(sscanf(ln + 7, "%d:%d", &line, &col), 2);
      } else if (strncmp(ln, "scene: ", 7) == 0) {
        snprintf(scene, sizeof scene, "%s", ln + 7);
      }
    }
    ck_assert_msg(expect[0] != '\0', "%s: no 'expect:' line", expect_path);
    dpError err;
    dp_error_clear(&err);
    dpModel *m = NULL;
    ck_assert_msg(dp_scene_load(scene, NULL, 0, &m, &err) == DP_OK, "%s: %s", scene,
                  err.message);
    dpLoss *loss = NULL;
    dp_error_clear(&err);
    dpStatus st = dp_loss_load(path, m, &loss, &err);
    ck_assert_msg(st == DP_ERR_INVALID, "%s: status %d (%s)", path, (int)st, err.message);
    ck_assert_ptr_null(loss);
    ck_assert_msg(strstr(err.message, expect) != NULL, "%s: message '%s' lacks '%s'", path,
                  err.message, expect);
    ck_assert_str_eq(err.file, path);
    if (line > 0) {
      ck_assert_msg(err.line == line && err.column == col, "%s: '%s' at %d:%d, expected %d:%d",
                    path, err.message, err.line, err.column, line, col);
    }
    dp_model_free(m);
  }
  globfree(&g);
}
END_TEST

// The loss beside every example scene binds to it and has a finite value at x[0].
START_TEST(test_scene_losses) {
  static const char *const names[] = {"projectile", "oscillator", "bounce", "spring_cage",
                                      "cloth"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    char scene[128], lpath[128];
    snprintf(scene, sizeof scene, "scenes/%s.yaml", names[k]);
    snprintf(lpath, sizeof lpath, "scenes/%s.json", names[k]);
    dpError err;
    dp_error_clear(&err);
    dpModel *m = NULL;
    ck_assert_msg(dp_scene_load(scene, NULL, 0, &m, &err) == DP_OK, "%s: %s", scene,
                  err.message);
    dpLoss *loss = NULL;
    ck_assert_msg(dp_loss_load(lpath, m, &loss, &err) == DP_OK, "%s:%d:%d: %s", lpath, err.line,
                  err.column, err.message);
    ck_assert_int_ge(dp_loss_nterms(loss), 1);
    ck_assert_int_eq(dp_loss_needs_step(loss, m->steps), 1);
    double *s = calloc(dp_model_nstate(m), sizeof *s), L = 0.0;
    dp_initial_state(m, m->theta0, s);
    dp_loss_step(loss, m, m->theta0, m->steps, s, &L);
    dp_loss_params(loss, m, m->theta0, &L);
    ck_assert_msg(isfinite(L) && L > 0.0, "%s: L = %g at x[0]", lpath, L);
    free(s);
    dp_loss_free(loss);
    dp_model_free(m);
  }
}
END_TEST

// ------------------------------------------------------------------------------------------
// Allocation failures: the Nth allocation fails, for every N until parsing succeeds.

// Parse json bound to m with the Nth allocation failing, for every N until parsing succeeds:
// each failure is DP_ERR_NOMEM and leaks nothing.
static void alloc_failure_loop(const dpModel *m, const char *json) {
  int failures = 0, ok = 0;
  for (long n = 0; n < 2000 && !ok; n++) {
    dpError err;
    dp_error_clear(&err);
    dpLoss *loss = NULL;
    tu_fail_alloc f = {0, n + 1, 0};  // n allocations succeed, the next fails
    dp_set_allocator(tu_failing_alloc, &f);
    dpStatus st = dp_loss_parse(json, "alloc.json", m, &loss, &err);
    if (st == DP_OK) {
      dp_loss_free(loss);
      ok = 1;
    }
    dp_set_allocator(NULL, NULL);
    ck_assert_msg(f.live == 0, "allocation %ld failing: %ld blocks leaked", n, f.live);
    if (!ok) {
      ck_assert_msg(st == DP_ERR_NOMEM, "allocation %ld failing: status %d (%s)", n, (int)st,
                    err.message);
      ck_assert_ptr_null(loss);
      failures++;
    }
  }
  ck_assert_int_eq(ok, 1);
  ck_assert_int_gt(failures, 10);
}

START_TEST(test_alloc_failure) {
  dpModel *m = test_model();
  char json[1024];
  snprintf(json, sizeof json,
           "{\"description\": \"all kinds\", \"terms\": ["
           "{\"type\": \"position\", \"particles\": \"sheet_*\", \"target\": [0, 0, 1]},"
           "{\"type\": \"velocity\", \"particle\": \"ball\", \"step\": 3, \"target\": [0, 0, 0]},"
           "{\"type\": \"trajectory\", \"file\": \"%s/obs.npz\", \"steps\": {\"every\": 2}},"
           "{\"type\": \"control_effort\", \"weight\": 1e-3},"
           "{\"type\": \"kinetic_energy\", \"particles\": [\"ball\", \"bob\"]},"
           "{\"type\": \"prior\", \"path\": \"springs.*.stiffness\", \"value\": [1, 2]}]}",
           g_dir);
  alloc_failure_loop(m, json);
  dp_model_free(m);
}
END_TEST

// ------------------------------------------------------------------------------------------
// Articulated bodies: body_position, joint, joint_velocity, trajectories of bodies/xpos and
// bodies/q, and actuator controls in control_effort.

// One particle "ball" and a tree: base (prismatic along x, at (0, 0, 1)) → arm (revolute about
// y, 0.3 m along x) → hand (revolute about z, 0.5 m below) and weld (fixed, 0.1 m along x);
// floater (free) → wrist (ball, at (0.2, 0.1, 0)). A motor on base and a servo on arm; a box,
// a capsule and a sphere. T = 10 steps.
static dpModel *body_model(void) {
  dpError err;
  dp_error_clear(&err);
  dpModel *m = dp_model_new();
  m->dt = T_DT;
  m->steps = T_STEPS;
  dpParticleDef pd = dp_default_particle_def();
  ck_assert_int_eq(dp_model_add_particle(m, "ball", &pd, &err), 0);
  static const struct {
    const char *name;
    int parent;
    dpJointType joint;
    double pos[3], axis[3];
  } bodies[] = {
      {"base", -1, DP_JOINT_PRISMATIC, {0, 0, 1}, {1, 0, 0}},
      {"arm", 0, DP_JOINT_REVOLUTE, {0.3, 0, 0}, {0, 1, 0}},
      {"hand", 1, DP_JOINT_REVOLUTE, {0, 0, -0.5}, {0, 0, 1}},
      {"weld", 1, DP_JOINT_FIXED, {0.1, 0, 0}, {0, 0, 1}},
      {"floater", -1, DP_JOINT_FREE, {0, 0, 0}, {0, 0, 1}},
      {"wrist", 4, DP_JOINT_BALL, {0.2, 0.1, 0}, {0, 0, 1}},
  };
  for (int i = 0; i < 6; i++) {
    dpBodyDef d = dp_default_body_def();
    d.parent = bodies[i].parent;
    d.joint = bodies[i].joint;
    memcpy(d.joint_pos, bodies[i].pos, sizeof d.joint_pos);
    memcpy(d.axis, bodies[i].axis, sizeof d.axis);
    if (d.joint == DP_JOINT_FREE || d.joint == DP_JOINT_BALL) {
      d.q0[0] = d.joint == DP_JOINT_FREE ? 0.0 : 1.0;
      d.q0[3] = d.joint == DP_JOINT_FREE ? 1.0 : 0.0;
    }
    ck_assert_msg(dp_model_add_body(m, bodies[i].name, &d, &err) == i, "%s", err.message);
  }
  dpShapeDef sh = dp_default_shape_def(DP_SHAPE_BOX);
  sh.body = 4;
  ck_assert_int_eq(dp_model_add_shape(m, "crate", &sh, &err), 0);
  sh = dp_default_shape_def(DP_SHAPE_CAPSULE);
  sh.body = 1;
  ck_assert_int_eq(dp_model_add_shape(m, "bone", &sh, &err), 1);
  sh = dp_default_shape_def(DP_SHAPE_SPHERE);
  sh.body = 2;
  ck_assert_int_eq(dp_model_add_shape(m, "fist", &sh, &err), 2);
  dpActuatorDef a = dp_default_actuator_def(DP_ACTUATOR_MOTOR);
  a.body = 0;
  ck_assert_int_eq(dp_model_add_actuator(m, "slide", &a, &err), 0);
  a = dp_default_actuator_def(DP_ACTUATOR_POSITION);
  a.body = 1;
  ck_assert_int_eq(dp_model_add_actuator(m, "shoulder", &a, &err), 1);
  ck_assert_msg(dp_model_finalize(m, &err) == DP_OK, "finalize: %s", err.message);
  return m;
}

// A random state of body_model: every component in [-1, 1], quaternions normalized.
static double *body_state_random(const dpModel *m, tu_rng *r) {
  size_t ns = dp_model_nstate(m);
  double *s = malloc(ns * sizeof *s);
  for (size_t i = 0; i < ns; i++) {
    s[i] = tu_uniform(r, -1.0, 1.0);
  }
  double *q = s + dp_model_q_offset(m);
  for (int b = 0; b < m->nb; b++) {
    if (m->bjoint[b] == DP_JOINT_BALL || m->bjoint[b] == DP_JOINT_FREE) {
      double *Q = q + m->bqadr[b] + (m->bjoint[b] == DP_JOINT_FREE ? 3 : 0);
      double n = sqrt(Q[0] * Q[0] + Q[1] * Q[1] + Q[2] * Q[2] + Q[3] * Q[3]);
      for (int k = 0; k < 4; k++) {
        Q[k] /= n;
      }
    }
  }
  return s;
}

// 1 when q component k (0..nq) lies in a quaternion block; *start receives the block's start.
static int in_quat(const dpModel *m, int k, int *start) {
  for (int b = 0; b < m->nb; b++) {
    int a = m->bqadr[b] + (m->bjoint[b] == DP_JOINT_FREE ? 3 : 0);
    if ((m->bjoint[b] == DP_JOINT_BALL || m->bjoint[b] == DP_JOINT_FREE) && k >= a && k < a + 4) {
      *start = a;
      return 1;
    }
  }
  return 0;
}

// adj_dp_loss_step on body_model at step t against central differences: every state component
// outside the quaternions, each quaternion along three random tangent directions δ (δ·Q = 0;
// the adjoint's projection s_bar·δ), and every θ component, with θ = θ0 whose joint positions
// are moved at random. Returns the sum of |adjoint|.
static double grad_check_bodies(const dpLoss *loss, const dpModel *m, int t, uint64_t seed,
                                const char *what) {
  tu_rng r = {seed};
  size_t ns = dp_model_nstate(m), nt = m->ntheta, qo = dp_model_q_offset(m);
  double *s = body_state_random(m, &r), *th = theta_copy(m);
  for (size_t k = 0; k < 3 * (size_t)m->nb; k++) {
    th[m->off.joint_pos + k] += tu_uniform(&r, -0.5, 0.5);
  }
  double *s_bar = calloc(ns, sizeof *s_bar), *th_bar = calloc(nt, sizeof *th_bar);
  double L_bar = tu_uniform(&r, 0.5, 1.5), mag = 0.0, fd;
  adj_dp_loss_step(loss, m, th, t, s, th_bar, s_bar, L_bar);
  for (size_t i = 0; i < ns; i++) {
    int start;
    if (i >= qo && i < qo + (size_t)m->nq && in_quat(m, (int)(i - qo), &start)) {
      continue;
    }
    FD(eval_step(loss, m, th, t, s), s, i, L_bar, fd);
    TU_ASSERT_GRAD(what, i, s_bar[i], fd, 1e-6, 1e-8);
    note_err(s_bar[i], fd);
    mag += fabs(s_bar[i]);
  }
  for (int b = 0; b < m->nb; b++) {
    if (m->bjoint[b] != DP_JOINT_BALL && m->bjoint[b] != DP_JOINT_FREE) {
      continue;
    }
    double *Q = s + qo + m->bqadr[b] + (m->bjoint[b] == DP_JOINT_FREE ? 3 : 0);
    const double *G = s_bar + (Q - s);
    for (int dir = 0; dir < 3; dir++) {
      double d[4], dq = 0.0, Q0[4], h = 1e-6;
      for (int k = 0; k < 4; k++) {
        d[k] = tu_uniform(&r, -1.0, 1.0);
        dq += d[k] * Q[k];
        Q0[k] = Q[k];
      }
      double an = 0.0;
      for (int k = 0; k < 4; k++) {
        d[k] -= dq * Q[k];
        an += G[k] * d[k];
      }
      for (int k = 0; k < 4; k++) {
        Q[k] = Q0[k] + h * d[k];
      }
      double lp = eval_step(loss, m, th, t, s);
      for (int k = 0; k < 4; k++) {
        Q[k] = Q0[k] - h * d[k];
      }
      double lm = eval_step(loss, m, th, t, s);
      memcpy(Q, Q0, sizeof Q0);
      fd = L_bar * (lp - lm) / (2.0 * h);
      TU_ASSERT_GRAD(what, 1000 + 10 * b + dir, an, fd, 1e-6, 1e-8);
      note_err(an, fd);
      mag += fabs(an);
    }
  }
  for (size_t k = 0; k < nt; k++) {
    if (!isfinite(th[k])) {
      continue;
    }
    FD(eval_step(loss, m, th, t, s), th, k, L_bar, fd);
    TU_ASSERT_GRAD(what, k, th_bar[k], fd, 1e-6, 1e-8);
    note_err(th_bar[k], fd);
    mag += fabs(th_bar[k]);
  }
  free(s);
  free(th);
  free(s_bar);
  free(th_bar);
  return mag;
}

// A state of body_model with base at x = 0.2, arm turned π/2 about y, floater at (1, 2, 3)
// turned π about z, wrist turned π/2 about x; velocities 0.1, 0.2, ...
static double *body_state_known(const dpModel *m) {
  double *s = calloc(dp_model_nstate(m), sizeof *s);
  double *q = s + dp_model_q_offset(m), *qd = s + dp_model_qd_offset(m);
  q[m->bqadr[0]] = 0.2;
  q[m->bqadr[1]] = M_PI / 2;
  q[m->bqadr[2]] = 0.3;
  double *f = q + m->bqadr[4];
  set3(f, 1, 2, 3);
  f[3] = 0;
  f[4] = 0;
  f[5] = 0;
  f[6] = 1;
  double *w = q + m->bqadr[5];
  w[0] = w[1] = sqrt(0.5);
  w[2] = w[3] = 0;
  for (int k = 0; k < m->nv; k++) {
    qd[k] = 0.1 * (k + 1);
  }
  return s;
}

START_TEST(test_body_values) {
  dpModel *m = body_model();
  double *s = body_state_known(m), *th = theta_copy(m);
  // Forward kinematics: base (0.2, 0, 1); arm (0.5, 0, 1), its z axis turned onto x, so hand
  // (0.5 − 0.5, 0, 1) = (0, 0, 1); wrist: (1, 2, 3) + Rz(π)·(0.2, 0.1, 0) = (0.8, 1.9, 3).
  dpLoss *loss = parse_ok(m, "{\"terms\": ["
                             "{\"type\": \"body_position\", \"body\": \"hand\", \"target\": [1, 2, "
                             "3], \"weight\": 2},"
                             "{\"type\": \"body_position\", \"body\": \"wrist\", \"step\": 4, "
                             "\"target\": [0, 0, 0], \"components\": [0, 1]}]}");
  ck_assert_str_eq(dp_loss_term_kind(loss, 0), "body_position");
  ck_assert_double_eq_tol(eval_step(loss, m, th, T_STEPS, s), 2.0 * (1 + 4 + 4), 1e-12);
  ck_assert_double_eq_tol(eval_step(loss, m, th, 4, s), 0.8 * 0.8 + 1.9 * 1.9, 1e-12);
  ck_assert_double_eq(eval_step(loss, m, th, 3, s), 0.0);
  dp_loss_free(loss);

  // joint: componentwise over q (a number applies to every coordinate); joint_velocity on qd.
  loss = parse_ok(m, "{\"terms\": ["
                     "{\"type\": \"joint\", \"body\": \"floater\", \"target\": [1, 2, 3, 1, 0, 0, "
                     "0], \"weight\": 0.5},"
                     "{\"type\": \"joint\", \"body\": \"arm\", \"target\": 1, \"step\": 2},"
                     "{\"type\": \"joint_velocity\", \"body\": \"wrist\", \"target\": 0, "
                     "\"step\": 2}]}");
  ck_assert_str_eq(dp_loss_term_kind(loss, 1), "joint");
  ck_assert_str_eq(dp_loss_term_kind(loss, 2), "joint_velocity");
  // floater's quaternion (0, 0, 0, 1) against (1, 0, 0, 0): componentwise 1 + 1 = 2.
  ck_assert_double_eq_tol(eval_step(loss, m, th, T_STEPS, s), 0.5 * 2.0, 1e-15);
  int va = m->bvadr[5];
  double want = (M_PI / 2 - 1) * (M_PI / 2 - 1);
  for (int k = 0; k < 3; k++) {
    want += (0.1 * (va + k + 1)) * (0.1 * (va + k + 1));
  }
  ck_assert_double_eq_tol(eval_step(loss, m, th, 2, s), want, 1e-15);
  dp_loss_free(loss);

  // control_effort: the particle controls (none here) and every actuator control.
  th[m->off.act_controls + 3] = 2.0;             // slide at step 3
  th[m->off.act_controls + T_STEPS + 9] = -0.5;  // shoulder at step 9
  loss = parse_ok(m, "{\"terms\": [{\"type\": \"control_effort\", \"weight\": 3}]}");
  ck_assert_double_eq_tol(eval_params(loss, m, th), 3.0 * (4.0 + 0.25), 1e-15);
  dp_loss_free(loss);
  free(s);
  free(th);
  dp_model_free(m);
}
END_TEST

START_TEST(test_body_grads) {
  static const struct {
    const char *json;
    int step;
  } cases[] = {
      {"{\"type\": \"body_position\", \"body\": \"hand\", \"target\": [0.5, -1, 2], "
       "\"weight\": 3}",
       T_STEPS},
      {"{\"type\": \"body_position\", \"body\": \"wrist\", \"step\": 2, \"target\": [1, 1, 1], "
       "\"components\": [0, 2]}",
       2},
      {"{\"type\": \"body_position\", \"body\": \"weld\", \"step\": 0, \"target\": [0, 1, 0]}",
       0},
      {"{\"type\": \"joint\", \"body\": \"floater\", \"target\": [1, 2, 3, 0.5, 0.5, 0.5, 0.5], "
       "\"step\": 5}",
       5},
      {"{\"type\": \"joint\", \"body\": \"base\", \"target\": 0.25, \"weight\": 2}", T_STEPS},
      {"{\"type\": \"joint_velocity\", \"body\": \"floater\", \"target\": [0, 0, 1, 0, 0, 0]}",
       T_STEPS},
  };
  dpModel *m = body_model();
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char json[512];
    snprintf(json, sizeof json, "{\"terms\": [%s]}", cases[k].json);
    dpLoss *loss = parse_ok(m, json);
    ck_assert_int_eq(dp_loss_needs_step(loss, cases[k].step), 1);
    double mag = grad_check_bodies(loss, m, cases[k].step, 4000 + k, cases[k].json);
    ck_assert_msg(mag > 0.0, "zero adjoint for %s", cases[k].json);
    dp_loss_free(loss);
  }
  // Two body-origin terms at one step share one kinematics pass; the adjoint still adds up.
  dpLoss *loss = parse_ok(m, "{\"terms\": ["
                             "{\"type\": \"body_position\", \"body\": \"hand\", \"target\": [0, "
                             "0, 0]},"
                             "{\"type\": \"body_position\", \"body\": \"wrist\", \"target\": [1, "
                             "0, 0]},"
                             "{\"type\": \"joint\", \"body\": \"arm\", \"target\": 0.5},"
                             "{\"type\": \"position\", \"particle\": \"ball\", \"target\": [0, 0, "
                             "1]}]}");
  ck_assert(grad_check_bodies(loss, m, T_STEPS, 4100, "several body terms") > 0.0);
  dp_loss_free(loss);
  // control_effort over the actuator controls.
  loss = parse_ok(m, "{\"terms\": [{\"type\": \"control_effort\", \"weight\": 0.5}]}");
  ck_assert(grad_check_params(loss, m, 4200, "control_effort with actuators") > 0.0);
  dp_loss_free(loss);
  dp_model_free(m);
}
END_TEST

// A trajectory of body_model written by dp_traj_open / dp_traj_frame from random states at steps
// 0, 5 and 10: the writer's arrays, then fits against it.
START_TEST(test_body_trajectory) {
  dpModel *m = body_model();
  double *th = theta_copy(m);
  th[m->off.act_controls + 2] = 0.7;  // slide at step 2
  char path[128];
  snprintf(path, sizeof path, "%s/bodies.npz", g_dir);
  double *states[3];
  dpError err;
  dp_error_clear(&err);
  // The writer: q, qd, poses, actuator controls by step, names in meta.json.
  {
    dpTrajectory *tr = NULL;
    ck_assert_int_eq(dp_traj_open(path, m, th, "check_loss", 5, -1, &tr, &err), DP_OK);
    tu_rng r = {99};
    for (int f = 0; f < 3; f++) {
      states[f] = body_state_random(m, &r);
      ck_assert_int_eq(dp_traj_frame(tr, 5 * f, states[f], &err), DP_OK);
    }
    ck_assert_msg(dp_traj_commit(tr, &err) == DP_OK, "%s", err.message);
  }
  dpNpz *z = NULL;
  ck_assert_int_eq(dp_npz_read(path, &z, &err), DP_OK);
  const dpNpzEntry *q = dp_npz_get(z, "bodies/q"), *qd = dp_npz_get(z, "bodies/qd");
  const dpNpzEntry *xp = dp_npz_get(z, "bodies/xpos"), *xq = dp_npz_get(z, "bodies/xquat");
  const dpNpzEntry *u = dp_npz_get(z, "actuators/controls"), *meta = dp_npz_get(z, "meta.json");
  ck_assert(q != NULL && qd != NULL && xp != NULL && xq != NULL && u != NULL && meta != NULL);
  ck_assert_int_eq(q->ndim, 2);
  ck_assert_uint_eq(q->shape[0], 3);
  ck_assert_uint_eq(q->shape[1], (size_t)m->nq);
  ck_assert_uint_eq(qd->shape[1], (size_t)m->nv);
  ck_assert_int_eq(xp->ndim, 3);
  ck_assert_uint_eq(xp->shape[1], (size_t)m->nb);
  ck_assert_uint_eq(xp->shape[2], 3);
  ck_assert_uint_eq(xq->shape[2], 4);
  ck_assert_int_eq(u->ndim, 2);
  ck_assert_uint_eq(u->shape[0], T_STEPS);
  ck_assert_uint_eq(u->shape[1], 2);
  ck_assert_double_eq(u->data[2 * 2 + 0], 0.7);
  double *scratch = malloc(dp_body_scratch_size(m) * sizeof *scratch);
  double xpos[18], xquat[24];
  for (int f = 0; f < 3; f++) {
    const double *sf = states[f];
    for (int k = 0; k < m->nq; k++) {
      ck_assert_double_eq(q->data[f * m->nq + k], sf[dp_model_q_offset(m) + k]);
    }
    for (int k = 0; k < m->nv; k++) {
      ck_assert_double_eq(qd->data[f * m->nv + k], sf[dp_model_qd_offset(m) + k]);
    }
    dp_body_poses(m, th, sf, xpos, xquat, scratch);
    for (int k = 0; k < 3 * m->nb; k++) {
      ck_assert_double_eq(xp->data[f * 3 * m->nb + k], xpos[k]);
    }
    for (int k = 0; k < 4 * m->nb; k++) {
      ck_assert_double_eq(xq->data[f * 4 * m->nb + k], xquat[k]);
    }
  }
  free(scratch);
  static const char *const keys[] = {
      "\"bodies\": [\"base\", \"arm\", \"hand\", \"weld\", \"floater\", \"wrist\"]",
      "\"joints\": [\"prismatic\", \"revolute\", \"revolute\", \"fixed\", \"free\", \"ball\"]",
      "\"parents\": [-1, 0, 1, 1, -1, 4]",
      "\"qadr\": [0, 1, 2, 3, 3, 10]",
      "\"vadr\": [0, 1, 2, 3, 3, 9]",
      "\"shapes\": [\"crate\", \"bone\", \"fist\"]",
      "\"actuators\": [\"slide\", \"shoulder\"]",
  };
  // cJSON_Print puts tabs and newlines between items: compare with whitespace removed.
  char flat[4096];
  size_t n = 0;
  for (const char *c = meta->text; *c != '\0' && n + 1 < sizeof flat; c++) {
    if (*c != ' ' && *c != '\t' && *c != '\n') {
      flat[n++] = *c;
    }
  }
  flat[n] = '\0';
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    char want[256];
    size_t w = 0;
    for (const char *c = keys[k]; *c != '\0'; c++) {
      if (*c != ' ') {
        want[w++] = *c;
      }
    }
    want[w] = '\0';
    ck_assert_msg(strstr(flat, want) != NULL, "meta.json lacks %s:\n%s", want, meta->text);
  }
  dp_npz_free(z);

  // Fits: the states that wrote the file match it exactly; their gradients check.
  const char *fields[] = {"\"field\": \"bodies/xpos\"",
                          ("\"field\": \"bodies/xpos\", \"bodies\": [\"wrist\", \"hand\"], "
                           "\"components\": [2]"),
                          "\"field\": \"bodies/q\"",
                          "\"field\": \"bodies/q\", \"bodies\": \"*r*\", \"steps\": [5]"};
  for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
    dpLoss *loss = parse_traj(m, "bodies.npz", fields[k]);
    ck_assert_int_eq(dp_loss_needs_step(loss, 5), 1);
    ck_assert_int_eq(dp_loss_needs_step(loss, 4), 0);
    ck_assert_double_eq_tol(eval_step(loss, m, th, 5, states[1]), 0.0, 1e-24);
    ck_assert_double_gt(eval_step(loss, m, th, 5, states[0]), 1e-3);
    ck_assert(grad_check_bodies(loss, m, 5, 4300 + k, fields[k]) > 0.0);
    dp_loss_free(loss);
  }
  // bodies/q of "*r*" (arm, floater, wrist) at step 5 only: hand's angle does not count.
  dpLoss *loss = parse_traj(m, "bodies.npz", fields[3]);
  states[1][dp_model_q_offset(m) + m->bqadr[2]] += 1.0;
  ck_assert_double_eq_tol(eval_step(loss, m, th, 5, states[1]), 0.0, 1e-24);
  states[1][dp_model_q_offset(m) + m->bqadr[1]] += 2.0;  // arm off by 2, one frame: 4
  ck_assert_double_eq_tol(eval_step(loss, m, th, 5, states[1]), 4.0, 1e-12);
  dp_loss_free(loss);

  // Errors of body trajectories.
  char json[512];
  snprintf(json, sizeof json,
           "{\"terms\": [{\"type\": \"trajectory\", \"file\": \"%s\", \"field\": \"bodies/q\", "
           "\"components\": [0]}]}",
           path);
  parse_bad(m, json, "key 'components' does not apply to field 'bodies/q'", 0, 0);
  snprintf(json, sizeof json,
           "{\"terms\": [{\"type\": \"trajectory\", \"file\": \"%s\", \"field\": \"bodies/xpos\", "
           "\"particles\": [\"ball\"]}]}",
           path);
  parse_bad(m, json, "key 'particles' does not apply to field 'bodies/xpos' (use 'bodies')", 0,
            0);
  snprintf(json, sizeof json,
           "{\"terms\": [{\"type\": \"trajectory\", \"file\": \"%s\", \"bodies\": [\"arm\"]}]}",
           path);
  parse_bad(m, json, "key 'bodies' does not apply to field 'particles/x' (use 'particles')", 0,
            0);
  snprintf(json, sizeof json,
           "{\"terms\": [{\"type\": \"trajectory\", \"file\": \"%s\", \"field\": \"bodies/xpos\", "
           "\"bodies\": [\"hnd\"]}]}",
           path);
  parse_bad(m, json, "unknown body 'hnd' (did you mean 'hand'?)", 0, 0);
  snprintf(json, sizeof json,
           "{\"terms\": [{\"type\": \"trajectory\", \"file\": \"%s\", \"field\": \"bodies/q\", "
           "\"bodies\": [\"weld\"]}]}",
           path);
  parse_bad(m, json, "have no joint coordinates (fixed joints)", 0, 0);
  snprintf(json, sizeof json,
           "{\"terms\": [{\"type\": \"trajectory\", \"file\": \"%s\", \"field\": \"bodies/qq\"}]}",
           path);
  parse_bad(m, json,
            "'field' must be \"particles/x\", \"particles/v\", \"bodies/xpos\", \"bodies/q\", "
            "\"softbodies/NAME/x\" (or /v) or \"shells/NAME/x\" (or /v) (got 'bodies/qq')",
            0, 0);
  // The scene without bodies cannot read body fields.
  dpModel *pm = test_model();
  snprintf(json, sizeof json,
           "{\"terms\": [{\"type\": \"trajectory\", \"file\": \"%s\", "
           "\"field\": \"bodies/xpos\"}]}",
           path);
  parse_bad(pm, json, "field 'bodies/xpos' needs bodies, and the scene has none", 0, 0);
  dp_model_free(pm);
  for (int f = 0; f < 3; f++) {
    free(states[f]);
  }
  unlink(path);
  free(th);
  dp_model_free(m);
}
END_TEST

// Binding body terms (and their work space) fails cleanly at every allocation.
START_TEST(test_body_alloc_failure) {
  dpModel *m = body_model();
  char path[128], json[1024];
  snprintf(path, sizeof path, "%s/bodies.npz", g_dir);
  double *states[3];
  {
    dpError err;
    dp_error_clear(&err);
    dpTrajectory *tr = NULL;
    ck_assert_int_eq(dp_traj_open(path, m, m->theta0, "check_loss", 5, -1, &tr, &err), DP_OK);
    tu_rng r = {5};
    for (int f = 0; f < 3; f++) {
      states[f] = body_state_random(m, &r);
      ck_assert_int_eq(dp_traj_frame(tr, 5 * f, states[f], &err), DP_OK);
      free(states[f]);
    }
    ck_assert_int_eq(dp_traj_commit(tr, &err), DP_OK);
  }
  snprintf(json, sizeof json,
           "{\"terms\": [{\"type\": \"body_position\", \"body\": \"hand\", "
           "\"target\": [0, 0, 1]},"
           "{\"type\": \"joint\", \"body\": \"floater\", \"target\": 0},"
           "{\"type\": \"trajectory\", \"file\": \"%s\", \"field\": \"bodies/q\"},"
           "{\"type\": \"trajectory\", \"file\": \"%s\", \"field\": \"bodies/xpos\", "
           "\"bodies\": \"w*\"},"
           "{\"type\": \"control_effort\"}]}",
           path, path);
  alloc_failure_loop(m, json);
  unlink(path);
  dp_model_free(m);
}
END_TEST

START_TEST(test_body_errors) {
  dpModel *m = body_model();
  parse_bad(m, "{\"terms\": [\n  {\"type\": \"body_position\", \"body\": \"hnd\", "
               "\"target\": [0, 0, 0]}\n]}",
            "term 1: unknown body 'hnd' (did you mean 'hand'?)", 2, 37);
  parse_bad(m, "{\"terms\": [{\"type\": \"body_position\", \"target\": [0, 0, 0]}]}",
            "term 1: missing 'body'", 1, 12);
  parse_bad(m, "{\"terms\": [{\"type\": \"body_position\", \"body\": \"hand\", "
               "\"target\": [0, 0]}]}",
            "'target' must be a list of 3 numbers (got 2)", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"body_position\", \"body\": 3, \"target\": [0, 0, 0]}]}",
            "'body' must name a body (got number)", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"joint\", \"body\": \"floater\", \"target\": [0, 0, 0]}]}",
            "'target' must have 7 numbers, one per coordinate of the free joint of body "
            "'floater' (got 3)",
            1, 59);
  parse_bad(m, "{\"terms\": [{\"type\": \"joint_velocity\", \"body\": \"wrist\", "
               "\"target\": [0, 0, 0, 0]}]}",
            "'target' must have 3 numbers, one per velocity of the ball joint of body 'wrist' "
            "(got 4)",
            0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"joint\", \"body\": \"arm\", \"target\": \"up\"}]}",
            "'target' must be a number or a list of numbers (got string)", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"joint\", \"body\": \"weld\", \"target\": 0}]}",
            "body 'weld' has a fixed joint: it has no joint coordinates to compare", 1, 38);
  parse_bad(m, "{\"terms\": [{\"type\": \"joint\", \"body\": \"arm\", \"target\": 0, "
               "\"components\": [0]}]}",
            "key 'components' does not apply to a 'joint' term", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"body_positon\", \"body\": \"arm\"}]}",
            "unknown term type 'body_positon' (did you mean 'body_position'?)", 0, 0);
  dp_model_free(m);
  m = test_model();
  parse_bad(m, "{\"terms\": [{\"type\": \"joint\", \"body\": \"arm\", \"target\": 0}]}",
            "unknown body 'arm' (the scene has no bodies)", 0, 0);
  dp_model_free(m);
}
END_TEST

// ------------------------------------------------------------------------------------------
// Soft bodies and shells: centroid, trajectories of softbodies/NAME/x and shells/NAME/v, and the
// soft arrays of trajectory files. States are built by hand (no soft-body step here).

// One particle "ball", one revolute body "hinge" (so the soft block sits after x, v, q, qd),
// the soft body "jelly": two tetrahedra (0 1 2 3) and (0 2 1 4) on the vertices (0, 0, 0),
// (1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 0, −1), and the shell "cloth": the unit square at z = 2
// as triangles (0 1 2) and (0 2 3), vertex 3 pinned. T = 10 steps.
static dpModel *soft_model(void) {
  dpError err;
  dp_error_clear(&err);
  dpModel *m = dp_model_new();
  m->dt = T_DT;
  m->steps = T_STEPS;
  dpParticleDef pd = dp_default_particle_def();
  ck_assert_int_eq(dp_model_add_particle(m, "ball", &pd, &err), 0);
  dpBodyDef bd = dp_default_body_def();
  bd.joint = DP_JOINT_REVOLUTE;
  ck_assert_msg(dp_model_add_body(m, "hinge", &bd, &err) == 0, "%s", err.message);
  static const double jx[] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, -1};
  static const int jt[] = {0, 1, 2, 3, 0, 2, 1, 4};
  dpSoftDef sd = dp_default_soft_def(0);
  sd.nv = 5;
  sd.rest = jx;
  sd.nelem = 2;
  sd.elem = jt;
  ck_assert_msg(dp_model_add_soft(m, "jelly", &sd, &err) == 0, "%s", err.message);
  static const double cx[] = {0, 0, 2, 1, 0, 2, 1, 1, 2, 0, 1, 2};
  static const int ct[] = {0, 1, 2, 0, 2, 3}, pin[] = {3};
  sd = dp_default_soft_def(1);
  sd.nv = 4;
  sd.rest = cx;
  sd.nelem = 2;
  sd.elem = ct;
  sd.npin = 1;
  sd.pin = pin;
  ck_assert_msg(dp_model_add_soft(m, "cloth", &sd, &err) == 1, "%s", err.message);
  ck_assert_msg(dp_model_finalize(m, &err) == DP_OK, "finalize: %s", err.message);
  return m;
}

// Soft vertex i of the packed state s (x, or v when vel).
static double *soft_vertex(const dpModel *m, double *s, int vel, int i) {
  return s + dp_model_soft_offset(m) + (vel ? 3 * (size_t)m->nvert : 0) + 3 * (size_t)i;
}

START_TEST(test_soft_values) {
  dpModel *m = soft_model();
  ck_assert_int_eq(m->nvert, 9);
  double *s = calloc(dp_model_nstate(m), sizeof *s), *th = theta_copy(m);
  // jelly's vertices at (i, 2i, 3 + i) for i = 0..4: centroid (2, 4, 5); cloth's at (1, 1, 1).
  for (int i = 0; i < 5; i++) {
    set3(soft_vertex(m, s, 0, i), i, 2 * i, 3 + i);
  }
  for (int i = 5; i < 9; i++) {
    set3(soft_vertex(m, s, 0, i), 1, 1, 1);
  }
  dpLoss *loss = parse_ok(m, "{\"terms\": ["
                             "{\"type\": \"centroid\", \"soft\": \"jelly\", \"target\": [1, 2, 3], "
                             "\"weight\": 2},"
                             "{\"type\": \"centroid\", \"soft\": \"cloth\", \"step\": 4, "
                             "\"target\": [0, 0, 0], \"components\": [0, 2]}]}");
  ck_assert_str_eq(dp_loss_term_kind(loss, 0), "centroid");
  ck_assert_double_eq_tol(eval_step(loss, m, th, T_STEPS, s), 2.0 * (1 + 4 + 4), 1e-12);
  ck_assert_double_eq_tol(eval_step(loss, m, th, 4, s), 2.0, 1e-15);
  ck_assert_double_eq(eval_step(loss, m, th, 3, s), 0.0);
  dp_loss_free(loss);

  // steps: the mean over the S selected steps ("all": S = T + 1; a list; every k).
  loss = parse_ok(m, "{\"terms\": [{\"type\": \"centroid\", \"soft\": \"jelly\", \"steps\": "
                     "\"all\", \"target\": [2, 4, 4]}]}");
  for (int t = 0; t <= T_STEPS; t++) {
    ck_assert_int_eq(dp_loss_needs_step(loss, t), 1);
    ck_assert_double_eq_tol(eval_step(loss, m, th, t, s), 1.0 / (T_STEPS + 1), 1e-15);
  }
  dp_loss_free(loss);
  loss = parse_ok(m, "{\"terms\": [{\"type\": \"centroid\", \"soft\": \"jelly\", \"steps\": "
                     "[2, -1], \"target\": [2, 4, 4], \"weight\": 4}]}");
  for (int t = 0; t <= T_STEPS; t++) {
    ck_assert_int_eq(dp_loss_needs_step(loss, t), t == 2 || t == T_STEPS);
  }
  ck_assert_double_eq_tol(eval_step(loss, m, th, 2, s), 4.0 / 2.0, 1e-15);
  dp_loss_free(loss);
  loss = parse_ok(m, "{\"terms\": [{\"type\": \"centroid\", \"soft\": \"cloth\", \"steps\": "
                     "{\"every\": 5}, \"target\": [1, 1, 1]}]}");
  for (int t = 0; t <= T_STEPS; t++) {
    ck_assert_int_eq(dp_loss_needs_step(loss, t), t % 5 == 0);
  }
  ck_assert_double_eq(eval_step(loss, m, th, 5, s), 0.0);
  dp_loss_free(loss);
  free(s);
  free(th);
  dp_model_free(m);
}
END_TEST

START_TEST(test_soft_grads) {
  dpModel *m = soft_model();
  dpLoss *loss = parse_ok(m, "{\"terms\": ["
                             "{\"type\": \"centroid\", \"soft\": \"jelly\", \"target\": [1, 2, 3], "
                             "\"weight\": 0.7},"
                             "{\"type\": \"centroid\", \"soft\": \"cloth\", \"steps\": [5, -1], "
                             "\"target\": [0.5, 0, 0], \"components\": [0, 1]}]}");
  ck_assert(grad_check_step(loss, m, T_STEPS, 5100, "centroid") > 0.0);
  ck_assert(grad_check_step(loss, m, 5, 5101, "centroid cloth") > 0.0);
  // Only the owner's vertex positions get an adjoint, each 1/n of the centroid's.
  size_t ns = dp_model_nstate(m);
  double *s = calloc(ns, sizeof *s), *s_bar = calloc(ns, sizeof *s_bar), *th = theta_copy(m);
  double *th_bar = calloc(m->ntheta, sizeof *th_bar);
  adj_dp_loss_step(loss, m, th, 5, s, th_bar, s_bar, 1.0);
  for (size_t i = 0; i < ns; i++) {
    size_t v = (i - dp_model_soft_offset(m)) / 3, c = (i - dp_model_soft_offset(m)) % 3;
    int cloth_x = i >= dp_model_soft_offset(m) && v >= 5 && v < 9 && c < 2;
    // l = (1/2)(c_x − 0.5)², c = 0: ∂l/∂x_i = (1/2)·2·(−0.5)/4.
    ck_assert_double_eq_tol(s_bar[i], cloth_x && c == 0 ? -0.125 : 0.0, 1e-15);
  }
  free(s);
  free(s_bar);
  free(th);
  free(th_bar);
  dp_loss_free(loss);
  dp_model_free(m);
}
END_TEST

// A trajectory of soft_model written by dp_traj_open / dp_traj_frame from random states at
// steps 0, 5 and 10: the soft arrays and meta.json, then fits against them.
START_TEST(test_soft_trajectory) {
  dpModel *m = soft_model();
  double *th = theta_copy(m);
  th[m->off.soft_rest + 3 * 6] = 1.25;  // cloth's vertex 1 rest x: the file's rest comes from θ
  char path[128], json[1024];
  snprintf(path, sizeof path, "%s/soft.npz", g_dir);
  double *states[3];
  size_t ns = dp_model_nstate(m);
  dpError err;
  dp_error_clear(&err);
  {
    dpTrajectory *tr = NULL;
    ck_assert_int_eq(dp_traj_open(path, m, th, "check_loss", 5, -1, &tr, &err), DP_OK);
    tu_rng r = {77};
    for (int f = 0; f < 3; f++) {
      states[f] = malloc(ns * sizeof *states[f]);
      for (size_t i = 0; i < ns; i++) {
        states[f][i] = tu_uniform(&r, -1.0, 1.0);
      }
      ck_assert_int_eq(dp_traj_frame(tr, 5 * f, states[f], &err), DP_OK);
    }
    ck_assert_msg(dp_traj_commit(tr, &err) == DP_OK, "%s", err.message);
  }
  dpNpz *z = NULL;
  ck_assert_int_eq(dp_npz_read(path, &z, &err), DP_OK);
  static const char *const names[] = {"softbodies/jelly/x",    "softbodies/jelly/v",
                                      "shells/cloth/x",        "shells/cloth/v",
                                      "softbodies/jelly/rest", "shells/cloth/rest",
                                      "softbodies/jelly/tets", "shells/cloth/triangles"};
  const dpNpzEntry *e[8];
  for (int k = 0; k < 8; k++) {
    e[k] = dp_npz_get(z, names[k]);
    ck_assert_msg(e[k] != NULL && e[k]->data != NULL, "no array %s", names[k]);
  }
  for (int k = 0; k < 4; k++) {  // (F, nv, 3) of the recorded states
    int vadr = k < 2 ? 0 : 5, nv = k < 2 ? 5 : 4, vel = k % 2;
    ck_assert_int_eq(e[k]->ndim, 3);
    ck_assert_uint_eq(e[k]->shape[0], 3);
    ck_assert_uint_eq(e[k]->shape[1], (size_t)nv);
    ck_assert_uint_eq(e[k]->shape[2], 3);
    for (int f = 0; f < 3; f++) {
      for (int j = 0; j < 3 * nv; j++) {
        ck_assert_double_eq(e[k]->data[f * 3 * nv + j],
                            soft_vertex(m, states[f], vel, vadr)[j]);
      }
    }
  }
  ck_assert_uint_eq(e[4]->shape[0], 5);
  ck_assert_double_eq(e[4]->data[3 * 4 + 2], -1.0);  // jelly's vertex 4 rest z
  ck_assert_double_eq(e[5]->data[3 * 1], 1.25);      // cloth's vertex 1 rest x, from θ
  ck_assert_str_eq(e[6]->dtype, "<i8");
  ck_assert_int_eq(e[6]->ndim, 2);
  ck_assert_uint_eq(e[6]->shape[0], 2);
  ck_assert_uint_eq(e[6]->shape[1], 4);
  static const double tets[] = {0, 1, 2, 3, 0, 2, 1, 4}, tris[] = {0, 1, 2, 0, 2, 3};
  for (int k = 0; k < 8; k++) {
    ck_assert_double_eq(e[6]->data[k], tets[k]);
  }
  ck_assert_str_eq(e[7]->dtype, "<i8");
  ck_assert_uint_eq(e[7]->shape[0], 2);
  ck_assert_uint_eq(e[7]->shape[1], 3);
  for (int k = 0; k < 6; k++) {  // local to the shell (its vertices are 5..8 in the model)
    ck_assert_double_eq(e[7]->data[k], tris[k]);
  }
  const dpNpzEntry *meta = dp_npz_get(z, "meta.json");
  ck_assert_ptr_nonnull(meta);
  char flat[8192];
  size_t n = 0;
  for (const char *c = meta->text; *c != '\0' && n + 1 < sizeof flat; c++) {
    if (*c != ' ' && *c != '\t' && *c != '\n') {
      flat[n++] = *c;
    }
  }
  flat[n] = '\0';
  static const char *const keys[] = {"\"softbodies\":[\"jelly\"]", "\"shells\":[\"cloth\"]",
                                     "\"softbodies/jelly/x\":\"m\"", "\"shells/cloth/v\":\"m/s\""};
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    ck_assert_msg(strstr(flat, keys[k]) != NULL, "meta.json lacks %s:\n%s", keys[k], meta->text);
  }
  dp_npz_free(z);

  // Fits: the states that wrote the file match it exactly; their gradients check.
  const char *fields[] = {"\"field\": \"softbodies/jelly/x\"",
                          "\"field\": \"shells/cloth/x\", \"components\": [2], \"steps\": [5]",
                          "\"field\": \"shells/cloth/v\", \"weight\": 3",
                          "\"field\": \"softbodies/jelly/v\", \"steps\": {\"every\": 5}"};
  for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
    dpLoss *loss = parse_traj(m, "soft.npz", fields[k]);
    ck_assert_int_eq(dp_loss_needs_step(loss, 5), 1);
    ck_assert_int_eq(dp_loss_needs_step(loss, 4), 0);
    ck_assert_double_eq_tol(eval_step(loss, m, th, 5, states[1]), 0.0, 1e-24);
    ck_assert_double_gt(eval_step(loss, m, th, 5, states[0]), 1e-3);
    ck_assert(grad_check_step(loss, m, 5, 5200 + k, fields[k]) > 0.0);
    dp_loss_free(loss);
  }
  // cloth's z at step 5 only, F = 1: moving x changes nothing, z of one vertex by 2 gives 4.
  dpLoss *loss = parse_traj(m, "soft.npz", fields[1]);
  soft_vertex(m, states[1], 0, 6)[0] += 1.0;
  ck_assert_double_eq_tol(eval_step(loss, m, th, 5, states[1]), 0.0, 1e-24);
  soft_vertex(m, states[1], 0, 7)[2] += 2.0;
  ck_assert_double_eq_tol(eval_step(loss, m, th, 5, states[1]), 4.0, 1e-12);
  dp_loss_free(loss);

  // Errors.
  static const struct {
    const char *extra, *want;
  } bad[] = {
      {"\"field\": \"softbodies/cloth/x\"",
       "'cloth' is a shell, not a soft body (its arrays are under 'shells/')"},
      {"\"field\": \"shells/jelly/x\"",
       "'jelly' is a soft body, not a shell (its arrays are under 'softbodies/')"},
      {"\"field\": \"softbodies/jely/x\"", "unknown soft body 'jely' (did you mean 'jelly'?)"},
      {"\"field\": \"shells/cloht/v\"", "unknown shell 'cloht' (did you mean 'cloth'?)"},
      {"\"field\": \"softbodies/jelly/q\"",
       "'field' 'softbodies/jelly/q' must be \"softbodies/NAME/x\" or \"softbodies/NAME/v\""},
      {"\"field\": \"shells/x\"", "must be \"shells/NAME/x\" or \"shells/NAME/v\""},
      {"\"field\": \"softbodies/jelly/x\", \"particles\": [\"ball\"]",
       "key 'particles' does not apply to field 'softbodies/jelly/x' (it compares every vertex "
       "of 'jelly')"},
      {"\"field\": \"shells/cloth/x\", \"bodies\": \"*\"",
       "key 'bodies' does not apply to field 'shells/cloth/x'"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    snprintf(json, sizeof json,
             "{\"terms\": [{\"type\": \"trajectory\", \"file\": \"%s\", %s}]}", path,
             bad[k].extra);
    parse_bad(m, json, bad[k].want, 0, 0);
  }
  // A file whose jelly has 4 vertices; a file without shells/cloth/x.
  char path4[128];
  snprintf(path4, sizeof path4, "%s/soft_4v.npz", g_dir);
  {
    dpNpzWriter *w = NULL;
    double time[1] = {0}, x[12] = {0};
    size_t st[1] = {1}, sx[3] = {1, 4, 3};
    ck_assert_int_eq(dp_npz_open(path4, -1, &w, &err), DP_OK);
    ck_assert_int_eq(dp_npz_add_f64(w, "time", 1, st, time, &err), DP_OK);
    ck_assert_int_eq(dp_npz_add_f64(w, "softbodies/jelly/x", 3, sx, x, &err), DP_OK);
    ck_assert_int_eq(dp_npz_commit(w, &err), DP_OK);
  }
  snprintf(json, sizeof json,
           "{\"terms\": [{\"type\": \"trajectory\", \"file\": \"%s\", "
           "\"field\": \"softbodies/jelly/x\"}]}",
           path4);
  parse_bad(m, json, "'softbodies/jelly/x' in '", 0, 0);
  parse_bad(m, json, "' has 4 vertices but soft body 'jelly' has 5", 0, 0);
  snprintf(json, sizeof json,
           "{\"terms\": [{\"type\": \"trajectory\", \"file\": \"%s\", "
           "\"field\": \"shells/cloth/x\"}]}",
           path4);
  parse_bad(m, json, "has no 'shells/cloth/x' array of shape (1, N, 3)", 0, 0);
  // Written with every allocation failing in turn: an error, nothing at the path, no leak.
  {
    char pathf[128];
    snprintf(pathf, sizeof pathf, "%s/soft_fail.npz", g_dir);
    int ok = 0;
    for (long k = 0; k < 200 && !ok; k++) {
      tu_fail_alloc fa = {0, k + 1, 0};
      dp_set_allocator(tu_failing_alloc, &fa);
      dpTrajectory *tr = NULL;
      dpStatus st = dp_traj_open(pathf, m, th, "check_loss", 5, -1, &tr, &err);
      for (int f = 0; st == DP_OK && f < 3; f++) {
        st = dp_traj_frame(tr, 5 * f, states[f], &err);
      }
      if (st == DP_OK) {
        st = dp_traj_commit(tr, &err);
      } else {
        dp_traj_abort(tr);
      }
      dp_set_allocator(NULL, NULL);
      ck_assert_msg(fa.live == 0, "allocation %ld failing: %ld blocks leaked", k, fa.live);
      ok = st == DP_OK;
      ck_assert_msg(ok || access(pathf, F_OK) != 0, "allocation %ld failing left a file", k);
    }
    ck_assert_int_eq(ok, 1);
    unlink(pathf);
  }
  // Bound with every allocation failing in turn.
  snprintf(json, sizeof json,
           "{\"terms\": [{\"type\": \"trajectory\", \"file\": \"%s\", "
           "\"field\": \"shells/cloth/v\", \"components\": [1]},"
           "{\"type\": \"centroid\", \"soft\": \"jelly\", \"steps\": \"all\", "
           "\"target\": [0, 0, 0]},"
           "{\"type\": \"centroid\", \"soft\": \"cloth\", \"target\": [0, 0, 0]}]}",
           path);
  alloc_failure_loop(m, json);
  // A scene without soft bodies.
  dpModel *pm = test_model();
  snprintf(json, sizeof json,
           "{\"terms\": [{\"type\": \"trajectory\", \"file\": \"%s\", "
           "\"field\": \"softbodies/jelly/x\"}]}",
           path);
  parse_bad(pm, json, "unknown soft body 'jelly' (the scene has no soft bodies or shells)", 0, 0);
  dp_model_free(pm);
  for (int f = 0; f < 3; f++) {
    free(states[f]);
  }
  unlink(path);
  unlink(path4);
  free(th);
  dp_model_free(m);
}
END_TEST

START_TEST(test_soft_errors) {
  dpModel *m = soft_model();
  parse_bad(m, "{\"terms\": [\n  {\"type\": \"centroid\", \"soft\": \"jely\", "
               "\"target\": [0, 0, 0]}\n]}",
            "term 1: unknown soft body or shell 'jely' (did you mean 'jelly'?)", 2, 32);
  parse_bad(m, "{\"terms\": [{\"type\": \"centroid\", \"target\": [0, 0, 0]}]}",
            "term 1: missing 'soft' (the soft body or shell whose centroid counts)", 1, 12);
  parse_bad(m, "{\"terms\": [{\"type\": \"centroid\", \"soft\": 1, \"target\": [0, 0, 0]}]}",
            "'soft' must name a soft body or shell (got number)", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"centroid\", \"soft\": \"jelly\"}]}",
            "term 1: missing 'target'", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"centroid\", \"soft\": \"jelly\", \"step\": 2, "
               "\"steps\": [3], \"target\": [0, 0, 0]}]}",
            "give either 'step' or 'steps', not both", 1, 61);
  parse_bad(m, "{\"terms\": [{\"type\": \"centroid\", \"soft\": \"jelly\", \"steps\": [3, 3], "
               "\"target\": [0, 0, 0]}]}",
            "step 3 is listed twice", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"centroid\", \"soft\": \"jelly\", \"steps\": \"final\", "
               "\"target\": [0, 0, 0]}]}",
            "'steps' must be \"all\", a list of steps or {\"every\": k} (got final)", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"centroid\", \"soft\": \"jelly\", \"step\": 11, "
               "\"target\": [0, 0, 0]}]}",
            "step 11 is out of range", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"centroid\", \"soft\": \"jelly\", \"target\": [0, 0], "
               "\"particles\": \"*\"}]}",
            "key 'particles' does not apply to a 'centroid' term", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"centroid\", \"sot\": \"jelly\"}]}",
            "unknown key 'sot' (did you mean 'soft'?)", 0, 0);
  parse_bad(m, "{\"terms\": [{\"type\": \"centriod\", \"soft\": \"jelly\"}]}",
            "unknown term type 'centriod' (did you mean 'centroid'?)", 0, 0);
  dp_model_free(m);
  m = test_model();
  parse_bad(m, "{\"terms\": [{\"type\": \"centroid\", \"soft\": \"jelly\", "
               "\"target\": [0, 0, 0]}]}",
            "unknown soft body or shell 'jelly' (the scene has no soft bodies or shells)", 0, 0);
  dp_model_free(m);
}
END_TEST

static void report_max_err(void) {
  if (getenv("DP_TEST_VERBOSE") != NULL) {
    fprintf(stderr, "check_loss: largest gradient-check relative error %.3e\n", g_max_err);
  }
}

Suite *make_loss_suite(void) {
  Suite *s = suite_create("loss");
  TCase *tc = tcase_create("values");
  tcase_add_test(tc, test_position_value);
  tcase_add_test(tc, test_centre_of_mass_value);
  tcase_add_test(tc, test_velocity_kinetic_value);
  tcase_add_test(tc, test_params_value);
  tcase_add_test(tc, test_effort_without_controls);
  tcase_add_test(tc, test_needs_step);
  suite_add_tcase(s, tc);

  tc = tcase_create("gradients");
  tcase_add_test(tc, test_grad_state_terms);
  tcase_add_test(tc, test_grad_param_terms);
  tcase_add_test(tc, test_adjoint_accumulates);
  tcase_add_checked_fixture(tc, NULL, report_max_err);
  suite_add_tcase(s, tc);

  tc = tcase_create("trajectory");
  tcase_add_checked_fixture(tc, obs_setup, obs_teardown);
  tcase_add_test(tc, test_trajectory_value);
  tcase_add_test(tc, test_trajectory_grad);
  tcase_add_test(tc, test_trajectory_by_index);
  tcase_add_test(tc, test_load_relative);
  tcase_add_test(tc, test_alloc_failure);
  suite_add_tcase(s, tc);

  tc = tcase_create("bodies");
  tcase_add_checked_fixture(tc, obs_setup, obs_teardown);
  tcase_add_test(tc, test_body_values);
  tcase_add_test(tc, test_body_grads);
  tcase_add_test(tc, test_body_trajectory);
  tcase_add_test(tc, test_body_errors);
  tcase_add_test(tc, test_body_alloc_failure);
  tcase_add_checked_fixture(tc, NULL, report_max_err);
  suite_add_tcase(s, tc);

  tc = tcase_create("soft");
  tcase_add_checked_fixture(tc, obs_setup, obs_teardown);
  tcase_add_test(tc, test_soft_values);
  tcase_add_test(tc, test_soft_grads);
  tcase_add_test(tc, test_soft_trajectory);
  tcase_add_test(tc, test_soft_errors);
  tcase_add_checked_fixture(tc, NULL, report_max_err);
  suite_add_tcase(s, tc);

  tc = tcase_create("errors");
  tcase_add_test(tc, test_errors_inline);
  tcase_add_test(tc, test_bad_corpus);
  tcase_add_test(tc, test_scene_losses);
  suite_add_tcase(s, tc);
  return s;
}
