"""One measurement: spawn one IOC subprocess (tree or raw softioc) serving N variables, measure it.

Run by :mod:`run` once per (N, kind), in a fresh process, because the EPICS client libraries read
their address lists once: this process picks free loopback ports, puts them in its environment,
and only then imports pyepics and p4p. The last stdout line is ``RESULT <json>``; progress goes
to stderr.

Measured, in this order:

* start: from spawning the server until its ready line, and until a CA get of the last PV
  returns its value (the figure compared), then a PVA get of it; the server reports its own
  import, build (the tree, or the raw records) and init (server start, or LoadDatabase+iocInit)
  times;
* RSS (VmRSS) and CPU time of the server once every PV is served;
* put round trips: CA ``caput(wait=True)`` and PVA ``put(wait=True)`` to RW float and UInt32 PVs,
  one at a time, after a few warm-up puts;
* tree → client: monitors on a sample of PVs over CA and PVA; the server sets every RO (then every
  RW) variable once; timed from the command until every monitored PV of that mode shows its new
  value, per protocol.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402

from sim.ports import free_ports  # noqa: E402

#: What each kind of server runs: its script and its arguments besides PREFIX and N.
SERVERS = {
    "raw": (HERE / "serve_raw.py", []),
    "tree": (HERE / "serve_tree.py", []),
    "epicsv7": (HERE / "serve_tree.py", ["--tree=pyrogue", "--server=epicsv7"]),
}
#: Fan-out: client processes (half CA, half PVA), PVs each watches, rounds of updates.
FANOUT_CLIENTS = 20
FANOUT_PVS = 1000
FANOUT_ROUNDS = 20
#: Seconds between the starts of two fan-out rounds (the offered rate is PVs / period).
FANOUT_PERIOD = 0.5
#: First burst numbers of the churn and fan-out values (UInt32 values repeat after burst 4294),
#: and how far apart the two churn rounds' first burst numbers lie.
CHURN_FIRST = 1000
CHURN_STEP = 500
FANOUT_FIRST = 3000
#: Sets of the tree burst before the put-latency window, and how long that window lasts.
CHURN_SETS = 20000
AFTER_CHURN_S = 1.0
#: PVs per batch of the CA sweep that checks every PV answers.
SWEEP_BATCH = 2000
#: Warm-up puts per protocol and target, not counted (the first one connects the PVA channel).
WARMUP_ROUNDS = 2
#: Put targets: at most this many RW float and as many RW UInt32 PVs, spread over the tree.
PUT_TARGETS = 50
#: Share of the monitor sample that is taken from the last-set variables of a burst.
TAIL_SHARE = 0.1


def log(*parts: Any) -> None:
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


# --- ports and environment -----------------------------------------------------------------------


def epics_environment() -> dict[str, str]:
    """EPICS variables for one loopback-only IOC and its client, on free ports."""
    ca, pva, pva_udp, repeater = free_ports(4)
    return {
        "EPICS_CA_ADDR_LIST": "127.0.0.1",
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_SERVER_PORT": str(ca),
        "EPICS_CA_REPEATER_PORT": str(repeater),
        "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1",
        "EPICS_PVA_ADDR_LIST": "127.0.0.1",
        "EPICS_PVA_AUTO_ADDR_LIST": "NO",
        "EPICS_PVA_SERVER_PORT": str(pva),
        "EPICS_PVA_BROADCAST_PORT": str(pva_udp),
        "EPICS_PVAS_INTF_ADDR_LIST": "127.0.0.1",
        "EPICS_PVAS_AUTO_BEACON_ADDR_LIST": "NO",
        "EPICS_PVAS_BEACON_ADDR_LIST": "127.0.0.1",
        "EPICS_CA_MAX_ARRAY_BYTES": "100000",
    }


# --- the server process --------------------------------------------------------------------------


class Server:
    """The IOC subprocess: its protocol lines (with arrival times) and /proc figures."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path):
        self.lines: queue.Queue[tuple[float, list[str]]] = queue.Queue()
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in close()
        self.spawned = time.monotonic()
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            now = time.monotonic()
            words = line.split()
            if words and words[0] == common.TAG:
                self.lines.put((now, words[1:]))
            else:
                self._log.write(line)

    def expect(self, word: str, timeout: float) -> tuple[float, list[str]]:
        """Wait for the next protocol line, which must start with ``word``."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None and self.lines.empty():
                raise RuntimeError(f"server exited with code {self.proc.returncode}")
            try:
                at, words = self.lines.get(timeout=min(1.0, max(deadline - time.monotonic(), 0)))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"no {word} line within {timeout:.0f} s") from None
                continue
            if words[0] != word:
                raise RuntimeError(f"expected {word}, got {' '.join(words)}")
            return at, words[1:]

    def send(self, line: str) -> float:
        """Send a command line; return the time it was sent."""
        now = time.monotonic()
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return now

    def stats(self) -> Any:
        """The server's EPICS callback queue figures since the last call."""
        self.send("stats")
        return json.loads(self.expect("STATS", 30)[1][0])

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM (kB) of the server."""
        fields = {}
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = int(rest.split()[0])
        return fields

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used."""
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        """Ask the server to quit; kill it (this process's own child) if it does not."""
        try:
            if self.proc.poll() is None:
                self.send("quit")
                self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        self._log.close()


