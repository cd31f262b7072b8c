"""Type mapping: how one pyrogue Variable or Command becomes one softioc record.

:func:`resolve` is the only place that looks at ``typeStr``, ``enum``, ``disp`` and the limits of
a Variable. It returns a :class:`Mapping` whose converters are bound once; the holder then moves
values through them without any per-update type dispatch.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from softioc import builder

from . import _softioc
from .capacity import Capacities
from .tree import Variable, takes_argument
from .validation import (
    check_array,
    check_bool,
    check_float,
    check_index,
    check_integer,
    check_integer_text,
    check_label,
    check_literal,
    check_string,
)

#: mbbi/mbbo hold at most 16 states whose labels have at most 25 characters.
MBB_MAX_STATES = 16
MBB_MAX_LABEL = 25
#: Field name prefixes of the 16 mbbi/mbbo states (``ZRST``/``ZRVL`` … ``FFST``/``FFVL``).
MBB_PREFIXES = (
    "ZR",
    "ON",
    "TW",
    "TH",
    "FR",
    "FV",
    "SX",
    "SV",
    "EI",
    "NI",
    "TE",
    "EL",
    "TV",
    "TT",
    "FT",
    "FF",
)
#: PREC of a float whose display format names no precision ('{:f}' also shows 6 decimals).
DEFAULT_PRECISION = 6
#: Sizes of EPICS string fields in bytes, without the terminating NUL.
DESC_LENGTH = 40
EGU_LENGTH = 15

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

_BOOL_TYPES = frozenset({"Bool", "bool", "BoolBE"})
_FLOAT_TYPES = frozenset({"float"})
_INT_PATTERN = re.compile(r"(U?)Int(?:BE)?(\d+)(?:BE)?")
_FLOAT_PATTERN = re.compile(r"(?:Float|Double|BFloat|TensorFloat)(?:BE)?(\d+)(?:BE)?")
_STRING_PATTERN = re.compile(r"String(?:BE)?\((\d+)\)")
_ARRAY_PATTERN = re.compile(r"([a-z]+\d+)\(((?:\d+, ?)*\d*)\)")
_PRECISION_PATTERN = re.compile(r"\{[^}]*:[^}]*\.(\d+)[eEfFgG%]\}")
#: numpy dtypes a softioc waveform can carry (FTVL follows the dtype).
_WAVEFORM_DTYPES = frozenset(
    {"int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"}
)
#: Python types of display text that is parsed back as a literal (as pyrogue's parseDisp does).
_LITERAL_TYPES = (list, dict, tuple)


class UnservableValue(ValueError):
    """A tree value that the record cannot hold (e.g. text longer than the record's buffer)."""


@dataclass(frozen=True)
class Mapping:
    """One variable's record kind and its bound converters.

    ``sent`` says how to check what a CA client sent before the server converted it (see
    :mod:`ioc.puttrap`): ``"integer"``, ``"real"`` or ``"array"`` for numeric records,
    ``"state"`` for bi/bo/mbb (text is one of ``labels`` or an index), ``"text"`` for text
    records (char arrays).
    ``blank`` is the record's value when the tree's value cannot be shown. ``to_record`` turns a
    VariableValue into the record's value (raising
    :class:`UnservableValue` when it cannot be held), ``from_record`` checks a client's put and
    returns the argument for the tree write (raising :class:`PutRejected`), ``writes_text``
    selects ``setDisp`` instead of ``set`` for the write.
    """

    kind: str
    make_in: Callable[..., Any]
    make_out: Callable[..., Any]
    to_record: Callable[[Any], Any]
    from_record: Callable[[Any], Any]
    blank: Any = 0
    sent: str = ""
    labels: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)
    writes_text: bool = False
    writable: bool = True
    #: Record templates by direction (Out: True), made on first use.
    _templates: dict[bool, _softioc.Template] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def buffer_bytes(self) -> int:
        """Bytes of the record's value buffer (an array's or a text's whole capacity)."""
        length = self.fields.get("length")
        if length is None:
            return 8
        return int(length) * np.dtype(self.fields.get("datatype", "uint8")).itemsize

    def create(
        self, name: str, out: bool, initial: Any, alias: str | None = None, **callbacks: Any
    ) -> Any:
        """Create the softioc record ``name`` (In or Out) holding ``initial``, maybe aliased.

        ``callbacks`` are the record's own fields (DESC …) and the device's callbacks. The
        mapping's fields are checked and written once per direction, not per record. An In
        record is processed by its holder alone (:data:`ioc._softioc.PUSHED_IN`).
        """
        template = self._templates.get(out)
        if template is None:
            fixed = self.fields if out else self.fields | _softioc.PUSHED_IN
            template = _softioc.Template(self.make_out if out else self.make_in, fixed)
            self._templates[out] = template
        return template.create(name, alias, initial_value=initial, **callbacks)


