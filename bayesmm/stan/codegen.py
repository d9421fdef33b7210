"""Render a ModelSpec into a Stan program and its data dict.

The program comes from ``templates/model.stan.j2``; the family registry supplies the likelihood
snippets. User names appear only in comments: :func:`strip_comments` gives the code that is
hashed and compiled, so models of the same structure share one binary.

Examples
--------
>>> from bayesmm.stan.codegen import strip_comments
>>> strip_comments("real x;  // a comment\\n\\n// only a comment\\nreal y;")
'real x;\\nreal y;'
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from .._version import __version__
from ..errors import UnsupportedModelError
from ..model.links import LINKS
from ..model.priors import POSITIVE_ARGUMENTS
from ..model.spec import ModelSpec, PriorTarget, RandomBlock
from ..model.user_priors import support_note
from .parallel import partial_sum_function, reduce_sum_statement
from .parameterization import population_columns, weights_of


@dataclass(frozen=True)
class StanProgram:
    """A Stan program ready to run.

    Attributes
    ----------
    code : str
        The program with its explanatory comments (what :func:`bayesmm.stancode` shows).
    data : dict
        The data dict passed to Stan (what :func:`bayesmm.standata` returns).
    weights : tuple of numpy.ndarray
        Per block of the latent program, its levels x effects non-centring weights (0:
        centred, 1: non-centred; :mod:`bayesmm.stan.parameterization`), which its data carry
        (empty for the marginal program).
    """

    code: str
    data: dict[str, Any] = field(repr=False)
    weights: tuple[np.ndarray, ...] = field(default=(), repr=False)

    @property
    def centred(self) -> tuple[bool, ...]:
        """Per block of the model's formula, whether every level's effects are sampled
        centred (all weights 0)."""
        return tuple(bool(np.all(np.asarray(w) == 0)) for w in self.weights)

    @property
    def compiled_code(self) -> str:
        """The code that is hashed and compiled: comments and blank lines removed."""
        return strip_comments(self.code)

    @property
    def code_hash(self) -> str:
        """SHA-256 of :attr:`compiled_code` (the cache key's main part)."""
        return hashlib.sha256(self.compiled_code.encode()).hexdigest()


def strip_comments(code: str) -> str:
    """Remove ``//`` and ``/* */`` comments and blank lines from Stan code."""
    code = re.sub(r"/\*.*?\*/", "", code, flags=re.S)
    lines = [re.sub(r"//.*$", "", line).rstrip() for line in code.splitlines()]
    return "\n".join(line for line in lines if line.strip())


def template_directory() -> Path:
    """Where the Jinja templates live: inside the installed package, or the checkout's top."""
    package = Path(__file__).resolve().parents[1]  # bayesmm/
    installed = package / "templates"
    if installed.is_dir():
        return installed
    return package.parent / "templates"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_directory())),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def _format_number(value: float) -> str:
    return f"{value:.4g}"


def _prior_base(target: PriorTarget) -> str:
    """Stem of a target's data names: ``prior_b``, or ``prior_b_normal`` for one distribution's
    share of a parameter whose elements have priors of different distributions."""
    if target.positions:
        return f"prior_{target.parameter}_{target.distribution}"
    return f"prior_{target.parameter}"


def _prior_size(target: PriorTarget, spec: ModelSpec) -> str:
    if target.positions:
        return f"n_{_prior_base(target)}"
    if target.parameter == "b":
        return "K - 1" if spec.has_intercept else "K"
    if target.parameter == "Intercept" and spec.family.ordinal:
        return "nthres"
    if target.dpar and target.prior_class == "b":
        dpar = spec.dpar(target.dpar)
        return f"K_{dpar.name} - 1" if dpar.has_intercept else f"K_{dpar.name}"
    if target.parameter.startswith("sd_"):
        return "M_" + target.parameter.split("_", 1)[1]
    return ""


def prior_text(distribution: str, row: np.ndarray) -> str:
    """``normal(0, 2.5)`` from a distribution name and a row of hyperparameters."""
    return f"{distribution}({', '.join(_format_number(v) for v in row)})"


