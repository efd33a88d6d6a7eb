// Soft bodies and shells in the step: element rest data from θ, the internal (elastic, Rayleigh
// damping, bending) and external (gravity, contact, aerodynamic) forces, explicit and
// semi-implicit Euler, and implicit (backward) Euler by Newton's method with a Jacobi-
// preconditioned conjugate-gradient solve on matrix-free Hessian-vector products. The implicit
// step's adjoint is implicit differentiation at the converged solution: one solve with the same
// (symmetric) matrix per substep (DESIGN.md §2 rule 3), never unrolled Newton iterations.
//
// Implicit Euler solves for the new velocities v of the free vertices
//   g(v) = M (v − vₙ) − h [f_int(xₙ + h v, xₙ, v) + f_ext(xₙ, vₙ)] = 0,
// f_int = elastic + bending (at the new positions) + Rayleigh damping −α M v − β K v (its
// configuration the step's start, so ∂g/∂v = M(1 + hα) + h D(xₙ) + h² K(xₙ + h v) is symmetric),
// f_ext = gravity, contact and aerodynamics at the step's start (explicit). g is the gradient of
// the incremental potential Φ(v) = ½(v−vₙ)ᵀM(v−vₙ) + E(xₙ + h v) + h/2 vᵀD v + hα/2 vᵀM v
// − h f_extᵀ v, which the line search decreases. Source: Baraff & Witkin, "Large Steps in Cloth
// Simulation", SIGGRAPH 1998; Martin et al., "Example-based Elastic Materials", 2011 (the
// variational form); the adjoint: e.g. Liang, Lin & Koltun, "Differentiable Cloth Simulation for
// Inverse Problems", NeurIPS 2019, §4.
#include <math.h>
#include <string.h>

#include "phys_cloth_kern.h"
#include "phys_contact_kern.h"
#include "phys_fem.h"
#include "phys_fem_kern.h"

// Views of the scratch block.
typedef struct {
  double *tD, *tW, *tmu, *tlam;   // tetrahedra: Dm⁻¹ (9), rest volume, Lamé μ, λ
  double *rD, *rA, *rmu, *rlam;   // triangles: Dm⁻¹ (4), rest area, membrane μ, λ (N/m)
  double *hth0, *hc;              // hinges: rest angle, weight 3|ē|²/Ā
  double *mass;                   // lumped vertex masses
  double *kdiag;                  // diagonal of the rest stiffness (preconditioner), nv3
  double *tDb, *tWb, *tmub, *tlamb, *rDb, *rAb, *rmub, *rlamb, *hth0b, *hcb, *massb;
  double *f, *v, *g, *dv, *p, *q, *z, *r, *vt, *fe, *lam, *tmp, *x, *xb, *vb;  // nv3 each
} Fem;

#define FEM_NVEC 15

static size_t fem_prep_size(const dpModel *m) {
  return 12 * (size_t)m->ntet + 7 * (size_t)m->ntri + 2 * (size_t)m->nhinge + (size_t)m->nvert;
}

size_t fem_scratch_size(const dpModel *m) {
  if (m->nsoft == 0) {
    return 0;
  }
  size_t nv3 = 3 * (size_t)m->nvert;
  return 2 * fem_prep_size(m) + nv3 + FEM_NVEC * nv3;
}

static Fem fem_view(const dpModel *m, const double *scratch) {
  Fem F;
  double *s = (double *)scratch;
  size_t nt = (size_t)m->ntet, nr = (size_t)m->ntri, nh = (size_t)m->nhinge;
  size_t nv = (size_t)m->nvert, nv3 = 3 * nv;
  F.tD = s; s += 9 * nt;
  F.tW = s; s += nt;
  F.tmu = s; s += nt;
  F.tlam = s; s += nt;
  F.rD = s; s += 4 * nr;
  F.rA = s; s += nr;
  F.rmu = s; s += nr;
  F.rlam = s; s += nr;
  F.hth0 = s; s += nh;
  F.hc = s; s += nh;
  F.mass = s; s += nv;
  F.tDb = s; s += 9 * nt;
  F.tWb = s; s += nt;
  F.tmub = s; s += nt;
  F.tlamb = s; s += nt;
  F.rDb = s; s += 4 * nr;
  F.rAb = s; s += nr;
  F.rmub = s; s += nr;
  F.rlamb = s; s += nr;
  F.hth0b = s; s += nh;
  F.hcb = s; s += nh;
  F.massb = s; s += nv;
  F.kdiag = s; s += nv3;
  double **vec[FEM_NVEC] = {&F.f,  &F.v,  &F.g,  &F.dv,  &F.p,   &F.q, &F.z, &F.r,
                            &F.vt, &F.fe, &F.lam, &F.tmp, &F.x, &F.xb, &F.vb};
  for (int k = 0; k < FEM_NVEC; k++) {
    *vec[k] = s;
    s += nv3;
  }
  return F;
}

const double *fem_masses(const dpModel *m, const double *scratch) {
  return fem_view(m, scratch).mass;
}

// Material entry of element e (a tet or a triangle index) of soft body s.
static size_t mat_index(const dpModel *m, int s, int e) {
  return (size_t)m->soft_madr[s] + (m->soft_perelem[s] ? (size_t)(e - m->soft_eadr[s]) : 0);
}

static void gather(const double *a, const int *idx, int n, double *out) {
  for (int k = 0; k < n; k++) {
    out[3 * k] = a[3 * idx[k]];
    out[3 * k + 1] = a[3 * idx[k] + 1];
    out[3 * k + 2] = a[3 * idx[k] + 2];
  }
}

