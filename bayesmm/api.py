"""The user-facing entry points: :func:`fit`, :func:`stancode`, :func:`standata`, :func:`get_prior`.

Examples
--------
>>> import pandas as pd, bayesmm as bmm
>>> df = pd.read_csv("examples/data/sleepstudy.csv")  # doctest: +SKIP
>>> fit = bmm.fit("Reaction ~ Days + (Days | Subject)", df, chains=4, seed=1)  # doctest: +SKIP
>>> print(fit)  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from .errors import BayesmmError, SamplingWarning, UnsupportedModelError
from .model.design import build_model_spec
from .model.design_checks import check_response
from .model.distributional import ModelFormula
from .model.families import Family
from .model.pointwise import pointwise_in_numpy
from .model.prior_table import prior_table
from .model.spec import ModelSpec
from .posterior.fit import Fit
from .stan.algorithms import (
    APPROXIMATE_INITS,
    DEFAULT_SINGLE_DRAWS,
    AlgorithmSettings,
    check_algorithm,
)
from .stan.algorithms.inits import chain_inits
from .stan.backends import get_backend
from .stan.backends.base import SamplerSettings
from .stan.codegen import build_program
from .stan.inits import feasible_init
from .stan.marginal import resolve_method
from .stan.marginal_codegen import build_marginal_program
from .stan.parallel import default_grainsize
from .stan.parameterization import centred_blocks, noncentred_weights
from .stan.sampler_arguments import check_sampler_arguments

#: Pointwise log-likelihood and replicated data are kept by default while
#: N x (total draws) stays below this many numbers (about 160 MB each).
AUTO_POINTWISE_LIMIT = 20_000_000


def model_spec(
    formula: str | ModelFormula,
    data: Any,
    family: str | Family = "gaussian",
    priors: Any = None,
    offset: Any = None,
) -> ModelSpec:
    """Build the :class:`~bayesmm.model.spec.ModelSpec` of a model without running anything.

    ``offset`` as in :func:`fit`.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ (1 | g)", {"y": [1.0, 2, 3, 4], "g": list("aabb")})
    >>> spec.blocks[0].group_levels
    ('a', 'b')
    """
    return build_model_spec(formula, data, family, priors, offset=offset)


def get_prior(
    formula: str | ModelFormula, data: Any, family: str | Family = "gaussian", priors: Any = None
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


def stancode(
    formula: str | ModelFormula,
    data: Any,
    family: str | Family = "gaussian",
    priors: Any = None,
    *,
    method: str = "auto",
    parameterization: str = "auto",
    offset: Any = None,
) -> str:
    """The Stan program (with comments naming every term) that :func:`fit` would run.

    ``method`` and ``parameterization`` as in :func:`fit` (``"auto"`` gives the exact marginal
    program for a gaussian model with one grouping factor).

    Examples
    --------
    >>> import bayesmm as bmm
    >>> code = bmm.stancode("y ~ (1 | g)", {"y": [1.0, 2, 3, 4], "g": list("aabb")})
    >>> "(1 | g): 1 effect over 2 levels" in code
    True
    """
    spec = model_spec(formula, data, family, priors, offset)
    used_method = resolve_method(spec, method)
    centred_blocks(spec, parameterization)  # an unknown value fails here, whatever the method
    return _program(
        spec, "no", None, None, 4000, used_method, parameterization=parameterization
    ).code


def standata(
    formula: str | ModelFormula,
    data: Any,
    family: str | Family = "gaussian",
    priors: Any = None,
    *,
    sample_prior: str = "no",
    log_lik: bool | None = None,
    y_rep: bool | None = None,
    draws: int = 4000,
    method: str = "auto",
    offset: Any = None,
) -> dict[str, Any]:
    """The data dict that :func:`fit` passes to Stan, exactly.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> d = bmm.standata("y ~ (1 | g)", {"y": [1.0, 2, 3, 4], "g": list("aabb")},
    ...                  method="latent")
    >>> d["N"], d["J_1"], d["group_1"].tolist()
    (4, 2, [1, 1, 2, 2])
    """
    spec = model_spec(formula, data, family, priors, offset)
    return _program(spec, sample_prior, log_lik, y_rep, draws, resolve_method(spec, method)).data


def _program(
    spec: ModelSpec,
    sample_prior: str,
    log_lik,
    y_rep,
    draws: int,
    method: str = "latent",
    threads_per_chain: int | None = None,
    parameterization: str = "auto",
):
    if sample_prior not in ("no", "only"):
        raise BayesmmError(f"sample_prior must be 'no' or 'only', got {sample_prior!r}.")
    # Stan computes log_lik / y_rep by default only where numpy cannot (then only for small
    # fits); elsewhere they come from the draws when LOO, WAIC or a check asks for them.
    small = spec.n_obs * draws <= AUTO_POINTWISE_LIMIT and not pointwise_in_numpy(spec)
    # a prior-only fit exists for its prior predictive draws: Stan makes them while small
    small_y_rep = small or (sample_prior == "only" and spec.n_obs * draws <= AUTO_POINTWISE_LIMIT)
    options = {}
    if method == "marginal":
        build = build_marginal_program  # its cost does not grow with N: no threads needed
    else:
        build = build_program
        if threads_per_chain is not None and spec.additions.any:
            raise UnsupportedModelError(
                "threads_per_chain is not available with weights(), cens(), trunc() or se() "
                "yet; drop threads_per_chain."
            )
        if threads_per_chain is not None:
            options["grainsize"] = default_grainsize(spec.n_obs, threads_per_chain)
        options["weights"] = noncentred_weights(spec, parameterization)
    return build(
        spec,
        **options,
        prior_only=sample_prior == "only",
        log_lik=small if log_lik is None else bool(log_lik),
        y_rep=small_y_rep if y_rep is None else bool(y_rep),
    )


def fit(
    formula: str | ModelFormula,
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
    method: str = "auto",
    threads_per_chain: int | None = None,
    parameterization: str = "auto",
    offset: Any = None,
    algorithm: str = "nuts",
    jacobian: bool | None = None,
    num_paths: int | None = None,
    num_single_draws: int | None = None,
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
    init : float, dict, list of dict or str, optional
        Random-init radius, or initial values for every chain / each chain. By default Stan's
        random inits, except where they cannot work (a gamma, Poisson, negative binomial or
        Tweedie mean under the inverse or identity link): there every mean starts at the mean
        response (:mod:`bayesmm.stan.inits`). ``"pathfinder"``, ``"laplace"`` or
        ``"optimize"`` run that approximation first and start each NUTS chain at one of its
        draws (:mod:`bayesmm.stan.algorithms.inits`).
    parallel_chains : int, optional
        Chains run at once (cmdstanpy; pystan runs all at once).
    show_progress : bool
        Show compile and sampling progress.
    sample_prior : {"no", "only"}
        ``"only"`` switches the likelihood off and samples from the prior: the summary, idata
        and replicated data then describe the prior (a prior predictive check).
    log_lik, y_rep : bool, optional
        Have Stan compute the pointwise log-likelihood / replicated data in generated
        quantities. By default it does only where numpy cannot compute them from the draws (a
        family or term without the numpy hook, see :mod:`bayesmm.model.pointwise`), and there
        only while N x draws is at most 2e7 numbers; otherwise :meth:`Fit.loo`,
        :meth:`Fit.waic`, :meth:`Fit.pp_check` and :func:`compare` compute them from the
        draws on first use (:meth:`Fit.log_likelihood`, :meth:`Fit.posterior_predictive`).
    warn : bool
        Warn about divergences, R-hat > 1.01, bulk ESS < 400 and tree-depth hits.
    method : {"auto", "marginal", "latent"}
        ``"marginal"`` integrates the group-level effects out exactly (gaussian identity models
        whose effects sit in one grouping factor; see :mod:`bayesmm.stan.marginal`) and draws them
        afterwards; ``"latent"`` samples them; ``"auto"`` picks marginal where it applies.
    threads_per_chain : int, optional
        Within-chain parallelism (Stan's ``reduce_sum``) for the latent program; see
        :mod:`bayesmm.stan.parallel`. ``None`` runs the single-thread program.
    parameterization : {"auto", "partial", "information", "rows", "noncentred", "centred"}
        How the latent program samples group-level effects (one compiled program for every
        choice: the choice is data): ``"auto"`` (the default) is ``"information"`` below.
        ``"partial"`` (opt-in: it mixed worse than ``"auto"`` on some models, see
        :mod:`bayesmm.stan.parameterization`) centres each level's effects partly, with
        non-centring weight ``1 / (1 + ratio)``, the ratio being how much more the level's
        data inform the effect than the prior does (data precision from the family's variance
        function over 1 / SD^2 at the estimated SD); a correlated block's levels are centred
        where that ratio is at least 1 and non-centred elsewhere; blocks of fewer than 10
        levels stay non-centred.
        ``"information"`` (the rule before partial centring) centres a whole block of at
        least 10 levels whose median level's ratio is at least 1; ``"rows"`` centres a block
        with at least 10 levels of at least 100 rows each; see
        :mod:`bayesmm.stan.parameterization`. With ``algorithm="optimize"`` or ``"laplace"``,
        ``"auto"`` keeps every block non-centred (a centred hierarchy's joint density has no
        mode).
    offset : str or array-like, optional
        lme4's ``offset=``: a column name or expression such as ``"np.log(exposure)"``
        (evaluated again on new data by ``predict``), or one value per data row; added to any
        ``offset(...)`` terms of the formula with coefficient 1.
    algorithm : {"nuts", "optimize", "laplace", "nested_laplace", "pathfinder", "meanfield", \
"fullrank"}
        ``"nuts"`` samples the posterior. The others are quicker approximations
        (:mod:`bayesmm.stan.algorithms`) returning one chain of ``iter_sampling`` draws in the
        same Fit: ``"optimize"`` the posterior mode by L-BFGS (one draw), ``"laplace"`` a
        normal at the mode of the unconstrained density (CmdStan's: the joint mode of
        hyperparameters and group effects), ``"nested_laplace"`` the group effects integrated
        out by an inner Laplace approximation and a normal for the hyperparameters at the
        mode of that marginal, then the effects from their conditional normal per draw
        (TMB's/INLA's construction; pystan backend only; families whose likelihood is
        log-concave; :mod:`bayesmm.stan.algorithms.nested_laplace`), ``"pathfinder"`` multi-path
        Pathfinder (``num_paths`` paths pooled and PSIS-resampled, as CmdStan's),
        ``"meanfield"``/``"fullrank"`` ADVI (cmdstanpy backend only). ``print(fit)`` says
        which made the draws; their intervals are approximate.
    jacobian : bool, optional
        For ``"optimize"`` and ``"laplace"``: include the Jacobian of the constraining
        transforms (CmdStan's ``jacobian=``). Default False for optimize (with flat priors,
        the maximum likelihood estimate) and True for laplace.
    num_paths : int, optional
        For ``"pathfinder"`` (and ``init="pathfinder"``): independent Pathfinder paths whose
        draws are pooled and resampled by Pareto-smoothed importance weights (CmdStan's
        ``num_paths``, default 4; 1 is single-path Pathfinder). The Pareto k of the pooled
        importance ratios is in ``fit.algorithm_details["pareto_k"]``.
    num_single_draws : int, optional
        For multi-path ``"pathfinder"``: draws from each path's best normal that go into the
        pool before ``iter_sampling`` of them are resampled (cmdstanpy's
        ``num_single_draws``, CmdStan's ``num_draws``; passed to CmdStan on the cmdstanpy
        backend). Default 4000 (CmdStan's is 1000): with 1000 the cbpp fixed-effect means
        missed NUTS's by up to 0.22 posterior SDs on 2 of 4 seeds, with 4000 by at most
        0.11 (benchmarks/README.md, "Pathfinder's draws per path"); the cost is one log
        density evaluation per draw. Not used by single-path Pathfinder (``num_paths=1``),
        which draws ``iter_sampling`` from its one normal.

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
    algorithm = check_algorithm(algorithm)
    if num_paths is not None and algorithm != "pathfinder" and init != "pathfinder":
        raise BayesmmError(
            f"num_paths={num_paths!r} is an option of Pathfinder only; drop it or use "
            "algorithm='pathfinder' (or init='pathfinder')."
        )
    paths = {} if num_paths is None else {"num_paths": num_paths}
    if num_single_draws is not None and algorithm != "pathfinder":
        raise BayesmmError(
            f"num_single_draws={num_single_draws!r} is an option of algorithm='pathfinder' "
            "only; drop it."
        )
    if algorithm == "pathfinder" and num_paths != 1:
        per_path = DEFAULT_SINGLE_DRAWS if num_single_draws is None else num_single_draws
        paths["single_path_draws"] = per_path
    elif num_single_draws is not None:
        raise BayesmmError(
            "num_single_draws sets the draws per path that multi-path Pathfinder pools; "
            "single-path Pathfinder (num_paths=1) draws iter_sampling from its one normal. "
            "Drop num_single_draws or use num_paths > 1."
        )
    checked = check_sampler_arguments(
        chains, iter_warmup, iter_sampling, seed, adapt_delta, max_treedepth, init, parallel_chains
    )
    chains, iter_warmup, iter_sampling = (
        checked[k] for k in ("chains", "iter_warmup", "iter_sampling")
    )
    seed, adapt_delta, max_treedepth = (
        checked[k] for k in ("seed", "adapt_delta", "max_treedepth")
    )
    init, parallel_chains = checked["init"], checked["parallel_chains"]
    spec = model_spec(formula, data, family, priors, offset)
    if sample_prior == "no":
        check_response(spec.response, spec.response_label, spec.family, refuse=True)
    used_method = resolve_method(spec, method)
    centred_blocks(spec, parameterization)  # an unknown value fails here, whatever the method
    if threads_per_chain is not None and int(threads_per_chain) < 1:
        raise BayesmmError(
            f"threads_per_chain must be a positive integer, got {threads_per_chain}."
        )
    if algorithm == "nested_laplace":
        parameterization = _nested_laplace_parameterization(spec, parameterization)
    if algorithm in ("optimize", "laplace") and parameterization in ("auto", "information"):
        # a centred hierarchy's joint density has no mode (it rises without bound as an SD goes
        # to 0): the mode-based approximations need the non-centred form
        parameterization = "noncentred"
    program = _program(
        spec,
        sample_prior,
        log_lik,
        y_rep,
        (chains if algorithm == "nuts" else 1) * iter_sampling,
        used_method,
        threads_per_chain if used_method == "latent" else None,
        parameterization,
    )
    start = None if isinstance(init, str) else init
    if start is None and used_method == "latent":
        start = feasible_init(spec, weights=program.weights)
    runner = get_backend(backend)
    if algorithm == "optimize" and used_method == "latent" and spec.blocks:
        warnings.warn(
            "algorithm='optimize' on a program that samples group-level effects maximizes "
            "their joint density with their SDs, which has no proper maximum (it runs off "
            "towards SD = 0 or explodes); the result is not lme4's estimate. Use "
            "method='marginal' (gaussian models with one grouping factor), or "
            "algorithm='laplace' / 'pathfinder'.",
            SamplingWarning,
            stacklevel=2,
        )
    if algorithm != "nuts":
        return _approximate_fit(
            spec, program, runner, used_method, sample_prior,
            AlgorithmSettings(
                algorithm, draws=iter_sampling, jacobian=jacobian, seed=seed, init=start,
                show_progress=show_progress, **paths,
            ),
        )  # fmt: skip
    if isinstance(init, str):
        init = _approximate_inits(runner, program, init, chains, seed, start, show_progress, paths)
    elif init is None:
        init = start
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
        threads_per_chain=threads_per_chain if used_method == "latent" else None,
    )
    output = runner.sample(program.compiled_code, program.data, settings)
    result = Fit.from_sampler(spec, program, output, settings, prior_only=sample_prior == "only")
    result.method = used_method
    if warn:
        result.warn_about_sampling()
    return result


#: Families whose log-likelihood is concave in the linear predictor (with their usual links),
#: so the conditional density of the group effects has one mode for the inner Newton solve.
NESTED_LAPLACE_FAMILIES = (
    "gaussian", "lognormal", "gamma", "beta", "bernoulli", "binomial", "poisson",
    "negbinomial", "cumulative", "categorical",
)  # fmt: skip


def _nested_laplace_parameterization(spec: ModelSpec, parameterization: str) -> str:
    """The parameterization a nested Laplace fit runs (non-centred: its inner problem is the
    standardised effects), or our error for a model it cannot handle."""
    if parameterization not in ("auto", "information", "noncentred"):
        raise UnsupportedModelError(
            f"algorithm='nested_laplace' integrates out the standardised effects z of "
            f"non-centred blocks; parameterization={parameterization!r} can centre blocks, "
            "which then have none. Use parameterization='auto' (non-centred here) or "
            "'noncentred'."
        )
    family = spec.family.name
    if family not in NESTED_LAPLACE_FAMILIES:
        raise UnsupportedModelError(
            f"algorithm='nested_laplace' does not handle family {family!r}: its likelihood "
            "is not log-concave in the linear predictor (a heavy-tailed, zero-inflated, "
            "hurdle or compound distribution), so the group effects' conditional density "
            "can have several modes and one inner Laplace approximation would misplace "
            "them. Families it handles: "
            f"{', '.join(NESTED_LAPLACE_FAMILIES)}. Use algorithm='nuts' (or 'pathfinder')."
        )
    return "noncentred"


def _approximate_fit(
    spec: ModelSpec, program, runner, used_method: str, sample_prior: str, approx
) -> Fit:
    """An optimization or approximation (``algorithm != "nuts"``) as a one-chain Fit."""
    output = runner.approximate(program.compiled_code, program.data, approx)
    settings = SamplerSettings(
        chains=1,
        iter_warmup=0,
        iter_sampling=approx.n_draws,
        seed=approx.seed,
        init=approx.init,
        show_progress=approx.show_progress,
    )
    result = Fit.from_sampler(spec, program, output, settings, prior_only=sample_prior == "only")
    result.method = used_method
    return result


def _approximate_inits(
    runner, program, init: str, chains: int, seed, start, show_progress, options=None
):
    """Per-chain initial values from the approximation named by ``init``."""
    if init not in APPROXIMATE_INITS:
        raise BayesmmError(
            f"init={init!r} is not an approximation to start from; use one of "
            f"{', '.join(APPROXIMATE_INITS)}, a number (random-init radius) or a dict."
        )
    approx = AlgorithmSettings(
        init, draws=max(100, chains), seed=seed, init=start, show_progress=show_progress,
        **(options or {}),
    )  # fmt: skip
    with warnings.catch_warnings():  # a poor Pareto k matters little for starting points
        warnings.simplefilter("ignore", SamplingWarning)
        output = runner.approximate(program.compiled_code, program.data, approx)
    return chain_inits(output, chains, np.random.default_rng(seed))


def load(path: Any) -> Fit:
    """Load a fit saved with :meth:`Fit.save` (no data and no compilation needed).

    Examples
    --------
    >>> import bayesmm as bmm
    >>> fit = bmm.load("sleep_fit")  # doctest: +SKIP
    >>> fit.fitted(re_formula="~0").head()  # doctest: +SKIP
    """
    from .posterior.io import read_saved_fit

    return Fit(**read_saved_fit(path))


def compare(fits: Any, ic: str = "loo", **kwargs: Any) -> Any:
    """Rank fits by expected log predictive density (ArviZ's ``compare``), best first.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> bmm.compare({"slopes": fit_a, "intercepts": fit_b})  # doctest: +SKIP
    """
    from .posterior.checks import compare as compare_fits

    return compare_fits(fits, ic=ic, **kwargs)
