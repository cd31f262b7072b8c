"""The IOC's own status PVs under ``<prefix>:IOC:``, in the spirit of devIocStats.

Every second the IOC publishes its uptime, CPU and memory use, its CA and PVA client counts,
how many client puts it accepted and refused, and how many tree updates it received; a refused
put also sets ``LastRefusal`` at once, so the reason reaches any client on any protocol. The
names it serves are published as a packed list (see :mod:`ioc.namelist`) for ``rogue-ioc list``.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import logging
import os
import platform
import reprlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from softioc import builder

from . import _softioc, namelist, puttrap
from .naming import CHUNK_NAME, STATUS_PVS, status_name

log = logging.getLogger(__name__)

#: LastRefusal's capacity (bytes); a longer text is cut and ends with CUT_MARK.
REFUSAL_BYTES = 1024
CUT_MARK = " [...]"
#: Seconds between updates of the periodic values.
PERIOD = 1.0

_short_repr = reprlib.Repr()
_short_repr.maxstring = _short_repr.maxother = 80
_short_repr.maxlist = _short_repr.maxtuple = 8


def refusal_text(when: float, pv: str, value: Any, reason: str) -> str:
    """One line for LastRefusal: UTC time, PV, value (shortened) and reason, within capacity."""
    return _refusal_line(when, f"{pv}: put of {_short_repr.repr(value)} refused: {reason}")


def denial_text(when: float, pv: str, who: str) -> str:
    """One line for LastRefusal: a put of ``who`` (user@host) that access security refused."""
    return _refusal_line(when, f"{pv}: put by {who} refused: no write access (access security)")


def _refusal_line(when: float, text: str) -> str:
    stamp = datetime.datetime.fromtimestamp(when, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return fit(" ".join(f"{stamp} {text}".split()), REFUSAL_BYTES - 1)


def fit(text: str, limit: int) -> str:
    """``text`` if its UTF-8 form has at most ``limit`` bytes, else cut with :data:`CUT_MARK`."""
    if len(text.encode()) <= limit:
        return text
    room = limit - len(CUT_MARK)
    return text.encode()[:room].decode(errors="ignore") + CUT_MARK


class PutStats:
    """Counts of client puts accepted and refused, and the last refusal (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.accepted_count = 0
        self.refused_count = 0
        self.last_refusal = ""
        self.on_refusal: Callable[[], None] | None = None

    def accepted(self) -> None:
        """Count a put whose tree write succeeded."""
        with self._lock:
            self.accepted_count += 1

    def refused(self, pv: str, value: Any, reason: str) -> None:
        """Count a refused put and keep why (published at once when the IOC runs)."""
        self._count_refusal(refusal_text(time.time(), pv, value, reason))

    def denied(self, pv: str, who: str) -> None:
        """Count a PVA put of ``who`` (user@host) that access security refused, and log it."""
        log.warning("%s: put by %s refused: no write access (access security)", pv, who)
        self._count_refusal(denial_text(time.time(), pv, who))

    def _count_refusal(self, text: str) -> None:
        with self._lock:
            self.refused_count += 1
            self.last_refusal = text
        if self.on_refusal is not None:
            self.on_refusal()


#: Shared by every holder of the process; the status PVs read it.
put_stats = PutStats()


def software_versions() -> tuple[str, str]:
    """(rogue-ioc version, one line with the versions of the stack it runs on)."""
    versions = {}
    for dist in ("rogue-ioc", "softioc", "epicscorelibs", "pvxslibs"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "unknown"
    line = ", ".join(f"{dist} {version}" for dist, version in versions.items())
    return versions["rogue-ioc"], f"{line}, Python {platform.python_version()}"


def rss_bytes() -> int:
    """Resident memory of this process in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class IocStatus:
    """The status records of one IOC; build before ``iocInit``, :meth:`run` after it.

    ``served`` are the names of the IOC's other PVs, ``served_records`` their record count.
    """

    def __init__(
        self, prefix: str, served: Iterable[str], served_records: int, updates: Callable[[], int]
    ) -> None:
        self.prefix = prefix
        self._updates = updates
        self._refusal_lock = threading.Lock()
        self._started = time.time()
        names, chunks = self._name_list(list(served))
        version, software = software_versions()
        started = datetime.datetime.fromtimestamp(self._started, datetime.UTC)
        rec: dict[str, Any] = {}
        self._records = rec

        def make(suffix: str, factory: Callable[..., Any], **fields: Any) -> None:
            name = status_name(prefix, suffix)
            desc = STATUS_PVS.get(suffix, "PV name list chunk")
            # In records, read-only for clients as every In record of the IOC.
            rec[suffix] = factory(name, DESC=desc, ASG=puttrap.READ_ONLY_GROUP, **fields)

        make("StartTime", builder.stringIn, initial_value=started.strftime("%Y-%m-%dT%H:%M:%SZ"))
        make("Uptime", builder.longIn, initial_value=0, EGU="s")
        make("Version", builder.stringIn, initial_value=version)
        make("Software", builder.longStringIn, initial_value=software, length=256)
        make("CpuLoad", builder.aIn, initial_value=0.0, EGU="%", PREC=1)
        make("Rss", builder.aIn, initial_value=rss_bytes() / 2**20, EGU="MiB", PREC=1)
        make("PvCount", builder.longIn, initial_value=len(names))
        make("CaClients", builder.longIn, initial_value=0)
        make("PvaClients", builder.longIn, initial_value=0)
        make("PutsAccepted", builder.int64In, initial_value=0)
        make("PutsRefused", builder.int64In, initial_value=0)
        make("UpdateRate", builder.aIn, initial_value=0.0, EGU="1/s", PREC=1)
        make("LastRefusal", builder.longStringIn, initial_value="", length=REFUSAL_BYTES)
        make("PvNames:Chunks", builder.longIn, initial_value=len(chunks))
        for i, chunk in enumerate(chunks):
            make(CHUNK_NAME.format(i), builder.WaveformIn, initial_value=np.frombuffer(chunk, "u1"))
        # + RecordCount itself
        make("RecordCount", builder.longIn, initial_value=served_records + len(rec) + 1)

    def _name_list(self, served: list[str]) -> tuple[list[str], list[bytes]]:
        """Every name this IOC serves (its own included) and their packed chunks."""
        own = [status_name(self.prefix, suffix) for suffix in STATUS_PVS]
        count = 1
        while True:
            chunk_names = [status_name(self.prefix, CHUNK_NAME.format(i)) for i in range(count)]
            names = served + own + chunk_names
            chunks = namelist.pack(names)
            if len(chunks) == count:
                return names, chunks
            count = len(chunks)

    def run(self, stopping: threading.Event) -> None:
        """Publish refusals as they happen and the periodic values every second until
        ``stopping`` is set."""
        put_stats.on_refusal = self._show_refusals
        self._show_refusals()
        last_wall, last_cpu, last_updates = time.monotonic(), _cpu_seconds(), self._updates()
        while not stopping.wait(PERIOD):
            wall, cpu, updates = time.monotonic(), _cpu_seconds(), self._updates()
            elapsed = max(wall - last_wall, 1e-6)
            self._set("Uptime", int(time.time() - self._started))
            self._set("CpuLoad", 100.0 * (cpu - last_cpu) / elapsed)
            self._set("Rss", rss_bytes() / 2**20)
            self._set("UpdateRate", (updates - last_updates) / elapsed)
            for protocol in ("CA", "PVA"):
                clients = _softioc.client_count(protocol)
                if clients is not None:
                    self._set(f"{protocol.capitalize()}Clients", clients)
            self._set("PutsAccepted", put_stats.accepted_count)
            last_wall, last_cpu, last_updates = wall, cpu, updates
        put_stats.on_refusal = None

    def _show_refusals(self) -> None:
        with self._refusal_lock:
            self._set("PutsRefused", put_stats.refused_count)
            self._set("LastRefusal", put_stats.last_refusal)

    def _set(self, suffix: str, value: Any) -> None:
        record = self._records[suffix]
        if record.get() != value:
            record.set(value)


def _cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    times = os.times()
    return times.user + times.system
