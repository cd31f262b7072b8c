"""The one adapter over pythonSoftIOC's, epicsdbbuilder's and EPICS base's internals.

Record building, its first job: softioc's builder functions (``builder.aIn`` …) create each
record through epicsdbbuilder, which checks every field value as it is set by walking the record
type's whole field list in the static database: most of the IOC's start-up at 10,000 records and
more. :func:`create` builds the same
records (same record type, DTYP, link, defaults, device support object) without that walk:

* each field name is checked against the record type's definition (a set lookup), each value
  against the field's type and size, read once per record type from the loaded DBD; menu, device
  and link values (few distinct ones) go through epicsdbbuilder's own check once per value;
* the database text of every record is written in one pass and loaded by one ``dbLoadDatabase``
  (:func:`load_database`), together with anything created through softioc's builder directly.

Builder functions without an entry in the table below are called as they are.

It is also the only place that touches softioc's private state and EPICS base's C API at run
time: the record lock and processing of one record (:class:`RecordAccess`), the dispatcher's
processing hand-off (:func:`finish_processing`), the write trap (:func:`install_trap`), access
security (:func:`parse_access_file`) and what the servers report (:func:`client_count`). C
functions are called through private prototypes (:func:`c_function`): the library objects softioc
and epicscorelibs share keep their own ``argtypes``.

Checked against softioc 4.7.2, epicsdbbuilder 1.5, epicscorelibs 7.0.10.99.0.2 (EPICS base 7.0.10)
and pvxslibs 1.5.3; :data:`SUPPORTED` holds the ranges. ``tests/unit/test_softioc_adapter.py``
fails, naming the package and version, when one outside them is installed, and checks that each
internal below still exists with the shape relied on. What is used, and why it is safe:

softioc and epicsdbbuilder (record building):

* ``builder.PythonDevice.<kind>.record`` / ``.dtyp`` / ``.builder._type``: the device support
  class, DTYP and record type softioc itself pairs for each builder function, read, not repeated.
* ``softioc.device.<class>(name, **device_args)``: the object softioc's record wrapper creates; it
  registers itself under ``name`` for ``init_record`` and takes exactly the keyword arguments of
  ``pythonSoftIoc.RecordWrapper`` (:data:`DEVICE_ARGUMENTS`); the test compares the classes.
* the builder's defaults (:data:`IN_DEFAULTS`, :data:`OUT_DEFAULTS`, MDEL of longin/int64in, the
  long-string ``Q:form`` info tag, ``_wf_nelm``/``_wf_dtype`` of arrays): the test compares every
  field with the builder's own records.
* ``<epicsdbbuilder record class>._validate.ValidFieldName/ValidFieldValue``: the builder's own
  checks, used as the builder uses them.
* ``softioc.imports.get_field_offsets`` and ``softioc.fields.DBF_*``: the field table softioc
  itself reads from the loaded DBD.
* ``softioc.fields._Record`` accessors, replaced (:func:`install_field_access`): the test checks
  that the replacement reads and writes the same bytes as the originals; a TIME written as a
  number goes into ``fields.ca_timestamp`` (secs since 1990, nsec), as softioc writes it.
* ``device.ProcessDeviceSupportIn.init_record``, replaced (:func:`install_in_init`): softioc's
  does nothing; ours writes VAL through the device's own ``_write_value`` and resets the alarm
  with ``imports.recGblResetAlarms``, as PINI processing would show.

* each device class's ``_DeviceSupportCore__dset`` (the device support table EPICS holds a
  pointer to) and ``_DeviceSupportCore__fields`` (its record type's field offsets), its
  ``_link_``, ``RecordLookup._RecordDirectory`` (devices by name) and a device's ``_name``:
  what softioc's own ``init_record`` entry uses to bind a record to its device, done the same
  way by :func:`install_binders`; the test checks the tables hold our entries.

softioc at run time (:class:`RecordAccess`, the dispatcher):

* ``record.set.__self__``: ``set`` is the device's bound method on a builder wrapper and on a
  device alike, so this is the device object either way.
* a device's ``_record`` (the record structure, attached by softioc's ``init_record``): what its
  own processing reads and writes; used for the record lock and for NSEV/NSTA.
* a device's ``_value`` tuple (In: value, severity, status, timestamp; Out: value, severity,
  status): what ``set()`` stores and processing applies; the test checks both shapes.
* a device's ``_value_to_epics``, ``_epics_to_value`` and ``_read_value(record)``: softioc's own
  conversions between Python values, its ctypes values and VAL.
* NSEV/NSTA set from ``validate``: the alarm the running processing ends with, as EPICS's own
  ``recGblSetSevr`` would leave it (they are dbCommon fields of every record type).
* ``completion_args[0]`` of a dispatcher call is the record structure, whose PACT softioc set just
  before the call: clearing PACT there makes the record support complete the processing
  synchronously, as for a device without ``on_update``; PACT/RPRO read afterwards say whether
  the record is idle. The test checks the call in softioc's Out processing.

EPICS base (epicscorelibs, pvxslibs):

* ``dbPvdTableSize``, ``dbProcess``, ``dbScanLock``/``dbScanUnlock``, ``asSetFilename``,
  ``asInitFile``, ``asTrapWriteRegisterListener``, ``asAddClient``, ``asRemoveClient`` and the
  globals ``asActive`` / ``asCheckClientIP``: public C API (dbStaticLib.h, dbAccessDefs.h,
  dbLock.h, asDbLib.h, asLib.h, asTrapWrite.h); the test checks each symbol exists.
* ``asTrapWriteMessage`` (asTrapWrite.h); a ``dbChannel`` starts with its name and its
  ``dbAddr`` (``precord``, ``pfield``, ``pfldDes``); a ``dbFldDes`` starts with its prompt and
  name; a record starts with its NAME (dbCommon); DISP is a ``dbCommon`` field, at the same
  offset in every record type: the test compares these layouts with the installed headers, and
  ``tests/integration/test_reliability_trap.py`` exercises them.
* ``asAddClient``/``asRemoveClient`` with ``ASGCLIENT`` (asLib.h) read up to ``access``, a
  record's ASP (dbCommon) and a ``dbFldDes`` read up to ``as_level``: EPICS's own rules decide
  whether a PVA client may write (:func:`write_permitted`); the test compares the layouts with
  the installed headers.
* ``dbServerStats(name, &channels, &clients)`` (dbServer.h, public since base 7.0.10) asks a
  registered server layer for its counts; RSRV registers as ``rsrv``, QSRV2 (pvxs) as ``qsrv2``.
* RSRV puts the TCP port it really bound, after any fallback, into the IOC's environment as
  ``RSRV_SERVER_PORT`` (``epicsEnvSet`` in ``iocInit``): C's environment, not Python's copy.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import os
import sys
import tempfile
import time
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import numpy as np
from epicscorelibs.ioc import Com, dbCore

#: Buckets of EPICS's record-name hash table (its maximum; the default 512 makes loading and
#: initialising 100,000 records spend seconds walking hash chains).
NAME_TABLE_SIZE = 65536


def c_function(library: ctypes.CDLL, name: str, result: Any, *arguments: Any) -> Any:
    """Our own ctypes function object for the C function ``name`` of ``library``.

    Setting ``argtypes`` on ``library.name`` would change the one object softioc and
    epicscorelibs share (they set their own types on some of the same functions); a prototype
    gives this module a private object with the C signature as declared in EPICS's headers.
    """
    return ctypes.CFUNCTYPE(result, *arguments)((name, library))


def _size_name_table() -> bool:
    """Enlarge EPICS's record-name table; works only before the first database is read.

    softioc reads its DBD files when it is imported, so this runs before importing it; when
    something imported softioc earlier, the table keeps its default size (slower, same result).
    """
    if "softioc" in sys.modules:
        return False
    set_size = c_function(dbCore, "dbPvdTableSize", ctypes.c_int, ctypes.c_int)
    return set_size(NAME_TABLE_SIZE) == 0


name_table_sized = _size_name_table()

from softioc import builder, fields, imports  # noqa: E402 - after sizing the name table
from softioc import device as softioc_device  # noqa: E402
from softioc.softioc import dbLoadDatabase  # noqa: E402

_db_process = c_function(dbCore, "dbProcess", ctypes.c_long, ctypes.c_void_p)
_db_scan_lock = c_function(dbCore, "dbScanLock", None, ctypes.c_void_p)
_db_scan_unlock = c_function(dbCore, "dbScanUnlock", None, ctypes.c_void_p)

#: Versions this adapter was checked against: (first supported, first unsupported), compared on
#: as many parts of the version as the bounds have. The unit test checks all of them.
SUPPORTED: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "softioc": ((4, 7), (4, 8)),
    "epicsdbbuilder": ((1, 5), (1, 6)),
    "epicscorelibs": ((7, 0, 10), (7, 0, 11)),
    "pvxslibs": ((1, 5), (1, 6)),
}
#: The packages whose versions are checked when the IOC starts: pyproject.toml pins softioc (and
#: with it epicsdbbuilder), so another version means a broken install. epicscorelibs and pvxslibs
#: are not pinned; an untested release of either is reported by the unit test.
CHECKED_AT_START = ("softioc", "epicsdbbuilder")
#: Keyword arguments that belong to the device support object, not to the record's fields.
DEVICE_ARGUMENTS = frozenset(
    {
        "on_update",
        "on_update_name",
        "validate",
        "always_update",
        "initial_value",
        "blocking",
        "autosave",
    }
)
#: What softioc's builder gives every In record and every scalar Out record.
IN_DEFAULTS: dict[str, Any] = {"SCAN": "I/O Intr", "PINI": "YES", "DISP": 1}
#: The fixed fields of an In record whose every update is processed by
#: :meth:`RecordAccess.process_in`: no I/O Intr scan (which costs an I/O scan list and a scan
#: entry per record at ``iocInit``) and no processing at ``iocInit`` (PINI): the record shows its
#: initial value from ``init_record`` on (see :func:`install_in_init`). None leaves the field at
#: its EPICS default (Passive, NO).
PUSHED_IN: dict[str, Any] = {"SCAN": None, "PINI": None}
OUT_DEFAULTS: dict[str, Any] = {"OMSL": "supervisory"}
#: Distinct number and menu field lines remembered per record type.
LINE_CACHE = 20000
#: Longest record name EPICS accepts (PVNAME_STRINGSZ without the NUL).
MAX_NAME = 60
#: Array element types softioc's builder has no FTVL for; EPICS 7 waveforms hold them.
WIDE_FTVL = {"int64": "INT64", "uint64": "UINT64"}


def installed(package: str, parts: int) -> tuple[int, ...]:
    """The first ``parts`` numbers of the installed version of ``package``."""
    return tuple(int(part) for part in version(package).split(".")[:parts])


def unsupported(packages: tuple[str, ...] = tuple(SUPPORTED)) -> list[str]:
    """One message per package of ``packages`` whose installed version is outside SUPPORTED."""
    problems = []
    for package in packages:
        low, high = SUPPORTED[package]
        if not low <= installed(package, len(low)) < high:
            problems.append(
                f"ioc._softioc was checked against {package} "
                f"{'.'.join(map(str, low))}..<{'.'.join(map(str, high))}, found "
                f"{version(package)}: re-check the internals listed in its docstring"
            )
    return problems


def check_versions() -> None:
    """Raise ``RuntimeError`` when a package of :data:`CHECKED_AT_START` is outside SUPPORTED."""
    problems = unsupported(CHECKED_AT_START)
    if problems:
        raise RuntimeError("; ".join(problems))


check_versions()


@dataclass(frozen=True)
class Kind:
    """How one builder function's records are made: device class, DTYP, type, defaults."""

    device: Any  # softioc's device support class (softioc has no type information)
    dtyp: str
    record_type: str
    link: str
    defaults: dict[str, Any]
    array: str = ""  # "" scalar, "string" long string (char waveform), "waveform"

    @classmethod
    def of(cls, attribute: str, defaults: dict[str, Any], array: str = "") -> Kind:
        """The kind of ``builder.PythonDevice.<attribute>`` with the builder's ``defaults``."""
        maker = getattr(builder.PythonDevice, attribute)
        device = maker.record
        return cls(device, maker.dtyp, maker.builder._type, device._link_, defaults, array)


