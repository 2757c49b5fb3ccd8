"""opl: operator learning for PDEs.

``opl.load(path)`` loads a trained operator bundle (see ``opl.export``); it is imported lazily so
that ``import opl`` needs no torch (dataset generation runs without it).
"""

__all__ = ["load"]


def __getattr__(name: str):
    if name == "load":
        from opl.export import load

        return load
    raise AttributeError(f"module 'opl' has no attribute {name!r}")
