// Articulated bodies inside the model: whole-rollout gradient checks (actuators, limits,
// contact, every joint type, both integrators) against central differences, the validation
// cases that need the step (box sliding to rest at v²/(2μg), pendulum period), and the contact
// cases where a switch would produce NaN (touching, zero tangential velocity, onset).
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "core_text.h"
#include "dp/dp.h"
#include "phys_rb.h"
#include "testutil.h"

// ---- rollouts with a linear loss --------------------------------------------------------------

// Check every finite θ component of the entries matching pattern against central differences.
static void check_grad(const dpModel *m, const char *pattern, uint64_t seed, double tol) {
  tu_roll r;
  tu_roll_init(&r, m, seed);
  double *th = malloc(m->ntheta * sizeof *th);
  double *g = malloc(m->ntheta * sizeof *g);
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  tu_roll_grad(&r, th, g);
  int checked = 0;
  for (size_t e = 0; e < m->nparam; e++) {
    const dpParam *p = &m->param[e];
    if (!dp_path_match(pattern, p->path)) {
      continue;
    }
    for (size_t c = 0; c < p->len; c++) {
      size_t i = p->offset + c;
      double x = th[i];
      if (!isfinite(x) || !isfinite(g[i])) {
        ck_assert_msg(isfinite(g[i]), "%s[%zu]: gradient %g", p->path, c, g[i]);
        continue;
      }
      double h = 1e-6 * fmax(1.0, fabs(x));
      th[i] = x + h;
      double lp = tu_roll_value(&r, th);
      th[i] = x - h;
      double lm = tu_roll_value(&r, th);
      th[i] = x;
      double fd = (lp - lm) / (2 * h);
      char what[DP_PATH_MAX + 8];
      snprintf(what, sizeof what, "%s", p->path);
      TU_ASSERT_GRAD(what, c, g[i], fd, tol, 1e-6 * (1 + fabs(lp)) / h * 1e-6);
      checked++;
    }
  }
  ck_assert_int_gt(checked, 0);
  free(th);
  free(g);
  tu_roll_free(&r);
}

static dpModel *new_model(dpIntegrator integ, double dt, int steps) {
  dpModel *m = dp_model_new();
  m->integrator = integ;
  m->dt = dt;
  m->steps = steps;
  return m;
}

static void finalize(dpModel *m) {
  dpError err = {0};
  dpStatus st = dp_model_finalize(m, &err);
  ck_assert_msg(st == DP_OK, "finalize: %s", err.message);
}

