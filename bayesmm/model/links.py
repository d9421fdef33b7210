"""Link functions: their Stan inverse and their numpy inverse, written as data.

Examples
--------
>>> from bayesmm.model.links import LINKS
>>> LINKS["logit"].stan_inverse.format(eta="eta")
'inv_logit(eta)'
>>> float(LINKS["log"].inverse(0.0))
1.0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special, stats


@dataclass(frozen=True)
class Link:
    """A link function g, with mu = g^-1(eta).

    Attributes
    ----------
    name : str
        The link's name as users write it (``"logit"``).
    stan_inverse : str
        Stan expression of g^-1 with ``{eta}`` standing for a vector of linear predictors.
    inverse : callable
        numpy version of g^-1, for prediction.
    """

    name: str
    stan_inverse: str
    inverse: Callable[[np.ndarray], np.ndarray]


LINKS: dict[str, Link] = {
    link.name: link
    for link in (
        Link("identity", "{eta}", lambda eta: np.asarray(eta, dtype=float)),
        Link("log", "exp({eta})", np.exp),
        Link("logit", "inv_logit({eta})", special.expit),
        Link("probit", "Phi({eta})", stats.norm.cdf),
        Link("cloglog", "inv_cloglog({eta})", lambda eta: -np.expm1(-np.exp(eta))),
        Link("cauchit", "(atan({eta}) / pi() + 0.5)", lambda eta: np.arctan(eta) / np.pi + 0.5),
        Link("inverse", "inv({eta})", lambda eta: 1.0 / np.asarray(eta, dtype=float)),
        Link("sqrt", "square({eta})", np.square),
    )
}
