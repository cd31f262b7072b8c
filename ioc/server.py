"""EpicsPvServer: serves the Variables and Commands of a running Root as softioc records.

Start-up order, once per process: select the variables → plan their names → build one holder (one
record) each plus the heartbeat → ``LoadDatabase`` → ``iocInit`` (CA and PVA) → start the holders
and the background threads.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from softioc import alarm, builder, softioc

from . import _softioc, access, configpvs, puttrap, status
from .autosave import Autosave, settings_of
from .capacity import Capacities
from .dispatch import PutDispatcher
from .holder import EpicsPvHolder, tree_activity
from .naming import RecordName, heartbeat_name
from .selection import select, served_names, split_list
from .tree import Root, Variable, takes_argument

log = logging.getLogger(__name__)

#: The heartbeat shows INVALID when the tree has delivered no update for this many seconds.
STALE_AFTER = 5.0
#: Room for the CA message header and the DBR metadata on top of the largest record's buffer.
CA_ARRAY_HEADROOM = 16 * 1024

_running_server: EpicsPvServer | None = None


class EpicsPvServer:
    """Serve a PyRogue Root's Variables and Commands over Channel Access and PV Access.

    ``base`` is the PV prefix. In automatic mode (``pvMap`` None) every Variable and Command that
    passes ``root.filterByGroup``-style selection with ``incGroups``/``excGroups`` is served as
    ``<base>:<path with '.' replaced by ':'>``; ``excGroups=None`` means ``['NoServe']``. With
    ``pvMap`` ({path: PV name}) exactly the mapped paths are served under the given names.
    ``readPeriod`` > 0 reads every served Variable through the tree that often, so that a failing
    hardware read shows as INVALID/READ on its PV. ``autosave`` keeps the served settings in a
    pyrogue YAML config file: restored before the IOC serves, saved while it runs.
    ``accessSecurity`` loads a lab's EPICS access security rules, or serves everything read-only,
    and chooses the ASG of PVs by group or path (see :mod:`ioc.access`).
    ``capacities`` ({path or pattern: bytes}) overrides the buffer size of values that can grow
    (text, arrays of LocalVariables).

    The server registers with ``root.addProtocol``; the Root starts and stops it.
    """

    def __init__(
        self,
        base: str,
        root: Root,
        incGroups: str | list[str] | None = None,
        excGroups: str | list[str] | None = None,
        pvMap: dict[str, str] | None = None,
        readPeriod: float = 0.0,
        autosave: Autosave | None = None,
        accessSecurity: access.AccessSecurity | None = None,
        capacities: dict[str, int] | None = None,
    ) -> None:
        self._base = base
        self._root = root
        self._inc = split_list(incGroups)
        self._exc = split_list(excGroups)
        self._pv_map = dict(pvMap) if pvMap is not None else None
        self._read_period = readPeriod
        self._autosave = autosave
        self._access = accessSecurity
        self._config_commands: tuple[str, ...] = ()
        self._capacities = Capacities(dict(capacities or {}))
        self._names: dict[str, RecordName] = {}
        self._holders: list[EpicsPvHolder] = []
        self._dispatcher: PutDispatcher | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        root.addProtocol(self)

    # --- public API ----------------------------------------------------------------------------

    def list(self) -> dict[str, str]:
        """Return {variable path: full PV name} of everything served."""
        return {path: name.full for path, name in self._names.items()}

    def dump(self, fname: str | None = None, access: bool = False) -> None:
        """Write one line per PV to ``fname``, or print them.

        Each line is what Rogue's epicsV7 writes: ``PVNAME -> path``, followed for an aliased PV
        (full name over 60 characters) by ``  (CA: SHORT)``, its short record, so a list made for
        Rogue's server reads this one unchanged. With ``access``, each line also ends in
        ``  [access]``: the Variable's mode as served (RW, RO, WO; RO where the record takes no
        puts) or, for a Command, ``command`` or ``command with argument``.
        """
        modes = {holder.var.path: _access(holder) for holder in self._holders} if access else {}
        lines = []
        for path, name in self._names.items():
            marker = f"  (CA: {name.record})" if name.aliased else ""
            if access:
                marker += f"  [{modes[path]}]"
            lines.append(f"{name.full} -> {path}{marker}")
        text = "\n".join(lines) + "\n"
        if fname is None:
            print(text, end="")
        else:
            write_whole(fname, text)

    @property
    def heartbeat(self) -> str:
        """Name of the heartbeat PV the server adds under its prefix."""
        return heartbeat_name(self._base)

    # --- Root protocol -------------------------------------------------------------------------

    def _start(self) -> None:
        """Build every record and start the IOC; the Root calls this when it starts."""
        global _running_server
        if not self._root.running:
            raise RuntimeError("EpicsPvServer._start(): the Root is not running")
        if _running_server is not None:
            raise RuntimeError(
                f"an EpicsPvServer (prefix {_running_server._base!r}) already runs in this "
                "process; softioc serves one IOC per process"
            )
        started = time.monotonic()
        with _bulk_allocation():
            variables = select(self._root, self._base, self._inc, self._exc, self._pv_map)
            self._names = served_names(self._base, variables)
            if self._autosave is not None:
                clash = set(configpvs.pv_names(self._base)) & {n.full for n in self._names.values()}
                if clash:
                    raise ValueError(f"names taken by the autosave PVs: {', '.join(sorted(clash))}")
            _running_server = self
            if self._autosave is not None:
                self._autosave.restore(settings_of(var for var, _ in variables.values()))
            beat, ioc_status = self._build_records(variables)
            self._init_ioc()
        for var in self._root.variableList:
            # The Root's own variables (pyrogue polls root.Time every second) keep the heartbeat
            # informed even when they are not served.
            if var.path.count(".") == 1 and not var.isCommand:
                var.addListener(tree_activity.listener)
        tree_activity.touch()
        if self._autosave is not None:
            self._autosave.start()
        self._spawn("ioc-heartbeat", self._beat, beat)
        self._spawn("ioc-status", ioc_status.run, self._stopping)
        if self._read_period > 0:
            self._spawn("ioc-read", self._read_loop)
        log.info(
            "IOC initialised: %d records under %s in %.1f s",
            len(self._holders),
            self._base,
            time.monotonic() - started,
        )

    def _build_records(
        self, variables: dict[str, tuple[Variable, str]]
    ) -> tuple[Any, status.IocStatus]:
        """Holders, their records, the heartbeat and the status records, loaded; returns the
        heartbeat record and the status records."""
        self._dispatcher = PutDispatcher()
        self._holders = [
            EpicsPvHolder(var, self._names[path], self._dispatcher, self._capacities)
            for path, (var, _) in variables.items()
        ]
        beat = _softioc.create(
            builder.longIn,
            self.heartbeat,
            initial_value=0,
            DESC="rogue-ioc heartbeat",
            ASG=puttrap.READ_ONLY_GROUP,
        )
        served = [name.full for name in self._names.values()] + [self.heartbeat]
        if self._autosave is not None:
            self._config_commands = configpvs.ConfigPvs(self._base, self._autosave).command_names
            served += list(configpvs.pv_names(self._base))
        # Records besides the status PVs: one per served name (an alias shares its record).
        ioc_status = status.IocStatus(
            self._base, served, len(served), lambda: tree_activity.updates
        )
        _allow_ca_arrays(max((h.mapping.buffer_bytes for h in self._holders), default=0))
        _softioc.load_database()
        return beat, ioc_status

    def _init_ioc(self) -> None:
        """``iocInit`` (CA and PVA), then the holders start serving tree updates."""
        puttrap.install(status.put_stats.denied)
        if self._access is not None:
            self._access.install(
                ((holder.name.record, holder.var) for holder in self._holders),
                self._config_commands,
            )
        softioc.iocInit(self._dispatcher)
        access.check_active()
        for holder in self._holders:
            holder.start()

    def _stop(self) -> None:
        """Stop the background threads; the Root calls this when it stops.

        The records stay served until the process exits: EPICS cannot shut an IOC down.
        """
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        if self._autosave is not None:
            self._autosave.stop()

    # --- background work -----------------------------------------------------------------------

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _beat(self, record: Any) -> None:
        """Count seconds; INVALID/TIMEOUT while the tree has delivered nothing for a while."""
        count = 0
        while not self._stopping.wait(1.0):
            count += 1
            silent = time.monotonic() - tree_activity.last
            if silent > STALE_AFTER:
                record.set(count, severity=alarm.INVALID_ALARM, alarm=alarm.TIMEOUT_ALARM)
            else:
                record.set(count)

    def _read_loop(self) -> None:
        while not self._stopping.wait(self._read_period):
            for holder in self._holders:
                if not holder.var.isCommand:
                    holder.refresh()


@contextlib.contextmanager
def _bulk_allocation() -> Iterator[None]:
    """No cyclic garbage collection during start-up: selection, records, ``iocInit``.

    Start-up allocates a dozen long-lived objects per record; the collections those allocations
    trigger would rescan everything built so far, again and again (at 100,000 records, a fifth of
    ``iocInit``'s time). Start-up makes next to no cyclic garbage (softioc's time stamps, which
    made one cycle per record, are written without: see :mod:`ioc._softioc`). Afterwards what was
    built is frozen: later collections, which pause puts and updates, no longer scan it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _access(holder: EpicsPvHolder) -> str:
    """How a client may use the PV: the kind of Command, or the Variable's mode as served.

    A Variable the record cannot take puts for (its display text does not parse back) is RO.
    """
    var = holder.var
    if var.isCommand:
        return "command with argument" if takes_argument(var) else "command"
    return str(var.mode) if holder.writable else "RO"


