"""Default priors, scaled to the data, as :class:`~bayesmm.model.spec.PriorTarget` values.

The rules (also in the README):

* ``Intercept`` (the intercept at the column means of X): ``student_t(3, median(y), s_y)``
  for a gaussian identity model, ``student_t(3, 0, 2.5)`` on the link scale otherwise (brms).
* ``b`` (each slope k): ``normal(0, 2.5 * sd(y) / sd(x_k))`` for gaussian identity,
  ``normal(0, 2.5 / sd(x_k))`` otherwise (rstanarm's autoscaling; proper, so prior predictive
  checks and simulation-based calibration work).
* ``sd`` (group-level SDs) and ``sigma``: half ``student_t(3, 0, s_y)`` for gaussian identity,
  ``student_t(3, 0, 2.5)`` for the SDs of other families (brms).
* ``cor``: ``lkj_corr_cholesky(1)``, uniform over correlation matrices.
* ``rho`` (the correlation of a ``cs``/``homcs``/``ar1`` block): ``uniform(-1, 1)``, cut to
  the values where the correlation matrix is valid ((-1 / (M - 1), 1) for compound symmetry).
  The common SD of ``homdiag``/``homcs``/``ar1`` (Stan ``tau_i``) is class ``sd`` like the
  others.

Here s_y = max(2.5, mad(y)) with mad scaled to the normal SD (brms's rule), except for a tiny
response (mad < 0.025), where the floor 2.5 shrinks to 100 x mad so the priors keep scaling
with the data (brms keeps 2.5). "gaussian identity" includes the Student t with identity link
(brms scales both). Other family parameters take the priors named in their registry entry
(:mod:`bayesmm.model.families`; the README's family table).

Hyperparameters travel to Stan as data, so changing a prior's numbers never recompiles.

Examples
--------
>>> DISTRIBUTIONS["student_t"]
('df', 'location', 'scale')
"""

from __future__ import annotations

import numpy as np

from .families import Family
from .spec import DparSpec, PriorTarget, RandomBlock

#: Distribution name -> names of its arguments (Stan's order).
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "normal": ("location", "scale"),
    "student_t": ("df", "location", "scale"),
    "cauchy": ("location", "scale"),
    "exponential": ("rate",),
    "gamma": ("shape", "rate"),
    "lkj_corr_cholesky": ("eta",),
    "double_exponential": ("location", "scale"),
    "logistic": ("location", "scale"),
    "lognormal": ("location", "scale"),
    "inv_gamma": ("shape", "scale"),
    "weibull": ("shape", "scale"),
    "beta": ("alpha", "beta"),
    "uniform": ("lower", "upper"),
}

#: Arguments that must be positive (declared ``<lower=0>`` in Stan's data block).
POSITIVE_ARGUMENTS = frozenset({"df", "scale", "rate", "shape", "eta", "alpha", "beta"})

#: Where each distribution puts its mass: ``"real"`` (the whole line), ``"positive"``
#: (0, inf), ``"unit"`` (0, 1), ``"interval"`` (between its own two arguments) or
#: ``"cholesky_corr"`` (Cholesky factors of correlation matrices).
SUPPORT: dict[str, str] = {
    "normal": "real",
    "student_t": "real",
    "cauchy": "real",
    "double_exponential": "real",
    "logistic": "real",
    "exponential": "positive",
    "gamma": "positive",
    "lognormal": "positive",
    "inv_gamma": "positive",
    "weibull": "positive",
    "beta": "unit",
    "uniform": "interval",
    "lkj_corr_cholesky": "cholesky_corr",
}

#: Other names users write for a distribution (brms's ``lkj``, R's ``laplace``...).
ALIASES: dict[str, str] = {
    "lkj": "lkj_corr_cholesky",
    "lkj_corr": "lkj_corr_cholesky",
    "laplace": "double_exponential",
    "student": "student_t",
}


#: Below this MAD the floor of the data scale shrinks with the data (see response_scale).
SMALL_SCALE = 0.025


