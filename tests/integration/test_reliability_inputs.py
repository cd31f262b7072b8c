"""Bad input on every path (puts, commands): a refused put changes nothing and says why.

Each case puts one bad value through one client path:

* ``ca``: pyepics in the channel's native CA type (what ``caput`` does);
* ``ca-double`` / ``ca-string``: CA with ``DBR_DOUBLE`` / ``DBR_STRING`` on the wire
  (``epics.ca.put(chid, value, ftype=...)``), so the server converts the value, not the client;
* ``pva``: a p4p put without ``wait`` (a put with ``wait=True`` does not report a refusal).

and expects it to be refused at one stage:

* ``ioc``: the value reaches the IOC's validation, which refuses it: the client gets an error
  (CA: ECA_PUTFAIL, PVA: RemoteError), the record shows WRITE/INVALID, the IOC log names the PV,
  the value and the reason;
* ``server``: EPICS refuses it before the IOC sees it (a text that is no number for a numeric
  record, a put to an In record): the client gets an error; the IOC has nothing to log;
* ``client``: the client library refuses it before sending (p4p cannot convert "abc" to an int).

In every case the record and the tree keep their values (tree-side witnesses: RoInt mirrors
LocalInt; Cmd.CallCount/LastArg count command calls) and a following good put works.

Client-side limits (documented in docs/reliability.md, not tested as refusals): pyepics sends an
integer record's value as a 32-bit DBR_LONG and wraps a Python int that does not fit; p4p converts
a put to the PV's own field type before sending, wrapping out-of-range integers and truncating
fractions (Int32 = 2**31 arrives as -2**31, Int8 = 2.5 as 2, NaN as 0). So each out-of-range value
travels where it arrives intact: native CA and PVA below 32 bits and for the int64 records, and
CA ``DBR_DOUBLE`` beyond Int32/Int64 (the IOC sees what a CA client sent, before EPICS converts
it to the record's type).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import epics
import pytest
from p4p.client.thread import RemoteError

from .reliability_support import (
    CA_PUT_FAILED,
    CA_WIRE_TYPES,
    ca_put_done,
    ca_put_refused,
)
from .support import same, wait_for

NAN, INF = math.nan, math.inf

#: Paths whose CA value is text (a char waveform), read with ``as_string``.
TEXT = {
    "Types.String32",
    "Types.LocalStr",
    "Types.BigEnum",
    "Adc.InputSelect",
    "Cmd.LastArg",
    "Types.UInt64",
}
#: Two good values per path: the first is put before the bad one, the second after it.
GOOD: dict[str, tuple[Any, Any]] = {
    "Types.Bool": (1, 0),
    "Types.Float32": (0.5, 0.25),
    "Types.LimitedFloat": (0.5, 0.25),
    "Types.LocalFloat": (0.5, 0.25),
    "Types.String32": ("before", "after"),
    "Types.LocalStr": ("before", "after"),
    "Types.SmallEnum": (1, 2),
    "Types.BigEnum": ("Label03", "Label04"),
    "Adc.InputSelect": ("Input01", "Input02"),
    "Types.FloatArray": ([0.5] * 8, [0.25] * 8),
    "Types.IntArray": ([1, 2, 3, 4], [4, 3, 2, 1]),
    "Types.UInt64": ("0x7", "0x8"),
}
INTEGERS = ("UInt8", "UInt16", "UInt31", "UInt32", "UInt48", "Int8", "Int16", "Int32")
GOOD |= {f"Types.{name}": (7, 8) for name in (*INTEGERS, "Int64", "LocalInt")}
COMMANDS = {"Cmd.SetCount", "Cmd.Scale", "Cmd.Arm", "Cmd.Fail", "Cmd.Sleep"}


@dataclass(frozen=True)
class Case:
    path: str
    via: str  # "ca", "ca-double", "ca-string" or "pva"
    bad: Any
    stage: str  # "ioc", "server" or "client"
    reason: str = ""  # what the IOC's log line gives as the reason (stage "ioc")
    logged: str | None = None  # the value as the IOC logs it, when it arrives converted

    @property
    def id(self) -> str:
        if isinstance(self.bad, list):
            shown = f"{len(self.bad)}x{self.bad[0]!r}"
        elif isinstance(self.bad, str) and len(self.bad) > 12:
            shown = f"{self.bad[0]!r}*{len(self.bad)}"
        else:
            shown = repr(self.bad)
        return f"{self.path}={shown}-{self.via}"

    def needle(self) -> str:
        """The value as the IOC's log line must show it."""
        if self.logged is not None:
            return self.logged
        if isinstance(self.bad, str):
            return repr(self.bad)[:20]
        if isinstance(self.bad, list):
            return "array("
        return str(self.bad)


