"""Autosave end to end: settings survive a restart, bad saved values are skipped and counted,
a put storm loses no final value, a kill -9 never leaves a broken file, config save/load.

Each test runs IOCs of its own (``--autosave`` into a temporary directory) on ports it keeps, so
a restart serves the same names on the same ports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import epics
import pytest
import yaml

from .conftest import REMOTE_PREFIX, random_prefix
from .reliability_support import REPO, Ports, restart_on, start_dedicated
from .support import GET_TIMEOUT, SOON, wait_for

local_only = pytest.mark.skipif(
    REMOTE_PREFIX is not None, reason="starts IOCs of its own with files on this host"
)

#: Settings of the simulator used here: (path below root, a value to put, its saved form).
SETTINGS = {
    "Types.LocalInt": 5,
    "Thermal.Threshold": 41.25,
    "Types.SmallEnum": 2,  # mbbo index of the third label, "Five"
    "Types.LocalStr": "hello: 'world'",
    "Version.ScratchPad": 0x1234,
}
SAVE_TIMEOUT = 20.0
#: Until the last of a storm of thousands of queued puts is served: that none is lost is checked
#: here, how fast they go is `make bench`'s (a loaded host takes well over SOON).
STORM_TIMEOUT = 60.0


def saved(path: Path) -> dict:
    """The autosave file's data ({} while it does not exist), read as pyrogue reads it."""
    if not path.exists():
        return {}
    return yaml.load(path.read_text(), Loader=yaml.Loader) or {}


def saved_value(path: Path, dotted: str):
    node = saved(path).get("root", {})
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def start(factory, tmp: Path, *args: str, prefix: str | None = None):
    return start_dedicated(factory, "--autosave", str(tmp / "settings.yml"), *args, prefix=prefix)


@local_only
def test_settings_survive_a_restart(ioc_factory, pva_of, tmp_path):
    ioc, ports = start(ioc_factory, tmp_path)
    pva = pva_of(ioc)
    for path, value in SETTINGS.items():
        pva.put(ioc.pv(path), value)
    file = tmp_path / "settings.yml"
    wait_for(
        lambda: (
            saved_value(file, "Types.LocalStr") == "hello: 'world'"
            and saved_value(file, "Version.ScratchPad") == 0x1234
        ),
        SAVE_TIMEOUT,
        "the autosave file to hold the puts",
    )
    assert saved_value(file, "Types.SmallEnum") == "Five"  # labels, as pyrogue writes enums
    assert ioc.stop(signal.SIGTERM) == 0

    again = restart_on(
        ioc_factory, ports, ioc.prefix, "--autosave", str(file), log_name="restart.log"
    )
    pva = pva_of(again)
    for path, value in SETTINGS.items():
        assert pva.get(again.pv(path)) == value, path
    restored = pva.get(f"{again.prefix}:IOC:Autosave:Restored")
    assert restored >= len(SETTINGS)
    assert pva.get(f"{again.prefix}:IOC:Autosave:Skipped") == 0


@local_only
def test_values_that_no_longer_fit_are_skipped_and_counted(ioc_factory, pva_of, tmp_path):
    file = tmp_path / "settings.yml"
    file.write_text(
        "root:\n"
        "  Types:\n"
        "    LocalInt: 6\n"
        "    LimitedInt: 1000\n"  # outside the Variable's maximum
        "    Int8: 2.5\n"  # wrong type
        "    SmallEnum: Eleven\n"  # not a label
        "  Removed:\n"
        "    Gone: 1\n"  # no such path any more
        "root.Thermal.Threshold: 42.5\n"  # pyrogue's absolute-path form
    )
    ioc, _ = start(ioc_factory, tmp_path)
    pva = pva_of(ioc)
    assert pva.get(ioc.pv("Types.LocalInt")) == 6
    assert pva.get(ioc.pv("Thermal.Threshold")) == 42.5
    assert pva.get(ioc.pv("Types.LimitedInt")) == 0
    assert pva.get(f"{ioc.prefix}:IOC:Autosave:Skipped") == 4
    assert pva.get(f"{ioc.prefix}:IOC:Autosave:Restored") == 2
    for key in ("LimitedInt", "Int8", "SmallEnum", "root.Removed"):
        ioc.assert_logged(0, "not applied", key)
    # The file is rewritten with the IOC's settings: what was skipped is gone from it.
    wait_for(lambda: saved_value(file, "Types.LimitedInt") == 0, SAVE_TIMEOUT, "the first save")
    assert "Removed" not in saved(file)["root"]


@local_only
def test_an_unreadable_autosave_file_stops_the_start(ioc_factory, tmp_path):
    file = tmp_path / "settings.yml"
    file.write_text("root: [broken\n")
    result = ioc_factory.run("--autosave", str(file))
    assert result.returncode == 2
    assert "not valid YAML" in result.stdout
    assert file.read_text() == "root: [broken\n"


@local_only
def test_a_put_storm_loses_no_final_value(ioc_factory, tmp_path):
    ioc, _ = start(ioc_factory, tmp_path)
    file = tmp_path / "settings.yml"
    names = [ioc.pv("Types.LocalInt"), ioc.pv("Types.LocalFloat")]
    channels = [epics.PV(name) for name in names]
    for channel in channels:
        assert channel.wait_for_connection(SOON)
    last = 3000
    for i in range(1, last + 1):
        channels[0].put(i, wait=False)
        channels[1].put(i / 4, wait=False)
    epics.ca.flush_io()
    wait_for(
        lambda: channels[0].get(use_monitor=False, timeout=GET_TIMEOUT) == last,
        STORM_TIMEOUT,
        "the last put to be served",
    )
    # Stopped right after the storm: the final save at stop holds the last values.
    assert ioc.stop(signal.SIGTERM) == 0
    assert saved_value(file, "Types.LocalInt") == last
    assert saved_value(file, "Types.LocalFloat") == last / 4
    for channel in channels:
        channel.disconnect()