// A chain of every joint type with both actuator types, soft limits (the revolute starts inside
// its limit's softplus), damping and armature; no contact.
static dpModel *chain_model(dpIntegrator integ) {
  dpModel *m = new_model(integ, 2e-3, 40);
  dpError err = {0};
  dpBodyDef b = dp_default_body_def();
  b.joint = DP_JOINT_REVOLUTE;
  b.axis[0] = 0.3;
  b.axis[1] = 1.0;
  b.axis[2] = 0.1;
  b.joint_pos[2] = 1.0;
  b.mass = 1.2;
  b.com[2] = -0.3;
  b.com[0] = 0.05;
  b.inertia[0] = 0.02;
  b.inertia[1] = 0.03;
  b.inertia[2] = 0.01;
  b.inertia[3] = 0.002;
  b.damping = 0.05;
  b.armature = 0.01;
  b.q0[0] = 0.45;
  b.qd0[0] = 0.7;
  b.limited = 1;
  b.range[0] = -0.5;
  b.range[1] = 0.5;
  b.limit_stiffness = 50;
  b.limit_damping = 0.5;
  b.limit_smoothing = 0.05;
  ck_assert_int_eq(dp_model_add_body(m, "arm", &b, &err), 0);
  dpBodyDef s = dp_default_body_def();
  s.parent = 0;
  s.joint = DP_JOINT_PRISMATIC;
  s.axis[2] = -1.0;
  s.joint_pos[2] = -0.5;
  s.mass = 0.7;
  s.inertia[0] = s.inertia[1] = s.inertia[2] = 0.01;
  s.q0[0] = 0.1;
  s.qd0[0] = -0.2;
  s.damping = 0.1;
  ck_assert_int_eq(dp_model_add_body(m, "slider", &s, &err), 1);
  dpBodyDef ball = dp_default_body_def();
  ball.parent = 1;
  ball.joint = DP_JOINT_BALL;
  ball.joint_pos[0] = 0.2;
  ball.mass = 0.5;
  ball.com[0] = 0.1;
  ball.com[2] = -0.2;
  ball.inertia[0] = 0.02;
  ball.inertia[1] = 0.015;
  ball.inertia[2] = 0.01;
  ball.q0[0] = 0.9;
  ball.q0[1] = 0.1;
  ball.q0[2] = -0.3;
  ball.q0[3] = 0.2;
  ball.qd0[0] = 0.5;
  ball.qd0[1] = -1.0;
  ball.qd0[2] = 0.3;
  ball.damping = 0.02;
  ck_assert_int_eq(dp_model_add_body(m, "wrist", &ball, &err), 2);
  dpBodyDef fx = dp_default_body_def();
  fx.parent = 2;
  fx.joint = DP_JOINT_FIXED;
  fx.joint_pos[2] = -0.4;
  fx.mass = 0.2;
  fx.inertia[0] = fx.inertia[1] = fx.inertia[2] = 0.001;
  ck_assert_int_eq(dp_model_add_body(m, "tip", &fx, &err), 3);
  dpBodyDef fr = dp_default_body_def();
  fr.joint = DP_JOINT_FREE;
  fr.mass = 0.8;
  fr.inertia[0] = 0.01;
  fr.inertia[1] = 0.02;
  fr.inertia[2] = 0.03;
  double q0[7] = {0.5, 0.2, 2.0, 0.8, 0.3, 0.1, -0.2};
  double qd0[6] = {0.3, -0.1, 0.4, 1.0, 2.0, -0.5};
  memcpy(fr.q0, q0, sizeof q0);
  memcpy(fr.qd0, qd0, sizeof qd0);
  ck_assert_int_eq(dp_model_add_body(m, "drone", &fr, &err), 4);
  dpActuatorDef mo = dp_default_actuator_def(DP_ACTUATOR_MOTOR);
  mo.body = 0;
  mo.gear = 2.0;
  mo.ctrl_limited = 1;
  mo.ctrl_range[0] = -0.5;
  mo.ctrl_range[1] = 0.5;
  mo.ctrl_smoothing = 0.1;
  ck_assert_int_eq(dp_model_add_actuator(m, "motor", &mo, &err), 0);
  dpActuatorDef sv = dp_default_actuator_def(DP_ACTUATOR_POSITION);
  sv.body = 1;
  sv.kp = 30;
  sv.kv = 2;
  ck_assert_int_eq(dp_model_add_actuator(m, "servo", &sv, &err), 1);
  double u[40];
  tu_rng g = {7};
  for (int t = 0; t < 40; t++) {
    u[t] = tu_uniform(&g, -1, 1);
  }
  ck_assert_int_eq(dp_model_set_actuator_controls(m, 0, u, &err), DP_OK);
  for (int t = 0; t < 40; t++) {
    u[t] = 0.1 + 0.1 * tu_uniform(&g, -1, 1);
  }
  ck_assert_int_eq(dp_model_set_actuator_controls(m, 1, u, &err), DP_OK);
  finalize(m);
  return m;
}

START_TEST(test_grad_chain_rk4) {
  dpModel *m = chain_model(DP_RK4);
  check_grad(m, "*", 11, 2e-6);
  check_grad(m, "bodies.*.*", 12, 2e-6);
  dp_model_free(m);
}
END_TEST

START_TEST(test_grad_chain_euler) {
  dpModel *m = chain_model(DP_SEMI_IMPLICIT_EULER);
  check_grad(m, "*", 13, 2e-6);
  dp_model_free(m);
}
END_TEST

