# mgcv reference for the two-dimensional smooth of issue 12: gam(y ~ s(x, z), method = "REML")
# (default thin-plate basis, k = 30) on tests/data/smooth2d.csv (tests/data/smooth2d_data.py).
# Writes smooth2d_mgcv.json: the fitted surface and its SE on a 12 x 12 grid over
# [0.1, 0.9]^2 (inside the data's convex hull), mgcv's model matrix there (its smooth's
# columns span the same space as bayesmm's basis), the smoothing parameter, the residual
# scale, S.scale (gam's penalty is the unscaled one divided by it), the REML SD of the
# penalized coefficients on the unscaled penalty (sigma * sqrt(S.scale / sp)) and that
# penalty J(f) of the fitted surface.
#   Rscript tests/data/smooth2d_mgcv.R        (from the repository root)
suppressMessages({library(mgcv); library(jsonlite)})
d <- read.csv("tests/data/smooth2d.csv")
m <- gam(y ~ s(x, z), data = d, method = "REML")
axis <- seq(0.1, 0.9, length.out = 12)
grid <- expand.grid(x = axis, z = axis)
pred <- predict(m, grid, se.fit = TRUE)
lp <- predict(m, grid, type = "lpmatrix")
sm <- m$smooth[[1]]
beta <- coef(m)[sm$first.para:sm$last.para]
S <- sm$S[[1]]
truth <- sin(2 * pi * grid$x) * cos(pi * grid$z) + 0.5 * grid$z
out <- list(
  version = as.character(packageVersion("mgcv")),
  k = sm$bs.dim, grid_x = grid$x, grid_z = grid$z,
  fit = as.numeric(pred$fit), se = as.numeric(pred$se.fit), lpmatrix = unname(lp),
  sp = unname(m$sp), scale = m$sig2, S_scale = sm$S.scale,
  sd_unit_penalty = sqrt(m$sig2 * sm$S.scale / m$sp),
  penalty_unscaled = as.numeric(t(beta) %*% S %*% beta) * sm$S.scale,
  edf = sum(m$edf) - 1, rmse_truth = sqrt(mean((pred$fit - truth)^2))
)
write(toJSON(out, auto_unbox = TRUE, digits = NA), "tests/data/smooth2d_mgcv.json")
