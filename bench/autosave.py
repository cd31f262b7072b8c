"""Autosave benchmark: restore and save of N settings, and puts during a put storm.

Restore and save (``make bench``: N = 1,000 to 100,000): builds the benchmark's ``sim.tree`` Root
with 2N variables (N of them RW settings: float, UInt32, enum and str), then times, in this
process and without EPICS: the first render of the file, a save after one setting changed, and a
restore of the file into a fresh tree with every value checked as a client put would be.

Put storm (``--storm``): the benchmark IOC (``serve_tree.py``, 10,000 variables) runs once without
and once with ``--autosave``; a client process (``--storm-client``) puts to 500 RW settings over
CA, without completion, at a steady offered rate (2,000 puts/s), while this process measures CA
and PVA put-with-completion round trips one at a time, as ``bench/run.py`` does. When the storm
ends, its client puts a final value to each of its settings with completion; after the IOC stops,
the autosave file must hold, for every setting the storm and the measured puts touched, the value
the IOC served last. Each storm run is a fresh process (the EPICS client libraries read their
addresses once).

Prints the tables and writes ``bench/results/autosave.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common
import measure as bench_measure
from serve_tree import build_tree

from ioc import configfile
from ioc.autosave import Autosave, apply_data, settings_of

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "autosave.json"
#: Put storm: variables of the IOC, settings the storm puts to, its offered rate (puts/s), and
#: the counted put round trips per protocol.
STORM_N = 10_000
STORM_TARGETS = 500
STORM_RATE = 2000
STORM_PUTS = 500


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


# --- put storm -----------------------------------------------------------------------------------


def storm_targets(n: int) -> list[int]:
    """RW float variables the storm puts to (none of them a measured put target)."""
    measured = set(bench_measure.put_targets(n))
    floats = [i for i in common.indices(n, True) if common.kind_of(i) == "float"]
    return [i for i in floats if i not in measured][:STORM_TARGETS]


def storm_client(prefix: str, n: int, rate: int) -> None:
    """Put to the storm's settings over CA at ``rate`` puts/s until stdin closes (a process).

    Then puts a final value to each with completion, which CA delivers after every earlier put
    of this client, and prints ``RESULT <json>``: puts sent, seconds, and the final values.
    """
    import epics

    targets = storm_targets(n)
    chids = [epics.ca.create_channel(common.pv_name(prefix, i), auto_cb=False) for i in targets]
    for chid in chids:
        if not epics.ca.connect_channel(chid, timeout=10):
            raise SystemExit(f"storm target {epics.ca.name(chid)} did not connect")
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print("STARTED", flush=True)
    sent, batch, started = 0, max(rate // 100, 1), time.perf_counter()
    while not stop.is_set():
        for _ in range(batch):
            epics.ca.put(chids[sent % len(chids)], sent // len(chids) + 0.125)
            sent += 1
        epics.ca.flush_io()
        time.sleep(max(started + sent / rate - time.perf_counter(), 0))
    seconds = time.perf_counter() - started
    final = sent // len(chids) + 1.125
    for chid in chids:
        epics.ca.put(chid, final, wait=True, timeout=30)
    print("RESULT", json.dumps({"sent": sent, "seconds": seconds, "final": final}), flush=True)


def saved_value(data: Any, i: int) -> Any:
    """Variable ``i``'s value in the autosave file's data (None if it is not there)."""
    node = data.get(common.ROOT, {}).get(common.device_name(i), {})
    return node.get(common.var_name(i))


def storm_run(n: int, autosave: bool, puts: int, rate: int, log_dir: Path) -> dict[str, Any]:
    """One IOC with or without autosave under the storm: put round trips and the file's check."""
    env = bench_measure.epics_environment()
    os.environ.update(env)
    from p4p.client.thread import Context

    ctx = Context("pva", conf={k: v for k, v in env.items() if "PVA" in k}, useenv=False)
    prefix = f"STORM{os.getpid() % 100000}"
    label = "on" if autosave else "off"
    out: dict[str, Any] = {"autosave": autosave, "n": n, "offered_rate": rate}
    out["load_before"] = bench_measure.loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "settings.yml"
        command = [sys.executable, "-u", str(HERE / "serve_tree.py"), prefix, str(n)]
        command += ["--autosave", str(path)] if autosave else []
        log_dir.mkdir(parents=True, exist_ok=True)
        server = bench_measure.Server(command, dict(os.environ), log_dir / f"storm-{label}.log")
        try:
            server.expect("READY", 60 + n * 3e-3)
            storm = subprocess.Popen(
                [sys.executable, __file__, "--storm-client", prefix, str(n), str(rate)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            if storm.stdout.readline().strip() != "STARTED":
                raise RuntimeError("the storm client did not start")
            accepted = f"{prefix}:IOC:PutsAccepted"
            before, started = ctx.get(accepted), time.monotonic()
            out["put"] = bench_measure.measure_puts(prefix, n, puts, ctx, server)
            out["accepted_rate"] = (ctx.get(accepted) - before) / (time.monotonic() - started)
            stdout, _ = storm.communicate(input="", timeout=120)
            out["storm"] = json.loads(stdout.split("RESULT ", 1)[1])
            touched = storm_targets(n) + bench_measure.put_targets(n)
            served = ctx.get([common.pv_name(prefix, i) for i in touched], timeout=30)
        finally:
            server.close()  # quit: the Root stops, and autosave saves what is left
        if autosave:
            data = configfile.read(path)
            lost = [i for i, v in zip(touched, served, strict=True) if saved_value(data, i) != v]
            out["settings_checked"], out["final_values_lost"] = len(touched), len(lost)
    out["load_after"] = bench_measure.loadavg()
    ctx.close()
    return out


def run_storm(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The storm without and with autosave, each in a fresh process; their results."""
    results = []
    for autosave in (False, True):
        command = [sys.executable, __file__, "--storm-run", "on" if autosave else "off"]
        command += [f"--storm-n={args.storm_n}", f"--storm-puts={args.storm_puts}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if not lines:
            raise SystemExit(f"storm run failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        results.append(json.loads(lines[-1][len("RESULT ") :]))
    print(
        "put storm       autosave  sent/s  accepted/s  CA p50  CA p99  PVA p50  PVA p99"
        "  errors  final values lost  load"
    )
    for r in results:
        ca, pva = r["put"]["ca"], r["put"]["pva"]
        lost = f"{r['final_values_lost']} of {r['settings_checked']}" if r["autosave"] else "-"
        print(
            f"{'':15} {'on' if r['autosave'] else 'off':>8}"
            f" {r['storm']['sent'] / r['storm']['seconds']:7.0f} {r['accepted_rate']:11.0f}"
            f" {ca['p50_ms']:6.2f} {ca['p99_ms']:7.2f} {pva['p50_ms']:8.2f} {pva['p99_ms']:8.2f}"
            f" {ca['errors'] + pva['errors']:7d} {lost:>18} {r['load_before']['load1']:5.1f}"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="settings (repeatable)")
    parser.add_argument("--storm", action="store_true", help="also the put storm, autosave off/on")
    parser.add_argument("--storm-n", type=int, default=STORM_N, help="variables of the storm IOC")
    parser.add_argument("--storm-puts", type=int, default=STORM_PUTS, help="counted puts each")
    parser.add_argument("--storm-run", choices=("on", "off"), help=argparse.SUPPRESS)
    parser.add_argument("--storm-client", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.storm_client:
        prefix, n, rate = args.storm_client
        storm_client(prefix, int(n), int(rate))
        return
    if args.storm_run:
        logs = RESULTS.parent / "logs"
        result = storm_run(args.storm_n, args.storm_run == "on", args.storm_puts, STORM_RATE, logs)
        print("RESULT", json.dumps(result), flush=True)
        return
    storm = run_storm(args) if args.storm else []
    results = [measure(n) for n in args.n or [1000, 10000, 100000]]
    print("autosave        settings  file MB  first save  save 1 change  restore  listener")
    for r in results:
        print(
            f"{'':15} {r['settings']:8d} {r['file_bytes'] / 1e6:8.2f} {r['first_save_s']:10.2f} s"
            f" {r['save_one_change_s']:12.2f} s {r['restore_s']:7.2f} s {r['listener_us']:6.1f} µs"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"restore": results, "storm": storm}, indent=1) + "\n")


if __name__ == "__main__":
    main()
