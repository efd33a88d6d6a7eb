// The model builder and the parameter block: θ layout and values, named entries, selections
// with wildcards and their shapes, suggestions, and validation errors.
#include <math.h>
#include <string.h>

#include "check_suites.h"
#include "dp/dp.h"
#include "testutil.h"

static dpModel *two_particles(void) {
  dpError err = {0};
  dpModel *m = dp_model_new();
  m->steps = 4;
  dpParticleDef p = dp_default_particle_def();
  p.mass = 2.0;
  p.position[2] = 1.0;
  ck_assert_int_eq(dp_model_add_particle(m, "ball", &p, &err), 0);
  p.mass = 3.0;
  p.position[0] = 1.0;
  ck_assert_int_eq(dp_model_add_particle(m, "bob", &p, &err), 1);
  dpSpringDef s = dp_default_spring_def();
  s.a = 0;
  s.b = 1;
  s.stiffness = 5;
  ck_assert_int_eq(dp_model_add_spring(m, "s0", &s, &err), 0);
  s.b = -1;
  s.anchor[2] = 3.0;
  ck_assert_int_eq(dp_model_add_spring(m, "s1", &s, &err), 1);
  dpColliderDef g = dp_default_collider_def(DP_COLLIDER_GROUND);
  ck_assert_int_eq(dp_model_add_collider(m, "ground", &g, &err), 0);
  int up[1] = {1};
  ck_assert_int_eq(dp_model_set_controls(m, 1, up, NULL, &err), DP_OK);
  ck_assert_msg(dp_model_finalize(m, &err) == DP_OK, "%s", err.message);
  return m;
}

START_TEST(test_theta_layout) {
  dpModel *m = two_particles();
  ck_assert_double_eq(m->theta0[m->off.mass + 1], 3.0);
  ck_assert_double_eq(m->theta0[m->off.gravity + 2], -9.81);
  // rest length defaults to the initial distance: |(1,0,1) - (0,0,1)| = 1; anchor (0,0,3) to
  // (0,0,1) = 2
  ck_assert_double_eq_tol(m->theta0[m->off.rest], 1.0, 1e-15);
  ck_assert_double_eq_tol(m->theta0[m->off.rest + 1], 2.0, 1e-15);
  ck_assert_uint_eq(m->ntheta, m->off.controls + 4 * 1 * 3);
  ck_assert_uint_eq(dp_model_nstate(m), 12);
  ck_assert_int_eq(dp_model_find_particle(m, "bob"), 1);
  ck_assert_int_eq(dp_model_find_particle(m, "nobody"), -1);
  dp_model_free(m);
}
END_TEST

START_TEST(test_selection_shapes) {
  dpModel *m = two_particles();
  dpSelection s;
  dpError err = {0};
  ck_assert_int_eq(dp_param_select(m, "particles.ball.mass", &s, &err), DP_OK);
  ck_assert_int_eq(s.ndim, 0);
  ck_assert_uint_eq(s.n, 1);
  ck_assert_uint_eq(s.index[0], m->off.mass);
  dp_selection_free(&s);
  ck_assert_int_eq(dp_param_select(m, "particles.*.position", &s, &err), DP_OK);
  ck_assert_int_eq(s.ndim, 2);
  ck_assert_uint_eq(s.shape[0], 2);
  ck_assert_uint_eq(s.shape[1], 3);
  ck_assert_uint_eq(s.index[3], m->off.x0 + 3);
  dp_selection_free(&s);
  ck_assert_int_eq(dp_param_select(m, "springs.*.stiffness", &s, &err), DP_OK);
  ck_assert_uint_eq(s.n, 2);
  dp_selection_free(&s);
  // Only the anchored spring has an anchor entry.
  ck_assert_int_eq(dp_param_select(m, "springs.*.anchor", &s, &err), DP_OK);
  ck_assert_uint_eq(s.n, 3);
  ck_assert_uint_eq(s.index[0], m->off.anchor + 3);
  dp_selection_free(&s);
  ck_assert_int_eq(dp_param_select(m, "controls", &s, &err), DP_OK);
  ck_assert_int_eq(s.ndim, 3);
  ck_assert_uint_eq(s.shape[0], 4);
  ck_assert_uint_eq(s.shape[1], 1);
  dp_selection_free(&s);
  ck_assert_int_eq(dp_param_select(m, "particles.ball.*", &s, &err), DP_OK);
  ck_assert_uint_eq(s.n, 1 + 3 + 3 + 1 + 1 + 3 + 1);  // mass … force, radius
  ck_assert_int_eq(s.ndim, 1);
  dp_selection_free(&s);
  size_t comp = 9;
  const dpParam *p = dp_param_at(m, m->off.v0 + 4, &comp);
  ck_assert_str_eq(p->path, "particles.bob.velocity");
  ck_assert_uint_eq(comp, 1);
  dp_model_free(m);
}
END_TEST