_LONG_IN = IN_DEFAULTS | {"MDEL": -1}
KINDS: dict[Callable[..., Any], Kind] = {
    builder.aIn: Kind.of("ai", IN_DEFAULTS),
    builder.aOut: Kind.of("ao", OUT_DEFAULTS),
    builder.boolIn: Kind.of("bi", IN_DEFAULTS),
    builder.boolOut: Kind.of("bo", OUT_DEFAULTS),
    builder.longIn: Kind.of("longin", _LONG_IN),
    builder.longOut: Kind.of("longout", OUT_DEFAULTS),
    builder.int64In: Kind.of("int64in", _LONG_IN),
    builder.int64Out: Kind.of("int64out", OUT_DEFAULTS),
    builder.mbbIn: Kind.of("mbbi", IN_DEFAULTS),
    builder.mbbOut: Kind.of("mbbo", OUT_DEFAULTS),
    builder.stringIn: Kind.of("stringin", IN_DEFAULTS),
    builder.stringOut: Kind.of("stringout", OUT_DEFAULTS),
    builder.WaveformIn: Kind.of("waveform", IN_DEFAULTS, "waveform"),
    builder.WaveformOut: Kind.of("waveform_out", {}, "waveform"),
    builder.longStringIn: Kind.of("long_stringin", IN_DEFAULTS, "string"),
    builder.longStringOut: Kind.of("long_stringout", {}, "string"),
}


