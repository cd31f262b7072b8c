"""The commands README.md (and docs/) show, read from their fenced blocks, and who runs each.

A command is one logical line of a ```sh block: a trailing ``\\`` or an indented next line
continues it, a ``# ...`` comment is dropped, runs of blanks become one. ``COVERED`` says, for
every such command, who runs it: a test that takes it from the README itself (``HERE``), a file
that holds it (with the text to find there), or nobody (``MANUAL``, with the reason the README
gives next to it). tests/integration/test_readme.py fails on a command missing from it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .support import wait_for

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")
COMMENT = re.compile(r"(^|\s)#(\s.*)?$")


@dataclass(frozen=True)
class Block:
    """A fenced block of README.md: the heading it is under, its language and its text."""

    heading: str
    lang: str
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def commands(self) -> list[str]:
        """The logical command lines of the block (see the module docstring)."""
        commands: list[str] = []
        joined = False
        for raw in self.lines:
            line = COMMENT.sub("", raw).rstrip()
            continued = joined or (raw[:1].isspace() and commands)
            joined = line.endswith("\\")
            line = line.removesuffix("\\").strip()
            if not line:
                continue
            if continued:
                commands[-1] = f"{commands[-1]} {line}"
            else:
                commands.append(line)
        return [" ".join(command.split()) for command in commands]


def blocks(path: Path = README) -> list[Block]:
    """Every fenced block of the file, in order."""
    found: list[Block] = []
    heading, lang, body = "", None, []
    for line in path.read_text().splitlines():
        fence = FENCE.match(line)
        if lang is None and fence:
            lang, body = fence[1], []
        elif lang is not None and line.strip() == "```":
            found.append(Block(heading, lang, tuple(body)))
            lang = None
        elif lang is not None:
            body.append(line)
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
    return found


def block(heading: str, lang: str = "sh", index: int = 0) -> Block:
    """The ``index``-th block of language ``lang`` under ``heading``."""
    return [b for b in blocks() if b.heading == heading and b.lang == lang][index]


def documents() -> list[Path]:
    """README.md and the documents of docs/ (whose commands the guard covers too)."""
    return [README, *sorted((README.parent / "docs").glob("*.md"))]


def commands(lang: str = "sh") -> dict[str, list[str]]:
    """{command: the documents showing it} of every ``lang`` block of ``documents()``."""
    found: dict[str, list[str]] = {}
    for path in documents():
        for b in blocks(path):
            for command in b.commands() if b.lang == lang else []:
                found.setdefault(command, []).append(path.name)
    return found


def words(command: str) -> list[str]:
    """The command's words after any leading ``NAME=value`` assignments."""
    parts = shlex.split(command)
    while parts and re.fullmatch(r"[A-Za-z_]\w*=.*", parts[0]):
        parts.pop(0)
    return parts


HERE = "tests/integration/test_readme.py"
SCREENS = "tests/screens/test_readme_screens.py"
DEPLOY = "tests/compose/check-deployment"
CI = ".ci/run"
MAKEFILE = "Makefile"
MANUAL = "by hand"
SYNOPSIS = "synopsis"

