  /* Zero-one-inflated beta (brms): y is 0 or 1 with probability zoi (1 with probability coi
     given that), else beta with mean mu and precision phi on (0, 1). */
  real zero_one_inflated_beta_lpdf(real y, real mu, real phi, real zoi, real coi) {
    if (y == 0) {
      return log(zoi) + log1m(coi);
    }
    if (y == 1) {
      return log(zoi) + log(coi);
    }
    return log1m(zoi) + beta_proportion_lpdf(y | mu, phi);
  }
  // Sum over rows (phi, zoi and coi shared).
  real zero_one_inflated_beta_lpdf(vector y, vector mu, real phi, real zoi, real coi) {
    real total = 0;
    for (n in 1:rows(y)) {
      total += zero_one_inflated_beta_lpdf(y[n] | mu[n], phi, zoi, coi);
    }
    return total;
  }
  /* A draw; a beta draw that rounds to exactly 0 or 1 is no value of the beta part (it would
     be read as the point masses), so it is NaN: simulate() and SBC then draw the replicate
     again (a condition on the data alone). */
  real zero_one_inflated_beta_rng(real mu, real phi, real zoi, real coi) {
    if (bernoulli_rng(zoi)) {
      return bernoulli_rng(coi);
    }
    real y = beta_proportion_rng(mu, phi);
    return (y > 0 && y < 1) ? y : not_a_number();
  }
  array[] real zero_one_inflated_beta_rng(vector mu, real phi, real zoi, real coi) {
    array[rows(mu)] real y;
    for (n in 1:rows(mu)) {
      y[n] = zero_one_inflated_beta_rng(mu[n], phi, zoi, coi);
    }
    return y;
  }
