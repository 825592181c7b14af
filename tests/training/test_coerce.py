"""The generic settings converter: each field's type hint is its rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

import pytest

from tacoglow.errors import ConfigError
from tacoglow.training.coerce import Range, build


@dataclass
class Inner:
    rate: Annotated[float, Range(0.0, 1.0, low_open=True)] = 0.5


@dataclass
class Outer:
    count: Annotated[int, Range(0)] = 0
    limit: Annotated[float, Range(0.0, low_open=True)] | None = None
    mode: Literal["a", "b"] = "a"
    steps: list[Annotated[int, Range(1)]] = field(default_factory=list)
    inner: Inner = field(default_factory=Inner)
    name: str = ""
    flag: bool = False


def test_values_convert_only_where_nothing_is_lost() -> None:
    got = build(Outer, {"count": 2.0, "limit": "1e-3", "steps": (1, 2), "inner": {"rate": 1}, "flag": True})
    assert got == Outer(count=2, limit=1e-3, steps=[1, 2], inner=Inner(rate=1.0), flag=True)
    assert isinstance(got.count, int) and isinstance(got.inner.rate, float)
    assert build(Outer, {}) == Outer()  # missing fields take their defaults
    assert build(Outer, {"inner": Inner(0.25)}).inner == Inner(0.25)  # an instance passes as is


@pytest.mark.parametrize(
    "values, message",
    [
        ({"count": 2.5}, "count: expected an integer, found 2.5"),
        ({"count": True}, "count: expected an integer, found True"),
        ({"count": -1}, "count: expected an integer >= 0, found -1"),
        ({"limit": 0}, "limit: expected a positive number or null, found 0.0"),
        ({"limit": float("inf")}, "limit: expected a positive number or null, found inf"),
        ({"mode": "c"}, "mode: expected one of a, b, found 'c'"),
        ({"steps": [1, 0]}, r"steps\[1\]: expected an integer >= 1, found 0"),
        ({"steps": 3}, "steps: expected a list, found 3"),
        ({"inner": {"rate": 0}}, r"inner.rate: expected a value in \(0, 1\], found 0.0"),
        ({"inner": {"rte": 0.1}}, r"unknown setting\(s\) inner.rte \(known in inner: rate\)"),
        ({"inner": 3}, "inner: expected a section of settings, found 3"),
        ({"name": 3}, "name: expected a string, found 3"),
        ({"flag": "yes"}, "flag: expected true or false, found 'yes'"),
        ({"cuont": 1}, r"unknown setting\(s\) cuont \(known: count, flag, inner, limit, mode, name, steps\)"),
    ],
)
def test_bad_values_are_named_by_their_dotted_path(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(Outer, values)
