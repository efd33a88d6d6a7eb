// Cloth element bodies: St. Venant–Kirchhoff triangle membrane with Rayleigh damping, discrete-
// shell dihedral bending on a hinge of two triangles, and flat-plate aerodynamics per triangle;
// each with its adjoint and, for the implicit solver, Hessian-vector products.
// Sources: Sifakis & Barbič, "FEM simulation of 3D deformable solids: a practitioner's guide"
// (SIGGRAPH 2012 course) and Bonet & Wood, "Nonlinear Continuum Mechanics for Finite Element
// Analysis" (2008) for the StVK membrane; Grinspun, Hirani, Desbrun & Schröder, "Discrete
// Shells" (SCA 2003), and Tamstorf & Grinspun, "Discrete bending forces and their Jacobians"
// (Graphical Models 2013) for bending.
//
// Layouts: a triangle's gathered positions x[9] = (x0, x1, x2), a hinge's x[12] = (x0, x1, x2,
// x3); 2x2 matrices are double[4] row-major, 3x2 matrices double[6] row-major (M[2 i + j]).
#ifndef DP_PHYS_CLOTH_KERN_H
#define DP_PHYS_CLOTH_KERN_H

#include <stddef.h>

#include "core_kern.h"

// Twice the triangle area (m²) below which a triangle counts as degenerate (no rest frame, no
// aerodynamic force).
#define DP_CLOTH_MIN_AREA2 1e-24
// A hinge triangle whose height over the shared edge is below this fraction of the edge length
// counts as degenerate: the dihedral angle is undefined and the hinge exerts no force.
#define DP_CLOTH_MIN_HEIGHT 1e-12
// Speed regularisation ε of the aerodynamic model, m/s: |u| is replaced by sqrt(|u|² + ε²).
#define DP_CLOTH_AERO_EPS 1e-6

// ---- small helpers (internal) ---------------------------------------------------------------

// out = a × b (out may not alias a or b)
DP_HD static inline void cloth_cross(double *DP_RESTRICT out, const double *a, const double *b) {
  out[0] = a[1] * b[2] - a[2] * b[1];
  out[1] = a[2] * b[0] - a[0] * b[2];
  out[2] = a[0] * b[1] - a[1] * b[0];
}

// out += s (a × b)
DP_HD static inline void cloth_cross_acc(double *DP_RESTRICT out, double s, const double *a,
                                         const double *b) {
  out[0] += s * (a[1] * b[2] - a[2] * b[1]);
  out[1] += s * (a[2] * b[0] - a[0] * b[2]);
  out[2] += s * (a[0] * b[1] - a[1] * b[0]);
}

// Edge matrix (3x2) of a triangle: columns x1 - x0 and x2 - x0.
DP_HD static inline void cloth_edges(const double x[9], double Ds[6]) {
  for (int i = 0; i < 3; i++) {
    Ds[2 * i] = x[3 + i] - x[i];
    Ds[2 * i + 1] = x[6 + i] - x[i];
  }
}

// Nodal vectors from a 3x2 matrix H acting on the edge columns: f1 = H[:,0], f2 = H[:,1],
// f0 = -(f1 + f2) (the transpose of cloth_edges). Accumulates into f (9).
DP_HD static inline void cloth_scatter_acc(const double H[6], double f[9]) {
  for (int i = 0; i < 3; i++) {
    f[3 + i] += H[2 * i];
    f[6 + i] += H[2 * i + 1];
    f[i] -= H[2 * i] + H[2 * i + 1];
  }
}

// C (3x2) = A (3x2) B (2x2)
DP_HD static inline void cloth_mul_32_22(const double A[6], const double B[4], double C[6]) {
  for (int i = 0; i < 3; i++) {
    C[2 * i] = A[2 * i] * B[0] + A[2 * i + 1] * B[2];
    C[2 * i + 1] = A[2 * i] * B[1] + A[2 * i + 1] * B[3];
  }
}

// C (3x2) = A (3x2) Bᵀ (2x2)
DP_HD static inline void cloth_mul_32_22t(const double A[6], const double B[4], double C[6]) {
  for (int i = 0; i < 3; i++) {
    C[2 * i] = A[2 * i] * B[0] + A[2 * i + 1] * B[1];
    C[2 * i + 1] = A[2 * i] * B[2] + A[2 * i + 1] * B[3];
  }
}

// C (2x2) = Aᵀ B, A and B 3x2
DP_HD static inline void cloth_tmul_32_32(const double A[6], const double B[6], double C[4]) {
  for (int j = 0; j < 2; j++) {
    for (int k = 0; k < 2; k++) {
      C[2 * j + k] = A[j] * B[k] + A[2 + j] * B[2 + k] + A[4 + j] * B[4 + k];
    }
  }
}

// sym(Aᵀ B) = ½(AᵀB + BᵀA), A and B 3x2
DP_HD static inline void cloth_sym_tmul(const double A[6], const double B[6], double C[4]) {
  double T[4];
  cloth_tmul_32_32(A, B, T);
  C[0] = T[0];
  C[1] = C[2] = 0.5 * (T[1] + T[2]);
  C[3] = T[3];
}

// Green strain G = ½(FᵀF - I) of a 3x2 deformation gradient.
DP_HD static inline void cloth_green(const double F[6], double G[4]) {
  cloth_tmul_32_32(F, F, G);
  G[0] = 0.5 * (G[0] - 1);
  G[1] = G[2] = 0.5 * G[1];
  G[3] = 0.5 * (G[3] - 1);
}

