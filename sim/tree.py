"""A pure-Python tree with the pyrogue API subset rogue-ioc uses (SPEC.md §3, §10).

Device authors build a tree from `Root`, `Device`, `LocalVariable`, `RemoteVariable` (with the
register models of `sim.model`, re-exported here: `UInt`, `Int`, `Bool`, `Float`, `Double`,
`String` and their big-endian variants), `LocalCommand` and `RemoteCommand`; RemoteVariables
live in a `sim.memory.MemoryEmulator` given as a Device's `memBase`. The semantics follow
pyrogue wherever a device author or the IOC would notice them: typeStr/nativeType/disp/enum,
VariableValue with alarm status and severity, range errors, listeners called on the Root's
update thread, polling, groups and command arguments. Unlike pyrogue, building and starting a
tree is linear in its size.
"""

from __future__ import annotations

import ast
import heapq
import inspect
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from sim.memory import Field, MemoryEmulator
from sim.model import (
    Bool,
    Double,
    DoubleBE,
    Float,
    FloatBE,
    Int,
    IntBE,
    Model,
    String,
    UInt,
    UIntBE,
)

__all__ = [
    "BaseVariable",
    "Bool",
    "Device",
    "Double",
    "DoubleBE",
    "Float",
    "FloatBE",
    "Int",
    "IntBE",
    "LocalCommand",
    "LocalVariable",
    "Model",
    "Node",
    "RemoteCommand",
    "RemoteVariable",
    "Root",
    "String",
    "UInt",
    "UIntBE",
    "VariableValue",
]

log = logging.getLogger(__name__)

Listener = Callable[[str, "VariableValue"], Any]
_MODES = ("RW", "RO", "WO")
_BOOL_ENUM = {False: "False", True: "True"}
_JOIN_TIMEOUT = 10.0


# --- small helpers -----------------------------------------------------------------------------


class _Hook:
    """A user function called with the subset of the offered keywords it declares.

    pyrogue calls device functions (command functions, localSet, localGet) by keyword and
    passes only the names the function takes; a function with `**kwargs` gets them all.
    """

    __slots__ = ("function", "names")

    def __init__(self, function: Callable[..., Any], offered: tuple[str, ...]) -> None:
        try:
            params = inspect.signature(function).parameters
        except ValueError:  # a builtin without a signature (e.g. time.time) takes no keywords
            params = {}
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            self.names = offered
        else:
            self.names = tuple(n for n in offered if n in params)
        self.function = function

    def __call__(self, **offered: Any) -> Any:
        return self.function(**{n: offered[n] for n in self.names})


def _same(a: Any, b: Any) -> bool:
    """True when `a` and `b` are the same value of the same type (arrays compared by content)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(np.array_equal(a, b))
        )
    return type(a) is type(b) and bool(a == b)


# --- nodes -------------------------------------------------------------------------------------


class Node:
    """A named element of a tree: a Device (with children) or a Variable/Command.

    `path` is the dotted path from the Root once the node is part of a Root's tree.
    """

    def __init__(self, *, name: str, description: str = "", groups: Iterable[str] | None = None):
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"invalid node name {name!r}")
        self.name = name
        self.description = description
        self._groups = [groups] if isinstance(groups, str) else list(groups or ())
        self._parent: Device | None = None
        self._root: Root | None = None
        self._path = name

    @property
    def path(self) -> str:
        """Dotted path from the Root, e.g. 'root.Dev.Var' (just the name before attachment)."""
        return self._path

    @property
    def parent(self) -> Device | None:
        """The Device this node was added to."""
        return self._parent

    @property
    def root(self) -> Root | None:
        """The Root of the tree this node belongs to, None while it is not in one."""
        return self._root

    def inGroup(self, group: str | Iterable[str]) -> bool:
        """True when the node is in `group` (a name) or in any of the groups in a list."""
        if isinstance(group, str):
            return group in self._groups
        return any(g in self._groups for g in group)

    def filterByGroup(
        self, incGroups: str | Iterable[str] | None, excGroups: str | Iterable[str] | None
    ) -> bool:
        """pyrogue's group filter: included (no incGroups, or in one) and in no excGroup."""
        return (not incGroups or self.inGroup(incGroups)) and (
            not excGroups or not self.inGroup(excGroups)
        )

    def addToGroup(self, group: str) -> None:
        """Add this node and everything below it to `group`."""
        if group not in self._groups:
            self._groups.append(group)
        for child in self._children():
            child.addToGroup(group)

    def _children(self) -> Iterable[Node]:
        return ()

    def _attach(self) -> None:
        """Called when the node becomes part of a Root's tree: fix its root and path."""
        parent = self._parent
        self._root = parent._root
        self._path = f"{parent._path}.{self.name}"


