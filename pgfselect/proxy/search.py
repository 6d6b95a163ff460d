"""A proxy as the planner's mixture response (``plan --mixture-model proxy:ensemble``): the PGF
of any mix read off the measure folder's cells, and a search for the mix that maximises it.

The ensemble proxy is piecewise constant in the shares (an argmax per item), so there is no
gradient to follow: the search scores the single sources, the even mix and a Dirichlet sample of
mixes (the region a mean-variance plan lives in and beyond), then refines the best by moving share
between pairs of sources in shrinking steps. Every candidate keeps the caps and the fixed shares.
The value of a mix is its proxy PGF averaged over seeds minus κ standard errors over seeds, the
mean-variance objective with the proxy's own uncertainty.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import PGFSelectError
from ..matrix import pgf_from_counts
from .core import KINDS, common_seeds, measure_folder, resolve_mix
from .ensemble import TIE, _read_cells

STEPS = (0.2, 0.1, 0.05, 0.02)  # share moved between two sources in the refinement
MERGE_PARTNERS = 3  # merge: the refinement moves share among this many largest shares and best single sources


class ProxyResponse:
    """The proxy PGF of mixes over a measure folder's sources, towards one target.

    Parameters: ``matrix_dir`` (a ``pgfselect measure`` folder), ``target``, ``kind``
    (``ensemble``: the cells' recorded option probabilities, thousands of mixes a second;
    ``merge``: PEFT's merge of the cells' adapters, one scoring pass per mix), ``kappa`` (standard
    errors over seeds subtracted from a mix's mean), ``n_candidates`` (Dirichlet mixes scored;
    default 512 for ensemble, 16 for merge), ``seed`` (of the sample), ``combination`` (merge only).
    After :meth:`fit`: ``sources_``, ``target_``, ``seeds_``, ``name`` (``proxy:KIND``).
    """

    def __init__(self, matrix_dir, target: str, *, kind: str = "ensemble", kappa: float = 0.0,
                 n_candidates: int | None = None, seed: int = 0, combination: str = "cat"):
        self.matrix_dir = matrix_dir
        self.target = target
        self.kind = kind
        self.kappa = kappa
        self.n_candidates = n_candidates
        self.seed = seed
        self.combination = combination

    solver = "proxy-search"

    @property
    def name(self) -> str:  # the plan's objective
        return f"proxy:{self.kind}"

    @property
    def status(self) -> str:
        return (f"best found ({self.kind} proxy: single sources, the even mix, {self._n_sampled()} Dirichlet mixes, "
                "pairwise refinement" + (" among the largest shares and the best single sources" if self.kind == "merge" else "") + ")")

    def _n_sampled(self) -> int:
        return self.n_candidates if self.n_candidates is not None else (512 if self.kind == "ensemble" else 16)

    def fit(self) -> "ProxyResponse":
        if self.kind not in KINDS:
            raise PGFSelectError(f"kind {self.kind!r} is not a proxy; allowed: {', '.join(KINDS)}")
        if not (isinstance(self.kappa, (int, float)) and math.isfinite(self.kappa) and self.kappa >= 0):
            raise PGFSelectError(f"kappa {self.kappa!r} must be a number ≥ 0")
        # Every row of the folder is a candidate; the planner caps the ones it may not use at 0.
        sources = list(measure_folder(self.matrix_dir)[1].sources)
        self._setup = resolve_mix(self.matrix_dir, dict.fromkeys(sources, 1.0), self.target)
        self.sources_, self.target_ = sources, self._setup.target
        if self.kind == "ensemble":
            cells = _read_cells(self._setup)
            self.seeds_ = common_seeds(self._setup, lambda s: all((s, src) in cells for src in sources))
            self._tensors = [_stack([cells[seed, src] for src in sources]) for seed in self.seeds_]
        else:
            self.seeds_ = common_seeds(self._setup, lambda s: True)
        m, j = self._setup.matrix, self._setup.target_index
        k = [m.seeds.index(s) for s in self.seeds_]
        self._base, self._n, self._ceiling = m.correct_base[k, j], m.n_eval[k, j], m.ceiling[j]
        if self.kind == "merge":
            rows = [m.sources.index(src) for src in sources]
            self._single_correct = m.correct_ft[np.ix_(k, rows, [j])][:, :, 0]  # [seed, source]
            self._merged = {}
        return self

    # ------------------------------------------------------------------ one mix
    def pgf_per_seed(self, shares) -> np.ndarray:
        """Proxy PGF of the mix ``shares`` (over ``sources_``, summing to 1) in each seed."""
        w = np.asarray(shares, float)
        if self.kind == "ensemble":
            correct = np.array([_correct(t, w) for t in self._tensors], float)
        else:
            correct = self._merge_correct(w)
        pgf, _ = pgf_from_counts(correct, self._base, self._n, self._ceiling)
        return np.asarray(pgf, float)

    def _merge_correct(self, w: np.ndarray) -> np.ndarray:
        """Correct counts of the merged mix per seed. A mix of one source at share 1 is that cell's
        own model (its weights unchanged by the merge), so its count is the matrix's, scored by
        measure on the same items; other mixes are merged and scored once each (cached)."""
        from .merge import merge_proxy

        support = np.flatnonzero(w > 0)
        if len(support) == 1:
            return self._single_correct[:, support[0]].copy()
        key = tuple(np.round(w, 9))
        if key not in self._merged:
            mix = {s: float(x) for s, x in zip(self.sources_, w) if x > 0}
            res = merge_proxy(self.matrix_dir, mix, self.target_, combination=self.combination)
            self._merged[key] = np.array([res.correct[res.seeds.index(s)] for s in self.seeds_], float)
        return self._merged[key].copy()

    def predict(self, shares) -> np.ndarray:
        """Seed-mean proxy PGF of each row of ``shares``."""
        return np.array([float(np.mean(self.pgf_per_seed(w))) for w in np.atleast_2d(shares)])

    def value(self, shares) -> float:
        """The search's objective: seed mean − κ · standard error over seeds."""
        pgf = self.pgf_per_seed(shares)
        se = float(np.std(pgf, ddof=1) / math.sqrt(len(pgf))) if len(pgf) > 1 else 0.0
        return float(np.mean(pgf)) - self.kappa * se

    def expected(self, shares) -> dict:
        """The plan's ``expected`` entry for a mix: proxy mean, its standard error over seeds."""
        pgf = self.pgf_per_seed(shares)
        err = float(np.std(pgf, ddof=1) / math.sqrt(len(pgf))) if len(pgf) > 1 else None
        mean = round(float(np.mean(pgf)), 4)
        entry = {"pgf": mean, "std_error": None if err is None else round(err, 4),
                 "range": None if err is None else [round(mean - 1.959964 * err, 4), round(mean + 1.959964 * err, 4)],
                 "per_seed": [round(float(x), 4) for x in pgf]}
        return {**entry, "assumptions": f"the {self.kind} proxy of the cells in {self.matrix_dir} over seeds "
                                        f"{', '.join(self.seeds_)}: an estimate that `pgfselect train` verifies"}

    # ------------------------------------------------------------------ the search
    def best_shares(self, share_caps, fixed=None) -> np.ndarray:
        """Shares over ``sources_`` (summing to 1, each within ``share_caps``, ``fixed`` index ->
        share placed as given) with the highest :meth:`value` found."""
        k = len(self.sources_)
        caps = np.minimum(np.asarray(share_caps, float), 1.0)
        fixed = dict(fixed or {})
        base = np.zeros(k)
        for i, s in fixed.items():
            base[i] = s
        free = np.array([i not in fixed and caps[i] > 0 for i in range(k)])
        mass = 1.0 - base.sum()
        if mass < -1e-9 or (mass > 1e-9 and caps[free].sum() < mass - 1e-9):
            raise PGFSelectError("the sources' caps cannot fill the budget beside the fixed shares")
        if mass <= 1e-9 or not free.any():
            return base
        idx = np.flatnonzero(free)
        rng = np.random.default_rng(self.seed)
        n = self._n_sampled()
        starts = [np.eye(len(idx))[i] for i in range(len(idx))] + [np.full(len(idx), 1 / len(idx))]
        starts += list(rng.dirichlet(np.full(len(idx), 0.5), size=n))
        best, best_val = None, -np.inf
        for s in starts:
            w = base.copy()
            w[idx] = s * mass
            if (w <= caps + 1e-12).all():
                v = self.value(w)
                if v > best_val + 1e-12:
                    best, best_val = w, v
        if best is None:  # every start broke a cap: fill the caps in order
            best = base.copy()
            left = mass
            for i in idx:
                best[i] = min(caps[i], left)
                left -= best[i]
            best_val = self.value(best)
        return self._refine(best, best_val, idx, caps)

    def _partners(self, w, idx) -> list:
        """Sources between which the refinement moves share. Ensemble: every free source (a mix
        costs microseconds). Merge (one scoring pass per mix): the mix's ``MERGE_PARTNERS``
        largest shares and the ``MERGE_PARTNERS`` best single sources by proxy value (free: read
        off the matrix), so a refinement sweep costs tens of passes, not one per pair of sources."""
        if self.kind == "ensemble":
            return list(idx)
        held = [i for i in sorted(idx, key=lambda i: -w[i]) if w[i] > 0][:MERGE_PARTNERS]
        singles = sorted(idx, key=lambda i: -self.value(np.eye(len(w))[i]))[:MERGE_PARTNERS]
        return sorted({int(i) for i in held} | {int(i) for i in singles})

    def _refine(self, w, val, idx, caps):
        """Move share from one source to another while that raises the value."""
        for step in STEPS:
            improved = True
            while improved:
                improved = False
                partners = self._partners(w, idx)
                for a in partners:
                    for b in partners:
                        d = min(step, w[a], caps[b] - w[b])
                        if a == b or d <= 1e-12:
                            continue
                        trial = w.copy()
                        trial[a] -= d
                        trial[b] += d
                        v = self.value(trial)
                        if v > val + 1e-12:
                            w, val, improved = trial, v, True
        return w