// Linear isotropic stress of a symmetric 2x2 strain: S = 2μ G + λ tr(G) I.
DP_HD static inline void cloth_stress(const double G[4], double mu, double lam, double S[4]) {
  double tr = G[0] + G[3];
  S[0] = 2 * mu * G[0] + lam * tr;
  S[1] = 2 * mu * G[1];
  S[2] = 2 * mu * G[2];
  S[3] = 2 * mu * G[3] + lam * tr;
}

// ---- material --------------------------------------------------------------------------------

// Membrane Lamé parameters of a sheet in plane stress, N/m:
//   mu = t E / (2 (1 + ν)),   lam = t E ν / (1 - ν²)
//   E: Young's modulus, Pa; nu: Poisson's ratio (-1 < ν < 1, dimensionless); thickness t, m.
// The plane-stress λ is 2μλ₃/(λ₃ + 2μ) of the 3D Lamé λ₃, which eliminates the normal strain.
// Source: the plane-stress reduction of isotropic linear elasticity (any solid-mechanics text,
// e.g. Bonet & Wood 2008), integrated over the thickness t.
DP_HD static inline void cloth_lame(double E, double nu, double thickness, double *mu,
                                    double *lam) {
  *mu = thickness * E / (2 * (1 + nu));
  *lam = thickness * E * nu / (1 - nu * nu);
}

// Adjoint of cloth_lame: accumulates E_bar, nu_bar, thickness_bar from mu_bar, lam_bar.
DP_HD static inline void adj_cloth_lame(double E, double nu, double thickness, double *E_bar,
                                        double *nu_bar, double *thickness_bar, double mu_bar,
                                        double lam_bar) {
  double a = 1 / (2 * (1 + nu));
  double d = 1 / (1 - nu * nu);
  *E_bar += thickness * (a * mu_bar + nu * d * lam_bar);
  *thickness_bar += E * (a * mu_bar + nu * d * lam_bar);
  // dμ/dν = -t E / (2 (1 + ν)²),  dλ/dν = t E (1 + ν²) / (1 - ν²)²
  *nu_bar += thickness * E * (-2 * a * a * mu_bar + (1 + nu * nu) * d * d * lam_bar);
}

// ---- membrane --------------------------------------------------------------------------------

// Rest area and inverse rest edge matrix of a triangle.
//   X: rest positions (9), m. Returns the rest area A = ½|e1 × e2|, m², with e1 = X1 - X0,
//   e2 = X2 - X0. Dminv (2x2, 1/m) = Dm⁻¹, Dm = [[e1·t1, e2·t1], [0, e2·t2]] the rest edges in
//   the orthonormal frame t1 = e1/|e1|, t2 = n × t1 of the rest triangle (n its unit normal), so
//   Dminv = [[1/|e1|, -(e1·e2)/(|e1| 2A)], [0, |e1|/(2A)]].
// Degenerate (2A < DP_CLOTH_MIN_AREA2): returns ½|e1 × e2| (tiny or 0), sets Dminv to zero; the
// caller must then drop the element.
// Source: Sifakis & Barbič 2012, the deformation gradient F = Ds Dm⁻¹ of a linear element,
// with Dm written in the rest triangle's own 2D frame.
DP_HD static inline double tri_rest(const double X[9], double Dminv[4]) {
  double e1[3] = {X[3] - X[0], X[4] - X[1], X[5] - X[2]};
  double e2[3] = {X[6] - X[0], X[7] - X[1], X[8] - X[2]};
  double m[3];
  cloth_cross(m, e1, e2);
  double M = dp_norm3(m);
  if (!(M >= DP_CLOTH_MIN_AREA2)) {
    Dminv[0] = Dminv[1] = Dminv[2] = Dminv[3] = 0.0;
    return 0.5 * M;
  }
  double l1 = dp_norm3(e1);
  double p = dp_dot3(e1, e2);
  Dminv[0] = 1 / l1;
  Dminv[1] = -p / (l1 * M);
  Dminv[2] = 0.0;
  Dminv[3] = l1 / M;
  return 0.5 * M;
}

// Adjoint of tri_rest: accumulates X_bar (9) from Dminv_bar (4) and A_bar. A degenerate triangle
// contributes nothing (its rest quantities are not differentiable there). Recomputes the edges.
DP_HD static inline void adj_tri_rest(const double X[9], double X_bar[9],
                                      const double Dminv_bar[4], double A_bar) {
  double e1[3] = {X[3] - X[0], X[4] - X[1], X[5] - X[2]};
  double e2[3] = {X[6] - X[0], X[7] - X[1], X[8] - X[2]};
  double m[3];
  cloth_cross(m, e1, e2);
  double M = dp_norm3(m);
  if (!(M >= DP_CLOTH_MIN_AREA2)) {
    return;
  }
  double l1 = dp_norm3(e1);
  double p = dp_dot3(e1, e2);
  double l1_bar = -Dminv_bar[0] / (l1 * l1) + Dminv_bar[1] * p / (l1 * l1 * M) + Dminv_bar[3] / M;
  double p_bar = -Dminv_bar[1] / (l1 * M);
  double M_bar = 0.5 * A_bar + Dminv_bar[1] * p / (l1 * M * M) - Dminv_bar[3] * l1 / (M * M);
  double mh[3] = {m[0] / M, m[1] / M, m[2] / M};
  double e1_bar[3], e2_bar[3];
  for (int i = 0; i < 3; i++) {
    e1_bar[i] = l1_bar * e1[i] / l1 + p_bar * e2[i];
    e2_bar[i] = p_bar * e1[i];
  }
  cloth_cross_acc(e1_bar, M_bar, e2, mh);  // dM = m̂·(de1 × e2 + e1 × de2)
  cloth_cross_acc(e2_bar, M_bar, mh, e1);
  for (int i = 0; i < 3; i++) {
    X_bar[3 + i] += e1_bar[i];
    X_bar[6 + i] += e2_bar[i];
    X_bar[i] -= e1_bar[i] + e2_bar[i];
  }
}

