# mgcv reference for the smooth check of issue 12: gam(y ~ s(x)) (REML, default tp basis,
# k = 10) on tests/data/smooth_sin.csv; RMSE of its curve to sin(2 pi x) on 50 grid points.
#   Rscript tests/data/smooth_mgcv.R
suppressMessages({library(mgcv); library(jsonlite)})
d <- read.csv("tests/data/smooth_sin.csv")
m <- gam(y ~ s(x), data = d, method = "REML")
grid <- data.frame(x = seq(min(d$x), max(d$x), length.out = 50))
fit <- predict(m, grid)
out <- list(rmse = sqrt(mean((fit - sin(2 * pi * grid$x))^2)), edf = sum(m$edf) - 1,
            version = as.character(packageVersion("mgcv")))
write(toJSON(out, auto_unbox = TRUE, digits = 8, pretty = TRUE), "tests/data/smooth_mgcv.json")
