// dp-optimize: fit a scene's parameters to a loss by gradient descent, Adam or bound-constrained
// L-BFGS on adjoint gradients; writes the optimized scene (YAML), the history (CSV) and the final
// trajectory (NPZ), all atomically. SIGINT/SIGTERM end the run after the current iteration with
// the best point written and exit 130.
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: dp-optimize SCENE LOSS -o OPTIMIZED.yaml [options]\n"
          "\n"
          "Minimize the loss LOSS (JSON) of the YAML scene SCENE over the scene's 'parameters:'\n"
          "(or the --wrt paths) with gradients from the discrete adjoint, and write the scene\n"
          "with the best parameters found.\n"
          "\n"
          "  -o, --output FILE          optimized scene to write (YAML; required)\n"
          "      --method M             lbfgs (default), adam or gd\n"
          "      --lr X                 step size of gd and adam (default 0.01)\n"
          "      --max-iter N           iteration budget (default 100)\n"
          "      --tol X                stop when the relative loss change is <= X\n"
          "                             (default 1e-12; 0 disables)\n"
          "      --gtol X               stop when the projected gradient's largest component is\n"
          "                             <= X (default 1e-10; 0 disables)\n"
          "      --memory M             L-BFGS correction pairs (default 10)\n"
          "      --wrt PATH             optimize PATH (repeatable; '*' matches one path\n"
          "                             component); default: the scene's 'parameters:' list\n"
          "      --history FILE         write the history as CSV: iteration, loss, grad_norm and\n"
          "                             one column per parameter component\n"
          "      --trajectory FILE      write the trajectory of the optimized scene (NPZ)\n"
          "      --resume FILE          continue from the last row of a history file\n"
          "      --checkpoint-every K   keep every K-th state, recompute the rest (default sqrt T)\n"
          "      --set PATH=VALUE       override a scene value (repeatable)\n"
          "      --device cpu|cuda      where to run (default cpu)\n"
          "      --progress             show progress on stderr even when it is not a terminal\n"
          "      --json                 print one JSON object on stdout\n"
          "  -q, --quiet                print nothing on success\n"
          "  -h, --help                 show this help\n"
          "  -V, --version              show the version\n"
          "\n"
          "Exit status: 0 success, 1 the run failed (diverged, i/o error), 2 bad usage or input,\n"
          "130 interrupted by SIGINT or SIGTERM (the best scene and the history are written).\n");
}

static volatile sig_atomic_t g_signal = 0;

static void on_signal(int sig) {
  g_signal = sig;
}

// The history: one row per iteration (iteration, loss, grad_norm, parameter values).
typedef struct {
  size_t ncol, nrow, cap;
  double *data;
} history;

static int history_add(history *h, double iter, double f, double gnorm, const dpProblem *p) {
  if (h->nrow == h->cap) {
    size_t ncap = h->cap == 0 ? 64 : 2 * h->cap;
    double *nd = realloc(h->data, ncap * h->ncol * sizeof *nd);
    if (nd == NULL) {
      return 0;
    }
    h->data = nd;
    h->cap = ncap;
  }
  double *row = h->data + h->nrow * h->ncol;
  row[0] = iter;
  row[1] = f;
  row[2] = gnorm;
  for (size_t i = 0; i < p->n; i++) {
    row[3 + i] = p->theta[p->index[i]];
  }
  h->nrow++;
  return 1;
}

static dpStatus history_write(const history *h, const dpProblem *p, const char *path,
                              dpError *err) {
  const char **names = malloc(h->ncol * sizeof *names);
  if (names == NULL) {
    return dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
  }
  names[0] = "iteration";
  names[1] = "loss";
  names[2] = "grad_norm";
  for (size_t i = 0; i < p->n; i++) {
    names[3 + i] = p->name[i];
  }
  dpStatus st = dp_csv_write(path, names, h->ncol, h->data, h->nrow, err);
  free(names);
  return st;
}

