// The CUDA backend against the CPU reference: every recorded state, the loss and the whole
// gradient θ̄ of a checkpointed rollout, for each integrator with 1 and 3 substeps, on a model
// with every force (drag, a pinned particle, two-particle and anchored springs, ground, box and
// sphere in contact, controls); and the soft-body element loops (dp_cuda_soft_*) against a CPU
// loop over the same kernels, on four solids (one per constitutive model) and a shell. Tagged
// "cuda"; without a usable device each test says why it skips. The unavailability tests and the
// checks of the soft-body CPU reference run in every build.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "dp/dp.h"
#include "io_mesh.h"
#include "phys_cloth_kern.h"
#include "phys_fem.h"
#include "phys_fem_kern.h"
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

// ---- soft bodies and shells: dp_cuda_soft_forces, dp_cuda_soft_hvp, dp_cuda_soft_adj_forces ----
//
// The reference is a CPU loop over the same kernel bodies as phys_fem.c (force_int's elastic,
// damping and bending terms, hess_vec's K part, adj_force_int's element loops), itself checked
// in every build: against fem_forces with the external forces and mass damping switched off,
// and against central differences. The GPU must match it to CUDA_SOFT_TOL of max |reference|:
// the differences are the order of the atomic scatter, fused multiply-adds and ulps of
// sqrt/log/atan2 in the kernel bodies.
#define CUDA_SOFT_TOL 1e-12

// A box of 2 × 2 × 1 cells (24 tets) with jittered rest vertices, centred at c.
static void soft_add_box(dpModel *m, const char *name, dpMaterial mat, const double c[3],
                         double E, int per_element, uint64_t seed) {
  const double size[3] = {0.2, 0.15, 0.1};
  const int res[3] = {2, 2, 1};
  dpMesh mesh = {0};
  dpError err = {0};
  ck_assert_int_eq(dp_mesh_box_tets(size, res, &mesh, &err), DP_OK);
  tu_rng g = {seed};
  for (int i = 0; i < mesh.nv; i++) {
    for (int k = 0; k < 3; k++) {
      mesh.X[3 * i + k] += c[k] + tu_uniform(&g, -0.05, 0.05) * size[k] / res[k];
    }
  }
  dpSoftDef d = dp_default_soft_def(0);
  d.material = mat;
  d.nv = mesh.nv;
  d.rest = mesh.X;
  d.nelem = mesh.ntet;
  d.elem = mesh.tet;
  d.youngs_modulus = E;
  d.poisson_ratio = 0.3;
  d.per_element = per_element;
  d.density = 500;
  d.mass_damping = 0.5;
  d.stiffness_damping = 2e-3;
  d.radius = 0.01;
  ck_assert_msg(dp_model_add_soft(m, name, &d, &err) >= 0, "%s", err.message);
  dp_mesh_free(&mesh);
}

// A 4 × 4 grid sheet (32 triangles, its interior-edge hinges) with rest heights jittered.
static void soft_add_sheet(dpModel *m, const char *name, double z) {
  dpMesh mesh = {0};
  dpError err = {0};
  ck_assert_int_eq(dp_mesh_grid_tris(0.3, 0.3, 4, 4, &mesh, &err), DP_OK);
  int *hinge = NULL, nh = 0;
  ck_assert_int_eq(dp_mesh_hinges(&mesh, NULL, &hinge, &nh, &err), DP_OK);
  ck_assert_int_gt(nh, 0);
  tu_rng g = {91};
  for (int i = 0; i < mesh.nv; i++) {
    mesh.X[3 * i + 2] += z + tu_uniform(&g, -0.005, 0.005);
  }
  dpSoftDef d = dp_default_soft_def(1);
  d.nv = mesh.nv;
  d.rest = mesh.X;
  d.nelem = mesh.ntri;
  d.elem = mesh.tri;
  d.nhinge = nh;
  d.hinge = hinge;
  d.youngs_modulus = 2e5;
  d.poisson_ratio = 0.3;
  d.thickness = 1e-3;
  d.density = 0.3;
  d.bending_stiffness = 2e-4;
  d.mass_damping = 0.3;
  d.stiffness_damping = 1e-3;
  d.lift = 0.4;
  d.drag = 1.1;
  d.air_density = 1.2;
  d.wind[0] = 1.5;
  d.radius = 0.005;
  ck_assert_msg(dp_model_add_soft(m, name, &d, &err) >= 0, "%s", err.message);
  dp_free(hinge);
  dp_mesh_free(&mesh);
}