# --- clients -------------------------------------------------------------------------------------


def ca_text(value: Any) -> str:
    """A long string read over CA: softioc serves it as a char waveform."""
    import numpy as np

    raw = bytes(np.asarray(value, dtype=np.uint8).ravel())
    return raw.split(b"\0", 1)[0].decode()


def ca_name(prefix: str, i: int) -> str:
    """CA channel of variable ``i`` (a long string is a char waveform record: no ``.VAL$``)."""
    return common.pv_name(prefix, i)


def same(i: int, got: Any, want: Any, ca: bool) -> bool:
    """True when a client value ``got`` of variable ``i`` is ``want``."""
    kind = common.kind_of(i)
    try:
        if kind == "str":
            return (ca_text(got) if ca else got) == want
        if kind == "enum":
            return int(got) == want
        return float(got) == float(want)
    except (TypeError, ValueError):
        return False


class Watch:
    """Monitors on a sample of PVs over CA and PVA, with the arrival time of expected values.

    The PVA monitors use their own context without NT unwrapping (p4p 4.3's NTEnum unwrap
    can fail on an update and then closes the subscription); a monitor whose first update is
    lost (a p4p race when an update beats ``monitor()`` returning) is subscribed again.
    """

    def __init__(self, prefix: str, sample: list[int], conf: dict[str, str]) -> None:
        import epics
        from p4p.client.thread import Context

        self.sample = sample
        self._prefix = prefix
        self._lock = threading.Lock()
        self._expect: dict[int, Any] = {}
        self._arrived: dict[str, dict[int, float]] = {"ca": {}, "pva": {}}
        self._seen: dict[str, set[int]] = {"ca": set(), "pva": set()}
        self._done = {"ca": threading.Event(), "pva": threading.Event()}
        self._ca_index = {ca_name(prefix, i): i for i in sample}
        self._pvs = [
            epics.PV(name, form="native", auto_monitor=True, callback=self._on_ca)
            for name in self._ca_index
        ]
        self._ctx = Context("pva", conf=conf, useenv=False, nt=False)
        self._subs = {i: self._subscribe(i) for i in sample}
        self.resubscribed = 0

    def _subscribe(self, i: int) -> Any:
        return self._ctx.monitor(common.pv_name(self._prefix, i), self._pva_callback(i))

    def _on_ca(self, pvname: str = "", value: Any = None, **_: Any) -> None:
        self._arrive("ca", self._ca_index[pvname], value)

    def _pva_callback(self, i: int) -> Any:
        field = "value.index" if common.kind_of(i) == "enum" else "value"

        def callback(value: Any) -> None:
            # Never raise: p4p closes a subscription whose callback raised.
            try:
                if not isinstance(value, Exception):
                    self._arrive("pva", i, value[field])
            except Exception as error:
                log(f"PVA update of {i} not understood: {error!r}")

        return callback

    def _arrive(self, protocol: str, i: int, value: Any) -> None:
        now = time.monotonic()
        with self._lock:
            self._seen[protocol].add(i)
            want = self._expect.get(i, _NOTHING)
            arrived = self._arrived[protocol]
            if want is _NOTHING or i in arrived:
                return
            if same(i, value, want, protocol == "ca"):
                arrived[i] = now
                if len(arrived) == len(self._expect):
                    self._done[protocol].set()

    def connected(self, timeout: float) -> bool:
        """Wait until every monitor has delivered a first value."""
        deadline = time.monotonic() + timeout
        retry = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self._lock:
                if all(len(seen) == len(self.sample) for seen in self._seen.values()):
                    return True
                silent = [i for i in self.sample if i not in self._seen["pva"]]
            if time.monotonic() > retry:
                retry = time.monotonic() + 5
                for i in silent:
                    self._subs[i].close()
                    self._subs[i] = self._subscribe(i)
                    self.resubscribed += 1
            time.sleep(0.05)
        return False

    def expect(self, which: list[int], burst: int) -> None:
        """Start waiting for the values of burst ``burst`` on the sampled PVs in ``which``."""
        with self._lock:
            self._expect = {i: common.value(i, burst) for i in which}
            for protocol in self._arrived:
                self._arrived[protocol] = {}
                self._done[protocol].clear()

    def wait(self, started: float, timeout: float) -> dict[str, Any]:
        """Per protocol: seconds from ``started`` until the last expected value arrived.

        For PVs whose value did not arrive, a get tells whether the server has it (the monitor
        lost it) or not (the server never showed it).
        """
        deadline = started + timeout
        result: dict[str, Any] = {}
        for protocol, done in self._done.items():
            done.wait(max(deadline - time.monotonic(), 0))
            with self._lock:
                arrived = dict(self._arrived[protocol])
                missing = [i for i in self._expect if i not in arrived]
            result[protocol] = {
                "seconds": max(arrived.values()) - started if arrived and not missing else None,
                "missing": len(missing),
            }
            if missing:
                result[protocol]["missing_but_on_server"] = self._on_server(missing[:50])
                result[protocol]["missing_checked"] = min(len(missing), 50)
        return result

    def _on_server(self, which: list[int]) -> int:
        """How many of ``which`` show their expected value to a plain PVA get."""
        names = [common.pv_name(self._prefix, i) for i in which]
        got = self._ctx.get(names, timeout=10, throw=False)
        shown = 0
        for i, value in zip(which, got, strict=True):
            if isinstance(value, Exception):
                continue
            field = "value.index" if common.kind_of(i) == "enum" else "value"
            shown += same(i, value[field], self._expect[i], False)
        return shown

    def close(self) -> None:
        for sub in self._subs.values():
            sub.close()
        for pv in self._pvs:
            pv.clear_callbacks()
            pv.disconnect()


