"""What a client really sent, seen before EPICS writes it: check it there, refuse it there.

The CA server converts a put to the record's field type before the record sees it: a DBR_DOUBLE
2.5 reaches a longout as 2, the string "9abc" as 9, and a DBR_STRING array is converted element by
element straight into the record's buffer, so an element that does not parse leaves the ones
before it written while the record is never processed. To refuse such puts before anything is
written, the IOC turns on EPICS access security with a TRAPWRITE rule and listens to the trap,
which both servers call just before the put:

* the CA server (rsrv) calls it with the client's data, for plain puts and put-callbacks alike.
  A guard registered for the record (:func:`guard`) checks the data completely; when it refuses,
  the listener sets the record's DISP ("puts disabled") for this one put and clears it again in
  the trap's second call, after the put. EPICS then drops the put without touching the record and
  the client gets a put failure (``dbPutField`` returns ``S_db_putDisabled`` for a plain put;
  ``dbProcessNotify`` reports ``notifyError`` for a put-callback). A put of another client to the
  same record in those microseconds is refused too (its client sees a put failure).
* QSRV2 (PVA) calls it without data, and before it checks the client's write access: the
  listener asks access security whether this client may write (:func:`ioc._softioc.write_permitted`)
  and reports a put it may not to the handler given to :func:`install` (QSRV2 then refuses it
  with its "Put not permitted"). A permitted put is only noted as a PVA put, and the record's
  ``validate`` checks the value itself (:func:`take`). So that QSRV2 calls the trap for clients
  with read access only, their READ rules are trapped too (:mod:`ioc.access`).

Data accepted here is kept per thread for the record's ``validate``, which runs in the thread that
called the trap (unless the record was busy and processes the put later elsewhere).

The EPICS structures read here are described in :mod:`ioc._softioc`, the one adapter over EPICS
and softioc internals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._softioc import DBR_CHAR, DBR_STRING, TrappedWrite, disp_field, install_trap

#: Everyone may read and write, as without access security; every write is trapped.
ACCESS_RULES = Path(__file__).with_name("trapwrite.acf")
#: The access security group of In records (RO Variables): everyone may read, nobody write.
READ_ONLY_GROUP = "READONLY"


class RawPut:
    """One trapped put: the record's name, CA's DBR type and the values as sent.

    A PVA put has no data: ``dbr_type`` is None and ``values`` empty.
    """

    __slots__ = ("dbr_type", "name", "values")

    def __init__(self, name: str, dbr_type: int | None, values: list[Any]) -> None:
        self.name = name
        self.dbr_type = dbr_type
        self.values = values

    @property
    def text(self) -> bool:
        """True when the client sent strings."""
        return self.dbr_type == DBR_STRING

    @property
    def chars(self) -> bool:
        """True when the client sent CA chars (DBR_CHAR: unsigned bytes)."""
        return self.dbr_type == DBR_CHAR

    @property
    def pva(self) -> bool:
        """True for a PVA put (the trap carried no data)."""
        return self.dbr_type is None


#: A guard looks at a CA put before EPICS writes it; True refuses it (the guard says why).
Guard = Callable[[RawPut], bool]
_guards: dict[str, Guard] = {}
#: The last trapped put of each server thread, by thread id. Not a threading.local: EPICS
#: server threads are not Python threads, and each call into Python from one of them gets a
#: fresh thread state, so thread-local data would not survive from the trap to ``validate``.
_trapped: dict[int, RawPut] = {}
#: Bound on _trapped: entries of threads that ended are dropped wholesale past it.
_MAX_THREADS = 4096
#: Told of a PVA put that access security refuses: (PV name with field, "user@host").
DeniedHandler = Callable[[str, str], None]
_denied: list[DeniedHandler] = []
#: Refused puts in flight per record address: DISP stays set while there is any.
_disabled: dict[int, int] = {}
_disabled_lock = threading.Lock()


def _disable(record: int) -> bool:
    """Set DISP of ``record`` for one refused put; False if someone else had it set."""
    with _disabled_lock:
        count = _disabled.get(record, 0)
        disp = disp_field(record)
        if count == 0 and disp.value:
            return False  # disabled by an operator: EPICS refuses the put anyway; leave it
        _disabled[record] = count + 1
        disp.value = 1
        return True


def _enable(record: int) -> None:
    """The refused put is over: clear DISP once no other refused put needs it."""
    with _disabled_lock:
        count = _disabled.pop(record, 1) - 1
        if count > 0:
            _disabled[record] = count
        else:
            disp_field(record).value = 0


def _listen(write: TrappedWrite) -> None:
    target = write.target()
    if target is None:
        return
    name, field, record = target
    if write.after:
        if write.refused:
            _enable(record)
        return
    if not write.has_data and not write.write_permitted():
        who = f"{write.user}@{write.host}"
        for handler in _denied:
            handler(f"{name}.{field}" if field != "VAL" else name, who)
        return
    check = _guards.get(name)
    if check is None or field != "VAL":
        return
    if not write.has_data:
        raw = RawPut(name, None, [])
    else:
        values = write.values()
        if values is None:
            return
        raw = RawPut(name, write.dbr_type, values)
        if check(raw):
            if _disable(record):
                write.refused = True
            return
    if len(_trapped) >= _MAX_THREADS:
        _trapped.clear()
    _trapped[threading.get_ident()] = raw


def install(denied: DeniedHandler) -> None:
    """Turn on the trap; call once, before ``iocInit``. ``denied`` hears of refused PVA puts."""
    _denied[:] = [denied]
    install_trap(str(ACCESS_RULES), _listen)


def guard(record: str, check: Guard) -> None:
    """Have ``check`` look at every CA put to the VAL of ``record`` before EPICS writes it."""
    _guards[record] = check


def take(record: str) -> RawPut | None:
    """The put trapped in this thread if it was addressed to ``record``, once."""
    raw = _trapped.pop(threading.get_ident(), None)
    if raw is not None and raw.name == record:
        return raw
    return None