// One solid per constitutive model (the stable neo-Hookean one with E per element, perturbed in
// θ) and one shell; no colliders. Finalized.
static dpModel *soft_model(void) {
  dpModel *m = dp_model_new();
  const double c0[3] = {0, 0, 0.5}, c1[3] = {0.4, 0, 0.5}, c2[3] = {0, 0.4, 0.5};
  const double c3[3] = {0.4, 0.4, 0.5};
  soft_add_box(m, "linear", DP_MATERIAL_LINEAR, c0, 2e4, 0, 11);
  soft_add_box(m, "corotated", DP_MATERIAL_COROTATED, c1, 3e4, 0, 12);
  soft_add_box(m, "stvk", DP_MATERIAL_STVK, c2, 1.5e4, 0, 13);
  soft_add_box(m, "neohookean", DP_MATERIAL_NEOHOOKEAN, c3, 2.5e4, 1, 14);
  soft_add_sheet(m, "sheet", 1.0);
  dpError err = {0};
  ck_assert_msg(dp_model_finalize(m, &err) == DP_OK, "finalize: %s", err.message);
  int s = dp_model_find_soft(m, "neohookean");
  ck_assert_int_ge(s, 0);
  ck_assert(m->soft_perelem[s]);
  for (int k = 0; k < m->soft_ne[s]; k++) {
    m->theta0[m->off.soft_E + (size_t)m->soft_madr[s] + k] *= 1 + 0.3 * sin(1.7 * k);
  }
  return m;
}

// Deformed positions (a rotation, a stretch and jitter of the rest shape), velocities, and two
// random vectors a, b (nvert × 3 each; seeded).
static void soft_state(const dpModel *m, double *x, double *v, double *a, double *b) {
  const double *X = m->theta0 + m->off.soft_rest;
  const double c = cos(0.4), s = sin(0.4);
  const double A[9] = {1.08 * c, -s, 0.05, 1.08 * s, c, -0.03, 0.02, 0.04, 0.93};
  tu_rng g = {2024};
  for (int i = 0; i < m->nvert; i++) {
    for (int r = 0; r < 3; r++) {
      double y = 0.1 * r;
      for (int k = 0; k < 3; k++) {
        y += A[3 * r + k] * X[3 * i + k];
      }
      x[3 * i + r] = y + tu_uniform(&g, -0.004, 0.004);
      v[3 * i + r] = tu_uniform(&g, -0.5, 0.5);
      a[3 * i + r] = tu_uniform(&g, -1, 1);
      b[3 * i + r] = tu_uniform(&g, -1, 1);
    }
  }
}

// Element rest data from θ, laid out as in lib/cuda/fem.cu, by the kernels fem_prepare calls.
typedef struct {
  double *tD, *tp;  // tets: Dm⁻¹ (9), (W, μ, λ, β)
  double *rD, *rp;  // triangles: Dm⁻¹ (4), (A, μ, λ, β)
  double *hp;       // hinges: (kb, θ̄, c)
  int *tmodel;      // tets: DP_FEM_*
} SoftRest;

static void soft_gather(const double *a, const int *id, int n, double *out) {
  for (int k = 0; k < n; k++) {
    for (int c = 0; c < 3; c++) {
      out[3 * k + c] = a[3 * (size_t)id[k] + c];
    }
  }
}

static void soft_scatter(double *a, const int *id, int n, const double *in) {
  for (int k = 0; k < n; k++) {
    for (int c = 0; c < 3; c++) {
      a[3 * (size_t)id[k] + c] += in[3 * k + c];
    }
  }
}

