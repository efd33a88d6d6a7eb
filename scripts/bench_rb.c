// Benchmark driver for the articulated-body core (lib/rb_tree.c), for `make bench`: one
// configuration per process (so that peak RSS belongs to it), one table row on stdout.
//   bench_rb step N          per-step time of an N-link revolute chain, RK4 and semi-implicit
//                            Euler, and of the mass matrix and forward dynamics alone
//   bench_rb grad N T INT    the full gradient of a T-step rollout of the N-link chain (INT: rk4
//                            or euler) with respect to every parameter and every control, by
//                            the adjoint; its cost against the forward rollout, and against
//                            central finite differences (timed on a sample of parameters and
//                            extrapolated to all of them, the sample size printed)
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "dp/dp.h"
#include "rb_tree.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_maxrss / 1024.0;
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n > 0 ? n : 1, size);
  if (p == NULL) {
    fprintf(stderr, "bench_rb: out of memory\n");
    exit(1);
  }
  return p;
}

// An N-link chain of revolute joints whose axes alternate between y and x (a spatial chain, so
// the mass matrix is full), links 0.2 m long along −z, 1 kg each, slender-rod inertia; every
// parameter lives in one block theta so that one gradient covers them all.
typedef struct {
  dpRbTree *tree;
  double *theta;  // mass nb, com 3nb, inertia 6nb, jpos 3nb, damping nv, armature nv, gravity 3
  size_t ntheta;
  dpRbParams p;
  double *scratch;
} Chain;

static void chain_params(Chain *c, double *theta, dpRbParams *p) {
  int nb = c->tree->nb, nv = c->tree->nv;
  p->mass = theta;
  p->com = theta + nb;
  p->inertia = theta + 4 * nb;
  p->jpos = theta + 10 * nb;
  p->damping = theta + 13 * nb;
  p->armature = theta + 13 * nb + nv;
  p->gravity = theta + 13 * nb + 2 * nv;
}

static void chain_bars(Chain *c, double *bar, dpRbParamsBar *pb) {
  int nb = c->tree->nb, nv = c->tree->nv;
  pb->mass = bar;
  pb->com = bar + nb;
  pb->inertia = bar + 4 * nb;
  pb->jpos = bar + 10 * nb;
  pb->damping = bar + 13 * nb;
  pb->armature = bar + 13 * nb + nv;
  pb->gravity = bar + 13 * nb + 2 * nv;
}

static void chain_make(Chain *c, int n) {
  int *parent = xcalloc((size_t)n, sizeof *parent), *jtype = xcalloc((size_t)n, sizeof *jtype);
  double *axis = xcalloc(3 * (size_t)n, sizeof *axis);
  for (int i = 0; i < n; i++) {
    parent[i] = i - 1;
    jtype[i] = DP_RB_REVOLUTE;
    axis[3 * i + (i % 2 == 0 ? 1 : 0)] = 1.0;
  }
  dpError err = {0};
  if (rb_tree_create(n, parent, jtype, axis, &c->tree, &err) != DP_OK) {
    fprintf(stderr, "bench_rb: %s\n", err.message);
    exit(1);
  }
  free(parent);
  free(jtype);
  free(axis);
  c->ntheta = 13 * (size_t)n + 2 * (size_t)c->tree->nv + 3;
  c->theta = xcalloc(c->ntheta, sizeof *c->theta);
  chain_params(c, c->theta, &c->p);
  double *th = c->theta;
  const double L = 0.2, m = 1.0;
  for (int i = 0; i < n; i++) {
    th[i] = m;
    th[n + 3 * i + 2] = -L / 2;                // com
    th[4 * n + 6 * i] = m * L * L / 12;        // Ixx
    th[4 * n + 6 * i + 1] = m * L * L / 12;    // Iyy
    th[4 * n + 6 * i + 2] = 1e-4;              // Izz
    th[10 * n + 3 * i + 2] = i == 0 ? 0 : -L;  // joint at the end of the parent link
  }
  th[13 * n + 2 * c->tree->nv + 2] = -9.81;
  c->scratch = xcalloc(rb_scratch_size(c->tree), sizeof *c->scratch);
}

static void chain_free(Chain *c) {
  rb_tree_free(c->tree);
  free(c->theta);
  free(c->scratch);
}

typedef int (*StepFn)(const dpRbTree *, const dpRbParams *, const double *, const double *,
                      const double *, double, double *, double *, double *);
typedef void (*AdjStepFn)(const dpRbTree *, const dpRbParams *, const double *, const double *,
                          const double *, double, double *, double *, double *,
                          const dpRbParamsBar *, const double *, const double *, double *);

static const double H = 1e-3;

static void initial_state(const Chain *c, double *q, double *qd) {
  rb_q_neutral(c->tree, q);
  for (int i = 0; i < c->tree->nv; i++) {
    q[i] = 0.3 * sin(1.0 + i);  // revolute chain: nq = nv
    qd[i] = 0.2 * cos(2.0 + i);
  }
}