def _render_prior(target: PriorTarget, spec: ModelSpec) -> dict[str, Any]:
    size = _prior_size(target, spec)
    base = _prior_base(target)
    declarations = []
    args = []
    subject = target.parameter
    if target.positions:
        declarations.append(f"int<lower=1> {size};  // {', '.join(target.coefs)}")
        declarations.append(f"array[{size}] int<lower=1> {base}_index;")
        subject = f"{target.parameter}[{base}_index]"
    for name in target.arg_names:
        variable = f"{base}_{name}"
        bound = "<lower=0>" if name in POSITIVE_ARGUMENTS else ""
        kind = f"vector{bound}[{size}]" if size else f"real{bound}"
        declarations.append(f"{kind} {variable};")
        args.append(variable)
    statement = f"{target.distribution}_lpdf({subject} | {', '.join(args)})"
    who = target.prior_class + (f" of {target.group}" if target.group else "")
    who += f" [{target.dpar}]" if target.dpar else ""
    if target.coefs:
        rows = [prior_text(target.distribution, row) for row in target.values]
        if len(set(rows)) == 1:
            comment = f"{who}: {', '.join(target.coefs)} ~ {rows[0]}"
        else:
            comment = f"{who}: " + "; ".join(
                f"{c} ~ {r}" for c, r in zip(target.coefs, rows, strict=True)
            )
    else:
        comment = f"{who} ~ {prior_text(target.distribution, target.values[0])}"
    note = support_note(target.distribution, target.values[0], target.prior_class, spec.family)
    if note:
        comment += f" ({note})"
    return {"declarations": declarations, "statement": statement, "comment": comment}


def prior_data(spec: ModelSpec) -> dict[str, Any]:
    """The prior hyperparameters as Stan data (``prior_<parameter>_<argument>``)."""
    data: dict[str, Any] = {}
    for target in spec.priors:
        vector = bool(_prior_size(target, spec))
        base = _prior_base(target)
        if target.positions:
            data[f"n_{base}"] = len(target.positions)
            data[f"{base}_index"] = np.asarray(target.positions, dtype=np.int64) + 1
        for j, name in enumerate(target.arg_names):
            column = target.values[:, j]
            data[f"{base}_{name}"] = column.tolist() if vector else float(column[0])
    return data


def _with_row_sigma(snippet: str, index: str) -> str:
    """A family snippet with its ``sigma`` replaced by the per-row SD of ``se()``."""
    return re.sub(r"\bsigma\b", f"sigma_total{index}", snippet)


def _row_snippets(spec: ModelSpec) -> dict[str, str]:
    """Stan expressions of one row's density and CDFs, for the row-wise likelihood of weights,
    censoring and truncation (see the ``row_log_lik`` macro of ``model.stan.j2``)."""
    family = spec.family
    fill = {"mu": "mu[n]", "trials": "trials[n]"}

    def snippet(template: str, y: str) -> str:
        text = template.format(y=y, **fill)
        return _with_row_sigma(text, "[n]") if spec.additions.se is not None else text

    discrete = family.response_type == "int"
    below = "lb[n] - 1" if discrete else "lb[n]"  # counts: P(y >= lb) = 1 - F(lb - 1)
    if not family.lcdf:
        lcdf = lccdf = "negative_infinity()"  # never reached: refused at the design stage
    else:
        lcdf, lccdf = family.lcdf, family.lccdf
    mass = f"log_diff_exp({snippet(lcdf, 'ub[n]')}, {snippet(lcdf, below)})"
    if discrete:
        mass = f"(lb[n] >= 1 ? {mass} : {snippet(lcdf, 'ub[n]')})"
    return {
        "lpdf": snippet(family.lpdf, "Y[n]"),
        "lcdf_y": snippet(lcdf, "Y[n]"),
        "lccdf_y": snippet(lccdf, "Y[n]"),
        "lcdf_y2": snippet(lcdf, "Y2[n]"),
        "lcdf_ub": snippet(lcdf, "ub[n]"),
        "lccdf_lb": snippet(lccdf, below),
        "log_mass_lb_ub": mass,
        "lb_active": " && lb[n] >= 1" if discrete else "",
    }


