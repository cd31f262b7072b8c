"""What the benchmark serves, shared by the servers (tree and raw softioc) and the client.

Variable ``i`` of ``n`` (0-based) has a fixed kind and mode, a fixed name and, for burst ``k``,
a fixed value, so the client knows what every PV must show without asking the server.

The mix repeats every 40 variables: 16 float, 12 UInt32, 6 enum (4 labels), 6 str; variables
come in pairs of the same kind, the even one read-only and the odd one read-write.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

#: Kind of the pair ``j`` of variables (``2j`` RO, ``2j+1`` RW) in each mix, repeating.
MIXES = {
    "mixed": ("float",) * 8 + ("uint32",) * 6 + ("enum",) * 3 + ("str",) * 3,
    "numeric": ("float",) * 8 + ("uint32",) * 6,
}
PAIR_KINDS = MIXES["mixed"]
#: The 4-label enum, {value: label} as pyrogue writes it.
ENUM = {0: "Zero", 1: "One", 2: "Two", 3: "Three"}
#: Buffer size (bytes, NUL included) the IOC gives a ``str`` Variable.
STR_CAPACITY = 4096
#: Display format of the float Variables (PREC 3).
FLOAT_DISP = "{:.3f}"
FLOAT_PREC = 3
UINT32_RANGE = (0, 2**32 - 1)
#: Root name and variables per Device.
ROOT = "Bench"
DEVICE_SIZE = 1000

#: Protocol lines from the servers start with this; anything else on their stdout is EPICS noise.
TAG = "BENCH"


def use_mix(name: str) -> None:
    """Serve (or expect) the mix ``name`` of :data:`MIXES` from now on."""
    global PAIR_KINDS
    PAIR_KINDS = MIXES[name]


def kind_of(i: int) -> str:
    """Kind of variable ``i``: 'float', 'uint32', 'enum' or 'str'."""
    return PAIR_KINDS[(i // 2) % len(PAIR_KINDS)]


def writable(i: int) -> bool:
    """True for the read-write half (odd indices)."""
    return i % 2 == 1


def device_name(i: int) -> str:
    return f"D{i // DEVICE_SIZE:03d}"


def var_name(i: int) -> str:
    return f"V{i:06d}"


def pv_name(prefix: str, i: int) -> str:
    """Full PV name of variable ``i``; the tree's automatic naming gives the same name."""
    return f"{prefix}:{ROOT}:{device_name(i)}:{var_name(i)}"


def value(i: int, burst: int) -> Any:
    """Tree value of variable ``i`` after burst ``burst`` (0: the initial value).

    Every burst changes every value. Floats are exact in a double; UInt32 values lie above
    2**31 so that they need the 64-bit record; enum values are the enum's keys.
    """
    kind = kind_of(i)
    if kind == "float":
        return burst * 1_000_000.0 + i + 0.5
    if kind == "uint32":
        return (2**31 + burst * 1_000_003 + i) % 2**32
    if kind == "enum":
        return (burst + i) % len(ENUM)
    return f"v{burst}-{i}"


