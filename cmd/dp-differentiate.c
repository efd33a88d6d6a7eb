// dp-differentiate: the loss of a scene and its gradient with respect to the chosen parameters,
// by the discrete adjoint (one forward and one backward sweep); --check compares with central
// finite differences.
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: dp-differentiate SCENE LOSS [options]\n"
          "\n"
          "Compute the loss LOSS (JSON) of the YAML scene SCENE and its gradient with respect to\n"
          "every chosen parameter by the discrete adjoint: one forward and one backward sweep.\n"
          "\n"
          "  -o, --output FILE          write loss, grad/PATH and value/PATH arrays as NPZ\n"
          "      --wrt PATH             report the gradient for PATH (repeatable; '*' matches\n"
          "                             one path component: springs.*.stiffness); default: the\n"
          "                             scene's 'parameters:' list, else every parameter group\n"
          "      --check                also compute central finite differences and print them\n"
          "                             beside the adjoint with the relative error\n"
          "      --check-max N          check at most N components of each PATH, a seeded random\n"
          "                             sample of larger ones (default 16)\n"
          "      --check-tol X          exit 1 when a relative error exceeds X (default 1e-4)\n"
          "      --fd-step X            relative finite-difference step (default 1e-4)\n"
          "      --seed S               seed of the sample (default 1)\n"
          "      --checkpoint-every K   keep every K-th state, recompute the rest (default sqrt T)\n"
          "      --set PATH=VALUE       override a scene value (repeatable)\n"
          "      --device cpu|cuda      where to run (default cpu)\n"
          "      --json                 print one JSON object on stdout\n"
          "  -q, --quiet                print nothing on success\n"
          "  -h, --help                 show this help\n"
          "  -V, --version              show the version\n"
          "\n"
          "Exit status: 0 success, 1 the run failed (diverged, i/o error, --check above\n"
          "--check-tol), 2 bad usage or input.\n");
}

// One reported parameter path and its selection in θ.
typedef struct {
  dpSelection sel;
  double *fd;        // checked components' finite differences
  double *rel;       // their relative errors, beyond the differences' resolution
  double *res;       // the resolution |D(h) - D(h/2)| of each difference
  size_t *checked;   // positions within sel of the checked components
  size_t nchecked;
  size_t *skipped;   // positions within sel whose value is not finite (not checked)
  size_t nskipped;
  double max_rel;
} report;

// Default report list: the scene's parameters:, else one group per (kind, field) with the
// entity replaced by '*' when the kind has more than one entity.
static int default_paths(const dpModel *m, cli_list *paths, char ***owned, int *nowned) {
  if (m->nspec > 0) {
    for (size_t i = 0; i < m->nspec; i++) {
      cli_list_push(paths, m->spec[i].path);
    }
    return 1;
  }
  char **own = calloc(m->nparam + 1, sizeof *own);
  int n = 0;
  if (own == NULL) {
    return 0;
  }
  for (size_t i = 0; i < m->nparam; i++) {
    const char *p = m->param[i].path;
    char buf[DP_PATH_MAX];
    const char *d1 = strchr(p, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    int grouped = d2 != NULL && (strncmp(p, "particles.", 10) == 0 ||
                                 strncmp(p, "springs.", 8) == 0 ||
                                 strncmp(p, "boxes.", 6) == 0 || strncmp(p, "spheres.", 8) == 0);
    if (grouped) {
      int count = (int)(strncmp(p, "particles.", 10) == 0 ? m->np
                        : strncmp(p, "springs.", 8) == 0 ? m->ns : 2);
      if (strncmp(p, "boxes.", 6) == 0 || strncmp(p, "spheres.", 8) == 0) {
        count = 0;
        for (int k = 0; k < m->nc; k++) {
          count += (int)(m->ctype[k] == (p[0] == 'b' ? DP_COLLIDER_BOX : DP_COLLIDER_SPHERE));
        }
      }
      if (count > 1) {
        snprintf(buf, sizeof buf, "%.*s*%s", (int)(d1 - p + 1), p, d2);
      } else {
        snprintf(buf, sizeof buf, "%s", p);
      }
    } else {
      snprintf(buf, sizeof buf, "%s", p);
    }
    int seen = 0;
    for (int k = 0; k < n && !seen; k++) {
      seen = strcmp(own[k], buf) == 0;
    }
    if (!seen) {
      own[n] = strdup(buf);
      cli_list_push(paths, own[n]);
      n++;
    }
  }
  *owned = own;
  *nowned = n;
  return 1;
}

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return x < y ? -1 : x > y;
}

