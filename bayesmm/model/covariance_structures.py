"""Covariance structures of a random-effect bar term, written as data (glmmTMB's syntax).

The function around a bar term names the covariance of one level's effects:

========== =============================================== ==================================
structure  covariance of one level's M effects              Stan parameters (block i)
========== =============================================== ==================================
``us``     unstructured: diag(sd) R diag(sd), R ~ LKJ        ``sd_i`` (M), ``L_i`` (Cholesky)
``diag``   diag(sd^2), heterogeneous SDs, no correlation     ``sd_i`` (M)
``homdiag`` tau^2 I, one SD                                  ``tau_i``
``cs``     diag(sd) R diag(sd), R_ab = rho (a != b)          ``sd_i`` (M), ``rho_i``
``homcs``  tau^2 R, R_ab = rho (a != b)                      ``tau_i``, ``rho_i``
``ar1``    tau^2 R, R_ab = rho^|a - b|                       ``tau_i``, ``rho_i``
========== =============================================== ==================================

``cs`` has heterogeneous SDs, as glmmTMB's ``cs()`` (its ``homcs()`` has one SD); ``ar1`` has
one SD, as glmmTMB's ``ar1()``. The correlation of ``cs``/``homcs`` lies in
(-1 / (M - 1), 1), where R is positive definite; that of ``ar1`` in (-1, 1).

Every later stage reaches a structure through this table and :func:`correlation_matrix`: the
Stan code (a template fragment ``templates/covariance/<name>.stan.j2`` declares the block's
parameters and builds ``sd_i`` and ``L_i`` from them), the priors, the summary labels, and
numpy code (prediction for new levels, simulation, the covariance pictures).

Examples
--------
>>> STRUCTURES["ar1"].common_sd, STRUCTURES["cs"].common_sd
(True, False)
>>> correlation_matrix("ar1", 0.5, 3).round(3).tolist()
[[1.0, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 1.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CovarianceStructure:
    """One covariance structure of a bar term.

    Attributes
    ----------
    name : str
        The function name in formulas (``"ar1"``).
    title : str
        Words for comments and summaries (``"AR(1) correlation"``).
    common_sd : bool
        One SD shared by every effect (Stan parameter ``tau_i``) instead of one per effect.
    correlation : str
        ``"none"``, ``"lkj"`` (unstructured), ``"cs"`` (one common correlation) or ``"ar1"``.
    needs_no_intercept : bool
        The left side must be ``0 + factor`` (one effect per level of an ordered factor).
    """

    name: str
    title: str
    common_sd: bool
    correlation: str
    needs_no_intercept: bool = False

    @property
    def has_rho(self) -> bool:
        """Whether the block has a correlation parameter ``rho_i``."""
        return self.correlation in ("cs", "ar1")

    @property
    def structured(self) -> bool:
        """Whether the block's ``sd_i``/``L_i`` are built from other parameters (a template
        fragment) rather than being parameters themselves (``us``, ``diag``)."""
        return self.common_sd or self.has_rho

    def rho_bounds(self, n_effects: int) -> tuple[float, float]:
        """The open interval of correlations that give a positive definite matrix."""
        if self.correlation == "cs":
            return -1.0 / (n_effects - 1), 1.0
        return -1.0, 1.0


#: Every structure, keyed by its formula name.
STRUCTURES: dict[str, CovarianceStructure] = {
    s.name: s
    for s in (
        CovarianceStructure("us", "unstructured covariance", False, "lkj"),
        CovarianceStructure("diag", "heterogeneous SDs, no correlation", False, "none"),
        CovarianceStructure("homdiag", "one common SD, no correlation", True, "none"),
        CovarianceStructure("cs", "compound symmetry, heterogeneous SDs", False, "cs"),
        CovarianceStructure("homcs", "compound symmetry, one common SD", True, "cs"),
        CovarianceStructure("ar1", "AR(1) correlation, one common SD", True, "ar1", True),
        # the penalized part of a smooth s(x): one SD, the smoothing parameter (smooths.py)
        CovarianceStructure("smooth", "penalized spline, SD = smoothing parameter", True, "none"),
    )
}


def get_structure(name: str) -> CovarianceStructure:
    """The registry entry of ``name`` (a KeyError names the known ones)."""
    try:
        return STRUCTURES[name]
    except KeyError:
        raise KeyError(
            f"Unknown covariance structure '{name}'; known: {', '.join(STRUCTURES)}."
        ) from None


def correlation_matrix(structure: str, rho: np.ndarray | float, n_effects: int) -> np.ndarray:
    """The M x M correlation matrix of a structured block for correlation(s) ``rho``.

    ``rho`` may be an array of draws; the result then has shape ``rho.shape + (M, M)``.

    Examples
    --------
    >>> correlation_matrix("cs", 0.3, 3).tolist()
    [[1.0, 0.3, 0.3], [0.3, 1.0, 0.3], [0.3, 0.3, 1.0]]
    >>> correlation_matrix("ar1", np.array([0.0, 0.5]), 2).shape
    (2, 2, 2)
    """
    kind = get_structure(structure).correlation
    rho = np.asarray(rho, dtype=float)[..., None, None]
    index = np.arange(n_effects)
    if kind == "ar1":
        lag = np.abs(index[:, None] - index[None, :])
        return rho**lag
    eye = np.eye(n_effects)
    if kind == "cs":
        return eye + (1.0 - eye) * rho
    return np.broadcast_to(eye, rho.shape[:-2] + (n_effects, n_effects)).copy()


def stan_sd_and_cholesky(
    structure: str, n_effects: int, values: dict, block_id: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-effect SDs and the Cholesky factor of the correlation (None without one) of block
    ``block_id`` from Stan parameter values (``sd_i`` or ``tau_i``, ``L_i`` or ``rho_i``), as
    the template fragments compute them.

    Examples
    --------
    >>> sd, L = stan_sd_and_cholesky("ar1", 2, {"tau_1": 2.0, "rho_1": 0.6}, 1)
    >>> sd.tolist(), (L @ L.T).round(2).tolist()
    ([2.0, 2.0], [[1.0, 0.6], [0.6, 1.0]])
    """
    entry = get_structure(structure)
    if entry.common_sd:
        sd = np.full(n_effects, float(values[f"tau_{block_id}"]))
    else:
        sd = np.asarray(values[f"sd_{block_id}"], dtype=float).reshape(n_effects)
    if entry.has_rho:
        corr = correlation_matrix(structure, float(values[f"rho_{block_id}"]), n_effects)
        return sd, np.linalg.cholesky(corr)
    if f"L_{block_id}" in values:
        return sd, np.asarray(values[f"L_{block_id}"], dtype=float)
    return sd, None
