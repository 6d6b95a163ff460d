"""The mixture optimisation problems and exact integer rounding.

The default (``mean_variance``, :func:`solve_mean_variance`) treats a mix as a blend of its
sources and maximises its expected PGF minus κ standard errors. The older ``saturating`` one:

maximise Σ_i w_i · log(1 + x_i / s)   subject to   Σ_i x_i = B,  0 ≤ x_i ≤ cap_i,  (w_i > 0)

It is concave (DCP), solved with cvxpy. The KKT conditions give the water-filling solution
x_i = clip(w_i/λ − s, 0, cap_i) with λ chosen so that Σ x_i = B: :func:`waterfill` computes it
without any solver and serves as the test oracle and as a fallback.
"""

from __future__ import annotations

import numpy as np

from ..errors import PGFSelectError
from .checks import check_solver


def solve(w, budget: float, caps, saturation: float, solver: str | None = None):
    """Continuous optimum. Returns ``(x, solver_name, status)``; sources with w ≤ 0 get 0."""
    w, caps = np.asarray(w, float), np.asarray(caps, float)
    _check_feasible(w, budget, caps)
    x = np.zeros_like(w)
    active = w > 0
    import cvxpy as cp

    # Rescale so the solver sees O(1) numbers whatever the budget and PGF magnitudes.
    wa = w[active] / w[active].max()
    y = cp.Variable(int(active.sum()))
    constraints = [cp.sum(y) == budget / saturation, y >= 0]
    finite = np.isfinite(caps[active])
    if finite.any():
        constraints.append(y[np.flatnonzero(finite)] <= caps[active][finite] / saturation)
    name, status = _solve(cp.Problem(cp.Maximize(wa @ cp.log1p(y)), constraints), solver)
    if status not in ("optimal", "optimal_inaccurate") or y.value is None:
        # The problem is feasible and strictly concave in the active set: the closed form is exact.
        return waterfill(w, budget, caps, saturation), "waterfill", f"optimal (cvxpy {name}: {status})"
    x[active] = np.clip(np.asarray(y.value).ravel() * saturation, 0, caps[active])
    return x, name, status


def waterfill(w, budget: float, caps, saturation: float, iters: int = 200) -> np.ndarray:
    """Closed-form KKT solution x_i = clip(w_i/λ − s, 0, cap_i) with Σ x = B, by bisection on λ."""
    w, caps = np.asarray(w, float), np.asarray(caps, float)
    _check_feasible(w, budget, caps)
    active = w > 0

    def alloc(lam):
        x = np.zeros_like(w)
        x[active] = np.clip(w[active] / lam - saturation, 0, caps[active])
        return x

    hi = w[active].max() / saturation  # at λ = hi every allocation is 0
    lo = w[active].min() / (saturation + budget)  # at λ = lo every source reaches min(cap, B)
    for _ in range(iters):  # bisection in log-space: λ spans many orders of magnitude
        mid = np.sqrt(lo * hi)
        if alloc(mid).sum() > budget:
            lo = mid
        else:
            hi = mid
    x = alloc(hi)
    # Bisection leaves a tiny gap; give it to the uncapped active sources in proportion.
    gap = budget - x.sum()
    room = active & (x < caps)
    if gap > 0 and room.any():
        x[room] += gap * w[room] / w[room].sum()
    return np.minimum(x, caps)


def proportional(weights, budget: float, caps) -> np.ndarray:
    """Split ``budget`` in proportion to non-negative ``weights``, respecting caps (what a capped
    source cannot take is re-split among the others)."""
    weights, caps = np.asarray(weights, float), np.asarray(caps, float)
    _check_feasible(weights, budget, caps)
    x = np.zeros_like(weights)
    free = weights > 0
    left = float(budget)
    while left > 1e-9 and free.any():
        share = left * weights * free / weights[free].sum()
        over = free & (x + share > caps)
        if not over.any():
            x += share
            break
        left -= float((caps[over] - x[over]).sum())
        x[over] = caps[over]
        free &= ~over
    return x


def round_allocation(x, budget: int, caps, priority=None) -> np.ndarray:
    """Integer allocation summing exactly to ``budget``, within caps, as close to ``x`` as
    possible (largest remainder; ties broken by ``priority``, then by order)."""
    x, caps = np.asarray(x, float), np.asarray(caps, float)
    priority = np.zeros_like(x) if priority is None else np.asarray(priority, float)
    base = np.minimum(np.floor(x + 1e-9), np.floor(caps)).astype(np.int64)
    frac = x - base
    diff = int(budget - base.sum())
    order = np.lexsort((-priority, -frac))  # largest fractional part first
    while diff > 0:
        room = [i for i in order if base[i] < caps[i] and x[i] > 0] or [i for i in order if base[i] < caps[i]]
        if not room:
            raise PGFSelectError(f"cannot place {diff} more examples: every source is at its cap")
        for i in room[:diff]:
            base[i] += 1
        diff = int(budget - base.sum())
    for i in order[::-1]:  # too many (solver tolerance): take from the smallest remainders
        if diff >= 0:
            break
        take = min(-diff, int(base[i]))
        base[i] -= take
        diff += take
    return base


