"""Seeded random puts over every served PV: a refusal changes nothing, the IOC stays healthy.

Each put goes to a random PV of a dedicated IOC serving the simulator, either over CA (libca with
a random DBR type and element count, as sent: no client-side conversion) or over PVA (a random
Python value or shape, converted by p4p as any PVA client would). Values come from the corners:
integer and float limits, NaN, infinities, huge numbers, fractions, text that is no number, text
with NUL, bytes that are not UTF-8, labels, wrong array lengths, structures.

After every put the PV is read over PVA. A put counts as refused when its client got an error
(a CA put-callback failure, a PVA RemoteError) or the record shows the refusal alarm
(WRITE/INVALID: a tree write that failed after the checks); then the record's value must be what
it was before the put, and so must the tree-side witnesses (``RoInt`` mirrors ``LocalInt``,
``Cmd.CallCount`` counts command calls). The IOC must stay alive, its heartbeat must answer on
CA and PVA without INVALID every 250 puts, it must pass its health check at the end, and CA and
PVA must then agree on every PV.

``FUZZ_PUTS`` (default 2000) and ``FUZZ_SEED`` (default 16) choose the run; ``make fuzz`` runs a
long one. The IOC's memory (RSS, kB) is printed at the start, after 500 and 1000 puts, every 5000
and at the end.
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from p4p.client.thread import RemoteError

from .reliability_support import (
    ECA_NORMAL,
    ca_chid,
    ca_put_status,
    rss_kb,
    run_health,
    start_dedicated,
)
from .support import wait_for

PUTS = int(os.environ.get("FUZZ_PUTS", "2000"))
SEED = int(os.environ.get("FUZZ_SEED", "16"))
#: Heartbeat check (what the health check asks, from this process) every this many puts.
HEALTH_EVERY = 250
#: Paths left alone: fault injection, a command that sleeps up to 10 s, the Root's config
#: processes (they write and load files).
SKIP = ("SimControl.", "Cmd.Sleep", "LoadConfigProcess.", "SaveConfigProcess.")
#: Names left alone everywhere: what switches a device off or reads/writes it wholesale. The Root's
#: own variables and commands (no dot in their path: PollEn, LoadConfig, HardReset ...) as well.
SKIP_NAMES = {"enable", "ReadDevice", "WriteDevice"}
#: Commands whose calls Cmd.CallCount counts (Cmd.Fail raises: never counted).
COMMANDS = {"Cmd.Ping", "Cmd.SetCount", "Cmd.Scale", "Cmd.SaveConfig", "Cmd.Arm", "Cmd.Fail"}
#: Display-text PVs: the tree parses the text put and the record then shows the tree's own
#: rendering of it ("1e3" becomes "1000.0"), through a listener, after the put.
RENDERED = {"Types.List", "Types.Dict"}
WRITE_ALARM = ("WRITE", "INVALID")

INTS = [0, 1, -1, 2, 7, 127, 128, 255, 256, -128, -129, 32767, 32768, -32769, 65535, 65536,
        2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**32, 2**48, 2**53 + 1, 2**63 - 1, 2**63,
        -(2**63), 2**64, 10**30]  # fmt: skip
FLOATS = [0.0, 0.5, -0.5, 2.5, 1e-300, 1e38, 1e39, -1e39, 1e300, math.nan, math.inf, -math.inf,
          2.0**31, 2.0**63, 3.4e38, 1e-45]  # fmt: skip
TEXTS = ["", "0", "7", "-1", " 5 ", "2.5", "1e3", "1e400", "1e-400", "nan", "inf", "-inf", "0x10",
         "abc", "9abc", "True", "False", "One", "Ten", "Label03", "Label20", "Input01", "Input20",
         "x" * 39, "é", "✓ ok", "a\0b", "\0", "tab\t", "9" * 20, "+7", "1_0"]  # fmt: skip
BYTES = [b"ok", b"", b"a\0b", b"\xff\xfe", b"caf\xe9", "é✓".encode(), b"\0\0", b"x" * 60]


@dataclass
class Target:
    """One served PV: its name, path, CA native type and element count."""

    name: str
    path: str
    ftype: int
    count: int


def read_targets(dump: str) -> list[Target]:
    import epics

    targets = []
    for line in Path(dump).read_text().splitlines():
        name, _, rest = line.partition(" -> ")
        path = rest.split()[0].removeprefix("root.")
        if path.startswith(SKIP) or "." not in path or path.rsplit(".", 1)[1] in SKIP_NAMES:
            continue
        chid = ca_chid(name)
        targets.append(Target(name, path, epics.ca.field_type(chid), epics.ca.element_count(chid)))
    return targets


def ca_values(rng: random.Random, ftype: int, count: int) -> list[Any]:
    """``count`` random elements of CA type ``ftype``, corner values first in line."""
    if ftype == 0:  # DBR_STRING
        pool = TEXTS + [str(v) for v in INTS + FLOATS]
        return [rng.choice(pool).encode()[:39] for _ in range(count)]
    if ftype == 4:  # DBR_CHAR: bytes of a text, or any bytes
        data = rng.choice(BYTES) + rng.choice([b"\0", b""])
        data = (data * (count // max(len(data), 1) + 1))[:count] if rng.random() < 0.2 else data
        return list(data[:count] or b"\0")
    if ftype in (2, 6):  # DBR_FLOAT, DBR_DOUBLE
        pool = FLOATS + [float(v) for v in INTS] + [rng.uniform(-1e6, 1e6)]
        values = [rng.choice(pool) for _ in range(count)]
        return [v if ftype == 6 or not math.isfinite(v) or abs(v) < 3.4e38 else 0.0 for v in values]
    bits, signed = {1: (16, True), 3: (16, False), 5: (32, True)}[ftype]
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    pool = [v for v in INTS if low <= v <= high] + [rng.randint(low, high)]
    return [rng.choice(pool) for _ in range(count)]


def pva_value(rng: random.Random, target: Target) -> Any:
    """A random Python value of any shape, sometimes of the PV's own shape."""
    scalar = [*INTS, *FLOATS, *TEXTS, True, False]
    kind = rng.random()
    if kind < 0.55:
        return rng.choice(scalar)
    length = rng.choice([0, 1, max(target.count - 2, 0), target.count - 1, target.count, 3])
    if kind < 0.9:
        pool = rng.choice([INTS, FLOATS, TEXTS, [rng.uniform(-10, 10) for _ in range(4)]])
        return [rng.choice(pool) for _ in range(max(length, 0))]
    return {"value": rng.choice(scalar)}


