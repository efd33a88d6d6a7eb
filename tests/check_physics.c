// Closed-form references: a projectile with linear drag (position and ∂x(T)/∂v0, the error
// shrinking with dt at each integrator's order), the undamped and damped oscillator, energy of
// semi-implicit Euler over 10⁵ steps, a diverging run that names its step, particle and
// quantity, and the friction damping that keeps the adjoint of a hard impact stable.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "dp/dp.h"
#include "testutil.h"

// Projectile of mass m with linear drag b under gravity g (no contact).
// Exact: τ = m/b, v∞ = g τ, x(t) = x0 + v∞ t + (v0 − v∞) τ (1 − e^{−t/τ}),
// ∂x(T)/∂v0 = τ (1 − e^{−T/τ}) I.
static dpModel *projectile(dpIntegrator integ, double dt, int steps) {
  dpError err = {0};
  dpModel *m = dp_model_new();
  m->dt = dt;
  m->steps = steps;
  m->integrator = integ;
  dpParticleDef p = dp_default_particle_def();
  p.mass = 2.0;
  p.linear_drag = 1.0;
  p.position[2] = 1.0;
  p.velocity[0] = 10.0;
  p.velocity[2] = 8.0;
  ck_assert_int_ge(dp_model_add_particle(m, "ball", &p, &err), 0);
  ck_assert_int_eq(dp_model_finalize(m, &err), DP_OK);
  return m;
}

static const char *proj_loss =
    "{\"terms\": [{\"type\": \"position\", \"particle\": \"ball\", \"target\": [100, 0, 50]}]}";

// Errors of x(T) and of ∂x_z(T)/∂v0_z for one dt.
static void projectile_errors(dpIntegrator integ, double dt, double *ex, double *eg) {
  const double T = 2.0, tau = 2.0, g = -9.81;
  int steps = (int)lround(T / dt);
  dpModel *m = projectile(integ, dt, steps);
  dpLoss *loss = NULL;
  dpError err = {0};
  ck_assert_msg(dp_loss_parse(proj_loss, "proj", m, &loss, &err) == DP_OK, "%s", err.message);
  double *gr = malloc(m->ntheta * sizeof *gr);
  double L = 0;
  ck_assert_int_eq(dp_value_and_grad(m, DP_DEVICE_CPU, 0, m->theta0, loss, &L, gr, &err), DP_OK);
  // x(T) by stepping directly.
  double s[6], s2[6];
  dpData *d = dp_data_new(m, 1);
  dp_initial_state(m, m->theta0, s);
  for (int t = 0; t < steps; t++) {
    dp_step(m, m->theta0, d, t, s, s2);
    memcpy(s, s2, sizeof s);
  }
  dp_data_free(d);
  double ez = 1.0 + g * tau * T + (8.0 - g * tau) * tau * (1 - exp(-T / tau));
  double exx = 10.0 * tau * (1 - exp(-T / tau));
  *ex = fmax(fabs(s[0] - exx), fabs(s[2] - ez));
  // L = |x − target|², ∂L/∂v0_z = 2 (x_z − 50) ∂x_z/∂v0_z
  double dxdv = gr[m->off.v0 + 2] / (2 * (s[2] - 50.0));
  *eg = fabs(dxdv - tau * (1 - exp(-T / tau)));
  free(gr);
  dp_loss_free(loss);
  dp_model_free(m);
}

START_TEST(test_projectile_linear_drag_convergence) {
  const dpIntegrator integ[3] = {DP_EXPLICIT_EULER, DP_SEMI_IMPLICIT_EULER, DP_RK4};
  const double order[3] = {1, 1, 4};
  const char *name[3] = {"explicit_euler", "semi_implicit_euler", "rk4"};
  for (int i = 0; i < 3; i++) {
    double ex1, eg1, ex2, eg2;
    double dt = i == 2 ? 0.1 : 0.01;
    projectile_errors(integ[i], dt, &ex1, &eg1);
    projectile_errors(integ[i], dt / 2, &ex2, &eg2);
    double px = log2(ex1 / ex2), pg = log2(eg1 / eg2);
    ck_assert_msg(fabs(px - order[i]) < 0.15, "%s: position order %.3f (errors %.3e, %.3e)",
                  name[i], px, ex1, ex2);
    ck_assert_msg(fabs(pg - order[i]) < 0.15, "%s: gradient order %.3f (errors %.3e, %.3e)",
                  name[i], pg, eg1, eg2);
    ck_assert_msg(ex2 < (i == 2 ? 1e-5 : 0.1), "%s: error %.3e", name[i], ex2);
  }
}
END_TEST

// Oscillator: particle on a spring to an anchor, along x, rest length L0, gravity off.
static dpModel *oscillator(dpIntegrator integ, double c, double dt, int steps) {
  dpError err = {0};
  dpModel *m = dp_model_new();
  m->dt = dt;
  m->steps = steps;
  m->integrator = integ;
  const double g0[3] = {0, 0, 0};
  dp_model_set_gravity(m, g0);
  dpParticleDef p = dp_default_particle_def();
  p.mass = 1.0;
  p.position[0] = 1.2;
  ck_assert_int_ge(dp_model_add_particle(m, "bob", &p, &err), 0);
  dpSpringDef s = dp_default_spring_def();
  s.a = 0;
  s.b = -1;
  s.stiffness = 40.0;
  s.damping = c;
  s.rest_length = 1.0;
  ck_assert_int_ge(dp_model_add_spring(m, "spring", &s, &err), 0);
  ck_assert_int_eq(dp_model_finalize(m, &err), DP_OK);
  return m;
}

