"""A pure-Python implementation of pyrogue's device-authoring API on simulated memory.

`import sim.tree as pr` gives what a pyrogue device package uses: `Root`, `Device`,
`LocalVariable`, `RemoteVariable`, `LinkVariable`, `LocalCommand`/`BaseCommand`/`Command`,
`RemoteCommand`, the register models (`UInt`, `Int`, `Bool`, `Float`, `Double`, `String`,
`Fixed`, `UIntReversed`, ...), the errors (`VariableError`, `MemoryError`, `NodeError`,
`DeviceError`, `CommandError`, `GeneralError`) and the YAML helpers. RemoteVariables live in a
`sim.memory.MemoryEmulator` given as a Device's `memBase`. Every Device carries pyrogue's
`enable`, `ReadDevice` and `WriteDevice`; a Root carries pyrogue's standard variables and
commands (Time, PollEn, ReadAll, WriteAll, SaveConfig, LoadConfig, ...). Listeners run on the
Root's update thread, polling on its poll thread. Unlike pyrogue, building and starting a tree
is linear in its size. docs/simulator.md lists what is supported and how it differs.
"""

from __future__ import annotations

import datetime
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sim.command import BaseCommand, Command, CommandError, LocalCommand, RemoteCommand
from sim.memory import GeneralError, MemoryEmulator
from sim.model import (
    Bool,
    Double,
    DoubleBE,
    Fixed,
    Float,
    Float16,
    Float16BE,
    FloatBE,
    Int,
    IntBE,
    Model,
    String,
    UFixed,
    UInt,
    UIntBE,
    UIntReversed,
    reverseBits,
    twosComplement,
)
from sim.node import Node, NodeError
from sim.variable import (
    BaseVariable,
    LinkVariable,
    LocalVariable,
    RemoteVariable,
    VariableError,
    VariableValue,
    functionWrapper,
)
from sim.workers import Heartbeat, PollThread, UpdateThread
from sim.yamlconfig import dataToYaml, yamlFiles, yamlToData

__all__ = [
    "ArrayDevice",
    "BaseCommand",
    "BaseVariable",
    "Bool",
    "Command",
    "CommandError",
    "Device",
    "DeviceError",
    "Double",
    "DoubleBE",
    "EnableVariable",
    "Fixed",
    "Float",
    "Float16",
    "Float16BE",
    "FloatBE",
    "GeneralError",
    "Int",
    "IntBE",
    "LinkVariable",
    "LoadConfigProcess",
    "LocalCommand",
    "LocalVariable",
    "MemoryError",
    "Model",
    "Node",
    "NodeError",
    "Process",
    "RemoteCommand",
    "RemoteVariable",
    "Root",
    "RunControl",
    "SaveConfigProcess",
    "String",
    "UFixed",
    "UInt",
    "UIntBE",
    "UIntReversed",
    "VariableError",
    "VariableValue",
    "dataToYaml",
    "functionWrapper",
    "reverseBits",
    "twosComplement",
    "yamlToData",
]

log = logging.getLogger(__name__)

_ALL_MODES = ["RW", "RO", "WO"]
_CONFIG_MODES = ["RW", "WO"]


class DeviceError(Exception):
    """A Device could not be set up (RemoteVariables without a memBase, ...)."""


class MemoryError(Exception):
    """pyrogue's MemoryError: a memory access or block layout failed."""

    def __init__(self, *, name: str, address: int, msg: str | None = None, size: int = 0) -> None:
        text = f"Memory Error for {name} at address {address:#08x}"
        super().__init__(text if msg is None else f"{text} {msg}")


