"""Fixtures of the screens suite: a simulator IOC subprocess, its screens, Xvfb and PyDM.

Everything is real: the IOC is `python -m ioc` on free loopback ports, the screens come from
`python -m ioc screens` (a second process, as an operator would run it), PyDM draws them in a
private Xvfb display and talks Channel Access to the IOC. pyepics and PyDM read the EPICS
environment once, so it is set here before either is imported.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from integration.support import wait_for

from sim.ports import free_ports

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
SCREEN = "1280x1024x24"


CA_PORT, PVA_PORT, PVA_UDP_PORT = free_ports(3)
PREFIX = f"SCR{secrets.token_hex(3).upper()}"

# Clients (pyepics, PyDM's CA plugin) search only the IOC of this session, on loopback.
for _key in [k for k in os.environ if k.startswith(("EPICS_CA", "EPICS_PVA", "IOC_"))]:
    del os.environ[_key]
os.environ.update(
    EPICS_CA_ADDR_LIST=f"127.0.0.1:{CA_PORT}",
    EPICS_CA_AUTO_ADDR_LIST="NO",
    EPICS_PVA_ADDR_LIST="127.0.0.1",
    EPICS_PVA_AUTO_ADDR_LIST="NO",
    EPICS_PVA_BROADCAST_PORT=str(PVA_UDP_PORT),
)

import epics  # noqa: E402


@dataclass(frozen=True)
class Served:
    """The running IOC: its prefix, the PV names it serves (from --dump) and its screens."""

    prefix: str
    pvs: frozenset[str]
    screens: Path
    artifacts: Path


def caget(pv: str, as_string: bool = False):
    """A fresh CA get that must answer."""
    value = epics.caget(pv, as_string=as_string, use_monitor=False, timeout=5.0)
    assert value is not None, f"CA get of {pv} got no answer"
    return value


def autosave_pvs() -> set[str]:
    """The autosave PVs an IOC with an autosave file serves (asked in a separate process: the
    test process must not load softioc's EPICS libraries next to pyepics')."""
    code = f"from ioc import configpvs; print(*configpvs.pv_names({PREFIX!r}), sep=chr(10))"
    listed = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    return set(listed.stdout.split())


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


CHUNK = re.compile(r".*:IOC:PvNames:\d+")


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The simulator IOC, running, and the screens `rogue-ioc screens` wrote for it."""
    work = tmp_path_factory.mktemp("screens")
    dump = work / "pvs.txt"
    autosave = ["--autosave", str(work / "autosave.yml")]
    env = dict(os.environ) | {
        "EPICS_CA_SERVER_PORT": str(CA_PORT),
        "EPICS_CA_ADDR_LIST": "127.0.0.1",
        "EPICS_PVA_SERVER_PORT": str(PVA_PORT),
        "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1",
        "EPICS_PVAS_INTF_ADDR_LIST": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "ioc", "--prefix", PREFIX, "--dump", str(dump), *autosave]
    with open(work / "ioc.log", "wb") as log:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        heartbeat = f"{PREFIX}:IOC:Heartbeat"

        def answers() -> bool:
            assert proc.poll() is None, f"the IOC exited: {(work / 'ioc.log').read_text()}"
            return epics.caget(heartbeat, timeout=1.0, connection_timeout=1.0) is not None

        wait_for(answers, START_TIMEOUT, f"a CA get of {heartbeat}")
        wait_for(dump.exists, START_TIMEOUT, f"the IOC's dump {dump}")
        pvs = {line.split(" -> ")[0] for line in dump.read_text().splitlines() if line}
        # The IOC's own PVs, which the dump does not list: each must answer.
        own = {heartbeat} | autosave_pvs()
        for name in own:
            assert epics.caget(name, timeout=5.0) is not None, f"the IOC does not serve {name}"
        # The IOC's own PVs (heartbeat, status) as the IOC lists them
        listed = subprocess.run(
            [sys.executable, "-m", "ioc", "list", "--prefix", PREFIX],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        # (the chunks of the packed name list are data for `rogue-ioc list`, not for screens)
        pvs |= {name for name in listed.stdout.split() if not CHUNK.fullmatch(name)}
        out = work / "out"
        generated = subprocess.run(
            [sys.executable, "-m", "ioc", "screens", "--prefix", PREFIX, *autosave, "--out",
             str(out)],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert generated.returncode == 0, generated.stderr
        yield Served(PREFIX, frozenset(pvs | own), out, work)
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """A private X display (Xvfb) for the session; sets DISPLAY."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.fail("Xvfb is not installed (apt-get install xvfb): the screens suite needs it")
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write_end), "-screen", "0", SCREEN, "-nolisten", "tcp"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()
    assert number, "Xvfb did not report a display number"
    os.environ["DISPLAY"] = f":{number}"
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path("/tmp") / f"xdg-{os.getuid()}"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
    try:
        yield os.environ["DISPLAY"]
    finally:
        _stop(proc)