class Device(Node):
    """A node holding Variables, Commands and sub-Devices.

    `memBase` (a MemoryEmulator) is the memory of the RemoteVariables below; a Device without
    one uses its parent's. Offsets add up from the Device that gave the memBase. The name
    defaults to the class name, as in pyrogue.
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        description: str = "",
        offset: int = 0,
        memBase: MemoryEmulator | None = None,
        groups: Iterable[str] | None = None,
    ) -> None:
        super().__init__(name=name or type(self).__name__, description=description, groups=groups)
        self.offset = offset
        self._memBase = memBase
        self._memory = memBase
        self._address = offset
        self._nodes: dict[str, Node] = {}

    def add(self, node: Node | Iterable[Node]) -> None:
        """Add a node (or several) as children; children are reachable as attributes."""
        for child in [node] if isinstance(node, Node) else node:
            self._addOne(child)

    def _addOne(self, node: Node) -> None:
        if self._root is not None and self._root.running:
            raise RuntimeError(f"cannot add {node.name} to {self._path}: the Root is running")
        if node._parent is not None:
            raise ValueError(f"{node.name} already belongs to {node._parent._path}")
        if node.name in self._nodes or hasattr(type(self), node.name) or node.name in vars(self):
            raise ValueError(f"{self._path} already has a child or attribute named {node.name}")
        self._nodes[node.name] = node
        node._parent = self
        if self._root is not None:
            node._attach()

    def node(self, name: str) -> Node | None:
        """The child called `name`, or None."""
        return self._nodes.get(name)

    def __getattr__(self, name: str) -> Node:
        nodes = self.__dict__.get("_nodes")
        if nodes is not None and name in nodes:
            return nodes[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or child {name!r}")

    @property
    def variableList(self) -> list[BaseVariable]:
        """Every Variable and Command at and below this Device, in tree (depth-first) order."""
        return list(self._variables())

    def _variables(self) -> Iterator[BaseVariable]:
        for node in self._nodes.values():
            if isinstance(node, Device):
                yield from node._variables()
            else:
                yield node

    def _children(self) -> Iterable[Node]:
        return self._nodes.values()

    def _attach(self) -> None:
        super()._attach()
        if self._memBase is None:
            self._memory = self._parent._memory
            self._address = self._parent._address + self.offset
        for child in self._nodes.values():
            child._attach()


class _Worker:
    """A thread of the Root that waits on its condition until stopped; subclasses give `_run`."""

    def __init__(self, name: str) -> None:
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """End the thread (what it is doing finishes first); pending work is dropped."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(_JOIN_TIMEOUT)
        if self._thread.is_alive():
            log.warning("%s still busy after stop", self._thread.name)


class _UpdateThread(_Worker):
    """Delivers listener notifications, coalesced per variable, on one thread of the Root."""

    def __init__(self, rootName: str) -> None:
        super().__init__(f"{rootName}-update")
        self._pending: dict[BaseVariable, None] = {}
        self._holdUntil = 0.0
        self._thread.start()

    def queue(self, var: BaseVariable) -> None:
        """Ask for `var`'s listeners to be called with its then-current value."""
        with self._cond:
            self._pending[var] = None
            self._cond.notify()

    def hold(self, seconds: float) -> None:
        """Deliver nothing for `seconds` from now (updates queue up and coalesce meanwhile)."""
        with self._cond:
            self._holdUntil = max(self._holdUntil, time.monotonic() + seconds)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    wait = self._holdUntil - time.monotonic()
                    if wait <= 0 and self._pending:
                        break
                    self._cond.wait(wait if wait > 0 else None)
                if self._stopping:
                    return
                batch, self._pending = self._pending, {}
            for var in batch:
                var._deliver()


