// Optimization problems (lib/opt_problem.c): selection from the scene's parameters: list or
// --wrt, bounds and log scale, the objective's gradient in z against central differences, and
// a whole fit through the optimizer.
#include <math.h>
#include <string.h>

#include "check_suites.h"
#include "dp/dp.h"
#include "testutil.h"

static const char *scene_text =
    "name: p\n"
    "dt: 0.01\n"
    "steps: 100\n"
    "integrator: rk4\n"
    "particles:\n"
    "  ball: {mass: 0.5, position: [0, 0, 1], velocity: [10, 0, 8], quadratic_drag: 0.01}\n"
    "springs:\n"
    "  s: {a: ball, anchor: [0, 0, 2], stiffness: 3, damping: 0.1, rest_length: 1}\n"
    "parameters:\n"
    "  - {path: particles.ball.mass, lower: 0.1, upper: 10, scale: log}\n"
    "  - {path: particles.ball.velocity, lower: -50, upper: 50}\n"
    "  - {path: springs.s.stiffness, scale: log}\n";

static const char *loss_text =
    "{\"terms\": [{\"type\": \"position\", \"particle\": \"ball\", \"step\": \"end\", "
    "\"target\": [5, 1, 2]}]}";

static void load(dpModel **m, dpLoss **loss) {
  dpError err = {0};
  ck_assert_msg(dp_scene_parse(scene_text, strlen(scene_text), "p.yaml", NULL, 0, m, &err) ==
                    DP_OK,
                "%s", err.message);
  ck_assert_msg(dp_loss_parse(loss_text, "p.json", *m, loss, &err) == DP_OK, "%s", err.message);
}

START_TEST(test_problem_selection_and_bounds) {
  dpModel *m = NULL;
  dpLoss *loss = NULL;
  dpProblem *p = NULL;
  dpError err = {0};
  load(&m, &loss);
  ck_assert_int_eq(dp_problem_new(m, loss, NULL, 0, DP_DEVICE_CPU, 0, &p, &err), DP_OK);
  ck_assert_uint_eq(p->n, 5);
  ck_assert_str_eq(p->name[0], "particles.ball.mass");
  ck_assert_str_eq(p->name[2], "particles.ball.velocity[1]");
  ck_assert_str_eq(p->name[4], "springs.s.stiffness");
  ck_assert(p->log[0] && !p->log[1] && p->log[4]);
  ck_assert_double_eq_tol(p->lower[0], log(0.1), 1e-15);
  ck_assert_double_eq_tol(p->upper[0], log(10.0), 1e-15);
  ck_assert_double_eq(p->lower[1], -50);
  // stiffness: no bounds in the list; its admissible range [0, inf) becomes (-inf, inf) in log.
  ck_assert(isinf(p->lower[4]) && p->lower[4] < 0 && isinf(p->upper[4]));
  double z[5], th[64];
  ck_assert_uint_le(m->ntheta, 64);
  dp_problem_to_z(p, m->theta0, z);
  ck_assert_double_eq_tol(z[0], log(0.5), 1e-15);
  ck_assert_double_eq(z[1], 10);
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  z[0] = log(2.0);
  dp_problem_to_theta(p, z, th);
  ck_assert_double_eq_tol(th[m->off.mass], 2.0, 1e-15);
  dp_problem_free(p);
  p = NULL;

  // --wrt: a pattern equal to a list entry takes its scale; another is linear with its range.
  const char *wrt[] = {"springs.s.stiffness", "springs.s.damping", "springs.s.stiffness"};
  ck_assert_int_eq(dp_problem_new(m, loss, wrt, 3, DP_DEVICE_CPU, 0, &p, &err), DP_OK);
  ck_assert_uint_eq(p->n, 2);
  ck_assert(p->log[0] && !p->log[1]);
  ck_assert_double_eq(p->lower[1], 0);
  dp_problem_free(p);
  p = NULL;

  const char *bad[] = {"springs.s.stifness"};
  ck_assert_int_eq(dp_problem_new(m, loss, bad, 1, DP_DEVICE_CPU, 0, &p, &err), DP_ERR_INVALID);
  ck_assert_msg(strstr(err.message, "springs.s.stiffness") != NULL, "%s", err.message);
  ck_assert_ptr_null(p);
  dp_loss_free(loss);
  dp_model_free(m);
}
END_TEST