RANGE = "outside the range"
LIMITS = "not allowed: the variable has limits"
LABEL = "is not one of the enum labels"
FILLS = "fills the"
NOT_BOOL = "is not 0 or 1"
NOT_INT = "is not an integer"


def both(path: str, bad: Any, stage: str = "ioc", reason: str = RANGE) -> list[Case]:
    """The same bad value through native CA and through PVA."""
    return [Case(path, "ca", bad, stage, reason), Case(path, "pva", bad, stage, reason)]


def widths() -> list[Case]:
    """Each integer width at min-1 and max+1, on the paths where the value arrives intact."""
    cases = []
    for name, low, high in (
        ("UInt8", 0, 2**8 - 1),
        ("UInt16", 0, 2**16 - 1),
        ("UInt32", 0, 2**32 - 1),  # int64 record: CA carries it as an exact double
        ("UInt48", 0, 2**48 - 1),
        ("Int8", -(2**7), 2**7 - 1),
        ("Int16", -(2**15), 2**15 - 1),
    ):
        cases += both(f"Types.{name}", low - 1) + both(f"Types.{name}", high + 1)
    # 2**31 does not fit a CA DBR_LONG or the longout's PVA int32 field: it travels as a
    # DBR_DOUBLE (p4p wraps it to -2**31 before sending, which is refused as negative).
    cases += [
        *both("Types.UInt31", -1),
        Case("Types.UInt31", "ca-double", 2.0**31, "ioc", RANGE),
        Case("Types.UInt31", "pva", 2**31, "ioc", RANGE, logged=str(-(2**31))),
        Case("Types.UInt31", "ca-string", str(2**31), "server"),
    ]
    # Int32 and Int64 fill their record type: only a DBR_DOUBLE (or text) can carry a value
    # beyond it. -2**63 - 2048 is the first double below -2**63. Out-of-range text fails EPICS's
    # own parsing; p4p refuses an int below -2**63 itself (and wraps 2**63: client-side).
    for name, low, high in (("Int32", -(2**31), 2**31 - 1), ("Int64", -(2**63), 2**63 - 1)):
        below = float(low - 1) if name == "Int32" else -(2.0**63) - 2048
        cases += [
            Case(f"Types.{name}", "ca-double", below, "ioc", RANGE),
            Case(f"Types.{name}", "ca-double", float(high + 1), "ioc", RANGE),
            Case(f"Types.{name}", "ca-string", str(low - 1), "server"),
            Case(f"Types.{name}", "ca-string", str(high + 1), "server"),
        ]
    cases += [
        Case("Types.Int64", "pva", -(2**63) - 1, "client"),
        # UInt64 is display text: a put is an integer written as text, checked for its range.
        *both("Types.UInt64", hex(2**64)),
        *both("Types.UInt64", "-1"),
        *both("Types.UInt64", "0xZZ", reason="is not an integer"),
    ]
    return cases


