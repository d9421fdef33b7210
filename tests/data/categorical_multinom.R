# Reference for family 'categorical': nnet::multinom on simulated data (fixed effects only).
# Writes categorical_multinom.csv (the data) and categorical_multinom.json (ML estimates, SEs).
# Run from tests/data: Rscript categorical_multinom.R
library(nnet)
library(jsonlite)
set.seed(2026)
n <- 600
x <- rnorm(n)
z <- rbinom(n, 1, 0.4)
eta2 <- 0.3 + 0.8 * x - 0.5 * z
eta3 <- -0.4 - 0.6 * x + 0.7 * z
p <- cbind(1, exp(eta2), exp(eta3))
p <- p / rowSums(p)
y <- apply(p, 1, function(pr) sample(c("a", "b", "c"), 1, prob = pr))
df <- data.frame(y = factor(y, levels = c("a", "b", "c")), x = x, z = z)
write.csv(df, "categorical_multinom.csv", row.names = FALSE)
fit <- multinom(y ~ x + z, data = df, trace = FALSE, reltol = 1e-12, maxit = 1000)
est <- coef(fit)
se <- summary(fit)$standard.errors
out <- list()
for (k in rownames(est)) {
  for (j in colnames(est)) {
    name <- paste0("b_mu", match(k, levels(df$y)), "_", ifelse(j == "(Intercept)", "Intercept", j))
    out[[name]] <- list(estimate = est[k, j], se = se[k, j])
  }
}
out[["nnet_version"]] <- as.character(packageVersion("nnet"))
out[["logLik"]] <- as.numeric(logLik(fit))
write_json(out, "categorical_multinom.json", auto_unbox = TRUE, digits = 10, pretty = TRUE)
