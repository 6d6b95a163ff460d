"""``pgfselect fit-mixtures``: fit how a target's PGF responds to the shares of a mix."""

from __future__ import annotations

import json

import click

from ..fileio import atomic_write, check_writable
from ..plan.mixture_model import MixtureResponse, runs_to_training_data
from .common import echo_json, format_option


@click.command("fit-mixtures", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="The model file (JSON) to write.")
@click.option("--no-interactions", is_flag=True, help="Fit the shares' linear terms only (a fitted blend).")
@format_option
def fit_mixtures(runs, out, no_interactions, fmt):
    """Fit a mixture-response model from finished `pgfselect train` folders whose mixtures differ.

    PGF(w) = Σ β_i w_i + Σ γ_ij w_i w_j over the shares w (Scheffé's quadratic mixture model,
    ridge with the penalty chosen by cross-validation); the base is the folders' zero_shot run.
    `pgfselect plan --mixture-model FILE` then optimises this response instead of the blend.

    \b
    Example:
      pgfselect fit-mixtures runs/mix-a runs/mix-b runs/mix-c --out counting-mix.json
      pgfselect plan -t counting -b 2k -m runs/matrix --mixture-model counting-mix.json
    """
    check_writable(out, "--out")
    shares, pgf, sources, target = runs_to_training_data(runs)
    model = MixtureResponse(interactions=not no_interactions).fit(shares, pgf, sources, target=target)
    doc = model.to_dict()
    atomic_write(out, json.dumps(doc, indent=1))
    if fmt == "json":
        echo_json(doc)
        return
    click.echo(f"mixture model for {target}: {model.n_runs_} runs, {len(sources)} sources, "
               f"{len(model.pairs_)} pairs; cross-validated MAE {model.cv_mae_:.3f} PGF (ridge alpha {model.alpha_:g})")
    for src, b in doc["coef"].items():
        click.echo(f"  {src}: alone {b:+.3f}")
    for e in doc["interactions"]:
        click.echo(f"  {e['pair'][0]} + {e['pair'][1]}: interaction {e['gamma']:+.3f}")
    click.echo(f"written to {out}")