# --- field checks ---------------------------------------------------------------------------------

_INTEGER_FIELDS = {
    fields.DBF_CHAR: (-(2**7), 2**7 - 1),
    fields.DBF_UCHAR: (0, 2**8 - 1),
    fields.DBF_SHORT: (-(2**15), 2**15 - 1),
    fields.DBF_USHORT: (0, 2**16 - 1),
    fields.DBF_LONG: (-(2**31), 2**31 - 1),
    fields.DBF_ULONG: (0, 2**32 - 1),
    fields.DBF_INT64: (-(2**63), 2**63 - 1),
    fields.DBF_UINT64: (0, 2**64 - 1),
}
_FLOAT_FIELDS = frozenset({fields.DBF_FLOAT, fields.DBF_DOUBLE})
_UNKNOWN = (0, 0, None)  # the description of a field a record type does not have


class _RecordType:
    """The fields of one record type, and checks of values written into them."""

    def __init__(self, record_type: str) -> None:
        self.name = record_type
        self._builder = getattr(builder.records, record_type)
        self._fields = imports.get_field_offsets(record_type)
        self._checked: set[tuple[str, str]] = set()
        self._lines: dict[tuple[str, type, Any], str] = {}

    def line(self, field: str, value: Any) -> str:
        """The database line ``field(NAME, "value")``, checked (see :meth:`check`).

        Lines of numbers and menu choices, which repeat, are checked and formatted once; text
        (DESC, labels) is checked each time, which is cheap.
        """
        if type(value) is str and self._fields.get(field, _UNKNOWN)[2] == fields.DBF_STRING:
            return f"field({field}, {quote(self.check(field, value))})"
        key = (field, type(value), value)
        try:
            text = self._lines.get(key)
        except TypeError:  # unhashable
            text = None
        if text is None:
            text = f"field({field}, {quote(self.check(field, value))})"
            if len(self._lines) < LINE_CACHE:
                self._lines[key] = text
        return text

    def check(self, field: str, value: Any) -> str:
        """``value`` as database text for ``field``; ``ValueError`` if the field cannot hold it."""
        described = self._fields.get(field)
        if described is None or field == "NAME":
            raise ValueError(f"record type {self.name} has no field {field}")
        _, size, dbf = described
        if dbf == fields.DBF_STRING:
            text = str(value)
            if len(text.encode()) >= size:
                raise ValueError(f"{field} holds at most {size - 1} bytes: {text!r}")
            return text
        if dbf in _FLOAT_FIELDS:
            number = float(value)
            if math.isnan(number):
                raise ValueError(f"{field} cannot be NaN")
            return repr(number)
        limits = _INTEGER_FIELDS.get(dbf)
        if limits is not None:
            number = int(value)
            if number != value and str(number) != str(value):
                raise ValueError(f"{field} takes an integer, not {value!r}")
            if not limits[0] <= number <= limits[1]:
                raise ValueError(f"{field} holds {limits[0]}..{limits[1]}, not {number}")
            return str(number)
        text = str(value)
        if (field, text) not in self._checked:
            # Menus, DTYP, links: epicsdbbuilder's own check, once per distinct value.
            try:
                self._builder._validate.ValidFieldValue(field, text)
            except AssertionError as error:
                raise ValueError(str(error)) from None
            self._checked.add((field, text))
        return text