def response_scale(response: np.ndarray) -> float:
    """brms's data scale, max(2.5, MAD of the response scaled to a normal SD), except that
    for a tiny response (MAD < 0.025) the floor 2.5 becomes 100 x MAD, so the priors scale
    with the data all the way down (a response in kilometres or in metres gets the same
    model).

    Examples
    --------
    >>> response_scale(np.array([1.0, 2.0, 3.0]))
    2.5
    >>> round(response_scale(np.array([1.0, 2.0, 3.0]) * 1e-6), 10)
    0.00014826
    """
    y = np.asarray(response, dtype=float)
    mad = 1.4826 * float(np.median(np.abs(y - np.median(y))))
    if mad == 0:
        spread = float(np.std(y, ddof=1)) if y.size > 1 else 0.0
        if 0 < spread * 1.4826 < SMALL_SCALE:  # MAD 0 but a tiny spread: scale to that
            return 100 * spread
        return 2.5
    return max(min(2.5, 100 * mad), mad)


def _target(parameter, prior_class, group, coefs, distribution, rows, dpar="") -> PriorTarget:
    values = np.atleast_2d(np.asarray(rows, dtype=float))
    return PriorTarget(
        dpar=dpar,
        parameter=parameter,
        prior_class=prior_class,
        group=group,
        coefs=tuple(coefs),
        distribution=distribution,
        arg_names=DISTRIBUTIONS[distribution],
        values=values,
        source=tuple("default" for _ in range(max(1, len(coefs)))),
    )


def ar_prior() -> PriorTarget:
    """Default prior of the AR(1) coefficient ``ar`` of an ``ar()`` term: uniform(-1, 1),
    i.e. flat inside the stationary bounds, as brms's bounded ``ar`` class."""
    return _target("ar", "ar", "", (), "uniform", [-1, 1])


def default_priors(
    family: Family,
    response: np.ndarray,
    fixed_names: tuple[str, ...],
    fixed_design: np.ndarray,
    blocks: tuple[RandomBlock, ...],
) -> tuple[PriorTarget, ...]:
    """Build the default priors of a model (see the module docstring for the rules).

    Parameters
    ----------
    family : Family
        Family and link; decides whether priors scale with the response.
    response : numpy.ndarray
        The response values.
    fixed_names : tuple of str
        Population-level column names (``"Intercept"`` first when present).
    fixed_design : numpy.ndarray
        The population-level design matrix.
    blocks : tuple of RandomBlock
        The random-effect blocks.

    Returns
    -------
    tuple of PriorTarget

    Examples
    --------
    >>> from bayesmm.model.families import get_family
    >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    >>> priors = default_priors(get_family("poisson"), np.array([1, 2, 0, 4]),
    ...                         ("Intercept", "x"), X, ())
    >>> [p.parameter for p in priors]
    ['Intercept', 'b']
    """
    y = np.asarray(response, dtype=float)
    scaled = family.is_canonical_gaussian
    scale_y = response_scale(y) if scaled else 2.5
    has_intercept = bool(fixed_names) and fixed_names[0] == "Intercept"
    priors: list[PriorTarget] = []
    if has_intercept and family.ordinal:  # K - 1 ordered thresholds, each student_t(3, 0, 2.5)
        thresholds = tuple(str(k) for k in range(1, int(np.max(y))))
        rows = [[3, 0.0, 2.5]] * len(thresholds)
        priors.append(_target("Intercept", "Intercept", "", thresholds, "student_t", rows))
    elif has_intercept:
        location = float(np.median(y)) if scaled else 0.0
        priors.append(
            _target("Intercept", "Intercept", "", (), "student_t", [3, location, scale_y])
        )
    slope_columns = fixed_design[:, 1:] if has_intercept else fixed_design
    slope_names = fixed_names[1:] if has_intercept else fixed_names
    if slope_names:
        spread = float(np.std(y, ddof=1)) if scaled and y.size > 1 else 1.0
        spread = spread if spread > 0 else 1.0
        rows = []
        for column in slope_columns.T:
            sd_x = float(np.std(column, ddof=1)) if column.size > 1 else 0.0
            rows.append([0.0, 2.5 * spread / sd_x if sd_x > 0 else 2.5 * spread])
        priors.append(_target("b", "b", "", slope_names, "normal", rows))
    for index, block in enumerate(blocks, start=1):
        structure = block.structure
        if structure.common_sd:  # homdiag, homcs, ar1: one SD for every effect
            prior_class = "sds" if structure.name == "smooth" else "sd"
            priors.append(
                _target(
                    f"tau_{index}", prior_class, block.group, (), "student_t", [3, 0.0, scale_y]
                )
            )
        else:
            rows = [[3, 0.0, scale_y]] * len(block.effect_names)
            priors.append(
                _target(f"sd_{index}", "sd", block.group, block.effect_names, "student_t", rows)
            )
        if structure.has_rho:  # cs, homcs, ar1: uniform over (-1, 1), cut to where R is valid
            priors.append(_target(f"rho_{index}", "rho", block.group, (), "uniform", [-1, 1]))
        elif block.correlated:
            priors.append(_target(f"L_{index}", "cor", block.group, (), "lkj_corr_cholesky", [1]))
    context = {
        "scale_y": response_scale(y) if scaled or family.name in ("gaussian", "student") else 2.5
    }
    for aux in family.aux:
        distribution, args = aux.default_prior
        row = [context[a] if isinstance(a, str) else a for a in args]
        priors.append(_target(aux.name, aux.name, "", (), distribution, row))
    return tuple(priors)