static void scatter_add(double *a, const int *idx, int n, const double *in) {
  for (int k = 0; k < n; k++) {
    a[3 * idx[k]] += in[3 * k];
    a[3 * idx[k] + 1] += in[3 * k + 1];
    a[3 * idx[k] + 2] += in[3 * k + 2];
  }
}

// ---- rest data -------------------------------------------------------------------------------

void fem_prepare(const dpModel *m, const double *theta, double *scratch) {
  Fem F = fem_view(m, scratch);
  const dpOffsets *o = &m->off;
  const double *X = theta + o->soft_rest;
  memset(F.mass, 0, (size_t)m->nvert * sizeof *F.mass);
  memset(F.kdiag, 0, 3 * (size_t)m->nvert * sizeof *F.kdiag);
  for (int e = 0; e < m->ntet; e++) {
    const int *id = m->tet + 4 * (size_t)e;
    int s = m->vsoft[id[0]];
    double Xe[12];
    gather(X, id, 4, Xe);
    double *D = F.tD + 9 * (size_t)e;
    double W = tet_rest(Xe, D);
    F.tW[e] = W;
    size_t mi = mat_index(m, s, e);
    fem_lame(theta[o->soft_E + mi], theta[o->soft_nu + mi], &F.tmu[e], &F.tlam[e]);
    double mv = theta[o->soft_density + s] * W / 4;
    // Jacobi preconditioner: diagonal of the linear model's stiffness at rest,
    // W (μ |∇N_i|² + (μ + λ) (∇N_i)_c²) with ∇N_i the rows of Dm⁻¹ (∇N_0 = −Σ).
    double gr[4][3];
    for (int c = 0; c < 3; c++) {
      gr[1][c] = D[c];
      gr[2][c] = D[3 + c];
      gr[3][c] = D[6 + c];
      gr[0][c] = -(D[c] + D[3 + c] + D[6 + c]);
    }
    for (int k = 0; k < 4; k++) {
      F.mass[id[k]] += mv;
      double g2 = gr[k][0] * gr[k][0] + gr[k][1] * gr[k][1] + gr[k][2] * gr[k][2];
      for (int c = 0; c < 3; c++) {
        F.kdiag[3 * id[k] + c] += W * (F.tmu[e] * g2 + (F.tmu[e] + F.tlam[e]) * gr[k][c] * gr[k][c]);
      }
    }
  }
  for (int e = 0; e < m->ntri; e++) {
    const int *id = m->tri + 3 * (size_t)e;
    int s = m->vsoft[id[0]];
    double Xe[9];
    gather(X, id, 3, Xe);
    double *D = F.rD + 4 * (size_t)e;
    double A = tri_rest(Xe, D);
    F.rA[e] = A;
    size_t mi = mat_index(m, s, e);
    cloth_lame(theta[o->soft_E + mi], theta[o->soft_nu + mi], theta[o->soft_thickness + s],
               &F.rmu[e], &F.rlam[e]);
    double mv = theta[o->soft_density + s] * A / 3;
    double gr[3][2] = {{-(D[0] + D[2]), -(D[1] + D[3])}, {D[0], D[1]}, {D[2], D[3]}};
    for (int k = 0; k < 3; k++) {
      F.mass[id[k]] += mv;
      double g2 = gr[k][0] * gr[k][0] + gr[k][1] * gr[k][1];
      for (int c = 0; c < 3; c++) {
        F.kdiag[3 * id[k] + c] += A * (F.rmu[e] + 0.5 * (F.rmu[e] + F.rlam[e])) * g2;
      }
    }
  }
  for (int e = 0; e < m->nhinge; e++) {
    double Xe[12];
    gather(X, m->hinge + 4 * (size_t)e, 4, Xe);
    hinge_rest(Xe, &F.hth0[e], &F.hc[e]);
  }
}

void fem_prepare_bar_clear(const dpModel *m, double *scratch) {
  Fem F = fem_view(m, scratch);
  memset(F.tDb, 0, fem_prep_size(m) * sizeof *F.tDb);
}

void adj_fem_prepare(const dpModel *m, const double *theta, double *theta_bar, double *scratch) {
  Fem F = fem_view(m, scratch);
  const dpOffsets *o = &m->off;
  const double *X = theta + o->soft_rest;
  double *Xb = theta_bar + o->soft_rest;
  for (int e = 0; e < m->nhinge; e++) {
    const int *id = m->hinge + 4 * (size_t)e;
    double Xe[12], Xeb[12] = {0};
    gather(X, id, 4, Xe);
    adj_hinge_rest(Xe, Xeb, F.hth0b[e], F.hcb[e]);
    scatter_add(Xb, id, 4, Xeb);
  }
  for (int e = 0; e < m->ntri; e++) {
    const int *id = m->tri + 3 * (size_t)e;
    int s = m->vsoft[id[0]];
    size_t mi = mat_index(m, s, e);
    double Ab = F.rAb[e];
    double rho_b = 0;
    for (int k = 0; k < 3; k++) {
      Ab += theta[o->soft_density + s] / 3 * F.massb[id[k]];
      rho_b += F.rA[e] / 3 * F.massb[id[k]];
    }
    theta_bar[o->soft_density + s] += rho_b;
    adj_cloth_lame(theta[o->soft_E + mi], theta[o->soft_nu + mi], theta[o->soft_thickness + s],
                   theta_bar + o->soft_E + mi, theta_bar + o->soft_nu + mi,
                   theta_bar + o->soft_thickness + s, F.rmub[e], F.rlamb[e]);
    double Xe[9], Xeb[9] = {0};
    gather(X, id, 3, Xe);
    adj_tri_rest(Xe, Xeb, F.rDb + 4 * (size_t)e, Ab);
    scatter_add(Xb, id, 3, Xeb);
  }
  for (int e = 0; e < m->ntet; e++) {
    const int *id = m->tet + 4 * (size_t)e;
    int s = m->vsoft[id[0]];
    size_t mi = mat_index(m, s, e);
    double Wb = F.tWb[e];
    double rho_b = 0;
    for (int k = 0; k < 4; k++) {
      Wb += theta[o->soft_density + s] / 4 * F.massb[id[k]];
      rho_b += F.tW[e] / 4 * F.massb[id[k]];
    }
    theta_bar[o->soft_density + s] += rho_b;
    adj_fem_lame(theta[o->soft_E + mi], theta[o->soft_nu + mi], theta_bar + o->soft_E + mi,
                 theta_bar + o->soft_nu + mi, F.tmub[e], F.tlamb[e]);
    double Xe[12], Xeb[12] = {0};
    gather(X, id, 4, Xe);
    adj_tet_rest(Xe, Xeb, F.tDb + 9 * (size_t)e, Wb);
    scatter_add(Xb, id, 4, Xeb);
  }
}

