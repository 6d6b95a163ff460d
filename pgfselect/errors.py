"""User-facing errors: the CLI prints them on one line and exits with code 2."""


class PGFSelectError(ValueError):
    """Bad input from the user (a value, a file, a name). Message is one line."""

    exit_code = 2