static SoftRest soft_rest(const dpModel *m, const double *th) {
  const dpOffsets *o = &m->off;
  SoftRest R;
  R.tD = calloc(9 * (size_t)m->ntet + 1, sizeof(double));
  R.tp = calloc(4 * (size_t)m->ntet + 1, sizeof(double));
  R.rD = calloc(4 * (size_t)m->ntri + 1, sizeof(double));
  R.rp = calloc(4 * (size_t)m->ntri + 1, sizeof(double));
  R.hp = calloc(3 * (size_t)m->nhinge + 1, sizeof(double));
  R.tmodel = calloc((size_t)m->ntet + 1, sizeof(int));
  ck_assert(R.tD && R.tp && R.rD && R.rp && R.hp && R.tmodel);
  for (int e = 0; e < m->ntet; e++) {
    const int *id = m->tet + 4 * (size_t)e;
    int s = m->vsoft[id[0]];
    size_t mi = (size_t)m->soft_madr[s] + (m->soft_perelem[s] ? (size_t)(e - m->soft_eadr[s]) : 0);
    double Xe[12], *p = R.tp + 4 * (size_t)e;
    soft_gather(th + o->soft_rest, id, 4, Xe);
    p[0] = tet_rest(Xe, R.tD + 9 * (size_t)e);
    fem_lame(th[o->soft_E + mi], th[o->soft_nu + mi], &p[1], &p[2]);
    p[3] = th[o->soft_beta + s];
    R.tmodel[e] = (int)m->soft_material[s];
  }
  for (int e = 0; e < m->ntri; e++) {
    const int *id = m->tri + 3 * (size_t)e;
    int s = m->vsoft[id[0]];
    size_t mi = (size_t)m->soft_madr[s] + (m->soft_perelem[s] ? (size_t)(e - m->soft_eadr[s]) : 0);
    double Xe[9], *p = R.rp + 4 * (size_t)e;
    soft_gather(th + o->soft_rest, id, 3, Xe);
    p[0] = tri_rest(Xe, R.rD + 4 * (size_t)e);
    cloth_lame(th[o->soft_E + mi], th[o->soft_nu + mi], th[o->soft_thickness + s], &p[1], &p[2]);
    p[3] = th[o->soft_beta + s];
  }
  for (int e = 0; e < m->nhinge; e++) {
    const int *id = m->hinge + 4 * (size_t)e;
    double Xe[12], *p = R.hp + 3 * (size_t)e;
    soft_gather(th + o->soft_rest, id, 4, Xe);
    p[0] = th[o->soft_bend + m->vsoft[id[0]]];
    hinge_rest(Xe, &p[1], &p[2]);
  }
  return R;
}

static void soft_rest_free(SoftRest *R) {
  free(R->tD);
  free(R->tp);
  free(R->rD);
  free(R->rp);
  free(R->hp);
  free(R->tmodel);
}

// force_int's element terms (damping configuration x itself), f written.
static void ref_forces(const dpModel *m, const SoftRest *R, const double *x, const double *v,
                       double *f) {
  memset(f, 0, 3 * (size_t)m->nvert * sizeof *f);
  for (int e = 0; e < m->ntet; e++) {
    const int *id = m->tet + 4 * (size_t)e;
    const double *p = R->tp + 4 * (size_t)e;
    double xe[12], ve[12], fe[12];
    soft_gather(x, id, 4, xe);
    soft_gather(v, id, 4, ve);
    tet_force(R->tmodel[e], xe, xe, ve, R->tD + 9 * (size_t)e, p[0], p[1], p[2], p[3], fe);
    soft_scatter(f, id, 4, fe);
  }
  for (int e = 0; e < m->ntri; e++) {
    const int *id = m->tri + 3 * (size_t)e;
    const double *p = R->rp + 4 * (size_t)e;
    double xe[9], ve[9], fe[9];
    soft_gather(x, id, 3, xe);
    soft_gather(v, id, 3, ve);
    tri_force(xe, xe, ve, R->rD + 4 * (size_t)e, p[0], p[1], p[2], p[3], fe);
    soft_scatter(f, id, 3, fe);
  }
  for (int e = 0; e < m->nhinge; e++) {
    const int *id = m->hinge + 4 * (size_t)e;
    const double *p = R->hp + 3 * (size_t)e;
    double xe[12], fe[12];
    soft_gather(x, id, 4, xe);
    hinge_force(xe, p[0], p[1], p[2], fe);
    soft_scatter(f, id, 4, fe);
  }
}