def index_dpars(snippet: str, spec: ModelSpec, index: str = "[n]") -> str:
    """Index the family parameters that have formulas (vectors in Stan) in a snippet.

    The registry's snippets name family parameters by their own names (``sigma``); a parameter
    with a formula is a vector, so a row's density takes ``sigma[n]``.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmm.model.design import build_model_spec
    >>> from bayesmm.model.distributional import bf
    >>> spec = build_model_spec(bf("y ~ 1", sigma="~ x"), pd.DataFrame(
    ...     {"y": [1.0, 2, 4, 3], "x": [0.0, 1, 2, 3]}))
    >>> index_dpars("normal_lpdf(Y[n] | mu[n], sigma)", spec)
    'normal_lpdf(Y[n] | mu[n], sigma[n])'
    """
    for dpar in spec.dpars:
        pattern = rf"(?<![\w.]){re.escape(dpar.name)}(?![\w\[(])"
        snippet = re.sub(pattern, dpar.name + index, snippet)
    return snippet


def looped_likelihood(spec: ModelSpec) -> bool:
    """Whether the likelihood is written row by row: a family density of our own (Stan
    functions with scalar family parameters) meets a family parameter with a formula."""
    return bool(spec.dpars) and bool(spec.family.stan_functions)


#: Families (and links) whose likelihood the level-sliced program writes as one GLM call per
#: level of the grouping factor (see :func:`grouped_glm_applies`).
GROUPED_GLM_FAMILIES = {("binomial", "logit"), ("bernoulli", "logit"), ("poisson", "log")}

#: The likelihood's terms without parameters, per row, for each family of the level-sliced
#: likelihood: its GLM calls use ``_lupmf`` (Stan leaves out these terms, which were most of
#: the call's cost: ``benchmarks/glmm_gradient_cost.py``) and the program adds their sum, a
#: constant of the data, so that the log density stays the full one.
GROUPED_GLM_CONSTANTS = {
    "binomial": "lchoose(trials[n], Y[n])",
    "bernoulli": "",
    "poisson": "-lgamma(Y[n] + 1)",
}

#: Rows per level (N / J) from which the level-sliced likelihood is the default; measured by
#: ``benchmarks/glmm_gradient_cost.py`` (see benchmarks/README.md, "GLMMs at 10^6 rows").
GROUPED_GLM_MIN_ROWS_PER_LEVEL = 20


def grouped_glm_applies(spec: ModelSpec, threaded: bool = False) -> bool:
    """Whether the likelihood can be written as one GLM call per level of the one block.

    The level-sliced form needs a family with a Stan GLM function for its link (binomial
    logit, bernoulli logit, poisson log), exactly one random-effects block (its levels cut the
    rows into slices), no family-parameter formulas, no addition terms (weights, censoring,
    truncation, se) and no ``ar()`` term; offsets are allowed. Everything else keeps the row
    by row linear predictor.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmm.model.design import build_model_spec
    >>> df = pd.DataFrame({"y": [0, 1, 1, 0, 1, 0], "x": [0.1, 0.5, 0.2, 0.9, 0.4, 0.3],
    ...                    "g": ["a", "a", "a", "b", "b", "b"]})
    >>> grouped_glm_applies(build_model_spec("y ~ x + (1 | g)", df, family="bernoulli"))
    True
    >>> grouped_glm_applies(build_model_spec("y ~ x + (1 | g)", df, family="gaussian"))
    False
    """
    family = spec.family
    return (
        (family.name, family.link) in GROUPED_GLM_FAMILIES
        and family.link in family.glm
        and len(spec.blocks) == 1
        and len(spec.all_blocks) == 1
        and not spec.additions.any
        and not spec.dpars
        and spec.autocor is None
        and not threaded
    )


