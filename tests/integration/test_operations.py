"""Operations: taken ports, the prefix check, the IOC status PVs and the client commands.

The client commands run as real ``python -m ioc get|put|monitor|list`` processes against the
session IOC (local or remote); port and prefix checks start IOCs of their own.
"""

from __future__ import annotations

import datetime
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sim.ports import free_ports

from .conftest import REPO, Ioc, IocFactory
from .support import REPO_TESTS, wait_for

CLIENT_TIMEOUT = 60.0
WATCHERS = 3
STATUS_SOON = 15.0
CONNECTIONS_SOON = 60.0
"""Client processes starting and ending on a loaded 2-core host take their time."""
"""The periodic status values are published every second; generous for a loaded host."""


def client_env(ioc: Ioc, **extra: str) -> dict[str, str]:
    """The environment a client process needs to reach ``ioc`` (as this test process does)."""
    return {**os.environ, **(ioc.pva_conf or {}), "PYTHONPATH": str(REPO), **extra}


def rogue_ioc(ioc: Ioc, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run ``python -m ioc ARGS`` as a client of ``ioc``; its CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "ioc", *args],
        cwd=REPO,
        env=env or client_env(ioc),
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
    )


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("rogue-ioc: error:")]


@pytest.fixture
def listener() -> Iterator[Any]:
    """``listener()``: a TCP port this test process listens on (closed after the test)."""
    sockets: list[socket.socket] = []

    def make() -> int:
        port = free_ports(1)[0]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("0.0.0.0", port))
        sock.listen(1)
        sockets.append(sock)
        return port

    yield make
    for sock in sockets:
        sock.close()


# --- ports and prefix ---------------------------------------------------------------------------


def test_a_second_ioc_on_the_same_ca_port_exits_2_naming_the_first(
    ioc_factory: IocFactory,
) -> None:
    first = ioc_factory.start()
    result = ioc_factory.run(env={"EPICS_CA_SERVER_PORT": str(first.ca_port)})
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stdout
    [line] = error_lines(result.stdout)
    assert line.startswith(
        f"rogue-ioc: error: CA port {first.ca_port} (TCP) is taken by pid {first.proc.pid} ("
    ), line
    assert "-m ioc" in line
    assert "--allow-port-fallback" in line


def test_a_taken_pva_port_exits_2_naming_the_holder(ioc_factory: IocFactory, listener: Any) -> None:
    port = listener()
    result = ioc_factory.run(env={"EPICS_PVA_SERVER_PORT": str(port)})
    assert result.returncode == 2, result.stdout
    [line] = error_lines(result.stdout)
    holder = f"pid {os.getpid()} ("
    assert line.startswith(f"rogue-ioc: error: PVA port {port} (TCP) is taken by {holder}"), line


def test_port_fallback_serves_on_the_ports_the_start_up_line_reports(
    ioc_factory: IocFactory, listener: Any
) -> None:
    ca_taken, pva_taken = listener(), listener()
    env = {"EPICS_CA_SERVER_PORT": str(ca_taken), "EPICS_PVA_SERVER_PORT": str(pva_taken)}
    ioc = ioc_factory.spawn("--allow-port-fallback", env=env)
    line = ioc.assert_logged(0, "serving", f"prefix {ioc.prefix}", timeout=60)
    found = re.search(r"CA port (\d+), PVA port (\d+)\)", line)
    assert found, line
    ca, pva = int(found[1]), int(found[2])
    assert ca not in (ca_taken, pva_taken) and pva not in (ca_taken, pva_taken), line
    # Only through the reported TCP ports (no search): both serve this IOC's heartbeat.
    direct = client_env(
        ioc,
        EPICS_CA_ADDR_LIST="",
        EPICS_CA_AUTO_ADDR_LIST="NO",
        EPICS_CA_NAME_SERVERS=f"127.0.0.1:{ca}",
        EPICS_PVA_ADDR_LIST="",
        EPICS_PVA_AUTO_ADDR_LIST="NO",
        EPICS_PVA_NAME_SERVERS=f"127.0.0.1:{pva}",
    )
    for protocol in ([], ["--pva"]):
        result = rogue_ioc(ioc, "get", *protocol, ioc.heartbeat, env=direct)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"{ioc.heartbeat} "), result.stdout


