"""``pgfselect plan``: a mixture of source tasks for a target under a budget of examples."""

from __future__ import annotations

import click
from click.core import ParameterSource

from ..errors import PGFSelectError
from ..fileio import check_output, read_yaml_mapping
from ..matrix import load
from ..names import normalize
from ..plan import MixturePlanner, write_plan
from ..plan.checks import check_solver
from ..plan.mixture_model import read_model
from ..plan.planfile import PLAN_SUFFIXES
from ..plan.planner import DEFAULT_KAPPA, NO_HELPFUL_SOURCE
from ..predict import complete, with_all_sources
from ..wording import plural
from . import as_flags
from .common import console, echo_json, format_option


def _pairs(values, what: str, default_value=None) -> dict:
    """Parse repeatable NAME=VALUE options (comma-separated lists accepted); a NAME given twice
    is refused (the last one would silently win)."""
    out = {}
    for chunk in values:
        for item in filter(None, (p.strip() for p in chunk.split(","))):
            name, sep, value = item.partition("=")
            if not sep:
                if default_value is None:
                    raise PGFSelectError(f"{what} {item!r} must be NAME=VALUE")
                value = default_value
            name = name.strip()
            if not name:
                raise PGFSelectError(f"{what} {item!r} has no name before '='")
            if name in out:
                raise PGFSelectError(f"{what} gives {name!r} more than once; give each name once")
            out[name] = value.strip() if isinstance(value, str) else value
    return out


def _names(values) -> list[str]:
    return [p.strip() for chunk in values for p in chunk.split(",") if p.strip()]


def _target_weights(values) -> dict:
    items = [p.strip() for chunk in values for p in chunk.split(",") if p.strip()]
    weighted = [i for i in items if "=" in i]
    if weighted and len(weighted) < len(items):
        bare = next(i for i in items if "=" not in i)
        raise PGFSelectError(f"--target {bare!r} has no weight while {weighted[0]!r} has one; give every "
                             "target a weight (NAME=WEIGHT) or none (equal weights)")
    raw = _pairs(values, "--target", default_value="1")
    out = {}
    for name, w in raw.items():
        try:
            out[name] = float(w)
        except ValueError:
            raise PGFSelectError(f"--target weight {w!r} for {name!r} is not a number") from None
    return out


def _available(values, path) -> dict:
    avail = {}
    if path:
        doc = read_yaml_mapping(path, "--available-file", not_mapping="--available-file must map source "
                                "names to example counts")
        avail.update({str(k): v for k, v in doc.items()})
    avail.update(_pairs(values, "--available"))
    return avail


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--target", "-t", "target", multiple=True, required=True, metavar="NAME[=WEIGHT]",
              help="Target task (alias or name, case-insensitive). Repeat with weights for several.")
@click.option("--budget", "-b", required=True, metavar="N", help="Training examples in the mix: 500, 2000, 1.5k, 2k, 10k.")
@click.option("--matrix", "-m", "matrix_spec", default="published:qwen2.5-vl-7b", show_default=True,
              help="published:ID, a measure output folder, or a matrix file (.csv/.json).")
@click.option("--strategy", "-s", default="pgf", show_default=True,
              help="pgf (optimiser) or a baseline: paper, top_k, uniform, random, best_single, direct.")
@click.option("--objective", default="mean_variance", show_default=True,
              type=click.Choice(["mean_variance", "saturating"]),
              help="Of strategy pgf: the mix's expected PGF − κ·(its std error), or the older Σ w·log(1 + x/s).")
@click.option("--kappa", type=float, default=DEFAULT_KAPPA, show_default=True,
              help="Uncertainty aversion: std errors subtracted from the expected PGF (0 trusts the means; "
                   "> 0 hedges between statistically tied sources).")
@click.option("--saturation", type=float, default=500.0, show_default=True,
              help="--objective saturating: s in log(1 + x/s), in examples; smaller spreads the budget.")
@click.option("--available", multiple=True, metavar="SOURCE=N",
              help="Examples available from a source (cap); 'default=N' caps the rest. Repeatable.")
