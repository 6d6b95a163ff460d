"""The paper's analyses of a PGF matrix, with uncertainty over seeds.

* Transferability Δ+/Δ− of each source (row) and malleability Θ+/Θ− of each target (column):
  ``Δ+ = (1 − e^(−p/N)) / p · Σ positive PGF`` (0 when p = 0), Δ− the same over negative PGF.
  By default the diagonal (self-finetuning) is left out and N is the number of *other* tasks.
  The value is computed on the seed-mean matrix (as the paper's figures are); its CI comes from a
  leave-one-seed-out jackknife, so it is centred on that value; each seed's own score is kept too.
* Aggregates by perceptual level and granularity: plain means over the tasks of a group.
* Cliques: maximum cliques of the undirected graph with an edge {i, j} where the seed-mean PGF
  has the sign in both directions (``strict=True``: in every seed), each with a pooled one-sided
  Wilcoxon signed-rank p-value over all within-clique directed edges × seeds.
* Personas: donor / pirate (rows), sponge / sieve (columns): the matching score ranks in the top
  third and a one-sided Wilcoxon test of the row's (column's) pooled values vs 0 has p < alpha.

Everything works on a complete ``values[seed, source, target]`` array over one task order, so a
matrix completed by prediction can be analysed with :meth:`TransferAnalysis.fit_values`.
Pure numpy/scipy/networkx: no torch, no plotting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import PGFSelectError
from .estimator import Estimator, boolean, interval
from .fileio import package_versions, to_jsonable
from .matrix import UNDEFINED, UNMEASURED, PGFMatrix, load
from .names import blink_info
from .predict import complete_for_analysis
from .stats import jackknife_interval, leave_one_seed_out, t_interval

SIGNS = ("positive", "negative")
VIEWS = ("transferability", "malleability")
# label -> (view it reads, sign of the matching score, alternative of its one-sided test)
PERSONAS = {
    "donor": ("transferability", "positive", "greater"),
    "pirate": ("transferability", "negative", "less"),
    "sponge": ("malleability", "positive", "greater"),
    "sieve": ("malleability", "negative", "less"),
}
GROUPINGS = ("level", "granularity")
MIN_TASKS = 3


# ------------------------------------------------------------------------- formulas
def gap_scores(pgf: np.ndarray, include_diagonal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Δ+ and Δ− of every row of ``pgf[..., task, task]`` (rows are sources).

    For the malleability Θ+/Θ− of the columns, pass ``np.swapaxes(pgf, -1, -2)``.
    N is the number of tasks counted per row: all of them with ``include_diagonal``, else the others.
    """
    pgf = np.asarray(pgf, dtype=float)
    n = pgf.shape[-1]
    keep = np.ones((n, n), bool) if include_diagonal else ~np.eye(n, dtype=bool)
    big_n = n if include_diagonal else n - 1

    def score(mask):
        count = mask.sum(axis=-1)
        total = np.where(mask, pgf, 0.0).sum(axis=-1)
        # Mean PGF of the counted cells times (1 − e^(−count/N)): breadth and magnitude together.
        return np.where(count > 0, (1.0 - np.exp(-count / big_n)) * total / np.maximum(count, 1), 0.0)

    return score(keep & (pgf > 0)), score(keep & (pgf < 0))


def signed_rank_p(values: np.ndarray, alternative: str) -> float:
    """One-sided Wilcoxon signed-rank p-value of ``values`` against 0 (zeros dropped; 1.0 when
    nothing is left, since no value then points either way)."""
    from scipy import stats

    values = np.asarray(values, dtype=float).ravel()
    values = values[values != 0]
    if values.size == 0:
        return 1.0
    return float(stats.wilcoxon(values, alternative=alternative).pvalue)