// ---- forces ----------------------------------------------------------------------------------

// Internal forces, accumulated into f: elastic and bending at x, Rayleigh damping with the
// stiffness part in configuration xd, at velocities v.
static void force_int(const dpModel *m, const double *theta, const Fem *F, const double *x,
                      const double *xd, const double *v, double *f) {
  const dpOffsets *o = &m->off;
  for (int e = 0; e < m->ntet; e++) {
    const int *id = m->tet + 4 * (size_t)e;
    int s = m->vsoft[id[0]];
    double xe[12], xde[12], ve[12], fe[12];
    gather(x, id, 4, xe);
    gather(xd, id, 4, xde);
    gather(v, id, 4, ve);
    tet_force((int)m->soft_material[s], xe, xde, ve, F->tD + 9 * (size_t)e, F->tW[e], F->tmu[e],
              F->tlam[e], theta[o->soft_beta + s], fe);
    scatter_add(f, id, 4, fe);
  }
  for (int e = 0; e < m->ntri; e++) {
    const int *id = m->tri + 3 * (size_t)e;
    int s = m->vsoft[id[0]];
    double xe[9], xde[9], ve[9], fe[9];
    gather(x, id, 3, xe);
    gather(xd, id, 3, xde);
    gather(v, id, 3, ve);
    tri_force(xe, xde, ve, F->rD + 4 * (size_t)e, F->rA[e], F->rmu[e], F->rlam[e],
              theta[o->soft_beta + s], fe);
    scatter_add(f, id, 3, fe);
  }
  for (int e = 0; e < m->nhinge; e++) {
    const int *id = m->hinge + 4 * (size_t)e;
    int s = m->vsoft[id[0]];
    double xe[12], fe[12];
    gather(x, id, 4, xe);
    hinge_force(xe, theta[o->soft_bend + s], F->hth0[e], F->hc[e], fe);
    scatter_add(f, id, 4, fe);
  }
  for (int i = 0; i < m->nvert; i++) {
    double a = theta[o->soft_alpha + m->vsoft[i]] * F->mass[i];
    for (int c = 0; c < 3; c++) {
      f[3 * i + c] -= a * v[3 * i + c];
    }
  }
}

// Adjoint of force_int: accumulates x_bar, xd_bar (may alias x_bar), v_bar, theta_bar and the
// rest data's adjoints from f_bar.
static void adj_force_int(const dpModel *m, const double *theta, const Fem *F, const double *x,
                          const double *xd, const double *v, double *theta_bar, double *x_bar,
                          double *xd_bar, double *v_bar, const double *f_bar) {
  const dpOffsets *o = &m->off;
  for (int i = 0; i < m->nvert; i++) {
    int s = m->vsoft[i];
    double a = theta[o->soft_alpha + s];
    double dot = 0;
    for (int c = 0; c < 3; c++) {
      dot += v[3 * i + c] * f_bar[3 * i + c];
      v_bar[3 * i + c] -= a * F->mass[i] * f_bar[3 * i + c];
    }
    theta_bar[o->soft_alpha + s] -= F->mass[i] * dot;
    F->massb[i] -= a * dot;
  }
  for (int e = 0; e < m->nhinge; e++) {
    const int *id = m->hinge + 4 * (size_t)e;
    int s = m->vsoft[id[0]];
    double xe[12], fb[12], xb[12] = {0};
    gather(x, id, 4, xe);
    gather(f_bar, id, 4, fb);
    adj_hinge_force(xe, theta[o->soft_bend + s], F->hth0[e], F->hc[e], xb,
                    theta_bar + o->soft_bend + s, &F->hth0b[e], &F->hcb[e], fb);
    scatter_add(x_bar, id, 4, xb);
  }
  for (int e = 0; e < m->ntri; e++) {
    const int *id = m->tri + 3 * (size_t)e;
    int s = m->vsoft[id[0]];
    double xe[9], xde[9], ve[9], fb[9], xb[9] = {0}, xdb[9] = {0}, vb[9] = {0};
    gather(x, id, 3, xe);
    gather(xd, id, 3, xde);
    gather(v, id, 3, ve);
    gather(f_bar, id, 3, fb);
    adj_tri_force(xe, xde, ve, F->rD + 4 * (size_t)e, F->rA[e], F->rmu[e], F->rlam[e],
                  theta[o->soft_beta + s], xb, xdb, vb, F->rDb + 4 * (size_t)e, &F->rAb[e],
                  &F->rmub[e], &F->rlamb[e], theta_bar + o->soft_beta + s, fb);
    scatter_add(x_bar, id, 3, xb);
    scatter_add(xd_bar, id, 3, xdb);
    scatter_add(v_bar, id, 3, vb);
  }
  for (int e = 0; e < m->ntet; e++) {
    const int *id = m->tet + 4 * (size_t)e;
    int s = m->vsoft[id[0]];
    double xe[12], xde[12], ve[12], fb[12], xb[12] = {0}, xdb[12] = {0}, vb[12] = {0};
    gather(x, id, 4, xe);
    gather(xd, id, 4, xde);
    gather(v, id, 4, ve);
    gather(f_bar, id, 4, fb);
    adj_tet_force((int)m->soft_material[s], xe, xde, ve, F->tD + 9 * (size_t)e, F->tW[e],
                  F->tmu[e], F->tlam[e], theta[o->soft_beta + s], xb, xdb, vb,
                  F->tDb + 9 * (size_t)e, &F->tWb[e], &F->tmub[e], &F->tlamb[e],
                  theta_bar + o->soft_beta + s, fb);
    scatter_add(x_bar, id, 4, xb);
    scatter_add(xd_bar, id, 4, xdb);
    scatter_add(v_bar, id, 4, vb);
  }
}