// Load a history to resume from: its columns must be this problem's; its rows are kept and the
// last one gives the starting point. Returns the last iteration number through *iter.
static dpStatus history_resume(history *h, const dpProblem *p, const char *path, double *theta,
                               double *iter, dpError *err) {
  dpTable *t = NULL;
  dpStatus st = dp_csv_read(path, &t, err);
  if (st != DP_OK) {
    return st;
  }
  if (t->ncol != h->ncol) {
    st = dp_error_set(err, DP_ERR_INVALID, path, 0, 0,
                      "cannot resume: '%s' has %zu columns, this run optimizes %zu parameters "
                      "(%zu columns)",
                      path, t->ncol, p->n, h->ncol);
    goto done;
  }
  for (size_t c = 0; c < t->ncol; c++) {
    const char *want = c == 0 ? "iteration" : c == 1 ? "loss" : c == 2 ? "grad_norm"
                                                                        : p->name[c - 3];
    if (strcmp(t->name[c], want) != 0) {
      st = dp_error_set(err, DP_ERR_INVALID, path, 1, (int)c + 1,
                        "cannot resume: column %zu is '%s', this run expects '%s'", c + 1,
                        t->name[c], want);
      goto done;
    }
  }
  if (t->nrow == 0) {
    st = dp_error_set(err, DP_ERR_INVALID, path, 0, 0, "cannot resume: '%s' has no rows", path);
    goto done;
  }
  const double *last = t->data + (t->nrow - 1) * t->ncol;
  for (size_t i = 0; i < p->n; i++) {
    if (!isfinite(last[3 + i])) {
      st = dp_error_set(err, DP_ERR_INVALID, path, (int)t->nrow + 1, (int)i + 4,
                        "cannot resume: '%s' is not finite in the last row", p->name[i]);
      goto done;
    }
    theta[p->index[i]] = last[3 + i];
  }
  *iter = last[0];
  h->data = malloc(t->nrow * t->ncol * sizeof *h->data);
  if (h->data == NULL) {
    st = dp_error_set(err, DP_ERR_NOMEM, path, 0, 0, "out of memory");
    goto done;
  }
  memcpy(h->data, t->data, t->nrow * t->ncol * sizeof *h->data);
  h->nrow = h->cap = t->nrow;
done:
  dp_table_free(t);
  return st;
}

static dpStatus write_trajectory(const dpModel *m, const dpProblem *p, const double *theta,
                                 const char *path, dpError *err) {
  dpTrajectory *tr = NULL;
  dpStatus st = dp_traj_open(path, m, theta, cli_tool, 1, -1, &tr, err);
  if (st == DP_OK) {
    st = dp_rollout_forward(p->rollout, theta, NULL, NULL, 1, dp_traj_frame, tr, err);
  }
  if (st == DP_OK) {
    st = dp_traj_commit(tr, err);
    tr = NULL;
  }
  dp_traj_abort(tr);
  return st;
}

static void progress(int iter, int max_iter, double f, double gnorm, double t0, int done) {
  double el = cli_now() - t0;
  double rate = iter / (el > 0 ? el : 1e-12);
  fprintf(stderr, "\r%s: iter %d/%d  loss %.6e  |g| %.3e  %.3g it/s  %.0f s left   ",
          cli_tool, iter, max_iter, f, gnorm, rate,
          rate > 0 ? (max_iter - iter) / rate : 0.0);
  if (done) {
    fputc('\n', stderr);
  }
  fflush(stderr);
}

enum {
  O_METHOD = 256, O_LR, O_MAXITER, O_TOL, O_GTOL, O_MEMORY, O_WRT, O_HISTORY, O_TRAJ, O_RESUME,
  O_CKPT, O_SET, O_DEVICE, O_PROGRESS, O_JSON
};