// St. Venant–Kirchhoff membrane energy of a triangle, J.
//   x: positions (9), m; Dminv (4), 1/m, and A, m², from tri_rest; mu, lam: Lamé parameters of
//   the sheet, N/m (cloth_lame).
//   E = A Ψ,  Ψ = μ G:G + λ/2 tr(G)²,  G = ½(FᵀF - I),  F = Ds Dm⁻¹ (3x2)
// Source: Bonet & Wood 2008 (St. Venant–Kirchhoff material); Sifakis & Barbič 2012 (its energy
// density and P in terms of F).
DP_HD static inline double tri_energy(const double x[9], const double Dminv[4], double A, double mu,
                                      double lam) {
  double Ds[6], F[6], G[4];
  cloth_edges(x, Ds);
  cloth_mul_32_22(Ds, Dminv, F);
  cloth_green(F, G);
  double tr = G[0] + G[3];
  return A * (mu * (G[0] * G[0] + G[1] * G[1] + G[2] * G[2] + G[3] * G[3]) + 0.5 * lam * tr * tr);
}

// Membrane force on the three vertices of a triangle, written (not accumulated) to f (9), N:
// the elastic force at x plus the damping force at (xd, v).
//   x: positions (9), m; xd: the configuration the damping is linearised at (9), m (x itself, or
//   the start-of-step positions in a linearly implicit step); v: velocities (9), m/s;
//   Dminv (4), 1/m, and A, m², from tri_rest; mu, lam: N/m; beta: stiffness-proportional
//   Rayleigh damping coefficient, s.
//   Elastic: P = F (2μG + λ tr(G) I) (first Piola–Kirchhoff stress, N/m), [f1 f2] = -A P Dm⁻ᵀ,
//   f0 = -(f1 + f2).
//   Damping: Ḟ = Vs Dm⁻¹ (Vs: the edge matrix of v), Ġ = sym(F_dᵀ Ḟ), F_d = Ds(xd) Dm⁻¹,
//   P_d = β F_d (2μĠ + λ tr(Ġ) I), forces -A P_d Dm⁻ᵀ likewise. Ġ is the rate of the Green
//   strain at xd, so a rigid velocity field of xd is not damped.
// Source: Sifakis & Barbič 2012 (nodal forces H = -A P Dm⁻ᵀ of a linear element); Baraff &
// Witkin, "Large steps in cloth simulation" (SIGGRAPH 1998), damping through the rate of the
// strain condition.
DP_HD static inline void tri_force(const double x[9], const double xd[9], const double v[9],
                                   const double Dminv[4], double A, double mu, double lam,
                                   double beta, double f[9]) {
  double Ds[6], F[6], G[4], S[4], Q[6], H[6];
  cloth_edges(x, Ds);
  cloth_mul_32_22(Ds, Dminv, F);
  cloth_green(F, G);
  cloth_stress(G, mu, lam, S);
  cloth_mul_32_22(F, S, Q);
  double Dsd[6], Fd[6], Vs[6], Fdot[6], Gd[4], Sd[4], Pd[6];
  cloth_edges(xd, Dsd);
  cloth_mul_32_22(Dsd, Dminv, Fd);
  cloth_edges(v, Vs);
  cloth_mul_32_22(Vs, Dminv, Fdot);
  cloth_sym_tmul(Fd, Fdot, Gd);
  cloth_stress(Gd, beta * mu, beta * lam, Sd);
  cloth_mul_32_22(Fd, Sd, Pd);
  for (int i = 0; i < 6; i++) {
    Q[i] = -A * (Q[i] + Pd[i]);
  }
  cloth_mul_32_22t(Q, Dminv, H);
  for (int i = 0; i < 9; i++) {
    f[i] = 0.0;
  }
  cloth_scatter_acc(H, f);
}

