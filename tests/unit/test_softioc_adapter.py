"""ioc._softioc against the softioc/epicsdbbuilder it was checked with: fails when they change.

Each builder function the adapter replaces is called for real (builder records are only held in
memory until ``LoadDatabase``, which no unit test calls) and its record — type, DTYP, link and
every field — is compared with the database text the adapter writes for the same arguments; the
device support object must be of the same class. The field-access replacement is compared with
softioc's own accessors on a record-shaped buffer.

The run-time internals (the device objects' private state, softioc's dispatcher hand-off, EPICS
base's C symbols and the structure layouts the put trap reads) are checked for the shape the
adapter relies on; the layouts against the headers installed with epicscorelibs. The first test
fails, naming package and version, when an installed version is outside the checked ranges.
"""

from __future__ import annotations

import ctypes
import inspect
import itertools
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from epicscorelibs import path as epics_path
from epicscorelibs.ioc import Com, dbCore
from softioc import builder, device, device_core, fields

from ioc import _softioc

_names = itertools.count()


def unique(tag: str) -> str:
    return f"ADAPTER:{tag}{next(_names)}"


def builder_record(maker: Any, name: str, **arguments: Any) -> tuple[dict[str, str], type, str]:
    """Fields (as text), device class and record type of softioc's own record."""
    wrapper = maker(name, **arguments)
    record = wrapper._RecordWrapper__builder
    texts = {key: str(value) for key, value in record._Record__fields.items()}
    infos = dict(record._Record__infos)
    return (
        texts | {f"info:{k}": v for k, v in infos.items()},
        type(wrapper._RecordWrapper__device),
        record._type,
    )


_LINE = re.compile(r'(field|info)\(([\w:]+), "((?:[^"\\]|\\.)*)"\)')


def adapter_record(maker: Any, name: str, **arguments: Any) -> tuple[dict[str, str], type, str]:
    """Fields (as text), device class and record type of the adapter's record."""
    device = _softioc.create(maker, name, **arguments)
    text = _softioc._database.last
    record_type = re.match(r"record\((\w+), ", text).group(1)
    found = {
        (name if kind == "field" else f"info:{name}"): value
        for kind, name, value in _LINE.findall(text)
    }
    return found, type(device), record_type


def same_text(a: str, b: str) -> bool:
    """Equal as database values: the same text, or the same number written differently."""
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


CASES = [
    (builder.aIn, {"initial_value": 1.5, "PREC": 3, "LOPR": -1, "HOPR": 1, "DESC": "a"}),
    (
        builder.aOut,
        {"initial_value": 2.0, "EGU": "mm", "HIHI": 5, "HHSV": "MAJOR", "UDFS": "NO_ALARM"},
    ),
    (builder.boolIn, {"initial_value": 1, "ZNAM": "False", "ONAM": "True"}),
    (builder.boolOut, {"initial_value": 0, "ZNAM": "Off", "ONAM": "On"}),
    (builder.longIn, {"initial_value": 3, "LOPR": 0, "HOPR": 7}),
    (builder.longOut, {"initial_value": 4, "DESC": 'quote " and \\ back'}),
    (builder.int64In, {"initial_value": 2**40, "LOPR": 0, "HOPR": 2**32 - 1}),
    (builder.int64Out, {"initial_value": -(2**40)}),
    (builder.mbbIn, {"initial_value": 1, "ZRST": "Zero", "ZRVL": 0, "ONST": "One", "ONVL": 1}),
    (builder.mbbOut, {"initial_value": 0, "ZRST": "A", "ZRVL": 0}),
    (builder.stringIn, {"initial_value": "text"}),
    (builder.stringOut, {"initial_value": "text"}),
    (builder.WaveformIn, {"initial_value": np.arange(3.0), "length": 4, "datatype": "float64"}),
    (builder.WaveformOut, {"initial_value": np.arange(3), "length": 4, "datatype": "uint16"}),
    (builder.longStringIn, {"initial_value": "abc", "length": 4096}),
    (builder.longStringOut, {"initial_value": "", "length": 64}),
]


def test_checked_versions_are_installed() -> None:
    problems = _softioc.unsupported()
    assert not problems, "\n".join(problems)
    _softioc.check_versions()


def test_an_unchecked_version_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_softioc.SUPPORTED, "softioc", ((9, 0), (9, 1)))
    with pytest.raises(RuntimeError, match=rf"softioc 9.0..<9.1, found {version('softioc')}"):
        _softioc.check_versions()


def test_every_builder_function_has_a_kind() -> None:
    assert set(_softioc.KINDS) == {maker for maker, _ in CASES}


