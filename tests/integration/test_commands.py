"""Commands: one Out record each; a put invokes the command exactly once."""

from __future__ import annotations

import pytest

from .support import wait_for

COMMAND_KINDS = [
    ("Cmd.Ping", "longout"),
    ("Cmd.SetCount", "longout"),
    ("Cmd.Scale", "ao"),
    ("Cmd.SaveConfig", "waveform"),  # softioc's longStringOut is a char waveform
    ("Cmd.Arm", "bo"),
    ("Cmd.Fail", "longout"),
    ("Cmd.Sleep", "ao"),
    ("Version.Reset", "longout"),
    ("SimControl.Wedge", "ao"),
]


@pytest.mark.parametrize(("path", "rtyp"), COMMAND_KINDS, ids=[c[0] for c in COMMAND_KINDS])
def test_command_record_kind(ioc, ca, path, rtyp):
    assert ca.get(f"{ioc.pv(path)}.RTYP") == rtyp


def test_str_command_is_a_text_record(ioc, ca, pva):
    pv = ioc.pv("Cmd.SaveConfig")
    assert ca.get(f"{pv}.FTVL", as_string=True) == "CHAR"
    assert isinstance(pva.get(pv), str)


def call_count(ioc, pva) -> int:
    return pva.get(ioc.pv("Cmd.CallCount"))


def last_arg(ioc, pva) -> str:
    return pva.get(ioc.pv("Cmd.LastArg"))


def wait_calls(ioc, pva, count: int, last: str) -> None:
    """Wait until CallCount is ``count`` and LastArg ``last``.

    The command has returned when its put completes, but CallCount/LastArg reach their PVs
    through the Root's update thread (listeners), a moment later.
    """
    wait_for(
        lambda: (call_count(ioc, pva), last_arg(ioc, pva)) == (count, last),
        what=f"CallCount {count} and LastArg {last!r}",
    )


# (command path, put value, LastArg afterwards)
CALLS = [
    ("Cmd.Ping", 1, "Ping()"),
    ("Cmd.Ping", 0, "Ping()"),
    ("Cmd.SetCount", 42, "SetCount(42)"),
    ("Cmd.SetCount", 0, "SetCount(0)"),
    ("Cmd.SetCount", -5, "SetCount(-5)"),
    ("Cmd.Scale", 1.5, "Scale(1.5)"),
    ("Cmd.Scale", 0.0, "Scale(0.0)"),
    ("Cmd.SaveConfig", "file.yml", "SaveConfig('file.yml')"),
    ("Cmd.Arm", 1, "Arm(True)"),
    ("Cmd.Arm", 0, "Arm(False)"),
]


@pytest.mark.parametrize("protocol", ["ca", "pva"])
@pytest.mark.parametrize(
    ("path", "value", "expected"), CALLS, ids=[f"{c[0]}={c[1]}" for c in CALLS]
)
def test_put_invokes_once(ioc, ca, pva, protocol, path, value, expected):
    client = ca if protocol == "ca" else pva
    before = call_count(ioc, pva)
    client.put(ioc.pv(path), value)
    wait_calls(ioc, pva, before + 1, expected)
    # A second command then shows the first one ran exactly once (no late duplicate).
    client.put(ioc.pv("Cmd.Ping"), 1)
    wait_calls(ioc, pva, before + 2, "Ping()")


@pytest.mark.parametrize("protocol", ["ca", "pva"])
def test_same_value_twice_invokes_twice(ioc, ca, pva, protocol):
    client = ca if protocol == "ca" else pva
    before = call_count(ioc, pva)
    for _ in range(2):
        client.put(ioc.pv("Cmd.SetCount"), 7)
    wait_calls(ioc, pva, before + 2, "SetCount(7)")
    client.put(ioc.pv("Cmd.Ping"), 1)
    wait_calls(ioc, pva, before + 3, "Ping()")


def test_command_argument_reaches_the_tree(ioc, ca, pva):
    """SetCount sets Count tree-side; both protocols see it on the Count PV."""
    before = call_count(ioc, pva)
    for client, value in ((ca, 1234), (pva, 0), (ca, -77)):
        client.put(ioc.pv("Cmd.SetCount"), value)
        wait_for(lambda v=value: ca.get(ioc.pv("Cmd.Count")) == v, what=f"Count == {value}")
        assert pva.get(ioc.pv("Cmd.Count")) == value
    wait_calls(ioc, pva, before + 3, "SetCount(-77)")


def test_failing_command_reports_the_error(ioc, ca, pva):
    pv = ioc.pv("Cmd.Fail")
    before = call_count(ioc, pva)
    mark = ioc.log_mark()
    message = pva.put_refused(pv, 1)
    assert call_count(ioc, pva) == before
    ioc.assert_logged(mark, pv, "simulated command failure")
    assert ca.alarm(pv) == ("WRITE", "INVALID")
    # CA: a plain put gets the write error; the IOC keeps serving.
    ca.put_refused(pv, 1)
    assert call_count(ioc, pva) == before
    ca.put(ioc.pv("Cmd.Ping"), 1)
    wait_calls(ioc, pva, before + 1, "Ping()")
    # QSRV2 reports a refused put with a fixed text; the reason is in the IOC log.
    assert message


def test_command_argument_out_of_its_range_reports_the_error(ioc, ca, pva):
    """Sleep raises ValueError outside 0..10 s: the PVA client gets an error, the log why."""
    pv = ioc.pv("Cmd.Sleep")
    before = call_count(ioc, pva)
    mark = ioc.log_mark()
    assert pva.put_refused(pv, 11.0)
    ioc.assert_logged(mark, pv, "0..10")
    ca.put(ioc.pv("Cmd.Ping"), 1)
    wait_calls(ioc, pva, before + 1, "Ping()")


def test_reset_command_restarts_the_uptime_counter(ioc, ca, pva):
    uptime = ioc.pv("Version.UpTimeCnt")
    wait_for(lambda: pva.get(uptime) >= 2, timeout=10, what="UpTimeCnt >= 2")
    ca.put(ioc.pv("Version.Reset"), 1)
    wait_for(lambda: pva.get(uptime) <= 1, what="UpTimeCnt back to 0 or 1")
