# glmmTMB reference fits for the structured-covariance checks of issue 12.
# Data: tests/data/structured_covariance_data.py. Run from the repository root:
#   Rscript tests/data/structured_glmmtmb.R
suppressMessages({library(glmmTMB); library(jsonlite)})
out <- list()
ar <- read.csv("tests/data/structured_ar1.csv")
ar$t <- factor(ar$t); ar$g <- factor(ar$g)
m <- glmmTMB(y ~ x + ar1(0 + t | g), data = ar, REML = FALSE)
vc <- VarCorr(m)$cond$g
out$ar1 <- list(b_Intercept = fixef(m)$cond[[1]], b_x = fixef(m)$cond[[2]],
                sd = attr(vc, "stddev")[[1]], rho = attr(vc, "correlation")[1, 2],
                sigma = sigma(m))
cs <- read.csv("tests/data/structured_cs.csv")
cs$t <- factor(cs$t); cs$g <- factor(cs$g)
m2 <- glmmTMB(y ~ x + cs(0 + t | g), data = cs, REML = FALSE)
vc2 <- VarCorr(m2)$cond$g
out$cs <- list(b_Intercept = fixef(m2)$cond[[1]], b_x = fixef(m2)$cond[[2]],
               sd = unname(attr(vc2, "stddev")), rho = attr(vc2, "correlation")[1, 2],
               sigma = sigma(m2))
write(toJSON(out, auto_unbox = TRUE, digits = 8, pretty = TRUE), "tests/data/structured_glmmtmb.json")
