// Gradient checks of every kernel body (particle force, spring, collider distance, contact,
// Euler update): random inputs, a random output adjoint, central differences in double; plus
// the behaviour exactly at the switches (contact onset, zero tangential velocity, coincident
// spring ends, box edges), which must stay finite.
#include <math.h>
#include <string.h>

#include "check_suites.h"
#include "phys_contact_kern.h"
#include "phys_integrate_kern.h"
#include "phys_particle_kern.h"
#include "phys_spring_kern.h"
#include "testutil.h"

#define MAXP 32

// A kernel under test: y = fn(p) with p packed (np values) and y (ny values); adj accumulates
// p_bar from y_bar.
typedef struct {
  const char *name;
  int np, ny;
  void (*fn)(const double *p, double *y, const void *aux);
  void (*adj)(const double *p, double *p_bar, const double *y_bar, const void *aux);
  const void *aux;
} kernel;

// Compare the adjoint with central differences of ȳ·y(p) for every component of p.
static void check_kernel(const kernel *k, const double *p0, const double *ybar, double tol) {
  double p[MAXP], pb[MAXP] = {0}, y[MAXP];
  memcpy(p, p0, (size_t)k->np * sizeof *p);
  k->adj(p, pb, ybar, k->aux);
  for (int i = 0; i < k->np; i++) {
    // Central differences at h and h/2 combined by Richardson extrapolation (error O(h⁴)), so
    // that strongly curved kernels (contact near a box edge) are checked tightly.
    double h = 1e-5 * fmax(1e-2, fabs(p0[i]));
    double d[2], lmax = 0;
    for (int r = 0; r < 2; r++) {
      double hr = r == 0 ? h : 0.5 * h;
      double lp = 0, lm = 0;
      memcpy(p, p0, (size_t)k->np * sizeof *p);
      p[i] = p0[i] + hr;
      k->fn(p, y, k->aux);
      for (int j = 0; j < k->ny; j++) {
        lp += ybar[j] * y[j];
      }
      p[i] = p0[i] - hr;
      k->fn(p, y, k->aux);
      for (int j = 0; j < k->ny; j++) {
        lm += ybar[j] * y[j];
      }
      d[r] = (lp - lm) / (2 * hr);
      lmax = fmax(lmax, fmax(fabs(lp), fabs(lm)));
    }
    double fd = (4 * d[1] - d[0]) / 3;
    // Floor: the round-off of the differences, 1e3 ulps of ȳ·y over the step.
    double floor_ = fmax(1e-9, 1e3 * 2.2e-16 * lmax / h);
    ck_assert_msg(isfinite(pb[i]), "%s[%d]: adjoint not finite", k->name, i);
    TU_ASSERT_GRAD(k->name, i, pb[i], fd, tol, floor_);
  }
}

// ---- particle force: p = m, g(3), fext(3), u(3), b1, b2, v(3) = 14 -------------------------

static void pf_fn(const double *p, double *y, const void *aux) {
  (void)aux;
  particle_force(y, p[0], p + 1, p + 4, p + 7, p[10], p[11], p + 12);
}

static void pf_adj(const double *p, double *pb, const double *yb, const void *aux) {
  (void)aux;
  adj_particle_force(p[0], p + 1, p + 4, p + 7, p[10], p[11], p + 12, pb, pb + 1, pb + 4, pb + 7,
                     pb + 10, pb + 11, pb + 12, yb);
}

START_TEST(test_particle_force_gradient) {
  tu_rng r = {12345};
  kernel k = {"particle_force", 15, 3, pf_fn, pf_adj, NULL};
  for (int trial = 0; trial < 50; trial++) {
    double p[15], yb[3];
    for (int i = 0; i < 15; i++) {
      p[i] = tu_uniform(&r, -2, 2);
    }
    p[0] = tu_uniform(&r, 0.1, 3);
    for (int i = 0; i < 3; i++) {
      yb[i] = tu_uniform(&r, -1, 1);
    }
    check_kernel(&k, p, yb, 1e-6);
  }
}
END_TEST