class _PollThread(_Worker):
    """Reads each variable with a pollInterval every pollInterval seconds while enabled."""

    def __init__(self, rootName: str, variables: list[BaseVariable], enabled: bool) -> None:
        super().__init__(f"{rootName}-poll")
        now = time.monotonic()
        self._heap = [(now + v.pollInterval, i, v) for i, v in enumerate(variables)]
        heapq.heapify(self._heap)
        self._enabled = enabled
        self._thread.start()

    def setEnabled(self, enabled: bool) -> None:
        """Pause or resume polling."""
        with self._cond:
            self._enabled = enabled
            self._cond.notify()

    def _run(self) -> None:
        heap = self._heap
        while True:
            with self._cond:
                while not self._stopping:
                    wait = heap[0][0] - time.monotonic() if self._enabled and heap else None
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._stopping:
                    return
            _, order, var = heapq.heappop(heap)
            var._poll()
            heapq.heappush(heap, (time.monotonic() + var.pollInterval, order, var))


class Root(Device):
    """The top of a tree: starts and stops it, owns its update and poll threads.

    `start()` writes the initial values of RemoteVariables (reads the others and calls localGet),
    then starts the update thread (listener delivery), the poll thread and the registered
    protocols. It carries pyrogue's `Time` variable. `timeout` is kept for pyrogue
    compatibility; simulated memory has no transaction timeout.
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        description: str = "",
        pollEn: bool = True,
        timeout: float = 1.0,
    ) -> None:
        super().__init__(name=name, description=description)
        self._root = self
        self.timeout = timeout
        self._pollEn = pollEn
        self._running = False
        self._protocols: list[Any] = []
        self._started: list[Any] = []
        self._updates: _UpdateThread | None = None
        self._poller: _PollThread | None = None
        self.add(
            LocalVariable(
                name="Time",
                value=time.time(),
                mode="RO",
                pollInterval=1.0,
                localGet=time.time,
                description="Current time in seconds since the epoch",
            )
        )

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._running

    @property
    def pollEn(self) -> bool:
        """Whether variables with a pollInterval are polled."""
        return self._pollEn

    @pollEn.setter
    def pollEn(self, enabled: bool) -> None:
        self._pollEn = bool(enabled)
        if self._poller is not None:
            self._poller.setEnabled(self._pollEn)

    def addProtocol(self, protocol: Any) -> None:
        """Register a protocol: start() calls its `_start()`, stop() its `_stop()`."""
        self._protocols.append(protocol)

    def holdUpdates(self, seconds: float) -> None:
        """Simulate a wedged update thread: deliver no listener calls for `seconds`."""
        if self._updates is None:
            raise RuntimeError(f"Root {self.name} is not running")
        self._updates.hold(seconds)

    def start(self) -> None:
        """Start the tree; a protocol failing to start stops everything again and re-raises."""
        if self._running:
            raise RuntimeError(f"Root {self.name} is already running")
        variables = self.variableList
        for var in variables:
            var._startIo()
        self._running = True
        self._updates = _UpdateThread(self.name)
        polled = [v for v in variables if v.pollInterval > 0 and not v.isCommand]
        self._poller = _PollThread(self.name, polled, self._pollEn)
        try:
            for protocol in self._protocols:
                protocol._start()
                self._started.append(protocol)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop polling, the started protocols (in reverse order) and listener delivery."""
        if not self._running:
            return
        self._running = False
        self._poller.stop()
        self._poller = None
        while self._started:
            protocol = self._started.pop()
            try:
                protocol._stop()
            except Exception:
                log.exception("stopping protocol %r failed", protocol)
        self._updates.stop()
        self._updates = None

    def __enter__(self) -> Root:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _queueUpdate(self, var: BaseVariable) -> None:
        updates = self._updates
        if updates is not None:
            updates.queue(var)


