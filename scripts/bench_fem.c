// Benchmark of soft bodies and shells (make bench): one configuration per process (so that peak
// RSS belongs to it), one table row on stdout.
//   bench_fem solid N T      N×N×N box of 6N³ neo-Hookean tets, semi-implicit Euler, h = 1e-4
//   bench_fem shell N T      N×N grid shell (2N² triangles, hinges, aerodynamics), h = 2e-4
//   bench_fem implicit N T   the N³ box by implicit Euler, h = 1e-2, stretched 10 % in x at
//                            t = 0, no ground (contact is explicit under implicit Euler)
// A rollout of T steps that keeps every state, then the backward sweep of a loss linear in the
// final state (every θ component's gradient), timed; ns per element per step of the forward;
// b/f; the cost of the same gradient by central differences (2 rollouts per θ component) over
// the adjoint's forward + backward; implicit: Newton and CG iterations per step.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "dp/dp.h"
#include "io_mesh.h"

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

static void die(const char *what, const dpError *err) {
  fprintf(stderr, "bench_fem: %s: %s\n", what, err->message);
  exit(1);
}

static dpModel *build(const char *kind, int n, int T) {
  dpModel *m = dp_model_new();
  dpError err = {0};
  int implicit = strcmp(kind, "implicit") == 0, shell = strcmp(kind, "shell") == 0;
  m->integrator = implicit ? DP_IMPLICIT_EULER : DP_SEMI_IMPLICIT_EULER;
  m->dt = implicit ? 1e-2 : shell ? 2e-4 : 1e-4;
  m->steps = T;
  m->substeps = 1;
  m->newton_tol = 1e-8;
  m->cg_tol = 1e-8;
  dpColliderDef g = dp_default_collider_def(DP_COLLIDER_GROUND);
  g.height = 0;
  g.stiffness = 1e5;
  g.damping = 50;
  g.friction = 0.5;
  g.friction_damping = 100;
  // Implicit Euler treats contact explicitly (lib/phys_fem.c), which a 10 ms step cannot take
  // at a useful ground stiffness: the implicit benchmark is a free, initially stretched body.
  if (!implicit && dp_model_add_collider(m, "ground", &g, &err) < 0) {
    die("ground", &err);
  }
  dpMesh mesh = {0};
  int *hinge = NULL, nh = 0;
  dpSoftDef d = dp_default_soft_def(shell);
  if (shell) {
    if (dp_mesh_grid_tris(1.0, 1.0, n, n, &mesh, &err) != DP_OK ||
        dp_mesh_hinges(&mesh, NULL, &hinge, &nh, &err) != DP_OK) {
      die("mesh", &err);
    }
    for (int i = 0; i < mesh.nv; i++) {
      mesh.X[3 * i + 2] += 0.1 + 0.01 * mesh.X[3 * i];
    }
    d.nelem = mesh.ntri;
    d.elem = mesh.tri;
    d.nhinge = nh;
    d.hinge = hinge;
    d.lift = 0.3;
    d.drag = 1.0;
    d.stiffness_damping = 1e-4;
  } else {
    double size[3] = {0.2, 0.2, 0.2};
    int res[3] = {n, n, n};
    if (dp_mesh_box_tets(size, res, &mesh, &err) != DP_OK) {
      die("mesh", &err);
    }
    for (int i = 0; i < mesh.nv; i++) {
      mesh.X[3 * i + 2] += 0.1005;
    }
    d.nelem = mesh.ntet;
    d.elem = mesh.tet;
    d.youngs_modulus = 1e5;
    d.stiffness_damping = 1e-3;
  }
  double *x0 = malloc(3 * (size_t)mesh.nv * sizeof *x0);
  for (int i = 0; i < 3 * mesh.nv; i++) {
    x0[i] = mesh.X[i] * (implicit && i % 3 == 0 ? 1.1 : 1.0);
  }
  d.position = x0;
  d.nv = mesh.nv;
  d.rest = mesh.X;
  d.velocity[0] = 0.5;
  d.velocity[2] = -1.0;
  if (dp_model_add_soft(m, "body", &d, &err) < 0 || dp_model_finalize(m, &err) != DP_OK) {
    die("model", &err);
  }
  dp_free(hinge);
  free(x0);
  dp_mesh_free(&mesh);
  return m;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: bench_fem solid|shell|implicit N T\n");
    return 2;
  }
  const char *kind = argv[1];
  int n = atoi(argv[2]), T = atoi(argv[3]);
  dpModel *m = build(kind, n, T);
  size_t ns = dp_model_nstate(m);
  double *s = calloc((size_t)(T + 1) * ns, sizeof *s);
  double *w = malloc(ns * sizeof *w), *lam = calloc(ns, sizeof *lam), *lam2 = calloc(ns, 8);
  double *tb = calloc(m->ntheta, sizeof *tb);
  for (size_t k = 0; k < ns; k++) {
    w[k] = (k % 7) * 0.1 - 0.3;
  }
  dpData *d = dp_data_new(m, 1);
  const double *th = m->theta0;
  // Forward, best of 3.
  double fwd = 1e300;
  long newton = 0, cg = 0;
  for (int rep = 0; rep < 3; rep++) {
    long n0 = d->newton_iters, c0 = d->cg_iters;
    double t0 = now();
    dp_initial_state(m, th, s);
    for (int t = 0; t < T; t++) {
      dp_step(m, th, d, t, s + (size_t)t * ns, s + (size_t)(t + 1) * ns);
    }
    double el = now() - t0;
    fwd = el < fwd ? el : fwd;
    newton = d->newton_iters - n0;
    cg = d->cg_iters - c0;
  }
  dpError err = {0};
  if (dp_state_check(m, T, s + (size_t)T * ns, &err) != DP_OK) {
    die("forward", &err);
  }
  double bwd = 1e300;
  long cgb = 0;
  for (int rep = 0; rep < 3; rep++) {
    long c0 = d->cg_iters;
    double t0 = now();
    memset(tb, 0, m->ntheta * sizeof *tb);
    memcpy(lam, w, ns * sizeof *lam);
    for (int t = T - 1; t >= 0; t--) {
      memset(lam2, 0, ns * sizeof *lam2);
      adj_dp_step(m, th, d, t, s + (size_t)t * ns, s + (size_t)(t + 1) * ns, tb, lam2, lam);
      double *tmp = lam;
      lam = lam2;
      lam2 = tmp;
    }
    adj_dp_initial_state(m, th, tb, lam);
    double el = now() - t0;
    bwd = el < bwd ? el : bwd;
    cgb = d->cg_iters - c0;
  }
  int nelem = m->ntet > 0 ? m->ntet : m->ntri;
  double ns_elem = 1e9 * fwd / T / nelem;
  double fd = 2.0 * (double)m->ntheta * fwd;
  if (strcmp(kind, "implicit") == 0) {
    printf("| implicit %2d³ | %6d | %5d | %4d | %8.2f | %8.2f | %5.2f | %6.1f | %6.1f | %6.1f | "
           "%9.0f× | %6.1f |\n",
           n, m->ntet, m->nvert, T, 1e3 * fwd / T, 1e3 * bwd / T, bwd / fwd,
           (double)newton / T, (double)cg / T, (double)cgb / T, fd / (fwd + bwd),
           peak_rss_mib());
  } else {
    printf("| %-5s %3d | %7d | %6d | %5d | %8.3f | %8.3f | %5.2f | %7.1f | %9.0f× | %6.1f |\n",
           kind, n, nelem, m->nvert, T, fwd, bwd, bwd / fwd, ns_elem, fd / (fwd + bwd),
           peak_rss_mib());
  }
  free(s);
  free(w);
  free(lam);
  free(lam2);
  free(tb);
  dp_data_free(d);
  dp_model_free(m);
  return 0;
}
