"""Free ports for the IOCs that tests and benchmarks start (each on ports of its own).

Here rather than in `ioc`: importing `ioc` imports softioc, which a client-only test process
must not do.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack

_handed_out: set[int] = set()
"""Ports `free_ports` has returned in this process (never returned twice)."""


def free_ports(count: int) -> list[int]:
    """`count` distinct ports, each free for both TCP and UDP on every interface right now.

    For test and benchmark IOCs (CA and PVA use a TCP and a UDP port of one number); a port is
    never returned twice in one process, so IOCs started one after another do not share one.
    """
    with ExitStack() as held:  # sockets stay bound until all ports are picked
        ports: list[int] = []
        for _ in range(200 + count):
            tcp = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            tcp.bind(("", 0))
            port = tcp.getsockname()[1]
            udp = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            try:
                udp.bind(("", port))
            except OSError:
                continue
            if port not in _handed_out:
                ports.append(port)
            if len(ports) == count:
                _handed_out.update(ports)
                return ports
    raise RuntimeError(f"found no {count} ports free for both TCP and UDP")