CASES: list[Case] = [
    *widths(),
    # wrong type
    Case("Types.UInt8", "ca-string", "abc", "server"),
    Case("Types.UInt8", "pva", "abc", "client"),
    Case("Types.Float32", "ca-string", "abc", "server"),
    Case("Types.Float32", "pva", "abc", "client"),
    Case("Types.LimitedFloat", "ca-string", "abc", "server"),
    Case("Types.Bool", "ca-string", "abc", "server"),
    Case("Types.Bool", "pva", "abc", "client"),
    *both("Types.Bool", 2, reason=NOT_BOOL),
    Case("Types.FloatArray", "pva", "abc", "client"),
    Case("Types.IntArray", "pva", [-1] * 4, "client"),
    # NaN, ±inf and out-of-range floats where the variable has limits (Float32: its model range)
    *(c for v in (NAN, INF, -INF) for c in both("Types.LimitedFloat", v, reason=LIMITS)),
    *(c for v in (NAN, INF, -INF) for c in both("Types.Float32", v, reason=LIMITS)),
    *both("Types.Float32", 1e39, reason="above the maximum"),
    *both("Types.LimitedFloat", -1.6, reason="below the minimum"),
    # NaN, infinities and fractions into integers. A CA client sends them as DBR_DOUBLE (the
    # native CA type of an int64 record or a uint32 array is DBR_DOUBLE too); p4p converts them to
    # the integer field before sending (NaN into an int64 arrives as -2**63).
    *(Case("Types.Int16", "ca-double", v, "ioc", NOT_INT) for v in (NAN, INF, 2.5)),
    *(Case("Types.LocalInt", "ca-double", v, "ioc", NOT_INT) for v in (NAN, -INF, 2.5)),
    Case("Types.Int64", "ca", NAN, "ioc", NOT_INT),
    Case("Types.UInt32", "ca", NAN, "ioc", NOT_INT),
    Case("Types.UInt32", "ca", 7.5, "ioc", NOT_INT),
    Case("Types.UInt32", "pva", NAN, "ioc", RANGE, logged=str(-(2**63))),
    Case("Types.IntArray", "ca", [1.5] * 4, "ioc", "whole numbers"),
    Case("Types.IntArray", "ca", [-1] * 4, "ioc", "outside"),
    Case("Types.IntArray", "ca", [2**32] * 4, "ioc", "outside"),
    Case("Cmd.SetCount", "ca-double", 1.5, "ioc", NOT_INT),
    # text that is not a number, or not only one
    Case("Types.UInt8", "ca-string", "", "ioc", NOT_INT),
    Case("Types.UInt8", "ca-string", "9abc", "ioc", NOT_INT),
    Case("Types.LocalInt", "ca-string", "", "ioc", NOT_INT),
    Case("Types.Float32", "ca-string", "", "ioc", "not a number"),
    Case("Types.Float32", "ca-string", "1.5x", "ioc", "not a number"),
    # strings: String(32) keeps 31 characters; a str record holds 4096 bytes with the NUL
    *both("Types.String32", "x" * 32, reason=FILLS),
    *both("Types.String32", "x" * 40, reason=FILLS),
    *both("Types.LocalStr", "q" * 4095, reason=FILLS),
    *both("Types.LocalStr", "q" * 5000, reason=FILLS),
    # enums: unknown labels and indices
    *both("Types.SmallEnum", 4),
    *both("Types.SmallEnum", 7),
    Case("Types.SmallEnum", "ca-string", "Nope", "server"),
    Case("Types.SmallEnum", "pva", "Nope", "client"),
    *both("Types.BigEnum", "Nope", reason=LABEL),
    *both("Types.BigEnum", "Label20", reason=LABEL),
    *both("Types.BigEnum", "", reason=LABEL),
    Case("Types.BigEnum", "pva", 3, "ioc", LABEL, logged="'3'"),
    *both("Adc.InputSelect", "Input20", reason=LABEL),
    *both("Adc.InputSelect", "input01", reason=LABEL),
    Case("Adc.InputSelect", "pva", 5, "ioc", LABEL, logged="'5'"),
    # arrays of the wrong length
    *(c for n in (7, 9) for c in both("Types.FloatArray", [1.0] * n, reason="expected exactly 8")),
    *(c for n in (3, 5) for c in both("Types.IntArray", [1] * n, reason="expected exactly 4")),
    # read-only PVs: In records without write access: CA clients refuse the put themselves,
    # PVA puts are refused by EPICS
    Case("Version.FpgaVersion", "ca", 5, "client"),
    Case("Version.FpgaVersion", "pva", 5, "server"),
    Case("Types.RoInt", "ca", 5, "client"),
    Case("Types.RoInt", "pva", 5, "server"),
    # commands: arguments of the wrong type or range, and a command that raises
    Case("Cmd.SetCount", "ca-string", "abc", "server"),
    Case("Cmd.SetCount", "pva", "abc", "client"),
    Case("Cmd.SetCount", "ca-string", str(2**31), "server"),
    Case("Cmd.Scale", "ca-string", "abc", "server"),
    Case("Cmd.Scale", "pva", "abc", "client"),
    *both("Cmd.Arm", 2, reason=NOT_BOOL),
    *both("Cmd.Sleep", 11.0, reason="Sleep takes 0..10 seconds"),
    *both("Cmd.Fail", 1, reason="simulated command failure"),
]


# --- reading and writing -------------------------------------------------------------------------


def read(ca, pva, pv: str, path: str) -> tuple[Any, Any]:
    """The record's value (CA, PVA)."""
    return (ca.text(pv) if path in TEXT else ca.get(pv)), pva.get(pv)


