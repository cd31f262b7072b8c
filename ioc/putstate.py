"""The put/push state of one served record: who may write it now, and what it must show next.

Two sides write one record. The tree side pushes the Variable's updates (:meth:`PutPush.push`);
the client side is a put, checked and written to the tree (:meth:`PutPush.write`), whose slow
write keeps the record until it completes (:meth:`PutPush.release`). Their interplay is kept as
four small named states, each with a transition table (``docs/put-state.md`` draws them):

* :class:`Owner` — whether a put owns the record (its slow write is in flight) and whether a tree
  update was held back meanwhile and is owed once the put is over;
* :class:`Tree` — whether the IOC serves updates yet, and whether a put's write may still be
  overtaken by an older update (then the tree's current value is shown instead);
* :class:`Health` twice — whether the last put's write failed (the record then shows
  INVALID/WRITE) and whether the last read through the tree failed (INVALID/READ).

What the record shows last is kept too (``shown``), to skip updates that change nothing.

The module knows nothing of softioc: the record is a :class:`Record` and the Variable a
:class:`Variable`, so the transitions can be exercised in-process with plain Python fakes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager
from enum import Enum
from typing import Any, Protocol

import numpy as np

#: An alarm as EPICS shows it: (severity, status).
Alarm = tuple[int, int]


class Owner(Enum):
    """Who owns an Out record: the tree's pushes, or a client put whose write is in flight."""

    IDLE = "idle"
    UPDATE_OWED = "idle, update owed"
    WRITING = "writing"
    WRITING_UPDATE_OWED = "writing, update owed"


class OwnerEvent(Enum):
    """What moves :class:`Owner`."""

    HOLD = "a push found the record taken"
    SLOW_WRITE = "a put's write outlasted the budget"
    REJECT = "a put was refused while the record processed it"
    RELEASE = "a slow put completed"


#: (state, event) → next state. Every pair is listed: EPICS can process a put that waited in the
#: record (RPRO) before the put that owned it is released, so REJECT and SLOW_WRITE also arrive
#: while WRITING.
OWNER_TRANSITIONS: dict[tuple[Owner, OwnerEvent], Owner] = {
    (Owner.IDLE, OwnerEvent.HOLD): Owner.UPDATE_OWED,
    (Owner.UPDATE_OWED, OwnerEvent.HOLD): Owner.UPDATE_OWED,
    (Owner.WRITING, OwnerEvent.HOLD): Owner.WRITING_UPDATE_OWED,
    (Owner.WRITING_UPDATE_OWED, OwnerEvent.HOLD): Owner.WRITING_UPDATE_OWED,
    (Owner.IDLE, OwnerEvent.SLOW_WRITE): Owner.WRITING,
    (Owner.UPDATE_OWED, OwnerEvent.SLOW_WRITE): Owner.WRITING_UPDATE_OWED,
    (Owner.WRITING, OwnerEvent.SLOW_WRITE): Owner.WRITING,
    (Owner.WRITING_UPDATE_OWED, OwnerEvent.SLOW_WRITE): Owner.WRITING_UPDATE_OWED,
    (Owner.IDLE, OwnerEvent.REJECT): Owner.IDLE,
    (Owner.UPDATE_OWED, OwnerEvent.REJECT): Owner.IDLE,
    (Owner.WRITING, OwnerEvent.REJECT): Owner.WRITING,
    (Owner.WRITING_UPDATE_OWED, OwnerEvent.REJECT): Owner.WRITING,
    (Owner.IDLE, OwnerEvent.RELEASE): Owner.IDLE,
    (Owner.UPDATE_OWED, OwnerEvent.RELEASE): Owner.IDLE,
    (Owner.WRITING, OwnerEvent.RELEASE): Owner.IDLE,
    (Owner.WRITING_UPDATE_OWED, OwnerEvent.RELEASE): Owner.IDLE,
}
_OWED = frozenset({Owner.UPDATE_OWED, Owner.WRITING_UPDATE_OWED})
_WRITING = frozenset({Owner.WRITING, Owner.WRITING_UPDATE_OWED})


