"""Why the Laplace approximation misses NUTS on cbpp, measured (issue 17).

Usage::

    python benchmarks/laplace_cbpp.py            # writes nothing; prints the tables

For ``cbind(incidence, size - incidence) ~ period + (1 | herd)`` (binomial, 15 herds) on the
pystan backend, in both parameterizations of the herd block:

1. NUTS (4 chains x 1000 + 1000) as the reference: fixed effects and sd_herd, and log sd_herd
   (its unconstrained coordinate).
2. The joint mode that ``algorithm="laplace"`` centres its normal on (log density with the
   Jacobian, as CmdStan's ``laplace_sample``): how L-BFGS ended (iterations, message, largest
   gradient entry), whether a tighter optimizer (scipy BFGS, gtol 1e-10) moves it, the
   Hessian's extreme eigenvalues and the implied SDs for finite-difference steps 1e-2..1e-7
   (is the Hessian step a source of error?), and the constrained values at the mode.
3. For the centred program: log p (with Jacobian) along the ray "every herd effect at the
   intercept, log sd -> -inf", which shows the density has no maximum.
4. A nested ("integrated", TMB/INLA-style) Laplace approximation, as a prototype that is NOT
   part of bayesmm: the herd effects z are integrated out by an inner Laplace approximation
   at each theta = (b, Intercept, log sd), the resulting marginal log density of theta
   (Jacobian included) is maximized, and theta gets a normal from its finite-difference
   Hessian. Its fixed-effect errors against NUTS show what a Laplace approximation that does
   not centre on the joint mode would give.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

import bayesmm as bmm
import bayesmm.stan.backends.pystan_backend as pystan_backend
from bayesmm.stan.algorithms.optimize import find_mode
from bayesmm.stan.algorithms.runner import starting_point

DATA = Path(__file__).resolve().parent.parent / "examples" / "data"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
FIXED = ["b_Intercept", "b_period"]


def density_of(frame: pd.DataFrame, parameterization: str):
    """The LogDensity bayesmm's Laplace run sees (captured from one optimize call)."""
    captured = {}
    original = pystan_backend.run_algorithm

    def capture(density, settings):
        captured["density"] = density
        return original(density, settings)

    pystan_backend.run_algorithm = capture
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bmm.fit(CBPP, frame, "binomial", algorithm="optimize", seed=1,
                    show_progress=False, parameterization=parameterization)  # fmt: skip
    finally:
        pystan_backend.run_algorithm = original
    return captured["density"]


def fd_hessian(gradient, x: np.ndarray, relative_step: float) -> np.ndarray:
    n = x.size
    hessian = np.empty((n, n))
    for i in range(n):
        step = relative_step * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += step
        down[i] -= step
        hessian[:, i] = (gradient(up) - gradient(down)) / (2 * step)
    return 0.5 * (hessian + hessian.T)


def nuts_reference(frame, parameterization):
    fit = bmm.fit(CBPP, frame, "binomial", seed=1, show_progress=False, warn=False,
                  parameterization=parameterization)  # fmt: skip
    table = fit.summary()
    log_sd = np.log(np.asarray(fit.idata.posterior["sd_herd"]).ravel())
    return table, log_sd


