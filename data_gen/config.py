"""Typed configs: YAML mappings checked against a dataclass, with errors that name the key.

A generator's hyperparameters are a frozen dataclass. Its fields' type hints say what a config
may hold (``int``, ``float``, ``bool``, ``str``, ``Literal[...]``, ``tuple[float, ...]``, a nested
config dataclass, or ``X | None``) and ``field(metadata=bounds(...))`` adds numeric bounds;
``from_mapping`` checks a mapping against both and builds the dataclass, or raises one
``ConfigError`` naming the key.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import yaml

from opl.errors import ConfigError

T = TypeVar("T")


def bounds(
    *, ge: float | None = None, gt: float | None = None, le: float | None = None
) -> dict[str, float]:
    """Field metadata for a numeric bound: ``ge`` (>=), ``gt`` (>) and ``le`` (<=)."""
    out = {"ge": ge, "gt": gt, "le": le}
    return {k: v for k, v in out.items() if v is not None}


def load_yaml(path: str) -> dict[str, Any]:
    """Read a YAML file whose top level is a mapping."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a directory, not a config file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not a UTF-8 text file (byte {err.start}); expected a YAML config"
        ) from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({_one_line(err)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {_kind(data)}")
    return data


def from_mapping(cls: type[T], data: Any, where: str) -> T:
    """Build the config dataclass ``cls`` from ``data``; ``where`` prefixes error messages."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{where}: expected a mapping of {cls.__name__} options, got {_kind(data)}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{join(where, unknown[0])}: unknown option of {cls.__name__}; "
            f"expected one of: {', '.join(fields)}"
        )
    hints = get_type_hints(cls)
    values = {}
    for name, value in data.items():
        values[name] = _check(value, hints[name], fields[name].metadata, join(where, name))
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {_one_line(err)}") from None


def join(where: str, key: str) -> str:
    """The location of ``key`` inside ``where``: ``a.b`` or, after a file name, ``file.yaml: b``."""
    return f"{where} {key}" if where.endswith(":") else f"{where}.{key}"


def to_mapping(config: Any) -> dict[str, Any]:
    """The plain (YAML-ready) mapping of a config dataclass; the inverse of ``from_mapping``."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            value = to_mapping(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _check(value: Any, hint: Any, meta: Mapping[str, float], where: str) -> Any:
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        (inner,) = [a for a in options if a is not type(None)]
        return _check(value, inner, meta, where)
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            expected = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"{where}: expected one of {expected}, got {value!r}")
        return value
    if origin is tuple:
        (item, _) = get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {_kind(value)}")
        return tuple(_check(v, item, meta, f"{where}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint):
        return from_mapping(hint, value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {_kind(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer{_range(meta)}, got {_kind(value)}")
        _check_bounds(value, meta, where, "an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number{_range(meta)}, got {_kind(value)}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value}")
        _check_bounds(value, meta, where, "a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {_kind(value)}")
        return value
    raise TypeError(f"config fields of type {hint!r} are not supported")  # a programming error


def _check_bounds(value: float, meta: Mapping[str, float], where: str, what: str) -> None:
    ok = (
        ("ge" not in meta or value >= meta["ge"])
        and ("gt" not in meta or value > meta["gt"])
        and ("le" not in meta or value <= meta["le"])
    )
    if not ok:
        raise ConfigError(f"{where}: expected {what}{_range(meta)}, got {value}")


def _range(meta: Mapping[str, float]) -> str:
    parts = [
        f"{sign} {int(meta[key]):,}" if float(meta[key]).is_integer() else f"{sign} {meta[key]:g}"
        for key, sign in (("ge", ">="), ("gt", ">"), ("le", "<="))
        if key in meta
    ]
    return (" " + " and ".join(parts)) if parts else ""


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, (int, float, str)):
        return f"{type(value).__name__} {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())