int main(int argc, char **argv) {
  cli_init("dp-optimize");
  static const struct option opts[] = {
      {"output", required_argument, NULL, 'o'},
      {"method", required_argument, NULL, O_METHOD},
      {"lr", required_argument, NULL, O_LR},
      {"max-iter", required_argument, NULL, O_MAXITER},
      {"tol", required_argument, NULL, O_TOL},
      {"gtol", required_argument, NULL, O_GTOL},
      {"memory", required_argument, NULL, O_MEMORY},
      {"wrt", required_argument, NULL, O_WRT},
      {"history", required_argument, NULL, O_HISTORY},
      {"trajectory", required_argument, NULL, O_TRAJ},
      {"resume", required_argument, NULL, O_RESUME},
      {"checkpoint-every", required_argument, NULL, O_CKPT},
      {"set", required_argument, NULL, O_SET},
      {"device", required_argument, NULL, O_DEVICE},
      {"progress", no_argument, NULL, O_PROGRESS},
      {"json", no_argument, NULL, O_JSON},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0},
  };
  const char *out = NULL, *hist_path = NULL, *traj_path = NULL, *resume = NULL;
  dpOptMethod method = DP_OPT_LBFGS;
  double lr = NAN, tol = NAN, gtol = NAN;
  long max_iter = -1, memory = -1, ckpt = 0;
  int json = 0, quiet = 0, force_progress = 0, c, rc = EXIT_OK;
  dpDevice device = DP_DEVICE_CPU;
  cli_list sets = {0}, wrt = {0};
  dpError err = {0};
  dpModel *m = NULL;
  dpLoss *loss = NULL;
  dpProblem *p = NULL;
  dpOptimizer *opt = NULL;
  double *z = NULL, *theta_best = NULL;
  history h = {0};
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":o:qhV", opts, NULL)) != -1) {
    switch (c) {
      case 'o': out = optarg; break;
      case O_METHOD:
        if (strcmp(optarg, "lbfgs") == 0) {
          method = DP_OPT_LBFGS;
        } else if (strcmp(optarg, "adam") == 0) {
          method = DP_OPT_ADAM;
        } else if (strcmp(optarg, "gd") == 0) {
          method = DP_OPT_GD;
        } else {
          rc = cli_usage_error("option '--method': unknown method '%s' (lbfgs, adam or gd)",
                               optarg);
          goto done;
        }
        break;
      case O_LR:
        if (!cli_parse_double("--lr", optarg, &lr)) {
          rc = EXIT_USAGE;
          goto done;
        }
        if (!(lr > 0)) {
          rc = cli_usage_error("option '--lr': '%s' must be > 0", optarg);
          goto done;
        }
        break;
      case O_MAXITER:
        if (!cli_parse_int("--max-iter", optarg, 0, 100000000, &max_iter)) {
          rc = EXIT_USAGE;
          goto done;
        }
        break;
      case O_TOL:
      case O_GTOL: {
        double *dst = c == O_TOL ? &tol : &gtol;
        const char *name = c == O_TOL ? "--tol" : "--gtol";
        if (!cli_parse_double(name, optarg, dst)) {
          rc = EXIT_USAGE;
          goto done;
        }
        if (*dst < 0) {
          rc = cli_usage_error("option '%s': '%s' must be >= 0", name, optarg);
          goto done;
        }
        break;
      }
      case O_MEMORY:
        if (!cli_parse_int("--memory", optarg, 1, 1000, &memory)) {
          rc = EXIT_USAGE;
          goto done;
        }
        break;
      case O_WRT: cli_list_push(&wrt, optarg); break;
      case O_HISTORY: hist_path = optarg; break;
      case O_TRAJ: traj_path = optarg; break;
      case O_RESUME: resume = optarg; break;
      case O_CKPT:
        if (!cli_parse_int("--checkpoint-every", optarg, 1, 100000000, &ckpt)) {
          rc = EXIT_USAGE;
          goto done;
        }
        break;
      case O_SET:
        if (!cli_add_set(&sets, optarg)) {
          rc = EXIT_USAGE;
          goto done;
        }
        break;
      case O_DEVICE:
        if (!cli_parse_device(optarg, &device)) {
          rc = EXIT_USAGE;
          goto done;
        }
        break;
      case O_PROGRESS: force_progress = 1; break;
      case O_JSON: json = 1; break;
      case 'q': quiet = 1; break;
      case 'h': usage(stdout); goto done;
      case 'V': cli_version(); goto done;
      case ':': rc = cli_usage_error("option '%s' needs a value", argv[optind - 1]); goto done;
      default:
        rc = cli_usage_error("unknown option '%s' (see --help)", argv[optind - 1]);
        goto done;
    }
  }
  if (argc - optind != 2) {
    rc = cli_usage_error(argc - optind < 2 ? "missing SCENE and LOSS (see --help)"
                                           : "expected SCENE and LOSS, got %d arguments "
                                             "(see --help)",
                         argc - optind);
    goto done;
  }
  if (out == NULL) {
    rc = cli_usage_error("missing -o OPTIMIZED.yaml (see --help)");
    goto done;
  }
  const char *scene_path = argv[optind], *loss_path = argv[optind + 1];
  if (dp_scene_load(scene_path, sets.v, sets.n, &m, &err) != DP_OK ||
      dp_loss_load(loss_path, m, &loss, &err) != DP_OK) {
    rc = cli_report(&err, 1);
    goto done;
  }
  if (dp_problem_new(m, loss, wrt.v, wrt.n, device, (int)ckpt, &p, &err) != DP_OK) {
    rc = cli_report(&err, 1);
    goto done;
  }
  dpOptOptions oo = dp_default_opt_options(method);
  if (!isnan(lr)) {
    oo.lr = lr;
  }
  if (!isnan(tol)) {
    oo.tol = tol;
  }
  if (!isnan(gtol)) {
    oo.gtol = gtol;
  }
  if (max_iter >= 0) {
    oo.max_iter = (int)max_iter;
  }
  if (memory > 0) {
    oo.memory = (int)memory;
  }
  h.ncol = 3 + p->n;
  double iter0 = 0;
  if (resume != NULL && history_resume(&h, p, resume, p->theta, &iter0, &err) != DP_OK) {
    rc = cli_report(&err, 1);
    goto done;
  }
  z = malloc(p->n * sizeof *z);
  theta_best = malloc(m->ntheta * sizeof *theta_best);
  if (z == NULL || theta_best == NULL) {
    fprintf(stderr, "%s: out of memory\n", cli_tool);
    rc = EXIT_FAIL;
    goto done;
  }
  memcpy(theta_best, p->theta, m->ntheta * sizeof *theta_best);
  dp_problem_to_z(p, p->theta, z);
  if (dp_opt_new((int)p->n, p->lower, p->upper, &oo, &opt, &err) != DP_OK) {
    rc = cli_report(&err, 1);
    goto done;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESETHAND;  // a second Ctrl-C ends the process at once
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  int show = !quiet && !json && (force_progress || cli_stderr_tty());
  double t0 = cli_now();
  if (dp_opt_start(opt, dp_problem_eval, p, z, &err) != DP_OK) {
    // The starting point itself diverges: say where the simulation blew up.
    rc = cli_report(p->diverged ? &p->diverge_err : &err, 0);
    goto done;
  }
  double f0 = dp_opt_f(opt);
  if (resume == NULL && !history_add(&h, iter0, f0, dp_opt_pgnorm(opt), p)) {
    fprintf(stderr, "%s: out of memory\n", cli_tool);
    rc = EXIT_FAIL;
    goto done;
  }
  dpOptStop stop = dp_opt_stop(opt);
  int diverged = 0;
  while (stop == DP_STOP_NONE && g_signal == 0) {
    int before = dp_opt_iter(opt);
    dpStatus st = dp_opt_iterate(opt, dp_problem_eval, p, &err);
    if (st == DP_ERR_DIVERGED && p->diverged) {
      diverged = 1;  // GD or Adam stepped into a diverging simulation; the best point stays
      dp_error_clear(&err);
      break;
    }
    if (st != DP_OK) {
      if (show) {
        fputc('\n', stderr);
      }
      rc = cli_report(&err, 0);
      goto done;
    }
    stop = dp_opt_stop(opt);
    if (dp_opt_iter(opt) == before) {
      continue;  // a failed line search does not count as an iteration
    }
    double f = dp_opt_f(opt);
    // p->theta holds the last evaluated point; the accepted one is dp_opt_z.
    dp_problem_to_theta(p, dp_opt_z(opt), p->theta);
    if (!history_add(&h, iter0 + dp_opt_iter(opt), f, dp_opt_pgnorm(opt), p)) {
      fprintf(stderr, "%s: out of memory\n", cli_tool);
      rc = EXIT_FAIL;
      goto done;
    }
    if (show) {
      progress(dp_opt_iter(opt), oo.max_iter, f, dp_opt_pgnorm(opt), t0, 0);
    }
  }
  if (stop == DP_STOP_NONE && g_signal != 0) {
    stop = DP_STOP_INTERRUPTED;
  }
  if (show && dp_opt_iter(opt) > 0) {
    progress(dp_opt_iter(opt), oo.max_iter, dp_opt_f(opt), dp_opt_pgnorm(opt), t0, 1);
  }
  double wall = cli_now() - t0;
  int iters = dp_opt_iter(opt);
  double fbest = dp_opt_best_f(opt);
  dp_problem_to_theta(p, dp_opt_best_z(opt), theta_best);

  // Outputs: the best point, atomically, whatever ended the run.
  char header[1024];
  snprintf(header, sizeof header,
           "optimized by dp-optimize %s from %s with the loss %s\n"
           "method %s, %d iterations (%s), loss %.17g (initial %.17g)",
           DP_VERSION, scene_path, loss_path, dp_opt_method_name(method), iters,
           diverged ? "diverged" : dp_opt_stop_name(stop), fbest, f0);
  if (dp_scene_write(scene_path, sets.v, sets.n, m, theta_best, header, out, &err) != DP_OK ||
      (hist_path != NULL && history_write(&h, p, hist_path, &err) != DP_OK) ||
      (traj_path != NULL && write_trajectory(m, p, theta_best, traj_path, &err) != DP_OK)) {
    rc = cli_report(&err, 0);
    goto done;
  }
  if (diverged) {
    fprintf(stderr, "%s: iteration %d stepped into a diverging simulation (best point kept):\n",
            cli_tool, iters);
    rc = cli_report(&p->diverge_err, 0);
    goto done;
  }
  if (json) {
    printf("{\"scene\": ");
    cli_json_string(stdout, m->name);
    printf(", \"method\": \"%s\", \"loss\": ", dp_opt_method_name(method));
    cli_json_number(stdout, fbest);
    printf(", \"initial_loss\": ");
    cli_json_number(stdout, f0);
    printf(", \"iterations\": %d, \"evaluations\": %d, \"stop_reason\": \"%s\", \"grad_norm\": ",
           iters, dp_opt_evals(opt), dp_opt_stop_name(stop));
    cli_json_number(stdout, dp_opt_pgnorm(opt));
    printf(", \"wall_time_s\": ");
    cli_json_number(stdout, wall);
    printf(", \"time_per_iteration_s\": ");
    cli_json_number(stdout, iters > 0 ? wall / iters : 0.0);
    printf(", \"output\": ");
    cli_json_string(stdout, out);
    printf(", \"parameters\": {");
    for (size_t i = 0; i < p->n; i++) {
      printf("%s", i ? ", " : "");
      cli_json_string(stdout, p->name[i]);
      printf(": ");
      cli_json_number(stdout, theta_best[p->index[i]]);
    }
    printf("}}\n");
  } else if (!quiet) {
    printf("%s: %s stopped after %d iterations (%s): loss %.6g (initial %.6g) in %.3f s "
           "(%.3g s/iteration, %d evaluations) -> %s\n",
           m->name, dp_opt_method_name(method), iters, dp_opt_stop_name(stop), fbest, f0, wall,
           iters > 0 ? wall / iters : 0.0, dp_opt_evals(opt), out);
    size_t show_n = p->n <= 12 ? p->n : 12;
    for (size_t i = 0; i < show_n; i++) {
      printf("  %-40s %.10g\n", p->name[i], theta_best[p->index[i]]);
    }
    if (show_n < p->n) {
      printf("  ... %zu more in %s\n", p->n - show_n, hist_path ? hist_path : out);
    }
  }
  if (stop == DP_STOP_INTERRUPTED) {
    fprintf(stderr, "%s: interrupted by %s after %d iterations; best scene written to %s\n",
            cli_tool, g_signal == SIGTERM ? "SIGTERM" : "SIGINT", iters, out);
    rc = 130;
  }
done:
  free(h.data);
  free(z);
  free(theta_best);
  dp_opt_free(opt);
  dp_problem_free(p);
  dp_loss_free(loss);
  dp_model_free(m);
  cli_list_free(&sets);
  cli_list_free(&wrt);
  return rc;
}
