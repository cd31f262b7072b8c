"""rogue-ioc benchmark: the IOC serving a tree against raw softioc records, side by side.

For each N, one raw softioc IOC and one tree IOC (each its own subprocess, measured by
``bench/measure.py`` in a fresh client process) serve N variables of the same mix (see
``bench/common.py``). Prints a table with each figure as a ratio to raw softioc and PASS/MISS
per target, and writes everything to ``bench/results/latest.json`` (smoke runs:
``smoke.json``) with the tables as Markdown beside it.

    python bench/run.py                      # N = 1000, 10000, 100000 (make bench)
    python bench/run.py --smoke              # N = 100, quick (make bench-smoke)
    python bench/run.py --render bench/results/latest.json --markdown   # tables again
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: The servers a configuration may have measured: raw softioc, rogue-ioc, Rogue's epicsV7.
KINDS = ("raw", "tree", "epicsv7")
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

import buffers  # noqa: E402

#: Targets: start at N ≥ START_LIMIT_N within START_LIMIT_S (per mix, tree build included)
#: and ahead of raw softioc at every N; RSS per PV no worse than raw softioc's; put p99; tree →
#: client bursts; fan-out updates/s against raw softioc.
START_LIMIT_N = 100_000
START_LIMIT_S = {"mixed": 15.0, "numeric": 10.0}
PUT_P99_MS = 2.0
PUSH_FACTOR = 2.0
FANOUT_FACTOR = 0.8


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        mem_kb = int(meminfo.readline().split()[1])
    versions = {}
    for package in ("softioc", "p4p", "pyepics", "pvxslibs", "epicscorelibs", "numpy"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:
            versions[package] = None
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_GiB": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "packages": versions,
    }


def run_one(
    kind: str, n: int, args: argparse.Namespace, mix: str = "mixed", start_only: bool = False
) -> dict[str, Any]:
    """Measure one IOC in a fresh client process; its RESULT line, or an error record."""
    command = [
        sys.executable,
        str(HERE / "measure.py"),
        f"--kind={kind}",
        f"--n={n}",
        f"--puts={args.puts}",
        f"--bursts={args.bursts}",
        f"--monitor-cap={args.monitor_cap}",
        f"--log-dir={args.out.parent / 'logs'}",
        f"--mix={mix}",
        f"--tree={args.tree}",
        f"--python={args.python}",
        f"--fanout-clients={args.fanout_clients}",
        f"--fanout-pvs={args.fanout_pvs}",
    ] + (["--start-only"] if start_only else [])
    timeout = 420 + n * 6e-3
    print(f"-- {kind} {mix} N={n} (at most {timeout:.0f} s)", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"kind": kind, "n": n, "error": f"measurement took over {timeout:.0f} s"}
    for line in done.stderr.splitlines():
        if not line.startswith("****") and "CA Repeater" not in line:
            print("   ", line, file=sys.stderr, flush=True)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
            result["wall_s"] = time.monotonic() - started
            return result
    return {"kind": kind, "n": n, "error": f"no result (exit {done.returncode})"}


# --- comparison ----------------------------------------------------------------------------------


def _get(result: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(result, dict) or key not in result:
            return None
        result = result[key]
    return result


def _best(result: dict[str, Any], mode: str, protocol: str) -> float | None:
    """Fastest complete burst of ``mode`` on ``protocol`` (None if none completed)."""
    times = [
        b[protocol]["seconds"]
        for b in _get(result, "bursts", mode) or []
        if b[protocol]["seconds"] is not None
    ]
    return min(times) if times else None


def _ratio(tree: float | None, raw: float | None) -> float | None:
    return tree / raw if tree is not None and raw else None


def compare(
    n: int, raw: dict[str, Any], tree: dict[str, Any], mix: str, label: str
) -> list[dict[str, Any]]:
    """Rows of the table for one configuration: figure, raw, tree, ratio, target, verdict."""
    rows: list[dict[str, Any]] = []

    def row(metric: str, unit: str, raw_v: Any, tree_v: Any, target: str, ok: bool | None):
        rows.append(
            {
                "n": label,
                "metric": metric,
                "unit": unit,
                "raw": raw_v,
                "tree": tree_v,
                "ratio": _ratio(tree_v, raw_v),
                "target": target,
                "verdict": None if ok is None else ("PASS" if ok else "MISS"),
            }
        )

    raw_start = _get(raw, "start", "served_ca_s")
    tree_start = _get(tree, "start", "served_ca_s")
    build = _get(tree, "start", "build_s")
    limit = START_LIMIT_S.get(mix) if n >= START_LIMIT_N else None
    target = "< raw (tree build included)" + (f" and ≤ {limit:g} s" if limit else "")
    ok = None
    if raw_start and tree_start:
        ok = tree_start < raw_start and (limit is None or tree_start <= limit)
    row("start: spawn → CA get of last PV", "s", raw_start, tree_start, target, ok)
    served = [_get(r, "start", "all_served") for r in (raw, tree)]
    row(
        "  PVs answering a CA get after start",
        "count",
        served[0],
        served[1],
        f"all {n:,}",
        None if served[1] is None else served[1] == n,
    )
    row("  build: raw records / the tree", "s", _get(raw, "start", "build_s"), build, "", None)
    row(
        "  init: raw iocInit / root.start()",
        "s",
        _get(raw, "start", "init_s"),
        _get(tree, "start", "init_s"),
        "",
        None,
    )
    row(
        "  server CPU time until served",
        "s",
        _get(raw, "cpu_start_s"),
        _get(tree, "cpu_start_s"),
        "",
        None,
    )
    raw_rss = _get(raw, "memory_kB", "VmRSS")
    tree_rss = _get(tree, "memory_kB", "VmRSS")
    row(
        "RSS after start", "MiB", raw_rss and raw_rss / 1024, tree_rss and tree_rss / 1024, "", None
    )
    tree_kb = tree.get("tree_kB") or 0
    ioc_rss = tree_rss - tree_kb if tree_rss else None
    if raw_rss and ioc_rss:
        per_pv = (ioc_rss - raw_rss) / n
        target, ok = f"{per_pv:+.2f} kB/PV (fixed costs included)", None
    else:
        target, ok = "", None
    row(
        f"  without the tree's own {tree_kb / 1024:,.0f} MiB",
        "MiB",
        raw_rss and raw_rss / 1024,
        ioc_rss and ioc_rss / 1024,
        target,
        ok,
    )
    if "put" not in tree:
        return rows
    for protocol, proto in (("ca", "CA"), ("pva", "PVA")):
        for pct in ("p50", "p99"):
            raw_v = _get(raw, "put", protocol, f"{pct}_ms")
            tree_v = _get(tree, "put", protocol, f"{pct}_ms")
            errors = _get(tree, "put", protocol, "errors")
            if pct == "p99":
                ok = None if tree_v is None else tree_v <= PUT_P99_MS and not errors
                target = f"≤ {PUT_P99_MS:g} ms" + (f" ({errors} errors)" if errors else "")
            else:
                ok, target = None, ""
            row(f"put {proto} {pct} (wait=True)", "ms", raw_v, tree_v, target, ok)
        row(
            f"  server CPU per {proto} put",
            "us",
            _get(raw, "put", protocol, "server_cpu_us_per_put"),
            _get(tree, "put", protocol, "server_cpu_us_per_put"),
            "",
            None,
        )
    for protocol, proto in (("ca", "CA"), ("pva", "PVA")):
        tree_v = _get(tree, "put_after_churn", protocol, "p99_ms")
        errors = _get(tree, "put_after_churn", protocol, "errors")
        row(
            f"put {proto} p99 in the 1 s after a 20k-set tree burst",
            "ms",
            _get(raw, "put_after_churn", protocol, "p99_ms"),
            tree_v,
            f"≤ {PUT_P99_MS:g} ms" + (f" ({errors} errors)" if errors else ""),
            None if tree_v is None else tree_v <= PUT_P99_MS and not errors,
        )
    fanout = [r.get("fanout") or {} for r in (raw, tree)]
    if fanout[1]:
        rate = [f.get("updates_per_s") for f in fanout]
        row(
            f"fan-out {fanout[1]['clients']} clients x {fanout[1]['pvs']} PVs: updates/s",
            "rate",
            rate[0],
            rate[1],
            f"≥ {FANOUT_FACTOR:g} x raw",
            None if None in rate else rate[1] >= FANOUT_FACTOR * rate[0],
        )
        row(
            "  fan-out: stream start → every client shows the last round",
            "s",
            fanout[0].get("seconds"),
            fanout[1].get("seconds"),
            "",
            None,
        )
        correct = [f.get("last_correct") for f in fanout]
        row(
            "  fan-out: client PVs ending on the last value",
            "count",
            correct[0],
            correct[1],
            f"all {fanout[1]['last_expected']:,}",
            correct[1] == fanout[1]["last_expected"],
        )
        disorder = [f.get("out_of_order") for f in fanout]
        row(
            "  fan-out: updates out of order",
            "count",
            disorder[0],
            disorder[1],
            "0",
            disorder[1] == 0,
        )
    for mode in ("ro", "rw"):
        sets = len(range(1 if mode == "rw" else 0, n, 2))
        for protocol, proto in (("ca", "CA"), ("pva", "PVA")):
            raw_v, tree_v = _best(raw, mode, protocol), _best(tree, mode, protocol)
            ok = None if raw_v is None or tree_v is None else tree_v <= PUSH_FACTOR * raw_v
            if tree_v is None and "bursts" in tree:
                ok = False
            rate = f"{sets / tree_v:,.0f}/s" if tree_v else "incomplete"
            row(
                f"tree→client {mode.upper()} {proto}: {sets} sets ({rate})",
                "s",
                raw_v,
                tree_v,
                f"≤ {PUSH_FACTOR:g} x raw",
                ok,
            )
        row(
            f"  server CPU per {mode.upper()} update",
            "us",
            _cpu_per_update(raw, mode),
            _cpu_per_update(tree, mode),
            "",
            None,
        )
        queue = {k: _queue(r, mode) for k, r in (("raw", raw), ("tree", tree))}
        rows.append(
            {
                "n": label,
                "metric": f"  EPICS callback queue, {mode.upper()} bursts",
                "unit": "text",
                "raw": queue["raw"],
                "tree": queue["tree"],
                "ratio": None,
                "target": "high-water of size; overflows drop updates",
                "verdict": None,
            }
        )
    return rows


def rss_slopes(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Marginal RSS per PV between consecutive N of the mixed sim runs, tree's own excluded.

    Separates the per-PV cost from the fixed cost (imports, threads) that dominates small N.
    """
    entries = sorted(
        (e for e in results.values() if e["mix"] == "mixed" and e.get("tree_kind") != "pyrogue"),
        key=lambda e: e["n"],
    )
    slopes = []
    for low, high in itertools.pairwise(entries):
        rss = {}
        for kind in ("raw", "tree"):
            values = []
            for entry in (low, high):
                total = _get(entry[kind], "memory_kB", "VmRSS")
                values.append(None if total is None else total - (entry[kind].get("tree_kB") or 0))
            rss[kind] = values
        if None in rss["raw"] or None in rss["tree"]:
            continue
        per = {kind: (b - a) / (high["n"] - low["n"]) for kind, (a, b) in rss.items()}
        slopes.append(
            {
                "from": low["n"],
                "to": high["n"],
                "raw_kB_per_PV": per["raw"],
                "tree_kB_per_PV": per["tree"],
                "extra_kB_per_PV": per["tree"] - per["raw"],
            }
        )
    return slopes


