  /* Zero-inflated Poisson on the log scale: with probability zi a structural zero, else
     Poisson(exp(eta)). P(y = 0) = zi + (1 - zi) exp(-exp(eta)). */
  real zero_inflated_poisson_log_lpmf(int y, real eta, real zi) {
    if (y == 0) {
      return log_sum_exp(log(zi), log1m(zi) + poisson_log_lpmf(0 | eta));
    }
    return log1m(zi) + poisson_log_lpmf(y | eta);
  }
  // Sum over rows (zi shared).
  real zero_inflated_poisson_log_lpmf(array[] int y, vector eta, real zi) {
    real total = 0;
    for (n in 1:size(y)) {
      total += zero_inflated_poisson_log_lpmf(y[n] | eta[n], zi);
    }
    return total;
  }
  int zero_inflated_poisson_log_rng(real eta, real zi) {
    return bernoulli_rng(zi) ? 0 : poisson_log_rng(eta);
  }
  array[] int zero_inflated_poisson_log_rng(vector eta, real zi) {
    array[rows(eta)] int y;
    for (n in 1:rows(eta)) {
      y[n] = zero_inflated_poisson_log_rng(eta[n], zi);
    }
    return y;
  }
