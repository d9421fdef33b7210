"""bayesmm: Bayesian (generalized) linear mixed models with lme4/brms formulas and Stan.

Examples
--------
>>> import bayesmm as bmm
>>> bmm.families.get_family("poisson").link
'log'
"""

from . import families
from ._version import __version__
from .api import compare, fit, get_prior, load, model_spec, stancode, standata
from .calibration import SBCResult, sbc
from .covariance import CovarianceMatrices, covariance_matrices
from .covariance_plot import plot_covariance
from .errors import (
    BackendError,
    BayesmmError,
    BayesmmWarning,
    DataError,
    FamilyError,
    FormulaError,
    MissingDataWarning,
    MissingDependencyError,
    ModelCheckWarning,
    PriorError,
    ResponseError,
    SamplingWarning,
    UnsupportedModelError,
)
from .fit import Fit
from .lecture_data import covariance_example, factorial_example
from .maximal import MaximalModel, maximal_model
from .power import PowerResult, power
from .simulate import Simulation, simulate
from .spec import ModelSpec
from .user_priors import Prior, prior

__all__ = [
    "__version__",
    "families",
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
    "MissingDependencyError",
    "ModelCheckWarning",
    "simulate",
    "Simulation",
    "sbc",
    "SBCResult",
    "power",
    "PowerResult",
]
