"""Stage 1, from formula and data to a :class:`~bayesmm.model.spec.ModelSpec`.

Formula parsing (``formula``), design matrices and grouping factors (``design``), families and
links (``families``, ``links``), default and user priors (``priors``, ``user_priors``,
``prior_table``), the ModelSpec itself (``spec``) and the map from Stan names to the user's
names (``naming``). Imports nothing of the later stages.
"""