# ------------------------------------------------------------------------- input checks
def complete_values(matrix: PGFMatrix) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """(tasks, seeds, values[seed, source, target]) of a square, complete matrix, or a
    PGFSelectError that names what is wrong: analysis needs every cell in every seed."""
    label = matrix.name or matrix.model or "the matrix"
    if not matrix.is_square:
        only_src = sorted(set(matrix.sources) - set(matrix.targets))
        only_tgt = sorted(set(matrix.targets) - set(matrix.sources))
        raise PGFSelectError(f"{label} is not square: sources only {only_src}, targets only {only_tgt}; "
                             "analysis needs the same tasks as sources and targets")
    tasks = matrix.sources
    if len(tasks) < MIN_TASKS:
        raise PGFSelectError(f"{label} has {len(tasks)} task(s) ({', '.join(tasks)}); analysis needs "
                             f"at least {MIN_TASKS}")
    if len(matrix.seeds) == 0:
        raise PGFSelectError(f"{label} has no seeds")
    m = matrix.subset(sources=tasks, targets=tasks)
    for status, what, advice in (
            (UNDEFINED, "undefined cell(s) (zero headroom: the zero-shot accuracy already equals the ceiling)",
             "drop those tasks with a subset, or re-measure with a harder evaluation set"),
            (UNMEASURED, "unmeasured cell(s)", "measure them, analyse a complete subset of tasks, or predict them with complete=True")):
        bad = m.status == status
        if bad.any():
            cells = [f"{m.seeds[s]}: {tasks[i]}→{tasks[j]}" for s, i, j in np.argwhere(bad)]
            more = f" and {len(cells) - 4} more" if len(cells) > 4 else ""
            raise PGFSelectError(f"{label} has {len(cells)} {what}: {'; '.join(cells[:4])}{more}; "
                                 f"analysis needs a complete matrix ({advice})")
    return tasks, m.seeds, m.values.copy()


def task_group(task: str, grouping: str) -> tuple[str, bool]:
    """(group, certain) of a task for ``grouping`` 'level' or 'granularity', from
    data/blink_tasks.csv; tasks that are not BLINK tasks: ('unknown', False)."""
    if grouping not in GROUPINGS:
        raise PGFSelectError(f"unknown grouping {grouping!r}; valid: {', '.join(GROUPINGS)}")
    info = blink_info(task)
    if info is None:
        return "unknown", False
    return getattr(info, grouping), getattr(info, f"{grouping}_certain")


# ------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Clique:
    """A maximum clique and its evidence across seeds."""

    sign: str  # "positive" or "negative"
    tasks: tuple[str, ...]
    p_value: float  # pooled one-sided Wilcoxon over within-clique directed edges × seeds
    n_values: int  # how many values were pooled
    mean_pgf: float  # mean seed-mean PGF over the within-clique directed edges
    seeds_agree: bool  # every seed has the sign on every within-clique directed edge

    def to_dict(self) -> dict:
        return {"tasks": list(self.tasks), "p_value": self.p_value, "n_values": self.n_values,
                "mean_pgf": self.mean_pgf, "all_seeds_agree": self.seeds_agree}


@dataclass(frozen=True)
class PersonaEvidence:
    """Why a task has (or lacks) a persona label."""

    label: str
    task: str
    score: float  # the matching score, as a size: Δ+, |Δ−|, Θ+ or |Θ−|
    rank: int  # 1 = largest score among all tasks (ties share the best rank)
    p_value: float  # one-sided Wilcoxon of the row's (column's) pooled values vs 0
    q_value: float  # Benjamini-Hochberg adjusted over the tasks, for this label
    assigned: bool

    def to_dict(self) -> dict:
        return {"score": self.score, "rank": self.rank, "p_value": self.p_value, "q_value": self.q_value,
                "assigned": self.assigned}


