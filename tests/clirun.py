"""Run the pgfselect CLI in-process for tests: (exit code, stdout, stderr)."""

from pgfselect.cli import main


def run_cli(args, capsys):
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