// Central differences of the loss for the chosen components of one report. Components whose
// value is not finite (a friction_damping of inf) cannot be stepped and are left out of the
// sample (listed in rp->skipped).
static dpStatus check_report(const dpModel *m, const dpLoss *loss, double *theta,
                             const double *grad, report *rp, long check_max, uint64_t *seed,
                             double rel_step, dpError *err) {
  size_t n = rp->sel.n;
  size_t *eligible = malloc((n > 0 ? n : 1) * sizeof *eligible);
  rp->skipped = malloc((n > 0 ? n : 1) * sizeof *rp->skipped);
  if (eligible == NULL || rp->skipped == NULL) {
    free(eligible);
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
  }
  size_t ne = 0;
  rp->nskipped = 0;
  for (size_t i = 0; i < n; i++) {
    if (isfinite(theta[rp->sel.index[i]])) {
      eligible[ne++] = i;
    } else {
      rp->skipped[rp->nskipped++] = i;
    }
  }
  size_t k = ne <= (size_t)check_max ? ne : (size_t)check_max;
  rp->checked = malloc((k > 0 ? k : 1) * sizeof *rp->checked);
  rp->fd = malloc((k > 0 ? k : 1) * sizeof *rp->fd);
  rp->rel = malloc((k > 0 ? k : 1) * sizeof *rp->rel);
  rp->res = malloc((k > 0 ? k : 1) * sizeof *rp->res);
  if (rp->checked == NULL || rp->fd == NULL || rp->rel == NULL || rp->res == NULL) {
    free(eligible);
    return dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
  }
  if (k == ne) {
    for (size_t i = 0; i < ne; i++) {
      rp->checked[i] = i;
    }
  } else {
    // Floyd's sampling of k distinct positions out of ne.
    size_t got = 0;
    for (size_t j = ne - k; j < ne; j++) {
      size_t t = (size_t)(rng_next(seed) % (j + 1));
      int dup = 0;
      for (size_t q = 0; q < got && !dup; q++) {
        dup = rp->checked[q] == t;
      }
      rp->checked[got++] = dup ? j : t;
    }
    qsort(rp->checked, k, sizeof *rp->checked, cmp_size);
  }
  for (size_t q = 0; q < k; q++) {
    rp->checked[q] = eligible[rp->checked[q]];  // increasing, as eligible is
  }
  free(eligible);
  rp->nchecked = k;
  double scale = 0;
  for (size_t i = 0; i < n; i++) {
    scale = fmax(scale, fabs(grad[rp->sel.index[i]]));
  }
  rp->max_rel = 0;
  for (size_t q = 0; q < k; q++) {
    size_t ix = rp->sel.index[rp->checked[q]];
    double x = theta[ix];
    // Step relative to the size of the whole entry (a zero component of gravity moves on the
    // scale of |g|), then central differences at h and h/2 combined by Richardson
    // extrapolation: truncation error O(h⁴), so h can stay large against round-off, which stiff
    // contact amplifies.
    size_t comp = 0;
    const dpParam *p = dp_param_at(m, ix, &comp);
    double size = fabs(x);
    for (size_t j = 0; p != NULL && j < p->len && j < 3; j++) {
      size = fmax(size, fabs(theta[p->offset + j]));
    }
    double h = rel_step * fmax(size, 1e-2);
    double d[2];
    for (int r = 0; r < 2; r++) {
      double hr = r == 0 ? h : 0.5 * h, lp = 0, lm = 0;
      theta[ix] = x + hr;
      dpStatus st = dp_value(m, theta, loss, &lp, err);
      theta[ix] = x - hr;
      if (st == DP_OK) {
        st = dp_value(m, theta, loss, &lm, err);
      }
      theta[ix] = x;
      if (st != DP_OK) {
        return st;
      }
      d[r] = (lp - lm) / (2 * hr);
    }
    double fd = (4 * d[1] - d[0]) / 3;
    // The resolution of the differences: two step sizes that disagree by |D(h) - D(h/2)| cannot
    // confirm the adjoint more closely than that, so only the excess counts as error.
    double res = fabs(d[0] - d[1]);
    double a = grad[ix];
    // Components a million times below the largest are judged on the gradient's scale: their
    // differences are round-off, which stiff contact and long rollouts amplify.
    double den = fmax(fmax(fabs(a), fabs(fd)), 1e-6 * scale + 1e-300);
    rp->fd[q] = fd;
    rp->res[q] = res;
    rp->rel[q] = fmax(0.0, fabs(a - fd) - res) / den;
    rp->max_rel = fmax(rp->max_rel, rp->rel[q]);
  }
  return DP_OK;
}

