"""Network interfaces of this host, and a watch that ends the IOC when its network is replaced.

The PVA server (pvxs 1.5) answers a UDP search only when the datagram arrived on an interface it
knew when its UDP listener was created: it reads the interface table once then and drops every
search that arrives through an interface index not in it ("unknown iface index"). When a
container's network is disconnected and connected again, the container gets a new interface (a
new index, often a new name: ``eth0`` comes back as ``eth1``), so from then on no PVA client on
the network finds the IOC (existing TCP connections and searches over loopback still work). pvxs
offers no way to refresh that table in a running process. CA's server has no such table and
recovers by itself.

So the IOC watches the interface that carries its default route: when the one it had at start
is gone and another one carries the default route (or the IOC started without a network and now
has one), it stops and exits with :data:`EXIT_NETWORK_CHANGED`; the container's restart policy
starts it again, and the new process serves the new interface. Other interfaces coming and going
(a Docker host's bridges, a VPN) do not stop the IOC; ``IOC_NETWORK_WATCH=0`` turns the watch off.
"""

from __future__ import annotations

import fcntl
import logging
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: Exit code of an IOC that stopped because its network interface was replaced.
EXIT_NETWORK_CHANGED = 3
#: Seconds between two looks at the interface table.
PERIOD = 1.0

# Linux <linux/sockios.h>, <net/if.h>
_SIOCGIFFLAGS, _SIOCGIFADDR, _SIOCGIFBRDADDR = 0x8913, 0x8915, 0x8919
_IFF_UP, _IFF_BROADCAST, _IFF_LOOPBACK = 0x1, 0x2, 0x8


#: The kernel's IPv4 routing table.
ROUTES = Path("/proc/net/route")
_RTF_UP = 0x1


def watch_wanted(environ: Mapping[str, str]) -> bool:
    """Whether to watch the network: unless ``IOC_NETWORK_WATCH`` is 0 (or no/off/false)."""
    setting = environ.get("IOC_NETWORK_WATCH", "").strip().lower()
    return setting not in ("0", "no", "off", "false")


@dataclass(frozen=True)
class Interface:
    """A network interface that is up, not loopback, and has an IPv4 address."""

    name: str
    index: int
    broadcast: str | None  # its IPv4 broadcast address, None without broadcast (point-to-point)


def ipv4_interfaces() -> list[Interface]:
    """The interfaces of this host (or container) that are up and have an IPv4 address."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for index, name in socket.if_nameindex():
            request = struct.pack("16s16x", name.encode()[:15])
            try:
                flags = struct.unpack_from("H", fcntl.ioctl(sock, _SIOCGIFFLAGS, request), 16)[0]
                if flags & _IFF_LOOPBACK or not flags & _IFF_UP:
                    continue
                fcntl.ioctl(sock, _SIOCGIFADDR, request)  # raises without an IPv4 address
                broadcast = None
                if flags & _IFF_BROADCAST:
                    reply = fcntl.ioctl(sock, _SIOCGIFBRDADDR, request)
                    broadcast = socket.inet_ntoa(reply[20:24])
            except OSError:
                continue
            found.append(Interface(name, index, broadcast))
    return found


def default_route_names(table: str) -> list[str]:
    """Interfaces carrying an IPv4 default route in ``table`` (the text of /proc/net/route)."""
    names = []
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[1] == "00000000" and int(fields[3], 16) & _RTF_UP:
            names.append(fields[0])
    return names


def default_interface() -> Interface | None:
    """The interface of this host's (or container's) IPv4 default route, if it has one."""
    try:
        names = default_route_names(ROUTES.read_text())
    except OSError:
        return None
    return next((i for i in ipv4_interfaces() if i.name in names), None)


def replaced(start: Interface | None, now: Interface | None, present: set[int]) -> str | None:
    """How the default-route interface ``start`` was replaced by ``now``, or None if it was not.

    ``present`` are the interface indexes there now: ``start`` must be gone (None: the IOC
    started without a network) and another interface carry the default route.
    """
    if now is None or (start is not None and (now.index == start.index or start.index in present)):
        return None
    was = f"{start.name} ({start.index})" if start else "no network"
    return f"{was} replaced by {now.name} ({now.index})"


class InterfaceWatch:
    """Calls ``on_change`` once, with a reason, when the default-route interface is replaced.

    Does nothing unless ``enabled``.
    """

    def __init__(
        self, on_change: Callable[[str], None], enabled: bool = True, period: float = PERIOD
    ) -> None:
        self.reason: str | None = None
        self._on_change = on_change
        self._period = period
        self._stop = threading.Event()
        if enabled:
            self._start = default_interface()
            threading.Thread(target=self._run, name="ioc-netwatch", daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            present = {index for index, _ in socket.if_nameindex()}
            change = replaced(self._start, default_interface(), present)
            if change:
                self.reason = (
                    f"network interface {change}: the PVA server cannot answer searches on it "
                    "until the IOC restarts"
                )
                self._on_change(self.reason)
                return

    def close(self) -> None:
        """Stop watching."""
        self._stop.set()
