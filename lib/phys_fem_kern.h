// Linear tetrahedral FEM bodies: Lamé parameters; four hyperelastic energies, their stress, stress
// differential and adjoint; element force, energy and Hessian-vector products. Sources: Sifakis &
// Barbič, SIGGRAPH 2012 FEM course (§3, §4); Smith, de Goes & Kim, TOG 2018; McAdams et al. 2011.
#ifndef DP_PHYS_FEM_KERN_H
#define DP_PHYS_FEM_KERN_H

#include "core_kern.h"

// Constitutive models (the values of dpMaterial).
#define DP_FEM_LINEAR 0      // small-strain linear elasticity
#define DP_FEM_COROTATED 1   // corotated linear (McAdams et al. 2011 / Stomakhin et al. 2012 form)
#define DP_FEM_STVK 2        // St. Venant–Kirchhoff
#define DP_FEM_NEOHOOKEAN 3  // stable neo-Hookean, Smith, de Goes & Kim 2018

// Corotated stress differential: the rotation's twist modes divide by σ_j + σ_k (signed singular
// values), which vanishes where the polar rotation is not unique (e.g. an exact reflection).
// Denominators are floored at DP_FEM_POLAR_EPS σ₁ + 1e-12 there, so dP stays finite (and large)
// instead of infinite; away from that set the derivative is exact.
#define DP_FEM_POLAR_EPS 1e-6

// ---- 3 × 3 helpers (row-major double[9]) ------------------------------------------------------

// C = A B.
DP_HD static inline void fem_m3_mul(const double A[9], const double B[9], double C[9]) {
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      C[3 * i + j] = A[3 * i] * B[j] + A[3 * i + 1] * B[3 + j] + A[3 * i + 2] * B[6 + j];
    }
  }
}

// C = Aᵀ B.
DP_HD static inline void fem_m3_mul_tn(const double A[9], const double B[9], double C[9]) {
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      C[3 * i + j] = A[i] * B[j] + A[3 + i] * B[3 + j] + A[6 + i] * B[6 + j];
    }
  }
}

// C = A Bᵀ.
DP_HD static inline void fem_m3_mul_nt(const double A[9], const double B[9], double C[9]) {
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      C[3 * i + j] =
          A[3 * i] * B[3 * j] + A[3 * i + 1] * B[3 * j + 1] + A[3 * i + 2] * B[3 * j + 2];
    }
  }
}

// Frobenius inner product A : B.
DP_HD static inline double fem_m3_ddot(const double A[9], const double B[9]) {
  double s = 0.0;
  for (int i = 0; i < 9; i++) {
    s += A[i] * B[i];
  }
  return s;
}

// Determinant of A.
DP_HD static inline double fem_m3_det(const double A[9]) {
  return A[0] * (A[4] * A[8] - A[5] * A[7]) - A[1] * (A[3] * A[8] - A[5] * A[6]) +
         A[2] * (A[3] * A[7] - A[4] * A[6]);
}

// Cofactor matrix C = ∂det(A)/∂A = det(A) A⁻ᵀ (defined for singular A too).
DP_HD static inline void fem_m3_cof(const double A[9], double C[9]) {
  C[0] = A[4] * A[8] - A[5] * A[7];
  C[1] = A[5] * A[6] - A[3] * A[8];
  C[2] = A[3] * A[7] - A[4] * A[6];
  C[3] = A[2] * A[7] - A[1] * A[8];
  C[4] = A[0] * A[8] - A[2] * A[6];
  C[5] = A[1] * A[6] - A[0] * A[7];
  C[6] = A[1] * A[5] - A[2] * A[4];
  C[7] = A[2] * A[3] - A[0] * A[5];
  C[8] = A[0] * A[4] - A[1] * A[3];
}

// Directional derivative dC of the cofactor matrix of A along dA (cof is bilinear in A).
DP_HD static inline void fem_m3_dcof(const double A[9], const double dA[9], double dC[9]) {
  dC[0] = dA[4] * A[8] + A[4] * dA[8] - dA[5] * A[7] - A[5] * dA[7];
  dC[1] = dA[5] * A[6] + A[5] * dA[6] - dA[3] * A[8] - A[3] * dA[8];
  dC[2] = dA[3] * A[7] + A[3] * dA[7] - dA[4] * A[6] - A[4] * dA[6];
  dC[3] = dA[2] * A[7] + A[2] * dA[7] - dA[1] * A[8] - A[1] * dA[8];
  dC[4] = dA[0] * A[8] + A[0] * dA[8] - dA[2] * A[6] - A[2] * dA[6];
  dC[5] = dA[1] * A[6] + A[1] * dA[6] - dA[0] * A[7] - A[0] * dA[7];
  dC[6] = dA[1] * A[5] + A[1] * dA[5] - dA[2] * A[4] - A[2] * dA[4];
  dC[7] = dA[2] * A[3] + A[2] * dA[3] - dA[0] * A[5] - A[0] * dA[5];
  dC[8] = dA[0] * A[4] + A[0] * dA[4] - dA[1] * A[3] - A[1] * dA[3];
}

