"""Run the pgfselect CLI in-process for tests: (exit code, stdout, stderr), and measure a tiny
grid once for a module."""

from pathlib import Path

import pytest
import yaml

from pgfselect.cli import main


def run_cli(args, capsys):
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def measured_folder(tmp_path_factory, config: dict, name: str):
    """Yield the folder `pgfselect measure` writes for ``config``, its tiny base cached under the
    module's own temporary folder (PGFSELECT_CACHE_DIR restored afterwards). Use from a
    module-scoped fixture: ``yield from measured_folder(tmp_path_factory, TINY, "proxy")``."""
    root: Path = tmp_path_factory.mktemp(name)
    cfg = root / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump(config))
    out = root / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PGFSELECT_CACHE_DIR", str(root / "bases"))
        main(["measure", str(cfg), "--out", str(out), "--quiet"])
        yield out
