"""Within-chain parallelism for the latent program: Stan's ``reduce_sum`` over rows.

With ``threads_per_chain=`` in :func:`bayesmm.fit`, the likelihood of the latent program is
written as a partial sum over a slice of rows (:func:`partial_sum_function`) and added with
``reduce_sum``, which Stan's TBB thread pool evaluates in parallel. Without it the
single-thread program runs (the default: for small N the threading overhead does not pay).

How each backend gets its threads:

* **cmdstanpy**: the model is compiled with ``cpp_options={"STAN_THREADS": True}`` and run with
  ``threads_per_chain`` (CmdStan's ``num_threads``), so each chain gets that many threads.
* **pystan / httpstan**: httpstan compiles *every* model with ``-DSTAN_THREADS`` and links it
  against the TBB library it ships (httpstan/models.py, ``stan_macros``), so ``reduce_sum``
  runs in parallel there too. httpstan never calls Stan Math's ``init_threadpool_tbb``, which
  is what reads ``STAN_NUM_THREADS``; so that variable has no effect, and each chain's TBB
  pool has TBB's default size: the number of CPUs the sampling process may run on. On pystan
  ``threads_per_chain`` therefore selects the threaded program, and the thread count per
  chain is the machine's CPU count (os.sched_getaffinity), whatever number was asked for.

Examples
--------
>>> default_grainsize(100_000, 2)
12500
"""

from __future__ import annotations

from ..model.spec import ModelSpec


def default_grainsize(n_obs: int, threads: int) -> int:
    """Rows per ``reduce_sum`` slice: about four slices per thread, at least 100 rows.

    Examples
    --------
    >>> default_grainsize(500, 4)
    100
    """
    return max(100, n_obs // (4 * max(1, threads)))


def _shared_arguments(spec: ModelSpec) -> list[tuple[str, str]]:
    """(Stan type, name) of the arguments the partial sum needs besides the slice."""
    family = spec.family
    response = "vector" if family.response_type == "real" else "array[] int"
    arguments = [(response, "Y")]
    if family.uses_trials:
        arguments.append(("array[] int", "trials"))
    if spec.offset is not None:
        arguments.append(("vector", "offsets"))
    arguments += [("matrix", "Xc"), ("vector", "b")]
    if spec.has_intercept:
        arguments.append(("real", "Intercept"))
    arguments += [("real", aux.name) for aux in family.aux]
    for i, _ in enumerate(spec.blocks, start=1):
        arguments += [("array[] int", f"group_{i}"), ("matrix", f"Z_{i}"), ("matrix", f"r_{i}")]
    return arguments


def partial_sum_function(spec: ModelSpec) -> str:
    """The Stan function ``partial_log_lik``: log-likelihood of rows ``start:end``.

    Examples
    --------
    >>> from bayesmm.model.design import build_model_spec
    >>> spec = build_model_spec("y ~ (1 | g)", {"y": [1.0, 2, 3, 4], "g": list("aabb")})
    >>> "real partial_log_lik(" in partial_sum_function(spec)
    True
    """
    family = spec.family
    link = family.link
    rows = "start:end"
    y, trials = f"Y[{rows}]", f"trials[{rows}]"
    use_glm = link in family.glm and len(spec.slope_names) > 0
    signature = ", ".join(f"{kind} {name}" for kind, name in _shared_arguments(spec))
    lines = [
        "  // log-likelihood of rows start:end (the slice handed out by reduce_sum)",
        f"  real partial_log_lik(array[] int slice, int start, int end, {signature}) {{",
        "    int n = end - start + 1;",
        f"    vector[n] eta = rep_vector({'Intercept' if spec.has_intercept else '0'}, n)"
        + (f" + offsets[{rows}];" if spec.offset is not None else ";"),
    ]
    for i, block in enumerate(spec.blocks, start=1):
        lines.append(
            f"    eta += rows_dot_product(r_{i}[group_{i}[{rows}]], Z_{i}[{rows}]);"
            f"  // {block.term.text}"
        )
    if use_glm:
        statement = family.glm[link].format(y=y, X=f"Xc[{rows}]", alpha="eta", b="b", trials=trials)
    else:
        lines.append(f"    eta += Xc[{rows}] * b;")
        if link in family.link_lpdf:
            statement = family.link_lpdf[link].format(y=y, eta="eta", trials=trials)
        else:
            inverse = family.link_function.stan_inverse.format(eta="eta")
            lines.append(f"    vector[n] mu = {inverse};")
            statement = family.lpdf.format(y=y, mu="mu", trials=trials)
    lines += [f"    return {statement};", "  }"]
    return "\n".join(lines)


def reduce_sum_statement(spec: ModelSpec) -> str:
    """``target += reduce_sum(partial_log_lik, rows, grainsize, ...);`` for the model block."""
    names = ", ".join(name for _, name in _shared_arguments(spec))
    return f"target += reduce_sum(partial_log_lik, rows, grainsize, {names});"
