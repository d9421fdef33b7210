"""bayesmm: Bayesian (generalized) linear mixed models with lme4/brms formulas and Stan.

Examples
--------
>>> import bayesmm as bmm
>>> bmm.families.get_family("poisson").link
'log'
"""

import sys

from ._version import __version__
from .api import compare, fit, get_prior, load, model_spec, stancode, standata
from .errors import (
    BackendError,
    BayesmmError,
    BayesmmWarning,
    DataError,
    DataWarning,
    FamilyError,
    FormulaError,
    MissingDataWarning,
    MissingDependencyError,
    ModelCheckWarning,
    PriorError,
    ResponseError,
    SamplingWarning,
    UnsupportedModelError,
    UnsupportedTermError,
)
from .model import families
from .model.distributional import ModelFormula, bf
from .model.spec import ModelSpec
from .model.user_priors import Prior, prior
from .posterior.fit import Fit
from .stan.backends.cache_admin import CompileCache, compile_cache
from .teaching.covariance import CovarianceMatrices, covariance_matrices
from .teaching.covariance_plot import plot_covariance
from .teaching.lecture_data import covariance_example, factorial_example
from .teaching.maximal import MaximalModel, maximal_model
from .workflows.calibration import SBCResult, sbc
from .workflows.power import PowerResult, power
from .workflows.simulate import Simulation, simulate

# ``bayesmm.families`` is public (``bmm.families.gamma(link="log")``, ``from bayesmm.families import
# poisson``); the module itself lives in the model stage.
sys.modules[f"{__name__}.families"] = families

__all__ = [
    "__version__",
    "families",
    "bf",
    "ModelFormula",
    "fit",
    "get_prior",
    "prior",
    "Prior",
    "PriorError",
    "model_spec",
    "stancode",
    "standata",
    "load",
    "compare",
    "compile_cache",
    "CompileCache",
    "Fit",
    "ModelSpec",
    "covariance_matrices",
    "CovarianceMatrices",
    "plot_covariance",
    "covariance_example",
    "factorial_example",
    "maximal_model",
    "MaximalModel",
    "BayesmmError",
    "FormulaError",
    "DataError",
    "ResponseError",
    "FamilyError",
    "BackendError",
    "BayesmmWarning",
    "MissingDataWarning",
    "SamplingWarning",
    "UnsupportedModelError",
    "UnsupportedTermError",
    "DataWarning",
    "MissingDependencyError",
    "ModelCheckWarning",
    "simulate",
    "Simulation",
    "sbc",
    "SBCResult",
    "power",
    "PowerResult",
]
