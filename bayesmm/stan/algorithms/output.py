"""An approximation's draws as a :class:`~bayesmm.stan.backends.base.SamplerOutput`: one chain,
so everything after the backend treats them as NUTS's.

Examples
--------
>>> import numpy as np
>>> from bayesmm.stan.algorithms.laplace import ApproximateDraws
>>> a = ApproximateDraws(np.zeros((2, 1)), np.array([-1.0, -2.0]), np.array([-1.5, -2.5]))
>>> out = approximation_output({"b": np.zeros((1, 2, 1))}, a, "pystan", "2.35.0", True)
>>> out.sample_stats["lp"].shape, out.algorithm_details["draws"]
((1, 2), 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .laplace import ApproximateDraws


def approximation_output(
    draws: dict[str, np.ndarray],
    approximation: ApproximateDraws,
    backend: str,
    stan_version: str,
    compiled_from_cache: bool,
    compile_seconds: float = 0.0,
    sample_seconds: float = 0.0,
    parameter_names: Sequence[str] = (),
    algorithm: str = "",
) -> Any:
    """Wrap constrained draws (1, draws, *shape) and the approximation's log densities.

    ``sample_stats`` gets ``lp`` (log density of the model, with Jacobian for the
    approximations) and, where defined, ``lp_approx`` (of the approximation).

    Returns
    -------
    SamplerOutput
    """
    from ..backends.base import SamplerOutput  # the backends import this module

    log_p = np.asarray(approximation.log_p, dtype=float)[None, :]
    log_q = np.asarray(approximation.log_q, dtype=float)[None, :]
    stats = {"lp": log_p}
    if np.isfinite(log_q).any():
        stats["lp_approx"] = log_q
    details = {**approximation.details, "draws": int(log_p.shape[1])}
    return SamplerOutput(
        draws=draws,
        sample_stats=stats,
        backend=backend,
        stan_version=stan_version,
        compiled_from_cache=compiled_from_cache,
        compile_seconds=compile_seconds,
        sample_seconds=sample_seconds,
        algorithm=algorithm or str(approximation.details.get("algorithm", "")),
        algorithm_details=details,
        parameter_names=tuple(parameter_names),
    )