START_TEST(test_selection_suggests) {
  dpModel *m = two_particles();
  dpSelection s;
  dpError err = {0};
  ck_assert_int_eq(dp_param_select(m, "particles.ball.mas", &s, &err), DP_ERR_INVALID);
  ck_assert_msg(strstr(err.message, "did you mean 'particles.ball.mass'") != NULL, "%s",
                err.message);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_param_select(m, "zzzzzzzzzzzz", &s, &err), DP_ERR_INVALID);
  ck_assert(strstr(err.message, "did you mean") == NULL);
  ck_assert_str_eq(dp_param_suggest(m, "ground.frction"), "ground.friction");
  dp_model_free(m);
}
END_TEST

START_TEST(test_builder_rejects) {
  dpError err = {0};
  dpModel *m = dp_model_new();
  dpParticleDef p = dp_default_particle_def();
  ck_assert_int_eq(dp_model_add_particle(m, "a.b", &p, &err), -1);
  ck_assert(strstr(err.message, "invalid particle name") != NULL);
  dp_error_clear(&err);
  ck_assert_int_eq(dp_model_add_particle(m, "a", &p, &err), 0);
  ck_assert_int_eq(dp_model_add_particle(m, "a", &p, &err), -1);
  ck_assert(strstr(err.message, "duplicate particle name 'a'") != NULL);
  dp_error_clear(&err);
  p.mass = -1;
  ck_assert_int_eq(dp_model_add_particle(m, "neg", &p, &err), 1);
  ck_assert_int_eq(dp_model_finalize(m, &err), DP_ERR_INVALID);
  ck_assert_msg(strstr(err.message, "'mass' must be > 0") != NULL, "%s", err.message);
  dp_model_free(m);

  m = dp_model_new();
  p.mass = 1;
  dp_model_add_particle(m, "a", &p, &err);
  dpSpringDef s = dp_default_spring_def();
  s.a = 0;
  s.b = 5;
  dp_error_clear(&err);
  dp_model_add_spring(m, "s", &s, &err);
  ck_assert_int_eq(dp_model_finalize(m, &err), DP_ERR_INVALID);
  ck_assert(strstr(err.message, "spring 's'") != NULL);
  dp_model_free(m);
}
END_TEST

// The sixth contact constant: friction_damping, INFINITY by default, an entry of range [0, inf]
// after friction_smoothing; finite values and 0 accepted, negative values and NaN rejected.
START_TEST(test_friction_damping_entry) {
  dpModel *m = two_particles();
  dpSelection s;
  dpError err = {0};
  size_t kc = m->off.ccontact;
  double kf = m->theta0[kc + DP_C_FRICTION_DAMPING];
  ck_assert(isinf(kf) && kf > 0);
  ck_assert_int_eq(dp_param_select(m, "ground.friction_damping", &s, &err), DP_OK);
  ck_assert_uint_eq(s.n, 1);
  ck_assert_uint_eq(s.index[0], kc + DP_C_FRICTION_DAMPING);
  dp_selection_free(&s);
  size_t comp = 9;
  const dpParam *p = dp_param_at(m, kc + DP_C_FRICTION_DAMPING, &comp);
  ck_assert_ptr_nonnull(p);
  ck_assert_str_eq(p->path, "ground.friction_damping");
  ck_assert_uint_eq(comp, 0);
  ck_assert(p->lower == 0 && isinf(p->upper));
  ck_assert_uint_eq(m->ntheta, m->off.controls + 4 * 1 * 3);
  ck_assert_uint_eq(m->off.controls, kc + DP_CCONTACT);
  dp_model_free(m);
  const double values[4] = {0.0, 250.0, -1.0, NAN};
  for (int i = 0; i < 4; i++) {
    m = dp_model_new();
    dpParticleDef pd = dp_default_particle_def();
    dp_model_add_particle(m, "a", &pd, &err);
    dpColliderDef b = dp_default_collider_def(DP_COLLIDER_BOX);
    b.friction_damping = values[i];
    ck_assert_int_eq(dp_model_add_collider(m, "wall", &b, &err), 0);
    dpStatus st = dp_model_finalize(m, &err);
    if (i < 2) {
      ck_assert_msg(st == DP_OK, "%s", err.message);
      ck_assert_double_eq(m->theta0[m->off.ccontact + DP_C_FRICTION_DAMPING], values[i]);
      ck_assert_int_eq(dp_param_select(m, "boxes.wall.friction_damping", &s, &err), DP_OK);
      dp_selection_free(&s);
    } else {
      ck_assert_int_eq(st, DP_ERR_INVALID);
      ck_assert_msg(strstr(err.message, "collider 'wall': 'friction_damping' must be >= 0") !=
                        NULL,
                    "%s", err.message);
    }
    dp_error_clear(&err);
    dp_model_free(m);
  }
}
END_TEST

Suite *make_model_suite(void) {
  Suite *s = suite_create("model");
  TCase *tc = tcase_create("parameters");
  tcase_add_test(tc, test_theta_layout);
  tcase_add_test(tc, test_selection_shapes);
  tcase_add_test(tc, test_selection_suggests);
  tcase_add_test(tc, test_builder_rejects);
  tcase_add_test(tc, test_friction_damping_entry);
  suite_add_tcase(s, tc);
  return s;
}
