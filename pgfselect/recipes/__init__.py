"""Recipes: train a planned mixture and its baselines under one budget and several seeds, then
compare them (``pgfselect train`` / ``pgfselect compare``).

Importing this package does not import torch: validating a recipe and resolving its mixtures
is CPU-only and fast; only :meth:`RecipeRunner.run` trains.
"""

from .runner import RecipeRunner, resolve_runs
from .schema import STRATEGIES, Recipe, load_recipe, recipe_from_dict

__all__ = ["Recipe", "STRATEGIES", "load_recipe", "recipe_from_dict", "RecipeRunner", "resolve_runs"]

