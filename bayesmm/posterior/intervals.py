"""Posterior intervals as brms names them: ``prob=0.9`` (central interval, printed as
``l-90% CI`` / ``u-90% CI``) and ``probs=(0.05, 0.95)`` (quantile columns ``Q5``, ``Q95``).

Examples
--------
>>> quantile_names((0.025, 0.975))
['Q2.5', 'Q97.5']
>>> probs_of_interval(0.9)
(0.05, 0.95)
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BayesmmError

#: The default interval: 95% central, as brms.
DEFAULT_PROBS = (0.025, 0.975)


def quantile_name(p: float) -> str:
    """brms's column name of quantile ``p``: ``Q2.5``, ``Q50``, ``Q97.5``.

    Examples
    --------
    >>> quantile_name(0.05), quantile_name(1 / 3)
    ('Q5', 'Q33.33')
    """
    return f"Q{round(100 * float(p), 2):g}"


def quantile_names(probs: Sequence[float]) -> list[str]:
    """Column names of ``probs`` (see :func:`quantile_name`)."""
    return [quantile_name(p) for p in probs]


def check_probs(probs: Any) -> tuple[float, ...]:
    """``probs`` as a tuple of numbers in [0, 1], or our error naming the argument.

    Examples
    --------
    >>> check_probs([0.1, 0.9])
    (0.1, 0.9)
    """
    if isinstance(probs, numbers.Real) and not isinstance(probs, bool):
        probs = (probs,)
    if isinstance(probs, str) or not isinstance(probs, Sequence | np.ndarray):
        raise BayesmmError(
            f"probs must be a list of probabilities such as (0.05, 0.95), got {probs!r}."
        )
    values = []
    for p in probs:
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= float(p) <= 1:
            raise BayesmmError(
                f"probs must hold probabilities between 0 and 1 (e.g. (0.05, 0.95)), got {p!r}."
            )
        values.append(float(p))
    if not values:
        raise BayesmmError("probs is empty: give at least one probability, e.g. (0.05, 0.95).")
    if len(set(quantile_names(values))) != len(values):
        raise BayesmmError(f"probs repeats a probability: {values}.")
    return tuple(values)


def probs_of_interval(prob: Any) -> tuple[float, float]:
    """The quantiles of a central interval of mass ``prob`` (brms's ``prob=``).

    Examples
    --------
    >>> probs_of_interval(0.5)
    (0.25, 0.75)
    """
    if isinstance(prob, bool) or not isinstance(prob, numbers.Real) or not 0 < float(prob) < 1:
        raise BayesmmError(
            f"prob is the mass of the central interval and must lie strictly between 0 and 1 "
            f"(e.g. prob=0.9 for a 90% interval), got {prob!r}."
        )
    tail = (1 - float(prob)) / 2
    return (round(tail, 10), round(1 - tail, 10))


def interval_label(prob: float) -> str:
    """The percentage in brms's ``l-90% CI`` labels.

    Examples
    --------
    >>> interval_label(0.9), interval_label(0.95), interval_label(0.875)
    ('90', '95', '87.5')
    """
    return f"{round(100 * float(prob), 2):g}"
