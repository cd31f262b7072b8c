"""Small Roots for edge cases the simulator does not carry, served by extra IOCs.

An extra IOC loads them with ``--root integration.roots:<Class>`` (``tests/`` on PYTHONPATH).
They are built from ``sim.tree``, the same pyrogue-compatible tree the simulator uses.
"""

from __future__ import annotations

import hashlib

from sim.device import nested_devices
from sim.memory import MemoryEmulator
from sim.tree import Device, LocalVariable, RemoteVariable, Root, UInt

LONG_DESCRIPTION = "A description much longer than the forty characters that EPICS allows"
#: Device names along a path whose PV name is over 500 characters long.
DEEP_PATH = [f"Level{i}" + "x" * 44 for i in range(10)]
ABOVE_INT64 = 2**64 - 1


class EdgeRoot(Root):
    """A long description, a ~500-character PV name, a UInt64 above 2**63-1."""

    def __init__(self) -> None:
        super().__init__(name="root", description="rogue-ioc edge cases")
        memory = MemoryEmulator(0x100)
        edge = Device(name="Edge", memBase=memory)
        edge.add(
            [
                LocalVariable(name="Described", value=1.5, description=LONG_DESCRIPTION),
                RemoteVariable(
                    name="HugeUInt64",
                    offset=0x00,
                    bitSize=64,
                    base=UInt,
                    mode="RO",
                    value=ABOVE_INT64,
                ),
                RemoteVariable(name="BigUInt64", offset=0x08, bitSize=64, base=UInt, value=5),
            ]
        )
        self.add([edge, nested_devices(".".join(DEEP_PATH), LocalVariable(name="Leaf", value=3))])


class BadNameRoot(Root):
    """A variable whose name has characters EPICS names cannot hold."""

    def __init__(self) -> None:
        super().__init__(name="root", description="bad names")
        device = Device(name="Dev")
        device.add([LocalVariable(name="Fine", value=1), LocalVariable(name="Not Fine$", value=2)])
        self.add(device)


class ManyNamesRoot(Root):
    """4,000 variables with names that compress poorly: a name list of several chunks."""

    COUNT = 4000

    def __init__(self) -> None:
        super().__init__(name="root", description="many names")
        device = Device(name="Many")
        device.add(
            [
                LocalVariable(name=f"V{hashlib.sha1(str(i).encode()).hexdigest()[:16]}", value=i)
                for i in range(self.COUNT)
            ]
        )
        self.add(device)
