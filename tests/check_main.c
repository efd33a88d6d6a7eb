// Runs every Check suite. CK_RUN_SUITE / CK_RUN_CASE / CK_INCLUDE_TAGS / CK_EXCLUDE_TAGS filter
// as usual (tags: slow, cuda).
#include <stdlib.h>

#include "check_suites.h"


typedef Suite *(*suite_fn)(void);

int main(void) {
  suite_fn suites[] = {
      make_core_suite,   make_model_suite, make_kernels_suite,  make_step_suite,
      make_rollout_suite, make_physics_suite, make_io_npz_suite, make_io_scene_suite,
      make_loss_suite,   make_cuda_suite,
      make_io_scene_write_suite,
      make_io_csv_suite,
      make_opt_suite,
      make_opt_problem_suite,
      make_render_suite,
      make_rb_suite,
      make_rb_collide_suite,
      make_rb_model_suite,
      make_fem_kern_suite,
      make_cloth_kern_suite,
      make_io_mesh_suite,
      make_fem_suite,
  };
  SRunner *sr = srunner_create(NULL);
  for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
    srunner_add_suite(sr, suites[i]());
  }
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
