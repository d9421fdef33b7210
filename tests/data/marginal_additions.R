# Reference numbers for the exact marginal program with offsets and se() (issue 14):
#   Rscript tests/data/marginal_additions.R        (from the repository root; ~3 min)
# Writes tests/data/marginal_additions.json:
# - lme4::lmer fits (REML and ML) of sleepstudy with a row-varying offset o = 20 sin(Days):
#   Reaction ~ Days + offset(o) + (Days | Subject);
# - ML estimates of the BCG random-effects meta-analysis (y_i ~ N(mu, tau^2 + v_i), by optim;
#   metafor is not installed) from tests/data/issue14_references.json;
# - brms's posterior of the same meta-analysis, brm(yi | se(sei) ~ 1 + (1 | trial)) with
#   brms's default priors (bayesmm's defaults are the same: student_t(3, median(yi), 2.5) on
#   the intercept, student_t(3, 0, 2.5) on the SD), 4 chains x 5000 draws.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
  library(brms)
})
rstan::rstan_options(boost_lib = "/usr/include")

sleep <- read.csv("examples/data/sleepstudy.csv")
sleep$Subject <- factor(sleep$Subject)
sleep$o <- 20 * sin(sleep$Days)
lmm <- function(reml) {
  fit <- lmer(Reaction ~ Days + offset(o) + (Days | Subject), data = sleep, REML = reml)
  vc <- as.data.frame(VarCorr(fit))
  list(
    fixed = as.list(fixef(fit)),
    fixed_se = as.list(sqrt(diag(as.matrix(vcov(fit))))),
    sd_Intercept = vc$sdcor[vc$grp == "Subject" & vc$var1 == "(Intercept)" & is.na(vc$var2)],
    sd_Days = vc$sdcor[vc$grp == "Subject" & vc$var1 == "Days" & is.na(vc$var2)],
    cor = vc$sdcor[vc$grp == "Subject" & !is.na(vc$var2)],
    sigma = sigma(fit),
    logLik = as.numeric(logLik(fit))
  )
}

bcg <- fromJSON("tests/data/issue14_references.json")$bcg
yi <- bcg$yi
vi <- bcg$vi
neg_ml <- function(par) {
  v <- exp(par[2]) + vi
  0.5 * sum(log(2 * pi * v) + (yi - par[1])^2 / v)
}
opt <- optim(c(-0.7, log(0.3)), neg_ml, method = "BFGS", control = list(reltol = 1e-14))
meta <- data.frame(yi = yi, sei = sqrt(vi), trial = sprintf("T%02d", 0:12))
brm_fit <- brm(yi | se(sei) ~ 1 + (1 | trial), data = meta, chains = 4, iter = 6000,
               warmup = 1000, seed = 1, control = list(adapt_delta = 0.99), refresh = 0)
draws <- as_draws_df(brm_fit)
describe <- function(x) list(mean = mean(x), sd = sd(x), median = median(x),
                             q025 = unname(quantile(x, 0.025)), q975 = unname(quantile(x, 0.975)))
out <- list(
  sleepstudy_offset = list(
    formula = "Reaction ~ Days + offset(o) + (Days | Subject)", offset = "o = 20 * sin(Days)",
    REML = lmm(TRUE), ML = lmm(FALSE)
  ),
  bcg_ml = list(mu = opt$par[1], tau = sqrt(exp(opt$par[2])), neg_loglik = opt$value),
  bcg_brms = list(
    formula = "yi | se(sei) ~ 1 + (1 | trial)",
    b_Intercept = describe(draws$b_Intercept),
    sd_trial__Intercept = describe(draws$sd_trial__Intercept),
    priors = as.data.frame(prior_summary(brm_fit))[, c("prior", "class")],
    draws = nrow(draws)
  ),
  versions = list(lme4 = as.character(packageVersion("lme4")),
                  brms = as.character(packageVersion("brms")),
                  R = R.version.string)
)
write_json(out, "tests/data/marginal_additions.json", digits = 10, auto_unbox = TRUE, pretty = TRUE)
cat(toJSON(out, auto_unbox = TRUE, pretty = TRUE, digits = 6))
