"""Refusals before EPICS writes anything, and text that is never altered.

A CA put is checked where the CA server hands the IOC the client's data, before it converts and
writes it (see ``ioc/puttrap.py``): a refused put leaves the record as it was, even a DBR_STRING
array whose later element does not parse (EPICS would have written the elements before it), and
a put-callback (``caput -c``, ``put(wait=True)``) fails for its client like a plain put.

Text: bytes that are not UTF-8 and text containing NUL are refused on CA and PVA; every accepted
string reads back exactly on both protocols.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from .reliability_support import (
    CA_PUT_FAILED,
    DBR_CHAR,
    DBR_DOUBLE,
    DBR_STRING,
    ca_raw_put,
)
from .support import wait_for

WRITE_ALARM = ("WRITE", "INVALID")


def ca_bytes(ca, pv: str) -> bytes:
    """A char waveform's elements over CA, as bytes (up to NORD)."""
    return np.asarray(ca.get(pv), dtype=np.int64).astype(np.uint8).tobytes()


def refuse(ca_errors, pv: str, ftype: int, values: Any, callback: bool) -> None:
    """A CA put the IOC must refuse: plain (ECA_PUTFAIL) or put-callback (a failed completion)."""
    error = ca_raw_put(ca_errors, pv, ftype, values, callback)
    assert error is not None, f"put-callback of {values!r} to {pv} reported success"
    if not callback:
        assert error == CA_PUT_FAILED, error


def assert_unchanged(ioc, ca, pva, pv: str, before: Any, mark: int, reason: str) -> None:
    """The record shows its value as before, with the refusal's WRITE alarm and log line."""
    assert np.array_equal(pva.get(pv), before[1]), (pva.get(pv), before[1])
    assert np.array_equal(ca.get(pv), before[0]), (ca.get(pv), before[0])
    wait_for(lambda: ca.alarm(pv) == WRITE_ALARM, what=f"CA: {pv} WRITE/INVALID")
    assert pva.alarm(pv) == WRITE_ALARM
    ioc.assert_logged(mark, "WARNING", pv, "rejected", reason)


# --- element-by-element conversions -------------------------------------------------------------

PARTIAL = [
    ("Types.IntArray", ["7", "bad", "1", "2"], "element 1 ('bad') is not a whole number"),
    ("Types.IntArray", ["7", "2.5", "1", "2"], "element 1 ('2.5') is not a whole number"),
    ("Types.IntArray", ["7", "8", "9", "99999999999"], "outside"),
    ("Types.FloatArray", ["7", "bad", *["1"] * 6], "element 1 ('bad') is not a number"),
    ("Types.FloatArray", ["7", "1e400", *["1"] * 6], "element 1 ('1e400') is not a number"),
    ("Types.LocalStr", ["72", "73", "x"], "element 2 ('x') is not a whole number"),
    ("Types.LocalStr", ["72", "73", "300"], "element 2 (300) is not a byte value"),
]


@pytest.mark.parametrize("callback", [False, True], ids=["plain", "callback"])
@pytest.mark.parametrize(
    ("path", "values", "reason"), PARTIAL, ids=[p[0] + str(i) for i, p in enumerate(PARTIAL)]
)
def test_string_array_refused_before_any_element_is_written(
    ioc, ca, pva, ca_errors, path, values, reason, callback
):
    pv = ioc.pv(path)
    good = {"Types.IntArray": [1, 2, 3, 4], "Types.FloatArray": [0.5] * 8}.get(path, "hello")
    pva.put(pv, good)
    before = (ca_bytes(ca, pv)[:-1].decode() if path == "Types.LocalStr" else ca.get(pv)), good
    mark = ioc.log_mark()

    refuse(ca_errors, pv, DBR_STRING, values, callback)

    if path == "Types.LocalStr":
        assert ca.text(pv) == pva.get(pv) == "hello"
        wait_for(lambda: ca.alarm(pv) == WRITE_ALARM, what=f"CA: {pv} WRITE/INVALID")
        ioc.assert_logged(mark, "WARNING", pv, "rejected", reason)
    else:
        assert_unchanged(ioc, ca, pva, pv, before, mark, reason)
    pva.put(pv, good)
    assert pva.alarm(pv) == ("NO_ALARM", "NO_ALARM")


def test_string_array_that_converts_is_accepted(ioc, ca, pva, ca_errors):
    pv = ioc.pv("Types.IntArray")
    assert ca_raw_put(ca_errors, pv, DBR_STRING, [" 5", "-0", "+7 ", "12"], callback=True) is None
    assert pva.get(pv) == [5, 0, 7, 12]


# --- put-callbacks fail like plain puts ---------------------------------------------------------