START_TEST(test_oscillator_exact) {
  const double k = 40.0, mass = 1.0, A = 0.2;
  const double cs[2] = {0.0, 0.5};
  for (int ci = 0; ci < 2; ci++) {
    double c = cs[ci];
    dpModel *m = oscillator(DP_RK4, c, 1e-3, 3000);
    dpData *d = dp_data_new(m, 1);
    double s[6], s2[6], maxerr = 0;
    dp_initial_state(m, m->theta0, s);
    double w0 = sqrt(k / mass), zeta = c / (2 * sqrt(k * mass));
    double wd = w0 * sqrt(1 - zeta * zeta);
    for (int t = 0; t < m->steps; t++) {
      dp_step(m, m->theta0, d, t, s, s2);
      memcpy(s, s2, sizeof s);
      double tt = (t + 1) * m->dt;
      // x − L0 = A e^{−ζω0 t} (cos ωd t + ζω0/ωd sin ωd t)
      double ex = 1.0 + A * exp(-zeta * w0 * tt) *
                            (cos(wd * tt) + zeta * w0 / wd * sin(wd * tt));
      maxerr = fmax(maxerr, fabs(s[0] - ex));
    }
    ck_assert_msg(maxerr < 1e-9, "oscillator c=%g: max error %.3e", c, maxerr);
    dp_data_free(d);
    dp_model_free(m);
  }
}
END_TEST

START_TEST(test_semi_implicit_energy_bounded) {
  // Undamped oscillator, 10⁵ steps: semi-implicit Euler keeps the energy within O(h);
  // explicit Euler gains energy every step.
  const int T = 100000;
  double drift[2];
  const dpIntegrator integ[2] = {DP_SEMI_IMPLICIT_EULER, DP_EXPLICIT_EULER};
  for (int i = 0; i < 2; i++) {
    dpModel *m = oscillator(integ[i], 0.0, 1e-3, T);
    dpData *d = dp_data_new(m, 1);
    double s[6], s2[6];
    dp_initial_state(m, m->theta0, s);
    double E0 = 0.5 * 40.0 * 0.2 * 0.2, emax = 0;
    for (int t = 0; t < T; t++) {
      dp_step(m, m->theta0, d, t, s, s2);
      memcpy(s, s2, sizeof s);
      double x = s[0] - 1.0;
      double E = 0.5 * (s[3] * s[3] + s[4] * s[4] + s[5] * s[5]) + 0.5 * 40.0 * x * x;
      emax = fmax(emax, fabs(E - E0) / E0);
    }
    drift[i] = emax;
    dp_data_free(d);
    dp_model_free(m);
  }
  ck_assert_msg(drift[0] < 5e-3, "semi-implicit Euler energy error %.3e over 1e5 steps",
                drift[0]);
  ck_assert_msg(drift[1] > 10 * drift[0], "explicit Euler drift %.3e vs semi-implicit %.3e",
                drift[1], drift[0]);
}
END_TEST

START_TEST(test_divergence_names_step) {
  // A stiff spring with explicit Euler at a large step blows up.
  dpModel *m = oscillator(DP_EXPLICIT_EULER, 0.0, 0.5, 400);
  dpRollout *r = NULL;
  dpError err = {0};
  ck_assert_int_eq(dp_rollout_new(m, DP_DEVICE_CPU, 0, &r, &err), DP_OK);
  dpStatus st = dp_rollout_forward(r, m->theta0, NULL, NULL, 1, NULL, NULL, &err);
  ck_assert_int_eq(st, DP_ERR_DIVERGED);
  ck_assert_msg(strstr(err.message, "step ") && strstr(err.message, "'bob'") &&
                    (strstr(err.message, "position") || strstr(err.message, "velocity")),
                "%s", err.message);
  dp_rollout_free(r);
  dp_model_free(m);
}
END_TEST

// The final state is independent of run-to-run effects: hash it (Box2D's determinism test).
START_TEST(test_determinism_hash) {
  uint64_t h[2];
  for (int run = 0; run < 2; run++) {
    dpModel *m = oscillator(DP_RK4, 0.5, 1e-3, 500);
    dpData *d = dp_data_new(m, 1);
    double s[6], s2[6];
    dp_initial_state(m, m->theta0, s);
    for (int t = 0; t < m->steps; t++) {
      dp_step(m, m->theta0, d, t, s, s2);
      memcpy(s, s2, sizeof s);
    }
    uint64_t x = 1469598103934665603ULL;
    const unsigned char *b = (const unsigned char *)s;
    for (size_t i = 0; i < sizeof s; i++) {
      x = (x ^ b[i]) * 1099511628211ULL;
    }
    h[run] = x;
    dp_data_free(d);
    dp_model_free(m);
  }
  ck_assert(h[0] == h[1]);
}
END_TEST

