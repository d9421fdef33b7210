"""Centred or non-centred group-level effects, per block of the latent program.

The latent program samples each block's effects in one of two equivalent forms:

* **non-centred** (``z ~ std_normal()``, effects = ``(diag(sd) * L * z)'``): right when a
  level has few rows, so that its effects are mostly prior (the funnel between ``sd`` and the
  effects is then removed). brms and rstanarm always use it.
* **centred** (the effects themselves are parameters, each level's row
  ``~ multi_normal(0, diag(sd) * L * L' * diag(sd))``): right when every level has many rows,
  so that its effects are pinned down by its own data. The non-centred form is then the badly
  shaped one: ``sd`` and ``z`` must move together to keep the effects where the data put them,
  and NUTS needs long trajectories (measured in ``benchmarks/README.md``: a binomial GLMM with
  1,000 rows per level).

``parameterization="auto"`` (the default of :func:`bayesmm.fit`) centres a block when its
smallest level has at least :data:`CENTRED_MIN_ROWS` rows and it has at least
:data:`CENTRED_MIN_LEVELS` levels, and keeps every other block non-centred (with a handful of
levels the SD is poorly determined and may sit near zero, where the centred form has the
funnel: the Arabidopsis example's three regions of ~200 rows each are such a block).
``"centred"`` / ``"noncentred"`` force one form for every block. Both forms give the same
posterior (a test checks it); only the sampling efficiency differs.

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

from ..errors import BayesmmError
from ..model.spec import ModelSpec

#: Accepted values of ``parameterization`` (British and American spellings).
PARAMETERIZATIONS = ("auto", "noncentred", "centred", "noncentered", "centered")

#: ``"auto"`` centres a block whose smallest level has at least this many rows...
CENTRED_MIN_ROWS = 100

#: ... and which has at least this many levels.
CENTRED_MIN_LEVELS = 10


def centred_blocks(spec: ModelSpec, parameterization: str = "auto") -> tuple[bool, ...]:
    """For every block of ``spec`` (in order), whether its effects are sampled centred.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    parameterization : {"auto", "noncentred", "centred"}
        ``"auto"``: centred where the smallest level of the block has at least
        :data:`CENTRED_MIN_ROWS` rows and the block has at least :data:`CENTRED_MIN_LEVELS`
        levels. The spellings ``"noncentered"`` / ``"centered"`` work too.

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
            f"parameterization must be 'auto', 'noncentred' or 'centred'; got {parameterization!r}."
        )
    if spec.family.ordinal:  # the intercept is a vector of thresholds: nothing to centre on
        return tuple(False for _ in spec.blocks)
    if parameterization in ("centred", "centered"):
        return tuple(True for _ in spec.blocks)
    if parameterization in ("noncentred", "noncentered"):
        return tuple(False for _ in spec.blocks)
    return tuple(
        len(block.group_levels) >= CENTRED_MIN_LEVELS
        and _smallest_level(block.level_index, len(block.group_levels)) >= CENTRED_MIN_ROWS
        for block in spec.blocks
    )


def _smallest_level(level_index: np.ndarray, n_levels: int) -> int:
    """Rows of the level with the fewest rows (0 for a level without rows)."""
    counts = np.bincount(np.asarray(level_index, dtype=np.int64), minlength=n_levels)
    return int(counts.min()) if counts.size else 0


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
