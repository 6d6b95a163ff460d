"""The merge proxy (DeMix, Li et al. 2026, arXiv 2602.00747): a model trained on a mix is estimated
by merging, with the mix's shares, the LoRA adapters finetuned on each source alone (PEFT's
``add_weighted_adapter``), then scoring the merged model on the target exactly as ``measure``
scored the cells: the folder's base, evaluation items and scorer, through pgfselect.measure.
A folder measured with ``training.method: full`` kept a whole finetuned model per cell; those are
merged as DeMix merges: their weights averaged with the shares, Σ wᵢ θᵢ (= θ₀ + Σ wᵢ Δθᵢ).

Torch, transformers and PEFT are imported only here, inside the functions that run a model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import PGFSelectError
from ..measure.bases import prepare_base
from ..measure.cache import Cell, CellCache
from ..measure.engine import evaluation_items, folder_config
from ..measure.models import load_model, release_memory
from ..measure.runner import ModelSession
from .core import ProxyResult, common_seeds, proxy_result, resolve_mix

# PEFT combination types offered (cat first: the default, the exact weighted sum). linear: A and B of the adapters mixed separately (PEFT's
# "efficient, rough" merge: the product has cross terms between adapters); cat: the adapters
# stacked, so the merged update is exactly the weighted sum of the sources' updates, the linear
# weight merge of DeMix (rank = sum of ranks); ties and dare_linear prune with a density first.
COMBINATIONS = ("cat", "linear", "ties", "dare_linear")
NEEDS_DENSITY = ("ties", "dare_linear")
# Whole finetuned models (training.method full) have no A and B to mix: cat and linear both mean
# their weights' share-weighted sum, the exact merge; the pruning combinations do not apply.
FULL_COMBINATIONS = ("cat", "linear")


def merge_proxy(matrix_dir, mix: dict[str, float], target: str, *, combination: str = "cat",
                density: float | None = None, cache_dir=None, log=None) -> ProxyResult:
    """The merge proxy of ``mix`` (source -> share, normalised here) on ``target``, per seed where
    every mixed source kept its adapter. ``cache_dir``: where a tiny base was prepared (default:
    $PGFSELECT_CACHE_DIR, else the one the folder's run.json records, else the folder)."""
    _check_options(combination, density)
    setup = resolve_mix(matrix_dir, mix, target)
    config_hash = setup.matrix.provenance.get("config_hash")
    cfg = folder_config(setup.folder, config_hash)
    full = cfg.training.method == "full"
    if full and combination not in FULL_COMBINATIONS:
        raise PGFSelectError(f"{setup.folder} was measured with training.method full: each cell kept a whole "
                             f"finetuned model, whose weights are merged as their share-weighted sum; combination "
                             f"{combination} prunes LoRA adapters and does not apply (use {' or '.join(FULL_COMBINATIONS)})")
    cache = CellCache(setup.folder, config_hash or cfg.config_hash())
    adapters = {seed: _adapters(setup, cache, seed, full) for seed in setup.matrix.seeds if setup.cells_exist(seed)}
    seeds = common_seeds(setup, lambda seed: adapters.get(seed) is not None)
    base_path = prepare_base(cfg.model, [cfg.task(t) for t in cfg.tasks], _cache_dir(setup.folder, cache_dir), log=log)
    # No greedy format check: the proxy needs the scores, and generation is the slow part.
    session = ModelSession(cfg.model, base_path, cfg.evaluation.model_copy(update={"format_check": 0}))
    items = evaluation_items(cfg, [setup.target])
    correct, predictions = [], {}
    for seed in seeds:
        if full:
            res = _score_merged_full(session, adapters[seed], list(setup.mix.values()), items)[setup.target]
        else:
            res = _score_merged(session, cfg.training, adapters[seed], list(setup.mix.values()), items,
                                combination, density, int(seed.removeprefix("seed_")))[setup.target]
        correct.append(res["correct"])
        predictions[seed] = res["predictions"]
    options = {"combination": combination, **({"density": density} if density is not None else {}),
               **({"merged": "whole models (training.method full): weights Σ wᵢ θᵢ"} if full else {})}
    return proxy_result(setup, "merge", seeds, correct, predictions, options)


def _check_options(combination: str, density) -> None:
    if combination not in COMBINATIONS:
        raise PGFSelectError(f"combination {combination!r} is unknown; valid: {', '.join(COMBINATIONS)}")
    if combination in NEEDS_DENSITY:
        if density is None or not 0 < density <= 1:
            raise PGFSelectError(f"combination {combination} needs density=D with D in (0, 1] (the share of each "
                                 f"adapter's weights kept), got {density!r}")
    elif density is not None:
        raise PGFSelectError(f"density applies to combination {' and '.join(NEEDS_DENSITY)}, not to {combination}")


def _adapters(setup, cache: CellCache, seed: str, full: bool = False) -> list[Path] | None:
    """The mixed sources' adapter folders (``full``: whole-model folders) in ``seed`` (mix
    order); None when one kept none."""
    out = []
    what, marker = ("finetuned model", "config.json") if full else ("adapter", "adapter_config.json")
    for source in setup.mix:
        rec = cache.get(Cell(source, int(seed.removeprefix("seed_"))))
        folder = rec and rec.get("adapter_dir")
        if not folder:
            return None
        path = setup.folder / folder  # relative to the folder, or absolute (measure's adapters_dir)
        if not (path / marker).is_file():
            raise PGFSelectError(f"{what} of {source} ({seed}) not found at {str(path)!r}: the folder's "
                                 f"{what}s were moved or deleted")
        out.append(path)
    return out


def _cache_dir(folder: Path, given) -> Path:
    if given or os.environ.get("PGFSELECT_CACHE_DIR"):
        return Path(given or os.environ["PGFSELECT_CACHE_DIR"])
    try:
        recorded = json.loads((folder / "run.json").read_text()).get("cache_dir")
    except (OSError, ValueError):
        recorded = None
    return Path(recorded) if recorded and Path(recorded).is_dir() else folder


def _score_merged(session: ModelSession, training, adapters: list[Path], weights: list[float], items: dict,
                  combination: str, density, seed: int) -> dict:
    """Load a fresh base (as the cells' finetunes did), attach the adapters, merge them with PEFT,
    score the merged adapter alone; the model is released before returning."""
    import torch
    from peft import PeftModel

    names = [f"source_{k}" for k in range(len(adapters))]  # PEFT names must be module-safe
    model = session.load_base(training)
    try:
        model = PeftModel.from_pretrained(model, str(adapters[0]), adapter_name=names[0])
        for name, path in zip(names[1:], adapters[1:]):
            model.load_adapter(str(path), adapter_name=name)
        torch.manual_seed(seed)  # dare_linear drops weights at random: the same merge on a rerun
        model.add_weighted_adapter(names, weights, "mix", combination_type=combination, density=density)
        model.set_adapter("mix")
        model.eval()
        return session.evaluate(model, items)
    finally:
        del model
        release_memory()


def _score_merged_full(session: ModelSession, models: list[Path], weights: list[float], items: dict) -> dict:
    """Whole finetuned models merged as Σ wᵢ θᵢ (DeMix's linear merge; with shares summing to 1
    this is θ₀ + Σ wᵢ Δθᵢ), accumulated in float32 one model at a time (two in memory), then
    scored; with one model at share 1 its weights are unchanged. Non-float buffers (position
    ids) are the first model's: finetuning leaves them as they were."""
    import torch

    model = merged = None
    try:
        for path, w in zip(models, weights):
            loaded = load_model(str(path), session.model_cfg, session.runtime)
            with torch.no_grad():
                state = loaded.state_dict()
                if merged is None:
                    model, merged = loaded, {name: t.detach().to(torch.float32) * w
                                             for name, t in state.items() if t.is_floating_point()}
                else:
                    if set(state) != set(model.state_dict()):
                        raise PGFSelectError(f"finetuned model {str(path)!r} has other weights than {str(models[0])!r}: "
                                             "the cells do not come from one base model")
                    for name, acc in merged.items():
                        acc.add_(state[name].detach().to(torch.float32), alpha=w)
                    del loaded
                del state
        with torch.no_grad():
            own = model.state_dict()
            model.load_state_dict({**own, **{name: t.to(own[name].dtype) for name, t in merged.items()}})
        merged = None
        model.eval()
        return session.evaluate(model, items)
    finally:
        del model, merged
        release_memory()
