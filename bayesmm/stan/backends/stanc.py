"""Check Stan code with the stanc compiler that httpstan ships (milliseconds, no C++ build).

Examples
--------
>>> check_stan_code("parameters { real x; } model { x ~ std_normal(); }")  # doctest: +SKIP
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from ...errors import BackendError


def stanc_path() -> Path:
    """Path of httpstan's bundled ``stanc`` binary."""
    import httpstan

    path = Path(httpstan.__file__).parent / "stanc"
    if not path.exists():
        raise BackendError(f"httpstan's stanc was not found at {path}; reinstall httpstan.")
    return path


def check_stan_code(code: str) -> str:
    """Run stanc on ``code``; return its warnings, raise BackendError with its message on errors."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "model.stan"
        source.write_text(code)
        result = subprocess.run(
            [str(stanc_path()), str(source), "--o", str(Path(folder) / "model.hpp")],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise BackendError(f"stanc rejected the program:\n{result.stderr or result.stdout}")
    return result.stderr