def default_dpar_priors(dpars: tuple[DparSpec, ...], n_mean_blocks: int) -> tuple[PriorTarget, ...]:
    """Default priors of the distributional parameters' formulas, on their link scales.

    As for a non-gaussian mean (brms): ``Intercept_<dpar> ~ student_t(3, 0, 2.5)``, each slope
    ``normal(0, 2.5 / sd(x_k))``, group-level SDs half ``student_t(3, 0, 2.5)``, correlations
    ``lkj_corr_cholesky(1)``. Blocks are numbered after the mean's (``sd_<i>``).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmm.model.design import build_model_spec
    >>> from bayesmm.model.distributional import bf
    >>> spec = build_model_spec(bf("y ~ 1", sigma="~ x"), pd.DataFrame(
    ...     {"y": [1.0, 2, 4, 3], "x": [0.0, 1, 2, 3]}))
    >>> [(p.parameter, p.prior_class, p.dpar) for p in spec.priors if p.dpar]
    [('Intercept_sigma', 'Intercept', 'sigma'), ('b_sigma', 'b', 'sigma')]
    """
    priors: list[PriorTarget] = []
    index = n_mean_blocks
    for dpar in dpars:
        name = dpar.name
        if dpar.has_intercept:
            priors.append(
                _target(f"Intercept_{name}", "Intercept", "", (), "student_t", [3, 0, 2.5], name)
            )
        if dpar.slope_names:
            columns = dpar.fixed_design[:, 1:] if dpar.has_intercept else dpar.fixed_design
            rows = []
            for column in columns.T:
                sd_x = float(np.std(column, ddof=1)) if column.size > 1 else 0.0
                rows.append([0.0, 2.5 / sd_x if sd_x > 0 else 2.5])
            priors.append(_target(f"b_{name}", "b", "", dpar.slope_names, "normal", rows, name))
        for block in dpar.blocks:
            index += 1
            rows = [[3, 0.0, 2.5]] * len(block.effect_names)
            priors.append(
                _target(
                    f"sd_{index}", "sd", block.group, block.effect_names, "student_t", rows, name
                )
            )
            if block.correlated:
                priors.append(
                    _target(f"L_{index}", "cor", block.group, (), "lkj_corr_cholesky", [1], name)
                )
    return tuple(priors)
