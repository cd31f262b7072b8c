"""EpicsPvHolder: one pyrogue Variable or Command bound to one softioc record.

Two paths run through a holder, both set up once when it is built:

* tree → EPICS (:meth:`EpicsPvHolder.push`): a listener on the Variable converts each
  VariableValue with the precomputed mapping and sets the record with its alarm state. Out
  records are set inside :func:`~ioc.dispatch.own_push`, so the processing posts monitors and never
  writes back to the tree.
* EPICS → tree (``validate`` and ``on_update``): a client put is checked before anything is
  written; a valid put is written on the dispatcher's pool. A write that finishes within
  :data:`WRITE_BUDGET` reports its failure to the client; a slower one completes the put when it
  returns (CA put-callback, PVA put with wait) without holding up other clients.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from concurrent.futures import Future
from typing import Any

import numpy as np
from softioc import alarm

from .dispatch import PutDispatcher, own_push, pushing, skip_dispatch
from .kinds import Mapping, UnservableValue, description, resolve
from .naming import RecordName
from .validation import PutRejected

log = logging.getLogger(__name__)

#: How long a put may wait inside ``validate`` for the tree write, so that a fast write's
#: failure still reaches the client as a put error.
WRITE_BUDGET = 0.02
#: At most one log line per PV and kind of trouble in this many seconds.
LOG_INTERVAL = 10.0

#: VariableValue.status → (EPICS severity, EPICS alarm status).
ALARM_STATES = {
    "AlarmHiHi": (alarm.MAJOR_ALARM, alarm.HIHI_ALARM),
    "AlarmHigh": (alarm.MINOR_ALARM, alarm.HIGH_ALARM),
    "AlarmLow": (alarm.MINOR_ALARM, alarm.LOW_ALARM),
    "AlarmLoLo": (alarm.MAJOR_ALARM, alarm.LOLO_ALARM),
}
NO_ALARM = (alarm.NO_ALARM, alarm.NO_ALARM)
WRITE_FAILED = (alarm.INVALID_ALARM, alarm.WRITE_ALARM)
READ_FAILED = (alarm.INVALID_ALARM, alarm.READ_ALARM)
UNSERVABLE = (alarm.INVALID_ALARM, alarm.HW_LIMIT_ALARM)


class TreeActivity:
    """When the tree last delivered an update to any holder (``time.monotonic()``)."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def touch(self) -> None:
        """Note that the tree delivered something now."""
        self.last = time.monotonic()

    def listener(self, path: str, vv: Any) -> None:
        """A Variable listener that only notes the delivery."""
        self.last = time.monotonic()


#: Shared by every holder of the process; the heartbeat reads it.
tree_activity = TreeActivity()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return bool(a == b)


