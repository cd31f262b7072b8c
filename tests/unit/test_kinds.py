"""Unit tests for ioc.kinds: the type table, the bound converters and the metadata.

``resolve`` only builds closures, so no record is created and no IOC runs here. ``FakeVar`` is a
stand-in for a tree Variable/Command with just the attributes kinds.py reads.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from softioc import builder

from ioc import capacity
from ioc.capacity import Capacities
from ioc.kinds import (
    INT32,
    INT64,
    UnservableValue,
    description,
    integer_range,
    precision,
    resolve,
)
from ioc.validation import PutRejected

#: Sizes of the EPICS string fields the metadata lands in, in bytes without the NUL.
EGU_SIZE = 15
DESC_SIZE = 40
MBB_LABEL_SIZE = 25


@dataclass
class FakeVar:
    """A tree Variable (or Command, with ``isCommand``) reduced to what kinds.py reads."""

    typeStr: str
    enum: dict | None = None
    disp: str = "{}"
    units: str | None = None
    minimum: Any = None
    maximum: Any = None
    lowAlarm: Any = None
    lowWarning: Any = None
    highWarning: Any = None
    highAlarm: Any = None
    isCommand: bool = False
    arg: bool = False
    mode: str = "RW"
    description: str = ""
    value: Any = 0
    path: str = "root.Dev.Var"

    def get(self, read: bool = True) -> Any:
        return self.value

    def getVariableValue(self, read: bool = True) -> FakeValue:
        return FakeValue(self.value, self.disp.format(self.value))

    def genDisp(self, value: Any) -> str:
        return self.disp.format(value)

    def parseDisp(self, text: str) -> Any:
        return ast.literal_eval(text)


@dataclass
class FakeValue:
    """A VariableValue: the value and its display text."""

    value: Any
    valueDisp: str = ""


class RemoteVariable(FakeVar):
    """A FakeVar that is a RemoteVariable by class name: its array length is fixed."""


def command(typeStr: str = "int", arg: bool = True, value: Any = 0) -> FakeVar:
    return FakeVar(typeStr=typeStr, isCommand=True, arg=arg, value=value)


def labels(count: int, width: int = 5) -> dict[int, str]:
    """An enum of ``count`` distinct labels of ``width`` characters with keys 0, 3, 6, ..."""
    return {3 * i: f"S{i:0{width - 1}d}" for i in range(count)}


def states(enum: dict) -> dict[str, Any]:
    """The mbbi/mbbo state fields of ``enum``: labels in the enum's order, values 0..n-1."""
    prefixes = ("ZR", "ON", "TW", "TH", "FR", "FV", "SX", "SV", "EI", "NI", "TE", "EL", "TV")
    prefixes += ("TT", "FT", "FF")
    result: dict[str, Any] = {}
    for position, label in enumerate(enum.values()):
        result |= {f"{prefixes[position]}ST": label, f"{prefixes[position]}VL": position}
    return result


def rng(low: int, high: int) -> dict[str, int]:
    return {"LOPR": low, "HOPR": high}


BOOL_ENUM = {False: "False", True: "True"}
BOOL_FIELDS = {"ZNAM": "False", "ONAM": "True"}
SPARSE = {5: "Off", 10: "Low", 20: "High", -3: "Fault"}
TEXT = {"length": capacity.TEXT}
U32 = rng(0, 2**32 - 1)

LONG = "longin/longout"
INT64_KIND = "int64in/int64out"
AI = "ai/ao"
BI = "bi/bo"
MBB = "mbbi/mbbo"
LABEL = "lsi/lso (enum label)"
STRING = "lsi/lso"
WAVE = "waveform"
DISPLAY = "lsi/lso (display text)"
WIDE = "lsi/lso (integer text)"
GROWING_FLOATS = capacity.GROWING_ARRAY // 8
TRIGGER = "longin/longout (trigger)"

#: (In maker, Out maker, writes_text, alarms) of every kind whose makers are builder functions.
FLOAT_FIELDS = {"UDFS": "NO_ALARM"}
"""Every ai/ao: NaN is a value, not EPICS's undefined (whose alarm is INVALID by default)."""

KIND_TRAITS = {
    LONG: (builder.longIn, builder.longOut, False, "integer"),
    INT64_KIND: (builder.int64In, builder.int64Out, False, "integer"),
    AI: (builder.aIn, builder.aOut, False, "real"),
    BI: (builder.boolIn, builder.boolOut, False, "state"),
    MBB: (builder.mbbIn, builder.mbbOut, False, "state"),
    LABEL: (builder.longStringIn, builder.longStringOut, True, "text"),
    STRING: (builder.longStringIn, builder.longStringOut, False, "text"),
    WAVE: (builder.WaveformIn, builder.WaveformOut, False, "array"),
    DISPLAY: (builder.longStringIn, builder.longStringOut, False, "text"),
    WIDE: (builder.longStringIn, builder.longStringOut, False, "text"),
    TRIGGER: (builder.longIn, builder.longOut, False, "integer"),
}

