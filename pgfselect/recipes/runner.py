"""Run a recipe: every (strategy, seed) run trained and scored with the measurement engine's
:class:`~pgfselect.measure.runner.ModelSession` (the same training code path as ``measure``).

Output folder ``R``::

    R/recipe.yaml                          the resolved recipe, its hash and every run's mixture
    R/runs/<strategy>/seed_<k>/            one run (zero_shot: R/runs/zero_shot/base/)
        item_ids.jsonl                     the exact training items, one {"id", "task"} per line
        config.json                        strategy, seed, allocation, sampling seeds, plan, settings,
                                           base_fingerprint (a built tiny base's weights)
        versions.json                      package versions
        predictions.jsonl                  per evaluated item: task, id, answer, pred, correct, p
        metrics.json                       accuracy on the target (and every evaluated task)
    R/summary.json                         the last train's summary

A run is built in a temporary folder and renamed into place when complete, so a run folder is
either finished or absent; a rerun reuses every finished run whose recipe hash matches. The hash
covers everything that changes a run's numbers except the seeds and the list of baselines, so
adding seeds or baselines to a finished folder reuses what is there; any other change is refused
(``force=True`` recomputes into the folder).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from ..errors import PGFSelectError
from ..fileio import TRAINING_PACKAGES, atomic_write, check_writable, package_versions
from ..measure.bases import base_fingerprint, other_base, prepare_base
from ..measure.runner import ModelSession
from ..measure.training import CellFailed
from ..progress import Progress
from ..records import RUN_FORMAT, RUN_VERSION, is_run_record, recipe_hash_of
from .resolve import Resolution, RunSpec, resolve
from .schema import canonical_strategy, LoadedRecipe


def resolve_runs(loaded: LoadedRecipe, check_data: bool = False) -> Resolution:
    return resolve(loaded, check_data=check_data)


class RecipeRunner:
    """Train and score every run of a recipe into ``out_dir`` (resumable).

    ``out_dir``: needed to train, optional for :meth:`validate`; ``only``: strategies to run
    (default all); ``cache_dir``: where built tiny bases are kept
    (default ``$PGFSELECT_CACHE_DIR``, else ``out_dir``); ``progress``: show a rich progress bar.
    After :meth:`run`: ``resolution_``, ``summary_``.
    """

    def __init__(self, loaded: LoadedRecipe, out_dir=None, *, force: bool = False, cache_dir=None, only=None,
                 progress: bool = True):
        self.loaded = loaded
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.force = force
        self.cache_dir = cache_dir
        self.only = only
        self.progress = progress

    # ------------------------------------------------------------------ checks (before any output)
    def validate(self) -> Resolution:
        """What ``pgfselect train --validate`` checks: resolve the runs without reading any task
        data, select ``only`` and, when ``out_dir`` is given, check it as :meth:`prepare` does.
        Writes and creates nothing. Sets ``selected_``; the resolution returned lists only the
        selected runs (what would run)."""
        res = resolve(self.loaded, check_data=False)
        res.runs = self.selected_ = select_runs(res.runs, self.only)
        if self.out_dir is not None:
            self._check_out_dir(res.recipe_hash)
        return res

    def prepare(self) -> Resolution:
        """Resolve the runs and check the output folder; writes nothing. Sets ``selected_``."""
        if self.out_dir is None:
            raise PGFSelectError("out_dir is required to train (validate() checks a recipe without one)")
        res = resolve(self.loaded, check_data=True)
        self.selected_ = select_runs(res.runs, self.only)
        self._check_out_dir(res.recipe_hash)
        check_writable(self.out_dir, "out_dir")
        return res

    def _check_out_dir(self, recipe_hash: str) -> None:
        """``out_dir`` is new, empty, or holds this recipe's runs (another recipe's with ``force``)."""
        out = self.out_dir
        if out.exists() and not out.is_dir():
            raise PGFSelectError(f"out_dir {str(out)!r} is a file; give a folder")
        other = recorded_hash(out)
        if other is not None and other != recipe_hash and not self.force:
            raise PGFSelectError(f"out_dir {str(out)!r} holds runs of a different recipe (hash {other}; this recipe is "
                                 f"{recipe_hash}); use a new folder, or force=True to recompute into it")
        if other is None and out.is_dir() and any(out.iterdir()) and not self.force:
            raise PGFSelectError(f"out_dir {str(out)!r} is not empty and holds no pgfselect recipe; use a new folder")

    def finished(self, run: RunSpec, recipe_hash: str) -> dict | None:
        try:
            doc = json.loads((self.out_dir / run.key / "metrics.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return doc if is_run_record(doc, recipe_hash) else None

    # ------------------------------------------------------------------ the work
    def run(self) -> dict:
        start = time.perf_counter()
        res = self.resolution_ = self.prepare()
        self.base_fingerprint_ = None  # set when a run needs the base (see _session)
        write_resolved(self.loaded, res, self.out_dir)
        selected = self.selected_
        todo = [r for r in selected if self.finished(r, res.recipe_hash) is None]
        done = {r.key: "reused" for r in selected if r not in todo}
        with Progress("train", "runs", self.progress, len(selected), len(selected) - len(todo)) as progress:
            if todo:
                session, eval_items = self._session(res, progress.log)
                for run in todo:
                    progress.describe("now: " + (f"{run.strategy} seed {run.seed}" if run.seed is not None else run.strategy))
                    twin = self._twin(run, res)
                    if twin is not None:  # the same seed and items: a second training re-measures only noise
                        self._copy_run(twin, run, res)
                        progress.log(f"{run.strategy} seed {run.seed}: the same training items as {twin.key}; its results reused")
                        done[run.key] = "reused"
                    else:
                        self._run_one(session, eval_items, res, run)
                        done[run.key] = "computed"
                    progress.advance()
        self.summary_ = self._summary(res, done, time.perf_counter() - start)
        atomic_write(self.out_dir / "summary.json", json.dumps(self.summary_, indent=1))
        return self.summary_

    def _session(self, res: Resolution, log):
        r = self.loaded.recipe
        cache = Path(self.cache_dir or os.environ.get("PGFSELECT_CACHE_DIR") or self.out_dir)
        # A tiny base is warmed up on the matrix's tasks, as measure does: the same tasks and
        # settings give the same cached base the matrix was measured on.
        base = prepare_base(r.model, [r.task(t) for t in res.warmup_tasks], cache, log=log)
        self.base_fingerprint_ = base_fingerprint(r.model, base)
        self._check_base(res, log)  # before loading the model: a refusal costs nothing more
        ev = r.evaluation
        session = ModelSession(r.model, base, ev.engine_config())
        eval_items = {t: r.task(t).items(ev.split, n=ev.n_items, seed=ev.seed) for t in res.eval_tasks}
        return session, eval_items

    def _check_base(self, res: Resolution, log) -> None:
        """Runs of one folder must start from one base (they are compared with each other); a
        matrix measured on another base than this one planned for another model: said, not refused
        (a plan from another model's matrix is a legitimate transfer question)."""
        current = self.base_fingerprint_
        for run in res.runs:
            if self.finished(run, res.recipe_hash) is None:
                continue
            try:
                was = json.loads((self.out_dir / run.key / "config.json").read_text()).get("base_fingerprint")
            except (OSError, json.JSONDecodeError):
                continue
            if other_base(was, current):
                raise PGFSelectError(f"out_dir {str(self.out_dir)!r}: run {run.key} trained from base {was}, but this machine "
                                     f"builds base {current} from the same recipe (a tiny base is bit-identical only on "
                                     "one CPU type); its runs would not be comparable: resume where that base is built, "
                                     "or train into a new folder")
        measured_on = res.matrix.provenance.get("base_fingerprint")
        if other_base(measured_on, current) and res.matrix.model == self.loaded.recipe.model.path:
            warning = (f"matrix {res.matrix.name} was measured on base {measured_on}, these runs train from base "
                       f"{current} (the same settings on another CPU type): its plans were made for another model")
            res.warnings.append(warning)
            log(f"warning: {warning}")

    def _run_one(self, session, eval_items: dict, res: Resolution, run: RunSpec) -> None:
        r = self.loaded.recipe
        items = sample_items(self.loaded, run)
        final = self.out_dir / run.key
        final.parent.mkdir(parents=True, exist_ok=True)
        for stale in final.parent.glob(f".{final.name}.*"):  # left by a killed run
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
        try:
            _write_jsonl(tmp / "item_ids.jsonl", [{"id": it.id, "task": task} for task, it in items])
            config = dict(run_config(self.loaded, res, run), base_fingerprint=self.base_fingerprint_)
            atomic_write(tmp / "config.json", json.dumps(config, indent=1))
            atomic_write(tmp / "versions.json", json.dumps(package_versions(TRAINING_PACKAGES), indent=1))
            if run.strategy == "zero_shot":
                outcome = session.evaluate_base(eval_items, r.training)
            else:
                try:
                    outcome = session.finetune_and_evaluate([it for _, it in items], r.training, run.seed, eval_items,
                                                            log_dir=tmp / "tensorboard",  # with report_to
                                                            run_name=f"{run.strategy}/seed_{run.seed}")
                except CellFailed as exc:
                    raise PGFSelectError(f"run {run.strategy} seed {run.seed} failed: {exc}") from None
            _write_jsonl(tmp / "predictions.jsonl",
                         [{"task": t, **p} for t, rec in outcome.results.items() for p in rec["predictions"]])
            metrics = run_metrics(res, run, outcome)
            atomic_write(tmp / "metrics.json", json.dumps(metrics, indent=1))  # last: marks the run finished
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _twin(self, run: RunSpec, res: Resolution) -> RunSpec | None:
        """A finished run of this recipe that trained with ``run``'s seed on exactly its items."""
        if run.strategy == "zero_shot":
            return None
        mine = [{"id": it.id, "task": task} for task, it in sample_items(self.loaded, run)]
        for other in self.resolution_.runs:
            if other.key == run.key or other.seed != run.seed or other.strategy == "zero_shot":
                continue
            if (other.allocation, other.examples) == (run.allocation, run.examples) and self.finished(other, res.recipe_hash) is not None:
                path = self.out_dir / other.key / "item_ids.jsonl"
                if path.is_file() and [json.loads(x) for x in path.read_text().splitlines()] == mine:
                    return other
        return None

    def _copy_run(self, twin: RunSpec, run: RunSpec, res: Resolution) -> None:
        src, final = self.out_dir / twin.key, self.out_dir / run.key
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
        try:
            for name in ("item_ids.jsonl", "predictions.jsonl", "versions.json"):
                shutil.copy2(src / name, tmp / name)
            config = dict(run_config(self.loaded, res, run), same_training_as=twin.key,
                          base_fingerprint=json.loads((src / "config.json").read_text()).get("base_fingerprint"))
            atomic_write(tmp / "config.json", json.dumps(config, indent=1))
            metrics = json.loads((src / "metrics.json").read_text())
            metrics.update(strategy=run.strategy, expected_pgf=run.expected_pgf, same_training_as=twin.key)
            atomic_write(tmp / "metrics.json", json.dumps(metrics, indent=1))
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _summary(self, res: Resolution, done: dict, seconds: float) -> dict:
        runs = []
        for run in self.selected_:
            m = self.finished(run, res.recipe_hash) or {}
            runs.append({"strategy": run.strategy, "seed": run.seed, "path": run.key, "status": done.get(run.key),
                         "accuracy": m.get("accuracy"), "correct": m.get("correct"), "n": m.get("n"),
                         "examples": run.examples, "train_seconds": (m.get("train") or {}).get("train_seconds")})
        return {"out_dir": str(self.out_dir), "recipe_hash": res.recipe_hash, "target": res.target_id,
                "computed": sum(v == "computed" for v in done.values()),
                "reused": sum(v == "reused" for v in done.values()), "seconds": round(seconds, 2),
                "warnings": res.warnings, "runs": runs}


# ------------------------------------------------------------------ pieces (also used by tests)
def select_runs(runs: list[RunSpec], only) -> list[RunSpec]:
    """The runs named in ``only`` (all when empty): each entry a strategy (all its seeds) or
    ``STRATEGY:SEED`` (one run; two processes can then split a recipe evenly). An unknown or absent
    strategy or seed is an error naming what the recipe has."""
    if not only:
        return list(runs)
    wanted: dict[str, set | None] = {}  # strategy -> seeds (None: all of them)
    for entry in only:
        name, colon, seed = str(entry).partition(":")
        try:
            strategy = canonical_strategy(name)
        except ValueError as exc:
            raise PGFSelectError(f"only: {exc}") from None
        if not colon:
            wanted[strategy] = None
            continue
        seeds = sorted({r.seed for r in runs if r.strategy == strategy and r.seed is not None})
        if not seed.strip().lstrip("-").isdigit() or int(seed) not in seeds:
            allowed = f"one of its seeds ({', '.join(map(str, seeds))})" if seeds else "no seed (it has none)"
            raise PGFSelectError(f"only {entry}: {seed!r} is not a seed of {strategy} in this recipe; "
                                 f"give {strategy} alone or {strategy}:SEED with {allowed}")
        if wanted.get(strategy, set()) is not None:
            wanted.setdefault(strategy, set()).add(int(seed))
    missing = set(wanted) - {r.strategy for r in runs}
    if missing:
        raise PGFSelectError(f"only {', '.join(sorted(missing))}: not a strategy of this recipe "
                             f"({', '.join(dict.fromkeys(r.strategy for r in runs))})")
    return [r for r in runs if r.strategy in wanted and (wanted[r.strategy] is None or r.seed in wanted[r.strategy])]


def sample_items(loaded: LoadedRecipe, run: RunSpec) -> list[tuple[str, object]]:
    """(task id, item) pairs a run trains on: each source's first n train items under its
    recorded sampling seed, sources in allocation order."""
    r = loaded.recipe
    out = []
    for task_id, n in run.allocation.items():
        items = r.task(task_id).items("train", n=n, seed=run.sampling_seeds[task_id])
        if len(items) < n:
            raise PGFSelectError(f"strategy {run.strategy} needs {n} examples of {task_id} but its train split "
                                 f"gave {len(items)}; lower the budget or give more data")
        out += [(task_id, it) for it in items]
    if run.repeat_to and out:  # scarce direct: the same items cycled, as many examples as the mixes
        out = [out[i % len(out)] for i in range(run.repeat_to)]
    return out


def run_config(loaded: LoadedRecipe, res: Resolution, run: RunSpec) -> dict:
    r = loaded.recipe
    return {"recipe_hash": res.recipe_hash, "recipe": loaded.source, "name": r.name, **run.describe(),
            "target": res.target_id, "target_name": res.target_name, "matrix": res.matrix.name,
            "matrix_digest": res.matrix.digest(), "plan": run.plan,
            "model": r.model.model_dump(mode="json"), "training": r.training.model_dump(mode="json"),
            "training_seed": run.seed, "evaluation": r.evaluation.model_dump(mode="json"),
            "evaluation_tasks": res.eval_tasks}


def run_metrics(res: Resolution, run: RunSpec, outcome) -> dict:
    tasks = {t: {"accuracy": rec["correct"] / rec["n"], "correct": rec["correct"], "n": rec["n"],
                 "format_ok": rec.get("format_ok")} for t, rec in outcome.results.items()}
    tgt = tasks[res.target_id]
    train = {k: v for k, v in (outcome.train or {}).items() if k != "item_ids"}
    return {"format": RUN_FORMAT, "version": RUN_VERSION, "recipe_hash": res.recipe_hash, "strategy": run.strategy,
            "seed": run.seed, "target": res.target_id, "accuracy": tgt["accuracy"], "correct": tgt["correct"],
            "n": tgt["n"], "expected_pgf": run.expected_pgf, "tasks": tasks, "train": train,
            "eval_seconds": round(outcome.eval_seconds, 3)}


def recorded_hash(out_dir: Path) -> str | None:
    return recipe_hash_of(out_dir)


def write_resolved(loaded: LoadedRecipe, res: Resolution, out_dir: Path) -> None:
    doc = {"recipe_hash": res.recipe_hash, "recipe_file": loaded.source,
           **loaded.recipe.model_dump(mode="json"), "resolved": res.as_dict()}
    atomic_write(Path(out_dir) / "recipe.yaml", yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


def _write_jsonl(path: Path, rows) -> None:
    atomic_write(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