// Adjoint of tri_force: accumulates x_bar, xd_bar, v_bar (9 each), Dminv_bar (4), A_bar, mu_bar,
// lam_bar, beta_bar from f_bar (9). Recomputes F, G, F_d, Ġ (a few dozen flops, less than
// storing them per element and step).
DP_HD static inline void adj_tri_force(const double x[9], const double xd[9], const double v[9],
                                       const double Dminv[4], double A, double mu, double lam,
                                       double beta, double x_bar[9], double xd_bar[9],
                                       double v_bar[9], double Dminv_bar[4], double *A_bar,
                                       double *mu_bar, double *lam_bar, double *beta_bar,
                                       const double f_bar[9]) {
  double Ds[6], F[6], G[4], S[4], P[6];
  cloth_edges(x, Ds);
  cloth_mul_32_22(Ds, Dminv, F);
  cloth_green(F, G);
  cloth_stress(G, mu, lam, S);
  cloth_mul_32_22(F, S, P);
  double Dsd[6], Fd[6], Vs[6], Fdot[6], Gd[4], Sd[4], Pd[6];
  cloth_edges(xd, Dsd);
  cloth_mul_32_22(Dsd, Dminv, Fd);
  cloth_edges(v, Vs);
  cloth_mul_32_22(Vs, Dminv, Fdot);
  cloth_sym_tmul(Fd, Fdot, Gd);
  cloth_stress(Gd, mu, lam, Sd);  // without β
  cloth_mul_32_22(Fd, Sd, Pd);    // P_d / β
  // H = -A Q Dm⁻ᵀ with Q = P + β Pd; the scatter's transpose gathers H_bar from f_bar.
  double H_bar[6], Q[6], QD[6], Q_bar[6];
  cloth_edges(f_bar, H_bar);
  for (int i = 0; i < 6; i++) {
    Q[i] = P[i] + beta * Pd[i];
  }
  cloth_mul_32_22t(Q, Dminv, QD);
  double aq = 0;
  for (int i = 0; i < 6; i++) {
    aq += H_bar[i] * QD[i];
  }
  *A_bar -= aq;
  cloth_mul_32_22(H_bar, Dminv, Q_bar);
  double T[4];
  cloth_tmul_32_32(H_bar, Q, T);  // Dminv_bar += -A H_barᵀ Q
  for (int i = 0; i < 4; i++) {
    Dminv_bar[i] -= A * T[i];
  }
  for (int i = 0; i < 6; i++) {
    Q_bar[i] *= -A;
  }
  // elastic: P = F S(G)
  double F_bar[6], S_bar[4], G_bar[4];
  cloth_mul_32_22(Q_bar, S, F_bar);  // S symmetric
  cloth_tmul_32_32(F, Q_bar, S_bar);
  double trs = S_bar[0] + S_bar[3];
  *mu_bar += 2 * (G[0] * S_bar[0] + G[1] * S_bar[1] + G[2] * S_bar[2] + G[3] * S_bar[3]);
  *lam_bar += (G[0] + G[3]) * trs;
  G_bar[0] = 2 * mu * S_bar[0] + lam * trs;
  G_bar[1] = G_bar[2] = mu * (S_bar[1] + S_bar[2]);  // 2μ sym(S_bar)
  G_bar[3] = 2 * mu * S_bar[3] + lam * trs;
  double FG[6];
  cloth_mul_32_22(F, G_bar, FG);  // G = ½(FᵀF - I): F_bar += F sym(G_bar)
  for (int i = 0; i < 6; i++) {
    F_bar[i] += FG[i];
  }
  // damping: Q_d = β F_d S(Ġ), Ġ = sym(F_dᵀ Ḟ)
  double pq = 0;
  for (int i = 0; i < 6; i++) {
    pq += Q_bar[i] * Pd[i];
  }
  *beta_bar += pq;
  double Fd_bar[6], Sd_bar[4], Gd_bar[4], Fdot_bar[6];
  cloth_mul_32_22(Q_bar, Sd, Fd_bar);
  for (int i = 0; i < 6; i++) {
    Fd_bar[i] *= beta;
  }
  cloth_tmul_32_32(Fd, Q_bar, Sd_bar);
  for (int i = 0; i < 4; i++) {
    Sd_bar[i] *= beta;
  }
  double trd = Sd_bar[0] + Sd_bar[3];
  *mu_bar += 2 * (Gd[0] * Sd_bar[0] + Gd[1] * Sd_bar[1] + Gd[2] * Sd_bar[2] + Gd[3] * Sd_bar[3]);
  *lam_bar += (Gd[0] + Gd[3]) * trd;
  Gd_bar[0] = 2 * mu * Sd_bar[0] + lam * trd;
  Gd_bar[1] = Gd_bar[2] = mu * (Sd_bar[1] + Sd_bar[2]);
  Gd_bar[3] = 2 * mu * Sd_bar[3] + lam * trd;
  double W[6];
  cloth_mul_32_22(Fdot, Gd_bar, W);
  for (int i = 0; i < 6; i++) {
    Fd_bar[i] += W[i];
  }
  cloth_mul_32_22(Fd, Gd_bar, Fdot_bar);
  // F = Ds Dm⁻¹, F_d = Ds(xd) Dm⁻¹, Ḟ = Vs Dm⁻¹
  double E_bar[6];
  cloth_tmul_32_32(Ds, F_bar, T);
  for (int i = 0; i < 4; i++) {
    Dminv_bar[i] += T[i];
  }
  cloth_tmul_32_32(Dsd, Fd_bar, T);
  for (int i = 0; i < 4; i++) {
    Dminv_bar[i] += T[i];
  }
  cloth_tmul_32_32(Vs, Fdot_bar, T);
  for (int i = 0; i < 4; i++) {
    Dminv_bar[i] += T[i];
  }
  cloth_mul_32_22t(F_bar, Dminv, E_bar);
  cloth_scatter_acc(E_bar, x_bar);
  cloth_mul_32_22t(Fd_bar, Dminv, E_bar);
  cloth_scatter_acc(E_bar, xd_bar);
  cloth_mul_32_22t(Fdot_bar, Dminv, E_bar);
  cloth_scatter_acc(E_bar, v_bar);
}