def use_grouped_glm(
    spec: ModelSpec, threaded: bool = False, grouped_glm: bool | None = None
) -> bool:
    """Whether the program uses the level-sliced GLM likelihood.

    ``grouped_glm=None`` (the default) uses it where it applies
    (:func:`grouped_glm_applies`) and the rows per level (N / J) are at least
    :data:`GROUPED_GLM_MIN_ROWS_PER_LEVEL`; ``True`` asks for it (an
    :class:`~bayesmm.errors.UnsupportedModelError` where it does not apply); ``False`` keeps
    the row by row program. Both are the same model: the log density agrees to rounding.
    """
    applies = grouped_glm_applies(spec, threaded)
    if grouped_glm is None:
        if not applies:
            return False
        levels = len(spec.blocks[0].group_levels)
        return spec.n_obs >= GROUPED_GLM_MIN_ROWS_PER_LEVEL * levels
    if grouped_glm and not applies:
        raise UnsupportedModelError(
            "The level-sliced GLM likelihood (grouped_glm=True) needs a binomial or bernoulli "
            "(logit) or poisson (log) family, exactly one random-effects block and no "
            "weights(), cens(), trunc(), se(), ar(), family-parameter formulas or threads; "
            "use grouped_glm=None to let bayesmm choose."
        )
    return bool(grouped_glm)


def _grouped_glm_context(spec: ModelSpec) -> dict[str, Any]:
    """Template variables of the level-sliced likelihood (one GLM call per level)."""
    block = spec.blocks[0]
    rows = "glm_first:glm_last"
    coefficients = "append_row(b, r_1[j]')"
    if spec.offset is not None:
        coefficients = f"append_row({coefficients}, 1)"  # the offsets column enters with 1
    alpha = "Intercept" if spec.has_intercept else "0"
    likelihood = (
        spec.family.glm[spec.family.link]
        .replace("_lpmf(", "_lupmf(")
        .format(
            y=f"Y_sorted[{rows}]",
            trials=f"trials_sorted[{rows}]",
            X=f"XZ_sorted[{rows}]",
            alpha=alpha,
            b=coefficients,
        )
    )
    columns = [*spec.slope_names, *(f"{e} | {block.group}" for e in block.effect_names)]
    if spec.offset is not None:
        columns.append("offset")
    return {
        "group": block.group,
        "levels": len(block.group_levels),
        "columns": ", ".join(columns),
        "likelihood": likelihood,
        "alpha": alpha,
        "constant": GROUPED_GLM_CONSTANTS[spec.family.name],
    }


def _likelihood_snippets(spec: ModelSpec) -> dict[str, Any]:
    family = spec.family
    link = family.link
    link_lpdf = family.link_lpdf.get(link)
    additions = spec.additions
    if additions.any:
        link_lpdf = None  # the row-wise likelihood and se() need mu and the plain density
    looped = looped_likelihood(spec)
    # GLM functions take scalar family parameters (normal_id_glm aside): none with dpar formulas
    use_glm = (
        link in family.glm
        and len(spec.slope_names) > 0
        and not additions.any
        and not spec.dpars
        and spec.autocor is None  # the AR part shifts eta row by row: no GLM function
    )
    inverse_link = family.link_function.stan_inverse.format(eta="eta")
    if link_lpdf:
        likelihood = link_lpdf.format(y="Y", eta="eta", trials="trials")
        pointwise = link_lpdf.format(y="Y[n]", eta="eta[n]", trials="trials[n]")
    else:
        likelihood = family.lpdf.format(y="Y", mu="mu", trials="trials")
        pointwise = family.lpdf.format(y="Y[n]", mu="mu[n]", trials="trials[n]")
    if family.categorical:  # one row's K linear predictors, the reference category's 0 first
        categories = ", ".join(["0", "eta[n]"] + [d.name for d in spec.dpars])
        row_eta = index_dpars(f"[{categories}]'", spec)
        looped = True
        pointwise = link_lpdf.format(y="Y[n]", eta=row_eta)
        likelihood = pointwise
        pointwise_rng = family.link_rng[link].format(eta=row_eta)
    pointwise = index_dpars(pointwise, spec)
    if family.categorical:
        rng = pointwise_rng
    elif link in family.link_rng:
        rng = family.link_rng[link].format(eta="eta", trials="trials")
        pointwise_rng = family.link_rng[link].format(eta="eta[n]", trials="trials[n]")
    else:
        rng = family.rng.format(mu="mu", trials="trials")
        pointwise_rng = family.rng.format(mu="mu[n]", trials="trials[n]")
    if looped:
        likelihood = pointwise
    if looped or family.ordinal:  # Stan's ordered_*_rng take one row at a time
        rng = index_dpars(pointwise_rng, spec)
    glm_likelihood = ""
    if use_glm:
        glm_likelihood = family.glm[link].format(y="Y", X="Xc", alpha="eta", b="b", trials="trials")
    if additions.se is not None:
        likelihood = _with_row_sigma(likelihood, "")
        pointwise = _with_row_sigma(pointwise, "[n]")
        rng = _with_row_sigma(rng, "")
    return {
        "looped": looped,
        "looped_rng": looped or family.ordinal or family.categorical,
        "use_glm": use_glm,
        "glm_likelihood": glm_likelihood,
        "likelihood": likelihood,
        "needs_mu": not use_glm and not link_lpdf,
        "needs_mu_generated": not link_lpdf or link not in family.link_rng,
        "inverse_link": inverse_link,
        "pointwise_likelihood": pointwise,
        "rng": rng,
        "row": _row_snippets(spec) if additions.rowwise else {},
    }