START_TEST(test_particle_force_zero_velocity) {
  // |v| v at v = 0: finite adjoint equal to the linear-drag part only.
  double g[3] = {0, 0, -9.81}, fe[3] = {0}, v[3] = {0}, fb[3] = {1, 2, 3};
  double mb = 0, gb[3] = {0}, feb[3] = {0}, b1b = 0, b2b = 0, vb[3] = {0};
  adj_particle_force(2.0, g, fe, NULL, 0.5, 0.3, v, &mb, gb, feb, NULL, &b1b, &b2b, vb, fb);
  for (int c = 0; c < 3; c++) {
    ck_assert(isfinite(vb[c]));
    ck_assert_double_eq_tol(vb[c], -0.5 * fb[c], 1e-15);
  }
  ck_assert_double_eq_tol(mb, -9.81 * 3, 1e-12);
}
END_TEST

// ---- spring: p = xa(3), xb(3), va(3), vb(3), k, c, rest = 15 ---------------------------------

static void sp_fn(const double *p, double *y, const void *aux) {
  (void)aux;
  double fa[3];
  spring_force(fa, p, p + 3, p + 6, p + 9, p[12], p[13], p[14]);
  for (int i = 0; i < 3; i++) {
    y[i] = fa[i];
    y[3 + i] = -fa[i];
  }
}

static void sp_adj(const double *p, double *pb, const double *yb, const void *aux) {
  (void)aux;
  double fab[3] = {yb[0] - yb[3], yb[1] - yb[4], yb[2] - yb[5]};
  adj_spring_force(p, p + 3, p + 6, p + 9, p[12], p[13], p[14], pb, pb + 3, pb + 6, pb + 9,
                   pb + 12, pb + 13, pb + 14, fab);
}

START_TEST(test_spring_gradient) {
  tu_rng r = {777};
  kernel k = {"spring_force", 15, 6, sp_fn, sp_adj, NULL};
  for (int trial = 0; trial < 50; trial++) {
    double p[15], yb[6];
    for (int i = 0; i < 12; i++) {
      p[i] = tu_uniform(&r, -1, 1);
    }
    p[12] = tu_uniform(&r, 1, 100);
    p[13] = tu_uniform(&r, 0, 5);
    p[14] = tu_uniform(&r, 0.1, 2);
    for (int i = 0; i < 6; i++) {
      yb[i] = tu_uniform(&r, -1, 1);
    }
    check_kernel(&k, p, yb, 1e-6);
  }
}
END_TEST

START_TEST(test_spring_coincident_ends) {
  // Coincident ends: no direction, no force, no NaN in the adjoint.
  double x[3] = {0.3, 0.3, 0.3}, v[3] = {1, 0, 0}, vb[3] = {0}, f[3];
  spring_force(f, x, x, v, vb, 10, 1, 0.5);
  ck_assert(f[0] == 0 && f[1] == 0 && f[2] == 0);
  double xab[3] = {0}, xbb[3] = {0}, vab[3] = {0}, vbb[3] = {0}, kb = 0, cb = 0, rb = 0;
  double fb[3] = {1, 1, 1};
  adj_spring_force(x, x, v, vb, 10, 1, 0.5, xab, xbb, vab, vbb, &kb, &cb, &rb, fb);
  for (int i = 0; i < 3; i++) {
    ck_assert(isfinite(xab[i]) && isfinite(vab[i]));
  }
}
END_TEST

// ---- collider contact: p = geom(6), kc(5), x(3), v(3) = 17 -----------------------------------

static void ct_fn(const double *p, double *y, const void *aux) {
  int type = *(const int *)aux;
  y[0] = y[1] = y[2] = 0;
  contact_force(y, type, p, p + 6, p + 11, p + 14);
}

static void ct_adj(const double *p, double *pb, const double *yb, const void *aux) {
  int type = *(const int *)aux;
  adj_contact_force(type, p, p + 6, p + 11, p + 14, pb + 11, pb + 14, pb, pb + 6, yb);
}

static void sdf_fn(const double *p, double *y, const void *aux) {
  int type = *(const int *)aux;
  y[0] = collider_sdf(y + 1, type, p, p + 6);
}