// External forces, accumulated into f: gravity, contact with every collider, aerodynamics.
static void force_ext(const dpModel *m, const double *theta, const Fem *F, const double *x,
                      const double *v, double *f) {
  const dpOffsets *o = &m->off;
  const double *g = theta + o->gravity;
  for (int i = 0; i < m->nvert; i++) {
    for (int c = 0; c < 3; c++) {
      f[3 * i + c] += F->mass[i] * g[c];
    }
  }
  for (int j = 0; j < m->nc; j++) {
    const double *geom = theta + o->cgeom + (size_t)DP_CGEOM * j;
    const double *kc = theta + o->ccontact + (size_t)DP_CCONTACT * j;
    int type = (int)m->ctype[j];
    for (int i = 0; i < m->nvert; i++) {
      contact_force(f + 3 * i, type, geom, kc, theta[o->soft_radius + m->vsoft[i]], x + 3 * i,
                    v + 3 * i);
    }
  }
  for (int e = 0; e < m->ntri; e++) {
    const int *id = m->tri + 3 * (size_t)e;
    int s = m->vsoft[id[0]];
    double xe[9], ve[9], fe[9];
    gather(x, id, 3, xe);
    gather(v, id, 3, ve);
    tri_aero_force(xe, ve, theta + o->soft_wind + 3 * (size_t)s, theta[o->soft_air + s],
                   theta[o->soft_drag + s], theta[o->soft_lift + s], fe);
    scatter_add(f, id, 3, fe);
  }
}

static void adj_force_ext(const dpModel *m, const double *theta, const Fem *F, const double *x,
                          const double *v, double *theta_bar, double *x_bar, double *v_bar,
                          const double *f_bar) {
  const dpOffsets *o = &m->off;
  for (int e = 0; e < m->ntri; e++) {
    const int *id = m->tri + 3 * (size_t)e;
    int s = m->vsoft[id[0]];
    double xe[9], ve[9], fb[9], xb[9] = {0}, vb[9] = {0};
    gather(x, id, 3, xe);
    gather(v, id, 3, ve);
    gather(f_bar, id, 3, fb);
    adj_tri_aero_force(xe, ve, theta + o->soft_wind + 3 * (size_t)s, theta[o->soft_air + s],
                       theta[o->soft_drag + s], theta[o->soft_lift + s], xb, vb,
                       theta_bar + o->soft_wind + 3 * (size_t)s, theta_bar + o->soft_air + s,
                       theta_bar + o->soft_drag + s, theta_bar + o->soft_lift + s, fb);
    scatter_add(x_bar, id, 3, xb);
    scatter_add(v_bar, id, 3, vb);
  }
  for (int j = 0; j < m->nc; j++) {
    const double *geom = theta + o->cgeom + (size_t)DP_CGEOM * j;
    const double *kc = theta + o->ccontact + (size_t)DP_CCONTACT * j;
    double *geom_bar = theta_bar + o->cgeom + (size_t)DP_CGEOM * j;
    double *kc_bar = theta_bar + o->ccontact + (size_t)DP_CCONTACT * j;
    int type = (int)m->ctype[j];
    for (int i = 0; i < m->nvert; i++) {
      int s = m->vsoft[i];
      adj_contact_force(type, geom, kc, theta[o->soft_radius + s], x + 3 * i, v + 3 * i,
                        x_bar + 3 * i, v_bar + 3 * i, geom_bar, kc_bar,
                        theta_bar + o->soft_radius + s, f_bar + 3 * i);
    }
  }
  const double *g = theta + o->gravity;
  double *g_bar = theta_bar + o->gravity;
  for (int i = 0; i < m->nvert; i++) {
    for (int c = 0; c < 3; c++) {
      F->massb[i] += g[c] * f_bar[3 * i + c];
      g_bar[c] += F->mass[i] * f_bar[3 * i + c];
    }
  }
}

void fem_forces(const dpModel *m, const double *theta, const double *scratch, const double *x,
                const double *v, double *f) {
  Fem F = fem_view(m, scratch);
  memset(f, 0, 3 * (size_t)m->nvert * sizeof *f);
  force_int(m, theta, &F, x, x, v, f);
  force_ext(m, theta, &F, x, v, f);
}