#: README command → (who runs it, the text that file holds where it does). ``HERE``/``SCREENS``:
#: run from the README's own text by that test; ``SYNOPSIS``: a usage line, its forms run by the
#: named test; ``MANUAL``: nobody in CI, the README says why next to it.
COVERED: dict[str, tuple[str, str]] = {
    # Quick start
    "make run": (HERE, ""),
    "make test": (CI, "make test"),
    ".venv/bin/rogue-ioc get SIM:root:Thermal:Temperature": (HERE, ""),
    ".venv/bin/rogue-ioc get --pva SIM:root:Thermal:Temperature": (HERE, ""),
    ".venv/bin/rogue-ioc put SIM:root:Version:ScratchPad 4660": (HERE, ""),
    ".venv/bin/rogue-ioc monitor --count 3 SIM:IOC:Heartbeat": (HERE, ""),
    ".venv/bin/rogue-ioc list": (HERE, ""),
    # Running it: the usage lines
    "rogue-ioc [--root MODULE:CLASS] [--prefix P] [--include G] [--exclude G] [--pvmap FILE] "
    "[--dump FILE] [--dump-access] [--log-level LEVEL] [--read-period SECONDS] "
    "[--simulate-pyrogue] [--autosave FILE] [--autosave-period SECONDS] [--acf FILE] "
    "[--read-only] [--asg ASG=SEL] [--capacity PATH=SIZE] [--capacity-file FILE] "
    "[--allow-port-fallback]": (SYNOPSIS, "tests/unit/test_cli.py"),
    "rogue-ioc health [--prefix P] [--timeout SECONDS]": (
        SYNOPSIS,
        "tests/integration/test_reliability_lifecycle.py",
    ),
    "rogue-ioc screens [--root MODULE:CLASS] [--prefix P] [--include G] [--exclude G] "
    "[--pvmap FILE] [--autosave FILE] --out DIR": (SYNOPSIS, "tests/screens/conftest.py"),
    "rogue-ioc config save|load FILE [--prefix P]": (
        SYNOPSIS,
        "tests/integration/test_autosave.py",
    ),
    "rogue-ioc get|put|monitor|list ...": (SYNOPSIS, "tests/integration/test_operations.py"),
    # Settings that survive restarts
    "rogue-ioc --autosave settings.yml": (HERE, ""),
    "rogue-ioc config save run7.yml --prefix SIM": (HERE, ""),
    "rogue-ioc config load run7.yml --prefix SIM": (HERE, ""),
    # Access security
    "rogue-ioc --acf lab.acf --asg 'EXPERT=group:Expert'": (HERE, ""),
    "rogue-ioc --read-only": (HERE, ""),
    # Clients
    "rogue-ioc get [--pva] [--timeout S] PV...": (SYNOPSIS, "tests/integration/test_operations.py"),
    "rogue-ioc put [--pva] [--timeout S] PV VALUE...": (
        SYNOPSIS,
        "tests/integration/test_operations.py",
    ),
    "rogue-ioc monitor [--pva] [--count N] PV...": (
        SYNOPSIS,
        "tests/integration/test_operations.py",
    ),
    "rogue-ioc list [--pva] [--prefix P]": (SYNOPSIS, "tests/integration/test_operations.py"),
    # Deployment
    "make image": (MAKEFILE, "integration-test: image"),
    "scripts/compose-up": (DEPLOY, "deployment scripts/compose-up 2>&1"),
    "docker compose exec -T ioc rogue-ioc list": (DEPLOY, "$compose exec -T ioc rogue-ioc"),
    "docker compose down": (DEPLOY, "deployment $compose down >"),
    "make integration-test": (CI, "make integration-test"),
    "IOC_IMAGE=rogue-ioc-demo-hw:latest scripts/compose-up": (
        DEPLOY,
        'IOC_IMAGE="$DROPIN_IMAGE" scripts/compose-up 2>&1',
    ),
    "docker compose exec -T ioc rogue-ioc get HW:DemoRoot:Stage:Label": (
        DEPLOY,
        "in_ioc get HW:DemoRoot:Stage:Label",
    ),
    'COMPOSE="docker compose -f compose.host.yaml" scripts/compose-up': (
        DEPLOY,
        'COMPOSE="$host" scripts/compose-up',
    ),
    "docker compose -f compose.host.yaml down": (DEPLOY, "$host down"),
    # Hardware Roots on SLAC Rogue: they need a Rogue source tree, which CI does not have
    "make dropin-rogue-image ROGUE_SOURCE=~/src/rogue-v6.15.0 ROGUE_VERSION=v6.15.0 "
    "ROGUE_PACKAGE=~/src/my-detector ROGUE_ROOT=my_detector:DetectorRoot ROGUE_PREFIX=DET "
    "ROGUE_IMAGE=my-detector-ioc": (MANUAL, ""),
    "IOC_IMAGE=my-detector-ioc scripts/compose-up": (
        DEPLOY,
        'IOC_IMAGE="$DROPIN_IMAGE" scripts/compose-up 2>&1',
    ),
    "make dropin-rogue-test ROGUE_SOURCE=~/src/rogue-v6.15.0 ROGUE_VERSION=v6.15.0": (MANUAL, ""),
    # Operator screens
    "make screens": (SCREENS, ""),
    "pydm screens/index.ui": (SCREENS, ""),
    # Development
    "make install": (CI, "make install"),
    "make lint": (CI, "make lint"),
    "make bench": (MANUAL, ""),
    # docs/deployment.md
    "docker compose ps": (DEPLOY, "deployment $compose ps 2>&1"),
    "docker compose logs -f ioc": (DEPLOY, "$compose logs -f ioc"),
    "docker build -t my-detector-ioc .": (MAKEFILE, "-f examples/dropin/Dockerfile ."),
    "make dropin-rogue-image ROGUE_SOURCE=/path/to/rogue [ROGUE_VERSION=v6.15.0] "
    "[ROGUE_PACKAGE=/path/to/my-detector ROGUE_ROOT=my_detector:DetectorRoot] [ROGUE_PREFIX=DET] "
    "[ROGUE_IMAGE=my-detector-ioc]": (MANUAL, ""),
    "docker compose --profile test run --rm tests": (MAKEFILE, "--profile test run --rm tests"),
    "docker compose --profile test down": (MAKEFILE, "--profile test down"),
    # docs/performance.md: the pyrogue run needs a venv with Rogue, the render a `make bench` run
    "make bench-smoke": (CI, "make bench-smoke"),
    "python bench/run.py --tree pyrogue --python /path/to/venv-with-pyrogue/bin/python": (
        MANUAL,
        "",
    ),
    "python bench/run.py --render bench/results/latest.json --markdown": (MANUAL, ""),
    # ... and a start-up profile at 100,000 PVs, by hand like `make bench`
    "python bench/start_phases.py 100000 --mix numeric": (MANUAL, ""),
    # docs/screens.md
    "pip install 'rogue-ioc[screens]'": (MAKEFILE, "pip install --quiet -e '.[dev,screens]'"),
    "rogue-ioc screens --out screens": (MAKEFILE, "rogue-ioc screens --out screens"),
    "rogue-ioc screens --root my_pkg:MyRoot --prefix LAB --exclude NoServe,Hidden --out screens": (
        SYNOPSIS,
        "tests/screens/conftest.py",
    ),
    "make up": (DEPLOY, "deployment make --no-print-directory up"),
    "docker compose run --rm screens": (DEPLOY, "deployment $compose run --rm screens"),
    # docs/simulator.md
    "rogue-ioc --simulate-pyrogue --root lab_board:Board --prefix LAB": (
        SYNOPSIS,
        "tests/integration/test_pyrogue_shim.py",
    ),
}


