"""The installed package's version, from its metadata (one place; ``pgfselect.__version__``)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pgfselect")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
