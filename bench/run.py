"""rogue-ioc benchmark: the IOC serving a tree against raw softioc records, side by side.

For each N, one raw softioc IOC and one tree IOC (each its own subprocess, measured by
``bench/measure.py`` in a fresh client process) serve N variables of the same mix (see
``bench/common.py``). Prints a table with each figure as a ratio to raw softioc and PASS/MISS
per target (SPEC §12), and writes everything to ``bench/results/latest.json`` (smoke runs:
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
RESULTS = HERE / "results"

#: Targets (SPEC §12).
START_FACTOR = 1.5
RSS_PER_PV_KB = 5.0
PUT_P99_MS = 2.0
PUSH_FACTOR = 2.0


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


def run_one(kind: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
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
    ]
    timeout = 300 + n * 6e-3
    print(f"-- {kind} N={n} (at most {timeout:.0f} s)", file=sys.stderr, flush=True)
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


def compare(n: int, raw: dict[str, Any], tree: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the table for one N: figure, raw, tree, ratio, target and verdict."""
    rows: list[dict[str, Any]] = []

    def row(metric: str, unit: str, raw_v: Any, tree_v: Any, target: str, ok: bool | None):
        rows.append(
            {
                "n": n,
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
    limit = START_FACTOR * raw_start + build if raw_start and build is not None else None
    row(
        "start: spawn → CA get of last PV",
        "s",
        raw_start,
        tree_start,
        f"≤ {START_FACTOR} x raw + build" + (f" = {limit:.2f} s" if limit else ""),
        None if limit is None or tree_start is None else tree_start <= limit,
    )
    row("  build: raw records / IOC sim tree", "s", _get(raw, "start", "build_s"), build, "", None)
    row(
        "  init: raw iocInit / IOC root.start()",
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
    if raw_rss and tree_rss:
        per_pv = (tree_rss - raw_rss) / n
        target = f"≤ raw + {RSS_PER_PV_KB:g} kB/PV (is {per_pv:+.1f} kB/PV)"
        ok = per_pv <= RSS_PER_PV_KB
    else:
        target, ok = f"≤ raw + {RSS_PER_PV_KB:g} kB/PV", None
    row(
        "RSS after start",
        "MiB",
        raw_rss and raw_rss / 1024,
        tree_rss and tree_rss / 1024,
        target,
        ok,
    )
    for protocol, label in (("ca", "CA"), ("pva", "PVA")):
        for pct in ("p50", "p99"):
            raw_v = _get(raw, "put", protocol, f"{pct}_ms")
            tree_v = _get(tree, "put", protocol, f"{pct}_ms")
            errors = _get(tree, "put", protocol, "errors")
            if pct == "p99":
                ok = None if tree_v is None else tree_v <= PUT_P99_MS and not errors
                target = f"≤ {PUT_P99_MS:g} ms" + (f" ({errors} errors)" if errors else "")
            else:
                ok, target = None, ""
            row(f"put {label} {pct} (wait=True)", "ms", raw_v, tree_v, target, ok)
        row(
            f"  server CPU per {label} put",
            "us",
            _get(raw, "put", protocol, "server_cpu_us_per_put"),
            _get(tree, "put", protocol, "server_cpu_us_per_put"),
            "",
            None,
        )
    for mode in ("ro", "rw"):
        sets = len(range(1 if mode == "rw" else 0, n, 2))
        for protocol, label in (("ca", "CA"), ("pva", "PVA")):
            raw_v, tree_v = _best(raw, mode, protocol), _best(tree, mode, protocol)
            ok = None if raw_v is None or tree_v is None else tree_v <= PUSH_FACTOR * raw_v
            if tree_v is None and "bursts" in tree:
                ok = False
            rate = f"{sets / tree_v:,.0f}/s" if tree_v else "incomplete"
            row(
                f"tree→client {mode.upper()} {label}: {sets} sets ({rate})",
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
                "n": n,
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


def rss_slopes(results: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Marginal RSS per PV between consecutive N, tree and raw, and the tree's extra per PV.

    Separates the per-PV cost from the fixed cost (imports, threads) that dominates small N.
    """
    sizes = sorted(results)
    slopes = []
    for low, high in itertools.pairwise(sizes):
        rss = {
            kind: [_get(results[n][kind], "memory_kB", "VmRSS") for n in (low, high)]
            for kind in ("raw", "tree")
        }
        if None in rss["raw"] or None in rss["tree"]:
            continue
        per = {kind: (b - a) / (high - low) for kind, (a, b) in rss.items()}
        slopes.append(
            {
                "from": low,
                "to": high,
                "raw_kB_per_PV": per["raw"],
                "tree_kB_per_PV": per["tree"],
                "extra_kB_per_PV": per["tree"] - per["raw"],
            }
        )
    return slopes


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
    if unit == "us":
        return f"{value:,.0f} µs"
    if unit == "MiB":
        return f"{value:,.0f} MiB"
    if unit == "ms":
        return f"{value:.2f} ms"
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def table(rows: list[dict[str, Any]], results: dict[int, dict[str, Any]]) -> str:
    """The comparison as a plain-text table, one block per N."""
    lines = []
    header = f"{'':44} {'raw softioc':>12} {'rogue-ioc':>12} {'ratio':>6}  {'target':<40} result"
    for n in sorted(results):
        tree = results[n]["tree"]
        mon = tree.get("monitored") or results[n]["raw"].get("monitored") or {}
        watched = (
            "all PVs"
            if mon.get("all")
            else f"a sample of {mon.get('count', '?')} PVs (incl. the last-set ones)"
        )
        lines += ["", f"N = {n:,} variables — monitors on {watched}, CA and PVA", header]
        for kind in ("raw", "tree"):
            result = results[n][kind]
            if "error" in result:
                lines.append(f"  {kind}: ERROR {result['error']}")
            load = [result.get(k) or {} for k in ("load_before", "load_after")]
            if load[0]:
                lines.append(
                    f"  machine load during {kind}: load1 {load[0].get('load1')} → "
                    f"{load[1].get('load1')}, CPU pressure avg60 "
                    f"{load[0].get('cpu_pressure_avg60')}% → {load[1].get('cpu_pressure_avg60')}%"
                )
        for r in (r for r in rows if r["n"] == n):
            ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
            lines.append(
                f"{r['metric']:<44} {_fmt(r['raw'], r['unit']):>12} "
                f"{_fmt(r['tree'], r['unit']):>12} {ratio:>6}  {r['target']:<40} "
                f"{r['verdict'] or ''}"
            )
    return "\n".join(lines)


def markdown(rows: list[dict[str, Any]], results: dict[int, dict[str, Any]]) -> str:
    """The comparison as Markdown tables, one per N (for docs/performance.md)."""
    out = []
    for n in sorted(results):
        mon = results[n]["tree"].get("monitored") or {}
        watched = "all PVs" if mon.get("all") else f"a sample of {mon.get('count', '?')} PVs"
        out += [
            f"**N = {n:,}** (monitors on {watched})",
            "",
            "| figure | raw softioc | rogue-ioc | ratio | target | result |",
            "|---|---:|---:|---:|---|---|",
        ]
        for r in (r for r in rows if r["n"] == n):
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
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated N")
    parser.add_argument("--smoke", action="store_true", help="N = 100 only, fewer puts")
    parser.add_argument("--puts", type=int, default=500, help="counted puts per protocol")
    parser.add_argument("--bursts", type=int, default=2, help="rounds of RO and RW bursts")
    parser.add_argument("--monitor-cap", type=int, default=500, help="monitored PVs per mode")
    parser.add_argument("--out", type=Path, help="JSON to write (latest.json; smoke.json)")
    parser.add_argument("--render", type=Path, help="only print the tables of a saved JSON")
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.puts, args.bursts = "100", 100, 1
    if args.out is None:
        args.out = RESULTS / ("smoke.json" if args.smoke else "latest.json")
    sizes = [int(s) for s in args.sizes.split(",")]
    args.out.parent.mkdir(parents=True, exist_ok=True)

    if args.render:
        report = json.loads(args.render.read_text())
        results = {int(n): r for n, r in report["results"].items()}
    else:
        started = time.time()
        results = {}
        for n in sizes:
            results[n] = {kind: run_one(kind, n, args) for kind in ("raw", "tree")}
        report = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "duration_s": time.time() - started,
            "machine": machine(),
            "config": {
                "sizes": sizes,
                "puts": args.puts,
                "bursts": args.bursts,
                "monitor_cap_per_mode": args.monitor_cap,
                "mix": "per 40 variables: 16 float, 12 UInt32, 6 enum(4), 6 str(4096 B); "
                "half RO, half RW",
            },
        }
    sizes = sorted(results)
    rows = [row for n in sizes for row in compare(n, results[n]["raw"], results[n]["tree"])]
    report["summary"] = rows
    report["rss_slopes"] = rss_slopes(results)
    report["results"] = {str(n): r for n, r in results.items()}
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
        print(
            f"\nRSS per extra PV from N={slope['from']:,} to {slope['to']:,}: raw "
            f"{slope['raw_kB_per_PV']:.1f} kB, rogue-ioc {slope['tree_kB_per_PV']:.1f} kB "
            f"(+{slope['extra_kB_per_PV']:.1f} kB/PV; target + {RSS_PER_PV_KB:g})"
        )
    if args.markdown:
        print("\n" + markdown(rows, results))
    misses = sum(r["verdict"] == "MISS" for r in rows)
    errors = sum("error" in r[k] for r in results.values() for k in r)
    print(
        f"\n{sum(r['verdict'] == 'PASS' for r in rows)} PASS, {misses} MISS, "
        f"{errors} errors; JSON: {args.render or args.out}"
    )
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
