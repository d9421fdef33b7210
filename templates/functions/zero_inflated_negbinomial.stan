  /* Zero-inflated negative binomial (NB2, Var = mu + mu^2 / shape) on the log scale: with
     probability zi a structural zero, else NB2(exp(eta), shape). */
  real zero_inflated_neg_binomial_log_lpmf(int y, real eta, real shape, real zi) {
    if (y == 0) {
      return log_sum_exp(log(zi), log1m(zi) + neg_binomial_2_log_lpmf(0 | eta, shape));
    }
    return log1m(zi) + neg_binomial_2_log_lpmf(y | eta, shape);
  }
  // Sum over rows (shape and zi shared).
  real zero_inflated_neg_binomial_log_lpmf(array[] int y, vector eta, real shape, real zi) {
    real total = 0;
    for (n in 1:size(y)) {
      total += zero_inflated_neg_binomial_log_lpmf(y[n] | eta[n], shape, zi);
    }
    return total;
  }
  int zero_inflated_neg_binomial_log_rng(real eta, real shape, real zi) {
    return bernoulli_rng(zi) ? 0 : neg_binomial_2_log_rng(eta, shape);
  }
  array[] int zero_inflated_neg_binomial_log_rng(vector eta, real shape, real zi) {
    array[rows(eta)] int y;
    for (n in 1:rows(eta)) {
      y[n] = zero_inflated_neg_binomial_log_rng(eta[n], shape, zi);
    }
    return y;
  }
