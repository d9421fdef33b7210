"""From Stan's names to the user's: built once from the ModelSpec, never by parsing strings.

:func:`posterior_variables` turns the backend's draws (``b``, ``sd_1``, ``r_1``, ``Cor_1``,
...) into named posterior variables (``b`` over effect names, ``sd_Subject``, ``r_Subject``
over levels x effects, ``cor_Subject`` over effect pairs); :func:`summary_labels` gives the
brms-style labels of every scalar (``b_Days``, ``sd_Subject__Intercept``,
``cor_Subject__Intercept__Days``, ``sigma``).

Examples
--------
>>> group_dims("Subject")
('Subject_level', 'Subject_effect')
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .spec import ModelSpec, RandomBlock


def group_dims(group: str) -> tuple[str, str]:
    """Dimension names of a group's level and effect axes."""
    return f"{group}_level", f"{group}_effect"


@dataclass(frozen=True)
class NamedPosterior:
    """Posterior variables with their dims and coords, ready for ArviZ.

    Attributes
    ----------
    variables : dict
        Name -> array (chains, draws, *shape).
    dims : dict
        Name -> list of dimension names.
    coords : dict
        Dimension name -> list of labels.
    label_map : dict
        Summary labels of structured blocks that :func:`summary_labels` renames or (``None``)
        leaves out (:func:`structure_label_map`).
    """

    variables: dict[str, np.ndarray]
    dims: dict[str, list[str]]
    coords: dict[str, list[str]]
    label_map: dict[str, str | None] = field(default_factory=dict)


def common_sd_label(block: RandomBlock) -> str:
    """Summary label of the one SD of a ``homdiag``/``homcs``/``ar1`` block (``sd_g__ar1``), or
    of a smooth (brms's ``sds_sx_1``)."""
    if block.term.structure == "smooth":
        return f"sds_{block.group}"
    return f"sd_{block.group}__{block.term.structure}"


def rho_label(block: RandomBlock) -> str:
    """Summary label (and posterior variable) of a ``cs``/``homcs``/``ar1`` correlation."""
    return f"rho_{block.group}"


def structure_label_map(spec: ModelSpec) -> dict[str, str | None]:
    """How the summary shows structured blocks: a common SD once (``sd_g__ar1`` instead of
    one equal ``sd_g__<effect>`` per effect) and a structured correlation as its ``rho_g``
    alone (the pairwise ``cor_g__a__b`` follow from it and stay in the posterior only).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmm.model.design import build_model_spec
    >>> df = pd.DataFrame({"y": [1.0, 2, 3, 4], "t": pd.Categorical(["a", "b"] * 2),
    ...                    "g": list("xxyy")})
    >>> structure_label_map(build_model_spec("y ~ ar1(0 + t | g)", df))
    {'sd_g__ta': 'sd_g__ar1', 'sd_g__tb': None, 'cor_g__ta__tb': None}
    """
    out: dict[str, str | None] = {}
    for block in spec.blocks:
        structure = block.structure
        names = block.effect_names
        if structure.common_sd:
            for k, name in enumerate(names):
                out[f"sd_{block.group}__{name}"] = common_sd_label(block) if k == 0 else None
        if structure.has_rho:
            for a, c in correlation_pairs(names):
                out[f"cor_{block.group}__{names[a]}__{names[c]}"] = None
    return out


def correlation_pairs(effect_names: tuple[str, ...]) -> list[tuple[int, int]]:
    """Index pairs (i < j) of a block's correlations, in brms's order (by column)."""
    return [(i, j) for j in range(len(effect_names)) for i in range(j)]


def threshold_names(spec: ModelSpec) -> list[str]:
    """``Intercept[1]``, ..., ``Intercept[K-1]`` of an ordinal model (brms's names)."""
    return [f"Intercept[{k}]" for k in range(1, len(spec.response_levels))]


def effect_label(spec: ModelSpec, position: int, name: str) -> str:
    """An effect's name in ``r_<group>`` / ``sd_<group>``: as written for the mean's blocks,
    prefixed with the parameter for a distributional formula's (``sigma_Intercept``, so the
    summary shows brms's ``sd_g__sigma_Intercept``)."""
    owner = spec.block_owner(position) or ("mu2" if spec.family.categorical else "")
    return f"{owner}_{name}" if owner else name


