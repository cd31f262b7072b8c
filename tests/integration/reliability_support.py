"""Helpers of the reliability tests (test_reliability_*.py), and their client worker processes.

In a test this module gives: CA puts with an explicit wire type (``DBR_DOUBLE``, ``DBR_STRING``)
that wait for the IOC's put error, dedicated IOC processes on ports the test chooses (so a
restart can reuse them), the ``rogue-ioc health`` command run against such an IOC, and readings
of an IOC process from /proc (RSS, open file descriptors, threads).

Run as ``python -m integration.reliability_support WORKER ...`` (with ``tests/`` on PYTHONPATH) it
is one client process of the load test: ``connect`` opens and closes CA and PVA connections in
many threads until a deadline, ``flood`` subscribes many monitors and drives fast-changing PVs.
Each worker prints one JSON line with its counts. Nothing here imports the suite's conftest at
module level: a worker must not inherit the suite's CA client configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .support import GET_TIMEOUT, PUT_TIMEOUT, REPO_TESTS, SOON, wait_for

REPO = Path(__file__).resolve().parents[2]

#: CA field types a test can force on a put (None: the channel's native type).
DBR_STRING, DBR_CHAR, DBR_LONG, DBR_DOUBLE = 0, 4, 5, 6
CA_WIRE_TYPES = {"ca": None, "ca-double": DBR_DOUBLE, "ca-string": DBR_STRING}
#: The status text libca gives a put the server refused (ECA_PUTFAIL).
CA_PUT_FAILED = "Channel write request failed"


# --- CA puts with a chosen wire type --------------------------------------------------------------


def ca_chid(name: str, timeout: float = GET_TIMEOUT) -> Any:
    """A connected pyepics channel id of ``name`` (cached by pyepics per name)."""
    import epics

    chid = epics.ca.create_channel(name, connect=False, auto_cb=True)
    assert epics.ca.connect_channel(chid, timeout=timeout), f"CA: {name} did not connect"
    return chid


def ca_put_refused(errors: Any, name: str, value: Any, ftype: int | None) -> str:
    """A plain CA put of ``value`` sent as ``ftype`` that the IOC must refuse; the CA error text.

    ``errors`` is the suite's ``CaErrors`` (the libca exception handler).
    """
    import epics

    chid = ca_chid(name)
    mark = errors.mark()
    epics.ca.put(chid, value, ftype=ftype)
    found = wait_for(
        lambda: errors.since(mark, name), SOON, f"a CA put error for {name} = {value!r}"
    )
    return found[0][1]


#: libca's status of a successful request.
ECA_NORMAL = 1
#: CA field type → ctypes element type of a put's buffer (as libca sends it, no conversion).
_CA_ELEMENTS = {
    DBR_STRING: ctypes.c_char * 40,
    1: ctypes.c_int16,  # DBR_SHORT
    2: ctypes.c_float,  # DBR_FLOAT
    3: ctypes.c_uint16,  # DBR_ENUM
    DBR_CHAR: ctypes.c_uint8,
    DBR_LONG: ctypes.c_int32,
    DBR_DOUBLE: ctypes.c_double,
}


def _ca_buffer(ftype: int, values: Any) -> Any:
    """The put buffer libca sends: ``values`` (bytes for DBR_CHAR) as ``ftype`` elements."""
    if ftype == DBR_STRING:
        items = [v if isinstance(v, bytes) else str(v).encode() for v in values]
        buffer = (_CA_ELEMENTS[ftype] * len(items))()
        for slot, item in zip(buffer, items, strict=True):
            ctypes.memmove(slot, item, min(len(item), 40))
        return buffer
    return (_CA_ELEMENTS[ftype] * len(values))(*values)


def ca_put_status(name: str, ftype: int, values: Any) -> int:
    """A CA put-callback of exactly ``values`` as ``ftype`` (libca, no pyepics conversion).

    Returns the completion's status (``ECA_NORMAL`` when the server reports success), or the
    status libca refused the put with before sending it (a read-only PV: no write access). A
    put-callback is what ``caput -c`` and pyepics ``put(wait=True)`` send.
    """
    import epics

    chid = ca_chid(name)
    buffer = _ca_buffer(ftype, values)
    done = threading.Event()
    result: dict[str, int] = {}

    def on_done(args: Any) -> None:
        result["status"] = args.status
        done.set()

    handler = epics.dbr.make_callback(on_done, epics.dbr.event_handler_args)
    status = epics.ca.libca.ca_array_put_callback(ftype, len(buffer), chid, buffer, handler, None)
    if status != ECA_NORMAL:
        return status
    epics.ca.flush_io()
    assert done.wait(PUT_TIMEOUT), f"CA put-callback to {name} did not complete"
    return result["status"]


def ca_raw_put(errors: Any, name: str, ftype: int, values: Any, callback: bool) -> str | None:
    """A CA put of exactly ``values`` as ``ftype`` (libca, no pyepics conversion).

    With ``callback`` (a put-callback) returns the completion's error message, or None when the
    server reports success. Without, a plain put that the IOC must refuse: returns the error the
    server reported.
    """
    import epics

    if callback:
        status = ca_put_status(name, ftype, values)
        return None if status == ECA_NORMAL else epics.ca.message(status)
    chid = ca_chid(name)
    buffer = _ca_buffer(ftype, values)
    mark = errors.mark()
    status = epics.ca.libca.ca_array_put(ftype, len(buffer), chid, buffer)
    if status != ECA_NORMAL:  # refused by libca before sending: no write access
        return epics.ca.message(status)
    epics.ca.flush_io()
    found = wait_for(lambda: errors.since(mark, name), SOON, f"a CA put error for {name}")
    return found[0][1]


def ca_put_done(errors: Any, name: str, value: Any, ftype: int | None) -> None:
    """A CA put with completion of ``value`` sent as ``ftype`` that must raise no CA error.

    pyepics does not look at a put-callback's completion status, so a refusal shows only on the
    record: the caller checks the record afterwards (``ca_put_status`` reads the status).
    """
    import epics

    chid = ca_chid(name)
    mark = errors.mark()
    status = epics.ca.put(chid, value, ftype=ftype, wait=True, timeout=PUT_TIMEOUT)
    assert status == 1, f"CA put {name} = {value!r} did not complete (status {status})"
    assert not errors.since(mark, name), errors.since(mark, name)


# --- monitor arrival times ------------------------------------------------------------------------


class Arrivals:
    """When monitor updates of one PV arrived (``time.monotonic()``), for latency checks."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._times: list[float] = []

    def add(self, *args: Any, **kw: Any) -> None:
        """A monitor callback (any signature): notes the arrival."""
        with self._lock:
            self._times.append(time.monotonic())

    def times(self) -> list[float]:
        with self._lock:
            return list(self._times)

    def wait_after(self, moment: float, timeout: float) -> None:
        """Wait until an update has arrived after ``moment``."""
        wait_for(
            lambda: any(t > moment for t in self.times()), timeout, f"an update of {self.name}"
        )

    def gaps(self, start: float, end: float) -> list[float]:
        """Gaps between updates around [start, end]: the last one before it to the first after."""
        times = self.times()
        before = [t for t in times if t <= start][-1:]
        after = [t for t in times if t > end][:1]
        inside = [t for t in times if start < t <= end]
        seq = before + inside + after
        return [b - a for a, b in itertools.pairwise(seq)]


