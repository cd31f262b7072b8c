"""Fixtures of the end-to-end suite: rogue-ioc processes and real CA (pyepics) / PVA (p4p) clients.

Local mode (default): the session IOC is ``python -m ioc`` serving the simulator, started here on
free ports with a random prefix; its log goes to a file the tests can check.
Remote mode (``IOC_TEST_PREFIX`` set, e.g. in the compose ``tests`` service): the IOC already runs
elsewhere; the suite uses that prefix and the ``EPICS_*`` environment as given, and tests that need
the IOC's log or files skip those checks.

Some tests start extra IOCs (group filtering, pvMap, custom Roots) with ``ioc_factory``. pyepics
reads its environment once, when libca starts, so the CA search list is fixed at import time: it
names the session IOC and a small pool of ports reserved for the extra IOCs. PVA clients are
p4p Contexts configured per IOC.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sim.ports import free_ports

from .support import (
    GET_TIMEOUT,
    PUT_TIMEOUT,
    REPO_TESTS,
    SEVERITIES,
    SOON,
    STATUSES,
    Update,
    Updates,
    wait_for,
)

REPO = Path(__file__).resolve().parents[2]
REMOTE_PREFIX = os.environ.get("IOC_TEST_PREFIX") or None
#: How many extra IOCs one session may start (each needs a CA port known to pyepics up front).
EXTRA_IOCS = 48
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
READ_PERIOD = "0.5"


def _configure_ca_client() -> tuple[int | None, list[int]]:
    """Point pyepics at the session IOC and the extra-IOC pool; returns (session port, pool)."""
    session_port = None if REMOTE_PREFIX else free_ports(1)[0]
    pool = free_ports(EXTRA_IOCS)
    local = " ".join(
        f"127.0.0.1:{port}" for port in ([session_port] if session_port else []) + pool
    )
    if REMOTE_PREFIX:
        given = os.environ.get("EPICS_CA_ADDR_LIST", "")
        os.environ["EPICS_CA_ADDR_LIST"] = f"{given} {local}".strip()
    else:
        for key in ("EPICS_CA_NAME_SERVERS", "EPICS_PVA_NAME_SERVERS"):
            os.environ.pop(key, None)
        os.environ["EPICS_CA_ADDR_LIST"] = local
        os.environ["EPICS_CA_AUTO_ADDR_LIST"] = "NO"
    return session_port, pool


# Must run before libca starts (pyepics reads the environment once).
SESSION_CA_PORT, CA_PORT_POOL = _configure_ca_client()
# Values over 16 kB (the Root's SystemLog, stream frames) need a CA client limit to match.
os.environ.setdefault("EPICS_CA_MAX_ARRAY_BYTES", "10000000")

import epics  # noqa: E402
from p4p.client.thread import Context, RemoteError  # noqa: E402

# --- CA put errors ------------------------------------------------------------------------------


class _ExceptionArgs(ctypes.Structure):
    """``struct exception_handler_args`` of cadef.h (passed by value to the handler)."""

    _fields_ = (
        ("usr", ctypes.c_void_p),
        ("chid", ctypes.c_void_p),
        ("type", ctypes.c_long),
        ("count", ctypes.c_long),
        ("addr", ctypes.c_void_p),
        ("stat", ctypes.c_long),
        ("op", ctypes.c_long),
        ("ctx", ctypes.c_char_p),
        ("pFile", ctypes.c_char_p),
        ("lineNo", ctypes.c_uint),
    )


class CaErrors:
    """Errors the CA server reports asynchronously (a refused plain put: ECA_PUTFAIL).

    pyepics installs no libca exception handler, so without this a refused put is only a line
    libca prints on stderr. Each entry is (channel name, status message, context text).
    """

    def __init__(self) -> None:
        epics.ca.initialize_libca()
        epics.ca.use_initial_context()
        libca = epics.ca.libca
        self._lock = threading.Lock()
        self._events: list[tuple[str, str, str]] = []
        self._ca_name = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_void_p)(("ca_name", libca))
        self._ca_message = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_long)(("ca_message", libca))
        self._handler = ctypes.CFUNCTYPE(None, _ExceptionArgs)(self._on_exception)
        status = libca.ca_add_exception_event(self._handler, None)
        assert status == 1, f"ca_add_exception_event failed with status {status}"

    def _on_exception(self, args: _ExceptionArgs) -> None:
        name = self._ca_name(args.chid).decode() if args.chid else ""
        message = (self._ca_message(args.stat) or b"").decode()
        context = (args.ctx or b"").decode(errors="replace")
        with self._lock:
            self._events.append((name, message, context))

    def mark(self) -> int:
        with self._lock:
            return len(self._events)

    def since(self, mark: int, name: str) -> list[tuple[str, str, str]]:
        with self._lock:
            return [e for e in self._events[mark:] if e[0] == name or name in e[2]]


# --- clients ------------------------------------------------------------------------------------


class CaClient:
    """Channel Access through pyepics: gets without the monitor cache, puts, monitors."""

    def __init__(self, errors: CaErrors) -> None:
        self.errors = errors
        self._monitors: list[epics.PV] = []
        self._probes: list[epics.PV] = []
        self._unmonitored: dict[str, epics.PV] = {}

    def get(self, name: str, as_string: bool = False, timeout: float = GET_TIMEOUT) -> Any:
        """A fresh CA get (not a cached monitor value); fails when the PV does not answer.

        The channel is one of this client's own, without a monitor: pyepics asks a monitored
        channel for as many elements as its last update carried, so a string that just grew would
        read back cut to its old length until the monitor caught up.
        """
        channel = self._unmonitored.get(name)
        if channel is None:
            channel = epics.PV(name, auto_monitor=False, connection_timeout=timeout)
            self._unmonitored[name] = channel
        value = None
        if channel.wait_for_connection(timeout=timeout):
            if as_string:
                channel.get_ctrlvars(timeout=timeout)
            value = channel.get(as_string=as_string, use_monitor=False, timeout=timeout)
        assert value is not None, f"CA get of {name} got no answer within {timeout:g} s"
        return value

    def text(self, name: str) -> str:
        """A string PV (a char waveform on CA) as text."""
        return self.get(name, as_string=True)

    def alarm(self, name: str) -> tuple[str, str]:
        """(STAT, SEVR) of the record behind ``name``, e.g. ('HIHI', 'MAJOR')."""
        # A CA enum carries at most 16 strings: STAT values from UDF (17) on come as numbers.
        status = STATUSES[int(self.get(f"{name}.STAT"))]
        return status, SEVERITIES[int(self.get(f"{name}.SEVR"))]

    def put(self, name: str, value: Any, timeout: float = PUT_TIMEOUT) -> None:
        """A put with completion (CA put-callback); returns when the IOC reports it done."""
        mark = self.errors.mark()
        result = epics.caput(name, value, wait=True, timeout=timeout, connection_timeout=timeout)
        assert result == 1, f"CA put {name} = {value!r} did not complete (result {result!r})"
        assert not self.errors.since(mark, name), self.errors.since(mark, name)

    def put_nowait(self, name: str, value: Any) -> None:
        """A plain CA put (no completion): it is queued on the channel and this returns."""
        epics.caput(name, value, wait=False, connection_timeout=GET_TIMEOUT)

    def put_refused(self, name: str, value: Any, timeout: float = SOON) -> str:
        """A plain CA put that the IOC must refuse; returns the CA error message."""
        mark = self.errors.mark()
        epics.caput(name, value, wait=False, connection_timeout=timeout)
        errors = wait_for(
            lambda: self.errors.since(mark, name), timeout, f"a CA put error for {name}={value!r}"
        )
        return errors[0][1]

    def connects(self, name: str, timeout: float) -> bool:
        """True when ``name`` connects within ``timeout`` seconds."""
        pv = epics.PV(name, auto_monitor=False, connection_timeout=timeout)
        self._probes.append(pv)
        return pv.wait_for_connection(timeout=timeout)

    def monitor(self, name: str, text: bool = False) -> Updates:
        """Subscribe to ``name``; every update lands in the returned queue."""
        updates = Updates(f"CA {name}")

        def on_update(value: Any = None, char_value: Any = None, **kw: Any) -> None:
            if text:
                value = char_value
            elif hasattr(value, "tolist"):
                value = value.tolist()
            updates.add(Update(value, SEVERITIES[kw["severity"]], STATUSES[kw["status"]]))

        pv = epics.PV(name, form="time", auto_monitor=True, callback=on_update)
        self._monitors.append(pv)
        assert pv.wait_for_connection(timeout=GET_TIMEOUT), f"CA monitor of {name}: no connection"
        return updates

    def close(self) -> None:
        for pv in self._monitors:
            pv.clear_callbacks()
            pv.clear_auto_monitor()
        for pv in [*self._probes, *self._unmonitored.values()]:
            pv.disconnect()
        self._monitors.clear()
        self._probes.clear()
        self._unmonitored.clear()


def pva_value(value: Any) -> Any:
    """A p4p (NT-wrapped) value as a plain one: enum → index, array → list, str, number."""
    raw = value.raw
    if raw.getID().startswith("epics:nt/NTEnum"):
        return raw["value.index"]
    plain = raw["value"]
    return plain.tolist() if hasattr(plain, "tolist") else plain


def pva_update(value: Any) -> Update:
    raw = value.raw
    message = raw["alarm.message"] or "NO_ALARM"
    return Update(pva_value(value), SEVERITIES[raw["alarm.severity"]], message)


def _pva_put_value(value: Any) -> Any:
    """What to hand p4p's put for ``value``.

    p4p parses a str that starts with '{' as JSON for the whole structure; text like a dict's
    display string "{'a': 1}" must be put into the value field explicitly.
    """
    if isinstance(value, str) and value.lstrip().startswith("{"):
        return {"value": value}
    return value


class PvaClient:
    """PV Access through a p4p Context: gets, puts with completion, monitors."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self._subscriptions: list[Any] = []

    def raw(self, name: str, timeout: float = GET_TIMEOUT) -> Any:
        """The whole structure of ``name`` (value, alarm, display, control, valueAlarm ...)."""
        return self.context.get(name, timeout=timeout).raw

    def get(self, name: str, timeout: float = GET_TIMEOUT) -> Any:
        """The plain value of ``name`` (see ``pva_value``)."""
        return pva_value(self.context.get(name, timeout=timeout))

    def alarm(self, name: str) -> tuple[str, str]:
        """(status message, severity) as EPICS names, e.g. ('HIHI', 'MAJOR')."""
        update = pva_update(self.context.get(name, timeout=GET_TIMEOUT))
        return update.status, update.severity

    def put(self, name: str, value: Any, timeout: float = PUT_TIMEOUT) -> None:
        """A put that waits for completion; fails on any error."""
        self.context.put(name, _pva_put_value(value), timeout=timeout, wait=True)

    def put_refused(self, name: str, value: Any, timeout: float = PUT_TIMEOUT) -> str:
        """A plain put (no ``wait``) the IOC must refuse; returns the client's error message.

        A PVA put with ``wait=True`` (``record[block=true]``) reports success even when the
        record's validation refuses the value (QSRV2 completes it whatever the processing
        decided), so refusals are checked with the plain put that clients use by default.
        """
        try:
            self.context.put(name, _pva_put_value(value), timeout=timeout)
        except RemoteError as error:
            return str(error)
        raise AssertionError(f"PVA put {name} = {value!r} was accepted")

    def answers(self, name: str, timeout: float) -> bool:
        """True when a get of ``name`` is answered within ``timeout`` seconds."""
        try:
            self.context.get(name, timeout=timeout)
        except TimeoutError:
            return False
        return True

    def monitor(self, name: str) -> Updates:
        """Subscribe to ``name``; every update lands in the returned queue."""
        updates = Updates(f"PVA {name}")

        def on_update(value: Any) -> None:
            if isinstance(value, Exception):
                return
            updates.add(pva_update(value))

        self._subscriptions.append(self.context.monitor(name, on_update, notify_disconnect=False))
        return updates

    def close(self) -> None:
        for subscription in self._subscriptions:
            subscription.close()
        self._subscriptions.clear()


