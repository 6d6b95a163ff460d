"""Planning: budgets, the mixture optimiser, baseline strategies and plan files."""

from .budget import parse_examples
from .planfile import read_plan, write_plan
from .planner import STRATEGIES, MixturePlanner, canonical_strategy, plan

__all__ = ["MixturePlanner", "STRATEGIES", "canonical_strategy", "parse_examples", "plan",
           "read_plan", "write_plan"]