_NOTHING = object()


def monitor_sample(n: int, cap: int) -> tuple[list[int], bool]:
    """Up to ``cap`` indices per mode to monitor: all, or a seeded random sample plus the tail.

    The tail (the last-set variables of a burst) is TAIL_SHARE of the sample. Returns the
    indices and whether they are all the variables.
    """
    chosen: list[int] = []
    everything = True
    for rw in (False, True):
        idx = list(common.indices(n, rw))
        if len(idx) <= cap:
            chosen += idx
            continue
        everything = False
        tail = max(int(cap * TAIL_SHARE), 1)
        rest = random.Random(n * 2 + rw).sample(idx[:-tail], cap - tail)
        chosen += sorted(rest) + idx[-tail:]
    return chosen, everything


def put_targets(n: int) -> list[int]:
    """RW float and RW UInt32 variables, alternating, spread over the whole index range."""
    floats = [i for i in common.indices(n, True) if common.kind_of(i) == "float"]
    ints = [i for i in common.indices(n, True) if common.kind_of(i) == "uint32"]

    def spread(idx: list[int]) -> list[int]:
        step = max(len(idx) // PUT_TARGETS, 1)
        return idx[::step][:PUT_TARGETS]

    pairs = zip(spread(floats), spread(ints), strict=False)
    return [i for pair in pairs for i in pair]


def put_value(i: int, count: int) -> Any:
    """The value of put number ``count`` (different from every burst value)."""
    if common.kind_of(i) == "float":
        return count + 0.25
    return 2**31 + 7 + count


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p99/max in milliseconds."""
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1e3

    return {"p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": ordered[-1] * 1e3, "n": len(ordered)}


def measure_puts(prefix: str, n: int, count: int, ctx: Any, server: Server) -> dict[str, Any]:
    """CA and PVA put-with-completion round trips, one put at a time.

    Also the server's CPU time per counted put (load-independent, unlike the latencies).
    """
    import epics

    targets = put_targets(n)
    pvs = {i: epics.PV(common.pv_name(prefix, i), auto_monitor=False) for i in targets}
    for pv in pvs.values():
        if not pv.wait_for_connection(timeout=10):
            raise RuntimeError(f"CA put target {pv.pvname} did not connect")
    result: dict[str, Any] = {}
    errors = {"ca": 0, "pva": 0}
    times: dict[str, list[float]] = {"ca": [], "pva": []}
    warmup = WARMUP_ROUNDS * len(targets)
    for protocol in ("ca", "pva"):
        cpu = server.cpu_seconds()
        for k in range(warmup + count):
            if k == warmup:
                cpu = server.cpu_seconds()
            i = targets[k % len(targets)]
            v = put_value(i, k + (0 if protocol == "ca" else 1_000_000))
            started = time.perf_counter()
            try:
                if protocol == "ca":
                    ok = pvs[i].put(v, wait=True, timeout=5) == 1
                else:
                    ctx.put(common.pv_name(prefix, i), v, wait=True, get=False, timeout=5)
                    ok = True
            except Exception as error:
                log(f"{protocol} put to {i} failed: {error}")
                ok = False
            took = time.perf_counter() - started
            if not ok:
                errors[protocol] += 1
            elif k >= warmup:
                times[protocol].append(took)
        cpu = server.cpu_seconds() - cpu
        result[protocol] = percentiles(times[protocol]) if times[protocol] else {}
        result[protocol]["errors"] = errors[protocol]
        result[protocol]["server_cpu_us_per_put"] = cpu / max(count, 1) * 1e6
    last = targets[(warmup + count - 1) % len(targets)]
    got = ctx.get(common.pv_name(prefix, last), timeout=5)
    result["last_put_seen"] = same(
        last, got, put_value(last, warmup + count - 1 + 1_000_000), False
    )
    for pv in pvs.values():
        pv.disconnect()
    return result


def sweep(prefix: str, n: int) -> int:
    """How many of the N PVs answer a CA get with their initial value (batches of channels)."""
    from epics import ca

    answered = 0
    for first in range(0, n, SWEEP_BATCH):
        which = range(first, min(first + SWEEP_BATCH, n))
        chids = [ca.create_channel(ca_name(prefix, i), auto_cb=False) for i in which]
        connected = [ca.connect_channel(chid, timeout=30) for chid in chids]
        for chid, ok in zip(chids, connected, strict=True):
            if ok:
                ca.get(chid, wait=False)
        ca.poll()
        for i, chid, ok in zip(which, chids, connected, strict=True):
            value = ca.get_complete(chid, timeout=30) if ok else None
            answered += value is not None and same(i, value, common.value(i, 0), True)
            ca.clear_channel(chid)
    return answered


def measure_puts_after_churn(prefix: str, n: int, ctx: Any, server: Server) -> dict[str, Any]:
    """Put round trips in the second after the tree made CHURN_SETS sets, per protocol.

    The server's set loop ends with its DONE line; the updates it queued are still being
    delivered then, and the puts compete with that delivery.
    """
    import epics

    targets = put_targets(n)
    pvs = {i: epics.PV(common.pv_name(prefix, i), auto_monitor=False) for i in targets}
    for pv in pvs.values():
        pv.wait_for_connection(timeout=10)
    result: dict[str, Any] = {}
    for round_, protocol in enumerate(("ca", "pva")):
        for i in targets[:4]:  # the PVA channels connect before the window
            put_once(protocol, pvs, ctx, prefix, i, put_value(i, 0))
        server.send(f"churn {CHURN_FIRST + round_ * CHURN_STEP} {CHURN_SETS}")
        _, words = server.expect("DONE", 120)
        times: list[float] = []
        errors = 0
        ends = time.monotonic() + AFTER_CHURN_S
        k = 0
        while time.monotonic() < ends:
            i = targets[k % len(targets)]
            started = time.perf_counter()
            ok = put_once(protocol, pvs, ctx, prefix, i, put_value(i, 3_000_000 + k))
            took = time.perf_counter() - started
            k += 1
            if ok:
                times.append(took)
            else:
                errors += 1
        result[protocol] = (percentiles(times) if times else {}) | {
            "errors": errors,
            "set_loop_s": float(words[2]),
        }
    for pv in pvs.values():
        pv.disconnect()
    return result


def last_churn_burst(n: int) -> int:
    """The burst number of the last values the churn set (see :func:`measure_puts_after_churn`).

    The monitored bursts are numbered on from it: an enum's value comes back every
    ``len(common.ENUM)`` burst numbers, so a burst numbered from 1 could set a value the churn
    left there already, and a record that does not change posts no monitor. Numbered on, each
    burst is 1 or 2 past the churn's values (or far past 0 for variables the churn never
    reached), which changes every kind of value.
    """
    return CHURN_FIRST + CHURN_STEP + (CHURN_SETS - 1) // n


def put_once(protocol: str, pvs: dict[int, Any], ctx: Any, prefix: str, i: int, v: Any) -> bool:
    """One put with completion; True when it succeeded."""
    try:
        if protocol == "ca":
            return pvs[i].put(v, wait=True, timeout=5) == 1
        ctx.put(common.pv_name(prefix, i), v, wait=True, get=False, timeout=5)
        return True
    except Exception as error:
        log(f"{protocol} put to {i} failed: {error}")
        return False


def measure_fanout(
    prefix: str, n: int, args: argparse.Namespace, server: Server, log_dir: Path
) -> dict[str, Any]:
    """Many client processes monitor the same PVs while the tree updates them all.

    Returns the updates delivered per second over all clients, the PVs that ended on the last
    value, and the updates that arrived out of order.
    """
    count = args.fanout_pvs
    first, rounds = FANOUT_FIRST, FANOUT_ROUNDS
    last = first + rounds - 1
    timeout = 120
    clients = []
    for c in range(args.fanout_clients):
        protocol = "ca" if c % 2 == 0 else "pva"
        command = [
            sys.executable,
            str(HERE / "fanout_client.py"),
            protocol,
            prefix,
            str(n),
            str(count),
            str(first),
            str(last),
            str(timeout),
            f"--mix={args.mix}",
        ]
        clients.append(
            subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=open(log_dir / f"fanout-{args.kind}-{c}.log", "w"),  # noqa: SIM115
                text=True,
            )
        )
    connected = sum(client.stdout.readline().strip() == "CONNECTED" for client in clients)
    sent = server.send(f"stream {first} {rounds} {count} {FANOUT_PERIOD}")
    _, words = server.expect("DONE", 300)
    results = []
    for client in clients:
        for line in client.stdout:
            if line.startswith("RESULT "):
                results.append(json.loads(line[len("RESULT ") :]))
        client.wait(timeout=30)
    updates = sum(r["updates"] for r in results)
    ended = max((r["last_at"] for r in results if r["last_at"]), default=sent)
    return {
        "clients": len(clients),
        "connected": connected,
        "pvs": count,
        "rounds": rounds,
        "sets": rounds * count,
        "set_loop_s": float(words[2]),
        "updates": updates,
        "seconds": ended - sent,
        "updates_per_s": updates / (ended - sent) if ended > sent else None,
        "last_correct": sum(r["last_correct"] for r in results),
        "last_expected": len(clients) * count,
        "out_of_order": sum(r["out_of_order"] for r in results),
        "per_client": results,
    }


def loadavg() -> dict[str, float | None]:
    """How busy the machine is with other work: 1-minute load and CPU pressure (PSI, avg60 %)."""
    with open("/proc/loadavg") as load:
        result: dict[str, float | None] = {"load1": float(load.read().split()[0])}
    try:
        with open("/proc/pressure/cpu") as pressure:
            some = pressure.readline().split()
        result["cpu_pressure_avg60"] = float(some[2].split("=")[1])
    except (OSError, IndexError, ValueError):
        result["cpu_pressure_avg60"] = None
    return result


# --- the measurement -----------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict[str, Any]:
    env = epics_environment()
    os.environ.update(env)
    import epics
    from p4p.client.thread import Context

    n = args.n
    prefix = f"BENCH{os.getpid() % 100000}{args.kind[0].upper()}"
    out: dict[str, Any] = {"kind": args.kind, "n": n, "prefix": prefix, "load_before": loadavg()}
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context("pva", conf={k: v for k, v in env.items() if "PVA" in k}, useenv=False)
    start_timeout = 60 + n * 3e-3

    with ExitStack() as stack:
        script, extra = SERVERS[args.kind]
        if args.tree == "pyrogue" and args.kind == "tree":
            extra = ["--tree=pyrogue"]
        python = args.python if args.kind != "raw" else sys.executable
        command = [python, "-u", str(script), prefix, str(n), f"--mix={args.mix}", *extra]
        log_name = f"{args.kind}-{args.tree}-{args.mix}-{n}.log"
        server = Server(command, dict(os.environ), log_dir / log_name)
        stack.callback(server.close)

        # start
        at, words = server.expect("READY", start_timeout)
        out["start"] = {"ready_s": at - server.spawned}
        reported = dict(w.split("=") for w in words)
        out["tree_kB"] = int(reported.pop("tree_kB", 0))
        out["start"] |= {k + "_s": float(v) for k, v in reported.items() if k != "n"}
        last = n - 1
        deadline = server.spawned + start_timeout
        while True:
            got = epics.caget(ca_name(prefix, last), timeout=5)
            if got is not None and same(last, got, common.value(last, 0), True):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CA get of the last PV failed: {got!r}")
        out["start"]["served_ca_s"] = time.monotonic() - server.spawned
        got = ctx.get(common.pv_name(prefix, last), timeout=10)
        if not same(last, got, common.value(last, 0), False):
            raise RuntimeError(f"PVA get of the last PV gave {got!r}")
        out["start"]["served_pva_s"] = time.monotonic() - server.spawned
        out["memory_kB"] = server.status()
        out["cpu_start_s"] = server.cpu_seconds()
        out["callback_queue_start"] = server.stats()
        out["start"]["all_served"] = sweep(prefix, n)
        log(f"{args.kind} N={n}: {out['start']['all_served']} of {n} PVs answer a CA get")
        if args.start_only:
            out["load_after"] = loadavg()
            return out
        log(
            f"{args.kind} N={n}: served in {out['start']['served_ca_s']:.2f} s, "
            f"RSS {out['memory_kB']['VmRSS'] / 1024:.0f} MiB"
        )

        # puts
        out["put"] = measure_puts(prefix, n, args.puts, ctx, server)
        log(
            f"{args.kind} N={n}: put p99 CA {out['put']['ca'].get('p99_ms')} ms, "
            f"PVA {out['put']['pva'].get('p99_ms')} ms"
        )

        # puts right after a burst of tree sets
        out["put_after_churn"] = measure_puts_after_churn(prefix, n, ctx, server)
        log(
            f"{args.kind} N={n}: put p99 after a {CHURN_SETS}-set burst CA "
            f"{out['put_after_churn']['ca'].get('p99_ms')} ms, "
            f"PVA {out['put_after_churn']['pva'].get('p99_ms')} ms"
        )
        if args.kind == "epicsv7":
            out["load_after"] = loadavg()
            return out

        # tree -> client bursts
        sample, everything = monitor_sample(n, args.monitor_cap)
        out["monitored"] = {"count": len(sample), "all": everything}
        watch = Watch(prefix, sample, {k: v for k, v in env.items() if "PVA" in k})
        stack.callback(watch.close)
        if not watch.connected(timeout=30 + len(sample) * 0.02):
            raise TimeoutError("monitors did not all connect")
        out["monitored"]["pva_resubscribed"] = watch.resubscribed
        sample_set = {
            "ro": [i for i in sample if not common.writable(i)],
            "rw": [i for i in sample if common.writable(i)],
        }
        bursts: dict[str, list[dict[str, Any]]] = {"ro": [], "rw": []}
        burst = last_churn_burst(n)
        cpu = server.cpu_seconds()
        for _ in range(args.bursts):
            for mode in ("ro", "rw"):
                burst += 1
                watch.expect(sample_set[mode], burst)
                sent = server.send(f"burst {mode} {burst}")
                timeout = 30 + n * 2e-3
                _, words = server.expect("DONE", timeout)
                got = watch.wait(sent, timeout)
                now = server.cpu_seconds()
                record = {
                    "sets": len(common.indices(n, mode == "rw")),
                    "set_loop_s": float(words[2]),
                    "server_cpu_s": now - cpu,
                    "callback_queue": server.stats(),
                } | got
                cpu = now
                bursts[mode].append(record)
                log(
                    f"{args.kind} N={n}: burst {mode} {burst}: "
                    f"CA {got['ca']['seconds']} s, PVA {got['pva']['seconds']} s, "
                    f"sets {record['set_loop_s']:.3f} s, missing {got['ca']['missing']}/"
                    f"{got['pva']['missing']}"
                )
        out["bursts"] = bursts
        if (
            args.fanout_clients
            and len(common.fanout_indices(n, args.fanout_pvs)) == args.fanout_pvs
        ):
            out["fanout"] = measure_fanout(prefix, n, args, server, log_dir)
            log(f"{args.kind} N={n}: fan-out {json.dumps(out['fanout'])}")
        out["memory_end_kB"] = server.status()
    out["load_after"] = loadavg()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=sorted(SERVERS), required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--puts", type=int, default=500)
    parser.add_argument("--bursts", type=int, default=2, help="rounds of (RO burst, RW burst)")
    parser.add_argument("--monitor-cap", type=int, default=500, help="monitored PVs per mode")
    parser.add_argument("--log-dir", default=str(HERE / "results" / "logs"))
    parser.add_argument("--mix", default="mixed", choices=sorted(common.MIXES))
    parser.add_argument("--tree", default="sim", choices=("sim", "pyrogue"))
    parser.add_argument("--python", default=sys.executable, help="interpreter of tree servers")
    parser.add_argument("--start-only", action="store_true", help="start, RSS and sweep only")
    parser.add_argument("--fanout-clients", type=int, default=FANOUT_CLIENTS)
    parser.add_argument("--fanout-pvs", type=int, default=FANOUT_PVS)
    args = parser.parse_args()
    common.use_mix(args.mix)
    try:
        result = measure(args)
    except Exception as error:
        log(f"{args.kind} N={args.n}: FAILED: {error!r}")
        result = {"kind": args.kind, "n": args.n, "error": f"{type(error).__name__}: {error}"}
    print("RESULT", json.dumps(result), flush=True)
    sys.stderr.flush()
    # Leave without the client libraries' exit handlers (they can block on open channels).
    os._exit(0)


if __name__ == "__main__":
    main()
