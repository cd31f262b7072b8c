"""ioc.putstate in-process: every transition of the put/push state, against a fake record.

The fake record is a plain Python object with the interface the state machine drives (lock,
show, alarm of the running processing); the Variable is a plain object holding a current value.
Nothing of EPICS or softioc is involved: these tests check the IOC's own logic of who may write
the record and what it shows next. The end-to-end behaviour over CA and PVA is in
tests/integration (test_puts.py, test_reliability_*.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from ioc.putstate import (
    OWNER_TRANSITIONS,
    TREE_TRANSITIONS,
    Health,
    Owner,
    OwnerEvent,
    PutPush,
    Tree,
    TreeEvent,
    same,
)

NO_ALARM = (0, 0)
HIGH = (1, 3)  # MINOR/HIGH, as the tree's own alarm state
WRITE_FAILED = (3, 2)
READ_FAILED = (3, 1)
TIMEOUT = 5.0


@dataclass
class VV:
    """A VariableValue: value and alarm status."""

    value: Any
    status: str = "None"


class FakeVariable:
    """The Variable: its current value."""

    def __init__(self, value: Any) -> None:
        self.current = VV(value)

    def getVariableValue(self, read: bool = True) -> VV:
        return self.current


class FakeRecord:
    """The record: what it shows, the alarm its running processing ends with, its lock."""

    def __init__(self, value: Any) -> None:
        self.value, self.alarm = value, NO_ALARM
        self.shown: list[tuple[Any, tuple[int, int]]] = []
        self.lock = threading.RLock()
        self.waiting = False  # a client's value sits in VAL
        self.processing_alarm: tuple[int, int] | None = None

    def locked(self) -> threading.RLock:
        return self.lock

    def client_value_waiting(self) -> bool:
        return self.waiting

    def show(self, value: Any, alarm: tuple[int, int]) -> None:
        self.value, self.alarm = value, alarm
        self.shown.append((value, alarm))

    def get(self) -> Any:
        return self.value

    def raise_alarm(self, alarm: tuple[int, int]) -> None:
        self.processing_alarm = alarm

    def drop_alarm(self, status: int) -> None:
        if self.processing_alarm is not None and self.processing_alarm[1] == status:
            self.processing_alarm = NO_ALARM


class Machine:
    """A PutPush over a fake record and Variable; work it submits waits in ``pending``."""

    def __init__(self, out: bool = True, value: Any = 0) -> None:
        self.record = FakeRecord(value)
        self.variable = FakeVariable(value)
        self.pending: list[Callable[[], Any]] = []
        self.state = PutPush(
            self.record,
            self.variable,
            self.render,
            self.pending.append,
            out=out,
            write_failed_alarm=WRITE_FAILED,
            read_failed_alarm=READ_FAILED,
        )

    def render(self, vv: VV) -> tuple[Any, tuple[int, int]]:
        """As the holder renders: the tree's alarm, unless the last put's write failed."""
        if self.state.write_failed:
            return vv.value, WRITE_FAILED
        return vv.value, HIGH if vv.status == "AlarmHigh" else NO_ALARM

    def run_pending(self) -> None:
        while self.pending:
            self.pending.pop(0)()

    def tree_sets(self, value: Any, status: str = "None") -> VV:
        """The tree takes ``value``; returns the update its listener would deliver."""
        self.variable.current = VV(value, status)
        return self.variable.current

    def started(self) -> Machine:
        self.state.start(None)
        return self

    def put(self, write: Future[Any], budget: float = 0.0) -> bool:
        """A client put as the record processes it: under its lock, checked, written."""
        with self.record.locked():
            self.state.put_started()
            return self.state.write(lambda: write, budget)


def done(result: Any = None) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(result)
    return future


def failed(error: Exception) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_exception(error)
    return future


# --- the tables ---------------------------------------------------------------------------------


def test_owner_table_covers_every_state_and_event() -> None:
    assert set(OWNER_TRANSITIONS) == {(s, e) for s in Owner for e in OwnerEvent}


def test_tree_table_names_only_known_states() -> None:
    assert set(TREE_TRANSITIONS.values()) <= set(Tree)
    assert {event for _, event in TREE_TRANSITIONS} == set(TreeEvent)


# --- every owner transition, through the method that fires it -----------------------------------


def _hold(m: Machine) -> None:
    m.record.waiting = True  # taken by a waiting client value when idle, by the write otherwise
    m.state.shown = None
    m.state.push(m.tree_sets(5))


def _slow(m: Machine) -> None:
    assert m.put(Future()) is False


def _reject(m: Machine) -> None:
    m.state.refused(processing=True)


def _release(m: Machine) -> None:
    m.state.release()


FIRE = {
    OwnerEvent.HOLD: _hold,
    OwnerEvent.SLOW_WRITE: _slow,
    OwnerEvent.REJECT: _reject,
    OwnerEvent.RELEASE: _release,
}


@pytest.mark.parametrize(
    ("before", "event"), list(OWNER_TRANSITIONS), ids=lambda x: getattr(x, "name", "")
)
def test_owner_transition(before: Owner, event: OwnerEvent) -> None:
    m = Machine().started()
    m.state.owner = before
    shown_before = list(m.record.shown)
    FIRE[event](m)
    assert m.state.owner is OWNER_TRANSITIONS[before, event]
    owed = before in (Owner.UPDATE_OWED, Owner.WRITING_UPDATE_OWED)
    if event is OwnerEvent.HOLD:
        assert m.record.shown == shown_before  # held back, not shown
    if event is OwnerEvent.REJECT:
        # the held update is shown after this processing (on the pool), the alarm now
        assert m.record.processing_alarm == WRITE_FAILED
        assert len(m.pending) == int(owed)
    if event is OwnerEvent.RELEASE:
        # released with an owed update or after a failed write: the tree's state is shown
        assert (m.record.shown != shown_before) == owed


# --- every tree transition ----------------------------------------------------------------------


def test_update_before_start_is_kept_and_the_latest_shown_at_start() -> None:
    m = Machine()
    m.state.update(m.tree_sets(1))
    m.state.update(m.tree_sets(2, "AlarmHigh"))
    assert m.record.shown == [] and m.state.tree is Tree.WAITING
    m.state.start(WRITE_FAILED)  # an update kept wins over the initial alarm
    assert m.state.tree is Tree.SERVING
    assert m.record.shown == [(2, HIGH)]


def test_start_without_an_update_shows_the_initial_alarm_or_nothing() -> None:
    m = Machine(value=4)
    m.state.start((3, 17))
    assert m.record.shown == [(4, (3, 17))]
    quiet = Machine()
    quiet.state.start(None)
    assert quiet.record.shown == [] and quiet.state.tree is Tree.SERVING


def test_put_before_start_then_start_catches_up() -> None:
    m = Machine()
    assert m.put(done()) is True
    assert m.state.tree is Tree.WAITING_AFTER_PUT
    m.state.start(None)
    assert m.state.tree is Tree.CATCHING_UP


def test_push_in_waiting_after_put_catches_up_to_waiting() -> None:
    m = Machine()
    m.put(done())
    m.state.push(m.tree_sets(3))
    assert m.state.tree is Tree.WAITING and m.record.shown == [(3, NO_ALARM)]


@pytest.mark.parametrize("before", [Tree.SERVING, Tree.CATCHING_UP])
def test_start_twice_changes_nothing(before: Tree) -> None:
    m = Machine()
    m.state.tree = before
    m.state.start(None)
    assert m.state.tree is before


# --- scenarios ----------------------------------------------------------------------------------


def test_an_update_that_changes_nothing_is_skipped() -> None:
    m = Machine().started()
    m.state.push(m.tree_sets(1))
    m.state.push(m.tree_sets(1))
    m.state.push(m.tree_sets(1, "AlarmHigh"))
    m.state.push(m.tree_sets(float("nan")))
    m.state.push(m.tree_sets(float("nan")))
    assert [s[1] for s in m.record.shown] == [NO_ALARM, HIGH, NO_ALARM]
    assert len(m.record.shown) == 3


def test_fast_write_completes_now_and_a_stale_update_shows_the_current_value() -> None:
    m = Machine().started()
    m.state.push(m.tree_sets(1))
    m.record.processing_alarm = WRITE_FAILED  # left from an earlier refusal
    assert m.put(done()) is True
    assert m.record.processing_alarm == NO_ALARM  # an accepted put ends the WRITE alarm
    assert m.state.tree is Tree.CATCHING_UP
    m.tree_sets(7)  # the write's value
    m.state.push(VV(1))  # an update taken before the write arrives late
    assert m.record.value == 7 and m.state.tree is Tree.CATCHING_UP
    m.state.push(VV(7))  # the write's own update: caught up
    assert m.state.tree is Tree.SERVING
    m.state.push(m.tree_sets(8))
    assert m.record.value == 8


def test_slow_write_holds_updates_until_the_put_is_released() -> None:
    m = Machine().started()
    write: Future[Any] = Future()
    assert m.put(write) is False
    assert m.state.owner is Owner.WRITING
    m.state.push(m.tree_sets(2))  # update during the slow write: held back
    assert m.record.shown == [] and m.state.owner is Owner.WRITING_UPDATE_OWED
    write.set_result(None)
    assert m.state.finish_write() is None
    m.tree_sets(3)  # the tree moved on meanwhile: its current value is what gets shown
    m.state.release()
    assert m.state.owner is Owner.IDLE
    assert m.record.shown == [(3, NO_ALARM)]


def test_slow_write_without_updates_shows_nothing_at_release() -> None:
    m = Machine().started()
    write: Future[Any] = Future()
    m.put(write)
    write.set_result(None)
    m.state.finish_write()
    m.state.release()
    assert m.record.shown == [] and m.state.owner is Owner.IDLE


def test_accepted_slow_write_ends_the_write_alarm_of_an_earlier_refusal() -> None:
    m = Machine().started()
    m.state.refused(processing=False)  # a refused put: the record shows the WRITE alarm
    write: Future[Any] = Future()
    assert m.put(write) is False
    m.record.processing_alarm = WRITE_FAILED  # what the put's processing starts with
    write.set_result(None)
    assert m.state.finish_write() is None
    assert m.record.processing_alarm == NO_ALARM and not m.state.write_failed
    m.state.release()
    assert m.state.owner is Owner.IDLE


def test_failed_slow_write_shows_the_write_alarm_at_release() -> None:
    m = Machine().started()
    write: Future[Any] = Future()
    m.put(write)
    write.set_exception(OSError("bus error"))
    error = m.state.finish_write()
    assert isinstance(error, OSError) and m.state.last_write is Health.FAILED
    m.state.release()
    assert m.record.shown == [(0, WRITE_FAILED)]


def test_failed_fast_write_raises_and_the_refusal_sets_the_alarm() -> None:
    m = Machine().started()
    with pytest.raises(OSError):
        m.put(failed(OSError("bus error")))
    m.state.refused(processing=True)
    assert m.record.processing_alarm == WRITE_FAILED and m.state.write_failed
    m.state.push(m.tree_sets(4))  # the tree's updates keep the WRITE alarm ...
    assert m.record.alarm == WRITE_FAILED
    m.put(done())  # ... until a put is accepted
    assert not m.state.write_failed
    m.state.push(m.tree_sets(4, "AlarmHigh"))
    assert m.record.alarm == HIGH


def test_refusal_before_the_record_shows_the_alarm_keeping_the_value() -> None:
    m = Machine().started()
    m.state.push(m.tree_sets(6))
    m.state.refused(processing=False)
    assert m.record.shown[-1] == (6, WRITE_FAILED)
    assert m.state.owner is Owner.IDLE and m.pending == []


def test_a_waiting_client_value_holds_the_push_and_a_refusal_shows_it_after() -> None:
    """A put arrived while an earlier one was active: EPICS keeps its value in VAL."""
    m = Machine().started()
    m.state.push(m.tree_sets(1))
    m.state.put_started()  # the earlier put: the record no longer shows our push
    m.record.waiting = True
    m.state.push(m.tree_sets(2))
    assert m.record.value == 1 and m.state.owner is Owner.UPDATE_OWED  # VAL kept for EPICS
    m.state.refused(processing=True)  # the waiting put is processed and refused
    assert m.state.owner is Owner.IDLE and len(m.pending) == 1
    m.record.waiting = False
    m.run_pending()  # after that processing: the tree's state
    assert m.record.shown[-1] == (2, WRITE_FAILED)


def test_push_after_our_own_push_does_not_look_at_val() -> None:
    m = Machine().started()
    m.state.push(m.tree_sets(1))
    m.record.waiting = True  # would hold the push if it were asked
    m.state.push(m.tree_sets(2))
    assert m.record.value == 2


def test_a_put_during_a_push_waits_for_the_push() -> None:
    """The push holds the record's lock while it reads the tree and shows: a put starts after."""
    m = Machine().started()
    in_push, go_on = threading.Event(), threading.Event()
    order: list[str] = []
    render = m.render

    def slow_render(vv: VV) -> tuple[Any, tuple[int, int]]:
        in_push.set()
        assert go_on.wait(TIMEOUT)
        return render(vv)

    m.state._render = slow_render  # the push pauses while it holds the lock
    pusher = threading.Thread(target=lambda: (m.state.push(m.tree_sets(1)), order.append("push")))
    pusher.start()
    assert in_push.wait(TIMEOUT)
    putter = threading.Thread(target=lambda: (m.put(done()), order.append("put")))
    putter.start()
    go_on.set()
    pusher.join(TIMEOUT)
    putter.join(TIMEOUT)
    assert order == ["push", "put"]
    assert m.record.shown == [(1, NO_ALARM)] and m.state.tree is Tree.CATCHING_UP


