"""The simulator: a pyrogue-compatible tree (`sim.tree`), register memory (`sim.memory`) and the
default simulated device `SimRoot` (`sim.device`), which the IOC loads as `sim:SimRoot`."""

from sim.device import SimRoot

__all__ = ["SimRoot"]
