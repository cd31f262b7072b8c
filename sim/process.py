"""pyrogue's long-running Devices: Process, RunControl and the Root's config Processes.

A `Process` runs its function (or `_process()` of a subclass) on a thread when `Start` is called
(or the Process itself is called), reporting Running, Progress, Message, Step and TotalSteps.
`RunControl` runs a loop at `runRate` while `runState` is 'Running'. `LoadConfigProcess` and
`SaveConfigProcess` are the Root's Process versions of LoadConfig/SetYamlConfig and
SaveConfig/SaveState/GetYaml*.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sim.tree import Device, LocalCommand, LocalVariable
from sim.variable import BaseVariable, functionWrapper

__all__ = ["LoadConfigProcess", "Process", "RunControl", "SaveConfigProcess"]

log = logging.getLogger(__name__)

_CONFIG = (["RW", "WO"], "NoConfig", "config")
_STATE = (["RW", "RO", "WO"], "NoState", "state")


class Process(Device):
    """A Device running a long operation on its own thread, with progress reporting.

    `function(root, dev, arg)` (any subset) runs with the value of `argVariable`; its return
    value goes to `returnVariable`. Without a function, `_process()` counts 100 one-second steps
    (subclasses override it).
    """

    def __init__(
        self,
        *,
        argVariable: BaseVariable | None = None,
        returnVariable: BaseVariable | None = None,
        function: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._runEn = False
        self._argVar = argVariable
        self._retVar = returnVariable
        self._function = function
        self._functionWrap = functionWrapper(function, ("root", "dev", "arg"))
        self.add(
            LocalCommand(
                name="Start", function=self._startProcess, description="Start process. No Args."
            )
        )
        self.add(
            LocalCommand(
                name="Stop", function=self._stopProcess, description="Stop process. No Args."
            )
        )
        status = [
            ("Running", False, {}, "Status values indicating if operation is running."),
            (
                "Progress",
                0.0,
                {"units": "Pct", "disp": "{:1.2f}", "localSet": self._clamp},
                "Percent complete: 0 - 100 %.",
            ),
            (
                "Message",
                "",
                {},
                "Process status message. Prefixed with 'Error:' if an error occurred.",
            ),
            (
                "Step",
                1,
                {"localSet": self._updateProgress},
                "Current number of completed steps. Prefer setStep() or incrementSteps().",
            ),
            (
                "TotalSteps",
                1,
                {"localSet": self._updateProgress},
                "Total number of process steps. Prefer setTotalSteps().",
            ),
        ]
        for name, value, extra, text in status:
            self.add(
                LocalVariable(
                    name=name, value=value, mode="RO", pollInterval=1.0, description=text, **extra
                )
            )
        self.add(
            LocalVariable(
                name="UpdatePeriod",
                mode="RW",
                value=1.0,
                typeStr="float",
                units="s",
                hidden=True,
                description="updateGroup leak period in seconds.",
            )
        )
        for var in (argVariable, returnVariable):
            if var is not None and var not in self:
                self.add(var)

    @staticmethod
    def _clamp(var: LocalVariable, value: float) -> None:
        var._value = max(0.0, min(float(value), 1.0))

    def _updateProgress(self) -> None:
        total = self.TotalSteps.value()
        self.setProgress(self.Step.value() / total if total > 0 else 0.0)

    def setProgress(self, value: float) -> None:
        """Set the fractional progress (clamped to 0..1)."""
        self.Progress.set(max(0.0, min(float(value), 1.0)))

    def setTotalSteps(self, value: int) -> None:
        """Set the number of steps progress counts."""
        self.TotalSteps.set(value)

    def setStep(self, value: int) -> None:
        """Set the completed steps."""
        self.Step.set(value)

    def incrementSteps(self, incr: int = 1) -> None:
        """Add `incr` completed steps."""
        with self.Step.lock:
            self.Step.set(self.Step.value() + incr)

    def _startProcess(self) -> None:
        self(None)

    def _stop(self) -> None:
        """Root stop: end the process."""
        self._stopProcess()

    def _stopProcess(self) -> None:
        with self._lock:
            self._runEn = False
            thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join()

    def __call__(self, arg: Any = None) -> None:
        """Start the process (with `arg` set into argVariable first); refused while running."""
        with self._lock:
            if self.Running.value() is not False:
                log.warning("%s: process already running", self.path)
                return
            if arg is not None and self._argVar is not None:
                self._argVar.setDisp(arg)
            self._runEn = True
            self._thread = threading.Thread(
                target=self._run, name=f"{self.path}-process", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        self.Running.set(True)
        try:
            self._process()
        except Exception:
            log.exception("%s: process failed", self.path)
            self.Message.setDisp("Stopped after error!")
        self.Running.set(False)

    def _process(self) -> None:
        """The work: the function, or 100 one-second steps."""
        if self._function is not None:
            self.Message.setDisp("Running")
            self.setStep(0)
            self.setProgress(0.0)
            arg = self._argVar.get() if self._argVar is not None else None
            ret = self._functionWrap(root=self.root, dev=self, arg=arg)
            if self._retVar is not None:
                self._retVar.set(ret)
            self.Message.setDisp("Done")
            self.setProgress(1.0)
            return
        self.Message.setDisp("Started")
        self.setStep(0)
        self.setTotalSteps(100)
        for i in range(100):
            if not self._runEn:
                break
            time.sleep(1)
            self.setStep(i + 1)
            self.Message.setDisp(f"Running for {i} seconds.")
        self.Message.setDisp("Done")


class _ConfigProcess(Process):
    """A Process applying or saving a configuration: settings variables, one uninterruptible
    operation reported in Message ('Done' or 'Error: ...') and Progress."""

    def _addSettings(self, *rows: tuple[str, str, Any, Any, str]) -> None:
        """Add the (name, mode, value, disp, description) LocalVariables."""
        for name, mode, value, disp, text in rows:
            self.add(LocalVariable(name=name, mode=mode, value=value, disp=disp, description=text))

    def _operate(self, operation: Callable[[], None]) -> None:
        self.Message.setDisp("Running")
        self.setProgress(0.0)
        try:
            operation()
            self.Message.setDisp("Done")
        except Exception as error:
            self.Message.setDisp(f"Error: {error}")
        self.setProgress(1.0)

    def _stopProcess(self) -> None:
        log.warning("%s: Stop is not supported; operation will run to completion.", self.name)

    def _stop(self) -> None:
        """Root stop: wait for a running operation to end."""
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join()


class LoadConfigProcess(_ConfigProcess):
    """Load a configuration from the file ConfigFile or the text YamlString (LoadMode)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._addSettings(
            ("LoadMode", "RW", 0, {0: "File", 1: "String"}, "Source of configuration data."),
            ("ConfigFile", "RW", "", "{}", "Path to YAML configuration file."),
            ("YamlString", "RW", "", "{}", "YAML configuration text to apply."),
        )

    def _process(self) -> None:
        modes, excGroups, _ = _CONFIG

        def load() -> None:
            if self.LoadMode.value() == 0:
                name = str(self.ConfigFile.value()).strip()
                if not name:
                    raise ValueError("ConfigFile is empty")
                self.root.loadYaml(name, False, modes, excGroups=excGroups)
            else:
                text = str(self.YamlString.value())
                if not text.strip():
                    raise ValueError("YamlString is empty")
                self.root.setYaml(text, False, modes, excGroups=excGroups)

        self._operate(load)