@contextlib.contextmanager
def arrivals(context: Any, name: str) -> Iterator[dict[str, Arrivals]]:
    """CA and PVA monitors of ``name`` that note arrival times; closed afterwards."""
    import epics

    timed = {"ca": Arrivals(f"CA {name}"), "pva": Arrivals(f"PVA {name}")}
    pv = epics.PV(name, auto_monitor=True, callback=timed["ca"].add)
    subscription = context.monitor(name, timed["pva"].add)
    try:
        assert pv.wait_for_connection(timeout=GET_TIMEOUT), f"CA monitor of {name}: no connection"
        yield timed
    finally:
        subscription.close()
        pv.clear_callbacks()
        pv.clear_auto_monitor()


# --- IOC processes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ports:
    """The three ports of one IOC: CA (TCP and UDP), PVA server (TCP) and PVA search (UDP)."""

    ca: int
    pva: int
    pva_udp: int

    def server_env(self) -> dict[str, str]:
        """Environment entries that put an IOC on these PVA ports (the CA port is separate)."""
        return {
            "EPICS_PVA_SERVER_PORT": str(self.pva),
            "EPICS_PVA_BROADCAST_PORT": str(self.pva_udp),
        }

    def client_env(self) -> dict[str, str]:
        """Environment of a CA and PVA client process that reaches only this IOC."""
        return {
            "EPICS_CA_ADDR_LIST": f"127.0.0.1:{self.ca}",
            "EPICS_CA_AUTO_ADDR_LIST": "NO",
            "EPICS_CA_SERVER_PORT": str(self.ca),
            "EPICS_PVA_ADDR_LIST": "127.0.0.1",
            "EPICS_PVA_AUTO_ADDR_LIST": "NO",
            "EPICS_PVA_BROADCAST_PORT": str(self.pva_udp),
        }