def _allow_ca_arrays(largest: int) -> None:
    """Let the CA server send the largest record whole (call before ``iocInit``).

    The CA server refuses to send a value larger than ``EPICS_CA_MAX_ARRAY_BYTES`` (16 kB by
    default); it is raised to fit the largest record when set lower. Clients need it as well.
    """
    needed = largest + CA_ARRAY_HEADROOM
    try:
        configured = int(os.environ.get("EPICS_CA_MAX_ARRAY_BYTES", "0"))
    except ValueError:
        configured = 0
    if configured < needed:
        os.environ["EPICS_CA_MAX_ARRAY_BYTES"] = str(needed)
        log.info("EPICS_CA_MAX_ARRAY_BYTES set to %d for the largest record", needed)


def write_whole(fname: str, text: str) -> None:
    """Write ``text`` to ``fname`` so that a reader finds either no file or all of it.

    A regular file is written under a hidden name beside it, then renamed over ``fname`` (a
    client waiting for the dump must never read half a PV list); anything else, such as a pipe
    or ``/dev/stdout``, is written in place.
    """
    if os.path.exists(fname) and not os.path.isfile(fname):
        with open(fname, "w") as out:
            out.write(text)
        return
    folder, name = os.path.split(fname)
    partial = os.path.join(folder, f".{name}.partial")
    try:
        with open(partial, "w") as out:
            out.write(text)
        os.replace(partial, fname)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