static int bench_step(int n) {
  Chain c;
  chain_make(&c, n);
  int nq = c.tree->nq, nv = c.tree->nv;
  double *q = xcalloc((size_t)nq, sizeof *q), *qd = xcalloc((size_t)nv, sizeof *qd);
  double *q2 = xcalloc((size_t)nq, sizeof *q2), *qd2 = xcalloc((size_t)nv, sizeof *qd2);
  double *tau = xcalloc((size_t)nv, sizeof *tau), *qdd = xcalloc((size_t)nv, sizeof *qdd);
  double *M = xcalloc((size_t)nv * nv, sizeof *M);
  const char *names[2] = {"rk4", "semi_implicit_euler"};
  StepFn fns[2] = {rb_step_rk4, rb_step_euler};
  double us[2];
  int steps = 2000000 / (n * n + 10 * n) + 200;
  for (int k = 0; k < 2; k++) {
    double best = INFINITY;
    for (int rep = 0; rep < 3; rep++) {
      initial_state(&c, q, qd);
      double t0 = now();
      for (int s = 0; s < steps; s++) {
        if (fns[k](c.tree, &c.p, q, qd, tau, H, q2, qd2, c.scratch) != 0) {
          fprintf(stderr, "bench_rb: mass matrix not positive definite\n");
          return 1;
        }
        memcpy(q, q2, (size_t)nq * sizeof *q);
        memcpy(qd, qd2, (size_t)nv * sizeof *qd);
      }
      best = fmin(best, (now() - t0) / steps);
    }
    us[k] = 1e6 * best;
  }
  initial_state(&c, q, qd);
  double best_m = INFINITY, best_fd = INFINITY;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = now();
    for (int s = 0; s < steps; s++) {
      rb_crba(c.tree, &c.p, q, M, c.scratch);
    }
    double t1 = now();
    for (int s = 0; s < steps; s++) {
      rb_forward_dynamics(c.tree, &c.p, q, qd, tau, qdd, c.scratch);
    }
    double t2 = now();
    best_m = fmin(best_m, (t1 - t0) / steps);
    best_fd = fmin(best_fd, (t2 - t1) / steps);
  }
  printf("| %3d-link chain | %5d | %9.2f | %9.2f | %9.2f | %9.2f | %6.1f |\n", n, nv, us[0], us[1],
         1e6 * best_m, 1e6 * best_fd, peak_rss_mib());
  (void)names;
  free(q);
  free(qd);
  free(q2);
  free(qd2);
  free(tau);
  free(qdd);
  free(M);
  chain_free(&c);
  return 0;
}

// Loss of a rollout: ½|q_T − q*|² + ½|qd_T|² + ½ 1e-3 Σ_t |u_t|² with q* = 0.1 per joint.
static double rollout(const Chain *c, const dpRbParams *p, const double *u, int T, StepFn step,
                      double *qs, double *qds) {
  int nq = c->tree->nq, nv = c->tree->nv;
  double L = 0;
  for (int t = 0; t < T; t++) {
    step(c->tree, p, qs + (size_t)t * nq, qds + (size_t)t * nv, u + (size_t)t * nv, H,
         qs + (size_t)(t + 1) * nq, qds + (size_t)(t + 1) * nv, c->scratch);
    for (int i = 0; i < nv; i++) {
      L += 0.5e-3 * u[(size_t)t * nv + i] * u[(size_t)t * nv + i];
    }
  }
  const double *qT = qs + (size_t)T * nq, *qdT = qds + (size_t)T * nv;
  for (int i = 0; i < nv; i++) {
    L += 0.5 * (qT[i] - 0.1) * (qT[i] - 0.1) + 0.5 * qdT[i] * qdT[i];
  }
  return L;
}