class TransferAnalysis(Estimator):
    """Transferability, malleability, group aggregates, cliques and personas of one PGF matrix.

    Parameters (stored only; :meth:`fit` does the work):
    include_diagonal: count self-finetuning cells in row/column statistics (N = all tasks).
    strict_cliques: a clique edge needs the sign in both directions in *every* seed, not just
        in the seed mean.
    alpha: significance level of the persona tests.
    ci_level: confidence level of the intervals over seeds.
    top_fraction: a persona's score must rank within the top ``ceil(top_fraction · tasks)``.

    Fitted attributes: ``tasks_``, ``seeds_``, ``values_`` [seed, source, target], ``mean_``
    [source, target], ``cell_ci_`` (lo, hi), ``n_counted_`` (N), ``scores_`` (view -> sign -> [task]
    on the seed-mean matrix), ``seed_scores_`` (view -> sign -> [seed, task], each seed alone),
    ``jackknife_`` (view -> sign -> [seed, task], leave-one-seed-out scores), ``score_ci_``
    (view -> sign -> (lo, hi), jackknife CI around ``scores_``), ``groups_``, ``cliques_``
    (sign -> [Clique]), ``personas_`` (label -> [PersonaEvidence], one per task), ``name_``, ``model_``,
    ``digest_`` (the matrix's content hash when fitted from a PGFMatrix).
    """

    _parameter_constraints = {
        "include_diagonal": boolean(), "strict_cliques": boolean(), "alpha": interval(0, 1, closed="neither"),
        "ci_level": interval(0, 1, closed="neither"), "top_fraction": interval(0, 1, closed="right"),
    }

    def __init__(self, include_diagonal: bool = False, strict_cliques: bool = False, alpha: float = 0.05,
                 ci_level: float = 0.95, top_fraction: float = 1 / 3):
        self.include_diagonal = include_diagonal
        self.strict_cliques = strict_cliques
        self.alpha = alpha
        self.ci_level = ci_level
        self.top_fraction = top_fraction

    # ------------------------------------------------------------------ fitting
    def fit(self, matrix: PGFMatrix | str) -> "TransferAnalysis":
        """Analyse a complete square matrix (a PGFMatrix or anything :func:`matrix.load` takes)."""
        matrix = load(matrix)
        tasks, seeds, values = complete_values(matrix)
        self.fit_values(values, tasks, seeds, name=matrix.name, model=matrix.model)
        self.digest_ = matrix.digest()
        return self

    def fit_values(self, values, tasks: Sequence[str], seeds: Sequence[str] | None = None, mean=None, *,
                   name: str = "", model: str = "") -> "TransferAnalysis":
        """Analyse ``values[seed, source, target]`` (every cell finite; sources and targets both
        in ``tasks`` order). ``mean`` replaces the plain seed mean (e.g. a completed matrix)."""
        self._validate_params()
        values = np.asarray(values, dtype=float)
        if values.ndim == 2:
            values = values[None]
        tasks = tuple(tasks)
        n = len(tasks)
        if values.ndim != 3 or values.shape[1:] != (n, n):
            raise PGFSelectError(f"values must have shape [seed, {n}, {n}] for {n} tasks, got {values.shape}")
        if n < MIN_TASKS:
            raise PGFSelectError(f"analysis needs at least {MIN_TASKS} tasks, got {n}")
        if len(set(tasks)) != n:
            raise PGFSelectError(f"task names repeat: {list(tasks)}")
        if not np.isfinite(values).all():
            raise PGFSelectError("values hold NaN or infinite cells; analysis needs a complete matrix")
        seeds = tuple(seeds) if seeds is not None else tuple(f"seed_{k}" for k in range(values.shape[0]))
        if len(seeds) != values.shape[0]:
            raise PGFSelectError(f"{len(seeds)} seed names for {values.shape[0]} seeds of values")
        mean = values.mean(axis=0) if mean is None else np.asarray(mean, dtype=float)
        if mean.shape != (n, n) or not np.isfinite(mean).all():
            raise PGFSelectError(f"mean must be a finite [{n}, {n}] array")

        self.tasks_, self.seeds_, self.values_, self.mean_ = tasks, seeds, values, mean
        self.name_, self.model_, self.digest_ = name, model, None
        self.n_counted_ = n if self.include_diagonal else n - 1
        self.cell_ci_ = t_interval(values, self.ci_level)
        loo = leave_one_seed_out(values) if len(seeds) > 1 else values
        self.scores_, self.seed_scores_, self.jackknife_, self.score_ci_ = {}, {}, {}, {}
        for view in VIEWS:
            flip = (lambda a: a) if view == "transferability" else (lambda a: np.swapaxes(a, -1, -2))
            self.scores_[view] = dict(zip(SIGNS, gap_scores(flip(mean), self.include_diagonal)))
            self.seed_scores_[view] = dict(zip(SIGNS, gap_scores(flip(values), self.include_diagonal)))
            self.jackknife_[view] = dict(zip(SIGNS, gap_scores(flip(loo), self.include_diagonal)))
            self.score_ci_[view] = {s: jackknife_interval(self.scores_[view][s], self.jackknife_[view][s],
                                                          self.ci_level) for s in SIGNS}
        self.groups_ = self._groups()
        self.cliques_ = {sign: self._cliques(sign) for sign in SIGNS}
        self.personas_ = {label: self._personas(label) for label in PERSONAS}
        return self

    def _counted(self) -> np.ndarray:
        n = len(self.tasks_)
        return np.ones((n, n), bool) if self.include_diagonal else ~np.eye(n, dtype=bool)

    def _groups(self) -> dict:
        out = {}
        for grouping in GROUPINGS:
            members: dict[str, list[int]] = {}
            certain: dict[str, bool] = {}
            for k, task in enumerate(self.tasks_):
                group, sure = task_group(task, grouping)
                members.setdefault(group, []).append(k)
                certain[group] = certain.get(group, True) and sure
            out[grouping] = {}
            for group, idx in members.items():
                entry = {"tasks": [self.tasks_[k] for k in idx], "certain": certain[group]}
                for view in VIEWS:
                    entry[view] = {}
                    for sign in SIGNS:
                        value = self.scores_[view][sign][idx].mean()
                        lo, hi = jackknife_interval(value, self.jackknife_[view][sign][:, idx].mean(axis=1),
                                                    self.ci_level)
                        entry[view][sign] = _score_record(value, self.seed_scores_[view][sign][:, idx].mean(axis=1),
                                                          self.seeds_, lo, hi)
                out[grouping][group] = entry
        return out

    def edge_graph(self, sign: str):
        """networkx Graph with an edge {i, j} where PGF has ``sign`` in both directions (in the
        seed mean, or in every seed with ``strict_cliques``)."""
        import networkx as nx

        has = (self.mean_ > 0) if sign == "positive" else (self.mean_ < 0)
        if self.strict_cliques:
            per_seed = (self.values_ > 0) if sign == "positive" else (self.values_ < 0)
            has = has & per_seed.all(axis=0)
        both = has & has.T
        graph = nx.Graph()
        graph.add_nodes_from(self.tasks_)
        graph.add_edges_from((self.tasks_[i], self.tasks_[j]) for i, j in zip(*np.nonzero(np.triu(both, 1))))
        return graph

    def _cliques(self, sign: str) -> list[Clique]:
        import networkx as nx

        found = [c for c in nx.find_cliques(self.edge_graph(sign)) if len(c) >= 2]
        if not found:
            return []
        size = max(map(len, found))
        order = {t: k for k, t in enumerate(self.tasks_)}
        best = sorted((sorted(c, key=order.get) for c in found if len(c) == size),
                      key=lambda c: [order[t] for t in c])
        alternative = "greater" if sign == "positive" else "less"
        out = []
        for members in best:
            idx = [order[t] for t in members]
            pairs = [(i, j) for i in idx for j in idx if i != j]
            pooled = np.array([self.values_[:, i, j] for i, j in pairs]).ravel()
            agree = (pooled > 0).all() if sign == "positive" else (pooled < 0).all()
            out.append(Clique(sign, tuple(members), signed_rank_p(pooled, alternative), int(pooled.size),
                              float(np.mean([self.mean_[i, j] for i, j in pairs])), bool(agree)))
        return out

    def _personas(self, label: str) -> list[PersonaEvidence]:
        from scipy import stats

        view, sign, alternative = PERSONAS[label]
        n = len(self.tasks_)
        score = np.abs(self.scores_[view][sign])
        rank = stats.rankdata(-score, method="min").astype(int)
        counted = self._counted()
        cut = math.ceil(self.top_fraction * n)
        p = np.empty(n)
        for k in range(n):
            # Row k of the values for a source view, column k for a target view.
            cells = self.values_[:, k, counted[k]] if view == "transferability" else self.values_[:, counted[:, k], k]
            p[k] = signed_rank_p(cells, alternative)
        q = stats.false_discovery_control(p) if n > 1 else p
        return [PersonaEvidence(label, self.tasks_[k], float(score[k]), int(rank[k]), float(p[k]), float(q[k]),
                                bool(score[k] > 0 and rank[k] <= cut and p[k] < self.alpha))
                for k in range(n)]

    # ------------------------------------------------------------------ results
    def personas(self) -> dict[str, list[str]]:
        """label -> tasks that carry it (in task order)."""
        self._check_fitted("tasks_")
        return {label: [e.task for e in ev if e.assigned] for label, ev in self.personas_.items()}

    def cliques(self) -> dict[str, list[list[str]]]:
        self._check_fitted("tasks_")
        return {sign: [list(c.tasks) for c in cl] for sign, cl in self.cliques_.items()}

    def settings(self) -> dict:
        self._check_fitted("tasks_")
        n = len(self.tasks_)
        return {"include_diagonal": self.include_diagonal, "n_counted": self.n_counted_,
                "strict_cliques": self.strict_cliques, "alpha": self.alpha, "ci_level": self.ci_level,
                "persona_top_rank": math.ceil(self.top_fraction * n),
                "clique_edge_rule": ("sign in both directions in every seed" if self.strict_cliques
                                     else "seed-mean PGF has the sign in both directions"),
                "test": "one-sided Wilcoxon signed-rank vs 0 (scipy.stats.wilcoxon), zeros dropped",
                "ci": ("leave-one-seed-out jackknife around the seed-mean-matrix value, Student-t with "
                       "n_seeds - 1 df (cells: the plain Student-t interval, which it equals for a mean)")}

    def to_dict(self) -> dict:
        """The JSON document: transferability, malleability, cliques, personas, evidence."""
        self._check_fitted("tasks_")
        doc = {"matrix": self.name_, "model": self.model_, "matrix_digest": self.digest_,
               "tasks": list(self.tasks_), "seeds": list(self.seeds_)}
        evidence = {"settings": self.settings(),
                    "versions": package_versions(("pgfselect", "numpy", "scipy", "networkx"))}
        for view in VIEWS:
            doc[view] = {t: {s: float(self.scores_[view][s][k]) for s in SIGNS} for k, t in enumerate(self.tasks_)}
            evidence[view] = {
                t: {s: _score_record(self.scores_[view][s][k], self.seed_scores_[view][s][:, k], self.seeds_,
                                     *(b[k] for b in self.score_ci_[view][s])) for s in SIGNS}
                for k, t in enumerate(self.tasks_)}
        doc["cliques"] = self.cliques()
        doc["personas"] = self.personas()
        evidence["groups"] = self.groups_
        evidence["cliques"] = {s: [c.to_dict() for c in cl] for s, cl in self.cliques_.items()}
        evidence["personas"] = {label: {e.task: e.to_dict() for e in ev} for label, ev in self.personas_.items()}
        doc["evidence"] = evidence
        return to_jsonable(doc, finite=True)