// hess_vec's elastic and bending part (without h²), out written.
static void ref_hvp(const dpModel *m, const SoftRest *R, const double *x, const double *dx,
                    double *out) {
  memset(out, 0, 3 * (size_t)m->nvert * sizeof *out);
  for (int e = 0; e < m->ntet; e++) {
    const int *id = m->tet + 4 * (size_t)e;
    const double *p = R->tp + 4 * (size_t)e;
    double xe[12], de[12], ke[12];
    soft_gather(x, id, 4, xe);
    soft_gather(dx, id, 4, de);
    tet_elastic_hvp(R->tmodel[e], xe, R->tD + 9 * (size_t)e, p[0], p[1], p[2], de, ke);
    soft_scatter(out, id, 4, ke);
  }
  for (int e = 0; e < m->ntri; e++) {
    const int *id = m->tri + 3 * (size_t)e;
    const double *p = R->rp + 4 * (size_t)e;
    double xe[9], de[9], ke[9];
    soft_gather(x, id, 3, xe);
    soft_gather(dx, id, 3, de);
    tri_elastic_hvp(xe, R->rD + 4 * (size_t)e, p[0], p[1], p[2], de, ke);
    soft_scatter(out, id, 3, ke);
  }
  for (int e = 0; e < m->nhinge; e++) {
    const int *id = m->hinge + 4 * (size_t)e;
    const double *p = R->hp + 3 * (size_t)e;
    double xe[12], de[12], ke[12];
    soft_gather(x, id, 4, xe);
    soft_gather(dx, id, 4, de);
    hinge_hvp(xe, p[0], p[1], p[2], de, ke);
    soft_scatter(out, id, 4, ke);
  }
}

// adj_force_int's element loops (x_d = x), x_bar and v_bar accumulated.
static void ref_adj(const dpModel *m, const SoftRest *R, const double *x, const double *v,
                    const double *f_bar, double *x_bar, double *v_bar) {
  for (int e = 0; e < m->nhinge; e++) {
    const int *id = m->hinge + 4 * (size_t)e;
    const double *p = R->hp + 3 * (size_t)e;
    double xe[12], fb[12], xb[12] = {0}, kbb = 0, th0b = 0, cb = 0;
    soft_gather(x, id, 4, xe);
    soft_gather(f_bar, id, 4, fb);
    adj_hinge_force(xe, p[0], p[1], p[2], xb, &kbb, &th0b, &cb, fb);
    soft_scatter(x_bar, id, 4, xb);
  }
  for (int e = 0; e < m->ntri; e++) {
    const int *id = m->tri + 3 * (size_t)e;
    const double *p = R->rp + 4 * (size_t)e;
    double xe[9], ve[9], fb[9], xb[9] = {0}, xdb[9] = {0}, vb[9] = {0}, Db[4] = {0};
    double Ab = 0, mub = 0, lamb = 0, betab = 0;
    soft_gather(x, id, 3, xe);
    soft_gather(v, id, 3, ve);
    soft_gather(f_bar, id, 3, fb);
    adj_tri_force(xe, xe, ve, R->rD + 4 * (size_t)e, p[0], p[1], p[2], p[3], xb, xdb, vb, Db,
                  &Ab, &mub, &lamb, &betab, fb);
    soft_scatter(x_bar, id, 3, xb);
    soft_scatter(x_bar, id, 3, xdb);
    soft_scatter(v_bar, id, 3, vb);
  }
  for (int e = 0; e < m->ntet; e++) {
    const int *id = m->tet + 4 * (size_t)e;
    const double *p = R->tp + 4 * (size_t)e;
    double xe[12], ve[12], fb[12], xb[12] = {0}, xdb[12] = {0}, vb[12] = {0}, Db[9] = {0};
    double Wb = 0, mub = 0, lamb = 0, betab = 0;
    soft_gather(x, id, 4, xe);
    soft_gather(v, id, 4, ve);
    soft_gather(f_bar, id, 4, fb);
    adj_tet_force(R->tmodel[e], xe, xe, ve, R->tD + 9 * (size_t)e, p[0], p[1], p[2], p[3], xb,
                  xdb, vb, Db, &Wb, &mub, &lamb, &betab, fb);
    soft_scatter(x_bar, id, 4, xb);
    soft_scatter(x_bar, id, 4, xdb);
    soft_scatter(v_bar, id, 4, vb);
  }
}

