  // Cholesky factor of the M x M AR(1) correlation matrix R_ab = rho^|a - b|:
  // L[a, 1] = rho^(a - 1), L[a, b] = sqrt(1 - rho^2) rho^(a - b) for 2 <= b <= a.
  matrix ar1_corr_cholesky(real rho, int M) {
    vector[M] power;  // rho^0, rho^1, ..., rho^(M - 1)
    power[1] = 1;
    for (k in 2:M) {
      power[k] = power[k - 1] * rho;
    }
    real scale = sqrt(1 - square(rho));
    matrix[M, M] L = rep_matrix(0, M, M);
    for (a in 1:M) {
      L[a, 1] = power[a];
      for (b in 2:a) {
        L[a, b] = scale * power[a - b + 1];
      }
    }
    return L;
  }
