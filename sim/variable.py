"""pyrogue's Variables: BaseVariable, LocalVariable, RemoteVariable, LinkVariable.

The semantics follow pyrogue (and rogue's C++ memory blocks) where a device author or a client
notices them: constructor keywords and defaults, typeStr/nativeType/disp/enum, array layout
(`numValues` values of `valueBits` bits every `valueStride` bits), list-valued
offset/bitSize/bitOffset, `value=` defaults applied without a write at start, listeners and
dependencies, get/set/post with `index=`, and the exceptions of bad writes (VariableError for
LocalVariables, GeneralError for RemoteVariables). Unknown keywords are kept as extra
attributes (`getExtraAttribute`), as pyrogue does.
"""

from __future__ import annotations

import ast
import inspect
import logging
import operator
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from sim.memory import Field, GeneralError, MemoryEmulator
from sim.model import Model, UInt
from sim.node import Node

__all__ = [
    "BaseVariable",
    "LinkVariable",
    "LocalVariable",
    "RemoteVariable",
    "VariableError",
    "VariableValue",
    "functionWrapper",
]

log = logging.getLogger(__name__)

_MODES = ("RW", "RO", "WO")
_BOOL_ENUM = {False: "False", True: "True"}


class VariableError(Exception):
    """pyrogue's VariableError: a bad variable definition, value, range or display string."""


def functionWrapper(function: Callable[..., Any] | None, callArgs: Sequence[str]) -> Callable:
    """A caller of `function` passing, by keyword, only the offered names it declares.

    As in pyrogue, declared means a named positional or keyword-only parameter; `**kwargs`
    receives nothing, a function without a signature (a builtin) gets no arguments, and None
    gives a function returning None.
    """
    if function is None:
        return lambda **offered: None
    try:
        spec = inspect.getfullargspec(function)
        names = [n for n in (*spec.args, *spec.kwonlyargs) if n != "self" and n in callArgs]
    except TypeError:
        names = []
    return lambda **offered: function(**{n: offered[n] for n in names})


def _changed(old: Any, value: Any) -> bool:
    """pyrogue's `changed` for localSet: ``old != value`` (NaN is a change; 1 and 1.0 are not).

    This is not the IOC's question "does the record already show it" (`ioc.holder`, where NaN
    equals NaN): it only reproduces what pyrogue hands a localSet hook.
    """
    try:
        return bool(old != value)
    except (TypeError, ValueError):  # e.g. an array against a scalar: no single truth value
        return True


class VariableValue:
    """A snapshot of a variable: value, its display string, enum/disp and alarm status/severity."""

    __slots__ = ("disp", "enum", "severity", "status", "updated", "value", "valueDisp")

    def __init__(self, var: BaseVariable, read: bool = False, index: int = -1) -> None:
        self.value = var.get(read=read, index=index)
        self.valueDisp = var.genDisp(self.value)
        self.disp = var.disp
        self.enum = var.enum
        self.updated = False
        self.status, self.severity = var._alarmState(self.value)

    def __repr__(self) -> str:
        return f"VariableValue(value={self.value!r}, valueDisp={self.valueDisp!r})"


