"""The value shapes of real pyrogue Roots, on CA and PVA: read, monitor, put, bad put.

Wide identity registers (UInt64/128/160 with the top bit set) served as exact display text, the
Root's SystemLog growing well past the CA default array size, a stream receiver's frame whose
length changes, RW int64/uint64 and 2-D arrays, read-only PVs that clients see as read-only, the
capacity policy, and a start-up that leaves the tree's log alone.
"""

from __future__ import annotations

import json

import epics
import pytest
from p4p.client.thread import RemoteError

from .support import same, wait_for

PROTOCOLS = ("ca", "pva")
IDENTITY = {
    "Identity.FdSerial": 0xF0E1D2C3B4A59687,
    "Identity.DeviceDna": 0x8123456789ABCDEF0FEDCBA987654321,
    "Identity.GitHash": 0xC0FFEE00DEADBEEF0123456789ABCDEF87654321,
}
#: A SystemLog entry carries this much message text; enough of them pass the CA default 16 kB.
LOG_MESSAGE = "m" * 400
LOG_ENTRIES = 50


def read(ca, pva, pv: str, protocol: str):
    """The value of ``pv`` through ``protocol``: text for text PVs, a list for arrays."""
    if protocol == "pva":
        return pva.get(pv)
    value = ca.get(pv)
    return value.tolist() if hasattr(value, "tolist") else value


def put(ca, pva, protocol: str, pv: str, value) -> None:
    (ca if protocol == "ca" else pva).put(pv, value)


def refuse(ca, pva, protocol: str, pv: str, value) -> None:
    """A put that must fail: refused by the IOC, or by p4p itself for a value the PV's type
    cannot carry (a negative uint64, a fraction for an int64 array)."""
    if protocol == "ca":
        ca.put_refused(pv, value)
        return
    with pytest.raises((RemoteError, OverflowError, ValueError, TypeError)):
        pva.context.put(pv, value, timeout=5)


# --- wide identity registers ---------------------------------------------------------------------


@pytest.mark.parametrize("path", IDENTITY)
def test_identity_register_is_exact_text(ioc, ca, pva, path):
    pv = ioc.pv(path)
    expected = hex(IDENTITY[path])
    assert ca.text(pv) == expected
    assert pva.get(pv) == expected
    assert ca.alarm(pv) == ("NO_ALARM", "NO_ALARM")
    assert pva.alarm(pv) == ("NO_ALARM", "NO_ALARM")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_wide_register_put_monitor_and_bad_put(ioc, ca, pva, protocol):
    pv = ioc.pv("Identity.UserId")
    monitors = [ca.monitor(pv, text=True), pva.monitor(pv)]
    for value in (2**128 - 1, 2**127 + 12345):
        put(ca, pva, protocol, pv, hex(value))
        for updates in monitors:
            updates.wait_value(hex(value))
        assert ca.text(pv) == pva.get(pv) == hex(value)
    put(ca, pva, protocol, pv, str(2**100))  # decimal is an integer too; shown as pyrogue shows it
    wait_for(lambda: pva.get(pv) == hex(2**100), what="the decimal put shown as hex")
    mark = ioc.log_mark()
    for bad in (hex(2**128), "-1", "0xnot"):
        refuse(ca, pva, protocol, pv, bad)
        assert pva.get(pv) == hex(2**100)
    ioc.assert_logged(mark, pv, "rejected")
    wait_for(lambda: ca.alarm(pv) == ("WRITE", "INVALID"), what="WRITE alarm")
    put(ca, pva, protocol, pv, hex(2**127))
    wait_for(lambda: ca.alarm(pv) == ("NO_ALARM", "NO_ALARM"), what="alarm cleared")


# --- read-only PVs -------------------------------------------------------------------------------


#: Read-only PVs of each record family and a value of the right type for a put attempt.
READ_ONLY = {
    "Identity.FdSerial": "0x1",
    "SystemLog": "[]",
    "Stream.FrameCount": 1,
    "Thermal.Temperature": 1.5,
    "Adc.Waveform": [0.0] * 8,
}


