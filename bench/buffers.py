"""Buffer memory the capacity policy gives the benchmark tree: the record buffers, per N.

A record's value buffer (NELM x element size) is resident from the start, so this is memory the
IOC holds whatever the values are. Computed from the mappings the IOC would build (no IOC runs):
``python bench/buffers.py 10000 100000``; :mod:`run` adds it to its report.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import common  # noqa: E402
from serve_tree import build_tree  # noqa: E402

from ioc import capacity  # noqa: E402
from ioc.kinds import resolve  # noqa: E402

#: Sizes always reported, whatever N the run measured.
SIZES = (10_000, 100_000)


def buffers(n: int) -> dict[str, Any]:
    """Buffer bytes of the benchmark tree of ``n`` variables, in total and by kind."""
    _, variables = build_tree(n)
    by_kind: dict[str, int] = defaultdict(int)
    for i, var in enumerate(variables):
        by_kind[common.kind_of(i)] += resolve(var).buffer_bytes
    total = sum(by_kind.values())
    return {
        "n": n,
        "total_MiB": total / capacity.MIB,
        "per_pv_B": total / n,
        "by_kind_MiB": {kind: size / capacity.MIB for kind, size in sorted(by_kind.items())},
    }


def defaults() -> dict[str, int]:
    """The built-in capacities in bytes (one PV each)."""
    return {
        "str": capacity.TEXT,
        "Root SystemLog": capacity.SYSTEM_LOG,
        "Root SystemLogLast": capacity.SYSTEM_LOG_LAST,
        "array that may grow": capacity.GROWING_ARRAY,
    }


def report(sizes: list[int]) -> dict[str, Any]:
    """Buffers at every size of ``sizes`` and :data:`SIZES`, with the defaults."""
    return {
        "defaults_B": defaults(),
        "trees": [buffers(n) for n in sorted({*sizes, *SIZES})],
    }


def lines(data: dict[str, Any]) -> list[str]:
    """The report as text lines."""
    out = ["Record buffers of the capacity policy (resident from the start):"]
    out += [f"  {name}: {size:,} B per PV" for name, size in data["defaults_B"].items()]
    for tree in data["trees"]:
        kinds = ", ".join(f"{k} {v:.1f}" for k, v in tree["by_kind_MiB"].items())
        out.append(
            f"  N={tree['n']:,}: {tree['total_MiB']:.1f} MiB ({tree['per_pv_B']:.0f} B/PV; "
            f"MiB by kind: {kinds})"
        )
    return out


if __name__ == "__main__":
    print("\n".join(lines(report([int(n) for n in sys.argv[1:]]))))