@local_only
def test_kill_9_at_any_moment_leaves_a_whole_file(ioc_factory, tmp_path):
    file = tmp_path / "settings.yml"
    ioc, ports = start(ioc_factory, tmp_path, "--autosave-period", "0.2")
    wait_for(file.exists, SAVE_TIMEOUT, "the first save")
    complete = saved(file)
    for round_ in range(3):
        name = ioc.pv("Types.LocalStr")
        channel = epics.PV(name)
        assert channel.wait_for_connection(SOON)
        stop = threading.Event()

        def storm(channel=channel, stop=stop) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    channel.put(f"value {i} " + "x" * (i % 200), wait=False)
                except (epics.ca.ChannelAccessException, epics.ca.CASeverityException, KeyError):
                    # The IOC was killed: a put then fails with a circuit disconnect or, once
                    # pyepics has seen the disconnect, with a KeyError for the channel's type -1.
                    return

        thread = threading.Thread(target=storm)
        thread.start()
        wait_for(
            lambda: str(saved_value(file, "Types.LocalStr") or "").startswith("value"),
            SAVE_TIMEOUT,
            "saves during the storm",
        )
        ioc.proc.send_signal(signal.SIGKILL)
        ioc.proc.wait(SOON)
        stop.set()
        thread.join()
        channel.disconnect()
        # Whatever moment the kill hit: the file parses and holds every setting.
        data = saved(file)
        assert _keys(data) == _keys(complete), f"round {round_}"
        # A new prefix: this process's CA client still holds the killed IOC's channels, and libca
        # searches a disconnected channel again only slowly; new names are searched at once.
        ioc = restart_on(
            ioc_factory, ports, random_prefix(), "--autosave", str(file), "--autosave-period",
            "0.2", log_name=f"kill-{round_}.log",
        )  # fmt: skip
        # a temporary file of a save the kill cut short is removed at the next start
        assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def _keys(data, prefix=""):
    if not isinstance(data, dict):
        return {prefix}
    keys = set()
    for key, value in data.items():
        keys |= _keys(value, f"{prefix}.{key}")
    return keys


def config_command(ports: Ports, prefix: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EPICS_CA", "EPICS_PVA"))}
    env |= ports.client_env()
    command = [sys.executable, "-m", "ioc", "config", *args, "--prefix", prefix, "--timeout", "20"]
    return subprocess.run(
        command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


@local_only
def test_config_save_and_load_on_a_running_ioc(ioc_factory, pva_of, tmp_path):
    ioc, ports = start(ioc_factory, tmp_path)
    pva = pva_of(ioc)
    pva.put(ioc.pv("Types.LocalInt"), 11)
    pva.put(ioc.pv("Thermal.Threshold"), 30.5)

    result = config_command(ports, ioc.prefix, "save", "snap.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    snapshot = yaml.load((tmp_path / "snap.yml").read_text(), Loader=yaml.Loader)
    assert snapshot["root"]["Types"]["LocalInt"] == 11

    pva.put(ioc.pv("Types.LocalInt"), 12)
    pva.put(ioc.pv("Thermal.Threshold"), 20.0)
    result = config_command(ports, ioc.prefix, "load", "snap.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 skipped" in result.stdout
    assert pva.get(ioc.pv("Types.LocalInt")) == 11
    assert pva.get(ioc.pv("Thermal.Threshold")) == 30.5

    # A file that sets something out of range: the rest is applied, the refusal reported.
    (tmp_path / "bad.yml").write_text("root:\n  Types:\n    LocalInt: 13\n    LimitedInt: 1000\n")
    result = config_command(ports, ioc.prefix, "load", "bad.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout and "LimitedInt" in result.stdout
    assert pva.get(ioc.pv("Types.LocalInt")) == 13
    assert pva.get(ioc.pv("Types.LimitedInt")) == 0

    for name in ("../escape.yml", "/etc/passwd.yml", "notyaml.txt"):
        result = config_command(ports, ioc.prefix, "save", name)
        assert result.returncode == 1, name
    assert not (tmp_path.parent / "escape.yml").exists()
    result = config_command(ports, ioc.prefix, "load", "missing.yml")
    assert result.returncode == 1
    assert "cannot read" in result.stdout


@pytest.mark.skipif(
    not os.environ.get("IOC_TEST_AUTOSAVE"), reason="no remote IOC with autosave to test"
)
def test_the_deployed_ioc_saves_into_its_volume(ioc, pva):
    """The compose IOC (read-only root file system) writes its autosave volume."""
    name = ioc.pv("Types.LocalInt")
    pva.put(name, pva.get(name) + 1)
    saves = f"{ioc.prefix}:IOC:Autosave:Saves"
    first = wait_for(lambda: pva.get(saves), SAVE_TIMEOUT, "a first autosave")
    pva.put(name, pva.get(name) + 1)
    wait_for(lambda: pva.get(saves) > first, SAVE_TIMEOUT, "a save after a put")
    assert pva.get(f"{ioc.prefix}:IOC:Autosave:Error") == ""
