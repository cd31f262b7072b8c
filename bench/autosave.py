"""Autosave benchmark: restore and save of N settings (``make bench``: N = 100,000).

Builds the benchmark's ``sim.tree`` Root with 2N variables (N of them RW settings: float,
UInt32, enum and str), then times, in this process and without EPICS: the first render of the
file, a save after one setting changed, and a restore of the file into a fresh tree with every
value checked as a client put would be. Prints one table and writes
``bench/results/autosave.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common
from serve_tree import build_tree

from ioc import configfile
from ioc.autosave import Autosave, apply_data, settings_of

RESULTS = Path(__file__).resolve().parent / "results" / "autosave.json"


def measure(n: int) -> dict[str, float]:
    """Seconds (and bytes) of each step for N settings."""
    root, variables = build_tree(2 * n)
    root.start()  # paths exist once the Root starts; its own settings join the N
    settings = settings_of(root.variableList)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "settings.yml"
        autosave = Autosave(path, period=0)
        autosave.restore(settings)
        started = time.perf_counter()
        autosave.start()  # reads every setting, builds the layout, saves in the background
        autosave.stop()
        first = time.perf_counter() - started
        changed = variables[1]
        changed.set(common.value(1, 1))
        started = time.perf_counter()
        for _ in range(10000):
            autosave._changed(changed.path, None)
        listener = (time.perf_counter() - started) / 10000
        started = time.perf_counter()
        autosave.save_changes()
        save = time.perf_counter() - started
        size = path.stat().st_size
        fresh, _ = build_tree(2 * n)
        fresh.start()
        fresh_settings = settings_of(fresh.variableList)
        started = time.perf_counter()
        outcome = apply_data(fresh_settings, configfile.read(path), "bench")
        restore = time.perf_counter() - started
        fresh.stop()
        root.stop()
        assert outcome.applied == len(settings) and not outcome.skipped, outcome.summary()
    return {
        "settings": len(settings),
        "file_bytes": size,
        "first_save_s": first,
        "save_one_change_s": save,
        "listener_us": listener * 1e6,
        "restore_s": restore,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="settings (repeatable)")
    args = parser.parse_args()
    results = [measure(n) for n in args.n or [1000, 10000, 100000]]
    print("autosave        settings  file MB  first save  save 1 change  restore  listener")
    for r in results:
        print(
            f"{'':15} {r['settings']:8d} {r['file_bytes'] / 1e6:8.2f} {r['first_save_s']:10.2f} s"
            f" {r['save_one_change_s']:12.2f} s {r['restore_s']:7.2f} s {r['listener_us']:6.1f} µs"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