# --- limits --------------------------------------------------------------------------------------


def integer_range(type_str: str) -> tuple[int, int] | None:
    """Return the value range of a pyrogue integer type (``UInt12`` → (0, 4095)), else None."""
    match = _INT_PATTERN.fullmatch(type_str)
    if match is None:
        return INT32 if type_str == "int" else None
    bits = int(match.group(2))
    if match.group(1):
        return (0, 2**bits - 1)
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def _intersect(low: Any, high: Any, minimum: Any, maximum: Any) -> tuple[Any, Any]:
    """Return the range ``[low, high]`` narrowed by the variable's own minimum/maximum."""
    if minimum is not None:
        low = minimum if low is None else max(low, minimum)
    if maximum is not None:
        high = maximum if high is None else min(high, maximum)
    return low, high


def _limit(var: Variable, name: str) -> Any:
    """The variable's ``minimum`` or ``maximum`` (None where it has none)."""
    return getattr(var, name, None)


def precision(disp: str) -> int | None:
    """Return the number of decimals a display format asks for (``'{:.3f}'`` → 3), if any."""
    match = _PRECISION_PATTERN.search(disp or "")
    return int(match.group(1)) if match else None


def _alarm_fields(var: Variable) -> dict[str, Any]:
    """HIHI/HIGH/LOW/LOLO with their severities from the variable's alarm limits."""
    result: dict[str, Any] = {}
    for limit, fld, sevr_field, severity in (
        ("highAlarm", "HIHI", "HHSV", "MAJOR"),
        ("highWarning", "HIGH", "HSV", "MINOR"),
        ("lowWarning", "LOW", "LSV", "MINOR"),
        ("lowAlarm", "LOLO", "LLSV", "MAJOR"),
    ):
        value = getattr(var, limit, None)
        if value is not None:
            result[fld] = value
            result[sevr_field] = severity
    return result


def _whole(field_name: str, value: Any) -> Any:
    """An alarm field for an integer record: limits rounded away from the normal range."""
    if field_name in ("HIHI", "HIGH"):
        return math.ceil(value)
    if field_name in ("LOW", "LOLO"):
        return math.floor(value)
    return value


def _display_fields(var: Variable, low: Any, high: Any) -> dict[str, Any]:
    """EGU and the display range LOPR/HOPR.

    DRVL/DRVH are deliberately not set: EPICS clamps a put to them before device support sees the
    value, which would turn an out-of-range put into a silent clamp instead of a rejection.
    """
    result: dict[str, Any] = {}
    if var.units:
        result["EGU"] = fit_bytes(str(var.units), EGU_LENGTH)
    if low is not None and high is not None and low < high:
        result["LOPR"] = low
        result["HOPR"] = high
    return result


# --- converters ----------------------------------------------------------------------------------


