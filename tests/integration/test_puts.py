"""EPICS → tree: valid puts reach the tree, invalid ones change nothing and say why."""

from __future__ import annotations

import math
import threading
import time

import epics
import pytest

from .reliability_support import DBR_DOUBLE, DBR_STRING, ca_put_refused
from .support import same, wait_for

PROTOCOLS = ("ca", "pva")

# One row per type: (path, first value, second value). Each test puts both values in turn, so it
# proves a change whatever the PV held before. Enum PVs take the state index; string PVs (str,
# String(N), label enums, list/dict display text) take text.
TYPE_ROWS = [
    ("Types.Bool", 1, 0),
    ("Types.RemBool", 1, 0),
    ("Types.UInt8", 200, 17),
    ("Types.UInt16", 40000, 3),
    ("Types.UInt31", 2**31 - 2, 5),
    ("Types.UInt32", 3_000_000_000, 11),
    ("Types.UInt48", 2**40 + 5, 13),
    ("Types.UInt64", "0xfedcba9876543210", "0x13"),
    ("Types.Int8", -100, 42),
    ("Types.Int16", -30000, 1234),
    ("Types.Int32", -(2**31) + 1, 77),
    ("Types.Int64", -(2**40) - 7, 2**41),
    ("Types.UIntBE32", 0xDEADBEEF, 0x12345678),
    ("Types.Float32", 1.5, -0.25),
    ("Types.Double64", math.pi, -1e300),
    ("Types.String32", "hello rogue", "x" * 31),
    ("Types.LocalInt", 12345, -54321),
    ("Types.LocalFloat", -2.75, 1e-9),
    ("Types.LocalStr", "y" * 3000, "short text"),
    ("Types.LimitedInt", 99, -10),
    ("Types.LimitedFloat", 1.25, -0.25),
    ("Types.SmallEnum", 3, 2),
    ("Types.BigEnum", "Label17", "Label03"),
    ("Types.LongLabelEnum", "ThisLabelIsLongerThanTwentyFiveCharacters", "Short"),
    ("Types.FloatArray", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.5], [0.0] * 7 + [-1.0]),
    ("Types.IntArray", [1, 2, 3, 2**32 - 1], [0, 0, 7, 0]),
    ("Types.List", "[4, 5, 6]", "[1, 2, 3]"),
    ("Types.Dict", "{'b': 2}", "{'a': 1}"),
    ("Thermal.Threshold", 47.125, 45.0),
    ("Thermal.Mode", 2, 1),
    ("Adc.Gain", 2, 0),
    ("Adc.InputSelect", "Input13", "Input00"),
    ("Adc.Samples", [9, 8, 7, 6], [0, 1, 0, 1]),
    ("Version.ScratchPad", 0xCAFEBABE, 0),
    ("Crate.Slot03.CarrierBoard.FrontEndAmplifierChannel07.CalibrationCoefficient", 2.5, 1.0),
    ("Crate.Slot03.CarrierBoard.FrontEndAmplifierChannel07.GainStageSelection", 3, 0),
]
TEXT_PATHS = {row[0] for row in TYPE_ROWS if isinstance(row[1], str)}


def read_ca(ca, pv: str, path: str):
    return ca.text(pv) if path in TEXT_PATHS else ca.get(pv)


def put(ca, pva, protocol: str, pv: str, value) -> None:
    (ca if protocol == "ca" else pva).put(pv, value)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(("path", "first", "second"), TYPE_ROWS, ids=[r[0] for r in TYPE_ROWS])
def test_put_each_type(ioc, ca, pva, protocol, path, first, second):
    pv = ioc.pv(path)
    for value in (first, second):
        put(ca, pva, protocol, pv, value)
        got_pva, got_ca = pva.get(pv), read_ca(ca, pv, path)
        assert same(got_pva, value), f"PVA read {got_pva!r} after putting {value!r}"
        assert same(got_ca, value), f"CA read {got_ca!r} after putting {value!r}"


