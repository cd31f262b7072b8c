"""End to end: a lab's `import pyrogue` device module served with --simulate-pyrogue.

`tests/lab/lab_board.py` is written against real pyrogue only. Without Rogue installed the
IOC resolves `import pyrogue` to the simulator, places the Board on emulated memory and serves
it; with Rogue installed it uses real pyrogue on rogue's memory emulator. Either way the Board's
registers are read and written over CA and PVA.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from .support import wait_for

LAB = str(Path(__file__).resolve().parents[1] / "lab")
REAL_PYROGUE = importlib.util.find_spec("pyrogue") is not None


@pytest.fixture(scope="module", params=["flag", "env"])
def lab_ioc(request, ioc_factory):
    """The IOC serving lab_board:Board, asked for by flag or by IOC_SIMULATE_PYROGUE=1."""
    env = {"PYTHONPATH": LAB}
    args = ["--root", "lab_board:Board"]
    if request.param == "flag":
        args.insert(0, "--simulate-pyrogue")
    else:
        env["IOC_SIMULATE_PYROGUE"] = "1"
    return ioc_factory.start(*args, env=env)


def test_the_log_says_which_pyrogue_serves(lab_ioc):
    expected = "real pyrogue is installed" if REAL_PYROGUE else "resolves to the simulator"
    wait_for(lambda: expected in lab_ioc.log_text(), what=f"{expected!r} in the IOC log")


def test_registers_over_ca_and_pva(lab_ioc, ca, pva_of):
    pva = pva_of(lab_ioc)
    scratch = lab_ioc.pv("Board.Scratch")
    ca.put(scratch, 0x1234)
    assert ca.get(scratch) == 0x1234
    assert pva.get(scratch) == 0x1234
    pva.put(scratch, 77)
    assert ca.get(scratch) == 77
    assert ca.get(lab_ioc.pv("Board.Version")) == 0x0102


def test_bit_fields_enums_and_limits(lab_ioc, ca, pva_of):
    pva = pva_of(lab_ioc)
    gain, enable, control = (lab_ioc.pv(f"Board.{n}") for n in ("Gain", "Enable", "Control"))
    ca.put(gain, "x4")
    pva.put(enable, 1)
    assert ca.get(gain, as_string=True) == "x4"
    wait_for(lambda: ca.get(control) == 0x21, what="Control == 0x21 after Gain/Enable puts")
    offset = lab_ioc.pv("Board.Offset")
    pva.put(offset, -500)
    assert ca.get(offset) == -500
    assert ca.get(f"{offset}.EGU") == "counts"


def test_link_variable_array_nodes_and_commands(lab_ioc, ca, pva_of):
    pva = pva_of(lab_ioc)
    ca.put(lab_ioc.pv("Board.ScratchHalf"), 21)
    wait_for(lambda: pva.get(lab_ioc.pv("Board.Scratch")) == 42, what="Scratch == 42")
    threshold = lab_ioc.pv("Board.Threshold[1]")
    pva.put(threshold, 4000)
    assert ca.get(threshold) == 4000
    ca.put(lab_ioc.pv("Board.LoadScratch"), 9)
    wait_for(lambda: ca.get(lab_ioc.pv("Board.Scratch")) == 9, what="Scratch == 9")
