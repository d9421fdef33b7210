"""Save a fit to disk and load it back: the InferenceData as netCDF plus the model spec.

A saved fit is a folder with two files:

- ``idata.nc``: the ArviZ InferenceData (posterior with named coordinates, sample stats,
  observed data, log-likelihood and posterior predictive groups); ``arviz.from_netcdf`` reads
  it without bayesmm.
- ``model.pkl``: the :class:`~bayesmm.model.spec.ModelSpec` (with the formulae design objects that
  evaluate new data), the Stan program and the sampler settings, pickled.

After :func:`load`, ``predict``, ``fitted``, ``ranef`` and the checks work without the original
data and without compiling anything. Load only files you trust: pickle runs code.

Examples
--------
>>> fit.save("sleepstudy_fit")  # doctest: +SKIP
>>> again = bmm.load("sleepstudy_fit")  # doctest: +SKIP
>>> again.fitted(seed=1).equals(fit.fitted(seed=1))  # doctest: +SKIP
True
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import arviz as az

from .._version import __version__
from ..errors import BayesmmError

IDATA_FILE = "idata.nc"
MODEL_FILE = "model.pkl"
FORMAT_VERSION = 1


def dumps_model(payload: Any) -> bytes:
    """Pickle a ModelSpec (or anything holding one).

    formulae's design objects keep their evaluation namespace, a
    :class:`~bayesmm.model.design.DesignEnvironment` that pickles by reference.
    """
    return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)


def save_fit(fit: Any, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``fit`` to the folder ``path`` (created); returns the folder.

    Parameters
    ----------
    fit : Fit
        The fit to save.
    path : str or Path
        A folder name (e.g. ``"sleep_fit"``).
    overwrite : bool
        Replace an existing saved fit in that folder.

    Examples
    --------
    >>> save_fit(fit, "sleep_fit")  # doctest: +SKIP
    PosixPath('sleep_fit')
    """
    folder = _folder_of(path, "fit.save")
    if folder.exists() and not folder.is_dir():
        raise BayesmmError(
            f"'{folder}' is a file, not a folder: a saved fit is a folder of two files. Choose "
            "a new folder name, e.g. fit.save('sleep_fit')."
        )
    if folder.exists() and not overwrite and any(folder.iterdir()):
        raise BayesmmError(
            f"'{folder}' exists and is not empty; pass overwrite=True to replace a saved fit."
        )
    if folder.exists() and overwrite and any(folder.iterdir()):
        strangers = sorted(
            p.name for p in folder.iterdir() if p.name not in (MODEL_FILE, IDATA_FILE)
        )
        if strangers:
            raise BayesmmError(
                f"'{folder}' holds other files ({', '.join(strangers[:5])}), so it is not a saved "
                "fit; overwrite=True only replaces a saved fit. Choose another folder."
            )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".bayesmm-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise BayesmmError(
            f"Cannot create or write the folder '{folder}' ({err.strerror or err}): choose a place "
            "you can write to, e.g. fit.save('sleep_fit') in the working directory."
        ) from None
    payload = {
        "format_version": FORMAT_VERSION,
        "bayesmm_version": __version__,
        "spec": fit.spec,
        "program": fit.program,
        "settings": fit.settings,
        "backend": fit.backend,
        "stan_version": fit.stan_version,
        "compiled_from_cache": fit.compiled_from_cache,
        "compile_seconds": fit.compile_seconds,
        "sample_seconds": fit.sample_seconds,
        "prior_only": fit.prior_only,
        "method": fit.method,
        "algorithm": fit.algorithm,
        "algorithm_details": fit.algorithm_details,
        "stan_messages": fit.stan_messages,
        "chain_seconds": fit.chain_seconds,
    }
    (folder / MODEL_FILE).write_bytes(dumps_model(payload))
    fit.idata.to_netcdf(str(folder / IDATA_FILE))
    return folder


def _folder_of(path: Any, caller: str) -> Path:
    """``path`` as a Path, or our error when it is not a path at all (``None``)."""
    try:
        text = os.fspath(path)
        if not str(text).strip():
            raise TypeError
        return Path(text)
    except TypeError:
        raise BayesmmError(
            f"{caller} needs a folder name (a str or pathlib.Path), got {path!r}; e.g. "
            f"{caller}('sleep_fit')."
        ) from None


#: The flat modules of bayesmm 0.x by the stage subpackage they moved into (issue 19): fits
#: saved before the move name them in model.pkl.
_PRE_LAYOUT_MODULES = {
    "model": (
        "design",
        "families",
        "formula",
        "links",
        "naming",
        "prior_table",
        "priors",
        "spec",
        "user_priors",
    ),
    "stan": (
        "codegen",
        "inits",
        "marginal",
        "marginal_codegen",
        "parallel",
        "parameterization",
        "backends",
    ),
    "posterior": (
        "checks",
        "diagnostics",
        "fit",
        "frequentist",
        "io",
        "plots",
        "predict",
        "residuals",
        "shrinkage",
    ),
    "teaching": ("covariance", "covariance_plot", "lecture_data", "maximal"),
    "workflows": ("calibration", "power", "prior_draws", "scaleout", "simulate"),
}
MOVED_MODULES = {
    f"bayesmm.{name}": f"bayesmm.{stage}.{name}"
    for stage, names in _PRE_LAYOUT_MODULES.items()
    for name in names
} | {
    f"bayesmm.backends.{name}": f"bayesmm.stan.backends.{name}"
    for name in ("base", "cache", "cmdstanpy_backend", "pystan_backend", "stanc")
}


class _SavedFitUnpickler(pickle.Unpickler):
    """Unpickler that finds classes saved under their pre-layout module names."""

    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(MOVED_MODULES.get(module, module), name)


def read_saved_fit(path: str | Path) -> dict[str, Any]:
    """Read a folder written by :meth:`Fit.save`: the keyword arguments of ``Fit``.

    ``bayesmm.load`` builds the :class:`~bayesmm.posterior.fit.Fit` from them (this module
    does not import ``fit``, which imports it for ``save``).

    Examples
    --------
    >>> parts = read_saved_fit("sleep_fit")  # doctest: +SKIP
    >>> sorted(parts)[:3]  # doctest: +SKIP
    ['backend', 'compile_seconds', 'compiled_from_cache']
    """
    folder = _folder_of(path, "bmm.load")
    missing = [name for name in (MODEL_FILE, IDATA_FILE) if not (folder / name).exists()]
    if missing:
        raise BayesmmError(
            f"'{folder}' is not a saved bayesmm fit: {', '.join(missing)} missing. Save fits "
            "with fit.save(path)."
        )
    try:
        with open(folder / MODEL_FILE, "rb") as handle:
            payload = _SavedFitUnpickler(handle).load()  # noqa: S301 (user's own file)
        if not isinstance(payload, dict) or "spec" not in payload:
            raise ValueError("it does not hold a saved fit")
    except Exception as err:  # a damaged pickle raises many types
        raise BayesmmError(
            f"'{folder / MODEL_FILE}' could not be read ({type(err).__name__}: {err}): the file "
            "is damaged or was not written by fit.save(). Save the fit again."
        ) from None
    try:
        idata = az.from_netcdf(str(folder / IDATA_FILE))
        for group in idata.groups():
            getattr(idata, group).load()
    except Exception as err:
        raise BayesmmError(
            f"'{folder / IDATA_FILE}' could not be read ({type(err).__name__}: {err}): the file "
            "is damaged or was not written by fit.save(). Save the fit again."
        ) from None
    payload.pop("format_version")
    payload.pop("bayesmm_version")
    return {"idata": idata, **payload}
