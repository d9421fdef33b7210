"""ModelSpec: the frozen, backend-free description of a model.

It is the contract between stages: :mod:`bayesmm.model.design` builds it from formula and data,
:mod:`bayesmm.stan.codegen` reads it to write Stan code, and :mod:`bayesmm.posterior.fit` reads
it to name things. It also keeps what prediction needs to evaluate new data the same way.

Examples
--------
>>> import pandas as pd, bayesmm as bmm
>>> df = pd.read_csv("examples/data/sleepstudy.csv")  # doctest: +SKIP
>>> spec = bmm.model_spec("Reaction ~ Days + (Days | Subject)", df)  # doctest: +SKIP
>>> spec.blocks[0].effect_names  # doctest: +SKIP
('Intercept', 'Days')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .additions import ResponseAdditions
from .covariance_structures import CovarianceStructure, get_structure
from .families import Family
from .formula import ParsedFormula, RandomTerm


@dataclass(frozen=True, eq=False)
class RandomBlock:
    """One bar term evaluated on data: a non-centred hierarchical block.

    Attributes
    ----------
    term : RandomTerm
        The parsed bar term.
    effect_names : tuple of str
        Names of the varying effects (``("Intercept", "Days")``).
    group_levels : tuple of str
        Levels of the grouping factor, in model order.
    level_index : numpy.ndarray
        For each observation, the 0-based position of its level in ``group_levels``.
    design : numpy.ndarray
        The N x M matrix of varying-effect columns (Z for this block).
    new_data_evaluator : Any
        formulae's design object of the bar's left side (evaluates Z on new data identically).
    smooth : bayesmm.model.smooths.SmoothBasis or None
        For the penalized part of a smooth ``s(x)``: its basis (one level, structure
        ``smooth``); None for bar terms.
    factor_dtypes : tuple of str
        The dtype of each grouping column in the fitted data (``("int64",)``), so prediction
        can match ``308.0`` to the level ``308`` and say what the levels were.
    """

    term: RandomTerm
    effect_names: tuple[str, ...]
    group_levels: tuple[str, ...]
    level_index: np.ndarray
    design: np.ndarray
    new_data_evaluator: Any = None
    smooth: Any = None
    factor_dtypes: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        """The group label as written after expansion (``"Subject"``, ``"batch:cask"``)."""
        return self.term.group

    @property
    def correlated(self) -> bool:
        """Whether the effects have a correlation matrix (``|``, ``cs``, ``ar1`` ...) or not
        (``||``, ``diag``, ``homdiag``)."""
        return self.term.correlated and len(self.effect_names) > 1

    @property
    def structure(self) -> CovarianceStructure:
        """The covariance structure of the block (:mod:`bayesmm.model.covariance_structures`)."""
        return get_structure(self.term.structure)

    @property
    def description(self) -> str:
        """One line for comments and summaries."""
        n_effects = len(self.effect_names)
        noun = "effect" if n_effects == 1 else "effects"
        kind = "correlated " if self.correlated else ("independent " if n_effects > 1 else "")
        if self.term.structure != "us":
            kind = ""
        text = (
            f"{self.term.text}: {n_effects} {kind}{noun} over {len(self.group_levels)} levels "
            f"({', '.join(self.effect_names)})"
        )
        if self.term.structure != "us":
            text += f"; {self.structure.title}"
        return text


class PopulationPart:
    """What a formula's population-level part offers (the mean's and each distributional
    parameter's): needs a ``fixed_names`` attribute."""

    fixed_names: tuple[str, ...]

    @property
    def has_intercept(self) -> bool:
        """Whether the population-level part has an intercept."""
        return bool(self.fixed_names) and self.fixed_names[0] == "Intercept"

    @property
    def slope_names(self) -> tuple[str, ...]:
        """Population-level effects other than the intercept (the Stan vector ``b``)."""
        return self.fixed_names[1:] if self.has_intercept else self.fixed_names


@dataclass(frozen=True, eq=False)
class DparSpec(PopulationPart):
    """A distributional parameter with its own formula (``sigma ~ x + (1 | g)``).

    Like the mean, it has a population-level part and random-effect blocks, on the scale of
    its own link (``log`` for positive parameters, ``logit`` for probabilities).

    Attributes
    ----------
    name : str
        The family parameter (``"sigma"``, ``"zi"``, ...).
    link : str
        Its link (a key of :data:`bayesmm.model.links.LINKS`).
    formula : ParsedFormula
        The parsed right-hand side (its response is the parameter's name).
    fixed_names : tuple of str
        Population-level columns (``"Intercept"`` first when present).
    fixed_design : numpy.ndarray
        N x K population-level design matrix (uncentred).
    blocks : tuple of RandomBlock
        One per bar term of the parameter's formula.
    new_data_evaluator : Any
        formulae's design object for the fixed part.
    """

    name: str
    link: str
    formula: ParsedFormula
    fixed_names: tuple[str, ...]
    fixed_design: np.ndarray
    blocks: tuple[RandomBlock, ...]
    new_data_evaluator: Any = None

    def label(self, name: str) -> str:
        """brms's name of one of its effects: ``sigma_Intercept``, ``sigma_x``."""
        return f"{self.name}_{name}"


