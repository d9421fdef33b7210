  /* Hurdle log-normal: y = 0 with probability hu, else log-normal with log-scale mean mu and
     SD sigma. */
  real hurdle_lognormal_lpdf(real y, real mu, real sigma, real hu) {
    if (y == 0) {
      return log(hu);
    }
    return log1m(hu) + lognormal_lpdf(y | mu, sigma);
  }
  // Sum over rows (sigma and hu shared).
  real hurdle_lognormal_lpdf(vector y, vector mu, real sigma, real hu) {
    real total = 0;
    for (n in 1:rows(y)) {
      total += hurdle_lognormal_lpdf(y[n] | mu[n], sigma, hu);
    }
    return total;
  }
  real hurdle_lognormal_rng(real mu, real sigma, real hu) {
    return bernoulli_rng(hu) ? 0 : lognormal_rng(mu, sigma);
  }
  array[] real hurdle_lognormal_rng(vector mu, real sigma, real hu) {
    array[rows(mu)] real y;
    for (n in 1:rows(mu)) {
      y[n] = hurdle_lognormal_rng(mu[n], sigma, hu);
    }
    return y;
  }