// ∂L/∂z by the adjoint against central differences in z, for log and linear variables.
START_TEST(test_problem_gradient) {
  dpModel *m = NULL;
  dpLoss *loss = NULL;
  dpProblem *p = NULL;
  dpError err = {0};
  load(&m, &loss);
  ck_assert_int_eq(dp_problem_new(m, loss, NULL, 0, DP_DEVICE_CPU, 0, &p, &err), DP_OK);
  double z[5], g[5], gd[5], f = 0, fp = 0, fm = 0;
  dp_problem_to_z(p, m->theta0, z);
  ck_assert_int_eq(dp_problem_eval(p, z, &f, g, &err), DP_OK);
  ck_assert(!p->diverged && isfinite(f) && f > 0);
  for (size_t i = 0; i < p->n; i++) {
    double h = 1e-5 * fmax(1.0, fabs(z[i])), zi = z[i];
    z[i] = zi + h;
    ck_assert_int_eq(dp_problem_eval(p, z, &fp, gd, &err), DP_OK);
    z[i] = zi - h;
    ck_assert_int_eq(dp_problem_eval(p, z, &fm, gd, &err), DP_OK);
    z[i] = zi;
    TU_ASSERT_GRAD("dL/dz", (int)i, g[i], (fp - fm) / (2 * h), 1e-6, 1e-9);
  }
  ck_assert_int_eq(p->evals, 1 + 2 * (int)p->n);
  dp_problem_free(p);
  dp_loss_free(loss);
  dp_model_free(m);
}
END_TEST

// A diverging evaluation is reported as f = NaN with the rollout's message kept, not an error.
START_TEST(test_problem_divergence) {
  dpModel *m = NULL;
  dpLoss *loss = NULL;
  dpProblem *p = NULL;
  dpError err = {0};
  load(&m, &loss);
  const char *wrt[] = {"springs.s.stiffness"};
  ck_assert_int_eq(dp_problem_new(m, loss, wrt, 1, DP_DEVICE_CPU, 0, &p, &err), DP_OK);
  double z = log(1e12), f = 0, g = 1;
  ck_assert_int_eq(dp_problem_eval(p, &z, &f, &g, &err), DP_OK);
  ck_assert(isnan(f) && g == 0 && p->diverged);
  ck_assert_int_eq(p->diverge_err.code, DP_ERR_DIVERGED);
  ck_assert_msg(strstr(p->diverge_err.message, "ball") != NULL, "%s", p->diverge_err.message);
  ck_assert_int_eq(err.code, DP_OK);
  dp_problem_free(p);
  dp_loss_free(loss);
  dp_model_free(m);
}
END_TEST

// The projectile-style fit through L-BFGS: the loss reaches round-off.
START_TEST(test_problem_fit) {
  dpModel *m = NULL;
  dpLoss *loss = NULL;
  dpProblem *p = NULL;
  dpOptimizer *o = NULL;
  dpError err = {0};
  load(&m, &loss);
  const char *wrt[] = {"particles.ball.velocity"};
  ck_assert_int_eq(dp_problem_new(m, loss, wrt, 1, DP_DEVICE_CPU, 0, &p, &err), DP_OK);
  dpOptOptions opt = dp_default_opt_options(DP_OPT_LBFGS);
  ck_assert_int_eq(dp_opt_new((int)p->n, p->lower, p->upper, &opt, &o, &err), DP_OK);
  double z[3];
  dp_problem_to_z(p, m->theta0, z);
  ck_assert_int_eq(dp_opt_start(o, dp_problem_eval, p, z, &err), DP_OK);
  while (dp_opt_stop(o) == DP_STOP_NONE) {
    ck_assert_int_eq(dp_opt_iterate(o, dp_problem_eval, p, &err), DP_OK);
  }
  ck_assert_msg(dp_opt_best_f(o) < 1e-16, "loss %g after %d iterations (%s)", dp_opt_best_f(o),
                dp_opt_iter(o), dp_opt_stop_name(dp_opt_stop(o)));
  ck_assert_int_le(dp_opt_iter(o), 40);
  dp_opt_free(o);
  dp_problem_free(p);
  dp_loss_free(loss);
  dp_model_free(m);
}
END_TEST

Suite *make_opt_problem_suite(void) {
  Suite *s = suite_create("opt_problem");
  TCase *tc = tcase_create("problem");
  tcase_add_test(tc, test_problem_selection_and_bounds);
  tcase_add_test(tc, test_problem_gradient);
  tcase_add_test(tc, test_problem_divergence);
  tcase_add_test(tc, test_problem_fit);
  suite_add_tcase(s, tc);
  return s;
}
