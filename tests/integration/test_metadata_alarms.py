"""Metadata on CA fields and PVA display/control/valueAlarm; alarms follow the tree."""

from __future__ import annotations

import pytest

from .support import same, wait_for

UNITS = [
    ("Thermal.Temperature", "degC"),
    ("Thermal.Heater", "degC"),
    ("Thermal.Threshold", "degC"),
    ("Types.LimitedFloat", "V"),
    ("Version.UpTimeCnt", "s"),
    ("SimControl.SlowLatency", "s"),
]


@pytest.mark.parametrize(("path", "units"), UNITS, ids=[u[0] for u in UNITS])
def test_units(ioc, ca, pva, path, units):
    pv = ioc.pv(path)
    assert ca.get(f"{pv}.EGU") == units
    assert pva.raw(pv)["display.units"] == units


PRECISION = [
    ("Types.LimitedFloat", 3),
    ("Thermal.Temperature", 2),
    ("Thermal.Heater", 1),
    ("Thermal.Threshold", 3),
]


@pytest.mark.parametrize(("path", "prec"), PRECISION, ids=[p[0] for p in PRECISION])
def test_precision_from_display_format(ioc, ca, pva, path, prec):
    pv = ioc.pv(path)
    assert ca.get(f"{pv}.PREC") == prec
    assert pva.raw(pv)["display.precision"] == prec


# (path, low, high): the type's range narrowed by minimum/maximum.
RANGES = [
    ("Types.LimitedInt", -10, 100),
    ("Types.LimitedFloat", -1.5, 2.5),
    ("Thermal.Heater", -100, 100),
    ("Thermal.Threshold", 0, 150),
    ("SimControl.SlowLatency", 0, 10),
    ("Types.UInt16", 0, 65535),
    ("Types.Int8", -128, 127),
    ("Types.UInt32", 0, 2**32 - 1),
    ("Adc.Trim", 0, 4095),
    ("Adc.Channel", 0, 7),
]


@pytest.mark.parametrize(("path", "low", "high"), RANGES, ids=[r[0] for r in RANGES])
def test_display_range(ioc, ca, pva, path, low, high):
    pv = ioc.pv(path)
    assert (ca.get(f"{pv}.LOPR"), ca.get(f"{pv}.HOPR")) == (low, high)
    raw = pva.raw(pv)
    assert (raw["display.limitLow"], raw["display.limitHigh"]) == (low, high)


@pytest.mark.parametrize(("path", "low", "high"), RANGES, ids=[r[0] for r in RANGES])
def test_no_drive_limits_so_out_of_range_puts_are_refused_not_clamped(
    ioc, ca, pva, path, low, high
):
    """DRVL/DRVH stay unset (0, 0): EPICS would clamp a put to them before the IOC sees it.

    The range is published as LOPR/HOPR (test_display_range) and enforced by refusing the put.
    """
    pv = ioc.pv(path)
    assert (ca.get(f"{pv}.DRVL"), ca.get(f"{pv}.DRVH")) == (0, 0)
    before = pva.get(pv)
    assert pva.put_refused(pv, high + 1)
    assert same(pva.get(pv), before)


# (path, LOLO, LOW, HIGH, HIHI)
ALARM_LIMITS = [
    ("Types.LimitedFloat", -1.0, -0.5, 1.5, 2.0),
    ("Thermal.Temperature", 0.0, 10.0, 60.0, 80.0),
]
SEVERITY_NUMBERS = {"NO_ALARM": 0, "MINOR": 1, "MAJOR": 2, "INVALID": 3}


@pytest.mark.parametrize("limits", ALARM_LIMITS, ids=[a[0] for a in ALARM_LIMITS])
def test_alarm_limits(ioc, ca, pva, limits):
    path, lolo, low, high, hihi = limits
    pv = ioc.pv(path)
    expected = {"LOLO": lolo, "LOW": low, "HIGH": high, "HIHI": hihi}
    assert {name: ca.get(f"{pv}.{name}") for name in expected} == expected
    severities = {"LLSV": "MAJOR", "LSV": "MINOR", "HSV": "MINOR", "HHSV": "MAJOR"}
    assert {name: ca.get(f"{pv}.{name}", as_string=True) for name in severities} == severities
    alarm = pva.raw(pv)["valueAlarm"]
    assert (
        alarm["lowAlarmLimit"], alarm["lowWarningLimit"], alarm["highWarningLimit"],
        alarm["highAlarmLimit"],
    ) == (lolo, low, high, hihi)  # fmt: skip
    # QSRV2 leaves valueAlarm's severities at 0 whatever LLSV..HHSV say: checked on CA only.


