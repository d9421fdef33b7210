  /* Tweedie distribution with power 1 < p < 2 (compound Poisson-gamma): mean mu > 0,
     variance phi * mu^p. Y = X_1 + ... + X_K with K ~ Poisson(lambda) and
     X_k ~ gamma(shape (2 - p) / (p - 1), scale phi (p - 1) mu^(p - 1)),
     lambda = mu^(2 - p) / (phi (2 - p)).

     Log density (Dunn and Smyth 2005, Statistics and Computing 15, 267-280):
       y = 0: the exact mass log P(Y = 0) = -lambda;
       y > 0: log f = (y theta - kappa) / phi - log(y) + log(sum_{j >= 1} W_j), where
              theta = mu^(1 - p) / (1 - p), kappa = mu^(2 - p) / (2 - p), alpha = (2 - p) / (1 - p),
              log W_j = j log z - lgamma(j + 1) - lgamma(-alpha j),
              log z = -alpha log(y) + alpha log(p - 1) - (1 - alpha) log(phi) - log(2 - p).
     Truncation of the series: log W_j is concave in j with its maximum near
     j* = y^(2 - p) / (phi (2 - p)) and a width of about sigma = sqrt(j* (p - 1)) terms. The
     sum starts at the integer nearest j* (at least 1) and adds terms upwards, then downwards
     (to j = 1), until a term is below exp(-37) times the term at the start (Dunn and Smyth's
     criterion: past that point the terms shrink at least geometrically, so the rest cannot
     change the sum in double precision).
     Bounded cost: where the series is long (j* > 100, so that the terms below exp(-37) of the
     peak all lie above j = 1), the sum over every integer j is replaced by the sum over every
     h-th one, times h, with h = max(1, sigma / 2). Both are trapezoidal rules for the integral
     of the smooth, bell-shaped W(j), exact up to a relative error of about
     exp(-2 pi^2 (sigma / h)^2) = exp(-79) (Poisson summation), so the result is the full
     series' to double precision while about 35 terms are added instead of up to 17 sqrt(j*)
     (benchmarks/tweedie_accuracy.py measures both against scipy and statsmodels). Every row
     thus costs a bounded number of terms (at most 200 each way, a guard that the grid of the
     accuracy benchmark never reaches), whatever y / phi. */
  real tweedie_lpdf(real y, real mu, real phi, real p) {
    real two_minus_p = 2 - p;
    if (y == 0) {
      return -pow(mu, two_minus_p) / (phi * two_minus_p);
    }
    real alpha = two_minus_p / (1 - p);
    real log_z = -alpha * log(y) + alpha * log(p - 1) - (1 - alpha) * log(phi)
                 - log(two_minus_p);
    real j_peak = pow(y, two_minus_p) / (phi * two_minus_p);
    real j_start = fmax(1, round(j_peak));
    real h = 1;  // step between the terms added
    if (j_peak > 100) {
      h = fmax(1, sqrt(j_start * (p - 1)) / 2);
    }
    real log_w_start = j_start * log_z - lgamma(j_start + 1) - lgamma(-alpha * j_start);
    real threshold = log_w_start - 37;
    real log_w = log_w_start;  // log of the partial sum of W_j
    int steps = 0;
    real j = j_start + h;  // upwards from j_start
    real log_w_j = j * log_z - lgamma(j + 1) - lgamma(-alpha * j);
    while (log_w_j > threshold && steps < 200) {
      log_w = log_sum_exp(log_w, log_w_j);
      j += h;
      steps += 1;
      log_w_j = j * log_z - lgamma(j + 1) - lgamma(-alpha * j);
    }
    steps = 0;
    j = j_start - h;  // downwards from j_start
    while (j >= 1 && steps < 200) {
      log_w_j = j * log_z - lgamma(j + 1) - lgamma(-alpha * j);
      if (log_w_j < threshold) {
        break;
      }
      log_w = log_sum_exp(log_w, log_w_j);
      j -= h;
      steps += 1;
    }
    real theta = pow(mu, 1 - p) / (1 - p);
    real kappa = pow(mu, two_minus_p) / two_minus_p;
    return (y * theta - kappa) / phi - log(y) + log(h) + log_w;
  }

  // Sum of the Tweedie log densities of y[n] given mu[n] (phi and p shared).
  real tweedie_lpdf(vector y, vector mu, real phi, real p) {
    real total = 0;
    for (n in 1:rows(y)) {
      total += tweedie_lpdf(y[n] | mu[n], phi, p);
    }
    return total;
  }

  // Tweedie draws as the compound Poisson-gamma sum: K ~ Poisson(lambda) gamma summands,
  // whose total is gamma(K * shape, rate) (0 when K = 0).
  array[] real tweedie_rng(vector mu, real phi, real p) {
    int N = rows(mu);
    array[N] real y;
    real shape = (2 - p) / (p - 1);
    for (n in 1:N) {
      int count = poisson_rng(pow(mu[n], 2 - p) / (phi * (2 - p)));
      if (count == 0) {
        y[n] = 0;
      } else {
        y[n] = gamma_rng(count * shape, 1 / (phi * (p - 1) * pow(mu[n], p - 1)));
      }
    }
    return y;
  }
