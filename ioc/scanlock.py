"""The EPICS record lock (dbScanLock) for code outside record processing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from ctypes import c_void_p
from typing import Any

from epicscorelibs.ioc import dbCore

_lock = dbCore.dbScanLock
_lock.argtypes = [c_void_p]
_lock.restype = None
_unlock = dbCore.dbScanUnlock
_unlock.argtypes = [c_void_p]
_unlock.restype = None


@contextlib.contextmanager
def scan_lock(record: Any) -> Iterator[None]:
    """Hold the lock of ``record`` (a softioc record structure): no processing runs meanwhile.

    The lock is recursive, so the holder may process the record itself (``record.set()``).
    """
    _lock(record)
    try:
        yield
    finally:
        _unlock(record)
