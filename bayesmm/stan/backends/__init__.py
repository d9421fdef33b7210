"""Stan backends: ``"auto"`` picks cmdstanpy when CmdStan is installed, else pystan.

Both return the same :class:`~bayesmm.stan.backends.base.SamplerOutput`, so everything after the
backend is identical.

Examples
--------
>>> get_backend("pystan").name
'pystan'
"""

from __future__ import annotations

from ...errors import BackendError, suggest
from .base import SamplerOutput, SamplerSettings
from .cmdstanpy_backend import CmdStanPyBackend
from .pystan_backend import PystanBackend

BACKEND_NAMES = ("auto", "cmdstanpy", "pystan")


def get_backend(name: str = "auto"):
    """Return the backend object for ``name`` (``"auto"``, ``"cmdstanpy"`` or ``"pystan"``)."""
    if name == "auto":
        return CmdStanPyBackend() if CmdStanPyBackend.available() else PystanBackend()
    if name == "cmdstanpy":
        return CmdStanPyBackend()
    if name == "pystan":
        return PystanBackend()
    raise BackendError(
        f"Unknown backend '{name}'.{suggest(str(name), BACKEND_NAMES)} "
        f"Choose one of: {', '.join(BACKEND_NAMES)}."
    )


__all__ = ["SamplerOutput", "SamplerSettings", "get_backend", "CmdStanPyBackend", "PystanBackend"]
