"""bayesmm: Bayesian (generalized) linear mixed models with lme4/brms formulas and Stan.

Examples
--------
>>> import bayesmm as bmm
>>> bmm.families.get_family("poisson").link
'log'
"""

from . import families
from ._version import __version__
from .api import fit, get_prior, model_spec, stancode, standata
from .errors import (
    BackendError,
    BayesmmError,
    BayesmmWarning,
    DataError,
    FamilyError,
    FormulaError,
    MissingDataWarning,
    PriorError,
    ResponseError,
    SamplingWarning,
)
from .fit import Fit
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
    "Fit",
    "ModelSpec",
    "BayesmmError",
    "FormulaError",
    "DataError",
    "ResponseError",
    "FamilyError",
    "BackendError",
    "BayesmmWarning",
    "MissingDataWarning",
    "SamplingWarning",
]
