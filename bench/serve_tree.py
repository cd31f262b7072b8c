"""Tree side of the benchmark: a ``sim.tree`` Root of N LocalVariables served by EpicsPvServer.

Variables (see :mod:`common` for the mix): float with disp ``'{:.3f}'``, ``typeStr='UInt32'``,
an enum of 4 labels and ``str``, half RO and half RW, 1000 per Device. A burst is ``var.set()``
from this process, so every update travels the IOC's listener path to the records.

Usage: ``python bench/serve_tree.py PREFIX N``; protocol in :mod:`common`.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import common  # noqa: E402

from ioc import EpicsPvServer  # noqa: E402
from sim.tree import Device, LocalVariable, Root  # noqa: E402


def make_variable(i: int) -> LocalVariable:
    """The LocalVariable of variable ``i`` holding its initial value."""
    kind = common.kind_of(i)
    fields = {
        "name": common.var_name(i),
        "value": common.value(i, 0),
        "mode": "RW" if common.writable(i) else "RO",
        "description": f"bench {kind} {i}",
    }
    if kind == "float":
        return LocalVariable(disp=common.FLOAT_DISP, **fields)
    if kind == "uint32":
        return LocalVariable(typeStr="UInt32", disp="{:d}", **fields)
    if kind == "enum":
        return LocalVariable(enum=common.ENUM, **fields)
    return LocalVariable(typeStr="str", **fields)


def build_tree(n: int) -> tuple[Root, list[LocalVariable]]:
    """A Root with the N variables in Devices of DEVICE_SIZE, and the variables by index."""
    variables = [make_variable(i) for i in range(n)]
    root = Root(name=common.ROOT, description="rogue-ioc benchmark tree")
    for first in range(0, n, common.DEVICE_SIZE):
        device = Device(name=common.device_name(first), description="benchmark device")
        device.add(variables[first : first + common.DEVICE_SIZE])
        root.add(device)
    return root, variables


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    prefix, n = sys.argv[1], int(sys.argv[2])
    imported = time.perf_counter()
    root, variables = build_tree(n)
    built = time.perf_counter()
    EpicsPvServer(base=prefix, root=root)
    root.start()
    ready = time.perf_counter()
    common.emit_ready(n, STARTED, imported, built, ready)
    common.command_loop(lambda i, v: variables[i].set(v), n)
    root.stop()
    common.leave()


if __name__ == "__main__":
    main()