// Free bodies in contact with each other and with the ground, a box and a sphere collider:
// box–plane (crate), capsule–plane and capsule–box through the end caps (log on the ground,
// reaching the post), sphere–capsule (ball on the log), box–box (lid on the crate),
// sphere–sphere (pebble on the rock) and sphere–box (marble on the post) are all within the
// penalty's reach during the rollout. Mask: which bodies (bit i: body i).
static dpModel *contact_model(dpIntegrator integ, double fd, unsigned mask) {
  dpModel *m = new_model(integ, 1e-3, 30);
  dpError err = {0};
  dpColliderDef gd = dp_default_collider_def(DP_COLLIDER_GROUND);
  gd.stiffness = 2e4;
  gd.damping = 20;
  gd.friction = 0.6;
  gd.smoothing = 2e-3;
  gd.friction_smoothing = 0.05;
  gd.friction_damping = fd;
  ck_assert_int_ge(dp_model_add_collider(m, "ground", &gd, &err), 0);
  dpColliderDef bx = dp_default_collider_def(DP_COLLIDER_BOX);
  bx.center[0] = 1.0;
  bx.center[2] = 0.2;
  bx.half_extents[0] = 0.2;
  bx.half_extents[1] = 0.2;
  bx.half_extents[2] = 0.2;
  bx.stiffness = 1e4;
  bx.damping = 5;
  bx.friction = 0.3;
  bx.smoothing = 2e-3;
  bx.friction_smoothing = 0.05;
  bx.damping_smoothing = 0.1;
  ck_assert_int_ge(dp_model_add_collider(m, "post", &bx, &err), 0);
  dpColliderDef sp = dp_default_collider_def(DP_COLLIDER_SPHERE);
  sp.center[0] = -1.0;
  sp.center[2] = 0.3;
  sp.radius = 0.3;
  sp.smoothing = 2e-3;
  sp.friction_smoothing = 0.05;
  ck_assert_int_ge(dp_model_add_collider(m, "rock", &sp, &err), 0);
  dpColliderDef bc = dp_default_collider_def(DP_COLLIDER_GROUND);
  bc.stiffness = 1e4;
  bc.damping = 10;
  bc.friction = 0.4;
  bc.smoothing = 2e-3;
  bc.friction_smoothing = 0.05;
  dp_model_set_body_contact(m, &bc);
  struct {
    const char *name;
    dpShapeType type;
    double size[3];
    double q0[7];
    double qd0[6];
  } bodies[] = {
      // a box resting tilted on the ground, sliding and spinning
      {"crate", DP_SHAPE_BOX, {0.1, 0.15, 0.08}, {0.0, 0.0, 0.083, 0.995, 0.05, 0.08, 0.0},
       {0.5, 0.2, -0.1, 0.3, -0.2, 1.0}},
      // a capsule lying across the crate's path, touching the ground and the post
      {"log", DP_SHAPE_CAPSULE, {0.05, 0.2, 0}, {0.56, 0.0, 0.05, 0.7071, 0.0, 0.7071, 0.0},
       {0.3, 0.0, 0.0, 0.0, 0.5, 0.0}},
      // a sphere dropping on the log
      {"ball", DP_SHAPE_SPHERE, {0.08, 0, 0}, {0.62, 0.0, 0.19, 1, 0, 0, 0},
       {0.1, 0.0, -0.5, 0.0, 0.0, 0.0}},
      // a second box stacked on the crate
      {"lid", DP_SHAPE_BOX, {0.08, 0.08, 0.03}, {0.02, 0.01, 0.195, 1, 0, 0.02, 0},
       {0.0, 0.0, -0.1, 0.0, 0.0, 0.5}},
      // a sphere touching the rock
      {"pebble", DP_SHAPE_SPHERE, {0.05, 0, 0}, {-1.0, 0.0, 0.648, 1, 0, 0, 0},
       {0.2, 0.0, -0.3, 0.0, 0.0, 0.0}},
      // a sphere rolling on the post's top face
      {"marble", DP_SHAPE_SPHERE, {0.04, 0, 0}, {1.0, 0.05, 0.441, 1, 0, 0, 0},
       {0.3, 0.0, -0.1, 0.0, 2.0, 0.0}},
  };
  for (int i = 0, nb = 0; i < 6; i++) {
    if (!(mask >> i & 1)) {
      continue;
    }
    dpBodyDef b = dp_default_body_def();
    b.joint = DP_JOINT_FREE;
    b.mass_from_shapes = 1;
    memcpy(b.q0, bodies[i].q0, sizeof b.q0);
    memcpy(b.qd0, bodies[i].qd0, sizeof b.qd0);
    ck_assert_int_eq(dp_model_add_body(m, bodies[i].name, &b, &err), nb);
    dpShapeDef s = dp_default_shape_def(bodies[i].type);
    s.body = nb++;
    memcpy(s.size, bodies[i].size, sizeof s.size);
    s.density = 500;
    ck_assert_int_eq(dp_model_add_shape(m, bodies[i].name, &s, &err), s.body);
  }
  finalize(m);
  return m;
}

