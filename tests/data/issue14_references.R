# Reference numbers for issue 14 (offsets, se()): run from the repository root with
#   Rscript tests/data/issue14_references.R
# Writes tests/data/owls.csv (glmmTMB's Owls data) and tests/data/issue14_references.json:
# glmmTMB's Poisson and nbinom2 fits of the owls model with offset(log(BroodSize)), and the
# REML estimates of the BCG random-effects meta-analysis computed here with optim (metafor is
# not installed), from the 13 trials written out below.
suppressPackageStartupMessages({
  library(glmmTMB)
  library(jsonlite)
})
data("Owls", package = "glmmTMB")
owls <- data.frame(
  Nest = as.character(Owls$Nest),
  FoodTreatment = as.character(Owls$FoodTreatment),
  SexParent = as.character(Owls$SexParent),
  ArrivalTime = Owls$ArrivalTime,
  NCalls = Owls$SiblingNegotiation,
  BroodSize = Owls$BroodSize
)
write.csv(owls, "tests/data/owls.csv", row.names = FALSE)
owls$FoodTreatment <- factor(owls$FoodTreatment, levels = c("Deprived", "Satiated"))
owls$SexParent <- factor(owls$SexParent, levels = c("Female", "Male"))
form <- NCalls ~ (FoodTreatment + ArrivalTime) * SexParent + offset(log(BroodSize)) + (1 | Nest)
tidy <- function(fit) {
  s <- summary(fit)$coefficients$cond
  list(estimate = as.list(s[, "Estimate"]), se = as.list(s[, "Std. Error"]),
       sd_Nest = sqrt(as.numeric(VarCorr(fit)$cond$Nest)))
}
poisson_fit <- glmmTMB(form, data = owls, family = poisson)
nb_fit <- glmmTMB(form, data = owls, family = nbinom2)
nb <- tidy(nb_fit)
nb$shape <- sigma(nb_fit)  # glmmTMB's nbinom2 sigma is the shape: Var = mu + mu^2 / shape

# BCG vaccine trials (Colditz et al. 1994, JAMA 271:698; metafor's dat.bcg): log risk ratios
tpos <- c(4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27)
tneg <- c(119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886)
cpos <- c(11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29)
cneg <- c(128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825)
yi <- log(tpos / (tpos + tneg)) - log(cpos / (cpos + cneg))
vi <- 1 / tpos - 1 / (tpos + tneg) + 1 / cpos - 1 / (cpos + cneg)
# REML log-likelihood of y_i ~ N(mu, tau^2 + v_i) with mu profiled out (GLS estimate)
neg_reml <- function(log_tau2) {
  w <- 1 / (exp(log_tau2) + vi)
  mu <- sum(w * yi) / sum(w)
  0.5 * (sum(log(1 / w)) + log(sum(w)) + sum(w * (yi - mu)^2))
}
opt <- optimize(neg_reml, c(-10, 3), tol = 1e-10)
tau2 <- exp(opt$minimum)
w <- 1 / (tau2 + vi)
mu <- sum(w * yi) / sum(w)
out <- list(
  owls_formula = "NCalls ~ (FoodTreatment + ArrivalTime) * SexParent + offset(log(BroodSize)) + (1 | Nest)",
  owls_poisson = tidy(poisson_fit),
  owls_nbinom2 = nb,
  bcg = list(yi = yi, vi = vi, reml_mu = mu, reml_mu_se = sqrt(1 / sum(w)),
             reml_tau2 = tau2, reml_tau = sqrt(tau2)),
  glmmTMB_version = as.character(packageVersion("glmmTMB"))
)
write_json(out, "tests/data/issue14_references.json", digits = 10, auto_unbox = TRUE, pretty = TRUE)
cat(toJSON(out, auto_unbox = TRUE, pretty = TRUE, digits = 6))
