// Runs every Check suite. CK_RUN_SUITE / CK_RUN_CASE / CK_INCLUDE_TAGS / CK_EXCLUDE_TAGS filter
// as usual (tags: slow, cuda).
#include <stdio.h>
#include <stdlib.h>

#include "check_suites.h"

// While modules land one by one a suite may be missing; it is then reported, not silently run.
#pragma weak make_core_suite
#pragma weak make_model_suite
#pragma weak make_kernels_suite
#pragma weak make_step_suite
#pragma weak make_rollout_suite
#pragma weak make_physics_suite
#pragma weak make_io_npz_suite
#pragma weak make_io_scene_suite
#pragma weak make_loss_suite
#pragma weak make_cuda_suite

typedef Suite *(*suite_fn)(void);

int main(void) {
  suite_fn suites[] = {
      make_core_suite,   make_model_suite, make_kernels_suite,  make_step_suite,
      make_rollout_suite, make_physics_suite, make_io_npz_suite, make_io_scene_suite,
      make_loss_suite,   make_cuda_suite,
  };
  SRunner *sr = srunner_create(NULL);
  for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
    if (suites[i] == NULL) {
      fprintf(stderr, "check_main: suite %zu not linked\n", i);
      continue;
    }
    srunner_add_suite(sr, suites[i]());
  }
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
