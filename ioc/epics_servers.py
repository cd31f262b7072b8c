"""What the IOC's two EPICS servers report about themselves, through EPICS base's C API.

The one place rogue-ioc reads the CA server (RSRV) and the PVA server (QSRV2, pvxs) through
ctypes. Checked against epicscorelibs 7.0.10.99.0.2 (EPICS base 7.0.10) and pvxslibs 1.5.3:

* ``dbServerStats(name, &channels, &clients)`` (dbServer.h, public since base 7.0.10) asks a
  registered server layer for its counts; RSRV registers as ``rsrv``, QSRV2 as ``qsrv2``.
* RSRV stores the TCP port it really bound, after any fallback, in the IOC's environment as
  ``RSRV_SERVER_PORT`` (``epicsEnvSet`` during ``iocInit``): C's environment, not Python's copy.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, c_char_p, c_int, c_uint

from epicscorelibs.ioc import dbCore

#: Server layer names as they register with dbServer: protocol → name.
SERVER_LAYERS = {"CA": b"rsrv", "PVA": b"qsrv2"}

_stats = dbCore.dbServerStats
_stats.argtypes = [c_char_p, POINTER(c_uint), POINTER(c_uint)]
_stats.restype = c_int
_getenv = ctypes.CDLL(None).getenv
_getenv.argtypes = [c_char_p]
_getenv.restype = c_char_p


def client_count(protocol: str) -> int | None:
    """Clients (CA circuits, PVA connections) of the server of ``protocol``; None if unknown."""
    channels, clients = c_uint(0), c_uint(0)
    called = _stats(SERVER_LAYERS[protocol], ctypes.byref(channels), ctypes.byref(clients))
    return clients.value if called > 0 else None


def ca_server_port() -> int | None:
    """The TCP port the CA server bound (after ``iocInit``), None before it has."""
    value = _getenv(b"RSRV_SERVER_PORT")
    return int(value) if value else None
