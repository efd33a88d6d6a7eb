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
#include "rb_spatial_kern.h"
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
    if (!isfinite(p0[i])) {
      // An infinite input (friction damping kf = INFINITY) cannot be stepped; the output does
      // not depend on it there (the limit of the derivative is 0), so neither may the adjoint.
      ck_assert_msg(pb[i] == 0, "%s[%d]: adjoint %g at an infinite input", k->name, i, pb[i]);
      continue;
    }
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

// ---- collider contact: p = geom(DP_CGEOM), kc(DP_CCONTACT), x(3), v(3), r(1) = CT_NP ---------

enum { CT_KC = DP_CGEOM, CT_X = CT_KC + DP_CCONTACT, CT_V = CT_X + 3, CT_R = CT_V + 3,
       CT_NP = CT_R + 1 };

static void ct_fn(const double *p, double *y, const void *aux) {
  int type = *(const int *)aux;
  y[0] = y[1] = y[2] = 0;
  contact_force(y, type, p, p + CT_KC, p[CT_R], p + CT_X, p + CT_V);
}

static void ct_adj(const double *p, double *pb, const double *yb, const void *aux) {
  int type = *(const int *)aux;
  adj_contact_force(type, p, p + CT_KC, p[CT_R], p + CT_X, p + CT_V, pb + CT_X, pb + CT_V, pb,
                    pb + CT_KC, pb + CT_R, yb);
}

static void sdf_fn(const double *p, double *y, const void *aux) {
  int type = *(const int *)aux;
  y[0] = collider_sdf(y + 1, type, p, p + DP_CGEOM);
}

static void sdf_adj(const double *p, double *pb, const double *yb, const void *aux) {
  int type = *(const int *)aux;
  adj_collider_sdf(type, p, p + DP_CGEOM, pb + DP_CGEOM, pb, yb[0], yb + 1);
}

// Contact constants of the hand-made cases: k 1e4 N/m, c 10 N·s/m, μ 0.2, w 1 mm, ε 1 cm/s,
// pure smoothed Coulomb (kf = INFINITY), damping both ways (δ = INFINITY), a point particle
// (r = 0); everything else zero.
static void contact_defaults(double *p) {
  for (int i = 0; i < CT_NP; i++) {
    p[i] = 0;
  }
  double *kc = p + CT_KC;
  kc[DP_C_STIFFNESS] = 1e4;
  kc[DP_C_DAMPING] = 10;
  kc[DP_C_FRICTION] = 0.2;
  kc[DP_C_SMOOTHING] = 1e-3;
  kc[DP_C_FRICTION_SMOOTHING] = 1e-2;
  kc[DP_C_FRICTION_DAMPING] = INFINITY;
  kc[DP_C_DAMPING_SMOOTHING] = INFINITY;
}

// Random contact inputs with the particle's surface near the collider surface (|φ − r| ≲ 3w);
// kf = INFINITY, δ = INFINITY; the contact radius r is 0 in a third of the cases.
static void contact_inputs(tu_rng *r, int type, double *p) {
  for (int i = 0; i < CT_NP; i++) {
    p[i] = 0;
  }
  double *kc = p + CT_KC, *x = p + CT_X, *v = p + CT_V;
  kc[DP_C_STIFFNESS] = tu_uniform(r, 1e3, 1e4);
  kc[DP_C_DAMPING] = tu_uniform(r, 0, 20);
  kc[DP_C_FRICTION] = tu_uniform(r, 0, 1);
  kc[DP_C_SMOOTHING] = tu_uniform(r, 1e-3, 1e-2);
  kc[DP_C_FRICTION_SMOOTHING] = tu_uniform(r, 1e-2, 1e-1);
  kc[DP_C_FRICTION_DAMPING] = INFINITY;
  kc[DP_C_DAMPING_SMOOTHING] = INFINITY;
  for (int i = 0; i < 3; i++) {
    v[i] = tu_uniform(r, -2, 2);
  }
  double rad = tu_uniform(r, 0, 3) < 1 ? 0.0 : tu_uniform(r, 0.01, 0.15);
  p[CT_R] = rad;
  double depth = tu_uniform(r, -3, 2) * kc[DP_C_SMOOTHING] + rad;  // φ
  if (type == 0) {
    p[0] = tu_uniform(r, -0.5, 0.5);
    x[0] = tu_uniform(r, -1, 1);
    x[1] = tu_uniform(r, -1, 1);
    x[2] = p[0] + depth;
  } else if (type == 2) {
    double dir[3] = {tu_uniform(r, -1, 1), tu_uniform(r, -1, 1), tu_uniform(r, -1, 1)};
    double l = dp_norm3(dir);
    p[3] = tu_uniform(r, 0.2, 1);
    for (int i = 0; i < 3; i++) {
      p[i] = tu_uniform(r, -1, 1);
      x[i] = p[i] + dir[i] / l * (p[3] + depth);
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
      x[i] = p[i] + sg * (p[3 + i] + off);
    }
  }
}

