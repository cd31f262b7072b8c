"""Health check of a running IOC: a CA and a PVA get of its heartbeat PV (SPEC §11).

Run by the container HEALTHCHECK inside the IOC's container, so unless the environment names
other servers, both clients search only the local host, on the ports the IOC was given
(`EPICS_CA_SERVER_PORT`, `EPICS_PVA_BROADCAST_PORT`, read by the client libraries themselves).
"""

import os
from collections.abc import MutableMapping

from ioc.naming import heartbeat_name

INVALID = 3
"""EPICS alarm severity INVALID."""

LOCAL_SEARCH = {
    "EPICS_CA_ADDR_LIST": ("127.0.0.1", "EPICS_CA_AUTO_ADDR_LIST"),
    "EPICS_PVA_ADDR_LIST": ("127.0.0.1", "EPICS_PVA_AUTO_ADDR_LIST"),
}
"""Address list variable → (local default, the auto-address-list variable it switches off)."""


def search_locally(environ: MutableMapping[str, str]) -> None:
    """Point CA and PVA searches at this host when the environment names no servers.

    Must run before the client libraries create their contexts; a given address list is kept.
    """
    for addr_list, (local, auto) in LOCAL_SEARCH.items():
        if addr_list not in environ:
            environ[addr_list] = local
            environ[auto] = "NO"


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
    search_locally(os.environ)
    pv = heartbeat_name(prefix)
    problems = [p for p in (ca_problem(pv, timeout), pva_problem(pv, timeout)) if p]
    if problems:
        return False, "unhealthy: " + "; ".join(problems)
    return True, f"healthy: {pv} answers on CA and PVA"
