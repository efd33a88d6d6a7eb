// The CUDA backend against the CPU reference: every recorded state, the loss and the whole
// gradient θ̄ of a checkpointed rollout, for each integrator with 1 and 3 substeps, on a model
// with every force (drag, a pinned particle, two-particle and anchored springs, ground, box and
// sphere in contact, controls). Tagged "cuda"; without a usable device each test says why it
// skips. The unavailability test runs in every build.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "dp/dp.h"
#include "testutil.h"

// CPU and GPU differ by the order of a few additions (springs scatter with atomics, contacts
// and springs summed in another order, global θ̄ entries summed per block), fused multiply-adds
// on the GPU and ulp differences of exp/log1p. States: relative 1e-12 above 0.1 (m, m/s), so an
// absolute floor of 1e-13 below. Gradient: 1e-12 of max |θ̄| for every entry.
#define CUDA_STATE_TOL 1e-12
#define CUDA_STATE_FLOOR 0.1
#define CUDA_LOSS_TOL 1e-12
#define CUDA_GRAD_TOL 1e-12

// 1 (and a line on stderr) when this process cannot run the CUDA backend.
static int cuda_skip(void) {
  char why[256] = "";
  if (dp_cuda_available(why, sizeof why) != DP_OK) {
    fprintf(stderr, "cuda: skipped: %s\n", why);
    return 1;
  }
  return 0;
}


// A loss with terms at the end and in the middle of the rollout (so the backward sweep adds
// loss adjoints from the host inside a recomputed segment) and a parameter-only term.
static const char cuda_loss_json[] =
    "{\"terms\":["
    "{\"type\":\"position\",\"particle\":\"a\",\"target\":[0.5,0,0.2]},"
    "{\"type\":\"kinetic_energy\"},"
    "{\"type\":\"velocity\",\"particle\":\"d\",\"step\":7,\"target\":[0,0,0]},"
    "{\"type\":\"control_effort\",\"weight\":0.01}"
    "]}";

typedef struct {
  size_t ns;
  int nframes;
  double *frames;  // (steps + 1) × ns
} CudaRec;

static dpStatus cuda_rec_frame(void *ud, int t, const double *s, dpError *err) {
  (void)err;
  CudaRec *r = ud;
  memcpy(r->frames + (size_t)t * r->ns, s, r->ns * sizeof *s);
  r->nframes++;
  return DP_OK;
}

// One forward (every frame recorded) and backward sweep on `device`.
static void cuda_run(const dpModel *m, dpDevice device, const dpLoss *loss, double *L,
                     double *theta_bar, CudaRec *rec) {
  dpError err = {0};
  dpRollout *r = NULL;
  const char *dev = device == DP_DEVICE_CUDA ? "cuda" : "cpu";
  dpStatus st = dp_rollout_new(m, device, 0, &r, &err);
  ck_assert_msg(st == DP_OK, "%s: dp_rollout_new: %s", dev, err.message);
  *L = 0.0;
  memset(theta_bar, 0, m->ntheta * sizeof *theta_bar);
  st = dp_rollout_forward(r, m->theta0, loss, L, 1, cuda_rec_frame, rec, &err);
  ck_assert_msg(st == DP_OK, "%s: forward: %s", dev, err.message);
  st = dp_rollout_backward(r, m->theta0, loss, theta_bar, &err);
  ck_assert_msg(st == DP_OK, "%s: backward: %s", dev, err.message);
  dp_rollout_free(r);
}