class EnableVariable(BaseVariable):
    """A Device's `enable`: True/False, or 'parent'/'deps' when disabled from above."""

    def __init__(self, *, enabled: bool, deps: Iterable[BaseVariable] | None = None) -> None:
        super().__init__(
            name="enable",
            description="Determines if device is enabled for hardware access",
            mode="RW",
            value=enabled,
            groups="Enable",
            disp={False: "False", True: "True", "parent": "ParentFalse", "deps": "ExtDepFalse"},
        )
        self._deps = list(deps or ())
        self._depDis = bool(self._deps)
        for dep in self._deps:
            dep.addListener(self)
        self._value = enabled

    def get(self, read: bool = False, index: int = -1, **_: Any) -> Any:
        """True, False, or 'deps'/'parent' when a dependency or the parent disables it."""
        if self._value is False:
            return False
        if self._depDis:
            return "deps"
        parent = self._parent
        if parent is None or parent is self._root:
            return self._value
        return True if parent._parent.enable.value() is True else "parent"

    def set(self, value: Any, write: bool = True, index: int = -1, **_: Any) -> None:
        """Enable (True) or disable (False) the Device and everything below it."""
        if value in ("parent", "deps"):
            return
        old = self.value()
        self._value = value
        if old != value and old not in ("parent", "deps"):
            self._parent._updateBlockEnable()
            self._parent.enableChanged(value)
        self._queueUpdate()

    def _doUpdate(self) -> VariableValue | None:
        if self._deps:
            old = self.value() is True
            self._depDis = not all(d.value() for d in self._deps)
            if old != (self.value() is True):
                self._parent._updateBlockEnable()
                self._parent.enableChanged(self.value() is True)
        return super()._doUpdate()

    def _setDefault(self) -> None:
        """enable keeps its constructor value."""

    def _rootAttached(self, parent: Node, root: Any) -> None:
        super()._rootAttached(parent, root)
        if parent is not root:
            parent._parent.enable.addListener(self)


