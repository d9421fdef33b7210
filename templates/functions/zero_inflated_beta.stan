  /* Zero-inflated beta (brms): y = 0 with probability zi, else beta with mean mu and
     precision phi on (0, 1). */
  real zero_inflated_beta_lpdf(real y, real mu, real phi, real zi) {
    if (y == 0) {
      return log(zi);
    }
    return log1m(zi) + beta_proportion_lpdf(y | mu, phi);
  }
  // Sum over rows (phi and zi shared).
  real zero_inflated_beta_lpdf(vector y, vector mu, real phi, real zi) {
    real total = 0;
    for (n in 1:rows(y)) {
      total += zero_inflated_beta_lpdf(y[n] | mu[n], phi, zi);
    }
    return total;
  }
  /* A draw; a beta draw that rounds to exactly 0 or 1 (mu phi or (1 - mu) phi far below 1)
     is no value of the beta part (a 0 would be read as a structural zero), so it is NaN:
     simulate() and SBC then draw the replicate again (a condition on the data alone). */
  real zero_inflated_beta_rng(real mu, real phi, real zi) {
    if (bernoulli_rng(zi)) {
      return 0;
    }
    real y = beta_proportion_rng(mu, phi);
    return (y > 0 && y < 1) ? y : not_a_number();
  }
  array[] real zero_inflated_beta_rng(vector mu, real phi, real zi) {
    array[rows(mu)] real y;
    for (n in 1:rows(mu)) {
      y[n] = zero_inflated_beta_rng(mu[n], phi, zi);
    }
    return y;
  }