START_TEST(test_collider_sdf_gradient) {
  const char *names[3] = {"sdf_ground", "sdf_box", "sdf_sphere"};
  for (int type = 0; type < 3; type++) {
    tu_rng r = {99 + (uint64_t)type};
    kernel k = {names[type], DP_CGEOM + 3, 4, sdf_fn, sdf_adj, &type};
    for (int trial = 0; trial < 40; trial++) {
      double p[CT_NP], yb[4];
      contact_inputs(&r, type, p);
      double q[DP_CGEOM + 3];
      memcpy(q, p, DP_CGEOM * sizeof *q);
      memcpy(q + DP_CGEOM, p + CT_X, 3 * sizeof *q);
      for (int i = 0; i < 4; i++) {
        yb[i] = tu_uniform(&r, -1, 1);
      }
      check_kernel(&k, q, yb, 1e-5);
    }
  }
}
END_TEST

// Gradient check of the contact on `trials` random inputs per collider type (ground, box,
// sphere; names[type], RNG seeded with seed + type): contact_inputs, then tweak (may be NULL)
// adjusts the constants of that trial, then a random output adjoint.
typedef void (*contact_tweak)(tu_rng *r, int trial, double *p);

static void check_random_contacts(const char *const names[3], uint64_t seed, int trials,
                                  contact_tweak tweak) {
  for (int type = 0; type < 3; type++) {
    tu_rng r = {seed + (uint64_t)type};
    kernel k = {names[type], CT_NP, 3, ct_fn, ct_adj, &type};
    for (int trial = 0; trial < trials; trial++) {
      double p[CT_NP], yb[3];
      contact_inputs(&r, type, p);
      if (tweak != NULL) {
        tweak(&r, trial, p);
      }
      for (int i = 0; i < 3; i++) {
        yb[i] = tu_uniform(&r, -1, 1);
      }
      check_kernel(&k, p, yb, 2e-5);
    }
  }
}

START_TEST(test_contact_gradient) {
  const char *const names[3] = {"contact_ground", "contact_box", "contact_sphere"};
  check_random_contacts(names, 4242, 60, NULL);
}
END_TEST

START_TEST(test_contact_at_switches) {
  // Exactly touching (φ = 0), zero tangential velocity, zero velocity: finite force and adjoint,
  // and the gradient still matches central differences there (the model has no switch).
  int type = 0;
  kernel k = {"contact_touching", CT_NP, 3, ct_fn, ct_adj, &type};
  double p[CT_NP];
  contact_defaults(p);
  p[CT_X + 2] = 0.0;  // φ = 0
  double yb[3] = {0.3, -0.2, 0.9};
  double y[3];
  ct_fn(p, y, &type);
  ck_assert_double_eq_tol(y[2], 1e4 * 1e-3 * log(2.0), 1e-9);  // k w softplus(0)
  check_kernel(&k, p, yb, 1e-5);
  p[CT_V + 2] = -0.5;  // moving straight into the ground: v_t = 0
  check_kernel(&k, p, yb, 1e-5);
  // Far away: nothing, and the adjoint adds nothing.
  p[CT_X + 2] = 1.0;
  ct_fn(p, y, &type);
  ck_assert(y[0] == 0 && y[1] == 0 && y[2] == 0);
  double pb[CT_NP] = {0};
  ct_adj(p, pb, yb, &type);
  for (int i = 0; i < CT_NP; i++) {
    ck_assert(pb[i] == 0);
  }
}
END_TEST

START_TEST(test_contact_friction_bound) {
  // Sliding fast on the ground at rest penetration: friction → μ k s opposite to the motion.
  int type = 0;
  double p[CT_NP];
  contact_defaults(p);
  double *kc = p + CT_KC;
  kc[DP_C_DAMPING] = 0;
  kc[DP_C_FRICTION] = 0.5;
  kc[DP_C_SMOOTHING] = 1e-4;
  kc[DP_C_FRICTION_SMOOTHING] = 1e-4;
  p[CT_X + 2] = -0.01;
  p[CT_V] = 3.0;
  double y[3];
  ct_fn(p, y, &type);
  double s = 1e-4 * dp_softplus(0.01 / 1e-4);
  ck_assert_double_eq_tol(y[2], 1e4 * s, 1e-9);
  ck_assert_double_eq_tol(y[0], -0.5 * 1e4 * s, 1e-6);
}
END_TEST

// ---- friction damping kf (the viscous cap of friction_factor) -------------------------------

