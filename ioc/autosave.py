"""Settings that survive restarts: the served RW settings kept in a pyrogue YAML config file.

A *setting* is a served, writable Variable (mode RW or WO, not a Command) outside pyrogue's
``NoConfig`` group: what a pyrogue Root's ``SaveConfig`` would write. At start, before the IOC
serves anything, :meth:`Autosave.restore` applies the file to the tree; every value goes through
the checks a client put gets, and one that no longer fits (a removed path, out of range, wrong
type) is skipped with one log line and counted. While the IOC runs, a listener per setting only
marks it dirty; a background thread saves a short while after the last change
(:data:`DEFAULT_DELAY`) and every :data:`DEFAULT_PERIOD` seconds, reading the settings' current
values, and replaces the file atomically (see :func:`ioc.configfile.write_atomically`). The put
path never waits for a save.
"""

from __future__ import annotations

import ast
import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import configfile
from .kinds import Mapping as RecordMapping
from .kinds import resolve
from .selection import in_group
from .tree import Variable, VariableValue

log = logging.getLogger(__name__)

#: Seconds from a change to the save that holds it (more changes in between join it).
DEFAULT_DELAY = 1.0
#: Seconds between saves that re-read every setting (values a listener may not have reported).
DEFAULT_PERIOD = 60.0
#: pyrogue's group of variables that are not configuration (``SaveConfig`` leaves them out).
NO_CONFIG = "NoConfig"
_WRITABLE_MODES = ("RW", "WO")


class SettingRejected(ValueError):
    """A value from a config file that the setting cannot take."""


@dataclass(frozen=True)
class Setting:
    """One setting: the Variable and its record mapping (whose put checks a value passes)."""

    var: Variable
    mapping: RecordMapping


def settings_of(variables: Iterable[Variable]) -> dict[str, Setting]:
    """{path: Setting} of the variables that are settings, in the given (tree) order."""
    found = {}
    for var in variables:
        if var.isCommand or var.mode not in _WRITABLE_MODES or in_group(var, NO_CONFIG):
            continue
        mapping = resolve(var)
        if mapping.writable:
            found[var.path] = Setting(var, mapping)
    return found


# --- applying values ------------------------------------------------------------------------------


class _Shown:
    """The part of a VariableValue that the record mapping reads."""

    __slots__ = ("enum", "severity", "status", "value", "valueDisp")

    def __init__(self, var: Variable, value: Any) -> None:
        self.value = value
        self.valueDisp = var.genDisp(value)
        self.enum = var.enum
        self.status = self.severity = "None"


def apply_value(setting: Setting, value: Any, index: str | None = None) -> None:
    """Set ``value`` (as a config file holds it) after the checks of a client put.

    A string is parsed with the Variable's ``parseDisp`` (as pyrogue's ``setDisp`` does); the
    result must have the Variable's type and pass the record's put checks. ``index`` selects
    elements of an array Variable (``"2"``, ``"0:3"``, ``"*"``). Raises :class:`SettingRejected`.
    """
    var = setting.var
    try:
        native = _parsed(var, value) if index is None else _with_elements(var, index, value)
        _check_type(var, native)
        argument = setting.mapping.from_record(setting.mapping.to_record(_Shown(var, native)))
    except SettingRejected:
        raise
    except Exception as error:  # parseDisp, the put checks and the mapping all raise their own
        raise SettingRejected(_reason(error)) from error
    try:
        if setting.mapping.writes_text:
            var.setDisp(argument)
        else:
            var.set(argument)
    except Exception as error:
        raise SettingRejected(f"tree write failed: {_reason(error)}") from error


def _parsed(var: Variable, value: Any) -> Any:
    if isinstance(value, list) and var.nativeType is np.ndarray:
        return np.asarray(value)
    return var.parseDisp(value) if isinstance(value, str) else value


