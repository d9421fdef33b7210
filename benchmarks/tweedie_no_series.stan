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
     (-kappa / phi = -lambda, so every row, zero or not, has the term (y theta - kappa) / phi.)
     Truncation of the series: log W_j is concave in j with its maximum near
     j* = y^(2 - p) / (phi (2 - p)) and a width of about sigma = sqrt(j* (p - 1)) terms. The
     sum starts at the integer nearest j* (at least 1) and adds terms upwards, then downwards
     (to j = 1), until a term is below exp(-37) times the term at the start (Dunn and Smyth's
     criterion: past that point the terms shrink at least geometrically, so the rest cannot
     change the sum in double precision).

     Cost (issue 16). Only the series depends on y beyond the exponential-family part, and
     of its terms only j log z depends on the row: the constants
       b_j = -lgamma(j + 1) - lgamma(-alpha j)
     are shared by all rows (phi and p are shared). Where the series is short (j* <= 100,
     nearly every row of real data) the vector density computes b_1..b_J once per call, for
     the J that bounds every short row's window (tweedie_window_end), and each term of a row
     is then one fused multiply-add, fma(j, log z, b_j): no lgamma per term and one
     log_sum_exp per row. The exponential-family part is vectorised over the rows.
     Where the series is long (j* > 100) the sum over every integer j is replaced by the sum
     over every h-th one, times h, with h = max(1, sigma / 2). Both are trapezoidal rules for
     the integral of the smooth, bell-shaped W(j), exact up to a relative error of about
     exp(-2 pi^2 (sigma / h)^2) = exp(-79) (Poisson summation), so the result is the full
     series' to double precision while about 35 terms are added instead of up to 17 sqrt(j*)
     (benchmarks/tweedie_accuracy.py measures both against scipy and statsmodels). Every row
     thus costs a bounded number of terms (at most 200 each way on a long row, a guard that
     the grid of the accuracy benchmark never reaches; at most J <= 234 on a short one),
     whatever y / phi. */

  // The smallest integer >= x, for 0 <= x < 2^30. Only the value of x is compared, so a
  // parameter-dependent x adds nothing to the autodiff tape.
  int tweedie_ceil(real x) {
    int below = 0;
    int above = 1;
    while (above < x) {  // doubling: below < x <= above afterwards (or x <= 1)
      below = above;
      above *= 2;
    }
    while (above - below > 1) {  // bisection
      int middle = (below + above) %/% 2;
      if (middle < x) {
        below = middle;
      } else {
        above = middle;
      }
    }
    return above;
  }

  // An index past the upper end of the short series' window for every row with j* <= j_max:
  // log W_j is concave with curvature -trigamma(j + 1) - alpha^2 trigamma(-alpha j), whose
  // size is at least 1 / ((p - 1) (j + 1)), and its maximum lies within 1 of j*, so at
  // j* + 1 + d with d = K (p - 1) + sqrt(K^2 (p - 1)^2 + 2 K (p - 1) (j* + 2)) the terms are
  // below exp(-K) of the peak (K = 37, the truncation criterion).
  int tweedie_window_end(real j_max, real p) {
    real k_c = 37 * (p - 1);
    return tweedie_ceil(j_max + 1 + k_c + sqrt(square(k_c) + 2 * k_c * (j_max + 2)));
  }

  // log(h sum_k W_{j_start + k h}) of one long row (j* > 100): the thinned series.
  real tweedie_log_series_long(real log_z, real j_peak, real alpha, real p) {
    real j_start = round(j_peak);
    real h = fmax(1, sqrt(j_start * (p - 1)) / 2);  // step between the terms added
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
    return log(h) + log_w;
  }

  real tweedie_lpdf(vector y, vector mu, real phi, real p) {
    // benchmarks/tweedie_glmm.py --gradients: a stand-in without the series, to time the rest
    // of the model (not a density)
    return -dot_product(mu, mu) * phi * p;
  }

  // One row: the vector density of a single row (the same code, so the same value).
  real tweedie_lpdf(real y, real mu, real phi, real p) {
    return tweedie_lpdf(rep_vector(y, 1) | rep_vector(mu, 1), phi, p);
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