# --- IOC processes ------------------------------------------------------------------------------


def random_prefix() -> str:
    return f"T{secrets.token_hex(4).upper()}"


class Ioc:
    """One IOC the suite talks to: a subprocess it started, or the remote one."""

    def __init__(
        self,
        prefix: str,
        pva_conf: dict[str, str] | None,
        proc: subprocess.Popen | None = None,
        log_path: Path | None = None,
        ca_port: int | None = None,
        dump_path: Path | None = None,
    ) -> None:
        self.prefix = prefix
        self.pva_conf = pva_conf
        self.proc = proc
        self.log_path = log_path
        self.ca_port = ca_port
        self.dump_path = dump_path
        self._context: Context | None = None

    @property
    def local(self) -> bool:
        return self.proc is not None

    def pv(self, path: str) -> str:
        """Full PV name of a path below the Root: 'Types.UInt32' → <P>:root:Types:UInt32."""
        return f"{self.prefix}:root:{path.replace('.', ':')}"

    @property
    def heartbeat(self) -> str:
        return f"{self.prefix}:IOC:Heartbeat"

    def context(self) -> Context:
        """The p4p client Context that reaches this IOC."""
        if self._context is None:
            if self.pva_conf is None:
                self._context = Context("pva")
            else:
                self._context = Context("pva", conf=self.pva_conf, useenv=False)
        return self._context

    # --- log -----------------------------------------------------------------------------------

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def log_mark(self) -> int:
        """A position in the log; ``assert_logged`` looks only at what comes after it."""
        return len(self.log_text())

    def assert_logged(self, mark: int, *needles: str, timeout: float = SOON) -> str:
        """Wait for one log line after ``mark`` holding every needle; skipped in remote mode."""
        if not self.local:
            return ""

        def line() -> str | None:
            for text in self.log_text()[mark:].splitlines():
                if all(needle in text for needle in needles):
                    return text
            return None

        return wait_for(line, timeout, f"a log line of {self.prefix} containing {needles}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    # --- lifetime ------------------------------------------------------------------------------

    def check_alive(self) -> bool:
        """Raise (do not wait further) when the process has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                f"IOC {self.prefix} exited with code {self.proc.returncode}:\n{self.log_tail()}"
            )
        return True

    def stop(self, sig: int = signal.SIGINT) -> int | None:
        """Stop the process (signal, then terminate, then kill, each bounded); its exit code."""
        if self._context is not None:
            self._context.close()
            self._context = None
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        return self.proc.returncode


def ioc_environment(ca_port: int, pva_port: int, pva_udp_port: int) -> dict[str, str]:
    """The environment of an IOC subprocess: private ports, loopback-only search and beacons."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EPICS_CA", "EPICS_PVA", "IOC_"))
    }
    env.update(
        EPICS_CA_SERVER_PORT=str(ca_port),
        EPICS_CA_ADDR_LIST="127.0.0.1",
        EPICS_CA_AUTO_ADDR_LIST="NO",
        EPICS_PVA_SERVER_PORT=str(pva_port),
        EPICS_PVA_BROADCAST_PORT=str(pva_udp_port),
        EPICS_PVA_ADDR_LIST="127.0.0.1",
        EPICS_PVA_AUTO_ADDR_LIST="NO",
        PYTHONUNBUFFERED="1",
    )
    return env


