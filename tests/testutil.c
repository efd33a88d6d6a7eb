// Shared pieces of the Check suites: the failing allocator, the mixed test model and scratch
// directories.
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

void *tu_failing_alloc(void *ud, void *ptr, size_t oldsize, size_t newsize) {
  tu_fail_alloc *f = ud;
  (void)oldsize;
  if (newsize == 0) {
    if (ptr != NULL) {
      f->live--;
    }
    free(ptr);
    return NULL;
  }
  if (++f->count == f->fail_at) {
    return NULL;
  }
  void *p = realloc(ptr, newsize);
  if (p != NULL && ptr == NULL) {
    f->live++;
  }
  return p;
}

dpModel *tu_mixed_model(dpIntegrator integ, int substeps, int steps) {
  dpError err = {0};
  dpModel *m = dp_model_new();
  m->integrator = integ;
  m->substeps = substeps;
  m->steps = steps;
  m->dt = 0.01;
  const double pos[5][3] = {
      {0.1, 0.2, 0.03}, {0.6, 0.1, 0.5}, {0.0, 0.0, 1.0}, {1.72, 0.1, 0.6}, {0.0, 2.0, 0.95}};
  const double vel[5][3] = {
      {0.5, -0.2, -0.3}, {0.1, 0.4, 0.2}, {0, 0, 0}, {0.6, 0.1, -0.2}, {0.2, 0.1, -0.4}};
  const char *names[5] = {"a", "b", "pin", "c", "d"};
  for (int i = 0; i < 5; i++) {
    dpParticleDef p = dp_default_particle_def();
    p.mass = 0.5 + 0.3 * i;
    memcpy(p.position, pos[i], sizeof p.position);
    memcpy(p.velocity, vel[i], sizeof p.velocity);
    p.linear_drag = 0.1 * i;
    p.quadratic_drag = 0.05 * (4 - i);
    p.force[0] = 0.1 * i;
    p.pinned = i == 2;
    ck_assert_int_ge(dp_model_add_particle(m, names[i], &p, &err), 0);
  }
  const int pairs[4][2] = {{0, 1}, {1, 2}, {3, -1}, {0, 3}};
  const char *snames[4] = {"s0", "s1", "s2", "s3"};
  for (int i = 0; i < 4; i++) {
    dpSpringDef s = dp_default_spring_def();
    s.a = pairs[i][0];
    s.b = pairs[i][1];
    s.anchor[0] = 2.0;
    s.anchor[2] = 1.0;
    s.stiffness = 20 + 5 * i;
    s.damping = 0.3 * i;
    s.rest_length = i == 1 ? -1 : 0.4 + 0.1 * i;
    ck_assert_int_ge(dp_model_add_spring(m, snames[i], &s, &err), 0);
  }
  dpColliderDef g = dp_default_collider_def(DP_COLLIDER_GROUND);
  g.stiffness = 500;
  g.smoothing = 0.05;
  g.friction_smoothing = 0.1;
  g.friction_damping = 5;  // the viscous cap active at particle a (kf q ≈ P)
  ck_assert_int_ge(dp_model_add_collider(m, "ground", &g, &err), 0);
  dpColliderDef b = dp_default_collider_def(DP_COLLIDER_BOX);
  b.center[0] = 2.0;
  b.center[2] = 0.6;
  b.half_extents[0] = 0.25;
  b.half_extents[1] = 0.5;
  b.half_extents[2] = 0.5;
  b.stiffness = 400;
  b.smoothing = 0.05;
  b.friction_smoothing = 0.1;
  b.friction_damping = 20;
  ck_assert_int_ge(dp_model_add_collider(m, "wall", &b, &err), 0);
  dpColliderDef sp = dp_default_collider_def(DP_COLLIDER_SPHERE);
  sp.center[1] = 2.0;
  sp.center[2] = 0.5;
  sp.radius = 0.4;
  sp.stiffness = 300;
  sp.smoothing = 0.05;
  sp.friction_smoothing = 0.1;
  ck_assert_int_ge(dp_model_add_collider(m, "rock", &sp, &err), 0);
  int up[2] = {0, 4};
  ck_assert_int_eq(dp_model_set_controls(m, 2, up, NULL, &err), DP_OK);
  ck_assert_msg(dp_model_finalize(m, &err) == DP_OK, "%s", err.message);
  tu_rng r = {5};
  double *u = m->theta0 + m->off.controls;
  for (size_t k = 0; k < (size_t)m->steps * m->nu * 3; k++) {
    u[k] = tu_uniform(&r, -1, 1);
  }
  return m;
}


