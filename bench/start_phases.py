"""Where start-up goes: CPU time, wall time and RSS of each phase of one IOC's start, in-process.

Builds the benchmark's tree (``sim.tree``, see :mod:`common`) of N variables and serves it with
rogue-ioc's ``EpicsPvServer`` as ``bench/serve_tree.py`` does, noting after each phase the
process's CPU time (user + system, which depends far less on other load than wall time), the
wall time and VmRSS. Phases: imports, the tree's build, the Root's start up to the server's
(selection and naming of the variables included), the holders and their records,
``LoadDatabase``, ``iocInit`` with the holders' start, the rest of ``root.start()``. Nothing is
served afterwards: the process exits once started.

Usage: ``python bench/start_phases.py N [--mix M]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STARTED = time.process_time(), time.perf_counter()

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import common  # noqa: E402
import serve_tree  # noqa: E402

import sim.tree  # noqa: E402
from ioc import EpicsPvServer, _softioc, server  # noqa: E402

_marks: list[tuple[str, float, float, int]] = []


def mark(phase: str) -> None:
    """Note that ``phase`` ended now."""
    _marks.append((phase, time.process_time(), time.perf_counter(), common.rss_kb()))


def ends_phase(owner: Any, name: str, before: str | None, after: str | None) -> None:
    """Mark ``before`` when ``owner.name`` is called and ``after`` when it returns (None: no
    mark)."""
    function: Callable[..., Any] = getattr(owner, name)

    def marked(*args: Any, **kwargs: Any) -> Any:
        if before:
            mark(before)
        result = function(*args, **kwargs)
        if after:
            mark(after)
        return result

    setattr(owner, name, marked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", type=int)
    parser.add_argument("--mix", default="mixed", choices=sorted(common.MIXES))
    args = parser.parse_args()
    common.use_mix(args.mix)
    mark("imports")
    ends_phase(server.EpicsPvServer, "_build_records", "selection and naming", None)
    ends_phase(_softioc, "load_database", "holders and records", "LoadDatabase")
    ends_phase(server.EpicsPvServer, "_init_ioc", None, "iocInit, holders started")
    root, _ = serve_tree.build_tree(args.n, sim.tree)
    mark("tree build")
    EpicsPvServer(base="PHASES", root=root, incGroups=None, excGroups=None, pvMap=None)
    root.start()
    mark("rest of root.start()")
    cpu, wall = STARTED
    for phase, cpu_end, wall_end, rss in _marks:
        print(f"{phase:26s} CPU {cpu_end - cpu:6.2f} s  wall {wall_end - wall:6.2f} s  ", end="")
        print(f"RSS {rss / 1024:6.0f} MiB")
        cpu, wall = cpu_end, wall_end
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"total: user {usage.ru_utime:.2f} s, system {usage.ru_stime:.2f} s, "
        f"wall {time.perf_counter() - STARTED[1]:.2f} s, load average {os.getloadavg()[0]:.1f}"
    )
    sys.stdout.flush()
    os._exit(0)  # an EPICS IOC cannot be shut down, only exited


if __name__ == "__main__":
    main()
