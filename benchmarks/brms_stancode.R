# The Stan programs brms generates for the benchmark models (issue 15 item 4: compare them with
# bayesmm's). Usage: Rscript benchmarks/brms_stancode.R OUTDIR
suppressMessages(library(brms))
out <- commandArgs(trailingOnly = TRUE)[1]
sleep <- read.csv("examples/data/sleepstudy.csv")
sleep$Subject <- factor(sleep$Subject)
cbpp <- read.csv("examples/data/cbpp.csv")
cbpp$herd <- factor(cbpp$herd); cbpp$period <- factor(cbpp$period)
writeLines(make_stancode(Reaction ~ Days + (Days | Subject), data = sleep),
           file.path(out, "sleepstudy_brms.stan"))
writeLines(make_stancode(incidence | trials(size) ~ period + (1 | herd), data = cbpp,
                         family = binomial()), file.path(out, "cbpp_brms.stan"))
