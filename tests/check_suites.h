// The Check suites of dp, one per module file (make_<module>_suite), collected by check_main.c.
#ifndef DP_CHECK_SUITES_H
#define DP_CHECK_SUITES_H

#include <check.h>

Suite *make_core_suite(void);
Suite *make_model_suite(void);
Suite *make_kernels_suite(void);
Suite *make_step_suite(void);
Suite *make_rollout_suite(void);
Suite *make_physics_suite(void);
Suite *make_io_npz_suite(void);
Suite *make_io_scene_suite(void);
Suite *make_io_scene_write_suite(void);
Suite *make_io_csv_suite(void);
Suite *make_loss_suite(void);
Suite *make_cuda_suite(void);
Suite *make_opt_suite(void);
Suite *make_opt_problem_suite(void);
Suite *make_render_suite(void);
Suite *make_rb_suite(void);
Suite *make_rb_collide_suite(void);
Suite *make_rb_model_suite(void);
Suite *make_fem_kern_suite(void);
Suite *make_cloth_kern_suite(void);
Suite *make_io_mesh_suite(void);
Suite *make_fem_suite(void);

#endif
