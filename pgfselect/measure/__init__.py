"""Measure a PGF matrix: zero-shot base, one finetune per (source, seed), all scored on all tasks.

Public API (importing this package does not import torch)::

    from pgfselect.measure import load_config, measure
    cfg = load_config("recipes/measure-tiny.yaml")
    summary = measure(cfg, "runs/tiny")          # resumable; writes runs/tiny/matrix.csv

For the recipe runner: :class:`ModelSession`, :func:`finetune_and_evaluate`,
:func:`evaluate_base` (pgfselect.measure.runner), :func:`train_model` (training) and
:func:`prepare_base` (bases).
"""

import importlib

from .config import EvalConfig, MeasureConfig, ModelConfig, TrainingConfig, WarmupConfig, load_config

__all__ = ["EvalConfig", "MeasureConfig", "ModelConfig", "TrainingConfig", "WarmupConfig", "load_config",
           "measure", "finetune_and_evaluate", "evaluate_base", "ModelSession", "prepare_base", "train_model"]

_LAZY = {"measure": "engine", "finetune_and_evaluate": "runner", "evaluate_base": "runner",
         "ModelSession": "runner", "prepare_base": "bases", "train_model": "training"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