def settle(pva, target: Target, witnesses: tuple[str, str], tree: list) -> None:
    """Wait until an accepted put's effect on the witnesses shows (bounded)."""
    if target.path in COMMANDS:
        wait_for(
            lambda: pva.get(witnesses[1]) != tree[1] or pva.alarm(target.name) == WRITE_ALARM,
            what=f"{target.path}'s call to be counted",
        )
    elif target.path == "Types.LocalInt":
        wait_for(
            lambda: pva.get(witnesses[0]) == pva.get(target.name), what="RoInt to follow LocalInt"
        )
    elif target.path in RENDERED:
        reads = [pva.get(target.name)]

        def steady() -> bool:
            time.sleep(0.05)  # spacing of the reads that must agree
            reads.append(pva.get(target.name))
            return len(reads) >= 4 and reads[-1] == reads[-2] == reads[-3]

        wait_for(steady, what=f"{target.path} to show the tree's rendering")


def same(a: Any, b: Any) -> bool:
    """Equal values; NaN equals NaN, also inside arrays."""
    if isinstance(a, list | tuple | np.ndarray) and isinstance(b, list | tuple | np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    return a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)


def changing(pva, targets: list[Target]) -> set[str]:
    """Paths whose value changes by itself (counters, waveforms, time): over about one second."""
    first = {t.path: pva.get(t.name) for t in targets}
    time.sleep(1.2)  # the simulator's own updates: one second of them is what is looked for
    return {t.path for t in targets if not same(first[t.path], pva.get(t.name))}


