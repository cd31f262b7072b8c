"""Run a lab's pyrogue device package without Rogue: `import pyrogue` resolves to sim.tree.

`install()` makes `import pyrogue` give `sim.tree` only when real pyrogue cannot be imported,
and logs which one is used. `simulatedRoot(cls)` turns a lab's class into a Root to serve: a
Root class is constructed as is; a Device class is placed, as `root.<ClassName>`, on emulated
memory (sim.memory without Rogue, rogue's own memory emulator with it). What runs and what does
not is described in docs/simulator.md; hardware transports (rogue.hardware, protocols, streams)
are not simulated.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from types import ModuleType
from typing import Any

__all__ = ["MODULE_NAME", "install", "simulatedRoot"]

log = logging.getLogger(__name__)

MODULE_NAME = "pyrogue"
_EMULATE_MAX = 0x1000


def install() -> ModuleType:
    """The module `import pyrogue` gives from now on: real pyrogue if importable, else sim.tree.

    Says in the log which one it is.
    """
    current = sys.modules.get(MODULE_NAME)
    if current is not None:
        return current
    if importlib.util.find_spec(MODULE_NAME) is not None:
        try:
            module = importlib.import_module(MODULE_NAME)
        except ImportError as error:  # installed but unusable (e.g. its C++ core is missing)
            log.warning("real pyrogue is installed but does not import (%s)", error)
        else:
            log.info("real pyrogue is installed (%s): using it", getattr(module, "__file__", "?"))
            return module
    import sim.tree

    sys.modules[MODULE_NAME] = sim.tree
    log.warning(
        "pyrogue is not installed: 'import pyrogue' resolves to the simulator (sim.tree); "
        "RemoteVariables live in emulated memory"
    )
    return sim.tree


def _isSimulated(pr: ModuleType) -> bool:
    return pr.__name__ == "sim.tree"


def _extent(device: Any, base: int) -> int:
    """Bytes of memory the RemoteVariables at and below `device` reach (device at `base`)."""
    end = 0
    for node in device.nodes.values():
        if node.isDevice:
            end = max(end, _extent(node, base + node.offset))
        elif hasattr(node, "varBytes") and getattr(node, "_hasOffset", True):
            end = max(end, base + node.offset + node.varBytes)
    return end


def simulatedRoot(cls: type, name: str = "root") -> Any:
    """An instance of `cls` if it is a Root, else a Root serving `cls()` on emulated memory."""
    pr = sys.modules.get(MODULE_NAME) or install()
    if issubclass(cls, pr.Root):
        return cls()
    if not issubclass(cls, pr.Device):
        raise TypeError(f"{cls.__name__} is neither a pyrogue Root nor a Device")
    device = cls()
    if _isSimulated(pr):
        from sim.memory import MemoryEmulator

        memory = MemoryEmulator(max(_extent(device, device.offset), 4))
    else:
        memory = importlib.import_module("rogue.interfaces.memory").Emulate(4, _EMULATE_MAX)
    root = pr.Root(name=name, description=f"{cls.__name__} on emulated memory")
    device._memBase = memory
    if _isSimulated(pr):
        device._memory = memory
    else:
        device._setSlave(memory)
    root.add(device)
    root._emulatedMemory = memory
    return root
