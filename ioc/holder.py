"""EpicsPvHolder: one pyrogue Variable or Command bound to one softioc record.

Two paths run through a holder, both set up once when it is built:

* tree → EPICS (:meth:`EpicsPvHolder.push`): a listener on the Variable converts each
  VariableValue with the precomputed mapping and sets the record with its alarm state. Out
  records are set inside :func:`~ioc.dispatch.own_push`, so the processing posts monitors and never
  writes back to the tree.
* EPICS → tree (``validate`` and ``on_update``): a client put is checked before anything is
  written; a valid put is written on the dispatcher's pool. A write that finishes within
  :data:`WRITE_BUDGET` completes the put at once or reports its failure to the client; a slower
  one completes the put when it returns (CA put-callback, PVA put with wait) without holding up
  other clients.

The holder converts and checks; who may write the record at each moment and what it shows next
is :class:`ioc.putstate.PutPush` (drawn in ``docs/put-state.md``).
"""

from __future__ import annotations

import itertools
import logging
import time
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from softioc import alarm

from . import _softioc, puttrap
from .capacity import Capacities
from .dispatch import PutDispatcher, own_push, pushing, skip_dispatch
from .kinds import Mapping, UnservableValue, description, resolve
from .naming import RecordName
from .putstate import PutPush, same
from .selection import writable
from .status import put_stats
from .tree import takes_argument
from .validation import (
    PutRejected,
    char_bytes,
    decode_text,
    parse_elements,
    parse_number,
    state_index,
)

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
    """When the tree last delivered an update (``time.monotonic()``), and how many so far."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self._count = itertools.count(1)
        self.updates = 0

    def touch(self) -> None:
        """Note that the tree delivered something now."""
        self.last = time.monotonic()
        self.updates = next(self._count)

    def listener(self, path: str, vv: Any) -> None:
        """A Variable listener that only notes the delivery."""
        self.touch()


#: Shared by every holder of the process; the heartbeat reads it.
tree_activity = TreeActivity()


class EpicsPvHolder:
    """Serves one Variable or Command as one record, over CA and PVA.

    Build holders before ``iocInit`` (the record is created in the constructor) and call
    :meth:`start` after it.
    """

    def __init__(
        self,
        var: Any,
        name: RecordName,
        dispatcher: PutDispatcher,
        capacities: Capacities | None = None,
    ) -> None:
        self.var = var
        self.name = name
        self.mapping: Mapping = resolve(var, capacities)
        self.writable = writable(var, self.mapping.writable)
        self._dispatcher = dispatcher
        self._last_log: dict[str, float] = {}
        self._unservable = False  # logged once until a value is served again
        self.record = self._create_record()
        self._access = _softioc.RecordAccess(self.record)
        #: Who may write the record now and what it shows next (see ioc.putstate).
        self.state = PutPush(
            _RecordPort(self._access, self.writable),
            var,
            self._render,
            dispatcher.submit,
            out=self.writable,
            write_failed_alarm=WRITE_FAILED,
            read_failed_alarm=READ_FAILED,
        )
        if not var.isCommand:
            var.addListener(self._on_tree_update)
        if self.writable:
            puttrap.guard(self.name.record, self._refuses_sent)

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
        else:
            extra["ASG"] = puttrap.READ_ONLY_GROUP  # CA clients see no write access
        alias = self.name.full if self.name.aliased else None
        return self.mapping.create(self.name.record, self.writable, initial, alias, **extra)

    def _initial_value(self) -> tuple[Any, tuple[int, int]]:
        """The record's value at creation and the alarm to show once the IOC runs."""
        vv = self.var.getVariableValue(read=False)
        try:
            return self.mapping.to_record(vv), ALARM_STATES.get(vv.status, NO_ALARM)
        except UnservableValue as error:
            self._unservable = True
            log.warning("%s: initial value not served: %s", self.name.full, error)
            return self.mapping.blank, UNSERVABLE

    def start(self) -> None:
        """Start serving tree updates; call once the IOC is running."""
        initial = self._initial_alarm
        self.state.start(initial if initial != NO_ALARM else None)

    # --- tree → EPICS --------------------------------------------------------------------------

    def _on_tree_update(self, path: str, vv: Any) -> None:
        """Listener: runs on the Root's update thread, must never raise into it."""
        tree_activity.touch()
        try:
            self.state.update(vv)
        except Exception as error:
            self._warn("push", "%s: update not served: %s", self.name.full, error)

    def push(self, vv: Any) -> None:
        """Show ``vv`` (a VariableValue) on the record, with its alarm state.

        An update that changes neither the value nor the alarm shown is skipped.
        """
        self.state.push(vv)

    def _render(self, vv: Any) -> tuple[Any, tuple[int, int]]:
        """The record value and alarm state for ``vv``."""
        try:
            value = self.mapping.to_record(vv)
        except UnservableValue as error:
            if not self._unservable:  # one line when it starts, one when it ends
                self._unservable = True
                log.warning("%s: value not served: %s", self.name.full, error)
            return self.record.get(), UNSERVABLE
        if self._unservable:
            self._unservable = False
            log.info("%s: values are served again", self.name.full)
        return value, self._alarm_of(vv)

    def _alarm_of(self, vv: Any) -> tuple[int, int]:
        if self.state.write_failed:
            return WRITE_FAILED
        return ALARM_STATES.get(vv.status, NO_ALARM)

    def refresh(self) -> None:
        """Read the Variable through the tree; a failing read shows INVALID/READ on the record.

        A good read clears that alarm; the value itself reaches the record through the listener.
        """
        try:
            self.var.getVariableValue(read=True)
        except Exception as error:
            self._warn("read", "%s: read failed: %s", self.name.full, error)
            self.state.read_failed()
            return
        self.state.read_ok()

    # --- EPICS → tree --------------------------------------------------------------------------

    def _validate(self, record: Any, value: Any) -> bool:
        """softioc validate: check a put and start its tree write; False fails the put."""
        if pushing():
            skip_dispatch()
            return True
        self.state.put_started()
        raw = puttrap.take(self.name.record)
        try:
            if self.mapping.sent == "text":
                value = self._text_bytes(raw)
                value = decode_text(value, exact=raw is not None and raw.pva)
            elif raw is not None and not raw.pva and self.mapping.sent:
                value = self._as_sent(raw)
            argument = self.mapping.from_record(value)
        except PutRejected as error:
            self._reject(value, str(error))
            return False
        try:
            done = self.state.write(
                lambda: self._dispatcher.submit(self._write, argument), WRITE_BUDGET
            )
        except Exception as error:
            self._reject(value, f"tree write failed: {error}")
            return False
        if done:
            # The put completes within this processing, with no hand-off.
            skip_dispatch()
        # Otherwise a slow write: the put completes when it returns (see _on_update); until then
        # the record belongs to the put. (Pushes wait on the record's lock, which we hold.)
        return True

    def _as_sent(self, raw: puttrap.RawPut) -> Any:
        """The put as the CA client sent it, so the checks see 2.5 rather than the 2 it became.

        Raises :class:`PutRejected` for text that EPICS could not convert (a number, an element of
        an array, a state) and for bytes that are no text.
        """
        sent = self.mapping.sent
        if sent == "text":
            return decode_text(char_bytes(raw.values, raw.text), exact=False)  # CA: NULs may pad
        if sent == "array":
            dtype = self.mapping.blank.dtype
            if raw.text:
                return np.array(parse_elements(raw.values, dtype))
            if raw.chars and dtype == np.int8:
                # CA has no signed char: a signed char array's bytes travel as DBR_CHAR (unsigned)
                # and the record stores each byte as it came, so read them as the record will.
                return np.asarray(raw.values, dtype=np.uint8).view(np.int8)
            return np.asarray(raw.values)
        values = raw.values
        if raw.text and sent == "state":
            values = [state_index(text, self.mapping.labels) for text in values]
        elif raw.text:
            values = [parse_number(text, whole=sent == "integer") for text in values]
        return values[0] if len(values) == 1 else values

    def _text_bytes(self, raw: puttrap.RawPut | None) -> bytes:
        """The bytes a put of text sent (CA) or wrote into the record's char buffer (PVA).

        A PVA put writes the text and exactly one NUL, so anything after that NUL was in the text.
        """
        if raw is not None and not raw.pva:
            return char_bytes(raw.values, raw.text)
        return self._access.val_bytes()

    def _refuses_sent(self, raw: puttrap.RawPut) -> bool:
        """puttrap guard: check a CA put before EPICS writes it; True refuses it (not written)."""
        value = raw.values[0] if len(raw.values) == 1 else raw.values
        try:
            if self.mapping.sent == "text":
                value = char_bytes(raw.values, raw.text)  # logged as bytes if they are no text
            value = self._as_sent(raw)
            self.mapping.from_record(value)
        except PutRejected as error:
            self._reject(value, str(error), processing=False)
            return True
        return False

    def _write(self, argument: Any) -> None:
        var = self.var
        if var.isCommand and not takes_argument(var):
            var()
        elif var.isCommand:
            var(argument)
        elif self.mapping.writes_text:
            var.setDisp(argument)
        else:
            var.set(argument)
        put_stats.accepted()

    def _reject(self, value: Any, reason: str, processing: bool = True) -> None:
        """Refuse a put: log it and show INVALID/WRITE on the record.

        Every refusal comes here. ``processing``: the record is being processed for the put (its
        ``validate``); otherwise the put was stopped before it reached the record (see
        :mod:`ioc.puttrap`), and the record is processed with the value it shows to show the alarm.
        """
        log.warning("%s: put of %r rejected: %s", self.name.full, value, reason)
        put_stats.refused(self.name.full, value, reason)
        self.state.refused(processing)

    def _on_update(self, value: Any) -> Any:
        """softioc on_update, on the pool, for a slow write: wait for it; the put completes after.

        (A write that finished within ``validate`` completed its put there: no on_update runs.)
        """
        error = self.state.finish_write()
        if error is not None:
            log.error("%s: tree write of %r failed: %s", self.name.full, value, error)
            put_stats.refused(self.name.full, value, f"tree write failed: {error}")
        return self.state.release

    # --- logging -------------------------------------------------------------------------------

    def _warn(self, kind: str, message: str, *args: Any) -> None:
        """Log a warning at most once per :data:`LOG_INTERVAL` for this PV and ``kind``."""
        now = time.monotonic()
        if now - self._last_log.get(kind, -LOG_INTERVAL) >= LOG_INTERVAL:
            self._last_log[kind] = now
            log.warning(message, *args)


