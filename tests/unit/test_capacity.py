"""Unit tests for ioc.capacity: sizes, per-path overrides and the built-in defaults."""

import pytest

from ioc import capacity
from ioc.capacity import Capacities, parse_items, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4096", 4096), ("64k", 65536), ("64K", 65536), ("4M", 4 * 1024**2), ("2 MiB", 2 * 1024**2)],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "-5", "1.5k", "1", "0", "4G"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_parse_items() -> None:
    assert parse_items(["root.A=1k", " root.*.Data = 2M "]) == {
        "root.A": 1024,
        "root.*.Data": 2 * 1024**2,
    }
    for bad in ("root.A", "=5", "root.A=x"):
        with pytest.raises(ValueError):
            parse_items([bad])


def test_defaults() -> None:
    policy = Capacities()
    assert policy.text("root.Dev.Name") == capacity.TEXT
    assert policy.text("root.SystemLog") == capacity.SYSTEM_LOG
    assert policy.text("ExampleRoot.SystemLogLast") == capacity.SYSTEM_LOG_LAST
    assert policy.text("root.Dev.SystemLog") == capacity.TEXT  # only the Root's own
    assert policy.growing_array("root.Rx.Data") == capacity.GROWING_ARRAY


def test_exact_path_wins_then_first_pattern() -> None:
    policy = Capacities({"root.*": 10, "root.Rx.*": 20, "root.Rx.Data": 30})
    assert policy.growing_array("root.Rx.Data") == 30
    assert policy.growing_array("root.Rx.Other") == 10
    assert policy.text("root.SystemLog") == 10
    assert policy.text("other.Thing") == capacity.TEXT
