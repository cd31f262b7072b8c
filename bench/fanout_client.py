"""One fan-out client: monitors the fan-out PVs over CA or PVA and checks what arrives.

Started by :mod:`measure` (20 of them at once). It subscribes to the fan-out variables
(:func:`common.fanout_indices`), prints ``CONNECTED`` once every monitor has delivered, then
counts the updates of bursts FIRST..LAST: how many arrived, how many went back to an older
burst than the PV had already shown (out of order), and whether every PV ends on burst LAST.
It stops when every PV shows LAST or at the deadline, and prints ``RESULT <json>``.

Usage: ``python bench/fanout_client.py ca|pva PREFIX N COUNT FIRST LAST TIMEOUT [--mix M]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

#: Seconds after which a PVA monitor that delivered nothing is subscribed again.
RESUBSCRIBE_AFTER = 5.0


class Tally:
    """Per-PV order check and the count of updates of the measured bursts."""

    def __init__(self, watched: list[int], first: int, last: int) -> None:
        self.first, self.last = first, last
        self.shown = dict.fromkeys(watched, -1)
        self.updates = 0
        self.out_of_order = 0
        self.last_at = 0.0
        self.pending = len(watched)
        self.done = threading.Event()
        self.connected = threading.Event()
        self._seen: set[int] = set()
        self._lock = threading.Lock()

    def silent(self) -> list[int]:
        """The variables whose monitor has not delivered anything yet."""
        with self._lock:
            return [i for i in self.shown if i not in self._seen]

    def arrive(self, i: int, value: Any) -> None:
        """One monitor update of variable ``i``."""
        burst = common.burst_of(i, value)
        now = time.monotonic()
        with self._lock:
            if not self.connected.is_set():
                self._seen.add(i)
                if len(self._seen) == len(self.shown):
                    self.connected.set()
            previous = self.shown[i]
            if burst < previous:
                self.out_of_order += 1
            self.shown[i] = max(burst, previous)
            if self.first <= burst <= self.last:
                self.updates += 1
                self.last_at = now
                if burst == self.last and previous != self.last:
                    self.pending -= 1
                    if self.pending == 0:
                        self.done.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("protocol", choices=("ca", "pva"))
    parser.add_argument("prefix")
    parser.add_argument("n", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("first", type=int)
    parser.add_argument("last", type=int)
    parser.add_argument("timeout", type=float)
    parser.add_argument("--mix", default="mixed", choices=sorted(common.MIXES))
    args = parser.parse_args()
    common.use_mix(args.mix)
    watched = common.fanout_indices(args.n, args.count)
    tally = Tally(watched, args.first, args.last)
    keep: list[Any] = []
    if args.protocol == "ca":
        import epics

        names = {common.pv_name(args.prefix, i): i for i in watched}

        def on_ca(pvname: str = "", value: Any = None, **_: Any) -> None:
            tally.arrive(names[pvname], value)

        keep = [epics.PV(name, auto_monitor=True, callback=on_ca) for name in names]
    else:
        from p4p.client.thread import Context

        ctx = Context("pva", nt=False)

        def callback(i: int) -> Any:
            def on_pva(value: Any) -> None:
                if not isinstance(value, Exception):
                    tally.arrive(i, value["value"])

            return on_pva

        subs = {i: ctx.monitor(common.pv_name(args.prefix, i), callback(i)) for i in watched}
        deadline = time.monotonic() + args.timeout
        while not tally.connected.wait(RESUBSCRIBE_AFTER) and time.monotonic() < deadline:
            # p4p 4.3 can lose a monitor's first update (an update beating monitor()'s return).
            for i in tally.silent():
                subs[i].close()
                subs[i] = ctx.monitor(common.pv_name(args.prefix, i), callback(i))
        keep = list(subs.values())
    result: dict[str, Any] = {"protocol": args.protocol, "pvs": len(watched)}
    if tally.connected.wait(args.timeout):
        print("CONNECTED", flush=True)
        tally.done.wait(args.timeout)
    with tally._lock:
        result |= {
            "connected": tally.connected.is_set(),
            "updates": tally.updates,
            "out_of_order": tally.out_of_order,
            "last_correct": sum(burst == args.last for burst in tally.shown.values()),
            "last_at": tally.last_at,
        }
    print("RESULT", json.dumps(result), flush=True)
    del keep
    os._exit(0)


if __name__ == "__main__":
    main()