CALLBACK_REFUSALS = [
    ("Types.Int16", DBR_DOUBLE, [40000.0], "outside the range"),
    ("Types.LimitedFloat", DBR_DOUBLE, [float("nan")], "the variable has limits"),
    ("Types.UInt8", DBR_STRING, ["9abc"], "is not an integer"),
    ("Types.Bool", DBR_DOUBLE, [0.5], "is not 0 or 1"),
    ("Types.FloatArray", DBR_DOUBLE, [1.0] * 9, "expected exactly 8"),
    ("Types.String32", DBR_CHAR, b"x" * 32 + b"\0", "fills the"),
    ("Cmd.SetCount", DBR_DOUBLE, [1.5], "is not an integer"),
]


@pytest.mark.parametrize(
    ("path", "ftype", "values", "reason"), CALLBACK_REFUSALS, ids=[c[0] for c in CALLBACK_REFUSALS]
)
def test_put_callback_refusal_reaches_the_client(
    ioc, ca, pva, ca_errors, path, ftype, values, reason
):
    pv = ioc.pv(path)
    before = pva.get(pv)
    calls = pva.get(ioc.pv("Cmd.CallCount"))
    mark = ioc.log_mark()

    refuse(ca_errors, pv, ftype, values, callback=True)

    assert np.array_equal(pva.get(pv), before)
    assert pva.get(ioc.pv("Cmd.CallCount")) == calls
    wait_for(lambda: ca.alarm(pv) == WRITE_ALARM, what=f"CA: {pv} WRITE/INVALID")
    ioc.assert_logged(mark, "WARNING", pv, "rejected", reason)


# --- text: NUL, UTF-8, exact round trips --------------------------------------------------------

BAD_TEXT = [
    (b"a\0b\0", "contains a NUL"),
    (b"\0b\0", "contains a NUL"),
    (b"\xff\xfe\0", "are not UTF-8"),
    (b"caf\xe9\0", "are not UTF-8"),  # Latin-1, not UTF-8
    ("é".encode()[:1] + b"\0", "are not UTF-8"),  # a cut character
]


@pytest.mark.parametrize("callback", [False, True], ids=["plain", "callback"])
@pytest.mark.parametrize(("data", "reason"), BAD_TEXT, ids=[repr(b[0]) for b in BAD_TEXT])
def test_ca_text_that_is_not_text_is_refused(ioc, ca, pva, ca_errors, data, reason, callback):
    pv = ioc.pv("Types.LocalStr")
    pva.put(pv, "before")
    mark = ioc.log_mark()
    refuse(ca_errors, pv, DBR_CHAR, data, callback)
    assert pva.get(pv) == ca.text(pv) == "before"
    wait_for(lambda: ca.alarm(pv) == WRITE_ALARM, what=f"CA: {pv} WRITE/INVALID")
    ioc.assert_logged(mark, "WARNING", pv, "rejected", reason)


@pytest.mark.parametrize("text", ["a\0b", "ab\0", "\0"], ids=repr)
def test_pva_text_with_nul_is_refused(ioc, ca, pva, text):
    pv = ioc.pv("Types.LocalStr")
    pva.put(pv, "before")
    mark = ioc.log_mark()
    assert pva.put_refused(pv, text)
    assert pva.get(pv) == ca.text(pv) == "before"
    assert pva.alarm(pv) == WRITE_ALARM
    ioc.assert_logged(mark, "WARNING", pv, "rejected", "contains a NUL")
    # A put with completion is not written either (QSRV2 reports it done: see docs/reliability.md).
    pva.put(pv, text)
    assert pva.get(pv) == "before"


ROUND_TRIP = ["plain", "", "é ü ✓ 🎉 Ω", "tab\tnewline\nend", "  spaces  ", "quote'\"\\", "x" * 300]


@pytest.mark.parametrize("text", ROUND_TRIP, ids=lambda t: repr(t)[:16])
def test_text_round_trips_exactly(ioc, ca, pva, ca_errors, text):
    pv = ioc.pv("Types.LocalStr")
    encoded = text.encode()
    pva.put(pv, text)
    assert pva.get(pv) == text
    assert ca_bytes(ca, pv) == encoded + b"\0"
    pva.put(pv, "other")
    assert ca_raw_put(ca_errors, pv, DBR_CHAR, encoded + b"\0", callback=True) is None
    assert pva.get(pv) == text
    assert ca_bytes(ca, pv) == encoded + b"\0"


def test_ca_text_padded_with_nul_is_the_text(ioc, ca, pva, ca_errors):
    """C clients may send a fixed-size buffer: NULs after the text are padding, not text."""
    pv = ioc.pv("Types.LocalStr")
    assert ca_raw_put(ca_errors, pv, DBR_CHAR, b"padded" + b"\0" * 10, callback=True) is None
    assert pva.get(pv) == ca.text(pv) == "padded"