_record_types: dict[str, _RecordType] = {}


def _record_type(name: str) -> _RecordType:
    found = _record_types.get(name)
    if found is None:
        found = _record_types[name] = _RecordType(name)
    return found


def quote(text: str) -> str:
    """``text`` as a double-quoted database string (backslash, quote and controls escaped)."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


# --- building -------------------------------------------------------------------------------------


class _Database:
    """The database text of the records created so far, written to a file as they come."""

    def __init__(self) -> None:
        self._file: Any = None
        self.records = 0
        self.last = ""  # the text of the last record added

    def add(self, text: str) -> None:
        """Append one record's text."""
        self.last = text
        if self._file is None:
            self._file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in load()
                "w", suffix=".db", prefix="rogue-ioc-", encoding="utf-8", delete=False
            )
        self._file.write(text)
        self.records += 1

    def load(self) -> None:
        """Load everything added (one ``dbLoadDatabase``) and start over."""
        if self._file is None:
            return
        path, self._file = self._file.name, self._file.close()
        try:
            dbLoadDatabase(path, None, None)
        finally:
            os.unlink(path)
            self.records = 0


_database = _Database()


class Template:
    """The records of one builder function with the same fixed fields, checked and written once.

    ``fixed`` are field values (and the array ``length``/``datatype``) shared by every record
    made from the template; :meth:`create` adds a record with its name and its own fields
    (DESC, ASG …), initial value and callbacks. Raises ``ValueError`` for a field the record
    type does not have or a value it cannot hold, before anything is created.
    """

    def __init__(self, maker: Callable[..., Any], fixed: dict[str, Any]) -> None:
        self.kind = KINDS[maker]
        record_fields = self.kind.defaults | fixed
        self._device_args: dict[str, Any] = {}
        info = _array_fields(self.kind, record_fields, self._device_args) if self.kind.array else ""
        self._record_type = _record_type(self.kind.record_type)
        line = self._record_type.line
        self._fields = frozenset(record_fields)
        body = "".join(
            f"{line(field, value)}\n" for field, value in record_fields.items() if value is not None
        )
        self._body, self._info = body, info

    def create(self, name: str, alias: str | None = None, **arguments: Any) -> Any:
        """Create record ``name``: softioc's device support object (``set``/``get`` as on a
        builder record). ``arguments`` are the record's own fields and the device's keyword
        arguments (``initial_value``, ``on_update`` …); ``alias`` adds a second name."""
        if not 0 < len(name) <= MAX_NAME:
            raise ValueError(f"record name {name!r} must have 1..{MAX_NAME} characters")
        device_args = self._device_args.copy()
        own, fixed, line = [], self._fields, self._record_type.line
        for key, value in arguments.items():
            if key in DEVICE_ARGUMENTS:
                device_args[key] = value
            elif key in fixed:
                raise ValueError(f"field {key} is already fixed by the template")
            elif value is not None:
                own.append(line(key, value))
        kind = self.kind
        own.append("")
        own_text = "\n".join(own)
        aliased = f'alias("{alias}")\n' if alias is not None else ""
        text = (
            f'record({kind.record_type}, "{name}") {{\nfield(DTYP, "{kind.dtyp}")\n'
            f'field({kind.link}, "@{name}")\n{self._body}{own_text}{aliased}{self._info}}}\n'
        )
        device = kind.device(name, **device_args)
        _database.add(text)
        return device


def create(maker: Callable[..., Any], name: str, alias: str | None = None, **arguments: Any) -> Any:
    """Create the record ``maker`` (a softioc builder function) would create, the fast way.

    Returns softioc's device support object (``set``/``get`` as on a builder record). ``alias``
    adds a second name for the record. Raises ``ValueError`` for a field the record type does not
    have or a value it cannot hold, before anything is created.
    """
    if maker not in KINDS:
        record = maker(name, **arguments)
        if alias is not None:
            record.add_alias(alias)
        return record
    device_args = {key: arguments.pop(key) for key in DEVICE_ARGUMENTS if key in arguments}
    return Template(maker, arguments).create(name, alias, **device_args)