def _with_elements(var: Variable, index: str, value: Any) -> np.ndarray:
    """The Variable's current array with the elements ``index`` selects replaced by ``value``."""
    current = var.get(read=False)
    if not isinstance(current, np.ndarray):
        raise SettingRejected(f"index [{index}] on a variable that is not an array")
    array = current.copy()
    positions = configfile.element_positions(index, len(array))
    if not positions:
        raise SettingRejected(f"index [{index}] selects no element of {len(array)}")
    if isinstance(value, str):
        values = [ast.literal_eval(item.strip()) for item in value.strip("[]").split(",")]
    else:
        values = list(value) if isinstance(value, list) else [value]
    if len(values) == 1:
        values *= len(positions)
    if len(values) != len(positions):
        raise SettingRejected(f"{len(values)} values for {len(positions)} elements [{index}]")
    for position, item in zip(positions, values, strict=True):
        _check_element(array.dtype, item)
        array[position] = item
    return array


def _check_element(dtype: np.dtype, item: Any) -> None:
    if isinstance(item, bool) or not isinstance(item, int | float):
        raise SettingRejected(f"{item!r} is not a number")
    if dtype.kind in "iu" and not isinstance(item, int):
        raise SettingRejected(f"{item!r} is not an integer")
    if dtype.kind in "iu" and not np.iinfo(dtype).min <= item <= np.iinfo(dtype).max:
        raise SettingRejected(f"{item} is out of the range of {dtype}")


def _check_type(var: Variable, native: Any) -> None:
    """Refuse a value of another type than the Variable's (a YAML 2.5 for an integer...)."""
    if var.enum:
        return  # the mapping refuses anything that is not a key
    kind = var.nativeType
    if kind is int:
        ok = isinstance(native, int | np.integer) and not isinstance(native, bool)
    elif kind is float:
        ok = isinstance(native, int | float | np.integer | np.floating) and not isinstance(
            native, bool
        )
    elif kind is bool:
        ok = isinstance(native, bool | np.bool_)
    elif kind is str:
        ok = isinstance(native, str)
    elif kind is np.ndarray:
        ok = isinstance(native, np.ndarray)
    else:
        ok = True
    if not ok and kind is not None:
        raise SettingRejected(f"{native!r} is not of type {kind.__name__}")


def _reason(error: BaseException) -> str:
    message = error.args[0] if isinstance(error, KeyError) and error.args else error
    text = " ".join(str(message).split())
    return text or type(error).__name__