# --- variables ---------------------------------------------------------------------------------


class VariableValue:
    """A snapshot of a variable: value, its display string, and its alarm status/severity."""

    __slots__ = ("disp", "enum", "severity", "status", "value", "valueDisp")

    def __init__(self, var: BaseVariable, read: bool = False) -> None:
        self.value = value = var.get(read=read)
        self.valueDisp = var.genDisp(value)
        self.disp = var.disp
        self.enum = var.enum
        self.status, self.severity = var._alarmState(value)


class BaseVariable(Node):
    """What Variables and Commands share: metadata, display conversion, alarms, listeners."""

    isCommand = False

    def __init__(
        self,
        *,
        name: str,
        description: str,
        mode: str,
        value: Any,
        typeStr: str,
        nativeType: type,
        disp: str,
        enum: dict[Any, str] | None,
        units: str | None,
        minimum: float | None,
        maximum: float | None,
        lowWarning: float | None,
        lowAlarm: float | None,
        highWarning: float | None,
        highAlarm: float | None,
        pollInterval: float,
        groups: Iterable[str] | None,
    ) -> None:
        super().__init__(name=name, description=description, groups=groups)
        if mode not in _MODES:
            raise ValueError(f"{name}: mode {mode!r} is not one of {_MODES}")
        if enum is None and nativeType is bool:
            enum = _BOOL_ENUM
        self.mode = mode
        self.typeStr = typeStr
        self.nativeType = nativeType
        self.enum = dict(enum) if enum is not None else None
        self.disp = "enum" if enum is not None else disp
        self._revEnum = {label: key for key, label in enum.items()} if enum is not None else None
        self.units = units
        self.minimum = minimum
        self.maximum = maximum
        self.lowWarning = lowWarning
        self.lowAlarm = lowAlarm
        self.highWarning = highWarning
        self.highAlarm = highAlarm
        self._hasAlarm = any(x is not None for x in (lowWarning, lowAlarm, highWarning, highAlarm))
        self.pollInterval = pollInterval
        self._value = value
        self._listeners: tuple[Listener, ...] = ()
        self._lock = threading.RLock()

    # --- values ----------------------------------------------------------------------------------

    def get(self, read: bool = True) -> Any:
        """The value; with `read` fetched from memory (or localGet) first."""
        return self._read() if read else self._value

    def value(self) -> Any:
        """The current value without a read (pyrogue's `value()`)."""
        return self._value

    def getVariableValue(self, read: bool = True) -> VariableValue:
        """A VariableValue snapshot (value, valueDisp, status, severity)."""
        return VariableValue(self, read)

    def set(self, value: Any, *, write: bool = True) -> None:
        """Store `value` (and write it to memory with `write`), then notify the listeners."""
        raise NotImplementedError

    def setDisp(self, text: str, *, write: bool = True) -> None:
        """set() the value parsed from its display form."""
        self.set(self.parseDisp(text), write=write)

    def _read(self) -> Any:
        raise NotImplementedError

    # --- display ---------------------------------------------------------------------------------

    def genDisp(self, value: Any) -> str:
        """The display string of `value`: enum label, or `disp` applied (per element for arrays)."""
        if self.enum is not None:
            try:
                return self.enum[value]
            except (KeyError, TypeError):
                return f"INVALID: {value!r}"
        if isinstance(value, np.ndarray):
            return "[" + ", ".join(map(self.disp.format, value.tolist())) + "]"
        return self.disp.format(value)

    def parseDisp(self, text: Any) -> Any:
        """The value a display string stands for (non-strings are returned unchanged).

        Enum labels map to their keys (KeyError for unknown labels), ints accept any Python
        literal base ('0x10'), lists/dicts/arrays are parsed as Python literals.
        """
        if not isinstance(text, str):
            return text
        if self._revEnum is not None:
            try:
                return self._revEnum[text]
            except KeyError:
                raise KeyError(f"{self._path}: {text!r} is not an enum label") from None
        kind = self.nativeType
        if kind is int:
            return int(text, 0)
        if kind is float:
            return float(text)
        if kind is np.ndarray:
            return np.array(ast.literal_eval(text), dtype=self._value.dtype)
        if kind is list or kind is dict:
            return ast.literal_eval(text)
        return text

    @property
    def precision(self) -> int:
        """pyrogue's precision: digits of a '{:W.Pf}' disp for floats/arrays, else 8; 0 otherwise.

        Note that pyrogue's pattern needs a width digit, so '{:.3f}' gives 8.
        """
        if self.nativeType is not float and self.nativeType is not np.ndarray:
            return 0
        match = re.search(r":([0-9])\.([0-9]*)f", self.disp)
        return int(match[2]) if match and match[2] else 8

    # --- alarms ----------------------------------------------------------------------------------

    def _alarmState(self, value: Any) -> tuple[str, str]:
        """(status, severity) of `value` against the alarm limits."""
        if not self._hasAlarm or isinstance(value, list | dict | str | np.ndarray):
            return "None", "None"
        if self.lowAlarm is not None and value < self.lowAlarm:
            return "AlarmLoLo", "AlarmMajor"
        if self.highAlarm is not None and value > self.highAlarm:
            return "AlarmHiHi", "AlarmMajor"
        if self.lowWarning is not None and value < self.lowWarning:
            return "AlarmLow", "AlarmMinor"
        if self.highWarning is not None and value > self.highWarning:
            return "AlarmHigh", "AlarmMinor"
        return "Good", "Good"

    def _checkRange(self, values: Iterable[Any], shown: Any) -> None:
        """Raise ValueError ("Value range error") when any of `values` is outside min/max."""
        lo, hi = self.minimum, self.maximum
        if lo is None and hi is None:
            return
        if any((lo is not None and v < lo) or (hi is not None and v > hi) for v in values):
            raise ValueError(
                f"Value range error for {self._path}: {shown!r} is outside [{lo}, {hi}]"
            )

    # --- listeners and polling -------------------------------------------------------------------

    def addListener(self, listener: Listener) -> None:
        """Call `listener(path, VariableValue)` on the Root's update thread after each change."""
        self._listeners = (*self._listeners, listener)

    def _notify(self) -> None:
        if self._listeners and self._root is not None:
            self._root._queueUpdate(self)

    def _deliver(self) -> None:
        """Update thread: call every listener with the current value."""
        try:
            update = VariableValue(self)
        except Exception:
            log.exception("%s: building the update failed", self._path)
            return
        for listener in self._listeners:
            try:
                listener(self._path, update)
            except Exception:
                log.exception("%s: listener %r failed", self._path, listener)

    def _poll(self) -> None:
        """Poll thread: read the value (listeners hear of a change)."""
        try:
            self._read()
        except Exception as error:
            log.warning("%s: poll failed: %s", self._path, error)

    def _startIo(self) -> None:
        """Root start: bring the value in line with memory/localGet."""
        self._read()