def _int_to_record(low: int, high: int) -> Callable[[Any], int]:
    def to_record(vv: Any) -> int:
        value = int(vv.value)
        if not low <= value <= high:
            raise UnservableValue(f"{value} does not fit the record's range {low}..{high}")
        return value

    return to_record


def _float_to_record(vv: Any) -> float:
    return float(vv.value)


def _bool_to_record(vv: Any) -> int:
    return int(bool(vv.value))


def _text_to_record(capacity: int) -> Callable[[Any], str]:
    def to_record(vv: Any) -> str:
        text = vv.valueDisp if not isinstance(vv.value, str) else vv.value
        if len(text.encode()) + 1 > capacity:
            raise UnservableValue(f"string of {len(text.encode())} bytes exceeds {capacity - 1}")
        return text

    return to_record


# --- the mapping table ---------------------------------------------------------------------------


def _integer(var: Variable, low: int, high: int, in_make: Any, out_make: Any, kind: str) -> Mapping:
    record_low, record_high = INT32 if kind == "longin/longout" else INT64
    low, high = max(low, record_low), min(high, record_high)
    put_low, put_high = _intersect(low, high, _limit(var, "minimum"), _limit(var, "maximum"))
    # Integer records take integer limits: a fractional minimum/maximum admits the whole
    # numbers inside it, and a fractional alarm limit trips at the first whole number past it.
    put_low, put_high = math.ceil(put_low), math.floor(put_high)
    alarms = {name: _whole(name, value) for name, value in _alarm_fields(var).items()}
    fields = _display_fields(var, put_low, put_high) | alarms
    return Mapping(
        kind=kind,
        make_in=in_make,
        make_out=out_make,
        to_record=_int_to_record(low, high),
        from_record=lambda v: check_integer(v, put_low, put_high),
        sent="integer",
        fields=fields,
    )


def _floating(var: Variable) -> Mapping:
    low, high = _intersect(None, None, _limit(var, "minimum"), _limit(var, "maximum"))
    fields = _display_fields(var, low, high) | _alarm_fields(var)
    decimals = precision(var.disp)
    fields["PREC"] = DEFAULT_PRECISION if decimals is None else decimals
    # NaN is a value of an unlimited float (its puts are accepted): the alarm follows the
    # Variable, not EPICS's "NaN is undefined" (UDF, INVALID by default).
    fields["UDFS"] = "NO_ALARM"
    return Mapping(
        kind="ai/ao",
        make_in=builder.aIn,
        make_out=builder.aOut,
        to_record=_float_to_record,
        from_record=lambda v: check_float(v, low, high),
        sent="real",
        fields=fields,
    )


def _boolean() -> Mapping:
    return Mapping(
        kind="bi/bo",
        make_in=builder.boolIn,
        make_out=builder.boolOut,
        to_record=_bool_to_record,
        from_record=check_bool,
        sent="state",
        labels=("False", "True"),
        fields={"ZNAM": "False", "ONAM": "True"},
    )


def _mbb(enum: dict) -> Mapping:
    keys = tuple(enum)
    labels = tuple(str(label) for label in enum.values())
    index = {key: position for position, key in enumerate(keys)}

    def to_record(vv: Any) -> int:
        try:
            return index[vv.value]
        except (KeyError, TypeError):
            raise UnservableValue(f"{vv.value!r} is not a key of the enum") from None

    states: dict[str, Any] = {}
    for position, (prefix, label) in enumerate(zip(MBB_PREFIXES, labels, strict=False)):
        states |= {f"{prefix}ST": label, f"{prefix}VL": position}
    return Mapping(
        kind="mbbi/mbbo",
        make_in=builder.mbbIn,
        make_out=builder.mbbOut,
        to_record=to_record,
        from_record=lambda v: check_index(v, keys),
        sent="state",
        fields=states,
        labels=labels,
    )