class EpicsPvHolder:
    """Serves one Variable or Command as one record, over CA and PVA.

    Build holders before ``iocInit`` (the record is created in the constructor) and call
    :meth:`start` after it.
    """

    def __init__(self, var: Any, name: RecordName, dispatcher: PutDispatcher) -> None:
        self.var = var
        self.name = name
        self.mapping: Mapping = resolve(var)
        self.writable = var.mode != "RO" and self.mapping.writable
        self._dispatcher = dispatcher
        self._lock = threading.Lock()
        self._push_lock = threading.Lock()
        self._sequence = itertools.count(1)
        self._applied = 0
        self._busy = False
        self._deferred: tuple[int, Any] | None = None
        self._inflight: Future | None = None
        self._echo: Any = None
        self._write_failed = False
        self._last_log: dict[str, float] = {}
        self._started = False
        self._early: Any = None
        self.record = self._create_record()
        if not var.isCommand:
            var.addListener(self._on_tree_update)

    # --- building ------------------------------------------------------------------------------

    def _create_record(self) -> Any:
        initial, self._initial_alarm = self._initial_value()
        extra: dict[str, Any] = {"DESC": description(self.var)}
        if self.writable:
            extra |= {
                "validate": self._validate,
                "on_update": self._on_update,
                "always_update": True,
                "blocking": True,
            }
        record = self.mapping.create(self.name.record, self.writable, initial, **extra)
        if self.name.aliased:
            record.add_alias(self.name.full)
        return record

    def _initial_value(self) -> tuple[Any, tuple[int, int]]:
        """The record's value at creation and the alarm to show once the IOC runs."""
        vv = self.var.getVariableValue(read=False)
        try:
            return self.mapping.to_record(vv), self._alarm_of(vv)
        except UnservableValue as error:
            self._warn("unservable", "%s: initial value not served: %s", self.name.full, error)
            return self.mapping.blank, UNSERVABLE

    def start(self) -> None:
        """Start serving tree updates; call once the IOC is running."""
        with self._lock:
            self._started = True
            early, self._early = self._early, None
        if early is not None:
            self.push(early)
        elif self._initial_alarm != NO_ALARM:
            self._apply(self.record.get(), self._initial_alarm)

    # --- tree → EPICS --------------------------------------------------------------------------

    def _on_tree_update(self, path: str, vv: Any) -> None:
        """Listener: runs on the Root's update thread, must never raise into it."""
        tree_activity.last = time.monotonic()
        if not self._started:
            with self._lock:
                if not self._started:
                    # The record exists but the IOC is not up yet: keep the latest for start().
                    self._early = vv
                    return
        try:
            self.push(vv)
        except Exception as error:
            self._warn("push", "%s: update not served: %s", self.name.full, error)

    def push(self, vv: Any, sequence: int | None = None) -> None:
        """Show ``vv`` (a VariableValue) on the record, with its alarm state."""
        sequence = next(self._sequence) if sequence is None else sequence
        if self.writable:
            with self._lock:
                if self._busy:
                    # A client put is in progress: deliver this after it completes.
                    self._deferred = (sequence, vv)
                    return
        try:
            value = self.mapping.to_record(vv)
        except UnservableValue as error:
            self._warn("unservable", "%s: value not served: %s", self.name.full, error)
            self._apply(self.record.get(), UNSERVABLE, sequence)
            return
        self._apply(value, self._alarm_of(vv), sequence)

    def refresh(self) -> None:
        """Read the Variable through the tree; a failing read shows INVALID/READ on the record."""
        sequence = next(self._sequence)
        try:
            vv = self.var.getVariableValue(read=True)
        except Exception as error:
            self._warn("read", "%s: read failed: %s", self.name.full, error)
            self._apply(self.record.get(), READ_FAILED, sequence)
            return
        self.push(vv, sequence)

    def _alarm_of(self, vv: Any) -> tuple[int, int]:
        if self._write_failed:
            return WRITE_FAILED
        return ALARM_STATES.get(vv.status, NO_ALARM)

    def _apply(self, value: Any, state: tuple[int, int], sequence: int = 0) -> None:
        """Set the record to ``value`` with alarm ``state`` unless a newer update is shown."""
        severity, status = state
        record = self.record
        with self._push_lock:
            if sequence and sequence < self._applied:
                return
            self._applied = max(self._applied, sequence)
            if not self.writable:
                record.set(value, severity=severity, alarm=status)
                return
            # softioc's Out.set() ignores severity=: processing applies the alarm stored with
            # the value, so store ours there first (on the device object behind the record).
            device = record.set.__self__
            device._value = (device._value[0], severity, status)
            with own_push():
                record.set(value)
            landed_on_active = record._record.RPRO
        if landed_on_active:
            with self._lock:
                if self._busy:
                    # The record was processing a client put: EPICS will reprocess it with this
                    # value. That reprocessing is our own echo, not a put to write back.
                    self._echo = value

    # --- EPICS → tree --------------------------------------------------------------------------

    def _validate(self, record: Any, value: Any) -> bool:
        """softioc validate: check a put and start its tree write; False fails the put."""
        if pushing():
            skip_dispatch()
            return True
        echo, self._echo = self._echo, None
        if echo is not None and _same(value, echo):
            skip_dispatch()
            return True
        try:
            argument = self.mapping.from_record(value)
        except PutRejected as error:
            self._reject(value, str(error))
            return False
        with self._lock:
            self._busy = True
        future = self._dispatcher.submit(self._write, argument)
        try:
            future.result(timeout=WRITE_BUDGET)
        except TimeoutError:
            pass
        except Exception as error:
            with self._lock:
                self._busy = False
            self._reject(value, f"tree write failed: {error}")
            return False
        self._inflight = future
        return True

    def _write(self, argument: Any) -> None:
        var = self.var
        if var.isCommand and not getattr(var, "arg", False):
            var()
        elif var.isCommand:
            var(argument)
        elif self.mapping.writes_text:
            var.setDisp(argument)
        else:
            var.set(argument)

    def _reject(self, value: Any, reason: str) -> None:
        """Refuse a put: log it and show INVALID/WRITE on the record being processed."""
        log.warning("%s: put of %r rejected: %s", self.name.full, value, reason)
        self._write_failed = True
        self.record.process_severity(self.record._record, *WRITE_FAILED)

    def _on_update(self, value: Any) -> Any:
        """softioc on_update, on the pool: wait for the write; the put completes after it."""
        future, self._inflight = self._inflight, None
        if future is None:
            return self._release
        try:
            future.result()
        except Exception as error:
            log.error("%s: tree write of %r failed: %s", self.name.full, value, error)
            self._write_failed = True
        else:
            self._write_failed = False
        return self._release

    def _release(self) -> None:
        """After a put completed: deliver a deferred tree update, or restore after a failure."""
        with self._lock:
            self._busy = False
            deferred, self._deferred = self._deferred, None
        if deferred is not None:
            self.push(deferred[1], deferred[0])
        elif self._write_failed:
            self.push(self.var.getVariableValue(read=False))

    # --- logging -------------------------------------------------------------------------------

    def _warn(self, kind: str, message: str, *args: Any) -> None:
        """Log a warning at most once per :data:`LOG_INTERVAL` for this PV and ``kind``."""
        now = time.monotonic()
        if now - self._last_log.get(kind, -LOG_INTERVAL) >= LOG_INTERVAL:
            self._last_log[kind] = now
            log.warning(message, *args)