// Eigen-decomposition of a symmetric A (9): A = V diag(ev) Vᵀ, ev descending, V (9) a proper
// rotation. Cyclic Jacobi (Golub & Van Loan, "Matrix Computations", 4th ed., Alg. 8.5.2),
// at most 20 sweeps (converges to round-off in ~5).
DP_HD static inline void fem_sym_eig3(const double A_in[9], double ev[3], double V[9]) {
  double A[9];
  for (int i = 0; i < 9; i++) {
    A[i] = A_in[i];
    V[i] = (i % 4 == 0) ? 1.0 : 0.0;
  }
  for (int sweep = 0; sweep < 20; sweep++) {
    double off = A[1] * A[1] + A[2] * A[2] + A[5] * A[5];
    double dia = A[0] * A[0] + A[4] * A[4] + A[8] * A[8];
    if (off <= 1e-36 * dia || off < 1e-300) {
      break;
    }
    for (int k = 0; k < 3; k++) {
      int p = k == 2 ? 1 : 0, q = k == 0 ? 1 : 2;
      double apq = A[3 * p + q];
      if (apq == 0.0) {
        continue;
      }
      double theta = (A[3 * q + q] - A[3 * p + p]) / (2.0 * apq);
      double t = fabs(theta) > 1e150 ? 0.5 / theta
                                     : (theta >= 0 ? 1.0 : -1.0) /
                                           (fabs(theta) + sqrt(theta * theta + 1.0));
      double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
      // A ← Jᵀ A J, V ← V J with J = I except J_pp = J_qq = c, J_pq = s, J_qp = −s.
      for (int r = 0; r < 3; r++) {
        double arp = A[3 * r + p], arq = A[3 * r + q];
        A[3 * r + p] = c * arp - s * arq;
        A[3 * r + q] = s * arp + c * arq;
        double vrp = V[3 * r + p], vrq = V[3 * r + q];
        V[3 * r + p] = c * vrp - s * vrq;
        V[3 * r + q] = s * vrp + c * vrq;
      }
      for (int r = 0; r < 3; r++) {
        double apr = A[3 * p + r], aqr = A[3 * q + r];
        A[3 * p + r] = c * apr - s * aqr;
        A[3 * q + r] = s * apr + c * aqr;
      }
      A[3 * p + q] = A[3 * q + p] = 0.0;
    }
  }
  ev[0] = A[0];
  ev[1] = A[4];
  ev[2] = A[8];
  // Sort descending (compare-swap 01, 12, 01), carrying V's columns; then make det V = +1.
  for (int pass = 0; pass < 3; pass++) {
    int a = pass == 1 ? 1 : 0, b = a + 1;
    if (ev[b] > ev[a]) {
      double te = ev[a];
      ev[a] = ev[b];
      ev[b] = te;
      for (int r = 0; r < 3; r++) {
        double tv = V[3 * r + a];
        V[3 * r + a] = V[3 * r + b];
        V[3 * r + b] = tv;
      }
    }
  }
  if (fem_m3_det(V) < 0) {
    V[2] = -V[2];
    V[5] = -V[5];
    V[8] = -V[8];
  }
}

// Rotation-variant SVD F = U diag(sig) Vᵀ with U, V proper rotations, sig[0] ≥ sig[1] ≥ |sig[2]|,
// sig[2] < 0 iff det F < 0 (the sign fix of Irving, Teran & Fedkiw, "Invertible Finite
// Elements for Robust Simulation of Large Deformation", SCA 2004, §5). V from the Jacobi
// eigenvectors of FᵀF; U and sig from a Givens QR of F V, which keeps small singular values
// accurate (McAdams et al., "Computing the Singular Value Decomposition of 3×3 matrices with
// minimal branching and elementary floating point operations", UW-Madison TR1690, 2011, §4).
DP_HD static inline void fem_svd3(const double F[9], double U[9], double sig[3], double V[9]) {
  double C[9], ev[3], B[9];
  fem_m3_mul_tn(F, F, C);
  fem_sym_eig3(C, ev, V);
  fem_m3_mul(F, V, B);
  for (int i = 0; i < 9; i++) {
    U[i] = (i % 4 == 0) ? 1.0 : 0.0;
  }
  // Zero B10, B20 (pivot B00), then B21 (pivot B11); each rotation leaves its pivot ≥ 0.
  for (int k = 0; k < 3; k++) {
    int p = k == 2 ? 1 : 0, q = k == 0 ? 1 : 2, col = k == 2 ? 1 : 0;
    double a = B[3 * p + col], b = B[3 * q + col];
    double r = sqrt(a * a + b * b);
    double c = 1.0, s = 0.0;
    if (r > 0) {
      c = a / r;
      s = b / r;
    }
    for (int j = 0; j < 3; j++) {
      double bp = B[3 * p + j], bq = B[3 * q + j];
      B[3 * p + j] = c * bp + s * bq;
      B[3 * q + j] = -s * bp + c * bq;
      double up = U[3 * j + p], uq = U[3 * j + q];
      U[3 * j + p] = c * up + s * uq;
      U[3 * j + q] = -s * up + c * uq;
    }
  }
  sig[0] = B[0];
  sig[1] = B[4];
  sig[2] = B[8];
}

