"""Screens of real pyrogue's ExampleRoot (about 4300 Variables): every PV on a screen, short pages.

Runs only where real pyrogue (with its `rogue` C++ core) is importable; skipped elsewhere.
"""

from __future__ import annotations

import pytest

from ioc.screens.model import PAGE_ROWS, TOP, build
from ioc.selection import select

pytest.importorskip("rogue", reason="real pyrogue (with the rogue C++ core) is not installed")
pyrogue_examples = pytest.importorskip("pyrogue.examples")


def test_example_root_screens_are_navigable() -> None:
    with pyrogue_examples.ExampleRoot() as root:
        screens = build(root, "RX", None, None, None)
        served = {full for _, full in select(root, "RX", None, None, None).values()}
    assert served <= screens.all_pvs()
    assert len(served) > 4000
    assert all(len(s.items) <= PAGE_ROWS for s in screens.screens.values())
    # Every screen is reachable from the top: its parent chain ends at the top screen.
    for stem, screen in screens.screens.items():
        seen = {stem}
        while screen.parent != TOP:
            assert screen.parent not in seen
            seen.add(screen.parent)
            screen = screens.screens[screen.parent]