def analyze(matrix: PGFMatrix | str, **params) -> TransferAnalysis:
    """Fit a :class:`TransferAnalysis` (keyword parameters as its constructor's)."""
    return TransferAnalysis(**params).fit(matrix)


def analyze_matrices(matrices, *, complete: bool = False, priors=(), log=None, **params):
    """Analyse matrices side by side (``pgfselect analyze``; ``params`` as TransferAnalysis's), a
    spec naming its matrix. ``complete``: a matrix with unmeasured cells (or not square) is
    completed with ``priors`` first, its predicted cells analysed as point estimates. ``log``:
    progress lines. Returns (analyses, :func:`analyses_json` plus each completed matrix's
    ``predicted_cells``)."""
    say, names = log or (lambda msg: None), [str(m) for m in matrices]
    if priors and not complete:
        raise PGFSelectError("priors is used only with complete=True")
    if len(set(names)) != len(names):
        raise PGFSelectError(f"matrices given more than once: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    analyses, predicted = [], {}
    for spec in matrices:
        say(f"analysing {spec}")
        matrix = load(spec)
        if not isinstance(spec, PGFMatrix):
            matrix.name = str(spec)  # the report and the JSON keys use the spec exactly as given
        analysis = TransferAnalysis(**params)
        if complete and not (matrix.is_complete and matrix.is_square):
            tasks, seeds, values, mean, cells = complete_for_analysis(matrix, [load(p) for p in priors])
            predicted[len(analyses)] = cells
            say(f"{matrix.name}: {len(cells)} cell(s) predicted, analysed as point estimates "
                "(their error bars: pgfselect predict)")
            analysis.fit_values(values, tasks, seeds, mean=mean, name=matrix.name, model=matrix.model)
        else:
            analysis.fit(matrix)
        analyses.append(analysis)
    check_same_tasks(analyses)
    doc = analyses_json(analyses)
    for k, cells in predicted.items():
        (doc if len(analyses) == 1 else doc[list(doc)[k]])["predicted_cells"] = cells
    return analyses, doc


def check_same_tasks(analyses: Sequence[TransferAnalysis]) -> None:
    """Several matrices are compared task by task: they must hold the same task set."""
    first = analyses[0]
    for other in analyses[1:]:
        if set(other.tasks_) != set(first.tasks_):
            a, b = set(first.tasks_), set(other.tasks_)
            raise PGFSelectError(
                f"matrices {first.name_ or 'first'!s} and {other.name_ or 'second'!s} hold different tasks "
                f"(only in the first: {sorted(a - b)}; only in the second: {sorted(b - a)}); "
                "side-by-side analysis needs the same task set")


def analyses_json(analyses: Sequence[TransferAnalysis]) -> dict:
    """The JSON of one analysis, or of several keyed by matrix name (in the order given)."""
    if len(analyses) == 1:
        return analyses[0].to_dict()
    keys = [a.name_ or a.model_ or f"matrix_{k + 1}" for k, a in enumerate(analyses)]
    if len(set(keys)) != len(keys):
        raise PGFSelectError(f"matrices must have distinct names to be reported together, got {keys}")
    return {key: a.to_dict() for key, a in zip(keys, analyses)}


def persona_summary(analyses: Sequence[TransferAnalysis]) -> dict[str, dict[str, list[str]]]:
    """task -> label -> names of the matrices where the task carries the label (labels held
    by no matrix are left out)."""
    out: dict[str, dict[str, list[str]]] = {}
    for a in analyses:
        for label, tasks in a.personas().items():
            for t in tasks:
                out.setdefault(t, {}).setdefault(label, []).append(a.name_ or a.model_)
    order = {t: k for k, t in enumerate(analyses[0].tasks_)} if analyses else {}
    return {t: out[t] for t in sorted(out, key=lambda t: order.get(t, len(order)))}


def _score_record(value, per_seed, seeds, lo, hi) -> dict:
    per_seed = np.asarray(per_seed, dtype=float)
    return {"value": float(value), "seed_mean": float(per_seed.mean()),
            "per_seed": {s: float(v) for s, v in zip(seeds, per_seed)},
            "ci": None if not (np.isfinite(lo) and np.isfinite(hi)) else [float(lo), float(hi)]}