// ---- Lamé parameters -------------------------------------------------------------------------

// Lamé parameters (Pa) from Young's modulus E (Pa) and Poisson's ratio ν (−1 < ν < 1/2):
// μ = E / (2(1+ν)), λ = Eν / ((1+ν)(1−2ν)). Source: Sifakis & Barbič 2012, §3.2.
DP_HD static inline void fem_lame(double E, double nu, double *mu, double *lam) {
  *mu = E / (2.0 * (1.0 + nu));
  *lam = E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu));
}

// Adjoint of fem_lame: accumulates E_bar and nu_bar from mu_bar, lam_bar.
// ∂λ/∂ν = E (1 + 2ν²) / ((1+ν)(1−2ν))².
DP_HD static inline void adj_fem_lame(double E, double nu, double *E_bar, double *nu_bar,
                                      double mu_bar, double lam_bar) {
  double a = 1.0 + nu, g = (1.0 + nu) * (1.0 - 2.0 * nu);
  *E_bar += mu_bar / (2.0 * a) + lam_bar * nu / g;
  *nu_bar += -mu_bar * E / (2.0 * a * a) + lam_bar * E * (1.0 + 2.0 * nu * nu) / (g * g);
}

// ---- energy density, stress, stress differential -----------------------------------------------

// Energy density Ψ(F) in J/m³ of the deformation gradient F (9, dimensionless) for `model`, with
// the physical Lamé parameters μ, λ (Pa) for every model. Unknown model: 0.
//   linear     ε = sym(F) − I, Ψ = μ ε:ε + λ/2 tr(ε)²          (Sifakis & Barbič 2012, §3.2)
//   corotated  F = R S (polar, R ∈ SO(3) also for det F < 0), Ψ = μ‖F − R‖² + λ/2 (tr S − 3)²
//              (McAdams et al., "Efficient Elasticity for Character Skinning with Contact and
//              Collisions", SIGGRAPH 2011, §3; Stomakhin et al., SCA 2012)
//   StVK       E = ½(FᵀF − I), Ψ = μ E:E + λ/2 tr(E)²         (Sifakis & Barbič 2012, §3.3)
//   stable NH  Ψ = μ'/2 (I_C − 3) + λ'/2 (J − α)² − μ'/2 log(I_C + 1) − Ψ₀ (Smith et al. 2018,
//              §3) with I_C = F:F, J = det F and the Lamé reparameterisation of their §3.4:
//              μ' = 4μ/3, λ' = λ + 5μ/6, α = 1 + μ'/λ' − μ'/(4λ') = 1 + 3μ'/(4λ'), which
//              makes the rest stress zero and the small-strain tangent that of the linear model.
//              Ψ₀ = Ψ(I) (a constant) is subtracted so the rest energy is 0; using
//              λ'(α − 1) = μ the energy is evaluated without dividing by λ' as
//              Ψ = μ'/2 (I_C − 3) + λ'/2 (J − 1)² − μ (J − 1) − μ'/2 log((I_C + 1)/4).
DP_HD static inline double fem_psi(int model, const double F[9], double mu, double lam) {
  if (model == DP_FEM_LINEAR) {
    double e[9];
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 3; j++) {
        e[3 * i + j] = 0.5 * (F[3 * i + j] + F[3 * j + i]) - (i == j ? 1.0 : 0.0);
      }
    }
    double tr = e[0] + e[4] + e[8];
    return mu * fem_m3_ddot(e, e) + 0.5 * lam * tr * tr;
  }
  if (model == DP_FEM_COROTATED) {
    double U[9], sig[3], V[9];
    fem_svd3(F, U, sig, V);
    double d0 = sig[0] - 1.0, d1 = sig[1] - 1.0, d2 = sig[2] - 1.0, tr = d0 + d1 + d2;
    return mu * (d0 * d0 + d1 * d1 + d2 * d2) + 0.5 * lam * tr * tr;
  }
  if (model == DP_FEM_STVK) {
    double C[9];
    fem_m3_mul_tn(F, F, C);
    for (int i = 0; i < 9; i++) {
      C[i] = 0.5 * (C[i] - ((i % 4 == 0) ? 1.0 : 0.0));
    }
    double tr = C[0] + C[4] + C[8];
    return mu * fem_m3_ddot(C, C) + 0.5 * lam * tr * tr;
  }
  if (model == DP_FEM_NEOHOOKEAN) {
    double mu_p = 4.0 / 3.0 * mu, lam_p = lam + 5.0 / 6.0 * mu;
    double ic = fem_m3_ddot(F, F), jm1 = fem_m3_det(F) - 1.0;
    return 0.5 * mu_p * (ic - 3.0) + 0.5 * lam_p * jm1 * jm1 - mu * jm1 -
           0.5 * mu_p * log(0.25 * (ic + 1.0));
  }
  return 0.0;
}