def stan_functions(spec: ModelSpec) -> str:
    """The ``functions`` block's body: the family's Stan functions from ``templates/functions``.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmm.model.design import build_model_spec
    >>> spec = build_model_spec("y ~ 1", pd.DataFrame({"y": [0.0, 1.5]}), family="tweedie")
    >>> "real tweedie_lpdf(real y" in stan_functions(spec)
    True
    """
    folder = template_directory() / "functions"
    names = list(spec.family.stan_functions)
    if any(block.term.structure == "ar1" for block in spec.blocks):
        names.append("ar1_corr_cholesky.stan")
    parts = [(folder / name).read_text().rstrip() for name in names]
    return "\n".join(parts)


def covariance_context(block: RandomBlock, block_id: int) -> dict[str, Any]:
    """What the templates need to know of a block's covariance structure (shared by the
    latent and the marginal program): whether a fragment ``templates/covariance/<name>.stan.j2``
    declares its parameters and builds ``sd_<id>``/``L_<id>`` from them."""
    structure = block.structure
    return {
        "structure": structure.name,
        "structured": structure.structured,
        "fragment": f"covariance/{structure.name}.stan.j2",
        # L_<id> is a parameter only for the unstructured correlated block
        "lkj": block.correlated and not structure.structured,
    }


def _response_declaration(spec: ModelSpec) -> str:
    if spec.family.response_type == "real":
        return "vector[N] Y;"
    if spec.family.ordinal:
        return "array[N] int<lower=1, upper=nthres + 1> Y;"
    upper = ", upper=1" if spec.family.name == "bernoulli" else ""
    return f"array[N] int<lower=0{upper}> Y;"