class Device(Node):
    """A node holding Variables, Commands and sub-Devices.

    `memBase` (a MemoryEmulator) is the memory of the RemoteVariables below; a Device without
    one uses its parent's, at its parent's address plus `offset`. The name defaults to the
    class name. Each Device has `enable`, `ReadDevice` and `WriteDevice`.
    """

    isDevice = True

    def __init__(
        self,
        *,
        name: str | None = None,
        description: str = "",
        memBase: MemoryEmulator | None = None,
        offset: int = 0,
        hidden: bool = False,
        groups: Any = None,
        expand: bool = False,
        enabled: bool = True,
        defaults: dict[str, Any] | None = None,
        enableDeps: Iterable[BaseVariable] | None = None,
        hubMin: int = 0,
        hubMax: int = 0,
        guiGroup: str | None = None,
    ) -> None:
        super().__init__(
            name=name or type(self).__name__,
            description=description,
            expand=expand,
            hidden=hidden,
            groups=groups,
            guiGroup=guiGroup,
        )
        self._memBase = memBase
        self._memory: MemoryEmulator | None = memBase
        self._offset = offset
        self._address = offset
        self._defaults = dict(defaults or {})
        self._ifAndProto: list[Any] = []
        self.forceWaitEach = False
        self.addRemoteCommands = functools.partial(self.addNodes, RemoteCommand)
        self.add(EnableVariable(enabled=enabled, deps=enableDeps))
        self.add(
            LocalCommand(
                name="ReadDevice",
                value=False,
                hidden=True,
                function=lambda arg: self.readAndWaitBlocks(recurse=arg),
                description="Force read of device without recursion",
            )
        )
        self.add(
            LocalCommand(
                name="WriteDevice",
                value="",
                hidden=True,
                function=lambda arg: self.writeAndVerifyBlocks(force=True, recurse=arg),
                description="Force write of device without recursion",
            )
        )

    # --- layout ------------------------------------------------------------------------------

    @property
    def offset(self) -> int:
        """Offset from the parent Device (or from the memBase)."""
        return self._offset

    @property
    def address(self) -> int:
        """Absolute address in the memory."""
        return self._address

    @property
    def running(self) -> bool:
        """True while the Root is running."""
        return self._root is not None and self._root.running

    # --- building ----------------------------------------------------------------------------

    def add(self, node: Node | Iterable[Node]) -> None:
        """Add a node (or several) as children; children are reachable as attributes."""
        if not isinstance(node, Node):
            for child in node:
                self.add(child)
            return
        if self._root is not None:
            raise NodeError(
                f"Error adding node with name {node.name} to {self.name}. Tree is already started."
            )
        if node._parent is not None:
            raise NodeError(
                f"Error adding node with name {node.name} to {self.name}. Node is already attached."
            )
        name = node.name
        if (
            name in self._nodes
            or name in self._anodes
            or name in self.__dict__
            or hasattr(type(self), name)
        ):
            raise NodeError(
                f"Error adding node with name {node.name} to {self.name}. Name collision."
            )
        self._addArrayNode(node)
        self._nodes[node.name] = node
        node._parent = self

    def addNode(self, nodeClass: type[Node], **kwargs: Any) -> None:
        """Add nodeClass(**kwargs)."""
        self.add(nodeClass(**kwargs))

    def addNodes(self, nodeClass: type[Node], number: int, stride: int, **kwargs: Any) -> None:
        """Add `number` nodes 'Name[i]' at offset + i*stride."""
        name = kwargs.pop("name")
        offset = kwargs.pop("offset")
        for i in range(number):
            self.add(nodeClass(name=f"{name}[{i}]", offset=offset + i * stride, **kwargs))

    def addRemoteVariables(
        self, number: int, stride: int, pack: bool = False, **kwargs: Any
    ) -> None:
        """Add RemoteVariables 'Name[0]'..'Name[number-1]' every `stride` bytes.

        With `pack` they are hidden and a LinkVariable 'Name_All' joins their display strings
        with '_' (highest index first) and splits a written string the same way.
        """
        hidden = True if pack else kwargs.pop("hidden", False)
        self.addNodes(RemoteVariable, number, stride, hidden=hidden, **kwargs)
        if not pack:
            return
        members = list(getattr(self, kwargs["name"]).values())

        def linkedSet(value: str, write: bool) -> None:
            if value == "":
                return
            for variable, item in zip(members, reversed(value.split("_")), strict=False):
                variable.setDisp(item, write=write)

        def linkedGet(read: bool) -> str:
            return "_".join(reversed([v.getDisp(read=read) for v in members]))

        name = kwargs.pop("name") + "_All"
        kwargs.pop("value", None)
        for key in (
            "offset",
            "bitSize",
            "bitOffset",
            "base",
            "numValues",
            "valueBits",
            "valueStride",
            "overlapEn",
            "verify",
            "retryCount",
            "minimum",
            "maximum",
        ):
            kwargs.pop(key, None)
        self.add(
            LinkVariable(
                name=name,
                value="",
                dependencies=members,
                linkedGet=linkedGet,
                linkedSet=linkedSet,
                **kwargs,
            )
        )

    def addInterface(self, *interfaces: Any) -> None:
        """Manage interfaces/protocols: their `_start()`/`_stop()` run with the Root."""
        for interface in interfaces:
            if isinstance(interface, Iterable) and not isinstance(interface, str | bytes):
                self._ifAndProto.extend(interface)
            else:
                self._ifAndProto.append(interface)

    def addProtocol(self, *protocols: Any) -> None:
        """Same as addInterface."""
        self.addInterface(protocols)

    def manage(self, *interfaces: Any) -> None:
        """Same as addInterface."""
        self._ifAndProto.extend(interfaces)

    # --- decorators --------------------------------------------------------------------------

    def command(self, **kwargs: Any) -> Callable[[Callable], Callable]:
        """Decorator: add the function as a LocalCommand (named after it by default)."""

        def decorate(function: Callable) -> Callable:
            kwargs.setdefault("name", function.__name__)
            self.add(LocalCommand(function=function, **kwargs))
            return function

        return decorate

    def linkVariableGet(self, **kwargs: Any) -> Callable[[Callable], Callable]:
        """Decorator: add the function as the linkedGet of a LinkVariable."""

        def decorate(function: Callable) -> Callable:
            kwargs.setdefault("name", function.__name__)
            self.add(LinkVariable(linkedGet=function, **kwargs))
            return function

        return decorate

    # --- hooks -------------------------------------------------------------------------------

    def setPollInterval(self, interval: float, variables: Iterable[Any] | None = None) -> None:
        """Set the poll interval of `variables` (names or Variables; default: the polled ones)."""
        if variables is None:
            variables = [k for k, v in self.variables.items() if v.pollInterval != 0]
        for item in variables:
            (self.node(item) if isinstance(item, str) else item).setPollInterval(interval)

    def hideVariables(self, hidden: bool, variables: Iterable[Any] | None = None) -> None:
        """Hide (or show) `variables` (names or Variables; default: all direct ones)."""
        for item in self.variables.values() if variables is None else variables:
            (self.variables[item] if isinstance(item, str) else item).hidden = hidden

    def initialize(self) -> None:
        """Soft reset hook: calls initialize() of every child Device."""
        for device in self.devices.values():
            device.initialize()

    def hardReset(self) -> None:
        """Hard reset hook: calls hardReset() of every child Device."""
        for device in self.devices.values():
            device.hardReset()

    def countReset(self) -> None:
        """Counter reset hook: calls countReset() of every child Device."""
        for device in self.devices.values():
            device.countReset()

    def enableChanged(self, value: Any) -> None:
        """Hook called when the Device's effective enable changes."""

    def _stop(self) -> None:
        """Hook called when the Root stops (a Process ends its thread)."""

    # --- bulk access -------------------------------------------------------------------------

    def _blockVariables(self, recurse: bool, variable: Any) -> Iterator[Any]:
        if variable is not None:
            yield from variable if isinstance(variable, list) else [variable]
            return
        for node in self._nodes.values():
            if isinstance(node, LocalVariable | RemoteVariable) and node._bulkOpEn:
                yield node
        if recurse:
            for device in self.devices.values():
                yield from device._blockVariables(True, None)

    def writeBlocks(
        self,
        *,
        force: bool = False,
        recurse: bool = True,
        variable: Any = None,
        index: int = -1,
        **_: Any,
    ) -> None:
        """Write the RemoteVariables (all with `force`, else those set without a write)."""
        for var in self._blockVariables(recurse, variable):
            if isinstance(var, RemoteVariable) and (force or var._stale):
                var.write()

    def verifyBlocks(self, *, recurse: bool = True, variable: Any = None, **_: Any) -> None:
        """Verification: simulated memory always holds what was written."""

    def readBlocks(
        self, *, recurse: bool = True, variable: Any = None, index: int = -1, **_: Any
    ) -> None:
        """Read the variables from memory (LocalVariables: announce their value)."""
        for var in self._blockVariables(recurse, variable):
            var.get(read=True)

    def waitBlocks(self, *, recurse: bool = True, variable: Any = None, **_: Any) -> None:
        """Transactions on simulated memory complete at once."""

    checkBlocks = waitBlocks

    def writeAndVerifyBlocks(
        self, force: bool = False, recurse: bool = True, variable: Any = None, **_: Any
    ) -> None:
        """writeBlocks, verifyBlocks, waitBlocks."""
        self.writeBlocks(force=force, recurse=recurse, variable=variable)

    def readAndWaitBlocks(self, recurse: bool = True, variable: Any = None, **_: Any) -> None:
        """readBlocks, waitBlocks."""
        self.readBlocks(recurse=recurse, variable=variable)

    readAndCheckBlocks = readAndWaitBlocks

    # --- YAML --------------------------------------------------------------------------------

    def getYaml(
        self,
        readFirst: bool = False,
        modes: list[str] = _ALL_MODES,
        incGroups: Any = None,
        excGroups: Any = None,
        recurse: bool = True,
    ) -> str:
        """The values below this Device as pyrogue YAML ({name: {...}})."""
        if readFirst:
            self._root._read()
        data = self._getDict(modes, incGroups, excGroups, recurse=recurse)
        return dataToYaml({self.name: data})

    def printYaml(
        self,
        readFirst: bool = False,
        modes: list[str] = _ALL_MODES,
        incGroups: Any = None,
        excGroups: Any = None,
        recurse: bool = False,
    ) -> None:
        """Print getYaml()."""
        print(self.getYaml(readFirst, modes, incGroups, excGroups, recurse))

    def saveYaml(
        self,
        name: str | None,
        readFirst: bool,
        modes: list[str] = _ALL_MODES,
        incGroups: Any = None,
        excGroups: Any = None,
        autoPrefix: str = "",
        autoCompress: bool = False,
    ) -> bool:
        """Write getYaml() to the file `name` (a timestamped name when empty)."""
        if not name:
            name = datetime.datetime.now().strftime(autoPrefix + "_%Y%m%d_%H%M%S.yml")
        text = self.getYaml(
            readFirst=readFirst, modes=modes, incGroups=incGroups, excGroups=excGroups, recurse=True
        )
        with open(name, "w") as f:
            f.write(text)
        return True

    def loadYaml(
        self,
        name: str | list[str],
        writeEach: bool,
        modes: list[str],
        incGroups: Any = None,
        excGroups: Any = None,
    ) -> bool:
        """Apply YAML files (a file, a comma list, a directory of .yml/.yaml)."""
        for fileName in yamlFiles(name):
            self._applyYamlDict(yamlToData(fName=fileName), writeEach, modes, incGroups, excGroups)
        if not writeEach:
            self._writeConfig()
        self._root._configApplied()
        return True

    def setYaml(
        self,
        yml: str,
        writeEach: bool,
        modes: list[str],
        incGroups: Any = None,
        excGroups: Any = None,
    ) -> None:
        """Apply YAML text (each value set with setDisp; written at the end unless writeEach)."""
        self._applyYamlDict(yamlToData(yml), writeEach, modes, incGroups, excGroups)
        if not writeEach:
            self._writeConfig()
        self._root._configApplied()

    def _applyYamlDict(
        self, d: dict, writeEach: bool, modes: list[str], incGroups: Any, excGroups: Any
    ) -> None:
        for key, value in (d or {}).items():
            if key == self.name:
                self._setDict(value, writeEach, modes, incGroups, excGroups, None)
            else:
                self._setChild(key, value, writeEach, modes, incGroups, excGroups)

    def _setChild(
        self,
        key: str,
        value: Any,
        writeEach: bool,
        modes: list[str],
        incGroups: Any,
        excGroups: Any,
    ) -> None:
        nodes, keys = self.nodeMatch(key)
        if not nodes:
            log.error("Entry %s not found", key)
        for node in nodes:
            if node.filterByGroup(incGroups, excGroups):
                node._setDict(value, writeEach, modes, incGroups, excGroups, keys)

    def _writeConfig(self) -> None:
        self.writeBlocks(force=self._root.ForceWrite.value(), recurse=True)

    def _getDict(
        self,
        modes: Iterable[str],
        incGroups: Any,
        excGroups: Any,
        properties: bool = False,
        recurse: bool = True,
    ) -> dict | None:
        data: dict[str, Any] = {}
        for key, var in self.variablesByGroup(incGroups, excGroups).items():
            entry = var._getDict(modes, incGroups, excGroups)
            if entry is not None:
                data[key] = entry
        if recurse:
            for key, device in self.devicesByGroup(incGroups, excGroups).items():
                entry = device._getDict(modes, incGroups, excGroups)
                if entry is not None:
                    data[key] = entry
        return data or None

    def _setDict(
        self,
        d: Any,
        writeEach: bool,
        modes: Iterable[str],
        incGroups: Any = None,
        excGroups: Any = None,
        keys: Any = None,
    ) -> None:
        if keys is not None or not isinstance(d, dict):
            log.error("Entry %s with key %s not found", self.name, keys)
            return
        for key, value in d.items():
            self._setChild(key, value, writeEach, modes, incGroups, excGroups)

    # --- life cycle --------------------------------------------------------------------------

    def _rootAttached(self, parent: Node, root: Any) -> None:
        if self._memBase is None:
            self._memory = getattr(parent, "_memory", None)
            self._address = getattr(parent, "_address", 0) + self._offset
        super()._rootAttached(parent, root)
        remote = [n for n in self._nodes.values() if isinstance(n, RemoteVariable)]
        if self._memory is None and any(n._hasOffset for n in remote):
            raise DeviceError(
                f"Device '{self._path}' has RemoteVariables or RemoteCommands but no memBase. "
                "Pass memBase= when creating this device or when adding it to the tree."
            )
        for var in remote:
            var._bind(self._memory, self._address)

    def _finishInit(self) -> None:
        for name, value in self._defaults.items():
            self._nodes[name]._default = value
        super()._finishInit()
        if self.enable.value() is not True:
            self._updateBlockEnable()

    def _updateBlockEnable(self) -> None:
        enabled = self.enable.value() is True
        for node in self._nodes.values():
            if isinstance(node, LocalVariable | RemoteVariable):
                node._enabled = enabled
            elif node.isDevice:
                node._updateBlockEnable()

    def _start(self) -> None:
        """Start the managed interfaces here and below (the Root stops them in reverse)."""
        for interface in self._ifAndProto:
            if hasattr(interface, "_start"):
                interface._start()
                self._root._started.append(interface)
        for device in self.devices.values():
            device._start()