class BaseVariable(Node):
    """What all Variables and Commands share: metadata, display conversion, alarms, listeners."""

    isVariable = True

    def __init__(
        self,
        *,
        name: str,
        description: str = "",
        mode: str = "RW",
        value: Any = None,
        disp: Any = "{}",
        enum: dict[Any, str] | None = None,
        units: str | None = None,
        hidden: bool = False,
        groups: str | Iterable[str] | None = None,
        minimum: Any = None,
        maximum: Any = None,
        lowWarning: Any = None,
        lowAlarm: Any = None,
        highWarning: Any = None,
        highAlarm: Any = None,
        pollInterval: float = 0,
        updateNotify: bool = True,
        typeStr: str = "Unknown",
        typeCheck: bool = True,
        bulkOpEn: bool = True,
        offset: int = 0,
        guiGroup: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._bulkOpEn = bulkOpEn
        self._updateNotify = updateNotify
        self._mode = mode
        self._units = units
        self._minimum = minimum
        self._maximum = maximum
        self._lowWarning = lowWarning
        self._lowAlarm = lowAlarm
        self._highWarning = highWarning
        self._highAlarm = highAlarm
        self._default = value
        self._typeStr = typeStr
        self._typeCheck = typeCheck
        self._pollInterval = pollInterval
        self._nativeType: type | None = None
        self._ndType: np.dtype | None = None
        self._extraAttr = kwargs
        self._listeners: list[BaseVariable] = []
        self._functions: list[Callable] = []
        self._dependencies: list[BaseVariable] = []
        self._disp = disp
        self._enum = enum
        if isinstance(disp, dict):
            self._enum = disp
        elif isinstance(disp, list):
            self._enum = {k: str(k) for k in disp}
        elif isinstance(value, bool) and enum is None:
            self._enum = dict(_BOOL_ENUM)
        if self._enum is not None:
            self._disp = "enum"
        self._revEnum = {v: k for k, v in self._enum.items()} if self._enum is not None else None
        if value is not None:
            self._nativeType = type(value)
            if self._enum is not None and self._nativeType in (np.ndarray, list, dict):
                raise VariableError(f"Invalid use of enum with value of type {self._nativeType}")
            if self._nativeType is np.ndarray:
                self._ndType = value.dtype
                self._typeStr = f"{value.dtype}{value.shape}"
            elif self._typeStr == "Unknown":
                self._typeStr = type(value).__name__
        if mode not in _MODES:
            raise VariableError(f"Invalid variable mode {mode}. Supported: RW, RO, WO")
        self._lock = threading.RLock()
        super().__init__(
            name=name, description=description, hidden=hidden, groups=groups, guiGroup=guiGroup
        )

    # --- metadata ----------------------------------------------------------------------------

    @property
    def enum(self) -> dict[Any, str] | None:
        """{value: label} or None."""
        return self._enum

    @property
    def revEnum(self) -> dict[str, Any] | None:
        """{label: value} or None."""
        return self._revEnum

    @property
    def typeStr(self) -> str:
        """pyrogue's type string ('UInt32', 'int', 'float64(8,)', ...)."""
        if self._typeStr == "Unknown":
            value = self.value()
            if isinstance(value, np.ndarray):
                self._typeStr = f"{value.dtype}{value.shape}"
            else:
                self._typeStr = type(value).__name__
        return self._typeStr

    @property
    def disp(self) -> str:
        """Display format ('{:#x}') or 'enum'."""
        return self._disp

    @property
    def precision(self) -> int:
        """Digits of a '{:W.Pf}' disp for floats/arrays (else 8); 0 for other types."""
        if self.nativeType is not float and self.nativeType is not np.ndarray:
            return 0
        match = re.search(r":([0-9])\.([0-9]*)f", self._disp)
        try:
            return int(match[2])
        except (TypeError, ValueError):
            return 8

    @property
    def mode(self) -> str:
        """'RW', 'RO' or 'WO'."""
        return self._mode

    @property
    def units(self) -> str | None:
        """Engineering units."""
        return self._units

    @property
    def minimum(self) -> Any:
        """Lowest accepted value (None: unbounded)."""
        return self._minimum

    @property
    def maximum(self) -> Any:
        """Highest accepted value (None: unbounded)."""
        return self._maximum

    @property
    def lowWarning(self) -> Any:
        """Low warning limit."""
        return self._lowWarning

    @property
    def lowAlarm(self) -> Any:
        """Low alarm limit."""
        return self._lowAlarm

    @property
    def highWarning(self) -> Any:
        """High warning limit."""
        return self._highWarning

    @property
    def highAlarm(self) -> Any:
        """High alarm limit."""
        return self._highAlarm

    @property
    def hasAlarm(self) -> bool:
        """True when any alarm or warning limit is set."""
        return any(
            x is not None
            for x in (self._lowWarning, self._lowAlarm, self._highWarning, self._highAlarm)
        )

    @property
    def alarmStatus(self) -> str:
        """Alarm status of the current value."""
        return self._alarmState(self.value())[0]

    @property
    def alarmSeverity(self) -> str:
        """Alarm severity of the current value."""
        return self._alarmState(self.value())[1]

    @property
    def pollInterval(self) -> float:
        """Seconds between polls (0: not polled)."""
        return self._pollInterval

    def setPollInterval(self, interval: float) -> None:
        """Change the poll interval (takes effect on the running Root too)."""
        self._pollInterval = interval
        root = self._root
        if root is not None and root.running:
            root._pollIntervalChanged(self)

    @property
    def updateNotify(self) -> bool:
        """Whether changes are announced to listeners."""
        return self._updateNotify

    @property
    def bulkEn(self) -> bool:
        """Whether bulk operations (ReadAll/WriteAll, YAML) include the variable."""
        return self._bulkOpEn

    @property
    def nativeType(self) -> type | None:
        """The Python type of the value."""
        return self._nativeType

    @property
    def ndType(self) -> np.dtype | None:
        """The numpy dtype of an array value."""
        return self._ndType

    @property
    def ndTypeStr(self) -> str:
        """str(ndType)."""
        return str(self._ndType)

    @property
    def lock(self) -> threading.RLock:
        """The variable's lock."""
        return self._lock

    @property
    def dependencies(self) -> list[BaseVariable]:
        """Variables whose changes this variable follows."""
        return self._dependencies

    def getExtraAttribute(self, name: str) -> Any:
        """A constructor keyword pyrogue does not know, or None."""
        return self._extraAttr.get(name)

    def properties(self) -> dict[str, Any]:
        """Value, display and metadata in one dict."""
        names = (
            *("name", "path", "mode", "typeStr", "enum", "disp", "precision", "units"),
            *("minimum", "maximum", "nativeType", "ndType", "updateNotify", "hasAlarm"),
            *("lowWarning", "highWarning", "lowAlarm", "highAlarm", "alarmStatus"),
            *("alarmSeverity", "pollInterval"),
        )
        found = {"value": self.value(), "valueDisp": self.valueDisp(), "class": type(self).__name__}
        found.update((n, getattr(self, n)) for n in names)
        return found

    # --- listeners ---------------------------------------------------------------------------

    def addListener(self, listener: BaseVariable | Callable[[str, VariableValue], Any]) -> None:
        """Call `listener(path, VariableValue)` on the Root's update thread after each change.

        A Variable as listener is updated (its own listeners called) whenever this one changes.
        """
        target = self._listeners if isinstance(listener, BaseVariable) else self._functions
        if listener not in target:
            target.append(listener)

    def delListener(self, listener: BaseVariable | Callable) -> None:
        """Remove a listener."""
        target = self._listeners if isinstance(listener, BaseVariable) else self._functions
        if listener in target:
            target.remove(listener)

    def addDependency(self, dep: BaseVariable) -> None:
        """Follow `dep`: this variable is updated whenever `dep` changes."""
        if dep not in self._dependencies:
            self._dependencies.append(dep)
            dep.addListener(self)

    def _queueUpdate(self) -> None:
        root = self._root
        if root is not None and (self._functions or self._listeners):
            root._queueUpdate(self)

    def _doUpdate(self) -> VariableValue | None:
        """Update thread: call every listener function with the current value."""
        if not self._functions:
            return None
        try:
            update = VariableValue(self)
        except Exception:
            log.exception("%s: building the update failed", self._path)
            return None
        for function in tuple(self._functions):
            try:
                function(self._path, update)
            except Exception:
                log.exception("%s: listener %r failed", self._path, function)
        return update

    # --- values ------------------------------------------------------------------------------

    def get(self, *, index: int = -1, read: bool = True, **_: Any) -> Any:
        """The value (after reading the hardware with `read`)."""
        raise NotImplementedError

    def set(self, value: Any, *, index: int = -1, write: bool = True, **_: Any) -> None:
        """Set the value (and write it to the hardware with `write`)."""
        raise NotImplementedError

    def post(self, value: Any, *, index: int = -1) -> None:
        """Set the value with a posted (unverified) write."""
        self.set(value, index=index, write=True)

    def write(self, **_: Any) -> None:
        """Force a write of the current value."""

    def value(self, index: int = -1) -> Any:
        """The current value without a hardware read."""
        return self.get(read=False, index=index)

    def getVariableValue(self, read: bool = True, index: int = -1) -> VariableValue:
        """A VariableValue snapshot (value, valueDisp, status, severity)."""
        return VariableValue(self, read=read, index=index)

    def genDisp(self, value: Any, *, useDisp: str | None = None) -> str:
        """The display string of `value`: enum label, or disp applied (per element for arrays)."""
        disp = self._disp if useDisp is None else useDisp
        if disp == "":
            return ""
        if isinstance(value, np.ndarray):
            return np.array2string(
                value,
                separator=", ",
                formatter={"all": disp.format},
                threshold=1 << 62,
                max_line_width=1000,
            )
        if disp == "enum":
            try:
                return self._enum[value]
            except (KeyError, TypeError):
                return f"INVALID: {value}"
        return disp.format(value)

    def getDisp(self, read: bool = True, index: int = -1) -> str:
        """get() as a display string."""
        return self.genDisp(self.get(read=read, index=index))

    def valueDisp(self, index: int = -1) -> str:
        """The current value as a display string, without a read."""
        return self.getDisp(read=False, index=index)

    def parseDisp(self, sValue: Any) -> Any:
        """The value a display string stands for (non-strings are returned unchanged).

        Arrays and other non-str types are parsed as Python literals, enum labels map to their
        keys; a string that does not parse raises VariableError.
        """
        if not isinstance(sValue, str):
            return sValue
        try:
            if self.nativeType is np.ndarray:
                return np.array(ast.literal_eval(sValue), self._ndType)
            if self._disp == "enum":
                return self._revEnum[sValue]
            if self.nativeType is str:
                return sValue
            return ast.literal_eval(sValue)
        except Exception as error:
            raise VariableError(
                f"Invalid value {sValue} for variable {self._name} "
                f"with type {self.nativeType}: {error}"
            ) from None

    def setDisp(self, sValue: Any, write: bool = True, index: int = -1) -> None:
        """set() the value parsed from its display form."""
        value = self.parseDisp(sValue)
        if index >= 0 and isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        self.set(value, write=write, index=index)

    # --- alarms ------------------------------------------------------------------------------

    def _alarmState(self, value: Any) -> tuple[str, str]:
        """(status, severity) of `value` against the alarm limits."""
        if isinstance(value, list | dict | str | np.ndarray) or not self.hasAlarm:
            return "None", "None"
        if self._lowAlarm is not None and value < self._lowAlarm:
            return "AlarmLoLo", "AlarmMajor"
        if self._highAlarm is not None and value > self._highAlarm:
            return "AlarmHiHi", "AlarmMajor"
        if self._lowWarning is not None and value < self._lowWarning:
            return "AlarmLow", "AlarmMinor"
        if self._highWarning is not None and value > self._highWarning:
            return "AlarmHigh", "AlarmMinor"
        return "Good", "Good"

    # --- tree life cycle ---------------------------------------------------------------------

    def _setDefault(self) -> None:
        if self._default is not None:
            self.setDisp(self._default, write=False)

    def _finishInit(self) -> None:
        self._setDefault()
        if self._nativeType is None:
            value = self.value()
            self._nativeType = type(value)
            if isinstance(value, np.ndarray):
                self._ndType = value.dtype

    def _numValues(self) -> int:
        return 0

    def _poll(self) -> None:
        """Poll thread: read the value (listeners hear of it)."""
        try:
            self.get(read=True)
        except Exception as error:
            log.warning("%s: poll failed: %s", self._path, error)

    # --- YAML --------------------------------------------------------------------------------

    def _getDict(self, modes: Iterable[str], incGroups: Any, excGroups: Any, **_: Any) -> Any:
        if self._mode in modes:
            return VariableValue(self)
        return None

    def _setDict(
        self,
        d: Any,
        writeEach: bool,
        modes: Iterable[str],
        incGroups: Any = None,
        excGroups: Any = None,
        keys: list[str] | None = None,
    ) -> None:
        if self._mode not in modes:
            log.warning("Skipping set for %s with mode %s", self._path, self._mode)
            return
        if keys is not None:
            self._setDictKeys(d, writeEach, keys)
        elif isinstance(d, dict):
            for index, item in d.items():
                self.setDisp(item, index=index, write=writeEach)
        else:
            self.setDisp(d, writeEach)

    def _setDictKeys(self, d: Any, writeEach: bool, keys: list[str]) -> None:
        """YAML 'Var[i]', 'Var[a:b]' or 'Var[*]' entries of an array variable."""
        if len(keys) != 1 or self.nativeType not in (list, np.ndarray):
            log.error("Entry %s with key %s not found", self._name, keys)
            return
        indices = list(range(self._numValues() or len(self.value())))
        key = keys[0]
        if key in ("*", ":"):
            for i in indices:
                self.setDisp(d, write=writeEach, index=i)
            return
        if ":" not in key:
            self.setDisp(d, write=writeEach, index=indices[int(key)])
            return
        selected = indices[slice(*[int(p) if p.strip() else None for p in key.split(":")])]
        if isinstance(d, str):
            values = [v.strip() for v in d.strip().lstrip("[").rstrip("]").split(",")]
        elif isinstance(d, Iterable):
            values = list(d)
        else:
            values = [d]
        if len(values) == 1 and len(selected) > 1:
            values *= len(selected)
        for item, i in zip(values, selected, strict=False):
            self.setDisp(item, write=writeEach, index=i)


class LocalVariable(BaseVariable):
    """A variable held in the tree, with optional `localSet`/`localGet` functions.

    `localSet(value, dev, var, changed)` runs on every set() after the new value is stored (an
    exception reaches the caller; the value stays set, as in pyrogue); `localGet(dev, var)`
    supplies the value on every get(), also without `read`. Either may declare any subset of
    these names. A value of another type than the initial one is refused (VariableError) unless
    `typeCheck=False`; outside minimum/maximum it is a 'Value range error' (VariableError).
    """

    def __init__(
        self,
        *,
        name: str,
        value: Any = None,
        localSet: Callable[..., Any] | None = None,
        localGet: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if value is None and localGet is None:
            raise VariableError(
                f"LocalVariable {name} without localGet() must specify value= argument"
            )
        super().__init__(name=name, value=value, **kwargs)
        self._value = value
        self._localSet = localSet
        self._localGet = localGet
        self._localSetWrap = functionWrapper(localSet, ("dev", "var", "value", "changed"))
        self._localGetWrap = functionWrapper(localGet, ("dev", "var"))
        self._enabled = True

    def set(self, value: Any, *, index: int = -1, write: bool = True, **_: Any) -> None:
        """Store `value` (or element `index`), call localSet, notify listeners (with `write`)."""
        self._store(value, index)
        if write:
            self._announce()

    def post(self, value: Any, *, index: int = -1) -> None:
        """Same as set() for a LocalVariable."""
        self._store(value, index)
        self._announce()

    def _store(self, value: Any, index: int) -> None:
        with self._lock:
            old = self._value
            if index < 0 and isinstance(value, list | dict):
                changed = True
            elif index >= 0:
                changed = bool(old[index] != value)
            elif isinstance(value, np.ndarray):
                # pyrogue passes array_equal here (inverted); kept so localSet sees the same.
                changed = bool(np.array_equal(old, value))
            else:
                lo, hi = self._minimum, self._maximum
                if (lo is not None and value < lo) or (hi is not None and value > hi):
                    raise VariableError(
                        f"Value range error for {self._path}. Value={value}, Min={lo}, Max={hi}"
                    )
                changed = _changed(old, value)
            if index >= 0:
                self._value[index] = value
            else:
                if self._typeCheck and not isinstance(value, self._nativeType):
                    raise VariableError(
                        f"Type mismatch for {self._path}: expected {self._nativeType}, "
                        f"got {type(value)}. If this variable intentionally changes Python "
                        "types, construct it with typeCheck=False."
                    )
                self._value = value
            if self._enabled and self._localSet is not None:
                self._localSetWrap(dev=self._parent, var=self, value=self._value, changed=changed)

    def _announce(self) -> None:
        if self._enabled and self._updateNotify:
            self._queueUpdate()

    def get(self, *, index: int = -1, read: bool = True, **_: Any) -> Any:
        """The value (from localGet when given, on every call); `read` notifies listeners."""
        if read:
            self._announce()
        if self._enabled and self._localGet is not None:
            with self._lock:
                self._value = self._localGetWrap(dev=self._parent, var=self)
        return self._value[index] if index >= 0 else self._value

    def __get__(self) -> Any:
        return self.get(read=False)

    def _inplace(self, op: Callable[[Any, Any], Any], other: Any) -> LocalVariable:
        with self._lock:
            self._store(op(self.get(read=False), other), -1)
            if self._enabled:
                self._queueUpdate()
        return self

    def __iadd__(self, other: Any) -> LocalVariable:
        return self._inplace(operator.add, other)

    def __isub__(self, other: Any) -> LocalVariable:
        return self._inplace(operator.sub, other)

    def __imul__(self, other: Any) -> LocalVariable:
        return self._inplace(operator.mul, other)

    def __imatmul__(self, other: Any) -> LocalVariable:
        return self._inplace(operator.matmul, other)

    def __itruediv__(self, other: Any) -> LocalVariable:
        return self._inplace(operator.truediv, other)

    def __ifloordiv__(self, other: Any) -> LocalVariable:
        return self._inplace(operator.floordiv, other)

    def __imod__(self, other: Any) -> LocalVariable:
        return self._inplace(operator.mod, other)

    def __ipow__(self, other: Any) -> LocalVariable:
        return self._inplace(operator.pow, other)

    def __ilshift__(self, other: Any) -> LocalVariable:
        return self._inplace(operator.lshift, other)

    def __irshift__(self, other: Any) -> LocalVariable:
        return self._inplace(operator.rshift, other)

    def __iand__(self, other: Any) -> LocalVariable:
        return self._inplace(operator.and_, other)

    def __ixor__(self, other: Any) -> LocalVariable:
        return self._inplace(operator.xor, other)

    def __ior__(self, other: Any) -> LocalVariable:
        return self._inplace(operator.or_, other)


def _asList(x: Any) -> list:
    return list(x) if isinstance(x, Iterable) else [x]


def _placement(offset: Any, bitOffset: Any, bitSize: Any) -> tuple[int, list[int], list[int]]:
    """pyrogue's placement: (lowest offset, bit offsets from it, bit sizes) of the pieces."""
    if type(offset) is int and type(bitOffset) is int and type(bitSize) is int:
        if bitSize == 0:
            raise VariableError("BitSize of 0 is invalid")
        return offset, [bitOffset], [bitSize]
    offsets, bitOffsets, bitSizes = (_asList(x) for x in (offset, bitOffset, bitSize))
    length = max(len(offsets), len(bitOffsets), len(bitSizes))
    offsets, bitOffsets, bitSizes = (
        x * length if len(x) == 1 else x for x in (offsets, bitOffsets, bitSizes)
    )
    if not len(offsets) == len(bitOffsets) == len(bitSizes):
        raise VariableError(
            f"Lengths of offset: {offsets}, bitOffset: {bitOffsets}, bitSize {bitSizes} must match"
        )
    if 0 in bitSizes:
        raise VariableError("BitSize of 0 is invalid")
    baseAddr = min(offsets)
    return (
        baseAddr,
        [b + (o - baseAddr) * 8 for b, o in zip(bitOffsets, offsets, strict=True)],
        bitSizes,
    )


class RemoteVariable(BaseVariable):
    """A variable stored in register memory, encoded by a model (`base`, default UInt).

    `offset`, `bitOffset` and `bitSize` may be lists: the value is then made of several pieces,
    the first piece holding the lowest bits. With `numValues` the variable is an array of that
    many `valueBits`-bit values every `valueStride` bits (bitSize becomes the total). The model
    is `base(bitSize)` (`base(valueBits)` for arrays) unless `base` is already a model instance.
    minimum/maximum default to (and are clipped to) the model's range; `value` is a default put
    into the variable at start without writing it (WriteAll or initWrite writes it).
    """

    def __init__(
        self,
        *,
        name: str,
        offset: int | Sequence[int] | None,
        base: type[Model] | Model = UInt,
        mode: str = "RW",
        value: Any = None,
        disp: Any = None,
        minimum: Any = None,
        maximum: Any = None,
        numValues: int = 0,
        valueBits: int = 0,
        valueStride: int = 0,
        bitSize: int | Sequence[int] = 32,
        bitOffset: int | Sequence[int] = 0,
        overlapEn: bool = False,
        verify: bool = True,
        retryCount: int = 0,
        **kwargs: Any,
    ) -> None:
        if disp is None:
            disp = base.defaultdisp
        self._hasOffset = offset is not None
        baseAddr, bitOffsets, bitSizes = _placement(offset or 0, bitOffset, bitSize)
        if isinstance(base, Model):
            model = base
        elif numValues:
            model = base(valueBits)
        else:
            model = base(sum(bitSizes))
        lo, hi = model.minValue(), model.maxValue()
        if minimum is None or (lo is not None and minimum < lo):
            minimum = lo
        if maximum is None or (hi is not None and maximum > hi):
            maximum = hi
        super().__init__(
            name=name,
            mode=mode,
            value=value,
            disp=disp,
            minimum=minimum,
            maximum=maximum,
            **kwargs,
        )
        self._base = model
        self._offset = baseAddr
        self._bitOffsets = bitOffsets
        self._overlapEn = overlapEn
        self._verifyEn = verify
        self._retryCount = retryCount
        self._numValuesCount = numValues
        self._valueBitsCount = valueBits
        self._valueStrideBits = valueStride
        if numValues:
            if len(bitSizes) != 1:
                raise VariableError("BitSize array must have a length of one when numValues > 0")
            if valueBits > valueStride:
                raise VariableError(
                    f"ValueBits {valueBits} is greater than valueStride {valueStride}"
                )
            if model.ndType is None:
                raise VariableError(f"Invalid base type {model} with numValues = {numValues}")
            bitSizes = [numValues * valueBits]
            self._nativeType = np.ndarray
            self._ndType = model.ndType
            self._typeStr = f"{model.ndType}({numValues},)"
            self._value: Any = np.zeros(numValues, dtype=self._valueDtype(model, valueBits))
        else:
            self._typeStr = model.name
            self._nativeType = model.pytype
            self._value = model.fromRaw(0)
        self._bitSizes = bitSizes
        self._memory: MemoryEmulator | None = None
        self._fields: list[Field] = []
        self._stale = False
        self._enabled = True

    # --- layout ------------------------------------------------------------------------------

    @property
    def base(self) -> Model:
        """The model instance."""
        return self._base

    @property
    def offset(self) -> int:
        """Byte offset of the first piece from the Device."""
        return self._offset

    @property
    def address(self) -> int:
        """Absolute byte address in the memory."""
        return self._parent.address + self._offset if self._parent is not None else self._offset

    @property
    def bitSize(self) -> list[int]:
        """Bit size of each piece (arrays: numValues * valueBits)."""
        return list(self._bitSizes)

    @property
    def bitOffset(self) -> list[int]:
        """Bit offset of each piece from `offset`."""
        return list(self._bitOffsets)

    @property
    def numValues(self) -> int:
        """Array length (0: not an array)."""
        return self._numValuesCount

    @property
    def valueBits(self) -> int:
        """Bits of each array value."""
        return self._valueBitsCount

    @property
    def valueStride(self) -> int:
        """Bits from one array value to the next."""
        return self._valueStrideBits

    @staticmethod
    def _valueDtype(model: Model, valueBits: int) -> np.dtype:
        """dtype of an array's value: integers as narrow as valueBits allows (as rogue's block)."""
        if model.pytype is not int:
            return model.ndType
        width = next((w for w in (8, 16, 32) if valueBits <= w), 64)
        return np.dtype(f"{'int' if model.signed else 'uint'}{width}")

    @property
    def varBytes(self) -> int:
        """Bytes spanned by the variable, in whole accesses of the memory."""
        end = max(o + s for o, s in zip(self._bitOffsets, self._bitSizes, strict=True))
        access = getattr(self._memory, "minAccess", 1)
        return -(-end // (8 * access)) * access

    @property
    def overlapEn(self) -> bool:
        """Whether other variables may share its bits."""
        return self._overlapEn

    @property
    def verifyEn(self) -> bool:
        """Whether writes are verified by a read-back."""
        return self._verifyEn

    @property
    def retryCount(self) -> int:
        """Transaction retries."""
        return self._retryCount

    def _numValues(self) -> int:
        return self._numValuesCount

    def _bind(self, memory: MemoryEmulator | None, address: int) -> None:
        """Attach to `memory` at the Device's absolute `address`."""
        self._memory = memory
        if memory is None or not self._hasOffset:
            self._fields = []
            return
        shift = self._offset % memory.minAccess  # as rogue: offsets aligned to the access size
        if shift:
            self._offset -= shift
            self._bitOffsets = [b + 8 * shift for b in self._bitOffsets]
        big = self._base.isBigEndian
        start = address + self._offset
        if self._numValuesCount:
            self._fields = [
                Field(
                    start,
                    self._valueBitsCount,
                    self._bitOffsets[0],
                    numValues=self._numValuesCount,
                    stride=self._valueStrideBits,
                    bigEndian=big,
                )
            ]
        else:
            self._fields = [
                Field(start, size, offset, bigEndian=big)
                for offset, size in zip(self._bitOffsets, self._bitSizes, strict=True)
            ]

    # --- encoding ----------------------------------------------------------------------------

    def _check(self, value: Any) -> Any:
        """One value checked and range-checked like rogue's block (GeneralError)."""
        model = self._base
        if isinstance(value, np.generic) and not isinstance(value, np.bool_):
            kind = "f" if model.pytype is float else ("i" if model.signed else "u")
            exact = model.pytype is float and value.dtype != model.ndType  # float32 vs float64
            if model.pytype is bool or value.dtype.kind != kind or exact:
                raise GeneralError(f"Failed to extract scalar value {value!r} for {self._name}")
            value = value.item()
        checked = model.check(value)
        lo, hi = self._minimum, self._maximum
        if model.pytype is not str and (lo or hi) and (checked < lo or checked > hi):
            raise GeneralError(
                f"Value range error for {self._name}. Value={checked}, Min={lo}, Max={hi}"
            )
        return checked

    def _newValue(self, value: Any, index: int) -> Any:
        """The variable's whole new value after setting `value` at `index` (checked)."""
        if not self._numValuesCount:
            return self._fromRaw(self._toRaw(self._check(value)))
        start = max(index, 0)
        if isinstance(value, np.ndarray):
            kinds = {bool: "b", float: "f", int: "i" if self._base.signed else "u"}
            if value.dtype.kind != kinds.get(self._base.pytype, value.dtype.kind):
                raise GeneralError(
                    f"Passed nparray of {value.dtype} is not of an accepted type for {self._name}"
                )
            if value.ndim != 1:
                raise GeneralError(
                    f"Invalid number of dimensions for passed ndarray for {self._name}"
                )
            items = value.tolist()
        elif isinstance(value, list):
            items = value
        else:
            items = [value]
        if start + len(items) > self._numValuesCount:
            raise GeneralError(
                f"Overflow error for passed array with length {len(items)} at index {start}. "
                f"Variable length = {self._numValuesCount} for {self._name}"
            )
        new = self._value.copy()
        for i, item in enumerate(items):
            new[start + i] = self._check(item)
        return self._fromRaw(self._toRaw(new))

    def _toRaw(self, value: Any) -> list[list[int]]:
        """Raw values per field."""
        model = self._base
        if self._numValuesCount:
            return [[model.toRaw(v) for v in value.tolist()]]
        raw = model.toRaw(value)
        pieces = []
        for size in self._bitSizes:
            pieces.append([raw & ((1 << size) - 1)])
            raw >>= size
        return pieces

    def _fromRaw(self, raws: list[list[int]]) -> Any:
        model = self._base
        if self._numValuesCount:
            return np.array([model.fromRaw(r) for r in raws[0]], dtype=self._value.dtype)
        raw, shift = 0, 0
        for piece, size in zip(raws, self._bitSizes, strict=True):
            raw |= piece[0] << shift
            shift += size
        return model.fromRaw(raw)

    # --- access ------------------------------------------------------------------------------

    def set(self, value: Any, *, index: int = -1, write: bool = True, **_: Any) -> None:
        """Check `value` (or element(s) from `index`), store it and, with `write`, write it.

        A refused value or a memory fault raises GeneralError and changes nothing.
        """
        with self._lock:
            new = self._newValue(value, index)
            if write:
                self._writeRaw(new)
            self._value = new
            self._stale = not write
        if write:
            self._announce()

    def post(self, value: Any, *, index: int = -1) -> None:
        """A posted write: same as set() on simulated memory."""
        self.set(value, index=index, write=True)

    def write(self, **_: Any) -> None:
        """Write the current value."""
        with self._lock:
            self._writeRaw(self._value)
            self._stale = False
        self._announce()

    def get(self, *, index: int = -1, read: bool = True, **_: Any) -> Any:
        """The value, read from memory first with `read` (listeners hear of a change)."""
        if read:
            self._readMemory()
        value = self._value
        return value[index] if index >= 0 and self._numValuesCount else value

    def _writeRaw(self, value: Any) -> None:
        memory = self._memory
        if memory is None or not self._enabled or self._mode == "RO":
            return
        for field, raws in zip(self._fields, self._toRaw(value), strict=True):
            memory.write(field, raws)

    def _readMemory(self) -> None:
        """Read the memory, unless the value was set without a write (as rogue's stale block)."""
        memory = self._memory
        if memory is None or not self._enabled or self._mode == "WO" or self._stale:
            return
        with self._lock:
            self._value = self._fromRaw([memory.read(field) for field in self._fields])
            self._stale = False
        self._announce()

    def _announce(self) -> None:
        if self._updateNotify:
            self._queueUpdate()

    def _setDefault(self) -> None:
        if self._default is not None:
            self.setDisp(self._default, write=False)

    def parseDisp(self, sValue: Any) -> Any:
        """BaseVariable.parseDisp, but scalars parse with the model (UInt '0x10', Bool 'True')."""
        if not isinstance(sValue, str) or self._numValuesCount:
            return super().parseDisp(sValue)
        try:
            if self._disp == "enum":
                return self._revEnum[sValue]
            return self._base.fromString(sValue)
        except Exception as error:
            raise VariableError(
                f"Invalid value {sValue} for variable {self._name}: {error}"
            ) from None


class LinkVariable(BaseVariable):
    """A variable computed from others by `linkedGet`/`linkedSet` (or mirroring `variable`).

    `linkedGet(dev, var, read, index, wait, check)` and `linkedSet(dev, var, value, write,
    index, verify, wait, check)` may declare any subset of these names. Without linkedSet the
    mode is 'RO', without linkedGet 'WO'. The variable is updated whenever one of its
    `dependencies` changes; minimum/maximum are refused (VariableError).
    """

    def __init__(
        self,
        *,
        name: str,
        variable: BaseVariable | None = None,
        dependencies: Iterable[BaseVariable] | None = None,
        linkedSet: Callable[..., Any] | None = None,
        linkedGet: Callable[..., Any] | None = None,
        minimum: Any = None,
        maximum: Any = None,
        **kwargs: Any,
    ) -> None:
        if minimum is not None or maximum is not None:
            raise VariableError("Invalid use of min or max values with LinkVariable")
        if variable is not None:
            if linkedGet is None:

                def linkedGet(read: bool = True, index: int = -1) -> Any:
                    return variable.get(read=read, index=index)

            if linkedSet is None:

                def linkedSet(value: Any, write: bool = True, index: int = -1) -> None:
                    variable.set(value, index=index, write=write)

            for arg in ("disp", "enum", "units"):
                if arg not in kwargs:
                    kwargs[arg] = getattr(variable, arg)
            kwargs["minimum"], kwargs["maximum"] = variable.minimum, variable.maximum
        if not linkedSet:
            kwargs["mode"] = "RO"
        if not linkedGet:
            kwargs["mode"] = "WO"
        self._linkedGet = linkedGet
        self._linkedSet = linkedSet
        self._linkedGetWrap = functionWrapper(
            linkedGet, ("dev", "var", "read", "index", "wait", "check")
        )
        self._linkedSetWrap = functionWrapper(
            linkedSet, ("dev", "var", "value", "write", "index", "verify", "wait", "check")
        )
        super().__init__(name=name, **kwargs)
        if variable is not None:
            self.addDependency(variable)
        for dep in dependencies or ():
            self.addDependency(dep)

    def __getitem__(self, key: Any) -> BaseVariable:
        return self._dependencies[key]

    def set(
        self, value: Any, *, write: bool = True, index: int = -1, verify: bool = True, **_: Any
    ) -> None:
        """Call linkedSet."""
        self._linkedSetWrap(
            dev=self._parent,
            var=self,
            value=value,
            write=write,
            index=index,
            verify=verify,
            wait=True,
            check=True,
        )

    def get(self, read: bool = True, index: int = -1, **_: Any) -> Any:
        """Call linkedGet."""
        return self._linkedGetWrap(
            dev=self._parent, var=self, read=read, index=index, wait=True, check=True
        )

    @property
    def pollInterval(self) -> float:
        """The shortest non-zero poll interval of the dependencies (0 if none)."""
        intervals = [d.pollInterval for d in self._dependencies if d.pollInterval > 0]
        return min(intervals) if intervals else 0

    def _poll(self) -> None:
        """LinkVariables are not polled themselves: their dependencies are."""

    def _numValues(self) -> int:
        value = self.value()
        return len(value) if isinstance(value, list | np.ndarray) else 0