def posterior_variables(spec: ModelSpec, draws: dict[str, np.ndarray]) -> NamedPosterior:
    """Name the backend's draws after the user's columns, levels and effects."""
    variables: dict[str, np.ndarray] = {}
    dims: dict[str, list[str]] = {}
    coords: dict[str, list[str]] = {}
    parts = []
    fixed_names = list(spec.fixed_names)
    if spec.family.ordinal:  # thresholds: brms's b_Intercept[1], b_Intercept[2], ...
        thresholds = np.asarray(draws["b_Intercept"])
        parts.append(thresholds if thresholds.ndim == 3 else thresholds[..., None])
        fixed_names = threshold_names(spec) + list(spec.slope_names)
    elif spec.has_intercept:
        parts.append(np.asarray(draws["b_Intercept"])[..., None])
    if spec.slope_names:
        parts.append(np.asarray(draws["b"]))
    if spec.family.categorical:  # the mean's formula is the second category's: b_mu2_x
        fixed_names = [f"mu2_{name}" for name in fixed_names]
    for dpar in spec.dpars:  # brms's b_sigma_Intercept, b_sigma_x, ...
        if dpar.has_intercept:
            parts.append(np.asarray(draws[f"b_{dpar.name}_Intercept"])[..., None])
        if dpar.slope_names:
            parts.append(np.asarray(draws[f"b_{dpar.name}"]))
        fixed_names += [dpar.label(name) for name in dpar.fixed_names]
    if parts:
        variables["b"] = np.concatenate(parts, axis=-1)
        dims["b"] = ["effect"]
        coords["effect"] = fixed_names
    for aux in spec.scalar_aux:
        variables[aux.name] = np.asarray(draws[aux.name])
    if spec.autocor is not None:  # ar(): the AR(1) coefficient (brms's ar[1])
        variables["ar"] = np.asarray(draws["ar"])
    all_blocks = spec.all_blocks
    groups = list(dict.fromkeys(block.group for block in all_blocks))
    for group in groups:
        level_dim, effect_dim = group_dims(group)
        blocks = [(i + 1, b) for i, b in enumerate(all_blocks) if b.group == group]
        effects = [
            effect_label(spec, i - 1, name) for i, block in blocks for name in block.effect_names
        ]
        coords[level_dim] = list(blocks[0][1].group_levels)
        coords[effect_dim] = effects
        variables[f"sd_{group}"] = np.concatenate(
            [np.asarray(draws[f"sd_{i}"]) for i, _ in blocks], axis=-1
        )
        dims[f"sd_{group}"] = [effect_dim]
        variables[f"r_{group}"] = np.concatenate(
            [np.asarray(draws[f"r_{i}"]) for i, _ in blocks], axis=-1
        )
        dims[f"r_{group}"] = [level_dim, effect_dim]
        cor_values, cor_names = [], []
        for i, block in blocks:
            if not block.correlated:
                continue
            matrix = np.asarray(draws[f"Cor_{i}"])
            names = [effect_label(spec, i - 1, name) for name in block.effect_names]
            for a, c in correlation_pairs(block.effect_names):
                cor_values.append(matrix[..., a, c])
                cor_names.append(f"{names[a]}__{names[c]}")
        if cor_values:
            cor_dim = f"{group}_cor"
            variables[f"cor_{group}"] = np.stack(cor_values, axis=-1)
            dims[f"cor_{group}"] = [cor_dim]
            coords[cor_dim] = cor_names
        for i, block in blocks:
            if block.structure.has_rho:  # one structured block per group (design.py checks)
                variables[rho_label(block)] = np.asarray(draws[f"rho_{i}"])
    return NamedPosterior(variables, dims, coords, structure_label_map(spec))


def summary_labels(named: NamedPosterior) -> dict[str, np.ndarray]:
    """Flatten named variables into brms labels -> (chains, draws) arrays, in summary order.

    Order: ``b_*``, then per group ``sd_*``, ``cor_*`` and ``rho_*``, then family parameters.
    """
    out: dict[str, np.ndarray] = {}
    if "b" in named.variables:
        for k, name in enumerate(named.coords["effect"]):
            out[f"b_{name}"] = named.variables["b"][..., k]
    family_parameters = []
    rename = named.label_map

    def put(label: str, values: np.ndarray) -> None:
        label = rename.get(label, label)
        if label is not None:
            out[label] = values

    for var, values in named.variables.items():
        if var.startswith("sd_"):
            effects = named.coords[named.dims[var][0]]
            for k, name in enumerate(effects):
                put(f"{var}__{name}", values[..., k])
        elif var.startswith("cor_"):
            pairs = named.coords[named.dims[var][0]]
            for k, name in enumerate(pairs):
                put(f"{var}__{name}", values[..., k])
        elif var.startswith("rho_"):
            out[var] = values
        elif var != "b" and not var.startswith("r_"):
            family_parameters.append(var)
    for var in family_parameters:
        out[var] = named.variables[var]
    return out
