"""Record kinds and value ranges: every pyrogue type row as CA and PVA clients see it."""

from __future__ import annotations

import pytest

from .support import same

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
CA_EXACT = 2**53
"""CA has no 64-bit integer type: int64 records travel as doubles, exact up to 2**53."""

BOOL_FIELDS = {"ZNAM": "False", "ONAM": "True"}


def text_fields(min_nelm: int) -> dict[str, object]:
    """A string PV: a char waveform (softioc's longString records) with room for the text."""
    return {"FTVL": "CHAR", "NELM>=": min_nelm}


def growing_fields(ftvl: str, length: int) -> dict[str, object]:
    """An array a LocalVariable holds (its length may change): NELM is its capacity, NORD the
    current length."""
    return {"FTVL": ftvl, "NELM>=": length + 1, "NORD": length}


def array_fields(ftvl: str, length: int) -> dict[str, object]:
    """An array PV: NELM has one spare element (so an overlong CA put arrives overlong and is
    refused instead of being cut to size by the server); NORD, what clients get, is the length.
    """
    return {"FTVL": ftvl, "NELM": length + 1, "NORD": length}


# (path, RTYP, CA fields); "NELM>=" asks for at least that many elements.
RECORD_KINDS = [
    ("Types.Bool", "bo", BOOL_FIELDS),
    ("Types.RemBool", "bo", BOOL_FIELDS),
    ("Types.UInt8", "longout", {}),
    ("Types.UInt16", "longout", {}),
    ("Types.UInt31", "longout", {}),
    ("Types.UInt32", "int64out", {}),
    ("Types.UInt48", "int64out", {}),
    ("Types.UInt64", "waveform", text_fields(len(hex(2**64 - 1)) + 2)),
    ("Types.Int8", "longout", {}),
    ("Types.Int16", "longout", {}),
    ("Types.Int32", "longout", {}),
    ("Types.Int64", "int64out", {}),
    ("Types.UIntBE32", "int64out", {}),
    ("Types.Float32", "ao", {}),
    ("Types.Double64", "ao", {}),
    ("Types.String32", "waveform", text_fields(32)),
    ("Types.LocalInt", "longout", {}),
    ("Types.LocalFloat", "ao", {}),
    ("Types.LocalStr", "waveform", text_fields(4096)),
    ("Types.LimitedInt", "longout", {}),
    ("Types.LimitedFloat", "ao", {}),
    ("Types.SmallEnum", "mbbo", {}),
    ("Types.BigEnum", "waveform", text_fields(len("Label19") + 1)),
    (
        "Types.LongLabelEnum",
        "waveform",
        text_fields(len("ThisLabelIsLongerThanTwentyFiveCharacters") + 1),
    ),
    ("Types.FloatArray", "waveform", growing_fields("DOUBLE", 8)),
    ("Types.IntArray", "waveform", array_fields("ULONG", 4)),
    ("Types.List", "waveform", text_fields(len("[1, 2, 3]") + 1)),
    ("Types.Dict", "waveform", text_fields(len("{'a': 1}") + 1)),
    ("Types.RoInt", "longin", {}),
    ("Time", "ai", {}),
    ("Version.FpgaVersion", "int64in", {}),
    ("Version.ScratchPad", "int64out", {}),
    ("Version.UpTimeCnt", "int64in", {}),
    ("Version.DeviceDna", "waveform", text_fields(len(hex(2**64 - 1)) + 2)),
    ("Version.BuildStamp", "waveform", text_fields(64)),
    ("Thermal.Temperature", "ai", {}),
    ("Thermal.Heater", "ao", {}),
    ("Thermal.Threshold", "ao", {}),
    ("Thermal.Mode", "mbbo", {}),
    ("Adc.Waveform", "waveform", growing_fields("DOUBLE", 8)),
    ("Adc.Gain", "mbbo", {}),
    ("Adc.Enable", "bo", BOOL_FIELDS),
    ("Adc.Channel", "longout", {}),
    ("Adc.Range", "longout", {}),
    ("Adc.Trim", "longout", {}),
    ("Adc.InputSelect", "waveform", text_fields(len("Input19") + 1)),
    ("Adc.Samples", "waveform", array_fields("ULONG", 4)),
    ("Cmd.Count", "longout", {}),
    ("Cmd.CallCount", "longin", {}),
    ("Cmd.LastArg", "waveform", text_fields(64)),
    ("SimControl.ReadFault", "bo", BOOL_FIELDS),
    ("SimControl.SlowLatency", "ao", {}),
    ("Faulty.Reg0", "int64out", {}),
    ("Faulty.Reg1", "int64in", {}),
    ("Slow.Reg", "int64out", {}),
    ("Identity.FdSerial", "waveform", text_fields(len(hex(2**64 - 1)) + 2)),
    ("Identity.DeviceDna", "waveform", text_fields(len(hex(2**128 - 1)) + 2)),
    ("Identity.GitHash", "waveform", text_fields(len(hex(2**160 - 1)) + 2)),
    ("Identity.UserId", "waveform", text_fields(len(hex(2**128 - 1)) + 2)),
    ("Stream.Data", "waveform", {"FTVL": "UCHAR", "NELM>=": 64 * 1024}),
    ("Shapes.Int64Array", "waveform", growing_fields("INT64", 4)),
    ("Shapes.UInt64Array", "waveform", growing_fields("UINT64", 3)),
    ("Shapes.Matrix", "waveform", growing_fields("FLOAT", 12)),
    ("SystemLog", "waveform", text_fields(1024 * 1024)),
    ("SystemLogLast", "waveform", text_fields(16 * 1024)),
]


