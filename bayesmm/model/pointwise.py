"""Can the pointwise log-likelihood and replicated data of a model come from numpy?

Stan can compute ``log_lik`` and ``y_rep`` in generated quantities, but then every draw's N
values travel from the sampler to Python (as JSON on pystan). For a model whose family
declares ``numpy_pointwise`` (its numpy ``log_density`` and ``simulate`` reproduce Stan's) and
whose terms are all ones the numpy linear predictor knows, bayesmm does not ask Stan for them
and computes them from the draws when LOO, WAIC or a predictive check first needs them
(:mod:`bayesmm.posterior.pointwise`). Anything else - a family without the declaration, a
model with a feature this module does not know (censoring, truncation, weights, a formula for
a distributional parameter, ...: any :class:`~bayesmm.model.spec.ModelSpec` field outside
:data:`NUMPY_POINTWISE_FIELDS` set to a non-default value) - keeps Stan's generated
quantities, so a new feature is correct before anyone teaches the numpy path about it.

Examples
--------
>>> import bayesmm as bmm
>>> spec = bmm.model_spec("y ~ (1 | g)", {"y": [1.0, 2, 3, 4], "g": list("aabb")})
>>> pointwise_in_numpy(spec)
True
"""

from __future__ import annotations

import dataclasses

from .spec import ModelSpec

#: ModelSpec fields the numpy path accounts for (the linear predictor of the fixed part and the
#: blocks, the response, binomial trials). A field added to ModelSpec later is not in this
#: list: set to anything but its default, it sends the model back to Stan's log_lik / y_rep
#: (so does an offset, for now). ``additions`` (weights, cens, trunc, se: issue 14) is checked
#: on its own: any of them present sends the model back to Stan too.
NUMPY_POINTWISE_FIELDS = frozenset(
    {
        "formula",
        "family",
        "response",
        "trials",
        "response_label",
        "response_levels",
        "fixed_names",
        "fixed_design",
        "blocks",
        "priors",
        "n_dropped",
        "new_data_evaluator",
        "user_priors",
        "autocor",  # ar(): the numpy linear predictor adds the AR(1) part (posterior.predict)
        "model_frame",  # the kept rows as data (conditional_effects); not part of the likelihood
    }
)


def _at_default(spec: ModelSpec, field: dataclasses.Field) -> bool:
    value = getattr(spec, field.name)
    if field.default is not dataclasses.MISSING:
        default = field.default
    elif field.default_factory is not dataclasses.MISSING:
        default = field.default_factory()
    else:
        return False
    try:
        return bool(value is default or value == default)
    except (TypeError, ValueError):  # e.g. arrays compared elementwise
        return False


def unsupported_features(spec: ModelSpec) -> list[str]:
    """Why the numpy path does not apply to ``spec`` (empty when it does).

    Examples
    --------
    >>> import bayesmm as bmm
    >>> spec = bmm.model_spec("y ~ 1", {"y": [0.5, 1.5, 2.0]}, family="tweedie")
    >>> unsupported_features(spec)
    ["family 'tweedie' does not declare numpy_pointwise"]
    """
    reasons = []
    family = spec.family
    if not getattr(family, "numpy_pointwise", False):
        reasons.append(f"family '{family.name}' does not declare numpy_pointwise")
    elif family.log_density is None or family.simulate is None:
        reasons.append(f"family '{family.name}' lacks a numpy log_density or simulate")
    additions = getattr(spec, "additions", None)
    if additions is not None and additions.any:
        reasons.append("the response has weights(), cens(), trunc() or se()")
    for field in dataclasses.fields(spec):
        known = field.name in NUMPY_POINTWISE_FIELDS or field.name == "additions"
        if not known and not _at_default(spec, field):
            reasons.append(f"ModelSpec.{field.name} is set")
    return reasons


def pointwise_in_numpy(spec: ModelSpec) -> bool:
    """Whether ``log_lik`` and ``y_rep`` of ``spec`` can be computed from the draws in numpy."""
    return not unsupported_features(spec)