static void json_array(const double *v, size_t n, const size_t *index, const double *base) {
  putchar('[');
  for (size_t i = 0; i < n; i++) {
    if (i > 0) {
      fputs(", ", stdout);
    }
    cli_json_number(stdout, index ? base[index[i]] : v[i]);
  }
  putchar(']');
}

static dpStatus write_npz(const char *path, const dpModel *m, double L, const double *theta,
                          const double *grad, report *rp, int nrep, dpError *err) {
  dpNpzWriter *w = NULL;
  dpStatus st = dp_npz_open(path, -1, &w, err);
  if (st != DP_OK) {
    return st;
  }
  st = dp_npz_add_f64(w, "loss", 0, NULL, &L, err);
  double *buf = NULL;
  for (int i = 0; st == DP_OK && i < nrep; i++) {
    const dpSelection *s = &rp[i].sel;
    double *nb = realloc(buf, (s->n > 0 ? s->n : 1) * 2 * sizeof *nb);
    if (nb == NULL) {
      st = dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
      break;
    }
    buf = nb;
    for (size_t k = 0; k < s->n; k++) {
      buf[k] = grad[s->index[k]];
      buf[s->n + k] = theta[s->index[k]];
    }
    char name[DP_PATH_MAX + 8];
    snprintf(name, sizeof name, "grad/%s", s->pattern);
    st = dp_npz_add_f64(w, name, s->ndim, s->shape, buf, err);
    snprintf(name, sizeof name, "value/%s", s->pattern);
    if (st == DP_OK) {
      st = dp_npz_add_f64(w, name, s->ndim, s->shape, buf + s->n, err);
    }
  }
  free(buf);
  char *meta = st == DP_OK ? dp_meta_json(m, cli_tool, 0) : NULL;
  if (st == DP_OK && meta == NULL) {
    st = dp_error_set(err, DP_ERR_NOMEM, NULL, 0, 0, "out of memory");
  }
  if (st == DP_OK) {
    st = dp_npz_add_text(w, "meta.json", meta, err);
  }
  dp_free(meta);
  if (st != DP_OK) {
    dp_npz_abort(w);
    return st;
  }
  return dp_npz_commit(w, err);
}