def burst_of(i: int, shown: Any) -> int:
    """The burst whose value of float or UInt32 variable ``i`` shows ``shown`` (:func:`value`)."""
    if kind_of(i) == "float":
        return int(float(shown) // 1_000_000)
    return ((int(shown) - 2**31 - i) % 2**32) // 1_000_003


def fanout_indices(n: int, count: int) -> list[int]:
    """The first ``count`` float and UInt32 variables (RO and RW): what fan-out clients watch."""
    return [i for i in range(n) if kind_of(i) in ("float", "uint32")][:count]


def indices(n: int, rw: bool) -> range:
    """Indices of the RO (``rw`` False) or RW variables, in the order a burst sets them."""
    return range(1 if rw else 0, n, 2)


def emit(*fields: Any) -> None:
    """Write one protocol line to stdout."""
    print(TAG, *fields, flush=True)


def rss_kb() -> int:
    """This process's resident memory (VmRSS) in kB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def emit_ready(
    n: int, started: float, imported: float, built: float, ready: float, tree_kb: int = 0
) -> None:
    """Announce that the IOC serves all ``n`` PVs, with how long each start-up phase took.

    ``tree_kb`` is the resident memory the tree itself took (RSS after building it minus before).
    """
    emit(
        "READY",
        f"n={n}",
        f"import={imported - started:.3f}",
        f"build={built - imported:.3f}",
        f"init={ready - built:.3f}",
        f"tree_kB={tree_kb}",
    )


def command_loop(set_value: Callable[[int, Any], None], n: int) -> None:
    """Serve the client's commands from stdin until ``quit`` or end of input.

    ``burst ro|rw K`` sets every RO or RW variable, in index order, to its value of burst K and
    answers ``BENCH DONE ro|rw K <seconds the sets took>``; ``churn K COUNT`` makes COUNT sets
    cycling over all variables (pass p sets burst K+p's values); ``stream K ROUNDS COUNT …`` sets
    the fan-out variables (:func:`fanout_indices`) to the values of bursts K..K+ROUNDS-1 in turn;
    both answer ``BENCH DONE <command> K <seconds>``; a stream round starts every PERIOD seconds
    (``stream K ROUNDS COUNT PERIOD``). ``stats`` answers ``BENCH STATS <json>``
    with the EPICS callback queue figures since the last ``stats``.
    """
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            return
        if words[0] == "stats":
            emit("STATS", json.dumps(callback_queue_stats(), separators=(",", ":")))
        elif words[0] == "burst" and len(words) == 3:
            rw, burst = words[1] == "rw", int(words[2])
            started = time.perf_counter()
            _burst(set_value, indices(n, rw), burst)
            emit("DONE", words[1], burst, f"{time.perf_counter() - started:.6f}")
        elif words[0] in ("churn", "stream") and len(words) in (3, 5):
            first, count = int(words[1]), int(words[2])
            started = time.perf_counter()
            if words[0] == "churn":
                for c in range(count):
                    i = c % n
                    set_value(i, value(i, first + c // n))
            else:
                watched, period = fanout_indices(n, int(words[3])), float(words[4])
                for k in range(count):
                    time.sleep(max(started + k * period - time.perf_counter(), 0))
                    _burst(set_value, watched, first + k)
            emit("DONE", words[0], first, f"{time.perf_counter() - started:.6f}")
        else:
            emit("ERROR", "unknown command", repr(line.strip()))


class _QueueStats(ctypes.Structure):
    """EPICS ``callbackQueueStats`` (callback.h): one entry per priority (low, medium, high)."""

    _fields_ = [
        ("size", ctypes.c_int),
        ("numUsed", ctypes.c_int * 3),
        ("maxUsed", ctypes.c_int * 3),
        ("numOverflow", ctypes.c_int * 3),
    ]


_overflows_seen = [0]


def callback_queue_stats() -> dict[str, Any] | None:
    """The low-priority callback queue since the last call: size, high-water mark, overflows.

    softioc's In records process through this queue (I/O Intr scan); a request that finds it
    full is dropped by EPICS, so that record shows no update for it. None before iocInit.
    """
    from softioc import imports

    stats = _QueueStats()
    # Resets the high-water mark; the overflow count is cumulative.
    if imports.dbCore.callbackQueueStatus(1, ctypes.byref(stats)) != 0:
        return None
    overflows = stats.numOverflow[0] - _overflows_seen[0]
    _overflows_seen[0] = stats.numOverflow[0]
    return {"size": stats.size, "max_used": stats.maxUsed[0], "overflows": overflows}


def _burst(set_value: Callable[[int, Any], None], which: Iterable[int], burst: int) -> None:
    for i in which:
        set_value(i, value(i, burst))


def leave() -> None:
    """End the server process now: an EPICS IOC cannot be shut down, only exited."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