// The contact law before the friction damping existed (phys_contact_kern.h as of 672e9a8),
// frozen: with kf = INFINITY, contact_force and adj_contact_force must reproduce it bit for bit.
static void ref_contact_force(double *f, int type, const double *geom, const double *kc,
                              const double *x, const double *v) {
  double n[3];
  double phi = collider_sdf(n, type, geom, x);
  double k = kc[0], c = kc[1], mu = kc[2], w = kc[3], eps = kc[4];
  double z = -phi / w;
  if (z < DP_CONTACT_CUTOFF) {
    return;
  }
  double s = w * dp_softplus(z);
  double g = dp_sigmoid(z);
  double vn = dp_dot3(v, n);
  double vt[3] = {v[0] - vn * n[0], v[1] - vn * n[1], v[2] - vn * n[2]};
  double q = sqrt(dp_dot3(vt, vt) + eps * eps);
  double fn = k * s - c * g * vn;
  double a = -mu * k * s / q;
  for (int i = 0; i < 3; i++) {
    f[i] += fn * n[i] + a * vt[i];
  }
}

static void adj_ref_contact_force(int type, const double *geom, const double *kc, const double *x,
                                  const double *v, double *x_bar, double *v_bar, double *geom_bar,
                                  double *kc_bar, const double *f_bar) {
  double n[3];
  double phi = collider_sdf(n, type, geom, x);
  double k = kc[0], c = kc[1], mu = kc[2], w = kc[3], eps = kc[4];
  double z = -phi / w;
  if (z < DP_CONTACT_CUTOFF) {
    return;
  }
  double sp = dp_softplus(z);
  double s = w * sp;
  double g = dp_sigmoid(z);
  double vn = dp_dot3(v, n);
  double vt[3] = {v[0] - vn * n[0], v[1] - vn * n[1], v[2] - vn * n[2]};
  double q = sqrt(dp_dot3(vt, vt) + eps * eps);
  double fn = k * s - c * g * vn;
  double a = -mu * k * s / q;
  double fn_bar = dp_dot3(n, f_bar);
  double a_bar = dp_dot3(vt, f_bar);
  double n_bar[3] = {fn * f_bar[0], fn * f_bar[1], fn * f_bar[2]};
  double vt_bar[3] = {a * f_bar[0], a * f_bar[1], a * f_bar[2]};
  kc_bar[2] += -k * s / q * a_bar;
  double ks_bar = -mu / q * a_bar;
  double q_bar = mu * k * s / (q * q) * a_bar;
  for (int i = 0; i < 3; i++) {
    vt_bar[i] += q_bar * vt[i] / q;
  }
  kc_bar[4] += q_bar * eps / q;
  double vt_n = dp_dot3(n, vt_bar);
  double vn_bar = -vt_n;
  for (int i = 0; i < 3; i++) {
    v_bar[i] += vt_bar[i];
    n_bar[i] -= vn * vt_bar[i];
  }
  kc_bar[0] += s * fn_bar + s * ks_bar;
  double s_bar = k * fn_bar + k * ks_bar;
  kc_bar[1] += -g * vn * fn_bar;
  double g_bar = -c * vn * fn_bar;
  vn_bar += -c * g * fn_bar;
  for (int i = 0; i < 3; i++) {
    v_bar[i] += vn_bar * n[i];
    n_bar[i] += vn_bar * v[i];
  }
  double z_bar = s_bar * w * g + g_bar * g * (1.0 - g);
  kc_bar[3] += s_bar * sp - z_bar * z / w;
  double phi_bar = -z_bar / w;
  adj_collider_sdf(type, geom, x, x_bar, geom_bar, phi_bar, n_bar);
}

START_TEST(test_contact_infinite_damping_bitwise) {
  // kf = INFINITY is the pure smoothed Coulomb law of before, bit for bit, forward and adjoint,
  // and its adjoint adds nothing to kf.
  for (int type = 0; type < 3; type++) {
    tu_rng r = {8080 + (uint64_t)type};
    for (int trial = 0; trial < 200; trial++) {
      double p[CT_NP], yb[3];
      contact_inputs(&r, type, p);
      p[CT_R] = 0.0;  // the reference has no contact radius
      if (type == 0 && trial % 4 == 0) {  // v_t = 0 exactly
        p[CT_V] = p[CT_V + 1] = 0.0;
      }
      for (int i = 0; i < 3; i++) {
        yb[i] = tu_uniform(&r, -1, 1);
      }
      double f[3] = {0.1, -0.2, 0.3}, fr[3] = {0.1, -0.2, 0.3};
      contact_force(f, type, p, p + CT_KC, 0.0, p + CT_X, p + CT_V);
      ref_contact_force(fr, type, p, p + CT_KC, p + CT_X, p + CT_V);
      ck_assert_msg(memcmp(f, fr, sizeof f) == 0, "type %d trial %d: force %.17g %.17g %.17g vs "
                    "%.17g %.17g %.17g", type, trial, f[0], f[1], f[2], fr[0], fr[1], fr[2]);
      double pb[CT_NP], pr[CT_NP];
      for (int i = 0; i < CT_NP; i++) {
        pb[i] = pr[i] = 0.01 * i;  // accumulates onto nonzero values
      }
      ct_adj(p, pb, yb, &type);
      adj_ref_contact_force(type, p, p + CT_KC, p + CT_X, p + CT_V, pr + CT_X, pr + CT_V, pr,
                            pr + CT_KC, yb);
      for (int i = 0; i < CT_R; i++) {  // the reference has no r_bar
        ck_assert_msg(memcmp(&pb[i], &pr[i], sizeof pb[i]) == 0,
                      "type %d trial %d: adjoint [%d] %.17g vs %.17g", type, trial, i, pb[i],
                      pr[i]);
      }
    }
  }
}
END_TEST