def pva_client_conf(pva_udp_port: int) -> dict[str, str]:
    """p4p client configuration that searches only this host's IOC on ``pva_udp_port``."""
    return {
        "EPICS_PVA_ADDR_LIST": "127.0.0.1",
        "EPICS_PVA_AUTO_ADDR_LIST": "NO",
        "EPICS_PVA_BROADCAST_PORT": str(pva_udp_port),
    }


def spawn_ioc(
    ca_port: int, log_path: Path, args: list[str], prefix: str, env_extra: dict[str, str]
) -> Ioc:
    """Start ``python -m ioc`` on ``ca_port`` and fresh PVA ports (not waiting for it)."""
    pva_port, pva_udp_port = free_ports(2)
    env = ioc_environment(ca_port, pva_port, pva_udp_port) | env_extra
    command = [sys.executable, "-m", "ioc", "--prefix", prefix, "--log-level", "INFO", *args]
    with open(log_path, "wb") as log:
        log.write(f"$ {' '.join(command)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    dump = Path(args[args.index("--dump") + 1]) if "--dump" in args else None
    return Ioc(prefix, pva_client_conf(pva_udp_port), proc, log_path, ca_port, dump)


def wait_ready(ioc: Ioc, ready_pv: str, timeout: float = START_TIMEOUT) -> None:
    """Wait until ``ready_pv`` answers a CA and a PVA get, and a local IOC's ``--dump`` file is
    there (written once the IOC serves, so after the PVs answer); give up early if it exits."""
    deadline = time.monotonic() + timeout

    def remaining() -> float:
        return max(deadline - time.monotonic(), 0.1)

    def listening() -> bool:
        ioc.check_alive()
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", ioc.ca_port), timeout=0.2),
        ):
            return True
        return False

    if ioc.local:
        wait_for(listening, remaining(), f"IOC {ioc.prefix} to listen on CA port {ioc.ca_port}")

    def ca_answers() -> bool:
        ioc.check_alive()
        value = epics.caget(ready_pv, use_monitor=False, timeout=1.0, connection_timeout=1.0)
        return value is not None

    wait_for(ca_answers, remaining(), f"a CA get of {ready_pv}")

    def pva_answers() -> bool:
        ioc.check_alive()
        try:
            ioc.context().get(ready_pv, timeout=1.0)
        except TimeoutError:
            return False
        return True

    wait_for(pva_answers, remaining(), f"a PVA get of {ready_pv}")
    if ioc.local and ioc.dump_path is not None:
        dump = ioc.dump_path
        wait_for(lambda: ioc.check_alive() and dump.exists(), remaining(), f"the dump {dump}")