static void cuda_check_parity(dpIntegrator integ, int substeps, const char *what) {
  const int T = 24;  // checkpoints every ⌈√24⌉ = 5 steps: segments are recomputed
  dpModel *m = tu_mixed_model(integ, substeps, T);
  dpError err = {0};
  dpLoss *loss = NULL;
  ck_assert_msg(dp_loss_parse(cuda_loss_json, "cuda-loss.json", m, &loss, &err) == DP_OK, "%s",
                err.message);
  const size_t ns = dp_model_nstate(m);
  CudaRec rc = {ns, 0, calloc((size_t)(T + 1) * ns, sizeof(double))};
  CudaRec rg = {ns, 0, calloc((size_t)(T + 1) * ns, sizeof(double))};
  double *gc = calloc(m->ntheta, sizeof *gc), *gg = calloc(m->ntheta, sizeof *gg);
  ck_assert(rc.frames != NULL && rg.frames != NULL && gc != NULL && gg != NULL);
  double Lc = 0, Lg = 0;
  cuda_run(m, DP_DEVICE_CPU, loss, &Lc, gc, &rc);
  cuda_run(m, DP_DEVICE_CUDA, loss, &Lg, gg, &rg);

  ck_assert_int_eq(rc.nframes, T + 1);
  ck_assert_int_eq(rg.nframes, T + 1);
  for (int t = 0; t <= T; t++) {
    for (size_t k = 0; k < ns; k++) {
      double a = rc.frames[(size_t)t * ns + k], b = rg.frames[(size_t)t * ns + k];
      size_t i = (k % (ns / 2)) / 3;
      ck_assert_msg(tu_relerr(a, b, CUDA_STATE_FLOOR) <= CUDA_STATE_TOL,
                    "%s: step %d particle '%s' %s %c: cpu %.17g cuda %.17g (rel %.3e)", what, t,
                    m->pname[i], k < ns / 2 ? "position" : "velocity", "xyz"[k % 3], a, b,
                    tu_relerr(a, b, CUDA_STATE_FLOOR));
    }
  }
  ck_assert_msg(tu_relerr(Lc, Lg, 0.0) <= CUDA_LOSS_TOL, "%s: loss cpu %.17g cuda %.17g", what,
                Lc, Lg);
  double gmax = 0.0;
  for (size_t k = 0; k < m->ntheta; k++) {
    gmax = fmax(gmax, fabs(gc[k]));
  }
  ck_assert_msg(gmax > 0.0, "%s: the CPU gradient is zero", what);
  for (size_t k = 0; k < m->ntheta; k++) {
    size_t comp = 0;
    const dpParam *p = dp_param_at(m, k, &comp);
    ck_assert_msg(fabs(gc[k] - gg[k]) <= CUDA_GRAD_TOL * gmax,
                  "%s: d/d%s[%zu]: cpu %.17g cuda %.17g (diff %.3e, max |grad| %.3e)", what,
                  p != NULL ? p->path : "?", comp, gc[k], gg[k], fabs(gc[k] - gg[k]), gmax);
  }
  free(rc.frames);
  free(rg.frames);
  free(gc);
  free(gg);
  dp_loss_free(loss);
  dp_model_free(m);
}

START_TEST(test_cuda_explicit_euler) {
  if (cuda_skip()) {
    return;
  }
  cuda_check_parity(DP_EXPLICIT_EULER, 1, "explicit_euler");
  cuda_check_parity(DP_EXPLICIT_EULER, 3, "explicit_euler/3 substeps");
}
END_TEST

START_TEST(test_cuda_semi_implicit_euler) {
  if (cuda_skip()) {
    return;
  }
  cuda_check_parity(DP_SEMI_IMPLICIT_EULER, 1, "semi_implicit_euler");
  cuda_check_parity(DP_SEMI_IMPLICIT_EULER, 3, "semi_implicit_euler/3 substeps");
}
END_TEST

START_TEST(test_cuda_rk4) {
  if (cuda_skip()) {
    return;
  }
  cuda_check_parity(DP_RK4, 1, "rk4");
  cuda_check_parity(DP_RK4, 3, "rk4/3 substeps");
}
END_TEST