// Friction dampings from far below the Coulomb bound's slope to far above it (N·s/m).
static const double kf_values[] = {1e-3, 0.3, 5, 50, 500, 1e4, 1e7};
#define N_KF ((int)(sizeof kf_values / sizeof kf_values[0]))

// Exercises friction_factor and adj_friction_factor (through contact_force / adj_contact_force)
// against Richardson central differences, the kf component included.
static void tweak_finite_kf(tu_rng *r, int trial, double *p) {
  (void)r;
  p[CT_KC + DP_C_FRICTION_DAMPING] = kf_values[trial % N_KF];
}

START_TEST(test_contact_friction_damping_gradient) {
  // Random contacts with a finite kf, the kf component itself checked too.
  const char *const names[3] = {"contact_kf_ground", "contact_kf_box", "contact_kf_sphere"};
  check_random_contacts(names, 5151, 70, tweak_finite_kf);
}
END_TEST

START_TEST(test_contact_friction_damping_special) {
  // kf = 0 with a friction bound P > 0 (no friction, ∂a/∂kf = −1), kf = 0 with μ = 0 (D = 0:
  // a = 0 and every derivative 0), and v_t = 0 exactly, on a ground pressed 5 mm deep.
  int type = 0;
  kernel k = {"contact_kf_special", CT_NP, 3, ct_fn, ct_adj, &type};
  double p[CT_NP], y[3], y0[3];
  double yb[3] = {0.3, -0.2, 0.9};
  contact_defaults(p);
  double *kc = p + CT_KC;
  p[CT_X + 2] = -5e-3;
  p[CT_V] = 0.4;
  p[CT_V + 1] = -0.1;
  p[CT_V + 2] = -0.3;
  kc[DP_C_FRICTION_DAMPING] = 0;
  ct_fn(p, y, &type);
  kc[DP_C_FRICTION] = 0;  // the same contact without friction
  kc[DP_C_FRICTION_DAMPING] = INFINITY;
  ct_fn(p, y0, &type);
  kc[DP_C_FRICTION_DAMPING] = 0;
  for (int i = 0; i < 3; i++) {
    ck_assert_msg(y[i] == y0[i], "kf = 0: force[%d] %.17g vs frictionless %.17g", i, y[i], y0[i]);
  }
  kc[DP_C_FRICTION] = 0.2;
  check_kernel(&k, p, yb, 1e-5);
  double pb[CT_NP] = {0};
  ct_adj(p, pb, yb, &type);
  double vt_fb = p[CT_V] * yb[0] + p[CT_V + 1] * yb[1];  // a_bar = v_t · f_bar
  ck_assert_msg(fabs(pb[CT_KC + DP_C_FRICTION_DAMPING] + vt_fb) <= 1e-15,
                "kf = 0: kf_bar %.17g, expected %.17g", pb[CT_KC + DP_C_FRICTION_DAMPING], -vt_fb);
  kc[DP_C_FRICTION] = 0;  // D = 0
  check_kernel(&k, p, yb, 1e-5);
  memset(pb, 0, sizeof pb);
  ct_adj(p, pb, yb, &type);
  ck_assert(pb[CT_KC + DP_C_FRICTION] == 0 && pb[CT_KC + DP_C_FRICTION_DAMPING] == 0);
  // v_t = 0 exactly: the tangential Jacobian ∂f_t/∂v_t is a I, with |a| = kf P / sqrt(kf² ε² +
  // P²) <= kf; far below the pure law's P / ε when kf is small.
  kc[DP_C_FRICTION] = 0.2;
  p[CT_V] = p[CT_V + 1] = 0;
  double s = kc[DP_C_SMOOTHING] * dp_softplus(5e-3 / kc[DP_C_SMOOTHING]);
  double P = 0.2 * 1e4 * s, eps = kc[DP_C_FRICTION_SMOOTHING];
  for (int j = 0; j <= N_KF; j++) {
    double kf = j < N_KF ? kf_values[j] : INFINITY;
    kc[DP_C_FRICTION_DAMPING] = kf;
    check_kernel(&k, p, yb, 1e-5);
    double fx[3] = {1, 0, 0};
    memset(pb, 0, sizeof pb);
    ct_adj(p, pb, fx, &type);
    double slope = -pb[CT_V];  // −∂f_x/∂v_x
    double want = isinf(kf) ? P / eps : kf * P / sqrt(kf * kf * eps * eps + P * P);
    ck_assert_msg(fabs(slope - want) <= 1e-12 * want && slope <= kf * (1 + 1e-15),
                  "kf %g: slope at v_t = 0 %.17g, expected %.17g (P %g)", kf, slope, want, P);
  }
}
END_TEST

