"""Access security end to end: --acf with host rules and ASG choice, --read-only, across hosts.

Local IOCs run with rules whose console host group holds an address no test client has
(10.255.255.1), so PVs placed in the EXPERT group refuse the suite's writes on CA and PVA alike
while everything stays readable; PVs left in DEFAULT keep the put checks (the write trap still
sees what CA clients send). Against the compose deployment (``IOC_TEST_DROPIN_ACCESS`` set),
the drop-in IOC serves ``examples/access/rules.acf`` and the tests container, another host, is
not one of its consoles.
"""

from __future__ import annotations

import os

import epics
import pytest
from p4p.client.thread import RemoteError

from .conftest import REMOTE_PREFIX, Ioc, PvaClient, wait_ready
from .reliability_support import DBR_DOUBLE, ca_put_refused, start_dedicated
from .support import SOON, wait_for

RULES = """
# a lab's rules: comments, a host group, two access security groups
HAG(consoles) { 10.255.255.1 }
ASG(DEFAULT) {
    RULE(1, READ)
    RULE(1, WRITE, NOTRAPWRITE)   # rogue-ioc traps it anyway: the put checks need it
}
ASG(EXPERT) {
    RULE(1, READ)
    RULE(1, WRITE) { HAG(consoles) }
}
"""
#: The CA error of a put to a PV without write access (ECA_NOWTACCESS).
CA_NO_WRITE = "Write access denied"

local_only = pytest.mark.skipif(REMOTE_PREFIX is not None, reason="starts IOCs of its own")


def ca_refused(name: str, value) -> str:
    channel = epics.PV(name)
    assert channel.wait_for_connection(SOON), name
    assert channel.write_access is False, f"{name} offers write access"
    try:
        channel.put(value, wait=True, timeout=SOON)
    except (epics.ca.ChannelAccessException, epics.ca.CASeverityException) as error:
        return str(error)
    raise AssertionError(f"CA put {name} = {value!r} was accepted")


def pva_refused(pva: PvaClient, name: str, value) -> str:
    try:
        pva.context.put(name, value, timeout=SOON)
    except RemoteError as error:
        return str(error)
    raise AssertionError(f"PVA put {name} = {value!r} was accepted")


def assert_denial_counted(pva: PvaClient, prefix: str, name: str, count: int) -> None:
    """PutsRefused reaches ``count`` and LastRefusal tells of the PVA put to ``name``."""
    wait_for(lambda: pva.get(f"{prefix}:IOC:PutsRefused") == count, SOON, "the refusal counted")
    text = pva.get(f"{prefix}:IOC:LastRefusal")
    assert f"{name}: put by " in text and "no write access (access security)" in text, text


@local_only
def test_host_rules_guard_the_expert_group(ioc_factory, pva_of, ca_errors, tmp_path):
    rules = tmp_path / "lab.acf"
    rules.write_text(RULES)
    ioc, _ = start_dedicated(
        ioc_factory, "--acf", str(rules), "--asg", "EXPERT=root.Thermal.*",
        "--asg", "EXPERT=group:NoSuchGroup",
    )  # fmt: skip
    pva = pva_of(ioc)
    expert = ioc.pv("Thermal.Threshold")
    before = pva.get(expert)
    refused = pva.get(f"{ioc.prefix}:IOC:PutsRefused")
    assert CA_NO_WRITE in ca_refused(expert, before + 1)  # libca never sends it: not counted
    assert "not permitted" in pva_refused(pva, expert, before + 2)
    assert pva.get(expert) == before
    assert epics.caget(expert, use_monitor=False) == before
    assert_denial_counted(pva, ioc.prefix, expert, refused + 1)
    # DEFAULT: writable, and the put checks still see what CA clients send
    plain = ioc.pv("Types.LocalInt")
    pva.put(plain, 21)
    assert pva.get(plain) == 21
    ca_put_refused(ca_errors, plain, 2.5, DBR_DOUBLE)
    assert pva.get(plain) == 21


@local_only
def test_group_selection(ioc_factory, pva_of, tmp_path):
    rules = tmp_path / "lab.acf"
    rules.write_text(RULES)
    # SimControl is in pyrogue's NoConfig group (sim/device.py)
    ioc, _ = start_dedicated(ioc_factory, "--acf", str(rules), "--asg", "EXPERT=group:NoConfig")
    pva = pva_of(ioc)
    assert "not permitted" in pva_refused(pva, ioc.pv("SimControl.SlowLatency"), 1.0)
    pva.put(ioc.pv("Thermal.Threshold"), 44.0)
    assert pva.get(ioc.pv("Thermal.Threshold")) == 44.0


@local_only
def test_read_only_serves_everything_read_only(ioc_factory, pva_of, tmp_path):
    ioc, _ = start_dedicated(
        ioc_factory, "--read-only", "--autosave", str(tmp_path / "settings.yml")
    )
    pva = pva_of(ioc)
    for path in ("Types.LocalInt", "Thermal.Threshold", "Types.LocalStr"):
        name = ioc.pv(path)
        before = pva.get(name)
        refused = pva.get(f"{ioc.prefix}:IOC:PutsRefused")
        assert "not permitted" in pva_refused(pva, name, 1)
        assert pva.get(name) == before
        assert_denial_counted(pva, ioc.prefix, name, refused + 1)
    assert CA_NO_WRITE in ca_refused(ioc.pv("Types.LocalInt"), 5)
    # the IOC's own command PVs too
    assert "not permitted" in pva_refused(pva, f"{ioc.prefix}:IOC:Config:Load", "x.yml")


@local_only
def test_bad_access_files_stop_the_start(ioc_factory, tmp_path):
    broken = tmp_path / "broken.acf"
    broken.write_text("ASG(DEFAULT) { RULE(1, READ\n")
    for args, needle in (
        (["--acf", str(broken)], "refused the access security file"),
        (["--acf", str(tmp_path / "missing.acf")], "cannot read access security file"),
        (["--acf", str(broken), "--read-only"], "exclude each other"),
        (["--asg", "EXPERT"], "expected ASG=group:NAME or ASG=PATH_PATTERN"),
    ):
        result = ioc_factory.run(*args)
        assert result.returncode == 2, (args, result.stdout[-2000:])
        assert needle in result.stdout, (args, result.stdout[-2000:])


DROPIN_ACCESS = os.environ.get("IOC_TEST_DROPIN_ACCESS") or None


@pytest.mark.skipif(DROPIN_ACCESS is None, reason="no drop-in IOC with access rules to test")
def test_another_host_cannot_write_expert_pvs():
    """The tests container is another host than the drop-in IOC's consoles (localhost)."""
    prefix = os.environ["IOC_TEST_DROPIN_PREFIX"]
    remote = Ioc(prefix, None)
    wait_ready(remote, remote.heartbeat)
    pva = PvaClient(remote.context())
    try:
        label = f"{prefix}:DemoRoot:Stage:Label"
        before = pva.get(label)
        refused = pva.get(f"{prefix}:IOC:PutsRefused")
        assert CA_NO_WRITE in ca_refused(label, "changed")
        assert "not permitted" in pva_refused(pva, label, "changed")
        assert pva.get(label) == before
        assert_denial_counted(pva, prefix, label, refused + 1)
        assert epics.caget(label, as_string=True, use_monitor=False) is not None
        # outside EXPERT the same client writes (the drop-in tests put to Speed as well)
        speed = f"{prefix}:DemoRoot:Stage:Speed"
        pva.put(speed, pva.get(speed))
    finally:
        pva.close()
        remote.stop()