// |got − ref| ≤ tol · max |ref| entry by entry, naming the soft body, vertex and component.
static void soft_compare(const dpModel *m, const char *what, const double *ref, const double *got,
                         double tol) {
  const size_t n3 = 3 * (size_t)m->nvert;
  double mx = 0;
  for (size_t k = 0; k < n3; k++) {
    mx = fmax(mx, fabs(ref[k]));
  }
  ck_assert_msg(mx > 0, "%s: the reference is zero", what);
  for (size_t k = 0; k < n3; k++) {
    int i = (int)(k / 3), s = m->vsoft[i];
    ck_assert_msg(fabs(got[k] - ref[k]) <= tol * mx,
                  "%s: '%s' vertex %d %c: reference %.17g got %.17g (diff %.3e, max %.3e)", what,
                  m->softname[s], i - m->soft_vadr[s], "xyz"[k % 3], ref[k], got[k],
                  fabs(got[k] - ref[k]), mx);
  }
}

typedef struct {
  dpModel *m;
  size_t n3;
  double *x, *v, *a, *b, *r1, *r2, *g1, *g2;  // state, random vectors, results
} SoftCase;

static SoftCase soft_case(void) {
  SoftCase c;
  c.m = soft_model();
  c.n3 = 3 * (size_t)c.m->nvert;
  double **p[8] = {&c.x, &c.v, &c.a, &c.b, &c.r1, &c.r2, &c.g1, &c.g2};
  for (int k = 0; k < 8; k++) {
    *p[k] = calloc(c.n3, sizeof(double));
    ck_assert_ptr_nonnull(*p[k]);
  }
  soft_state(c.m, c.x, c.v, c.a, c.b);
  return c;
}

static void soft_case_free(SoftCase *c) {
  double *p[8] = {c->x, c->v, c->a, c->b, c->r1, c->r2, c->g1, c->g2};
  for (int k = 0; k < 8; k++) {
    free(p[k]);
  }
  dp_model_free(c->m);
}

// The reference equals the library's CPU forces (fem_prepare + fem_forces) when gravity,
// aerodynamics and mass damping are off and there are no colliders. Runs in every build.
START_TEST(test_soft_reference_is_fem_forces) {
  SoftCase c = soft_case();
  dpModel *m = c.m;
  ck_assert_int_eq(m->nc, 0);
  double *th = malloc(m->ntheta * sizeof *th);
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  for (int k = 0; k < 3; k++) {
    th[m->off.gravity + k] = 0;
  }
  for (int s = 0; s < m->nsoft; s++) {
    th[m->off.soft_alpha + s] = 0;
    th[m->off.soft_air + s] = 0;
  }
  dpData *d = dp_data_new(m, 1);
  ck_assert_ptr_nonnull(d);
  fem_prepare(m, th, d->fem);
  fem_forces(m, th, d->fem, c.x, c.v, c.g1);
  SoftRest R = soft_rest(m, th);
  ref_forces(m, &R, c.x, c.v, c.r1);
  soft_compare(m, "reference vs fem_forces", c.g1, c.r1, 1e-14);
  soft_rest_free(&R);
  dp_data_free(d);
  free(th);
  soft_case_free(&c);
}
END_TEST

// The reference Hessian-vector product and adjoint against central differences of the
// reference forces (at v = 0 the force's x-derivative is −K: the damping stress vanishes).
START_TEST(test_soft_reference_derivatives) {
  SoftCase c = soft_case();
  dpModel *m = c.m;
  const size_t n3 = c.n3;
  SoftRest R = soft_rest(m, m->theta0);
  double *xp = calloc(n3, sizeof *xp), *xm = calloc(n3, sizeof *xm);
  double *vp = calloc(n3, sizeof *vp), *vm = calloc(n3, sizeof *vm);
  double *zero = calloc(n3, sizeof *zero), *fd = calloc(n3, sizeof *fd);
  ck_assert(xp != NULL && xm != NULL && vp != NULL && vm != NULL && zero != NULL && fd != NULL);
  const double h = 1e-6;
  for (size_t k = 0; k < n3; k++) {
    xp[k] = c.x[k] + h * 0.01 * c.a[k];
    xm[k] = c.x[k] - h * 0.01 * c.a[k];
    vp[k] = c.v[k] + h * c.b[k];
    vm[k] = c.v[k] - h * c.b[k];
  }
  // K (0.01 a) against −(f(x + h 0.01 a) − f(x − h 0.01 a)) / 2h at v = 0.
  ref_hvp(m, &R, c.x, c.a, c.r1);
  ref_forces(m, &R, xp, zero, c.g1);
  ref_forces(m, &R, xm, zero, c.g2);
  for (size_t k = 0; k < n3; k++) {
    c.r1[k] *= 0.01;
    fd[k] = -(c.g1[k] - c.g2[k]) / (2 * h);
  }
  soft_compare(m, "reference hvp vs central differences", fd, c.r1, 1e-6);
  // ⟨f̄, J (0.01 a, b)⟩ = ⟨x̄, 0.01 a⟩ + ⟨v̄, b⟩ with f̄ = b.
  memset(c.r1, 0, n3 * sizeof *c.r1);
  memset(c.r2, 0, n3 * sizeof *c.r2);
  ref_adj(m, &R, c.x, c.v, c.b, c.r1, c.r2);
  ref_forces(m, &R, xp, vp, c.g1);
  ref_forces(m, &R, xm, vm, c.g2);
  double lhs = 0, rhs = 0, scale = 0;
  for (size_t k = 0; k < n3; k++) {
    lhs += c.b[k] * (c.g1[k] - c.g2[k]) / (2 * h);
    rhs += c.r1[k] * 0.01 * c.a[k] + c.r2[k] * c.b[k];
    scale += fabs(c.r1[k] * 0.01 * c.a[k]) + fabs(c.r2[k] * c.b[k]);
  }
  ck_assert_msg(scale > 0 && fabs(lhs - rhs) <= 1e-6 * scale,
                "reference adjoint: <f_bar, J d> = %.12e by differences, %.12e by the adjoint",
                lhs, rhs);
  free(xp);
  free(xm);
  free(vp);
  free(vm);
  free(zero);
  free(fd);
  soft_rest_free(&R);
  soft_case_free(&c);
}
END_TEST

