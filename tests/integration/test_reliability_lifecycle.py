"""Process lifecycle: clean stop on SIGTERM, restart, and the health check.

Each test runs an IOC of its own (signals and a wedged tree must not touch the session IOC), so
these tests need local IOC subprocesses and are skipped when IOC_TEST_PREFIX is set.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from .conftest import REMOTE_PREFIX
from .reliability_support import restart_on, run_health, start_dedicated
from .support import wait_for

pytestmark = pytest.mark.skipif(
    REMOTE_PREFIX is not None,
    reason="signals and restarts its own IOC processes: needs local IOC subprocesses",
)

#: SIGTERM to exit, at most.
STOP_WITHIN = 5.0
#: How long the Wedge command blocks the Root's update thread. The heartbeat turns INVALID after
#: 5 s of silence, so this leaves a window of ~25 s in which `rogue-ioc health` (about 1.3 s to
#: start and check on a quiet machine, over 15 s on a loaded one) must see the IOC unhealthy.
WEDGE = 30.0
#: The heartbeat goes stale after 5 s of silence and is set once a second.
STALE_AFTER = 5.0


def read_dump(path) -> list[str]:
    text = wait_for(lambda: path.exists() and path.read_text(), what=f"the dump {path}")
    return sorted(line for line in text.splitlines() if line.strip())


def heartbeat_alarm(pva, ioc) -> str:
    return pva.alarm(ioc.heartbeat)[1]


def test_sigterm_stops_cleanly_and_a_restart_serves_the_same_pvs(ioc_factory, ca, pva_of, tmp_path):
    first_dump, second_dump = tmp_path / "first.txt", tmp_path / "second.txt"
    first, ports = start_dedicated(ioc_factory, "--dump", str(first_dump))
    names = read_dump(first_dump)
    assert len(names) > 50, names
    pva_of(first).put(first.pv("Version.ScratchPad"), 77)  # a client stays connected

    started = time.monotonic()
    first.proc.send_signal(signal.SIGTERM)
    try:
        code = first.proc.wait(STOP_WITHIN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the IOC still ran {STOP_WITHIN:g} s after SIGTERM:\n{first.log_tail()}")
    took = time.monotonic() - started
    assert code == 0, f"exit code {code}:\n{first.log_tail()}"
    log = first.log_text()
    # The CLI logs "stopping" when the signal arrives and "stopped" once Root.stop() returned.
    assert "INFO ioc.cli: stopping" in log and "INFO ioc.cli: stopped" in log, first.log_tail()
    assert "Traceback" not in log, first.log_tail()
    print(f"SIGTERM to exit: {took:.2f} s")

    second = restart_on(
        ioc_factory, ports, first.prefix, "--dump", str(second_dump), log_name="restarted.log"
    )
    assert read_dump(second_dump) == names
    pva = pva_of(second)
    for line in names:
        name = line.split(" -> ")[0]
        pva.get(name)
        ca.get(name, as_string=True)
    # A fresh process: the simulator starts from its initial values again.
    assert pva.get(second.pv("Version.ScratchPad")) == 0
    assert second.stop(signal.SIGTERM) == 0, second.log_tail()


def test_health_fails_while_the_tree_is_wedged_and_recovers(ioc_factory, pva_of):
    ioc, ports = start_dedicated(ioc_factory)
    pva = pva_of(ioc)
    healthy = run_health(ports, ioc.prefix)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "healthy" in healthy.stdout

    pva.put(ioc.pv("SimControl.Wedge"), WEDGE)
    wedged_at = time.monotonic()
    wait_for(
        lambda: heartbeat_alarm(pva, ioc) == "INVALID",
        STALE_AFTER + 3,
        "the heartbeat to go INVALID while the tree is wedged",
    )
    assert time.monotonic() - wedged_at >= STALE_AFTER - 1, "INVALID before 5 s of silence"
    sick = run_health(ports, ioc.prefix)
    checked_by = time.monotonic() - wedged_at
    assert checked_by < WEDGE, f"the health check ended {checked_by:.1f} s in: too late to judge"
    assert sick.returncode == 1, sick.stdout + sick.stderr
    assert "unhealthy" in sick.stdout and "INVALID" in sick.stdout, sick.stdout

    wait_for(
        lambda: heartbeat_alarm(pva, ioc) == "NO_ALARM",
        WEDGE + 5 - (time.monotonic() - wedged_at),
        "the heartbeat to recover once the tree runs again",
    )
    recovered = run_health(ports, ioc.prefix)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    ioc.check_alive()
