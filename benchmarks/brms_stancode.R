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
# ... and their data, as JSON (jsonlite), to run brms's programs through pystan too
for (m in list(list("sleepstudy", Reaction ~ Days + (Days | Subject), sleep, gaussian()),
               list("cbpp", incidence | trials(size) ~ period + (1 | herd), cbpp, binomial()))) {
  sdata <- unclass(make_standata(m[[2]], data = m[[3]], family = m[[4]]))
  sdata <- lapply(sdata, function(v) if (is.matrix(v)) v else as.vector(v))
  writeLines(jsonlite::toJSON(sdata, digits = NA, matrix = "rowmajor", auto_unbox = TRUE),
             file.path(out, paste0(m[[1]], "_brms_data.json")))
}