@pytest.mark.parametrize(("path", "rtyp", "fields"), RECORD_KINDS, ids=[k[0] for k in RECORD_KINDS])
def test_record_kind(ioc, ca, path, rtyp, fields):
    pv = ioc.pv(path)
    assert ca.get(f"{pv}.RTYP") == rtyp
    for name, expected in fields.items():
        if name.endswith(">="):
            assert ca.get(f"{pv}.{name[:-2]}") >= expected, name
        elif isinstance(expected, str):
            assert ca.get(f"{pv}.{name}", as_string=True) == expected, name
        else:
            assert ca.get(f"{pv}.{name}") == expected, name


# (path, PVA value type code): NTScalar/NTScalarArray value types; None = NTEnum.
PVA_TYPES = [
    ("Types.Bool", None),
    ("Types.UInt16", "i"),
    ("Types.UInt32", "l"),
    ("Types.UInt64", "s"),
    ("Identity.GitHash", "s"),
    ("Shapes.Int64Array", "al"),
    ("Shapes.UInt64Array", "aL"),
    ("Shapes.Matrix", "af"),
    ("Stream.Data", "aB"),
    ("SystemLog", "s"),
    ("Types.Int64", "l"),
    ("Types.Float32", "d"),
    ("Types.String32", "s"),
    ("Types.LocalStr", "s"),
    ("Types.SmallEnum", None),
    ("Types.BigEnum", "s"),
    ("Types.FloatArray", "ad"),
    ("Types.IntArray", "aI"),
    ("Types.List", "s"),
    ("Version.BuildStamp", "s"),
    ("Adc.Waveform", "ad"),
]


@pytest.mark.parametrize(("path", "code"), PVA_TYPES, ids=[t[0] for t in PVA_TYPES])
def test_pva_value_type(ioc, pva, path, code):
    raw = pva.raw(ioc.pv(path))
    if code is None:
        assert raw.getID().startswith("epics:nt/NTEnum:")
    else:
        assert raw.getID().startswith("epics:nt/NTScalar")
        assert raw.type()["value"] == code


MBB_STATES = [
    ("Types.SmallEnum", ["Zero", "One", "Five", "Ten"]),
    ("Thermal.Mode", ["Off", "Auto", "Manual"]),
    ("Adc.Gain", ["x1", "x2", "x4", "x8"]),
    ("Types.Bool", ["False", "True"]),
]
MBB_FIELDS = ("ZRST", "ONST", "TWST", "THST", "FRST", "FVST", "SXST", "SVST")


@pytest.mark.parametrize(("path", "labels"), MBB_STATES, ids=[m[0] for m in MBB_STATES])
def test_enum_states_in_dict_order(ioc, ca, pva, path, labels):
    pv = ioc.pv(path)
    assert pva.raw(pv)["value.choices"] == labels
    if path == "Types.Bool":
        return  # bo: ZNAM/ONAM, checked in test_record_kind
    for field, label in zip(MBB_FIELDS, [*labels, ""], strict=False):
        assert ca.get(f"{pv}.{field}", as_string=True) == label, field


