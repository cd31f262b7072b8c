"""Container faults: the ioc container's network goes away and comes back, the container is paused.

Runs on the Docker host, after the compose suite of ``make integration-test``, against the ioc
container named by ``IOC_FAULT_CONTAINER`` (skipped elsewhere: it needs the docker CLI). Clients
here are processes on the host that find the IOC the way clients on the network do: by a search
broadcast on the container's bridge network (``EPICS_*_ADDR_LIST`` = its broadcast address).

* pause/unpause: running CA and PVA monitors resume, new clients find the IOC;
* network disconnect/reconnect: while the network is gone the health check (what the container's
  HEALTHCHECK runs) fails; once it is back the IOC restarts itself (pvxs cannot serve searches on
  a re-created interface, see ``ioc/netwatch.py``), new clients find it, monitors resume, and the
  health check passes again.

Outages are held for fixed times (that is the fault being injected); every recovery is waited for
with a bounded condition wait, and the measured recovery times are printed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from .reliability_support import start_worker, worker_result
from .support import wait_for

CONTAINER = os.environ.get("IOC_FAULT_CONTAINER", "")
PREFIX = os.environ.get("IOC_FAULT_PREFIX", "SIM")
#: Bound of the waits here. The contract is 10 s from the network's return to new clients finding
#: the IOC; a loaded machine restarts containers more slowly, so the times are printed, not timed.
RECOVERY_BOUND = 120.0

pytestmark = pytest.mark.skipif(
    not CONTAINER or shutil.which("docker") is None,
    reason="needs the docker CLI and IOC_FAULT_CONTAINER (run by make integration-test)",
)


def docker(*args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def network() -> tuple[str, str]:
    """(network name, its IPv4 broadcast address) of the ioc container's one network."""
    networks = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", CONTAINER))
    assert len(networks) == 1, networks
    name = next(iter(networks))
    subnet = json.loads(docker("network", "inspect", "-f", "{{json .IPAM.Config}}", name))[0]
    import ipaddress

    return name, str(ipaddress.ip_network(subnet["Subnet"]).broadcast_address)


def health() -> subprocess.CompletedProcess:
    """``rogue-ioc health`` inside the container, as its HEALTHCHECK runs it."""
    return subprocess.run(
        ["docker", "exec", CONTAINER, "rogue-ioc", "health"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


class Watch:
    """A host process holding a CA and a PVA monitor of the heartbeat; its events, timestamped."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.proc = start_worker("watch", env, log, "--pv", heartbeat(), stdin=subprocess.PIPE)
        self.log = log
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.startswith(b"{"):
                with self._lock:
                    self.events.append(json.loads(line))

    def updates_since(self, kind: str, since: float) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["kind"] == kind and e["t"] > since]

    def wait_updates(self, since: float, what: str) -> float:
        """Wait until both monitors delivered a value after ``since``; the seconds it took."""
        wait_for(
            lambda: self.updates_since("ca", since) and self.updates_since("pva", since),
            RECOVERY_BOUND,
            f"CA and PVA monitor updates {what}",
        )
        last = max(self.updates_since(kind, since)[0]["t"] for kind in ("ca", "pva"))
        return last - since

    def close(self) -> None:
        """End the watch (its stdin closes); it must exit cleanly."""
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(10)
        assert self.proc.returncode == 0, self.log.read_text(errors="replace")[-2000:]


def serving_since(since: float) -> float:
    """Seconds from ``since`` to the IOC's last "serving" log line (the line's own timestamp)."""
    lines = subprocess.run(
        ["docker", "logs", CONTAINER], capture_output=True, text=True, timeout=60, check=False
    ).stderr.splitlines()
    stamps = [line[:23] for line in lines if "INFO ioc.cli: serving" in line]
    assert stamps, "the IOC never logged that it serves"
    from datetime import datetime

    stamp = datetime.strptime(stamps[-1], "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC)
    return stamp.timestamp() - since


def heartbeat() -> str:
    return f"{PREFIX}:IOC:Heartbeat"


def probe(env: dict[str, str], log: Path) -> dict[str, Any]:
    """A new client process: does it find the IOC over CA and PVA?"""
    proc = start_worker("probe", env, log, "--pv", heartbeat(), "--timeout", "2")
    return worker_result(proc, log, timeout=60)


def wait_found(env: dict[str, str], log: Path, since: float, what: str) -> float:
    """Start new clients until one finds the IOC on both protocols; seconds since ``since``."""
    wait_for(
        lambda: (lambda r: r.get("ca") and r.get("pva"))(probe(env, log)),
        RECOVERY_BOUND,
        f"a new client to find the IOC {what}",
    )
    return time.time() - since


@pytest.fixture(scope="module")
def client_env() -> dict[str, str]:
    _, broadcast = network()
    return {
        "EPICS_CA_ADDR_LIST": broadcast,
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_PVA_ADDR_LIST": broadcast,
        "EPICS_PVA_AUTO_ADDR_LIST": "NO",
    }


def test_monitors_resume_after_a_pause(client_env, tmp_path):
    watch = Watch(client_env, tmp_path / "watch.log")
    try:
        watch.wait_updates(0, "before the pause")
        docker("pause", CONTAINER)
        try:
            time.sleep(5)  # the outage: the container frozen for 5 s
        finally:
            docker("unpause", CONTAINER)
        resumed = time.time()
        took = watch.wait_updates(resumed, "after unpause")
        found = wait_found(client_env, tmp_path / "probe.log", resumed, "after unpause")
        print(f"pause 5 s: monitors resumed after {took:.1f} s, new client after {found:.1f} s")
        assert health().returncode == 0
    finally:
        watch.close()


@pytest.mark.parametrize("outage", [5, 20])
def test_network_outage_is_survived(client_env, tmp_path, outage):
    name, _ = network()
    restarts = int(docker("inspect", "-f", "{{.RestartCount}}", CONTAINER))
    watch = Watch(client_env, tmp_path / "watch.log")
    try:
        watch.wait_updates(0, "before the outage")
        docker("network", "disconnect", name, CONTAINER)
        try:
            time.sleep(outage)  # the outage itself
            during = health()
            assert during.returncode == 1, f"healthy without a network: {during.stdout}"
            print(f"health during the outage: {during.stdout.strip()}")
        finally:
            docker("network", "connect", name, CONTAINER)
        back = time.time()
        found = wait_found(client_env, tmp_path / "probe.log", back, "after the network returned")
        # The old process may have served the monitors a little longer: updates after a new
        # client found the restarted IOC come from the new process.
        took = watch.wait_updates(back + found, "from the restarted IOC") + found
        wait_for(lambda: health().returncode == 0, RECOVERY_BOUND, "the health check to pass")
        now = int(docker("inspect", "-f", "{{.RestartCount}}", CONTAINER))
        assert now > restarts, "the IOC did not restart after its network interface was replaced"
        print(
            f"outage {outage} s: the restarted IOC served after {serving_since(back):.1f} s, a new "
            f"client found it after {found:.1f} s, monitors resumed after {took:.1f} s"
        )
    finally:
        watch.close()
