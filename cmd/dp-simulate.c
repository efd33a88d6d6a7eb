// dp-simulate: run a scene forward and write its trajectory as NPZ.
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: dp-simulate SCENE -o TRAJ.npz [options]\n"
          "\n"
          "Run the YAML scene SCENE forward and write its trajectory (time, particles/x,\n"
          "particles/v, controls, meta.json) as a compressed NPZ readable by numpy.load.\n"
          "\n"
          "  -o, --output FILE        trajectory file to write (required)\n"
          "      --steps N            number of steps (overrides the scene's 'steps')\n"
          "      --stride K           record every K-th step (and the last); default 1\n"
          "      --set PATH=VALUE     override a scene value (repeatable), e.g.\n"
          "                           --set particles.ball.mass=2 --set cloth.sheet.n=32\n"
          "      --device cpu|cuda    where to run (default cpu)\n"
          "      --compression L      deflate level 0-9 (default 6)\n"
          "      --noise SIGMA        add Gaussian noise of standard deviation SIGMA (m) to\n"
          "                           every recorded position (synthetic observations)\n"
          "      --seed S             seed of the noise (default 1); same seed, same noise\n"
          "      --json               print a JSON summary on stdout\n"
          "  -q, --quiet              print nothing on success\n"
          "  -h, --help               show this help\n"
          "  -V, --version            show the version\n"
          "\n"
          "Exit status: 0 success, 1 the run failed (diverged, i/o error), 2 bad usage or input.\n");
}

typedef struct {
  dpTrajectory *tr;
  int steps;
  int stride;
  double t0;
  double last;
  int progress;
  double noise;     // σ of the position noise, m (0: none)
  uint64_t rng[4];  // xoshiro256** state
  double *buf;      // a noisy copy of the state
  size_t nx;        // position components (np × 3)
  size_t nstate;    // the whole state (dp_model_nstate)
} sim_ctx;

// xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2021),
// seeded through splitmix64 as its authors recommend.
static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t s[4]) {
  uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return r;
}

static void rng_seed(uint64_t s[4], uint64_t seed) {
  for (int i = 0; i < 4; i++) {
    uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    s[i] = z ^ (z >> 31);
  }
}

