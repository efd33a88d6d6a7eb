// The core: error records (first error wins, positions), status names, and the allocator hook
// that lets a test fail the Nth allocation of a whole model build and rollout.
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "dp/dp.h"
#include "testutil.h"

START_TEST(test_error_first_wins) {
  dpError err = {0};
  ck_assert_int_eq(dp_error_set(&err, DP_ERR_INVALID, "a.yaml", 3, 7, "bad '%s'", "x"),
                   DP_ERR_INVALID);
  ck_assert_int_eq(dp_error_set(&err, DP_ERR_IO, "b.yaml", 1, 1, "second"), DP_ERR_IO);
  ck_assert_int_eq(err.code, DP_ERR_INVALID);
  ck_assert_str_eq(err.message, "bad 'x'");
  ck_assert_str_eq(err.file, "a.yaml");
  ck_assert_int_eq(err.line, 3);
  ck_assert_int_eq(err.column, 7);
  dp_error_clear(&err);
  ck_assert_int_eq(err.code, DP_OK);
  ck_assert_int_eq(dp_error_set(NULL, DP_ERR_NOMEM, NULL, 0, 0, "x"), DP_ERR_NOMEM);
}
END_TEST

START_TEST(test_status_strings) {
  ck_assert_str_eq(dp_status_string(DP_OK), "ok");
  ck_assert_str_eq(dp_status_string(DP_ERR_DIVERGED), "simulation diverged");
  ck_assert_str_eq(dp_status_string(DP_ERR_NO_CUDA), "cuda not available");
}
END_TEST

// Load the bounce scene and loss and take one gradient; returns the status.
static dpStatus scene_gradient(void) {
  dpError err = {0};
  dpModel *m = NULL;
  dpLoss *loss = NULL;
  double *g = NULL, L = 0;
  dpStatus st = dp_scene_load("scenes/bounce.yaml", NULL, 0, &m, &err);
  if (st == DP_OK) {
    st = dp_loss_load("scenes/bounce.json", m, &loss, &err);
  }
  if (st == DP_OK) {
    g = malloc(m->ntheta * sizeof *g);
    st = dp_value_and_grad(m, DP_DEVICE_CPU, 0, m->theta0, loss, &L, g, &err);
  }
  if (st != DP_OK) {
    ck_assert_msg(err.code == st && err.message[0] != '\0', "status %d without a message", st);
  }
  free(g);
  dp_loss_free(loss);
  dp_model_free(m);
  return st;
}

START_TEST(test_every_allocation_failure) {
  // Count the allocations of a full load + gradient, then fail each in turn: every failure
  // returns an error with a message (ASan in make check-asan proves nothing leaks).
  tu_fail_alloc f = {0, -1, 0};
  dp_set_allocator(tu_failing_alloc, &f);
  ck_assert_int_eq(scene_gradient(), DP_OK);
  long total = f.count;
  ck_assert_int_gt(total, 5);
  for (long n = 1; n <= total; n++) {
    f.count = 0;
    f.fail_at = n;
    dpStatus st = scene_gradient();
    ck_assert_msg(st != DP_OK, "allocation %ld of %ld failed silently", n, total);
  }
  dp_set_allocator(NULL, NULL);
}
END_TEST

Suite *make_core_suite(void) {
  Suite *s = suite_create("core");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_error_first_wins);
  tcase_add_test(tc, test_status_strings);
  tcase_add_test(tc, test_every_allocation_failure);
  suite_add_tcase(s, tc);
  return s;
}
