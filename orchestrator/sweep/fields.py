"""TrialConfig field values as written in a sweep YAML or a `--set key=value` (driver side, pure).

YAML and the command line hand over loosely typed values (PyYAML reads `1e-5` as a string, a fixed
mask ratio is naturally written `0.5`); this module turns them into exactly what `TrialConfig`
takes, by the field's annotation, or refuses them with one line naming the field and where it was
written. Ranges are left to `TrialConfig` itself.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any

from orchestrator.trial.settings import parse_mask_ratio
from training.config import TrialConfig
from training.errors import InputError

FIELD_NAMES: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(TrialConfig))
_HINTS = typing.get_type_hints(TrialConfig)


def check_field(name: object, where: str) -> str:
    """`name` if it is a TrialConfig field; else one line with the closest valid name."""
    if isinstance(name, str) and name in FIELD_NAMES:
        return name
    close = difflib.get_close_matches(str(name), FIELD_NAMES, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"valid: {', '.join(FIELD_NAMES)}"
    raise InputError(f"{where}: unknown trial field {name!r}; {hint}")


def coerce_field(name: str, value: Any, where: str) -> Any:
    """`value` converted to the type of TrialConfig field `name` (tuples for lists, floats for `1e-5`)."""
    hint = _HINTS[name]
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise InputError(f"{where}: {name} needs a value, got null")
    base = next(option for option in options if option is not type(None))
    if name == "mask_ratio":
        return _mask_ratio(value, where)
    origin = typing.get_origin(base)
    if origin is tuple:
        return _tuple(name, value, typing.get_args(base), where)
    if origin is dict:
        if isinstance(value, dict) and all(isinstance(v, str | int | float) for v in value.values()):
            return {str(key): str(item) for key, item in value.items()}
        raise InputError(f"{where}: {name} must be a mapping of names to strings, got {value!r}")
    return _scalar(name, value, base, where)


def _scalar(name: str, value: Any, kind: type, where: str) -> Any:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and number and float(value).is_integer():
        return int(value)
    if kind is float and number:
        return float(value)
    if kind is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if kind is str and (isinstance(value, str) or (number and isinstance(value, int))):
        return str(value)
    expected = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}[kind]
    raise InputError(f"{where}: {name} must be {expected}, got {value!r}")


def _tuple(name: str, value: Any, items: tuple[Any, ...], where: str) -> tuple[Any, ...]:
    values = value if isinstance(value, list | tuple) else [value]
    if items[-1] is not Ellipsis and len(values) != len(items):
        raise InputError(f"{where}: {name} needs {len(items)} values, got {value!r}")
    kinds = [items[0]] * len(values) if items[-1] is Ellipsis else list(items)
    return tuple(_scalar(name, item, kind, where) for item, kind in zip(values, kinds, strict=True))


def _mask_ratio(value: Any, where: str) -> tuple[float, float]:
    """0.5 (t fixed), "0.05:0.95" (t drawn per step) or [0.05, 0.95]."""
    if isinstance(value, str):
        return parse_mask_ratio(value)
    pair = value if isinstance(value, list | tuple) else [value, value]
    lo, hi = _tuple("mask_ratio", pair, (float, float), where)
    return (lo, hi)
