"""The Root's threads: listener delivery, polling and the heartbeat that keeps `Time` current."""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Heartbeat", "PollThread", "UpdateThread"]

log = logging.getLogger(__name__)
_JOIN_TIMEOUT = 10.0


class _Worker:
    """A thread that waits on its condition until stopped; subclasses give `_run`."""

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
        if self._thread is not threading.current_thread():
            self._thread.join(_JOIN_TIMEOUT)
            if self._thread.is_alive():
                log.warning("%s still busy after stop", self._thread.name)


class UpdateThread(_Worker):
    """Delivers listener notifications, coalesced per variable, on one thread of the Root.

    A variable's dependants (Variables added as its listeners, e.g. LinkVariables) are updated
    in the same batch; `rootListeners` are called for every updated variable.
    """

    def __init__(self, rootName: str, rootListeners: Callable[[Any, Any], None]) -> None:
        super().__init__(f"{rootName}-update")
        self._pending: dict[Any, None] = {}
        self._holdUntil = 0.0
        self._rootListeners = rootListeners
        self._thread.start()

    def queue(self, var: Any) -> None:
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
            for var in _withDependants(batch):
                update = var._doUpdate()
                self._rootListeners(var, update)


def _withDependants(batch: dict[Any, None]) -> list[Any]:
    """The batch plus every variable listening to one in it, each once."""
    found = dict(batch)
    stack = list(batch)
    while stack:
        for dependant in stack.pop()._listeners:
            if dependant not in found:
                found[dependant] = None
                stack.append(dependant)
    return list(found)


class PollThread(_Worker):
    """Reads each variable with a pollInterval every pollInterval seconds while enabled."""

    def __init__(self, rootName: str, variables: list[Any], enabled: bool) -> None:
        super().__init__(f"{rootName}-poll")
        now = time.monotonic()
        self._heap = [(now + v.pollInterval, i, v) for i, v in enumerate(variables)]
        self._polled = set(variables)
        heapq.heapify(self._heap)
        self._enabled = enabled
        self._thread.start()

    @property
    def enabled(self) -> bool:
        """Whether polling runs."""
        return self._enabled

    def setEnabled(self, enabled: bool) -> None:
        """Pause or resume polling."""
        with self._cond:
            self._enabled = enabled
            self._cond.notify()

    def add(self, var: Any) -> None:
        """Poll `var` (again) after its poll interval changed."""
        with self._cond:
            if var not in self._polled and var.pollInterval > 0:
                self._polled.add(var)
                heapq.heappush(self._heap, (time.monotonic() + var.pollInterval, id(var), var))
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
            if var.pollInterval <= 0:
                with self._cond:
                    self._polled.discard(var)
                continue
            var._poll()
            with self._cond:
                heapq.heappush(heap, (time.monotonic() + var.pollInterval, order, var))


class Heartbeat(_Worker):
    """Calls `beat()` once a second (pyrogue's Root sets `Time` this way)."""

    def __init__(self, rootName: str, beat: Callable[[], None]) -> None:
        super().__init__(f"{rootName}-heartbeat")
        self._beat = beat
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait(1.0)
                if self._stopping:
                    return
            try:
                self._beat()
            except Exception:
                log.exception("heartbeat failed")