def test_read_failure_shows_the_read_alarm_and_recovery_the_tree() -> None:
    m = Machine().started()
    m.state.push(m.tree_sets(5, "AlarmHigh"))
    m.state.read_failed()
    assert m.record.shown[-1] == (5, READ_FAILED) and m.state.last_read is Health.FAILED
    m.state.read_ok()
    assert m.record.shown[-1] == (5, HIGH) and m.state.last_read is Health.OK
    count = len(m.record.shown)
    m.state.read_ok()  # nothing failed: nothing to show
    assert len(m.record.shown) == count


def test_read_failure_during_a_slow_put_waits_for_it() -> None:
    m = Machine().started()
    write: Future[Any] = Future()
    m.put(write)
    m.state.read_failed()
    assert m.record.shown == [] and m.state.owner is Owner.WRITING_UPDATE_OWED


def test_in_record_shows_every_change_and_skips_repeats() -> None:
    m = Machine(out=False).started()
    m.state.push(m.tree_sets(1))
    m.state.push(m.tree_sets(1))
    m.state.push(m.tree_sets(2, "AlarmHigh"))
    m.state.read_failed()
    m.state.read_ok()
    assert m.record.shown == [(1, NO_ALARM), (2, HIGH), (2, READ_FAILED), (2, HIGH)]


def test_same_treats_nan_and_arrays() -> None:
    assert same(float("nan"), float("nan")) and not same(1.0, float("nan"))
    assert same(np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    assert not same(np.array([1, 2]), np.array([1, 3]))