@pytest.fixture(scope="module")
def fuzz_ioc(ioc_factory, tmp_path_factory):
    dump = tmp_path_factory.mktemp("fuzz") / "dump.txt"
    ioc, ports = start_dedicated(ioc_factory, "--dump", str(dump))
    return ioc, ports, str(dump)


def test_random_puts_change_nothing_when_refused(fuzz_ioc, pva_of):
    import epics

    ioc, ports, dump = fuzz_ioc
    pva = pva_of(ioc)
    targets = read_targets(dump)
    assert len(targets) > 50, [t.name for t in targets]
    live = changing(pva, targets)
    witnesses = ioc.pv("Types.RoInt"), ioc.pv("Cmd.CallCount")
    rng = random.Random(SEED)
    counts = {"ca": 0, "pva": 0, "refused": 0, "client": 0}
    rss = {"start": rss_kb(ioc.proc.pid)}
    problems: list[str] = []

    for number in range(1, PUTS + 1):
        if number in (501, 1001) or (number % 5000 == 1 and number > 1):
            rss[f"after {number - 1}"] = rss_kb(ioc.proc.pid)
        target = rng.choice(targets)
        before = pva.get(target.name)
        tree = [pva.get(w) for w in witnesses]
        refused, what = False, ""
        if rng.random() < 0.6:
            counts["ca"] += 1
            ftype = rng.choice([0, 1, 2, 3, 4, 5, 6])
            count = rng.choice(sorted({1, target.count, max(target.count - 1, 1)}))
            values = ca_values(rng, ftype, count)
            what = f"CA {target.name} type {ftype} = {values!r:.80}"
            status = ca_put_status(target.name, ftype, values)
            refused = status != ECA_NORMAL
        else:
            counts["pva"] += 1
            value = pva_value(rng, target)
            what = f"PVA {target.name} = {value!r:.80}"
            try:
                pva.context.put(target.name, value, timeout=10)
            except RemoteError:
                refused = True
            except (ValueError, TypeError, OverflowError, KeyError, IndexError, RuntimeError):
                counts["client"] += 1  # p4p could not convert it: nothing was sent
                continue
        ioc.check_alive()
        if not refused:
            refused = pva.alarm(target.name) == WRITE_ALARM
        if not refused:
            # The tree's side effects reach their PVs through listeners, after the put: wait for
            # them, so that the next put starts from a settled tree.
            try:
                settle(pva, target, witnesses, tree)
            except AssertionError as error:
                raise AssertionError(f"#{number} {what}: {error}") from None
        if refused:
            counts["refused"] += 1
            after = pva.get(target.name)
            if target.path not in live and not same(after, before):
                problems.append(f"#{number} {what}: refused but {before!r:.60} -> {after!r:.60}")
            if [pva.get(w) for w in witnesses] != tree and target.path not in ("Types.LocalInt",):
                problems.append(f"#{number} {what}: refused but the tree changed")
            if target.path == "Types.LocalInt" and pva.get(witnesses[0]) != tree[0]:
                problems.append(f"#{number} {what}: refused but RoInt changed")
        if number % HEALTH_EVERY == 0:
            assert pva.alarm(ioc.heartbeat)[1] != "INVALID", f"heartbeat INVALID after {number}"
            assert epics.caget(ioc.heartbeat, timeout=5) is not None, f"no CA after {number}"
        assert len(problems) < 20, "\n".join(problems)

    rss["end"] = rss_kb(ioc.proc.pid)
    print(f"fuzz seed {SEED}: {counts}; RSS kB {rss}")
    assert not problems, "\n".join(problems)
    result = run_health(ports, ioc.prefix)
    assert result.returncode == 0, result.stdout + result.stderr
    # CA and PVA still agree on every PV that does not change by itself.
    for target in targets:
        if target.path in live or target.count > 1 or target.ftype in (0, 4):
            continue
        ca_value = epics.caget(target.name, use_monitor=False, timeout=5)
        assert same(float(ca_value), float(np.asarray(pva.get(target.name)).item())), target.name