class SaveConfigProcess(_ConfigProcess):
    """Save the configuration or the state (DataType) to ConfigFile or YamlString (SaveMode)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._addSettings(
            ("DataType", "RW", 0, {0: "Config", 1: "Status"}, "Variable set to include."),
            ("SaveMode", "RW", 0, {0: "File", 1: "String"}, "Output destination."),
            ("ConfigFile", "RW", "", "{}", "Path to the YAML file to write."),
            ("YamlString", "RO", "", "{}", "The YAML text saved when SaveMode is String."),
        )

    def _process(self) -> None:
        modes, excGroups, prefix = _CONFIG if self.DataType.value() == 0 else _STATE

        def save() -> None:
            if self.SaveMode.value() == 0:
                name = str(self.ConfigFile.value()).strip() or datetime.datetime.now().strftime(
                    prefix + "_%Y%m%d_%H%M%S.yml"
                )
                self.root.saveYaml(name, True, modes, excGroups=excGroups)
            else:
                self.YamlString.set(self.root.getYaml(True, modes, excGroups=excGroups))

        self._operate(save)


class RunControl(Device):
    """A run loop: while runState is 'Running', call `cmd` and count runCount at runRate."""

    def __init__(
        self,
        *,
        hidden: bool = True,
        rates: dict[int, str] | None = None,
        states: dict[int, str] | None = None,
        cmd: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> None:
        rates = rates if rates is not None else {1: "1 Hz", 10: "10 Hz"}
        states = states if states is not None else {0: "Stopped", 1: "Running"}
        super().__init__(hidden=hidden, **kwargs)
        self._thread: threading.Thread | None = None
        self._threadLock = threading.Lock()
        self._cmd = cmd
        self.add(
            LocalVariable(
                name="runState",
                value=next(iter(states)),
                mode="RW",
                groups=["NoConfig"],
                disp=states,
                localSet=self._setRunState,
                description="Run state of the system.",
            )
        )
        self.add(
            LocalVariable(
                name="runRate",
                value=next(iter(rates)),
                mode="RW",
                disp=rates,
                localSet=self._setRunRate,
                description="Run rate of the system.",
            )
        )
        self.add(
            LocalVariable(
                name="runCount",
                value=0,
                typeStr="UInt32",
                mode="RO",
                pollInterval=1,
                description="Run Counter updated by run thread.",
            )
        )

    def _setRunState(self, value: int, changed: bool) -> None:
        """Start the run thread on 'Running', wait for it to end otherwise."""
        if not changed:
            return
        if self.runState.valueDisp() == "Running":
            with self._threadLock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name=f"{self.path}-run", daemon=True
                    )
                    self._thread.start()
            return
        with self._threadLock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _setRunRate(self, value: int) -> None:
        """Hook for subclasses: the run rate changed."""

    def _run(self) -> None:
        self.runCount.set(0)
        try:
            while self.runState.valueDisp() == "Running":
                time.sleep(1.0 / float(self.runRate.value()))
                if self._cmd is not None:
                    self._cmd()
                with self.runCount.lock:
                    self.runCount.set(self.runCount.value() + 1)
        finally:
            with self._threadLock:
                if self._thread is threading.current_thread():
                    self._thread = None