def test_enum_index_selects_the_key(ioc, ca, pva):
    """SmallEnum's keys are 0, 1, 5, 10: the state index maps to the label in dict order."""
    pv = ioc.pv("Types.SmallEnum")
    ca.put(pv, 2)
    assert ca.get(pv, as_string=True) == "Five"
    pva.put(pv, "Ten")
    assert ca.get(pv) == 3
    assert ca.get(pv, as_string=True) == "Ten"


def test_local_set_reaches_the_tree(ioc, ca, pva):
    """LocalInt's tree-side copy RoInt proves that the put reached the tree."""
    for client, value in ((ca, 314), (pva, -271)):
        client.put(ioc.pv("Types.LocalInt"), value)
        wait_for(lambda v=value: pva.get(ioc.pv("Types.RoInt")) == v, what=f"RoInt == {value}")


def test_bit_fields_do_not_clobber_each_other(ioc, ca, pva):
    """Enable/Channel/Range/Trim share one register; the server's reads show them all intact."""
    values = {"Adc.Enable": 1, "Adc.Channel": 5, "Adc.Range": 2, "Adc.Trim": 4000}
    for path, value in values.items():
        ca.put(ioc.pv(path), value)
    # Let the IOC's own periodic reads (--read-period) go through the register a few times.
    updates = ca.monitor(ioc.heartbeat)
    first = updates.next().value
    updates.wait(lambda u: u.value >= first + 2, what="two heartbeats")
    for path, value in values.items():
        assert pva.get(ioc.pv(path)) == value, path
    ca.put(ioc.pv("Adc.Channel"), 2)
    for path, value in (values | {"Adc.Channel": 2}).items():
        assert ca.get(ioc.pv(path)) == value, path


# --- refused puts --------------------------------------------------------------------------------

# (path, a good value, bad values, protocols): a bad put must leave the good value in place.
REFUSED = [
    ("Types.LimitedInt", 5, [101, -11], PROTOCOLS),
    ("Types.UInt16", 7, [65536, -1], PROTOCOLS),
    ("Types.Int8", 3, [-129, 128], PROTOCOLS),
    ("Types.UInt32", 8, [-1, 2**32], PROTOCOLS),
    ("Types.LimitedFloat", 0.0, [2.6, -1.6, math.nan, math.inf, -math.inf], PROTOCOLS),
    ("Thermal.Threshold", 45.0, [150.5, -0.5], PROTOCOLS),
    ("Types.Bool", 0, [2], PROTOCOLS),
    ("Types.SmallEnum", 1, [4, 10], PROTOCOLS),
    ("Thermal.Mode", 1, [3], PROTOCOLS),
    ("Types.BigEnum", "Label03", ["Nope", "Label20", ""], PROTOCOLS),
    ("Types.LongLabelEnum", "Short", ["Long"], PROTOCOLS),
    ("Adc.InputSelect", "Input01", ["Input20"], PROTOCOLS),
    ("Types.String32", "z" * 31, ["y" * 32, "w" * 40], PROTOCOLS),
    ("Types.FloatArray", [0.5] * 8, [[1.0] * 7, [1.0] * 9], PROTOCOLS),
    ("Types.IntArray", [1, 2, 3, 4], [[1, 2, 3], [1, 2, 3, 4, 5]], PROTOCOLS),
    ("Types.List", "[1, 2, 3]", ["[1, 2", "not a list ("], PROTOCOLS),
]


def refused_cases():
    for path, good, bads, protocols in REFUSED:
        for protocol in protocols:
            for bad in bads:
                label = bad if not isinstance(bad, list) else f"{len(bad)} values"
                yield pytest.param(path, good, bad, protocol, id=f"{path}={label}-{protocol}")


def log_needle(value) -> str:
    """What of a refused value the IOC log must show."""
    if isinstance(value, list):
        return ""
    if isinstance(value, str):
        return value[:20]
    return str(value)


