"""Distributional regression: a formula for a family parameter besides the mean.

``bmm.bf("y ~ x + (1 | g)", sigma="~ x")`` (brms's ``bf(y ~ x + (1 | g), sigma ~ x)``) models
the residual SD on the log scale with its own population-level part and, when written,
random-effect blocks. Every family parameter with a lower bound of 0 and no upper bound
(``sigma``, ``shape``, ``phi``) takes the log link, every probability (``zi``, ``hu``,
``zoi``, ``coi``) the logit link, as in brms. Parameters with other ranges (the Student t's
``nu`` > 1, the Tweedie ``power`` in (1, 2)) cannot take a formula yet; that is refused.

Why keywords: ``bf("y ~ x", sigma="~ x")`` reads as "the formula of y, and sigma's formula",
Python has no formula literals, and a keyword is checked against the family's parameters by
name. brms's spelling as a second string (``bf("y ~ x", "sigma ~ x")``) is accepted as well.

Examples
--------
>>> f = bf("y ~ x + (1 | g)", sigma="~ x")
>>> f.formula, f.dpars
('y ~ x + (1 | g)', (('sigma', 'x'),))
>>> bf("y ~ x", "zi ~ 1 + w").dpars
(('zi', '1 + w'),)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import FormulaError, suggest
from .families import AuxParameter, Family


@dataclass(frozen=True)
class ModelFormula:
    """A formula for the mean plus formulas for distributional parameters.

    Attributes
    ----------
    formula : str
        The response's formula (``"y ~ x + (1 | g)"``).
    dpars : tuple of (str, str)
        ``(parameter, right-hand side)`` pairs, in the order written.
    """

    formula: str
    dpars: tuple[tuple[str, str], ...] = ()

    @property
    def text(self) -> str:
        """brms's way of printing it: the formulas one after another."""
        return "; ".join([self.formula, *(f"{name} ~ {rhs}" for name, rhs in self.dpars)])

    def __str__(self) -> str:
        return self.text


def _right_side(name: str, text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise FormulaError(
            f"The formula of '{name}' must be a string such as '~ x' or '~ 1 + (1 | g)', "
            f"got {text!r}."
        )
    text = text.strip()
    if "~" in text:
        left, right = text.split("~", 1)
        if left.strip() and left.strip() != name:
            raise FormulaError(
                f"The formula given for '{name}' is '{text}', whose left side names "
                f"'{left.strip()}'. Write '~ ...' (or '{name} ~ ...')."
            )
        text = right.strip()
    if not text:
        raise FormulaError(f"The formula of '{name}' has no right-hand side; write '~ 1' at least.")
    return text


def bf(formula: str, *dpar_formulas: str, **dpars: str) -> ModelFormula:
    """A model formula with formulas for distributional parameters (brms's ``bf()``).

    Parameters
    ----------
    formula : str
        The response's formula, as for :func:`bayesmm.fit`.
    *dpar_formulas : str
        brms's spelling: ``"sigma ~ x"``, one string per parameter.
    **dpars : str
        ``sigma="~ x"``, ``zi="~ mined + (1 | site)"``: the right-hand side of each parameter's
        formula (random effects allowed).

    Returns
    -------
    ModelFormula
        Pass it as the formula of :func:`bayesmm.fit`, :func:`bayesmm.stancode`,
        :func:`bayesmm.get_prior`, ...

    Raises
    ------
    FormulaError
        A formula that is not a string, a parameter given twice, or a positional formula
        without a parameter name on its left.

    Examples
    --------
    >>> bf("y ~ x", sigma="~ x").text
    'y ~ x; sigma ~ x'
    """
    if not isinstance(formula, str):
        raise FormulaError(f"bf() takes the response's formula first, got {formula!r}.")
    pairs: list[tuple[str, str]] = []
    for text in dpar_formulas:
        if not isinstance(text, str) or "~" not in text or not text.split("~", 1)[0].strip():
            raise FormulaError(
                f"A positional formula of bf() must name its parameter on the left, such as "
                f"'sigma ~ x'; got {text!r}."
            )
        name = text.split("~", 1)[0].strip()
        pairs.append((name, _right_side(name, text)))
    pairs += [(name, _right_side(name, text)) for name, text in dpars.items()]
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise FormulaError(f"bf() got two formulas for '{name}'; keep one.")
        seen.add(name)
    return ModelFormula(formula.strip(), tuple(pairs))


def as_model_formula(formula: Any) -> ModelFormula:
    """A plain string becomes a :class:`ModelFormula` without distributional formulas."""
    if isinstance(formula, ModelFormula):
        return formula
    if isinstance(formula, str):
        return ModelFormula(formula)
    raise FormulaError(
        f"formula must be a string such as 'y ~ x + (1 | g)' or bmm.bf(...), got "
        f"{type(formula).__name__}."
    )


#: Families of the same base with a zero part, suggested when ``zi``/``hu`` is asked of a
#: family that has none.
_ZERO_PART_FAMILIES = {
    "zi": "zero_inflated_",
    "hu": "hurdle_",
}


def dpar_link(aux: AuxParameter) -> str | None:
    """brms's default link of a family parameter with a formula (None: not supported).

    Examples
    --------
    >>> from bayesmm.model.families import get_family
    >>> [dpar_link(a) for a in get_family("student").aux]
    ['log', None]
    """
    if aux.lower == 0 and aux.upper is None:
        return "log"
    if aux.lower == 0 and aux.upper == 1:
        return "logit"
    return None


def check_dpar(name: str, family: Family) -> AuxParameter:
    """The family parameter ``name``, or our error saying which parameters the family has.

    Raises
    ------
    FormulaError
        The family has no parameter ``name`` (a zero-inflation formula for a family without
        zero inflation names the families that have one), or the parameter's range has no
        link for a formula.
    """
    names = [a.name for a in family.aux]
    if name in ("mu", "mean"):
        raise FormulaError(
            f"'{name}' is the mean, whose formula is the main one: write it first in bf()."
        )
    aux = next((a for a in family.aux if a.name == name), None)
    if aux is None:
        hint = ""
        if name in _ZERO_PART_FAMILIES:
            hint = (
                f" A formula for '{name}' needs a family with that part, such as "
                f"'{_ZERO_PART_FAMILIES[name]}{family.name}'"
                if not family.name.startswith(("zero_", "hurdle_"))
                else ""
            )
            hint = hint and hint + " (see the README's family table)."
        raise FormulaError(
            f"Family '{family.name}' has no distributional parameter '{name}'."
            f"{suggest(name, names)} Its parameters besides the mean: "
            f"{', '.join(names) if names else 'none'}.{hint}"
        )
    if family.name == "tweedie":
        raise FormulaError(
            "Family 'tweedie' cannot take formulas for phi or power yet (its Stan density "
            "has no per-row form); leave them out of bf()."
        )
    if dpar_link(aux) is None:
        raise FormulaError(
            f"The parameter '{name}' of family '{family.name}' (range "
            f"({aux.lower:g}, {'inf' if aux.upper is None else f'{aux.upper:g}'})) cannot take a "
            "formula yet: only positive parameters (log link) and probabilities (logit link) "
            "can. Leave it out of bf()."
        )
    return aux