@pytest.mark.parametrize(("maker", "arguments"), CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_record_equals_the_builders(maker: Any, arguments: dict[str, Any]) -> None:
    extra = {"on_update": print, "always_update": True} if "Out" in maker.__name__ else {}
    theirs, their_device, their_type = builder_record(
        maker, unique("B"), **dict(arguments), **extra
    )
    name = unique("A")
    ours, our_device, our_type = adapter_record(maker, name, **dict(arguments), **extra)
    assert (our_type, our_device) == (their_type, their_device)
    link = "OUT" if "OUT" in theirs else "INP"
    assert theirs[link].startswith("@") and ours[link] == f"@{name}"
    theirs.pop(link), ours.pop(link)
    assert theirs.keys() == ours.keys()
    for key, value in theirs.items():
        unescaped = ours[key].replace('\\"', '"').replace("\\\\", "\\")
        assert same_text(unescaped, value), (key, ours[key], value)


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"DESC": "x" * 41}, "at most 40 bytes"),
        ({"NOPE": 1}, "no field NOPE"),
        ({"PREC": 1.5}, "integer"),
        ({"PREC": 2**20}, "holds"),
        ({"SCAN": "Sometimes"}, "SCAN"),
        ({"LOPR": float("nan")}, "NaN"),
    ],
)
def test_bad_field_is_refused_before_anything_is_created(
    arguments: dict[str, Any], problem: str
) -> None:
    pending = _softioc._database.records
    name = unique("BAD")
    with pytest.raises(ValueError, match=problem):
        _softioc.create(builder.aIn, name, initial_value=0.0, **arguments)
    assert _softioc._database.records == pending
    # the name is still free: creating it now works
    _softioc.create(builder.aIn, name, initial_value=0.0)


def test_long_record_name_is_refused() -> None:
    with pytest.raises(ValueError, match=re.escape("1..60")):
        _softioc.create(builder.aIn, "N" * 61, initial_value=0.0)


def test_alias_is_written() -> None:
    _softioc.create(builder.aIn, unique("AL"), alias="SOME:VERY:LONG:ALIAS", initial_value=0.0)
    assert 'alias("SOME:VERY:LONG:ALIAS")' in _softioc._database.last


