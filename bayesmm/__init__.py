"""bayesmm: Bayesian (generalized) linear mixed models with lme4/brms formulas and Stan.

Examples
--------
>>> import bayesmm as bmm
>>> bmm.families.get_family("poisson").link
'log'
"""

from . import families
from ._version import __version__
from .api import fit, model_spec, stancode, standata
from .calibration import SBCResult, sbc
from .errors import (
    BackendError,
    BayesmmError,
    BayesmmWarning,
    DataError,
    FamilyError,
    FormulaError,
    MissingDataWarning,
    ResponseError,
    SamplingWarning,
)
from .fit import Fit
from .power import PowerResult, power
from .simulate import Simulation, simulate
from .spec import ModelSpec

__all__ = [
    "__version__",
    "families",
    "fit",
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
    "simulate",
    "Simulation",
    "sbc",
    "SBCResult",
    "power",
    "PowerResult",
]
