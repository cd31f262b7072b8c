"""What the IOC relies on from a PyRogue tree: the Root, Variable and Command it serves.

`ioc/` never imports pyrogue; it types the tree objects it is given with these Protocols, which
state the whole subset of the pyrogue API the IOC reads or calls. Real pyrogue (`pyrogue.Root`,
`pyrogue.BaseVariable`, `pyrogue.BaseCommand`) and the simulator (`sim.tree`) both provide it;
tests/unit/test_tree_contract.py checks the simulator's objects against every member named here.
Everything is read-only from the IOC's side (pyrogue exposes these as properties).

Beyond the Protocols, the IOC relies on pyrogue's behaviour:

* ``Root.start()`` calls ``_start()`` of every protocol given to ``addProtocol`` once the tree
  runs, ``Root.stop()`` calls ``_stop()``;
* a listener (``addListener``) is called as ``listener(path, VariableValue)`` on the Root's
  update thread after each change, and must not raise into the tree;
* ``set``/``setDisp``/a command call raise an exception when the tree or hardware refuses;
* ``VariableValue.status`` is one of 'None', 'Good', 'AlarmLoLo', 'AlarmLow', 'AlarmHigh',
  'AlarmHiHi'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast, runtime_checkable


@runtime_checkable
class VariableValue(Protocol):
    """A snapshot of a Variable that a listener receives (``getVariableValue`` returns one)."""

    @property
    def value(self) -> Any:
        """The value, of the Variable's native type."""

    @property
    def valueDisp(self) -> str:
        """The value as the Variable's display text."""

    @property
    def status(self) -> str:
        """Alarm status: 'None', 'Good', 'AlarmLoLo', 'AlarmLow', 'AlarmHigh', 'AlarmHiHi'."""

    @property
    def severity(self) -> str:
        """Alarm severity: 'None', 'Good', 'AlarmMinor', 'AlarmMajor'."""


Listener = Callable[[str, VariableValue], None]
"""What ``addListener`` takes: called with the Variable's path and a `VariableValue`."""


@runtime_checkable
class Node(Protocol):
    """A node of the tree (Device, Variable or Command): where it is and its groups."""

    @property
    def path(self) -> str:
        """Dotted path from the Root, ``root.Device.Name``."""

    @property
    def name(self) -> str:
        """The last part of the path."""

    @property
    def description(self) -> str:
        """Free text (the PV's DESC)."""

    @property
    def parent(self) -> Node | None:
        """The Device above (the Root is its own parent in pyrogue)."""

    def inGroup(self, group: str | Sequence[str]) -> bool:
        """True when the node is in `group` (or in any of several)."""

    def filterByGroup(
        self, incGroups: Sequence[str] | None, excGroups: Sequence[str] | None
    ) -> bool:
        """pyrogue's selection: in one of `incGroups` (any when None), in none of `excGroups`."""


@runtime_checkable
class Variable(Node, Protocol):
    """A Variable, or a Command (``isCommand``; see `Command`) as the IOC serves it."""

    @property
    def mode(self) -> str:
        """'RW', 'RO' or 'WO'."""

    @property
    def isCommand(self) -> bool:
        """True for a Command."""

    @property
    def typeStr(self) -> str:
        """pyrogue's type name: 'UInt32', 'Float64', 'String(32)', 'float64(8,)', 'int', ..."""

    @property
    def nativeType(self) -> type | None:
        """The Python type of the value (``np.ndarray`` for arrays)."""

    @property
    def disp(self) -> str:
        """Display format, ``'{:.3f}'``, or an enum's display."""

    @property
    def enum(self) -> dict[Any, str] | None:
        """{value: label} of an enum Variable, else None."""

    @property
    def units(self) -> str | None:
        """Engineering units."""

    @property
    def minimum(self) -> Any:
        """Lowest value a set accepts, or None."""

    @property
    def maximum(self) -> Any:
        """Highest value a set accepts, or None."""

    @property
    def lowAlarm(self) -> Any:
        """Alarm limits (None where not set): LOLO."""

    @property
    def lowWarning(self) -> Any:
        """LOW."""

    @property
    def highWarning(self) -> Any:
        """HIGH."""

    @property
    def highAlarm(self) -> Any:
        """HIHI."""

    def addListener(self, listener: Listener) -> None:
        """Call `listener` after every change of the value."""

    def getVariableValue(self, read: bool = True, index: int = -1) -> VariableValue:
        """The value with its display text and alarm state (`read`: from the hardware)."""

    def get(self, *, read: bool = True, index: int = -1) -> Any:
        """The value (`read`: from the hardware)."""

    def set(self, value: Any, *, index: int = -1, write: bool = True) -> None:
        """Set (and write) the value; raises when the tree refuses it."""

    def setDisp(self, sValue: str, write: bool = True, index: int = -1) -> None:
        """Set the value from its display text."""

    def genDisp(self, value: Any) -> str:
        """The display text of `value`."""

    def parseDisp(self, sValue: str) -> Any:
        """The value a display text stands for."""


@runtime_checkable
class Command(Variable, Protocol):
    """A Command: a Variable that is called."""

    @property
    def arg(self) -> bool:
        """True when the command's function takes an argument."""

    def __call__(self, arg: Any = None) -> Any:
        """Run the command (with `arg`, when it takes one)."""


@runtime_checkable
class Root(Protocol):
    """The Root of a tree: its Variables and Commands, its protocols, start and stop."""

    @property
    def running(self) -> bool:
        """True between start and stop."""

    @property
    def variableList(self) -> Sequence[Variable]:
        """Every Variable and Command of the tree (the Root's own included), in tree order."""

    def addProtocol(self, protocol: Any) -> None:
        """Start and stop `protocol` (its ``_start``/``_stop``) with the Root."""

    def start(self) -> None:
        """Start the tree and then its protocols."""

    def stop(self) -> None:
        """Stop the protocols and then the tree."""


def takes_argument(var: Variable) -> bool:
    """True for a Command whose function takes an argument.

    pyrogue gives every command ``arg`` (False when it cannot tell, a C++ function); an object
    without it is read the same way: a command called without an argument.
    """
    return var.isCommand and bool(getattr(var, "arg", False))


def as_command(var: Variable) -> Command:
    """`var`, which must be a Command (``isCommand``), as one."""
    if not var.isCommand:
        raise TypeError(f"{var.path} is not a Command")
    return cast(Command, var)
