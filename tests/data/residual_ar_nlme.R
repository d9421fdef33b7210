# nlme::lme with corAR1 on tests/data/residual_ar.csv (made by residual_ar_data.py).
# nlme's sigma is the marginal residual SD; innovation SD = sigma * sqrt(1 - Phi^2).
# Run: Rscript tests/data/residual_ar_nlme.R  -> tests/data/residual_ar_nlme.json
library(nlme)
library(jsonlite)
d <- read.csv("tests/data/residual_ar.csv")
d <- d[order(d$g, d$t), ]
m <- lme(y ~ x, random = ~ 1 | g, correlation = corAR1(form = ~ t | g), data = d, method = "REML")
phi <- unname(coef(m$modelStruct$corStruct, unconstrained = FALSE))
sig <- m$sigma
out <- list(
  b_Intercept = unname(fixef(m)[1]), b_x = unname(fixef(m)[2]),
  sd_g = as.numeric(VarCorr(m)[1, "StdDev"]),
  ar = phi, sigma_marginal = sig, sigma = sig * sqrt(1 - phi^2),
  se_Intercept = sqrt(vcov(m)[1, 1]), se_x = sqrt(vcov(m)[2, 2]),
  method = "REML", nlme_version = as.character(packageVersion("nlme"))
)
write_json(out, "tests/data/residual_ar_nlme.json", auto_unbox = TRUE, digits = 8, pretty = TRUE)
print(out)