// Polar factors of F (9): R = U Vᵀ (9, proper rotation) and the signed singular values sig (3)
// with the eigenvectors V (9) of S = RᵀF = V diag(sig) Vᵀ. See fem_svd3.
DP_HD static inline void fem_polar(const double F[9], double R[9], double sig[3], double V[9]) {
  double U[9];
  fem_svd3(F, U, sig, V);
  fem_m3_mul_nt(U, V, R);
}

// First Piola–Kirchhoff stress P = ∂Ψ/∂F (9, Pa) of fem_psi's models at F (9); μ, λ in Pa.
//   linear     P = 2μ ε + λ tr(ε) I
//   corotated  P = 2μ (F − R) + λ (tr S − 3) R               (McAdams et al. 2011, §3)
//   StVK       P = F (2μ E + λ tr(E) I)
//   stable NH  P = μ' (1 − 1/(I_C + 1)) F + (λ'(J − 1) − μ) cof F   (Smith et al. 2018, §3,
//              with λ'(J − α) = λ'(J − 1) − μ); cof F = ∂J/∂F.
// Unknown model: P = 0.
DP_HD static inline void fem_pk1(int model, const double F[9], double mu, double lam,
                                 double P[9]) {
  if (model == DP_FEM_LINEAR) {
    double tr = F[0] + F[4] + F[8] - 3.0;
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 3; j++) {
        double e = 0.5 * (F[3 * i + j] + F[3 * j + i]) - (i == j ? 1.0 : 0.0);
        P[3 * i + j] = 2.0 * mu * e + (i == j ? lam * tr : 0.0);
      }
    }
  } else if (model == DP_FEM_COROTATED) {
    double R[9], sig[3], V[9];
    fem_polar(F, R, sig, V);
    double c = lam * (sig[0] + sig[1] + sig[2] - 3.0);
    for (int i = 0; i < 9; i++) {
      P[i] = 2.0 * mu * (F[i] - R[i]) + c * R[i];
    }
  } else if (model == DP_FEM_STVK) {
    double S[9];
    fem_m3_mul_tn(F, F, S);
    double tr = 0.5 * (S[0] + S[4] + S[8] - 3.0);
    for (int i = 0; i < 9; i++) {
      S[i] = mu * (S[i] - ((i % 4 == 0) ? 1.0 : 0.0)) + ((i % 4 == 0) ? lam * tr : 0.0);
    }
    fem_m3_mul(F, S, P);
  } else if (model == DP_FEM_NEOHOOKEAN) {
    double mu_p = 4.0 / 3.0 * mu, lam_p = lam + 5.0 / 6.0 * mu;
    double cof[9];
    fem_m3_cof(F, cof);
    double ic = fem_m3_ddot(F, F), jm1 = fem_m3_det(F) - 1.0;
    double a = mu_p * (1.0 - 1.0 / (ic + 1.0)), b = lam_p * jm1 - mu;
    for (int i = 0; i < 9; i++) {
      P[i] = a * F[i] + b * cof[i];
    }
  } else {
    for (int i = 0; i < 9; i++) {
      P[i] = 0.0;
    }
  }
}

