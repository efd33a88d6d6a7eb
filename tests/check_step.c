// Gradient checks of the force stage and of one step for each integrator (with substeps, pinned
// particles, controls, anchored and two-particle springs, all three colliders in range): the
// adjoint against central differences for every state component and every entry of θ.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "dp/dp.h"
#include "testutil.h"

// ȳ·y for the step at θ from s.
static double step_dot(const dpModel *m, const double *theta, dpData *d, int t, const double *s,
                       double *so, const double *ybar) {
  dp_step(m, theta, d, t, s, so);
  double l = 0;
  for (size_t k = 0; k < d->nstate; k++) {
    l += ybar[k] * so[k];
  }
  return l;
}

static void check_step_gradient(dpIntegrator integ, int substeps, const char *what) {
  dpModel *m = tu_mixed_model(integ, substeps, 3);
  dpData *d = dp_data_new(m, 1);
  size_t ns = dp_model_nstate(m);
  double *s = malloc(ns * sizeof *s), *so = malloc(ns * sizeof *so);
  double *ybar = malloc(ns * sizeof *ybar), *sbar = calloc(ns, sizeof *sbar);
  double *th = malloc(m->ntheta * sizeof *th), *thbar = calloc(m->ntheta, sizeof *thbar);
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  dp_initial_state(m, th, s);
  tu_rng r = {(uint64_t)(17 + integ * 10 + substeps)};
  for (size_t k = 0; k < ns; k++) {
    ybar[k] = tu_uniform(&r, -1, 1);
  }
  const int t = 1;
  adj_dp_step(m, th, d, t, s, NULL, thbar, sbar, ybar);
  double l0 = fabs(step_dot(m, th, d, t, s, so, ybar));
  for (size_t k = 0; k < ns; k++) {
    if (k >= 3 * (size_t)m->np && m->pinned[(k - 3 * m->np) / 3]) {
      continue;  // a pinned particle's velocity is held at zero, not a free input
    }
    double h = 1e-6 * fmax(1.0, fabs(s[k]));
    double x = s[k];
    s[k] = x + h;
    double lp = step_dot(m, th, d, t, s, so, ybar);
    s[k] = x - h;
    double lm = step_dot(m, th, d, t, s, so, ybar);
    s[k] = x;
    TU_ASSERT_GRAD(what, (int)k, sbar[k], (lp - lm) / (2 * h), 1e-6, 1e3 * 2.2e-16 * l0 / h);
  }
  for (size_t k = 0; k < m->ntheta; k++) {
    size_t comp = 0;
    const dpParam *p = dp_param_at(m, k, &comp);
    char label[256];
    snprintf(label, sizeof label, "%s d/d%s", what, p ? p->path : "?");
    if (!isfinite(th[k])) {
      // friction_damping = INFINITY: no step possible, and the exact derivative there is 0.
      ck_assert_msg(thbar[k] == 0, "%s: adjoint %g at an infinite value", label, thbar[k]);
      continue;
    }
    double h = 1e-6 * fmax(1.0, fabs(th[k]));
    double x = th[k];
    th[k] = x + h;
    double lp = step_dot(m, th, d, t, s, so, ybar);
    th[k] = x - h;
    double lm = step_dot(m, th, d, t, s, so, ybar);
    th[k] = x;
    TU_ASSERT_GRAD(label, (int)comp, thbar[k], (lp - lm) / (2 * h), 1e-6,
                   1e3 * 2.2e-16 * l0 / h);
  }
  free(s);
  free(so);
  free(ybar);
  free(sbar);
  free(th);
  free(thbar);
  dp_data_free(d);
  dp_model_free(m);
}

// adj_dp_step dispatches to adj_substep, which is adj_euler_substep for the Euler integrators
// and adj_rk4_substep (built on adj_rk4_slope) for RK4; each is checked here with one and
// several substeps.
START_TEST(test_step_explicit_euler) {
  check_step_gradient(DP_EXPLICIT_EULER, 1, "explicit_euler");
  check_step_gradient(DP_EXPLICIT_EULER, 3, "explicit_euler/3 substeps");
}
END_TEST