@click.option("--available-file", type=click.Path(dir_okay=False), help="YAML mapping source → examples available.")
@click.option("--exclude", multiple=True, metavar="SOURCE", help="Never use this source. Repeatable or comma-separated.")
@click.option("--include", multiple=True, metavar="SOURCE", help="Consider only these sources. Repeatable.")
@click.option("--fix", multiple=True, metavar="SOURCE=N", help="Take exactly N examples of SOURCE.")
@click.option("--target-examples", type=int, default=0, show_default=True,
              help="Scarce-target mode: the plan may also use up to N of the target's own examples.")
@click.option("--tau", type=float, default=0.05, show_default=True, help="Threshold of the 'paper' strategy.")
@click.option("--k", "k", type=int, default=3, show_default=True, help="Sources for top_k and random.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the 'random' strategy.")
@click.option("--solver", default=None, help="cvxpy solver (default: cvxpy's choice, CLARABEL).")
@click.option("--complete", is_flag=True, help="Plan on a matrix with unmeasured cells, predicting them (with error bars).")
@click.option("--prior", "priors", multiple=True, metavar="MATRIX", help="With --complete: other matrices used as priors.")
@click.option("--mixture-model", metavar="FILE|proxy:KIND",
              help="Optimise another mixture response instead of the blend: a model file from `pgfselect "
                   "fit-mixtures`, or proxy:ensemble / proxy:merge, the proxy of a measure folder given as "
                   "--matrix (mixes scored on its cells' models; see docs/proxies.md).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), help="Write the plan file that `pgfselect train` reads: .yaml/.yml → YAML, .json → JSON.")
@format_option
def plan(target, budget, matrix_spec, strategy, objective, kappa, saturation, available, available_file, exclude,
         include, fix, target_examples, tau, k, seed, solver, complete, priors, mixture_model, out, fmt):
    """Plan how many training examples to take from each source task for a target.

    Objective: maximise the mix's expected PGF (the share-weighted PGF of its sources) minus κ
    standard errors, a second-order cone program solved with cvxpy. Sources that would hurt are
    left out; when none helps, the plan says so (status no_helpful_source) and recommends direct
    finetuning or zero-shot. The built-in matrices are the published ones of Sachdeva et al., CVPR 2026
    (arXiv 2511.18787); the default is Qwen2.5-VL-7B.

    \b
    Example:
      pgfselect plan --target counting --budget 2k
      pgfselect plan -t counting=0.7 -t jigsaw=0.3 -b 5k --available default=1500
      pgfselect plan -t OL -b 2k --strategy paper --format json --out plan.yaml
      pgfselect plan -m runs/tiny -t counting -b 500 --mixture-model proxy:ensemble
    """
    if out is not None:
        check_output(out, "--out", suffixes=PLAN_SUFFIXES,
                     inputs={"--matrix": matrix_spec, "--available-file": available_file, "--prior": priors})
    if solver:
        check_solver(solver, "--solver")
    matrix = load(matrix_spec)
    completion = None
    if complete:
        matrix, completion = _complete(matrix, priors)
    elif priors:
        raise PGFSelectError("--prior is used only with --complete")
    model = _mixture_model(mixture_model, matrix_spec, _target_weights(target), kappa)
    planner = MixturePlanner(
        _target_weights(target), budget, strategy=strategy, objective=objective, kappa=kappa, saturation=saturation,
        available=_available(available, available_file), exclude=_names(exclude),
        include=_names(include) or None, fix=_pairs(fix, "--fix"), target_examples=target_examples,
        tau=tau, k=k, seed=seed, solver=solver, mixture_model=model)
    planner.fit(matrix, completion)
    result = planner.to_dict()
    _check_k(click.get_current_context(), k, result)
    if out:
        write_plan(result, out)
    if fmt == "json":
        echo_json(result)
    else:
        _print_table(result, out)


def _check_k(ctx, k, result) -> None:
    """An explicit --k is refused where the strategy ignores it, and above the candidates of
    top_k/random (the planner would use them all and say so in a note)."""
    if ctx.get_parameter_source("k") != ParameterSource.COMMANDLINE:
        return
    if result["strategy"] not in ("top_k", "random"):
        raise PGFSelectError(f"--k {k}: strategy {result['strategy']} does not use it; --k applies only to "
                             "--strategy top_k and random")

    fixed = {normalize(str(f)) for f in result["options"]["fix"]}
    free = [s for s in result["pgf"] if normalize(s) not in fixed]
    if k > len(free):
        raise PGFSelectError(f"--k {k} is more than the {len(free)} candidate source{'' if len(free) == 1 else 's'} "
                             f"of strategy {result['strategy']}; give --k {len(free)} or less")


def _complete(matrix, priors):
    """The matrix with a row for every task (unmeasured where absent) and its completion."""
    matrix = with_all_sources(matrix)
    return matrix, complete(matrix, [load(p) for p in priors])


def _print_table(result: dict, out) -> None:
    from rich.table import Table

    targets = list(result["targets"])
    title = (f"{result['strategy']} plan for {', '.join(f'{t} ({w:.2f})' for t, w in result['targets'].items()) if len(targets) > 1 else targets[0]}"
             f" — budget {plural(result['budget'], 'example')} — matrix {result['matrix']}")
    table = Table(title=title, title_justify="left")
    table.add_column("source")
    table.add_column("examples", justify="right")
    table.add_column("share", justify="right")
    for t in targets:
        table.add_column(f"PGF→{t} mean [95% CI]" if len(targets) > 1 else "PGF mean [95% CI]", justify="right")
    table.add_column("note")
    budget = result["budget"]
    for src, n in result["allocation"].items():
        cells = [_fmt_pgf(result["pgf"][src][t]) for t in targets]
        note = "predicted" if src in result["predicted_inputs"] else ""
        table.add_row(src, f"{n:,}", f"{n / budget:.0%}", *cells, note)
    if result["excluded"]:
        table.add_section()
    means = {src: result["pgf"].get(src, {}).get(targets[0], {}).get("mean") for src in result["excluded"]}
    command = click.get_current_context().command  # the planner's reasons name its parameters
    for src, why in sorted(result["excluded"].items(), key=lambda kv: -(means[kv[0]] if means[kv[0]] is not None else 9)):
        cells = [_fmt_pgf(result["pgf"][src][t]) if src in result["pgf"] else "" for t in targets]
        table.add_row(f"[dim]{src}[/dim]", "0", "", *cells, f"[dim]{as_flags(why, command)}[/dim]")
    con = console()
    con.print(table)
    exp = result["expected"]
    if result["status"] == NO_HELPFUL_SOURCE:
        rec = result["recommendation"]
        con.print(f"status {NO_HELPFUL_SOURCE}: {rec['reason']}. Recommendation: {rec['strategy']}.")
    else:
        err = f" ± {exp['std_error']:.3f}" if "std_error" in exp else ""
        con.print(f"solver {result['solver']}: {result['status']}. Expected PGF of the mix ≈ {exp['pgf']:.3f}{err}, "
                  f"range {exp['range'][0]:.3f} to {exp['range'][1]:.3f} ({exp['assumptions']}).")
    for note in result["notes"]:
        con.print(f"note: {note}")
    if out:
        con.print(f"plan written to {out}")


def _fmt_pgf(stats: dict) -> str:
    mean, lo, hi = stats["mean"], stats["ci_low"], stats["ci_high"]
    if mean is None:
        return "undefined"
    ci = f" [{lo:+.3f}, {hi:+.3f}]" if lo is not None else ""
    return f"{mean:+.3f}{ci}" + ("*" if stats["predicted"] else "")


def _mixture_model(spec, matrix_spec, targets, kappa):
    """None, a fitted model file, or a proxy of the --matrix measure folder (fitted here)."""
    if not spec:
        return None
    if not spec.startswith("proxy:"):
        return read_model(spec)
    from ..proxy import KINDS, ProxyResponse

    kind = spec.removeprefix("proxy:")
    if kind not in KINDS:
        raise PGFSelectError(f"--mixture-model {spec!r}: unknown proxy; allowed: "
                             f"{', '.join('proxy:' + k for k in KINDS)} or a model file")
    if len(targets) != 1:
        raise PGFSelectError(f"--mixture-model {spec} plans one target; got {len(targets)}")
    return ProxyResponse(matrix_spec, next(iter(targets)), kind=kind, kappa=kappa).fit()