// Membrane stiffness times a displacement: out = K dx (9, N), assigned, with K (9x9) the Hessian
// of tri_energy at x (K = -∂f_el/∂x, symmetric, indefinite under compression).
//   x, dx: positions and displacement (9), m; Dminv, A, mu, lam as in tri_energy.
//   dF = dDs Dm⁻¹, dG = sym(Fᵀ dF), dP = dF S + F (2μ dG + λ tr(dG) I), [out1 out2] = A dP Dm⁻ᵀ.
// Source: Sifakis & Barbič 2012 (force differentials δf from δP of StVK).
DP_HD static inline void tri_elastic_hvp(const double x[9], const double Dminv[4], double A,
                                         double mu, double lam, const double dx[9],
                                         double out[9]) {
  double Ds[6], F[6], G[4], S[4], dDs[6], dF[6], dG[4], dS[4], dP[6], T[6], H[6];
  cloth_edges(x, Ds);
  cloth_mul_32_22(Ds, Dminv, F);
  cloth_green(F, G);
  cloth_stress(G, mu, lam, S);
  cloth_edges(dx, dDs);
  cloth_mul_32_22(dDs, Dminv, dF);
  cloth_sym_tmul(F, dF, dG);
  cloth_stress(dG, mu, lam, dS);
  cloth_mul_32_22(dF, S, dP);
  cloth_mul_32_22(F, dS, T);
  for (int i = 0; i < 6; i++) {
    dP[i] = A * (dP[i] + T[i]);
  }
  cloth_mul_32_22t(dP, Dminv, H);
  for (int i = 0; i < 9; i++) {
    out[i] = 0.0;
  }
  cloth_scatter_acc(H, out);
}

// Membrane damping matrix times a velocity: out = D dv (9, N), assigned, with D = -∂f_d/∂v
// (9x9) of tri_force, symmetric positive semidefinite for μ, λ, β ≥ 0:
// dvᵀ D dv = A β (2μ Ġ:Ġ + λ tr(Ġ)²) with Ġ = sym(F_dᵀ dḞ).
//   xd: damping configuration (9), m; dv: velocities (9), m/s; the rest as in tri_force.
// Since f_d is linear in v, out = -(damping part of tri_force at v = dv).
DP_HD static inline void tri_damping_hvp(const double xd[9], const double Dminv[4], double A,
                                         double mu, double lam, double beta, const double dv[9],
                                         double out[9]) {
  double Dsd[6], Fd[6], Vs[6], Fdot[6], Gd[4], Sd[4], Pd[6], H[6];
  cloth_edges(xd, Dsd);
  cloth_mul_32_22(Dsd, Dminv, Fd);
  cloth_edges(dv, Vs);
  cloth_mul_32_22(Vs, Dminv, Fdot);
  cloth_sym_tmul(Fd, Fdot, Gd);
  cloth_stress(Gd, A * beta * mu, A * beta * lam, Sd);
  cloth_mul_32_22(Fd, Sd, Pd);
  cloth_mul_32_22t(Pd, Dminv, H);
  for (int i = 0; i < 9; i++) {
    out[i] = 0.0;
  }
  cloth_scatter_acc(H, out);
}

// ---- bending ---------------------------------------------------------------------------------
//
// A hinge is x0, x1 (the shared edge e = x1 - x0) and x2, x3, the opposite vertices of the
// triangles (x0, x1, x2) and (x1, x0, x3) (consistently oriented). With the area vectors
// n1 = e × (x2 - x0) and n2 = (x3 - x1) × e, the signed dihedral angle is
//   θ = atan2((n1 × n2)·e/|e|, n1·n2)   in (-π, π],
// 0 when flat, > 0 when the wings x2, x3 fold away from the normals (a ridge seen from the side
// n1, n2 point to). Its gradient (Bridson, Marino & Fedkiw, "Simulation of clothing with folds
// and wrinkles", SCA 2003; Tamstorf & Grinspun 2013) is
//   ∂θ/∂x2 = -|e| n1/|n1|²,  ∂θ/∂x3 = -|e| n2/|n2|²,
//   ∂θ/∂x0 = -(1-α2) ∂θ/∂x2 - (1-α3) ∂θ/∂x3,  ∂θ/∂x1 = -α2 ∂θ/∂x2 - α3 ∂θ/∂x3,
// with αk = (xk - x0)·e/|e|² the position of xk's foot along the edge.

