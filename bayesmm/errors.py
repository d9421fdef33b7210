"""Exceptions and warnings raised by bayesmm.

Every error a user can provoke with bad input is one of these classes, and its message names
the culprit (column, term, value) and says what to do about it.

Examples
--------
>>> import bayesmm as bmm
>>> try:
...     bmm.stancode("y ~ x", {"y": [1.0, 2.0]})
... except bmm.BayesmmError as err:
...     print(type(err).__name__)
DataError
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

import numpy as np


class BayesmmError(Exception):
    """Base class of every error bayesmm raises on purpose."""


class FormulaError(BayesmmError, ValueError):
    """A formula that cannot be parsed or does not make sense."""


class DataError(BayesmmError, ValueError):
    """A problem with the data frame: unknown column, no rows, a single-level group ..."""


class ResponseError(DataError):
    """A response that the chosen family cannot model."""


class FamilyError(BayesmmError, ValueError):
    """An unknown family, or a link the family does not allow."""


class PriorError(BayesmmError, ValueError):
    """A prior that cannot be read or does not fit the model (see :func:`bayesmm.prior`)."""


class BackendError(BayesmmError, RuntimeError):
    """The Stan backend is missing or failed to compile or sample."""


class UnsupportedModelError(BayesmmError, ValueError):
    """A valid model that a particular feature cannot handle (the message says what can)."""


class UnsupportedTermError(FormulaError, UnsupportedModelError):
    """A formula term we know (``s(x)``, ``ar1(...)``, ``y | weights(w)``) but do not support
    (yet); the message names the term. Both a :class:`FormulaError` and an
    :class:`UnsupportedModelError`."""


class MissingDependencyError(BayesmmError, ImportError):
    """An optional package a feature needs is not installed (the message says how to)."""


class BayesmmWarning(UserWarning):
    """Base class of bayesmm's warnings."""


class MissingDataWarning(BayesmmWarning):
    """Rows with missing values in the used columns were dropped."""


class DataWarning(BayesmmWarning):
    """A design that runs but may not be what was meant (a constant slope within groups,
    a float grouping factor, more correlated effects than levels, an extreme scale ...)."""


class SamplingWarning(BayesmmWarning):
    """A sampler diagnostic (divergences, R-hat, ESS, tree depth) needs attention."""


def caret_message(text: str, position: int, problem: str, hint: str = "") -> str:
    """Format a message that points at ``position`` in ``text`` with a caret.

    Parameters
    ----------
    text : str
        The formula (or other one-line input) to show.
    position : int
        Zero-based character offset of the problem.
    problem : str
        What is wrong.
    hint : str, optional
        What to do about it.

    Returns
    -------
    str
        ``problem``, the text, a caret line and the hint.

    Examples
    --------
    >>> print(caret_message("y ~ (x | g", 4, "unbalanced parenthesis"))
    unbalanced parenthesis:
      y ~ (x | g
          ^
    """
    position = max(0, min(position, len(text)))
    lines = [f"{problem}:", f"  {text}", "  " + " " * position + "^"]
    if hint:
        lines.append(hint)
    return "\n".join(lines)


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return a ``did you mean ...?`` phrase for ``name`` among ``choices`` (or '').

    Examples
    --------
    >>> suggest("Dayz", ["Days", "Reaction"])
    " Did you mean 'Days'?"
    """
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


class ModelCheckWarning(BayesmmWarning):
    """A model check needs attention (Pareto k of LOO, ...)."""


def plain_value(value: Any) -> str:
    """A value as a user writes it (``308``, not ``np.int64(308)``; strings quoted).

    Examples
    --------
    >>> plain_value(np.int64(308)), plain_value(np.float64(2.5)), plain_value("a")
    ('308', '2.5', "'a'")
    """
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:.4g}" if isinstance(value, float) else str(value)
