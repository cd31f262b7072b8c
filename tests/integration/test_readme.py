"""README.md's commands, run as written, and a guard that each command it shows is run somewhere.

The host-side blocks (quick start, autosave, access security, the Python API) are taken from
the README's text and run in a shell against the IOC the block itself starts (``make run``,
``rogue-ioc --autosave ...``), on free ports: only the EPICS port variables differ from a
user's shell, so the prefix, the names and the flags are the README's. The IOC serves prefix
SIM, as the README says; its clients search only its private ports, so no other SIM IOC on
this host answers them. Local mode only: the tests container has no README, make or venv.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sim.ports import free_ports

from . import readme
from .conftest import REMOTE_PREFIX

pytestmark = pytest.mark.skipif(
    bool(REMOTE_PREFIX) or not readme.README.exists(),
    reason="README commands run on the host that has the checkout (local mode)",
)

QUICK_START = "Quick start"
AUTOSAVE = "Settings that survive restarts (autosave)"
ACCESS = "Access security"
RUNNING = "Running it"
SCRATCH = "SIM:root:Version:ScratchPad"


@pytest.fixture
def env() -> dict[str, str]:
    """A shell environment whose EPICS servers and clients use this test's free ports."""
    return readme.environment(*free_ports(3))


def run_ok(command: str, cwd: Path, env: dict[str, str]) -> str:
    """Run a README command that must succeed; its stdout."""
    result = readme.run(command, cwd, env)
    assert result.returncode == 0, f"`{command}`: exit {result.returncode}\n{result.stderr}"
    return result.stdout


def test_the_first_screen_has_exactly_two_set_up_commands() -> None:
    assert readme.block(QUICK_START).commands() == ["make run", "make test"]


def test_quick_start(env: dict[str, str], tmp_path: Path) -> None:
    """`make run`, then the client commands from another shell, then Ctrl-C."""
    clients = readme.block(QUICK_START, index=1).commands()
    with readme.serving("make run", readme.REPO, env, tmp_path / "make-run.log"):
        outputs = {command: run_ok(command, readme.REPO, env) for command in clients}
    for command, out in outputs.items():
        verb, *args = readme.words(command)[1:]
        if verb == "get":
            name, value = out.split()
            assert name == args[-1] and float(value) > 0, out
        elif verb == "put":
            name, value = out.split()  # a UInt32 is an int64 record: a double over CA
            assert name == args[0] and float(value) == int(args[1]), out
        elif verb == "monitor":
            lines = out.splitlines()
            assert len(lines) == int(args[1]) and all(s.startswith(args[2]) for s in lines), out
        else:
            assert verb == "list", command
            names = out.split()
            assert {SCRATCH, "SIM:IOC:Heartbeat", "SIM:root:Thermal:Temperature"} <= set(names)


def test_autosave_block(env: dict[str, str], tmp_path: Path) -> None:
    """The IOC keeps its settings in the file; `config save|load` work on the running IOC."""
    server, save, load = readme.block(AUTOSAVE).commands()
    with readme.serving(server, tmp_path, env, tmp_path / "ioc.log"):
        run_ok(save, tmp_path, env)
        saved = (tmp_path / "run7.yml").read_text()
        assert "ScratchPad" in saved, saved
        run_ok(load, tmp_path, env)
    assert "ScratchPad" in (tmp_path / "settings.yml").read_text()


def test_access_security_block(env: dict[str, str], tmp_path: Path) -> None:
    """With the lab's rules (this host is a console) puts are taken; --read-only refuses them."""
    shutil.copy(readme.REPO / "examples" / "access" / "rules.acf", tmp_path / "lab.acf")
    with_rules, read_only = readme.block(ACCESS).commands()
    for server, taken in ((with_rules, True), (read_only, False)):
        with readme.serving(server, tmp_path, env, tmp_path / "ioc.log"):
            put = readme.run(f"rogue-ioc put {SCRATCH} 7", tmp_path, env)
        assert (put.returncode == 0) is taken, f"`{server}`: {put.stdout}{put.stderr}"


def test_python_api_block(env: dict[str, str], tmp_path: Path) -> None:
    """The block as a script, given the simulator's Root as ``root``."""
    script = (
        "from sim.device import SimRoot\n"
        "root = SimRoot()\n"
        f"{readme.block(RUNNING, lang='python').text}"
        "assert srv.list()['root.Version.ScratchPad'] == 'SIM:root:Version:ScratchPad'\n"
        "root.stop()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=readme.START_TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"{SCRATCH} -> root.Version.ScratchPad" in (tmp_path / "pvs.txt").read_text()


# --- the guard ----------------------------------------------------------------------------------


def ran_by_this_module() -> set[str]:
    """The README commands the tests above take from the README and run."""
    blocks = [readme.block(QUICK_START, index=1), readme.block(AUTOSAVE), readme.block(ACCESS)]
    return {"make run"} | {command for b in blocks for command in b.commands()}


def test_every_command_of_the_readme_and_docs_is_run_by_a_test_or_ci() -> None:
    shown = readme.commands("sh")
    missing = [f"{where}: {c}" for c, where in shown.items() if c not in readme.COVERED]
    assert not missing, (
        f"README commands no test or CI runs (see tests/integration/readme.py): {missing}"
    )
    stale = [command for command in readme.COVERED if command not in shown]
    assert not stale, f"entries for commands the README no longer shows: {stale}"
    here = {c for c, (where, _) in readme.COVERED.items() if where == readme.HERE}
    assert here == ran_by_this_module()
    screens = {c for c, (where, _) in readme.COVERED.items() if where == readme.SCREENS}
    assert screens == set(readme.block("Operator screens").commands())
    for command, (where, needle) in readme.COVERED.items():
        if where in (readme.HERE, readme.SCREENS, readme.MANUAL):
            continue
        if where == readme.SYNOPSIS:
            assert (readme.REPO / needle).exists(), (command, needle)
            continue
        text = (readme.REPO / where).read_text()
        assert needle and needle in text, f"`{command}`: {where} does not hold {needle!r}"


def test_the_python_blocks_are_run() -> None:
    assert [b.heading for b in readme.blocks() if b.lang == "python"] == [RUNNING]
