"""The estimator contract of MixturePlanner, MatrixCompleter and TransferAnalysis (scikit-learn
style): parameters are stored by the constructor as given, ``fit`` does the work and sets learned
state in attributes ending in ``_``; :meth:`get_params` and the repr read the constructor's
signature; ``_parameter_constraints`` declares what each parameter allows, checked at ``fit``; a
method that needs the fit calls :meth:`_check_fitted` and gets a clear error instead of an
``AttributeError`` on a missing ``name_``.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable

from .errors import PGFSelectError


class NotFittedError(PGFSelectError):
    """A method that needs learned state was called before ``fit``."""


@dataclass(frozen=True)
class Constraint:
    """What a parameter allows: ``check(value)`` true when allowed, ``allowed`` in words."""

    check: Callable[[Any], bool]
    allowed: str


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def interval(low=None, high=None, *, closed: str = "both", integer: bool = False) -> Constraint:
    """A finite number (a whole one with ``integer``) within [low, high]; ``closed`` is 'both',
    'left', 'right' or 'neither'."""
    def check(v):
        if not _number(v) or (integer and not isinstance(v, int)):
            return False
        if low is not None and (v < low or (v == low and closed in ("right", "neither"))):
            return False
        return high is None or v < high or (v == high and closed in ("both", "right"))

    lo = "" if low is None else f"{'≥' if closed in ('both', 'left') else '>'} {low:g}"
    hi = "" if high is None else f"{'≤' if closed in ('both', 'right') else '<'} {high:g}"
    what = "a whole number" if integer else "a finite number"
    return Constraint(check, " ".join(x for x in (what, lo, "and" if lo and hi else "", hi) if x))


def one_of(*options) -> Constraint:
    return Constraint(lambda v: v in options, "one of " + ", ".join(map(str, options)))


def whole(low: int = 0) -> Constraint:
    """A whole number (not a bool) ≥ ``low``."""
    return Constraint(lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low,
                      f"a whole number ≥ {low}")


def optional(c: Constraint) -> Constraint:
    return Constraint(lambda v: v is None or c.check(v), f"None or {c.allowed}")


def boolean() -> Constraint:
    return Constraint(lambda v: isinstance(v, bool), "True or False")


class Estimator:
    """Base class: get_params, repr, declared parameter constraints, the fitted check."""

    _parameter_constraints: dict[str, Constraint] = {}

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self) -> dict:
        """The constructor's parameters as stored (a new estimator with them: ``type(e)(**params)``)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        shown = []
        for name, value in self.get_params().items():
            default = sig.parameters[name].default
            if default is inspect.Parameter.empty or not _same(value, default):
                shown.append(f"{name}={_short(value)}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def _validate_params(self) -> None:
        """Check every parameter against ``_parameter_constraints``; the error names the
        parameter, the value and what is allowed."""
        for name, constraint in self._parameter_constraints.items():
            value = getattr(self, name)
            if not constraint.check(value):
                raise PGFSelectError(f"{name} {value!r} must be {constraint.allowed}")

    def _check_fitted(self, attribute: str) -> None:
        if not hasattr(self, attribute):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit() first")


def _same(a, b) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # arrays and other objects without a plain ==
        return a is b


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"<{type(value).__name__}>"
