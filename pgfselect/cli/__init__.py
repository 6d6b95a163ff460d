"""The ``pgfselect`` command line. Subcommands live in their own modules and are imported only
when called, so ``pgfselect plan`` never pays for matplotlib, networkx or torch."""

from __future__ import annotations

import functools
import importlib
import re
import sys

import click

from ..errors import PGFSelectError

# command name -> "module:attribute" (relative to pgfselect.cli)
COMMANDS = {
    "plan": "plan:plan",
    "matrices": "matrices:matrices",
    "analyze": "analyze:analyze",
    "measure": "measure:measure",
    "predict": "predict:predict",
    "suggest": "predict:suggest",
    "tasks": "tasks:tasks",
    "train": "train:train",
    "compare": "compare:compare",
    "saturation": "saturation:saturation",
    "fit-mixtures": "fit_mixtures:fit_mixtures",
    "mix": "mix:mix",
    "proxy": "proxy:proxy",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return map_errors(getattr(importlib.import_module(f"{__name__}.{module}"), attr), name)


# ------------------------------------------------------------------ library errors in flags
# The library's errors name its Python parameters: a leading ``name`` (``out_dir '/a' is a
# file``) and hints written ``name=VALUE`` (``needs revision=COMMIT``, ``or force=True``). A
# command's options carry the library's names (``@click.option("--out", "out_dir")``), so one
# rewrite turns them into the flags of the command that was called. Where a library name has no
# option of its own, ALIASES names the option that stands for it.
ALIASES = {
    "plan": {"completion": "complete",  # MixturePlanner.fit(matrix, completion): what --complete computes
             "matrix_dir": "matrix_spec"},  # ProxyResponse(matrix_dir): --matrix with --mixture-model proxy:KIND
}


def map_errors(command: click.Command, path: str) -> click.Command:
    """Wrap ``command``'s callback (and its subcommands', for a group), once, so that a
    PGFSelectError reaches the user in the command's flags. ``path``: "plan", "tasks build"."""
    if getattr(command, "_flag_errors", False):
        return command
    command._flag_errors = True
    command._flag_aliases = ALIASES.get(path, {})
    for name, sub in getattr(command, "commands", {}).items():
        map_errors(sub, f"{path} {name}")
    callback = command.callback
    if callback is not None:
        @functools.wraps(callback)
        def wrapped(*args, **kwargs):
            try:
                return callback(*args, **kwargs)
            except PGFSelectError as exc:
                raise PGFSelectError(as_flags(str(exc), command)) from None

        command.callback = wrapped
    return command


def flag_names(command: click.Command) -> tuple[dict[str, str], set[str]]:
    """Python name -> what the user types (an option's longest flag, an argument's metavar), and
    the names of flags that take no value."""
    flags, bare = {}, set()
    for p in command.params:
        if isinstance(p, click.Option):
            flags[p.name] = max(p.opts, key=len)
            if p.is_flag:
                bare.add(p.name)
        elif isinstance(p, click.Argument):
            flags[p.name] = (p.metavar or p.name.upper()).strip("[].")
    for alias, name in getattr(command, "_flag_aliases", {}).items():
        flags[alias] = flags[name]
        if name in bare:
            bare.add(alias)
    return flags, bare


def as_flags(message: str, command: click.Command) -> str:
    """``message`` with ``command``'s parameter names as its flags: a leading ``name`` (followed
    by a space or ':') -> the flag; ``name=True``, or ``name=VALUE`` of a flag that takes no
    value -> the flag alone; ``name=VALUE`` -> ``--flag VALUE``."""
    flags, bare = flag_names(command)
    if not flags:
        return message
    names = "|".join(sorted(map(re.escape, flags), key=len, reverse=True))

    def hint(m):
        name, value = m.group(1), m.group(2)
        return flags[name] if value == "True" or name in bare else f"{flags[name]} {value}"

    message = re.sub(rf"^({names})(?=[ :])", lambda m: flags[m.group(1)], message)
    # Hints stand as words of their own: after a space or '(' (never inside a quoted value).
    return re.sub(rf"(?<![^\s(])({names})=([^\s)]+)", hint, message)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="pgfselect")
def cli():
    """pgfselect: choose finetuning data for a vision-language model with the Perfection Gap
    Factor (PGF), then verify the choice.

    \b
    Example:
      pgfselect plan --target counting --budget 2k
      pgfselect matrices list
    """


def main(argv=None):
    """Entry point: user errors print one line and exit 2."""
    try:
        cli.main(args=argv, prog_name="pgfselect", standalone_mode=False)
    except PGFSelectError as exc:
        _error(str(exc))
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        if exc.__class__.__name__ == "NoArgsIsHelpError" and exc.ctx is not None:
            click.echo(exc.ctx.get_help())  # a group called alone: its help, not an error
            sys.exit(0)
        # Click's own rendering is three lines (usage, hint, error); ours is one.
        ctx = exc.ctx
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _error(f"{exc.format_message()}{where}", exc.exit_code)
    except click.ClickException as exc:
        _error(exc.format_message(), exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:
        # A file or folder the command could not read or write (a safety net: commands check
        # their paths first). One line, never a traceback.
        name = f" {str(exc.filename)!r}" if exc.filename else ""
        _error(f"cannot access{name}: {exc.strerror or exc}")


def _error(message: str, code: int = 2) -> None:
    click.echo("error: " + " ".join(str(message).split()), err=True)
    sys.exit(code)
