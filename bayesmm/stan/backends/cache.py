"""The compiled-model cache: a per-user folder, keyed by the code's hash, safe across processes.

The folder is ``$BAYESMM_CACHE_DIR`` if set, else ``~/.cache/bayesmm`` (``$XDG_CACHE_HOME``
respected). A model's key is the SHA-256 of its comment-free code, the backend's name and the
Stan version; a file lock per key makes a second process wait for the first one's compile and
then reuse it.

Examples
--------
>>> len(cache_key("model {}", "pystan", "2.35.0"))
64
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the annotation: base does not import this module
    from .base import Backend


def cache_root() -> Path:
    """The cache folder (created on first use)."""
    override = os.environ.get("BAYESMM_CACHE_DIR")
    if override:
        root = Path(override).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = Path(base) / "bayesmm"
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_key(code: str, backend: str, stan_version: str) -> str:
    """SHA-256 of backend, Stan version and (comment-free) code."""
    return hashlib.sha256(f"{backend}\n{stan_version}\n{code}".encode()).hexdigest()


@contextmanager
def compile_lock(key: str) -> Iterator[None]:
    """Hold an exclusive inter-process lock for compiling the model ``key``."""
    locks = cache_root() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{key}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def record_compiled(key: str, info: dict) -> None:
    """Write the index entry of a compiled model (what, when, how long)."""
    index = cache_root() / "index"
    index.mkdir(parents=True, exist_ok=True)
    tmp = index / f"{key}.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(info, indent=1))
    tmp.replace(index / f"{key}.json")


def record_new_compile(
    key: str, backend: Backend, was_cached: bool, compile_seconds: float, **details: str
) -> None:
    """Write the index entry of a model ``backend`` compiled just now; nothing if it came
    from the cache.

    Both backends call this after their compile, so every entry has the same fields
    (``backend``, ``stan``, ``compile_seconds``, then ``details`` such as httpstan's model name).

    Examples
    --------
    >>> from bayesmm.stan.backends.pystan_backend import PystanBackend
    >>> record_new_compile("k" * 64, PystanBackend(), was_cached=True, compile_seconds=61.0)
    """
    if was_cached:
        return
    entry = {"backend": backend.name, "stan": backend.stan_version()}
    record_compiled(key, {**entry, "compile_seconds": compile_seconds, **details})


def compiled_entry(key: str) -> dict | None:
    """The index entry of a compiled model, or None if it was never compiled here."""
    path = cache_root() / "index" / f"{key}.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
