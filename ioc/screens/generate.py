"""`rogue-ioc screens`: build the Root like the IOC does and write its screens into a directory."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from ..cli import CliError, load_pvmap, load_root_class, make_root
from . import bob, pydm_ui
from .model import build

log = logging.getLogger(__name__)

GENERATED = (bob.SUFFIX, pydm_ui.SUFFIX)
"""Suffixes of the files the command owns in its output directory (older ones are replaced)."""


def run(opts: argparse.Namespace) -> int:
    """Write the screens for the options of `rogue-ioc screens`; returns the exit code."""
    pvmap = load_pvmap(opts.pvmap) if opts.pvmap else None
    out = Path(opts.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {out}: {exc}") from exc
    root = make_root(load_root_class(opts.root), opts.root)
    root.start()
    try:
        screens = build(
            root, opts.prefix, opts.include, opts.exclude, pvmap, autosave=bool(opts.autosave)
        )
    except ValueError as exc:
        raise CliError(f"cannot build screens for {opts.root}: {exc}") from exc
    finally:
        root.stop()
    for old in out.iterdir():
        if old.suffix in GENERATED and old.is_file():
            old.unlink()
    written = bob.write(screens, out) + pydm_ui.write(screens, out)
    _give_to_owner(out, written)
    size = sum(path.stat().st_size for path in written)
    print(
        f"wrote {len(written)} screens ({size} bytes) for {len(screens.all_pvs())} PVs "
        f"of {opts.root} into {out}: open {out / (screens.top.stem + pydm_ui.SUFFIX)} with "
        f"pydm or {out / (screens.top.stem + bob.SUFFIX)} with Phoebus"
    )
    return 0


def _give_to_owner(out: Path, files: list[Path]) -> None:
    """Run as root (the screens container), hand the files to the owner of their directory.

    The directory is usually a host directory mounted into the container: its owner can then
    replace or delete the screens without root.
    """
    if os.geteuid() != 0:
        return
    owner = out.stat()
    for path in files:
        os.chown(path, owner.st_uid, owner.st_gid)