def render_code(
    spec: ModelSpec,
    threaded: bool = False,
    centred: Sequence[bool] | None = None,
    grouped_glm: bool | None = None,
) -> str:
    """Render the Stan program (with comments) for ``spec``.

    ``threaded`` writes the likelihood as a ``reduce_sum`` over rows (see
    :mod:`bayesmm.stan.parallel`); ``centred`` is accepted for compatibility and changes
    nothing: centred, non-centred and partly centred blocks are one program, whose data say
    how each level is sampled (:func:`weight_data`; :mod:`bayesmm.stan.parameterization`);
    ``grouped_glm`` chooses the level-sliced GLM likelihood (:func:`use_grouped_glm`; None:
    where it applies and the levels have many rows).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmm.model.design import build_model_spec
    >>> df = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": ["a", "a", "b", "b"]})
    >>> "(1 | g): 1 effect over 2 levels" in render_code(build_model_spec("y ~ (1 | g)", df))
    True
    """
    if threaded and spec.family.ordinal:
        raise UnsupportedModelError(
            "Within-chain threading (threads_per_chain) does not yet cover family "
            f"'{spec.family.name}'; fit without threads_per_chain."
        )
    if threaded and spec.dpars:
        raise UnsupportedModelError(
            "Within-chain threading (threads_per_chain) does not yet cover distributional "
            f"formulas ({', '.join(d.name for d in spec.dpars)}); fit without threads_per_chain."
        )
    if threaded and spec.autocor is not None:
        raise UnsupportedModelError(
            "Within-chain threading (threads_per_chain) does not yet cover "
            f"{spec.autocor.term.text} (each row needs its predecessor's residual); fit "
            "without threads_per_chain."
        )
    # every block may be sampled (partly) centred: each population column is claimed by the
    # first block with the same column (an ordinal model's intercept is its thresholds)
    columns = population_columns(spec, tuple(not spec.family.ordinal for _ in spec.blocks))
    blocks = [
        {
            "population_terms": population_terms(spec, columns, i - 1),
            "id": i,
            "group": block.group,
            "term": block.term.text,
            "description": block.description,
            "effects": ", ".join(block.effect_names),
            "correlated": block.correlated,
            "eta": "eta",
            **covariance_context(block, i),
        }
        for i, block in enumerate(spec.blocks, start=1)
    ]
    for i, block in enumerate(spec.all_blocks[len(spec.blocks) :], start=len(spec.blocks) + 1):
        owner = spec.block_owner(i - 1)
        blocks.append(
            {
                "population_terms": ["0"] * len(block.effect_names),  # centred on zero
                "id": i,
                "group": block.group,
                "term": f"{block.term.text} in the formula of {owner}",
                "description": f"{owner}: {block.description}",
                "effects": ", ".join(block.effect_names),
                "correlated": block.correlated,
                "eta": f"eta_{owner}",
                **covariance_context(block, i),
            }
        )
    dpars = [
        {
            "name": d.name,
            "link": d.link,
            "formula": d.formula.text,
            "fixed_names": d.fixed_names,
            "slope_names": d.slope_names,
            "has_intercept": d.has_intercept,
            "inverse_link": LINKS[d.link].stan_inverse.format(eta=f"eta_{d.name}"),
            "blocks": [b for b in blocks if b["eta"] == f"eta_{d.name}"],
        }
        for d in spec.dpars
    ]
    context = {
        "version": __version__,
        "formula": spec.formula.text,
        "family": spec.family,
        "functions": "\n".join(
            part
            for part in (stan_functions(spec), partial_sum_function(spec) if threaded else "")
            if part
        ),
        "threaded": threaded,
        "reduce_sum_statement": reduce_sum_statement(spec) if threaded else "",
        "n_obs": spec.n_obs,
        "response_declaration": _response_declaration(spec),
        "response_label": spec.response_label
        + (
            f" (1 = {spec.response_levels[1]})"
            if spec.response_levels and spec.family.name == "bernoulli"
            else ""
        )
        + (
            f" (categories 1..{len(spec.response_levels)}: {', '.join(spec.response_levels)})"
            if spec.family.ordinal
            else ""
        ),
        "trials_label": spec.formula.response.second,
        "fixed_names": spec.fixed_names,
        "slope_names": spec.slope_names,
        "has_intercept": spec.has_intercept,
        "ordinal": spec.family.ordinal,
        "family_parameters": [
            {
                "name": a.name,
                "lower": _format_number(a.lower),
                "upper": "" if a.upper is None else _format_number(a.upper),
                "description": a.description,
            }
            for a in spec.scalar_aux
        ],
        "blocks": blocks,
        "mean_blocks": [b for b in blocks if b["eta"] == "eta"],
        "dpars": dpars,
        "priors": [_render_prior(target, spec) for target in spec.priors],
        "autocor": _autocor_context(spec),
        "grouped_glm": (
            _grouped_glm_context(spec) if use_grouped_glm(spec, threaded, grouped_glm) else None
        ),
        **_likelihood_snippets(spec),
        **_addition_context(spec),
    }
    return _environment().get_template("model.stan.j2").render(**context)


def _autocor_context(spec: ModelSpec) -> dict[str, str] | None:
    """Template variables of an ``ar()`` term (None without one)."""
    if spec.autocor is None:
        return None
    term = spec.autocor.term
    innovation = "student_t(nu, 0, sigma)" if spec.family.name == "student" else "N(0, sigma)"
    return {
        "text": term.text,
        "time": term.time,
        "group": term.group or "(one series)",
        "innovation": innovation,
    }