def test_a_prefix_ending_in_a_colon_is_refused(ioc_factory: IocFactory) -> None:
    result = ioc_factory.run("--prefix", "LAB:")
    assert result.returncode == 2, result.stdout
    [line] = error_lines(result.stdout)
    assert "PV prefix 'LAB:' ends with ':'" in line
    assert "'LAB'" in line


# --- status PVs ---------------------------------------------------------------------------------


def status(ioc: Ioc, suffix: str) -> str:
    return f"{ioc.prefix}:IOC:{suffix}"


def test_status_pvs_describe_the_ioc(ioc: Ioc, ca: Any, pva: Any) -> None:
    started = datetime.datetime.strptime(ca.text(status(ioc, "StartTime")), "%Y-%m-%dT%H:%M:%SZ")
    assert abs(datetime.datetime.utcnow() - started) < datetime.timedelta(days=1)
    uptime = ca.get(status(ioc, "Uptime"))
    wait_for(lambda: ca.get(status(ioc, "Uptime")) > uptime, STATUS_SOON, "Uptime to grow")
    version = ca.text(status(ioc, "Version"))
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", version), version
    assert f"rogue-ioc {version}, softioc " in pva.get(status(ioc, "Software"))
    assert 0.0 <= ca.get(status(ioc, "CpuLoad")) < 100.0 * os.cpu_count() + 1
    assert 20.0 < pva.get(status(ioc, "Rss")) < 100_000.0
    names = rogue_ioc(ioc, "list", "--prefix", ioc.prefix).stdout.split()
    assert pva.get(status(ioc, "PvCount")) == len(names)
    # Every name is a record or an alias; the simulator has no names long enough for aliases.
    assert ca.get(status(ioc, "RecordCount")) == len(names)
    wait_for(lambda: pva.get(status(ioc, "UpdateRate")) > 0, STATUS_SOON, "tree updates")


@pytest.mark.parametrize("protocol", ["ca", "pva"])
def test_puts_are_counted_and_the_last_refusal_is_readable(
    ioc: Ioc, ca: Any, pva: Any, protocol: str
) -> None:
    client = ca if protocol == "ca" else pva
    target = ioc.pv("Version.ScratchPad")
    accepted, refused = ca.get(status(ioc, "PutsAccepted")), ca.get(status(ioc, "PutsRefused"))
    client.put(target, 17)
    wait_for(
        lambda: ca.get(status(ioc, "PutsAccepted")) == accepted + 1, STATUS_SOON, "one accepted"
    )
    if protocol == "ca":
        ca.put_refused(target, 2**40)
    else:
        pva.put_refused(target, 2**40)
    wait_for(lambda: ca.get(status(ioc, "PutsRefused")) == refused + 1, STATUS_SOON, "one refused")
    text = pva.get(status(ioc, "LastRefusal"))
    assert f"{target}: put of " in text and "outside the range" in text, text
    assert ca.text(status(ioc, "LastRefusal")) == text
    assert ca.get(status(ioc, "PutsAccepted")) == accepted + 1


