"""Client commands: ``rogue-ioc get|put|monitor PV...`` and ``rogue-ioc list``.

No EPICS command-line tools (caget, pvget, ...) come with rogue-ioc; these do the same jobs with
the client libraries it already carries: pyepics for Channel Access (the default) and p4p for
PV Access (``--pva``). They find PVs the usual way (``EPICS_CA_*`` / ``EPICS_PVA_*``). A put
sends the text as given and lets the IOC check it, so a refused put fails with the IOC's error;
``list`` reads the packed name list the IOC publishes (:mod:`ioc.status`).

Exit codes: 0 done, 1 a PV did not answer or a put was refused.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ioc import namelist
from ioc.naming import CHUNK_NAME, status_name
from ioc.options import seconds
from ioc.validation import parse_number

COMMANDS = ("get", "put", "monitor", "list")
DEFAULT_TIMEOUT = "5"
SEVERITIES = ("NO_ALARM", "MINOR", "MAJOR", "INVALID")


class ClientError(Exception):
    """A PV that did not answer or a put the IOC refused; one line for stderr."""


def add_parsers(commands: Any) -> dict[str, argparse.ArgumentParser]:
    """Add the client subcommands to the ``rogue-ioc`` argument parser; returns them by name
    (``list`` takes the IOC's prefix option from :mod:`ioc.options`)."""

    def common(name: str, helptext: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=helptext)
        parser.add_argument("--pva", action="store_true", help="use PV Access (default: CA)")
        parser.add_argument(
            "--timeout",
            type=seconds,
            default=DEFAULT_TIMEOUT,
            metavar="SECONDS",
            help="how long to wait for each PV (default %(default)s)",
        )
        return parser

    get = common("get", "print the values of PVs")
    get.add_argument("pv", nargs="+", metavar="PV")
    put = common("put", "write a value (several values: an array) to a PV")
    put.add_argument("pv", metavar="PV")
    put.add_argument("values", nargs="+", metavar="VALUE")
    monitor = common("monitor", "print every update of PVs until Ctrl-C")
    monitor.add_argument("pv", nargs="+", metavar="PV")
    monitor.add_argument(
        "--count", type=int, default=0, metavar="N", help="exit after N updates in all"
    )
    listing = common("list", "print the PV names a running IOC serves")
    return {"get": get, "put": put, "monitor": monitor, "list": listing}


def run(opts: argparse.Namespace) -> int:
    """Run the client command in ``opts``; returns the exit code."""
    client = PvaClient(opts.timeout) if opts.pva else CaClient(opts.timeout)
    try:
        if opts.command == "get":
            for pv in opts.pv:
                print(f"{pv} {client.get(pv)}")
        elif opts.command == "put":
            print(f"{opts.pv} {client.put(opts.pv, opts.values)}")
        elif opts.command == "monitor":
            client.monitor(opts.pv, opts.count)
        else:
            print("\n".join(list_names(client, opts.prefix)))
    except ClientError as exc:
        print(f"rogue-ioc {opts.command}: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    return 0


def list_names(client: Any, prefix: str) -> list[str]:
    """The PV names the IOC with ``prefix`` serves, from its packed name list."""
    count = int(client.raw(status_name(prefix, "PvNames:Chunks")))
    expected = int(client.raw(status_name(prefix, "PvCount")))
    chunks = [bytes(client.raw(status_name(prefix, CHUNK_NAME.format(i)))) for i in range(count)]
    try:
        return namelist.unpack(chunks, expected)
    except namelist.NameListError as exc:
        raise ClientError(f"{prefix}: {exc}") from exc


def text_of(value: Any) -> str:
    """A value as one line: arrays space-separated."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return " ".join(str(item) for item in value)
    return str(value)


def _stamp(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds).isoformat(timespec="microseconds")


def _until_interrupted(done: threading.Event, poll: Callable[[], Any] = lambda: None) -> None:
    """Wait until ``done`` is set or SIGINT/SIGTERM arrives, calling ``poll`` meanwhile."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    while not done.wait(0.05):
        poll()


class _Counter:
    """Counts monitor updates; sets ``done`` after ``limit`` (0 = never)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._seen = 0

    def line(self, text: str) -> None:
        with self._lock:
            if self.done.is_set():
                return
            print(text, flush=True)
            self._seen += 1
            if self.limit and self._seen >= self.limit:
                self.done.set()


class CaClient:
    """Channel Access through pyepics, with libca's asynchronous errors collected."""

    def __init__(self, timeout: float) -> None:
        import epics

        self.timeout = timeout
        self._epics = epics
        self._errors: list[str] = []
        epics.ca.initialize_libca()
        libca = epics.ca.libca
        self._message = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_long)(("ca_message", libca))
        self._handler = ctypes.CFUNCTYPE(None, ExceptionArgs)(self._on_exception)
        libca.ca_add_exception_event(self._handler, None)
        self._pvs: dict[str, Any] = {}

    def _on_exception(self, args: ExceptionArgs) -> None:
        message = (self._message(args.stat) or b"").decode()
        context = (args.ctx or b"").decode(errors="replace")
        self._errors.append(f"{message} ({context})" if context else message)

    def _pv(self, name: str) -> Any:
        pv = self._pvs.get(name)
        if pv is None:
            pv = self._pvs[name] = self._epics.PV(name, form="time", auto_monitor=False)
        if not pv.wait_for_connection(timeout=self.timeout):
            raise ClientError(f"{name}: no CA connection within {self.timeout:g} s")
        return pv

    def _textual(self, pv: Any) -> bool:
        return pv.type.endswith(("enum", "string")) or (pv.type.endswith("char") and pv.nelm > 1)

    def raw(self, name: str) -> Any:
        """The value of ``name`` as pyepics returns it."""
        value = self._pv(name).get(use_monitor=False, timeout=self.timeout)
        if value is None:
            raise ClientError(f"{name}: no CA reply within {self.timeout:g} s")
        return value

    def get(self, name: str) -> str:
        """The value of ``name`` as text (enum labels, strings as text)."""
        pv = self._pv(name)
        value = pv.get(use_monitor=False, timeout=self.timeout, as_string=self._textual(pv))
        if value is None:
            raise ClientError(f"{name}: no CA reply within {self.timeout:g} s")
        return text_of(value)

    def put(self, name: str, values: Sequence[str]) -> str:
        """Put ``values`` (as DBR_STRING; words joined into one value when the PV holds text);
        the value after the put."""
        pv = self._pv(name)
        is_text = pv.type.endswith("char") and pv.nelm > 1
        value: Any = " ".join(values) if is_text else (values[0] if len(values) == 1 else values)
        ftype = None if is_text else self._epics.dbr.STRING
        before = len(self._errors)
        self._epics.ca.put(pv.chid, value, wait=False, ftype=ftype)
        # The server answers in order on the circuit: a refused put's error precedes this reply.
        result = self.get(name)
        errors = self._errors[before:]
        if errors:
            raise ClientError(f"{name}: put refused: {'; '.join(errors)}")
        return result

    def monitor(self, names: Sequence[str], count: int) -> None:
        """Print each update of ``names`` until interrupted or ``count`` updates."""
        counter = _Counter(count)
        watched = []
        for name in names:
            textual = self._textual(self._pv(name))

            def show(textual: bool = textual, **kw: Any) -> None:
                value = kw["char_value"] if textual else kw["value"]
                severity = SEVERITIES[kw.get("severity") or 0]
                alarm = "" if severity == "NO_ALARM" else f" {severity}"
                counter.line(f"{kw['pvname']} {_stamp(kw['timestamp'])} {text_of(value)}{alarm}")

            watched.append(self._epics.PV(name, form="time", auto_monitor=True, callback=show))
        # libca delivers this context's events while the main thread polls it.
        _until_interrupted(counter.done, self._epics.ca.poll)
        for pv in watched:
            pv.clear_callbacks()
            pv.disconnect()

    def close(self) -> None:
        for pv in self._pvs.values():
            pv.disconnect()


class ExceptionArgs(ctypes.Structure):
    """libca's ``struct exception_handler_args`` (cadef.h), passed by value to the handler."""

    _fields_ = [
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
    ]


class PvaClient:
    """PV Access through p4p."""

    def __init__(self, timeout: float) -> None:
        from p4p.client.thread import Context

        self.timeout = timeout
        self._context = Context("pva", nt=False)

    def _get(self, name: str) -> Any:
        try:
            return self._context.get(name, timeout=self.timeout)
        except TimeoutError as exc:
            raise ClientError(f"{name}: no PVA reply within {self.timeout:g} s") from exc
        except Exception as exc:  # a remote error is the answer
            raise ClientError(f"{name}: {exc}") from exc

    def raw(self, name: str) -> Any:
        """The ``value`` field of ``name``."""
        return self._get(name)["value"]

    def get(self, name: str) -> str:
        """The value of ``name`` as text (enum labels)."""
        return text_of(_plain(self._get(name)))

    def put(self, name: str, values: Sequence[str]) -> str:
        """Put ``values`` as text (pvxs converts it strictly: "2.5" is no integer); an enum by
        label or index; words joined into one value when the PV holds text. Returns the value
        after the put."""
        current = self._get(name)
        value: Any = values[0] if len(values) == 1 else list(values)
        if isinstance(current["value"], str):
            value = " ".join(values)  # text: the words of one value, as over CA
        elif current.getID().startswith("epics:nt/NTEnum"):
            value = {"index": _enum_index(name, values[0], current["value.choices"])}
        try:
            self._context.put(name, {"value": value}, timeout=self.timeout)
        except TimeoutError as exc:
            raise ClientError(f"{name}: no PVA reply within {self.timeout:g} s") from exc
        except Exception as exc:  # the IOC's refusal
            raise ClientError(f"{name}: put refused: {exc}") from exc
        return self.get(name)

    def monitor(self, names: Sequence[str], count: int) -> None:
        """Print each update of ``names`` until interrupted or ``count`` updates."""
        counter = _Counter(count)
        subscriptions = []
        for name in names:

            def show(value: Any, pvname: str = name) -> None:
                if isinstance(value, Exception):
                    counter.line(f"{pvname} {type(value).__name__}")
                    return
                severity = SEVERITIES[min(value["alarm.severity"], 3)]
                alarm = "" if severity == "NO_ALARM" else f" {severity}"
                stamp = value["timeStamp.secondsPastEpoch"] + value["timeStamp.nanoseconds"] / 1e9
                counter.line(f"{pvname} {_stamp(stamp)} {text_of(_plain(value))}{alarm}")

            subscriptions.append(self._context.monitor(name, show, notify_disconnect=False))
        _until_interrupted(counter.done)
        for subscription in subscriptions:
            subscription.close()

    def close(self) -> None:
        self._context.close()


def _enum_index(name: str, text: str, choices: Sequence[str]) -> int:
    """The index a put of ``text`` (a label or an index) to an enum means."""
    if text in choices:
        return list(choices).index(text)
    number = parse_number(text)
    if isinstance(number, int):
        return number
    raise ClientError(f"{name}: {text!r} is none of {', '.join(choices)}")


def _plain(value: Any) -> Any:
    """The value field of a p4p Value: an enum as its label."""
    if value.getID().startswith("epics:nt/NTEnum"):
        index, choices = value["value.index"], value["value.choices"]
        return choices[index] if 0 <= index < len(choices) else index
    return value["value"]