@dataclass(frozen=True)
class PriorTarget:
    """The prior of one Stan parameter (vectorised over its elements).

    Attributes
    ----------
    parameter : str
        Stan name (``"b"``, ``"Intercept"``, ``"sd_1"``, ``"L_1"``, ``"sigma"``).
    prior_class : str
        brms class (``"b"``, ``"Intercept"``, ``"sd"``, ``"cor"``, ``"sigma"``).
    group : str
        Group label for ``sd``/``cor``; empty otherwise.
    coefs : tuple of str
        The user's names of the parameter's elements (empty for scalars).
    distribution : str
        Stan distribution name without ``_lpdf`` (``"student_t"``).
    arg_names : tuple of str
        Names of the distribution's arguments (``("df", "location", "scale")``).
    values : numpy.ndarray
        Array (n_elements, n_args) of hyperparameters (n_elements = 1 for scalars).
    source : tuple of str
        ``"default"`` or ``"user"`` per element.
    positions : tuple of int
        0-based positions of ``coefs`` in the parameter when the parameter's elements have
        priors of different distributions (one target per distribution); empty when this
        target covers the whole parameter.
    dpar : str
        The distributional parameter whose formula the target belongs to (``"sigma"``);
        empty for the mean's and the family parameters' priors.
    """

    parameter: str
    prior_class: str
    group: str
    coefs: tuple[str, ...]
    distribution: str
    arg_names: tuple[str, ...]
    values: np.ndarray
    source: tuple[str, ...]
    positions: tuple[int, ...] = ()
    dpar: str = ""

    @property
    def is_vector(self) -> bool:
        """Whether the parameter has one element per coefficient."""
        return bool(self.coefs)


@dataclass(frozen=True, eq=False)
class ModelSpec(PopulationPart):
    """Everything the later stages need to know about a model.

    Attributes
    ----------
    formula : ParsedFormula
        The parsed formula.
    family : Family
        Family with its link.
    response : numpy.ndarray
        Response values (float or int).
    trials : numpy.ndarray or None
        Binomial trials.
    response_label : str
        The response as written.
    response_levels : tuple of str
        For a bernoulli response given as a two-level category: (reference, modelled) levels.
    fixed_names : tuple of str
        Population-level column names, ``"Intercept"`` first when present.
    fixed_design : numpy.ndarray
        The N x K population-level design matrix (uncentred).
    blocks : tuple of RandomBlock
        One per bar term.
    priors : tuple of PriorTarget
        Every prior of the model.
    n_dropped : int
        Rows dropped for missing values.
    new_data_evaluator : Any
        formulae's design object for the fixed part (evaluates new data identically).
    user_priors : tuple of bayesmm.model.user_priors.Prior
        The priors the user set (already folded into ``priors``; kept for the prior table).
    offset : numpy.ndarray or None
        The summed offsets per row (``offset(...)`` terms and ``fit(offset=)``), added to the
        linear predictor with coefficient 1.
    offset_terms : tuple of str
        The offset expressions, evaluated again on new data by ``predict``.
    offset_from_array : bool
        Whether ``offset=`` was given as an array (new data cannot be evaluated for it).
    additions : ResponseAdditions
        weights, censoring, truncation and known SDs of the response
        (:mod:`bayesmm.model.additions`).
    dpars : tuple of DparSpec
        Family parameters with their own formulas (from :func:`bayesmm.bf`); the others stay
        one scalar each.
    model_frame : pandas.DataFrame or None
        The data the model was fitted on: the rows kept after dropping missing values and
        the columns the formulas name (as brms's ``fit$data``), e.g. for
        :func:`bayesmm.posterior.conditional_effects.conditional_effects_table`. ``None`` for
        specs saved before it existed.
    """

    formula: ParsedFormula
    family: Family
    response: np.ndarray
    trials: np.ndarray | None
    response_label: str
    response_levels: tuple[str, ...]
    fixed_names: tuple[str, ...]
    fixed_design: np.ndarray
    blocks: tuple[RandomBlock, ...]
    priors: tuple[PriorTarget, ...]
    n_dropped: int = 0
    new_data_evaluator: Any = None
    user_priors: tuple[Any, ...] = ()
    offset: np.ndarray | None = None
    offset_terms: tuple[str, ...] = ()
    offset_from_array: bool = False
    additions: ResponseAdditions = ResponseAdditions()
    dpars: tuple[DparSpec, ...] = ()
    smooths: tuple[Any, ...] = ()
    autocor: Any = None
    model_frame: Any = field(default=None, repr=False)

    def dpar(self, name: str) -> DparSpec | None:
        """The formula part of family parameter ``name`` (None when it is a scalar)."""
        return next((d for d in self.dpars if d.name == name), None)

    @property
    def scalar_aux(self) -> tuple[Any, ...]:
        """Family parameters without a formula (one scalar parameter each)."""
        modelled = {d.name for d in self.dpars}
        return tuple(a for a in self.family.aux if a.name not in modelled)

    @property
    def all_blocks(self) -> tuple[RandomBlock, ...]:
        """The mean's blocks, then each distributional parameter's, in Stan's numbering
        (block ``i`` is ``sd_i``, ``r_i``, ...)."""
        return self.blocks + tuple(b for d in self.dpars for b in d.blocks)

    def block_owner(self, position: int) -> str:
        """Which linear predictor block ``position`` (0-based, of :attr:`all_blocks`) adds to:
        ``""`` for the mean, else the parameter's name."""
        if position < len(self.blocks):
            return ""
        position -= len(self.blocks)
        for d in self.dpars:
            if position < len(d.blocks):
                return d.name
            position -= len(d.blocks)
        raise IndexError(position)

    @property
    def n_obs(self) -> int:
        """Number of observations used in the fit."""
        return int(self.response.shape[0])

    def group_labels(self) -> list[str]:
        """Distinct group labels in order of first appearance."""
        labels: list[str] = []
        for block in self.blocks:
            if block.group not in labels:
                labels.append(block.group)
        return labels

    def blocks_of(self, group: str) -> list[tuple[int, RandomBlock]]:
        """The (1-based Stan index, block) pairs of one group label."""
        return [(i + 1, b) for i, b in enumerate(self.blocks) if b.group == group]
