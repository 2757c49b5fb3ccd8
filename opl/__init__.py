"""opl: operator learning for PDEs.

``opl.load(path)`` loads a trained operator bundle (see ``opl.export``); it is imported lazily so
that ``import opl`` needs no torch (dataset generation runs without it).
"""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__", "load"]

try:
    __version__ = version("opl")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "unknown"


def __getattr__(name: str):
    if name == "load":
        from opl.export import load

        return load
    raise AttributeError(f"module 'opl' has no attribute {name!r}")