def _array_fields(kind: Kind, record_fields: dict[str, Any], device_args: dict[str, Any]) -> str:
    """NELM/FTVL and the device's element type for an array kind; the record's info lines."""
    length = record_fields.pop("length")
    if kind.array == "string":
        dtype = np.dtype("int8")
        device_args.setdefault("initial_value", "")
        ftvl, info = "CHAR", 'info(Q:form, "String")\n'
    else:
        dtype = np.dtype(record_fields.pop("datatype"))
        ftvl, info = builder.NumpyDtypeToDbf.get(dtype.name) or WIDE_FTVL[dtype.name], ""
    if length <= 0:
        raise ValueError(f"an array needs at least one element, not {length}")
    record_fields["NELM"] = length
    record_fields["FTVL"] = ftvl
    device_args["_wf_nelm"] = length
    device_args["_wf_dtype"] = dtype
    return info


def load_database() -> None:
    """Load every record created so far (here and through softioc's builder); call once.

    After this no record can be created: next comes ``iocInit``.
    """
    _database.load()
    builder.LoadDatabase()


# --- one record at run time -----------------------------------------------------------------------


@contextlib.contextmanager
def scan_lock(record: Any) -> Iterator[None]:
    """Hold the EPICS lock of ``record`` (softioc's record structure): no processing meanwhile.

    The lock is recursive, so the holder of it may process the record itself.
    """
    _db_scan_lock(record)
    try:
        yield
    finally:
        _db_scan_unlock(record)


class RecordAccess:
    """What the IOC does to one running record beyond softioc's public ``set``/``get``.

    ``record`` is what :func:`create` (or a softioc builder function) returned; use the methods
    after ``iocInit`` (softioc attaches the record structure then).
    """

    def __init__(self, record: Any) -> None:
        # A builder function returns a wrapper around softioc's device object, create() the device
        # itself; the bound set() leads to the device in both cases.
        self._device = record.set.__self__

    def get(self) -> Any:
        """The value softioc holds for the record (as its ``get()``)."""
        return self._device.get()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the record's EPICS lock (see :func:`scan_lock`)."""
        with scan_lock(self._device._record):
            yield

    def values(self) -> tuple[Any, Any]:
        """An Out record's VAL as it is now, and the value its last processing took.

        They differ while a client's value waits in VAL for the record to process it.
        """
        device = self._device
        now = device._epics_to_value(device._read_value(device._record))
        return now, device._epics_to_value(device._value[0])

    def val_bytes(self) -> bytes:
        """The bytes of an array record's VAL buffer as they are now (all NELM elements)."""
        device = self._device
        return bytes(device._read_value(device._record).tobytes())

    def set_out(self, value: Any, severity: int, status: int) -> None:
        """Process an Out record with ``value`` and alarm ``severity``/``status``, in this thread.

        softioc's Out ``set()`` takes no alarm when it processes: the processing applies the alarm
        stored with the last value, so ours is stored there first.
        """
        device = self._device
        device._value = (device._value[0], severity, status)
        device.set(value)

    def process_in(self, value: Any, severity: int, status: int) -> None:
        """Show ``value`` with alarm ``severity``/``status`` on an In record now, in this thread.

        softioc's ``set()`` stores the same and queues the record's processing on EPICS's callback
        queue, one entry per call, however often the record is already queued: a burst of updates
        can overflow the queue, and an overflow drops a request — possibly the one carrying the
        last value. Processing the record here, under its lock, needs no queue and no other thread.
        """
        device = self._device
        device._value = (device._value_to_epics(value), severity, status, None)
        record = device._record
        with scan_lock(record):
            _db_process(record)

    def raise_alarm(self, severity: int, status: int) -> None:
        """Set the alarm the record's current processing ends with (call from its ``validate``)."""
        record = self._device._record
        record.NSEV, record.NSTA = severity, status

    def drop_alarm(self, status: int) -> None:
        """Drop the alarm the current processing would raise if it has status ``status``."""
        record = self._device._record
        if status == record.NSTA:
            record.NSEV, record.NSTA = 0, 0


def finish_processing(completion_args: tuple[Any, ...]) -> None:
    """Complete now the Out record processing whose completion softioc handed the dispatcher."""
    completion_args[0].PACT = 0


def processing_idle(completion_args: tuple[Any, ...]) -> bool:
    """True when the record of ``completion_args`` is neither active nor due to process again."""
    record = completion_args[0]
    return not (record.PACT or record.RPRO)


# --- record field access --------------------------------------------------------------------------
# softioc's device support reads and writes record fields through ``fields._Record``, which builds
# a ctypes pointer (``ctypes.cast``) for every access: at start-up every record's init_record and
# first processing make several such accesses, and every put and update makes a few. The same
# accesses through ``from_address`` give the same values without building a pointer.