static int bench_grad(int n, int T, const char *integ) {
  Chain c;
  chain_make(&c, n);
  int rk4 = strcmp(integ, "rk4") == 0;
  StepFn step = rk4 ? rb_step_rk4 : rb_step_euler;
  AdjStepFn adj = rk4 ? adj_rb_step_rk4 : adj_rb_step_euler;
  int nq = c.tree->nq, nv = c.tree->nv;
  size_t nu = (size_t)T * nv;
  double *qs = xcalloc((size_t)(T + 1) * nq, sizeof *qs);
  double *qds = xcalloc((size_t)(T + 1) * nv, sizeof *qds);
  double *u = xcalloc(nu, sizeof *u), *u_bar = xcalloc(nu, sizeof *u_bar);
  double *th_bar = xcalloc(c.ntheta, sizeof *th_bar);
  double *q_bar = xcalloc((size_t)nv, sizeof *q_bar), *qd_bar = xcalloc((size_t)nv, sizeof *qd_bar);
  double *q_bar2 = xcalloc((size_t)nv, sizeof *q_bar2);
  double *qd_bar2 = xcalloc((size_t)nv, sizeof *qd_bar2);
  for (size_t k = 0; k < nu; k++) {
    u[k] = 0.5 * sin(0.01 * (double)k);
  }
  initial_state(&c, qs, qds);
  dpRbParamsBar pb;
  chain_bars(&c, th_bar, &pb);
  double t_f = INFINITY, t_b = INFINITY, L = 0;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = now();
    L = rollout(&c, &c.p, u, T, step, qs, qds);
    double t1 = now();
    memset(th_bar, 0, c.ntheta * sizeof *th_bar);
    memset(u_bar, 0, nu * sizeof *u_bar);
    const double *qT = qs + (size_t)T * nq, *qdT = qds + (size_t)T * nv;
    for (int i = 0; i < nv; i++) {
      q_bar[i] = qT[i] - 0.1;
      qd_bar[i] = qdT[i];
    }
    for (int t = T - 1; t >= 0; t--) {
      memset(q_bar2, 0, (size_t)nv * sizeof *q_bar2);
      memset(qd_bar2, 0, (size_t)nv * sizeof *qd_bar2);
      double *ub = u_bar + (size_t)t * nv;
      const double *ut = u + (size_t)t * nv;
      for (int i = 0; i < nv; i++) {
        ub[i] += 1e-3 * ut[i];
      }
      adj(c.tree, &c.p, qs + (size_t)t * nq, qds + (size_t)t * nv, ut, H, q_bar2, qd_bar2, ub, &pb,
          q_bar, qd_bar, c.scratch);
      memcpy(q_bar, q_bar2, (size_t)nv * sizeof *q_bar);
      memcpy(qd_bar, qd_bar2, (size_t)nv * sizeof *qd_bar);
    }
    double t2 = now();
    t_f = fmin(t_f, t1 - t0);
    t_b = fmin(t_b, t2 - t1);
  }
  // Central differences on a sample of parameters (about 60 parameter entries and 8 controls,
  // evenly spread), each with two rollouts; the check error is the largest disagreement relative
  // to the largest sampled gradient component (entries near 0 are within rounding of FD).
  size_t P = c.ntheta + nu;
  int nsample = 0;
  double worst = 0, gmax = 0, t_fd = 0;  // max |fd − adjoint| over max |adjoint|, sample
  double *th2 = xcalloc(c.ntheta, sizeof *th2), *u2 = xcalloc(nu, sizeof *u2);
  dpRbParams p2;
  chain_params(&c, th2, &p2);
  size_t th_stride = c.ntheta / 60 + 1;  // at most about 60 parameter entries, 8 controls
  for (size_t j = 0; j < P; j += (j < c.ntheta ? th_stride : nu / 7 + 1)) {
    memcpy(th2, c.theta, c.ntheta * sizeof *th2);
    memcpy(u2, u, nu * sizeof *u2);
    double *x = j < c.ntheta ? th2 + j : u2 + (j - c.ntheta);
    double x0 = *x, h = 1e-6 * fmax(1.0, fabs(x0));
    double t0 = now();
    *x = x0 + h;
    double Lp = rollout(&c, &p2, u2, T, step, qs, qds);
    *x = x0 - h;
    double Lm = rollout(&c, &p2, u2, T, step, qs, qds);
    t_fd += now() - t0;
    double fd = (Lp - Lm) / (2 * h), ad = j < c.ntheta ? th_bar[j] : u_bar[j - c.ntheta];
    worst = fmax(worst, fabs(fd - ad));
    gmax = fmax(gmax, fabs(ad));
    nsample++;
  }
  worst /= gmax > 0 ? gmax : 1.0;
  double fd_all = t_fd / nsample * (double)P;
  printf("| %3d-link chain | %-5s | %5d | %7zu | %8.4f | %8.4f | %5.2f | %9.2f | %7.0fx | %6.1e "
         "(%d) | %6.1f | %.6g |\n",
         n, rk4 ? "rk4" : "euler", T, P, t_f, t_b, t_b / t_f, fd_all, fd_all / (t_f + t_b), worst,
         nsample, peak_rss_mib(), L);
  free(qs);
  free(qds);
  free(u);
  free(u_bar);
  free(th_bar);
  free(q_bar);
  free(qd_bar);
  free(q_bar2);
  free(qd_bar2);
  free(th2);
  free(u2);
  chain_free(&c);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "step") == 0) {
    return bench_step(atoi(argv[2]));
  }
  if (argc == 5 && strcmp(argv[1], "grad") == 0) {
    return bench_grad(atoi(argv[2]), atoi(argv[3]), argv[4]);
  }
  fprintf(stderr, "usage: bench_rb step N | bench_rb grad N T rk4|euler\n");
  return 2;
}