// Elastic plus bending energy (J) at x.
static double energy(const dpModel *m, const double *theta, const Fem *F, const double *x) {
  const dpOffsets *o = &m->off;
  double E = 0;
  for (int e = 0; e < m->ntet; e++) {
    const int *id = m->tet + 4 * (size_t)e;
    double xe[12];
    gather(x, id, 4, xe);
    E += tet_energy((int)m->soft_material[m->vsoft[id[0]]], xe, F->tD + 9 * (size_t)e, F->tW[e],
                    F->tmu[e], F->tlam[e]);
  }
  for (int e = 0; e < m->ntri; e++) {
    const int *id = m->tri + 3 * (size_t)e;
    double xe[9];
    gather(x, id, 3, xe);
    E += tri_energy(xe, F->rD + 4 * (size_t)e, F->rA[e], F->rmu[e], F->rlam[e]);
  }
  for (int e = 0; e < m->nhinge; e++) {
    const int *id = m->hinge + 4 * (size_t)e;
    double xe[12];
    gather(x, id, 4, xe);
    E += hinge_energy(xe, theta[o->soft_bend + m->vsoft[id[0]]], F->hth0[e], F->hc[e]);
  }
  return E;
}

// out = (M (1 + hα) + h D(xd) + h² K(x)) p on the free vertices (pinned entries of p are zero
// and those of out set to zero): the Jacobian ∂g/∂v of implicit Euler, symmetric.
static void hess_vec(const dpModel *m, const double *theta, const Fem *F, double h,
                     const double *x, const double *xd, const double *p, double *out) {
  const dpOffsets *o = &m->off;
  size_t nv3 = 3 * (size_t)m->nvert;
  memset(out, 0, nv3 * sizeof *out);
  double h2 = h * h;
  for (int e = 0; e < m->ntet; e++) {
    const int *id = m->tet + 4 * (size_t)e;
    int s = m->vsoft[id[0]];
    double xe[12], xde[12], pe[12], k1[12], k2[12];
    gather(x, id, 4, xe);
    gather(xd, id, 4, xde);
    gather(p, id, 4, pe);
    const double *D = F->tD + 9 * (size_t)e;
    tet_elastic_hvp((int)m->soft_material[s], xe, D, F->tW[e], F->tmu[e], F->tlam[e], pe, k1);
    double beta = theta[o->soft_beta + s];
    if (beta != 0) {
      tet_damping_hvp(xde, D, F->tW[e], F->tmu[e], F->tlam[e], beta, pe, k2);
    } else {
      memset(k2, 0, sizeof k2);
    }
    for (int k = 0; k < 12; k++) {
      k1[k] = h2 * k1[k] + h * k2[k];
    }
    scatter_add(out, id, 4, k1);
  }
  for (int e = 0; e < m->ntri; e++) {
    const int *id = m->tri + 3 * (size_t)e;
    int s = m->vsoft[id[0]];
    double xe[9], xde[9], pe[9], k1[9], k2[9];
    gather(x, id, 3, xe);
    gather(xd, id, 3, xde);
    gather(p, id, 3, pe);
    const double *D = F->rD + 4 * (size_t)e;
    tri_elastic_hvp(xe, D, F->rA[e], F->rmu[e], F->rlam[e], pe, k1);
    double beta = theta[o->soft_beta + s];
    if (beta != 0) {
      tri_damping_hvp(xde, D, F->rA[e], F->rmu[e], F->rlam[e], beta, pe, k2);
    } else {
      memset(k2, 0, sizeof k2);
    }
    for (int k = 0; k < 9; k++) {
      k1[k] = h2 * k1[k] + h * k2[k];
    }
    scatter_add(out, id, 3, k1);
  }
  for (int e = 0; e < m->nhinge; e++) {
    const int *id = m->hinge + 4 * (size_t)e;
    int s = m->vsoft[id[0]];
    double xe[12], pe[12], k1[12];
    gather(x, id, 4, xe);
    gather(p, id, 4, pe);
    hinge_hvp(xe, theta[o->soft_bend + s], F->hth0[e], F->hc[e], pe, k1);
    for (int k = 0; k < 12; k++) {
      k1[k] *= h2;
    }
    scatter_add(out, id, 4, k1);
  }
  for (int i = 0; i < m->nvert; i++) {
    double a = F->mass[i] * (1 + h * theta[o->soft_alpha + m->vsoft[i]]);
    for (int c = 0; c < 3; c++) {
      out[3 * i + c] = m->vpinned[i] ? 0.0 : out[3 * i + c] + a * p[3 * i + c];
    }
  }
}

static double dot(const double *a, const double *b, size_t n) {
  double s = 0;
  for (size_t k = 0; k < n; k++) {
    s += a[k] * b[k];
  }
  return s;
}

// Preconditioned conjugate gradients for A y = b (A = hess_vec, Jacobi preconditioner), from
// y = 0, until ‖r‖ ≤ max(cg_tol ‖b‖, atol). Stops at negative curvature (returns the iterate so far, or b
// scaled by the preconditioner when it happens at once). Returns the iterations done.
static int pcg(const dpModel *m, const double *theta, const Fem *F, dpData *d, double h,
               const double *x, const double *xd, const double *b, double atol, double *y) {
  size_t nv3 = 3 * (size_t)m->nvert;
  double *r = F->r, *z = F->z, *p = F->p, *q = F->q;
  const dpOffsets *o = &m->off;
  memset(y, 0, nv3 * sizeof *y);
  memcpy(r, b, nv3 * sizeof *r);
  for (size_t k = 0; k < nv3; k++) {
    size_t i = k / 3;
    double a = F->mass[i] * (1 + h * theta[o->soft_alpha + m->vsoft[i]]) +
               (h * h + h * theta[o->soft_beta + m->vsoft[i]]) * F->kdiag[k];
    z[k] = m->vpinned[i] ? 0.0 : r[k] / a;
  }
  memcpy(p, z, nv3 * sizeof *p);
  double rz = dot(r, z, nv3);
  double stop = fmax(m->cg_tol * sqrt(dot(b, b, nv3)), atol);
  int it = 0;
  for (; it < m->cg_max_iter; it++) {
    if (sqrt(dot(r, r, nv3)) <= stop) {
      break;
    }
    hess_vec(m, theta, F, h, x, xd, p, q);
    double pq = dot(p, q, nv3);
    if (!(pq > 0)) {
      if (it == 0) {
        memcpy(y, z, nv3 * sizeof *y);
      }
      d->unconverged++;
      break;
    }
    double alpha = rz / pq;
    for (size_t k = 0; k < nv3; k++) {
      y[k] += alpha * p[k];
      r[k] -= alpha * q[k];
    }
    for (size_t k = 0; k < nv3; k++) {
      size_t i = k / 3;
      double a = F->mass[i] * (1 + h * theta[o->soft_alpha + m->vsoft[i]]) +
                 (h * h + h * theta[o->soft_beta + m->vsoft[i]]) * F->kdiag[k];
      z[k] = m->vpinned[i] ? 0.0 : r[k] / a;
    }
    double rz1 = dot(r, z, nv3);
    double beta = rz1 / rz;
    rz = rz1;
    for (size_t k = 0; k < nv3; k++) {
      p[k] = z[k] + beta * p[k];
    }
  }
  if (it == m->cg_max_iter) {
    d->unconverged++;
  }
  d->cg_iters += it;
  return it;
}

