"""Generated quantities that httpstan's ``write_array`` cannot draw: redrawn here.

httpstan's ``write_array`` (the only way to get generated quantities at a given point
without NUTS) seeds its random number generator with 0 on every call, so every ``_rng`` in
generated quantities returns the same numbers for every draw of an approximation. Two
programs use them:

* ``y_rep`` (both programs): approximate fits on pystan are run with ``compute_y_rep = 0``;
  :meth:`bayesmm.posterior.fit.Fit.posterior_predictive` simulates replicated data in numpy.
* the exact marginal program's group-level effects ``r_i``, drawn from their conditional
  normal given the other parameters: :func:`redraw_marginal_effects` draws them here with the
  algebra of ``templates/marginal.stan.j2``'s generated quantities, from the same data.
  Its pointwise log-likelihood depends on those draws, so it is switched off too
  (``compute_log_lik = 0``).

Examples
--------
>>> rng_free_data({"compute_y_rep": 1, "compute_log_lik": 1, "ZtZ": [], "Zty": []})
{'compute_y_rep': 0, 'compute_log_lik': 0, 'ZtZ': [], 'Zty': []}
>>> rng_free_data({"compute_y_rep": 1, "compute_log_lik": 1})  # the latent program
{'compute_y_rep': 0, 'compute_log_lik': 1}
"""

from __future__ import annotations

from typing import Any

import numpy as np


def is_marginal_program(data: dict[str, Any]) -> bool:
    """Whether ``data`` is the exact marginal program's (it sends per-level ``ZtZ``)."""
    return "ZtZ" in data and "Zty" in data


def rng_free_data(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` whose generated quantities draw no random numbers (see above)."""
    out = dict(data)
    if "compute_y_rep" in out:
        out["compute_y_rep"] = 0
    if is_marginal_program(data) and "compute_log_lik" in out:
        out["compute_log_lik"] = 0
    return out


def _block_sizes(data: dict[str, Any]) -> list[int]:
    sizes, i = [], 1
    while f"M_{i}" in data:
        sizes.append(int(data[f"M_{i}"]))
        i += 1
    return sizes


def redraw_marginal_effects(
    data: dict[str, Any], draws: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Draw the marginal program's ``r_i`` from their exact conditional, draw by draw.

    With ``Lambda`` the block-diagonal covariance factor (``diag(sd_i) L_i``, or
    ``diag(sd_i)`` for ``||``), ``M_j = sigma^2 I + Lambda' Z_j'Z_j Lambda`` and ``c_j =
    Lambda' Z_j'(y_j - X_j beta)``, level j's effects are ``Lambda v_j`` with
    ``v_j ~ N(M_j^-1 c_j, sigma^2 M_j^-1)`` (``N(0, I)`` when the likelihood is off). With
    ``se(s, sigma = FALSE)`` (data ``sum_log_2pi_se2``) the statistics are precision-weighted
    and sigma is 1.

    Parameters
    ----------
    data : dict
        The marginal program's data.
    draws : dict
        Stan variable -> (chains, draws, *shape); needs ``b``, ``sd_i``, ``L_i`` (correlated
        blocks), ``Intercept`` when the model has one and ``sigma`` unless it has
        ``se(s, sigma = FALSE)``.
    rng : numpy.random.Generator
        Randomness of the draws.

    Returns
    -------
    dict
        ``r_i`` -> (chains, draws, J, M_i).
    """
    J, Q = int(data["J"]), int(data["Q"])
    known_se = "sum_log_2pi_se2" in data  # se(s, sigma = FALSE): sigma is 1 in this algebra
    chains, n = np.shape(draws["sd_1"])[:2]
    flat = {
        k: np.asarray(v, dtype=float).reshape(chains * n, *np.shape(v)[2:])
        for k, v in draws.items()
    }
    D = chains * n
    sizes = _block_sizes(data)
    Lambda = np.zeros((D, Q, Q))
    start = 0
    for i, m in enumerate(sizes, start=1):
        factor = flat[f"sd_{i}"][:, :, None] * (flat[f"L_{i}"] if f"L_{i}" in flat else np.eye(m))
        Lambda[:, start : start + m, start : start + m] = factor
        start += m
    b = flat["b"].reshape(D, -1)
    if "Intercept" in flat:
        beta = np.column_stack([flat["Intercept"].reshape(D) - float(data["y_shift"]), b])
    else:
        beta = b
    Zty = np.asarray(data["Zty"], dtype=float)
    ZtX = np.asarray(data["ZtX"], dtype=float).reshape(Q * J, -1)
    Ztr = (Zty[None, :] - beta @ ZtX.T).reshape(D, Q, J).transpose(0, 2, 1)  # (D, J, Q)
    ZtZ = np.asarray(data["ZtZ"], dtype=float).reshape(J, Q, Q).transpose(0, 2, 1)  # column-major
    z = rng.standard_normal((D, J, Q))
    if int(data.get("prior_only", 0)):
        v = z
    else:
        s = np.ones(D) if known_se else flat["sigma"].reshape(D)
        Lt = np.swapaxes(Lambda, 1, 2)[:, None]  # (D, 1, Q, Q)
        M = Lt @ ZtZ[None] @ Lambda[:, None] + (s**2)[:, None, None, None] * np.eye(Q)
        chol = np.linalg.cholesky(M)
        w = np.linalg.solve(chol, (Lt @ Ztr[..., None]))  # chol_m \ Lambda' Ztr_j
        v = np.linalg.solve(np.swapaxes(chol, 2, 3), w + s[:, None, None, None] * z[..., None])
        v = v[..., 0]
    effects = np.einsum("dab,djb->dja", Lambda, v)
    out, start = {}, 0
    for i, m in enumerate(sizes, start=1):
        out[f"r_{i}"] = effects[:, :, start : start + m].reshape(chains, n, J, m)
        start += m
    return out