@pytest.mark.parametrize("protocol", ["ca", "pva"])
def test_client_counts_follow_connections(ioc: Ioc, ca: Any, protocol: str) -> None:
    """Three monitor processes are counted, and ending them takes three off the count.

    Other clients come and go (a container's health check adds a short-lived one of each
    protocol every 10 s, earlier tests' connections close): the count with the monitors running
    is the highest of a few samples, and it must fall by three once they exit.
    """
    name = status(ioc, "CaClients" if protocol == "ca" else "PvaClients")
    flag = ["--pva"] if protocol == "pva" else []
    watchers = [
        subprocess.Popen(
            [sys.executable, "-m", "ioc", "monitor", *flag, ioc.heartbeat],
            cwd=REPO,
            env=client_env(ioc),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(WATCHERS)
    ]
    try:
        for watcher in watchers:
            assert watcher.stdout is not None
            assert watcher.stdout.readline().startswith(ioc.heartbeat)
        wait_for(lambda: ca.get(name) >= WATCHERS, CONNECTIONS_SOON, f"{name} >= {WATCHERS}")
        samples = []
        for _ in range(3):
            time.sleep(1.0)  # the count is published once a second
            samples.append(ca.get(name))
        running = max(samples)
    finally:
        for watcher in watchers:
            watcher.send_signal(signal.SIGINT)
        for watcher in watchers:
            watcher.wait(CLIENT_TIMEOUT)
    assert [watcher.returncode for watcher in watchers] == [0] * WATCHERS
    wait_for(
        lambda: ca.get(name) <= running - WATCHERS,
        CONNECTIONS_SOON,
        f"{name} <= {running - WATCHERS} (with the monitors: {samples})",
    )


def test_heartbeat_and_health_keep_working(ioc: Ioc) -> None:
    result = rogue_ioc(ioc, "health", "--prefix", ioc.prefix)
    assert result.returncode == 0, result.stdout + result.stderr


# --- client commands ----------------------------------------------------------------------------


@pytest.mark.parametrize("flag", [[], ["--pva"]], ids=["ca", "pva"])
def test_get_put_and_monitor(ioc: Ioc, flag: list[str]) -> None:
    text, enum = ioc.pv("Types.LocalStr"), ioc.pv("Types.SmallEnum")
    put = rogue_ioc(ioc, "put", *flag, text, "hello", "operator")
    assert put.returncode == 0, put.stderr
    assert put.stdout == f"{text} hello operator\n"
    assert rogue_ioc(ioc, "put", *flag, enum, "Five").stdout == f"{enum} Five\n"
    got = rogue_ioc(ioc, "get", *flag, text, enum)
    assert got.stdout == f"{text} hello operator\n{enum} Five\n", got.stderr
    refused = rogue_ioc(ioc, "put", *flag, ioc.pv("Version.ScratchPad"), "2.5")
    assert refused.returncode == 1 and "put refused" in refused.stderr, refused
    missing = rogue_ioc(ioc, "get", *flag, "--timeout", "1", f"{ioc.prefix}:No:Such:PV")
    assert missing.returncode == 1 and "No:Such:PV" in missing.stderr
    watched = rogue_ioc(ioc, "monitor", *flag, "--count", "3", ioc.heartbeat)
    assert watched.returncode == 0, watched.stderr
    lines = watched.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith(f"{ioc.heartbeat} ") for line in lines)
    counts = [int(line.split()[-1]) for line in lines]
    assert counts == sorted(counts) and counts[-1] > counts[0]


@pytest.mark.parametrize("flag", [[], ["--pva"]], ids=["ca", "pva"])
def test_list_prints_every_served_name(ioc: Ioc, flag: list[str]) -> None:
    result = rogue_ioc(ioc, "list", *flag, "--prefix", ioc.prefix)
    assert result.returncode == 0, result.stderr
    names = result.stdout.split()
    assert names == sorted(names)
    for expected in (ioc.heartbeat, ioc.pv("Version.ScratchPad"), status(ioc, "LastRefusal")):
        assert expected in names
    if ioc.dump_path is not None:
        dumped = {line.split(" -> ")[0] for line in ioc.dump_path.read_text().splitlines()}
        assert dumped <= set(names)
        assert all(name in dumped or name.startswith(f"{ioc.prefix}:IOC:") for name in names)


def test_list_reads_a_name_list_of_several_chunks(ioc_factory: IocFactory) -> None:
    from .roots import ManyNamesRoot

    many = ioc_factory.start(
        "--root", "integration.roots:ManyNamesRoot", env={"PYTHONPATH": REPO_TESTS}
    )
    chunks = rogue_ioc(many, "get", status(many, "PvNames:Chunks"))
    assert int(chunks.stdout.split()[-1]) > 1, chunks
    for flag in ([], ["--pva"]):
        result = rogue_ioc(many, "list", *flag, "--prefix", many.prefix)
        assert result.returncode == 0, result.stderr
        names = result.stdout.split()
        served = [name for name in names if name.startswith(f"{many.prefix}:root:Many:V")]
        assert len(served) == ManyNamesRoot.COUNT
        assert len(set(names)) == len(names)
