"""Fit the planner's saturation s from two measurements of the same model at two training sizes.

The planner values x examples of a source as w · log(1 + x/s). Finetuning each source on n_small
and on n_large examples (same schedule otherwise) gives, for every cell, a ratio
PGF(n_small) / PGF(n_large), which the model predicts as

    r(s) = log(1 + n_small/s) / log(1 + n_large/s)

r falls from 1 (s → 0: everything is learned from the first examples, so spreading the budget
is free) to n_small/n_large (s → ∞: no diminishing returns, so the budget belongs to the best
source). The fit takes the least-squares ratio over the cells where the larger run clearly
transfers (seed-mean PGF ≥ ``min_pgf``), inverts r, and bootstraps the cells for an interval.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import PGFSelectError
from ..matrix import PGFMatrix
from ..wording import plural

# s is searched within [S_LOW·n_small, S_HIGH·n_large]; at the ends the fit is a bound, not a value.
S_LOW, S_HIGH = 1e-3, 1e3


@dataclass
class SaturationFit:
    saturation: float  # the fitted s, in examples
    ci_low: float
    ci_high: float
    ratio: float  # least-squares PGF(n_small) / PGF(n_large) over the cells used
    n_small: int
    n_large: int
    cells: int
    bound: str  # "" when s is inside the search range, else "at least" / "at most"
    min_pgf: float

    def to_dict(self) -> dict:
        """The fit as plain numbers: s and its interval as the summary prints them (what
        ``plan --saturation`` accepts), the rest rounded to 4 decimals."""
        out = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        for k in ("saturation", "ci_low", "ci_high"):
            out[k] = round_s(getattr(self, k))
        return out

    def summary(self) -> str:
        s, lo, hi = (_fmt(round_s(v)) for v in (self.saturation, self.ci_low, self.ci_high))
        if self.bound == "at most":
            advice = (f"the small run already reaches the large run's PGF, so s is below the search range "
                      f"(diminishing returns are immediate): spread the budget, e.g. plan with --saturation {s}")
        elif self.bound == "at least":
            advice = (f"the small run's PGF is no more than linear in examples, so s is above the search range "
                      f"(no diminishing returns): concentrate the budget, e.g. plan with --saturation {s}")
        else:
            advice = f"plan with --saturation {s}"
        return (f"saturation s = {self.bound + ' ' if self.bound else ''}{s} examples [95% CI {lo}, {hi}] from "
                f"{plural(self.cells, 'cell')}: {plural(self.n_small, 'example')} give{'s' if self.n_small == 1 else ''} "
                f"{self.ratio:.2f} of the PGF of {self.n_large:,} (linear would be {self.n_small / self.n_large:.2f}); {advice}")


def round_s(v: float) -> float:
    """s for display and JSON: 3 significant figures, whole examples from 100 up; never 0, so
    ``plan --saturation`` (s > 0) accepts the printed value."""
    if v >= 100:
        return float(round(v))
    return float(f"{v:.3g}")


def _fmt(v: float) -> str:
    return f"{v:.0f}" if v >= 100 else f"{v:g}"


def saturation_ratio(s: float, n_small: float, n_large: float) -> float:
    """r(s) = log(1 + n_small/s) / log(1 + n_large/s)."""
    return math.log1p(n_small / s) / math.log1p(n_large / s)


def invert_ratio(ratio: float, n_small: float, n_large: float) -> tuple[float, str]:
    """The s with r(s) = ratio, by bisection in log s; a search-range end and its bound otherwise."""
    lo, hi = S_LOW * n_small, S_HIGH * n_large
    if ratio >= saturation_ratio(lo, n_small, n_large):
        return lo, "at most"
    if ratio <= saturation_ratio(hi, n_small, n_large):
        return hi, "at least"
    for _ in range(200):  # r is decreasing in s
        mid = math.sqrt(lo * hi)
        if saturation_ratio(mid, n_small, n_large) > ratio:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi), ""


def fit_saturation(small: PGFMatrix, large: PGFMatrix, n_small: int | None = None, n_large: int | None = None,
                   *, min_pgf: float = 0.2, n_boot: int = 2000, seed: int = 0) -> SaturationFit:
    """Fit s from ``small`` and ``large``, the same model's matrices measured with ``n_small`` and
    ``n_large`` training examples per finetune (default: each matrix's ``examples_per_task``)."""
    n_small = _examples(small, n_small, "small")
    n_large = _examples(large, n_large, "large")
    if not n_small < n_large:
        raise PGFSelectError(f"the small matrix's training size {n_small} must be below the large one's {n_large}")
    if small.model != large.model:
        raise PGFSelectError(f"the matrices are of different models ({small.model!r} and {large.model!r})")
    a, b = _paired_means(small, large)
    use = np.isfinite(a) & np.isfinite(b) & (b >= min_pgf)
    if use.sum() < 3:
        raise PGFSelectError(f"only {int(use.sum())} cells have a seed-mean PGF ≥ {min_pgf:g} at {n_large} examples "
                             f"and a value at both sizes; at least 3 are needed (lower min_pgf={min_pgf:g} or measure more sources)")
    a, b = a[use], b[use]
    ratio = float(a @ b / (b @ b))
    s, bound = invert_ratio(ratio, n_small, n_large)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        k = rng.integers(0, len(a), len(a))
        boot.append(invert_ratio(float(a[k] @ b[k] / (b[k] @ b[k])), n_small, n_large)[0])
    lo, hi = np.quantile(np.log(boot), [0.025, 0.975])  # s is positive and skewed: quantiles of log s
    return SaturationFit(float(s), float(np.exp(lo)), float(np.exp(hi)), ratio, n_small, n_large, int(use.sum()),
                         bound, float(min_pgf))


def _examples(matrix: PGFMatrix, given: int | None, which: str) -> int:
    value = given if given is not None else matrix.provenance.get("examples_per_task")
    try:
        value = int(value)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise PGFSelectError(f"the {which} matrix records no training size (provenance examples_per_task); "
                             f"give it (n_{which}=N)")
    return value


def _paired_means(small: PGFMatrix, large: PGFMatrix) -> tuple[np.ndarray, np.ndarray]:
    """Seed-mean PGF of the cells both matrices have, as two aligned flat arrays."""
    ms, ml = small.mean(), large.mean()
    pairs = [(small.sources.index(s), small.targets.index(t), large.sources.index(s), large.targets.index(t))
             for s in small.sources if s in large.sources for t in small.targets if t in large.targets]
    if not pairs:
        raise PGFSelectError("the two matrices share no (source, target) cell")
    idx = np.array(pairs)
    return ms[idx[:, 0], idx[:, 1]], ml[idx[:, 2], idx[:, 3]]