def _addition_context(spec: ModelSpec) -> dict[str, Any]:
    """Template variables of the offset and the response's addition terms."""
    additions = spec.additions
    labels = {
        name: additions.label(name) or "none"
        for name in ("weights", "cens", "y2", "lb", "ub", "se")
    }
    if additions.se is not None and additions.se_sigma:
        sigma_total = "sqrt(square(sigma) + square(se))"
    else:
        sigma_total = "se"
    int_response = spec.family.response_type == "int"
    return {
        "has_offset": spec.offset is not None,
        "offset_label": " + ".join(spec.offset_terms) or "offset= of fit()",
        "rowwise": additions.rowwise,
        "has_se": additions.se is not None,
        "sigma_total": sigma_total,
        "addition_labels": labels,
        "bound_type": "array[N] int" if int_response else "vector[N]",
    }


def addition_data(spec: ModelSpec) -> dict[str, Any]:
    """Stan data of the offset and the addition terms (what the template declares)."""
    data: dict[str, Any] = {}
    n_obs = spec.n_obs
    additions = spec.additions
    if spec.offset is not None:
        data["offsets"] = np.asarray(spec.offset, dtype=float)
    if additions.rowwise:
        as_type = np.int64 if spec.family.response_type == "int" else float
        y = np.asarray(spec.response, dtype=float)

        def column(values: np.ndarray | None, fallback: np.ndarray) -> np.ndarray:
            chosen = fallback if values is None else values
            return np.asarray(np.round(chosen) if as_type is np.int64 else chosen).astype(as_type)

        data["weights"] = (
            np.ones(n_obs) if additions.weights is None else np.asarray(additions.weights, float)
        )
        data["cens"] = (
            np.zeros(n_obs, dtype=np.int64)
            if additions.censoring is None
            else np.asarray(additions.censoring, dtype=np.int64)
        )
        upper = additions.censoring_upper
        data["Y2"] = column(None if upper is None else np.where(np.isfinite(upper), upper, y), y)
        data["has_lb"] = int(additions.lower is not None)
        data["has_ub"] = int(additions.upper is not None)
        data["lb"] = column(additions.lower, np.zeros(n_obs))
        data["ub"] = column(additions.upper, np.zeros(n_obs))
    if additions.se is not None:
        data["se"] = np.asarray(additions.se, dtype=float)
    return data


def population_terms(spec: ModelSpec, columns: list[list[int]], block: int) -> list[str]:
    """Stan expressions of the population values that a centred block's level coefficients
    are centred on, one per effect (``0`` where the effect has no population column).

    The design matrix is centred, so a level's intercept on the original scale is
    ``Intercept - means_X[k] * b[k]`` summed over the slopes that centred blocks carry: the
    block holding the intercept gets those terms, and the likelihood then depends on the level
    coefficients alone, not on the population values they are centred on.
    """
    slopes = [k for row in columns for k in row if k > 0] if spec.has_intercept else []
    terms = []
    for k in columns[block]:
        if k < 0:
            terms.append("0")
        elif spec.has_intercept and k == 0:
            terms.append(" - ".join(["Intercept", *(f"means_X[{s}] * b[{s}]" for s in slopes)]))
        else:
            terms.append(f"b[{k}]" if spec.has_intercept else f"b[{k + 1}]")
    return terms


