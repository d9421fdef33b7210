"""The user-facing entry points: :func:`fit`, :func:`stancode`, :func:`standata`, :func:`get_prior`.

Examples
--------
>>> import pandas as pd, bayesmm as bmm
>>> df = pd.read_csv("examples/data/sleepstudy.csv")  # doctest: +SKIP
>>> fit = bmm.fit("Reaction ~ Days + (Days | Subject)", df, chains=4, seed=1)  # doctest: +SKIP
>>> print(fit)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .backends import get_backend
from .backends.base import SamplerSettings
from .codegen import build_program
from .design import build_model_spec
from .errors import BayesmmError
from .families import Family
from .fit import Fit
from .prior_table import prior_table
from .spec import ModelSpec

#: Pointwise log-likelihood and replicated data are kept by default while
#: N x (total draws) stays below this many numbers (about 160 MB each).
AUTO_POINTWISE_LIMIT = 20_000_000


def model_spec(
    formula: str, data: Any, family: str | Family = "gaussian", priors: Any = None
) -> ModelSpec:
    """Build the :class:`~bayesmm.spec.ModelSpec` of a model without running anything.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ (1 | g)", {"y": [1.0, 2, 3, 4], "g": list("aabb")})
    >>> spec.blocks[0].group_levels
    ('a', 'b')
    """
    return build_model_spec(formula, data, family, priors)


def get_prior(
    formula: str, data: Any, family: str | Family = "gaussian", priors: Any = None
) -> pd.DataFrame:
    """The priors of a model, one row per slot, before anything runs (brms's ``get_prior``).

    Parameters
    ----------
    formula : str
        lme4/brms formula.
    data : pandas.DataFrame or dict
        The data (the defaults are scaled to it).
    family : str or Family
        The family; its own parameters (``sigma``, ...) get rows too.
    priors : list of Prior, optional
        User priors from :func:`bayesmm.prior`, to see the table they give.

    Returns
    -------
    pandas.DataFrame
        Columns ``prior`` (a Stan-style string you can pass to :func:`bayesmm.prior`),
        ``class`` (``Intercept``, ``b``, ``sd``, ``cor``, family parameters), ``coef``,
        ``group``, ``source`` (``default`` or ``user``) and ``note`` (how a prior is taken on a
        bounded parameter: ``half-normal (sd > 0)``).

    Examples
    --------
    >>> import bayesmm as bmm
    >>> table = bmm.get_prior("y ~ (1 | g)", {"y": [1.0, 2, 3, 4], "g": list("aabb")})
    >>> table["class"].unique().tolist()
    ['Intercept', 'sd', 'sigma']
    """
    return prior_table(model_spec(formula, data, family, priors))


def stancode(formula: str, data: Any, family: str | Family = "gaussian", priors: Any = None) -> str:
    """The Stan program (with comments naming every term) that :func:`fit` would run.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> code = bmm.stancode("y ~ (1 | g)", {"y": [1.0, 2, 3, 4], "g": list("aabb")})
    >>> "(1 | g): 1 effect over 2 levels" in code
    True
    """
    return build_program(model_spec(formula, data, family, priors)).code


def standata(
    formula: str,
    data: Any,
    family: str | Family = "gaussian",
    priors: Any = None,
    *,
    sample_prior: str = "no",
    log_lik: bool | None = None,
    y_rep: bool | None = None,
    draws: int = 4000,
) -> dict[str, Any]:
    """The data dict that :func:`fit` passes to Stan, exactly.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> d = bmm.standata("y ~ (1 | g)", {"y": [1.0, 2, 3, 4], "g": list("aabb")})
    >>> d["N"], d["J_1"], d["group_1"].tolist()
    (4, 2, [1, 1, 2, 2])
    """
    spec = model_spec(formula, data, family, priors)
    return _program(spec, sample_prior, log_lik, y_rep, draws).data


def _program(spec: ModelSpec, sample_prior: str, log_lik, y_rep, draws: int):
    if sample_prior not in ("no", "only"):
        raise BayesmmError(f"sample_prior must be 'no' or 'only', got {sample_prior!r}.")
    small = spec.n_obs * draws <= AUTO_POINTWISE_LIMIT
    return build_program(
        spec,
        prior_only=sample_prior == "only",
        log_lik=small if log_lik is None else bool(log_lik),
        y_rep=small if y_rep is None else bool(y_rep),
    )


def fit(
    formula: str,
    data: Any,
    family: str | Family = "gaussian",
    *,
    priors: Any = None,
    backend: str = "auto",
    chains: int = 4,
    iter_warmup: int = 1000,
    iter_sampling: int = 1000,
    seed: int | None = None,
    adapt_delta: float = 0.95,
    max_treedepth: int = 10,
    init: Any = None,
    parallel_chains: int | None = None,
    show_progress: bool = True,
    sample_prior: str = "no",
    log_lik: bool | None = None,
    y_rep: bool | None = None,
    warn: bool = True,
) -> Fit:
    """Fit a Bayesian (generalized) linear mixed model with Stan.

    Parameters
    ----------
    formula : str
        lme4/brms formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``; see the README's
        table for ``||``, ``/``, ``*`` and ``:`` in grouping factors, ``cbind(s, f)`` and
        ``s | trials(n)`` for binomial responses.
    data : pandas.DataFrame or dict
        The data; rows with missing values in used columns are dropped with a warning.
    family : str or Family
        ``"gaussian"``, ``"student"``, ``"lognormal"``, ``"gamma"``, ``"beta"``,
        ``"bernoulli"``, ``"binomial"``, ``"poisson"``, ``"negbinomial"``, ``"tweedie"``, or a
        ``bayesmm.families`` object with a link (``bmm.families.gamma(link="log")``); see the
        README's family table.
    priors : list of Prior, optional
        User priors from :func:`bayesmm.prior`, e.g.
        ``[bmm.prior("normal(0, 10)", class_="b", coef="Days")]``; a prior given for a coef or
        group overrides the class-wide one, and the data-scaled defaults fill the rest
        (:func:`get_prior` shows the table).
    backend : {"auto", "cmdstanpy", "pystan"}
        ``auto`` uses cmdstanpy when CmdStan is installed, else pystan.
    chains, iter_warmup, iter_sampling : int
        Chains (run in parallel) and iterations per chain.
    seed : int, optional
        Random seed for reproducible draws.
    adapt_delta : float
        Target acceptance rate (raise towards 1 when there are divergences).
    max_treedepth : int
        Maximum NUTS tree depth.
    init : float, dict or list of dict, optional
        Random-init radius, or initial values for every chain / each chain.
    parallel_chains : int, optional
        Chains run at once (cmdstanpy; pystan runs all at once).
    show_progress : bool
        Show compile and sampling progress.
    sample_prior : {"no", "only"}
        ``"only"`` switches the likelihood off and samples from the prior: the summary, idata
        and replicated data then describe the prior (a prior predictive check).
    log_lik, y_rep : bool, optional
        Keep the pointwise log-likelihood / replicated data; by default kept when
        N x draws is at most 2e7 numbers.
    warn : bool
        Warn about divergences, R-hat > 1.01, bulk ESS < 400 and tree-depth hits.

    Returns
    -------
    Fit

    Examples
    --------
    >>> import pandas as pd, bayesmm as bmm
    >>> df = pd.read_csv("examples/data/sleepstudy.csv")  # doctest: +SKIP
    >>> fit = bmm.fit("Reaction ~ Days + (Days | Subject)", df, seed=1)  # doctest: +SKIP
    >>> fit.fixef()  # doctest: +SKIP
    """
    spec = model_spec(formula, data, family, priors)
    program = _program(spec, sample_prior, log_lik, y_rep, chains * iter_sampling)
    settings = SamplerSettings(
        chains=chains,
        iter_warmup=iter_warmup,
        iter_sampling=iter_sampling,
        seed=seed,
        adapt_delta=adapt_delta,
        max_treedepth=max_treedepth,
        init=init,
        parallel_chains=parallel_chains,
        show_progress=show_progress,
    )
    runner = get_backend(backend)
    output = runner.sample(program.compiled_code, program.data, settings)
    result = Fit.from_sampler(spec, program, output, settings, prior_only=sample_prior == "only")
    if warn:
        result.warn_about_sampling()
    return result


def load(path: Any) -> Fit:
    """Load a fit saved with :meth:`Fit.save` (no data and no compilation needed).

    Examples
    --------
    >>> import bayesmm as bmm
    >>> fit = bmm.load("sleep_fit")  # doctest: +SKIP
    >>> fit.fitted(re_formula="~0").head()  # doctest: +SKIP
    """
    from .io import load_fit

    return load_fit(path)


def compare(fits: Any, ic: str = "loo", **kwargs: Any) -> Any:
    """Rank fits by expected log predictive density (ArviZ's ``compare``), best first.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> bmm.compare({"slopes": fit_a, "intercepts": fit_b})  # doctest: +SKIP
    """
    from .checks import compare as compare_fits

    return compare_fits(fits, ic=ic, **kwargs)