START_TEST(test_grad_contact_rk4) {
  const char *env = getenv("DP_MASK");
  dpModel *m = contact_model(DP_RK4, INFINITY, env ? (unsigned)atoi(env) : 63u);
  check_grad(m, "*", 21, 5e-6);
  dp_model_free(m);
}
END_TEST

START_TEST(test_grad_contact_euler) {
  dpModel *m = contact_model(DP_SEMI_IMPLICIT_EULER, 200, 63u);
  check_grad(m, "*", 22, 5e-6);
  dp_model_free(m);
}
END_TEST

// ---- validation ------------------------------------------------------------------------------

// A box sliding on the ground with friction μ decelerates at μ g: it stops after v²/(2 μ g).
START_TEST(test_box_stopping_distance) {
  const double mu = 0.5, v0 = 2.0, g = 9.81, he = 0.1;
  dpModel *m = new_model(DP_SEMI_IMPLICIT_EULER, 1e-4, 7000);
  dpError err = {0};
  dpColliderDef gd = dp_default_collider_def(DP_COLLIDER_GROUND);
  gd.stiffness = 1e5;
  gd.damping = 100;
  gd.friction = mu;
  gd.smoothing = 1e-4;
  gd.friction_smoothing = 1e-3;
  ck_assert_int_ge(dp_model_add_collider(m, "ground", &gd, &err), 0);
  dpBodyDef b = dp_default_body_def();
  b.joint = DP_JOINT_FREE;
  b.mass_from_shapes = 1;
  // Start at the resting height: 4 corners carry m g (k s = m g / 4, s ≈ p for z >> 1).
  double mass = 1000 * 8 * he * he * he;
  b.q0[2] = he - mass * g / 4 / gd.stiffness;
  b.q0[3] = 1;
  b.qd0[0] = v0;
  ck_assert_int_eq(dp_model_add_body(m, "box", &b, &err), 0);
  dpShapeDef s = dp_default_shape_def(DP_SHAPE_BOX);
  s.body = 0;
  s.size[0] = s.size[1] = s.size[2] = he;
  s.density = 1000;
  ck_assert_int_ge(dp_model_add_shape(m, "box", &s, &err), 0);
  finalize(m);
  size_t ns = dp_model_nstate(m), qo = dp_model_q_offset(m), vo = dp_model_qd_offset(m);
  double *a = calloc(ns, sizeof *a), *c = calloc(ns, sizeof *c);
  dpData *d = dp_data_new(m, 1);
  dp_initial_state(m, m->theta0, a);
  double x0 = a[qo];
  for (int t = 0; t < m->steps; t++) {
    dp_step(m, m->theta0, d, t, a, c);
    memcpy(a, c, ns * sizeof *a);
    ck_assert(dp_state_check(m, t + 1, a, &err) == DP_OK);
  }
  double dist = a[qo] - x0, expect = v0 * v0 / (2 * mu * g);
  ck_assert_msg(fabs(a[vo]) < 1e-3, "still sliding at %g m/s", a[vo]);
  ck_assert_msg(fabs(dist - expect) < 0.01 * expect, "stopping distance %.5f m, expected %.5f m",
                dist, expect);
  free(a);
  free(c);
  dp_data_free(d);
  dp_model_free(m);
}
END_TEST

// ---- contact switches: touching, zero sliding speed, onset -----------------------------------

