// Whole-rollout gradient checks (the backward sweep drives each backend's adj_step and
// adj_initial_state through dpBackendOps): every scene in scenes/ with its loss, under each integrator,
// adjoint against central differences (Richardson-extrapolated) on every component of the small
// parameters and a seeded sample of the large ones; checkpointing gives the same gradient for
// every interval, and its memory grows like √T.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "dp/dp.h"
#include "testutil.h"

static double fd_loss(const dpModel *m, const dpLoss *loss, double *th, size_t ix, double h) {
  double d[2];
  double x = th[ix];
  for (int r = 0; r < 2; r++) {
    double hr = r == 0 ? h : 0.5 * h, lp = 0, lm = 0;
    th[ix] = x + hr;
    ck_assert_int_eq(dp_value(m, th, loss, &lp, NULL), DP_OK);
    th[ix] = x - hr;
    ck_assert_int_eq(dp_value(m, th, loss, &lm, NULL), DP_OK);
    d[r] = (lp - lm) / (2 * hr);
  }
  th[ix] = x;
  return (4 * d[1] - d[0]) / 3;
}

// Check the gradient of `scene` + `loss` with integrator `integ` on up to `max_per_entry`
// components of every θ entry group (all entries for small models).
static void check_scene(const char *scene, const char *lossfile, const char *integ,
                        const char **sets_extra, int nextra, double tol, int max_checks) {
  const char *sets[8];
  int nsets = 0;
  char iset[64];
  snprintf(iset, sizeof iset, "integrator=%s", integ);
  sets[nsets++] = iset;
  for (int i = 0; i < nextra; i++) {
    sets[nsets++] = sets_extra[i];
  }
  dpError err = {0};
  dpModel *m = NULL;
  dpLoss *loss = NULL;
  ck_assert_msg(dp_scene_load(scene, sets, nsets, &m, &err) == DP_OK, "%s: %s", scene,
                err.message);
  ck_assert_msg(dp_loss_load(lossfile, m, &loss, &err) == DP_OK, "%s: %s", lossfile,
                err.message);
  double *th = malloc(m->ntheta * sizeof *th), *g = malloc(m->ntheta * sizeof *g);
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  double L = 0;
  ck_assert_int_eq(dp_value_and_grad(m, DP_DEVICE_CPU, 0, th, loss, &L, g, &err), DP_OK);
  double gmax = 0;
  for (size_t k = 0; k < m->ntheta; k++) {
    gmax = fmax(gmax, fabs(g[k]));
  }
  ck_assert_msg(gmax > 0, "%s: zero gradient", scene);
  // Indices to check: stride through θ so that every entry kind is visited.
  size_t stride = m->ntheta <= (size_t)max_checks ? 1 : m->ntheta / (size_t)max_checks;
  tu_rng r = {0xC0FFEE};
  size_t start = stride > 1 ? (size_t)tu_uniform(&r, 0, (double)stride) : 0;
  for (size_t k = start; k < m->ntheta; k += stride) {
    size_t comp = 0;
    const dpParam *p = dp_param_at(m, k, &comp);
    if (!isfinite(th[k])) {
      // friction_damping = INFINITY cannot be stepped; the exact derivative there is 0.
      ck_assert_msg(g[k] == 0, "%s: d/d%s = %g at an infinite value", scene, p ? p->path : "?",
                    g[k]);
      continue;
    }
    double size = 0;
    for (size_t j = 0; p != NULL && j < p->len && j < 3; j++) {
      size = fmax(size, fabs(th[p->offset + j]));
    }
    double h = 1e-5 * fmax(size, 1e-2);
    double fd = fd_loss(m, loss, th, k, h);
    char label[256];
    snprintf(label, sizeof label, "%s [%s] d/d%s", scene, integ, p ? p->path : "?");
    TU_ASSERT_GRAD(label, (int)comp, g[k], fd, tol, 1e-7 * gmax + 1e-9 * fabs(L));
  }
  free(th);
  free(g);
  dp_loss_free(loss);
  dp_model_free(m);
}

static const char *integrators[3] = {"explicit_euler", "semi_implicit_euler", "rk4"};

START_TEST(test_rollout_projectile) {
  for (int i = 0; i < 3; i++) {
    check_scene("scenes/projectile.yaml", "scenes/projectile.json", integrators[i], NULL, 0,
                1e-6, 64);
  }
}
END_TEST

START_TEST(test_rollout_oscillator) {
  for (int i = 0; i < 3; i++) {
    check_scene("scenes/oscillator.yaml", "scenes/oscillator.json", integrators[i], NULL, 0,
                1e-6, 64);
  }
}
END_TEST