static void sdf_adj(const double *p, double *pb, const double *yb, const void *aux) {
  int type = *(const int *)aux;
  adj_collider_sdf(type, p, p + 6, pb + 6, pb, yb[0], yb + 1);
}

// Random contact inputs with the particle near the collider surface (|φ| ≲ 3w).
static void contact_inputs(tu_rng *r, int type, double *p) {
  for (int i = 0; i < 17; i++) {
    p[i] = 0;
  }
  p[6] = tu_uniform(r, 1e3, 1e4);
  p[7] = tu_uniform(r, 0, 20);
  p[8] = tu_uniform(r, 0, 1);
  p[9] = tu_uniform(r, 1e-3, 1e-2);
  p[10] = tu_uniform(r, 1e-2, 1e-1);
  for (int i = 0; i < 3; i++) {
    p[14 + i] = tu_uniform(r, -2, 2);
  }
  double depth = tu_uniform(r, -3, 2) * p[9];  // φ
  if (type == 0) {
    p[0] = tu_uniform(r, -0.5, 0.5);
    p[11] = tu_uniform(r, -1, 1);
    p[12] = tu_uniform(r, -1, 1);
    p[13] = p[0] + depth;
  } else if (type == 2) {
    double dir[3] = {tu_uniform(r, -1, 1), tu_uniform(r, -1, 1), tu_uniform(r, -1, 1)};
    double l = dp_norm3(dir);
    p[3] = tu_uniform(r, 0.2, 1);
    for (int i = 0; i < 3; i++) {
      p[i] = tu_uniform(r, -1, 1);
      p[11 + i] = p[i] + dir[i] / l * (p[3] + depth);
    }
  } else {
    // Box: near a face, an edge or a corner depending on how many axes are pushed outside.
    int nout = 1 + (int)tu_uniform(r, 0, 3);
    for (int i = 0; i < 3; i++) {
      p[i] = tu_uniform(r, -1, 1);
      p[3 + i] = tu_uniform(r, 0.2, 0.8);
      double sg = tu_uniform(r, -1, 1) > 0 ? 1 : -1;
      double off = i < nout ? (nout == 1 ? depth : fabs(depth) / sqrt((double)nout))
                            : -tu_uniform(r, 0.05, 0.15);
      p[11 + i] = p[i] + sg * (p[3 + i] + off);
    }
  }
}

START_TEST(test_collider_sdf_gradient) {
  const char *names[3] = {"sdf_ground", "sdf_box", "sdf_sphere"};
  for (int type = 0; type < 3; type++) {
    tu_rng r = {99 + (uint64_t)type};
    kernel k = {names[type], 9, 4, sdf_fn, sdf_adj, &type};
    for (int trial = 0; trial < 40; trial++) {
      double p[17], yb[4];
      contact_inputs(&r, type, p);
      double q[9];
      memcpy(q, p, 6 * sizeof *q);
      memcpy(q + 6, p + 11, 3 * sizeof *q);
      for (int i = 0; i < 4; i++) {
        yb[i] = tu_uniform(&r, -1, 1);
      }
      check_kernel(&k, q, yb, 1e-5);
    }
  }
}
END_TEST

START_TEST(test_contact_gradient) {
  const char *names[3] = {"contact_ground", "contact_box", "contact_sphere"};
  for (int type = 0; type < 3; type++) {
    tu_rng r = {4242 + (uint64_t)type};
    kernel k = {names[type], 17, 3, ct_fn, ct_adj, &type};
    for (int trial = 0; trial < 60; trial++) {
      double p[17], yb[3];
      contact_inputs(&r, type, p);
      for (int i = 0; i < 3; i++) {
        yb[i] = tu_uniform(&r, -1, 1);
      }
      check_kernel(&k, p, yb, 2e-5);
    }
  }
}
END_TEST