// ---- substeps --------------------------------------------------------------------------------

static const double *pin_control(const dpModel *m, const double *theta, int t, int p) {
  return theta + m->off.pin_controls + ((size_t)t * m->npin + p) * 3;
}

static void explicit_substep(const dpModel *m, const double *theta, const Fem *F, int t,
                             double h, const double *x, const double *v, double *xo,
                             double *vo) {
  size_t nv3 = 3 * (size_t)m->nvert;
  int semi = m->integrator != DP_EXPLICIT_EULER;
  memset(F->f, 0, nv3 * sizeof *F->f);
  force_int(m, theta, F, x, x, v, F->f);
  force_ext(m, theta, F, x, v, F->f);
  for (int i = 0; i < m->nvert; i++) {
    double im = 1.0 / F->mass[i];
    for (int c = 0; c < 3; c++) {
      size_t k = 3 * (size_t)i + c;
      double vn = v[k] + h * F->f[k] * im;
      xo[k] = x[k] + h * (semi ? vn : v[k]);
      vo[k] = vn;
    }
  }
  for (int p = 0; p < m->npin; p++) {
    int i = m->pin[p];
    const double *u = pin_control(m, theta, t, p);
    for (int c = 0; c < 3; c++) {
      xo[3 * i + c] = x[3 * i + c] + h * u[c];
      vo[3 * i + c] = u[c];
    }
  }
}

static void adj_explicit_substep(const dpModel *m, const double *theta, const Fem *F, int t,
                                 double h, const double *x, const double *v, const double *vo,
                                 double *theta_bar, double *x_bar, double *v_bar,
                                 const double *xo_bar, const double *vo_bar) {
  int semi = m->integrator != DP_EXPLICIT_EULER;
  double *fb = F->tmp;
  for (int i = 0; i < m->nvert; i++) {
    double im = 1.0 / F->mass[i];
    for (int c = 0; c < 3; c++) {
      size_t k = 3 * (size_t)i + c;
      x_bar[k] += xo_bar[k];
      if (m->vpinned[i]) {
        fb[k] = 0;
        continue;
      }
      double vnb = vo_bar[k] + (semi ? h * xo_bar[k] : 0.0);
      v_bar[k] += vnb + (semi ? 0.0 : h * xo_bar[k]);
      fb[k] = h * vnb * im;
      // ∂(h f / m)/∂m = −h f / m² with f / m = (v' − v) / h read from the substep's output
      // (saves recomputing the forces).
      F->massb[i] -= vnb * (vo[k] - v[k]) * im;
    }
  }
  for (int p = 0; p < m->npin; p++) {
    int i = m->pin[p];
    double *ub = theta_bar + m->off.pin_controls + ((size_t)t * m->npin + p) * 3;
    for (int c = 0; c < 3; c++) {
      ub[c] += vo_bar[3 * i + c] + h * xo_bar[3 * i + c];
    }
  }
  adj_force_ext(m, theta, F, x, v, theta_bar, x_bar, v_bar, fb);
  adj_force_int(m, theta, F, x, x, v, theta_bar, x_bar, x_bar, v_bar, fb);
}

// The implicit Euler residual g(v) (free entries; pinned entries zero) into F->g, with the
// candidate positions x = xₙ + h v into F->x; F->fe holds f_ext(xₙ, vₙ). Returns ‖g‖₂.
static double residual(const dpModel *m, const double *theta, const Fem *F, double h,
                       const double *xn, const double *vn, const double *v) {
  size_t nv3 = 3 * (size_t)m->nvert;
  for (size_t k = 0; k < nv3; k++) {
    F->x[k] = xn[k] + h * v[k];
  }
  memset(F->f, 0, nv3 * sizeof *F->f);
  force_int(m, theta, F, F->x, xn, v, F->f);
  double n2 = 0;
  for (size_t k = 0; k < nv3; k++) {
    size_t i = k / 3;
    F->g[k] = m->vpinned[i] ? 0.0 : F->mass[i] * (v[k] - vn[k]) - h * (F->f[k] + F->fe[k]);
    n2 += F->g[k] * F->g[k];
  }
  return sqrt(n2);
}

