"""A lab's device module, written against real pyrogue only (`import pyrogue as pr`).

The end-to-end test serves `lab_board:Board` with `rogue-ioc --simulate-pyrogue` where Rogue is
not installed: `import pyrogue` then resolves to the simulator and the registers live in
emulated memory.
"""

import pyrogue as pr


class Board(pr.Device):
    """A carrier board: version and scratch registers, packed control bits, a link, commands."""

    def __init__(self, **kwargs):
        super().__init__(description="lab carrier board", **kwargs)
        self.add(pr.RemoteVariable(name="Version", offset=0x00, mode="RO", value=0x0102))
        self.add(pr.RemoteVariable(name="Scratch", offset=0x04, base=pr.UInt(32)))
        self.add(
            pr.RemoteVariable(name="Control", offset=0x08, bitSize=32, hidden=True, overlapEn=True)
        )
        self.add(
            pr.RemoteVariable(
                name="Enable", offset=0x08, bitOffset=0, bitSize=1, base=pr.Bool, overlapEn=True
            )
        )
        self.add(
            pr.RemoteVariable(
                name="Gain",
                offset=0x08,
                bitOffset=4,
                bitSize=4,
                overlapEn=True,
                enum={0: "x1", 1: "x2", 2: "x4"},
            )
        )
        self.add(
            pr.RemoteVariable(
                name="Offset",
                offset=0x0C,
                bitSize=16,
                base=pr.Int,
                units="counts",
                minimum=-1000,
                maximum=1000,
            )
        )
        self.addRemoteVariables(
            name="Threshold", offset=0x10, number=2, stride=4, bitSize=12, disp="{:d}"
        )
        self.add(
            pr.LinkVariable(
                name="ScratchHalf",
                dependencies=[self.Scratch],
                linkedGet=lambda var: var.dependencies[0].value() // 2,
                linkedSet=lambda var, value: var.dependencies[0].set(value * 2),
            )
        )
        self.add(
            pr.RemoteCommand(name="Reset", offset=0x20, bitSize=1, function=pr.BaseCommand.toggle)
        )

        @self.command(value=0, description="load the scratch register")
        def LoadScratch(arg):
            self.Scratch.set(arg)