class Tree(Enum):
    """The tree side: before or after start, and catching up after a client put or not."""

    WAITING = "waiting for start"
    WAITING_AFTER_PUT = "waiting for start, after a put"
    SERVING = "serving"
    CATCHING_UP = "catching up after a put"


class TreeEvent(Enum):
    """What moves :class:`Tree`."""

    START = "the IOC runs"
    PUT = "a put's write starts"
    CAUGHT_UP = "an update matched the tree's current value"


TREE_TRANSITIONS: dict[tuple[Tree, TreeEvent], Tree] = {
    (Tree.WAITING, TreeEvent.START): Tree.SERVING,
    (Tree.WAITING_AFTER_PUT, TreeEvent.START): Tree.CATCHING_UP,
    (Tree.SERVING, TreeEvent.START): Tree.SERVING,
    (Tree.CATCHING_UP, TreeEvent.START): Tree.CATCHING_UP,
    (Tree.WAITING, TreeEvent.PUT): Tree.WAITING_AFTER_PUT,
    (Tree.WAITING_AFTER_PUT, TreeEvent.PUT): Tree.WAITING_AFTER_PUT,
    (Tree.SERVING, TreeEvent.PUT): Tree.CATCHING_UP,
    (Tree.CATCHING_UP, TreeEvent.PUT): Tree.CATCHING_UP,
    # Fired only while after a put (pushes are one at a time, so the state cannot move between
    # the check and the event).
    (Tree.WAITING_AFTER_PUT, TreeEvent.CAUGHT_UP): Tree.WAITING,
    (Tree.CATCHING_UP, TreeEvent.CAUGHT_UP): Tree.SERVING,
}
_STARTED = frozenset({Tree.SERVING, Tree.CATCHING_UP})
_AFTER_PUT = frozenset({Tree.WAITING_AFTER_PUT, Tree.CATCHING_UP})


class Health(Enum):
    """How the last write (or read) through the tree went."""

    OK = "ok"
    FAILED = "failed"