START_TEST(test_cuda_soft_forces) {
  if (cuda_skip()) {
    return;
  }
  SoftCase c = soft_case();
  dpModel *m = c.m;
  dpError err = {0};
  SoftRest R = soft_rest(m, m->theta0);
  ref_forces(m, &R, c.x, c.v, c.r1);
  for (size_t k = 0; k < c.n3; k++) {
    c.g1[k] = NAN;  // written, not accumulated
  }
  ck_assert_msg(dp_cuda_soft_forces(m, NULL, c.x, c.v, c.g1, &err) == DP_OK, "%s", err.message);
  soft_compare(m, "soft forces (theta0)", c.r1, c.g1, CUDA_SOFT_TOL);
  soft_rest_free(&R);
  // Another θ (stiffer, more damping, other rest shape) is honoured.
  double *th = malloc(m->ntheta * sizeof *th);
  memcpy(th, m->theta0, m->ntheta * sizeof *th);
  for (int i = 0; i < m->nmat; i++) {
    th[m->off.soft_E + i] *= 1.5;
  }
  for (int s = 0; s < m->nsoft; s++) {
    th[m->off.soft_beta + s] *= 3;
    th[m->off.soft_bend + s] *= 2;
  }
  for (size_t k = 0; k < c.n3; k++) {
    th[m->off.soft_rest + k] *= 1.01;
  }
  R = soft_rest(m, th);
  ref_forces(m, &R, c.x, c.v, c.r2);
  ck_assert_msg(dp_cuda_soft_forces(m, th, c.x, c.v, c.g2, &err) == DP_OK, "%s", err.message);
  soft_compare(m, "soft forces (other theta)", c.r2, c.g2, CUDA_SOFT_TOL);
  soft_rest_free(&R);
  free(th);
  soft_case_free(&c);
}
END_TEST

START_TEST(test_cuda_soft_hvp) {
  if (cuda_skip()) {
    return;
  }
  SoftCase c = soft_case();
  dpModel *m = c.m;
  dpError err = {0};
  SoftRest R = soft_rest(m, m->theta0);
  ref_hvp(m, &R, c.x, c.a, c.r1);
  for (size_t k = 0; k < c.n3; k++) {
    c.g1[k] = NAN;
  }
  ck_assert_msg(dp_cuda_soft_hvp(m, m->theta0, c.x, c.a, c.g1, &err) == DP_OK, "%s",
                err.message);
  soft_compare(m, "soft hvp", c.r1, c.g1, CUDA_SOFT_TOL);
  soft_rest_free(&R);
  soft_case_free(&c);
}
END_TEST