int main(int argc, char **argv) {
  cli_init("dp-differentiate");
  enum { O_WRT = 256, O_CHECK, O_CHECK_MAX, O_CHECK_TOL, O_FD_STEP, O_SEED, O_CKPT, O_SET,
         O_DEVICE, O_JSON };
  static const struct option opts[] = {
      {"output", required_argument, NULL, 'o'},
      {"wrt", required_argument, NULL, O_WRT},
      {"check", no_argument, NULL, O_CHECK},
      {"check-max", required_argument, NULL, O_CHECK_MAX},
      {"check-tol", required_argument, NULL, O_CHECK_TOL},
      {"fd-step", required_argument, NULL, O_FD_STEP},
      {"seed", required_argument, NULL, O_SEED},
      {"checkpoint-every", required_argument, NULL, O_CKPT},
      {"set", required_argument, NULL, O_SET},
      {"device", required_argument, NULL, O_DEVICE},
      {"json", no_argument, NULL, O_JSON},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0},
  };
  const char *out = NULL;
  cli_list wrt = {0}, sets = {0}, paths = {0};
  char **owned = NULL;
  int nowned = 0;
  long check_max = 16, seed = 1, ckpt = 0;
  double check_tol = 1e-4, fd_step = 1e-4;
  int check = 0, json = 0, quiet = 0, c, rc = EXIT_OK;
  dpDevice device = DP_DEVICE_CPU;
  dpModel *m = NULL;
  dpLoss *loss = NULL;
  double *theta = NULL, *grad = NULL;
  report *rp = NULL;
  int nrep = 0;
  dpError err = {0};
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":o:qhV", opts, NULL)) != -1) {
    switch (c) {
      case 'o': out = optarg; break;
      case O_WRT: cli_list_push(&wrt, optarg); break;
      case O_CHECK: check = 1; break;
      case O_CHECK_MAX:
        if (!cli_parse_int("--check-max", optarg, 1, 1000000, &check_max)) {
          rc = EXIT_USAGE;
          goto done;
        }
        break;
      case O_CHECK_TOL:
        if (!cli_parse_double("--check-tol", optarg, &check_tol) || check_tol <= 0) {
          rc = EXIT_USAGE;
          goto done;
        }
        break;
      case O_FD_STEP:
        if (!cli_parse_double("--fd-step", optarg, &fd_step) || fd_step <= 0) {
          rc = EXIT_USAGE;
          goto done;
        }
        break;
      case O_SEED:
        if (!cli_parse_int("--seed", optarg, 0, 2147483647L, &seed)) {
          rc = EXIT_USAGE;
          goto done;
        }
        break;
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
    rc = cli_usage_error("expected SCENE and LOSS, got %d argument%s (see --help)",
                         argc - optind, argc - optind == 1 ? "" : "s");
    goto done;
  }
  if (dp_scene_load(argv[optind], sets.v, sets.n, &m, &err) != DP_OK ||
      dp_loss_load(argv[optind + 1], m, &loss, &err) != DP_OK) {
    rc = cli_report(&err, 1);
    goto done;
  }
  if (wrt.n > 0) {
    for (int i = 0; i < wrt.n; i++) {
      cli_list_push(&paths, wrt.v[i]);
    }
  } else if (!default_paths(m, &paths, &owned, &nowned)) {
    rc = cli_usage_error("out of memory");
    goto done;
  }
  rp = calloc((size_t)paths.n + 1, sizeof *rp);
  if (rp == NULL) {
    rc = cli_usage_error("out of memory");
    goto done;
  }
  for (nrep = 0; nrep < paths.n; nrep++) {
    if (dp_param_select(m, paths.v[nrep], &rp[nrep].sel, &err) != DP_OK) {
      snprintf(err.key, sizeof err.key, "%s", paths.v[nrep]);
      rc = cli_usage_error("option '--wrt': %s", err.message);
      goto done;
    }
  }
  theta = malloc(m->ntheta * sizeof *theta);
  grad = malloc(m->ntheta * sizeof *grad);
  if (theta == NULL || grad == NULL) {
    rc = cli_usage_error("out of memory for %zu parameters", m->ntheta);
    goto done;
  }
  memcpy(theta, m->theta0, m->ntheta * sizeof *theta);
  double L = 0;
  double t0 = cli_now();
  if (dp_value_and_grad(m, device, (int)ckpt, theta, loss, &L, grad, &err) != DP_OK) {
    rc = cli_report(&err, 0);
    goto done;
  }
  double t_grad = cli_now() - t0;
  double worst = 0;
  if (check) {
    uint64_t s = 0x9E3779B97F4A7C15ULL ^ (uint64_t)seed;
    for (int i = 0; i < nrep; i++) {
      if (check_report(m, loss, theta, grad, &rp[i], check_max, &s, fd_step, &err) != DP_OK) {
        rc = cli_report(&err, 0);
        goto done;
      }
      worst = fmax(worst, rp[i].max_rel);
    }
  }
  if (out != NULL && write_npz(out, m, L, theta, grad, rp, nrep, &err) != DP_OK) {
    rc = cli_report(&err, 0);
    goto done;
  }
  if (json) {
    printf("{\"loss\": ");
    cli_json_number(stdout, L);
    printf(", \"wall_time_s\": ");
    cli_json_number(stdout, t_grad);
    printf(", \"gradient\": {");
    for (int i = 0; i < nrep; i++) {
      printf("%s", i ? ", " : "");
      cli_json_string(stdout, rp[i].sel.pattern);
      printf(": ");
      json_array(NULL, rp[i].sel.n, rp[i].sel.index, grad);
    }
    printf("}");
    if (check) {
      printf(", \"check\": {");
      for (int i = 0; i < nrep; i++) {
        printf("%s", i ? ", " : "");
        cli_json_string(stdout, rp[i].sel.pattern);
        printf(": {\"fd\": ");
        json_array(rp[i].fd, rp[i].nchecked, NULL, NULL);
        printf(", \"index\": [");
        for (size_t q = 0; q < rp[i].nchecked; q++) {
          printf("%s%zu", q ? ", " : "", rp[i].checked[q]);
        }
        printf("], \"not_checked\": [");
        for (size_t q = 0; q < rp[i].nskipped; q++) {
          printf("%s%zu", q ? ", " : "", rp[i].skipped[q]);
        }
        printf("], \"max_rel_err\": ");
        cli_json_number(stdout, rp[i].max_rel);
        printf("}");
      }
      printf("}");
    }
    if (out != NULL) {
      printf(", \"output\": ");
      cli_json_string(stdout, out);
    }
    printf("}\n");
  } else if (!quiet) {
    printf("loss %.12g  (%.3f s, %s)\n", L, t_grad, device == DP_DEVICE_CUDA ? "cuda" : "cpu");
    for (int i = 0; i < nrep; i++) {
      const dpSelection *s = &rp[i].sel;
      if (!check) {
        printf("%s:", s->pattern);
        size_t show = s->n <= 12 ? s->n : 6;
        for (size_t k = 0; k < show; k++) {
          printf(" %.9g", grad[s->index[k]]);
        }
        if (show < s->n) {
          printf(" ... (%zu values)", s->n);
        }
        printf("\n");
        continue;
      }
      printf("%s (%zu of %zu checked, max rel err %.2e)\n", s->pattern, rp[i].nchecked, s->n,
             rp[i].max_rel);
      printf("  %-8s %22s %22s %10s %10s\n", "index", "adjoint", "finite diff", "fd +-",
             "rel err");
      // Checked and skipped rows merged in index order (both lists are increasing).
      size_t q = 0, u = 0;
      while (q < rp[i].nchecked || u < rp[i].nskipped) {
        if (u < rp[i].nskipped && (q == rp[i].nchecked || rp[i].skipped[u] < rp[i].checked[q])) {
          size_t pos = rp[i].skipped[u++];
          printf("  %-8zu %22.14e   not checked (value is %g)\n", pos, grad[s->index[pos]],
                 theta[s->index[pos]]);
          continue;
        }
        double a = grad[s->index[rp[i].checked[q]]];
        printf("  %-8zu %22.14e %22.14e %10.1e %10.2e\n", rp[i].checked[q], a, rp[i].fd[q],
               rp[i].res[q], rp[i].rel[q]);
        q++;
      }
    }
    if (out != NULL) {
      printf("gradient written to %s\n", out);
    }
  }
  if (check && worst > check_tol) {
    fprintf(stderr, "%s: gradient check failed: max relative error %.3e > --check-tol %.3e\n",
            cli_tool, worst, check_tol);
    rc = EXIT_FAIL;
  }
done:
  for (int i = 0; i < nrep; i++) {
    dp_selection_free(&rp[i].sel);
    free(rp[i].fd);
    free(rp[i].rel);
    free(rp[i].res);
    free(rp[i].checked);
    free(rp[i].skipped);
  }
  free(rp);
  for (int i = 0; i < nowned; i++) {
    free(owned[i]);
  }
  free(owned);
  free(theta);
  free(grad);
  dp_loss_free(loss);
  dp_model_free(m);
  cli_list_free(&wrt);
  cli_list_free(&sets);
  cli_list_free(&paths);
  return rc;
}
