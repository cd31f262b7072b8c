"""Fixtures of the unit tests: EPICS servers or clients in child processes, and the tree API
(`tree`, `memory`, `listen`, `wait_for`) the simulator tests are written against."""

import os
import select
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

import sim.tree
from sim.memory import MemoryEmulator
from sim.ports import free_ports

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def epics_env() -> dict[str, str]:
    """Environment for a child process: the repository on PYTHONPATH, no IOC_* settings, and
    private CA and PVA ports with no address lists (`rogue-ioc health` searches this host)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EPICS_", "IOC_"))}
    ca, repeater, pva, broadcast = (str(port) for port in free_ports(4))
    return env | {
        "EPICS_CA_SERVER_PORT": ca,
        "EPICS_CA_REPEATER_PORT": repeater,
        "EPICS_PVA_SERVER_PORT": pva,
        "EPICS_PVA_BROADCAST_PORT": broadcast,
        "PYTHONPATH": str(REPO),
    }


def read_until(stream: IO[str], text: str, timeout: float) -> str:
    """Read the pipe `stream` until `text` appears; return everything read.

    Reads the file descriptor directly: a buffered `readline` can hold the awaited line while
    `select` waits on an empty descriptor. Raises AssertionError on timeout or end of stream.
    """
    fd = stream.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        if not select.select([fd], [], [], remaining)[0]:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        seen += chunk
        if text.encode() in seen:
            return seen.decode(errors="replace")
    raise AssertionError(f"{text!r} not seen within {timeout} s:\n{seen.decode(errors='replace')}")


@pytest.fixture(name="read_until")
def read_until_fixture() -> Callable[[IO[str], str, float], str]:
    """`read_until` for tests of child processes."""
    return read_until


# --- the tree API under test ---------------------------------------------------------------------


@pytest.fixture
def tree():
    """The module providing the pyrogue API subset (ioc/tree.py): sim.tree here; pointing this
    fixture at pyrogue runs the same tree tests against the real thing."""
    return sim.tree


@pytest.fixture
def memory() -> MemoryEmulator:
    """A 4 KiB register space to use as a Device's memBase."""
    return MemoryEmulator(0x1000)


class Updates:
    """A listener recording every call as (path, VariableValue, thread id); tests wait on it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.calls: list[tuple[str, object, int]] = []

    def __call__(self, path: str, value: object) -> None:
        with self._cond:
            self.calls.append((path, value, threading.get_ident()))
            self._cond.notify_all()

    def values(self) -> list[object]:
        """The delivered values, in order."""
        with self._cond:
            return [vv.value for _, vv, _ in self.calls]

    def wait(self, predicate: Callable[[list], bool], timeout: float = 5.0) -> None:
        """Wait until `predicate(values)` holds; fail after `timeout` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.values()), timeout):
                raise AssertionError(f"listener saw only {self.values()!r}")

    def quiet(self, seconds: float) -> bool:
        """True when no call arrives within `seconds` from now."""
        with self._cond:
            seen = len(self.calls)
            return not self._cond.wait_for(lambda: len(self.calls) > seen, seconds)


@pytest.fixture
def listen() -> Callable[[object], Updates]:
    """`listen(var)` adds a recording listener to `var` and returns it."""

    def add(var: object) -> Updates:
        updates = Updates()
        var.addListener(updates)
        return updates

    return add


@pytest.fixture
def wait_for() -> Callable[..., None]:
    """`wait_for(predicate, timeout=5)`: poll a condition until it holds or the deadline passes."""

    def wait(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            time.sleep(0.01)

    return wait