@pytest.mark.parametrize(("path", "good", "bad", "protocol"), list(refused_cases()))
def test_refused_put_changes_nothing(ioc, ca, pva, path, good, bad, protocol):
    pv = ioc.pv(path)
    pva.put(pv, good)
    mark = ioc.log_mark()
    if protocol == "ca":
        ca.put_refused(pv, bad)
    else:
        assert pva.put_refused(pv, bad), "the PVA error carries no message"
    assert same(pva.get(pv), good)
    assert same(read_ca(ca, pv, path), good)
    assert ca.alarm(pv) == ("WRITE", "INVALID")
    assert pva.alarm(pv)[1] == "INVALID"
    ioc.assert_logged(mark, pv, log_needle(bad))
    # The next accepted write clears the alarm.
    pva.put(pv, good)
    wait_for(lambda: ca.alarm(pv) == ("NO_ALARM", "NO_ALARM"), what=f"{pv} alarm cleared")


@pytest.mark.parametrize("protocol", ["ca", "pva"])
def test_accepted_put_ends_the_write_alarm_when_it_completes(ioc, ca, pva, ca_errors, protocol):
    """Not only later, when the tree's next update arrives: the completed put was accepted.

    Cmd.Count is RW and also set tree-side (by SetCount): a tree update while the WRITE alarm of
    a refused put stands carries that alarm along, and the next accepted put must end it.
    """
    count, set_count = ioc.pv("Cmd.Count"), ioc.pv("Cmd.SetCount")
    ca_put_refused(ca_errors, count, 2.5, DBR_DOUBLE)
    assert ca.alarm(count) == ("WRITE", "INVALID")
    pva.put(set_count, 4321)
    wait_for(lambda: pva.get(count) == 4321, what="Count set tree-side")
    assert ca.alarm(count) == ("WRITE", "INVALID")
    # Hold the tree's update thread, so no listener update can repair the alarm meanwhile.
    pva.put(ioc.pv("SimControl.Wedge"), 1.0)
    (ca if protocol == "ca" else pva).put(count, 1234)
    assert ca.alarm(count) == ("NO_ALARM", "NO_ALARM")
    assert pva.get(count) == 1234


@pytest.mark.parametrize("protocol", ["ca", "pva"])
def test_accepted_slow_write_ends_the_write_alarm(ioc_factory, ca, pva_of, ca_errors, protocol):
    """Also when the write outlasts the put's budget and no tree update follows it.

    A Command has no tree updates that could repair its alarm. A frame of 8,000,000 bytes takes
    ``SendFrame`` longer than the IOC's budget for a write inside the put's processing, so the
    put completes when the write returns. (A fresh IOC: the frame is more than Stream.Data can
    show, which leaves that record in alarm.)
    """
    started = ioc_factory.start()
    client = pva_of(started)
    send, frames = started.pv("Stream.SendFrame"), started.pv("Stream.FrameCount")
    ca_put_refused(ca_errors, send, "abc", DBR_STRING)
    assert ca.alarm(send) == ("WRITE", "INVALID")
    before = client.get(frames)
    (ca if protocol == "ca" else client).put(send, 8_000_000)
    assert client.get(send) == 8_000_000
    assert ca.alarm(send) == ("NO_ALARM", "NO_ALARM")
    wait_for(lambda: client.get(frames) == before + 1, what="the frame sent")


def test_refused_put_leaves_the_tree_alone(ioc, ca, pva):
    """Heater drives Temperature: a refused Heater put must not move it (tree-side witness)."""
    heater, temperature = ioc.pv("Thermal.Heater"), ioc.pv("Thermal.Temperature")
    ca.put(heater, 0.0)
    wait_for(lambda: abs(pva.get(temperature) - 25.0) <= 2.5, what="Temperature near 25")
    updates = pva.monitor(temperature)
    updates.next()  # the value at subscription
    for client in (ca, pva):
        client.put_refused(heater, 100.5)
        assert pva.get(heater) == 0.0
    # A Heater change re-reads Temperature at once, and it is polled every second anyway:
    # the next two readings would show ~125 if the refused value had reached the tree.
    for _ in range(2):
        reading = updates.next(timeout=5)
        assert abs(reading.value - 25.0) <= 2.5, reading


