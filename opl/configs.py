"""The configs shipped with opl: ``configs/`` of a source checkout, installed by a wheel as the
package data ``opl._configs``, so that the README's commands (``opl generate
configs/data/demo_darcy.yaml``) work from any directory."""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

SHIPPED = Path(str(importlib.resources.files("opl._configs")))
"""The folder of the shipped configs (``data/*.yaml``, ``train/*.yaml``)."""


def resolve_config(path: str) -> str:
    """``path`` if it is a file; otherwise the shipped config it names (``configs/data/x.yaml``
    or ``data/x.yaml``) if there is one; otherwise ``path`` unchanged (for the caller's error)."""
    if os.path.exists(path):
        return path
    relative = Path(path)
    if relative.parts[:1] == ("configs",):
        relative = Path(*relative.parts[1:])
    shipped = SHIPPED / relative
    return str(shipped) if not relative.is_absolute() and shipped.is_file() else path
