"""Health check of a running IOC: a CA and a PVA get of its heartbeat PV.

Run by the container HEALTHCHECK inside the IOC's container. Unless the environment names other
servers, both clients search the way a client on the network does: by broadcast on each network
interface of the container (not over loopback, which keeps working when the network side of a
server does not), on the ports the IOC was given (`EPICS_CA_SERVER_PORT`,
`EPICS_PVA_BROADCAST_PORT`, read by the client libraries themselves). A broadcast sent from the
container reaches its own servers as if it had come in through that interface, so the check
fails when the IOC no longer answers searches arriving there. Without any network interface the
IOC is unreachable from the network, which the check reports as unhealthy.
"""

import os
from collections.abc import MutableMapping

from ioc.naming import heartbeat_name
from ioc.netwatch import ipv4_interfaces

INVALID = 3
"""EPICS alarm severity INVALID."""

SEARCH_LISTS = {
    "EPICS_CA_ADDR_LIST": "EPICS_CA_AUTO_ADDR_LIST",
    "EPICS_PVA_ADDR_LIST": "EPICS_PVA_AUTO_ADDR_LIST",
}
"""Address list variable → the auto-address-list variable it switches off."""


def broadcast_addresses() -> list[str]:
    """IPv4 broadcast addresses of the interfaces that are up (loopback left out)."""
    return [i.broadcast for i in ipv4_interfaces() if i.broadcast]


def _search(environ: MutableMapping[str, str], addresses: list[str]) -> None:
    """Point CA and PVA searches at ``addresses`` where the environment names no servers."""
    for addr_list, auto in SEARCH_LISTS.items():
        if addr_list not in environ:
            environ[addr_list] = " ".join(addresses)
            environ[auto] = "NO"


def search_locally(environ: MutableMapping[str, str]) -> None:
    """Point CA and PVA searches at this host over loopback, when the environment names no servers.

    For clients that talk to the IOC on the same host (``rogue-ioc config``). Must run before the
    client libraries create their contexts.
    """
    _search(environ, ["127.0.0.1"])


def search_like_remote_clients(environ: MutableMapping[str, str]) -> str | None:
    """Point CA and PVA searches at this host's network interfaces (broadcast).

    Must run before the client libraries create their contexts; a given address list is kept.
    Returns why no such search is possible (no network interface), else None.
    """
    if all(name in environ for name in SEARCH_LISTS):
        return None
    addresses = broadcast_addresses()
    if not addresses:
        return "no network interface besides loopback: no client on the network reaches the IOC"
    _search(environ, addresses)
    return None


def ca_problem(pv: str, timeout: float) -> str | None:
    """Why a CA get of `pv` is unhealthy (no connection, no reply, INVALID), or None."""
    import epics

    channel = epics.PV(pv, form="time", auto_monitor=False, connection_timeout=timeout)
    try:
        if not channel.wait_for_connection(timeout=timeout):
            return f"CA: no connection to {pv} within {timeout:g} s"
        data = channel.get_with_metadata(timeout=timeout, use_monitor=False)
        if data is None:
            return f"CA: no reply from {pv} within {timeout:g} s"
        if data["severity"] >= INVALID:
            return f"CA: {pv} has severity INVALID"
        return None
    finally:
        channel.disconnect()


def pva_problem(pv: str, timeout: float) -> str | None:
    """Why a PVA get of `pv` is unhealthy (no reply, error, INVALID), or None."""
    from p4p.client.thread import Context

    with Context("pva", nt=False) as context:
        try:
            value = context.get(pv, timeout=timeout)
        except Exception as exc:  # every failure of the get is the answer: unhealthy
            return f"PVA: get of {pv} failed: {type(exc).__name__}: {exc}".rstrip(": ")
    if value["alarm.severity"] >= INVALID:
        return f"PVA: {pv} has severity INVALID"
    return None


def check(prefix: str, timeout: float) -> tuple[bool, str]:
    """Check the IOC serving `prefix`: (healthy, one line saying why)."""
    unreachable = search_like_remote_clients(os.environ)
    if unreachable:
        return False, f"unhealthy: {unreachable}"
    pv = heartbeat_name(prefix)
    problems = [p for p in (ca_problem(pv, timeout), pva_problem(pv, timeout)) if p]
    if problems:
        return False, "unhealthy: " + "; ".join(problems)
    return True, f"healthy: {pv} answers on CA and PVA"