// Incremental potential Φ(v) whose gradient is the residual (up to constants of the pinned
// vertices).
static double potential(const dpModel *m, const double *theta, const Fem *F, double h,
                        const double *xn, const double *vn, const double *v) {
  size_t nv3 = 3 * (size_t)m->nvert;
  const dpOffsets *o = &m->off;
  for (size_t k = 0; k < nv3; k++) {
    F->x[k] = xn[k] + h * v[k];
  }
  double phi = energy(m, theta, F, F->x);
  // h/2 vᵀ D v from the damping Hessian: D v by hess_vec with h² K removed is not separable, so
  // evaluate D v directly per element.
  double dv = 0;
  for (int e = 0; e < m->ntet; e++) {
    const int *id = m->tet + 4 * (size_t)e;
    int s = m->vsoft[id[0]];
    double beta = theta[o->soft_beta + s];
    if (beta == 0) {
      continue;
    }
    double xde[12], ve[12], k2[12];
    gather(xn, id, 4, xde);
    gather(v, id, 4, ve);
    tet_damping_hvp(xde, F->tD + 9 * (size_t)e, F->tW[e], F->tmu[e], F->tlam[e], beta, ve, k2);
    for (int k = 0; k < 12; k++) {
      dv += ve[k] * k2[k];
    }
  }
  for (int e = 0; e < m->ntri; e++) {
    const int *id = m->tri + 3 * (size_t)e;
    int s = m->vsoft[id[0]];
    double beta = theta[o->soft_beta + s];
    if (beta == 0) {
      continue;
    }
    double xde[9], ve[9], k2[9];
    gather(xn, id, 3, xde);
    gather(v, id, 3, ve);
    tri_damping_hvp(xde, F->rD + 4 * (size_t)e, F->rA[e], F->rmu[e], F->rlam[e], beta, ve, k2);
    for (int k = 0; k < 9; k++) {
      dv += ve[k] * k2[k];
    }
  }
  phi += 0.5 * h * dv;
  for (int i = 0; i < m->nvert; i++) {
    if (m->vpinned[i]) {
      continue;
    }
    double a = h * theta[o->soft_alpha + m->vsoft[i]];
    for (int c = 0; c < 3; c++) {
      size_t k = 3 * (size_t)i + c;
      double dk = v[k] - vn[k];
      phi += 0.5 * F->mass[i] * (dk * dk + a * v[k] * v[k]) - h * F->fe[k] * v[k];
    }
  }
  return phi;
}

// Newton's method on g(v) = 0 from v = vₙ (pinned: their controls). Leaves v in F->v.
static void newton(const dpModel *m, const double *theta, const Fem *F, dpData *d, int t,
                   double h, const double *xn, const double *vn) {
  size_t nv3 = 3 * (size_t)m->nvert;
  memset(F->fe, 0, nv3 * sizeof *F->fe);
  force_ext(m, theta, F, xn, vn, F->fe);
  memcpy(F->v, vn, nv3 * sizeof *F->v);
  for (int p = 0; p < m->npin; p++) {
    memcpy(F->v + 3 * (size_t)m->pin[p], pin_control(m, theta, t, p), 3 * sizeof(double));
  }
  double gn = residual(m, theta, F, h, xn, vn, F->v);
  double g0 = gn;
  double phi = potential(m, theta, F, h, xn, vn, F->v);
  for (int it = 0; it < m->newton_max_iter; it++) {
    if (gn <= m->newton_tol * g0 || gn == 0) {
      return;
    }
    d->newton_iters++;
    // Solve A δ = −g at the current positions; residual() left them in F->x.
    for (size_t k = 0; k < nv3; k++) {
      F->tmp[k] = -F->g[k];
    }
    memcpy(F->vt, F->x, nv3 * sizeof *F->vt);  // positions for the Hessian
    // The Newton direction need not be more accurate than the Newton tolerance itself.
    pcg(m, theta, F, d, h, F->vt, xn, F->tmp, 0.1 * m->newton_tol * g0, F->dv);
    double slope = -dot(F->tmp, F->dv, nv3);  // gᵀδ
    double step = 1.0;
    int accepted = 0;
    for (int ls = 0; ls < 30; ls++) {
      for (size_t k = 0; k < nv3; k++) {
        F->vt[k] = F->v[k] + step * F->dv[k];
      }
      double phit = potential(m, theta, F, h, xn, vn, F->vt);
      if (phit <= phi + 1e-4 * step * slope || (slope < 0 && phit - phi <= 1e-12 * fabs(phi) &&
                                                  step == 1.0)) {
        phi = phit;
        accepted = 1;
        break;
      }
      step *= 0.5;
    }
    if (!accepted) {
      // No decrease along the Newton direction: Φ is at its minimum to rounding.
      residual(m, theta, F, h, xn, vn, F->v);
      return;
    }
    memcpy(F->v, F->vt, nv3 * sizeof *F->v);
    gn = residual(m, theta, F, h, xn, vn, F->v);
  }
  if (gn > m->newton_tol * g0) {
    d->unconverged++;
  }
}

static void implicit_substep(const dpModel *m, const double *theta, const Fem *F, dpData *d,
                             int t, double h, const double *x, const double *v, double *xo,
                             double *vo) {
  size_t nv3 = 3 * (size_t)m->nvert;
  newton(m, theta, F, d, t, h, x, v);
  for (size_t k = 0; k < nv3; k++) {
    vo[k] = F->v[k];
    xo[k] = x[k] + h * F->v[k];
  }
}