@dataclass
class Outcome:
    """What applying a config file did: how many values were set, and what was skipped why."""

    applied: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line: counts and the first skipped entries."""
        text = f"{self.applied} applied, {len(self.skipped)} skipped"
        if self.skipped:
            shown = "; ".join(f"{key}: {reason}" for key, reason in self.skipped[:3])
            more = f"; and {len(self.skipped) - 3} more" if len(self.skipped) > 3 else ""
            text += f" ({shown}{more})"
        return text


def apply_data(settings: Mapping[str, Setting], data: Any, source: str) -> Outcome:
    """Apply a parsed config file to ``settings``; every skipped entry is one log line."""
    entries, problems = configfile.SettingsTree(settings).resolve(data)
    outcome = Outcome()
    for problem in problems:
        _skip(outcome, source, problem.key, problem.reason)
    for entry in entries:
        key = entry.path if entry.index is None else f"{entry.path}[{entry.index}]"
        values = entry.value if isinstance(entry.value, dict) and entry.index is None else None
        try:
            if values is None:
                apply_value(settings[entry.path], entry.value, entry.index)
            else:
                for element, value in values.items():  # pyrogue's {index: value} form
                    apply_value(settings[entry.path], value, str(element))
        except SettingRejected as error:
            _skip(outcome, source, key, str(error))
        else:
            outcome.applied += 1
    return outcome


def _skip(outcome: Outcome, source: str, key: str, reason: str) -> None:
    log.warning("%s: %s not applied: %s", source, key, reason)
    outcome.skipped.append((key, reason))


# --- saving --------------------------------------------------------------------------------------


class Autosave:
    """Keeps the settings of one IOC in ``path`` (see the module documentation)."""

    def __init__(
        self, path: str | Path, delay: float = DEFAULT_DELAY, period: float = DEFAULT_PERIOD
    ) -> None:
        """``period`` 0 turns the periodic saves off (saves on change remain)."""
        self.path = Path(path)
        self.delay = delay
        self.period = period if period > 0 else math.inf
        self.restored = Outcome()
        self.saves = 0
        self.last_save = ""
        self.error = ""
        #: Called (without arguments) after every save attempt, e.g. to publish the status.
        self.on_save: Any = None
        self._settings: dict[str, Setting] = {}
        self._values: dict[str, str] = {}
        self._layout = configfile.Layout(())
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._file_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._written: str | None = None

    def restore(self, settings: Mapping[str, Setting]) -> Outcome:
        """Apply the file to ``settings`` (call before the IOC serves). No file: nothing to do.

        Raises :class:`ioc.configfile.ConfigError` when the file exists but cannot be read.
        """
        self._settings = dict(settings)
        for leftover in configfile.temporaries(self.path):
            log.info("autosave: removing %s, left by a save that was cut short", leftover)
            leftover.unlink(missing_ok=True)
        if not self.path.exists():
            log.info("autosave: %s does not exist yet; it is written at the first save", self.path)
            return self.restored
        started = time.monotonic()
        data = configfile.read(self.path)
        self.restored = apply_data(self._settings, data, f"autosave {self.path}")
        log.info(
            "autosave: restored from %s in %.1f s: %s",
            self.path,
            time.monotonic() - started,
            self.restored.summary(),
        )
        return self.restored

    def start(self) -> None:
        """Watch the settings and save them in the background (call once the IOC serves)."""
        self._values = {path: self._scalar(s) for path, s in self._settings.items()}
        self._layout = configfile.Layout(self._values)
        if self.path.exists():
            self._written = self.path.read_text(encoding="utf-8", errors="replace")
        for setting in self._settings.values():
            setting.var.addListener(self._changed)
        self._thread = threading.Thread(target=self._run, name="ioc-autosave", daemon=True)
        self._thread.start()
        self._wake.set()  # a first save: the file then holds every setting, restored or not

    def stop(self) -> None:
        """Stop the background saves and save a last time."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
            self.save_changes(everything=True)

    def _changed(self, path: str, vv: VariableValue) -> None:
        """Listener: runs on the tree's update thread, so it only notes the path."""
        with self._lock:
            self._dirty.add(path)
        if not self._wake.is_set():
            self._wake.set()

    def _run(self) -> None:
        next_full = time.monotonic() + self.period
        while not self._stopping.is_set():
            wait = next_full - time.monotonic()
            woke = self._wake.wait(max(wait, 0.0) if math.isfinite(wait) else None)
            if self._stopping.is_set():
                return
            if woke:
                self._stopping.wait(self.delay)  # let a burst of changes finish
                self._wake.clear()
            everything = time.monotonic() >= next_full
            if everything:
                next_full = time.monotonic() + self.period
            self.save_changes(everything)

    def _scalar(self, setting: Setting) -> str:
        return configfile.yaml_value(setting.var.getVariableValue(read=False))

    def save_changes(self, everything: bool = False) -> None:
        """Save now the settings that changed (``everything``: re-read all of them first)."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        if everything:
            dirty = set(self._settings)
        for path in dirty:
            self._values[path] = self._scalar(self._settings[path])
        text = self._layout.text(self._values.values())
        with self._file_lock:
            if text == self._written:
                return
            try:
                configfile.write_atomically(self.path, text)
            except OSError as error:
                self.error = f"cannot write {self.path}: {error}"
                log.error("autosave: %s", self.error)
                with self._lock:
                    self._dirty |= dirty  # try again with the next save
            else:
                self._written = text
                self.saves += 1
                self.error = ""
                self.last_save = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.on_save is not None:
            self.on_save()

    def export(self, path: Path) -> None:
        """Write every setting's current value to ``path`` (``rogue-ioc config save``)."""
        values = [self._scalar(setting) for setting in self._settings.values()]
        configfile.write_atomically(path, self._layout.text(values))

    def load(self, path: Path) -> Outcome:
        """Apply the config file ``path`` to the running IOC (``rogue-ioc config load``)."""
        return apply_data(self._settings, configfile.read(path), f"config {path}")
