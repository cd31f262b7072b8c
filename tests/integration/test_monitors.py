"""Tree → EPICS: tree-side changes post monitors on CA and PVA, RO and RW alike."""

from __future__ import annotations

import itertools
import secrets

import pytest

from .support import wait_for


def monitors(ca, pva, pv: str, text: bool = False):
    """A CA and a PVA subscription to ``pv``."""
    return {"ca": ca.monitor(pv, text=text), "pva": pva.monitor(pv)}


def test_heartbeat_counts_every_second(ioc, ca, pva):
    assert ca.get(f"{ioc.heartbeat}.RTYP") == "longin"
    for updates in monitors(ca, pva, ioc.heartbeat).values():
        first = updates.next()
        second = updates.wait(lambda u, f=first: u.value > f.value, timeout=3)
        third = updates.wait(lambda u, s=second: u.value > s.value, timeout=3)
        assert first.value < second.value < third.value
        assert third.severity == "NO_ALARM", third


def test_tree_side_copy_updates_read_only_pv(ioc, ca, pva):
    """A put to LocalInt makes the tree set RoInt (an In record) too."""
    subscriptions = monitors(ca, pva, ioc.pv("Types.RoInt"))
    value = secrets.randbelow(10**6) + 1000
    ca.put(ioc.pv("Types.LocalInt"), value)
    for updates in subscriptions.values():
        updates.wait_value(value)


def test_tree_side_change_updates_read_write_pv(ioc, ca, pva):
    """SetCount sets Count in the tree; Count's Out record must post that."""
    subscriptions = monitors(ca, pva, ioc.pv("Cmd.Count"))
    value = secrets.randbelow(10**6) + 1000
    pva.put(ioc.pv("Cmd.SetCount"), value)
    for updates in subscriptions.values():
        updates.wait_value(value)


def test_tree_side_string_change(ioc, ca, pva):
    subscriptions = monitors(ca, pva, ioc.pv("Cmd.LastArg"), text=True)
    value = f"file-{secrets.token_hex(3)}.yml"
    ca.put(ioc.pv("Cmd.SaveConfig"), value)
    for updates in subscriptions.values():
        updates.wait_value(f"SaveConfig({value!r})")


@pytest.mark.parametrize("path", ["Version.UpTimeCnt", "Time"])
def test_polled_counter_increases(ioc, ca, pva, path):
    for updates in monitors(ca, pva, ioc.pv(path)).values():
        first = updates.next(timeout=3)
        later = updates.wait(lambda u, f=first: u.value > f.value, timeout=4)
        assert later.value > first.value


@pytest.mark.parametrize("path", ["Thermal.Temperature", "Adc.Waveform"])
def test_simulated_signals_move(ioc, ca, pva, path):
    for updates in monitors(ca, pva, ioc.pv(path)).values():
        first = updates.next(timeout=3)
        updates.wait(lambda u, f=first: u.value != f.value, timeout=4, what="a different value")


@pytest.mark.parametrize("path", ["Types.RoInt", "Types.LocalInt"], ids=["RO", "RW"])
def test_burst_arrives_in_order_with_the_last_value(ioc, ca, pva, path):
    """Intermediate values may be coalesced, but never reordered, and the last one arrives.

    200 puts to LocalInt, each completed before the next; the tree copies each to RoInt.
    """
    subscriptions = monitors(ca, pva, ioc.pv(path))
    base = secrets.randbelow(10**6) * 1000 + 10**7
    values = [base + i for i in range(1, 201)]
    for value in values:
        ca.put(ioc.pv("Types.LocalInt"), value)
    for name, updates in subscriptions.items():
        updates.wait_value(values[-1], timeout=10)
        burst = [u.value for u in updates.seen if u.value in values]
        backwards = [(a, b) for a, b in itertools.pairwise(burst) if b < a]
        assert not backwards, f"{name}: values went backwards {backwards[:5]} in {len(burst)}"


def test_plain_puts_burst_reaches_the_tree(ioc, ca, pva):
    """Puts without completion, back to back: the last one wins in the tree and on the PVs."""
    base = secrets.randbelow(10**6) * 1000 + 10**7
    for value in range(base, base + 50):
        ca.put_nowait(ioc.pv("Types.LocalInt"), value)
    last = base + 49
    wait_for(lambda: pva.get(ioc.pv("Types.RoInt")) == last, what=f"RoInt == {last}")
    assert pva.get(ioc.pv("Types.LocalInt")) == last
    assert ca.get(ioc.pv("Types.LocalInt")) == last


def test_heartbeat_goes_invalid_while_the_tree_is_silent(ioc_factory, ca, pva_of):
    """A wedged update thread → heartbeat INVALID after a few seconds, NO_ALARM once it recovers."""
    extra = ioc_factory.start()
    pva = pva_of(extra)
    updates = ca.monitor(extra.heartbeat)
    updates.wait(lambda u: u.severity == "NO_ALARM", what="a healthy heartbeat")
    pva.put(extra.pv("SimControl.Wedge"), 8.0)
    invalid = updates.wait(lambda u: u.severity == "INVALID", timeout=8, what="INVALID")
    assert pva.alarm(extra.heartbeat)[1] == "INVALID"
    updates.wait(lambda u: u.severity == "NO_ALARM", timeout=10, what="recovery")
    assert invalid.value > 0