def _enum_label(enum: dict) -> Mapping:
    reverse = {str(label): key for key, label in enum.items()}
    capacity = max(len(label.encode()) for label in reverse) + 2 if reverse else 2

    def to_record(vv: Any) -> str:
        try:
            return str(enum[vv.value])
        except (KeyError, TypeError):
            raise UnservableValue(f"{vv.value!r} is not a key of the enum") from None

    return Mapping(
        kind="lsi/lso (enum label)",
        make_in=builder.longStringIn,
        make_out=builder.longStringOut,
        to_record=to_record,
        from_record=lambda v: check_label(v, reverse),
        blank="",
        sent="text",
        fields={"length": max(capacity, 64)},
        writes_text=True,
    )


def _string(capacity: int, max_chars: int | None) -> Mapping:
    return Mapping(
        kind="lsi/lso",
        make_in=builder.longStringIn,
        make_out=builder.longStringOut,
        to_record=_text_to_record(capacity),
        from_record=lambda v: check_string(v, max_chars, capacity),
        blank="",
        sent="text",
        fields={"length": capacity},
    )


def _wide_integer(var: Variable, low: int, high: int) -> Mapping:
    """An integer wider than int64 (UInt64, UInt128, …): a text record of its display text.

    No EPICS number holds every value of such a type exactly (CA has no 64-bit integer at all,
    and the int64 records are signed), so the record holds the text pyrogue displays (``0x…`` for
    its UInt model), which every client reads exactly. A put is that text, or any integer written
    in decimal, ``0x``, ``0o`` or ``0b``, checked against the type's range and the Variable's
    minimum/maximum.
    """
    put_low, put_high = _intersect(low, high, _limit(var, "minimum"), _limit(var, "maximum"))
    put_low, put_high = math.ceil(put_low), math.floor(put_high)
    # Binary with a sign and a prefix is the longest exact form; then the NUL and a spare byte.
    size = max(low.bit_length(), high.bit_length()) + 5

    def to_record(vv: Any) -> str:
        value = int(vv.value)
        text = vv.valueDisp
        try:
            exact = int(str(text).strip(), 0) == value
        except ValueError:
            exact = False
        text = text if exact else f"{value:#x}"
        if len(text) + 2 > size:
            raise UnservableValue(f"{value} does not fit the type's range {low}..{high}")
        return text

    return Mapping(
        kind="lsi/lso (integer text)",
        make_in=builder.longStringIn,
        make_out=builder.longStringOut,
        to_record=to_record,
        from_record=lambda v: check_integer_text(v, put_low, put_high),
        blank="",
        sent="text",
        fields={"length": size},
    )


def _array_shape(var: Variable, value: Any) -> tuple[np.dtype, tuple[int, ...]] | None:
    """The element type and shape of an array Variable, from its value or else its typeStr."""
    if isinstance(value, np.ndarray):
        return value.dtype, value.shape
    match = _ARRAY_PATTERN.fullmatch(str(var.typeStr))
    if match is None:
        return None
    shape = tuple(int(n) for n in match.group(2).replace(" ", "").split(",") if n)
    return np.dtype(match.group(1)), shape


def _fixed_length(var: Variable) -> bool:
    """True for a RemoteVariable: its array length is fixed by its registers."""
    return any(cls.__name__ == "RemoteVariable" for cls in type(var).__mro__)