// Directional derivative dP = (∂P/∂F)[dF] (9, Pa) of fem_pk1 at F (9) along dF (9).
//   linear     dP = 2μ sym(dF) + λ tr(dF) I
//   StVK       dP = dF S + F (2μ dE + λ tr(dE) I), dE = sym(Fᵀ dF)
//   stable NH  dP = μ'(1 − 1/(I_C+1)) dF + 2μ' (F:dF)/(I_C+1)² F + λ' (cof F : dF) cof F
//              + (λ'(J − 1) − μ) dcof[dF]
//   corotated  dP = 2μ dF + (λ(tr S − 3) − 2μ) dR + λ tr(Rᵀ dF) R, dR = R [ω]× where ω solves
//              (tr(S) I − S) ω = axial(Rᵀ dF − dFᵀ R) (differentiate the symmetry of S = RᵀF and
//              use [ω]× S + S [ω]× = [(tr(S) I − S) ω]× for symmetric S; cf. McAdams et al.
//              2011), solved in S's eigenbasis where tr(S) I − S = V diag(σ_j + σ_k) Vᵀ;
//              denominators floored as described at DP_FEM_POLAR_EPS.
DP_HD static inline void fem_dpk1(int model, const double F[9], double mu, double lam,
                                  const double dF[9], double dP[9]) {
  if (model == DP_FEM_LINEAR) {
    double tr = dF[0] + dF[4] + dF[8];
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 3; j++) {
        dP[3 * i + j] = mu * (dF[3 * i + j] + dF[3 * j + i]) + (i == j ? lam * tr : 0.0);
      }
    }
  } else if (model == DP_FEM_COROTATED) {
    double R[9], sig[3], V[9], M[9];
    fem_polar(F, R, sig, V);
    fem_m3_mul_tn(R, dF, M);
    double m[3] = {M[7] - M[5], M[2] - M[6], M[3] - M[1]};
    double ts = sig[0] + sig[1] + sig[2];
    double floor_ = DP_FEM_POLAR_EPS * fabs(sig[0]) + 1e-12;
    double w[3], om[3];
    for (int k = 0; k < 3; k++) {
      double mv = V[k] * m[0] + V[3 + k] * m[1] + V[6 + k] * m[2];
      double d = ts - sig[k];
      w[k] = mv / (d > floor_ ? d : floor_);
    }
    for (int r = 0; r < 3; r++) {
      om[r] = V[3 * r] * w[0] + V[3 * r + 1] * w[1] + V[3 * r + 2] * w[2];
    }
    double c = lam * (ts - 3.0) - 2.0 * mu, ct = lam * (M[0] + M[4] + M[8]);
    for (int r = 0; r < 3; r++) {
      // dR = R [ω]×: row r of R times the columns of [ω]×.
      const double *Rr = R + 3 * r;
      double dR0 = Rr[1] * om[2] - Rr[2] * om[1];
      double dR1 = Rr[2] * om[0] - Rr[0] * om[2];
      double dR2 = Rr[0] * om[1] - Rr[1] * om[0];
      dP[3 * r] = 2.0 * mu * dF[3 * r] + c * dR0 + ct * Rr[0];
      dP[3 * r + 1] = 2.0 * mu * dF[3 * r + 1] + c * dR1 + ct * Rr[1];
      dP[3 * r + 2] = 2.0 * mu * dF[3 * r + 2] + c * dR2 + ct * Rr[2];
    }
  } else if (model == DP_FEM_STVK) {
    double S[9], dE[9], T[9], A[9];
    fem_m3_mul_tn(F, F, S);
    double tr = 0.5 * (S[0] + S[4] + S[8] - 3.0);
    for (int i = 0; i < 9; i++) {
      S[i] = mu * (S[i] - ((i % 4 == 0) ? 1.0 : 0.0)) + ((i % 4 == 0) ? lam * tr : 0.0);
    }
    fem_m3_mul_tn(F, dF, T);
    double trd = T[0] + T[4] + T[8];
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 3; j++) {
        dE[3 * i + j] = mu * (T[3 * i + j] + T[3 * j + i]) + (i == j ? lam * trd : 0.0);
      }
    }
    fem_m3_mul(dF, S, T);
    fem_m3_mul(F, dE, A);
    for (int i = 0; i < 9; i++) {
      dP[i] = T[i] + A[i];
    }
  } else if (model == DP_FEM_NEOHOOKEAN) {
    double mu_p = 4.0 / 3.0 * mu, lam_p = lam + 5.0 / 6.0 * mu;
    double cof[9], dcof[9];
    fem_m3_cof(F, cof);
    fem_m3_dcof(F, dF, dcof);
    double ic1 = fem_m3_ddot(F, F) + 1.0, jm1 = fem_m3_det(F) - 1.0;
    double a = mu_p * (1.0 - 1.0 / ic1), b = lam_p * jm1 - mu;
    double da = 2.0 * mu_p * fem_m3_ddot(F, dF) / (ic1 * ic1);
    double db = lam_p * fem_m3_ddot(cof, dF);
    for (int i = 0; i < 9; i++) {
      dP[i] = a * dF[i] + da * F[i] + db * cof[i] + b * dcof[i];
    }
  } else {
    for (int i = 0; i < 9; i++) {
      dP[i] = 0.0;
    }
  }
}

// Adjoint of fem_pk1: accumulates F_bar (9) += (∂P/∂F)ᵀ P_bar, which equals dP[P_bar] because
// ∂P/∂F = ∂²Ψ/∂F² has major symmetry (checked in the tests), and mu_bar, lam_bar
// += (∂P/∂μ) : P_bar, (∂P/∂λ) : P_bar. Recomputes everything (P is not stored per element).
DP_HD static inline void adj_fem_pk1(int model, const double F[9], double mu, double lam,
                                     double F_bar[9], double *mu_bar, double *lam_bar,
                                     const double P_bar[9]) {
  double dP[9];
  fem_dpk1(model, F, mu, lam, P_bar, dP);
  for (int i = 0; i < 9; i++) {
    F_bar[i] += dP[i];
  }
  if (model == DP_FEM_LINEAR) {
    // ∂P/∂μ = 2ε, ∂P/∂λ = tr(ε) I; 2ε : P_bar = (F + Fᵀ) : P_bar − 2 tr(P_bar).
    double trp = P_bar[0] + P_bar[4] + P_bar[8], ftp = 0.0;
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 3; j++) {
        ftp += F[3 * j + i] * P_bar[3 * i + j];
      }
    }
    *mu_bar += fem_m3_ddot(F, P_bar) + ftp - 2.0 * trp;
    *lam_bar += (F[0] + F[4] + F[8] - 3.0) * trp;
  } else if (model == DP_FEM_COROTATED) {
    double R[9], sig[3], V[9];
    fem_polar(F, R, sig, V);
    double rp = fem_m3_ddot(R, P_bar);
    *mu_bar += 2.0 * (fem_m3_ddot(F, P_bar) - rp);
    *lam_bar += (sig[0] + sig[1] + sig[2] - 3.0) * rp;
  } else if (model == DP_FEM_STVK) {
    // ∂P/∂μ = 2 F E, ∂P/∂λ = tr(E) F.
    double E[9], FE[9];
    fem_m3_mul_tn(F, F, E);
    for (int i = 0; i < 9; i++) {
      E[i] = 0.5 * (E[i] - ((i % 4 == 0) ? 1.0 : 0.0));
    }
    fem_m3_mul(F, E, FE);
    *mu_bar += 2.0 * fem_m3_ddot(FE, P_bar);
    *lam_bar += (E[0] + E[4] + E[8]) * fem_m3_ddot(F, P_bar);
  } else if (model == DP_FEM_NEOHOOKEAN) {
    // ∂P/∂μ = 4/3 (1 − 1/(I_C+1)) F + (5/6 (J − 1) − 1) cof F, ∂P/∂λ = (J − 1) cof F.
    double cof[9];
    fem_m3_cof(F, cof);
    double ic = fem_m3_ddot(F, F), jm1 = fem_m3_det(F) - 1.0;
    double fp = fem_m3_ddot(F, P_bar), cp = fem_m3_ddot(cof, P_bar);
    *mu_bar += 4.0 / 3.0 * (1.0 - 1.0 / (ic + 1.0)) * fp + (5.0 / 6.0 * jm1 - 1.0) * cp;
    *lam_bar += jm1 * cp;
  }
}

