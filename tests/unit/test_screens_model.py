"""The screen model: widgets by record kind, the device tree, pages, names (pure, no EPICS)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ioc.screens.model import PAGE_ROWS, TOP, Widget, build, stem_of, widget_for
from ioc.selection import ioc_pvs
from sim.device import SimRoot, nested_devices
from sim.tree import Device, LocalCommand, LocalVariable, Root


@pytest.mark.parametrize(
    ("kind", "command", "arg", "out", "widget"),
    [
        ("bi/bo", False, False, False, Widget.LED),
        ("bi/bo", False, False, True, Widget.TOGGLE),
        ("mbbi/mbbo", False, False, True, Widget.COMBO),
        ("mbbi/mbbo", False, False, False, Widget.READBACK),
        ("ai/ao", False, False, False, Widget.READBACK),
        ("ai/ao", False, False, True, Widget.ENTRY),
        ("lsi/lso", False, False, True, Widget.ENTRY),
        ("int64in/int64out", False, False, True, Widget.ENTRY),
        ("waveform", False, False, False, Widget.PLOT),
        ("waveform", False, False, True, Widget.PLOT_ENTRY),
        ("longin/longout (trigger)", True, False, True, Widget.BUTTON),
        ("ai/ao", True, True, True, Widget.ARG_ENTRY),
        ("bi/bo", True, True, True, Widget.ARG_TOGGLE),
        ("mbbi/mbbo", True, True, True, Widget.ARG_COMBO),
    ],
)
def test_widget_by_kind(kind: str, command: bool, arg: bool, out: bool, widget: Widget) -> None:
    assert widget_for(kind, command, arg, out) is widget


def _started(root: Root) -> Root:
    root.start()
    return root


def test_simulator_screens_cover_every_served_pv_once_per_device() -> None:
    root = _started(SimRoot(pollEn=False))
    try:
        screens = build(root, "T", None, None, None)
    finally:
        root.stop()
    assert screens.top.stem == TOP
    assert "T:IOC:Heartbeat" in {item.pv for item in screens.top.items}
    assert "root-Thermal" in screens.screens
    thermal = {item.label: item for item in screens.screens["root-Thermal"].items}
    assert thermal["Temperature"].widget is Widget.READBACK
    assert thermal["Temperature"].units == "degC"
    assert thermal["Heater"].widget is Widget.ENTRY
    assert thermal["Mode"].widget is Widget.COMBO
    assert thermal["Mode"].choices == ("Off", "Auto", "Manual")
    # The tree lists each Device once, depth-first, parents before children.
    stems = [stem for _, stem in screens.tree]
    assert len(stems) == len(set(stems)) == len(screens.screens)
    for stem, screen in screens.screens.items():
        if screen.parent != TOP:
            assert stems.index(screen.parent) < stems.index(stem)


def test_big_device_is_split_into_pages() -> None:
    standard = ["enable", "ReadDevice", "WriteDevice"]  # every pyrogue Device has them
    count = 2 * PAGE_ROWS + 5 - len(standard)
    root = Root(name="root")
    big = Device(name="Big")
    big.add([LocalVariable(name=f"Reg{n:03d}", value=n) for n in range(count)])
    root.add(big)
    _started(root)
    try:
        screens = build(root, "T", None, None, None)
    finally:
        root.stop()
    main = screens.screens["root-Big"]
    assert len(main.items) == PAGE_ROWS
    assert main.pages == ["root-Big.page2", "root-Big.page3"]
    pages = [screens.screens[stem] for stem in main.pages]
    assert [len(p.items) for p in pages] == [PAGE_ROWS, 5]
    assert all(p.parent == "root-Big" for p in pages)
    shown = [i.label for s in (main, *pages) for i in s.items]
    assert shown == [*standard, *(f"Reg{n:03d}" for n in range(count))]


def test_groups_and_pvmap_select_like_the_server() -> None:
    root = Root(name="root")
    root.add(nested_devices("A.B", LocalVariable(name="X", value=1, groups="NoServe")))
    root.add(LocalCommand(name="Go", function=lambda: None))
    _started(root)
    try:
        default = build(root, "T", None, None, None)
        mapped = build(root, "T", None, None, {"root.A.B.X": "LAB:X"})
    finally:
        root.stop()
    assert "T:root:A:B:X" not in default.all_pvs()  # NoServe is excluded by default
    root_items = {item.label: item.widget for item in default.screens["root"].items}
    assert root_items["Go"] is Widget.BUTTON
    assert "LAB:X" in mapped.all_pvs()
    assert set(mapped.screens) == {"root", "root-A", "root-A-B"}


def test_stems_are_file_names() -> None:
    assert stem_of("root.Dev[3].Sub") == "root-Dev_3_-Sub"


def test_serving_never_imports_screen_libraries() -> None:
    code = (
        "import sys, ioc.cli, ioc.server;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('pvi', 'pydm', 'PyQt5', 'qtpy')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_autosave_pvs_join_the_top_screen_when_the_ioc_autosaves() -> None:
    root = _started(SimRoot(pollEn=False))
    try:
        plain = build(root, "T", None, None, None)
        saving = build(root, "T", None, None, None, autosave=True)
    finally:
        root.stop()
    assert {item.pv for item in plain.top.items} == set(ioc_pvs("T"))
    widgets = {item.label: item.widget for item in saving.top.items}
    assert widgets["Config:Save"] is widgets["Config:Load"] is Widget.ARG_ENTRY
    assert widgets["Autosave:Saves"] is widgets["Heartbeat"] is Widget.READBACK
