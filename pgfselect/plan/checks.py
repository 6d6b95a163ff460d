"""Checks of planner options that need a look outside the planner (installed solvers)."""

from __future__ import annotations

from ..errors import PGFSelectError


def check_solver(name, what: str = "solver") -> str | None:
    """The cvxpy solver name as cvxpy spells it, or an error naming the installed ones.
    ``None`` (cvxpy's choice) passes."""
    if name is None:
        return None
    import cvxpy as cp

    installed = cp.installed_solvers()
    if isinstance(name, str):
        for s in installed:
            if s.lower() == name.strip().lower():
                return s
    raise PGFSelectError(f"{what} {name!r} is not an installed cvxpy solver; installed: {', '.join(installed)}")
