"""Simulate responses from a model, with the model's own Stan code.

How: the model's program (the very binary :func:`bayesmm.fit` runs) is run with Stan's
``fixed_param`` sampler, its parameters held at given values (passed as the chain's initial
values) and ``compute_y_rep = 1``, so the generated-quantities block draws the responses with
the family's ``_rng`` function. Simulation and fitting therefore share one likelihood and one
linear predictor and cannot disagree. Each replicate is one ``fixed_param`` chain of one
iteration, so every replicate has its own parameter values.

Parameter values come either from the user, keyed by summary labels (``b_Intercept``, ``b_x``,
``sd_g__Intercept``, ``cor_g__Intercept__x``, ``sigma``) and mapped to Stan's parameters through
the :class:`~bayesmm.model.spec.ModelSpec` (standardised group effects ``z ~ std_normal()`` are
drawn afresh for every replicate, so each replicate has new group-level effects), or from the
priors (:mod:`bayesmm.workflows.prior_draws`, independent numpy draws). The values reported back
(``params``) are the ones Stan computed from those parameters, named with
:mod:`bayesmm.model.naming`.

Residual autocorrelation (``+ ar(time = t, gr = g)``) is the one exception to responses from
Stan: the program's ``y_rep`` is brms's one-step-ahead replicate, conditional on the *observed*
previous response (what a posterior predictive check of the fit wants), not a new series. The
responses of an ``ar()`` model are therefore generated in numpy, forward in time within each
group, through the family's ``simulate`` hook
(:func:`bayesmm.workflows.prior_draws.simulate_responses`): row n at
``eta[n] + ar * (y[prev(n)] - eta[prev(n)])`` with its predecessor's simulated response, the
first row of a group at ``eta[n]``, ``eta`` computed in numpy from the same Stan parameter values
(``ar`` from its prior, uniform(-1, 1) by default, or the given ``params["ar"]``). Stan still
computes the reported parameter values.

Prior draws are restricted to parameters that can generate data: a draw that gives some row
an impossible mean (a gamma mean at or below zero under the inverse link, checked in numpy by
:func:`bayesmm.workflows.prior_draws.can_generate`), a draw whose responses Stan cannot generate (a
Poisson log-rate above ``log(2^30)``, where ``poisson_log_rng`` refuses) and a replicate whose
responses fail the family's own check (a beta response of exactly 0 or 1) are drawn again;
``n_redrawn`` counts them. Where the likelihood is zero (the impossible means) this changes
nothing for calibration. Neither do the rng limits: a draw is refused when a row that gets a
count has a rate >= 2^30, and a kept data set's counts pin those rates below 2^30 (the
likelihood above is below exp(-450) of its maximum unless a count is within 0.1% of 2^30), so
the posterior of the kept draws is the fitted one (``calibration/README.md``, hurdle_poisson).
Simulation always runs on the pystan backend (it is always installed); fits may use either
backend, the binary is shared by the code hash.

Examples
--------
>>> import bayesmm as bmm
>>> df = {"x": [0.0, 1, 2, 3] * 5, "g": list("aaaabbbbccccddddeeee"), "y": [0.0] * 20}
>>> sim = bmm.simulate("y ~ x + (1 | g)", df, "gaussian", seed=1,
...                    params={"b_Intercept": 1, "b_x": 2, "sd_g__Intercept": 0.5,
...                            "sigma": 1})  # doctest: +SKIP
>>> sim.data().head()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, UnsupportedModelError, suggest
from ..model.design import build_model_spec, check_columns, with_placeholder_response
from ..model.distributional import as_model_formula
from ..model.families import Family
from ..model.naming import (
    common_sd_label,
    correlation_pairs,
    effect_label,
    posterior_variables,
    rho_label,
    summary_labels,
    threshold_names,
)
from ..model.spec import ModelSpec, PriorTarget
from ..stan.backends.base import SamplerSettings
from ..stan.backends.chain_pool import stan_call_error
from ..stan.backends.pystan_backend import (
    PystanBackend,
    run_outside_event_loop,
    without_fit_files,
)
from ..stan.codegen import build_program
from .prior_draws import (
    draw_generating_parameters,
    draw_standardised_effects,
    simulate_responses,
)

#: Rounds of redrawing prior draws whose responses Stan could not generate.
MAX_REDRAW_ROUNDS = 50


# ---------------------------------------------------------------- labels <-> Stan parameters
def predictor_means(spec: ModelSpec) -> np.ndarray:
    """Column means of the slope columns of X (what the Stan program centres by)."""
    columns = spec.fixed_design[:, 1:] if spec.has_intercept else spec.fixed_design
    return columns.mean(axis=0) if columns.shape[1] else np.zeros(0)


def _zero_draws(spec: ModelSpec) -> dict[str, np.ndarray]:
    """Backend-shaped draws (1 chain, 1 draw) of zeros, to list labels through naming."""
    draws: dict[str, np.ndarray] = {"b": np.zeros((1, 1, len(spec.slope_names)))}
    if spec.family.ordinal:
        draws["b_Intercept"] = np.zeros((1, 1, len(spec.response_levels) - 1))
    elif spec.has_intercept:
        draws["b_Intercept"] = np.zeros((1, 1))
    for dpar in spec.dpars:
        draws[f"b_{dpar.name}"] = np.zeros((1, 1, len(dpar.slope_names)))
        if dpar.has_intercept:
            draws[f"b_{dpar.name}_Intercept"] = np.zeros((1, 1))
    for aux in spec.scalar_aux:
        draws[aux.name] = np.zeros((1, 1))
    if spec.autocor is not None:
        draws["ar"] = np.zeros((1, 1))
    for i, block in enumerate(spec.all_blocks, start=1):
        m, j = len(block.effect_names), len(block.group_levels)
        draws[f"sd_{i}"] = np.zeros((1, 1, m))
        draws[f"r_{i}"] = np.zeros((1, 1, j, m))
        draws[f"Cor_{i}"] = np.zeros((1, 1, m, m))
        draws[f"rho_{i}"] = np.zeros((1, 1))
    return draws


def parameter_labels(spec: ModelSpec) -> list[str]:
    """The summary labels of a model (``b_*``, ``sd_*``, ``cor_*``, family parameters).

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ x + (1 + x | g)", {"y": [1.0, 2, 3, 4], "x": [0.0, 1, 0, 1],
    ...                                              "g": list("aabb")})
    >>> parameter_labels(spec)  # doctest: +NORMALIZE_WHITESPACE
    ['b_Intercept', 'b_x', 'sd_g__Intercept', 'sd_g__x', 'cor_g__Intercept__x', 'sigma']
    """
    return list(summary_labels(posterior_variables(spec, _zero_draws(spec))))


def stan_values_from_labels(
    spec: ModelSpec, params: Mapping[str, float], rng: np.random.Generator
) -> dict[str, Any]:
    """Stan parameter values (an ``init``) from values keyed by summary labels.

    ``b_Intercept`` is the intercept on the scale of X; Stan's ``Intercept`` is at the column
    means, so it becomes ``b_Intercept + means(X) . b``. Correlations not given are 0. The
    standardised group effects ``z`` are drawn from ``std_normal``.

    Raises
    ------
    DataError
        A label the model does not have, a missing value, a negative SD, a value at or below a
        family parameter's bound, or correlations that do not form a correlation matrix.
    """
    labels = parameter_labels(spec)
    for label in params:
        if label not in labels:
            raise DataError(
                f"Parameter '{label}' is not in the model.{suggest(label, labels)} "
                f"Its parameters are: {', '.join(labels)}."
            )
    required = [lab for lab in labels if not lab.startswith("cor_")]
    missing = [lab for lab in required if lab not in params]
    if missing:
        raise DataError(
            f"Values are missing for {', '.join(missing)}: give every parameter of "
            f"{', '.join(required)} (correlations default to 0), or params=None to draw them "
            "from the priors."
        )
    value = {lab: float(v) for lab, v in params.items()}
    # the mean's labels: b_x; a categorical model's mean is its second category's (b_mu2_x)
    prefix = "mu2_" if spec.family.categorical else ""
    b = np.array([value[f"b_{prefix}{name}"] for name in spec.slope_names], dtype=float)
    out: dict[str, Any] = {"b": b.tolist()}
    shift = float(predictor_means(spec) @ b)
    if spec.family.ordinal:  # b_Intercept[k] = Intercept[k] + means(X) . b (thresholds)
        thresholds = [value[f"b_{label}"] - shift for label in threshold_names(spec)]
        if not np.all(np.diff(thresholds) > 0):
            raise DataError(
                "The thresholds "
                + ", ".join(f"b_{label}" for label in threshold_names(spec))
                + " must increase (P(y <= k) = F(threshold_k - eta) grows with k)."
            )
        out["Intercept"] = thresholds
    elif spec.has_intercept:
        out["Intercept"] = value[f"b_{prefix}Intercept"] + shift
    for dpar in spec.dpars:  # b_sigma_Intercept, b_sigma_x
        b_dpar = np.array([value[f"b_{dpar.label(n)}"] for n in dpar.slope_names], dtype=float)
        out[f"b_{dpar.name}"] = b_dpar.tolist()
        if dpar.has_intercept:
            means = dpar.fixed_design[:, 1:].mean(axis=0)
            out[f"Intercept_{dpar.name}"] = value[f"b_{dpar.name}_Intercept"] + float(
                means @ b_dpar
            )
    for aux in spec.scalar_aux:
        upper = getattr(aux, "upper", None)
        if not value[aux.name] > aux.lower or (upper is not None and value[aux.name] >= upper):
            raise DataError(
                f"Parameter '{aux.name}' = {value[aux.name]:g} is outside its range "
                f"({aux.lower:g}, {upper if upper is not None else 'inf'})."
            )
        out[aux.name] = value[aux.name]
    if spec.autocor is not None:  # real<lower=-1, upper=1> ar
        if not -1.0 < value["ar"] < 1.0:
            raise DataError(
                f"Parameter 'ar' = {value['ar']:g} of {spec.autocor.term.text} is outside "
                "(-1, 1), where the AR(1) residuals are stationary."
            )
        out["ar"] = value["ar"]
    for i, block in enumerate(spec.all_blocks, start=1):
        structure = block.structure
        names = [effect_label(spec, i - 1, name) for name in block.effect_names]
        sd_labels = (
            [common_sd_label(block)]
            if structure.common_sd
            else [f"sd_{block.group}__{e}" for e in names]
        )
        sds = [value[label] for label in sd_labels]
        negative = [label for label, s in zip(sd_labels, sds, strict=True) if s < 0]
        if negative:
            raise DataError(f"Standard deviations must be >= 0: {', '.join(negative)}.")
        out[f"tau_{i}" if structure.common_sd else f"sd_{i}"] = (
            sds[0] if structure.common_sd else sds
        )
        if structure.has_rho:
            low, high = structure.rho_bounds(len(block.effect_names))
            rho = value[rho_label(block)]
            if not low < rho < high:
                raise DataError(
                    f"{rho_label(block)} = {rho:g} is outside ({low:.4g}, {high:g}), where the "
                    f"correlation matrix of {block.term.text} is valid."
                )
            out[f"rho_{i}"] = rho
        elif block.correlated:
            m = len(block.effect_names)
            corr = np.eye(m)
            for a, c in correlation_pairs(block.effect_names):
                name = f"cor_{block.group}__{names[a]}__{names[c]}"
                corr[a, c] = corr[c, a] = value.get(name, 0.0)
            try:
                out[f"L_{i}"] = np.linalg.cholesky(corr).tolist()
            except np.linalg.LinAlgError:
                raise DataError(
                    f"The correlations given for {block.term.text} do not form a positive "
                    "definite correlation matrix; make them smaller in absolute value."
                ) from None
    out.update(draw_standardised_effects(spec, rng))
    return out


# ---------------------------------------------------------------- running generated quantities
def _fixed_param(code: str, data: dict[str, Any], inits: list[dict], seed: int, quiet: bool):
    with contextlib.ExitStack() as stack:
        if quiet:
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
            stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
        model, was_cached, _ = PystanBackend().build_model(code, data, seed)
        import httpstan.services_stub

        pool = httpstan.services_stub.executor
        try:
            fit = without_fit_files(
                lambda: model.fixed_param(num_chains=len(inits), num_samples=1, init=inits)
            )
        except (ValueError, RuntimeError) as err:
            raise stan_call_error(err, pool, len(inits), "simulating") from None
    settings = SamplerSettings(chains=len(inits), iter_warmup=0, iter_sampling=1)
    return PystanBackend()._collect(fit, settings, was_cached, 0.0, 0.0).draws


def generate_quantities(
    spec: ModelSpec, inits: list[dict[str, Any]], seed: int, show_progress: bool = False
) -> dict[str, np.ndarray]:
    """Run the model's generated quantities once per parameter set (``fixed_param``).

    Parameters
    ----------
    spec : ModelSpec
        The model (its data fixes the design; its response is not used).
    inits : list of dict
        Stan parameter values, one dict per replicate.
    seed : int
        Stan's random seed (replicate k uses chain k's stream).
    show_progress : bool
        Let pystan print its progress and messages.

    Returns
    -------
    dict
        Stan name -> array (replicates, 1, *shape); ``y_rep`` holds the responses (NaN where
        Stan could not generate them).
    """
    # prior_only = 1: the model block skips the likelihood of the placeholder response, which
    # can be -inf at valid parameters (a beta mean within 1e-17 of 1) and would stop the whole
    # fixed_param run at initialisation; the responses come from generated quantities either way
    program = build_program(spec, prior_only=True, log_lik=False, y_rep=True)
    return run_outside_event_loop(
        _fixed_param, program.compiled_code, program.data, inits, int(seed), not show_progress
    )


def stan_generates_responses(spec: ModelSpec) -> bool:
    """Whether the program's ``y_rep`` is a draw of new data from the parameters alone.

    Not for ``ar()`` models: their ``y_rep`` conditions on the observed previous response
    (brms's posterior predictive), so :func:`simulate_spec` generates their series in numpy
    (:func:`bayesmm.workflows.prior_draws.simulate_responses`). Not for ``trunc()`` models
    either: the program does not draw their replicates (``compute_y_rep = 0``), numpy draws
    them from the truncated law.
    """
    return spec.autocor is None and not spec.additions.truncated


def _failed_replicates(draws: dict[str, np.ndarray]) -> np.ndarray:
    y_rep = np.asarray(draws["y_rep"], dtype=float)
    return ~np.isfinite(y_rep.reshape(y_rep.shape[0], -1)).all(axis=1)


def _invalid_responses(spec: ModelSpec, draws: dict[str, np.ndarray]) -> np.ndarray:
    """Replicates whose responses the family's own check rejects, so they could not be fitted:
    a beta response of exactly 0 or 1, which ``beta_proportion_rng`` returns when the mean is
    closer to 0 or 1 than a double resolves. Redrawing them conditions on a property of the
    data alone, which keeps calibration ranks uniform (a rank is uniform given any data set)."""
    y_rep = np.asarray(draws["y_rep"], dtype=float)
    y_rep = y_rep.reshape(y_rep.shape[0], -1)
    invalid = np.zeros(y_rep.shape[0], dtype=bool)
    for k, responses in enumerate(y_rep):
        if not np.all(np.isfinite(responses)):
            continue
        try:
            spec.family.validate(responses, spec.response_label, spec.trials)
        except ValueError:
            invalid[k] = True
    return invalid


@dataclass
class SimulatedValues:
    """What one call of :func:`simulate_spec` returns (replicates along the first axis).

    Attributes
    ----------
    responses : numpy.ndarray
        (replicates, N) simulated responses.
    labelled : dict
        Summary label -> (replicates,) parameter values, as Stan computed them.
    draws : dict
        Stan name -> (replicates, *shape): every parameter, transformed parameter and
        generated quantity of the replicates.
    n_redrawn : int
        Prior draws redrawn because Stan could not generate their responses.
    """

    responses: np.ndarray
    labelled: dict[str, np.ndarray]
    draws: dict[str, np.ndarray] = field(repr=False)
    n_redrawn: int = 0


def refuse_censoring(spec: ModelSpec) -> None:
    """Refuse to simulate a ``cens()`` model: its simulated responses would be uncensored
    values while the data keep their censoring codes (a left-censored row would say "y is at
    most" a value drawn from the model), so a fit of them is not the model the user wrote."""
    if spec.additions.censored:
        label = spec.additions.label("cens")
        raise UnsupportedModelError(
            f"simulate(), sbc() and power() do not cover censored responses (cens({label})) "
            "yet: the simulated values would be uncensored while the data keep their censoring "
            "codes. Simulate the model without cens() and censor the simulated values yourself."
        )


def simulate_spec(
    spec: ModelSpec,
    params: Mapping[str, float] | None,
    rng: np.random.Generator,
    stan_seed: int,
    n_sims: int = 1,
    show_progress: bool = False,
) -> SimulatedValues:
    """Simulate ``n_sims`` response vectors for the design of ``spec`` (see the module notes).

    ``params=None`` draws every replicate's parameters from ``spec.priors``.
    """
    refuse_censoring(spec)
    n_redrawn = 0

    def prior_draw() -> dict[str, Any]:
        nonlocal n_redrawn
        values, rejected = draw_generating_parameters(spec, rng)
        n_redrawn += rejected
        return values

    inits = [
        prior_draw() if params is None else stan_values_from_labels(spec, params, rng)
        for _ in range(n_sims)
    ]
    results: list[dict[str, np.ndarray] | None] = [None] * n_sims
    pending = list(range(n_sims))
    for round_ in range(MAX_REDRAW_ROUNDS):
        draws = generate_quantities(
            spec, [inits[k] for k in pending], stan_seed + round_, show_progress
        )
        if not stan_generates_responses(spec):
            draws["y_rep"] = np.stack([simulate_responses(spec, inits[k], rng) for k in pending])[
                :, None
            ]
        failed = _failed_replicates(draws)
        invalid = _invalid_responses(spec, draws)  # finite responses the family rejects
        for position, k in enumerate(pending):
            if not (failed[position] or invalid[position]):
                results[k] = {name: value[position, 0] for name, value in draws.items()}
        if params is not None and failed.any():
            raise DataError(
                "Stan could not simulate responses from the parameter values given (the "
                f"family's random-number function refused them, e.g. a {spec.family.name} mean "
                "too large): choose smaller effects or a different link."
            )
        pending = [k for position, k in enumerate(pending) if failed[position] or invalid[position]]
        if not pending:
            break
        if params is None:  # new parameters; given parameters keep theirs, new responses
            n_redrawn += len(pending)
            for k in pending:
                inits[k] = prior_draw()
    else:
        raise DataError(
            f"After {MAX_REDRAW_ROUNDS} redraws, Stan still could not simulate responses from "
            "prior draws: the priors put too much mass on impossible values; narrow them."
        )
    stacked = {name: np.stack([r[name] for r in results])[:, None] for name in results[0]}
    labelled = {
        label: values[:, 0]
        for label, values in summary_labels(posterior_variables(spec, stacked)).items()
    }
    responses = stacked["y_rep"][:, 0]
    if spec.family.response_type == "int":
        responses = np.round(responses).astype(np.int64)
    return SimulatedValues(
        responses=responses,
        labelled=labelled,
        draws={name: value[:, 0] for name, value in stacked.items()},
        n_redrawn=n_redrawn,
    )


# ---------------------------------------------------------------- the user-facing function
def with_priors(spec: ModelSpec, priors: Any) -> tuple[ModelSpec, bool]:
    """Replace priors of ``spec`` when ``priors`` is a sequence of PriorTarget values.

    Targets replace the spec's prior of the same Stan parameter (the code is unchanged, as
    hyperparameters are data). Returns the spec and whether ``priors`` was consumed here.
    """
    if priors is None or isinstance(priors, (str, Mapping)):
        return spec, False
    items = list(priors) if isinstance(priors, (list, tuple)) else []
    if not items or not all(isinstance(p, PriorTarget) for p in items):
        return spec, False
    by_parameter = {p.parameter: p for p in items}
    unknown = set(by_parameter) - {p.parameter for p in spec.priors}
    if unknown:
        raise DataError(
            f"Prior for unknown parameter(s) {', '.join(sorted(unknown))}; the model's priors "
            f"are on {', '.join(p.parameter for p in spec.priors)}."
        )
    new = tuple(by_parameter.get(p.parameter, p) for p in spec.priors)
    return replace(spec, priors=new), True


def build_spec(formula: str, data: Any, family: str | Family, priors: Any) -> ModelSpec:
    """:func:`bayesmm.model_spec`, also accepting a list of PriorTarget values as priors.

    The response may be missing from ``data`` (a design without responses yet): a placeholder
    the family accepts stands in (:func:`~bayesmm.model.design.with_placeholder_response`).
    """
    data = with_placeholder_response(as_model_formula(formula).formula, data, family)
    spec = build_model_spec(formula, data, family, None, response_placeholder=True)
    spec, consumed = with_priors(spec, priors)
    if not consumed and priors is not None:
        spec = build_model_spec(formula, data, family, priors, response_placeholder=True)
    return spec


def used_rows(formula_spec: ModelSpec, data: Any) -> pd.DataFrame:
    """The rows of ``data`` the model uses (missing values dropped, as the design stage does)."""
    frame = with_placeholder_response(formula_spec.formula.text, data, formula_spec.family)
    used = check_columns(formula_spec.formula, frame)
    subset = frame[used]
    return frame.loc[~subset.isna().any(axis=1).to_numpy()].reset_index(drop=True)


def write_response(frame: pd.DataFrame, spec: ModelSpec, response: np.ndarray) -> pd.DataFrame:
    """A copy of ``frame`` with the response column(s) replaced by ``response``."""
    out = frame.copy()
    formula_response = spec.formula.response
    target = formula_response.expression.strip()
    if target not in out.columns:
        raise DataError(
            f"The response '{formula_response.label}' is an expression, so the simulated values "
            "cannot be written back into a column: make it a column of the data first."
        )
    values: Any = response
    family = spec.family
    if family.ordinal or family.categorical:  # codes 1..K; categories if given as categories
        original = out[target]
        if isinstance(original.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
            original.dtype
        ):
            labels = np.asarray(spec.response_levels, dtype=object)
            values = pd.Categorical(
                labels[np.asarray(response, dtype=int) - 1],
                categories=list(spec.response_levels),
                ordered=family.ordinal,
            )
    elif spec.response_levels:
        values = np.asarray(spec.response_levels, dtype=object)[np.asarray(response, dtype=int)]
    out[target] = values
    if formula_response.kind == "cbind":
        second = formula_response.second.strip()
        if second not in out.columns:
            raise DataError(
                f"cbind(): the failures '{second}' are an expression; make them a column first."
            )
        out[second] = np.asarray(spec.trials) - np.asarray(response)
    return out


@dataclass
class Simulation:
    """Simulated responses with the parameter values that produced them.

    Attributes
    ----------
    spec : ModelSpec
        The model.
    responses : numpy.ndarray
        (n_sims, N) simulated responses, one row per replicate.
    params : pandas.DataFrame
        One row per replicate, one column per summary label (``b_x``, ``sd_g__Intercept``...).
    group_effects : dict
        ``r_<group>`` -> array (n_sims, levels, effects) of the group-level effects used.
    rows : pandas.DataFrame
        The rows of the data the model uses.
    n_redrawn : int
        Prior draws redrawn because Stan could not generate responses from them.
    """

    spec: ModelSpec
    responses: np.ndarray
    params: pd.DataFrame
    group_effects: dict[str, np.ndarray]
    rows: pd.DataFrame
    n_redrawn: int = 0

    def data(self, replicate: int = 0) -> pd.DataFrame:
        """The data with the response column replaced by replicate ``replicate``.

        Examples
        --------
        >>> sim.data(0)["y"].head()  # doctest: +SKIP
        """
        return write_response(self.rows, self.spec, self.responses[replicate])


def simulate(
    formula: str,
    data: Any,
    family: str | Family = "gaussian",
    params: Mapping[str, float] | None = None,
    priors: Any = None,
    seed: int | None = None,
    *,
    n_sims: int = 1,
    show_progress: bool = False,
) -> Simulation:
    """Simulate new responses for the design in ``data``, with the model's own Stan code.

    Parameters
    ----------
    formula : str
        The model's formula; its response column only fixes the family's support (and scales
        the default priors of a gaussian model).
    data : pandas.DataFrame or dict
        The design: predictors, grouping factors (and binomial trials). The response column
        may be left out; simulated values fill it in ``Simulation.data(i)``.
    family : str or Family
        The family (with its link).
    params : dict, optional
        Parameter values keyed by summary labels: ``b_Intercept``, ``b_<effect>``,
        ``sd_<group>__<effect>``, ``cor_<group>__<effect>__<effect>`` (default 0) and the
        family's parameters (``sigma``). Group effects are drawn anew for every replicate.
        ``None`` draws all parameters from the priors. The labels are the summary's: a
        formula for a family parameter has ``b_sigma_Intercept``, ``b_sigma_x``,
        ``sd_g__sigma_Intercept``; a cumulative model ``b_Intercept[1]``, ... (increasing);
        a categorical one ``b_mu2_Intercept``, ``b_mu3_x``, ...; an ``ar()`` term's
        coefficient ``ar``, in (-1, 1) (``parameter_labels(spec)`` lists them).
    priors : optional
        Priors to draw from (as :func:`bayesmm.fit` takes them, or a list of
        :class:`~bayesmm.model.spec.PriorTarget`); the model's defaults if omitted.
    seed : int, optional
        Makes the simulation reproducible.
    n_sims : int
        Number of replicates.
    show_progress : bool
        Show pystan's output.

    Returns
    -------
    Simulation
        ``responses`` (n_sims x N), ``params`` (one row per replicate), ``data(i)``.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> df = {"x": [0.0, 1, 2, 3] * 5, "g": list("aaaabbbbccccddddeeee"), "y": [0] * 20}
    >>> sim = bmm.simulate("y ~ x + (1 | g)", df, "poisson", seed=2, n_sims=3,
    ...                    params={"b_Intercept": 0.5, "b_x": 0.2,
    ...                            "sd_g__Intercept": 0.3})  # doctest: +SKIP
    >>> sim.responses.shape  # doctest: +SKIP
    (3, 20)
    """
    spec = build_spec(formula, data, family, priors)
    sequence = np.random.SeedSequence(seed)
    rng = np.random.default_rng(sequence.spawn(1)[0])
    stan_seed = int(sequence.generate_state(1)[0] % (2**31 - 1 - MAX_REDRAW_ROUNDS)) + 1
    values = simulate_spec(spec, params, rng, stan_seed, n_sims, show_progress)
    named = posterior_variables(spec, {k: v[:, None] for k, v in values.draws.items()})
    group_effects = {
        name: array[:, 0] for name, array in named.variables.items() if name.startswith("r_")
    }
    return Simulation(
        spec=spec,
        responses=values.responses,
        params=pd.DataFrame(values.labelled),
        group_effects=group_effects,
        rows=used_rows(spec, data),
        n_redrawn=values.n_redrawn,
    )
