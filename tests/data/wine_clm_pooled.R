# Complete-pooling reference for shrinkage() of a cumulative model (issue 13): ordinal's clm()
# of the wine ratings without the judges and bottles (maximum likelihood, no priors). Run from
# the repository root:
#   Rscript tests/data/wine_clm_pooled.R
suppressMessages({library(ordinal); library(jsonlite)})
wine <- read.csv("tests/data/wine.csv")
wine$rating <- factor(wine$rating, levels = 1:5, ordered = TRUE)
wine$temp <- factor(wine$temp, levels = c("cold", "warm"))
wine$contact <- factor(wine$contact, levels = c("no", "yes"))
fit <- clm(rating ~ temp + contact, data = wine, link = "logit")
ref <- list(
  thresholds = as.list(fit$alpha), beta = as.list(fit$beta),
  logLik = as.numeric(logLik(fit)),
  versions = list(ordinal = as.character(packageVersion("ordinal")), R = R.version.string)
)
write(toJSON(ref, auto_unbox = TRUE, digits = 10, pretty = TRUE), "tests/data/wine_clm_pooled.json")
