"""Device definitions of our own, written as a lab writes pyrogue code, for the differential suite.

`build(pr, memory)` returns a Root using the constructs of docs/simulator.md; `pr` is either
`sim.tree` or the real `pyrogue`, `memory` the implementation's emulated memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def build(pr: Any, memory: Any, **rootArgs: Any) -> Any:
    """A Root 'root' with the Devices below on `memory`."""

    class Registers(pr.Device):
        """Bit fields, every model, list-valued placement, arrays, keywords."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.add(
                pr.RemoteVariable(
                    name="Raw", offset=0x00, bitSize=32, overlapEn=True, mode="RW", hidden=True
                )
            )
            self.add(
                pr.RemoteVariable(
                    name="Enable", offset=0x00, bitOffset=0, bitSize=1, base=pr.Bool, overlapEn=True
                )
            )
            self.add(
                pr.RemoteVariable(
                    name="Channel", offset=0x00, bitOffset=1, bitSize=3, overlapEn=True, disp="{:d}"
                )
            )
            self.add(
                pr.RemoteVariable(
                    name="Trim",
                    offset=0x00,
                    bitOffset=6,
                    bitSize=12,
                    overlapEn=True,
                    units="mV",
                    verify=False,
                )
            )
            self.add(
                pr.RemoteVariable(
                    name="Mode",
                    offset=0x00,
                    bitOffset=20,
                    bitSize=2,
                    overlapEn=True,
                    enum={0: "Off", 1: "On", 2: "Auto"},
                )
            )
            self.add(
                pr.RemoteVariable(
                    name="Signed",
                    offset=0x04,
                    bitSize=16,
                    base=pr.Int,
                    bulkOpEn=False,
                    updateNotify=False,
                )
            )
            self.add(
                pr.RemoteVariable(
                    name="Instance", offset=0x08, base=pr.UInt(32), retryCount=3, guiGroup="Group"
                )
            )
            self.add(
                pr.RemoteVariable(name="Reversed", offset=0x0C, bitSize=8, base=pr.UIntReversed)
            )
            self.add(pr.RemoteVariable(name="BigEndian", offset=0x10, bitSize=32, base=pr.UIntBE))
            self.add(
                pr.RemoteVariable(
                    name="Float",
                    offset=0x14,
                    bitSize=32,
                    base=pr.Float,
                    minimum=-10.0,
                    maximum=10.0,
                    highWarning=5.0,
                )
            )
            self.add(pr.RemoteVariable(name="Double", offset=0x18, bitSize=64, base=pr.Double))
            self.add(
                pr.RemoteVariable(
                    name="Text", offset=0x20, bitSize=8 * 16, base=pr.String, value="-"
                )
            )
            self.add(
                pr.RemoteVariable(
                    name="Split", offset=[0x30, 0x34], bitOffset=[0, 4], bitSize=[4, 8]
                )
            )
            self.add(
                pr.RemoteVariable(
                    name="Array", offset=0x40, numValues=4, valueBits=16, valueStride=16
                )
            )
            self.add(pr.RemoteVariable(name="Wide", offset=0x50, bitSize=128, mode="RO"))
            self.add(
                pr.RemoteVariable(
                    name="Limited", offset=0x60, bitSize=8, minimum=2, maximum=200, value=5
                )
            )
            self.addRemoteVariables(name="Lane", offset=0x70, number=4, stride=4, bitSize=8)
            self.add(
                pr.RemoteCommand(
                    name="Pulse", offset=0x80, bitSize=1, function=pr.BaseCommand.toggle
                )
            )
            self.add(
                pr.RemoteCommand(
                    name="Strobe", offset=0x84, bitSize=8, function=pr.BaseCommand.touchOne
                )
            )

    class Logic(pr.Device):
        """Local and link variables, commands and decorators, hooks."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.resets: list[str] = []
            self.seen: list[Any] = []
            self.add(
                pr.LocalVariable(
                    name="Gain",
                    value=1.0,
                    units="dB",
                    disp="{:.2f}",
                    minimum=0.0,
                    maximum=10.0,
                    guiGroup="Tuning",
                    localSet=lambda value: self.seen.append(value),
                )
            )
            self.add(pr.LocalVariable(name="Count", value=0, lowAlarm=-5, highAlarm=5))
            self.add(pr.LocalVariable(name="Label", value="idle", mode="RO"))
            self.add(pr.LocalVariable(name="Flag", value=False))
            self.add(pr.LocalVariable(name="Samples", value=np.zeros(3)))
            self.add(pr.LocalVariable(name="Choice", value=1, enum={0: "A", 1: "B", 2: "C"}))
            self.add(
                pr.LinkVariable(
                    name="GainX2",
                    dependencies=[self.Gain],
                    linkedGet=lambda var: var.dependencies[0].value() * 2,
                    linkedSet=lambda var, value: var.dependencies[0].set(value / 2),
                )
            )
            self.add(pr.LinkVariable(name="CountMirror", variable=self.Count))

            @self.command(value=0, description="add to Count")
            def Add(arg: int) -> None:
                self.Count.set(self.Count.value() + arg)

            @self.command()
            def Reset() -> None:
                self.Count.set(0)

            @self.linkVariableGet(dependencies=[self.Count], units="counts")
            def Doubled() -> int:
                return self.Count.value() * 2

            self.add(
                pr.LocalCommand(
                    name="Echo", value="", retValue="", function=lambda arg: f"echo {arg}"
                )
            )

        def hardReset(self) -> None:
            self.resets.append("hard")

        def countReset(self) -> None:
            self.resets.append("count")

        def initialize(self) -> None:
            self.resets.append("init")

    class LabRoot(pr.Root):
        def __init__(self) -> None:
            super().__init__(name="root", pollEn=False, timeout=2.0, **rootArgs)
            self.add(Registers(memBase=memory, offset=0x100, expand=True))
            self.add(Logic(guiGroup="Logic"))
            self.add(Registers(name="Spare", memBase=memory, offset=0x400, enabled=False))

    return LabRoot()