// ---- element geometry ---------------------------------------------------------------------

// Edge matrix D (9) of a tetrahedron's vertex data y (12 = 4 vertices × 3): columns y_i − y_0,
// i = 1..3.
DP_HD static inline void fem_edges(const double y[12], double D[9]) {
  for (int r = 0; r < 3; r++) {
    for (int c = 0; c < 3; c++) {
      D[3 * r + c] = y[3 * (c + 1) + r] - y[r];
    }
  }
}

// Adjoint of fem_edges (and the element's force distribution): y_bar (12) += column c of G (9)
// to vertex c + 1, minus the sum of the columns to vertex 0.
DP_HD static inline void fem_edges_scatter(const double G[9], double y_bar[12]) {
  for (int r = 0; r < 3; r++) {
    for (int c = 0; c < 3; c++) {
      y_bar[3 * (c + 1) + r] += G[3 * r + c];
      y_bar[r] -= G[3 * r + c];
    }
  }
}

// Rest shape of a tetrahedron with rest vertices X (12, m): fills Dminv (9, 1/m) = Dm⁻¹,
// Dm = [X1 − X0 | X2 − X0 | X3 − X0], and returns the signed rest volume W = det(Dm)/6 (m³;
// > 0 for a positively oriented element). A degenerate rest shape (det Dm = 0) returns 0 and a
// zero Dminv; loaders must reject it. Source: Sifakis & Barbič 2012, §4.
DP_HD static inline double tet_rest(const double X[12], double Dminv[9]) {
  double Dm[9], cof[9];
  fem_edges(X, Dm);
  fem_m3_cof(Dm, cof);
  double det = fem_m3_det(Dm);
  double inv = det != 0.0 ? 1.0 / det : 0.0;
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      Dminv[3 * i + j] = cof[3 * j + i] * inv;
    }
  }
  return det / 6.0;
}

// Adjoint of tet_rest: accumulates X_bar (12) from Dminv_bar (9) and W_bar, using
// d(Dm⁻¹) = −Dm⁻¹ dDm Dm⁻¹ and ∂det/∂Dm = cof Dm. Recomputes Dm⁻¹ (cheap).
DP_HD static inline void adj_tet_rest(const double X[12], double X_bar[12],
                                      const double Dminv_bar[9], double W_bar) {
  double Dm[9], cof[9], Di[9], T[9], G[9];
  fem_edges(X, Dm);
  fem_m3_cof(Dm, cof);
  double det = fem_m3_det(Dm);
  if (det == 0.0) {
    return;
  }
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      Di[3 * i + j] = cof[3 * j + i] / det;
    }
  }
  // G = W_bar/6 cof − Dm⁻ᵀ Dminv_bar Dm⁻ᵀ
  fem_m3_mul_tn(Di, Dminv_bar, T);
  fem_m3_mul_nt(T, Di, G);
  for (int i = 0; i < 9; i++) {
    G[i] = W_bar / 6.0 * cof[i] - G[i];
  }
  fem_edges_scatter(G, X_bar);
}

// Deformation gradient F = Ds Dm⁻¹ (9) of a tetrahedron with current vertices x (12, m) and
// Dminv (9, 1/m) from tet_rest; Ds = [x1 − x0 | x2 − x0 | x3 − x0] (Sifakis & Barbič 2012, §4).
DP_HD static inline void tet_deformation_gradient(const double x[12], const double Dminv[9],
                                                  double F[9]) {
  double Ds[9];
  fem_edges(x, Ds);
  fem_m3_mul(Ds, Dminv, F);
}

// Damping stress P_d = β F_d (2μ Ė + λ tr(Ė) I) (9, Pa) with Ė = sym(F_dᵀ Ḟ); F_d, Ḟ (9).
DP_HD static inline void fem_damping_stress(const double Fd[9], const double Fdot[9], double mu,
                                            double lam, double beta, double Pd[9]) {
  double M[9], S[9];
  fem_m3_mul_tn(Fd, Fdot, M);
  double tr = M[0] + M[4] + M[8];
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      S[3 * i + j] = beta * (mu * (M[3 * i + j] + M[3 * j + i]) + (i == j ? lam * tr : 0.0));
    }
  }
  fem_m3_mul(Fd, S, Pd);
}

