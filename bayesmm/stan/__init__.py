"""Stage 2, from a ModelSpec to draws: Stan programs and the backends that run them.

Code generation of the latent and the exact marginal programs (``codegen``,
``marginal_codegen``), the marginal program's sufficient statistics (``marginal``), centred or
non-centred blocks (``parameterization``), initial values (``inits``), within-chain threads
(``parallel``) and ``backends/`` (pystan and cmdstanpy, the compiled-model cache, stanc).
Imports only :mod:`bayesmm.model`.
"""