START_TEST(test_step_semi_implicit_euler) {
  check_step_gradient(DP_SEMI_IMPLICIT_EULER, 1, "semi_implicit_euler");
  check_step_gradient(DP_SEMI_IMPLICIT_EULER, 4, "semi_implicit_euler/4 substeps");
}
END_TEST

START_TEST(test_step_rk4) {
  check_step_gradient(DP_RK4, 1, "rk4");
  check_step_gradient(DP_RK4, 2, "rk4/2 substeps");
}
END_TEST

// The force stage on its own: adj_dp_forces against differences of ȳ·f.
START_TEST(test_forces_gradient) {
  dpModel *m = tu_mixed_model(DP_SEMI_IMPLICIT_EULER, 1, 2);
  size_t n3 = 3 * (size_t)m->np, ns = 2 * n3;
  double *s = malloc(ns * sizeof *s), *f = malloc(n3 * sizeof *f);
  double *fb = malloc(n3 * sizeof *fb), *sb = calloc(ns, sizeof *sb);
  double *thb = calloc(m->ntheta, sizeof *thb);
  dp_initial_state(m, m->theta0, s);
  tu_rng r = {8};
  for (size_t k = 0; k < n3; k++) {
    fb[k] = tu_uniform(&r, -1, 1);
  }
  adj_dp_forces(m, m->theta0, 1, s, s + n3, thb, sb, sb + n3, fb);
  for (size_t k = 0; k < ns; k++) {
    double h = 1e-6, x = s[k], lp = 0, lm = 0;
    s[k] = x + h;
    dp_forces(m, m->theta0, 1, s, s + n3, f);
    for (size_t j = 0; j < n3; j++) {
      lp += fb[j] * f[j];
    }
    s[k] = x - h;
    dp_forces(m, m->theta0, 1, s, s + n3, f);
    for (size_t j = 0; j < n3; j++) {
      lm += fb[j] * f[j];
    }
    s[k] = x;
    TU_ASSERT_GRAD("adj_dp_forces d/ds", (int)k, sb[k], (lp - lm) / (2 * h), 1e-6, 1e-6);
  }
  free(s);
  free(f);
  free(fb);
  free(sb);
  free(thb);
  dp_model_free(m);
}
END_TEST

// The initial state s0 = [x0 | v0] from θ (pinned velocities held at zero): adj_dp_initial_state
// against central differences of ȳ·s0 over every θ component.
START_TEST(test_initial_state_gradient) {
  dpModel *m = tu_mixed_model(DP_RK4, 1, 2);
  size_t ns = dp_model_nstate(m);
  double *s = malloc(ns * sizeof *s), *yb = malloc(ns * sizeof *yb);
  double *th = malloc(m->ntheta * sizeof *th), *thb = calloc(m->ntheta, sizeof *thb);
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  tu_rng r = {21};
  for (size_t k = 0; k < ns; k++) {
    yb[k] = tu_uniform(&r, -1, 1);
  }
  adj_dp_initial_state(m, th, thb, yb);
  for (size_t k = 0; k < m->ntheta; k++) {
    double x = th[k], lp = 0, lm = 0;
    th[k] = x + 1e-3;
    dp_initial_state(m, th, s);
    for (size_t j = 0; j < ns; j++) {
      lp += yb[j] * s[j];
    }
    th[k] = x - 1e-3;
    dp_initial_state(m, th, s);
    for (size_t j = 0; j < ns; j++) {
      lm += yb[j] * s[j];
    }
    th[k] = x;
    TU_ASSERT_GRAD("adj_dp_initial_state", (int)k, thb[k], (lp - lm) / 2e-3, 1e-12, 1e-12);
  }
  // A pinned particle's velocity does not move the state.
  int pin = dp_model_find_particle(m, "pin");
  ck_assert(thb[m->off.v0 + 3 * (size_t)pin] == 0.0);
  free(s);
  free(yb);
  free(th);
  free(thb);
  dp_model_free(m);
}
END_TEST