// Nodal forces f (12, N; assigned) of one tetrahedron: elastic plus damping.
//   model: DP_FEM_*; x (12, m): current vertices; xd (12, m): configuration the damping is
//   linearised at (x for explicit steps, the step's start for implicit ones); v (12, m/s);
//   Dminv (9, 1/m) and W (m³, > 0) from tet_rest; μ, λ (Pa); β (s): stiffness-proportional
//   Rayleigh coefficient.
// Elastic: F = Ds Dm⁻¹, H = −W P(F) Dm⁻ᵀ; the columns of H act on vertices 1..3 and vertex 0
// gets minus their sum (Sifakis & Barbič 2012, §4). Damping: the Kelvin–Voigt stress
// P_d = β F_d (2μ Ė + λ tr(Ė) I), Ė = sym(F_dᵀ Ḟ), F_d = Ds(xd) Dm⁻¹, Ḟ = Vs Dm⁻¹, distributed
// the same way; it is rotation invariant (zero for rigid velocity fields about xd) and equals
// β K₀ v of the linear model at F_d = I (stiffness-proportional Rayleigh damping). Ė is the rate
// of the Green strain (Bonet & Wood, "Nonlinear Continuum Mechanics for FEA", 2nd ed., §3.9).
DP_HD static inline void tet_force(int model, const double x[12], const double xd[12],
                                   const double v[12], const double Dminv[9], double W, double mu,
                                   double lam, double beta, double f[12]) {
  double F[9], P[9], Fd[9], Fdot[9], Pd[9], H[9];
  tet_deformation_gradient(x, Dminv, F);
  fem_pk1(model, F, mu, lam, P);
  tet_deformation_gradient(xd, Dminv, Fd);
  tet_deformation_gradient(v, Dminv, Fdot);
  fem_damping_stress(Fd, Fdot, mu, lam, beta, Pd);
  for (int i = 0; i < 9; i++) {
    P[i] = -W * (P[i] + Pd[i]);
  }
  fem_m3_mul_nt(P, Dminv, H);
  for (int i = 0; i < 12; i++) {
    f[i] = 0.0;
  }
  fem_edges_scatter(H, f);
}

// Adjoint of tet_force: from f_bar (12) accumulates x_bar, xd_bar, v_bar (12 each), Dminv_bar
// (9), W_bar, mu_bar, lam_bar, beta_bar. Recomputes F, P and the damping terms (cheaper than
// storing them per element and step).
DP_HD static inline void adj_tet_force(int model, const double x[12], const double xd[12],
                                       const double v[12], const double Dminv[9], double W,
                                       double mu, double lam, double beta, double x_bar[12],
                                       double xd_bar[12], double v_bar[12], double Dminv_bar[9],
                                       double *W_bar, double *mu_bar, double *lam_bar,
                                       double *beta_bar, const double f_bar[12]) {
  double Ds[9], F[9], P[9], Dsd[9], Fd[9], Vs[9], Fdot[9], Pt[9];
  double Hb[9], Pb[9], T[9], Fb[9], Sb[9], Mb[9], Fdb[9], Fdotb[9];
  fem_edges(x, Ds);
  fem_m3_mul(Ds, Dminv, F);
  fem_edges(xd, Dsd);
  fem_m3_mul(Dsd, Dminv, Fd);
  fem_edges(v, Vs);
  fem_m3_mul(Vs, Dminv, Fdot);
  fem_pk1(model, F, mu, lam, P);
  double M[9], S0[9];  // M = F_dᵀ Ḟ; S0 = 2μ Ė + λ tr(Ė) I (P_d = β F_d S0)
  fem_m3_mul_tn(Fd, Fdot, M);
  double trm = M[0] + M[4] + M[8];
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      S0[3 * i + j] = mu * (M[3 * i + j] + M[3 * j + i]) + (i == j ? lam * trm : 0.0);
    }
  }
  double FS[9];
  fem_m3_mul(Fd, S0, FS);
  for (int i = 0; i < 9; i++) {
    Pt[i] = P[i] + beta * FS[i];
  }
  // H = −W Pt Dm⁻ᵀ; H_bar from the distribution (the adjoint of the scatter is the edge map).
  fem_edges(f_bar, Hb);
  fem_m3_mul_nt(Pt, Dminv, T);
  *W_bar -= fem_m3_ddot(T, Hb);
  fem_m3_mul(Hb, Dminv, Pb);  // Pt_bar = −W H_bar Dm⁻¹
  fem_m3_mul_tn(Hb, Pt, T);   // Dminv_bar += −W H_barᵀ Pt
  for (int i = 0; i < 9; i++) {
    Pb[i] *= -W;
    Dminv_bar[i] -= W * T[i];
  }
  // Elastic part.
  for (int i = 0; i < 9; i++) {
    Fb[i] = 0.0;
  }
  adj_fem_pk1(model, F, mu, lam, Fb, mu_bar, lam_bar, Pb);
  fem_m3_mul_nt(Fb, Dminv, T);
  fem_edges_scatter(T, x_bar);
  fem_m3_mul_tn(Ds, Fb, T);
  for (int i = 0; i < 9; i++) {
    Dminv_bar[i] += T[i];
  }
  // Damping part: P_d = β F_d S0.
  *beta_bar += fem_m3_ddot(FS, Pb);
  fem_m3_mul(Pb, S0, Fdb);  // F_d_bar = β Pb S0ᵀ (S0 symmetric)
  fem_m3_mul_tn(Fd, Pb, Sb);
  for (int i = 0; i < 9; i++) {
    Fdb[i] *= beta;
    Sb[i] *= beta;
  }
  double trs = Sb[0] + Sb[4] + Sb[8], mts = 0.0;  // mts = Mᵀ : Sb
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      mts += M[3 * j + i] * Sb[3 * i + j];
    }
  }
  *mu_bar += fem_m3_ddot(M, Sb) + mts;
  *lam_bar += trm * trs;
  // S0 = μ (M + Mᵀ) + λ tr(M) I ⇒ M_bar = μ (Sb + Sbᵀ) + λ tr(Sb) I.
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) {
      Mb[3 * i + j] = mu * (Sb[3 * i + j] + Sb[3 * j + i]) + (i == j ? lam * trs : 0.0);
    }
  }
  fem_m3_mul_nt(Fdot, Mb, T);  // F_d_bar += Ḟ M_barᵀ
  for (int i = 0; i < 9; i++) {
    Fdb[i] += T[i];
  }
  fem_m3_mul(Fd, Mb, Fdotb);  // Ḟ_bar = F_d M_bar
  fem_m3_mul_nt(Fdb, Dminv, T);
  fem_edges_scatter(T, xd_bar);
  fem_m3_mul_nt(Fdotb, Dminv, T);
  fem_edges_scatter(T, v_bar);
  fem_m3_mul_tn(Dsd, Fdb, T);
  for (int i = 0; i < 9; i++) {
    Dminv_bar[i] += T[i];
  }
  fem_m3_mul_tn(Vs, Fdotb, T);
  for (int i = 0; i < 9; i++) {
    Dminv_bar[i] += T[i];
  }
}