class ArrayDevice(Device):
    """A Device holding `number` instances of `arrayClass` named 'Class[i]' every `stride`."""

    def __init__(
        self,
        *,
        arrayClass: type[Device],
        number: int,
        stride: int = 0,
        arrayArgs: Any = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("name", f"{arrayClass.__name__}Array")
        super().__init__(**kwargs)
        if arrayArgs is None:
            arrayArgs = [{} for _ in range(number)]
        elif isinstance(arrayArgs, dict):
            arrayArgs = [dict(arrayArgs) for _ in range(number)]
        for i in range(number):
            args = dict(arrayArgs[i])
            name = args.pop("name", f"{arrayClass.__name__}[{i}]")
            self.add(arrayClass(name=name, offset=i * stride, **args))


class Root(Device):
    """The top of a tree: starts and stops it, owns its update, poll and heartbeat threads.

    After a YAML configuration is applied (setYaml, loadYaml, LoadConfig) it runs initialize()
    when InitAfterConfig is set. start() attaches the tree, applies `value=` defaults (without
    writing), starts the threads and the managed protocols, then reads (`initRead`) and writes
    (`initWrite`) the hardware and enables polling (`pollEn`). A protocol failing to start
    stops everything again and re-raises.
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        description: str = "",
        expand: bool = True,
        timeout: float = 1.0,
        initRead: bool = False,
        initWrite: bool = False,
        pollEn: bool = True,
        maxLog: int = 1000,
        unifyLogs: bool = False,
    ) -> None:
        self._running = False
        self._updates: UpdateThread | None = None
        self._poller: PollThread | None = None
        self._heartbeat: Heartbeat | None = None
        self._varListeners: list[tuple] = []
        self._started: list[Any] = []
        super().__init__(name=name, description=description, expand=expand)
        self.timeout = timeout
        self._initRead = initRead
        self._initWrite = initWrite
        self._pollEn = pollEn
        self._maxLog = maxLog
        self._addStandardNodes()

    def _addStandardNodes(self) -> None:
        """pyrogue's standard Root variables and commands, in pyrogue's order."""
        sysGroups = ["NoStream", "NoSql", "NoState"]
        variables = [
            ("RogueVersion", "sim", "RO", False, None, "Rogue Version String"),
            (
                "RogueDirectory",
                os.path.dirname(__file__),
                "RO",
                False,
                None,
                "Rogue Library Directory",
            ),
            (
                "SystemLog",
                "[]",
                "RO",
                True,
                sysGroups,
                "String containing newline separated system logic entries",
            ),
            (
                "SystemLogLast",
                "",
                "RO",
                True,
                ["NoStream", "NoState"],
                "String containing last system log entry",
            ),
            (
                "ForceWrite",
                False,
                "RW",
                True,
                None,
                "Configuration Flag To Always Write Non Stale Blocks For WriteAll, LoadConfig and "
                "setYaml",
            ),
            (
                "InitAfterConfig",
                False,
                "RW",
                True,
                None,
                "Configuration Flag To Execute Initialize after LoadConfig or setYaml",
            ),
            ("Time", time.time(), "RO", True, ["NoSql"], "Current Time In Seconds Since EPOCH UTC"),
        ]
        for name, value, mode, hidden, groups, text in variables:
            self.add(
                LocalVariable(
                    name=name,
                    value=value,
                    mode=mode,
                    hidden=hidden,
                    groups=list(groups or ()),
                    description=text,
                )
            )
        self.add(
            LinkVariable(
                name="LocalTime",
                value="",
                mode="RO",
                groups=list(sysGroups),
                linkedGet=lambda: time.strftime(
                    "%Y-%m-%d %H:%M:%S %Z", time.localtime(self.Time.value())
                ),
                dependencies=[self.Time],
                description="Local Time",
            )
        )
        self.add(
            LocalVariable(
                name="PollEn",
                value=False,
                mode="RW",
                groups=list(sysGroups),
                localSet=lambda value: self._setPolling(value),
                localGet=lambda: self._poller is not None and self._poller.enabled,
            )
        )
        save = self.saveYaml
        commands = [
            ("WriteAll", 0, None, self._write, "Write all values to the hardware"),
            ("ReadAll", 0, None, self._read, "Read all values from the hardware"),
            (
                "SaveState",
                "",
                None,
                lambda arg: save(arg, True, _ALL_MODES, excGroups="NoState", autoPrefix="state"),
                "Save state to file. Data is saved in YAML format.",
            ),
            (
                "SaveConfig",
                "",
                None,
                lambda arg: save(
                    arg, True, _CONFIG_MODES, excGroups="NoConfig", autoPrefix="config"
                ),
                "Save configuration to file. Data is saved in YAML format.",
            ),
            (
                "LoadConfig",
                "",
                None,
                lambda arg: self.loadYaml(arg, False, _CONFIG_MODES, excGroups="NoConfig"),
                "Read configuration from file. Data is read in YAML format.",
            ),
            (
                "RemoteVariableDump",
                "",
                None,
                lambda arg: self.remoteVariableDump(arg, _ALL_MODES, True),
                "Save a dump of the remote variable state",
            ),
            (
                "RemoteConfigDump",
                "",
                None,
                lambda arg: self.remoteVariableDump(arg, _CONFIG_MODES, True),
                "Save a dump of the remote variable state",
            ),
            (
                "Initialize",
                0,
                None,
                self.initialize,
                "Generate a soft reset to each device in the tree",
            ),
            (
                "HardReset",
                0,
                None,
                self.hardReset,
                "Generate a hard reset to each device in the tree",
            ),
            (
                "CountReset",
                0,
                None,
                self.countReset,
                "Generate a count reset to each device in the tree",
            ),
            (
                "ClearLog",
                0,
                None,
                self._clearLog,
                "Clear the message log contained in the SystemLog variable",
            ),
            (
                "SetYamlConfig",
                "",
                None,
                lambda arg: self.setYaml(arg, False, _CONFIG_MODES, excGroups="NoConfig"),
                "Set configuration from YAML string.",
            ),
            (
                "GetYamlConfig",
                True,
                "",
                lambda arg: self.getYaml(readFirst=arg, modes=_CONFIG_MODES, excGroups="NoConfig"),
                "Get configuration in YAML string.",
            ),
            (
                "GetYamlState",
                True,
                "",
                lambda arg: self.getYaml(readFirst=arg, modes=_ALL_MODES, excGroups="NoState"),
                "Get current state as YAML string.",
            ),
        ]
        for name, value, retValue, function, text in commands:
            self.add(
                LocalCommand(
                    name=name,
                    value=value,
                    retValue=retValue,
                    function=function,
                    hidden=True,
                    description=text,
                )
            )
        self.add(LoadConfigProcess(name="LoadConfigProcess"))
        self.add(SaveConfigProcess(name="SaveConfigProcess"))

    # --- state -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._running

    @property
    def pollEn(self) -> bool:
        """Whether variables with a pollInterval are polled (the PollEn variable)."""
        return self._poller.enabled if self._poller is not None else self._pollEn

    @pollEn.setter
    def pollEn(self, enabled: bool) -> None:
        self._pollEn = bool(enabled)
        if self._poller is not None:
            self.PollEn.set(self._pollEn)

    def _setPolling(self, enabled: bool) -> None:
        if self._poller is not None:
            self._poller.setEnabled(bool(enabled))

    def holdUpdates(self, seconds: float) -> None:
        """Simulate a wedged update thread: deliver no listener calls for `seconds`."""
        if self._updates is None:
            raise RuntimeError(f"Root {self.name} is not running")
        self._updates.hold(seconds)

    # --- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the tree (see the class description)."""
        if self._running:
            raise NodeError("Root is already started! Can't restart!")
        self._parent = self
        self._root = self
        self._path = self.name
        for child in self._nodes.values():
            child._rootAttached(self, self)
        self._finishInit()
        self._running = True
        self._updates = UpdateThread(self.name, self._callVarListeners)
        self._heartbeat = Heartbeat(self.name, lambda: self.Time.set(time.time()))
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        if self._initRead:
            self._read()
        if self._initWrite:
            self._write()
        polled = [
            v
            for v in self.variableList
            if v.pollInterval > 0
            and isinstance(v, LocalVariable | RemoteVariable)
            and not v.isCommand
        ]
        self._poller = PollThread(self.name, polled, False)
        self.PollEn.set(self._pollEn)

    def stop(self) -> None:
        """Stop polling, the heartbeat, the managed protocols and listener delivery."""
        if not self._running:
            return
        self._running = False
        for worker in (self._poller, self._heartbeat):
            if worker is not None:
                worker.stop()
        self._poller = self._heartbeat = None
        while self._started:
            interface = self._started.pop()
            if hasattr(interface, "_stop"):
                try:
                    interface._stop()
                except Exception:
                    log.exception("stopping %r failed", interface)
        for device in self.deviceList:
            device._stop()
        self._updates.stop()
        self._updates = None

    def __enter__(self) -> Root:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- updates -----------------------------------------------------------------------------

    def _queueUpdate(self, var: BaseVariable) -> None:
        updates = self._updates
        if updates is not None:
            updates.queue(var)

    def _pollIntervalChanged(self, var: BaseVariable) -> None:
        if self._poller is not None and isinstance(var, LocalVariable | RemoteVariable):
            self._poller.add(var)

    def addVarListener(
        self,
        func: Callable[[str, VariableValue], Any],
        *,
        done: Callable[[], Any] | None = None,
        incGroups: Any = None,
        excGroups: Any = None,
    ) -> None:
        """Call `func(path, VariableValue)` for every variable update of the tree."""
        self._varListeners.append((func, done, incGroups, excGroups))

    def _callVarListeners(self, var: BaseVariable, update: VariableValue | None) -> None:
        for func, done, incGroups, excGroups in self._varListeners:
            if var.filterByGroup(incGroups, excGroups):
                try:
                    func(var.path, update if update is not None else VariableValue(var))
                    if done is not None:
                        done()
                except Exception:
                    log.exception("root listener %r failed", func)

    @contextmanager
    def updateGroup(self, period: float = 0) -> Iterator[None]:
        """Group updates (the simulator coalesces them on its update thread anyway)."""
        yield

    @contextmanager
    def pollBlock(self) -> Iterator[None]:
        """Block polling while inside."""
        poller = self._poller
        enabled = poller is not None and poller.enabled
        if enabled:
            poller.setEnabled(False)
        try:
            yield
        finally:
            if enabled:
                poller.setEnabled(True)

    def waitOnUpdate(self) -> None:
        """Return once the updates queued so far are delivered."""
        updates = self._updates
        if updates is None:
            return
        done = threading.Event()
        marker = _Marker(done)
        updates.queue(marker)
        done.wait(_MARKER_TIMEOUT)

    # --- tree access -------------------------------------------------------------------------

    def getNode(self, path: str) -> Node | None:
        """The node at dotted `path` (starting with the Root's name or 'root'), or None."""
        parts = path.split(".")
        if parts[0] not in (self.name, "root"):
            return None
        node: Any = self
        for part in parts[1:]:
            node = node.node(part) if hasattr(node, "node") else None
            if node is None:
                return None
        return node

    def _write(self) -> bool:
        """WriteAll: write (all with ForceWrite, else the changed) RemoteVariables."""
        self.writeBlocks(force=self.ForceWrite.value(), recurse=True)
        return True

    def _read(self) -> bool:
        """ReadAll: read every variable."""
        self.readBlocks(recurse=True)
        return True

    def hardReset(self) -> None:
        """hardReset() of every Device, then clear the log."""
        super().hardReset()
        self._clearLog()

    def _clearLog(self) -> None:
        self.SystemLog.set("[]")
        self.SystemLogLast.set("")

    def _applyYamlDict(
        self, d: dict, writeEach: bool, modes: list[str], incGroups: Any, excGroups: Any
    ) -> None:
        for key, value in (d or {}).items():
            node = self.getNode(key)
            if node is None:
                log.error("Entry %s not found", key)
            else:
                node._setDict(value, writeEach, modes, incGroups, excGroups, None)

    def _writeConfig(self) -> None:
        self._write()

    def _configApplied(self) -> None:
        if self.InitAfterConfig.value():
            self.initialize()

    def remoteVariableDump(self, name: str | None, modes: list[str], readFirst: bool) -> bool:
        """Write 'path value' lines of every RemoteVariable in `modes` to `name`."""
        if not name:
            name = datetime.datetime.now().strftime("regdump_%Y%m%d_%H%M%S.txt")
        if readFirst:
            self._read()
        with open(name, "w") as f:
            for var in self.variableList:
                if isinstance(var, RemoteVariable) and var.mode in modes:
                    f.write(f"{var.path} {var.valueDisp()}\n")
        return True


_MARKER_TIMEOUT = 10.0


class _Marker:
    """A stand-in queued behind the pending updates; its delivery sets an Event."""

    _listeners: tuple = ()
    _path = ""

    def __init__(self, done: threading.Event) -> None:
        self._done = done

    def _doUpdate(self) -> None:
        self._done.set()

    def filterByGroup(self, incGroups: Any, excGroups: Any) -> bool:
        return False


# The Process Devices build on Device (and the Root adds two of them): imported last.
from sim.process import LoadConfigProcess, Process, RunControl, SaveConfigProcess  # noqa: E402
