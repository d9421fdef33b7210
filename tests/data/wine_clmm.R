# Export the `wine` ratings (ordinal package) and fit the cumulative link mixed models of
# ordinal's documentation: judges crossed with bottles. Run from the repository root:
#   Rscript tests/data/wine_clmm.R
suppressMessages({library(ordinal); library(jsonlite)})
data(wine, package = "ordinal")
write.csv(wine[, c("response", "rating", "temp", "contact", "bottle", "judge")],
          "tests/data/wine.csv", row.names = FALSE)
summarise <- function(fit) {
  list(
    thresholds = as.list(fit$alpha), beta = as.list(fit$beta),
    se = as.list(sqrt(diag(vcov(fit)))),
    sd = lapply(VarCorr(fit), function(v) sqrt(as.numeric(v))),
    logLik = as.numeric(logLik(fit))
  )
}
ref <- list(
  logit = summarise(clmm(rating ~ temp + contact + (1 | judge) + (1 | bottle), data = wine,
                         link = "logit", nAGQ = 1)),
  probit_judge = summarise(clmm(rating ~ temp + contact + (1 | judge), data = wine,
                                link = "probit", nAGQ = 10)),
  versions = list(ordinal = as.character(packageVersion("ordinal")), R = R.version.string)
)
write(toJSON(ref, auto_unbox = TRUE, digits = 10, pretty = TRUE), "tests/data/wine_clmm.json")
