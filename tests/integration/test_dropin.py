"""The drop-in example (examples/dropin): a hardware Root package in a derived rogue-ioc image.

Runs only against a running drop-in IOC: ``IOC_TEST_DROPIN_PREFIX`` names its prefix (the compose
``tests`` service sets it for the ``ioc-dropin`` service, HW) and the ``EPICS_*`` environment must
reach it. The IOC keeps its state between runs, so every check is relative to what it reads first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .conftest import CaClient, Ioc, PvaClient, wait_ready
from .support import wait_for

PREFIX = os.environ.get("IOC_TEST_DROPIN_PREFIX") or None

pytestmark = pytest.mark.skipif(
    PREFIX is None, reason="no drop-in IOC to test (set IOC_TEST_DROPIN_PREFIX)"
)

STAGE = "DemoRoot:Stage"
"""PV names below the prefix: demo_hw_root:DemoRoot serves its Root as 'DemoRoot'."""


def pv(name: str) -> str:
    return f"{PREFIX}:{STAGE}:{name}"


@pytest.fixture(scope="module")
def dropin() -> Iterator[Ioc]:
    remote = Ioc(PREFIX, None)
    wait_ready(remote, remote.heartbeat)
    yield remote
    remote.stop()


@pytest.fixture
def pva(dropin: Ioc) -> Iterator[PvaClient]:
    client = PvaClient(dropin.context())
    yield client
    client.close()


def test_demo_root_is_served_on_ca_and_pva(ca: CaClient, pva: PvaClient) -> None:
    assert ca.get(f"{pv('Position')}.RTYP", as_string=True) == "ao"
    assert ca.get(f"{pv('Position')}.EGU", as_string=True) == "mm"
    assert ca.get(pv("Position")) == pytest.approx(pva.get(pv("Position")))
    assert ca.text(pv("Label")) == pva.get(pv("Label"))


def test_put_and_readback_on_both_protocols(ca: CaClient, pva: PvaClient) -> None:
    speed = pv("Speed")
    first = 100 if ca.get(speed) != 100 else 200
    ca.put(speed, first)
    assert ca.get(speed) == first
    assert pva.get(speed) == first

    second = first + 7
    pva.put(speed, second)
    assert pva.get(speed) == second
    assert ca.get(speed) == second


def test_out_of_range_put_is_refused(ca: CaClient, pva: PvaClient) -> None:
    speed = pv("Speed")
    before = ca.get(speed)
    assert pva.put_refused(speed, 501)  # Speed's maximum is 500
    assert ca.get(speed) == before


def test_commands_act_on_the_tree(ca: CaClient, pva: PvaClient) -> None:
    position = pv("Position")
    pva.put(pv("Home"), 0)
    wait_for(lambda: ca.get(position) == 0.0, what=f"{position} = 0 after Home")

    ca.put(pv("MoveBy"), 1.5)
    wait_for(lambda: pva.get(position) == pytest.approx(1.5), what=f"{position} = 1.5")
    ca.put(pv("MoveBy"), -0.25)
    wait_for(lambda: ca.get(position) == pytest.approx(1.25), what=f"{position} = 1.25")