START_TEST(test_rollout_bounce) {
  // Stiff contact (k = 1e4, w = 1 mm): the differences are noisier, hence 1e-4.
  for (int i = 0; i < 3; i++) {
    check_scene("scenes/bounce.yaml", "scenes/bounce.json", integrators[i], NULL, 0, 1e-4, 64);
  }
}
END_TEST

START_TEST(test_rollout_spring_cage) {
  for (int i = 0; i < 3; i++) {
    check_scene("scenes/spring_cage.yaml", "scenes/spring_cage.json", integrators[i], NULL, 0,
                1e-6, 64);
  }
}
END_TEST

START_TEST(test_rollout_cloth) {
  const char *sets[2] = {"cloth.sheet.n=5", "steps=60"};
  for (int i = 0; i < 3; i++) {
    check_scene("scenes/cloth.yaml", "scenes/cloth.json", integrators[i], sets, 2, 1e-5, 40);
  }
}
END_TEST

// The gradient does not depend on the checkpoint interval (same operations, same order).
START_TEST(test_checkpoint_invariance) {
  dpError err = {0};
  dpModel *m = NULL;
  dpLoss *loss = NULL;
  const char *sets[2] = {"cloth.sheet.n=4", "steps=97"};
  ck_assert_int_eq(dp_scene_load("scenes/cloth.yaml", sets, 2, &m, &err), DP_OK);
  ck_assert_int_eq(dp_loss_load("scenes/cloth.json", m, &loss, &err), DP_OK);
  double *g1 = malloc(m->ntheta * sizeof *g1), *g2 = malloc(m->ntheta * sizeof *g2);
  double L1 = 0, L2 = 0;
  ck_assert_int_eq(dp_value_and_grad(m, DP_DEVICE_CPU, 1, m->theta0, loss, &L1, g1, &err),
                   DP_OK);
  const int ks[4] = {0, 7, 50, 97};
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(dp_value_and_grad(m, DP_DEVICE_CPU, ks[i], m->theta0, loss, &L2, g2, &err),
                     DP_OK);
    ck_assert(L1 == L2);
    ck_assert_msg(memcmp(g1, g2, m->ntheta * sizeof *g1) == 0,
                  "gradient differs with checkpoint interval %d", ks[i]);
  }
  free(g1);
  free(g2);
  dp_loss_free(loss);
  dp_model_free(m);
}
END_TEST

// Checkpoint memory grows like √T: 100× the steps costs about 10× the state storage.
START_TEST(test_checkpoint_memory_sqrt) {
  dpError err = {0};
  size_t bytes[2];
  const char *steps[2] = {"steps=1000", "steps=100000"};
  for (int i = 0; i < 2; i++) {
    const char *sets[2] = {"cloth.sheet.n=8", steps[i]};
    dpModel *m = NULL;
    ck_assert_int_eq(dp_scene_load("scenes/cloth.yaml", sets, 2, &m, &err), DP_OK);
    dpRollout *r = NULL;
    ck_assert_int_eq(dp_rollout_new(m, DP_DEVICE_CPU, 0, &r, &err), DP_OK);
    bytes[i] = dp_rollout_bytes(r);
    ck_assert_int_eq(dp_rollout_checkpoint_every(r), (int)ceil(sqrt((double)m->steps)));
    dp_rollout_free(r);
    dp_model_free(m);
  }
  double ratio = (double)bytes[1] / (double)bytes[0];
  ck_assert_msg(ratio > 8 && ratio < 12, "memory ratio %.2f for 100x steps", ratio);
}
END_TEST

START_TEST(test_backward_without_forward) {
  dpError err = {0};
  dpModel *m = NULL;
  ck_assert_int_eq(dp_scene_load("scenes/projectile.yaml", NULL, 0, &m, &err), DP_OK);
  dpRollout *r = NULL;
  ck_assert_int_eq(dp_rollout_new(m, DP_DEVICE_CPU, 0, &r, &err), DP_OK);
  double *g = calloc(m->ntheta, sizeof *g);
  ck_assert_int_eq(dp_rollout_backward(r, m->theta0, NULL, g, &err), DP_ERR_INVALID);
  free(g);
  dp_rollout_free(r);
  dp_model_free(m);
}
END_TEST

Suite *make_rollout_suite(void) {
  Suite *s = suite_create("rollout");
  TCase *tc = tcase_create("gradient");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_rollout_projectile);
  tcase_add_test(tc, test_rollout_oscillator);
  tcase_add_test(tc, test_rollout_bounce);
  tcase_add_test(tc, test_rollout_spring_cage);
  tcase_add_test(tc, test_rollout_cloth);
  tcase_add_test(tc, test_checkpoint_invariance);
  tcase_add_test(tc, test_checkpoint_memory_sqrt);
  tcase_add_test(tc, test_backward_without_forward);
  suite_add_tcase(s, tc);
  return s;
}