# --- running them -------------------------------------------------------------------------------

REPO = README.parent
#: The venv this test runs in: its ``rogue-ioc`` is the one on a README command's PATH.
VENV_BIN = Path(sys.executable).parent
START_TIMEOUT = 120.0
"""``make run`` may first have to bring the venv up to date; a loaded 2-core host is slow."""
STOP_TIMEOUT = 20.0
COMMAND_TIMEOUT = 60.0


def environment(ca_port: int, pva_port: int, pva_udp_port: int) -> dict[str, str]:
    """This process's environment without EPICS or IOC settings, plus the ports the README's
    IOC and its clients use: loopback only, so they find each other and nothing else."""
    own = {
        k: v for k, v in os.environ.items() if not k.startswith(("EPICS_CA", "EPICS_PVA", "IOC_"))
    }
    ports = {
        "CA_SERVER_PORT": ca_port,
        "PVA_SERVER_PORT": pva_port,
        "PVA_BROADCAST_PORT": pva_udp_port,
    }
    search = {f"{proto}_{key}": value for proto in ("CA", "PVA") for key, value in
              (("ADDR_LIST", "127.0.0.1"), ("AUTO_ADDR_LIST", "NO"))}  # fmt: skip
    return own | {f"EPICS_{k}": str(v) for k, v in (ports | search).items()}


def shell_env(base: dict[str, str]) -> dict[str, str]:
    """``base`` with the venv's bin directory first on PATH, as after ``make install``."""
    return base | {"PATH": f"{VENV_BIN}{os.pathsep}{base.get('PATH', os.defpath)}"}


def run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run one README command line in a shell, as a user would type it."""
    return subprocess.run(
        ["sh", "-c", command], cwd=cwd, env=shell_env(env), capture_output=True, text=True,
        timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@contextlib.contextmanager
def serving(command: str, cwd: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """Run the README's server ``command`` until ``SIM:IOC:Heartbeat`` answers a CA get; yield
    the ``rogue-ioc get`` output of it. Afterwards stop it as Ctrl-C does (SIGINT to its process
    group) and check that it stops."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["sh", "-c", command], cwd=cwd, env=shell_env(env), stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:

        def answers() -> str | None:
            assert proc.poll() is None, f"`{command}` exited: {log.read_text(errors='replace')}"
            got = run("rogue-ioc get --timeout 2 SIM:IOC:Heartbeat", cwd, env)
            return got.stdout if got.returncode == 0 else None

        yield wait_for(answers, START_TIMEOUT, f"SIM:IOC:Heartbeat from `{command}`")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise AssertionError(f"`{command}` did not stop on Ctrl-C (SIGINT)") from None
