  /* Hurdle negative binomial (NB2) on the log scale: y = 0 with probability hu, else a
     zero-truncated NB2(exp(eta), shape). */
  real hurdle_neg_binomial_log_lpmf(int y, real eta, real shape, real hu) {
    if (y == 0) {
      return log(hu);
    }
    return log1m(hu) + neg_binomial_2_log_lpmf(y | eta, shape)
           - log1m_exp(neg_binomial_2_log_lpmf(0 | eta, shape));
  }
  // Sum over rows (shape and hu shared).
  real hurdle_neg_binomial_log_lpmf(array[] int y, vector eta, real shape, real hu) {
    real total = 0;
    for (n in 1:size(y)) {
      total += hurdle_neg_binomial_log_lpmf(y[n] | eta[n], shape, hu);
    }
    return total;
  }
  // Zero-truncated NB2 draws by rejection (redraw zeros; at most 10000 tries, then 1).
  int hurdle_neg_binomial_log_rng(real eta, real shape, real hu) {
    if (bernoulli_rng(hu)) {
      return 0;
    }
    int y = neg_binomial_2_log_rng(eta, shape);
    int tries = 1;
    while (y == 0 && tries < 10000) {
      y = neg_binomial_2_log_rng(eta, shape);
      tries += 1;
    }
    return y == 0 ? 1 : y;
  }
  array[] int hurdle_neg_binomial_log_rng(vector eta, real shape, real hu) {
    array[rows(eta)] int y;
    for (n in 1:rows(eta)) {
      y[n] = hurdle_neg_binomial_log_rng(eta[n], shape, hu);
    }
    return y;
  }
