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
     The series as a function of j is a bell: log W_j is concave in j with its maximum near
     j* = y^(2 - p) / (phi (2 - p)) and a spread of sigma = sqrt(j* (p - 1)) terms.

     Evaluation with a bounded number of terms (issue 16; the same rule as the numpy
     bayesmm.model.tweedie.tweedie_log_density, tested to agree to 1e-10). The series is
     summed over the lattice j_start + k h (k = 0, 1, -1, 2, -2, ...), j_start the integer
     nearest j* (at least 1), outwards from j_start in each direction until a term falls below
     exp(-25) times the start term (at most 120 terms each way, a guard never reached), and
     multiplied by h. The step h is 1 (the plain series) unless the term at j = 1 is already
     below that threshold (the bell's lower tail clear of j = 0); then h is the largest step
     with sigma / h >= 1.5 (an integer on short rows). Both the series (h = 1) and the thinned
     sum are trapezoidal rules for the integral of the smooth bell W(j), each within about
     exp(-2 pi^2 (sigma / h)^2) <= exp(-44) of it relative (Poisson summation), and the
     truncation leaves out less than exp(-25) of the sum; so this is the exact density to
     about 1e-10 relative (benchmarks/tweedie_accuracy.py measures it against the full
     series, the compound Poisson-gamma sum and statsmodels' Wright-Bessel evaluation: max
     |log density error| 1e-10 on the grid), not an approximation of its shape. About 2
     sqrt(2 25) 1.5 + 1 = 22 to 43 terms are added per row wherever sigma >= 3, fewer where
     it is smaller, whatever y, phi and p: cost and autodiff memory per row are bounded.

     Rows with j* <= 100 ("short", nearly every row of real data) take integer j: the
     constants b_j = -lgamma(j + 1) - lgamma(-alpha j) depend only on the shared phi and p, so
     the vector density computes b_1..b_J once per call (J bounds every short row's window,
     tweedie_window_end) and each term of a row is one fused multiply-add, fma(j, log z, b_j).
     Long rows take a real step, with two lgamma per term. The exponential-family part is
     vectorised over the rows. */

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

  // The lattice step of a short row: the largest integer h >= 1 with sigma / h >= 1.5, or 1
  // where the bell reaches j = 1 (log W_1 >= threshold).
  int tweedie_short_step(real j_peak, real p, real log_w_1, real threshold) {
    if (log_w_1 >= threshold) {
      return 1;
    }
    real x = sqrt(j_peak * (p - 1)) / 1.5;
    int h = tweedie_ceil(x);
    if (h > x) {
      h -= 1;  // floor
    }
    return max(1, h);
  }

  // An index past the upper end of the short series' window for every row with j* <= j_max:
  // log W_j is concave with curvature -trigamma(j + 1) - alpha^2 trigamma(-alpha j), whose
  // size is at least 1 / ((p - 1) (j + 1)), and its maximum lies within 1 of j*, so at
  // j* + 1 + d with d = K (p - 1) + sqrt(K^2 (p - 1)^2 + 2 K (p - 1) (j* + 2)) the terms are
  // below exp(-K) of the peak (K = 25, the truncation criterion).
  int tweedie_window_end(real j_max, real p) {
    real k_c = 25 * (p - 1);
    return tweedie_ceil(j_max + 1 + k_c + sqrt(square(k_c) + 2 * k_c * (j_max + 2)));
  }

  // log W_j of the series at a real j > 0
  real tweedie_log_term(real j, real log_z, real alpha) {
    return j * log_z - lgamma(j + 1) - lgamma(-alpha * j);
  }

  // log(h sum_k W_{j_start + k h}) of one long row (j* > 100), h real.
  real tweedie_log_series_long(real log_z, real j_peak, real alpha, real p) {
    // the nearest integer (round, not tweedie_ceil: j* can exceed 2^30 here, e.g. for p near 2
    // early in warmup, where an int would overflow)
    real j_start = round(j_peak);
    real threshold = tweedie_log_term(j_start, log_z, alpha) - 25;
    real h = 1;
    if (tweedie_log_term(1, log_z, alpha) < threshold) {
      h = fmax(1, sqrt(j_peak * (p - 1)) / 1.5);
    }
    vector[241] terms;
    terms[1] = threshold + 25;
    int count = 1;
    for (k in 1:120) {  // upwards
      real log_w_j = tweedie_log_term(j_start + k * h, log_z, alpha);
      if (log_w_j < threshold) {
        break;
      }
      count += 1;
      terms[count] = log_w_j;
    }
    for (k in 1:120) {  // downwards, to j = 1
      real j = j_start - k * h;
      if (j < 1) {
        break;
      }
      real log_w_j = tweedie_log_term(j, log_z, alpha);
      if (log_w_j < threshold) {
        break;
      }
      count += 1;
      terms[count] = log_w_j;
    }
    return log(h) + log_sum_exp(terms[1:count]);
  }

  // Sum of the Tweedie log densities of y[n] given mu[n] (phi and p shared).
  real tweedie_lpdf(vector y, vector mu, real phi, real p) {
    int N = rows(y);
    real two_minus_p = 2 - p;
    real alpha = two_minus_p / (1 - p);  // < 0
    // the exponential-family part of every row, (y theta - kappa) / phi, with
    // mu^(2 - p) = mu * mu^(1 - p)
    vector[N] mu_1mp = pow(mu, 1 - p);
    real total = (dot_product(y, mu_1mp) / (1 - p) - dot_product(mu, mu_1mp) / two_minus_p)
                 / phi;
    // the rows with y > 0 and the series of each. Values of the data alone are written
    // inline, not stored: a local vector of a function that gets parameters would hold
    // autodiff variables.
    int P = 0;
    for (n in 1:N) {
      P += y[n] > 0;
    }
    if (P == 0) {
      return total;
    }
    array[P] int positive = rep_array(0, P);
    int k = 0;
    for (n in 1:N) {
      if (y[n] > 0) {
        k += 1;
        positive[k] = n;
      }
    }
    total -= sum(log(y[positive]));
    vector[P] log_z = (alpha * log(p - 1) - (1 - alpha) * log(phi) - log(two_minus_p))
                      - alpha * log(y[positive]);
    vector[P] j_peak = exp(two_minus_p * log(y[positive]) - log(phi * two_minus_p));
    // long rows: the thinned series with a real step, row by row; short rows: the largest
    // j* among them
    real j_max = 0;
    for (i in 1:P) {
      if (j_peak[i] > 100) {
        total += tweedie_log_series_long(log_z[i], j_peak[i], alpha, p);
      } else if (j_peak[i] > j_max) {
        j_max = j_peak[i];
      }
    }
    // short rows: b_j = -lgamma(j + 1) - lgamma(-alpha j) once for all of them, then per
    // row one fma per term on the lattice j_start + k h
    int J = tweedie_window_end(j_max, p);
    vector[J] b = -lgamma(linspaced_vector(J, 2, J + 1))
                  - lgamma(-alpha * linspaced_vector(J, 1, J));
    vector[241] terms;  // log W_j of the row at hand, terms[1:count]
    for (i in 1:P) {
      if (j_peak[i] > 100) {
        continue;
      }
      int j_start = max(1, min(J, tweedie_ceil(j_peak[i] - 0.5)));  // nearest integer
      terms[1] = fma(j_start, log_z[i], b[j_start]);
      real threshold = terms[1] - 25;
      int h = tweedie_short_step(j_peak[i], p, log_z[i] + b[1], threshold);
      int count = 1;
      int j = j_start + h;  // upwards
      while (j <= J && count <= 120) {
        real log_w_j = fma(j, log_z[i], b[j]);
        if (log_w_j < threshold) {
          break;
        }
        count += 1;
        terms[count] = log_w_j;
        j += h;
      }
      int up = count;
      j = j_start - h;  // downwards
      while (j >= 1 && count - up < 120) {
        real log_w_j = fma(j, log_z[i], b[j]);
        if (log_w_j < threshold) {
          break;
        }
        count += 1;
        terms[count] = log_w_j;
        j -= h;
      }
      total += log(h) + log_sum_exp(terms[1:count]);
    }
    return total;
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