// Adjoint of implicit Euler by implicit differentiation at the converged v (read from the
// substep's output): with w = v̄' + h x̄' on the free vertices, solve (∂g/∂v) λ = w (symmetric,
// the same PCG), then every input p gets −(∂g/∂p)ᵀ λ: the force adjoints with f̄ = h λ, the mass
// term −λ·(v − vₙ), and vₙ gets M λ. Pinned vertices' velocities are controls (inputs of g).
static void adj_implicit_substep(const dpModel *m, const double *theta, const Fem *F, dpData *d,
                                 int t, double h, const double *x, const double *v,
                                 const double *vo, double *theta_bar, double *x_bar,
                                 double *v_bar, const double *xo_bar, const double *vo_bar) {
  size_t nv3 = 3 * (size_t)m->nvert;
  double *w = F->tmp, *lam = F->lam;
  for (size_t k = 0; k < nv3; k++) {
    F->x[k] = x[k] + h * vo[k];
    w[k] = m->vpinned[k / 3] ? 0.0 : vo_bar[k] + h * xo_bar[k];
    x_bar[k] += xo_bar[k];
  }
  memcpy(F->vt, F->x, nv3 * sizeof *F->vt);
  pcg(m, theta, F, d, h, F->vt, x, w, 0.0, lam);
  for (size_t k = 0; k < nv3; k++) {
    size_t i = k / 3;
    if (m->vpinned[i]) {
      lam[k] = 0;
      continue;
    }
    v_bar[k] += F->mass[i] * lam[k];
    F->massb[i] -= lam[k] * (vo[k] - v[k]);
    lam[k] *= h;  // f̄ = h λ
  }
  for (int p = 0; p < m->npin; p++) {
    int i = m->pin[p];
    double *ub = theta_bar + m->off.pin_controls + ((size_t)t * m->npin + p) * 3;
    for (int c = 0; c < 3; c++) {
      ub[c] += vo_bar[3 * i + c] + h * xo_bar[3 * i + c];
    }
  }
  // External forces at (xₙ, vₙ).
  adj_force_ext(m, theta, F, x, v, theta_bar, x_bar, v_bar, lam);
  // Internal forces at (xₙ + h v, xₙ, v): the new positions' adjoint goes to xₙ, and for pinned
  // vertices to their control through x = xₙ + h u; the velocity adjoint of a free vertex is the
  // solve variable's (already in ∂g/∂v), of a pinned vertex its control's.
  memset(F->xb, 0, nv3 * sizeof *F->xb);
  memset(F->vb, 0, nv3 * sizeof *F->vb);
  adj_force_int(m, theta, F, F->x, x, vo, theta_bar, F->xb, x_bar, F->vb, lam);
  for (size_t k = 0; k < nv3; k++) {
    x_bar[k] += F->xb[k];
  }
  for (int p = 0; p < m->npin; p++) {
    int i = m->pin[p];
    double *ub = theta_bar + m->off.pin_controls + ((size_t)t * m->npin + p) * 3;
    for (int c = 0; c < 3; c++) {
      ub[c] += h * F->xb[3 * i + c] + F->vb[3 * i + c];
    }
  }
}

void fem_substep(const dpModel *m, const double *theta, dpData *d, int t, double h,
                 const double *s, double *so) {
  Fem F = fem_view(m, d->fem);
  size_t off = dp_model_soft_offset(m), nv3 = 3 * (size_t)m->nvert;
  if (m->integrator == DP_IMPLICIT_EULER) {
    implicit_substep(m, theta, &F, d, t, h, s + off, s + off + nv3, so + off, so + off + nv3);
  } else {
    explicit_substep(m, theta, &F, t, h, s + off, s + off + nv3, so + off, so + off + nv3);
  }
}

void adj_fem_substep(const dpModel *m, const double *theta, dpData *d, int t, double h,
                     const double *s, const double *so, double *theta_bar, double *s_bar,
                     const double *so_bar) {
  Fem F = fem_view(m, d->fem);
  size_t off = dp_model_soft_offset(m), nv3 = 3 * (size_t)m->nvert;
  if (m->integrator == DP_IMPLICIT_EULER) {
    adj_implicit_substep(m, theta, &F, d, t, h, s + off, s + off + nv3, so + off + nv3,
                         theta_bar, s_bar + off, s_bar + off + nv3, so_bar + off,
                         so_bar + off + nv3);
  } else {
    adj_explicit_substep(m, theta, &F, t, h, s + off, s + off + nv3, so + off + nv3, theta_bar,
                         s_bar + off, s_bar + off + nv3, so_bar + off, so_bar + off + nv3);
  }
}

dpStatus fem_state_check(const dpModel *m, int step, const double *s, dpError *err) {
  size_t off = dp_model_soft_offset(m), nv3 = 3 * (size_t)m->nvert;
  double lim = m->divergence_limit;
  for (size_t k = 0; k < 2 * nv3; k++) {
    double a = s[off + k];
    if (!(fabs(a) <= lim)) {
      int i = (int)((k % nv3) / 3);
      int sb = m->vsoft[i];
      const char *kind = m->soft_shell[sb] ? "shell" : "soft body";
      const char *q = k < nv3 ? "position" : "velocity";
      if (!isfinite(a)) {
        return dp_error_set(err, DP_ERR_DIVERGED, NULL, 0, 0,
                            "diverged at step %d: %s '%s' vertex %d %s %c is %s", step, kind,
                            m->softname[sb], i - m->soft_vadr[sb], q, "xyz"[k % 3],
                            isnan(a) ? "nan" : "infinite");
      }
      return dp_error_set(err, DP_ERR_DIVERGED, NULL, 0, 0,
                          "diverged at step %d: %s '%s' vertex %d %s %c = %.3g exceeds the "
                          "divergence limit %.3g",
                          step, kind, m->softname[sb], i - m->soft_vadr[sb], q, "xyz"[k % 3], a,
                          lim);
    }
  }
  return DP_OK;
}

double fem_energy(const dpModel *m, const double *theta, const double *scratch, const double *x) {
  Fem F = fem_view(m, scratch);
  return energy(m, theta, &F, x);
}
