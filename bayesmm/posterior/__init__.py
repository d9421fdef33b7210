"""Stage 3, after the fit: :class:`~bayesmm.posterior.fit.Fit` and everything it offers.

Prediction (``predict``), predictive checks and LOO (``checks``), residuals, shrinkage,
diagnostics, plots, REML/ML estimates beside the posterior (``frequentist``) and save/load
(``io``). Imports :mod:`bayesmm.model` and :mod:`bayesmm.stan`.
"""