def test_no_alarm_limits_no_alarm_severities(ioc, ca):
    pv = ioc.pv("Types.LocalFloat")
    for name in ("LLSV", "LSV", "HSV", "HHSV"):
        assert ca.get(f"{pv}.{name}", as_string=True) == "NO_ALARM", name


def test_description(ioc, ca, pva):
    pv = ioc.pv("Time")
    assert ca.get(f"{pv}.DESC") == "Current Time In Seconds Since EPOCH UTC"
    assert pva.raw(pv)["display.description"] == "Current Time In Seconds Since EPOCH UTC"


def test_no_record_left_undefined(ioc, ca):
    """Every Out record starts with a value: none sits in UDF/INVALID."""
    for path in ("Types.LocalInt", "Types.String32", "Types.FloatArray", "Cmd.Ping", "Cmd.Scale",
                 "Cmd.SaveConfig", "Types.SmallEnum", "Types.List", "Thermal.Heater"):  # fmt: skip
        assert ca.get(f"{ioc.pv(path)}.STAT", as_string=True) != "UDF", path


# --- alarms follow the VariableValue -------------------------------------------------------------

# Temperature = 25 + Heater ± 2; limits 0 / 10 / 60 / 80.
HEATER_STEPS = [
    (70.0, "HIHI", "MAJOR"),
    (50.0, "HIGH", "MINOR"),
    (-20.0, "LOW", "MINOR"),
    (-30.0, "LOLO", "MAJOR"),
    (0.0, "NO_ALARM", "NO_ALARM"),
]


def test_alarms_follow_the_tree_on_an_in_record(ioc, ca, pva):
    heater, temperature = ioc.pv("Thermal.Heater"), ioc.pv("Thermal.Temperature")
    subscriptions = {"CA": ca.monitor(temperature), "PVA": pva.monitor(temperature)}
    try:
        for setting, status, severity in HEATER_STEPS:
            ca.put(heater, setting)
            for name, updates in subscriptions.items():
                update = updates.wait(
                    lambda u, s=status, v=severity: (u.status, u.severity) == (s, v),
                    timeout=5,
                    what=f"{name} {status}/{severity} after Heater={setting}",
                )
                assert abs(update.value - (25 + setting)) <= 2.5, update
            assert ca.alarm(temperature) == (status, severity)
    finally:
        ca.put(heater, 0.0)


LIMITED_FLOAT_STEPS = [
    (2.2, "HIHI", "MAJOR"),
    (1.7, "HIGH", "MINOR"),
    (-0.7, "LOW", "MINOR"),
    (-1.2, "LOLO", "MAJOR"),
    (0.0, "NO_ALARM", "NO_ALARM"),
]


@pytest.mark.parametrize("protocol", ["ca", "pva"])
def test_alarms_follow_the_tree_on_an_out_record(ioc, ca, pva, protocol):
    pv = ioc.pv("Types.LimitedFloat")
    client = ca if protocol == "ca" else pva
    subscriptions = {"CA": ca.monitor(pv), "PVA": pva.monitor(pv)}
    for value, status, severity in LIMITED_FLOAT_STEPS:
        client.put(pv, value)
        for name, updates in subscriptions.items():
            updates.wait(
                lambda u, v=value, s=status, sv=severity: (
                    same(u.value, v) and (u.status, u.severity) == (s, sv)
                ),
                what=f"{name} {status}/{severity} at {value}",
            )
        wait_for(lambda s=status, sv=severity: ca.alarm(pv) == (s, sv), what=f"CA {status}")
        assert pva.alarm(pv) == (status, severity)


# --- edge cases served from a custom Root -------------------------------------------------------


def test_description_cut_to_40_characters(edge_ioc, ca, pva_of):
    from .roots import LONG_DESCRIPTION

    pv = edge_ioc.pv("Edge.Described")
    # DESC$: the whole field as a char array (a CA DBR_STRING holds only 39 characters).
    assert ca.text(f"{pv}.DESC$") == LONG_DESCRIPTION[:40]
    assert pva_of(edge_ioc).raw(pv)["display.description"] == LONG_DESCRIPTION[:40]


def test_uint64_above_int64_is_served_exactly(edge_ioc, ca, pva_of):
    """2**64-1 fits no EPICS number: it is served as its display text, exact and NO_ALARM."""
    pv = edge_ioc.pv("Edge.HugeUInt64")
    assert ca.get(f"{pv}.SEVR", as_string=True) == "NO_ALARM"
    assert ca.text(pv) == hex(2**64 - 1)
    assert pva_of(edge_ioc).get(pv) == hex(2**64 - 1)