// A standard normal deviate by the Box–Muller transform (u1 in (0, 1], so log is finite).
static double rng_normal(uint64_t s[4]) {
  double u1 = ((rng_next(s) >> 11) + 1.0) * 0x1.0p-53;
  double u2 = (rng_next(s) >> 11) * 0x1.0p-53;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static dpStatus on_frame(void *ud, int t, const double *s, dpError *err) {
  sim_ctx *c = ud;
  if (c->progress) {
    double now = cli_now();
    if (now - c->last > 0.5 || t == c->steps) {
      c->last = now;
      double rate = t / (now - c->t0 + 1e-12);
      fprintf(stderr, "\r%s: step %d/%d  %.3g steps/s  %.0f s left   ", cli_tool, t, c->steps,
              rate, rate > 0 ? (c->steps - t) / rate : 0.0);
      if (t == c->steps) {
        fputc('\n', stderr);
      }
    }
  }
  if (c->noise > 0) {
    memcpy(c->buf, s, c->nstate * sizeof *s);  // the whole state: bodies are recorded too
    for (size_t i = 0; i < c->nx; i++) {
      c->buf[i] += c->noise * rng_normal(c->rng);
    }
    s = c->buf;
  }
  return dp_traj_frame(c->tr, t, s, err);
}

int main(int argc, char **argv) {
  cli_init("dp-simulate");
  static const struct option opts[] = {
      {"output", required_argument, NULL, 'o'},  {"steps", required_argument, NULL, 'n'},
      {"stride", required_argument, NULL, 'k'},  {"set", required_argument, NULL, 's'},
      {"device", required_argument, NULL, 'd'},  {"compression", required_argument, NULL, 'c'},
      {"noise", required_argument, NULL, 'N'},   {"seed", required_argument, NULL, 'S'},
      {"json", no_argument, NULL, 'j'},          {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0},
  };
  const char *out = NULL;
  long steps = 0, stride = 1, level = 6, seed = 1;
  double noise = 0.0;
  int json = 0, quiet = 0;
  dpDevice device = DP_DEVICE_CPU;
  cli_list sets = {0};
  char steps_set[64];
  int c, rc = EXIT_OK;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":o:qhV", opts, NULL)) != -1) {
    switch (c) {
      case 'o': out = optarg; break;
      case 'n':
        if (!cli_parse_int("--steps", optarg, 1, 100000000, &steps)) {
          rc = EXIT_USAGE;
          goto done;
        }
        break;
      case 'k':
        if (!cli_parse_int("--stride", optarg, 1, 100000000, &stride)) {
          rc = EXIT_USAGE;
          goto done;
        }
        break;
      case 's':
        if (!cli_add_set(&sets, optarg)) {
          rc = EXIT_USAGE;
          goto done;
        }
        break;
      case 'd':
        if (!cli_parse_device(optarg, &device)) {
          rc = EXIT_USAGE;
          goto done;
        }
        break;
      case 'c':
        if (!cli_parse_int("--compression", optarg, 0, 9, &level)) {
          rc = EXIT_USAGE;
          goto done;
        }
        break;
      case 'N':
        if (!cli_parse_double("--noise", optarg, &noise)) {
          rc = EXIT_USAGE;
          goto done;
        }
        if (noise < 0) {
          rc = cli_usage_error("option '--noise': '%s' is negative", optarg);
          goto done;
        }
        break;
      case 'S':
        if (!cli_parse_int("--seed", optarg, 0, 2147483647L, &seed)) {
          rc = EXIT_USAGE;
          goto done;
        }
        break;
      case 'j': json = 1; break;
      case 'q': quiet = 1; break;
      case 'h': usage(stdout); goto done;
      case 'V': cli_version(); goto done;
      case ':': rc = cli_usage_error("option '%s' needs a value", argv[optind - 1]); goto done;
      default:
        rc = cli_usage_error("unknown option '%s' (see --help)", argv[optind - 1]);
        goto done;
    }
  }
  if (optind != argc - 1) {
    rc = cli_usage_error(optind >= argc ? "missing SCENE (see --help)"
                                        : "expected one SCENE, got %d arguments (see --help)",
                         argc - optind);
    goto done;
  }
  if (out == NULL) {
    rc = cli_usage_error("missing -o TRAJ.npz (see --help)");
    goto done;
  }
  if (steps > 0) {
    snprintf(steps_set, sizeof steps_set, "steps=%ld", steps);
    cli_list_push(&sets, steps_set);
  }

  dpError err = {0};
  dpModel *m = NULL;
  dpRollout *r = NULL;
  sim_ctx ctx = {0};
  if (dp_scene_load(argv[optind], sets.v, sets.n, &m, &err) != DP_OK) {
    rc = cli_report(&err, 1);
    goto done;
  }
  if (dp_rollout_new(m, device, 0, &r, &err) != DP_OK ||
      dp_traj_open(out, m, m->theta0, cli_tool, (int)stride, (int)level, &ctx.tr, &err) !=
          DP_OK) {
    rc = cli_report(&err, 0);
    goto cleanup;
  }
  ctx.steps = m->steps;
  ctx.stride = (int)stride;
  ctx.noise = noise;
  ctx.nx = 3 * (size_t)m->np;
  ctx.nstate = dp_model_nstate(m);
  rng_seed(ctx.rng, (uint64_t)seed);
  if (noise > 0 && (ctx.buf = dp_malloc(dp_model_nstate(m) * sizeof *ctx.buf + 1)) == NULL) {
    fprintf(stderr, "%s: out of memory\n", cli_tool);
    rc = EXIT_FAIL;
    goto cleanup;
  }
  ctx.t0 = ctx.last = cli_now();
  ctx.progress = !quiet && !json && cli_stderr_tty();
  if (dp_rollout_forward(r, m->theta0, NULL, NULL, (int)stride, on_frame, &ctx, &err) != DP_OK) {
    if (ctx.progress) {
      fputc('\n', stderr);
    }
    rc = cli_report(&err, 0);
    dp_traj_abort(ctx.tr);
    ctx.tr = NULL;
    goto cleanup;
  }
  double wall = cli_now() - ctx.t0;
  size_t frames = dp_traj_frames(ctx.tr);
  dpStatus st = dp_traj_commit(ctx.tr, &err);
  ctx.tr = NULL;
  if (st != DP_OK) {
    rc = cli_report(&err, 0);
    goto cleanup;
  }
  if (json) {
    printf("{\"scene\": ");
    cli_json_string(stdout, m->name);
    printf(", \"steps\": %d, \"frames\": %zu, \"wall_time_s\": ", m->steps, frames);
    cli_json_number(stdout, wall);
    printf(", \"steps_per_second\": ");
    cli_json_number(stdout, m->steps / (wall > 0 ? wall : 1e-12));
    printf(", \"noise\": ");
    cli_json_number(stdout, noise);
    printf(", \"seed\": %ld, \"output\": ", seed);
    cli_json_string(stdout, out);
    printf("}\n");
  } else if (!quiet) {
    printf("%s: %d steps (%zu frames) in %.3f s (%.3g steps/s) -> %s\n", m->name, m->steps,
           frames, wall, m->steps / (wall > 0 ? wall : 1e-12), out);
  }
cleanup:
  dp_free(ctx.buf);
  dp_traj_abort(ctx.tr);
  dp_rollout_free(r);
  dp_model_free(m);
done:
  cli_list_free(&sets);
  return rc;
}
