  /* Hurdle Poisson on the log scale: y = 0 with probability hu, else a zero-truncated
     Poisson(exp(eta)): log(1 - hu) + poisson_log(y | eta) - log(1 - exp(-exp(eta))). */
  real hurdle_poisson_log_lpmf(int y, real eta, real hu) {
    if (y == 0) {
      return log(hu);
    }
    return log1m(hu) + poisson_log_lpmf(y | eta) - log1m_exp(-exp(eta));
  }
  // Sum over rows (hu shared).
  real hurdle_poisson_log_lpmf(array[] int y, vector eta, real hu) {
    real total = 0;
    for (n in 1:size(y)) {
      total += hurdle_poisson_log_lpmf(y[n] | eta[n], hu);
    }
    return total;
  }
  // A zero-truncated Poisson draw: redraw zeros while they are unlikely (P(0) < 0.5), else
  // invert the CDF above 0 (exact either way).
  int hurdle_poisson_log_rng(real eta, real hu) {
    if (bernoulli_rng(hu)) {
      return 0;
    }
    real lambda = exp(eta);
    real p0 = exp(-lambda);
    if (p0 < 0.5) {
      int y = poisson_rng(lambda);
      while (y == 0) {
        y = poisson_rng(lambda);
      }
      return y;
    }
    real u = uniform_rng(p0, 1);  // a uniform above P(Y = 0)
    int y = 1;
    real cdf = p0 + exp(poisson_lpmf(1 | lambda));
    while (cdf < u && y < 1000) {
      y += 1;
      cdf += exp(poisson_lpmf(y | lambda));
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