def build_data(
    spec: ModelSpec, *, prior_only: bool = False, log_lik: bool = True, y_rep: bool = True
) -> dict[str, Any]:
    """The data dict for :func:`render_code`'s program.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    prior_only : bool
        Switch the likelihood off (sample from the prior).
    log_lik, y_rep : bool
        Compute the pointwise log-likelihood / replicated responses in generated quantities.

    Returns
    -------
    dict
        numpy arrays and numbers, as both backends accept them.
    """
    response = spec.response
    data: dict[str, Any] = {
        "N": spec.n_obs,
        "Y": response.astype(float if spec.family.response_type == "real" else np.int64),
        "K": len(spec.fixed_names),
        **({"nthres": len(spec.response_levels) - 1} if spec.family.ordinal else {}),
        "X": spec.fixed_design.reshape(spec.n_obs, -1),
    }
    if spec.family.uses_trials:
        data["trials"] = spec.trials.astype(np.int64)
    for dpar in spec.dpars:
        data[f"K_{dpar.name}"] = len(dpar.fixed_names)
        data[f"X_{dpar.name}"] = dpar.fixed_design.reshape(spec.n_obs, -1)
    for i, block in enumerate(spec.all_blocks, start=1):
        data[f"J_{i}"] = len(block.group_levels)
        data[f"M_{i}"] = len(block.effect_names)
        data[f"group_{i}"] = (block.level_index + 1).astype(np.int64)
        data[f"Z_{i}"] = block.design
    data.update(addition_data(spec))
    if spec.autocor is not None:  # rows with a predecessor in their group's time order
        rows = spec.autocor.rows_with_previous
        data["N_ar"] = len(rows)
        data["ar_row"] = (rows + 1).astype(np.int64)
        data["ar_previous"] = (spec.autocor.previous[rows] + 1).astype(np.int64)
    data.update(prior_data(spec))
    data["prior_only"] = int(prior_only)
    data["compute_log_lik"] = int(log_lik)
    # a truncated response's replicates come from numpy (inverse CDF of the truncated law)
    data["compute_y_rep"] = int(y_rep and not spec.additions.truncated)
    return data


def build_program(
    spec: ModelSpec,
    grainsize: int | None = None,
    centred: Sequence[bool] | None = None,
    grouped_glm: bool | None = None,
    weights: Sequence[np.ndarray] | None = None,
    **data_options: bool,
) -> StanProgram:
    """Code and data for ``spec`` (see :func:`build_data` for the options).

    A ``grainsize`` selects the threaded program (``reduce_sum`` over slices of that many
    rows; see :mod:`bayesmm.stan.parallel`); ``weights`` are the blocks' levels x effects
    non-centring weights (:func:`~bayesmm.stan.parameterization.noncentred_weights`; default:
    0 for the blocks flagged in ``centred``, 1 elsewhere), which go into the data: the code is
    the same whatever they are; ``grouped_glm`` chooses the level-sliced
    GLM likelihood (:func:`use_grouped_glm`). Both likelihoods take the same data.
    """
    data = build_data(spec, **data_options)
    if grainsize is not None:
        data["grainsize"] = int(grainsize)
    chosen = weights_of(spec, weights, centred)
    data.update(weight_data(spec, chosen))
    code = render_code(spec, threaded=grainsize is not None, grouped_glm=grouped_glm)
    return StanProgram(code, data, weights=chosen[: len(spec.blocks)])


def weight_data(spec: ModelSpec, weights: Sequence[np.ndarray]) -> dict[str, Any]:
    """The data that say how each block's levels are sampled (one weight array per block of
    ``spec.all_blocks``, as :func:`~bayesmm.stan.parameterization.weights_of` gives them):
    ``w_<i>`` (effects x levels) for an uncorrelated block, the centred and non-centred levels
    (``Jc_<i>``, ``centred_levels_<i>``, ``noncentred_levels_<i>``, 1-based) for a correlated
    one.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from bayesmm.model.design import build_model_spec
    >>> df = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": list("aabb")})
    >>> weight_data(build_model_spec("y ~ (1 | g)", df), [np.array([[0.25], [1.0]])])["w_1"]
    array([[0.25, 1.  ]])
    """
    data: dict[str, Any] = {}
    for i, (block, w) in enumerate(zip(spec.all_blocks, weights, strict=True), start=1):
        w = np.asarray(w, dtype=float)
        if block.correlated:
            centred = w[:, 0] == 0
            levels = np.arange(1, w.shape[0] + 1, dtype=np.int64)
            data[f"Jc_{i}"] = int(centred.sum())
            data[f"centred_levels_{i}"] = levels[centred]
            data[f"noncentred_levels_{i}"] = levels[~centred]
        else:
            data[f"w_{i}"] = np.ascontiguousarray(w.T)
    return data