@pytest.mark.parametrize(("maker", "arguments"), CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_template_records_equal_one_off_records(maker: Any, arguments: dict[str, Any]) -> None:
    fixed = {k: v for k, v in arguments.items() if k not in ("initial_value", "DESC")}
    own = {k: v for k, v in arguments.items() if k in ("initial_value", "DESC")}
    texts = []
    for make in (
        lambda: _softioc.Template(maker, fixed).create("ADAPTER:SAME", **own),
        lambda: _softioc.create(maker, "ADAPTER:SAME", **own, **fixed),
    ):
        device = make()
        _softioc.softioc_device.RecordLookup._RecordDirectory.pop("ADAPTER:SAME")
        texts.append((sorted(_softioc._database.last.splitlines()), type(device)))
    assert texts[0] == texts[1]


def test_template_refuses_its_fixed_fields_per_record() -> None:
    template = _softioc.Template(builder.aIn, {"PREC": 3})
    with pytest.raises(ValueError, match="PREC"):
        template.create(unique("T"), PREC=4, initial_value=0.0)


@pytest.mark.parametrize(
    ("text", "quoted"),
    [("plain", '"plain"'), ('a"b', '"a\\"b"'), ("a\\b", '"a\\\\b"'), ("t\tx", '"t\\x09x"')],
)
def test_quote(text: str, quoted: str) -> None:
    assert _softioc.quote(text) == quoted


# --- field access ---------------------------------------------------------------------------------

_FIELD_TABLE = {
    "VAL": (0, 8, fields.DBF_DOUBLE),
    "UDF": (8, 1, fields.DBF_UCHAR),
    "NSEV": (10, 2, fields.DBF_USHORT),
    "PREC": (12, 2, fields.DBF_SHORT),
    "DISP": (14, 1, fields.DBF_CHAR),
    "PACT": (16, 4, fields.DBF_LONG),
    "BIG": (24, 8, fields.DBF_INT64),
    "DPVT": (32, 8, fields.DBF_NOACCESS),
    "NAME": (40, 61, fields.DBF_STRING),
    "INP": (104, 8, fields.DBF_INLINK),
    "F": (112, 4, fields.DBF_FLOAT),
    "TIME": (120, 8, fields.DBF_NOACCESS),
}
_WRITES = {
    "VAL": [1.25, -3.0, ctypes.c_double(7.5)],
    "UDF": [0, 1],
    "NSEV": [3, ctypes.c_uint16(2)],
    "PREC": [-5, 12],
    "DISP": [1, -1],
    "PACT": [0, 2**31 - 1],
    "BIG": [2**40, -(2**62)],
    "DPVT": [id(object()), None],
    "NAME": ["REC:NAME", "x" * 70],
    "F": [0.5, 1e30],
    "TIME": [1_700_000_000.25, 5, 631_152_000.5],
}


def _record(buffer: ctypes.Array) -> Any:
    return fields._Record(_FIELD_TABLE, ctypes.addressof(buffer))


def _run(access: dict[str, Any]) -> list[Any]:
    """Every write then every read through ``access`` (softioc's or the adapter's accessors)."""
    buffer = (ctypes.c_char * 128)()
    link_text = ctypes.c_char_p(b"@REC:NAME")
    ctypes.c_void_p.from_address(ctypes.addressof(buffer) + 104).value = ctypes.cast(
        link_text, ctypes.c_void_p
    ).value
    record = _record(buffer)
    seen = []
    for field, values in _WRITES.items():
        for value in values:
            access["__setattr__"](record, field, value)
            if field == "TIME":  # softioc's reader changes the stamp it reads: compare the bytes
                seen.append((field, bytes(buffer)[120:]))
            else:
                seen.append((field, access["__getattr__"](record, field)))
    seen.append(("INP", access["__getattr__"](record, "INP")))
    access["write_val"](record, ctypes.c_double(42.0))
    seen.append(("read_val", access["read_val"](record).value))
    with pytest.raises(AssertionError):
        access["write_val"](record, ctypes.c_int32(1))
    seen.append(("bytes", bytes(buffer)[:104] + bytes(buffer)[112:]))
    return seen


def test_field_access_matches_softioc() -> None:
    ours = {name: getattr(fields._Record, name) for name in _softioc._ORIGINAL_ACCESS}
    assert _run(ours) == _run(_softioc._ORIGINAL_ACCESS)


def test_field_access_is_installed() -> None:
    assert fields._Record.__getattr__ is _softioc._get_field
    assert fields._Record.write_val is _softioc._write_val


def test_in_records_show_their_value_from_init_record() -> None:
    assert _softioc.softioc_device.ProcessDeviceSupportIn.init_record is _softioc._init_in_record


def test_binders_are_in_the_device_support_tables() -> None:
    """iocInit binds every record of the kinds through the adapter's entries (see _binder)."""
    entries = {ctypes.cast(entry, ctypes.c_void_p).value for entry in _softioc._bound_entries}
    for kind in _softioc.KINDS.values():
        table = kind.device._DeviceSupportCore__dset
        assert ctypes.cast(table.init_record, ctypes.c_void_p).value in entries
        offsets = kind.device._DeviceSupportCore__fields.fields
        assert {kind.device._link_, "DPVT"} <= offsets.keys()


# --- run-time internals ---------------------------------------------------------------------------


def test_device_objects_have_the_shape_relied_on() -> None:
    out = _softioc.create(builder.aOut, unique("OUT"), initial_value=1.5, on_update=print)
    wrapped = builder.longIn(unique("IN"), initial_value=2)
    for maker, held in ((builder.aOut, out), (builder.longIn, wrapped)):
        dev = held.set.__self__  # what RecordAccess takes as the device
        assert isinstance(dev, _softioc.KINDS[maker].device), maker
        assert callable(dev._value_to_epics) and callable(dev._epics_to_value)
        assert list(inspect.signature(dev._read_value).parameters) == ["record"]
    assert len(out._value) == 3 and out._epics_to_value(out._value[0]) == 1.5
    in_device = wrapped.set.__self__
    assert len(in_device._value) == 4
    assert in_device._epics_to_value(in_device._value_to_epics(7)) == 7


def test_softioc_attaches_the_record_and_hands_the_dispatcher_the_record() -> None:
    init = inspect.getsource(device_core.DeviceSupportCore._init_record)
    assert "self._record = record" in init
    process = inspect.getsource(device.ProcessDeviceSupportOut._process)
    assert "record.PACT = self._blocking" in process
    assert "completion_args=(record,)" in process.replace(" ", "")


@pytest.mark.parametrize(
    ("library", "symbol"),
    [
        (dbCore, "dbPvdTableSize"),
        (dbCore, "dbProcess"),
        (dbCore, "dbScanLock"),
        (dbCore, "dbScanUnlock"),
        (dbCore, "asSetFilename"),
        (dbCore, "dbServerStats"),
        (Com, "asInitFile"),
        (Com, "asTrapWriteRegisterListener"),
        (Com, "asAddClient"),
        (Com, "asRemoveClient"),
        (Com, "asActive"),
        (Com, "asCheckClientIP"),
    ],
)
def test_c_symbols_exist(library: ctypes.CDLL, symbol: str) -> None:
    assert hasattr(library, symbol)


def test_c_functions_are_private_prototypes() -> None:
    """Our prototypes leave the shared library objects' argtypes alone."""
    before = dbCore.dbScanLock.argtypes
    own = _softioc.c_function(dbCore, "dbScanLock", None, ctypes.c_char_p)
    assert own is not dbCore.dbScanLock and dbCore.dbScanLock.argtypes == before


def _members(header: str, struct: str) -> list[str]:
    """The member declarations of ``struct`` in an installed EPICS header, comments removed."""
    text = (Path(epics_path.include_path) / header).read_text(encoding="utf-8")
    body = re.search(rf"struct {struct}\s*{{(.*?)\n}}", text, re.S)
    assert body, f"{struct} not found in {header}"
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", body.group(1), flags=re.S)
    return [" ".join(member.split()) for member in code.split(";") if member.strip()]


@pytest.mark.parametrize(
    ("header", "struct", "start"),
    [
        (
            "asTrapWrite.h",
            "asTrapWriteMessage",
            [
                "const char *userid",
                "const char *hostid",
                "struct dbChannel *serverSpecific",
                "void *userPvt",
                "int dbrType",
                "int no_elements",
                "void *data",
            ],
        ),
        ("dbChannel.h", "dbChannel", ["const char *name", "dbAddr addr"]),
        (
            "dbAddr.h",
            "dbAddr",
            ["struct dbCommon *precord", "void *pfield", "struct dbFldDes *pfldDes"],
        ),
        (
            "dbBase.h",
            "dbFldDes",
            [
                "char *prompt",
                "char *name",
                "char *extra",
                "struct dbRecordType *pdbRecordType",
                "short indRecordType",
                "short special",
                "dbfType field_type",
                "unsigned int process_passive:1",
                "unsigned int prop:1",
                "unsigned int isDevLink:1",
                "ctType base",
                "short promptgroup",
                "short interest",
                "asLevel as_level",
            ],
        ),
        (
            "asLib.h",
            "asgClient",
            [
                "ELLNODE node",
                "ASGMEMBER *pasgMember",
                "const char *user",
                "char *host",
                "void *userPvt",
                "ASCLIENTCALLBACK pcallback",
                "int level",
                "asAccessRights access",
                "int trapMask",
            ],
        ),
        ("ellLib.h", "ELLNODE", ["struct ELLNODE *next", "struct ELLNODE *previous"]),
        ("dbCommon.h", "dbCommon", ["char name[61]"]),
    ],
)
def test_epics_structures_start_as_read(header: str, struct: str, start: list[str]) -> None:
    assert _members(header, struct)[: len(start)] == start


def _message(dbr_type: int, data: ctypes.Array | None, count: int) -> Any:
    message = _softioc._TrapMessage()
    message.dbrType, message.no_elements = dbr_type, count
    message.data = ctypes.addressof(data) if data is not None else None
    return message


def test_trapped_write_reads_what_the_client_sent() -> None:
    strings = (ctypes.c_char * 40 * 2)()
    strings[0].value, strings[1].value = b"1.5", b"abc"
    write = _softioc.TrappedWrite(_message(_softioc.DBR_STRING, strings, 2), after=False)
    assert write.has_data and write.values() == ["1.5", "abc"]
    doubles = (ctypes.c_double * 3)(1.0, 2.5, -3.0)
    assert _softioc.TrappedWrite(_message(6, doubles, 3), False).values() == [1.0, 2.5, -3.0]
    chars = (ctypes.c_uint8 * 2)(200, 7)
    assert _softioc.TrappedWrite(_message(_softioc.DBR_CHAR, chars, 2), False).values() == [200, 7]
    no_data = _softioc.TrappedWrite(_message(6, None, 1), False)
    assert not no_data.has_data and no_data.target() is None
    assert _softioc.TrappedWrite(_message(99, doubles, 1), False).values() is None


def test_trapped_write_names_its_target_and_keeps_the_refusal() -> None:
    record = ctypes.create_string_buffer(b"REC:NAME", 61)
    field_name = ctypes.c_char_p(b"VAL")
    field = _softioc._FieldHead(b"prompt", field_name.value)
    channel = _softioc._ChannelHead(
        b"REC:NAME.VAL", ctypes.addressof(record), 0, ctypes.addressof(field)
    )
    message = _message(6, None, 1)
    message.serverSpecific = ctypes.addressof(channel)
    before = _softioc.TrappedWrite(message, after=False)
    assert before.target() == ("REC:NAME", "VAL", ctypes.addressof(record))
    assert not before.refused
    before.refused = True
    assert _softioc.TrappedWrite(message, after=True).refused
