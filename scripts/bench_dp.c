// Benchmark driver for `make bench`: one configuration per process (so that peak RSS belongs to
// it), one table row on stdout.
//   bench_dp cloth N T [K]   N×N cloth, T steps, gradient w.r.t. every spring stiffness;
//                            K = checkpoint interval (0: √T)
//   bench_dp projectile T    the projectile scene over T steps, full gradient, and the same
//                            gradient by central finite differences (measured)
//   bench_dp scene FILE LOSS [K]  a scene and loss: the full gradient (every θ component) with
//                            the checkpointed rollout, and central differences timed on a
//                            sample of 8 components, extrapolated to all
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "dp/dp.h"

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

static void die(const dpError *err) {
  fprintf(stderr, "bench_dp: %s\n", err->message);
  exit(1);
}

// Best of `reps` timings of a forward sweep and of a forward + backward sweep.
static void time_rollout(const dpModel *m, const dpLoss *loss, int k, int reps, double *t_fwd,
                         double *t_grad, double *L, double *grad) {
  dpError err = {0};
  *t_fwd = *t_grad = INFINITY;
  for (int r = 0; r < reps; r++) {
    dpRollout *ro = NULL;
    if (dp_rollout_new(m, DP_DEVICE_CPU, k, &ro, &err) != DP_OK) {
      die(&err);
    }
    double t0 = now();
    *L = 0;
    if (dp_rollout_forward(ro, m->theta0, loss, L, 1, NULL, NULL, &err) != DP_OK) {
      die(&err);
    }
    double t1 = now();
    memset(grad, 0, m->ntheta * sizeof *grad);
    if (dp_rollout_backward(ro, m->theta0, loss, grad, &err) != DP_OK) {
      die(&err);
    }
    double t2 = now();
    dp_rollout_free(ro);
    *t_fwd = fmin(*t_fwd, t1 - t0);
    *t_grad = fmin(*t_grad, t2 - t0);
  }
}

static int bench_cloth(int n, int T, int k) {
  char s_n[64], s_T[64], s_mass[64];
  snprintf(s_n, sizeof s_n, "cloth.sheet.n=%d", n);
  snprintf(s_T, sizeof s_T, "steps=%d", T);
  // Keep the per-particle mass of the 16×16 sheet (1/256 kg) so that one substep is stable.
  snprintf(s_mass, sizeof s_mass, "cloth.sheet.mass=%.17g", n * n / 256.0);
  const char *sets[5] = {s_n, s_T, s_mass, "substeps=1", "dt=1e-3"};
  dpError err = {0};
  dpModel *m = NULL;
  dpLoss *loss = NULL;
  if (dp_scene_load("scenes/cloth.yaml", sets, 5, &m, &err) != DP_OK ||
      dp_loss_load("scenes/cloth.json", m, &loss, &err) != DP_OK) {
    die(&err);
  }
  double *grad = malloc(m->ntheta * sizeof *grad);
  double tf, tg, L;
  int reps = T >= 10000 ? 1 : 3;
  time_rollout(m, loss, k, reps, &tf, &tg, &L, grad);
  dpRollout *ro = NULL;
  dp_rollout_new(m, DP_DEVICE_CPU, k, &ro, &err);
  double state_mib = (double)dp_rollout_bytes(ro) / (1024.0 * 1024.0);
  int kk = dp_rollout_checkpoint_every(ro);
  dp_rollout_free(ro);
  double tb = tg - tf;
  double ns_spring = tf / ((double)T * m->ns) * 1e9;
  // Finite differences for the same gradient (every spring stiffness): 2 forward sweeps each.
  double fd_cost = 2.0 * m->ns * tf;
  printf("| cloth %2dx%-2d | %6d | %5d | %5d | %8.4f | %8.4f | %8.4f | %5.2f | %6.2f | %9.1f | "
         "%8.1f | %9.0fx |\n",
         n, n, T, m->ns, kk, tf, tb, tg, tb / tf, ns_spring, peak_rss_mib(), state_mib,
         fd_cost / tg);
  free(grad);
  dp_loss_free(loss);
  dp_model_free(m);
  return 0;
}