ALARMS = {
    "lowAlarm": -5,
    "lowWarning": 0,
    "highWarning": 80,
    "highAlarm": 90,
}
ALARM_FIELDS = {
    "LOLO": -5,
    "LLSV": "MAJOR",
    "LOW": 0,
    "LSV": "MINOR",
    "HIGH": 80,
    "HSV": "MINOR",
    "HIHI": 90,
    "HHSV": "MAJOR",
}

# --- the type table -----------------------------------------------------------------------------

TABLE = [
    # Bool
    pytest.param(FakeVar("Bool", enum=BOOL_ENUM), BI, BOOL_FIELDS, id="Bool"),
    pytest.param(FakeVar("bool"), BI, BOOL_FIELDS, id="bool"),
    pytest.param(FakeVar("BoolBE", enum=BOOL_ENUM), BI, BOOL_FIELDS, id="BoolBE"),
    # integers that fit int32
    pytest.param(FakeVar("UInt1"), LONG, rng(0, 1), id="UInt1"),
    pytest.param(FakeVar("UInt8"), LONG, rng(0, 255), id="UInt8"),
    pytest.param(FakeVar("UInt16"), LONG, rng(0, 65535), id="UInt16"),
    pytest.param(FakeVar("UInt31"), LONG, rng(0, 2**31 - 1), id="UInt31"),
    pytest.param(FakeVar("Int1"), LONG, rng(-1, 0), id="Int1"),
    pytest.param(FakeVar("Int32"), LONG, rng(*INT32), id="Int32"),
    pytest.param(FakeVar("int"), LONG, rng(*INT32), id="int"),
    pytest.param(FakeVar("IntBE16"), LONG, rng(-32768, 32767), id="IntBE16"),
    pytest.param(FakeVar("Int16BE"), LONG, rng(-32768, 32767), id="Int16BE"),
    pytest.param(
        FakeVar("UInt12", units="counts", minimum=10, maximum=4000, **ALARMS),
        LONG,
        {"EGU": "counts", **rng(10, 4000), **ALARM_FIELDS},
        id="UInt12-limits-units-alarms",
    ),
    pytest.param(FakeVar("UInt8", minimum=-50, maximum=1000), LONG, rng(0, 255), id="UInt8-wide"),
    pytest.param(FakeVar("Int8", minimum=3, maximum=3), LONG, {}, id="Int8-single-value"),
    # integers that need int64
    pytest.param(FakeVar("UInt32"), INT64_KIND, U32, id="UInt32"),
    pytest.param(FakeVar("UIntBE32"), INT64_KIND, U32, id="UIntBE32"),
    pytest.param(FakeVar("UInt32BE"), INT64_KIND, U32, id="UInt32BE"),
    pytest.param(FakeVar("UInt33"), INT64_KIND, rng(0, 2**33 - 1), id="UInt33"),
    pytest.param(FakeVar("UInt63"), INT64_KIND, rng(0, 2**63 - 1), id="UInt63"),
    # integers wider than int64: display text
    pytest.param(FakeVar("UInt64"), WIDE, {"length": 69}, id="UInt64"),
    pytest.param(FakeVar("UInt128"), WIDE, {"length": 133}, id="UInt128"),
    pytest.param(FakeVar("UInt160"), WIDE, {"length": 165}, id="UInt160"),
    pytest.param(FakeVar("Int65"), WIDE, {"length": 70}, id="Int65"),
    pytest.param(FakeVar("Int33"), INT64_KIND, rng(-(2**32), 2**32 - 1), id="Int33"),
    pytest.param(FakeVar("Int64"), INT64_KIND, rng(*INT64), id="Int64"),
    pytest.param(
        FakeVar("UInt63", units="ns", maximum=10**12, highAlarm=10**11),
        INT64_KIND,
        {"EGU": "ns", **rng(0, 10**12), "HIHI": 10**11, "HHSV": "MAJOR"},
        id="UInt63-limits",
    ),
    # floats
    pytest.param(
        FakeVar("Float32", disp="{:.3f}", units="degC", minimum=-10.0, maximum=100.0, **ALARMS),
        AI,
        {"EGU": "degC", "LOPR": -10.0, "HOPR": 100.0, "PREC": 3, **FLOAT_FIELDS, **ALARM_FIELDS},
        id="Float32-full",
    ),
    pytest.param(FakeVar("Float64"), AI, {"PREC": 6, **FLOAT_FIELDS}, id="Float64"),
    pytest.param(
        FakeVar("Double64", disp="{:.2e}"), AI, {"PREC": 2, **FLOAT_FIELDS}, id="Double64"
    ),
    pytest.param(FakeVar("float", disp="{:f}"), AI, {"PREC": 6, **FLOAT_FIELDS}, id="float"),
    pytest.param(FakeVar("Float16", disp="{:.1f}"), AI, {"PREC": 1, **FLOAT_FIELDS}, id="Float16"),
    pytest.param(FakeVar("BFloat16"), AI, {"PREC": 6, **FLOAT_FIELDS}, id="BFloat16"),
    pytest.param(FakeVar("TensorFloat32"), AI, {"PREC": 6, **FLOAT_FIELDS}, id="TensorFloat32"),
    pytest.param(FakeVar("Float8"), AI, {"PREC": 6, **FLOAT_FIELDS}, id="Float8"),
    pytest.param(FakeVar("FloatBE32"), AI, {"PREC": 6, **FLOAT_FIELDS}, id="FloatBE32"),
    pytest.param(FakeVar("Float32BE"), AI, {"PREC": 6, **FLOAT_FIELDS}, id="Float32BE"),
    pytest.param(FakeVar("DoubleBE64"), AI, {"PREC": 6, **FLOAT_FIELDS}, id="DoubleBE64"),
    pytest.param(FakeVar("Double64BE"), AI, {"PREC": 6, **FLOAT_FIELDS}, id="Double64BE"),
    pytest.param(
        FakeVar("Float32", minimum=0.0), AI, {"PREC": 6, **FLOAT_FIELDS}, id="Float32-one-sided"
    ),
    pytest.param(
        FakeVar("Float32", minimum=-3.4e38, maximum=3.4e38),
        AI,
        {"LOPR": -3.4e38, "HOPR": 3.4e38, "PREC": 6, **FLOAT_FIELDS},
        id="Float32-model-range",
    ),
    # enums
    pytest.param(FakeVar("UInt8", enum=SPARSE), MBB, states(SPARSE), id="enum-sparse-keys"),
    pytest.param(FakeVar("int", enum=labels(16, 25)), MBB, states(labels(16, 25)), id="enum-16x25"),
    pytest.param(FakeVar("int", enum=labels(17)), LABEL, {"length": 64}, id="enum-17-labels"),
    pytest.param(
        FakeVar("int", enum={0: "a" * 26, 1: "b"}), LABEL, {"length": 64}, id="enum-26-chars"
    ),
    pytest.param(
        FakeVar("int", enum={0: "a" * 100, 1: "b"}), LABEL, {"length": 102}, id="enum-100-chars"
    ),
    pytest.param(
        FakeVar("str", enum={"x": "X", "y": "Y"}),
        MBB,
        states({"x": "X", "y": "Y"}),
        id="enum-string-keys",
    ),
    # strings
    pytest.param(FakeVar("str", value=""), STRING, TEXT, id="str"),
    pytest.param(FakeVar("String(32)", value=""), STRING, {"length": 33}, id="String(32)"),
    pytest.param(FakeVar("String(1)", value=""), STRING, {"length": 2}, id="String(1)"),
    # arrays
    pytest.param(
        RemoteVariable("float64(8,)"),
        WAVE,
        {"length": 9, "datatype": np.dtype("float64")},
        id="float64(8,)",
    ),
    pytest.param(
        RemoteVariable("uint32(4,)"),
        WAVE,
        {"length": 5, "datatype": np.dtype("uint32")},
        id="uint32(4,)",
    ),
    pytest.param(
        RemoteVariable("int16(3,)"),
        WAVE,
        {"length": 4, "datatype": np.dtype("int16")},
        id="int16(3,)",
    ),
    pytest.param(
        RemoteVariable("int8(2,)"), WAVE, {"length": 3, "datatype": np.dtype("int8")}, id="int8(2,)"
    ),
    pytest.param(
        RemoteVariable("uint8(1,)"),
        WAVE,
        {"length": 2, "datatype": np.dtype("uint8")},
        id="uint8(1,)",
    ),
    pytest.param(
        RemoteVariable("uint16(6,)"),
        WAVE,
        {"length": 7, "datatype": np.dtype("uint16")},
        id="uint16(6,)",
    ),
    pytest.param(
        RemoteVariable("int32(5,)"),
        WAVE,
        {"length": 6, "datatype": np.dtype("int32")},
        id="int32(5,)",
    ),
    pytest.param(
        RemoteVariable("float32(16,)"),
        WAVE,
        {"length": 17, "datatype": np.dtype("float32")},
        id="float32(16,)",
    ),
    pytest.param(
        RemoteVariable("int64(4,)"),
        WAVE,
        {"length": 5, "datatype": np.dtype("int64")},
        id="int64(4,)",
    ),
    pytest.param(
        FakeVar("float64(8,)"),
        WAVE,
        {"length": GROWING_FLOATS, "datatype": np.dtype("float64")},
        id="growing-float64(8,)",
    ),
    pytest.param(
        FakeVar("UInt8[np]", value=np.zeros(1, np.uint8)),
        WAVE,
        {"length": capacity.GROWING_ARRAY, "datatype": np.dtype("uint8")},
        id="stream-receiver-data",
    ),
    pytest.param(
        FakeVar("int64(4,)", value=np.array([1, 2, 3, 4])),
        WAVE,
        {"length": capacity.GROWING_ARRAY // 8, "datatype": np.dtype("int64")},
        id="local-int64(4,)",
    ),
    pytest.param(
        FakeVar("float32(3, 4)", value=np.zeros((3, 4), np.float32)),
        WAVE,
        {"length": capacity.GROWING_ARRAY // 4, "datatype": np.dtype("float32")},
        id="float32(3, 4)",
    ),
    # display text
    pytest.param(
        FakeVar("bool(2,)", value=np.zeros(2, bool)), DISPLAY, TEXT, id="bool-array-unserved"
    ),
    pytest.param(FakeVar("list", value=[1, "a"]), DISPLAY, TEXT, id="list"),
    pytest.param(FakeVar("dict", value={"a": 1}), DISPLAY, TEXT, id="dict"),
    pytest.param(FakeVar("NoneType", value=None), DISPLAY, TEXT, id="NoneType"),
    # commands
    pytest.param(command(arg=False), TRIGGER, {}, id="command-no-arg"),
    pytest.param(command("str", arg=False), TRIGGER, {}, id="command-no-arg-str-value"),
    pytest.param(command("int"), LONG, rng(*INT32), id="command-int"),
    pytest.param(command("float", value=0.0), AI, {"PREC": 6, **FLOAT_FIELDS}, id="command-float"),
    pytest.param(command("str", value=""), STRING, TEXT, id="command-str"),
    pytest.param(command("bool", value=False), BI, BOOL_FIELDS, id="command-bool"),
]


@pytest.mark.parametrize(("var", "kind", "fields"), TABLE)
def test_resolve_table(var: FakeVar, kind: str, fields: dict[str, Any]) -> None:
    mapping = resolve(var)
    assert mapping.kind == kind
    assert mapping.fields == fields
    if kind in KIND_TRAITS:
        make_in, make_out, writes_text, sent = KIND_TRAITS[kind]
        assert mapping.make_in is make_in
        assert mapping.make_out is make_out
        assert mapping.writes_text is writes_text
        assert mapping.sent == sent


# --- shared mappings ---------------------------------------------------------------------------

_ALIKE = {"typeStr": "UInt32", "disp": "{:d}", "units": "mA", "minimum": 1, "maximum": 9}


@pytest.mark.parametrize(
    "var",
    [
        FakeVar("float", value=0.5, disp="{:.3f}", units="V", highAlarm=3.0),
        FakeVar("UInt32", minimum=2, maximum=7),
        FakeVar("int", enum={0: "Off", 1: "On"}),
        FakeVar("str", value="x", path="root.A.Text"),
        FakeVar("String(12)", value="x"),
        FakeVar("bool", value=True),
        command(arg=False),
    ],
    ids=lambda var: var.typeStr,
)
def test_alike_scalar_variables_share_one_mapping(var: FakeVar) -> None:
    twin = FakeVar(**{**var.__dict__, "path": var.path + "Twin", "description": "other"})
    if var.typeStr == "str":
        twin.path = var.path  # a str's capacity is looked up by path
    assert resolve(twin) is resolve(var)


@pytest.mark.parametrize(
    ("attribute", "other"),
    [
        ("typeStr", "UInt16"),
        ("disp", "{:x}"),
        ("units", "A"),
        ("minimum", 0),
        ("minimum", 1.5),
        ("maximum", 8),
        ("highAlarm", 5),
        ("highWarning", 4),
        ("lowWarning", 2),
        ("lowAlarm", 1),
        ("enum", {0: "A", 1: "B"}),
    ],
)
def test_variables_that_differ_do_not_share(attribute: str, other: Any) -> None:
    base = resolve(FakeVar(**_ALIKE))
    changed = FakeVar(**(_ALIKE | {attribute: other}))
    mapping = resolve(changed)
    assert mapping is not base
    assert mapping.fields == resolve(FakeVar(**(_ALIKE | {attribute: other}))).fields


def test_str_capacity_by_path_is_not_shared() -> None:
    capacities = Capacities({"root.Big": 10_000})
    small = resolve(FakeVar("str", value="", path="root.Small"), capacities)
    big = resolve(FakeVar("str", value="", path="root.Big"), capacities)
    assert (small.fields["length"], big.fields["length"]) == (capacity.TEXT, 10_000)


def test_value_dependent_mappings_are_not_shared() -> None:
    arrays = [FakeVar("float64(3,)", value=np.zeros(n)) for n in (3, 3)]
    assert resolve(arrays[0]) is not resolve(arrays[1])
    lists = [FakeVar("list", value=[1]), FakeVar("list", value=object())]
    assert resolve(lists[0]).writable and not resolve(lists[1]).writable


def test_unhashable_attribute_is_resolved_unshared() -> None:
    var = FakeVar("float", value=0.0, units=["not", "hashable"])  # type: ignore[arg-type]
    assert resolve(var) is not resolve(var)


@pytest.mark.parametrize("bits", range(1, 32))
def test_unsigned_below_32_bits_is_longin(bits: int) -> None:
    mapping = resolve(FakeVar(f"UInt{bits}"))
    assert mapping.kind == LONG
    assert mapping.fields == rng(0, 2**bits - 1)


@pytest.mark.parametrize("bits", range(2, 33))
def test_signed_up_to_32_bits_is_longin(bits: int) -> None:
    mapping = resolve(FakeVar(f"Int{bits}"))
    assert mapping.kind == LONG
    assert mapping.fields == rng(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


@pytest.mark.parametrize("bits", range(32, 64))
def test_unsigned_from_32_bits_is_int64(bits: int) -> None:
    mapping = resolve(FakeVar(f"UInt{bits}"))
    assert mapping.kind == INT64_KIND
    assert mapping.fields == rng(0, 2**bits - 1)


@pytest.mark.parametrize("bits", range(33, 65))
def test_signed_from_33_bits_is_int64(bits: int) -> None:
    mapping = resolve(FakeVar(f"Int{bits}"))
    assert mapping.kind == INT64_KIND
    assert mapping.fields == rng(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


@pytest.mark.parametrize("var", [FakeVar("UInt12"), FakeVar("Float32", minimum=0, maximum=1)])
def test_no_drive_limits(var: FakeVar) -> None:
    """DRVL/DRVH are left out on purpose: EPICS clamps a put to them before validate sees it,
    which would turn an out-of-range put into a silent clamp (nothing is clamped)."""
    assert not {"DRVL", "DRVH"} & set(resolve(var).fields)


# --- bound converters ----------------------------------------------------------------------------


class TestIntegers:
    @pytest.mark.parametrize("bits", [64, 128, 160])
    def test_wide_unsigned_is_exact_text(self, bits: int) -> None:
        mapping = resolve(FakeVar(f"UInt{bits}", disp="{:#x}"))
        top = 2**bits - 1
        assert mapping.to_record(FakeValue(top, f"{top:#x}")) == f"{top:#x}"
        assert mapping.from_record(f"{top:#x}") == top
        assert mapping.from_record(str(2**63)) == 2**63
        assert mapping.from_record(" 0b101 ") == 5
        for bad in (hex(top + 1), "-1", "0xZZ", "1.5", ""):
            with pytest.raises(PutRejected):
                mapping.from_record(bad)
        with pytest.raises(PutRejected, match="not a string"):
            mapping.from_record(5)

    def test_wide_text_is_hex_when_the_display_is_not_exact(self) -> None:
        mapping = resolve(FakeVar("UInt64", disp="{:.3e}"))
        assert mapping.to_record(FakeValue(2**63 + 1, "9.223e+18")) == hex(2**63 + 1)

    def test_wide_put_respects_minimum_maximum(self) -> None:
        mapping = resolve(FakeVar("UInt128", minimum=2**70, maximum=2**100))
        assert mapping.from_record(hex(2**70)) == 2**70
        for bad in (hex(2**70 - 1), hex(2**100 + 1)):
            with pytest.raises(PutRejected, match="outside"):
                mapping.from_record(bad)

    def test_to_record_gives_plain_ints(self) -> None:
        result = resolve(FakeVar("Int16")).to_record(FakeValue(np.int16(-5)))
        assert result == -5
        assert type(result) is int

    def test_int_above_int32_is_unservable(self) -> None:
        with pytest.raises(UnservableValue):
            resolve(FakeVar("int")).to_record(FakeValue(2**31))

    @pytest.mark.parametrize(
        ("var", "accepted", "rejected"),
        [
            (FakeVar("UInt12", minimum=10, maximum=4000), [10, 4000, 100.0], [9, 4001, 0.5]),
            (FakeVar("UInt8"), [0, 255], [-1, 256]),
            (FakeVar("Int8"), [-128, 127], [-129, 128]),
            (FakeVar("int"), list(INT32), [INT32[0] - 1, INT32[1] + 1]),
            (FakeVar("UInt32"), [0, 2**32 - 1], [-1, 2**32]),
            (FakeVar("Int64"), list(INT64), [INT64[0] - 1, INT64[1] + 1]),
            (FakeVar("UInt63"), [0, 2**63 - 1], [-1, 2**63]),
        ],
        ids=lambda x: x.typeStr if isinstance(x, FakeVar) else None,
    )
    def test_from_record_range(self, var: FakeVar, accepted: list, rejected: list) -> None:
        mapping = resolve(var)
        for value in accepted:
            assert mapping.from_record(value) == value
        for value in rejected:
            with pytest.raises(PutRejected, match=re.escape(str(value))):
                mapping.from_record(value)


class TestFloats:
    def test_limited_float_refuses_nan_and_range(self) -> None:
        mapping = resolve(FakeVar("Float32", minimum=-10.0, maximum=100.0))
        assert mapping.from_record(100) == 100.0
        for value in (float("nan"), float("inf"), 100.5, -11):
            with pytest.raises(PutRejected):
                mapping.from_record(value)

    def test_unlimited_float_takes_inf(self) -> None:
        assert resolve(FakeVar("float")).from_record(float("-inf")) == float("-inf")

    def test_to_record(self) -> None:
        result = resolve(FakeVar("Float32")).to_record(FakeValue(np.float32(0.5)))
        assert result == 0.5
        assert type(result) is float


class TestBool:
    def test_round_trip(self) -> None:
        mapping = resolve(FakeVar("Bool", enum=BOOL_ENUM))
        assert mapping.to_record(FakeValue(True)) == 1
        assert mapping.to_record(FakeValue(False)) == 0
        assert mapping.from_record(1) is True
        assert mapping.from_record(0) is False
        with pytest.raises(PutRejected, match="2"):
            mapping.from_record(2)


class TestMbb:
    def test_index_and_key_round_trip_for_sparse_keys(self) -> None:
        mapping = resolve(FakeVar("Int8", enum=SPARSE))
        for position, key in enumerate(SPARSE):
            assert mapping.to_record(FakeValue(key)) == position
            assert mapping.from_record(position) == key
        assert not mapping.writes_text

    @pytest.mark.parametrize("index", [4, -1, 16, 1.5, "Low"], ids=repr)
    def test_unknown_index_rejected(self, index: object) -> None:
        with pytest.raises(PutRejected, match=re.escape(repr(index).strip("'"))):
            resolve(FakeVar("Int8", enum=SPARSE)).from_record(index)

    @pytest.mark.parametrize("value", [0, 11, None, "Off"], ids=repr)
    def test_value_outside_the_enum_is_unservable(self, value: object) -> None:
        with pytest.raises(UnservableValue, match=re.escape(repr(value))):
            resolve(FakeVar("Int8", enum=SPARSE)).to_record(FakeValue(value))

    def test_sixteen_states(self) -> None:
        enum = labels(16, 25)
        mapping = resolve(FakeVar("int", enum=enum))
        assert mapping.from_record(15) == 45
        with pytest.raises(PutRejected, match=re.escape("0..15")):
            mapping.from_record(16)


class TestEnumLabel:
    ENUM = labels(17)

    def test_label_round_trip(self) -> None:
        mapping = resolve(FakeVar("int", enum=self.ENUM))
        assert mapping.blank == ""
        assert mapping.writes_text
        for key, label in self.ENUM.items():
            shown = mapping.to_record(FakeValue(key))
            assert shown == label
            assert mapping.from_record(shown) == label

    @pytest.mark.parametrize("label", ["S9999", "s0000", "", 0, 3, None], ids=repr)
    def test_unknown_label_rejected(self, label: object) -> None:
        with pytest.raises(PutRejected, match="is not one of the enum labels") as rejected:
            resolve(FakeVar("int", enum=self.ENUM)).from_record(label)
        assert repr(label) in str(rejected.value)

    def test_value_outside_the_enum_is_unservable(self) -> None:
        with pytest.raises(UnservableValue, match="1 is not a key"):
            resolve(FakeVar("int", enum=self.ENUM)).to_record(FakeValue(1))

    def test_longest_label_leaves_room_in_the_buffer(self) -> None:
        """A client's string cut to the buffer is longer than every label, so it is refused."""
        enum = {0: "a" * 100, 1: "b"}
        mapping = resolve(FakeVar("int", enum=enum))
        capacity = mapping.fields["length"]
        assert mapping.from_record("a" * 100) == "a" * 100
        with pytest.raises(PutRejected):
            mapping.from_record("a" * (capacity - 1))


class TestStrings:
    def test_string32_capacity(self) -> None:
        mapping = resolve(FakeVar("String(32)", value=""))
        assert mapping.blank == ""
        assert not mapping.writes_text
        assert mapping.from_record("a" * 31) == "a" * 31
        with pytest.raises(PutRejected):
            mapping.from_record("a" * 32)
        with pytest.raises(PutRejected):
            mapping.from_record("é" * 16)  # 16 characters, 32 bytes

    def test_string32_to_record(self) -> None:
        mapping = resolve(FakeVar("String(32)", value=""))
        assert mapping.to_record(FakeValue("abc")) == "abc"
        assert mapping.to_record(FakeValue("a" * 32)) == "a" * 32
        with pytest.raises(UnservableValue, match="33 bytes"):
            mapping.to_record(FakeValue("a" * 33))

    def test_str_capacity(self) -> None:
        mapping = resolve(FakeVar("str", value=""))
        assert mapping.from_record("a" * 4094) == "a" * 4094
        with pytest.raises(PutRejected, match="4096-byte"):
            mapping.from_record("a" * 4095)
        assert mapping.to_record(FakeValue("a" * 4095)) == "a" * 4095
        with pytest.raises(UnservableValue):
            mapping.to_record(FakeValue("a" * 4096))

    def test_non_string_value_shows_its_display_text(self) -> None:
        mapping = resolve(FakeVar("str", value=""))
        assert mapping.to_record(FakeValue(None, valueDisp="None")) == "None"


class TestWaveform:
    def test_blank_and_to_record(self) -> None:
        mapping = resolve(RemoteVariable("uint32(4,)"))
        np.testing.assert_array_equal(mapping.blank, np.zeros(4, "uint32"))
        assert mapping.blank.dtype == np.dtype("uint32")
        shown = mapping.to_record(FakeValue([1, 2, 3, 4]))
        assert shown.dtype == np.dtype("uint32")
        np.testing.assert_array_equal(shown, [1, 2, 3, 4])

    def test_value_beyond_capacity_is_unservable(self) -> None:
        with pytest.raises(UnservableValue, match="holds 4"):
            resolve(RemoteVariable("uint32(4,)")).to_record(FakeValue(np.arange(6)))

    def test_value_the_record_type_cannot_hold_is_unservable(self) -> None:
        with pytest.raises(UnservableValue, match="does not fit"):
            resolve(RemoteVariable("uint8(2,)")).to_record(FakeValue(np.array([1.5, 2])))

    def test_from_record(self) -> None:
        mapping = resolve(RemoteVariable("float64(8,)"))
        accepted = mapping.from_record(np.arange(8.0))
        np.testing.assert_array_equal(accepted, np.arange(8.0))
        with pytest.raises(PutRejected, match="array of 9 elements, expected exactly 8"):
            mapping.from_record(np.arange(9.0))  # NELM is length + 1
        with pytest.raises(PutRejected, match="expected exactly 8"):
            mapping.from_record(np.arange(7.0))

    def test_int_waveform_rejects_floats_and_out_of_range(self) -> None:
        mapping = resolve(RemoteVariable("uint32(4,)"))
        with pytest.raises(PutRejected, match="not whole numbers"):
            mapping.from_record(np.array([1.5, 2.0, 3.0, 4.0]))
        assert mapping.from_record(np.array([1.0, 2.0, 3.0, 4.0])).tolist() == [1, 2, 3, 4]
        with pytest.raises(PutRejected, match="outside uint32"):
            mapping.from_record(np.array([-1, 0, 0, 0]))

    def test_growing_array_follows_its_length(self) -> None:
        var = FakeVar("UInt8[np]", value=np.zeros(1, np.uint8))
        mapping = resolve(var)
        frame = np.arange(1024) % 256
        np.testing.assert_array_equal(mapping.to_record(FakeValue(frame)), frame)
        var.value = frame.astype(np.uint8)
        assert mapping.from_record(np.arange(1024) % 7).tolist() == (np.arange(1024) % 7).tolist()
        with pytest.raises(PutRejected, match="expected exactly 1024"):
            mapping.from_record(np.arange(3))

    def test_capacity_follows_the_policy(self) -> None:
        var = FakeVar("UInt8[np]", value=np.zeros(1, np.uint8), path="root.Rx.Data")
        mapping = resolve(var, Capacities({"root.*.Data": 4096}))
        assert mapping.fields["length"] == 4096

    def test_n_d_array_is_flattened_and_put_back_in_shape(self) -> None:
        value = np.arange(12, dtype=np.float32).reshape(3, 4)
        mapping = resolve(FakeVar("float32(3, 4)", value=value))
        np.testing.assert_array_equal(mapping.to_record(FakeValue(value)), np.arange(12))
        put = mapping.from_record(np.arange(12.0) * 2)
        assert put.shape == (3, 4)
        assert put.dtype == np.dtype("float32")
        with pytest.raises(PutRejected, match="expected exactly 12"):
            mapping.from_record(np.arange(11.0))

    def test_int64_array_keeps_64_bits(self) -> None:
        mapping = resolve(FakeVar("int64(2,)", value=np.array([1, 2])))
        big = np.array([-(2**63), 2**63 - 1], dtype=np.int64)
        np.testing.assert_array_equal(mapping.to_record(FakeValue(big)), big)
        np.testing.assert_array_equal(mapping.from_record(big), big)


class TestDisplayText:
    def test_round_tripping_list_is_writable(self) -> None:
        mapping = resolve(FakeVar("list", value=[1, "a"]))
        assert mapping.writable
        assert not mapping.writes_text
        assert mapping.blank == ""
        assert mapping.to_record(FakeValue([1, "a"], valueDisp="[1, 'a']")) == "[1, 'a']"
        assert mapping.from_record("[2, 'b']") == [2, "b"]

    def test_unparseable_put_rejected(self) -> None:
        mapping = resolve(FakeVar("dict", value={"a": 1}))
        with pytest.raises(PutRejected, match="not a Python literal") as rejected:
            mapping.from_record("{'a': ")
        assert "{'a': " in str(rejected.value)

    def test_put_of_another_type_rejected(self) -> None:
        mapping = resolve(FakeVar("dict", value={"a": 1}))
        with pytest.raises(PutRejected, match="expected a dict"):
            mapping.from_record("[1]")

    def test_full_buffer_put_rejected(self) -> None:
        mapping = resolve(FakeVar("list", value=[]))
        with pytest.raises(PutRejected, match="may have been cut"):
            mapping.from_record("[" + "1," * 2047 + "]")

    def test_non_round_tripping_value_is_read_only(self) -> None:
        # '{:.1f}' loses digits, so the display text does not give the value back
        assert not resolve(FakeVar("list", disp="{:.1f}", value=1.25)).writable

    def test_odd_value_is_read_only(self) -> None:
        assert not resolve(FakeVar("Figure", value=object())).writable


class TestTrigger:
    def test_any_integer_invokes(self) -> None:
        mapping = resolve(command(arg=False))
        assert mapping.to_record(FakeValue(None)) == 0
        for value in (0, 1, -7, INT32[1]):
            assert mapping.from_record(value) == value
        with pytest.raises(PutRejected):
            mapping.from_record(1.5)


# --- helpers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("disp", "expected"),
    [
        ("{:.3f}", 3),
        ("{:.2e}", 2),
        ("{:10.4f}", 4),
        ("{:,.2f}", 2),
        ("{:.1%}", 1),
        ("{:.5g}", 5),
        ("{:.0f}", 0),
        ("{:d}", None),
        ("{}", None),
        ("{:#x}", None),
        ("{:f}", None),
        ("", None),
        (None, None),
    ],
)
def test_precision(disp: str | None, expected: int | None) -> None:
    assert precision(disp) == expected


@pytest.mark.parametrize(
    ("type_str", "expected"),
    [
        ("UInt1", (0, 1)),
        ("UInt12", (0, 4095)),
        ("UInt32", (0, 2**32 - 1)),
        ("UInt64", (0, 2**64 - 1)),
        ("UIntBE32", (0, 2**32 - 1)),
        ("UInt32BE", (0, 2**32 - 1)),
        ("Int1", (-1, 0)),
        ("Int16", (-32768, 32767)),
        ("IntBE16", (-32768, 32767)),
        ("Int64", INT64),
        ("int", INT32),
        ("float", None),
        ("Float32", None),
        ("Bool", None),
        ("String(32)", None),
        ("uint32(4,)", None),
        ("Int", None),
        ("xUInt8", None),
    ],
)
def test_integer_range(type_str: str, expected: tuple[int, int] | None) -> None:
    assert integer_range(type_str) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        (None, ""),
        ("Scratch pad", "Scratch pad"),
        ("  spread\n over\tlines  ", "spread over lines"),
        ("x" * 40, "x" * 40),
        ("0123456789" * 5, "0123456789" * 4),
        ('say "hi"', "say 'hi'"),
    ],
)
def test_description(text: str | None, expected: str) -> None:
    assert description(FakeVar("int", description=text)) == expected


def test_description_of_a_var_without_one() -> None:
    class Bare:
        pass

    assert description(Bare()) == ""


# --- fields that must fit their EPICS field, or record creation fails ---------------------------


def test_long_units_fit_egu() -> None:
    mapping = resolve(FakeVar("Float32", units="degrees Celsius per second"))
    assert len(mapping.fields.get("EGU", "").encode()) <= EGU_SIZE


def test_description_fits_desc_in_bytes() -> None:
    assert len(description(FakeVar("int", description="µ" * 50)).encode()) <= DESC_SIZE


def test_enum_with_multibyte_label_is_not_mbb() -> None:
    label = "µ" * 13  # 13 characters, 26 bytes
    assert len(label.encode()) > MBB_LABEL_SIZE
    assert resolve(FakeVar("int", enum={0: label, 1: "b"})).kind == LABEL


def test_integer_record_fields_are_integers() -> None:
    var = FakeVar("Int16", minimum=-10.0, maximum=100.0, lowAlarm=-5.0, highAlarm=90.0)
    fields = resolve(var).fields
    for name in ("LOPR", "HOPR", "LOLO", "HIHI"):
        assert re.fullmatch(r"-?\d+", str(fields[name])), (name, fields[name])
