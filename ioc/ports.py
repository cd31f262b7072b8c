"""The IOC's TCP ports: are they free before start-up, who holds a taken one, which are bound.

EPICS falls back to a random port when its configured TCP port is taken (the CA server and
the PVA server alike): a second IOC then starts anyway and answers for the same names. The IOC
checks the configured ports first and refuses to start unless told to accept the fallback, and
reports the ports it really bound, read from its own listening sockets in ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Protocol → (environment variables naming its server TCP port, first wins; EPICS default).
PORT_SETTINGS = {
    "CA": (("EPICS_CAS_SERVER_PORT", "EPICS_CA_SERVER_PORT"), 5064),
    "PVA": (("EPICS_PVAS_SERVER_PORT", "EPICS_PVA_SERVER_PORT"), 5075),
}
#: Protocol → the variable listing the interfaces its server binds (all when unset).
INTERFACE_SETTINGS = {"CA": "EPICS_CAS_INTF_ADDR_LIST", "PVA": "EPICS_PVAS_INTF_ADDR_LIST"}
LISTEN = "0A"
"""TCP state LISTEN in /proc/net/tcp."""
SHOWN_COMMAND = 80
"""A holder's command line is shown up to this many characters (then '...')."""
PVA_MAGIC = 0xCA
PVA_SET_BYTE_ORDER = 2


class PortTaken(Exception):
    """A configured server port another process holds; the message is one line."""


@dataclass(frozen=True)
class Socket:
    """One TCP socket from /proc/net/tcp[6]: local address and port, state (hex), inode."""

    address: str
    port: int
    state: str
    inode: int

    @property
    def reachable_at(self) -> str:
        """An address a local client connects to: loopback for a wildcard listener."""
        if self.address == "0.0.0.0":
            return "127.0.0.1"
        return "::1" if self.address == "::" else self.address


def configured_ports(environ: Mapping[str, str]) -> dict[str, int]:
    """{'CA': port, 'PVA': port}: the TCP ports the servers will try first."""
    ports = {}
    for protocol, (names, default) in PORT_SETTINGS.items():
        value = next((environ[name] for name in names if environ.get(name, "").strip()), None)
        ports[protocol] = _port_number(value, names[-1]) if value is not None else default
    return ports


def _port_number(text: str, name: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise ValueError(f"{name}={text!r} is not a port number (1-65535)")
    return port


def interfaces(environ: Mapping[str, str], protocol: str) -> list[str]:
    """IPv4 addresses the server of ``protocol`` binds (``0.0.0.0`` = all)."""
    listed = environ.get(INTERFACE_SETTINGS[protocol], "").split()
    hosts = [entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry for entry in listed]
    return [host for host in hosts if "." in host] or ["0.0.0.0"]


def can_bind(address: str, port: int) -> bool:
    """True when a TCP listener could bind ``address:port`` now (with SO_REUSEADDR, as EPICS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
            probe.listen(1)
        except OSError:
            return False
    return True


def check_free(environ: Mapping[str, str]) -> None:
    """Raise :class:`PortTaken` naming the first configured port that cannot be bound."""
    for protocol, port in configured_ports(environ).items():
        for address in interfaces(environ, protocol):
            if not can_bind(address, port):
                names = PORT_SETTINGS[protocol][0]
                raise PortTaken(
                    f"{protocol} port {port} (TCP) is taken by {holder_of(port)}: stop it, "
                    f"give this IOC another port ({names[-1]}), or accept EPICS's fallback "
                    "to a random port with --allow-port-fallback"
                )


def tcp_sockets(proc: Path = Path("/proc")) -> Iterator[Socket]:
    """Every TCP socket of this network namespace (IPv4 and IPv6)."""
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            yield from parse_tcp_table((proc / "net" / table).read_text())


def parse_tcp_table(text: str) -> Iterator[Socket]:
    """The sockets of one /proc/net/tcp or tcp6 table."""
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        address, port = fields[1].rsplit(":", 1)
        yield Socket(_address(address), int(port, 16), fields[3], int(fields[9]))


def _address(text: str) -> str:
    """An address of /proc/net/tcp[6] (hex, 32-bit words in host order) in the usual notation."""
    words = bytes.fromhex(text)
    raw = b"".join(words[i : i + 4][::-1] for i in range(0, len(words), 4))
    if sys.byteorder == "big":
        raw = words
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw)


def socket_inodes(pid: str, proc: Path = Path("/proc")) -> set[int]:
    """Inodes of the sockets process ``pid`` has open (empty when its fds are not visible)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in (proc / pid / "fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def holder_of(port: int, proc: Path = Path("/proc")) -> str:
    """``pid N (command)`` of the process listening on TCP ``port``, else ``another process``."""
    wanted = {s.inode for s in tcp_sockets(proc) if s.port == port and s.state == LISTEN}
    wanted.discard(0)
    if wanted:
        for entry in proc.iterdir():
            if entry.name.isdigit() and socket_inodes(entry.name, proc) & wanted:
                return f"pid {entry.name} ({_process_name(entry)})"
    return "another process"


def _process_name(entry: Path) -> str:
    """The command line of a /proc/<pid> entry, shortened to :data:`SHOWN_COMMAND` characters."""
    try:
        argv = [a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0")]
    except OSError:
        argv = []
    argv = [a for a in argv if a]
    if not argv:
        with contextlib.suppress(OSError):
            return (entry / "comm").read_text().strip()
        return "?"
    command = " ".join([os.path.basename(argv[0]), *argv[1:]])
    if len(command) > SHOWN_COMMAND:
        command = command[: SHOWN_COMMAND - 3] + "..."
    return command


def own_listeners(proc: Path = Path("/proc")) -> list[Socket]:
    """This process's listening TCP sockets."""
    mine = socket_inodes("self", proc)
    return [s for s in tcp_sockets(proc) if s.state == LISTEN and s.inode in mine]


def speaks_pva(listener: Socket, timeout: float = 1.0) -> bool:
    """True when the server on ``listener`` greets a new connection as a PVA server does.

    A PVA server's first message on a new connection is the control message "set byte order":
    magic byte 0xCA, a version, flags with the control bit set, command 2.
    """
    try:
        with socket.create_connection((listener.reachable_at, listener.port), timeout) as conn:
            greeting = b""
            while len(greeting) < 4:
                chunk = conn.recv(4 - len(greeting))
                if not chunk:
                    return False
                greeting += chunk
            _close_quietly(conn)
    except OSError:
        return False
    return greeting[0] == PVA_MAGIC and greeting[2] & 1 == 1 and greeting[3] == PVA_SET_BYTE_ORDER


def _close_quietly(conn: socket.socket) -> None:
    """End a connection without a reset: say we are done, read what the server still sends."""
    conn.shutdown(socket.SHUT_WR)
    while conn.recv(4096):
        pass


def bound_ports(ca_port: int | None, proc: Path = Path("/proc")) -> dict[str, int | None]:
    """{'CA': port, 'PVA': port} as bound (None: not found).

    ``ca_port`` is what the CA server reports having bound; the PVA port is the one among this
    process's other listening sockets that answers like a PVA server.
    """
    others = [s for s in own_listeners(proc) if s.port != ca_port]
    pva = next((s.port for s in others if speaks_pva(s)), None)
    return {"CA": ca_port, "PVA": pva}