static int bench_projectile(int T) {
  char s_T[64], s_dt[64];
  snprintf(s_T, sizeof s_T, "steps=%d", T);
  snprintf(s_dt, sizeof s_dt, "dt=%.17g", 2.0 / T);
  const char *sets[2] = {s_T, s_dt};
  dpError err = {0};
  dpModel *m = NULL;
  dpLoss *loss = NULL;
  if (dp_scene_load("scenes/projectile.yaml", sets, 2, &m, &err) != DP_OK ||
      dp_loss_load("scenes/projectile.json", m, &loss, &err) != DP_OK) {
    die(&err);
  }
  double *grad = malloc(m->ntheta * sizeof *grad);
  double *th = malloc(m->ntheta * sizeof *th);
  double tf, tg, L;
  time_rollout(m, loss, 0, 20, &tf, &tg, &L, grad);
  // Measured finite differences over every parameter (central: 2 sweeps each).
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  double t0 = now();
  for (size_t i = 0; i < m->ntheta; i++) {
    double x = th[i], h = 1e-6 * fmax(fabs(x), 1e-2), lp, lm;
    th[i] = x + h;
    dp_value(m, th, loss, &lp, &err);
    th[i] = x - h;
    dp_value(m, th, loss, &lm, &err);
    th[i] = x;
  }
  double tfd = now() - t0;
  printf("| projectile | %6d | %5zu | %8.2f | %8.2f | %8.2f | %5.2f | %10.3f | %9.0fx |\n", T,
         m->ntheta, tf * 1e6, (tg - tf) * 1e6, tg * 1e6, (tg - tf) / tf, tfd * 1e3, tfd / tg);
  free(grad);
  free(th);
  dp_loss_free(loss);
  dp_model_free(m);
  return 0;
}

static int bench_scene(const char *file, const char *lossfile, int k) {
  dpError err = {0};
  dpModel *m = NULL;
  dpLoss *loss = NULL;
  if (dp_scene_load(file, NULL, 0, &m, &err) != DP_OK ||
      dp_loss_load(lossfile, m, &loss, &err) != DP_OK) {
    die(&err);
  }
  double *grad = malloc(m->ntheta * sizeof *grad);
  double *th = malloc(m->ntheta * sizeof *th);
  double tf, tg, L;
  time_rollout(m, loss, k, 5, &tf, &tg, &L, grad);
  // Central differences on a sample of finite components spread over θ: 2 sweeps each; the
  // worst disagreement relative to the gradient's largest component.
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  double gmax = 0;
  size_t nfin = 0;
  for (size_t i = 0; i < m->ntheta; i++) {
    if (isfinite(th[i])) {
      nfin++;
      gmax = fmax(gmax, fabs(grad[i]));
    }
  }
  int ns = 0;
  double worst = 0, t0 = now();
  for (size_t i = 0; i < m->ntheta && ns < 8; i += m->ntheta / 8 + 1) {
    size_t j = i;
    while (j < m->ntheta && !isfinite(th[j])) {
      j++;
    }
    if (j >= m->ntheta) {
      break;
    }
    double x = th[j], h = 1e-6 * fmax(fabs(x), 1e-2), lp, lm;
    th[j] = x + h;
    dp_value(m, th, loss, &lp, &err);
    th[j] = x - h;
    dp_value(m, th, loss, &lm, &err);
    th[j] = x;
    worst = fmax(worst, fabs((lp - lm) / (2 * h) - grad[j]) / fmax(gmax, 1e-300));
    ns++;
  }
  double tfd = (now() - t0) / ns * (double)nfin;
  const char *base = strrchr(file, '/');
  printf("| %-15s | %6d | %6zu | %8.4f | %8.4f | %5.2f | %9.3f | %9.0fx | %8.1e (%d) | %7.1f |\n",
         base ? base + 1 : file, m->steps, nfin, tf, tg - tf, (tg - tf) / tf, tfd, tfd / tg, worst,
         ns, peak_rss_mib());
  free(grad);
  free(th);
  dp_loss_free(loss);
  dp_model_free(m);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "cloth") == 0) {
    return bench_cloth(atoi(argv[2]), atoi(argv[3]), argc > 4 ? atoi(argv[4]) : 0);
  }
  if (argc >= 3 && strcmp(argv[1], "projectile") == 0) {
    return bench_projectile(atoi(argv[2]));
  }
  if (argc >= 4 && strcmp(argv[1], "scene") == 0) {
    return bench_scene(argv[2], argv[3], argc > 4 ? atoi(argv[4]) : 0);
  }
  fprintf(stderr, "usage: bench_dp cloth N T [K] | bench_dp projectile T | bench_dp scene FILE "
                  "LOSS [K]\n");
  return 2;
}
