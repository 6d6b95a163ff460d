"""The merge proxy on a folder of full finetunes (training.method full, as the benchmarks'
synthetic matrix): the cells' whole models are merged as Σ wᵢ θᵢ, so all weight on one source
scores that cell's model unchanged (its recorded answers come back), and half and half is the
mean of the two models' weights.

One tiny grid (3 synthetic tasks, 1 seed, a few full-finetune steps, 24 evaluation items) is
measured once per module (about 15 s on a busy 2-core machine).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from clirun import measured_folder
from pgfselect.errors import PGFSelectError
from pgfselect.matrix import load
from pgfselect.proxy import ProxyResponse, merge_proxy

pytestmark = pytest.mark.slow

TASKS = ["synthetic:Counting", "synthetic:Relative_Depth", "synthetic:Spatial_Relation"]
CT, RD, SR = TASKS
TINY_FULL = {
    "model": {"path": "tiny:t64", "cpu_threads": 1, "initializer_range": 0.1,
              "warmup": {"steps": 40, "examples_per_task": 32, "batch_size": 8}},
    "task_options": {"synthetic": {"difficulty": 0.0, "skill_cues": 0.6}},
    "tasks": TASKS,
    "seeds": [0],
    "training": {"method": "full", "train_vision": True, "learning_rate": 0.002, "max_steps": 6,
                 "batch_size": 4, "examples_per_task": 24},
    "evaluation": {"n_items": 24, "batch_size": 24},
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    yield from measured_folder(tmp_path_factory, TINY_FULL, "proxy-full")


def recorded_preds(out, source: str, target: str) -> list[int]:
    with open(out / "predictions.csv", newline="") as fh:
        return [int(r["pred"]) for r in csv.DictReader(fh) if (r["seed"], r["source"], r["target"]) == ("seed_0", source, target)]


def test_each_cell_kept_its_whole_model(folder):
    for cell in folder.glob("cells/*/seed_*/*.json"):
        model = folder / json.loads(cell.read_text())["adapter_dir"]
        assert (model / "config.json").is_file() and (model / "model.safetensors").is_file()


def test_merge_with_all_weight_on_one_source_scores_the_cell_unchanged(folder):
    m = load(folder)
    for i, source in enumerate(TASKS):
        res = merge_proxy(folder, {source: 1.0}, CT)
        assert res.options["merged"].startswith("whole models")
        assert res.correct == [int(m.correct_ft[0, i, 0])]
        assert res.pgf == [float(m.values[0, i, 0])]
        assert [p["pred"] for p in res.predictions["seed_0"]] == recorded_preds(folder, source, CT)


def test_half_and_half_is_the_mean_of_the_two_models_weights(folder, monkeypatch):
    from pgfselect.measure.engine import folder_config
    from pgfselect.measure.models import detect_runtime, load_model
    from pgfselect.measure.runner import ModelSession

    seen = {}
    real = ModelSession.evaluate

    def spy(self, model, items):
        seen.update({k: v.detach().clone() for k, v in model.state_dict().items()})
        return real(self, model, items)

    monkeypatch.setattr(ModelSession, "evaluate", spy)
    res = merge_proxy(folder, {RD: 0.5, SR: 0.5}, CT)
    assert res.mix == {RD: 0.5, SR: 0.5} and np.isfinite(res.pgf).all()
    cells = {json.loads(p.read_text())["source"]: folder / json.loads(p.read_text())["adapter_dir"]
             for p in folder.glob("cells/*/seed_0/*.json")}
    model_cfg = folder_config(folder).model
    runtime = detect_runtime(model_cfg)
    a, b = (load_model(str(cells[s]), model_cfg, runtime).state_dict() for s in (RD, SR))
    assert set(seen) == set(a)
    checked = 0
    for name, t in a.items():
        if t.is_floating_point() and not np.array_equal(t.numpy(), b[name].numpy()):
            np.testing.assert_allclose(seen[name].numpy(), (0.5 * t + 0.5 * b[name]).numpy(), rtol=0, atol=1e-6)
            checked += 1
    assert checked > 10  # the finetunes moved many tensors, and each merged one is the mean


def test_pruning_combinations_are_refused_for_whole_models(folder):
    with pytest.raises(PGFSelectError, match=r"training.method full.*combination dare_linear prunes LoRA adapters"):
        merge_proxy(folder, {RD: 0.5, SR: 0.5}, CT, combination="dare_linear", density=0.5)


def test_proxy_response_of_a_single_source_is_its_cell(folder):
    m = load(folder)
    resp = ProxyResponse(folder, CT, kind="merge").fit()
    shares = np.array([1.0 if s == SR else 0.0 for s in resp.sources_])
    assert resp.pgf_per_seed(shares).tolist() == [float(m.values[0, m.sources.index(SR), 0])]


def test_merge_search_reads_single_sources_off_the_matrix_and_merges_each_mix_once(folder, monkeypatch):
    import pgfselect.proxy.merge as merge_module

    calls, real = [], merge_module.merge_proxy

    def counted(matrix_dir, mix, target, **kw):
        calls.append(tuple(sorted(mix.items())))
        return real(matrix_dir, mix, target, **kw)

    monkeypatch.setattr(merge_module, "merge_proxy", counted)
    resp = ProxyResponse(folder, CT, kind="merge", n_candidates=2).fit()
    k = len(resp.sources_)
    w = resp.best_shares(np.ones(k))
    assert calls and all(len(c) > 1 for c in calls)  # a single source at share 1 is its cell: not merged
    assert len(calls) == len(set(calls))  # a mix the search meets again is not merged again
    assert resp.value(w) >= max(resp.value(np.eye(k)[i]) for i in range(k)) - 1e-12