void tmpdir_make(tmpDir *d, const char *tag) {
  snprintf(d->path, sizeof d->path, "/tmp/dp-%s-XXXXXX", tag);
  ck_assert_msg(mkdtemp(d->path) != NULL, "mkdtemp: %s", strerror(errno));
}

void tmpdir_file(const tmpDir *d, const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", d->path, name);
}

int tmpdir_count(const tmpDir *d, char *last, size_t cap) {
  DIR *dir = opendir(d->path);
  ck_assert_ptr_nonnull(dir);
  int n = 0;
  struct dirent *de;
  while ((de = readdir(dir)) != NULL) {
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
      n++;
      if (last != NULL) {
        snprintf(last, cap, "%s", de->d_name);
      }
    }
  }
  closedir(dir);
  return n;
}

void tmpdir_remove(tmpDir *d) {
  DIR *dir = opendir(d->path);
  if (dir == NULL) {
    return;
  }
  struct dirent *de;
  char p[512];
  while ((de = readdir(dir)) != NULL) {
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
      snprintf(p, sizeof p, "%s/%s", d->path, de->d_name);
      unlink(p);
    }
  }
  closedir(dir);
  rmdir(d->path);
}

// ---- rollouts with a linear loss ----

void tu_roll_init(tu_roll *r, const dpModel *m, uint64_t seed) {
  size_t ns = dp_model_nstate(m);
  r->m = m;
  r->d = dp_data_new(m, 1);
  r->s = calloc((size_t)(m->steps + 1) * ns, sizeof(double));
  r->wT = calloc(ns, sizeof(double));
  r->wM = calloc(ns, sizeof(double));
  r->lam = calloc(ns, sizeof(double));
  r->lam2 = calloc(ns, sizeof(double));
  tu_rng g = {seed};
  for (size_t k = 0; k < ns; k++) {
    r->wT[k] = tu_uniform(&g, -1, 1);
    r->wM[k] = tu_uniform(&g, -1, 1);
  }
}

void tu_roll_free(tu_roll *r) {
  dp_data_free(r->d);
  free(r->s);
  free(r->wT);
  free(r->wM);
  free(r->lam);
  free(r->lam2);
}

double tu_roll_value(tu_roll *r, const double *theta) {
  const dpModel *m = r->m;
  size_t ns = dp_model_nstate(m);
  int T = m->steps, M = T / 2;
  dp_initial_state(m, theta, r->s);
  for (int t = 0; t < T; t++) {
    dp_step(m, theta, r->d, t, r->s + (size_t)t * ns, r->s + (size_t)(t + 1) * ns);
  }
  double L = 0;
  for (size_t k = 0; k < ns; k++) {
    L += r->wT[k] * r->s[(size_t)T * ns + k] + r->wM[k] * r->s[(size_t)M * ns + k];
  }
  return L;
}

void tu_roll_grad(tu_roll *r, const double *theta, double *theta_bar) {
  const dpModel *m = r->m;
  size_t ns = dp_model_nstate(m);
  int T = m->steps, M = T / 2;
  tu_roll_value(r, theta);
  memset(theta_bar, 0, m->ntheta * sizeof *theta_bar);
  memcpy(r->lam, r->wT, ns * sizeof *r->lam);
  for (int t = T - 1; t >= 0; t--) {
    memset(r->lam2, 0, ns * sizeof *r->lam2);
    adj_dp_step(m, theta, r->d, t, r->s + (size_t)t * ns, r->s + (size_t)(t + 1) * ns, theta_bar,
                r->lam2, r->lam);
    if (t == M) {
      for (size_t k = 0; k < ns; k++) {
        r->lam2[k] += r->wM[k];
      }
    }
    memcpy(r->lam, r->lam2, ns * sizeof *r->lam);
  }
  adj_dp_initial_state(m, theta, theta_bar, r->lam);
}