def _stack(cells: list[list[dict]]):
    """(P [source, item, option] with 0 for absent options, V: the same shape, one-hot of each
    cell's recorded answer, valid [item, option], answers [item]) of one seed's cells."""
    ids = [row["item_id"] for row in cells[0]]
    if any([row["item_id"] for row in rows] != ids for rows in cells[1:]):
        raise PGFSelectError("the cells were scored on different items; predictions.csv does not come "
                             "from one measure config")
    width = max(len(row["p"]) for rows in cells for row in rows)
    P = np.zeros((len(cells), len(ids), width))
    V = np.zeros_like(P)
    for s, rows in enumerate(cells):
        for i, row in enumerate(rows):
            P[s, i, :len(row["p"])] = row["p"]
            V[s, i, int(row["pred"])] = 1.0
    valid = np.zeros((len(ids), width), bool)
    for i, row in enumerate(cells[0]):
        valid[i, :len(row["p"])] = True
    return P, V, valid, np.array([int(row["answer"]) for row in cells[0]])


def _correct(tensors, w: np.ndarray) -> int:
    """Items the share-weighted ensemble answers right, with :func:`~.ensemble.mix_items`' ties."""
    P, V, valid, answers = tensors
    p = np.where(valid, np.tensordot(w, P, axes=1), -np.inf)
    votes = np.tensordot(w, V, axes=1)
    tied = p >= p.max(axis=1, keepdims=True) - TIE
    pred = np.argmax(np.where(tied, votes, -np.inf), axis=1)
    return int((pred == answers).sum())