ENUM_LABELS = {
    "Types.BigEnum": [f"Label{i:02d}" for i in range(20)],
    "Types.LongLabelEnum": ["Short", "ThisLabelIsLongerThanTwentyFiveCharacters"],
    "Adc.InputSelect": [f"Input{i:02d}" for i in range(20)],
}


@pytest.mark.parametrize("path", ENUM_LABELS)
def test_enum_over_16_labels_or_long_labels_hold_the_label(ioc, ca, pva, path):
    label = ca.text(ioc.pv(path))
    assert label in ENUM_LABELS[path]
    assert pva.get(ioc.pv(path)) == label


def test_fixed_register_values(ioc, ca, pva):
    assert ca.get(ioc.pv("Version.FpgaVersion")) == 0x01020304
    assert pva.get(ioc.pv("Version.FpgaVersion")) == 0x01020304
    # A UInt64 is served as pyrogue's display text: exact on both protocols.
    assert pva.get(ioc.pv("Version.DeviceDna")) == "0x123456789abcdef"
    assert ca.text(ioc.pv("Version.DeviceDna")) == "0x123456789abcdef"
    assert ca.text(ioc.pv("Version.BuildStamp")).startswith("rogue-ioc simulator")
    assert pva.get(ioc.pv("Version.BuildStamp")).startswith("rogue-ioc simulator")


def test_arrays_have_their_shape(ioc, ca, pva):
    for path, length in (("Types.FloatArray", 8), ("Types.IntArray", 4), ("Adc.Waveform", 8)):
        assert len(ca.get(ioc.pv(path))) == length, path
        assert len(pva.get(ioc.pv(path))) == length, path


# --- integer ranges: every width holds its whole range and refuses one past each end -----------

# (path, lowest, highest, record width)
INT_RANGES = [
    ("Types.UInt8", 0, 2**8 - 1, "int32"),
    ("Types.UInt16", 0, 2**16 - 1, "int32"),
    ("Types.UInt31", 0, 2**31 - 1, "int32"),
    ("Types.UInt32", 0, 2**32 - 1, "int64"),
    ("Types.UInt48", 0, 2**48 - 1, "int64"),
    ("Types.Int8", -(2**7), 2**7 - 1, "int32"),
    ("Types.Int16", -(2**15), 2**15 - 1, "int32"),
    ("Types.Int32", -(2**31), 2**31 - 1, "int32"),
    ("Types.Int64", -(2**63), 2**63 - 1, "int64"),
    ("Types.UIntBE32", 0, 2**32 - 1, "int64"),
    ("Types.LimitedInt", -10, 100, "int32"),
    ("Adc.Channel", 0, 7, "int32"),
    ("Adc.Range", 0, 3, "int32"),
    ("Adc.Trim", 0, 4095, "int32"),
    ("Cmd.Count", -(2**31), 2**31 - 1, "int32"),
]


def carries(protocol: str, width: str, value: int) -> bool:
    """True when a client of ``protocol`` can send ``value`` to a record of ``width`` exactly."""
    if protocol == "pva" or width == "int32":
        low, high = INT32 if width == "int32" else INT64
        return low <= value <= high
    return abs(value) <= CA_EXACT


def range_cases(accepted: bool) -> list:
    cases = []
    for path, low, high, width in INT_RANGES:
        values = (low, high) if accepted else (low - 1, high + 1)
        for protocol in ("ca", "pva"):
            for value in values:
                if carries(protocol, width, value):
                    cases.append(
                        pytest.param(path, value, protocol, id=f"{path}={value}-{protocol}")
                    )
    return cases


@pytest.mark.parametrize(("path", "value", "protocol"), range_cases(accepted=True))
def test_whole_integer_range_accepted(ioc, ca, pva, path, value, protocol):
    pv = ioc.pv(path)
    width = next(r[3] for r in INT_RANGES if r[0] == path)
    (ca if protocol == "ca" else pva).put(pv, value)
    assert pva.get(pv) == value
    if carries("ca", width, value):
        assert same(ca.get(pv), value)
    assert ca.alarm(pv) == ("NO_ALARM", "NO_ALARM")


@pytest.mark.parametrize(("path", "value", "protocol"), range_cases(accepted=False))
def test_integer_one_past_the_range_refused(ioc, ca, pva, path, value, protocol):
    pv = ioc.pv(path)
    before = pva.get(pv)
    if protocol == "ca":
        ca.put_refused(pv, value)
    else:
        pva.put_refused(pv, value)
    assert pva.get(pv) == before
    assert ca.alarm(pv) == ("WRITE", "INVALID")