// Internal: θ and its gradient g (12) at a hinge; when dx (12) is not NULL also dg (12), the
// derivative of g along dx (forward mode: each intermediate carries its tangent d·). Returns 0
// (θ = 0, g = dg = 0) when a triangle's height is below DP_CLOTH_MIN_HEIGHT |e|.
DP_HD static inline int cloth_hinge_angle(const double x[12], const double *dx, double *theta,
                                          double g[12], double *dg) {
  const double *x0 = x, *x1 = x + 3, *x2 = x + 6, *x3 = x + 9;
  double e[3], a2[3], a3[3], b3[3];
  for (int i = 0; i < 3; i++) {
    e[i] = x1[i] - x0[i];
    a2[i] = x2[i] - x0[i];
    a3[i] = x3[i] - x1[i];
    b3[i] = x3[i] - x0[i];
  }
  double n1[3], n2[3], c[3];
  cloth_cross(n1, e, a2);
  cloth_cross(n2, a3, e);
  double le2 = dp_dot3(e, e);
  double q1 = dp_dot3(n1, n1), q2 = dp_dot3(n2, n2);
  double tol = DP_CLOTH_MIN_HEIGHT * DP_CLOTH_MIN_HEIGHT * le2 * le2;  // |n| = h |e|
  if (!(q1 > tol) || !(q2 > tol)) {
    *theta = 0.0;
    for (int i = 0; i < 12; i++) {
      g[i] = 0.0;
      if (dg != NULL) {
        dg[i] = 0.0;
      }
    }
    return 0;
  }
  double le = sqrt(le2);
  cloth_cross(c, n1, n2);
  *theta = atan2(dp_dot3(c, e) / le, dp_dot3(n1, n2));
  double al2 = dp_dot3(a2, e) / le2, al3 = dp_dot3(b3, e) / le2;
  double g2[3], g3[3];
  for (int i = 0; i < 3; i++) {
    g2[i] = -le * n1[i] / q1;
    g3[i] = -le * n2[i] / q2;
    g[i] = -(1 - al2) * g2[i] - (1 - al3) * g3[i];
    g[3 + i] = -al2 * g2[i] - al3 * g3[i];
    g[6 + i] = g2[i];
    g[9 + i] = g3[i];
  }
  if (dx == NULL || dg == NULL) {
    return 1;
  }
  const double *d0 = dx, *d1 = dx + 3, *d2 = dx + 6, *d3 = dx + 9;
  double de[3], da2[3], da3[3], db3[3];
  for (int i = 0; i < 3; i++) {
    de[i] = d1[i] - d0[i];
    da2[i] = d2[i] - d0[i];
    da3[i] = d3[i] - d1[i];
    db3[i] = d3[i] - d0[i];
  }
  double dn1[3] = {0, 0, 0}, dn2[3] = {0, 0, 0};
  cloth_cross_acc(dn1, 1.0, de, a2);
  cloth_cross_acc(dn1, 1.0, e, da2);
  cloth_cross_acc(dn2, 1.0, da3, e);
  cloth_cross_acc(dn2, 1.0, a3, de);
  double ede = dp_dot3(e, de);
  double dle = ede / le;
  double dq1 = 2 * dp_dot3(n1, dn1), dq2 = 2 * dp_dot3(n2, dn2);
  double dal2 = (dp_dot3(da2, e) + dp_dot3(a2, de)) / le2 - 2 * al2 * ede / le2;
  double dal3 = (dp_dot3(db3, e) + dp_dot3(b3, de)) / le2 - 2 * al3 * ede / le2;
  for (int i = 0; i < 3; i++) {
    double dg2 = -(dle * n1[i] + le * dn1[i]) / q1 + le * n1[i] * dq1 / (q1 * q1);
    double dg3 = -(dle * n2[i] + le * dn2[i]) / q2 + le * n2[i] * dq2 / (q2 * q2);
    dg[i] = dal2 * g2[i] - (1 - al2) * dg2 + dal3 * g3[i] - (1 - al3) * dg3;
    dg[3 + i] = -dal2 * g2[i] - al2 * dg2 - dal3 * g3[i] - al3 * dg3;
    dg[6 + i] = dg2;
    dg[9 + i] = dg3;
  }
  return 1;
}

// Rest dihedral angle and rest weight of a hinge.
//   X: rest positions (12), m. theta0: the rest angle θ̄, rad; c = 3|ē|²/Ā (dimensionless), with
//   |ē| the rest edge length and Ā the sum of the two rest triangle areas; equivalently
//   c = |ē|/h̄ with h̄ a third of the mean of the two triangle heights over the edge.
// Degenerate rest triangle: theta0 = c = 0 (the hinge is inert).
// Source: Grinspun et al. 2003, the flexural energy Σ (θ - θ̄)² |ē|/h̄_e with h̄_e a third of the
// average of the heights of the two triangles; the same weight written 3|ē|²/Ā in Tamstorf &
// Grinspun 2013.
DP_HD static inline void hinge_rest(const double X[12], double *theta0, double *c) {
  double g[12];
  if (!cloth_hinge_angle(X, NULL, theta0, g, NULL)) {
    *c = 0.0;
    return;
  }
  double e[3], a2[3], a3[3], n1[3], n2[3];
  for (int i = 0; i < 3; i++) {
    e[i] = X[3 + i] - X[i];
    a2[i] = X[6 + i] - X[i];
    a3[i] = X[9 + i] - X[3 + i];
  }
  cloth_cross(n1, e, a2);
  cloth_cross(n2, a3, e);
  *c = 6 * dp_dot3(e, e) / (dp_norm3(n1) + dp_norm3(n2));  // Ā = (|n1| + |n2|)/2
}

// Adjoint of hinge_rest: accumulates X_bar (12) from theta0_bar and c_bar; nothing for a
// degenerate hinge.
DP_HD static inline void adj_hinge_rest(const double X[12], double X_bar[12], double theta0_bar,
                                        double c_bar) {
  double th, g[12];
  if (!cloth_hinge_angle(X, NULL, &th, g, NULL)) {
    return;
  }
  double e[3], a2[3], a3[3], n1[3], n2[3];
  for (int i = 0; i < 3; i++) {
    e[i] = X[3 + i] - X[i];
    a2[i] = X[6 + i] - X[i];
    a3[i] = X[9 + i] - X[3 + i];
  }
  cloth_cross(n1, e, a2);
  cloth_cross(n2, a3, e);
  double l1 = dp_norm3(n1), l2 = dp_norm3(n2);
  double Ssum = l1 + l2;
  double c = 6 * dp_dot3(e, e) / Ssum;
  double L_bar = 6 * c_bar / Ssum;   // ∂c/∂|e|²
  double S_bar = -c_bar * c / Ssum;  // ∂c/∂(|n1| + |n2|)
  double n1_bar[3], n2_bar[3], e_bar[3], a2_bar[3] = {0, 0, 0}, a3_bar[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    n1_bar[i] = S_bar * n1[i] / l1;
    n2_bar[i] = S_bar * n2[i] / l2;
    e_bar[i] = 2 * L_bar * e[i];
  }
  cloth_cross_acc(e_bar, 1.0, a2, n1_bar);  // n1 = e × a2
  cloth_cross_acc(a2_bar, 1.0, n1_bar, e);
  cloth_cross_acc(a3_bar, 1.0, e, n2_bar);  // n2 = a3 × e
  cloth_cross_acc(e_bar, 1.0, n2_bar, a3);
  for (int i = 0; i < 3; i++) {
    X_bar[i] += theta0_bar * g[i] - e_bar[i] - a2_bar[i];
    X_bar[3 + i] += theta0_bar * g[3 + i] + e_bar[i] - a3_bar[i];
    X_bar[6 + i] += theta0_bar * g[6 + i] + a2_bar[i];
    X_bar[9 + i] += theta0_bar * g[9 + i] + a3_bar[i];
  }
}

