"""Tree side of the benchmark: a Root of N LocalVariables served by an EPICS server.

Variables (see :mod:`common` for the mixes): float with disp ``'{:.3f}'``, ``typeStr='UInt32'``,
an enum of 4 labels and ``str``, half RO and half RW, 1000 per Device. The Root is a ``sim.tree``
Root or (``--tree pyrogue``) a real pyrogue Root; the server is rogue-ioc's ``EpicsPvServer`` or
(``--server epicsv7``, pyrogue only) Rogue's own ``pyrogue.protocols.epicsV7.EpicsPvServer``. A
burst is ``var.set()`` from this process, so every update travels the server's listener path.

Usage: ``python bench/serve_tree.py PREFIX N [--mix M] [--tree T] [--server S] [--autosave F]``;
protocol in :mod:`common`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import common  # noqa: E402


def make_variable(tree: Any, i: int) -> Any:
    """The LocalVariable of variable ``i`` holding its initial value."""
    kind = common.kind_of(i)
    fields = {
        "name": common.var_name(i),
        "value": common.value(i, 0),
        "mode": "RW" if common.writable(i) else "RO",
        "description": f"bench {kind} {i}",
    }
    if kind == "float":
        return tree.LocalVariable(disp=common.FLOAT_DISP, **fields)
    if kind == "uint32":
        return tree.LocalVariable(typeStr="UInt32", disp="{:d}", **fields)
    if kind == "enum":
        return tree.LocalVariable(enum=common.ENUM, **fields)
    return tree.LocalVariable(typeStr="str", **fields)


def build_tree(n: int, tree: Any = None) -> tuple[Any, list[Any]]:
    """A Root with the N variables in Devices of DEVICE_SIZE, and the variables by index.

    ``tree`` is the module providing Root, Device and LocalVariable (``sim.tree`` by default).
    """
    if tree is None:
        import sim.tree as tree
    variables = [make_variable(tree, i) for i in range(n)]
    root = tree.Root(name=common.ROOT, description="rogue-ioc benchmark tree")
    for first in range(0, n, common.DEVICE_SIZE):
        device = tree.Device(name=common.device_name(first), description="benchmark device")
        device.add(variables[first : first + common.DEVICE_SIZE])
        root.add(device)
    return root, variables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prefix")
    parser.add_argument("n", type=int)
    parser.add_argument("--mix", default="mixed", choices=sorted(common.MIXES))
    parser.add_argument("--tree", default="sim", choices=("sim", "pyrogue"))
    parser.add_argument("--server", default="rogue-ioc", choices=("rogue-ioc", "epicsv7"))
    parser.add_argument("--autosave", metavar="FILE", help="rogue-ioc keeps its settings in FILE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    common.use_mix(args.mix)
    if args.tree == "pyrogue":
        import pyrogue as tree
    else:
        import sim.tree as tree
    if args.server == "epicsv7":
        import pyrogue.protocols.epicsV7

        server = pyrogue.protocols.epicsV7.EpicsPvServer
    else:
        from ioc import EpicsPvServer as server
    imported, before = time.perf_counter(), common.rss_kb()
    root, variables = build_tree(args.n, tree)
    built, tree_kb = time.perf_counter(), common.rss_kb() - before
    extra = {}
    if args.autosave:
        from ioc.autosave import Autosave

        extra["autosave"] = Autosave(args.autosave)
    server(base=args.prefix, root=root, incGroups=None, excGroups=None, pvMap=None, **extra)
    root.start()
    ready = time.perf_counter()
    common.emit_ready(args.n, STARTED, imported, built, ready, tree_kb)
    common.command_loop(lambda i, v: variables[i].set(v), args.n)
    root.stop()
    common.leave()


if __name__ == "__main__":
    main()