START_TEST(test_contact_at_switches) {
  // Exactly touching (φ = 0), zero tangential velocity, zero velocity: finite force and adjoint,
  // and the gradient still matches central differences there (the model has no switch).
  int type = 0;
  kernel k = {"contact_touching", 17, 3, ct_fn, ct_adj, &type};
  double p[17] = {0};
  p[6] = 1e4;
  p[7] = 10;
  p[8] = 0.2;
  p[9] = 1e-3;
  p[10] = 1e-2;
  p[13] = 0.0;  // φ = 0
  double yb[3] = {0.3, -0.2, 0.9};
  double y[3];
  ct_fn(p, y, &type);
  ck_assert_double_eq_tol(y[2], 1e4 * 1e-3 * log(2.0), 1e-9);  // k w softplus(0)
  check_kernel(&k, p, yb, 1e-5);
  p[16] = -0.5;  // moving straight into the ground: v_t = 0
  check_kernel(&k, p, yb, 1e-5);
  // Far away: nothing, and the adjoint adds nothing.
  p[13] = 1.0;
  ct_fn(p, y, &type);
  ck_assert(y[0] == 0 && y[1] == 0 && y[2] == 0);
  double pb[17] = {0};
  ct_adj(p, pb, yb, &type);
  for (int i = 0; i < 17; i++) {
    ck_assert(pb[i] == 0);
  }
}
END_TEST

START_TEST(test_contact_friction_bound) {
  // Sliding fast on the ground at rest penetration: friction → μ k s opposite to the motion.
  int type = 0;
  double p[17] = {0};
  p[6] = 1e4;
  p[8] = 0.5;
  p[9] = 1e-4;
  p[10] = 1e-4;
  p[13] = -0.01;
  p[14] = 3.0;
  double y[3];
  ct_fn(p, y, &type);
  double s = 1e-4 * dp_softplus(0.01 / 1e-4);
  ck_assert_double_eq_tol(y[2], 1e4 * s, 1e-9);
  ck_assert_double_eq_tol(y[0], -0.5 * 1e4 * s, 1e-6);
}
END_TEST

// ---- Euler update: p = m, x(3), v(3), f(3) = 10 ---------------------------------------------

typedef struct {
  int semi;
  int pinned;
} euler_aux;

static void eu_fn(const double *p, double *y, const void *aux) {
  const euler_aux *a = aux;
  euler_update(y, y + 3, a->semi, 0.01, p[0], a->pinned, p + 1, p + 4, p + 7);
}

static void eu_adj(const double *p, double *pb, const double *yb, const void *aux) {
  const euler_aux *a = aux;
  double xo[3], vo[3];
  euler_update(xo, vo, a->semi, 0.01, p[0], a->pinned, p + 1, p + 4, p + 7);
  adj_euler_update(a->semi, 0.01, p[0], a->pinned, p + 4, vo, pb, pb + 1, pb + 4, pb + 7, yb,
                   yb + 3);
}

START_TEST(test_euler_update_gradient) {
  tu_rng r = {31337};
  for (int semi = 0; semi < 2; semi++) {
    for (int pinned = 0; pinned < 2; pinned++) {
      euler_aux a = {semi, pinned};
      kernel k = {semi ? "semi_implicit_euler_update" : "explicit_euler_update", 10, 6, eu_fn,
                  eu_adj, &a};
      for (int trial = 0; trial < 20; trial++) {
        double p[10], yb[6];
        for (int i = 0; i < 10; i++) {
          p[i] = tu_uniform(&r, -2, 2);
        }
        p[0] = tu_uniform(&r, 0.2, 2);
        for (int i = 0; i < 6; i++) {
          yb[i] = tu_uniform(&r, -1, 1);
        }
        check_kernel(&k, p, yb, 1e-6);
      }
    }
  }
}
END_TEST

Suite *make_kernels_suite(void) {
  Suite *s = suite_create("kernels");
  TCase *tc = tcase_create("gradients");
  tcase_add_test(tc, test_particle_force_gradient);
  tcase_add_test(tc, test_particle_force_zero_velocity);
  tcase_add_test(tc, test_spring_gradient);
  tcase_add_test(tc, test_spring_coincident_ends);
  tcase_add_test(tc, test_collider_sdf_gradient);
  tcase_add_test(tc, test_contact_gradient);
  tcase_add_test(tc, test_contact_at_switches);
  tcase_add_test(tc, test_contact_friction_bound);
  tcase_add_test(tc, test_euler_update_gradient);
  suite_add_tcase(s, tc);
  return s;
}