// Discrete-shell bending energy of a hinge, J: E = kb c (θ - θ̄)².
//   x: positions (12), m; kb: bending stiffness, J (N·m); a common choice for a sheet of Young's
//   modulus E, thickness t and Poisson ratio ν is E t³/(24 (1 - ν²)), c carrying the mesh
//   dependence; theta0 (rad) and c from hinge_rest. A degenerate hinge has θ = 0.
// Source: Grinspun et al. 2003; Tamstorf & Grinspun 2013.
DP_HD static inline double hinge_energy(const double x[12], double kb, double theta0, double c) {
  double th, g[12];
  cloth_hinge_angle(x, NULL, &th, g, NULL);
  double d = th - theta0;
  return kb * c * d * d;
}

// Bending force on the four hinge vertices, written (not accumulated) to f (12), N:
// f = -∇E = -2 kb c (θ - θ̄) ∇θ with the closed-form ∇θ above. A degenerate hinge (a triangle of
// zero area, or a zero-length edge) gives f = 0. θ jumps by 2π across θ = ±π, where the force
// stays finite but changes sign; θ̄ near ±π is therefore a poor rest state.
//   x: positions (12), m; kb, theta0, c as in hinge_energy.
// Source: Bridson et al. 2003; Tamstorf & Grinspun 2013 (gradient of θ).
DP_HD static inline void hinge_force(const double x[12], double kb, double theta0, double c,
                                     double f[12]) {
  double th, g[12];
  cloth_hinge_angle(x, NULL, &th, g, NULL);
  double s = -2 * kb * c * (th - theta0);
  for (int i = 0; i < 12; i++) {
    f[i] = s * g[i];
  }
}

// Bending Hessian times a displacement: out = H dx (12, N), assigned, with H the exact Hessian
// of hinge_energy (= -∂f/∂x, symmetric):
//   H dx = 2 kb c ((∇θ·dx) ∇θ + (θ - θ̄) D(∇θ)[dx]),
// D(∇θ)[dx] by forward-mode differentiation of the closed-form gradient. Zero when degenerate.
//   x, dx: positions and displacement (12), m; kb, theta0, c as in hinge_energy.
// Source: Tamstorf & Grinspun 2013 (structure of the Hessian); the derivative of ∇θ is taken
// here directly by forward mode, so the product is exact, not Gauss–Newton.
DP_HD static inline void hinge_hvp(const double x[12], double kb, double theta0, double c,
                                   const double dx[12], double out[12]) {
  double th, g[12], dg[12];
  cloth_hinge_angle(x, dx, &th, g, dg);
  double gd = 0;
  for (int i = 0; i < 12; i++) {
    gd += g[i] * dx[i];
  }
  double k = 2 * kb * c;
  for (int i = 0; i < 12; i++) {
    out[i] = k * (gd * g[i] + (th - theta0) * dg[i]);
  }
}

// Adjoint of hinge_force: accumulates x_bar (12), kb_bar, theta0_bar, c_bar from f_bar (12).
// x_bar uses the symmetry of the Hessian: x_bar += (∂f/∂x)ᵀ f_bar = -H f_bar (hinge_hvp).
DP_HD static inline void adj_hinge_force(const double x[12], double kb, double theta0, double c,
                                         double x_bar[12], double *kb_bar, double *theta0_bar,
                                         double *c_bar, const double f_bar[12]) {
  double th, g[12], dg[12];
  cloth_hinge_angle(x, f_bar, &th, g, dg);
  double gf = 0;
  for (int i = 0; i < 12; i++) {
    gf += g[i] * f_bar[i];
  }
  double d = th - theta0;
  *kb_bar -= 2 * c * d * gf;
  *c_bar -= 2 * kb * d * gf;
  *theta0_bar += 2 * kb * c * gf;
  double k = 2 * kb * c;
  for (int i = 0; i < 12; i++) {
    x_bar[i] -= k * (gf * g[i] + d * dg[i]);
  }
}

// ---- aerodynamics ----------------------------------------------------------------------------