START_TEST(test_cuda_soft_adj_forces) {
  if (cuda_skip()) {
    return;
  }
  SoftCase c = soft_case();
  dpModel *m = c.m;
  dpError err = {0};
  SoftRest R = soft_rest(m, m->theta0);
  ref_adj(m, &R, c.x, c.v, c.a, c.r1, c.r2);  // from zero
  // The GPU accumulates into what the arrays hold.
  for (size_t k = 0; k < c.n3; k++) {
    c.g1[k] = 0.25 * c.b[k];
    c.g2[k] = -0.5 * c.b[k];
  }
  ck_assert_msg(dp_cuda_soft_adj_forces(m, NULL, c.x, c.v, c.a, c.g1, c.g2, &err) == DP_OK, "%s",
                err.message);
  for (size_t k = 0; k < c.n3; k++) {
    c.g1[k] -= 0.25 * c.b[k];
    c.g2[k] += 0.5 * c.b[k];
  }
  soft_compare(m, "soft adjoint x_bar", c.r1, c.g1, CUDA_SOFT_TOL);
  soft_compare(m, "soft adjoint v_bar", c.r2, c.g2, CUDA_SOFT_TOL);
  soft_rest_free(&R);
  soft_case_free(&c);
}
END_TEST

// A model without soft bodies: nothing to do, DP_OK.
START_TEST(test_cuda_soft_empty) {
  if (cuda_skip()) {
    return;
  }
  dpModel *m = tu_mixed_model(DP_SEMI_IMPLICIT_EULER, 1, 4);
  ck_assert_int_eq(m->nvert, 0);
  dpError err = {0};
  double dummy[3] = {0, 0, 0};
  ck_assert_int_eq(dp_cuda_soft_forces(m, NULL, dummy, dummy, dummy, &err), DP_OK);
  ck_assert_int_eq(dp_cuda_soft_hvp(m, NULL, dummy, dummy, dummy, &err), DP_OK);
  ck_assert_int_eq(dp_cuda_soft_adj_forces(m, NULL, dummy, dummy, dummy, dummy, dummy, &err),
                   DP_OK);
  dp_model_free(m);
}
END_TEST

// Runs in every build: without CUDA each soft-body entry point returns DP_ERR_NO_CUDA with a
// message and leaves its outputs alone.
START_TEST(test_cuda_soft_unavailable_is_reported) {
  char why[256] = "";
  if (dp_cuda_available(why, sizeof why) == DP_OK) {
    return;  // covered by the parity tests
  }
  SoftCase c = soft_case();
  dpModel *m = c.m;
  for (size_t k = 0; k < c.n3; k++) {
    c.g1[k] = c.g2[k] = 7.0;
  }
  dpError e1 = {0}, e2 = {0}, e3 = {0};
  ck_assert_int_eq(dp_cuda_soft_forces(m, NULL, c.x, c.v, c.g1, &e1), DP_ERR_NO_CUDA);
  ck_assert_int_eq(dp_cuda_soft_hvp(m, NULL, c.x, c.a, c.g1, &e2), DP_ERR_NO_CUDA);
  ck_assert_int_eq(dp_cuda_soft_adj_forces(m, NULL, c.x, c.v, c.a, c.g1, c.g2, &e3),
                   DP_ERR_NO_CUDA);
  const dpError *es[3] = {&e1, &e2, &e3};
  for (int k = 0; k < 3; k++) {
    ck_assert_int_eq(es[k]->code, DP_ERR_NO_CUDA);
    ck_assert_msg(strstr(es[k]->message, "CUDA") != NULL, "message: %s (why: %s)",
                  es[k]->message, why);
  }
  for (size_t k = 0; k < c.n3; k++) {
    ck_assert(c.g1[k] == 7.0 && c.g2[k] == 7.0);
  }
  soft_case_free(&c);
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
  TCase *ts = tcase_create("soft");
  tcase_set_tags(ts, "cuda");
  tcase_set_timeout(ts, 120);
  tcase_add_test(ts, test_cuda_soft_forces);
  tcase_add_test(ts, test_cuda_soft_hvp);
  tcase_add_test(ts, test_cuda_soft_adj_forces);
  tcase_add_test(ts, test_cuda_soft_empty);
  suite_add_tcase(s, ts);
  TCase *tr = tcase_create("soft reference");
  tcase_set_timeout(tr, 60);
  tcase_add_test(tr, test_soft_reference_is_fem_forces);
  tcase_add_test(tr, test_soft_reference_derivatives);
  tcase_add_test(tr, test_cuda_soft_unavailable_is_reported);
  suite_add_tcase(s, tr);
  return s;
}
