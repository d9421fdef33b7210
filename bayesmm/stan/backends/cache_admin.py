"""List, size and clear the compiled models in bayesmm's cache folder; estimate compile times.

:func:`bayesmm.compile_cache` returns a :class:`CompileCache` for the folder of
``$BAYESMM_CACHE_DIR`` (default ``~/.cache/bayesmm``). Each compiled model is one folder: a
pystan model under ``httpstan-<version>/models/<id>`` (the C++ source, the extension module,
stanc's messages), a CmdStan executable under ``cmdstan-<version>/<key>``. A model built by
bayesmm's own build (:mod:`bayesmm.stan.backends.pystan_build`) carries a small
``bayesmm_build.json`` with its build tag and times; folders without it, or with another tag,
were built with other flags (httpstan's own build, 60-100 MB each) and are never used again by
this version: ``clear(stale_only=True)`` removes just those.

Examples
--------
>>> import bayesmm as bmm
>>> cache = bmm.compile_cache()  # doctest: +SKIP
>>> cache.list()  # doctest: +SKIP
>>> cache.size_mb()  # doctest: +SKIP
>>> cache.clear(stale_only=True)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .cache import cache_root
from .pystan_build import BUILD_RECORD, build_tag, pch_folder

LIST_COLUMNS = ["backend", "model", "size_mb", "built", "compile_s", "current_build", "path"]


def folder_size(folder: Path) -> int:
    """Bytes in the files below ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def read_build_record(model_directory: Path) -> dict:
    """The folder's build record, or ``{}`` (a model built by httpstan's own build)."""
    try:
        return json.loads((model_directory / BUILD_RECORD).read_text())
    except (OSError, ValueError):
        return {}


def _current_tag() -> str:
    return build_tag()


def typical_compile_seconds(root: Path | None = None) -> float | None:
    """Median wall-clock seconds of the compiles made here with the current build (None
    before the first one): what the first fit of a new structure announces.

    Examples
    --------
    >>> typical_compile_seconds(Path("/nonexistent"))  # None: nothing compiled there
    """
    root = cache_root() if root is None else root
    tag = _current_tag()
    seconds = []
    for record_file in root.glob(f"httpstan-*/models/*/{BUILD_RECORD}"):
        record = read_build_record(record_file.parent)
        if record.get("build_tag") == tag and "total_s" in record:
            seconds.append(float(record["total_s"]))
    return statistics.median(seconds) if seconds else None


@dataclass
class CompileCache:
    """The compiled models in one cache folder.

    Attributes
    ----------
    root : pathlib.Path
        The cache folder.
    """

    root: Path

    def _model_folders(self) -> list[tuple[str, Path]]:
        folders = [("pystan", p) for p in self.root.glob("httpstan-*/models/*") if p.is_dir()]
        folders += [("cmdstanpy", p) for p in self.root.glob("cmdstan-*/*") if p.is_dir()]
        return folders

    def list(self) -> pd.DataFrame:
        """One row per compiled model: backend, model id, size in MB, when it was built,
        compile seconds (bayesmm's build), whether it was built with the current build
        (``current_build``; False: never used again, see :meth:`clear`), and its folder.

        Examples
        --------
        >>> bmm.compile_cache().list().head()  # doctest: +SKIP
        """
        tag = _current_tag()
        rows = []
        for backend, folder in self._model_folders():
            record = read_build_record(folder)
            rows.append(
                {
                    "backend": backend,
                    "model": folder.name,
                    "size_mb": folder_size(folder) / 1e6,
                    "built": pd.Timestamp(folder.stat().st_mtime, unit="s"),
                    "compile_s": record.get("total_s", float("nan")),
                    "current_build": backend == "cmdstanpy" or record.get("build_tag") == tag,
                    "path": str(folder),
                }
            )
        table = pd.DataFrame(rows, columns=LIST_COLUMNS)
        return table.sort_values("built", ascending=False, ignore_index=True)

    def size_mb(self) -> float:
        """Megabytes used by the whole cache folder (models, shared build files, fits)."""
        return folder_size(self.root) / 1e6 if self.root.exists() else 0.0

    def clear(self, stale_only: bool = False) -> int:
        """Delete compiled models; return how many folders were removed.

        Parameters
        ----------
        stale_only : bool
            Remove only models that this version never uses again (built with other flags or
            by httpstan's own build, and precompiled headers of other flags or Stan versions);
            otherwise every compiled model and precompiled header. A model that another
            Python process is running must not be removed: clear while no fits run.

        Examples
        --------
        >>> bmm.compile_cache().clear(stale_only=True)  # doctest: +SKIP
        3
        """
        table = self.list()
        if stale_only:
            table = table[~table["current_build"].astype(bool)]
        for path in table["path"]:
            shutil.rmtree(path, ignore_errors=True)
        if not stale_only:
            shutil.rmtree(self.root / "index", ignore_errors=True)
        # precompiled model headers (0.8 GB each): those of other flags or Stan versions are
        # stale; clearing everything removes the current one too (rebuilt when next needed)
        current = pch_folder().name if self.root == cache_root() else None
        for folder in self.root.glob("pystan-build/pch-*"):
            if not stale_only or folder.name != current:
                shutil.rmtree(folder, ignore_errors=True)
        return len(table)

    def __repr__(self) -> str:
        table = self.list()
        stale = int((~table["current_build"]).sum()) if len(table) else 0
        return (
            f"<bayesmm compile cache {self.root}: {len(table)} compiled models "
            f"({stale} stale), {self.size_mb():.1f} MB>"
        )


def compile_cache() -> CompileCache:
    """The compiled-model cache (``$BAYESMM_CACHE_DIR``, default ``~/.cache/bayesmm``):
    ``.list()`` its models with their sizes, ``.size_mb()``, ``.clear(stale_only=...)``.

    Examples
    --------
    >>> import bayesmm as bmm
    >>> isinstance(bmm.compile_cache().size_mb(), float)
    True
    """
    return CompileCache(cache_root())