@pytest.mark.parametrize("path", READ_ONLY)
def test_read_only_pv_has_no_ca_write_access(ioc, ca, path):
    pv = epics.PV(ioc.pv(path), auto_monitor=False)
    try:
        assert pv.wait_for_connection(timeout=5), f"{pv.pvname} did not connect"
        assert pv.read_access
        assert not pv.write_access
        for wait in (False, True):  # a plain put and a put-callback
            with pytest.raises(epics.ca.CASeverityException, match="Write access denied"):
                epics.caput(pv.pvname, READ_ONLY[path], wait=wait, timeout=5)
    finally:
        pv.disconnect()


@pytest.mark.parametrize("path", READ_ONLY)
def test_read_only_pv_refuses_pva_puts(ioc, pva, path):
    pv = ioc.pv(path)
    for wait in (True, False):
        with pytest.raises(RemoteError, match=r"[Dd]isabled|not permitted|denied"):
            pva.context.put(pv, READ_ONLY[path], wait=wait, timeout=5)


def test_writable_pv_keeps_ca_write_access(ioc):
    pv = epics.PV(ioc.pv("Identity.UserId"), auto_monitor=False)
    try:
        assert pv.wait_for_connection(timeout=5)
        assert pv.write_access
    finally:
        pv.disconnect()


# --- SystemLog -----------------------------------------------------------------------------------


def test_system_log_grows_past_the_ca_default_and_is_served_whole(ioc, ca, pva):
    pv = ioc.pv("SystemLog")
    last = ioc.pv("SystemLogLast")
    pva.put(ioc.pv("ClearLog"), 1)
    wait_for(lambda: pva.get(pv) == "[]", what="SystemLog cleared")
    monitors = [ca.monitor(pv, text=True), pva.monitor(pv)]
    for i in range(LOG_ENTRIES):
        pva.put(ioc.pv("SimControl.LogWarning"), f"{i} {LOG_MESSAGE}")

    def complete(text: str) -> bool:
        return len(json.loads(text)) == LOG_ENTRIES

    wait_for(lambda: complete(pva.get(pv)), what=f"{LOG_ENTRIES} SystemLog entries")
    for text in (pva.get(pv), ca.text(pv)):
        entries = json.loads(text)  # whole: it parses, nothing cut
        assert len(text) > 16384
        assert [e["message"] for e in entries] == [
            f"SimControl: {i} {LOG_MESSAGE}" for i in range(LOG_ENTRIES)
        ]
    for updates in monitors:
        update = updates.wait(lambda u: complete(u.value), what="the whole SystemLog")
        assert update.severity == "NO_ALARM"
    assert json.loads(pva.get(last))["message"] == f"SimControl: {LOG_ENTRIES - 1} {LOG_MESSAGE}"
    assert ca.alarm(pv) == ("NO_ALARM", "NO_ALARM")


def test_start_up_leaves_the_tree_log_empty_at_any_log_level(ioc_factory, pva_of):
    """The tree logs an INFO line when it starts; the IOC's DEBUG level must not let it (or
    anything the IOC does at start) into SystemLog."""
    started = ioc_factory.start("--log-level", "DEBUG")
    client = pva_of(started)
    assert started.log_text().count("DEBUG") > 0  # the IOC's own DEBUG lines are on
    assert client.get(started.pv("SystemLog")) == "[]"
    assert client.get(started.pv("SystemLogLast")) == ""


# --- a stream receiver's frame -------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_frame_length_follows_each_frame(ioc, ca, pva, protocol):
    data = ioc.pv("Stream.Data")
    monitors = [ca.monitor(data), pva.monitor(data)]
    for size in (1024, 5, 60000):  # up to the default capacity of 64 KiB
        put(ca, pva, protocol, ioc.pv("Stream.SendFrame"), size)
        for updates in monitors:
            update = updates.wait(
                lambda u, n=size: is_frame(u.value, n), 10, f"a {size}-byte frame"
            )
            assert update.severity == "NO_ALARM"
        frame = read(ca, pva, data, "pva")
        assert is_frame(frame, size)
        assert read(ca, pva, data, "ca") == frame
        assert ca.get(f"{data}.NORD") == size