// Elastic energy W Ψ(F) (J) of one tetrahedron: x (12, m), Dminv (9, 1/m), W (m³), μ, λ (Pa).
DP_HD static inline double tet_energy(int model, const double x[12], const double Dminv[9],
                                      double W, double mu, double lam) {
  double F[9];
  tet_deformation_gradient(x, Dminv, F);
  return W * fem_psi(model, F, mu, lam);
}

// Elastic Hessian-vector product out = K dx (12, N; assigned), K = ∂²(W Ψ)/∂x² = −∂f_el/∂x at x
// (12, m) along dx (12, m): dF = Ds(dx) Dm⁻¹, out = distribution of W dP[dF] Dm⁻ᵀ. K is
// symmetric; it is indefinite in general (no definiteness projection here).
DP_HD static inline void tet_elastic_hvp(int model, const double x[12], const double Dminv[9],
                                         double W, double mu, double lam, const double dx[12],
                                         double out[12]) {
  double F[9], dF[9], dP[9], H[9];
  tet_deformation_gradient(x, Dminv, F);
  tet_deformation_gradient(dx, Dminv, dF);
  fem_dpk1(model, F, mu, lam, dF, dP);
  for (int i = 0; i < 9; i++) {
    dP[i] *= W;
  }
  fem_m3_mul_nt(dP, Dminv, H);
  for (int i = 0; i < 12; i++) {
    out[i] = 0.0;
  }
  fem_edges_scatter(H, out);
}

// Damping Hessian-vector product out = D dv (12, N; assigned), D = −∂f_damping/∂v at the
// damping configuration xd (12, m) along dv (12, m/s). The damping force is linear in v, so this
// is minus tet_force's damping part evaluated at v = dv. D = W Lᵀ C L with
// C[Ḟ] = β F_d (2μ sym(F_dᵀḞ) + λ tr(F_dᵀḞ) I): symmetric, positive semidefinite when β ≥ 0,
// μ ≥ 0 and 2μ + 3λ ≥ 0.
DP_HD static inline void tet_damping_hvp(const double xd[12], const double Dminv[9], double W,
                                         double mu, double lam, double beta, const double dv[12],
                                         double out[12]) {
  double Fd[9], dFdot[9], Pd[9], H[9];
  tet_deformation_gradient(xd, Dminv, Fd);
  tet_deformation_gradient(dv, Dminv, dFdot);
  fem_damping_stress(Fd, dFdot, mu, lam, beta, Pd);
  for (int i = 0; i < 9; i++) {
    Pd[i] *= W;
  }
  fem_m3_mul_nt(Pd, Dminv, H);
  for (int i = 0; i < 12; i++) {
    out[i] = 0.0;
  }
  fem_edges_scatter(H, out);
}

#endif