def start_dedicated(factory: Any, *args: str, prefix: str | None = None) -> tuple[Any, Ports]:
    """Start an IOC of its own for one test, with PVA ports chosen here; wait until it serves.

    ``factory`` is the suite's ``IocFactory``; it stops the IOC when the module is done.
    """
    from sim.ports import free_ports

    from .conftest import pva_client_conf, wait_ready

    pva, pva_udp = free_ports(2)
    env = {"EPICS_PVA_SERVER_PORT": str(pva), "EPICS_PVA_BROADCAST_PORT": str(pva_udp)}
    ioc = factory.spawn(*args, prefix=prefix, env=env)
    ioc.pva_conf = pva_client_conf(pva_udp)
    wait_ready(ioc, ioc.heartbeat)
    return ioc, Ports(ioc.ca_port, pva, pva_udp)


def restart_on(factory: Any, ports: Ports, prefix: str, *args: str, log_name: str) -> Any:
    """Start an IOC with ``prefix`` on exactly ``ports`` (after the previous one has exited)."""
    from .conftest import READ_PERIOD, pva_client_conf, spawn_ioc, wait_ready

    log_path = factory.tmp / log_name
    command = ["--read-period", READ_PERIOD, *args]
    ioc = spawn_ioc(ports.ca, log_path, command, prefix, ports.server_env())
    ioc.pva_conf = pva_client_conf(ports.pva_udp)
    factory.started.append(ioc)
    wait_ready(ioc, ioc.heartbeat)
    return ioc


