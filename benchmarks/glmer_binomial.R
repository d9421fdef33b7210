# lme4's glmer on the benchmark's binomial GLMM, for scale beside bayesmm
# (benchmarks/glmm_1e6.py writes the CSV and runs this script in the same benchmark run).
#
#   Rscript benchmarks/glmer_binomial.R data.csv
#
# Prints one JSON line: seconds to read the CSV, seconds of glmer (defaults: Laplace, nAGQ = 1,
# bobyqa + Nelder-Mead), the estimates (fixed effects, SDs and correlation of (1 + x1 | g)),
# and lme4's convergence messages.
suppressMessages({
  library(lme4)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
t0 <- Sys.time()
d <- read.csv(args[1])
d$g <- factor(d$g)
t1 <- Sys.time()
form <- as.formula(paste(
  "cbind(y, n - y) ~", paste0("x", 1:10, collapse = " + "), "+ (1 + x1 | g)"
))
fit <- glmer(form, data = d, family = binomial)
t2 <- Sys.time()
vc <- as.data.frame(VarCorr(fit))
sds <- vc$sdcor[is.na(vc$var2)]
cor <- vc$sdcor[!is.na(vc$var2)]
fe <- fixef(fit)
names(fe)[names(fe) == "(Intercept)"] <- "Intercept"
est <- c(as.list(setNames(fe, paste0("b_", names(fe)))),
         list(sd_g__Intercept = sds[1], sd_g__x1 = sds[2], cor_g__Intercept__x1 = cor[1]))
messages <- c(fit@optinfo$conv$lme4$messages, fit@optinfo$warnings)
cat(toJSON(list(read_s = as.numeric(t1 - t0, units = "secs"),
                glmer_s = as.numeric(t2 - t1, units = "secs"),
                rows = nrow(d), estimates = est,
                messages = if (length(messages)) unlist(messages) else character(0)),
           auto_unbox = TRUE, digits = 8), "\n")
