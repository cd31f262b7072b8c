"""Checks that hold for any Root the IOC serves, whatever its tree.

The PV list comes from the IOC itself: its ``--dump`` file written with ``--dump-access``
(``PVNAME -> path``, ``  (CA: SHORT)`` for a long name, ``  [access]``). Every PV must answer a
get on CA and on PVA, every RW Variable must take a new value from a CA put and its old one back
from a PVA put (both protocols reading each back), and every Command without an argument must run
when invoked from either protocol.

Target:
- ``IOC_TEST_PREFIX`` set (remote mode, e.g. ``make dropin-rogue-test`` with Rogue's own
  ExampleRoot): that IOC, whose dump file ``IOC_TEST_DUMP`` names (a volume shared with the IOC's
  container). Without ``IOC_TEST_DUMP`` the module skips.
- otherwise: an IOC started here serving the simulator.

``IOC_TEST_NO_WRITE`` is a regular expression of tree paths the checks must never write or
invoke (a hardware reset, a command that stops a run). Commands that take an argument are not
invoked: no generic argument is safe for all of them.

The new value of an RW Variable is derived from what the IOC publishes: the next enum state, a
number one step inside the published range, a reversed array; text is written back unchanged
(an enum label or a parsed display may accept nothing else).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import epics
import numpy as np
import pytest

from .conftest import REMOTE_PREFIX, CaClient, Ioc, IocFactory, PvaClient, wait_ready
from .support import GET_TIMEOUT, wait_for

DUMP_LINE = re.compile(
    r"(?P<pv>\S+) -> (?P<path>\S+)(?:  \(CA: (?P<record>\S+)\))?  \[(?P<access>[^\]]+)\]"
)
NO_WRITE = re.compile(os.environ.get("IOC_TEST_NO_WRITE") or r"(?!)")
SIM_NO_WRITE = re.compile(r"root\.(Cmd\.Fail|SimControl\..*|SaveConfigProcess\.Start)")
"""Simulator paths that fail or inject faults on purpose (their own tests cover them), and the
Root's SaveConfigProcess, whose Start writes a timestamped file into the IOC's directory."""
CHUNK = 200
"""PVs per bulk get: bounded, so one slow answer does not hold up thousands."""


@dataclass(frozen=True)
class Entry:
    """One served PV as the dump lists it."""

    pv: str
    path: str
    access: str


@dataclass
class Target:
    """The IOC under test and its PVs."""

    ioc: Ioc
    entries: list[Entry]
    no_write: re.Pattern

    def of(self, access: str) -> list[Entry]:
        """The entries with ``access`` whose paths may be written."""
        return [e for e in self.entries if e.access == access and not self.no_write.match(e.path)]


def read_dump(path: Path) -> list[Entry]:
    """The entries of a ``--dump`` file; a line in another format fails the test."""
    entries = []
    for line in path.read_text().splitlines():
        match = DUMP_LINE.fullmatch(line)
        assert match, f"dump line not 'PVNAME -> path[  (CA: SHORT)]  [access]': {line!r}"
        entries.append(Entry(match["pv"], match["path"], match["access"]))
    assert entries, f"the dump {path} lists no PV"
    return entries


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, ioc_factory: IocFactory) -> Iterator[Target]:
    if REMOTE_PREFIX:
        dump = os.environ.get("IOC_TEST_DUMP")
        if not dump:
            pytest.skip("the remote IOC's PV list is not reachable (set IOC_TEST_DUMP)")
        remote = Ioc(REMOTE_PREFIX, None)
        wait_ready(remote, remote.heartbeat)
        wait_for(Path(dump).exists, what=f"the IOC's dump {dump}")
        yield Target(remote, read_dump(Path(dump)), NO_WRITE)
        remote.stop()
        return
    dump_path = tmp_path_factory.mktemp("any-root") / "dump.txt"
    local = ioc_factory.start("--dump", str(dump_path), "--dump-access")
    yield Target(local, read_dump(dump_path), SIM_NO_WRITE)


@pytest.fixture
def pva(target: Target) -> Iterator[PvaClient]:
    client = PvaClient(target.ioc.context())
    yield client
    client.close()


def test_every_pv_answers_on_ca_and_pva(target: Target, pva: PvaClient) -> None:
    names = [entry.pv for entry in target.entries]
    silent_ca, silent_pva = [], []
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        values = epics.caget_many(
            chunk, as_string=True, timeout=GET_TIMEOUT, connection_timeout=GET_TIMEOUT * 4
        )
        silent_ca += [name for name, got in zip(chunk, values, strict=True) if got is None]
        answers = pva.context.get(chunk, timeout=GET_TIMEOUT * 4, throw=False)
        failed = [isinstance(got, Exception) for got in answers]
        silent_pva += [name for name, bad in zip(chunk, failed, strict=True) if bad]
    assert not silent_ca, f"{len(silent_ca)} of {len(names)} PVs silent on CA: {silent_ca[:10]}"
    assert not silent_pva, f"{len(silent_pva)} of {len(names)} silent on PVA: {silent_pva[:10]}"
    print(f"{len(names)} PVs answered on CA and PVA")


def test_rw_variables_round_trip(target: Target, ca: CaClient, pva: PvaClient) -> None:
    entries = target.of("RW")
    if not entries:
        pytest.skip("the Root has no RW Variable outside IOC_TEST_NO_WRITE")
    changed = 0
    for entry in entries:
        raw = pva.raw(entry.pv)
        before = _plain(raw)
        after = _other_value(raw)
        changed += not _same(after, before)
        try:
            ca.put(entry.pv, after)
            _assert_reads(entry.pv, after, ca, pva)
            pva.put(entry.pv, before)
            _assert_reads(entry.pv, before, ca, pva)
        except Exception as error:
            trip = f"{before!r} -> {after!r} -> {before!r}"
            raise AssertionError(f"{entry.path}: {trip}: {error}") from error
    print(f"{len(entries)} RW PVs round-tripped, {changed} through a different value")


def test_commands_without_argument_run(target: Target, ca: CaClient, pva: PvaClient) -> None:
    entries = target.of("command")
    if not entries:
        pytest.skip("the Root has no argument-less Command outside IOC_TEST_NO_WRITE")
    for entry in entries:
        ca.put(entry.pv, 1)
        assert ca.alarm(entry.pv) != ("WRITE", "INVALID"), f"{entry.path} failed (CA)"
        pva.put(entry.pv, 1)
        assert pva.alarm(entry.pv) != ("WRITE", "INVALID"), f"{entry.path} failed (PVA)"
    print(f"{len(entries)} Commands ran from CA and from PVA")


def test_heartbeat_still_answers(target: Target, ca: CaClient, pva: PvaClient) -> None:
    """After every write and command the IOC is still healthy: its heartbeat is not in alarm."""
    heartbeat = target.ioc.heartbeat
    assert ca.alarm(heartbeat) == ("NO_ALARM", "NO_ALARM")
    assert pva.alarm(heartbeat) == ("NO_ALARM", "NO_ALARM")


# --- values ---------------------------------------------------------------------------------------


def _plain(raw: Any) -> Any:
    """The value of a PVA structure as put takes it: enum index, list, str or number."""
    if raw.getID().startswith("epics:nt/NTEnum"):
        return raw["value.index"]
    value = raw["value"]
    return value.tolist() if hasattr(value, "tolist") else value


def _other_value(raw: Any) -> Any:
    """A valid value different from the current one where one can be derived (see module doc)."""
    if raw.getID().startswith("epics:nt/NTEnum"):
        choices = raw["value.choices"]
        return (raw["value.index"] + 1) % len(choices) if choices else raw["value.index"]
    value = raw["value"]
    if isinstance(value, np.ndarray):
        return value[::-1].tolist()
    if isinstance(value, bool | str):
        return value
    low, high = raw["display.limitLow"], raw["display.limitHigh"]
    bounded = low < high
    for step in (1, -1):
        candidate = value + step if math.isfinite(value) else step
        if not bounded or low <= candidate <= high:
            return candidate
    return value


def _same(got: Any, want: Any) -> bool:
    """Equal, floats to single precision (a Float32 Variable keeps 24 bits)."""
    if isinstance(want, float) and isinstance(got, float):
        return got == pytest.approx(want, rel=1e-6, nan_ok=True)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(_same, got, want))
    return got == want


def _assert_reads(name: str, want: Any, ca: CaClient, pva: PvaClient) -> None:
    """Both protocols read ``want`` back from ``name`` and the put left no WRITE alarm."""
    assert ca.alarm(name) != ("WRITE", "INVALID"), f"put {name} = {want!r} was refused"
    seen_pva = pva.get(name)
    assert _same(seen_pva, want), f"PVA reads {seen_pva!r} from {name}, put {want!r}"
    if isinstance(want, str):
        seen_ca = ca.text(name)
    else:
        seen_ca = ca.get(name)
        seen_ca = seen_ca.tolist() if hasattr(seen_ca, "tolist") else seen_ca
        if isinstance(want, list) and not isinstance(seen_ca, list):
            seen_ca = [seen_ca]
    assert _same(seen_ca, want), f"CA reads {seen_ca!r} from {name}, put {want!r}"