def can_start_iocs() -> str | None:
    """Why this host cannot start IOC subprocesses, or None when it can."""
    if not (REPO / "ioc" / "__main__.py").exists():
        return f"no ioc package in {REPO}"
    if importlib.util.find_spec("softioc") is None:
        return "softioc is not installed here"
    return None


class IocFactory:
    """Starts extra IOCs for one test module and stops them when the module is done."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[Ioc] = []

    def start(
        self,
        *args: str,
        prefix: str | None = None,
        ready_pv: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Ioc:
        """Start ``python -m ioc --prefix P ARGS...`` and wait until ``ready_pv`` answers.

        ``ready_pv`` defaults to the heartbeat ``<P>:IOC:Heartbeat``.
        """
        ioc = self.spawn(*args, prefix=prefix, env=env)
        wait_ready(ioc, ready_pv or ioc.heartbeat)
        return ioc

    def spawn(
        self, *args: str, prefix: str | None = None, env: dict[str, str] | None = None
    ) -> Ioc:
        """Start an IOC without waiting for it."""
        reason = can_start_iocs()
        if reason:
            pytest.skip(f"cannot start extra IOCs: {reason}")
        if not CA_PORT_POOL:
            raise RuntimeError(
                f"all {EXTRA_IOCS} CA ports for extra IOCs are used; raise EXTRA_IOCS"
            )
        prefix = prefix or random_prefix()
        log_path = self.tmp / f"ioc-{prefix}.log"
        ioc = spawn_ioc(
            CA_PORT_POOL.pop(0), log_path, ["--read-period", READ_PERIOD, *args], prefix, env or {}
        )
        self.started.append(ioc)
        return ioc

    def run(
        self, *args: str, timeout: float = START_TIMEOUT, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """Run an IOC that is expected to exit by itself (a configuration error)."""
        ioc = self.spawn(*args, env=env)
        try:
            ioc.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            ioc.stop()
            raise AssertionError(f"IOC {' '.join(args)} kept running:\n{ioc.log_tail()}") from None
        return subprocess.CompletedProcess(ioc.proc.args, ioc.proc.returncode, ioc.log_text(), "")

    def stop_all(self) -> None:
        for ioc in self.started:
            ioc.stop()
        self.started.clear()


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ca_errors() -> CaErrors:
    return CaErrors()


@pytest.fixture(scope="session")
def ioc(tmp_path_factory: pytest.TempPathFactory, ca_errors: CaErrors) -> Iterator[Ioc]:
    """The IOC serving the simulator that most tests use."""
    if REMOTE_PREFIX:
        remote = Ioc(REMOTE_PREFIX, None)
        wait_ready(remote, remote.heartbeat)
        yield remote
        remote.stop()
        return
    reason = can_start_iocs()
    if reason:
        pytest.fail(f"cannot start the IOC ({reason}); set IOC_TEST_PREFIX to use a running one")
    tmp = tmp_path_factory.mktemp("session-ioc")
    dump_path = tmp / "dump.txt"
    prefix = random_prefix()
    args = ["--read-period", READ_PERIOD, "--dump", str(dump_path)]
    started = spawn_ioc(SESSION_CA_PORT, tmp / "ioc.log", args, prefix, {})
    try:
        wait_ready(started, started.heartbeat)
        yield started
    finally:
        code = started.stop()
        print(f"\nsession IOC {prefix} exited with code {code}; log {started.log_path}")


@pytest.fixture(scope="module")
def ioc_factory(
    tmp_path_factory: pytest.TempPathFactory, ca_errors: CaErrors
) -> Iterator[IocFactory]:
    factory = IocFactory(tmp_path_factory.mktemp("extra-iocs"))
    yield factory
    factory.stop_all()


@pytest.fixture
def ca(ca_errors: CaErrors) -> Iterator[CaClient]:
    client = CaClient(ca_errors)
    yield client
    client.close()


@pytest.fixture
def pva(ioc: Ioc) -> Iterator[PvaClient]:
    client = PvaClient(ioc.context())
    yield client
    client.close()


@pytest.fixture
def pva_of() -> Iterator[Any]:
    """``pva_of(ioc)``: a PvaClient for an extra IOC (closed after the test)."""
    clients: list[PvaClient] = []

    def make(target: Ioc) -> PvaClient:
        client = PvaClient(target.context())
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def edge_ioc(tmp_path_factory: pytest.TempPathFactory, ca_errors: CaErrors) -> Iterator[Ioc]:
    """An extra IOC serving ``integration.roots:EdgeRoot`` (edge cases the simulator lacks)."""
    factory = IocFactory(tmp_path_factory.mktemp("edge-ioc"))
    try:
        yield factory.start("--root", "integration.roots:EdgeRoot", env={"PYTHONPATH": REPO_TESTS})
    finally:
        factory.stop_all()
