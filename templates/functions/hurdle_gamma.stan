  /* Hurdle gamma: y = 0 with probability hu, else gamma with mean mu and shape shape. */
  real hurdle_gamma_lpdf(real y, real mu, real shape, real hu) {
    if (y == 0) {
      return log(hu);
    }
    return log1m(hu) + gamma_lpdf(y | shape, shape / mu);
  }
  // Sum over rows (shape and hu shared).
  real hurdle_gamma_lpdf(vector y, vector mu, real shape, real hu) {
    real total = 0;
    for (n in 1:rows(y)) {
      total += hurdle_gamma_lpdf(y[n] | mu[n], shape, hu);
    }
    return total;
  }
  real hurdle_gamma_rng(real mu, real shape, real hu) {
    return bernoulli_rng(hu) ? 0 : gamma_rng(shape, shape / mu);
  }
  array[] real hurdle_gamma_rng(vector mu, real shape, real hu) {
    array[rows(mu)] real y;
    for (n in 1:rows(mu)) {
      y[n] = hurdle_gamma_rng(mu[n], shape, hu);
    }
    return y;
  }