START_TEST(test_contact_friction_damping_limits) {
  // |f_t| <= min(kf sqrt(Q), P) for every kf, and kf → ∞ approaches the pure law:
  // a(kf) / a(∞) = 1 / sqrt(1 + P² / (kf² Q)).
  int type = 0;
  double p[CT_NP];
  contact_defaults(p);
  double *kc = p + CT_KC;
  p[CT_X + 2] = -2e-3;
  kc[DP_C_DAMPING] = 0;
  double s = kc[DP_C_SMOOTHING] * dp_softplus(2e-3 / kc[DP_C_SMOOTHING]);
  double P = 0.2 * 1e4 * s, eps = kc[DP_C_FRICTION_SMOOTHING];
  const double speeds[] = {0, 1e-4, 1e-2, 0.3, 5};
  for (int iv = 0; iv < 5; iv++) {
    p[CT_V] = speeds[iv];
    double Q = speeds[iv] * speeds[iv] + eps * eps, finf[3] = {0, 0, 0};
    kc[DP_C_FRICTION_DAMPING] = INFINITY;
    ct_fn(p, finf, &type);
    for (int j = 0; j < N_KF; j++) {
      double kf = kf_values[j], f[3];
      kc[DP_C_FRICTION_DAMPING] = kf;
      ct_fn(p, f, &type);
      double ft = fabs(f[0]), bound = fmin(kf * sqrt(Q), P);
      ck_assert_msg(ft <= bound * (1 + 1e-14) && ft <= fabs(finf[0]) * (1 + 1e-14),
                    "kf %g, v %g: |f_t| %.17g above min(kf sqrt(Q), P) %.17g or the pure law "
                    "%.17g", kf, speeds[iv], ft, bound, fabs(finf[0]));
      ck_assert_double_eq_tol(f[0], finf[0] / sqrt(1 + P * P / (kf * kf * Q)),
                              1e-14 * fabs(finf[0]) + 1e-300);
      ck_assert(f[2] == finf[2]);  // the normal force does not depend on kf
    }
    kc[DP_C_FRICTION_DAMPING] = 1e12;
    double fbig[3];
    ct_fn(p, fbig, &type);
    ck_assert_double_eq_tol(fbig[0], finf[0], 1e-12 * fabs(finf[0]) + 1e-300);
  }
}
END_TEST

// ---- approach-only damping (damping smoothing δ) and the contact radius -------------------------

// Damping smoothings from far below typical approach speeds to above them (m/s).
static const double delta_values[] = {1e-4, 1e-3, 1e-2, 0.3, 2.0};
#define N_DELTA ((int)(sizeof delta_values / sizeof delta_values[0]))

static void tweak_approach_damping(tu_rng *r, int trial, double *p) {
  p[CT_KC + DP_C_DAMPING] = tu_uniform(r, 5, 50);
  p[CT_KC + DP_C_DAMPING_SMOOTHING] = delta_values[trial % N_DELTA];
  if (trial % 2) {
    p[CT_KC + DP_C_FRICTION_DAMPING] = kf_values[trial % N_KF];
  }
}

START_TEST(test_contact_approach_damping_gradient) {
  // damping_velocity and adj_damping_velocity through the contact, the δ and r components
  // checked too, with friction damping finite in half of the cases.
  const char *const names[3] = {"contact_delta_ground", "contact_delta_box",
                                "contact_delta_sphere"};
  check_random_contacts(names, 6161, 70, tweak_approach_damping);
}
END_TEST