def run_health(ports: Ports, prefix: str, timeout: float = 2.0) -> subprocess.CompletedProcess:
    """``python -m ioc health --prefix P`` as a container HEALTHCHECK would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EPICS_CA", "EPICS_PVA"))}
    env |= ports.client_env() | {"PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "ioc", "health", "--prefix", prefix, "--timeout", str(timeout)]
    return subprocess.run(
        command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=90,  # a loaded machine: the command's imports alone can take many seconds
    )  # fmt: skip


# --- /proc readings of a process -----------------------------------------------------------------


def proc_status(pid: int, key: str) -> int:
    """A numeric field of /proc/PID/status (``VmRSS`` in kB, ``Threads``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise KeyError(f"/proc/{pid}/status has no {key}")


def rss_kb(pid: int) -> int:
    return proc_status(pid, "VmRSS")


def thread_count(pid: int) -> int:
    return proc_status(pid, "Threads")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# --- load workers (client subprocesses) -----------------------------------------------------------


def worker_command(
    kind: str, client_env: dict[str, str], *args: str
) -> tuple[list[str], dict[str, str]]:
    """Command line and environment of one worker process with the EPICS settings ``client_env``
    (e.g. ``Ports.client_env()``: only the IOC on those ports)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EPICS_CA", "EPICS_PVA"))}
    env |= client_env | {"PYTHONPATH": REPO_TESTS, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "integration.reliability_support", kind, *args]
    return command, env


def start_worker(
    kind: str, client_env: dict[str, str], log: Path, *args: str, stdin: int = subprocess.DEVNULL
) -> subprocess.Popen:
    command, env = worker_command(kind, client_env, *args)
    with open(log, "wb") as err:
        return subprocess.Popen(
            command, cwd=REPO, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=err,
        )  # fmt: skip


def worker_result(proc: subprocess.Popen, log: Path, timeout: float) -> dict[str, Any]:
    """Wait (bounded) for a worker and return its JSON summary, with its ``returncode``.

    A worker that crashed (killed by a signal: seen rarely, libca/pvxs aborting while 100+ client
    contexts come and go) is reported as such, with or without its summary; one that exited
    without a summary otherwise fails the test.
    """
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"worker {proc.args[3:]} still ran after {timeout:g} s") from None
    lines = [line for line in out.decode(errors="replace").splitlines() if line.startswith("{")]
    if not lines and proc.returncode < 0:
        # Killed by a signal: the client libraries aborted (heap corruption in libca/pvxs client
        # teardown, rare). That is the client's failure; the test still checks the IOC.
        print(f"worker {proc.args[3:]} crashed ({proc.returncode}):", log.read_text()[-500:])
        return {"returncode": proc.returncode}
    assert lines, (
        f"worker {proc.args[3:]} exited with {proc.returncode} and no summary:\n"
        + log.read_text(errors="replace")[-3000:]
    )
    return json.loads(lines[-1]) | {"returncode": proc.returncode}


class _Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[str, int] = {}

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.values[key] = self.values.get(key, 0) + n


def _libca() -> Any:
    """libca through ctypes, with the signatures the connect worker uses."""
    import epics.ca

    lib = ctypes.CDLL(epics.ca.find_libca())
    lib.ca_context_create.argtypes = [ctypes.c_int]
    lib.ca_create_channel.argtypes = [
        ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint,
        ctypes.POINTER(ctypes.c_void_p),
    ]  # fmt: skip
    lib.ca_pend_io.argtypes = [ctypes.c_double]
    lib.ca_array_get.argtypes = [ctypes.c_long, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_void_p]
    lib.ca_clear_channel.argtypes = [ctypes.c_void_p]
    return lib


#: Creating and destroying client contexts is serialised within a worker: libca and p4p/pvxs
#: clients doing it from many threads at once were seen to corrupt their heap (a client-side
#: crash, the IOC unaffected). The connections themselves still overlap.
_CONTEXT_LIFECYCLE = threading.Lock()


def _ca_connections(lib: Any, name: bytes, deadline: float, counts: _Counts) -> None:
    """One thread: a CA context of its own (its own TCP circuit), opened and closed in a loop."""
    while time.monotonic() < deadline:
        with _CONTEXT_LIFECYCLE:
            lib.ca_context_create(1)
        chid = ctypes.c_void_p()
        ok = False
        try:
            lib.ca_create_channel(name, None, None, 0, ctypes.byref(chid))
            if lib.ca_pend_io(5.0) == 1:
                value = ctypes.c_double()
                lib.ca_array_get(DBR_DOUBLE, 1, chid, ctypes.byref(value))
                ok = lib.ca_pend_io(5.0) == 1
        finally:
            if chid.value:
                lib.ca_clear_channel(chid)
            with _CONTEXT_LIFECYCLE:
                lib.ca_context_destroy()
        counts.add("ca_ok" if ok else "ca_failed")


def _pva_connections(conf: dict[str, str], name: str, deadline: float, counts: _Counts) -> None:
    """One thread: a p4p Context of its own (its own TCP connection), opened and closed again."""
    from p4p.client.thread import Context  # imported by connect_worker before the threads start

    while time.monotonic() < deadline:
        with _CONTEXT_LIFECYCLE:
            context = Context("pva", conf=conf, useenv=False)
        try:
            context.get(name, timeout=5.0)
            counts.add("pva_ok")
        except Exception:  # counted: the summary says how many failed
            counts.add("pva_failed")
        finally:
            with _CONTEXT_LIFECYCLE:
                context.close()


def connect_worker(opts: argparse.Namespace) -> dict[str, Any]:
    """``opts.ca`` + ``opts.pva`` threads, each connecting and disconnecting until the deadline."""
    counts = _Counts()
    conf = _pva_conf()
    lib = _libca() if opts.ca else None
    if opts.pva:
        from p4p.client.thread import Context

        Context("pva", conf=conf, useenv=False).close()  # one-time start-up, before the clock
    deadline = time.monotonic() + opts.seconds
    threads = [
        threading.Thread(target=_ca_connections, args=(lib, opts.pv.encode(), deadline, counts))
        for _ in range(opts.ca)
    ] + [
        threading.Thread(target=_pva_connections, args=(conf, opts.pv, deadline, counts))
        for _ in range(opts.pva)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(opts.seconds + 30)
    counts.values["threads_left"] = sum(thread.is_alive() for thread in threads)
    return counts.values


def _pva_conf() -> dict[str, str]:
    return {key: os.environ[key] for key in os.environ if key.startswith("EPICS_PVA")}


def flood_worker(opts: argparse.Namespace) -> dict[str, Any]:
    """Many CA and PVA monitors on fast-changing PVs while this process changes them.

    ``opts.write`` (an integer PV) is put to increasing values as fast as the IOC completes the
    puts, for ``opts.seconds``. Every monitor of a ``opts.follow`` PV (the written one, or one the
    tree sets from it) must see increasing values only and end with the last one; monitors of the
    other ``opts.monitor`` PVs just keep flowing.
    """
    import epics
    from p4p.client.thread import Context

    counts = _Counts()
    lock = threading.Lock()
    last: dict[tuple[str, str, int], Any] = {}
    backwards: list[tuple[str, Any, Any]] = []
    errors: list[str] = []
    context = Context("pva", conf=_pva_conf(), useenv=False)
    writer = Context("pva", conf=_pva_conf(), useenv=False)

    def note(key: tuple[str, str, int], value: Any) -> None:
        with lock:
            previous = last.get(key)
            last[key] = value
            if key[1] in opts.follow and previous is not None and value < previous:
                backwards.append((f"{key[0]} {key[1]}", previous, value))
        counts.add(f"{key[0]}_updates")

    def on_pva(key: tuple[str, str, int]) -> Callable[[Any], None]:
        def on_update(value: Any) -> None:
            if isinstance(value, Exception):
                counts.add("pva_errors")
                errors.append(f"{key}: {type(value).__name__}: {value}")
            else:
                note(key, value.raw["value"])

        return on_update

    def on_ca(key: tuple[str, str, int]) -> Callable[..., None]:
        def on_update(value: Any = None, **kw: Any) -> None:
            note(key, value)

        return on_update

    names = list(dict.fromkeys([*opts.monitor, *opts.follow]))
    subscriptions, ca_pvs = [], []
    for i in range(opts.per_pv):
        for name in names:
            subscriptions.append(context.monitor(name, on_pva(("pva", name, i))))
            ca_pvs.append(epics.PV(name, auto_monitor=True, callback=on_ca(("ca", name, i))))
    for pv in ca_pvs:
        if not pv.wait_for_connection(timeout=10):
            raise SystemExit(f"CA monitor of {pv.pvname} did not connect")
    # Give every monitor its first value before the writing starts (bounded wait).
    everyone = [(p, n, i) for p in ("pva", "ca") for n in names for i in range(opts.per_pv)]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(k not in last for k in everyone):
        time.sleep(0.05)  # polls the callbacks' results until the deadline
    # Start above every value the followers show now (RoInt starts as a different value).
    value = max(int(writer.get(name, timeout=10)) for name in [opts.write, *opts.follow])
    started = time.monotonic()
    for _ in range(opts.puts):
        value += 1
        writer.put(opts.write, value, wait=True, timeout=10)
        counts.add("puts")
        if time.monotonic() - started > opts.seconds:
            break
    counts.values["put_ms"] = int((time.monotonic() - started) * 1000)
    followers = [(p, n, i) for p in ("pva", "ca") for n in opts.follow for i in range(opts.per_pv)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(k in last and last[k] != value for k in followers):
        time.sleep(0.05)  # polls the callbacks' results until the deadline
    # silent: never delivered anything; stale: delivered, but not the last value
    silent = [k for k in everyone if k not in last]
    stale = [k for k in followers if k in last and last[k] != value]
    counts.values |= {
        "monitors": len(everyone),
        "last_value": value,
        "silent_pva": sum(k[0] == "pva" for k in silent),
        "silent_ca": sum(k[0] == "ca" for k in silent),
        "silent": [f"{p} {n} #{i}" for p, n, i in silent[:10]],
        "stale_monitors": len(stale),
        "stale": [f"{p} {n} #{i}: {last[(p, n, i)]!r}" for p, n, i in stale[:10]],
        "out_of_order": len(backwards),
        "backwards": [f"{k}: {a!r} then {b!r}" for k, a, b in backwards[:10]],
        "errors": errors[:10],
    }
    for subscription in subscriptions:
        subscription.close()
    for pv in ca_pvs:
        pv.clear_callbacks()
        pv.disconnect()
    context.close()
    writer.close()
    return counts.values


def watch_worker(opts: argparse.Namespace) -> dict[str, Any]:
    """Hold a CA and a PVA monitor of ``opts.pv`` until stdin closes; one JSON line per event.

    Events: ``{"kind": "ca"|"pva", "value": ...}`` for updates, ``"ca-connection"`` /
    ``"pva-error"`` for connection changes, each with ``"t"`` (``time.time()``).
    """
    import epics
    from p4p.client.thread import Context

    lock = threading.Lock()

    def event(kind: str, value: Any) -> None:
        with lock:
            print(json.dumps({"kind": kind, "value": value, "t": time.time()}), flush=True)

    def on_pva(value: Any) -> None:
        if isinstance(value, Exception):
            event("pva-error", type(value).__name__)
        else:
            event("pva", int(value.raw["value"]))

    context = Context("pva", conf=_pva_conf(), useenv=False)
    subscription = context.monitor(opts.pv, on_pva, notify_disconnect=True)
    pv = epics.PV(
        opts.pv,
        auto_monitor=True,
        callback=lambda value=None, **kw: event("ca", int(value)),
        connection_callback=lambda conn=None, **kw: event("ca-connection", bool(conn)),
    )
    sys.stdin.read()  # the test closes stdin to end the watch
    subscription.close()
    pv.clear_callbacks()
    pv.disconnect()
    context.close()
    return {"watched": opts.pv}


def probe_worker(opts: argparse.Namespace) -> dict[str, Any]:
    """A new client: one CA and one PVA get of ``opts.pv`` (names found by search)."""
    import epics
    from p4p.client.thread import Context

    result: dict[str, Any] = {}
    value = epics.caget(opts.pv, timeout=opts.timeout, connection_timeout=opts.timeout)
    result["ca"] = value is not None
    with Context("pva", conf=_pva_conf(), useenv=False) as context:
        try:
            context.get(opts.pv, timeout=opts.timeout)
            result["pva"] = True
        except Exception as error:  # any failure of the get: the client did not find the IOC
            result["pva"] = False
            result["pva_error"] = f"{type(error).__name__}: {error}"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reliability_support")
    workers = parser.add_subparsers(dest="worker", required=True)
    connect = workers.add_parser("connect", help="open and close CA and PVA connections")
    connect.add_argument("--pv", required=True)
    connect.add_argument("--ca", type=int, default=50, help="threads with a CA context each")
    connect.add_argument("--pva", type=int, default=50, help="threads with a p4p Context each")
    connect.add_argument("--seconds", type=float, default=20.0)
    flood = workers.add_parser("flood", help="many monitors on PVs this process writes")
    flood.add_argument("--write", required=True, help="the integer PV to put rising values to")
    flood.add_argument("--follow", action="append", default=[], help="PVs that follow --write")
    flood.add_argument("--monitor", action="append", default=[], help="other PVs to monitor")
    flood.add_argument("--per-pv", type=int, default=20, help="monitors per PV and protocol")
    flood.add_argument("--puts", type=int, default=100_000)
    flood.add_argument("--seconds", type=float, default=15.0)
    watch = workers.add_parser("watch", help="CA and PVA monitors of one PV until stdin closes")
    watch.add_argument("--pv", required=True)
    probe = workers.add_parser("probe", help="a new client's CA and PVA get of one PV")
    probe.add_argument("--pv", required=True)
    probe.add_argument("--timeout", type=float, default=5.0)
    opts = parser.parse_args(argv)
    run = {
        "connect": connect_worker,
        "flood": flood_worker,
        "watch": watch_worker,
        "probe": probe_worker,
    }[opts.worker]
    print(json.dumps(run(opts)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
