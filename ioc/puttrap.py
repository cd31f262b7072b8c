"""What a CA client really sent: the put as it was before EPICS converted it.

The CA server converts a put to the record's field type before the record sees it: a DBR_DOUBLE
2.5 reaches a longout as 2, the string "9abc" as 9. To refuse such puts instead of writing the
converted value, the IOC turns on EPICS access security with a TRAPWRITE rule and listens to the
trap, which the server calls with the original data just before the put, in the thread that then
processes the record. :func:`take` hands that data to the record's ``validate``.

PVA (QSRV2) calls the trap without data; p4p and pvxs refuse lossy conversions themselves.
"""

from __future__ import annotations

import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_double,
    c_float,
    c_int,
    c_int8,
    c_int16,
    c_int32,
    c_uint16,
    c_void_p,
    cast,
)
from pathlib import Path
from typing import Any

from epicscorelibs.ioc import Com, dbCore

#: Everyone may read and write, as without access security; every write is trapped.
ACCESS_RULES = Path(__file__).with_name("trapwrite.acf")

DBR_STRING = 0
#: CA's DBR codes (db_access.h) → ctypes element type.
_ELEMENT_TYPES = {
    DBR_STRING: c_char * 40,
    1: c_int16,  # DBR_SHORT
    2: c_float,  # DBR_FLOAT
    3: c_uint16,  # DBR_ENUM
    4: c_int8,  # DBR_CHAR
    5: c_int32,  # DBR_LONG
    6: c_double,  # DBR_DOUBLE
}


class _TrapMessage(Structure):
    _fields_ = [
        ("userid", c_char_p),
        ("hostid", c_char_p),
        ("serverSpecific", c_void_p),  # the dbChannel, whose first member is its name
        ("userPvt", c_void_p),
        ("dbrType", c_int),
        ("no_elements", c_int),
        ("data", c_void_p),
    ]


_LISTENER = CFUNCTYPE(None, POINTER(_TrapMessage), c_int)
#: The last trapped put of each server thread, by thread id. Not a threading.local: EPICS
#: server threads are not Python threads, and each call into Python from one of them gets a
#: fresh thread state, so thread-local data would not survive from the trap to ``validate``.
_trapped: dict[int, RawPut] = {}
#: Bound on _trapped: entries of threads that ended are dropped wholesale past it.
_MAX_THREADS = 4096


class RawPut:
    """One trapped put: the channel's record name, CA's DBR type and the values as sent."""

    __slots__ = ("dbr_type", "name", "values")

    def __init__(self, name: str, dbr_type: int, values: list) -> None:
        self.name = name
        self.dbr_type = dbr_type
        self.values = values

    @property
    def text(self) -> bool:
        """True when the client sent strings."""
        return self.dbr_type == DBR_STRING


def _listen(message: Any, after: int) -> None:
    if after:
        return
    msg = message.contents
    element = _ELEMENT_TYPES.get(msg.dbrType)
    if not msg.data or not msg.serverSpecific or element is None:
        return
    channel = cast(msg.serverSpecific, POINTER(c_char_p))[0] or b""
    name, _, field = channel.decode(errors="replace").partition(".")
    if field not in ("", "VAL"):
        return
    items = cast(msg.data, POINTER(element * msg.no_elements)).contents
    if msg.dbrType == DBR_STRING:
        values = [bytes(item).split(b"\0", 1)[0].decode(errors="replace") for item in items]
    else:
        values = list(items)
    if len(_trapped) >= _MAX_THREADS:
        _trapped.clear()
    _trapped[threading.get_ident()] = RawPut(name, msg.dbrType, values)


_listener = _LISTENER(_listen)


def install() -> None:
    """Turn on the trap; call once, before ``iocInit``."""
    set_file = dbCore.asSetFilename
    set_file.argtypes = [c_char_p]
    set_file(str(ACCESS_RULES).encode())
    register = Com.asTrapWriteRegisterListener
    register.argtypes = [_LISTENER]
    register.restype = c_void_p
    register(_listener)


def take(*names: str) -> RawPut | None:
    """The put trapped in this thread if it was addressed to one of ``names``, once."""
    raw = _trapped.pop(threading.get_ident(), None)
    if raw is not None and raw.name in names:
        return raw
    return None
