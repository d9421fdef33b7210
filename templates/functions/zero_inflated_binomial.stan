  /* Zero-inflated binomial: with probability zi a structural zero, else
     binomial(trials, mu) with success probability mu. */
  real zero_inflated_binomial_lpmf(int y, int trials, real mu, real zi) {
    if (y == 0) {
      return log_sum_exp(log(zi), log1m(zi) + binomial_lpmf(0 | trials, mu));
    }
    return log1m(zi) + binomial_lpmf(y | trials, mu);
  }
  // Sum over rows (zi shared).
  real zero_inflated_binomial_lpmf(array[] int y, array[] int trials, vector mu, real zi) {
    real total = 0;
    for (n in 1:size(y)) {
      total += zero_inflated_binomial_lpmf(y[n] | trials[n], mu[n], zi);
    }
    return total;
  }
  int zero_inflated_binomial_rng(int trials, real mu, real zi) {
    return bernoulli_rng(zi) ? 0 : binomial_rng(trials, mu);
  }
  array[] int zero_inflated_binomial_rng(array[] int trials, vector mu, real zi) {
    array[rows(mu)] int y;
    for (n in 1:rows(mu)) {
      y[n] = zero_inflated_binomial_rng(trials[n], mu[n], zi);
    }
    return y;
  }
