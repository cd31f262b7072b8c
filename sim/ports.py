"""Free ports for the IOCs that tests and benchmarks start (each on ports of its own).

Here rather than in `ioc`: importing `ioc` imports softioc, which a client-only test process
must not do.
"""

from __future__ import annotations

import random
import socket
from contextlib import ExitStack
from pathlib import Path

_handed_out: set[int] = set()
"""Ports `free_ports` has returned in this process (never returned twice)."""

#: Where Linux keeps the range of ports it hands out to outgoing connections.
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: The lowest port picked (below it lie well-known services, e.g. CA's 5064 and PVA's 5075).
LOWEST = 10000
#: Random candidates tried before giving up.
ATTEMPTS = 500


def ephemeral_range(text: str | None = None) -> range:
    """The ports the kernel gives outgoing connections (``text``: the range file's content)."""
    if text is None:
        try:
            text = EPHEMERAL_RANGE_FILE.read_text()
        except OSError:
            return range(32768, 61000)  # Linux's default
    low, high = (int(word) for word in text.split())
    return range(low, high + 1)


def candidate_ports(ephemeral: range) -> range:
    """Ports to pick from: below the ephemeral range, so no outgoing connection takes one.

    A port picked from the ephemeral range can be free when picked and then become the local
    port of some client connection before the IOC binds it; rsrv then cannot start its CA
    server and suspends the IOC's main thread. Outside that range only an explicit bind takes it.
    Of the ports below the range (from :data:`LOWEST`) and above it, the larger set is used.
    """
    return max(range(LOWEST, ephemeral.start), range(ephemeral.stop, 65536), key=len)


def _free_for_tcp_and_udp(port: int, held: ExitStack) -> bool:
    """Bind ``port`` for TCP and UDP on every interface (kept bound in ``held``); True if both
    binds succeed."""
    tcp = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    udp = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    try:
        tcp.bind(("", port))
        udp.bind(("", port))
    except OSError:
        return False
    return True


def free_ports(count: int) -> list[int]:
    """`count` distinct ports, each free for both TCP and UDP on every interface right now.

    For test and benchmark IOCs (CA and PVA use a TCP and a UDP port of one number). The ports
    are picked at random outside the kernel's ephemeral range (see :func:`candidate_ports`),
    so that two test runs on one machine rarely try the same one and no client connection takes
    one meanwhile; a port is never returned twice in one process, so IOCs started one after
    another do not share one.
    """
    candidates = candidate_ports(ephemeral_range())
    if not candidates:
        raise RuntimeError(f"no ports outside the ephemeral range {ephemeral_range()}")
    with ExitStack() as held:  # sockets stay bound until all ports are picked
        ports: list[int] = []
        for _ in range(ATTEMPTS):
            port = random.choice(candidates)
            if port in _handed_out or port in ports or not _free_for_tcp_and_udp(port, held):
                continue
            ports.append(port)
            if len(ports) == count:
                _handed_out.update(ports)
                return ports
    raise RuntimeError(f"found no {count} ports free for both TCP and UDP in {candidates}")
