"""Raw softioc baseline: the benchmark's variables as plain softioc records, no tree, no holders.

Same record kinds, names, sizes and fields as the IOC gives the tree variables (ai/ao PREC 3,
int64in/int64out with the UInt32 display range, mbbi/mbbo with the 4 labels, longStringIn/Out of
4096 bytes, DESC on all); the Out records have a trivial blocking ``on_update`` so that a put with
completion waits for a dispatched callback, as it does in the IOC. A burst is ``record.set()``.

Usage: ``python bench/serve_raw.py PREFIX N [--mix M]``; protocol in :mod:`common`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()

from softioc import asyncio_dispatcher, builder, softioc  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def _noop(value: object) -> None:
    """The trivial on_update of every raw Out record."""


def make_record(prefix: str, i: int):
    """Create the record of variable ``i`` holding its initial value."""
    kind, out = common.kind_of(i), common.writable(i)
    name = common.pv_name(prefix, i)
    fields: dict = {"DESC": f"bench {kind} {i}", "initial_value": common.value(i, 0)}
    if out:
        fields |= {"on_update": _noop, "blocking": True}
    if kind == "float":
        maker = builder.aOut if out else builder.aIn
        return maker(name, PREC=common.FLOAT_PREC, **fields)
    if kind == "uint32":
        maker = builder.int64Out if out else builder.int64In
        low, high = common.UINT32_RANGE
        return maker(name, LOPR=low, HOPR=high, **fields)
    if kind == "enum":
        maker = builder.mbbOut if out else builder.mbbIn
        return maker(name, *common.ENUM.values(), **fields)
    maker = builder.longStringOut if out else builder.longStringIn
    return maker(name, length=common.STR_CAPACITY, **fields)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prefix")
    parser.add_argument("n", type=int)
    parser.add_argument("--mix", default="mixed", choices=sorted(common.MIXES))
    args = parser.parse_args()
    prefix, n = args.prefix, args.n
    common.use_mix(args.mix)
    imported = time.perf_counter()
    records = [make_record(prefix, i) for i in range(n)]
    built = time.perf_counter()
    builder.LoadDatabase()
    softioc.iocInit(asyncio_dispatcher.AsyncioDispatcher())
    ready = time.perf_counter()
    common.emit_ready(n, STARTED, imported, built, ready)
    common.command_loop(lambda i, v: records[i].set(v), n)
    common.leave()


if __name__ == "__main__":
    main()