def joint_mode_report(density, table, parameterization: str) -> None:
    def gradient(x):
        return np.asarray(density.log_density_gradient(x, True)[1])

    mode = find_mode(density, starting_point(density, None, np.random.default_rng(2)),
                     jacobian=True)  # fmt: skip
    g = gradient(mode.x)
    print(f"  bayesmm L-BFGS: {mode.iterations} iterations, {mode.message}; "
          f"max |grad| {np.max(np.abs(g)):.3g}; log p {mode.log_density:.3f}")  # fmt: skip
    print(f"  unconstrained (b, Intercept, log sd): {np.round(mode.x[:3], 3).tolist()}")
    if np.max(np.abs(g)) > 1e-3:
        return
    polished = minimize(lambda x: tuple(-v for v in density.log_density_gradient(x, True)),
                        mode.x, jac=True, method="BFGS", options={"gtol": 1e-10})  # fmt: skip
    print(f"  scipy BFGS from there: max |grad| {np.max(np.abs(gradient(polished.x))):.3g}, "
          f"moved {np.max(np.abs(polished.x - mode.x)):.2g}, "
          f"log p {-polished.fun:.6f}")  # fmt: skip
    for step in (1e-2, 1e-4, float(np.cbrt(np.finfo(float).eps)), 1e-7):
        hessian = fd_hessian(gradient, polished.x, step)
        eig = np.linalg.eigvalsh(-hessian)
        sd = np.sqrt(np.diag(np.linalg.inv(-hessian)))[:3]
        print(f"  FD step {step:.1e}: eig(-H) {eig.min():.4f}..{eig.max():.2f}; "
              f"SD of (b, Intercept, log sd) {np.round(sd, 4).tolist()}")  # fmt: skip
    values = density.constrain(polished.x)
    print(f"  at the mode: b_period {values[0]:.3f}, sd_herd {values[2]:.3f}, "
          f"log sd_herd {polished.x[2]:.3f}")  # fmt: skip
    print(f"  NUTS: b_period {table.loc['b_period', 'Estimate']:.3f}, "
          f"sd_herd {table.loc['sd_herd__Intercept', 'Estimate']:.3f} "
          f"(SD {table.loc['sd_herd__Intercept', 'Est.Error']:.3f})")  # fmt: skip


def centred_ray(density, mode_x: np.ndarray) -> None:
    print("  log p (Jacobian) with every herd effect at the intercept, log sd -> -inf:")
    for log_sd in (0.0, -2.0, -5.0, -10.0, -20.0, -40.0):
        x = mode_x.copy()
        x[2] = log_sd
        x[3:] = x[1]
        print(f"    log sd {log_sd:6.1f}: log p {density.log_density(x, True):10.3f}")


def nested_laplace(density, z_index, theta_index, x_start):
    """The prototype: maximize the Laplace-integrated marginal of theta, then a normal."""
    state = {"z": x_start[z_index].copy()}

    def inner(theta):
        def negative(z):
            x = np.empty(density.n_parameters)
            x[theta_index], x[z_index] = theta, z
            value, grad = density.log_density_gradient(x, True)
            return -value, -np.asarray(grad)[z_index]

        found = minimize(negative, state["z"], jac=True, method="BFGS",
                         options={"gtol": 1e-9})  # fmt: skip
        state["z"] = found.x

        def z_gradient(z):
            return -negative(z)[1]

        hessian = fd_hessian(z_gradient, found.x, float(np.cbrt(np.finfo(float).eps)))
        sign, logdet = np.linalg.slogdet(-hessian)
        if sign <= 0:
            return -np.inf, found.x
        return -found.fun - 0.5 * logdet, found.x

    def objective(theta):
        value, _ = inner(theta)
        return -value if np.isfinite(value) else 1e300

    theta0 = x_start[theta_index]
    found = minimize(objective, theta0, method="Nelder-Mead",
                     options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 4000})  # fmt: skip
    theta_hat = found.x
    step = 1e-3
    n = theta_hat.size
    hessian = np.empty((n, n))
    f0 = -objective(theta_hat)
    for i in range(n):
        for j in range(i, n):
            e_i, e_j = np.eye(n)[i] * step, np.eye(n)[j] * step
            value = (
                -objective(theta_hat + e_i + e_j)
                + objective(theta_hat + e_i - e_j)
                + objective(theta_hat - e_i + e_j)
                - objective(theta_hat - e_i - e_j)
            ) / (4 * step**2)
            hessian[i, j] = hessian[j, i] = value
    _, z_hat = inner(theta_hat)
    return theta_hat, np.linalg.inv(-hessian), z_hat, f0


