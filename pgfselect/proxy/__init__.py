"""Proxies: estimate the PGF a model trained on a mix of sources would reach on a target, from
the cells a ``measure`` folder already holds, without training the mix.

* :func:`ensemble_proxy` (Mixture of Data Experts): the share-weighted mean of the sources'
  recorded option probabilities on the target's items; no model runs, no torch.
* :func:`merge_proxy` (DeMix): the sources' LoRA adapters merged with the shares (PEFT), loaded
  on the folder's base and scored on the target's evaluation items; for a folder of full
  finetunes, the cells' whole models averaged with the shares.

Both return a :class:`ProxyResult` (per-seed PGF against the folder's zero-shot base, computed
with the matrix's own formula, and a seed mean with a t-interval). A proxy is an estimate for
choosing what to train; `pgfselect train` and `compare` verify it. :class:`ProxyResponse` is a
proxy as the planner's mixture response (``plan --mixture-model proxy:ensemble``). See
docs/proxies.md.
"""

from .core import KINDS, ProxyResult, parse_mix, resolve_mix
from .ensemble import ensemble_proxy
from .merge import COMBINATIONS, merge_proxy
from .search import ProxyResponse

__all__ = ["COMBINATIONS", "KINDS", "ProxyResponse", "ProxyResult", "ensemble_proxy", "merge_proxy", "parse_mix", "resolve_mix"]