START_TEST(test_contact_approach_damping_law) {
  // On the ground pressed 5 mm deep, frictionless: the normal force is k s − c σ(z) d(v_n) with
  // d = (v_n − sqrt(v_n² + δ²))/2. The damping never pulls (f_n >= k s), it acts fully on
  // approach (within c σ δ/2 of −c σ v_n), vanishes on separation as δ/(4 v_n) does, and the
  // gradient matches central differences at v_n = 0 exactly.
  int type = 0;
  kernel k = {"contact_delta_law", CT_NP, 3, ct_fn, ct_adj, &type};
  double p[CT_NP], y[3], yb[3] = {0.3, -0.2, 0.9};
  contact_defaults(p);
  double *kc = p + CT_KC;
  kc[DP_C_FRICTION] = 0;
  p[CT_X + 2] = -5e-3;
  double w = kc[DP_C_SMOOTHING], c = kc[DP_C_DAMPING];
  double s = w * dp_softplus(5e-3 / w), g = dp_sigmoid(5e-3 / w), ks = 1e4 * s;
  const double vns[] = {-3, -0.2, -1e-3, 0, 1e-3, 0.2, 3};
  for (int j = 0; j < N_DELTA; j++) {
    double dl = delta_values[j];
    kc[DP_C_DAMPING_SMOOTHING] = dl;
    for (int i = 0; i < 7; i++) {
      double vn = vns[i];
      p[CT_V + 2] = vn;
      ct_fn(p, y, &type);
      double want = ks - c * g * 0.5 * (vn - sqrt(vn * vn + dl * dl));
      ck_assert_msg(fabs(y[2] - want) <= 1e-12 * want, "δ %g v_n %g: f_n %.17g, expected %.17g",
                    dl, vn, y[2], want);
      ck_assert_msg(y[2] >= ks, "δ %g v_n %g: damping pulls (f_n %.17g < k s %.17g)", dl, vn,
                    y[2], ks);
      if (vn < 0) {
        ck_assert(fabs(y[2] - (ks - c * g * vn)) <= c * g * dl / 2 * (1 + 1e-12));
      } else if (vn > 0) {
        ck_assert(y[2] - ks <= c * g * dl * dl / (4 * vn) * (1 + 1e-9) + 1e-12 * ks);
      }
      check_kernel(&k, p, yb, 1e-5);
    }
  }
  // δ = INFINITY: both ways, the previous law (f_n below k s on separation).
  kc[DP_C_DAMPING_SMOOTHING] = INFINITY;
  p[CT_V + 2] = 0.5;
  ct_fn(p, y, &type);
  ck_assert_double_eq_tol(y[2], ks - c * g * 0.5, 1e-12 * ks);
  double pb[CT_NP] = {0};
  ct_adj(p, pb, yb, &type);
  ck_assert(pb[CT_KC + DP_C_DAMPING_SMOOTHING] == 0);
}
END_TEST

START_TEST(test_contact_radius) {
  // A particle of contact radius r at x touches as a point at x − r n would, for the ground, a
  // box face and a sphere; ∂f/∂r = −∂f/∂φ, so r_bar = −(x_bar · n) there.
  for (int type = 0; type < 3; type++) {
    double p[CT_NP], q[CT_NP], f[3], fq[3];
    contact_defaults(p);
    p[CT_V] = 0.3;
    p[CT_V + 2] = -0.4;
    double n[3] = {0, 0, 1};
    if (type == 0) {
      p[0] = 0.1;  // ground height
    } else {
      p[0] = 0.2;  // centre; box half extents 0.5 or sphere radius 0.5
      p[1] = -0.1;
      p[2] = 0.05;
      p[3] = p[4] = p[5] = 0.5;
    }
    double top = type == 0 ? p[0] : p[2] + 0.5;
    memcpy(q, p, sizeof q);
    p[CT_R] = 0.12;
    p[CT_X] = type == 0 ? 0.7 : p[0];
    p[CT_X + 1] = type == 0 ? -0.3 : p[1];
    p[CT_X + 2] = top + 0.12 - 4e-4;  // surface 0.4 mm inside
    memcpy(q + CT_X, p + CT_X, 3 * sizeof *q);
    q[CT_X + 2] -= 0.12;
    q[CT_R] = 0;
    ct_fn(p, f, &type);
    ct_fn(q, fq, &type);
    for (int i = 0; i < 3; i++) {
      ck_assert_msg(fabs(f[i] - fq[i]) <= 1e-9 * (fabs(fq[i]) + 1),
                    "type %d: f[%d] %.17g with radius, %.17g as a point", type, i, f[i], fq[i]);
    }
    ck_assert(f[2] > 1);
    double yb[3] = {0.2, 0.4, -0.7}, pb[CT_NP] = {0};
    ct_adj(p, pb, yb, &type);
    double xn = dp_dot3(pb + CT_X, n);
    ck_assert_msg(fabs(pb[CT_R] + xn) <= 1e-9 * fabs(xn), "type %d: r_bar %.17g, −x_bar·n %.17g",
                  type, pb[CT_R], -xn);
    kernel k = {"contact_radius", CT_NP, 3, ct_fn, ct_adj, &type};
    check_kernel(&k, p, yb, 1e-5);
  }
}
END_TEST