class _RecordPort:
    """softioc's record as :class:`ioc.putstate.Record`: what the put/push state machine does."""

    def __init__(self, access: _softioc.RecordAccess, out: bool) -> None:
        self._access = access
        self._out = out

    def locked(self) -> AbstractContextManager[None]:
        """Hold the record's EPICS lock."""
        return self._access.locked()

    def client_value_waiting(self) -> bool:
        """True when a client put wrote the record's VAL but the record has not processed it.

        That happens when a put arrives while an earlier one is still active: EPICS keeps the
        value and processes the record again once the earlier put completes.
        """
        now, processed = self._access.values()
        return not same(now, processed)

    def show(self, value: Any, state: tuple[int, int]) -> None:
        """Process the record with ``value`` and alarm ``state`` as the IOC's own push."""
        if self._out:
            with own_push():
                self._access.set_out(value, *state)
        else:
            self._access.process_in(value, *state)

    def get(self) -> Any:
        """The value softioc holds for the record."""
        return self._access.get()

    def raise_alarm(self, state: tuple[int, int]) -> None:
        """Set the alarm the running processing ends with."""
        self._access.raise_alarm(*state)

    def drop_alarm(self, status: int) -> None:
        """Drop the alarm of the running processing if its status is ``status``."""
        self._access.drop_alarm(status)