_Record = fields._Record
#: Seconds from 1970 to 1990, where EPICS time stamps start.
EPICS_EPOCH = 631152000
_ORIGINAL_ACCESS = {
    name: getattr(_Record, name) for name in ("__getattr__", "__setattr__", "write_val", "read_val")
}
_LINK_FIELDS = frozenset({fields.DBF_INLINK, fields.DBF_OUTLINK})
_TYPES = fields.DbfCodeToCtypes


def _get_field(self: Any, field: str) -> Any:
    offset, _, field_type = self.fields[field]
    address = offset + self._as_parameter_
    if field == "TIME":
        return _ORIGINAL_ACCESS["__getattr__"](self, field)
    if field_type == fields.DBF_STRING:
        return ctypes.string_at(address).decode(errors="replace")
    if field_type in _LINK_FIELDS:
        link = typing.cast(bytes, ctypes.c_char_p.from_address(address).value)  # set at init
        return link.decode(errors="replace")
    return _TYPES[field_type].from_address(address).value


def _set_field(self: Any, field: str, value: Any) -> None:
    offset, _, field_type = self.fields[field]
    if field == "TIME" and isinstance(value, (int, float)):
        stamp = fields.ca_timestamp.from_address(offset + self._as_parameter_)
        stamp.secs = (int(value) - EPICS_EPOCH) % 2**32
        stamp.nsec = int(1e9 * (value % 1.0))
    elif field == "TIME" or field_type == fields.DBF_STRING:
        _ORIGINAL_ACCESS["__setattr__"](self, field, value)
    else:
        if isinstance(value, ctypes._SimpleCData):  # softioc also stores ctypes values
            value = value.value
        _TYPES[field_type].from_address(offset + self._as_parameter_).value = value


def _write_val(self: Any, value: Any) -> None:
    offset, size, _ = self.fields["VAL"]
    if ctypes.sizeof(value) != size:
        raise AssertionError(f"Incompatible field and value: {ctypes.sizeof(value)} {size}")
    ctypes.memmove(offset + self._as_parameter_, ctypes.addressof(value), size)


def _read_val(self: Any) -> Any:
    offset, _, field_type = self.fields["VAL"]
    return _TYPES[field_type].from_address(offset + self._as_parameter_)


def install_field_access() -> None:
    """Make softioc's record field access build no ctypes pointers (same values, same writes).

    softioc writes a time stamp (Out records' ``init_record``) through two ``ctypes.cast`` calls
    whose results reference each other: cyclic garbage per record, which Python's collector
    then has to find. Writing it through ``from_address`` leaves none.
    """
    _Record.__getattr__ = _get_field
    _Record.__setattr__ = _set_field
    _Record.write_val = _write_val
    _Record.read_val = _read_val


def _init_in_record(self: Any, record: Any) -> int:
    """``init_record`` of every In record: show the initial value now, without alarm.

    What processing at ``iocInit`` (PINI) would show, without processing: the value, its time
    stamp, UDF (NaN leaves an ai undefined) and no alarm.
    """
    value = self._value[0]
    self._write_value(record, value)
    record.TIME = time.time()
    record.UDF = int(isinstance(value, ctypes.c_double) and math.isnan(value.value))
    record.NSEV = record.NSTA = 0
    imports.recGblResetAlarms(record)
    return 0


def install_in_init() -> None:
    """Give softioc's In records (their ``init_record`` does nothing) :func:`_init_in_record`.

    Records with PINI (softioc's builder default) process at ``iocInit`` anyway, which shows the
    same; records made with :data:`PUSHED_IN` need it.
    """
    softioc_device.ProcessDeviceSupportIn.init_record = _init_in_record


def _binder(device_class: Any) -> Callable[[int], int]:
    """The ``init_record`` entry of ``device_class``'s device support table, made lean.

    softioc's own entry binds the record to its device object (the object is found by the name
    in the record's link, its id goes into DPVT) through its generic field accessors, and
    reads the record's NAME back as a new string; this one does the same binding with the
    field offsets looked up once, and uses the device's own name.
    """
    table = device_class._DeviceSupportCore__fields.fields
    link, dpvt = table[device_class._link_][0], table["DPVT"][0]
    directory = softioc_device.RecordLookup._RecordDirectory
    text_at, pointer_at = ctypes.c_char_p.from_address, ctypes.c_void_p.from_address

    def init_record(address: int) -> int:
        name = typing.cast(bytes, text_at(address + link).value)  # the link EPICS read
        device = directory[name.decode(errors="replace")]
        pointer_at(address + dpvt).value = id(device)
        record = device._record = _Record(table, address)
        device.name = device._name
        return device.init_record(record)

    return init_record


_bound_entries: list[Any] = []  # the C callbacks EPICS calls: kept alive here


def install_binders() -> None:
    """Put :func:`_binder`'s entries into the device support tables of every kind in KINDS.

    EPICS holds a pointer to each table (registered when softioc defined the class), so the
    entry written here is the one ``iocInit`` calls.
    """
    for device_class in {kind.device for kind in KINDS.values()}:
        table = device_class._DeviceSupportCore__dset
        entry = type(table.init_record)(_binder(device_class))
        _bound_entries.append(entry)
        table.init_record = entry


install_field_access()
install_in_init()
install_binders()


# --- EPICS base internals of the put trap (ioc/puttrap.py) and access security (ioc/access.py) ----

