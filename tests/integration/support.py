"""Helpers shared by the end-to-end tests: waiting on conditions and on monitor updates.

Nothing here sleeps for a fixed time: every wait polls a condition (or a queue of monitor
updates) until a monotonic deadline and fails with a message that says what did not happen.
"""

from __future__ import annotations

import math
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The tests/ directory: on PYTHONPATH, extra IOCs can load ``integration.roots``.
REPO_TESTS = str(Path(__file__).resolve().parents[1])

#: EPICS alarm severities (menuAlarmSevr) and statuses (menuAlarmStat), by their numeric value.
SEVERITIES = ("NO_ALARM", "MINOR", "MAJOR", "INVALID")
STATUSES = (
    "NO_ALARM", "READ", "WRITE", "HIHI", "HIGH", "LOLO", "LOW", "STATE", "COS", "COMM",
    "TIMEOUT", "HWLIMIT", "CALC", "SCAN", "LINK", "SOFT", "BAD_SUB", "UDF", "DISABLE", "SIMM",
    "READ_ACCESS", "WRITE_ACCESS",
)  # fmt: skip

#: Default timeouts (seconds) of gets, puts and waits for something the IOC must do "soon".
GET_TIMEOUT = 5.0
PUT_TIMEOUT = 10.0
SOON = 5.0
POLL_INTERVAL = 0.02


def wait_for(predicate: Callable[[], Any], timeout: float = SOON, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy and return that.

    Fails with ``what`` and the last value seen when ``timeout`` seconds (monotonic) pass first.
    An exception from ``predicate`` propagates at once (use it to give up early).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what}; last: {result!r}"
            )
        time.sleep(POLL_INTERVAL)


@dataclass(frozen=True)
class Update:
    """One monitor update, the same shape for CA and PVA.

    ``value`` is normalised: a str for string PVs, a list for arrays, an int index for enums.
    ``severity`` and ``status`` are the EPICS names ('MAJOR', 'HIHI', ...).
    """

    value: Any
    severity: str
    status: str


class Updates:
    """Monitor updates of one PV in arrival order; tests wait on them, never sleep."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.queue: queue.Queue[Update] = queue.Queue()
        self.seen: list[Update] = []

    def add(self, update: Update) -> None:
        """Called from the client library's callback thread."""
        self.queue.put(update)

    def next(self, timeout: float = SOON) -> Update:
        """The next update, waiting at most ``timeout`` seconds for it."""
        try:
            update = self.queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"no monitor update of {self.name} within {timeout:g} s; seen {self.seen[-5:]}"
            ) from None
        self.seen.append(update)
        return update

    def wait(
        self, predicate: Callable[[Update], bool], timeout: float = SOON, what: str = "update"
    ) -> Update:
        """Consume updates until one satisfies ``predicate``; return it."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                update = self.queue.get(timeout=max(remaining, 0))
            except queue.Empty:
                raise AssertionError(
                    f"{self.name}: no {what} within {timeout:g} s; last updates {self.seen[-5:]}"
                ) from None
            self.seen.append(update)
            if predicate(update):
                return update

    def wait_value(self, expected: Any, timeout: float = SOON) -> Update:
        """Consume updates until one carries ``expected`` (floats compared closely)."""
        return self.wait(lambda u: same(u.value, expected), timeout, f"value {expected!r}")

    def drain(self) -> list[Update]:
        """Everything that arrived and was not consumed yet."""
        drained = []
        while True:
            try:
                drained.append(self.queue.get_nowait())
            except queue.Empty:
                self.seen.extend(drained)
                return drained


def same(actual: Any, expected: Any, rel: float = 1e-6) -> bool:
    """Equality for values read back from EPICS: floats closely, NaN equal to NaN, lists by item."""
    if isinstance(expected, list | tuple):
        actual = list(actual) if not isinstance(actual, str) else actual
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(same(a, e, rel) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, float) and not isinstance(actual, str):
        try:
            actual = float(actual)
        except (TypeError, ValueError):
            return False
        if math.isnan(expected):
            return math.isnan(actual)
        return actual == expected or math.isclose(actual, expected, rel_tol=rel, abs_tol=1e-12)
    if isinstance(expected, int) and not isinstance(expected, bool):
        try:
            return actual == expected or float(actual) == expected
        except (TypeError, ValueError):
            return False
    return actual == expected