def _check_feasible(w, budget, caps):
    if not (w > 0).any():
        raise PGFSelectError("no source has a positive weight")
    total = caps[w > 0].sum()
    if total < budget:
        raise PGFSelectError(f"budget {int(budget)} is above the {int(total)} examples available "
                             f"from the {int((w > 0).sum())} usable sources")


def solve_mean_variance(mu, sigma, budget: float, caps, kappa: float, fixed_shares=None,
                        fixed_mu: float = 0.0, fixed_sigma=None, solver: str | None = None):
    """Shares of the budget that maximise the mix's expected PGF minus κ standard errors:

        maximise μᵀw − κ·‖σ ⊙ w‖₂   subject to   Σ w = 1 − Σ fixed,  0 ≤ w_i ≤ cap_i / B

    (the blend model: a mix's PGF is the share-weighted PGF of its sources, whose errors are
    independent with standard errors σ). A second-order cone program; at κ = 0 a linear one whose
    optimum is the best source (up to its cap). ``fixed_shares`` (with their ``fixed_mu`` total
    and per-source ``fixed_sigma``) are already placed and enter the norm. Sources with μ ≤ 0 get
    nothing. Returns ``(shares, solver_name, status)``."""
    mu, sigma, caps = np.asarray(mu, float), np.asarray(sigma, float), np.asarray(caps, float)
    fixed_shares = np.zeros(0) if fixed_shares is None else np.asarray(fixed_shares, float)
    fixed_sigma = np.zeros(0) if fixed_sigma is None else np.asarray(fixed_sigma, float)
    free = 1.0 - float(fixed_shares.sum())
    w = np.zeros_like(mu)
    if free <= 1e-12:
        return w, "none", "optimal (everything fixed)"
    active = (mu > 0) & (caps > 0)
    _check_feasible(np.where(active, 1.0, 0.0), free * budget, caps)
    share_caps = caps[active] / budget
    import cvxpy as cp

    y = cp.Variable(int(active.sum()))
    cons = [cp.sum(y) == free, y >= 0]
    finite = np.isfinite(share_caps)
    if finite.any():
        cons.append(y[np.flatnonzero(finite)] <= share_caps[finite])
    spread = cp.multiply(sigma[active], y)
    if fixed_shares.size:
        spread = cp.hstack([spread, fixed_sigma * fixed_shares])
    objective = mu[active] @ y - kappa * cp.norm(spread, 2) if kappa > 0 else mu[active] @ y
    name, status = _solve(cp.Problem(cp.Maximize(objective), cons), solver)
    if status not in ("optimal", "optimal_inaccurate") or y.value is None:
        y_val = _mean_variance_fallback(mu[active], sigma[active], share_caps, free, kappa)
        w[active] = y_val
        return w, "scipy-slsqp", f"optimal (cvxpy {name}: {status})"
    w[active] = np.clip(np.asarray(y.value).ravel(), 0, share_caps)
    return w, name, status


def greedy_shares(mu, share_caps, total: float = 1.0) -> np.ndarray:
    """The κ = 0 optimum: fill the sources in order of μ (positive only) up to their caps."""
    mu, share_caps = np.asarray(mu, float), np.asarray(share_caps, float)
    w = np.zeros_like(mu)
    left = total
    for i in np.argsort(-mu, kind="stable"):
        if mu[i] <= 0 or left <= 0:
            break
        w[i] = min(share_caps[i], left)
        left -= w[i]
    return w


def _mean_variance_fallback(mu, sigma, share_caps, total, kappa):
    """SLSQP from the greedy start, for when cvxpy has no usable solver: the problem is concave,
    so a local optimum is the optimum."""
    from scipy.optimize import minimize

    start = greedy_shares(mu, share_caps, total)
    if kappa == 0:
        return start
    bounds = [(0.0, min(c, total)) for c in share_caps]
    res = minimize(lambda y: -(mu @ y - kappa * np.sqrt(np.sum((sigma * y) ** 2) + 1e-18)), start,
                   bounds=bounds, constraints=[{"type": "eq", "fun": lambda y: y.sum() - total}],
                   method="SLSQP", options={"maxiter": 500, "ftol": 1e-12})
    return np.clip(res.x, 0, share_caps) if res.success else start


def _solve(problem, solver: str | None) -> tuple[str, str]:
    """Solve a cvxpy problem; (solver name, status), a solver failure reported as a status."""
    import cvxpy as cp

    try:
        problem.solve(solver=check_solver(solver))
    except cp.error.SolverError as exc:
        return str(solver or "default"), f"solver error: {exc}"
    return (problem.solver_stats.solver_name if problem.solver_stats else str(solver)), problem.status