DBR_STRING = 0
DBR_CHAR = 4
#: CA's DBR codes (db_access.h) → ctypes element type.
_ELEMENT_TYPES: dict[int, Any] = {
    DBR_STRING: ctypes.c_char * 40,
    1: ctypes.c_int16,  # DBR_SHORT
    2: ctypes.c_float,  # DBR_FLOAT
    3: ctypes.c_uint16,  # DBR_ENUM
    DBR_CHAR: ctypes.c_uint8,  # dbr_char_t is epicsUInt8; the database takes it as DBR_UCHAR
    5: ctypes.c_int32,  # DBR_LONG
    6: ctypes.c_double,  # DBR_DOUBLE
}
#: userPvt of a trapped put that the listener refused (the trap hands it back in the after call).
_REFUSED = 1


class _TrapMessage(ctypes.Structure):
    """``asTrapWriteMessage``: what the access-security trap hands its listeners."""

    _fields_ = [
        ("userid", ctypes.c_char_p),
        ("hostid", ctypes.c_char_p),
        ("serverSpecific", ctypes.c_void_p),  # the dbChannel
        ("userPvt", ctypes.c_void_p),
        ("dbrType", ctypes.c_int),
        ("no_elements", ctypes.c_int),
        ("data", ctypes.c_void_p),
    ]


_TrapListener = ctypes.CFUNCTYPE(None, ctypes.POINTER(_TrapMessage), ctypes.c_int)


class _ChannelHead(ctypes.Structure):
    """The start of a dbChannel: its name, then its dbAddr's first members."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("precord", ctypes.c_void_p),
        ("pfield", ctypes.c_void_p),
        ("pfldDes", ctypes.c_void_p),
    ]


class _FieldHead(ctypes.Structure):
    """The start of a dbFldDes."""

    _fields_ = [("prompt", ctypes.c_char_p), ("name", ctypes.c_char_p)]


class TrappedWrite:
    """One call of the access-security write trap: a put about to be written, or just written.

    ``after`` is False for the call before the put, True for the one after it.
    """

    __slots__ = ("_message", "after")

    def __init__(self, message: _TrapMessage, after: bool) -> None:
        self._message = message
        self.after = after

    def target(self) -> tuple[str, str, int] | None:
        """(record name, field name, record address) of the put; None without a channel."""
        channel = self._message.serverSpecific
        if not channel:
            return None
        head = _ChannelHead.from_address(channel)
        field = _FieldHead.from_address(head.pfldDes).name if head.pfldDes else b""
        name = ctypes.string_at(head.precord).decode(errors="replace")
        return name, (field or b"").decode(), head.precord

    @property
    def has_data(self) -> bool:
        """True when the server passed the client's data (the CA server does, QSRV2 does not)."""
        return bool(self._message.data)

    @property
    def dbr_type(self) -> int:
        """The CA DBR type of the data."""
        return int(self._message.dbrType)

    def values(self) -> list[Any] | None:
        """The put's values as the client sent them; None for a DBR type not looked at."""
        msg = self._message
        element = _ELEMENT_TYPES.get(msg.dbrType)
        if element is None or msg.no_elements < 1:
            return None
        items = ctypes.cast(msg.data, ctypes.POINTER(element * msg.no_elements)).contents
        if msg.dbrType == DBR_STRING:
            return [bytes(item).split(b"\0", 1)[0].decode(errors="replace") for item in items]
        return list(items)

    @property
    def user(self) -> str:
        """The user name the client gave."""
        return (self._message.userid or b"").decode(errors="replace")

    @property
    def host(self) -> str:
        """The client's host (its IP address when ``asCheckClientIP`` is set)."""
        return (self._message.hostid or b"").decode(errors="replace")

    def write_permitted(self) -> bool:
        """Whether access security lets this client write the put's channel (see below)."""
        msg = self._message
        return write_permitted(msg.serverSpecific, msg.userid or b"", msg.hostid or b"")

    @property
    def refused(self) -> bool:
        """Marked refused in the before call (the mark comes back in the after call)."""
        return self._message.userPvt == _REFUSED

    @refused.setter
    def refused(self, value: bool) -> None:
        self._message.userPvt = _REFUSED if value else None


_disp_offset: list[int] = []


def disp_field(record: int) -> ctypes.c_uint8:
    """The DISP field (puts disabled) of the record at address ``record``."""
    if not _disp_offset:
        _disp_offset.append(imports.get_field_offsets("ai")["DISP"][0])
    return ctypes.c_uint8.from_address(record + _disp_offset[0])


_as_set_filename = c_function(dbCore, "asSetFilename", ctypes.c_int, ctypes.c_char_p)
#: Kept alive for the process: EPICS calls the registered trap listener until it exits.
_trap_listeners: list[Any] = []


def install_trap(rules: str, listener: Callable[[TrappedWrite], None]) -> None:
    """Load the access rules file ``rules`` and have ``listener`` see every trapped write.

    Call before ``iocInit``.
    """
    _as_set_filename(rules.encode())
    register = c_function(Com, "asTrapWriteRegisterListener", ctypes.c_void_p, _TrapListener)

    def call(message: Any, after: int) -> None:
        listener(TrappedWrite(message.contents, bool(after)))

    _trap_listeners.append(_TrapListener(call))
    register(_trap_listeners[-1])


