"""``pgfselect proxy``: estimate a mix's PGF on a target from a measure folder's cells."""

from __future__ import annotations

import click

from ..errors import PGFSelectError
from ..fileio import check_output
from ..proxy import COMBINATIONS, KINDS, ensemble_proxy, merge_proxy, parse_mix
from .common import echo_json, format_option


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("matrix_dir", type=click.Path())
@click.option("--mix", "mix", required=True, multiple=True, metavar="SOURCE=SHARE,...",
              help="Sources (rows of the folder's matrix) and their shares of the mix; shares ≥ 0, "
              "normalised to sum to 1. Repeatable.")
@click.option("--target", "-t", required=True, help="The target task (one the folder evaluated).")
@click.option("--kind", type=click.Choice(KINDS), default="ensemble", show_default=True,
              help="ensemble: mix the cells' recorded option probabilities (no model runs); "
              "merge: merge the cells' LoRA adapters (whole finetuned models for a training.method full folder: "
              "their share-weighted weights) and score the merged model.")
@click.option("--combination", type=click.Choice(COMBINATIONS), default=None,
              help="With --kind merge: PEFT's add_weighted_adapter combination_type [default: cat, the exact weighted "
              "sum of the sources' weight updates; linear mixes A and B separately, with cross terms].")
@click.option("--density", type=float, default=None,
              help="With --combination ties or dare_linear: the share of each adapter's weights kept, in (0, 1].")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="With --kind merge: where the folder's tiny base was prepared (default: $PGFSELECT_CACHE_DIR, "
              "else the one run.json records, else the folder).")
@click.option("--predictions", "with_predictions", is_flag=True,
              help="With --format json: include the proxy's per-item predictions for every seed.")
@format_option
def proxy(matrix_dir, mix, target, kind, combination, density, cache_dir, with_predictions, fmt):
    """Estimate the PGF that finetuning on a MIX of sources would reach on TARGET, from the cells
    of the measure folder MATRIX_DIR, without training the mix: per seed, then the seed mean with
    a 95% t-interval, beside the blend of the sources' own PGF (what `plan` assumes).

    An estimate for choosing what to train (docs/proxies.md); `pgfselect train` and `compare`
    verify a mix. Its agreement with trained mixes has not been measured yet.

    \b
    Example:
      pgfselect proxy runs/tiny --mix relative_depth=0.5,spatial_relation=0.5 --target counting
      pgfselect proxy runs/tiny --mix RD=0.7 --mix SR=0.3 -t CT --kind merge --format json
      pgfselect proxy runs/tiny --mix RD=1,SR=1 -t CT --kind merge --combination ties --density 0.5
    """
    if cache_dir:  # a tiny base missing from it is built there
        check_output(cache_dir, "--cache-dir", kind="folder", inputs={"MATRIX_DIR": matrix_dir})
    shares = parse_mix(mix)
    if kind == "ensemble":
        merge_only = [flag for flag, value in (("--combination", combination), ("--density", density),
                                               ("--cache-dir", cache_dir)) if value is not None]
        if merge_only:
            raise PGFSelectError(f"{', '.join(merge_only)} applies to --kind merge only")
        res = ensemble_proxy(matrix_dir, shares, target)
    else:
        res = merge_proxy(matrix_dir, shares, target, combination=combination or "cat", density=density,
                          cache_dir=cache_dir)
    if fmt == "json":
        echo_json(res.to_dict(predictions=with_predictions))
    else:
        click.echo(res.summary())