// Aerodynamic force of a flat triangle in a uniform wind, written (not accumulated) to f (9), N,
// split equally onto the three vertices.
//   x: positions (9), m; v: velocities (9), m/s; wind: air velocity w (3), m/s; rho: air
//   density, kg/m³; cd, cl: drag and lift coefficients (dimensionless, ≥ 0).
// With A, n the current area and unit normal (from (x1 - x0) × (x2 - x0)), u = v̄ - w the
// velocity of the triangle's centroid relative to the air, u_n = u·n and the regularised speed
// s = sqrt(|u|² + ε²), ε = DP_CLOTH_AERO_EPS:
//   drag  f_D = -½ ρ C_D A s u_n n                 (normal pressure, ∝ (u·n)|u|, along n)
//   lift  f_L = -½ ρ C_L A u_n (s n - (u_n/s) u)   (∝ (u·n)|u_t|, in the plane of u and n)
//   F = f_D + f_L,   f0 = f1 = f2 = F/3.
// At ε = 0, s n - (u_n/s) u = |u| (n - (n·û) û) is perpendicular to u with length |u_t| (u_t
// the in-plane part of u), so the lift is the flat-plate lift ½ρC_L A |u|² sinα cosα with α the
// angle of attack. The form is smooth everywhere: no |u_n| kink (drag flips sign with u_n, the
// plate has no front), and ε keeps |u| differentiable at u = 0, where F = 0. Power:
// F·u = -½ρA u_n² (C_D s + C_L ε²/s) ≤ 0. A triangle with 2A < DP_CLOTH_MIN_AREA2 gets no force.
// Source: the normal-pressure / perpendicular-lift thin-plate decomposition used for cloth in
// wind (e.g. Keckeisen, Kimmerle, Thomaszewski & Wacker, "Modelling effects of wind fields in
// cloth animations", WSCG 2004); the regularisation and exact form here are this library's.
DP_HD static inline void tri_aero_force(const double x[9], const double v[9], const double wind[3],
                                        double rho, double cd, double cl, double f[9]) {
  double a[3], b[3], m[3], u[3];
  for (int i = 0; i < 3; i++) {
    a[i] = x[3 + i] - x[i];
    b[i] = x[6 + i] - x[i];
    u[i] = (v[i] + v[3 + i] + v[6 + i]) / 3 - wind[i];
  }
  cloth_cross(m, a, b);
  double M = dp_norm3(m);
  for (int i = 0; i < 9; i++) {
    f[i] = 0.0;
  }
  if (!(M >= DP_CLOTH_MIN_AREA2)) {
    return;
  }
  double n[3] = {m[0] / M, m[1] / M, m[2] / M};
  double s = sqrt(dp_dot3(u, u) + DP_CLOTH_AERO_EPS * DP_CLOTH_AERO_EPS);
  double un = dp_dot3(u, n);
  double k = 0.25 * rho * M;  // ½ ρ A
  double al = -k * (cd + cl) * un * s;
  double be = k * cl * un * un / s;
  for (int i = 0; i < 3; i++) {
    double F = (al * n[i] + be * u[i]) / 3;
    f[i] = f[3 + i] = f[6 + i] = F;
  }
}

// Adjoint of tri_aero_force: accumulates x_bar (9), v_bar (9), wind_bar (3), rho_bar, cd_bar,
// cl_bar from f_bar (9). Recomputes the normal and speed (cheap). No contribution from a
// degenerate triangle.
DP_HD static inline void adj_tri_aero_force(const double x[9], const double v[9],
                                            const double wind[3], double rho, double cd, double cl,
                                            double x_bar[9], double v_bar[9], double wind_bar[3],
                                            double *rho_bar, double *cd_bar, double *cl_bar,
                                            const double f_bar[9]) {
  double a[3], b[3], m[3], u[3], F_bar[3];
  for (int i = 0; i < 3; i++) {
    a[i] = x[3 + i] - x[i];
    b[i] = x[6 + i] - x[i];
    u[i] = (v[i] + v[3 + i] + v[6 + i]) / 3 - wind[i];
    F_bar[i] = (f_bar[i] + f_bar[3 + i] + f_bar[6 + i]) / 3;
  }
  cloth_cross(m, a, b);
  double M = dp_norm3(m);
  if (!(M >= DP_CLOTH_MIN_AREA2)) {
    return;
  }
  double n[3] = {m[0] / M, m[1] / M, m[2] / M};
  double s = sqrt(dp_dot3(u, u) + DP_CLOTH_AERO_EPS * DP_CLOTH_AERO_EPS);
  double un = dp_dot3(u, n);
  double k = 0.25 * rho * M;
  double al = -k * (cd + cl) * un * s;
  double be = k * cl * un * un / s;
  // F = al n + be u
  double al_bar = dp_dot3(F_bar, n), be_bar = dp_dot3(F_bar, u);
  double n_bar[3], u_bar[3];
  for (int i = 0; i < 3; i++) {
    n_bar[i] = al * F_bar[i];
    u_bar[i] = be * F_bar[i];
  }
  // al = -k (cd + cl) un s,  be = k cl un² / s,  k = ρ M / 4
  double k_bar = -(cd + cl) * un * s * al_bar + cl * un * un / s * be_bar;
  *cd_bar += -k * un * s * al_bar;
  *cl_bar += -k * un * s * al_bar + k * un * un / s * be_bar;
  double un_bar = -k * (cd + cl) * s * al_bar + 2 * k * cl * un / s * be_bar;
  double s_bar = -k * (cd + cl) * un * al_bar - k * cl * un * un / (s * s) * be_bar;
  *rho_bar += 0.25 * M * k_bar;
  double M_bar = 0.25 * rho * k_bar;
  for (int i = 0; i < 3; i++) {
    u_bar[i] += un_bar * n[i] + s_bar * u[i] / s;
    n_bar[i] += un_bar * u[i];
  }
  // n = m/M, M = |m|
  double nn = dp_dot3(n, n_bar);
  double m_bar[3];
  for (int i = 0; i < 3; i++) {
    m_bar[i] = M_bar * n[i] + (n_bar[i] - nn * n[i]) / M;
  }
  double a_bar[3] = {0, 0, 0}, b_bar[3] = {0, 0, 0};
  cloth_cross_acc(a_bar, 1.0, b, m_bar);  // m = a × b
  cloth_cross_acc(b_bar, 1.0, m_bar, a);
  for (int i = 0; i < 3; i++) {
    x_bar[3 + i] += a_bar[i];
    x_bar[6 + i] += b_bar[i];
    x_bar[i] -= a_bar[i] + b_bar[i];
    double ub = u_bar[i] / 3;
    v_bar[i] += ub;
    v_bar[3 + i] += ub;
    v_bar[6 + i] += ub;
    wind_bar[i] -= u_bar[i];
  }
}

#endif
