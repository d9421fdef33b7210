"""Render the exact marginal Gaussian LMM (``templates/marginal.stan.j2``) and its data.

Only the sufficient statistics of :mod:`bayesmm.stan.marginal` travel to Stan, plus the rows when
pointwise log-likelihood or replicated data are asked for (small data sets, by default). The
program declares the same parameters and generated quantities as the latent program (``b``,
``b_Intercept``, ``sigma``, ``sd_i``, ``Cor_i``, ``r_i``), so :mod:`bayesmm.model.naming` and
:class:`bayesmm.posterior.fit.Fit` treat both alike.

Examples
--------
>>> import pandas as pd
>>> from bayesmm.model.design import build_model_spec
>>> df = pd.DataFrame({"y": [1.0, 2, 3, 5], "g": list("aabb")})
>>> spec = build_model_spec("y ~ (1 | g)", df)
>>> program = build_marginal_program(spec, log_lik=False, y_rep=False)
>>> program.data["N_rows"], "exact marginal likelihood" in program.code
(0, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._version import __version__
from ..model.spec import ModelSpec
from .codegen import (
    StanProgram,
    _environment,
    _render_prior,
    covariance_context,
    prior_data,
    stan_functions,
)
from .marginal import known_se, sufficient_statistics


def render_marginal_code(spec: ModelSpec) -> str:
    """The marginal program (with comments) for ``spec``; see :mod:`bayesmm.stan.marginal`."""
    blocks = []
    before: list[str] = []  # sizes of the earlier blocks, as Stan data names (M_1, ...)
    for i, block in enumerate(spec.blocks, start=1):
        offset = " + ".join(before)
        blocks.append(
            {
                "id": i,
                "term": block.term.text,
                "description": block.description,
                "effects": ", ".join(block.effect_names),
                "correlated": block.correlated,
                **covariance_context(block, i),
                # positions as expressions of data, so sizes never enter the compiled code
                "start": f"({offset} + 1)" if before else "1",
                "end": f"({offset} + M_{i})" if before else f"M_{i}",
            }
        )
        before.append(f"M_{i}")
    effect_names = [name for block in spec.blocks for name in block.effect_names]
    context = {
        "version": __version__,
        "formula": spec.formula.text,
        "n_obs": spec.n_obs,
        "n_levels": len(spec.blocks[0].group_levels),
        "group": spec.blocks[0].group,
        "response_label": spec.response_label,
        "fixed_names": spec.fixed_names,
        "slope_names": spec.slope_names,
        "has_intercept": spec.has_intercept,
        "effect_names": effect_names,
        "n_effects_label": len(effect_names),
        "blocks": blocks,
        "priors": [_render_prior(target, spec) for target in spec.priors],
        "functions": stan_functions(spec),
        "weighted": spec.additions.weights is not None,
        "weights_label": spec.additions.label("weights"),
        "n_total": "sum_weights" if spec.additions.weights is not None else "N",
        "has_offset": spec.offset is not None,
        "offset_label": " + ".join(spec.offset_terms) or "offset= of fit()",
        "known_se": known_se(spec),
        "se_label": spec.additions.label("se"),
    }
    return _environment().get_template("marginal.stan.j2").render(**context)


def build_marginal_data(
    spec: ModelSpec, *, prior_only: bool = False, log_lik: bool = True, y_rep: bool = True
) -> dict[str, Any]:
    """The data dict of :func:`render_marginal_code`'s program.

    The rows (``Y``, ``X``, ``group``, ``Z``, and ``weights``, ``offsets``, ``se`` where the
    model has them) are included only when ``log_lik`` or ``y_rep`` is true; otherwise they
    have zero length and nothing of size N is serialised.
    """
    stats = sufficient_statistics(spec)
    n_levels = len(spec.blocks[0].group_levels)
    data: dict[str, Any] = {
        "N": spec.n_obs,
        "K": len(spec.fixed_names),
        "J": n_levels,
        "Q": stats.n_effects,
    }
    for i, block in enumerate(spec.blocks, start=1):
        data[f"J_{i}"] = n_levels
        data[f"M_{i}"] = len(block.effect_names)
    data.update(
        {
            "n_level": stats.group_sizes,
            "ZtZ": stats.ZtZ,
            "ZtX": stats.ZtX,
            "Zty": stats.Zty,
            "XtX": stats.XtX,
            "Xty": stats.Xty,
            "yty": stats.yty,
            "y_shift": stats.y_shift,
        }
    )
    if spec.has_intercept:
        data["means_X"] = stats.x_means
    weights = spec.additions.weights
    if weights is not None:
        data["sum_weights"] = float(np.sum(weights))
    se_known = known_se(spec)
    if se_known:
        data["sum_log_2pi_se2"] = stats.se_constant
    rows = bool(log_lik or y_rep)
    n_rows = spec.n_obs if rows else 0
    n_fixed = len(spec.fixed_names)
    data["N_rows"] = n_rows
    if rows:
        data["Y"] = np.asarray(spec.response, dtype=float)
        data["X"] = np.asarray(spec.fixed_design, dtype=float).reshape(spec.n_obs, -1)
        data["group"] = (spec.blocks[0].level_index + 1).astype(np.int64)
        data["Z"] = np.column_stack([np.asarray(b.design, dtype=float) for b in spec.blocks])
        if weights is not None:
            data["weights"] = np.asarray(weights, dtype=float)
        if spec.offset is not None:
            data["offsets"] = np.asarray(spec.offset, dtype=float)
        if se_known:
            data["se"] = np.asarray(spec.additions.se, dtype=float)
    else:
        data["Y"] = np.zeros(0)
        data["X"] = np.zeros((0, n_fixed))
        data["group"] = np.zeros(0, dtype=np.int64)
        data["Z"] = np.zeros((0, stats.n_effects))
        if weights is not None:
            data["weights"] = np.zeros(0)
        if spec.offset is not None:
            data["offsets"] = np.zeros(0)
        if se_known:
            data["se"] = np.zeros(0)
    data.update(prior_data(spec))
    data["prior_only"] = int(prior_only)
    data["compute_log_lik"] = int(log_lik)
    data["compute_y_rep"] = int(y_rep)
    return data


def build_marginal_program(spec: ModelSpec, **data_options: bool) -> StanProgram:
    """Code and data of the marginal program (options as :func:`build_marginal_data`)."""
    return StanProgram(render_marginal_code(spec), build_marginal_data(spec, **data_options))
