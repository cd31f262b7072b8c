"""pyrogue's Commands: BaseCommand (= LocalCommand = Command) and RemoteCommand.

A command is a 'WO' variable that is called: `cmd()` or `cmd(arg)`. Its function may declare
any of root, dev, cmd, arg; `cmd.arg` is True when it declares a positional `arg`. A call on a
disabled Device does nothing and returns None. The static helpers (toggle, touchOne, ...) are
the functions pyrogue offers for RemoteCommands.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

from sim.variable import BaseVariable, RemoteVariable, functionWrapper

__all__ = ["BaseCommand", "Command", "CommandError", "LocalCommand", "RemoteCommand"]

_CALL_ARGS = ("root", "dev", "cmd", "arg")


class CommandError(Exception):
    """A command's check failed (setAndVerifyArg read back another value)."""


class BaseCommand(BaseVariable):
    """A command run in the tree; its value (default 0) gives typeStr and the default arg."""

    isVariable = False
    isCommand = True

    def __init__(
        self,
        *,
        name: str | None = None,
        description: str = "",
        value: Any = 0,
        retValue: Any = None,
        enum: dict[Any, str] | None = None,
        hidden: bool = False,
        groups: Any = None,
        minimum: Any = None,
        maximum: Any = None,
        function: Callable[..., Any] | None = None,
        guiGroup: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("mode", "WO")
        kwargs.setdefault("bulkOpEn", False)
        super().__init__(
            name=name,
            description=description,
            value=value,
            enum=enum,
            hidden=hidden,
            groups=groups,
            minimum=minimum,
            maximum=maximum,
            guiGroup=guiGroup,
            **kwargs,
        )
        self._bindFunction(function)
        self._retDisp = "{}"
        if retValue is None:
            self._retTypeStr = None
        elif isinstance(retValue, list):
            self._retTypeStr = f"List[{type(retValue[0]).__name__}]"
        else:
            self._retTypeStr = type(retValue).__name__

    def _bindFunction(self, function: Callable[..., Any] | None) -> None:
        self._function = function
        self._functionWrap = functionWrapper(function, _CALL_ARGS)
        try:
            self._arg = "arg" in inspect.getfullargspec(function).args
        except TypeError:
            self._arg = False

    @property
    def arg(self) -> bool:
        """True when the function takes an argument."""
        return self._arg

    @property
    def retTypeStr(self) -> str | None:
        """Type name of the return value declared with retValue."""
        return self._retTypeStr

    def __call__(self, arg: Any = None) -> Any:
        """Run the function; no `arg` means the command's value, a str is parsed (parseDisp)."""
        if self._parent is not None and self._parent.enable.value() is not True:
            return None
        arg = self._default if arg is None else self.parseDisp(arg)
        ret = self._functionWrap(root=self._root, dev=self._parent, cmd=self, arg=arg)
        if self._arg and not isinstance(self, RemoteCommand):
            self._default = arg
            self._queueUpdate()
        return ret

    def call(self, arg: Any = None) -> Any:
        """Same as calling the command."""
        return self(arg)

    def callDisp(self, arg: Any = None) -> str:
        """Call and return the result as a display string."""
        return self.genDisp(self(arg), useDisp=self._retDisp)

    def replaceFunction(self, function: Callable[..., Any]) -> None:
        """Run `function` from now on."""
        self._function = function
        self._functionWrap = functionWrapper(function, _CALL_ARGS)

    def get(self, read: bool = True, index: int = -1, **_: Any) -> Any:
        """The command's value (its last argument or default)."""
        return self._default

    def set(self, value: Any, *, index: int = -1, write: bool = True, **_: Any) -> None:
        """Store a new default argument."""
        self._default = value

    def _setDefault(self) -> None:
        """Commands keep their value as the default argument."""

    def _getDict(self, *args: Any, **kwargs: Any) -> None:
        return None

    def _setDict(self, *args: Any, **kwargs: Any) -> None:
        return None

    def _poll(self) -> None:
        """Commands are not polled."""

    # --- helpers for RemoteCommand functions -------------------------------------------------

    @staticmethod
    def nothing() -> None:
        """Do nothing."""

    @staticmethod
    def read(cmd: BaseCommand) -> None:
        """Read the command's register."""
        cmd.get(read=True)

    @staticmethod
    def setArg(cmd: BaseCommand, arg: Any) -> None:
        """Write the argument."""
        cmd.set(arg)

    @staticmethod
    def setAndVerifyArg(cmd: BaseCommand, arg: Any) -> None:
        """Write the argument and check it reads back (CommandError otherwise)."""
        cmd.set(arg)
        ret = cmd.get()
        if ret != arg:
            raise CommandError(
                f"Verification failed for {cmd.path}. \nSet to {arg} but read back {ret}"
            )

    @staticmethod
    def createToggle(sets: Iterable[Any]) -> Callable[[BaseCommand], None]:
        """A function writing each of `sets` in turn."""

        def toggle(cmd: BaseCommand) -> None:
            for value in sets:
                cmd.set(value)

        return toggle

    @staticmethod
    def toggle(cmd: BaseCommand) -> None:
        """Write 1 then 0."""
        cmd.set(1)
        cmd.set(0)

    @staticmethod
    def createTouch(value: Any) -> Callable[[BaseCommand], None]:
        """A function writing `value`."""

        def touch(cmd: BaseCommand) -> None:
            cmd.set(value)

        return touch

    @staticmethod
    def touch(cmd: BaseCommand, arg: Any) -> None:
        """Write the argument, or 1 without one."""
        cmd.set(1 if arg is None else arg)

    @staticmethod
    def touchZero(cmd: BaseCommand) -> None:
        """Write 0."""
        cmd.set(0)

    @staticmethod
    def touchOne(cmd: BaseCommand) -> None:
        """Write 1."""
        cmd.set(1)

    @staticmethod
    def createPostedTouch(value: Any) -> Callable[[BaseCommand], None]:
        """A function posting `value`."""

        def postedTouch(cmd: BaseCommand) -> None:
            cmd.post(value)

        return postedTouch

    @staticmethod
    def postedTouch(cmd: BaseCommand, arg: Any) -> None:
        """Post the argument."""
        cmd.post(arg)

    @staticmethod
    def postedTouchOne(cmd: BaseCommand) -> None:
        """Post 1."""
        cmd.post(1)

    @staticmethod
    def postedTouchZero(cmd: BaseCommand) -> None:
        """Post 0."""
        cmd.post(0)


LocalCommand = BaseCommand
Command = BaseCommand


class RemoteCommand(BaseCommand, RemoteVariable):
    """A command acting on a register; its function typically calls `cmd.set(...)`.

    set() always writes (forced); get() reads the register.
    """

    def __init__(
        self,
        *,
        name: str,
        description: str = "",
        value: Any = None,
        retValue: Any = None,
        enum: dict[Any, str] | None = None,
        hidden: bool = False,
        groups: Any = None,
        minimum: Any = None,
        maximum: Any = None,
        function: Callable[..., Any] | None = None,
        base: Any = None,
        offset: int | None = None,
        bitSize: int = 32,
        bitOffset: int = 0,
        overlapEn: bool = False,
        guiGroup: str | None = None,
        **kwargs: Any,
    ) -> None:
        from sim.model import UInt

        RemoteVariable.__init__(
            self,
            name=name,
            description=description,
            mode="WO",
            value=value,
            enum=enum,
            hidden=hidden,
            groups=groups,
            minimum=minimum,
            maximum=maximum,
            base=UInt if base is None else base,
            offset=offset,
            bitSize=bitSize,
            bitOffset=bitOffset,
            overlapEn=overlapEn,
            bulkOpEn=False,
            verify=False,
            guiGroup=guiGroup,
            **kwargs,
        )
        self._bindFunction(function)
        self._retDisp = "{}"
        self._retTypeStr = None if retValue is None else type(retValue).__name__

    def set(self, value: Any, *, index: int = -1, write: bool = True, **_: Any) -> None:
        """Write `value` to the register."""
        RemoteVariable.set(self, value, index=index, write=write)

    def get(self, *, index: int = -1, read: bool = True, **_: Any) -> Any:
        """The register's value (read first with `read`)."""
        if read:
            self._readForced()
        return RemoteVariable.get(self, index=index, read=False)

    def _readForced(self) -> None:
        memory = self._memory
        if memory is None or not self._enabled:
            return
        with self._lock:
            self._value = self._fromRaw([memory.read(field) for field in self._fields])

    def _setDefault(self) -> None:
        RemoteVariable._setDefault(self)
