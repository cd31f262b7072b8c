"""demo_hw_root: an example hardware Root package for the rogue-ioc drop-in image.

A lab's real package builds its tree with `import pyrogue as pr` on top of a rogue memory bridge
to the hardware. This one builds the same kind of tree from `sim.tree` on an emulated register
space, so the drop-in path (a derived image that adds the package and sets
IOC_ROOT=demo_hw_root:DemoRoot) can be exercised without hardware.
"""

from __future__ import annotations

from typing import Any

from sim.memory import MemoryEmulator
from sim.tree import Device, Float, LocalCommand, LocalVariable, RemoteVariable, Root, UInt

__all__ = ["DemoRoot", "Stage"]


class Stage(Device):
    """A motorised stage: registers for position and speed, a label and two commands."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(description="Motorised linear stage", **kwargs)
        self.add(
            [
                RemoteVariable(
                    name="Position",
                    offset=0x00,
                    base=Float,
                    value=0.0,
                    minimum=-100.0,
                    maximum=100.0,
                    units="mm",
                    disp="{:.3f}",
                    description="Stage position",
                ),
                RemoteVariable(
                    name="Speed",
                    offset=0x04,
                    bitSize=16,
                    base=UInt,
                    value=10,
                    maximum=500,
                    units="mm/s",
                    disp="{:d}",
                    description="Move speed",
                ),
                LocalVariable(name="Label", value="stage-1", description="Free-text label"),
                LocalCommand(name="Home", function=self._home, description="Move to 0 mm"),
                LocalCommand(
                    name="MoveBy",
                    function=self._moveBy,
                    value=0.0,
                    description="Move by the given distance in mm",
                ),
            ]
        )

    def _home(self) -> None:
        self.Position.set(0.0)

    def _moveBy(self, arg: float) -> None:
        self.Position.set(self.Position.get() + arg)


class DemoRoot(Root):
    """The drop-in example Root: one Stage on its own emulated register space."""

    def __init__(self, *, name: str = "DemoRoot", pollEn: bool = True) -> None:
        super().__init__(name=name, description="rogue-ioc drop-in example", pollEn=pollEn)
        self.memory = MemoryEmulator(0x100)
        self.add(Stage(memBase=self.memory))