// A box exactly touching the ground (φ = 0 at four corners), at rest (zero tangential velocity
// at every contact): the gradient is finite everywhere and agrees with central differences.
START_TEST(test_touching_at_rest) {
  dpModel *m = new_model(DP_SEMI_IMPLICIT_EULER, 1e-3, 6);
  dpError err = {0};
  dpColliderDef gd = dp_default_collider_def(DP_COLLIDER_GROUND);
  gd.friction_damping = 100;
  ck_assert_int_ge(dp_model_add_collider(m, "ground", &gd, &err), 0);
  dpBodyDef b = dp_default_body_def();
  b.joint = DP_JOINT_FREE;
  b.mass_from_shapes = 1;
  b.q0[2] = 0.1;  // the box's bottom face at z = 0
  b.q0[3] = 1;
  ck_assert_int_eq(dp_model_add_body(m, "box", &b, &err), 0);
  dpShapeDef s = dp_default_shape_def(DP_SHAPE_BOX);
  s.body = 0;
  s.size[0] = s.size[1] = s.size[2] = 0.1;
  ck_assert_int_ge(dp_model_add_shape(m, "box", &s, &err), 0);
  finalize(m);
  check_grad(m, "*", 31, 1e-5);
  dp_model_free(m);
}
END_TEST

// Two spheres on bodies approaching: first out of reach of the penalty (the pair is skipped),
// then touching within the rollout (onset), then separating again; the gradient through the
// whole sequence is finite and matches central differences.
START_TEST(test_onset_and_separation) {
  dpModel *m = new_model(DP_RK4, 1e-3, 60);
  dpError err = {0};
  double g0[3] = {0, 0, 0};
  dp_model_set_gravity(m, g0);
  dpColliderDef bc = dp_default_collider_def(DP_COLLIDER_GROUND);
  bc.smoothing = 1e-3;
  dp_model_set_body_contact(m, &bc);
  for (int i = 0; i < 2; i++) {
    dpBodyDef b = dp_default_body_def();
    b.joint = DP_JOINT_FREE;
    b.mass_from_shapes = 1;
    b.q0[0] = i == 0 ? -0.16 : 0.16;
    b.q0[1] = i == 0 ? 0.0 : 0.03;
    b.q0[3] = 1;
    b.qd0[0] = i == 0 ? 3.0 : -3.0;
    ck_assert_int_eq(dp_model_add_body(m, i == 0 ? "a" : "b", &b, &err), i);
    dpShapeDef s = dp_default_shape_def(DP_SHAPE_SPHERE);
    s.body = i;
    s.size[0] = 0.1;
    ck_assert_int_ge(dp_model_add_shape(m, i == 0 ? "a" : "b", &s, &err), 0);
  }
  finalize(m);
  check_grad(m, "*", 41, 1e-5);
  dp_model_free(m);
}
END_TEST