def compare_rogue(label: str, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows comparing rogue-ioc with Rogue's own epicsV7 server on the same pyrogue tree."""
    v7, tree = entry.get("epicsv7") or {}, entry["tree"]
    rows = []

    def share(result: dict[str, Any]) -> float | None:
        served, build = _get(result, "start", "served_ca_s"), _get(result, "start", "build_s")
        return None if served is None or build is None else served - build

    ours, theirs = share(tree), share(v7)
    rows.append(
        {
            "n": label,
            "metric": "vs epicsV7: server's share of start (served minus tree build)",
            "unit": "s",
            "raw": theirs,
            "tree": ours,
            "ratio": _ratio(ours, theirs),
            "target": "< Rogue epicsV7's",
            "verdict": None if None in (ours, theirs) else ("PASS" if ours < theirs else "MISS"),
        }
    )
    for metric, keys, target in (
        ("vs epicsV7: root.start() (the server's start inside)", ("start", "init_s"), "< epicsV7"),
        ("vs epicsV7: server CPU until served (same tree)", ("cpu_start_s",), "< epicsV7"),
    ):
        theirs, ours = _get(v7, *keys), _get(tree, *keys)
        rows.append(
            {
                "n": label,
                "metric": metric,
                "unit": "s",
                "raw": theirs,
                "tree": ours,
                "ratio": _ratio(ours, theirs),
                "target": target,
                "verdict": None
                if None in (ours, theirs)
                else ("PASS" if ours < theirs else "MISS"),
            }
        )
    for protocol, name in (("ca", "CA"), ("pva", "PVA")):
        theirs = _get(v7, "put_after_churn", protocol, "p99_ms")
        ours = _get(tree, "put_after_churn", protocol, "p99_ms")
        rows.append(
            {
                "n": label,
                "metric": f"vs epicsV7: put {name} p99 after a 20k-set burst",
                "unit": "ms",
                "raw": theirs,
                "tree": ours,
                "ratio": _ratio(ours, theirs),
                "target": "",
                "verdict": None,
            }
        )
    return rows


def _cpu_per_update(result: dict[str, Any], mode: str) -> float | None:
    """Least server CPU time per set over the bursts of ``mode``, in µs."""
    per = [b["server_cpu_s"] / b["sets"] * 1e6 for b in _get(result, "bursts", mode) or []]
    return min(per) if per else None


def _queue(result: dict[str, Any], mode: str) -> str | None:
    """'high-water/size, N overflows' of the low-priority callback queue over the bursts."""
    stats = [b.get("callback_queue") for b in _get(result, "bursts", mode) or []]
    stats = [s for s in stats if s]
    if not stats:
        return None
    high = max(s["max_used"] for s in stats)
    overflows = sum(s["overflows"] for s in stats)
    return f"{high}/{stats[0]['size']}" + (f" {overflows} ovf" if overflows else "")


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "text":
        return str(value)
    if unit == "count":
        return f"{value:,}"
    if unit == "rate":
        return f"{value:,.0f}/s"
    if unit == "us":
        return f"{value:,.0f} µs"
    if unit == "MiB":
        return f"{value:,.0f} MiB"
    if unit == "ms":
        return f"{value:.2f} ms"
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def _title(entry: dict[str, Any]) -> str:
    mon = entry["tree"].get("monitored") or entry["raw"].get("monitored") or {}
    if "put" not in entry["tree"]:
        watched = "start and memory only"
    elif mon.get("all"):
        watched = "monitors on all PVs"
    else:
        watched = f"monitors on a sample of {mon.get('count', '?')} PVs"
    tree = "real pyrogue Root" if entry.get("tree_kind") == "pyrogue" else "sim.tree Root"
    return f"N = {entry['n']:,} variables, {entry['mix']} mix, {tree} — {watched}"


def table(rows: list[dict[str, Any]], results: dict[str, dict[str, Any]]) -> str:
    """The comparison as a plain-text table, one block per measured configuration."""
    lines = []
    header = f"{'':52} {'baseline':>12} {'rogue-ioc':>12} {'ratio':>6}  {'target':<40} result"
    for label, entry in results.items():
        lines += ["", _title(entry), header]
        for kind in KINDS:
            result = entry.get(kind)
            if not result:
                continue
            if "error" in result:
                lines.append(f"  {kind}: ERROR {result['error']}")
            load = [result.get(k) or {} for k in ("load_before", "load_after")]
            if load[0]:
                lines.append(
                    f"  machine load during {kind}: load1 {load[0].get('load1')} → "
                    f"{load[1].get('load1')}, CPU pressure avg60 "
                    f"{load[0].get('cpu_pressure_avg60')}% → {load[1].get('cpu_pressure_avg60')}%"
                )
        for r in (r for r in rows if r["n"] == label):
            ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
            lines.append(
                f"{r['metric']:<52} {_fmt(r['raw'], r['unit']):>12} "
                f"{_fmt(r['tree'], r['unit']):>12} {ratio:>6}  {r['target']:<40} "
                f"{r['verdict'] or ''}"
            )
    return "\n".join(lines)


def markdown(rows: list[dict[str, Any]], results: dict[str, dict[str, Any]]) -> str:
    """The comparison as Markdown tables, one per measured configuration."""
    out = []
    for label, entry in results.items():
        out += [
            f"**{_title(entry)}**",
            "",
            "| figure | baseline | rogue-ioc | ratio | target | result |",
            "|---|---:|---:|---:|---|---|",
        ]
        for r in (r for r in rows if r["n"] == label):
            ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else ""
            metric = r["metric"].strip()
            metric = metric if r["metric"] == metric else f"↳ {metric}"
            out.append(
                f"| {metric} | {_fmt(r['raw'], r['unit'])} | {_fmt(r['tree'], r['unit'])} "
                f"| {ratio} | {r['target']} | {r['verdict'] or ''} |"
            )
        out.append("")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", help="comma-separated N (default 1000,10000,100000)")
    parser.add_argument("--smoke", action="store_true", help="N = 100 only, fewer puts")
    parser.add_argument("--puts", type=int, default=500, help="counted puts per protocol")
    parser.add_argument("--bursts", type=int, default=2, help="rounds of RO and RW bursts")
    parser.add_argument("--monitor-cap", type=int, default=500, help="monitored PVs per mode")
    parser.add_argument("--tree", default="sim", choices=("sim", "pyrogue"), help="tree served")
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter for tree servers (needs pyrogue)"
    )
    parser.add_argument("--fanout-clients", type=int, default=20, help="0: no fan-out")
    parser.add_argument("--fanout-pvs", type=int, default=1000)
    parser.add_argument("--out", type=Path, help="JSON to write (latest.json; smoke.json)")
    parser.add_argument("--render", type=Path, help="only print the tables of a saved JSON")
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    args = parser.parse_args()
    default_sizes = "1000,10000" if args.tree == "pyrogue" else "1000,10000,100000"
    if args.smoke:
        default_sizes, args.puts, args.bursts = "100", 100, 1
        args.fanout_clients, args.fanout_pvs = min(args.fanout_clients, 4), 50
    if args.out is None:
        name = "smoke" if args.smoke else ("pyrogue" if args.tree == "pyrogue" else "latest")
        args.out = RESULTS / f"{name}.json"
    sizes = [int(s) for s in (args.sizes or default_sizes).split(",")]
    args.out.parent.mkdir(parents=True, exist_ok=True)

    if args.render:
        report = json.loads(args.render.read_text())
        results = report["results"]
    else:
        started = time.time()
        results = {}
        kinds = ("raw", "tree", "epicsv7") if args.tree == "pyrogue" else ("raw", "tree")
        for n in sizes:
            entry = {"n": n, "mix": "mixed", "tree_kind": args.tree}
            results[str(n)] = entry | {kind: run_one(kind, n, args) for kind in kinds}
        if args.tree == "sim" and max(sizes) >= START_LIMIT_N:
            n = max(sizes)
            entry = {"n": n, "mix": "numeric", "tree_kind": "sim"}
            results[f"{n} numeric"] = entry | {
                kind: run_one(kind, n, args, mix="numeric", start_only=True)
                for kind in ("raw", "tree")
            }
        report = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "duration_s": time.time() - started,
            "machine": machine(),
            "config": {
                "sizes": sizes,
                "tree": args.tree,
                "puts": args.puts,
                "bursts": args.bursts,
                "monitor_cap_per_mode": args.monitor_cap,
                "fanout": {"clients": args.fanout_clients, "pvs": args.fanout_pvs},
                "mix": "per 40 variables: 16 float, 12 UInt32, 6 enum(4), 6 str(4096 B); "
                "half RO, half RW (numeric: float and UInt32 only)",
            },
        }
    rows = []
    for label, entry in results.items():
        rows += compare(entry["n"], entry["raw"], entry["tree"], entry["mix"], label)
        if entry.get("epicsv7"):
            rows += compare_rogue(label, entry)
    report["summary"] = rows
    report["rss_slopes"] = rss_slopes(results)
    report["buffers"] = buffers.report(sizes)
    report["results"] = results
    if not args.render:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(markdown(rows, results))
    info = report["machine"]
    print(
        f"rogue-ioc benchmark {report['when']} — {info['cpu']}, {info['cores']} cores, "
        f"{info['memory_GiB']} GiB, Python {info['python']}, "
        f"softioc {info['packages']['softioc']}"
    )
    print(table(rows, results))
    for slope in report["rss_slopes"]:
        slope["verdict"] = "PASS" if slope["extra_kB_per_PV"] <= 0 else "MISS"
        print(
            f"\nRSS per extra PV from N={slope['from']:,} to {slope['to']:,} (tree's own "
            f"excluded): raw {slope['raw_kB_per_PV']:.1f} kB, rogue-ioc "
            f"{slope['tree_kB_per_PV']:.1f} kB ({slope['extra_kB_per_PV']:+.1f} kB/PV; "
            f"target ≤ raw) {slope['verdict']}"
        )
    print("\n" + "\n".join(buffers.lines(report["buffers"])))
    if args.markdown:
        print("\n" + markdown(rows, results))
    verdicts = [r["verdict"] for r in rows] + [x["verdict"] for x in report["rss_slopes"]]
    misses = verdicts.count("MISS")
    errors = sum(
        "error" in entry[kind] for entry in results.values() for kind in KINDS if kind in entry
    )
    print(
        f"\n{verdicts.count('PASS')} PASS, {misses} MISS, "
        f"{errors} errors; JSON: {args.render or args.out}"
    )
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
