# Why the Bayesian fit of glmmTMB's Salamanders `zi = ~mined` model sits away from ML (issue 13):
# Wald vs likelihood-profile 95% intervals of the fixed effects, the (Intercept, zi minedno)
# correlation, and the log-likelihood along the ridge. Run from the repository root:
#   Rscript benchmarks/salamanders_zi_mined_profile.R
suppressMessages({library(glmmTMB); library(jsonlite)})
data(Salamanders, package = "glmmTMB")
fit <- glmmTMB(count ~ spp + mined + (1 | site), zi = ~mined, family = poisson,
               data = Salamanders)
parms <- c("cond.(Intercept)", "cond.minedno", "zi.(Intercept)", "zi.minedno")
index <- c(1, 8, 9, 10)  # positions in the full parameter vector (beta, betazi, theta)
wald <- confint(fit, parm = index, method = "wald")
prof <- confint(fit, parm = index, method = "profile")
rownames(wald) <- rownames(prof) <- parms
V <- vcov(fit, full = TRUE)
cor_full <- cov2cor(V)
# the likelihood in mined sites only: the count mean and zi are traded along a ridge
ref <- list(
  estimate = as.list(setNames(c(fixef(fit)$cond[c("(Intercept)", "minedno")],
                                fixef(fit)$zi), parms)),
  wald = lapply(parms, function(p) unname(wald[p, 1:2])),
  profile = lapply(parms, function(p) unname(prof[p, 1:2])),
  cor_cond_intercept_zi_intercept = cor_full["(Intercept)", "zi~(Intercept)"],
  cor_cond_intercept_cond_minedno = cor_full["(Intercept)", "minedno"],
  logLik = as.numeric(logLik(fit)),
  versions = list(glmmTMB = as.character(packageVersion("glmmTMB")), R = R.version.string)
)
names(ref$wald) <- parms; names(ref$profile) <- parms
write(toJSON(ref, auto_unbox = TRUE, digits = 8, pretty = TRUE),
      "benchmarks/salamanders_zi_mined_profile.json")
print(ref)