def _localTypeStr(value: Any) -> str:
    """pyrogue's typeStr of a LocalVariable's value: type name, or dtype and shape for arrays."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype}{value.shape}"
    return "Unknown" if value is None else type(value).__name__


class LocalVariable(BaseVariable):
    """A variable held in the tree, with optional `localSet`/`localGet` functions.

    `localSet(value, dev, var, changed)` runs on every set() after the new value is stored; if
    it raises, the old value is restored and the exception reaches the caller. `localGet(dev,
    var)` supplies the value on get(read=True) and on polls. Both may declare any subset of
    these keywords.
    """

    def __init__(
        self,
        *,
        name: str,
        value: Any = None,
        mode: str = "RW",
        typeStr: str | None = None,
        disp: str = "{}",
        enum: dict[Any, str] | None = None,
        units: str | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
        lowWarning: float | None = None,
        lowAlarm: float | None = None,
        highWarning: float | None = None,
        highAlarm: float | None = None,
        pollInterval: float = 0,
        groups: Iterable[str] | None = None,
        localSet: Callable[..., Any] | None = None,
        localGet: Callable[..., Any] | None = None,
        description: str = "",
    ) -> None:
        super().__init__(
            name=name,
            description=description,
            mode=mode,
            value=value,
            typeStr=typeStr or _localTypeStr(value),
            nativeType=type(value),
            disp=disp,
            enum=enum,
            units=units,
            minimum=minimum,
            maximum=maximum,
            lowWarning=lowWarning,
            lowAlarm=lowAlarm,
            highWarning=highWarning,
            highAlarm=highAlarm,
            pollInterval=pollInterval,
            groups=groups,
        )
        self._localSet = _Hook(localSet, ("dev", "var", "value", "changed")) if localSet else None
        self._localGet = _Hook(localGet, ("dev", "var")) if localGet else None

    def set(self, value: Any, *, write: bool = True) -> None:
        """Store `value` (arrays as a copy of the variable's dtype) and call localSet.

        `write` is accepted for pyrogue compatibility; a LocalVariable has no memory to write.
        """
        if isinstance(self._value, np.ndarray):
            value = np.array(value, dtype=self._value.dtype)
            self._checkRange(value.flat, value)
        else:
            self._checkRange((value,), value)
        with self._lock:
            old = self._value
            self._value = value
            if self._localSet is not None:
                try:
                    self._localSet(
                        dev=self._parent, var=self, value=value, changed=not _same(old, value)
                    )
                except BaseException:
                    self._value = old
                    raise
        self._notify()

    def _read(self) -> Any:
        if self._localGet is None:
            return self._value
        with self._lock:
            value = self._localGet(dev=self._parent, var=self)
            changed = not _same(self._value, value)
            self._value = value
        if changed:
            self._notify()
        return value


class RemoteVariable(BaseVariable):
    """A variable stored in register memory, encoded by a model (`base`, default UInt).

    `bitSize`/`bitOffset` place the value at `offset` from its Device; with `numValues` it is an
    array of that many values of `bitSize` bits each (stride: bitSize rounded up to bytes).
    minimum/maximum default to the model's range and disp to the model's format. An explicit
    `value` is written at start; otherwise start reads memory.
    """

    def __init__(
        self,
        *,
        name: str,
        offset: int,
        bitSize: int = 32,
        bitOffset: int = 0,
        base: type[Model] = UInt,
        mode: str = "RW",
        numValues: int = 0,
        value: Any = None,
        units: str | None = None,
        disp: str | None = None,
        enum: dict[Any, str] | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
        lowWarning: float | None = None,
        lowAlarm: float | None = None,
        highWarning: float | None = None,
        highAlarm: float | None = None,
        pollInterval: float = 0,
        groups: Iterable[str] | None = None,
        description: str = "",
    ) -> None:
        model = base(bitSize)
        if numValues and model.ndType is None:
            raise ValueError(f"{name}: {model.name} cannot form arrays")
        super().__init__(
            name=name,
            description=description,
            mode=mode,
            value=None,
            typeStr=f"{model.ndType}({numValues},)" if numValues else model.name,
            nativeType=np.ndarray if numValues else model.pytype,
            disp=disp or model.defaultDisp,
            enum=enum,
            units=units,
            minimum=model.minValue if minimum is None else minimum,
            maximum=model.maxValue if maximum is None else maximum,
            lowWarning=lowWarning,
            lowAlarm=lowAlarm,
            highWarning=highWarning,
            highAlarm=highAlarm,
            pollInterval=pollInterval,
            groups=groups,
        )
        self._model = model
        self._numValues = numValues
        self._offset = offset
        self._field = Field(
            offset, bitSize, bitOffset, numValues=max(numValues, 1), bigEndian=model.bigEndian
        )
        self._memory: MemoryEmulator | None = None
        self._hasInitial = value is not None
        raws = self._encode(value) if self._hasInitial else [0] * self._field.numValues
        self._value = self._decode(raws)

    def set(self, value: Any, *, write: bool = True) -> None:
        """Check and encode `value`, write it to memory (with `write`), then notify.

        A value of the wrong type raises TypeError, one outside minimum/maximum ValueError, a
        memory fault MemoryFault; in each case nothing changes.
        """
        raws = self._encode(value)
        with self._lock:
            if write:
                self._bound().write(self._field, raws)
            self._value = self._decode(raws)
        self._notify()

    def _read(self) -> Any:
        with self._lock:
            value = self._decode(self._bound().read(self._field))
            changed = not _same(self._value, value)
            self._value = value
        if changed:
            self._notify()
        return value

    def _startIo(self) -> None:
        if self._hasInitial:
            self.set(self._value)
        else:
            self._read()

    def _encode(self, value: Any) -> list[int]:
        model = self._model
        try:
            if self._numValues:
                values = [model.coerce(v) for v in value]
                if len(values) != self._numValues:
                    raise ValueError(
                        f"{self._path}: {len(values)} values for an array of {self._numValues}"
                    )
            else:
                values = [model.coerce(value)]
        except TypeError as error:
            raise TypeError(
                f"{self._path}: {value!r} does not fit {model.name}: {error}"
            ) from error
        self._checkRange(values, value)
        return [model.toRaw(v) for v in values]

    def _decode(self, raws: list[int]) -> Any:
        if self._numValues:
            return np.array([self._model.fromRaw(r) for r in raws], dtype=self._model.ndType)
        return self._model.fromRaw(raws[0])

    def _bound(self) -> MemoryEmulator:
        if self._memory is None:
            raise RuntimeError(f"{self._path} is not in a Root's tree, it has no memory")
        return self._memory

    def _attach(self) -> None:
        super()._attach()
        parent = self._parent
        if parent._memory is None:
            raise ValueError(f"{self._path}: no memBase on its Device or above")
        self._memory = parent._memory
        self._field = replace(self._field, offset=parent._address + self._offset)


# --- commands ----------------------------------------------------------------------------------


class _Command:
    """Mixin making a variable a command: mode 'WO', callable, `arg` when the function takes one."""

    isCommand = True

    def _bindFunction(self, function: Callable[..., Any], default: Any) -> None:
        self._function = _Hook(function, ("root", "dev", "cmd", "arg"))
        self._default = default
        self.arg = "arg" in self._function.names

    def __call__(self, arg: Any = None) -> Any:
        """Run the function; no `arg` means the command's value, a str is parsed (parseDisp)."""
        if arg is None:
            arg = self._default
        elif isinstance(arg, str) and self.nativeType is not str:
            arg = self.parseDisp(arg)
        return self._function(root=self._root, dev=self._parent, cmd=self, arg=arg)

    def _startIo(self) -> None:
        """Commands are neither written nor read at start."""


class LocalCommand(_Command, LocalVariable):
    """A command run in the tree; its typeStr follows `value` (default 0: 'int').

    `function` may take any of the keywords root, dev, cmd, arg.
    """

    def __init__(
        self,
        *,
        name: str,
        function: Callable[..., Any],
        value: Any = 0,
        description: str = "",
        groups: Iterable[str] | None = None,
    ) -> None:
        LocalVariable.__init__(
            self, name=name, value=value, mode="WO", description=description, groups=groups
        )
        self._bindFunction(function, value)


class RemoteCommand(_Command, RemoteVariable):
    """A command acting on a register; its function typically calls `cmd.set(...)`."""

    def __init__(
        self,
        *,
        name: str,
        offset: int,
        function: Callable[..., Any],
        bitSize: int = 32,
        bitOffset: int = 0,
        base: type[Model] = UInt,
        value: Any = 0,
        description: str = "",
        groups: Iterable[str] | None = None,
    ) -> None:
        RemoteVariable.__init__(
            self,
            name=name,
            offset=offset,
            bitSize=bitSize,
            bitOffset=bitOffset,
            base=base,
            mode="WO",
            value=value,
            description=description,
            groups=groups,
        )
        self._bindFunction(function, value)