// A 1 kg ball dropped straight down (v0 = (0, 0, −5) m/s, vx = 0 exactly) on the ground (k 1e4,
// c 10, μ 0.2, w 1 mm, ε 1 cm/s), 288 semi-implicit Euler steps of h = 0.6/288 s: the bounce
// benchmark's contact. L = |x_T − (−0.5, 0, 0)|², so ∂L/∂vx0 = ∂x_T/∂vx0 (the z part does not
// depend on vx0 at v_t = 0).
static double drop_dx_dvx(double kf, double *fd) {
  dpError err = {0};
  dpModel *m = dp_model_new();
  m->dt = 0.6 / 288;
  m->steps = 288;
  m->integrator = DP_SEMI_IMPLICIT_EULER;
  dpParticleDef p = dp_default_particle_def();
  p.mass = 1.0;
  p.position[2] = 1.0;
  p.velocity[2] = -5.0;
  ck_assert_int_ge(dp_model_add_particle(m, "ball", &p, &err), 0);
  dpColliderDef g = dp_default_collider_def(DP_COLLIDER_GROUND);
  g.stiffness = 1e4;
  g.damping = 10;
  g.friction = 0.2;
  g.smoothing = 1e-3;
  g.friction_smoothing = 1e-2;
  g.friction_damping = kf;
  ck_assert_int_ge(dp_model_add_collider(m, "ground", &g, &err), 0);
  ck_assert_msg(dp_model_finalize(m, &err) == DP_OK, "%s", err.message);
  const char *json = "{\"terms\": [{\"type\": \"position\", \"particle\": \"ball\", "
                     "\"step\": \"end\", \"target\": [-0.5, 0, 0]}]}";
  dpLoss *loss = NULL;
  ck_assert_msg(dp_loss_parse(json, "drop", m, &loss, &err) == DP_OK, "%s", err.message);
  double *th = malloc(m->ntheta * sizeof *th), *gr = calloc(m->ntheta, sizeof *gr);
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  double L = 0;
  ck_assert_int_eq(dp_value_and_grad(m, DP_DEVICE_CPU, 0, th, loss, &L, gr, &err), DP_OK);
  size_t ix = m->off.v0;  // vx0
  double d[2];
  for (int r = 0; r < 2; r++) {
    double hr = r == 0 ? 1e-5 : 0.5e-5, lp = 0, lm = 0;
    th[ix] = hr;
    ck_assert_int_eq(dp_value(m, th, loss, &lp, &err), DP_OK);
    th[ix] = -hr;
    ck_assert_int_eq(dp_value(m, th, loss, &lm, &err), DP_OK);
    th[ix] = 0;
    d[r] = (lp - lm) / (2 * hr);
  }
  *fd = (4 * d[1] - d[0]) / 3;
  double a = gr[ix];
  free(th);
  free(gr);
  dp_loss_free(loss);
  dp_model_free(m);
  return a;
}

START_TEST(test_friction_damping_stabilizes_impact) {
  // At v_t = 0 the tangential force has slope P/ε under pure smoothed Coulomb friction
  // (friction_damping = INFINITY): P = μ k s reaches 125 N at this impact, so h P/(ε m) ≈ 26
  // ≫ 2 for 14 steps and the linearized tangential dynamics of semi-implicit Euler are unstable:
  // the adjoint explodes although the forward run is fine. A finite friction damping kf bounds
  // the slope by kf; with h kf / m = 0.21 the adjoint stays bounded (0.19007) and matches
  // central differences.
  double fd = 0;
  double a = drop_dx_dvx(100.0, &fd);
  ck_assert_msg(isfinite(a) && fabs(a) < 10, "kf = 100: dx_T/dvx0 = %.6e", a);
  TU_ASSERT_GRAD("drop kf=100 dx_T/dvx0", 0, a, fd, 1e-6, 1e-9);
  // kf = 0: no friction, x_T = vx0 T exactly, so dx_T/dvx0 = T = 0.6 s.
  a = drop_dx_dvx(0.0, &fd);
  ck_assert_msg(fabs(a - 0.6) < 1e-12, "kf = 0: dx_T/dvx0 = %.17g, expected 0.6", a);
  // The documented instability of the pure law (the adjoint is ~ -7e14).
  a = drop_dx_dvx(INFINITY, &fd);
  ck_assert_msg(fabs(a) > 1e6, "kf = inf: dx_T/dvx0 = %.6e, expected the unstable adjoint", a);
}
END_TEST

Suite *make_physics_suite(void) {
  Suite *s = suite_create("physics");
  TCase *tc = tcase_create("closed_forms");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_projectile_linear_drag_convergence);
  tcase_add_test(tc, test_oscillator_exact);
  tcase_add_test(tc, test_semi_implicit_energy_bounded);
  tcase_add_test(tc, test_divergence_names_step);
  tcase_add_test(tc, test_determinism_hash);
  tcase_add_test(tc, test_friction_damping_stabilizes_impact);
  suite_add_tcase(s, tc);
  return s;
}