def assert_reads(ca, pva, pv: str, path: str, expected: tuple[Any, Any]) -> None:
    got = read(ca, pva, pv, path)
    assert same(got[0], expected[0]), f"CA reads {got[0]!r}, expected {expected[0]!r}"
    assert same(got[1], expected[1]), f"PVA reads {got[1]!r}, expected {expected[1]!r}"


def good_put(ca, pva, ca_errors, via: str, pv: str, value: Any) -> None:
    """An accepted put through the protocol of ``via`` (native types)."""
    if via == "pva":
        pva.put(pv, value)
    else:
        ca_put_done(ca_errors, pv, value, None)


def witness(ioc, pva, path: str) -> Any:
    """Tree-side state a refused put must not change (None where the record is all there is)."""
    if path in COMMANDS:
        return pva.get(ioc.pv("Cmd.CallCount")), pva.get(ioc.pv("Cmd.LastArg"))
    if path in ("Types.LocalInt", "Types.RoInt"):
        return pva.get(ioc.pv("Types.LocalInt")), pva.get(ioc.pv("Types.RoInt"))
    return None


def send_bad(ca_errors, pva, case: Case, pv: str) -> str:
    """Put ``case.bad`` the way the case says; return the error the client got."""
    if case.stage == "client":
        with pytest.raises(
            (ValueError, OverflowError, TypeError, epics.ca.CASeverityException)
        ) as refused:
            if case.via == "pva":
                pva.context.put(pv, case.bad, timeout=5)
            else:
                ca_put_refused(ca_errors, pv, case.bad, CA_WIRE_TYPES[case.via])
        return str(refused.value)
    if case.via == "pva":
        try:
            pva.context.put(pv, case.bad, timeout=5)
        except RemoteError as error:
            return str(error) or type(error).__name__
        raise AssertionError(f"PVA put {pv} = {case.bad!r} was accepted")
    return ca_put_refused(ca_errors, pv, case.bad, CA_WIRE_TYPES[case.via])


def follow_up(ioc, ca, pva, ca_errors, case: Case, pv: str, before: Any) -> None:
    """After the refusal, a good put through the same protocol works (and clears the alarm)."""
    protocol = "pva" if case.via == "pva" else "ca"
    if case.path in COMMANDS:
        calls = before[0]
        good_put(ca, pva, ca_errors, protocol, ioc.pv("Cmd.Ping"), 1)
        wait_for(
            lambda: witness(ioc, pva, case.path) == (calls + 1, "Ping()"),
            what="Ping to be counted after the refused command put",
        )
        return
    if case.path == "Types.RoInt":
        value = before[0] + 1
        good_put(ca, pva, ca_errors, protocol, ioc.pv("Types.LocalInt"), value)
        wait_for(lambda: pva.get(pv) == value, what="RoInt to follow LocalInt")
        return
    if case.path == "Version.FpgaVersion":
        assert pva.get(pv) == ca.get(pv) == 0x01020304
        return
    second = GOOD[case.path][1]
    good_put(ca, pva, ca_errors, protocol, pv, second)
    assert_reads(ca, pva, pv, case.path, (second, second))
    wait_for(lambda: ca.alarm(pv) == ("NO_ALARM", "NO_ALARM"), what=f"{pv} alarm cleared")


# --- the matrix ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_put_is_refused(ioc, ca, pva, ca_errors, case: Case):
    pv = ioc.pv(case.path)
    if case.path in GOOD:
        first = GOOD[case.path][0]
        pva.put(pv, first)
        # PVA reads an enum as its index; BigEnum/InputSelect are label strings on both.
        before = (first, first)
        if case.path == "Types.LocalInt":
            # The tree's copy follows through a listener: read the witness once it has.
            mirror = ioc.pv("Types.RoInt")
            wait_for(lambda: pva.get(mirror) == first, what="RoInt to follow LocalInt")
    else:
        before = read(ca, pva, pv, case.path)
    tree = witness(ioc, pva, case.path)
    mark = ioc.log_mark()

    error = send_bad(ca_errors, pva, case, pv)

    assert error, "the client got an error without a message"
    if case.via != "pva" and case.stage != "client":
        assert error == CA_PUT_FAILED, error
    assert_reads(ca, pva, pv, case.path, before)
    assert witness(ioc, pva, case.path) == tree, "the refused put reached the tree"
    if case.stage == "ioc":
        # (A late push of the previous good value can hide the WRITE alarm for a moment:
        # test_refusal_alarm_is_not_overwritten pins that race down.)
        wait_for(lambda: ca.alarm(pv) == ("WRITE", "INVALID"), what=f"CA: {pv} WRITE/INVALID")
        assert pva.alarm(pv) == ("WRITE", "INVALID")
        ioc.assert_logged(mark, "WARNING", pv, f"put of {case.needle()}", case.reason)
    follow_up(ioc, ca, pva, ca_errors, case, pv, tree)