// ---- the contact law alone: p = φ(1), n(3), v(3), kc(DP_CCONTACT) = CL_NP ----------------------

enum { CL_PHI = 0, CL_N = 1, CL_V = 4, CL_KC = 7, CL_NP = CL_KC + DP_CCONTACT };

static void cl_fn(const double *p, double *y, const void *aux) {
  (void)aux;
  y[0] = y[1] = y[2] = 0;
  contact_law(y, p[CL_PHI], p + CL_N, p + CL_V, p + CL_KC);
}

static void cl_adj(const double *p, double *pb, const double *yb, const void *aux) {
  (void)aux;
  adj_contact_law(p[CL_PHI], p + CL_N, p + CL_V, p + CL_KC, pb + CL_PHI, pb + CL_N, pb + CL_V,
                  pb + CL_KC, yb);
}

START_TEST(test_contact_law_gradient) {
  // Random φ within a few w of contact, a unit n, v, and constants with kf and δ each finite or
  // infinite (the four combinations in turn); every component of n taken independently.
  tu_rng r = {9292};
  kernel k = {"contact_law", CL_NP, 3, cl_fn, cl_adj, NULL};
  for (int trial = 0; trial < 200; trial++) {
    double p[CL_NP], yb[3];
    double *kc = p + CL_KC;
    kc[DP_C_STIFFNESS] = tu_uniform(&r, 1e3, 1e4);
    kc[DP_C_DAMPING] = tu_uniform(&r, 0, 20);
    kc[DP_C_FRICTION] = tu_uniform(&r, 0, 1);
    kc[DP_C_SMOOTHING] = tu_uniform(&r, 1e-3, 1e-2);
    kc[DP_C_FRICTION_SMOOTHING] = tu_uniform(&r, 1e-2, 1e-1);
    kc[DP_C_FRICTION_DAMPING] = trial % 2 ? kf_values[trial % N_KF] : INFINITY;
    kc[DP_C_DAMPING_SMOOTHING] = (trial / 2) % 2 ? delta_values[trial % N_DELTA] : INFINITY;
    p[CL_PHI] = tu_uniform(&r, -3, 2) * kc[DP_C_SMOOTHING];
    double l;
    do {
      for (int i = 0; i < 3; i++) {
        p[CL_N + i] = tu_uniform(&r, -1, 1);
      }
      l = dp_norm3(p + CL_N);
    } while (l < 0.2 || l > 1);
    for (int i = 0; i < 3; i++) {
      p[CL_N + i] /= l;
      p[CL_V + i] = tu_uniform(&r, -2, 2);
      yb[i] = tu_uniform(&r, -1, 1);
    }
    check_kernel(&k, p, yb, 1e-6);
  }
}
END_TEST

START_TEST(test_contact_law_is_contact_force) {
  // contact_force is collider_sdf then contact_law at φ − r, forward and adjoint (r_bar = −φ̄);
  // out of range the law returns 0 and adds nothing.
  for (int type = 0; type < 3; type++) {
    tu_rng r = {9393 + (uint64_t)type};
    for (int trial = 0; trial < 50; trial++) {
      double p[CT_NP], yb[3], n[3];
      contact_inputs(&r, type, p);
      tweak_approach_damping(&r, trial, p);
      for (int i = 0; i < 3; i++) {
        yb[i] = tu_uniform(&r, -1, 1);
      }
      double phi = collider_sdf(n, type, p, p + CT_X) - p[CT_R];
      double f[3] = {0, 0, 0}, fl[3] = {0, 0, 0};
      int in = contact_force(f, type, p, p + CT_KC, p[CT_R], p + CT_X, p + CT_V);
      ck_assert_int_eq(in, contact_law(fl, phi, n, p + CT_V, p + CT_KC));
      ck_assert(memcmp(f, fl, sizeof f) == 0);
      double pb[CT_NP] = {0}, phib = 0, nb[3] = {0}, vb[3] = {0}, kcb[DP_CCONTACT] = {0};
      ct_adj(p, pb, yb, &type);
      adj_contact_law(phi, n, p + CT_V, p + CT_KC, &phib, nb, vb, kcb, yb);
      ck_assert(pb[CT_R] == -phib);
      for (int i = 0; i < 3; i++) {
        ck_assert(pb[CT_V + i] == vb[i]);
      }
      for (int i = 0; i < DP_CCONTACT; i++) {
        ck_assert(pb[CT_KC + i] == kcb[i]);
      }
    }
  }
  double kc[DP_CCONTACT] = {1e4, 10, 0.2, 1e-3, 1e-2, INFINITY, INFINITY};
  double n[3] = {0, 0, 1}, v[3] = {0.3, 0.1, -1}, f[3] = {0, 0, 0}, yb[3] = {1, 1, 1};
  ck_assert_int_eq(contact_law(f, 0.05, n, v, kc), 0);
  ck_assert(f[0] == 0 && f[1] == 0 && f[2] == 0);
  double phib = 0, nb[3] = {0}, vb[3] = {0}, kcb[DP_CCONTACT] = {0};
  adj_contact_law(0.05, n, v, kc, &phib, nb, vb, kcb, yb);
  ck_assert(phib == 0 && nb[0] == 0 && nb[1] == 0 && nb[2] == 0 && vb[2] == 0 && kcb[0] == 0);
}
END_TEST