def _waveform(
    var: Variable, dtype: np.dtype, shape: tuple[int, ...], capacities: Capacities
) -> Mapping:
    """A numeric array: a waveform of the flattened (C order) values, NORD = the current size.

    An array of a RemoteVariable keeps its length: NELM is the length plus one spare element
    (the CA server cuts an overlong put to NELM silently, so the spare element lets an overlong
    put arrive overlong and be refused). Any other array may change length (a stream receiver's
    last frame, an array a LocalVariable appends to): NELM follows the capacity policy and NORD
    the current length. A put must have the Variable's current number of elements; an N-D
    array's put is reshaped to its current shape.
    """
    size = math.prod(shape)
    fixed = _fixed_length(var)
    nelm = size + 1
    if not fixed:
        nelm = max(nelm, capacities.growing_array(var.path) // dtype.itemsize)

    def to_record(vv: Any) -> np.ndarray:
        array = np.asarray(vv.value)
        if array.size >= nelm:  # the spare element stays free (see above)
            raise UnservableValue(f"array of {array.size} elements, the record holds {nelm - 1}")
        flat = array.reshape(-1)
        if flat.dtype == dtype:
            return flat
        converted = flat.astype(dtype)
        if not np.array_equal(converted, flat, equal_nan=dtype.kind == "f"):
            raise UnservableValue(f"array of {array.dtype} does not fit the record's {dtype}")
        return converted

    def from_record(values: Any) -> np.ndarray:
        current = shape if fixed else np.shape(var.get(read=False))
        return check_array(values, math.prod(current), dtype).reshape(current)

    return Mapping(
        kind="waveform",
        make_in=builder.WaveformIn,
        make_out=builder.WaveformOut,
        to_record=to_record,
        from_record=from_record,
        blank=np.zeros(min(size, nelm), dtype),
        sent="array",
        fields={"length": nelm, "datatype": dtype},
    )


def _display_text(var: Variable, value: Any, display: str, size: int) -> Mapping:
    """Anything else: the record holds ``valueDisp``.

    Writable when the display text of the current value parses back to it as a Python literal
    (lists, dicts, tuples shown with pyrogue's default ``'{}'``); a put is parsed the same way
    and must give a value of the same type. Decided from the value itself: nothing calls into
    the tree, so serving a Variable of an odd type (a matplotlib figure) logs nothing there.
    """
    kind = type(value)
    writable = isinstance(value, _LITERAL_TYPES) and _literal_of(display) == value
    return Mapping(
        kind="lsi/lso (display text)",
        make_in=builder.longStringIn,
        make_out=builder.longStringOut,
        to_record=_text_to_record(size),
        from_record=lambda text: check_literal(text, kind, size),
        blank="",
        sent="text",
        fields={"length": size},
        writable=writable,
    )


def _literal_of(text: str) -> Any:
    """The Python literal written in ``text``, or a marker that equals nothing."""
    try:
        return ast.literal_eval(text)
    except Exception:  # any text that is not a literal: not writable, whatever the reason
        return _NOT_A_LITERAL


class _NotALiteral:
    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


_NOT_A_LITERAL = _NotALiteral()


def _no_argument() -> Mapping:
    """A command without an argument: any integer put invokes it; the value is not used."""
    return Mapping(
        kind="longin/longout (trigger)",
        make_in=builder.longIn,
        make_out=builder.longOut,
        to_record=lambda vv: 0,
        from_record=lambda v: check_integer(v, *INT32),
        sent="integer",
    )


#: Attributes besides typeStr and enum that decide the mapping of a Variable of a scalar type.
_SHAPE_ATTRIBUTES = (
    "disp",
    "units",
    "minimum",
    "maximum",
    "highAlarm",
    "highWarning",
    "lowWarning",
    "lowAlarm",
)
_read_shape = operator.attrgetter(*_SHAPE_ATTRIBUTES)
#: Kinds whose mapping depends on the current value: never shared.
_VALUE_KINDS = frozenset({"waveform", "lsi/lso (display text)"})
#: Distinct shared mappings kept (a tree has few: one per combination of type, limits, units …).
SHARED_LIMIT = 4096
_shared: dict[tuple, Mapping] = {}


def _shape(var: Variable, capacities: Capacities) -> tuple:
    """Everything :func:`resolve` reads of ``var`` when its type is a scalar one."""
    type_str = str(var.typeStr)
    enum = var.enum
    labels = tuple((type(key), key, str(label)) for key, label in enum.items()) if enum else None
    trigger = var.isCommand and not takes_argument(var)
    try:
        values = _read_shape(var)
    except AttributeError:  # a Variable without some of them: None, as resolve() reads them
        values = tuple(getattr(var, name, None) for name in _SHAPE_ATTRIBUTES)
    text = capacities.text(var.path) if type_str == "str" else None
    return (type_str, labels, trigger, text, values, tuple(map(type, values)))


def resolve(var: Variable, capacities: Capacities | None = None) -> Mapping:
    """Return the record mapping of ``var`` (a pyrogue Variable or Command).

    ``capacities`` sizes the records of values that can grow (text, arrays of a
    LocalVariable); the built-in defaults of :mod:`ioc.capacity` apply without it.
    Nothing here writes to the tree or calls into it beyond reading the current value.

    Variables of the same scalar type, enum, display format, units and limits share one
    mapping (immutable; its record fields are checked once): a tree of many alike Variables
    resolves each kind once.
    """
    capacities = capacities or Capacities()
    try:
        shape = _shape(var, capacities)
        return _shared[shape]
    except KeyError:
        pass
    except TypeError:  # an unhashable attribute: not shared
        return _resolve(var, capacities)
    mapping = _resolve(var, capacities)
    if mapping.kind not in _VALUE_KINDS and len(_shared) < SHARED_LIMIT:
        _shared[shape] = mapping
    return mapping


def _resolve(var: Variable, capacities: Capacities) -> Mapping:
    """The mapping of ``var``, made anew (see :func:`resolve`)."""
    if var.isCommand and not takes_argument(var):
        return _no_argument()
    type_str = str(var.typeStr)
    enum = var.enum
    if type_str in _BOOL_TYPES:
        return _boolean()
    if enum:
        fits_mbb = len(enum) <= MBB_MAX_STATES and all(
            len(str(label).encode()) <= MBB_MAX_LABEL for label in enum.values()
        )
        return _mbb(enum) if fits_mbb else _enum_label(enum)
    int_range = integer_range(type_str)
    if int_range is not None:
        low, high = int_range
        if INT32[0] <= low and high <= INT32[1]:
            return _integer(var, low, high, builder.longIn, builder.longOut, "longin/longout")
        if INT64[0] <= low and high <= INT64[1]:
            return _integer(var, low, high, builder.int64In, builder.int64Out, "int64in/int64out")
        return _wide_integer(var, low, high)
    if type_str in _FLOAT_TYPES or _FLOAT_PATTERN.fullmatch(type_str):
        return _floating(var)
    string = _STRING_PATTERN.fullmatch(type_str)
    if string:
        size = int(string.group(1))
        return _string(size + 1, max(size - 1, 0))
    if type_str == "str":
        return _string(capacities.text(var.path), None)
    vv = var.getVariableValue(read=False)
    array = _array_shape(var, vv.value)
    if array is not None and array[0].name in _WAVEFORM_DTYPES:
        return _waveform(var, array[0], array[1], capacities)
    return _display_text(var, vv.value, str(vv.valueDisp), capacities.text(var.path))


def fit_bytes(text: str, size: int) -> str:
    """``text`` cut to at most ``size`` bytes of UTF-8, never inside a character."""
    return text.encode()[:size].decode(errors="ignore")


def description(var: Variable) -> str:
    """The DESC field: the variable's description cut to the 40 bytes EPICS allows."""
    text = getattr(var, "description", "") or ""
    if type(text) is str and _plain_desc(text):
        return text
    text = " ".join(str(text).split())
    return fit_bytes(text.replace('"', "'"), DESC_LENGTH)


def _plain_desc(text: str) -> bool:
    """True when ``text`` is already a DESC as :func:`description` makes it."""
    return (
        len(text) <= DESC_LENGTH
        and text.isascii()
        and text.isprintable()
        and '"' not in text
        and "  " not in text
        and text[:1] != " "
        and text[-1:] != " "
    )