# --- values that must pass ---------------------------------------------------------------------

ACCEPTED = [
    ("Types.LocalFloat", NAN),
    ("Types.LocalFloat", INF),
    ("Types.LocalFloat", -INF),
    ("Types.String32", "x" * 31),
    ("Types.String32", ""),
    ("Types.LocalStr", "q" * 4094),
    ("Types.LocalStr", ""),
    ("Types.UInt8", 255),
    ("Types.UInt31", 2**31 - 1),
    ("Types.UInt48", 2**48 - 1),
    ("Types.Int8", -128),
    ("Types.Int16", 32767),
    ("Types.Int32", -(2**31)),
    ("Types.Int64", 2**63 - 1),
    ("Types.Int64", -(2**63)),
]


@pytest.mark.parametrize("via", ["ca", "pva"])
@pytest.mark.parametrize(("path", "value"), ACCEPTED, ids=[f"{p}={v!r:.12}" for p, v in ACCEPTED])
def test_edge_values_are_accepted(ioc, ca, pva, ca_errors, path, value, via):
    """The other side of each limit: NaN/inf into an unlimited float, a full-but-fitting string,
    each width's own min/max."""
    if via == "ca" and isinstance(value, int) and abs(value) > 2**53:
        pytest.skip("CA carries int64 values as doubles, exact only up to 2**53")
    pv = ioc.pv(path)
    pva.put(pv, GOOD[path][0])
    good_put(ca, pva, ca_errors, via, pv, value)
    assert same(pva.get(pv), value)
    if not (isinstance(value, int) and abs(value) > 2**53):
        assert same(ca.text(pv) if path in TEXT else ca.get(pv), value)
    # The alarm follows the Variable, which has no limits here (NaN included).
    assert pva.alarm(pv) == ("NO_ALARM", "NO_ALARM")


# --- the WRITE alarm of a refusal ---------------------------------------------------------------


@pytest.mark.parametrize("via", ["ca", "pva"])
@pytest.mark.parametrize("path", ["Types.LimitedFloat", "Types.Float32"])
def test_refused_nan_shows_a_write_alarm(ioc, ca, pva, ca_errors, path, via):
    """A refused NaN shows WRITE/INVALID like any refused put, not UDF.

    EPICS marks an ao record whose VAL is NaN as undefined (UDF/INVALID) while it processes the
    put, and the refusal's WRITE alarm of the same severity does not replace it.
    """
    pv = ioc.pv(path)
    pva.put(pv, 0.5)
    send_bad(ca_errors, pva, Case(path, via, NAN, "ioc"), pv)
    alarms = ca.alarm(pv), pva.alarm(pv)
    assert alarms == (("WRITE", "INVALID"), ("WRITE", "INVALID")), alarms
    pva.put(pv, 0.25)


def test_refusal_alarm_is_not_overwritten(ioc, ca, pva, ca_errors):
    """A refused put right after an accepted one keeps its WRITE alarm.

    Each round puts a good value (PVA, waiting for completion) and then an out-of-range value
    (plain CA put); the IOC's push of the good value must not land after the refusal and clear
    its alarm. Bounded: 200 rounds or 20 s.
    """
    pv = ioc.pv("Types.Int16")
    deadline = time.monotonic() + 20
    rounds, cleared = 0, []
    while rounds < 200 and time.monotonic() < deadline:
        pva.put(pv, 7 + rounds % 2)
        ca_put_refused(ca_errors, pv, 32768, None)
        alarm = pva.alarm(pv)
        if alarm != ("WRITE", "INVALID"):
            cleared.append((rounds, alarm))
        rounds += 1
    assert rounds >= 50, f"only {rounds} rounds in 20 s"
    assert not cleared, f"{len(cleared)} of {rounds} refusals lost their WRITE alarm: {cleared[:5]}"
    pva.put(pv, 7)