// A diverged state is caught at the first check on the GPU too (every state leaves the device
// only at checkpoints and loss/frame steps), with the same message as on the CPU.
START_TEST(test_cuda_divergence) {
  if (cuda_skip()) {
    return;
  }
  dpModel *m = tu_mixed_model(DP_SEMI_IMPLICIT_EULER, 1, 10);
  m->theta0[m->off.v0 + 3 * 1 + 2] = 1e300;  // particle b, v_z
  dpError ec = {0}, eg = {0};
  dpRollout *rc = NULL, *rg = NULL;
  ck_assert_int_eq(dp_rollout_new(m, DP_DEVICE_CPU, 0, &rc, &ec), DP_OK);
  ck_assert_msg(dp_rollout_new(m, DP_DEVICE_CUDA, 0, &rg, &eg) == DP_OK, "%s", eg.message);
  double Lc = 0, Lg = 0;
  ck_assert_int_eq(dp_rollout_forward(rc, m->theta0, NULL, &Lc, 1, NULL, NULL, &ec),
                   DP_ERR_DIVERGED);
  ck_assert_int_eq(dp_rollout_forward(rg, m->theta0, NULL, &Lg, 1, NULL, NULL, &eg),
                   DP_ERR_DIVERGED);
  ck_assert_str_eq(eg.message, ec.message);
  ck_assert_msg(strstr(eg.message, "'b'") != NULL, "%s", eg.message);
  dp_rollout_free(rc);
  dp_rollout_free(rg);
  dp_model_free(m);
}
END_TEST

// Runs in every build: when CUDA is unusable (built without nvcc, no device, too old a device)
// a CUDA rollout is refused with DP_ERR_NO_CUDA and a message; when it is usable it is created.
START_TEST(test_cuda_unavailable_is_reported) {
  char why[256] = "";
  dpStatus avail = dp_cuda_available(why, sizeof why);
  ck_assert_msg(why[0] != '\0', "dp_cuda_available gave no reason");
  dpModel *m = tu_mixed_model(DP_SEMI_IMPLICIT_EULER, 1, 4);
  dpError err = {0};
  dpRollout *r = NULL;
  dpStatus st = dp_rollout_new(m, DP_DEVICE_CUDA, 0, &r, &err);
  if (avail == DP_OK) {
    ck_assert_msg(st == DP_OK, "cuda available (%s) but dp_rollout_new failed: %s", why,
                  err.message);
    ck_assert_ptr_nonnull(r);
  } else {
    ck_assert_int_eq(avail, DP_ERR_NO_CUDA);
    ck_assert_int_eq(st, DP_ERR_NO_CUDA);
    ck_assert_int_eq(err.code, DP_ERR_NO_CUDA);
    ck_assert_msg(err.message[0] != '\0', "DP_ERR_NO_CUDA without a message");
    ck_assert_ptr_null(r);
    if (strncmp(why, "built without CUDA", 18) == 0) {
      ck_assert_msg(strstr(err.message, "CUDA") != NULL, "message: %s", err.message);
    }
    // dp_value_and_grad reports it the same way.
    double L = 0, *g = calloc(m->ntheta, sizeof *g);
    ck_assert_int_eq(dp_value_and_grad(m, DP_DEVICE_CUDA, 0, m->theta0, NULL, &L, g, NULL),
                     DP_ERR_NO_CUDA);
    free(g);
  }
  dp_rollout_free(r);
  dp_model_free(m);
}
END_TEST

Suite *make_cuda_suite(void) {
  Suite *s = suite_create("cuda");
  TCase *tc = tcase_create("parity");
  tcase_set_tags(tc, "cuda");
  tcase_set_timeout(tc, 300);  // context creation dominates; each test runs in its own process
  tcase_add_test(tc, test_cuda_explicit_euler);
  tcase_add_test(tc, test_cuda_semi_implicit_euler);
  tcase_add_test(tc, test_cuda_rk4);
  tcase_add_test(tc, test_cuda_divergence);
  suite_add_tcase(s, tc);
  TCase *tu = tcase_create("availability");
  tcase_set_timeout(tu, 60);
  tcase_add_test(tu, test_cuda_unavailable_is_reported);
  suite_add_tcase(s, tu);
  return s;
}