def test_long_string_until_capacity(ioc, ca, pva):
    """A str variable takes long text up to its record buffer; text that fills it is refused.

    A client or the server may cut text to the buffer without a word, so text that fills the
    whole buffer (NELM bytes with the terminating NUL) may have been cut and is refused.
    """
    pv = ioc.pv("Types.LocalStr")
    capacity = int(ca.get(f"{pv}.NELM"))
    assert capacity >= 4096
    longest = "".join(chr(ord("a") + i % 26) for i in range(capacity - 2))
    for client in (pva, ca):
        client.put(pv, "ok")
        client.put(pv, longest)
        assert ca.text(pv) == longest
        assert pva.get(pv) == longest
    for client in (ca, pva):
        for size in (capacity - 1, capacity, capacity + 100):
            client.put_refused(pv, "q" * size)
            assert pva.get(pv) == longest


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_into_an_unlimited_float(ioc, ca, pva, value):
    pv = ioc.pv("Types.LocalFloat")
    pva.put(pv, 1.0)
    pva.put(pv, value)
    assert same(pva.get(pv), value)
    ca.put(pv, 2.0)
    ca.put(pv, value)
    assert same(ca.get(pv), value)


READ_ONLY = [
    ("Types.RoInt", 99),
    ("Version.FpgaVersion", 5),
    ("Version.UpTimeCnt", 0),
    ("Cmd.CallCount", 0),
    ("Version.BuildStamp", "overwritten"),
    ("Cmd.LastArg", "overwritten"),
    ("Adc.Waveform", [0.0] * 8),
]


@pytest.mark.parametrize(("path", "value"), READ_ONLY, ids=[r[0] for r in READ_ONLY])
def test_read_only_refused_by_epics(ioc, ca, pva, path, value):
    pv = ioc.pv(path)
    if path in ("Types.RoInt", "Version.FpgaVersion", "Version.BuildStamp"):
        before = pva.get(pv)
    else:
        before = None  # moving or shared with other tests: only the refusal is checked
    # No write access: the CA client refuses a plain put and a put-callback itself.
    for wait in (False, True):
        with pytest.raises(epics.ca.CASeverityException, match="Write access denied"):
            epics.caput(pv, value, wait=wait, timeout=5)
    pva.put_refused(pv, value)
    if before is not None:
        assert same(pva.get(pv), before)


# --- completion --------------------------------------------------------------------------------


@pytest.mark.parametrize(("protocol", "seconds"), [("ca", 1.0), ("pva", 0.75)])
def test_put_completes_after_the_tree_write(ioc, ca, pva, protocol, seconds):
    last_arg = ioc.pv("Cmd.LastArg")
    ca.put(ioc.pv("Cmd.Ping"), 1)
    wait_for(lambda: ca.text(last_arg) == "Ping()", what="LastArg Ping()")
    started = time.monotonic()
    put(ca, pva, protocol, ioc.pv("Cmd.Sleep"), seconds)
    assert time.monotonic() - started >= seconds
    # LastArg is set just before the command returns; its PV follows through the update thread.
    wait_for(lambda: pva.get(last_arg) == f"Sleep({seconds!r})", what="LastArg Sleep")


def test_slow_write_does_not_stall_other_clients(ioc, ca, pva):
    """While one client's put sleeps 2 s in the tree, other clients' gets are answered.

    Counted are the gets that return while the slow put is still running: were gets held up
    behind the put, each would return only after it finished, and none would count.
    """
    done = threading.Event()
    errors = []

    def slow_put():
        try:
            pva.put(ioc.pv("Cmd.Sleep"), 2.0)
        except Exception as error:  # reported below; the thread must not die silently
            errors.append(error)
        finally:
            done.set()

    thread = threading.Thread(target=slow_put)
    started = time.monotonic()
    thread.start()
    during = 0
    while not done.is_set() and time.monotonic() - started < 30:  # bounded if the put hangs
        for get in (lambda: pva.get(ioc.pv("Types.RoInt")), lambda: ca.get(ioc.heartbeat)):
            get()
            during += not done.is_set()
    thread.join(timeout=15)
    assert not errors, errors
    assert time.monotonic() - started >= 2.0, "the put returned before its 2 s in the tree"
    assert during >= 4, f"only {during} gets answered while the slow put ran"