def is_frame(value, size: int) -> bool:
    """True for a whole frame of ``size`` bytes as SendFrame makes them (each byte one more)."""
    values = list(value) if not isinstance(value, int | str) else []
    return len(values) == size and all(b == (values[0] + i) % 256 for i, b in enumerate(values))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_frame_put_and_bad_put(ioc, ca, pva, protocol):
    data = ioc.pv("Stream.Data")
    pva.put(ioc.pv("Stream.SendFrame"), 4)
    wait_for(lambda: len(pva.get(data)) == 4, what="a 4-byte frame")
    # Bytes above 127 too: CA's DBR_CHAR is unsigned, and nothing may read them as negative.
    put(ca, pva, protocol, data, [9, 200, 128, 255])
    assert read(ca, pva, data, "pva") == [9, 200, 128, 255]
    # (pyepics converts a CA put to the channel's type itself, so 256 would reach a uint8
    # array as 0: only the length can be checked for CA clients.)
    for bad in ([1, 2, 3], [1, 2, 3, 4, 5]):
        refuse(ca, pva, protocol, data, bad)
    assert read(ca, pva, data, "ca") == [9, 200, 128, 255]


# --- int64, uint64 and 2-D arrays ----------------------------------------------------------------


ARRAYS = [
    # path, good value (both protocols carry it exactly), bad values for both protocols, bad
    # values for CA only (p4p converts them to the array's type itself: 1.5 → 1 in an int64[])
    ("Shapes.Int64Array", [-(2**40), 5, 2**45, 0], [[1, 2, 3]], [[1.5, 0, 0, 0]]),
    ("Shapes.UInt64Array", [2**52, 7, 0], [[1, 2], [-1, 0, 0]], []),
    ("Shapes.Matrix", [float(i) / 4 for i in range(12)], [[1.0] * 11, [1.0] * 13], []),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(("path", "good", "bads", "ca_bads"), ARRAYS, ids=[a[0] for a in ARRAYS])
def test_array_put_monitor_and_bad_put(ioc, ca, pva, protocol, path, good, bads, ca_bads):
    pv = ioc.pv(path)
    monitors = [ca.monitor(pv), pva.monitor(pv)]
    put(ca, pva, protocol, pv, good)
    for updates in monitors:
        updates.wait_value(good)
    assert same(read(ca, pva, pv, "ca"), good)
    assert same(read(ca, pva, pv, "pva"), good)
    for bad in bads + (ca_bads if protocol == "ca" else []):
        refuse(ca, pva, protocol, pv, bad)
        assert same(read(ca, pva, pv, "pva"), good)
    wait_for(lambda: ca.alarm(pv) == ("WRITE", "INVALID"), what="WRITE alarm")


def test_uint64_array_is_exact_on_pva(ioc, pva):
    pv = ioc.pv("Shapes.UInt64Array")
    values = [2**63 + 1, 2**64 - 1, 3]
    pva.put(pv, values)
    assert pva.get(pv) == values  # PVA carries uint64 exactly (CA has doubles only)


# --- the capacity policy -------------------------------------------------------------------------


def test_capacity_is_configurable_and_overflow_is_an_alarm(ioc_factory, ca, pva_of):
    started = ioc_factory.start("--capacity", "root.Stream.Data=4k,root.SystemLog=64k")
    client = pva_of(started)
    data = started.pv("Stream.Data")
    assert ca.get(f"{data}.NELM") == 4096
    assert ca.get(f"{started.pv('SystemLog')}.NELM") == 65536
    mark = started.log_mark()
    client.put(started.pv("Stream.SendFrame"), 5000)
    wait_for(lambda: client.alarm(data) == ("HWLIMIT", "INVALID"), what="HWLIMIT alarm")
    assert len(client.get(data)) == 1  # the last value that fitted, never a cut frame
    started.assert_logged(mark, data, "not served")
    client.put(started.pv("Stream.SendFrame"), 5001)
    client.put(started.pv("Stream.SendFrame"), 100)
    wait_for(lambda: len(client.get(data)) == 100, what="the 100-byte frame")
    assert client.alarm(data) == ("NO_ALARM", "NO_ALARM")
    lines = [line for line in started.log_text()[mark:].splitlines() if "not served" in line]
    assert len(lines) == 1, lines  # one line for the whole episode