// Adjoints accumulate: a second call doubles every adjoint.
START_TEST(test_step_adjoint_accumulates) {
  dpModel *m = tu_mixed_model(DP_RK4, 2, 2);
  dpData *d = dp_data_new(m, 1);
  size_t ns = dp_model_nstate(m);
  double *s = malloc(ns * sizeof *s), *yb = malloc(ns * sizeof *yb);
  double *sb1 = calloc(ns, sizeof *sb1), *sb2 = calloc(ns, sizeof *sb2);
  double *tb1 = calloc(m->ntheta, sizeof *tb1), *tb2 = calloc(m->ntheta, sizeof *tb2);
  dp_initial_state(m, m->theta0, s);
  for (size_t k = 0; k < ns; k++) {
    yb[k] = 0.1 * (double)(k % 7) - 0.3;
  }
  adj_dp_step(m, m->theta0, d, 0, s, NULL, tb1, sb1, yb);
  adj_dp_step(m, m->theta0, d, 0, s, NULL, tb2, sb2, yb);
  adj_dp_step(m, m->theta0, d, 0, s, NULL, tb2, sb2, yb);
  for (size_t k = 0; k < ns; k++) {
    ck_assert_double_eq_tol(sb2[k], 2 * sb1[k], 1e-12 * (1 + fabs(sb1[k])));
  }
  for (size_t k = 0; k < m->ntheta; k++) {
    ck_assert_double_eq_tol(tb2[k], 2 * tb1[k], 1e-12 * (1 + fabs(tb1[k])));
  }
  free(s);
  free(yb);
  free(sb1);
  free(sb2);
  free(tb1);
  free(tb2);
  dp_data_free(d);
  dp_model_free(m);
}
END_TEST

// B environments stepped together equal B single steps (the batch layout).
START_TEST(test_step_batch) {
  dpModel *m = tu_mixed_model(DP_SEMI_IMPLICIT_EULER, 1, 2);
  const int B = 3;
  dpData *d = dp_data_new(m, B);
  size_t ns = dp_model_nstate(m), nt = m->ntheta;
  double *th = malloc((size_t)B * nt * sizeof *th);
  double *sin = malloc((size_t)B * ns * sizeof *sin), *sout = malloc((size_t)B * ns * sizeof *sout);
  double *one = malloc(ns * sizeof *one);
  for (int b = 0; b < B; b++) {
    memcpy(th + (size_t)b * nt, m->theta0, nt * sizeof *th);
    th[(size_t)b * nt + m->off.gravity + 2] = -9.81 * (1 + b);
    dp_initial_state(m, th + (size_t)b * nt, sin + (size_t)b * ns);
  }
  dp_step_batch(m, th, nt, d, 0, sin, sout);
  for (int b = 0; b < B; b++) {
    dp_step(m, th + (size_t)b * nt, d, 0, sin + (size_t)b * ns, one);
    ck_assert_int_eq(memcmp(one, sout + (size_t)b * ns, ns * sizeof *one), 0);
  }
  ck_assert(sout[2] != sout[ns + 2]);
  free(th);
  free(sin);
  free(sout);
  free(one);
  dp_data_free(d);
  dp_model_free(m);
}
END_TEST

START_TEST(test_state_check_names_particle) {
  dpModel *m = tu_mixed_model(DP_SEMI_IMPLICIT_EULER, 1, 2);
  size_t ns = dp_model_nstate(m);
  double *s = calloc(ns, sizeof *s);
  dpError err = {0};
  ck_assert_int_eq(dp_state_check(m, 7, s, &err), DP_OK);
  s[3 * m->np + 3 * 3 + 2] = NAN;
  ck_assert_int_eq(dp_state_check(m, 7, s, &err), DP_ERR_DIVERGED);
  ck_assert_msg(strstr(err.message, "step 7") && strstr(err.message, "'c'") &&
                    strstr(err.message, "velocity"),
                "%s", err.message);
  free(s);
  dp_model_free(m);
}
END_TEST

Suite *make_step_suite(void) {
  Suite *s = suite_create("step");
  TCase *tc = tcase_create("adjoint");
  tcase_add_test(tc, test_forces_gradient);
  tcase_add_test(tc, test_step_explicit_euler);
  tcase_add_test(tc, test_step_semi_implicit_euler);
  tcase_add_test(tc, test_step_rk4);
  tcase_add_test(tc, test_step_adjoint_accumulates);
  tcase_add_test(tc, test_initial_state_gradient);
  tcase_add_test(tc, test_step_batch);
  tcase_add_test(tc, test_state_check_names_particle);
  suite_add_tcase(s, tc);
  return s;
}
