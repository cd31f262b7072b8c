"""Phoebus screens: one `.bob` file per screen of the model, laid out by pvi's DLS formatter.

Each screen becomes a pvi `Device` whose components are pvi Signals (one per PV, the widget
chosen by `model.Widget`) and `DeviceRef` buttons to child Devices, pages and the top screen.
pvi moves each waveform plot onto its own small screen (`<stem>_<Name>.bob`) opened by a button.
PVs are named `pva://<PV>`: PV Access carries long strings whole, where Channel Access cuts a
plain string get at 40 characters. Phoebus shows units and alarm-sensitive borders on text
widgets by default; pvi leaves those defaults in place.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from pvi._format.dls import DLSFormatter
from pvi.device import (
    LED,
    ArrayTrace,
    ButtonPanel,
    ComboBox,
    ComponentUnion,
    Device,
    DeviceRef,
    SignalR,
    SignalRW,
    SignalW,
    SignalX,
    TextRead,
    TextWrite,
    ToggleButton,
)

from .model import TOP, Item, Screen, ScreenSet, Widget

SUFFIX = ".bob"
PROTOCOL = "pva://"


def pv_address(pv: str) -> str:
    """How a `.bob` file names a served PV."""
    return PROTOCOL + pv


class _Names:
    """PascalCase component names, unique on one screen (pvi requires both)."""

    _NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")

    def __init__(self) -> None:
        self._used: set[str] = set()

    def __call__(self, text: str) -> str:
        name = self._NOT_ALNUM.sub("", text)
        if not name or not name[0].isalpha():
            name = "V" + name
        name = name[0].upper() + name[1:]
        unique, number = name, 2
        while unique in self._used:
            unique, number = f"{name}{number}", number + 1
        self._used.add(unique)
        return unique


def component(item: Item, name: str) -> ComponentUnion:
    """The pvi component of one item."""
    pv = pv_address(item.pv)
    common: dict[str, Any] = {
        "name": name,
        "label": item.label,
        "description": item.description or item.pv,
    }
    match item.widget:
        case Widget.LED:
            return SignalR(read_pv=pv, read_widget=LED(), **common)
        case Widget.READBACK:
            return SignalR(read_pv=pv, read_widget=TextRead(), **common)
        case Widget.PLOT:
            return SignalR(read_pv=pv, read_widget=ArrayTrace(axis="y"), **common)
        case Widget.PLOT_ENTRY:
            return SignalRW(
                write_pv=pv,
                write_widget=TextWrite(),
                read_pv=pv,
                read_widget=ArrayTrace(axis="y"),
                **common,
            )
        case Widget.TOGGLE:
            return SignalRW(write_pv=pv, write_widget=ToggleButton(), **common)
        case Widget.COMBO:
            return SignalRW(write_pv=pv, write_widget=ComboBox(), **common)
        case Widget.ENTRY:
            return SignalRW(write_pv=pv, write_widget=TextWrite(), **common)
        case Widget.BUTTON:
            return SignalX(
                write_pv=pv, value="1", write_widget=ButtonPanel(actions={name: "1"}), **common
            )
        case Widget.ARG_ENTRY:
            return SignalW(write_pv=pv, write_widget=TextWrite(), **common)
        case Widget.ARG_COMBO:
            return SignalW(write_pv=pv, write_widget=ComboBox(), **common)
        case Widget.ARG_TOGGLE:
            actions = {"False": "0", "True": "1"}
            return SignalW(write_pv=pv, write_widget=ButtonPanel(actions=actions), **common)
    raise ValueError(f"no .bob widget for {item.widget}")


def _link(names: _Names, label: str, stem: str, description: str) -> DeviceRef:
    return DeviceRef(
        name=names(label), label=label, description=description, pv="", ui=stem + SUFFIX
    )


def device(screen: Screen, screens: ScreenSet) -> Device:
    """The pvi Device of one screen."""
    names = _Names()
    children: list[ComponentUnion] = []
    if screen.stem != TOP:
        children.append(_link(names, "Top: device tree", TOP, "the device tree"))
        if screen.parent and screen.parent != TOP:
            parent = screens.screens[screen.parent]
            children.append(_link(names, f"Up: {parent.path}", parent.stem, parent.title))
    children += [component(item, names(item.label)) for item in screen.items]
    children += [
        _link(names, screens.screens[stem].link, stem, screens.screens[stem].title)
        for stem in screen.pages
    ]
    if screen.stem == TOP:
        links = [(depth, screens.screens[stem]) for depth, stem in screens.tree]
    else:
        links = [(0, screens.screens[stem]) for stem in screen.children]
    for depth, target in links:
        label = "· " * depth + target.link
        children.append(_link(names, label, target.stem, target.path))
    return Device(label=screen.title, children=children)


def write(screens: ScreenSet, out: Path) -> list[Path]:
    """Write every screen of `screens` (and pvi's plot screens) into `out`; returns the files."""
    formatter = DLSFormatter()
    for screen in (screens.top, *screens.screens.values()):
        formatter.format(device(screen, screens), out / f"{screen.stem}{SUFFIX}")
    files = sorted(out.glob(f"*{SUFFIX}"))
    for path in files:
        _tidy(path)
    return files


def _tidy(path: Path) -> None:
    """Remove what pvi 0.14 leaves of its widget templates.

    pvi fills in the PV of a button's write action but leaves the button's own PV at its
    template's placeholder (`SignalX`) and the action's description at `$(name)`: Phoebus would
    search for a PV called SignalX and draw the button disconnected. The button gets the PV it
    writes (so its border follows that PV's connection and alarm) and its text as description.
    A combo box keeps its template's three sample items; they go, so that its items come from
    the PV (the enum's labels), Phoebus's default.
    """
    tree = ET.parse(path)
    for widget in tree.getroot().iter("widget"):
        action = widget.find("actions/action[@type='write_pv']")
        own = widget.find("pv_name")
        if action is not None and own is not None:
            own.text = action.findtext("pv_name")
            description = action.find("description")
            if description is not None:
                description.text = widget.findtext("text", "")
        items = widget.find("items")
        if widget.get("type") == "combo" and items is not None:
            widget.remove(items)
    tree.write(path, encoding="UTF-8", xml_declaration=True)