def main() -> None:
    pd.set_option("display.width", 200)
    frame = pd.read_csv(DATA / "cbpp.csv")
    for parameterization in ("noncentred", "centred"):
        print(f"\n== cbpp, parameterization={parameterization!r}")
        table, log_sd = nuts_reference(frame, parameterization)
        print("  NUTS (4 x 1000+1000):")
        print(table.loc[FIXED + ["sd_herd__Intercept"], ["Estimate", "Est.Error"]]
              .to_string().replace("\n", "\n    "))  # fmt: skip
        print(f"  NUTS log sd_herd: mean {log_sd.mean():.3f}, SD {log_sd.std():.3f}")
        density = density_of(frame, parameterization)
        names = [name for name, _ in density.parameters]
        print(f"  unconstrained parameters: {density.parameters} ({density.n_parameters})")
        joint_mode_report(density, table, parameterization)
        if parameterization == "centred":
            mode = find_mode(density, starting_point(density, None, np.random.default_rng(2)),
                             jacobian=True)  # fmt: skip
            centred_ray(density, mode.x)
            continue
        assert names[:3] == ["b", "Intercept", "sd_1"], names
        theta_index, z_index = np.arange(3), np.arange(3, density.n_parameters)
        start = time.perf_counter()
        x0 = np.zeros(density.n_parameters)
        theta_hat, covariance, z_hat, _ = nested_laplace(density, z_index, theta_index, x0)
        seconds = time.perf_counter() - start
        rng = np.random.default_rng(3)
        thetas = rng.multivariate_normal(theta_hat, covariance, size=4000)
        b_period = thetas[:, 0]  # b is unconstrained: its coordinate is its value
        sd_herd = np.exp(thetas[:, 2])
        print(f"  nested Laplace prototype ({seconds:.1f} s): theta mode "
              f"{np.round(theta_hat, 3).tolist()}, SDs "
              f"{np.round(np.sqrt(np.diag(covariance)), 3).tolist()}")  # fmt: skip
        rows = []
        intercept = nested_intercepts(density, thetas, z_hat)
        for name, draws in (("b_Intercept", intercept), ("b_period", b_period),
                            ("sd_herd__Intercept", sd_herd)):  # fmt: skip
            ref_mean, ref_sd = table.loc[name, "Estimate"], table.loc[name, "Est.Error"]
            rows.append({
                "quantity": name, "nested mean": round(float(draws.mean()), 3),
                "nested SD": round(float(draws.std()), 3), "NUTS mean": round(ref_mean, 3),
                "NUTS SD": round(ref_sd, 3),
                "gap (NUTS SDs)": round(abs(draws.mean() - ref_mean) / ref_sd, 2),
                "SD ratio": round(float(draws.std()) / ref_sd, 2),
            })  # fmt: skip
        print("    " + pd.DataFrame(rows).to_string(index=False).replace("\n", "\n    "))


def nested_intercepts(density, thetas, z_hat):
    """b_Intercept per draw. The program samples the intercept of the centred design matrix
    ("Intercept") and writes b_Intercept = Intercept - mean(period) * b among its constrained
    values; LogDensity has no names for those, so the linear map is read off by probing."""
    base = np.r_[[0.0, 0.0, 0.0], z_hat]
    return np.array([_b_intercept(density, np.r_[t, z_hat], base) for t in thetas])


_MAP: dict = {}


def _b_intercept(density, x, base):
    if "coef" not in _MAP:
        # b_Intercept = c0 + c1 * b + c2 * Intercept: find the column of the constrained
        # output that is linear in (b, Intercept) with c2 = 1 and is not Intercept itself
        at = [density.constrain(base + np.r_[d, np.zeros(base.size - 3)])
              for d in ([0, 0, 0], [1, 0, 0], [0, 1, 0])]  # fmt: skip
        c1, c2 = at[1] - at[0], at[2] - at[0]
        candidates = [i for i in range(len(c1))
                      if abs(c2[i] - 1) < 1e-9 and abs(c1[i]) > 1e-9]  # fmt: skip
        _MAP["coef"] = (candidates[0], at[0][candidates[0]], c1[candidates[0]])
    index, c0, c1 = _MAP["coef"]
    return c0 + c1 * x[0] + x[1]


if __name__ == "__main__":
    main()
