"""Centred, non-centred or partly centred group-level effects, per level of the latent program.

The latent program is one compiled program whatever the parameterization: it samples every
block's effects as ``matrix[M, J] z`` and its data say how each level's ``z`` relates to the
level's effects ``r`` (``templates/model.stan.j2``):

* **non-centred** (``z ~ std_normal()``, effects = ``(diag(sd) * L * z)'``): right when a
  level's data say little about its effects (few rows, or noisy ones), so that they are
  mostly prior (the funnel between ``sd`` and the effects is then removed). brms and rstanarm
  always use it.
* **centred** (``z`` is the level's coefficients, population value + effect, each level's
  ``~ multi_normal(mu, diag(sd) * L * L' * diag(sd))``): right when every level's effects are
  pinned down by its own data (many rows, or rows that each say much). The non-centred form
  is then the badly shaped one: ``sd`` and ``z`` must move together to keep the effects where
  the data put them, and NUTS needs long trajectories (measured in ``benchmarks/README.md``: a
  binomial GLMM with 1,000 rows per level).
* **partly centred** (uncorrelated blocks; Papaspiliopoulos, Roberts and Skold 2003, 2007;
  Gorinova et al. 2020 use the same family): a weight ``w`` in [0, 1] per level and effect,
  effect ``r = sd^w * z - (1 - w) * mu`` with ``z ~ normal((1 - w) * mu / sd^w, sd^(1 - w))``,
  so that ``r ~ normal(0, sd)`` whatever ``w`` is; ``w = 1`` is the non-centred form and
  ``w = 0`` the centred one. In a gaussian model with data precision ``D`` about a level's
  effect, ``z`` and ``mu`` are independent a posteriori (given ``sd``) at
  ``w = 1 / (1 + D * sd^2)``, one over one plus the level's information ratio.

Correlated blocks (with ``L``) choose per level between the two forms (the data list the
centred and the non-centred levels). Blocks of distributional formulas (sigma ~ ..., zi ~
...) are sampled in the same program with weights 1 (non-centred), and centred on zero.

``parameterization="auto"`` (the default of :func:`bayesmm.fit`) is the whole-block rule
``"information"`` below: every weight of a block 0 or 1. The partial weights are opt-in,
``parameterization="partial"``: in the last full test run (6 Dec 2026) they left the
grouseticks poisson fit at R-hat 1.021 (seeds 3 and 4: 1.0206 and 1.0175, min bulk ESS 199
and 176, against 1.0148 and 1.0096, 270 and 244 with the whole-block rule), they met the
grid's target on fewer cells (44 of 48 against 47), and a variant that centred the nearly
centred weights fully gave one stuck chain on sleepstudy ``(Days || Subject)`` (seed 12:
R-hat 1.58). ``parameterization="partial"`` sets the weights from how
strongly each level's data inform its effects (:func:`information_ratios`): for every level
and effect, the ratio of the data's precision about the effect (the expected Fisher
information of the level's rows, from the family's variance function at the data's mean) to
the prior precision of a level effect (1 / SD^2, with the SD estimated by moments from the
spread of the levels' own estimates). Uncorrelated blocks get ``w = 1 / (1 + ratio)``
(:func:`noncentred_weights`); a correlated block's level is centred where its smallest ratio
is at least :data:`CENTRED_MIN_INFORMATION` (Papaspiliopoulos, Roberts and Skold 2007: above
1 the data dominate and the centred form is better, below 1 the prior does). A block with
fewer than :data:`CENTRED_MIN_LEVELS` levels stays non-centred (with a handful of levels the
SD is poorly determined and may sit near zero, where the centred form has the funnel: the
Arabidopsis example's three regions of ~200 rows each are such a block). The Tweedie family
(variance phi * mu^p with phi and p unknown) is linearised at the data's mean like the count
families, with the variance of a row estimated by moments as the continuous families' noise
is. Families without a variance function here (ordinal, zero-inflated, hurdle) fall back to
the row rule below, as 0/1 weights. A weight that follows the sampled SD,
``1 / (1 + D * sd^2)``, was tried and mixed worse than the fixed weight (benchmarks/README.md).

The crossover was mapped on a grid (``benchmarks/parameterization_grid.py``, tables in
``benchmarks/README.md``): ``y ~ x + (1 | g)`` with 2 to 1,000 rows per level, level SD /
noise 0.25 to 1, gaussian, bernoulli, poisson and lognormal, each of 56 cells fitted centred
and non-centred. Rows alone do not decide it: 20 rows per level call for the centred form at
SD / noise 1 and for the non-centred one at 0.25. The better form changed between estimated
ratios of 0.75 and 1.5; outside that band the other form was 2.7x to 330x slower (min bulk
ESS per second). The binary rule (a whole block centred where the median level's ratio is at
least 1, now ``"information"``) reached 0.8x the better form's ESS per second on 55 cells
(the row rule on 41); in the band it missed now and then (x0.62, x0.29), whatever the
threshold. In that band the partial weights (``"partial"``) gave 1.3x to 3.2x the better
fixed form's ESS per second on 11 of 13 runs, and missed on two (x0.34 with divergences at 2
rows per level, gaussian; x0.38, lognormal seed 3); with an estimated noise and 2-5 rows per
level they missed on 7 of 12 runs (x0.20-0.70, with divergences: the weight's optimum moves
with sigma, which few rows leave loose), so there ``"partial"`` keeps the whole-block rule
(:data:`PARTIAL_MIN_ROWS`). On the whole grid at 30 levels (48 cells, one seed)
``"partial"`` met 0.8x on 44 cells (the binary rule on 47), with a median of 1.21x the better
fixed form on the 34 cells it weighted partly (up to 2.87x); its four misses (x0.59-0.79) are
data-rich cells with weights near 0, at the level of run-to-run noise.

``parameterization="rows"`` is the default before the information rule, a row rule: a block
is centred when its smallest level has at least :data:`CENTRED_MIN_ROWS` rows and it has at
least :data:`CENTRED_MIN_LEVELS` levels.

``"centred"`` / ``"noncentred"`` force one form for every block (all weights 0 / 1). Every
choice gives the same posterior (tests check it, and the joint density at matching points);
only the sampling efficiency differs.

Examples
--------
>>> import pandas as pd
>>> from bayesmm.model.design import build_model_spec
>>> df = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": list("aabb")})
>>> centred_blocks(build_model_spec("y ~ (1 | g)", df), "auto")
(False,)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from ..errors import BayesmmError
from ..model.spec import ModelSpec

#: Accepted values of ``parameterization`` (British and American spellings).
PARAMETERIZATIONS = (
    "auto",
    "partial",
    "information",
    "rows",
    "noncentred",
    "centred",
    "noncentered",
    "centered",
)

#: ``"auto"`` centres a block when the median level's data precision about each effect is at
#: least this many times the prior precision of the effect...
CENTRED_MIN_INFORMATION = 1.0

#: ... and the block has at least this many levels.
CENTRED_MIN_LEVELS = 10

#: ``"partial"`` weights a block partly only where its levels have at least this many rows
#: (median) when the family's noise is estimated (gaussian, lognormal, ...): with 2-5 rows
#: per level the partial form missed 0.8x the better fixed one on 7 of 12 grid runs
#: (x0.20-0.70, with divergences), with 20 it met it on 7 of 8 (benchmarks/README.md);
#: between, unmeasured.
PARTIAL_MIN_ROWS = 10

#: The row rule (``"rows"``, and ``"auto"`` for families without a variance function here):
#: centred when every level has this many rows.
CENTRED_MIN_ROWS = 100

#: Link -> (g, g') as numpy functions of the mean.
_LINK_DERIVATIVES = {
    "identity": (lambda m: m, lambda m: np.ones_like(m)),
    "log": (np.log, lambda m: 1 / m),
    "logit": (lambda m: np.log(m / (1 - m)), lambda m: 1 / (m * (1 - m))),
    "probit": (
        lambda m: stats.norm.ppf(m),
        lambda m: 1 / stats.norm.pdf(stats.norm.ppf(m)),
    ),
    "cloglog": (lambda m: np.log(-np.log1p(-m)), lambda m: -1 / ((1 - m) * np.log1p(-m))),
    "inverse": (lambda m: 1 / m, lambda m: -1 / m**2),
    "sqrt": (np.sqrt, lambda m: 0.5 / np.sqrt(m)),
}

#: Families whose working response and weights :func:`information_ratios` knows.
_TRANSFORMED = ("gaussian", "student", "lognormal", "gamma", "beta")
_COUNTS = ("poisson", "negbinomial")
_TRIALS = ("binomial", "bernoulli")
#: Linearised at the data's mean, with the noise estimated like the continuous families'.
_LINEARISED = ("tweedie",)


def centred_blocks(spec: ModelSpec, parameterization: str = "auto") -> tuple[bool, ...]:
    """For every block of ``spec`` (in order), whether its effects are sampled centred.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    parameterization : {"auto", "information", "rows", "noncentred", "centred"}
        ``"auto"`` (or ``"information"``): centred where the block has at least
        :data:`CENTRED_MIN_LEVELS` levels and its median level's data inform each effect at
        least :data:`CENTRED_MIN_INFORMATION` times more than the prior does (see the
        module's description); ``"rows"``: centred where the smallest level of the block has
        at least :data:`CENTRED_MIN_ROWS` rows and the block has at least
        :data:`CENTRED_MIN_LEVELS` levels. The spellings ``"noncentered"`` / ``"centered"``
        work too.

    Returns
    -------
    tuple of bool

    Raises
    ------
    BayesmmError
        For an unknown value.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmm.model.design import build_model_spec
    >>> df = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": list("aabb")})
    >>> centred_blocks(build_model_spec("y ~ (1 | g)", df), "centred")
    (True,)
    """
    if parameterization not in PARAMETERIZATIONS:
        raise BayesmmError(
            "parameterization must be 'auto', 'partial', 'information', 'rows', 'noncentred' "
            f"or 'centred'; got {parameterization!r}."
        )
    if spec.family.ordinal:  # the intercept is a vector of thresholds: nothing to centre on
        return tuple(False for _ in spec.blocks)
    if parameterization in ("centred", "centered"):
        return tuple(True for _ in spec.blocks)
    if parameterization in ("noncentred", "noncentered"):
        return tuple(False for _ in spec.blocks)
    flags = []
    for block in spec.blocks:
        n_levels = len(block.group_levels)
        if n_levels < CENTRED_MIN_LEVELS:
            flags.append(False)
            continue
        ratios = information_ratios(spec, block) if parameterization != "rows" else None
        if ratios is None:
            flags.append(_smallest_level(block.level_index, n_levels) >= CENTRED_MIN_ROWS)
        else:
            flags.append(bool(np.min(np.median(ratios, axis=0)) >= CENTRED_MIN_INFORMATION))
    return tuple(flags)


def _working_response(spec: ModelSpec):
    """Per row: the response on the link scale (linearised at the data's mean for discrete
    families) and its expected precision ``w`` (None for the transformed continuous families,
    whose noise is estimated afterwards); None for families not known here."""
    family = spec.family
    y = np.asarray(spec.response, dtype=float)
    known = _TRANSFORMED + _COUNTS + _TRIALS + _LINEARISED
    if family.name not in known or family.link not in _LINK_DERIVATIVES:
        return None
    g, dg = _LINK_DERIVATIVES[family.link]
    if family.name in _LINEARISED:
        # Tweedie: y linearised at the data's mean; its variance phi * mu^p there (phi and p
        # unknown) is the pooled within-level variance of the working response, estimated
        # afterwards as for the continuous families (population effects are removed first;
        # rows whose means differ with the group effects make it a slight overestimate, which
        # only errs towards the non-centred form)
        mean = max(float(y.mean()), 1e-12)
        slope = dg(np.asarray(mean))
        return g(np.asarray(mean)) + (y - mean) * slope, None
    if family.name in _TRANSFORMED:
        lower, upper = (1e-6, 1 - 1e-6) if family.name == "beta" else (-np.inf, np.inf)
        value = np.clip(y, lower, upper)
        if family.name == "lognormal":
            return np.log(np.maximum(value, 1e-12)), None
        if family.link in ("log", "sqrt", "inverse"):
            value = np.maximum(value, 1e-12)
        return g(value), None
    trials = np.ones_like(y) if spec.trials is None else np.asarray(spec.trials, dtype=float)
    if family.name not in _TRIALS:
        trials = np.ones_like(y)
    # linearised at the data's mean (kept off the boundary like an empirical logit)
    if family.name in _TRIALS:
        mean = (y.sum() + 0.5) / (trials.sum() + 1.0)
        variance = mean * (1 - mean) / trials  # of the proportion y / n
        observed = y / trials
    else:
        mean = max(y.mean(), 0.5 / len(y))
        variance = np.full_like(y, mean)  # the Poisson variance function
        if family.name == "negbinomial":  # mean + mean^2 / shape, shape by moments
            variance = variance + mean**2 * _negbinomial_overdispersion(spec, y, mean)
        observed = y
    slope = dg(np.asarray(mean))
    return g(np.asarray(mean)) + (observed - mean) * slope, 1 / (variance * slope**2)


def _negbinomial_overdispersion(spec: ModelSpec, y: np.ndarray, mean: float) -> float:
    """1 / shape of a negative binomial response by moments: the pooled variance of the rows
    around the means of the levels of the block with most levels, less the Poisson part, over
    mean^2 (0 when the rows vary less than a Poisson's). Population-level effects left in that
    variance make it an overestimate, which only errs towards the non-centred form; the Poisson
    variance alone overstated a level's information 30-fold on the Arabidopsis data (shape 0.6),
    which centred a block whose chains then mixed worse."""
    block = max(spec.blocks, key=lambda b: len(b.group_levels))
    pooled = _pooled_within_level_variance(y, block)
    return max(0.0, float(pooled - mean) / mean**2)


def _pooled_within_level_variance(values: np.ndarray, block, weight=1.0) -> float:
    """Sum over rows of ``weight * (value - its level's mean)^2`` over rows less levels."""
    level = np.asarray(block.level_index, dtype=np.int64)
    n_levels = len(block.group_levels)
    rows = np.bincount(level, minlength=n_levels).astype(float)
    level_mean = np.bincount(level, weights=values, minlength=n_levels) / np.maximum(rows, 1)
    squares = weight * (values - level_mean[level]) ** 2
    return float(np.sum(squares) / max(1.0, len(values) - n_levels))


def information_ratios(spec: ModelSpec, block) -> np.ndarray | None:
    """Per level and effect of ``block``: the data's precision about the effect over the prior
    precision of a level effect, 1 / SD^2 (None for a family not known here).

    The response is put on the link scale (discrete families: linearised at each level's
    mean, with the expected precision of a row from the family's variance function there;
    continuous families: transformed, with the pooled within-level variance as noise, or the
    known SDs of ``se()``; ``weights()`` multiply a row's precision), the
    population part is removed by least squares, and every level's effect is estimated alone
    from its rows (slopes centred within the level when the block has an intercept). The
    SD of an effect is estimated by moments: the variance of the levels' estimates less their
    mean sampling variance (0 when negative: the effects are not distinguishable from noise).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmm.model.design import build_model_spec
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(20), 50)
    >>> y = rng.normal(size=20)[g] * 2 + rng.normal(size=g.size)
    >>> spec = build_model_spec("y ~ (1 | g)", pd.DataFrame({"y": y, "g": g}))
    >>> bool(np.median(information_ratios(spec, spec.blocks[0])) > 10)
    True
    """
    if block not in spec.blocks:
        raise ValueError("block is not a block of spec")
    working = _working_response(spec)
    if working is None:
        return None
    z, weight = working
    design = spec.fixed_design.reshape(spec.n_obs, -1)
    if design.shape[1]:
        beta = np.linalg.lstsq(design, z, rcond=None)[0]
        residual = z - design @ beta
    else:
        residual = z - z.mean()
    additions = spec.additions
    row_weight = 1.0 if additions.weights is None else np.asarray(additions.weights, dtype=float)
    if weight is None and additions.se is not None and not additions.se_sigma:
        weight = 1 / np.maximum(np.asarray(additions.se, dtype=float) ** 2, 1e-12)  # known SDs
    elif weight is None:  # noise: pooled within-level variance of the residual (first block)
        # weighted: a row of weight w has variance sigma^2 / w
        noise = _pooled_within_level_variance(residual, spec.blocks[0], row_weight)
        weight = np.full(spec.n_obs, 1 / max(noise, 1e-12))
    weight = weight * row_weight  # weights(w): a row of weight w counts w times
    # backfitting: each block's shrunken level effects are removed before the others are
    # estimated (three sweeps), so that a block nested in another is not credited its effects
    fitted = [np.zeros(spec.n_obs) for _ in spec.blocks]
    ratios: dict[int, np.ndarray] = {}
    for _ in range(3):
        for k, other in enumerate(spec.blocks):
            partial = residual - sum(f for j, f in enumerate(fitted) if j != k)
            ratios[k], fitted[k] = _block_ratios(other, partial, weight, spec.n_obs)
    return ratios[spec.blocks.index(block)]


def _block_ratios(block, residual: np.ndarray, weight: np.ndarray, n_obs: int):
    """One block's information ratios (levels x effects) and its shrunken fitted rows."""
    n_levels = len(block.group_levels)
    level = np.asarray(block.level_index, dtype=np.int64)
    columns = block.design.reshape(n_obs, -1)
    has_intercept = any(np.allclose(columns[:, m], 1.0) for m in range(columns.shape[1]))
    ratios = np.zeros((n_levels, columns.shape[1]))
    fitted = np.zeros(n_obs)
    for m in range(columns.shape[1]):
        column = columns[:, m]
        if has_intercept and not np.allclose(column, 1.0):
            sums = np.bincount(level, weights=weight * column, minlength=n_levels)
            weights = np.bincount(level, weights=weight, minlength=n_levels)
            column = column - (sums / np.maximum(weights, 1e-300))[level]
        precision = np.bincount(level, weights=weight * column**2, minlength=n_levels)
        informed = precision > 1e-12
        if informed.sum() < 2:
            continue
        estimate = np.zeros(n_levels)
        estimate[informed] = (
            np.bincount(level, weights=weight * column * residual, minlength=n_levels)[informed]
            / precision[informed]
        )
        spread = np.var(estimate[informed], ddof=1) - np.mean(1 / precision[informed])
        ratios[:, m] = max(0.0, float(spread)) * precision
        fitted += (ratios[:, m] / (1 + ratios[:, m]) * estimate)[level] * column
    return ratios, fitted


def _smallest_level(level_index: np.ndarray, n_levels: int) -> int:
    """Rows of the level with the fewest rows (0 for a level without rows)."""
    counts = np.bincount(np.asarray(level_index, dtype=np.int64), minlength=n_levels)
    return int(counts.min()) if counts.size else 0


def noncentred_weights(spec: ModelSpec, parameterization: str = "auto") -> tuple[np.ndarray, ...]:
    """For every block of ``spec`` (in order), the non-centring weights ``w`` of its levels
    and effects: a levels x effects array in [0, 1] (0 centred, 1 non-centred).

    Parameters
    ----------
    spec : ModelSpec
        The model.
    parameterization : {"auto", "partial", "information", "rows", "noncentred", "centred"}
        ``"partial"``: partial centring (see the module's description): ``w = 1 / (1 + ratio)``
        per level and effect of an uncorrelated block (:func:`information_ratios`; the
        whole-block rule's 0/1 where the family's noise is estimated and the levels have
        fewer than :data:`PARTIAL_MIN_ROWS` rows), and per
        level of a correlated block 0 (centred) where the level's smallest ratio is at least
        :data:`CENTRED_MIN_INFORMATION`, else 1; every weight is 1 in a block with fewer than
        :data:`CENTRED_MIN_LEVELS` levels, and the row rule's 0/1 for a family without a
        variance function. ``"auto"`` (the default) and ``"information"``, ``"rows"``,
        ``"centred"`` and ``"noncentred"``: :func:`centred_blocks`'s choice, every weight of a
        block 0 or 1.

    Returns
    -------
    tuple of numpy.ndarray

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmm.model.design import build_model_spec
    >>> df = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": list("aabb")})
    >>> noncentred_weights(build_model_spec("y ~ (1 | g)", df), "centred")[0].tolist()
    [[0.0], [0.0]]
    """
    flags = centred_blocks(spec, parameterization)  # checks the value
    weights = []
    for block, centred in zip(spec.blocks, flags, strict=True):
        shape = (len(block.group_levels), len(block.effect_names))
        binary = np.full(shape, 0.0 if centred else 1.0)
        if parameterization != "partial" or spec.family.ordinal or shape[0] < CENTRED_MIN_LEVELS:
            weights.append(binary)
            continue
        ratios = information_ratios(spec, block)
        if ratios is None:  # no variance function here: the row rule, as 0/1
            weights.append(binary)
        elif block.correlated:  # one form per level (the forms cannot be mixed within one)
            centred_level = np.min(ratios, axis=1) >= CENTRED_MIN_INFORMATION
            weights.append(np.repeat(np.where(centred_level, 0.0, 1.0)[:, None], shape[1], 1))
        elif _noise_estimated(spec) and _median_rows(block) < PARTIAL_MIN_ROWS:
            # the weight's optimum, 1 / (1 + n sd^2 / sigma^2), moves with sigma too, which a
            # few rows per level leave loose: the whole-block rule there
            weights.append(binary)
        else:
            weights.append(1 / (1 + np.asarray(ratios, dtype=float)))
    return tuple(weights)


def _noise_estimated(spec: ModelSpec) -> bool:
    """Whether the family's row variance is a parameter (sigma, phi, ...) that the fit
    estimates, not known from the mean or from ``se()``."""
    known_se = spec.additions.se is not None and not spec.additions.se_sigma
    return spec.family.name in _TRANSFORMED + _LINEARISED and not known_se


def _median_rows(block) -> float:
    """Median rows per level of ``block``."""
    level = np.asarray(block.level_index, dtype=np.int64)
    return float(np.median(np.bincount(level, minlength=len(block.group_levels))))


def weights_of(
    spec: ModelSpec,
    weights: Sequence[np.ndarray] | None = None,
    centred: Sequence[bool] | None = None,
) -> tuple[np.ndarray, ...]:
    """One levels x effects array of non-centring weights per block of ``spec.all_blocks``:
    ``weights`` where given (the blocks of distributional formulas, which it may leave out,
    get 1), else 0 for the blocks flagged in ``centred`` and 1 for the others (all 1 when
    neither is given).

    Raises
    ------
    BayesmmError
        For weights of the wrong shape, outside [0, 1], or not 0/1 constant within a level
        of a correlated block.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmm.model.design import build_model_spec
    >>> df = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": list("aabb")})
    >>> weights_of(build_model_spec("y ~ (1 | g)", df))[0].tolist()
    [[1.0], [1.0]]
    """
    blocks = spec.all_blocks
    if weights is None:
        flags = centred_flags(spec, centred)
        weights = [np.full((1, 1), 0.0 if c else 1.0) for c in flags]
    out = []
    for i, block in enumerate(blocks):
        shape = (len(block.group_levels), len(block.effect_names))
        given = np.asarray(weights[i], dtype=float) if i < len(weights) else np.ones(shape)
        w = np.broadcast_to(given, shape).astype(float) if given.size == 1 else given
        if w.shape != shape or not np.all((w >= 0) & (w <= 1)):
            raise BayesmmError(
                f"non-centring weights of block {i + 1} ({block.term.text}) must be a "
                f"{shape[0]} x {shape[1]} array in [0, 1]; got shape {w.shape}."
            )
        if block.correlated and not (np.all((w == 0) | (w == 1)) and np.all(w == w[:, :1])):
            raise BayesmmError(
                f"block {i + 1} ({block.term.text}) is correlated: each level is sampled "
                "centred (weight 0) or non-centred (1), the same for all its effects."
            )
        out.append(w)
    return tuple(out)


def centred_flags(spec: ModelSpec, centred: Sequence[bool] | None) -> tuple[bool, ...]:
    """One flag per block of ``spec``: ``centred`` as booleans, or all False when it is
    None or empty (every block non-centred).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmm.model.design import build_model_spec
    >>> df = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": list("aabb")})
    >>> centred_flags(build_model_spec("y ~ (1 | g)", df), None)
    (False,)
    """
    flags = tuple(bool(c) for c in centred) if centred else ()
    return flags or tuple(False for _ in spec.blocks)


def population_columns(spec: ModelSpec, centred: tuple[bool, ...]) -> list[list[int]]:
    """For every block and effect, the column of the population-level design matrix that
    carries the same predictor (0-based), or -1.

    A centred block samples each level's *coefficients*, ``population value + effect``
    (hierarchical centring), not zero-mean effects: with data-rich levels the population
    intercept and the level effects are otherwise tied by a narrow ridge (only their sums are
    well determined), which a diagonal mass matrix crosses slowly. An effect is centred on the
    population coefficient of the column with the same name and the same values; each column
    serves the first centred block that has it (two blocks cannot both absorb the intercept).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmm.model.design import build_model_spec
    >>> df = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [0.0, 1, 0, 1], "g": list("aabb")})
    >>> population_columns(build_model_spec("y ~ x + (1 + x | g)", df), (True,))
    [[0, 1]]
    """
    design = spec.fixed_design.reshape(spec.n_obs, -1)
    claimed: set[int] = set()
    columns: list[list[int]] = []
    for block, is_centred in zip(spec.blocks, centred, strict=True):
        block_design = block.design.reshape(spec.n_obs, -1)
        row = []
        for m, effect in enumerate(block.effect_names):
            k = spec.fixed_names.index(effect) if effect in spec.fixed_names else -1
            usable = (
                is_centred
                and k >= 0
                and k not in claimed
                and np.allclose(design[:, k], block_design[:, m])
            )
            row.append(k if usable else -1)
            if usable:
                claimed.add(k)
        columns.append(row)
    return columns
