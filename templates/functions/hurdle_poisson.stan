  /* log(1 - exp(-exp(eta))), the log probability of a positive Poisson(exp(eta)) count; below
     eta = -25 it is eta - exp(eta) / 2 (the next term, exp(2 eta) / 24, is below 1e-22), which
     stays exact where exp(eta) underflows (log1m_exp(-0) would be -inf). */
  real hurdle_poisson_log_positive(real eta) {
    return eta > -25 ? log1m_exp(-exp(eta)) : eta - 0.5 * exp(eta);
  }
  /* Hurdle Poisson on the log scale: y = 0 with probability hu, else a zero-truncated
     Poisson(exp(eta)): log(1 - hu) + poisson_log(y | eta) - log(1 - exp(-exp(eta))). */
  real hurdle_poisson_log_lpmf(int y, real eta, real hu) {
    if (y == 0) {
      return log(hu);
    }
    return log1m(hu) + poisson_log_lpmf(y | eta) - hurdle_poisson_log_positive(eta);
  }
  // Sum over rows (hu shared).
  real hurdle_poisson_log_lpmf(array[] int y, vector eta, real hu) {
    real total = 0;
    for (n in 1:size(y)) {
      total += hurdle_poisson_log_lpmf(y[n] | eta[n], hu);
    }
    return total;
  }
  /* A zero-truncated Poisson draw: redraw zeros while they are unlikely (P(0) < 0.5), else
     invert the truncated CDF, P(y | y > 0) = Poisson(y) / (1 - P(0)) summed from y = 1, on the
     log scale (exact either way; for tiny rates, where P(0) is 1 in double precision, the
     draw is 1 with probability 1 - lambda / 2 + ...). */
  int hurdle_poisson_log_rng(real eta, real hu) {
    if (bernoulli_rng(hu)) {
      return 0;
    }
    real lambda = exp(eta);
    if (lambda > log2()) {
      int y = poisson_rng(lambda);
      while (y == 0) {
        y = poisson_rng(lambda);
      }
      return y;
    }
    real log_positive = hurdle_poisson_log_positive(eta);
    real u = uniform_rng(0, 1);
    int y = 1;
    real cdf = exp(poisson_log_lpmf(1 | eta) - log_positive);
    while (cdf < u && y < 1000) {
      y += 1;
      cdf += exp(poisson_log_lpmf(y | eta) - log_positive);
    }
    return y;
  }
  array[] int hurdle_poisson_log_rng(vector eta, real hu) {
    array[rows(eta)] int y;
    for (n in 1:rows(eta)) {
      y[n] = hurdle_poisson_log_rng(eta[n], hu);
    }
    return y;
  }
