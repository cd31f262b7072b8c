"""The README's "Operator screens" block as written: `make screens`, then `pydm screens/index.ui`.

The IOC is the quick start's `make run` (prefix SIM, on this test's free ports), so PyDM has the
PVs the generated screens name. PyDM must open its window (found on the Xvfb display by its
title) and hold a Channel Access circuit to the IOC's port; then the window is closed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import subprocess
from collections.abc import Iterator
from pathlib import Path

from integration import readme
from integration.support import wait_for

from sim.ports import free_ports

from .conftest import _stop

WINDOW_TIMEOUT = 60.0


def window_titles(display: str) -> list[str]:
    """The titles of the top-level windows on X display ``display`` (libX11 through ctypes)."""
    x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XDefaultRootWindow.restype = ctypes.c_ulong
    x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x11.XQueryTree.argtypes = [ctypes.c_void_p, ctypes.c_ulong] + [ctypes.c_void_p] * 4
    x11.XFetchName.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p]
    x11.XFree.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = x11.XOpenDisplay(display.encode())
    assert connection, f"cannot open X display {display}"
    try:
        root, parent = ctypes.c_ulong(), ctypes.c_ulong()
        children, count = ctypes.POINTER(ctypes.c_ulong)(), ctypes.c_uint()
        top = x11.XDefaultRootWindow(connection)
        refs = (ctypes.byref(root), ctypes.byref(parent), ctypes.byref(children))
        assert x11.XQueryTree(connection, top, *refs, ctypes.byref(count))
        titles = []
        for index in range(count.value):
            name = ctypes.c_char_p()
            if x11.XFetchName(connection, children[index], ctypes.byref(name)) and name.value:
                titles.append(name.value.decode(errors="replace"))
                x11.XFree(name)
        if children:
            x11.XFree(children)
        return titles
    finally:
        x11.XCloseDisplay(connection)


def connected_ports(pid: int) -> set[int]:
    """The remote ports of the established TCP connections process ``pid`` holds (Linux /proc)."""
    sockets = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):  # closed since the listing
            sockets.add(str(fd.readlink()))
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if state == "01" and f"socket:[{inode}]" in sockets:  # 01: ESTABLISHED
                ports.add(int(remote.rsplit(":", 1)[1], 16))
    return ports


@contextlib.contextmanager
def opened(command: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """``command`` (a GUI) running in a shell for the ``with`` block; then closed (SIGTERM)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["sh", "-c", f"exec {command}"], cwd=readme.REPO, env=readme.shell_env(env),
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield proc
    finally:
        _stop(proc)


def test_make_screens_then_pydm(display: str, tmp_path: Path) -> None:
    generate, show = readme.block("Operator screens").commands()
    assert (generate, show) == ("make screens", "pydm screens/index.ui")
    env = readme.environment(*free_ports(3))
    with readme.serving("make run", readme.REPO, env, tmp_path / "make-run.log"):
        made = readme.run(generate, readme.REPO, env)
        assert made.returncode == 0, made.stdout + made.stderr
        assert (readme.REPO / "screens" / "index.ui").stat().st_size > 0
        assert (readme.REPO / "screens" / "index.bob").stat().st_size > 0
        log = tmp_path / "pydm.log"
        with opened(show, env, log) as proc:

            def window() -> list[str]:
                assert proc.poll() is None, f"pydm exited: {log.read_text(errors='replace')}"
                return [t for t in window_titles(display) if t.endswith(" - PyDM")]

            wait_for(window, WINDOW_TIMEOUT, "PyDM's window")
            ca_port = int(env["EPICS_CA_SERVER_PORT"])
            wait_for(
                lambda: ca_port in connected_ports(proc.pid), WINDOW_TIMEOUT, "PyDM's CA circuit"
            )