// adj_rb_applied_force (actuators, limits, contact wrenches through Jᵀ) against central
// differences of rb_applied_force in q (tangent steps q ⊕ h e_k), qd and every finite θ
// component, at the state after a few steps of each model.
static void check_applied_force(dpModel *m, int t, uint64_t seed) {
  size_t ns = dp_model_nstate(m), nv = (size_t)m->nv, nq = (size_t)m->nq;
  size_t qo = dp_model_q_offset(m), vo = dp_model_qd_offset(m);
  double *s = calloc(ns, sizeof *s), *s2 = calloc(ns, sizeof *s2);
  double *ws = calloc(rb_force_scratch_size(m), sizeof *ws);
  double *th = malloc(m->ntheta * sizeof *th), *thb = calloc(m->ntheta, sizeof *thb);
  double *tb = malloc(nv * sizeof *tb), *qb = calloc(nv, sizeof *qb), *qdb = calloc(nv, sizeof *qdb);
  double *tp = malloc(nv * sizeof *tp), *tm = malloc(nv * sizeof *tm), *dv = calloc(nv, sizeof *dv);
  double *qp = malloc(nq * sizeof *qp), *qm = malloc(nq * sizeof *qm);
  dpData *d = dp_data_new(m, 1);
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  dp_initial_state(m, th, s);
  for (int k = 0; k < t; k++) {
    dp_step(m, th, d, k, s, s2);
    memcpy(s, s2, ns * sizeof *s);
  }
  const double *q = s + qo, *qd = s + vo;
  tu_rng g = {seed};
  for (size_t k = 0; k < nv; k++) {
    tb[k] = tu_uniform(&g, -1, 1);
  }
  adj_rb_applied_force(m, th, t, q, qd, qb, qdb, thb, tb, ws);
  const dpRbTree *tree = m->rb_;
#define DOT_TAU(L)                                                                            \
  do {                                                                                        \
    (L) = 0;                                                                                  \
    for (size_t e_ = 0; e_ < nv; e_++) {                                                      \
      (L) += tb[e_] * tau_[e_];                                                               \
    }                                                                                         \
  } while (0)
  double lp, lm, h = 1e-6;
  for (size_t k = 0; k < nv; k++) {  // q, tangent
    double *tau_ = tp;
    memset(dv, 0, nv * sizeof *dv);
    dv[k] = h;
    rb_retract(tree, q, dv, qp);
    dv[k] = -h;
    rb_retract(tree, q, dv, qm);
    memset(tp, 0, nv * sizeof *tp);
    rb_applied_force(m, th, t, qp, qd, tp, ws);
    DOT_TAU(lp);
    tau_ = tm;
    memset(tm, 0, nv * sizeof *tm);
    rb_applied_force(m, th, t, qm, qd, tm, ws);
    DOT_TAU(lm);
    TU_ASSERT_GRAD("q (tangent)", k, qb[k], (lp - lm) / (2 * h), 1e-5, 1e-7);
  }
  for (size_t k = 0; k < nv; k++) {  // qd
    double *tau_ = tp;
    memcpy(s2, s, ns * sizeof *s2);
    s2[vo + k] += h;
    memset(tp, 0, nv * sizeof *tp);
    rb_applied_force(m, th, t, q, s2 + vo, tp, ws);
    DOT_TAU(lp);
    s2[vo + k] -= 2 * h;
    tau_ = tm;
    memset(tm, 0, nv * sizeof *tm);
    rb_applied_force(m, th, t, q, s2 + vo, tm, ws);
    DOT_TAU(lm);
    TU_ASSERT_GRAD("qd", k, qdb[k], (lp - lm) / (2 * h), 1e-5, 1e-7);
  }
  for (size_t i = 0; i < m->ntheta; i++) {  // θ
    double x = th[i], hh = 1e-6 * fmax(1.0, fabs(x));
    if (!isfinite(x)) {
      continue;
    }
    double *tau_ = tp;
    th[i] = x + hh;
    memset(tp, 0, nv * sizeof *tp);
    rb_applied_force(m, th, t, q, qd, tp, ws);
    DOT_TAU(lp);
    th[i] = x - hh;
    tau_ = tm;
    memset(tm, 0, nv * sizeof *tm);
    rb_applied_force(m, th, t, q, qd, tm, ws);
    DOT_TAU(lm);
    th[i] = x;
    const dpParam *p = dp_param_at(m, i, NULL);
    TU_ASSERT_GRAD(p != NULL ? p->path : "theta", i, thb[i], (lp - lm) / (2 * hh), 1e-5, 1e-7);
  }
#undef DOT_TAU
  dp_data_free(d);
  free(s);
  free(s2);
  free(ws);
  free(th);
  free(thb);
  free(tb);
  free(qb);
  free(qdb);
  free(tp);
  free(tm);
  free(dv);
  free(qp);
  free(qm);
}

START_TEST(test_applied_force_adjoint) {
  dpModel *m = chain_model(DP_RK4);
  check_applied_force(m, 7, 51);
  dp_model_free(m);
  m = contact_model(DP_RK4, INFINITY, 63u);
  check_applied_force(m, 5, 52);
  dp_model_free(m);
  m = contact_model(DP_SEMI_IMPLICIT_EULER, 200, 63u);
  check_applied_force(m, 12, 53);
  dp_model_free(m);
}
END_TEST

Suite *make_rb_model_suite(void) {
  Suite *s = suite_create("rb_model");
  TCase *tc = tcase_create("gradients");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_grad_chain_rk4);
  tcase_add_test(tc, test_grad_chain_euler);
  tcase_add_test(tc, test_grad_contact_rk4);
  tcase_add_test(tc, test_grad_contact_euler);
  tcase_add_test(tc, test_touching_at_rest);
  tcase_add_test(tc, test_onset_and_separation);
  tcase_add_test(tc, test_applied_force_adjoint);
  suite_add_tcase(s, tc);
  TCase *tv = tcase_create("validation");
  tcase_set_timeout(tv, 600);
  tcase_add_test(tv, test_box_stopping_distance);
  suite_add_tcase(s, tv);
  return s;
}