// ---- spatial algebra of the articulated-body core (rb_spatial_kern.h) ----------------------------
// Each kernel's adjoint directly, on random inputs (they are also exercised through RNEA and the
// rollouts in check_rb.c). aux selects the kernel.

enum { SK_CROSS3, SK_CRM, SK_CRF, SK_INERTIA, SK_SYM3, SK_DEXPINV, SK_N };

static void sk_fn(const double *p, double *y, const void *aux) {
  switch (*(const int *)aux) {
    case SK_CROSS3: rb_cross3(y, p, p + 3); break;
    case SK_CRM: rb_crm(y, p, p + 6); break;
    case SK_CRF: rb_crf(y, p, p + 6); break;
    case SK_INERTIA: rb_inertia_apply(y, p[0], p + 1, p + 4, p + 10); break;
    case SK_SYM3: rb_sym3_vec(y, p, p + 6); break;
    default: rb_dexpinv(y, p, p + 3); break;
  }
}

static void sk_adj(const double *p, double *pb, const double *yb, const void *aux) {
  switch (*(const int *)aux) {
    case SK_CROSS3: adj_rb_cross3(p, p + 3, pb, pb + 3, yb); break;
    case SK_CRM: adj_rb_crm(p, p + 6, pb, pb + 6, yb); break;
    case SK_CRF: adj_rb_crf(p, p + 6, pb, pb + 6, yb); break;
    case SK_INERTIA: adj_rb_inertia_apply(p[0], p + 1, p + 4, p + 10, pb, pb + 1, pb + 4, pb + 10,
                                          yb); break;
    case SK_SYM3: {
      // adj_rb_sym3_coef gives the coefficients' adjoint; the vector's is the same symmetric
      // product applied to ȳ.
      double t[3];
      adj_rb_sym3_coef(p + 6, pb, yb);
      rb_sym3_vec(t, p, yb);
      for (int i = 0; i < 3; i++) {
        pb[6 + i] += t[i];
      }
      break;
    }
    default: adj_rb_dexpinv(p, p + 3, pb, pb + 3, yb); break;
  }
}

START_TEST(test_spatial_kernels_gradient) {
  static const char *names[SK_N] = {"rb_cross3", "rb_crm", "rb_crf", "rb_inertia_apply",
                                    "rb_sym3_vec", "rb_dexpinv"};
  static const int np[SK_N] = {6, 12, 12, 16, 9, 6}, ny[SK_N] = {3, 6, 6, 6, 3, 3};
  tu_rng r = {2718};
  for (int which = 0; which < SK_N; which++) {
    kernel k = {names[which], np[which], ny[which], sk_fn, sk_adj, &which};
    for (int trial = 0; trial < 20; trial++) {
      double p[16], yb[6];
      for (int i = 0; i < np[which]; i++) {
        p[i] = tu_uniform(&r, -1, 1);
      }
      if (which == SK_INERTIA) {
        p[0] = tu_uniform(&r, 0.1, 2);  // mass
      }
      for (int i = 0; i < ny[which]; i++) {
        yb[i] = tu_uniform(&r, -1, 1);
      }
      check_kernel(&k, p, yb, 1e-7);
    }
  }
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
  tcase_add_test(tc, test_contact_infinite_damping_bitwise);
  tcase_add_test(tc, test_contact_friction_damping_gradient);
  tcase_add_test(tc, test_contact_friction_damping_special);
  tcase_add_test(tc, test_contact_friction_damping_limits);
  tcase_add_test(tc, test_contact_approach_damping_gradient);
  tcase_add_test(tc, test_contact_approach_damping_law);
  tcase_add_test(tc, test_contact_radius);
  tcase_add_test(tc, test_contact_law_gradient);
  tcase_add_test(tc, test_contact_law_is_contact_force);
  tcase_add_test(tc, test_spatial_kernels_gradient);
  tcase_add_test(tc, test_euler_update_gradient);
  suite_add_tcase(s, tc);
  return s;
}
