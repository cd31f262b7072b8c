"""Running put callbacks: the softioc dispatcher and the IOC's own-push context.

softioc processes an Out record in the thread that wrote it and then hands ``on_update`` to the
dispatcher. Two kinds of processing reach the dispatcher:

* a client put, whose tree write must run off the EPICS threads and whose completion (CA
  put-callback, PVA put with wait) must follow the write;
* the IOC's own push of a tree-side value into an Out record (``record.set``), which only has to
  post monitors: nothing is written back to the tree.

``validate`` runs in the same thread just before the dispatcher and tells them apart; it marks
the second kind, and a client put whose write already finished within ``validate``, with
:func:`skip_dispatch`, and the dispatcher then completes the processing synchronously instead of
queuing any work.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._softioc import finish_processing, processing_idle

log = logging.getLogger(__name__)

_local = threading.local()

#: How long a finished put waits for its record to leave asynchronous processing.
IDLE_TIMEOUT = 2.0


@contextlib.contextmanager
def own_push() -> Iterator[None]:
    """Mark record processing in this thread as the IOC's own push of a tree value."""
    _local.pushing = True
    try:
        yield
    finally:
        _local.pushing = False


def pushing() -> bool:
    """True while this thread is inside :func:`own_push`."""
    return getattr(_local, "pushing", False)


def skip_dispatch() -> None:
    """Tell the dispatcher that the processing running in this thread has no work to queue."""
    _local.skip = True


def _take_skip() -> bool:
    skip = getattr(_local, "skip", False)
    _local.skip = False
    return skip


def wait_idle(completion_args: tuple[Any, ...], timeout: float = IDLE_TIMEOUT) -> bool:
    """Wait until the record of a put's ``completion_args`` is idle (see processing_idle)."""
    deadline = time.monotonic() + timeout
    while not processing_idle(completion_args):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.0002)
    return True


class PutDispatcher:
    """softioc dispatcher that runs put callbacks on a thread pool.

    A callback may return a follow-up callable; it runs after the put has completed for the
    client and the record is idle again (used to restore a value or deliver a deferred update).
    """

    def __init__(self, workers: int = 32) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ioc-put")

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the pool and return its Future."""
        return self._pool.submit(fn, *args)

    def __call__(
        self,
        func: Callable[..., Any],
        func_args: tuple = (),
        completion: Callable[..., Any] | None = None,
        completion_args: tuple = (),
    ) -> None:
        """Entry point called by softioc from inside record processing."""
        if _take_skip():
            # Nothing left to do (our own push, or a put already written): finish the processing
            # now, so its monitors are posted in order and the record never sits active.
            finish_processing(completion_args)
            return
        self._pool.submit(self._run, func, func_args, completion, completion_args)

    @staticmethod
    def _run(
        func: Callable[..., Any],
        func_args: tuple,
        completion: Callable[..., Any] | None,
        completion_args: tuple,
    ) -> None:
        follow_up = None
        try:
            follow_up = func(*func_args)
        except Exception:
            log.exception("put callback failed")
        finally:
            if completion is not None:
                completion(*completion_args)
        if callable(follow_up):
            if not wait_idle(completion_args):
                log.warning("record stayed active after its put completed")
            try:
                follow_up()
            except Exception:
                log.exception("follow-up of a put failed")
