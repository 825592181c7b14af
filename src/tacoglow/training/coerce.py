"""Settings from plain data (YAML, JSON, ``--set``, a checkpoint's dict) into typed dataclasses.

One generic converter driven by each field's type hint, so a config dataclass states its rules
once, in its annotations:

- ``bool``, ``int``, ``float``, ``str``; ``list[T]``; ``T | None``; nested dataclasses;
- ``Literal["a", "b"]`` for a choice;
- ``Annotated[int | float, Range(...)]`` for bounds.

Values are converted only where nothing is lost (an integral float to ``int``, a number to
``float``, YAML 1.1's string ``"1e-3"`` to ``float``); anything else is a
:class:`~tacoglow.errors.ConfigError` naming the setting by its dotted path, what was expected
and what was found. Unknown keys are refused, never ignored.

>>> from dataclasses import dataclass
>>> from typing import Annotated, Literal
>>> @dataclass
... class Example:
...     size: Annotated[int, Range(1)] = 1
...     mode: Literal["fast", "slow"] = "fast"
>>> build(Example, {"size": 3.0, "mode": "slow"})
Example(size=3, mode='slow')
>>> build(Example, {"size": 0})
Traceback (most recent call last):
...
tacoglow.errors.ConfigError: size: expected an integer >= 1, found 0
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from tacoglow.errors import ConfigError

__all__ = ["Range", "build"]


@dataclass(frozen=True)
class Range:
    """Bounds of a number: ``low <= value`` (``low < value`` when ``low_open``), ``value <= high``.

    Non-finite floats are always refused. Use as ``Annotated[float, Range(0.0, low_open=True)]``.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def holds(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high

    def describe(self, integer: bool) -> str:
        """What the bounds ask for, in words: "an integer >= 1", "a positive number", "a value in (0, 1]"."""
        if self.high is not None:
            left = "(" if self.low_open else "["
            return f"a value in {left}{self.low:g}, {self.high:g}]"
        if self.low == 0 and self.low_open:
            return "a positive integer" if integer else "a positive number"
        sign = ">" if self.low_open else ">="
        return f"{'an integer' if integer else 'a number'} {sign} {self.low:g}"


def build(cls: type, values: Mapping[str, Any], prefix: str = "") -> Any:
    """An instance of dataclass ``cls`` from ``values`` (missing fields take their defaults).

    Raises:
        ConfigError: an unknown key, or a value that does not fit its field's type hint.
    """
    unknown = sorted(str(key) for key in values if key not in {f.name for f in dataclasses.fields(cls)})
    if unknown:
        known = ", ".join(sorted(f.name for f in dataclasses.fields(cls)))
        where = f" in {prefix[:-1]}" if prefix else ""
        raise ConfigError(f"unknown setting(s) {', '.join(prefix + key for key in unknown)} (known{where}: {known})")
    hints = typing.get_type_hints(cls, include_extras=True)
    kwargs = {
        f.name: convert(values[f.name], hints[f.name], prefix + f.name)
        for f in dataclasses.fields(cls)
        if f.name in values
    }
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{prefix[:-1] or 'config'}: {exc}") from None


def convert(value: Any, hint: Any, name: str) -> Any:
    """``value`` as type ``hint`` requires; ``name`` is the setting's dotted path for messages."""
    origin = typing.get_origin(hint)
    if origin is Annotated:
        inner, *extras = typing.get_args(hint)
        value = convert(value, inner, name)
        for rule in extras:
            if isinstance(rule, Range) and value is not None and not rule.holds(value):
                raise ConfigError(f"{name}: expected {rule.describe(inner is int)}, found {value!r}")
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        inner = [option for option in options if option is not type(None)]
        assert len(inner) == 1, f"config field {name}: only X | None unions are supported"
        try:
            return convert(value, inner[0], name)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(", found ", " or null, found ", 1)) from None
    if origin is Literal:
        choices = typing.get_args(hint)
        if value in choices and isinstance(value, str):
            return value
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, found {value!r}")
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):  # a dataclass type, not an instance
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name}: expected a section of settings, found {value!r}")
        return build(hint, value, name + ".")  # type: ignore[arg-type]
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}: expected a list, found {value!r}")
        (item_hint,) = typing.get_args(hint)
        return [convert(item, item_hint, f"{name}[{i}]") for i, item in enumerate(value)]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name}: expected true or false, found {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{name}: expected an integer, found {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads "1e-3" (no dot) as a string.
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{name}: expected a number, found {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{name}: expected a string, found {value!r}")
    raise AssertionError(f"config field {name} has an unsupported type {hint!r}")