def same(a: Any, b: Any) -> bool:
    """Equal values, NaN equal to NaN (the record and the tree both hold NaN as a value)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(a == b or (a != a and b != b))


class Record(Protocol):
    """The record as the state machine uses it (``ioc.holder`` adapts softioc's)."""

    def locked(self) -> AbstractContextManager[None]:
        """Hold the record's lock: no processing, so no client put, starts meanwhile."""

    def client_value_waiting(self) -> bool:
        """True when a client's value sits in VAL, not yet processed (see PutPush.push)."""

    def show(self, value: Any, alarm: Alarm) -> None:
        """Process the record with ``value`` and ``alarm`` (as the IOC's own push)."""

    def get(self) -> Any:
        """The value the record holds."""

    def raise_alarm(self, alarm: Alarm) -> None:
        """Set the alarm the record's running processing ends with."""

    def drop_alarm(self, status: int) -> None:
        """Drop the alarm of the running processing if its status is ``status``."""


class Variable(Protocol):
    """What of the served Variable the state machine reads."""

    def getVariableValue(self, read: bool = True) -> Any:
        """The Variable's VariableValue, read through the hardware when ``read``."""


class PutPush:
    """The put/push state of one record, and the moves each event makes on the record.

    ``render(vv)`` gives the record value and alarm for a VariableValue (it may consult
    :attr:`write_failed`); ``submit(fn)`` runs ``fn`` on the put pool. ``out`` is False for an
    In record (a read-only Variable: only the tree side exists).
    """

    def __init__(
        self,
        record: Record,
        variable: Variable,
        render: Callable[[Any], tuple[Any, Alarm]],
        submit: Callable[[Callable[[], Any]], Any],
        out: bool,
        write_failed_alarm: Alarm,
        read_failed_alarm: Alarm,
    ) -> None:
        self.record = record
        self._variable = variable
        self._render = render
        self._submit = submit
        self._out = out
        self._write_failed_alarm = write_failed_alarm
        self._read_failed_alarm = read_failed_alarm
        self._lock = threading.Lock()  # owner and tree transitions
        self._push_lock = threading.Lock()  # one push at a time
        self.owner = Owner.IDLE
        self.tree = Tree.WAITING
        self.last_write = Health.OK
        self.last_read = Health.OK
        self.shown: tuple[Any, Alarm] | None = None
        self._early: Any = None  # the latest update before start
        self._inflight: Future[Any] | None = None  # the slow write a put waits for

    @property
    def write_failed(self) -> bool:
        """True while the record shows that the last put's write failed."""
        return self.last_write is Health.FAILED

    def _owner(self, event: OwnerEvent) -> Owner:
        """Fire ``event`` on the owner side; returns the state it left."""
        with self._lock:
            before = self.owner
            self.owner = OWNER_TRANSITIONS[before, event]
        return before

    def _tree(self, event: TreeEvent) -> Tree:
        with self._lock:
            before = self.tree
            self.tree = TREE_TRANSITIONS[before, event]
        return before

    # --- tree side -----------------------------------------------------------------------------

    def start(self, initial_alarm: Alarm | None) -> None:
        """The IOC runs: show the update kept since creation, else ``initial_alarm`` if any."""
        with self._lock:
            self.tree = TREE_TRANSITIONS[self.tree, TreeEvent.START]
            early, self._early = self._early, None
        if early is not None:
            self.push(early)
        elif initial_alarm is not None:
            self.show_alarm(initial_alarm)

    def update(self, vv: Any) -> None:
        """A tree update: pushed once the IOC runs, before that kept (the latest wins)."""
        if self.tree not in _STARTED:
            with self._lock:
                if self.tree not in _STARTED:
                    self._early = vv
                    return
        self.push(vv)

    def push(self, vv: Any) -> None:
        """Show ``vv`` (a VariableValue) on the record, unless it shows that already.

        While a put owns the Out record the update is held back and owed (see :meth:`release`).
        """
        if not self._out:
            self._show_in(*self._render(vv), skip_same=True)
            return
        with self._out_lock() as free:
            if free:
                if self.tree in _AFTER_PUT:
                    vv = self._current_after_put(vv)
                value, alarm = self._render(vv)
                if not self._shows(value, alarm):
                    self._show_out(value, alarm)

    def _current_after_put(self, vv: Any) -> Any:
        """The tree's current value in place of ``vv``, for updates that follow a client put.

        An update taken before a put's write can reach us after it and would step the record
        back. Updates of one variable arrive in order, so once one matches the tree's current
        value, those after it are current too.
        """
        current = self._variable.getVariableValue(read=False)
        if same(current.value, vv.value):
            self._tree(TreeEvent.CAUGHT_UP)
        self.shown = None
        return current

    def _shows(self, value: Any, alarm: Alarm) -> bool:
        shown = self.shown
        return shown is not None and shown[1] == alarm and same(shown[0], value)

    def read_failed(self) -> None:
        """A read through the tree failed: show INVALID/READ, keeping the value."""
        self.last_read = Health.FAILED
        self.show_alarm(self._read_failed_alarm)

    def read_ok(self) -> None:
        """A read through the tree worked: after a failed one, show the tree's state again."""
        if self.last_read is Health.FAILED:
            self.last_read = Health.OK
            self.show_current()

    def show_current(self) -> None:
        """Show the tree's current value, read while no client put can start."""
        if not self._out:
            self._show_in(*self._render(self._variable.getVariableValue(read=False)))
            return
        with self._out_lock() as free:
            if free:
                self._show_out(*self._render(self._variable.getVariableValue(read=False)))

    def show_alarm(self, alarm: Alarm) -> None:
        """Show ``alarm`` on the record, keeping its value."""
        if not self._out:
            self._show_in(self.record.get(), alarm)
            return
        with self._out_lock() as free:
            if free:
                self._show_out(self.record.get(), alarm)

    @contextlib.contextmanager
    def _out_lock(self) -> Iterator[bool]:
        """Hold the Out record for a push; yields False while a client put owns it.

        Under the record's lock no client put can start, so what the push reads from the tree
        and shows cannot be overtaken by a put. A put that owns the record, or a client value
        waiting in VAL (EPICS processes it once the put before it completes: overwriting VAL
        would lose it), holds the push back; the tree's state is shown when the put is over.
        Only a put since our last push (``shown`` unknown) can have left a value waiting.
        """
        with self._push_lock, self.record.locked():
            free = self.owner not in _WRITING and (
                self.shown is not None or not self.record.client_value_waiting()
            )
            if not free:
                self._owner(OwnerEvent.HOLD)
            yield free

    def _show_out(self, value: Any, alarm: Alarm) -> None:
        """Process the Out record with ``value`` and ``alarm`` (call under its lock)."""
        self.record.show(value, alarm)
        self.shown = (value, alarm)

    def _show_in(self, value: Any, alarm: Alarm, skip_same: bool = False) -> None:
        with self._push_lock:
            if skip_same and self._shows(value, alarm):
                return
            self.record.show(value, alarm)
            self.shown = (value, alarm)

    # --- client side ---------------------------------------------------------------------------

    def put_started(self) -> None:
        """A client put is being processed: the record no longer shows our last push."""
        self.shown = None

    def write(self, start_write: Callable[[], Future[Any]], budget: float) -> bool:
        """Start a checked put's tree write and wait up to ``budget`` seconds for it.

        True: the write is done and the put completes now. False: it is slow; the put owns the
        record until :meth:`finish_write` and :meth:`release`. Raises the write's error.
        """
        self._tree(TreeEvent.PUT)
        future = start_write()
        try:
            future.result(timeout=budget)
        except TimeoutError:
            self._owner(OwnerEvent.SLOW_WRITE)
            self._inflight = future
            return False
        # An accepted put ends the WRITE alarm of an earlier refusal (the tree's own alarm
        # state follows with the listener's update).
        self.last_write = Health.OK
        self.record.drop_alarm(self._write_failed_alarm[1])
        return True

    def refused(self, processing: bool) -> None:
        """A put was refused: show INVALID/WRITE.

        ``processing``: the record is processing the put (it ends with the alarm; an update
        held back for an earlier put is shown once this processing is over); otherwise the put
        was stopped before it reached the record, which is processed to show the alarm.
        """
        self.last_write = Health.FAILED
        if not processing:
            self.show_alarm(self._write_failed_alarm)
            return
        if self._owner(OwnerEvent.REJECT) in _OWED:
            self._submit(self.show_current)
        self.record.raise_alarm(self._write_failed_alarm)

    def finish_write(self) -> BaseException | None:
        """Wait for the slow write (on the put pool); its error, or None.

        An accepted write ends the WRITE alarm of an earlier refusal, as :meth:`write` does for a
        fast one: the put's processing is still active, so the alarm it was started with is not
        shown yet. (A record the tree never updates, such as a Command's, would otherwise keep
        showing INVALID/WRITE after every accepted slow put.)
        """
        future, self._inflight = self._inflight, None
        if future is None:
            return None
        error = future.exception()
        if error is not None:
            self.last_write = Health.FAILED
            return error
        self.last_write = Health.OK
        with self.record.locked():
            self.record.drop_alarm(self._write_failed_alarm[1])
        return None

    def release(self) -> None:
        """After a slow put completed: show the tree's state if an update waited or it failed.

        The tree's current value is shown rather than the update that waited: that update may
        have been taken before the write and would step the record back to an older value.
        """
        if self._owner(OwnerEvent.RELEASE) in _OWED or self.write_failed:
            self.show_current()
