"""Hardware faults, injected through the simulator's SimControl PVs.

ReadFault/WriteFault make every read/write of ``root.Faulty``'s registers raise; SlowLatency
slows every access to ``root.Slow``. The tests drive them over PVA, as a remote client would, and
always switch them off again.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from p4p.client.thread import RemoteError

from .conftest import READ_PERIOD
from .reliability_support import CA_PUT_FAILED, arrivals, ca_put_refused
from .support import PUT_TIMEOUT, wait_for

LATENCY = 4.0
#: A functional bound, not a benchmark: what "keeps flowing" means during a slow write (a get or
#: put held up by the slow device would take LATENCY; a loaded machine takes over 0.5 s at times).
PROMPT = 1.5
#: A once-a-second monitor held up by the slow device would miss at least LATENCY seconds of
#: updates; a gap shorter than this (room for a loaded CI machine) shows it kept flowing.
FLOWING_GAP = 1 + LATENCY / 2


@pytest.fixture
def sim_control(ioc, pva) -> Iterator[Any]:
    """``set(name, value)`` for SimControl PVs; every fault is switched off afterwards."""

    def set_control(name: str, value: Any) -> None:
        pva.put(ioc.pv(f"SimControl.{name}"), value)

    for name, value in (("ReadFault", 0), ("WriteFault", 0), ("SlowLatency", 0.0)):
        set_control(name, value)
    yield set_control
    for name, value in (("ReadFault", 0), ("WriteFault", 0), ("SlowLatency", 0.0)):
        set_control(name, value)


def read_period(ioc) -> float:
    """The IOC's --read-period: the read fault shows only through the IOC's own reads."""
    if ioc.local:
        return float(READ_PERIOD)
    given = os.environ.get("IOC_TEST_READ_PERIOD")
    if not given:
        pytest.skip("the remote IOC's --read-period is unknown: set IOC_TEST_READ_PERIOD")
    return float(given)


def test_read_fault_alarms_only_the_faulty_registers(ioc, ca, pva, sim_control):
    period = read_period(ioc)
    faulty = [ioc.pv("Faulty.Reg0"), ioc.pv("Faulty.Reg1")]
    healthy = ioc.pv("Version.ScratchPad")
    for pv in (*faulty, healthy):
        wait_for(lambda pv=pv: pva.alarm(pv) == ("NO_ALARM", "NO_ALARM"), what=f"{pv} healthy")
    watch = {"ca": ca.monitor(healthy), "pva": pva.monitor(healthy)}
    beats = ca.monitor(ioc.heartbeat)
    mark = ioc.log_mark()

    sim_control("ReadFault", 1)
    within = max(6 * period, 3.0)  # a few read periods (the read loop visits every PV)
    for pv in faulty:
        wait_for(lambda pv=pv: ca.alarm(pv) == ("READ", "INVALID"), within, f"CA: {pv} READ")
        assert pva.alarm(pv) == ("READ", "INVALID")
        ioc.assert_logged(mark, pv, "read failed", "simulated read fault")
    # Two more heartbeats (>= 2 s, several read periods) with the fault on: the healthy PV, in
    # the same memory, stays clean throughout.
    first = beats.next().value
    beats.wait(lambda u: u.value >= first + 2, timeout=5, what="two more heartbeats")
    assert ca.alarm(healthy) == ("NO_ALARM", "NO_ALARM")
    assert pva.alarm(healthy) == ("NO_ALARM", "NO_ALARM")
    for name, updates in watch.items():
        alarmed = [u for u in updates.drain() if u.severity != "NO_ALARM"]
        assert not alarmed, f"{name} monitor of {healthy} showed {alarmed}"
    for pv in faulty:
        assert pva.alarm(pv) == ("READ", "INVALID"), "the READ alarm must hold while reads fail"

    sim_control("ReadFault", 0)
    for pv in faulty:
        wait_for(lambda pv=pv: ca.alarm(pv) == ("NO_ALARM", "NO_ALARM"), within, f"{pv} clear")
        assert pva.alarm(pv) == ("NO_ALARM", "NO_ALARM")


def test_write_fault_fails_the_put_and_keeps_the_value(ioc, ca, pva, ca_errors, sim_control):
    pv = ioc.pv("Faulty.Reg0")
    pva.put(pv, 0x1111)
    sim_control("WriteFault", 1)
    mark = ioc.log_mark()

    with pytest.raises(RemoteError):
        pva.context.put(pv, 0x2222, timeout=5)  # no wait: the refusal reaches the client
    assert ca_put_refused(ca_errors, pv, 0x3333, None) == CA_PUT_FAILED
    assert pva.get(pv) == ca.get(pv) == 0x1111
    assert ca.alarm(pv) == ("WRITE", "INVALID")
    assert pva.alarm(pv) == ("WRITE", "INVALID")
    for value in (0x2222, 0x3333):
        ioc.assert_logged(mark, pv, f"put of {value}", "simulated write fault")

    sim_control("WriteFault", 0)
    for client, value in ((pva, 0x4444), (ca, 0x5555)):
        client.put(pv, value)
        assert pva.get(pv) == ca.get(pv) == value
        wait_for(lambda: ca.alarm(pv) == ("NO_ALARM", "NO_ALARM"), what=f"{pv} alarm cleared")
        assert pva.alarm(pv) == ("NO_ALARM", "NO_ALARM")


@pytest.mark.parametrize("protocol", ["pva", "ca"])
def test_slow_write_does_not_hold_up_other_pvs(ioc, ca, pva, sim_control, protocol):
    """A put to Slow.Reg takes >= 1 s; meanwhile other PVs answer and monitors keep flowing."""
    slow, scratch = ioc.pv("Slow.Reg"), ioc.pv("Version.ScratchPad")
    value = int(time.time() * 1000) & 0xFFFF
    done = threading.Event()
    took: list[float] = []
    errors: list[BaseException] = []

    def slow_put() -> None:
        started = time.monotonic()
        try:
            (pva if protocol == "pva" else ca).put(slow, value)
            took.append(time.monotonic() - started)
        except BaseException as error:  # re-raised in the test thread below
            errors.append(error)
        finally:
            done.set()

    with arrivals(ioc.context(), ioc.pv("Version.UpTimeCnt")) as uptime:
        for timed in uptime.values():
            timed.wait_after(time.monotonic(), timeout=3)
        sim_control("SlowLatency", LATENCY)
        writer = threading.Thread(target=slow_put, name="slow-put")
        start = time.monotonic()
        writer.start()
        durations: list[tuple[str, float]] = []
        for count in range(1000):  # bounded by count and by time
            if done.is_set() or time.monotonic() - start > 3 * LATENCY + 5:
                break
            for what, operation in (
                ("CA put", lambda c=count: ca.put(scratch, c)),
                ("PVA get", lambda: pva.get(scratch)),
                ("PVA put", lambda c=count: pva.put(scratch, c + 1)),
                ("CA get", lambda: ca.get(scratch)),
            ):
                t0 = time.monotonic()
                operation()
                durations.append((what, time.monotonic() - t0))
        writer.join(PUT_TIMEOUT + 5)
        end = time.monotonic()
        sim_control("SlowLatency", 0.0)
        for timed in uptime.values():
            timed.wait_after(end, timeout=3)
    assert not errors, errors
    assert took and took[0] >= LATENCY, f"the put to Slow.Reg took {took} s"
    assert pva.get(slow) == ca.get(slow) == value
    assert len(durations) >= 8, f"only {len(durations)} operations during the slow put"
    what, worst = max(durations, key=lambda d: d[1])
    assert worst < PROMPT, f"a {what} of ScratchPad took {worst:.3f} s during the slow put"
    # UpTimeCnt is polled once a second: around the slow put its updates keep that pace.
    for name, timed in uptime.items():
        gaps = timed.gaps(start, end)
        assert gaps and max(gaps) < FLOWING_GAP, f"{name} UpTimeCnt gaps {gaps} during the slow put"
