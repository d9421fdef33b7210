"""Write the saved-fit fixtures that tests/posterior/test_saved_fits.py loads.

These folders were written by bayesmm 0.x *before* the modules moved into stage subpackages
(issue 19), so loading them checks that fits saved by earlier versions still load. Rerunning
this script rewrites them with the current version (which then tests nothing old): keep the
committed ones.

    python tests/data/saved_fits/make_fixture.py
"""

from pathlib import Path

import pandas as pd

import bayesmm as bmm

here = Path(__file__).parent
data = Path(__file__).parents[3] / "examples" / "data"
sleep = pd.read_csv(data / "sleepstudy.csv")
cbpp = pd.read_csv(data / "cbpp.csv")
settings = dict(
    chains=1, iter_warmup=100, iter_sampling=50, seed=3, show_progress=False, warn=False
)
fit = bmm.fit("Reaction ~ Days + (Days | Subject)", sleep, **settings)
fit.save(here / "sleepstudy_marginal", overwrite=True)
fit = bmm.fit(
    "cbind(incidence, size - incidence) ~ period + (1 | herd)",
    cbpp,
    family="binomial",
    log_lik=True,
    **settings,
)
fit.save(here / "cbpp_binomial", overwrite=True)
