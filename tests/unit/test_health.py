"""Tests of `rogue-ioc health` against a softioc serving a heartbeat record, on private ports."""

import ipaddress
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ioc.health import broadcast_addresses, search_like_remote_clients, search_locally
from ioc.naming import heartbeat_name

REPO = Path(__file__).resolve().parents[2]


HEARTBEAT_IOC = """
import sys
from softioc import alarm, asyncio_dispatcher, builder, softioc

prefix, severity = sys.argv[1], int(sys.argv[2])
builder.SetDeviceName(prefix)
heartbeat = builder.longIn("IOC:Heartbeat", initial_value=0)
builder.LoadDatabase()
softioc.iocInit(asyncio_dispatcher.AsyncioDispatcher())
heartbeat.set(1, severity=severity, alarm=alarm.READ_ALARM if severity else alarm.NO_ALARM)
print("ready", flush=True)
sys.stdin.read()
"""


def start_heartbeat(
    env: dict[str, str], prefix: str, severity: int, read_until: Callable[..., str]
) -> subprocess.Popen[str]:
    """A softioc serving `<prefix>:IOC:Heartbeat` with `severity`, once it is ready."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HEARTBEAT_IOC, prefix, str(severity)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        read_until(proc.stdout, "ready", 30)
    except AssertionError:
        proc.kill()
        proc.wait()
        raise
    return proc


@pytest.fixture
def heartbeat(
    request: pytest.FixtureRequest, epics_env: dict[str, str], read_until: Callable[..., str]
) -> Iterator[str]:
    """Prefix of a running heartbeat IOC; parametrize indirectly with its severity."""
    prefix = f"T{uuid.uuid4().hex[:8]}"
    proc = start_heartbeat(epics_env, prefix, getattr(request, "param", 0), read_until)
    yield prefix
    proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_health(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m ioc health ARGS` with `env`, with a bounded wait."""
    return subprocess.run(
        [sys.executable, "-m", "ioc", "health", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_healthy(heartbeat: str, epics_env: dict[str, str]) -> None:
    result = run_health(epics_env, "--prefix", heartbeat)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"healthy: {heartbeat_name(heartbeat)} answers on CA and PVA"


def test_prefix_from_environment(heartbeat: str, epics_env: dict[str, str]) -> None:
    result = run_health(epics_env | {"IOC_PREFIX": heartbeat})
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("heartbeat", [3], indirect=True)
def test_invalid_severity_is_unhealthy(heartbeat: str, epics_env: dict[str, str]) -> None:
    result = run_health(epics_env, "--prefix", heartbeat)
    assert result.returncode == 1
    line = result.stdout.strip()
    assert "\n" not in line
    assert line.startswith("unhealthy: ")
    assert "CA:" in line and "PVA:" in line and "INVALID" in line


@pytest.mark.parametrize("heartbeat", [2], indirect=True)
def test_major_severity_is_healthy(heartbeat: str, epics_env: dict[str, str]) -> None:
    assert run_health(epics_env, "--prefix", heartbeat).returncode == 0


def test_no_ioc_is_unhealthy(epics_env: dict[str, str]) -> None:
    result = run_health(epics_env, "--prefix", "NOBODY", "--timeout", "0.5")
    assert result.returncode == 1
    line = result.stdout.strip()
    assert line.startswith("unhealthy: ")
    assert "CA: no connection to NOBODY:IOC:Heartbeat" in line
    assert "PVA: get of NOBODY:IOC:Heartbeat failed" in line


def test_wrong_prefix_is_unhealthy(heartbeat: str, epics_env: dict[str, str]) -> None:
    result = run_health(epics_env, "--prefix", heartbeat + "X", "--timeout", "0.5")
    assert result.returncode == 1


def test_search_like_remote_clients_only_when_no_servers_are_named() -> None:
    env = {"EPICS_PVA_ADDR_LIST": "10.1.2.3"}
    broadcasts = broadcast_addresses()
    why = search_like_remote_clients(env)
    if not broadcasts:
        assert why is not None and "no network interface" in why
        return
    assert why is None
    assert env == {
        "EPICS_CA_ADDR_LIST": " ".join(broadcasts),
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_PVA_ADDR_LIST": "10.1.2.3",
    }


def test_broadcast_addresses_are_the_network_side() -> None:
    """The health check's searches go out on the network interfaces, never over loopback."""
    for address in broadcast_addresses():
        assert not ipaddress.IPv4Address(address).is_loopback, address


def test_named_servers_are_kept() -> None:
    env = {"EPICS_CA_ADDR_LIST": "a", "EPICS_PVA_ADDR_LIST": "b"}
    assert search_like_remote_clients(env) is None
    assert env == {"EPICS_CA_ADDR_LIST": "a", "EPICS_PVA_ADDR_LIST": "b"}


def test_search_locally_only_when_no_servers_are_named() -> None:
    env = {"EPICS_PVA_ADDR_LIST": "10.1.2.3"}
    search_locally(env)
    assert env == {
        "EPICS_CA_ADDR_LIST": "127.0.0.1",
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_PVA_ADDR_LIST": "10.1.2.3",
    }