def parse_access_file(rules: str) -> bool:
    """Have EPICS parse the access security file ``rules`` now; False when EPICS refuses it.

    Host rules match the clients' IP addresses (``asCheckClientIP``). Parsing turns access
    security on; it is turned off again so that ``iocInit`` loads the file (given to
    :func:`use_access_file`) and attaches the records.
    """
    ctypes.c_int.in_dll(Com, "asCheckClientIP").value = 1
    init_file = c_function(Com, "asInitFile", ctypes.c_long, ctypes.c_char_p, ctypes.c_char_p)
    if init_file(rules.encode(), None) != 0:
        return False
    ctypes.c_int.in_dll(Com, "asActive").value = 0
    return True


def use_access_file(rules: str) -> None:
    """Have ``iocInit`` load the access security file ``rules``."""
    _as_set_filename(rules.encode())


def access_security_active() -> bool:
    """True when EPICS access security is on."""
    return bool(ctypes.c_int.in_dll(Com, "asActive").value)


# --- what the servers report --------------------------------------------------------------------

#: Server layer names as they register with dbServer: protocol → name.
SERVER_LAYERS = {"CA": b"rsrv", "PVA": b"qsrv2"}

_uint_p = ctypes.POINTER(ctypes.c_uint)
_server_stats = c_function(dbCore, "dbServerStats", ctypes.c_int, ctypes.c_char_p, _uint_p, _uint_p)
_c_getenv = c_function(ctypes.CDLL(None), "getenv", ctypes.c_char_p, ctypes.c_char_p)


def client_count(protocol: str) -> int | None:
    """Clients (CA circuits, PVA connections) of the server of ``protocol``; None if unknown."""
    channels, clients = ctypes.c_uint(0), ctypes.c_uint(0)
    called = _server_stats(SERVER_LAYERS[protocol], ctypes.byref(channels), ctypes.byref(clients))
    return clients.value if called > 0 else None


def ca_server_port() -> int | None:
    """The TCP port the CA server bound (after ``iocInit``), None before it has."""
    value = _c_getenv(b"RSRV_SERVER_PORT")
    return int(value) if value else None


# --- access security of a trapped put (ioc/puttrap.py) --------------------------------------------


class _FieldLevel(ctypes.Structure):
    """A ``dbFldDes`` from its start to its access security level (``as_level``)."""

    _fields_ = [
        ("prompt", ctypes.c_char_p),
        ("name", ctypes.c_char_p),
        ("extra", ctypes.c_char_p),
        ("pdbRecordType", ctypes.c_void_p),
        ("indRecordType", ctypes.c_short),
        ("special", ctypes.c_short),
        ("field_type", ctypes.c_int),
        ("process_passive", ctypes.c_uint, 1),
        ("prop", ctypes.c_uint, 1),
        ("isDevLink", ctypes.c_uint, 1),
        ("base", ctypes.c_int),
        ("promptgroup", ctypes.c_short),
        ("interest", ctypes.c_short),
        ("as_level", ctypes.c_int),
    ]


class _AsClient(ctypes.Structure):
    """``ASGCLIENT`` (asLib.h): one client of an access security group member."""

    _fields_ = [
        ("next", ctypes.c_void_p),
        ("previous", ctypes.c_void_p),
        ("pasgMember", ctypes.c_void_p),
        ("user", ctypes.c_char_p),
        ("host", ctypes.c_char_p),
        ("userPvt", ctypes.c_void_p),
        ("pcallback", ctypes.c_void_p),
        ("level", ctypes.c_int),
        ("access", ctypes.c_int),
        ("trapMask", ctypes.c_int),
    ]


#: asAccessRights: asNOACCESS, asREAD, asWRITE.
_AS_WRITE = 2


@functools.cache
def _as_client_calls() -> tuple[int, Any, Any]:
    """(offset of a record's ASP, asAddClient, asRemoveClient)."""
    client_p = ctypes.POINTER(ctypes.POINTER(_AsClient))
    add = c_function(
        Com,
        "asAddClient",
        ctypes.c_long,
        client_p,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_char_p,
    )
    remove = c_function(Com, "asRemoveClient", ctypes.c_long, client_p)
    return imports.get_field_offsets("ai")["ASP"][0], add, remove


def write_permitted(channel: int, user: bytes, host: bytes) -> bool:
    """Whether access security lets ``user`` on ``host`` write the dbChannel at ``channel``.

    EPICS's own rules decide: a client of the record's access security member is added for this
    user, host and the field's level, its access read, and the client removed again.
    """
    asp_offset, add, remove = _as_client_calls()
    head = _ChannelHead.from_address(channel)
    member = ctypes.c_void_p.from_address(head.precord + asp_offset).value
    level = _FieldLevel.from_address(head.pfldDes).as_level if head.pfldDes else 0
    client = ctypes.POINTER(_AsClient)()
    host_copy = ctypes.create_string_buffer(host)  # asAddClient lower-cases it in place
    status = add(ctypes.byref(client), member, level, user, host_copy)
    if not client:  # no access security on this channel: EPICS checks nothing
        return True
    try:
        return status == 0 and client.contents.access >= _AS_WRITE
    finally:
        remove(ctypes.byref(client))
