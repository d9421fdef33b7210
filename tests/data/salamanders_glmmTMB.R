# Export glmmTMB's Salamanders data and fit the zero-inflated and hurdle GLMMs of glmmTMB's own
# examples (vignette "glmmTMB"), with a constant zero part and with zi ~ mined.
# Run from the repository root:  Rscript tests/data/salamanders_glmmTMB.R
suppressMessages({library(glmmTMB); library(jsonlite)})
data(Salamanders, package = "glmmTMB")
out <- Salamanders[, c("site", "mined", "cover", "sample", "DOP", "Wtemp", "DOY", "spp", "count")]
write.csv(out, "tests/data/salamanders.csv", row.names = FALSE)

summarise <- function(fit) {
  fe <- fixef(fit)
  se <- sqrt(diag(vcov(fit)$cond))
  res <- list(
    b = as.list(fe$cond), se = as.list(se),
    sd_site = attr(VarCorr(fit)$cond$site, "stddev")[[1]],
    zi_b = as.list(fe$zi), logLik = as.numeric(logLik(fit))
  )
  if (family(fit)$family %in% c("nbinom2", "truncated_nbinom2")) res$shape <- sigma(fit)
  res
}
models <- list(
  zip = glmmTMB(count ~ spp + mined + (1 | site), zi = ~1, family = poisson, data = Salamanders),
  zinb = glmmTMB(count ~ spp + mined + (1 | site), zi = ~1, family = nbinom2, data = Salamanders),
  hnb = glmmTMB(count ~ spp + mined + (1 | site), zi = ~1, family = truncated_nbinom2,
                data = Salamanders),
  zip_zi_mined = glmmTMB(count ~ spp + mined + (1 | site), zi = ~mined, family = poisson,
                         data = Salamanders),
  # the same by REML (the fixed effects integrated out, as a posterior does), and by ML with
  # the site SD held at 0.42, the posterior mode of bayesmm's fits (0.406-0.429, issue 13):
  # mined is a site-level predictor, so its effects move with the site SD
  zip_zi_mined_reml = glmmTMB(count ~ spp + mined + (1 | site), zi = ~mined, family = poisson,
                              data = Salamanders, REML = TRUE),
  zip_zi_mined_sd042 = glmmTMB(count ~ spp + mined + (1 | site), zi = ~mined,
                               family = poisson, data = Salamanders,
                               start = list(theta = log(0.42)), map = list(theta = factor(NA)))
)
ref <- lapply(models, summarise)
ref$versions <- list(glmmTMB = as.character(packageVersion("glmmTMB")), R = R.version.string)
write(toJSON(ref, auto_unbox = TRUE, digits = 10, pretty = TRUE),
      "tests/data/salamanders_glmmTMB.json")
